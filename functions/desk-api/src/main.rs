//! `desk-api`: the API of the agents' and supervisors' desk. Agents and supervisors sign in
//! with Amazon Cognito; every request carries the pool's access token, validated here
//! (issuer, client, use, expiry, signature against the pool's keys) as well as by the HTTP
//! API's JWT authorizer, so the function behaves the same locally and on AWS.
//!
//! - `config.rs`: the environment it reads;
//! - `auth.rs`: the access token and who it names;
//! - `handler.rs`: routes and answers (with `handler/`).
//!
//! `config` and `auth` are in the crate's library (`lib.rs`), which the integration tests use
//! too; the imports below make them `crate::config` and `crate::auth` here.

mod handler;

use desk_api::{auth, config};
use gateway_aws::sdk::{consumer_timeouts, load_sdk_config_with_timeouts};
use gateway_aws::{
    BundledRules, DynamoDbConversationStore, DynamoDbDesk, DynamoDbRulesSource, DynamoDbRulesStore,
    DynamoDbStats, SqsReplyQueue,
};
use lambda_http::{Request, service_fn};
use std::sync::Arc;

/// The daily statistics records, for `GET /stats`.
struct StatsReader(DynamoDbStats);

#[async_trait::async_trait]
impl handler::DailyStats for StatsReader {
    async fn days(
        &self,
        channel: gateway_core::Channel,
        account: &str,
        from: chrono::NaiveDate,
        to: chrono::NaiveDate,
    ) -> Result<Vec<gateway_core::stats::DailyRecord>, gateway_core::ports::PortError> {
        self.0.days(channel, account, from, to).await
    }
}

/// The request's Cognito access token ([`auth::TokenVerifier`]) as the handler's identity;
/// a refusal keeps the verifier's status (401, or 503 when the pool's keys are unavailable)
/// and code.
#[async_trait::async_trait]
impl handler::Authenticator for auth::TokenVerifier {
    async fn identify(
        &self,
        authorization: Option<&str>,
        now_secs: u64,
    ) -> Result<handler::Identity, handler::Refusal> {
        let now = std::time::UNIX_EPOCH + std::time::Duration::from_secs(now_secs);
        self.verify_header(authorization, now)
            .await
            .map(|identity| handler::Identity {
                username: identity.username,
                groups: identity.groups,
            })
            .map_err(|e| handler::Refusal::new(e.status(), e.code(), e.to_string()))
    }
}

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    lambda_http::tracing::init_default_subscriber();
    let config = config::Config::from_env()?;
    let sdk = load_sdk_config_with_timeouts(consumer_timeouts()).await?;
    let dynamodb = aws_sdk_dynamodb::Client::new(&sdk);
    let store = DynamoDbConversationStore::new(dynamodb.clone(), &config.table_name, None);
    let desk = handler::Desk {
        auth: Arc::new(auth::TokenVerifier::from_config(&config)?),
        store: Arc::new(DynamoDbDesk::new(store.clone())),
        queue: Arc::new(SqsReplyQueue::new(
            aws_sdk_sqs::Client::new(&sdk),
            &config.outbound_queue_url,
        )),
        rules: Arc::new(DynamoDbRulesSource::new(
            DynamoDbRulesStore::new(dynamodb.clone(), &config.table_name),
            config.rules_cache,
            BundledRules::from_yaml(gateway_lambda::BUNDLED_RULES),
        )),
        stats: Arc::new(StatsReader(DynamoDbStats::new(
            dynamodb,
            &config.table_name,
        ))),
        inboxes: Arc::new(store),
        policy: config.reply_policy,
        max_body_bytes: config.max_body_bytes,
    };
    let desk = &desk;
    lambda_http::run(service_fn(move |request: Request| async move {
        Ok::<_, std::convert::Infallible>(handler::handle_request(desk, request).await)
    }))
    .await
}
