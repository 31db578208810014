//! DynamoDB adapter of the reply sender's delivery ledger: one idempotency record per reply,
//! and the conversation writes that go with its final states, in one transaction each.
//!
//! | item            | PK                  | SK                                        |
//! |-----------------|---------------------|-------------------------------------------|
//! | delivery record | `REPLY#{reply_id}`  | `DELIVERY`                                |
//! | outbound message| `CONV#{key}`        | `MSG#{thread_seq:012}#{reply_id}`         |
//! | template lookup | `TPLMSG#wechat#{account}#{msgid}` | `TPLMSG` (→ `reply_id`, TTL as the record) |
//! | holds of a reply | `REPLY#{reply_id}`  | `HOLDS` (`holds`, TTL as the record)       |
//! | template quota  | `TPLQUOTA#wechat#{account}` | `DAY#{YYYY-MM-DD}` (Beijing date)   |
//!
//! A record whose platform call created something the platform names (a public comment)
//! keeps that id as `platform_id` from `sent` on.
//!
//! A template message's record keeps WeChat's `msgid` as `platform_id`, and the lookup item,
//! written in the same transaction, leads the `TEMPLATESENDJOBFINISH` push to it
//! ([`crate::dynamodb::template_sends`]).
//!
//! Record states: (none) → `calling` → `sent` → `delivered` (a template message: `accepted`,
//! then `delivered` or `undeliverable` when WeChat reports), or → `undeliverable` / `failed`
//! (see `gateway_core::delivery::process`). A template message whose account's daily quota is
//! used up is `held` instead, and claimed from there like a reply without a record; its
//! account's quota day counts it (`sent`, ADD) in the transaction that makes it `accepted`
//! ([`crate::dynamodb::template_quotas`]). Every transition is a conditional write, so two
//! copies of one command never both call the platform. Undeliverable and failed records are
//! also indexed (`GSI1PK = DELIVERY#{channel}#{account}#{state}`) so operators can list them.
//! Outbound messages sit beside the inbound ones in the conversation's thread (same `MSG#`
//! prefix, at the conversation's next `thread_seq`, `direction = out`, the command under
//! `reply`, and the conversation's `team` when it has one, for the statistics).

use crate::DynamoDbConversationStore;
use crate::dynamodb::attrs::{Item, is_condition_failure, n, number, s, text};
use crate::dynamodb::conversations::{conversation_pk, thread_sk};
use crate::dynamodb::transactions::{Transacted, transact};
use crate::error::port_error;
use async_trait::async_trait;
use aws_sdk_dynamodb::types::{Put, TransactWriteItem, Update};
use gateway_core::conversation::Conversation;
use gateway_core::delivery::ports::{ClaimOutcome, DeliveryLedger, DeliveryRecord, DeliveryState};
use gateway_core::delivery::window::UndeliverableReply;
use gateway_core::outbound::ReplyCommand;
use gateway_core::ports::{CommitOutcome, PortError};
use std::collections::HashMap;

const SK: &str = "DELIVERY";

/// Partition key of a reply's delivery record.
pub fn delivery_pk(reply_id: &str) -> String {
    format!("REPLY#{reply_id}")
}

/// The delivery ledger over the conversations table.
#[derive(Clone, Debug)]
pub struct DynamoDbDeliveryLedger {
    pub(crate) store: DynamoDbConversationStore,
    pub(crate) record_ttl_secs: i64,
}

impl DynamoDbDeliveryLedger {
    /// Ledger over `store`'s table; records expire `record_ttl_secs` after their last change
    /// (keep it well beyond the queue's retention so a late copy still finds its record).
    pub fn new(store: DynamoDbConversationStore, record_ttl_secs: i64) -> Self {
        DynamoDbDeliveryLedger {
            store,
            record_ttl_secs,
        }
    }

    pub(crate) fn key(&self, reply_id: &str) -> Item {
        [
            ("PK".to_string(), s(delivery_pk(reply_id))),
            ("SK".to_string(), s(SK)),
        ]
        .into()
    }

