//! The CRM's names for WeChat customers, joined by `unionid` to the conversations a desk
//! route answers with ([`gateway_core::profile::crm`], `docs/profiles.md`): the name comes
//! first in `display_name`, and the whole contact is the view's `crm`.
//!
//! One `BatchGetItem` per page of a list (none when no conversation on it has a `unionid`),
//! one per conversation view. A failed read is logged and the desk shows the platform's name:
//! a CRM outage never keeps an agent from a conversation.

use super::Desk;
use super::views::{conversation_detail, conversation_row};
use gateway_core::conversation::Conversation;
use gateway_core::profile::crm::{ContactKey, CrmContact};
use serde_json::{Value, json};
use std::collections::HashMap;

/// The contacts joined to `conversations`; empty when none is, or when they cannot be read.
pub(super) async fn contacts_for(
    desk: &Desk,
    conversations: &[&Conversation],
) -> HashMap<ContactKey, CrmContact> {
    let keys: Vec<ContactKey> = conversations
        .iter()
        .filter_map(|c| ContactKey::of(c))
        .collect();
    if keys.is_empty() {
        return HashMap::new();
    }
    match desk.contacts.get_many(&keys).await {
        Ok(found) => found,
        Err(e) => {
            tracing::warn!(error.message = %e, "crm contacts unavailable; platform names shown");
            HashMap::new()
        }
    }
}

/// Sets `crm` on a conversation view and, when there is a contact, its name as
/// `display_name`.
fn with_crm(view: &mut Value, contact: Option<&CrmContact>) {
    if let Some(c) = contact {
        view["display_name"] = Value::String(c.name.clone());
    }
    view["crm"] = contact.map_or(Value::Null, |c| {
        json!({
            "name": c.name,
            "external_id": c.external_id,
            "url": c.url,
            "updated_at": c.updated_at,
        })
    });
}

/// A list row of `c`, with its contact among `contacts`.
pub(super) fn row(c: &Conversation, contacts: &HashMap<ContactKey, CrmContact>) -> Value {
    let mut view = conversation_row(c);
    with_crm(&mut view, ContactKey::of(c).and_then(|k| contacts.get(&k)));
    view
}

/// The view of one conversation, with its contact.
pub(super) async fn detail(desk: &Desk, c: &Conversation, now_ms: i64) -> Value {
    let contacts = contacts_for(desk, &[c]).await;
    let mut view = conversation_detail(c, &desk.policy, now_ms);
    with_crm(&mut view, ContactKey::of(c).and_then(|k| contacts.get(&k)));
    view
}
