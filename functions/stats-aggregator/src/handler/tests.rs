use super::*;
use async_trait::async_trait;
use aws_lambda_events::event::dynamodb::Event;
use gateway_core::Channel;
use gateway_core::conversation::Responder;
use gateway_core::events::testing::{InMemoryPublishedChanges, RecordingEventPublisher};
use gateway_core::ports::PortError;
use gateway_core::stats::testing::InMemoryStats;
use gateway_core::stats::{DailyRecord, counter};
use gateway_core::testing::text_message;
use serde_json::{Value, json};

const RULES: &str = r#"
version: 1
calendars:
  cn-office:
    timezone: Asia/Shanghai
    weekly: { mon: ["09:00-18:00"] }
default_calendar: cn-office
rules: []
"#;

struct StaticRules(Option<Arc<RuleSet>>);

#[async_trait]
impl RulesSource for StaticRules {
    async fn rules(&self) -> Result<Arc<RuleSet>, PortError> {
        self.0
            .clone()
            .ok_or_else(|| PortError::transient("rules", "unavailable (test)"))
    }
}

fn deps(stats: Arc<InMemoryStats>) -> AggregatorDeps {
    deps_with(
        stats,
        Arc::new(RecordingEventPublisher::default()),
        Arc::new(InMemoryPublishedChanges::default()),
    )
}

fn deps_with(
    stats: Arc<InMemoryStats>,
    events: Arc<RecordingEventPublisher>,
    published: Arc<InMemoryPublishedChanges>,
) -> AggregatorDeps {
    AggregatorDeps {
        stats,
        rules: Arc::new(StaticRules(Some(Arc::new(
            RuleSet::from_yaml(RULES).expect("valid rules"),
        )))),
        events,
        published,
    }
}

/// Unix ms of an RFC 3339 time.
fn at(time: &str) -> i64 {
    chrono::DateTime::parse_from_rfc3339(time)
        .expect("RFC 3339")
        .timestamp_millis()
}

fn day(d: &str) -> chrono::NaiveDate {
    d.parse().expect("a date")
}

fn s(value: &str) -> AttributeValue {
    AttributeValue::S(value.to_string())
}

/// The conversation item as the table holds it (the adapter's keys around the state).
fn conversation_item(c: &Conversation) -> Item {
    let mut item: Item = serde_dynamo::to_item(c).expect("an item");
    item.insert("PK".into(), s(&format!("CONV#{}", c.key)));
    item.insert("SK".into(), s("META"));
    item.insert("entity".into(), s("conversation"));
    item
}

/// An inbound message item as the router stores it.
fn message_item(m: &NormalizedMessage) -> Item {
    let mut item = Item::from(std::collections::HashMap::<String, AttributeValue>::new());
    item.insert("PK".into(), s(&format!("CONV#{}", m.conversation_key)));
    item.insert(
        "SK".into(),
        s(&format!("MSG#{:012}#{}", m.platform_time, m.dedupe_id())),
    );
    item.insert("entity".into(), s("message"));
    item.insert("direction".into(), s("in"));
    item.insert(
        "message".into(),
        serde_dynamo::to_attribute_value(m).expect("an attribute"),
    );
    item
}

/// A stream record as the event source sends it (parsed from its JSON, as Lambda hands it).
fn record(sequence: &str, event_name: &str, old: Option<&Item>, new: Option<&Item>) -> EventRecord {
    let mut change = json!({
        "SequenceNumber": sequence,
        "SizeBytes": 512,
        "StreamViewType": "NEW_AND_OLD_IMAGES",
        "ApproximateCreationDateTime": 1772416800.0,
    });
    for (name, image) in [("OldImage", old), ("NewImage", new)] {
        if let Some(image) = image {
            change[name] = serde_json::to_value(image).expect("JSON");
        }
    }
    let value: Value = json!({
        "eventID": format!("event-{sequence}"),
        "eventName": event_name,
        "eventVersion": "1.1",
        "eventSource": "aws:dynamodb",
        "awsRegion": "us-east-1",
        "dynamodb": change,
        "eventSourceARN": "arn:aws:dynamodb:us-east-1:123456789012:table/conversations/stream/2026-03-01T00:00:00.000",
    });
    let event: Event =
        serde_json::from_value(json!({ "Records": [value] })).expect("a stream event");
    event.records.into_iter().next().expect("one record")
}

