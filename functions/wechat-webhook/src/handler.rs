//! What `wechat-webhook` adds to the webhook edge both channels share
//! (`gateway_lambda::webhook`): passive replies. WeChat accounts in passive reply mode are
//! answered in the HTTP response itself with the stateless auto-replies, from the rules the
//! router uses (pushed to the table, cached; the bundled `config/rules.yaml` until some are).
//! The wait for the rules is bounded, so a slow table costs the passive reply (the push is
//! acknowledged with `success`), never the platform's 5-second window.

use crate::config::PassiveConfig;
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

/// The passive replies of this function (a DynamoDB client is made only when there is a table
/// to read the rules from).
pub fn passive_replies(config: &PassiveConfig, sdk: &aws_config::SdkConfig) -> PassiveReplies {
    let bundled = || BundledRules::from_yaml(gateway_lambda::BUNDLED_RULES);
    let inner: Arc<dyn RulesSource> = match &config.table_name {
        Some(table) => Arc::new(DynamoDbRulesSource::new(
            DynamoDbRulesStore::new(aws_sdk_dynamodb::Client::new(sdk), table),
            config.rules_cache,
            bundled(),
        )),
        None => Arc::new(bundled()),
    };
    PassiveReplies::new(Arc::new(WithinBudget {
        inner,
        budget: config.rules_budget,
    }))
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
}
