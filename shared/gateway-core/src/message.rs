//! The normalized message: the one versioned form both channels produce and the router consumes.
//!
//! Pure data: no I/O, no clock. The wire form (serde JSON) is documented in
//! `docs/message-format.md`; changes must stay additive because the webhooks and the router are
//! deployed separately (a new field gets `#[serde(default)]`, a removed one bumps
//! [`SCHEMA_VERSION`]).

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::fmt;

/// Version of the wire schema written into every message.
pub const SCHEMA_VERSION: u16 = 1;

/// The social channel a message came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Channel {
    /// WeChat Official Account (公众号).
    #[serde(rename = "wechat")]
    WeChat,
    /// Weibo fan-service platform (粉丝服务平台).
    Weibo,
}

impl Channel {
    /// The lowercase name used in keys, paths and logs.
    pub fn as_str(self) -> &'static str {
        match self {
            Channel::WeChat => "wechat",
            Channel::Weibo => "weibo",
        }
    }
}

impl fmt::Display for Channel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for Channel {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "wechat" => Ok(Channel::WeChat),
            "weibo" => Ok(Channel::Weibo),
            other => Err(format!(
                "unknown channel `{other}` (expected wechat or weibo)"
            )),
        }
    }
}

/// One inbound customer message or platform event, normalized across channels.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NormalizedMessage {
    /// Always [`SCHEMA_VERSION`] when produced by this build.
    pub schema_version: u16,
    /// Channel the message arrived on.
    pub channel: Channel,
    /// The gateway's name for the account (the `{account}` in the webhook path).
    pub account_id: String,
    /// Platform id of the sender: WeChat OpenID, Weibo UID.
    pub sender_id: String,
    /// Platform id of the receiving account: WeChat original id (`gh_…`), Weibo blue-V UID.
    pub recipient_id: String,
    /// Stable key of the conversation this message belongs to: `{channel}:{account}:{sender}`.
    /// Used as the SQS FIFO message group, so one conversation is processed in order.
    pub conversation_key: String,
    /// The platform's own message id (WeChat `MsgId`), when it has one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub platform_message_id: Option<String>,
    /// Key that is identical for every delivery (platform retry) of the same message and
    /// different for different messages. See [`dedupe_id`](Self::dedupe_id).
    pub dedupe_key: String,
    /// What the message is, with its content fields.
    pub content: Content,
    /// Platform timestamp of the message, Unix seconds.
    pub platform_time: i64,
    /// When the gateway received the request, Unix milliseconds.
    pub received_at_ms: i64,
    /// The payload exactly as the platform sent it (decrypted, in secure mode).
    pub raw: RawPayload,
}

/// The SQS FIFO message group id of a conversation, for both queues (one group per
/// conversation keeps its messages and its replies in order): the conversation key when it
/// fits SQS's limits (at most 128 printable ASCII characters, no space), otherwise its
/// SHA-256 hex digest.
pub fn message_group_id(conversation_key: &str) -> String {
    let ok =
        conversation_key.len() <= 128 && conversation_key.bytes().all(|b| b.is_ascii_graphic());
    if ok {
        conversation_key.to_string()
    } else {
        hex::encode(Sha256::digest(conversation_key.as_bytes()))
    }
}

impl NormalizedMessage {
    /// Builds the conversation key for a channel, account and sender.
    pub fn conversation_key_for(channel: Channel, account_id: &str, sender_id: &str) -> String {
        format!("{}:{}:{}", channel.as_str(), account_id, sender_id)
    }

    /// A fixed-length id derived from channel, account and [`dedupe_key`](Self::dedupe_key):
    /// 64 lowercase hex characters, valid as an SQS `MessageDeduplicationId` (≤128 chars) and as
    /// a DynamoDB key part whatever the platform ids contain.
    pub fn dedupe_id(&self) -> String {
        let mut h = Sha256::new();
        h.update(self.channel.as_str().as_bytes());
        h.update([0x1f]);
        h.update(self.account_id.as_bytes());
        h.update([0x1f]);
        h.update(self.dedupe_key.as_bytes());
        hex::encode(h.finalize())
    }

    /// The SQS FIFO message group id: see [`message_group_id`].
    pub fn message_group_id(&self) -> String {
        message_group_id(&self.conversation_key)
    }

    /// A short label of the content kind, for logs and metrics (`text`, `event`, …).
    pub fn kind(&self) -> &'static str {
        self.content.kind()
    }
}

/// The payload as received.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RawPayload {
    /// `xml` or `json`.
    pub format: RawFormat,
    /// The body text (for WeChat secure mode: the decrypted inner XML).
    pub body: String,
}

/// Serialization format of a raw payload.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RawFormat {
    /// XML (WeChat, Weibo's WeChat-compatible mode).
    Xml,
    /// JSON (Weibo's default).
    Json,
}

