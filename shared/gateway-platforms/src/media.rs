//! Media downloads: WeChat's temporary media API and Weibo's fan-service media download, read
//! with a byte cap so that no object larger than its kind's limit is ever held in memory.
//!
//! * WeChat, 获取临时素材 (`GET /cgi-bin/media/get?access_token=…&media_id=…`):
//!   <https://developers.weixin.qq.com/doc/offiaccount/Asset_Management/Get_temporary_materials.html>.
//!   Images and voice come back as the file itself; a video as JSON `{"video_url": "…"}`, the
//!   file being at that URL; an error as JSON `{"errcode": 40007, "errmsg": "…"}`. The answer
//!   is told apart by its `Content-Type`, not its status.
//! * Weibo, 上传下载多媒体文件 (`GET /2/mss/msget?access_token=…&fid=…`, on
//!   `upload.api.weibo.com`), with the receiver's token and the `tovfid` of the push:
//!   <https://open.weibo.com/wiki/%E4%B8%8A%E4%BC%A0%E4%B8%8B%E8%BD%BD%E5%A4%9A%E5%AA%92%E4%BD%93%E6%96%87%E4%BB%B6>.
//!   An error is Weibo's envelope `{"error_code": …, "error": "…"}`.
//!
//! Tokens travel in the query string: every transport error is stripped of its URL.

use crate::{WeChatClient, trim_base};
use gateway_core::account::Secret;
use gateway_core::media::{Downloaded, SourceError};
use gateway_core::ports::Retry;
use serde_json::Value;

/// WeChat's temporary media download path.
pub const WECHAT_MEDIA_GET_PATH: &str = "/cgi-bin/media/get";
/// Weibo's media download path.
pub const WEIBO_MEDIA_GET_PATH: &str = "/2/mss/msget";
/// Default base URL of Weibo's media API.
pub const WEIBO_MEDIA_DEFAULT_BASE_URL: &str = "https://upload.api.weibo.com";

fn transport(e: reqwest::Error) -> SourceError {
    // A connection that never opened may be retried as safely as one that timed out: a
    // download changes nothing on the platform.
    SourceError::Transport {
        retry: Retry::Transient,
        reason: e.without_url().to_string(),
    }
}

fn is_json(response: &reqwest::Response) -> bool {
    response
        .headers()
        .get(reqwest::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|t| {
            let t = t.to_ascii_lowercase();
            t.starts_with("application/json") || t.starts_with("text/plain")
        })
}

