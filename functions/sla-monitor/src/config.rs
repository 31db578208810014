//! Configuration of `sla-monitor`.

use gateway_lambda::env::{ConfigError, EnvReader};
use std::time::Duration;

/// Everything `sla-monitor` reads from its environment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// `TABLE_NAME`: the conversations table (and the rules document in it).
    pub table_name: String,
    /// `TIMERS_QUEUE_URL`: the timers queue (standard; this function consumes it too).
    pub timers_queue_url: String,
    /// `ALERTS_TOPIC_ARN`: the topic escalations and breaches are published to.
    pub alerts_topic_arn: String,
    /// `SLA_BREACH_GRACE_SECS` (default 10): how long past an answer's due time the monitor
    /// waits before it records a breach, so that a reply delivered just in time and still
    /// being recorded is not taken for one.
    pub breach_grace: Duration,
    /// `RULES_CACHE_SECS` (default 30): how long the rules document is cached.
    pub rules_cache: Duration,
}

impl Config {
    /// Reads the configuration through `lookup`.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let mut r = EnvReader::new(&lookup);
        let table_name = r.required("TABLE_NAME");
        let timers_queue_url = r.required("TIMERS_QUEUE_URL");
        let alerts_topic_arn = r.required("ALERTS_TOPIC_ARN");
        let grace = r.number("SLA_BREACH_GRACE_SECS", 10, 0);
        let rules = r.number("RULES_CACHE_SECS", 30, 0);
        let secs = |n: i64| Duration::from_secs(u64::try_from(n).unwrap_or(0));
        r.finish(Config {
            table_name,
            timers_queue_url,
            alerts_topic_arn,
            breach_grace: secs(grace),
            rules_cache: secs(rules),
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
    fn defaults_and_every_missing_variable_at_once() {
        let c = Config::from_lookup(lookup_from(&[
            ("TABLE_NAME", "t"),
            ("TIMERS_QUEUE_URL", "q"),
            (
                "ALERTS_TOPIC_ARN",
                "arn:aws:sns:ap-east-1:123456789012:alerts",
            ),
        ]))
        .expect("valid");
        assert_eq!(c.breach_grace, Duration::from_secs(10));
        assert_eq!(c.rules_cache, Duration::from_secs(30));
        let err = Config::from_lookup(lookup_from(&[("SLA_BREACH_GRACE_SECS", "-1")]))
            .expect_err("invalid");
        assert_eq!(err.0.len(), 4, "{err}");
    }
}
