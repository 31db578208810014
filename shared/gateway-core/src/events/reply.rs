//! The events of one write of a reply's delivery record (`REPLY#{reply_id}` / `DELIVERY`).

use super::{Envelope, Event, EventType, StreamChange, opt_time};
use crate::message::Channel;
use serde::Serialize;

/// What the events read from one image of a delivery record (the adapter's item, see
/// `gateway-aws` `dynamodb/deliveries.rs`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeliveryImage {
    /// The reply id (the command's dedupe id).
    pub reply_id: String,
    /// `calling`, `sent`, `delivered`, `undeliverable` or `failed`.
    pub state: String,
    /// Channel.
    pub channel: Channel,
    /// Account.
    pub account: String,
    /// Conversation key.
    pub conversation_key: String,
    /// The customer (the command's recipient).
    pub customer_id: String,
    /// Who asked for the reply: `rule`, `agent` or `system`.
    pub origin: String,
    /// The agent who wrote it, when the origin names one.
    pub agent_id: Option<String>,
    /// The reply content's type (`text`, `image`, `news`, …).
    pub content_type: Option<String>,
    /// When the reply was decided or submitted, Unix ms.
    pub created_at_ms: Option<i64>,
    /// When the platform accepted it, Unix ms.
    pub sent_at_ms: Option<i64>,
    /// The record's last change, Unix ms.
    pub updated_at_ms: i64,
    /// Why it was not delivered (`window_closed`, `quota_exhausted`, …).
    pub reason: Option<String>,
    /// The platform's error code (`wechat:45015`).
    pub error_code: Option<String>,
    /// What the platform named the reply (a public comment's id), when it did.
    pub platform_id: Option<String>,
}

/// How a reply ended, in `reply.undeliverable`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ReplyOutcome {
    /// Not sent, and marked on the conversation for agents (window closed, quota used up,
    /// unfollowed, uncertain).
    Undeliverable,
    /// The platform refused it for good (dead-lettered with the platform's code).
    Failed,
}

#[derive(Serialize)]
struct Delivered<'a> {
    reply_id: &'a str,
    origin: &'a str,
    agent_id: Option<&'a str>,
    content_type: Option<&'a str>,
    platform_id: Option<&'a str>,
    #[serde(serialize_with = "opt_time")]
    created_at: Option<i64>,
    #[serde(serialize_with = "opt_time")]
    sent_at: Option<i64>,
}

#[derive(Serialize)]
struct Undeliverable<'a> {
    reply_id: &'a str,
    outcome: ReplyOutcome,
    reason: Option<&'a str>,
    error_code: Option<&'a str>,
    origin: &'a str,
    agent_id: Option<&'a str>,
    content_type: Option<&'a str>,
    #[serde(serialize_with = "opt_time")]
    created_at: Option<i64>,
}

/// The events of one write of a delivery record, from its image before (`None`: created) and
/// after (`None`: removed, which reports nothing):
///
/// - `reply.delivered` when the state becomes `delivered` (sent and recorded in the thread);
///   a record only `sent` has no event yet: it becomes `delivered` once recorded;
/// - `reply.undeliverable` when the state becomes `undeliverable` (`outcome: undeliverable`)
///   or `failed` (`outcome: failed`), with the reason and the platform's error code.
///
/// Any other write (`calling`, `sent`, a record rewritten in the same state) has no event.
pub fn delivery_events(
    change: &StreamChange,
    old: Option<&DeliveryImage>,
    new: Option<&DeliveryImage>,
) -> Vec<Event> {
    let Some(new) = new else {
        return Vec::new();
    };
    if old.is_some_and(|o| o.state == new.state) {
        return Vec::new();
    }
    let envelope = Envelope {
        change,
        channel: new.channel,
        account: &new.account,
        conversation_key: &new.conversation_key,
        customer_id: &new.customer_id,
    };
    let outcome = match new.state.as_str() {
        "delivered" => {
            return vec![envelope.event(
                EventType::ReplyDelivered,
                new.updated_at_ms,
                Delivered {
                    reply_id: &new.reply_id,
                    origin: &new.origin,
                    agent_id: new.agent_id.as_deref(),
                    content_type: new.content_type.as_deref(),
                    platform_id: new.platform_id.as_deref(),
                    created_at: new.created_at_ms,
                    sent_at: new.sent_at_ms.or(Some(new.updated_at_ms)),
                },
            )];
        }
        "undeliverable" => ReplyOutcome::Undeliverable,
        "failed" => ReplyOutcome::Failed,
        _ => return Vec::new(),
    };
    vec![envelope.event(
        EventType::ReplyUndeliverable,
        new.updated_at_ms,
        Undeliverable {
            reply_id: &new.reply_id,
            outcome,
            reason: new.reason.as_deref(),
            error_code: new.error_code.as_deref(),
            origin: &new.origin,
            agent_id: new.agent_id.as_deref(),
            content_type: new.content_type.as_deref(),
            created_at: new.created_at_ms,
        },
    )]
}
