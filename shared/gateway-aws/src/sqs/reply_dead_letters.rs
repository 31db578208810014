//! The outbound dead-letter queue: reply commands that can never be delivered (a permanent
//! platform refusal, an unknown account, missing credentials) or whose last allowed attempt
//! failed transiently (`gateway:retries_exhausted`), with the error code and reason.
//!
//! The body is the command exactly as queued, so an operator can fix the cause and redrive
//! it to the outbound queue unchanged (its delivery record is `failed`; delete that record
//! first, or the sender will acknowledge the redriven copy as already handled).

use super::send_dead_letter;
use async_trait::async_trait;
use aws_sdk_sqs::Client;
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
        let reply_id = command.dedupe_id();
        let attributes = [
            ("error_code", error_code),
            ("reason", reason.as_str()),
            ("channel", command.channel.as_str()),
            ("account", command.account_id.as_str()),
            ("reply_id", reply_id.as_str()),
        ];
        send_dead_letter(
            &self.client,
            &self.queue_url,
            body,
            (&command.message_group_id(), &reply_id),
            &attributes,
            "sqs send_message (reply dead letter)",
        )
        .await
    }
}
