//! `DynamoDbStats`: a change's increments as one transaction (the change's marker, only if
//! absent, and one `ADD` update per daily record), a change counted before, how failures map,
//! and the query of a range of days.

use crate::support::{
    Item, Seen, TABLE, assert_permanent, assert_transient, attr, cancellation, dynamodb,
    dynamodb_error, n, s, sorted, throttled,
};
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::operation::query::QueryOutput;
use aws_sdk_dynamodb::operation::transact_write_items::{
    TransactWriteItemsError, TransactWriteItemsInput, TransactWriteItemsOutput,
};
use aws_sdk_dynamodb::types::Update;
use aws_smithy_mocks::{MockResponse, mock};
use chrono::NaiveDate;
use gateway_aws::DynamoDbStats;
use gateway_aws::dynamodb::stats::MARKER_TTL_SECS;
use gateway_aws::dynamodb::transactions::CONTENTION_ATTEMPTS;
use gateway_core::Channel;
use gateway_core::ports::{PortError, StatsStore};
use gateway_core::stats::{Applied, DailyDelta, RecordKey, StatsDelta, counter};

const TRANSACT: &str = "dynamodb transact_write_items (stats)";
const EVENT_ID: &str = "c4ca4238a0b923820dcc509a6f75849b";
const NOW_MS: i64 = 1_772_416_800_000; // 2026-03-02T02:00:00Z
const PK: &str = "STATS#wechat:demo";

fn day(d: &str) -> NaiveDate {
    d.parse().unwrap()
}

/// A crisis complaint answered late by the agent of team `care`: on the account's and the
/// team's record of the day.
fn delta() -> StatsDelta {
    let mut counts = DailyDelta::default();
    counts.add(counter::FIRST_RESPONSE_BREACHED, 1);
    counts.add(&counter::tag("crisis"), 1);
    counts.first_response_time.record(3 * 60_000);
    let key = |team: Option<&str>| RecordKey {
        day: day("2026-03-02"),
        team: team.map(str::to_string),
    };
    StatsDelta {
        channel: Channel::WeChat,
        account_id: "demo".into(),
        records: [(key(None), counts.clone()), (key(Some("care")), counts)].into(),
    }
}

/// Applies `delta` once, recording the transactions, answering each with `respond`.
async fn apply(
    delta: &StatsDelta,
    respond: impl Fn() -> MockResponse<TransactWriteItemsOutput, TransactWriteItemsError>
    + Send
    + Sync
    + 'static,
) -> (Result<Applied, PortError>, Vec<TransactWriteItemsInput>) {
    let seen = Seen::default();
    let rule = mock!(Client::transact_write_items).then_compute_response({
        let seen = seen.clone();
        move |request| {
            seen.push(request);
            respond()
        }
    });
    let stats = DynamoDbStats::new(dynamodb(&[&rule]), TABLE);
    let result = stats.apply(EVENT_ID, delta, NOW_MS).await;
    (result, seen.all())
}

fn committed() -> MockResponse<TransactWriteItemsOutput, TransactWriteItemsError> {
    MockResponse::Output(TransactWriteItemsOutput::builder().build())
}

/// The update of one daily record: keys, identifying attributes set, counters added.
#[track_caller]
fn assert_update(update: &Update, sk: &str, team: Option<&str>) {
    assert_eq!(update.table_name(), TABLE);
    assert_eq!(
        sorted(Some(update.key())),
        [("PK".to_string(), s(PK)), ("SK".to_string(), s(sk))]
    );
    assert_eq!(update.condition_expression(), None, "added unconditionally");
    let set = "SET #entity = :entity, #channel = :channel, #account = :account, #day = :day";
    let expected = match team {
        None => format!("{set} ADD #c0 :c0, #c1 :c1, #c2 :c2"),
        Some(_) => format!("{set}, #team = :team ADD #c0 :c0, #c1 :c1, #c2 :c2"),
    };
    assert_eq!(update.update_expression(), expected);
    let mut names = vec![
        ("#account", "account_id"),
        ("#c0", "first_response_breached"),
        ("#c1", "first_response_time:le_5m"),
        ("#c2", "tag:crisis"),
        ("#channel", "channel"),
        ("#day", "day"),
        ("#entity", "entity"),
    ];
    let mut values = vec![
        (":account", s("demo")),
        (":c0", n(1)),
        (":c1", n(1)),
        (":c2", n(1)),
        (":channel", s("wechat")),
        (":day", s("2026-03-02")),
        (":entity", s("stats")),
    ];
    if let Some(team) = team {
        names.push(("#team", "team"));
        values.push((":team", s(team)));
    }
    let names: Vec<(String, String)> = names
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    let values: Vec<(String, _)> = values
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect();
    assert_eq!(sorted(update.expression_attribute_names()), names);
    assert_eq!(sorted(update.expression_attribute_values()), values);
}

