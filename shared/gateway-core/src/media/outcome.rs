//! What a fetch ends in, as recorded on the message (`media` on the message item), and the
//! classification of the platforms' download errors.
//!
//! Record wire form (one per object, in the message item's `media` map under its kind;
//! `state` tags the variant):
//!
//! ```json
//! {"kind":"image","media_id":"MEDIA_ID","recorded_at_ms":1700000000000,"state":"pending"}
//! {"kind":"image","media_id":"MEDIA_ID","recorded_at_ms":1700000000000,
//!  "state":"stored","s3_key":"media/wechat/demo/…/image","content_type":"image/jpeg",
//!  "bytes":339721,"sha256":"<64 hex>"}
//! {"kind":"video","media_id":"…","recorded_at_ms":…,"state":"too_large","bytes":12582912,"limit":10485760}
//! {"kind":"voice","media_id":"…","recorded_at_ms":…,"state":"unavailable","platform_code":40007,"message":"invalid media_id"}
//! ```

use super::MediaKind;
use crate::message::Channel;
use serde::{Deserialize, Serialize};

/// The final state of one media object of a message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum MediaState {
    /// Not fetched yet: what the router writes on the message item when it queues the fetch
    /// command, so the desk can say "fetching" and the fetcher's record has a map to go in.
    Pending,
    /// Downloaded and kept.
    Stored {
        /// Object key (see [`super::key`]).
        s3_key: String,
        /// The platform's `Content-Type`.
        content_type: String,
        /// Size in bytes.
        bytes: u64,
        /// SHA-256 of the bytes, lowercase hex.
        sha256: String,
    },
    /// Larger than the kind's cap ([`MediaKind::max_bytes`]): not downloaded further, not kept.
    TooLarge {
        /// The size the platform announced, or the bytes read when the cap was crossed.
        bytes: u64,
        /// The cap in force.
        limit: u64,
    },
    /// The platform no longer has it or never had it (expired or invalid id): not retried.
    Unavailable {
        /// The platform's error code (WeChat `errcode`, e.g. 40007) or, for a download that
        /// answers no platform code, the HTTP status.
        platform_code: i64,
        /// The platform's error message.
        #[serde(default)]
        message: String,
    },
}

impl MediaState {
    /// `pending`, `stored`, `too_large` or `unavailable`: for logs and metrics.
    pub fn label(&self) -> &'static str {
        match self {
            MediaState::Pending => "pending",
            MediaState::Stored { .. } => "stored",
            MediaState::TooLarge { .. } => "too_large",
            MediaState::Unavailable { .. } => "unavailable",
        }
    }
}

/// The `media` record of one object of a message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MediaRecord {
    /// What the object is.
    pub kind: MediaKind,
    /// The platform's id it was fetched by.
    pub media_id: String,
    /// When the outcome was recorded, Unix milliseconds.
    pub recorded_at_ms: i64,
    /// The outcome.
    #[serde(flatten)]
    pub state: MediaState,
}

/// What to do about a platform error code answered by a media download.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorClass {
    /// The media is gone or never existed: record [`MediaState::Unavailable`], no retry.
    Unavailable,
    /// Worth retrying later (system busy, quota, an access token to refresh).
    Transient,
    /// Retrying will not help and the media is not at fault (configuration, permission):
    /// dead-letter with the reason.
    Permanent,
}

/// WeChat: invalid media id. Also what `media/get` answers once the 3 days WeChat keeps a
/// temporary media are over (it documents no separate "expired" code). Reference, 获取临时素材:
/// <https://developers.weixin.qq.com/doc/offiaccount/Asset_Management/Get_temporary_materials.html>
pub const WECHAT_INVALID_MEDIA_ID: i64 = 40007;

/// Classifies an error code a platform's media download answered.
///
/// WeChat (global return codes,
/// <https://developers.weixin.qq.com/doc/offiaccount/Getting_Started/Global_Return_Code.html>):
/// 40007 invalid media id → unavailable; -1 system busy, 45009 daily API quota reached,
/// 45011 API minute quota, 40001/40014/42001 access token invalid or expired (the adapter
/// refreshes it once first) → transient; anything else (40164 IP not whitelisted, 48001 API
/// not authorized, 50001/50002 user/API restricted, …) → permanent.
///
/// Weibo (error codes, <https://open.weibo.com/wiki/Error_code>): 10001 system error, 10009
/// too many pending tasks, 10022/10023/10024 rate limits, 21327/21332 token expired or
/// invalid → transient; others → permanent. Weibo documents no media download error code
/// (see `docs/media.md`); the adapter reports an HTTP 404 as [`ErrorClass::Unavailable`].
pub fn classify_platform_error(channel: Channel, code: i64) -> ErrorClass {
    match channel {
        Channel::WeChat => match code {
            WECHAT_INVALID_MEDIA_ID => ErrorClass::Unavailable,
            -1 | 45009 | 45011 | 40001 | 40014 | 42001 => ErrorClass::Transient,
            _ => ErrorClass::Permanent,
        },
        Channel::Weibo => match code {
            10001 | 10009 | 10022 | 10023 | 10024 | 21327 | 21332 => ErrorClass::Transient,
            _ => ErrorClass::Permanent,
        },
    }
}
