//! What every channel webhook shares: the HTTP-agnostic request, the outcome, the error
//! taxonomy with its HTTP mapping, the sorted-SHA-1 signature both platforms use, and the
//! timestamp window.
//!
//! Pure: no I/O. The current time is passed in ([`InboundRequest::received_at_ms`]).

pub mod wechat;
pub mod weibo;
pub mod xml;

use crate::message::NormalizedMessage;
use sha1::{Digest, Sha1};
use std::collections::BTreeMap;
use subtle::ConstantTimeEq;

/// HTTP method of a webhook request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HttpMethod {
    /// URL verification (echostr handshake).
    Get,
    /// Message push.
    Post,
    /// Anything else: always rejected with 405.
    Other,
}

/// One webhook request, reduced to what the channel protocols need.
#[derive(Debug, Clone)]
pub struct InboundRequest<'a> {
    /// HTTP method.
    pub method: HttpMethod,
    /// The gateway account named by the path (`/wechat/{account}`).
    pub account_id: &'a str,
    /// Query parameters, already percent-decoded (`+` is kept as `+`).
    pub query: &'a BTreeMap<String, String>,
    /// Raw request body.
    pub body: &'a [u8],
    /// When the request arrived, Unix milliseconds (injected clock).
    pub received_at_ms: i64,
}

impl InboundRequest<'_> {
    /// A required, non-empty query parameter.
    pub fn required(&self, name: &'static str) -> Result<&str, WebhookError> {
        match self.query.get(name).map(String::as_str) {
            Some(v) if !v.is_empty() => Ok(v),
            _ => Err(WebhookError::MissingParameter(name)),
        }
    }

    /// An optional query parameter (empty counts as absent).
    pub fn optional(&self, name: &str) -> Option<&str> {
        self.query
            .get(name)
            .map(String::as_str)
            .filter(|v| !v.is_empty())
    }
}

/// Limits applied to every webhook request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Largest accepted body, in bytes.
    pub max_body_bytes: usize,
    /// Largest accepted `echostr`, in bytes.
    pub max_echostr_bytes: usize,
    /// Largest accepted difference between the request's `timestamp` and the gateway clock,
    /// in seconds, either way. Must exceed the platforms' retry span (about 20 s).
    pub max_clock_skew_secs: i64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_body_bytes: 64 * 1024,
            max_echostr_bytes: 1024,
            max_clock_skew_secs: 300,
        }
    }
}

/// What a verified request asks the gateway to do.
#[derive(Debug, Clone, PartialEq)]
pub enum WebhookOutcome {
    /// URL verification passed: answer 200, `text/plain`, with exactly this body.
    Echo(String),
    /// A verified, parsed message: queue it, then acknowledge.
    Message(Box<NormalizedMessage>),
}

