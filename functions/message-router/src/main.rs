//! `message-router`: consumes the inbound queue, applies the routing and auto-reply rules,
//! persists conversations and messages, queues auto-replies for `reply-sender` and media
//! fetch commands for `media-fetcher`.
//!
//! - `config.rs`: the environment it reads;
//! - `handler.rs`: the batch handler (FIFO order per conversation, dead letters, metrics)
//!   around `gateway_core::routing`; profile notices (media-fetcher, same queue) run the
//!   rules with profile conditions (`gateway_core::profile::apply_notice`);
//! - `finish.rs`: WeChat template messages' finish reports, which settle delivery records
//!   instead of being stored.

mod config;
mod finish;
mod handler;

use aws_lambda_events::event::sqs::SqsEvent;
use gateway_aws::sdk::{consumer_timeouts, load_sdk_config_with_timeouts};
use gateway_aws::{
    BundledRules, DynamoDbConversationStore, DynamoDbRulesSource, DynamoDbRulesStore,
    DynamoDbTemplateSends, SqsDeadLetters, SqsMediaQueue, SqsReplyQueue,
};
use gateway_lambda::sqs_batch;
use lambda_runtime::{LambdaEvent, service_fn};
use std::sync::Arc;

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    lambda_runtime::tracing::init_default_subscriber();
    let config = config::Config::from_env()?;
    let sdk = load_sdk_config_with_timeouts(consumer_timeouts()).await?;
    let (dynamodb, sqs) = (
        aws_sdk_dynamodb::Client::new(&sdk),
        aws_sdk_sqs::Client::new(&sdk),
    );
    let table = &config.table_name;
    let store = DynamoDbConversationStore::new(dynamodb.clone(), table, config.message_ttl_secs());
    let deps = handler::RouterDeps {
        template_sends: Arc::new(DynamoDbTemplateSends::new(store.clone())),
        store: Arc::new(store),
        dead_letters: Arc::new(SqsDeadLetters::new(
            sqs.clone(),
            &config.dead_letter_queue_url,
        )),
        replies: Arc::new(SqsReplyQueue::new(sqs.clone(), &config.outbound_queue_url)),
        media: Arc::new(SqsMediaQueue::new(sqs, &config.media_queue_url)),
        profile_refresh_ms: i64::try_from(config.profile_refresh.as_millis()).unwrap_or(i64::MAX),
        // The rules pushed to the table; the bundled ones, parsed on first use, until some are.
        rules: Arc::new(DynamoDbRulesSource::new(
            DynamoDbRulesStore::new(dynamodb, table),
            config.rules_cache,
            BundledRules::from_yaml(gateway_lambda::BUNDLED_RULES),
        )),
    };
    let deps = &deps;
    lambda_runtime::run(service_fn(move |event: LambdaEvent<SqsEvent>| async move {
        let time_left = sqs_batch::time_left(event.context.deadline());
        let failures = handler::handle_batch(deps, &event.payload.records, time_left).await;
        Ok::<_, lambda_runtime::Error>(sqs_batch::response(failures))
    }))
    .await
}
