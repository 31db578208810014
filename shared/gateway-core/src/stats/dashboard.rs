//! The series of a supervisor's dashboard over a range of days, from the daily records of an
//! account or of one of its teams: each day's figures (days with no record as zeros), the
//! inbound messages of each local hour, and each agent's figures summed over the days.

use super::report::Durations;
use super::{Bucket, DailyDelta, DailyRecord, Histogram, counter};
use chrono::{Duration, NaiveDate};
use serde::Serialize;
use std::collections::BTreeMap;

/// One day's figures.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct DaySummary {
    /// The local day, `YYYY-MM-DD`.
    pub day: String,
    /// Inbound messages.
    pub inbound: i64,
    /// Episodes opened.
    pub opened: i64,
    /// Conversations resolved.
    pub resolved: i64,
    /// Escalation episodes begun.
    pub escalations: i64,
    /// Waits that breached their response due time.
    pub sla_breaches: i64,
    /// A person's first answers given by their due time.
    pub first_responses_met: i64,
    /// A person's first answers given after it.
    pub first_responses_breached: i64,
    /// Tags added, by tag.
    pub tags: BTreeMap<String, i64>,
}

/// The inbound messages of one local hour.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct HourCount {
    /// `YYYY-MM-DDTHH`, in the account's time zone.
    pub hour: String,
    /// Inbound messages received in that hour.
    pub inbound: i64,
}

/// An agent's figures over the days.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct AgentFigures {
    /// Their first answers of an episode (met and breached).
    pub first_responses: i64,
    /// Of those, given by their due time.
    pub first_responses_met: i64,
    /// Their delivered replies.
    pub replies: i64,
    /// Conversations they resolved.
    pub resolved: i64,
    /// Their first response times (count, p50, p90).
    pub first_response_time: DurationSummary,
}

/// How many durations, and their median and 90th percentile buckets.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct DurationSummary {
    /// How many.
    pub count: i64,
    /// The median's bucket.
    pub p50: Option<Bucket>,
    /// The 90th percentile's bucket.
    pub p90: Option<Bucket>,
}

impl From<&Histogram> for DurationSummary {
    fn from(h: &Histogram) -> Self {
        let d = Durations::from(h);
        DurationSummary {
            count: d.count,
            p50: d.p50,
            p90: d.p90,
        }
    }
}

/// The dashboard's series over `from..=to`.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Dashboard {
    /// One entry per day, in order.
    pub daily: Vec<DaySummary>,
    /// 24 entries per day, in order.
    pub hourly_inbound: Vec<HourCount>,
    /// By agent id.
    pub agents: BTreeMap<String, AgentFigures>,
}

