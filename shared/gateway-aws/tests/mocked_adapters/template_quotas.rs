//! Template messages' daily quota on `DynamoDbDeliveryLedger`: the quota day read before a
//! template send (one consistent `GetItem`), its `sent` + 1 inside the delivered transaction,
//! the 45009 marker, and the hold (record `held`, holds counted apart).

use crate::support::{
    Seen, TABLE, attr, condition_failed, conversation, dynamodb, n, reply, s, sorted,
};
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::operation::get_item::{GetItemInput, GetItemOutput};
use aws_sdk_dynamodb::operation::put_item::{PutItemInput, PutItemOutput};
use aws_sdk_dynamodb::operation::transact_write_items::{
    TransactWriteItemsInput, TransactWriteItemsOutput,
};
use aws_sdk_dynamodb::operation::update_item::{UpdateItemInput, UpdateItemOutput};
use aws_sdk_dynamodb::types::{AttributeValue, ReturnValue};
use aws_smithy_mocks::{MockResponse, Rule, mock};
use gateway_aws::{DynamoDbConversationStore, DynamoDbDeliveryLedger};
use gateway_core::delivery::ports::DeliveryLedger;
use gateway_core::delivery::template_quota::{QuotaDay, TemplateQuotas};
use gateway_core::outbound::ReplyCommand;
use gateway_core::reply::ReplyContent;
use gateway_core::reply::template::TemplateField;

const RECORD_TTL_SECS: i64 = 14 * 86_400;
/// 2027-01-15T23:30:00+08:00 (15:30 UTC): still the 15th in Beijing, half an hour before the
/// reset.
const LATE_EVENING_MS: i64 = 1_800_027_000_000;
/// The Beijing midnight after [`LATE_EVENING_MS`], Unix seconds.
const RESET_SECS: i64 = (LATE_EVENING_MS + 1_800_000) / 1000;

fn ledger(rules: &[&Rule]) -> DynamoDbDeliveryLedger {
    let store = DynamoDbConversationStore::new(dynamodb(rules), TABLE, None);
    DynamoDbDeliveryLedger::new(store, RECORD_TTL_SECS)
}

fn template() -> ReplyCommand {
    let mut c = reply();
    c.content = ReplyContent::Template {
        template_id: "tpl-1".into(),
        data: [("first".to_string(), TemplateField::new("您好"))].into(),
        url: None,
        miniprogram: None,
    };
    c
}

fn quota_key(day: &str) -> Vec<(String, AttributeValue)> {
    vec![
        ("PK".to_string(), s("TPLQUOTA#wechat#demo")),
        ("SK".to_string(), s(&format!("DAY#{day}"))),
    ]
}

#[test]
fn the_fixture_times_are_where_their_names_say() {
    use gateway_core::delivery::template_quota::{next_reset_ms, quota_day};
    assert_eq!(quota_day(LATE_EVENING_MS), "2027-01-15");
    assert_eq!(next_reset_ms(LATE_EVENING_MS) / 1000, RESET_SECS);
    assert_eq!(quota_day(RESET_SECS * 1000), "2027-01-16");
}

#[tokio::test]
async fn the_quota_day_is_one_consistent_get_of_the_accounts_beijing_date() {
    let seen: Seen<GetItemInput> = Seen::default();
    let s2 = seen.clone();
    let rule = mock!(Client::get_item).then_compute_output(move |request| {
        s2.push(request);
        GetItemOutput::builder()
            .set_item(Some(
                [
                    ("sent".to_string(), n(2)),
                    ("exhausted_at_ms".to_string(), n(LATE_EVENING_MS)),
                ]
                .into(),
            ))
            .build()
    });
    let day = ledger(&[&rule]).day("demo", "2027-01-15").await.unwrap();
    assert_eq!(
        day,
        QuotaDay {
            sent: 2,
            exhausted_at_ms: Some(LATE_EVENING_MS)
        }
    );
    let request = seen.only();
    assert_eq!(request.table_name(), Some(TABLE));
    assert_eq!(sorted(request.key()), quota_key("2027-01-15"));
    assert_eq!(request.consistent_read(), Some(true));

    // No item: nothing sent that day.
    let empty = mock!(Client::get_item).then_output(|| GetItemOutput::builder().build());
    assert_eq!(
        ledger(&[&empty]).day("demo", "2027-01-16").await.unwrap(),
        QuotaDay::default()
    );
}

