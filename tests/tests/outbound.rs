//! The outbound path end to end: reply commands on the real outbound FIFO queue (the emulator),
//! `reply-sender` and `reply-api` running under `cargo lambda watch`, the conversations table,
//! and the platform stand-ins (`gatewayctl stub-platforms`) speaking the WeChat and Weibo API
//! formats over real HTTP. `gatewayctl::local::pump` stands in for the Lambda SQS event source.
//!
//! The running functions share their queues and the stub, so these tests take the stack lock,
//! reset the stub and drain the queues first. Platform ids are unique per run.
#![allow(clippy::unwrap_used)]

use aws_sdk_sqs::types::MessageSystemAttributeName;
use gateway_aws::{DynamoDbConversationStore, SqsReplyQueue};
use gateway_core::account::AccountsDocument;
use gateway_core::channel::wechat::simulate::Envelope;
use gateway_core::conversation::Conversation;
use gateway_core::message::{Channel, NormalizedMessage};
use gateway_core::outbound::{REPLY_SCHEMA_VERSION, ReplyCommand, ReplyOrigin};
use gateway_core::ports::{ConversationStore, ReplyQueue};
use gateway_core::reply::ReplyContent;
use gateway_core::testing::text_message;
use gateway_tests::outbound_source::{Round, sender_rounds};
use gateway_tests::reply_api::signed;
use gateway_tests::{RUNNING_STACK_LOCK, RunningStack, local_accounts_json, sdk, unique};
use gatewayctl::send;
use gatewayctl::stub::StubAdmin;
use serde_json::{Value, json};
use std::time::Duration;

const CRM_SECRET: &str = "local-crm-secret-0123456789";
const OTHER_SECRET: &str = "other-crm-secret-0123456789";

/// Auto-reply rules pushed for these tests (the router reads them from the table).
const RULES: &str = r#"
version: 1
rules:
  - id: help
    when: { text_contains_any: ["help", "帮助"] }
    then: [ { reply: { type: text, text: "您好，这里是客服。Hello, how can we help?" } } ]
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

fn unique_digits() -> String {
    unique("9")
        .chars()
        .filter(char::is_ascii_digit)
        .take(16)
        .collect()
}

/// The local accounts plus an API client for `reply-api`.
fn accounts_with_api_client() -> String {
    let mut doc: Value = serde_json::from_str(&local_accounts_json()).unwrap();
    doc["api_clients"] = json!({
        "crm": { "secret": CRM_SECRET, "accounts": ["wechat:demo", "weibo:brand", "wechat:passive-demo"] },
        "other-crm": { "secret": OTHER_SECRET, "accounts": ["wechat:demo"] },
    });
    // A subscription account without the customer-service API (official V11 credentials).
    doc["wechat"]["passive-demo"] = json!({
        "app_id": "wxba5fad812f8e6fb9",
        "token": "AAAAA",
        "encoding_aes_key": "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
        "mode": "secure",
        "reply_mode": "passive",
    });
    let text = doc.to_string();
    AccountsDocument::from_json(&text).unwrap();
    text
}

async fn drain(sqs: &aws_sdk_sqs::Client, url: &str) -> Vec<aws_sdk_sqs::types::Message> {
    let mut out = Vec::new();
    loop {
        let got = sqs
            .receive_message()
            .queue_url(url)
            .max_number_of_messages(10)
            .message_attribute_names("All")
            .message_system_attribute_names(MessageSystemAttributeName::All)
            .send()
            .await
            .unwrap();
        if got.messages().is_empty() {
            return out;
        }
        for m in got.messages() {
            sqs.delete_message()
                .queue_url(url)
                .receipt_handle(m.receipt_handle().unwrap())
                .send()
                .await
                .unwrap();
            out.push(m.clone());
        }
    }
}

/// `POST /replies` with `body` to the running reply-api, signed by `client` at `ts`.
async fn post_signed(
    ctx: &Ctx,
    client: &str,
    secret: &str,
    ts: i64,
    body: &str,
) -> reqwest::Response {
    signed(
        &ctx.http, &ctx.run, "POST", "/replies", client, secret, ts, body,
    )
    .await
}

async fn setup() -> Ctx {
    let run = RunningStack::from_env();
    let sdk = sdk().await;
    let sqs = aws_sdk_sqs::Client::new(&sdk);
    let ddb = aws_sdk_dynamodb::Client::new(&sdk);
    let stub = gateway_tests::platforms::stub();
    // The stand-ins forget their tokens, and so does the token cache, or a test would begin
    // with a refused token whose forced refresh another test made less than 30 s ago.
    let accounts_doc = AccountsDocument::from_json(&accounts_with_api_client()).unwrap();
    gateway_tests::platforms::reset_platforms(
        &stub,
        &ddb,
        &run.stack.table_name,
        accounts_doc.wechat.keys(),
    )
    .await;
    gatewayctl::local::put_accounts_secret(
        &aws_sdk_secretsmanager::Client::new(&sdk),
        &run.stack.accounts_secret_id,
        &accounts_with_api_client(),
    )
    .await
    .unwrap();
    drain(&sqs, &run.stack.outbound_queue_url).await;
    drain(&sqs, &run.stack.outbound_dead_letter_queue_url).await;
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
    /// A conversation whose customer wrote at `received_at_ms`, stored as the router would.
    async fn conversation(
        &self,
        channel: Channel,
        account: &str,
        customer: &str,
        received_at_ms: i64,
    ) -> NormalizedMessage {
        let mut m = text_message(account, customer, &unique_digits(), "hello", received_at_ms);
        m.channel = channel;
        m.conversation_key = NormalizedMessage::conversation_key_for(channel, account, customer);
        let mut c = Conversation::new_for(&m);
        c.record_inbound(&m);
        c.version = 1;
        let outcome = self.store.commit_inbound(&m, None, &c).await.unwrap();
        assert_eq!(outcome, gateway_core::ports::CommitOutcome::Stored);
        m
    }

    async fn enqueue(&self, command: &ReplyCommand) {
        SqsReplyQueue::new(self.sqs.clone(), &self.run.stack.outbound_queue_url)
            .enqueue(command)
            .await
            .unwrap();
    }

    /// Delivers the outbound queue to `reply-sender` as the Lambda event source would.
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

    async fn load(&self, key: &str) -> Conversation {
        self.store.load(key).await.unwrap().expect("conversation")
    }

    async fn item(&self, pk: &str, sk: &str) -> Option<Value> {
        gatewayctl::local::scan_items(&self.ddb, &self.run.stack.table_name)
            .await
            .unwrap()
            .into_iter()
            .find(|i| i["PK"] == pk && i["SK"] == sk)
    }

    async fn delivery(&self, command: &ReplyCommand) -> Value {
        self.item(&format!("REPLY#{}", command.dedupe_id()), "DELIVERY")
            .await
            .expect("delivery record")
    }

    async fn stub_requests(&self) -> Value {
        self.stub.requests().await.unwrap()
    }

    /// Rounds of the event source mapping on the outbound queue until it is empty (at most
    /// `max_rounds`), failed records made visible again at once.
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
}

