//! DynamoDB adapter: conversations and their messages in one table (single-table design,
//! documented in `docs/data-model.md`).
//!
//! | item                 | PK            | SK                              |
//! |----------------------|---------------|---------------------------------|
//! | conversation         | `CONV#{key}`  | `META`                          |
//! | thread item          | `CONV#{key}`  | `MSG#{thread_seq:012}#{id}`     |
//! | inbound dedupe marker| `CONV#{key}`  | `DEDUPE#{dedupe_id}`            |
//! | tag                  | `CONV#{key}`  | `TAG#{tag}`                     |
//!
//! A thread item (an inbound or outbound message, an internal note) takes the conversation's
//! next `thread_seq` in the same transaction as the conversation, so the thread reads in the
//! order things happened. The dedupe marker is keyed by platform fields only, so every
//! delivery of the same platform message maps to the same marker and the conditional put
//! stores the message once.

use crate::dynamodb::attrs::{Item, n, s};
use crate::dynamodb::transactions::{Transacted, transact};
use crate::error::port_error;
use async_trait::async_trait;
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::types::{AttributeValue, Delete, Put, TransactWriteItem};
use gateway_core::conversation::{Conversation, Status};
use gateway_core::ports::{CommitOutcome, ConversationStore, PortError};
use gateway_core::{Channel, NormalizedMessage};
use std::collections::HashMap;

/// Conversations and messages in a DynamoDB table.
#[derive(Clone, Debug)]
pub struct DynamoDbConversationStore {
    pub(crate) client: Client,
    pub(crate) table: String,
    pub(crate) message_ttl_secs: Option<i64>,
}

/// Partition key of a conversation and its messages.
pub fn conversation_pk(conversation_key: &str) -> String {
    format!("CONV#{conversation_key}")
}

/// Sort-key prefix of a conversation's thread items.
pub const THREAD_PREFIX: &str = "MSG#";

/// Sort key of the thread item at position `seq` (`id`: the message's dedupe id, the reply's
/// id, the note's id).
pub fn thread_sk(seq: u64, id: &str) -> String {
    format!("{THREAD_PREFIX}{seq:012}#{id}")
}

/// Sort key of the marker that an inbound message is stored.
pub fn dedupe_sk(dedupe_id: &str) -> String {
    format!("DEDUPE#{dedupe_id}")
}

/// Sort-key prefix of conversations waiting for an answer (sorts before answered ones).
pub(crate) const WAITING: &str = "0-waiting#";
/// Within [`WAITING`]: escalated conversations first, then the others.
pub(crate) const WAITING_ESCALATED: &str = "0-waiting#0#";
pub(crate) const WAITING_NOT_ESCALATED: &str = "0-waiting#1#";
/// Sort-key prefix of answered conversations.
const ANSWERED: &str = "1-answered#";

/// Sort key used by the inbox indexes, the order a desk works in: unanswered conversations
/// first, escalated ones before the others, each oldest waiting first; then answered ones by
/// last inbound message.
pub(crate) fn inbox_sort_key(c: &Conversation) -> String {
    match c.waiting_since {
        Some(t) if c.escalated => format!("{WAITING_ESCALATED}{:013}#{}", t.max(0), c.key),
        Some(t) => format!("{WAITING_NOT_ESCALATED}{:013}#{}", t.max(0), c.key),
        None => format!("{ANSWERED}{:013}#{}", c.last_inbound_at.max(0), c.key),
    }
}

impl DynamoDbConversationStore {
    /// Store over `table`; inbound messages expire `message_ttl_secs` after receipt when set.
    pub fn new(client: Client, table: impl Into<String>, message_ttl_secs: Option<i64>) -> Self {
        DynamoDbConversationStore {
            client,
            table: table.into(),
            message_ttl_secs,
        }
    }

