//! The clocks that ring: what the SLA monitor schedules when a conversation changes, and what
//! it does when a timer comes due. Pure: the monitor's adapters do the I/O.
//!
//! - A conversation change (seen on the table's stream) that sets a new answer due time
//!   schedules a **first-response timer**; a new resolution due time a **resolution timer**;
//!   an answered (`pending`) conversation, when the rules document sets
//!   `lifecycle.auto_resolve_pending_after_secs`, an **auto-resolve timer**. An escalation that
//!   begins raises an **alert** at once.
//! - When a timer comes due, the conversation is read again. A first-response timer whose wait
//!   is over (answered, resolved, or another wait with another clock) is stale and dropped; one
//!   whose wait is still on records a breach, once (`sla_breached_at`), after a short grace so
//!   that a reply delivered just before the due time and still being recorded is not taken for
//!   a breach. A timer for a conversation that no longer exists is dropped.
//! - Alerts are raised from the stream only: an escalation that began, and a breach once it is
//!   recorded. So no breach alerts twice or without being recorded, and a failed publication
//!   is retried with its stream record.

pub mod monitor;
pub mod ports;

use crate::conversation::{Conversation, Status};
use crate::message::Channel;
use serde::{Deserialize, Serialize};

/// Version of the timer wire schema.
pub const TIMER_SCHEMA_VERSION: u16 = 1;

/// What a timer checks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TimerKind {
    /// The answer due time of one wait.
    FirstResponse,
    /// The resolution due time of one episode.
    Resolution,
    /// The end of the time an answered conversation may stay pending.
    AutoResolve,
}

impl TimerKind {
    /// The name in messages, logs and metrics.
    pub fn as_str(self) -> &'static str {
        match self {
            TimerKind::FirstResponse => "first_response",
            TimerKind::Resolution => "resolution",
            TimerKind::AutoResolve => "auto_resolve",
        }
    }
}

/// A scheduled check of one conversation (the body of a message on the timers queue).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Timer {
    /// Always [`TIMER_SCHEMA_VERSION`] when produced by this build.
    pub schema_version: u16,
    /// The conversation.
    pub conversation_key: String,
    /// What to check.
    pub kind: TimerKind,
    /// When it comes due, Unix ms.
    pub due_at: i64,
    /// The start of what it times, Unix ms: the wait's `waiting_since`, the episode's
    /// `opened_at`, or the answer's `last_answered_at`. A conversation whose field no longer
    /// holds this value has moved on, and the timer is stale.
    pub since: i64,
}

impl Timer {
    fn new(c: &Conversation, kind: TimerKind, due_at: i64, since: i64) -> Self {
        Timer {
            schema_version: TIMER_SCHEMA_VERSION,
            conversation_key: c.key.clone(),
            kind,
            due_at,
            since,
        }
    }

    /// A deduplication id: the same clock of the same conversation is scheduled once.
    pub fn dedupe_id(&self) -> String {
        format!(
            "{}:{}:{}:{}",
            self.conversation_key,
            self.kind.as_str(),
            self.since,
            self.due_at
        )
    }
}

/// An alert for the operations team (published to the alerts topic).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Alert {
    /// An escalation episode began.
    Escalation {
        /// The conversation.
        conversation_key: String,
        /// Channel.
        channel: String,
        /// Account.
        account_id: String,
        /// Team, when assigned.
        #[serde(skip_serializing_if = "Option::is_none")]
        team: Option<String>,
        /// Tags.
        tags: Vec<String>,
        /// When it began, Unix ms.
        escalated_at: i64,
        /// When an answer is due, Unix ms.
        #[serde(skip_serializing_if = "Option::is_none")]
        response_due_at: Option<i64>,
    },
    /// A due time passed with no answer (or no resolution).
    Breach {
        /// The conversation.
        conversation_key: String,
        /// Channel.
        channel: String,
        /// Account.
        account_id: String,
        /// Team, when assigned.
        #[serde(skip_serializing_if = "Option::is_none")]
        team: Option<String>,
        /// `first_response` or `resolution`.
        kind: TimerKind,
        /// The due time that passed, Unix ms.
        due_at: i64,
        /// The service level that set it, when one did.
        #[serde(skip_serializing_if = "Option::is_none")]
        service_level: Option<String>,
        /// Escalated at the time.
        escalated: bool,
    },
}