/// The sender's attempt limit in the running stack (`REPLY_MAX_ATTEMPTS`, 4 unless the stack
/// was started with another value; `tools/stack.sh` passes it on to the functions).
fn reply_max_attempts() -> u32 {
    std::env::var("REPLY_MAX_ATTEMPTS")
        .ok()
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(4)
}

/// The platform's answers to the customer-service sends addressed to `openid`, leaving out
/// the refusals of an access token cached before the stub was reset (the sender refreshes
/// it and calls again).
fn sends_to<'a>(got: &'a Value, openid: &str) -> Vec<&'a Value> {
    got["wechat"]["messages"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["body"]["touser"] == openid)
        .filter(|r| r["accepted"] == true || r.get("errcode").is_some())
        .collect()
}

fn agent_reply(m: &NormalizedMessage, text: &str) -> ReplyCommand {
    ReplyCommand {
        schema_version: REPLY_SCHEMA_VERSION,
        idempotency_key: format!("agent:test:{}", unique("k")),
        channel: m.channel,
        account_id: m.account_id.clone(),
        conversation_key: m.conversation_key.clone(),
        recipient_id: m.sender_id.clone(),
        content: ReplyContent::text(text),
        origin: ReplyOrigin::Agent {
            client_id: "test".into(),
            agent_id: None,
        },
        created_at_ms: now_ms(),
    }
}

fn accepted(list: &Value) -> Vec<&Value> {
    list.as_array()
        .unwrap()
        .iter()
        .filter(|r| r["accepted"] == true)
        .collect()
}

#[tokio::test]
#[ignore = "needs the running functions and platform stand-ins (make test)"]
async fn rule_auto_replies_reach_the_wechat_and_weibo_apis_with_the_right_payload() {
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
    gatewayctl::local::pump(
        &ctx.sqs,
        &ctx.http,
        &ctx.run.stack.queue_url,
        &ctx.run.invoke_url("message-router"),
    )
    .await
    .unwrap();
    drain(&ctx.sqs, &ctx.run.stack.outbound_queue_url).await;

    // Arrange: a WeChat and a Weibo customer ask for help, as the platforms send it.
    let accounts = AccountsDocument::from_json(&local_accounts_json()).unwrap();
    let openid = format!("o{}", unique_digits());
    let uid = unique_digits();
    let now = send::now_secs();
    let xml = send::wechat_text_xml(&openid, "help please", &unique_digits(), now);
    let request = send::wechat_push(&accounts, "demo", &xml, Envelope::Compatible, now).unwrap();
    let url = ctx.run.webhook_url("wechat-webhook", "/wechat/demo");
    assert_eq!(send::send(&ctx.http, &url, &request).await.unwrap().0, 200);
    let created = gateway_core::channel::weibo::simulate::created_at(now).unwrap();
    let body = gateway_core::channel::weibo::simulate::text_body(
        1902538057,
        uid.parse().unwrap(),
        &created,
        "需要帮助",
    );
    let request = send::weibo_push(&accounts, "brand", &body, now * 1000).unwrap();
    let url = ctx.run.webhook_url("weibo-webhook", "/weibo/brand");
    assert_eq!(send::send(&ctx.http, &url, &request).await.unwrap().0, 200);

    // Act: the router stores them and queues the auto-replies; the sender delivers them.
    gatewayctl::local::pump(
        &ctx.sqs,
        &ctx.http,
        &ctx.run.stack.queue_url,
        &ctx.run.invoke_url("message-router"),
    )
    .await
    .unwrap();
    let stats = ctx.send_replies().await;

    // Assert: each platform got exactly its documented request.
    assert_eq!((stats.delivered, stats.failed), (2, 0), "{stats:?}");
    let got = ctx.stub_requests().await;
    let wechat = accepted(&got["wechat"]["messages"]);
    assert_eq!(wechat.len(), 1, "{got}");
    assert_eq!(
        wechat[0]["body"],
        json!({"touser": openid, "msgtype": "text", "text": {"content": "您好，这里是客服。Hello, how can we help?"}})
    );
    assert!(
        wechat[0]["access_token"]
            .as_str()
            .unwrap()
            .starts_with("stub-token-wxba5fad812f8e6fb9-")
    );
    let weibo = accepted(&got["weibo"]["replies"]);
    assert_eq!(weibo.len(), 1, "{got}");
    assert_eq!(weibo[0]["receiver_id"], uid);
    assert_eq!(weibo[0]["type"], "text");
    assert_eq!(weibo[0]["access_token"], "local-demo-access-token");
    let data: Value = serde_json::from_str(weibo[0]["data"].as_str().unwrap()).unwrap();
    assert_eq!(
        data,
        json!({"text": "您好，这里是客服。Hello, how can we help?"})
    );

    // The replies reached the customers and are recorded, but a rule's acknowledgement is
    // not an answer: both still wait for a person, with no first response time.
    for key in [
        format!("wechat:demo:{openid}"),
        format!("weibo:brand:{uid}"),
    ] {
        let c = ctx.load(&key).await;
        assert!(c.last_outbound_at.is_some(), "{key}");
        assert!(c.first_response_at.is_none(), "{key}");
        assert!(c.is_unanswered(), "{key}");
    }
}

