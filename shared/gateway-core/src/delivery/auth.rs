//! Authentication of `reply-api` requests: an HMAC-SHA256 signature over the timestamp and the
//! exact body bytes, with a shared secret per API client (the accounts document's
//! `api_clients`).
//!
//! ```text
//! X-Gateway-Client:    crm                       (the client id)
//! X-Gateway-Timestamp: 1714112445                (Unix seconds)
//! X-Gateway-Signature: v1=<hex HMAC-SHA256(secret, "{timestamp}.{body}")>
//! ```
//!
//! The timestamp must be within the configured window of the gateway's clock (either way),
//! which bounds replays; the reply's idempotency key makes a replay within the window harmless.
//! The signature is compared in constant time. Pure: the time is passed in.

use crate::account::{AccountsDocument, ApiClient};
use hmac::{Hmac, Mac};
use sha2::Sha256;
use subtle::ConstantTimeEq;

/// Header naming the API client.
pub const CLIENT_HEADER: &str = "x-gateway-client";
/// Header carrying the Unix-seconds timestamp.
pub const TIMESTAMP_HEADER: &str = "x-gateway-timestamp";
/// Header carrying `v1=<hex>`.
pub const SIGNATURE_HEADER: &str = "x-gateway-signature";
/// Version prefix of the signature.
pub const SIGNATURE_PREFIX: &str = "v1=";

/// Why a request was not authenticated. Every variant answers 401.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    /// A required header is missing or empty.
    #[error("missing header `{0}`")]
    MissingHeader(&'static str),
    /// The timestamp is not an integer number of seconds.
    #[error("malformed timestamp")]
    MalformedTimestamp,
    /// The timestamp is outside the accepted window.
    #[error("timestamp outside the accepted window")]
    StaleTimestamp,
    /// The client id names no configured client, or the signature does not match. One
    /// variant for both, so that the answer does not tell which client ids exist.
    #[error("bad signature")]
    BadSignature,
}

impl AuthError {
    /// Machine-readable code for the JSON error body.
    pub fn code(&self) -> &'static str {
        match self {
            AuthError::MissingHeader(_) => "missing_header",
            AuthError::MalformedTimestamp => "malformed_timestamp",
            AuthError::StaleTimestamp => "stale_timestamp",
            AuthError::BadSignature => "bad_signature",
        }
    }
}

/// The authentication parts of one request.
#[derive(Debug, Clone, Copy)]
pub struct SignedParts<'a> {
    /// `X-Gateway-Client`.
    pub client_id: Option<&'a str>,
    /// `X-Gateway-Timestamp`.
    pub timestamp: Option<&'a str>,
    /// `X-Gateway-Signature`.
    pub signature: Option<&'a str>,
    /// The raw body.
    pub body: &'a [u8],
}

fn mac(secret: &str, timestamp: &str, body: &[u8]) -> Hmac<Sha256> {
    // `Hmac` is `KeyInit`: keys of any length are accepted (hashed when longer than a block).
    let mut mac = <Hmac<Sha256> as hmac::digest::KeyInit>::new_from_slice(secret.as_bytes())
        .unwrap_or_else(|_| <Hmac<Sha256> as hmac::digest::KeyInit>::new(&Default::default()));
    mac.update(timestamp.as_bytes());
    mac.update(b".");
    mac.update(body);
    mac
}

/// The `X-Gateway-Signature` value for `body` sent at `timestamp` (Unix seconds).
pub fn sign(secret: &str, timestamp: i64, body: &[u8]) -> String {
    let tag = mac(secret, &timestamp.to_string(), body)
        .finalize()
        .into_bytes();
    format!("{SIGNATURE_PREFIX}{}", hex::encode(tag))
}

fn present<'a>(v: Option<&'a str>, name: &'static str) -> Result<&'a str, AuthError> {
    v.map(str::trim)
        .filter(|s| !s.is_empty())
        .ok_or(AuthError::MissingHeader(name))
}

