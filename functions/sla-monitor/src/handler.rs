//! The batch handler: a batch of the table's stream (conversation changes: schedule timers,
//! publish alerts) or a batch of the timers queue (timers that came up: breaches, automatic
//! resolutions, timers chained on), with partial batch failures.

use aws_lambda_events::event::dynamodb::Event as StreamEvent;
use aws_lambda_events::event::sqs::{SqsEvent, SqsMessage};
use gateway_core::ports::RulesSource;
use gateway_core::sla::Timer;
use gateway_core::sla::monitor::{Monitor, TimerOutcome};
use gateway_core::sla::ports::{AlertPublisher, Inboxes, SlaRecords, TimerQueue};
use gateway_lambda::metrics;
use gateway_lambda::stream_batch::{conversation_change, sequence_number};
use serde_json::Value;
use std::sync::Arc;
use std::time::Duration;

/// The longest delay of one timer message (SQS).
pub const MAX_DELAY_SECS: u32 = 900;

/// The ports the handler works with.
pub struct MonitorDeps {
    /// Conversations.
    pub records: Arc<dyn SlaRecords>,
    /// The timers queue.
    pub timers: Arc<dyn TimerQueue>,
    /// The alerts topic.
    pub alerts: Arc<dyn AlertPublisher>,
    /// The accounts' inboxes (gauges).
    pub inboxes: Arc<dyn Inboxes>,
    /// The rules (lifecycle settings).
    pub rules: Arc<dyn RulesSource>,
    /// `SLA_BREACH_GRACE_SECS`.
    pub breach_grace: Duration,
}

/// One invocation's batch.
#[derive(Debug)]
pub enum Batch {
    /// Records of the table's stream.
    Stream(StreamEvent),
    /// Messages of the timers queue.
    Timers(SqsEvent),
    /// The schedule (EventBridge, every minute): the inbox gauges.
    Schedule,
}

