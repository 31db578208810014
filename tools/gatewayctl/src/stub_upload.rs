//! The stand-in of WeChat's temporary media upload (新增临时素材), which the desk API calls
//! for an agent's file:
//!
//! * `POST /cgi-bin/media/upload?access_token=…&type=image|voice|video|thumb`, the file as the
//!   multipart form field `media`: answers `{"type":…,"media_id":"stub-upload-…","created_at":…}`
//!   (`thumb_media_id` for a thumbnail), or WeChat's errors: the token's (`40001`, `42001`), an
//!   unknown type `40004`, no `media` field `41005`, a file name whose extension the type does
//!   not take `40005`, over the type's size `40009` (image) or `40006`; scripted failures with
//!   `api: "wechat_upload"` (`POST /admin/fail`).
//! * `GET /admin/uploads`: every upload received, in order, each with its token, type, file
//!   name, `Content-Type`, size, SHA-256, and the `media_id` or error code it was answered.
//!
//! Types and sizes as documented:
//! <https://developers.weixin.qq.com/doc/offiaccount/Asset_Management/New_temporary_materials.html>.

use crate::stub::{Shared, lock, wechat_error};
use axum::Router;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Query, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::sync::{LazyLock, Mutex};

/// Every upload received by this process's stand-in.
static UPLOADS: LazyLock<Mutex<Vec<Value>>> = LazyLock::new(|| Mutex::new(Vec::new()));

fn uploads() -> std::sync::MutexGuard<'static, Vec<Value>> {
    UPLOADS.lock().unwrap_or_else(|p| p.into_inner())
}

/// The upload route and its admin route, for the stand-in's router.
pub(crate) fn routes() -> Router<Shared> {
    Router::new()
        .route(
            "/cgi-bin/media/upload",
            // Room for the largest type (10 MiB) and the form around it.
            post(wechat_media_upload).layer(DefaultBodyLimit::max(16 << 20)),
        )
        .route("/admin/uploads", get(admin_uploads))
}

/// One part of a `multipart/form-data` body.
#[derive(Debug, PartialEq, Eq)]
struct Part<'a> {
    name: String,
    filename: Option<String>,
    content_type: Option<String>,
    body: &'a [u8],
}

fn find(haystack: &[u8], needle: &[u8], from: usize) -> Option<usize> {
    haystack
        .get(from..)?
        .windows(needle.len())
        .position(|w| w == needle)
        .map(|i| i + from)
}

/// `name="value"` in a header's parameters.
fn param(header: &str, name: &str) -> Option<String> {
    header.split(';').find_map(|p| {
        let (k, v) = p.trim().split_once('=')?;
        k.trim()
            .eq_ignore_ascii_case(name)
            .then(|| v.trim().trim_matches('"').to_string())
    })
}

/// The parts of a multipart body with `boundary` (RFC 7578).
fn parts<'a>(body: &'a [u8], boundary: &str) -> Vec<Part<'a>> {
    let delimiter = format!("--{boundary}");
    let mut out = Vec::new();
    let Some(mut at) = find(body, delimiter.as_bytes(), 0) else {
        return out;
    };
    loop {
        let start = at + delimiter.len();
        if body.get(start..start + 2) == Some(b"--") {
            return out;
        }
        let Some(head_end) = find(body, b"\r\n\r\n", start) else {
            return out;
        };
        let Some(next) = find(body, format!("\r\n{delimiter}").as_bytes(), head_end) else {
            return out;
        };
        let head = String::from_utf8_lossy(&body[start..head_end]);
        let (mut name, mut filename, mut content_type) = (String::new(), None, None);
        for line in head.split("\r\n") {
            let Some((k, v)) = line.split_once(':') else {
                continue;
            };
            if k.trim().eq_ignore_ascii_case("content-disposition") {
                name = param(v, "name").unwrap_or_default();
                filename = param(v, "filename");
            } else if k.trim().eq_ignore_ascii_case("content-type") {
                content_type = Some(v.trim().to_string());
            }
        }
        out.push(Part {
            name,
            filename,
            content_type,
            body: &body[head_end + 4..next],
        });
        at = next + 2;
    }
}

