//! The reply sender's batch handler: decodes each outbound record, runs
//! [`delivery::deliver`], and reports only the records to retry, with exponential backoff.
//!
//! FIFO rule (as the router): once a record of a conversation (message group) must be
//! retried, every later record of that group in the batch is handed back too, so replies to
//! one customer never overtake each other. Undecodable records go to the outbound dead-letter
//! queue as they are; commands the platform refuses for good are dead-lettered by
//! [`delivery::deliver`] with the platform's error code, and commands whose last allowed
//! attempt (`REPLY_MAX_ATTEMPTS`, counted by the record's `ApproximateReceiveCount`) fails
//! transiently by [`delivery::deliver_attempt`] with `gateway:retries_exhausted` and the last
//! failure, before the queue's own redrive (a backstop without a reason) would move them.
//! A template message held for its account's daily quota
//! ([`gateway_core::delivery::template_quota`]) is handed back invisible until the quota
//! resets (at most 12 hours), with a `TemplateQuotaHeld` metric and a log line; the hold is not
//! an attempt.

use aws_lambda_events::event::sqs::SqsMessage;
use gateway_core::delivery::ports::{
    AccessTokens, DeliveryLedger, RetryScheduler, WeChatApi, WeiboApi, backoff_secs,
};
use gateway_core::delivery::template_quota::TemplateQuotas;
use gateway_core::delivery::uploads::{UploadFiles, UploadedIds, Uploads, WeChatMediaApi};
use gateway_core::delivery::window::{ReplyPolicy, UndeliverableReason};
use gateway_core::delivery::{self, DeliveryOutcome, Sender};
use gateway_core::outbound::{ReplyCommand, ReplyOrigin};
use gateway_core::ports::{AccountDirectory, ConversationStore, DeadLetter, DeadLetters};
use gateway_lambda::sqs_batch;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

/// What the reply sender needs.
#[derive(Clone)]
pub struct ReplySenderDeps {
    /// Accounts document.
    pub accounts: Arc<dyn AccountDirectory>,
    /// Conversations.
    pub conversations: Arc<dyn ConversationStore>,
    /// Delivery records.
    pub ledger: Arc<dyn DeliveryLedger>,
    /// Template messages' daily quota per account.
    pub quotas: Arc<dyn TemplateQuotas>,
    /// WeChat access tokens.
    pub tokens: Arc<dyn AccessTokens>,
    /// WeChat API.
    pub wechat: Arc<dyn WeChatApi>,
    /// Weibo API.
    pub weibo: Arc<dyn WeiboApi>,
    /// WeChat's temporary media upload API (replies naming an agent's file).
    pub wechat_media: Arc<dyn WeChatMediaApi>,
    /// The agents' files (the media bucket's `uploads/`).
    pub upload_files: Arc<dyn UploadFiles>,
    /// The media ids those files were uploaded as, per account.
    pub uploaded_ids: Arc<dyn UploadedIds>,
    /// Outbound dead-letter queue (undeliverable commands with their error code; undecodable
    /// records as received).
    pub dead_letters: Arc<dyn DeadLetters>,
    /// Backoff of transient failures.
    pub retries: Arc<dyn RetryScheduler>,
    /// Windows, claim timeout, backoff and attempt limit.
    pub settings: Settings,
    /// Records are started only with at least this much of the invocation left:
    /// `config::worst_case_record` plus slack.
    pub start_margin: Duration,
}

/// The delivery settings the handler applies (`crate::config::Config::delivery`).
#[derive(Debug, Clone, PartialEq)]
pub struct Settings {
    /// Reply windows and quotas.
    pub policy: ReplyPolicy,
    /// A `calling` record younger than this may still be in flight.
    pub claim_timeout: Duration,
    /// Backoff base, seconds.
    pub retry_base_secs: u32,
    /// Backoff cap, seconds.
    pub retry_max_secs: u32,
    /// Deliveries of one command before a transient failure dead-letters it.
    pub max_attempts: u32,
}

/// A random id of this function instance: the owner of the token leases it takes.
pub fn instance_id() -> String {
    let random = gateway_core::channel::wechat::crypto::random_prefix();
    let hex: String = random.iter().map(|b| format!("{b:02x}")).collect();
    format!("reply-sender-{hex}")
}

