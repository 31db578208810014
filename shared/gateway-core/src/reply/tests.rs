//! Unit tests of reply content.
#![allow(clippy::unwrap_used)]

use super::*;

#[test]
fn the_text_limit_is_exactly_what_the_length_check_enforces() {
    for (channel, unit, character) in [
        (Channel::WeChat, TextUnit::Bytes, "字"),
        (Channel::Weibo, TextUnit::Chars, "字"),
    ] {
        let limit = text_limit(channel);
        assert_eq!(limit.unit, unit);
        // Filled up to the limit in its unit (a Chinese character is 3 bytes).
        let per = limit.measure(character);
        let at = character.repeat(limit.max / per) + &"a".repeat(limit.max % per);
        assert_eq!(limit.measure(&at), limit.max);
        assert!(
            ReplyContent::text(&at).check_length(channel).is_ok(),
            "{channel}"
        );
        let over = format!("{at}a");
        assert!(
            ReplyContent::text(&over).check_length(channel).is_err(),
            "{channel}"
        );
    }
    assert_eq!(text_limit(Channel::WeChat).max, 2048);
    assert_eq!(text_limit(Channel::Weibo).max, 299);
    assert_eq!(
        serde_json::to_value(text_limit(Channel::Weibo)).unwrap(),
        serde_json::json!({"max": 299, "unit": "chars"})
    );
}

