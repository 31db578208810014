//! Authentication of `reply-api` requests: an HMAC-SHA256 signature, with a shared secret per
//! API client (the accounts document's `api_clients`).
//!
//! ```text
//! X-Gateway-Client:    crm                       (the client id)
//! X-Gateway-Timestamp: 1714112445                (Unix seconds)
//! X-Gateway-Signature: v2=<hex HMAC-SHA256(secret, "v2\n{METHOD}\n{path}\n{client}\n{timestamp}\n{body}")>
//! ```
//!
//! `path` is the route as the API defines it, from `/replies` on (`/replies` or
//! `/replies/{reply_id}`) or from `/contacts` on (`/contacts/wechat/{account}/{unionid}`),
//! whatever stage or domain prefix the client's URL has; `METHOD` is
//! upper case. Signing the method, path and client id means a signature made for one request
//! cannot be used for another (a `GET` of one reply's status for another, or one client's
//! signature presented under another id).
//!
//! `v1=<hex HMAC-SHA256(secret, "{timestamp}.{body}")>` (timestamp and body only) is still
//! accepted for `POST /replies` while `accept_v1` is on (deprecated: answers carry a
//! `Deprecation` header), never for reading a reply's status.
//!
//! The timestamp must be within the configured window of the gateway's clock (either way),
//! which bounds replays; the reply's idempotency key (derived from client, timestamp and body
//! when the client gives none) makes a replay within the window harmless. The signature is
//! compared in constant time. Pure: the time is passed in.

use crate::account::{AccountsDocument, ApiClient};
use hmac::{Hmac, Mac};
use sha2::Sha256;
use subtle::ConstantTimeEq;

/// Header naming the API client.
pub const CLIENT_HEADER: &str = "x-gateway-client";
/// Header carrying the Unix-seconds timestamp.
pub const TIMESTAMP_HEADER: &str = "x-gateway-timestamp";
/// Header carrying `v2=<hex>` (or the deprecated `v1=<hex>`).
pub const SIGNATURE_HEADER: &str = "x-gateway-signature";
/// Version prefix of the current signature.
pub const SIGNATURE_PREFIX: &str = "v2=";
/// Version prefix of the deprecated signature (timestamp and body only).
pub const SIGNATURE_PREFIX_V1: &str = "v1=";

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
    /// A `v1` signature where only `v2` is accepted.
    #[error("this request needs a v2 signature (method, path, client, timestamp and body)")]
    VersionRefused,
}

impl AuthError {
    /// Machine-readable code for the JSON error body.
    pub fn code(&self) -> &'static str {
        match self {
            AuthError::MissingHeader(_) => "missing_header",
            AuthError::MalformedTimestamp => "malformed_timestamp",
            AuthError::StaleTimestamp => "stale_timestamp",
            AuthError::BadSignature => "bad_signature",
            AuthError::VersionRefused => "signature_version_refused",
        }
    }
}

/// The authentication parts of one request.
#[derive(Debug, Clone, Copy)]
pub struct SignedParts<'a> {
    /// The HTTP method, upper case.
    pub method: &'a str,
    /// The route path from `/replies` on.
    pub path: &'a str,
    /// `X-Gateway-Client`.
    pub client_id: Option<&'a str>,
    /// `X-Gateway-Timestamp`.
    pub timestamp: Option<&'a str>,
    /// `X-Gateway-Signature`.
    pub signature: Option<&'a str>,
    /// The raw body.
    pub body: &'a [u8],
}

/// A signature version.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Version {
    /// Timestamp and body only (deprecated).
    V1,
    /// Method, path, client id, timestamp and body.
    V2,
}

fn keyed(secret: &str) -> Hmac<Sha256> {
    // `Hmac` is `KeyInit`: keys of any length are accepted (hashed when longer than a block).
    <Hmac<Sha256> as hmac::digest::KeyInit>::new_from_slice(secret.as_bytes())
        .unwrap_or_else(|_| <Hmac<Sha256> as hmac::digest::KeyInit>::new(&Default::default()))
}

fn mac_v1(secret: &str, timestamp: &str, body: &[u8]) -> Hmac<Sha256> {
    let mut mac = keyed(secret);
    mac.update(timestamp.as_bytes());
    mac.update(b".");
    mac.update(body);
    mac
}

fn mac_v2(secret: &str, parts: &SignedParts<'_>, client: &str, timestamp: &str) -> Hmac<Sha256> {
    let mut mac = keyed(secret);
    for field in ["v2", parts.method, parts.path, client, timestamp] {
        mac.update(field.as_bytes());
        mac.update(b"\n");
    }
    mac.update(parts.body);
    mac
}

