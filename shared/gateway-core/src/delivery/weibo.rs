//! Weibo's reply API (reference: the fan-service 回复 API docs): `POST /2/messages/reply.json`,
//! `application/x-www-form-urlencoded` with `type`, `data` (the type's JSON object, which the
//! form encoding percent-encodes once: never twice), `receiver_id`, `save_sender_box`, and the
//! account's `access_token`. Errors use the envelope `{"request","error_code","error"}`.
//!
//! Form building, answer parsing and error classification only; the HTTP client is in
//! `gateway-platforms`. Pure.

use crate::delivery::platform::{Disposition, PlatformError};
use crate::delivery::window::UndeliverableReason;
use crate::message::Channel;
use crate::reply::ReplyContent;
use serde::Deserialize;
use serde_json::{Value, json};

/// Path of the reply API.
pub const REPLY_PATH: &str = "/2/messages/reply.json";

/// OAuth token errors: the account's token must be re-authorised (21327 expired, 21332
/// invalid, and the rest of the 21322–21331 family). Permanent: an operator must act.
pub const TOKEN_ERROR_CODES: std::ops::RangeInclusive<i64> = 21322..=21332;

/// The reply's `type` and `data` JSON. `None` when Weibo cannot carry this content.
pub fn reply_data(content: &ReplyContent) -> Option<(&'static str, Value)> {
    match content {
        ReplyContent::Text { text } => Some(("text", json!({ "text": text }))),
        ReplyContent::Articles { articles } => {
            let items: Vec<Value> = articles
                .iter()
                .map(|a| {
                    json!({
                        "display_name": a.title,
                        "summary": a.description.clone().unwrap_or_default(),
                        "image": a.pic_url.clone().unwrap_or_default(),
                        "url": a.url,
                    })
                })
                .collect();
            Some(("articles", json!({ "articles": items })))
        }
        // Coordinates travel as strings.
        ReplyContent::Position {
            latitude,
            longitude,
        } => Some((
            "position",
            json!({ "longitude": longitude.to_string(), "latitude": latitude.to_string() }),
        )),
        _ => None,
    }
}

/// The form fields of a reply to `receiver_id`, without the access token (the client adds it).
pub fn reply_form(receiver_id: &str, content: &ReplyContent) -> Option<Vec<(String, String)>> {
    let (kind, data) = reply_data(content)?;
    Some(vec![
        ("type".into(), kind.into()),
        ("data".into(), data.to_string()),
        ("receiver_id".into(), receiver_id.into()),
        ("save_sender_box".into(), "1".into()),
    ])
}

/// `k=v&k=v`, each part percent-encoded once.
pub fn encode_form(fields: &[(String, String)]) -> String {
    crate::channel::encode_pairs(fields.iter().map(|(k, v)| (k.as_str(), v.as_str())))
}

#[derive(Deserialize)]
struct ErrorEnvelope {
    error_code: i64,
    #[serde(default)]
    error: String,
}

/// Parses an answer: an object without `error_code` is success. `None` when the body is not
/// JSON.
pub fn parse_answer(body: &str) -> Option<Result<(), PlatformError>> {
    let value: Value = serde_json::from_str(body).ok()?;
    if value.get("error_code").is_none() {
        return Some(Ok(()));
    }
    let env: ErrorEnvelope = serde_json::from_value(value).ok()?;
    Some(Err(PlatformError {
        channel: Channel::Weibo,
        code: env.error_code,
        message: env.error.chars().take(200).collect(),
        disposition: classify_error(env.error_code),
    }))
}

/// What to do about a Weibo error code: 10001/10002 (system error, service unavailable) and
/// 10022–10024 (rate limits) are transient; 26403 ("already replied or expired", one
/// integrator's reading for the private-message API) is a closed window; OAuth token errors
/// and everything else are permanent.
pub fn classify_error(code: i64) -> Disposition {
    match code {
        10001 | 10002 | 10022..=10024 => Disposition::Transient,
        26403 => Disposition::Undeliverable(UndeliverableReason::WindowClosed),
        _ => Disposition::Permanent,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::channel::percent_encode;
    use crate::reply::Article;

    #[test]
    fn text_form_matches_the_documented_single_encoding() {
        let form = reply_form("123", &ReplyContent::text("纯文本回复")).expect("text");
        let body = encode_form(&form);
        assert!(
            body.contains(
                "data=%7B%22text%22%3A%22%E7%BA%AF%E6%96%87%E6%9C%AC%E5%9B%9E%E5%A4%8D%22%7D"
            ),
            "{body}"
        );
        assert!(body.starts_with("type=text&"));
        assert!(body.contains("receiver_id=123"));
        assert!(!body.contains("%25"), "double-encoded: {body}");
        assert_eq!(percent_encode("a b+c"), "a%20b%2Bc");
    }

    #[test]
    fn articles_and_position_use_weibo_field_names() {
        let (kind, data) = reply_data(&ReplyContent::Articles {
            articles: vec![Article {
                title: "T".into(),
                description: None,
                url: "https://x.example".into(),
                pic_url: Some("https://x.example/i.png".into()),
            }],
        })
        .expect("articles");
        assert_eq!(kind, "articles");
        assert_eq!(data["articles"][0]["display_name"], "T");
        assert_eq!(data["articles"][0]["image"], "https://x.example/i.png");
        let (kind, data) = reply_data(&ReplyContent::Position {
            latitude: 39.982525,
            longitude: 116.308586,
        })
        .expect("position");
        assert_eq!(kind, "position");
        assert_eq!(
            data,
            json!({"longitude":"116.308586","latitude":"39.982525"})
        );
        assert!(
            reply_data(&ReplyContent::Image {
                media_id: "m".into(),
                upload: None,
            })
            .is_none()
        );
    }

    #[test]
    fn parses_the_error_envelope() {
        assert_eq!(parse_answer(r#"{"id":1,"sender_id":2}"#), Some(Ok(())));
        let e = parse_answer(
            r#"{"request":"/2/messages/reply.json","error_code":21327,"error":"expired_token"}"#,
        )
        .expect("json")
        .expect_err("error");
        assert_eq!(e.disposition, Disposition::Permanent);
        assert_eq!(e.code_label(), "weibo:21327");
        assert!(TOKEN_ERROR_CODES.contains(&e.code));
        assert_eq!(classify_error(10023), Disposition::Transient);
        assert_eq!(
            classify_error(26403),
            Disposition::Undeliverable(UndeliverableReason::WindowClosed)
        );
        assert!(parse_answer("Bad Gateway").is_none());
    }
}
