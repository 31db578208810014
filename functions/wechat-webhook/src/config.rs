//! Configuration of `wechat-webhook`: the variables both webhooks read
//! ([`WebhookConfig`]), and where passive replies get their rules.

use gateway_lambda::env::{ConfigError, EnvReader};
use gateway_lambda::webhook::WebhookConfig;
use std::time::Duration;

/// Everything `wechat-webhook` reads from its environment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// Queue, accounts secret, limits, AWS timeouts.
    pub webhook: WebhookConfig,
    /// Rules of passive replies.
    pub passive: PassiveConfig,
}

/// Where passive replies (WeChat accounts in passive reply mode) get their rules.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PassiveConfig {
    /// `TABLE_NAME` (optional): the conversations table, whose rules (`gatewayctl rules push`)
    /// serve as the router's do; without it, the rules bundled with the function.
    pub table_name: Option<String>,
    /// `RULES_CACHE_SECS` (default 30).
    pub rules_cache: Duration,
    /// `PASSIVE_RULES_TIMEOUT_MS` (default 1000): the longest wait for the rules; past it the
    /// push is acknowledged with `success` and no passive reply, never late.
    pub rules_budget: Duration,
}

impl Config {
    /// Reads the configuration through `lookup`.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let mut r = EnvReader::new(&lookup);
        let webhook = WebhookConfig::read(&mut r);
        let table_name = r.get("TABLE_NAME").map(|t| t.trim().to_string());
        let cache = r.number("RULES_CACHE_SECS", 30, 0);
        let budget = r.number("PASSIVE_RULES_TIMEOUT_MS", 1000, 0);
        let passive = PassiveConfig {
            table_name,
            rules_cache: Duration::from_secs(u64::try_from(cache).unwrap_or(0)),
            rules_budget: Duration::from_millis(u64::try_from(budget).unwrap_or(0)),
        };
        r.finish(Config { webhook, passive })
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

    const REQUIRED: [(&str, &str); 2] = [("QUEUE_URL", "q"), ("WEBHOOK_SECRET_ID", "s")];

    #[test]
    fn passive_rules_default_to_the_bundled_ones_within_a_second() {
        let c = Config::from_lookup(lookup_from(&REQUIRED)).expect("valid");
        assert_eq!(c.passive.table_name, None);
        assert_eq!(c.passive.rules_cache, Duration::from_secs(30));
        assert_eq!(c.passive.rules_budget, Duration::from_millis(1000));
    }

    #[test]
    fn every_problem_of_both_parts_is_reported_at_once() {
        let err = Config::from_lookup(lookup_from(&[("PASSIVE_RULES_TIMEOUT_MS", "soon")]))
            .expect_err("invalid");
        let text = err.to_string();
        assert!(text.contains("QUEUE_URL is required"), "{text}");
        assert!(text.contains("PASSIVE_RULES_TIMEOUT_MS must be"), "{text}");
    }
}
