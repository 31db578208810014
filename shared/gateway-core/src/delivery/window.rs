//! Reply windows and quotas: when the platforms let an account write to a customer, and how
//! many times.
//!
//! Both platforms only accept customer-service replies for a while after the customer did
//! something (reference: the WeChat 客服消息 and Weibo fan-service reply docs):
//!
//! | channel | trigger | window | replies (default) |
//! |---|---|---|---|
//! | WeChat | a message from the customer | 48 h | 5 (older docs: 20) |
//! | WeChat | follow, menu click, QR scan | 1 min | 3 |
//! | Weibo | a message, follow, subscribe, menu click, QR scan | 48 h | unlimited (one doc: 99) |
//! | Weibo | an @mention | 48 h | 1 per mention |
//!
//! The documents disagree over the years, so every number is configuration
//! ([`ReplyPolicy`]); the platform's own refusal (WeChat 45015/45047, …) stays the final word
//! and is handled the same way as a refusal decided here.
//!
//! The conversation keeps one [`WindowUse`] per trigger class ([`ReplyWindows`]): when the
//! latest trigger of that class happened and how many replies were sent since. The router
//! updates it for every inbound message (through
//! [`Conversation::record_inbound`](crate::conversation::Conversation::record_inbound)); the
//! reply sender checks it before sending and charges the reply to one window after.
//!
//! Pure: times are passed in (Unix milliseconds).

pub use crate::conversation::windows::{
    ReplyWindows, Trigger, UndeliverableReason, UndeliverableReply, WindowUse,
};
use crate::message::Channel;

/// How long one trigger class keeps the window open and how many replies it allows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WindowLimit {
    /// Window length after the trigger, in seconds.
    pub window_secs: i64,
    /// Most replies within the window; `None` for no limit.
    pub max_replies: Option<u32>,
}

/// The windows of one channel; a class set to `None` opens no window on that channel.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChannelPolicy {
    /// After a customer message.
    pub message: Option<WindowLimit>,
    /// After a follow, menu click or scan.
    pub event: Option<WindowLimit>,
    /// After an @mention.
    pub mention: Option<WindowLimit>,
}

impl ChannelPolicy {
    fn limit(&self, trigger: Trigger) -> Option<WindowLimit> {
        match trigger {
            Trigger::Message => self.message,
            Trigger::Event => self.event,
            Trigger::Mention => self.mention,
        }
    }
}

/// The reply windows of both channels (configuration of the reply sender).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReplyPolicy {
    /// WeChat customer-service messages.
    pub wechat: ChannelPolicy,
    /// Weibo replies.
    pub weibo: ChannelPolicy,
}

/// 48 hours.
pub const FORTY_EIGHT_HOURS_SECS: i64 = 48 * 3600;

impl Default for ReplyPolicy {
    /// The current documentation: WeChat 5 replies within 48 h of a message and 3 within a
    /// minute of a follow/click/scan; Weibo unlimited within 48 h, one reply per mention.
    fn default() -> Self {
        ReplyPolicy {
            wechat: ChannelPolicy {
                message: Some(WindowLimit {
                    window_secs: FORTY_EIGHT_HOURS_SECS,
                    max_replies: Some(5),
                }),
                event: Some(WindowLimit {
                    window_secs: 60,
                    max_replies: Some(3),
                }),
                mention: None,
            },
            weibo: ChannelPolicy {
                message: Some(WindowLimit {
                    window_secs: FORTY_EIGHT_HOURS_SECS,
                    max_replies: None,
                }),
                event: Some(WindowLimit {
                    window_secs: FORTY_EIGHT_HOURS_SECS,
                    max_replies: None,
                }),
                mention: Some(WindowLimit {
                    window_secs: FORTY_EIGHT_HOURS_SECS,
                    max_replies: Some(1),
                }),
            },
        }
    }
}

impl ReplyPolicy {
    /// The policy of `channel`.
    pub fn for_channel(&self, channel: Channel) -> &ChannelPolicy {
        match channel {
            Channel::WeChat => &self.wechat,
            Channel::Weibo => &self.weibo,
        }
    }
}

fn is_open(limit: WindowLimit, w: WindowUse, now_ms: i64) -> bool {
    now_ms
        < w.opened_at
            .saturating_add(limit.window_secs.saturating_mul(1000))
}

fn has_quota(limit: WindowLimit, w: WindowUse) -> bool {
    limit.max_replies.is_none_or(|max| w.sent < max)
}

