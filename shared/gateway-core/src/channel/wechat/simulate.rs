//! A WeChat platform simulator for tests and tooling: builds exactly the query parameters and
//! body WeChat would send for a given account, inner message, timestamp and nonce, in
//! plaintext, compatible or secure mode, plus the GET URL verification.
//!
//! Reference: the official Official Account docs (接入概述, 消息加解密说明).
//! Pure: no I/O; randomness comes from the OS CSPRNG unless injected (`*_with_random`).

use crate::account::WeChatAccount;
use crate::channel::wechat::crypto::{self, AesKey, RANDOM_LEN};
use crate::channel::{HttpMethod, InboundRequest, WebhookError, xml};
use std::collections::BTreeMap;

/// How the simulated platform wraps the message body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Envelope {
    /// 明文模式: the inner XML as is; no `encrypt_type`.
    Plaintext,
    /// 兼容模式: the plain fields plus `<Encrypt>`; `encrypt_type=aes` and `msg_signature`.
    Compatible,
    /// 安全模式: only `<ToUserName>` and `<Encrypt>`; `encrypt_type=aes` and `msg_signature`.
    Secure,
}

/// A request as the platform would send it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SimulatedRequest {
    /// GET (verification) or POST (push).
    pub method: HttpMethod,
    /// Query parameters, not percent-encoded.
    pub query: BTreeMap<String, String>,
    /// Body bytes (empty for GET).
    pub body: Vec<u8>,
}

impl SimulatedRequest {
    /// Borrows this request as the webhook's input.
    pub fn as_inbound<'a>(
        &'a self,
        account_id: &'a str,
        received_at_ms: i64,
    ) -> InboundRequest<'a> {
        InboundRequest {
            method: self.method,
            account_id,
            query: &self.query,
            body: &self.body,
            received_at_ms,
        }
    }

    /// The query string (`a=1&b=2`, keys sorted), percent-encoded for a URL.
    pub fn query_string(&self) -> String {
        crate::channel::encode_pairs(self.query.iter().map(|(k, v)| (k.as_str(), v.as_str())))
    }
}

/// Why a request could not be simulated.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SimulateError {
    /// An encrypted envelope was asked for, but the account has no usable EncodingAESKey.
    #[error("the account has no usable encoding_aes_key")]
    NoAesKey,
    /// The inner XML could not be read (needed to copy `ToUserName`, `FromUserName`, or to
    /// append `<Encrypt>` in compatible mode).
    #[error("inner message: {0}")]
    InnerXml(WebhookError),
}

fn current_key(account: &WeChatAccount) -> Result<AesKey, SimulateError> {
    account
        .encoding_aes_key
        .as_ref()
        .and_then(|k| AesKey::from_encoding_aes_key(k.expose()).ok())
        .ok_or(SimulateError::NoAesKey)
}

/// The GET URL verification WeChat sends when the server URL is saved:
/// `signature`, `timestamp`, `nonce`, `echostr`.
pub fn verification(
    account: &WeChatAccount,
    timestamp: i64,
    nonce: &str,
    echostr: &str,
) -> SimulatedRequest {
    let ts = timestamp.to_string();
    let mut query = BTreeMap::new();
    query.insert(
        "signature".into(),
        crypto::signature(account.token.expose(), &ts, nonce),
    );
    query.insert("timestamp".into(), ts);
    query.insert("nonce".into(), nonce.to_string());
    query.insert("echostr".into(), echostr.to_string());
    SimulatedRequest {
        method: HttpMethod::Get,
        query,
        body: Vec::new(),
    }
}

/// A WeCom-style encrypted GET verification (`msg_signature`, `encrypt_type=aes`, encrypted
/// `echostr`), which the webhook also accepts. `echo` is the plaintext the webhook must return.
pub fn encrypted_verification_with_random(
    account: &WeChatAccount,
    timestamp: i64,
    nonce: &str,
    echo: &str,
    random: &[u8; RANDOM_LEN],
) -> Result<SimulatedRequest, SimulateError> {
    let key = current_key(account)?;
    let ts = timestamp.to_string();
    let echostr = crypto::encrypt(&key, &account.app_id, echo.as_bytes(), random);
    let mut query = BTreeMap::new();
    query.insert(
        "msg_signature".into(),
        crypto::msg_signature(account.token.expose(), &ts, nonce, &echostr),
    );
    query.insert("encrypt_type".into(), "aes".into());
    query.insert("timestamp".into(), ts);
    query.insert("nonce".into(), nonce.to_string());
    query.insert("echostr".into(), echostr);
    Ok(SimulatedRequest {
        method: HttpMethod::Get,
        query,
        body: Vec::new(),
    })
}

/// A message push (POST) of `inner_xml`, with a fresh CSPRNG prefix when encrypting.
pub fn push(
    account: &WeChatAccount,
    inner_xml: &str,
    timestamp: i64,
    nonce: &str,
    envelope: Envelope,
) -> Result<SimulatedRequest, SimulateError> {
    push_with_random(
        account,
        inner_xml,
        timestamp,
        nonce,
        envelope,
        &crypto::random_prefix(),
    )
}