    pub(crate) fn conversation_item(&self, c: &Conversation) -> Result<Item, PortError> {
        let mut item: Item = serde_dynamo::to_item(c)
            .map_err(|e| PortError::permanent("serialize conversation", e))?;
        item.insert("PK".into(), s(conversation_pk(&c.key)));
        item.insert("SK".into(), s("META"));
        item.insert("entity".into(), s("conversation"));
        item.insert(
            "GSI1PK".into(),
            s(format!(
                "INBOX#{}#{}#{}",
                c.channel,
                c.account_id,
                c.status.as_str()
            )),
        );
        item.insert("GSI1SK".into(), s(inbox_sort_key(c)));
        if let Some(team) = &c.team {
            item.insert(
                "GSI2PK".into(),
                s(format!("TEAM#{team}#{}", c.status.as_str())),
            );
            item.insert("GSI2SK".into(), s(inbox_sort_key(c)));
        }
        Ok(item)
    }

    fn message_item(&self, m: &NormalizedMessage, seq: u64) -> Result<Item, PortError> {
        let message: AttributeValue = serde_dynamo::to_attribute_value(m)
            .map_err(|e| PortError::permanent("serialize message", e))?;
        let dedupe_id = m.dedupe_id();
        let mut item: Item = HashMap::new();
        item.insert("PK".into(), s(conversation_pk(&m.conversation_key)));
        item.insert("SK".into(), s(thread_sk(seq, &dedupe_id)));
        item.insert("entity".into(), s("message"));
        item.insert("direction".into(), s("in"));
        item.insert("seq".into(), n(seq as i64));
        item.insert("dedupe_id".into(), s(dedupe_id));
        item.insert("kind".into(), s(m.kind()));
        item.insert("received_at_ms".into(), n(m.received_at_ms));
        item.insert("message".into(), message);
        if let Some(media) = crate::dynamodb::media::pending_media(m, seq)? {
            item.insert(crate::dynamodb::media::MEDIA.into(), media);
        }
        if let Some(ttl) = self.message_ttl_secs {
            item.insert("expires_at".into(), n(m.received_at_ms / 1000 + ttl));
        }
        Ok(item)
    }

    /// The marker that `m` is stored: keyed by platform fields only, it expires with the
    /// message.
    fn dedupe_item(&self, m: &NormalizedMessage) -> Item {
        let mut item: Item = HashMap::new();
        item.insert("PK".into(), s(conversation_pk(&m.conversation_key)));
        item.insert("SK".into(), s(dedupe_sk(&m.dedupe_id())));
        item.insert("entity".into(), s("dedupe"));
        if let Some(ttl) = self.message_ttl_secs {
            item.insert("expires_at".into(), n(m.received_at_ms / 1000 + ttl));
        }
        item
    }

    pub(crate) fn put(
        &self,
        item: Item,
        condition: &str,
        values: Option<Item>,
    ) -> Result<TransactWriteItem, PortError> {
        let mut put = Put::builder()
            .table_name(&self.table)
            .set_item(Some(item))
            .condition_expression(condition);
        if let Some(values) = values {
            put = put
                .expression_attribute_names("#v", "version")
                .set_expression_attribute_values(Some(values));
        }
        let put = put
            .build()
            .map_err(|e| PortError::permanent("build put", e))?;
        Ok(TransactWriteItem::builder().put(put).build())
    }

