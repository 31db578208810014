//! The outbound dead-letter queue: reply commands that can never be delivered (a permanent
//! platform refusal, an unknown account, missing credentials) or whose last allowed attempt
//! failed transiently (`gateway:retries_exhausted`), with the error code and reason.
//!
//! The body is the command exactly as queued, so an operator can fix the cause and redrive
//! it to the outbound queue unchanged (its delivery record is `failed`; delete that record
//! first, or the sender will acknowledge the redriven copy as already handled).

use crate::error::port_error;
use async_trait::async_trait;
use aws_sdk_sqs::Client;
use aws_sdk_sqs::types::MessageAttributeValue;
use gateway_core::delivery::ports::ReplyDeadLetters;
use gateway_core::outbound::ReplyCommand;
use gateway_core::ports::PortError;

/// Sends undeliverable commands to the outbound dead-letter queue.
#[derive(Clone, Debug)]
pub struct SqsReplyDeadLetters {
    client: Client,
    queue_url: String,
}

impl SqsReplyDeadLetters {
    /// Sink for the queue at `queue_url` (FIFO or standard).
    pub fn new(client: Client, queue_url: impl Into<String>) -> Self {
        SqsReplyDeadLetters {
            client,
            queue_url: queue_url.into(),
        }
    }
}

/// A `String` message attribute; none for an empty value, which SQS refuses (and with it
/// the whole message).
fn attribute(value: &str) -> Option<MessageAttributeValue> {
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
impl ReplyDeadLetters for SqsReplyDeadLetters {
    async fn dead_letter(
        &self,
        command: &ReplyCommand,
        error_code: &str,
        reason: &str,
    ) -> Result<(), PortError> {
        let body = serde_json::to_string(command)
            .map_err(|e| PortError::permanent("serialize reply command", e))?;
        let reason: String = reason.chars().take(1000).collect();
        let attributes = [
            ("error_code", error_code),
            ("reason", reason.as_str()),
            ("channel", command.channel.as_str()),
            ("account", command.account_id.as_str()),
            ("reply_id", &command.dedupe_id()),
        ]
        .into_iter()
        .filter_map(|(k, v)| attribute(v).map(|a| (k.to_string(), a)))
        .collect();
        let mut request = self
            .client
            .send_message()
            .queue_url(&self.queue_url)
            .message_body(body)
            .set_message_attributes(Some(attributes));
        if self.queue_url.ends_with(".fifo") {
            request = request
                .message_group_id(command.message_group_id())
                .message_deduplication_id(command.dedupe_id());
        }
        request
            .send()
            .await
            .map_err(|e| port_error("sqs send_message (reply dead letter)", e))?;
        Ok(())
    }
}
