//! Configuration of `reply-sender`, and the time bounds it is checked against: the longest
//! a reply can take ([`worst_case_record`]) and the longest a token refresh holds its lease
//! ([`worst_case_token_refresh`]).

use crate::handler::Settings;
use gateway_aws::TokenTiming;
use gateway_lambda::env::{ConfigError, EnvReader, read_reply_policy, read_retries};
use gateway_platforms::TokenApi;
use std::time::Duration;
/// The longest one reply can take, from the start of its record to its last write, with every
/// call at its timeout (`platform`: one platform request; `aws`: one AWS call with retries):
///
/// | step                                                        | bound        |
/// |-------------------------------------------------------------|--------------|
/// | accounts secret (cold or refreshing cache)                  | aws          |
/// | conversation read (window and quota)                        | aws          |
/// | a template message: its account's quota day (`GetItem`)     | aws          |
/// | access token refresh: lease, platform token call, store     | 2 aws + platform |
/// | a reply naming an agent's file: its cached media id, the    |              |
/// | file (`GetObject`), WeChat's upload, the new id (or the     | 3 aws + platform |
/// | refused token expired) (`gateway_core::delivery::uploads`)  |              |
/// | claim (conditional put)                                     | aws          |
/// | send                                                        | platform     |
/// | token refused: invalidate, refresh (lease, call, store)     | 3 aws + platform |
/// | send again                                                  | platform     |
/// | `mark_sent`, then the delivered commit                      | 2 aws        |
///
/// A template message refused with 45009 releases its claim and then marks the day and holds
/// the reply (3 aws after the release, where no claim is held any more: a timeout there
/// leaves the command to be received again, and it is held then).
///
/// 13 aws + 5 platform: with the defaults (4 s, 5 s) 77 s. A record is claimed only when at
/// least this much of the invocation is left, so the function never times out between a claim
/// and its final write (which would leave the reply `delivery_uncertain`, neither sent again
/// nor known to be sent).
pub fn worst_case_record(platform: Duration, aws: Duration) -> Duration {
    aws * 13 + platform * 5
}

/// The longest a token refresh can hold its lease: the platform call and the write of the new
/// token (the lease itself is taken before it starts). `TOKEN_LEASE_SECS` must exceed it, or a
/// second instance could refresh at the same time and invalidate the first one's token.
pub fn worst_case_token_refresh(platform: Duration, aws: Duration) -> Duration {
    aws + platform
}

/// Slack added to the worst case before a record is started.
pub const MARGIN_SLACK: Duration = Duration::from_secs(2);

/// Everything `reply-sender` reads from its environment.
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    /// `TABLE_NAME`: conversations, delivery records, token cache.
    pub table_name: String,
    /// `OUTBOUND_QUEUE_URL`: the queue this function consumes (for retry backoff).
    pub outbound_queue_url: String,
    /// `OUTBOUND_DEAD_LETTER_QUEUE_URL`: where commands that can never be delivered go.
    pub outbound_dead_letter_queue_url: String,
    /// `MEDIA_BUCKET`: the agents' files that media replies may name (`uploads/`).
    pub media_bucket: String,
    /// `DELIVERY_SECRET_ID`: the reply sender's accounts secret (API credentials only).
    pub accounts_secret_id: String,
    /// `ACCOUNTS_CACHE_SECS` (default 60).
    pub accounts_cache: Duration,
    /// `WECHAT_API_BASE_URL` (default `https://api.weixin.qq.com`).
    pub wechat_api_base_url: String,
    /// `WEIBO_API_BASE_URL` (default `https://m.api.weibo.com`): the fan-service API
    /// (private replies).
    pub weibo_api_base_url: String,
    /// `WEIBO_OPEN_API_BASE_URL` (default `https://api.weibo.com`): the open API's comment
    /// calls (public replies).
    pub weibo_open_api_base_url: String,
    /// `WECHAT_TOKEN_API`: `stable` (default) or `classic`.
    pub wechat_token_api: TokenApi,
    /// `PLATFORM_TIMEOUT_SECS` (default 5): whole platform request.
    pub platform_timeout: Duration,
    /// `AWS_OPERATION_TIMEOUT_MS` (default 4000): one AWS call with its retries (each
    /// attempt at most half of it).
    pub aws_operation_timeout: Duration,
    /// `TOKEN_REFRESH_AHEAD_SECS` (300), `TOKEN_LEASE_SECS` (20), `TOKEN_WAIT_MS` (3000).
    /// The lease must exceed [`worst_case_token_refresh`].
    pub token_timing: TokenTiming,
    /// `DELIVERY_RECORD_TTL_DAYS` (default 30).
    pub delivery_record_ttl_days: i64,
    /// `MESSAGE_TTL_DAYS` (default 90; 0 keeps outbound messages forever).
    pub message_ttl_days: i64,
    /// What the batch handler applies:
    /// - `DELIVERY_CLAIM_TIMEOUT_SECS` (default 240; above the function timeout, 180 s in the
    ///   templates): a `calling` record younger than this may still be in flight;
    /// - `RETRY_BASE_SECS` (default 10) and `RETRY_MAX_SECS` (default 300): backoff of
    ///   transient failures;
    /// - `REPLY_MAX_ATTEMPTS` (default 4): deliveries of one command before a transient failure
    ///   dead-letters it with `gateway:retries_exhausted`; at least 2 below the outbound
    ///   queue's `maxReceiveCount`, so that the queue's redrive (which records no reason) stays
    ///   a backstop;
    /// - reply windows: `WECHAT_MESSAGE_WINDOW_SECS` / `WECHAT_MESSAGE_QUOTA`,
    ///   `WECHAT_EVENT_…`, `WEIBO_MESSAGE_…`, `WEIBO_EVENT_…`, `WEIBO_MENTION_…`.
    pub delivery: Settings,
}

