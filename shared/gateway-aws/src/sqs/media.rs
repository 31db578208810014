//! The media queue (standard SQS): fetch commands the router queues for the media-fetcher,
//! media downloads and the sender's profile ([`MediaCommand`]).
//!
//! Standard, not FIFO: fetches of different messages need no order, and a command delivered
//! twice stores its object once (the media-fetcher looks under the object's key first and
//! puts conditionally). The commands of one message go in one `SendMessageBatch`.

use async_trait::async_trait;
use aws_sdk_sqs::Client;
use aws_sdk_sqs::types::SendMessageBatchRequestEntry;
use gateway_core::media::{MediaCommand, MediaQueue};
use gateway_core::ports::PortError;

/// SQS's most entries per `SendMessageBatch`.
const MAX_BATCH: usize = 10;

/// Queues media fetch commands.
#[derive(Clone, Debug)]
pub struct SqsMediaQueue {
    client: Client,
    queue_url: String,
}

impl SqsMediaQueue {
    /// Queue at `queue_url`.
    pub fn new(client: Client, queue_url: impl Into<String>) -> Self {
        SqsMediaQueue {
            client,
            queue_url: queue_url.into(),
        }
    }
}

#[async_trait]
impl MediaQueue for SqsMediaQueue {
    async fn enqueue(&self, commands: &[MediaCommand]) -> Result<(), PortError> {
        if commands.is_empty() {
            return Ok(());
        }
        if commands.len() > MAX_BATCH {
            return Err(PortError::permanent(
                "sqs send_message_batch (media)",
                format!(
                    "{} commands for one message (at most {MAX_BATCH})",
                    commands.len()
                ),
            ));
        }
        let mut entries = Vec::with_capacity(commands.len());
        for (i, command) in commands.iter().enumerate() {
            let body = serde_json::to_string(command)
                .map_err(|e| PortError::permanent("serialize media fetch command", e))?;
            let entry = SendMessageBatchRequestEntry::builder()
                .id(i.to_string())
                .message_body(body)
                .build()
                .map_err(|e| PortError::permanent("sqs send_message_batch (media)", e))?;
            entries.push(entry);
        }
        // Entries can fail one by one; the whole message is then routed again, and the
        // commands that did go out are stored once anyway.
        super::send_batch(
            &self.client,
            &self.queue_url,
            entries,
            "sqs send_message_batch (media)",
        )
        .await?;
        Ok(())
    }
}
