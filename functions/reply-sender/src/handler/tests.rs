//! Tests of the batch handler with in-memory ports.

use super::*;
use crate::config::{MARGIN_SLACK, worst_case_record};
use async_trait::async_trait;
use gateway_core::account::AccountsDocument;
use gateway_core::conversation::Conversation;
use gateway_core::delivery::platform::{CallError, Disposition, PlatformError};
use gateway_core::delivery::ports::{DeliveryRecord, DeliveryState};
use gateway_core::delivery::testing::{CountingTokens, InMemoryDeliveryLedger, ScriptedPlatform};
use gateway_core::message::{Channel, NormalizedMessage};
use gateway_core::ports::PortError;
use gateway_core::reply::ReplyContent;
use gateway_core::testing::{RecordingDeadLetters, StaticAccounts, text_message};
use std::sync::Mutex;

/// Records the records handed back, as `receipt-handle:delay-secs`.
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

/// The handler's ports as in-memory fakes, with one WeChat account `demo`.
struct World {
    ledger: Arc<InMemoryDeliveryLedger>,
    platform: Arc<ScriptedPlatform>,
    dead: Arc<RecordingDeadLetters>,
    retries: Arc<Retries>,
    deps: ReplySenderDeps,
}

impl World {
    fn new(max_attempts: u32, start_margin: Duration) -> Self {
        let ledger = Arc::new(InMemoryDeliveryLedger::default());
        let platform = Arc::new(ScriptedPlatform::default());
        let dead = Arc::new(RecordingDeadLetters::default());
        let retries = Arc::new(Retries::default());
        let deps = ReplySenderDeps {
            accounts: Arc::new(StaticAccounts(Arc::new(
                AccountsDocument::from_json(
                    r#"{"wechat":{"demo":{"app_id":"wx1","token":"t","app_secret":"s"}}}"#,
                )
                .expect("accounts"),
            ))),
            conversations: ledger.clone(),
            ledger: ledger.clone(),
            quotas: ledger.clone(),
            tokens: Arc::new(CountingTokens::default()),
            wechat: platform.clone(),
            weibo: platform.clone(),
            wechat_media: Arc::new(gateway_core::desk::testing::ScriptedWeChatMedia::default()),
            upload_files: Arc::new(gateway_core::delivery::testing::MemoryUploadFiles::default()),
            uploaded_ids: Arc::new(gateway_core::delivery::testing::MemoryUploadFiles::default()),
            dead_letters: dead.clone(),
            retries: retries.clone(),
            settings: Settings {
                policy: ReplyPolicy::default(),
                claim_timeout: Duration::from_secs(60),
                retry_base_secs: 10,
                retry_max_secs: 300,
                max_attempts,
            },
            start_margin,
        };
        World {
            ledger,
            platform,
            dead,
            retries,
            deps,
        }
    }

    /// The router stored a message from `user` a second ago; returns it.
    fn inbound(&self, user: &str) -> NormalizedMessage {
        let m = text_message("demo", user, user, "hi", crate::now_ms() - 1_000);
        let mut c = Conversation::new_for(&m);
        c.record_inbound(&m);
        c.version = 1;
        self.ledger.put_conversation(c);
        m
    }

    fn wechat_calls(&self) -> usize {
        self.platform.wechat_calls.lock().expect("lock").len()
    }

    fn retried(&self) -> Vec<String> {
        self.retries.0.lock().expect("lock").clone()
    }

    fn state(&self, command: &ReplyCommand) -> Option<DeliveryState> {
        self.ledger.record(&command.dedupe_id()).map(|r| r.state)
    }
}

fn reply(m: &NormalizedMessage, index: usize, text: &str) -> ReplyCommand {
    ReplyCommand::auto_reply(m, "r", index, ReplyContent::text(text), m.received_at_ms)
}

fn json(c: &ReplyCommand) -> String {
    serde_json::to_string(c).expect("json")
}

fn record(id: &str, group: &str, body: &str, receives: &str) -> SqsMessage {
    let mut r = SqsMessage::default();
    r.message_id = Some(id.into());
    r.receipt_handle = Some(format!("rh-{id}"));
    r.body = Some(body.into());
    r.attributes.insert("MessageGroupId".into(), group.into());
    r.attributes
        .insert("ApproximateReceiveCount".into(), receives.into());
    r
}

fn busy() -> Result<(), CallError> {
    Err(CallError::Platform(PlatformError {
        channel: Channel::WeChat,
        code: -1,
        message: "system busy".into(),
        disposition: Disposition::Transient,
    }))
}

