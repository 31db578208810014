//! WeChat Official Account APIs used by the reply sender (reference: the official 客服消息 and access-token docs):
//! customer-service messages (`POST /cgi-bin/message/custom/send`), the typing indicator
//! (`POST /cgi-bin/message/custom/typing`, `{"touser","command":"Typing"|"CancelTyping"}`,
//! confirmed by the official API page), and access tokens (`POST /cgi-bin/stable_token`,
//! or the classic `GET /cgi-bin/token`).
//!
//! Request bodies, answer parsing and error classification only; the HTTP client is in
//! `gateway-platforms`. Pure.

use crate::delivery::platform::{Disposition, PlatformError};
use crate::delivery::window::UndeliverableReason;
use crate::message::Channel;
use crate::reply::ReplyContent;
use serde::Deserialize;
use serde_json::{Value, json};

/// Path of the customer-service message API.
pub const CUSTOM_SEND_PATH: &str = "/cgi-bin/message/custom/send";
/// Path of the typing indicator API.
pub const TYPING_PATH: &str = "/cgi-bin/message/custom/typing";
/// Path of the stable access-token API.
pub const STABLE_TOKEN_PATH: &str = "/cgi-bin/stable_token";
/// Path of the classic access-token API.
pub const TOKEN_PATH: &str = "/cgi-bin/token";

/// Error codes that mean "this access token is no good": refresh and retry once
/// (40001 invalid or not latest, 40014 invalid, 42001 expired).
pub const TOKEN_ERROR_CODES: [i64; 3] = [40001, 40014, 42001];

/// The JSON body of a customer-service message to `to_user` (an OpenID). `None` when WeChat
/// cannot carry this content (a position), or when a media reply names an `upload` not yet
/// resolved to a media id (`delivery::uploads`).
pub fn custom_message(to_user: &str, content: &ReplyContent) -> Option<Value> {
    let (msgtype, payload) = match content {
        ReplyContent::Text { text } => ("text", json!({ "content": text })),
        ReplyContent::Image {
            media_id,
            upload: None,
        } => ("image", json!({ "media_id": media_id })),
        ReplyContent::Voice {
            media_id,
            upload: None,
        } => ("voice", json!({ "media_id": media_id })),
        ReplyContent::Image { .. } | ReplyContent::Voice { .. } => return None,
        ReplyContent::Video {
            upload: Some(_), ..
        } => return None,
        ReplyContent::Video {
            media_id,
            thumb_media_id,
            title,
            description,
            upload: None,
        } => {
            let mut v = json!({ "media_id": media_id });
            insert_some(&mut v, "thumb_media_id", thumb_media_id);
            insert_some(&mut v, "title", title);
            insert_some(&mut v, "description", description);
            ("video", v)
        }
        ReplyContent::Music {
            title,
            description,
            music_url,
            hq_music_url,
            thumb_media_id,
        } => {
            let mut v = json!({ "thumb_media_id": thumb_media_id });
            insert_some(&mut v, "title", title);
            insert_some(&mut v, "description", description);
            insert_some(&mut v, "musicurl", music_url);
            insert_some(&mut v, "hqmusicurl", hq_music_url);
            ("music", v)
        }
        ReplyContent::Articles { articles } => {
            let items: Vec<Value> = articles
                .iter()
                .map(|a| {
                    let mut v = json!({ "title": a.title, "url": a.url });
                    insert_some(&mut v, "description", &a.description);
                    insert_some(&mut v, "picurl", &a.pic_url);
                    v
                })
                .collect();
            ("news", json!({ "articles": items }))
        }
        ReplyContent::Position { .. }
        | ReplyContent::PublicComment { .. }
        | ReplyContent::Template { .. } => return None,
    };
    let mut body = json!({ "touser": to_user, "msgtype": msgtype });
    body[msgtype] = payload;
    Some(body)
}

fn insert_some(v: &mut Value, key: &str, value: &Option<String>) {
    if let Some(s) = value {
        v[key] = Value::String(s.clone());
    }
}

/// The JSON body of the typing indicator: `Typing` when `typing`, else `CancelTyping`.
/// WeChat accepts it only within 30 s of a message from the user (45080) and refuses a
/// repeated `Typing` (45081); both are harmless.
pub fn typing(to_user: &str, typing: bool) -> Value {
    json!({
        "touser": to_user,
        "command": if typing { "Typing" } else { "CancelTyping" },
    })
}

/// The JSON body of a stable access-token request. `force_refresh` invalidates the current
/// token and is limited by WeChat to 20 a day, at least 30 s apart.
pub fn stable_token_request(app_id: &str, app_secret: &str, force_refresh: bool) -> Value {
    json!({
        "grant_type": "client_credential",
        "appid": app_id,
        "secret": app_secret,
        "force_refresh": force_refresh,
    })
}

/// A token granted by the token APIs.
#[derive(Clone, PartialEq, Eq, Deserialize)]
pub struct TokenGrant {
    /// The access token (a secret).
    pub access_token: String,
    /// Lifetime in seconds.
    pub expires_in: i64,
}

impl std::fmt::Debug for TokenGrant {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenGrant")
            .field("access_token", &"[redacted]")
            .field("expires_in", &self.expires_in)
            .finish()
    }
}

#[derive(Deserialize)]
struct Envelope {
    #[serde(default)]
    errcode: i64,
    #[serde(default)]
    errmsg: String,
}

/// Parses an API answer (`{"errcode":0,"errmsg":"ok"}`). `None` when the body is not the
/// platform's JSON envelope.
pub fn parse_answer(body: &str) -> Option<Result<(), PlatformError>> {
    let env: Envelope = serde_json::from_str(body).ok()?;
    Some(if env.errcode == 0 {
        Ok(())
    } else {
        Err(error(env.errcode, env.errmsg, classify_send_error))
    })
}

