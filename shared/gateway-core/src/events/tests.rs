use super::*;
use crate::conversation::{Conversation, Priority, Status};
use crate::message::Content;
use crate::testing::text_message;
use serde_json::json;

const T0: i64 = 1_796_551_200_000; // 2026-12-06T10:00:00Z

fn change(n: u32) -> StreamChange {
    StreamChange {
        event_id: format!("c0ffee{n:026}"),
        sequence: format!("{:021}", 100 + n),
    }
}

fn conversation() -> Conversation {
    let m = text_message("demo", "u1", "1", "hello", T0);
    Conversation::new_for(&m)
}

fn types(events: &[Event]) -> Vec<&'static str> {
    events.iter().map(|e| e.event_type.as_str()).collect()
}

#[test]
fn a_new_conversation_that_expects_an_answer_opens_and_is_assigned_by_its_rule() {
    // Arrange
    let mut new = conversation();
    new.opened_at = Some(T0);
    new.team = Some("support".into());
    new.response_due_at = Some(T0 + 300_000);
    // Act
    let events = conversation_events(&change(1), None, Some(&new));
    // Assert
    assert_eq!(
        types(&events),
        ["conversation.opened", "conversation.assigned"]
    );
    let opened = &events[0];
    assert_eq!(opened.version, 1);
    assert_eq!(opened.occurred_at, "2026-12-06T10:00:00.000Z");
    assert_eq!(opened.account, "demo");
    assert_eq!(opened.conversation_key, new.key);
    assert_eq!(opened.customer_id, "u1");
    assert_eq!(opened.sequence, change(1).sequence);
    assert_eq!(opened.data["reopened"], json!(false));
    assert_eq!(opened.data["conversation"]["status"], json!("open"));
    assert_eq!(opened.data["conversation"]["team"], json!("support"));
    assert_eq!(
        opened.data["conversation"]["response_due_at"],
        json!("2026-12-06T10:05:00.000Z")
    );
    assert_eq!(events[1].data["previous_team"], json!(null));
}

#[test]
fn a_reopening_is_an_opened_event_marked_reopened() {
    let mut old = conversation();
    old.opened_at = Some(T0);
    old.status = Status::Resolved;
    old.resolved_at = Some(T0 + 10);
    let mut new = old.clone();
    new.status = Status::Open;
    new.opened_at = Some(T0 + 60_000);
    new.reopened_count = 1;
    let events = conversation_events(&change(2), Some(&old), Some(&new));
    assert_eq!(types(&events), ["conversation.opened"]);
    assert_eq!(events[0].data["reopened"], json!(true));
    assert_eq!(events[0].occurred_at, "2026-12-06T10:01:00.000Z");
}

#[test]
fn an_agent_taking_a_conversation_is_assigned_with_the_previous_owner() {
    let mut old = conversation();
    old.team = Some("support".into());
    let mut new = old.clone();
    new.assignee = Some("alice".into());
    new.assigned_at = Some(T0 + 5_000);
    let events = conversation_events(&change(3), Some(&old), Some(&new));
    assert_eq!(types(&events), ["conversation.assigned"]);
    let e = &events[0];
    assert_eq!(e.occurred_at, "2026-12-06T10:00:05.000Z");
    assert_eq!(e.data["previous_team"], json!("support"));
    assert_eq!(e.data["previous_assignee"], json!(null));
    assert_eq!(e.data["conversation"]["assignee"], json!("alice"));
    // Unassigning (to nobody) is not an assignment.
    let mut unassigned = new.clone();
    unassigned.assignee = None;
    assert!(conversation_events(&change(4), Some(&new), Some(&unassigned)).is_empty());
}

#[test]
fn an_escalation_episode_is_escalated_once_with_its_target() {
    let old = conversation();
    let mut new = old.clone();
    new.escalated = true;
    new.escalated_at = Some(T0 + 1_000);
    new.escalation_count = 1;
    new.escalation_target_secs = Some(60);
    new.priority = Priority::Urgent;
    new.tags.insert("crisis".into());
    let events = conversation_events(&change(5), Some(&old), Some(&new));
    assert_eq!(types(&events), ["conversation.escalated"]);
    let e = &events[0];
    assert_eq!(e.occurred_at, "2026-12-06T10:00:01.000Z");
    assert_eq!(e.data["escalation_count"], json!(1));
    assert_eq!(e.data["response_target_secs"], json!(60));
    assert_eq!(e.data["conversation"]["priority"], json!("urgent"));
    assert_eq!(e.data["conversation"]["tags"], json!(["crisis"]));
    // A later write of the same episode (a new message) escalates nothing.
    let mut later = new.clone();
    later.inbound_count += 1;
    later.last_inbound_at += 5_000;
    assert!(conversation_events(&change(6), Some(&new), Some(&later)).is_empty());
}

