//! `dynamodb::transactions::transact`: every cancellation reason code DynamoDB documents
//! (`TransactionCanceledException` in the API reference), the contention retries counted on
//! the mock, and the errors that are not cancellations.

use crate::support::{
    TABLE, assert_permanent, assert_transient, cancelled, dynamodb, dynamodb_error, internal_error,
    s, throttled,
};
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsOutput;
use aws_sdk_dynamodb::types::{Put, TransactWriteItem};
use aws_smithy_mocks::{MockResponse, mock};
use aws_smithy_runtime_api::client::orchestrator::HttpResponse;
use aws_smithy_runtime_api::http::StatusCode;
use aws_smithy_types::body::SdkBody;
use gateway_aws::dynamodb::transactions::{CONTENTION_ATTEMPTS, Transacted, transact};

const OPERATION: &str = "test transaction";

/// Two puts, as the adapters write them.
fn items() -> Vec<TransactWriteItem> {
    ["a", "b"]
        .into_iter()
        .map(|k| {
            let put = Put::builder()
                .table_name(TABLE)
                .item("PK", s(k))
                .item("SK", s("META"))
                .condition_expression("attribute_not_exists(PK)")
                .build()
                .unwrap();
            TransactWriteItem::builder().put(put).build()
        })
        .collect()
}

/// What `transact` is expected to make of a cancellation.
#[derive(Debug)]
enum Expect {
    /// `Transacted::ConditionsFailed(indexes)` after one call.
    Answer(Vec<usize>),
    /// A transient error after `CONTENTION_ATTEMPTS` calls.
    RetriedThenTransient,
    /// A permanent error after one call.
    Permanent,
}

#[tokio::test]
async fn every_documented_cancellation_reason_code_has_its_outcome() {
    use Expect::*;
    let cases: &[(&[Option<&str>], Expect)] = &[
        // The documented codes, each beside an item that was fine ("None").
        (
            &[Some("ConditionalCheckFailed"), Some("None")],
            Answer(vec![0]),
        ),
        (
            &[Some("None"), Some("ConditionalCheckFailed")],
            Answer(vec![1]),
        ),
        (
            &[Some("None"), Some("TransactionConflict")],
            RetriedThenTransient,
        ),
        (
            &[Some("ThrottlingError"), Some("None")],
            RetriedThenTransient,
        ),
        (
            &[Some("None"), Some("ProvisionedThroughputExceeded")],
            RetriedThenTransient,
        ),
        (
            &[Some("ItemCollectionSizeLimitExceeded"), Some("None")],
            Permanent,
        ),
        (&[Some("None"), Some("ValidationError")], Permanent),
        // A code DynamoDB may add one day is not taken for contention.
        (&[Some("SomeFutureReason"), Some("None")], Permanent),
        // Combinations: a failed condition is an answer whatever else happened; contention
        // of several kinds is still contention; contention with a wrong request is not.
        (
            &[
                Some("ConditionalCheckFailed"),
                Some("ConditionalCheckFailed"),
            ],
            Answer(vec![0, 1]),
        ),
        (
            &[Some("TransactionConflict"), Some("ConditionalCheckFailed")],
            Answer(vec![1]),
        ),
        (
            &[Some("TransactionConflict"), Some("ThrottlingError")],
            RetriedThenTransient,
        ),
        (
            &[Some("ValidationError"), Some("TransactionConflict")],
            Permanent,
        ),
        // A cancellation without any reason code.
        (&[None, Some("None")], Permanent),
        (&[], Permanent),
    ];
    for (codes, expect) in cases {
        let owned: Vec<Option<String>> = codes.iter().map(|c| c.map(String::from)).collect();
        let rule = mock!(Client::transact_write_items).then_error(move || cancelled(&owned));
        let client = dynamodb(&[&rule]);
        let result = transact(&client, items(), OPERATION).await;
        let calls = rule.num_calls();
        match expect {
            Answer(indexes) => {
                assert_eq!(
                    result.expect("an answer"),
                    Transacted::ConditionsFailed(indexes.clone()),
                    "{codes:?}"
                );
                assert_eq!(calls, 1, "{codes:?}: an answer is not retried");
            }
            RetriedThenTransient => {
                assert_transient(result, OPERATION);
                assert_eq!(calls, CONTENTION_ATTEMPTS as usize, "{codes:?}");
            }
            Permanent => {
                assert_permanent(result, OPERATION);
                assert_eq!(calls, 1, "{codes:?}: not retried");
            }
        }
    }
}

