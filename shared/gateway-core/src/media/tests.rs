//! Table tests of the media foundation: keys, commands, records, classification, and the
//! fetch use case over the in-memory fakes.
#![allow(clippy::unwrap_used)]

use super::*;
use crate::message::{Channel, Content, NormalizedMessage};
use crate::ports::{PortError, Retry};
use crate::testing::media::{FakeMediaSource, InMemoryMediaStore};
use crate::testing::text_message;
use serde_json::json;
use sha2::{Digest, Sha256};

#[test]
fn keys_encode_every_id_as_one_safe_segment() {
    let cases: &[(&str, &str, &str, &str)] = &[
        // (account, conversation, message id, expected key after `media/wechat/`)
        (
            "demo",
            "wechat:demo:oUser",
            "ab12",
            "demo/wechat%3Ademo%3AoUser/ab12/image",
        ),
        ("a/b", "c", "d", "a%2Fb/c/d/image"),
        ("..", "c", "d", "%2E%2E/c/d/image"),
        (".", "../../etc", "d", "%2E/%2E%2E%2F%2E%2E%2Fetc/d/image"),
        ("demo", "c", "x/../y", "demo/c/x%2F%2E%2E%2Fy/image"),
        ("客服", "c", "d", "%E5%AE%A2%E6%9C%8D/c/d/image"),
        ("a b", "c\nd", "e%2F", "a%20b/c%0Ad/e%252F/image"),
        ("A-Z_09", "c", "d", "A-Z_09/c/d/image"),
    ];
    for (account, conversation, message_id, expected) in cases {
        let key = object_key(
            Channel::WeChat,
            account,
            conversation,
            message_id,
            MediaKind::Image,
        )
        .unwrap();
        assert_eq!(key, format!("media/wechat/{expected}"), "{account:?}");
        let segments: Vec<&str> = key.split('/').collect();
        assert_eq!(segments.len(), 6, "{key}");
        for s in &segments {
            assert!(!s.is_empty() && *s != "." && *s != "..", "{key}");
            assert!(s.bytes().all(|b| b.is_ascii_graphic()), "{key}");
        }
    }
}

#[test]
fn keys_refuse_empty_and_overlong_ids() {
    let long = "x".repeat(key::MAX_SEGMENT_BYTES + 1);
    let unicode_long = "客".repeat(key::MAX_SEGMENT_BYTES / 9 + 1); // 9 encoded bytes each
    let cases: &[(&str, &str, &str, KeyError)] = &[
        ("", "c", "d", KeyError::Empty("account")),
        ("a", "", "d", KeyError::Empty("conversation")),
        ("a", "c", "", KeyError::Empty("message id")),
        (
            "a",
            &long,
            "d",
            KeyError::TooLong("conversation", long.len()),
        ),
        (
            "a",
            "c",
            &unicode_long,
            KeyError::TooLong("message id", 9 * unicode_long.chars().count()),
        ),
    ];
    for (account, conversation, message_id, expected) in cases {
        let got = object_key(
            Channel::Weibo,
            account,
            conversation,
            message_id,
            MediaKind::Voice,
        );
        assert_eq!(got.as_ref(), Err(expected), "{account:?} {conversation:?}");
    }
    // The longest accepted key stays under S3's 1,024 bytes.
    let max = "x".repeat(key::MAX_SEGMENT_BYTES);
    let key = object_key(Channel::WeChat, &max, &max, &max, MediaKind::Thumb).unwrap();
    assert!(key.len() < 1024, "{}", key.len());
}

#[test]
fn a_conversations_prefix_holds_its_objects_and_no_other_conversations() {
    let prefix = conversation_prefix(Channel::WeChat, "demo", "wechat:demo:oUser").unwrap();
    assert_eq!(prefix, "media/wechat/demo/wechat%3Ademo%3AoUser/");
    let own = object_key(
        Channel::WeChat,
        "demo",
        "wechat:demo:oUser",
        "m1",
        MediaKind::Image,
    )
    .unwrap();
    assert!(own.starts_with(&prefix), "{own}");
    // A customer whose id extends this one's is not under the prefix.
    let other = object_key(
        Channel::WeChat,
        "demo",
        "wechat:demo:oUser2",
        "m1",
        MediaKind::Image,
    )
    .unwrap();
    assert!(!other.starts_with(&prefix), "{other}");
    assert_eq!(
        conversation_prefix(Channel::Weibo, "brand", ""),
        Err(KeyError::Empty("conversation"))
    );
}

