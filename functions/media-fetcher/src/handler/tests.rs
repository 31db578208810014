//! Tests of the batch handler with in-memory ports.

use super::*;
use async_trait::async_trait;
use gateway_core::conversation::CustomerProfile;
use gateway_core::media::{MediaFetch, MediaKind, SourceError};
use gateway_core::message::{Channel, Content};
use gateway_core::ports::{PortError, Retry};
use gateway_core::profile::{ProfileError, ProfileNotice, StoreOutcome};
use gateway_core::testing::RecordingDeadLetters;
use gateway_core::testing::media::{FakeMediaSource, InMemoryMediaRecords, InMemoryMediaStore};
use gateway_core::testing::text_message;
use std::collections::HashMap;
use std::sync::Mutex;

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

/// Answers profile requests with a scripted error, or a verified Weibo profile.
#[derive(Default)]
struct Profiles {
    error: Mutex<Option<ProfileError>>,
    stored: Mutex<Vec<CustomerProfile>>,
    notices: Mutex<Vec<ProfileNotice>>,
}

#[async_trait]
impl ProfileSource for Profiles {
    async fn fetch(
        &self,
        _command: &ProfileFetch,
        now_ms: i64,
    ) -> Result<CustomerProfile, ProfileError> {
        if let Some(e) = self.error.lock().expect("lock").clone() {
            return Err(e);
        }
        Ok(CustomerProfile {
            fetched_at: now_ms,
            source: Channel::Weibo,
            language: None,
            subscribed: None,
            subscribe_time: None,
            subscribe_scene: None,
            remark: None,
            tag_ids: Vec::new(),
            unionid: None,
            screen_name: Some("大V".into()),
            followers_count: Some(150_000),
            verified: Some(true),
            verified_reason: None,
        })
    }
}

#[async_trait]
impl ProfileRecords for Profiles {
    async fn store(&self, _key: &str, p: &CustomerProfile) -> Result<StoreOutcome, PortError> {
        self.stored.lock().expect("lock").push(p.clone());
        Ok(StoreOutcome::Stored { previous: None })
    }
}

#[async_trait]
impl ProfileNotices for Profiles {
    async fn notify(&self, notice: &ProfileNotice) -> Result<(), PortError> {
        self.notices.lock().expect("lock").push(notice.clone());
        Ok(())
    }
}

struct World {
    profiles: Arc<Profiles>,
    source: Arc<FakeMediaSource>,
    store: Arc<InMemoryMediaStore>,
    records: Arc<InMemoryMediaRecords>,
    dead: Arc<RecordingDeadLetters>,
    retries: Arc<Retries>,
    deps: FetcherDeps,
}

fn world() -> World {
    let source = Arc::new(FakeMediaSource::default());
    let store = Arc::new(InMemoryMediaStore::default());
    let records = Arc::new(InMemoryMediaRecords::default());
    let dead = Arc::new(RecordingDeadLetters::default());
    let retries = Arc::new(Retries::default());
    let profiles = Arc::new(Profiles::default());
    let deps = FetcherDeps {
        source: source.clone(),
        store: store.clone(),
        records: records.clone(),
        dead_letters: dead.clone(),
        retries: retries.clone(),
        settings: Settings {
            max_attempts: 3,
            retry_base_secs: 10,
            retry_max_secs: 300,
        },
        start_margin: Duration::from_secs(1),
        now_ms: || 1_000,
        profiles: ProfileDeps {
            source: profiles.clone(),
            records: profiles.clone(),
            notices: profiles.clone(),
        },
    };
    World {
        profiles,
        source,
        store,
        records,
        dead,
        retries,
        deps,
    }
}

/// The fetch command of a WeChat image message, stored in a conversation of its own.
fn command(media_id: &str, records: &InMemoryMediaRecords) -> MediaFetch {
    let mut m = text_message("demo", &format!("o{media_id}"), media_id, "", 1_000);
    m.content = Content::Image {
        media_id: Some(media_id.into()),
        url: None,
    };
    let command = media::fetch_commands(&m, 1).remove(0);
    records.store_message(&command.conversation_key, 1, &command.message_id);
    command
}

fn record(id: &str, body: &str, receive_count: u32) -> SqsMessage {
    let mut r = SqsMessage::default();
    r.message_id = Some(id.into());
    r.receipt_handle = Some(format!("h-{id}"));
    r.body = Some(body.into());
    r.attributes = HashMap::from([(
        "ApproximateReceiveCount".to_string(),
        receive_count.to_string(),
    )]);
    r
}

#[tokio::test]
async fn stored_expired_and_undecodable_records_are_all_acknowledged() {
    let w = world();
    w.source.insert("PIC", "image/jpeg", b"\xff\xd8jpeg");
    let stored = command("PIC", &w.records);
    let expired = command("GONE", &w.records);
    let batch = [
        record("1", &serde_json::to_string(&stored).expect("json"), 1),
        record("2", &serde_json::to_string(&expired).expect("json"), 1),
        record("3", "{not json", 1),
    ];
    let retry = handle_batch(&w.deps, &batch, || Duration::MAX).await;
    assert!(retry.is_empty(), "{retry:?}");
    let on_item = |c: &MediaFetch| w.records.records(&c.conversation_key, 1)["image"].clone();
    assert_eq!(on_item(&stored).state.label(), "stored");
    assert!(matches!(
        on_item(&expired).state,
        MediaState::Unavailable {
            platform_code: 40007,
            ..
        }
    ));
    assert_eq!(w.store.len(), 1);
    let letters = w.dead.letters();
    assert_eq!(letters.len(), 1, "only the undecodable record");
    assert_eq!(letters[0].body, "{not json");
    assert!(
        letters[0]
            .attribute("reason")
            .is_some_and(|r| r.contains("undecodable")),
        "{:?}",
        letters[0]
    );
}