/// The kind of a message and its kind-specific fields.
///
/// Serialized with an internal `kind` tag: `{"kind":"text","text":"hi"}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Content {
    /// A text message.
    Text {
        /// The text.
        text: String,
    },
    /// A picture.
    Image {
        /// Platform media id (WeChat `MediaId`, Weibo `tovfid`).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        media_id: Option<String>,
        /// Direct URL, when the platform gives one (WeChat `PicUrl`).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        url: Option<String>,
    },
    /// A voice message.
    Voice {
        /// Platform media id.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        media_id: Option<String>,
        /// Audio format (WeChat `Format`: amr, speex…).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        format: Option<String>,
        /// Speech recognition text, when the platform provides it (WeChat `Recognition`).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        recognition: Option<String>,
    },
    /// A video or short video.
    Video {
        /// Platform media id.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        media_id: Option<String>,
        /// Thumbnail media id.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        thumb_media_id: Option<String>,
        /// True for WeChat `shortvideo`.
        #[serde(default)]
        short: bool,
    },
    /// A shared location.
    Location {
        /// Latitude in degrees.
        latitude: f64,
        /// Longitude in degrees.
        longitude: f64,
        /// Map zoom level, when given.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        scale: Option<f64>,
        /// Place label or caption.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        label: Option<String>,
    },
    /// A shared link.
    Link {
        /// Title.
        title: String,
        /// Description.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        description: Option<String>,
        /// Target URL.
        url: String,
    },
    /// A platform event (follow, menu click, QR scan, …).
    Event {
        /// Normalized event name, one of [`event`] constants, or the platform's own name
        /// lowercased when it has no normalized equivalent.
        event: String,
        /// The platform's event name exactly as sent (`subscribe`, `SCAN`, `scan_follow`).
        platform_event: String,
        /// Event key: menu key, QR scene (without `qrscene_`), view URL, …
        #[serde(default, skip_serializing_if = "Option::is_none")]
        key: Option<String>,
        /// Other event fields (Ticket, Latitude, Status, …) as strings.
        #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
        detail: BTreeMap<String, String>,
    },
    /// A public @mention of the account (Weibo post or comment).
    Mention {
        /// `status` (a post) or `comment`.
        subtype: String,
        /// Id of the status or comment.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        target_id: Option<String>,
        /// The mentioning text.
        text: String,
        /// The post the mention is in or under (polled mentions; a pushed one has none).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        post: Option<PostRef>,
    },
    /// A public comment on one of the account's posts that does not @ it (Weibo
    /// `comments/to_me`, read by `weibo-poller`).
    Comment {
        /// Id of the comment.
        comment_id: String,
        /// The comment's text.
        text: String,
        /// The post it is under.
        post: PostRef,
        /// The comment it answers, when it is a reply within the thread.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        reply_to_comment_id: Option<String>,
    },
    /// A type the gateway does not know (yet). Never dropped: the raw payload is kept.
    Other {
        /// The platform's type name (WeChat `MsgType`, Weibo `type`/`subtype`).
        platform_type: String,
    },
}

impl Content {
    /// The `kind` tag value.
    pub fn kind(&self) -> &'static str {
        match self {
            Content::Text { .. } => "text",
            Content::Image { .. } => "image",
            Content::Voice { .. } => "voice",
            Content::Video { .. } => "video",
            Content::Location { .. } => "location",
            Content::Link { .. } => "link",
            Content::Event { .. } => "event",
            Content::Mention { .. } => "mention",
            Content::Comment { .. } => "comment",
            Content::Other { .. } => "other",
        }
    }

    /// True for what the customer wrote in public (a mention or a comment), which everyone
    /// can read, as opposed to a private message.
    pub fn is_public(&self) -> bool {
        matches!(self, Content::Mention { .. } | Content::Comment { .. })
    }

    /// The post a public item concerns, when known.
    pub fn post(&self) -> Option<&PostRef> {
        match self {
            Content::Mention { post, .. } => post.as_ref(),
            Content::Comment { post, .. } => Some(post),
            _ => None,
        }
    }

    /// The text a customer typed, when there is one (text messages, voice recognition,
    /// mentions). Rules match keywords against it.
    pub fn text(&self) -> Option<&str> {
        match self {
            Content::Text { text }
            | Content::Mention { text, .. }
            | Content::Comment { text, .. } => Some(text),
            Content::Voice {
                recognition: Some(r),
                ..
            } if !r.is_empty() => Some(r),
            _ => None,
        }
    }
}

/// The public post a comment or mention belongs to, so an agent sees the context and a public
/// reply knows where to go.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PostRef {
    /// The post's id (Weibo `idstr`).
    pub id: String,
    /// The start of the post's text (at most [`POST_EXCERPT_CHARS`] characters).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub excerpt: String,
    /// UID of the post's author.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub author_id: Option<String>,
}

/// Longest [`PostRef::excerpt`], in characters.
pub const POST_EXCERPT_CHARS: usize = 80;

impl PostRef {
    /// A reference to post `id` whose text is `text` (cut to the excerpt length).
    pub fn new(id: impl Into<String>, text: &str, author_id: Option<String>) -> Self {
        PostRef {
            id: id.into(),
            excerpt: text.chars().take(POST_EXCERPT_CHARS).collect(),
            author_id,
        }
    }
}