/// A crisis complaint at 01:00 in Shanghai on the 3rd (17:00 UTC on the 2nd): the message
/// item, the new conversation, and an agent's answer three minutes later.
fn complaint_batch() -> Vec<EventRecord> {
    let m = text_message(
        "demo",
        "u1",
        "1",
        "你们是骗子",
        at("2026-03-03T01:00:00+08:00"),
    );
    let mut opened = Conversation::new_for(&m);
    opened.record_inbound(&m);
    opened.escalate(m.received_at_ms, 60);
    opened.tags.insert("crisis".into());
    opened.version = 1;
    let mut answered = opened.clone();
    answered.record_outbound(at("2026-03-03T01:03:00+08:00"), Responder::Person);
    answered.version = 2;
    vec![
        record("100", "INSERT", None, Some(&message_item(&m))),
        record("101", "INSERT", None, Some(&conversation_item(&opened))),
        record(
            "102",
            "MODIFY",
            Some(&conversation_item(&opened)),
            Some(&conversation_item(&answered)),
        ),
    ]
}

fn account_records(stats: &InMemoryStats) -> Vec<DailyRecord> {
    stats.records(Channel::WeChat, "demo")
}

#[tokio::test]
async fn conversation_changes_and_inbound_messages_count_on_the_accounts_local_day() {
    let stats = Arc::new(InMemoryStats::default());
    let retry = handle_batch(&deps(stats.clone()), &complaint_batch(), 0, || {
        Duration::from_secs(60)
    })
    .await;
    assert_eq!(retry, None);
    let [record] = account_records(&stats).try_into().expect("one record");
    assert_eq!(
        record.key.day,
        day("2026-03-03"),
        "Shanghai's day, not UTC's"
    );
    assert_eq!(record.key.team, None);
    let c = &record.counts;
    assert_eq!(c.get(counter::INBOUND), 1);
    assert_eq!(c.get(counter::OPENED), 1);
    assert_eq!(c.get(counter::ESCALATIONS), 1);
    assert_eq!(c.get(&counter::tag("crisis")), 1);
    assert_eq!(
        c.get(counter::FIRST_RESPONSE_BREACHED),
        1,
        "3 minutes for 60 s"
    );
    assert_eq!(
        c.first_response_time.percentile(50).map(|b| b.name()),
        Some("le_5m")
    );
    assert_eq!(
        stats.applied().into_iter().collect::<Vec<_>>(),
        ["event-100", "event-101", "event-102"]
    );
}

#[tokio::test]
async fn a_batch_delivered_twice_counts_once() {
    let stats = Arc::new(InMemoryStats::default());
    let deps = deps(stats.clone());
    let batch = complaint_batch();
    assert_eq!(
        handle_batch(&deps, &batch, 0, || Duration::from_secs(60)).await,
        None
    );
    let once = account_records(&stats);
    assert_eq!(
        handle_batch(&deps, &batch, 0, || Duration::from_secs(60)).await,
        None
    );
    assert_eq!(account_records(&stats), once);
}

