//! `DynamoDbConversationStore`: the router's commit of a message with its conversation (one
//! transaction: the dedupe marker put only if absent, the thread item at the conversation's
//! next place, the conversation put only over the version it was read at, the tag items), the
//! reads, and how each failure maps.

use crate::support::{
    Item, RECEIVED_AT_MS, Seen, TABLE, assert_permanent, assert_transient, attr, cancellation,
    conversation, dynamodb, dynamodb_error, internal_error, message, n, s, sorted, throttled,
};
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::operation::get_item::GetItemOutput;
use aws_sdk_dynamodb::operation::query::QueryOutput;
use aws_sdk_dynamodb::operation::transact_write_items::{
    TransactWriteItemsInput, TransactWriteItemsOutput,
};
use aws_sdk_dynamodb::types::{Put, TransactWriteItem};
use aws_smithy_mocks::{MockResponse, mock};
use gateway_aws::DynamoDbConversationStore;
use gateway_aws::dynamodb::transactions::CONTENTION_ATTEMPTS;
use gateway_core::conversation::Conversation;
use gateway_core::ports::{CommitOutcome, ConversationStore};

const MESSAGE_TTL_SECS: i64 = 30 * 86_400;
const PK: &str = "CONV#wechat:demo:openid-1";
const TRANSACT: &str = "dynamodb transact_write_items";

fn store(client: Client) -> DynamoDbConversationStore {
    DynamoDbConversationStore::new(client, TABLE, Some(MESSAGE_TTL_SECS))
}

/// Commits `next` over `previous`, records the transaction, answers it with `respond`.
async fn commit(
    previous: Option<&Conversation>,
    next: &Conversation,
    respond: impl Fn() -> MockResponse<
        TransactWriteItemsOutput,
        aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError,
    > + Send
    + Sync
    + 'static,
) -> (
    Result<CommitOutcome, gateway_core::ports::PortError>,
    Vec<TransactWriteItemsInput>,
) {
    let seen = Seen::default();
    let rule = mock!(Client::transact_write_items).then_compute_response({
        let seen = seen.clone();
        move |request| {
            seen.push(request);
            respond()
        }
    });
    let result = store(dynamodb(&[&rule]))
        .commit_inbound(&message(), previous, next)
        .await;
    (result, seen.all())
}

fn committed() -> MockResponse<
    TransactWriteItemsOutput,
    aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError,
> {
    MockResponse::Output(TransactWriteItemsOutput::builder().build())
}

#[track_caller]
fn put(write: &TransactWriteItem) -> &Put {
    write.put().expect("a put")
}

/// The dedupe marker: item 0, keyed by platform fields only (every copy of the message maps to
/// this one item), stored only if absent, expiring with the message.
#[track_caller]
fn assert_marker_put(write: &TransactWriteItem) {
    let m = message();
    let put = put(write);
    assert_eq!(put.table_name(), TABLE);
    assert_eq!(put.condition_expression(), Some("attribute_not_exists(PK)"));
    assert!(put.expression_attribute_values().is_none());
    let item = put.item();
    assert_eq!(attr(item, "PK"), &s(PK));
    assert_eq!(attr(item, "SK"), &s(&format!("DEDUPE#{}", m.dedupe_id())));
    assert_eq!(attr(item, "entity"), &s("dedupe"));
    assert_eq!(
        attr(item, "expires_at"),
        &n(RECEIVED_AT_MS / 1000 + MESSAGE_TTL_SECS)
    );
}

