//! Events out (`docs/events.md`), end to end through the running functions (`make test`):
//! signed webhook pushes, the router, the reply sender and `sla-monitor` invoked the way their
//! event sources invoke them, the table's stream handed to `stats-aggregator` (which publishes
//! each change's events on the stack's bus), and what the bus delivered read from the queue a
//! rule on it targets (`{prefix}-events-observed`, created by `gatewayctl local setup`).
//!
//! Every event observed is validated against `docs/events/events.schema.json`; a hermetic test
//! validates the examples of `docs/events.md` and an event of every type the core produces.
#![allow(clippy::unwrap_used)]

use gateway_aws::{DynamoDbConversationStore, DynamoDbRulesStore, SqsReplyQueue};
use gateway_core::NormalizedMessage;
use gateway_core::channel::wechat::simulate::Envelope;
use gateway_core::conversation::Conversation;
use gateway_core::events::{self, EventType, StreamChange};
use gateway_core::outbound::{REPLY_SCHEMA_VERSION, ReplyCommand, ReplyOrigin};
use gateway_core::ports::{ConversationStore, ReplyQueue};
use gateway_core::reply::ReplyContent;
use gateway_tests::{RUNNING_STACK_LOCK, RunningStack, accounts, drain, sdk, unique_digits};
use gatewayctl::send::{self, PlatformRequest};
use gatewayctl::stream_source::StreamReader;
use gatewayctl::stub::StubAdmin;
use serde_json::{Value, json};
use std::path::Path;
use std::time::{Duration, Instant};

/// A 2-second answer target, a crisis rule (escalate within 2 s, tag, team `escalations`, an
/// apology once per escalation) and automatic resolution 2 s after an answer nobody comes
/// back to.
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
    then:
      - escalate: { response_target_secs: 2 }
      - add_tags: [crisis]
      - assign: { team: escalations }
    stop: false
  - id: crisis-acknowledge
    when: { has_tags: crisis, not: { kind: event } }
    once_per: escalation
    then: [ { reply: { type: text, text: "非常抱歉，主管将在 2 秒内联系您。" } } ]
  - id: crisis-hold
    when: { has_tags: crisis }
    then: []
"#;

fn repo(path: &str) -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join(path)
}

/// The documented schema of every event.
fn validator() -> jsonschema::Validator {
    let text = std::fs::read_to_string(repo("docs/events/events.schema.json")).unwrap();
    let schema: Value = serde_json::from_str(&text).unwrap();
    jsonschema::draft202012::new(&schema).unwrap()
}

#[track_caller]
fn assert_valid(validator: &jsonschema::Validator, event: &Value) {
    let errors: Vec<String> = validator
        .iter_errors(event)
        .map(|e| format!("{} at {}", e, e.instance_path()))
        .collect();
    assert!(errors.is_empty(), "{errors:?} in {event:#}");
}

/// The JSON examples of `docs/events.md` (the ```json blocks that hold an event).
fn documented_examples() -> Vec<Value> {
    let doc = std::fs::read_to_string(repo("docs/events.md")).unwrap();
    doc.split("```json")
        .skip(1)
        .filter_map(|block| block.split("```").next())
        .filter_map(|block| serde_json::from_str::<Value>(block).ok())
        .filter(|v| v.get("version").is_some() && v.get("data").is_some())
        .collect()
}