    pub(crate) fn record_item(
        &self,
        command: &ReplyCommand,
        state: DeliveryState,
        now_ms: i64,
        reason: Option<&str>,
        error_code: Option<&str>,
    ) -> Result<Item, PortError> {
        let reply_id = command.dedupe_id();
        let mut item = self.key(&reply_id);
        item.insert("entity".into(), s("delivery"));
        item.insert("reply_id".into(), s(&reply_id));
        item.insert("state".into(), s(state.as_str()));
        item.insert("conversation_key".into(), s(&command.conversation_key));
        item.insert("channel".into(), s(command.channel.as_str()));
        item.insert("account_id".into(), s(&command.account_id));
        item.insert("origin".into(), s(command.origin.kind()));
        item.insert(
            "command".into(),
            serde_dynamo::to_attribute_value(command)
                .map_err(|e| PortError::permanent("serialize reply command", e))?,
        );
        item.insert("updated_at_ms".into(), n(now_ms));
        item.insert("expires_at".into(), n(now_ms / 1000 + self.record_ttl_secs));
        if state == DeliveryState::Calling {
            item.insert("calling_since_ms".into(), n(now_ms));
        }
        if let Some(r) = reason {
            item.insert("reason".into(), s(r));
        }
        if let Some(c) = error_code {
            item.insert("error_code".into(), s(c));
        }
        if matches!(state, DeliveryState::Undeliverable | DeliveryState::Failed) {
            item.insert(
                "GSI1PK".into(),
                s(format!(
                    "DELIVERY#{}#{}#{}",
                    command.channel,
                    command.account_id,
                    state.as_str()
                )),
            );
            item.insert("GSI1SK".into(), s(format!("{now_ms:013}#{reply_id}")));
        }
        Ok(item)
    }

    fn conversation_put(
        &self,
        previous: Option<&Conversation>,
        next: &Conversation,
    ) -> Result<TransactWriteItem, PortError> {
        let mut put = Put::builder()
            .table_name(&self.store.table)
            .set_item(Some(self.store.conversation_item(next)?));
        put = match previous {
            None => put.condition_expression("attribute_not_exists(PK)"),
            Some(p) => put
                .condition_expression("#v = :v")
                .expression_attribute_names("#v", "version")
                .expression_attribute_values(":v", n(p.version as i64)),
        };
        let put = put
            .build()
            .map_err(|e| PortError::permanent("build put", e))?;
        Ok(TransactWriteItem::builder().put(put).build())
    }

    /// The outbound message at position `seq` of the thread (0 when the conversation does not
    /// exist).
    fn outbound_message_item(
        &self,
        command: &ReplyCommand,
        sent_at_ms: i64,
        seq: u64,
        team: Option<&str>,
    ) -> Result<Item, PortError> {
        let reply_id = command.dedupe_id();
        let mut item: Item = HashMap::new();
        item.insert("PK".into(), s(conversation_pk(&command.conversation_key)));
        item.insert("SK".into(), s(thread_sk(seq, &reply_id)));
        item.insert("entity".into(), s("message"));
        item.insert("direction".into(), s("out"));
        item.insert("seq".into(), n(seq as i64));
        item.insert("dedupe_id".into(), s(&reply_id));
        item.insert("kind".into(), s(command.content.kind()));
        item.insert("sent_at_ms".into(), n(sent_at_ms));
        if command.content.is_template() {
            // Accepted by WeChat; its finish report sets `delivered` or `undeliverable`.
            item.insert("delivery".into(), s("accepted"));
        }
        if let Some(team) = team {
            // The conversation's team when it was delivered: the statistics count an agent's
            // reply for it (gateway_core::stats::reply_delta).
            item.insert("team".into(), s(team));
        }
        item.insert(
            "reply".into(),
            serde_dynamo::to_attribute_value(command)
                .map_err(|e| PortError::permanent("serialize reply command", e))?,
        );
        if let Some(ttl) = self.store.message_ttl_secs {
            item.insert("expires_at".into(), n(sent_at_ms / 1000 + ttl));
        }
        Ok(item)
    }

