//! Configuration of `reply-api`.

use gateway_lambda::env::{ConfigError, EnvReader};
use gateway_lambda::webhook::MAX_SKEW_SECS;
use std::time::Duration;

/// Everything `reply-api` reads from its environment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// `OUTBOUND_QUEUE_URL`.
    pub outbound_queue_url: String,
    /// `TABLE_NAME`: conversations (existence check) and delivery records (status).
    pub table_name: String,
    /// `API_CLIENTS_SECRET_ID`: the reply API's accounts secret (API clients only).
    pub accounts_secret_id: String,
    /// `ACCOUNTS_CACHE_SECS` (default 60).
    pub accounts_cache: Duration,
    /// `REPLY_API_MAX_CLOCK_SKEW_SECS` (default 300): accepted signature timestamp window.
    pub max_clock_skew_secs: i64,
    /// `MAX_BODY_BYTES` (default 65536).
    pub max_body_bytes: usize,
    /// `REPLY_API_ACCEPT_V1` (default `true`): whether the deprecated `v1` signature is still
    /// taken for `POST /replies`.
    pub accept_v1: bool,
    /// `ACCOUNTS_MAX_STALE_SECS` (default 900): how long the last good API clients are
    /// honoured while the secret cannot be re-read (a revoked client stops working within it).
    pub accounts_max_stale: Duration,
}

impl Config {
    /// Reads the configuration through `lookup`.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let mut r = EnvReader::new(&lookup);
        let outbound_queue_url = r.required("OUTBOUND_QUEUE_URL");
        let table_name = r.required("TABLE_NAME");
        let accounts_secret_id = r.required("API_CLIENTS_SECRET_ID");
        let cache = r.number("ACCOUNTS_CACHE_SECS", 60, 0);
        let skew = r.number("REPLY_API_MAX_CLOCK_SKEW_SECS", 300, 1);
        if skew > MAX_SKEW_SECS {
            r.problem(format!(
                "REPLY_API_MAX_CLOCK_SKEW_SECS must be at most {MAX_SKEW_SECS}, got {skew}"
            ));
        }
        let body = r.number("MAX_BODY_BYTES", 64 * 1024, 1024);
        let accept_v1 = r.flag("REPLY_API_ACCEPT_V1", true);
        let max_stale = r.number("ACCOUNTS_MAX_STALE_SECS", 900, 1);
        r.finish(Config {
            outbound_queue_url,
            table_name,
            accounts_secret_id,
            accounts_cache: Duration::from_secs(u64::try_from(cache).unwrap_or(0)),
            max_clock_skew_secs: skew,
            max_body_bytes: usize::try_from(body).unwrap_or(usize::MAX),
            accept_v1,
            accounts_max_stale: Duration::from_secs(u64::try_from(max_stale).unwrap_or(900)),
        })
    }

    /// Reads the configuration from the process environment.
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|k| std::env::var(k).ok())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use gateway_lambda::env::lookup_from;

    #[test]
    fn config_requires_the_queue_table_and_secret() {
        let err = Config::from_lookup(|_| None).expect_err("missing");
        assert_eq!(err.0.len(), 3, "{err}");
    }

    #[test]
    fn the_signature_window_is_bounded_like_the_webhooks() {
        let base = [
            ("OUTBOUND_QUEUE_URL", "q"),
            ("TABLE_NAME", "t"),
            ("API_CLIENTS_SECRET_ID", "s"),
        ];
        let with = |skew: &str| {
            let mut pairs = base.to_vec();
            pairs.push(("REPLY_API_MAX_CLOCK_SKEW_SECS", skew));
            Config::from_lookup(lookup_from(&pairs))
        };
        assert!(with("900").is_ok());
        let err = with("901").expect_err("too wide");
        assert!(err.to_string().contains("at most 900"), "{err}");
    }
}
