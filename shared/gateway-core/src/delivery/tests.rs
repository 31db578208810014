//! Orchestration tests of [`super::deliver`] against the in-memory fakes.
#![allow(clippy::unwrap_used)]

use super::platform::{CallError, Disposition, PlatformError};
use super::ports::{DeliveryRecord, DeliveryState};
use super::testing::{CountingTokens, InMemoryDeliveryLedger, MemoryUploadFiles, ScriptedPlatform};
use super::uploads::Uploads;
use super::window::{ReplyPolicy, UndeliverableReason};
use super::{Attempt, DeliveryError, DeliveryOutcome, RETRIES_EXHAUSTED, Sender, deliver};
use crate::account::AccountsDocument;
use crate::conversation::Conversation;
use crate::desk::testing::ScriptedWeChatMedia;
use crate::message::{Channel, NormalizedMessage};
use crate::outbound::ReplyCommand;
use crate::reply::ReplyContent;
use crate::testing::{RecordingDeadLetters, StaticAccounts, text_message};
use std::sync::Arc;
use std::time::Duration;

const ACCOUNTS: &str = r#"{
  "wechat": {
    "demo": {"app_id": "wx1", "token": "t", "app_secret": "s"},
    "passive": {"app_id": "wx2", "token": "t", "reply_mode": "passive"}
  },
  "weibo": {"brand": {"app_key": "k", "app_secret": "s", "access_token": "weibo-token"}}
}"#;

const NOW: i64 = 1_800_000_000_000;

struct World {
    accounts: StaticAccounts,
    ledger: InMemoryDeliveryLedger,
    tokens: CountingTokens,
    platform: ScriptedPlatform,
    dead: RecordingDeadLetters,
    files: MemoryUploadFiles,
    media: ScriptedWeChatMedia,
    policy: ReplyPolicy,
    now: i64,
}

impl World {
    fn new() -> Self {
        World {
            accounts: StaticAccounts(Arc::new(
                AccountsDocument::from_json(ACCOUNTS).expect("accounts"),
            )),
            ledger: InMemoryDeliveryLedger::default(),
            tokens: CountingTokens::default(),
            platform: ScriptedPlatform::default(),
            dead: RecordingDeadLetters::default(),
            files: MemoryUploadFiles::default(),
            media: ScriptedWeChatMedia::default(),
            policy: ReplyPolicy::default(),
            now: NOW,
        }
    }

    async fn deliver(&self, command: &ReplyCommand) -> Result<DeliveryOutcome, DeliveryError> {
        self.attempt(command, 1, u32::MAX).await
    }

    /// Delivery attempt `number` of at most `limit`.
    async fn attempt(
        &self,
        command: &ReplyCommand,
        number: u32,
        limit: u32,
    ) -> Result<DeliveryOutcome, DeliveryError> {
        let now = self.now;
        let clock = move || now;
        let sender = Sender {
            accounts: &self.accounts,
            conversations: &self.ledger,
            ledger: &self.ledger,
            quotas: &self.ledger,
            tokens: &self.tokens,
            wechat: &self.platform,
            weibo: &self.platform,
            dead_letters: &self.dead,
            uploads: self.uploads(),
            policy: &self.policy,
            claim_timeout_ms: 60_000,
            now: &clock,
        };
        if limit == u32::MAX {
            return deliver(&sender, command).await;
        }
        super::deliver_attempt(&sender, command, Attempt { number, limit }).await
    }

