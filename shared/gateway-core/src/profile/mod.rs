//! Who the customer is: the profile a platform holds about a message's sender, fetched
//! asynchronously by the media-fetcher and cached on the conversation (`docs/profiles.md`).
//!
//! * The router decides when a message needs a fetch ([`profile_command`]): the first message
//!   of a conversation, or one whose cached profile is older than the refresh interval. The
//!   [`ProfileFetch`] command goes to the media queue in the same `SendMessageBatch` as the
//!   message's media commands ([`crate::media::MediaCommand`]): no extra call on the hot path.
//! * The media-fetcher runs [`fetch_and_store`]: WeChat `user/info` or Weibo `users/show`,
//!   one conditional update of the conversation's `profile`, and when the profile is new (the
//!   first fetch, or values changed) a [`ProfileNotice`] on the inbound FIFO queue, so the
//!   router evaluates the rules with profile conditions once the profile is there.
//!
//! Pure: no I/O of its own, time is passed in.

pub mod crm;
pub mod fetch;
pub mod notice;

#[cfg(test)]
mod tests;

pub use fetch::{
    ProfileError, ProfileHandled, ProfileNotices, ProfileRecords, ProfileSource, StoreOutcome,
    classify_profile_error, fetch_and_store,
};
pub use notice::{NoticeOutcome, apply_notice};

use crate::conversation::{Conversation, CustomerProfile};
use crate::message::{Channel, NormalizedMessage, message_group_id};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// Version of the profile command's and notice's wire schema.
pub const PROFILE_SCHEMA_VERSION: u16 = 1;

/// Default refresh interval of a cached profile (router `PROFILE_REFRESH_SECS`): 7 days.
pub const DEFAULT_PROFILE_REFRESH_SECS: i64 = 7 * 86_400;

/// The `command` of a profile command (a media fetch command has none).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ProfileCommandKind {
    /// Fetch the sender's profile.
    Profile,
}

/// Why a profile is fetched.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ProfileReason {
    /// The conversation's first message: rules with profile conditions are evaluated once it
    /// is stored.
    First,
    /// The cached profile is missing or older than the refresh interval: the rules are
    /// evaluated again only when a value changed.
    Refresh,
}

/// Fetch the profile of a conversation's customer.
///
/// Wire form (on the media queue, next to the media fetch commands):
///
/// ```json
/// {"schema_version":1,"command":"profile","channel":"weibo","account_id":"brand",
///  "conversation_key":"weibo:brand:1234567890","customer_id":"1234567890","reason":"first",
///  "requested_at":1700000000000}
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProfileFetch {
    /// Always [`PROFILE_SCHEMA_VERSION`] when produced by this build.
    pub schema_version: u16,
    /// Always `profile`.
    pub command: ProfileCommandKind,
    /// Channel of the conversation.
    pub channel: Channel,
    /// The gateway's name for the account (whose credentials ask).
    pub account_id: String,
    /// The conversation whose `profile` is written.
    pub conversation_key: String,
    /// The customer's platform id (WeChat OpenID, Weibo uid).
    pub customer_id: String,
    /// Why.
    pub reason: ProfileReason,
    /// When the message that asked for it was received, Unix ms.
    pub requested_at: i64,
}

/// The profile command `message` needs, if any: the first message of a conversation
/// (`conversation` is the conversation *before* the message: none, or no inbound message
/// yet), or a conversation whose cached profile is missing or at least `refresh_ms` old at
/// the message's receive time, unless a fetch was already asked for within `refresh_ms`
/// (`profile_requested_at`: the first fetch is on its way, or failed and was dead-lettered
/// with its reason).
pub fn profile_command(
    message: &NormalizedMessage,
    conversation: Option<&Conversation>,
    refresh_ms: i64,
) -> Option<ProfileFetch> {
    let reason = match conversation {
        None => ProfileReason::First,
        Some(c) if c.inbound_count == 0 => ProfileReason::First,
        Some(c) => {
            let last = c
                .profile
                .as_ref()
                .map(|p| p.fetched_at)
                .max(c.profile_requested_at);
            match last {
                Some(t) if message.received_at_ms.saturating_sub(t) < refresh_ms => return None,
                _ => ProfileReason::Refresh,
            }
        }
    };
    if message.sender_id.trim().is_empty() {
        return None;
    }
    Some(ProfileFetch {
        schema_version: PROFILE_SCHEMA_VERSION,
        command: ProfileCommandKind::Profile,
        channel: message.channel,
        account_id: message.account_id.clone(),
        conversation_key: message.conversation_key.clone(),
        customer_id: message.sender_id.clone(),
        reason,
        requested_at: message.received_at_ms,
    })
}

/// The `record` of a profile notice.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum NoticeKind {
    /// A profile was stored.
    Profile,
}

/// A new profile was stored on a conversation: put on the inbound FIFO queue (message group
/// = the conversation, so it is handled in order with the customer's messages) for the
/// router to evaluate the rules with profile conditions. No message is stored for it and it
/// is not counted as an inbound message.
///
/// ```json
/// {"schema_version":1,"record":"profile","channel":"weibo","account_id":"brand",
///  "conversation_key":"weibo:brand:1234567890","fetched_at":1700000001000}
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProfileNotice {
    /// Always [`PROFILE_SCHEMA_VERSION`].
    pub schema_version: u16,
    /// Always `profile`: what tells a notice from a normalized message on the inbound queue.
    pub record: NoticeKind,
    /// Channel.
    pub channel: Channel,
    /// Account.
    pub account_id: String,
    /// The conversation.
    pub conversation_key: String,
    /// The stored profile's `fetched_at`, Unix ms.
    pub fetched_at: i64,
}

impl ProfileNotice {
    /// The notice of `profile` stored for `command`'s conversation.
    pub fn for_stored(command: &ProfileFetch, profile: &CustomerProfile) -> Self {
        ProfileNotice {
            schema_version: PROFILE_SCHEMA_VERSION,
            record: NoticeKind::Profile,
            channel: command.channel,
            account_id: command.account_id.clone(),
            conversation_key: command.conversation_key.clone(),
            fetched_at: profile.fetched_at,
        }
    }

    /// FIFO message group: the conversation's, like its messages'.
    pub fn message_group_id(&self) -> String {
        message_group_id(&self.conversation_key)
    }

    /// FIFO deduplication id: `profile:{conversation}:{fetched_at}` (its SHA-256 when SQS
    /// would refuse it: over 128 characters or not printable ASCII).
    pub fn dedupe_id(&self) -> String {
        let id = format!("profile:{}:{}", self.conversation_key, self.fetched_at);
        if id.len() <= 128 && id.bytes().all(|b| b.is_ascii_graphic()) {
            id
        } else {
            hex::encode(Sha256::digest(id.as_bytes()))
        }
    }

    /// Reads an inbound queue body as a notice: `None` when it is not one (no
    /// `"record":"profile"`), an error when it says it is one but does not read as one.
    pub fn from_body(body: &str) -> Option<Result<ProfileNotice, serde_json::Error>> {
        #[derive(Deserialize)]
        struct Probe {
            #[serde(default)]
            record: Option<serde_json::Value>,
        }
        let probe: Probe = serde_json::from_str(body).ok()?;
        probe.record.as_ref()?;
        Some(serde_json::from_str(body))
    }
}