    async fn transact(
        &self,
        writes: Vec<TransactWriteItem>,
        record_index: usize,
        conversation_index: Option<usize>,
    ) -> Result<CommitOutcome, PortError> {
        let outcome = transact(
            &self.store.client,
            writes,
            "dynamodb transact_write_items (delivery)",
        )
        .await?;
        Ok(match outcome {
            Transacted::Committed => CommitOutcome::Stored,
            Transacted::ConditionsFailed(items) if items.contains(&record_index) => {
                CommitOutcome::Duplicate
            }
            Transacted::ConditionsFailed(items)
                if conversation_index.is_some_and(|i| items.contains(&i)) =>
            {
                CommitOutcome::Conflict
            }
            // The outbound message item already exists: recorded before.
            Transacted::ConditionsFailed(_) => CommitOutcome::Duplicate,
        })
    }
}

fn record_from_item(item: &Item) -> Result<DeliveryRecord, PortError> {
    let text = |k: &str| text(item, k);
    let number = |k: &str| number(item, k);
    let state = match text("state").as_deref() {
        Some("calling") => DeliveryState::Calling,
        Some("held") => DeliveryState::Held,
        Some("sent") => DeliveryState::Sent,
        Some("delivered") => DeliveryState::Delivered,
        Some("accepted") => DeliveryState::Accepted,
        Some("undeliverable") => DeliveryState::Undeliverable,
        Some("failed") => DeliveryState::Failed,
        other => {
            return Err(PortError::permanent(
                "read delivery record",
                format!("unknown delivery state {other:?}"),
            ));
        }
    };
    Ok(DeliveryRecord {
        reply_id: text("reply_id").unwrap_or_default(),
        state,
        calling_since_ms: number("calling_since_ms"),
        sent_at_ms: number("sent_at_ms"),
        reason: text("reason"),
        error_code: text("error_code"),
        platform_id: text("platform_id"),
        retry_at_ms: number("retry_at_ms"),
        updated_at_ms: number("updated_at_ms").unwrap_or_default(),
    })
}

