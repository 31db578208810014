//! The gauges of the accounts' inboxes: which accounts have conversations (a registry item per
//! account in one partition, `PK = ACCOUNTS`, written once by the SLA monitor when it sees an
//! account's first conversation), and per account how many customers wait now and since when
//! the oldest waits (queries of the inbox index `GSI1`, whose waiting entries sort first,
//! oldest first). Queries only: no scan.

use crate::dynamodb::attrs::s;
use crate::dynamodb::conversations::{
    DynamoDbConversationStore, WAITING, WAITING_ESCALATED, WAITING_NOT_ESCALATED,
};
use crate::error::port_error;
use async_trait::async_trait;
use aws_sdk_dynamodb::types::Select;
use gateway_core::conversation::Status;
use gateway_core::message::Channel;
use gateway_core::ports::PortError;
use gateway_core::sla::InboxGauge;
use gateway_core::sla::ports::Inboxes;

/// The partition of the account registry.
const ACCOUNTS_PK: &str = "ACCOUNTS";

fn inbox_pk(channel: Channel, account_id: &str) -> String {
    format!("INBOX#{channel}#{account_id}#{}", Status::Open.as_str())
}

#[async_trait]
impl Inboxes for DynamoDbConversationStore {
    async fn register(&self, channel: Channel, account_id: &str) -> Result<(), PortError> {
        self.client
            .put_item()
            .table_name(&self.table)
            .item("PK", s(ACCOUNTS_PK))
            .item("SK", s(format!("{channel}#{account_id}")))
            .item("entity", s("account"))
            .item("channel", s(channel.as_str()))
            .item("account_id", s(account_id))
            .send()
            .await
            .map_err(|e| port_error("dynamodb put_item (account registry)", e))?;
        Ok(())
    }

    async fn accounts(&self) -> Result<Vec<(Channel, String)>, PortError> {
        let mut out = Vec::new();
        let mut start = None;
        loop {
            let page = self
                .client
                .query()
                .table_name(&self.table)
                .key_condition_expression("PK = :pk")
                .expression_attribute_values(":pk", s(ACCOUNTS_PK))
                .set_exclusive_start_key(start)
                .send()
                .await
                .map_err(|e| port_error("dynamodb query (account registry)", e))?;
            for item in page.items() {
                let text = |k: &str| item.get(k).and_then(|v| v.as_s().ok()).cloned();
                if let (Some(channel), Some(account)) = (text("channel"), text("account_id"))
                    && let Ok(channel) = channel.parse::<Channel>()
                {
                    out.push((channel, account));
                }
            }
            match page.last_evaluated_key() {
                Some(k) if !k.is_empty() => start = Some(k.clone()),
                _ => return Ok(out),
            }
        }
    }

    async fn gauge(&self, channel: Channel, account_id: &str) -> Result<InboxGauge, PortError> {
        let pk = inbox_pk(channel, account_id);
        let query = || {
            self.client
                .query()
                .table_name(&self.table)
                .index_name("GSI1")
                .key_condition_expression("GSI1PK = :pk AND begins_with(GSI1SK, :w)")
                .expression_attribute_values(":pk", s(&pk))
                .expression_attribute_values(":w", s(WAITING))
        };
        let mut unanswered = 0u64;
        let mut start = None;
        loop {
            let page = query()
                .select(Select::Count)
                .set_exclusive_start_key(start)
                .send()
                .await
                .map_err(|e| port_error("dynamodb query (inbox count)", e))?;
            unanswered += u64::try_from(page.count()).unwrap_or(0);
            match page.last_evaluated_key() {
                Some(k) if !k.is_empty() => start = Some(k.clone()),
                _ => break,
            }
        }
        // The index orders escalated waits before the others: the oldest wait is the older of
        // the first of each.
        let mut oldest_waiting_since: Option<i64> = None;
        for prefix in [WAITING_ESCALATED, WAITING_NOT_ESCALATED] {
            let first = self
                .client
                .query()
                .table_name(&self.table)
                .index_name("GSI1")
                .key_condition_expression("GSI1PK = :pk AND begins_with(GSI1SK, :w)")
                .expression_attribute_values(":pk", s(&pk))
                .expression_attribute_values(":w", s(prefix))
                .scan_index_forward(true)
                .limit(1)
                .send()
                .await
                .map_err(|e| port_error("dynamodb query (oldest waiting)", e))?;
            let since = first
                .items()
                .first()
                .and_then(|item| item.get("waiting_since"))
                .and_then(|v| v.as_n().ok())
                .and_then(|n| n.parse::<i64>().ok());
            oldest_waiting_since = match (oldest_waiting_since, since) {
                (Some(a), Some(b)) => Some(a.min(b)),
                (a, b) => a.or(b),
            };
        }
        Ok(InboxGauge {
            channel,
            account_id: account_id.to_string(),
            unanswered,
            oldest_waiting_since,
        })
    }
}