/// The `X-Gateway-Signature` value (`v2=…`) for a request by `client` sent at `timestamp`.
pub fn sign(
    secret: &str,
    method: &str,
    path: &str,
    client: &str,
    timestamp: i64,
    body: &[u8],
) -> String {
    let parts = SignedParts {
        method,
        path,
        client_id: Some(client),
        timestamp: None,
        signature: None,
        body,
    };
    let tag = mac_v2(secret, &parts, client, &timestamp.to_string())
        .finalize()
        .into_bytes();
    format!("{SIGNATURE_PREFIX}{}", hex::encode(tag))
}

/// The deprecated `v1=…` signature (timestamp and body only).
pub fn sign_v1(secret: &str, timestamp: i64, body: &[u8]) -> String {
    let tag = mac_v1(secret, &timestamp.to_string(), body)
        .finalize()
        .into_bytes();
    format!("{SIGNATURE_PREFIX_V1}{}", hex::encode(tag))
}

fn present<'a>(v: Option<&'a str>, name: &'static str) -> Result<&'a str, AuthError> {
    v.map(str::trim)
        .filter(|s| !s.is_empty())
        .ok_or(AuthError::MissingHeader(name))
}

/// Who signed a request, and how.
#[derive(Debug, Clone, Copy)]
pub struct Authenticated<'d> {
    /// The client id.
    pub client_id: &'d str,
    /// Its configuration.
    pub client: &'d ApiClient,
    /// The signature version used.
    pub version: Version,
    /// The signed timestamp (Unix seconds).
    pub timestamp: i64,
}

