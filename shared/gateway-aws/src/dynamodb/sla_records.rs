//! The SLA monitor's writes to a conversation: a breach recorded once, conditionally on the
//! conversation still being as the timer timed it, and an automatic resolution, conditionally
//! on its version. Both move the version on, so that a concurrent write by the router or the
//! reply sender (version-checked) reloads and keeps them.

use crate::dynamodb::attrs::{is_condition_failure, n, s};
use crate::dynamodb::conversations::{DynamoDbConversationStore, conversation_pk};
use crate::dynamodb::transactions::{Transacted, transact};
use crate::error::port_error;
use async_trait::async_trait;
use gateway_core::conversation::Conversation;
use gateway_core::ports::{CommitOutcome, ConversationStore, PortError};
use gateway_core::sla::ports::SlaRecords;
use gateway_core::sla::{Timer, TimerKind};

#[async_trait]
impl SlaRecords for DynamoDbConversationStore {
    async fn load(&self, conversation_key: &str) -> Result<Option<Conversation>, PortError> {
        ConversationStore::load(self, conversation_key).await
    }

    async fn record_breach(&self, timer: &Timer, at: i64) -> Result<bool, PortError> {
        let (field, due, since) = match timer.kind {
            TimerKind::FirstResponse => ("sla_breached_at", "response_due_at", "waiting_since"),
            TimerKind::Resolution => ("resolution_breached_at", "resolution_due_at", "opened_at"),
            TimerKind::AutoResolve => return Ok(false),
        };
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("PK", s(conversation_pk(&timer.conversation_key)))
            .key("SK", s("META"))
            .update_expression("SET #b = :at, #v = #v + :one")
            .condition_expression(
                "attribute_exists(PK) AND #due = :due AND #since = :since AND attribute_not_exists(#b)",
            )
            .expression_attribute_names("#b", field)
            .expression_attribute_names("#due", due)
            .expression_attribute_names("#since", since)
            .expression_attribute_names("#v", "version")
            .expression_attribute_values(":at", n(at))
            .expression_attribute_values(":due", n(timer.due_at))
            .expression_attribute_values(":since", n(timer.since))
            .expression_attribute_values(":one", n(1))
            .send()
            .await;
        match result {
            Ok(_) => Ok(true),
            Err(e) if e.as_service_error().is_some_and(is_condition_failure) => Ok(false),
            Err(e) => Err(port_error("dynamodb update_item (record breach)", e)),
        }
    }

    async fn replace(
        &self,
        previous: &Conversation,
        next: &Conversation,
    ) -> Result<CommitOutcome, PortError> {
        let put = self.put(
            self.conversation_item(next)?,
            "#v = :v",
            Some([(":v".to_string(), n(previous.version as i64))].into()),
        )?;
        let mut writes = vec![put];
        writes.extend(self.tag_writes(Some(previous), next)?);
        match transact(
            &self.client,
            writes,
            "dynamodb transact_write_items (replace)",
        )
        .await?
        {
            Transacted::Committed => Ok(CommitOutcome::Stored),
            Transacted::ConditionsFailed(_) => Ok(CommitOutcome::Conflict),
        }
    }
}
