//! The platform stand-ins' media downloads, with real bytes registered by the tests:
//!
//! * WeChat `GET /cgi-bin/media/get?access_token=…&media_id=…` (获取临时素材): the file with its
//!   `Content-Type` and `Content-disposition`; a video as JSON `{"video_url": …}` pointing at
//!   `GET /stub-media/video/{media_id}`; an unknown or expired id as
//!   `{"errcode":40007,"errmsg":"invalid media_id"}`; token errors (`40001`, `42001`) as the
//!   other WeChat APIs of the stand-in; scripted failures with `api: "wechat_media"`.
//! * Weibo `GET /2/mss/msget?access_token=…&fid=…`: the file, or HTTP 404 for an unknown or
//!   expired id; scripted failures with `api: "weibo_media"` answer Weibo's error envelope.
//! * Admin: `POST /admin/media` registers an object
//!   (`{"channel":"wechat","media_id":"…","content_type":"image/jpeg","body_base64":"…",
//!   "video":false,"expired":false}`), `POST /admin/media/delay` (`{"delay_ms":3000}`) slows
//!   every download; `GET /admin/requests` lists the downloads under `media.downloads`, each
//!   with what it was answered (`file`, `video_url`, or the error code).

use crate::stub::{Shared, lock, wechat_error};
use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use serde::Deserialize;
use serde_json::{Value, json};
use std::collections::HashMap;
use std::time::Duration;

/// One registered object.
#[derive(Debug, Clone)]
struct Object {
    content_type: String,
    body: Vec<u8>,
    video: bool,
    expired: bool,
}

/// The media part of the stand-in's state.
#[derive(Debug, Default)]
pub struct MediaStub {
    /// By `(channel, media_id)`.
    objects: HashMap<(String, String), Object>,
    delay: Duration,
    downloads: Vec<Value>,
}

impl MediaStub {
    /// What `GET /admin/requests` shows of it.
    pub fn requests(&self) -> Value {
        json!({ "downloads": self.downloads })
    }
}

#[derive(Deserialize)]
pub(crate) struct Register {
    channel: String,
    media_id: String,
    #[serde(default = "octet_stream")]
    content_type: String,
    #[serde(default)]
    body_base64: String,
    #[serde(default)]
    video: bool,
    #[serde(default)]
    expired: bool,
}

fn octet_stream() -> String {
    "application/octet-stream".into()
}

pub(crate) async fn admin_register(
    State(state): State<Shared>,
    Json(r): Json<Register>,
) -> Response {
    let body = match base64::engine::general_purpose::STANDARD.decode(r.body_base64.as_bytes()) {
        Ok(b) => b,
        Err(e) => {
            return (StatusCode::BAD_REQUEST, format!("body_base64: {e}")).into_response();
        }
    };
    lock(&state).media.objects.insert(
        (r.channel, r.media_id),
        Object {
            content_type: r.content_type,
            body,
            video: r.video,
            expired: r.expired,
        },
    );
    Json(json!({"ok": true})).into_response()
}

#[derive(Deserialize)]
pub(crate) struct Delay {
    delay_ms: u64,
}

pub(crate) async fn admin_delay(State(state): State<Shared>, Json(d): Json<Delay>) -> Response {
    lock(&state).media.delay = Duration::from_millis(d.delay_ms);
    Json(json!({"ok": true})).into_response()
}

fn file(object: &Object, name: &str) -> Response {
    (
        [
            (header::CONTENT_TYPE, object.content_type.clone()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"{name}\""),
            ),
        ],
        object.body.clone(),
    )
        .into_response()
}

/// Records the download and answers the delay to wait (outside the lock).
fn note(state: &Shared, api: &str, id: &str) -> Duration {
    let mut stub = lock(state);
    stub.media
        .downloads
        .push(json!({"api": api, "media_id": id, "answer": "pending"}));
    stub.media.delay
}

/// Records what the last download of `id` was answered: `file`, `video_url`, or an error code.
fn answered(stub: &mut crate::stub::Stub, id: &str, answer: Value) {
    if let Some(d) = stub
        .media
        .downloads
        .iter_mut()
        .rev()
        .find(|d| d["media_id"] == id)
    {
        d["answer"] = answer;
    }
}

