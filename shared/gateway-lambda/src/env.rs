//! The one environment reader of the functions: each function's `config.rs` reads its variables
//! through [`EnvReader`], which collects every problem, so a misconfigured function reports all
//! of them at once at cold start. Reading goes through a lookup function, so tests never touch
//! the process environment.

use gateway_core::delivery::window::{ChannelPolicy, ReplyPolicy, WindowLimit};

/// Configuration error listing every missing or invalid variable at once.
#[derive(Debug, thiserror::Error)]
#[error("invalid configuration: {}", .0.join("; "))]
pub struct ConfigError(pub Vec<String>);

/// Reads variables through a lookup function, collecting every problem.
pub struct EnvReader<'a, F: Fn(&str) -> Option<String>> {
    lookup: &'a F,
    problems: Vec<String>,
}

impl<'a, F: Fn(&str) -> Option<String>> EnvReader<'a, F> {
    /// A reader over `lookup` (`|k| std::env::var(k).ok()` in production).
    pub fn new(lookup: &'a F) -> Self {
        EnvReader {
            lookup,
            problems: Vec::new(),
        }
    }

    /// The value of `name`, `None` when unset or blank.
    pub fn get(&self, name: &str) -> Option<String> {
        (self.lookup)(name).filter(|v| !v.trim().is_empty())
    }

    /// Records a problem found by the caller's own checks.
    pub fn problem(&mut self, message: impl Into<String>) {
        self.problems.push(message.into());
    }

    /// A variable that must be set.
    pub fn required(&mut self, name: &str) -> String {
        self.get(name).unwrap_or_else(|| {
            self.problems.push(format!("{name} is required"));
            String::new()
        })
    }

    /// A text variable, `default` when unset.
    pub fn text(&self, name: &str, default: &str) -> String {
        self.get(name).unwrap_or_else(|| default.to_string())
    }

    /// An integer of at least `min`, `default` when unset.
    pub fn number(&mut self, name: &str, default: i64, min: i64) -> i64 {
        match self.get(name) {
            None => default,
            Some(v) => match v.trim().parse::<i64>() {
                Ok(n) if n >= min => n,
                _ => {
                    self.problems
                        .push(format!("{name} must be an integer >= {min}, got `{v}`"));
                    default
                }
            },
        }
    }

    /// `true`/`false` (also `1`/`0`), `default` when unset.
    pub fn flag(&mut self, name: &str, default: bool) -> bool {
        match self.get(name).map(|v| v.trim().to_ascii_lowercase()) {
            None => default,
            Some(v) if v == "true" || v == "1" => true,
            Some(v) if v == "false" || v == "0" => false,
            Some(v) => {
                self.problems
                    .push(format!("{name} must be true or false, got `{v}`"));
                default
            }
        }
    }

    /// An http(s) URL, `default` when unset.
    pub fn url(&mut self, name: &str, default: &str) -> String {
        let v = self.text(name, default);
        if !(v.starts_with("https://") || v.starts_with("http://")) {
            self.problems
                .push(format!("{name} must be an http(s) URL, got `{v}`"));
        }
        v
    }

    /// `value` when no problem was found, else every problem.
    pub fn finish<T>(self, value: T) -> Result<T, ConfigError> {
        if self.problems.is_empty() {
            Ok(value)
        } else {
            Err(ConfigError(self.problems))
        }
    }
}

/// One class of reply window: `{prefix}_WINDOW_SECS` (0 opens no window) and
/// `{prefix}_QUOTA` (`unlimited` or a number).
fn window<F: Fn(&str) -> Option<String>>(
    r: &mut EnvReader<'_, F>,
    prefix: &str,
    default_secs: i64,
    default_quota: Option<u32>,
) -> Option<WindowLimit> {
    let secs = r.number(&format!("{prefix}_WINDOW_SECS"), default_secs, 0);
    let quota_name = format!("{prefix}_QUOTA");
    let max_replies = match r.get(&quota_name) {
        None => default_quota,
        Some(v) if v.trim().eq_ignore_ascii_case("unlimited") => None,
        Some(v) => match v.trim().parse::<u32>() {
            Ok(q) => Some(q),
            Err(_) => {
                r.problem(format!(
                    "{quota_name} must be `unlimited` or an integer >= 0, got `{v}`"
                ));
                default_quota
            }
        },
    };
    (secs > 0).then_some(WindowLimit {
        window_secs: secs,
        max_replies,
    })
}

/// The reply windows of both channels, as the platforms document them unless set:
/// `WECHAT_MESSAGE_WINDOW_SECS` / `WECHAT_MESSAGE_QUOTA`, `WECHAT_EVENT_…`, `WEIBO_MESSAGE_…`,
/// `WEIBO_EVENT_…`, `WEIBO_MENTION_…` (the reply sender enforces them; the desk checks them
/// before it queues a reply).
pub fn read_reply_policy<F: Fn(&str) -> Option<String>>(r: &mut EnvReader<'_, F>) -> ReplyPolicy {
    let defaults = ReplyPolicy::default();
    let limit = |w: Option<WindowLimit>| w.map_or((0, None), |l| (l.window_secs, l.max_replies));
    let (d, q) = limit(defaults.wechat.message);
    let wechat_message = window(r, "WECHAT_MESSAGE", d, q);
    let (d, q) = limit(defaults.wechat.event);
    let wechat_event = window(r, "WECHAT_EVENT", d, q);
    let (d, q) = limit(defaults.weibo.message);
    let weibo_message = window(r, "WEIBO_MESSAGE", d, q);
    let (d, q) = limit(defaults.weibo.event);
    let weibo_event = window(r, "WEIBO_EVENT", d, q);
    let (d, q) = limit(defaults.weibo.mention);
    let weibo_mention = window(r, "WEIBO_MENTION", d, q);
    ReplyPolicy {
        wechat: ChannelPolicy {
            message: wechat_message,
            event: wechat_event,
            mention: None,
        },
        weibo: ChannelPolicy {
            message: weibo_message,
            event: weibo_event,
            mention: weibo_mention,
        },
    }
}

