//! S3 adapter of the media store: the media-fetcher's objects (`docs/media.md`).
//!
//! An object's SHA-256 travels as user metadata (`x-amz-meta-sha256`), so a redelivered fetch
//! command answers the stored object's record from one `HeadObject`. The put is conditional
//! (`If-None-Match: *`): of two deliveries racing, one writes and the other reads back the
//! winner's description. Encryption and public-access blocking are the bucket's (the
//! templates), not per object.
//!
//! Docs: conditional writes,
//! <https://docs.aws.amazon.com/AmazonS3/latest/userguide/conditional-writes.html>.

use crate::error::port_error;
use async_trait::async_trait;
use aws_sdk_s3::Client;
use aws_sdk_s3::primitives::ByteStream;
use gateway_core::media::{MediaStore, PutOutcome, StoredObject};
use gateway_core::ports::PortError;

/// An S3 client for `sdk`: path-style addressing when an endpoint is configured (the local
/// emulator at `http://127.0.0.1:…` has no per-bucket host names), AWS's default otherwise.
pub fn client(sdk: &aws_config::SdkConfig) -> Client {
    let config = aws_sdk_s3::config::Builder::from(sdk)
        .force_path_style(sdk.endpoint_url().is_some())
        .build();
    Client::from_conf(config)
}

/// The user metadata key holding the object's SHA-256 (lowercase hex).
pub const SHA256_METADATA: &str = "sha256";

/// Media objects in one S3 bucket.
#[derive(Clone, Debug)]
pub struct S3MediaStore {
    client: Client,
    bucket: String,
}

impl S3MediaStore {
    /// Store over `bucket`.
    pub fn new(client: Client, bucket: impl Into<String>) -> Self {
        S3MediaStore {
            client,
            bucket: bucket.into(),
        }
    }
}

#[async_trait]
impl MediaStore for S3MediaStore {
    async fn head(&self, key: &str) -> Result<Option<StoredObject>, PortError> {
        let answer = self
            .client
            .head_object()
            .bucket(&self.bucket)
            .key(key)
            .send()
            .await;
        let head = match answer {
            Ok(h) => h,
            Err(e) if e.as_service_error().is_some_and(|se| se.is_not_found()) => return Ok(None),
            Err(e) => return Err(port_error("s3 head_object (media)", e)),
        };
        let sha256 = head
            .metadata()
            .and_then(|m| m.get(SHA256_METADATA))
            .cloned()
            .unwrap_or_default();
        Ok(Some(StoredObject {
            content_type: head
                .content_type()
                .unwrap_or("application/octet-stream")
                .to_string(),
            bytes: head
                .content_length()
                .and_then(|n| u64::try_from(n).ok())
                .unwrap_or(0),
            sha256,
        }))
    }

    async fn put_if_absent(
        &self,
        key: &str,
        object: &StoredObject,
        body: &[u8],
    ) -> Result<PutOutcome, PortError> {
        let answer = self
            .client
            .put_object()
            .bucket(&self.bucket)
            .key(key)
            .if_none_match("*")
            .content_type(&object.content_type)
            .metadata(SHA256_METADATA, &object.sha256)
            .body(ByteStream::from(body.to_vec()))
            .send()
            .await;
        match answer {
            Ok(_) => Ok(PutOutcome::Created),
            // 412: another delivery stored it first (409 ConditionalRequestConflict: one is
            // storing it now; the retry finds it).
            Err(e) if e.raw_response().is_some_and(|r| r.status().as_u16() == 412) => {
                match self.head(key).await? {
                    Some(existing) => Ok(PutOutcome::Existing(existing)),
                    None => Err(PortError::transient(
                        "s3 put_object (media)",
                        "the object was there and is gone",
                    )),
                }
            }
            Err(e) => Err(port_error("s3 put_object (media)", e)),
        }
    }
}
