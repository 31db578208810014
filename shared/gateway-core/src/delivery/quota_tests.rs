//! Template messages' daily quota through [`super::deliver`] and [`super::deliver_attempt`]:
//! the limit, WeChat's 45009, the hold (not an attempt) and the release after the reset.

use super::*;
use crate::delivery::template;
use crate::delivery::template_quota::{
    self, HELD_REASON, MAX_HOLD, MAX_HOLDS, QUOTA_EXHAUSTED, QuotaDay, TemplateQuotas,
};
use crate::reply::template::TemplateField;
use std::collections::BTreeMap;

const LIMITED: &str = r#"{
  "wechat": {
    "demo": {"app_id": "wx1", "token": "t", "app_secret": "s", "template_daily_limit": 2}
  }
}"#;

fn limited_world(now: i64) -> World {
    let mut w = World::new();
    w.accounts = StaticAccounts(Arc::new(
        AccountsDocument::from_json(LIMITED).expect("accounts"),
    ));
    w.now = now;
    w
}

fn template_reply(m: &NormalizedMessage, key: &str) -> ReplyCommand {
    let mut c = agent_reply(m, key, "x");
    let mut data = BTreeMap::new();
    data.insert("first".to_string(), TemplateField::new("您的工单已处理"));
    c.content = ReplyContent::Template {
        template_id: "tpl-1".into(),
        data,
        url: None,
        miniprogram: None,
    };
    c
}

fn quota_error() -> CallError {
    CallError::Platform(PlatformError {
        channel: Channel::WeChat,
        code: 45009,
        message: "reach max api daily quota limit".into(),
        disposition: template::classify_error(45009),
    })
}

fn template_calls(w: &World) -> usize {
    w.platform.template_calls.lock().expect("lock").len()
}

fn held(e: &DeliveryError) -> (i64, Duration, u32) {
    match e {
        DeliveryError::Held {
            retry_at_ms,
            delay,
            holds,
            ..
        } => (*retry_at_ms, *delay, *holds),
        other => panic!("expected a hold, got {other:?}"),
    }
}

// NOW is 2027-01-15 16:00 in Beijing: the quota resets 8 hours later.
const RESET: i64 = NOW + 8 * 3_600_000;

#[tokio::test]
async fn two_templates_are_counted_and_the_third_is_held_at_a_limit_of_two() {
    let w = limited_world(NOW);
    let m = wechat_message(NOW - 1_000);
    w.inbound(&m);
    for key in ["a", "b"] {
        let outcome = w.deliver(&template_reply(&m, key)).await.expect("sent");
        assert!(
            matches!(outcome, DeliveryOutcome::Delivered { .. }),
            "{outcome:?}"
        );
    }
    let day = template_quota::quota_day(NOW);
    assert_eq!(w.ledger.quota("demo", &day).sent, 2);

    let third = template_reply(&m, "c");
    let e = w.deliver(&third).await.expect_err("held");
    assert!(e.is_retryable());
    let (retry_at, delay, holds) = held(&e);
    assert_eq!(retry_at, RESET);
    assert_eq!(delay, Duration::from_secs(8 * 3600));
    assert_eq!(e.retry_not_before(), Some(delay));
    assert_eq!(holds, 1);
    assert_eq!(template_calls(&w), 2, "WeChat got no third send");
    let record = w.ledger.record(&third.dedupe_id()).expect("record");
    assert_eq!(record.state, DeliveryState::Held);
    assert_eq!(record.reason.as_deref(), Some(HELD_REASON));
    assert_eq!(record.retry_at_ms, Some(RESET));
    assert!(w.dead_letters().is_empty(), "nothing lost");
}

#[tokio::test]
async fn a_45009_marks_the_day_exhausted_and_the_next_template_is_held_without_calling_wechat() {
    // No limit configured: WeChat's own answer stops the day.
    let w = World::new();
    let m = wechat_message(NOW - 1_000);
    w.inbound(&m);
    w.platform.then(Err(quota_error()));
    let first = template_reply(&m, "q1");
    let e = w.deliver(&first).await.expect_err("held");
    assert_eq!(held(&e).0, RESET);
    assert_eq!(template_calls(&w), 1);
    let day = w.ledger.quota("demo", &template_quota::quota_day(NOW));
    assert_eq!(
        day,
        QuotaDay {
            sent: 0,
            exhausted_at_ms: Some(NOW)
        }
    );
    assert_eq!(
        w.ledger.record(&first.dedupe_id()).expect("r").state,
        DeliveryState::Held
    );

    let second = template_reply(&m, "q2");
    held(&w.deliver(&second).await.expect_err("held"));
    assert_eq!(template_calls(&w), 1, "no call once the day is exhausted");
    // A customer-service reply is not affected by the template quota.
    let text = agent_reply(&m, "text", "您好");
    assert!(matches!(
        w.deliver(&text).await.expect("sent"),
        DeliveryOutcome::Delivered { .. }
    ));
}

