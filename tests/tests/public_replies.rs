//! Public replies end to end: `public_comment` replies from an agent (through `reply-api`) and
//! from a rule (through the router), delivered by `reply-sender` to the Weibo comment API's
//! stand-in (`comments/reply`, `comments/create`), recorded with the created comment's
//! `idstr`, retried on a rate limit, dead-lettered on a refusal, and never held back by the
//! private 48-hour window. The running functions and the stand-ins are shared, so each test
//! takes the stack lock and resets the stub; ids are unique per run.
#![allow(clippy::unwrap_used)]

use aws_sdk_dynamodb::types::AttributeValue;
use gateway_aws::{DynamoDbConversationStore, SqsMessagePublisher, SqsReplyQueue};
use gateway_core::conversation::Conversation;
use gateway_core::message::{Channel, Content, NormalizedMessage, PostRef};
use gateway_core::outbound::{REPLY_SCHEMA_VERSION, ReplyCommand, ReplyOrigin};
use gateway_core::ports::{ConversationStore, MessagePublisher, ReplyQueue};
use gateway_core::reply::ReplyContent;
use gateway_core::testing::text_message;
use gateway_tests::drain_messages;
use gateway_tests::outbound_source::{Round, sender_rounds};
use gateway_tests::{
    RUNNING_STACK_LOCK, RunningStack, local_accounts_json, sdk, unique, unique_digits,
};
use gatewayctl::send;
use gatewayctl::stub::StubAdmin;
use serde_json::{Value, json};
use std::time::Duration;

const CRM_SECRET: &str = "local-crm-secret-0123456789";

/// The local Weibo account's token (`config/accounts.local.json`).
const WEIBO_TOKEN: &str = "local-demo-access-token";

const RULES: &str = r#"
version: 1
rules:
  - id: public-sorry
    when: { all: [ { channel: weibo }, { text_contains_any: "质量太差" } ] }
    then: [ { reply: { type: public_comment, text: "抱歉给您带来不便，已私信您" } } ]
"#;

struct Ctx {
    run: RunningStack,
    sqs: aws_sdk_sqs::Client,
    ddb: aws_sdk_dynamodb::Client,
    http: reqwest::Client,
    stub: StubAdmin,
    store: DynamoDbConversationStore,
}

fn now_ms() -> i64 {
    send::now_secs() * 1000
}

/// A Weibo-style id: 16 digits, unique per run.
fn weibo_id() -> String {
    let digits = unique_digits();
    format!("49{}", &digits[digits.len().saturating_sub(14)..])
}

async fn setup() -> Ctx {
    let run = RunningStack::from_env();
    let sdk = sdk().await;
    let sqs = aws_sdk_sqs::Client::new(&sdk);
    let ddb = aws_sdk_dynamodb::Client::new(&sdk);
    let stub = StubAdmin::new(
        std::env::var("GATEWAY_STUB_URL").expect("GATEWAY_STUB_URL is not set: run `make test`"),
    );
    stub.reset().await.unwrap();
    let mut doc: Value = serde_json::from_str(&local_accounts_json()).unwrap();
    doc["api_clients"] =
        json!({ "crm": { "secret": CRM_SECRET, "accounts": ["wechat:demo", "weibo:brand"] } });
    gatewayctl::local::put_accounts_secret(
        &aws_sdk_secretsmanager::Client::new(&sdk),
        &run.stack.accounts_secret_id,
        &doc.to_string(),
    )
    .await
    .unwrap();
    drain_messages(&sqs, &run.stack.outbound_queue_url).await;
    drain_messages(&sqs, &run.stack.outbound_dead_letter_queue_url).await;
    let store = DynamoDbConversationStore::new(ddb.clone(), &run.stack.table_name, None);
    // The functions re-read the accounts after ACCOUNTS_CACHE_SECS (1 s locally).
    tokio::time::sleep(Duration::from_millis(1_200)).await;
    Ctx {
        run,
        sqs,
        ddb,
        http: gatewayctl::http_client(),
        stub,
        store,
    }
}

/// A comment by `uid` under the brand's post `post_id`, as the poller normalizes it.
fn comment(uid: &str, comment_id: &str, post_id: &str, text: &str, at: i64) -> NormalizedMessage {
    let mut m = text_message("brand", uid, comment_id, text, at);
    m.channel = Channel::Weibo;
    m.conversation_key = NormalizedMessage::conversation_key_for(Channel::Weibo, "brand", uid);
    m.content = Content::Comment {
        comment_id: comment_id.into(),
        text: text.into(),
        post: PostRef::new(post_id, "新品发布：夏季系列", Some("1902538057".into())),
        reply_to_comment_id: None,
    };
    m
}

