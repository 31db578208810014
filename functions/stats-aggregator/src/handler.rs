//! The aggregator's batch handler. For each stream record, in stream order, it does two
//! things: (1) computes what the record adds to the daily statistics ([`gateway_core::stats`])
//! and applies it, once per record; (2) publishes the record's change events
//! ([`gateway_core::events`]) on the deployment's bus, once per record ([`publish`]).
//!
//! Why here: the table's stream already has its two readers (this function and
//! `sla-monitor`), and DynamoDB throttles more than two readers per shard; so the events come
//! from this second reader rather than from a third function (`docs/events.md`).
//!
//! Statistics count only three kinds of items: conversations (`SK = META`,
//! `entity = conversation`: every insert and modify, old and new image), inbound messages
//! (`SK = MSG#…`, `entity = message`, `direction = in`: inserts only) and delivered replies
//! (`SK = MSG#…`, `entity = message`, `direction = out`: inserts only; an agent's reply counts
//! for that agent). Events also come from delivery records (`REPLY#…`/`DELIVERY`). Everything
//! else (notes, tags, tokens, the rules document, the statistics themselves, the markers,
//! expired messages removed by TTL) is acknowledged without a write.
//!
//! Failure rule: a stream is processed in order, and Lambda retries a batch from the lowest
//! sequence number it is told failed, with everything after it. So the first record that
//! must be retried (a transient failure of either job, or too little time left) ends the
//! batch: it is the one failure reported, and the records after it are not started. On the
//! retry the job already done is skipped by its marker. A record that can never be counted or
//! published (an image that cannot be read, a permanent error) is logged as an error and
//! acknowledged, so that it does not hold up the stream for the day it is kept.

use aws_lambda_events::event::dynamodb::EventRecord;
use aws_lambda_events::streams::{DynamoDbBatchItemFailure, DynamoDbEventResponse};
use gateway_core::NormalizedMessage;
use gateway_core::conversation::Conversation;
use gateway_core::outbound::ReplyCommand;
use gateway_core::ports::{EventPublisher, PublishedChanges, RulesSource, StatsStore};
use gateway_core::rules::RuleSet;
use gateway_core::stats::{self, StatsDelta};
use serde_dynamo::{AttributeValue, Item};
use std::sync::Arc;
use std::time::Duration;

/// Records not started with less than this much time left are handed back for retry.
const SAFETY_MARGIN: Duration = Duration::from_secs(3);

/// What the aggregator needs.
#[derive(Clone)]
pub struct AggregatorDeps {
    /// The daily records.
    pub stats: Arc<dyn StatsStore>,
    /// Rules in force: the accounts' time zones.
    pub rules: Arc<dyn RulesSource>,
    /// The deployment's event bus.
    pub events: Arc<dyn EventPublisher>,
    /// Which changes' events were published.
    pub published: Arc<dyn PublishedChanges>,
}

/// Handles a batch in stream order; returns the sequence number of the first record to retry
/// (Lambda retries it and every later record), `None` when the whole batch is done.
pub async fn handle_batch(
    deps: &AggregatorDeps,
    records: &[EventRecord],
    now_ms: i64,
    time_left: impl Fn() -> Duration,
) -> Option<String> {
    let first = records.first()?;
    let rules = match deps.rules.rules().await {
        Ok(rules) => rules,
        Err(e) => {
            tracing::error!(error.message = %e, "no rules available; the batch will be retried");
            return Some(sequence_number(first));
        }
    };
    for record in records {
        if time_left() < SAFETY_MARGIN {
            tracing::warn!(
                stream.sequence_number = sequence_number(record),
                "too little time left; the rest of the batch will be retried"
            );
            return Some(sequence_number(record));
        }
        if !handle_record(deps, &rules, record, now_ms).await {
            return Some(sequence_number(record));
        }
    }
    None
}

/// The response reporting `retry` (a record's sequence number) for retry.
pub fn response(retry: Option<String>) -> DynamoDbEventResponse {
    let mut response = DynamoDbEventResponse::default();
    if let Some(sequence_number) = retry {
        let mut failure = DynamoDbBatchItemFailure::default();
        failure.item_identifier = Some(sequence_number);
        response.batch_item_failures.push(failure);
    }
    response
}

/// A record's sequence number (the identifier Lambda expects in a batch item failure; a
/// record without one, which the stream never sends, makes Lambda retry the whole batch).
pub(crate) fn sequence_number(record: &EventRecord) -> String {
    record.change.sequence_number.clone().unwrap_or_default()
}

