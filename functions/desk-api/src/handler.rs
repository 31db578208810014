//! Routes, identity and answers of the desk API. Each route reads and writes through the
//! desk's ports; what a change does to a conversation is `gateway_core::desk`'s business.
//!
//! - `handler/conversations.rs`: lists, their counts, take next, one conversation, its thread and audit
//!   trail, changes, replies, notes;
//! - `handler/media.rs`: media links of the thread, an agent's file for WeChat (`POST /media`);
//! - `handler/people.rs`: the caller, agent profiles, canned responses;
//! - `handler/stats.rs`: statistics;
//! - `handler/views.rs`: the JSON the routes answer with.

mod conversations;
mod crm;
#[cfg(test)]
mod crm_tests;
mod media;
#[cfg(test)]
mod media_tests;
mod people;
#[cfg(test)]
mod public_tests;
mod stats;
#[cfg(test)]
mod template_tests;
#[cfg(test)]
mod tests;
mod views;

use async_trait::async_trait;
use gateway_core::Channel;
use gateway_core::delivery::window::ReplyPolicy;
use gateway_core::desk::ports::{DeskStore, PageError};
use gateway_core::desk::{Caller, Role};
use gateway_core::ports::{PortError, ReplyQueue, RulesSource};
use gateway_core::profile::crm::CrmContacts;
use gateway_core::sla::ports::Inboxes;
use gateway_core::stats::DailyRecord;
use lambda_http::http::{HeaderValue, Method, StatusCode};
use lambda_http::{Body, Request, RequestExt, Response};
use serde_json::{Value, json};
use std::sync::Arc;

pub use media::{DEFAULT_MAX_UPLOAD_BYTES, MediaSettings, Uploads};

/// Who a valid access token names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    /// The sign-in user name: the agent id.
    pub username: String,
    /// The sign-in groups.
    pub groups: Vec<String>,
}

/// Checks the `Authorization` header of a request.
#[async_trait]
pub trait Authenticator: Send + Sync {
    /// The identity of a valid token at `now_secs`; a refusal (401, or 503 when the keys
    /// cannot be read) otherwise.
    async fn identify(
        &self,
        authorization: Option<&str>,
        now_secs: u64,
    ) -> Result<Identity, Refusal>;
}

/// An account's daily statistics records.
#[async_trait]
pub trait DailyStats: Send + Sync {
    /// The records of `channel`/`account`'s days `from..=to`.
    async fn days(
        &self,
        channel: Channel,
        account: &str,
        from: chrono::NaiveDate,
        to: chrono::NaiveDate,
    ) -> Result<Vec<DailyRecord>, PortError>;
}

/// Everything the desk API works with.
pub struct Desk {
    /// Tokens.
    pub auth: Arc<dyn Authenticator>,
    /// Conversations, profiles, canned responses.
    pub store: Arc<dyn DeskStore>,
    /// Agents' replies go here (the outbound queue).
    pub queue: Arc<dyn ReplyQueue>,
    /// The rules in force (what a resolution removes).
    pub rules: Arc<dyn RulesSource>,
    /// Daily statistics.
    pub stats: Arc<dyn DailyStats>,
    /// Who waits now.
    pub inboxes: Arc<dyn Inboxes>,
    /// The names CRMs set for WeChat customers (joined by `unionid`).
    pub contacts: Arc<dyn CrmContacts>,
    /// The reply windows the reply sender enforces.
    pub policy: ReplyPolicy,
    /// Larger bodies are refused with 413.
    pub max_body_bytes: usize,
    /// Media links.
    pub media: MediaSettings,
}

/// A refused request: status, error code, message, and what else the answer carries.
#[derive(Debug)]
pub struct Refusal {
    status: u16,
    code: &'static str,
    message: String,
    extra: Option<(&'static str, Value)>,
}

impl Refusal {
    /// A refusal with `status`, `code` and `message`.
    pub fn new(status: u16, code: &'static str, message: impl Into<String>) -> Self {
        Refusal {
            status,
            code,
            message: message.into(),
            extra: None,
        }
    }

    /// Bad input in `field` (400).
    pub fn invalid(field: impl Into<String>, reason: impl Into<String>) -> Self {
        let field = field.into();
        Refusal {
            extra: Some(("field", Value::String(field.clone()))),
            ..Refusal::new(
                400,
                "invalid_request",
                format!("{field}: {}", reason.into()),
            )
        }
    }

    /// Not found, or outside the caller's scope: the same answer (404).
    pub fn not_found(what: &str) -> Self {
        Refusal::new(404, "not_found", format!("no such {what}"))
    }

