//! `GET /stats` (supervisors): an account's (or one of its teams') daily statistics over a
//! range of days, the dashboard's series over the same days, and who waits now.

use super::people::supervisor_only;
use super::{Answer, Call, Desk, Refusal};
use chrono::{Duration, NaiveDate};
use gateway_core::desk::access::{is_valid_team, parse_account_key};
use gateway_core::stats::{DailyRecord, Dashboard, RecordKey, Report};
use serde_json::json;

/// The longest range of days `GET /stats` covers.
const MAX_STATS_DAYS: i64 = 92;

fn day(field: &str, v: &str) -> Result<NaiveDate, Refusal> {
    NaiveDate::parse_from_str(v, "%Y-%m-%d")
        .map_err(|_| Refusal::invalid(field, "a day, YYYY-MM-DD"))
}

/// `GET /stats?account=channel:account[&team=T][&from=YYYY-MM-DD&to=YYYY-MM-DD]`: the
/// account's daily statistics over the days (the last 7 by default) summed (`report`), day
/// by day (`daily`), per local hour (`hourly_inbound`) and per agent (`agents`), each the
/// team's when `team` is named; and who waits now on the account (`live`).
pub(super) async fn stats(desk: &Desk, call: &Call<'_>) -> Result<Answer, Refusal> {
    supervisor_only(call)?;
    let (mut account, mut team, mut from, mut to) = (None, None, None, None);
    for (k, v) in call.params() {
        match k.as_str() {
            "account" => account = Some(v),
            "team" if is_valid_team(&v) => team = Some(v),
            "team" => return Err(Refusal::invalid("team", "1 to 64 letters, digits or -_.@")),
            "from" => from = Some(day("from", &v)?),
            "to" => to = Some(day("to", &v)?),
            other => {
                return Err(Refusal::invalid(
                    other,
                    "unknown parameter (account, team, from, to)",
                ));
            }
        }
    }
    let Some(account) = account else {
        return Err(Refusal::invalid("account", "required: channel:account"));
    };
    let Some((channel, name)) = parse_account_key(&account) else {
        return Err(Refusal::invalid(
            "account",
            "`wechat:<account>` or `weibo:<account>`",
        ));
    };
    if !call.caller.covers_account(&account) {
        return Err(Refusal::forbidden(format!(
            "account {account} is not yours"
        )));
    }
    let today = chrono::DateTime::from_timestamp_millis(call.now_ms)
        .map(|t| t.date_naive())
        .unwrap_or_default();
    let to = to.unwrap_or(today);
    let from = from.unwrap_or(to - Duration::days(6));
    let span = (to - from).num_days() + 1;
    if span < 1 {
        return Err(Refusal::invalid("from", "must not be after `to`"));
    }
    if span > MAX_STATS_DAYS {
        return Err(Refusal::invalid(
            "from",
            format!("the range covers {span} days; at most {MAX_STATS_DAYS}"),
        ));
    }
    let records = desk.stats.days(channel, &name, from, to).await?;
    let report = match &team {
        None => Report::build(&name, &[channel], from, to, &records),
        // The team's records as if they were the account's: `total` is the team's figures.
        Some(t) => {
            let own: Vec<DailyRecord> = records
                .iter()
                .filter(|r| r.key.team.as_deref() == Some(t.as_str()))
                .map(|r| DailyRecord {
                    key: RecordKey {
                        day: r.key.day,
                        team: None,
                    },
                    counts: r.counts.clone(),
                })
                .collect();
            Report::build(&name, &[channel], from, to, &own)
        }
    };
    let dashboard = Dashboard::build(from, to, team.as_deref(), &records);
    let gauge = desk.inboxes.gauge(channel, &name).await?;
    Ok(Answer::ok(json!({
        "account": account,
        "team": team,
        "from": from.to_string(),
        "to": to.to_string(),
        "report": report,
        "daily": dashboard.daily,
        "hourly_inbound": dashboard.hourly_inbound,
        "agents": dashboard.agents,
        "live": {
            "unanswered": gauge.unanswered,
            "oldest_waiting_since": gauge.oldest_waiting_since,
            "oldest_wait_seconds": gauge.oldest_waiting_since.map(|t| (call.now_ms - t).max(0) / 1000),
        },
    })))
}
