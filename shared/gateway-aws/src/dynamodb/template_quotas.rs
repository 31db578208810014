//! Template messages' daily quota per WeChat account, on the delivery ledger's table
//! (`gateway_core::delivery::template_quota`):
//!
//! | item            | PK                          | SK                 | attributes |
//! |-----------------|-----------------------------|--------------------|------------|
//! | quota day       | `TPLQUOTA#wechat#{account}` | `DAY#{YYYY-MM-DD}` | `sent` (N, ADD 1 in the transaction that makes a template message `accepted`), `exhausted_at_ms` (N, set on WeChat's 45009), `expires_at` (TTL: 3 days after the day) |
//! | holds of a reply| `REPLY#{reply_id}`          | `HOLDS`            | `holds` (N, ADD 1 per hold), `conversation_key` (found by a customer's erasure), `expires_at` (TTL as the record) |
//!
//! The day is the Beijing date. The hold also rewrites the delivery record as `held` (reason,
//! `retry_at_ms`, `held_because`), only from no record or `held`; the holds count sits apart so
//! that the claim's put, which replaces the record, does not reset it.

use crate::DynamoDbDeliveryLedger;
use crate::dynamodb::attrs::{Item, is_condition_failure, n, number, s};
use crate::error::port_error;
use async_trait::async_trait;
use aws_sdk_dynamodb::types::{ReturnValue, TransactWriteItem, Update};
use gateway_core::delivery::ports::DeliveryState;
use gateway_core::delivery::template_quota::{
    QuotaDay, TemplateQuotas, quota_day, quota_item_expires_at,
};
use gateway_core::outbound::ReplyCommand;
use gateway_core::ports::PortError;

/// The key of an account's quota day (`day` as `YYYY-MM-DD`).
pub fn quota_key(account_id: &str, day: &str) -> Item {
    [
        ("PK".to_string(), s(format!("TPLQUOTA#wechat#{account_id}"))),
        ("SK".to_string(), s(format!("DAY#{day}"))),
    ]
    .into()
}

fn holds_key(reply_id: &str) -> Item {
    [
        (
            "PK".to_string(),
            s(crate::dynamodb::deliveries::delivery_pk(reply_id)),
        ),
        ("SK".to_string(), s("HOLDS")),
    ]
    .into()
}

impl DynamoDbDeliveryLedger {
    /// The `sent` + 1 of the quota day of `sent_at_ms`, as one item of the delivered commit.
    pub(crate) fn count_template_sent(
        &self,
        account_id: &str,
        sent_at_ms: i64,
    ) -> Result<TransactWriteItem, PortError> {
        let update = Update::builder()
            .table_name(&self.store.table)
            .set_key(Some(quota_key(account_id, &quota_day(sent_at_ms))))
            .update_expression("SET entity = :entity, expires_at = :exp ADD sent :one")
            .expression_attribute_values(":entity", s("template_quota"))
            .expression_attribute_values(":exp", n(quota_item_expires_at(sent_at_ms)))
            .expression_attribute_values(":one", n(1))
            .build()
            .map_err(|e| PortError::permanent("build update", e))?;
        Ok(TransactWriteItem::builder().update(update).build())
    }

    /// The record `held` (from none or `held`), then one more hold counted: the count.
    pub(crate) async fn hold_record(
        &self,
        command: &ReplyCommand,
        reason: &str,
        detail: &str,
        retry_at_ms: i64,
        now_ms: i64,
    ) -> Result<u32, PortError> {
        let reply_id = command.dedupe_id();
        let mut item =
            self.record_item(command, DeliveryState::Held, now_ms, Some(reason), None)?;
        item.insert("retry_at_ms".into(), n(retry_at_ms));
        item.insert("held_because".into(), s(detail));
        match self
            .store
            .client
            .put_item()
            .table_name(&self.store.table)
            .set_item(Some(item))
            .condition_expression("attribute_not_exists(PK) OR #s = :held")
            .expression_attribute_names("#s", "state")
            .expression_attribute_values(":held", s("held"))
            .send()
            .await
        {
            Ok(_) => {}
            Err(e) if e.as_service_error().is_some_and(is_condition_failure) => {
                return Err(PortError::transient(
                    "hold delivery",
                    "the record moved on (another attempt claimed it)",
                ));
            }
            Err(e) => return Err(port_error("dynamodb put_item (hold delivery)", e)),
        }
        let out = self
            .store
            .client
            .update_item()
            .table_name(&self.store.table)
            .set_key(Some(holds_key(&reply_id)))
            // The conversation, so that a customer's erasure finds it (gatewayctl customer).
            .update_expression("SET expires_at = :exp, conversation_key = :ck ADD holds :one")
            .expression_attribute_values(":exp", n(now_ms / 1000 + self.record_ttl_secs))
            .expression_attribute_values(":ck", s(&command.conversation_key))
            .expression_attribute_values(":one", n(1))
            .return_values(ReturnValue::UpdatedNew)
            .send()
            .await
            .map_err(|e| port_error("dynamodb update_item (count hold)", e))?;
        let holds = out
            .attributes
            .as_ref()
            .and_then(|a| number(a, "holds"))
            .unwrap_or(1);
        Ok(u32::try_from(holds).unwrap_or(u32::MAX))
    }

    /// How many times the reply was held.
    pub(crate) async fn hold_count(&self, reply_id: &str) -> Result<u32, PortError> {
        let out = self
            .store
            .client
            .get_item()
            .table_name(&self.store.table)
            .set_key(Some(holds_key(reply_id)))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| port_error("dynamodb get_item (holds)", e))?;
        let holds = out
            .item
            .as_ref()
            .and_then(|i| number(i, "holds"))
            .unwrap_or(0);
        Ok(u32::try_from(holds.max(0)).unwrap_or(u32::MAX))
    }
}

#[async_trait]
impl TemplateQuotas for DynamoDbDeliveryLedger {
    async fn day(&self, account_id: &str, day: &str) -> Result<QuotaDay, PortError> {
        let out = self
            .store
            .client
            .get_item()
            .table_name(&self.store.table)
            .set_key(Some(quota_key(account_id, day)))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| port_error("dynamodb get_item (template quota)", e))?;
        Ok(out
            .item
            .as_ref()
            .map_or_else(QuotaDay::default, |i| QuotaDay {
                sent: u64::try_from(number(i, "sent").unwrap_or(0)).unwrap_or(0),
                exhausted_at_ms: number(i, "exhausted_at_ms"),
            }))
    }

    async fn mark_exhausted(
        &self,
        account_id: &str,
        day: &str,
        now_ms: i64,
    ) -> Result<(), PortError> {
        self.store
            .client
            .update_item()
            .table_name(&self.store.table)
            .set_key(Some(quota_key(account_id, day)))
            .update_expression(
                "SET entity = :entity, expires_at = :exp, exhausted_at_ms = if_not_exists(exhausted_at_ms, :now)",
            )
            .expression_attribute_values(":entity", s("template_quota"))
            .expression_attribute_values(":exp", n(quota_item_expires_at(now_ms)))
            .expression_attribute_values(":now", n(now_ms))
            .send()
            .await
            .map_err(|e| port_error("dynamodb update_item (template quota exhausted)", e))?;
        Ok(())
    }
}
