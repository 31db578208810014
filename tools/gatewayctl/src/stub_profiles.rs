//! The platform stand-ins' customer profiles:
//!
//! * WeChat `GET /cgi-bin/user/info?access_token=…&openid=…&lang=zh_CN` (获取用户基本信息): the
//!   registered answer of the OpenID, else a plain follower's (`subscribe: 1`, `zh_CN`, no
//!   remark); token errors (`40001`, `42001`) as the other WeChat APIs of the stand-in;
//!   scripted failures with `api: "wechat_user_info"`.
//! * Weibo `GET /2/users/show.json?access_token=…&uid=…`: the registered user, else an
//!   ordinary one (10 followers, not verified, no screen name: the desk keeps showing the
//!   uid other tests look for); scripted failures with
//!   `api: "weibo_users_show"` answer Weibo's error envelope.
//! * Admin: `POST /admin/profile` registers an answer
//!   (`{"channel":"weibo","id":"1234","answer":{"screen_name":"…","followers_count":150000,
//!   "verified":true}}`); `GET /admin/requests` lists the requests under `profiles.requests`.

use crate::stub::{Shared, lock, wechat_error};
use axum::Json;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde::Deserialize;
use serde_json::{Value, json};
use std::collections::HashMap;

/// The profile part of the stand-in's state.
#[derive(Debug, Default)]
pub struct ProfileStub {
    /// By `(channel, id)`.
    answers: HashMap<(String, String), Value>,
    requests: Vec<Value>,
}

impl ProfileStub {
    /// What `GET /admin/requests` shows of it.
    pub fn requests(&self) -> Value {
        json!({ "requests": self.requests })
    }
}

#[derive(Deserialize)]
struct Register {
    channel: String,
    id: String,
    answer: Value,
}

async fn admin_register(State(state): State<Shared>, Json(r): Json<Register>) -> Response {
    lock(&state)
        .profiles
        .answers
        .insert((r.channel, r.id), r.answer);
    Json(json!({"ok": true})).into_response()
}

fn note(stub: &mut crate::stub::Stub, api: &str, id: &str, answer: Value) {
    stub.profiles
        .requests
        .push(json!({"api": api, "id": id, "answer": answer}));
}

async fn user_info(
    State(state): State<Shared>,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let token = q.get("access_token").cloned().unwrap_or_default();
    let openid = q.get("openid").cloned().unwrap_or_default();
    let mut stub = lock(&state);
    let code = stub.check_token(&token);
    if code != 0 {
        note(&mut stub, "wechat_user_info", &openid, json!(code));
        return wechat_error(code, None);
    }
    if let Some(f) = stub.take_failure("wechat_user_info") {
        note(&mut stub, "wechat_user_info", &openid, json!(f.code));
        return wechat_error(f.code, f.message);
    }
    let mut answer = stub
        .profiles
        .answers
        .get(&("wechat".to_string(), openid.clone()))
        .cloned()
        .unwrap_or_else(|| {
            json!({"subscribe": 1, "language": "zh_CN", "subscribe_time": 1_700_000_000,
                   "remark": "", "groupid": 0, "tagid_list": [],
                   "subscribe_scene": "ADD_SCENE_SEARCH", "qr_scene": 0, "qr_scene_str": ""})
        });
    answer["openid"] = json!(openid);
    note(&mut stub, "wechat_user_info", &openid, json!("profile"));
    Json(answer).into_response()
}

async fn users_show(
    State(state): State<Shared>,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let token = q.get("access_token").cloned().unwrap_or_default();
    let uid = q.get("uid").cloned().unwrap_or_default();
    let mut stub = lock(&state);
    let weibo_error = |code: i64, message: String| {
        (
            StatusCode::BAD_REQUEST,
            Json(json!({"request": "/2/users/show.json", "error_code": code, "error": message})),
        )
            .into_response()
    };
    if token.is_empty() {
        note(&mut stub, "weibo_users_show", &uid, json!(21332));
        return weibo_error(21332, "invalid_access_token".into());
    }
    if let Some(f) = stub.take_failure("weibo_users_show") {
        note(&mut stub, "weibo_users_show", &uid, json!(f.code));
        return weibo_error(f.code, f.message.unwrap_or_else(|| "error".into()));
    }
    let mut answer = stub
        .profiles
        .answers
        .get(&("weibo".to_string(), uid.clone()))
        .cloned()
        .unwrap_or_else(|| {
            json!({"followers_count": 10, "verified": false, "verified_type": -1,
                   "verified_reason": "", "description": "", "location": ""})
        });
    answer["id"] = json!(uid.parse::<u64>().map_or(json!(uid), |n| json!(n)));
    note(&mut stub, "weibo_users_show", &uid, json!("profile"));
    Json(answer).into_response()
}

pub(crate) fn routes() -> axum::Router<Shared> {
    axum::Router::new()
        .route("/cgi-bin/user/info", get(user_info))
        .route("/2/users/show.json", get(users_show))
        .route("/admin/profile", post(admin_register))
}
