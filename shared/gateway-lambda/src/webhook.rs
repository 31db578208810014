//! HTTP edge of the channel webhooks: turns an API Gateway (HTTP API v2) or Function URL
//! request into an [`InboundRequest`], runs the shared [`WebhookService`], and maps its
//! [`HttpReply`] back. No business logic here.

use crate::config::WebhookConfig;
use gateway_aws::sdk::{call_timeouts, load_sdk_config_with_timeouts};
use gateway_aws::{SecretsManagerAccountDirectory, SqsMessagePublisher};
use gateway_core::Channel;
use gateway_core::channel::{HttpMethod, InboundRequest, Limits};
use gateway_core::webhook::{HttpReply, PassiveReplies, WebhookService};
use lambda_http::{Body, Request, RequestExt, Response, service_fn};
use std::collections::BTreeMap;
use std::sync::Arc;

/// Cold start of a webhook function: config, SDK clients, then serve requests.
pub async fn run(channel: Channel) -> Result<(), lambda_http::Error> {
    lambda_http::tracing::init_default_subscriber();
    let config = WebhookConfig::from_env()?;
    let sdk = load_sdk_config_with_timeouts(call_timeouts(
        config.aws_attempt_timeout,
        config.aws_operation_timeout,
    ))
    .await?;
    let service = WebhookService {
        channel,
        accounts: Arc::new(
            SecretsManagerAccountDirectory::new(
                aws_sdk_secretsmanager::Client::new(&sdk),
                config.accounts_secret_id.clone(),
                config.accounts_cache,
            )
            .for_role(gateway_core::account::AccountsRole::Webhook)
            .with_observer(crate::metrics::accounts_observer(match channel {
                Channel::WeChat => "wechat-webhook",
                Channel::Weibo => "weibo-webhook",
            })),
        ),
        publisher: Arc::new(SqsMessagePublisher::new(
            aws_sdk_sqs::Client::new(&sdk),
            config.queue_url.clone(),
        )),
        limits: Limits {
            max_body_bytes: config.max_body_bytes,
            max_clock_skew_secs: config.max_clock_skew_secs,
            ..Limits::default()
        },
    };
    // WeChat accounts in passive reply mode answer stateless auto-replies in the response.
    let passive = match channel {
        Channel::WeChat => Some(crate::passive::from_lookup(
            |k| std::env::var(k).ok(),
            aws_sdk_dynamodb::Client::new(&sdk),
        )?),
        Channel::Weibo => None,
    };
    let service = &service;
    let passive = passive.as_ref();
    lambda_http::run(service_fn(move |request: Request| async move {
        Ok::<_, std::convert::Infallible>(
            handle_request_with(service, passive, request, crate::now_ms()).await,
        )
    }))
    .await
}

/// Handles one HTTP request.
pub async fn handle_request(service: &WebhookService, request: Request) -> Response<Body> {
    handle_request_at(service, request, crate::now_ms()).await
}

/// Handles one HTTP request as if it arrived at `received_at_ms`.
pub async fn handle_request_at(
    service: &WebhookService,
    request: Request,
    received_at_ms: i64,
) -> Response<Body> {
    handle_request_with(service, None, request, received_at_ms).await
}

/// Handles one HTTP request as if it arrived at `received_at_ms`, answering passive-mode
/// WeChat accounts with a passive reply when `passive` is given.
pub async fn handle_request_with(
    service: &WebhookService,
    passive: Option<&PassiveReplies>,
    request: Request,
    received_at_ms: i64,
) -> Response<Body> {
    let method = match *request.method() {
        lambda_http::http::Method::GET => HttpMethod::Get,
        lambda_http::http::Method::POST => HttpMethod::Post,
        _ => HttpMethod::Other,
    };
    let account = account_from_request(&request, service.channel);
    let query: BTreeMap<String, String> = request
        .query_string_parameters_ref()
        .map(|q| {
            q.iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect()
        })
        .unwrap_or_default();
    let body: &[u8] = match request.body() {
        Body::Empty => &[],
        Body::Text(t) => t.as_bytes(),
        Body::Binary(b) => b,
        _ => &[],
    };
    let inbound = InboundRequest {
        method,
        account_id: &account,
        query: &query,
        body,
        received_at_ms,
    };
    to_response(service.handle_with(&inbound, passive).await)
}

/// The account named by the request: the `{account}` path parameter (API Gateway), else the
/// path segment after the channel name (`/wechat/{account}`; also behind the local Function
/// URL prefix `/lambda-url/<function>/…`).
pub fn account_from_request(request: &Request, channel: Channel) -> String {
    if let Some(account) = request
        .path_parameters_ref()
        .and_then(|p| p.first("account"))
    {
        return account.to_string();
    }
    account_from_path(request.uri().path(), channel)
}

fn account_from_path(path: &str, channel: Channel) -> String {
    let segments: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
    segments
        .iter()
        .rposition(|s| *s == channel.as_str())
        .and_then(|i| segments.get(i + 1))
        .map(|s| s.to_string())
        .unwrap_or_default()
}

