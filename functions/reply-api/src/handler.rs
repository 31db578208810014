//! The request handler of `reply-api` (API Gateway HTTP API v2 or a Function URL): agents and CRM
//! systems submit replies, authenticated with an HMAC-SHA256 signature
//! ([`gateway_core::delivery::auth`]); each accepted reply becomes a [`ReplyCommand`] with
//! `origin: agent` on the outbound queue.
//!
//! * `POST …/replies`: 202 `{"reply_id","status":"queued","conversation_key"}`.
//! * `GET …/replies/{reply_id}`: the reply's delivery state (signed with `v2` over an empty
//!   body), for the client that created the reply only (any other client gets 404).
//! * `PUT|GET|DELETE …/contacts/wechat/{account}/{unionid}`: the name the client's CRM knows a
//!   WeChat customer by, shown by the desk ([`contacts`]).
//!
//! Idempotency: the reply id is derived from the client and its `idempotency_key`, or, when
//! the request has none, from the client, the signed timestamp and the body, so a replayed or
//! retried request is the same reply (queued again harmlessly, sent once). A key reused for
//! another conversation or content is refused with 409 `idempotency_key_reused`.
//!
//! Every refusal is a 4xx with `{"error": code, "message": …}` and a `warn` log without the
//! body; content and secrets are never logged.
//!
//! [`ReplyCommand`]: gateway_core::outbound::ReplyCommand

use gateway_core::delivery::api::ReplyRequest;
use gateway_core::delivery::auth::{
    self, CLIENT_HEADER, SIGNATURE_HEADER, SignedParts, TIMESTAMP_HEADER, Version,
};
use gateway_core::delivery::ports::{ApiRequestLedger, ApiRequestRecord, DeliveryLedger};
use gateway_core::message::Channel;
use gateway_core::ports::{AccountDirectory, ConversationStore, ReplyQueue};
use gateway_core::profile::crm::CrmContacts;
use lambda_http::http::{Method, StatusCode};
use lambda_http::{Body, Request, Response};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use std::sync::Arc;

/// What the reply API needs.
#[derive(Clone)]
pub struct ReplyApi {
    /// Accounts and API clients.
    pub accounts: Arc<dyn AccountDirectory>,
    /// Conversations.
    pub conversations: Arc<dyn ConversationStore>,
    /// Outbound queue.
    pub queue: Arc<dyn ReplyQueue>,
    /// Delivery records (status lookups).
    pub ledger: Arc<dyn DeliveryLedger>,
    /// Accepted requests (idempotency scope, ownership of reply ids).
    pub requests: Arc<dyn ApiRequestLedger>,
    /// The names CRMs set for WeChat customers.
    pub contacts: Arc<dyn CrmContacts>,
    /// Whether `v1` signatures are still taken for `POST /replies`.
    pub accept_v1: bool,
    /// Signature timestamp window, seconds.
    pub max_clock_skew_secs: i64,
    /// Body limit, bytes.
    pub max_body_bytes: usize,
}

/// How long request records are kept (as long as delivery records).
pub const REQUEST_TTL_SECS: i64 = 30 * 86_400;

