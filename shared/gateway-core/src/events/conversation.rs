//! The events of one write of a conversation (`CONV#{key}` / `META`), from its two images.

use super::{Envelope, Event, EventType, StreamChange, opt_time};
use crate::conversation::{Conversation, Priority, Status};
use serde::Serialize;
use std::collections::BTreeSet;

/// Where the conversation stands after the change: the part of every `conversation.*` event
/// a CRM keeps in sync (`data.conversation`).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ConversationSnapshot {
    /// `open`, `pending` or `resolved`.
    pub status: Status,
    /// `low`, `normal`, `high` or `urgent`.
    pub priority: Priority,
    /// The team (queue) it is assigned to.
    pub team: Option<String>,
    /// The agent it is assigned to.
    pub assignee: Option<String>,
    /// Tags, sorted.
    pub tags: BTreeSet<String>,
    /// Escalated (crisis) and not cleared.
    pub escalated: bool,
    /// The service-level policy that applies.
    pub service_level: Option<String>,
    /// When the current episode opened.
    #[serde(serialize_with = "opt_time")]
    pub opened_at: Option<i64>,
    /// Since when the customer has been waiting for an answer (none when answered).
    #[serde(serialize_with = "opt_time")]
    pub waiting_since: Option<i64>,
    /// When an answer is due.
    #[serde(serialize_with = "opt_time")]
    pub response_due_at: Option<i64>,
    /// When the episode is due resolved.
    #[serde(serialize_with = "opt_time")]
    pub resolution_due_at: Option<i64>,
    /// Inbound messages stored, in all.
    pub inbound_count: u64,
}

impl From<&Conversation> for ConversationSnapshot {
    fn from(c: &Conversation) -> Self {
        ConversationSnapshot {
            status: c.status,
            priority: c.priority,
            team: c.team.clone(),
            assignee: c.assignee.clone(),
            tags: c.tags.clone(),
            escalated: c.escalated,
            service_level: c.service_level.clone(),
            opened_at: c.opened_at,
            waiting_since: c.waiting_since,
            response_due_at: c.response_due_at,
            resolution_due_at: c.resolution_due_at,
            inbound_count: c.inbound_count,
        }
    }
}

#[derive(Serialize)]
struct Opened<'a> {
    conversation: &'a ConversationSnapshot,
    /// A resolved conversation reopened by a new message (not its first episode).
    reopened: bool,
}

#[derive(Serialize)]
struct Assigned<'a> {
    conversation: &'a ConversationSnapshot,
    previous_team: Option<&'a str>,
    previous_assignee: Option<&'a str>,
    #[serde(serialize_with = "opt_time")]
    assigned_at: Option<i64>,
}

#[derive(Serialize)]
struct Escalated<'a> {
    conversation: &'a ConversationSnapshot,
    #[serde(serialize_with = "opt_time")]
    escalated_at: Option<i64>,
    escalation_count: u64,
    /// The escalation's response target, seconds.
    response_target_secs: Option<u32>,
}

#[derive(Serialize)]
struct SlaBreached<'a> {
    conversation: &'a ConversationSnapshot,
    #[serde(serialize_with = "opt_time")]
    sla_breached_at: Option<i64>,
    /// The due time that was missed (the one pending before the breach was marked).
    #[serde(serialize_with = "opt_time")]
    due_at: Option<i64>,
}

#[derive(Serialize)]
struct Resolved<'a> {
    conversation: &'a ConversationSnapshot,
    #[serde(serialize_with = "opt_time")]
    resolved_at: Option<i64>,
    /// `agent:{id}`, `rule:{id}` or `auto`.
    resolved_by: Option<&'a str>,
}

