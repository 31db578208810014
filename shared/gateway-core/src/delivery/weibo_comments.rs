//! Weibo's comment API, for public replies ([`ReplyContent::PublicComment`]):
//!
//! * `POST /2/comments/reply.json` answers the comment `cid` under the post `id`
//!   (<https://open.weibo.com/wiki/2/comments/reply>): `cid`, `id`, `comment`,
//!   `without_mention` (0: Weibo adds the "回复@name:" prefix) and `comment_ori` (0: not also a
//!   comment on the original of a repost);
//! * `POST /2/comments/create.json` comments on the post `id`
//!   (<https://open.weibo.com/wiki/2/comments/create>): `id`, `comment`, `comment_ori`.
//!
//! Both on the open API host (`api.weibo.com`, not the fan-service `m.api.weibo.com`),
//! `application/x-www-form-urlencoded` with the account's OAuth `access_token` in the body. The
//! answer is the created comment object; its `idstr` becomes the delivery's platform id.
//! Errors use the envelope `{"request","error_code","error"}` of Weibo's error-code table
//! (<https://open.weibo.com/wiki/Error_code>).
//!
//! A public comment is not bound by the private 48-hour window or its quota: the post's author's
//! comment settings and the API's rate limits are what refuse one, hence its own error mapping
//! ([`classify_error`]). Form building, answer parsing and classification only; the HTTP client
//! is in `gateway-platforms`. Pure.

use crate::delivery::platform::{Disposition, PlatformError};
use crate::message::Channel;
use crate::reply::ReplyContent;
use serde_json::Value;

/// Path of the reply-to-a-comment API.
pub const REPLY_PATH: &str = "/2/comments/reply.json";
/// Path of the comment-on-a-post API.
pub const CREATE_PATH: &str = "/2/comments/create.json";

/// Which comment API a public reply uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CommentCall {
    /// `comments/reply`: an answer to a comment.
    Reply,
    /// `comments/create`: a comment on the post.
    Create,
}

impl CommentCall {
    /// The API path.
    pub fn path(self) -> &'static str {
        match self {
            CommentCall::Reply => REPLY_PATH,
            CommentCall::Create => CREATE_PATH,
        }
    }
}

/// The call and its form fields (without the access token, which the client adds); `None` for
/// anything but a public comment.
pub fn comment_form(content: &ReplyContent) -> Option<(CommentCall, Vec<(String, String)>)> {
    let ReplyContent::PublicComment {
        text,
        post_id,
        comment_id,
    } = content
    else {
        return None;
    };
    Some(match comment_id {
        Some(cid) => (
            CommentCall::Reply,
            vec![
                ("cid".into(), cid.clone()),
                ("id".into(), post_id.clone()),
                ("comment".into(), text.clone()),
                ("without_mention".into(), "0".into()),
                ("comment_ori".into(), "0".into()),
            ],
        ),
        None => (
            CommentCall::Create,
            vec![
                ("id".into(), post_id.clone()),
                ("comment".into(), text.clone()),
                ("comment_ori".into(), "0".into()),
            ],
        ),
    })
}

/// Parses an answer: the created comment's `idstr` (or its numeric `id`), or the error.
/// `None` when the body is not JSON, or is a success without an id.
pub fn parse_answer(body: &str) -> Option<Result<String, PlatformError>> {
    let value: Value = serde_json::from_str(body).ok()?;
    if let Some(code) = value.get("error_code") {
        // The table's codes are numbers; some answers carry them as strings.
        let code = code
            .as_i64()
            .or_else(|| code.as_str().and_then(|c| c.parse().ok()))?;
        let message = value
            .get("error")
            .and_then(Value::as_str)
            .unwrap_or_default();
        return Some(Err(PlatformError {
            channel: Channel::Weibo,
            code,
            message: message.chars().take(200).collect(),
            disposition: classify_error(code),
        }));
    }
    let id = match (value.get("idstr"), value.get("id")) {
        (Some(Value::String(s)), _) if !s.is_empty() => s.clone(),
        (_, Some(Value::Number(n))) => n.to_string(),
        (_, Some(Value::String(s))) if !s.is_empty() => s.clone(),
        _ => return None,
    };
    Some(Ok(id))
}

