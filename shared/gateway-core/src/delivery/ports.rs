//! The ports of the reply sender: the delivery ledger (idempotency records), access tokens,
//! the two platform APIs and the outbound dead-letter queue. Adapters live in `gateway-aws`
//! (ledger, tokens, dead letters) and `gateway-platforms` (HTTP clients).

use crate::account::{Secret, WeChatAccount};
use crate::conversation::Conversation;
use crate::delivery::platform::{CallError, PlatformError};
use crate::delivery::wechat::TokenGrant;
use crate::delivery::weibo_comments::CommentCall;
use crate::delivery::window::UndeliverableReply;
use crate::outbound::ReplyCommand;
use crate::ports::{CommitOutcome, PortError};
use crate::reply::ReplyContent;
use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Where one reply stands. A reply without a record has not been attempted (or its attempt
/// certainly did not reach the platform and was released).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DeliveryState {
    /// Claimed for a platform call that has not been confirmed yet.
    Calling,
    /// Not sent yet, on purpose: a template message held until the account's daily template
    /// quota resets (`reason` [`template_quota::HELD_REASON`], `retry_at_ms`). Claimed like a
    /// reply without a record when it is tried again.
    ///
    /// [`template_quota::HELD_REASON`]: crate::delivery::template_quota::HELD_REASON
    Held,
    /// The platform accepted it; the conversation is not updated yet.
    Sent,
    /// Sent and recorded on the conversation: done.
    Delivered,
    /// A template message WeChat accepted (its `msgid` is the record's `platform_id`),
    /// recorded on the conversation; WeChat reports the final result later
    /// (`TEMPLATESENDJOBFINISH`), which makes it `delivered` or `undeliverable`. The reply
    /// sender has nothing left to do.
    Accepted,
    /// Not delivered and marked on the conversation (window, quota, unfollowed, uncertain).
    Undeliverable,
    /// The platform refused it for good; the command was dead-lettered with the code.
    Failed,
}

impl DeliveryState {
    /// snake_case name.
    pub fn as_str(self) -> &'static str {
        match self {
            DeliveryState::Calling => "calling",
            DeliveryState::Held => "held",
            DeliveryState::Sent => "sent",
            DeliveryState::Delivered => "delivered",
            DeliveryState::Accepted => "accepted",
            DeliveryState::Undeliverable => "undeliverable",
            DeliveryState::Failed => "failed",
        }
    }

    /// The state a reply reaches when the platform accepted it and the conversation recorded
    /// it: `accepted` for a template message (its result comes later), else `delivered`.
    pub fn after_send(content: &ReplyContent) -> Self {
        if content.is_template() {
            DeliveryState::Accepted
        } else {
            DeliveryState::Delivered
        }
    }

    /// True when the reply sender has nothing left to do: the final states, and `accepted`.
    pub fn is_settled_for_sender(self) -> bool {
        self.is_final() || self == DeliveryState::Accepted
    }

    /// True for the states nothing happens after.
    pub fn is_final(self) -> bool {
        matches!(
            self,
            DeliveryState::Delivered | DeliveryState::Undeliverable | DeliveryState::Failed
        )
    }
}

/// The delivery record of one reply.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeliveryRecord {
    /// [`ReplyCommand::dedupe_id`].
    pub reply_id: String,
    /// State.
    pub state: DeliveryState,
    /// When the platform call was claimed, Unix ms.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub calling_since_ms: Option<i64>,
    /// When the platform accepted it, Unix ms.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sent_at_ms: Option<i64>,
    /// Why it was not delivered (`window_closed`, …) or why it failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// The platform's error code (`wechat:45015`, `gateway:unknown_account`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_code: Option<String>,
    /// The platform's id of what the reply created, when it answers with one (a public
    /// comment's `idstr`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub platform_id: Option<String>,
    /// A `held` reply: when it is tried again, Unix ms.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry_at_ms: Option<i64>,
    /// Last change, Unix ms.
    pub updated_at_ms: i64,
}