/// Tells the event sources apart: the schedule by its `source`, the others by the records'
/// `eventSource`.
pub fn parse(event: Value) -> Result<Batch, String> {
    if event["source"] == "aws.events" {
        return Ok(Batch::Schedule);
    }
    let source = event["Records"][0]["eventSource"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let batch = match source.as_str() {
        "aws:dynamodb" => serde_json::from_value(event).map(Batch::Stream),
        "aws:sqs" | "" => serde_json::from_value(event).map(Batch::Timers),
        other => return Err(format!("unexpected event source `{other}`")),
    };
    batch.map_err(|e| format!("undecodable {source} event: {e}"))
}

/// Handles one batch; returns the ids to retry (stream: the sequence number of the first record
/// that failed, after which the shard is retried; timers: the message ids).
pub async fn handle(
    deps: &MonitorDeps,
    batch: &Batch,
    now: &(dyn Fn() -> i64 + Send + Sync),
) -> Vec<String> {
    let everything = || match batch {
        Batch::Stream(e) => e.records.first().map(sequence_number).into_iter().collect(),
        Batch::Timers(e) => e
            .records
            .iter()
            .filter_map(|r| r.message_id.clone())
            .collect(),
        Batch::Schedule => Vec::new(),
    };
    let rules = match deps.rules.rules().await {
        Ok(r) => r,
        Err(e) => {
            tracing::error!(error.message = %e, "rules unavailable; the batch will be retried");
            return everything();
        }
    };
    let monitor = Monitor {
        records: deps.records.as_ref(),
        timers: deps.timers.as_ref(),
        alerts: deps.alerts.as_ref(),
        inboxes: deps.inboxes.as_ref(),
        grace_ms: i64::try_from(deps.breach_grace.as_millis()).unwrap_or(i64::MAX),
        max_delay_secs: MAX_DELAY_SECS,
        auto_resolve_after_ms: rules
            .auto_resolve_pending_after_secs()
            .map(|s| i64::from(s) * 1000),
        resolve_removes_tags: rules.resolve_removes_tags(),
        now,
    };
    match batch {
        Batch::Schedule => {
            gauges(&monitor, now()).await;
            Vec::new()
        }
        Batch::Stream(event) => stream(&monitor, event).await,
        Batch::Timers(event) => {
            let mut failures = Vec::new();
            for record in &event.records {
                if !timer(&monitor, record).await
                    && let Some(id) = &record.message_id
                {
                    failures.push(id.clone());
                }
            }
            failures
        }
    }
}

async fn stream(monitor: &Monitor<'_>, event: &StreamEvent) -> Vec<String> {
    for record in &event.records {
        let change = match conversation_change(record) {
            None => continue,
            Some(Ok(change)) => change,
            Some(Err(e)) => {
                // A write no conversation reader can read: nothing to time, and retrying would
                // block the shard. Said loudly, then passed.
                tracing::error!(event.id = %record.event_id, error.message = %e, "stream record skipped");
                continue;
            }
        };
        let Some(new) = &change.new else { continue };
        match monitor.on_change(change.old.as_ref(), new).await {
            Ok(reaction) => {
                for alert in &reaction.alerts {
                    tracing::info!(conversation = %new.key, kind = alert.kind(), "alert published");
                }
                if let Some(ms) = reaction.resolution_ms {
                    metrics::emit(
                        &[("ResolutionTime", ms as f64, "Milliseconds")],
                        &[
                            ("Channel", new.channel.as_str()),
                            ("Account", &new.account_id),
                        ],
                        &[&["Channel"], &["Channel", "Account"]],
                    );
                }
            }
            Err(e) => {
                tracing::warn!(conversation = %new.key, error.message = %e, "conversation change not handled; retried from here");
                // Lambda retries from the first failure; the records after it come again.
                return vec![sequence_number(record)];
            }
        }
    }
    Vec::new()
}

/// Emits `UnansweredNow` and `OldestWaitingSeconds` per account, and their totals (the sum,
/// and the longest wait of all) as the namespace aggregate an alarm watches. A query that
/// fails is logged; the next minute's run measures again.
async fn gauges(monitor: &Monitor<'_>, now_ms: i64) {
    let gauges = match monitor.gauges().await {
        Ok(g) => g,
        Err(e) => {
            tracing::error!(error.message = %e, "inbox gauges not measured");
            return;
        }
    };
    let (mut total, mut longest) = (0u64, 0.0f64);
    for g in &gauges {
        let oldest = g.oldest_waiting_secs(now_ms);
        total += g.unanswered;
        longest = longest.max(oldest);
        metrics::emit(
            &[
                ("UnansweredNow", g.unanswered as f64, "Count"),
                ("OldestWaitingSeconds", oldest, "Seconds"),
            ],
            &[("Channel", g.channel.as_str()), ("Account", &g.account_id)],
            &[&["Channel", "Account"]],
        );
    }
    metrics::emit(
        &[
            ("UnansweredNow", total as f64, "Count"),
            ("OldestWaitingSeconds", longest, "Seconds"),
        ],
        &[],
        &[&[]],
    );
    tracing::info!(
        accounts = gauges.len(),
        unanswered = total,
        oldest_secs = longest,
        "inbox gauges"
    );
}

/// Handles one timer message; false when it must be retried.
async fn timer(monitor: &Monitor<'_>, record: &SqsMessage) -> bool {
    let id = record.message_id.as_deref().unwrap_or_default();
    let timer: Timer = match serde_json::from_str(record.body.as_deref().unwrap_or_default()) {
        Ok(t) => t,
        Err(e) => {
            // Handed back until the queue's redrive moves it to the timers' dead-letter queue,
            // where it can be read: never dropped unseen.
            tracing::error!(sqs.message_id = id, error.message = %e, "undecodable timer");
            return false;
        }
    };
    match monitor.on_timer(&timer).await {
        Ok(outcome) => {
            report(&timer, &outcome);
            true
        }
        Err(e) => {
            tracing::warn!(sqs.message_id = id, conversation = %timer.conversation_key, error.message = %e, "timer not handled; retried");
            false
        }
    }
}

fn report(timer: &Timer, outcome: &TimerOutcome) {
    let kind = timer.kind.as_str();
    match outcome {
        TimerOutcome::Breached(_, c) => {
            let team = c.team.as_deref().unwrap_or("none");
            tracing::warn!(conversation = %c.key, kind, due_at = timer.due_at, "service level breached");
            metrics::emit(
                &[("SlaBreaches", 1.0, "Count")],
                &[
                    ("Channel", c.channel.as_str()),
                    ("Account", &c.account_id),
                    ("Team", team),
                    ("Kind", kind),
                ],
                &[
                    &[],
                    &["Channel"],
                    &["Channel", "Account"],
                    &["Channel", "Account", "Team"],
                    &["Kind"],
                ],
            );
        }
        TimerOutcome::AutoResolved(c) => {
            tracing::info!(conversation = %c.key, "resolved automatically");
            metrics::emit(
                &[("AutoResolved", 1.0, "Count")],
                &[("Channel", c.channel.as_str()), ("Account", &c.account_id)],
                &[&["Channel"], &["Channel", "Account"]],
            );
        }
        TimerOutcome::Gone => {
            tracing::info!(conversation = %timer.conversation_key, kind, "timer for a conversation that no longer exists dropped");
        }
        other => {
            tracing::debug!(conversation = %timer.conversation_key, kind, outcome = other.as_str(), "timer handled");
        }
    }
}

#[cfg(test)]
mod tests;
