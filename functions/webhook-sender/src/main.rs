//! `webhook-sender`: delivers the deployment's events (the bus rule's webhook queue) to each
//! API client's registered receiver, HMAC-signed, with retries and a dead-letter queue
//! (`docs/webhooks.md`).
//!
//! - `config.rs`: the environment it reads, and the worst-case time of a record;
//! - `handler.rs`: the batch handler (backoff, dead letters with their reason, metrics) around
//!   `gateway_core::webhook_target::process`.

mod config;
mod handler;

use aws_lambda_events::event::sqs::SqsEvent;
use gateway_aws::sdk::{call_timeouts, load_sdk_config_with_timeouts};
use gateway_aws::{
    SecretsManagerAccountDirectory, SqsDeadLetters, SqsRetryScheduler, SqsWebhookFanOut,
};
use gateway_core::account::AccountsRole;
use gateway_lambda::{metrics, sqs_batch};
use gateway_platforms::webhook_target::HttpWebhookPoster;
use lambda_runtime::{LambdaEvent, service_fn};
use std::sync::Arc;

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    lambda_runtime::tracing::init_default_subscriber();
    let config = config::Config::from_env()?;
    let aws = config.aws_operation_timeout;
    let sdk = load_sdk_config_with_timeouts(call_timeouts(aws / 2, aws)).await?;
    let sqs = aws_sdk_sqs::Client::new(&sdk);
    let deps = handler::SenderDeps {
        accounts: Arc::new(
            SecretsManagerAccountDirectory::new(
                aws_sdk_secretsmanager::Client::new(&sdk),
                &config.targets_secret_id,
                config.accounts_cache,
            )
            .for_role(AccountsRole::WebhookTargets)
            .with_observer(metrics::accounts_observer("webhook-sender")),
        ),
        poster: Arc::new(HttpWebhookPoster::new(config.webhook_timeout)?),
        fan_out: Arc::new(SqsWebhookFanOut::new(sqs.clone(), &config.queue_url)),
        dead_letters: Arc::new(SqsDeadLetters::new(
            sqs.clone(),
            &config.dead_letter_queue_url,
        )),
        retries: Arc::new(SqsRetryScheduler::new(sqs, &config.queue_url)),
        settings: config.settings(),
        start_margin: config.start_margin(),
        now_secs: || gateway_lambda::now_ms() / 1000,
    };
    let deps = &deps;
    lambda_runtime::run(service_fn(move |event: LambdaEvent<SqsEvent>| async move {
        let time_left = sqs_batch::time_left(event.context.deadline());
        let failures = handler::handle_batch(deps, &event.payload.records, time_left).await;
        Ok::<_, lambda_runtime::Error>(sqs_batch::response(failures))
    }))
    .await
}
