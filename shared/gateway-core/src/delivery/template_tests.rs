//! Template messages through [`super::deliver`]: no reply window, their own accounting, the
//! `accepted` record with the msgid, their error mapping, and the finish report settling it.

use super::*;
use crate::delivery::template::{self, FinishReport, Settled, outcome_of};
use crate::reply::template::TemplateField;
use std::collections::BTreeMap;

fn template_reply(m: &NormalizedMessage, key: &str) -> ReplyCommand {
    let mut c = agent_reply(m, key, "x");
    let mut data = BTreeMap::new();
    data.insert("first".to_string(), TemplateField::new("您的工单已处理"));
    data.insert(
        "keyword1".to_string(),
        TemplateField {
            value: "42".into(),
            color: Some("#173177".into()),
        },
    );
    c.content = ReplyContent::Template {
        template_id: "tpl-1".into(),
        data,
        url: Some("https://example.com/t/42".into()),
        miniprogram: None,
    };
    c
}

fn template_error(code: i64) -> CallError {
    CallError::Platform(PlatformError {
        channel: Channel::WeChat,
        code,
        message: "test".into(),
        disposition: template::classify_error(code),
    })
}

fn report(msgid: &str, status: &str) -> FinishReport {
    FinishReport {
        account_id: "demo".into(),
        msgid: msgid.into(),
        status: status.into(),
        outcome: outcome_of(status),
    }
}

#[tokio::test]
async fn a_template_after_the_window_is_sent_accepted_and_counted_apart() {
    let w = World::new();
    // The customer wrote 49 hours ago: the customer-service window has closed.
    let m = wechat_message(NOW - 49 * 3_600_000);
    w.inbound(&m);
    let text = agent_reply(&m, "late", "late");
    assert!(matches!(
        w.deliver(&text).await.expect("marked"),
        DeliveryOutcome::Undeliverable {
            reason: UndeliverableReason::WindowClosed,
            ..
        }
    ));
    let windows = w
        .ledger
        .conversation(&m.conversation_key)
        .expect("c")
        .reply_windows;
    let command = template_reply(&m, "t1");
    let outcome = w.deliver(&command).await.expect("sent");
    assert!(
        matches!(outcome, DeliveryOutcome::Delivered { window: None, .. }),
        "{outcome:?}"
    );
    let calls = w.platform.template_calls.lock().expect("lock").clone();
    assert_eq!(calls.len(), 1);
    let body = &calls[0].1;
    assert_eq!(body["touser"], "oUser");
    assert_eq!(body["template_id"], "tpl-1");
    assert_eq!(body["url"], "https://example.com/t/42");
    assert_eq!(body["client_msg_id"], command.dedupe_id().as_str());
    assert_eq!(body["data"]["keyword1"]["color"], "#173177");
    assert!(body.get("miniprogram").is_none());
    assert_eq!(w.platform.wechat_calls.lock().expect("lock").len(), 0);
    let record = w.ledger.record(&command.dedupe_id()).expect("record");
    assert_eq!(record.state, DeliveryState::Accepted);
    assert_eq!(record.platform_id.as_deref(), Some("200228332"));
    let c = w.ledger.conversation(&m.conversation_key).expect("conv");
    assert_eq!(c.template_replies.sent, 1);
    assert_eq!(c.template_replies.last_at, Some(NOW));
    assert!(c.public_replies.is_empty());
    assert_eq!(c.reply_windows, windows, "no window charged");

    // A redelivered command changes nothing and calls nothing.
    assert_eq!(
        w.deliver(&command).await.expect("again"),
        DeliveryOutcome::AlreadyHandled(DeliveryState::Accepted)
    );
    assert_eq!(w.platform.template_calls.lock().expect("lock").len(), 1);
}

