//! Fixtures and per-message work shared by the criterion benches (`benches/hot_path.rs`) and
//! the callgrind harness (`bench/src/bin/instr.rs`, which includes this file by path), so the
//! wall-clock and the instruction-count figures measure exactly the same code.
//!
//! One typical customer text message per channel and mode, signed (and encrypted) exactly as
//! the platform would send it, against the local accounts document (public test vectors only).
#![allow(dead_code)]

use async_trait::async_trait;
use gateway_core::NormalizedMessage;
use gateway_core::account::AccountsDocument;
use gateway_core::channel::{Limits, WebhookOutcome, wechat, weibo};
use gateway_core::conversation::Conversation;
use gateway_core::message::Channel;
use gateway_core::ports::{AccountDirectory, MessagePublisher, PortError};
use gateway_core::rules::{self, Decision, RuleSet};
use gateway_core::webhook::WebhookService;
use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::{Context, Poll, Waker};

/// The local accounts document (`config/accounts.local.json`).
pub const ACCOUNTS_JSON: &str = include_str!("../../../../config/accounts.local.json");
/// The shipped rules (`config/rules.yaml`).
pub const RULES_YAML: &str = include_str!("../../../../config/rules.yaml");

/// Platform timestamp of every fixture (Unix seconds).
pub const TIMESTAMP: i64 = 1_714_112_445;
/// Arrival time: 321 ms after the platform signed the request.
pub const RECEIVED_AT_MS: i64 = TIMESTAMP * 1000 + 321;
/// Nonce of every fixture.
pub const NONCE: &str = "415670741";

/// A typical customer text: 27 CJK characters, as a WeChat user writes them.
pub const TEXT: &str = "你好，想问一下这款产品的价格和发货时间，今天下单明天能到吗？";

/// The inner XML of a WeChat text message (what plaintext mode posts, and what secure mode
/// encrypts), with a 17-digit `MsgId` like the platform's.
pub fn wechat_inner_xml(from: &str, msg_id: u64, text: &str) -> String {
    wechat_inner_xml_at(from, msg_id, text, TIMESTAMP)
}

/// [`wechat_inner_xml`] with another `CreateTime` (Unix seconds).
pub fn wechat_inner_xml_at(from: &str, msg_id: u64, text: &str, create_time: i64) -> String {
    format!(
        "<xml><ToUserName><![CDATA[gh_97417a04a28d]]></ToUserName>\
         <FromUserName><![CDATA[{from}]]></FromUserName>\
         <CreateTime>{create_time}</CreateTime><MsgType><![CDATA[text]]></MsgType>\
         <Content><![CDATA[{text}]]></Content><MsgId>{msg_id}</MsgId></xml>"
    )
}

/// A signed WeChat push and the account it is for.
pub struct WeChatFixture {
    /// Gateway account name.
    pub account_id: &'static str,
    /// The account's configuration.
    pub account: gateway_core::account::WeChatAccount,
    /// The request as the platform sends it.
    pub request: wechat::simulate::SimulatedRequest,
}

/// A signed Weibo push and the account it is for.
pub struct WeiboFixture {
    /// Gateway account name.
    pub account_id: &'static str,
    /// The account's configuration.
    pub account: gateway_core::account::WeiboAccount,
    /// The request as the platform sends it.
    pub request: weibo::simulate::SimulatedRequest,
}

/// The parsed local accounts document.
pub fn accounts() -> AccountsDocument {
    AccountsDocument::from_json(ACCOUNTS_JSON).expect("config/accounts.local.json is valid")
}

fn wechat_fixture(account_id: &'static str, envelope: wechat::simulate::Envelope) -> WeChatFixture {
    let account = accounts()
        .wechat
        .get(account_id)
        .cloned()
        .expect("account in the local accounts document");
    let inner = wechat_inner_xml("o9AgO5Kd5ggOC-bXrbNODIiE3bGY", 24_602_305_116_483_596, TEXT);
    // A fixed random prefix keeps the ciphertext (and so every run) identical.
    let request =
        wechat::simulate::push_with_random(&account, &inner, TIMESTAMP, NONCE, envelope, &[7; 16])
            .expect("simulated push");
    WeChatFixture {
        account_id,
        account,
        request,
    }
}

/// WeChat plaintext mode (`plain-demo`): signature, XML parse, normalize.
pub fn wechat_plaintext() -> WeChatFixture {
    wechat_fixture("plain-demo", wechat::simulate::Envelope::Plaintext)
}

/// WeChat secure mode (`secure-demo`): signature, outer XML, msg_signature, AES-256-CBC,
/// framing and app id, inner XML, normalize.
pub fn wechat_secure() -> WeChatFixture {
    wechat_fixture("secure-demo", wechat::simulate::Envelope::Secure)
}

/// WeChat compatible mode (`demo`): the plain fields plus `<Encrypt>`; the encrypted copy is
/// the one used.
pub fn wechat_compatible() -> WeChatFixture {
    wechat_fixture("demo", wechat::simulate::Envelope::Compatible)
}

/// A Weibo JSON text push for `brand`.
pub fn weibo_json() -> WeiboFixture {
    let account = accounts()
        .weibo
        .get("brand")
        .cloned()
        .expect("account in the local accounts document");
    let created_at = weibo::simulate::created_at(TIMESTAMP).expect("in range");
    let body = weibo::simulate::text_body(1_902_538_057, 2_489_518_277, &created_at, TEXT);
    let request = weibo::simulate::push(&account, body, RECEIVED_AT_MS, NONCE);
    WeiboFixture {
        account_id: "brand",
        account,
        request,
    }
}

