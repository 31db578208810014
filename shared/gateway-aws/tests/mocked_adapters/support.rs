//! Mocked clients, service errors as sent on the wire, request recorders and fixtures.

use aws_sdk_dynamodb::error::ErrorMetadata;
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::types::error::TransactionCanceledException;
use aws_sdk_dynamodb::types::{AttributeValue, CancellationReason};
use aws_smithy_mocks::{Rule, RuleMode, mock_client};
use aws_smithy_runtime_api::client::orchestrator::HttpResponse;
use aws_smithy_runtime_api::http::StatusCode;
use aws_smithy_types::body::SdkBody;
use gateway_core::NormalizedMessage;
use gateway_core::conversation::Conversation;
use gateway_core::outbound::ReplyCommand;
use gateway_core::ports::{PortError, Retry};
use gateway_core::reply::ReplyContent;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// The table every DynamoDB adapter is given here.
pub const TABLE: &str = "gateway-conversations-test";

/// A DynamoDB client answered by `rules` (any order), SDK retries off.
pub fn dynamodb(rules: &[&Rule]) -> aws_sdk_dynamodb::Client {
    mock_client!(aws_sdk_dynamodb, RuleMode::MatchAny, rules, |c| c
        .retry_config(
            aws_sdk_dynamodb::config::retry::RetryConfig::disabled()
        ))
}

/// An SQS client answered by `rules` (any order), SDK retries off.
pub fn sqs(rules: &[&Rule]) -> aws_sdk_sqs::Client {
    mock_client!(aws_sdk_sqs, RuleMode::MatchAny, rules, |c| c
        .retry_config(aws_sdk_sqs::config::retry::RetryConfig::disabled()))
}

/// A Secrets Manager client answered by `rules` (any order), SDK retries off.
pub fn secrets(rules: &[&Rule]) -> aws_sdk_secretsmanager::Client {
    mock_client!(aws_sdk_secretsmanager, RuleMode::MatchAny, rules, |c| c
        .retry_config(
            aws_sdk_secretsmanager::config::retry::RetryConfig::disabled()
        ))
}

/// A service error as the JSON protocols (DynamoDB, SQS, Secrets Manager) send it: the status
/// and a body with `__type` (the SDK takes the error code from it) and `message`.
pub fn aws_error(status: u16, error_type: &str, message: &str) -> HttpResponse {
    let body = serde_json::json!({ "__type": error_type, "message": message });
    HttpResponse::new(
        StatusCode::try_from(status).unwrap(),
        SdkBody::from(body.to_string()),
    )
}

/// DynamoDB's error type names carry the API version.
pub fn dynamodb_error(status: u16, code: &str) -> HttpResponse {
    aws_error(
        status,
        &format!("com.amazonaws.dynamodb.v20120810#{code}"),
        "mocked",
    )
}

/// A conditional write refused by its condition, as DynamoDB sends it.
pub fn condition_failed() -> HttpResponse {
    dynamodb_error(400, "ConditionalCheckFailedException")
}

/// DynamoDB throttling (on-demand tables too), as sent.
pub fn throttled() -> HttpResponse {
    dynamodb_error(400, "ProvisionedThroughputExceededException")
}

/// A server-side failure without a code the adapters know.
pub fn internal_error() -> HttpResponse {
    aws_error(500, "InternalServerError", "mocked")
}

/// A cancellation with one reason per item, as the SDK models it (the error code set the way
/// the SDK's parser sets it).
pub fn cancelled<S: AsRef<str>>(codes: &[Option<S>]) -> TransactWriteItemsError {
    let reasons = codes
        .iter()
        .map(|code| {
            CancellationReason::builder()
                .set_code(code.as_ref().map(|c| c.as_ref().to_string()))
                .build()
        })
        .collect();
    TransactWriteItemsError::TransactionCanceledException(
        TransactionCanceledException::builder()
            .message(
                "Transaction cancelled, please refer cancellation reasons for specific reasons",
            )
            .set_cancellation_reasons(Some(reasons))
            .meta(
                ErrorMetadata::builder()
                    .code("TransactionCanceledException")
                    .build(),
            )
            .build(),
    )
}

