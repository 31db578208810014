//! Profile commands, the decision to fetch, the fetch use case, and profile rules.

use super::*;
use crate::conversation::{Conversation, CustomerProfile, Priority};
use crate::media::MediaCommand;
use crate::message::Channel;
use crate::ports::{CommitOutcome, ConversationStore, PortError, Retry};
use crate::rules::RuleSet;
use crate::testing::{InMemoryConversationStore, text_message};
use async_trait::async_trait;
use std::sync::Mutex;

const WEEK_MS: i64 = 7 * 86_400_000;

fn weibo_profile(fetched_at: i64, followers: u64, verified: bool) -> CustomerProfile {
    CustomerProfile {
        fetched_at,
        source: Channel::Weibo,
        language: None,
        subscribed: None,
        subscribe_time: None,
        subscribe_scene: None,
        remark: None,
        tag_ids: Vec::new(),
        unionid: None,
        screen_name: Some("大V".into()),
        followers_count: Some(followers),
        verified: Some(verified),
        verified_reason: None,
    }
}

fn conversation_with(profile: Option<CustomerProfile>, inbound: u64) -> Conversation {
    let m = text_message("demo", "u1", "1", "hi", 1_000);
    let mut c = Conversation::new_for(&m);
    for _ in 0..inbound {
        c.record_inbound(&m);
    }
    c.profile = profile;
    c.version = 1;
    c
}

#[test]
fn a_first_message_asks_for_the_profile_and_a_fresh_one_does_not() {
    let m = text_message("demo", "u1", "1", "hi", 10 * WEEK_MS);
    let first = profile_command(&m, None, WEEK_MS).expect("first message");
    assert_eq!(first.reason, ProfileReason::First);
    assert_eq!(first.customer_id, "u1");
    assert_eq!(first.conversation_key, m.conversation_key);
    let fresh = conversation_with(Some(weibo_profile(10 * WEEK_MS - 1_000, 1, false)), 1);
    assert_eq!(profile_command(&m, Some(&fresh), WEEK_MS), None);
    let stale = conversation_with(Some(weibo_profile(9 * WEEK_MS, 1, false)), 1);
    let refresh = profile_command(&m, Some(&stale), WEEK_MS).expect("stale");
    assert_eq!(refresh.reason, ProfileReason::Refresh);
    let mut missing = conversation_with(None, 3);
    assert_eq!(
        profile_command(&m, Some(&missing), WEEK_MS).map(|c| c.reason),
        Some(ProfileReason::Refresh),
        "a conversation from before profiles asks for one"
    );
    missing.profile_requested_at = Some(10 * WEEK_MS - 5_000);
    assert_eq!(
        profile_command(&m, Some(&missing), WEEK_MS),
        None,
        "asked for already: on its way, or dead-lettered with its reason"
    );
    let mut stale_asked = stale.clone();
    stale_asked.profile_requested_at = Some(10 * WEEK_MS - 5_000);
    assert_eq!(profile_command(&m, Some(&stale_asked), WEEK_MS), None);
    missing.profile_requested_at = Some(9 * WEEK_MS);
    assert!(
        profile_command(&m, Some(&missing), WEEK_MS).is_some(),
        "asked long ago"
    );
}

