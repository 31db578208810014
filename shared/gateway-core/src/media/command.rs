//! The media fetch command: one object to download for one message.
//!
//! Wire form (serde JSON, versioned like the normalized message: additive changes only, a
//! removed or renamed field bumps [`MEDIA_FETCH_SCHEMA_VERSION`]):
//!
//! ```json
//! {"schema_version":1,"channel":"wechat","account_id":"demo",
//!  "conversation_key":"wechat:demo:oUser","message_id":"<64 hex>","thread_seq":3,
//!  "kind":"voice","media_id":"MEDIA_ID","format":"amr"}
//! ```
//!
//! `media_id` is the platform's id of the object: WeChat `MediaId` (or `ThumbMediaId` for a
//! `thumb`), Weibo `tovfid` (the receiver-side id; the sender-side `vfid` stays in the raw
//! payload, the account cannot use it). `format` is WeChat's voice `Format` when given.

use super::MediaKind;
use super::key::{KeyError, object_key};
use super::outcome::{MediaRecord, MediaState};
use crate::message::{Channel, Content, NormalizedMessage};
use crate::ports::PortError;
use crate::profile::ProfileFetch;
use async_trait::async_trait;
use serde::{Deserialize, Serialize};

/// Version of the fetch command's wire schema.
pub const MEDIA_FETCH_SCHEMA_VERSION: u16 = 1;

/// Download one media object of one message and keep it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MediaFetch {
    /// Always [`MEDIA_FETCH_SCHEMA_VERSION`] when produced by this build.
    pub schema_version: u16,
    /// Channel of the message.
    pub channel: Channel,
    /// The gateway's name for the account (whose credentials download it).
    pub account_id: String,
    /// The conversation the message belongs to.
    pub conversation_key: String,
    /// The message's id in the thread: its dedupe id ([`NormalizedMessage::dedupe_id`]).
    pub message_id: String,
    /// The message's place in the thread (its item's sort key holds it): the outcome is
    /// recorded on that item, only if it still holds `message_id` (a command queued by a
    /// routing attempt that then lost a conflict may name a place another message took).
    pub thread_seq: u64,
    /// What the object is.
    pub kind: MediaKind,
    /// The platform's id of the object (WeChat `MediaId`/`ThumbMediaId`, Weibo `tovfid`).
    pub media_id: String,
    /// The platform's format name (WeChat voice `Format`: `amr`, `speex`), when given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub format: Option<String>,
}

impl MediaFetch {
    /// The record the router writes on the message item when it queues this command.
    pub fn pending_record(&self, now_ms: i64) -> MediaRecord {
        MediaRecord {
            kind: self.kind,
            media_id: self.media_id.clone(),
            recorded_at_ms: now_ms,
            state: MediaState::Pending,
        }
    }

    /// The object key this command stores under: see [`object_key`].
    pub fn object_key(&self) -> Result<String, KeyError> {
        object_key(
            self.channel,
            &self.account_id,
            &self.conversation_key,
            &self.message_id,
            self.kind,
        )
    }

    /// The largest object this command may store.
    pub fn max_bytes(&self) -> u64 {
        self.kind.max_bytes()
    }
}

/// The fetch commands a router-produced message needs, in a stable order (the object, then
/// its thumbnail): WeChat image, voice, video and shortvideo (with its thumbnail), Weibo image
/// and voice (by `tovfid`). None for other kinds, nor for media without a platform id (a
/// WeChat `PicUrl` alone is not fetched). `thread_seq` is the message's place in its thread.
pub fn fetch_commands(message: &NormalizedMessage, thread_seq: u64) -> Vec<MediaFetch> {
    let command = |kind: MediaKind, media_id: &Option<String>, format: &Option<String>| {
        let media_id = media_id
            .as_deref()
            .map(str::trim)
            .filter(|s| !s.is_empty())?;
        Some(MediaFetch {
            schema_version: MEDIA_FETCH_SCHEMA_VERSION,
            channel: message.channel,
            account_id: message.account_id.clone(),
            conversation_key: message.conversation_key.clone(),
            message_id: message.dedupe_id(),
            thread_seq,
            kind,
            media_id: media_id.to_string(),
            format: format
                .as_deref()
                .filter(|f| !f.is_empty())
                .map(str::to_string),
        })
    };
    let none = None;
    let commands = match (&message.channel, &message.content) {
        (_, Content::Image { media_id, .. }) => vec![command(MediaKind::Image, media_id, &none)],
        (
            _,
            Content::Voice {
                media_id, format, ..
            },
        ) => vec![command(MediaKind::Voice, media_id, format)],
        (
            Channel::WeChat,
            Content::Video {
                media_id,
                thumb_media_id,
                ..
            },
        ) => vec![
            command(MediaKind::Video, media_id, &none),
            command(MediaKind::Thumb, thumb_media_id, &none),
        ],
        _ => Vec::new(),
    };
    commands.into_iter().flatten().collect()
}

/// A command on the media queue: what the platform holds about a message, its media and
/// its sender's profile. Serialized as the inner command (a profile command says
/// `"command":"profile"`; a media fetch command has no `command`, as before profiles).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum MediaCommand {
    /// Fetch the sender's profile (`crate::profile`).
    Profile(ProfileFetch),
    /// Download one media object.
    Fetch(MediaFetch),
}

impl MediaCommand {
    /// Reads a media queue body: a profile command when it says `"command":"profile"`
    /// (or any `command`: an unknown one is refused with the reason), else a media fetch.
    pub fn from_body(body: &str) -> Result<MediaCommand, serde_json::Error> {
        #[derive(Deserialize)]
        struct Probe {
            #[serde(default)]
            command: Option<serde_json::Value>,
        }
        let probe: Probe = serde_json::from_str(body)?;
        if probe.command.is_some() {
            serde_json::from_str(body).map(MediaCommand::Profile)
        } else {
            serde_json::from_str(body).map(MediaCommand::Fetch)
        }
    }
}

/// Puts commands on the media queue (router), for the media-fetcher.
#[async_trait]
pub trait MediaQueue: Send + Sync {
    /// Queues the commands of one message in one call (at most 10: a message has one object,
    /// at most a thumbnail, and a profile command). Queuing a command twice must not store
    /// its object twice (the media-fetcher looks for the object under its key first), nor an
    /// older profile over a newer one.
    async fn enqueue(&self, commands: &[MediaCommand]) -> Result<(), PortError>;
}
