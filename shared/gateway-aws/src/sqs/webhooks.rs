//! The webhook queue (standard SQS): `webhook-sender`'s fan-out of an event to several API
//! clients, one delivery message per client, so that each client's retries and dead letter
//! are its own. The client's id is also a message attribute (`webhook_client`), for reading a
//! queue or its dead letters without decoding bodies.

use super::string_attributes;
use async_trait::async_trait;
use aws_sdk_sqs::Client;
use aws_sdk_sqs::types::SendMessageBatchRequestEntry;
use gateway_core::ports::PortError;
use gateway_core::webhook_target::{DeliveryMessage, WebhookFanOut};

/// SQS's most entries per `SendMessageBatch`.
const MAX_BATCH: usize = 10;

/// Queues delivery messages on the webhook queue.
#[derive(Clone, Debug)]
pub struct SqsWebhookFanOut {
    client: Client,
    queue_url: String,
}

impl SqsWebhookFanOut {
    /// Queue at `queue_url`.
    pub fn new(client: Client, queue_url: impl Into<String>) -> Self {
        SqsWebhookFanOut {
            client,
            queue_url: queue_url.into(),
        }
    }
}

#[async_trait]
impl WebhookFanOut for SqsWebhookFanOut {
    async fn fan_out(&self, messages: &[DeliveryMessage]) -> Result<(), PortError> {
        for chunk in messages.chunks(MAX_BATCH) {
            let mut entries = Vec::with_capacity(chunk.len());
            for (i, message) in chunk.iter().enumerate() {
                let entry = SendMessageBatchRequestEntry::builder()
                    .id(i.to_string())
                    .message_body(message.to_json())
                    .set_message_attributes(Some(string_attributes(&[(
                        "webhook_client",
                        message.webhook_client.as_str(),
                    )])))
                    .build()
                    .map_err(|e| PortError::permanent("sqs send_message_batch (webhooks)", e))?;
                entries.push(entry);
            }
            super::send_batch(
                &self.client,
                &self.queue_url,
                entries,
                "sqs send_message_batch (webhooks)",
            )
            .await?;
        }
        Ok(())
    }
}