/// Rate and frequency limits of Weibo's error-code table: 10022 (IP requests out of rate
/// limit), 10023 (user requests out of rate limit), 10024 (user requests for an API out of
/// rate limit), 20016 (out of limit: posting too often).
pub const RATE_LIMIT_CODES: [i64; 4] = [10022, 10023, 10024, 20016];

/// Refusals of one comment that no retry can change, from Weibo's error-code table:
/// 20017/20019/20111 (repeated content), 20018 (content contains an illegal website), 20020
/// (advertising), 20021 (illegal content), 20101 (the post does not exist), 20112 (the post is
/// not visible: the author's privacy settings), 20201 (the comment does not exist), 20203
/// (illegal comment), 20204 (comment not found for the user), 20206 (the author only takes
/// comments from mutual followers), 20207 (the author only takes comments from trusted users).
pub const REFUSED_CODES: [i64; 13] = [
    20017, 20018, 20019, 20020, 20021, 20101, 20111, 20112, 20201, 20203, 20204, 20206, 20207,
];

/// What to do about an error of the comment API: system busy (10001, 10002) and rate or
/// frequency limits ([`RATE_LIMIT_CODES`]) are retried with backoff; the post or comment gone,
/// commenting not allowed, content refused ([`REFUSED_CODES`]), OAuth token errors and
/// everything else are permanent: the command is dead-lettered with `weibo:{code}`. Never a
/// window or quota refusal: a public comment has no reply window.
pub fn classify_error(code: i64) -> Disposition {
    match code {
        10001 | 10002 => Disposition::Transient,
        c if RATE_LIMIT_CODES.contains(&c) => Disposition::Transient,
        _ => Disposition::Permanent,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::delivery::weibo::encode_form;

    fn public(comment_id: Option<&str>) -> ReplyContent {
        ReplyContent::PublicComment {
            text: "您好 & 谢谢".into(),
            post_id: "4900000000000001".into(),
            comment_id: comment_id.map(String::from),
        }
    }

    #[test]
    fn a_reply_to_a_comment_goes_to_comments_reply_with_cid_and_id() {
        let (call, form) = comment_form(&public(Some("4900000000000777"))).expect("public");
        assert_eq!(call, CommentCall::Reply);
        assert_eq!(call.path(), "/2/comments/reply.json");
        let body = encode_form(&form);
        assert_eq!(
            body,
            "cid=4900000000000777&id=4900000000000001&comment=%E6%82%A8%E5%A5%BD%20%26%20%E8%B0%A2%E8%B0%A2&without_mention=0&comment_ori=0"
        );
    }

    #[test]
    fn a_comment_on_a_post_goes_to_comments_create() {
        let (call, form) = comment_form(&public(None)).expect("public");
        assert_eq!(call, CommentCall::Create);
        assert_eq!(call.path(), "/2/comments/create.json");
        let keys: Vec<&str> = form.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(keys, ["id", "comment", "comment_ori"]);
        assert!(comment_form(&ReplyContent::text("x")).is_none());
    }

    #[test]
    fn the_answer_s_idstr_is_the_platform_id() {
        assert_eq!(
            parse_answer(
                r#"{"created_at":"x","id":4900000000000999,"idstr":"4900000000000999","text":"hi"}"#
            ),
            Some(Ok("4900000000000999".into()))
        );
        assert_eq!(parse_answer(r#"{"id":12}"#), Some(Ok("12".into())));
        assert_eq!(parse_answer(r#"{"text":"no id"}"#), None);
        assert_eq!(parse_answer("<html>"), None);
    }

    #[test]
    fn rate_limits_are_retried_and_refusals_are_permanent() {
        for code in RATE_LIMIT_CODES {
            assert_eq!(classify_error(code), Disposition::Transient, "{code}");
        }
        for code in REFUSED_CODES {
            assert_eq!(classify_error(code), Disposition::Permanent, "{code}");
        }
        assert_eq!(classify_error(21327), Disposition::Permanent);
        let e = parse_answer(
            r#"{"request":"/2/comments/reply.json","error_code":"20206","error":"Owner can only be commented by his followers"}"#,
        )
        .expect("json")
        .expect_err("error");
        assert_eq!(e.code_label(), "weibo:20206");
        assert_eq!(e.disposition, Disposition::Permanent);
    }
}