#[test]
fn a_breach_marked_by_the_monitor_is_sla_breached_with_the_missed_due_time() {
    let mut old = conversation();
    old.response_due_at = Some(T0 + 60_000);
    let mut new = old.clone();
    new.sla_breached_at = Some(T0 + 61_000);
    let events = conversation_events(&change(7), Some(&old), Some(&new));
    assert_eq!(types(&events), ["conversation.sla_breached"]);
    assert_eq!(events[0].data["due_at"], json!("2026-12-06T10:01:00.000Z"));
    assert_eq!(events[0].occurred_at, "2026-12-06T10:01:01.000Z");
}

#[test]
fn a_resolution_is_resolved_with_who_resolved_it() {
    let mut old = conversation();
    old.opened_at = Some(T0);
    let mut new = old.clone();
    new.status = Status::Resolved;
    new.resolved_at = Some(T0 + 120_000);
    new.resolved_by = Some("agent:alice".into());
    let events = conversation_events(&change(8), Some(&old), Some(&new));
    assert_eq!(types(&events), ["conversation.resolved"]);
    assert_eq!(events[0].data["resolved_by"], json!("agent:alice"));
    assert_eq!(events[0].data["conversation"]["status"], json!("resolved"));
}

#[test]
fn writes_that_change_nothing_that_matters_have_no_event() {
    let mut old = conversation();
    old.opened_at = Some(T0);
    old.team = Some("support".into());
    type Edit = fn(&mut Conversation);
    let cases: [(&str, Edit); 5] = [
        ("a tag", |c| {
            c.tags.insert("vip".into());
        }),
        ("a new message of the open episode", |c| {
            c.inbound_count += 1;
            c.last_inbound_at += 1;
        }),
        ("an answer", |c| {
            c.last_answered_at = Some(T0 + 9);
            c.waiting_since = None;
        }),
        ("the same team written again", |c| {
            c.team = Some("support".into())
        }),
        ("a version bump", |c| c.version += 1),
    ];
    for (what, edit) in cases {
        let mut new = old.clone();
        edit(&mut new);
        assert!(
            conversation_events(&change(9), Some(&old), Some(&new)).is_empty(),
            "{what}"
        );
    }
    // A deleted conversation (customer erased) reports nothing.
    assert!(conversation_events(&change(9), Some(&old), None).is_empty());
}

#[test]
fn a_stored_message_is_received_with_its_kind_text_and_id() {
    let m = text_message("demo", "u1", "42", "where is my order?", T0 + 250);
    let e = message_received(&change(10), &m);
    assert_eq!(e.event_type, EventType::MessageReceived);
    assert_eq!(e.occurred_at, "2026-12-06T10:00:00.250Z");
    assert_eq!(e.customer_id, "u1");
    assert_eq!(e.conversation_key, m.conversation_key);
    assert_eq!(e.data["message_id"], json!(m.dedupe_id()));
    assert_eq!(e.data["kind"], json!("text"));
    assert_eq!(e.data["text"], json!("where is my order?"));
    assert_eq!(e.data["text_truncated"], json!(false));
    assert_eq!(
        e.data["content"],
        json!({"kind": "text", "text": "where is my order?"})
    );
    assert_eq!(e.data["received_at"], json!("2026-12-06T10:00:00.250Z"));
}

#[test]
fn a_huge_text_is_cut_so_the_event_stays_under_the_entry_limit() {
    let mut m = text_message("demo", "u1", "43", "", T0);
    m.content = Content::Text {
        text: "诉".repeat(300_000),
    };
    let e = message_received(&change(11), &m);
    assert_eq!(e.data["text_truncated"], json!(true));
    assert_eq!(
        e.data["text"].as_str().map(|t| t.chars().count()),
        Some(TEXT_EXCERPT_CHARS)
    );
    assert!(e.to_json().len() < MAX_EVENT_BYTES, "{}", e.to_json().len());
}

#[test]
fn a_media_message_has_no_text_and_keeps_its_content() {
    let mut m = text_message("demo", "u1", "44", "", T0);
    m.content = Content::Image {
        media_id: Some("mid".into()),
        url: None,
    };
    let e = message_received(&change(12), &m);
    assert_eq!(e.data["kind"], json!("image"));
    assert_eq!(e.data["text"], json!(null));
    assert_eq!(
        e.data["content"],
        json!({"kind": "image", "media_id": "mid"})
    );
}

