//! Lambda glue shared by several functions, and nothing else: the environment reader
//! ([`env`]), the HTTP edge of the two channel webhooks ([`webhook`]), the SQS FIFO batch
//! driver of the queue consumers ([`sqs_batch`]), the CloudWatch embedded-metric writer
//! ([`metrics`]) and the rules bundled with the functions that apply them. Each function's
//! handler and configuration live in its own folder under `functions/`.

pub mod env;
pub mod metrics;
pub mod sqs_batch;
pub mod stream_batch;
pub mod webhook;

/// The rules shipped with `message-router`, `wechat-webhook` (passive replies) and
/// `stats-aggregator` (the accounts' time zones), in force until valid rules are pushed to the
/// table; parsed on first use (`gateway_aws::BundledRules`).
pub const BUNDLED_RULES: &str = include_str!("../../../config/rules.yaml");

/// Current time, Unix milliseconds.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}
