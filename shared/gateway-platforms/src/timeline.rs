//! Weibo's public timelines, read by `weibo-poller`: `GET /2/comments/to_me.json`,
//! `/2/comments/mentions.json`, `/2/statuses/mentions.json` on `api.weibo.com`, or their
//! commercial twins `/2/…/biz.json` on `c.api.weibo.com`, with `access_token`, `since_id`,
//! `max_id` and `count` in the query string
//! (<https://open.weibo.com/wiki/2/comments/to_me>, <https://open.weibo.com/wiki/2/comments/mentions>,
//! <https://open.weibo.com/wiki/2/statuses/mentions>, <https://open.weibo.com/wiki/C/2/comments/to_me/biz>).
//!
//! Errors come in Weibo's envelope `{"request","error_code","error"}`
//! (<https://open.weibo.com/wiki/Error_code>): 10022/10023/10024 (and an HTTP 429) are rate
//! limits, anything else a failure the next cycle retries. The answer is read with a byte cap.
//! The token travels in the query string: transport errors are stripped of their URL, and the
//! token is removed from any text kept.

use crate::trim_base;
use async_trait::async_trait;
use gateway_core::account::{ListeningApi, Secret, Timeline};
use gateway_core::listening::{PageQuery, TimelineError, TimelineSource, is_rate_limit_code};
use serde_json::Value;

/// Default base URL of Weibo's open API.
pub const WEIBO_OPEN_API_DEFAULT_BASE_URL: &str = "https://api.weibo.com";
/// Default base URL of Weibo's commercial API.
pub const WEIBO_BIZ_API_DEFAULT_BASE_URL: &str = "https://c.api.weibo.com";
/// The largest answer read: 200 comments with their posts and users are about 1 MB.
pub const MAX_PAGE_BYTES: u64 = 8 << 20;
/// Longest error text kept, in characters.
const MAX_ERROR_CHARS: usize = 200;

/// The timelines of the open and commercial APIs.
#[derive(Debug, Clone)]
pub struct WeiboTimelineClient {
    http: reqwest::Client,
    standard_base: String,
    biz_base: String,
    max_bytes: u64,
}

impl WeiboTimelineClient {
    /// Client of the open API at `standard_base` and the commercial one at `biz_base`.
    pub fn new(http: reqwest::Client, standard_base: &str, biz_base: &str) -> Self {
        WeiboTimelineClient {
            http,
            standard_base: trim_base(standard_base),
            biz_base: trim_base(biz_base),
            max_bytes: MAX_PAGE_BYTES,
        }
    }

    /// The same client reading answers of at most `max_bytes` (tests).
    pub fn with_max_bytes(mut self, max_bytes: u64) -> Self {
        self.max_bytes = max_bytes;
        self
    }
}

/// `text` without the token, cut to a readable length.
fn clean(text: &str, token: &Secret) -> String {
    let text = if token.expose().is_empty() {
        text.to_string()
    } else {
        text.replace(token.expose(), "[redacted]")
    };
    text.chars().take(MAX_ERROR_CHARS).collect()
}

fn failed(reason: String) -> TimelineError {
    TimelineError::Failed { reason }
}

/// The body, stopping as soon as it passes `max_bytes`.
async fn read_capped(
    mut response: reqwest::Response,
    max_bytes: u64,
    token: &Secret,
) -> Result<Vec<u8>, TimelineError> {
    let too_large = |n: u64| failed(format!("weibo's answer is over {max_bytes} bytes ({n})"));
    if let Some(announced) = response.content_length().filter(|n| *n > max_bytes) {
        return Err(too_large(announced));
    }
    let mut body = Vec::new();
    while let Some(chunk) = response
        .chunk()
        .await
        .map_err(|e| failed(clean(&e.without_url().to_string(), token)))?
    {
        body.extend_from_slice(&chunk);
        if body.len() as u64 > max_bytes {
            return Err(too_large(body.len() as u64));
        }
    }
    Ok(body)
}