#[async_trait]
impl DeliveryLedger for DynamoDbDeliveryLedger {
    async fn get(&self, reply_id: &str) -> Result<Option<DeliveryRecord>, PortError> {
        let out = self
            .store
            .client
            .get_item()
            .table_name(&self.store.table)
            .set_key(Some(self.key(reply_id)))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| port_error("dynamodb get_item (delivery)", e))?;
        out.item.as_ref().map(record_from_item).transpose()
    }

    async fn claim(&self, command: &ReplyCommand, now_ms: i64) -> Result<ClaimOutcome, PortError> {
        let item = self.record_item(command, DeliveryState::Calling, now_ms, None, None)?;
        match self
            .store
            .client
            .put_item()
            .table_name(&self.store.table)
            .set_item(Some(item))
            // A `held` template message is claimed like a reply without a record.
            .condition_expression("attribute_not_exists(PK) OR #s = :held")
            .expression_attribute_names("#s", "state")
            .expression_attribute_values(":held", s("held"))
            .send()
            .await
        {
            Ok(_) => Ok(ClaimOutcome::Claimed),
            Err(e) if e.as_service_error().is_some_and(is_condition_failure) => {
                match self.get(&command.dedupe_id()).await? {
                    Some(record) => Ok(ClaimOutcome::Exists(record)),
                    // Released in between: let the caller retry later.
                    None => Err(PortError::transient(
                        "claim delivery",
                        "the record changed during the claim",
                    )),
                }
            }
            Err(e) => Err(port_error("dynamodb put_item (claim delivery)", e)),
        }
    }

    async fn release(&self, reply_id: &str) -> Result<(), PortError> {
        match self
            .store
            .client
            .delete_item()
            .table_name(&self.store.table)
            .set_key(Some(self.key(reply_id)))
            .condition_expression("#s = :calling")
            .expression_attribute_names("#s", "state")
            .expression_attribute_values(":calling", s("calling"))
            .send()
            .await
        {
            Ok(_) => Ok(()),
            Err(e) if e.as_service_error().is_some_and(is_condition_failure) => Ok(()),
            Err(e) => Err(port_error("dynamodb delete_item (release delivery)", e)),
        }
    }

    async fn mark_sent(
        &self,
        reply_id: &str,
        now_ms: i64,
        platform_id: Option<&str>,
    ) -> Result<(), PortError> {
        let mut update = self
            .store
            .client
            .update_item()
            .table_name(&self.store.table)
            .set_key(Some(self.key(reply_id)))
            .update_expression("SET #s = :sent, sent_at_ms = :now, updated_at_ms = :now")
            .condition_expression("#s = :calling")
            .expression_attribute_names("#s", "state")
            .expression_attribute_values(":sent", s("sent"))
            .expression_attribute_values(":calling", s("calling"))
            .expression_attribute_values(":now", n(now_ms));
        if let Some(id) = platform_id {
            // What the reply created on the platform (a public comment's `idstr`).
            update = update
                .update_expression(
                    "SET #s = :sent, sent_at_ms = :now, updated_at_ms = :now, platform_id = :pid",
                )
                .expression_attribute_values(":pid", s(id));
        }
        match update.send().await {
            Ok(_) => Ok(()),
            Err(e) if e.as_service_error().is_some_and(is_condition_failure) => {
                tracing::warn!(
                    reply_id,
                    "delivery record was no longer `calling` when the platform call returned"
                );
                Ok(())
            }
            Err(e) => Err(port_error("dynamodb update_item (mark sent)", e)),
        }
    }

    async fn mark_template_sent(
        &self,
        command: &ReplyCommand,
        now_ms: i64,
        msgid: &str,
    ) -> Result<(), PortError> {
        let reply_id = command.dedupe_id();
        let update = Update::builder()
            .table_name(&self.store.table)
            .set_key(Some(self.key(&reply_id)))
            .update_expression(
                "SET #s = :sent, sent_at_ms = :now, updated_at_ms = :now, platform_id = :pid",
            )
            .condition_expression("#s = :calling")
            .expression_attribute_names("#s", "state")
            .expression_attribute_values(":sent", s("sent"))
            .expression_attribute_values(":calling", s("calling"))
            .expression_attribute_values(":now", n(now_ms))
            .expression_attribute_values(":pid", s(msgid))
            .build()
            .map_err(|e| PortError::permanent("build update", e))?;
        let lookup = Put::builder()
            .table_name(&self.store.table)
            .set_item(Some(crate::dynamodb::template_sends::lookup_item(
                command.channel.as_str(),
                &command.account_id,
                msgid,
                &reply_id,
                &command.conversation_key,
                now_ms / 1000 + self.record_ttl_secs,
            )))
            .build()
            .map_err(|e| PortError::permanent("build put", e))?;
        let writes = vec![
            TransactWriteItem::builder().update(update).build(),
            TransactWriteItem::builder().put(lookup).build(),
        ];
        match transact(
            &self.store.client,
            writes,
            "dynamodb transact_write_items (template sent)",
        )
        .await?
        {
            Transacted::Committed => Ok(()),
            Transacted::ConditionsFailed(_) => {
                tracing::warn!(
                    reply_id,
                    "delivery record was no longer `calling` when the template call returned"
                );
                Ok(())
            }
        }
    }

    async fn mark_failed(
        &self,
        command: &ReplyCommand,
        error_code: &str,
        reason: &str,
        now_ms: i64,
    ) -> Result<(), PortError> {
        let item = self.record_item(
            command,
            DeliveryState::Failed,
            now_ms,
            Some(reason),
            Some(error_code),
        )?;
        match self
            .store
            .client
            .put_item()
            .table_name(&self.store.table)
            .set_item(Some(item))
            .condition_expression("attribute_not_exists(PK) OR #s IN (:calling, :held)")
            .expression_attribute_names("#s", "state")
            .expression_attribute_values(":calling", s("calling"))
            .expression_attribute_values(":held", s("held"))
            .send()
            .await
        {
            Ok(_) => Ok(()),
            Err(e) if e.as_service_error().is_some_and(is_condition_failure) => Ok(()),
            Err(e) => Err(port_error("dynamodb put_item (mark failed)", e)),
        }
    }

    async fn commit_delivered(
        &self,
        command: &ReplyCommand,
        previous: Option<&Conversation>,
        next: Option<&Conversation>,
        sent_at_ms: i64,
    ) -> Result<CommitOutcome, PortError> {
        let reply_id = command.dedupe_id();
        let now = sent_at_ms;
        let seq = next.map_or(0, |c| c.thread_seq);
        let update = Update::builder()
            .table_name(&self.store.table)
            .set_key(Some(self.key(&reply_id)))
            // Where the reply sits in the thread, so that a later report from the platform (a
            // template message's finish) can mark it there too.
            .update_expression("SET #s = :delivered, updated_at_ms = :now, thread_sk = :tsk")
            .expression_attribute_values(":tsk", s(thread_sk(seq, &reply_id)))
            .condition_expression("#s = :sent")
            .expression_attribute_names("#s", "state")
            .expression_attribute_values(
                ":delivered",
                s(DeliveryState::after_send(&command.content).as_str()),
            )
            .expression_attribute_values(":sent", s("sent"))
            .expression_attribute_values(":now", n(now))
            .build()
            .map_err(|e| PortError::permanent("build update", e))?;
        let message = Put::builder()
            .table_name(&self.store.table)
            .set_item(Some(self.outbound_message_item(
                command,
                sent_at_ms,
                seq,
                next.and_then(|c| c.team.as_deref()),
            )?))
            .condition_expression("attribute_not_exists(PK)")
            .build()
            .map_err(|e| PortError::permanent("build put", e))?;
        let mut writes = vec![
            TransactWriteItem::builder().update(update).build(),
            TransactWriteItem::builder().put(message).build(),
        ];
        let conversation_index = match next {
            Some(next) => {
                writes.push(self.conversation_put(previous, next)?);
                Some(2)
            }
            None => None,
        };
        if command.content.is_template() {
            // Counted on its account's quota day, with no call of its own.
            writes.push(self.count_template_sent(&command.account_id, sent_at_ms)?);
        }
        self.transact(writes, 0, conversation_index).await
    }

    async fn commit_undeliverable(
        &self,
        command: &ReplyCommand,
        previous: Option<&Conversation>,
        next: Option<&Conversation>,
        mark: &UndeliverableReply,
    ) -> Result<CommitOutcome, PortError> {
        let item = self.record_item(
            command,
            DeliveryState::Undeliverable,
            mark.at,
            Some(mark.reason.as_str()),
            mark.platform_code.as_deref(),
        )?;
        let record = Put::builder()
            .table_name(&self.store.table)
            .set_item(Some(item))
            .condition_expression("attribute_not_exists(PK) OR #s IN (:calling, :held)")
            .expression_attribute_names("#s", "state")
            .expression_attribute_values(":calling", s("calling"))
            .expression_attribute_values(":held", s("held"))
            .build()
            .map_err(|e| PortError::permanent("build put", e))?;
        let mut writes = vec![TransactWriteItem::builder().put(record).build()];
        let conversation_index = match next {
            Some(next) => {
                writes.push(self.conversation_put(previous, next)?);
                Some(1)
            }
            None => None,
        };
        self.transact(writes, 0, conversation_index).await
    }

    async fn hold(
        &self,
        command: &ReplyCommand,
        reason: &str,
        detail: &str,
        retry_at_ms: i64,
        now_ms: i64,
    ) -> Result<u32, PortError> {
        self.hold_record(command, reason, detail, retry_at_ms, now_ms)
            .await
    }

    async fn holds(&self, reply_id: &str) -> Result<u32, PortError> {
        self.hold_count(reply_id).await
    }
}
