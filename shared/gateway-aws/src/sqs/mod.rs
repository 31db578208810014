//! SQS adapters: the inbound queue (webhooks publish, the router's dead letters), the outbound
//! queue (replies queued, retry backoff) and its dead-letter queue (undeliverable commands with
//! their reason).

pub mod inbound;
pub mod replies;
pub mod reply_dead_letters;
pub mod retry_backoff;

use crate::error::port_error;
use aws_sdk_sqs::Client;
use aws_sdk_sqs::types::MessageAttributeValue;
use gateway_core::ports::PortError;
use std::collections::HashMap;

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

/// Sends `body` to the dead-letter queue at `queue_url` with `attributes`; the FIFO group and
/// deduplication ids are set only for a FIFO queue.
pub(crate) async fn send_dead_letter(
    client: &Client,
    queue_url: &str,
    body: String,
    fifo_ids: (&str, &str),
    attributes: &[(&str, &str)],
    operation: &'static str,
) -> Result<(), PortError> {
    let mut request = client
        .send_message()
        .queue_url(queue_url)
        .message_body(body)
        .set_message_attributes(Some(string_attributes(attributes)));
    if queue_url.ends_with(".fifo") {
        request = request
            .message_group_id(fifo_ids.0)
            .message_deduplication_id(fifo_ids.1);
    }
    request.send().await.map_err(|e| port_error(operation, e))?;
    Ok(())
}
