//! The platforms' profile APIs behind the core's [`ProfileSource`] port: the account's
//! credentials from the delivery accounts secret, WeChat's access token from the shared
//! broker (refreshed once when the platform refuses it), then `user/info` or `users/show`.

use async_trait::async_trait;
use gateway_core::conversation::CustomerProfile;
use gateway_core::delivery::ports::{AccessTokens, TokenError};
use gateway_core::message::Channel;
use gateway_core::ports::{AccountDirectory, Retry};
use gateway_core::profile::{ProfileError, ProfileFetch, ProfileSource};
use gateway_platforms::WeChatClient;
use gateway_platforms::profiles::WeiboProfileClient;
use std::sync::Arc;

/// WeChat's answers for a token that is invalid, not the latest, or expired.
const WECHAT_TOKEN_REFUSED: [i64; 3] = [40001, 40014, 42001];

/// Asks WeChat's and Weibo's APIs.
pub struct PlatformProfileSource {
    /// The delivery role's accounts (API credentials).
    pub accounts: Arc<dyn AccountDirectory>,
    /// WeChat access tokens.
    pub tokens: Arc<dyn AccessTokens>,
    /// WeChat's API.
    pub wechat: WeChatClient,
    /// Weibo's open API.
    pub weibo: WeiboProfileClient,
}

fn failure(retry: Retry, reason: impl Into<String>) -> ProfileError {
    ProfileError::Transport {
        retry,
        reason: reason.into(),
    }
}

fn token_error(e: TokenError) -> ProfileError {
    match e {
        TokenError::Platform(p) => ProfileError::Platform {
            code: p.code,
            message: format!("access token: {}", p.message),
        },
        TokenError::Unavailable(e) => {
            failure(Retry::Transient, format!("access token unavailable: {e}"))
        }
    }
}

#[async_trait]
impl ProfileSource for PlatformProfileSource {
    async fn fetch(
        &self,
        command: &ProfileFetch,
        now_ms: i64,
    ) -> Result<CustomerProfile, ProfileError> {
        let accounts = self.accounts.accounts().await.map_err(|e| {
            let retry = if e.is_retryable() {
                Retry::Transient
            } else {
                Retry::Permanent
            };
            failure(retry, e.to_string())
        })?;
        let id = &command.account_id;
        match command.channel {
            Channel::WeChat => {
                let Some(account) = accounts.wechat.get(id) else {
                    return Err(failure(
                        Retry::Permanent,
                        format!("unknown WeChat account `{id}`"),
                    ));
                };
                let token = self
                    .tokens
                    .token(id, account, now_ms)
                    .await
                    .map_err(token_error)?;
                match self
                    .wechat
                    .user_info(&token, &command.customer_id, now_ms)
                    .await
                {
                    Err(ProfileError::Platform { code, .. })
                        if WECHAT_TOKEN_REFUSED.contains(&code) =>
                    {
                        // Compare-and-expire, then once more with a fresh token.
                        if let Err(e) = self.tokens.invalidate(id, &token).await {
                            return Err(failure(
                                Retry::Transient,
                                format!("invalidate the access token: {e}"),
                            ));
                        }
                        let token = self
                            .tokens
                            .token(id, account, now_ms)
                            .await
                            .map_err(token_error)?;
                        self.wechat
                            .user_info(&token, &command.customer_id, now_ms)
                            .await
                    }
                    other => other,
                }
            }
            Channel::Weibo => {
                let Some(account) = accounts.weibo.get(id) else {
                    return Err(failure(
                        Retry::Permanent,
                        format!("unknown Weibo account `{id}`"),
                    ));
                };
                let Some(token) = account.access_token.as_ref() else {
                    return Err(failure(
                        Retry::Permanent,
                        format!("Weibo account `{id}` has no access_token"),
                    ));
                };
                self.weibo
                    .users_show(token, &command.customer_id, now_ms)
                    .await
            }
        }
    }
}
