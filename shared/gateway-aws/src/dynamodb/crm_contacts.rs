//! DynamoDB adapter of [`CrmContacts`]: the names a CRM set for WeChat customers, by account
//! and `unionid` (`docs/profiles.md`).
//!
//! | item        | PK                                  | SK        | attributes |
//! |-------------|-------------------------------------|-----------|------------|
//! | CRM contact | `CRM#wechat#{account}#{unionid}`    | `CONTACT` | `name`, `external_id`?, `url`?, `updated_at`, `updated_by` |
//!
//! Written by `reply-api` (PutItem, DeleteItem), read by `desk-api` (BatchGetItem, one call
//! per page of conversations), found by `gatewayctl customer` through the conversation's
//! profile. No TTL: a contact stays until the CRM deletes it or the customer is erased.

use crate::DynamoDbConversationStore;
use crate::dynamodb::attrs::{Item, n, number, s, text};
use crate::error::port_error;
use async_trait::async_trait;
use aws_sdk_dynamodb::types::{KeysAndAttributes, ReturnValue};
use gateway_core::ports::PortError;
use gateway_core::profile::crm::{ContactKey, CrmContact, CrmContacts};
use std::collections::HashMap;

const CONTACT_SK: &str = "CONTACT";

/// BatchGetItem's limit of keys per call.
const BATCH_GET_MAX_KEYS: usize = 100;

/// How many times keys DynamoDB left unprocessed are asked for again before the read fails.
const UNPROCESSED_ROUNDS: usize = 3;

/// Partition key of the contact `key` names.
pub fn contact_pk(key: &ContactKey) -> String {
    format!("CRM#wechat#{}#{}", key.account, key.unionid)
}

fn item_key(key: &ContactKey) -> Item {
    [
        ("PK".to_string(), s(contact_pk(key))),
        ("SK".to_string(), s(CONTACT_SK)),
    ]
    .into()
}

/// The stored item of `contact` under `key`.
pub fn contact_item(key: &ContactKey, contact: &CrmContact) -> Item {
    let mut item = item_key(key);
    item.insert("entity".into(), s("crm_contact"));
    item.insert("account".into(), s(&key.account));
    item.insert("unionid".into(), s(&key.unionid));
    item.insert("name".into(), s(&contact.name));
    if let Some(e) = &contact.external_id {
        item.insert("external_id".into(), s(e));
    }
    if let Some(u) = &contact.url {
        item.insert("url".into(), s(u));
    }
    item.insert("updated_at".into(), n(contact.updated_at));
    item.insert("updated_by".into(), s(&contact.updated_by));
    item
}

/// The key and contact of a stored item; `None` when it is not one.
fn from_item(item: &Item) -> Option<(ContactKey, CrmContact)> {
    let key = ContactKey {
        account: text(item, "account")?,
        unionid: text(item, "unionid")?,
    };
    let contact = CrmContact {
        name: text(item, "name")?,
        external_id: text(item, "external_id"),
        url: text(item, "url"),
        updated_at: number(item, "updated_at").unwrap_or_default(),
        updated_by: text(item, "updated_by").unwrap_or_default(),
    };
    Some((key, contact))
}

/// CRM contacts over the conversations table.
#[derive(Clone, Debug)]
pub struct DynamoDbCrmContacts {
    store: DynamoDbConversationStore,
}

impl DynamoDbCrmContacts {
    /// Over `store`'s table.
    pub fn new(store: DynamoDbConversationStore) -> Self {
        DynamoDbCrmContacts { store }
    }

    /// One BatchGetItem round over at most [`BATCH_GET_MAX_KEYS`] keys: the items read and
    /// the keys left unprocessed.
    async fn batch_round(&self, keys: Vec<Item>) -> Result<(Vec<Item>, Vec<Item>), PortError> {
        let request = KeysAndAttributes::builder()
            .set_keys(Some(keys))
            .build()
            .map_err(|e| PortError::permanent("build batch_get_item", e))?;
        let out = self
            .store
            .client
            .batch_get_item()
            .request_items(&self.store.table, request)
            .send()
            .await
            .map_err(|e| port_error("dynamodb batch_get_item (crm contacts)", e))?;
        let items = out
            .responses
            .and_then(|mut r| r.remove(&self.store.table))
            .unwrap_or_default();
        let left = out
            .unprocessed_keys
            .and_then(|mut u| u.remove(&self.store.table))
            .map(|k| k.keys)
            .unwrap_or_default();
        Ok((items, left))
    }
}

#[async_trait]
impl CrmContacts for DynamoDbCrmContacts {
    async fn put(&self, key: &ContactKey, contact: &CrmContact) -> Result<(), PortError> {
        self.store
            .client
            .put_item()
            .table_name(&self.store.table)
            .set_item(Some(contact_item(key, contact)))
            .send()
            .await
            .map_err(|e| port_error("dynamodb put_item (crm contact)", e))?;
        Ok(())
    }

    async fn delete(&self, key: &ContactKey) -> Result<bool, PortError> {
        let out = self
            .store
            .client
            .delete_item()
            .table_name(&self.store.table)
            .set_key(Some(item_key(key)))
            .return_values(ReturnValue::AllOld)
            .send()
            .await
            .map_err(|e| port_error("dynamodb delete_item (crm contact)", e))?;
        Ok(out.attributes.is_some_and(|a| !a.is_empty()))
    }

    async fn get_many(
        &self,
        keys: &[ContactKey],
    ) -> Result<HashMap<ContactKey, CrmContact>, PortError> {
        let mut unique: Vec<&ContactKey> = keys.iter().collect();
        unique.sort();
        unique.dedup();
        let mut found = HashMap::new();
        for chunk in unique.chunks(BATCH_GET_MAX_KEYS) {
            let mut pending: Vec<Item> = chunk.iter().map(|k| item_key(k)).collect();
            let mut rounds = 0;
            while !pending.is_empty() {
                if rounds == UNPROCESSED_ROUNDS {
                    return Err(PortError::transient(
                        "dynamodb batch_get_item (crm contacts)",
                        format!("{} keys left unprocessed", pending.len()),
                    ));
                }
                rounds += 1;
                let (items, left) = self.batch_round(pending).await?;
                found.extend(items.iter().filter_map(from_item));
                pending = left;
            }
        }
        Ok(found)
    }
}
