#![allow(clippy::unwrap_used)]
use super::*;

#[test]
fn a_cursor_reads_back_only_for_its_own_partition_and_attributes() {
    let key: Item = [
        ("PK".to_string(), s("CONV#wechat:demo:u1")),
        ("SK".to_string(), s("META")),
        ("GSI2PK".to_string(), s("TEAM#complaints#open")),
        ("GSI2SK".to_string(), s("0-waiting#1#1#wechat:demo:u1")),
    ]
    .into();
    let cursor = encode_cursor(&key).unwrap();
    let names = ["PK", "SK", "GSI2PK", "GSI2SK"];
    assert_eq!(
        decode_cursor(&cursor, &names, "GSI2PK", "TEAM#complaints#open").unwrap(),
        key
    );
    // Another team's queue, other attributes, or garbage: refused.
    assert_eq!(
        decode_cursor(&cursor, &names, "GSI2PK", "TEAM#sales#open"),
        Err(BadCursor)
    );
    assert_eq!(
        decode_cursor(&cursor, &["PK", "SK"], "PK", "CONV#wechat:demo:u1"),
        Err(BadCursor)
    );
    assert_eq!(decode_cursor("!!", &names, "GSI2PK", "x"), Err(BadCursor));
}

#[test]
fn an_inbound_item_carries_its_media_records_and_skips_unreadable_ones() {
    use gateway_core::media::{MediaKind, MediaState};
    let m = gateway_core::testing::text_message("demo", "u1", "1", "hi", 1);
    let stored = MediaRecord {
        kind: MediaKind::Video,
        media_id: "V".into(),
        recorded_at_ms: 5,
        state: MediaState::Stored {
            s3_key: "media/wechat/demo/c/m/video".into(),
            content_type: "video/mp4".into(),
            bytes: 10,
            sha256: "0".repeat(64),
        },
    };
    let pending = MediaRecord {
        kind: MediaKind::Thumb,
        media_id: "T".into(),
        recorded_at_ms: 5,
        state: MediaState::Pending,
    };
    let mut media: Item = Item::new();
    media.insert(
        "thumb".into(),
        serde_dynamo::to_attribute_value(&pending).unwrap(),
    );
    media.insert(
        "video".into(),
        serde_dynamo::to_attribute_value(&stored).unwrap(),
    );
    media.insert("image".into(), s("not a record"));
    let mut item: Item = [
        ("SK".to_string(), s(thread_sk(3, "abc"))),
        ("direction".to_string(), s("in")),
        ("seq".to_string(), n(3)),
        (
            "message".to_string(),
            serde_dynamo::to_attribute_value(&m).unwrap(),
        ),
    ]
    .into();
    item.insert(
        "media".into(),
        aws_sdk_dynamodb::types::AttributeValue::M(media),
    );
    let read = thread_item(&item).unwrap().unwrap();
    assert_eq!(read.id, "abc");
    assert_eq!(read.media, vec![stored, pending]);
    item.remove("media");
    assert!(thread_item(&item).unwrap().unwrap().media.is_empty());
}
