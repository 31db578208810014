//! The inbound FIFO queue publisher (webhooks one message at a time, `weibo-poller` in
//! batches).

use super::{send_batch, string_attributes};
use crate::error::port_error;
use async_trait::async_trait;
use aws_sdk_sqs::Client;
use aws_sdk_sqs::types::SendMessageBatchRequestEntry;
use gateway_core::NormalizedMessage;
use gateway_core::listening::MessageBatchPublisher;
use gateway_core::ports::{MessagePublisher, PortError};

/// SQS's most entries per `SendMessageBatch`.
pub const MAX_BATCH_ENTRIES: usize = 10;
/// The bodies of one `SendMessageBatch` (SQS allows 256 KiB for the whole request, attributes
/// included): a batch is closed before its bodies pass this.
pub const MAX_BATCH_BODY_BYTES: usize = 200 * 1024;

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

/// The messages' bodies in batches of at most [`MAX_BATCH_ENTRIES`] and
/// [`MAX_BATCH_BODY_BYTES`] (a single larger body goes alone, and SQS judges it).
pub fn batches(bodies: &[String]) -> Vec<std::ops::Range<usize>> {
    let mut out = Vec::new();
    let (mut start, mut bytes) = (0, 0);
    for (i, body) in bodies.iter().enumerate() {
        let full = i - start == MAX_BATCH_ENTRIES || bytes + body.len() > MAX_BATCH_BODY_BYTES;
        if i > start && full {
            out.push(start..i);
            (start, bytes) = (i, 0);
        }
        bytes += body.len();
    }
    if start < bodies.len() {
        out.push(start..bodies.len());
    }
    out
}

#[async_trait]
impl MessageBatchPublisher for SqsMessagePublisher {
    /// `SendMessageBatch` calls with the webhooks' group, deduplication id and attributes.
    /// Entries are refused one by one: any refusal fails the call, and queueing the same
    /// messages again stores each once (FIFO deduplication, then the router's conditional
    /// write).
    async fn publish_all(&self, messages: &[NormalizedMessage]) -> Result<(), PortError> {
        let bodies = messages
            .iter()
            .map(serde_json::to_string)
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| PortError::permanent("serialize message", e))?;
        for range in batches(&bodies) {
            let mut entries = Vec::with_capacity(range.len());
            for i in range.clone() {
                let message = &messages[i];
                let entry = SendMessageBatchRequestEntry::builder()
                    .id(i.to_string())
                    .message_body(bodies[i].clone())
                    .message_group_id(message.message_group_id())
                    .message_deduplication_id(message.dedupe_id())
                    .set_message_attributes(Some(string_attributes(&[
                        ("channel", message.channel.as_str()),
                        ("account", message.account_id.as_str()),
                        ("kind", message.kind()),
                    ])))
                    .build()
                    .map_err(|e| PortError::permanent("sqs send_message_batch", e))?;
                entries.push(entry);
            }
            send_batch(
                &self.client,
                &self.queue_url,
                entries,
                "sqs send_message_batch",
            )
            .await?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batches_hold_ten_entries_and_stay_under_the_request_size() {
        let small: Vec<String> = (0..23).map(|i| format!("m{i}")).collect();
        assert_eq!(batches(&small), [0..10, 10..20, 20..23]);
        let big: Vec<String> = (0..5).map(|_| "x".repeat(90 * 1024)).collect();
        assert_eq!(batches(&big), [0..2, 2..4, 4..5]);
        let huge = vec!["x".repeat(300 * 1024), "y".into()];
        assert_eq!(batches(&huge), [0..1, 1..2]);
        assert!(batches(&[]).is_empty());
    }
}
