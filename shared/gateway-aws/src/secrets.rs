//! Secrets Manager adapter for the accounts document, with a short cache so that adding an
//! account takes effect without a redeploy and the hot path makes no call once warm.

use crate::error::port_error;
use async_trait::async_trait;
use aws_sdk_secretsmanager::Client;
use gateway_core::account::AccountsDocument;
use gateway_core::ports::{AccountDirectory, PortError};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::Mutex;

/// Reads the accounts document from a Secrets Manager secret and caches it for `ttl`.
///
/// If a refresh fails (network, or an invalid document was stored), the last good document is
/// kept and served, and the failure is logged without the secret's content.
#[derive(Debug)]
pub struct SecretsManagerAccountDirectory {
    client: Client,
    secret_id: String,
    ttl: Duration,
    cache: Mutex<Option<(Instant, Arc<AccountsDocument>)>>,
}

impl SecretsManagerAccountDirectory {
    /// Directory over the secret `secret_id` (name or ARN).
    pub fn new(client: Client, secret_id: impl Into<String>, ttl: Duration) -> Self {
        SecretsManagerAccountDirectory {
            client,
            secret_id: secret_id.into(),
            ttl,
            cache: Mutex::new(None),
        }
    }

    async fn fetch(&self) -> Result<AccountsDocument, PortError> {
        let out = self
            .client
            .get_secret_value()
            .secret_id(&self.secret_id)
            .send()
            .await
            .map_err(|e| port_error("secretsmanager get_secret_value", e))?;
        let text = out.secret_string().ok_or_else(|| {
            PortError::permanent("read accounts secret", "secret has no SecretString")
        })?;
        AccountsDocument::from_json(text).map_err(|e| PortError::permanent("parse accounts", e))
    }
}

#[async_trait]
impl AccountDirectory for SecretsManagerAccountDirectory {
    async fn accounts(&self) -> Result<Arc<AccountsDocument>, PortError> {
        let mut cache = self.cache.lock().await;
        if let Some((at, doc)) = cache.as_ref() {
            if at.elapsed() < self.ttl {
                return Ok(doc.clone());
            }
        }
        match self.fetch().await {
            Ok(doc) => {
                let doc = Arc::new(doc);
                *cache = Some((Instant::now(), doc.clone()));
                Ok(doc)
            }
            Err(e) => match cache.as_mut() {
                Some((at, doc)) => {
                    tracing::error!(
                        error.message = %e,
                        error.cause_chain = ?e,
                        "accounts refresh failed; keeping the last good accounts document"
                    );
                    // Try again after another TTL rather than on every request.
                    *at = Instant::now();
                    Ok(doc.clone())
                }
                None => Err(e),
            },
        }
    }
}
