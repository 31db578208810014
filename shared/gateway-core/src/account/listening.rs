//! The `listening` settings of a Weibo account: which public timelines `weibo-poller` reads,
//! through which API, how often and how many items a page.
//!
//! Pure: parsing and validation only. Names (`api`, `timelines`) are kept as written and
//! checked by [`Listening::validate`], so a typo gets a message naming the field and the
//! accepted values rather than serde's position-only "wrong type or value".

use serde::{Deserialize, Serialize};

/// Shortest accepted `every_secs`: the poller runs once a minute (EventBridge `rate(1 minute)`),
/// so a shorter interval could not be kept.
pub const MIN_EVERY_SECS: u32 = 60;
/// Longest accepted `every_secs` (a day).
pub const MAX_EVERY_SECS: u32 = 86_400;
/// Largest `count` the timelines accept (statuses/mentions documents at most 200).
pub const MAX_COUNT: u32 = 200;
/// Longest `screen_name`, in characters (Weibo nicknames are at most 30).
pub const MAX_SCREEN_NAME_CHARS: usize = 30;

/// How `weibo-poller` reads an account's public timelines.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Listening {
    /// Seconds between two polls of a timeline (default 60, at least [`MIN_EVERY_SECS`]).
    #[serde(default = "default_every_secs")]
    pub every_secs: u32,
    /// `standard` (default, `api.weibo.com`) or `biz` (the commercial `/biz` twins).
    #[serde(default = "default_api")]
    pub api: String,
    /// The timelines read (default all three): `comments_to_me`, `comments_mentions`,
    /// `statuses_mentions`.
    #[serde(default = "default_timelines")]
    pub timelines: Vec<String>,
    /// Items asked for per page (default 50, 1–200).
    #[serde(default = "default_count")]
    pub count: u32,
    /// The account's screen name (without `@`): a comment on its posts that @s it is a
    /// mention rather than a plain comment.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub screen_name: Option<String>,
}

fn default_every_secs() -> u32 {
    60
}

fn default_api() -> String {
    ListeningApi::Standard.as_str().to_string()
}

fn default_timelines() -> Vec<String> {
    Timeline::ALL
        .iter()
        .map(|t| t.as_str().to_string())
        .collect()
}

fn default_count() -> u32 {
    50
}

impl Default for Listening {
    fn default() -> Self {
        Listening {
            every_secs: default_every_secs(),
            api: default_api(),
            timelines: default_timelines(),
            count: default_count(),
            screen_name: None,
        }
    }
}

/// Which of Weibo's APIs the timelines are read through.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ListeningApi {
    /// `https://api.weibo.com/2/…json`.
    Standard,
    /// The commercial twins, `https://c.api.weibo.com/2/…/biz.json`.
    Biz,
}

impl ListeningApi {
    /// The name used in the accounts document.
    pub fn as_str(self) -> &'static str {
        match self {
            ListeningApi::Standard => "standard",
            ListeningApi::Biz => "biz",
        }
    }

    fn parse(name: &str) -> Option<Self> {
        match name {
            "standard" => Some(ListeningApi::Standard),
            "biz" => Some(ListeningApi::Biz),
            _ => None,
        }
    }
}

/// One public timeline of a Weibo account.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Timeline {
    /// `comments/to_me`: comments on the account's posts.
    CommentsToMe,
    /// `comments/mentions`: comments that @ the account.
    CommentsMentions,
    /// `statuses/mentions`: posts that @ the account.
    StatusesMentions,
}

impl Timeline {
    /// Every timeline, in the order they are polled.
    pub const ALL: [Timeline; 3] = [
        Timeline::CommentsToMe,
        Timeline::CommentsMentions,
        Timeline::StatusesMentions,
    ];

