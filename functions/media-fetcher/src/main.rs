//! `media-fetcher`: consumes the media queue the router fills and fetches what the platform
//! holds about a message: downloads each customer's photo, voice note or video from the
//! platform's media API before its temporary id expires, keeps it in the media bucket and
//! records the outcome on the message (`docs/media.md`); and fetches its sender's profile,
//! stores it on the conversation and, when it is new, tells the router on the inbound queue
//! (`docs/profiles.md`).
//!
//! - `config.rs`: the environment it reads, and the worst-case time of a record;
//! - `source.rs`: the platforms' media APIs with the account's credentials and token;
//! - `profile_source.rs`: the platforms' profile APIs (WeChat `user/info`, Weibo
//!   `users/show`), same credentials and token broker;
//! - `handler.rs`: the batch handler (backoff, attempt limit, dead letters with their reason,
//!   metrics) around `gateway_core::media::fetch_and_record`.

mod config;
mod handler;
mod profile_source;
mod source;

use aws_lambda_events::event::sqs::SqsEvent;
use gateway_aws::sdk::{call_timeouts, load_sdk_config_with_timeouts};
use gateway_aws::{
    DynamoDbAccessTokens, DynamoDbMediaRecords, DynamoDbProfileRecords, S3MediaStore,
    SecretsManagerAccountDirectory, SqsDeadLetters, SqsProfileNotices, SqsRetryScheduler,
};
use gateway_core::account::AccountsRole;
use gateway_lambda::{metrics, now_ms, sqs_batch};
use gateway_platforms::media::WeiboMediaClient;
use gateway_platforms::profiles::WeiboProfileClient;
use gateway_platforms::{WeChatClient, http_client};
use lambda_runtime::{LambdaEvent, service_fn};
use std::sync::Arc;

/// A random id of this function instance: the owner of the token leases it takes.
fn instance_id() -> String {
    let random = gateway_core::channel::wechat::crypto::random_prefix();
    let hex: String = random.iter().map(|b| format!("{b:02x}")).collect();
    format!("media-fetcher-{hex}")
}

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    lambda_runtime::tracing::init_default_subscriber();
    let config = config::Config::from_env()?;
    let aws = config.aws_operation_timeout;
    let sdk = load_sdk_config_with_timeouts(call_timeouts(aws / 2, aws)).await?;
    let (dynamodb, sqs) = (
        aws_sdk_dynamodb::Client::new(&sdk),
        aws_sdk_sqs::Client::new(&sdk),
    );
    let http = http_client(config.platform_timeout)?;
    let wechat = WeChatClient::new(
        http.clone(),
        &config.wechat_api_base_url,
        config.wechat_token_api,
    );
    let accounts = Arc::new(
        SecretsManagerAccountDirectory::new(
            aws_sdk_secretsmanager::Client::new(&sdk),
            &config.accounts_secret_id,
            config.accounts_cache,
        )
        .for_role(AccountsRole::Delivery)
        .with_observer(metrics::accounts_observer("media-fetcher")),
    );
    let tokens = Arc::new(DynamoDbAccessTokens::new(
        dynamodb.clone(),
        &config.table_name,
        Arc::new(wechat.clone()),
        config.token_timing,
        instance_id(),
        Arc::new(now_ms),
    ));
    let profiles = handler::ProfileDeps {
        source: Arc::new(profile_source::PlatformProfileSource {
            accounts: accounts.clone(),
            tokens: tokens.clone(),
            wechat: wechat.clone(),
            weibo: WeiboProfileClient::new(http.clone(), &config.weibo_open_api_base_url),
        }),
        records: Arc::new(DynamoDbProfileRecords::new(
            dynamodb.clone(),
            &config.table_name,
        )),
        notices: Arc::new(SqsProfileNotices::new(
            sqs.clone(),
            &config.inbound_queue_url,
        )),
    };
    let deps = handler::FetcherDeps {
        source: Arc::new(source::PlatformMediaSource {
            accounts,
            tokens,
            wechat,
            weibo: WeiboMediaClient::new(http, &config.weibo_media_base_url),
            now_ms,
        }),
        store: Arc::new(S3MediaStore::new(
            gateway_aws::s3::client(&sdk),
            &config.media_bucket,
        )),
        records: Arc::new(DynamoDbMediaRecords::new(dynamodb, &config.table_name)),
        dead_letters: Arc::new(SqsDeadLetters::new(
            sqs.clone(),
            &config.media_dead_letter_queue_url,
        )),
        retries: Arc::new(SqsRetryScheduler::new(sqs, &config.media_queue_url)),
        settings: handler::Settings {
            max_attempts: config.max_attempts,
            retry_base_secs: config.retry_base_secs,
            retry_max_secs: config.retry_max_secs,
        },
        start_margin: config.start_margin(),
        now_ms,
        profiles,
    };
    let deps = &deps;
    lambda_runtime::run(service_fn(move |event: LambdaEvent<SqsEvent>| async move {
        let time_left = sqs_batch::time_left(event.context.deadline());
        let failures = handler::handle_batch(deps, &event.payload.records, time_left).await;
        Ok::<_, lambda_runtime::Error>(sqs_batch::response(failures))
    }))
    .await
}