/// Handles a batch in order and returns the ids of the records to retry.
pub async fn handle_batch(
    deps: &ReplySenderDeps,
    records: &[SqsMessage],
    time_left: impl Fn() -> Duration,
) -> Vec<String> {
    let now = gateway_lambda::now_ms;
    let claim_timeout_ms =
        i64::try_from(deps.settings.claim_timeout.as_millis()).unwrap_or(i64::MAX);
    let sender = Sender {
        accounts: deps.accounts.as_ref(),
        conversations: deps.conversations.as_ref(),
        ledger: deps.ledger.as_ref(),
        quotas: deps.quotas.as_ref(),
        tokens: deps.tokens.as_ref(),
        wechat: deps.wechat.as_ref(),
        weibo: deps.weibo.as_ref(),
        dead_letters: deps.dead_letters.as_ref(),
        uploads: Uploads {
            files: deps.upload_files.as_ref(),
            ids: deps.uploaded_ids.as_ref(),
            wechat: deps.wechat_media.as_ref(),
        },
        policy: &deps.settings.policy,
        claim_timeout_ms,
        now: &now,
    };
    // Records whose retry is useless before a known time (an earlier attempt's claim).
    let mut not_before: HashMap<String, Duration> = HashMap::new();
    let retry = sqs_batch::drive(
        records,
        time_left,
        deps.start_margin,
        async |record, id, group| match handle_record(deps, &sender, record, id, group).await {
            Handled::Done => true,
            Handled::Retry(hint) => {
                if let Some(hint) = hint {
                    not_before.insert(id.to_string(), hint);
                }
                false
            }
        },
    )
    .await;
    for record in &retry {
        let hint = record
            .message_id
            .as_deref()
            .and_then(|id| not_before.get(id).copied());
        schedule_retry(deps, record, hint).await;
    }
    sqs_batch::ids(&retry)
}

/// What became of one record.
enum Handled {
    /// Acknowledge it (delivered, settled, dead-lettered).
    Done,
    /// Hand it back; when known, not worth retrying before this much time.
    Retry(Option<Duration>),
}

/// The visibility delay of a record handed back for its `receive_count`th time: the backoff,
/// or the time until its outcome can settle when that is later (so that an unsettled reply
/// spends one receive waiting, not one per backoff step, and the queue's redrive, which counts
/// receives, does not move it before its claim runs out). SQS caps a visibility timeout at
/// 12 hours.
pub fn retry_delay_secs(
    receive_count: u32,
    base_secs: u32,
    max_secs: u32,
    not_before: Option<Duration>,
) -> u32 {
    const SQS_MAX_VISIBILITY_SECS: u64 = 12 * 3600;
    let backoff = backoff_secs(receive_count, base_secs, max_secs);
    let settle = not_before.map_or(0, |d| {
        // Rounded up: a retry a fraction of a second early would find the claim still held.
        let secs = d.as_secs() + u64::from(d.subsec_nanos() > 0);
        u32::try_from(secs.min(SQS_MAX_VISIBILITY_SECS)).unwrap_or(u32::MAX)
    });
    backoff.max(settle)
}

/// How many times the queue has delivered this record, this delivery included.
fn receive_count(record: &SqsMessage) -> u32 {
    record
        .attributes
        .get("ApproximateReceiveCount")
        .and_then(|c| c.parse::<u32>().ok())
        .unwrap_or(1)
}

async fn schedule_retry(deps: &ReplySenderDeps, record: &SqsMessage, not_before: Option<Duration>) {
    let Some(handle) = record.receipt_handle.as_deref() else {
        return;
    };
    let count = receive_count(record);
    let delay = retry_delay_secs(
        count,
        deps.settings.retry_base_secs,
        deps.settings.retry_max_secs,
        not_before,
    );
    if delay == 0 {
        return;
    }
    if let Err(e) = deps.retries.retry_after(handle, delay).await {
        // The queue's visibility timeout applies instead.
        tracing::warn!(error.message = %e, "could not set the retry backoff");
    }
}