/// What the SQS publisher derives from a message before the network call: the JSON body,
/// the FIFO message group id and the deduplication id (`gateway-aws/src/sqs/inbound.rs`).
pub struct SqsPayload {
    /// `serde_json` body.
    pub body: String,
    /// `MessageGroupId`.
    pub group_id: String,
    /// `MessageDeduplicationId`.
    pub dedupe_id: String,
}

impl SqsPayload {
    /// Serializes `message` as the SQS adapter does.
    pub fn of(message: &NormalizedMessage) -> SqsPayload {
        SqsPayload {
            body: serde_json::to_string(message).expect("a message always serializes"),
            group_id: message.message_group_id(),
            dedupe_id: message.dedupe_id(),
        }
    }

    /// Total bytes, to keep the work observable.
    pub fn len(&self) -> usize {
        self.body.len() + self.group_id.len() + self.dedupe_id.len()
    }
}

fn message(
    outcome: Result<WebhookOutcome, gateway_core::channel::WebhookError>,
) -> Box<NormalizedMessage> {
    match outcome {
        Ok(WebhookOutcome::Message(m)) => m,
        other => panic!("fixture was not accepted: {other:?}"),
    }
}

/// The webhook hot path for a WeChat push: verify, (decrypt), parse, normalize, serialize.
pub fn wechat_hot_path(f: &WeChatFixture) -> SqsPayload {
    let inbound = f.request.as_inbound(f.account_id, RECEIVED_AT_MS);
    SqsPayload::of(&message(wechat::handle(
        &f.account,
        &inbound,
        &Limits::default(),
    )))
}

/// The webhook hot path for a Weibo push: verify, parse JSON, normalize, serialize.
pub fn weibo_hot_path(f: &WeiboFixture) -> SqsPayload {
    SqsPayload::of(&message(weibo::handle(
        &f.account,
        &f.request.inbound(f.account_id),
        &Limits::default(),
    )))
}

/// The normalized message of a fixture (router input).
pub fn normalized(f: &WeChatFixture) -> NormalizedMessage {
    let inbound = f.request.as_inbound(f.account_id, RECEIVED_AT_MS);
    *message(wechat::handle(&f.account, &inbound, &Limits::default()))
}

/// The shipped rules, compiled.
pub fn shipped_rules() -> Arc<RuleSet> {
    Arc::new(RuleSet::from_yaml(RULES_YAML).expect("config/rules.yaml is valid"))
}

/// Router inputs: a first message (new conversation) and a follow-up in an ongoing one.
pub struct RouterFixture {
    /// The rules in force.
    pub rules: Arc<RuleSet>,
    /// The message as the router decodes it from the queue.
    pub message: NormalizedMessage,
    /// The queue body of `message`.
    pub body: String,
    /// The conversation before the follow-up (three earlier messages).
    pub ongoing: Conversation,
}

/// Builds the router fixture from the secure-mode WeChat message.
pub fn router_fixture() -> RouterFixture {
    let message = normalized(&wechat_secure());
    let mut ongoing = Conversation::new_for(&message);
    for i in 0..3 {
        let mut earlier = message.clone();
        earlier.dedupe_key = format!("msg:{i}");
        earlier.received_at_ms -= 60_000 * (3 - i);
        ongoing.record_inbound(&earlier);
    }
    ongoing.version = 3;
    RouterFixture {
        rules: shipped_rules(),
        body: serde_json::to_string(&message).expect("serializes"),
        message,
        ongoing,
    }
}

/// What the router computes per message apart from I/O: decode the queue body, evaluate the
/// rules against the conversation, apply the decision.
pub fn router_compute(
    f: &RouterFixture,
    conversation: Option<&Conversation>,
) -> (Decision, Conversation) {
    let message: NormalizedMessage = serde_json::from_str(&f.body).expect("decodes");
    let at = chrono::DateTime::from_timestamp_millis(message.received_at_ms).unwrap_or_default();
    let decision = rules::evaluate(&f.rules, &message, conversation, at);
    let mut next = conversation
        .cloned()
        .unwrap_or_else(|| Conversation::new_for(&message));
    next.record_inbound(&message);
    decision.apply_to(&mut next, message.received_at_ms);
    (decision, next)
}

/// Does what `SqsMessagePublisher` does before its network call, and keeps only a byte count.
#[derive(Default)]
pub struct SerializingPublisher {
    /// Bytes serialized so far.
    pub bytes: AtomicUsize,
}

#[async_trait]
impl MessagePublisher for SerializingPublisher {
    async fn publish(&self, message: &NormalizedMessage) -> Result<(), PortError> {
        let payload = SqsPayload::of(message);
        self.bytes.fetch_add(payload.len(), Ordering::Relaxed);
        Ok(())
    }
}

/// The accounts document as the Secrets Manager adapter serves it once warm: cached.
pub struct CachedAccounts(pub Arc<AccountsDocument>);

#[async_trait]
impl AccountDirectory for CachedAccounts {
    async fn accounts(&self) -> Result<Arc<AccountsDocument>, PortError> {
        Ok(self.0.clone())
    }
}

/// Polls a future that never waits (every port here is in memory) to completion.
pub fn ready<F: Future>(future: F) -> F::Output {
    let mut future = std::pin::pin!(future);
    match future
        .as_mut()
        .poll(&mut Context::from_waker(Waker::noop()))
    {
        Poll::Ready(v) => v,
        Poll::Pending => panic!("in-memory ports never wait"),
    }
}

pub fn service(channel: Channel) -> WebhookService {
    WebhookService {
        channel,
        accounts: Arc::new(CachedAccounts(Arc::new(accounts()))),
        publisher: Arc::new(SerializingPublisher::default()),
        limits: Limits::default(),
        passive: None,
    }
}
