//! The platform stand-ins' public timelines, which `weibo-poller` reads:
//!
//! * `GET /2/comments/to_me.json`, `/2/comments/mentions.json`, `/2/statuses/mentions.json`
//!   and their commercial twins `/2/comments/to_me/biz.json`, `/2/comments/mentions/biz.json`,
//!   `/2/statuses/mentions/biz.json`, with `access_token`, `since_id`, `max_id`, `count` in the
//!   query: the seeded items of that timeline, newest first, `since_id < id <= max_id` (0 = no
//!   bound), at most `count` (default 20, at most 200), as `{"comments":[…]}` or
//!   `{"statuses":[…]}` with `total_number`. Both APIs serve the same items.
//! * Errors in Weibo's envelope (`{"request","error_code","error"}`): no token `21332`;
//!   scripted failures with `api: "weibo_timeline"` (`POST /admin/fail`), `code: 429` being
//!   answered as a bare HTTP 429.
//! * Admin: `POST /admin/weibo/timeline` seeds items
//!   (`{"timeline":"comments_to_me","items":[…comment objects…]}`); `GET /admin/requests` lists
//!   every read under `weibo_timeline`, each with its path, api, timeline, query, and what it
//!   was answered (`items` or the error code).

use crate::stub::{Shared, lock};
use axum::Json;
use axum::Router;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use gateway_core::account::{ListeningApi, Timeline};
use serde::Deserialize;
use serde_json::{Value, json};
use std::collections::{BTreeMap, HashMap};

/// The timelines part of the stand-in's state.
#[derive(Debug, Default)]
pub struct TimelineStub {
    items: BTreeMap<Timeline, Vec<Value>>,
    requests: Vec<Value>,
}

impl TimelineStub {
    /// What `GET /admin/requests` shows of it.
    pub fn requests(&self) -> Value {
        Value::Array(self.requests.clone())
    }
}

fn item_id(item: &Value) -> u64 {
    gateway_core::listening::items::item_id(item).unwrap_or(0)
}

fn number(q: &HashMap<String, String>, name: &str) -> u64 {
    q.get(name).and_then(|v| v.trim().parse().ok()).unwrap_or(0)
}

fn read(
    state: &Shared,
    api: ListeningApi,
    timeline: Timeline,
    q: &HashMap<String, String>,
) -> Response {
    let path = timeline.path(api);
    let (since_id, max_id) = (number(q, "since_id"), number(q, "max_id"));
    let count = match number(q, "count") {
        0 => 20,
        n => n.min(200),
    };
    let mut stub = lock(state);
    let mut record = json!({
        "path": path,
        "api": api.as_str(),
        "timeline": timeline.as_str(),
        "since_id": since_id,
        "max_id": max_id,
        "count": count,
        "access_token": q.get("access_token"),
    });
    let failure = stub.take_failure("weibo_timeline");
    let token_missing = q.get("access_token").is_none_or(|t| t.is_empty());
    let error = match failure {
        Some(f) => Some((f.code, f.message.unwrap_or_else(|| message(f.code).into()))),
        None if token_missing => Some((21332, "invalid_access_token".into())),
        None => None,
    };
    if let Some((code, text)) = error {
        record["answer"] = json!(code);
        stub.timeline.requests.push(record);
        if code == 429 {
            return (StatusCode::TOO_MANY_REQUESTS, "Too Many Requests").into_response();
        }
        return (
            StatusCode::FORBIDDEN,
            Json(json!({ "request": path, "error_code": code, "error": text })),
        )
            .into_response();
    }
    let mut items: Vec<Value> = stub
        .timeline
        .items
        .get(&timeline)
        .into_iter()
        .flatten()
        .filter(|v| item_id(v) > since_id && (max_id == 0 || item_id(v) <= max_id))
        .cloned()
        .collect();
    items.sort_by_key(|v| std::cmp::Reverse(item_id(v)));
    items.truncate(usize::try_from(count).unwrap_or(200));
    record["answer"] = json!("items");
    record["ids"] = json!(items.iter().map(item_id).collect::<Vec<_>>());
    stub.timeline.requests.push(record);
    let key = if timeline.holds_comments() {
        "comments"
    } else {
        "statuses"
    };
    let total = items.len();
    let mut answer = serde_json::Map::new();
    answer.insert(key.into(), Value::Array(items));
    answer.insert("previous_cursor".into(), json!(0));
    answer.insert("next_cursor".into(), json!(0));
    answer.insert("total_number".into(), json!(total));
    Json(Value::Object(answer)).into_response()
}

fn message(code: i64) -> &'static str {
    match code {
        10022 => "IP requests out of rate limit!",
        10023 => "User requests out of rate limit!",
        10024 => "User requests for this api out of rate limit!",
        21327 => "expired_token",
        _ => "error",
    }
}

#[derive(Deserialize)]
pub(crate) struct Seed {
    timeline: String,
    #[serde(default)]
    items: Vec<Value>,
}