/// The message put: item 1, at the conversation's next place in the thread (`seq`, zero-padded
/// to 12 digits, then the dedupe id), stored only if absent.
#[track_caller]
fn assert_message_put(write: &TransactWriteItem, seq: u64) {
    let m = message();
    let put = put(write);
    assert_eq!(put.table_name(), TABLE);
    assert_eq!(put.condition_expression(), Some("attribute_not_exists(PK)"));
    assert!(put.expression_attribute_values().is_none());
    let item = put.item();
    assert_eq!(attr(item, "PK"), &s(PK));
    assert_eq!(
        attr(item, "SK"),
        &s(&format!("MSG#{seq:012}#{}", m.dedupe_id()))
    );
    assert_eq!(attr(item, "seq"), &n(seq as i64));
    assert_eq!(attr(item, "entity"), &s("message"));
    assert_eq!(attr(item, "direction"), &s("in"));
    assert_eq!(attr(item, "dedupe_id"), &s(&m.dedupe_id()));
    assert_eq!(attr(item, "kind"), &s("text"));
    assert_eq!(attr(item, "received_at_ms"), &n(RECEIVED_AT_MS));
    assert_eq!(
        attr(item, "expires_at"),
        &n(RECEIVED_AT_MS / 1000 + MESSAGE_TTL_SECS)
    );
    let stored: gateway_core::NormalizedMessage =
        serde_dynamo::from_attribute_value(attr(item, "message").clone()).unwrap();
    assert_eq!(stored, m);
}

/// The conversation item's keys and index keys (an open conversation waiting since the
/// message).
#[track_caller]
fn assert_conversation_item(item: &Item, next: &Conversation) {
    assert_eq!(attr(item, "PK"), &s(PK));
    assert_eq!(attr(item, "SK"), &s("META"));
    assert_eq!(attr(item, "entity"), &s("conversation"));
    assert_eq!(attr(item, "GSI1PK"), &s("INBOX#wechat#demo#open"));
    assert_eq!(
        attr(item, "GSI1SK"),
        &s("0-waiting#1#1714000000123#wechat:demo:openid-1")
    );
    // The attribute the version condition reads.
    assert_eq!(attr(item, "version"), &n(next.version as i64));
    let stored: Conversation = serde_dynamo::from_item(item.clone()).unwrap();
    assert_eq!(&stored, next);
}

#[tokio::test]
async fn a_first_message_creates_the_conversation_only_if_it_does_not_exist() {
    let next = conversation(1, &[]);
    let (result, requests) = commit(None, &next, committed).await;
    assert_eq!(result.unwrap(), CommitOutcome::Stored);
    let [request] = requests.as_slice() else {
        panic!("one transaction: {requests:?}")
    };
    let [marker_put, message_put, conversation_put] = request.transact_items() else {
        panic!("marker, message and conversation: {request:?}")
    };
    assert_marker_put(marker_put);
    assert_message_put(message_put, 1);
    assert_eq!(next.thread_seq, 1);
    let put = put(conversation_put);
    assert_eq!(put.table_name(), TABLE);
    assert_eq!(put.condition_expression(), Some("attribute_not_exists(PK)"));
    assert!(put.expression_attribute_names().is_none());
    assert!(put.expression_attribute_values().is_none());
    assert_conversation_item(put.item(), &next);
}

#[tokio::test]
async fn a_later_message_writes_over_the_version_read_and_moves_the_tag_items() {
    let previous = conversation(4, &["billing", "vip"]);
    let next = conversation(5, &["complaint", "vip"]);
    let (result, requests) = commit(Some(&previous), &next, committed).await;
    assert_eq!(result.unwrap(), CommitOutcome::Stored);
    let [request] = requests.as_slice() else {
        panic!("one transaction: {requests:?}")
    };
    let [
        marker_put,
        message_put,
        conversation_put,
        tag_put,
        tag_delete,
    ] = request.transact_items()
    else {
        panic!("marker, message, conversation, one tag added, one removed: {request:?}")
    };
    assert_marker_put(marker_put);
    assert_message_put(message_put, next.thread_seq);

    let put = put(conversation_put);
    assert_eq!(put.condition_expression(), Some("#v = :v"));
    assert_eq!(
        sorted(put.expression_attribute_names()),
        [("#v".to_string(), "version".to_string())]
    );
    // The version the conversation was read at; the item carries the next one.
    assert_eq!(
        sorted(put.expression_attribute_values()),
        [(":v".to_string(), n(4))]
    );
    assert_conversation_item(put.item(), &next);

    let tag = self::put(tag_put);
    assert_eq!(tag.table_name(), TABLE);
    assert_eq!(tag.condition_expression(), None);
    let item = tag.item();
    assert_eq!(attr(item, "PK"), &s(PK));
    assert_eq!(attr(item, "SK"), &s("TAG#complaint"));
    assert_eq!(attr(item, "entity"), &s("tag"));
    assert_eq!(attr(item, "GSI2PK"), &s("TAG#wechat#demo#complaint"));
    assert_eq!(
        attr(item, "GSI2SK"),
        &s("1714000000123#wechat:demo:openid-1")
    );

    let delete = tag_delete.delete().expect("a delete");
    assert_eq!(delete.table_name(), TABLE);
    assert_eq!(
        sorted(Some(delete.key())),
        [
            ("PK".to_string(), s(PK)),
            ("SK".to_string(), s("TAG#billing"))
        ]
    );
}

