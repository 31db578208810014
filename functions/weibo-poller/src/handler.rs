//! The scheduled run: every due timeline of every listening Weibo account polled through
//! `gateway_core::listening::poll`, then one log line and the metrics (EMF, namespace
//! `ChannelGateway`) per timeline:
//!
//! * `PolledItems` (Count): messages queued, dimensions `Channel`+`Account`+`Timeline` and
//!   `Channel`; emitted for every timeline read (0 included), so a quiet account still shows;
//! * `PollFailures` (Count): a timeline poll that failed, dimensions `Account` and none (the
//!   alarm's); also a run that could not read the accounts;
//! * `PollRateLimited` (Count): a timeline the platform asked to slow down, dimension
//!   `Account`.

use gateway_core::listening::poll::{Outcome, Poller, RunError, Settings, TimelineReport};
use gateway_core::listening::{CursorStore, MessageBatchPublisher, TimelineSource};
use gateway_core::ports::AccountDirectory;
use gateway_lambda::metrics;
use serde_json::{Value, json};
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

/// The ports and limits of a run.
pub struct PollerDeps {
    /// The accounts (delivery role: tokens).
    pub accounts: Arc<dyn AccountDirectory>,
    /// The timelines.
    pub source: Arc<dyn TimelineSource>,
    /// The cursor items.
    pub cursors: Arc<dyn CursorStore>,
    /// The inbound queue.
    pub queue: Arc<dyn MessageBatchPublisher>,
    /// Pages per timeline and the time one takes.
    pub settings: Settings,
    /// Unix milliseconds now.
    pub now_ms: fn() -> i64,
}

/// Refuses events that are not a schedule's (or a manual invocation's): a queue or stream
/// batch sent here by mistake would otherwise be taken for a tick.
pub fn check_event(event: &Value) -> Result<(), String> {
    if event.get("Records").is_some() {
        return Err("weibo-poller runs on its schedule; this event holds Records".into());
    }
    Ok(())
}

/// The function's longest run (its timeout in the templates).
pub const FUNCTION_TIMEOUT_MS: i64 = 50_000;

/// The invocation's deadline, Unix milliseconds; [`FUNCTION_TIMEOUT_MS`] from now when the
/// runtime gave none (a deadline not in the future).
pub fn deadline_ms(deadline: SystemTime, now_ms: i64) -> i64 {
    deadline
        .duration_since(UNIX_EPOCH)
        .ok()
        .and_then(|d| i64::try_from(d.as_millis()).ok())
        .filter(|d| *d > now_ms)
        .unwrap_or(now_ms + FUNCTION_TIMEOUT_MS)
}

/// One run until `deadline_ms`; returns a summary.
pub async fn handle(deps: &PollerDeps, deadline_ms: i64) -> Result<Value, RunError> {
    let poller = Poller {
        accounts: deps.accounts.as_ref(),
        source: deps.source.as_ref(),
        cursors: deps.cursors.as_ref(),
        queue: deps.queue.as_ref(),
        settings: deps.settings,
        now_ms: &deps.now_ms,
    };
    let reports = match poller.run(deadline_ms).await {
        Ok(r) => r,
        Err(e) => {
            tracing::error!(error.message = %e, error.cause_chain = ?e, "no poll: accounts unavailable");
            metrics::emit(&[("PollFailures", 1.0, "Count")], &[], &[&[]]);
            return Err(e);
        }
    };
    let (mut queued, mut failed, mut limited) = (0, 0, 0);
    for r in &reports {
        record(r);
        queued += r.queued;
        failed += usize::from(matches!(r.outcome, Outcome::Failed { .. }));
        limited += usize::from(matches!(r.outcome, Outcome::RateLimited { .. }));
    }
    Ok(json!({
        "timelines": reports.len(),
        "queued": queued,
        "failed": failed,
        "rate_limited": limited,
    }))
}

/// The metric lines (EMF) of one timeline, stamped `timestamp_ms`.
pub fn metric_lines(r: &TimelineReport, timestamp_ms: i64) -> Vec<String> {
    let (account, timeline) = (r.account.as_str(), r.timeline.as_str());
    let mut lines = Vec::new();
    if was_read(&r.outcome) {
        lines.push(metrics::emf_line(
            timestamp_ms,
            &[("PolledItems", r.queued as f64, "Count")],
            &[
                ("Channel", "weibo"),
                ("Account", account),
                ("Timeline", timeline),
            ],
            &[&["Channel", "Account", "Timeline"], &["Channel"]],
        ));
    }
    match &r.outcome {
        Outcome::Failed { .. } => lines.push(metrics::emf_line(
            timestamp_ms,
            &[("PollFailures", 1.0, "Count")],
            &[("Account", account)],
            &[&["Account"], &[]],
        )),
        Outcome::RateLimited { .. } => lines.push(metrics::emf_line(
            timestamp_ms,
            &[("PollRateLimited", 1.0, "Count")],
            &[("Account", account)],
            &[&["Account"]],
        )),
        _ => {}
    }
    lines
}

/// True when the timeline was (or was to be) read in this run.
fn was_read(outcome: &Outcome) -> bool {
    !matches!(outcome, Outcome::NotDue | Outcome::BackingOff { .. })
}

/// The log line and metrics of one timeline.
fn record(r: &TimelineReport) {
    let (account, timeline) = (r.account.as_str(), r.timeline.as_str());
    for (id, reason) in &r.unreadable {
        tracing::warn!(account, timeline, item.id = ?id, reason, "timeline item skipped");
    }
    for line in metric_lines(r, gateway_lambda::now_ms()) {
        println!("{line}");
    }
    match &r.outcome {
        Outcome::Failed { reason } => {
            tracing::error!(account, timeline, queued = r.queued, pages = r.pages, error.message = %reason, "timeline poll failed; the next run retries");
        }
        Outcome::RateLimited { code, until_ms } => {
            tracing::warn!(
                account,
                timeline,
                code,
                backoff_until_ms = until_ms,
                queued = r.queued,
                "rate limited; backing off"
            );
        }
        outcome if was_read(outcome) => {
            tracing::info!(
                account,
                timeline,
                outcome = outcome.as_str(),
                queued = r.queued,
                pages = r.pages,
                own = r.own,
                "timeline polled"
            );
        }
        outcome => {
            tracing::debug!(
                account,
                timeline,
                outcome = outcome.as_str(),
                "timeline not polled"
            );
        }
    }
}

#[cfg(test)]
mod tests;