fn to_response(reply: HttpReply) -> Response<Body> {
    let body = if reply.body.is_empty() {
        Body::Empty
    } else {
        Body::Text(reply.body)
    };
    let mut response = Response::new(body);
    *response.status_mut() = lambda_http::http::StatusCode::from_u16(reply.status)
        .unwrap_or(lambda_http::http::StatusCode::INTERNAL_SERVER_ERROR);
    response.headers_mut().insert(
        lambda_http::http::header::CONTENT_TYPE,
        lambda_http::http::HeaderValue::from_static(reply.content_type),
    );
    response
}

#[cfg(test)]
mod tests {
    use super::*;
    use gateway_core::account::AccountsDocument;
    use gateway_core::testing::{RecordingPublisher, StaticAccounts};
    use std::path::{Path, PathBuf};

    /// `SAMPLE_TIMESTAMP` of `gatewayctl events generate`.
    const SAMPLE_TIME_MS: i64 = 1_795_038_400_000;

    fn repo() -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
    }

    fn service(channel: Channel, publisher: Arc<RecordingPublisher>) -> WebhookService {
        let accounts =
            std::fs::read_to_string(repo().join("config/accounts.local.json")).expect("accounts");
        WebhookService {
            channel,
            accounts: Arc::new(StaticAccounts(Arc::new(
                AccountsDocument::from_json(&accounts).expect("valid"),
            ))),
            publisher,
            limits: Limits::default(),
        }
    }

    fn samples(dir: &str) -> Vec<PathBuf> {
        let mut out = Vec::new();
        let mut stack = vec![repo().join(dir)];
        while let Some(d) = stack.pop() {
            for e in std::fs::read_dir(&d).expect("dir") {
                let p = e.expect("entry").path();
                if p.is_dir() {
                    stack.push(p);
                } else if p.to_string_lossy().ends_with(".apigw-v2.json") {
                    out.push(p);
                }
            }
        }
        out.sort();
        out
    }

    #[tokio::test]
    async fn every_sample_event_is_accepted_by_the_http_edge() {
        for (dir, channel, ack) in [
            ("events/wechat", Channel::WeChat, "success"),
            ("events/weibo", Channel::Weibo, ""),
        ] {
            let files = samples(dir);
            assert!(files.len() >= 20, "{dir}: {} samples", files.len());
            for file in files {
                let publisher = Arc::new(RecordingPublisher::default());
                let svc = service(channel, publisher.clone());
                let text = std::fs::read_to_string(&file).expect("read");
                let request = lambda_http::request::from_str(&text).expect("API Gateway v2 event");
                let is_get = request.method() == lambda_http::http::Method::GET;
                let response = handle_request_at(&svc, request, SAMPLE_TIME_MS).await;
                assert_eq!(response.status(), 200, "{}", file.display());
                let body = match response.body() {
                    Body::Text(t) => t.clone(),
                    _ => String::new(),
                };
                if is_get {
                    assert!(!body.is_empty(), "{}: echo", file.display());
                    assert!(publisher.messages().is_empty());
                } else {
                    assert_eq!(body, ack, "{}", file.display());
                    assert_eq!(publisher.messages().len(), 1, "{}", file.display());
                }
            }
        }
    }

    #[tokio::test]
    async fn a_failing_queue_answers_503_so_the_platform_retries() {
        let publisher = Arc::new(RecordingPublisher::default());
        publisher.set_failing(true);
        let svc = service(Channel::WeChat, publisher.clone());
        let text =
            std::fs::read_to_string(repo().join("events/wechat/plaintext/text.apigw-v2.json"))
                .expect("read");
        let request = lambda_http::request::from_str(&text).expect("event");
        let response = handle_request_at(&svc, request, SAMPLE_TIME_MS).await;
        assert_eq!(response.status(), 503);
    }

    #[tokio::test]
    async fn samples_are_stale_outside_the_clock_window() {
        let publisher = Arc::new(RecordingPublisher::default());
        let svc = service(Channel::WeChat, publisher.clone());
        let text =
            std::fs::read_to_string(repo().join("events/wechat/plaintext/text.apigw-v2.json"))
                .expect("read");
        let request = lambda_http::request::from_str(&text).expect("event");
        let response = handle_request_at(&svc, request, SAMPLE_TIME_MS + 301_000).await;
        assert_eq!(response.status(), 401);
        assert!(publisher.messages().is_empty());
    }

    #[test]
    fn account_is_the_segment_after_the_channel() {
        assert_eq!(account_from_path("/wechat/demo", Channel::WeChat), "demo");
        assert_eq!(
            account_from_path("/lambda-url/wechat-webhook/wechat/demo", Channel::WeChat),
            "demo"
        );
        assert_eq!(
            account_from_path("/prod/weibo/brand/", Channel::Weibo),
            "brand"
        );
        assert_eq!(account_from_path("/wechat", Channel::WeChat), "");
        assert_eq!(account_from_path("/weibo/brand", Channel::WeChat), "");
    }
}