/// A message push (POST) of `inner_xml` with the given 16-byte random prefix (ignored for
/// [`Envelope::Plaintext`]).
///
/// Query: `signature`, `timestamp`, `nonce`, `openid` (the inner `FromUserName`, when present),
/// and for encrypted envelopes `encrypt_type=aes` and `msg_signature`.
pub fn push_with_random(
    account: &WeChatAccount,
    inner_xml: &str,
    timestamp: i64,
    nonce: &str,
    envelope: Envelope,
    random: &[u8; RANDOM_LEN],
) -> Result<SimulatedRequest, SimulateError> {
    let token = account.token.expose();
    let ts = timestamp.to_string();
    let inner = xml::parse_fields(inner_xml.as_bytes()).map_err(SimulateError::InnerXml)?;

    let mut query = BTreeMap::new();
    query.insert("signature".into(), crypto::signature(token, &ts, nonce));
    query.insert("timestamp".into(), ts.clone());
    query.insert("nonce".into(), nonce.to_string());
    if let Some(openid) = inner.get("FromUserName") {
        query.insert("openid".into(), openid.to_string());
    }

    let body = match envelope {
        Envelope::Plaintext => inner_xml.to_string(),
        Envelope::Compatible | Envelope::Secure => {
            let key = current_key(account)?;
            let encrypt = crypto::encrypt(&key, &account.app_id, inner_xml.as_bytes(), random);
            query.insert("encrypt_type".into(), "aes".into());
            query.insert(
                "msg_signature".into(),
                crypto::msg_signature(token, &ts, nonce, &encrypt),
            );
            let encrypt_element = format!("<Encrypt>{}</Encrypt>", xml::cdata(&encrypt));
            if envelope == Envelope::Secure {
                format!(
                    "<xml><ToUserName>{}</ToUserName>{encrypt_element}</xml>",
                    xml::cdata(inner.get("ToUserName").unwrap_or_default())
                )
            } else {
                let end = inner_xml.rfind("</xml>").ok_or_else(|| {
                    SimulateError::InnerXml(WebhookError::MalformedBody(
                        "no </xml> end tag to append <Encrypt> before".into(),
                    ))
                })?;
                format!(
                    "{}{encrypt_element}{}",
                    &inner_xml[..end],
                    &inner_xml[end..]
                )
            }
        }
    };
    Ok(SimulatedRequest {
        method: HttpMethod::Post,
        query,
        body: body.into_bytes(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::account::{ReplyMode, Secret, WeChatMode};

    fn account() -> WeChatAccount {
        WeChatAccount {
            app_id: "wxba5fad812f8e6fb9".into(),
            token: Secret::new("AAAAA"),
            encoding_aes_key: Some(Secret::new("AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA")),
            previous_encoding_aes_key: None,
            mode: WeChatMode::Compatible,
            app_secret: None,
            reply_mode: ReplyMode::Api,
            original_id: None,
            template_daily_limit: None,
        }
    }

    const INNER: &str = "<xml><ToUserName><![CDATA[gh_97417a04a28d]]></ToUserName><FromUserName><![CDATA[o9AgO5Kd5ggOC-bXrbNODIiE3bGY]]></FromUserName><CreateTime>1714112445</CreateTime><MsgType><![CDATA[text]]></MsgType><Content><![CDATA[hi]]></Content><MsgId>1</MsgId></xml>";

    #[test]
    fn official_get_vector_is_reproduced() {
        let r = verification(&account(), 1714036504, "1514711492", "4375120948345356249");
        assert_eq!(
            r.query["signature"],
            "f464b24fc39322e44b38aa78f5edd27bd1441696"
        );
        assert_eq!(
            r.query_string(),
            "echostr=4375120948345356249&nonce=1514711492&signature=f464b24fc39322e44b38aa78f5edd27bd1441696&timestamp=1714036504"
        );
    }

    #[test]
    fn secure_push_matches_the_official_query_shape() {
        let r = push_with_random(
            &account(),
            INNER,
            1714112445,
            "415670741",
            Envelope::Secure,
            &[1; 16],
        )
        .expect("ok");
        assert_eq!(
            r.query["signature"],
            "6c5c811b55cc85e0e1b54100749188c20beb3f5d"
        );
        assert_eq!(r.query["openid"], "o9AgO5Kd5ggOC-bXrbNODIiE3bGY");
        assert_eq!(r.query["encrypt_type"], "aes");
        let outer = xml::parse_fields(&r.body).expect("outer");
        assert_eq!(outer.len(), 2);
        assert_eq!(outer.get("ToUserName"), Some("gh_97417a04a28d"));
        let enc = outer.get("Encrypt").expect("Encrypt");
        assert_eq!(
            r.query["msg_signature"],
            crypto::msg_signature("AAAAA", "1714112445", "415670741", enc)
        );
        assert!(
            r.query_string()
                .contains("openid=o9AgO5Kd5ggOC-bXrbNODIiE3bGY")
        );
    }

    #[test]
    fn compatible_push_keeps_plain_fields_and_adds_encrypt() {
        let r = push(&account(), INNER, 1714112445, "n", Envelope::Compatible).expect("ok");
        let outer = xml::parse_fields(&r.body).expect("outer");
        assert_eq!(outer.get("Content"), Some("hi"));
        assert!(outer.contains("Encrypt"));
        let plain = push(&account(), INNER, 1714112445, "n", Envelope::Plaintext).expect("ok");
        assert_eq!(plain.body, INNER.as_bytes());
        assert!(!plain.query.contains_key("encrypt_type"));
        let no_key = WeChatAccount {
            encoding_aes_key: None,
            ..account()
        };
        assert_eq!(
            push(&no_key, INNER, 1, "n", Envelope::Secure),
            Err(SimulateError::NoAesKey)
        );
    }

    #[test]
    fn query_string_percent_encodes() {
        let r = verification(&account(), 1, "a b+c/=", "x&y");
        let q = r.query_string();
        assert!(q.contains("nonce=a%20b%2Bc%2F%3D"), "{q}");
        assert!(q.contains("echostr=x%26y"), "{q}");
    }
}