impl Alert {
    /// A one-line subject for an e-mail or chat notification.
    pub fn subject(&self) -> String {
        match self {
            Alert::Escalation {
                channel,
                account_id,
                ..
            } => format!("Escalation on {channel}/{account_id}: answer due"),
            Alert::Breach {
                channel,
                account_id,
                kind: TimerKind::Resolution,
                ..
            } => format!("Resolution overdue on {channel}/{account_id}"),
            Alert::Breach {
                channel,
                account_id,
                ..
            } => format!("No answer in time on {channel}/{account_id}"),
        }
    }

    /// `escalation` or `breach` (a message attribute subscribers can filter on).
    pub fn kind(&self) -> &'static str {
        match self {
            Alert::Escalation { .. } => "escalation",
            Alert::Breach { .. } => "breach",
        }
    }

    fn breach(c: &Conversation, kind: TimerKind, due_at: i64) -> Self {
        Alert::Breach {
            conversation_key: c.key.clone(),
            channel: c.channel.to_string(),
            account_id: c.account_id.clone(),
            team: c.team.clone(),
            kind,
            due_at,
            service_level: c.service_level.clone(),
            escalated: c.escalated,
        }
    }
}

/// What a change of a conversation (its stored image before and after) calls for.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Reaction {
    /// Timers to schedule.
    pub timers: Vec<Timer>,
    /// Alerts to publish now.
    pub alerts: Vec<Alert>,
    /// The write resolved the conversation: how long its episode took, ms (from its first
    /// message to the resolution), for the `ResolutionTime` metric, whoever resolved it.
    pub resolution_ms: Option<i64>,
}

/// The timers and alerts a conversation change calls for. `auto_resolve_after_ms` is the
/// rules document's `lifecycle.auto_resolve_pending_after_secs`, in ms.
pub fn react(
    old: Option<&Conversation>,
    new: &Conversation,
    auto_resolve_after_ms: Option<i64>,
) -> Reaction {
    let mut r = Reaction::default();
    let changed = |f: fn(&Conversation) -> Option<i64>| old.is_none_or(|o| f(o) != f(new));
    if let (Some(due), Some(since)) = (new.response_due_at, new.waiting_since)
        && (changed(|c| c.response_due_at) || changed(|c| c.waiting_since))
    {
        r.timers
            .push(Timer::new(new, TimerKind::FirstResponse, due, since));
    }
    if let (Some(due), Some(since)) = (new.resolution_due_at, new.opened_at)
        && new.status != Status::Resolved
        && (changed(|c| c.resolution_due_at) || changed(|c| c.opened_at))
    {
        r.timers
            .push(Timer::new(new, TimerKind::Resolution, due, since));
    }
    if let (Some(after), Some(answered), Status::Pending) =
        (auto_resolve_after_ms, new.last_answered_at, new.status)
        && (changed(|c| c.last_answered_at) || old.is_some_and(|o| o.status != Status::Pending))
    {
        r.timers.push(Timer::new(
            new,
            TimerKind::AutoResolve,
            answered.saturating_add(after),
            answered,
        ));
    }
    // A breach the monitor recorded: alerted from here, so that only a recorded breach
    // alerts, and a failed publication is retried with the stream record.
    let newly = |f: fn(&Conversation) -> Option<i64>| f(new).is_some() && changed(f);
    if newly(|c| c.sla_breached_at) {
        let due = new.response_due_at.unwrap_or_default();
        r.alerts
            .push(Alert::breach(new, TimerKind::FirstResponse, due));
    }
    if newly(|c| c.resolution_breached_at) {
        let due = new.resolution_due_at.unwrap_or_default();
        r.alerts
            .push(Alert::breach(new, TimerKind::Resolution, due));
    }
    if new.status == Status::Resolved
        && old.is_some_and(|o| o.status != Status::Resolved)
        && let (Some(resolved), Some(opened)) = (new.resolved_at, new.opened_at)
    {
        r.resolution_ms = Some((resolved - opened).max(0));
    }
    if new.escalated && old.is_none_or(|o| o.escalation_count < new.escalation_count) {
        r.alerts.push(Alert::Escalation {
            conversation_key: new.key.clone(),
            channel: new.channel.to_string(),
            account_id: new.account_id.clone(),
            team: new.team.clone(),
            tags: new.tags.iter().cloned().collect(),
            escalated_at: new.escalated_at.unwrap_or_default(),
            response_due_at: new.response_due_at,
        });
    }
    r
}

