//! The media-fetcher's batch handler: decodes each fetch command, runs
//! [`media::fetch_and_record`], and reports only the records to retry, with exponential
//! backoff. A standard queue: records are independent, no order is kept.
//!
//! Dead letters carry their reason: undecodable records as received, commands that can never
//! succeed (invalid command, unknown account, a platform refusal that is not the media's
//! fault) at once, and commands whose last allowed attempt (`MEDIA_MAX_ATTEMPTS`, counted by
//! the record's `ApproximateReceiveCount`) failed transiently, before the queue's own redrive
//! (a backstop without a reason) would move them. Expired or invalid media are not failures:
//! they are recorded as `unavailable` on the message and acknowledged.

use aws_lambda_events::event::sqs::SqsMessage;
use gateway_core::delivery::ports::{RetryScheduler, backoff_secs};
use gateway_core::media::{
    self, Handled, MediaCommand, MediaRecords, MediaSource, MediaState, MediaStore,
};
use gateway_core::ports::{DeadLetter, DeadLetters};
use gateway_core::profile::{
    self, ProfileFetch, ProfileHandled, ProfileNotices, ProfileRecords, ProfileSource,
};
use gateway_lambda::metrics::emit;
use gateway_lambda::sqs_batch;
use std::sync::Arc;
use std::time::Duration;

/// What the media-fetcher needs.
#[derive(Clone)]
pub struct FetcherDeps {
    /// The platforms' media APIs.
    pub source: Arc<dyn MediaSource>,
    /// The object store.
    pub store: Arc<dyn MediaStore>,
    /// The message items' media records.
    pub records: Arc<dyn MediaRecords>,
    /// The media dead-letter queue.
    pub dead_letters: Arc<dyn DeadLetters>,
    /// Backoff of transient failures.
    pub retries: Arc<dyn RetryScheduler>,
    /// Attempts and backoff.
    pub settings: Settings,
    /// Records are started only with at least this much of the invocation left.
    pub start_margin: Duration,
    /// The clock, Unix milliseconds.
    pub now_ms: fn() -> i64,
    /// Profile commands.
    pub profiles: ProfileDeps,
}

/// What a profile command needs.
#[derive(Clone)]
pub struct ProfileDeps {
    /// The platforms' profile APIs.
    pub source: Arc<dyn ProfileSource>,
    /// The conversations' `profile`.
    pub records: Arc<dyn ProfileRecords>,
    /// The inbound FIFO queue, for profile notices.
    pub notices: Arc<dyn ProfileNotices>,
}

/// Attempt limit and backoff.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Settings {
    /// Deliveries of one command before a transient failure dead-letters it.
    pub max_attempts: u32,
    /// Backoff base, seconds.
    pub retry_base_secs: u32,
    /// Backoff cap, seconds.
    pub retry_max_secs: u32,
}

/// Handles a batch and returns the ids of the records to retry.
pub async fn handle_batch(
    deps: &FetcherDeps,
    records: &[SqsMessage],
    time_left: impl Fn() -> Duration,
) -> Vec<String> {
    let retry = sqs_batch::drive(
        records,
        time_left,
        deps.start_margin,
        async |record, id, group| handle_record(deps, record, id, group).await,
    )
    .await;
    for record in &retry {
        schedule_retry(deps, record).await;
    }
    sqs_batch::ids(&retry)
}

/// How many times the queue has delivered this record, this delivery included.
fn receive_count(record: &SqsMessage) -> u32 {
    record
        .attributes
        .get("ApproximateReceiveCount")
        .and_then(|c| c.parse::<u32>().ok())
        .unwrap_or(1)
}