#[tokio::test]
async fn a_failed_marker_or_message_condition_is_a_duplicate_and_a_failed_version_a_conflict() {
    let previous = conversation(4, &[]);
    let next = conversation(5, &[]);
    for (codes, outcome) in [
        (
            ["ConditionalCheckFailed", "None", "None"],
            CommitOutcome::Duplicate,
        ),
        (
            ["None", "ConditionalCheckFailed", "None"],
            CommitOutcome::Duplicate,
        ),
        (
            ["None", "None", "ConditionalCheckFailed"],
            CommitOutcome::Conflict,
        ),
        (
            ["ConditionalCheckFailed", "None", "ConditionalCheckFailed"],
            CommitOutcome::Duplicate,
        ),
    ] {
        let respond = cancellation(&codes);
        let (result, requests) = commit(Some(&previous), &next, move || {
            MockResponse::Error(respond())
        })
        .await;
        assert_eq!(result.unwrap(), outcome, "{codes:?}");
        assert_eq!(requests.len(), 1, "{codes:?}: an answer is not retried");
    }
}

#[tokio::test]
async fn contention_throttling_and_server_errors_are_transient_a_missing_table_permanent() {
    let next = conversation(1, &[]);
    let conflict = cancellation(&["None", "None", "TransactionConflict"]);
    let (result, requests) = commit(None, &next, move || MockResponse::Error(conflict())).await;
    assert_transient(result, TRANSACT);
    assert_eq!(requests.len(), CONTENTION_ATTEMPTS as usize);

    let (result, requests) = commit(None, &next, || MockResponse::Http(throttled())).await;
    assert_transient(result, TRANSACT);
    assert_eq!(requests.len(), 1);

    let (result, _) = commit(None, &next, || MockResponse::Http(internal_error())).await;
    assert_transient(result, TRANSACT);

    let (result, _) = commit(None, &next, || {
        MockResponse::Http(dynamodb_error(400, "ResourceNotFoundException"))
    })
    .await;
    assert_permanent(result, TRANSACT);
}

#[tokio::test]
async fn load_reads_the_meta_item_consistently() {
    let stored = conversation(7, &["vip"]);
    let seen = Seen::default();
    let rule = mock!(Client::get_item).then_compute_output({
        let seen = seen.clone();
        let item: Item = serde_dynamo::to_item(&stored).unwrap();
        move |request| {
            seen.push(request);
            GetItemOutput::builder()
                .set_item(Some(item.clone()))
                .build()
        }
    });
    let store = store(dynamodb(&[&rule]));
    assert_eq!(
        store.load("wechat:demo:openid-1").await.unwrap(),
        Some(stored)
    );
    let request = seen.only();
    assert_eq!(request.table_name(), Some(TABLE));
    assert_eq!(
        sorted(request.key()),
        [("PK".to_string(), s(PK)), ("SK".to_string(), s("META"))]
    );
    assert_eq!(request.consistent_read(), Some(true));

    let missing = mock!(Client::get_item).then_output(|| GetItemOutput::builder().build());
    let store = self::store(dynamodb(&[&missing]));
    assert_eq!(store.load("wechat:demo:nobody").await.unwrap(), None);
}

