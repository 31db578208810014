//! The outbound SQS FIFO queue of reply commands (router auto-replies, `reply-api`).
//!
//! Message group = the conversation, so replies to one customer go out in order; deduplication
//! id = [`ReplyCommand::dedupe_id`], so a command queued twice (a redelivered inbound message
//! re-evaluated, a client retrying) is delivered once within SQS's 5-minute window, and the
//! reply-sender's delivery records catch later copies.

use crate::error::port_error;
use async_trait::async_trait;
use aws_sdk_sqs::Client;
use gateway_core::outbound::ReplyCommand;
use gateway_core::ports::{PortError, ReplyQueue};

/// Queues reply commands on the outbound FIFO queue.
#[derive(Clone, Debug)]
pub struct SqsReplyQueue {
    client: Client,
    queue_url: String,
}

impl SqsReplyQueue {
    /// Queue at `queue_url`.
    pub fn new(client: Client, queue_url: impl Into<String>) -> Self {
        SqsReplyQueue {
            client,
            queue_url: queue_url.into(),
        }
    }
}

#[async_trait]
impl ReplyQueue for SqsReplyQueue {
    async fn enqueue(&self, command: &ReplyCommand) -> Result<(), PortError> {
        let body = serde_json::to_string(command)
            .map_err(|e| PortError::permanent("serialize reply command", e))?;
        self.client
            .send_message()
            .queue_url(&self.queue_url)
            .message_body(body)
            .message_group_id(command.message_group_id())
            .message_deduplication_id(command.dedupe_id())
            .send()
            .await
            .map_err(|e| port_error("sqs send_message (reply)", e))?;
        Ok(())
    }
}
