//! Profile notices on the inbound FIFO queue (media-fetcher): one `SendMessage` per new
//! profile, in the conversation's message group, deduplicated by
//! [`ProfileNotice::dedupe_id`], for the router to evaluate the rules with profile conditions.

use super::string_attributes;
use crate::error::port_error;
use async_trait::async_trait;
use aws_sdk_sqs::Client;
use gateway_core::ports::PortError;
use gateway_core::profile::{ProfileNotice, ProfileNotices};

/// Puts profile notices on the inbound FIFO queue.
#[derive(Clone, Debug)]
pub struct SqsProfileNotices {
    client: Client,
    queue_url: String,
}

impl SqsProfileNotices {
    /// The inbound FIFO queue at `queue_url`.
    pub fn new(client: Client, queue_url: impl Into<String>) -> Self {
        SqsProfileNotices {
            client,
            queue_url: queue_url.into(),
        }
    }
}

#[async_trait]
impl ProfileNotices for SqsProfileNotices {
    async fn notify(&self, notice: &ProfileNotice) -> Result<(), PortError> {
        let body = serde_json::to_string(notice)
            .map_err(|e| PortError::permanent("serialize profile notice", e))?;
        self.client
            .send_message()
            .queue_url(&self.queue_url)
            .message_body(body)
            .message_group_id(notice.message_group_id())
            .message_deduplication_id(notice.dedupe_id())
            .set_message_attributes(Some(string_attributes(&[
                ("channel", notice.channel.as_str()),
                ("account", notice.account_id.as_str()),
                ("kind", "profile"),
            ])))
            .send()
            .await
            .map_err(|e| port_error("sqs send_message (profile notice)", e))?;
        Ok(())
    }
}
