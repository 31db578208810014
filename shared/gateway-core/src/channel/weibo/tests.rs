//! Tests of [`super::handle`]: official signature vectors, every fixture in
//! `events/weibo/messages`, exact errors, dedupe keys and properties.
#![allow(clippy::unwrap_used)]

use super::simulate::{self, SimulatedRequest};
use super::*;
use crate::account::Secret;
use crate::message::{Content, RawFormat, event};
use proptest::prelude::*;
use std::collections::BTreeMap;
use std::path::PathBuf;

const SECRET: &str = "xyz123xyz";
const TS: i64 = 1_397_022_061_823;
const NONCE: &str = "57155157";
const RECEIVER: &str = "1902538057";
const SENDER: &str = "2489518277";
const CREATED: i64 = 1_342_433_360;

fn account() -> WeiboAccount {
    WeiboAccount {
        app_key: "123".into(),
        app_secret: Secret::new(SECRET),
        receiver_uid: Some(RECEIVER.into()),
        access_token: None,
        format: WeiboFormat::Json,
        listening: None,
    }
}

fn run(account: &WeiboAccount, req: &SimulatedRequest) -> Result<WebhookOutcome, WebhookError> {
    handle(account, &req.inbound("brand"), &Limits::default())
}

fn post(body: &str) -> Result<NormalizedMessage, WebhookError> {
    post_as(&account(), body)
}

fn post_as(account: &WeiboAccount, body: &str) -> Result<NormalizedMessage, WebhookError> {
    let req = simulate::push(account, body, TS, NONCE);
    match run(account, &req)? {
        WebhookOutcome::Message(m) => Ok(*m),
        other => panic!("expected a message, got {other:?}"),
    }
}

fn get(query: &[(&str, &str)]) -> Result<WebhookOutcome, WebhookError> {
    let query: BTreeMap<String, String> = query
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    let req = SimulatedRequest {
        method: HttpMethod::Get,
        query,
        body: Vec::new(),
        received_at_ms: TS,
    };
    run(&account(), &req)
}

fn text_body(text: &str) -> String {
    simulate::text_body(
        1_902_538_057,
        2_489_518_277,
        "Mon Jul 16 18:09:20 +0800 2012",
        text,
    )
}

fn fixtures_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../events/weibo/messages")
}

fn fixture(name: &str) -> String {
    std::fs::read_to_string(fixtures_dir().join(name)).unwrap()
}

fn ev(name: &str, platform: &str, key: Option<&str>, detail: &[(&str, &str)]) -> Content {
    Content::Event {
        event: name.into(),
        platform_event: platform.into(),
        key: key.map(str::to_string),
        detail: detail
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
    }
}

// ---------------------------------------------------------------------------------------
// Signatures and URL verification

#[test]
fn official_vector_s1_echoes_echostr_exactly() {
    let outcome = get(&[
        ("nonce", NONCE),
        ("timestamp", "1397022061823"),
        ("echostr", "dnPdpTZz85"),
        ("signature", "90e4c22c90a58f26526c2dd5b6c56c8822edeaa1"),
    ]);
    assert_eq!(outcome, Ok(WebhookOutcome::Echo("dnPdpTZz85".into())));
}

