//! WeChat Official Account (公众号) message push protocol: URL verification (GET), message
//! push (POST) in plaintext, compatible and secure modes, normalization into
//! [`NormalizedMessage`](crate::message::NormalizedMessage), passive replies, and a platform
//! simulator for tests and tooling.
//!
//! The spec is the official Official Account docs (developers.weixin.qq.com, 消息推送 / 消息加解密说明). Submodules:
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
///   returns [`WebhookOutcome::Echo`] with `echostr` exactly. Official Accounts verify only
///   this way ("接入概述", the server-configuration check); nothing is ever decrypted for a
///   GET, so a captured push cannot be replayed as a verification to read it.
/// * POST: message push. `signature`, `timestamp`, `nonce` are required and checked in every
///   mode; `encrypt_type` absent or `raw` is plaintext, `aes` is encrypted (then
///   `msg_signature` is required and covers the `Encrypt` element; plaintext siblings in a
///   compatible-mode body are ignored). Only `plaintext` accounts take plaintext pushes: in
///   compatible mode the platform always sends the encrypted envelope, and the plain
///   `signature` does not cover the body, so a plaintext push to a compatible or secure account
///   could be forged by anyone holding one signed query. Signatures are checked before the
///   timestamp window (an unsigned request learns nothing about the clock).
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
        (WeChatMode::Secure | WeChatMode::Compatible, Wire::Plain) => {
            Err(WebhookError::ModeNotAllowed("plaintext"))
        }
        (WeChatMode::Plaintext, Wire::Aes) => Err(WebhookError::ModeNotAllowed("aes")),
        _ => Ok(()),
    }
}

fn verify_url(
    account: &WeChatAccount,
    request: &InboundRequest<'_>,
    limits: &Limits,
) -> Result<WebhookOutcome, WebhookError> {
    let signature = request.required("signature")?;
    let timestamp = request.required("timestamp")?;
    let nonce = request.required("nonce")?;
    let echostr = request.required("echostr")?;
    if echostr.len() > limits.max_echostr_bytes {
        return Err(WebhookError::BodyTooLarge {
            limit: limits.max_echostr_bytes,
        });
    }
    if account.token.is_empty() {
        return Err(WebhookError::BadSignature);
    }
    verify_sorted_sha1(&[account.token.expose(), timestamp, nonce], signature)?;
    check_timestamp(
        timestamp,
        TimestampUnit::Seconds,
        request.received_at_ms,
        limits.max_clock_skew_secs,
    )?;
    Ok(WebhookOutcome::Echo(echostr.to_string()))
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
    let token = account.token.expose();
    if token.is_empty() {
        // Only the webhook role's document holds tokens; an empty one never verifies.
        return Err(WebhookError::BadSignature);
    }
    verify_sorted_sha1(&[token, timestamp, nonce], signature)?;
    check_timestamp(
        timestamp,
        TimestampUnit::Seconds,
        request.received_at_ms,
        limits.max_clock_skew_secs,
    )?;
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
    check_addressing(account, &message.sender_id, &message.recipient_id)?;
    Ok(WebhookOutcome::Message(Box::new(message)))
}

/// A push is from a follower to the account: never from the account itself (a passive reply
/// the account sent, fed back as a push, has the account as `FromUserName`), and addressed to
/// the account's original id when the accounts document names it. Original ids start with
/// `gh_`; follower OpenIDs never do.
fn check_addressing(account: &WeChatAccount, from: &str, to: &str) -> Result<(), WebhookError> {
    if let Some(original_id) = &account.original_id
        && to != original_id
    {
        return Err(WebhookError::ReceiverMismatch);
    }
    let from_account =
        from == to || from.starts_with("gh_") || account.original_id.as_deref() == Some(from);
    if from_account {
        return Err(WebhookError::FromAccountItself);
    }
    Ok(())
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