fn delivery(state: &str) -> DeliveryImage {
    DeliveryImage {
        reply_id: "r1".into(),
        state: state.into(),
        channel: crate::Channel::WeChat,
        account: "demo".into(),
        conversation_key: "wechat:demo:u1".into(),
        customer_id: "u1".into(),
        origin: "agent".into(),
        agent_id: Some("alice".into()),
        content_type: Some("text".into()),
        created_at_ms: Some(T0),
        sent_at_ms: None,
        updated_at_ms: T0 + 2_000,
        reason: None,
        error_code: None,
        platform_id: None,
    }
}

#[test]
fn a_reply_recorded_delivered_is_delivered_once() {
    let mut sent = delivery("sent");
    sent.sent_at_ms = Some(T0 + 1_000);
    let mut delivered = sent.clone();
    delivered.state = "delivered".into();
    let events = delivery_events(&change(13), Some(&sent), Some(&delivered));
    assert_eq!(types(&events), ["reply.delivered"]);
    assert_eq!(events[0].data["reply_id"], json!("r1"));
    assert_eq!(events[0].data["agent_id"], json!("alice"));
    assert_eq!(events[0].data["sent_at"], json!("2026-12-06T10:00:01.000Z"));
    assert_eq!(events[0].customer_id, "u1");
    // Claiming, sending, and rewriting a delivered record report nothing.
    let calling = delivery("calling");
    assert!(delivery_events(&change(14), None, Some(&calling)).is_empty());
    assert!(delivery_events(&change(15), Some(&calling), Some(&sent)).is_empty());
    assert!(delivery_events(&change(16), Some(&delivered), Some(&delivered)).is_empty());
    assert!(delivery_events(&change(17), Some(&delivered), None).is_empty());
}

#[test]
fn an_undeliverable_or_refused_reply_is_undeliverable_with_reason_and_code() {
    let mut undeliverable = delivery("undeliverable");
    undeliverable.reason = Some("window_closed".into());
    let events = delivery_events(&change(18), None, Some(&undeliverable));
    assert_eq!(types(&events), ["reply.undeliverable"]);
    assert_eq!(events[0].data["outcome"], json!("undeliverable"));
    assert_eq!(events[0].data["reason"], json!("window_closed"));
    assert_eq!(events[0].occurred_at, "2026-12-06T10:00:02.000Z");
    let mut failed = delivery("failed");
    failed.reason = Some("rejected".into());
    failed.error_code = Some("wechat:40003".into());
    let events = delivery_events(&change(19), Some(&delivery("calling")), Some(&failed));
    assert_eq!(events[0].data["outcome"], json!("failed"));
    assert_eq!(events[0].data["error_code"], json!("wechat:40003"));
}

#[test]
fn ids_are_stable_across_retries_and_distinct_per_change_and_type() {
    let m = text_message("demo", "u1", "45", "hi", T0);
    let first = message_received(&change(20), &m);
    let again = message_received(&change(20), &m);
    assert_eq!(first, again, "a retried record yields the very same event");
    assert_eq!(first.id.len(), 32);
    assert_ne!(first.id, message_received(&change(21), &m).id);
    let ids: std::collections::BTreeSet<String> = EventType::ALL
        .iter()
        .map(|t| change(20).event_id_for(*t))
        .collect();
    assert_eq!(ids.len(), EventType::ALL.len());
}

#[test]
fn the_envelope_serializes_as_documented() {
    let m = text_message("demo", "u1", "46", "hi", T0);
    let e = message_received(&change(22), &m);
    let v: serde_json::Value = serde_json::from_str(&e.to_json()).expect("JSON");
    let keys: Vec<&str> = v
        .as_object()
        .expect("object")
        .keys()
        .map(String::as_str)
        .collect();
    let mut expected = [
        "version",
        "id",
        "type",
        "occurred_at",
        "channel",
        "account",
        "conversation_key",
        "customer_id",
        "sequence",
        "data",
    ];
    expected.sort_unstable();
    assert_eq!(keys, expected);
    assert_eq!(v["type"], json!("message.received"));
    assert_eq!(v["channel"], json!("wechat"));
    let back: Event = serde_json::from_value(v).expect("round trip");
    assert_eq!(back, e);
    for t in EventType::ALL {
        assert_eq!(EventType::parse(t.as_str()), Some(t));
    }
}
