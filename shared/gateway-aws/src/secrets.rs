//! Secrets Manager adapter for the accounts document, with a short cache so that adding an
//! account takes effect without a redeploy and a warm webhook makes no call for it.
//!
//! Stale-while-revalidate: once a document is cached, an expired cache is refreshed in the
//! background and the request is served the cached document at once, so a slow or unreachable
//! Secrets Manager never delays the answer to the platform. Only the very first request of a
//! cold start waits for the fetch.
//!
//! A directory of credentials that must stop working when revoked (the reply API's clients)
//! refreshes in the request instead ([`SecretsManagerAccountDirectory::refreshing_in_request`]):
//! the first request after the cache expired waits for the fetch and is judged by the new
//! document; only if the fetch fails is the last good one served (within `max_stale`).

use crate::error::port_error;
use async_trait::async_trait;
use aws_sdk_secretsmanager::Client;
use gateway_core::account::{AccountsDocument, AccountsRole};
use gateway_core::ports::{AccountDirectory, PortError};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::Mutex;

/// Told when the accounts document cannot be had.
pub trait AccountsObserver: Send + Sync {
    /// A refresh failed (network, or an invalid document was stored); the last good document
    /// is still served while it is not older than the directory's bound.
    fn refresh_failed(&self);
    /// A request found no usable document (none fetched yet, or the last good one is older
    /// than the bound): it is answered 503.
    fn unavailable(&self);
}

#[derive(Debug)]
struct Cache {
    fetched: Instant,
    /// When the cached document was last fetched successfully.
    fresh_at: Instant,
    document: Arc<AccountsDocument>,
    refreshing: bool,
}

/// Reads the accounts document from a Secrets Manager secret and caches it for `ttl`.
///
/// If a refresh fails (network, or an invalid document was stored), the last good document is
/// kept and served, and the failure is logged without the secret's content.
#[derive(Clone)]
pub struct SecretsManagerAccountDirectory {
    client: Client,
    secret_id: Arc<str>,
    ttl: Duration,
    role: AccountsRole,
    max_stale: Option<Duration>,
    refresh_in_request: bool,
    observer: Option<Arc<dyn AccountsObserver>>,
    cache: Arc<Mutex<Option<Cache>>>,
}

impl std::fmt::Debug for SecretsManagerAccountDirectory {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SecretsManagerAccountDirectory")
            .field("secret_id", &self.secret_id)
            .field("role", &self.role)
            .field("ttl", &self.ttl)
            .field("max_stale", &self.max_stale)
            .finish_non_exhaustive()
    }
}

impl SecretsManagerAccountDirectory {
    /// Directory over the secret `secret_id` (name or ARN).
    pub fn new(client: Client, secret_id: impl Into<String>, ttl: Duration) -> Self {
        SecretsManagerAccountDirectory {
            client,
            secret_id: Arc::from(secret_id.into()),
            ttl,
            role: AccountsRole::Full,
            max_stale: None,
            refresh_in_request: false,
            observer: None,
            cache: Arc::new(Mutex::new(None)),
        }
    }

    /// Validates the secret as `role`'s projection (what `gatewayctl accounts push` writes).
    pub fn for_role(mut self, role: AccountsRole) -> Self {
        self.role = role;
        self
    }

    /// Serves a document at most `max_stale` after its last successful fetch.
    pub fn with_max_stale(mut self, max_stale: Duration) -> Self {
        self.max_stale = Some(max_stale);
        self
    }

    /// Refreshes an expired cache before serving the request (instead of in the background),
    /// so that a document changed more than `ttl` ago is always the one served: a revoked
    /// client is refused from its first request after that. A failed refresh serves the last
    /// good document, as in the background.
    pub fn refreshing_in_request(mut self) -> Self {
        self.refresh_in_request = true;
        self
    }

    /// Reports failures to `observer`.
    pub fn with_observer(mut self, observer: Arc<dyn AccountsObserver>) -> Self {
        self.observer = Some(observer);
        self
    }

    fn unavailable(&self) {
        if let Some(o) = &self.observer {
            o.unavailable();
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
        AccountsDocument::from_json_for(text, self.role)
            .map_err(|e| PortError::permanent("parse accounts", e))
    }

    /// Fetches and stores a new document; on failure keeps the cached one for another TTL.
    async fn refresh(&self) {
        let result = self.fetch().await;
        let mut cache = self.cache.lock().await;
        let Some(c) = cache.as_mut() else { return };
        c.refreshing = false;
        c.fetched = Instant::now();
        match result {
            Ok(doc) => {
                c.document = Arc::new(doc);
                c.fresh_at = c.fetched;
            }
            Err(e) => {
                tracing::error!(
                    error.message = %e,
                    error.cause_chain = ?e,
                    "accounts refresh failed; keeping the last good accounts document"
                );
                if let Some(o) = &self.observer {
                    o.refresh_failed();
                }
            }
        }
    }
}

#[async_trait]
impl AccountDirectory for SecretsManagerAccountDirectory {
    async fn accounts(&self) -> Result<Arc<AccountsDocument>, PortError> {
        let mut cache = self.cache.lock().await;
        if self.refresh_in_request
            && cache
                .as_ref()
                .is_some_and(|c| c.fetched.elapsed() >= self.ttl)
        {
            drop(cache);
            self.refresh().await;
            cache = self.cache.lock().await;
        }
        match cache.as_mut() {
            Some(c) => {
                if c.fetched.elapsed() >= self.ttl && !c.refreshing {
                    c.refreshing = true;
                    let this = self.clone();
                    tokio::spawn(async move { this.refresh().await });
                }
                if self.max_stale.is_some_and(|max| c.fresh_at.elapsed() > max) {
                    drop(cache);
                    self.unavailable();
                    return Err(PortError::transient(
                        "accounts",
                        "the accounts document could not be refreshed for longer than ACCOUNTS_MAX_STALE_SECS",
                    ));
                }
                Ok(c.document.clone())
            }
            None => {
                let document = match self.fetch().await {
                    Ok(d) => Arc::new(d),
                    Err(e) => {
                        drop(cache);
                        if let Some(o) = &self.observer {
                            o.refresh_failed();
                        }
                        self.unavailable();
                        return Err(e);
                    }
                };
                let now = Instant::now();
                *cache = Some(Cache {
                    fetched: now,
                    fresh_at: now,
                    document: document.clone(),
                    refreshing: false,
                });
                Ok(document)
            }
        }
    }
}
