//! `DynamoDbDeliveryLedger`: the conditional writes of the delivery record (claim, release,
//! sent, failed) and the transactions of its final states, and what a failed condition means
//! in each.

use crate::support::{
    Item, RECEIVED_AT_MS, Seen, TABLE, assert_permanent, assert_transient, attr, cancellation,
    condition_failed, conversation, dynamodb, internal_error, n, reply, s, sorted, throttled,
};
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::operation::delete_item::DeleteItemOutput;
use aws_sdk_dynamodb::operation::get_item::GetItemOutput;
use aws_sdk_dynamodb::operation::put_item::{PutItemInput, PutItemOutput};
use aws_sdk_dynamodb::operation::transact_write_items::{
    TransactWriteItemsError, TransactWriteItemsInput, TransactWriteItemsOutput,
};
use aws_sdk_dynamodb::operation::update_item::UpdateItemOutput;
use aws_sdk_dynamodb::types::AttributeValue;
use aws_smithy_mocks::{MockResponse, Rule, mock};
use aws_smithy_runtime_api::client::orchestrator::HttpResponse;
use gateway_aws::{DynamoDbConversationStore, DynamoDbDeliveryLedger};
use gateway_core::delivery::ports::{ClaimOutcome, DeliveryLedger, DeliveryRecord, DeliveryState};
use gateway_core::delivery::window::{UndeliverableReason, UndeliverableReply};
use gateway_core::outbound::ReplyCommand;
use gateway_core::ports::CommitOutcome;

const RECORD_TTL_SECS: i64 = 14 * 86_400;
const MESSAGE_TTL_SECS: i64 = 30 * 86_400;
const NOW_MS: i64 = RECEIVED_AT_MS + 2_000;
const TRANSACT: &str = "dynamodb transact_write_items (delivery)";

fn ledger(rules: &[&Rule]) -> DynamoDbDeliveryLedger {
    let store = DynamoDbConversationStore::new(dynamodb(rules), TABLE, Some(MESSAGE_TTL_SECS));
    DynamoDbDeliveryLedger::new(store, RECORD_TTL_SECS)
}

fn record_pk(command: &ReplyCommand) -> AttributeValue {
    s(&format!("REPLY#{}", command.dedupe_id()))
}

fn record_key(command: &ReplyCommand) -> Vec<(String, AttributeValue)> {
    vec![
        ("PK".to_string(), record_pk(command)),
        ("SK".to_string(), s("DELIVERY")),
    ]
}

fn state_name() -> Vec<(String, String)> {
    vec![("#s".to_string(), "state".to_string())]
}

/// The fields every record write carries.
#[track_caller]
fn assert_record_item(item: &Item, command: &ReplyCommand, state: &str, now_ms: i64) {
    assert_eq!(attr(item, "PK"), &record_pk(command));
    assert_eq!(attr(item, "SK"), &s("DELIVERY"));
    assert_eq!(attr(item, "entity"), &s("delivery"));
    assert_eq!(attr(item, "reply_id"), &s(&command.dedupe_id()));
    assert_eq!(attr(item, "state"), &s(state));
    assert_eq!(attr(item, "conversation_key"), &s("wechat:demo:openid-1"));
    assert_eq!(attr(item, "channel"), &s("wechat"));
    assert_eq!(attr(item, "account_id"), &s("demo"));
    assert_eq!(attr(item, "origin"), &s("rule"));
    assert_eq!(attr(item, "updated_at_ms"), &n(now_ms));
    assert_eq!(
        attr(item, "expires_at"),
        &n(now_ms / 1000 + RECORD_TTL_SECS)
    );
    let stored: ReplyCommand = serde_dynamo::from_attribute_value(attr(item, "command").clone())
        .expect("the command, as queued");
    assert_eq!(&stored, command);
}

