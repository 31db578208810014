//! SQS adapters: the inbound FIFO queue publisher (webhooks) and the dead-letter sink (router).

use crate::error::port_error;
use async_trait::async_trait;
use aws_sdk_sqs::Client;
use aws_sdk_sqs::types::MessageAttributeValue;
use gateway_core::NormalizedMessage;
use gateway_core::ports::{DeadLetterSink, MessagePublisher, PortError};

/// Publishes normalized messages to the inbound SQS FIFO queue.
///
/// Message group = the conversation (ordered per customer, parallel across customers);
/// deduplication id = [`NormalizedMessage::dedupe_id`], so the platform's retries that arrive
/// within SQS's 5-minute deduplication interval are accepted but delivered once. Later
/// duplicates are caught by the router's conditional writes.
#[derive(Clone, Debug)]
pub struct SqsMessagePublisher {
    client: Client,
    queue_url: String,
}

impl SqsMessagePublisher {
    /// Publisher for the queue at `queue_url`.
    pub fn new(client: Client, queue_url: impl Into<String>) -> Self {
        SqsMessagePublisher {
            client,
            queue_url: queue_url.into(),
        }
    }
}

/// A `String` message attribute; none for an empty value, which SQS refuses (and with it
/// the whole message).
fn string_attribute(value: &str) -> Option<MessageAttributeValue> {
    if value.is_empty() {
        return None;
    }
    MessageAttributeValue::builder()
        .data_type("String")
        .string_value(value)
        .build()
        .ok()
}

#[async_trait]
impl MessagePublisher for SqsMessagePublisher {
    async fn publish(&self, message: &NormalizedMessage) -> Result<(), PortError> {
        let body = serde_json::to_string(message)
            .map_err(|e| PortError::permanent("serialize message", e))?;
        self.client
            .send_message()
            .queue_url(&self.queue_url)
            .message_body(body)
            .message_group_id(message.message_group_id())
            .message_deduplication_id(message.dedupe_id())
            .set_message_attributes(Some(
                [
                    ("channel", message.channel.as_str()),
                    ("account", message.account_id.as_str()),
                    ("kind", message.kind()),
                ]
                .into_iter()
                .filter_map(|(k, v)| string_attribute(v).map(|a| (k.to_string(), a)))
                .collect(),
            ))
            .send()
            .await
            .map_err(|e| port_error("sqs send_message", e))?;
        Ok(())
    }
}

/// Moves undecodable records to the (FIFO) dead-letter queue with the reason attached.
#[derive(Clone, Debug)]
pub struct SqsDeadLetterSink {
    client: Client,
    queue_url: String,
}

impl SqsDeadLetterSink {
    /// Sink for the dead-letter queue at `queue_url`.
    pub fn new(client: Client, queue_url: impl Into<String>) -> Self {
        SqsDeadLetterSink {
            client,
            queue_url: queue_url.into(),
        }
    }
}

#[async_trait]
impl DeadLetterSink for SqsDeadLetterSink {
    async fn dead_letter(
        &self,
        body: &str,
        group_id: &str,
        dedupe_id: &str,
        reason: &str,
    ) -> Result<(), PortError> {
        let mut request = self
            .client
            .send_message()
            .queue_url(&self.queue_url)
            .message_body(body)
            .set_message_attributes(
                string_attribute(reason).map(|a| [("reason".to_string(), a)].into()),
            );
        if self.queue_url.ends_with(".fifo") {
            request = request
                .message_group_id(group_id)
                .message_deduplication_id(dedupe_id);
        }
        request
            .send()
            .await
            .map_err(|e| port_error("sqs send_message (dead letter)", e))?;
        Ok(())
    }
}