/// The file name extensions and the largest size (bytes, WeChat's "MB" read as MiB) of a
/// type; `None` for a type WeChat does not have.
fn accepts(kind: &str) -> Option<(&'static [&'static str], u64, i64)> {
    const MIB: u64 = 1024 * 1024;
    match kind {
        "image" => Some((&["bmp", "png", "jpeg", "jpg", "gif"], 10 * MIB, 40009)),
        "voice" => Some((&["amr", "mp3"], 2 * MIB, 40006)),
        "video" => Some((&["mp4"], 10 * MIB, 40006)),
        "thumb" => Some((&["jpg"], 64 * 1024, 40006)),
        _ => None,
    }
}

async fn wechat_media_upload(
    State(state): State<Shared>,
    Query(q): Query<HashMap<String, String>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let token = q.get("access_token").cloned().unwrap_or_default();
    let kind = q.get("type").cloned().unwrap_or_default();
    let boundary = headers
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .filter(|v| v.to_ascii_lowercase().starts_with("multipart/form-data"))
        .and_then(|v| param(v, "boundary"))
        .unwrap_or_default();
    let all = parts(&body, &boundary);
    let media = all
        .iter()
        .find(|p| p.name == "media" && p.filename.is_some());
    let mut record = json!({ "access_token": token, "type": kind });
    if let Some(m) = media {
        record["filename"] = json!(m.filename);
        record["content_type"] = json!(m.content_type);
        record["bytes"] = json!(m.body.len());
        record["sha256"] = json!(hex::encode(Sha256::digest(m.body)));
    }
    let refuse = |mut record: Value, code: i64, message: Option<String>| {
        record["errcode"] = json!(code);
        uploads().push(record);
        wechat_error(code, message)
    };
    let failure = {
        let mut stub = lock(&state);
        match stub.check_token(&token) {
            0 => stub
                .take_failure("wechat_upload")
                .map(|f| (f.code, f.message)),
            code => Some((code, None)),
        }
    };
    if let Some((code, message)) = failure {
        return refuse(record, code, message);
    }
    let Some((extensions, max, size_code)) = accepts(&kind) else {
        return refuse(record, 40004, Some("invalid media type".into()));
    };
    let Some(media) = media else {
        return refuse(record, 41005, Some("media data missing".into()));
    };
    let extension = media
        .filename
        .as_deref()
        .and_then(|f| f.rsplit_once('.'))
        .map(|(_, e)| e.to_ascii_lowercase())
        .unwrap_or_default();
    if !extensions.contains(&extension.as_str()) {
        return refuse(record, 40005, Some("invalid file type".into()));
    }
    if media.body.len() as u64 > max {
        return refuse(record, size_code, Some("invalid media size".into()));
    }
    let mut all = uploads();
    let sha = record["sha256"].as_str().unwrap_or_default().to_string();
    let media_id = format!(
        "stub-upload-{}-{}",
        all.len() + 1,
        &sha[..12.min(sha.len())]
    );
    let created_at = chrono::Utc::now().timestamp();
    record["media_id"] = json!(media_id);
    all.push(record);
    let id_field = if kind == "thumb" {
        "thumb_media_id"
    } else {
        "media_id"
    };
    let mut answer = json!({ "type": kind, "created_at": created_at });
    answer[id_field] = json!(media_id);
    axum::Json(answer).into_response()
}

async fn admin_uploads() -> Response {
    axum::Json(json!({ "uploads": *uploads() })).into_response()
}

