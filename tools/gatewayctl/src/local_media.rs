//! The local stack's media pieces, as in `infra/`: the media queue (standard, with its
//! dead-letter queue) and the media bucket in the emulator's S3.

use anyhow::{Context, Result};

/// Creates `{prefix}-media` (standard; redrive to `{prefix}-media-dlq` after 10 receives, a
/// backstop: the media-fetcher dead-letters after its own attempt limit) and returns both URLs.
pub async fn create_media_queue(
    sqs: &aws_sdk_sqs::Client,
    prefix: &str,
    visibility_timeout_secs: u32,
) -> Result<(String, String)> {
    crate::local_sla::create_standard_queue(
        sqs,
        &format!("{prefix}-media"),
        visibility_timeout_secs,
        10,
    )
    .await
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
