//! Daily statistics a supervisor can trust: what one change of the table adds to the record of
//! a day of an account (and of one of its teams), and the figures of a report over any range of
//! days.
//!
//! - [`conversation_delta`] compares two images of a conversation (before and after one
//!   write) and [`message_delta`] looks at a newly stored inbound message; each returns the
//!   increments ([`StatsDelta`]) to add to the daily records, each counter on the local day
//!   (in the account's time zone) of the event it counts.
//! - [`DailyDelta`] is both the increments of one change and, summed, a stored record: plain
//!   counters by name ([`counter`]) and two [`Histogram`]s of durations in fixed [`BUCKETS`],
//!   so that any number of days add up and percentiles are read from the sums.
//! - [`Report`] sums the records of a range of days into the figures of `gatewayctl report`;
//!   [`Dashboard`] lays the same records out day by day, hour by hour and agent by agent
//!   (`GET /stats` of the desk API). [`reply_delta`] counts a delivered reply for its agent.
//!
//! Pure: no I/O, no clock. The meaning of every counter is in `docs/service-levels.md`.

mod buckets;
mod dashboard;
mod delta;
mod report;
#[cfg(any(test, feature = "test-util"))]
pub mod testing;
#[cfg(test)]
mod tests;

pub use buckets::{BUCKET_COUNT, BUCKETS, Bucket, Histogram};
pub use dashboard::{AgentFigures, Dashboard, DaySummary, HourCount};
pub use delta::{conversation_delta, local_day, local_hour, message_delta, reply_delta};
pub use report::{Figures, Report};

use crate::message::Channel;
use chrono::NaiveDate;
use std::collections::BTreeMap;

/// The names of the counters of a daily record.
pub mod counter {
    /// Inbound messages stored (customer messages and events such as follows).
    pub const INBOUND: &str = "inbound";
    /// Episodes opened: a conversation began, or a resolved one was reopened.
    pub const OPENED: &str = "opened";
    /// Conversations resolved.
    pub const RESOLVED: &str = "resolved";
    /// Escalation episodes begun.
    pub const ESCALATIONS: &str = "escalations";
    /// Waits that breached their response due time (marked by the SLA monitor).
    pub const SLA_BREACHES: &str = "sla_breaches";
    /// A person's first answers of an episode given by their due time (or with none due).
    pub const FIRST_RESPONSE_MET: &str = "first_response_met";
    /// A person's first answers of an episode given after their due time.
    pub const FIRST_RESPONSE_BREACHED: &str = "first_response_breached";
    /// Prefix of the counters of tags added to conversations: `tag:crisis`.
    pub const TAG: &str = "tag:";
    /// Prefix of the counters of replies that could not be delivered, by reason:
    /// `undeliverable:window_closed`.
    pub const UNDELIVERABLE: &str = "undeliverable:";
    /// Prefix of the counters of rule firings: `rule:out-of-office`.
    pub const RULE: &str = "rule:";
    /// Prefix of the first-response time buckets: `first_response_time:le_5m`.
    pub const FIRST_RESPONSE_TIME: &str = "first_response_time:";
    /// Prefix of the resolution time buckets: `resolution_time:le_2h`.
    pub const RESOLUTION_TIME: &str = "resolution_time:";
    /// Prefix of the inbound messages per local hour: `inbound_hour:09` (00 to 23).
    pub const INBOUND_HOUR: &str = "inbound_hour:";
    /// Prefix of an agent's counters: `agent:{agent_id}:{what}`, `what` one of
    /// [`AGENT_FIGURES`] or `first_response_time:{bucket}`.
    pub const AGENT: &str = "agent:";
    /// An agent's delivered replies.
    pub const AGENT_REPLIES: &str = "replies";
    /// Conversations an agent resolved (`resolved_by` = `agent:{id}`).
    pub const AGENT_RESOLVED: &str = "resolved";
    /// The plain counters of an agent (besides their first-response time buckets).
    pub const AGENT_FIGURES: [&str; 4] = [
        FIRST_RESPONSE_MET,
        FIRST_RESPONSE_BREACHED,
        AGENT_REPLIES,
        AGENT_RESOLVED,
    ];

    /// The counter of the inbound messages of a local hour (0 to 23).
    pub fn inbound_hour(hour: u32) -> String {
        format!("{INBOUND_HOUR}{hour:02}")
    }

    /// The counter `what` of an agent.
    pub fn agent(agent_id: &str, what: &str) -> String {
        format!("{AGENT}{agent_id}:{what}")
    }

    /// An agent counter's agent id and what it counts (`first_response_time:le_5m` for a
    /// bucket); `None` for any other counter.
    pub fn parse_agent(name: &str) -> Option<(&str, &str)> {
        let rest = name.strip_prefix(AGENT)?;
        if let Some(i) = rest.rfind(&format!(":{FIRST_RESPONSE_TIME}")) {
            return Some((&rest[..i], &rest[i + 1..]));
        }
        AGENT_FIGURES.iter().find_map(|what| {
            rest.strip_suffix(what)
                .and_then(|id| id.strip_suffix(':'))
                .map(|id| (id, &rest[rest.len() - what.len()..]))
        })
    }