/// Normalized event names shared by both channels.
pub mod event {
    /// The user followed the account (WeChat `subscribe`, Weibo `follow`).
    pub const FOLLOW: &str = "follow";
    /// The user followed by scanning a parametric QR code (WeChat `subscribe` with
    /// `qrscene_…`, Weibo `scan_follow`). The key is the scene.
    pub const FOLLOW_BY_SCAN: &str = "follow_by_scan";
    /// The user unfollowed (WeChat `unsubscribe`, Weibo `unfollow`).
    pub const UNFOLLOW: &str = "unfollow";
    /// A follower scanned a parametric QR code (WeChat `SCAN`, Weibo `scan`).
    pub const SCAN: &str = "scan";
    /// Custom menu click (`CLICK`, `click`). The key is the menu key.
    pub const CLICK: &str = "click";
    /// Custom menu link (`VIEW`, `view`). The key is the URL.
    pub const VIEW: &str = "view";
    /// Periodic location report (WeChat `LOCATION`).
    pub const LOCATION: &str = "location";
    /// Subscribed to messages (Weibo `subscribe`).
    pub const SUBSCRIBE: &str = "subscribe";
    /// Unsubscribed from messages (Weibo `unsubscribe`).
    pub const UNSUBSCRIBE: &str = "unsubscribe";
    /// A template message finished sending (WeChat `TEMPLATESENDJOBFINISH`).
    pub const TEMPLATE_SEND_FINISHED: &str = "template_send_finished";
    /// A mass message finished sending (WeChat `MASSSENDJOBFINISH`).
    pub const MASS_SEND_FINISHED: &str = "mass_send_finished";
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> NormalizedMessage {
        NormalizedMessage {
            schema_version: SCHEMA_VERSION,
            channel: Channel::WeChat,
            account_id: "demo".into(),
            sender_id: "oUser".into(),
            recipient_id: "gh_1".into(),
            conversation_key: NormalizedMessage::conversation_key_for(
                Channel::WeChat,
                "demo",
                "oUser",
            ),
            platform_message_id: Some("1".into()),
            dedupe_key: "msg:1".into(),
            content: Content::Text { text: "hi".into() },
            platform_time: 1,
            received_at_ms: 2,
            raw: RawPayload {
                format: RawFormat::Xml,
                body: "<xml/>".into(),
            },
        }
    }

    #[test]
    fn serializes_with_kind_tag_and_round_trips() {
        let m = sample();
        let json = serde_json::to_value(&m).expect("serialize");
        assert_eq!(json["channel"], "wechat");
        assert_eq!(json["content"]["kind"], "text");
        assert_eq!(json["content"]["text"], "hi");
        let back: NormalizedMessage = serde_json::from_value(json).expect("deserialize");
        assert_eq!(back, m);
    }

    #[test]
    fn dedupe_id_is_stable_hex_and_depends_on_account() {
        let a = sample();
        let mut b = sample();
        assert_eq!(a.dedupe_id(), b.dedupe_id());
        assert_eq!(a.dedupe_id().len(), 64);
        b.account_id = "other".into();
        assert_ne!(a.dedupe_id(), b.dedupe_id());
    }

    #[test]
    fn message_group_id_hashes_keys_sqs_would_reject() {
        let mut m = sample();
        assert_eq!(m.message_group_id(), "wechat:demo:oUser");
        m.conversation_key = "x".repeat(200);
        assert_eq!(m.message_group_id().len(), 64);
        m.conversation_key = "wechat:demo:a b".into();
        assert_eq!(m.message_group_id().len(), 64);
    }

    #[test]
    fn a_comment_is_public_with_its_post_and_round_trips() {
        let c = Content::Comment {
            comment_id: "4100".into(),
            text: "快递三天没动".into(),
            post: PostRef::new("3900", &"新品".repeat(60), Some("1902538057".into())),
            reply_to_comment_id: None,
        };
        assert!(c.is_public());
        assert_eq!(c.text(), Some("快递三天没动"));
        assert_eq!(
            c.post()
                .expect("a comment has its post")
                .excerpt
                .chars()
                .count(),
            POST_EXCERPT_CHARS
        );
        let json = serde_json::to_value(&c).expect("serialize");
        assert_eq!(json["kind"], "comment");
        assert_eq!(
            serde_json::from_value::<Content>(json).expect("deserialize"),
            c
        );
        assert!(!Content::Text { text: "hi".into() }.is_public());
    }

    #[test]
    fn a_mention_written_before_posts_were_kept_still_reads() {
        let old = serde_json::json!({"kind": "mention", "subtype": "status", "target_id": "1", "text": "@brand"});
        let c: Content = serde_json::from_value(old).expect("an old mention reads");
        assert!(c.is_public());
        assert_eq!(c.post(), None);
    }

    #[test]
    fn voice_recognition_counts_as_text() {
        let c = Content::Voice {
            media_id: None,
            format: None,
            recognition: Some("你好".into()),
        };
        assert_eq!(c.text(), Some("你好"));
    }
}
