//! The increments of one change: a conversation's two images, or a new inbound message.
//!
//! Every counter is dated by the event it counts, on the account's local day: an opening by
//! `opened_at`, a resolution by `resolved_at`, a first response by `first_response_at`, an
//! escalation by `escalated_at`, a breach by `sla_breached_at`, an undeliverable reply by the
//! time it was marked, a rule firing by the time it fired, and a tag by the time of the
//! change (the latest time the new image holds). So a write just after midnight that records
//! an answer given just before counts on the day of the answer.

use super::{Bucket, DailyDelta, RecordKey, StatsDelta, counter};
use crate::conversation::{Conversation, Status};
use crate::message::NormalizedMessage;
use crate::outbound::ReplyCommand;
use chrono::{DateTime, NaiveDate, Timelike};
use chrono_tz::Tz;
use std::collections::BTreeMap;

/// The local day, in `tz`, of a time in Unix ms (1970-01-01 for a time out of range).
pub fn local_day(tz: Tz, at_ms: i64) -> NaiveDate {
    DateTime::from_timestamp_millis(at_ms)
        .unwrap_or_default()
        .with_timezone(&tz)
        .date_naive()
}

/// The local hour (0 to 23), in `tz`, of a time in Unix ms.
pub fn local_hour(tz: Tz, at_ms: i64) -> u32 {
    DateTime::from_timestamp_millis(at_ms)
        .unwrap_or_default()
        .with_timezone(&tz)
        .hour()
}

/// A newly stored inbound message: `inbound` + 1 and `inbound_hour:{HH}` + 1 (its local hour)
/// on the account's record of the day it was received. (The conversation's change counts it
/// for the team: a message item does not know the team.)
pub fn message_delta(message: &NormalizedMessage, tz: Tz) -> StatsDelta {
    let mut records = Records::new(tz, None);
    let at = message.received_at_ms;
    records.count(Scope::Account, at, counter::INBOUND, 1);
    records.count(
        Scope::Account,
        at,
        &counter::inbound_hour(local_hour(tz, at)),
        1,
    );
    StatsDelta {
        channel: message.channel,
        account_id: message.account_id.clone(),
        records: records.records,
    }
}

/// The increments of one write of a conversation, from its image before (`None`: the write
/// created it) and after (`None`: it was deleted, which counts nothing). `None` when the
/// change counts nothing. What counts, with the day each is counted on:
///
/// - `opened`: `opened_at` set or changed (a new conversation's first message that expects
///   an answer, or a reopening), on the day of `opened_at`;
/// - `resolved`: resolved, with a `resolved_at` it did not have before, on that day; and
///   its resolution time `resolved_at − opened_at`;
/// - `first_response_met` / `first_response_breached`: `first_response_at` newly set (a
///   person's first answer of the episode), met when it is no later than the answer due
///   time pending before the answer (or none was due); and its first-response time
///   `first_response_at − opened_at`;
/// - `escalations`: the increase of `escalation_count`, on the day of `escalated_at`;
/// - `sla_breaches`: `sla_breached_at` newly set, on that day;
/// - `tag:{tag}`: each tag the new image has and the old one had not;
/// - `undeliverable:{reason}`: the increase of `undeliverable_count`, by the reason of the
///   last undeliverable reply, on the day it was marked;
/// - `rule:{id}`: each `rule_last_fired` entry whose time changed, on the day it fired;
/// - `inbound` and `inbound_hour:{HH}` (team records only): the increase of `inbound_count`,
///   on the day and local hour of `last_inbound_at` (the account's record counts the message
///   items instead);
/// - `agent:{id}:first_response_met|breached` and `agent:{id}:first_response_time:{bucket}`:
///   the first response above, for `first_response_by` when it names the agent;
/// - `agent:{id}:resolved`: a resolution whose `resolved_by` is `agent:{id}`.
///
/// Everything goes to the account's record, and also to its team's when the new image has
/// a team.
pub fn conversation_delta(
    old: Option<&Conversation>,
    new: Option<&Conversation>,
    tz: Tz,
) -> Option<StatsDelta> {
    let new = new?;
    let mut r = Records::new(tz, new.team.clone());
    let changed_at = changed_at(new);
    let was = |f: fn(&Conversation) -> Option<i64>| old.and_then(f);

    if let Some(opened) = new.opened_at
        && was(|c| c.opened_at) != Some(opened)
    {
        r.count(Scope::Both, opened, counter::OPENED, 1);
    }
    let inbound = new
        .inbound_count
        .saturating_sub(old.map_or(0, |c| c.inbound_count));
    r.count(
        Scope::Team,
        new.last_inbound_at,
        counter::INBOUND,
        saturating_i64(inbound),
    );
    r.count(
        Scope::Team,
        new.last_inbound_at,
        &counter::inbound_hour(local_hour(tz, new.last_inbound_at)),
        saturating_i64(inbound),
    );
    if new.status == Status::Resolved
        && let Some(resolved) = new.resolved_at
        && was(|c| c.resolved_at) != Some(resolved)
    {
        r.count(Scope::Both, resolved, counter::RESOLVED, 1);
        if let Some(agent) = new
            .resolved_by
            .as_deref()
            .and_then(|by| by.strip_prefix("agent:"))
        {
            r.count(
                Scope::Both,
                resolved,
                &counter::agent(agent, counter::AGENT_RESOLVED),
                1,
            );
        }
        if let Some(opened) = new.opened_at {
            r.each(Scope::Both, resolved, |d| {
                d.resolution_time.record(resolved.saturating_sub(opened))
            });
        }
    }
    if let Some(first) = new.first_response_at
        && was(|c| c.first_response_at) != Some(first)
    {
        let due = was(|c| c.response_due_at);
        let name = if due.is_none_or(|due| first <= due) {
            counter::FIRST_RESPONSE_MET
        } else {
            counter::FIRST_RESPONSE_BREACHED
        };
        r.count(Scope::Both, first, name, 1);
        let agent = new.first_response_by.as_deref();
        if let Some(agent) = agent {
            r.count(Scope::Both, first, &counter::agent(agent, name), 1);
        }
        if let Some(opened) = new.opened_at {
            let took = first.saturating_sub(opened);
            r.each(Scope::Both, first, |d| d.first_response_time.record(took));
            if let Some(agent) = agent {
                let bucket = format!(
                    "{}{}",
                    counter::FIRST_RESPONSE_TIME,
                    Bucket::of(took).name()
                );
                r.count(Scope::Both, first, &counter::agent(agent, &bucket), 1);
            }
        }
    }
    let escalations = new
        .escalation_count
        .saturating_sub(old.map_or(0, |c| c.escalation_count));
    r.count(
        Scope::Both,
        new.escalated_at.unwrap_or(changed_at),
        counter::ESCALATIONS,
        saturating_i64(escalations),
    );
    if let Some(breached) = new.sla_breached_at
        && was(|c| c.sla_breached_at) != Some(breached)
    {
        r.count(Scope::Both, breached, counter::SLA_BREACHES, 1);
    }
    for tag in &new.tags {
        if !old.is_some_and(|c| c.tags.contains(tag)) {
            r.count(Scope::Both, changed_at, &counter::tag(tag), 1);
        }
    }
    let undeliverable = new
        .undeliverable_count
        .saturating_sub(old.map_or(0, |c| c.undeliverable_count));
    if undeliverable > 0 {
        let (reason, at) = new
            .undeliverable
            .as_ref()
            .map_or(("unknown", changed_at), |u| (u.reason.as_str(), u.at));
        r.count(
            Scope::Both,
            at,
            &counter::undeliverable(reason),
            saturating_i64(undeliverable),
        );
    }
    for (rule, fired) in &new.rule_last_fired {
        if old.and_then(|c| c.rule_last_fired.get(rule)) != Some(fired) {
            r.count(Scope::Both, *fired, &counter::rule(rule), 1);
        }
    }
    (!r.records.is_empty()).then(|| StatsDelta {
        channel: new.channel,
        account_id: new.account_id.clone(),
        records: r.records,
    })
}