    fn uploads(&self) -> Uploads<'_> {
        Uploads {
            files: &self.files,
            ids: &self.files,
            wechat: &self.media,
        }
    }

    /// The dead-lettered commands with their error codes and reasons.
    fn dead_letters(&self) -> Vec<(ReplyCommand, String, String)> {
        self.dead
            .letters()
            .iter()
            .map(|l| {
                let command = serde_json::from_str(&l.body).expect("a reply command");
                let attribute = |name| l.attribute(name).expect(name).to_string();
                (command, attribute("error_code"), attribute("reason"))
            })
            .collect()
    }

    /// The router stored `message` (conversation with its windows).
    fn inbound(&self, message: &NormalizedMessage) {
        let mut c = self
            .ledger
            .conversation(&message.conversation_key)
            .unwrap_or_else(|| Conversation::new_for(message));
        c.record_inbound(message);
        c.version += 1;
        self.ledger.put_conversation(c);
    }

    fn calls(&self) -> usize {
        self.platform.wechat_calls.lock().expect("lock").len()
            + self.platform.weibo_calls.lock().expect("lock").len()
            + self.platform.comment_calls.lock().expect("lock").len()
    }
}

fn wechat_message(at: i64) -> NormalizedMessage {
    text_message("demo", "oUser", "42", "hello", at)
}

fn weibo_message(at: i64) -> NormalizedMessage {
    let mut m = text_message("brand", "1234", "7", "hi", at);
    m.channel = Channel::Weibo;
    m.conversation_key = NormalizedMessage::conversation_key_for(Channel::Weibo, "brand", "1234");
    m
}

fn auto_reply(m: &NormalizedMessage, text: &str) -> ReplyCommand {
    ReplyCommand::auto_reply(m, "welcome", 0, ReplyContent::text(text), m.received_at_ms)
}

/// An agent's reply to `m`'s customer, as `reply-api` makes it.
fn agent_reply(m: &NormalizedMessage, key: &str, text: &str) -> ReplyCommand {
    let mut c = auto_reply(m, text);
    c.idempotency_key = format!("agent:crm:key:{key}");
    c.origin = crate::outbound::ReplyOrigin::Agent {
        client_id: "crm".into(),
        agent_id: Some("alice".into()),
    };
    c
}

fn platform_error(code: i64, disposition: Disposition) -> CallError {
    CallError::Platform(PlatformError {
        channel: Channel::WeChat,
        code,
        message: "test".into(),
        disposition,
    })
}

#[tokio::test]
async fn delivers_once_and_records_the_reply_on_the_conversation() {
    let w = World::new();
    let m = wechat_message(NOW - 1_000);
    w.inbound(&m);
    let command = auto_reply(&m, "欢迎");

    let outcome = w.deliver(&command).await.expect("delivered");
    assert!(
        matches!(outcome, DeliveryOutcome::Delivered { .. }),
        "{outcome:?}"
    );
    let calls = w.platform.wechat_calls.lock().expect("lock").clone();
    assert_eq!(calls.len(), 1);
    assert_eq!(calls[0].0, "token-1");
    assert_eq!(calls[0].1["touser"], "oUser");
    assert_eq!(calls[0].1["text"]["content"], "欢迎");
    let c = w
        .ledger
        .conversation(&m.conversation_key)
        .expect("conversation");
    // An auto-reply reaches the customer but answers nothing.
    assert_eq!(c.last_outbound_at, Some(NOW));
    assert_eq!(c.first_response_at, None);
    assert!(c.is_unanswered());
    assert_eq!(c.reply_windows.message.map(|w| w.sent), Some(1));
    assert_eq!(w.ledger.outbound.lock().expect("lock").len(), 1);

    // A redelivered copy sends nothing.
    let again = w.deliver(&command).await.expect("duplicate");
    assert_eq!(
        again,
        DeliveryOutcome::AlreadyHandled(DeliveryState::Delivered)
    );
    assert_eq!(w.calls(), 1);
}

#[tokio::test]
async fn a_refused_token_is_refreshed_once_and_the_reply_retried() {
    let w = World::new();
    let m = wechat_message(NOW - 1_000);
    w.inbound(&m);
    w.platform
        .then(Err(platform_error(42001, Disposition::RefreshToken)));
    let outcome = w.deliver(&auto_reply(&m, "x")).await.expect("delivered");
    assert!(matches!(outcome, DeliveryOutcome::Delivered { .. }));
    let tokens: Vec<String> = w
        .platform
        .wechat_calls
        .lock()
        .expect("lock")
        .iter()
        .map(|c| c.0.clone())
        .collect();
    assert_eq!(tokens, ["token-1", "token-2"]);
    assert_eq!(*w.tokens.fetched.lock().expect("lock"), 2);
}

