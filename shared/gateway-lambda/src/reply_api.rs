//! HTTP edge of `reply-api` (API Gateway HTTP API v2 or a Function URL): agents and CRM
//! systems submit replies, authenticated with an HMAC-SHA256 signature
//! ([`gateway_core::delivery::auth`]); each accepted reply becomes a [`ReplyCommand`] with
//! `origin: agent` on the outbound queue.
//!
//! * `POST …/replies`: 202 `{"reply_id","status":"queued","conversation_key"}`.
//! * `GET …/replies/{reply_id}`: the reply's delivery state (signed like a POST, over an empty
//!   body).
//!
//! Every refusal is a 4xx with `{"error": code, "message": …}` and a `warn` log without the
//! body; content and secrets are never logged.
//!
//! [`ReplyCommand`]: gateway_core::outbound::ReplyCommand

use crate::config::ConfigError;
use crate::reply_sender::EnvReader;
use gateway_aws::sdk::{consumer_timeouts, load_sdk_config_with_timeouts};
use gateway_aws::{
    DynamoDbConversationStore, DynamoDbDeliveryLedger, SecretsManagerAccountDirectory,
    SqsReplyQueue,
};
use gateway_core::delivery::api::ReplyRequest;
use gateway_core::delivery::auth::{
    self, CLIENT_HEADER, SIGNATURE_HEADER, SignedParts, TIMESTAMP_HEADER,
};
use gateway_core::delivery::ports::DeliveryLedger;
use gateway_core::message::Channel;
use gateway_core::ports::{AccountDirectory, ConversationStore, ReplyQueue};
use lambda_http::http::{Method, StatusCode};
use lambda_http::{Body, Request, Response, service_fn};
use serde_json::{Value, json};
use std::sync::Arc;
use std::time::Duration;

/// Configuration of the reply-api function.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReplyApiConfig {
    /// `OUTBOUND_QUEUE_URL`.
    pub outbound_queue_url: String,
    /// `TABLE_NAME`: conversations (existence check) and delivery records (status).
    pub table_name: String,
    /// `ACCOUNTS_SECRET_ID`: accounts and `api_clients`.
    pub accounts_secret_id: String,
    /// `ACCOUNTS_CACHE_SECS` (default 60).
    pub accounts_cache: Duration,
    /// `REPLY_API_MAX_CLOCK_SKEW_SECS` (default 300): accepted signature timestamp window.
    pub max_clock_skew_secs: i64,
    /// `MAX_BODY_BYTES` (default 65536).
    pub max_body_bytes: usize,
}

impl ReplyApiConfig {
    /// Reads the configuration through `lookup`.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let mut r = EnvReader::new(&lookup);
        let outbound_queue_url = r.required("OUTBOUND_QUEUE_URL");
        let table_name = r.required("TABLE_NAME");
        let accounts_secret_id = r.required("ACCOUNTS_SECRET_ID");
        let cache = r.number("ACCOUNTS_CACHE_SECS", 60, 0);
        let skew = r.number("REPLY_API_MAX_CLOCK_SKEW_SECS", 300, 1);
        let body = r.number("MAX_BODY_BYTES", 64 * 1024, 1024);
        r.finish(ReplyApiConfig {
            outbound_queue_url,
            table_name,
            accounts_secret_id,
            accounts_cache: Duration::from_secs(u64::try_from(cache).unwrap_or(0)),
            max_clock_skew_secs: skew,
            max_body_bytes: usize::try_from(body).unwrap_or(usize::MAX),
        })
    }

    /// Reads the configuration from the process environment.
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|k| std::env::var(k).ok())
    }
}

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
    /// Signature timestamp window, seconds.
    pub max_clock_skew_secs: i64,
    /// Body limit, bytes.
    pub max_body_bytes: usize,
}

/// Cold start of the reply-api function.
pub async fn run() -> Result<(), lambda_http::Error> {
    lambda_http::tracing::init_default_subscriber();
    let config = ReplyApiConfig::from_env()?;
    // A hung dependency fails the record (or request) quickly instead of stalling.
    let sdk = load_sdk_config_with_timeouts(consumer_timeouts()).await;
    let store = DynamoDbConversationStore::new(
        aws_sdk_dynamodb::Client::new(&sdk),
        config.table_name.clone(),
        None,
    );
    let api = ReplyApi {
        accounts: Arc::new(SecretsManagerAccountDirectory::new(
            aws_sdk_secretsmanager::Client::new(&sdk),
            config.accounts_secret_id.clone(),
            config.accounts_cache,
        )),
        conversations: Arc::new(store.clone()),
        // Only read here; the TTL is the sender's business.
        ledger: Arc::new(DynamoDbDeliveryLedger::new(store, 30 * 86_400)),
        queue: Arc::new(SqsReplyQueue::new(
            aws_sdk_sqs::Client::new(&sdk),
            config.outbound_queue_url.clone(),
        )),
        max_clock_skew_secs: config.max_clock_skew_secs,
        max_body_bytes: config.max_body_bytes,
    };
    let api = &api;
    lambda_http::run(service_fn(move |request: Request| async move {
        Ok::<_, std::convert::Infallible>(handle_request(api, request).await)
    }))
    .await
}

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
    handle_request_at(api, request, crate::now_ms(), &random_key()).await
}

