//! `DynamoDbTemplateSends` and `DynamoDbDeliveryLedger::mark_template_sent`: the template
//! message lookup written with the msgid, and a finish report settling the record and its
//! thread item in one transaction, conditional on `accepted`.

use crate::support::{Seen, TABLE, cancellation, dynamodb, n, reply, s};
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::operation::get_item::GetItemOutput;
use aws_sdk_dynamodb::operation::transact_write_items::{
    TransactWriteItemsError, TransactWriteItemsInput, TransactWriteItemsOutput,
};
use aws_smithy_mocks::{MockResponse, Rule, mock};
use gateway_aws::{DynamoDbConversationStore, DynamoDbDeliveryLedger, DynamoDbTemplateSends};
use gateway_core::delivery::ports::DeliveryLedger;
use gateway_core::delivery::template::{Settled, TemplateSends};
use gateway_core::delivery::window::UndeliverableReason;

const NOW_MS: i64 = 1_800_000_000_000;

fn sends(rules: &[&Rule]) -> DynamoDbTemplateSends {
    DynamoDbTemplateSends::new(DynamoDbConversationStore::new(dynamodb(rules), TABLE, None))
}

/// GetItem answered by partition key prefix: the lookup (`TPLMSG#`) and the record (`REPLY#`).
fn get_rule(lookup: Option<&str>, record_state: Option<&'static str>) -> Rule {
    let lookup = lookup.map(String::from);
    mock!(Client::get_item).then_compute_output(move |request| {
        let pk = match request.key().and_then(|k| k.get("PK")) {
            Some(aws_sdk_dynamodb::types::AttributeValue::S(pk)) => pk.clone(),
            _ => String::new(),
        };
        let item = if pk.starts_with("TPLMSG#wechat#demo#200228332") {
            lookup
                .as_ref()
                .map(|id| [("reply_id".to_string(), s(id))].into())
        } else if pk == "REPLY#r1" {
            record_state.map(|state| {
                [
                    ("state".to_string(), s(state)),
                    ("conversation_key".to_string(), s("wechat:demo:oUser")),
                    ("thread_sk".to_string(), s("MSG#000000000007#r1")),
                ]
                .into()
            })
        } else {
            None
        };
        GetItemOutput::builder().set_item(item).build()
    })
}

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

#[tokio::test]
async fn a_report_settles_the_accepted_record_and_its_thread_item_in_one_transaction() {
    let seen = Seen::default();
    let get = get_rule(Some("r1"), Some("accepted"));
    let write = transact_rule(&seen, || {
        MockResponse::Output(TransactWriteItemsOutput::builder().build())
    });
    let settled = sends(&[&get, &write])
        .settle(
            "demo",
            "200228332",
            Some(UndeliverableReason::UserBlock),
            NOW_MS,
        )
        .await
        .unwrap();
    assert_eq!(
        settled,
        Settled::Updated {
            reply_id: "r1".into()
        }
    );
    let request = seen.only();
    let items = request.transact_items();
    assert_eq!(items.len(), 2);
    let record = items[0].update().unwrap();
    assert_eq!(record.table_name(), TABLE);
    assert_eq!(record.key()["PK"], s("REPLY#r1"));
    assert_eq!(record.condition_expression(), Some("#s = :accepted"));
    let values = record.expression_attribute_values().unwrap();
    assert_eq!(values[":undeliverable"], s("undeliverable"));
    assert_eq!(values[":reason"], s("user_block"));
    assert_eq!(values[":gsi1pk"], s("DELIVERY#wechat#demo#undeliverable"));
    assert_eq!(values[":now"], n(NOW_MS));
    let thread = items[1].update().unwrap();
    assert_eq!(thread.key()["PK"], s("CONV#wechat:demo:oUser"));
    assert_eq!(thread.key()["SK"], s("MSG#000000000007#r1"));
    assert_eq!(thread.condition_expression(), Some("attribute_exists(PK)"));
    assert_eq!(
        thread.update_expression(),
        "SET delivery = :d, delivery_reason = :r"
    );
}

#[tokio::test]
async fn a_settled_or_unknown_or_early_report_writes_nothing() {
    for (lookup, state, want) in [
        (
            Some("r1"),
            Some("delivered"),
            Settled::AlreadySettled {
                reply_id: "r1".into(),
            },
        ),
        (
            Some("r1"),
            Some("sent"),
            Settled::NotYetAccepted {
                reply_id: "r1".into(),
            },
        ),
        (None, None, Settled::Unknown),
        (Some("r1"), None, Settled::Unknown),
    ] {
        let seen = Seen::default();
        let get = get_rule(lookup, state);
        let write = transact_rule(&seen, || {
            MockResponse::Output(TransactWriteItemsOutput::builder().build())
        });
        let settled = sends(&[&get, &write])
            .settle("demo", "200228332", None, NOW_MS)
            .await
            .unwrap();
        assert_eq!(settled, want);
        assert!(seen.all().is_empty(), "{want:?}: nothing written");
    }
}

#[tokio::test]
async fn a_report_losing_the_race_to_another_copy_is_already_settled() {
    let respond = cancellation(&["ConditionalCheckFailed", "None"]);
    let get = get_rule(Some("r1"), Some("accepted"));
    let write = transact_rule(&Seen::default(), move || MockResponse::Error(respond()));
    let settled = sends(&[&get, &write])
        .settle("demo", "200228332", None, NOW_MS)
        .await
        .unwrap();
    assert_eq!(
        settled,
        Settled::AlreadySettled {
            reply_id: "r1".into()
        }
    );
}

#[tokio::test]
async fn the_msgid_and_its_lookup_are_written_in_one_transaction() {
    let command = reply();
    let seen = Seen::default();
    let write = transact_rule(&seen, || {
        MockResponse::Output(TransactWriteItemsOutput::builder().build())
    });
    let store = DynamoDbConversationStore::new(dynamodb(&[&write]), TABLE, None);
    DynamoDbDeliveryLedger::new(store, 86_400)
        .mark_template_sent(&command, NOW_MS, "200228332")
        .await
        .unwrap();
    let request = seen.only();
    let items = request.transact_items();
    assert_eq!(items.len(), 2);
    let record = items[0].update().unwrap();
    assert_eq!(record.condition_expression(), Some("#s = :calling"));
    assert_eq!(
        record.expression_attribute_values().unwrap()[":pid"],
        s("200228332")
    );
    let lookup = items[1].put().unwrap().item();
    assert_eq!(lookup["PK"], s("TPLMSG#wechat#demo#200228332"));
    assert_eq!(lookup["SK"], s("TPLMSG"));
    assert_eq!(lookup["reply_id"], s(&command.dedupe_id()));
    assert_eq!(lookup["expires_at"], n(NOW_MS / 1000 + 86_400));
}
