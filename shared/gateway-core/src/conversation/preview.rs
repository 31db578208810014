//! What a desk's list row shows of a conversation's latest message.

use crate::message::{Content, NormalizedMessage};
use crate::reply::ReplyContent;
use serde::{Deserialize, Serialize};

/// The most characters of a message a preview keeps.
pub const PREVIEW_CHARS: usize = 80;

/// The latest message of a conversation, shortened.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MessagePreview {
    /// `in` (from the customer) or `out` (to the customer).
    pub direction: String,
    /// The message's kind (`text`, `image`, …).
    pub kind: String,
    /// Its text, at most [`PREVIEW_CHARS`] characters (`…` marks a cut); for a message
    /// without text, its kind in brackets (`[image]`).
    pub text: String,
    /// When, Unix ms.
    pub at: i64,
}

fn shorten(text: &str) -> String {
    let mut chars = text.chars();
    let mut out: String = chars.by_ref().take(PREVIEW_CHARS).collect();
    if chars.next().is_some() {
        out.push('…');
    }
    out
}

impl MessagePreview {
    /// The preview of a customer's message.
    pub fn inbound(message: &NormalizedMessage) -> Self {
        let text = match &message.content {
            Content::Link { title, .. } => shorten(title),
            content => content
                .text()
                .map(shorten)
                .unwrap_or_else(|| format!("[{}]", content.kind())),
        };
        MessagePreview {
            direction: "in".into(),
            kind: message.kind().into(),
            text,
            at: message.received_at_ms,
        }
    }

    /// The preview of a reply delivered at `at`.
    pub fn outbound(content: &ReplyContent, at: i64) -> Self {
        let text = match content {
            ReplyContent::Text { text } | ReplyContent::PublicComment { text, .. } => shorten(text),
            ReplyContent::Articles { articles } => articles
                .first()
                .map(|a| shorten(&a.title))
                .unwrap_or_else(|| "[articles]".into()),
            other => format!("[{}]", other.kind()),
        };
        MessagePreview {
            direction: "out".into(),
            kind: content.kind().into(),
            text,
            at,
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::testing::text_message;

    #[test]
    fn a_long_text_is_cut_at_the_limit_in_characters_and_marked() {
        let long = "投诉".repeat(60);
        let p = MessagePreview::inbound(&text_message("demo", "u1", "1", &long, 5));
        assert_eq!(p.text.chars().count(), PREVIEW_CHARS + 1);
        assert!(p.text.ends_with('…'));
        assert_eq!(
            (p.direction.as_str(), p.kind.as_str(), p.at),
            ("in", "text", 5)
        );
        let short = MessagePreview::inbound(&text_message("demo", "u1", "1", "你好", 5));
        assert_eq!(short.text, "你好");
    }

    #[test]
    fn a_reply_without_text_shows_its_kind() {
        let image = ReplyContent::Image {
            media_id: "m".into(),
            upload: None,
        };
        assert_eq!(MessagePreview::outbound(&image, 9).text, "[image]");
        let text = MessagePreview::outbound(&ReplyContent::text("好的"), 9);
        assert_eq!(
            (text.direction.as_str(), text.text.as_str()),
            ("out", "好的")
        );
    }
}