fn random_key() -> String {
    gateway_core::channel::wechat::crypto::random_prefix()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Handles one HTTP request at `now_ms`; `generated_key` names replies without a client key.
pub async fn handle_request_at(
    api: &ReplyApi,
    request: Request,
    now_ms: i64,
    generated_key: &str,
) -> Response<Body> {
    let path = request.uri().path().trim_end_matches('/').to_string();
    let method = request.method().clone();
    let result = match (method.clone(), route(&path)) {
        (Method::POST, Route::Replies) => submit(api, &request, now_ms, generated_key).await,
        (Method::GET, Route::Reply(id)) => status(api, &request, &id, now_ms).await,
        (_, Route::Replies | Route::Reply(_)) => Err(Refusal::new(
            405,
            "method_not_allowed",
            "use POST /replies or GET /replies/{reply_id}",
        )),
        (_, Route::Unknown) => Err(Refusal::new(404, "not_found", "no such route")),
    };
    match result {
        Ok((status, body)) => respond(status, body),
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
    Unknown,
}

/// `…/replies` or `…/replies/{id}` (behind any stage or Function URL prefix).
fn route(path: &str) -> Route {
    let segments: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
    match segments.iter().rposition(|s| *s == "replies") {
        Some(i) if i + 1 == segments.len() => Route::Replies,
        Some(i) if i + 2 == segments.len() => Route::Reply(segments[i + 1].to_string()),
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

async fn authenticated(
    api: &ReplyApi,
    request: &Request,
    body: &[u8],
    now_ms: i64,
) -> Result<(Arc<gateway_core::account::AccountsDocument>, String), Refusal> {
    let accounts = api
        .accounts
        .accounts()
        .await
        .map_err(|e| Refusal::new(503, "unavailable", format!("accounts unavailable: {e}")))?;
    let parts = SignedParts {
        client_id: header(request, CLIENT_HEADER),
        timestamp: header(request, TIMESTAMP_HEADER),
        signature: header(request, SIGNATURE_HEADER),
        body,
    };
    let client_id = auth::authenticate(&accounts, &parts, now_ms, api.max_clock_skew_secs)
        .map(|(id, _)| id.to_string())
        .map_err(|e| Refusal::new(401, e.code(), e.to_string()))?;
    Ok((accounts, client_id))
}

async fn submit(
    api: &ReplyApi,
    request: &Request,
    now_ms: i64,
    generated_key: &str,
) -> Result<(u16, Value), Refusal> {
    let body = body_bytes(request);
    if body.len() > api.max_body_bytes {
        return Err(Refusal::new(
            413,
            "body_too_large",
            format!("the limit is {} bytes", api.max_body_bytes),
        ));
    }
    let (accounts, client_id) = authenticated(api, request, body, now_ms).await?;
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
    let command = reply
        .into_command(&client_id, generated_key, now_ms)
        .map_err(|e| Refusal::new(e.status(), e.code(), e.to_string()))?;
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
    ))
}

async fn status(
    api: &ReplyApi,
    request: &Request,
    reply_id: &str,
    now_ms: i64,
) -> Result<(u16, Value), Refusal> {
    authenticated(api, request, body_bytes(request), now_ms).await?;
    if reply_id.len() != 64 || !reply_id.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(Refusal::new(
            400,
            "invalid_reply_id",
            "a reply id is 64 hex characters",
        ));
    }
    let record = api.ledger.get(reply_id).await.map_err(|e| {
        Refusal::new(
            503,
            "unavailable",
            format!("delivery records unavailable: {e}"),
        )
    })?;
    Ok(match record {
        None => (200, json!({ "reply_id": reply_id, "state": "pending" })),
        Some(r) => (
            200,
            json!({
                "reply_id": reply_id,
                "state": r.state.as_str(),
                "sent_at_ms": r.sent_at_ms,
                "reason": r.reason,
                "error_code": r.error_code,
            }),
        ),
    })
}

#[cfg(test)]
mod tests;
