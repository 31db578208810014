//! Public replies at the desk: the thread says what was public (the customer's comment with
//! its post, the agent's public comment), and a public comment is checked against its own
//! limits and never against the private window.
#![allow(clippy::unwrap_used)]

use super::tests::{NOW, fixture, send};
use gateway_core::conversation::Conversation;
use gateway_core::desk::ports::{ThreadEntry, ThreadItem};
use gateway_core::message::{Channel, Content, NormalizedMessage, PostRef};
use gateway_core::outbound::ReplyCommand;
use gateway_core::reply::ReplyContent;
use gateway_core::testing::text_message;
use serde_json::json;

const KEY: &str = "weibo:brand:2001";

/// A Weibo customer of team complaints whose only message is a comment under the brand's post,
/// answered once in public.
fn public_conversation(store: &gateway_core::desk::testing::MemoryDesk) {
    // agent1 works the Weibo account too.
    store
        .agents
        .lock()
        .unwrap()
        .get_mut("agent1")
        .unwrap()
        .accounts
        .insert("weibo:brand".into());
    let mut m = text_message("brand", "2001", "c1", "质量太差", NOW - 60_000);
    m.channel = Channel::Weibo;
    m.conversation_key = NormalizedMessage::conversation_key_for(Channel::Weibo, "brand", "2001");
    m.content = Content::Comment {
        comment_id: "4900000000000777".into(),
        text: "质量太差".into(),
        post: PostRef::new("4900000000000001", "新品发布：夏季系列", None),
        reply_to_comment_id: None,
    };
    let mut c = Conversation::new_for(&m);
    c.record_inbound(&m);
    c.team = Some("complaints".into());
    c.version = 1;
    store.insert(c);
    store.add_thread(
        KEY,
        ThreadItem {
            seq: 1,
            id: m.dedupe_id(),
            entry: ThreadEntry::Inbound(m.clone()),
            media: vec![],
        },
    );
    let mut reply = ReplyCommand::auto_reply(
        &m,
        "public-thanks",
        0,
        ReplyContent::PublicComment {
            text: "抱歉，已私信您".into(),
            post_id: "4900000000000001".into(),
            comment_id: Some("4900000000000777".into()),
        },
        NOW - 50_000,
    );
    reply.idempotency_key = "k".into();
    store.add_thread(
        KEY,
        ThreadItem {
            seq: 2,
            id: reply.dedupe_id(),
            entry: ThreadEntry::Outbound {
                reply,
                sent_at: NOW - 50_000,
                delivery: None,
                delivery_reason: None,
            },
            media: vec![],
        },
    );
}

#[tokio::test]
async fn the_thread_says_which_messages_were_public_with_their_post() {
    let (desk, store, _) = fixture();
    public_conversation(&store);
    let thread = send(
        &desk,
        "GET",
        &format!("/conversations/{KEY}/messages"),
        Some("agent1"),
        None,
        &[],
    )
    .await;
    assert_eq!(thread.status, 200, "{}", thread.body);
    let items = thread.body["items"].as_array().unwrap();
    assert_eq!(items[0]["kind"], "comment");
    assert_eq!(items[0]["public"], true);
    assert_eq!(
        items[0]["post"],
        json!({"id": "4900000000000001", "excerpt": "新品发布：夏季系列"})
    );
    assert_eq!(items[1]["type"], "outbound");
    assert_eq!(items[1]["kind"], "public_comment");
    assert_eq!(items[1]["public"], true);
    assert_eq!(items[1]["text"], "抱歉，已私信您");
    assert_eq!(items[1]["content"]["comment_id"], "4900000000000777");
    // A private message says so too.
    let private = send(
        &desk,
        "GET",
        "/conversations/wechat:demo:c1/messages",
        Some("agent1"),
        None,
        &[],
    )
    .await;
    assert!(
        private.body["items"]
            .as_array()
            .unwrap()
            .iter()
            .all(|i| i["public"] != true)
    );
    // The conversation shows the public comment's limit.
    let shown = send(
        &desk,
        "GET",
        &format!("/conversations/{KEY}"),
        Some("agent1"),
        None,
        &[],
    )
    .await;
    assert_eq!(
        shown.body["reply"]["public_text_limit"],
        json!({"max": 140, "unit": "chars"})
    );
}

#[tokio::test]
async fn a_public_comment_is_queued_without_a_private_window_and_held_to_140_characters() {
    let (desk, store, queue) = fixture();
    public_conversation(&store);
    let path = format!("/conversations/{KEY}/replies");
    let body = |text: &str, comment: Option<&str>| {
        let mut content =
            json!({"type": "public_comment", "text": text, "post_id": "4900000000000001"});
        if let Some(c) = comment {
            content["comment_id"] = json!(c);
        }
        json!({ "content": content }).to_string()
    };
    // A comment opens no private window: a private reply is refused...
    let private = json!({"content": {"type": "text", "text": "hi"}}).to_string();
    let r = send(&desk, "POST", &path, Some("agent1"), Some(&private), &[]).await;
    assert_eq!(
        (r.status, r.body["reason"].as_str()),
        (422, Some("no_interaction"))
    );
    // ...a public one is queued.
    let r = send(
        &desk,
        "POST",
        &path,
        Some("agent1"),
        Some(&body("抱歉", Some("4900000000000777"))),
        &[],
    )
    .await;
    assert_eq!(r.status, 202, "{}", r.body);
    let commands = queue.commands();
    assert_eq!(commands.len(), 1);
    assert_eq!(
        commands[0].content,
        ReplyContent::PublicComment {
            text: "抱歉".into(),
            post_id: "4900000000000001".into(),
            comment_id: Some("4900000000000777".into()),
        }
    );
    for (bad, why) in [
        (body(&"好".repeat(141), None), "140"),
        (body("x", Some("abc")), "comment_id"),
        (
            json!({"content": {"type": "public_comment", "text": "x"}}).to_string(),
            "post_id",
        ),
    ] {
        let r = send(&desk, "POST", &path, Some("agent1"), Some(&bad), &[]).await;
        assert_eq!(
            (r.status, r.body["error"].as_str()),
            (400, Some("invalid_request")),
            "{}",
            r.body
        );
        assert!(r.body.to_string().contains(why), "{}", r.body);
    }
    // Weibo only.
    let r = send(
        &desk,
        "POST",
        "/conversations/wechat:demo:c1/replies",
        Some("agent1"),
        Some(&body("x", None)),
        &[],
    )
    .await;
    assert_eq!(
        (r.status, r.body["error"].as_str()),
        (422, Some("unsupported_content"))
    );
    assert_eq!(queue.commands().len(), 1, "nothing queued by a refusal");
}
