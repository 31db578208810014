//! Table-driven tests of the rules engine. Every case has a description used in assertion
//! messages.
#![allow(clippy::unwrap_used)]

mod actions;
mod calendars;
mod conditions;
mod explain;
mod once_per;
mod props;
mod public;
mod public_replies;
mod service_levels;
mod shipped;
mod templates;
mod validation;

use super::*;
use crate::conversation::Conversation;
use crate::message::{Channel, Content, NormalizedMessage, RawFormat, RawPayload, SCHEMA_VERSION};
use chrono::{DateTime, TimeZone, Utc};
use std::collections::BTreeMap;

/// Parses a document that must be valid.
pub(super) fn rules(yaml: &str) -> RuleSet {
    RuleSet::from_yaml(yaml).unwrap_or_else(|e| panic!("document should be valid:\n{e}"))
}

/// A message on `channel`/`account` from `sender` with `content`.
pub(super) fn message(
    channel: Channel,
    account: &str,
    sender: &str,
    content: Content,
) -> NormalizedMessage {
    NormalizedMessage {
        schema_version: SCHEMA_VERSION,
        channel,
        account_id: account.into(),
        sender_id: sender.into(),
        recipient_id: "gh_test".into(),
        conversation_key: NormalizedMessage::conversation_key_for(channel, account, sender),
        platform_message_id: None,
        dedupe_key: format!("test:{sender}:{content:?}"),
        content,
        platform_time: 0,
        received_at_ms: 0,
        raw: RawPayload {
            format: RawFormat::Json,
            body: String::new(),
        },
    }
}

/// A WeChat text message on account `demo` from `u1`.
pub(super) fn text(t: &str) -> NormalizedMessage {
    message(
        Channel::WeChat,
        "demo",
        "u1",
        Content::Text { text: t.into() },
    )
}

/// An event content.
pub(super) fn event(name: &str, key: Option<&str>) -> Content {
    Content::Event {
        event: name.into(),
        platform_event: name.into(),
        key: key.map(Into::into),
        detail: BTreeMap::new(),
    }
}

/// A WeChat event message on account `demo`.
pub(super) fn event_msg(name: &str, key: Option<&str>) -> NormalizedMessage {
    message(Channel::WeChat, "demo", "u1", event(name, key))
}

/// An instant given as Asia/Shanghai wall-clock time.
pub(super) fn sh(y: i32, mo: u32, d: u32, h: u32, mi: u32) -> DateTime<Utc> {
    chrono_tz::Asia::Shanghai
        .with_ymd_and_hms(y, mo, d, h, mi, 0)
        .single()
        .unwrap()
        .with_timezone(&Utc)
}

/// An instant given as UTC.
pub(super) fn utc(y: i32, mo: u32, d: u32, h: u32, mi: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(y, mo, d, h, mi, 0).single().unwrap()
}

/// A conversation of the message's sender that already has `inbound` messages.
pub(super) fn conversation(m: &NormalizedMessage, inbound: u64) -> Conversation {
    let mut c = Conversation::new_for(m);
    c.inbound_count = inbound;
    c
}

/// Monday 2026-09-28 10:00 in Shanghai: a working morning.
pub(super) fn working_morning() -> DateTime<Utc> {
    sh(2026, 9, 28, 10, 0)
}

#[test]
fn rule_sets_can_be_shared_across_threads() {
    fn shareable<T: Send + Sync + Clone>() {}
    shareable::<RuleSet>();
    shareable::<Decision>();
}
