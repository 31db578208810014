//! The dead-letter queues: the router's (inbound records it can never process) and the
//! outbound one (undecodable records, and reply commands that can never be delivered or whose
//! last allowed attempt failed, with the error code and reason).
//!
//! A letter's body is the record exactly as it should be redriven. For a reply command, its
//! delivery record is `failed`: delete that record before redriving, or the sender will
//! acknowledge the redriven copy as already handled.

use super::string_attributes;
use crate::error::port_error;
use async_trait::async_trait;
use aws_sdk_sqs::Client;
use gateway_core::ports::{DeadLetter, DeadLetters, PortError};

/// Sends dead letters to one SQS queue, FIFO or standard.
#[derive(Clone, Debug)]
pub struct SqsDeadLetters {
    client: Client,
    queue_url: String,
}

impl SqsDeadLetters {
    /// The queue at `queue_url`; a FIFO queue (`.fifo`) gets the letter's group and
    /// deduplication id, a standard queue neither (SQS refuses them there).
    pub fn new(client: Client, queue_url: impl Into<String>) -> Self {
        SqsDeadLetters {
            client,
            queue_url: queue_url.into(),
        }
    }
}

#[async_trait]
impl DeadLetters for SqsDeadLetters {
    async fn dead_letter(&self, letter: &DeadLetter) -> Result<(), PortError> {
        let attributes: Vec<(&str, &str)> = letter
            .attributes
            .iter()
            .map(|(name, value)| (*name, value.as_str()))
            .collect();
        let mut request = self
            .client
            .send_message()
            .queue_url(&self.queue_url)
            .message_body(&letter.body)
            .set_message_attributes(Some(string_attributes(&attributes)));
        if self.queue_url.ends_with(".fifo") {
            request = request
                .message_group_id(&letter.group_id)
                .message_deduplication_id(&letter.dedupe_id);
        }
        request
            .send()
            .await
            .map_err(|e| port_error("sqs send_message (dead letter)", e))?;
        Ok(())
    }
}
