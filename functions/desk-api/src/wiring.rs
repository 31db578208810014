//! The desk's ports wired to their AWS adapters: what `main.rs` runs, and what the tests that
//! count AWS calls run against the emulator.

use crate::config::Config;
use crate::handler::{self, DailyStats, Desk, MediaSettings, Uploads};
use crate::{auth, handler::Authenticator};
use gateway_aws::{
    BundledRules, DynamoDbAccessTokens, DynamoDbConversationStore, DynamoDbCrmContacts,
    DynamoDbDesk, DynamoDbRulesSource, DynamoDbRulesStore, DynamoDbStats, S3MediaLinks, S3Uploads,
    SecretsManagerAccountDirectory, SqsReplyQueue,
};
use gateway_core::account::AccountsRole;
use gateway_core::desk::media::MediaLinks;
use gateway_platforms::WeChatClient;
use std::sync::Arc;

/// The daily statistics records, for `GET /stats`.
struct StatsReader(DynamoDbStats);

#[async_trait::async_trait]
impl DailyStats for StatsReader {
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
impl Authenticator for auth::TokenVerifier {
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

/// The desk over the AWS clients of `sdk`, signing in with `auth`.
pub fn desk(config: &Config, sdk: &aws_config::SdkConfig, auth: Arc<dyn Authenticator>) -> Desk {
    let dynamodb = aws_sdk_dynamodb::Client::new(sdk);
    let store = DynamoDbConversationStore::new(dynamodb.clone(), &config.table_name, None);
    Desk {
        auth,
        store: Arc::new(DynamoDbDesk::new(store.clone())),
        queue: Arc::new(SqsReplyQueue::new(
            aws_sdk_sqs::Client::new(sdk),
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
        contacts: Arc::new(DynamoDbCrmContacts::new(store.clone())),
        inboxes: Arc::new(store),
        policy: config.reply_policy,
        max_body_bytes: config.max_body_bytes,
        media: MediaSettings {
            links: config.media_bucket.as_ref().map(|bucket| {
                let s3 = gateway_aws::s3::client(sdk);
                Arc::new(S3MediaLinks::new(s3, bucket)) as Arc<dyn MediaLinks>
            }),
            link_ttl: config.media_url_ttl,
            uploads: uploads(config, sdk),
            max_upload_bytes: config.max_upload_bytes,
        },
    }
}

/// A random id of this function instance: the owner of the token leases it takes.
fn instance_id() -> String {
    let random = gateway_core::channel::wechat::crypto::random_prefix();
    let hex: String = random.iter().map(|b| format!("{b:02x}")).collect();
    format!("desk-api-{hex}")
}

/// What `POST /media` needs, when the bucket and the delivery secret are configured.
fn uploads(config: &Config, sdk: &aws_config::SdkConfig) -> Option<Arc<Uploads>> {
    let (Some(bucket), Some(secret)) = (&config.media_bucket, &config.delivery_secret_id) else {
        return None;
    };
    let http = match gateway_platforms::http_client(config.platform_timeout) {
        Ok(h) => h,
        Err(e) => {
            tracing::error!(error = %e, "no HTTP client: POST /media is unavailable");
            return None;
        }
    };
    let wechat = Arc::new(WeChatClient::new(
        http,
        &config.wechat_api_base_url,
        config.wechat_token_api,
    ));
    Some(Arc::new(Uploads {
        accounts: Arc::new(
            SecretsManagerAccountDirectory::new(
                aws_sdk_secretsmanager::Client::new(sdk),
                secret,
                config.accounts_cache,
            )
            .for_role(AccountsRole::Delivery),
        ),
        store: Arc::new(S3Uploads::new(gateway_aws::s3::client(sdk), bucket)),
        tokens: Arc::new(DynamoDbAccessTokens::new(
            aws_sdk_dynamodb::Client::new(sdk),
            &config.table_name,
            wechat.clone(),
            config.token_timing,
            instance_id(),
            Arc::new(gateway_lambda::now_ms),
        )),
        wechat,
    }))
}
