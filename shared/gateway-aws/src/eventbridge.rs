//! The deployment's event bus (EventBridge): the change events of `gateway_core::events`, one
//! `PutEvents` entry each, `Source = channel-gateway`, `DetailType` = the event's type,
//! `Detail` = the event's JSON (`docs/events.md`).
//!
//! Entries go in order, at most [`MAX_ENTRIES_PER_CALL`] per call (the `PutEvents` limit). A
//! call in which the bus refused any entry (`FailedEntryCount > 0`) fails the whole publish as
//! transient, with the first refusal's code: publishing the events again is safe, since
//! receivers deduplicate by event id
//! (<https://docs.aws.amazon.com/eventbridge/latest/APIReference/API_PutEvents.html>).

use crate::error::port_error;
use async_trait::async_trait;
use aws_sdk_eventbridge::Client;
use aws_sdk_eventbridge::types::PutEventsRequestEntry;
use gateway_core::events::{EVENT_SOURCE, Event, MAX_EVENT_BYTES};
use gateway_core::ports::{EventPublisher, PortError};

/// Most entries in one `PutEvents` call.
pub const MAX_ENTRIES_PER_CALL: usize = 10;

/// Publishes events to the bus `bus_name`.
#[derive(Clone, Debug)]
pub struct EventBridgePublisher {
    client: Client,
    bus_name: String,
}

impl EventBridgePublisher {
    /// Events on the bus `bus_name` (its name or ARN).
    pub fn new(client: Client, bus_name: impl Into<String>) -> Self {
        EventBridgePublisher {
            client,
            bus_name: bus_name.into(),
        }
    }

    fn entry(&self, event: &Event) -> Result<PutEventsRequestEntry, PortError> {
        let detail = event.to_json();
        if detail.len() > MAX_EVENT_BYTES {
            // The core cuts texts so that this never happens; refuse rather than let the bus
            // refuse the entry on every retry.
            return Err(PortError::permanent(
                "put events",
                format!(
                    "event {} of type {} is {} bytes, over {MAX_EVENT_BYTES}",
                    event.id,
                    event.event_type,
                    detail.len()
                ),
            ));
        }
        Ok(PutEventsRequestEntry::builder()
            .event_bus_name(&self.bus_name)
            .source(EVENT_SOURCE)
            .detail_type(event.event_type.as_str())
            .detail(detail)
            .build())
    }
}

#[async_trait]
impl EventPublisher for EventBridgePublisher {
    async fn publish(&self, events: &[Event]) -> Result<(), PortError> {
        for chunk in events.chunks(MAX_ENTRIES_PER_CALL) {
            let entries = chunk
                .iter()
                .map(|e| self.entry(e))
                .collect::<Result<Vec<_>, _>>()?;
            let out = self
                .client
                .put_events()
                .set_entries(Some(entries))
                .send()
                .await
                .map_err(|e| port_error("eventbridge put_events", e))?;
            if out.failed_entry_count() > 0 {
                let first = out
                    .entries()
                    .iter()
                    .find(|e| e.error_code().is_some())
                    .map(|e| {
                        format!(
                            "{}: {}",
                            e.error_code().unwrap_or_default(),
                            e.error_message().unwrap_or_default()
                        )
                    })
                    .unwrap_or_default();
                return Err(PortError::transient(
                    "eventbridge put_events",
                    format!(
                        "the bus refused {} of {} entries (first: {first})",
                        out.failed_entry_count(),
                        chunk.len()
                    ),
                ));
            }
        }
        Ok(())
    }
}
