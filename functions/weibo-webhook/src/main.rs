//! `weibo-webhook`: verifies Weibo's webhook (signature, timestamp window), normalizes the
//! message, queues it on SQS and acknowledges within the platform's 5-second window.
//!
//! It has no handler or configuration of its own: the webhook edge both channels share
//! (`gateway_lambda::webhook`, over `gateway_core::webhook::WebhookService`) and its
//! variables (`WebhookConfig`) are all it needs. Weibo has no passive replies.

use gateway_aws::sdk::load_sdk_config_with_timeouts;
use gateway_core::Channel;
use gateway_lambda::webhook::{self, WebhookConfig};

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    lambda_http::tracing::init_default_subscriber();
    let config = WebhookConfig::from_lookup(|k| std::env::var(k).ok())?;
    // Bounded AWS calls: a cold start's two calls fit the platform's 5-second window.
    let sdk = load_sdk_config_with_timeouts(config.call_timeouts()).await?;
    let service = webhook::service(Channel::Weibo, "weibo-webhook", &config, &sdk);
    webhook::serve(&service).await
}
