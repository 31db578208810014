//! The webhook-sender's batch handler: each record through
//! [`webhook_target::process`], then the outcome carried out: a dead letter with its reason,
//! a retry with exponential backoff (`ChangeMessageVisibility`), metrics and one log line.
//!
//! A standard queue: records are independent, so one client's failing receiver never holds
//! back another record (unlike `sqs_batch::drive`, which hands back the rest of a FIFO
//! group). The attempt count is the record's `ApproximateReceiveCount`; the queue's own
//! redrive (`maxReceiveCount` above `WEBHOOK_MAX_ATTEMPTS`) is only a backstop without a
//! reason. Logs carry the client, the event type and id, never a secret, a signature or the
//! event's body.

use aws_lambda_events::event::sqs::SqsMessage;
use gateway_core::delivery::ports::{RetryScheduler, backoff_secs};
use gateway_core::ports::{AccountDirectory, DeadLetter, DeadLetters};
use gateway_core::webhook_target::{self, Handled, Ports, WebhookFanOut, WebhookPoster};
use gateway_lambda::metrics::emit;
use std::sync::Arc;
use std::time::Duration;

/// What the webhook-sender needs.
#[derive(Clone)]
pub struct SenderDeps {
    /// The webhook targets' accounts document.
    pub accounts: Arc<dyn AccountDirectory>,
    /// The HTTP POST to receivers.
    pub poster: Arc<dyn WebhookPoster>,
    /// The webhook queue (fan-out).
    pub fan_out: Arc<dyn WebhookFanOut>,
    /// The webhook dead-letter queue.
    pub dead_letters: Arc<dyn DeadLetters>,
    /// Backoff of transient failures.
    pub retries: Arc<dyn RetryScheduler>,
    /// Attempts and backoff.
    pub settings: Settings,
    /// Records are started only with at least this much of the invocation left.
    pub start_margin: Duration,
    /// The clock, Unix seconds.
    pub now_secs: fn() -> i64,
}

/// Attempt limit and backoff.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Settings {
    /// Attempts of one delivery before a transient failure dead-letters it.
    pub max_attempts: u32,
    /// Backoff base, seconds.
    pub retry_base_secs: u32,
    /// Backoff cap, seconds.
    pub retry_max_secs: u32,
}

/// Handles a batch and returns the ids of the records to retry.
pub async fn handle_batch(
    deps: &SenderDeps,
    records: &[SqsMessage],
    time_left: impl Fn() -> Duration,
) -> Vec<String> {
    let mut retry = Vec::new();
    for record in records {
        let Some(id) = record.message_id.as_deref() else {
            tracing::error!("SQS record without messageId; cannot acknowledge or retry it");
            continue;
        };
        let done = if time_left() < deps.start_margin {
            tracing::warn!(
                sqs.message_id = id,
                "not enough time left in this invocation; handing the record back for retry"
            );
            false
        } else {
            handle_record(deps, record, id).await
        };
        if !done {
            retry.push(id.to_string());
        }
    }
    retry
}

/// How many times the queue has delivered this record, this delivery included.
fn receive_count(record: &SqsMessage) -> u32 {
    record
        .attributes
        .get("ApproximateReceiveCount")
        .and_then(|c| c.parse::<u32>().ok())
        .unwrap_or(1)
}

fn count(metric: &str, client: &str) {
    emit(
        &[(metric, 1.0, "Count")],
        &[("Client", client)],
        &[&[], &["Client"]],
    );
}

/// Returns false when the record must be retried.
async fn handle_record(deps: &SenderDeps, record: &SqsMessage, id: &str) -> bool {
    let body = record.body.as_deref().unwrap_or_default();
    let attempt = receive_count(record);
    let ports = Ports {
        accounts: deps.accounts.as_ref(),
        poster: deps.poster.as_ref(),
        fan_out: deps.fan_out.as_ref(),
    };
    let handled = webhook_target::process(
        &ports,
        body,
        attempt,
        deps.settings.max_attempts,
        (deps.now_secs)(),
    )
    .await;
    match handled {
        Handled::Nobody => {
            tracing::info!(sqs.message_id = id, "no webhook subscribes to this event");
            true
        }
        Handled::FannedOut(clients) => {
            tracing::info!(
                sqs.message_id = id,
                clients,
                "event fanned out, one delivery per client"
            );
            true
        }
        Handled::Delivered { client, status } => {
            count("WebhookDelivered", &client);
            tracing::info!(
                sqs.message_id = id,
                client,
                status,
                attempt,
                "webhook delivered"
            );
            true
        }
        Handled::Retry { client, reason } => {
            let client = client.as_deref().unwrap_or("none");
            count("WebhookRetried", client);
            tracing::warn!(
                sqs.message_id = id,
                client,
                attempt,
                reason,
                "webhook delivery will be retried"
            );
            schedule_retry(deps, record, attempt).await;
            false
        }
        Handled::DeadLetter {
            client,
            reason,
            body: letter_body,
        } => {
            let client = client.as_deref().unwrap_or("none");
            let mut letter = DeadLetter::record(&letter_body, "", id, &reason);
            if client != "none" {
                letter
                    .attributes
                    .push(("webhook_client", client.to_string()));
            }
            match deps.dead_letters.dead_letter(&letter).await {
                Ok(()) => {
                    count("WebhookDeadLettered", client);
                    tracing::error!(
                        sqs.message_id = id,
                        client,
                        attempt,
                        reason,
                        "webhook delivery dead-lettered"
                    );
                    true
                }
                Err(e) => {
                    tracing::error!(
                        sqs.message_id = id,
                        client,
                        reason,
                        error.message = %e,
                        "could not dead-letter the webhook delivery; it will be retried"
                    );
                    false
                }
            }
        }
    }
}

async fn schedule_retry(deps: &SenderDeps, record: &SqsMessage, attempt: u32) {
    let Some(handle) = record.receipt_handle.as_deref() else {
        return;
    };
    let delay = backoff_secs(
        attempt,
        deps.settings.retry_base_secs,
        deps.settings.retry_max_secs,
    );
    if delay == 0 {
        return;
    }
    if let Err(e) = deps.retries.retry_after(handle, delay).await {
        // The queue's visibility timeout applies instead.
        tracing::warn!(error.message = %e, "could not set the retry backoff");
    }
}

#[cfg(test)]
mod tests;
