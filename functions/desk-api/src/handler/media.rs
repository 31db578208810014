//! Media: the links of a thread's stored media objects, `POST /media` (an agent's file sent
//! to WeChat for a reply), and which of those files a reply may name.

use super::{Answer, Call, Desk, Refusal};
use gateway_core::Channel;
use gateway_core::conversation::Conversation;
use gateway_core::delivery::ports::{AccessTokens, TokenError};
use gateway_core::desk::access::parse_account_key;
use gateway_core::desk::media::{DEFAULT_LINK_TTL_SECS, MediaLinks, MediaView, views};
use gateway_core::desk::upload::{
    UploadError, UploadRequest, UploadStore, WeChatMediaApi, upload, upload_key,
};
use gateway_core::media::{MediaKind, MediaRecord};
use gateway_core::ports::AccountDirectory;
use gateway_core::reply::ReplyContent;
use lambda_http::Body;
use serde_json::json;
use std::sync::Arc;
use std::time::Duration;

/// The default of `DESK_MAX_UPLOAD_BYTES`: WeChat's largest (an image or a video, 10 MiB).
pub const DEFAULT_MAX_UPLOAD_BYTES: usize = 10 * 1024 * 1024;

/// What `POST /media` works with.
pub struct Uploads {
    /// The accounts document, delivery role (AppID, AppSecret).
    pub accounts: Arc<dyn AccountDirectory>,
    /// The media bucket's `uploads/`.
    pub store: Arc<dyn UploadStore>,
    /// WeChat access tokens (the broker the reply sender shares).
    pub tokens: Arc<dyn AccessTokens>,
    /// WeChat's media upload API.
    pub wechat: Arc<dyn WeChatMediaApi>,
}

/// The desk's media settings: where links come from and how long they last, and uploads.
#[derive(Clone)]
pub struct MediaSettings {
    /// Presigned links of stored objects; `None` when no bucket is configured (records are
    /// shown without links).
    pub links: Option<Arc<dyn MediaLinks>>,
    /// How long a link works (`MEDIA_URL_TTL_SECS`).
    pub link_ttl: Duration,
    /// Uploads; `None` without a bucket or the delivery secret (`POST /media` answers 503).
    pub uploads: Option<Arc<Uploads>>,
    /// The largest file `POST /media` reads (`DESK_MAX_UPLOAD_BYTES`).
    pub max_upload_bytes: usize,
}

impl Default for MediaSettings {
    fn default() -> Self {
        MediaSettings {
            links: None,
            link_ttl: Duration::from_secs(DEFAULT_LINK_TTL_SECS),
            uploads: None,
            max_upload_bytes: DEFAULT_MAX_UPLOAD_BYTES,
        }
    }
}

impl MediaSettings {
    /// The views of a message's records, with links for the stored ones.
    pub(crate) async fn views(&self, records: &[MediaRecord], now_ms: i64) -> Vec<MediaView> {
        if records.is_empty() {
            return Vec::new();
        }
        views(records, self.links.as_deref(), self.link_ttl, now_ms).await
    }
}

fn kind_param(v: &str) -> Result<MediaKind, Refusal> {
    match v {
        "image" => Ok(MediaKind::Image),
        "voice" => Ok(MediaKind::Voice),
        "video" => Ok(MediaKind::Video),
        "thumb" => Ok(MediaKind::Thumb),
        _ => Err(Refusal::invalid("type", "image, voice, video or thumb")),
    }
}

fn refusal(e: UploadError) -> Refusal {
    let unsupported = |m: String| Refusal::new(415, "unsupported_media_type", m);
    match e {
        UploadError::UnknownType => unsupported(format!(
            "{e} (read from its first bytes, whatever it is called)"
        )),
        UploadError::WrongType { .. } => unsupported(e.to_string()),
        UploadError::TooLarge { limit, .. } => {
            Refusal::new(413, "too_large", e.to_string()).with("limit", json!(limit))
        }
        UploadError::Key(k) => Refusal::invalid("account", k.to_string()),
        UploadError::Store(p) => p.into(),
        UploadError::Token(TokenError::Platform(p)) | UploadError::Platform(p) => Refusal::new(
            502,
            "platform_error",
            format!("WeChat refused the file: {} {}", p.code, p.message),
        )
        .with("platform_code", json!(p.code)),
        UploadError::Token(TokenError::Unavailable(e)) => {
            tracing::error!(error = %e, "no WeChat access token for an upload");
            Refusal::new(503, "unavailable", "no WeChat access token now; try again")
        }
        UploadError::Unreachable(reason) => Refusal::new(
            502,
            "platform_unreachable",
            format!("WeChat gave no usable answer: {reason}"),
        ),
    }
}

