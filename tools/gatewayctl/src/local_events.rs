//! The local stack's events pieces, as in `infra/`: the deployment's event bus
//! `{prefix}-events`, and, for tests to read what was published, a rule on it matching every
//! gateway event (`{"source":["channel-gateway"]}`) with the standard queue
//! `{prefix}-events-observed` as its target (the emulator delivers each `PutEvents` entry
//! there as the EventBridge event JSON, `detail` holding the gateway's event).

use anyhow::{Context, Result};
use aws_sdk_sqs::types::QueueAttributeName;
use serde_json::json;

/// The bus of the stack `prefix`.
pub fn bus_name(prefix: &str) -> String {
    format!("{prefix}-events")
}

/// Creates the bus `{prefix}-events` (an existing one is kept: the webhooks' setup may have
/// created it); returns its name.
pub async fn create_event_bus(
    events: &aws_sdk_eventbridge::Client,
    prefix: &str,
) -> Result<String> {
    let name = bus_name(prefix);
    match events.create_event_bus().name(&name).send().await {
        Ok(_) => Ok(name),
        Err(e)
            if e.as_service_error()
                .is_some_and(|s| s.is_resource_already_exists_exception()) =>
        {
            Ok(name)
        }
        Err(e) => Err(e).with_context(|| format!("create event bus {name}")),
    }
}

/// Creates `{prefix}-events-observed` (standard) and the rule `{prefix}-events-observed` on
/// `bus` sending every gateway event to it; returns the queue's URL.
pub async fn create_observed_queue(
    events: &aws_sdk_eventbridge::Client,
    sqs: &aws_sdk_sqs::Client,
    prefix: &str,
    bus: &str,
) -> Result<String> {
    let name = format!("{prefix}-events-observed");
    let url = sqs
        .create_queue()
        .queue_name(&name)
        .attributes(QueueAttributeName::MessageRetentionPeriod, "86400")
        .send()
        .await
        .with_context(|| format!("create queue {name}"))?
        .queue_url()
        .context("observed events queue url")?
        .to_string();
    let arn = crate::local_sla::queue_arn(sqs, &url).await?;
    events
        .put_rule()
        .name(&name)
        .event_bus_name(bus)
        .event_pattern(json!({"source": [gateway_core::events::EVENT_SOURCE]}).to_string())
        .send()
        .await
        .with_context(|| format!("create rule {name}"))?;
    events
        .put_targets()
        .rule(&name)
        .event_bus_name(bus)
        .targets(
            aws_sdk_eventbridge::types::Target::builder()
                .id("observed")
                .arn(arn)
                .build()
                .context("rule target")?,
        )
        .send()
        .await
        .with_context(|| format!("target of rule {name}"))?;
    Ok(url)
}