#[tokio::test]
async fn other_items_are_acknowledged_without_a_write() {
    let m = text_message("demo", "u1", "1", "hi", at("2026-03-03T01:00:00+08:00"));
    let mut outbound = message_item(&m);
    outbound.insert("direction".into(), s("out"));
    let mut tag = Item::from(std::collections::HashMap::<String, AttributeValue>::new());
    tag.insert("PK".into(), s("CONV#wechat:demo:u1"));
    tag.insert("SK".into(), s("TAG#crisis"));
    tag.insert("entity".into(), s("tag"));
    let mut stats_record = Item::from(std::collections::HashMap::<String, AttributeValue>::new());
    stats_record.insert("PK".into(), s("STATS#wechat:demo"));
    stats_record.insert("SK".into(), s("DAY#2026-03-03"));
    stats_record.insert("entity".into(), s("stats"));
    stats_record.insert("inbound".into(), AttributeValue::N("1".into()));
    let inbound = message_item(&m);
    let batch = [
        record("1", "INSERT", None, Some(&outbound)),
        record("2", "INSERT", None, Some(&tag)),
        record("3", "MODIFY", Some(&stats_record), Some(&stats_record)),
        // An expired message removed by TTL, and a message item rewritten: no new message.
        record("4", "REMOVE", Some(&inbound), None),
        record("5", "MODIFY", Some(&inbound), Some(&inbound)),
    ];
    let stats = Arc::new(InMemoryStats::default());
    let retry = handle_batch(&deps(stats.clone()), &batch, 0, || Duration::from_secs(60)).await;
    assert_eq!(retry, None);
    assert!(stats.applied().is_empty());
    assert!(account_records(&stats).is_empty());
}

#[tokio::test]
async fn a_transient_failure_ends_the_batch_at_that_record_and_its_retry_counts_it() {
    let stats = Arc::new(InMemoryStats::default());
    let deps = deps(stats.clone());
    let batch = complaint_batch();
    stats.set_failing(true);
    let retry = handle_batch(&deps, &batch, 0, || Duration::from_secs(60)).await;
    assert_eq!(
        retry.as_deref(),
        Some("100"),
        "the first record; nothing after it started"
    );
    let json = serde_json::to_value(response(retry)).expect("JSON");
    assert_eq!(
        json,
        json!({ "batchItemFailures": [{ "itemIdentifier": "100" }] })
    );

    stats.set_failing(false);
    assert_eq!(
        handle_batch(&deps, &batch, 0, || Duration::from_secs(60)).await,
        None
    );
    assert_eq!(account_records(&stats)[0].counts.get(counter::INBOUND), 1);
    let json = serde_json::to_value(response(None)).expect("JSON");
    assert_eq!(json, json!({ "batchItemFailures": [] }));
}

#[tokio::test]
async fn an_unreadable_image_is_skipped_and_the_batch_goes_on() {
    let mut broken = Item::from(std::collections::HashMap::<String, AttributeValue>::new());
    broken.insert("PK".into(), s("CONV#wechat:demo:u9"));
    broken.insert("SK".into(), s("META"));
    broken.insert("entity".into(), s("conversation"));
    broken.insert("inbound_count".into(), s("我的手机号是13800000000"));
    let rules = RuleSet::from_yaml(RULES).expect("valid rules");
    let broken_record = record("99", "INSERT", None, Some(&broken));
    let reason = delta_of(&broken_record, &rules).expect_err("not a conversation");
    assert!(!reason.contains("13800000000"), "{reason}");
    let mut batch = vec![broken_record];
    batch.extend(complaint_batch());
    let stats = Arc::new(InMemoryStats::default());
    let retry = handle_batch(&deps(stats.clone()), &batch, 0, || Duration::from_secs(60)).await;
    assert_eq!(retry, None);
    assert_eq!(stats.applied().len(), 3, "the three good records");
}

#[tokio::test]
async fn records_are_handed_back_when_time_runs_out_or_no_rules_are_available() {
    let stats = Arc::new(InMemoryStats::default());
    let retry = handle_batch(&deps(stats.clone()), &complaint_batch(), 0, || {
        Duration::from_secs(1)
    })
    .await;
    assert_eq!(retry.as_deref(), Some("100"));
    assert!(stats.applied().is_empty());

    let no_rules = AggregatorDeps {
        rules: Arc::new(StaticRules(None)),
        ..deps(stats.clone())
    };
    let retry = handle_batch(&no_rules, &complaint_batch(), 0, || Duration::from_secs(60)).await;
    assert_eq!(retry.as_deref(), Some("100"));
    assert!(stats.applied().is_empty());
    assert_eq!(
        handle_batch(&no_rules, &[], 0, || Duration::from_secs(60)).await,
        None,
        "an empty batch needs no rules"
    );
}