impl Config {
    /// Reads the configuration through `lookup`.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let mut r = EnvReader::new(&lookup);
        let table_name = r.required("TABLE_NAME");
        let outbound_queue_url = r.required("OUTBOUND_QUEUE_URL");
        let outbound_dead_letter_queue_url = r.required("OUTBOUND_DEAD_LETTER_QUEUE_URL");
        let media_bucket = r.required("MEDIA_BUCKET");
        let accounts_secret_id = r.required("DELIVERY_SECRET_ID");
        let accounts_cache = r.number("ACCOUNTS_CACHE_SECS", 60, 0);
        let wechat_api_base_url = r.url(
            "WECHAT_API_BASE_URL",
            gateway_platforms::WECHAT_DEFAULT_BASE_URL,
        );
        let weibo_api_base_url = r.url(
            "WEIBO_API_BASE_URL",
            gateway_platforms::WEIBO_DEFAULT_BASE_URL,
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
        let timeout = r.number("PLATFORM_TIMEOUT_SECS", 5, 1);
        let aws_ms = r.number("AWS_OPERATION_TIMEOUT_MS", 4000, 100);
        let refresh_ahead = r.number("TOKEN_REFRESH_AHEAD_SECS", 300, 0);
        let lease = r.number("TOKEN_LEASE_SECS", 20, 1);
        let wait = r.number("TOKEN_WAIT_MS", 3000, 0);
        let claim = r.number("DELIVERY_CLAIM_TIMEOUT_SECS", 240, 1);
        let platform = Duration::from_secs(u64::try_from(timeout).unwrap_or(5));
        let aws = Duration::from_millis(u64::try_from(aws_ms).unwrap_or(4000));
        let refresh = worst_case_token_refresh(platform, aws);
        if u128::from(u64::try_from(lease).unwrap_or(0)) * 1000 <= refresh.as_millis() {
            r.problem(format!(
                "TOKEN_LEASE_SECS must exceed the longest token refresh ({} ms: AWS_OPERATION_TIMEOUT_MS + PLATFORM_TIMEOUT_SECS), got `{lease}`",
                refresh.as_millis()
            ));
        }
        let record = worst_case_record(platform, aws);
        if u128::from(u64::try_from(claim).unwrap_or(0)) * 1000 <= record.as_millis() {
            r.problem(format!(
                "DELIVERY_CLAIM_TIMEOUT_SECS must exceed the longest delivery ({} ms), got `{claim}`",
                record.as_millis()
            ));
        }
        let record_ttl = r.number("DELIVERY_RECORD_TTL_DAYS", 30, 1);
        let message_ttl = r.number("MESSAGE_TTL_DAYS", 90, 0);
        let retries = read_retries(&mut r, "REPLY_MAX_ATTEMPTS", 4, 300);
        let policy = read_reply_policy(&mut r);
        let secs = |v: i64| Duration::from_secs(u64::try_from(v).unwrap_or(0));
        r.finish(Config {
            table_name,
            outbound_queue_url,
            outbound_dead_letter_queue_url,
            media_bucket,
            accounts_secret_id,
            accounts_cache: secs(accounts_cache),
            wechat_api_base_url,
            weibo_api_base_url,
            weibo_open_api_base_url,
            wechat_token_api,
            platform_timeout: secs(timeout),
            aws_operation_timeout: aws,
            token_timing: TokenTiming {
                refresh_ahead: secs(refresh_ahead),
                lease: secs(lease),
                wait: Duration::from_millis(u64::try_from(wait).unwrap_or(0)),
            },
            delivery_record_ttl_days: record_ttl,
            message_ttl_days: message_ttl,
            delivery: Settings {
                claim_timeout: secs(claim),
                retry_base_secs: retries.base_secs,
                retry_max_secs: retries.max_secs,
                max_attempts: retries.max_attempts,
                policy,
            },
        })
    }