#[tokio::test]
async fn a_failed_load_is_transient_when_throttled_or_5xx_and_permanent_when_denied() {
    for (response, transient) in [
        (throttled as fn() -> _, true),
        (internal_error, true),
        (|| dynamodb_error(400, "ThrottlingException"), true),
        (
            || {
                crate::support::aws_error(
                    400,
                    "com.amazon.coral.service#AccessDeniedException",
                    "no",
                )
            },
            false,
        ),
    ] {
        let rule = mock!(Client::get_item).then_http_response(response);
        let result = store(dynamodb(&[&rule])).load("wechat:demo:openid-1").await;
        if transient {
            assert_transient(result, "dynamodb get_item");
        } else {
            assert_permanent(result, "dynamodb get_item");
        }
    }
}

#[tokio::test]
async fn every_code_the_sdk_retries_as_throttling_or_transient_is_a_transient_error() {
    for code in gateway_aws::error::TRANSIENT_CODES {
        let rule = mock!(Client::get_item).then_http_response(move || dynamodb_error(400, code));
        let result = store(dynamodb(&[&rule])).load("wechat:demo:openid-1").await;
        assert_transient(result, "dynamodb get_item");
    }
    for code in [
        "RequestTimeout",
        "BandwidthLimitExceeded",
        "PriorRequestNotComplete",
    ] {
        assert!(
            gateway_aws::error::TRANSIENT_CODES.contains(&code),
            "{code}"
        );
    }
}

#[tokio::test]
async fn messages_are_read_page_by_page_from_the_last_evaluated_key() {
    let m = message();
    let message_item: Item = [
        ("PK".to_string(), s(PK)),
        ("SK".to_string(), s("MSG#000000000001#x")),
        (
            "message".to_string(),
            serde_dynamo::to_attribute_value(&m).unwrap(),
        ),
    ]
    .into();
    let last_key: Item = [
        ("PK".to_string(), s(PK)),
        ("SK".to_string(), s("MSG#000000000001#x")),
    ]
    .into();
    let seen = Seen::default();
    let rule = mock!(Client::query).then_compute_output({
        let seen = seen.clone();
        move |request| {
            seen.push(request);
            // First page: one message and a continuation key; second page: the end (an item
            // without a `message` attribute, e.g. an outbound record, is skipped).
            if seen.all().len() == 1 {
                QueryOutput::builder()
                    .items(message_item.clone())
                    .set_last_evaluated_key(Some(last_key.clone()))
                    .build()
            } else {
                QueryOutput::builder()
                    .items([("PK".to_string(), s(PK))].into())
                    .items(message_item.clone())
                    .build()
            }
        }
    });
    let messages = store(dynamodb(&[&rule]))
        .messages("wechat:demo:openid-1")
        .await
        .unwrap();
    assert_eq!(messages, [m.clone(), m]);
    let requests = seen.all();
    assert_eq!(requests.len(), 2);
    for request in &requests {
        assert_eq!(request.table_name(), Some(TABLE));
        assert_eq!(
            request.key_condition_expression(),
            Some("PK = :pk AND begins_with(SK, :msg)")
        );
        assert_eq!(
            sorted(request.expression_attribute_values()),
            [(":msg".to_string(), s("MSG#")), (":pk".to_string(), s(PK))]
        );
        assert_eq!(request.consistent_read(), Some(true));
    }
    assert_eq!(requests[0].exclusive_start_key(), None);
    assert_eq!(
        sorted(requests[1].exclusive_start_key()),
        sorted(Some(
            &[
                ("PK".to_string(), s(PK)),
                ("SK".to_string(), s("MSG#000000000001#x")),
            ]
            .into()
        ))
    );
}