#[test]
fn round_trips_with_type_tag() {
    let cases = [
        (ReplyContent::text("hi"), r#"{"type":"text","text":"hi"}"#),
        (
            ReplyContent::Image {
                media_id: "m1".into(),
                upload: None,
            },
            r#"{"type":"image","media_id":"m1"}"#,
        ),
        (
            ReplyContent::Image {
                media_id: String::new(),
                upload: Some(format!("uploads/wechat/demo/{}", "a".repeat(64))),
            },
            r#"{"type":"image","upload":"uploads/wechat/demo/aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"}"#,
        ),
        (
            ReplyContent::Articles {
                articles: vec![Article {
                    title: "T".into(),
                    description: None,
                    url: "https://example.com".into(),
                    pic_url: None,
                }],
            },
            r#"{"type":"articles","articles":[{"title":"T","url":"https://example.com"}]}"#,
        ),
        (
            ReplyContent::Position {
                latitude: 31.2,
                longitude: 121.5,
            },
            r#"{"type":"position","latitude":31.2,"longitude":121.5}"#,
        ),
    ];
    for (content, json) in cases {
        assert_eq!(
            serde_json::to_string(&content).expect("serialize"),
            json,
            "{}",
            content.kind()
        );
        let back: ReplyContent = serde_json::from_str(json).expect("deserialize");
        assert_eq!(back, content);
    }
}

#[test]
fn rejects_unknown_fields() {
    let err = serde_json::from_str::<ReplyContent>(r#"{"type":"text","txt":"x"}"#);
    assert!(err.is_err());
}

#[test]
fn validate_catches_blank_and_out_of_range_values() {
    let article = |url: &str| Article {
        title: "t".into(),
        description: None,
        url: url.into(),
        pic_url: None,
    };
    let cases: Vec<(&str, ReplyContent, Option<&str>)> = vec![
        ("text ok", ReplyContent::text("hi"), None),
        (
            "blank text",
            ReplyContent::text("  "),
            Some("`text` is empty"),
        ),
        (
            "blank media",
            ReplyContent::Voice {
                media_id: String::new(),
                upload: None,
            },
            Some("`media_id` is empty"),
        ),
        (
            "both media id and upload",
            ReplyContent::Image {
                media_id: "m".into(),
                upload: Some(format!("uploads/wechat/demo/{}", "a".repeat(64))),
            },
            Some("not both"),
        ),
        (
            "an upload key of another shape",
            ReplyContent::Image {
                media_id: String::new(),
                upload: Some("media/wechat/demo/x/../image".into()),
            },
            Some("is not an upload key"),
        ),
        (
            "an upload key with a short digest",
            ReplyContent::Voice {
                media_id: String::new(),
                upload: Some("uploads/wechat/demo/abc".into()),
            },
            Some("is not an upload key"),
        ),
        (
            "no articles",
            ReplyContent::Articles { articles: vec![] },
            Some("at least one"),
        ),
        (
            "too many articles",
            ReplyContent::Articles {
                articles: vec![article("https://a.example"); 9],
            },
            Some("at most 8"),
        ),
        (
            "bad url",
            ReplyContent::Articles {
                articles: vec![article("ftp://x")],
            },
            Some("article 1 of 1: `url` must be an http"),
        ),
        (
            "latitude",
            ReplyContent::Position {
                latitude: 91.0,
                longitude: 0.0,
            },
            Some("latitude 91"),
        ),
        (
            "nan longitude",
            ReplyContent::Position {
                latitude: 0.0,
                longitude: f64::NAN,
            },
            Some("longitude NaN"),
        ),
        (
            "music url",
            ReplyContent::Music {
                title: None,
                description: None,
                music_url: Some("www.x.com".into()),
                hq_music_url: None,
                thumb_media_id: "t".into(),
            },
            Some("`music_url` must be"),
        ),
    ];
    for (desc, content, want) in cases {
        match (content.validate(), want) {
            (Ok(()), None) => {}
            (Err(e), Some(w)) => assert!(e.contains(w), "{desc}: got {e:?}, want {w:?}"),
            (got, want) => panic!("{desc}: got {got:?}, want {want:?}"),
        }
    }
}

#[test]
fn channel_support() {
    let pos = ReplyContent::Position {
        latitude: 0.0,
        longitude: 0.0,
    };
    assert!(pos.supported_on(Channel::Weibo));
    assert!(!pos.supported_on(Channel::WeChat));
    let img = ReplyContent::Image {
        media_id: "m".into(),
        upload: None,
    };
    assert!(img.supported_on(Channel::WeChat));
    assert!(!img.supported_on(Channel::Weibo));
    assert!(ReplyContent::text("x").supported_on(Channel::Weibo));
}

#[test]
fn summary_is_short() {
    let long = "很".repeat(500);
    let s = ReplyContent::text(long).summary();
    assert!(s.chars().count() < 80, "{s}");
}

#[test]
fn a_public_comment_round_trips_and_is_weibo_only() {
    let json = r#"{"type":"public_comment","text":"您好","post_id":"4900","comment_id":"4901"}"#;
    let content: ReplyContent = serde_json::from_str(json).unwrap();
    assert_eq!(serde_json::to_string(&content).unwrap(), json);
    assert_eq!(content.kind(), "public_comment");
    assert!(content.is_public());
    assert!(content.validate().is_ok());
    assert!(content.supported_on(Channel::Weibo));
    assert!(!content.supported_on(Channel::WeChat));
    // A comment on the post: no comment id.
    let on_post: ReplyContent =
        serde_json::from_str(r#"{"type":"public_comment","text":"x","post_id":"4900"}"#).unwrap();
    assert!(on_post.validate().is_ok());
    // Without a post: well-formed, but not valid as a command.
    let no_post: ReplyContent =
        serde_json::from_str(r#"{"type":"public_comment","text":"x"}"#).unwrap();
    assert!(
        no_post
            .validate()
            .unwrap_err()
            .contains("`post_id` is required")
    );
    // 140 characters at most, in the length check too.
    let long = ReplyContent::PublicComment {
        text: "好".repeat(141),
        post_id: "1".into(),
        comment_id: None,
    };
    assert!(
        long.check_length(Channel::Weibo)
            .unwrap_err()
            .contains("140")
    );
    assert!(long.validate().is_err());
    assert!(content.summary().starts_with("public reply"));
}
