//! `weibo-poller`: on a one-minute schedule, reads the public timelines of every listening
//! Weibo account (comments on its posts, comments and posts that @ it) from their cursors,
//! queues each new item on the inbound queue as the webhooks do, and moves the cursors
//! (`docs/listening.md`).
//!
//! - `config.rs`: the environment it reads;
//! - `handler.rs`: the run around `gateway_core::listening::poll`, its log and metrics.

mod config;
mod handler;

use gateway_aws::sdk::{call_timeouts, load_sdk_config_with_timeouts};
use gateway_aws::{DynamoDbPollCursors, SecretsManagerAccountDirectory, SqsMessagePublisher};
use gateway_core::account::AccountsRole;
use gateway_core::listening::poll::Settings;
use gateway_lambda::{metrics, now_ms};
use gateway_platforms::http_client;
use gateway_platforms::timeline::WeiboTimelineClient;
use lambda_runtime::{LambdaEvent, service_fn};
use serde_json::Value;
use std::sync::Arc;

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    lambda_runtime::tracing::init_default_subscriber();
    let config = config::Config::from_env()?;
    let aws = config.aws_operation_timeout;
    let sdk = load_sdk_config_with_timeouts(call_timeouts(aws / 2, aws)).await?;
    let http = http_client(config.platform_timeout)?;
    let deps = handler::PollerDeps {
        accounts: Arc::new(
            SecretsManagerAccountDirectory::new(
                aws_sdk_secretsmanager::Client::new(&sdk),
                &config.accounts_secret_id,
                config.accounts_cache,
            )
            .for_role(AccountsRole::Delivery)
            .with_observer(metrics::accounts_observer("weibo-poller")),
        ),
        source: Arc::new(WeiboTimelineClient::new(
            http,
            &config.open_api_base_url,
            &config.biz_api_base_url,
        )),
        cursors: Arc::new(DynamoDbPollCursors::new(
            aws_sdk_dynamodb::Client::new(&sdk),
            &config.table_name,
        )),
        queue: Arc::new(SqsMessagePublisher::new(
            aws_sdk_sqs::Client::new(&sdk),
            &config.queue_url,
        )),
        settings: Settings {
            max_pages: config.max_pages,
            page_budget_ms: i64::try_from(config.page_budget().as_millis()).unwrap_or(i64::MAX),
        },
        now_ms,
    };
    let deps = &deps;
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Value>| async move {
        handler::check_event(&event.payload).map_err(lambda_runtime::Error::from)?;
        let deadline_ms = handler::deadline_ms(event.context.deadline(), now_ms());
        handler::handle(deps, deadline_ms)
            .await
            .map_err(|e| lambda_runtime::Error::from(e.to_string()))
    }))
    .await
}
