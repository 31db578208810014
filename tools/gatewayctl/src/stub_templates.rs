//! The stand-in of WeChat's template message API, which the reply sender calls for `template`
//! replies: `POST /cgi-bin/message/template/send?access_token=…` with `touser`, `template_id`,
//! `data`, `url`?, `miniprogram`?, `client_msg_id`
//! (<https://developers.weixin.qq.com/doc/offiaccount/Message_Management/Template_Message_Interface.html>).
//!
//! * The token is checked like the customer-service stand-in's (`40001`, `42001`).
//! * A body without `touser`, `template_id` or a `data` object is refused with `47003`
//!   (argument invalid).
//! * Scripted failures with `api: "wechat_template"` (`POST /admin/fail`), e.g. `43101`.
//! * Accepted: `{"errcode":0,"errmsg":"ok","msgid":N}` with an increasing `msgid`; a repeated
//!   `client_msg_id` for the same `touser` answers the first `msgid` and sends nothing more, as
//!   WeChat documents for ten minutes ("对于同一个openid + client_msg_id, 只发送一条消息").
//! * Every call is recorded under `wechat.templates` of `GET /admin/requests`: the token, the
//!   body, whether it was accepted, and the `msgid` or `errcode`.

use crate::stub::{Shared, lock, wechat_error};
use axum::Json;
use axum::Router;
use axum::extract::{Query, State};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use serde_json::{Value, json};
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};

/// Message ids handed out, unique across resets (the first is WeChat's documented example).
static MSGIDS: AtomicU64 = AtomicU64::new(200_228_332);

/// The template routes, for the stand-in's router.
pub(crate) fn routes() -> Router<Shared> {
    Router::new().route("/cgi-bin/message/template/send", post(send))
}

async fn send(
    State(state): State<Shared>,
    Query(q): Query<HashMap<String, String>>,
    Json(body): Json<Value>,
) -> Response {
    let mut stub = lock(&state);
    let token = q.get("access_token").cloned().unwrap_or_default();
    let mut record = json!({ "access_token": token, "body": body, "accepted": false });
    let code = stub.check_token(&token);
    let refusal = if code != 0 {
        Some((code, None))
    } else if let Some(f) = stub.take_failure("wechat_template") {
        Some((f.code, f.message))
    } else if body["touser"].as_str().is_none_or(str::is_empty)
        || body["template_id"].as_str().is_none_or(str::is_empty)
        || !body["data"].is_object()
    {
        Some((47003, Some("argument invalid!".to_string())))
    } else {
        None
    };
    if let Some((code, message)) = refusal {
        record["errcode"] = json!(code);
        stub.templates.push(record);
        return wechat_error(code, message);
    }
    let repeated = body["client_msg_id"].as_str().and_then(|id| {
        stub.templates.iter().find_map(|t| {
            let same = t["accepted"] == json!(true)
                && t["body"]["client_msg_id"].as_str() == Some(id)
                && t["body"]["touser"] == body["touser"];
            same.then(|| t["msgid"].clone())
        })
    });
    let msgid = match repeated {
        Some(msgid) => {
            record["repeated"] = json!(true);
            msgid
        }
        None => json!(MSGIDS.fetch_add(1, Ordering::Relaxed)),
    };
    record["accepted"] = json!(true);
    record["msgid"] = msgid.clone();
    stub.templates.push(record);
    Json(json!({ "errcode": 0, "errmsg": "ok", "msgid": msgid })).into_response()
}