/// A stats-aggregator with fakes it can be asked about.
struct Fakes {
    stats: Arc<InMemoryStats>,
    events: Arc<RecordingEventPublisher>,
    published: Arc<InMemoryPublishedChanges>,
}

impl Fakes {
    fn new() -> Self {
        Fakes {
            stats: Arc::new(InMemoryStats::default()),
            events: Arc::new(RecordingEventPublisher::default()),
            published: Arc::new(InMemoryPublishedChanges::default()),
        }
    }

    fn deps(&self) -> AggregatorDeps {
        deps_with(
            self.stats.clone(),
            self.events.clone(),
            self.published.clone(),
        )
    }

    fn types(&self) -> Vec<String> {
        self.events
            .published()
            .iter()
            .map(|e| e.event_type.to_string())
            .collect()
    }
}

/// A delivery record's item as the ledger writes it.
fn delivery_item(state: &str, reason: Option<&str>) -> Item {
    let mut item = Item::from(std::collections::HashMap::<String, AttributeValue>::new());
    item.insert("PK".into(), s("REPLY#r1"));
    item.insert("SK".into(), s("DELIVERY"));
    item.insert("entity".into(), s("delivery"));
    item.insert("reply_id".into(), s("r1"));
    item.insert("state".into(), s(state));
    item.insert("conversation_key".into(), s("wechat:demo:u1"));
    item.insert("channel".into(), s("wechat"));
    item.insert("account_id".into(), s("demo"));
    item.insert("origin".into(), s("agent"));
    let command = json!({
        "recipient_id": "u1",
        "content": {"type": "text", "text": "hello"},
        "origin": {"type": "agent", "client_id": "desk", "agent_id": "alice"},
        "created_at_ms": 1_772_470_000_000_i64,
    });
    item.insert(
        "command".into(),
        serde_dynamo::to_attribute_value(command).expect("an attribute"),
    );
    item.insert(
        "updated_at_ms".into(),
        AttributeValue::N("1772470001000".into()),
    );
    if let Some(reason) = reason {
        item.insert("reason".into(), s(reason));
    }
    item
}

#[tokio::test]
async fn each_record_publishes_its_events_in_stream_order_once() {
    // Arrange
    let fakes = Fakes::new();
    let batch = complaint_batch();
    // Act
    let retry = handle_batch(&fakes.deps(), &batch, 0, || Duration::from_secs(60)).await;
    // Assert
    assert_eq!(retry, None);
    assert_eq!(
        fakes.types(),
        [
            "message.received",
            "conversation.opened",
            "conversation.escalated"
        ],
        "the answer (record 102) reports nothing"
    );
    let events = fakes.events.published();
    let sequences: Vec<&str> = events.iter().map(|e| e.sequence.as_str()).collect();
    assert_eq!(sequences, ["100", "101", "101"]);
    assert_eq!(
        fakes.published.marked().into_iter().collect::<Vec<_>>(),
        ["event-100", "event-101"],
        "only records with events are marked"
    );
    // The same batch again (a retry after a timeout): nothing published twice.
    let again = handle_batch(&fakes.deps(), &batch, 0, || Duration::from_secs(60)).await;
    assert_eq!(again, None);
    assert_eq!(fakes.events.published(), events);
}

#[tokio::test]
async fn a_failed_publish_ends_the_batch_and_its_retry_publishes_the_same_events_once() {
    let fakes = Fakes::new();
    let batch = complaint_batch();
    fakes.events.set_failing(Some(true));
    let retry = handle_batch(&fakes.deps(), &batch, 0, || Duration::from_secs(60)).await;
    assert_eq!(retry.as_deref(), Some("100"));
    assert!(fakes.events.published().is_empty());
    assert_eq!(fakes.stats.applied().len(), 1, "counted before publishing");

    fakes.events.set_failing(None);
    assert_eq!(
        handle_batch(&fakes.deps(), &batch, 0, || Duration::from_secs(60)).await,
        None
    );
    assert_eq!(fakes.types().len(), 3);
    assert_eq!(fakes.stats.applied().len(), 3, "record 100 counted once");
}

