//! `reply-api`: agents and CRM systems submit replies over HTTPS, signed with their client's
//! HMAC secret; each accepted reply is queued for `reply-sender`, and its delivery state can
//! be read back by the client that created it.
//!
//! - `config.rs`: the environment it reads;
//! - `handler.rs`: routes, authentication, idempotency and the answers (with `handler/tests.rs`);
//!   `handler/contacts.rs`: the CRM's names for WeChat customers.

mod config;
mod handler;

use gateway_aws::sdk::{consumer_timeouts, load_sdk_config_with_timeouts};
use gateway_aws::{
    DynamoDbApiRequests, DynamoDbConversationStore, DynamoDbCrmContacts, DynamoDbDeliveryLedger,
    SecretsManagerAccountDirectory, SqsReplyQueue,
};
use gateway_core::account::AccountsRole;
use handler::REQUEST_TTL_SECS;
use lambda_http::{Request, service_fn};
use std::sync::Arc;

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    lambda_http::tracing::init_default_subscriber();
    let config = config::Config::from_env()?;
    // A hung dependency fails the request quickly instead of stalling.
    let sdk = load_sdk_config_with_timeouts(consumer_timeouts()).await?;
    let store = DynamoDbConversationStore::new(
        aws_sdk_dynamodb::Client::new(&sdk),
        &config.table_name,
        None,
    );
    let secret = aws_sdk_secretsmanager::Client::new(&sdk);
    let api = handler::ReplyApi {
        accounts: Arc::new(
            SecretsManagerAccountDirectory::new(
                secret,
                &config.accounts_secret_id,
                config.accounts_cache,
            )
            .for_role(AccountsRole::ApiClients)
            // A revoked client is refused from the first request after ACCOUNTS_CACHE_SECS.
            .refreshing_in_request()
            .with_max_stale(config.accounts_max_stale)
            .with_observer(gateway_lambda::metrics::accounts_observer("reply-api")),
        ),
        conversations: Arc::new(store.clone()),
        requests: Arc::new(DynamoDbApiRequests::new(store.clone(), REQUEST_TTL_SECS)),
        contacts: Arc::new(DynamoDbCrmContacts::new(store.clone())),
        // Only read here; the TTL is the sender's business.
        ledger: Arc::new(DynamoDbDeliveryLedger::new(store, REQUEST_TTL_SECS)),
        queue: Arc::new(SqsReplyQueue::new(
            aws_sdk_sqs::Client::new(&sdk),
            &config.outbound_queue_url,
        )),
        accept_v1: config.accept_v1,
        max_clock_skew_secs: config.max_clock_skew_secs,
        max_body_bytes: config.max_body_bytes,
    };
    let api = &api;
    lambda_http::run(service_fn(move |request: Request| async move {
        Ok::<_, std::convert::Infallible>(handler::handle_request(api, request).await)
    }))
    .await
}
