//! `reply-sender`: consumes the outbound queue and delivers each reply command (bot or agent)
//! through the platform's API at most once, within the platform's reply window and quota,
//! recording the outcome on the conversation.
//!
//! - `config.rs`: the environment it reads, checked against the worst-case time of a reply;
//! - `handler.rs`: the batch handler (FIFO order per conversation, backoff, attempt limit,
//!   metrics) around `gateway_core::delivery`.

mod config;
mod handler;

use aws_lambda_events::event::sqs::SqsEvent;
use gateway_aws::sdk::{call_timeouts, load_sdk_config_with_timeouts};
use gateway_aws::{
    DynamoDbAccessTokens, DynamoDbConversationStore, DynamoDbDeliveryLedger, DynamoDbUploadedIds,
    S3Uploads, SecretsManagerAccountDirectory, SqsDeadLetters, SqsRetryScheduler,
};
use gateway_core::account::AccountsRole;
use gateway_lambda::{metrics, now_ms, sqs_batch};
use gateway_platforms::{WeChatClient, WeiboClient, http_client};
use lambda_runtime::{LambdaEvent, service_fn};
use std::sync::Arc;

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    lambda_runtime::tracing::init_default_subscriber();
    let config = config::Config::from_env()?;
    // Every AWS call bounded: the worst case of a reply is a sum of these bounds.
    let aws = config.aws_operation_timeout;
    let sdk = load_sdk_config_with_timeouts(call_timeouts(aws / 2, aws)).await?;
    let (dynamodb, sqs) = (
        aws_sdk_dynamodb::Client::new(&sdk),
        aws_sdk_sqs::Client::new(&sdk),
    );
    let http = http_client(config.platform_timeout)?;
    let wechat = Arc::new(WeChatClient::new(
        http.clone(),
        &config.wechat_api_base_url,
        config.wechat_token_api,
    ));
    let wechat_media = wechat.clone();
    let dynamodb_ids = dynamodb.clone();
    let ttl = (config.message_ttl_days > 0).then(|| config.message_ttl_days * 86_400);
    let store = DynamoDbConversationStore::new(dynamodb.clone(), &config.table_name, ttl);
    let secret = aws_sdk_secretsmanager::Client::new(&sdk);
    let ledger = Arc::new(DynamoDbDeliveryLedger::new(
        store.clone(),
        config.delivery_record_ttl_days * 86_400,
    ));
    let deps = handler::ReplySenderDeps {
        accounts: Arc::new(
            SecretsManagerAccountDirectory::new(
                secret,
                &config.accounts_secret_id,
                config.accounts_cache,
            )
            .for_role(AccountsRole::Delivery)
            .with_observer(metrics::accounts_observer("reply-sender")),
        ),
        conversations: Arc::new(store),
        ledger: ledger.clone(),
        quotas: ledger,
        tokens: Arc::new(DynamoDbAccessTokens::new(
            dynamodb,
            &config.table_name,
            wechat.clone(),
            config.token_timing,
            handler::instance_id(),
            Arc::new(now_ms),
        )),
        wechat,
        weibo: Arc::new(
            WeiboClient::new(http, &config.weibo_api_base_url)
                .with_open_api(&config.weibo_open_api_base_url),
        ),
        wechat_media: wechat_media.clone(),
        upload_files: Arc::new(S3Uploads::new(
            gateway_aws::s3::client(&sdk),
            &config.media_bucket,
        )),
        uploaded_ids: Arc::new(DynamoDbUploadedIds::new(dynamodb_ids, &config.table_name)),
        dead_letters: Arc::new(SqsDeadLetters::new(
            sqs.clone(),
            &config.outbound_dead_letter_queue_url,
        )),
        retries: Arc::new(SqsRetryScheduler::new(sqs, &config.outbound_queue_url)),
        start_margin: config.start_margin(),
        settings: config.delivery,
    };
    let deps = &deps;
    lambda_runtime::run(service_fn(move |event: LambdaEvent<SqsEvent>| async move {
        let time_left = sqs_batch::time_left(event.context.deadline());
        let failures = handler::handle_batch(deps, &event.payload.records, time_left).await;
        Ok::<_, lambda_runtime::Error>(sqs_batch::response(failures))
    }))
    .await
}
