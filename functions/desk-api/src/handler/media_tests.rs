//! Media over in-memory ports: records and links on the thread, scoped like the thread.
#![allow(clippy::unwrap_used)]

use super::tests::{NOW, fixture, send};
use gateway_core::desk::ports::{ThreadEntry, ThreadItem};
use gateway_core::desk::testing::FakeLinks;
use gateway_core::media::{MediaKind, MediaRecord, MediaState};
use gateway_core::testing::text_message;
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