#[tokio::test]
#[ignore = "needs the running functions and platform stand-ins (make test)"]
async fn an_agent_reply_through_reply_api_is_delivered_and_answers_the_conversation() {
    let _guard = RUNNING_STACK_LOCK.lock().await;
    let ctx = setup().await;
    let openid = format!("o{}", unique_digits());
    let m = ctx
        .conversation(Channel::WeChat, "demo", &openid, now_ms() - 60_000)
        .await;
    assert!(ctx.load(&m.conversation_key).await.is_unanswered());

    // Act: an agent desk posts a signed reply to the running reply-api.
    let body = json!({
        "conversation_key": m.conversation_key,
        "content": {"type": "articles", "articles": [{"title": "订单状态", "url": "https://example.com/o/1", "pic_url": "https://example.com/o.png"}]},
        "agent_id": "alice",
        "idempotency_key": unique("ticket"),
    })
    .to_string();
    let ts = send::now_secs();
    let response = post_signed(&ctx, "crm", CRM_SECRET, ts, &body).await;
    assert_eq!(response.status().as_u16(), 202);
    let accepted_body: Value = response.json().await.unwrap();
    let reply_id = accepted_body["reply_id"].as_str().unwrap().to_string();

    // The same signed request again (a replay, or the client retrying): the same reply.
    let replayed = post_signed(&ctx, "crm", CRM_SECRET, ts, &body).await;
    assert_eq!(replayed.status().as_u16(), 202);
    let replayed: Value = replayed.json().await.unwrap();
    assert_eq!(replayed["reply_id"].as_str(), Some(reply_id.as_str()));
    // The key reused for other content: 409, nothing queued.
    let mut other: Value = serde_json::from_str(&body).unwrap();
    other["content"] = json!({"type": "text", "text": "something else"});
    let reused = post_signed(&ctx, "crm", CRM_SECRET, ts, &other.to_string()).await;
    assert_eq!(reused.status().as_u16(), 409);

    // A wrong signature is refused and queues nothing.
    let refused = post_signed(&ctx, "crm", "not-the-secret-0123456789", ts, &body).await;
    assert_eq!(refused.status().as_u16(), 401);

    let stats = ctx.send_replies().await;
    assert_eq!((stats.delivered, stats.failed), (1, 0), "{stats:?}");

    // Assert: WeChat got the news message; the conversation is answered.
    let got = ctx.stub_requests().await;
    let sent = accepted(&got["wechat"]["messages"]);
    assert_eq!(sent.len(), 1, "{got}");
    assert_eq!(sent[0]["body"]["touser"], openid);
    assert_eq!(sent[0]["body"]["msgtype"], "news");
    assert_eq!(sent[0]["body"]["news"]["articles"][0]["title"], "订单状态");
    assert_eq!(
        sent[0]["body"]["news"]["articles"][0]["picurl"],
        "https://example.com/o.png"
    );
    let c = ctx.load(&m.conversation_key).await;
    assert!(c.first_response_at.is_some());
    assert!(!c.is_unanswered());
    assert_eq!(c.status, gateway_core::conversation::Status::Pending);
    assert_eq!(c.reply_windows.message.map(|w| w.sent), Some(1));
    let record = ctx
        .item(&format!("REPLY#{reply_id}"), "DELIVERY")
        .await
        .unwrap();
    assert_eq!(record["state"], "delivered");
    assert_eq!(record["command"]["origin"]["agent_id"], "alice");

    // The status endpoint says so too.
    let ts = send::now_secs();
    let path = format!("/replies/{reply_id}");
    let status: Value = signed(&ctx.http, &ctx.run, "GET", &path, "crm", CRM_SECRET, ts, "")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(status["state"], "delivered");
    // Another client cannot read it, not even with a valid signature of its own.
    let ts = send::now_secs();
    let foreign = signed(
        &ctx.http,
        &ctx.run,
        "GET",
        &path,
        "other-crm",
        OTHER_SECRET,
        ts,
        "",
    )
    .await;
    assert_eq!(foreign.status().as_u16(), 404);

    // A Weibo agent reply (a map position, Weibo-only content) goes the same way.
    let uid = unique_digits();
    let weibo = ctx
        .conversation(Channel::Weibo, "brand", &uid, now_ms() - 60_000)
        .await;
    let body = json!({
        "channel": "weibo",
        "account_id": "brand",
        "customer_id": uid,
        "content": {"type": "position", "latitude": 39.982525, "longitude": 116.308586},
    })
    .to_string();
    let response = post_signed(&ctx, "crm", CRM_SECRET, send::now_secs(), &body).await;
    assert_eq!(response.status().as_u16(), 202);
    let stats = ctx.send_replies().await;
    assert_eq!((stats.delivered, stats.failed), (1, 0), "{stats:?}");
    let got = ctx.stub_requests().await;
    let replies = accepted(&got["weibo"]["replies"]);
    assert_eq!(replies.len(), 1, "{got}");
    assert_eq!(replies[0]["receiver_id"], uid);
    assert_eq!(replies[0]["type"], "position");
    let data: Value = serde_json::from_str(replies[0]["data"].as_str().unwrap()).unwrap();
    assert_eq!(
        data,
        json!({"longitude": "116.308586", "latitude": "39.982525"})
    );
    assert!(
        ctx.load(&weibo.conversation_key)
            .await
            .first_response_at
            .is_some()
    );
}

