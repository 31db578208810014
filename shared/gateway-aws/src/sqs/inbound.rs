//! The inbound FIFO queue publisher (webhooks).

use super::string_attributes;
use crate::error::port_error;
use async_trait::async_trait;
use aws_sdk_sqs::Client;
use gateway_core::NormalizedMessage;
use gateway_core::ports::{MessagePublisher, PortError};

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
            .set_message_attributes(Some(string_attributes(&[
                ("channel", message.channel.as_str()),
                ("account", message.account_id.as_str()),
                ("kind", message.kind()),
            ])))
            .send()
            .await
            .map_err(|e| port_error("sqs send_message", e))?;
        Ok(())
    }
}