#[tokio::test]
async fn a_45009_sets_the_days_exhausted_marker_once_with_its_ttl() {
    let seen: Seen<UpdateItemInput> = Seen::default();
    let s2 = seen.clone();
    let rule = mock!(Client::update_item).then_compute_output(move |request| {
        s2.push(request);
        UpdateItemOutput::builder().build()
    });
    ledger(&[&rule])
        .mark_exhausted("demo", "2027-01-15", LATE_EVENING_MS)
        .await
        .unwrap();
    let request = seen.only();
    assert_eq!(sorted(request.key()), quota_key("2027-01-15"));
    assert_eq!(
        request.update_expression(),
        Some(
            "SET entity = :entity, expires_at = :exp, exhausted_at_ms = if_not_exists(exhausted_at_ms, :now)"
        )
    );
    assert_eq!(
        sorted(request.expression_attribute_values()),
        [
            (":entity".to_string(), s("template_quota")),
            (":exp".to_string(), n(RESET_SECS + 3 * 86_400)),
            (":now".to_string(), n(LATE_EVENING_MS)),
        ]
    );
}

#[tokio::test]
async fn a_template_is_counted_on_its_quota_day_inside_the_delivered_transaction() {
    let command = template();
    let (previous, next) = (conversation(4, &[]), conversation(5, &[]));
    let seen: Seen<TransactWriteItemsInput> = Seen::default();
    let s2 = seen.clone();
    let rule = mock!(Client::transact_write_items).then_compute_response(move |request| {
        s2.push(request);
        MockResponse::Output(TransactWriteItemsOutput::builder().build())
    });
    ledger(&[&rule])
        .commit_delivered(&command, Some(&previous), Some(&next), LATE_EVENING_MS)
        .await
        .unwrap();
    let request = seen.only();
    let [_record, _message, _conversation, quota] = request.transact_items() else {
        panic!("record, message, conversation, quota: {request:?}")
    };
    let update = quota.update().expect("the quota day update");
    assert_eq!(update.table_name(), TABLE);
    assert_eq!(sorted(Some(update.key())), quota_key("2027-01-15"));
    assert_eq!(
        update.update_expression(),
        "SET entity = :entity, expires_at = :exp ADD sent :one"
    );
    assert_eq!(update.condition_expression(), None);
    assert_eq!(
        sorted(update.expression_attribute_values()),
        [
            (":entity".to_string(), s("template_quota")),
            (":exp".to_string(), n(RESET_SECS + 3 * 86_400)),
            (":one".to_string(), n(1)),
        ]
    );

    // A customer-service reply is not counted: three items.
    let seen: Seen<TransactWriteItemsInput> = Seen::default();
    let s2 = seen.clone();
    let rule = mock!(Client::transact_write_items).then_compute_response(move |request| {
        s2.push(request);
        MockResponse::Output(TransactWriteItemsOutput::builder().build())
    });
    ledger(&[&rule])
        .commit_delivered(&reply(), Some(&previous), Some(&next), LATE_EVENING_MS)
        .await
        .unwrap();
    assert_eq!(seen.only().transact_items().len(), 3);
}