/// A put_item rule recording its requests and answering with `respond`.
fn put_rule(seen: &Seen<PutItemInput>, respond: fn() -> Option<HttpResponse>) -> Rule {
    let seen = seen.clone();
    mock!(Client::put_item).then_compute_response(move |request| {
        seen.push(request);
        match respond() {
            Some(http) => MockResponse::Http(http),
            None => MockResponse::Output(PutItemOutput::builder().build()),
        }
    })
}

#[tokio::test]
async fn a_claim_creates_the_calling_record_only_if_the_reply_has_none_or_is_held() {
    let command = reply();
    let seen = Seen::default();
    let rule = put_rule(&seen, || None);
    assert_eq!(
        ledger(&[&rule]).claim(&command, NOW_MS).await.unwrap(),
        ClaimOutcome::Claimed
    );
    let request = seen.only();
    assert_eq!(request.table_name(), Some(TABLE));
    assert_eq!(
        request.condition_expression(),
        Some("attribute_not_exists(PK) OR #s = :held")
    );
    assert_eq!(sorted(request.expression_attribute_names()), state_name());
    assert_eq!(
        sorted(request.expression_attribute_values()),
        [(":held".to_string(), s("held"))]
    );
    let item = request.item().unwrap();
    assert_record_item(item, &command, "calling", NOW_MS);
    assert_eq!(attr(item, "calling_since_ms"), &n(NOW_MS));
    for absent in ["reason", "error_code", "GSI1PK", "GSI1SK", "sent_at_ms"] {
        assert!(!item.contains_key(absent), "{absent}");
    }
}

#[tokio::test]
async fn a_claim_refused_by_its_condition_returns_the_existing_record() {
    let command = reply();
    let seen = Seen::default();
    let put = put_rule(&seen, || Some(condition_failed()));
    let gets = Seen::default();
    let existing: Item = [
        ("PK".to_string(), record_pk(&command)),
        ("SK".to_string(), s("DELIVERY")),
        ("reply_id".to_string(), s(&command.dedupe_id())),
        ("state".to_string(), s("sent")),
        ("calling_since_ms".to_string(), n(NOW_MS - 900)),
        ("sent_at_ms".to_string(), n(NOW_MS - 100)),
        ("updated_at_ms".to_string(), n(NOW_MS - 100)),
    ]
    .into();
    let get = mock!(Client::get_item).then_compute_output({
        let gets = gets.clone();
        move |request| {
            gets.push(request);
            GetItemOutput::builder()
                .set_item(Some(existing.clone()))
                .build()
        }
    });
    let outcome = ledger(&[&put, &get]).claim(&command, NOW_MS).await.unwrap();
    assert_eq!(
        outcome,
        ClaimOutcome::Exists(DeliveryRecord {
            reply_id: command.dedupe_id(),
            state: DeliveryState::Sent,
            calling_since_ms: Some(NOW_MS - 900),
            sent_at_ms: Some(NOW_MS - 100),
            reason: None,
            error_code: None,
            platform_id: None,
            retry_at_ms: None,
            updated_at_ms: NOW_MS - 100,
        })
    );
    let request = gets.only();
    assert_eq!(request.table_name(), Some(TABLE));
    assert_eq!(sorted(request.key()), record_key(&command));
    assert_eq!(request.consistent_read(), Some(true));

    // Released between the refused put and the read: transient, try again later.
    let put = put_rule(&Seen::default(), || Some(condition_failed()));
    let get = mock!(Client::get_item).then_output(|| GetItemOutput::builder().build());
    assert_transient(
        ledger(&[&put, &get]).claim(&command, NOW_MS).await,
        "claim delivery",
    );
}

