//! The customer's profile as the platform holds it, cached on the conversation (`profile`
//! on the conversation item, `docs/profiles.md`).
//!
//! Wire form (one map; `source` says which platform's fields are present):
//!
//! ```json
//! {"fetched_at":1700000000000,"source":"wechat","language":"zh_CN","subscribed":true,
//!  "subscribe_time":1699990000000,"subscribe_scene":"ADD_SCENE_QR_CODE",
//!  "remark":"VIP 张先生","tag_ids":[2,105],"unionid":"o6_bmasdasdsad6_2sgVt7hMZOPfL"}
//! {"fetched_at":1700000000000,"source":"weibo","screen_name":"某大V","followers_count":150000,
//!  "verified":true,"verified_reason":"知名博主"}
//! ```
//!
//! WeChat's `user/info` no longer answers nicknames or avatars (since 2021-12-27): the desk
//! shows the name a CRM set for the customer's `unionid` ([`crate::profile::crm`], joined by
//! the desk API), else the operator's `remark`, else the OpenID.

use crate::message::Channel;
use serde::{Deserialize, Serialize};

/// The most characters kept of any text field of a profile (a remark, a screen name, a
/// verification reason): the platforms document shorter limits; this only bounds the item.
pub const PROFILE_TEXT_MAX_CHARS: usize = 200;

/// The most tag ids kept (WeChat allows 20 tags per user).
pub const PROFILE_MAX_TAGS: usize = 20;

/// The followers count from which the desk badges a customer as an opinion leader (意见领袖),
/// as does a verified account. Rules set their own thresholds (`followers_at_least`).
pub const OPINION_LEADER_FOLLOWERS: u64 = 100_000;

/// What a platform says about a customer, when it was fetched.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CustomerProfile {
    /// When it was fetched, Unix ms.
    pub fetched_at: i64,
    /// The platform that answered it.
    pub source: Channel,
    /// WeChat `language` (`zh_CN`, `en`, …).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub language: Option<String>,
    /// WeChat `subscribe`: the customer follows the account.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subscribed: Option<bool>,
    /// WeChat `subscribe_time` (seconds), kept in Unix ms.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subscribe_time: Option<i64>,
    /// WeChat `subscribe_scene` (`ADD_SCENE_QR_CODE`, `ADD_SCENE_SEARCH`, …).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subscribe_scene: Option<String>,
    /// WeChat `remark`: the operator's note on the follower (the name the desk shows).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub remark: Option<String>,
    /// WeChat `tagid_list`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tag_ids: Vec<i64>,
    /// WeChat `unionid`, when the account is bound to an open platform account.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unionid: Option<String>,
    /// Weibo `screen_name`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub screen_name: Option<String>,
    /// Weibo `followers_count`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub followers_count: Option<u64>,
    /// Weibo `verified`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub verified: Option<bool>,
    /// Weibo `verified_reason`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub verified_reason: Option<String>,
}

impl CustomerProfile {
    /// True when `other` says the same about the customer (`fetched_at` aside).
    pub fn same_values(&self, other: &CustomerProfile) -> bool {
        let mut a = self.clone();
        a.fetched_at = other.fetched_at;
        &a == other
    }

    /// The platform's name for the customer: WeChat's operator remark, Weibo's screen name;
    /// none otherwise (the desk shows a CRM's name before it, and falls back to the customer's
    /// platform id).
    pub fn display_name(&self) -> Option<&str> {
        self.remark.as_deref().or(self.screen_name.as_deref())
    }

    /// At least [`OPINION_LEADER_FOLLOWERS`] followers, or verified.
    pub fn is_opinion_leader(&self) -> bool {
        self.verified == Some(true)
            || self
                .followers_count
                .is_some_and(|n| n >= OPINION_LEADER_FOLLOWERS)
    }

    /// True when it was fetched at least `refresh_ms` before `now_ms`.
    pub fn is_stale(&self, now_ms: i64, refresh_ms: i64) -> bool {
        now_ms.saturating_sub(self.fetched_at) >= refresh_ms
    }
}

/// Cuts a platform's text to [`PROFILE_TEXT_MAX_CHARS`]; blank text is no text.
pub fn profile_text(text: Option<&str>) -> Option<String> {
    let t = text?.trim();
    (!t.is_empty()).then(|| t.chars().take(PROFILE_TEXT_MAX_CHARS).collect())
}
