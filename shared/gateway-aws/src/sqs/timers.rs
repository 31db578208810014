//! The timers queue: a standard queue (FIFO queues have no per-message delay), each timer a
//! message delayed until it comes due, or by the longest delay SQS allows (15 minutes) and
//! chained by the SLA monitor beyond.

use super::string_attributes;
use crate::error::port_error;
use async_trait::async_trait;
use aws_sdk_sqs::Client;
use gateway_core::ports::PortError;
use gateway_core::sla::Timer;
use gateway_core::sla::ports::TimerQueue;

/// The longest delay SQS gives one message, in seconds.
pub const SQS_MAX_DELAY_SECS: u32 = 900;

/// Schedules timers on the queue at `queue_url`.
#[derive(Clone, Debug)]
pub struct SqsTimers {
    client: Client,
    queue_url: String,
}

impl SqsTimers {
    /// Timers on the queue at `queue_url`.
    pub fn new(client: Client, queue_url: impl Into<String>) -> Self {
        SqsTimers {
            client,
            queue_url: queue_url.into(),
        }
    }
}

#[async_trait]
impl TimerQueue for SqsTimers {
    async fn schedule(&self, timer: &Timer, delay_secs: u32) -> Result<(), PortError> {
        let body =
            serde_json::to_string(timer).map_err(|e| PortError::permanent("serialize timer", e))?;
        let delay = i32::try_from(delay_secs.min(SQS_MAX_DELAY_SECS)).unwrap_or(0);
        self.client
            .send_message()
            .queue_url(&self.queue_url)
            .message_body(body)
            .delay_seconds(delay)
            .set_message_attributes(Some(string_attributes(&[
                ("kind", timer.kind.as_str()),
                ("conversation", timer.conversation_key.as_str()),
            ])))
            .send()
            .await
            .map_err(|e| port_error("sqs send_message (timer)", e))?;
        Ok(())
    }
}
