//! DynamoDB adapter of the desk: agent profiles, canned responses, conversation lists (one
//! index query each), threads and audit trails (one query per page), and a desk change written
//! with its audit entry in one transaction.
//!
//! | item            | PK            | SK                          |
//! |-----------------|---------------|-----------------------------|
//! | agent profile   | `AGENTS`      | `AGENT#{agent_id}`          |
//! | canned response | `CANNED`      | `CANNED#{id}`               |
//! | audit entry     | `CONV#{key}`  | `AUDIT#{version:012}`       |
//! | internal note   | `CONV#{key}`  | `MSG#{seq:012}#note-{seq}`  |
//!
//! A page's cursor is its last evaluated key, base64url-encoded JSON; a cursor is refused
//! unless it names the same partition as the list it is sent with.

use crate::dynamodb::attrs::{Item, is_condition_failure, n, number, s, text};
use crate::dynamodb::conversations::{
    DynamoDbConversationStore, THREAD_PREFIX, WAITING, WAITING_ESCALATED, conversation_pk,
    thread_sk,
};
use crate::dynamodb::desk_query::{Expression, index_name};
use crate::dynamodb::transactions::{Transacted, transact};
use crate::error::port_error;
use async_trait::async_trait;
use aws_sdk_dynamodb::types::{Put, TransactWriteItem};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use gateway_core::conversation::Conversation;
use gateway_core::desk::access::AgentProfile;
use gateway_core::desk::canned::CannedResponse;
use gateway_core::desk::change::{AuditEntry, Note};
use gateway_core::desk::counts::Sample;
use gateway_core::desk::list::{Filter, ListPlan, Waiting};
use gateway_core::desk::ports::{
    BadCursor, DeskStore, Page, PageError, ProfileWrite, ThreadEntry, ThreadItem,
};
use gateway_core::media::MediaRecord;
use gateway_core::ports::{CommitOutcome, ConversationStore, PortError};
use std::collections::BTreeMap;

const AGENTS: &str = "AGENTS";
const CANNED: &str = "CANNED";

/// The desk's store over the conversations table.
#[derive(Clone, Debug)]
pub struct DynamoDbDesk {
    store: DynamoDbConversationStore,
}

/// Encodes a last evaluated key (string attributes only) as a cursor.
/// At most this many index pages are read for one page of a list (a selective filter over a
/// long queue); the cursor then continues where reading stopped.
const LIST_MAX_QUERIES: usize = 8;

fn encode_cursor(key: &Item) -> Option<String> {
    let map: BTreeMap<&str, &str> = key
        .iter()
        .filter_map(|(k, v)| v.as_s().ok().map(|v| (k.as_str(), v.as_str())))
        .collect();
    let json = serde_json::to_vec(&map).ok()?;
    Some(URL_SAFE_NO_PAD.encode(json))
}

/// Decodes a cursor: exactly `names`, with `partition_name` = `partition`.
fn decode_cursor(
    cursor: &str,
    names: &[&str],
    partition_name: &str,
    partition: &str,
) -> Result<Item, BadCursor> {
    let bytes = URL_SAFE_NO_PAD.decode(cursor).map_err(|_| BadCursor)?;
    let map: BTreeMap<String, String> = serde_json::from_slice(&bytes).map_err(|_| BadCursor)?;
    let mut expected: Vec<&str> = names.to_vec();
    expected.sort_unstable();
    if map.keys().map(String::as_str).ne(expected.iter().copied())
        || map.get(partition_name).map(String::as_str) != Some(partition)
    {
        return Err(BadCursor);
    }
    Ok(map.into_iter().map(|(k, v)| (k, s(v))).collect())
}

fn next_cursor(last: Option<&Item>) -> Option<String> {
    last.filter(|k| !k.is_empty()).and_then(encode_cursor)
}

fn deserialize<T: serde::de::DeserializeOwned>(
    item: Item,
    what: &'static str,
) -> Result<T, PortError> {
    serde_dynamo::from_item(item).map_err(|e| PortError::permanent(what, e))
}

