//! SQS adapters: the inbound queue (webhooks publish), the outbound queue (replies queued,
//! retry backoff), the dead-letter queues of both, the SLA timers queue and the media queue.

pub mod dead_letters;
pub mod inbound;
pub mod media;
pub mod replies;
pub mod retry_backoff;
pub mod timers;

use aws_sdk_sqs::types::MessageAttributeValue;
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