#[test]
fn vector_s2_from_fanserve_mock_verifies() {
    let account = WeiboAccount {
        app_secret: Secret::new("appsecretEnF5leY4V"),
        ..account()
    };
    let req = SimulatedRequest {
        method: HttpMethod::Get,
        query: [
            ("nonce", "213674821"),
            ("timestamp", "1416794721093"),
            ("echostr", "vIuz5ekD"),
            ("signature", "4281a145e46aa978f0140e45ae2853c10b82e2c9"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect(),
        body: Vec::new(),
        received_at_ms: 1_416_794_721_093,
    };
    assert_eq!(
        run(&account, &req),
        Ok(WebhookOutcome::Echo("vIuz5ekD".into()))
    );
}

#[test]
fn negative_vectors_n1_unsorted_and_n2_without_secret_are_rejected() {
    for signature in [
        "5dc129ad17c52fa89cee391a93a82e995e22a3e0",
        "979875ed5da4cfbca5862eaeb3b55ead314ad5cc",
    ] {
        let outcome = get(&[
            ("nonce", NONCE),
            ("timestamp", "1397022061823"),
            ("echostr", "dnPdpTZz85"),
            ("signature", signature),
        ]);
        assert_eq!(outcome, Err(WebhookError::BadSignature), "{signature}");
    }
}

#[test]
fn an_empty_app_secret_never_verifies() {
    // With secret "" the sorted concatenation is N2's: anyone could compute it.
    let account = WeiboAccount {
        app_secret: Secret::new(""),
        ..account()
    };
    let req = simulate::verification(&account, "dnPdpTZz85", TS, NONCE);
    assert_eq!(
        req.query["signature"],
        "979875ed5da4cfbca5862eaeb3b55ead314ad5cc"
    );
    assert_eq!(run(&account, &req), Err(WebhookError::BadSignature));
}

#[test]
fn push_with_a_bad_signature_is_rejected() {
    let mut req = simulate::push(&account(), fixture("text.json"), TS, NONCE);
    req.query.insert(
        "signature".into(),
        "90e4c22c90a58f26526c2dd5b6c56c8822edeaa0".into(),
    );
    assert_eq!(run(&account(), &req), Err(WebhookError::BadSignature));
    let other_secret = WeiboAccount {
        app_secret: Secret::new("another"),
        ..account()
    };
    let req = simulate::push(&other_secret, fixture("text.json"), TS, NONCE);
    assert_eq!(run(&account(), &req), Err(WebhookError::BadSignature));
}

#[test]
fn timestamps_are_milliseconds_and_windowed() {
    let limits = Limits::default();
    let skew_ms = limits.max_clock_skew_secs * 1000;
    let mut req = simulate::push(&account(), fixture("text.json"), TS, NONCE);
    for (now, ok) in [
        (TS + skew_ms, true),
        (TS - skew_ms, true),
        (TS + skew_ms + 1, false),
        (TS - skew_ms - 1, false),
    ] {
        req.received_at_ms = now;
        let result = run(&account(), &req);
        if ok {
            assert!(result.is_ok(), "{now}: {result:?}");
        } else {
            assert_eq!(result, Err(WebhookError::StaleTimestamp), "{now}");
        }
    }
}

#[test]
fn a_seconds_timestamp_is_stale() {
    // Properly signed, but in seconds: read as milliseconds it is in January 1970.
    let mut req = simulate::push(&account(), fixture("text.json"), TS / 1000, NONCE);
    req.received_at_ms = TS;
    assert_eq!(req.query["timestamp"], "1397022061");
    assert_eq!(run(&account(), &req), Err(WebhookError::StaleTimestamp));
}

#[test]
fn a_non_numeric_signed_timestamp_is_an_invalid_parameter() {
    let mut req = simulate::push(&account(), fixture("text.json"), TS, NONCE);
    req.query.insert("timestamp".into(), "soon".into());
    req.query.insert(
        "signature".into(),
        simulate::signature(SECRET, "soon", NONCE),
    );
    assert_eq!(
        run(&account(), &req),
        Err(WebhookError::InvalidParameter("timestamp"))
    );
}

#[test]
fn missing_or_empty_parameters_are_named() {
    for name in ["signature", "timestamp", "nonce"] {
        let mut req = simulate::push(&account(), fixture("text.json"), TS, NONCE);
        req.query.remove(name);
        assert_eq!(
            run(&account(), &req),
            Err(WebhookError::MissingParameter(name))
        );
        let mut req = simulate::verification(&account(), "e", TS, NONCE);
        req.query.insert(name.into(), String::new());
        assert_eq!(
            run(&account(), &req),
            Err(WebhookError::MissingParameter(name))
        );
    }
    let mut req = simulate::verification(&account(), "e", TS, NONCE);
    req.query.remove("echostr");
    assert_eq!(
        run(&account(), &req),
        Err(WebhookError::MissingParameter("echostr"))
    );
}

#[test]
fn oversized_echostr_and_body_are_refused() {
    let limits = Limits::default();
    let long = "e".repeat(limits.max_echostr_bytes + 1);
    let req = simulate::verification(&account(), &long, TS, NONCE);
    assert_eq!(
        run(&account(), &req),
        Err(WebhookError::BodyTooLarge {
            limit: limits.max_echostr_bytes
        })
    );
    let exact = "e".repeat(limits.max_echostr_bytes);
    let req = simulate::verification(&account(), &exact, TS, NONCE);
    assert_eq!(run(&account(), &req), Ok(WebhookOutcome::Echo(exact)));

    let body = text_body(&"x".repeat(limits.max_body_bytes));
    let req = simulate::push(&account(), body, TS, NONCE);
    assert_eq!(
        run(&account(), &req),
        Err(WebhookError::BodyTooLarge {
            limit: limits.max_body_bytes
        })
    );
}

#[test]
fn other_methods_are_not_allowed() {
    let mut req = simulate::push(&account(), fixture("text.json"), TS, NONCE);
    req.method = HttpMethod::Other;
    assert_eq!(run(&account(), &req), Err(WebhookError::MethodNotAllowed));
}

// ---------------------------------------------------------------------------------------
// Fixtures

/// The expected content of every fixture in `events/weibo/messages`.
fn expected(name: &str) -> Option<Content> {
    let text = |t: &str| Content::Text { text: t.into() };
    let mention = |subtype: &str, id: &str| Content::Mention {
        subtype: subtype.into(),
        target_id: Some(id.into()),
        text: "被@的微博或评论文本信息".into(),
        post: None,
    };
    Some(match name {
        "text.json" => text("the content of a general message"),
        "text-chinese.json" | "ids-as-strings.json" => text("私信或留言内容"),
        "xml-text.xml" => text("this is a test"),
        "position.json" => Content::Location {
            latitude: 39.982525,
            longitude: 116.308586,
            scale: None,
            label: Some("我在这里: http://t.cn/zQgLLYO".into()),
        },
        "voice.json" => Content::Voice {
            media_id: Some("821804469".into()),
            format: None,
            recognition: None,
        },
        "image.json" => Content::Image {
            media_id: Some("821804469".into()),
            url: None,
        },
        "event-follow.json" => ev(event::FOLLOW, "follow", None, &[("text", "关注事件消息")]),
        "event-unfollow.json" => ev(
            event::UNFOLLOW,
            "unfollow",
            None,
            &[("text", "取消关注事件消息")],
        ),
        "event-subscribe.json" => ev(
            event::SUBSCRIBE,
            "subscribe",
            None,
            &[("text", "订阅事件消息")],
        ),
        "event-unsubscribe.json" => ev(
            event::UNSUBSCRIBE,
            "unsubscribe",
            None,
            &[("text", "取消订阅事件消息")],
        ),
        "event-scan.json" => ev(
            event::SCAN,
            "scan",
            Some("QR_SCENE_1001"),
            &[("ticket", "TICKET"), ("text", "扫描二维码")],
        ),
        "event-scan_follow.json" => ev(
            event::FOLLOW_BY_SCAN,
            "scan_follow",
            Some("action_name_scene_id"),
            &[("ticket", "TICKET"), ("text", "扫描二维码")],
        ),
        "event-click.json" => ev(
            event::CLICK,
            "click",
            Some("MENU_KEY_HELP"),
            &[("text", "自定义菜单点击事件消息")],
        ),
        "event-view.json" => ev(
            event::VIEW,
            "view",
            Some("http://t.cn/zQgLLYO"),
            &[("text", "自定义菜单跳转链接事件消息")],
        ),
        "mention-status.json" | "mention-as-event.json" => mention("status", "3436240135184587"),
        "mention-comment.json" => mention("comment", "3436240135184588"),
        "unknown-type.json" => Content::Other {
            platform_type: "future_type".into(),
        },
        "unknown-event-subtype.json" => ev(
            "user_location",
            "USER_LOCATION",
            Some("EVENT_KEY"),
            &[("text", "事件消息")],
        ),
        _ => return None,
    })
}

#[test]
fn every_fixture_parses_into_its_expected_content() {
    let mut names: Vec<String> = std::fs::read_dir(fixtures_dir())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".json") || n.ends_with(".xml"))
        .collect();
    names.sort();
    assert_eq!(names.len(), 20, "{names:?}");
    for name in &names {
        let body = fixture(name);
        let want = expected(name).unwrap_or_else(|| panic!("no expectation for {name}"));
        let message = post(&body).unwrap_or_else(|e| panic!("{name}: {e:?}"));
        assert_eq!(message.content, want, "{name}");
        assert_eq!(message.channel, Channel::Weibo, "{name}");
        assert_eq!(message.account_id, "brand", "{name}");
        assert_eq!(message.sender_id, SENDER, "{name}");
        assert_eq!(message.recipient_id, RECEIVER, "{name}");
        assert_eq!(message.conversation_key, "weibo:brand:2489518277", "{name}");
        assert_eq!(message.platform_message_id, None, "{name}");
        assert_eq!(message.platform_time, CREATED, "{name}");
        assert_eq!(message.received_at_ms, TS, "{name}");
        assert_eq!(message.raw.body, body, "{name}");
        let format = if name.ends_with(".xml") {
            RawFormat::Xml
        } else {
            RawFormat::Json
        };
        assert_eq!(message.raw.format, format, "{name}");
        assert!(!message.dedupe_key.is_empty(), "{name}");
    }
}

