//! DynamoDB adapter of [`TemplateSends`]: WeChat's `TEMPLATESENDJOBFINISH` report settles the
//! delivery record of the template message it names.
//!
//! | item            | PK                                   | SK       | attributes |
//! |-----------------|--------------------------------------|----------|------------|
//! | template lookup | `TPLMSG#{channel}#{account}#{msgid}` | `TPLMSG` | `reply_id`, `conversation_key`, `expires_at` |
//!
//! The lookup is written by the reply sender in the transaction that records the `msgid`
//! (`DynamoDbDeliveryLedger::mark_template_sent`) and expires with the delivery record. The
//! settle is one transaction: the record, conditional on `accepted` (→ `delivered` |
//! `undeliverable`), and the reply's thread item (`delivery`, `delivery_reason`, found by the
//! record's `thread_sk`), so a redelivered report changes nothing. The conversation item is
//! not read or written.

use crate::DynamoDbConversationStore;
use crate::dynamodb::attrs::{Item, n, s, text};
use crate::dynamodb::conversations::conversation_pk;
use crate::dynamodb::deliveries::delivery_pk;
use crate::dynamodb::transactions::{Transacted, transact};
use crate::error::port_error;
use async_trait::async_trait;
use aws_sdk_dynamodb::types::{TransactWriteItem, Update};
use gateway_core::delivery::template::{Settled, TemplateSends};
use gateway_core::delivery::window::UndeliverableReason;
use gateway_core::ports::PortError;

const LOOKUP_SK: &str = "TPLMSG";

/// Partition key of the lookup of the template message `msgid` sent from `account`.
pub fn lookup_pk(channel: &str, account: &str, msgid: &str) -> String {
    format!("TPLMSG#{channel}#{account}#{msgid}")
}

/// The lookup item leading from `msgid` to `reply_id`, expiring at `expires_at` (Unix s). It
/// names the conversation (`conversation_key`), like the delivery record, so that a customer's
/// erasure finds it (`gatewayctl customer erase`, `docs/privacy.md`).
pub fn lookup_item(
    channel: &str,
    account: &str,
    msgid: &str,
    reply_id: &str,
    conversation_key: &str,
    expires_at: i64,
) -> Item {
    [
        ("PK".to_string(), s(lookup_pk(channel, account, msgid))),
        ("SK".to_string(), s(LOOKUP_SK)),
        ("entity".to_string(), s("template_lookup")),
        ("reply_id".to_string(), s(reply_id)),
        ("conversation_key".to_string(), s(conversation_key)),
        ("expires_at".to_string(), n(expires_at)),
    ]
    .into()
}

/// Template message records over the conversations table.
#[derive(Clone, Debug)]
pub struct DynamoDbTemplateSends {
    store: DynamoDbConversationStore,
}

impl DynamoDbTemplateSends {
    /// Over `store`'s table.
    pub fn new(store: DynamoDbConversationStore) -> Self {
        DynamoDbTemplateSends { store }
    }

    fn record_key(reply_id: &str) -> Item {
        [
            ("PK".to_string(), s(delivery_pk(reply_id))),
            ("SK".to_string(), s("DELIVERY")),
        ]
        .into()
    }

    /// `accepted` → `delivered` | `undeliverable` (with the reason, and listed with the other
    /// undeliverable replies, as `deliveries` does).
    fn record_update(
        &self,
        account_id: &str,
        reply_id: &str,
        reason: Option<UndeliverableReason>,
        now_ms: i64,
    ) -> Result<TransactWriteItem, PortError> {
        let mut update = Update::builder()
            .table_name(&self.store.table)
            .set_key(Some(Self::record_key(reply_id)))
            .condition_expression("#s = :accepted")
            .expression_attribute_names("#s", "state")
            .expression_attribute_values(":accepted", s("accepted"))
            .expression_attribute_values(":now", n(now_ms));
        update = match reason {
            None => update
                .update_expression(
                    "SET #s = :delivered, updated_at_ms = :now, finished_at_ms = :now",
                )
                .expression_attribute_values(":delivered", s("delivered")),
            Some(r) => update
                .update_expression(
                    "SET #s = :undeliverable, updated_at_ms = :now, finished_at_ms = :now, \
                     reason = :reason, GSI1PK = :gsi1pk, GSI1SK = :gsi1sk",
                )
                .expression_attribute_values(":undeliverable", s("undeliverable"))
                .expression_attribute_values(":reason", s(r.as_str()))
                .expression_attribute_values(
                    ":gsi1pk",
                    s(format!("DELIVERY#wechat#{account_id}#undeliverable")),
                )
                .expression_attribute_values(":gsi1sk", s(format!("{now_ms:013}#{reply_id}"))),
        };
        let update = update
            .build()
            .map_err(|e| PortError::permanent("build update", e))?;
        Ok(TransactWriteItem::builder().update(update).build())
    }

