//! Public comments through [`super::deliver`]: where they go, their own accounting, their own
//! error mapping, and no private window.

use super::*;
use crate::delivery::weibo_comments::{self, CommentCall};
use crate::message::{Content, PostRef};

/// A comment by customer 1234 under the brand's post, as the poller stores it.
fn comment_message(at: i64) -> NormalizedMessage {
    let mut m = weibo_message(at);
    m.content = Content::Comment {
        comment_id: "4900000000000777".into(),
        text: "质量太差".into(),
        post: PostRef::new("4900000000000001", "新品发布", None),
        reply_to_comment_id: None,
    };
    m
}

fn public_reply(m: &NormalizedMessage, key: &str, comment_id: Option<&str>) -> ReplyCommand {
    let mut c = agent_reply(m, key, "x");
    c.content = ReplyContent::PublicComment {
        text: "抱歉，已私信您".into(),
        post_id: "4900000000000001".into(),
        comment_id: comment_id.map(String::from),
    };
    c
}

fn weibo_error(code: i64) -> CallError {
    CallError::Platform(PlatformError {
        channel: Channel::Weibo,
        code,
        message: "test".into(),
        disposition: weibo_comments::classify_error(code),
    })
}

#[tokio::test]
async fn a_public_reply_goes_to_comments_reply_and_is_counted_apart_from_the_windows() {
    let w = World::new();
    let m = comment_message(NOW - 1_000);
    w.inbound(&m);
    let command = public_reply(&m, "p1", Some("4900000000000777"));

    let outcome = w.deliver(&command).await.expect("delivered");
    assert!(
        matches!(outcome, DeliveryOutcome::Delivered { window: None, .. }),
        "{outcome:?}"
    );
    let calls = w.platform.comment_calls.lock().expect("lock").clone();
    assert_eq!(calls.len(), 1);
    let (call, (token, fields)) = &calls[0];
    assert_eq!(*call, CommentCall::Reply);
    assert_eq!(token, "weibo-token");
    let field = |k: &str| fields.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
    assert_eq!(field("cid"), Some("4900000000000777"));
    assert_eq!(field("id"), Some("4900000000000001"));
    assert_eq!(field("comment"), Some("抱歉，已私信您"));
    assert!(w.platform.weibo_calls.lock().expect("lock").is_empty());
    let record = w.ledger.record(&command.dedupe_id()).expect("record");
    assert_eq!(record.state, DeliveryState::Delivered);
    assert_eq!(record.platform_id.as_deref(), Some("c1"));
    let c = w.ledger.conversation(&m.conversation_key).expect("conv");
    assert_eq!(c.public_replies.sent, 1);
    assert_eq!(c.public_replies.last_at, Some(NOW));
    assert!(c.reply_windows.is_empty(), "no private window charged");
    assert_eq!(
        c.first_response_at,
        Some(NOW),
        "an agent's answer all the same"
    );
}

#[tokio::test]
async fn a_comment_on_the_post_goes_to_comments_create() {
    let w = World::new();
    let m = comment_message(NOW - 1_000);
    w.inbound(&m);
    w.deliver(&public_reply(&m, "p2", None))
        .await
        .expect("delivered");
    let calls = w.platform.comment_calls.lock().expect("lock").clone();
    assert_eq!(calls[0].0, CommentCall::Create);
    assert!(!calls[0].1.1.iter().any(|(k, _)| k == "cid"));
}

#[tokio::test]
async fn the_private_window_does_not_hold_back_a_public_reply() {
    let w = World::new();
    // A private message 49 hours ago: its window has closed.
    let m = weibo_message(NOW - 49 * 3_600_000);
    w.inbound(&m);
    let private = agent_reply(&m, "late", "late");
    assert!(matches!(
        w.deliver(&private).await.expect("marked"),
        DeliveryOutcome::Undeliverable {
            reason: UndeliverableReason::WindowClosed,
            ..
        }
    ));
    let public = public_reply(&m, "p3", Some("4900000000000777"));
    assert!(matches!(
        w.deliver(&public).await.expect("delivered"),
        DeliveryOutcome::Delivered { .. }
    ));
    assert_eq!(w.platform.comment_calls.lock().expect("lock").len(), 1);
}

#[tokio::test]
async fn a_rate_limited_public_reply_is_retried_then_delivered_once() {
    let w = World::new();
    let m = comment_message(NOW - 1_000);
    w.inbound(&m);
    let command = public_reply(&m, "p4", Some("4900000000000777"));
    for code in [20016, 10023] {
        w.platform.then(Err(weibo_error(code)));
        let err = w.deliver(&command).await.expect_err("retry");
        assert!(err.is_retryable(), "{code}");
        assert!(w.ledger.record(&command.dedupe_id()).is_none(), "released");
    }
    assert!(matches!(
        w.deliver(&command).await.expect("delivered"),
        DeliveryOutcome::Delivered { .. }
    ));
    assert_eq!(
        w.deliver(&command).await.expect("duplicate"),
        DeliveryOutcome::AlreadyHandled(DeliveryState::Delivered)
    );
    assert_eq!(w.calls(), 3);
    let c = w.ledger.conversation(&m.conversation_key).expect("conv");
    assert_eq!(c.public_replies.sent, 1);
}

#[tokio::test]
async fn a_refused_public_reply_is_dead_lettered_with_its_code() {
    let w = World::new();
    let m = comment_message(NOW - 1_000);
    w.inbound(&m);
    let command = public_reply(&m, "p5", Some("4900000000000777"));
    w.platform.then(Err(weibo_error(20206)));
    assert_eq!(
        w.deliver(&command).await.expect("dead-lettered"),
        DeliveryOutcome::DeadLettered {
            code: "weibo:20206".into()
        }
    );
    assert_eq!(w.dead_letters()[0].1, "weibo:20206");
    let record = w.ledger.record(&command.dedupe_id()).expect("record");
    assert_eq!(record.state, DeliveryState::Failed);
    let c = w.ledger.conversation(&m.conversation_key).expect("conv");
    assert!(c.public_replies.is_empty());
}

#[tokio::test]
async fn a_public_comment_on_wechat_is_never_sent() {
    let w = World::new();
    let m = wechat_message(NOW - 1_000);
    w.inbound(&m);
    let mut command = agent_reply(&m, "wx", "x");
    command.content = ReplyContent::PublicComment {
        text: "x".into(),
        post_id: "1".into(),
        comment_id: None,
    };
    assert_eq!(
        w.deliver(&command).await.expect("dead-lettered"),
        DeliveryOutcome::DeadLettered {
            code: "gateway:unsupported_content".into()
        }
    );
    assert_eq!(w.calls(), 0);
}