#[test]
fn every_documented_example_and_every_type_the_core_produces_matches_the_schema() {
    let validator = validator();
    let examples = documented_examples();
    for example in &examples {
        assert_valid(&validator, example);
    }
    let documented: std::collections::BTreeSet<&str> =
        examples.iter().filter_map(|e| e["type"].as_str()).collect();
    for t in EventType::ALL {
        assert!(documented.contains(t.as_str()), "no example of {t}");
    }
    // And what the core builds, one change of each kind.
    let change = StreamChange {
        event_id: "a1b2c3".into(),
        sequence: "1100000000017454423010".into(),
    };
    let m = gateway_core::testing::text_message("demo", "o1", "1", "我要投诉", 1_796_551_200_000);
    let mut old = Conversation::new_for(&m);
    old.response_due_at = Some(1_796_551_202_000);
    let mut new = old.clone();
    new.opened_at = Some(1_796_551_200_000);
    new.team = Some("escalations".into());
    new.escalated = true;
    new.escalated_at = Some(1_796_551_200_000);
    new.escalation_count = 1;
    new.escalation_target_secs = Some(2);
    new.sla_breached_at = Some(1_796_551_203_000);
    new.status = gateway_core::conversation::Status::Resolved;
    new.resolved_at = Some(1_796_551_204_000);
    new.resolved_by = Some("auto".into());
    let mut produced = events::conversation_events(&change, Some(&old), Some(&new));
    produced.push(events::message_received(&change, &m));
    let delivery = |state: &str| events::DeliveryImage {
        reply_id: "r1".into(),
        state: state.into(),
        channel: gateway_core::Channel::WeChat,
        account: "demo".into(),
        conversation_key: m.conversation_key.clone(),
        customer_id: "o1".into(),
        origin: "agent".into(),
        agent_id: None,
        content_type: Some("text".into()),
        created_at_ms: None,
        sent_at_ms: None,
        updated_at_ms: 1_796_551_205_000,
        reason: Some("quota_exhausted".into()),
        error_code: Some("wechat:45047".into()),
        platform_id: None,
    };
    for state in ["delivered", "undeliverable", "failed"] {
        produced.extend(events::delivery_events(
            &change,
            None,
            Some(&delivery(state)),
        ));
    }
    let types: std::collections::BTreeSet<EventType> =
        produced.iter().map(|e| e.event_type).collect();
    assert_eq!(types.len(), EventType::ALL.len(), "{types:?}");
    for event in produced {
        assert_valid(&validator, &serde_json::to_value(&event).unwrap());
    }
}

struct Ctx {
    run: RunningStack,
    sqs: aws_sdk_sqs::Client,
    http: reqwest::Client,
    store: DynamoDbConversationStore,
    stub: StubAdmin,
    /// The stream as `sla-monitor`'s event source reads it.
    sla_stream: StreamReader,
    /// The stream as `stats-aggregator`'s event source reads it.
    stats_stream: StreamReader,
    /// A second reader from the same point: hands `stats-aggregator` the same records again,
    /// as Lambda does when it retries a batch.
    replay_stream: StreamReader,
    /// Every event the bus delivered so far (the `detail`s), in arrival order.
    observed: Vec<Value>,
    validator: jsonschema::Validator,
}

async fn setup() -> Ctx {
    let run = RunningStack::from_env();
    let sdk = sdk().await;
    let sqs = aws_sdk_sqs::Client::new(&sdk);
    let ddb = aws_sdk_dynamodb::Client::new(&sdk);
    let http = gatewayctl::http_client();
    let stub = StubAdmin::new(std::env::var("GATEWAY_STUB_URL").unwrap());
    DynamoDbRulesStore::new(ddb.clone(), &run.stack.table_name)
        .push(RULES, send::now_secs() * 1000)
        .await
        .unwrap()
        .unwrap();
    for url in [
        &run.stack.queue_url,
        &run.stack.outbound_queue_url,
        &run.stack.timers_queue_url,
        &run.stack.events_observed_queue_url,
    ] {
        drain::<Value>(&sqs, url).await;
    }
    let reader = async || {
        StreamReader::open(
            &ddb,
            &http,
            &gateway_tests::endpoint(),
            &run.stack.table_name,
            true,
        )
        .await
        .unwrap()
    };
    let (sla_stream, stats_stream, replay_stream) =
        (reader().await, reader().await, reader().await);
    // The functions re-read the rules after RULES_CACHE_SECS (1 s locally).
    tokio::time::sleep(Duration::from_millis(1_200)).await;
    Ctx {
        store: DynamoDbConversationStore::new(ddb, &run.stack.table_name, None),
        run,
        sqs,
        http,
        stub,
        sla_stream,
        stats_stream,
        replay_stream,
        observed: Vec::new(),
        validator: validator(),
    }
}

impl Ctx {
    /// A signed WeChat push of `text` from `openid` (the same request each time for one
    /// `msg_id`).
    fn push(&self, openid: &str, text: &str, msg_id: &str) -> PlatformRequest {
        let xml = send::wechat_text_xml(openid, text, msg_id, send::now_secs());
        send::wechat_push(
            &accounts(),
            "demo",
            &xml,
            Envelope::Compatible,
            send::now_secs(),
        )
        .unwrap()
    }

