//! Template messages at the desk: after the customer-service window has closed a text reply is
//! refused (422 `outside_reply_window`) while a template message is queued; a template is WeChat
//! only and its fields are checked; the thread shows its delivery as WeChat reported it.
#![allow(clippy::unwrap_used)]

use super::tests::{NOW, fixture, send};
use gateway_core::conversation::Conversation;
use gateway_core::desk::ports::{ThreadEntry, ThreadItem};
use gateway_core::outbound::ReplyCommand;
use gateway_core::reply::ReplyContent;
use gateway_core::testing::text_message;
use serde_json::json;

const KEY: &str = "wechat:demo:late";

/// A WeChat follower of team complaints who last wrote 49 hours ago.
fn closed_window(store: &gateway_core::desk::testing::MemoryDesk) -> ReplyCommand {
    let m = text_message("demo", "late", "9", "还在吗", NOW - 49 * 3_600_000);
    let mut c = Conversation::new_for(&m);
    c.record_inbound(&m);
    c.team = Some("complaints".into());
    c.version = 1;
    store.insert(c);
    ReplyCommand::auto_reply(&m, "x", 0, ReplyContent::text("x"), NOW)
}

fn template(data: serde_json::Value) -> String {
    json!({"content": {
        "type": "template",
        "template_id": "tpl-1",
        "data": data,
        "url": "https://example.com/t/42"
    }})
    .to_string()
}

#[tokio::test]
async fn after_the_window_a_template_is_queued_where_text_is_refused() {
    let (desk, store, queue) = fixture();
    closed_window(&store);
    let path = format!("/conversations/{KEY}/replies");
    let text = json!({"content": {"type": "text", "text": "hi"}}).to_string();
    let r = send(&desk, "POST", &path, Some("agent1"), Some(&text), &[]).await;
    assert_eq!(
        (
            r.status,
            r.body["error"].as_str(),
            r.body["reason"].as_str()
        ),
        (422, Some("outside_reply_window"), Some("window_closed")),
        "{}",
        r.body
    );
    let body = template(json!({"first": {"value": "您的工单已处理"}, "keyword1": {"value": "42"}}));
    let r = send(&desk, "POST", &path, Some("agent1"), Some(&body), &[]).await;
    assert_eq!(r.status, 202, "{}", r.body);
    let commands = queue.commands();
    assert_eq!(commands.len(), 1);
    assert!(commands[0].content.is_template());
    assert_eq!(commands[0].recipient_id, "late");
}

#[tokio::test]
async fn a_template_is_checked_and_wechat_only() {
    let (desk, store, queue) = fixture();
    closed_window(&store);
    let path = format!("/conversations/{KEY}/replies");
    for (bad, why) in [
        (template(json!({})), "`data` is empty"),
        (
            template(json!({"keyword1.DATA": {"value": "x"}})),
            "write `keyword1`",
        ),
        (
            template(json!({"k": {"value": "x", "color": "red"}})),
            "#RRGGBB",
        ),
    ] {
        let r = send(&desk, "POST", &path, Some("agent1"), Some(&bad), &[]).await;
        assert_eq!(r.status, 400, "{}", r.body);
        assert!(r.body.to_string().contains(why), "{}", r.body);
    }
    // Weibo has no template messages.
    store
        .agents
        .lock()
        .unwrap()
        .get_mut("agent1")
        .unwrap()
        .accounts
        .insert("weibo:brand".into());
    let mut m = text_message("brand", "2001", "1", "hi", NOW - 1_000);
    m.channel = gateway_core::message::Channel::Weibo;
    m.conversation_key = "weibo:brand:2001".into();
    let mut c = Conversation::new_for(&m);
    c.record_inbound(&m);
    c.team = Some("complaints".into());
    c.version = 1;
    store.insert(c);
    let r = send(
        &desk,
        "POST",
        "/conversations/weibo:brand:2001/replies",
        Some("agent1"),
        Some(&template(json!({"k": {"value": "x"}}))),
        &[],
    )
    .await;
    assert_eq!(
        (r.status, r.body["error"].as_str()),
        (422, Some("unsupported_content")),
        "{}",
        r.body
    );
    assert!(queue.commands().is_empty());
}

#[tokio::test]
async fn the_thread_shows_a_template_with_its_reported_delivery() {
    let (desk, store, _) = fixture();
    let base = closed_window(&store);
    for (seq, delivery, reason) in [
        (2, Some("accepted"), None),
        (3, Some("undeliverable"), Some("user_block")),
    ] {
        let mut reply = base.clone();
        reply.idempotency_key = format!("t{seq}");
        reply.content = serde_json::from_value(json!({
            "type": "template", "template_id": "tpl-1",
            "data": {"first": {"value": "您的工单已处理"}}
        }))
        .unwrap();
        store.add_thread(
            KEY,
            ThreadItem {
                seq,
                id: reply.dedupe_id(),
                entry: ThreadEntry::Outbound {
                    reply,
                    sent_at: NOW - 1_000,
                    delivery: delivery.map(String::from),
                    delivery_reason: reason.map(String::from),
                },
                media: vec![],
            },
        );
    }
    let r = send(
        &desk,
        "GET",
        &format!("/conversations/{KEY}/messages"),
        Some("agent1"),
        None,
        &[],
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let items = r.body["items"].as_array().unwrap();
    let outbound: Vec<_> = items.iter().filter(|i| i["type"] == "outbound").collect();
    assert_eq!(outbound.len(), 2, "{}", r.body);
    assert_eq!(outbound[0]["kind"], "template");
    assert_eq!(outbound[0]["text"], "您的工单已处理");
    assert_eq!(outbound[0]["delivery"], "accepted");
    assert_eq!(outbound[1]["delivery"], "undeliverable");
    assert_eq!(outbound[1]["delivery_reason"], "user_block");
}
