//! The SLA monitor's orchestration over its ports: a conversation change schedules timers and
//! publishes alerts; a timer that comes up is re-scheduled, dropped, or records a breach or an
//! automatic resolution.

use super::ports::{AlertPublisher, Inboxes, SlaRecords, TimerQueue};
use super::{InboxGauge, Reaction, Timer, TimerKind, Verdict, delay_secs, judge, react};
use crate::conversation::Conversation;
use crate::ports::{CommitOutcome, PortError};

/// Conflicts an automatic resolution retries before it gives the timer back to the queue.
const MAX_CONFLICT_RETRIES: usize = 3;

/// What the monitor works with.
pub struct Monitor<'a> {
    /// Conversations.
    pub records: &'a dyn SlaRecords,
    /// The timers queue.
    pub timers: &'a dyn TimerQueue,
    /// The alerts topic.
    pub alerts: &'a dyn AlertPublisher,
    /// The accounts' inboxes (gauges).
    pub inboxes: &'a dyn Inboxes,
    /// How long past its due time a first-response timer waits before it breaches, ms.
    pub grace_ms: i64,
    /// The queue's longest delay, seconds (SQS: 900); longer timers are chained.
    pub max_delay_secs: u32,
    /// `lifecycle.auto_resolve_pending_after_secs`, in ms.
    pub auto_resolve_after_ms: Option<i64>,
    /// `lifecycle.resolve_removes_tags`.
    pub resolve_removes_tags: &'a [String],
    /// The clock, Unix ms.
    pub now: &'a (dyn Fn() -> i64 + Send + Sync),
}

/// What became of a timer.
#[derive(Debug, Clone, PartialEq)]
pub enum TimerOutcome {
    /// Not due yet: scheduled again after this many seconds.
    Rescheduled(u32),
    /// Its clock stopped (why).
    Dropped(&'static str),
    /// The conversation no longer exists.
    Gone,
    /// The breach is recorded (the conversation as it was read).
    Breached(TimerKind, Box<Conversation>),
    /// Someone answered, or a copy of the timer recorded the breach, in the meantime.
    AlreadySettled,
    /// The conversation was resolved automatically.
    AutoResolved(Box<Conversation>),
}

impl TimerOutcome {
    /// `rescheduled`, `dropped`, `gone`, `breached`, `settled`, `auto_resolved` (logs).
    pub fn as_str(&self) -> &'static str {
        match self {
            TimerOutcome::Rescheduled(_) => "rescheduled",
            TimerOutcome::Dropped(_) => "dropped",
            TimerOutcome::Gone => "gone",
            TimerOutcome::Breached(..) => "breached",
            TimerOutcome::AlreadySettled => "settled",
            TimerOutcome::AutoResolved(_) => "auto_resolved",
        }
    }
}

impl Monitor<'_> {
    /// Schedules the timers and publishes the alerts a conversation change calls for.
    pub async fn on_change(
        &self,
        old: Option<&Conversation>,
        new: &Conversation,
    ) -> Result<Reaction, PortError> {
        let reaction = react(old, new, self.auto_resolve_after_ms);
        if old.is_none() {
            // A new conversation: its account has an inbox the gauges must look at.
            self.inboxes.register(new.channel, &new.account_id).await?;
        }
        let now = (self.now)();
        for timer in &reaction.timers {
            let delay = delay_secs(timer, now, self.grace_ms, self.max_delay_secs);
            self.timers.schedule(timer, delay).await?;
        }
        for alert in &reaction.alerts {
            self.alerts.publish(alert).await?;
        }
        Ok(reaction)
    }

    /// The gauges of every account's inbox (a scheduled run).
    pub async fn gauges(&self) -> Result<Vec<InboxGauge>, PortError> {
        let mut out = Vec::new();
        for (channel, account) in self.inboxes.accounts().await? {
            out.push(self.inboxes.gauge(channel, &account).await?);
        }
        Ok(out)
    }

    /// Handles a timer that came up.
    pub async fn on_timer(&self, timer: &Timer) -> Result<TimerOutcome, PortError> {
        for _ in 0..MAX_CONFLICT_RETRIES {
            let now = (self.now)();
            let stored = self.records.load(&timer.conversation_key).await?;
            match judge(timer, stored.as_ref(), now, self.grace_ms) {
                Verdict::NotYet => {
                    let delay = delay_secs(timer, now, self.grace_ms, self.max_delay_secs);
                    self.timers.schedule(timer, delay).await?;
                    return Ok(TimerOutcome::Rescheduled(delay));
                }
                Verdict::Gone => return Ok(TimerOutcome::Gone),
                Verdict::Stale(why) => return Ok(TimerOutcome::Dropped(why)),
                Verdict::Breach(_) => {
                    let Some(c) = stored else {
                        return Ok(TimerOutcome::Gone);
                    };
                    return Ok(if self.records.record_breach(timer, now).await? {
                        TimerOutcome::Breached(timer.kind, Box::new(c))
                    } else {
                        TimerOutcome::AlreadySettled
                    });
                }
                Verdict::AutoResolve => {
                    let Some(previous) = stored else {
                        return Ok(TimerOutcome::Gone);
                    };
                    let mut next = previous.clone();
                    next.resolve(now, "auto", self.resolve_removes_tags);
                    next.version += 1;
                    match self.records.replace(&previous, &next).await? {
                        CommitOutcome::Stored => {
                            return Ok(TimerOutcome::AutoResolved(Box::new(next)));
                        }
                        CommitOutcome::Duplicate | CommitOutcome::Conflict => continue,
                    }
                }
            }
        }
        Err(PortError::transient(
            "resolve automatically",
            format!("conversation {} kept changing", timer.conversation_key),
        ))
    }
}
