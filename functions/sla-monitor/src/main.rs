//! `sla-monitor`: the clocks of the service levels. It consumes the table's stream (a
//! conversation change that sets a due time schedules a timer; an escalation that begins, or a
//! breach once recorded, is published to the alerts topic) and the timers queue (a timer that
//! comes up records a breach once, resolves an answered conversation nobody came back to, or
//! is chained on past the queue's longest delay); and, every minute on a schedule, measures
//! who waits now in each account's inbox (`UnansweredNow`, `OldestWaitingSeconds`).
//!
//! - `config.rs`: the environment it reads;
//! - `handler.rs`: both batch kinds, around `gateway_core::sla`.

mod config;
mod handler;

use gateway_aws::sdk::{consumer_timeouts, load_sdk_config_with_timeouts};
use gateway_aws::{
    BundledRules, DynamoDbConversationStore, DynamoDbRulesSource, DynamoDbRulesStore, SnsAlerts,
    SqsTimers,
};
use gateway_lambda::{now_ms, sqs_batch, stream_batch};
use lambda_runtime::{LambdaEvent, service_fn};
use serde_json::{Value, json};
use std::sync::Arc;

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    lambda_runtime::tracing::init_default_subscriber();
    let config = config::Config::from_env()?;
    let sdk = load_sdk_config_with_timeouts(consumer_timeouts()).await?;
    let dynamodb = aws_sdk_dynamodb::Client::new(&sdk);
    let table = &config.table_name;
    let store = Arc::new(DynamoDbConversationStore::new(
        dynamodb.clone(),
        table,
        None,
    ));
    let deps = handler::MonitorDeps {
        records: store.clone(),
        inboxes: store,
        timers: Arc::new(SqsTimers::new(
            aws_sdk_sqs::Client::new(&sdk),
            &config.timers_queue_url,
        )),
        alerts: Arc::new(SnsAlerts::new(
            aws_sdk_sns::Client::new(&sdk),
            &config.alerts_topic_arn,
        )),
        rules: Arc::new(DynamoDbRulesSource::new(
            DynamoDbRulesStore::new(dynamodb, table),
            config.rules_cache,
            BundledRules::from_yaml(gateway_lambda::BUNDLED_RULES),
        )),
        breach_grace: config.breach_grace,
    };
    let deps = &deps;
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Value>| async move {
        let batch = handler::parse(event.payload).map_err(lambda_runtime::Error::from)?;
        let failures = handler::handle(deps, &batch, &now_ms).await;
        Ok::<_, lambda_runtime::Error>(match batch {
            handler::Batch::Stream(_) => json!(stream_batch::response(failures)),
            handler::Batch::Timers(_) => json!(sqs_batch::response(failures)),
            handler::Batch::Schedule => json!({}),
        })
    }))
    .await
}
