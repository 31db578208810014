//! SQS adapters: the inbound queue (webhooks publish), the outbound queue (replies queued,
//! retry backoff), the dead-letter queues of both, the SLA timers queue, the media queue and the webhook queue's fan-out.

pub mod dead_letters;
pub mod inbound;
pub mod media;
pub mod profile_notices;
pub mod replies;
pub mod retry_backoff;
pub mod timers;
pub mod webhooks;

use crate::error::port_error;
use aws_sdk_sqs::Client;
use aws_sdk_sqs::types::{MessageAttributeValue, SendMessageBatchRequestEntry};
use gateway_core::ports::PortError;
use std::collections::HashMap;

/// One `SendMessageBatch` of `entries` to `queue_url`. SQS refuses entries one by one inside
/// an accepted call; any refusal fails the whole batch here (transient), and the caller's
/// retry queues every entry again, which the queue's deduplication or the consumer's
/// idempotence makes harmless.
pub(crate) async fn send_batch(
    client: &Client,
    queue_url: &str,
    entries: Vec<SendMessageBatchRequestEntry>,
    operation: &'static str,
) -> Result<(), PortError> {
    let sent = entries.len();
    let answer = client
        .send_message_batch()
        .queue_url(queue_url)
        .set_entries(Some(entries))
        .send()
        .await
        .map_err(|e| port_error(operation, e))?;
    if let Some(failed) = answer.failed().first() {
        return Err(PortError::transient(
            operation,
            format!(
                "{} of {sent} entries refused, first: {} {}",
                answer.failed().len(),
                failed.code(),
                failed.message().unwrap_or_default()
            ),
        ));
    }
    Ok(())
}

/// `String` message attributes from `(name, value)` pairs. An empty value is left out: SQS
/// refuses it, and with it the whole message.
pub(crate) fn string_attributes(pairs: &[(&str, &str)]) -> HashMap<String, MessageAttributeValue> {
    pairs
        .iter()
        .filter(|(_, v)| !v.is_empty())
        .filter_map(|(k, v)| {
            MessageAttributeValue::builder()
                .data_type("String")
                .string_value(*v)
                .build()
                .ok()
                .map(|a| (k.to_string(), a))
        })
        .collect()
}
