//! The DynamoDB Streams batch helpers shared by the table's stream consumers: which records
//! are conversation changes, their images as conversations, and the partial-failure response
//! (the event source mapping must have `ReportBatchItemFailures`: a failed record is retried,
//! with the records after it on its shard).

use aws_lambda_events::event::dynamodb::EventRecord;
use aws_lambda_events::event::streams::{DynamoDbBatchItemFailure, DynamoDbEventResponse};
use gateway_core::conversation::Conversation;

/// A conversation item as it was before and after one write.
#[derive(Debug, Clone, PartialEq)]
pub struct ConversationChange {
    /// Before (none when the write created it).
    pub old: Option<Conversation>,
    /// After (none when the write deleted it).
    pub new: Option<Conversation>,
}

/// The stream record's id for a retry: its sequence number.
pub fn sequence_number(record: &EventRecord) -> String {
    record.change.sequence_number.clone().unwrap_or_default()
}

fn is_conversation(record: &EventRecord) -> bool {
    let key = |name: &str| match record.change.keys.get(name) {
        Some(serde_dynamo::AttributeValue::S(v)) => Some(v.as_str()),
        _ => None,
    };
    key("SK") == Some("META") && key("PK").is_some_and(|pk| pk.starts_with("CONV#"))
}

/// The conversation change of `record`; `None` for any other item (messages, tags, delivery
/// records…); an error for an image that is not a conversation.
pub fn conversation_change(record: &EventRecord) -> Option<Result<ConversationChange, String>> {
    if !is_conversation(record) {
        return None;
    }
    let image = |item: &serde_dynamo::Item| -> Result<Option<Conversation>, String> {
        if item.is_empty() {
            return Ok(None);
        }
        serde_dynamo::from_item(item.clone())
            .map(Some)
            .map_err(|e| format!("conversation image: {e}"))
    };
    Some((|| {
        Ok(ConversationChange {
            old: image(&record.change.old_image)?,
            new: image(&record.change.new_image)?,
        })
    })())
}

/// The response reporting `failures` (sequence numbers) for retry.
pub fn response(failures: impl IntoIterator<Item = String>) -> DynamoDbEventResponse {
    let mut response = DynamoDbEventResponse::default();
    for id in failures {
        let mut failure = DynamoDbBatchItemFailure::default();
        failure.item_identifier = Some(id);
        response.batch_item_failures.push(failure);
    }
    response
}
