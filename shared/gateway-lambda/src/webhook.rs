//! HTTP edge of the channel webhooks: turns an API Gateway (HTTP API v2) or Function URL
//! request into an [`InboundRequest`], runs the shared [`WebhookService`], and maps its
//! [`HttpReply`] back, and the configuration and wiring the two webhook functions share. No
//! business logic here.

use crate::env::{ConfigError, EnvReader};
use gateway_aws::{SecretsManagerAccountDirectory, SqsMessagePublisher};
use gateway_core::Channel;
use gateway_core::channel::{HttpMethod, InboundRequest, Limits};
use gateway_core::webhook::{HttpReply, WebhookService};
use lambda_http::{Body, Request, RequestExt, Response, service_fn};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

/// The widest accepted timestamp window, either way, in seconds: a captured signed request
/// can be replayed within it (WeChat's plain signature does not cover the body).
pub const MAX_SKEW_SECS: i64 = 900;

/// Configuration the two webhook functions share.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebhookConfig {
    /// `QUEUE_URL`: the inbound FIFO queue.
    pub queue_url: String,
    /// `WEBHOOK_SECRET_ID`: name or ARN of the webhooks' accounts secret (verification keys only).
    pub accounts_secret_id: String,
    /// `ACCOUNTS_CACHE_SECS` (default 60): how long the accounts document is cached.
    pub accounts_cache: Duration,
    /// `MAX_CLOCK_SKEW_SECS` (default 300): accepted timestamp window, either way.
    pub max_clock_skew_secs: i64,
    /// `MAX_BODY_BYTES` (default 65536).
    pub max_body_bytes: usize,
    /// `AWS_ATTEMPT_TIMEOUT_MS` (default 800): one attempt of an AWS call.
    pub aws_attempt_timeout: Duration,
    /// `AWS_OPERATION_TIMEOUT_MS` (default 2000): an AWS call with its retries. A cold start
    /// makes at most two calls in sequence (accounts secret, then the queue), so the answer
    /// (503 if AWS is unreachable) stays inside the platforms' 5-second window.
    pub aws_operation_timeout: Duration,
}

impl WebhookConfig {
    /// Reads the shared variables through `r`.
    pub fn read<F: Fn(&str) -> Option<String>>(r: &mut EnvReader<'_, F>) -> Self {
        let queue_url = r.required("QUEUE_URL");
        let accounts_secret_id = r.required("WEBHOOK_SECRET_ID");
        let cache = r.number("ACCOUNTS_CACHE_SECS", 60, 0);
        let skew = r.number("MAX_CLOCK_SKEW_SECS", 300, 1);
        if skew > MAX_SKEW_SECS {
            r.problem(format!(
                "MAX_CLOCK_SKEW_SECS must be at most {MAX_SKEW_SECS} (a captured signed request is replayable for this long), got {skew}"
            ));
        }
        let body = r.number("MAX_BODY_BYTES", 64 * 1024, 1024);
        let attempt = r.number("AWS_ATTEMPT_TIMEOUT_MS", 800, 50);
        let operation = r.number("AWS_OPERATION_TIMEOUT_MS", 2_000, 100);
        if operation > 2_250 {
            r.problem(format!(
                "AWS_OPERATION_TIMEOUT_MS must let two calls fit the platforms' 5 s window (<= 2250), got {operation}"
            ));
        }
        let millis = |v: i64| Duration::from_millis(u64::try_from(v).unwrap_or(0));
        WebhookConfig {
            queue_url,
            accounts_secret_id,
            accounts_cache: Duration::from_secs(u64::try_from(cache).unwrap_or(0)),
            max_clock_skew_secs: skew,
            max_body_bytes: usize::try_from(body).unwrap_or(usize::MAX),
            aws_attempt_timeout: millis(attempt),
            aws_operation_timeout: millis(operation),
        }
    }

    /// Reads the configuration through `lookup` (a function with no variables of its own).
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let mut r = EnvReader::new(&lookup);
        let config = Self::read(&mut r);
        r.finish(config)
    }

    /// The SDK call timeouts these variables set.
    pub fn call_timeouts(&self) -> aws_config::timeout::TimeoutConfig {
        gateway_aws::sdk::call_timeouts(self.aws_attempt_timeout, self.aws_operation_timeout)
    }
}