#[tokio::test]
async fn a_claim_that_fails_otherwise_is_transient_when_throttled_or_5xx() {
    let command = reply();
    for respond in [(|| Some(throttled())) as fn() -> _, || {
        Some(internal_error())
    }] {
        let put = put_rule(&Seen::default(), respond);
        assert_transient(
            ledger(&[&put]).claim(&command, NOW_MS).await,
            "dynamodb put_item (claim delivery)",
        );
    }
    let put = put_rule(&Seen::default(), || {
        Some(crate::support::dynamodb_error(400, "ValidationException"))
    });
    assert_permanent(
        ledger(&[&put]).claim(&command, NOW_MS).await,
        "dynamodb put_item (claim delivery)",
    );
    // The read after a refused claim fails: its own error, as classified.
    let put = put_rule(&Seen::default(), || Some(condition_failed()));
    let get = mock!(Client::get_item).then_http_response(throttled);
    assert_transient(
        ledger(&[&put, &get]).claim(&command, NOW_MS).await,
        "dynamodb get_item (delivery)",
    );
}

#[tokio::test]
async fn release_deletes_the_record_only_while_calling() {
    let command = reply();
    let seen = Seen::default();
    let rule = mock!(Client::delete_item).then_compute_output({
        let seen = seen.clone();
        move |request| {
            seen.push(request);
            DeleteItemOutput::builder().build()
        }
    });
    ledger(&[&rule])
        .release(&command.dedupe_id())
        .await
        .unwrap();
    let request = seen.only();
    assert_eq!(request.table_name(), Some(TABLE));
    assert_eq!(sorted(request.key()), record_key(&command));
    assert_eq!(request.condition_expression(), Some("#s = :calling"));
    assert_eq!(sorted(request.expression_attribute_names()), state_name());
    assert_eq!(
        sorted(request.expression_attribute_values()),
        [(":calling".to_string(), s("calling"))]
    );

    // A record that moved on is left alone, and that is not an error.
    let refused = mock!(Client::delete_item).then_http_response(condition_failed);
    ledger(&[&refused])
        .release(&command.dedupe_id())
        .await
        .unwrap();
    let failing = mock!(Client::delete_item).then_http_response(internal_error);
    assert_transient(
        ledger(&[&failing]).release(&command.dedupe_id()).await,
        "dynamodb delete_item (release delivery)",
    );
}

#[tokio::test]
async fn mark_sent_moves_calling_to_sent_and_accepts_a_record_that_moved_on() {
    let command = reply();
    let seen = Seen::default();
    let rule = mock!(Client::update_item).then_compute_output({
        let seen = seen.clone();
        move |request| {
            seen.push(request);
            UpdateItemOutput::builder().build()
        }
    });
    ledger(&[&rule])
        .mark_sent(&command.dedupe_id(), NOW_MS, None)
        .await
        .unwrap();
    let request = seen.only();
    assert_eq!(request.table_name(), Some(TABLE));
    assert_eq!(sorted(request.key()), record_key(&command));
    assert_eq!(
        request.update_expression(),
        Some("SET #s = :sent, sent_at_ms = :now, updated_at_ms = :now")
    );
    assert_eq!(request.condition_expression(), Some("#s = :calling"));
    assert_eq!(sorted(request.expression_attribute_names()), state_name());
    assert_eq!(
        sorted(request.expression_attribute_values()),
        [
            (":calling".to_string(), s("calling")),
            (":now".to_string(), n(NOW_MS)),
            (":sent".to_string(), s("sent")),
        ]
    );

    let refused = mock!(Client::update_item).then_http_response(condition_failed);
    ledger(&[&refused])
        .mark_sent(&command.dedupe_id(), NOW_MS, None)
        .await
        .unwrap();
    let throttled = mock!(Client::update_item).then_http_response(throttled);
    assert_transient(
        ledger(&[&throttled])
            .mark_sent(&command.dedupe_id(), NOW_MS, None)
            .await,
        "dynamodb update_item (mark sent)",
    );
}

