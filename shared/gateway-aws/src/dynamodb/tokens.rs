//! WeChat access tokens shared by every reply-sender instance: a cache item per account in
//! the conversations table, refreshed ahead of expiry by one instance at a time under a lease.
//!
//! | item  | PK                        | SK      |
//! |-------|---------------------------|---------|
//! | token | `TOKEN#wechat#{account}`  | `TOKEN` |
//!
//! Attributes: `access_token`, `expires_at_ms` (0 once invalidated), `fetched_at_ms`,
//! `lease_owner` / `lease_until_ms` while an instance refreshes, `last_forced_at_ms`.
//!
//! * Each instance also keeps the token in memory, so a warm instance makes no call per
//!   message; the item is read only when the memory copy is near expiry or invalidated.
//! * Refresh ahead: a token within `refresh_ahead` of its expiry is refreshed by whoever gets
//!   the lease (a conditional update); the others keep using the still-valid token, or, when
//!   none is valid, wait briefly for the holder and then report "unavailable" (the command is
//!   retried later) rather than all calling the token API.
//! * `stable_token` (by default) returns the same token while it is valid, so a refresh never
//!   invalidates a token another instance is using. After a 40001/40014/42001 the failed token
//!   is expired in the item only if it is still the current one (compare-and-expire), then
//!   refreshed; if the platform still hands out the refused token, one `force_refresh` is made,
//!   at most once per 30 s (the platform allows 20 a day).

use crate::dynamodb::attrs::{Item, n, number, s, text};
use crate::error::port_error;
use async_trait::async_trait;
use aws_sdk_dynamodb::Client;
use gateway_core::account::{Secret, WeChatAccount};
use gateway_core::delivery::platform::{CallError, Described};
use gateway_core::delivery::ports::{AccessTokens, TokenError, TokenFetcher};
use gateway_core::ports::PortError;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Mutex;

/// Least time between two forced refreshes of one account (the platform's rule).
const FORCE_REFRESH_INTERVAL_MS: i64 = 30_000;

/// Partition key of an account's token item.
pub fn token_pk(account_id: &str) -> String {
    format!("TOKEN#wechat#{account_id}")
}

/// Timing of the token cache.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TokenTiming {
    /// Refresh a token this long before it expires.
    pub refresh_ahead: Duration,
    /// How long a refresh lease is held at most.
    pub lease: Duration,
    /// How long to wait for another instance's refresh before giving up.
    pub wait: Duration,
}

impl Default for TokenTiming {
    fn default() -> Self {
        TokenTiming {
            refresh_ahead: Duration::from_secs(300),
            lease: Duration::from_secs(10),
            wait: Duration::from_secs(3),
        }
    }
}

#[derive(Clone)]
struct Cached {
    token: Secret,
    expires_at_ms: i64,
}

struct Stored {
    token: Option<Secret>,
    expires_at_ms: i64,
    lease_until_ms: Option<i64>,
    last_forced_at_ms: i64,
}

fn ms(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

/// Access tokens cached in memory and in DynamoDB, refreshed under a lease.
pub struct DynamoDbAccessTokens {
    client: Client,
    table: String,
    fetcher: Arc<dyn TokenFetcher>,
    timing: TokenTiming,
    owner: String,
    clock: Arc<dyn Fn() -> i64 + Send + Sync>,
    memory: Mutex<HashMap<String, Cached>>,
}

impl std::fmt::Debug for DynamoDbAccessTokens {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DynamoDbAccessTokens")
            .field("table", &self.table)
            .field("owner", &self.owner)
            .finish_non_exhaustive()
    }
}

impl DynamoDbAccessTokens {
    /// Tokens in `table`, fetched through `fetcher`. `owner` names this instance in leases
    /// (unique per instance); `clock` gives Unix ms.
    pub fn new(
        client: Client,
        table: impl Into<String>,
        fetcher: Arc<dyn TokenFetcher>,
        timing: TokenTiming,
        owner: impl Into<String>,
        clock: Arc<dyn Fn() -> i64 + Send + Sync>,
    ) -> Self {
        DynamoDbAccessTokens {
            client,
            table: table.into(),
            fetcher,
            timing,
            owner: owner.into(),
            clock,
            memory: Mutex::new(HashMap::new()),
        }
    }

