//! The customer's profile as the platforms hold it:
//!
//! * WeChat, 获取用户基本信息 (`GET /cgi-bin/user/info?access_token=…&openid=…&lang=zh_CN`):
//!   <https://developers.weixin.qq.com/doc/offiaccount/User_Management/Get_users_basic_information_UnionID.html>.
//!   Answers `subscribe`, `openid`, `language`, `subscribe_time` (seconds), `unionid` (when the
//!   account is bound to an open platform account), `remark`, `groupid`, `tagid_list`,
//!   `subscribe_scene`, `qr_scene`, `qr_scene_str`; no longer `nickname` nor `headimgurl`
//!   (since 2021-12-27). A follower who unfollowed answers `subscribe: 0` and only the
//!   `openid` (and `unionid`). An error is `{"errcode": 40003, "errmsg": "…"}`.
//! * Weibo, `GET /2/users/show.json?access_token=…&uid=…` on the open API:
//!   <https://open.weibo.com/wiki/2/users/show>. Answers the user object (`screen_name`,
//!   `followers_count`, `verified`, `verified_reason`, …); an error is Weibo's envelope
//!   `{"error_code": 20003, "error": "…"}`.
//!
//! Answers are read up to 64 KiB. Tokens travel in the query string: every transport error
//! is stripped of its URL.

use crate::{WeChatClient, trim_base};
use gateway_core::account::Secret;
use gateway_core::conversation::CustomerProfile;
use gateway_core::conversation::profile::{PROFILE_MAX_TAGS, profile_text};
use gateway_core::message::Channel;
use gateway_core::ports::Retry;
use gateway_core::profile::ProfileError;
use serde_json::Value;

/// WeChat's user info path.
pub const WECHAT_USER_INFO_PATH: &str = "/cgi-bin/user/info";
/// Weibo's user show path (open API).
pub const WEIBO_USERS_SHOW_PATH: &str = "/2/users/show.json";
/// The largest answer read.
const MAX_ANSWER_BYTES: usize = 64 * 1024;

fn transport(e: reqwest::Error) -> ProfileError {
    // Reading a profile changes nothing on the platform: any transport error may be retried.
    ProfileError::Transport {
        retry: Retry::Transient,
        reason: e.without_url().to_string(),
    }
}

async fn answer(response: reqwest::Response, platform: &str) -> Result<Value, ProfileError> {
    let status = response.status().as_u16();
    if response
        .content_length()
        .is_some_and(|n| n > MAX_ANSWER_BYTES as u64)
    {
        return Err(ProfileError::Transport {
            retry: Retry::Permanent,
            reason: format!("{platform} answered over {MAX_ANSWER_BYTES} bytes"),
        });
    }
    let mut response = response;
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(transport)? {
        body.extend_from_slice(&chunk);
        if body.len() > MAX_ANSWER_BYTES {
            return Err(ProfileError::Transport {
                retry: Retry::Permanent,
                reason: format!("{platform} answered over {MAX_ANSWER_BYTES} bytes"),
            });
        }
    }
    match serde_json::from_slice::<Value>(&body) {
        Ok(v) if v.is_object() => Ok(v),
        _ => Err(ProfileError::Transport {
            retry: if status == 429 || status >= 500 {
                Retry::Transient
            } else {
                Retry::Permanent
            },
            reason: format!("{platform} answered HTTP {status} without a JSON object"),
        }),
    }
}

fn code_of(value: &Value, field: &str) -> Option<i64> {
    value.get(field).and_then(|c| {
        c.as_i64()
            .or_else(|| c.as_str().and_then(|s| s.trim().parse().ok()))
    })
}

fn text(value: &Value, field: &str) -> Option<String> {
    profile_text(value.get(field).and_then(Value::as_str))
}

fn flag(value: &Value, field: &str) -> Option<bool> {
    match value.get(field)? {
        Value::Bool(b) => Some(*b),
        Value::Number(n) => n.as_i64().map(|n| n != 0),
        _ => None,
    }
}

/// Reads WeChat's `user/info` answer (or its error) as a profile fetched at `now_ms`.
pub fn wechat_profile(answer: &Value, now_ms: i64) -> Result<CustomerProfile, ProfileError> {
    if let Some(code) = code_of(answer, "errcode").filter(|c| *c != 0) {
        return Err(ProfileError::Platform {
            code,
            message: text(answer, "errmsg").unwrap_or_default(),
        });
    }
    Ok(CustomerProfile {
        fetched_at: now_ms,
        source: Channel::WeChat,
        language: text(answer, "language"),
        subscribed: flag(answer, "subscribe"),
        subscribe_time: code_of(answer, "subscribe_time")
            .filter(|t| *t > 0)
            .map(|t| t.saturating_mul(1000)),
        subscribe_scene: text(answer, "subscribe_scene"),
        remark: text(answer, "remark"),
        tag_ids: answer
            .get("tagid_list")
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(Value::as_i64)
                    .take(PROFILE_MAX_TAGS)
                    .collect()
            })
            .unwrap_or_default(),
        unionid: text(answer, "unionid"),
        screen_name: None,
        followers_count: None,
        verified: None,
        verified_reason: None,
    })
}