/// The webhook service of `channel` over the AWS clients of `sdk`: the webhooks' accounts
/// secret (observed as `function`), the inbound queue, and the configured limits; no passive
/// replies (`wechat-webhook` adds them).
pub fn service(
    channel: Channel,
    function: &'static str,
    config: &WebhookConfig,
    sdk: &aws_config::SdkConfig,
) -> WebhookService {
    WebhookService {
        channel,
        accounts: Arc::new(
            SecretsManagerAccountDirectory::new(
                aws_sdk_secretsmanager::Client::new(sdk),
                config.accounts_secret_id.clone(),
                config.accounts_cache,
            )
            .for_role(gateway_core::account::AccountsRole::Webhook)
            .with_observer(crate::metrics::accounts_observer(function)),
        ),
        publisher: Arc::new(SqsMessagePublisher::new(
            aws_sdk_sqs::Client::new(sdk),
            config.queue_url.clone(),
        )),
        limits: Limits {
            max_body_bytes: config.max_body_bytes,
            max_clock_skew_secs: config.max_clock_skew_secs,
            ..Limits::default()
        },
        passive: None,
    }
}

/// Serves requests until the runtime stops: each is answered by [`handle_request`] at its
/// arrival time.
pub async fn serve(service: &WebhookService) -> Result<(), lambda_http::Error> {
    lambda_http::run(service_fn(move |request: Request| async move {
        Ok::<_, std::convert::Infallible>(handle_request(service, request, crate::now_ms()).await)
    }))
    .await
}

/// Handles one HTTP request as if it arrived at `received_at_ms`.
pub async fn handle_request(
    service: &WebhookService,
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
    to_response(service.handle(&inbound).await)
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
    use crate::env::lookup_from;
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
            passive: None,
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
                let response = handle_request(&svc, request, SAMPLE_TIME_MS).await;
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
        let response = handle_request(&svc, request, SAMPLE_TIME_MS).await;
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
        let response = handle_request(&svc, request, SAMPLE_TIME_MS + 301_000).await;
        assert_eq!(response.status(), 401);
        assert!(publisher.messages().is_empty());
    }

    #[test]
    fn webhook_config_reports_every_missing_variable_at_once() {
        let err = WebhookConfig::from_lookup(lookup_from(&[])).expect_err("missing");
        let text = err.to_string();
        assert!(text.contains("QUEUE_URL is required"), "{text}");
        assert!(text.contains("WEBHOOK_SECRET_ID is required"), "{text}");
    }

    #[test]
    fn webhook_config_defaults_and_overrides() {
        let c = WebhookConfig::from_lookup(lookup_from(&[
            ("QUEUE_URL", "q"),
            ("WEBHOOK_SECRET_ID", "s"),
            ("MAX_CLOCK_SKEW_SECS", "120"),
        ]))
        .expect("valid");
        assert_eq!(c.max_clock_skew_secs, 120);
        assert_eq!(c.max_body_bytes, 65536);
        assert_eq!(c.accounts_cache, Duration::from_secs(60));
        assert_eq!(c.aws_operation_timeout, Duration::from_millis(2_000));
    }

    #[test]
    fn refuses_aws_timeouts_that_would_outlast_the_platform_window() {
        let err = WebhookConfig::from_lookup(lookup_from(&[
            ("QUEUE_URL", "q"),
            ("WEBHOOK_SECRET_ID", "s"),
            ("AWS_OPERATION_TIMEOUT_MS", "3000"),
        ]))
        .expect_err("too long");
        assert!(err.to_string().contains("5 s window"), "{err}");
    }

    #[test]
    fn the_clock_window_is_bounded() {
        let with = |secs: &str| {
            WebhookConfig::from_lookup(lookup_from(&[
                ("QUEUE_URL", "q"),
                ("WEBHOOK_SECRET_ID", "s"),
                ("MAX_CLOCK_SKEW_SECS", secs),
            ]))
        };
        assert!(with("900").is_ok());
        let err = with("901").expect_err("too wide");
        assert!(err.to_string().contains("at most 900"), "{err}");
    }

    #[test]
    fn rejects_a_zero_clock_window_and_garbage_numbers() {
        let err = WebhookConfig::from_lookup(lookup_from(&[
            ("QUEUE_URL", "q"),
            ("WEBHOOK_SECRET_ID", "s"),
            ("MAX_CLOCK_SKEW_SECS", "0"),
            ("MAX_BODY_BYTES", "lots"),
        ]))
        .expect_err("invalid");
        assert_eq!(err.0.len(), 2, "{err}");
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