    /// The name used in the accounts document, the cursor item's sort key and metrics.
    pub fn as_str(self) -> &'static str {
        match self {
            Timeline::CommentsToMe => "comments_to_me",
            Timeline::CommentsMentions => "comments_mentions",
            Timeline::StatusesMentions => "statuses_mentions",
        }
    }

    /// The timeline named `name`.
    pub fn parse(name: &str) -> Option<Self> {
        Timeline::ALL.into_iter().find(|t| t.as_str() == name)
    }

    /// The API path: `/2/comments/to_me.json`, or `/2/comments/to_me/biz.json` for the
    /// commercial API (<https://open.weibo.com/wiki/C/2/comments/to_me/biz>,
    /// <https://open.weibo.com/wiki/C/2/comments/mentions/biz>,
    /// <https://open.weibo.com/wiki/C/2/statuses/mentions/biz-en>).
    pub fn path(self, api: ListeningApi) -> &'static str {
        match (self, api) {
            (Timeline::CommentsToMe, ListeningApi::Standard) => "/2/comments/to_me.json",
            (Timeline::CommentsToMe, ListeningApi::Biz) => "/2/comments/to_me/biz.json",
            (Timeline::CommentsMentions, ListeningApi::Standard) => "/2/comments/mentions.json",
            (Timeline::CommentsMentions, ListeningApi::Biz) => "/2/comments/mentions/biz.json",
            (Timeline::StatusesMentions, ListeningApi::Standard) => "/2/statuses/mentions.json",
            (Timeline::StatusesMentions, ListeningApi::Biz) => "/2/statuses/mentions/biz.json",
        }
    }

    /// True for the comment timelines (items are comment objects; else status objects).
    pub fn holds_comments(self) -> bool {
        !matches!(self, Timeline::StatusesMentions)
    }
}

impl std::fmt::Display for Timeline {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Listening {
    /// Checks every setting; the reason names the field and what it accepts.
    pub fn validate(&self) -> Result<(), String> {
        if !(MIN_EVERY_SECS..=MAX_EVERY_SECS).contains(&self.every_secs) {
            return Err(format!(
                "listening.every_secs must be {MIN_EVERY_SECS}-{MAX_EVERY_SECS} (the poller runs once a minute), got {}",
                self.every_secs
            ));
        }
        if ListeningApi::parse(&self.api).is_none() {
            return Err(format!(
                "listening.api must be `standard` or `biz`, got `{}`",
                crate::reply::short(&self.api, 40)
            ));
        }
        if !(1..=MAX_COUNT).contains(&self.count) {
            return Err(format!(
                "listening.count must be 1-{MAX_COUNT}, got {}",
                self.count
            ));
        }
        if self.timelines.is_empty() {
            return Err(
                "listening.timelines is empty: list at least one of comments_to_me, comments_mentions, statuses_mentions (or leave it out for all three)"
                    .into(),
            );
        }
        for (i, name) in self.timelines.iter().enumerate() {
            if Timeline::parse(name).is_none() {
                return Err(format!(
                    "listening.timelines: unknown timeline `{}` (expected comments_to_me, comments_mentions or statuses_mentions)",
                    crate::reply::short(name, 40)
                ));
            }
            if self.timelines[..i].contains(name) {
                return Err(format!("listening.timelines lists `{name}` twice"));
            }
        }
        if let Some(name) = &self.screen_name {
            let name = name.trim();
            if name.is_empty()
                || name.starts_with('@')
                || name.chars().count() > MAX_SCREEN_NAME_CHARS
                || name.chars().any(char::is_whitespace)
            {
                return Err(format!(
                    "listening.screen_name must be the account's nickname without `@`: 1-{MAX_SCREEN_NAME_CHARS} characters, no spaces"
                ));
            }
        }
        Ok(())
    }

    /// The API (standard when the name is not valid; [`validate`](Self::validate) refuses it).
    pub fn api(&self) -> ListeningApi {
        ListeningApi::parse(&self.api).unwrap_or(ListeningApi::Standard)
    }

    /// The configured timelines, in the document's order (unknown names left out;
    /// [`validate`](Self::validate) refuses them).
    pub fn timelines(&self) -> Vec<Timeline> {
        self.timelines
            .iter()
            .filter_map(|t| Timeline::parse(t))
            .collect()
    }

