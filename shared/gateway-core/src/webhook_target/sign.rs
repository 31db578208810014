//! The signature of a webhook delivery, and its verification on the receiver's side.
//!
//! ```text
//! X-Gateway-Event:     conversation.escalated
//! X-Gateway-Event-Id:  <the event's id>
//! X-Gateway-Timestamp: 1765015200                      (Unix seconds, when it was sent)
//! X-Gateway-Signature: sha256=<hex HMAC-SHA256(webhook secret, "{timestamp}.{body}")>
//! ```
//!
//! The same `{timestamp}.{body}` form as `reply-api`'s `v1` signature (`delivery::auth`), with
//! the webhook's own secret. Each attempt is signed afresh with its own timestamp, so a
//! receiver can refuse stale deliveries (a replay) with a window, and compare in constant
//! time. Pure: the time is passed in.

use hmac::{Hmac, Mac};
use sha2::Sha256;
use subtle::ConstantTimeEq;

/// Header naming the event type.
pub const EVENT_HEADER: &str = "x-gateway-event";
/// Header carrying the event's id (stable across retries: the receiver's deduplication key).
pub const EVENT_ID_HEADER: &str = "x-gateway-event-id";
/// Header carrying the Unix-seconds timestamp the signature covers.
pub const TIMESTAMP_HEADER: &str = "x-gateway-timestamp";
/// Header carrying `sha256=<hex>`.
pub const SIGNATURE_HEADER: &str = "x-gateway-signature";
/// Prefix of the signature value.
pub const SIGNATURE_PREFIX: &str = "sha256=";

fn mac(secret: &str, timestamp: &str, body: &[u8]) -> Hmac<Sha256> {
    // `Hmac` accepts keys of any length (hashed when longer than a block).
    let mut mac = <Hmac<Sha256> as hmac::digest::KeyInit>::new_from_slice(secret.as_bytes())
        .unwrap_or_else(|_| <Hmac<Sha256> as hmac::digest::KeyInit>::new(&Default::default()));
    mac.update(timestamp.as_bytes());
    mac.update(b".");
    mac.update(body);
    mac
}

/// The `X-Gateway-Signature` value (`sha256=…`) of `body` sent at `timestamp`.
///
/// ```
/// use gateway_core::webhook_target::sign::sign;
/// let signature = sign("whsec-test-0123456789", 1765015200, br#"{"id":"evt-1"}"#);
/// assert!(signature.starts_with("sha256=") && signature.len() == 7 + 64);
/// ```
pub fn sign(secret: &str, timestamp: i64, body: &[u8]) -> String {
    let digest = mac(secret, &timestamp.to_string(), body)
        .finalize()
        .into_bytes();
    format!("{SIGNATURE_PREFIX}{}", hex::encode(digest))
}

/// Why a receiver refuses a delivery.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VerifyError {
    /// The timestamp is not an integer number of seconds.
    #[error("malformed timestamp")]
    MalformedTimestamp,
    /// The timestamp is outside the accepted window.
    #[error("timestamp outside the accepted window")]
    StaleTimestamp,
    /// The signature is missing, malformed or does not match.
    #[error("bad signature")]
    BadSignature,
}

/// What a receiver does with a delivery: checks that `timestamp` is within `window_secs` of
/// `now_secs` (either way), then compares `signature` with the expected one in constant time.
pub fn verify(
    secret: &str,
    timestamp: &str,
    signature: &str,
    body: &[u8],
    now_secs: i64,
    window_secs: i64,
) -> Result<(), VerifyError> {
    let sent: i64 = timestamp
        .parse()
        .map_err(|_| VerifyError::MalformedTimestamp)?;
    if now_secs.abs_diff(sent) > window_secs.unsigned_abs() {
        return Err(VerifyError::StaleTimestamp);
    }
    let given = signature
        .strip_prefix(SIGNATURE_PREFIX)
        .and_then(|h| hex::decode(h).ok())
        .ok_or(VerifyError::BadSignature)?;
    let expected = mac(secret, timestamp, body).finalize().into_bytes();
    if bool::from(expected.as_slice().ct_eq(&given)) {
        Ok(())
    } else {
        Err(VerifyError::BadSignature)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &str = "whsec-test-0123456789";
    const BODY: &[u8] = br#"{"version":1,"id":"evt-1","type":"conversation.escalated"}"#;

    #[test]
    fn signature_matches_an_independently_computed_vector() {
        // python3 -c "import hmac,hashlib; print(hmac.new(b'whsec-test-0123456789',
        //   b'1765015200.{\"version\":1,\"id\":\"evt-1\",\"type\":\"conversation.escalated\"}',
        //   hashlib.sha256).hexdigest())"
        assert_eq!(
            sign(SECRET, 1765015200, BODY),
            "sha256=ba8f29ae62b150fa6847b52f9e3bee2e6b9fcec00dbb8445e79ead53826846dd"
        );
    }

    #[test]
    fn receiver_accepts_a_fresh_signed_delivery_and_refuses_tampering() {
        let signature = sign(SECRET, 1765015200, BODY);
        assert_eq!(
            verify(SECRET, "1765015200", &signature, BODY, 1765015260, 300),
            Ok(())
        );
        let mut tampered = BODY.to_vec();
        tampered[5] ^= 1;
        assert_eq!(
            verify(SECRET, "1765015200", &signature, &tampered, 1765015200, 300),
            Err(VerifyError::BadSignature)
        );
        assert_eq!(
            verify(
                "another-secret-0123",
                "1765015200",
                &signature,
                BODY,
                1765015200,
                300
            ),
            Err(VerifyError::BadSignature)
        );
        // The timestamp is signed: moving it breaks the signature.
        assert_eq!(
            verify(SECRET, "1765015201", &signature, BODY, 1765015200, 300),
            Err(VerifyError::BadSignature)
        );
        assert_eq!(
            verify(
                SECRET,
                "1765015200",
                &signature,
                BODY,
                1765015200 + 301,
                300
            ),
            Err(VerifyError::StaleTimestamp)
        );
        assert_eq!(
            verify(SECRET, "soon", &signature, BODY, 1765015200, 300),
            Err(VerifyError::MalformedTimestamp)
        );
        assert_eq!(
            verify(SECRET, "1765015200", "v1=00", BODY, 1765015200, 300),
            Err(VerifyError::BadSignature)
        );
    }
}
