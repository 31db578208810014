//! The stand-ins of Weibo's comment API, which the reply sender calls for public replies:
//!
//! * `POST /2/comments/reply.json` (`cid`, `id`, `comment`, `without_mention`, `comment_ori`)
//!   and `POST /2/comments/create.json` (`id`, `comment`, `comment_ori`), form-encoded with the
//!   `access_token` (<https://open.weibo.com/wiki/2/comments/reply>,
//!   <https://open.weibo.com/wiki/2/comments/create>): answer the created comment object with a
//!   new `idstr`, or Weibo's error envelope: no token `21332`, a missing parameter `10016`, a
//!   comment over 140 characters `10017`; scripted failures with `api: "weibo_comment"`
//!   (`POST /admin/fail`).
//! * Every call is recorded under `weibo.comments` of `GET /admin/requests`: its path
//!   (`reply`/`create`), its form fields (the token included, as the other stand-ins do) and
//!   whether it was accepted, with the `idstr` answered.

use crate::stub::{Shared, lock};
use axum::Json;
use axum::Router;
use axum::extract::{Form, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};

/// Comment ids handed out, unique across resets.
static COMMENTS: AtomicU64 = AtomicU64::new(0);

/// The comment routes, for the stand-in's router.
pub(crate) fn routes() -> Router<Shared> {
    Router::new()
        .route("/2/comments/reply.json", post(reply))
        .route("/2/comments/create.json", post(create))
}

async fn reply(state: State<Shared>, Form(fields): Form<Vec<(String, String)>>) -> Response {
    comment(state, "reply", &["cid", "id", "comment"], fields)
}

async fn create(state: State<Shared>, Form(fields): Form<Vec<(String, String)>>) -> Response {
    comment(state, "create", &["id", "comment"], fields)
}

fn error(path: &str, code: i64, message: &str) -> Response {
    (
        StatusCode::BAD_REQUEST,
        Json(json!({
            "request": format!("/2/comments/{path}.json"),
            "error_code": code,
            "error": message,
        })),
    )
        .into_response()
}

fn comment(
    State(state): State<Shared>,
    path: &'static str,
    required: &[&str],
    fields: Vec<(String, String)>,
) -> Response {
    let map: BTreeMap<String, String> = fields.into_iter().collect();
    let mut stub = lock(&state);
    let failure = stub.take_failure("weibo_comment");
    let refusal = if let Some(f) = &failure {
        Some((f.code, f.message.clone().unwrap_or_else(|| "error".into())))
    } else if map.get("access_token").is_none_or(String::is_empty) {
        Some((21332, "invalid_access_token".into()))
    } else if let Some(missing) = required
        .iter()
        .find(|k| map.get(**k).is_none_or(String::is_empty))
    {
        Some((10016, format!("Miss required parameter ({missing})")))
    } else if map.get("comment").is_some_and(|c| c.chars().count() > 140) {
        Some((10017, "Parameter (comment)'s value invalid".into()))
    } else {
        None
    };
    let mut record = json!({ "path": path, "form": map });
    if let Some((code, message)) = refusal {
        record["accepted"] = json!(false);
        record["error_code"] = json!(code);
        stub.comments.push(record);
        return error(path, code, &message);
    }
    let n = COMMENTS.fetch_add(1, Ordering::Relaxed) + 1;
    let idstr = (4_990_000_000_000_000u64 + n).to_string();
    record["accepted"] = json!(true);
    record["idstr"] = json!(idstr);
    stub.comments.push(record);
    let post_id = map.get("id").cloned().unwrap_or_default();
    let mut answer = json!({
        "created_at": "Mon Nov 23 10:00:00 +0800 2026",
        "id": 4_990_000_000_000_000u64 + n,
        "idstr": idstr,
        "mid": idstr,
        "text": map.get("comment"),
        "source": "channel-gateway stand-in",
        "user": { "id": 1_902_538_057u64, "idstr": "1902538057", "screen_name": "brand" },
        "status": { "id": post_id.parse::<u64>().ok(), "idstr": post_id },
    });
    if let Some(cid) = map.get("cid") {
        answer["reply_comment"] = json!({ "idstr": cid });
    }
    Json::<Value>(answer).into_response()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use crate::stub::{StubAdmin, router};

    async fn serve() -> String {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, router()).await.unwrap() });
        url
    }

    #[tokio::test]
    async fn a_reply_answers_a_comment_object_and_is_recorded_and_failures_are_scripted() {
        let url = serve().await;
        let http = crate::http_client();
        let post = |path: &'static str, body: &'static str| {
            let http = http.clone();
            let url = url.clone();
            async move {
                let r = http
                    .post(format!("{url}/2/comments/{path}.json"))
                    .header("content-type", "application/x-www-form-urlencoded")
                    .body(body)
                    .send()
                    .await
                    .unwrap();
                (
                    r.status().as_u16(),
                    r.json::<serde_json::Value>().await.unwrap(),
                )
            }
        };
        let (status, answer) = post(
            "reply",
            "access_token=T&cid=4900000000000777&id=4900000000000001&comment=%E5%A5%BD&without_mention=0&comment_ori=0",
        )
        .await;
        assert_eq!(status, 200, "{answer}");
        let idstr = answer["idstr"].as_str().unwrap().to_string();
        assert_eq!(answer["status"]["idstr"], "4900000000000001");
        assert_eq!(answer["reply_comment"]["idstr"], "4900000000000777");
        let (status, answer) = post("create", "access_token=T&comment=x").await;
        assert_eq!((status, answer["error_code"].as_i64()), (400, Some(10016)));

        let admin = StubAdmin::new(&url);
        admin.fail("weibo_comment", 20016, 1).await.unwrap();
        let (_, answer) = post("create", "access_token=T&id=1&comment=x").await;
        assert_eq!(answer["error_code"], 20016);
        let (status, _) = post("create", "access_token=T&id=1&comment=x").await;
        assert_eq!(status, 200);

        let requests = admin.requests().await.unwrap();
        let comments = requests["weibo"]["comments"].as_array().unwrap();
        assert_eq!(comments.len(), 4);
        assert_eq!(comments[0]["path"], "reply");
        assert_eq!(comments[0]["form"]["cid"], "4900000000000777");
        assert_eq!(comments[0]["form"]["comment"], "好");
        assert_eq!(comments[0]["idstr"], idstr.as_str());
        assert_eq!(comments[2]["accepted"], false);
        assert_eq!(comments[2]["error_code"], 20016);
    }
}
