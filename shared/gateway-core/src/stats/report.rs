//! The figures of a report: the daily records of a range of days summed, for the account and
//! for each of its teams, with the rates and percentiles derived from the sums.

use super::{DailyDelta, DailyRecord, Histogram, counter};
use crate::message::Channel;
use crate::stats::Bucket;
use chrono::NaiveDate;
use serde::Serialize;
use std::collections::BTreeMap;

/// The figures of one account or team over a period.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Figures {
    /// Inbound messages (for a team: those of conversations assigned to it).
    pub inbound: i64,
    /// Episodes opened (new conversations and reopenings).
    pub opened: i64,
    /// Conversations resolved.
    pub resolved: i64,
    /// Escalation episodes begun.
    pub escalations: i64,
    /// Waits that breached their response due time.
    pub sla_breaches: i64,
    /// A person's first answers given by their due time (or with none due).
    pub first_responses_met: i64,
    /// A person's first answers given after their due time.
    pub first_responses_breached: i64,
    /// `first_responses_met / (met + breached)`, in percent with one decimal; `None` when
    /// there was no first response.
    pub sla_met_percent: Option<f64>,
    /// A person's first response times.
    pub first_response_time: Durations,
    /// Resolution times.
    pub resolution_time: Durations,
    /// Tags added to conversations (complaint categories), by tag.
    pub tags: BTreeMap<String, i64>,
    /// Replies that could not be delivered, by reason.
    pub undeliverable: BTreeMap<String, i64>,
    /// Rule firings, by rule.
    pub rules: BTreeMap<String, i64>,
}

/// A distribution of durations: how many, their median and 90th percentile (each the upper
/// bound of the bucket it falls in), and the counts per bucket.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Durations {
    /// How many durations.
    pub count: i64,
    /// The median's bucket.
    pub p50: Option<Bucket>,
    /// The 90th percentile's bucket.
    pub p90: Option<Bucket>,
    /// Counts per bucket.
    pub buckets: Histogram,
}

impl From<&Histogram> for Durations {
    fn from(h: &Histogram) -> Self {
        Durations {
            count: h.total(),
            p50: h.percentile(50),
            p90: h.percentile(90),
            buckets: *h,
        }
    }
}

impl From<&DailyDelta> for Figures {
    fn from(d: &DailyDelta) -> Self {
        let met = d.get(counter::FIRST_RESPONSE_MET);
        let breached = d.get(counter::FIRST_RESPONSE_BREACHED);
        let by = |prefix| -> BTreeMap<String, i64> {
            d.by_prefix(prefix)
                .filter(|(_, n)| *n != 0)
                .map(|(k, n)| (k.to_string(), n))
                .collect()
        };
        Figures {
            inbound: d.get(counter::INBOUND),
            opened: d.get(counter::OPENED),
            resolved: d.get(counter::RESOLVED),
            escalations: d.get(counter::ESCALATIONS),
            sla_breaches: d.get(counter::SLA_BREACHES),
            first_responses_met: met,
            first_responses_breached: breached,
            sla_met_percent: percent(met, met + breached),
            first_response_time: Durations::from(&d.first_response_time),
            resolution_time: Durations::from(&d.resolution_time),
            tags: by(counter::TAG),
            undeliverable: by(counter::UNDELIVERABLE),
            rules: by(counter::RULE),
        }
    }
}

/// `part / whole` in percent, rounded to one decimal; `None` when `whole` is not positive.
pub(crate) fn percent(part: i64, whole: i64) -> Option<f64> {
    (whole > 0).then(|| (part as f64 * 1000.0 / whole as f64).round() / 10.0)
}

/// A report: an account's figures over a range of days, in all and per team.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Report {
    /// The account.
    pub account: String,
    /// The channels summed.
    pub channels: Vec<Channel>,
    /// First day (the account's local days).
    pub from: NaiveDate,
    /// Last day, included.
    pub to: NaiveDate,
    /// Days in the range.
    pub days: i64,
    /// The account's figures.
    pub total: Figures,
    /// Each team's figures, by team.
    pub teams: BTreeMap<String, Figures>,
}

impl Report {
    /// Sums the `records` of the days `from..=to` (others are left out).
    pub fn build(
        account: &str,
        channels: &[Channel],
        from: NaiveDate,
        to: NaiveDate,
        records: &[DailyRecord],
    ) -> Report {
        let mut total = DailyDelta::default();
        let mut teams: BTreeMap<String, DailyDelta> = BTreeMap::new();
        for r in records.iter().filter(|r| (from..=to).contains(&r.key.day)) {
            match &r.key.team {
                None => total.merge(&r.counts),
                Some(team) => teams.entry(team.clone()).or_default().merge(&r.counts),
            }
        }
        Report {
            account: account.to_string(),
            channels: channels.to_vec(),
            from,
            to,
            days: (to - from).num_days() + 1,
            total: Figures::from(&total),
            teams: teams
                .iter()
                .map(|(team, d)| (team.clone(), Figures::from(d)))
                .collect(),
        }
    }
}