    fn key(account_id: &str) -> Item {
        [
            ("PK".to_string(), s(token_pk(account_id))),
            ("SK".to_string(), s("TOKEN")),
        ]
        .into()
    }

    fn fresh(&self, expires_at_ms: i64, now: i64) -> bool {
        now < expires_at_ms - ms(self.timing.refresh_ahead)
    }

    async fn read(&self, account_id: &str) -> Result<Option<Stored>, PortError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(Self::key(account_id)))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| port_error("dynamodb get_item (token)", e))?;
        Ok(out.item.map(|item| {
            let number = |k: &str| number(&item, k);
            Stored {
                token: text(&item, "access_token").map(Secret::new),
                expires_at_ms: number("expires_at_ms").unwrap_or(0),
                lease_until_ms: number("lease_until_ms"),
                last_forced_at_ms: number("last_forced_at_ms").unwrap_or(0),
            }
        }))
    }

    /// Takes the refresh lease; false when another instance holds it.
    async fn acquire(&self, account_id: &str, now: i64) -> Result<bool, PortError> {
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(Self::key(account_id)))
            .update_expression("SET lease_owner = :me, lease_until_ms = :until")
            .condition_expression(
                "attribute_not_exists(lease_until_ms) OR lease_until_ms < :now OR lease_owner = :me",
            )
            .expression_attribute_values(":me", s(&self.owner))
            .expression_attribute_values(":until", n(now + ms(self.timing.lease)))
            .expression_attribute_values(":now", n(now))
            .send()
            .await;
        match result {
            Ok(_) => Ok(true),
            Err(e)
                if e.as_service_error()
                    .is_some_and(|se| se.is_conditional_check_failed_exception()) =>
            {
                Ok(false)
            }
            Err(e) => Err(port_error("dynamodb update_item (token lease)", e)),
        }
    }

    async fn release(&self, account_id: &str) {
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(Self::key(account_id)))
            .update_expression("REMOVE lease_owner, lease_until_ms")
            .condition_expression("lease_owner = :me")
            .expression_attribute_values(":me", s(&self.owner))
            .send()
            .await;
        if let Err(e) = result
            && !e
                .as_service_error()
                .is_some_and(|se| se.is_conditional_check_failed_exception())
        {
            // The lease expires by itself.
            tracing::warn!(error.message = %e, "could not release the token lease");
        }
    }

    /// Fetches a token while holding the lease and stores it.
    async fn refresh(
        &self,
        account_id: &str,
        account: &WeChatAccount,
        stored: Option<&Stored>,
        now: i64,
    ) -> Result<Cached, TokenError> {
        let secret = account.app_secret.as_ref().ok_or_else(|| {
            TokenError::Unavailable(Box::new(Described("the account has no app_secret".into())))
        })?;
        let call = |e: CallError| match e {
            CallError::Platform(pe) => TokenError::Platform(pe),
            other => TokenError::Unavailable(Box::new(other)),
        };
        let mut grant = self
            .fetcher
            .fetch(&account.app_id, secret, false)
            .await
            .map_err(call)?;
        let mut forced = false;
        // The platform still hands out the token that was just refused: force a new one, at
        // most once per 30 s.
        let refused = stored
            .filter(|st| st.expires_at_ms == 0)
            .and_then(|st| st.token.as_ref());
        if refused.is_some_and(|t| t.expose() == grant.access_token) {
            let last = stored.map_or(0, |st| st.last_forced_at_ms);
            if now - last < FORCE_REFRESH_INTERVAL_MS {
                return Err(TokenError::Unavailable(Box::new(Described(
                    "the platform returned the refused token and a forced refresh was made less than 30 s ago".into(),
                ))));
            }
            tracing::warn!(
                account = account_id,
                "refused token still current; forcing a refresh"
            );
            grant = self
                .fetcher
                .fetch(&account.app_id, secret, true)
                .await
                .map_err(call)?;
            forced = true;
        }
        let fetched_at = (self.clock)();
        let expires_at_ms = fetched_at + grant.expires_in.max(0) * 1000;
        let mut update = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(Self::key(account_id)))
            .update_expression(if forced {
                "SET access_token = :t, expires_at_ms = :e, fetched_at_ms = :f, last_forced_at_ms = :f REMOVE lease_owner, lease_until_ms"
            } else {
                "SET access_token = :t, expires_at_ms = :e, fetched_at_ms = :f REMOVE lease_owner, lease_until_ms"
            })
            .condition_expression("lease_owner = :me")
            .expression_attribute_values(":t", s(&grant.access_token))
            .expression_attribute_values(":e", n(expires_at_ms))
            .expression_attribute_values(":f", n(fetched_at))
            .expression_attribute_values(":me", s(&self.owner));
        update = update.return_values(aws_sdk_dynamodb::types::ReturnValue::None);
        if let Err(e) = update.send().await {
            // Lost the lease (took longer than it lasts): the token is still good to use now;
            // the item is left to the new holder.
            tracing::warn!(error.message = %e, account = account_id, "could not store the refreshed token");
        }
        tracing::info!(
            account = account_id,
            forced,
            expires_in = grant.expires_in,
            "access token refreshed"
        );
        Ok(Cached {
            token: Secret::new(grant.access_token),
            expires_at_ms,
        })
    }
}