    /// A WeChat text from `openid` through the webhook, routed; returns the conversation key.
    async fn customer_writes(&self, openid: &str, text: &str) -> String {
        let request = self.push(openid, text, &unique_digits());
        let url = self.run.webhook_url("wechat-webhook", "/wechat/demo");
        let (status, _) = send::send(&self.http, &url, &request).await.unwrap();
        assert_eq!(status, 200);
        self.pump(&self.run.stack.queue_url, "message-router").await;
        NormalizedMessage::conversation_key_for(gateway_core::Channel::WeChat, "demo", openid)
    }

    async fn pump(&self, queue: &str, function: &str) {
        gatewayctl::local::pump(&self.sqs, &self.http, queue, &self.run.invoke_url(function))
            .await
            .unwrap();
    }

    /// Reads what the bus delivered, validating each event.
    async fn observe(&mut self) {
        for body in drain::<Value>(&self.sqs, &self.run.stack.events_observed_queue_url).await {
            assert_eq!(body["source"], "channel-gateway", "{body}");
            let detail = body["detail"].clone();
            assert_eq!(body["detail-type"], detail["type"], "{body}");
            assert_valid(&self.validator, &detail);
            self.observed.push(detail);
        }
    }

    /// The replies, the stream (to `sla-monitor` and `stats-aggregator`), the timers and the
    /// bus, as their event sources would deliver them by now; repeated until `done` holds or
    /// 20 s pass.
    async fn run_until(&mut self, what: &str, done: impl Fn(&Ctx) -> bool) {
        let start = Instant::now();
        loop {
            self.pump(&self.run.stack.outbound_queue_url, "reply-sender")
                .await;
            self.sla_stream
                .deliver(&self.run.invoke_url("sla-monitor"))
                .await
                .unwrap();
            self.pump(&self.run.stack.timers_queue_url, "sla-monitor")
                .await;
            self.stats_stream
                .deliver(&self.run.invoke_url("stats-aggregator"))
                .await
                .unwrap();
            self.observe().await;
            if done(self) {
                return;
            }
            assert!(
                start.elapsed() < Duration::from_secs(20),
                "not within 20 s: {what}; observed {:#?}",
                self.observed
            );
            tokio::time::sleep(Duration::from_millis(300)).await;
        }
    }

    /// The events observed about conversation `key`, in stream order (by sequence number).
    fn events_of(&self, key: &str) -> Vec<Value> {
        let mut events: Vec<Value> = self
            .observed
            .iter()
            .filter(|e| e["conversation_key"] == key)
            .cloned()
            .collect();
        events.sort_by_key(sequence);
        events
    }

    fn count(&self, key: &str, event_type: &str) -> usize {
        self.events_of(key)
            .iter()
            .filter(|e| e["type"] == event_type)
            .count()
    }

    async fn load(&self, key: &str) -> Conversation {
        ConversationStore::load(&self.store, key)
            .await
            .unwrap()
            .expect("stored")
    }

