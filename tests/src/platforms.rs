//! The set-up the integration tests against the running functions share: the platform
//! stand-ins forgetting what earlier tests did, the token cache forgetting the tokens the
//! stand-ins forgot, and queues left empty.

use aws_sdk_dynamodb::types::AttributeValue;
use gatewayctl::stub::StubAdmin;

/// The platform stand-ins `make test` started (`GATEWAY_STUB_URL`).
pub fn stub() -> StubAdmin {
    StubAdmin::new(std::env::var("GATEWAY_STUB_URL").expect(
        "GATEWAY_STUB_URL is not set: these tests need the platform stand-ins; run `make test`",
    ))
}

/// The stand-ins forget their tokens, scripted failures and requests; so does the token cache
/// of each of `wechat_accounts` (or a test would begin with a token the stand-ins refuse).
pub async fn reset_platforms<'a>(
    stub: &StubAdmin,
    ddb: &aws_sdk_dynamodb::Client,
    table: &str,
    wechat_accounts: impl IntoIterator<Item = &'a String>,
) {
    stub.reset().await.unwrap();
    for account in wechat_accounts {
        ddb.delete_item()
            .table_name(table)
            .key(
                "PK",
                AttributeValue::S(gateway_aws::dynamodb::tokens::token_pk(account)),
            )
            .key("SK", AttributeValue::S("TOKEN".into()))
            .send()
            .await
            .unwrap();
    }
}

/// Receives and deletes everything on each of `queue_urls`.
pub async fn drain_all(sqs: &aws_sdk_sqs::Client, queue_urls: &[&String]) {
    for url in queue_urls {
        crate::drain_messages(sqs, url).await;
    }
}