#[test]
fn the_command_and_the_notice_have_stable_wire_forms() {
    let m = text_message("demo", "oUser", "1", "hi", 1_700_000_000_000);
    let command = profile_command(&m, None, WEEK_MS).expect("first");
    let json = serde_json::to_string(&MediaCommand::Profile(command.clone())).expect("json");
    assert_eq!(
        json,
        r#"{"schema_version":1,"command":"profile","channel":"wechat","account_id":"demo","conversation_key":"wechat:demo:oUser","customer_id":"oUser","reason":"first","requested_at":1700000000000}"#
    );
    assert_eq!(
        MediaCommand::from_body(&json).expect("decodes"),
        MediaCommand::Profile(command.clone())
    );
    // A media fetch command (no `command`) still reads as one.
    let mut image = m.clone();
    image.content = crate::message::Content::Image {
        media_id: Some("M".into()),
        url: None,
    };
    let fetch = crate::media::fetch_commands(&image, 1).remove(0);
    let body = serde_json::to_string(&MediaCommand::Fetch(fetch.clone())).expect("json");
    assert!(!body.contains("command"), "{body}");
    assert_eq!(
        MediaCommand::from_body(&body).expect("decodes"),
        MediaCommand::Fetch(fetch)
    );
    // An unknown command is refused with a reason.
    let err = MediaCommand::from_body(&json.replace("\"profile\"", "\"other\""))
        .expect_err("unknown command");
    assert!(err.to_string().contains("unknown variant"), "{err}");

    let notice = ProfileNotice::for_stored(&command, &weibo_profile(42, 1, false));
    assert_eq!(notice.dedupe_id(), "profile:wechat:demo:oUser:42");
    assert_eq!(notice.message_group_id(), "wechat:demo:oUser");
    let body = serde_json::to_string(&notice).expect("json");
    assert_eq!(
        ProfileNotice::from_body(&body)
            .expect("a notice")
            .expect("reads"),
        notice
    );
    let message = serde_json::to_string(&m).expect("json");
    assert!(ProfileNotice::from_body(&message).is_none(), "a message");
    let long = ProfileNotice {
        conversation_key: "x".repeat(200),
        ..notice
    };
    assert_eq!(long.dedupe_id().len(), 64);
}

#[test]
fn platform_errors_are_classified() {
    use fetch::ProfileErrorClass::{Permanent, Transient};
    for code in [-1, 45009, 45011, 40001, 40014, 42001] {
        assert_eq!(classify_profile_error(Channel::WeChat, code), Transient);
    }
    for code in [40003, 40013, 48001, 50001] {
        assert_eq!(classify_profile_error(Channel::WeChat, code), Permanent);
    }
    for code in [10001, 10009, 10022, 10023, 10024, 21327, 21332] {
        assert_eq!(classify_profile_error(Channel::Weibo, code), Transient);
    }
    for code in [20003, 10017, 21301] {
        assert_eq!(classify_profile_error(Channel::Weibo, code), Permanent);
    }
}

struct FakeSource(Mutex<Vec<Result<CustomerProfile, ProfileError>>>);

#[async_trait]
impl ProfileSource for FakeSource {
    async fn fetch(
        &self,
        _command: &ProfileFetch,
        now_ms: i64,
    ) -> Result<CustomerProfile, ProfileError> {
        let next = self.0.lock().expect("lock").remove(0);
        next.map(|mut p| {
            p.fetched_at = now_ms;
            p
        })
    }
}

#[derive(Default)]
struct FakeRecords {
    stored: Mutex<Option<CustomerProfile>>,
    missing: Mutex<bool>,
}

#[async_trait]
impl ProfileRecords for FakeRecords {
    async fn store(&self, _key: &str, p: &CustomerProfile) -> Result<StoreOutcome, PortError> {
        if *self.missing.lock().expect("lock") {
            return Ok(StoreOutcome::NoConversation);
        }
        let mut stored = self.stored.lock().expect("lock");
        if stored
            .as_ref()
            .is_some_and(|s| s.fetched_at >= p.fetched_at)
        {
            return Ok(StoreOutcome::Newer);
        }
        let previous = stored.replace(p.clone()).map(Box::new);
        Ok(StoreOutcome::Stored { previous })
    }
}

#[derive(Default)]
struct FakeNotices {
    sent: Mutex<Vec<ProfileNotice>>,
    fail: Mutex<bool>,
}

#[async_trait]
impl ProfileNotices for FakeNotices {
    async fn notify(&self, notice: &ProfileNotice) -> Result<(), PortError> {
        if *self.fail.lock().expect("lock") {
            return Err(PortError::transient("notify", "down (test)"));
        }
        self.sent.lock().expect("lock").push(notice.clone());
        Ok(())
    }
}

fn command(reason: ProfileReason) -> ProfileFetch {
    let mut c =
        profile_command(&text_message("demo", "u1", "1", "hi", 1), None, WEEK_MS).expect("first");
    c.reason = reason;
    c
}

