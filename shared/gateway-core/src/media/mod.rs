//! Media: the customer's photos, voice notes and videos, downloaded from the platform before
//! its temporary `media_id` expires and kept in an object store (S3). The media queue also
//! carries profile commands ([`MediaCommand::Profile`], `crate::profile`): the media-fetcher
//! fetches what the platform holds about a message, its media and its sender's profile.
//!
//! The router queues [`MediaFetch`] commands; the media-fetcher function runs
//! [`fetch_and_record`] on each (`docs/media.md`).
//!
//! * [`command`]: the fetch command ([`MediaFetch`], versioned JSON) and which normalized
//!   messages need one ([`fetch_commands`]).
//! * [`key`]: the object key scheme `media/{channel}/{account}/{conversation}/{message_id}/{kind}`,
//!   every segment percent-encoded so no id can add a path segment or climb out (`/`, `..`).
//! * [`outcome`]: what a fetch ends in ([`MediaRecord`], [`MediaState`]) and the classification
//!   of the platforms' errors ([`classify_platform_error`]).
//! * [`fetch`]: the ports ([`MediaSource`], [`MediaStore`], [`MediaRecords`]) and the use
//!   cases ([`fetch_one`], [`fetch_and_record`]).
//!
//! Pure: no I/O of its own, time is passed in.

pub mod command;
pub mod fetch;
pub mod key;
pub mod outcome;

#[cfg(test)]
mod tests;

pub use command::{
    MEDIA_FETCH_SCHEMA_VERSION, MediaCommand, MediaFetch, MediaQueue, fetch_commands,
};
pub use fetch::{
    DownloadRequest, Downloaded, FetchOutcome, Handled, MediaRecords, MediaSource, MediaStore,
    PutOutcome, RecordOutcome, SourceError, StoredObject, fetch_and_record, fetch_one,
};
pub use key::{KeyError, conversation_prefix, object_key};
pub use outcome::{ErrorClass, MediaRecord, MediaState, classify_platform_error};

use serde::{Deserialize, Serialize};
use std::fmt;

/// What a media object is. Serialized lowercase; also the last segment of its object key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MediaKind {
    /// A picture (WeChat `image`, Weibo `image`).
    Image,
    /// A voice note, kept in its original format (WeChat AMR/SPEEX, Weibo AMR/MP3).
    Voice,
    /// A video (WeChat `video` and `shortvideo`).
    Video,
    /// The thumbnail of a video (WeChat `ThumbMediaId`).
    Thumb,
}

impl MediaKind {
    /// Every kind, for tables and tests.
    pub const ALL: [MediaKind; 4] = [
        MediaKind::Image,
        MediaKind::Voice,
        MediaKind::Video,
        MediaKind::Thumb,
    ];

    /// The lowercase name.
    pub fn as_str(self) -> &'static str {
        match self {
            MediaKind::Image => "image",
            MediaKind::Voice => "voice",
            MediaKind::Video => "video",
            MediaKind::Thumb => "thumb",
        }
    }

    /// The largest object of this kind the gateway downloads and stores, in bytes: see
    /// [`limits`]. Larger media are recorded as [`MediaState::TooLarge`] with their size.
    pub fn max_bytes(self) -> u64 {
        match self {
            MediaKind::Image => limits::IMAGE_MAX_BYTES,
            MediaKind::Voice => limits::VOICE_MAX_BYTES,
            MediaKind::Video => limits::VIDEO_MAX_BYTES,
            MediaKind::Thumb => limits::THUMB_MAX_BYTES,
        }
    }
}

impl fmt::Display for MediaKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Size caps per kind: the larger of the two platforms' documented limits for temporary
/// media, with "MB" read as MiB (the generous reading).
///
/// Neither platform documents a separate limit for the media a *user* sends; the documented
/// limits are those of the upload APIs, which hold the same kind of temporary media:
///
/// * WeChat, 新增临时素材 (`media/upload`):
///   <https://developers.weixin.qq.com/doc/offiaccount/Asset_Management/New_temporary_materials.html>
///   — image 10 MB (PNG, JPEG, JPG, GIF), voice 2 MB and at most 60 s (AMR, MP3), video
///   10 MB (MP4), thumb 64 KB (JPG). Temporary media are kept by WeChat for 3 days.
/// * Weibo, 上传下载多媒体文件 (`mss/media_upload`):
///   <https://open.weibo.com/wiki/%E4%B8%8A%E4%BC%A0%E4%B8%8B%E8%BD%BD%E5%A4%9A%E5%AA%92%E4%BD%93%E6%96%87%E4%BB%B6>
///   — image 1 MB, voice 1 MB (AMR, MP3), video 2 MB (MP4), thumb 128 KB.
///
/// The caps also bound the media-fetcher's memory: one object is held at a time.
pub mod limits {
    const MIB: u64 = 1024 * 1024;
    /// Images: WeChat's 10 MB.
    pub const IMAGE_MAX_BYTES: u64 = 10 * MIB;
    /// Voice notes: WeChat's 2 MB.
    pub const VOICE_MAX_BYTES: u64 = 2 * MIB;
    /// Videos: WeChat's 10 MB.
    pub const VIDEO_MAX_BYTES: u64 = 10 * MIB;
    /// Thumbnails: Weibo's 128 KB (WeChat documents 64 KB).
    pub const THUMB_MAX_BYTES: u64 = 128 * 1024;
}