#[async_trait]
impl AccessTokens for DynamoDbAccessTokens {
    async fn token(
        &self,
        account_id: &str,
        account: &WeChatAccount,
        now_ms: i64,
    ) -> Result<Secret, TokenError> {
        if let Some(c) = self.memory.lock().await.get(account_id)
            && self.fresh(c.expires_at_ms, now_ms)
        {
            return Ok(c.token.clone());
        }
        let unavailable = |e: PortError| TokenError::Unavailable(Box::new(e));
        let deadline = now_ms + ms(self.timing.wait);
        loop {
            let now = (self.clock)().max(now_ms);
            let stored = self.read(account_id).await.map_err(unavailable)?;
            if let Some(st) = &stored
                && let Some(t) = &st.token
                && self.fresh(st.expires_at_ms, now)
            {
                let cached = Cached {
                    token: t.clone(),
                    expires_at_ms: st.expires_at_ms,
                };
                self.memory
                    .lock()
                    .await
                    .insert(account_id.to_string(), cached);
                return Ok(t.clone());
            }
            let leased_by_other = stored
                .as_ref()
                .and_then(|st| st.lease_until_ms)
                .is_some_and(|until| until >= now);
            if !leased_by_other && self.acquire(account_id, now).await.map_err(unavailable)? {
                let result = self
                    .refresh(account_id, account, stored.as_ref(), now)
                    .await;
                match result {
                    Ok(cached) => {
                        let token = cached.token.clone();
                        self.memory
                            .lock()
                            .await
                            .insert(account_id.to_string(), cached);
                        return Ok(token);
                    }
                    Err(e) => {
                        self.release(account_id).await;
                        return Err(e);
                    }
                }
            }
            // Another instance is refreshing. A token that is near expiry but not expired is
            // still good to use meanwhile.
            if let Some(st) = &stored
                && let Some(t) = &st.token
                && now < st.expires_at_ms
            {
                return Ok(t.clone());
            }
            if now >= deadline {
                return Err(TokenError::Unavailable(Box::new(Described(
                    "another instance holds the token refresh lease".into(),
                ))));
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    async fn invalidate(&self, account_id: &str, failed: &Secret) -> Result<(), PortError> {
        {
            let mut memory = self.memory.lock().await;
            if memory
                .get(account_id)
                .is_some_and(|c| c.token.expose() == failed.expose())
            {
                memory.remove(account_id);
            }
        }
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(Self::key(account_id)))
            .update_expression("SET expires_at_ms = :zero")
            .condition_expression("access_token = :failed")
            .expression_attribute_values(":zero", n(0))
            .expression_attribute_values(":failed", s(failed.expose()))
            .send()
            .await;
        match result {
            Ok(_) => Ok(()),
            Err(e)
                if e.as_service_error()
                    .is_some_and(|se| se.is_conditional_check_failed_exception()) =>
            {
                // Someone already replaced it.
                Ok(())
            }
            Err(e) => Err(port_error("dynamodb update_item (invalidate token)", e)),
        }
    }
}