#[tokio::test]
async fn a_hold_writes_the_held_record_then_counts_the_hold_apart() {
    let command = template();
    let puts: Seen<PutItemInput> = Seen::default();
    let updates: Seen<UpdateItemInput> = Seen::default();
    let (p2, u2) = (puts.clone(), updates.clone());
    let put = mock!(Client::put_item).then_compute_output(move |request| {
        p2.push(request);
        PutItemOutput::builder().build()
    });
    let update = mock!(Client::update_item).then_compute_output(move |request| {
        u2.push(request);
        UpdateItemOutput::builder()
            .set_attributes(Some([("holds".to_string(), n(3))].into()))
            .build()
    });
    let retry_at = RESET_SECS * 1000;
    let holds = ledger(&[&put, &update])
        .hold(
            &command,
            "template_quota_exhausted",
            "WeChat answered 45009",
            retry_at,
            LATE_EVENING_MS,
        )
        .await
        .unwrap();
    assert_eq!(holds, 3);

    let request = puts.only();
    assert_eq!(
        request.condition_expression(),
        Some("attribute_not_exists(PK) OR #s = :held")
    );
    let item = request.item().unwrap();
    assert_eq!(
        attr(item, "PK"),
        &s(&format!("REPLY#{}", command.dedupe_id()))
    );
    assert_eq!(attr(item, "SK"), &s("DELIVERY"));
    assert_eq!(attr(item, "state"), &s("held"));
    assert_eq!(attr(item, "reason"), &s("template_quota_exhausted"));
    assert_eq!(attr(item, "retry_at_ms"), &n(retry_at));
    assert_eq!(attr(item, "held_because"), &s("WeChat answered 45009"));
    for absent in ["GSI1PK", "calling_since_ms", "error_code"] {
        assert!(!item.contains_key(absent), "{absent}");
    }

    let request = updates.only();
    assert_eq!(
        sorted(request.key()),
        [
            (
                "PK".to_string(),
                s(&format!("REPLY#{}", command.dedupe_id()))
            ),
            ("SK".to_string(), s("HOLDS")),
        ]
    );
    assert_eq!(
        request.update_expression(),
        Some("SET expires_at = :exp, conversation_key = :ck ADD holds :one")
    );
    assert_eq!(
        sorted(request.expression_attribute_values()),
        [
            (":ck".to_string(), s("wechat:demo:openid-1")),
            (
                ":exp".to_string(),
                n(LATE_EVENING_MS / 1000 + RECORD_TTL_SECS)
            ),
            (":one".to_string(), n(1)),
        ]
    );
    assert_eq!(request.return_values(), Some(&ReturnValue::UpdatedNew));
}

#[tokio::test]
async fn a_hold_over_a_record_that_moved_on_is_transient_and_counts_nothing() {
    let put = mock!(Client::put_item).then_http_response(condition_failed);
    let update = mock!(Client::update_item).then_output(|| UpdateItemOutput::builder().build());
    let result = ledger(&[&put, &update])
        .hold(&template(), "template_quota_exhausted", "x", 1, 0)
        .await;
    let e = result.expect_err("moved on");
    assert!(e.is_retryable(), "{e}");
    assert_eq!(update.num_calls(), 0);
}

#[tokio::test]
async fn the_hold_count_is_read_consistently_and_absent_means_none() {
    let seen: Seen<GetItemInput> = Seen::default();
    let s2 = seen.clone();
    let rule = mock!(Client::get_item).then_compute_output(move |request| {
        s2.push(request);
        GetItemOutput::builder()
            .set_item(Some([("holds".to_string(), n(2))].into()))
            .build()
    });
    assert_eq!(ledger(&[&rule]).holds("r1").await.unwrap(), 2);
    let request = seen.only();
    assert_eq!(request.consistent_read(), Some(true));
    assert_eq!(
        sorted(request.key()),
        [
            ("PK".to_string(), s("REPLY#r1")),
            ("SK".to_string(), s("HOLDS"))
        ]
    );
    let none = mock!(Client::get_item).then_output(|| GetItemOutput::builder().build());
    assert_eq!(ledger(&[&none]).holds("r1").await.unwrap(), 0);
}