#[tokio::test]
#[ignore = "needs the running functions and platform stand-ins (make test)"]
async fn a_system_notice_through_reply_api_is_delivered_and_leaves_the_customer_waiting() {
    let _guard = RUNNING_STACK_LOCK.lock().await;
    let ctx = setup().await;
    let openid = format!("o{}", unique_digits());
    let m = ctx
        .conversation(Channel::WeChat, "demo", &openid, now_ms() - 60_000)
        .await;
    let body = json!({
        "conversation_key": m.conversation_key,
        "content": {"type": "text", "text": "您的订单已发货。Your order has shipped."},
        "origin": "system",
    })
    .to_string();
    let response = post_signed(&ctx, "crm", CRM_SECRET, send::now_secs(), &body).await;
    assert_eq!(response.status().as_u16(), 202);
    let stats = ctx.send_replies().await;
    assert_eq!((stats.delivered, stats.failed), (1, 0), "{stats:?}");
    assert_eq!(sends_to(&ctx.stub_requests().await, &openid).len(), 1);
    // Delivered and recorded, but a notice is not an answer: the customer still waits.
    let c = ctx.load(&m.conversation_key).await;
    assert!(c.last_outbound_at.is_some());
    assert!(c.is_unanswered());
    assert_eq!(c.first_response_at, None);
    assert_eq!(c.status, gateway_core::conversation::Status::Open);
}

#[tokio::test]
#[ignore = "needs the running functions and platform stand-ins (make test)"]
async fn token_expiry_mid_stream_is_recovered_with_one_refresh() {
    let _guard = RUNNING_STACK_LOCK.lock().await;
    let ctx = setup().await;
    let m = ctx
        .conversation(
            Channel::WeChat,
            "demo",
            &format!("o{}", unique_digits()),
            now_ms() - 1_000,
        )
        .await;
    ctx.enqueue(&agent_reply(&m, "first")).await;
    ctx.send_replies().await;
    let before = ctx.stub_requests().await;
    let tokens_before = before["wechat"]["token_requests"].as_array().unwrap().len();
    let messages_before = before["wechat"]["messages"].as_array().unwrap().len();
    // (A token cached by an earlier test may have been refused and replaced here.)
    assert_eq!(tokens_before, 1, "one token for the first reply: {before}");

    // Act: the platform expires the token; two more replies follow.
    ctx.stub.expire_tokens().await.unwrap();
    ctx.enqueue(&agent_reply(&m, "second")).await;
    ctx.enqueue(&agent_reply(&m, "third")).await;
    let stats = ctx.send_replies().await;

    // Assert: one refresh, every reply delivered, the expired token refused once.
    assert_eq!(stats.failed, 0, "{stats:?}");
    let got = ctx.stub_requests().await;
    let tokens = got["wechat"]["token_requests"].as_array().unwrap();
    assert_eq!(
        tokens.len(),
        tokens_before + 1,
        "exactly one refresh: {got}"
    );
    assert_eq!(tokens[tokens_before]["force_refresh"], false);
    let messages = &got["wechat"]["messages"].as_array().unwrap()[messages_before..];
    let texts: Vec<(&str, bool)> = messages
        .iter()
        .map(|r| {
            (
                r["body"]["text"]["content"].as_str().unwrap(),
                r["accepted"] == true,
            )
        })
        .collect();
    assert_eq!(
        texts,
        [("second", false), ("second", true), ("third", true)],
        "{got}"
    );
    assert_eq!(messages[1]["access_token"], messages[2]["access_token"]);
    assert_ne!(messages[0]["access_token"], messages[1]["access_token"]);
}

#[tokio::test]
#[ignore = "needs the running functions and platform stand-ins (make test)"]
async fn an_out_of_window_reply_is_marked_on_the_conversation_not_lost() {
    let _guard = RUNNING_STACK_LOCK.lock().await;
    let ctx = setup().await;
    // The customer last wrote 49 hours ago: WeChat's 48-hour window has closed.
    let old = ctx
        .conversation(
            Channel::WeChat,
            "demo",
            &format!("o{}", unique_digits()),
            now_ms() - 49 * 3_600_000,
        )
        .await;
    let late = agent_reply(&old, "sorry for the wait");
    ctx.enqueue(&late).await;
    // In the window, but the platform says the quota is used up.
    let recent = ctx
        .conversation(
            Channel::WeChat,
            "demo",
            &format!("o{}", unique_digits()),
            now_ms() - 1_000,
        )
        .await;
    let refused = agent_reply(&recent, "one more");
    ctx.enqueue(&refused).await;
    ctx.stub.fail("wechat_send", 45047, 1).await.unwrap();

    let stats = ctx.send_replies().await;
    assert_eq!(stats.failed, 0, "{stats:?}");

    // Nothing reached the customer outside the window…
    let got = ctx.stub_requests().await;
    let to_old: Vec<&Value> = got["wechat"]["messages"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["body"]["touser"] == old.sender_id)
        .collect();
    assert!(to_old.is_empty(), "{got}");
    // …and both replies are marked on their conversations with the reason, and kept.
    let c = ctx.load(&old.conversation_key).await;
    let mark = c.undeliverable.clone().expect("marked");
    assert_eq!(mark.reason.as_str(), "window_closed");
    assert_eq!(mark.reply_id, late.dedupe_id());
    assert!(c.is_unanswered(), "the customer still waits for an answer");
    let record = ctx.delivery(&late).await;
    assert_eq!(record["state"], "undeliverable");
    assert_eq!(record["reason"], "window_closed");
    assert_eq!(record["command"]["content"]["text"], "sorry for the wait");
    assert_eq!(record["GSI1PK"], "DELIVERY#wechat#demo#undeliverable");

    let c = ctx.load(&recent.conversation_key).await;
    let mark = c.undeliverable.clone().expect("marked");
    assert_eq!(mark.reason.as_str(), "quota_exhausted");
    assert_eq!(mark.platform_code.as_deref(), Some("wechat:45047"));
}

