//! Service-level policies (`service_levels:` in the rules document): how soon a waiting
//! customer must be answered and a conversation resolved, by channel, account, team and
//! priority, on a clock that runs around the clock or only in the account's business hours.
//!
//! The first policy whose `when` matches the conversation (after this message's rules) applies.
//! Its first-response target sets `response_due_at` from `waiting_since`, its resolution
//! target `resolution_due_at` from the episode's `opened_at`; an earlier due time is never
//! moved later. While an escalation is in progress, its own target (`escalate`) overrides the
//! policy's first-response target.

use super::RuleSet;
use crate::conversation::{Conversation, Priority, Status};
use crate::message::Channel;
use chrono::{DateTime, Utc};
use serde::Serialize;

/// Longest first-response target, in seconds (seven days).
pub const MAX_FIRST_RESPONSE_SECS: u32 = 7 * 86_400;
/// Longest resolution target, in seconds (90 days).
pub const MAX_RESOLUTION_SECS: u32 = 90 * 86_400;

/// Which time counts towards a target.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Clock {
    /// Every second (the default).
    #[default]
    AroundTheClock,
    /// Only the opening hours of the account's calendar.
    BusinessHours,
}

impl Clock {
    /// The name used in the document.
    pub fn as_str(self) -> &'static str {
        match self {
            Clock::AroundTheClock => "around_the_clock",
            Clock::BusinessHours => "business_hours",
        }
    }
}

/// One validated service-level policy.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ServiceLevel {
    /// Unique id, recorded on the conversations it applies to.
    pub id: String,
    /// Channels it applies to (any when empty).
    pub channels: Vec<Channel>,
    /// Accounts it applies to (any when empty).
    pub accounts: Vec<String>,
    /// Teams it applies to (any when empty).
    pub teams: Vec<String>,
    /// Priorities it applies to (any when empty).
    pub priorities: Vec<Priority>,
    /// An answer is due this many seconds (on the clock) after the customer starts waiting.
    pub first_response_secs: Option<u32>,
    /// The conversation is due resolved this many seconds (on the clock) after it opened.
    pub resolution_secs: Option<u32>,
    /// Which time counts.
    pub clock: Clock,
    /// Line in the document.
    #[serde(skip)]
    pub line: Option<usize>,
}

impl ServiceLevel {
    /// Whether the policy applies to `c` as it stands.
    pub fn matches(&self, c: &Conversation) -> bool {
        let any_or = |empty: bool, hit: bool| empty || hit;
        any_or(self.channels.is_empty(), self.channels.contains(&c.channel))
            && any_or(
                self.accounts.is_empty(),
                self.accounts.contains(&c.account_id),
            )
            && any_or(
                self.teams.is_empty(),
                c.team.as_ref().is_some_and(|t| self.teams.contains(t)),
            )
            && any_or(
                self.priorities.is_empty(),
                self.priorities.contains(&c.priority),
            )
    }
}

/// The due times a policy gives a conversation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ServiceLevelDue {
    /// The policy.
    pub policy: String,
    /// Its clock.
    pub clock: Clock,
    /// When an answer is due, Unix ms (none when nobody waits, or no target).
    pub response_due_at: Option<i64>,
    /// When the conversation is due resolved, Unix ms.
    pub resolution_due_at: Option<i64>,
}

impl RuleSet {
    /// The service-level policies, in order.
    pub fn service_levels(&self) -> &[ServiceLevel] {
        &self.service_levels
    }

    /// The policy that applies to `c`: the first that matches.
    pub fn service_level_for(&self, c: &Conversation) -> Option<&ServiceLevel> {
        self.service_levels.iter().find(|p| p.matches(c))
    }

    /// The instant `secs` seconds on `clock` after `from_ms` for `account`; `None` when a
    /// business-hours clock has no calendar or no opening hours ahead.
    pub fn due_at(&self, clock: Clock, account: &str, from_ms: i64, secs: u32) -> Option<i64> {
        match clock {
            Clock::AroundTheClock => Some(from_ms.saturating_add(i64::from(secs) * 1000)),
            Clock::BusinessHours => {
                let calendar = self.calendar_for_account(account)?;
                let from = DateTime::<Utc>::from_timestamp_millis(from_ms)?;
                calendar
                    .deadline(from, u64::from(secs))
                    .map(|t| t.timestamp_millis())
            }
        }
    }

    /// Applies the policy that matches `c` (call after the decision is applied): records it
    /// in `service_level`, sets `response_due_at` for a waiting customer (unless an escalation
    /// is in progress: its own target stands) and `resolution_due_at` for an open episode.
    /// A due time already set is never moved later. Returns what it set.
    pub fn apply_service_level(&self, c: &mut Conversation) -> Option<ServiceLevelDue> {
        let earlier = |existing: Option<i64>, due: i64| Some(existing.map_or(due, |e| e.min(due)));
        // A wait that begins during an escalation is due within the escalation's target.
        if let (true, Some(target), Some(since), None) = (
            c.escalated,
            c.escalation_target_secs,
            c.waiting_since,
            c.response_due_at,
        ) {
            c.response_due_at = earlier(None, since.saturating_add(i64::from(target) * 1000));
        }
        let Some(policy) = self.service_level_for(c) else {
            c.service_level = None;
            return None;
        };
        c.service_level = Some(policy.id.clone());
        if let (Some(secs), Some(since), false) =
            (policy.first_response_secs, c.waiting_since, c.escalated)
            && let Some(due) = self.due_at(policy.clock, &c.account_id, since, secs)
        {
            c.response_due_at = earlier(c.response_due_at, due);
        }
        if let (Some(secs), Some(opened), true) = (
            policy.resolution_secs,
            c.opened_at,
            c.status != Status::Resolved,
        ) && let Some(due) = self.due_at(policy.clock, &c.account_id, opened, secs)
        {
            c.resolution_due_at = earlier(c.resolution_due_at, due);
        }
        Some(ServiceLevelDue {
            policy: policy.id.clone(),
            clock: policy.clock,
            response_due_at: c.response_due_at,
            resolution_due_at: c.resolution_due_at,
        })
    }
}
