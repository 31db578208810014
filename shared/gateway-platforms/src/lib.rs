//! HTTP clients of the platform APIs the reply sender calls: WeChat's customer-service message,
//! typing and access-token APIs, and Weibo's reply and comment APIs; the media downloads of the
//! media-fetcher ([`media`]); the public timelines `weibo-poller` reads ([`timeline`]); WeChat's
//! media upload for the desk's agents' files ([`upload`]). They implement the
//! `gateway_core::delivery::ports` traits; request bodies, answer parsing and error
//! classification are in `gateway_core::delivery::{wechat, weibo}`.
//!
//! Base URLs are configuration, so that tests talk to local stand-ins and production to
//! `https://api.weixin.qq.com` / `https://m.api.weibo.com`. Tokens travel in the query string
//! (WeChat requires it) or the form body (Weibo), so transport errors are always stripped of
//! their URL before they are kept or logged.

pub mod media;
pub mod profiles;
pub mod timeline;
pub mod upload;
pub mod webhook_target;

use async_trait::async_trait;
use gateway_core::account::Secret;
use gateway_core::delivery::platform::{CallError, Disposition, PlatformError};
use gateway_core::delivery::ports::{TokenFetcher, WeChatApi, WeiboApi};
use gateway_core::delivery::wechat::{self, TokenGrant};
use gateway_core::delivery::weibo_comments::{self, CommentCall};
use gateway_core::delivery::{template, weibo};
use gateway_core::message::Channel;
use serde_json::Value;
use std::time::Duration;

/// Default WeChat API base URL.
pub const WECHAT_DEFAULT_BASE_URL: &str = "https://api.weixin.qq.com";
/// Default Weibo API base URL (the fan-service API: private replies).
pub const WEIBO_DEFAULT_BASE_URL: &str = "https://m.api.weibo.com";
/// Default Weibo open API base URL (comments: public replies).
pub const WEIBO_OPEN_API_DEFAULT_BASE_URL: &str = "https://api.weibo.com";

/// Which WeChat token API to use.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum TokenApi {
    /// `POST /cgi-bin/stable_token` (default): the same token while valid, isolated from other
    /// callers of the classic API, forced refreshes rate-limited by the platform.
    #[default]
    Stable,
    /// `GET /cgi-bin/token`: every call invalidates the previous token after ~5 minutes.
    Classic,
}

/// Why a client could not be built.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The HTTP client could not be built (TLS initialisation).
    #[error("cannot build the HTTP client")]
    Build(#[source] reqwest::Error),
}

/// Installs ring as the process's rustls provider, the one the SDK's client uses too. The
/// workspace's reqwest carries rustls without a provider of its own, so every reqwest client
/// must be built after this. Installing again does nothing (the provider already installed is
/// the one used).
pub fn install_crypto_provider() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

