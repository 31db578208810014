//! Configuration of `webhook-sender`, and the longest one record can take
//! ([`worst_case_record`]), which decides when a record is still started.

use crate::handler::Settings;
use gateway_lambda::env::{ConfigError, EnvReader, read_retries};
use std::time::Duration;

/// The longest one record can take, every call at its timeout (`post`: one POST to a
/// receiver, answer included; `aws`: one AWS call with its retries): the accounts secret,
/// then the POST or the fan-out, then a dead letter or the retry backoff. 3 aws + 1 post:
/// with the defaults (4 s, 5 s) 17 s, well under the function's timeout (60 s in the
/// templates).
pub fn worst_case_record(post: Duration, aws: Duration) -> Duration {
    aws * 3 + post
}

/// Slack added to the worst case before a record is started.
pub const MARGIN_SLACK: Duration = Duration::from_secs(2);

/// Everything `webhook-sender` reads from its environment.
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    /// `WEBHOOK_QUEUE_URL`: the queue this function consumes (fan-out, retry backoff).
    pub queue_url: String,
    /// `WEBHOOK_DEAD_LETTER_QUEUE_URL`: where deliveries go with the reason they failed.
    pub dead_letter_queue_url: String,
    /// `WEBHOOK_TARGETS_SECRET_ID`: the webhook targets role's accounts secret (webhooks and
    /// scopes only).
    pub targets_secret_id: String,
    /// `ACCOUNTS_CACHE_SECS` (default 60).
    pub accounts_cache: Duration,
    /// `WEBHOOK_TIMEOUT_SECS` (default 5): one POST, connection and answer included.
    pub webhook_timeout: Duration,
    /// `AWS_OPERATION_TIMEOUT_MS` (default 4000).
    pub aws_operation_timeout: Duration,
    /// `WEBHOOK_MAX_ATTEMPTS` (default 6): attempts of one delivery before a transient
    /// failure dead-letters it with the reason.
    pub max_attempts: u32,
    /// `RETRY_BASE_SECS` (default 10) and `RETRY_MAX_SECS` (default 600): backoff.
    pub retry_base_secs: u32,
    /// See `retry_base_secs`.
    pub retry_max_secs: u32,
}

impl Config {
    /// Reads the configuration through `lookup`.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let mut r = EnvReader::new(&lookup);
        let queue_url = r.required("WEBHOOK_QUEUE_URL");
        let dead_letter_queue_url = r.required("WEBHOOK_DEAD_LETTER_QUEUE_URL");
        let targets_secret_id = r.required("WEBHOOK_TARGETS_SECRET_ID");
        let accounts_cache = r.number("ACCOUNTS_CACHE_SECS", 60, 0);
        let timeout = r.number("WEBHOOK_TIMEOUT_SECS", 5, 1);
        let aws_ms = r.number("AWS_OPERATION_TIMEOUT_MS", 4000, 100);
        let retries = read_retries(&mut r, "WEBHOOK_MAX_ATTEMPTS", 6, 600);
        let secs = |v: i64| Duration::from_secs(u64::try_from(v).unwrap_or(0));
        r.finish(Config {
            queue_url,
            dead_letter_queue_url,
            targets_secret_id,
            accounts_cache: secs(accounts_cache),
            webhook_timeout: secs(timeout),
            aws_operation_timeout: Duration::from_millis(u64::try_from(aws_ms).unwrap_or(4000)),
            max_attempts: retries.max_attempts,
            retry_base_secs: retries.base_secs,
            retry_max_secs: retries.max_secs,
        })
    }

    /// Reads the configuration from the process environment.
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|k| std::env::var(k).ok())
    }

    /// Attempts and backoff.
    pub fn settings(&self) -> Settings {
        Settings {
            max_attempts: self.max_attempts,
            retry_base_secs: self.retry_base_secs,
            retry_max_secs: self.retry_max_secs,
        }
    }

    /// Records are started only with at least this much of the invocation left.
    pub fn start_margin(&self) -> Duration {
        worst_case_record(self.webhook_timeout, self.aws_operation_timeout) + MARGIN_SLACK
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use gateway_lambda::env::lookup_from;

    const REQUIRED: [(&str, &str); 3] = [
        ("WEBHOOK_QUEUE_URL", "q"),
        ("WEBHOOK_DEAD_LETTER_QUEUE_URL", "d"),
        ("WEBHOOK_TARGETS_SECRET_ID", "s"),
    ];

    #[test]
    fn defaults_and_the_worst_case_under_the_function_timeout() {
        let c = Config::from_lookup(lookup_from(&REQUIRED)).expect("valid");
        assert_eq!(c.webhook_timeout, Duration::from_secs(5));
        assert_eq!(c.max_attempts, 6);
        assert_eq!((c.retry_base_secs, c.retry_max_secs), (10, 600));
        // 3 × 4 s + 5 s + 2 s: the templates give the function 60 s.
        assert_eq!(c.start_margin(), Duration::from_secs(19));
        assert!(c.start_margin() < Duration::from_secs(60));
    }

    #[test]
    fn every_problem_is_reported_at_once() {
        let err = Config::from_lookup(lookup_from(&[
            ("WEBHOOK_MAX_ATTEMPTS", "1000"),
            ("RETRY_MAX_SECS", "50000"),
            ("WEBHOOK_TIMEOUT_SECS", "0"),
        ]))
        .expect_err("invalid");
        // Three missing variables, the attempt limit, the backoff cap, the timeout.
        assert_eq!(err.0.len(), 6, "{err}");
    }
}
