//! Shared SDK configuration, built once per cold start.

/// Loads the SDK configuration from the environment: region from `AWS_REGION`, credentials
/// from the Lambda role (or `AWS_ACCESS_KEY_ID`/`AWS_SECRET_ACCESS_KEY` locally), and the
/// standard endpoint override `AWS_ENDPOINT_URL` (or `AWS_ENDPOINT_URL_SQS`, …) that local runs
/// use to reach the emulator.
pub async fn load_sdk_config() -> aws_config::SdkConfig {
    aws_config::defaults(aws_config::BehaviorVersion::latest())
        .load()
        .await
}