/// `POST /media?account=wechat:<account>[&type=image|voice|video|thumb]`, the file as the
/// body: kept in the media bucket and sent to WeChat's temporary media API; answers its
/// `media_id` for a reply (201).
pub(super) async fn post_media(desk: &Desk, call: &Call<'_>) -> Result<Answer, Refusal> {
    let (mut account, mut kind) = (None, None);
    for (k, v) in call.params() {
        match k.as_str() {
            "account" => account = Some(v),
            "type" => kind = Some(kind_param(&v)?),
            other => return Err(Refusal::invalid(other, "unknown parameter (account, type)")),
        }
    }
    let Some(account) = account else {
        return Err(Refusal::invalid("account", "required: wechat:<account>"));
    };
    let Some((channel, name)) = parse_account_key(&account) else {
        return Err(Refusal::invalid("account", "`wechat:<account>`"));
    };
    if !call.caller.covers_account(&account) {
        return Err(Refusal::forbidden(format!(
            "account {account} is not yours"
        )));
    }
    if channel == Channel::Weibo {
        return Err(Refusal::new(
            422,
            "unsupported_channel",
            "Weibo's fan-service reply API carries no media: answer with text",
        ));
    }
    let Some(uploads) = &desk.media.uploads else {
        return Err(Refusal::new(
            503,
            "media_unavailable",
            "uploads are not configured (MEDIA_BUCKET and DELIVERY_SECRET_ID)",
        ));
    };
    let body: &[u8] = match call.request.body() {
        Body::Binary(b) => b,
        Body::Text(t) => t.as_bytes(),
        _ => b"",
    };
    if body.is_empty() {
        return Err(Refusal::invalid("body", "the file's bytes"));
    }
    let accounts = uploads.accounts.accounts().await?;
    let Some(wechat_account) = accounts.wechat.get(&name) else {
        return Err(Refusal::not_found("account"));
    };
    let request = UploadRequest {
        account_id: &name,
        account: wechat_account,
        kind,
        body,
        now_ms: call.now_ms,
    };
    let up = upload(
        request,
        uploads.store.as_ref(),
        uploads.tokens.as_ref(),
        uploads.wechat.as_ref(),
    )
    .await
    .map_err(refusal)?;
    tracing::info!(
        account = %account,
        media.kind = %up.kind,
        media.bytes = up.bytes,
        agent = %call.caller.agent_id,
        "file uploaded to WeChat"
    );
    Ok(Answer::status(
        201,
        json!({
            "media_id": up.media_id,
            "type": up.kind,
            "expires_at_ms": up.expires_at_ms,
            "upload_key": up.upload_key,
            "bytes": up.bytes,
            "sha256": up.sha256,
            "content_type": up.content_type,
        }),
    ))
}

/// The agent's file a media reply names (`upload`), if any.
pub(super) fn upload_of(content: &ReplyContent) -> Option<&str> {
    match content {
        ReplyContent::Image { upload, .. }
        | ReplyContent::Voice { upload, .. }
        | ReplyContent::Video { upload, .. } => upload.as_deref(),
        _ => None,
    }
}

/// A reply to `c` may name only a file kept for `c`'s account
/// (`uploads/{channel}/{account}/{sha256}`): another account's file is refused (400).
pub(super) fn check_upload_account(upload: &str, c: &Conversation) -> Result<(), Refusal> {
    let own = upload_key(c.channel, &c.account_id, "")
        .map_err(|e| Refusal::invalid("content.upload", e.to_string()))?;
    match upload.strip_prefix(own.as_str()) {
        Some(sha) if sha.len() == 64 && sha.bytes().all(|b| b.is_ascii_hexdigit()) => Ok(()),
        _ => Err(Refusal::invalid(
            "content.upload",
            format!(
                "not a file of {}:{} (POST /media's upload_key)",
                c.channel, c.account_id
            ),
        )),
    }
}
