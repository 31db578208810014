//! Everything `desk-api` reads from its environment.

use gateway_core::delivery::window::ReplyPolicy;
use gateway_core::desk::media::{DEFAULT_LINK_TTL_SECS, MAX_LINK_TTL_SECS};
use gateway_lambda::env::{ConfigError, EnvReader, read_reply_policy};
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
}

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
}