#[tokio::test]
async fn a_reply_outside_the_window_is_marked_not_sent() {
    let w = World::new();
    let m = wechat_message(NOW - 49 * 3_600_000);
    w.inbound(&m);
    let command = auto_reply(&m, "late");
    let outcome = w.deliver(&command).await.expect("marked");
    assert_eq!(
        outcome,
        DeliveryOutcome::Undeliverable {
            reason: UndeliverableReason::WindowClosed,
            platform_code: None
        }
    );
    assert_eq!(w.calls(), 0);
    let c = w
        .ledger
        .conversation(&m.conversation_key)
        .expect("conversation");
    let mark = c.undeliverable.clone().expect("marked");
    assert_eq!(mark.reason, UndeliverableReason::WindowClosed);
    assert_eq!(mark.reply_id, command.dedupe_id());
    assert_eq!(c.undeliverable_count, 1);
    assert!(c.is_unanswered(), "still waiting for an answer");
    let record = w.ledger.record(&command.dedupe_id()).expect("record");
    assert_eq!(record.state, DeliveryState::Undeliverable);
}

#[tokio::test]
async fn platform_window_and_quota_refusals_are_marked_with_the_code() {
    let w = World::new();
    let m = wechat_message(NOW - 1_000);
    w.inbound(&m);
    w.platform.then(Err(platform_error(
        45047,
        Disposition::Undeliverable(UndeliverableReason::QuotaExhausted),
    )));
    let outcome = w.deliver(&auto_reply(&m, "x")).await.expect("marked");
    assert_eq!(
        outcome,
        DeliveryOutcome::Undeliverable {
            reason: UndeliverableReason::QuotaExhausted,
            platform_code: Some("wechat:45047".into())
        }
    );
}

#[tokio::test]
async fn a_permanent_refusal_is_dead_lettered_with_its_code() {
    let w = World::new();
    let m = wechat_message(NOW - 1_000);
    w.inbound(&m);
    w.platform
        .then(Err(platform_error(40164, Disposition::Permanent)));
    let command = auto_reply(&m, "x");
    let outcome = w.deliver(&command).await.expect("dead-lettered");
    assert_eq!(
        outcome,
        DeliveryOutcome::DeadLettered {
            code: "wechat:40164".into()
        }
    );
    assert_eq!(w.dead_letters()[0].1, "wechat:40164");
    let record = w.ledger.record(&command.dedupe_id()).expect("record");
    assert_eq!(record.state, DeliveryState::Failed);
    assert_eq!(record.error_code.as_deref(), Some("wechat:40164"));
    assert_eq!(
        w.deliver(&command).await.expect("duplicate"),
        DeliveryOutcome::AlreadyHandled(DeliveryState::Failed)
    );
}

#[tokio::test]
async fn a_busy_platform_releases_the_claim_for_a_later_retry() {
    let w = World::new();
    let m = wechat_message(NOW - 1_000);
    w.inbound(&m);
    w.platform
        .then(Err(platform_error(-1, Disposition::Transient)));
    let command = auto_reply(&m, "x");
    let err = w.deliver(&command).await.expect_err("retry");
    assert!(err.is_retryable());
    assert!(w.ledger.record(&command.dedupe_id()).is_none(), "released");
    w.platform
        .then(Err(CallError::not_sent("connection refused")));
    assert!(w.deliver(&command).await.is_err());
    let outcome = w.deliver(&command).await.expect("delivered");
    assert!(matches!(outcome, DeliveryOutcome::Delivered { .. }));
    assert_eq!(w.calls(), 3);
}