fn public(post_id: &str, comment_id: Option<&str>) -> ReplyContent {
    ReplyContent::PublicComment {
        text: "抱歉，已私信您".into(),
        post_id: post_id.into(),
        comment_id: comment_id.map(String::from),
    }
}

impl Ctx {
    /// Stores `m` as the router would (a new conversation).
    async fn stored(&self, m: &NormalizedMessage) {
        let mut c = Conversation::new_for(m);
        c.record_inbound(m);
        c.version = 1;
        let outcome = self.store.commit_inbound(m, None, &c).await.unwrap();
        assert_eq!(outcome, gateway_core::ports::CommitOutcome::Stored);
    }

    fn agent_reply(&self, m: &NormalizedMessage, content: ReplyContent) -> ReplyCommand {
        ReplyCommand {
            schema_version: REPLY_SCHEMA_VERSION,
            idempotency_key: format!("agent:test:{}", unique("k")),
            channel: m.channel,
            account_id: m.account_id.clone(),
            conversation_key: m.conversation_key.clone(),
            recipient_id: m.sender_id.clone(),
            content,
            origin: ReplyOrigin::Agent {
                client_id: "test".into(),
                agent_id: Some("alice".into()),
            },
            created_at_ms: now_ms(),
        }
    }

    async fn enqueue(&self, command: &ReplyCommand) {
        SqsReplyQueue::new(self.sqs.clone(), &self.run.stack.outbound_queue_url)
            .enqueue(command)
            .await
            .unwrap();
    }

    async fn pump(&self, queue_url: &str, function: &str) -> gatewayctl::local::PumpStats {
        gatewayctl::local::pump(
            &self.sqs,
            &self.http,
            queue_url,
            &self.run.invoke_url(function),
        )
        .await
        .unwrap()
    }

    async fn send_replies(&self) -> gatewayctl::local::PumpStats {
        self.pump(&self.run.stack.outbound_queue_url, "reply-sender")
            .await
    }

    /// Rounds of the event source on the outbound queue until it is empty, a failed record
    /// made visible again at once (the test does not wait out the backoff).
    async fn sender_rounds(&self, max_rounds: usize) -> Vec<Round> {
        sender_rounds(
            &self.sqs,
            &self.http,
            &self.run.stack.outbound_queue_url,
            &self.run.invoke_url("reply-sender"),
            max_rounds,
        )
        .await
    }

    async fn load(&self, key: &str) -> Conversation {
        self.store.load(key).await.unwrap().expect("conversation")
    }

    async fn delivery(&self, reply_id: &str) -> Value {
        let out = self
            .ddb
            .get_item()
            .table_name(&self.run.stack.table_name)
            .key("PK", AttributeValue::S(format!("REPLY#{reply_id}")))
            .key("SK", AttributeValue::S("DELIVERY".into()))
            .consistent_read(true)
            .send()
            .await
            .unwrap();
        let item = out.item.expect("delivery record");
        let text = |k: &str| item.get(k).and_then(|v| v.as_s().ok()).cloned();
        json!({ "state": text("state"), "platform_id": text("platform_id"), "error_code": text("error_code") })
    }

    /// The comment calls the stand-in received for post `post_id`.
    async fn comments_on(&self, post_id: &str) -> Vec<Value> {
        let got = self.stub.requests().await.unwrap();
        got["weibo"]["comments"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|c| c["form"]["id"] == post_id)
            .cloned()
            .collect()
    }
}

