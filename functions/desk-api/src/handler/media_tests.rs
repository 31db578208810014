//! Media over in-memory ports: records and links on the thread, scoped like the thread.
#![allow(clippy::unwrap_used)]

use super::tests::{NOW, fixture, send};
use super::{Desk, Uploads, handle_request_at};
use async_trait::async_trait;
use gateway_core::account::AccountsDocument;
use gateway_core::delivery::testing::CountingTokens;
use gateway_core::desk::ports::{ThreadEntry, ThreadItem};
use gateway_core::desk::testing::FakeLinks;
use gateway_core::desk::testing::{MemoryUploads, ScriptedWeChatMedia};
use gateway_core::media::{MediaKind, MediaRecord, MediaState};
use gateway_core::ports::{AccountDirectory, PortError};
use gateway_core::testing::text_message;
use lambda_http::{Body, RequestExt};
use serde_json::Value;
use serde_json::json;
use std::sync::Arc;
use std::time::Duration;

fn record(kind: MediaKind, state: MediaState) -> MediaRecord {
    MediaRecord {
        kind,
        media_id: format!("{kind}-id"),
        recorded_at_ms: NOW - 5_000,
        state,
    }
}

/// c1's thread: a video with its thumbnail stored, a voice note still pending, an image too
/// large, one that expired on the platform; s1 (team sales) has a stored image.
fn threads(store: &gateway_core::desk::testing::MemoryDesk) {
    let stored = |key: &str, content_type: &str, bytes: u64| MediaState::Stored {
        s3_key: key.into(),
        content_type: content_type.into(),
        bytes,
        sha256: "5".repeat(64),
    };
    let items = [
        vec![
            record(
                MediaKind::Thumb,
                stored("media/c1/1/thumb", "image/jpeg", 900),
            ),
            record(
                MediaKind::Video,
                stored("media/c1/1/video", "video/mp4", 90_000),
            ),
        ],
        vec![record(MediaKind::Voice, MediaState::Pending)],
        vec![record(
            MediaKind::Image,
            MediaState::TooLarge {
                bytes: 12_582_912,
                limit: 10_485_760,
            },
        )],
        vec![record(
            MediaKind::Image,
            MediaState::Unavailable {
                platform_code: 40007,
                message: "invalid media_id".into(),
            },
        )],
        vec![],
    ];
    for (i, media) in items.into_iter().enumerate() {
        let m = text_message("demo", "c1", &format!("m{i}"), "…", NOW - 10_000);
        store.add_thread(
            "wechat:demo:c1",
            ThreadItem {
                seq: i as u64 + 1,
                id: m.dedupe_id(),
                entry: ThreadEntry::Inbound(m),
                media,
            },
        );
    }
    let m = text_message("demo", "s1", "x", "…", NOW - 10_000);
    store.add_thread(
        "wechat:demo:s1",
        ThreadItem {
            seq: 1,
            id: m.dedupe_id(),
            entry: ThreadEntry::Inbound(m),
            media: vec![record(
                MediaKind::Image,
                stored("media/s1/image", "image/png", 10),
            )],
        },
    );
}