/// Decides whether a reply may be sent at `now_ms`, and which window it is charged to: the
/// most recently opened window that is still open and has quota left.
pub fn check(
    policy: &ChannelPolicy,
    windows: &ReplyWindows,
    now_ms: i64,
) -> Result<Trigger, UndeliverableReason> {
    let mut candidates: Vec<(Trigger, WindowLimit, WindowUse)> =
        [Trigger::Message, Trigger::Event, Trigger::Mention]
            .into_iter()
            .filter_map(|t| Some((t, policy.limit(t)?, windows.get(t)?)))
            .collect();
    candidates.sort_by_key(|(_, _, w)| std::cmp::Reverse(w.opened_at));
    if let Some((t, _, _)) = candidates
        .iter()
        .find(|(_, l, w)| is_open(*l, *w, now_ms) && has_quota(*l, *w))
    {
        return Ok(*t);
    }
    if windows.unfollowed_at.is_some() {
        return Err(UndeliverableReason::Unfollowed);
    }
    if candidates.is_empty() {
        return Err(UndeliverableReason::NoInteraction);
    }
    if candidates.iter().any(|(_, l, w)| is_open(*l, *w, now_ms)) {
        return Err(UndeliverableReason::QuotaExhausted);
    }
    Err(UndeliverableReason::WindowClosed)
}

/// One reply window as an agent sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WindowOutlook {
    /// What opened it.
    pub trigger: Trigger,
    /// When, Unix ms.
    pub opened_at: i64,
    /// When it closes, Unix ms.
    pub closes_at: i64,
    /// Replies charged to it so far.
    pub sent: u32,
    /// Replies it still allows (`None`: no limit); 0 once closed.
    pub left: Option<u32>,
}

/// The conversation's reply windows at `now_ms` under `policy`: whether a reply can be sent
/// (the window it would be charged to, or why not), and each window's close and quota.
pub fn outlook(
    policy: &ChannelPolicy,
    windows: &ReplyWindows,
    now_ms: i64,
) -> (Result<Trigger, UndeliverableReason>, Vec<WindowOutlook>) {
    let each = [Trigger::Message, Trigger::Event, Trigger::Mention]
        .into_iter()
        .filter_map(|t| {
            let (limit, used) = (policy.limit(t)?, windows.get(t)?);
            let open = is_open(limit, used, now_ms) && windows.unfollowed_at.is_none();
            Some(WindowOutlook {
                trigger: t,
                opened_at: used.opened_at,
                closes_at: used
                    .opened_at
                    .saturating_add(limit.window_secs.saturating_mul(1000)),
                sent: used.sent,
                left: match (open, limit.max_replies) {
                    (false, _) => Some(0),
                    (true, Some(max)) => Some(max.saturating_sub(used.sent)),
                    (true, None) => None,
                },
            })
        })
        .collect();
    (check(policy, windows, now_ms), each)
}

