//! DynamoDB adapter of the reply API's request records (one per reply id).
//!
//! | item           | PK                   | SK        |
//! |----------------|----------------------|-----------|
//! | request record | `APIREQ#{reply_id}`  | `REQUEST` |
//!
//! Written once with `attribute_not_exists(PK)`; a second request with the same reply id reads
//! the first back (`ReturnValuesOnConditionCheckFailure = ALL_OLD`, no extra read). Records
//! expire with the delivery records.

use crate::DynamoDbConversationStore;
use crate::dynamodb::attrs::{Item, number, text};
use crate::error::port_error;
use async_trait::async_trait;
use aws_sdk_dynamodb::operation::put_item::PutItemError;
use aws_sdk_dynamodb::types::{AttributeValue, ReturnValuesOnConditionCheckFailure};
use gateway_core::delivery::ports::{ApiRequestLedger, ApiRequestRecord};
use gateway_core::ports::PortError;

const SK: &str = "REQUEST";

/// Partition key of a reply's request record.
pub fn api_request_pk(reply_id: &str) -> String {
    format!("APIREQ#{reply_id}")
}

/// The request records over the conversations table.
#[derive(Clone, Debug)]
pub struct DynamoDbApiRequests {
    store: DynamoDbConversationStore,
    record_ttl_secs: i64,
}

impl DynamoDbApiRequests {
    /// Records over `store`'s table, expiring `record_ttl_secs` after they were written.
    pub fn new(store: DynamoDbConversationStore, record_ttl_secs: i64) -> Self {
        DynamoDbApiRequests {
            store,
            record_ttl_secs,
        }
    }

    fn key(reply_id: &str) -> Item {
        [
            (
                "PK".to_string(),
                AttributeValue::S(api_request_pk(reply_id)),
            ),
            ("SK".to_string(), AttributeValue::S(SK.into())),
        ]
        .into()
    }
}

fn item_of(record: &ApiRequestRecord, ttl_secs: i64) -> Item {
    let mut item = DynamoDbApiRequests::key(&record.reply_id);
    let s = |v: &str| AttributeValue::S(v.to_string());
    item.insert("entity".into(), s("api_request"));
    item.insert("reply_id".into(), s(&record.reply_id));
    item.insert("client_id".into(), s(&record.client_id));
    item.insert("request_digest".into(), s(&record.request_digest));
    item.insert("conversation_key".into(), s(&record.conversation_key));
    item.insert(
        "created_at_ms".into(),
        AttributeValue::N(record.created_at_ms.to_string()),
    );
    item.insert(
        "expires_at".into(),
        AttributeValue::N((record.created_at_ms / 1000 + ttl_secs).to_string()),
    );
    item
}

fn record_of(item: &Item) -> Result<ApiRequestRecord, PortError> {
    let text = |name: &str| {
        text(item, name)
            .ok_or_else(|| PortError::permanent("read api request", format!("no `{name}`")))
    };
    let created_at_ms = number(item, "created_at_ms")
        .ok_or_else(|| PortError::permanent("read api request", "no `created_at_ms`"))?;
    Ok(ApiRequestRecord {
        reply_id: text("reply_id")?,
        client_id: text("client_id")?,
        request_digest: text("request_digest")?,
        conversation_key: text("conversation_key")?,
        created_at_ms,
    })
}

#[async_trait]
impl ApiRequestLedger for DynamoDbApiRequests {
    async fn record_once(
        &self,
        record: &ApiRequestRecord,
    ) -> Result<Option<ApiRequestRecord>, PortError> {
        let result = self
            .store
            .client
            .put_item()
            .table_name(&self.store.table)
            .set_item(Some(item_of(record, self.record_ttl_secs)))
            .condition_expression("attribute_not_exists(PK)")
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .send()
            .await;
        match result {
            Ok(_) => Ok(None),
            Err(e) => match e.as_service_error() {
                Some(PutItemError::ConditionalCheckFailedException(c)) => match c.item() {
                    Some(existing) => record_of(existing).map(Some),
                    // An emulator that does not return the item: read it.
                    None => self.get_request(&record.reply_id).await,
                },
                _ => Err(port_error("dynamodb put_item (api request)", e)),
            },
        }
    }

    async fn get_request(&self, reply_id: &str) -> Result<Option<ApiRequestRecord>, PortError> {
        let out = self
            .store
            .client
            .get_item()
            .table_name(&self.store.table)
            .set_key(Some(Self::key(reply_id)))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| port_error("dynamodb get_item (api request)", e))?;
        out.item.as_ref().map(record_of).transpose()
    }
}
