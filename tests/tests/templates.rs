//! WeChat template messages end to end: a follow-up after the customer-service window, posted
//! to the running `reply-api`, delivered by `reply-sender` to the `message/template/send`
//! stand-in, its `msgid` kept on the delivery record, and WeChat's `TEMPLATESENDJOBFINISH`
//! push, signed and sent through the real `wechat-webhook` and routed by `message-router`,
//! settling that record without touching the conversation.
//!
//! The running functions share their queues and the stub, so these tests take the stack lock,
//! reset the stub and drain the queues first.
#![allow(clippy::unwrap_used)]

use gateway_aws::DynamoDbConversationStore;
use gateway_core::account::AccountsDocument;
use gateway_core::channel::wechat::simulate::Envelope;
use gateway_core::conversation::Conversation;
use gateway_core::message::NormalizedMessage;
use gateway_core::ports::ConversationStore;
use gateway_core::testing::text_message;
use gateway_tests::{
    RUNNING_STACK_LOCK, RunningStack, drain, local_accounts_json, sdk, unique, unique_digits,
};
use gatewayctl::send;
use gatewayctl::stub::StubAdmin;
use serde_json::{Value, json};
use std::time::Duration;

const CRM_SECRET: &str = "local-crm-secret-0123456789";
const HOUR_MS: i64 = 3_600_000;

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

fn accounts_with_api_client() -> String {
    let mut doc: Value = serde_json::from_str(&local_accounts_json()).unwrap();
    doc["api_clients"] = json!({
        "crm": { "secret": CRM_SECRET, "accounts": ["wechat:demo", "weibo:brand"] },
    });
    let text = doc.to_string();
    AccountsDocument::from_json(&text).unwrap();
    text
}

