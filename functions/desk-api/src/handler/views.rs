//! The JSON the desk routes answer with (`docs/desk-api.yaml` describes each).

use gateway_core::conversation::Conversation;
use gateway_core::delivery::window::{self, ReplyPolicy};
use gateway_core::desk::AuditEntry;
use gateway_core::desk::media::MediaView;
use gateway_core::desk::ports::{ThreadEntry, ThreadItem};
use gateway_core::media::MediaState;
use gateway_core::outbound::ReplyOrigin;
use serde_json::{Value, json};

/// What a list row shows.
pub(crate) fn conversation_row(c: &Conversation) -> Value {
    json!({
        "key": c.key,
        "channel": c.channel.as_str(),
        "account": c.account_id,
        "customer_id": c.customer_id,
        "status": c.status.as_str(),
        "team": c.team,
        "assignee": c.assignee,
        "priority": c.priority,
        "tags": c.tags,
        "escalated": c.escalated,
        "unanswered": c.is_unanswered(),
        "waiting_since": c.waiting_since,
        "response_due_at": c.response_due_at,
        "sla_breached_at": c.sla_breached_at,
        "last_inbound_at": c.last_inbound_at,
        "last_message": c.last_message,
        "display_name": c
            .profile
            .as_ref()
            .and_then(|p| p.display_name())
            .unwrap_or(&c.customer_id),
        "opinion_leader": c.profile.as_ref().is_some_and(|p| p.is_opinion_leader()),
        "profile": c.profile,
        "version": c.version,
    })
}

/// One conversation: the row, its times, the service-level clock and whether a reply can
/// still be sent.
pub(crate) fn conversation_detail(c: &Conversation, policy: &ReplyPolicy, now_ms: i64) -> Value {
    let mut v = conversation_row(c);
    let (can, windows) = window::outlook(policy.for_channel(c.channel), &c.reply_windows, now_ms);
    let windows: Vec<Value> = windows
        .iter()
        .map(|w| {
            json!({
                "trigger": w.trigger.as_str(),
                "opened_at": w.opened_at,
                "closes_at": w.closes_at,
                "sent": w.sent,
                "left": w.left,
            })
        })
        .collect();
    v["reply"] = json!({
        "can_reply": can.is_ok(),
        "reason": can.err().map(|r| r.as_str()),
        "windows": windows,
        "text_limit": gateway_core::reply::text_limit(c.channel),
        "public_text_limit": (c.channel == gateway_core::message::Channel::Weibo)
            .then(gateway_core::reply::public::text_limit),
        "public_replies": c.public_replies,
        "template_replies": c.template_replies,
        "last_undeliverable": c.undeliverable.as_ref().map(|u| json!({
            "at": u.at,
            "reason": u.reason.as_str(),
            "platform_code": u.platform_code,
        })),
    });
    v["clock"] = json!({
        "service_level": c.service_level,
        "response_due_at": c.response_due_at,
        "response_seconds_left": c.response_due_at.map(|d| (d - now_ms).div_euclid(1000)),
        "sla_breached_at": c.sla_breached_at,
        "resolution_due_at": c.resolution_due_at,
        "resolution_breached_at": c.resolution_breached_at,
        "escalated_at": c.escalated_at,
        "escalation_count": c.escalation_count,
    });
    for (name, value) in [
        ("first_inbound_at", json!(c.first_inbound_at)),
        ("opened_at", json!(c.opened_at)),
        ("first_response_at", json!(c.first_response_at)),
        ("last_answered_at", json!(c.last_answered_at)),
        ("last_outbound_at", json!(c.last_outbound_at)),
        ("assigned_at", json!(c.assigned_at)),
        ("resolved_at", json!(c.resolved_at)),
        ("resolved_by", json!(c.resolved_by)),
        ("reopened_count", json!(c.reopened_count)),
        ("inbound_count", json!(c.inbound_count)),
    ] {
        v[name] = value;
    }
    v
}

fn origin(origin: &ReplyOrigin) -> Value {
    match origin {
        ReplyOrigin::Rule { rule_id, .. } => json!({ "type": "rule", "rule_id": rule_id }),
        ReplyOrigin::Agent {
            client_id,
            agent_id,
        } => json!({ "type": "agent", "agent_id": agent_id, "client_id": client_id }),
        ReplyOrigin::System { client_id } => json!({ "type": "system", "client_id": client_id }),
    }
}

/// One media record of a message, with its link when it has one.
fn media_view(view: &MediaView) -> Value {
    let r = &view.record;
    let mut v = json!({ "kind": r.kind, "state": r.state.label() });
    match &r.state {
        MediaState::Pending => {}
        MediaState::Stored {
            content_type,
            bytes,
            sha256,
            ..
        } => {
            v["content_type"] = json!(content_type);
            v["bytes"] = json!(bytes);
            v["sha256"] = json!(sha256);
        }
        MediaState::TooLarge { bytes, limit } => {
            v["bytes"] = json!(bytes);
            v["limit"] = json!(limit);
        }
        MediaState::Unavailable {
            platform_code,
            message,
        } => {
            v["platform_code"] = json!(platform_code);
            v["message"] = json!(message);
        }
    }
    if let Some(link) = &view.link {
        v["url"] = json!(link.url);
        v["url_expires_at_ms"] = json!(link.expires_at_ms);
    }
    v
}

/// One item of a thread, with the views of its media (an inbound message's; `media` is left
/// out when there are none).
pub(crate) fn thread_item(item: &ThreadItem, media: &[MediaView]) -> Value {
    let mut v = thread_entry(item);
    if !media.is_empty() {
        v["media"] = media.iter().map(media_view).collect();
    }
    v
}

fn thread_entry(item: &ThreadItem) -> Value {
    match &item.entry {
        ThreadEntry::Inbound(m) => json!({
            "seq": item.seq,
            "id": item.id,
            "type": "inbound",
            "at": m.received_at_ms,
            "kind": m.kind(),
            "text": m.content.text(),
            "content": m.content,
            "public": m.content.is_public(),
            "post": m.content.post(),
        }),
        ThreadEntry::Outbound {
            reply,
            sent_at,
            delivery,
            delivery_reason,
        } => {
            let mut v = json!({
            "seq": item.seq,
            "id": item.id,
            "type": "outbound",
            "at": sent_at,
            "kind": reply.content.kind(),
            "text": match &reply.content {
                gateway_core::reply::ReplyContent::Text { text }
                | gateway_core::reply::ReplyContent::PublicComment { text, .. } => Some(text.as_str()),
                content => gateway_core::reply::template::preview_text(content),
            },
            "content": reply.content,
            "public": reply.content.is_public(),
            "origin": origin(&reply.origin),
            "delivery": delivery.as_deref().unwrap_or("delivered"),
            });
            if let Some(reason) = delivery_reason {
                v["delivery_reason"] = json!(reason);
            }
            v
        }
        ThreadEntry::Note(note) => json!({
            "seq": item.seq,
            "id": item.id,
            "type": "note",
            "at": note.at,
            "kind": "text",
            "text": note.text,
            "author": note.author,
        }),
    }
}

/// One audit entry.
pub(crate) fn audit_entry(entry: &AuditEntry) -> Value {
    json!({
        "at": entry.at,
        "actor": entry.actor,
        "action": entry.action,
        "version": entry.version,
        "changes": entry.changes,
    })
}