#[test]
fn limits_per_kind_are_the_documented_ones() {
    let cases = [
        (MediaKind::Image, 10 * 1024 * 1024),
        (MediaKind::Voice, 2 * 1024 * 1024),
        (MediaKind::Video, 10 * 1024 * 1024),
        (MediaKind::Thumb, 128 * 1024),
    ];
    for (kind, bytes) in cases {
        assert_eq!(kind.max_bytes(), bytes, "{kind}");
    }
    assert_eq!(MediaKind::ALL.len(), cases.len());
}

fn message(channel: Channel, content: Content) -> NormalizedMessage {
    let mut m = text_message("demo", "oUser", "42", "", 1_700_000_000_000);
    m.channel = channel;
    m.conversation_key = NormalizedMessage::conversation_key_for(channel, "demo", "oUser");
    m.content = content;
    m
}

fn some(s: &str) -> Option<String> {
    Some(s.into())
}

#[test]
fn which_messages_need_a_fetch() {
    use MediaKind::*;
    let video = |media_id: Option<String>, thumb: Option<String>, short| Content::Video {
        media_id,
        thumb_media_id: thumb,
        short,
    };
    let voice = |media_id: Option<String>, format: Option<String>| Content::Voice {
        media_id,
        format,
        recognition: some("你好"),
    };
    let image = |media_id: Option<String>, url: Option<String>| Content::Image { media_id, url };
    type Expected = Vec<(MediaKind, &'static str, Option<&'static str>)>;
    let cases: Vec<(Channel, Content, Expected)> = vec![
        (
            Channel::WeChat,
            image(some("M1"), some("http://pic")),
            vec![(Image, "M1", None)],
        ),
        (Channel::WeChat, image(None, some("http://pic")), vec![]),
        (Channel::WeChat, image(some("  "), None), vec![]),
        (
            Channel::WeChat,
            voice(some("V1"), some("amr")),
            vec![(Voice, "V1", Some("amr"))],
        ),
        (
            Channel::WeChat,
            voice(some("V2"), some("")),
            vec![(Voice, "V2", None)],
        ),
        (
            Channel::WeChat,
            video(some("VID"), some("TH"), false),
            vec![(Video, "VID", None), (Thumb, "TH", None)],
        ),
        (
            Channel::WeChat,
            video(some("SV"), some("TH2"), true),
            vec![(Video, "SV", None), (Thumb, "TH2", None)],
        ),
        (
            Channel::WeChat,
            video(some("SV"), None, true),
            vec![(Video, "SV", None)],
        ),
        (
            Channel::Weibo,
            image(some("821804469"), None),
            vec![(Image, "821804469", None)],
        ),
        (
            Channel::Weibo,
            voice(some("821804470"), None),
            vec![(Voice, "821804470", None)],
        ),
        (Channel::Weibo, video(some("x"), None, false), vec![]),
        (Channel::WeChat, Content::Text { text: "hi".into() }, vec![]),
        (
            Channel::WeChat,
            Content::Other {
                platform_type: "file".into(),
            },
            vec![],
        ),
    ];
    for (channel, content, expected) in cases {
        let m = message(channel, content.clone());
        let got: Vec<_> = fetch_commands(&m, 3)
            .into_iter()
            .map(|c| {
                assert_eq!(c.schema_version, MEDIA_FETCH_SCHEMA_VERSION);
                assert_eq!(c.channel, channel);
                assert_eq!(c.account_id, "demo");
                assert_eq!(c.conversation_key, m.conversation_key);
                assert_eq!(c.message_id, m.dedupe_id());
                c.object_key().unwrap();
                (c.kind, c.media_id, c.format)
            })
            .collect();
        let expected: Vec<_> = expected
            .into_iter()
            .map(|(k, id, f)| (k, id.to_string(), f.map(str::to_string)))
            .collect();
        assert_eq!(got, expected, "{channel} {content:?}");
    }
}

#[test]
fn fetch_command_wire_form() {
    let m = message(
        Channel::WeChat,
        Content::Voice {
            media_id: some("MEDIA_ID"),
            format: some("amr"),
            recognition: None,
        },
    );
    let command = fetch_commands(&m, 3).remove(0);
    let wire = serde_json::to_value(&command).unwrap();
    assert_eq!(
        wire,
        json!({
            "schema_version": 1, "channel": "wechat", "account_id": "demo",
            "conversation_key": "wechat:demo:oUser", "message_id": m.dedupe_id(),
            "thread_seq": 3, "kind": "voice", "media_id": "MEDIA_ID", "format": "amr",
        })
    );
    assert_eq!(serde_json::from_value::<MediaFetch>(wire).unwrap(), command);
    // `format` is optional on the wire.
    let minimal = json!({
        "schema_version": 1, "channel": "weibo", "account_id": "b",
        "conversation_key": "weibo:b:1", "message_id": "m", "thread_seq": 1, "kind": "image",
        "media_id": "9",
    });
    let parsed: MediaFetch = serde_json::from_value(minimal).unwrap();
    assert_eq!((parsed.kind, parsed.format), (MediaKind::Image, None));
}

