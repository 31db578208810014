//! WeChat Official Account (公众号) message push protocol: URL verification (GET), message
//! push (POST) in plaintext, compatible and secure modes, normalization into
//! [`NormalizedMessage`](crate::message::NormalizedMessage), passive replies, and a platform
//! simulator for tests and tooling.
//!
//! The spec is `wechat-protocol.md` (a digest of the official docs). Submodules:
//!
//! * [`crypto`]: key derivation, AES-256-CBC with 32-byte PKCS#7, framing, reply envelope;
//! * [`parse`]: inner message → normalized message, event names, dedupe keys;
//! * [`reply`]: passive reply XML;
//! * [`simulate`]: what the platform would send, correctly signed.
//!
//! Pure: no I/O. The current time arrives in the request; randomness (replies, simulator) has
//! injectable variants.

pub mod crypto;
pub mod parse;
pub mod reply;
pub mod simulate;

#[cfg(test)]
mod tests;

use crate::account::{WeChatAccount, WeChatMode};
use crate::channel::{
    HttpMethod, InboundRequest, Limits, TimestampUnit, WebhookError, WebhookOutcome,
    check_timestamp, verify_sorted_sha1, xml,
};
use crypto::AesKey;

/// Verifies and parses one WeChat webhook request.
///
/// * GET: URL verification. `signature`, `timestamp`, `nonce`, `echostr` are required;
///   returns [`WebhookOutcome::Echo`] with `echostr` exactly. A GET without `signature` but
///   with `msg_signature` is taken as a WeCom-style encrypted verification: the decrypted
///   echo is returned.
/// * POST: message push. `signature`, `timestamp`, `nonce` are required and checked in every
///   mode; `encrypt_type` absent or `raw` is plaintext, `aes` is encrypted (then
///   `msg_signature` is required and covers the `Encrypt` element; plaintext siblings in a
///   compatible-mode body are ignored). The account's mode decides which are accepted.
/// * Anything else: [`WebhookError::MethodNotAllowed`].
pub fn handle(
    account: &WeChatAccount,
    request: &InboundRequest<'_>,
    limits: &Limits,
) -> Result<WebhookOutcome, WebhookError> {
    match request.method {
        HttpMethod::Get => verify_url(account, request, limits),
        HttpMethod::Post => receive(account, request, limits),
        HttpMethod::Other => Err(WebhookError::MethodNotAllowed),
    }
}

/// Whether a request carries a plaintext or an encrypted message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Wire {
    Plain,
    Aes,
}

fn wire_mode(request: &InboundRequest<'_>) -> Result<Wire, WebhookError> {
    match request.optional("encrypt_type") {
        None | Some("raw") => Ok(Wire::Plain),
        Some("aes") => Ok(Wire::Aes),
        Some(_) => Err(WebhookError::InvalidParameter("encrypt_type")),
    }
}

fn allow(account: &WeChatAccount, wire: Wire) -> Result<(), WebhookError> {
    match (account.mode, wire) {
        (WeChatMode::Secure, Wire::Plain) => Err(WebhookError::ModeNotAllowed("plaintext")),
        (WeChatMode::Plaintext, Wire::Aes) => Err(WebhookError::ModeNotAllowed("aes")),
        _ => Ok(()),
    }
}

fn verify_url(
    account: &WeChatAccount,
    request: &InboundRequest<'_>,
    limits: &Limits,
) -> Result<WebhookOutcome, WebhookError> {
    if request.optional("signature").is_none() && request.optional("msg_signature").is_some() {
        return verify_url_encrypted(account, request, limits);
    }
    let signature = request.required("signature")?;
    let timestamp = request.required("timestamp")?;
    let nonce = request.required("nonce")?;
    let echostr = request.required("echostr")?;
    if echostr.len() > limits.max_echostr_bytes {
        return Err(WebhookError::BodyTooLarge {
            limit: limits.max_echostr_bytes,
        });
    }
    check_timestamp(
        timestamp,
        TimestampUnit::Seconds,
        request.received_at_ms,
        limits.max_clock_skew_secs,
    )?;
    verify_sorted_sha1(&[account.token.expose(), timestamp, nonce], signature)?;
    Ok(WebhookOutcome::Echo(echostr.to_string()))
}

