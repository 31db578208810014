//! `wechat-webhook`: verifies WeChat's webhook (signature, timestamp window, AES modes),
//! normalizes the message, queues it on SQS and acknowledges within the platform's 5-second
//! window; accounts in passive reply mode get their stateless auto-replies in the response.
//!
//! - `config.rs`: the environment it reads;
//! - `handler.rs`: passive replies, on top of the webhook edge both channels share
//!   (`gateway_lambda::webhook`, over `gateway_core::webhook::WebhookService`).

mod config;
mod handler;

use gateway_aws::sdk::load_sdk_config_with_timeouts;
use gateway_core::Channel;
use gateway_lambda::webhook;
use std::sync::Arc;

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    lambda_http::tracing::init_default_subscriber();
    let config = config::Config::from_env()?;
    // Bounded AWS calls: a cold start's two calls fit the platform's 5-second window.
    let sdk = load_sdk_config_with_timeouts(config.webhook.call_timeouts()).await?;
    let mut service = webhook::service(Channel::WeChat, "wechat-webhook", &config.webhook, &sdk);
    service.passive = Some(Arc::new(handler::passive_replies(&config.passive, &sdk)));
    webhook::serve(&service).await
}
