//! The HTTP POST of `webhook-sender` to API clients' webhook receivers
//! ([`gateway_core::webhook_target::WebhookPoster`]).
//!
//! The same TLS settings as the platform clients ([`crate::http_client`]: rustls, Mozilla's
//! roots compiled in), with redirects not followed (a receiver's 3xx is a permanent failure,
//! so an event never goes to an address the accounts document does not name) and at most
//! [`MAX_ANSWER_BYTES`] of the answer read. Errors are stripped of the URL (it may carry a
//! token in its query).

use async_trait::async_trait;
use gateway_core::webhook_target::deliver::MAX_ANSWER_BYTES;
use gateway_core::webhook_target::{PostAnswer, PostError, WebhookPoster};
use std::time::Duration;

/// POSTs events to webhook receivers.
#[derive(Clone, Debug)]
pub struct HttpWebhookPoster {
    http: reqwest::Client,
}

impl HttpWebhookPoster {
    /// A poster whose every request (connection, answer, body) ends within `timeout`.
    pub fn new(timeout: Duration) -> Result<Self, crate::ClientError> {
        crate::install_crypto_provider();
        let http = reqwest::Client::builder()
            .tls_certs_only(crate::public_roots())
            .connect_timeout(timeout.min(Duration::from_secs(3)))
            .timeout(timeout)
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!(
                "channel-gateway-webhooks/",
                env!("CARGO_PKG_VERSION")
            ))
            .build()
            .map_err(crate::ClientError::Build)?;
        Ok(HttpWebhookPoster { http })
    }
}

fn post_error(e: reqwest::Error) -> PostError {
    let timeout = e.is_timeout();
    let connect = e.is_connect();
    let e = e.without_url();
    let text = error_chain(&e);
    if timeout {
        PostError::Timeout
    } else if connect {
        PostError::Connect(text)
    } else {
        PostError::Transport(text)
    }
}

fn error_chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}

#[async_trait]
impl WebhookPoster for HttpWebhookPoster {
    async fn post(
        &self,
        url: &str,
        headers: &[(&'static str, String)],
        body: &[u8],
    ) -> Result<PostAnswer, PostError> {
        let mut request = self
            .http
            .post(url)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .body(body.to_vec());
        for (name, value) in headers {
            request = request.header(*name, value);
        }
        let mut response = request.send().await.map_err(post_error)?;
        let status = response.status().as_u16();
        let mut kept = Vec::new();
        // Only the start of the answer is read; the rest is dropped with the connection.
        while kept.len() < MAX_ANSWER_BYTES {
            match response.chunk().await {
                Ok(Some(chunk)) => kept.extend_from_slice(&chunk),
                Ok(None) => break,
                // The status decides; an answer cut short does not undo it.
                Err(_) => break,
            }
        }
        kept.truncate(MAX_ANSWER_BYTES);
        Ok(PostAnswer {
            status,
            body_start: String::from_utf8_lossy(&kept).into_owned(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    /// Serves one request with `answer` and returns the request as received.
    async fn one_request(answer: &'static [u8]) -> (String, tokio::task::JoinHandle<Vec<u8>>) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let url = format!("http://{}/hook", listener.local_addr().expect("addr"));
        let task = tokio::spawn(async move {
            let (mut socket, _) = listener.accept().await.expect("accept");
            let mut received = Vec::new();
            let mut buf = [0u8; 4096];
            loop {
                let n = socket.read(&mut buf).await.expect("read");
                received.extend_from_slice(&buf[..n]);
                let text = String::from_utf8_lossy(&received);
                if let Some(end) = text.find("\r\n\r\n") {
                    let length = text
                        .lines()
                        .find_map(|l| l.strip_prefix("content-length: "))
                        .and_then(|l| l.trim().parse::<usize>().ok())
                        .unwrap_or(0);
                    if received.len() >= end + 4 + length {
                        break;
                    }
                }
                if n == 0 {
                    break;
                }
            }
            socket.write_all(answer).await.expect("write");
            received
        });
        (url, task)
    }

    #[tokio::test]
    async fn posts_json_with_the_headers_and_caps_the_answer() {
        let big = Box::leak(
            format!(
                "HTTP/1.1 400 Bad Request\r\ncontent-length: 5000\r\n\r\n{}",
                "x".repeat(5000)
            )
            .into_bytes()
            .into_boxed_slice(),
        );
        let (url, task) = one_request(big).await;
        let poster = HttpWebhookPoster::new(Duration::from_secs(5)).expect("client");
        let answer = poster
            .post(&url, &[("x-gateway-event", "t".into())], b"{\"a\":1}")
            .await
            .expect("answered");
        assert_eq!(answer.status, 400);
        assert_eq!(answer.body_start.len(), MAX_ANSWER_BYTES);
        let request = String::from_utf8(task.await.expect("served")).expect("utf8");
        assert!(request.starts_with("POST /hook HTTP/1.1"), "{request}");
        assert!(
            request.contains("content-type: application/json"),
            "{request}"
        );
        assert!(request.contains("x-gateway-event: t"), "{request}");
        assert!(request.ends_with("{\"a\":1}"), "{request}");
    }

    #[tokio::test]
    async fn does_not_follow_redirects() {
        let (url, _task) = one_request(
            b"HTTP/1.1 307 Temporary Redirect\r\nlocation: http://127.0.0.1:9/else\r\ncontent-length: 0\r\n\r\n",
        )
        .await;
        let poster = HttpWebhookPoster::new(Duration::from_secs(5)).expect("client");
        let answer = poster.post(&url, &[], b"{}").await.expect("answered");
        assert_eq!(answer.status, 307);
    }

    #[tokio::test]
    async fn a_closed_port_is_a_connection_error() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let url = format!("http://{}/hook", listener.local_addr().expect("addr"));
        drop(listener);
        let poster = HttpWebhookPoster::new(Duration::from_secs(2)).expect("client");
        let err = poster.post(&url, &[], b"{}").await.expect_err("refused");
        assert!(matches!(err, PostError::Connect(_)), "{err:?}");
    }
}