#[tokio::test]
async fn a_committed_transaction_is_sent_once_with_the_items_unchanged() {
    let seen = crate::support::Seen::default();
    let rule = mock!(Client::transact_write_items).then_compute_output({
        let seen = seen.clone();
        move |request| {
            seen.push(request);
            TransactWriteItemsOutput::builder().build()
        }
    });
    let client = dynamodb(&[&rule]);
    assert_eq!(
        transact(&client, items(), OPERATION).await.unwrap(),
        Transacted::Committed
    );
    assert_eq!(seen.only().transact_items(), items().as_slice());
}

#[tokio::test]
async fn contention_that_clears_commits_and_every_attempt_sends_the_same_items() {
    let seen = crate::support::Seen::default();
    let rule = mock!(Client::transact_write_items).then_compute_response({
        let seen = seen.clone();
        move |request| {
            seen.push(request);
            if seen.all().len() < CONTENTION_ATTEMPTS as usize {
                MockResponse::Error(cancelled(&[Some("TransactionConflict"), Some("None")]))
            } else {
                MockResponse::Output(TransactWriteItemsOutput::builder().build())
            }
        }
    });
    let client = dynamodb(&[&rule]);
    assert_eq!(
        transact(&client, items(), OPERATION).await.unwrap(),
        Transacted::Committed
    );
    let attempts = seen.all();
    assert_eq!(attempts.len(), CONTENTION_ATTEMPTS as usize);
    for request in attempts {
        assert_eq!(request.transact_items(), items().as_slice());
    }
}

/// A `TransactionCanceledException` as DynamoDB sends it: one reason per item, the codes
/// also listed in the message.
fn wire_cancellation(
    reasons: &[(&str, &str)],
) -> impl Fn() -> HttpResponse + Send + Sync + 'static {
    let codes: Vec<&str> = reasons.iter().map(|(code, _)| *code).collect();
    let body = serde_json::json!({
        "__type": "com.amazonaws.dynamodb.v20120810#TransactionCanceledException",
        "Message": format!(
            "Transaction cancelled, please refer cancellation reasons for specific reasons [{}]",
            codes.join(", ")
        ),
        "CancellationReasons": reasons
            .iter()
            .map(|(code, message)| match *message {
                "" => serde_json::json!({ "Code": code }),
                m => serde_json::json!({ "Code": code, "Message": m }),
            })
            .collect::<Vec<_>>(),
    })
    .to_string();
    move || {
        HttpResponse::new(
            StatusCode::try_from(400).unwrap(),
            SdkBody::from(body.clone()),
        )
    }
}

#[tokio::test]
async fn the_cancellation_reasons_are_read_from_the_wire_response() {
    // The body as sent, so the SDK's parsing of `CancellationReasons` is tested too.
    let rule = mock!(Client::transact_write_items).then_http_response(wire_cancellation(&[
        ("None", ""),
        ("ConditionalCheckFailed", "The conditional request failed"),
    ]));
    let client = dynamodb(&[&rule]);
    assert_eq!(
        transact(&client, items(), OPERATION).await.unwrap(),
        Transacted::ConditionsFailed(vec![1])
    );

    let rule = mock!(Client::transact_write_items).then_http_response(wire_cancellation(&[
        ("TransactionConflict", "Transaction is ongoing for the item"),
        ("None", ""),
    ]));
    let client = dynamodb(&[&rule]);
    assert_transient(transact(&client, items(), OPERATION).await, OPERATION);
    assert_eq!(rule.num_calls(), CONTENTION_ATTEMPTS as usize);
}

#[tokio::test]
async fn errors_that_are_not_cancellations_are_not_retried_here_and_keep_their_class() {
    // (response, transient?) — throttling and 5xx are transient (the SDK has retried them
    // already in the functions), a wrong request or a missing table permanent.
    let cases: Vec<(fn() -> HttpResponse, bool)> = vec![
        (throttled, true),
        (|| dynamodb_error(400, "ThrottlingException"), true),
        (|| dynamodb_error(400, "RequestLimitExceeded"), true),
        (
            || dynamodb_error(400, "TransactionInProgressException"),
            true,
        ),
        (internal_error, true),
        (|| dynamodb_error(503, "ServiceUnavailable"), true),
        (|| dynamodb_error(400, "ValidationException"), false),
        (|| dynamodb_error(400, "ResourceNotFoundException"), false),
        (
            || dynamodb_error(400, "IdempotentParameterMismatchException"),
            false,
        ),
    ];
    for (response, transient) in cases {
        let rule = mock!(Client::transact_write_items).then_http_response(response);
        let client = dynamodb(&[&rule]);
        let result = transact(&client, items(), OPERATION).await;
        if transient {
            assert_transient(result, OPERATION);
        } else {
            assert_permanent(result, OPERATION);
        }
        assert_eq!(rule.num_calls(), 1);
    }
}