const MINUTE: Duration = Duration::from_secs(60);

#[tokio::test]
async fn no_reply_is_started_unless_its_worst_case_fits_in_the_time_left() {
    let margin = worst_case_record(Duration::from_secs(5), Duration::from_secs(4)) + MARGIN_SLACK;
    let w = World::new(4, margin);
    let command = reply(&w.inbound("u1"), 0, "x");
    let records = vec![record("a", "wechat:demo:u1", &json(&command), "1")];
    // One second short of the worst case: handed back unclaimed, no platform call.
    let short = margin - Duration::from_secs(1);
    assert_eq!(handle_batch(&w.deps, &records, || short).await, ["a"]);
    assert_eq!(w.wechat_calls(), 0);
    assert_eq!(w.state(&command), None, "never claimed");
    // With the worst case left it is delivered.
    assert!(handle_batch(&w.deps, &records, || margin).await.is_empty());
    assert_eq!(w.wechat_calls(), 1);
}

#[tokio::test]
async fn a_transient_failure_holds_back_its_conversation_only_and_backs_off() {
    let w = World::new(4, Duration::from_secs(5));
    let (u1, u2) = (w.inbound("u1"), w.inbound("u2"));
    let (first, other, later) = (reply(&u1, 0, "x"), reply(&u2, 0, "x"), reply(&u1, 1, "y"));
    w.platform.then(busy());
    let records = vec![
        record("a", "wechat:demo:u1", &json(&first), "2"),
        record("b", "wechat:demo:u2", &json(&other), "1"),
        record("c", "wechat:demo:u1", &json(&later), "1"),
        record("d", "wechat:demo:u3", "{not a command", "1"),
    ];

    let failures = handle_batch(&w.deps, &records, || MINUTE).await;

    assert_eq!(failures, ["a", "c"]);
    assert_eq!(w.wechat_calls(), 2, "a and b");
    assert_eq!(
        w.retried(),
        ["rh-a:20", "rh-c:10"],
        "exponential backoff by receive count"
    );
    let dead = w.dead.letters();
    assert_eq!(dead.len(), 1);
    // The undecodable record is moved as received, in its own group, under its message id.
    assert_eq!(dead[0].body, "{not a command");
    assert_eq!(
        (dead[0].group_id.as_str(), dead[0].dedupe_id.as_str()),
        ("wechat:demo:u3", "d")
    );
    let reason = dead[0].attribute("reason").expect("a reason");
    assert!(reason.starts_with("undecodable reply command"), "{reason}");
}

#[tokio::test]
async fn a_reply_another_attempt_holds_is_handed_back_until_its_claim_runs_out() {
    let w = World::new(4, Duration::from_secs(5));
    let now = crate::now_ms();
    let command = reply(&text_message("demo", "u1", "u1", "hi", now - 1_000), 0, "x");
    // Claimed 15.5 s ago by an attempt that never wrote again (claim timeout 60 s).
    w.ledger.set(DeliveryRecord {
        reply_id: command.dedupe_id(),
        state: DeliveryState::Calling,
        calling_since_ms: Some(now - 15_500),
        sent_at_ms: None,
        reason: None,
        error_code: None,
        platform_id: None,
        retry_at_ms: None,
        updated_at_ms: now - 15_500,
    });
    let records = vec![record("a", "wechat:demo:u1", &json(&command), "2")];

    let failures = handle_batch(&w.deps, &records, || MINUTE).await;

    assert_eq!(failures, ["a"]);
    assert_eq!(w.wechat_calls(), 0);
    // Not the 20 s backoff of a second receive: the 44.5 s (rounded up) the claim has
    // left, so the next receive settles it instead of spending the queue's receives.
    let retried = w.retried();
    let delay: u32 = retried[0]
        .strip_prefix("rh-a:")
        .expect("a")
        .parse()
        .expect("secs");
    assert!((44..=45).contains(&delay), "{retried:?}");
}

