//! Service levels end to end, through the running functions (`make test`): signed webhook
//! pushes, the router, the reply sender and `sla-monitor` invoked the way their event sources
//! invoke them (the inbound and outbound queues, the table's stream, the timers queue), and the
//! alerts topic read through an SQS queue subscribed to it.
#![allow(clippy::unwrap_used)]

use gateway_aws::{DynamoDbConversationStore, DynamoDbRulesStore, SqsReplyQueue};
use gateway_core::NormalizedMessage;
use gateway_core::channel::wechat::simulate::Envelope;
use gateway_core::conversation::{Conversation, Status};
use gateway_core::outbound::{ReplyCommand, ReplyOrigin};
use gateway_core::ports::{ConversationStore, ReplyQueue};
use gateway_core::reply::ReplyContent;
use gateway_tests::{RUNNING_STACK_LOCK, RunningStack, accounts, drain, sdk, unique_digits};
use gatewayctl::send;
use gatewayctl::stream_source::StreamReader;
use serde_json::Value;
use std::time::{Duration, Instant};

/// A 2-second answer target for the test account, a 2-second crisis target, and automatic
/// resolution 2 seconds after an answer nobody comes back to.
const RULES: &str = r#"
version: 1
service_levels:
  - id: fast
    when: { account: demo }
    first_response_secs: 2
lifecycle:
  resolve_removes_tags: [crisis]
  auto_resolve_pending_after_secs: 2
rules:
  - id: crisis
    when: { text_contains_any: ["投诉"] }
    then: [ { escalate: { response_target_secs: 2 } }, { add_tags: [crisis] } ]
    stop: false
  - id: crisis-acknowledge
    when: { has_tags: crisis, not: { kind: event } }
    once_per: escalation
    then: [ { reply: { type: text, text: "非常抱歉，主管将在 2 秒内联系您。" } } ]
  - id: crisis-hold
    when: { has_tags: crisis }
    then: []
"#;

struct Ctx {
    run: RunningStack,
    sqs: aws_sdk_sqs::Client,
    http: reqwest::Client,
    store: DynamoDbConversationStore,
    stream: StreamReader,
    alerts_queue: String,
}

async fn setup() -> Ctx {
    let run = RunningStack::from_env();
    let sdk = sdk().await;
    let sqs = aws_sdk_sqs::Client::new(&sdk);
    let ddb = aws_sdk_dynamodb::Client::new(&sdk);
    let http = gatewayctl::http_client();
    DynamoDbRulesStore::new(ddb.clone(), &run.stack.table_name)
        .push(RULES, send::now_secs() * 1000)
        .await
        .unwrap()
        .unwrap();
    for url in [
        &run.stack.queue_url,
        &run.stack.outbound_queue_url,
        &run.stack.timers_queue_url,
    ] {
        drain::<Value>(&sqs, url).await;
    }
    // The alerts, as an operator's subscription receives them.
    let alerts_queue = sqs
        .create_queue()
        .queue_name(gateway_tests::unique("alerts-seen"))
        .send()
        .await
        .unwrap()
        .queue_url()
        .unwrap()
        .to_string();
    gatewayctl::local_sla::subscribe_queue(
        &aws_sdk_sns::Client::new(&sdk),
        &sqs,
        &run.stack.alerts_topic_arn,
        &alerts_queue,
    )
    .await
    .unwrap();
    let stream = StreamReader::open(
        &ddb,
        &http,
        &gateway_tests::endpoint(),
        &run.stack.table_name,
        true,
    )
    .await
    .unwrap();
    // The functions re-read the rules after RULES_CACHE_SECS (1 s locally).
    tokio::time::sleep(Duration::from_millis(1_200)).await;
    Ctx {
        store: DynamoDbConversationStore::new(ddb, &run.stack.table_name, None),
        run,
        sqs,
        http,
        stream,
        alerts_queue,
    }
}

impl Ctx {
    /// A WeChat text from `openid` through the webhook, routed.
    async fn customer_writes(&mut self, openid: &str, text: &str) -> String {
        let xml = send::wechat_text_xml(openid, text, &unique_digits(), send::now_secs());
        let request = send::wechat_push(
            &accounts(),
            "demo",
            &xml,
            Envelope::Compatible,
            send::now_secs(),
        )
        .unwrap();
        let url = self.run.webhook_url("wechat-webhook", "/wechat/demo");
        let (status, _) = send::send(&self.http, &url, &request).await.unwrap();
        assert_eq!(status, 200);
        self.pump(&self.run.stack.queue_url.clone(), "message-router")
            .await;
        NormalizedMessage::conversation_key_for(gateway_core::Channel::WeChat, "demo", openid)
    }

    async fn pump(&self, queue: &str, function: &str) {
        gatewayctl::local::pump(&self.sqs, &self.http, queue, &self.run.invoke_url(function))
            .await
            .unwrap();
    }

    /// The replies, then the table's stream, then the timers that came up, as their event
    /// sources would deliver them by now; repeated until `done` holds or 15 s pass.
    async fn run_until(&mut self, what: &str, mut done: impl AsyncFnMut(&Ctx) -> bool) {
        let start = Instant::now();
        loop {
            self.pump(&self.run.stack.outbound_queue_url.clone(), "reply-sender")
                .await;
            self.stream
                .deliver(&self.run.invoke_url("sla-monitor"))
                .await
                .unwrap();
            self.pump(&self.run.stack.timers_queue_url.clone(), "sla-monitor")
                .await;
            if done(self).await {
                return;
            }
            assert!(
                start.elapsed() < Duration::from_secs(15),
                "not within 15 s: {what}"
            );
            tokio::time::sleep(Duration::from_millis(300)).await;
        }
    }