    pub(crate) fn tag_writes(
        &self,
        previous: Option<&Conversation>,
        next: &Conversation,
    ) -> Result<Vec<TransactWriteItem>, PortError> {
        let empty = Default::default();
        let before = previous.map_or(&empty, |c| &c.tags);
        let pk = conversation_pk(&next.key);
        let mut writes = Vec::new();
        for tag in next.tags.difference(before) {
            let item: Item = [
                ("PK".to_string(), s(pk.clone())),
                ("SK".to_string(), s(format!("TAG#{tag}"))),
                ("entity".to_string(), s("tag")),
                (
                    "GSI2PK".to_string(),
                    s(format!("TAG#{}#{}#{tag}", next.channel, next.account_id)),
                ),
                (
                    "GSI2SK".to_string(),
                    s(format!("{:013}#{}", next.last_inbound_at.max(0), next.key)),
                ),
            ]
            .into();
            let put = Put::builder()
                .table_name(&self.table)
                .set_item(Some(item))
                .build()
                .map_err(|e| PortError::permanent("build put", e))?;
            writes.push(TransactWriteItem::builder().put(put).build());
        }
        for tag in before.difference(&next.tags) {
            let delete = Delete::builder()
                .table_name(&self.table)
                .key("PK", s(pk.clone()))
                .key("SK", s(format!("TAG#{tag}")))
                .build()
                .map_err(|e| PortError::permanent("build delete", e))?;
            writes.push(TransactWriteItem::builder().delete(delete).build());
        }
        Ok(writes)
    }

    /// Open (or pending, resolved) conversations of an account, unanswered ones first, oldest
    /// waiting first; with `unanswered_only`, only those waiting for an answer. Index `GSI1`.
    pub async fn account_inbox(
        &self,
        channel: Channel,
        account_id: &str,
        status: Status,
        unanswered_only: bool,
        limit: i32,
    ) -> Result<Vec<Conversation>, PortError> {
        let pk = format!("INBOX#{channel}#{account_id}#{}", status.as_str());
        self.query_index("GSI1", &pk, unanswered_only.then_some(WAITING), limit)
            .await
    }

    /// A team's queue, same order as [`account_inbox`](Self::account_inbox). Index `GSI2`.
    pub async fn team_queue(
        &self,
        team: &str,
        status: Status,
        unanswered_only: bool,
        limit: i32,
    ) -> Result<Vec<Conversation>, PortError> {
        let pk = format!("TEAM#{team}#{}", status.as_str());
        self.query_index("GSI2", &pk, unanswered_only.then_some(WAITING), limit)
            .await
    }

    /// Conversations of an account carrying `tag`, most recently tagged last. Index `GSI2`
    /// (tag items), then the conversations themselves.
    pub async fn tagged(
        &self,
        channel: Channel,
        account_id: &str,
        tag: &str,
        limit: i32,
    ) -> Result<Vec<Conversation>, PortError> {
        let pk = format!("TAG#{channel}#{account_id}#{tag}");
        let page = self
            .client
            .query()
            .table_name(&self.table)
            .index_name("GSI2")
            .key_condition_expression("GSI2PK = :pk")
            .expression_attribute_values(":pk", s(pk))
            .limit(limit)
            .send()
            .await
            .map_err(|e| port_error("dynamodb query (tag)", e))?;
        let mut out = Vec::new();
        for item in page.items() {
            let Some(key) = item
                .get("PK")
                .and_then(|v| v.as_s().ok())
                .and_then(|pk| pk.strip_prefix("CONV#"))
            else {
                continue;
            };
            if let Some(c) = self.load(key).await? {
                out.push(c);
            }
        }
        Ok(out)
    }

    async fn query_index(
        &self,
        index: &str,
        pk: &str,
        sk_prefix: Option<&str>,
        limit: i32,
    ) -> Result<Vec<Conversation>, PortError> {
        let pk_name = format!("{index}PK");
        let sk_name = format!("{index}SK");
        let mut query = self
            .client
            .query()
            .table_name(&self.table)
            .index_name(index)
            .expression_attribute_names("#pk", pk_name)
            .expression_attribute_values(":pk", s(pk))
            .limit(limit);
        query = match sk_prefix {
            Some(prefix) => query
                .key_condition_expression("#pk = :pk AND begins_with(#sk, :prefix)")
                .expression_attribute_names("#sk", sk_name)
                .expression_attribute_values(":prefix", s(prefix)),
            None => query.key_condition_expression("#pk = :pk"),
        };
        let page = query
            .send()
            .await
            .map_err(|e| port_error("dynamodb query (inbox)", e))?;
        page.items()
            .iter()
            .map(|item| {
                serde_dynamo::from_item(item.clone())
                    .map_err(|e| PortError::permanent("deserialize conversation", e))
            })
            .collect()
    }