/// WeCom-style verification: `msg_signature` over the encrypted `echostr`, which decrypts to
/// the text to echo.
fn verify_url_encrypted(
    account: &WeChatAccount,
    request: &InboundRequest<'_>,
    limits: &Limits,
) -> Result<WebhookOutcome, WebhookError> {
    let msg_signature = request.required("msg_signature")?;
    let timestamp = request.required("timestamp")?;
    let nonce = request.required("nonce")?;
    let echostr = request.required("echostr")?;
    wire_mode(request)?;
    if echostr.len() > limits.max_echostr_bytes {
        return Err(WebhookError::BodyTooLarge {
            limit: limits.max_echostr_bytes,
        });
    }
    check_timestamp(
        timestamp,
        TimestampUnit::Seconds,
        request.received_at_ms,
        limits.max_clock_skew_secs,
    )?;
    verify_sorted_sha1(
        &[account.token.expose(), timestamp, nonce, echostr],
        msg_signature,
    )?;
    allow(account, Wire::Aes)?;
    let echo = decrypt_with_rotation(account, echostr)?;
    String::from_utf8(echo)
        .map(WebhookOutcome::Echo)
        .map_err(|_| WebhookError::MalformedBody("decrypted echostr is not UTF-8".into()))
}

fn receive(
    account: &WeChatAccount,
    request: &InboundRequest<'_>,
    limits: &Limits,
) -> Result<WebhookOutcome, WebhookError> {
    let signature = request.required("signature")?;
    let timestamp = request.required("timestamp")?;
    let nonce = request.required("nonce")?;
    let wire = wire_mode(request)?;
    let msg_signature = match wire {
        Wire::Aes => Some(request.required("msg_signature")?),
        Wire::Plain => None,
    };
    if request.body.len() > limits.max_body_bytes {
        return Err(WebhookError::BodyTooLarge {
            limit: limits.max_body_bytes,
        });
    }
    check_timestamp(
        timestamp,
        TimestampUnit::Seconds,
        request.received_at_ms,
        limits.max_clock_skew_secs,
    )?;
    let token = account.token.expose();
    verify_sorted_sha1(&[token, timestamp, nonce], signature)?;
    allow(account, wire)?;

    let inner = match msg_signature {
        None => std::str::from_utf8(request.body)
            .map_err(|_| WebhookError::MalformedBody("body is not UTF-8".into()))?
            .to_string(),
        Some(msg_signature) => {
            let outer = xml::parse_fields(request.body)?;
            let encrypt = outer
                .non_empty("Encrypt")
                .ok_or(WebhookError::MissingField("Encrypt"))?;
            verify_sorted_sha1(&[token, timestamp, nonce, encrypt], msg_signature)?;
            let plain = decrypt_with_rotation(account, encrypt)?;
            String::from_utf8(plain)
                .map_err(|_| WebhookError::MalformedBody("decrypted message is not UTF-8".into()))?
        }
    };
    let message = parse::normalize(
        &inner,
        parse::Received {
            account_id: request.account_id,
            received_at_ms: request.received_at_ms,
        },
    )?;
    Ok(WebhookOutcome::Message(Box::new(message)))
}

/// Decrypts with the current EncodingAESKey, then with the previous one (key rotation). The
/// current key's error is reported when both fail. An account without any usable key cannot
/// take encrypted pushes ([`WebhookError::ModeNotAllowed`]`("aes")`).
fn decrypt_with_rotation(account: &WeChatAccount, encrypt: &str) -> Result<Vec<u8>, WebhookError> {
    let keys = [
        &account.encoding_aes_key,
        &account.previous_encoding_aes_key,
    ]
    .into_iter()
    .flatten()
    .filter_map(|k| AesKey::from_encoding_aes_key(k.expose()).ok());
    let mut first_error = None;
    for key in keys {
        match crypto::decrypt_for(&key, &account.app_id, encrypt) {
            Ok(msg) => return Ok(msg),
            // Key-independent: another key cannot help.
            Err(WebhookError::BadBase64) => return Err(WebhookError::BadBase64),
            Err(e) => {
                first_error.get_or_insert(e);
            }
        }
    }
    Err(first_error.unwrap_or(WebhookError::ModeNotAllowed("aes")))
}
