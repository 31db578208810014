//! Local stand-ins of the platform APIs the reply sender calls, speaking their wire formats
//! (reference: the WeChat 客服消息 and Weibo fan-service reply docs), so the outbound path is tested
//! over real HTTP:
//!
//! * WeChat: `POST /cgi-bin/stable_token`, `GET /cgi-bin/token`,
//!   `POST /cgi-bin/message/custom/send`, `POST /cgi-bin/message/custom/typing`. Tokens expire
//!   (`42001`), unknown or replaced tokens are refused (`40001`), `stable_token` returns the
//!   current token while it is valid, the classic API replaces it.
//! * Weibo: `POST /2/messages/reply.json` (form-encoded), errors in Weibo's envelope; the
//!   comment API of public replies (`/2/comments/reply.json`, `/2/comments/create.json`): see
//!   [`crate::stub_comments`].
//! * WeChat template messages (`POST /cgi-bin/message/template/send`): see
//!   [`crate::stub_templates`].
//! * Media downloads (WeChat `GET /cgi-bin/media/get`, Weibo `GET /2/mss/msget`): see
//!   [`crate::stub_media`].
//! * Customer profiles (WeChat `GET /cgi-bin/user/info`, Weibo `GET /2/users/show.json`): see
//!   [`crate::stub_profiles`].
//! * Weibo's public timelines (`comments/to_me`, `comments/mentions`, `statuses/mentions`, and
//!   their `/biz` twins), from seeded items: see [`crate::stub_timeline`].
//! * API clients' webhook receivers (`POST /webhook/{name}`): see [`crate::stub_webhook`].
//! * Admin, for tests: `POST /admin/reset`, `GET /admin/requests` (everything received),
//!   `POST /admin/wechat/expire-tokens`, `POST /admin/fail`
//!   (`{"api":"wechat_send"|"wechat_template"|"wechat_token"|"weibo_reply"|"weibo_comment"|"wechat_media"|"weibo_media"|"weibo_timeline"|"wechat_user_info"|"weibo_users_show","code":45015,"times":1}`),
//!   `POST /admin/config` (`{"token_ttl_secs":7200,"wechat_quota":5}`: token lifetime, and
//!   customer-service messages accepted per user before `45047`).
//!
//! Never deployed: `gatewayctl stub-platforms` (started by `tools/stack.sh`) and tests only.

use crate::stub_media;
use anyhow::{Context, Result};
use axum::extract::{Form, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{Value, json};
use std::collections::{BTreeMap, HashMap, VecDeque};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, LazyLock, Mutex};
use std::time::{Duration, Instant};

static MINTED: AtomicU64 = AtomicU64::new(0);
static STARTED: LazyLock<u128> = LazyLock::new(|| {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis())
});

/// A scripted failure: the next `times` calls of `api` answer `code`.
#[derive(Debug, Clone, Deserialize)]
pub struct Failure {
    /// `wechat_send`, `wechat_template`, `wechat_token`, `wechat_typing`, `weibo_reply`, `weibo_comment`,
    /// `wechat_media`, `weibo_media` or `weibo_timeline`.
    pub api: String,
    /// The platform error code to answer.
    pub code: i64,
    /// The error message (a platform-like default when absent).
    #[serde(default)]
    pub message: Option<String>,
    /// How many calls fail (default 1).
    #[serde(default = "one")]
    pub times: u32,
}

fn one() -> u32 {
    1
}

struct Token {
    value: String,
    expires_at: Instant,
}

#[derive(Default)]
pub(crate) struct Stub {
    token_ttl: Option<Duration>,
    /// Customer-service messages accepted per user before `45047` (unlimited when `None`).
    wechat_quota: Option<u32>,
    sent_per_user: HashMap<String, u32>,
    minted: u64,
    tokens: HashMap<String, Token>,
    /// Tokens that were replaced (classic API) or force-refreshed: refused with 40001.
    retired: HashMap<String, String>,
    failures: VecDeque<Failure>,
    token_requests: Vec<Value>,
    messages: Vec<Value>,
    typing: Vec<Value>,
    weibo_replies: Vec<Value>,
    /// Public replies received (`crate::stub_comments`).
    pub(crate) comments: Vec<Value>,
    /// Template messages received (`crate::stub_templates`).
    pub(crate) templates: Vec<Value>,
    pub(crate) media: crate::stub_media::MediaStub,
    pub(crate) timeline: crate::stub_timeline::TimelineStub,
    pub(crate) webhook: crate::stub_webhook::WebhookStub,
    pub(crate) profiles: crate::stub_profiles::ProfileStub,
}

