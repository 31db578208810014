//! The local stack's media pieces, as in `infra/`: the media queue (standard, with its
//! dead-letter queue) and the media bucket in the emulator's S3.

use anyhow::{Context, Result};
use aws_sdk_sqs::types::QueueAttributeName;
use serde_json::json;

/// Creates `{prefix}-media` (standard; redrive to `{prefix}-media-dlq` after 10 receives, a
/// backstop: the media-fetcher dead-letters after its own attempt limit) and returns both URLs.
pub async fn create_media_queue(
    sqs: &aws_sdk_sqs::Client,
    prefix: &str,
    visibility_timeout_secs: u32,
) -> Result<(String, String)> {
    let dlq_url = sqs
        .create_queue()
        .queue_name(format!("{prefix}-media-dlq"))
        .attributes(QueueAttributeName::MessageRetentionPeriod, "1209600")
        .send()
        .await
        .context("create media dead-letter queue")?
        .queue_url()
        .context("media dead-letter queue url")?
        .to_string();
    let dlq_arn = crate::local_sla::queue_arn(sqs, &dlq_url).await?;
    let url = sqs
        .create_queue()
        .queue_name(format!("{prefix}-media"))
        .attributes(
            QueueAttributeName::VisibilityTimeout,
            visibility_timeout_secs.to_string(),
        )
        .attributes(
            QueueAttributeName::RedrivePolicy,
            json!({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": 10}).to_string(),
        )
        .send()
        .await
        .context("create media queue")?
        .queue_url()
        .context("media queue url")?
        .to_string();
    Ok((url, dlq_url))
}

/// Creates the bucket `{prefix}-media` (S3 bucket names are lowercase); returns its name.
pub async fn create_media_bucket(sdk: &aws_config::SdkConfig, prefix: &str) -> Result<String> {
    let name = format!("{prefix}-media").to_ascii_lowercase();
    gateway_aws::s3::client(sdk)
        .create_bucket()
        .bucket(&name)
        .send()
        .await
        .with_context(|| format!("create bucket {name}"))?;
    Ok(name)
}
