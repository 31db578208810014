//! The event of a newly stored inbound message (`CONV#{key}` / `MSG#…`, `direction = in`).

use super::{Envelope, Event, EventType, StreamChange, excerpt, rfc3339};
use crate::message::{Content, NormalizedMessage};
use serde::Serialize;

/// Longest text in a `message.received` event, characters (at most 4 bytes each in UTF-8, so
/// every text field together stays far below [`super::MAX_EVENT_BYTES`]). Longer texts are cut
/// and the event says so (`text_truncated`); the whole message stays in the thread.
pub const TEXT_EXCERPT_CHARS: usize = 2000;

/// The `data` of `message.received`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MessageReceived {
    /// The message's id in the gateway (its dedupe id: the same for every platform
    /// redelivery of the message).
    pub message_id: String,
    /// The platform's own message id, when it has one.
    pub platform_message_id: Option<String>,
    /// The kind: `text`, `image`, `voice`, `video`, `location`, `link`, `event`, `mention`,
    /// `comment` or `other`.
    pub kind: &'static str,
    /// What the customer typed (text, voice recognition, mention, comment), cut at
    /// [`TEXT_EXCERPT_CHARS`]; none for the other kinds.
    pub text: Option<String>,
    /// True when `text` (or a text of `content`) was cut.
    pub text_truncated: bool,
    /// The normalized content (`kind` and its fields, as in the thread), its texts cut like
    /// `text`.
    pub content: Content,
    /// When the gateway received it (RFC 3339).
    pub received_at: String,
    /// The platform's time of the message (RFC 3339, whole seconds).
    pub platform_time: String,
}

/// The `message.received` event of a newly stored inbound message.
pub fn message_received(change: &StreamChange, message: &NormalizedMessage) -> Event {
    let envelope = Envelope {
        change,
        channel: message.channel,
        account: &message.account_id,
        conversation_key: &message.conversation_key,
        customer_id: &message.sender_id,
    };
    let mut truncated = false;
    let text = message.content.text().map(|t| {
        let (t, cut) = excerpt(t, TEXT_EXCERPT_CHARS);
        truncated |= cut;
        t
    });
    let content = trimmed(&message.content, &mut truncated);
    envelope.event(
        EventType::MessageReceived,
        message.received_at_ms,
        MessageReceived {
            message_id: message.dedupe_id(),
            platform_message_id: message.platform_message_id.clone(),
            kind: message.kind(),
            text,
            text_truncated: truncated,
            content,
            received_at: rfc3339(message.received_at_ms),
            platform_time: rfc3339(message.platform_time.saturating_mul(1000)),
        },
    )
}

/// `content` with each free text cut at [`TEXT_EXCERPT_CHARS`] (`cut` set when one was).
fn trimmed(content: &Content, cut: &mut bool) -> Content {
    let mut trim = |text: &str| {
        let (t, c) = excerpt(text, TEXT_EXCERPT_CHARS);
        *cut |= c;
        t
    };
    let mut content = content.clone();
    match &mut content {
        Content::Text { text } | Content::Mention { text, .. } | Content::Comment { text, .. } => {
            *text = trim(text)
        }
        Content::Voice {
            recognition: Some(r),
            ..
        } => *r = trim(r),
        Content::Link {
            title, description, ..
        } => {
            *title = trim(title);
            if let Some(d) = description {
                *d = trim(d);
            }
        }
        Content::Location {
            label: Some(label), ..
        } => *label = trim(label),
        Content::Event { detail, .. } => {
            for value in detail.values_mut() {
                *value = trim(value);
            }
        }
        _ => {}
    }
    content
}