/// Outcome of [`DeliveryLedger::claim`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClaimOutcome {
    /// The caller holds the claim and may call the platform.
    Claimed,
    /// Someone else recorded this reply first.
    Exists(DeliveryRecord),
}

/// Idempotent delivery records, and the conversation writes that go with their final states.
#[async_trait]
pub trait DeliveryLedger: Send + Sync {
    /// The record of a reply.
    async fn get(&self, reply_id: &str) -> Result<Option<DeliveryRecord>, PortError>;

    /// Creates the record in state `calling`, only if the reply has none (or it is `held`).
    async fn claim(&self, command: &ReplyCommand, now_ms: i64) -> Result<ClaimOutcome, PortError>;

    /// Drops a `calling` record whose call certainly did not deliver, so a retry may claim it.
    async fn release(&self, reply_id: &str) -> Result<(), PortError>;

    /// `calling` → `sent`, right after the platform accepted the reply, with the platform's id
    /// of what it created when it gave one.
    async fn mark_sent(
        &self,
        reply_id: &str,
        now_ms: i64,
        platform_id: Option<&str>,
    ) -> Result<(), PortError>;

    /// `calling` → `sent` for a template message WeChat accepted with `msgid`: the record keeps
    /// it as `platform_id`, and in the same write a lookup from the account and `msgid` to the
    /// reply is stored, so that the `TEMPLATESENDJOBFINISH` push finds the record.
    async fn mark_template_sent(
        &self,
        command: &ReplyCommand,
        now_ms: i64,
        msgid: &str,
    ) -> Result<(), PortError>;

    /// (none | `calling` | `held`) → `failed` with the code, after the command was
    /// dead-lettered.
    async fn mark_failed(
        &self,
        command: &ReplyCommand,
        error_code: &str,
        reason: &str,
        now_ms: i64,
    ) -> Result<(), PortError>;

    /// Atomically: `sent` → `delivered` (`accepted` for a template message:
    /// [`DeliveryState::after_send`]), the conversation `previous` → `next` (only if still at
    /// `previous`'s version; skipped when `next` is `None`) and the outbound message item; for
    /// a template message also +1 on its account's quota day of `sent_at_ms`
    /// ([`crate::delivery::template_quota`]).
    /// [`CommitOutcome::Duplicate`] when the record is no longer `sent`.
    async fn commit_delivered(
        &self,
        command: &ReplyCommand,
        previous: Option<&Conversation>,
        next: Option<&Conversation>,
        sent_at_ms: i64,
    ) -> Result<CommitOutcome, PortError>;

    /// Atomically: (none | `calling` | `held`) → `undeliverable` and the conversation `previous` →
    /// `next` (version checked; skipped when `next` is `None`).
    /// [`CommitOutcome::Duplicate`] when the record already moved on.
    async fn commit_undeliverable(
        &self,
        command: &ReplyCommand,
        previous: Option<&Conversation>,
        next: Option<&Conversation>,
        mark: &UndeliverableReply,
    ) -> Result<CommitOutcome, PortError>;

    /// (none | `held`) → `held` with `reason`, `detail` and `retry_at_ms`, and one more hold
    /// counted for the reply: the number of holds so far, this one included. A transient error
    /// when the record is in another state (another attempt claimed it meanwhile).
    async fn hold(
        &self,
        command: &ReplyCommand,
        reason: &str,
        detail: &str,
        retry_at_ms: i64,
        now_ms: i64,
    ) -> Result<u32, PortError>;

    /// How many times the reply was held ([`DeliveryLedger::hold`]); kept when the record
    /// changes, so a later attempt knows how many of its receives were holds.
    async fn holds(&self, reply_id: &str) -> Result<u32, PortError>;
}

