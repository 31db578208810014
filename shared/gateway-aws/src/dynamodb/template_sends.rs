//! DynamoDB adapter of [`TemplateSends`]: WeChat's `TEMPLATESENDJOBFINISH` report settles the
//! delivery record of the template message it names.
//!
//! | item            | PK                                   | SK       | attributes |
//! |-----------------|--------------------------------------|----------|------------|
//! | template lookup | `TPLMSG#{channel}#{account}#{msgid}` | `TPLMSG` | `reply_id`, `expires_at` |
//!
//! The lookup is written by the reply sender in the transaction that records the `msgid`
//! (`DynamoDbDeliveryLedger::mark_template_sent`) and expires with the delivery record. The
//! settle is one conditional update of the record (`accepted` → `delivered` |
//! `undeliverable`), so a redelivered report changes nothing; the conversation is not read or
//! written.

use crate::DynamoDbConversationStore;
use crate::dynamodb::attrs::{Item, is_condition_failure, n, s, text};
use crate::dynamodb::deliveries::delivery_pk;
use crate::error::port_error;
use async_trait::async_trait;
use gateway_core::delivery::template::{Settled, TemplateSends};
use gateway_core::delivery::window::UndeliverableReason;
use gateway_core::ports::PortError;

const LOOKUP_SK: &str = "TPLMSG";

/// Partition key of the lookup of the template message `msgid` sent from `account`.
pub fn lookup_pk(channel: &str, account: &str, msgid: &str) -> String {
    format!("TPLMSG#{channel}#{account}#{msgid}")
}

/// The lookup item leading from `msgid` to `reply_id`, expiring at `expires_at` (Unix s).
pub fn lookup_item(
    channel: &str,
    account: &str,
    msgid: &str,
    reply_id: &str,
    expires_at: i64,
) -> Item {
    [
        ("PK".to_string(), s(lookup_pk(channel, account, msgid))),
        ("SK".to_string(), s(LOOKUP_SK)),
        ("entity".to_string(), s("template_lookup")),
        ("reply_id".to_string(), s(reply_id)),
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
        let mut update = self
            .store
            .client
            .update_item()
            .table_name(&self.store.table)
            .set_key(Some(Self::record_key(&reply_id)))
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
                // Listed with the other undeliverable replies (see `deliveries`).
                .expression_attribute_values(
                    ":gsi1pk",
                    s(format!("DELIVERY#wechat#{account_id}#undeliverable")),
                )
                .expression_attribute_values(":gsi1sk", s(format!("{now_ms:013}#{reply_id}"))),
        };
        match update.send().await {
            Ok(_) => Ok(Settled::Updated { reply_id }),
            Err(e) if e.as_service_error().is_some_and(is_condition_failure) => {
                let record = self
                    .get(Self::record_key(&reply_id), "dynamodb get_item (delivery)")
                    .await?;
                Ok(match record.and_then(|r| text(&r, "state")).as_deref() {
                    None => Settled::Unknown,
                    Some("calling" | "sent") => Settled::NotYetAccepted { reply_id },
                    Some(_) => Settled::AlreadySettled { reply_id },
                })
            }
            Err(e) => Err(port_error("dynamodb update_item (settle template)", e)),
        }
    }
}
