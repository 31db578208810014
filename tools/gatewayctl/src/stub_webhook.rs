//! The stand-in of an API client's webhook receiver, for `webhook-sender`'s tests:
//!
//! * `POST /webhook/{name}`: records the request (its headers and body, as received) under
//!   `webhooks` of `GET /admin/requests` and answers `200 {"ok":true}`; a scripted failure
//!   (`POST /admin/fail` with `{"api":"webhook:{name}","code":500,"times":2}`) answers that
//!   HTTP status instead (a `400` with a JSON error body), and is recorded with it.
//!
//! It verifies nothing: the tests check the signature themselves, independently of the sender.

use crate::stub::{Shared, lock};
use axum::Json;
use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use serde_json::{Value, json};
use std::collections::BTreeMap;

/// Requests received by the webhook receivers.
#[derive(Default)]
pub(crate) struct WebhookStub {
    requests: Vec<Value>,
}

impl WebhookStub {
    /// Everything received, in order.
    pub(crate) fn requests(&self) -> &[Value] {
        &self.requests
    }
}

/// The receiver's route, for the stand-in's router.
pub(crate) fn routes() -> Router<Shared> {
    Router::new().route("/webhook/{name}", post(receive))
}

async fn receive(
    State(state): State<Shared>,
    Path(name): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let mut stub = lock(&state);
    let failure = stub.take_failure(&format!("webhook:{name}"));
    let status = failure
        .as_ref()
        .and_then(|f| u16::try_from(f.code).ok())
        .and_then(|c| StatusCode::from_u16(c).ok())
        .unwrap_or(StatusCode::OK);
    let headers: BTreeMap<String, String> = headers
        .iter()
        .map(|(k, v)| {
            (
                k.as_str().to_string(),
                String::from_utf8_lossy(v.as_bytes()).into_owned(),
            )
        })
        .collect();
    stub.webhook.requests.push(json!({
        "name": name,
        "headers": headers,
        "body": String::from_utf8_lossy(&body),
        "status": status.as_u16(),
    }));
    if status.is_success() {
        Json(json!({"ok": true})).into_response()
    } else {
        let message = failure
            .and_then(|f| f.message)
            .unwrap_or_else(|| "scripted failure".into());
        (status, Json(json!({"error": message}))).into_response()
    }
}