#[test]
fn media_record_wire_form() {
    let cases = [
        (
            MediaState::Stored {
                s3_key: "media/wechat/demo/c/m/image".into(),
                content_type: "image/jpeg".into(),
                bytes: 3,
                sha256: "ab".into(),
            },
            json!({"state": "stored", "s3_key": "media/wechat/demo/c/m/image",
                   "content_type": "image/jpeg", "bytes": 3, "sha256": "ab"}),
        ),
        (
            MediaState::TooLarge {
                bytes: 11,
                limit: 10,
            },
            json!({"state": "too_large", "bytes": 11, "limit": 10}),
        ),
        (
            MediaState::Unavailable {
                platform_code: 40007,
                message: "invalid media_id".into(),
            },
            json!({"state": "unavailable", "platform_code": 40007, "message": "invalid media_id"}),
        ),
    ];
    for (state, expected) in cases {
        let record = MediaRecord {
            kind: MediaKind::Image,
            media_id: "M".into(),
            recorded_at_ms: 5,
            state: state.clone(),
        };
        let mut want = expected.clone();
        want["kind"] = json!("image");
        want["media_id"] = json!("M");
        want["recorded_at_ms"] = json!(5);
        let wire = serde_json::to_value(&record).unwrap();
        assert_eq!(wire, want, "{}", state.label());
        assert_eq!(serde_json::from_value::<MediaRecord>(wire).unwrap(), record);
    }
}

#[test]
fn platform_errors_are_classified() {
    let cases = [
        (Channel::WeChat, 40007, ErrorClass::Unavailable),
        (Channel::WeChat, -1, ErrorClass::Transient),
        (Channel::WeChat, 45009, ErrorClass::Transient),
        (Channel::WeChat, 42001, ErrorClass::Transient),
        (Channel::WeChat, 40001, ErrorClass::Transient),
        (Channel::WeChat, 40164, ErrorClass::Permanent),
        (Channel::WeChat, 48001, ErrorClass::Permanent),
        (Channel::Weibo, 10001, ErrorClass::Transient),
        (Channel::Weibo, 10023, ErrorClass::Transient),
        (Channel::Weibo, 21332, ErrorClass::Transient),
        (Channel::Weibo, 40007, ErrorClass::Permanent),
        (Channel::Weibo, 21301, ErrorClass::Permanent),
    ];
    for (channel, code, class) in cases {
        assert_eq!(
            classify_platform_error(channel, code),
            class,
            "{channel} {code}"
        );
    }
}

// ---- the fetch use case over the fakes ----

const JPEG: &[u8] = b"\xff\xd8\xff\xe0 a small test jpeg \xff\xd9";

fn image_command(media_id: &str) -> MediaFetch {
    let m = message(
        Channel::WeChat,
        Content::Image {
            media_id: some(media_id),
            url: None,
        },
    );
    fetch_commands(&m, 3).remove(0)
}

#[tokio::test]
async fn stores_the_same_bytes_and_their_sha256() {
    let (source, store) = (FakeMediaSource::default(), InMemoryMediaStore::default());
    source.insert("M1", "image/jpeg", JPEG);
    let command = image_command("M1");
    let key = command.object_key().unwrap();
    let outcome = fetch_one(&command, &source, &store, 7).await;
    let expected = MediaRecord {
        kind: MediaKind::Image,
        media_id: "M1".into(),
        recorded_at_ms: 7,
        state: MediaState::Stored {
            s3_key: key.clone(),
            content_type: "image/jpeg".into(),
            bytes: JPEG.len() as u64,
            sha256: hex::encode(Sha256::digest(JPEG)),
        },
    };
    assert_eq!(outcome, FetchOutcome::Recorded(expected.clone()));
    assert_eq!(store.body(&key).unwrap(), JPEG);
    let request = source.requests.lock().unwrap()[0].clone();
    assert_eq!(request.max_bytes, MediaKind::Image.max_bytes());
    assert_eq!(
        (request.channel, request.account_id.as_str()),
        (Channel::WeChat, "demo")
    );
}

