//! Wiring of WeChat passive replies in the webhook function: where its rules come from and the
//! time budget for getting them.
//!
//! Rules: with `TABLE_NAME` set (the conversations table), the rules pushed to it
//! (`gatewayctl rules push`), cached for `RULES_CACHE_SECS` (default 30) with the bundled
//! `config/rules.yaml` as the fallback, exactly as the router reads them; without it, the
//! bundled rules. `PASSIVE_RULES_TIMEOUT_MS` (default 1000) bounds the wait for the rules, so a
//! slow table costs the passive reply (the push is acknowledged with `success`), never the
//! platform's 5-second window.

use async_trait::async_trait;
use gateway_aws::{BundledRules, DynamoDbRulesSource, DynamoDbRulesStore};
use gateway_core::ports::{PortError, RulesSource};
use gateway_core::rules::RuleSet;
use gateway_core::webhook::PassiveReplies;
use std::sync::Arc;
use std::time::Duration;

/// Gives up on the inner source after `budget`.
struct WithinBudget {
    inner: Arc<dyn RulesSource>,
    budget: Duration,
}

#[async_trait]
impl RulesSource for WithinBudget {
    async fn rules(&self) -> Result<Arc<RuleSet>, PortError> {
        match tokio::time::timeout(self.budget, self.inner.rules()).await {
            Ok(result) => result,
            Err(elapsed) => Err(PortError::transient(
                "rules within the passive budget",
                elapsed,
            )),
        }
    }
}

/// The passive replies of a WeChat webhook, configured from the environment through `lookup`.
pub fn from_lookup(
    lookup: impl Fn(&str) -> Option<String>,
    dynamodb: aws_sdk_dynamodb::Client,
) -> Result<PassiveReplies, lambda_http::Error> {
    let bundled = || BundledRules::from_yaml(crate::router::BUNDLED_RULES);
    let number = |name: &str, default: u64| -> Result<u64, lambda_http::Error> {
        match lookup(name).filter(|v| !v.trim().is_empty()) {
            None => Ok(default),
            Some(v) => v
                .trim()
                .parse()
                .map_err(|_| format!("{name} must be a non-negative integer, got `{v}`").into()),
        }
    };
    let cache = Duration::from_secs(number("RULES_CACHE_SECS", 30)?);
    let budget = Duration::from_millis(number("PASSIVE_RULES_TIMEOUT_MS", 1000)?);
    let inner: Arc<dyn RulesSource> = match lookup("TABLE_NAME").filter(|t| !t.trim().is_empty()) {
        Some(table) => Arc::new(DynamoDbRulesSource::new(
            DynamoDbRulesStore::new(dynamodb, table),
            cache,
            bundled(),
        )),
        None => Arc::new(bundled()),
    };
    Ok(PassiveReplies::new(Arc::new(WithinBudget {
        inner,
        budget,
    })))
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Slow;

    #[async_trait]
    impl RulesSource for Slow {
        async fn rules(&self) -> Result<Arc<RuleSet>, PortError> {
            tokio::time::sleep(Duration::from_secs(5)).await;
            Err(PortError::transient("slow", "never"))
        }
    }

    #[tokio::test]
    async fn a_slow_rules_source_is_cut_off_at_the_budget() {
        let source = WithinBudget {
            inner: Arc::new(Slow),
            budget: Duration::from_millis(20),
        };
        let started = std::time::Instant::now();
        assert!(source.rules().await.is_err());
        assert!(started.elapsed() < Duration::from_secs(1));
    }

    #[test]
    fn the_bundled_rules_serve_when_no_table_is_configured() {
        let client = || {
            aws_sdk_dynamodb::Client::from_conf(
                aws_sdk_dynamodb::Config::builder()
                    .behavior_version(aws_sdk_dynamodb::config::BehaviorVersion::latest())
                    .build(),
            )
        };
        assert!(from_lookup(|_| None, client()).is_ok());
        let bad = |k: &str| (k == "PASSIVE_RULES_TIMEOUT_MS").then(|| "soon".to_string());
        assert!(from_lookup(bad, client()).is_err());
    }
}
