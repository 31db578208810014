//! The alerts topic (SNS): escalations and service-level breaches for the operations team,
//! who subscribe e-mail, SMS or a chat webhook. The message is the alert as JSON; the subject
//! one line; message attributes `kind`, `channel` and `account` let a subscription filter.

use crate::error::port_error;
use async_trait::async_trait;
use aws_sdk_sns::Client;
use aws_sdk_sns::types::MessageAttributeValue;
use gateway_core::ports::PortError;
use gateway_core::sla::Alert;
use gateway_core::sla::ports::AlertPublisher;
use std::collections::HashMap;

/// SNS accepts subjects of at most 100 characters.
const MAX_SUBJECT_CHARS: usize = 100;

/// Publishes alerts to the topic `topic_arn`.
#[derive(Clone, Debug)]
pub struct SnsAlerts {
    client: Client,
    topic_arn: String,
}

impl SnsAlerts {
    /// Alerts on the topic `topic_arn`.
    pub fn new(client: Client, topic_arn: impl Into<String>) -> Self {
        SnsAlerts {
            client,
            topic_arn: topic_arn.into(),
        }
    }
}

fn attribute(value: &str) -> Option<MessageAttributeValue> {
    MessageAttributeValue::builder()
        .data_type("String")
        .string_value(value)
        .build()
        .ok()
}

#[async_trait]
impl AlertPublisher for SnsAlerts {
    async fn publish(&self, alert: &Alert) -> Result<(), PortError> {
        let message =
            serde_json::to_string(alert).map_err(|e| PortError::permanent("serialize alert", e))?;
        let (channel, account) = match alert {
            Alert::Escalation {
                channel,
                account_id,
                ..
            }
            | Alert::Breach {
                channel,
                account_id,
                ..
            } => (channel.as_str(), account_id.as_str()),
        };
        let attributes: HashMap<String, MessageAttributeValue> = [
            ("kind", alert.kind()),
            ("channel", channel),
            ("account", account),
        ]
        .into_iter()
        .filter(|(_, v)| !v.is_empty())
        .filter_map(|(k, v)| attribute(v).map(|a| (k.to_string(), a)))
        .collect();
        let subject: String = alert.subject().chars().take(MAX_SUBJECT_CHARS).collect();
        self.client
            .publish()
            .topic_arn(&self.topic_arn)
            .subject(subject)
            .message(message)
            .set_message_attributes(Some(attributes))
            .send()
            .await
            .map_err(|e| port_error("sns publish", e))?;
        Ok(())
    }
}
