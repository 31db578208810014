//! DynamoDB adapter of the memory of published changes (the stats aggregator's events): one
//! marker item per stream record whose events were published.
//!
//! | item                     | PK                     | SK       |
//! |--------------------------|------------------------|----------|
//! | a change's events sent   | `STREAM#{event_id}`    | `EVENTS` |
//!
//! Beside the statistics' marker of the same change (`SK = STATS`). The aggregator reads the
//! marker (consistent read) before publishing and writes it after: a record delivered again
//! once its events are published publishes nothing. Markers expire by TTL after
//! [`MARKER_TTL_SECS`], as the statistics' do: a stream keeps a record for 24 hours.

use crate::dynamodb::attrs::{Item, n, s};
use crate::dynamodb::stats::{MARKER_TTL_SECS, marker_pk};
use crate::error::port_error;
use async_trait::async_trait;
use aws_sdk_dynamodb::Client;
use gateway_core::ports::{PortError, PublishedChanges};

/// Sort key of the marker.
pub const SK: &str = "EVENTS";

/// The markers of published changes in the conversations table.
#[derive(Clone, Debug)]
pub struct DynamoDbPublishedChanges {
    client: Client,
    table: String,
}

impl DynamoDbPublishedChanges {
    /// Markers in `table`.
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        DynamoDbPublishedChanges {
            client,
            table: table.into(),
        }
    }

    fn key(change_id: &str) -> Item {
        [
            ("PK".to_string(), s(marker_pk(change_id))),
            ("SK".to_string(), s(SK)),
        ]
        .into()
    }
}

#[async_trait]
impl PublishedChanges for DynamoDbPublishedChanges {
    async fn is_published(&self, change_id: &str) -> Result<bool, PortError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(Self::key(change_id)))
            .consistent_read(true)
            .projection_expression("PK")
            .send()
            .await
            .map_err(|e| port_error("dynamodb get_item (events marker)", e))?;
        Ok(out.item.is_some())
    }

    async fn mark_published(&self, change_id: &str, now_ms: i64) -> Result<(), PortError> {
        let mut item = Self::key(change_id);
        item.insert("entity".into(), s("events_published"));
        item.insert("expires_at".into(), n(now_ms / 1000 + MARKER_TTL_SECS));
        self.client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .send()
            .await
            .map_err(|e| port_error("dynamodb put_item (events marker)", e))?;
        Ok(())
    }
}