/// What the stand-in at `base_url` received (`GET /admin/uploads`), for tests.
pub async fn received(base_url: &str) -> anyhow::Result<Vec<Value>> {
    let answer: Value = crate::http_client()
        .get(format!("{}/admin/uploads", base_url.trim_end_matches('/')))
        .send()
        .await?
        .error_for_status()?
        .json()
        .await?;
    Ok(answer["uploads"].as_array().cloned().unwrap_or_default())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn a_multipart_body_reads_back_as_its_parts() {
        let body = b"--XyZ\r\nContent-Disposition: form-data; name=\"media\"; filename=\"a.png\"\r\nContent-Type: image/png\r\n\r\n\x89PNG\r\n--X\r\n--XyZ\r\nContent-Disposition: form-data; name=\"other\"\r\n\r\nv\r\n--XyZ--\r\n";
        let got = parts(body, "XyZ");
        assert_eq!(
            got,
            vec![
                Part {
                    name: "media".into(),
                    filename: Some("a.png".into()),
                    content_type: Some("image/png".into()),
                    body: b"\x89PNG\r\n--X",
                },
                Part {
                    name: "other".into(),
                    filename: None,
                    content_type: None,
                    body: b"v",
                },
            ]
        );
        assert!(parts(b"garbage", "XyZ").is_empty());
        assert_eq!(
            param("form-data; name=\"media\"; filename=\"x.jpg\"", "filename").as_deref(),
            Some("x.jpg")
        );
    }

    #[test]
    fn each_type_takes_its_extensions_and_size() {
        assert_eq!(accepts("image").unwrap().1, 10_485_760);
        assert_eq!(accepts("thumb").unwrap().0, &["jpg"]);
        assert_eq!(accepts("voice").unwrap().1, 2_097_152);
        assert!(accepts("file").is_none());
    }

    /// The platform client's upload (gateway-platforms) against this stand-in, over HTTP.
    #[tokio::test]
    async fn the_desks_client_uploads_and_a_stale_token_is_refused() {
        use gateway_core::account::Secret;
        use gateway_core::delivery::platform::CallError;
        use gateway_core::delivery::ports::TokenFetcher;
        use gateway_core::desk::upload::{MediaFile, WeChatMediaApi};
        use gateway_core::media::MediaKind;
        use gateway_platforms::{TokenApi, WeChatClient, http_client};

        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, crate::stub::router()).await });
        let client = WeChatClient::new(
            http_client(std::time::Duration::from_secs(5)).unwrap(),
            &base,
            TokenApi::Stable,
        );
        let grant = client
            .fetch("wxupload", &Secret::new("s"), false)
            .await
            .unwrap();
        let token = Secret::new(grant.access_token);
        let body = b"\xff\xd8\xff\xe0 a thumbnail".to_vec();
        let file = MediaFile {
            filename: "t.jpg",
            content_type: "image/jpeg",
            body: &body,
        };
        let up = client
            .upload_media(&token, MediaKind::Thumb, file)
            .await
            .unwrap();
        assert!(up.media_id.starts_with("stub-upload-"), "{up:?}");
        assert_eq!(up.kind, "thumb");
        let png = MediaFile {
            filename: "t.png",
            ..file
        };
        match client.upload_media(&token, MediaKind::Thumb, png).await {
            Err(CallError::Platform(e)) => assert_eq!(e.code, 40005),
            other => panic!("{other:?}"),
        }
        match client
            .upload_media(&Secret::new("forged"), MediaKind::Image, file)
            .await
        {
            Err(CallError::Platform(e)) => assert_eq!(e.code, 40001),
            other => panic!("{other:?}"),
        }
        let got = received(&base).await.unwrap();
        let mine: Vec<&Value> = got
            .iter()
            .filter(|u| u["sha256"] == hex::encode(Sha256::digest(&body)))
            .collect();
        assert_eq!(mine.len(), 3);
        assert_eq!(mine[0]["media_id"], up.media_id);
        assert_eq!(mine[0]["bytes"], body.len());
        assert_eq!(mine[0]["content_type"], "image/jpeg");
        assert_eq!(mine[0]["filename"], "t.jpg");
        assert_eq!(
            (mine[1]["errcode"].as_i64(), mine[2]["errcode"].as_i64()),
            (Some(40005), Some(40001))
        );
    }
}
