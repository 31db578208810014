//! The reply-window state a conversation keeps: per trigger class, when the customer last
//! opened a window and how many replies were sent in it ([`ReplyWindows`]), and the replies
//! that could not be delivered ([`UndeliverableReply`]). The limits applied to this state are
//! the reply sender's policy (`crate::delivery::window`).

use crate::message::{Content, NormalizedMessage, event};
use serde::{Deserialize, Serialize};
use std::fmt;

/// What kind of customer action opened a window.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Trigger {
    /// The customer sent a message (text, image, voice, video, location, link).
    Message,
    /// The customer followed, subscribed, clicked a menu or scanned a QR code.
    Event,
    /// The customer @mentioned the account in public (Weibo).
    Mention,
}

impl Trigger {
    /// Lowercase name, for logs and metrics.
    pub fn as_str(self) -> &'static str {
        match self {
            Trigger::Message => "message",
            Trigger::Event => "event",
            Trigger::Mention => "mention",
        }
    }

    /// The trigger class of an inbound message, `None` when it opens no window (location
    /// reports, menu links, unfollows, send-job notifications, unknown types).
    pub fn of(message: &NormalizedMessage) -> Option<Trigger> {
        match &message.content {
            Content::Text { .. }
            | Content::Image { .. }
            | Content::Voice { .. }
            | Content::Video { .. }
            | Content::Location { .. }
            | Content::Link { .. } => Some(Trigger::Message),
            Content::Mention { .. } => Some(Trigger::Mention),
            // A comment under a post opens no private window: it is answered in public.
            Content::Comment { .. } => None,
            Content::Event { event: name, .. } => match name.as_str() {
                event::FOLLOW
                | event::FOLLOW_BY_SCAN
                | event::SCAN
                | event::CLICK
                | event::SUBSCRIBE
                | "scancode_push"
                | "scancode_waitmsg" => Some(Trigger::Event),
                _ => None,
            },
            Content::Other { .. } => None,
        }
    }
}

/// One window: when its latest trigger happened and how many replies it has carried since.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct WindowUse {
    /// When the latest trigger of this class happened, Unix ms.
    pub opened_at: i64,
    /// Replies delivered since then.
    #[serde(default)]
    pub sent: u32,
}

/// The reply windows of one conversation (stored on the conversation).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReplyWindows {
    /// Opened by the customer's latest message.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<WindowUse>,
    /// Opened by the customer's latest follow, menu click or scan.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub event: Option<WindowUse>,
    /// Opened by the customer's latest @mention.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mention: Option<WindowUse>,
    /// The customer unfollowed (or unsubscribed) at this time, Unix ms: every window is
    /// closed until the next trigger.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unfollowed_at: Option<i64>,
}

impl ReplyWindows {
    /// True when nothing was ever recorded (keeps it out of the stored item).
    pub fn is_empty(&self) -> bool {
        *self == ReplyWindows::default()
    }

    fn slot(&mut self, trigger: Trigger) -> &mut Option<WindowUse> {
        match trigger {
            Trigger::Message => &mut self.message,
            Trigger::Event => &mut self.event,
            Trigger::Mention => &mut self.mention,
        }
    }

    pub(crate) fn get(&self, trigger: Trigger) -> Option<WindowUse> {
        match trigger {
            Trigger::Message => self.message,
            Trigger::Event => self.event,
            Trigger::Mention => self.mention,
        }
    }

    /// Records an inbound message: a trigger (re)opens its window with a fresh count; an
    /// unfollow closes every window. Older messages than the current trigger change nothing.
    pub fn record_inbound(&mut self, message: &NormalizedMessage) {
        let at = message.received_at_ms;
        if let Content::Event { event: name, .. } = &message.content
            && (name == event::UNFOLLOW || name == event::UNSUBSCRIBE)
        {
            *self = ReplyWindows {
                unfollowed_at: Some(at),
                ..ReplyWindows::default()
            };
            return;
        }
        let Some(trigger) = Trigger::of(message) else {
            return;
        };
        let slot = self.slot(trigger);
        if slot.is_none_or(|w| w.opened_at <= at) {
            *slot = Some(WindowUse {
                opened_at: at,
                sent: 0,
            });
        }
        if self.unfollowed_at.is_some_and(|u| u <= at) {
            self.unfollowed_at = None;
        }
    }

    /// Charges one delivered reply to the window `trigger`.
    pub fn record_sent(&mut self, trigger: Trigger) {
        if let Some(w) = self.slot(trigger) {
            w.sent = w.sent.saturating_add(1);
        }
    }
}

/// The public replies (comments under posts, `public_comment`) delivered in a conversation.
/// They are not charged to any private window (a public comment has none): they are counted
/// here instead, for the desk and the statistics.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PublicReplies {
    /// Public replies delivered, in all.
    #[serde(default)]
    pub sent: u64,
    /// When the latest was delivered, Unix ms.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_at: Option<i64>,
}

impl PublicReplies {
    /// True when none was ever delivered (keeps it out of the stored item).
    pub fn is_empty(&self) -> bool {
        *self == PublicReplies::default()
    }

    /// Counts one public reply delivered at `at`.
    pub fn record_sent(&mut self, at: i64) {
        self.sent = self.sent.saturating_add(1);
        self.last_at = Some(self.last_at.map_or(at, |l| l.max(at)));
    }
}

/// Why a reply was not (or could not be) delivered. Stored on the conversation and on the
/// delivery record, and used as the `Reason` metric dimension.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum UndeliverableReason {
    /// The customer never did anything that opens a window.
    NoInteraction,
    /// Every window has closed (WeChat 45015).
    WindowClosed,
    /// A window is open but its reply count is used up (WeChat 45047).
    QuotaExhausted,
    /// The customer unfollowed (WeChat 43004).
    Unfollowed,
    /// The account has no customer-service API (WeChat `reply_mode: passive`).
    NoReplyApi,
    /// The platform may or may not have delivered it (a crash or timeout during the call):
    /// it is not sent again, so that it is never sent twice.
    DeliveryUncertain,
    /// The follower refused the account's messages (WeChat template 43101).
    UserRefused,
    /// WeChat reported a template message blocked by the follower (`failed:user block`).
    UserBlock,
    /// WeChat reported that it failed to deliver a template message (`failed: system failed`).
    SystemFailed,
}

impl UndeliverableReason {
    /// snake_case name.
    pub fn as_str(self) -> &'static str {
        match self {
            UndeliverableReason::NoInteraction => "no_interaction",
            UndeliverableReason::WindowClosed => "window_closed",
            UndeliverableReason::QuotaExhausted => "quota_exhausted",
            UndeliverableReason::Unfollowed => "unfollowed",
            UndeliverableReason::NoReplyApi => "no_reply_api",
            UndeliverableReason::DeliveryUncertain => "delivery_uncertain",
            UndeliverableReason::UserRefused => "user_refused",
            UndeliverableReason::UserBlock => "user_block",
            UndeliverableReason::SystemFailed => "system_failed",
        }
    }
}

impl fmt::Display for UndeliverableReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A reply that could not be delivered, as marked on its conversation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UndeliverableReply {
    /// The reply id ([`ReplyCommand::dedupe_id`](crate::outbound::ReplyCommand::dedupe_id)).
    pub reply_id: String,
    /// Why.
    pub reason: UndeliverableReason,
    /// The platform's error code when the platform refused (`wechat:45015`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub platform_code: Option<String>,
    /// When it was marked, Unix ms.
    pub at: i64,
}
