//! Everything `desk-api` reads from its environment.

use crate::handler::DEFAULT_MAX_UPLOAD_BYTES;
use gateway_aws::TokenTiming;
use gateway_core::delivery::window::ReplyPolicy;
use gateway_core::desk::media::{DEFAULT_LINK_TTL_SECS, MAX_LINK_TTL_SECS};
use gateway_lambda::env::{ConfigError, EnvReader, read_reply_policy};
use gateway_platforms::TokenApi;
use std::time::Duration;

/// The configuration of `desk-api`.
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    /// `TABLE_NAME`: conversations, agent profiles, canned responses, statistics.
    pub table_name: String,
    /// `OUTBOUND_QUEUE_URL`: where agents' replies are queued for `reply-sender`.
    pub outbound_queue_url: String,
    /// `DESK_USER_POOL_ID`: the Cognito user pool agents sign in to.
    pub user_pool_id: String,
    /// `DESK_CLIENT_ID`: the pool's app client whose access tokens are accepted.
    pub client_id: String,
    /// `DESK_TOKEN_ISSUER` (default `https://cognito-idp.{AWS_REGION}.amazonaws.com/{pool}`).
    pub token_issuer: String,
    /// `DESK_JWKS_URL` (default `{issuer}/.well-known/jwks.json`).
    pub jwks_url: String,
    /// `DESK_JWKS_CACHE_SECS` (default 3600): how long the pool's keys are kept.
    pub jwks_cache: Duration,
    /// `DESK_MAX_BODY_BYTES` (default 16384): larger request bodies get 413.
    pub max_body_bytes: usize,
    /// `RULES_CACHE_SECS` (default 30): how long the rules document is cached (a resolution
    /// removes the tags its `lifecycle` names).
    pub rules_cache: Duration,
    /// The reply windows (`WECHAT_MESSAGE_WINDOW_SECS`, … as the reply sender reads them): a
    /// reply the platform would refuse is refused before it is queued.
    pub reply_policy: ReplyPolicy,
    /// `MEDIA_BUCKET`: where the media-fetcher keeps the customers' media (and the desk its
    /// agents' uploads). Unset: the thread shows media records without links.
    pub media_bucket: Option<String>,
    /// `MEDIA_URL_TTL_SECS` (default 600, at most 3600): how long a media link works.
    pub media_url_ttl: Duration,
    /// `DESK_MAX_UPLOAD_BYTES` (default 10485760, WeChat's largest): a larger `POST /media`
    /// body gets 413.
    pub max_upload_bytes: usize,
    /// `DELIVERY_SECRET_ID`: the delivery role's accounts secret (AppID, AppSecret), for
    /// `POST /media`'s access tokens. Unset (or no `MEDIA_BUCKET`): `POST /media` answers 503.
    pub delivery_secret_id: Option<String>,
    /// `ACCOUNTS_CACHE_SECS` (default 60): how long the accounts secret is kept.
    pub accounts_cache: Duration,
    /// `WECHAT_API_BASE_URL` (default `https://api.weixin.qq.com`).
    pub wechat_api_base_url: String,
    /// `WECHAT_TOKEN_API`: `stable` (default) or `classic`, as the reply sender's.
    pub wechat_token_api: TokenApi,
    /// `PLATFORM_TIMEOUT_SECS` (default 5): one whole platform request (the upload).
    pub platform_timeout: Duration,
    /// `TOKEN_REFRESH_AHEAD_SECS` (300), `TOKEN_LEASE_SECS` (20, above the longest refresh:
    /// an AWS call and `PLATFORM_TIMEOUT_SECS`), `TOKEN_WAIT_MS` (3000): the access-token
    /// broker shared with the reply sender and the media-fetcher.
    pub token_timing: TokenTiming,
    /// `AWS_OPERATION_TIMEOUT_MS`: one AWS call with its retries (each attempt at most half of
    /// it). Unset: the queue consumers' bounds (`consumer_timeouts`: 8 s, attempts 3 s).
    pub aws_operation_timeout: Option<Duration>,
}

/// The longest AWS call of the desk API, its retries included, when
/// `AWS_OPERATION_TIMEOUT_MS` is unset (`consumer_timeouts`).
pub const DEFAULT_AWS_OPERATION_TIMEOUT: Duration = Duration::from_secs(8);