/// Why no access token could be had.
#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    /// The token API refused (wrong secret, IP not allow-listed, busy…).
    #[error(transparent)]
    Platform(#[from] PlatformError),
    /// The token API or the token store could not be reached, or another instance holds the
    /// refresh lease and has not finished: try again later.
    #[error("access token unavailable: {0}")]
    Unavailable(#[source] Box<dyn std::error::Error + Send + Sync>),
}

/// WeChat access tokens, cached and shared by every instance.
#[async_trait]
pub trait AccessTokens: Send + Sync {
    /// A valid token for `account_id`.
    async fn token(
        &self,
        account_id: &str,
        account: &WeChatAccount,
        now_ms: i64,
    ) -> Result<Secret, TokenError>;

    /// Forgets `failed` (only if it is still the current token: compare-and-expire), so the
    /// next [`token`](Self::token) fetches a fresh one.
    async fn invalidate(&self, account_id: &str, failed: &Secret) -> Result<(), PortError>;
}

/// The WeChat token endpoint.
#[async_trait]
pub trait TokenFetcher: Send + Sync {
    /// Fetches a token (`stable_token`, or the classic API when so configured).
    async fn fetch(
        &self,
        app_id: &str,
        app_secret: &Secret,
        force_refresh: bool,
    ) -> Result<TokenGrant, CallError>;
}

/// The WeChat customer-service message API.
#[async_trait]
pub trait WeChatApi: Send + Sync {
    /// `POST /cgi-bin/message/custom/send`.
    async fn send_custom(&self, access_token: &Secret, body: &Value) -> Result<(), CallError>;
    /// `POST /cgi-bin/message/custom/typing`.
    async fn typing(&self, access_token: &Secret, body: &Value) -> Result<(), CallError>;
    /// `POST /cgi-bin/message/template/send`: the `msgid` of the accepted message.
    async fn send_template(&self, access_token: &Secret, body: &Value)
    -> Result<String, CallError>;
}

/// The Weibo reply and comment APIs.
#[async_trait]
pub trait WeiboApi: Send + Sync {
    /// `POST /2/messages/reply.json` with `fields` and the access token.
    async fn reply(
        &self,
        access_token: &Secret,
        fields: &[(String, String)],
    ) -> Result<(), CallError>;

    /// `POST /2/comments/reply.json` or `/2/comments/create.json` (`call`) with `fields` and
    /// the access token: the created comment's `idstr`.
    async fn comment(
        &self,
        access_token: &Secret,
        call: CommentCall,
        fields: &[(String, String)],
    ) -> Result<String, CallError>;
}

/// Delays the next delivery of a queued record (exponential backoff of transient failures).
#[async_trait]
pub trait RetryScheduler: Send + Sync {
    /// Makes the record with `receipt_handle` visible again after `delay_secs`.
    async fn retry_after(&self, receipt_handle: &str, delay_secs: u32) -> Result<(), PortError>;
}

/// The backoff for a record received `receive_count` times: `base · 2^(count−1)`, at most
/// `max` seconds.
pub fn backoff_secs(receive_count: u32, base_secs: u32, max_secs: u32) -> u32 {
    let exponent = receive_count.saturating_sub(1).min(16);
    base_secs.saturating_mul(1u32 << exponent).min(max_secs)
}

/// What `reply-api` remembers of an accepted request, keyed by the reply id: who asked, and a
/// digest of what they asked, so that an idempotency key reused for another conversation or
/// content is refused (409) instead of silently answered with the first reply, and a reply's
/// status is shown only to the client that created it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApiRequestRecord {
    /// [`ReplyCommand::dedupe_id`].
    pub reply_id: String,
    /// The API client that created it.
    pub client_id: String,
    /// SHA-256 (hex) of the conversation key and the content, as accepted.
    pub request_digest: String,
    /// The conversation it answers.
    pub conversation_key: String,
    /// When it was first accepted, Unix ms.
    pub created_at_ms: i64,
}

/// The reply API's request records.
#[async_trait]
pub trait ApiRequestLedger: Send + Sync {
    /// Stores `record` unless one with its reply id exists; returns the existing one if so.
    async fn record_once(
        &self,
        record: &ApiRequestRecord,
    ) -> Result<Option<ApiRequestRecord>, PortError>;

    /// The record of a reply id.
    async fn get_request(&self, reply_id: &str) -> Result<Option<ApiRequestRecord>, PortError>;
}