impl Stub {
    fn ttl(&self) -> Duration {
        self.token_ttl.unwrap_or(Duration::from_secs(7200))
    }

    pub(crate) fn take_failure(&mut self, api: &str) -> Option<Failure> {
        let i = self.failures.iter().position(|f| f.api == api)?;
        let f = self.failures.get_mut(i)?;
        let out = f.clone();
        f.times = f.times.saturating_sub(1);
        if f.times == 0 {
            self.failures.remove(i);
        }
        Some(out)
    }

    fn mint(&mut self, app_id: &str) -> (String, u64) {
        // Unique across resets and restarts: a token handed out before a reset must stay
        // unknown afterwards (40001), as a replaced token is on the platform.
        self.minted = MINTED.fetch_add(1, Ordering::Relaxed) + 1;
        let value = format!("stub-token-{app_id}-{}-{}", *STARTED, self.minted);
        if let Some(old) = self.tokens.insert(
            app_id.to_string(),
            Token {
                value: value.clone(),
                expires_at: Instant::now() + self.ttl(),
            },
        ) {
            self.retired.insert(old.value, app_id.to_string());
        }
        (value, self.ttl().as_secs())
    }

    /// 0 when `token` is current, else the WeChat error code.
    pub(crate) fn check_token(&self, token: &str) -> i64 {
        let current = self.tokens.values().find(|t| t.value == token);
        match current {
            Some(t) if Instant::now() < t.expires_at => 0,
            Some(_) => 42001,
            None => 40001,
        }
    }
}

pub(crate) type Shared = Arc<Mutex<Stub>>;

pub(crate) fn lock(state: &Shared) -> std::sync::MutexGuard<'_, Stub> {
    state.lock().unwrap_or_else(|p| p.into_inner())
}

pub(crate) fn wechat_error(code: i64, message: Option<String>) -> Response {
    let msg = message.unwrap_or_else(|| {
        match code {
            40001 => "invalid credential, access_token is invalid or not latest",
            42001 => "access_token expired",
            40164 => "invalid ip, not in whitelist",
            45015 => "response out of time limit or subscription is canceled",
            45047 => "out of response count limit",
            -1 => "system error",
            _ => "error",
        }
        .to_string()
    });
    Json(json!({ "errcode": code, "errmsg": msg })).into_response()
}

async fn stable_token(State(state): State<Shared>, Json(body): Json<Value>) -> Response {
    let mut stub = lock(&state);
    stub.token_requests.push(json!({
        "api": "stable_token",
        "appid": body["appid"],
        "force_refresh": body["force_refresh"],
    }));
    if let Some(f) = stub.take_failure("wechat_token") {
        return wechat_error(f.code, f.message);
    }
    let app_id = body["appid"].as_str().unwrap_or_default().to_string();
    if app_id.is_empty() || body["secret"].as_str().unwrap_or_default().is_empty() {
        return wechat_error(41002, Some("appid missing".into()));
    }
    let force = body["force_refresh"].as_bool().unwrap_or(false);
    let current = stub
        .tokens
        .get(&app_id)
        .filter(|t| Instant::now() < t.expires_at)
        .map(|t| {
            (
                t.value.clone(),
                t.expires_at.duration_since(Instant::now()).as_secs(),
            )
        });
    let (token, expires_in) = match current {
        Some(c) if !force => c,
        _ => stub.mint(&app_id),
    };
    Json(json!({ "access_token": token, "expires_in": expires_in })).into_response()
}

async fn classic_token(
    State(state): State<Shared>,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let mut stub = lock(&state);
    let app_id = q.get("appid").cloned().unwrap_or_default();
    stub.token_requests
        .push(json!({ "api": "token", "appid": app_id }));
    if let Some(f) = stub.take_failure("wechat_token") {
        return wechat_error(f.code, f.message);
    }
    let (token, expires_in) = stub.mint(&app_id);
    Json(json!({ "access_token": token, "expires_in": expires_in })).into_response()
}