#[tokio::test]
async fn an_attempt_that_died_during_the_call_is_never_sent_again() {
    let w = World::new();
    let m = wechat_message(NOW - 1_000);
    w.inbound(&m);
    let command = auto_reply(&m, "x");
    // A previous attempt claimed it and died before recording the answer.
    w.ledger.set(DeliveryRecord {
        reply_id: command.dedupe_id(),
        state: DeliveryState::Calling,
        calling_since_ms: Some(NOW - 10_000),
        sent_at_ms: None,
        reason: None,
        error_code: None,
        platform_id: None,
        retry_at_ms: None,
        updated_at_ms: NOW - 10_000,
    });
    // Still within the claim timeout: it may be running; retry later.
    assert!(w.deliver(&command).await.expect_err("wait").is_retryable());
    let mut later = World::new();
    later.now = NOW + 120_000;
    later.ledger.put_conversation(
        w.ledger
            .conversation(&m.conversation_key)
            .expect("conversation"),
    );
    later
        .ledger
        .set(w.ledger.record(&command.dedupe_id()).expect("record"));
    let outcome = later.deliver(&command).await.expect("marked");
    assert_eq!(
        outcome,
        DeliveryOutcome::Undeliverable {
            reason: UndeliverableReason::DeliveryUncertain,
            platform_code: None
        }
    );
    assert_eq!(later.calls(), 0);
    // An uncertain answer during the call is handled the same way.
    let w = World::new();
    w.inbound(&m);
    w.platform.then(Err(CallError::uncertain("timeout")));
    let outcome = w.deliver(&command).await.expect("marked");
    assert!(matches!(
        outcome,
        DeliveryOutcome::Undeliverable {
            reason: UndeliverableReason::DeliveryUncertain,
            ..
        }
    ));
    assert_eq!(w.deliver(&command).await.expect("dup").label(), "duplicate");
    assert_eq!(w.calls(), 1);
}

#[tokio::test]
async fn a_sent_but_unrecorded_reply_is_recorded_without_sending_again() {
    let w = World::new();
    let m = wechat_message(NOW - 1_000);
    w.inbound(&m);
    let command = agent_reply(&m, "t-1", "x");
    w.ledger.set(DeliveryRecord {
        reply_id: command.dedupe_id(),
        state: DeliveryState::Sent,
        calling_since_ms: Some(NOW - 5_000),
        sent_at_ms: Some(NOW - 4_000),
        reason: None,
        error_code: None,
        platform_id: None,
        retry_at_ms: None,
        updated_at_ms: NOW - 4_000,
    });
    let outcome = w.deliver(&command).await.expect("recorded");
    assert!(matches!(outcome, DeliveryOutcome::Delivered { .. }));
    assert_eq!(w.calls(), 0);
    let c = w
        .ledger
        .conversation(&m.conversation_key)
        .expect("conversation");
    assert_eq!(c.first_response_at, Some(NOW - 4_000));
}

#[tokio::test]
async fn an_auto_reply_waits_for_the_router_to_store_its_message() {
    let w = World::new();
    let m = wechat_message(NOW - 1_000);
    let err = w.deliver(&auto_reply(&m, "x")).await.expect_err("wait");
    assert!(err.is_retryable());
    assert_eq!(w.calls(), 0);
}

#[tokio::test]
async fn an_auto_reply_outside_the_committed_decision_is_never_sent() {
    let w = World::new();
    let m = wechat_message(NOW - 1_000);
    let lost = auto_reply(&m, "from a decision that lost a conflict");
    let kept = ReplyCommand::auto_reply(
        &m,
        "other-rule",
        0,
        ReplyContent::text("committed"),
        m.received_at_ms,
    );
    // The router committed a decision holding only `kept`.
    let mut c = Conversation::new_for(&m);
    c.record_inbound(&m);
    c.record_decision(&m.dedupe_id(), &[kept.dedupe_id()]);
    c.version = 1;
    w.ledger.put_conversation(c);
    assert!(matches!(
        w.deliver(&lost).await,
        Ok(DeliveryOutcome::Superseded)
    ));
    assert_eq!(w.calls(), 0);
    assert!(w.ledger.record(&lost.dedupe_id()).is_none());
    assert!(matches!(
        w.deliver(&kept).await,
        Ok(DeliveryOutcome::Delivered { .. })
    ));
    assert_eq!(w.calls(), 1);
}