    /// The inbound messages of a conversation, oldest first (platform time order).
    pub async fn messages(
        &self,
        conversation_key: &str,
    ) -> Result<Vec<NormalizedMessage>, PortError> {
        let mut out = Vec::new();
        let mut start: Option<Item> = None;
        loop {
            let page = self
                .client
                .query()
                .table_name(&self.table)
                .key_condition_expression("PK = :pk AND begins_with(SK, :msg)")
                .expression_attribute_values(":pk", s(conversation_pk(conversation_key)))
                .expression_attribute_values(":msg", s("MSG#"))
                .consistent_read(true)
                .set_exclusive_start_key(start.take())
                .send()
                .await
                .map_err(|e| port_error("dynamodb query", e))?;
            for item in page.items() {
                if let Some(m) = item.get("message") {
                    let message: NormalizedMessage = serde_dynamo::from_attribute_value(m.clone())
                        .map_err(|e| PortError::permanent("deserialize message", e))?;
                    out.push(message);
                }
            }
            match page.last_evaluated_key() {
                Some(k) if !k.is_empty() => start = Some(k.clone()),
                _ => return Ok(out),
            }
        }
    }
}

#[async_trait]
impl ConversationStore for DynamoDbConversationStore {
    async fn load(&self, conversation_key: &str) -> Result<Option<Conversation>, PortError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .key("PK", s(conversation_pk(conversation_key)))
            .key("SK", s("META"))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| port_error("dynamodb get_item", e))?;
        out.item
            .map(|item| {
                serde_dynamo::from_item(item)
                    .map_err(|e| PortError::permanent("deserialize conversation", e))
            })
            .transpose()
    }

    async fn commit_inbound(
        &self,
        message: &NormalizedMessage,
        previous: Option<&Conversation>,
        next: &Conversation,
    ) -> Result<CommitOutcome, PortError> {
        let marker_put = self.put(self.dedupe_item(message), "attribute_not_exists(PK)", None)?;
        let message_put = self.put(
            self.message_item(message, next.thread_seq)?,
            "attribute_not_exists(PK)",
            None,
        )?;
        let conversation_put = match previous {
            None => self.put(
                self.conversation_item(next)?,
                "attribute_not_exists(PK)",
                None,
            )?,
            Some(p) => self.put(
                self.conversation_item(next)?,
                "#v = :v",
                Some([(":v".to_string(), n(p.version as i64))].into()),
            )?,
        };
        let mut writes = vec![marker_put, message_put, conversation_put];
        writes.extend(self.tag_writes(previous, next)?);
        // Item 0 is the dedupe marker (absent = new message), item 1 the thread item (absent
        // unless the same message at the same place), item 2 the conversation (version check).
        match transact(&self.client, writes, "dynamodb transact_write_items").await? {
            Transacted::Committed => Ok(CommitOutcome::Stored),
            Transacted::ConditionsFailed(items) if items.contains(&0) || items.contains(&1) => {
                Ok(CommitOutcome::Duplicate)
            }
            Transacted::ConditionsFailed(_) => Ok(CommitOutcome::Conflict),
        }
    }

    async fn commit_conversation(
        &self,
        previous: &Conversation,
        next: &Conversation,
    ) -> Result<CommitOutcome, PortError> {
        let mut writes = vec![self.put(
            self.conversation_item(next)?,
            "#v = :v",
            Some([(":v".to_string(), n(previous.version as i64))].into()),
        )?];
        writes.extend(self.tag_writes(Some(previous), next)?);
        match transact(
            &self.client,
            writes,
            "dynamodb transact_write_items (profile rules)",
        )
        .await?
        {
            Transacted::Committed => Ok(CommitOutcome::Stored),
            Transacted::ConditionsFailed(_) => Ok(CommitOutcome::Conflict),
        }
    }
}