#[tokio::test]
async fn the_thread_shows_each_media_record_and_links_only_stored_objects() {
    let (mut desk, store, _) = fixture();
    let links = Arc::new(FakeLinks::default());
    desk.media.links = Some(links.clone());
    desk.media.link_ttl = Duration::from_secs(600);
    threads(&store);
    let r = send(
        &desk,
        "GET",
        "/conversations/wechat:demo:c1/messages",
        Some("agent1"),
        None,
        &[],
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let items = r.body["items"].as_array().unwrap();
    let start = NOW - NOW.rem_euclid(300_000);
    assert_eq!(
        items[0]["media"],
        json!([
            {
                "kind": "video", "state": "stored", "content_type": "video/mp4",
                "bytes": 90_000, "sha256": "5".repeat(64),
                "url": format!("https://media.example/media/c1/1/video?type=video/mp4&from={start}&ttl=600"),
                "url_expires_at_ms": start + 600_000,
            },
            {
                "kind": "thumb", "state": "stored", "content_type": "image/jpeg",
                "bytes": 900, "sha256": "5".repeat(64),
                "url": format!("https://media.example/media/c1/1/thumb?type=image/jpeg&from={start}&ttl=600"),
                "url_expires_at_ms": start + 600_000,
            },
        ])
    );
    assert_eq!(
        items[1]["media"],
        json!([{ "kind": "voice", "state": "pending" }])
    );
    assert_eq!(
        items[2]["media"],
        json!([{ "kind": "image", "state": "too_large", "bytes": 12_582_912, "limit": 10_485_760 }])
    );
    assert_eq!(
        items[3]["media"],
        json!([{ "kind": "image", "state": "unavailable", "platform_code": 40007, "message": "invalid media_id" }])
    );
    assert!(items[4].get("media").is_none(), "{}", items[4]);
    assert_eq!(links.requests().len(), 2);
}

#[tokio::test]
async fn whoever_cannot_read_the_thread_gets_no_link() {
    let (mut desk, store, _) = fixture();
    let links = Arc::new(FakeLinks::default());
    desk.media.links = Some(links.clone());
    threads(&store);
    // agent1 (team complaints) and s1 (team sales): not found, no link made.
    let r = send(
        &desk,
        "GET",
        "/conversations/wechat:demo:s1/messages",
        Some("agent1"),
        None,
        &[],
    )
    .await;
    assert_eq!(r.status, 404);
    assert!(!r.body.to_string().contains("media.example"));
    assert!(links.requests().is_empty());
    // agent3 (team sales) sees it, with its link.
    let r = send(
        &desk,
        "GET",
        "/conversations/wechat:demo:s1/messages",
        Some("agent3"),
        None,
        &[],
    )
    .await;
    assert_eq!(r.status, 200);
    assert!(
        r.body["items"][0]["media"][0]["url"]
            .as_str()
            .unwrap()
            .starts_with("https://media.example/media/s1/image?type=image/png")
    );
}

#[tokio::test]
async fn without_a_bucket_or_a_link_the_records_show_without_urls() {
    let (desk, store, _) = fixture();
    threads(&store);
    let r = send(
        &desk,
        "GET",
        "/conversations/wechat:demo:c1/messages",
        Some("agent1"),
        None,
        &[],
    )
    .await;
    assert_eq!(r.status, 200);
    assert_eq!(r.body["items"][0]["media"][0]["state"], "stored");
    assert!(r.body["items"][0]["media"][0].get("url").is_none());
    let (mut desk, store, _) = fixture();
    desk.media.links = Some(Arc::new(FakeLinks::failing()));
    threads(&store);
    let r = send(
        &desk,
        "GET",
        "/conversations/wechat:demo:c1/messages",
        Some("agent1"),
        None,
        &[],
    )
    .await;
    assert_eq!(r.status, 200, "a link that cannot be made fails nothing");
    assert!(r.body["items"][0]["media"][0].get("url").is_none());
}

struct Accounts(Arc<AccountsDocument>);

#[async_trait]
impl AccountDirectory for Accounts {
    async fn accounts(&self) -> Result<Arc<AccountsDocument>, PortError> {
        Ok(self.0.clone())
    }
}

struct UploadFakes {
    store: Arc<MemoryUploads>,
    tokens: Arc<CountingTokens>,
    wechat: Arc<ScriptedWeChatMedia>,
}

/// The fixture's desk with uploads: a WeChat account `demo` with API credentials, a Weibo
/// account `brand`, and the given upload limit.
fn with_uploads(max: usize) -> (Desk, UploadFakes) {
    let (mut desk, store, _) = fixture();
    // boss (a supervisor) also works weibo:brand.
    store
        .agents
        .lock()
        .unwrap()
        .get_mut("boss")
        .unwrap()
        .accounts
        .extend(["weibo:brand".to_string(), "wechat:nope".to_string()]);
    let doc: AccountsDocument = serde_json::from_value(json!({
        "wechat": {"demo": {"app_id": "wx1", "app_secret": "s"}},
        "weibo": {"brand": {"app_key": "k", "access_token": "t", "receiver_uid": "1"}},
    }))
    .unwrap();
    let fakes = UploadFakes {
        store: Arc::new(MemoryUploads::default()),
        tokens: Arc::new(CountingTokens::default()),
        wechat: Arc::new(ScriptedWeChatMedia {
            created_at: NOW / 1000,
            ..Default::default()
        }),
    };
    desk.media.uploads = Some(Arc::new(Uploads {
        accounts: Arc::new(Accounts(Arc::new(doc))),
        store: fakes.store.clone(),
        tokens: fakes.tokens.clone(),
        wechat: fakes.wechat.clone(),
    }));
    desk.media.max_upload_bytes = max;
    (desk, fakes)
}

async fn post_media(desk: &Desk, token: &str, query: &[(&str, &str)], body: &[u8]) -> (u16, Value) {
    let request = lambda_http::http::Request::builder()
        .method("POST")
        .uri("https://desk.example/media")
        .header("authorization", format!("Bearer {token}"))
        .header("content-type", "application/octet-stream")
        .body(Body::Binary(body.to_vec()))
        .unwrap()
        .with_query_string_parameters(
            query
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect::<std::collections::HashMap<_, _>>(),
        );
    let response = handle_request_at(desk, request, NOW).await;
    let status = response.status().as_u16();
    let body = match response.body() {
        Body::Text(t) => serde_json::from_str(t).unwrap(),
        _ => Value::Null,
    };
    (status, body)
}

fn png(len: usize) -> Vec<u8> {
    let mut v = b"\x89PNG\r\n\x1a\n".to_vec();
    v.resize(len, 3);
    v
}

#[tokio::test]
async fn an_agent_uploads_a_picture_of_their_wechat_account_and_gets_its_media_id() {
    let (desk, fakes) = with_uploads(1_000_000);
    // Larger than any JSON body the desk takes (4096 in the fixture).
    let body = png(50_000);
    let (status, answer) = post_media(&desk, "agent1", &[("account", "wechat:demo")], &body).await;
    assert_eq!(status, 201, "{answer}");
    assert_eq!(answer["media_id"], "media-1");
    assert_eq!(answer["type"], "image");
    assert_eq!(answer["bytes"], 50_000);
    assert_eq!(answer["content_type"], "image/png");
    assert_eq!(
        answer["expires_at_ms"],
        (NOW / 1000) * 1000 + 3 * 86_400_000
    );
    let sha = answer["sha256"].as_str().unwrap();
    assert_eq!(answer["upload_key"], format!("uploads/wechat/demo/{sha}"));
    assert!(
        fakes
            .store
            .objects
            .lock()
            .unwrap()
            .contains_key(&format!("uploads/wechat/demo/{sha}"))
    );
    let calls = fakes.wechat.calls.lock().unwrap().clone();
    assert_eq!(calls.len(), 1);
    assert_eq!(calls[0].4, body);
    assert_eq!(*fakes.tokens.fetched.lock().unwrap(), 1);
}

#[tokio::test]
async fn uploads_are_refused_with_a_reason_before_anything_is_sent() {
    let (desk, fakes) = with_uploads(100_000);
    let demo = [("account", "wechat:demo")];
    type Case<'a> = (&'a str, Vec<(&'a str, &'a str)>, Vec<u8>, u16, &'a str);
    let cases: Vec<Case<'_>> = vec![
        (
            "over DESK_MAX_UPLOAD_BYTES",
            demo.to_vec(),
            png(100_001),
            413,
            "too_large",
        ),
        (
            "not a picture",
            demo.to_vec(),
            b"<svg onload=alert(1)>".to_vec(),
            415,
            "unsupported_media_type",
        ),
        (
            "a PNG as a thumbnail",
            vec![("account", "wechat:demo"), ("type", "thumb")],
            png(10),
            415,
            "unsupported_media_type",
        ),
        ("no account", vec![], png(10), 400, "invalid_request"),
        (
            "a bad type",
            vec![("account", "wechat:demo"), ("type", "gif")],
            png(10),
            400,
            "invalid_request",
        ),
        (
            "an empty file",
            demo.to_vec(),
            vec![],
            400,
            "invalid_request",
        ),
        (
            "another account",
            vec![("account", "wechat:other")],
            png(10),
            403,
            "forbidden",
        ),
    ];
    for (what, query, body, status, code) in cases {
        let (got, answer) = post_media(&desk, "agent1", &query, &body).await;
        assert_eq!(
            (got, answer["error"].as_str()),
            (status, Some(code)),
            "{what}: {answer}"
        );
    }
    let (_, answer) = post_media(&desk, "agent1", &demo, &png(100_001)).await;
    assert_eq!(answer["limit"], 100_000);
    // Weibo: no media in its replies.
    let (status, answer) = post_media(&desk, "boss", &[("account", "weibo:brand")], &png(10)).await;
    assert_eq!(
        (status, answer["error"].as_str()),
        (422, Some("unsupported_channel")),
        "{answer}"
    );
    assert!(fakes.wechat.calls.lock().unwrap().is_empty());
    assert!(fakes.store.objects.lock().unwrap().is_empty());
    // An account in the caller's scope that the accounts document does not have: not found.
    let (status, answer) = post_media(&desk, "boss", &[("account", "wechat:nope")], &png(10)).await;
    assert_eq!((status, answer["error"].as_str()), (404, Some("not_found")));
}