/// Whether a record whose step `what` failed with `e` is done with: a transient failure hands
/// it back to be retried (false); a permanent one is logged and the record given up (true), so
/// that it does not hold up its shard.
pub(crate) fn done_after_failure(
    record: &EventRecord,
    what: &'static str,
    e: &gateway_core::ports::PortError,
) -> bool {
    if e.is_retryable() {
        tracing::warn!(
            stream.event_id = %record.event_id,
            step = what,
            error.message = %e,
            error.cause_chain = ?e,
            "transient failure; the record will be retried"
        );
        false
    } else {
        tracing::error!(
            stream.event_id = %record.event_id,
            stream.sequence_number = sequence_number(record),
            step = what,
            error.message = %e,
            error.cause_chain = ?e,
            "permanent failure; the record is given up"
        );
        true
    }
}

/// Counts the record, then publishes its events; false when the record must be retried.
async fn handle_record(
    deps: &AggregatorDeps,
    rules: &RuleSet,
    record: &EventRecord,
    now_ms: i64,
) -> bool {
    count(deps, rules, record, now_ms).await && publish::publish(deps, record, now_ms).await
}

/// Counts the record's change in the statistics; false when the record must be retried.
async fn count(deps: &AggregatorDeps, rules: &RuleSet, record: &EventRecord, now_ms: i64) -> bool {
    let delta = match delta_of(record, rules) {
        Ok(Some(delta)) => delta,
        Ok(None) => return true,
        Err(reason) => {
            tracing::error!(
                stream.event_id = %record.event_id,
                stream.sequence_number = sequence_number(record),
                reason,
                "stream record not counted"
            );
            return true;
        }
    };
    match deps.stats.apply(&record.event_id, &delta, now_ms).await {
        Ok(applied) => {
            tracing::info!(
                stream.event_id = %record.event_id,
                channel = %delta.channel,
                account = %delta.account_id,
                records = delta.records.len(),
                applied = ?applied,
                "change counted"
            );
            true
        }
        Err(e) => done_after_failure(record, "count the change", &e),
    }
}

/// The increments a stream record carries; `Ok(None)` for the items statistics ignore, an
/// error (a fixed reason, never the item's content) for an image that cannot be read.
fn delta_of(record: &EventRecord, rules: &RuleSet) -> Result<Option<StatsDelta>, &'static str> {
    let (old, new) = (
        image(&record.change.old_image),
        image(&record.change.new_image),
    );
    let Some(item) = new.or(old) else {
        return Ok(None);
    };
    let text = |name: &str| match item.get(name) {
        Some(AttributeValue::S(s)) => Some(s.as_str()),
        _ => None,
    };
    let sk = text("SK").unwrap_or_default();
    match text("entity") {
        Some("conversation") if sk == "META" => {
            let conversation = |image: Option<&Item>| {
                image
                    .map(|i| serde_dynamo::from_item::<_, Conversation>(i.clone()))
                    .transpose()
                    .map_err(|_| "an image of a conversation item is not a conversation")
            };
            let (old, new) = (conversation(old)?, conversation(new)?);
            let Some(account) = new.as_ref().or(old.as_ref()).map(|c| &c.account_id) else {
                return Ok(None);
            };
            let tz = rules.timezone_for_account(account);
            Ok(stats::conversation_delta(old.as_ref(), new.as_ref(), tz))
        }
        Some("message")
            if sk.starts_with("MSG#")
                && text("direction") == Some("in")
                && record.event_name == "INSERT" =>
        {
            let message: NormalizedMessage = item
                .get("message")
                .cloned()
                .map(serde_dynamo::from_attribute_value)
                .ok_or("an inbound message item has no message")?
                .map_err(|_| "an inbound message item does not hold a normalized message")?;
            let tz = rules.timezone_for_account(&message.account_id);
            Ok(Some(stats::message_delta(&message, tz)))
        }
        Some("message")
            if sk.starts_with("MSG#")
                && text("direction") == Some("out")
                && record.event_name == "INSERT" =>
        {
            let reply: ReplyCommand = item
                .get("reply")
                .cloned()
                .map(serde_dynamo::from_attribute_value)
                .ok_or("an outbound message item has no reply")?
                .map_err(|_| "an outbound message item does not hold a reply command")?;
            let sent_at = match item.get("sent_at_ms") {
                Some(AttributeValue::N(n)) => n.parse().unwrap_or(reply.created_at_ms),
                _ => reply.created_at_ms,
            };
            let tz = rules.timezone_for_account(&reply.account_id);
            Ok(stats::reply_delta(&reply, sent_at, text("team"), tz))
        }
        _ => Ok(None),
    }
}

/// An image, `None` when the record has none (an insert's old image, a removal's new one).
pub(crate) fn image(item: &Item) -> Option<&Item> {
    (!item.is_empty()).then_some(item)
}

mod publish;
#[cfg(test)]
mod tests;
