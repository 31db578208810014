//! The rules document in DynamoDB: item `PK=CONFIG, SK=RULES` of the conversations table,
//! written by `gatewayctl rules push` (validated before it is written) and read by the router
//! with a short cache.
//!
//! Deploying rules is a data change, not a code change. A stored document that fails
//! validation never goes live: the source keeps serving the last good rules (or the rules
//! bundled with the function when nothing valid was ever stored) and logs the problems.

use crate::error::port_error;
use async_trait::async_trait;
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::types::AttributeValue;
use gateway_core::ports::{PortError, RulesSource};
use gateway_core::rules::{RuleSet, RulesError};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::Mutex;

const PK: &str = "CONFIG";
const SK: &str = "RULES";

/// The stored document and its metadata.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredRules {
    /// The YAML text.
    pub document: String,
    /// Incremented by every push.
    pub version: u64,
}

/// Reads and writes the rules document item.
#[derive(Clone, Debug)]
pub struct DynamoDbRulesStore {
    client: Client,
    table: String,
}

impl DynamoDbRulesStore {
    /// Store over `table`.
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        DynamoDbRulesStore {
            client,
            table: table.into(),
        }
    }

    /// The stored document, if any.
    pub async fn get(&self) -> Result<Option<StoredRules>, PortError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .key("PK", AttributeValue::S(PK.into()))
            .key("SK", AttributeValue::S(SK.into()))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| port_error("dynamodb get_item (rules)", e))?;
        let Some(item) = out.item else {
            return Ok(None);
        };
        let document = item
            .get("document")
            .and_then(|v| v.as_s().ok())
            .cloned()
            .ok_or_else(|| PortError::permanent("read rules", "rules item has no document"))?;
        let version = item
            .get("version")
            .and_then(|v| v.as_n().ok())
            .and_then(|n| n.parse().ok())
            .unwrap_or(0);
        Ok(Some(StoredRules { document, version }))
    }

    /// Validates `document` and stores it as the next version. A document that fails
    /// validation is refused and nothing is written.
    pub async fn push(
        &self,
        document: &str,
        now_ms: i64,
    ) -> Result<Result<u64, RulesError>, PortError> {
        if let Err(e) = RuleSet::from_yaml(document) {
            return Ok(Err(e));
        }
        let out = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("PK", AttributeValue::S(PK.into()))
            .key("SK", AttributeValue::S(SK.into()))
            .update_expression("SET #d = :d, #u = :u, #e = :e ADD #v :one")
            .expression_attribute_names("#d", "document")
            .expression_attribute_names("#u", "updated_at_ms")
            .expression_attribute_names("#e", "entity")
            .expression_attribute_names("#v", "version")
            .expression_attribute_values(":d", AttributeValue::S(document.into()))
            .expression_attribute_values(":u", AttributeValue::N(now_ms.to_string()))
            .expression_attribute_values(":e", AttributeValue::S("rules".into()))
            .expression_attribute_values(":one", AttributeValue::N("1".into()))
            .return_values(aws_sdk_dynamodb::types::ReturnValue::UpdatedNew)
            .send()
            .await
            .map_err(|e| port_error("dynamodb update_item (rules)", e))?;
        let version = out
            .attributes()
            .and_then(|a| a.get("version"))
            .and_then(|v| v.as_n().ok())
            .and_then(|n| n.parse().ok())
            .unwrap_or(0);
        Ok(Ok(version))
    }
}

struct Cached {
    fetched: Instant,
    version: Option<u64>,
    rules: Arc<RuleSet>,
}

/// [`RulesSource`] over the stored document, cached for `ttl`, falling back to `bundled`.
pub struct DynamoDbRulesSource {
    store: DynamoDbRulesStore,
    ttl: Duration,
    bundled: Arc<RuleSet>,
    cache: Mutex<Option<Cached>>,
}

impl DynamoDbRulesSource {
    /// Source reading `store`, with `bundled` in force until a valid document is stored.
    pub fn new(store: DynamoDbRulesStore, ttl: Duration, bundled: Arc<RuleSet>) -> Self {
        DynamoDbRulesSource {
            store,
            ttl,
            bundled,
            cache: Mutex::new(None),
        }
    }
}

#[async_trait]
impl RulesSource for DynamoDbRulesSource {
    async fn rules(&self) -> Result<Arc<RuleSet>, PortError> {
        let mut cache = self.cache.lock().await;
        if let Some(c) = cache.as_ref()
            && c.fetched.elapsed() < self.ttl
        {
            return Ok(c.rules.clone());
        }
        let last_good = cache
            .as_ref()
            .map(|c| (c.version, c.rules.clone()))
            .unwrap_or((None, self.bundled.clone()));
        let (version, rules) = match self.store.get().await {
            Ok(None) => (None, self.bundled.clone()),
            Ok(Some(stored)) if Some(stored.version) == last_good.0 => last_good,
            Ok(Some(stored)) => match RuleSet::from_yaml(&stored.document) {
                Ok(rules) => {
                    tracing::info!(rules.version = stored.version, "rules loaded");
                    (Some(stored.version), Arc::new(rules))
                }
                Err(e) => {
                    tracing::error!(
                        rules.version = stored.version,
                        problems = %e,
                        "stored rules are invalid; keeping the last good rules"
                    );
                    last_good
                }
            },
            Err(e) => {
                tracing::error!(
                    error.message = %e,
                    error.cause_chain = ?e,
                    "could not read the rules; keeping the last good rules"
                );
                last_good
            }
        };
        *cache = Some(Cached {
            fetched: Instant::now(),
            version,
            rules: rules.clone(),
        });
        Ok(rules)
    }
}