#[tokio::test]
async fn events_published_but_not_marked_are_published_again_with_the_same_ids() {
    // The function dying between PutEvents and the marker: the retry publishes the same
    // events (same ids), which receivers deduplicate.
    let fakes = Fakes::new();
    let batch = &complaint_batch()[..1];
    fakes.published.set_failing_marks(true);
    let retry = handle_batch(&fakes.deps(), batch, 0, || Duration::from_secs(60)).await;
    assert_eq!(retry.as_deref(), Some("100"));
    fakes.published.set_failing_marks(false);
    assert_eq!(
        handle_batch(&fakes.deps(), batch, 0, || Duration::from_secs(60)).await,
        None
    );
    let events = fakes.events.published();
    assert_eq!(events.len(), 2);
    assert_eq!(events[0], events[1]);
    assert_eq!(
        handle_batch(&fakes.deps(), batch, 0, || Duration::from_secs(60)).await,
        None
    );
    assert_eq!(fakes.events.published().len(), 2, "marked now");
}

#[tokio::test]
async fn a_permanent_publish_failure_is_acknowledged_and_the_batch_goes_on() {
    let fakes = Fakes::new();
    fakes.events.set_failing(Some(false));
    let retry = handle_batch(&fakes.deps(), &complaint_batch(), 0, || {
        Duration::from_secs(60)
    })
    .await;
    assert_eq!(retry, None);
    assert_eq!(fakes.events.calls(), 2);
    assert!(fakes.published.marked().is_empty());
    assert_eq!(fakes.stats.applied().len(), 3);
}

#[tokio::test]
async fn delivery_records_publish_delivered_and_undeliverable() {
    let fakes = Fakes::new();
    let batch = [
        record("1", "INSERT", None, Some(&delivery_item("calling", None))),
        record(
            "2",
            "MODIFY",
            Some(&delivery_item("calling", None)),
            Some(&delivery_item("sent", None)),
        ),
        record(
            "3",
            "MODIFY",
            Some(&delivery_item("sent", None)),
            Some(&delivery_item("delivered", None)),
        ),
        record(
            "4",
            "MODIFY",
            Some(&delivery_item("calling", None)),
            Some(&delivery_item("undeliverable", Some("window_closed"))),
        ),
    ];
    let retry = handle_batch(&fakes.deps(), &batch, 0, || Duration::from_secs(60)).await;
    assert_eq!(retry, None);
    assert_eq!(fakes.types(), ["reply.delivered", "reply.undeliverable"]);
    let events = fakes.events.published();
    assert_eq!(events[0].customer_id, "u1");
    assert_eq!(events[0].data["agent_id"], json!("alice"));
    assert_eq!(events[0].data["content_type"], json!("text"));
    assert_eq!(events[1].data["reason"], json!("window_closed"));
    assert!(
        fakes.stats.applied().is_empty(),
        "delivery records count nothing"
    );
}

#[tokio::test]
async fn items_without_events_publish_nothing_and_read_no_marker() {
    let m = text_message("demo", "u1", "1", "hi", at("2026-03-03T01:00:00+08:00"));
    let inbound = message_item(&m);
    let mut marker = Item::from(std::collections::HashMap::<String, AttributeValue>::new());
    marker.insert("PK".into(), s("STREAM#event-1"));
    marker.insert("SK".into(), s("EVENTS"));
    marker.insert("entity".into(), s("events_published"));
    let batch = [
        record("1", "REMOVE", Some(&inbound), None),
        record("2", "MODIFY", Some(&inbound), Some(&inbound)),
        record("3", "INSERT", None, Some(&marker)),
    ];
    let fakes = Fakes::new();
    let retry = handle_batch(&fakes.deps(), &batch, 0, || Duration::from_secs(60)).await;
    assert_eq!(retry, None);
    assert_eq!(fakes.events.calls(), 0);
}