#[tokio::test]
async fn a_change_is_one_transaction_of_its_marker_and_one_add_per_daily_record() {
    let (result, requests) = apply(&delta(), committed).await;
    assert_eq!(result.unwrap(), Applied::Counted);
    let [request] = requests.as_slice() else {
        panic!("one transaction: {requests:?}")
    };
    let [marker, account, team] = request.transact_items() else {
        panic!("the marker, the account's record, the team's: {request:?}")
    };
    let put = marker.put().expect("a put");
    assert_eq!(put.table_name(), TABLE);
    assert_eq!(put.condition_expression(), Some("attribute_not_exists(PK)"));
    let item = put.item();
    assert_eq!(attr(item, "PK"), &s(&format!("STREAM#{EVENT_ID}")));
    assert_eq!(attr(item, "SK"), &s("STATS"));
    assert_eq!(attr(item, "entity"), &s("stats_change"));
    assert_eq!(
        attr(item, "expires_at"),
        &n(NOW_MS / 1000 + MARKER_TTL_SECS),
        "kept two days, beyond the stream's 24 hours"
    );
    assert_eq!(MARKER_TTL_SECS, 172_800);
    assert_update(account.update().expect("an update"), "DAY#2026-03-02", None);
    assert_update(
        team.update().expect("an update"),
        "DAY#2026-03-02#TEAM#care",
        Some("care"),
    );
}

#[tokio::test]
async fn a_change_counted_before_fails_on_its_marker_and_adds_nothing() {
    let respond = cancellation(&["ConditionalCheckFailed", "None", "None"]);
    let (result, requests) = apply(&delta(), move || MockResponse::Error(respond())).await;
    assert_eq!(result.unwrap(), Applied::AlreadyCounted);
    assert_eq!(requests.len(), 1, "an answer, not retried");
}

#[tokio::test]
async fn a_change_that_counts_nothing_writes_nothing() {
    let rule = mock!(Client::transact_write_items)
        .then_output(|| TransactWriteItemsOutput::builder().build());
    let stats = DynamoDbStats::new(dynamodb(&[&rule]), TABLE);
    let mut empty = delta();
    for counts in empty.records.values_mut() {
        *counts = DailyDelta::default();
    }
    assert_eq!(
        stats.apply(EVENT_ID, &empty, NOW_MS).await.unwrap(),
        Applied::Counted
    );
    assert_eq!(rule.num_calls(), 0);
}

#[tokio::test]
async fn contention_and_throttling_are_transient_a_missing_table_permanent() {
    let conflict = cancellation(&["None", "TransactionConflict", "None"]);
    let (result, requests) = apply(&delta(), move || MockResponse::Error(conflict())).await;
    assert_transient(result, TRANSACT);
    assert_eq!(requests.len(), CONTENTION_ATTEMPTS as usize);

    let (result, requests) = apply(&delta(), || MockResponse::Http(throttled())).await;
    assert_transient(result, TRANSACT);
    assert_eq!(requests.len(), 1);

    let (result, _) = apply(&delta(), || {
        MockResponse::Http(dynamodb_error(400, "ResourceNotFoundException"))
    })
    .await;
    assert_permanent(result, TRANSACT);

    // An update's condition can never fail (they have none): a wrong request.
    let odd = cancellation(&["None", "ConditionalCheckFailed", "None"]);
    let (result, _) = apply(&delta(), move || MockResponse::Error(odd())).await;
    assert_permanent(result, TRANSACT);
}