/// The window a delivered reply is charged to: the one [`check`] would pick, else (the
/// platform accepted what the policy would not) the most recent open one, if any.
pub fn charge(policy: &ChannelPolicy, windows: &ReplyWindows, now_ms: i64) -> Option<Trigger> {
    check(policy, windows, now_ms).ok().or_else(|| {
        [Trigger::Message, Trigger::Event, Trigger::Mention]
            .into_iter()
            .filter_map(|t| Some((t, policy.limit(t)?, windows.get(t)?)))
            .filter(|(_, l, w)| is_open(*l, *w, now_ms))
            .max_by_key(|(_, _, w)| w.opened_at)
            .map(|(t, _, _)| t)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::message::{Content, NormalizedMessage, event};
    use crate::testing::text_message;
    use std::collections::BTreeMap;

    const H: i64 = 3_600_000;

    fn event_message(name: &str, at: i64) -> NormalizedMessage {
        let mut m = text_message("demo", "u1", "1", "x", at);
        m.content = Content::Event {
            event: name.into(),
            platform_event: name.into(),
            key: None,
            detail: BTreeMap::new(),
        };
        m
    }

    fn mention(at: i64) -> NormalizedMessage {
        let mut m = text_message("brand", "123", "1", "@brand help", at);
        m.channel = Channel::Weibo;
        m.content = Content::Mention {
            subtype: "status".into(),
            target_id: Some("5".into()),
            text: "@brand help".into(),
            post: None,
        };
        m
    }

    #[test]
    fn wechat_message_window_allows_five_replies_within_48_hours() {
        let policy = ReplyPolicy::default().wechat;
        let mut w = ReplyWindows::default();
        assert_eq!(
            check(&policy, &w, 0),
            Err(UndeliverableReason::NoInteraction)
        );
        w.record_inbound(&text_message("demo", "u1", "1", "hi", 10 * H));
        for _ in 0..5 {
            assert_eq!(check(&policy, &w, 11 * H), Ok(Trigger::Message));
            w.record_sent(Trigger::Message);
        }
        assert_eq!(
            check(&policy, &w, 11 * H),
            Err(UndeliverableReason::QuotaExhausted)
        );
        assert_eq!(
            check(&policy, &w, 58 * H + 1),
            Err(UndeliverableReason::WindowClosed)
        );
        // A new message renews the window and its count.
        w.record_inbound(&text_message("demo", "u1", "2", "again", 60 * H));
        assert_eq!(check(&policy, &w, 61 * H), Ok(Trigger::Message));
    }

    #[test]
    fn wechat_follow_opens_a_one_minute_window_of_three() {
        let policy = ReplyPolicy::default().wechat;
        let mut w = ReplyWindows::default();
        w.record_inbound(&event_message(event::FOLLOW, 1_000));
        assert_eq!(check(&policy, &w, 30_000), Ok(Trigger::Event));
        assert_eq!(
            check(&policy, &w, 61_001),
            Err(UndeliverableReason::WindowClosed)
        );
        for _ in 0..3 {
            w.record_sent(Trigger::Event);
        }
        assert_eq!(
            check(&policy, &w, 2_000),
            Err(UndeliverableReason::QuotaExhausted)
        );
    }

    #[test]
    fn location_reports_and_menu_links_open_no_window() {
        let mut w = ReplyWindows::default();
        w.record_inbound(&event_message(event::LOCATION, 1_000));
        w.record_inbound(&event_message(event::VIEW, 1_000));
        assert!(w.is_empty());
    }

    #[test]
    fn unfollow_closes_every_window_until_the_next_trigger() {
        let policy = ReplyPolicy::default().wechat;
        let mut w = ReplyWindows::default();
        w.record_inbound(&text_message("demo", "u1", "1", "hi", 1_000));
        w.record_inbound(&event_message(event::UNFOLLOW, 2_000));
        assert_eq!(
            check(&policy, &w, 3_000),
            Err(UndeliverableReason::Unfollowed)
        );
        w.record_inbound(&event_message(event::FOLLOW, 4_000));
        assert_eq!(check(&policy, &w, 5_000), Ok(Trigger::Event));
        assert_eq!(w.unfollowed_at, None);
    }

    #[test]
    fn weibo_allows_one_reply_per_mention_and_unlimited_after_a_message() {
        let policy = ReplyPolicy::default().weibo;
        let mut w = ReplyWindows::default();
        w.record_inbound(&mention(1_000));
        assert_eq!(check(&policy, &w, 2_000), Ok(Trigger::Mention));
        w.record_sent(Trigger::Mention);
        assert_eq!(
            check(&policy, &w, 3_000),
            Err(UndeliverableReason::QuotaExhausted)
        );
        let mut dm = text_message("brand", "123", "2", "dm", 4_000);
        dm.channel = Channel::Weibo;
        w.record_inbound(&dm);
        for _ in 0..100 {
            assert_eq!(check(&policy, &w, 5_000), Ok(Trigger::Message));
            w.record_sent(Trigger::Message);
        }
    }

    #[test]
    fn the_most_recent_open_window_with_quota_is_charged() {
        let policy = ReplyPolicy::default().wechat;
        let mut w = ReplyWindows::default();
        w.record_inbound(&text_message("demo", "u1", "1", "hi", 1_000));
        w.record_inbound(&event_message(event::CLICK, 2_000));
        assert_eq!(check(&policy, &w, 3_000), Ok(Trigger::Event));
        for _ in 0..3 {
            w.record_sent(Trigger::Event);
        }
        assert_eq!(check(&policy, &w, 3_000), Ok(Trigger::Message));
        assert_eq!(charge(&policy, &w, 3_000), Some(Trigger::Message));
    }

    #[test]
    fn windows_serialize_compactly() {
        let mut w = ReplyWindows::default();
        assert_eq!(serde_json::to_string(&w).expect("json"), "{}");
        w.record_inbound(&text_message("demo", "u1", "1", "hi", 7));
        assert_eq!(
            serde_json::to_string(&w).expect("json"),
            r#"{"message":{"opened_at":7,"sent":0}}"#
        );
    }
}