async fn schedule_retry(deps: &FetcherDeps, record: &SqsMessage) {
    let Some(handle) = record.receipt_handle.as_deref() else {
        return;
    };
    let delay = backoff_secs(
        receive_count(record),
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

fn count(metric: &str, channel: &str) {
    emit(
        &[(metric, 1.0, "Count")],
        &[("Channel", channel)],
        &[&["Channel"]],
    );
}

/// Returns false when the record must be retried.
async fn handle_record(deps: &FetcherDeps, record: &SqsMessage, id: &str, group: &str) -> bool {
    let body = record.body.as_deref().unwrap_or_default();
    let command = match MediaCommand::from_body(body) {
        Ok(MediaCommand::Fetch(c)) => c,
        Ok(MediaCommand::Profile(c)) => {
            return handle_profile(deps, record, &c, body, id, group).await;
        }
        Err(e) => {
            let reason = format!(
                "undecodable media fetch command: {}",
                gateway_core::account::describe_json_error(&e)
            );
            return dead_letter(deps, body, id, group, &reason, "unknown").await;
        }
    };
    let channel = command.channel.as_str();
    let outcome = media::fetch_and_record(
        &command,
        deps.source.as_ref(),
        deps.store.as_ref(),
        deps.records.as_ref(),
        (deps.now_ms)(),
    )
    .await;
    match outcome {
        Handled::Recorded(record) => {
            let metric = match &record.state {
                MediaState::Stored { .. } => "MediaStored",
                MediaState::TooLarge { .. } => "MediaTooLarge",
                MediaState::Unavailable { .. } => "MediaUnavailable",
                MediaState::Pending => "MediaPending",
            };
            count(metric, channel);
            tracing::info!(
                sqs.message_id = id,
                channel,
                account = %command.account_id,
                kind = command.kind.as_str(),
                state = record.state.label(),
                "media recorded"
            );
            true
        }
        Handled::Retry { reason } => {
            let attempt = receive_count(record);
            if attempt >= deps.settings.max_attempts {
                let reason =
                    format!("gateway:retries_exhausted after {attempt} attempts: {reason}");
                return dead_letter(deps, body, id, group, &reason, channel).await;
            }
            count("MediaRetried", channel);
            tracing::warn!(
                sqs.message_id = id,
                attempt,
                reason,
                "media fetch will be retried"
            );
            false
        }
        Handled::DeadLetter { reason } => {
            dead_letter(deps, body, id, group, &reason, channel).await
        }
    }
}

/// A profile command: fetch, store, notice (`gateway_core::profile::fetch_and_store`).
async fn handle_profile(
    deps: &FetcherDeps,
    record: &SqsMessage,
    command: &ProfileFetch,
    body: &str,
    id: &str,
    group: &str,
) -> bool {
    let channel = command.channel.as_str();
    let p = &deps.profiles;
    let outcome = profile::fetch_and_store(
        command,
        p.source.as_ref(),
        p.records.as_ref(),
        p.notices.as_ref(),
        (deps.now_ms)(),
    )
    .await;
    match outcome {
        ProfileHandled::Stored { noticed, .. } => {
            count("ProfilesStored", channel);
            tracing::info!(
                sqs.message_id = id,
                channel,
                account = %command.account_id,
                noticed,
                "profile stored"
            );
            true
        }
        ProfileHandled::Newer => true,
        ProfileHandled::Retry { reason } => {
            let attempt = receive_count(record);
            if attempt >= deps.settings.max_attempts {
                let reason =
                    format!("gateway:retries_exhausted after {attempt} attempts: {reason}");
                return dead_letter(deps, body, id, group, &reason, channel).await;
            }
            count("ProfilesRetried", channel);
            tracing::warn!(
                sqs.message_id = id,
                attempt,
                reason,
                "profile fetch will be retried"
            );
            false
        }
        ProfileHandled::DeadLetter { reason } => {
            dead_letter(deps, body, id, group, &reason, channel).await
        }
    }
}

async fn dead_letter(
    deps: &FetcherDeps,
    body: &str,
    id: &str,
    group: &str,
    reason: &str,
    channel: &str,
) -> bool {
    let letter = DeadLetter::record(body, group, id, reason);
    match deps.dead_letters.dead_letter(&letter).await {
        Ok(()) => {
            count("MediaDeadLettered", channel);
            tracing::error!(
                sqs.message_id = id,
                reason,
                "media fetch command dead-lettered"
            );
            true
        }
        Err(e) => {
            tracing::error!(
                sqs.message_id = id,
                reason,
                error.message = %e,
                "could not dead-letter the media fetch command; it will be retried"
            );
            false
        }
    }
}

#[cfg(test)]
mod tests;