/// The events of one write of a conversation, from its image before (`None`: the write
/// created it) and after (`None`: it was deleted, which reports nothing), in this order:
///
/// - `conversation.opened`: `opened_at` set or changed (a new episode);
/// - `conversation.assigned`: the team or the agent changed, to a new value (not to none);
/// - `conversation.escalated`: `escalation_count` increased (an escalation episode began);
/// - `conversation.sla_breached`: `sla_breached_at` newly set (or set to another time);
/// - `conversation.resolved`: resolved, with a `resolved_at` it did not have before.
///
/// A write that changes nothing of these (a new message in an open episode, a tag, a read
/// marker, a reply recorded) has no event.
pub fn conversation_events(
    change: &StreamChange,
    old: Option<&Conversation>,
    new: Option<&Conversation>,
) -> Vec<Event> {
    let Some(new) = new else {
        return Vec::new();
    };
    let envelope = Envelope {
        change,
        channel: new.channel,
        account: &new.account_id,
        conversation_key: &new.key,
        customer_id: &new.customer_id,
    };
    let snapshot = ConversationSnapshot::from(new);
    let was = |f: fn(&Conversation) -> Option<i64>| old.and_then(f);
    let changed_at = changed_at(new);
    let mut events = Vec::new();

    if let Some(opened) = new.opened_at
        && was(|c| c.opened_at) != Some(opened)
    {
        let reopened = new.reopened_count > old.map_or(0, |c| c.reopened_count);
        events.push(envelope.event(
            EventType::ConversationOpened,
            opened,
            Opened {
                conversation: &snapshot,
                reopened,
            },
        ));
    }
    let (old_team, old_assignee) = (
        old.and_then(|c| c.team.as_deref()),
        old.and_then(|c| c.assignee.as_deref()),
    );
    let team_changed = new.team.is_some() && new.team.as_deref() != old_team;
    let assignee_changed = new.assignee.is_some() && new.assignee.as_deref() != old_assignee;
    if team_changed || assignee_changed {
        let at = if assignee_changed {
            new.assigned_at.unwrap_or(changed_at)
        } else {
            changed_at
        };
        events.push(envelope.event(
            EventType::ConversationAssigned,
            at,
            Assigned {
                conversation: &snapshot,
                previous_team: old_team,
                previous_assignee: old_assignee,
                assigned_at: new.assigned_at,
            },
        ));
    }
    if new.escalation_count > old.map_or(0, |c| c.escalation_count) {
        events.push(envelope.event(
            EventType::ConversationEscalated,
            new.escalated_at.unwrap_or(changed_at),
            Escalated {
                conversation: &snapshot,
                escalated_at: new.escalated_at,
                escalation_count: new.escalation_count,
                response_target_secs: new.escalation_target_secs,
            },
        ));
    }
    if let Some(breached) = new.sla_breached_at
        && was(|c| c.sla_breached_at) != Some(breached)
    {
        events.push(envelope.event(
            EventType::ConversationSlaBreached,
            breached,
            SlaBreached {
                conversation: &snapshot,
                sla_breached_at: Some(breached),
                due_at: was(|c| c.response_due_at).or(new.response_due_at),
            },
        ));
    }
    if new.status == Status::Resolved
        && let Some(resolved) = new.resolved_at
        && was(|c| c.resolved_at) != Some(resolved)
    {
        events.push(envelope.event(
            EventType::ConversationResolved,
            resolved,
            Resolved {
                conversation: &snapshot,
                resolved_at: Some(resolved),
                resolved_by: new.resolved_by.as_deref(),
            },
        ));
    }
    events
}

/// The time of a write: the latest time the image holds (as the statistics date a change).
fn changed_at(c: &Conversation) -> i64 {
    [
        Some(c.last_inbound_at),
        c.last_outbound_at,
        c.last_answered_at,
        c.first_response_at,
        c.assigned_at,
        c.resolved_at,
        c.escalated_at,
        c.escalation_cleared_at,
        c.sla_breached_at,
        c.undeliverable.as_ref().map(|u| u.at),
        c.rule_last_fired.values().max().copied(),
    ]
    .into_iter()
    .flatten()
    .max()
    .unwrap_or(c.last_inbound_at)
}