/// A reply delivered at `sent_at` (a new outbound item of a thread): `agent:{id}:replies` + 1
/// when a person's reply names its agent, on the account's record and on `team`'s (the
/// conversation's team when it was delivered); `None` for any other reply.
pub fn reply_delta(
    reply: &ReplyCommand,
    sent_at: i64,
    team: Option<&str>,
    tz: Tz,
) -> Option<StatsDelta> {
    let agent = reply.origin.agent_id()?;
    let mut r = Records::new(tz, team.map(str::to_string));
    r.count(
        Scope::Both,
        sent_at,
        &counter::agent(agent, counter::AGENT_REPLIES),
        1,
    );
    Some(StatsDelta {
        channel: reply.channel,
        account_id: reply.account_id.clone(),
        records: r.records,
    })
}

/// The time of a write: the latest time the image holds.
fn changed_at(c: &Conversation) -> i64 {
    [
        Some(c.last_inbound_at),
        c.last_outbound_at,
        c.last_answered_at,
        c.first_response_at,
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

fn saturating_i64(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

/// Which records a count goes to.
#[derive(Clone, Copy)]
enum Scope {
    /// The account's only.
    Account,
    /// The team's only (nothing when there is no team).
    Team,
    /// Both.
    Both,
}

/// The records being built for one change.
struct Records {
    tz: Tz,
    team: Option<String>,
    records: BTreeMap<RecordKey, DailyDelta>,
}

impl Records {
    fn new(tz: Tz, team: Option<String>) -> Self {
        Records {
            tz,
            team,
            records: BTreeMap::new(),
        }
    }

    fn count(&mut self, scope: Scope, at: i64, name: &str, n: i64) {
        if n != 0 {
            self.each(scope, at, |d| d.add(name, n));
        }
    }

    /// Applies `f` to the records of `scope` of the day of `at`.
    fn each(&mut self, scope: Scope, at: i64, f: impl Fn(&mut DailyDelta)) {
        let day = local_day(self.tz, at);
        let account = matches!(scope, Scope::Account | Scope::Both).then_some(None);
        let team = match scope {
            Scope::Team | Scope::Both => self.team.clone().map(Some),
            Scope::Account => None,
        };
        for team in account.into_iter().chain(team) {
            f(self.records.entry(RecordKey { day, team }).or_default());
        }
    }
}
