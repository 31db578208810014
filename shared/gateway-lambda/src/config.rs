//! Typed configuration of each function, read from the environment variables that `infra/`
//! sets. Parsing takes a lookup function so tests never mutate the process environment.

use std::time::Duration;

/// Configuration error listing every missing or invalid variable at once.
#[derive(Debug, thiserror::Error)]
#[error("invalid configuration: {}", .0.join("; "))]
pub struct ConfigError(pub Vec<String>);

struct Reader<'a, F: Fn(&str) -> Option<String>> {
    lookup: &'a F,
    problems: Vec<String>,
}

impl<F: Fn(&str) -> Option<String>> Reader<'_, F> {
    fn required(&mut self, name: &str) -> String {
        match (self.lookup)(name).filter(|v| !v.trim().is_empty()) {
            Some(v) => v,
            None => {
                self.problems.push(format!("{name} is required"));
                String::new()
            }
        }
    }

    fn number(&mut self, name: &str, default: i64, min: i64) -> i64 {
        match (self.lookup)(name).filter(|v| !v.trim().is_empty()) {
            None => default,
            Some(v) => match v.trim().parse::<i64>() {
                Ok(n) if n >= min => n,
                _ => {
                    self.problems
                        .push(format!("{name} must be an integer >= {min}, got `{v}`"));
                    default
                }
            },
        }
    }

    fn finish<T>(self, value: T) -> Result<T, ConfigError> {
        if self.problems.is_empty() {
            Ok(value)
        } else {
            Err(ConfigError(self.problems))
        }
    }
}

/// The widest accepted timestamp window, either way, in seconds: a captured signed request
/// can be replayed within it (WeChat's plain signature does not cover the body).
pub const MAX_SKEW_SECS: i64 = 900;

/// Configuration of a channel webhook function.
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
    /// Reads the configuration through `lookup`.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let mut r = Reader {
            lookup: &lookup,
            problems: Vec::new(),
        };
        let queue_url = r.required("QUEUE_URL");
        let accounts_secret_id = r.required("WEBHOOK_SECRET_ID");
        let cache = r.number("ACCOUNTS_CACHE_SECS", 60, 0);
        let skew = r.number("MAX_CLOCK_SKEW_SECS", 300, 1);
        if skew > MAX_SKEW_SECS {
            r.problems.push(format!(
                "MAX_CLOCK_SKEW_SECS must be at most {MAX_SKEW_SECS} (a captured signed request is replayable for this long), got {skew}"
            ));
        }
        let body = r.number("MAX_BODY_BYTES", 64 * 1024, 1024);
        let attempt = r.number("AWS_ATTEMPT_TIMEOUT_MS", 800, 50);
        let operation = r.number("AWS_OPERATION_TIMEOUT_MS", 2_000, 100);
        if operation > 2_250 {
            r.problems.push(format!(
                "AWS_OPERATION_TIMEOUT_MS must let two calls fit the platforms' 5 s window (<= 2250), got {operation}"
            ));
        }
        r.finish(WebhookConfig {
            queue_url,
            accounts_secret_id,
            accounts_cache: Duration::from_secs(cache as u64),
            max_clock_skew_secs: skew,
            max_body_bytes: body as usize,
            aws_attempt_timeout: Duration::from_millis(attempt as u64),
            aws_operation_timeout: Duration::from_millis(operation as u64),
        })
    }

    /// Reads the configuration from the process environment.
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|k| std::env::var(k).ok())
    }
}

/// Configuration of the router function.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RouterConfig {
    /// `TABLE_NAME`: the conversations table.
    pub table_name: String,
    /// `DEAD_LETTER_QUEUE_URL`: where undecodable records are moved.
    pub dead_letter_queue_url: String,
    /// `OUTBOUND_QUEUE_URL`: where auto-replies are queued for the reply sender.
    pub outbound_queue_url: String,
    /// `MESSAGE_TTL_DAYS` (default 90; 0 keeps messages forever).
    pub message_ttl_days: i64,
    /// `RULES_CACHE_SECS` (default 30): how long the rules document is cached.
    pub rules_cache: Duration,
}

impl RouterConfig {
    /// Reads the configuration through `lookup`.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let mut r = Reader {
            lookup: &lookup,
            problems: Vec::new(),
        };
        let table_name = r.required("TABLE_NAME");
        let dead_letter_queue_url = r.required("DEAD_LETTER_QUEUE_URL");
        let outbound_queue_url = r.required("OUTBOUND_QUEUE_URL");
        let ttl = r.number("MESSAGE_TTL_DAYS", 90, 0);
        let rules = r.number("RULES_CACHE_SECS", 30, 0);
        r.finish(RouterConfig {
            table_name,
            dead_letter_queue_url,
            outbound_queue_url,
            message_ttl_days: ttl,
            rules_cache: Duration::from_secs(rules as u64),
        })
    }

    /// Reads the configuration from the process environment.
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|k| std::env::var(k).ok())
    }

    /// Message TTL in seconds, `None` when messages are kept forever.
    pub fn message_ttl_secs(&self) -> Option<i64> {
        (self.message_ttl_days > 0).then(|| self.message_ttl_days * 86_400)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn env(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |k| map.get(k).cloned()
    }

    #[test]
    fn webhook_config_reports_every_missing_variable_at_once() {
        let err = WebhookConfig::from_lookup(env(&[])).expect_err("missing");
        let text = err.to_string();
        assert!(text.contains("QUEUE_URL is required"), "{text}");
        assert!(text.contains("WEBHOOK_SECRET_ID is required"), "{text}");
    }

    #[test]
    fn webhook_config_defaults_and_overrides() {
        let c = WebhookConfig::from_lookup(env(&[
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
        let err = WebhookConfig::from_lookup(env(&[
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
            WebhookConfig::from_lookup(env(&[
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
        let err = WebhookConfig::from_lookup(env(&[
            ("QUEUE_URL", "q"),
            ("WEBHOOK_SECRET_ID", "s"),
            ("MAX_CLOCK_SKEW_SECS", "0"),
            ("MAX_BODY_BYTES", "lots"),
        ]))
        .expect_err("invalid");
        assert_eq!(err.0.len(), 2, "{err}");
    }

    #[test]
    fn router_config_ttl_zero_means_keep_forever() {
        let c = RouterConfig::from_lookup(env(&[
            ("TABLE_NAME", "t"),
            ("DEAD_LETTER_QUEUE_URL", "d"),
            ("OUTBOUND_QUEUE_URL", "o"),
            ("MESSAGE_TTL_DAYS", "0"),
        ]))
        .expect("valid");
        assert_eq!(c.message_ttl_secs(), None);
    }
}
