//! The WeChat media ids of the agents' files, per account: one item per account and file,
//! `PK = UPLOAD#wechat#{account}`, `SK = {upload key}`, holding `media_id` and
//! `expires_at_ms` (when WeChat forgets it, 3 days after the upload), expiring by TTL a day
//! after that. Read and written by the reply sender (`gateway_core::delivery::uploads`).

use crate::dynamodb::attrs::{n, number, s, text};
use crate::error::port_error;
use async_trait::async_trait;
use aws_sdk_dynamodb::Client;
use gateway_core::delivery::uploads::{UploadedId, UploadedIds};
use gateway_core::ports::PortError;

/// Partition key of an account's uploaded files.
pub fn upload_pk(account_id: &str) -> String {
    format!("UPLOAD#wechat#{account_id}")
}

/// Media ids of uploaded files, in the conversations table.
#[derive(Clone, Debug)]
pub struct DynamoDbUploadedIds {
    client: Client,
    table: String,
}

impl DynamoDbUploadedIds {
    /// Ids in `table`.
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        DynamoDbUploadedIds {
            client,
            table: table.into(),
        }
    }
}

#[async_trait]
impl UploadedIds for DynamoDbUploadedIds {
    async fn get(&self, account_id: &str, key: &str) -> Result<Option<UploadedId>, PortError> {
        let answer = self
            .client
            .get_item()
            .table_name(&self.table)
            .key("PK", s(upload_pk(account_id)))
            .key("SK", s(key))
            .send()
            .await
            .map_err(|e| port_error("dynamodb get_item (uploaded media id)", e))?;
        Ok(answer.item().and_then(|item| {
            Some(UploadedId {
                media_id: text(item, "media_id")?,
                expires_at_ms: number(item, "expires_at_ms")?,
            })
        }))
    }

    async fn put(&self, account_id: &str, key: &str, id: &UploadedId) -> Result<(), PortError> {
        // TTL a day after WeChat forgets the id.
        let ttl_secs = id.expires_at_ms / 1000 + 86_400;
        self.client
            .put_item()
            .table_name(&self.table)
            .item("PK", s(upload_pk(account_id)))
            .item("SK", s(key))
            .item("entity", s("uploaded_media"))
            .item("media_id", s(&id.media_id))
            .item("expires_at_ms", n(id.expires_at_ms))
            .item("expires_at", n(ttl_secs))
            .send()
            .await
            .map_err(|e| port_error("dynamodb put_item (uploaded media id)", e))?;
        Ok(())
    }
}