#[tokio::test]
async fn wechats_refusal_is_a_502_with_its_code_and_a_stale_token_is_replaced_once() {
    let (desk, fakes) = with_uploads(100_000);
    let refusal = |code: i64| {
        gateway_core::delivery::platform::CallError::Platform(
            gateway_core::desk::upload::parse_upload_answer(&format!(
                r#"{{"errcode":{code},"errmsg":"refused"}}"#
            ))
            .unwrap()
            .unwrap_err(),
        )
    };
    fakes.wechat.then(Err(refusal(40001)));
    let (status, answer) =
        post_media(&desk, "agent1", &[("account", "wechat:demo")], &png(10)).await;
    assert_eq!(status, 201, "{answer}");
    let tokens: Vec<String> = fakes
        .wechat
        .calls
        .lock()
        .unwrap()
        .iter()
        .map(|c| c.0.clone())
        .collect();
    assert_eq!(tokens, ["token-1", "token-2"]);
    fakes
        .wechat
        .then(Err(gateway_core::delivery::platform::CallError::uncertain(
            "timed out",
        )));
    let (status, answer) =
        post_media(&desk, "agent1", &[("account", "wechat:demo")], &png(10)).await;
    assert_eq!(
        (status, answer["error"].as_str()),
        (502, Some("platform_unreachable")),
        "{answer}"
    );
    fakes.wechat.then(Err(refusal(40005)));
    let (status, answer) =
        post_media(&desk, "agent1", &[("account", "wechat:demo")], &png(10)).await;
    assert_eq!(
        (
            status,
            answer["error"].as_str(),
            answer["platform_code"].as_i64()
        ),
        (502, Some("platform_error"), Some(40005)),
        "{answer}"
    );
}