    /// The interval between two polls, in milliseconds.
    pub fn every_ms(&self) -> i64 {
        i64::from(self.every_secs) * 1000
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::account::{AccountsDocument, AccountsRole};

    fn doc(listening: &str) -> String {
        format!(
            r#"{{"weibo":{{"brand":{{"app_key":"k","app_secret":"s","receiver_uid":"1902538057",
                "access_token":"T","listening":{listening}}}}}}}"#
        )
    }

    #[test]
    fn an_empty_listening_is_on_with_the_documented_defaults() {
        let d = AccountsDocument::from_json(&doc("{}")).expect("valid");
        let l = d.weibo["brand"].listening.as_ref().expect("on");
        assert_eq!(l, &Listening::default());
        assert_eq!(l.every_secs, 60);
        assert_eq!(l.count, 50);
        assert_eq!(l.api(), ListeningApi::Standard);
        assert_eq!(l.timelines(), Timeline::ALL.to_vec());
        let none = r#"{"weibo":{"brand":{"app_key":"k","app_secret":"s"}}}"#;
        assert!(
            AccountsDocument::from_json(none).expect("valid").weibo["brand"]
                .listening
                .is_none()
        );
    }

    #[test]
    fn every_setting_is_read() {
        let d = AccountsDocument::from_json(&doc(
            r#"{"every_secs":120,"api":"biz","timelines":["comments_to_me"],"count":200,"screen_name":"品牌客服"}"#,
        ))
        .expect("valid");
        let l = d.weibo["brand"].listening.as_ref().expect("on");
        assert_eq!(l.api(), ListeningApi::Biz);
        assert_eq!(l.timelines(), vec![Timeline::CommentsToMe]);
        assert_eq!(l.every_ms(), 120_000);
        assert_eq!(l.screen_name.as_deref(), Some("品牌客服"));
    }

    #[test]
    fn bad_settings_get_a_message_naming_the_field() {
        for (listening, expected) in [
            (
                r#"{"every_secs":30}"#,
                "listening.every_secs must be 60-86400",
            ),
            (r#"{"every_secs":100000}"#, "listening.every_secs"),
            (r#"{"count":0}"#, "listening.count must be 1-200, got 0"),
            (r#"{"count":201}"#, "listening.count must be 1-200, got 201"),
            (
                r#"{"api":"premium"}"#,
                "listening.api must be `standard` or `biz`",
            ),
            (r#"{"timelines":[]}"#, "listening.timelines is empty"),
            (
                r#"{"timelines":["comments_to_me","home"]}"#,
                "unknown timeline `home`",
            ),
            (
                r#"{"timelines":["comments_to_me","comments_to_me"]}"#,
                "lists `comments_to_me` twice",
            ),
            (r#"{"screen_name":"@brand"}"#, "listening.screen_name"),
            (r#"{"screen_name":""}"#, "listening.screen_name"),
            (r#"{"every":60}"#, "unknown field `every`"),
        ] {
            let err = AccountsDocument::from_json(&doc(listening)).expect_err(listening);
            assert!(err.to_string().contains(expected), "{listening}: {err}");
        }
    }

    #[test]
    fn listening_needs_the_receiver_uid_and_where_read_the_token() {
        let no_uid = r#"{"weibo":{"brand":{"app_key":"k","app_secret":"s","access_token":"T","listening":{}}}}"#;
        let err = AccountsDocument::from_json(no_uid).expect_err("no uid");
        assert!(err.to_string().contains("receiver_uid"), "{err}");
        let no_token = r#"{"weibo":{"brand":{"app_key":"k","app_secret":"s","receiver_uid":"1","listening":{}}}}"#;
        let err = AccountsDocument::from_json(no_token).expect_err("no token");
        assert!(err.to_string().contains("access_token"), "{err}");
        // The webhook's projection holds no token, and keeps the listening settings.
        let full = AccountsDocument::from_json(&doc("{}")).expect("valid");
        let webhook = full.project(AccountsRole::Webhook);
        let text = serde_json::to_string(&webhook).expect("serializes");
        let back = AccountsDocument::from_json_for(&text, AccountsRole::Webhook).expect("valid");
        assert!(back.weibo["brand"].listening.is_some());
        let delivery = full.project(AccountsRole::Delivery);
        let text = serde_json::to_string(&delivery).expect("serializes");
        let back = AccountsDocument::from_json_for(&text, AccountsRole::Delivery).expect("valid");
        assert_eq!(
            back.weibo["brand"].listening.as_ref(),
            Some(&Listening::default())
        );
    }

    #[test]
    fn paths_of_both_apis() {
        assert_eq!(
            Timeline::CommentsToMe.path(ListeningApi::Standard),
            "/2/comments/to_me.json"
        );
        assert_eq!(
            Timeline::StatusesMentions.path(ListeningApi::Biz),
            "/2/statuses/mentions/biz.json"
        );
        assert_eq!(
            Timeline::parse("comments_mentions"),
            Some(Timeline::CommentsMentions)
        );
        assert!(Timeline::CommentsMentions.holds_comments());
        assert!(!Timeline::StatusesMentions.holds_comments());
    }
}