/// An answer's error, if it is one: the envelope's code, else the HTTP status.
fn answer_error(status: u16, answer: Option<&Value>, token: &Secret) -> Option<TimelineError> {
    let code = answer.and_then(|a| a.get("error_code")).and_then(|c| {
        c.as_i64()
            .or_else(|| c.as_str().and_then(|s| s.trim().parse().ok()))
    });
    if let Some(code) = code {
        let message = clean(
            answer
                .and_then(|a| a.get("error"))
                .and_then(Value::as_str)
                .unwrap_or_default(),
            token,
        );
        return Some(if is_rate_limit_code(code) {
            TimelineError::RateLimited { code, message }
        } else {
            failed(format!("weibo error {code}: {message}"))
        });
    }
    match status {
        429 => Some(TimelineError::RateLimited {
            code: 429,
            message: "HTTP 429 Too Many Requests".into(),
        }),
        200..=299 if answer.is_some() => None,
        200..=299 => Some(failed(format!(
            "weibo answered HTTP {status} with a body that is not JSON"
        ))),
        _ => Some(failed(format!("weibo answered HTTP {status}"))),
    }
}

#[async_trait]
impl TimelineSource for WeiboTimelineClient {
    async fn page(
        &self,
        access_token: &Secret,
        api: ListeningApi,
        timeline: Timeline,
        query: PageQuery,
    ) -> Result<Value, TimelineError> {
        let base = match api {
            ListeningApi::Standard => &self.standard_base,
            ListeningApi::Biz => &self.biz_base,
        };
        let mut params = vec![
            ("access_token", access_token.expose().to_string()),
            ("count", query.count.to_string()),
        ];
        if query.since_id > 0 {
            params.push(("since_id", query.since_id.to_string()));
        }
        if query.max_id > 0 {
            params.push(("max_id", query.max_id.to_string()));
        }
        let response = self
            .http
            .get(format!("{base}{}", timeline.path(api)))
            .query(&params)
            .send()
            .await
            .map_err(|e| failed(clean(&e.without_url().to_string(), access_token)))?;
        let status = response.status().as_u16();
        let body = read_capped(response, self.max_bytes, access_token).await?;
        let answer: Option<Value> = serde_json::from_slice(&body).ok();
        match answer_error(status, answer.as_ref(), access_token) {
            Some(e) => Err(e),
            None => answer.ok_or_else(|| failed("no answer".into())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    /// A one-request server answering `status` with `body`; yields the request's head.
    async fn serve(status: u16, body: String) -> (String, tokio::task::JoinHandle<String>) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        let task = tokio::spawn(async move {
            let (mut socket, _) = listener.accept().await.expect("accept");
            let mut request = vec![0u8; 4096];
            let n = socket.read(&mut request).await.unwrap_or(0);
            let head = format!(
                "HTTP/1.1 {status} X\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                body.len()
            );
            let _ = socket.write_all(head.as_bytes()).await;
            let _ = socket.write_all(body.as_bytes()).await;
            String::from_utf8_lossy(&request[..n]).to_string()
        });
        (format!("http://{addr}"), task)
    }

    fn client(base: &str) -> WeiboTimelineClient {
        WeiboTimelineClient::new(
            crate::http_client(Duration::from_secs(5)).expect("client"),
            base,
            &format!("{base}/"),
        )
    }

    const TOKEN: &str = "2.00TOKENVALUE123";

    fn query() -> PageQuery {
        PageQuery {
            since_id: 4_100_000_000_000_001,
            max_id: 0,
            count: 50,
        }
    }

    #[tokio::test]
    async fn reads_a_page_with_the_token_and_cursor_in_the_query() {
        let (base, request) = serve(200, r#"{"comments":[],"total_number":0}"#.into()).await;
        let page = client(&base)
            .page(
                &Secret::new(TOKEN),
                ListeningApi::Standard,
                Timeline::CommentsToMe,
                query(),
            )
            .await
            .expect("page");
        assert_eq!(page["comments"], serde_json::json!([]));
        let head = request.await.expect("request");
        let line = head.lines().next().unwrap_or_default().to_string();
        assert!(line.starts_with("GET /2/comments/to_me.json?"), "{line}");
        assert!(line.contains(&format!("access_token={TOKEN}")), "{line}");
        assert!(line.contains("since_id=4100000000000001"), "{line}");
        assert!(
            line.contains("count=50") && !line.contains("max_id"),
            "{line}"
        );
    }

    #[tokio::test]
    async fn the_commercial_api_has_its_own_host_and_paths() {
        let (base, request) = serve(200, r#"{"statuses":[]}"#.into()).await;
        let client = WeiboTimelineClient::new(
            crate::http_client(Duration::from_secs(5)).expect("client"),
            "http://127.0.0.1:9",
            &base,
        );
        let q = PageQuery {
            since_id: 0,
            max_id: 77,
            count: 200,
        };
        client
            .page(
                &Secret::new(TOKEN),
                ListeningApi::Biz,
                Timeline::StatusesMentions,
                q,
            )
            .await
            .expect("page");
        let head = request.await.expect("request");
        let line = head.lines().next().unwrap_or_default().to_string();
        assert!(
            line.starts_with("GET /2/statuses/mentions/biz.json?"),
            "{line}"
        );
        assert!(
            line.contains("max_id=77") && !line.contains("since_id"),
            "{line}"
        );
    }

    #[tokio::test]
    async fn rate_limit_codes_and_http_429_are_rate_limits() {
        for (status, body, code) in [
            (
                403,
                r#"{"request":"/2/comments/to_me.json","error_code":10022,"error":"IP requests out of rate limit!"}"#,
                10022,
            ),
            (
                403,
                r#"{"error_code":"10023","error":"User requests out of rate limit!"}"#,
                10023,
            ),
            (
                200,
                r#"{"error_code":10024,"error":"User requests for (comments/to_me) out of rate limit!"}"#,
                10024,
            ),
            (429, "Too Many Requests", 429),
        ] {
            let (base, _) = serve(status, body.into()).await;
            let err = client(&base)
                .page(
                    &Secret::new(TOKEN),
                    ListeningApi::Standard,
                    Timeline::CommentsToMe,
                    query(),
                )
                .await
                .expect_err(body);
            assert!(
                matches!(&err, TimelineError::RateLimited { code: c, .. } if *c == code),
                "{body}: {err:?}"
            );
        }
    }

    #[tokio::test]
    async fn other_errors_fail_without_the_token() {
        let echo = format!(r#"{{"error_code":21332,"error":"invalid_access_token {TOKEN}"}}"#);
        let (base, _) = serve(400, echo).await;
        let err = client(&base)
            .page(
                &Secret::new(TOKEN),
                ListeningApi::Standard,
                Timeline::CommentsToMe,
                query(),
            )
            .await
            .expect_err("token error");
        let shown = format!("{err} {err:?}");
        assert!(shown.contains("weibo error 21332"), "{shown}");
        assert!(!shown.contains(TOKEN), "{shown}");
        for (status, body, expected) in [
            (502, "Bad Gateway", "HTTP 502"),
            (200, "<html>", "not JSON"),
        ] {
            let (base, _) = serve(status, body.into()).await;
            let err = client(&base)
                .page(
                    &Secret::new(TOKEN),
                    ListeningApi::Standard,
                    Timeline::CommentsToMe,
                    query(),
                )
                .await
                .expect_err(body);
            assert!(
                matches!(&err, TimelineError::Failed { reason } if reason.contains(expected)),
                "{err:?}"
            );
        }
        // A refused connection (port 9, discard, is closed on any test machine).
        let err = client("http://127.0.0.1:9")
            .page(
                &Secret::new(TOKEN),
                ListeningApi::Standard,
                Timeline::CommentsToMe,
                query(),
            )
            .await
            .expect_err("refused");
        let shown = format!("{err} {err:?}");
        assert!(matches!(err, TimelineError::Failed { .. }), "{shown}");
        assert!(!shown.contains(TOKEN), "{shown}");
    }

    #[tokio::test]
    async fn an_answer_over_the_cap_is_not_read() {
        let big = format!(r#"{{"comments":["{}"]}}"#, "x".repeat(5_000));
        let (base, _) = serve(200, big).await;
        let err = client(&base)
            .with_max_bytes(1_000)
            .page(
                &Secret::new(TOKEN),
                ListeningApi::Standard,
                Timeline::CommentsToMe,
                query(),
            )
            .await
            .expect_err("too large");
        assert!(
            matches!(&err, TimelineError::Failed { reason } if reason.contains("over 1000 bytes")),
            "{err:?}"
        );
    }
}
