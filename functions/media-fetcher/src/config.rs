//! Configuration of `media-fetcher`, and the longest one record can take
//! ([`worst_case_record`]), which decides when a record is still started.

use gateway_aws::TokenTiming;
use gateway_lambda::env::{ConfigError, EnvReader, read_retries};
use gateway_platforms::TokenApi;
use std::time::Duration;

/// The longest one record can take, every call at its timeout (`platform`: one platform
/// request, body included; `aws`: one AWS call with its retries):
///
/// | step                                                    | bound            |
/// |---------------------------------------------------------|------------------|
/// | accounts secret (cold or refreshing cache)              | aws              |
/// | object already kept? (`HeadObject`)                     | aws              |
/// | access token refresh: lease, platform token call, store | 2 aws + platform |
/// | download (a video: the answer, then its URL)            | 2 platform       |
/// | token refused: invalidate, refresh, download again      | 3 aws + 3 platform |
/// | conditional put, then the record (at most 4 calls)      | 5 aws            |
///
/// 12 aws + 6 platform: with the defaults (4 s, 15 s) 138 s, under the function's timeout
/// (180 s in the templates), so a started record is never cut off by it.
pub fn worst_case_record(platform: Duration, aws: Duration) -> Duration {
    aws * 12 + platform * 6
}

/// Slack added to the worst case before a record is started.
pub const MARGIN_SLACK: Duration = Duration::from_secs(2);

/// Everything `media-fetcher` reads from its environment.
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    /// `TABLE_NAME`: message items (their `media` map) and the token cache.
    pub table_name: String,
    /// `MEDIA_QUEUE_URL`: the queue this function consumes (for retry backoff).
    pub media_queue_url: String,
    /// `MEDIA_DEAD_LETTER_QUEUE_URL`: where commands go with the reason they failed.
    pub media_dead_letter_queue_url: String,
    /// `INBOUND_QUEUE_URL`: the inbound FIFO queue, where profile notices go for the router.
    pub inbound_queue_url: String,
    /// `MEDIA_BUCKET`: where the objects are kept.
    pub media_bucket: String,
    /// `DELIVERY_SECRET_ID`: the delivery role's accounts secret (API credentials only).
    pub accounts_secret_id: String,
    /// `ACCOUNTS_CACHE_SECS` (default 60).
    pub accounts_cache: Duration,
    /// `WECHAT_API_BASE_URL` (default `https://api.weixin.qq.com`).
    pub wechat_api_base_url: String,
    /// `WEIBO_MEDIA_BASE_URL` (default `https://upload.api.weibo.com`).
    pub weibo_media_base_url: String,
    /// `WEIBO_OPEN_API_BASE_URL` (default `https://api.weibo.com`): `users/show`.
    pub weibo_open_api_base_url: String,
    /// `WECHAT_TOKEN_API`: `stable` (default) or `classic`.
    pub wechat_token_api: TokenApi,
    /// `PLATFORM_TIMEOUT_SECS` (default 15): one platform request, body included.
    pub platform_timeout: Duration,
    /// `AWS_OPERATION_TIMEOUT_MS` (default 4000).
    pub aws_operation_timeout: Duration,
    /// `TOKEN_REFRESH_AHEAD_SECS` (300), `TOKEN_LEASE_SECS` (30), `TOKEN_WAIT_MS` (3000).
    pub token_timing: TokenTiming,
    /// `MEDIA_MAX_ATTEMPTS` (default 4): deliveries of a command before a transient failure
    /// dead-letters it with the reason.
    pub max_attempts: u32,
    /// `RETRY_BASE_SECS` (default 10) and `RETRY_MAX_SECS` (default 300): backoff.
    pub retry_base_secs: u32,
    /// See `retry_base_secs`.
    pub retry_max_secs: u32,
}