#[tokio::test]
async fn passive_accounts_and_bad_commands_are_not_sent() {
    let w = World::new();
    let mut m = text_message("passive", "oU", "1", "hi", NOW - 1_000);
    m.conversation_key = NormalizedMessage::conversation_key_for(Channel::WeChat, "passive", "oU");
    w.inbound(&m);
    assert_eq!(
        w.deliver(&auto_reply(&m, "x")).await.expect("skipped"),
        DeliveryOutcome::SkippedPassive
    );
    let mut agent = auto_reply(&m, "from an agent");
    agent.origin = crate::outbound::ReplyOrigin::Agent {
        client_id: "crm".into(),
        agent_id: None,
    };
    assert_eq!(
        w.deliver(&agent).await.expect("marked"),
        DeliveryOutcome::Undeliverable {
            reason: UndeliverableReason::NoReplyApi,
            platform_code: None
        }
    );
    let mut unknown = auto_reply(&wechat_message(NOW - 1_000), "x");
    unknown.account_id = "nope".into();
    unknown.idempotency_key.push('!');
    assert_eq!(
        w.deliver(&unknown).await.expect("dead"),
        DeliveryOutcome::DeadLettered {
            code: "gateway:unknown_account".into()
        }
    );
    assert_eq!(w.calls(), 0);
}

