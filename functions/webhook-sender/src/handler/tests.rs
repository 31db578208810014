//! Tests of the batch handler with in-memory ports.

use super::*;
use async_trait::async_trait;
use gateway_core::account::AccountsDocument;
use gateway_core::ports::PortError;
use gateway_core::testing::{RecordingDeadLetters, StaticAccounts};
use gateway_core::webhook_target::{DeliveryMessage, PostAnswer, PostError};
use std::collections::HashMap;
use std::sync::Mutex;

/// The handler tests run one at a time: the log test's subscriber is thread-local, and a
/// callsite first reached by another test thread meanwhile could be cached as disabled for it.
static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

const EVENT: &str = r#"{"version":1,"id":"evt-9","type":"conversation.escalated","occurred_at":"2026-12-06T10:00:00.123Z","channel":"wechat","account":"demo","conversation_key":"wechat#demo#o1","customer_id":"o1","sequence":"100","data":{}}"#;

#[derive(Default)]
struct Retries(Mutex<Vec<String>>);

#[async_trait]
impl RetryScheduler for Retries {
    async fn retry_after(&self, handle: &str, delay: u32) -> Result<(), PortError> {
        self.0
            .lock()
            .expect("lock")
            .push(format!("{handle}:{delay}"));
        Ok(())
    }
}

/// Answers every POST with one status and counts them.
struct Receiver(u16, Mutex<u32>);

#[async_trait]
impl WebhookPoster for Receiver {
    async fn post(
        &self,
        _url: &str,
        _headers: &[(&'static str, String)],
        _body: &[u8],
    ) -> Result<PostAnswer, PostError> {
        *self.1.lock().expect("lock") += 1;
        Ok(PostAnswer {
            status: self.0,
            body_start: "answer".into(),
        })
    }
}

#[derive(Default)]
struct FanOut(Mutex<Vec<DeliveryMessage>>);

#[async_trait]
impl WebhookFanOut for FanOut {
    async fn fan_out(&self, messages: &[DeliveryMessage]) -> Result<(), PortError> {
        self.0.lock().expect("lock").extend_from_slice(messages);
        Ok(())
    }
}

struct World {
    receiver: Arc<Receiver>,
    dead: Arc<RecordingDeadLetters>,
    retries: Arc<Retries>,
    deps: SenderDeps,
}

fn world(status: u16) -> World {
    let doc = AccountsDocument::from_json(
        r#"{"wechat":{"demo":{"app_id":"wx1","token":"t"}},"api_clients":{
            "crm":{"secret":"0123456789abcdef","accounts":["wechat:demo"],
                   "webhook":{"url":"https://crm.example.com/h","secret":"whsec-crm-0123456"}}}}"#,
    )
    .expect("valid");
    let receiver = Arc::new(Receiver(status, Mutex::new(0)));
    let dead = Arc::new(RecordingDeadLetters::default());
    let retries = Arc::new(Retries::default());
    let deps = SenderDeps {
        accounts: Arc::new(StaticAccounts(Arc::new(doc))),
        poster: receiver.clone(),
        fan_out: Arc::new(FanOut::default()),
        dead_letters: dead.clone(),
        retries: retries.clone(),
        settings: Settings {
            max_attempts: 3,
            retry_base_secs: 10,
            retry_max_secs: 600,
        },
        start_margin: Duration::from_secs(1),
        now_secs: || 1765015200,
    };
    World {
        receiver,
        dead,
        retries,
        deps,
    }
}

fn record(id: &str, body: &str, receive_count: u32) -> SqsMessage {
    let mut m = SqsMessage::default();
    m.message_id = Some(id.into());
    m.receipt_handle = Some(format!("rh-{id}"));
    m.body = Some(body.into());
    m.attributes = HashMap::from([(
        "ApproximateReceiveCount".to_string(),
        receive_count.to_string(),
    )]);
    m
}

#[tokio::test]
async fn delivered_records_are_acknowledged() {
    let _serial = SERIAL.lock().await;
    let w = world(200);
    let failed = handle_batch(&w.deps, &[record("m1", EVENT, 1)], || Duration::MAX).await;
    assert!(failed.is_empty());
    assert_eq!(*w.receiver.1.lock().expect("lock"), 1);
}