#[test]
fn the_retry_delay_is_the_backoff_or_the_time_to_settle_whichever_is_later() {
    assert_eq!(retry_delay_secs(1, 10, 300, None), 10);
    assert_eq!(retry_delay_secs(3, 10, 300, None), 40);
    assert_eq!(retry_delay_secs(9, 10, 300, None), 300);
    assert_eq!(
        retry_delay_secs(1, 10, 300, Some(Duration::from_millis(170_001))),
        171
    );
    assert_eq!(
        retry_delay_secs(5, 10, 300, Some(Duration::from_secs(5))),
        160
    );
    assert_eq!(retry_delay_secs(1, 0, 0, Some(Duration::ZERO)), 0);
    assert_eq!(
        retry_delay_secs(1, 10, 300, Some(Duration::from_secs(86_400))),
        43_200,
        "SQS's longest visibility timeout"
    );
}
#[tokio::test]
async fn the_last_allowed_receive_dead_letters_instead_of_handing_the_record_back() {
    let w = World::new(3, Duration::from_secs(5));
    let m = w.inbound("u1");
    let (first, second) = (reply(&m, 0, "x"), reply(&m, 1, "y"));
    let batch = |receives: &str| {
        vec![
            record("a", "wechat:demo:u1", &json(&first), receives),
            record("b", "wechat:demo:u1", &json(&second), receives),
        ]
    };

    // Received twice before: the third receive is the last allowed attempt.
    w.platform.then(busy());
    let failures = handle_batch(&w.deps, &batch("2"), || MINUTE).await;
    assert_eq!(failures, ["a", "b"], "attempt 2 of 3: handed back in order");
    assert!(w.dead.letters().is_empty());

    w.platform.then(busy());
    let failures = handle_batch(&w.deps, &batch("3"), || MINUTE).await;

    assert!(failures.is_empty(), "{failures:?}");
    let dead = w.dead.letters();
    assert_eq!(dead.len(), 1);
    let body: ReplyCommand = serde_json::from_str(&dead[0].body).expect("the command");
    assert_eq!(body, first);
    assert_eq!(
        dead[0].attribute("error_code"),
        Some(delivery::RETRIES_EXHAUSTED)
    );
    assert_eq!(
        dead[0].attribute("reason"),
        Some("not delivered after 3 attempts: wechat error -1: system busy")
    );
    assert_eq!(w.state(&first), Some(DeliveryState::Failed));
    // The conversation's next reply is no longer held back behind it.
    assert_eq!(w.state(&second), Some(DeliveryState::Delivered));
    assert_eq!(w.wechat_calls(), 3);
    let handed_back: Vec<String> = w
        .retried()
        .iter()
        .map(|r| r.split(':').next().unwrap_or_default().to_string())
        .collect();
    assert_eq!(handed_back, ["rh-a", "rh-b"]);
}

#[tokio::test]
async fn a_template_held_for_the_daily_quota_is_handed_back_until_the_reset_not_dead_lettered() {
    use gateway_core::delivery::template_quota::{self, HELD_REASON, TemplateQuotas};
    use gateway_core::reply::template::TemplateField;
    // The last allowed attempt by receive count: a hold still never dead-letters it.
    let w = World::new(4, Duration::from_secs(5));
    let m = w.inbound("u1");
    let mut command = reply(&m, 0, "x");
    command.content = ReplyContent::Template {
        template_id: "tpl-1".into(),
        data: [("first".to_string(), TemplateField::new("您好"))].into(),
        url: None,
        miniprogram: None,
    };
    let now = crate::now_ms();
    w.ledger
        .mark_exhausted("demo", &template_quota::quota_day(now), now)
        .await
        .expect("mark");
    let records = vec![record("a", "wechat:demo:u1", &json(&command), "4")];

    let failures = handle_batch(&w.deps, &records, || MINUTE).await;

    assert_eq!(failures, ["a"]);
    assert!(w.platform.template_calls.lock().expect("lock").is_empty());
    assert!(w.dead.letters().is_empty(), "nothing lost");
    let held = w.ledger.record(&command.dedupe_id()).expect("record");
    assert_eq!(held.state, DeliveryState::Held);
    assert_eq!(held.reason.as_deref(), Some(HELD_REASON));
    // Invisible until the reset (at most SQS's 12 hours), whatever the backoff says.
    let until_reset = (template_quota::next_reset_ms(now) - now).min(12 * 3_600_000) / 1000;
    let retried = w.retried();
    assert_eq!(retried.len(), 1);
    let delay: i64 = retried[0]
        .strip_prefix("rh-a:")
        .expect("handle")
        .parse()
        .expect("secs");
    assert!(
        (until_reset - 5..=until_reset + 1).contains(&delay) && delay <= 43_200,
        "{delay} vs {until_reset}"
    );
    // The record says when.
    let retry_at = held.retry_at_ms.expect("retry time");
    assert!(((retry_at - now) / 1000 - delay).abs() <= 5, "{retry_at}");
}
