//! An agent's file sent to WeChat as temporary media, for a reply (`POST /media`).
//!
//! [`upload`] checks the file ([`super::sniff`]: its type from its first bytes, WeChat's limit
//! for that type), keeps a copy in the media bucket under
//! `uploads/{channel}/{account}/{sha256}` (the same bytes twice are one object), then sends it
//! to WeChat's temporary media API with the account's access token (invalidated and fetched
//! again once when WeChat refuses it, as the reply sender does). WeChat answers a `media_id`
//! that a customer-service message can carry for 3 days.
//!
//! Ports: [`UploadStore`] (S3: `gateway_aws::S3Uploads`), [`WeChatMediaApi`] (HTTP:
//! `gateway_platforms::WeChatClient`), and the access tokens of
//! [`crate::delivery::ports::AccessTokens`].

use super::sniff::{Format, sniff, wechat_limit};
use crate::account::WeChatAccount;
use crate::delivery::platform::{CallError, Disposition, PlatformError};
use crate::delivery::ports::{AccessTokens, TokenError};
pub use crate::delivery::uploads::{
    MediaFile, UPLOADS_PREFIX, WECHAT_MEDIA_LIFETIME_MS, WECHAT_MEDIA_UPLOAD_PATH, WeChatMediaApi,
    WeChatUploaded, parse_upload_answer, upload_key,
};
use crate::media::MediaKind;
use crate::media::key::KeyError;
use crate::message::Channel;
use crate::ports::PortError;
use async_trait::async_trait;
use sha2::{Digest, Sha256};

/// Keeps the agents' files (S3 in production).
#[async_trait]
pub trait UploadStore: Send + Sync {
    /// Writes `body` under `key` (the same bytes under the same key: writing again changes
    /// nothing).
    async fn put(
        &self,
        key: &str,
        content_type: &str,
        sha256: &str,
        body: &[u8],
    ) -> Result<(), PortError>;
}

/// What to upload.
#[derive(Debug, Clone, Copy)]
pub struct UploadRequest<'a> {
    /// The gateway's name of the WeChat account.
    pub account_id: &'a str,
    /// Its configuration (the delivery role's: AppID, AppSecret).
    pub account: &'a WeChatAccount,
    /// The WeChat type asked for; `None`: the format's ([`Format::kind`]).
    pub kind: Option<MediaKind>,
    /// The file.
    pub body: &'a [u8],
    /// Now, Unix ms.
    pub now_ms: i64,
}

/// An uploaded file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Uploaded {
    /// WeChat's id, for a reply's `media_id`.
    pub media_id: String,
    /// The type it was sent as.
    pub kind: MediaKind,
    /// When WeChat forgets it: 3 days after it was created.
    pub expires_at_ms: i64,
    /// The copy in the media bucket.
    pub upload_key: String,
    /// Its size.
    pub bytes: u64,
    /// Its SHA-256, lowercase hex.
    pub sha256: String,
    /// The `Content-Type` its first bytes give.
    pub content_type: &'static str,
}

/// Why a file was not uploaded.
#[derive(Debug, thiserror::Error)]
pub enum UploadError {
    /// Not a format WeChat takes (415).
    #[error("not a JPEG, PNG, GIF, AMR, MP3 or MP4 file")]
    UnknownType,
    /// A format WeChat does not take as the type asked for (415).
    #[error("a {} file cannot be sent as {kind}", format.extension())]
    WrongType {
        /// What the file is.
        format: Format,
        /// What was asked.
        kind: MediaKind,
    },
    /// Over WeChat's limit for its type (413).
    #[error("{bytes} bytes: WeChat takes at most {limit} bytes of {kind}")]
    TooLarge {
        /// The file's size.
        bytes: u64,
        /// The limit.
        limit: u64,
        /// Its type.
        kind: MediaKind,
    },
    /// The account's name cannot be a key segment (400).
    #[error(transparent)]
    Key(#[from] KeyError),
    /// The bucket could not be written (503).
    #[error("the media bucket: {0}")]
    Store(#[source] PortError),
    /// No access token (502 when WeChat refused, 503 otherwise).
    #[error(transparent)]
    Token(#[from] TokenError),
    /// WeChat refused the file (502 with its code).
    #[error(transparent)]
    Platform(PlatformError),
    /// WeChat could not be reached or gave no usable answer (502).
    #[error("{0}")]
    Unreachable(String),
}

/// Checks, keeps and sends one file (see the module's documentation).
pub async fn upload(
    request: UploadRequest<'_>,
    store: &dyn UploadStore,
    tokens: &dyn AccessTokens,
    wechat: &dyn WeChatMediaApi,
) -> Result<Uploaded, UploadError> {
    let format = sniff(request.body).ok_or(UploadError::UnknownType)?;
    let kind = request.kind.unwrap_or(format.kind());
    if !format.fits(kind) {
        return Err(UploadError::WrongType { format, kind });
    }
    let bytes = request.body.len() as u64;
    let limit = wechat_limit(kind);
    if bytes > limit {
        return Err(UploadError::TooLarge { bytes, limit, kind });
    }
    let sha256 = hex::encode(Sha256::digest(request.body));
    let key = upload_key(Channel::WeChat, request.account_id, &sha256)?;
    store
        .put(&key, format.content_type(), &sha256, request.body)
        .await
        .map_err(UploadError::Store)?;
    let filename = format!("{}.{}", &sha256[..16], format.extension());
    let file = MediaFile {
        filename: &filename,
        content_type: format.content_type(),
        body: request.body,
    };
    let token = tokens
        .token(request.account_id, request.account, request.now_ms)
        .await?;
    let answer = match wechat.upload_media(&token, kind, file).await {
        Err(CallError::Platform(e)) if e.disposition == Disposition::RefreshToken => {
            tracing::info!(
                error.code = e.code,
                "access token refused by media/upload; refreshing once"
            );
            tokens
                .invalidate(request.account_id, &token)
                .await
                .map_err(|e| TokenError::Unavailable(Box::new(e)))?;
            let fresh = tokens
                .token(request.account_id, request.account, request.now_ms)
                .await?;
            wechat.upload_media(&fresh, kind, file).await
        }
        other => other,
    };
    let uploaded = match answer {
        Ok(u) => u,
        Err(CallError::Platform(e)) => return Err(UploadError::Platform(e)),
        Err(e) => return Err(UploadError::Unreachable(e.to_string())),
    };
    let created_ms = if uploaded.created_at > 0 {
        uploaded.created_at.saturating_mul(1000)
    } else {
        request.now_ms
    };
    Ok(Uploaded {
        media_id: uploaded.media_id,
        kind,
        expires_at_ms: created_ms.saturating_add(WECHAT_MEDIA_LIFETIME_MS),
        upload_key: key,
        bytes,
        sha256,
        content_type: format.content_type(),
    })
}

#[cfg(test)]
#[path = "upload_tests.rs"]
mod tests;