#[tokio::test]
async fn mark_sent_keeps_the_platform_id_of_a_public_comment() {
    let command = reply();
    let seen = Seen::default();
    let rule = mock!(Client::update_item).then_compute_output({
        let seen = seen.clone();
        move |request| {
            seen.push(request);
            UpdateItemOutput::builder().build()
        }
    });
    ledger(&[&rule])
        .mark_sent(&command.dedupe_id(), NOW_MS, Some("4900000000000999"))
        .await
        .unwrap();
    let request = seen.only();
    assert_eq!(
        request.update_expression(),
        Some("SET #s = :sent, sent_at_ms = :now, updated_at_ms = :now, platform_id = :pid")
    );
    assert_eq!(request.condition_expression(), Some("#s = :calling"));
    assert!(
        sorted(request.expression_attribute_values())
            .contains(&(":pid".to_string(), s("4900000000000999")))
    );
}

#[tokio::test]
async fn mark_failed_writes_the_indexed_failed_record_over_none_calling_or_held() {
    let command = reply();
    let seen = Seen::default();
    let rule = put_rule(&seen, || None);
    ledger(&[&rule])
        .mark_failed(&command, "wechat:40003", "invalid openid", NOW_MS)
        .await
        .unwrap();
    let request = seen.only();
    assert_eq!(request.table_name(), Some(TABLE));
    assert_eq!(
        request.condition_expression(),
        Some("attribute_not_exists(PK) OR #s IN (:calling, :held)")
    );
    assert_eq!(sorted(request.expression_attribute_names()), state_name());
    assert_eq!(
        sorted(request.expression_attribute_values()),
        [
            (":calling".to_string(), s("calling")),
            (":held".to_string(), s("held"))
        ]
    );
    let item = request.item().unwrap();
    assert_record_item(item, &command, "failed", NOW_MS);
    assert_eq!(attr(item, "reason"), &s("invalid openid"));
    assert_eq!(attr(item, "error_code"), &s("wechat:40003"));
    assert_eq!(attr(item, "GSI1PK"), &s("DELIVERY#wechat#demo#failed"));
    assert_eq!(
        attr(item, "GSI1SK"),
        &s(&format!("{NOW_MS:013}#{}", command.dedupe_id()))
    );
    assert!(!item.contains_key("calling_since_ms"));

    // Already final (delivered, undeliverable, failed): nothing to do.
    let refused = put_rule(&Seen::default(), || Some(condition_failed()));
    ledger(&[&refused])
        .mark_failed(&command, "wechat:40003", "invalid openid", NOW_MS)
        .await
        .unwrap();
    let failing = put_rule(&Seen::default(), || Some(internal_error()));
    assert_transient(
        ledger(&[&failing])
            .mark_failed(&command, "wechat:40003", "invalid openid", NOW_MS)
            .await,
        "dynamodb put_item (mark failed)",
    );
}

/// A transact_write_items rule recording its requests and answering with `respond`.
fn transact_rule(
    seen: &Seen<TransactWriteItemsInput>,
    respond: impl Fn() -> MockResponse<TransactWriteItemsOutput, TransactWriteItemsError>
    + Send
    + Sync
    + 'static,
) -> Rule {
    let seen = seen.clone();
    mock!(Client::transact_write_items).then_compute_response(move |request| {
        seen.push(request);
        respond()
    })
}

fn committed() -> MockResponse<TransactWriteItemsOutput, TransactWriteItemsError> {
    MockResponse::Output(TransactWriteItemsOutput::builder().build())
}