#[tokio::test]
#[ignore = "needs the running functions and platform stand-ins (make test)"]
async fn a_duplicate_command_is_sent_once() {
    let _guard = RUNNING_STACK_LOCK.lock().await;
    let ctx = setup().await;
    let m = ctx
        .conversation(Channel::Weibo, "brand", &unique_digits(), now_ms() - 1_000)
        .await;
    let command = agent_reply(&m, "只发一次");
    ctx.enqueue(&command).await;
    ctx.send_replies().await;
    // The same command again, after SQS's 5-minute deduplication window (a different
    // deduplication id), and once more through the normal path.
    ctx.sqs
        .send_message()
        .queue_url(&ctx.run.stack.outbound_queue_url)
        .message_body(serde_json::to_string(&command).unwrap())
        .message_group_id(command.message_group_id())
        .message_deduplication_id(unique("late-copy"))
        .send()
        .await
        .unwrap();
    let stats = ctx.send_replies().await;
    assert_eq!((stats.delivered, stats.failed), (1, 0), "{stats:?}");

    let got = ctx.stub_requests().await;
    let replies = got["weibo"]["replies"].as_array().unwrap();
    assert_eq!(replies.len(), 1, "sent once: {got}");
    assert_eq!(ctx.delivery(&command).await["state"], "delivered");
    let history: Vec<Value> = gatewayctl::local::scan_items(&ctx.ddb, &ctx.run.stack.table_name)
        .await
        .unwrap()
        .into_iter()
        .filter(|i| i["PK"] == format!("CONV#{}", m.conversation_key) && i["direction"] == "out")
        .collect();
    assert_eq!(history.len(), 1, "one outbound message in the history");
    assert_eq!(history[0]["reply"]["content"]["text"], "只发一次");
}

/// The running stack's `DELIVERY_CLAIM_TIMEOUT_SECS` (30 unless the stack was started with
/// another value; `tools/stack.sh` passes it on to the functions).
fn claim_timeout() -> Duration {
    Duration::from_secs(
        std::env::var("DELIVERY_CLAIM_TIMEOUT_SECS")
            .ok()
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or(30),
    )
}

