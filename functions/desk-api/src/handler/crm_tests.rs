//! The CRM's names at the desk: joined by `unionid` on list rows (one read per page) and on a
//! conversation's view (its change answers too), shown before the operator's remark, and a
//! CRM store that cannot be read leaves the platform's names.
#![allow(clippy::unwrap_used)]

use super::tests::{NOW, fixture, send};
use async_trait::async_trait;
use gateway_core::conversation::{Conversation, CustomerProfile};
use gateway_core::ports::PortError;
use gateway_core::profile::crm::{ContactKey, CrmContact, CrmContacts, InMemoryCrmContacts};
use gateway_core::testing::{text_message, wechat_profile};
use serde_json::Value;
use std::collections::HashMap;
use std::sync::Arc;

const UNIONID: &str = "o6_bmasdasdsad6_2sgVt7hMZOPfL";

fn profile(remark: &str, unionid: Option<&str>) -> CustomerProfile {
    wechat_profile(NOW - 1_000, Some(remark), unionid)
}

/// A waiting follower of team complaints with `profile`.
fn customer(store: &gateway_core::desk::testing::MemoryDesk, who: &str, p: CustomerProfile) {
    let m = text_message("demo", who, "7", "退款呢", NOW - 5_000);
    let mut c = Conversation::new_for(&m);
    c.record_inbound(&m);
    c.team = Some("complaints".into());
    c.profile = Some(p);
    c.version = 1;
    store.insert(c);
}

fn contact(name: &str) -> CrmContact {
    CrmContact {
        name: name.into(),
        external_id: Some("C-1001".into()),
        url: Some("https://crm.example.com/c/1001".into()),
        updated_at: NOW - 60_000,
        updated_by: "crm".into(),
    }
}

fn row<'a>(items: &'a Value, key: &str) -> &'a Value {
    items
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["key"] == key)
        .unwrap_or_else(|| panic!("{key} not listed: {items}"))
}

#[tokio::test]
async fn the_crm_name_comes_before_the_remark_on_rows_and_views() {
    let (mut desk, store, _) = fixture();
    customer(&store, "known", profile("VIP 张先生", Some(UNIONID)));
    customer(
        &store,
        "remarked",
        profile("老客户", Some("another-unionid")),
    );
    let contacts = Arc::new(InMemoryCrmContacts::default());
    let key = ContactKey {
        account: "demo".into(),
        unionid: UNIONID.into(),
    };
    contacts.put(&key, &contact("张三")).await.unwrap();
    desk.contacts = contacts.clone();

    let r = send(
        &desk,
        "GET",
        "/conversations?team=complaints",
        Some("agent1"),
        None,
        &[],
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let known = row(&r.body["items"], "wechat:demo:known");
    assert_eq!(known["display_name"], "张三");
    assert_eq!(known["crm"]["external_id"], "C-1001");
    assert_eq!(
        known["profile"]["remark"], "VIP 张先生",
        "the remark stays on the profile"
    );
    let remarked = row(&r.body["items"], "wechat:demo:remarked");
    assert_eq!(remarked["display_name"], "老客户");
    assert_eq!(remarked["crm"], Value::Null);
    assert_eq!(contacts.reads(), 1, "one read for the page");

    let r = send(
        &desk,
        "GET",
        "/conversations/wechat:demo:known",
        Some("agent1"),
        None,
        &[],
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["display_name"], "张三");
    assert_eq!(r.body["crm"]["url"], "https://crm.example.com/c/1001");

    // A change's answer shows it too (the page replaces its view with it).
    let patch = r#"{"assignee":"me"}"#;
    let r = send(
        &desk,
        "PATCH",
        "/conversations/wechat:demo:known",
        Some("agent1"),
        Some(patch),
        &[("if-match", "\"1\"")],
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["display_name"], "张三");
}

#[tokio::test]
async fn a_page_without_unionids_reads_no_contacts() {
    let (mut desk, store, _) = fixture();
    customer(&store, "plain", profile("老客户", None));
    let contacts = Arc::new(InMemoryCrmContacts::default());
    desk.contacts = contacts.clone();
    let r = send(
        &desk,
        "GET",
        "/conversations?team=complaints",
        Some("agent1"),
        None,
        &[],
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(
        row(&r.body["items"], "wechat:demo:plain")["display_name"],
        "老客户"
    );
    assert_eq!(contacts.reads(), 0);
}

struct Down;

#[async_trait]
impl CrmContacts for Down {
    async fn put(&self, _: &ContactKey, _: &CrmContact) -> Result<(), PortError> {
        Err(PortError::transient("put", "down"))
    }
    async fn delete(&self, _: &ContactKey) -> Result<bool, PortError> {
        Err(PortError::transient("delete", "down"))
    }
    async fn get_many(
        &self,
        _: &[ContactKey],
    ) -> Result<HashMap<ContactKey, CrmContact>, PortError> {
        Err(PortError::transient("dynamodb batch_get_item", "throttled"))
    }
}

#[tokio::test]
async fn unreadable_contacts_leave_the_platforms_names() {
    let (mut desk, store, _) = fixture();
    customer(&store, "known", profile("VIP 张先生", Some(UNIONID)));
    desk.contacts = Arc::new(Down);
    let r = send(
        &desk,
        "GET",
        "/conversations?team=complaints",
        Some("agent1"),
        None,
        &[],
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let known = row(&r.body["items"], "wechat:demo:known");
    assert_eq!(
        (known["display_name"].as_str(), &known["crm"]),
        (Some("VIP 张先生"), &Value::Null)
    );
    let r = send(
        &desk,
        "GET",
        "/conversations/wechat:demo:known",
        Some("agent1"),
        None,
        &[],
    )
    .await;
    assert_eq!(
        (r.status, r.body["display_name"].as_str()),
        (200, Some("VIP 张先生"))
    );
}