    /// An agent's answer, as `reply-api` queues it.
    async fn agent_answers(&self, key: &str, openid: &str, text: &str) -> ReplyCommand {
        let command = ReplyCommand {
            schema_version: REPLY_SCHEMA_VERSION,
            idempotency_key: format!("agent:crm:key:{}", unique_digits()),
            channel: gateway_core::Channel::WeChat,
            account_id: "demo".into(),
            conversation_key: key.into(),
            recipient_id: openid.into(),
            content: ReplyContent::text(text),
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
        command
    }

    /// The stream handed to `stats-aggregator` again from where the replay reader stands
    /// (the records it already handled), then the bus read after a pause.
    async fn replay_stream(&mut self) {
        let (accepted, failed) = self
            .replay_stream
            .deliver(&self.run.invoke_url("stats-aggregator"))
            .await
            .unwrap();
        assert!(accepted > 0 && failed == 0, "{accepted} {failed}");
        tokio::time::sleep(Duration::from_millis(1_000)).await;
        self.observe().await;
    }
}

/// An event's stream sequence number.
fn sequence(event: &Value) -> u128 {
    event["sequence"].as_str().unwrap().parse().unwrap()
}

fn types(events: &[Value]) -> Vec<&str> {
    events.iter().map(|e| e["type"].as_str().unwrap()).collect()
}

#[tokio::test]
#[ignore = "needs the running functions and the AWS emulator (make test)"]
async fn each_stored_message_is_one_message_received_in_order_and_a_duplicate_is_none() {
    let _guard = RUNNING_STACK_LOCK.lock().await;
    let mut ctx = setup().await;
    let openid = format!("oEvt{}", unique_digits());

    // Three messages, the first pushed twice by the platform (its retry) and delivered to the
    // router twice (an SQS redelivery after the deduplication window).
    let first = ctx.push(&openid, "你好", &unique_digits());
    let url = ctx.run.webhook_url("wechat-webhook", "/wechat/demo");
    for _ in 0..2 {
        let (status, _) = send::send(&ctx.http, &url, &first).await.unwrap();
        assert_eq!(status, 200);
    }
    let queued = gatewayctl::local::receive_batch(&ctx.sqs, &ctx.run.stack.queue_url, 1)
        .await
        .unwrap();
    assert_eq!(queued.len(), 1, "SQS deduplicated the platform's retry");
    let body = queued[0].body().unwrap().to_string();
    let message: NormalizedMessage = serde_json::from_str(&body).unwrap();
    gatewayctl::local::deliver_batch(
        &ctx.sqs,
        &ctx.http,
        &ctx.run.stack.queue_url,
        &ctx.run.invoke_url("message-router"),
        &queued,
    )
    .await
    .unwrap();
    ctx.sqs
        .send_message()
        .queue_url(&ctx.run.stack.queue_url)
        .message_body(&body)
        .message_group_id(message.message_group_id())
        .message_deduplication_id(format!("late-{}", unique_digits()))
        .send()
        .await
        .unwrap();
    ctx.pump(&ctx.run.stack.queue_url, "message-router").await;
    let key = ctx.customer_writes(&openid, "在吗").await;
    ctx.customer_writes(&openid, "我的订单到哪了").await;

    // Act: the stream to the aggregator, the bus read.
    ctx.run_until("three messages received", |c| {
        c.count(&key, "message.received") >= 3
    })
    .await;
    // A moment more, for anything late; then the same records handed over again.
    tokio::time::sleep(Duration::from_millis(1_000)).await;
    ctx.run_until("nothing more", |_| true).await;
    ctx.replay_stream().await;

    // Assert: one event per stored message, in the order they were written, none for the
    // duplicate and none again for the records handed over twice.
    let received: Vec<Value> = ctx
        .events_of(&key)
        .into_iter()
        .filter(|e| e["type"] == "message.received")
        .collect();
    let texts: Vec<&str> = received
        .iter()
        .map(|e| e["data"]["text"].as_str().unwrap())
        .collect();
    assert_eq!(texts, ["你好", "在吗", "我的订单到哪了"], "{received:#?}");
    assert_eq!(
        received[0]["data"]["message_id"],
        json!(message.dedupe_id())
    );
    let ids: std::collections::BTreeSet<&str> =
        received.iter().map(|e| e["id"].as_str().unwrap()).collect();
    assert_eq!(ids.len(), 3);
    let sequences: Vec<u128> = received.iter().map(sequence).collect();
    assert!(sequences.windows(2).all(|w| w[0] < w[1]), "{sequences:?}");
    assert!(
        received
            .windows(2)
            .all(|w| w[0]["occurred_at"].as_str() <= w[1]["occurred_at"].as_str())
    );
    for e in &received {
        assert_eq!(e["customer_id"], json!(openid));
        assert_eq!(e["account"], "demo");
        assert_eq!(e["channel"], "wechat");
    }
    // The conversation opened once (its first message), and every event exactly once.
    assert_eq!(ctx.count(&key, "conversation.opened"), 1);
    let all = ctx.events_of(&key);
    let unique: std::collections::BTreeSet<&str> =
        all.iter().map(|e| e["id"].as_str().unwrap()).collect();
    assert_eq!(unique.len(), all.len(), "no event twice: {all:#?}");
}

#[tokio::test]
#[ignore = "needs the running functions and the AWS emulator (make test)"]
async fn a_crisis_is_opened_assigned_escalated_its_apology_delivered_and_its_breach_published() {
    let _guard = RUNNING_STACK_LOCK.lock().await;
    let mut ctx = setup().await;
    let openid = format!("oEvt{}", unique_digits());
    let key = ctx.customer_writes(&openid, "我要投诉你们").await;

    ctx.run_until("the breach", |c| {
        c.count(&key, "conversation.sla_breached") == 1 && c.count(&key, "reply.delivered") == 1
    })
    .await;
    ctx.replay_stream().await;

    let events = ctx.events_of(&key);
    let conversation_events: Vec<Value> = events
        .iter()
        .filter(|e| e["type"].as_str().unwrap().starts_with("conversation."))
        .cloned()
        .collect();
    assert_eq!(
        types(&conversation_events),
        [
            "conversation.opened",
            "conversation.assigned",
            "conversation.escalated",
            "conversation.sla_breached"
        ],
        "{events:#?}"
    );
    let escalated = &conversation_events[2];
    assert_eq!(escalated["data"]["conversation"]["team"], "escalations");
    assert_eq!(escalated["data"]["conversation"]["tags"], json!(["crisis"]));
    assert_eq!(escalated["data"]["conversation"]["escalated"], true);
    assert_eq!(escalated["data"]["escalation_count"], 1);
    assert_eq!(escalated["data"]["response_target_secs"], 2);
    let breached = &conversation_events[3];
    let c = ctx.load(&key).await;
    assert_eq!(
        breached["occurred_at"],
        json!(events::rfc3339(c.sla_breached_at.unwrap()))
    );
    assert!(sequence(escalated) < sequence(breached));
    let apology = events
        .iter()
        .find(|e| e["type"] == "reply.delivered")
        .unwrap();
    assert_eq!(apology["data"]["origin"], "rule");
    assert_eq!(apology["customer_id"], json!(openid));
    assert_eq!(ctx.count(&key, "conversation.escalated"), 1, "once");
    let unique: std::collections::BTreeSet<&str> =
        events.iter().map(|e| e["id"].as_str().unwrap()).collect();
    assert_eq!(unique.len(), events.len(), "no event twice: {events:#?}");
}

#[tokio::test]
#[ignore = "needs the running functions and the AWS emulator (make test)"]
async fn an_answer_is_delivered_the_conversation_resolves_and_a_refused_reply_is_undeliverable() {
    let _guard = RUNNING_STACK_LOCK.lock().await;
    let mut ctx = setup().await;
    ctx.stub.reset().await.unwrap();
    let openid = format!("oEvt{}", unique_digits());
    let key = ctx.customer_writes(&openid, "请问发货了吗").await;

    // An agent answers; nobody writes back: resolved automatically 2 s later.
    let answer = ctx.agent_answers(&key, &openid, "已经发货了。").await;
    ctx.run_until("the resolution", |c| {
        c.count(&key, "conversation.resolved") == 1
    })
    .await;
    let delivered = ctx
        .events_of(&key)
        .into_iter()
        .find(|e| e["type"] == "reply.delivered")
        .expect("the answer delivered");
    assert_eq!(delivered["data"]["reply_id"], json!(answer.dedupe_id()));
    assert_eq!(delivered["data"]["origin"], "agent");
    assert_eq!(delivered["data"]["agent_id"], "alice");
    assert_eq!(delivered["data"]["content_type"], "text");
    let resolved = ctx
        .events_of(&key)
        .into_iter()
        .find(|e| e["type"] == "conversation.resolved")
        .unwrap();
    assert_eq!(resolved["data"]["resolved_by"], "auto");
    assert_eq!(resolved["data"]["conversation"]["status"], "resolved");
    assert!(sequence(&delivered) != sequence(&resolved));

    // The customer writes again (reopened), and the platform refuses the next answer: its
    // quota is used up.
    ctx.customer_writes(&openid, "还有一个问题").await;
    ctx.stub.fail("wechat_send", 45047, 1).await.unwrap();
    let refused = ctx.agent_answers(&key, &openid, "请稍等").await;
    ctx.run_until("the refused reply", |c| {
        c.count(&key, "reply.undeliverable") == 1
    })
    .await;
    ctx.replay_stream().await;
    let events = ctx.events_of(&key);
    let undeliverable = events
        .iter()
        .find(|e| e["type"] == "reply.undeliverable")
        .unwrap();
    assert_eq!(
        undeliverable["data"]["reply_id"],
        json!(refused.dedupe_id())
    );
    assert_eq!(undeliverable["data"]["outcome"], "undeliverable");
    assert!(
        undeliverable["data"]["reason"].is_string(),
        "{undeliverable}"
    );
    let opened: Vec<&Value> = events
        .iter()
        .filter(|e| e["type"] == "conversation.opened")
        .collect();
    assert_eq!(opened.len(), 2, "the first episode and the reopening");
    assert_eq!(opened[1]["data"]["reopened"], true);
    assert_eq!(ctx.count(&key, "reply.delivered"), 1);
    let unique: std::collections::BTreeSet<&str> =
        events.iter().map(|e| e["id"].as_str().unwrap()).collect();
    assert_eq!(unique.len(), events.len(), "no event twice: {events:#?}");
}
