//! The second job of each stream record: its change events (`gateway_core::events`) on the
//! deployment's bus, once.
//!
//! Three kinds of items have events: conversations (`SK = META`, `entity = conversation`: the
//! `conversation.*` events), inbound messages (`SK = MSG#…`, `entity = message`,
//! `direction = in`, inserts only: `message.received`) and delivery records
//! (`PK = REPLY#…`, `SK = DELIVERY`, `entity = delivery`: `reply.*`). A duplicate inbound
//! message never reaches the stream as a new item (the router's conditional write refuses it),
//! so it has no event.
//!
//! Once per change: the change's marker (`PublishedChanges`) is read first and the events are
//! skipped when it is there; otherwise they are published, then the marker is written. A
//! function that dies (or fails to write the marker) after `PutEvents` publishes the same
//! events again on the retry, with the same ids: receivers deduplicate by `id`.

use super::{AggregatorDeps, done_after_failure, image, sequence_number};
use aws_lambda_events::event::dynamodb::EventRecord;
use gateway_core::NormalizedMessage;
use gateway_core::conversation::Conversation;
use gateway_core::events::{
    DeliveryImage, Event, StreamChange, conversation_events, delivery_events, message_received,
};
use serde_dynamo::{AttributeValue, Item};
use serde_json::Value;

/// Publishes the record's events unless they were; false when the record must be retried.
pub(super) async fn publish(deps: &AggregatorDeps, record: &EventRecord, now_ms: i64) -> bool {
    let events = match events_of(record) {
        Ok(events) if events.is_empty() => return true,
        Ok(events) => events,
        Err(reason) => {
            tracing::error!(
                stream.event_id = %record.event_id,
                stream.sequence_number = sequence_number(record),
                reason,
                "stream record has no events: its image cannot be read"
            );
            return true;
        }
    };
    match deps.published.is_published(&record.event_id).await {
        Ok(true) => {
            tracing::info!(
                stream.event_id = %record.event_id,
                "events of this change already published"
            );
            return true;
        }
        Ok(false) => {}
        Err(e) if e.is_retryable() => {
            tracing::warn!(
                stream.event_id = %record.event_id,
                error.message = %e,
                error.cause_chain = ?e,
                "transient failure reading the events marker; the record will be retried"
            );
            return false;
        }
        // Publishing without knowing risks a duplicate (receivers deduplicate by id), never a
        // loss.
        Err(e) => tracing::warn!(
            stream.event_id = %record.event_id,
            error.message = %e,
            error.cause_chain = ?e,
            "the events marker cannot be read; publishing"
        ),
    }
    if let Err(e) = deps.events.publish(&events).await {
        failed_metric();
        return done_after_failure(record, "publish its events", &e);
    }
    published_metric(events.len());
    for event in &events {
        tracing::info!(
            stream.event_id = %record.event_id,
            event.id = %event.id,
            event.r#type = %event.event_type,
            account = %event.account,
            "event published"
        );
    }
    match deps
        .published
        .mark_published(&record.event_id, now_ms)
        .await
    {
        Ok(()) => true,
        // A retry publishes the same events again, with the same ids.
        Err(e) => done_after_failure(record, "mark its events published", &e),
    }
}

fn published_metric(count: usize) {
    gateway_lambda::metrics::emit(&[("EventsPublished", count as f64, "Count")], &[], &[&[]]);
}

/// `EventsPublishFailed` (no dimensions: the alarm watches it).
fn failed_metric() {
    gateway_lambda::metrics::emit(&[("EventsPublishFailed", 1.0, "Count")], &[], &[&[]]);
}

/// The events of a stream record (none for the items that have none); an error (a fixed
/// reason, never the item's content) for an image that cannot be read.
pub(super) fn events_of(record: &EventRecord) -> Result<Vec<Event>, &'static str> {
    let (old, new) = (
        image(&record.change.old_image),
        image(&record.change.new_image),
    );
    let Some(item) = new.or(old) else {
        return Ok(Vec::new());
    };
    let change = StreamChange {
        event_id: record.event_id.clone(),
        sequence: sequence_number(record),
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
            Ok(conversation_events(&change, old.as_ref(), new.as_ref()))
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
            Ok(vec![message_received(&change, &message)])
        }
        Some("delivery") if sk == "DELIVERY" => {
            let (old, new) = (
                old.map(delivery_image).transpose()?,
                new.map(delivery_image).transpose()?,
            );
            Ok(delivery_events(&change, old.as_ref(), new.as_ref()))
        }
        _ => Ok(Vec::new()),
    }
}

/// One image of a delivery record (`gateway-aws` `dynamodb/deliveries.rs`): its own
/// attributes, and from the command it holds the recipient, the content's type, the agent and
/// the submission time.
fn delivery_image(item: &Item) -> Result<DeliveryImage, &'static str> {
    let value: Value = serde_dynamo::from_item(item.clone())
        .map_err(|_| "an image of a delivery record cannot be read")?;
    let text = |v: &Value, name: &str| v.get(name).and_then(Value::as_str).map(str::to_string);
    let number = |v: &Value, name: &str| v.get(name).and_then(Value::as_i64);
    let command = value.get("command").cloned().unwrap_or(Value::Null);
    Ok(DeliveryImage {
        reply_id: text(&value, "reply_id").ok_or("a delivery record has no reply id")?,
        state: text(&value, "state").ok_or("a delivery record has no state")?,
        channel: value
            .get("channel")
            .cloned()
            .and_then(|c| serde_json::from_value(c).ok())
            .ok_or("a delivery record has no channel")?,
        account: text(&value, "account_id").ok_or("a delivery record has no account")?,
        conversation_key: text(&value, "conversation_key")
            .ok_or("a delivery record has no conversation")?,
        customer_id: text(&command, "recipient_id").unwrap_or_default(),
        origin: text(&value, "origin").unwrap_or_default(),
        agent_id: command.get("origin").and_then(|o| text(o, "agent_id")),
        content_type: command.get("content").and_then(|c| text(c, "type")),
        created_at_ms: number(&command, "created_at_ms"),
        sent_at_ms: number(&value, "sent_at_ms"),
        updated_at_ms: number(&value, "updated_at_ms").unwrap_or_default(),
        reason: text(&value, "reason"),
        error_code: text(&value, "error_code"),
        platform_id: text(&value, "platform_id"),
    })
}