async fn handle_record(
    deps: &ReplySenderDeps,
    sender: &Sender<'_>,
    record: &SqsMessage,
    id: &str,
    group: &str,
) -> Handled {
    let body = record.body.as_deref().unwrap_or_default();
    let command: ReplyCommand = match serde_json::from_str(body) {
        Ok(c) => c,
        Err(e) => {
            let reason = format!(
                "undecodable reply command: {}",
                gateway_core::account::describe_json_error(&e)
            );
            let letter = DeadLetter::record(body, group, id, &reason);
            return match deps.dead_letters.dead_letter(&letter).await {
                Ok(()) => {
                    tracing::error!(
                        sqs.message_id = id,
                        reason,
                        "record moved to the dead-letter queue"
                    );
                    emit(
                        &[("ReplyCommandsUndecodable", 1.0)],
                        "unknown",
                        "unknown",
                        &[],
                    );
                    Handled::Done
                }
                Err(e) => {
                    tracing::error!(sqs.message_id = id, error.message = %e, "could not dead-letter the record; it will be retried");
                    Handled::Retry(None)
                }
            };
        }
    };
    let origin = command.origin.kind();
    let reply_id = command.dedupe_id();
    let attempt = delivery::Attempt {
        number: receive_count(record),
        limit: deps.settings.max_attempts,
    };
    match delivery::deliver_attempt(sender, &command, attempt).await {
        Ok(outcome) => {
            report(&command, origin, &reply_id, &outcome);
            Handled::Done
        }
        Err(delivery::DeliveryError::Held {
            why,
            retry_at_ms,
            delay,
            holds,
        }) => {
            tracing::warn!(
                sqs.message_id = id,
                reply_id,
                channel = %command.channel,
                account = %command.account_id,
                reason = gateway_core::delivery::template_quota::HELD_REASON,
                why,
                retry_at_ms,
                holds,
                "template message held until the account's daily template quota resets"
            );
            emit(
                &[("TemplateQuotaHeld", 1.0)],
                command.channel.as_str(),
                &command.account_id,
                &[],
            );
            Handled::Retry(Some(delay))
        }
        Err(e) if e.is_retryable() => {
            tracing::warn!(
                sqs.message_id = id,
                reply_id,
                channel = %command.channel,
                account = %command.account_id,
                error.message = %e,
                "reply not delivered yet; it will be retried with backoff"
            );
            emit(
                &[("ReplyRetries", 1.0)],
                command.channel.as_str(),
                &command.account_id,
                &[],
            );
            Handled::Retry(e.retry_not_before())
        }
        Err(e) => {
            // Only a failure to dead-letter the command itself gets here (the core retries
            // every other AWS refusal up to the attempt limit): hand the record back, and the
            // queue's own redrive is the last resort.
            tracing::error!(
                sqs.message_id = id,
                reply_id,
                error.message = %e,
                "the command could not be dead-lettered; it will be retried"
            );
            Handled::Retry(None)
        }
    }
}

