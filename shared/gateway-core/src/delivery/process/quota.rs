//! The reply sender's side of template messages' daily quota
//! ([`crate::delivery::template_quota`]): the check before a template send, the hold, WeChat's
//! 45009, and the attempt count that holds do not consume.

use super::{Sender, dead_letter};
use crate::delivery::outcome::{Attempt, DeliveryError, DeliveryOutcome};
use crate::delivery::platform::PlatformError;
use crate::delivery::template_quota::{
    self, DAILY_QUOTA_CODE, Exhausted, HELD_REASON, MAX_HOLDS, QUOTA_EXHAUSTED,
};
use crate::outbound::ReplyCommand;

/// The day's quota of `account_id` (one read): `Err` with the hold when it is used up.
pub(super) async fn check(
    s: &Sender<'_>,
    command: &ReplyCommand,
    account_id: &str,
    limit: Option<u32>,
) -> Result<(), Result<DeliveryOutcome, DeliveryError>> {
    let now = (s.now)();
    let today = match s
        .quotas
        .day(account_id, &template_quota::quota_day(now))
        .await
    {
        Ok(day) => day,
        Err(e) => return Err(Err(e.into())),
    };
    match template_quota::check(&today, limit) {
        None => Ok(()),
        Some(why) => Err(hold(s, command, why).await),
    }
}

/// True when `e` is WeChat's answer that the day's quota is used up.
pub(super) fn is_daily_quota(e: &PlatformError) -> bool {
    e.code == DAILY_QUOTA_CODE
}

/// WeChat answered 45009 to a template send (the claim already released): the day is marked
/// exhausted, so the next template messages of the account are held without calling WeChat,
/// and this one is held too.
pub(super) async fn refused(
    s: &Sender<'_>,
    command: &ReplyCommand,
    account_id: &str,
) -> Result<DeliveryOutcome, DeliveryError> {
    let now = (s.now)();
    s.quotas
        .mark_exhausted(account_id, &template_quota::quota_day(now), now)
        .await?;
    hold(s, command, Exhausted::RefusedByWeChat { at_ms: now }).await
}

/// Holds the reply until the quota resets: its record `held`, the command handed back
/// ([`DeliveryError::Held`]); dead-lettered with [`QUOTA_EXHAUSTED`] after [`MAX_HOLDS`].
async fn hold(
    s: &Sender<'_>,
    command: &ReplyCommand,
    why: Exhausted,
) -> Result<DeliveryOutcome, DeliveryError> {
    let now = (s.now)();
    let hold = template_quota::hold_for(now);
    let detail = why.to_string();
    let holds = s
        .ledger
        .hold(command, HELD_REASON, &detail, hold.retry_at_ms, now)
        .await?;
    if holds > MAX_HOLDS {
        let reason = format!(
            "held {} times for the daily template quota and still not sent: {detail}",
            holds - 1
        );
        return dead_letter(s, command, QUOTA_EXHAUSTED, &reason).await;
    }
    Err(DeliveryError::Held {
        why: detail,
        retry_at_ms: hold.retry_at_ms,
        delay: hold.delay,
        holds,
    })
}

/// `attempt` without the receives that were holds: read (one `GetItem`) only when the receive
/// count alone makes it the last attempt, the one case where the difference matters.
pub(super) async fn attempt_without_holds(
    s: &Sender<'_>,
    command: &ReplyCommand,
    attempt: Attempt,
) -> Result<Attempt, DeliveryError> {
    if !attempt.is_last() {
        return Ok(attempt);
    }
    let holds = s.ledger.holds(&command.dedupe_id()).await?;
    Ok(Attempt {
        number: attempt.number.saturating_sub(holds).max(1),
        limit: attempt.limit,
    })
}