#[tokio::test]
async fn a_redelivered_command_stores_once_and_downloads_once() {
    let (source, store) = (FakeMediaSource::default(), InMemoryMediaStore::default());
    source.insert("M1", "image/jpeg", JPEG);
    let command = image_command("M1");
    let first = fetch_one(&command, &source, &store, 7).await;
    let again = fetch_one(&command, &source, &store, 9).await;
    let (FetchOutcome::Recorded(a), FetchOutcome::Recorded(b)) = (first, again) else {
        panic!("not recorded");
    };
    assert_eq!(a.state, b.state);
    assert_eq!((store.writes(), store.len(), source.downloads()), (1, 1, 1));
}

#[tokio::test]
async fn a_concurrent_writer_wins_and_its_object_is_recorded() {
    let (source, store) = (FakeMediaSource::default(), InMemoryMediaStore::default());
    source.insert("M1", "image/jpeg", JPEG);
    let command = image_command("M1");
    let key = command.object_key().unwrap();
    // Another delivery stored it between our head and our put: simulate with a store whose
    // object appears after the head (put_if_absent sees it).
    struct Racing(InMemoryMediaStore, StoredObject);
    #[async_trait::async_trait]
    impl MediaStore for Racing {
        async fn head(&self, _: &str) -> Result<Option<StoredObject>, PortError> {
            Ok(None)
        }
        async fn put_if_absent(
            &self,
            key: &str,
            object: &StoredObject,
            body: &[u8],
        ) -> Result<PutOutcome, PortError> {
            self.0.put_if_absent(key, &self.1, b"other").await?;
            self.0.put_if_absent(key, object, body).await
        }
    }
    let theirs = StoredObject {
        content_type: "image/png".into(),
        bytes: 5,
        sha256: "ff".into(),
    };
    let racing = Racing(store, theirs.clone());
    let FetchOutcome::Recorded(record) = fetch_one(&command, &source, &racing, 7).await else {
        panic!("not recorded");
    };
    assert_eq!(
        record.state,
        MediaState::Stored {
            s3_key: key.clone(),
            content_type: theirs.content_type,
            bytes: theirs.bytes,
            sha256: theirs.sha256,
        }
    );
    assert_eq!(racing.0.body(&key).unwrap(), b"other");
}

#[tokio::test]
async fn too_large_is_recorded_with_its_size_and_not_stored() {
    let (source, store) = (FakeMediaSource::default(), InMemoryMediaStore::default());
    let voice = vec![0u8; (MediaKind::Voice.max_bytes() + 1) as usize];
    source.insert("V1", "audio/amr", &voice);
    let m = message(
        Channel::WeChat,
        Content::Voice {
            media_id: some("V1"),
            format: some("amr"),
            recognition: None,
        },
    );
    let outcome = fetch_one(&fetch_commands(&m, 3)[0], &source, &store, 7).await;
    let FetchOutcome::Recorded(record) = outcome else {
        panic!("{outcome:?}")
    };
    assert_eq!(
        record.state,
        MediaState::TooLarge {
            bytes: voice.len() as u64,
            limit: MediaKind::Voice.max_bytes(),
        }
    );
    assert!(store.is_empty());
}

#[tokio::test]
async fn download_failures_are_classified() {
    let unavailable = |code: i64, message: &str| MediaState::Unavailable {
        platform_code: code,
        message: message.into(),
    };
    let platform = |code: i64| SourceError::Platform {
        code,
        message: "m".into(),
    };
    let transport = |retry| SourceError::Transport {
        retry,
        reason: "timeout".into(),
    };
    let cases: Vec<(SourceError, &str)> = vec![
        (platform(40007), "unavailable"),
        (SourceError::NotFound { http_status: 404 }, "unavailable"),
        (platform(-1), "retry"),
        (platform(42001), "retry"),
        (transport(Retry::Transient), "retry"),
        (platform(40164), "dead_letter"),
        (transport(Retry::Permanent), "dead_letter"),
        (SourceError::TooLarge { bytes: 20_000_000 }, "too_large"),
    ];
    for (error, expected) in cases {
        let (source, store) = (FakeMediaSource::default(), InMemoryMediaStore::default());
        source.insert("M1", "image/jpeg", JPEG);
        source.fail_next("M1", error.clone());
        let outcome = fetch_one(&image_command("M1"), &source, &store, 7).await;
        let got = match &outcome {
            FetchOutcome::Recorded(r) => r.state.label(),
            FetchOutcome::Retry { .. } => "retry",
            FetchOutcome::DeadLetter { .. } => "dead_letter",
        };
        assert_eq!(got, expected, "{error:?}");
        assert!(store.is_empty(), "{error:?}");
        if let FetchOutcome::Recorded(r) = &outcome {
            match error {
                SourceError::Platform { code, .. } => assert_eq!(r.state, unavailable(code, "m")),
                SourceError::NotFound { .. } => assert_eq!(r.state, unavailable(404, "not found")),
                _ => {}
            }
        }
    }
}

