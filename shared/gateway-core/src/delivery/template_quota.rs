//! Template messages' own daily quota, per WeChat account: how many were sent on the quota day,
//! whether WeChat already answered 45009 that day, and how long a reply that finds the quota
//! used up is held. Pure: no I/O, no clock (time is passed in); the counter and the day's
//! marker are read and written through [`TemplateQuotas`] and the delivery ledger.
//!
//! **The quota day.** WeChat gives every API a daily limit per account, shown in the MP admin
//! console (开发 → 接口权限, "日调用上限/实时调用量"), and answers
//! `{"errcode":45009,"errmsg":"reach max api daily quota limit"}` ("api 调用次数达到当天上限")
//! once it is used up: 接口调用频次限制说明
//! (<https://developers.weixin.qq.com/doc/offiaccount/Message_Management/API_Call_Limits.html>)
//! and the clear-quota API's error table
//! (<https://developers.weixin.qq.com/doc/service/openApi/clear_quota.html>). The pages speak
//! of a day ("每日限额", "当天") without naming its time zone; WeChat's platform runs on China
//! Standard Time, so the gateway counts the day in Beijing time (UTC+8, no daylight saving):
//! [`quota_day`] and [`next_reset_ms`]. Should the console's counter reset at another hour,
//! the 45009 marker still holds replies back until the gateway's next reset, and they are sent
//! then.
//!
//! **Counting.** The reply sender adds 1 to the day's `sent` in the same transaction that makes
//! a template message's record `accepted` (no extra call on the send path). Before a template
//! send it reads the day ([`TemplateQuotas::day`], one `GetItem`); [`check`] says whether to
//! hold the reply: the account's `template_daily_limit` (accounts document) is reached, or
//! WeChat already answered 45009 today (`exhausted_at`). Two instances reading the same count
//! may both send the last allowed message, so the limit is a soft one; WeChat's own 45009 is
//! the hard stop, and it marks the day exhausted.
//!
//! **The hold** ([`hold_for`]): the reply is not sent and loses nothing. Its record becomes
//! `held` (reason [`HELD_REASON`], `retry_at_ms`) and the command goes back to the queue,
//! invisible until the next reset, at most [`MAX_HOLD`] (SQS's largest visibility timeout); a
//! hold does not count as a delivery attempt (`REPLY_MAX_ATTEMPTS`). Each hold is one receive of
//! the queue, whose redrive counts receives: after [`MAX_HOLDS`] holds the command is
//! dead-lettered with [`QUOTA_EXHAUSTED`] (and can be redriven from there), before the queue's
//! redrive would move it without a reason.

use crate::ports::PortError;
use async_trait::async_trait;
use chrono::DateTime;
use std::fmt;
use std::time::Duration;

/// WeChat's error code for a daily API quota used up (`reach max api daily quota limit`).
pub const DAILY_QUOTA_CODE: i64 = 45009;

/// The reason a held reply's record shows.
pub const HELD_REASON: &str = "template_quota_exhausted";

/// Dead-letter code of a template message held [`MAX_HOLDS`] times.
pub const QUOTA_EXHAUSTED: &str = "gateway:template_quota_exhausted";

/// The longest one hold lasts: SQS's largest visibility timeout
/// (<https://docs.aws.amazon.com/AWSSimpleQueueService/latest/APIReference/API_ChangeMessageVisibility.html>).
pub const MAX_HOLD: Duration = Duration::from_secs(12 * 3600);

/// Holds of one command before it is dead-lettered: each is one receive of the outbound queue,
/// and holds plus `REPLY_MAX_ATTEMPTS` (4) must stay below its `maxReceiveCount` (10). Five
/// holds of at most 12 hours cover at least two quota resets.
pub const MAX_HOLDS: u32 = 5;

/// How long the day's quota item is kept after its day ends, days.
pub const QUOTA_ITEM_TTL_DAYS: i64 = 3;

/// Beijing time's offset from UTC, ms.
const BEIJING_OFFSET_MS: i64 = 8 * 3600 * 1000;
const DAY_MS: i64 = 86_400_000;

/// The quota day of `now_ms`: the Beijing calendar date, `YYYY-MM-DD`.
pub fn quota_day(now_ms: i64) -> String {
    let local_midnight = (now_ms + BEIJING_OFFSET_MS).div_euclid(DAY_MS) * DAY_MS;
    DateTime::from_timestamp_millis(local_midnight)
        .unwrap_or_default()
        .format("%Y-%m-%d")
        .to_string()
}

/// The next reset after `now_ms`: the next midnight in Beijing, Unix ms.
pub fn next_reset_ms(now_ms: i64) -> i64 {
    ((now_ms + BEIJING_OFFSET_MS).div_euclid(DAY_MS) + 1) * DAY_MS - BEIJING_OFFSET_MS
}

/// When the day's quota item may be deleted (DynamoDB TTL, Unix seconds).
pub fn quota_item_expires_at(now_ms: i64) -> i64 {
    next_reset_ms(now_ms) / 1000 + QUOTA_ITEM_TTL_DAYS * 86_400
}

/// One account's template quota on one day, as stored.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct QuotaDay {
    /// Template messages WeChat accepted that day.
    pub sent: u64,
    /// When WeChat answered 45009 that day, Unix ms.
    pub exhausted_at_ms: Option<i64>,
}

/// Why the day's quota is used up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exhausted {
    /// `sent` reached the account's `template_daily_limit`.
    LimitReached {
        /// Sent today.
        sent: u64,
        /// The limit.
        limit: u32,
    },
    /// WeChat answered 45009 today.
    RefusedByWeChat {
        /// When, Unix ms.
        at_ms: i64,
    },
}

