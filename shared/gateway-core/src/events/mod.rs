//! Events out: the documented, versioned events a change of the conversations table becomes
//! (`docs/events.md`), computed from one DynamoDB stream record's images.
//!
//! - [`conversation_events`] compares two images of a conversation: `conversation.opened`,
//!   `conversation.assigned`, `conversation.escalated`, `conversation.sla_breached`,
//!   `conversation.resolved`;
//! - [`message_received`] describes a newly stored inbound message: `message.received`;
//! - [`delivery_events`] compares two images of a reply's delivery record (`REPLY#{id}` /
//!   `DELIVERY`): `reply.delivered`, `reply.undeliverable`.
//!
//! Every event carries the [`StreamChange`] it came from: its `id` is derived from the stream
//! record's event id and the event's type (so a retried record yields the same ids), its
//! `sequence` is the record's sequence number. Pure: no I/O, no clock.

mod conversation;
mod message;
mod reply;
#[cfg(any(test, feature = "test-util"))]
pub mod testing;
#[cfg(test)]
mod tests;

pub use conversation::{ConversationSnapshot, conversation_events};
pub use message::{MessageReceived, TEXT_EXCERPT_CHARS, message_received};
pub use reply::{DeliveryImage, ReplyOutcome, delivery_events};

use crate::message::Channel;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// The version of the event envelope and of every type's `data` this build produces. Changes
/// within a version are additive only (new optional fields, new types).
pub const EVENT_VERSION: u16 = 1;

/// The EventBridge `Source` of every event.
pub const EVENT_SOURCE: &str = "channel-gateway";

/// Largest event (its JSON, the entry's `Detail`) this build produces, bytes: EventBridge
/// refuses a `PutEvents` entry over 256 KB; the rest of the entry (source, detail type, bus)
/// stays well inside the margin.
pub const MAX_EVENT_BYTES: usize = 200 * 1024;

/// The type of an event (the EventBridge `DetailType`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum EventType {
    /// An inbound message was stored.
    #[serde(rename = "message.received")]
    MessageReceived,
    /// An episode opened: a new conversation's first message that expects an answer, or a
    /// resolved conversation reopened.
    #[serde(rename = "conversation.opened")]
    ConversationOpened,
    /// The conversation's team or agent changed to a new one.
    #[serde(rename = "conversation.assigned")]
    ConversationAssigned,
    /// An escalation episode began.
    #[serde(rename = "conversation.escalated")]
    ConversationEscalated,
    /// The customer's wait breached its response due time.
    #[serde(rename = "conversation.sla_breached")]
    ConversationSlaBreached,
    /// The conversation was resolved.
    #[serde(rename = "conversation.resolved")]
    ConversationResolved,
    /// A reply reached the platform and is recorded in the thread.
    #[serde(rename = "reply.delivered")]
    ReplyDelivered,
    /// A reply could not be delivered (and will not be).
    #[serde(rename = "reply.undeliverable")]
    ReplyUndeliverable,
}

impl EventType {
    /// Every type, in the order a change's events are listed.
    pub const ALL: [EventType; 8] = [
        EventType::MessageReceived,
        EventType::ConversationOpened,
        EventType::ConversationAssigned,
        EventType::ConversationEscalated,
        EventType::ConversationSlaBreached,
        EventType::ConversationResolved,
        EventType::ReplyDelivered,
        EventType::ReplyUndeliverable,
    ];

    /// The type's name (`conversation.escalated`).
    pub fn as_str(self) -> &'static str {
        match self {
            EventType::MessageReceived => "message.received",
            EventType::ConversationOpened => "conversation.opened",
            EventType::ConversationAssigned => "conversation.assigned",
            EventType::ConversationEscalated => "conversation.escalated",
            EventType::ConversationSlaBreached => "conversation.sla_breached",
            EventType::ConversationResolved => "conversation.resolved",
            EventType::ReplyDelivered => "reply.delivered",
            EventType::ReplyUndeliverable => "reply.undeliverable",
        }
    }

    /// The type named `name`.
    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|t| t.as_str() == name)
    }
}

impl std::fmt::Display for EventType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The stream record a change came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamChange {
    /// The record's `eventID` (unique per change, the same on every delivery of it).
    pub event_id: String,
    /// The record's `SequenceNumber` (increasing per item, and per partition key within a
    /// shard).
    pub sequence: String,
}

impl StreamChange {
    /// The id of this change's event of type `event_type`: the first 32 hex characters of
    /// SHA-256 over `{event_id}\n{type}`, the same on every delivery of the record.
    pub fn event_id_for(&self, event_type: EventType) -> String {
        let mut hash = Sha256::new();
        hash.update(self.event_id.as_bytes());
        hash.update(b"\n");
        hash.update(event_type.as_str().as_bytes());
        hex::encode(hash.finalize())[..32].to_string()
    }
}

/// One event (version 1): the EventBridge entry's `Detail`, and the body a webhook receives.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Event {
    /// [`EVENT_VERSION`].
    pub version: u16,
    /// Unique per event, stable across retries of the change: receivers deduplicate on it.
    pub id: String,
    /// The type.
    #[serde(rename = "type")]
    pub event_type: EventType,
    /// When the change the event reports happened (RFC 3339, UTC, milliseconds).
    pub occurred_at: String,
    /// Channel.
    pub channel: Channel,
    /// The gateway's account name.
    pub account: String,
    /// The conversation key (`{channel}:{account}:{customer}`, as in `CONV#{key}`).
    pub conversation_key: String,
    /// The customer's platform id (WeChat OpenID, Weibo UID).
    pub customer_id: String,
    /// The stream record's sequence number.
    pub sequence: String,
    /// The type's own fields (`docs/events.md`).
    pub data: serde_json::Value,
}

impl Event {
    /// The event's JSON.
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }
}

/// What every event of one change shares.
pub(crate) struct Envelope<'a> {
    pub change: &'a StreamChange,
    pub channel: Channel,
    pub account: &'a str,
    pub conversation_key: &'a str,
    pub customer_id: &'a str,
}

impl Envelope<'_> {
    pub(crate) fn event(
        &self,
        event_type: EventType,
        occurred_at_ms: i64,
        data: impl Serialize,
    ) -> Event {
        Event {
            version: EVENT_VERSION,
            id: self.change.event_id_for(event_type),
            event_type,
            occurred_at: rfc3339(occurred_at_ms),
            channel: self.channel,
            account: self.account.to_string(),
            conversation_key: self.conversation_key.to_string(),
            customer_id: self.customer_id.to_string(),
            sequence: self.change.sequence.clone(),
            data: serde_json::to_value(data).unwrap_or_default(),
        }
    }
}

/// A time in Unix ms as RFC 3339, UTC, with milliseconds (`2026-12-06T10:00:00.123Z`).
pub fn rfc3339(at_ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(at_ms)
        .unwrap_or_default()
        .to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

/// Serializes an optional Unix ms time as RFC 3339 (for the `data` structs).
pub(crate) fn opt_time<S: serde::Serializer>(at: &Option<i64>, s: S) -> Result<S::Ok, S::Error> {
    match at {
        Some(at) => s.serialize_str(&rfc3339(*at)),
        None => s.serialize_none(),
    }
}

/// The first `max` characters of `text`, and whether it was cut.
pub(crate) fn excerpt(text: &str, max: usize) -> (String, bool) {
    match text.char_indices().nth(max) {
        Some((i, _)) => (text[..i].to_string(), true),
        None => (text.to_string(), false),
    }
}