    /// The caller's role may not (403).
    pub fn forbidden(message: impl Into<String>) -> Self {
        Refusal::new(403, "forbidden", message)
    }

    /// Carries `value` under `name` in the answer.
    pub fn with(mut self, name: &'static str, value: Value) -> Self {
        self.extra = Some((name, value));
        self
    }
}

impl From<PortError> for Refusal {
    fn from(e: PortError) -> Self {
        tracing::error!(error = %e, source = %e.source, "desk store failed");
        Refusal::new(
            503,
            "unavailable",
            "the desk's store is unavailable; try again",
        )
    }
}

impl From<PageError> for Refusal {
    fn from(e: PageError) -> Self {
        match e {
            PageError::Cursor(_) => Refusal::invalid("cursor", "not the next_cursor of this list"),
            PageError::Port(e) => e.into(),
        }
    }
}

/// A route's answer: status, body, and an `ETag` (a conversation's version) when it has one.
pub(crate) struct Answer {
    status: u16,
    body: Option<Value>,
    etag: Option<u64>,
}

impl Answer {
    pub(crate) fn ok(body: Value) -> Self {
        Answer {
            status: 200,
            body: Some(body),
            etag: None,
        }
    }
    pub(crate) fn status(status: u16, body: Value) -> Self {
        Answer {
            status,
            body: Some(body),
            etag: None,
        }
    }
    pub(crate) fn empty(status: u16) -> Self {
        Answer {
            status,
            body: None,
            etag: None,
        }
    }
    pub(crate) fn etag(mut self, version: u64) -> Self {
        self.etag = Some(version);
        self
    }
}

/// The parts of a request the routes read.
pub(crate) struct Call<'r> {
    pub(crate) caller: Caller,
    pub(crate) request: &'r Request,
    pub(crate) now_ms: i64,
}

impl Call<'_> {
    /// The query parameters, in order.
    pub(crate) fn params(&self) -> Vec<(String, String)> {
        let q = self.request.query_string_parameters();
        q.iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    /// The request body, parsed as `T` (400 naming the problem otherwise).
    pub(crate) fn json<T: serde::de::DeserializeOwned>(&self) -> Result<T, Refusal> {
        let bytes: &[u8] = match self.request.body() {
            Body::Text(t) => t.as_bytes(),
            Body::Binary(b) => b,
            _ => b"",
        };
        serde_json::from_slice(bytes).map_err(|e| Refusal::invalid("body", e.to_string()))
    }

    /// A header's value.
    pub(crate) fn header(&self, name: &str) -> Option<&str> {
        self.request
            .headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
    }
}

/// The routes' first segments.
const ROOTS: [&str; 6] = [
    "conversations",
    "agents",
    "canned-responses",
    "stats",
    "me",
    "media",
];

/// The path from the first route segment on, percent-decoded (behind any stage or local
/// prefix).
fn segments(path: &str) -> Result<Vec<String>, Refusal> {
    let raw: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
    let start = raw
        .iter()
        .position(|s| ROOTS.contains(s))
        .unwrap_or(raw.len());
    raw[start..]
        .iter()
        .map(|s| {
            percent_encoding::percent_decode_str(s)
                .decode_utf8()
                .map(|c| c.into_owned())
                .map_err(|_| Refusal::invalid("path", "not UTF-8"))
        })
        .collect()
}

/// Handles one request at the current time.
pub async fn handle_request(desk: &Desk, request: Request) -> Response<Body> {
    handle_request_at(desk, request, gateway_lambda::now_ms()).await
}

/// Handles one request at `now_ms`.
pub async fn handle_request_at(desk: &Desk, request: Request, now_ms: i64) -> Response<Body> {
    let method = request.method().clone();
    let answer = match answer(desk, &request, now_ms).await {
        Ok(a) => a,
        Err(r) => {
            if r.status >= 500 {
                tracing::error!(status = r.status, error.code = r.code, error.message = %r.message, "desk request failed");
            } else {
                tracing::info!(status = r.status, error.code = r.code, error.message = %r.message, method = %method, "desk request refused");
            }
            let mut body = json!({ "error": r.code, "message": r.message });
            if let Some((name, value)) = r.extra {
                body[name] = value;
            }
            Answer::status(r.status, body)
        }
    };
    respond(answer)
}

