//! S3 adapter of the desk's [`UploadStore`]: the agents' files, under
//! `uploads/{channel}/{account}/{sha256}` in the media bucket.
//!
//! A key names its bytes (their SHA-256), so the put is conditional (`If-None-Match: *`): the
//! same file again finds its object there (412) and leaves it, one request either way.

use crate::error::port_error;
use crate::s3::SHA256_METADATA;
use async_trait::async_trait;
use aws_sdk_s3::Client;
use aws_sdk_s3::primitives::ByteStream;
use gateway_core::desk::upload::UploadStore;
use gateway_core::ports::PortError;

/// The agents' files in one bucket.
#[derive(Clone, Debug)]
pub struct S3Uploads {
    client: Client,
    bucket: String,
}

impl S3Uploads {
    /// Files in `bucket` (the client from [`crate::s3::client`]).
    pub fn new(client: Client, bucket: impl Into<String>) -> Self {
        S3Uploads {
            client,
            bucket: bucket.into(),
        }
    }
}

#[async_trait]
impl UploadStore for S3Uploads {
    async fn put(
        &self,
        key: &str,
        content_type: &str,
        sha256: &str,
        body: &[u8],
    ) -> Result<(), PortError> {
        let answer = self
            .client
            .put_object()
            .bucket(&self.bucket)
            .key(key)
            .if_none_match("*")
            .content_type(content_type)
            .metadata(SHA256_METADATA, sha256)
            .body(ByteStream::from(body.to_vec()))
            .send()
            .await;
        match answer {
            Ok(_) => Ok(()),
            // The same bytes are there already.
            Err(e) if e.raw_response().is_some_and(|r| r.status().as_u16() == 412) => Ok(()),
            Err(e) => Err(port_error("s3 put_object (upload)", e)),
        }
    }
}

#[async_trait]
impl gateway_core::delivery::uploads::UploadFiles for S3Uploads {
    /// One `GetObject` (the reply sender, when a reply names the file and WeChat no longer
    /// keeps its last upload); a missing object is `None`.
    async fn get(
        &self,
        key: &str,
    ) -> Result<Option<gateway_core::delivery::uploads::StoredFile>, PortError> {
        let answer = self
            .client
            .get_object()
            .bucket(&self.bucket)
            .key(key)
            .send()
            .await;
        let object = match answer {
            Ok(o) => o,
            Err(e) if e.as_service_error().is_some_and(|se| se.is_no_such_key()) => {
                return Ok(None);
            }
            Err(e) => return Err(port_error("s3 get_object (upload)", e)),
        };
        let content_type = object
            .content_type()
            .unwrap_or("application/octet-stream")
            .to_string();
        let body = object
            .body
            .collect()
            .await
            .map_err(|e| PortError::transient("s3 get_object (upload body)", e))?
            .into_bytes()
            .to_vec();
        Ok(Some(gateway_core::delivery::uploads::StoredFile {
            content_type,
            body,
        }))
    }
}
