//! The media records of inbound messages: the `media` map of a thread item, one entry per
//! object kind (`image`, `voice`, `video`, `thumb`), each a [`MediaRecord`] (`docs/media.md`).
//!
//! The router writes every entry as `pending` in the thread item it puts (no extra write);
//! the media-fetcher replaces an entry with its outcome by one `UpdateItem` of that entry only,
//! conditional on the item being there, so a record never creates a message item.

use crate::dynamodb::attrs::{Item, s};
use crate::dynamodb::conversations::{conversation_pk, thread_sk};
use crate::error::port_error;
use async_trait::async_trait;
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::types::AttributeValue;
use gateway_core::NormalizedMessage;
use gateway_core::media::{MediaFetch, MediaRecord, MediaRecords, RecordOutcome, fetch_commands};
use gateway_core::ports::PortError;
use std::collections::HashMap;

/// The thread item's attribute holding the media map.
pub const MEDIA: &str = "media";

/// The `media` map of a new thread item: every object of `m` as `pending`; `None` for a
/// message without media.
pub(crate) fn pending_media(
    m: &NormalizedMessage,
    seq: u64,
) -> Result<Option<AttributeValue>, PortError> {
    let commands = fetch_commands(m, seq);
    if commands.is_empty() {
        return Ok(None);
    }
    let mut map = HashMap::new();
    for command in &commands {
        map.insert(
            command.kind.as_str().to_string(),
            record_value(&command.pending_record(m.received_at_ms))?,
        );
    }
    Ok(Some(AttributeValue::M(map)))
}

fn record_value(record: &MediaRecord) -> Result<AttributeValue, PortError> {
    serde_dynamo::to_attribute_value(record)
        .map_err(|e| PortError::permanent("serialize media record", e))
}

/// The records of a thread item's `media` map, by kind; entries that do not read as records
/// are left out.
pub fn read_media(item: &Item) -> Vec<MediaRecord> {
    let Some(AttributeValue::M(map)) = item.get(MEDIA) else {
        return Vec::new();
    };
    let mut records: Vec<MediaRecord> = map
        .values()
        .filter_map(|v| serde_dynamo::from_attribute_value(v.clone()).ok())
        .collect();
    records.sort_by_key(|r| r.kind);
    records
}

/// Records media outcomes on thread items.
#[derive(Clone, Debug)]
pub struct DynamoDbMediaRecords {
    client: Client,
    table: String,
}

impl DynamoDbMediaRecords {
    /// Records over `table`.
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        DynamoDbMediaRecords {
            client,
            table: table.into(),
        }
    }

    fn key(command: &MediaFetch) -> HashMap<String, AttributeValue> {
        HashMap::from([
            (
                "PK".to_string(),
                s(conversation_pk(&command.conversation_key)),
            ),
            (
                "SK".to_string(),
                s(thread_sk(command.thread_seq, &command.message_id)),
            ),
        ])
    }

    /// `SET media.#kind = :record` if the item has a media map; `Ok(false)` when the
    /// condition failed.
    async fn set_entry(
        &self,
        command: &MediaFetch,
        value: AttributeValue,
    ) -> Result<bool, PortError> {
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(Self::key(command)))
            .update_expression("SET #media.#kind = :record")
            .condition_expression("attribute_exists(#media)")
            .expression_attribute_names("#media", MEDIA)
            .expression_attribute_names("#kind", command.kind.as_str())
            .expression_attribute_values(":record", value)
            .send()
            .await;
        match result {
            Ok(_) => Ok(true),
            Err(e)
                if e.as_service_error()
                    .is_some_and(|se| se.is_conditional_check_failed_exception()) =>
            {
                Ok(false)
            }
            Err(e) => Err(port_error("dynamodb update_item (media record)", e)),
        }
    }

    /// `SET media = {kind: record}` on an item that exists without a media map (a message
    /// stored before media were fetched); `Ok(false)` when the condition failed.
    async fn set_map(
        &self,
        command: &MediaFetch,
        value: AttributeValue,
    ) -> Result<bool, PortError> {
        let map = AttributeValue::M(HashMap::from([(command.kind.as_str().to_string(), value)]));
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(Self::key(command)))
            .update_expression("SET #media = :map")
            .condition_expression("attribute_exists(PK) AND attribute_not_exists(#media)")
            .expression_attribute_names("#media", MEDIA)
            .expression_attribute_values(":map", map)
            .send()
            .await;
        match result {
            Ok(_) => Ok(true),
            Err(e)
                if e.as_service_error()
                    .is_some_and(|se| se.is_conditional_check_failed_exception()) =>
            {
                Ok(false)
            }
            Err(e) => Err(port_error("dynamodb update_item (media map)", e)),
        }
    }
}

#[async_trait]
impl MediaRecords for DynamoDbMediaRecords {
    /// One `UpdateItem` when the item is there (the usual case); when it is not, a second try
    /// for an item without a media map. An item not there is `NotStored`, retried: the
    /// router may not have committed it yet, and a marker alone proves nothing (the local
    /// emulator applies a transaction's items one by one, so a reader can see the message's
    /// dedupe marker before its thread item). A command of a routing attempt that lost a
    /// conflict (a place the message does not hold) is so dead-lettered, with the reason,
    /// after its last attempt; the committed attempt's own command records the outcome.
    async fn record(
        &self,
        command: &MediaFetch,
        record: &MediaRecord,
    ) -> Result<RecordOutcome, PortError> {
        let value = record_value(record)?;
        if self.set_entry(command, value.clone()).await? {
            return Ok(RecordOutcome::Recorded);
        }
        if self.set_map(command, value.clone()).await? {
            return Ok(RecordOutcome::Recorded);
        }
        // Neither condition held: the map may have appeared between the two calls.
        if self.set_entry(command, value).await? {
            return Ok(RecordOutcome::Recorded);
        }
        Ok(RecordOutcome::NotStored)
    }
}
