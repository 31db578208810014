//! Configuration of `message-router`.

use gateway_lambda::env::{ConfigError, EnvReader};
use std::time::Duration;

/// Everything `message-router` reads from its environment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// `TABLE_NAME`: the conversations table.
    pub table_name: String,
    /// `DEAD_LETTER_QUEUE_URL`: where undecodable records are moved.
    pub dead_letter_queue_url: String,
    /// `OUTBOUND_QUEUE_URL`: where auto-replies are queued for the reply sender.
    pub outbound_queue_url: String,
    /// `MEDIA_QUEUE_URL`: where media fetch commands are queued for the media-fetcher.
    pub media_queue_url: String,
    /// `MESSAGE_TTL_DAYS` (default 90; 0 keeps messages forever).
    pub message_ttl_days: i64,
    /// `RULES_CACHE_SECS` (default 30): how long the rules document is cached.
    pub rules_cache: Duration,
    /// `PROFILE_REFRESH_SECS` (default 604800, 7 days; at least 60): a cached customer profile
    /// at least this old is fetched again on the customer's next message.
    pub profile_refresh: Duration,
}

impl Config {
    /// Reads the configuration through `lookup`.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let mut r = EnvReader::new(&lookup);
        let table_name = r.required("TABLE_NAME");
        let dead_letter_queue_url = r.required("DEAD_LETTER_QUEUE_URL");
        let outbound_queue_url = r.required("OUTBOUND_QUEUE_URL");
        let media_queue_url = r.required("MEDIA_QUEUE_URL");
        let ttl = r.number("MESSAGE_TTL_DAYS", 90, 0);
        let rules = r.number("RULES_CACHE_SECS", 30, 0);
        let refresh = r.number(
            "PROFILE_REFRESH_SECS",
            gateway_core::profile::DEFAULT_PROFILE_REFRESH_SECS,
            60,
        );
        r.finish(Config {
            table_name,
            dead_letter_queue_url,
            outbound_queue_url,
            media_queue_url,
            message_ttl_days: ttl,
            rules_cache: Duration::from_secs(u64::try_from(rules).unwrap_or(0)),
            profile_refresh: Duration::from_secs(u64::try_from(refresh).unwrap_or(0)),
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
    use gateway_lambda::env::lookup_from;

    #[test]
    fn ttl_zero_means_keep_forever() {
        let c = Config::from_lookup(lookup_from(&[
            ("TABLE_NAME", "t"),
            ("DEAD_LETTER_QUEUE_URL", "d"),
            ("OUTBOUND_QUEUE_URL", "o"),
            ("MEDIA_QUEUE_URL", "m"),
            ("MESSAGE_TTL_DAYS", "0"),
        ]))
        .expect("valid");
        assert_eq!(c.message_ttl_secs(), None);
        assert_eq!(c.rules_cache, Duration::from_secs(30));
        assert_eq!(c.profile_refresh, Duration::from_secs(7 * 86_400));
    }

    #[test]
    fn every_missing_variable_is_reported_at_once() {
        let err = Config::from_lookup(lookup_from(&[
            ("RULES_CACHE_SECS", "-1"),
            ("PROFILE_REFRESH_SECS", "59"),
        ]))
        .expect_err("invalid");
        assert_eq!(err.0.len(), 6, "{err}");
    }
}
