//! `DynamoDbCrmContacts`: a page's contacts read with BatchGetItem, 100 keys per call, keys
//! left unprocessed asked for again, and a read that keeps leaving keys fails transiently.

use crate::support::{Seen, TABLE, assert_transient, dynamodb, n, s, throttled};
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::operation::batch_get_item::{BatchGetItemInput, BatchGetItemOutput};
use aws_sdk_dynamodb::types::{AttributeValue, KeysAndAttributes};
use aws_smithy_mocks::{Rule, mock};
use gateway_aws::{DynamoDbConversationStore, DynamoDbCrmContacts};
use gateway_core::profile::crm::{ContactKey, CrmContacts};
use std::collections::HashMap;

type Item = HashMap<String, AttributeValue>;

fn contacts(client: Client) -> DynamoDbCrmContacts {
    DynamoDbCrmContacts::new(DynamoDbConversationStore::new(client, TABLE, None))
}

fn key(i: usize) -> ContactKey {
    ContactKey {
        account: "demo".into(),
        unionid: format!("u{i}"),
    }
}

/// The stored item of the contact whose request key is `k`.
fn stored(k: &Item) -> Item {
    let pk = match k.get("PK") {
        Some(AttributeValue::S(pk)) => pk.clone(),
        _ => String::new(),
    };
    let unionid = pk.rsplit('#').next().unwrap_or_default().to_string();
    [
        ("PK".to_string(), s(&pk)),
        ("SK".to_string(), s("CONTACT")),
        ("account".to_string(), s("demo")),
        ("unionid".to_string(), s(&unionid)),
        ("name".to_string(), s(&format!("name of {unionid}"))),
        ("updated_at".to_string(), n(1)),
        ("updated_by".to_string(), s("crm")),
    ]
    .into()
}

fn requested(request: &BatchGetItemInput) -> Vec<Item> {
    request
        .request_items()
        .and_then(|r| r.get(TABLE))
        .map(|k| k.keys().to_vec())
        .unwrap_or_default()
}

/// Answers every key but the first of each call's first answer unprocessed once.
fn batch_rule(seen: &Seen<BatchGetItemInput>, leave_first_once: bool) -> Rule {
    let seen = seen.clone();
    let left_once = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(!leave_first_once));
    mock!(Client::batch_get_item).then_compute_output(move |request| {
        seen.push(request);
        let keys = requested(request);
        let (leave, answer) = if !left_once.swap(true, std::sync::atomic::Ordering::SeqCst) {
            (keys[..1].to_vec(), keys[1..].to_vec())
        } else {
            (Vec::new(), keys)
        };
        let mut out = BatchGetItemOutput::builder()
            .responses(TABLE, answer.iter().map(stored).collect::<Vec<_>>());
        if !leave.is_empty() {
            out = out.unprocessed_keys(
                TABLE,
                KeysAndAttributes::builder()
                    .set_keys(Some(leave))
                    .build()
                    .unwrap(),
            );
        }
        out.build()
    })
}

#[tokio::test]
async fn a_page_of_contacts_is_read_100_keys_per_call_without_duplicates() {
    let seen = Seen::default();
    let rule = batch_rule(&seen, false);
    let client = dynamodb(&[&rule]);
    let mut keys: Vec<ContactKey> = (0..150).map(key).collect();
    keys.push(key(3)); // a customer with two conversations on the page
    let found = contacts(client).get_many(&keys).await.unwrap();
    assert_eq!(found.len(), 150);
    assert_eq!(found[&key(3)].name, "name of u3");
    let calls = seen.all();
    assert_eq!(calls.len(), 2);
    assert_eq!(requested(&calls[0]).len(), 100);
    assert_eq!(requested(&calls[1]).len(), 50);
    assert_eq!(
        requested(&calls[0])[0].get("PK"),
        Some(&s("CRM#wechat#demo#u0")),
        "keys are CRM#wechat#{{account}}#{{unionid}}"
    );
    assert_eq!(requested(&calls[0])[0].get("SK"), Some(&s("CONTACT")));
}

#[tokio::test]
async fn keys_left_unprocessed_are_asked_for_again() {
    let seen = Seen::default();
    let rule = batch_rule(&seen, true);
    let client = dynamodb(&[&rule]);
    let keys: Vec<ContactKey> = (0..3).map(key).collect();
    let found = contacts(client).get_many(&keys).await.unwrap();
    assert_eq!(found.len(), 3);
    let calls = seen.all();
    assert_eq!(calls.len(), 2);
    assert_eq!(
        requested(&calls[1]).len(),
        1,
        "only the unprocessed key again"
    );
}

#[tokio::test]
async fn a_read_that_keeps_leaving_keys_or_is_throttled_fails_transiently() {
    let stuck = mock!(Client::batch_get_item).then_compute_output(|request| {
        BatchGetItemOutput::builder()
            .unprocessed_keys(
                TABLE,
                KeysAndAttributes::builder()
                    .set_keys(Some(requested(request)))
                    .build()
                    .unwrap(),
            )
            .build()
    });
    let client = dynamodb(&[&stuck]);
    assert_transient(
        contacts(client).get_many(&[key(1)]).await,
        "dynamodb batch_get_item (crm contacts)",
    );
    assert_eq!(stuck.num_calls(), 3);
    let throttle = mock!(Client::batch_get_item).then_http_response(throttled);
    assert_transient(
        contacts(dynamodb(&[&throttle])).get_many(&[key(1)]).await,
        "dynamodb batch_get_item (crm contacts)",
    );
    // Nothing to read, no call.
    let none = mock!(Client::batch_get_item).then_output(|| BatchGetItemOutput::builder().build());
    let found = contacts(dynamodb(&[&none])).get_many(&[]).await.unwrap();
    assert!(found.is_empty());
    assert_eq!(none.num_calls(), 0);
}