#[tokio::test]
#[ignore = "needs the running functions and platform stand-ins (make test)"]
async fn a_reply_left_calling_waits_out_its_claim_instead_of_being_redriven() {
    let _guard = RUNNING_STACK_LOCK.lock().await;
    let ctx = setup().await;
    let m = ctx
        .conversation(Channel::Weibo, "brand", &unique_digits(), now_ms() - 1_000)
        .await;
    let command = agent_reply(&m, "已认领");
    // An earlier attempt claimed the reply and then lost its `sent` write (an AWS call that
    // timed out): the record stays `calling` until the claim runs out.
    let ledger = gateway_aws::DynamoDbDeliveryLedger::new(ctx.store.clone(), 86_400);
    let claimed = gateway_core::delivery::ports::DeliveryLedger::claim(&ledger, &command, now_ms())
        .await
        .unwrap();
    assert!(matches!(
        claimed,
        gateway_core::delivery::ports::ClaimOutcome::Claimed
    ));
    ctx.enqueue(&command).await;

    // The event source mapping, honouring the visibility delays the sender sets, until the
    // reply is settled. With the local backoff (1-2 s) and the queue's redrive after 10
    // receives, retrying by backoff alone moves the command to the dead-letter queue long
    // before a 30 s claim runs out.
    let deadline = std::time::Instant::now() + claim_timeout() + Duration::from_secs(20);
    let mut receives = 0;
    let state = loop {
        receives += ctx.send_replies().await.delivered;
        let record = ctx.delivery(&command).await;
        if record["state"] != "calling" || std::time::Instant::now() > deadline {
            break record;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    };
    let dead = drain(&ctx.sqs, &ctx.run.stack.outbound_dead_letter_queue_url).await;
    assert!(
        dead.is_empty(),
        "redriven before its claim ran out: {dead:?}"
    );
    assert_eq!(state["state"], "undeliverable", "{state}");
    assert_eq!(state["reason"], "delivery_uncertain", "{state}");
    assert!(
        receives <= 3,
        "one receive waits out the claim, one settles it; got {receives}"
    );
    let got = ctx.stub_requests().await;
    assert!(
        got["weibo"]["replies"].as_array().unwrap().is_empty(),
        "never sent by the sender: {got}"
    );
}

#[tokio::test]
#[ignore = "needs the running functions and platform stand-ins (make test)"]
async fn a_permanent_platform_error_is_dead_lettered_with_its_code() {
    let _guard = RUNNING_STACK_LOCK.lock().await;
    let ctx = setup().await;
    let m = ctx
        .conversation(
            Channel::WeChat,
            "demo",
            &format!("o{}", unique_digits()),
            now_ms() - 1_000,
        )
        .await;
    let command = agent_reply(&m, "blocked");
    ctx.enqueue(&command).await;
    ctx.stub.fail("wechat_send", 48001, 1).await.unwrap();

    let stats = ctx.send_replies().await;
    assert_eq!(stats.failed, 0, "{stats:?}");

    let dead = drain(&ctx.sqs, &ctx.run.stack.outbound_dead_letter_queue_url).await;
    assert_eq!(dead.len(), 1);
    let attributes = dead[0].message_attributes().unwrap();
    assert_eq!(
        attributes["error_code"].string_value(),
        Some("wechat:48001")
    );
    let body: ReplyCommand = serde_json::from_str(dead[0].body().unwrap()).unwrap();
    assert_eq!(body, command);
    let record = ctx.delivery(&command).await;
    assert_eq!(record["state"], "failed");
    assert_eq!(record["error_code"], "wechat:48001");
}

/// Counts token fetches and hands out `fetched-N`, slowly, like a real token API.
#[derive(Default)]
struct CountingFetcher(std::sync::atomic::AtomicU32);

#[async_trait::async_trait]
impl gateway_core::delivery::ports::TokenFetcher for CountingFetcher {
    async fn fetch(
        &self,
        _app_id: &str,
        _app_secret: &gateway_core::account::Secret,
        _force_refresh: bool,
    ) -> Result<
        gateway_core::delivery::wechat::TokenGrant,
        gateway_core::delivery::platform::CallError,
    > {
        let n = self.0.fetch_add(1, std::sync::atomic::Ordering::SeqCst) + 1;
        tokio::time::sleep(Duration::from_millis(300)).await;
        Ok(gateway_core::delivery::wechat::TokenGrant {
            access_token: format!("fetched-{n}"),
            expires_in: 7200,
        })
    }
}

#[tokio::test]
#[ignore = "needs the AWS emulator (make test)"]
async fn instances_share_one_token_refresh_under_the_lease() {
    use gateway_aws::{DynamoDbAccessTokens, TokenTiming};
    use gateway_core::delivery::ports::AccessTokens;
    use std::sync::Arc;

    let sdk = sdk().await;
    let stack = gateway_tests::fresh_stack(&sdk).await;
    let ddb = aws_sdk_dynamodb::Client::new(&sdk);
    let fetcher = Arc::new(CountingFetcher::default());
    let clock: Arc<dyn Fn() -> i64 + Send + Sync> = Arc::new(now_ms);
    let instance = |owner: &str| {
        DynamoDbAccessTokens::new(
            ddb.clone(),
            &stack.table_name,
            fetcher.clone(),
            TokenTiming::default(),
            owner,
            clock.clone(),
        )
    };
    let (a, b, c) = (instance("a"), instance("b"), instance("c"));
    let account = AccountsDocument::from_json(&local_accounts_json())
        .unwrap()
        .wechat["demo"]
        .clone();

    // Three cold instances ask at once: one fetches, the others wait for its token.
    let (ta, tb, tc) = tokio::join!(
        a.token("demo", &account, now_ms()),
        b.token("demo", &account, now_ms()),
        c.token("demo", &account, now_ms()),
    );
    let tokens = [ta.unwrap(), tb.unwrap(), tc.unwrap()];
    assert!(tokens.iter().all(|t| t.expose() == "fetched-1"));
    assert_eq!(fetcher.0.load(std::sync::atomic::Ordering::SeqCst), 1);

    // Warm instances make no call at all.
    for _ in 0..10 {
        a.token("demo", &account, now_ms()).await.unwrap();
    }
    assert_eq!(fetcher.0.load(std::sync::atomic::Ordering::SeqCst), 1);

    // A refused token is expired once (compare-and-expire): a second instance invalidating
    // the same old token after the refresh does not throw the new one away.
    a.invalidate("demo", &tokens[0]).await.unwrap();
    let fresh = a.token("demo", &account, now_ms()).await.unwrap();
    assert_eq!(fresh.expose(), "fetched-2");
    b.invalidate("demo", &tokens[1]).await.unwrap();
    let shared = b.token("demo", &account, now_ms()).await.unwrap();
    assert_eq!(shared.expose(), "fetched-2");
    assert_eq!(fetcher.0.load(std::sync::atomic::Ordering::SeqCst), 2);
}

#[tokio::test]
#[ignore = "needs the running functions and platform stand-ins (make test)"]
async fn a_passive_mode_account_is_answered_in_the_webhook_response_encrypted() {
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
    gatewayctl::local::pump(
        &ctx.sqs,
        &ctx.http,
        &ctx.run.stack.queue_url,
        &ctx.run.invoke_url("message-router"),
    )
    .await
    .unwrap();

    // Act: a secure-mode push asking for help, to the passive account.
    let accounts = AccountsDocument::from_json(&accounts_with_api_client()).unwrap();
    let openid = format!("o{}", unique_digits());
    let now = send::now_secs();
    let xml = send::wechat_text_xml(&openid, "help", &unique_digits(), now);
    let request =
        send::wechat_push(&accounts, "passive-demo", &xml, Envelope::Secure, now).unwrap();
    let url = ctx
        .run
        .webhook_url("wechat-webhook", "/wechat/passive-demo");
    // The webhook refreshes the accounts in the background (stale-while-revalidate): until the
    // new account shows up it answers as for any unknown account (401, like a bad signature),
    // and the platform retries.
    let mut answer = send::send(&ctx.http, &url, &request).await.unwrap();
    for _ in 0..20 {
        if answer.0 != 401 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
        answer = send::send(&ctx.http, &url, &request).await.unwrap();
    }
    let (status, body) = answer;

    // Assert: the answer is the encrypted reply XML of the stateless rule…
    assert_eq!(status, 200, "{body}");
    let envelope = gateway_core::channel::xml::parse_fields(body.as_bytes()).unwrap();
    let encrypt = envelope.get("Encrypt").expect("an encrypted reply");
    let key = gateway_core::channel::wechat::crypto::AesKey::from_encoding_aes_key(
        "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
    )
    .unwrap();
    let inner =
        gateway_core::channel::wechat::crypto::decrypt_for(&key, "wxba5fad812f8e6fb9", encrypt)
            .unwrap();
    let inner = gateway_core::channel::xml::parse_fields(&inner).unwrap();
    assert_eq!(inner.get("ToUserName"), Some(openid.as_str()));
    assert_eq!(
        inner.get("Content"),
        Some("您好，这里是客服。Hello, how can we help?")
    );

    // …the message still reached the router, and its auto-reply command is not sent again
    // through an API the account does not have.
    gatewayctl::local::pump(
        &ctx.sqs,
        &ctx.http,
        &ctx.run.stack.queue_url,
        &ctx.run.invoke_url("message-router"),
    )
    .await
    .unwrap();
    let conversation = ctx.load(&format!("wechat:passive-demo:{openid}")).await;
    assert_eq!(conversation.inbound_count, 1);
    let stats = ctx.send_replies().await;
    assert_eq!(stats.failed, 0, "{stats:?}");
    let got = ctx.stub_requests().await;
    assert!(
        got["wechat"]["messages"].as_array().unwrap().is_empty(),
        "{got}"
    );
    assert!(ctx.load(&conversation.key).await.undeliverable.is_none());
}

#[tokio::test]
#[ignore = "needs the running functions and platform stand-ins (make test)"]
async fn the_platforms_own_quota_refusal_marks_the_reply_it_refused() {
    let _guard = RUNNING_STACK_LOCK.lock().await;
    let ctx = setup().await;
    // The platform allows one message per user (stricter than the configured policy).
    ctx.stub.configure(None, Some(1)).await.unwrap();
    let m = ctx
        .conversation(
            Channel::WeChat,
            "demo",
            &format!("o{}", unique_digits()),
            now_ms() - 1_000,
        )
        .await;
    let first = agent_reply(&m, "one");
    let second = agent_reply(&m, "two");
    ctx.enqueue(&first).await;
    ctx.enqueue(&second).await;

    let stats = ctx.send_replies().await;

    assert_eq!(stats.failed, 0, "{stats:?}");
    assert_eq!(ctx.delivery(&first).await["state"], "delivered");
    let record = ctx.delivery(&second).await;
    assert_eq!(record["state"], "undeliverable");
    assert_eq!(record["error_code"], "wechat:45047");
    let c = ctx.load(&m.conversation_key).await;
    assert_eq!(c.reply_windows.message.map(|w| w.sent), Some(1));
    assert_eq!(
        c.undeliverable.map(|u| (u.reply_id, u.reason.as_str())),
        Some((second.dedupe_id(), "quota_exhausted"))
    );
}

#[tokio::test]
#[ignore = "needs the running functions and platform stand-ins (make test)"]
async fn a_reply_the_platform_keeps_refusing_as_busy_is_dead_lettered_with_the_reason_after_the_attempt_limit()
 {
    let _guard = RUNNING_STACK_LOCK.lock().await;
    let ctx = setup().await;
    let limit = reply_max_attempts();
    let openid = format!("o{}", unique_digits());
    let m = ctx
        .conversation(Channel::WeChat, "demo", &openid, now_ms() - 1_000)
        .await;
    let command = agent_reply(&m, "busy platform");
    ctx.enqueue(&command).await;
    // WeChat answers "system busy" (-1) to every call the sender may make (the cause is "fixed"
    // when these run out, for the runbook at the end).
    ctx.stub.fail("wechat_send", -1, limit).await.unwrap();

    // Act: the event source delivers the command again after each reported failure.
    let rounds = ctx.sender_rounds(limit as usize + 1).await;

    // Assert: delivered `limit` times; every attempt but the last handed back, the last one
    // acknowledged (dead-lettered by the sender, not by the queue's redrive).
    let counts: Vec<u32> = rounds
        .iter()
        .flat_map(|r| r.receive_counts.clone())
        .collect();
    assert_eq!(counts, (1..=limit).collect::<Vec<_>>(), "{rounds:?}");
    for (i, round) in rounds.iter().enumerate() {
        let last = i + 1 == limit as usize;
        assert_eq!(
            round.failed.len(),
            usize::from(!last),
            "round {}: {rounds:?}",
            i + 1
        );
    }
    // The platform saw exactly `limit` attempts, each refused; nothing was sent.
    let got = ctx.stub_requests().await;
    let sends = sends_to(&got, &openid);
    assert_eq!(sends.len(), limit as usize, "{got}");
    assert!(
        sends
            .iter()
            .all(|r| r["accepted"] == false && r["errcode"] == -1),
        "{got}"
    );
    // The command is in the outbound DLQ, unchanged, with the code and the platform's error.
    let reason = format!("not delivered after {limit} attempts: wechat error -1: system error");
    let dead = drain(&ctx.sqs, &ctx.run.stack.outbound_dead_letter_queue_url).await;
    assert_eq!(dead.len(), 1, "{dead:?}");
    let attributes = dead[0].message_attributes().unwrap();
    assert_eq!(
        attributes["error_code"].string_value(),
        Some("gateway:retries_exhausted")
    );
    assert_eq!(attributes["reason"].string_value(), Some(reason.as_str()));
    assert_eq!(
        attributes["reply_id"].string_value(),
        Some(command.dedupe_id().as_str())
    );
    let body: ReplyCommand = serde_json::from_str(dead[0].body().unwrap()).unwrap();
    assert_eq!(body, command);
    // The reply is marked failed, with the code and the reason, on its delivery record; the
    // customer still waits for an answer.
    let record = ctx.delivery(&command).await;
    assert_eq!(record["state"], "failed");
    assert_eq!(record["error_code"], "gateway:retries_exhausted");
    assert_eq!(record["reason"], reason.as_str());
    let c = ctx.load(&m.conversation_key).await;
    assert!(c.is_unanswered());
    assert!(c.first_response_at.is_none());

    // A late copy of the command (e.g. redriven by hand before the cause is fixed) is
    // acknowledged as already handled: nothing more reaches the platform.
    ctx.sqs
        .send_message()
        .queue_url(&ctx.run.stack.outbound_queue_url)
        .message_body(serde_json::to_string(&command).unwrap())
        .message_group_id(command.message_group_id())
        .message_deduplication_id(unique("late-copy"))
        .send()
        .await
        .unwrap();
    let again = ctx.sender_rounds(1).await;
    assert!(again.iter().all(|r| r.failed.is_empty()), "{again:?}");
    let got = ctx.stub_requests().await;
    assert_eq!(sends_to(&got, &openid).len(), limit as usize, "{got}");
    assert!(
        drain(&ctx.sqs, &ctx.run.stack.outbound_dead_letter_queue_url)
            .await
            .is_empty()
    );

    // The runbook (docs/deploy.md, "Dead-lettered replies"), once the cause is fixed: delete
    // the reply's `failed` record, redrive the command; it is sent, once.
    ctx.ddb
        .delete_item()
        .table_name(&ctx.run.stack.table_name)
        .key(
            "PK",
            aws_sdk_dynamodb::types::AttributeValue::S(format!("REPLY#{}", command.dedupe_id())),
        )
        .key(
            "SK",
            aws_sdk_dynamodb::types::AttributeValue::S("DELIVERY".into()),
        )
        .send()
        .await
        .unwrap();
    ctx.sqs
        .send_message()
        .queue_url(&ctx.run.stack.outbound_queue_url)
        .message_body(serde_json::to_string(&command).unwrap())
        .message_group_id(command.message_group_id())
        .message_deduplication_id(unique("redriven"))
        .send()
        .await
        .unwrap();
    let redriven = ctx.sender_rounds(1).await;
    assert!(redriven.iter().all(|r| r.failed.is_empty()), "{redriven:?}");
    let got = ctx.stub_requests().await;
    let sends = sends_to(&got, &openid);
    assert_eq!(sends.len(), limit as usize + 1, "{got}");
    assert_eq!(
        sends.iter().filter(|r| r["accepted"] == true).count(),
        1,
        "{got}"
    );
    assert_eq!(ctx.delivery(&command).await["state"], "delivered");
}

#[tokio::test]
#[ignore = "needs the running functions and platform stand-ins (make test)"]
async fn a_reply_refused_as_busy_fewer_times_than_the_limit_is_delivered_once() {
    let _guard = RUNNING_STACK_LOCK.lock().await;
    let ctx = setup().await;
    let limit = reply_max_attempts();
    let openid = format!("o{}", unique_digits());
    let m = ctx
        .conversation(Channel::WeChat, "demo", &openid, now_ms() - 60_000)
        .await;
    let command = agent_reply(&m, "after a busy spell");
    ctx.enqueue(&command).await;
    ctx.stub.fail("wechat_send", -1, limit - 1).await.unwrap();

    let rounds = ctx.sender_rounds(limit as usize + 1).await;

    // Handed back `limit - 1` times, delivered on the last allowed attempt.
    let counts: Vec<u32> = rounds
        .iter()
        .flat_map(|r| r.receive_counts.clone())
        .collect();
    assert_eq!(counts, (1..=limit).collect::<Vec<_>>(), "{rounds:?}");
    assert!(rounds.last().unwrap().failed.is_empty(), "{rounds:?}");
    // One accepted send at the platform, after the refusals.
    let got = ctx.stub_requests().await;
    let sends = sends_to(&got, &openid);
    assert_eq!(sends.len(), limit as usize, "{got}");
    let accepted: Vec<&&Value> = sends.iter().filter(|r| r["accepted"] == true).collect();
    assert_eq!(accepted.len(), 1, "{got}");
    assert_eq!(accepted[0]["body"]["text"]["content"], "after a busy spell");
    assert_eq!(sends.last().unwrap()["accepted"], true, "{got}");
    // Recorded as delivered and as the conversation's answer; nothing dead-lettered.
    assert_eq!(ctx.delivery(&command).await["state"], "delivered");
    let c = ctx.load(&m.conversation_key).await;
    assert!(!c.is_unanswered());
    assert!(c.first_response_at.is_some());
    assert_eq!(c.reply_windows.message.map(|w| w.sent), Some(1));
    let history: Vec<Value> = gatewayctl::local::scan_items(&ctx.ddb, &ctx.run.stack.table_name)
        .await
        .unwrap()
        .into_iter()
        .filter(|i| i["PK"] == format!("CONV#{}", m.conversation_key) && i["direction"] == "out")
        .collect();
    assert_eq!(history.len(), 1, "one outbound message in the history");
    assert!(
        drain(&ctx.sqs, &ctx.run.stack.outbound_dead_letter_queue_url)
            .await
            .is_empty()
    );
}
