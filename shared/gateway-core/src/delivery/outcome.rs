//! What a delivery attempt can end in: the outcome of a reply, the errors that hand it back
//! for another attempt, and which attempt of how many this is.

use crate::delivery::ports::DeliveryState;
use crate::delivery::window::{Trigger, UndeliverableReason};
use crate::ports::PortError;
use std::time::Duration;

/// What happened to a reply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DeliveryOutcome {
    /// Delivered now and recorded on the conversation; charged to this window.
    Delivered {
        /// The window the reply was charged to.
        window: Option<Trigger>,
        /// When this was a person's first answer in the conversation's episode: the time from
        /// the episode's opening to this reply, ms (the first response time; never set for
        /// rule or system replies).
        first_response_ms: Option<i64>,
        /// The reply answered a customer who was waiting (a person's, or a rule's that counts
        /// as an answer).
        answered_waiting: bool,
    },
    /// An earlier copy of this command already reached a final state: nothing was done.
    AlreadyHandled(DeliveryState),
    /// Not delivered; marked on the conversation.
    Undeliverable {
        /// Why.
        reason: UndeliverableReason,
        /// The platform's code when it refused.
        platform_code: Option<String>,
    },
    /// An auto-reply for a WeChat account in passive reply mode: the webhook answers the
    /// stateless rules in its HTTP response and the account has no API for the others, so it is
    /// acknowledged without a call and without marking the conversation.
    SkippedPassive,
    /// An auto-reply that the committed decision for its message does not contain (queued by
    /// an attempt of the router that lost a conflict and re-evaluated): acknowledged without a
    /// call.
    Superseded,
    /// Can never be delivered; moved to the outbound dead-letter queue with this code.
    DeadLettered {
        /// `wechat:40164`, `gateway:unknown_account`, …
        code: String,
    },
}

impl DeliveryOutcome {
    /// Short label for logs and metrics.
    pub fn label(&self) -> &'static str {
        match self {
            DeliveryOutcome::Delivered { .. } => "delivered",
            DeliveryOutcome::AlreadyHandled(_) => "duplicate",
            DeliveryOutcome::Undeliverable { .. } => "undeliverable",
            DeliveryOutcome::SkippedPassive => "skipped_passive",
            DeliveryOutcome::Superseded => "superseded",
            DeliveryOutcome::DeadLettered { .. } => "dead_lettered",
        }
    }
}

/// Why a command must be retried later (or, for a permanent port error, moved aside).
#[derive(Debug, thiserror::Error)]
pub enum DeliveryError {
    /// A port failed.
    #[error(transparent)]
    Port(#[from] PortError),
    /// Nothing was delivered, no attempt holds the reply, and a later attempt may succeed
    /// (platform busy or throttling, token unavailable, request not sent, triggering message
    /// not stored yet). On the last allowed attempt the command is dead-lettered instead
    /// ([`deliver_attempt`]).
    #[error("retry later: {0}")]
    Retry(String),
    /// The reply's outcome is not settled yet: another attempt may be calling the platform,
    /// or the platform accepted it and recording it on the conversation must still succeed.
    /// Retried, never given up on.
    #[error("retry later: {why}")]
    Unsettled {
        /// What is pending.
        why: String,
        /// When known, how long until it can settle: an earlier attempt's claim runs out then
        /// (and the reply is marked `delivery_uncertain`). Retrying sooner only spends receives,
        /// and the queue's own redrive counts receives.
        settles_in: Option<Duration>,
    },
    /// A template message held until its account's daily template quota resets
    /// ([`crate::delivery::template_quota`]): not sent, nothing lost, its record `held`. Handed
    /// back to the queue for `delay`; a hold is not a delivery attempt, so it never
    /// dead-letters the command through the attempt limit.
    #[error("held until the template quota resets: {why}")]
    Held {
        /// Why the quota is used up.
        why: String,
        /// When it is tried again, Unix ms.
        retry_at_ms: i64,
        /// How long from now.
        delay: Duration,
        /// Holds of this command so far, this one included.
        holds: u32,
    },
}

impl DeliveryError {
    /// True when the command should be retried (SQS redelivery with backoff).
    pub fn is_retryable(&self) -> bool {
        match self {
            DeliveryError::Port(e) => e.is_retryable(),
            DeliveryError::Retry(_)
            | DeliveryError::Unsettled { .. }
            | DeliveryError::Held { .. } => true,
        }
    }

    /// The earliest useful retry, when known (see [`DeliveryError::Unsettled`]).
    pub fn retry_not_before(&self) -> Option<Duration> {
        match self {
            DeliveryError::Unsettled { settles_in, .. } => *settles_in,
            DeliveryError::Held { delay, .. } => Some(*delay),
            _ => None,
        }
    }

    pub(crate) fn unsettled(why: impl Into<String>) -> Self {
        DeliveryError::Unsettled {
            why: why.into(),
            settles_in: None,
        }
    }
}

/// Which delivery attempt of a command this is, and how many are allowed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Attempt {
    /// 1 for the first delivery: the queue's receive count (`ApproximateReceiveCount`).
    pub number: u32,
    /// The last attempt allowed (`REPLY_MAX_ATTEMPTS`), at least 1.
    pub limit: u32,
}

impl Attempt {
    /// True when no further attempt is allowed after this one.
    pub fn is_last(self) -> bool {
        self.number >= self.limit
    }
}