/// Authenticates a request and returns the client id and its configuration.
pub fn authenticate<'d>(
    accounts: &'d AccountsDocument,
    parts: &SignedParts<'_>,
    now_ms: i64,
    window_secs: i64,
) -> Result<(&'d str, &'d ApiClient), AuthError> {
    let client_id = present(parts.client_id, CLIENT_HEADER)?;
    let timestamp = present(parts.timestamp, TIMESTAMP_HEADER)?;
    let signature = present(parts.signature, SIGNATURE_HEADER)?;
    let ts: i64 = timestamp
        .parse()
        .map_err(|_| AuthError::MalformedTimestamp)?;
    if (now_ms.div_euclid(1000) - ts).abs() > window_secs {
        return Err(AuthError::StaleTimestamp);
    }
    let Some((id, client)) = accounts.api_clients.get_key_value(client_id) else {
        return Err(AuthError::BadSignature);
    };
    let given = signature
        .strip_prefix(SIGNATURE_PREFIX)
        .and_then(|h| hex::decode(h).ok())
        .ok_or(AuthError::BadSignature)?;
    let expected = mac(client.secret.expose(), timestamp, parts.body)
        .finalize()
        .into_bytes();
    if bool::from(expected.as_slice().ct_eq(given.as_slice())) {
        Ok((id.as_str(), client))
    } else {
        Err(AuthError::BadSignature)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DOC: &str = r#"{"api_clients":{"crm":{"secret":"0123456789abcdef-crm"}}}"#;

    fn doc() -> AccountsDocument {
        AccountsDocument::from_json(DOC).expect("valid")
    }

    fn parts<'a>(sig: &'a str, ts: &'a str, body: &'a [u8]) -> SignedParts<'a> {
        SignedParts {
            client_id: Some("crm"),
            timestamp: Some(ts),
            signature: Some(sig),
            body,
        }
    }

    #[test]
    fn signature_matches_an_independent_openssl_computation() {
        // printf '%s' '1714112445.{"a":1}' | openssl dgst -sha256 -hmac '0123456789abcdef-crm'
        assert_eq!(
            sign("0123456789abcdef-crm", 1714112445, br#"{"a":1}"#),
            "v1=7129af3e5f3cf231bc231983f36c3e5ee417acf87aa0d6b3fc9841842dae4292"
        );
    }

    #[test]
    fn accepts_a_correct_signature_within_the_window() {
        let d = doc();
        let body = br#"{"x":"y"}"#;
        let sig = sign("0123456789abcdef-crm", 1_000, body);
        let (id, _) = authenticate(&d, &parts(&sig, "1000", body), 1_200_000, 300).expect("ok");
        assert_eq!(id, "crm");
    }

    #[test]
    fn refuses_tampering_staleness_unknown_clients_and_missing_headers() {
        let d = doc();
        let body = br#"{"x":"y"}"#;
        let sig = sign("0123456789abcdef-crm", 1_000, body);
        let now = 1_000_000;
        assert_eq!(
            authenticate(&d, &parts(&sig, "1000", br#"{"x":"z"}"#), now, 300).map(|_| ()),
            Err(AuthError::BadSignature)
        );
        assert_eq!(
            authenticate(&d, &parts(&sig, "1001", body), now, 300).map(|_| ()),
            Err(AuthError::BadSignature)
        );
        assert_eq!(
            authenticate(&d, &parts(&sig, "1000", body), 1_301_000, 300).map(|_| ()),
            Err(AuthError::StaleTimestamp)
        );
        assert_eq!(
            authenticate(&d, &parts(&sig, "soon", body), now, 300).map(|_| ()),
            Err(AuthError::MalformedTimestamp)
        );
        let mut p = parts(&sig, "1000", body);
        p.client_id = Some("other");
        assert_eq!(
            authenticate(&d, &p, now, 300).map(|_| ()),
            Err(AuthError::BadSignature)
        );
        p.client_id = None;
        assert_eq!(
            authenticate(&d, &p, now, 300).map(|_| ()),
            Err(AuthError::MissingHeader(CLIENT_HEADER))
        );
        let no_prefix = sig.trim_start_matches("v1=").to_string();
        assert_eq!(
            authenticate(&d, &parts(&no_prefix, "1000", body), now, 300).map(|_| ()),
            Err(AuthError::BadSignature)
        );
    }
}
