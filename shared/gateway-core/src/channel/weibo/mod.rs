//! Weibo fan-service platform (粉丝服务平台) push protocol: URL verification, request
//! signatures and push bodies, turned into a [`NormalizedMessage`].
//!
//! Owns: [`handle`] (the entry point the shared pipeline in `webhook.rs` calls), the JSON and
//! WeChat-compatible XML body mapping (`parse`), the dedupe key, and the request simulator
//! ([`simulate`]) for tests and tooling. Pure: no I/O, no clock (the request carries the time
//! it arrived), no logging; errors never contain the app secret or body content.
//!
//! Protocol (open.weibo.com Messages_api_start, Verify_Message_Authenticity,
//! Receive_General_Message, Receive_Event_Push):
//!
//! * Every request carries `signature`, `timestamp` (13-digit Unix **milliseconds**) and
//!   `nonce` in the query string; `signature = hex(sha1(sort(app_secret, timestamp, nonce)))`.
//!   The verification GET adds `echostr`, which is echoed back exactly. The signature does not
//!   cover the body, so the timestamp window is what limits replays.
//! * A POST body is a JSON object `{type, receiver_id, sender_id, created_at, text, data}`,
//!   or WeChat-compatible XML when the account chose that format (`account.format == Xml`)
//!   or the body starts with `<`.
//!
//! Decisions:
//!
//! * **Strict JSON.** Some official samples contain `//` comments, trailing commas or an
//!   unbalanced quote. They are documentation artefacts: the platform sends real JSON, so such
//!   bodies are refused with [`WebhookError::MalformedBody`] rather than accepted by a lenient
//!   parser that would widen what a forged body may look like. The fixtures in
//!   `events/weibo/messages` are the samples cleaned of those artefacts.
//! * **Bounded JSON.** Nesting deeper than 32 levels is refused by a linear pre-scan before
//!   serde_json runs (real pushes are 2 levels deep); the body size limit applies first.
//! * **Lenient where the platform may vary.** IDs may be JSON numbers or decimal strings
//!   (kept as canonical decimal strings, never through `f64`); `data` may be absent, `null`
//!   or a string holding the object; unknown `type`s become [`Content::Other`] and unknown
//!   event subtypes an event named after the lowercased subtype: accepted, never dropped.
//! * **Mentions** arrive as `type: "mention"` or as `type: "event"` with subtype `status` or
//!   `comment`; both become [`Content::Mention`].
//! * **No message id.** [`NormalizedMessage::platform_message_id`] is `None`; the dedupe key
//!   is derived from canonical fields (see `parse::dedupe_key`), or `mention:{subtype}:{id}`.

mod parse;
pub mod simulate;

pub(crate) use parse::parse_created_at;

use crate::account::{WeiboAccount, WeiboFormat};
use crate::channel::{
    HttpMethod, InboundRequest, Limits, TimestampUnit, WebhookError, WebhookOutcome,
    check_timestamp, reject_dtd, verify_sorted_sha1, xml,
};
use crate::message::{Channel, NormalizedMessage, RawPayload, SCHEMA_VERSION};

/// Verifies and parses one Weibo webhook request.
///
/// * GET (URL verification): requires `signature`, `timestamp`, `nonce` and `echostr`;
///   returns [`WebhookOutcome::Echo`] with `echostr` exactly as received.
/// * POST (push): requires `signature`, `timestamp`, `nonce`; returns
///   [`WebhookOutcome::Message`] with the normalized message.
///
/// The timestamp must be within [`Limits::max_clock_skew_secs`] of
/// [`InboundRequest::received_at_ms`]. When the account has a `receiver_uid`, a push for
/// another receiver is refused with [`WebhookError::ReceiverMismatch`].
///
/// ```
/// use gateway_core::account::{Secret, WeiboAccount, WeiboFormat};
/// use gateway_core::channel::{Limits, WebhookOutcome, weibo};
///
/// let account = WeiboAccount {
///     app_key: "123".into(),
///     app_secret: Secret::new("xyz123xyz"),
///     receiver_uid: Some("1902538057".into()),
///     access_token: None,
///     format: WeiboFormat::Json,
///     listening: None,
/// };
/// let body = r#"{"type":"text","receiver_id":1902538057,"sender_id":2489518277,
///     "created_at":"Mon Jul 16 18:09:20 +0800 2012","text":"hi","data":{}}"#;
/// let signed = weibo::simulate::push(&account, body, 1_397_022_061_823, "57155157");
/// let outcome = weibo::handle(&account, &signed.inbound("brand"), &Limits::default());
/// let Ok(WebhookOutcome::Message(message)) = outcome else { panic!("{outcome:?}") };
/// assert_eq!(message.sender_id, "2489518277");
/// assert_eq!(message.content.text(), Some("hi"));
/// ```
pub fn handle(
    account: &WeiboAccount,
    request: &InboundRequest<'_>,
    limits: &Limits,
) -> Result<WebhookOutcome, WebhookError> {
    match request.method {
        HttpMethod::Get => verify_url(account, request, limits),
        HttpMethod::Post => receive(account, request, limits),
        HttpMethod::Other => Err(WebhookError::MethodNotAllowed),
    }
}