#[tokio::test]
async fn without_a_bucket_uploads_are_unavailable_and_other_bodies_keep_their_limit() {
    let (desk, _, _) = fixture();
    let (status, answer) =
        post_media(&desk, "agent1", &[("account", "wechat:demo")], &png(10)).await;
    assert_eq!(
        (status, answer["error"].as_str()),
        (503, Some("media_unavailable"))
    );
    // DESK_MAX_UPLOAD_BYTES is for POST /media only: a note as large is still refused.
    let (desk, _) = with_uploads(1_000_000);
    let big = format!(r#"{{"text":"{}"}}"#, "x".repeat(5_000));
    let r = send(
        &desk,
        "POST",
        "/conversations/wechat:demo:c1/notes",
        Some("agent1"),
        Some(&big),
        &[],
    )
    .await;
    assert_eq!(r.status, 413);
    let r = send(&desk, "GET", "/media", Some("agent1"), None, &[]).await;
    assert_eq!(r.status, 405);
}

#[tokio::test]
async fn a_reply_may_name_only_a_file_of_its_conversations_account() {
    let (desk, _, queue) = fixture();
    let path = "/conversations/wechat:demo:c1/replies";
    let reply = |upload: &str| format!(r#"{{"content":{{"type":"image","upload":"{upload}"}}}}"#);
    let own = format!("uploads/wechat/demo/{}", "a".repeat(64));
    let r = send(&desk, "POST", path, Some("agent1"), Some(&reply(&own)), &[]).await;
    assert_eq!(r.status, 202, "{}", r.body);
    // Another account's file: refused here (the reply sender would upload it as is).
    let other = format!("uploads/wechat/other/{}", "a".repeat(64));
    let r = send(
        &desk,
        "POST",
        path,
        Some("agent1"),
        Some(&reply(&other)),
        &[],
    )
    .await;
    assert_eq!(
        (r.status, r.body["field"].as_str()),
        (400, Some("content.upload")),
        "{}",
        r.body
    );
    // Not a key of an agent's file at all: refused too.
    for bad in [
        format!("uploads/weibo/demo/{}", "a".repeat(64)),
        "uploads/wechat/demo/../other/x".to_string(),
        format!("media/wechat/demo/{}", "a".repeat(64)),
    ] {
        let r = send(&desk, "POST", path, Some("agent1"), Some(&reply(&bad)), &[]).await;
        assert_eq!(r.status, 400, "{bad}: {}", r.body);
    }
    assert_eq!(queue.queued.lock().unwrap().len(), 1);
}