/// Why a webhook request was refused. Each variant has its own HTTP status and error code
/// (documented in the README); none of them queues anything.
///
/// Crypto-level variants ([`BadBase64`](Self::BadBase64), [`BadPadding`](Self::BadPadding),
/// [`BadCiphertext`](Self::BadCiphertext), [`AppIdMismatch`](Self::AppIdMismatch)) can only be
/// reached after `msg_signature` verified, i.e. by someone holding the token, so telling them
/// apart gives an attacker no padding oracle.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WebhookError {
    /// The HTTP method is neither GET nor POST.
    #[error("method not allowed")]
    MethodNotAllowed,
    /// The path names no configured account. Answered exactly like a bad signature (401,
    /// `bad_signature`): the webhook checks such a request against a stand-in account with an
    /// unguessable key, so no answer tells which account names exist.
    #[error("unknown account")]
    UnknownAccount,
    /// The path does not name an account at all.
    #[error("no account in path")]
    MissingAccount,
    /// The body exceeds [`Limits::max_body_bytes`] (or echostr its limit).
    #[error("body too large (limit {limit} bytes)")]
    BodyTooLarge {
        /// The limit that was exceeded.
        limit: usize,
    },
    /// A required query parameter is missing or empty.
    #[error("missing query parameter `{0}`")]
    MissingParameter(&'static str),
    /// A query parameter has an invalid form (e.g. a non-numeric timestamp).
    #[error("invalid query parameter `{0}`")]
    InvalidParameter(&'static str),
    /// The signature does not match.
    #[error("signature mismatch")]
    BadSignature,
    /// The timestamp is outside the accepted window.
    #[error("timestamp outside the accepted window")]
    StaleTimestamp,
    /// The request's message mode is not allowed for this account (e.g. plaintext to a
    /// secure-only account).
    #[error("message mode `{0}` not allowed for this account")]
    ModeNotAllowed(&'static str),
    /// The body contains a DTD or entity declaration.
    #[error("DTD or entity declarations are not accepted")]
    DoctypeForbidden,
    /// The body is not well-formed XML / JSON.
    #[error("malformed body: {0}")]
    MalformedBody(String),
    /// A field the message needs is missing or invalid.
    #[error("missing or invalid field `{0}`")]
    MissingField(&'static str),
    /// The ciphertext is not valid base64.
    #[error("ciphertext is not valid base64")]
    BadBase64,
    /// The ciphertext has an invalid length or its plaintext framing is out of bounds.
    #[error("ciphertext length or framing invalid")]
    BadCiphertext,
    /// The PKCS#7 padding is invalid.
    #[error("invalid padding")]
    BadPadding,
    /// The decrypted app id is not this account's.
    #[error("app id mismatch")]
    AppIdMismatch,
    /// The push is addressed to another receiving account than the one configured.
    #[error("receiver mismatch")]
    ReceiverMismatch,
    /// The message is from the account itself (e.g. a passive reply fed back as a push).
    #[error("message sent by the account itself")]
    FromAccountItself,
}

impl WebhookError {
    /// HTTP status for the response.
    pub fn status(&self) -> u16 {
        use WebhookError::*;
        match self {
            MethodNotAllowed => 405,
            MissingAccount => 404,
            UnknownAccount => 401,
            BodyTooLarge { .. } => 413,
            MissingParameter(_) | InvalidParameter(_) => 400,
            BadSignature | StaleTimestamp => 401,
            ModeNotAllowed(_) | AppIdMismatch | ReceiverMismatch | FromAccountItself => 403,
            DoctypeForbidden | MalformedBody(_) => 400,
            MissingField(_) | BadBase64 | BadCiphertext | BadPadding => 422,
        }
    }

    /// Stable machine-readable code, returned in the error body and logged.
    pub fn code(&self) -> &'static str {
        use WebhookError::*;
        match self {
            MethodNotAllowed => "method_not_allowed",
            UnknownAccount => "unknown_account",
            MissingAccount => "missing_account",
            BodyTooLarge { .. } => "body_too_large",
            MissingParameter(_) => "missing_parameter",
            InvalidParameter(_) => "invalid_parameter",
            BadSignature => "bad_signature",
            StaleTimestamp => "stale_timestamp",
            ModeNotAllowed(_) => "mode_not_allowed",
            DoctypeForbidden => "doctype_forbidden",
            MalformedBody(_) => "malformed_body",
            MissingField(_) => "missing_field",
            BadBase64 => "bad_base64",
            BadCiphertext => "bad_ciphertext",
            BadPadding => "bad_padding",
            AppIdMismatch => "appid_mismatch",
            ReceiverMismatch => "receiver_mismatch",
            FromAccountItself => "from_account_itself",
        }
    }

    /// The code in the HTTP answer: [`code`](Self::code), except that an unknown account
    /// answers `bad_signature` (its log line keeps `unknown_account`).
    pub fn public_code(&self) -> &'static str {
        match self {
            WebhookError::UnknownAccount => WebhookError::BadSignature.code(),
            other => other.code(),
        }
    }
}

/// `hex(sha1(concat(sort(parts))))`: the signature both WeChat and Weibo use. Parts are sorted
/// byte-wise and joined with no separator.
pub fn sorted_sha1_hex(parts: &[&str]) -> String {
    let mut sorted: Vec<&str> = parts.to_vec();
    sorted.sort_unstable();
    let mut h = Sha1::new();
    for p in sorted {
        h.update(p.as_bytes());
    }
    hex::encode(h.finalize())
}

/// Checks a sorted-SHA-1 signature in constant time. The expected value is compared
/// case-insensitively (platforms send lowercase hex).
pub fn verify_sorted_sha1(parts: &[&str], signature: &str) -> Result<(), WebhookError> {
    let computed = sorted_sha1_hex(parts);
    let given = signature.to_ascii_lowercase();
    if given.len() == computed.len() && bool::from(computed.as_bytes().ct_eq(given.as_bytes())) {
        Ok(())
    } else {
        Err(WebhookError::BadSignature)
    }
}

/// Unit of a platform timestamp.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TimestampUnit {
    /// Unix seconds (WeChat).
    Seconds,
    /// Unix milliseconds (Weibo).
    Millis,
}