#[tokio::test]
#[ignore = "needs the running functions and platform stand-ins (make test)"]
async fn an_agent_s_public_reply_through_reply_api_reaches_comments_reply_and_is_recorded_with_the_idstr()
 {
    let _guard = RUNNING_STACK_LOCK.lock().await;
    let ctx = setup().await;
    let (uid, cid, post) = (unique_digits(), weibo_id(), weibo_id());
    let m = comment(&uid, &cid, &post, "质量太差", now_ms() - 60_000);
    ctx.stored(&m).await;

    // Act: a signed public reply to the running reply-api, then the sender.
    let body = json!({
        "conversation_key": m.conversation_key,
        "content": {"type": "public_comment", "text": "抱歉，已私信您", "post_id": post, "comment_id": cid},
        "agent_id": "alice",
        "idempotency_key": unique("public"),
    })
    .to_string();
    let response = gateway_tests::reply_api::signed(
        &ctx.http,
        &ctx.run,
        "POST",
        "/replies",
        "crm",
        CRM_SECRET,
        send::now_secs(),
        &body,
    )
    .await;
    assert_eq!(response.status().as_u16(), 202);
    let reply_id = response.json::<Value>().await.unwrap()["reply_id"]
        .as_str()
        .unwrap()
        .to_string();
    let stats = ctx.send_replies().await;
    assert_eq!((stats.delivered, stats.failed), (1, 0), "{stats:?}");

    // Assert: one comments/reply call with the comment and the post; delivered with its idstr.
    let calls = ctx.comments_on(&post).await;
    assert_eq!(calls.len(), 1, "{calls:?}");
    assert_eq!(calls[0]["path"], "reply");
    assert_eq!(calls[0]["form"]["cid"], cid.as_str());
    assert_eq!(calls[0]["form"]["comment"], "抱歉，已私信您");
    assert_eq!(calls[0]["form"]["access_token"], WEIBO_TOKEN);
    assert_eq!(calls[0]["form"]["without_mention"], "0");
    let record = ctx.delivery(&reply_id).await;
    assert_eq!(record["state"], "delivered");
    assert_eq!(record["platform_id"], calls[0]["idstr"]);
    let c = ctx.load(&m.conversation_key).await;
    assert_eq!(c.public_replies.sent, 1);
    assert!(c.reply_windows.is_empty(), "no private window charged");
    assert!(!c.is_unanswered(), "an agent's public reply answers");
}

#[tokio::test]
#[ignore = "needs the running functions and platform stand-ins (make test)"]
async fn a_public_reply_to_a_post_goes_to_comments_create() {
    let _guard = RUNNING_STACK_LOCK.lock().await;
    let ctx = setup().await;
    let (uid, post) = (unique_digits(), weibo_id());
    let m = comment(&uid, &weibo_id(), &post, "在哪买", now_ms() - 60_000);
    ctx.stored(&m).await;
    let command = ctx.agent_reply(&m, public(&post, None));
    ctx.enqueue(&command).await;
    assert_eq!(ctx.send_replies().await.failed, 0);
    let calls = ctx.comments_on(&post).await;
    assert_eq!(calls.len(), 1, "{calls:?}");
    assert_eq!(calls[0]["path"], "create");
    assert!(calls[0]["form"].get("cid").is_none());
    assert_eq!(calls[0]["form"]["comment_ori"], "0");
    let record = ctx.delivery(&command.dedupe_id()).await;
    assert_eq!(record["state"], "delivered");
    assert_eq!(record["platform_id"], calls[0]["idstr"]);
}

#[tokio::test]
#[ignore = "needs the running functions and platform stand-ins (make test)"]
async fn a_rule_s_public_reply_to_a_comment_reaches_comments_reply() {
    let _guard = RUNNING_STACK_LOCK.lock().await;
    let ctx = setup().await;
    let sdk = sdk().await;
    gateway_aws::DynamoDbRulesStore::new(
        aws_sdk_dynamodb::Client::new(&sdk),
        &ctx.run.stack.table_name,
    )
    .push(RULES, now_ms())
    .await
    .unwrap()
    .unwrap();
    tokio::time::sleep(Duration::from_millis(1_200)).await;
    ctx.pump(&ctx.run.stack.queue_url, "message-router").await;
    drain_messages(&ctx.sqs, &ctx.run.stack.outbound_queue_url).await;

    // Arrange: a comment on the inbound queue, as the poller queues it.
    let (uid, cid, post) = (unique_digits(), weibo_id(), weibo_id());
    let m = comment(&uid, &cid, &post, "质量太差", now_ms());
    SqsMessagePublisher::new(ctx.sqs.clone(), &ctx.run.stack.queue_url)
        .publish(&m)
        .await
        .unwrap();

    // Act: the router decides the public reply; the sender delivers it.
    let routed = ctx.pump(&ctx.run.stack.queue_url, "message-router").await;
    assert_eq!(routed.failed, 0, "{routed:?}");
    let stats = ctx.send_replies().await;
    assert_eq!((stats.delivered, stats.failed), (1, 0), "{stats:?}");

    // Assert: the comment under its post, answered in public.
    let calls = ctx.comments_on(&post).await;
    assert_eq!(calls.len(), 1, "{calls:?}");
    assert_eq!(calls[0]["path"], "reply");
    assert_eq!(calls[0]["form"]["cid"], cid.as_str());
    assert_eq!(calls[0]["form"]["comment"], "抱歉给您带来不便，已私信您");
    let c = ctx.load(&m.conversation_key).await;
    assert_eq!(c.public_replies.sent, 1);
    assert!(c.is_unanswered(), "a rule's reply is no answer");
}