fn thread_item(item: &Item) -> Result<Option<ThreadItem>, PortError> {
    let seq = number(item, "seq").unwrap_or(0).max(0) as u64;
    let entry = match text(item, "direction").as_deref() {
        Some("in") => match item.get("message") {
            Some(m) => ThreadEntry::Inbound(
                serde_dynamo::from_attribute_value(m.clone())
                    .map_err(|e| PortError::permanent("deserialize message", e))?,
            ),
            None => return Ok(None),
        },
        Some("out") => match item.get("reply") {
            Some(r) => ThreadEntry::Outbound {
                reply: serde_dynamo::from_attribute_value(r.clone())
                    .map_err(|e| PortError::permanent("deserialize reply", e))?,
                sent_at: number(item, "sent_at_ms").unwrap_or(0),
                delivery: text(item, "delivery"),
                delivery_reason: text(item, "delivery_reason"),
            },
            None => return Ok(None),
        },
        Some("note") => ThreadEntry::Note(Note {
            seq,
            author: text(item, "author").unwrap_or_default(),
            text: text(item, "text").unwrap_or_default(),
            at: number(item, "at").unwrap_or(0),
        }),
        _ => return Ok(None),
    };
    let id = text(item, "SK")
        .and_then(|sk| sk.rsplit('#').next().map(str::to_string))
        .unwrap_or_default();
    let media = match &entry {
        ThreadEntry::Inbound(_) => media_records(item, &id),
        _ => Vec::new(),
    };
    Ok(Some(ThreadItem {
        seq,
        id,
        entry,
        media,
    }))
}

/// The records of a message item's `media` map (kind → record). A record that does not read
/// as one is left out and logged: the thread still shows the message.
fn media_records(item: &Item, id: &str) -> Vec<MediaRecord> {
    let Some(map) = item.get("media").and_then(|m| m.as_m().ok()) else {
        return Vec::new();
    };
    let mut out = Vec::with_capacity(map.len());
    for (kind, value) in map {
        match serde_dynamo::from_attribute_value::<_, MediaRecord>(value.clone()) {
            Ok(record) => out.push(record),
            Err(e) => {
                tracing::warn!(message.id = id, media.kind = %kind, error = %e, "unreadable media record")
            }
        }
    }
    out.sort_by_key(|r| r.kind);
    out
}

impl DynamoDbDesk {
    /// The desk over `store`'s table.
    pub fn new(store: DynamoDbConversationStore) -> Self {
        DynamoDbDesk { store }
    }

    fn key(pk: &str, sk: &str) -> Item {
        [("PK".to_string(), s(pk)), ("SK".to_string(), s(sk))].into()
    }

    async fn query_partition(&self, pk: &str, prefix: &str) -> Result<Vec<Item>, PortError> {
        let mut out = Vec::new();
        let mut start = None;
        loop {
            let page = self
                .store
                .client
                .query()
                .table_name(&self.store.table)
                .key_condition_expression("PK = :pk AND begins_with(SK, :p)")
                .expression_attribute_values(":pk", s(pk))
                .expression_attribute_values(":p", s(prefix))
                .set_exclusive_start_key(start)
                .send()
                .await
                .map_err(|e| port_error("dynamodb query", e))?;
            out.extend(page.items().iter().cloned());
            match page.last_evaluated_key() {
                Some(k) if !k.is_empty() => start = Some(k.clone()),
                _ => return Ok(out),
            }
        }
    }

    /// Every record of the partition `pk` under `prefix`.
    async fn records<T: serde::de::DeserializeOwned>(
        &self,
        pk: &str,
        prefix: &str,
        what: &'static str,
    ) -> Result<Vec<T>, PortError> {
        self.query_partition(pk, prefix)
            .await?
            .into_iter()
            .map(|item| record(item, what))
            .collect()
    }

    async fn delete(&self, pk: &str, sk: &str) -> Result<bool, PortError> {
        match self
            .store
            .client
            .delete_item()
            .table_name(&self.store.table)
            .set_key(Some(Self::key(pk, sk)))
            .condition_expression("attribute_exists(PK)")
            .send()
            .await
        {
            Ok(_) => Ok(true),
            Err(e) if e.as_service_error().is_some_and(is_condition_failure) => Ok(false),
            Err(e) => Err(port_error("dynamodb delete_item", e)),
        }
    }