#[test]
fn image_keeps_the_sender_side_vfid_in_raw() {
    let message = post(&fixture("image.json")).unwrap();
    assert!(message.raw.body.contains("821804459"));
}

#[test]
fn verbatim_official_samples_with_comments_or_trailing_commas_are_malformed() {
    // P3 (voice), exactly as quoted by the seanxq Java SDK.
    let p3 = r#"{
    "type": "voice",
    "receiver_id": 1902538057,
    "sender_id": 2489518277,
    "created_at": "Mon Jul 16 18:09:20 +0800 2012",
    "text": "发了一个语音消息",
    "data": {
        "vfid": 821804459,    // 发送者用此ID查看语音
        "tovfid": 821804469  // 接收者用此ID查看语音
    }
}"#;
    // P7 (scan_follow), with its trailing comma.
    let p7 = r#"{
    "type": "event",
    "receiver_id": 1902538057,
    "sender_id": 2489518277,
    "created_at": "Mon Jul 16 18:09:20 +0800 2012",
    "text": "扫描二维码",
    "data": {
        "subtype": "scan_follow",
        "key": "action_name_scene_id",
        "ticket": "TICKET",
    }
}"#;
    // P9 (mention), with its unbalanced quote.
    let p9 = r#"{
    "type": "mention",
    "receiver_id": 1902538057,
    "sender_id": 2489518277,
    "created_at": "Mon Jul 16 18:09:20 +0800 2012",
    "text": "被@的微博或评论文本信息",
    "data": {
    "subtype": "MENTION_TYPE,
    "key": "MENTION_KEY"
}
}"#;
    for (name, body) in [("P3", p3), ("P7", p7), ("P9", p9)] {
        match post(body) {
            Err(WebhookError::MalformedBody(reason)) => {
                assert!(reason.starts_with("invalid JSON"), "{name}: {reason}");
                assert!(!reason.contains("发"), "{name}: reason echoes the body");
            }
            other => panic!("{name}: {other:?}"),
        }
    }
    assert_eq!(
        post(p3).unwrap_err(),
        WebhookError::MalformedBody("invalid JSON: syntax error at line 8 column 31".into())
    );
}