/// Checks that `timestamp` (a decimal string in `unit`) is within `max_skew_secs` of `now_ms`.
pub fn check_timestamp(
    timestamp: &str,
    unit: TimestampUnit,
    now_ms: i64,
    max_skew_secs: i64,
) -> Result<(), WebhookError> {
    let value: i64 = timestamp
        .parse()
        .map_err(|_| WebhookError::InvalidParameter("timestamp"))?;
    let ts_ms = match unit {
        TimestampUnit::Seconds => value.checked_mul(1000),
        TimestampUnit::Millis => Some(value),
    }
    .ok_or(WebhookError::InvalidParameter("timestamp"))?;
    let skew_ms = now_ms.saturating_sub(ts_ms).saturating_abs();
    if skew_ms > max_skew_secs.saturating_mul(1000) {
        Err(WebhookError::StaleTimestamp)
    } else {
        Ok(())
    }
}

/// Bytes left as they are by [`percent_encode`]: RFC 3986's unreserved set.
const UNRESERVED: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// `k=v&k=v`, each key and value percent-encoded once ([`percent_encode`]): query strings
/// and Weibo's form bodies.
pub fn encode_pairs<'a>(pairs: impl IntoIterator<Item = (&'a str, &'a str)>) -> String {
    pairs
        .into_iter()
        .map(|(k, v)| format!("{}={}", percent_encode(k), percent_encode(v)))
        .collect::<Vec<_>>()
        .join("&")
}

/// RFC 3986 percent-encoding of every byte outside the unreserved set (a space becomes `%20`,
/// never `+`), as both platforms' query strings and Weibo's reply `data` need.
pub fn percent_encode(s: &str) -> String {
    percent_encoding::utf8_percent_encode(s, UNRESERVED).to_string()
}

