//! The platforms' media APIs behind the core's [`MediaSource`] port: the account's
//! credentials from the delivery accounts secret, WeChat's access token from the shared
//! broker (refreshed once when the platform refuses it), then the download.

use async_trait::async_trait;
use gateway_core::delivery::ports::{AccessTokens, TokenError};
use gateway_core::media::{DownloadRequest, Downloaded, MediaSource, SourceError};
use gateway_core::message::Channel;
use gateway_core::ports::{AccountDirectory, Retry};
use gateway_platforms::WeChatClient;
use gateway_platforms::media::WeiboMediaClient;
use std::sync::Arc;

/// WeChat's answers for a token that is invalid, not the latest, or expired.
const WECHAT_TOKEN_REFUSED: [i64; 3] = [40001, 40014, 42001];

/// Downloads through WeChat's and Weibo's media APIs.
pub struct PlatformMediaSource {
    /// The delivery role's accounts (API credentials).
    pub accounts: Arc<dyn AccountDirectory>,
    /// WeChat access tokens.
    pub tokens: Arc<dyn AccessTokens>,
    /// WeChat's API.
    pub wechat: WeChatClient,
    /// Weibo's media API.
    pub weibo: WeiboMediaClient,
    /// The clock, Unix milliseconds.
    pub now_ms: fn() -> i64,
}

fn permanent(reason: impl Into<String>) -> SourceError {
    SourceError::Transport {
        retry: Retry::Permanent,
        reason: reason.into(),
    }
}

fn transient(reason: impl Into<String>) -> SourceError {
    SourceError::Transport {
        retry: Retry::Transient,
        reason: reason.into(),
    }
}

fn token_error(e: TokenError) -> SourceError {
    match e {
        TokenError::Platform(p) => SourceError::Platform {
            code: p.code,
            message: format!("access token: {}", p.message),
        },
        TokenError::Unavailable(e) => transient(format!("access token unavailable: {e}")),
    }
}

#[async_trait]
impl MediaSource for PlatformMediaSource {
    async fn download(&self, request: &DownloadRequest) -> Result<Downloaded, SourceError> {
        let accounts = self.accounts.accounts().await.map_err(|e| {
            if e.is_retryable() {
                transient(e.to_string())
            } else {
                permanent(e.to_string())
            }
        })?;
        match request.channel {
            Channel::WeChat => {
                let Some(account) = accounts.wechat.get(&request.account_id) else {
                    return Err(permanent(format!(
                        "unknown WeChat account `{}`",
                        request.account_id
                    )));
                };
                let token = self
                    .tokens
                    .token(&request.account_id, account, (self.now_ms)())
                    .await
                    .map_err(token_error)?;
                match self
                    .wechat
                    .get_media(&token, &request.media_id, request.max_bytes)
                    .await
                {
                    Err(SourceError::Platform { code, .. })
                        if WECHAT_TOKEN_REFUSED.contains(&code) =>
                    {
                        // Compare-and-expire, then once more with a fresh token.
                        if let Err(e) = self.tokens.invalidate(&request.account_id, &token).await {
                            return Err(transient(format!("invalidate the access token: {e}")));
                        }
                        let token = self
                            .tokens
                            .token(&request.account_id, account, (self.now_ms)())
                            .await
                            .map_err(token_error)?;
                        self.wechat
                            .get_media(&token, &request.media_id, request.max_bytes)
                            .await
                    }
                    other => other,
                }
            }
            Channel::Weibo => {
                let Some(account) = accounts.weibo.get(&request.account_id) else {
                    return Err(permanent(format!(
                        "unknown Weibo account `{}`",
                        request.account_id
                    )));
                };
                let Some(token) = account.access_token.as_ref() else {
                    return Err(permanent(format!(
                        "Weibo account `{}` has no access_token",
                        request.account_id
                    )));
                };
                self.weibo
                    .get_media(token, &request.media_id, request.max_bytes)
                    .await
            }
        }
    }
}