async fn setup() -> Ctx {
    let run = RunningStack::from_env();
    let sdk = sdk().await;
    let sqs = aws_sdk_sqs::Client::new(&sdk);
    let ddb = aws_sdk_dynamodb::Client::new(&sdk);
    let stub = gateway_tests::platforms::stub();
    // The stand-ins forget their tokens, and so does the token cache.
    gateway_tests::platforms::reset_platforms(
        &stub,
        &ddb,
        &run.stack.table_name,
        &["demo".to_string()],
    )
    .await;
    gatewayctl::local::put_accounts_secret(
        &aws_sdk_secretsmanager::Client::new(&sdk),
        &run.stack.accounts_secret_id,
        &accounts_with_api_client(),
    )
    .await
    .unwrap();
    drain::<Value>(&sqs, &run.stack.outbound_queue_url).await;
    drain::<Value>(&sqs, &run.stack.queue_url).await;
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

impl Ctx {
    /// A WeChat follower of `demo` who last wrote at `received_at_ms`, stored as the router
    /// would.
    async fn follower(&self, received_at_ms: i64) -> NormalizedMessage {
        let openid = format!("o{}", unique_digits());
        let m = text_message("demo", &openid, &unique_digits(), "在吗", received_at_ms);
        let mut c = Conversation::new_for(&m);
        c.record_inbound(&m);
        c.version = 1;
        let outcome = self.store.commit_inbound(&m, None, &c).await.unwrap();
        assert_eq!(outcome, gateway_core::ports::CommitOutcome::Stored);
        m
    }

    /// POSTs a signed request to the running `reply-api`: (status, body).
    async fn reply_api(&self, body: Value) -> (u16, Value) {
        let response = gateway_tests::reply_api::signed(
            &self.http,
            &self.run,
            "POST",
            "/replies",
            "crm",
            CRM_SECRET,
            send::now_secs(),
            &body.to_string(),
        )
        .await;
        let status = response.status().as_u16();
        (status, response.json().await.unwrap_or(Value::Null))
    }

    /// A template follow-up to `m`'s customer through `reply-api`: its reply id.
    async fn follow_up(&self, m: &NormalizedMessage) -> String {
        let (status, body) = self
            .reply_api(json!({
                "conversation_key": m.conversation_key,
                "content": template_content(),
                "agent_id": "alice",
                "idempotency_key": unique("tpl"),
            }))
            .await;
        assert_eq!(status, 202, "{body}");
        body["reply_id"].as_str().unwrap().to_string()
    }

    async fn send_replies(&self) -> gatewayctl::local::PumpStats {
        gatewayctl::local::pump(
            &self.sqs,
            &self.http,
            &self.run.stack.outbound_queue_url,
            &self.run.invoke_url("reply-sender"),
        )
        .await
        .unwrap()
    }

    /// WeChat's finish push for `msgid`, signed, through the running webhook, then routed.
    async fn finish(&self, to: &str, msgid: &str, status: &str, create_time: i64) {
        let xml = send::wechat_template_finish_xml(to, msgid, status, create_time);
        let request = send::wechat_push(
            &gateway_tests::accounts(),
            "demo",
            &xml,
            Envelope::Compatible,
            send::now_secs(),
        )
        .unwrap();
        let url = self.run.webhook_url("wechat-webhook", "/wechat/demo");
        let (code, body) = send::send(&self.http, &url, &request).await.unwrap();
        // Acknowledged, never answered with a message.
        assert_eq!((code, body.as_str()), (200, "success"));
        let stats = gatewayctl::local::pump(
            &self.sqs,
            &self.http,
            &self.run.stack.queue_url,
            &self.run.invoke_url("message-router"),
        )
        .await
        .unwrap();
        assert_eq!((stats.delivered, stats.failed), (1, 0), "{stats:?}");
    }

    async fn item(&self, pk: &str, sk: &str) -> Option<Value> {
        gatewayctl::local::scan_items(&self.ddb, &self.run.stack.table_name)
            .await
            .unwrap()
            .into_iter()
            .find(|i| i["PK"] == pk && i["SK"] == sk)
    }

    async fn record(&self, reply_id: &str) -> Value {
        self.item(&format!("REPLY#{reply_id}"), "DELIVERY")
            .await
            .expect("delivery record")
    }

    async fn load(&self, key: &str) -> Conversation {
        self.store.load(key).await.unwrap().expect("conversation")
    }

    /// The template sends the stand-in accepted for `openid`.
    async fn templates_to(&self, openid: &str) -> Vec<Value> {
        let got = self.stub.requests().await.unwrap();
        got["wechat"]["templates"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|r| r["body"]["touser"] == openid)
            .filter(|r| r["accepted"] == true || r.get("errcode").is_some_and(|c| c != 40001))
            .cloned()
            .collect()
    }
}

fn template_content() -> Value {
    json!({
        "type": "template",
        "template_id": "ngqIpbwh8bUfcSsECmogfXcV14J0tQlEpBO27izEYtY",
        "data": {
            "first": {"value": "您的工单已处理完毕"},
            "keyword1": {"value": "T-42", "color": "#173177"}
        },
        "url": "https://example.com/tickets/42"
    })
}

#[tokio::test]
#[ignore = "needs the running functions and platform stand-ins (make test)"]
async fn a_template_follow_up_after_the_window_is_delivered_and_its_finish_recorded() {
    let _guard = RUNNING_STACK_LOCK.lock().await;
    let ctx = setup().await;
    // The customer last wrote 49 hours ago: WeChat's 48-hour window has closed.
    let m = ctx.follower(now_ms() - 49 * HOUR_MS).await;
    let openid = m.sender_id.clone();

    // A text reply after the window still fails as before: marked, never sent.
    let (status, body) = ctx
        .reply_api(json!({
            "conversation_key": m.conversation_key,
            "content": {"type": "text", "text": "抱歉久等"},
            "idempotency_key": unique("late"),
        }))
        .await;
    assert_eq!(status, 202, "{body}");
    let late = body["reply_id"].as_str().unwrap().to_string();
    let stats = ctx.send_replies().await;
    assert_eq!((stats.delivered, stats.failed), (1, 0), "{stats:?}");
    let record = ctx.record(&late).await;
    assert_eq!(record["state"], "undeliverable");
    assert_eq!(record["reason"], "window_closed");
    let before = ctx.load(&m.conversation_key).await;

    // The template follow-up goes out.
    let reply_id = ctx.follow_up(&m).await;
    let stats = ctx.send_replies().await;
    assert_eq!((stats.delivered, stats.failed), (1, 0), "{stats:?}");
    let sent = ctx.templates_to(&openid).await;
    assert_eq!(sent.len(), 1, "{sent:?}");
    let mut want = template_content();
    want.as_object_mut().unwrap().remove("type");
    want["touser"] = json!(openid);
    want["client_msg_id"] = json!(reply_id);
    assert_eq!(sent[0]["body"], want);
    let msgid = sent[0]["msgid"].to_string();

    let record = ctx.record(&reply_id).await;
    assert_eq!(record["state"], "accepted");
    assert_eq!(record["platform_id"], msgid.as_str());
    let lookup = ctx
        .item(&format!("TPLMSG#wechat#demo#{msgid}"), "TPLMSG")
        .await
        .expect("lookup item");
    assert_eq!(lookup["reply_id"], reply_id.as_str());
    assert!(lookup["expires_at"].as_i64().unwrap() > send::now_secs());
    let c = ctx.load(&m.conversation_key).await;
    assert_eq!(c.template_replies.sent, 1);
    assert_eq!(c.reply_windows, before.reply_windows, "no window charged");
    assert!(c.undeliverable_count >= 1);

    // WeChat reports it delivered.
    ctx.finish(&openid, &msgid, "success", send::now_secs())
        .await;
    let record = ctx.record(&reply_id).await;
    assert_eq!(record["state"], "delivered");
    let thread_sk = record["thread_sk"].as_str().unwrap().to_string();
    let message = ctx
        .item(&format!("CONV#{}", m.conversation_key), &thread_sk)
        .await
        .expect("thread item");
    assert_eq!(message["delivery"], "delivered");
    let after = ctx.load(&m.conversation_key).await;
    assert_eq!(after, c, "the report does not touch the conversation");

    // A redelivered push (a later copy) changes nothing.
    ctx.finish(
        &openid,
        &msgid,
        "failed: system failed",
        send::now_secs() + 1,
    )
    .await;
    assert_eq!(ctx.record(&reply_id).await, record);
    assert_eq!(ctx.load(&m.conversation_key).await, c);
}

#[tokio::test]
#[ignore = "needs the running functions and platform stand-ins (make test)"]
async fn a_blocked_or_refused_template_is_undeliverable_with_its_reason() {
    let _guard = RUNNING_STACK_LOCK.lock().await;
    let ctx = setup().await;

    // Accepted, then reported blocked by the follower.
    let blocked = ctx.follower(now_ms() - 72 * HOUR_MS).await;
    let reply_id = ctx.follow_up(&blocked).await;
    let stats = ctx.send_replies().await;
    assert_eq!((stats.delivered, stats.failed), (1, 0), "{stats:?}");
    let msgid = ctx.templates_to(&blocked.sender_id).await[0]["msgid"].to_string();
    ctx.finish(
        &blocked.sender_id,
        &msgid,
        "failed:user block",
        send::now_secs(),
    )
    .await;
    let record = ctx.record(&reply_id).await;
    assert_eq!(record["state"], "undeliverable");
    assert_eq!(record["reason"], "user_block");
    assert_eq!(record["GSI1PK"], "DELIVERY#wechat#demo#undeliverable");

    // Refused at the send: 43101, the user refuses the account's messages.
    let refused = ctx.follower(now_ms() - 72 * HOUR_MS).await;
    ctx.stub.fail("wechat_template", 43101, 1).await.unwrap();
    let reply_id = ctx.follow_up(&refused).await;
    let stats = ctx.send_replies().await;
    assert_eq!(stats.failed, 0, "{stats:?}");
    let record = ctx.record(&reply_id).await;
    assert_eq!(record["state"], "undeliverable");
    assert_eq!(record["reason"], "user_refused");
    assert_eq!(record["error_code"], "wechat:43101");
    let c = ctx.load(&refused.conversation_key).await;
    assert_eq!(
        c.undeliverable.map(|u| u.reason.as_str()),
        Some("user_refused")
    );
    assert_eq!(c.template_replies.sent, 0);
}

#[tokio::test]
#[ignore = "needs the running functions and platform stand-ins (make test)"]
async fn reply_api_refuses_a_template_for_weibo_or_with_bad_fields() {
    let _guard = RUNNING_STACK_LOCK.lock().await;
    let ctx = setup().await;
    // A Weibo customer's conversation, stored as the router would.
    let uid = unique_digits();
    let mut m = text_message("brand", &uid, &unique_digits(), "hi", now_ms());
    m.channel = gateway_core::message::Channel::Weibo;
    m.conversation_key = format!("weibo:brand:{uid}");
    let mut c = Conversation::new_for(&m);
    c.record_inbound(&m);
    c.version = 1;
    ctx.store.commit_inbound(&m, None, &c).await.unwrap();
    let (status, body) = ctx
        .reply_api(json!({
            "conversation_key": m.conversation_key,
            "content": template_content(),
        }))
        .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (422, Some("unsupported_content")),
        "{body}"
    );
    let follower = ctx.follower(now_ms()).await;
    let mut bad = template_content();
    bad["data"] = json!({"keyword1.DATA": {"value": "x"}});
    let (status, body) = ctx
        .reply_api(json!({
            "conversation_key": follower.conversation_key,
            "content": bad,
        }))
        .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (422, Some("invalid_content")),
        "{body}"
    );
    assert!(body.to_string().contains("write `keyword1`"), "{body}");
}