async fn wechat_call(
    state: Shared,
    api: &str,
    q: HashMap<String, String>,
    body: Value,
) -> Response {
    let mut stub = lock(&state);
    let token = q.get("access_token").cloned().unwrap_or_default();
    let code = stub.check_token(&token);
    let record = json!({ "access_token": token, "body": body, "accepted": code == 0 });
    if code != 0 {
        let list = if api == "wechat_send" {
            &mut stub.messages
        } else {
            &mut stub.typing
        };
        list.push(record);
        return wechat_error(code, None);
    }
    if let Some(f) = stub.take_failure(api) {
        let mut record = record;
        record["accepted"] = json!(false);
        record["errcode"] = json!(f.code);
        let list = if api == "wechat_send" {
            &mut stub.messages
        } else {
            &mut stub.typing
        };
        list.push(record);
        return wechat_error(f.code, f.message);
    }
    if api == "wechat_send" {
        let user = body["touser"].as_str().unwrap_or_default().to_string();
        let sent = stub.sent_per_user.get(&user).copied().unwrap_or(0);
        if stub.wechat_quota.is_some_and(|q| sent >= q) {
            let mut record = record;
            record["accepted"] = json!(false);
            record["errcode"] = json!(45047);
            stub.messages.push(record);
            return wechat_error(45047, None);
        }
        stub.sent_per_user.insert(user, sent + 1);
    }
    let list = if api == "wechat_send" {
        &mut stub.messages
    } else {
        &mut stub.typing
    };
    list.push(record);
    Json(json!({ "errcode": 0, "errmsg": "ok" })).into_response()
}

async fn custom_send(
    State(state): State<Shared>,
    Query(q): Query<HashMap<String, String>>,
    Json(body): Json<Value>,
) -> Response {
    wechat_call(state, "wechat_send", q, body).await
}

async fn typing(
    State(state): State<Shared>,
    Query(q): Query<HashMap<String, String>>,
    Json(body): Json<Value>,
) -> Response {
    wechat_call(state, "wechat_typing", q, body).await
}

async fn weibo_reply(
    State(state): State<Shared>,
    Form(fields): Form<Vec<(String, String)>>,
) -> Response {
    let mut stub = lock(&state);
    let map: BTreeMap<String, String> = fields.into_iter().collect();
    let failure = stub.take_failure("weibo_reply");
    let mut record = json!(map);
    record["accepted"] = json!(failure.is_none());
    stub.weibo_replies.push(record);
    if let Some(f) = failure {
        return (
            StatusCode::BAD_REQUEST,
            Json(json!({
                "request": "/2/messages/reply.json",
                "error_code": f.code,
                "error": f.message.unwrap_or_else(|| "error".into()),
            })),
        )
            .into_response();
    }
    if map.get("access_token").is_none_or(String::is_empty) {
        return (
            StatusCode::BAD_REQUEST,
            Json(json!({"request": "/2/messages/reply.json", "error_code": 21332, "error": "invalid_access_token"})),
        )
            .into_response();
    }
    let n = stub.weibo_replies.len();
    Json(json!({
        "id": n,
        "type": map.get("type"),
        "receiver_id": map.get("receiver_id"),
        "created_at": "Mon Nov 23 10:00:00 +0800 2026",
    }))
    .into_response()
}

async fn admin_reset(State(state): State<Shared>) -> Response {
    *lock(&state) = Stub::default();
    Json(json!({"ok": true})).into_response()
}

async fn admin_requests(State(state): State<Shared>) -> Response {
    let stub = lock(&state);
    Json(json!({
        "wechat": {
            "token_requests": stub.token_requests,
            "messages": stub.messages,
            "typing": stub.typing,
            "templates": stub.templates,
        },
        "weibo": { "replies": stub.weibo_replies, "comments": stub.comments },
        "media": stub.media.requests(),
        "weibo_timeline": stub.timeline.requests(),
        "webhooks": stub.webhook.requests(),
        "profiles": stub.profiles.requests(),
    }))
    .into_response()
}

async fn admin_expire(State(state): State<Shared>) -> Response {
    let mut stub = lock(&state);
    let now = Instant::now();
    for t in stub.tokens.values_mut() {
        t.expires_at = now;
    }
    Json(json!({"ok": true})).into_response()
}

async fn admin_fail(State(state): State<Shared>, Json(f): Json<Failure>) -> Response {
    lock(&state).failures.push_back(f);
    Json(json!({"ok": true})).into_response()
}

#[derive(Deserialize)]
struct StubConfig {
    token_ttl_secs: Option<u64>,
    wechat_quota: Option<u32>,
}

async fn admin_config(State(state): State<Shared>, Json(c): Json<StubConfig>) -> Response {
    let mut stub = lock(&state);
    stub.token_ttl = c.token_ttl_secs.map(Duration::from_secs);
    stub.wechat_quota = c.wechat_quota;
    Json(json!({"ok": true})).into_response()
}