/// A rule's response: the transaction cancelled with one reason code per item.
pub fn cancellation(
    codes: &[&str],
) -> impl Fn() -> TransactWriteItemsError + Send + Sync + 'static {
    let codes: Vec<Option<String>> = codes.iter().map(|c| Some(c.to_string())).collect();
    move || cancelled(&codes)
}

/// The requests a rule saw, in order.
#[derive(Debug)]
pub struct Seen<T>(Arc<Mutex<Vec<T>>>);

impl<T> Clone for Seen<T> {
    fn clone(&self) -> Self {
        Seen(self.0.clone())
    }
}

impl<T> Default for Seen<T> {
    fn default() -> Self {
        Seen(Arc::default())
    }
}

impl<T: Clone> Seen<T> {
    pub fn push(&self, request: &T) {
        self.0.lock().unwrap().push(request.clone());
    }

    pub fn all(&self) -> Vec<T> {
        self.0.lock().unwrap().clone()
    }

    /// The one request seen; fails if there were none or several.
    pub fn only(&self) -> T {
        let all = self.all();
        assert_eq!(all.len(), 1, "expected exactly one request");
        all.into_iter().next().unwrap()
    }
}

/// Asserts a transient error of `operation`.
#[track_caller]
pub fn assert_transient<T: std::fmt::Debug>(result: Result<T, PortError>, operation: &str) {
    let e = result.expect_err("an error");
    assert_eq!(e.retry, Retry::Transient, "{e:?}");
    assert_eq!(e.operation, operation, "{e:?}");
}

/// Asserts a permanent error of `operation`.
#[track_caller]
pub fn assert_permanent<T: std::fmt::Debug>(result: Result<T, PortError>, operation: &str) {
    let e = result.expect_err("an error");
    assert_eq!(e.retry, Retry::Permanent, "{e:?}");
    assert_eq!(e.operation, operation, "{e:?}");
}

pub type Item = HashMap<String, AttributeValue>;

pub fn s(value: &str) -> AttributeValue {
    AttributeValue::S(value.to_string())
}

pub fn n(value: i64) -> AttributeValue {
    AttributeValue::N(value.to_string())
}

/// The attribute `name` of `item`; fails naming it when absent.
#[track_caller]
pub fn attr<'a>(item: &'a Item, name: &str) -> &'a AttributeValue {
    item.get(name)
        .unwrap_or_else(|| panic!("no attribute {name} in {:?}", item.keys()))
}

/// The expression attribute names or values of a request as a sorted list, for comparing.
pub fn sorted<V: Clone>(map: Option<&HashMap<String, V>>) -> Vec<(String, V)> {
    let mut v: Vec<(String, V)> = map
        .into_iter()
        .flatten()
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    v.sort_by(|a, b| a.0.cmp(&b.0));
    v
}

/// Received 2024-04-25 (ms), so every time-derived key below is fixed.
pub const RECEIVED_AT_MS: i64 = 1_714_000_000_123;

/// A WeChat text message from customer `openid-1` of account `demo`.
pub fn message() -> NormalizedMessage {
    gateway_core::testing::text_message("demo", "openid-1", "24001", "你好", RECEIVED_AT_MS)
}

/// The conversation of [`message`] after it, at `version`.
pub fn conversation(version: u64, tags: &[&str]) -> Conversation {
    let m = message();
    let mut c = Conversation::new_for(&m);
    c.record_inbound(&m);
    c.tags = tags.iter().map(|t| t.to_string()).collect();
    c.version = version;
    c
}

/// An auto-reply to [`message`].
pub fn reply() -> ReplyCommand {
    ReplyCommand::auto_reply(
        &message(),
        "welcome",
        0,
        ReplyContent::text("您好，我们马上回复"),
        RECEIVED_AT_MS + 50,
    )
}

/// An EventBridge client answered by `rules` (any order), SDK retries off.
pub fn eventbridge(rules: &[&Rule]) -> aws_sdk_eventbridge::Client {
    mock_client!(aws_sdk_eventbridge, RuleMode::MatchAny, rules, |c| c
        .retry_config(
            aws_sdk_eventbridge::config::retry::RetryConfig::disabled()
        ))
}