/// One HTTP client with the gateway's timeouts.
///
/// It trusts the roots of Mozilla's root program as compiled in (`webpki-root-certs`, about 150
/// roots, the same program Debian's and Amazon Linux's `ca-certificates` come from), not the AWS
/// roots the SDK clients are pinned to (`gateway_aws::sdk`): `api.weixin.qq.com` and
/// `m.api.weibo.com` chain to public CAs that are not AWS roots. Compiled in rather than read
/// from the system store: reqwest's platform verifier read the CA bundle and every file of the
/// certificate directory at each cold start, about 19 M instructions, three quarters of the
/// reply sender's init. The roots change with the crate (`cargo update`), not with the image;
/// `SSL_CERT_FILE`/`SSL_CERT_DIR` and `AWS_EXTRA_CA_FILE` do not apply.
pub fn http_client(timeout: Duration) -> Result<reqwest::Client, ClientError> {
    install_crypto_provider();
    reqwest::Client::builder()
        .tls_certs_only(public_roots())
        .connect_timeout(timeout.min(Duration::from_secs(3)))
        .timeout(timeout)
        .user_agent(concat!("channel-gateway/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(ClientError::Build)
}

/// The roots of Mozilla's root program (DER), as reqwest certificates.
pub(crate) fn public_roots() -> impl Iterator<Item = reqwest::Certificate> {
    webpki_root_certs::TLS_SERVER_ROOT_CERTS
        .iter()
        .filter_map(|der| reqwest::Certificate::from_der(der).ok())
}

pub(crate) fn trim_base(base: &str) -> String {
    base.trim_end_matches('/').to_string()
}

/// A transport error as a [`CallError`]: connection failures never reached the platform;
/// anything else (timeout, reset, unreadable answer) may have. The URL (which may carry a
/// token) is removed.
fn transport(e: reqwest::Error) -> CallError {
    let not_sent = e.is_connect() || e.is_builder();
    let e = e.without_url();
    if not_sent {
        CallError::NotSent(Box::new(e))
    } else {
        CallError::Uncertain(Box::new(e))
    }
}

/// An HTTP answer without the platform's envelope.
fn unexpected(channel: Channel, status: u16) -> CallError {
    match status {
        429 => CallError::Platform(PlatformError {
            channel,
            code: 429,
            message: "HTTP 429 Too Many Requests".into(),
            disposition: Disposition::Transient,
        }),
        500..=599 => CallError::uncertain(format!("{channel} answered HTTP {status}")),
        _ => CallError::Platform(PlatformError {
            channel,
            code: i64::from(status),
            message: format!("unexpected HTTP {status} without an error envelope"),
            disposition: Disposition::Permanent,
        }),
    }
}

async fn read(response: reqwest::Response) -> Result<(u16, String), CallError> {
    let status = response.status().as_u16();
    let text = response.text().await.map_err(transport)?;
    Ok((status, text))
}

/// The WeChat Official Account API.
#[derive(Debug, Clone)]
pub struct WeChatClient {
    pub(crate) http: reqwest::Client,
    pub(crate) base_url: String,
    token_api: TokenApi,
}

impl WeChatClient {
    /// Client for the API at `base_url`.
    pub fn new(http: reqwest::Client, base_url: &str, token_api: TokenApi) -> Self {
        WeChatClient {
            http,
            base_url: trim_base(base_url),
            token_api,
        }
    }

    async fn post_json(&self, path: &str, token: &Secret, body: &Value) -> Result<(), CallError> {
        let response = self
            .http
            .post(format!("{}{path}", self.base_url))
            .query(&[("access_token", token.expose())])
            .json(body)
            .send()
            .await
            .map_err(transport)?;
        let (status, text) = read(response).await?;
        match wechat::parse_answer(&text) {
            Some(Ok(())) => Ok(()),
            Some(Err(e)) => Err(CallError::Platform(e)),
            None => Err(unexpected(Channel::WeChat, status)),
        }
    }
}

#[async_trait]
impl WeChatApi for WeChatClient {
    async fn send_custom(&self, access_token: &Secret, body: &Value) -> Result<(), CallError> {
        self.post_json(wechat::CUSTOM_SEND_PATH, access_token, body)
            .await
    }

    async fn typing(&self, access_token: &Secret, body: &Value) -> Result<(), CallError> {
        self.post_json(wechat::TYPING_PATH, access_token, body)
            .await
    }

    async fn send_template(
        &self,
        access_token: &Secret,
        body: &Value,
    ) -> Result<String, CallError> {
        let response = self
            .http
            .post(format!("{}{}", self.base_url, template::TEMPLATE_SEND_PATH))
            .query(&[("access_token", access_token.expose())])
            .json(body)
            .send()
            .await
            .map_err(transport)?;
        let (status, text) = read(response).await?;
        match template::parse_send_answer(&text) {
            Some(Ok(msgid)) => Ok(msgid),
            Some(Err(e)) => Err(CallError::Platform(e)),
            None => Err(unexpected(Channel::WeChat, status)),
        }
    }
}

#[async_trait]
impl TokenFetcher for WeChatClient {
    async fn fetch(
        &self,
        app_id: &str,
        app_secret: &Secret,
        force_refresh: bool,
    ) -> Result<TokenGrant, CallError> {
        let request = match self.token_api {
            TokenApi::Stable => self
                .http
                .post(format!("{}{}", self.base_url, wechat::STABLE_TOKEN_PATH))
                .json(&wechat::stable_token_request(
                    app_id,
                    app_secret.expose(),
                    force_refresh,
                )),
            TokenApi::Classic => self
                .http
                .get(format!("{}{}", self.base_url, wechat::TOKEN_PATH))
                .query(&[
                    ("grant_type", "client_credential"),
                    ("appid", app_id),
                    ("secret", app_secret.expose()),
                ]),
        };
        let response = request.send().await.map_err(transport)?;
        let (status, text) = read(response).await?;
        match wechat::parse_token_answer(&text) {
            Some(Ok(grant)) => Ok(grant),
            Some(Err(e)) => Err(CallError::Platform(e)),
            None => Err(unexpected(Channel::WeChat, status)),
        }
    }
}

/// The Weibo fan-service reply API, and the open API's comment calls (public replies).
#[derive(Debug, Clone)]
pub struct WeiboClient {
    http: reqwest::Client,
    base_url: String,
    open_api_base_url: String,
}

impl WeiboClient {
    /// Client for the fan-service API at `base_url`, and the open API at its default
    /// ([`WEIBO_OPEN_API_DEFAULT_BASE_URL`]).
    pub fn new(http: reqwest::Client, base_url: &str) -> Self {
        WeiboClient {
            http,
            base_url: trim_base(base_url),
            open_api_base_url: trim_base(WEIBO_OPEN_API_DEFAULT_BASE_URL),
        }
    }

    /// The same client with the open API (comments) at `open_api_base_url`.
    pub fn with_open_api(mut self, open_api_base_url: &str) -> Self {
        self.open_api_base_url = trim_base(open_api_base_url);
        self
    }

    /// POSTs `fields` with the access token, form-encoded, to `url`: the HTTP status and body.
    async fn post_form(
        &self,
        url: String,
        access_token: &Secret,
        fields: &[(String, String)],
    ) -> Result<(u16, String), CallError> {
        let mut all = Vec::with_capacity(fields.len() + 1);
        all.push((
            "access_token".to_string(),
            access_token.expose().to_string(),
        ));
        all.extend_from_slice(fields);
        let response = self
            .http
            .post(url)
            .header(
                reqwest::header::CONTENT_TYPE,
                "application/x-www-form-urlencoded; charset=utf-8",
            )
            .body(weibo::encode_form(&all))
            .send()
            .await
            .map_err(transport)?;
        read(response).await
    }
}

#[async_trait]
impl WeiboApi for WeiboClient {
    async fn reply(
        &self,
        access_token: &Secret,
        fields: &[(String, String)],
    ) -> Result<(), CallError> {
        let url = format!("{}{}", self.base_url, weibo::REPLY_PATH);
        let (status, text) = self.post_form(url, access_token, fields).await?;
        match weibo::parse_answer(&text) {
            Some(Ok(())) if (200..300).contains(&status) => Ok(()),
            Some(Ok(())) => Err(unexpected(Channel::Weibo, status)),
            Some(Err(e)) => Err(CallError::Platform(e)),
            None => Err(unexpected(Channel::Weibo, status)),
        }
    }

    async fn comment(
        &self,
        access_token: &Secret,
        call: CommentCall,
        fields: &[(String, String)],
    ) -> Result<String, CallError> {
        let url = format!("{}{}", self.open_api_base_url, call.path());
        let (status, text) = self.post_form(url, access_token, fields).await?;
        match weibo_comments::parse_answer(&text) {
            Some(Ok(id)) if (200..300).contains(&status) => Ok(id),
            Some(Ok(_)) => Err(unexpected(Channel::Weibo, status)),
            Some(Err(e)) => Err(CallError::Platform(e)),
            // A 2xx answer without the comment's id: the comment may exist; never sent again.
            None if (200..300).contains(&status) => Err(CallError::uncertain(format!(
                "weibo answered HTTP {status} without the created comment"
            ))),
            None => Err(unexpected(Channel::Weibo, status)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_refused_connection_is_not_sent_and_never_shows_the_token() {
        // Port 9 (discard) on loopback is closed on any test machine.
        let client = WeChatClient::new(
            http_client(Duration::from_secs(2)).expect("client"),
            "http://127.0.0.1:9/",
            TokenApi::Stable,
        );
        let err = client
            .send_custom(&Secret::new("TOKEN-VALUE-123"), &serde_json::json!({}))
            .await
            .expect_err("refused");
        assert!(matches!(err, CallError::NotSent(_)), "{err:?}");
        let shown = format!("{err} {err:?}");
        assert!(!shown.contains("TOKEN-VALUE-123"), "{shown}");
    }

    #[test]
    fn the_platform_client_trusts_the_public_roots() {
        // Every root converts (reqwest would refuse to build the client otherwise) and the set
        // is the broad public one, not the five AWS roots.
        assert_eq!(
            public_roots().count(),
            webpki_root_certs::TLS_SERVER_ROOT_CERTS.len()
        );
        assert!(webpki_root_certs::TLS_SERVER_ROOT_CERTS.len() > 100);
        assert!(http_client(Duration::from_secs(2)).is_ok());
    }

    #[tokio::test]
    async fn a_public_reply_posts_the_form_to_comments_reply_and_answers_the_idstr() {
        let (url, request) = crate::upload::tests::server(
            r#"{"id":4900000000000999,"idstr":"4900000000000999","text":"ok"}"#,
        )
        .await;
        let client = WeiboClient::new(
            http_client(Duration::from_secs(5)).expect("client"),
            "http://127.0.0.1:9",
        )
        .with_open_api(&format!("{url}/"));
        let fields = vec![
            ("cid".to_string(), "4900000000000777".to_string()),
            ("id".to_string(), "4900000000000001".to_string()),
            ("comment".to_string(), "您好".to_string()),
        ];
        let id = client
            .comment(&Secret::new("TOK-9"), CommentCall::Reply, &fields)
            .await
            .expect("created");
        assert_eq!(id, "4900000000000999");
        let request = String::from_utf8(request.await.expect("request")).expect("utf-8");
        assert!(
            request.starts_with("POST /2/comments/reply.json HTTP/1.1"),
            "{request}"
        );
        assert!(
            request.ends_with(
                "access_token=TOK-9&cid=4900000000000777&id=4900000000000001&comment=%E6%82%A8%E5%A5%BD"
            ),
            "{request}"
        );
    }

    #[tokio::test]
    async fn a_refused_comment_keeps_its_code_and_never_shows_the_token() {
        let (url, _request) = crate::upload::tests::server(
            r#"{"request":"/2/comments/create.json","error_code":20101,"error":"Target weibo does not exist!"}"#,
        )
        .await;
        let client = WeiboClient::new(http_client(Duration::from_secs(5)).expect("client"), &url)
            .with_open_api(&url);
        let err = client
            .comment(&Secret::new("TOK-SECRET-7"), CommentCall::Create, &[])
            .await
            .expect_err("refused");
        let CallError::Platform(e) = &err else {
            panic!("{err:?}")
        };
        assert_eq!(e.code_label(), "weibo:20101");
        assert_eq!(e.disposition, Disposition::Permanent);
        let shown = format!("{err} {err:?}");
        assert!(!shown.contains("TOK-SECRET-7"), "{shown}");
    }

    #[test]
    fn unexpected_answers_are_classified() {
        assert!(matches!(
            unexpected(Channel::WeChat, 502),
            CallError::Uncertain(_)
        ));
        assert!(matches!(
            unexpected(Channel::Weibo, 429),
            CallError::Platform(PlatformError {
                disposition: Disposition::Transient,
                ..
            })
        ));
        assert!(matches!(
            unexpected(Channel::Weibo, 404),
            CallError::Platform(PlatformError {
                disposition: Disposition::Permanent,
                ..
            })
        ));
    }
}