#[tokio::test]
async fn a_failing_receiver_is_retried_with_backoff_then_dead_lettered() {
    let _serial = SERIAL.lock().await;
    let w = world(503);
    let failed = handle_batch(
        &w.deps,
        &[record("m1", EVENT, 2), record("m2", EVENT, 3)],
        || Duration::MAX,
    )
    .await;
    // The second attempt is retried after 20 s; the third (the limit) is dead-lettered, and
    // the first record's failure did not hold the second back.
    assert_eq!(failed, ["m1"]);
    assert_eq!(*w.retries.0.lock().expect("lock"), ["rh-m1:20"]);
    let dead = w.dead.0.lock().expect("lock");
    assert_eq!(dead.len(), 1);
    let reason = &dead[0].attributes[0];
    assert_eq!(reason.0, "reason");
    assert!(
        reason
            .1
            .starts_with("gateway:retries_exhausted after 3 attempts: http 503"),
        "{}",
        reason.1
    );
    assert!(
        dead[0]
            .attributes
            .contains(&("webhook_client", "crm".into()))
    );
    assert!(dead[0].body.contains(r#""webhook_client":"crm""#));
}

#[tokio::test]
async fn a_refusal_is_dead_lettered_at_once_and_records_wait_for_time() {
    let _serial = SERIAL.lock().await;
    let w = world(400);
    let failed = handle_batch(&w.deps, &[record("m1", EVENT, 1)], || Duration::MAX).await;
    assert!(failed.is_empty());
    assert_eq!(
        w.dead.0.lock().expect("lock")[0].attributes[0].1,
        "http 400: answer"
    );
    let failed = handle_batch(&w.deps, &[record("m2", EVENT, 1)], || Duration::ZERO).await;
    assert_eq!(failed, ["m2"]);
    assert_eq!(*w.receiver.1.lock().expect("lock"), 1);
}

/// Collects every event's fields (and span fields) as text.
#[derive(Default, Clone)]
struct Captured(Arc<Mutex<String>>);

struct Fields<'a>(&'a mut String);

impl tracing::field::Visit for Fields<'_> {
    fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn std::fmt::Debug) {
        self.0.push_str(&format!("{}={value:?} ", field.name()));
    }
}

impl tracing::Subscriber for Captured {
    fn enabled(&self, _: &tracing::Metadata<'_>) -> bool {
        true
    }
    fn new_span(&self, span: &tracing::span::Attributes<'_>) -> tracing::span::Id {
        span.record(&mut Fields(&mut self.0.lock().expect("lock")));
        tracing::span::Id::from_u64(1)
    }
    fn record(&self, _: &tracing::span::Id, values: &tracing::span::Record<'_>) {
        values.record(&mut Fields(&mut self.0.lock().expect("lock")));
    }
    fn record_follows_from(&self, _: &tracing::span::Id, _: &tracing::span::Id) {}
    fn event(&self, event: &tracing::Event<'_>) {
        event.record(&mut Fields(&mut self.0.lock().expect("lock")));
    }
    fn enter(&self, _: &tracing::span::Id) {}
    fn exit(&self, _: &tracing::span::Id) {}
}

#[tokio::test]
async fn logs_name_the_client_and_reason_but_never_the_secret_signature_or_body() {
    let _serial = SERIAL.lock().await;
    let captured = Captured::default();
    let _guard = tracing::subscriber::set_default(captured.clone());
    tracing::callsite::rebuild_interest_cache();
    for status in [200, 503, 400] {
        let w = world(status);
        handle_batch(&w.deps, &[record("m1", EVENT, 1)], || Duration::MAX).await;
        handle_batch(&w.deps, &[record("m2", EVENT, 3)], || Duration::MAX).await;
    }
    let logs = captured.0.lock().expect("lock").clone();
    assert!(
        logs.contains("client=\"crm\"") && logs.contains("http 400: answer"),
        "{logs}"
    );
    for secret in [
        "whsec-crm-0123456",
        "sha256=",
        "wechat#demo#o1",
        "occurred_at",
    ] {
        assert!(!logs.contains(secret), "{secret} logged: {logs}");
    }
}