// ---------------------------------------------------------------------------------------
// Body errors

fn replace(fixture_name: &str, from: &str, to: &str) -> String {
    let body = fixture(fixture_name);
    assert!(body.contains(from), "{from}");
    body.replacen(from, to, 1)
}

#[test]
fn a_push_for_another_receiver_is_refused() {
    let body = replace("text.json", "1902538057", "1111111111");
    assert_eq!(post(&body), Err(WebhookError::ReceiverMismatch));
    // Without a configured receiver, any receiver is accepted.
    let open = WeiboAccount {
        receiver_uid: None,
        ..account()
    };
    assert_eq!(post_as(&open, &body).unwrap().recipient_id, "1111111111");
    // The configured uid is compared as a canonical decimal.
    let padded = WeiboAccount {
        receiver_uid: Some(" 1902538057 ".into()),
        ..account()
    };
    assert!(post_as(&padded, &fixture("text.json")).is_ok());
}

#[test]
fn missing_or_invalid_envelope_fields_are_named() {
    let cases = [
        (
            replace("text.json", r#""sender_id": 2489518277,"#, ""),
            "sender_id",
        ),
        (
            replace("text.json", "2489518277", r#""2489518277x""#),
            "sender_id",
        ),
        (
            replace("text.json", "2489518277", "2489518277.5"),
            "sender_id",
        ),
        (
            replace("text.json", r#""receiver_id": 1902538057,"#, ""),
            "receiver_id",
        ),
        (
            replace(
                "text.json",
                "Mon Jul 16 18:09:20 +0800 2012",
                "2012-07-16 18:09:20",
            ),
            "created_at",
        ),
        (
            replace(
                "text.json",
                r#""Mon Jul 16 18:09:20 +0800 2012""#,
                "1342433360",
            ),
            "created_at",
        ),
        (replace("text.json", r#""type": "text","#, ""), "type"),
        (
            replace(
                "text.json",
                r#""text": "the content of a general message","#,
                "",
            ),
            "text",
        ),
        (
            replace("text.json", r#""the content of a general message""#, "42"),
            "text",
        ),
        (
            replace("text.json", r#""data": {}"#, r#""data": [1]"#),
            "data",
        ),
        (
            replace("event-follow.json", r#""subtype": "follow""#, r#""x": 1"#),
            "data.subtype",
        ),
        (
            replace("mention-status.json", r#""subtype": "status","#, ""),
            "data.subtype",
        ),
        (
            replace("position.json", r#""39.982525""#, r#""north""#),
            "data.latitude",
        ),
        (
            replace("position.json", r#""116.308586""#, r#""NaN""#),
            "data.longitude",
        ),
        (
            replace("position.json", r#""39.982525""#, r#""91""#),
            "data.latitude",
        ),
        (
            replace("voice.json", "821804469", r#"{"id": 1}"#),
            "data.tovfid",
        ),
    ];
    for (body, field) in cases {
        assert_eq!(
            post(&body),
            Err(WebhookError::MissingField(field)),
            "{body}"
        );
    }
}

#[test]
fn a_body_that_is_not_a_json_object_is_malformed() {
    for body in ["[]", r#"[{"type":"text"}]"#, "\"text\"", "42", "null"] {
        assert_eq!(
            post(body),
            Err(WebhookError::MalformedBody("expected a JSON object".into())),
            "{body}"
        );
    }
    assert_eq!(
        post("  \n "),
        Err(WebhookError::MalformedBody("empty body".into()))
    );
    let req = simulate::push(&account(), vec![b'{', 0xff, b'}'], TS, NONCE);
    assert_eq!(
        run(&account(), &req),
        Err(WebhookError::MalformedBody("body is not UTF-8".into()))
    );
}

#[test]
fn deeply_nested_json_is_refused_before_parsing() {
    let deep = format!(
        "{{\"type\":\"text\",\"data\":{}{}}}",
        "[".repeat(10_000),
        "]".repeat(10_000)
    );
    assert_eq!(
        post(&deep),
        Err(WebhookError::MalformedBody(
            "JSON nested deeper than 32 levels".into()
        ))
    );
    // Unbalanced openers alone (no closers) are caught the same way.
    assert_eq!(
        post(&"[".repeat(60_000)),
        Err(WebhookError::MalformedBody(
            "JSON nested deeper than 32 levels".into()
        ))
    );
    // Brackets inside strings do not count.
    let message = post(&text_body(&"[{".repeat(1000))).unwrap();
    assert_eq!(message.content.text(), Some("[{".repeat(1000).as_str()));
}

#[test]
fn malformed_reasons_never_echo_the_body() {
    let body = r#"{"type": "text", "text": "TOPSECRET-CONTENT" "#;
    match post(body) {
        Err(WebhookError::MalformedBody(reason)) => assert!(!reason.contains("TOPSECRET")),
        other => panic!("{other:?}"),
    }
}

#[test]
fn doctype_in_xml_mode_is_forbidden() {
    let xxe = "<?xml version=\"1.0\"?><!DOCTYPE x [<!ENTITY e SYSTEM \"file:///etc/passwd\">]>\
               <xml><ToUserName>1902538057</ToUserName><Content>&e;</Content></xml>";
    // Detected by the leading `<` on a JSON account…
    assert_eq!(post(xxe), Err(WebhookError::DoctypeForbidden));
    // …and on an XML account.
    let xml_account = WeiboAccount {
        format: WeiboFormat::Xml,
        ..account()
    };
    assert_eq!(
        post_as(&xml_account, xxe),
        Err(WebhookError::DoctypeForbidden)
    );
    let leading_json = format!("{{}}{xxe}");
    assert_eq!(
        post_as(&xml_account, &leading_json),
        Err(WebhookError::DoctypeForbidden)
    );
}

#[test]
fn an_xml_account_reads_xml_bodies() {
    let xml_account = WeiboAccount {
        format: WeiboFormat::Xml,
        ..account()
    };
    let message = post_as(&xml_account, &fixture("xml-text.xml")).unwrap();
    assert_eq!(message.raw.format, RawFormat::Xml);
    assert_eq!(
        message.content,
        Content::Text {
            text: "this is a test".into()
        }
    );
    // A JSON body on an XML account is not XML.
    assert!(matches!(
        post_as(&xml_account, &fixture("text.json")),
        Err(WebhookError::MalformedBody(_))
    ));
}

fn xml_body(fields: &[(&str, &str)]) -> String {
    let mut body = String::from("<xml>");
    for (name, value) in fields {
        body.push_str(&format!("<{name}><![CDATA[{value}]]></{name}>"));
    }
    body.push_str("</xml>");
    body
}

#[test]
fn xml_events_positions_and_errors_map_like_json() {
    let base = [
        ("ToUserName", RECEIVER),
        ("FromUserName", SENDER),
        ("CreateTime", " 1342433360 "),
    ];
    let with = |extra: &[(&str, &str)]| {
        let mut fields = base.to_vec();
        fields.extend_from_slice(extra);
        xml_body(&fields)
    };
    let click = post(&with(&[
        ("MsgType", "event"),
        ("Event", "click"),
        ("EventKey", "MENU_KEY_HELP"),
        ("MsgId", ""),
    ]))
    .unwrap();
    assert_eq!(
        click.content,
        ev(event::CLICK, "click", Some("MENU_KEY_HELP"), &[])
    );
    assert_eq!(click.platform_time, CREATED);
    let voice = post(&with(&[("MsgType", "voice"), ("MediaId", "821804469")])).unwrap();
    assert_eq!(
        voice.content,
        Content::Voice {
            media_id: Some("821804469".into()),
            format: None,
            recognition: None
        }
    );
    let position = post(&with(&[
        ("MsgType", "position"),
        ("Location_X", "39.982525"),
        ("Location_Y", "116.308586"),
        ("Content", "我在这里"),
    ]))
    .unwrap();
    assert!(matches!(
        position.content,
        Content::Location { latitude, longitude, .. }
            if latitude == 39.982525 && longitude == 116.308586
    ));
    let mention = post(&with(&[
        ("MsgType", "event"),
        ("Event", "comment"),
        ("EventKey", "3436240135184588"),
    ]))
    .unwrap();
    assert_eq!(mention.dedupe_key, "mention:comment:3436240135184588");

    let other_receiver = xml_body(&[
        ("ToUserName", "1111111111"),
        ("FromUserName", SENDER),
        ("CreateTime", "1342433360"),
        ("MsgType", "text"),
        ("Content", "x"),
    ]);
    assert_eq!(post(&other_receiver), Err(WebhookError::ReceiverMismatch));
    let no_sender = xml_body(&[
        ("ToUserName", RECEIVER),
        ("CreateTime", "1342433360"),
        ("MsgType", "text"),
        ("Content", "x"),
    ]);
    assert_eq!(
        post(&no_sender),
        Err(WebhookError::MissingField("FromUserName"))
    );
    assert_eq!(
        post(&with(&[("MsgType", "text")])),
        Err(WebhookError::MissingField("Content"))
    );
    assert_eq!(
        post(&with(&[("MsgType", "event")])),
        Err(WebhookError::MissingField("Event"))
    );
    let placeholder_ids = fixture("xml-text.xml").replace("2489518277", "fromUser");
    assert_eq!(
        post(&placeholder_ids),
        Err(WebhookError::MissingField("FromUserName"))
    );
    assert!(matches!(
        post("<xml><ToUserName>&lol;</ToUserName></xml>"),
        Err(WebhookError::MalformedBody(_))
    ));
}

// ---------------------------------------------------------------------------------------
// Dedupe

#[test]
fn retries_of_one_push_share_one_dedupe_key() {
    let body = fixture("text.json");
    let keys: Vec<String> = (0..3)
        .map(|i| {
            let req = simulate::push(&account(), body.clone(), TS + i * 5_000, &format!("{i}"));
            match run(&account(), &req).unwrap() {
                WebhookOutcome::Message(m) => m.dedupe_key,
                other => panic!("{other:?}"),
            }
        })
        .collect();
    assert_eq!(keys[0], keys[1]);
    assert_eq!(keys[1], keys[2]);
    assert!(keys[0].starts_with("k:"));
    assert_eq!(keys[0].len(), 2 + 64);
}

#[test]
fn two_texts_in_the_same_second_get_different_keys() {
    let a = post(&text_body("first")).unwrap();
    let b = post(&text_body("second")).unwrap();
    assert_eq!(a.platform_time, b.platform_time);
    assert_eq!(a.sender_id, b.sender_id);
    assert_ne!(a.dedupe_key, b.dedupe_key);
}

#[test]
fn ids_as_numbers_or_strings_and_reformatting_give_the_same_key() {
    let numbers = post(&fixture("text-chinese.json")).unwrap();
    let strings = post(&fixture("ids-as-strings.json")).unwrap();
    assert_eq!(numbers.dedupe_key, strings.dedupe_key);
    // A re-serialised retry (compact, other key order) is still the same message.
    let value: serde_json::Value = serde_json::from_str(&fixture("text-chinese.json")).unwrap();
    let compact = post(&value.to_string()).unwrap();
    assert_eq!(numbers.dedupe_key, compact.dedupe_key);
}

#[test]
fn keys_separate_what_differs_and_only_that() {
    let key = |body: &str| post(body).unwrap().dedupe_key;
    let image = key(&fixture("image.json"));
    assert_ne!(image, key(&replace("image.json", "821804469", "821804470")));
    assert_ne!(image, key(&replace("image.json", "821804459", "821804458")));
    assert_ne!(
        image,
        key(&replace("image.json", "2489518277", "2489518278"))
    );
    assert_ne!(image, key(&replace("image.json", "18:09:20", "18:09:21")));
    let position = key(&fixture("position.json"));
    assert_ne!(
        position,
        key(&replace("position.json", "39.982525", "39.982526"))
    );
    let click = key(&fixture("event-click.json"));
    assert_ne!(
        click,
        key(&replace(
            "event-click.json",
            "MENU_KEY_HELP",
            "MENU_KEY_BUY"
        ))
    );
    // The same fields at another offset name the same instant.
    assert_eq!(
        image,
        key(&replace(
            "image.json",
            "Mon Jul 16 18:09:20 +0800 2012",
            "Mon Jul 16 10:09:20 +0000 2012"
        ))
    );
}

#[test]
fn mentions_dedupe_on_subtype_and_target_id() {
    let status = post(&fixture("mention-status.json")).unwrap();
    assert_eq!(status.dedupe_key, "mention:status:3436240135184587");
    // The same mention pushed as an event is the same message.
    let as_event = post(&fixture("mention-as-event.json")).unwrap();
    assert_eq!(as_event.dedupe_key, status.dedupe_key);
    let comment = post(&fixture("mention-comment.json")).unwrap();
    assert_eq!(comment.dedupe_key, "mention:comment:3436240135184588");
    // Without a target id, the field hash is used.
    let body =
        fixture("mention-status.json").replace(",\n        \"key\": \"3436240135184587\"", "");
    let no_key = post(&body).unwrap();
    assert!(no_key.dedupe_key.starts_with("k:"), "{}", no_key.dedupe_key);
}

#[test]
fn xml_and_json_of_the_same_message_share_a_key() {
    let json = post(&text_body("this is a test")).unwrap();
    let xml = post(&fixture("xml-text.xml")).unwrap();
    assert_eq!(json.dedupe_key, xml.dedupe_key);
}

// ---------------------------------------------------------------------------------------
// Properties

fn change_char(s: &str, index: usize, c: char) -> Option<String> {
    let chars: Vec<char> = s.chars().collect();
    let i = index % chars.len();
    (chars[i] != c).then(|| {
        let mut out = chars;
        out[i] = c;
        out.into_iter().collect()
    })
}

proptest! {
    #[test]
    fn any_single_changed_character_fails_verification(
        which in 0usize..3,
        index in any::<usize>(),
        c in any::<char>(),
    ) {
        let mut req = simulate::verification(&account(), "dnPdpTZz85", TS, NONCE);
        let name = ["signature", "timestamp", "nonce"][which];
        let original = req.query[name].clone();
        let changed = change_char(&original, index, c);
        prop_assume!(changed.is_some());
        let changed = changed.unwrap();
        // Hex compares case-insensitively: a case change of the signature is no change.
        prop_assume!(name != "signature" || !changed.eq_ignore_ascii_case(&original));
        req.query.insert(name.to_string(), changed);
        prop_assert_eq!(run(&account(), &req), Err(WebhookError::BadSignature));
    }

    #[test]
    fn any_text_round_trips_exactly(text in any::<String>()) {
        let message = post(&text_body(&text)).unwrap();
        prop_assert_eq!(message.content, Content::Text { text });
    }

    #[test]
    fn arbitrary_bodies_never_panic(body in proptest::collection::vec(any::<u8>(), 0..512)) {
        let req = simulate::push(&account(), body, TS, NONCE);
        let _ = run(&account(), &req);
    }

    #[test]
    fn arbitrary_json_like_bodies_never_panic(body in r#"[\[\]{}":,0-9a-z<>\\ ]{0,200}"#) {
        let _ = post(&body);
        let xml_account = WeiboAccount { format: WeiboFormat::Xml, ..account() };
        let _ = post_as(&xml_account, &body);
    }
}
