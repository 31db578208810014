//! Media replies that name an agent's file (`upload`, the key `POST /media` answers) instead of
//! a WeChat `media_id`: what a rule's image, voice or video reply uses, since a media id lives
//! only 3 days and a rule lasts longer (`docs/media.md`).
//!
//! [`resolve`] turns such a reply into one with a media id: the id cached for the account and
//! file while WeChat still keeps it (at least [`REUSE_MARGIN_MS`] longer), otherwise the file
//! read from the media bucket and uploaded to WeChat's temporary media API again with the
//! sender's token (a refused one expired for the next attempt), the new id cached. A file is uploaded once per 3 days
//! per account, however many replies carry it.
//!
//! Also the WeChat temporary media upload API's port and answer ([`WeChatMediaApi`],
//! [`parse_upload_answer`]) and the agents' files' keys ([`upload_key`]), which the desk API's
//! `POST /media` uses too (`desk::upload`).

use crate::account::Secret;
use crate::delivery::outcome::DeliveryError;
use crate::delivery::platform::{CallError, Disposition, PlatformError};
use crate::delivery::ports::{AccessTokens, TokenError};
use crate::delivery::wechat::TOKEN_ERROR_CODES;
use crate::media::MediaKind;
use crate::media::key::{KeyError, segment};
use crate::message::Channel;
use crate::ports::PortError;
use crate::reply::ReplyContent;
use async_trait::async_trait;
use serde::Deserialize;

/// How long WeChat keeps a temporary media: 3 days.
pub const WECHAT_MEDIA_LIFETIME_MS: i64 = 3 * 24 * 3600 * 1000;
/// Prefix of the agents' files in the media bucket.
pub const UPLOADS_PREFIX: &str = "uploads";
/// Path of WeChat's temporary media upload API.
pub const WECHAT_MEDIA_UPLOAD_PATH: &str = "/cgi-bin/media/upload";

/// The key of an agent's file: `uploads/{channel}/{account}/{sha256}`.
pub fn upload_key(channel: Channel, account_id: &str, sha256: &str) -> Result<String, KeyError> {
    Ok(format!(
        "{UPLOADS_PREFIX}/{}/{}/{sha256}",
        channel.as_str(),
        segment("account", account_id)?
    ))
}

/// One file as sent to WeChat.
#[derive(Debug, Clone, Copy)]
pub struct MediaFile<'a> {
    /// The file name (WeChat reads the format from its extension).
    pub filename: &'a str,
    /// Its `Content-Type`.
    pub content_type: &'a str,
    /// The bytes.
    pub body: &'a [u8],
}

/// What WeChat answered for an upload.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct WeChatUploaded {
    /// `type`: the type it was stored as.
    #[serde(rename = "type", default)]
    pub kind: String,
    /// `media_id` (for a thumbnail WeChat names it `thumb_media_id`).
    #[serde(alias = "thumb_media_id")]
    pub media_id: String,
    /// `created_at`, Unix seconds.
    #[serde(default)]
    pub created_at: i64,
}

/// WeChat's temporary media upload API.
#[async_trait]
pub trait WeChatMediaApi: Send + Sync {
    /// `POST /cgi-bin/media/upload?access_token=…&type=…`, the file as the form field `media`.
    async fn upload_media(
        &self,
        access_token: &Secret,
        kind: MediaKind,
        file: MediaFile<'_>,
    ) -> Result<WeChatUploaded, CallError>;
}

/// Parses the upload API's answer: `{"type":"image","media_id":"…","created_at":…}` or
/// `{"errcode":…,"errmsg":"…"}`. `None` when it is neither.
pub fn parse_upload_answer(body: &str) -> Option<Result<WeChatUploaded, PlatformError>> {
    #[derive(Deserialize)]
    struct Envelope {
        #[serde(default)]
        errcode: i64,
        #[serde(default)]
        errmsg: String,
    }
    if let Ok(ok) = serde_json::from_str::<WeChatUploaded>(body)
        && !ok.media_id.is_empty()
    {
        return Some(Ok(ok));
    }
    let env: Envelope = serde_json::from_str(body).ok()?;
    let code = if env.errcode == 0 { -2 } else { env.errcode };
    Some(Err(PlatformError {
        channel: Channel::WeChat,
        code,
        message: env.errmsg.chars().take(200).collect(),
        disposition: if TOKEN_ERROR_CODES.contains(&code) {
            Disposition::RefreshToken
        } else if matches!(code, -1 | 45009 | 45011) {
            Disposition::Transient
        } else {
            Disposition::Permanent
        },
    }))
}

