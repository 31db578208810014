//! Configuration of `stats-aggregator`.

use gateway_lambda::env::{ConfigError, EnvReader};
use std::time::Duration;

/// Everything `stats-aggregator` reads from its environment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// `TABLE_NAME`: the conversations table (its stream is the input; the daily records and
    /// the rules document are in it too).
    pub table_name: String,
    /// `EVENT_BUS_NAME`: the deployment's event bus, where each change's events are published
    /// (the templates always create it).
    pub event_bus_name: String,
    /// `RULES_CACHE_SECS` (default 30): how long the rules document (the accounts' time
    /// zones) is cached.
    pub rules_cache: Duration,
}

impl Config {
    /// Reads the configuration through `lookup`.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let mut r = EnvReader::new(&lookup);
        let table_name = r.required("TABLE_NAME");
        let event_bus_name = r.required("EVENT_BUS_NAME");
        let rules = r.number("RULES_CACHE_SECS", 30, 0);
        r.finish(Config {
            table_name,
            event_bus_name,
            rules_cache: Duration::from_secs(u64::try_from(rules).unwrap_or(0)),
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
    fn the_table_and_bus_are_required_and_the_rules_cache_defaults_to_30_seconds() {
        let c = Config::from_lookup(lookup_from(&[("TABLE_NAME", "t"), ("EVENT_BUS_NAME", "b")]))
            .expect("valid");
        assert_eq!(c.table_name, "t");
        assert_eq!(c.event_bus_name, "b");
        assert_eq!(c.rules_cache, Duration::from_secs(30));
        let c = Config::from_lookup(lookup_from(&[
            ("TABLE_NAME", "t"),
            ("EVENT_BUS_NAME", "b"),
            ("RULES_CACHE_SECS", "5"),
        ]))
        .expect("valid");
        assert_eq!(c.rules_cache, Duration::from_secs(5));
    }

    #[test]
    fn every_problem_is_reported_at_once() {
        let err =
            Config::from_lookup(lookup_from(&[("RULES_CACHE_SECS", "-1")])).expect_err("invalid");
        assert_eq!(err.0.len(), 3, "{err}");
    }
}