impl Config {
    /// Reads the process environment.
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|k| std::env::var(k).ok())
    }

    /// Reads `lookup`.
    pub fn from_lookup<F: Fn(&str) -> Option<String>>(lookup: F) -> Result<Self, ConfigError> {
        let mut r = EnvReader::new(&lookup);
        let table_name = r.required("TABLE_NAME");
        let outbound_queue_url = r.required("OUTBOUND_QUEUE_URL");
        let user_pool_id = r.required("DESK_USER_POOL_ID");
        let client_id = r.required("DESK_CLIENT_ID");
        let region = r.text("AWS_REGION", "us-east-1");
        let default_issuer = format!("https://cognito-idp.{region}.amazonaws.com/{user_pool_id}");
        let token_issuer = r.url("DESK_TOKEN_ISSUER", &default_issuer);
        let default_jwks = format!(
            "{}/.well-known/jwks.json",
            token_issuer.trim_end_matches('/')
        );
        let jwks_url = r.url("DESK_JWKS_URL", &default_jwks);
        let jwks_cache = Duration::from_secs(r.number("DESK_JWKS_CACHE_SECS", 3600, 1) as u64);
        let max_body_bytes = r.number("DESK_MAX_BODY_BYTES", 16384, 1) as usize;
        let rules_cache = Duration::from_secs(r.number("RULES_CACHE_SECS", 30, 0) as u64);
        let reply_policy = read_reply_policy(&mut r);
        let media_bucket = r.get("MEDIA_BUCKET").map(|b| b.trim().to_string());
        let ttl = r.number("MEDIA_URL_TTL_SECS", DEFAULT_LINK_TTL_SECS as i64, 1);
        if ttl > MAX_LINK_TTL_SECS as i64 {
            r.problem(format!(
                "MEDIA_URL_TTL_SECS must be at most {MAX_LINK_TTL_SECS}, got `{ttl}`"
            ));
        }
        let media_url_ttl = Duration::from_secs(ttl.clamp(1, MAX_LINK_TTL_SECS as i64) as u64);
        let max_upload_bytes =
            r.number("DESK_MAX_UPLOAD_BYTES", DEFAULT_MAX_UPLOAD_BYTES as i64, 1) as usize;
        let delivery_secret_id = r.get("DELIVERY_SECRET_ID").map(|v| v.trim().to_string());
        let accounts_cache = Duration::from_secs(r.number("ACCOUNTS_CACHE_SECS", 60, 0) as u64);
        let wechat_api_base_url = r.url(
            "WECHAT_API_BASE_URL",
            gateway_platforms::WECHAT_DEFAULT_BASE_URL,
        );
        let wechat_token_api = match r.text("WECHAT_TOKEN_API", "stable").as_str() {
            "stable" => TokenApi::Stable,
            "classic" => TokenApi::Classic,
            other => {
                r.problem(format!(
                    "WECHAT_TOKEN_API must be `stable` or `classic`, got `{other}`"
                ));
                TokenApi::Stable
            }
        };
        let platform_timeout = Duration::from_secs(r.number("PLATFORM_TIMEOUT_SECS", 5, 1) as u64);
        let aws_operation_timeout = r
            .get("AWS_OPERATION_TIMEOUT_MS")
            .map(|_| Duration::from_millis(r.number("AWS_OPERATION_TIMEOUT_MS", 8000, 100) as u64));
        let lease = Duration::from_secs(r.number("TOKEN_LEASE_SECS", 20, 1) as u64);
        let refresh =
            aws_operation_timeout.unwrap_or(DEFAULT_AWS_OPERATION_TIMEOUT) + platform_timeout;
        if lease <= refresh {
            r.problem(format!(
                "TOKEN_LEASE_SECS must exceed the longest token refresh ({} ms: an AWS call and PLATFORM_TIMEOUT_SECS), got `{}`",
                refresh.as_millis(),
                lease.as_secs()
            ));
        }
        let token_timing = TokenTiming {
            refresh_ahead: Duration::from_secs(r.number("TOKEN_REFRESH_AHEAD_SECS", 300, 0) as u64),
            lease,
            wait: Duration::from_millis(r.number("TOKEN_WAIT_MS", 3000, 0) as u64),
        };
        r.finish(Config {
            table_name,
            outbound_queue_url,
            user_pool_id,
            client_id,
            token_issuer,
            jwks_url,
            jwks_cache,
            max_body_bytes,
            rules_cache,
            reply_policy,
            media_bucket,
            media_url_ttl,
            max_upload_bytes,
            delivery_secret_id,
            accounts_cache,
            wechat_api_base_url,
            wechat_token_api,
            platform_timeout,
            token_timing,
            aws_operation_timeout,
        })
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use gateway_lambda::env::lookup_from as env;

    const REQUIRED: [(&str, &str); 4] = [
        ("TABLE_NAME", "t"),
        ("OUTBOUND_QUEUE_URL", "q"),
        ("DESK_USER_POOL_ID", "p"),
        ("DESK_CLIENT_ID", "c"),
    ];

    fn with(pairs: &[(&'static str, &'static str)]) -> Result<Config, ConfigError> {
        let mut all = REQUIRED.to_vec();
        all.extend_from_slice(pairs);
        Config::from_lookup(env(&all))
    }

    #[test]
    fn media_links_need_a_bucket_and_last_ten_minutes_by_default() {
        let c = with(&[]).unwrap();
        assert_eq!(c.media_bucket, None);
        assert_eq!(c.media_url_ttl, Duration::from_secs(600));
        let c = with(&[("MEDIA_BUCKET", "media-b"), ("MEDIA_URL_TTL_SECS", "3600")]).unwrap();
        assert_eq!(c.media_bucket.as_deref(), Some("media-b"));
        assert_eq!(c.media_url_ttl, Duration::from_secs(3600));
        for bad in ["0", "3601", "ten"] {
            let e = with(&[("MEDIA_URL_TTL_SECS", bad)]).unwrap_err();
            assert!(e.to_string().contains("MEDIA_URL_TTL_SECS"), "{bad}: {e}");
        }
    }

    #[test]
    fn uploads_read_the_delivery_secret_and_the_token_brokers_settings() {
        let c = with(&[]).unwrap();
        assert_eq!(c.max_upload_bytes, 10_485_760);
        assert_eq!(c.delivery_secret_id, None);
        assert_eq!(c.wechat_api_base_url, "https://api.weixin.qq.com");
        assert_eq!(c.wechat_token_api, TokenApi::Stable);
        assert_eq!(c.platform_timeout, Duration::from_secs(5));
        assert_eq!(c.token_timing.lease, Duration::from_secs(20));
        let c = with(&[
            ("DESK_MAX_UPLOAD_BYTES", "4194304"),
            ("DELIVERY_SECRET_ID", "gw-delivery"),
            ("WECHAT_API_BASE_URL", "http://127.0.0.1:9"),
            ("WECHAT_TOKEN_API", "classic"),
        ])
        .unwrap();
        assert_eq!(c.max_upload_bytes, 4_194_304);
        assert_eq!(c.delivery_secret_id.as_deref(), Some("gw-delivery"));
        assert_eq!(c.wechat_token_api, TokenApi::Classic);
        let e = with(&[("TOKEN_LEASE_SECS", "13")]).unwrap_err();
        assert!(
            e.to_string().contains("TOKEN_LEASE_SECS must exceed"),
            "{e}"
        );
        assert!(with(&[("TOKEN_LEASE_SECS", "14")]).is_ok());
        // The local stack's bounds: AWS calls of 1.5 s, the platform's 2 s, a lease of 10 s.
        let c = with(&[
            ("AWS_OPERATION_TIMEOUT_MS", "1500"),
            ("PLATFORM_TIMEOUT_SECS", "2"),
            ("TOKEN_LEASE_SECS", "10"),
        ])
        .unwrap();
        assert_eq!(c.aws_operation_timeout, Some(Duration::from_millis(1500)));
        assert_eq!(with(&[]).unwrap().aws_operation_timeout, None);
        let e = with(&[("DESK_MAX_UPLOAD_BYTES", "0"), ("WECHAT_TOKEN_API", "x")]).unwrap_err();
        assert_eq!(e.0.len(), 2, "{e}");
    }
}
