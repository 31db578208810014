//! The local stack's service-level pieces: the timers queue (standard, with its dead-letter
//! queue, as in `infra/`), the alerts topic, and the table's stream the monitor reads.

use anyhow::{Context, Result};
use aws_sdk_sqs::types::QueueAttributeName;
use serde_json::json;

/// Creates `{prefix}-timers` (standard; redrive to `{prefix}-timers-dlq` after 5 receives)
/// and returns both URLs.
pub async fn create_timers_queue(
    sqs: &aws_sdk_sqs::Client,
    prefix: &str,
    visibility_timeout_secs: u32,
) -> Result<(String, String)> {
    create_standard_queue(sqs, &format!("{prefix}-timers"), visibility_timeout_secs, 5).await
}

/// Creates the standard queue `name` with its standard dead-letter queue `{name}-dlq` (14
/// days), redriven after `max_receive_count` receives, as in `infra/`; returns both URLs.
pub async fn create_standard_queue(
    sqs: &aws_sdk_sqs::Client,
    name: &str,
    visibility_timeout_secs: u32,
    max_receive_count: u32,
) -> Result<(String, String)> {
    let dlq_url = sqs
        .create_queue()
        .queue_name(format!("{name}-dlq"))
        .attributes(QueueAttributeName::MessageRetentionPeriod, "1209600")
        .send()
        .await
        .with_context(|| format!("create dead-letter queue {name}-dlq"))?
        .queue_url()
        .context("dead-letter queue url")?
        .to_string();
    let dlq_arn = queue_arn(sqs, &dlq_url).await?;
    let url = sqs
        .create_queue()
        .queue_name(name)
        .attributes(
            QueueAttributeName::VisibilityTimeout,
            visibility_timeout_secs.to_string(),
        )
        .attributes(
            QueueAttributeName::RedrivePolicy,
            json!({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": max_receive_count})
                .to_string(),
        )
        .send()
        .await
        .with_context(|| format!("create queue {name}"))?
        .queue_url()
        .context("queue url")?
        .to_string();
    Ok((url, dlq_url))
}

/// The ARN of the queue at `url`.
pub async fn queue_arn(sqs: &aws_sdk_sqs::Client, url: &str) -> Result<String> {
    sqs.get_queue_attributes()
        .queue_url(url)
        .attribute_names(QueueAttributeName::QueueArn)
        .send()
        .await
        .context("queue arn")?
        .attributes()
        .and_then(|a| a.get(&QueueAttributeName::QueueArn).cloned())
        .context("queue arn missing")
}

/// Creates the alerts topic `{prefix}-alerts`; returns its ARN.
pub async fn create_alerts_topic(sns: &aws_sdk_sns::Client, prefix: &str) -> Result<String> {
    Ok(sns
        .create_topic()
        .name(format!("{prefix}-alerts"))
        .send()
        .await
        .context("create alerts topic")?
        .topic_arn()
        .context("alerts topic arn")?
        .to_string())
}

/// Subscribes the queue at `queue_url` to `topic_arn` with the raw message delivered (what a
/// test, or an operator's own consumer, reads).
pub async fn subscribe_queue(
    sns: &aws_sdk_sns::Client,
    sqs: &aws_sdk_sqs::Client,
    topic_arn: &str,
    queue_url: &str,
) -> Result<()> {
    sns.subscribe()
        .topic_arn(topic_arn)
        .protocol("sqs")
        .endpoint(queue_arn(sqs, queue_url).await?)
        .attributes("RawMessageDelivery", "true")
        .send()
        .await
        .context("subscribe a queue to the alerts topic")?;
    Ok(())
}