/// Authenticates a request. `accept_v1`: whether a `v1` signature is still taken for this
/// request.
pub fn authenticate<'d>(
    accounts: &'d AccountsDocument,
    parts: &SignedParts<'_>,
    now_ms: i64,
    window_secs: i64,
    accept_v1: bool,
) -> Result<Authenticated<'d>, AuthError> {
    let client_id = present(parts.client_id, CLIENT_HEADER)?;
    let timestamp = present(parts.timestamp, TIMESTAMP_HEADER)?;
    let signature = present(parts.signature, SIGNATURE_HEADER)?;
    let ts: i64 = timestamp
        .parse()
        .map_err(|_| AuthError::MalformedTimestamp)?;
    // abs_diff: no overflow for any i64 the client sends (i64::MIN included).
    if now_ms.div_euclid(1000).abs_diff(ts) > window_secs.unsigned_abs() {
        return Err(AuthError::StaleTimestamp);
    }
    let Some((id, client)) = accounts.api_clients.get_key_value(client_id) else {
        return Err(AuthError::BadSignature);
    };
    let (version, hex_tag) = if let Some(h) = signature.strip_prefix(SIGNATURE_PREFIX) {
        (Version::V2, h)
    } else if let Some(h) = signature.strip_prefix(SIGNATURE_PREFIX_V1) {
        if !accept_v1 {
            return Err(AuthError::VersionRefused);
        }
        (Version::V1, h)
    } else {
        return Err(AuthError::BadSignature);
    };
    let given = hex::decode(hex_tag).map_err(|_| AuthError::BadSignature)?;
    let secret = client.secret.expose();
    let expected = match version {
        Version::V2 => mac_v2(secret, parts, id, timestamp).finalize().into_bytes(),
        Version::V1 => mac_v1(secret, timestamp, parts.body)
            .finalize()
            .into_bytes(),
    };
    if bool::from(expected.as_slice().ct_eq(given.as_slice())) {
        Ok(Authenticated {
            client_id: id.as_str(),
            client,
            version,
            timestamp: ts,
        })
    } else {
        Err(AuthError::BadSignature)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DOC: &str = r#"{"wechat":{"demo":{"app_id":"wx1","token":"t"}},
        "api_clients":{"crm":{"secret":"0123456789abcdef-crm","accounts":["wechat:demo"]},
                       "other":{"secret":"0123456789abcdef-oth","accounts":["wechat:demo"]}}}"#;

    fn doc() -> AccountsDocument {
        AccountsDocument::from_json(DOC).expect("valid")
    }

    fn parts<'a>(sig: &'a str, ts: &'a str, body: &'a [u8]) -> SignedParts<'a> {
        SignedParts {
            method: "POST",
            path: "/replies",
            client_id: Some("crm"),
            timestamp: Some(ts),
            signature: Some(sig),
            body,
        }
    }

    fn auth(p: &SignedParts<'_>, now_ms: i64) -> Result<Version, AuthError> {
        authenticate(&doc(), p, now_ms, 300, true).map(|a| a.version)
    }

    #[test]
    fn signatures_match_an_independent_openssl_computation() {
        // printf '%s' '1714112445.{"a":1}' | openssl dgst -sha256 -hmac '0123456789abcdef-crm'
        assert_eq!(
            sign_v1("0123456789abcdef-crm", 1714112445, br#"{"a":1}"#),
            "v1=7129af3e5f3cf231bc231983f36c3e5ee417acf87aa0d6b3fc9841842dae4292"
        );
        // printf 'v2\nPOST\n/replies\ncrm\n1714112445\n{"a":1}' | openssl dgst -sha256 -hmac '0123456789abcdef-crm'
        assert_eq!(
            sign(
                "0123456789abcdef-crm",
                "POST",
                "/replies",
                "crm",
                1714112445,
                br#"{"a":1}"#
            ),
            "v2=6852d08e702cbd180168ce1572336ffb6ab42b89ceeda28e1fa744aec01e9717"
        );
    }

    #[test]
    fn accepts_a_correct_signature_within_the_window() {
        let body = br#"{"x":"y"}"#;
        let sig = sign(
            "0123456789abcdef-crm",
            "POST",
            "/replies",
            "crm",
            1_000,
            body,
        );
        assert_eq!(auth(&parts(&sig, "1000", body), 1_200_000), Ok(Version::V2));
        let v1 = sign_v1("0123456789abcdef-crm", 1_000, body);
        assert_eq!(auth(&parts(&v1, "1000", body), 1_200_000), Ok(Version::V1));
        // v1 switched off: refused with a clear code.
        assert_eq!(
            authenticate(&doc(), &parts(&v1, "1000", body), 1_200_000, 300, false).map(|_| ()),
            Err(AuthError::VersionRefused)
        );
    }

    #[test]
    fn v2_binds_method_path_and_client() {
        let body = b"";
        let sig = sign(
            "0123456789abcdef-crm",
            "GET",
            "/replies/aa",
            "crm",
            1_000,
            body,
        );
        let mut p = parts(&sig, "1000", body);
        p.method = "GET";
        p.path = "/replies/aa";
        assert_eq!(auth(&p, 1_000_000), Ok(Version::V2));
        p.path = "/replies/bb";
        assert_eq!(auth(&p, 1_000_000), Err(AuthError::BadSignature));
        p.path = "/replies/aa";
        p.method = "POST";
        assert_eq!(auth(&p, 1_000_000), Err(AuthError::BadSignature));
        // The same secret under another client id: the id is signed too.
        let shared = AccountsDocument::from_json(
            r#"{"wechat":{"demo":{"app_id":"wx1","token":"t"}},
                "api_clients":{"crm":{"secret":"0123456789abcdef-crm","accounts":["wechat:demo"]},
                               "twin":{"secret":"0123456789abcdef-crm","accounts":["wechat:demo"]}}}"#,
        )
        .expect("valid");
        let mut p = parts(&sig, "1000", body);
        p.method = "GET";
        p.path = "/replies/aa";
        p.client_id = Some("twin");
        assert_eq!(
            authenticate(&shared, &p, 1_000_000, 300, true).map(|_| ()),
            Err(AuthError::BadSignature)
        );
    }

    #[test]
    fn refuses_tampering_staleness_unknown_clients_and_missing_headers() {
        let body = br#"{"x":"y"}"#;
        let sig = sign(
            "0123456789abcdef-crm",
            "POST",
            "/replies",
            "crm",
            1_000,
            body,
        );
        let now = 1_000_000;
        assert_eq!(
            auth(&parts(&sig, "1000", br#"{"x":"z"}"#), now),
            Err(AuthError::BadSignature)
        );
        assert_eq!(
            auth(&parts(&sig, "1001", body), now),
            Err(AuthError::BadSignature)
        );
        assert_eq!(
            auth(&parts(&sig, "1000", body), 1_301_000),
            Err(AuthError::StaleTimestamp)
        );
        assert_eq!(
            auth(&parts(&sig, "soon", body), now),
            Err(AuthError::MalformedTimestamp)
        );
        // Extreme timestamps are stale, never an arithmetic overflow.
        for extreme in [i64::MIN.to_string(), i64::MAX.to_string()] {
            assert_eq!(
                auth(&parts(&sig, &extreme, body), now),
                Err(AuthError::StaleTimestamp)
            );
            assert_eq!(
                auth(&parts(&sig, "0", body), i64::MIN),
                Err(AuthError::StaleTimestamp)
            );
        }
        let mut p = parts(&sig, "1000", body);
        p.client_id = Some("nobody");
        assert_eq!(auth(&p, now), Err(AuthError::BadSignature));
        p.client_id = None;
        assert_eq!(auth(&p, now), Err(AuthError::MissingHeader(CLIENT_HEADER)));
        let no_prefix = sig.trim_start_matches("v2=").to_string();
        assert_eq!(
            auth(&parts(&no_prefix, "1000", body), now),
            Err(AuthError::BadSignature)
        );
    }
}