impl Dashboard {
    /// Builds the series from the `records` of `team` (`None`: the account's own records);
    /// records of other teams and days outside the range are left out.
    pub fn build(
        from: NaiveDate,
        to: NaiveDate,
        team: Option<&str>,
        records: &[DailyRecord],
    ) -> Dashboard {
        let mut days: BTreeMap<NaiveDate, DailyDelta> = BTreeMap::new();
        for r in records
            .iter()
            .filter(|r| r.key.team.as_deref() == team && (from..=to).contains(&r.key.day))
        {
            days.entry(r.key.day).or_default().merge(&r.counts);
        }
        let empty = DailyDelta::default();
        let mut out = Dashboard::default();
        let mut agents: BTreeMap<String, (DailyDelta, Histogram)> = BTreeMap::new();
        let mut day = from;
        while day <= to {
            let d = days.get(&day).unwrap_or(&empty);
            out.daily.push(DaySummary {
                day: day.to_string(),
                inbound: d.get(counter::INBOUND),
                opened: d.get(counter::OPENED),
                resolved: d.get(counter::RESOLVED),
                escalations: d.get(counter::ESCALATIONS),
                sla_breaches: d.get(counter::SLA_BREACHES),
                first_responses_met: d.get(counter::FIRST_RESPONSE_MET),
                first_responses_breached: d.get(counter::FIRST_RESPONSE_BREACHED),
                tags: d
                    .by_prefix(counter::TAG)
                    .filter(|(_, n)| *n != 0)
                    .map(|(k, n)| (k.to_string(), n))
                    .collect(),
            });
            for hour in 0..24 {
                out.hourly_inbound.push(HourCount {
                    hour: format!("{day}T{hour:02}"),
                    inbound: d.get(&counter::inbound_hour(hour)),
                });
            }
            for (name, n) in &d.counters {
                let Some((agent, what)) = counter::parse_agent(name) else {
                    continue;
                };
                let (counts, histogram) = agents.entry(agent.to_string()).or_default();
                match what
                    .strip_prefix(counter::FIRST_RESPONSE_TIME)
                    .and_then(Bucket::named)
                {
                    Some(bucket) => histogram.add(bucket, *n),
                    None => counts.add(what, *n),
                }
            }
            day += Duration::days(1);
        }
        out.agents = agents
            .into_iter()
            .map(|(agent, (d, histogram))| {
                let met = d.get(counter::FIRST_RESPONSE_MET);
                let figures = AgentFigures {
                    first_responses: met + d.get(counter::FIRST_RESPONSE_BREACHED),
                    first_responses_met: met,
                    replies: d.get(counter::AGENT_REPLIES),
                    resolved: d.get(counter::AGENT_RESOLVED),
                    first_response_time: DurationSummary::from(&histogram),
                };
                (agent, figures)
            })
            .collect();
        out
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::stats::RecordKey;

    fn record(day: &str, team: Option<&str>, counters: &[(&str, i64)]) -> DailyRecord {
        DailyRecord {
            key: RecordKey {
                day: day.parse().unwrap(),
                team: team.map(str::to_string),
            },
            counts: DailyDelta::from_attributes(counters.iter().map(|(k, n)| (k.to_string(), *n))),
        }
    }

    #[test]
    fn every_day_and_hour_of_the_range_is_there_and_agents_sum_over_the_days() {
        let records = [
            record(
                "2026-03-02",
                None,
                &[
                    ("inbound", 3),
                    ("inbound_hour:00", 1),
                    ("inbound_hour:23", 2),
                    ("opened", 2),
                    ("tag:crisis", 1),
                    ("first_response_met", 1),
                    ("agent:alice:first_response_met", 1),
                    ("agent:alice:first_response_time:le_5m", 1),
                    ("agent:alice:replies", 2),
                ],
            ),
            // No record on the 3rd. The 4th: alice breached once, bob resolved.
            record(
                "2026-03-04",
                None,
                &[
                    ("inbound", 1),
                    ("inbound_hour:09", 1),
                    ("agent:alice:first_response_breached", 1),
                    ("agent:alice:first_response_time:le_2h", 1),
                    ("agent:bob:resolved", 1),
                ],
            ),
            // A team's record, and a day outside the range: left out.
            record(
                "2026-03-02",
                Some("care"),
                &[("inbound", 7), ("agent:carol:replies", 1)],
            ),
            record("2026-03-05", None, &[("inbound", 9)]),
        ];
        let from = "2026-03-02".parse().unwrap();
        let to = "2026-03-04".parse().unwrap();
        let d = Dashboard::build(from, to, None, &records);
        let days: Vec<(&str, i64)> = d
            .daily
            .iter()
            .map(|x| (x.day.as_str(), x.inbound))
            .collect();
        assert_eq!(
            days,
            [("2026-03-02", 3), ("2026-03-03", 0), ("2026-03-04", 1)]
        );
        assert_eq!(
            serde_json::to_value(&d.daily[1]).unwrap(),
            serde_json::json!({"day": "2026-03-03", "inbound": 0, "opened": 0, "resolved": 0,
                "escalations": 0, "sla_breaches": 0, "first_responses_met": 0,
                "first_responses_breached": 0, "tags": {}})
        );
        assert_eq!(d.daily[0].tags, [("crisis".to_string(), 1)].into());
        assert_eq!(d.hourly_inbound.len(), 3 * 24);
        let nonzero: Vec<(&str, i64)> = d
            .hourly_inbound
            .iter()
            .filter(|h| h.inbound != 0)
            .map(|h| (h.hour.as_str(), h.inbound))
            .collect();
        assert_eq!(
            nonzero,
            [
                ("2026-03-02T00", 1),
                ("2026-03-02T23", 2),
                ("2026-03-04T09", 1)
            ]
        );
        assert_eq!(d.hourly_inbound[24].hour, "2026-03-03T00");
        assert_eq!(
            serde_json::to_value(&d.agents).unwrap(),
            serde_json::json!({
                "alice": {"first_responses": 2, "first_responses_met": 1, "replies": 2,
                    "resolved": 0,
                    "first_response_time": {"count": 2, "p50": "le_5m", "p90": "le_2h"}},
                "bob": {"first_responses": 0, "first_responses_met": 0, "replies": 0,
                    "resolved": 1,
                    "first_response_time": {"count": 0, "p50": null, "p90": null}},
            })
        );
        // A team's series: its records only.
        let care = Dashboard::build(from, to, Some("care"), &records);
        assert_eq!(care.daily[0].inbound, 7);
        assert_eq!(care.agents.keys().collect::<Vec<_>>(), ["carol"]);
    }
}