/// A cached media id is reused only while WeChat keeps it at least this much longer.
pub const REUSE_MARGIN_MS: i64 = 3600 * 1000;

/// A file of the media bucket.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredFile {
    /// Its `Content-Type`.
    pub content_type: String,
    /// The bytes.
    pub body: Vec<u8>,
}

/// Reads the agents' files (S3 in production).
#[async_trait]
pub trait UploadFiles: Send + Sync {
    /// The file under `key`, `None` when there is none.
    async fn get(&self, key: &str) -> Result<Option<StoredFile>, PortError>;
}

/// The WeChat media id a file was last uploaded as, for one account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UploadedId {
    /// WeChat's `media_id`.
    pub media_id: String,
    /// When WeChat forgets it, Unix ms.
    pub expires_at_ms: i64,
}

/// The media ids of uploaded files, per account (DynamoDB in production).
#[async_trait]
pub trait UploadedIds: Send + Sync {
    /// The id `key` was last uploaded as for `account_id`.
    async fn get(&self, account_id: &str, key: &str) -> Result<Option<UploadedId>, PortError>;
    /// Remembers `id` for `account_id` and `key` (replacing an older one).
    async fn put(&self, account_id: &str, key: &str, id: &UploadedId) -> Result<(), PortError>;
}

/// What [`resolve`] needs.
#[derive(Clone, Copy)]
pub struct Uploads<'a> {
    /// The agents' files.
    pub files: &'a dyn UploadFiles,
    /// The media ids they were uploaded as.
    pub ids: &'a dyn UploadedIds,
    /// WeChat's temporary media API.
    pub wechat: &'a dyn WeChatMediaApi,
}