#[tokio::test]
async fn a_new_profile_is_stored_then_noticed_and_an_unchanged_refresh_is_not() {
    let source = FakeSource(Mutex::new(vec![
        Ok(weibo_profile(0, 150_000, true)),
        Ok(weibo_profile(0, 150_000, true)),
        Ok(weibo_profile(0, 160_000, true)),
    ]));
    let records = FakeRecords::default();
    let notices = FakeNotices::default();
    let first = fetch_and_store(
        &command(ProfileReason::First),
        &source,
        &records,
        &notices,
        100,
    )
    .await;
    assert!(matches!(
        first,
        ProfileHandled::Stored { noticed: true, .. }
    ));
    let same = fetch_and_store(
        &command(ProfileReason::Refresh),
        &source,
        &records,
        &notices,
        200,
    )
    .await;
    assert!(matches!(
        same,
        ProfileHandled::Stored { noticed: false, .. }
    ));
    let changed = fetch_and_store(
        &command(ProfileReason::Refresh),
        &source,
        &records,
        &notices,
        300,
    )
    .await;
    assert!(matches!(
        changed,
        ProfileHandled::Stored { noticed: true, .. }
    ));
    let sent: Vec<i64> = notices
        .sent
        .lock()
        .expect("lock")
        .iter()
        .map(|n| n.fetched_at)
        .collect();
    assert_eq!(sent, [100, 300]);
    assert_eq!(
        records
            .stored
            .lock()
            .expect("lock")
            .as_ref()
            .and_then(|p| p.followers_count),
        Some(160_000)
    );
}

#[tokio::test]
async fn errors_retry_or_dead_letter_with_their_reason() {
    let source = FakeSource(Mutex::new(vec![
        Err(ProfileError::Platform {
            code: 45009,
            message: "api freq out of limit".into(),
        }),
        Err(ProfileError::Platform {
            code: 40003,
            message: "invalid openid".into(),
        }),
        Err(ProfileError::Transport {
            retry: Retry::Permanent,
            reason: "unknown WeChat account `x`".into(),
        }),
        Ok(weibo_profile(0, 1, false)),
        Ok(weibo_profile(0, 1, false)),
    ]));
    let records = FakeRecords::default();
    let notices = FakeNotices::default();
    let c = command(ProfileReason::First);
    let busy = fetch_and_store(&c, &source, &records, &notices, 1).await;
    assert!(
        matches!(&busy, ProfileHandled::Retry { reason } if reason.contains("45009")),
        "{busy:?}"
    );
    let invalid = fetch_and_store(&c, &source, &records, &notices, 2).await;
    assert!(
        matches!(&invalid, ProfileHandled::DeadLetter { reason } if reason == "wechat error 40003: invalid openid"),
        "{invalid:?}"
    );
    let config = fetch_and_store(&c, &source, &records, &notices, 3).await;
    assert!(matches!(config, ProfileHandled::DeadLetter { .. }));
    *records.missing.lock().expect("lock") = true;
    let early = fetch_and_store(&c, &source, &records, &notices, 4).await;
    assert!(
        matches!(&early, ProfileHandled::Retry { reason } if reason.contains("not stored yet")),
        "the router's transaction has not committed yet: {early:?}"
    );
    *records.missing.lock().expect("lock") = false;
    *notices.fail.lock().expect("lock") = true;
    let lost = fetch_and_store(&c, &source, &records, &notices, 5).await;
    assert!(matches!(lost, ProfileHandled::Retry { .. }));
    assert!(records.stored.lock().expect("lock").is_some());
}

const PROFILE_RULES: &str = r#"
version: 1
rules:
  - id: opinion-leader
    when:
      any:
        - followers_at_least: 100000
        - verified: true
    then:
      - add_tags: [opinion_leader]
      - assign: { team: vip }
      - escalate: { response_target_secs: 600 }
  - id: fallback
    when: { kind: text }
    then: [ { reply: { type: text, text: "稍后回复" } } ]
"#;