/// The verification GET: check everything, then echo `echostr` unchanged.
fn verify_url(
    account: &WeiboAccount,
    request: &InboundRequest<'_>,
    limits: &Limits,
) -> Result<WebhookOutcome, WebhookError> {
    let echostr = request.required("echostr")?;
    if echostr.len() > limits.max_echostr_bytes {
        return Err(WebhookError::BodyTooLarge {
            limit: limits.max_echostr_bytes,
        });
    }
    verify_request(account, request, limits)?;
    Ok(WebhookOutcome::Echo(echostr.to_string()))
}

/// Checks `signature` over (app secret, timestamp, nonce), then the timestamp window.
///
/// The signature is checked first so that an unsigned request learns nothing about the
/// window. An empty app secret never verifies: otherwise a signature over just
/// (timestamp, nonce), computable by anyone, would pass.
fn verify_request(
    account: &WeiboAccount,
    request: &InboundRequest<'_>,
    limits: &Limits,
) -> Result<(), WebhookError> {
    let signature = request.required("signature")?;
    let timestamp = request.required("timestamp")?;
    let nonce = request.required("nonce")?;
    let secret = account.app_secret.expose();
    if secret.is_empty() {
        return Err(WebhookError::BadSignature);
    }
    verify_sorted_sha1(&[secret, timestamp, nonce], signature)?;
    check_timestamp(
        timestamp,
        TimestampUnit::Millis,
        request.received_at_ms,
        limits.max_clock_skew_secs,
    )
}

/// A push: verify, parse the body, check the receiver, normalize.
fn receive(
    account: &WeiboAccount,
    request: &InboundRequest<'_>,
    limits: &Limits,
) -> Result<WebhookOutcome, WebhookError> {
    verify_request(account, request, limits)?;
    if request.body.len() > limits.max_body_bytes {
        return Err(WebhookError::BodyTooLarge {
            limit: limits.max_body_bytes,
        });
    }
    let body = std::str::from_utf8(request.body)
        .map_err(|_| WebhookError::MalformedBody("body is not UTF-8".to_string()))?;
    let trimmed = body.trim_start_matches('\u{feff}').trim();
    if trimmed.is_empty() {
        return Err(WebhookError::MalformedBody("empty body".to_string()));
    }
    let push = if account.format == WeiboFormat::Xml || trimmed.starts_with('<') {
        reject_dtd(request.body)?;
        xml_push(trimmed)?
    } else {
        parse::from_json(trimmed)?
    };
    if let Some(uid) = &account.receiver_uid
        && parse::canonical_uid(uid) != push.receiver_id
    {
        return Err(WebhookError::ReceiverMismatch);
    }
    let content = parse::content(&push)?;
    let dedupe_key = parse::dedupe_key(&push);
    Ok(WebhookOutcome::Message(Box::new(NormalizedMessage {
        schema_version: SCHEMA_VERSION,
        channel: Channel::Weibo,
        account_id: request.account_id.to_string(),
        conversation_key: NormalizedMessage::conversation_key_for(
            Channel::Weibo,
            request.account_id,
            &push.sender_id,
        ),
        sender_id: push.sender_id,
        recipient_id: push.receiver_id,
        platform_message_id: None,
        dedupe_key,
        content,
        platform_time: push.platform_time,
        received_at_ms: request.received_at_ms,
        raw: RawPayload {
            format: push.format,
            body: body.to_string(),
        },
    })))
}

/// WeChat-compatible XML body: read by the shared hardened reader ([`xml::parse_fields`]:
/// no DTDs, no entities beyond the predefined five, capped depth and element count), then
/// mapped field by field (reference §2.5).
fn xml_push(body: &str) -> Result<parse::Push, WebhookError> {
    let doc = xml::parse_fields(body.as_bytes())?;
    parse::from_xml_fields(|name| doc.get(name))
}

#[cfg(test)]
mod tests;