#[tokio::test]
async fn delivered_commits_the_record_the_outbound_message_and_the_conversation_together() {
    let command = reply();
    let previous = conversation(4, &[]);
    let mut next = conversation(5, &[]);
    // The reply takes the conversation's next place in the thread.
    let seq = next.next_thread_seq();
    assert_eq!(seq, 2);
    let sent_at = NOW_MS + 300;
    let seen = Seen::default();
    let rule = transact_rule(&seen, committed);
    let outcome = ledger(&[&rule])
        .commit_delivered(&command, Some(&previous), Some(&next), sent_at)
        .await
        .unwrap();
    assert_eq!(outcome, CommitOutcome::Stored);
    let request = seen.only();
    let [record, message, conversation] = request.transact_items() else {
        panic!("record, message, conversation: {request:?}")
    };

    let update = record.update().expect("the record update");
    assert_eq!(update.table_name(), TABLE);
    assert_eq!(sorted(Some(update.key())), record_key(&command));
    assert_eq!(
        update.update_expression(),
        "SET #s = :delivered, updated_at_ms = :now, thread_sk = :tsk"
    );
    assert_eq!(update.condition_expression(), Some("#s = :sent"));
    assert_eq!(sorted(update.expression_attribute_names()), state_name());
    // The record keeps where the reply sits in the thread (a template message's finish report
    // marks it there).
    assert_eq!(
        sorted(update.expression_attribute_values()),
        [
            (":delivered".to_string(), s("delivered")),
            (":now".to_string(), n(sent_at)),
            (":sent".to_string(), s("sent")),
            (
                ":tsk".to_string(),
                s(&format!("MSG#{seq:012}#{}", command.dedupe_id()))
            ),
        ]
    );

    let put = message.put().expect("the outbound message");
    assert_eq!(put.table_name(), TABLE);
    assert_eq!(put.condition_expression(), Some("attribute_not_exists(PK)"));
    let item = put.item();
    assert_eq!(attr(item, "PK"), &s("CONV#wechat:demo:openid-1"));
    assert_eq!(
        attr(item, "SK"),
        &s(&format!("MSG#{seq:012}#{}", command.dedupe_id()))
    );
    assert_eq!(attr(item, "seq"), &n(seq as i64));
    assert_eq!(attr(item, "direction"), &s("out"));
    assert_eq!(attr(item, "dedupe_id"), &s(&command.dedupe_id()));
    assert_eq!(attr(item, "kind"), &s("text"));
    assert_eq!(attr(item, "sent_at_ms"), &n(sent_at));
    assert_eq!(
        attr(item, "expires_at"),
        &n(sent_at / 1000 + MESSAGE_TTL_SECS)
    );
    let stored: ReplyCommand =
        serde_dynamo::from_attribute_value(attr(item, "reply").clone()).expect("the command");
    assert_eq!(stored, command);

    let put = conversation.put().expect("the conversation");
    assert_eq!(put.condition_expression(), Some("#v = :v"));
    assert_eq!(
        sorted(put.expression_attribute_names()),
        [("#v".to_string(), "version".to_string())]
    );
    assert_eq!(
        sorted(put.expression_attribute_values()),
        [(":v".to_string(), n(4))]
    );
    assert_eq!(attr(put.item(), "SK"), &s("META"));
    assert_eq!(attr(put.item(), "version"), &n(5));

    // Without a conversation change: the record and the message only.
    let seen = Seen::default();
    let rule = transact_rule(&seen, committed);
    ledger(&[&rule])
        .commit_delivered(&command, None, None, sent_at)
        .await
        .unwrap();
    assert_eq!(seen.only().transact_items().len(), 2);
}