/// A refusal: status, code, message.
struct Refusal(u16, &'static str, String);

impl Refusal {
    fn new(status: u16, code: &'static str, message: impl Into<String>) -> Self {
        Refusal(status, code, message.into())
    }
}

fn respond(status: u16, body: Value) -> Response<Body> {
    let mut response = Response::new(Body::Text(body.to_string()));
    *response.status_mut() =
        StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    response.headers_mut().insert(
        lambda_http::http::header::CONTENT_TYPE,
        lambda_http::http::HeaderValue::from_static("application/json"),
    );
    response
}

/// Handles one HTTP request.
pub async fn handle_request(api: &ReplyApi, request: Request) -> Response<Body> {
    handle_request_at(api, request, gateway_lambda::now_ms()).await
}

/// Handles one HTTP request at `now_ms`.
pub async fn handle_request_at(api: &ReplyApi, request: Request, now_ms: i64) -> Response<Body> {
    let path = request.uri().path().trim_end_matches('/').to_string();
    let method = request.method().clone();
    let result = match (method.clone(), route(&path)) {
        (Method::POST, Route::Replies) => submit(api, &request, now_ms).await,
        (Method::GET, Route::Reply(id)) => status(api, &request, &id, now_ms).await,
        (_, Route::Contact(path)) => contacts::handle(api, &request, &path, now_ms).await,
        (_, Route::Replies | Route::Reply(_)) => Err(Refusal::new(
            405,
            "method_not_allowed",
            "use POST /replies or GET /replies/{reply_id}",
        )),
        (_, Route::Unknown) => Err(Refusal::new(404, "not_found", "no such route")),
    };
    match result {
        Ok((status, body, version)) => {
            let mut response = respond(status, body);
            if version == Version::V1 {
                // RFC 9745: the v1 signature is deprecated (docs/replies.md says until when).
                response.headers_mut().insert(
                    "deprecation",
                    lambda_http::http::HeaderValue::from_static("true"),
                );
            }
            response
        }
        Err(Refusal(status, code, message)) => {
            if status >= 500 {
                tracing::error!(status, error.code = code, error.message = %message, "reply request failed");
            } else {
                tracing::warn!(status, error.code = code, error.message = %message, method = %method, "reply request refused");
            }
            respond(status, json!({ "error": code, "message": message }))
        }
    }
}

enum Route {
    Replies,
    Reply(String),
    Contact(contacts::ContactPath),
    Unknown,
}

/// The signed form of a route: the path from `/replies` on, whatever prefix is before it.
fn signed_path(route: &Route) -> String {
    match route {
        Route::Replies => "/replies".into(),
        Route::Reply(id) => format!("/replies/{id}"),
        Route::Contact(p) => format!("/contacts/{}/{}/{}", p.channel, p.account, p.unionid),
        Route::Unknown => String::new(),
    }
}

/// `…/replies`, `…/replies/{id}` or `…/contacts/{channel}/{account}/{unionid}` (behind any
/// stage or Function URL prefix).
fn route(path: &str) -> Route {
    let segments: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
    match segments.iter().rposition(|s| *s == "replies") {
        Some(i) if i + 1 == segments.len() => return Route::Replies,
        Some(i) if i + 2 == segments.len() => return Route::Reply(segments[i + 1].to_string()),
        _ => {}
    }
    match segments.iter().rposition(|s| *s == "contacts") {
        Some(i) if i + 4 == segments.len() => Route::Contact(contacts::ContactPath {
            channel: segments[i + 1].to_string(),
            account: segments[i + 2].to_string(),
            unionid: segments[i + 3].to_string(),
        }),
        _ => Route::Unknown,
    }
}

fn header<'r>(request: &'r Request, name: &str) -> Option<&'r str> {
    request.headers().get(name).and_then(|v| v.to_str().ok())
}

fn body_bytes(request: &Request) -> &[u8] {
    match request.body() {
        Body::Text(t) => t.as_bytes(),
        Body::Binary(b) => b,
        _ => &[],
    }
}

/// The request's body, refused with 413 over `MAX_BODY_BYTES`.
fn bounded_body<'r>(api: &ReplyApi, request: &'r Request) -> Result<&'r [u8], Refusal> {
    let body = body_bytes(request);
    if body.len() > api.max_body_bytes {
        return Err(Refusal::new(
            413,
            "body_too_large",
            format!("the limit is {} bytes", api.max_body_bytes),
        ));
    }
    Ok(body)
}

/// Who sent a request.
struct Caller {
    accounts: Arc<gateway_core::account::AccountsDocument>,
    client_id: String,
    version: Version,
    timestamp: i64,
}

async fn authenticated(
    api: &ReplyApi,
    request: &Request,
    body: &[u8],
    now_ms: i64,
    accept_v1: bool,
) -> Result<Caller, Refusal> {
    let accounts = api
        .accounts
        .accounts()
        .await
        .map_err(|e| Refusal::new(503, "unavailable", format!("accounts unavailable: {e}")))?;
    let route = route(request.uri().path().trim_end_matches('/'));
    let path = signed_path(&route);
    let parts = SignedParts {
        method: request.method().as_str(),
        path: &path,
        client_id: header(request, CLIENT_HEADER),
        timestamp: header(request, TIMESTAMP_HEADER),
        signature: header(request, SIGNATURE_HEADER),
        body,
    };
    let who = auth::authenticate(
        &accounts,
        &parts,
        now_ms,
        api.max_clock_skew_secs,
        accept_v1,
    )
    .map_err(|e| Refusal::new(401, e.code(), e.to_string()))?;
    let (client_id, version, timestamp) = (who.client_id.to_string(), who.version, who.timestamp);
    Ok(Caller {
        accounts,
        client_id,
        version,
        timestamp,
    })
}

/// The idempotency key of a request that has none: the same signed request (a replay or a
/// client's retry) is the same reply.
fn derived_key(client_id: &str, timestamp: i64, body: &[u8]) -> String {
    let mut h = Sha256::new();
    h.update(client_id.as_bytes());
    h.update(b"\n");
    h.update(timestamp.to_string().as_bytes());
    h.update(b"\n");
    h.update(body);
    hex::encode(&h.finalize()[..16])
}

/// What a request asked, for comparing two uses of one idempotency key.
fn request_digest(command: &gateway_core::outbound::ReplyCommand) -> Result<String, Refusal> {
    let content = serde_json::to_vec(&command.content)
        .map_err(|e| Refusal::new(500, "internal", format!("cannot encode the content: {e}")))?;
    let mut h = Sha256::new();
    h.update(command.conversation_key.as_bytes());
    h.update(b"\n");
    h.update(&content);
    Ok(hex::encode(h.finalize()))
}