#[tokio::test]
async fn a_transient_failure_backs_off_then_dead_letters_with_its_reason_at_the_limit() {
    let w = world();
    let c = command("BUSY", &w.records);
    let body = serde_json::to_string(&c).expect("json");
    for _ in 0..3 {
        w.source.fail_next(
            "BUSY",
            SourceError::Platform {
                code: -1,
                message: "system error".into(),
            },
        );
    }
    // Attempts 1 and 2: handed back with 10 s, then 20 s of backoff.
    for attempt in 1..=2 {
        let retry = handle_batch(&w.deps, &[record("r", &body, attempt)], || Duration::MAX).await;
        assert_eq!(retry, ["r"]);
    }
    assert_eq!(*w.retries.0.lock().expect("lock"), ["h-r:10", "h-r:20"]);
    assert!(w.dead.letters().is_empty());
    // Attempt 3, the last allowed: dead-lettered with the reason, acknowledged.
    let retry = handle_batch(&w.deps, &[record("r", &body, 3)], || Duration::MAX).await;
    assert!(retry.is_empty());
    let letters = w.dead.letters();
    assert_eq!(letters.len(), 1);
    let reason = letters[0]
        .attribute("reason")
        .unwrap_or_default()
        .to_string();
    assert!(
        reason.contains("retries_exhausted") && reason.contains("platform error -1"),
        "{reason}"
    );
    assert_eq!(letters[0].body, body, "redrivable as queued");
    assert_eq!(w.records.records(&c.conversation_key, 1).len(), 0);
}

#[tokio::test]
async fn a_permanent_failure_dead_letters_at_once_and_a_store_outage_retries() {
    let w = world();
    let denied = command("DENIED", &w.records);
    w.source.fail_next(
        "DENIED",
        SourceError::Platform {
            code: 48001,
            message: "api unauthorized".into(),
        },
    );
    let retry = handle_batch(
        &w.deps,
        &[record(
            "1",
            &serde_json::to_string(&denied).expect("json"),
            1,
        )],
        || Duration::MAX,
    )
    .await;
    assert!(retry.is_empty());
    assert_eq!(w.dead.letters().len(), 1);

    w.source.insert("PIC", "image/png", b"png");
    let c = command("PIC", &w.records);
    w.store
        .fail_next(PortError::transient("s3 head_object (media)", "throttled"));
    let retry = handle_batch(
        &w.deps,
        &[record("2", &serde_json::to_string(&c).expect("json"), 1)],
        || Duration::MAX,
    )
    .await;
    assert_eq!(retry, ["2"]);
    assert_eq!(w.dead.letters().len(), 1, "no new letter");
    let _ = (MediaKind::Image, Channel::WeChat, Retry::Transient);
}

#[tokio::test]
async fn a_record_is_not_started_without_the_time_it_may_need() {
    let w = world();
    w.source.insert("PIC", "image/jpeg", b"jpeg");
    let c = command("PIC", &w.records);
    let retry = handle_batch(
        &w.deps,
        &[record("1", &serde_json::to_string(&c).expect("json"), 1)],
        || Duration::from_millis(500),
    )
    .await;
    assert_eq!(retry, ["1"]);
    assert_eq!(w.source.downloads(), 0);
}

fn profile_body() -> String {
    let m = text_message("demo", "oFan", "1", "hi", 1_000);
    let command = gateway_core::profile::profile_command(&m, None, 1).expect("first message");
    serde_json::to_string(&MediaCommand::Profile(command)).expect("json")
}

#[tokio::test]
async fn a_profile_command_is_stored_and_noticed() {
    let w = world();
    let retry = handle_batch(&w.deps, &[record("p", &profile_body(), 1)], || {
        Duration::MAX
    })
    .await;
    assert!(retry.is_empty(), "{retry:?}");
    assert_eq!(w.profiles.stored.lock().expect("lock").len(), 1);
    let notices = w.profiles.notices.lock().expect("lock").clone();
    assert_eq!(notices.len(), 1);
    assert_eq!(notices[0].dedupe_id(), "profile:wechat:demo:oFan:1000");
    assert!(w.dead.letters().is_empty());
}

#[tokio::test]
async fn a_failing_profile_is_retried_then_dead_lettered_with_its_reason() {
    let w = world();
    *w.profiles.error.lock().expect("lock") = Some(ProfileError::Platform {
        code: 45009,
        message: "api freq out of limit".into(),
    });
    let body = profile_body();
    let retry = handle_batch(&w.deps, &[record("p", &body, 1)], || Duration::MAX).await;
    assert_eq!(retry, ["p"], "transient: retried with backoff");
    assert_eq!(w.retries.0.lock().expect("lock").len(), 1);
    let retry = handle_batch(&w.deps, &[record("p", &body, 3)], || Duration::MAX).await;
    assert!(retry.is_empty(), "the last attempt dead-letters");
    *w.profiles.error.lock().expect("lock") = Some(ProfileError::Platform {
        code: 40003,
        message: "invalid openid".into(),
    });
    let retry = handle_batch(&w.deps, &[record("q", &body, 1)], || Duration::MAX).await;
    assert!(retry.is_empty(), "permanent: at once");
    let reasons: Vec<String> = w
        .dead
        .letters()
        .iter()
        .map(|l| l.attribute("reason").unwrap_or_default().to_string())
        .collect();
    assert_eq!(
        reasons,
        [
            "gateway:retries_exhausted after 3 attempts: wechat error 45009: api freq out of limit",
            "wechat error 40003: invalid openid"
        ]
    );
    assert_eq!(w.dead.letters()[0].body, body, "the command, to redrive");
    assert!(w.profiles.stored.lock().expect("lock").is_empty());
}