#[tokio::test]
async fn weibo_replies_use_the_account_token_and_the_reply_form() {
    let w = World::new();
    let m = weibo_message(NOW - 1_000);
    w.inbound(&m);
    let outcome = w.deliver(&auto_reply(&m, "您好")).await.expect("delivered");
    assert!(matches!(outcome, DeliveryOutcome::Delivered { .. }));
    let calls = w.platform.weibo_calls.lock().expect("lock").clone();
    assert_eq!(calls[0].0, "weibo-token");
    assert!(
        calls[0]
            .1
            .contains(&("receiver_id".to_string(), "1234".to_string()))
    );
    assert!(
        calls[0]
            .1
            .contains(&("data".to_string(), r#"{"text":"您好"}"#.to_string()))
    );
}

#[tokio::test]
async fn only_a_person_s_first_answer_reports_a_first_response_time_and_an_answered_wait() {
    let w = World::new();
    let m = wechat_message(NOW - 1_000);
    w.inbound(&m);

    // The rule's acknowledgement: delivered, answers nothing, reports no response time.
    let ack = w.deliver(&auto_reply(&m, "欢迎")).await.expect("delivered");
    assert!(
        matches!(
            ack,
            DeliveryOutcome::Delivered {
                first_response_ms: None,
                answered_waiting: false,
                ..
            }
        ),
        "{ack:?}"
    );

    let first = w
        .deliver(&agent_reply(&m, "t-1", "您好"))
        .await
        .expect("delivered");
    let DeliveryOutcome::Delivered {
        first_response_ms,
        answered_waiting,
        ..
    } = first
    else {
        panic!("{first:?}");
    };
    // From the message (NOW - 1 s) to the delivery (NOW).
    assert_eq!(first_response_ms, Some(1_000));
    assert!(answered_waiting, "the customer was waiting");

    let again = w
        .deliver(&agent_reply(&m, "t-2", "还有问题吗"))
        .await
        .expect("delivered");
    assert!(
        matches!(
            again,
            DeliveryOutcome::Delivered {
                first_response_ms: None,
                answered_waiting: false,
                ..
            }
        ),
        "not the first response any more: {again:?}"
    );
}

#[tokio::test]
async fn a_rule_that_counts_as_an_answer_ends_the_wait_without_a_first_response_time() {
    let w = World::new();
    let m = wechat_message(NOW - 1_000);
    w.inbound(&m);
    let faq = auto_reply(&m, "价格请见…").counting_as_answer(true);
    let outcome = w.deliver(&faq).await.expect("delivered");
    assert!(
        matches!(
            outcome,
            DeliveryOutcome::Delivered {
                first_response_ms: None,
                answered_waiting: true,
                ..
            }
        ),
        "{outcome:?}"
    );
    let c = w.ledger.conversation(&m.conversation_key).expect("stored");
    assert!(!c.is_unanswered());
    assert_eq!(c.first_response_at, None);
}

#[tokio::test]
async fn a_transient_failure_on_the_last_allowed_attempt_is_dead_lettered_with_the_reason() {
    let w = World::new();
    let m = wechat_message(NOW - 1_000);
    w.inbound(&m);
    let command = auto_reply(&m, "x");
    for _ in 0..4 {
        w.platform.then(Err(CallError::Platform(PlatformError {
            channel: Channel::WeChat,
            code: -1,
            message: "system busy".into(),
            disposition: Disposition::Transient,
        })));
    }

    // Attempts 1 to 3 of 4: retried, nothing dead-lettered, the claim released each time.
    for number in 1..4 {
        let err = w.attempt(&command, number, 4).await.expect_err("retry");
        assert!(
            matches!(err, DeliveryError::Retry(_)),
            "attempt {number}: {err:?}"
        );
        assert!(w.ledger.record(&command.dedupe_id()).is_none(), "released");
        assert!(w.dead_letters().is_empty(), "attempt {number}");
    }

    // Attempt 4 of 4: dead-lettered with the code and the platform's error as the reason,
    // and acknowledged.
    let outcome = w.attempt(&command, 4, 4).await.expect("dead-lettered");
    assert_eq!(
        outcome,
        DeliveryOutcome::DeadLettered {
            code: RETRIES_EXHAUSTED.into()
        }
    );
    let dead = w.dead_letters();
    assert_eq!(dead.len(), 1);
    assert_eq!(dead[0].0, command);
    assert_eq!(dead[0].1, "gateway:retries_exhausted");
    assert_eq!(
        dead[0].2,
        "not delivered after 4 attempts: wechat error -1: system busy"
    );
    let record = w.ledger.record(&command.dedupe_id()).expect("record");
    assert_eq!(record.state, DeliveryState::Failed);
    assert_eq!(record.error_code.as_deref(), Some(RETRIES_EXHAUSTED));
    assert_eq!(record.reason.as_deref(), Some(dead[0].2.as_str()));
    assert_eq!(w.calls(), 4);
    assert!(
        w.ledger
            .conversation(&m.conversation_key)
            .expect("conversation")
            .is_unanswered(),
        "the customer still waits for an answer"
    );

    // A later copy (the queue's own redelivery) sends nothing and dead-letters nothing.
    assert_eq!(
        w.attempt(&command, 5, 4).await.expect("duplicate"),
        DeliveryOutcome::AlreadyHandled(DeliveryState::Failed)
    );
    assert_eq!(w.calls(), 4);
    assert_eq!(w.dead_letters().len(), 1);
}

#[tokio::test]
async fn fewer_transient_failures_than_the_limit_end_in_one_delivery() {
    let w = World::new();
    let m = wechat_message(NOW - 1_000);
    w.inbound(&m);
    let command = auto_reply(&m, "x");
    for _ in 0..3 {
        w.platform
            .then(Err(platform_error(-1, Disposition::Transient)));
    }
    for number in 1..4 {
        assert!(w.attempt(&command, number, 4).await.is_err());
    }
    let outcome = w.attempt(&command, 4, 4).await.expect("delivered");
    assert!(
        matches!(outcome, DeliveryOutcome::Delivered { .. }),
        "{outcome:?}"
    );
    assert!(w.dead_letters().is_empty());
    assert_eq!(w.ledger.outbound.lock().expect("lock").len(), 1);
    assert!(
        w.ledger
            .conversation(&m.conversation_key)
            .expect("conversation")
            .last_outbound_at
            .is_some()
    );
    assert_eq!(
        w.attempt(&command, 5, 4).await.expect("duplicate"),
        DeliveryOutcome::AlreadyHandled(DeliveryState::Delivered)
    );
    assert_eq!(w.calls(), 4);
}

#[tokio::test]
async fn every_failure_that_may_pass_is_given_up_on_the_last_attempt_with_its_reason() {
    // The request never left.
    let w = World::new();
    let m = wechat_message(NOW - 1_000);
    w.inbound(&m);
    w.platform
        .then(Err(CallError::not_sent("connection refused")));
    assert_eq!(
        w.attempt(&auto_reply(&m, "x"), 3, 3).await.expect("dead"),
        DeliveryOutcome::DeadLettered {
            code: RETRIES_EXHAUSTED.into()
        }
    );
    assert!(w.dead_letters()[0].2.ends_with("connection refused"));

    // The token API is busy: no platform call at all.
    let w = World::new();
    w.inbound(&m);
    *w.tokens.fail_with.lock().expect("lock") = Some(PlatformError {
        channel: Channel::WeChat,
        code: -1,
        message: "system busy".into(),
        disposition: Disposition::Transient,
    });
    assert_eq!(
        w.attempt(&auto_reply(&m, "x"), 1, 1).await.expect("dead"),
        DeliveryOutcome::DeadLettered {
            code: RETRIES_EXHAUSTED.into()
        }
    );
    assert!(w.dead_letters()[0].2.contains("-1: system busy"));
    assert_eq!(w.calls(), 0);

    // The router never stored the message an auto-reply answers.
    let w = World::new();
    let command = auto_reply(&m, "x");
    assert_eq!(
        w.attempt(&command, 4, 4).await.expect("dead"),
        DeliveryOutcome::DeadLettered {
            code: RETRIES_EXHAUSTED.into()
        }
    );
    assert!(w.dead_letters()[0].2.contains("has not stored the message"));
    assert_eq!(
        w.ledger.record(&command.dedupe_id()).map(|r| r.state),
        Some(DeliveryState::Failed)
    );
}

#[tokio::test]
async fn a_reply_whose_outcome_is_unsettled_is_never_given_up() {
    let w = World::new();
    let m = wechat_message(NOW - 1_000);
    w.inbound(&m);
    let command = auto_reply(&m, "x");
    // Another attempt is calling the platform right now.
    let calling = DeliveryRecord {
        reply_id: command.dedupe_id(),
        state: DeliveryState::Calling,
        calling_since_ms: Some(NOW - 1_000),
        sent_at_ms: None,
        reason: None,
        error_code: None,
        platform_id: None,
        retry_at_ms: None,
        updated_at_ms: NOW - 1_000,
    };
    w.ledger.set(calling.clone());
    let err = w.attempt(&command, 4, 4).await.expect_err("retry");
    assert!(matches!(err, DeliveryError::Unsettled { .. }), "{err:?}");
    assert!(err.is_retryable());
    // Retried when the claim runs out (claim timeout 60 s, claimed 1 s ago), not sooner: a
    // receive spent earlier could let the queue's redrive take the command first.
    assert_eq!(err.retry_not_before(), Some(Duration::from_millis(59_000)));
    assert!(w.dead_letters().is_empty());
    assert_eq!(w.ledger.record(&command.dedupe_id()), Some(calling));
    assert_eq!(w.calls(), 0);
}

#[tokio::test]
async fn permanent_refusals_and_deliveries_ignore_the_attempt_number() {
    let w = World::new();
    let m = wechat_message(NOW - 1_000);
    w.inbound(&m);
    w.platform
        .then(Err(platform_error(40164, Disposition::Permanent)));
    assert_eq!(
        w.attempt(&auto_reply(&m, "x"), 1, 4).await.expect("dead"),
        DeliveryOutcome::DeadLettered {
            code: "wechat:40164".into()
        }
    );
    let second = ReplyCommand::auto_reply(&m, "other", 0, ReplyContent::text("y"), NOW - 1_000);
    assert!(matches!(
        w.attempt(&second, 9, 4).await.expect("delivered"),
        DeliveryOutcome::Delivered { .. }
    ));
}

/// An accounts directory whose secret AWS refuses to read (a role without the permission).
struct RefusedAccounts;

#[async_trait::async_trait]
impl crate::ports::AccountDirectory for RefusedAccounts {
    async fn accounts(&self) -> Result<Arc<AccountsDocument>, crate::ports::PortError> {
        Err(crate::ports::PortError::permanent(
            "secretsmanager get_secret_value",
            "AccessDeniedException: not authorized",
        ))
    }
}

#[tokio::test]
async fn an_aws_refusal_is_retried_like_a_transient_failure_and_dead_lettered_only_at_the_end() {
    let w = World::new();
    let m = wechat_message(NOW - 1_000);
    w.inbound(&m);
    let command = agent_reply(&m, "t-1", "您好");
    let clock = || NOW;
    let sender = Sender {
        accounts: &RefusedAccounts,
        conversations: &w.ledger,
        ledger: &w.ledger,
        quotas: &w.ledger,
        tokens: &w.tokens,
        wechat: &w.platform,
        weibo: &w.platform,
        dead_letters: &w.dead,
        uploads: w.uploads(),
        policy: &w.policy,
        claim_timeout_ms: 60_000,
        now: &clock,
    };
    for number in 1..3 {
        let e = super::deliver_attempt(&sender, &command, Attempt { number, limit: 3 })
            .await
            .expect_err("retried");
        assert!(matches!(e, DeliveryError::Retry(_)), "{e:?}");
        assert!(e.is_retryable());
        assert!(w.dead_letters().is_empty(), "attempt {number}");
    }
    let last = super::deliver_attempt(
        &sender,
        &command,
        Attempt {
            number: 3,
            limit: 3,
        },
    )
    .await
    .expect("dead-lettered");
    assert!(
        matches!(last, DeliveryOutcome::DeadLettered { .. }),
        "{last:?}"
    );
    let dead = w.dead_letters();
    assert_eq!(dead.len(), 1);
    assert_eq!(dead[0].1, RETRIES_EXHAUSTED);
    assert!(dead[0].2.contains("AccessDeniedException"), "{}", dead[0].2);
    assert_eq!(w.calls(), 0, "nothing reached the platform");
}

#[tokio::test]
async fn a_reply_naming_an_agents_file_is_sent_with_its_media_id_and_a_missing_file_dead_letters() {
    let w = World::new();
    let m = wechat_message(NOW - 1_000);
    w.inbound(&m);
    let key = format!("uploads/wechat/demo/{}", "ab".repeat(32));
    w.files.insert(&key, "image/png", b"png");
    let image = |key: &str| ReplyContent::Image {
        media_id: String::new(),
        upload: Some(key.into()),
    };
    let mut command = agent_reply(&m, "img-1", "x");
    command.content = image(&key);
    let outcome = w.deliver(&command).await.expect("delivered");
    assert!(
        matches!(outcome, DeliveryOutcome::Delivered { .. }),
        "{outcome:?}"
    );
    let calls = w.platform.wechat_calls.lock().unwrap().clone();
    assert_eq!(calls.len(), 1);
    assert_eq!(calls[0].1["msgtype"], "image");
    assert_eq!(calls[0].1["image"]["media_id"], "media-1");
    assert_eq!(w.media.calls.lock().unwrap().len(), 1);

    // A file that is not there: dead-lettered with its own code, nothing sent or claimed.
    let mut gone = agent_reply(&m, "img-2", "x");
    gone.content = image(&format!("uploads/wechat/demo/{}", "cd".repeat(32)));
    let outcome = w.deliver(&gone).await.expect("handled");
    assert!(
        matches!(outcome, DeliveryOutcome::DeadLettered { .. }),
        "{outcome:?}"
    );
    let letters = w.dead_letters();
    assert_eq!(letters.len(), 1);
    assert_eq!(letters[0].1, "gateway:upload_missing");
    assert_eq!(w.platform.wechat_calls.lock().unwrap().len(), 1);
}

#[path = "public_tests.rs"]
mod public;

#[path = "template_tests.rs"]
mod template_send;

#[path = "quota_tests.rs"]
mod template_quota_send;