    async fn get(&self, key: Item, what: &'static str) -> Result<Option<Item>, PortError> {
        let out = self
            .store
            .client
            .get_item()
            .table_name(&self.store.table)
            .set_key(Some(key))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| port_error(what, e))?;
        Ok(out.item)
    }
}

#[async_trait]
impl TemplateSends for DynamoDbTemplateSends {
    async fn settle(
        &self,
        account_id: &str,
        msgid: &str,
        reason: Option<UndeliverableReason>,
        now_ms: i64,
    ) -> Result<Settled, PortError> {
        let lookup_key: Item = [
            ("PK".to_string(), s(lookup_pk("wechat", account_id, msgid))),
            ("SK".to_string(), s(LOOKUP_SK)),
        ]
        .into();
        let Some(reply_id) = self
            .get(lookup_key, "dynamodb get_item (template lookup)")
            .await?
            .and_then(|item| text(&item, "reply_id"))
        else {
            return Ok(Settled::Unknown);
        };
        let record = self
            .get(Self::record_key(&reply_id), "dynamodb get_item (delivery)")
            .await?;
        let Some(record) = record else {
            return Ok(Settled::Unknown);
        };
        match text(&record, "state").as_deref() {
            Some("accepted") => {}
            Some("calling" | "sent") => return Ok(Settled::NotYetAccepted { reply_id }),
            _ => return Ok(Settled::AlreadySettled { reply_id }),
        }
        let state = if reason.is_some() {
            "undeliverable"
        } else {
            "delivered"
        };
        let mut writes = vec![self.record_update(account_id, &reply_id, reason, now_ms)?];
        // The reply in the thread shows the result too (the desk reads it there).
        let message = match (
            text(&record, "conversation_key"),
            text(&record, "thread_sk"),
        ) {
            (Some(key), Some(sk)) => {
                Some(message_update(&self.store.table, &key, &sk, state, reason)?)
            }
            _ => None,
        };
        writes.extend(message);
        match transact(
            &self.store.client,
            writes,
            "dynamodb transact_write_items (settle template)",
        )
        .await?
        {
            Transacted::Committed => Ok(Settled::Updated { reply_id }),
            Transacted::ConditionsFailed(items) if items.contains(&0) => {
                // Settled in between by another copy of the report.
                Ok(Settled::AlreadySettled { reply_id })
            }
            Transacted::ConditionsFailed(_) => {
                // The thread item is gone (expired): settle the record alone.
                let only = vec![self.record_update(account_id, &reply_id, reason, now_ms)?];
                match transact(
                    &self.store.client,
                    only,
                    "dynamodb transact_write_items (settle template)",
                )
                .await?
                {
                    Transacted::Committed => Ok(Settled::Updated { reply_id }),
                    Transacted::ConditionsFailed(_) => Ok(Settled::AlreadySettled { reply_id }),
                }
            }
        }
    }
}

/// Marks the thread item `sk` of conversation `key` with the finish result (only if it exists).
fn message_update(
    table: &str,
    key: &str,
    sk: &str,
    state: &str,
    reason: Option<UndeliverableReason>,
) -> Result<TransactWriteItem, PortError> {
    let mut update = Update::builder()
        .table_name(table)
        .key("PK", s(conversation_pk(key)))
        .key("SK", s(sk))
        .condition_expression("attribute_exists(PK)")
        .expression_attribute_values(":d", s(state));
    update = match reason {
        None => update.update_expression("SET delivery = :d"),
        Some(r) => update
            .update_expression("SET delivery = :d, delivery_reason = :r")
            .expression_attribute_values(":r", s(r.as_str())),
    };
    let update = update
        .build()
        .map_err(|e| PortError::permanent("build update", e))?;
    Ok(TransactWriteItem::builder().update(update).build())
}