#[tokio::test]
async fn a_held_template_is_sent_after_the_reset() {
    let w = limited_world(NOW);
    let m = wechat_message(NOW - 1_000);
    w.inbound(&m);
    for key in ["a", "b"] {
        w.deliver(&template_reply(&m, key)).await.expect("sent");
    }
    let third = template_reply(&m, "c");
    held(&w.deliver(&third).await.expect_err("held"));

    // The same command, received again one second after midnight in Beijing.
    let mut after = limited_world(RESET + 1_000);
    after.ledger = std::mem::take(&mut limited_world(0).ledger);
    for (k, v) in w.ledger.records.lock().expect("lock").iter() {
        after
            .ledger
            .records
            .lock()
            .expect("lock")
            .insert(k.clone(), v.clone());
    }
    after
        .ledger
        .put_conversation(w.ledger.conversation(&m.conversation_key).expect("c"));
    *after.ledger.quota_days.lock().expect("lock") =
        w.ledger.quota_days.lock().expect("lock").clone();
    let outcome = after.deliver(&third).await.expect("sent after the reset");
    assert!(
        matches!(outcome, DeliveryOutcome::Delivered { .. }),
        "{outcome:?}"
    );
    assert_eq!(
        after.ledger.record(&third.dedupe_id()).expect("r").state,
        DeliveryState::Accepted
    );
    assert_eq!(template_calls(&after), 1);
    assert_eq!(
        after
            .ledger
            .quota("demo", &template_quota::quota_day(RESET + 1_000))
            .sent,
        1,
        "counted on the new day"
    );
}

#[tokio::test]
async fn holds_do_not_use_up_delivery_attempts() {
    let w = limited_world(NOW);
    let m = wechat_message(NOW - 1_000);
    w.inbound(&m);
    let command = template_reply(&m, "h");
    w.ledger
        .mark_exhausted("demo", &template_quota::quota_day(NOW), NOW)
        .await
        .expect("mark");
    // Receives 1 and 2 are holds.
    for number in 1..=2 {
        let e = w.attempt(&command, number, 4).await.expect_err("held");
        assert_eq!(held(&e).2, number);
    }
    // After the reset, receive 4 of at most 4 fails transiently (busy): only its second
    // attempt, so it is retried, not dead-lettered.
    let mut after = World::new();
    after.now = RESET + 1_000;
    after
        .ledger
        .put_conversation(w.ledger.conversation(&m.conversation_key).expect("c"));
    for (k, v) in w.ledger.records.lock().expect("lock").iter() {
        after
            .ledger
            .records
            .lock()
            .expect("lock")
            .insert(k.clone(), v.clone());
    }
    *after.ledger.holds.lock().expect("lock") = w.ledger.holds.lock().expect("lock").clone();
    after.platform.then(Err(CallError::Platform(PlatformError {
        channel: Channel::WeChat,
        code: -1,
        message: "busy".into(),
        disposition: Disposition::Transient,
    })));
    let e = after.attempt(&command, 4, 4).await.expect_err("retried");
    assert!(matches!(e, DeliveryError::Retry(_)), "{e:?}");
    assert!(after.dead_letters().is_empty());
    // Without the holds, receive 4 of 4 would have been the last attempt.
    *after.ledger.holds.lock().expect("lock") = Default::default();
    after.platform.then(Err(CallError::Platform(PlatformError {
        channel: Channel::WeChat,
        code: -1,
        message: "busy".into(),
        disposition: Disposition::Transient,
    })));
    let outcome = after.attempt(&command, 4, 4).await.expect("dead-lettered");
    assert_eq!(
        outcome,
        DeliveryOutcome::DeadLettered {
            code: RETRIES_EXHAUSTED.into()
        }
    );
}

#[tokio::test]
async fn a_hold_is_not_dead_lettered_on_the_last_attempt() {
    let w = limited_world(NOW);
    let m = wechat_message(NOW - 1_000);
    w.inbound(&m);
    w.ledger
        .mark_exhausted("demo", &template_quota::quota_day(NOW), NOW)
        .await
        .expect("mark");
    let command = template_reply(&m, "last");
    let e = w.attempt(&command, 4, 4).await.expect_err("held");
    held(&e);
    assert!(w.dead_letters().is_empty());
}

#[tokio::test]
async fn a_reply_held_more_than_max_holds_times_is_dead_lettered_with_the_quota_code() {
    let w = limited_world(NOW);
    let m = wechat_message(NOW - 1_000);
    w.inbound(&m);
    w.ledger
        .mark_exhausted("demo", &template_quota::quota_day(NOW), NOW)
        .await
        .expect("mark");
    let command = template_reply(&m, "long");
    for _ in 0..MAX_HOLDS {
        held(&w.deliver(&command).await.expect_err("held"));
    }
    let outcome = w.deliver(&command).await.expect("dead-lettered");
    assert_eq!(
        outcome,
        DeliveryOutcome::DeadLettered {
            code: QUOTA_EXHAUSTED.into()
        }
    );
    let record = w.ledger.record(&command.dedupe_id()).expect("r");
    assert_eq!(record.state, DeliveryState::Failed);
    assert_eq!(template_calls(&w), 0);
}

#[tokio::test]
async fn a_hold_early_in_the_day_is_capped_at_twelve_hours() {
    // 01:00 in Beijing: 23 hours to the reset.
    let early = NOW - 15 * 3_600_000;
    let w = limited_world(early);
    let m = wechat_message(early - 1_000);
    w.inbound(&m);
    w.ledger
        .mark_exhausted("demo", &template_quota::quota_day(early), early)
        .await
        .expect("mark");
    let e = w
        .deliver(&template_reply(&m, "early"))
        .await
        .expect_err("held");
    let (retry_at, delay, _) = held(&e);
    assert_eq!(delay, MAX_HOLD);
    assert_eq!(retry_at, early + 12 * 3_600_000);
}