#[tokio::test]
async fn a_failed_condition_of_a_final_state_is_a_duplicate_or_a_conflict_by_item() {
    let command = reply();
    let previous = conversation(4, &[]);
    let next = conversation(5, &[]);
    let mark = UndeliverableReply {
        reply_id: command.dedupe_id(),
        reason: UndeliverableReason::WindowClosed,
        platform_code: Some("wechat:45015".into()),
        at: NOW_MS,
    };
    // Delivered: [record, message, conversation].
    for (codes, with_conversation, expected) in [
        (
            &["ConditionalCheckFailed", "None", "None"][..],
            true,
            CommitOutcome::Duplicate,
        ),
        (
            &["None", "ConditionalCheckFailed", "None"][..],
            true,
            CommitOutcome::Duplicate,
        ),
        (
            &["None", "None", "ConditionalCheckFailed"][..],
            true,
            CommitOutcome::Conflict,
        ),
        (
            &["ConditionalCheckFailed", "None", "ConditionalCheckFailed"][..],
            true,
            CommitOutcome::Duplicate,
        ),
        (
            &["None", "ConditionalCheckFailed"][..],
            false,
            CommitOutcome::Duplicate,
        ),
    ] {
        let respond = cancellation(codes);
        let rule = transact_rule(&Seen::default(), move || MockResponse::Error(respond()));
        let (previous, next) = if with_conversation {
            (Some(&previous), Some(&next))
        } else {
            (None, None)
        };
        let outcome = ledger(&[&rule])
            .commit_delivered(&command, previous, next, NOW_MS)
            .await
            .unwrap();
        assert_eq!(outcome, expected, "delivered {codes:?}");
        assert_eq!(rule.num_calls(), 1);
    }
    // Undeliverable: [record, conversation].
    for (codes, expected) in [
        (["ConditionalCheckFailed", "None"], CommitOutcome::Duplicate),
        (["None", "ConditionalCheckFailed"], CommitOutcome::Conflict),
    ] {
        let respond = cancellation(&codes);
        let rule = transact_rule(&Seen::default(), move || MockResponse::Error(respond()));
        let outcome = ledger(&[&rule])
            .commit_undeliverable(&command, Some(&previous), Some(&next), &mark)
            .await
            .unwrap();
        assert_eq!(outcome, expected, "undeliverable {codes:?}");
    }
    // Contention and throttling stay transient.
    let respond = cancellation(&["TransactionConflict", "None"]);
    let rule = transact_rule(&Seen::default(), move || MockResponse::Error(respond()));
    assert_transient(
        ledger(&[&rule])
            .commit_undeliverable(&command, Some(&previous), Some(&next), &mark)
            .await,
        TRANSACT,
    );
    let rule = transact_rule(&Seen::default(), || MockResponse::Http(throttled()));
    assert_transient(
        ledger(&[&rule])
            .commit_delivered(&command, None, None, NOW_MS)
            .await,
        TRANSACT,
    );
}

#[tokio::test]
async fn undeliverable_writes_the_indexed_record_over_none_calling_or_held_with_the_conversation() {
    let command = reply();
    let next = conversation(1, &[]);
    let mark = UndeliverableReply {
        reply_id: command.dedupe_id(),
        reason: UndeliverableReason::WindowClosed,
        platform_code: Some("wechat:45015".into()),
        at: NOW_MS,
    };
    let seen = Seen::default();
    let rule = transact_rule(&seen, committed);
    ledger(&[&rule])
        .commit_undeliverable(&command, None, Some(&next), &mark)
        .await
        .unwrap();
    let request = seen.only();
    let [record, conversation] = request.transact_items() else {
        panic!("record and conversation: {request:?}")
    };
    let put = record.put().expect("the record");
    assert_eq!(put.table_name(), TABLE);
    assert_eq!(
        put.condition_expression(),
        Some("attribute_not_exists(PK) OR #s IN (:calling, :held)")
    );
    assert_eq!(sorted(put.expression_attribute_names()), state_name());
    assert_eq!(
        sorted(put.expression_attribute_values()),
        [
            (":calling".to_string(), s("calling")),
            (":held".to_string(), s("held"))
        ]
    );
    let item = put.item();
    assert_record_item(item, &command, "undeliverable", NOW_MS);
    assert_eq!(attr(item, "reason"), &s("window_closed"));
    assert_eq!(attr(item, "error_code"), &s("wechat:45015"));
    assert_eq!(
        attr(item, "GSI1PK"),
        &s("DELIVERY#wechat#demo#undeliverable")
    );
    // A new conversation: created only if absent.
    let put = conversation.put().expect("the conversation");
    assert_eq!(put.condition_expression(), Some("attribute_not_exists(PK)"));
    assert!(put.expression_attribute_values().is_none());
}