fn content_type(response: &reqwest::Response) -> String {
    response
        .headers()
        .get(reqwest::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .filter(|t| !t.is_empty())
        .unwrap_or("application/octet-stream")
        .to_string()
}

/// Reads a JSON answer of at most 64 KiB.
async fn json(response: reqwest::Response) -> Result<Value, SourceError> {
    let body = read_capped(response, 64 * 1024)
        .await
        .map_err(|e| match e {
            SourceError::TooLarge { bytes } => SourceError::Transport {
                retry: Retry::Permanent,
                reason: format!("a JSON answer of over {bytes} bytes"),
            },
            other => other,
        })?;
    serde_json::from_slice(&body).map_err(|e| SourceError::Transport {
        retry: Retry::Transient,
        reason: format!("unreadable JSON answer: {e}"),
    })
}

/// The body, stopping as soon as it passes `max_bytes` (an announced `Content-Length` above
/// it stops before reading anything).
async fn read_capped(
    mut response: reqwest::Response,
    max_bytes: u64,
) -> Result<Vec<u8>, SourceError> {
    if let Some(announced) = response.content_length().filter(|n| *n > max_bytes) {
        return Err(SourceError::TooLarge { bytes: announced });
    }
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(transport)? {
        body.extend_from_slice(&chunk);
        if body.len() as u64 > max_bytes {
            return Err(SourceError::TooLarge {
                bytes: body.len() as u64,
            });
        }
    }
    Ok(body)
}

/// An HTTP status without a platform answer.
fn status_error(platform: &str, status: u16) -> SourceError {
    match status {
        404 | 410 => SourceError::NotFound {
            http_status: status,
        },
        429 | 500..=599 => SourceError::Transport {
            retry: Retry::Transient,
            reason: format!("{platform} answered HTTP {status}"),
        },
        _ => SourceError::Transport {
            retry: Retry::Permanent,
            reason: format!("{platform} answered HTTP {status}"),
        },
    }
}

fn code_of(value: &Value, field: &str) -> Option<i64> {
    value.get(field).and_then(|c| {
        c.as_i64()
            .or_else(|| c.as_str().and_then(|s| s.trim().parse().ok()))
    })
}

impl WeChatClient {
    /// Downloads a temporary media object (`media/get`), following a video's `video_url`.
    pub async fn get_media(
        &self,
        access_token: &Secret,
        media_id: &str,
        max_bytes: u64,
    ) -> Result<Downloaded, SourceError> {
        let response = self
            .http
            .get(format!("{}{WECHAT_MEDIA_GET_PATH}", self.base_url))
            .query(&[
                ("access_token", access_token.expose()),
                ("media_id", media_id),
            ])
            .send()
            .await
            .map_err(transport)?;
        let status = response.status().as_u16();
        if is_json(&response) {
            let answer = json(response).await?;
            if let Some(code) = code_of(&answer, "errcode").filter(|c| *c != 0) {
                return Err(SourceError::Platform {
                    code,
                    message: answer
                        .get("errmsg")
                        .and_then(Value::as_str)
                        .unwrap_or_default()
                        .to_string(),
                });
            }
            let Some(url) = answer.get("video_url").and_then(Value::as_str) else {
                return Err(SourceError::Transport {
                    retry: Retry::Permanent,
                    reason: format!("WeChat answered HTTP {status} with JSON holding no file"),
                });
            };
            return self.get_url(url, max_bytes).await;
        }
        if !(200..300).contains(&status) {
            return Err(status_error("WeChat", status));
        }
        let content_type = content_type(&response);
        let body = read_capped(response, max_bytes).await?;
        Ok(Downloaded { content_type, body })
    }

    /// Downloads a video from the `video_url` WeChat answered (no token in it).
    async fn get_url(&self, url: &str, max_bytes: u64) -> Result<Downloaded, SourceError> {
        let response = self.http.get(url).send().await.map_err(transport)?;
        let status = response.status().as_u16();
        if !(200..300).contains(&status) {
            return Err(status_error("WeChat's video URL", status));
        }
        let content_type = content_type(&response);
        let body = read_capped(response, max_bytes).await?;
        Ok(Downloaded { content_type, body })
    }
}

/// Weibo's media download API.
#[derive(Debug, Clone)]
pub struct WeiboMediaClient {
    http: reqwest::Client,
    base_url: String,
}

impl WeiboMediaClient {
    /// Client for the media API at `base_url` (`https://upload.api.weibo.com`).
    pub fn new(http: reqwest::Client, base_url: &str) -> Self {
        WeiboMediaClient {
            http,
            base_url: trim_base(base_url),
        }
    }

    /// Downloads a private message's image or voice by its receiver-side id (`tovfid`).
    pub async fn get_media(
        &self,
        access_token: &Secret,
        fid: &str,
        max_bytes: u64,
    ) -> Result<Downloaded, SourceError> {
        let response = self
            .http
            .get(format!("{}{WEIBO_MEDIA_GET_PATH}", self.base_url))
            .query(&[("access_token", access_token.expose()), ("fid", fid)])
            .send()
            .await
            .map_err(transport)?;
        let status = response.status().as_u16();
        if is_json(&response) {
            let answer = json(response).await?;
            if let Some(code) = code_of(&answer, "error_code") {
                return Err(SourceError::Platform {
                    code,
                    message: answer
                        .get("error")
                        .and_then(Value::as_str)
                        .unwrap_or_default()
                        .to_string(),
                });
            }
            return Err(status_error(
                "Weibo",
                if status < 300 { 502 } else { status },
            ));
        }
        if !(200..300).contains(&status) {
            return Err(status_error("Weibo", status));
        }
        let content_type = content_type(&response);
        let body = read_capped(response, max_bytes).await?;
        Ok(Downloaded { content_type, body })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    /// A one-shot HTTP server answering `head` then `body` as HTTP/1.1 chunks.
    async fn serve_chunked(content_type: &'static str, body: Vec<u8>) -> String {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        tokio::spawn(async move {
            let (mut socket, _) = listener.accept().await.expect("accept");
            let mut request = [0u8; 2048];
            let _ = socket.read(&mut request).await;
            let head = format!(
                "HTTP/1.1 200 OK\r\nContent-Type: {content_type}\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
            );
            let _ = socket.write_all(head.as_bytes()).await;
            for chunk in body.chunks(1000) {
                let _ = socket
                    .write_all(format!("{:x}\r\n", chunk.len()).as_bytes())
                    .await;
                let _ = socket.write_all(chunk).await;
                let _ = socket.write_all(b"\r\n").await;
            }
            let _ = socket.write_all(b"0\r\n\r\n").await;
        });
        format!("http://{addr}")
    }

    #[tokio::test]
    async fn a_body_without_a_length_stops_being_read_once_it_passes_the_cap() {
        let base = serve_chunked("audio/amr", vec![7u8; 5_000]).await;
        let client = WeChatClient::new(
            crate::http_client(Duration::from_secs(5)).expect("client"),
            &base,
            crate::TokenApi::Stable,
        );
        let err = client
            .get_media(&Secret::new("T"), "M", 2_500)
            .await
            .expect_err("over the cap");
        // Stopped at the first chunk past 2,500 bytes, not after all 5,000.
        assert!(
            matches!(err, SourceError::TooLarge { bytes } if bytes > 2_500 && bytes < 5_000),
            "{err:?}"
        );
        let base = serve_chunked("audio/amr", vec![7u8; 2_000]).await;
        let client = WeChatClient::new(
            crate::http_client(Duration::from_secs(5)).expect("client"),
            &base,
            crate::TokenApi::Stable,
        );
        let ok = client
            .get_media(&Secret::new("T"), "M", 2_500)
            .await
            .expect("under the cap");
        assert_eq!(
            (ok.content_type.as_str(), ok.body.len()),
            ("audio/amr", 2_000)
        );
    }
}
