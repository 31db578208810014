//! Shared SDK configuration, built once per cold start.

use aws_config::timeout::TimeoutConfig;
use aws_smithy_http_client::tls::{self, rustls_provider::CryptoMode};
use aws_smithy_runtime_api::client::http::SharedHttpClient;
use std::time::Duration;

/// The SDK clients' HTTPS client: hyper 1 and rustls on ring (the reply path's TLS too), with
/// the system trust store.
pub fn https_client() -> SharedHttpClient {
    aws_smithy_http_client::Builder::new()
        .tls_provider(tls::Provider::Rustls(CryptoMode::Ring))
        .build_https()
}

/// Loads the SDK configuration from the environment: region from `AWS_REGION`, credentials
/// from the Lambda role (or `AWS_ACCESS_KEY_ID`/`AWS_SECRET_ACCESS_KEY` locally), and the
/// standard endpoint override `AWS_ENDPOINT_URL` (or `AWS_ENDPOINT_URL_SQS`, …) that local runs
/// use to reach the emulator.
pub async fn load_sdk_config() -> aws_config::SdkConfig {
    aws_config::defaults(aws_config::BehaviorVersion::latest())
        .http_client(https_client())
        .load()
        .await
}

/// Bounded AWS calls: each attempt gets `attempt`, all retries together `operation`. The
/// webhooks use it because the platforms give up after 5 seconds (a slow or unreachable queue
/// must turn into a 503 and a platform retry well before that); the reply sender because its
/// worst case per reply is a sum of these bounds.
pub fn call_timeouts(attempt: Duration, operation: Duration) -> TimeoutConfig {
    TimeoutConfig::builder()
        .connect_timeout(attempt.min(Duration::from_millis(500)))
        .operation_attempt_timeout(attempt)
        .operation_timeout(operation)
        .build()
}

/// Timeouts of a queue consumer's AWS calls (router, reply sender): a hung dependency fails
/// the record quickly (it is reported for retry) instead of holding the whole batch until the
/// function times out.
pub fn consumer_timeouts() -> TimeoutConfig {
    TimeoutConfig::builder()
        .connect_timeout(Duration::from_secs(1))
        .operation_attempt_timeout(Duration::from_secs(3))
        .operation_timeout(Duration::from_secs(8))
        .build()
}

/// Like [`load_sdk_config`], with the given timeouts.
pub async fn load_sdk_config_with_timeouts(timeouts: TimeoutConfig) -> aws_config::SdkConfig {
    aws_config::defaults(aws_config::BehaviorVersion::latest())
        .http_client(https_client())
        .timeout_config(timeouts)
        .load()
        .await
}
