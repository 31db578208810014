//! The customer's profile on the conversation item (`profile`, `docs/profiles.md`): one
//! `UpdateItem` of that attribute, conditional on the conversation being there and holding
//! no profile fetched at the same time or later. It also moves the conversation's `version`
//! on, so that a writer that loaded the conversation before (router, desk) conflicts and
//! reloads instead of putting the conversation back without the profile.

use crate::dynamodb::attrs::{n, s};
use crate::dynamodb::conversations::conversation_pk;
use crate::error::port_error;
use async_trait::async_trait;
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::types::{AttributeValue, ReturnValue};
use gateway_core::conversation::CustomerProfile;
use gateway_core::ports::PortError;
use gateway_core::profile::{ProfileRecords, StoreOutcome};

/// The conversation item's attribute holding the profile.
pub const PROFILE: &str = "profile";

/// Writes conversations' profiles.
#[derive(Clone, Debug)]
pub struct DynamoDbProfileRecords {
    client: Client,
    table: String,
}

impl DynamoDbProfileRecords {
    /// Records over `table`.
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        DynamoDbProfileRecords {
            client,
            table: table.into(),
        }
    }
}

#[async_trait]
impl ProfileRecords for DynamoDbProfileRecords {
    async fn store(
        &self,
        conversation_key: &str,
        profile: &CustomerProfile,
    ) -> Result<StoreOutcome, PortError> {
        let value: AttributeValue = serde_dynamo::to_attribute_value(profile)
            .map_err(|e| PortError::permanent("serialize profile", e))?;
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("PK", s(conversation_pk(conversation_key)))
            .key("SK", s("META"))
            .update_expression("SET #p = :p, #v = #v + :one")
            .condition_expression(
                "attribute_exists(PK) AND (attribute_not_exists(#p) OR #p.#f < :f)",
            )
            .expression_attribute_names("#p", PROFILE)
            .expression_attribute_names("#f", "fetched_at")
            .expression_attribute_names("#v", "version")
            .expression_attribute_values(":p", value)
            .expression_attribute_values(":f", n(profile.fetched_at))
            .expression_attribute_values(":one", n(1))
            .return_values(ReturnValue::UpdatedOld)
            .return_values_on_condition_check_failure(
                aws_sdk_dynamodb::types::ReturnValuesOnConditionCheckFailure::AllOld,
            )
            .send()
            .await;
        match result {
            Ok(out) => {
                let previous = out
                    .attributes
                    .and_then(|mut a| a.remove(PROFILE))
                    .and_then(|v| serde_dynamo::from_attribute_value(v).ok())
                    .map(Box::new);
                Ok(StoreOutcome::Stored { previous })
            }
            Err(e)
                if e.as_service_error()
                    .is_some_and(|se| se.is_conditional_check_failed_exception()) =>
            {
                let exists = e
                    .as_service_error()
                    .and_then(|se| match se {
                        aws_sdk_dynamodb::operation::update_item::UpdateItemError::ConditionalCheckFailedException(c) => c.item(),
                        _ => None,
                    })
                    .is_some_and(|item| item.contains_key("PK"));
                Ok(if exists {
                    StoreOutcome::Newer
                } else {
                    StoreOutcome::NoConversation
                })
            }
            Err(e) => Err(port_error("dynamodb update_item (profile)", e)),
        }
    }
}
