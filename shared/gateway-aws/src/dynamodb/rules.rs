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
use std::sync::{Arc, OnceLock};
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

/// The rules shipped in a function's binary (`config/rules.yaml`), in force until valid rules
/// are stored. Built from the YAML text, they are parsed on first use, not at cold start: with
/// rules pushed to the table (`gatewayctl rules push`) they are never parsed at all. The
/// shipped file is validated by the test suite, so the parse cannot fail in a tested build; if
/// it did, every call reports it as a permanent error.
pub struct BundledRules {
    yaml: &'static str,
    parsed: OnceLock<Result<Arc<RuleSet>, String>>,
}

impl BundledRules {
    /// Rules to be parsed from `yaml` when first needed.
    pub const fn from_yaml(yaml: &'static str) -> Self {
        BundledRules {
            yaml,
            parsed: OnceLock::new(),
        }
    }

    /// The parsed rules (parsing them the first time).
    pub fn get(&self) -> Result<Arc<RuleSet>, PortError> {
        self.parsed
            .get_or_init(|| {
                RuleSet::from_yaml(self.yaml)
                    .map(Arc::new)
                    .map_err(|e| e.to_string())
            })
            .clone()
            .map_err(|e| PortError::permanent("parse the bundled rules", e))
    }

    /// True once the rules were parsed (for tests and benchmarks).
    pub fn is_parsed(&self) -> bool {
        self.parsed.get().is_some()
    }
}

impl From<Arc<RuleSet>> for BundledRules {
    fn from(rules: Arc<RuleSet>) -> Self {
        BundledRules {
            yaml: "",
            parsed: OnceLock::from(Ok(rules)),
        }
    }
}

#[async_trait]
impl RulesSource for BundledRules {
    async fn rules(&self) -> Result<Arc<RuleSet>, PortError> {
        self.get()
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
    bundled: BundledRules,
    cache: Mutex<Option<Cached>>,
}

impl DynamoDbRulesSource {
    /// Source reading `store`, with `bundled` in force until a valid document is stored.
    pub fn new(store: DynamoDbRulesStore, ttl: Duration, bundled: impl Into<BundledRules>) -> Self {
        DynamoDbRulesSource {
            store,
            ttl,
            bundled: bundled.into(),
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
        let cached = cache.as_ref().map(|c| (c.version, c.rules.clone()));
        // The bundled rules are parsed only when they are what is served.
        let last_good = || match &cached {
            Some(c) => Ok(c.clone()),
            None => self.bundled.get().map(|r| (None, r)),
        };
        let (version, rules) = match self.store.get().await {
            Ok(None) => (None, self.bundled.get()?),
            Ok(Some(stored)) if Some(stored.version) == cached.as_ref().and_then(|c| c.0) => {
                last_good()?
            }
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
                    last_good()?
                }
            },
            Err(e) => {
                tracing::error!(
                    error.message = %e,
                    error.cause_chain = ?e,
                    "could not read the rules; keeping the last good rules"
                );
                last_good()?
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
