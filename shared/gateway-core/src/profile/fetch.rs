//! The ports of a profile fetch ([`ProfileSource`], [`ProfileRecords`], [`ProfileNotices`]),
//! the classification of the platforms' errors, and the use case [`fetch_and_store`].

use super::{ProfileFetch, ProfileNotice, ProfileReason};
use crate::conversation::CustomerProfile;
use crate::message::Channel;
use crate::ports::{PortError, Retry};
use async_trait::async_trait;

/// Why a platform did not answer a profile.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProfileError {
    /// The platform refused with an error code (WeChat `errcode`, Weibo `error_code`).
    #[error("platform error {code}: {message}")]
    Platform {
        /// The code.
        code: i64,
        /// The platform's message.
        message: String,
    },
    /// No usable answer (network, HTTP status, configuration).
    #[error("{reason}")]
    Transport {
        /// Worth retrying or not.
        retry: Retry,
        /// Why.
        reason: String,
    },
}

/// Asks a platform for a customer's profile.
#[async_trait]
pub trait ProfileSource: Send + Sync {
    /// The profile of `command.customer_id`, stamped `fetched_at = now_ms`. A WeChat access
    /// token the platform refuses is refreshed once by the adapter before it answers an
    /// error.
    async fn fetch(
        &self,
        command: &ProfileFetch,
        now_ms: i64,
    ) -> Result<CustomerProfile, ProfileError>;
}

/// What storing a profile did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoreOutcome {
    /// Stored; `previous` is the profile it replaced.
    Stored {
        /// The profile stored before, if any.
        previous: Option<Box<CustomerProfile>>,
    },
    /// A profile fetched at the same time or later is already stored: nothing written.
    Newer,
    /// The conversation is not there (yet: the router queues the command before its
    /// transaction commits).
    NoConversation,
}

/// Writes the `profile` of conversation items.
#[async_trait]
pub trait ProfileRecords: Send + Sync {
    /// One conditional update of the conversation's `profile`: only if the conversation
    /// exists and holds no profile fetched at the same time or later.
    async fn store(
        &self,
        conversation_key: &str,
        profile: &CustomerProfile,
    ) -> Result<StoreOutcome, PortError>;
}

/// Puts profile notices on the inbound FIFO queue.
#[async_trait]
pub trait ProfileNotices: Send + Sync {
    /// Queues `notice` (group = its conversation, dedupe id = [`ProfileNotice::dedupe_id`]).
    async fn notify(&self, notice: &ProfileNotice) -> Result<(), PortError>;
}

/// What became of a profile command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProfileHandled {
    /// Stored; `noticed` when a notice went to the router.
    Stored {
        /// The stored profile.
        profile: Box<CustomerProfile>,
        /// A notice was queued.
        noticed: bool,
    },
    /// A newer profile was already stored: nothing to do.
    Newer,
    /// Try again later.
    Retry {
        /// Why.
        reason: String,
    },
    /// Retrying cannot help: dead-letter with the reason.
    DeadLetter {
        /// Why.
        reason: String,
    },
}

/// What to do about a platform error code a profile request answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProfileErrorClass {
    /// Worth retrying later.
    Transient,
    /// Retrying will not help: dead-letter with the reason.
    Permanent,
}

/// Classifies an error code a profile request answered.
///
/// WeChat (global return codes,
/// <https://developers.weixin.qq.com/doc/offiaccount/Getting_Started/Global_Return_Code.html>):
/// -1 system busy, 45009 daily API quota, 45011 API minute quota, 40001/40014/42001 access
/// token invalid or expired (the adapter refreshes it once first) → transient; anything else
/// (40003 invalid OpenID, 40013 invalid AppID, 48001 API not authorized, …) → permanent.
///
/// Weibo (<https://open.weibo.com/wiki/Error_code>): 10001 system error, 10009 too many
/// pending tasks, 10022/10023/10024 rate limits, 21327/21332 token expired or invalid →
/// transient; others (20003 user does not exist, 10017 parameter value invalid, …) →
/// permanent.
pub fn classify_profile_error(channel: Channel, code: i64) -> ProfileErrorClass {
    let transient = match channel {
        Channel::WeChat => matches!(code, -1 | 45009 | 45011 | 40001 | 40014 | 42001),
        Channel::Weibo => matches!(code, 10001 | 10009 | 10022 | 10023 | 10024 | 21327 | 21332),
    };
    if transient {
        ProfileErrorClass::Transient
    } else {
        ProfileErrorClass::Permanent
    }
}

/// Runs one profile command: fetch, store conditionally, and queue a notice when the profile
/// is new (a `first` command's, or one whose values changed).
///
/// Stored before noticed: the router reads the profile from the conversation. When the
/// notice cannot be queued, the command is retried; a `first` command then notices again
/// (another `fetched_at`, so another dedupe id; the router's profile rules are idempotent
/// actions), a `refresh` one only if the values changed.
pub async fn fetch_and_store(
    command: &ProfileFetch,
    source: &dyn ProfileSource,
    records: &dyn ProfileRecords,
    notices: &dyn ProfileNotices,
    now_ms: i64,
) -> ProfileHandled {
    let profile = match source.fetch(command, now_ms).await {
        Ok(p) => p,
        Err(ProfileError::Platform { code, message }) => {
            let reason = format!("{} error {code}: {message}", command.channel);
            return match classify_profile_error(command.channel, code) {
                ProfileErrorClass::Transient => ProfileHandled::Retry { reason },
                ProfileErrorClass::Permanent => ProfileHandled::DeadLetter { reason },
            };
        }
        Err(ProfileError::Transport { retry, reason }) => {
            return match retry {
                Retry::Transient => ProfileHandled::Retry { reason },
                Retry::Permanent => ProfileHandled::DeadLetter { reason },
            };
        }
    };
    let previous = match records.store(&command.conversation_key, &profile).await {
        Ok(StoreOutcome::Stored { previous }) => previous,
        Ok(StoreOutcome::Newer) => return ProfileHandled::Newer,
        Ok(StoreOutcome::NoConversation) => {
            return ProfileHandled::Retry {
                reason: format!(
                    "conversation {} is not stored yet",
                    command.conversation_key
                ),
            };
        }
        Err(e) if e.is_retryable() => {
            return ProfileHandled::Retry {
                reason: format!("store the profile: {e}"),
            };
        }
        Err(e) => {
            return ProfileHandled::DeadLetter {
                reason: format!("store the profile: {e}"),
            };
        }
    };
    let changed = previous.as_ref().is_none_or(|p| !p.same_values(&profile));
    let notice = command.reason == ProfileReason::First || changed;
    if notice
        && let Err(e) = notices
            .notify(&ProfileNotice::for_stored(command, &profile))
            .await
    {
        return ProfileHandled::Retry {
            reason: format!("queue the profile notice: {e}"),
        };
    }
    ProfileHandled::Stored {
        profile: Box::new(profile),
        noticed: notice,
    }
}
