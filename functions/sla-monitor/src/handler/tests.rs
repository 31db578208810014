//! The handler over in-memory ports, with events shaped as Lambda delivers them.

use super::*;
use async_trait::async_trait;
use gateway_core::conversation::Conversation;
use gateway_core::ports::PortError;
use gateway_core::rules::RuleSet;
use gateway_core::sla::TimerKind;
use gateway_core::testing::{InMemoryConversationStore, RecordingSla, text_message};
use serde_json::json;
use std::sync::atomic::{AtomicBool, Ordering};

const T0: i64 = 1_800_000_000_000;

struct StaticRules(Arc<RuleSet>);

#[async_trait]
impl RulesSource for StaticRules {
    async fn rules(&self) -> Result<Arc<RuleSet>, PortError> {
        Ok(self.0.clone())
    }
}

/// Timers that can be told to fail (an SQS outage).
#[derive(Default)]
struct FlakyTimers {
    inner: RecordingSla,
    failing: AtomicBool,
}

#[async_trait]
impl TimerQueue for FlakyTimers {
    async fn schedule(&self, timer: &Timer, delay: u32) -> Result<(), PortError> {
        if self.failing.load(Ordering::SeqCst) {
            return Err(PortError::transient(
                "sqs send_message (timer)",
                "throttled",
            ));
        }
        self.inner.schedule(timer, delay).await
    }
}

struct World {
    store: Arc<InMemoryConversationStore>,
    timers: Arc<FlakyTimers>,
    alerts: Arc<RecordingSla>,
    deps: MonitorDeps,
}

fn world() -> World {
    let store = Arc::new(InMemoryConversationStore::default());
    let timers = Arc::new(FlakyTimers::default());
    let alerts = Arc::new(RecordingSla::default());
    let rules = RuleSet::from_yaml(
        "version: 1\nlifecycle:\n  auto_resolve_pending_after_secs: 3600\nrules: []\n",
    )
    .expect("rules");
    let deps = MonitorDeps {
        records: store.clone(),
        timers: timers.clone(),
        alerts: alerts.clone(),
        inboxes: store.clone(),
        rules: Arc::new(StaticRules(Arc::new(rules))),
        breach_grace: Duration::from_secs(10),
    };
    World {
        store,
        timers,
        alerts,
        deps,
    }
}

fn waiting(user: &str) -> Conversation {
    let m = text_message("demo", user, user, "在吗", T0);
    let mut c = Conversation::new_for(&m);
    c.record_inbound(&m);
    c.response_due_at = Some(T0 + 60_000);
    c.version = 1;
    c
}

/// A stream record of a conversation write, as Lambda delivers it.
fn change(seq: &str, old: Option<&Conversation>, new: &Conversation) -> Value {
    let image = |c: &Conversation| {
        let item: serde_dynamo::Item = serde_dynamo::to_item(c).expect("item");
        serde_json::to_value(item).expect("json")
    };
    let mut dynamodb = json!({
        "Keys": {"PK": {"S": format!("CONV#{}", new.key)}, "SK": {"S": "META"}},
        "NewImage": image(new),
        "SequenceNumber": seq,
        "SizeBytes": 100,
        "StreamViewType": "NEW_AND_OLD_IMAGES",
    });
    if let Some(o) = old {
        dynamodb["OldImage"] = image(o);
    }
    json!({
        "eventID": format!("e-{seq}"),
        "eventName": if old.is_some() { "MODIFY" } else { "INSERT" },
        "eventVersion": "1.1",
        "eventSource": "aws:dynamodb",
        "awsRegion": "ap-east-1",
        "dynamodb": dynamodb,
        "eventSourceARN": "arn:aws:dynamodb:ap-east-1:123456789012:table/t/stream/2026",
    })
}

fn timer_record(id: &str, body: &str) -> Value {
    json!({
        "messageId": id,
        "receiptHandle": format!("rh-{id}"),
        "body": body,
        "attributes": {"ApproximateReceiveCount": "1"},
        "messageAttributes": {},
        "eventSource": "aws:sqs",
        "eventSourceARN": "arn:aws:sqs:ap-east-1:123456789012:timers",
        "awsRegion": "ap-east-1",
    })
}