fn respond(answer: Answer) -> Response<Body> {
    let body = match &answer.body {
        Some(v) => Body::Text(v.to_string()),
        None => Body::Empty,
    };
    let mut response = Response::new(body);
    *response.status_mut() =
        StatusCode::from_u16(answer.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let headers = response.headers_mut();
    if answer.body.is_some() {
        headers.insert("content-type", HeaderValue::from_static("application/json"));
    }
    headers.insert("cache-control", HeaderValue::from_static("no-store"));
    if answer.status == 401 {
        headers.insert("www-authenticate", HeaderValue::from_static("Bearer"));
    }
    if let Some(v) = answer.etag
        && let Ok(v) = HeaderValue::from_str(&format!("\"{v}\""))
    {
        headers.insert("etag", v);
    }
    response
}

async fn answer(desk: &Desk, request: &Request, now_ms: i64) -> Result<Answer, Refusal> {
    let segments = segments(request.uri().path())?;
    let body_len = match request.body() {
        Body::Text(t) => t.len(),
        Body::Binary(b) => b.len(),
        _ => 0,
    };
    // A file for WeChat may be larger than any JSON body.
    let upload = request.method() == Method::POST && segments == ["media"];
    let max = if upload {
        desk.media.max_upload_bytes
    } else {
        desk.max_body_bytes
    };
    if body_len > max {
        return Err(Refusal::new(
            413,
            "too_large",
            format!("the body is larger than {max} bytes"),
        )
        .with("limit", json!(max)));
    }
    let authorization = request
        .headers()
        .get("authorization")
        .and_then(|v| v.to_str().ok());
    let identity = desk
        .auth
        .identify(authorization, u64::try_from(now_ms / 1000).unwrap_or(0))
        .await?;
    let Some(role) = Role::from_groups(&identity.groups) else {
        return Err(Refusal::forbidden(
            "not in a desk group (agents, supervisors or admins)",
        ));
    };
    let profile = desk.store.agent(&identity.username).await?;
    let call = Call {
        caller: Caller {
            agent_id: identity.username,
            role,
            profile,
        },
        request,
        now_ms,
    };
    let s: Vec<&str> = segments.iter().map(String::as_str).collect();
    let method = request.method();
    match (method, s.as_slice()) {
        (&Method::GET, ["me"]) => people::me(&call),
        (&Method::GET, ["agents"]) => people::agents(desk, &call).await,
        (&Method::PUT, ["agents", id]) => people::put_agent(desk, &call, id).await,
        (&Method::DELETE, ["agents", id]) => people::delete_agent(desk, &call, id).await,
        (&Method::GET, ["canned-responses"]) => people::canned(desk, &call).await,
        (&Method::POST, ["canned-responses"]) => people::put_canned(desk, &call, None).await,
        (&Method::PUT, ["canned-responses", id]) => people::put_canned(desk, &call, Some(id)).await,
        (&Method::DELETE, ["canned-responses", id]) => people::delete_canned(desk, &call, id).await,
        (&Method::GET, ["stats"]) => stats::stats(desk, &call).await,
        (&Method::POST, ["media"]) => media::post_media(desk, &call).await,
        (&Method::GET, ["conversations"]) => conversations::list(desk, &call).await,
        (&Method::GET, ["conversations", "counts"]) => conversations::counts(desk, &call).await,
        (&Method::POST, ["conversations", "next"]) => conversations::take_next(desk, &call).await,
        (&Method::GET, ["conversations", key]) => conversations::show(desk, &call, key).await,
        (&Method::PATCH, ["conversations", key]) => conversations::patch(desk, &call, key).await,
        (&Method::GET, ["conversations", key, "messages"]) => {
            conversations::messages(desk, &call, key).await
        }
        (&Method::GET, ["conversations", key, "audit"]) => {
            conversations::audit(desk, &call, key).await
        }
        (&Method::POST, ["conversations", key, "replies"]) => {
            conversations::reply(desk, &call, key).await
        }
        (&Method::POST, ["conversations", key, "notes"]) => {
            conversations::note(desk, &call, key).await
        }
        (
            _,
            ["me"]
            | ["agents"]
            | ["agents", _]
            | ["canned-responses"]
            | ["canned-responses", _]
            | ["stats"]
            | ["media"]
            | ["conversations"]
            | ["conversations", _]
            | [
                "conversations",
                _,
                "messages" | "audit" | "replies" | "notes",
            ],
        ) => Err(Refusal::new(
            405,
            "method_not_allowed",
            format!("{method} is not allowed here (docs/desk-api.md lists the routes)"),
        )),
        _ => Err(Refusal::new(404, "not_found", "no such route")),
    }
}