#[tokio::test]
#[ignore = "needs the running functions and platform stand-ins (make test)"]
async fn a_rate_limited_public_reply_is_retried_then_delivered_once() {
    let _guard = RUNNING_STACK_LOCK.lock().await;
    let ctx = setup().await;
    let (uid, cid, post) = (unique_digits(), weibo_id(), weibo_id());
    let m = comment(&uid, &cid, &post, "质量太差", now_ms() - 60_000);
    ctx.stored(&m).await;
    let command = ctx.agent_reply(&m, public(&post, Some(&cid)));
    ctx.enqueue(&command).await;
    ctx.stub.fail("weibo_comment", 20016, 1).await.unwrap();
    ctx.stub.fail("weibo_comment", 10023, 1).await.unwrap();

    let rounds = ctx.sender_rounds(4).await;

    assert_eq!(rounds.len(), 3, "two refusals, then delivered: {rounds:?}");
    assert!(rounds.last().unwrap().failed.is_empty());
    let calls = ctx.comments_on(&post).await;
    let codes: Vec<Value> = calls.iter().map(|c| c["error_code"].clone()).collect();
    assert_eq!(
        codes,
        [json!(20016), json!(10023), Value::Null],
        "{calls:?}"
    );
    assert_eq!(calls.iter().filter(|c| c["accepted"] == true).count(), 1);
    let record = ctx.delivery(&command.dedupe_id()).await;
    assert_eq!(record["state"], "delivered");
    assert_eq!(record["platform_id"], calls[2]["idstr"]);
    assert_eq!(ctx.load(&m.conversation_key).await.public_replies.sent, 1);
    assert!(
        drain_messages(&ctx.sqs, &ctx.run.stack.outbound_dead_letter_queue_url)
            .await
            .is_empty()
    );
}

#[tokio::test]
#[ignore = "needs the running functions and platform stand-ins (make test)"]
async fn a_refused_public_reply_is_dead_lettered_with_its_code() {
    let _guard = RUNNING_STACK_LOCK.lock().await;
    let ctx = setup().await;
    let (uid, cid, post) = (unique_digits(), weibo_id(), weibo_id());
    let m = comment(&uid, &cid, &post, "质量太差", now_ms() - 60_000);
    ctx.stored(&m).await;
    let command = ctx.agent_reply(&m, public(&post, Some(&cid)));
    ctx.enqueue(&command).await;
    // The post's author takes comments from mutual followers only.
    ctx.stub.fail("weibo_comment", 20206, 1).await.unwrap();

    let stats = ctx.send_replies().await;
    assert_eq!(stats.failed, 0, "{stats:?}");

    let dead = drain_messages(&ctx.sqs, &ctx.run.stack.outbound_dead_letter_queue_url).await;
    assert_eq!(dead.len(), 1);
    assert_eq!(
        dead[0].message_attributes().unwrap()["error_code"].string_value(),
        Some("weibo:20206")
    );
    let record = ctx.delivery(&command.dedupe_id()).await;
    assert_eq!(record["state"], "failed");
    assert_eq!(record["error_code"], "weibo:20206");
    assert_eq!(ctx.comments_on(&post).await.len(), 1, "called once");
    assert!(
        ctx.load(&m.conversation_key)
            .await
            .public_replies
            .is_empty()
    );
}

#[tokio::test]
#[ignore = "needs the running functions and platform stand-ins (make test)"]
async fn the_private_48_hour_window_does_not_hold_back_a_public_reply() {
    let _guard = RUNNING_STACK_LOCK.lock().await;
    let ctx = setup().await;
    // A private message 49 hours ago: the private window has closed.
    let uid = unique_digits();
    let mut m = text_message(
        "brand",
        &uid,
        &unique_digits(),
        "hi",
        now_ms() - 49 * 3_600_000,
    );
    m.channel = Channel::Weibo;
    m.conversation_key = NormalizedMessage::conversation_key_for(Channel::Weibo, "brand", &uid);
    ctx.stored(&m).await;
    let private = ctx.agent_reply(&m, ReplyContent::text("late"));
    let post = weibo_id();
    let in_public = ctx.agent_reply(&m, public(&post, None));
    ctx.enqueue(&private).await;
    ctx.enqueue(&in_public).await;

    assert_eq!(ctx.send_replies().await.failed, 0);

    assert_eq!(
        ctx.delivery(&private.dedupe_id()).await["state"],
        "undeliverable"
    );
    assert_eq!(
        ctx.delivery(&in_public.dedupe_id()).await["state"],
        "delivered"
    );
    assert_eq!(ctx.comments_on(&post).await.len(), 1);
    let c = ctx.load(&m.conversation_key).await;
    assert_eq!(c.public_replies.sent, 1);
    assert_eq!(
        c.undeliverable.map(|u| u.reason.as_str()),
        Some("window_closed")
    );
}