#[test]
fn profile_conditions_read_the_cached_profile_and_a_missing_one_is_false() {
    let rules = RuleSet::from_yaml(PROFILE_RULES).expect("valid");
    let m = text_message("demo", "u1", "2", "hi", 2_000);
    let none = conversation_with(None, 1);
    let d = crate::rules::evaluate(&rules, &m, Some(&none), chrono::Utc::now());
    assert_eq!(d.fired_ids(), ["fallback"]);
    let small = conversation_with(Some(weibo_profile(1, 99_999, false)), 1);
    let d = crate::rules::evaluate(&rules, &m, Some(&small), chrono::Utc::now());
    assert_eq!(d.fired_ids(), ["fallback"]);
    let big = conversation_with(Some(weibo_profile(1, 150_000, false)), 1);
    let d = crate::rules::evaluate(&rules, &m, Some(&big), chrono::Utc::now());
    assert_eq!(d.fired_ids(), ["opinion-leader"]);
    assert!(
        d.fired[0].why.contains("150000 followers"),
        "{}",
        d.fired[0].why
    );
    let verified = conversation_with(Some(weibo_profile(1, 10, true)), 1);
    let d = crate::rules::evaluate(&rules, &m, Some(&verified), chrono::Utc::now());
    assert_eq!(d.fired_ids(), ["opinion-leader"]);
}

#[test]
fn language_and_scene_conditions_and_their_validation() {
    let rules = RuleSet::from_yaml(
        r#"
version: 1
rules:
  - id: english
    when: { profile_language: [en, en_US], subscribe_scene: ADD_SCENE_QR_CODE }
    then: [ { add_tags: [english] } ]
"#,
    )
    .expect("valid");
    let m = text_message("demo", "u1", "2", "hi", 2_000);
    let mut p = weibo_profile(1, 0, false);
    p.source = Channel::WeChat;
    p.language = Some("en".into());
    p.subscribe_scene = Some("ADD_SCENE_QR_CODE".into());
    let c = conversation_with(Some(p.clone()), 1);
    let d = crate::rules::evaluate(&rules, &m, Some(&c), chrono::Utc::now());
    assert_eq!(d.fired_ids(), ["english"]);
    p.subscribe_scene = Some("ADD_SCENE_SEARCH".into());
    let c = conversation_with(Some(p), 1);
    assert!(crate::rules::evaluate(&rules, &m, Some(&c), chrono::Utc::now()).is_empty());

    let err = RuleSet::from_yaml(
        r#"
version: 1
rules:
  - id: vip-hello
    when: { verified: true }
    then: [ { reply: { type: text, text: "您好" } } ]
"#,
    )
    .expect_err("a profile rule cannot reply");
    assert!(
        err.to_string()
            .contains("rule `vip-hello`: a rule with profile conditions"),
        "{err}"
    );
    let err = RuleSet::from_yaml(
        r#"
version: 1
rules:
  - id: qr
    when: { subscribe_scene: qr_code }
    then: [ { add_tags: [qr] } ]
"#,
    )
    .expect_err("scene names");
    assert!(err.to_string().contains("ADD_SCENE_"), "{err}");
    let err = RuleSet::from_yaml(
        r#"
version: 1
rules:
  - id: big
    when: { followers_at_least: -5 }
    then: [ { add_tags: [big] } ]
"#,
    )
    .expect_err("a count");
    assert!(err.to_string().contains("followers_at_least"), "{err}");
}