async fn submit(
    api: &ReplyApi,
    request: &Request,
    now_ms: i64,
) -> Result<(u16, Value, Version), Refusal> {
    let body = bounded_body(api, request)?;
    let Caller {
        accounts,
        client_id,
        version,
        timestamp,
    } = authenticated(api, request, body, now_ms, api.accept_v1).await?;
    let reply =
        ReplyRequest::parse(body).map_err(|e| Refusal::new(e.status(), e.code(), e.to_string()))?;
    let target = reply
        .target()
        .map_err(|e| Refusal::new(e.status(), e.code(), e.to_string()))?;
    let known = match target.channel {
        Channel::WeChat => accounts.wechat.contains_key(&target.account_id),
        Channel::Weibo => accounts.weibo.contains_key(&target.account_id),
    };
    if !known {
        return Err(Refusal::new(
            404,
            "unknown_account",
            format!("no {} account `{}`", target.channel, target.account_id),
        ));
    }
    let allowed = accounts
        .api_clients
        .get(&client_id)
        .is_some_and(|c| c.may_reply_for(target.channel, &target.account_id));
    if !allowed {
        return Err(Refusal::new(
            403,
            "account_not_allowed",
            format!(
                "client `{client_id}` may not reply for {}:{}",
                target.channel, target.account_id
            ),
        ));
    }
    match api.conversations.load(&target.conversation_key).await {
        Ok(Some(_)) => {}
        Ok(None) => {
            return Err(Refusal::new(
                404,
                "unknown_conversation",
                format!("no conversation `{}`", target.conversation_key),
            ));
        }
        Err(e) => {
            return Err(Refusal::new(
                503,
                "unavailable",
                format!("conversations unavailable: {e}"),
            ));
        }
    }
    let generated_key = derived_key(&client_id, timestamp, body);
    let command = reply
        .into_command(&client_id, &generated_key, now_ms)
        .map_err(|e| Refusal::new(e.status(), e.code(), e.to_string()))?;
    let record = ApiRequestRecord {
        reply_id: command.dedupe_id(),
        client_id: client_id.clone(),
        request_digest: request_digest(&command)?,
        conversation_key: command.conversation_key.clone(),
        created_at_ms: now_ms,
    };
    let earlier = api.requests.record_once(&record).await.map_err(|e| {
        Refusal::new(
            503,
            "unavailable",
            format!("request records unavailable: {e}"),
        )
    })?;
    if let Some(earlier) = earlier
        && earlier.request_digest != record.request_digest
    {
        return Err(Refusal::new(
            409,
            "idempotency_key_reused",
            "this idempotency key was used for another conversation or content; use a new key",
        ));
    }
    // A repeat of an accepted request is queued again: the queue's deduplication and the
    // sender's delivery record make it one reply, and a first attempt that failed to queue
    // is completed.
    api.queue
        .enqueue(&command)
        .await
        .map_err(|e| Refusal::new(503, "unavailable", format!("queue unavailable: {e}")))?;
    let reply_id = command.dedupe_id();
    tracing::info!(
        client = %client_id,
        reply_id,
        channel = %command.channel,
        account = %command.account_id,
        kind = command.content.kind(),
        "agent reply queued"
    );
    Ok((
        202,
        json!({
            "reply_id": reply_id,
            "status": "queued",
            "conversation_key": command.conversation_key,
        }),
        version,
    ))
}

async fn status(
    api: &ReplyApi,
    request: &Request,
    reply_id: &str,
    now_ms: i64,
) -> Result<(u16, Value, Version), Refusal> {
    // Reading a status always needs v2: its path (the reply id) must be signed.
    let caller = authenticated(api, request, body_bytes(request), now_ms, false).await?;
    if reply_id.len() != 64 || !reply_id.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(Refusal::new(
            400,
            "invalid_reply_id",
            "a reply id is 64 hex characters",
        ));
    }
    let owner = api.requests.get_request(reply_id).await.map_err(|e| {
        Refusal::new(
            503,
            "unavailable",
            format!("request records unavailable: {e}"),
        )
    })?;
    // Another client's reply is answered as if it did not exist.
    if owner.is_none_or(|r| r.client_id != caller.client_id) {
        return Err(Refusal::new(
            404,
            "not_found",
            "no such reply for this client",
        ));
    }
    let record = api.ledger.get(reply_id).await.map_err(|e| {
        Refusal::new(
            503,
            "unavailable",
            format!("delivery records unavailable: {e}"),
        )
    })?;
    let body = match record {
        None => json!({ "reply_id": reply_id, "state": "pending" }),
        Some(r) => json!({
            "reply_id": reply_id,
            "state": r.state.as_str(),
            "sent_at_ms": r.sent_at_ms,
            "reason": r.reason,
            "error_code": r.error_code,
            "platform_id": r.platform_id,
            // A template message held for its account's daily quota: when it is tried again.
            "retry_at_ms": r.retry_at_ms,
        }),
    };
    Ok((200, body, caller.version))
}

mod contacts;

#[cfg(test)]
mod tests;