/// SQS's largest `maxReceiveCount`: an attempt limit must stay below it.
pub const SQS_MAX_RECEIVE_COUNT: i64 = 1000;

/// SQS's longest visibility timeout (`ChangeMessageVisibility`): 12 hours.
pub const SQS_MAX_VISIBILITY_SECS: i64 = 43_200;

/// How an SQS consumer retries a transient failure: its attempt limit and backoff.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Retries {
    /// Deliveries of a record before a transient failure dead-letters it with the reason.
    pub max_attempts: u32,
    /// `RETRY_BASE_SECS`: the first backoff.
    pub base_secs: u32,
    /// `RETRY_MAX_SECS`: the longest backoff.
    pub max_secs: u32,
}

/// Reads `{attempts_var}` (default `attempts`, below SQS's largest `maxReceiveCount`),
/// `RETRY_BASE_SECS` (default 10) and `RETRY_MAX_SECS` (default `max_secs`, at most SQS's
/// visibility limit).
pub fn read_retries<F: Fn(&str) -> Option<String>>(
    r: &mut EnvReader<'_, F>,
    attempts_var: &str,
    attempts: i64,
    max_secs: i64,
) -> Retries {
    let max_attempts = r.number(attempts_var, attempts, 1);
    if max_attempts >= SQS_MAX_RECEIVE_COUNT {
        r.problem(format!(
            "{attempts_var} must be below the queue's maxReceiveCount (at most {}), got `{max_attempts}`",
            SQS_MAX_RECEIVE_COUNT - 1
        ));
    }
    let base = r.number("RETRY_BASE_SECS", 10, 0);
    let max = r.number("RETRY_MAX_SECS", max_secs, 0);
    if max > SQS_MAX_VISIBILITY_SECS {
        r.problem(format!(
            "RETRY_MAX_SECS must be at most {SQS_MAX_VISIBILITY_SECS} (SQS's visibility limit), got `{max}`"
        ));
    }
    let small = |v: i64| u32::try_from(v).unwrap_or(u32::MAX);
    Retries {
        max_attempts: small(max_attempts),
        base_secs: small(base),
        max_secs: small(max),
    }
}

/// A lookup over fixed pairs, for the functions' configuration tests.
pub fn lookup_from(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> + use<> {
    let map: std::collections::HashMap<String, String> = pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    move |k| map.get(k).cloned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retries_default_and_stay_within_what_sqs_allows() {
        let none = lookup_from(&[]);
        let mut r = EnvReader::new(&none);
        let d = read_retries(&mut r, "X_MAX_ATTEMPTS", 4, 300);
        assert_eq!((d.max_attempts, d.base_secs, d.max_secs), (4, 10, 300));
        r.finish(()).expect("defaults are valid");
        let bad = lookup_from(&[("X_MAX_ATTEMPTS", "1000"), ("RETRY_MAX_SECS", "43201")]);
        let mut r = EnvReader::new(&bad);
        read_retries(&mut r, "X_MAX_ATTEMPTS", 4, 300);
        let err = r.finish(()).expect_err("beyond SQS");
        assert_eq!(err.0.len(), 2, "{err}");
        assert!(
            err.to_string().contains("X_MAX_ATTEMPTS must be below"),
            "{err}"
        );
        assert!(
            err.to_string()
                .contains("RETRY_MAX_SECS must be at most 43200"),
            "{err}"
        );
    }

    #[test]
    fn every_problem_is_reported_at_once() {
        let lookup = lookup_from(&[("N", "x"), ("F", "maybe"), ("U", "ftp://h"), ("B", "  ")]);
        let mut r = EnvReader::new(&lookup);
        assert_eq!(r.required("B"), "", "blank counts as unset");
        assert_eq!(r.number("N", 7, 0), 7);
        assert!(r.flag("F", true));
        assert_eq!(r.url("U", "https://d"), "ftp://h");
        r.problem("custom");
        let err = r.finish(()).expect_err("problems");
        assert_eq!(err.0.len(), 5, "{err}");
        assert!(
            err.to_string()
                .starts_with("invalid configuration: B is required; N must be")
        );
    }

    #[test]
    fn defaults_apply_when_unset_and_values_when_valid() {
        let lookup = lookup_from(&[("N", " 12 "), ("F", "0"), ("U", "http://127.0.0.1:1")]);
        let mut r = EnvReader::new(&lookup);
        assert_eq!(r.number("N", 7, 10), 12);
        assert_eq!(r.number("M", 7, 10), 7);
        assert!(!r.flag("F", true));
        assert!(r.flag("G", true));
        assert_eq!(r.url("U", "https://d"), "http://127.0.0.1:1");
        assert_eq!(r.text("T", "dflt"), "dflt");
        assert!(r.finish(()).is_ok());
        let below = lookup_from(&[("N", "3")]);
        let mut r = EnvReader::new(&below);
        r.number("N", 7, 10);
        assert!(r.finish(()).is_err(), "below the minimum");
    }
}