    async fn load(&self, key: &str) -> Conversation {
        ConversationStore::load(&self.store, key)
            .await
            .unwrap()
            .expect("stored")
    }

    /// The alerts published so far about `key`.
    async fn alerts_for(&self, key: &str) -> Vec<Value> {
        let mut out = Vec::new();
        for body in drain::<Value>(&self.sqs, &self.alerts_queue).await {
            out.push(body);
        }
        out.into_iter()
            .filter(|a| a["conversation_key"] == key)
            .collect()
    }

    /// An agent's answer, as `reply-api` queues it.
    async fn agent_answers(&self, key: &str, openid: &str) {
        let command = ReplyCommand {
            schema_version: gateway_core::outbound::REPLY_SCHEMA_VERSION,
            idempotency_key: format!("agent:crm:key:{}", unique_digits()),
            channel: gateway_core::Channel::WeChat,
            account_id: "demo".into(),
            conversation_key: key.into(),
            recipient_id: openid.into(),
            content: ReplyContent::text("您好，已为您处理。"),
            origin: ReplyOrigin::Agent {
                client_id: "crm".into(),
                agent_id: Some("alice".into()),
            },
            created_at_ms: send::now_secs() * 1000,
        };
        SqsReplyQueue::new(self.sqs.clone(), &self.run.stack.outbound_queue_url)
            .enqueue(&command)
            .await
            .unwrap();
    }
}

#[tokio::test]
#[ignore = "needs the running functions and the AWS emulator (make test)"]
async fn a_crisis_no_one_answers_is_escalated_at_once_and_breached_after_its_target() {
    let _guard = RUNNING_STACK_LOCK.lock().await;
    let mut ctx = setup().await;
    let openid = format!("oSla{}", unique_digits());
    let key = ctx.customer_writes(&openid, "我要投诉你们").await;

    // The apology goes out; the conversation stays escalated and unanswered; the escalation
    // is published at once.
    let mut seen = Vec::new();
    ctx.run_until("the escalation alert", async |c| {
        seen.extend(c.alerts_for(&key).await);
        seen.iter().any(|a| a["type"] == "escalation")
    })
    .await;
    let c = ctx.load(&key).await;
    assert!(c.escalated && c.is_unanswered(), "{c:?}");
    assert!(c.last_outbound_at.is_some(), "the apology was delivered");
    assert_eq!(c.first_response_at, None);

    // Nobody answers: past the 2 s target (and the 1 s grace) the breach is recorded, once,
    // and published, within the target + 15 s.
    ctx.run_until("the breach alert", async |c| {
        seen.extend(c.alerts_for(&key).await);
        seen.iter().any(|a| a["type"] == "breach")
    })
    .await;
    let c = ctx.load(&key).await;
    let breached_at = c.sla_breached_at.expect("a breach recorded");
    assert!(breached_at >= c.response_due_at.unwrap());
    assert_eq!(
        seen.iter().filter(|a| a["type"] == "breach").count(),
        1,
        "{seen:?}"
    );
    assert_eq!(
        seen.iter().find(|a| a["type"] == "breach").unwrap()["kind"],
        "first_response"
    );
}

#[tokio::test]
#[ignore = "needs the running functions and the AWS emulator (make test)"]
async fn an_answer_before_the_target_is_no_breach_and_an_unanswered_wait_resolves_itself() {
    let _guard = RUNNING_STACK_LOCK.lock().await;
    let mut ctx = setup().await;
    let openid = format!("oSla{}", unique_digits());
    let key = ctx.customer_writes(&openid, "请问发货了吗").await;
    let c = ctx.load(&key).await;
    assert_eq!(c.service_level.as_deref(), Some("fast"));
    let due = c.response_due_at.expect("a due time");

    // An agent answers at once; the timer comes up after the due time and finds no wait.
    ctx.agent_answers(&key, &openid).await;
    ctx.run_until("the answer recorded", async |c| {
        c.load(&key).await.first_response_at.is_some()
    })
    .await;
    let answered = ctx.load(&key).await;
    assert!(answered.first_response_at.unwrap() <= due);
    assert_eq!(answered.status, Status::Pending);

    // Nobody writes back: resolved automatically 2 s after the answer; never breached.
    ctx.run_until("the automatic resolution", async |c| {
        c.load(&key).await.status == Status::Resolved
    })
    .await;
    let resolved = ctx.load(&key).await;
    assert_eq!(resolved.resolved_by.as_deref(), Some("auto"));
    assert_eq!(resolved.sla_breached_at, None);
    let alerts = ctx.alerts_for(&key).await;
    assert!(alerts.iter().all(|a| a["type"] != "breach"), "{alerts:?}");

    // The customer writes again: reopened, with a new clock.
    ctx.customer_writes(&openid, "还有一个问题").await;
    let reopened = ctx.load(&key).await;
    assert_eq!(
        (reopened.status, reopened.reopened_count),
        (Status::Open, 1)
    );
    assert!(reopened.response_due_at.unwrap() > due);
}