/// The unanswered conversations of one account now (a scheduled query of its inbox).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct InboxGauge {
    /// Channel.
    pub channel: Channel,
    /// Account.
    pub account_id: String,
    /// Conversations whose customer is waiting for an answer.
    pub unanswered: u64,
    /// Since when the one waiting longest has waited, Unix ms.
    pub oldest_waiting_since: Option<i64>,
}

impl InboxGauge {
    /// How long the one waiting longest has waited at `now_ms`, seconds (0 when nobody waits).
    pub fn oldest_waiting_secs(&self, now_ms: i64) -> f64 {
        self.oldest_waiting_since
            .map_or(0.0, |since| (now_ms - since).max(0) as f64 / 1000.0)
    }
}

/// What to do with a timer that came up.
#[derive(Debug, Clone, PartialEq)]
pub enum Verdict {
    /// Not due yet (a timer chained across the queue's longest delay): schedule it again.
    NotYet,
    /// The conversation is gone: drop the timer (with a log line).
    Gone,
    /// The clock it times has stopped (answered, resolved, another wait, a breach already
    /// recorded): drop it.
    Stale(&'static str),
    /// Record the breach (once: conditional on the conversation still being as timed); its
    /// alert follows from the stream.
    Breach(Alert),
    /// Resolve the conversation as `auto` (conditional on its version).
    AutoResolve,
}

/// What to do with `timer` at `now_ms`, with the conversation as stored now. `grace_ms`: how
/// long past the due time a first-response breach waits, so that a reply delivered just in
/// time and still being recorded is not taken for a breach.
pub fn judge(timer: &Timer, c: Option<&Conversation>, now_ms: i64, grace_ms: i64) -> Verdict {
    let ready_at = match timer.kind {
        TimerKind::FirstResponse => timer.due_at.saturating_add(grace_ms),
        TimerKind::Resolution | TimerKind::AutoResolve => timer.due_at,
    };
    if now_ms < ready_at {
        return Verdict::NotYet;
    }
    let Some(c) = c else {
        return Verdict::Gone;
    };
    match timer.kind {
        TimerKind::FirstResponse => {
            if c.waiting_since != Some(timer.since) || c.response_due_at != Some(timer.due_at) {
                Verdict::Stale("the wait it timed is over")
            } else if c.sla_breached_at.is_some() {
                Verdict::Stale("the breach is already recorded")
            } else {
                Verdict::Breach(Alert::breach(c, timer.kind, timer.due_at))
            }
        }
        TimerKind::Resolution => {
            if c.status == Status::Resolved
                || c.opened_at != Some(timer.since)
                || c.resolution_due_at != Some(timer.due_at)
            {
                Verdict::Stale("the episode it timed is over")
            } else if c.resolution_breached_at.is_some() {
                Verdict::Stale("the breach is already recorded")
            } else {
                Verdict::Breach(Alert::breach(c, timer.kind, timer.due_at))
            }
        }
        TimerKind::AutoResolve => {
            if c.status != Status::Pending || c.last_answered_at != Some(timer.since) {
                Verdict::Stale("the conversation moved since the answer")
            } else {
                Verdict::AutoResolve
            }
        }
    }
}

/// The delay before a timer's next check, in seconds: until it comes due, at most the
/// queue's longest delay (SQS: 900 s), at least 0.
pub fn delay_secs(timer: &Timer, now_ms: i64, grace_ms: i64, max_secs: u32) -> u32 {
    let ready_at = match timer.kind {
        TimerKind::FirstResponse => timer.due_at.saturating_add(grace_ms),
        _ => timer.due_at,
    };
    let ms = ready_at.saturating_sub(now_ms).max(0);
    let secs = (ms + 999) / 1000;
    u32::try_from(secs).unwrap_or(u32::MAX).min(max_secs)
}

#[cfg(test)]
mod tests;
