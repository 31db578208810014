//! S3 adapter of the desk's [`MediaLinks`]: presigned GETs of stored media objects.
//!
//! A presigned URL is computed locally (SigV4 query signing, no call to S3) with the function's
//! credentials; S3 checks it when the browser fetches it. It carries `response-content-type`,
//! so S3 answers with the type the desk chose ([`gateway_core::desk::media::served_content_type`])
//! whatever the object was stored with. Signed with temporary credentials (a Lambda role), a
//! URL also stops working when those credentials expire, whichever comes first.

use async_trait::async_trait;
use aws_sdk_s3::Client;
use aws_sdk_s3::presigning::PresigningConfig;
use gateway_core::desk::media::{LinkRequest, MediaLink, MediaLinks};
use gateway_core::ports::PortError;
use std::time::{Duration, UNIX_EPOCH};

/// Presigned GETs of the objects of one bucket (the client from [`crate::s3::client`]: by
/// path at the local emulator, `https://{bucket}.s3.{region}.amazonaws.com/…` on AWS).
#[derive(Clone, Debug)]
pub struct S3MediaLinks {
    client: Client,
    bucket: String,
}

impl S3MediaLinks {
    /// Links to objects of `bucket`.
    pub fn new(client: Client, bucket: impl Into<String>) -> Self {
        S3MediaLinks {
            client,
            bucket: bucket.into(),
        }
    }
}

#[async_trait]
impl MediaLinks for S3MediaLinks {
    async fn link(&self, request: &LinkRequest) -> Result<MediaLink, PortError> {
        let start_ms = u64::try_from(request.start_ms)
            .map_err(|_| PortError::permanent("s3 presign", "a start before 1970"))?;
        let config = PresigningConfig::builder()
            .start_time(UNIX_EPOCH + Duration::from_millis(start_ms))
            .expires_in(request.ttl)
            .build()
            .map_err(|e| PortError::permanent("s3 presign", e))?;
        let presigned = self
            .client
            .get_object()
            .bucket(&self.bucket)
            .key(&request.key)
            .response_content_type(&request.content_type)
            .presigned(config)
            .await
            .map_err(|e| PortError::transient("s3 presign", e))?;
        let ttl_ms = i64::try_from(request.ttl.as_millis()).unwrap_or(i64::MAX);
        Ok(MediaLink {
            url: presigned.uri().to_string(),
            expires_at_ms: request.start_ms.saturating_add(ttl_ms),
        })
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use aws_sdk_s3::config::{BehaviorVersion, Credentials, Region};

    fn client(endpoint: Option<&str>, path_style: bool) -> Client {
        client_in("cn-north-1", endpoint, path_style)
    }

    fn client_in(region: &'static str, endpoint: Option<&str>, path_style: bool) -> Client {
        let mut config = aws_sdk_s3::Config::builder()
            .behavior_version(BehaviorVersion::latest())
            .region(Region::new(region))
            .credentials_provider(Credentials::new("AKIDEXAMPLE", "secret", None, None, "t"))
            .force_path_style(path_style);
        if let Some(e) = endpoint {
            config = config.endpoint_url(e);
        }
        Client::from_conf(config.build())
    }

    fn request() -> LinkRequest {
        LinkRequest {
            key: "media/wechat/demo/wechat%3Ademo%3Au/abc/image".into(),
            content_type: "image/jpeg".into(),
            // 2026-11-23T10:00:00Z
            start_ms: 1_795_428_000_000,
            ttl: Duration::from_secs(600),
        }
    }

    #[tokio::test]
    async fn a_link_is_a_presigned_get_of_the_key_with_its_type_and_lifetime() {
        let links = S3MediaLinks::new(client(None, false), "media-bucket");
        let link = links.link(&request()).await.unwrap();
        assert_eq!(link.expires_at_ms, 1_795_428_600_000);
        let (base, query) = link.url.split_once('?').unwrap();
        // The key's own percent-encoding is kept (its `%` encoded once more, as S3 reads it).
        assert_eq!(
            base,
            "https://media-bucket.s3.cn-north-1.amazonaws.com.cn/media/wechat/demo/wechat%253Ademo%253Au/abc/image"
        );
        let query: std::collections::HashMap<&str, &str> = query
            .split('&')
            .map(|p| p.split_once('=').unwrap())
            .collect();
        assert_eq!(query["response-content-type"], "image%2Fjpeg");
        assert_eq!(query["X-Amz-Expires"], "600");
        assert_eq!(query["X-Amz-Date"], "20261123T100000Z");
        assert_eq!(query["X-Amz-Algorithm"], "AWS4-HMAC-SHA256");
        assert!(
            query["X-Amz-Credential"].starts_with("AKIDEXAMPLE%2F20261123%2Fcn-north-1%2Fs3%2F"),
            "{}",
            query["X-Amz-Credential"]
        );
        // The same window, the same URL.
        assert_eq!(links.link(&request()).await.unwrap(), link);
    }

    #[tokio::test]
    async fn the_emulator_is_addressed_by_path() {
        let links = S3MediaLinks::new(client(Some("http://127.0.0.1:4566"), true), "b");
        let link = links.link(&request()).await.unwrap();
        assert!(
            link.url
                .starts_with("http://127.0.0.1:4566/b/media/wechat/demo/"),
            "{}",
            link.url
        );
    }

    /// The origin the desk's Content-Security-Policy must allow (img-src, media-src) is the
    /// bucket's regional host, in every region.
    #[tokio::test]
    async fn links_are_on_the_buckets_regional_host() {
        for (region, host) in [
            ("us-east-1", "https://b-1.s3.us-east-1.amazonaws.com/"),
            ("ap-east-1", "https://b-1.s3.ap-east-1.amazonaws.com/"),
            (
                "cn-northwest-1",
                "https://b-1.s3.cn-northwest-1.amazonaws.com.cn/",
            ),
        ] {
            let links = S3MediaLinks::new(client_in(region, None, false), "b-1");
            let link = links.link(&request()).await.unwrap();
            assert!(link.url.starts_with(host), "{region}: {}", link.url);
        }
    }
}
