//! Exponential backoff for the outbound queue: a record whose delivery failed transiently is
//! made visible again later than the queue's fixed visibility timeout would (SQS
//! `ChangeMessageVisibility` on the receipt handle of the Lambda event). In a FIFO queue this
//! also holds back the later replies of the same conversation, which keeps them in order.

use crate::error::port_error;
use async_trait::async_trait;
use aws_sdk_sqs::Client;
use gateway_core::delivery::ports::RetryScheduler;
use gateway_core::ports::PortError;

/// Changes the visibility timeout of received outbound records.
#[derive(Clone, Debug)]
pub struct SqsRetryScheduler {
    client: Client,
    queue_url: String,
}

impl SqsRetryScheduler {
    /// Scheduler for records of the queue at `queue_url`.
    pub fn new(client: Client, queue_url: impl Into<String>) -> Self {
        SqsRetryScheduler {
            client,
            queue_url: queue_url.into(),
        }
    }
}

#[async_trait]
impl RetryScheduler for SqsRetryScheduler {
    async fn retry_after(&self, receipt_handle: &str, delay_secs: u32) -> Result<(), PortError> {
        self.client
            .change_message_visibility()
            .queue_url(&self.queue_url)
            .receipt_handle(receipt_handle)
            .visibility_timeout(i32::try_from(delay_secs.min(43_200)).unwrap_or(43_200))
            .send()
            .await
            .map_err(|e| port_error("sqs change_message_visibility", e))?;
        Ok(())
    }
}