#[tokio::test]
async fn the_finish_report_settles_the_record_once() {
    let w = World::new();
    let m = wechat_message(NOW - 1_000);
    w.inbound(&m);
    let ok = template_reply(&m, "t2");
    let blocked = template_reply(&m, "t3");
    w.deliver(&ok).await.expect("sent");
    w.deliver(&blocked).await.expect("sent");
    let before = w.ledger.conversation(&m.conversation_key).expect("conv");

    let settled = template::settle(&w.ledger, &report("200228332", "success"), NOW + 5)
        .await
        .expect("settled");
    assert_eq!(
        settled,
        Settled::Updated {
            reply_id: ok.dedupe_id()
        }
    );
    assert_eq!(
        w.ledger.record(&ok.dedupe_id()).expect("r").state,
        DeliveryState::Delivered
    );
    template::settle(
        &w.ledger,
        &report("200228333", "failed:user block"),
        NOW + 6,
    )
    .await
    .expect("settled");
    let r = w.ledger.record(&blocked.dedupe_id()).expect("r");
    assert_eq!(r.state, DeliveryState::Undeliverable);
    assert_eq!(r.reason.as_deref(), Some("user_block"));

    // A redelivered push changes nothing.
    let again = template::settle(
        &w.ledger,
        &report("200228332", "failed: system failed"),
        NOW + 7,
    )
    .await
    .expect("no-op");
    assert_eq!(
        again,
        Settled::AlreadySettled {
            reply_id: ok.dedupe_id()
        }
    );
    assert_eq!(
        w.ledger.record(&ok.dedupe_id()).expect("r").state,
        DeliveryState::Delivered
    );
    // An unknown msgid changes nothing; the conversation is never touched.
    assert_eq!(
        template::settle(&w.ledger, &report("999", "success"), NOW + 8)
            .await
            .expect("no-op"),
        Settled::Unknown
    );
    assert_eq!(
        w.ledger.conversation(&m.conversation_key).expect("conv"),
        before
    );
}

#[tokio::test]
async fn a_finish_report_before_the_acceptance_is_recorded_is_retried() {
    let w = World::new();
    let m = wechat_message(NOW - 1_000);
    w.inbound(&m);
    let command = template_reply(&m, "t4");
    w.deliver(&command).await.expect("sent");
    // As if the reply sender had not committed the acceptance yet.
    let mut r = w.ledger.record(&command.dedupe_id()).expect("r");
    r.state = DeliveryState::Sent;
    w.ledger.set(r);
    let err = template::settle(&w.ledger, &report("200228332", "success"), NOW)
        .await
        .expect_err("not yet");
    assert!(err.is_retryable());
}

#[tokio::test]
async fn template_refusals_map_to_undeliverable_retry_or_dead_letter() {
    let w = World::new();
    let m = wechat_message(NOW - 1_000);
    w.inbound(&m);
    // 43101: the user refused: undeliverable with the reason and the code.
    w.platform.then(Err(template_error(43101)));
    let refused = template_reply(&m, "r1");
    assert_eq!(
        w.deliver(&refused).await.expect("marked"),
        DeliveryOutcome::Undeliverable {
            reason: UndeliverableReason::UserRefused,
            platform_code: Some("wechat:43101".into()),
        }
    );
    // -1 busy: retried later, nothing recorded (45009, the daily quota, holds the reply:
    // quota_tests.rs).
    for code in [-1] {
        w.platform.then(Err(template_error(code)));
        let c = template_reply(&m, &format!("q{code}"));
        assert!(w.deliver(&c).await.expect_err("retry").is_retryable());
        assert!(w.ledger.record(&c.dedupe_id()).is_none(), "released");
    }
    // 40037 invalid template id: dead-lettered with the code.
    w.platform.then(Err(template_error(40037)));
    let bad = template_reply(&m, "bad");
    assert_eq!(
        w.deliver(&bad).await.expect("dead"),
        DeliveryOutcome::DeadLettered {
            code: "wechat:40037".into()
        }
    );
    assert_eq!(
        w.ledger.record(&bad.dedupe_id()).expect("r").state,
        DeliveryState::Failed
    );
}

#[tokio::test]
async fn a_stale_token_is_refreshed_once_for_a_template() {
    let w = World::new();
    let m = wechat_message(NOW - 1_000);
    w.inbound(&m);
    w.platform.then(Err(template_error(40001)));
    let command = template_reply(&m, "tok");
    w.deliver(&command).await.expect("sent");
    let calls = w.platform.template_calls.lock().expect("lock").clone();
    assert_eq!(calls.len(), 2);
    assert_ne!(calls[0].0, calls[1].0, "a fresh token the second time");
}

#[tokio::test]
async fn a_template_is_not_sent_on_weibo() {
    let w = World::new();
    let m = weibo_message(NOW - 1_000);
    w.inbound(&m);
    let mut command = template_reply(&m, "wb");
    command.channel = Channel::Weibo;
    let outcome = w.deliver(&command).await.expect("dead");
    assert!(
        matches!(outcome, DeliveryOutcome::DeadLettered { .. }),
        "{outcome:?}"
    );
    assert!(w.platform.template_calls.lock().expect("lock").is_empty());
}