    /// Reads the configuration from the process environment.
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|k| std::env::var(k).ok())
    }

    /// Records are started only with this much of the invocation left: the worst case of one
    /// reply plus slack.
    pub fn start_margin(&self) -> Duration {
        worst_case_record(self.platform_timeout, self.aws_operation_timeout) + MARGIN_SLACK
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use gateway_core::delivery::window::ReplyPolicy;
    use gateway_lambda::env::lookup_from as env;

    const REQUIRED: [(&str, &str); 5] = [
        ("TABLE_NAME", "t"),
        ("OUTBOUND_QUEUE_URL", "q"),
        ("OUTBOUND_DEAD_LETTER_QUEUE_URL", "d"),
        ("MEDIA_BUCKET", "m"),
        ("DELIVERY_SECRET_ID", "s"),
    ];

    #[test]
    fn defaults_follow_the_documentation() {
        let c = Config::from_lookup(env(&REQUIRED)).expect("valid");
        assert_eq!(c.wechat_api_base_url, "https://api.weixin.qq.com");
        assert_eq!(c.weibo_api_base_url, "https://m.api.weibo.com");
        assert_eq!(c.weibo_open_api_base_url, "https://api.weibo.com");
        assert_eq!(c.wechat_token_api, TokenApi::Stable);
        assert_eq!(c.delivery.policy, ReplyPolicy::default());
        assert_eq!(c.delivery.max_attempts, 4);
    }

    #[test]
    fn the_attempt_limit_is_at_least_one_and_below_what_sqs_can_count() {
        let with = |v: &str| {
            let mut pairs = REQUIRED.to_vec();
            pairs.push(("REPLY_MAX_ATTEMPTS", v));
            Config::from_lookup(env(&pairs))
        };
        assert_eq!(with("1").expect("valid").delivery.max_attempts, 1);
        assert_eq!(with(" 9 ").expect("valid").delivery.max_attempts, 9);
        for bad in ["0", "-3", "four", "1000"] {
            let err = with(bad).expect_err(bad);
            assert_eq!(err.0.len(), 1, "{err}");
            assert!(err.0[0].contains("REPLY_MAX_ATTEMPTS"), "{err}");
        }
    }

    #[test]
    fn the_worst_case_sets_the_start_margin_and_bounds_the_lease_and_the_claim() {
        // 13 AWS calls at 4 s + 5 platform calls at 5 s: the figure the templates are built on.
        let worst = worst_case_record(Duration::from_secs(5), Duration::from_secs(4));
        assert_eq!(worst, Duration::from_secs(77));
        let defaults = Config::from_lookup(env(&REQUIRED)).expect("valid");
        assert_eq!(
            worst_case_record(defaults.platform_timeout, defaults.aws_operation_timeout),
            worst
        );
        assert!(defaults.delivery.claim_timeout > worst);
        assert!(
            defaults.token_timing.lease
                > worst_case_token_refresh(
                    defaults.platform_timeout,
                    defaults.aws_operation_timeout
                )
        );
        let with = |pairs: &[(&'static str, &'static str)]| {
            let mut all = REQUIRED.to_vec();
            all.extend_from_slice(pairs);
            Config::from_lookup(env(&all))
        };
        let err = with(&[("TOKEN_LEASE_SECS", "9")]).expect_err("lease too short");
        assert!(
            err.to_string().contains("TOKEN_LEASE_SECS must exceed"),
            "{err}"
        );
        let err = with(&[("DELIVERY_CLAIM_TIMEOUT_SECS", "77")]).expect_err("claim too short");
        assert!(
            err.to_string()
                .contains("DELIVERY_CLAIM_TIMEOUT_SECS must exceed"),
            "{err}"
        );
        assert!(
            with(&[
                ("TOKEN_LEASE_SECS", "10"),
                ("DELIVERY_CLAIM_TIMEOUT_SECS", "78")
            ])
            .is_ok()
        );
    }

    #[test]
    fn windows_and_quotas_are_configuration() {
        let mut pairs = REQUIRED.to_vec();
        pairs.extend([
            ("WECHAT_MESSAGE_QUOTA", "20"),
            ("WECHAT_EVENT_WINDOW_SECS", "0"),
            ("WEIBO_MESSAGE_QUOTA", "99"),
            ("WEIBO_MENTION_QUOTA", "unlimited"),
            ("WECHAT_API_BASE_URL", "http://127.0.0.1:9999"),
        ]);
        let c = Config::from_lookup(env(&pairs)).expect("valid");
        assert_eq!(
            c.delivery.policy.wechat.message.and_then(|w| w.max_replies),
            Some(20)
        );
        assert_eq!(c.delivery.policy.wechat.event, None);
        assert_eq!(
            c.delivery.policy.weibo.message.and_then(|w| w.max_replies),
            Some(99)
        );
        assert_eq!(
            c.delivery.policy.weibo.mention.map(|w| w.max_replies),
            Some(None)
        );
        assert_eq!(c.wechat_api_base_url, "http://127.0.0.1:9999");
    }

    #[test]
    fn reports_every_problem_at_once() {
        let err = Config::from_lookup(env(&[
            ("WECHAT_MESSAGE_QUOTA", "lots"),
            ("WECHAT_TOKEN_API", "magic"),
            ("WEIBO_API_BASE_URL", "m.api.weibo.com"),
        ]))
        .expect_err("invalid");
        assert_eq!(err.0.len(), 8, "{err}");
    }
}