async fn admin_seed(State(state): State<Shared>, Json(seed): Json<Seed>) -> Response {
    let Some(timeline) = Timeline::parse(&seed.timeline) else {
        return (
            StatusCode::BAD_REQUEST,
            format!("unknown timeline `{}`", seed.timeline),
        )
            .into_response();
    };
    lock(&state)
        .timeline
        .items
        .entry(timeline)
        .or_default()
        .extend(seed.items);
    Json(json!({"ok": true})).into_response()
}

/// The timeline routes (both APIs) and their admin route, for the stand-in's router.
pub(crate) fn routes() -> Router<Shared> {
    let mut router = Router::new().route("/admin/weibo/timeline", post(admin_seed));
    for api in [ListeningApi::Standard, ListeningApi::Biz] {
        for timeline in Timeline::ALL {
            router =
                router.route(
                    timeline.path(api),
                    get(
                        move |State(state): State<Shared>,
                              Query(q): Query<HashMap<String, String>>| async move {
                            read(&state, api, timeline, &q)
                        },
                    ),
                );
        }
    }
    router
}

impl crate::stub::StubAdmin {
    /// Adds `items` (comment or status objects) to `timeline` (`comments_to_me`,
    /// `comments_mentions`, `statuses_mentions`).
    pub async fn timeline_items(&self, timeline: &str, items: Vec<Value>) -> anyhow::Result<()> {
        self.post(
            "/admin/weibo/timeline",
            json!({"timeline": timeline, "items": items}),
        )
        .await
    }

    /// The timeline reads received so far, in order.
    pub async fn timeline_requests(&self) -> anyhow::Result<Vec<Value>> {
        Ok(self.requests().await?["weibo_timeline"]
            .as_array()
            .cloned()
            .unwrap_or_default())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stub::StubAdmin;

    async fn serve() -> String {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        tokio::spawn(async move {
            let _ = axum::serve(listener, crate::stub::router()).await;
        });
        format!("http://{addr}")
    }

    fn comment(id: u64) -> Value {
        json!({"idstr": id.to_string(), "id": id, "text": format!("c{id}"),
               "user": {"idstr": "2001"}, "status": {"idstr": "9", "text": "p"}})
    }

    #[tokio::test]
    async fn pages_newest_first_with_since_id_exclusive_and_max_id_inclusive() {
        let base = serve().await;
        let admin = StubAdmin::new(&base);
        admin
            .timeline_items("comments_to_me", (1..=12).map(comment).collect())
            .await
            .expect("seed");
        let http = crate::http_client();
        let get = |path: &str| {
            let http = http.clone();
            let url = format!("{base}{path}");
            async move {
                let r = http.get(url).send().await.expect("get");
                (
                    r.status().as_u16(),
                    r.json::<Value>().await.unwrap_or(Value::Null),
                )
            }
        };
        let ids = |v: &Value| -> Vec<u64> {
            v["comments"]
                .as_array()
                .into_iter()
                .flatten()
                .map(item_id)
                .collect()
        };
        let (status, page) = get("/2/comments/to_me.json?access_token=T&since_id=3&count=4").await;
        assert_eq!((status, ids(&page)), (200, vec![12, 11, 10, 9]));
        let (_, page) =
            get("/2/comments/to_me/biz.json?access_token=T&since_id=3&max_id=8&count=4").await;
        assert_eq!(ids(&page), [8, 7, 6, 5]);
        let (_, page) =
            get("/2/comments/to_me.json?access_token=T&since_id=3&max_id=4&count=4").await;
        assert_eq!(ids(&page), [4]);
        let (_, page) = get("/2/comments/mentions.json?access_token=T").await;
        assert_eq!(ids(&page), Vec::<u64>::new());
        assert_eq!(page["total_number"], 0);
        let (status, page) = get("/2/comments/to_me.json").await;
        assert_eq!((status, &page["error_code"]), (403, &json!(21332)));
        // Scripted rate limits, in Weibo's envelope or as a bare 429.
        admin.fail("weibo_timeline", 10023, 1).await.expect("fail");
        let (status, page) = get("/2/statuses/mentions.json?access_token=T").await;
        assert_eq!((status, &page["error_code"]), (403, &json!(10023)));
        admin.fail("weibo_timeline", 429, 1).await.expect("fail");
        let (status, _) = get("/2/statuses/mentions/biz.json?access_token=T").await;
        assert_eq!(status, 429);
        let requests = admin.timeline_requests().await.expect("requests");
        assert_eq!(requests.len(), 7);
        assert_eq!(requests[1]["api"], "biz");
        assert_eq!(requests[1]["max_id"], 8);
        assert_eq!(requests[5]["answer"], 10023);
        admin.reset().await.expect("reset");
        assert!(
            admin
                .timeline_requests()
                .await
                .expect("requests")
                .is_empty()
        );
    }
}
