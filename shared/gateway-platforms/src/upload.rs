//! WeChat's temporary media upload (新增临时素材), for the desk's agents' files:
//! `POST /cgi-bin/media/upload?access_token=…&type=image|voice|video|thumb`, the file as the
//! multipart form field `media` (with its file name and `Content-Type`), answered
//! `{"type":"image","media_id":"…","created_at":…}` or `{"errcode":…,"errmsg":"…"}`:
//! <https://developers.weixin.qq.com/doc/offiaccount/Asset_Management/New_temporary_materials.html>.
//!
//! The token travels in the query string: transport errors are stripped of their URL.

use crate::{WeChatClient, read, transport, unexpected};
use async_trait::async_trait;
use gateway_core::account::Secret;
use gateway_core::delivery::platform::CallError;
use gateway_core::desk::upload::{
    MediaFile, WECHAT_MEDIA_UPLOAD_PATH, WeChatMediaApi, WeChatUploaded, parse_upload_answer,
};
use gateway_core::media::MediaKind;
use gateway_core::message::Channel;
use reqwest::multipart::{Form, Part};

#[async_trait]
impl WeChatMediaApi for WeChatClient {
    async fn upload_media(
        &self,
        access_token: &Secret,
        kind: MediaKind,
        file: MediaFile<'_>,
    ) -> Result<WeChatUploaded, CallError> {
        let part = Part::bytes(file.body.to_vec())
            .file_name(file.filename.to_string())
            .mime_str(file.content_type)
            .map_err(|e| CallError::NotSent(Box::new(e.without_url())))?;
        let response = self
            .http
            .post(format!("{}{WECHAT_MEDIA_UPLOAD_PATH}", self.base_url))
            .query(&[
                ("access_token", access_token.expose()),
                ("type", kind.as_str()),
            ])
            .multipart(Form::new().part("media", part))
            .send()
            .await
            .map_err(transport)?;
        let (status, text) = read(response).await?;
        match parse_upload_answer(&text) {
            Some(Ok(uploaded)) => Ok(uploaded),
            Some(Err(e)) => Err(CallError::Platform(e)),
            None => Err(unexpected(Channel::WeChat, status)),
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
pub(crate) mod tests {
    use super::*;
    use crate::{TokenApi, http_client};
    use std::time::Duration;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    /// A server that reads one request and answers `answer` (JSON); the request's bytes.
    pub(crate) async fn server(answer: &'static str) -> (String, tokio::task::JoinHandle<Vec<u8>>) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let task = tokio::spawn(async move {
            let (mut socket, _) = listener.accept().await.unwrap();
            let mut request = Vec::new();
            let mut buf = [0u8; 4096];
            loop {
                let n = socket.read(&mut buf).await.unwrap();
                request.extend_from_slice(&buf[..n]);
                let text = String::from_utf8_lossy(&request).to_string();
                if let Some(head_end) = text.find("\r\n\r\n") {
                    let length: usize = text[..head_end]
                        .lines()
                        .find_map(|l| {
                            l.to_ascii_lowercase()
                                .strip_prefix("content-length:")
                                .map(|v| v.trim().parse().unwrap())
                        })
                        .unwrap_or(0);
                    if request.len() >= head_end + 4 + length {
                        break;
                    }
                }
                if n == 0 {
                    break;
                }
            }
            let response = format!(
                "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{answer}",
                answer.len()
            );
            socket.write_all(response.as_bytes()).await.unwrap();
            request
        });
        (url, task)
    }

    fn client(url: &str) -> WeChatClient {
        WeChatClient::new(
            http_client(Duration::from_secs(5)).unwrap(),
            url,
            TokenApi::Stable,
        )
    }

    fn file(body: &[u8]) -> MediaFile<'_> {
        MediaFile {
            filename: "0123abcd.png",
            content_type: "image/png",
            body,
        }
    }

    #[tokio::test]
    async fn the_file_goes_as_the_form_field_media_with_the_token_and_type_in_the_query() {
        let (url, request) =
            server(r#"{"type":"image","media_id":"MID-1","created_at":1700000000}"#).await;
        let body = b"\x89PNG\r\n\x1a\n\x00\x01\x02\xff".to_vec();
        let uploaded = client(&url)
            .upload_media(&Secret::new("TOK"), MediaKind::Image, file(&body))
            .await
            .unwrap();
        assert_eq!(uploaded.media_id, "MID-1");
        assert_eq!(uploaded.created_at, 1_700_000_000);
        let request = request.await.unwrap();
        let text = String::from_utf8_lossy(&request);
        assert!(
            text.starts_with("POST /cgi-bin/media/upload?access_token=TOK&type=image HTTP/1.1"),
            "{text}"
        );
        assert!(
            text.to_ascii_lowercase()
                .contains("content-type: multipart/form-data; boundary="),
            "{text}"
        );
        assert!(
            text.contains("Content-Disposition: form-data; name=\"media\"; filename=\"0123abcd.png\"\r\nContent-Type: image/png\r\n\r\n"),
            "{text}"
        );
        assert!(
            request.windows(body.len()).any(|w| w == body.as_slice()),
            "the bytes as they are"
        );
    }

    #[tokio::test]
    async fn a_refusal_keeps_wechats_code_and_the_token_never_shows() {
        let (url, _) = server(r#"{"errcode":40005,"errmsg":"invalid file type hint"}"#).await;
        match client(&url)
            .upload_media(&Secret::new("TOK"), MediaKind::Voice, file(b"#!AMR\n"))
            .await
        {
            Err(CallError::Platform(e)) => assert_eq!(e.code, 40005),
            other => panic!("{other:?}"),
        }
        let err = client("http://127.0.0.1:9/")
            .upload_media(&Secret::new("SECRET-TOKEN"), MediaKind::Image, file(b"x"))
            .await
            .unwrap_err();
        assert!(matches!(err, CallError::NotSent(_)), "{err:?}");
        assert!(!format!("{err} {err:?}").contains("SECRET-TOKEN"));
    }
}