    /// A page of the items of `key`'s conversation whose sort key begins with `prefix`.
    async fn conversation_page(
        &self,
        key: &str,
        prefix: &str,
        limit: u32,
        cursor: Option<&str>,
    ) -> Result<(Vec<Item>, Option<String>), PageError> {
        let pk = conversation_pk(key);
        let start = cursor
            .map(|c| decode_cursor(c, &["PK", "SK"], "PK", &pk))
            .transpose()?;
        if let Some(start) = &start
            && !text(start, "SK").is_some_and(|sk| sk.starts_with(prefix))
        {
            return Err(BadCursor.into());
        }
        let page = self
            .store
            .client
            .query()
            .table_name(&self.store.table)
            .key_condition_expression("PK = :pk AND begins_with(SK, :p)")
            .expression_attribute_values(":pk", s(&pk))
            .expression_attribute_values(":p", s(prefix))
            .consistent_read(true)
            .limit(limit as i32)
            .set_exclusive_start_key(start)
            .send()
            .await
            .map_err(|e| port_error("dynamodb query (conversation page)", e))?;
        Ok((
            page.items().to_vec(),
            next_cursor(page.last_evaluated_key()),
        ))
    }
}

#[async_trait]
impl DeskStore for DynamoDbDesk {
    async fn agent(&self, agent_id: &str) -> Result<Option<AgentProfile>, PortError> {
        let out = self
            .store
            .client
            .get_item()
            .table_name(&self.store.table)
            .set_key(Some(Self::key(AGENTS, &format!("AGENT#{agent_id}"))))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| port_error("dynamodb get_item (agent)", e))?;
        out.item
            .map(|item| record(item, "deserialize agent profile"))
            .transpose()
    }

    async fn agents(&self) -> Result<Vec<AgentProfile>, PortError> {
        self.records(AGENTS, "AGENT#", "deserialize agent profile")
            .await
    }

    async fn put_agent(&self, profile: &AgentProfile) -> Result<ProfileWrite, PortError> {
        let mut item: Item = serde_dynamo::to_item(profile)
            .map_err(|e| PortError::permanent("serialize agent profile", e))?;
        item.extend(Self::key(AGENTS, &format!("AGENT#{}", profile.agent_id)));
        item.insert("entity".into(), s("agent"));
        let mut put = self
            .store
            .client
            .put_item()
            .table_name(&self.store.table)
            .set_item(Some(item));
        put = if profile.version <= 1 {
            put.condition_expression("attribute_not_exists(PK)")
        } else {
            put.condition_expression("#v = :v")
                .expression_attribute_names("#v", "version")
                .expression_attribute_values(":v", n(profile.version as i64 - 1))
        };
        match put.send().await {
            Ok(_) => Ok(ProfileWrite::Stored),
            Err(e) if e.as_service_error().is_some_and(is_condition_failure) => {
                Ok(ProfileWrite::Stale)
            }
            Err(e) => Err(port_error("dynamodb put_item (agent)", e)),
        }
    }

    async fn delete_agent(&self, agent_id: &str) -> Result<bool, PortError> {
        self.delete(AGENTS, &format!("AGENT#{agent_id}")).await
    }

    async fn list(
        &self,
        plan: &ListPlan,
        cursor: Option<&str>,
    ) -> Result<Page<Conversation>, PageError> {
        let index = index_name(plan.index);
        let (pk_name, sk_name) = (format!("{index}PK"), format!("{index}SK"));
        let start = cursor
            .map(|c| {
                decode_cursor(
                    c,
                    &["PK", "SK", &pk_name, &sk_name],
                    &pk_name,
                    &plan.partition,
                )
            })
            .transpose()?;
        if plan.filters.contains(&Filter::AccountIn(Vec::new())) {
            // No account in scope: nothing to read.
            return Ok(Page {
                items: Vec::new(),
                next_cursor: None,
            });
        }
        let mut expression = Expression::default();
        for filter in &plan.filters {
            expression.add(filter);
        }
        // A filter is applied after DynamoDB reads a page of `limit` index items, so a page
        // can come back short although more matches follow: read on until the page is full,
        // the list ends, or LIST_MAX_QUERIES pages were read (then the cursor continues).
        let mut items: Vec<Conversation> = Vec::new();
        let mut start = start;
        for _ in 0..LIST_MAX_QUERIES {
            let mut query = self
                .store
                .client
                .query()
                .table_name(&self.store.table)
                .index_name(index)
                .expression_attribute_names("#pk", &pk_name)
                .expression_attribute_values(":pk", s(&plan.partition))
                .limit(plan.limit as i32)
                .set_exclusive_start_key(start.take());
            query = match plan.waiting {
                Waiting::Any => query.key_condition_expression("#pk = :pk"),
                Waiting::Unanswered | Waiting::UnansweredEscalated => {
                    let prefix = if plan.waiting == Waiting::Unanswered {
                        WAITING
                    } else {
                        WAITING_ESCALATED
                    };
                    query
                        .key_condition_expression("#pk = :pk AND begins_with(#sk, :w)")
                        .expression_attribute_names("#sk", &sk_name)
                        .expression_attribute_values(":w", s(prefix))
                }
            };
            if !expression.parts.is_empty() {
                query = query.filter_expression(expression.parts.join(" AND "));
                for (k, v) in &expression.names {
                    query = query.expression_attribute_names(k, v);
                }
                for (k, v) in &expression.values {
                    query = query.expression_attribute_values(k, v.clone());
                }
            }
            let page = query
                .send()
                .await
                .map_err(|e| port_error("dynamodb query (desk list)", e))?;
            let wanted = plan.limit as usize - items.len();
            if page.items().len() > wanted {
                // More matches than the page holds: stop after the last one kept, so that the
                // cursor continues right after it.
                let kept = &page.items()[..wanted];
                for item in kept {
                    items.push(deserialize(item.clone(), "deserialize conversation")?);
                }
                let last = kept.last().map(|item| {
                    ["PK", "SK", pk_name.as_str(), sk_name.as_str()]
                        .iter()
                        .filter_map(|k| item.get(*k).map(|v| (k.to_string(), v.clone())))
                        .collect::<Item>()
                });
                return Ok(Page {
                    items,
                    next_cursor: last.and_then(|key| next_cursor(Some(&key))),
                });
            }
            for item in page.items() {
                items.push(deserialize(item.clone(), "deserialize conversation")?);
            }
            start = page.last_evaluated_key().cloned();
            if items.len() == plan.limit as usize || start.is_none() {
                break;
            }
        }
        Ok(Page {
            items,
            next_cursor: next_cursor(start.as_ref()),
        })
    }

    async fn queue_entries(&self, plan: &ListPlan, max_read: u32) -> Result<Sample, PortError> {
        crate::dynamodb::desk_query::queue_entries(&self.store, plan, max_read).await
    }

    async fn conversation(&self, key: &str) -> Result<Option<Conversation>, PortError> {
        self.store.load(key).await
    }

    async fn thread(
        &self,
        key: &str,
        limit: u32,
        cursor: Option<&str>,
    ) -> Result<Page<ThreadItem>, PageError> {
        let (items, next_cursor) = self
            .conversation_page(key, THREAD_PREFIX, limit, cursor)
            .await?;
        let mut out = Vec::with_capacity(items.len());
        for item in &items {
            if let Some(t) = thread_item(item)? {
                out.push(t);
            }
        }
        Ok(Page {
            items: out,
            next_cursor,
        })
    }

    async fn audit(
        &self,
        key: &str,
        limit: u32,
        cursor: Option<&str>,
    ) -> Result<Page<AuditEntry>, PageError> {
        let (items, next_cursor) = self.conversation_page(key, "AUDIT#", limit, cursor).await?;
        let mut out = Vec::with_capacity(items.len());
        for item in items {
            let entry = AuditEntry {
                at: number(&item, "at").unwrap_or(0),
                actor: text(&item, "actor").unwrap_or_default(),
                action: text(&item, "action").unwrap_or_default(),
                version: number(&item, "version").unwrap_or(0).max(0) as u64,
                changes: text(&item, "changes")
                    .map(|j| serde_json::from_str(&j))
                    .transpose()
                    .map_err(|e| PortError::permanent("deserialize audit changes", e))?
                    .unwrap_or_default(),
            };
            out.push(entry);
        }
        Ok(Page {
            items: out,
            next_cursor,
        })
    }

    async fn commit_change(
        &self,
        previous: &Conversation,
        next: &Conversation,
        audit: &AuditEntry,
        note: Option<&Note>,
    ) -> Result<CommitOutcome, PortError> {
        let store = &self.store;
        let pk = conversation_pk(&next.key);
        let conversation = store.put(
            store.conversation_item(next)?,
            "#v = :v",
            Some([(":v".to_string(), n(previous.version as i64))].into()),
        )?;
        let changes = serde_json::to_string(&audit.changes)
            .map_err(|e| PortError::permanent("serialize audit changes", e))?;
        let audit_item: Item = [
            ("PK".to_string(), s(&pk)),
            ("SK".to_string(), s(format!("AUDIT#{:012}", audit.version))),
            ("entity".to_string(), s("audit")),
            ("at".to_string(), n(audit.at)),
            ("actor".to_string(), s(&audit.actor)),
            ("action".to_string(), s(&audit.action)),
            ("version".to_string(), n(audit.version as i64)),
            ("changes".to_string(), s(changes)),
        ]
        .into();
        let mut writes = vec![
            conversation,
            store.put(audit_item, "attribute_not_exists(PK)", None)?,
        ];
        writes.extend(store.tag_writes(Some(previous), next)?);
        if let Some(note) = note {
            let mut item: Item = [
                ("PK".to_string(), s(&pk)),
                (
                    "SK".to_string(),
                    s(thread_sk(note.seq, &format!("note-{}", note.seq))),
                ),
                ("entity".to_string(), s("message")),
                ("direction".to_string(), s("note")),
                ("seq".to_string(), n(note.seq as i64)),
                ("author".to_string(), s(&note.author)),
                ("text".to_string(), s(&note.text)),
                ("at".to_string(), n(note.at)),
            ]
            .into();
            if let Some(ttl) = store.message_ttl_secs {
                item.insert("expires_at".into(), n(note.at / 1000 + ttl));
            }
            let put = Put::builder()
                .table_name(&store.table)
                .set_item(Some(item))
                .condition_expression("attribute_not_exists(PK)")
                .build()
                .map_err(|e| PortError::permanent("build put", e))?;
            writes.push(TransactWriteItem::builder().put(put).build());
        }
        match transact(
            &store.client,
            writes,
            "dynamodb transact_write_items (desk)",
        )
        .await?
        {
            Transacted::Committed => Ok(CommitOutcome::Stored),
            // The conversation moved on (item 0), or its next version is already recorded.
            Transacted::ConditionsFailed(_) => Ok(CommitOutcome::Conflict),
        }
    }

    async fn canned_responses(&self) -> Result<Vec<CannedResponse>, PortError> {
        self.records(CANNED, "CANNED#", "deserialize canned response")
            .await
    }

    async fn put_canned(&self, canned: &CannedResponse, create: bool) -> Result<bool, PortError> {
        let mut item: Item = serde_dynamo::to_item(canned)
            .map_err(|e| PortError::permanent("serialize canned response", e))?;
        item.extend(Self::key(CANNED, &format!("CANNED#{}", canned.id)));
        item.insert("entity".into(), s("canned"));
        let condition = if create {
            "attribute_not_exists(PK)"
        } else {
            "attribute_exists(PK)"
        };
        match self
            .store
            .client
            .put_item()
            .table_name(&self.store.table)
            .set_item(Some(item))
            .condition_expression(condition)
            .send()
            .await
        {
            Ok(_) => Ok(true),
            Err(e) if e.as_service_error().is_some_and(is_condition_failure) => Ok(false),
            Err(e) => Err(port_error("dynamodb put_item (canned)", e)),
        }
    }

    async fn delete_canned(&self, id: &str) -> Result<bool, PortError> {
        self.delete(CANNED, &format!("CANNED#{id}")).await
    }
}

/// An item read as a record (a profile, a canned response): its key and bookkeeping
/// attributes removed first.
fn record<T: serde::de::DeserializeOwned>(
    mut item: Item,
    what: &'static str,
) -> Result<T, PortError> {
    for k in ["PK", "SK", "entity"] {
        item.remove(k);
    }
    deserialize(item, what)
}

#[cfg(test)]
mod tests;