/// Rejects bodies that carry a DTD or entity declaration, before any parser sees them.
/// Neither platform ever sends one; refusing them closes XXE and entity-expansion attacks.
pub fn reject_dtd(body: &[u8]) -> Result<(), WebhookError> {
    // Both declarations start with `<!`, which has no case: only what follows a `<!` needs
    // the case-insensitive comparison (one byte compare per body byte instead of two
    // nine-byte windows per position).
    let starts_with = |rest: &[u8], word: &[u8]| {
        rest.get(..word.len())
            .is_some_and(|head| head.eq_ignore_ascii_case(word))
    };
    let mut rest = body;
    while let Some(at) = rest.iter().position(|&b| b == b'<') {
        rest = &rest[at + 1..];
        if let Some(after) = rest.strip_prefix(b"!")
            && (starts_with(after, b"DOCTYPE") || starts_with(after, b"ENTITY"))
        {
            return Err(WebhookError::DoctypeForbidden);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn weibo_official_signature_vector() {
        // open.weibo.com Messages_api_start.
        assert_eq!(
            sorted_sha1_hex(&["xyz123xyz", "1397022061823", "57155157"]),
            "90e4c22c90a58f26526c2dd5b6c56c8822edeaa1"
        );
    }

    #[test]
    fn wechat_official_signature_vector() {
        // developers.weixin.qq.com message-push guide (V2).
        assert_eq!(
            sorted_sha1_hex(&["AAAAA", "1714036504", "1514711492"]),
            "f464b24fc39322e44b38aa78f5edd27bd1441696"
        );
    }

    #[test]
    fn verify_rejects_a_one_character_change_and_accepts_uppercase() {
        let parts = ["test", "1410685589", "test"];
        assert!(verify_sorted_sha1(&parts, "f21891de399b4e33a1a93c9a7b8a8fffb5a443ff").is_ok());
        assert!(verify_sorted_sha1(&parts, "F21891DE399B4E33A1A93C9A7B8A8FFFB5A443FF").is_ok());
        assert_eq!(
            verify_sorted_sha1(&parts, "f21891de399b4e33a1a93c9a7b8a8fffb5a443fe"),
            Err(WebhookError::BadSignature)
        );
        assert_eq!(
            verify_sorted_sha1(&parts, ""),
            Err(WebhookError::BadSignature)
        );
    }

    #[test]
    fn timestamp_window_in_seconds_and_millis() {
        let now_ms = 1_714_036_504_000;
        assert!(check_timestamp("1714036504", TimestampUnit::Seconds, now_ms, 300).is_ok());
        assert!(check_timestamp("1714036204", TimestampUnit::Seconds, now_ms, 300).is_ok());
        assert_eq!(
            check_timestamp("1714036203", TimestampUnit::Seconds, now_ms, 300),
            Err(WebhookError::StaleTimestamp)
        );
        assert_eq!(
            check_timestamp("1714036805", TimestampUnit::Seconds, now_ms, 300),
            Err(WebhookError::StaleTimestamp)
        );
        assert!(check_timestamp("1714036504000", TimestampUnit::Millis, now_ms, 300).is_ok());
        assert_eq!(
            check_timestamp("1714036504", TimestampUnit::Millis, now_ms, 300),
            Err(WebhookError::StaleTimestamp)
        );
        assert_eq!(
            check_timestamp("abc", TimestampUnit::Seconds, now_ms, 300),
            Err(WebhookError::InvalidParameter("timestamp"))
        );
        assert_eq!(
            check_timestamp("99999999999999999", TimestampUnit::Seconds, now_ms, 300),
            Err(WebhookError::InvalidParameter("timestamp"))
        );
    }

    #[test]
    fn percent_encoding_keeps_only_unreserved_bytes() {
        assert_eq!(percent_encode("a b+c/=~._-"), "a%20b%2Bc%2F%3D~._-");
        assert_eq!(percent_encode("纯"), "%E7%BA%AF");
    }

    #[test]
    fn dtd_and_entities_are_rejected_in_any_case() {
        assert_eq!(
            reject_dtd(b"<?xml version=\"1.0\"?><!doctype x [<!ENTITY a \"b\">]><xml/>"),
            Err(WebhookError::DoctypeForbidden)
        );
        assert_eq!(
            reject_dtd(b"<xml><!ENTITY x SYSTEM \"file:///etc/passwd\"></xml>"),
            Err(WebhookError::DoctypeForbidden)
        );
        assert!(reject_dtd(b"<xml><Content>DOCTYPE is a word</Content></xml>").is_ok());
    }

    /// The plain definition `reject_dtd` is an optimisation of: any window equal to
    /// `<!DOCTYPE` or `<!ENTITY`, ignoring ASCII case.
    fn windowed_reject_dtd(body: &[u8]) -> bool {
        let has = |needle: &[u8]| {
            body.windows(needle.len())
                .any(|w| w.eq_ignore_ascii_case(needle))
        };
        has(b"<!DOCTYPE") || has(b"<!ENTITY")
    }

    proptest::proptest! {
        #[test]
        fn reject_dtd_agrees_with_the_windowed_definition(
            parts in proptest::collection::vec(
                proptest::prop_oneof![
                    proptest::strategy::Just(b"<".to_vec()),
                    proptest::strategy::Just(b"<!".to_vec()),
                    proptest::strategy::Just(b"<<!".to_vec()),
                    proptest::strategy::Just(b"DOCTYPE".to_vec()),
                    proptest::strategy::Just(b"doctYpe".to_vec()),
                    proptest::strategy::Just(b"DOCTYP".to_vec()),
                    proptest::strategy::Just(b"ENTITY".to_vec()),
                    proptest::strategy::Just(b"entity".to_vec()),
                    proptest::strategy::Just(b"ENTIT".to_vec()),
                    proptest::collection::vec(proptest::prelude::any::<u8>(), 0..4),
                ],
                0..8,
            )
        ) {
            let body = parts.concat();
            proptest::prop_assert_eq!(reject_dtd(&body).is_err(), windowed_reject_dtd(&body));
        }
    }

    #[test]
    fn every_error_maps_to_a_4xx_with_a_distinct_code() {
        use WebhookError::*;
        let all = [
            MethodNotAllowed,
            UnknownAccount,
            MissingAccount,
            BodyTooLarge { limit: 1 },
            MissingParameter("x"),
            InvalidParameter("x"),
            BadSignature,
            StaleTimestamp,
            ModeNotAllowed("x"),
            DoctypeForbidden,
            MalformedBody("x".into()),
            MissingField("x"),
            BadBase64,
            BadCiphertext,
            BadPadding,
            AppIdMismatch,
            ReceiverMismatch,
            FromAccountItself,
        ];
        let mut codes: Vec<&str> = all.iter().map(WebhookError::code).collect();
        codes.sort_unstable();
        codes.dedup();
        assert_eq!(codes.len(), all.len());
        assert!(all.iter().all(|e| (400..500).contains(&e.status())));
    }
}