    /// The counter of a tag.
    pub fn tag(tag: &str) -> String {
        format!("{TAG}{tag}")
    }

    /// The counter of an undeliverable reason.
    pub fn undeliverable(reason: &str) -> String {
        format!("{UNDELIVERABLE}{reason}")
    }

    /// The counter of a rule.
    pub fn rule(rule_id: &str) -> String {
        format!("{RULE}{rule_id}")
    }
}

/// The counts of one daily record, or the increments one change adds to it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DailyDelta {
    /// Counter name ([`counter`]) → count. Counters never counted are absent.
    pub counters: BTreeMap<String, i64>,
    /// A person's first response times (from the episode's opening), per bucket.
    pub first_response_time: Histogram,
    /// Resolution times (from the episode's opening), per bucket.
    pub resolution_time: Histogram,
}

impl DailyDelta {
    /// Adds `n` to `counter`.
    pub fn add(&mut self, counter: &str, n: i64) {
        if n != 0 {
            *self.counters.entry(counter.to_string()).or_default() += n;
        }
    }

    /// The count of `counter` (0 when absent).
    pub fn get(&self, counter: &str) -> i64 {
        self.counters.get(counter).copied().unwrap_or(0)
    }

    /// The counters whose name starts with `prefix`, without it (`tag:crisis` → `crisis`).
    pub fn by_prefix<'a>(&'a self, prefix: &'a str) -> impl Iterator<Item = (&'a str, i64)> + 'a {
        self.counters
            .iter()
            .filter_map(move |(name, n)| name.strip_prefix(prefix).map(|key| (key, *n)))
    }

    /// Adds everything `other` counts.
    pub fn merge(&mut self, other: &DailyDelta) {
        for (name, n) in &other.counters {
            self.add(name, *n);
        }
        self.first_response_time.merge(&other.first_response_time);
        self.resolution_time.merge(&other.resolution_time);
    }

    /// True when it counts nothing.
    pub fn is_empty(&self) -> bool {
        self.counters.values().all(|n| *n == 0)
            && self.first_response_time.is_empty()
            && self.resolution_time.is_empty()
    }

    /// Every non-zero count as one flat name → number map, histograms as one counter per
    /// bucket (`first_response_time:le_5m`): the numeric attributes of a stored record.
    pub fn attributes(&self) -> BTreeMap<String, i64> {
        let mut out: BTreeMap<String, i64> = self
            .counters
            .iter()
            .filter(|(_, n)| **n != 0)
            .map(|(k, n)| (k.clone(), *n))
            .collect();
        for (prefix, histogram) in [
            (counter::FIRST_RESPONSE_TIME, &self.first_response_time),
            (counter::RESOLUTION_TIME, &self.resolution_time),
        ] {
            for (bucket, n) in histogram.buckets() {
                out.insert(format!("{prefix}{}", bucket.name()), n);
            }
        }
        out
    }

    /// The inverse of [`attributes`](Self::attributes): bucket counters back into their
    /// histograms, every other name a counter.
    pub fn from_attributes(attributes: impl IntoIterator<Item = (String, i64)>) -> DailyDelta {
        let mut out = DailyDelta::default();
        for (name, n) in attributes {
            let bucket = |prefix: &str| name.strip_prefix(prefix).and_then(Bucket::named);
            if let Some(b) = bucket(counter::FIRST_RESPONSE_TIME) {
                out.first_response_time.add(b, n);
            } else if let Some(b) = bucket(counter::RESOLUTION_TIME) {
                out.resolution_time.add(b, n);
            } else {
                out.add(&name, n);
            }
        }
        out
    }
}

/// Which record of an account: a day, and the team for a team's record (`None`: the whole
/// account's).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct RecordKey {
    /// The local day, in the account's time zone.
    pub day: NaiveDate,
    /// The team, for a team's record.
    pub team: Option<String>,
}

/// What one change adds to the daily records of one account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatsDelta {
    /// The account's channel.
    pub channel: Channel,
    /// The account.
    pub account_id: String,
    /// The increments per record; never an empty one.
    pub records: BTreeMap<RecordKey, DailyDelta>,
}

impl StatsDelta {
    /// True when it adds nothing.
    pub fn is_empty(&self) -> bool {
        self.records.values().all(DailyDelta::is_empty)
    }

    /// The increments of the account's record of `day` (empty when none).
    pub fn account_day(&self, day: NaiveDate) -> DailyDelta {
        self.record(day, None)
    }

    /// The increments of a record (empty when none).
    pub fn record(&self, day: NaiveDate, team: Option<&str>) -> DailyDelta {
        self.records
            .get(&RecordKey {
                day,
                team: team.map(str::to_string),
            })
            .cloned()
            .unwrap_or_default()
    }
}

/// One stored daily record, as read back for a report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DailyRecord {
    /// Its day and team.
    pub key: RecordKey,
    /// Its counts.
    pub counts: DailyDelta,
}

/// What applying a change's increments came to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Applied {
    /// Added to the records.
    Counted,
    /// This change was counted before (a redelivery): nothing was added.
    AlreadyCounted,
}
