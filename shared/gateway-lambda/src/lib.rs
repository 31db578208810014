//! Lambda glue shared by the functions: configuration from the environment, the HTTP edge of
//! the channel webhooks, and the SQS batch driver of the router. Each function's `main` is a
//! one-line call into this crate.

pub mod config;
pub mod metrics;
pub mod passive;
pub mod reply_api;
pub mod reply_sender;
pub mod router;
pub mod sqs_batch;
pub mod webhook;

/// Current time, Unix milliseconds.
pub(crate) fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}