#[tokio::test]
async fn expired_media_is_unavailable_and_a_transient_error_then_succeeds() {
    let (source, store) = (FakeMediaSource::default(), InMemoryMediaStore::default());
    // Never registered: the fake answers 40007, as WeChat does after 3 days.
    let outcome = fetch_one(&image_command("EXPIRED"), &source, &store, 7).await;
    let FetchOutcome::Recorded(record) = outcome else {
        panic!("{outcome:?}")
    };
    assert_eq!(
        record.state,
        MediaState::Unavailable {
            platform_code: 40007,
            message: "invalid media_id".into(),
        }
    );
    // Transient, then the retry stores it.
    source.insert("M2", "image/jpeg", JPEG);
    source.fail_next(
        "M2",
        SourceError::Platform {
            code: -1,
            message: "system error".into(),
        },
    );
    let command = image_command("M2");
    assert!(matches!(
        fetch_one(&command, &source, &store, 7).await,
        FetchOutcome::Retry { .. }
    ));
    let outcome = fetch_one(&command, &source, &store, 8).await;
    assert_eq!(
        outcome.clone(),
        match outcome {
            FetchOutcome::Recorded(ref r) if r.state.label() == "stored" => outcome.clone(),
            other => panic!("{other:?}"),
        }
    );
    assert_eq!(store.writes(), 1);
}

#[tokio::test]
async fn store_failures_retry_or_dead_letter_and_invalid_commands_dead_letter() {
    let (source, store) = (FakeMediaSource::default(), InMemoryMediaStore::default());
    source.insert("M1", "image/jpeg", JPEG);
    store.fail_next(PortError::transient("s3 head_object", "throttled"));
    let command = image_command("M1");
    assert!(matches!(
        fetch_one(&command, &source, &store, 7).await,
        FetchOutcome::Retry { .. }
    ));
    store.fail_next(PortError::permanent("s3 head_object", "access denied"));
    assert!(matches!(
        fetch_one(&command, &source, &store, 7).await,
        FetchOutcome::DeadLetter { .. }
    ));
    let mut invalid = command.clone();
    invalid.account_id.clear();
    assert!(matches!(
        fetch_one(&invalid, &source, &store, 7).await,
        FetchOutcome::DeadLetter { .. }
    ));
    let mut invalid = command;
    invalid.media_id.clear();
    assert!(matches!(
        fetch_one(&invalid, &source, &store, 7).await,
        FetchOutcome::DeadLetter { .. }
    ));
    assert_eq!(source.downloads(), 0);
    assert!(store.is_empty());
}

#[tokio::test]
async fn the_outcome_is_recorded_on_its_message_only() {
    use crate::media::{Handled, fetch_and_record};
    use crate::testing::media::InMemoryMediaRecords;
    let source = FakeMediaSource::default();
    let store = InMemoryMediaStore::default();
    let records = InMemoryMediaRecords::default();
    source.insert("PIC", "image/jpeg", b"jpeg bytes");
    let command = image_command("PIC");
    // The router has not committed the message yet: retried, though the object is kept.
    let first = fetch_and_record(&command, &source, &store, &records, 5).await;
    assert!(matches!(first, Handled::Retry { ref reason } if reason.contains("not stored")));
    assert_eq!(store.writes(), 1);
    // Once it has, the retry records on it without downloading again.
    records.store_message(
        &command.conversation_key,
        command.thread_seq,
        &command.message_id,
    );
    let second = fetch_and_record(&command, &source, &store, &records, 6).await;
    let Handled::Recorded(record) = second else {
        panic!("{second:?}")
    };
    assert_eq!(record.state.label(), "stored");
    assert_eq!(source.downloads(), 1);
    assert_eq!(store.writes(), 1);
    let on_item = records.records(&command.conversation_key, command.thread_seq);
    assert_eq!(on_item.get("image"), Some(&record));
    // A command from a routing attempt that lost a conflict names another message's place:
    // retried (and dead-lettered with the reason after the last attempt), never recorded there.
    let mut stale = command.clone();
    stale.thread_seq += 1;
    records.store_message(&stale.conversation_key, stale.thread_seq, "another message");
    assert!(matches!(
        fetch_and_record(&stale, &source, &store, &records, 7).await,
        Handled::Retry { .. }
    ));
    assert!(
        records
            .records(&stale.conversation_key, stale.thread_seq)
            .is_empty()
    );
}
