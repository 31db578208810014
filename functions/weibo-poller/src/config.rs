//! Configuration of `weibo-poller`.

use gateway_lambda::env::{ConfigError, EnvReader};
use std::time::Duration;

/// Most pages a timeline may be read per run (`POLL_MAX_PAGES`): at most 200 items a page, so
/// up to 10,000 items of one burst in one run.
pub const MAX_PAGES_LIMIT: i64 = 50;

/// Everything `weibo-poller` reads from its environment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// `TABLE_NAME`: the conversations table (the cursor items, `POLL#weibo#{account}`).
    pub table_name: String,
    /// `QUEUE_URL`: the inbound FIFO queue the webhooks write.
    pub queue_url: String,
    /// `DELIVERY_SECRET_ID`: the accounts secret holding the access tokens (the delivery
    /// role's projection), the same variable the other platform API callers read.
    pub accounts_secret_id: String,
    /// `ACCOUNTS_CACHE_SECS` (default 60).
    pub accounts_cache: Duration,
    /// `WEIBO_OPEN_API_BASE_URL` (default `https://api.weibo.com`).
    pub open_api_base_url: String,
    /// `WEIBO_BIZ_API_BASE_URL` (default `https://c.api.weibo.com`).
    pub biz_api_base_url: String,
    /// `PLATFORM_TIMEOUT_SECS` (default 5): one page request, body included.
    pub platform_timeout: Duration,
    /// `POLL_MAX_PAGES` (default 5, 1–50): pages per timeline and run.
    pub max_pages: u32,
    /// `AWS_OPERATION_TIMEOUT_MS` (default 4000): one AWS call with its retries.
    pub aws_operation_timeout: Duration,
}

impl Config {
    /// Reads the configuration through `lookup`.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let mut r = EnvReader::new(&lookup);
        let table_name = r.required("TABLE_NAME");
        let queue_url = r.required("QUEUE_URL");
        let accounts_secret_id = r.required("DELIVERY_SECRET_ID");
        let accounts_cache = r.number("ACCOUNTS_CACHE_SECS", 60, 0);
        let open_api_base_url = r.url(
            "WEIBO_OPEN_API_BASE_URL",
            gateway_platforms::timeline::WEIBO_OPEN_API_DEFAULT_BASE_URL,
        );
        let biz_api_base_url = r.url(
            "WEIBO_BIZ_API_BASE_URL",
            gateway_platforms::timeline::WEIBO_BIZ_API_DEFAULT_BASE_URL,
        );
        let timeout = r.number("PLATFORM_TIMEOUT_SECS", 5, 1);
        let max_pages = r.number("POLL_MAX_PAGES", 5, 1);
        if max_pages > MAX_PAGES_LIMIT {
            r.problem(format!(
                "POLL_MAX_PAGES must be 1-{MAX_PAGES_LIMIT}, got `{max_pages}`"
            ));
        }
        let aws_ms = r.number("AWS_OPERATION_TIMEOUT_MS", 4000, 100);
        r.finish(Config {
            table_name,
            queue_url,
            accounts_secret_id,
            accounts_cache: Duration::from_secs(u64::try_from(accounts_cache).unwrap_or(60)),
            open_api_base_url,
            biz_api_base_url,
            platform_timeout: Duration::from_secs(u64::try_from(timeout).unwrap_or(5)),
            max_pages: u32::try_from(max_pages).unwrap_or(5),
            aws_operation_timeout: Duration::from_millis(u64::try_from(aws_ms).unwrap_or(4000)),
        })
    }

    /// Reads the configuration from the process environment.
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|k| std::env::var(k).ok())
    }

    /// The longest one page usually takes: its request, one batch of the queue and the
    /// cursor's save. A page is started only with this much of the invocation left; one cut
    /// off all the same is read again by the next run (its messages are stored once).
    pub fn page_budget(&self) -> Duration {
        self.platform_timeout + self.aws_operation_timeout * 2
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use gateway_lambda::env::lookup_from;

    const REQUIRED: [(&str, &str); 3] = [
        ("TABLE_NAME", "t"),
        ("QUEUE_URL", "q"),
        ("DELIVERY_SECRET_ID", "accounts"),
    ];

    #[test]
    fn defaults_of_the_contract() {
        let c = Config::from_lookup(lookup_from(&REQUIRED)).expect("valid");
        assert_eq!(c.accounts_secret_id, "accounts");
        assert_eq!(c.accounts_cache, Duration::from_secs(60));
        assert_eq!(c.open_api_base_url, "https://api.weibo.com");
        assert_eq!(c.biz_api_base_url, "https://c.api.weibo.com");
        assert_eq!(c.platform_timeout, Duration::from_secs(5));
        assert_eq!(c.max_pages, 5);
        // 5 s + 2 × 4 s: well within the function's 50 s.
        assert_eq!(c.page_budget(), Duration::from_secs(13));
    }

    #[test]
    fn every_problem_is_reported_at_once() {
        let err = Config::from_lookup(lookup_from(&[
            ("POLL_MAX_PAGES", "51"),
            ("PLATFORM_TIMEOUT_SECS", "0"),
            ("WEIBO_BIZ_API_BASE_URL", "c.api.weibo.com"),
        ]))
        .expect_err("invalid");
        // Three missing variables, the page limit, the timeout, the URL.
        assert_eq!(err.0.len(), 6, "{err}");
    }
}