impl fmt::Display for Exhausted {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Exhausted::LimitReached { sent, limit } => write!(
                f,
                "{sent} template messages sent today, the account's template_daily_limit is {limit}"
            ),
            Exhausted::RefusedByWeChat { .. } => {
                write!(f, "WeChat answered 45009 (daily quota reached) today")
            }
        }
    }
}

/// Whether a template message may be sent today: `Some` when the day is used up.
pub fn check(day: &QuotaDay, limit: Option<u32>) -> Option<Exhausted> {
    if let Some(at_ms) = day.exhausted_at_ms {
        return Some(Exhausted::RefusedByWeChat { at_ms });
    }
    match limit {
        Some(limit) if day.sent >= u64::from(limit) => Some(Exhausted::LimitReached {
            sent: day.sent,
            limit,
        }),
        _ => None,
    }
}

/// A hold decided at `now_ms`: retried at `retry_at_ms`, `delay` from now (the next reset, at
/// most [`MAX_HOLD`]; a later retry on the same day holds it again).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Hold {
    /// When the reply is tried again, Unix ms.
    pub retry_at_ms: i64,
    /// How long from now.
    pub delay: Duration,
}

/// The hold of a reply that finds the quota used up at `now_ms`.
pub fn hold_for(now_ms: i64) -> Hold {
    let max_ms = i64::try_from(MAX_HOLD.as_millis()).unwrap_or(i64::MAX);
    let until_reset = (next_reset_ms(now_ms) - now_ms).clamp(1, max_ms);
    Hold {
        retry_at_ms: now_ms + until_reset,
        delay: Duration::from_millis(u64::try_from(until_reset).unwrap_or(0)),
    }
}

/// The template quota days, per account (`TPLQUOTA#wechat#{account}` / `DAY#{day}`).
#[async_trait]
pub trait TemplateQuotas: Send + Sync {
    /// The account's quota on `day` (`YYYY-MM-DD`, [`quota_day`]); a day without an item is
    /// empty.
    async fn day(&self, account_id: &str, day: &str) -> Result<QuotaDay, PortError>;

    /// Records that WeChat answered 45009 on `day` at `now_ms` (kept if already set).
    async fn mark_exhausted(
        &self,
        account_id: &str,
        day: &str,
        now_ms: i64,
    ) -> Result<(), PortError>;
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    /// Unix ms of a Beijing wall-clock time.
    fn bj(text: &str) -> i64 {
        DateTime::parse_from_rfc3339(&format!("{text}+08:00"))
            .expect("time")
            .timestamp_millis()
    }

    #[test]
    fn the_quota_day_turns_at_midnight_beijing_time_not_utc() {
        assert_eq!(quota_day(bj("2026-12-06T23:59:59.999")), "2026-12-06");
        assert_eq!(quota_day(bj("2026-12-07T00:00:00")), "2026-12-07");
        // 16:00 UTC is midnight in Beijing: the UTC date is still the 6th.
        assert_eq!(quota_day(bj("2026-12-07T00:30:00")), "2026-12-07");
        assert_eq!(
            next_reset_ms(bj("2026-12-06T23:59:59")),
            bj("2026-12-07T00:00:00")
        );
        assert_eq!(
            next_reset_ms(bj("2026-12-07T00:00:00")),
            bj("2026-12-08T00:00:00")
        );
        assert_eq!(
            next_reset_ms(bj("2026-12-31T08:00:00")),
            bj("2027-01-01T00:00:00")
        );
    }

    #[test]
    fn a_limit_reached_holds_and_one_below_does_not() {
        let day = |sent| QuotaDay {
            sent,
            exhausted_at_ms: None,
        };
        assert_eq!(check(&day(1), Some(2)), None);
        assert_eq!(
            check(&day(2), Some(2)),
            Some(Exhausted::LimitReached { sent: 2, limit: 2 })
        );
        assert_eq!(
            check(&day(3), Some(2)),
            Some(Exhausted::LimitReached { sent: 3, limit: 2 })
        );
        // No limit configured: only WeChat's answer stops it.
        assert_eq!(check(&day(1_000_000), None), None);
    }

    #[test]
    fn the_exhausted_marker_holds_even_without_a_limit() {
        let day = QuotaDay {
            sent: 0,
            exhausted_at_ms: Some(5),
        };
        assert_eq!(
            check(&day, None),
            Some(Exhausted::RefusedByWeChat { at_ms: 5 })
        );
        assert_eq!(
            check(&day, Some(100)),
            Some(Exhausted::RefusedByWeChat { at_ms: 5 })
        );
    }

    #[test]
    fn a_hold_lasts_until_the_reset_capped_at_twelve_hours() {
        let late = bj("2026-12-06T22:00:00");
        let hold = hold_for(late);
        assert_eq!(hold.retry_at_ms, bj("2026-12-07T00:00:00"));
        assert_eq!(hold.delay, Duration::from_secs(2 * 3600));

        let morning = bj("2026-12-06T01:00:00");
        let hold = hold_for(morning);
        assert_eq!(hold.delay, MAX_HOLD);
        assert_eq!(hold.retry_at_ms, bj("2026-12-06T13:00:00"));
        // Held again then: 11 hours to the reset.
        assert_eq!(
            hold_for(hold.retry_at_ms).retry_at_ms,
            bj("2026-12-07T00:00:00")
        );
    }

    // Holds and attempts stay below the queue's redrive (infra: OutboundQueue maxReceiveCount
    // 10, REPLY_MAX_ATTEMPTS 4): checked when the tests compile.
    const _: () = assert!(MAX_HOLDS + 4 < 10);

    #[test]
    fn the_quota_item_outlives_its_day() {
        let now = bj("2026-12-06T10:00:00");
        assert_eq!(
            quota_item_expires_at(now),
            bj("2026-12-07T00:00:00") / 1000 + 3 * 86_400
        );
    }
}