/// The stub's routes.
pub fn router() -> Router {
    let state: Shared = Arc::new(Mutex::new(Stub::default()));
    Router::new()
        .route("/cgi-bin/stable_token", post(stable_token))
        .route("/cgi-bin/token", get(classic_token))
        .route("/cgi-bin/message/custom/send", post(custom_send))
        .route("/cgi-bin/message/custom/typing", post(typing))
        .route("/2/messages/reply.json", post(weibo_reply))
        .route("/cgi-bin/media/get", get(stub_media::wechat_media_get))
        .route(
            "/stub-media/video/{media_id}",
            get(stub_media::wechat_video),
        )
        .route("/2/mss/msget", get(stub_media::weibo_media_get))
        // Registered objects travel base64-encoded: room for the largest kind (10 MiB) and more.
        .route(
            "/admin/media",
            post(stub_media::admin_register).layer(axum::extract::DefaultBodyLimit::max(64 << 20)),
        )
        .route("/admin/media/delay", post(stub_media::admin_delay))
        .route("/admin/reset", post(admin_reset))
        .route("/admin/requests", get(admin_requests))
        .route("/admin/wechat/expire-tokens", post(admin_expire))
        .route("/admin/fail", post(admin_fail))
        .route("/admin/config", post(admin_config))
        .merge(crate::stub_upload::routes())
        .merge(crate::stub_timeline::routes())
        .merge(crate::stub_comments::routes())
        .merge(crate::stub_webhook::routes())
        .merge(crate::stub_templates::routes())
        .merge(crate::stub_profiles::routes())
        .with_state(state)
}

/// Serves the stub on `addr` until the process is stopped.
pub async fn serve(addr: SocketAddr) -> Result<()> {
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .with_context(|| format!("bind {addr}"))?;
    eprintln!(
        "platform stub listening on http://{}",
        listener.local_addr()?
    );
    axum::serve(listener, router()).await.context("serve")?;
    Ok(())
}

/// A client of the stub's admin API, for tests.
#[derive(Debug, Clone)]
pub struct StubAdmin {
    /// `http://127.0.0.1:PORT`.
    pub base_url: String,
    http: reqwest::Client,
}

impl StubAdmin {
    /// Admin client of the stub at `base_url`.
    pub fn new(base_url: impl Into<String>) -> Self {
        StubAdmin {
            base_url: base_url.into().trim_end_matches('/').to_string(),
            http: crate::http_client(),
        }
    }

    pub(crate) async fn post(&self, path: &str, body: Value) -> Result<()> {
        let status = self
            .http
            .post(format!("{}{path}", self.base_url))
            .json(&body)
            .send()
            .await
            .with_context(|| format!("stub {path}"))?
            .status();
        anyhow::ensure!(status.is_success(), "stub {path}: {status}");
        Ok(())
    }

    /// Forgets every token, request and scripted failure.
    pub async fn reset(&self) -> Result<()> {
        self.post("/admin/reset", json!({})).await
    }

    /// Expires every current WeChat token now.
    pub async fn expire_tokens(&self) -> Result<()> {
        self.post("/admin/wechat/expire-tokens", json!({})).await
    }

    /// The next `times` calls of `api` answer `code`.
    pub async fn fail(&self, api: &str, code: i64, times: u32) -> Result<()> {
        self.post(
            "/admin/fail",
            json!({"api": api, "code": code, "times": times}),
        )
        .await
    }

    /// Token lifetime and per-user message quota (`None`: 7200 s, unlimited).
    pub async fn configure(
        &self,
        token_ttl_secs: Option<u64>,
        wechat_quota: Option<u32>,
    ) -> Result<()> {
        self.post(
            "/admin/config",
            json!({"token_ttl_secs": token_ttl_secs, "wechat_quota": wechat_quota}),
        )
        .await
    }

    /// The next `times` requests to the webhook receiver `name` answer HTTP `status`.
    pub async fn fail_webhook(&self, name: &str, status: u16, times: u32) -> Result<()> {
        self.fail(&format!("webhook:{name}"), i64::from(status), times)
            .await
    }

    /// The requests the webhook receiver `name` got (`headers`, `body`, `status`), in order.
    pub async fn webhook_requests(&self, name: &str) -> Result<Vec<Value>> {
        let all = self.requests().await?;
        Ok(all["webhooks"]
            .as_array()
            .map(|a| a.iter().filter(|r| r["name"] == name).cloned().collect())
            .unwrap_or_default())
    }

    /// What `user/info` (`channel` `wechat`, `id` the OpenID) or `users/show` (`weibo`, the
    /// uid) answers for this customer from now on.
    pub async fn profile(&self, channel: &str, id: &str, answer: Value) -> Result<()> {
        self.post(
            "/admin/profile",
            json!({"channel": channel, "id": id, "answer": answer}),
        )
        .await
    }

    /// Everything received so far.
    pub async fn requests(&self) -> Result<Value> {
        self.http
            .get(format!("{}/admin/requests", self.base_url))
            .send()
            .await
            .context("stub requests")?
            .json()
            .await
            .context("stub requests body")
    }
}