/// Why a file could not be made a media id.
#[derive(Debug, thiserror::Error)]
pub enum ResolveError {
    /// The key is not one of this account's files, or the file is gone: never retried.
    #[error("{0}")]
    Missing(String),
    /// No access token.
    #[error(transparent)]
    Token(#[from] TokenError),
    /// WeChat refused the upload.
    #[error("media/upload: {0}")]
    Platform(PlatformError),
    /// WeChat could not be reached or gave no usable answer: retried.
    #[error("media/upload: {0}")]
    Unreachable(String),
    /// The bucket or the table failed.
    #[error(transparent)]
    Port(#[from] PortError),
}

/// What the reply sender does about a [`ResolveError`].
#[derive(Debug)]
pub enum Failure {
    /// Dead-letter the command with this code and reason.
    DeadLetter(String, String),
    /// As any token failure of the sender.
    Token(TokenError),
    /// Retry (or, for an AWS refusal, as the sender treats those).
    Retry(DeliveryError),
}

impl ResolveError {
    /// Dead-lettered when the file is not the account's, is gone, or WeChat refuses it for
    /// good (`gateway:upload_missing`, WeChat's code); otherwise retried. Nothing was claimed.
    pub fn failure(self) -> Failure {
        match self {
            ResolveError::Missing(why) => Failure::DeadLetter("gateway:upload_missing".into(), why),
            ResolveError::Token(e) => Failure::Token(e),
            ResolveError::Platform(e) if e.disposition == Disposition::Permanent => {
                Failure::DeadLetter(e.code_label(), format!("media/upload: {e}"))
            }
            ResolveError::Port(e) => Failure::Retry(e.into()),
            other => Failure::Retry(DeliveryError::Retry(other.to_string())),
        }
    }
}

/// The kind WeChat's upload API takes for a reply's content, and the file it names; `None` for
/// a reply that names no file.
fn named_file(content: &ReplyContent) -> Option<(MediaKind, &str)> {
    match content {
        ReplyContent::Image {
            upload: Some(key), ..
        } => Some((MediaKind::Image, key)),
        ReplyContent::Voice {
            upload: Some(key), ..
        } => Some((MediaKind::Voice, key)),
        ReplyContent::Video {
            upload: Some(key), ..
        } => Some((MediaKind::Video, key)),
        _ => None,
    }
}

/// `content` with the media id in place of its `upload`.
fn with_media_id(content: &ReplyContent, media_id: String) -> ReplyContent {
    let mut out = content.clone();
    match &mut out {
        ReplyContent::Image {
            media_id: m,
            upload,
        }
        | ReplyContent::Voice {
            media_id: m,
            upload,
        }
        | ReplyContent::Video {
            media_id: m,
            upload,
            ..
        } => {
            *m = media_id;
            *upload = None;
        }
        _ => {}
    }
    out
}

/// The file name WeChat reads the format from.
fn file_name(key: &str, content_type: &str) -> String {
    let extension = match content_type {
        "image/jpeg" => "jpg",
        "image/png" => "png",
        "image/gif" => "gif",
        "audio/amr" => "amr",
        "audio/mpeg" => "mp3",
        "video/mp4" => "mp4",
        _ => "bin",
    };
    let digest = key.rsplit('/').next().unwrap_or_default();
    format!("{}.{extension}", digest.get(..16).unwrap_or(digest))
}

/// The reply `content` for `account_id` with a media id in place of the file it names
/// (`Ok(None)`: it names none, send it as it is), with the account's current `token`. See the
/// module's documentation. At most three AWS calls (the cached id, the file, the new id) and
/// one platform call; a refused token is expired in the cache (compare-and-expire) and the
/// reply retried, the next attempt fetching a fresh one.
pub async fn resolve(
    content: &ReplyContent,
    account_id: &str,
    uploads: &Uploads<'_>,
    tokens: &dyn AccessTokens,
    token: &Secret,
    now_ms: i64,
) -> Result<Option<ReplyContent>, ResolveError> {
    let Some((kind, key)) = named_file(content) else {
        return Ok(None);
    };
    // Only this account's files: the key is `uploads/wechat/{account}/{sha256}`.
    let digest = key.rsplit('/').next().unwrap_or_default();
    let own = upload_key(Channel::WeChat, account_id, digest).ok();
    if own.as_deref() != Some(key) {
        return Err(ResolveError::Missing(format!(
            "`{key}` is not a file of the WeChat account `{account_id}`"
        )));
    }
    if let Some(id) = uploads.ids.get(account_id, key).await?
        && id.expires_at_ms - REUSE_MARGIN_MS > now_ms
    {
        return Ok(Some(with_media_id(content, id.media_id)));
    }
    let Some(file) = uploads.files.get(key).await? else {
        return Err(ResolveError::Missing(format!(
            "no file `{key}` in the media bucket (expired with MessageTtlDays, or never uploaded)"
        )));
    };
    let name = file_name(key, &file.content_type);
    let media = MediaFile {
        filename: &name,
        content_type: &file.content_type,
        body: &file.body,
    };
    let uploaded = match uploads.wechat.upload_media(token, kind, media).await {
        Ok(u) => u,
        Err(CallError::Platform(e)) if e.disposition == Disposition::RefreshToken => {
            tokens.invalidate(account_id, token).await?;
            return Err(ResolveError::Platform(e));
        }
        Err(CallError::Platform(e)) => return Err(ResolveError::Platform(e)),
        Err(e) => return Err(ResolveError::Unreachable(e.to_string())),
    };
    let created_ms = if uploaded.created_at > 0 {
        uploaded.created_at.saturating_mul(1000)
    } else {
        now_ms
    };
    let id = UploadedId {
        media_id: uploaded.media_id,
        expires_at_ms: created_ms.saturating_add(WECHAT_MEDIA_LIFETIME_MS),
    };
    uploads.ids.put(account_id, key, &id).await?;
    Ok(Some(with_media_id(content, id.media_id)))
}

#[cfg(test)]
#[path = "uploads_tests.rs"]
mod tests;