fn report(command: &ReplyCommand, origin: &str, reply_id: &str, outcome: &DeliveryOutcome) {
    let channel = command.channel.as_str();
    let account = command.account_id.as_str();
    match outcome {
        DeliveryOutcome::Delivered {
            window,
            first_response_ms,
            answered_waiting,
        } => {
            // The dashboard's contact-centre figures: a person's first response time, the
            // rules' reply latency, and the router's UnansweredConversations (+1 when a
            // customer starts waiting) brought back down by an answer.
            let latency = (gateway_lambda::now_ms() - command.created_at_ms).max(0) as f64;
            let dimensions: &[(&str, &str)] = &[("Channel", channel), ("Account", account)];
            let sets: &[&[&str]] = &[&["Channel"], &["Channel", "Account"]];
            if let Some(ms) = first_response_ms {
                let figure = ("FirstResponseTime", *ms as f64, "Milliseconds");
                gateway_lambda::metrics::emit(&[figure], dimensions, sets);
            }
            if let ReplyOrigin::Rule { .. } = command.origin {
                // From the customer's message to the rule's reply reaching them.
                let figure = ("AutoReplyLatency", latency, "Milliseconds");
                gateway_lambda::metrics::emit(&[figure], dimensions, sets);
            }
            if *answered_waiting {
                emit(&[("UnansweredConversations", -1.0)], channel, account, &[]);
            }
            tracing::info!(
                reply_id,
                channel,
                account,
                origin,
                kind = command.content.kind(),
                window = window.map_or("none", |w| w.as_str()),
                "reply delivered"
            );
            emit(
                &[
                    ("RepliesDelivered", 1.0),
                    ("ReplyDeliveryLatencyMs", latency),
                ],
                channel,
                account,
                &[("Origin", origin)],
            );
        }
        DeliveryOutcome::AlreadyHandled(state) => {
            tracing::info!(
                reply_id,
                channel,
                account,
                state = state.as_str(),
                "duplicate reply command; already handled"
            );
            emit(&[("ReplyDuplicates", 1.0)], channel, account, &[]);
        }
        DeliveryOutcome::Undeliverable {
            reason,
            platform_code,
        } => {
            tracing::warn!(
                reply_id,
                channel,
                account,
                origin,
                conversation = %command.conversation_key,
                reason = reason.as_str(),
                platform_code = platform_code.as_deref().unwrap_or(""),
                "reply undeliverable; marked on the conversation"
            );
            emit(
                &[("RepliesUndeliverable", 1.0)],
                channel,
                account,
                &[("Reason", reason.as_str())],
            );
            if *reason == UndeliverableReason::DeliveryUncertain {
                // Needs a person (was it sent?): an aggregate the alarm watches.
                gateway_lambda::metrics::emit(
                    &[("DeliveryUncertain", 1.0, "Count")],
                    &[("Channel", channel), ("Account", account)],
                    &[&[], &["Channel", "Account"]],
                );
            }
        }
        DeliveryOutcome::SkippedPassive => {
            tracing::info!(
                reply_id,
                channel,
                account,
                "auto-reply for a passive-mode account; answered by the webhook, not sent"
            );
            emit(&[("AutoRepliesSkippedPassive", 1.0)], channel, account, &[]);
        }
        DeliveryOutcome::Superseded => {
            tracing::info!(
                reply_id,
                channel,
                account,
                "auto-reply not in the committed decision for its message (the router re-evaluated after a conflict); not sent"
            );
            emit(&[("AutoRepliesSuperseded", 1.0)], channel, account, &[]);
        }
        DeliveryOutcome::DeadLettered { code } => {
            if code == delivery::RETRIES_EXHAUSTED {
                tracing::error!(
                    reply_id,
                    channel,
                    account,
                    origin,
                    error.code = %code,
                    "reply not delivered within the attempt limit; command moved to the outbound dead-letter queue"
                );
            } else {
                tracing::error!(
                    reply_id,
                    channel,
                    account,
                    origin,
                    error.code = %code,
                    "reply refused for good; command moved to the outbound dead-letter queue"
                );
            }
            emit(
                &[("RepliesDeadLettered", 1.0)],
                channel,
                account,
                &[("Code", code.as_str())],
            );
        }
    }
}

/// EMF line: metrics by Channel and by Channel+Account, plus one extra dimension when given.
fn emit(metrics: &[(&str, f64)], channel: &str, account: &str, extra: &[(&str, &str)]) {
    let metrics: Vec<(&str, f64, &str)> = metrics
        .iter()
        .map(|(name, v)| {
            (
                *name,
                *v,
                if name.ends_with("Ms") {
                    "Milliseconds"
                } else {
                    "Count"
                },
            )
        })
        .collect();
    let mut dims = vec![("Channel", channel), ("Account", account)];
    dims.extend_from_slice(extra);
    let extra_set: Vec<&str> = std::iter::once("Channel")
        .chain(extra.iter().map(|(k, _)| *k))
        .collect();
    let mut sets: Vec<&[&str]> = vec![&["Channel"], &["Channel", "Account"]];
    if !extra.is_empty() {
        sets.push(&extra_set);
    }
    gateway_lambda::metrics::emit(&metrics, &dims, &sets);
}

#[cfg(test)]
mod tests;
