//! The local stack's webhook pieces, as in `infra/`, on the bus `{prefix}-events`
//! ([`crate::local_events`]): the webhook queue
//! `{prefix}-webhooks` (standard, with its dead-letter queue) and the rule sending the bus's
//! gateway events (`source` `channel-gateway`) to it, which moto runs on `PutEvents`.

use anyhow::{Context, Result};
use aws_sdk_eventbridge::types::Target;
use serde_json::json;

/// The webhook queue and its dead-letter queue, and the rule feeding it; returns the URLs of
/// both queues. The queue's own redrive (after 10 receives) is a backstop: `webhook-sender`
/// dead-letters after `WEBHOOK_MAX_ATTEMPTS`, with the reason.
pub async fn create_webhook_queue(
    sdk: &aws_config::SdkConfig,
    prefix: &str,
    bus: &str,
    visibility_timeout_secs: u32,
) -> Result<(String, String)> {
    let sqs = aws_sdk_sqs::Client::new(sdk);
    let (url, dlq_url) = crate::local_sla::create_standard_queue(
        &sqs,
        &format!("{prefix}-webhooks"),
        visibility_timeout_secs,
        10,
    )
    .await?;
    let arn = crate::local_sla::queue_arn(&sqs, &url).await?;
    let events = aws_sdk_eventbridge::Client::new(sdk);
    let rule = format!("{prefix}-webhooks");
    events
        .put_rule()
        .name(&rule)
        .event_bus_name(bus)
        .event_pattern(json!({ "source": [gateway_core::events::EVENT_SOURCE] }).to_string())
        .send()
        .await
        .with_context(|| format!("create rule {rule}"))?;
    events
        .put_targets()
        .rule(&rule)
        .event_bus_name(bus)
        .targets(
            Target::builder()
                .id("webhook-queue")
                .arn(arn)
                .build()
                .context("rule target")?,
        )
        .send()
        .await
        .with_context(|| format!("target of rule {rule}"))?;
    Ok((url, dlq_url))
}
