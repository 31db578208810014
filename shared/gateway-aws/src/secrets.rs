//! Secrets Manager adapter for the accounts document, with a short cache so that adding an
//! account takes effect without a redeploy and a warm webhook makes no call for it.
//!
//! Stale-while-revalidate: once a document is cached, an expired cache is refreshed in the
//! background and the request is served the cached document at once, so a slow or unreachable
//! Secrets Manager never delays the answer to the platform. Only the very first request of a
//! cold start waits for the fetch.

use crate::error::port_error;
use async_trait::async_trait;
use aws_sdk_secretsmanager::Client;
use gateway_core::account::AccountsDocument;
use gateway_core::ports::{AccountDirectory, PortError};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::Mutex;

#[derive(Debug)]
struct Cache {
    fetched: Instant,
    document: Arc<AccountsDocument>,
    refreshing: bool,
}

/// Reads the accounts document from a Secrets Manager secret and caches it for `ttl`.
///
/// If a refresh fails (network, or an invalid document was stored), the last good document is
/// kept and served, and the failure is logged without the secret's content.
#[derive(Debug, Clone)]
pub struct SecretsManagerAccountDirectory {
    client: Client,
    secret_id: Arc<str>,
    ttl: Duration,
    cache: Arc<Mutex<Option<Cache>>>,
}

impl SecretsManagerAccountDirectory {
    /// Directory over the secret `secret_id` (name or ARN).
    pub fn new(client: Client, secret_id: impl Into<String>, ttl: Duration) -> Self {
        SecretsManagerAccountDirectory {
            client,
            secret_id: Arc::from(secret_id.into()),
            ttl,
            cache: Arc::new(Mutex::new(None)),
        }
    }

    async fn fetch(&self) -> Result<AccountsDocument, PortError> {
        let out = self
            .client
            .get_secret_value()
            .secret_id(self.secret_id.as_ref())
            .send()
            .await
            .map_err(|e| port_error("secretsmanager get_secret_value", e))?;
        let text = out.secret_string().ok_or_else(|| {
            PortError::permanent("read accounts secret", "secret has no SecretString")
        })?;
        AccountsDocument::from_json(text).map_err(|e| PortError::permanent("parse accounts", e))
    }

    /// Fetches and stores a new document; on failure keeps the cached one for another TTL.
    async fn refresh(&self) {
        let result = self.fetch().await;
        let mut cache = self.cache.lock().await;
        let Some(c) = cache.as_mut() else { return };
        c.refreshing = false;
        c.fetched = Instant::now();
        match result {
            Ok(doc) => c.document = Arc::new(doc),
            Err(e) => tracing::error!(
                error.message = %e,
                error.cause_chain = ?e,
                "accounts refresh failed; keeping the last good accounts document"
            ),
        }
    }
}

#[async_trait]
impl AccountDirectory for SecretsManagerAccountDirectory {
    async fn accounts(&self) -> Result<Arc<AccountsDocument>, PortError> {
        let mut cache = self.cache.lock().await;
        match cache.as_mut() {
            Some(c) => {
                if c.fetched.elapsed() >= self.ttl && !c.refreshing {
                    c.refreshing = true;
                    let this = self.clone();
                    tokio::spawn(async move { this.refresh().await });
                }
                Ok(c.document.clone())
            }
            None => {
                let document = Arc::new(self.fetch().await?);
                *cache = Some(Cache {
                    fetched: Instant::now(),
                    document: document.clone(),
                    refreshing: false,
                });
                Ok(document)
            }
        }
    }
}