#[tokio::test]
async fn a_stream_batch_schedules_timers_and_stops_at_the_first_failure() {
    let w = world();
    let (a, b) = (waiting("a"), waiting("b"));
    let message = json!({
        "Keys": {"PK": {"S": "CONV#wechat:demo:a"}, "SK": {"S": "MSG#1"}},
        "NewImage": {"PK": {"S": "CONV#wechat:demo:a"}},
        "SequenceNumber": "150",
        "SizeBytes": 10,
        "StreamViewType": "NEW_AND_OLD_IMAGES",
    });
    let mut message_record = change("150", None, &a);
    message_record["dynamodb"] = message;
    let event =
        json!({"Records": [change("100", None, &a), message_record, change("200", None, &b)]});
    let batch = parse(event.clone()).expect("a stream batch");
    assert!(matches!(batch, Batch::Stream(_)));
    let clock = || T0;
    assert!(handle(&w.deps, &batch, &clock).await.is_empty());
    let timers = w.timers.inner.timers.lock().expect("lock").clone();
    assert_eq!(
        timers.len(),
        2,
        "one per conversation; the message item is not one"
    );
    assert_eq!(timers[0].0.kind, TimerKind::FirstResponse);
    assert_eq!(timers[0].1, 70);

    // SQS refuses: the first record fails and the rest of the shard waits behind it.
    w.timers.failing.store(true, Ordering::SeqCst);
    assert_eq!(handle(&w.deps, &batch, &clock).await, ["100"]);
}

#[tokio::test]
async fn a_timers_batch_records_a_breach_once_and_hands_back_what_it_cannot_read() {
    let w = world();
    let c = waiting("a");
    w.store.put(c.clone());
    let timer = Timer {
        schema_version: gateway_core::sla::TIMER_SCHEMA_VERSION,
        conversation_key: c.key.clone(),
        kind: TimerKind::FirstResponse,
        due_at: T0 + 60_000,
        since: T0,
    };
    let body = serde_json::to_string(&timer).expect("json");
    let gone = Timer {
        conversation_key: "wechat:demo:nobody".into(),
        ..timer.clone()
    };
    let event = json!({"Records": [
        timer_record("m1", &body),
        timer_record("m2", "{not a timer"),
        timer_record("m3", &serde_json::to_string(&gone).expect("json")),
        timer_record("m4", &body),
    ]});
    let batch = parse(event).expect("a timers batch");
    let clock = || T0 + 75_000;
    assert_eq!(handle(&w.deps, &batch, &clock).await, ["m2"]);
    let stored = w.store.conversation(&c.key).expect("stored");
    assert_eq!(stored.sla_breached_at, Some(T0 + 75_000));
    assert_eq!(
        stored.version, 2,
        "recorded once: the second copy found it recorded"
    );
    assert!(
        w.alerts.alerts.lock().expect("lock").is_empty(),
        "alerts come from the stream"
    );

    // Early: chained on, not judged.
    let early = || T0 + 1_000;
    let again = parse(json!({"Records": [timer_record("m5", &body)]})).expect("batch");
    assert!(handle(&w.deps, &again, &early).await.is_empty());
    let (_, delay) = w.timers.inner.timers.lock().expect("lock")[0].clone();
    assert_eq!(delay, 69);
}

#[test]
fn an_event_from_elsewhere_is_refused() {
    let err = parse(json!({"Records": [{"eventSource": "aws:kinesis"}]})).expect_err("refused");
    assert!(err.contains("aws:kinesis"), "{err}");
}

#[tokio::test]
async fn the_schedule_measures_the_inboxes_and_fails_nothing() {
    let w = world();
    w.store.put(waiting("a"));
    let event = json!({
        "version": "0", "id": "x", "detail-type": "Scheduled Event", "source": "aws.events",
        "account": "123456789012", "time": "2026-12-06T05:00:00Z", "region": "ap-east-1",
        "resources": ["arn:aws:events:ap-east-1:123456789012:rule/gauges"], "detail": {}
    });
    let batch = parse(event).expect("the schedule");
    assert!(matches!(batch, Batch::Schedule));
    let clock = || T0 + 90_000;
    assert!(handle(&w.deps, &batch, &clock).await.is_empty());
}