#[tokio::test]
async fn the_days_of_a_range_are_one_query_of_the_accounts_partition_read_page_by_page() {
    let record = |sk: &str, team: Option<&str>, counters: &[(&str, i64)]| -> Item {
        let mut item: Item = [
            ("PK".to_string(), s(PK)),
            ("SK".to_string(), s(sk)),
            ("entity".to_string(), s("stats")),
            ("channel".to_string(), s("wechat")),
            ("account_id".to_string(), s("demo")),
            ("day".to_string(), s(&sk[4..14])),
        ]
        .into();
        if let Some(team) = team {
            item.insert("team".into(), s(team));
        }
        for (name, count) in counters {
            item.insert(name.to_string(), n(*count));
        }
        item
    };
    let first = record(
        "DAY#2026-03-02",
        None,
        &[("inbound", 7), ("first_response_time:le_5m", 2)],
    );
    let second = record("DAY#2026-03-02#TEAM#care", Some("care"), &[("opened", 1)]);
    let last_key: Item = [
        ("PK".to_string(), s(PK)),
        ("SK".to_string(), s("DAY#2026-03-02")),
    ]
    .into();
    let seen = Seen::default();
    let rule = mock!(Client::query).then_compute_output({
        let seen = seen.clone();
        move |request| {
            seen.push(request);
            if seen.all().len() == 1 {
                QueryOutput::builder()
                    .items(first.clone())
                    .set_last_evaluated_key(Some(last_key.clone()))
                    .build()
            } else {
                QueryOutput::builder().items(second.clone()).build()
            }
        }
    });
    let records = DynamoDbStats::new(dynamodb(&[&rule]), TABLE)
        .days(
            Channel::WeChat,
            "demo",
            day("2026-03-01"),
            day("2026-03-02"),
        )
        .await
        .unwrap();
    let requests = seen.all();
    assert_eq!(requests.len(), 2);
    for request in &requests {
        assert_eq!(request.table_name(), Some(TABLE));
        assert_eq!(
            request.key_condition_expression(),
            Some("PK = :pk AND SK BETWEEN :from AND :to")
        );
        // `$` sorts just after `#`: the last day's team records are in, the next day is out.
        assert_eq!(
            sorted(request.expression_attribute_values()),
            [
                (":from".to_string(), s("DAY#2026-03-01")),
                (":pk".to_string(), s(PK)),
                (":to".to_string(), s("DAY#2026-03-02$")),
            ]
        );
    }
    assert_eq!(requests[0].exclusive_start_key(), None);
    assert!(requests[1].exclusive_start_key().is_some());

    let [account, team] = records.as_slice() else {
        panic!("two records: {records:?}")
    };
    assert_eq!(
        account.key,
        RecordKey {
            day: day("2026-03-02"),
            team: None
        }
    );
    assert_eq!(account.counts.get(counter::INBOUND), 7);
    assert_eq!(account.counts.first_response_time.total(), 2);
    assert_eq!(team.key.team.as_deref(), Some("care"));
    assert_eq!(team.counts.get(counter::OPENED), 1);
    assert!("DAY#2026-03-02#TEAM#care" < "DAY#2026-03-02$" && "DAY#2026-03-02$" < "DAY#2026-03-03");
}

#[tokio::test]
async fn a_record_without_a_day_is_refused() {
    let rule = mock!(Client::query).then_output(|| {
        QueryOutput::builder()
            .items([("PK".to_string(), s(PK)), ("inbound".to_string(), n(1))].into())
            .build()
    });
    let result = DynamoDbStats::new(dynamodb(&[&rule]), TABLE)
        .days(
            Channel::WeChat,
            "demo",
            day("2026-03-01"),
            day("2026-03-02"),
        )
        .await;
    assert_permanent(result, "read stats record");
}