/// Parses a token answer. `None` when the body is neither a grant nor an error envelope.
pub fn parse_token_answer(body: &str) -> Option<Result<TokenGrant, PlatformError>> {
    if let Ok(grant) = serde_json::from_str::<TokenGrant>(body)
        && !grant.access_token.is_empty()
    {
        return Some(Ok(grant));
    }
    let env: Envelope = serde_json::from_str(body).ok()?;
    Some(Err(error(
        if env.errcode == 0 { -2 } else { env.errcode },
        env.errmsg,
        classify_token_error,
    )))
}

fn error(code: i64, message: String, classify: fn(i64) -> Disposition) -> PlatformError {
    PlatformError {
        channel: Channel::WeChat,
        code,
        message: message.chars().take(200).collect(),
        disposition: classify(code),
    }
}

/// What to do about an error code of the message APIs (reference §5.3).
pub fn classify_send_error(code: i64) -> Disposition {
    match code {
        c if TOKEN_ERROR_CODES.contains(&c) => Disposition::RefreshToken,
        // System busy; API called too frequently.
        -1 | 45011 => Disposition::Transient,
        45015 => Disposition::Undeliverable(UndeliverableReason::WindowClosed),
        45047 => Disposition::Undeliverable(UndeliverableReason::QuotaExhausted),
        43004 => Disposition::Undeliverable(UndeliverableReason::Unfollowed),
        // 40164 IP not allow-listed, 48001 API not authorised, 45009 daily quota, 45008 too
        // many articles, 40003 bad OpenID, …: an operator must act; dead-letter with the code.
        _ => Disposition::Permanent,
    }
}

/// What to do about an error code of the token APIs: busy or rate-limited is transient;
/// wrong AppID/AppSecret (40013, 40125), IP allow-list (40164) and the rest are permanent.
pub fn classify_token_error(code: i64) -> Disposition {
    match code {
        -1 | 45009 | 45011 => Disposition::Transient,
        _ => Disposition::Permanent,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::reply::Article;

    #[test]
    fn builds_the_documented_custom_message_bodies() {
        let text = custom_message("OPENID", &ReplyContent::text("Hello World")).expect("text");
        assert_eq!(
            text,
            json!({"touser":"OPENID","msgtype":"text","text":{"content":"Hello World"}})
        );
        let news = custom_message(
            "o",
            &ReplyContent::Articles {
                articles: vec![Article {
                    title: "T".into(),
                    description: Some("D".into()),
                    url: "https://x.example".into(),
                    pic_url: Some("https://x.example/p.png".into()),
                }],
            },
        )
        .expect("news");
        assert_eq!(news["msgtype"], "news");
        assert_eq!(
            news["news"]["articles"][0]["picurl"],
            "https://x.example/p.png"
        );
        let music = custom_message(
            "o",
            &ReplyContent::Music {
                title: Some("t".into()),
                description: None,
                music_url: Some("https://m.example/a.mp3".into()),
                hq_music_url: None,
                thumb_media_id: "th".into(),
            },
        )
        .expect("music");
        assert_eq!(
            music["music"],
            json!({"thumb_media_id":"th","title":"t","musicurl":"https://m.example/a.mp3"})
        );
        let video = custom_message(
            "o",
            &ReplyContent::Video {
                media_id: "m".into(),
                upload: None,
                thumb_media_id: None,
                title: None,
                description: None,
            },
        )
        .expect("video");
        assert_eq!(video["video"], json!({"media_id":"m"}));
        assert!(
            custom_message(
                "o",
                &ReplyContent::Position {
                    latitude: 1.0,
                    longitude: 2.0
                }
            )
            .is_none()
        );
        assert_eq!(typing("o", true), json!({"touser":"o","command":"Typing"}));
    }

    #[test]
    fn classifies_error_codes() {
        let cases = [
            (40001, Disposition::RefreshToken),
            (42001, Disposition::RefreshToken),
            (40014, Disposition::RefreshToken),
            (-1, Disposition::Transient),
            (45011, Disposition::Transient),
            (
                45015,
                Disposition::Undeliverable(UndeliverableReason::WindowClosed),
            ),
            (
                45047,
                Disposition::Undeliverable(UndeliverableReason::QuotaExhausted),
            ),
            (
                43004,
                Disposition::Undeliverable(UndeliverableReason::Unfollowed),
            ),
            (40164, Disposition::Permanent),
            (45009, Disposition::Permanent),
            (48001, Disposition::Permanent),
        ];
        for (code, want) in cases {
            assert_eq!(classify_send_error(code), want, "{code}");
        }
        assert_eq!(classify_token_error(-1), Disposition::Transient);
        assert_eq!(classify_token_error(40164), Disposition::Permanent);
    }

    #[test]
    fn parses_answers_and_token_grants() {
        assert_eq!(parse_answer(r#"{"errcode":0,"errmsg":"ok"}"#), Some(Ok(())));
        let err = parse_answer(r#"{"errcode":45015,"errmsg":"response out of time limit"}"#)
            .expect("envelope")
            .expect_err("error");
        assert_eq!(err.code_label(), "wechat:45015");
        assert!(parse_answer("<html>").is_none());
        let grant = parse_token_answer(r#"{"access_token":"SECRETTOKEN","expires_in":7200}"#)
            .expect("parsed")
            .expect("grant");
        assert_eq!(grant.expires_in, 7200);
        assert!(!format!("{grant:?}").contains("SECRETTOKEN"));
        let refused = parse_token_answer(r#"{"errcode":40164,"errmsg":"invalid ip"}"#)
            .expect("parsed")
            .expect_err("refused");
        assert_eq!(refused.disposition, Disposition::Permanent);
    }
}