pub(crate) async fn wechat_media_get(
    State(state): State<Shared>,
    headers: axum::http::HeaderMap,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("127.0.0.1")
        .to_string();
    let token = q.get("access_token").cloned().unwrap_or_default();
    let media_id = q.get("media_id").cloned().unwrap_or_default();
    let delay = note(&state, "wechat_media_get", &media_id);
    tokio::time::sleep(delay).await;
    let mut stub = lock(&state);
    let code = stub.check_token(&token);
    if code != 0 {
        answered(&mut stub, &media_id, json!(code));
        return wechat_error(code, None);
    }
    if let Some(f) = stub.take_failure("wechat_media") {
        answered(&mut stub, &media_id, json!(f.code));
        return wechat_error(f.code, f.message);
    }
    let object = stub
        .media
        .objects
        .get(&("wechat".to_string(), media_id.clone()))
        .cloned();
    match object {
        Some(o) if !o.expired && o.video => {
            answered(&mut stub, &media_id, json!("video_url"));
            Json(json!({ "video_url": format!("http://{host}/stub-media/video/{media_id}") }))
                .into_response()
        }
        Some(o) if !o.expired => {
            answered(&mut stub, &media_id, json!("file"));
            file(&o, &media_id)
        }
        _ => {
            answered(&mut stub, &media_id, json!(40007));
            wechat_error(40007, Some("invalid media_id".into()))
        }
    }
}

pub(crate) async fn wechat_video(
    State(state): State<Shared>,
    Path(media_id): Path<String>,
) -> Response {
    let delay = note(&state, "wechat_video_url", &media_id);
    tokio::time::sleep(delay).await;
    let stub = lock(&state);
    match stub
        .media
        .objects
        .get(&("wechat".to_string(), media_id.clone()))
    {
        Some(o) if !o.expired => file(o, &media_id),
        _ => StatusCode::NOT_FOUND.into_response(),
    }
}

pub(crate) async fn weibo_media_get(
    State(state): State<Shared>,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let token = q.get("access_token").cloned().unwrap_or_default();
    let fid = q.get("fid").cloned().unwrap_or_default();
    let delay = note(&state, "weibo_msget", &fid);
    tokio::time::sleep(delay).await;
    let mut stub = lock(&state);
    let weibo_error = |code: i64, message: String| {
        (
            StatusCode::BAD_REQUEST,
            Json(json!({"request": "/2/mss/msget", "error_code": code, "error": message})),
        )
            .into_response()
    };
    if token.is_empty() {
        answered(&mut stub, &fid, json!(21332));
        return weibo_error(21332, "invalid_access_token".into());
    }
    if let Some(f) = stub.take_failure("weibo_media") {
        answered(&mut stub, &fid, json!(f.code));
        return weibo_error(f.code, f.message.unwrap_or_else(|| "error".into()));
    }
    let object = stub
        .media
        .objects
        .get(&("weibo".to_string(), fid.clone()))
        .cloned();
    match object {
        Some(o) if !o.expired => {
            answered(&mut stub, &fid, json!("file"));
            file(&o, &fid)
        }
        _ => {
            answered(&mut stub, &fid, json!(404));
            (StatusCode::NOT_FOUND, "not found").into_response()
        }
    }
}

impl crate::stub::StubAdmin {
    /// Registers an object the stand-in serves (`channel`: `wechat` or `weibo`); a WeChat
    /// `video` is answered as a `video_url`; an `expired` one as WeChat 40007 / Weibo 404.
    pub async fn register_media(
        &self,
        channel: &str,
        media_id: &str,
        content_type: &str,
        body: &[u8],
        video: bool,
        expired: bool,
    ) -> anyhow::Result<()> {
        self.post(
            "/admin/media",
            json!({
                "channel": channel, "media_id": media_id, "content_type": content_type,
                "body_base64": base64::engine::general_purpose::STANDARD.encode(body),
                "video": video, "expired": expired,
            }),
        )
        .await
    }

    /// Every media download waits `delay` before answering.
    pub async fn media_delay(&self, delay: Duration) -> anyhow::Result<()> {
        let delay_ms = u64::try_from(delay.as_millis()).unwrap_or(u64::MAX);
        self.post("/admin/media/delay", json!({ "delay_ms": delay_ms }))
            .await
    }
}