#[tokio::test]
async fn a_notice_applies_only_profile_rules_once_and_stores_no_message() {
    let rules = RuleSet::from_yaml(PROFILE_RULES).expect("valid");
    let store = InMemoryConversationStore::default();
    let m = text_message("demo", "u1", "1", "hi", 1_000);
    let mut c = Conversation::new_for(&m);
    c.record_inbound(&m);
    c.version = 1;
    store
        .commit_inbound(&m, None, &c)
        .await
        .expect("stored first message");
    let notice = ProfileNotice {
        schema_version: PROFILE_SCHEMA_VERSION,
        record: NoticeKind::Profile,
        channel: Channel::WeChat,
        account_id: "demo".into(),
        conversation_key: m.conversation_key.clone(),
        fetched_at: 5_000,
    };
    // No profile stored yet: nothing.
    assert_eq!(
        apply_notice(&store, &rules, &notice).await.expect("ok"),
        NoticeOutcome::Unchanged
    );
    let mut with_profile = store.conversation(&m.conversation_key).expect("stored");
    let previous = with_profile.clone();
    with_profile.profile = Some(weibo_profile(5_000, 150_000, true));
    with_profile.version += 1;
    assert_eq!(
        store
            .commit_conversation(&previous, &with_profile)
            .await
            .expect("ok"),
        CommitOutcome::Stored
    );
    let NoticeOutcome::Applied {
        decision,
        conversation,
    } = apply_notice(&store, &rules, &notice).await.expect("ok")
    else {
        panic!("the opinion-leader rule fires");
    };
    assert_eq!(decision.fired_ids(), ["opinion-leader"], "not the fallback");
    assert!(decision.replies.is_empty());
    assert!(conversation.escalated);
    assert_eq!(conversation.priority, Priority::Urgent);
    assert_eq!(conversation.team.as_deref(), Some("vip"));
    assert!(conversation.tags.contains("opinion_leader"));
    assert_eq!(conversation.inbound_count, 1, "not an inbound message");
    assert_eq!(store.message_count(), 1, "no message stored");
    // A redelivered notice changes nothing.
    assert_eq!(
        apply_notice(&store, &rules, &notice).await.expect("ok"),
        NoticeOutcome::Unchanged
    );
    assert_eq!(
        store
            .conversation(&m.conversation_key)
            .expect("stored")
            .version,
        conversation.version
    );
    // An erased conversation drops the notice.
    let other = ProfileNotice {
        conversation_key: "wechat:demo:gone".into(),
        ..notice
    };
    assert_eq!(
        apply_notice(&store, &rules, &other).await.expect("ok"),
        NoticeOutcome::NoConversation
    );
}

#[tokio::test]
async fn the_shipped_opinion_leader_rule_prioritises_a_weibo_first_message_once_the_profile_arrives()
 {
    let rules = RuleSet::from_yaml(include_str!("../../../../config/rules.yaml")).expect("valid");
    let store = InMemoryConversationStore::default();
    let mut m = text_message("brand", "1234", "1", "你好", 1_000);
    m.channel = Channel::Weibo;
    m.conversation_key = "weibo:brand:1234".into();
    // The router's first pass: no profile yet, the rule cannot hold.
    let d = crate::rules::evaluate(&rules, &m, None, chrono::Utc::now());
    assert!(
        !d.fired_ids().contains(&"opinion-leader"),
        "{:?}",
        d.fired_ids()
    );
    let mut c = Conversation::new_for(&m);
    c.record_inbound(&m);
    d.apply_to(&mut c, 1_000);
    c.version = 1;
    store.commit_inbound(&m, None, &c).await.expect("stored");
    let mut next = c.clone();
    next.profile = Some(weibo_profile(5_000, 150_000, true));
    next.version = 2;
    store.commit_conversation(&c, &next).await.expect("profile");
    let notice = ProfileNotice {
        schema_version: PROFILE_SCHEMA_VERSION,
        record: NoticeKind::Profile,
        channel: Channel::Weibo,
        account_id: "brand".into(),
        conversation_key: m.conversation_key.clone(),
        fetched_at: 5_000,
    };
    let NoticeOutcome::Applied {
        decision,
        conversation,
    } = apply_notice(&store, &rules, &notice).await.expect("ok")
    else {
        panic!("the opinion-leader rule fires");
    };
    assert_eq!(decision.fired_ids(), ["opinion-leader"]);
    assert_eq!(conversation.team.as_deref(), Some("vip-care"));
    assert!(conversation.escalated && conversation.tags.contains("opinion_leader"));
    assert_eq!(conversation.priority, Priority::Urgent);
    // The next message: once per conversation, it does not fire again.
    let m2 = crate::message::NormalizedMessage {
        dedupe_key: "msg:2".into(),
        received_at_ms: 9_000,
        ..m.clone()
    };
    let d = crate::rules::evaluate(&rules, &m2, Some(&conversation), chrono::Utc::now());
    assert!(
        !d.fired_ids().contains(&"opinion-leader"),
        "{:?}",
        d.fired_ids()
    );
}
