//! `stats-aggregator`: consumes the conversations table's DynamoDB stream (new and old
//! images). For each stream record it adds the change (of a conversation, an inbound message
//! stored, a reply delivered) to the daily statistics of its account and team, and publishes
//! the change's events (`docs/events.md`) on the deployment's EventBridge bus, each once per
//! stream record. The events come from this function because the stream already has its two
//! readers (this one and `sla-monitor`; DynamoDB throttles more than two per shard).
//!
//! - `config.rs`: the environment it reads;
//! - `handler.rs`: the batch handler (stream order, partial batch failures) around
//!   `gateway_core::stats`, and `handler/publish.rs` around `gateway_core::events`.

mod config;
mod handler;

use aws_lambda_events::event::dynamodb::Event;
use gateway_aws::sdk::{consumer_timeouts, load_sdk_config_with_timeouts};
use gateway_aws::{
    BundledRules, DynamoDbPublishedChanges, DynamoDbRulesSource, DynamoDbRulesStore, DynamoDbStats,
    EventBridgePublisher,
};
use gateway_lambda::sqs_batch;
use lambda_runtime::{LambdaEvent, service_fn};
use std::sync::Arc;

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    lambda_runtime::tracing::init_default_subscriber();
    let config = config::Config::from_env()?;
    let sdk = load_sdk_config_with_timeouts(consumer_timeouts()).await?;
    let dynamodb = aws_sdk_dynamodb::Client::new(&sdk);
    let table = &config.table_name;
    let deps = handler::AggregatorDeps {
        stats: Arc::new(DynamoDbStats::new(dynamodb.clone(), table)),
        events: Arc::new(EventBridgePublisher::new(
            aws_sdk_eventbridge::Client::new(&sdk),
            &config.event_bus_name,
        )),
        published: Arc::new(DynamoDbPublishedChanges::new(dynamodb.clone(), table)),
        // The accounts' time zones: the rules pushed to the table, else the bundled ones.
        rules: Arc::new(DynamoDbRulesSource::new(
            DynamoDbRulesStore::new(dynamodb, table),
            config.rules_cache,
            BundledRules::from_yaml(gateway_lambda::BUNDLED_RULES),
        )),
    };
    let deps = &deps;
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Event>| async move {
        let time_left = sqs_batch::time_left(event.context.deadline());
        let retry = handler::handle_batch(
            deps,
            &event.payload.records,
            gateway_lambda::now_ms(),
            time_left,
        )
        .await;
        Ok::<_, lambda_runtime::Error>(handler::response(retry))
    }))
    .await
}