impl Config {
    /// Reads the configuration through `lookup`.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let mut r = EnvReader::new(&lookup);
        let table_name = r.required("TABLE_NAME");
        let media_queue_url = r.required("MEDIA_QUEUE_URL");
        let media_dead_letter_queue_url = r.required("MEDIA_DEAD_LETTER_QUEUE_URL");
        let inbound_queue_url = r.required("INBOUND_QUEUE_URL");
        let media_bucket = r.required("MEDIA_BUCKET");
        let accounts_secret_id = r.required("DELIVERY_SECRET_ID");
        let accounts_cache = r.number("ACCOUNTS_CACHE_SECS", 60, 0);
        let wechat_api_base_url = r.url(
            "WECHAT_API_BASE_URL",
            gateway_platforms::WECHAT_DEFAULT_BASE_URL,
        );
        let weibo_media_base_url = r.url(
            "WEIBO_MEDIA_BASE_URL",
            gateway_platforms::media::WEIBO_MEDIA_DEFAULT_BASE_URL,
        );
        let weibo_open_api_base_url = r.url(
            "WEIBO_OPEN_API_BASE_URL",
            gateway_platforms::WEIBO_OPEN_API_DEFAULT_BASE_URL,
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
        let timeout = r.number("PLATFORM_TIMEOUT_SECS", 15, 1);
        let aws_ms = r.number("AWS_OPERATION_TIMEOUT_MS", 4000, 100);
        let refresh_ahead = r.number("TOKEN_REFRESH_AHEAD_SECS", 300, 0);
        let lease = r.number("TOKEN_LEASE_SECS", 30, 1);
        let wait = r.number("TOKEN_WAIT_MS", 3000, 0);
        let platform = Duration::from_secs(u64::try_from(timeout).unwrap_or(15));
        let aws = Duration::from_millis(u64::try_from(aws_ms).unwrap_or(4000));
        // A token refresh holds its lease for one AWS call and one platform call.
        if u128::from(u64::try_from(lease).unwrap_or(0)) * 1000 <= (aws + platform).as_millis() {
            r.problem(format!(
                "TOKEN_LEASE_SECS must exceed the longest token refresh ({} ms: AWS_OPERATION_TIMEOUT_MS + PLATFORM_TIMEOUT_SECS), got `{lease}`",
                (aws + platform).as_millis()
            ));
        }
        let retries = read_retries(&mut r, "MEDIA_MAX_ATTEMPTS", 4, 300);
        let secs = |v: i64| Duration::from_secs(u64::try_from(v).unwrap_or(0));
        r.finish(Config {
            table_name,
            media_queue_url,
            media_dead_letter_queue_url,
            inbound_queue_url,
            media_bucket,
            accounts_secret_id,
            accounts_cache: secs(accounts_cache),
            wechat_api_base_url,
            weibo_media_base_url,
            weibo_open_api_base_url,
            wechat_token_api,
            platform_timeout: platform,
            aws_operation_timeout: aws,
            token_timing: TokenTiming {
                refresh_ahead: secs(refresh_ahead),
                lease: secs(lease),
                wait: Duration::from_millis(u64::try_from(wait).unwrap_or(0)),
            },
            max_attempts: retries.max_attempts,
            retry_base_secs: retries.base_secs,
            retry_max_secs: retries.max_secs,
        })
    }

    /// Reads the configuration from the process environment.
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|k| std::env::var(k).ok())
    }

    /// Records are started only with at least this much of the invocation left.
    pub fn start_margin(&self) -> Duration {
        worst_case_record(self.platform_timeout, self.aws_operation_timeout) + MARGIN_SLACK
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use gateway_lambda::env::lookup_from;

    const REQUIRED: [(&str, &str); 6] = [
        ("TABLE_NAME", "t"),
        ("MEDIA_QUEUE_URL", "q"),
        ("INBOUND_QUEUE_URL", "i"),
        ("MEDIA_DEAD_LETTER_QUEUE_URL", "d"),
        ("MEDIA_BUCKET", "b"),
        ("DELIVERY_SECRET_ID", "s"),
    ];

    #[test]
    fn defaults_and_the_worst_case_under_the_function_timeout() {
        let c = Config::from_lookup(lookup_from(&REQUIRED)).expect("valid");
        assert_eq!(c.platform_timeout, Duration::from_secs(15));
        assert_eq!(c.max_attempts, 4);
        assert_eq!(
            c.weibo_media_base_url,
            gateway_platforms::media::WEIBO_MEDIA_DEFAULT_BASE_URL
        );
        // 12 × 4 s + 6 × 15 s + 2 s: the templates give the function 180 s.
        assert_eq!(c.start_margin(), Duration::from_secs(140));
        assert!(c.start_margin() < Duration::from_secs(180));
    }

    #[test]
    fn every_problem_is_reported_at_once() {
        let err = Config::from_lookup(lookup_from(&[
            ("WECHAT_TOKEN_API", "other"),
            ("TOKEN_LEASE_SECS", "5"),
            ("MEDIA_MAX_ATTEMPTS", "1000"),
        ]))
        .expect_err("invalid");
        // Six missing variables, the token API, the lease, the attempt limit.
        assert_eq!(err.0.len(), 9, "{err}");
    }
}