/// Reads Weibo's `users/show` answer (or its error) as a profile fetched at `now_ms`.
pub fn weibo_profile(answer: &Value, now_ms: i64) -> Result<CustomerProfile, ProfileError> {
    if let Some(code) = code_of(answer, "error_code") {
        return Err(ProfileError::Platform {
            code,
            message: text(answer, "error").unwrap_or_default(),
        });
    }
    Ok(CustomerProfile {
        fetched_at: now_ms,
        source: Channel::Weibo,
        language: text(answer, "lang"),
        subscribed: None,
        subscribe_time: None,
        subscribe_scene: None,
        remark: None,
        tag_ids: Vec::new(),
        unionid: None,
        screen_name: text(answer, "screen_name"),
        followers_count: answer
            .get("followers_count")
            .and_then(|c| c.as_u64().or_else(|| c.as_str()?.trim().parse().ok())),
        verified: flag(answer, "verified"),
        verified_reason: text(answer, "verified_reason"),
    })
}

impl WeChatClient {
    /// The follower's profile (`user/info`, `lang=zh_CN`).
    pub async fn user_info(
        &self,
        access_token: &Secret,
        openid: &str,
        now_ms: i64,
    ) -> Result<CustomerProfile, ProfileError> {
        let response = self
            .http
            .get(format!("{}{WECHAT_USER_INFO_PATH}", self.base_url))
            .query(&[
                ("access_token", access_token.expose()),
                ("openid", openid),
                ("lang", "zh_CN"),
            ])
            .send()
            .await
            .map_err(transport)?;
        wechat_profile(&answer(response, "WeChat").await?, now_ms)
    }
}

/// Weibo's open API, for `users/show`.
#[derive(Debug, Clone)]
pub struct WeiboProfileClient {
    http: reqwest::Client,
    base_url: String,
}

impl WeiboProfileClient {
    /// Client for the open API at `base_url` (`https://api.weibo.com`).
    pub fn new(http: reqwest::Client, base_url: &str) -> Self {
        WeiboProfileClient {
            http,
            base_url: trim_base(base_url),
        }
    }

    /// The user's public profile.
    pub async fn users_show(
        &self,
        access_token: &Secret,
        uid: &str,
        now_ms: i64,
    ) -> Result<CustomerProfile, ProfileError> {
        let response = self
            .http
            .get(format!("{}{WEIBO_USERS_SHOW_PATH}", self.base_url))
            .query(&[("access_token", access_token.expose()), ("uid", uid)])
            .send()
            .await
            .map_err(transport)?;
        weibo_profile(&answer(response, "Weibo").await?, now_ms)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn wechat_user_info_reads_the_documented_fields() {
        // The documented example answer (nickname and headimgurl are no longer sent).
        let answer = json!({
            "subscribe": 1, "openid": "o6_bmjrPTlm6_2sgVt7hMZOPfL2M", "language": "zh_CN",
            "subscribe_time": 1382694957, "unionid": "o6_bmasdasdsad6_2sgVt7hMZOPfL",
            "remark": "", "groupid": 0, "tagid_list": [128, 2],
            "subscribe_scene": "ADD_SCENE_QR_CODE", "qr_scene": 98765, "qr_scene_str": ""
        });
        let p = wechat_profile(&answer, 7).expect("a profile");
        assert_eq!(p.fetched_at, 7);
        assert_eq!(p.subscribed, Some(true));
        assert_eq!(p.language.as_deref(), Some("zh_CN"));
        assert_eq!(p.subscribe_time, Some(1_382_694_957_000));
        assert_eq!(p.remark, None, "a blank remark is no remark");
        assert_eq!(p.tag_ids, [128, 2]);
        assert_eq!(p.unionid.as_deref(), Some("o6_bmasdasdsad6_2sgVt7hMZOPfL"));
        assert_eq!(p.subscribe_scene.as_deref(), Some("ADD_SCENE_QR_CODE"));
        let unfollowed = wechat_profile(&json!({"subscribe": 0, "openid": "o"}), 7).expect("ok");
        assert_eq!(unfollowed.subscribed, Some(false));
        let err = wechat_profile(&json!({"errcode": 40003, "errmsg": "invalid openid"}), 7)
            .expect_err("an error");
        assert_eq!(
            err,
            ProfileError::Platform {
                code: 40003,
                message: "invalid openid".into()
            }
        );
    }

    #[test]
    fn weibo_users_show_reads_followers_and_verification() {
        let answer = json!({
            "id": 1404376560, "screen_name": "zaku", "followers_count": 150000,
            "verified": true, "verified_type": 0, "verified_reason": "知名博主",
            "description": "…", "location": "北京"
        });
        let p = weibo_profile(&answer, 9).expect("a profile");
        assert_eq!(p.screen_name.as_deref(), Some("zaku"));
        assert_eq!(p.followers_count, Some(150_000));
        assert_eq!(p.verified, Some(true));
        assert_eq!(p.verified_reason.as_deref(), Some("知名博主"));
        let long = json!({"screen_name": "长".repeat(500)});
        assert_eq!(
            weibo_profile(&long, 9)
                .expect("ok")
                .screen_name
                .map(|s| s.chars().count()),
            Some(200)
        );
        let err = weibo_profile(
            &json!({"error_code": 20003, "error": "User does not exists!"}),
            9,
        )
        .expect_err("an error");
        assert!(matches!(err, ProfileError::Platform { code: 20003, .. }));
    }
}
