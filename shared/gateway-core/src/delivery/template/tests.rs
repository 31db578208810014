use super::*;
use crate::testing::text_message;
use std::collections::BTreeMap;

#[test]
fn the_send_answer_gives_the_msgid_or_a_classified_error() {
    assert_eq!(
        parse_send_answer(r#"{"errcode":0,"errmsg":"ok","msgid":200228332}"#),
        Some(Ok("200228332".into()))
    );
    let e = parse_send_answer(r#"{"errcode":43101,"errmsg":"user refuse to accept the msg"}"#)
        .unwrap()
        .unwrap_err();
    assert_eq!(e.code_label(), "wechat:43101");
    assert_eq!(
        e.disposition,
        Disposition::Undeliverable(UndeliverableReason::UserRefused)
    );
    assert_eq!(parse_send_answer("<html>"), None);
    assert_eq!(parse_send_answer(r#"{"errcode":0,"errmsg":"ok"}"#), None);
}

#[test]
fn error_codes_follow_the_documented_table() {
    for (code, want) in [
        (40001, Disposition::RefreshToken),
        (42001, Disposition::RefreshToken),
        (40014, Disposition::RefreshToken),
        (
            43004,
            Disposition::Undeliverable(UndeliverableReason::Unfollowed),
        ),
        (
            43101,
            Disposition::Undeliverable(UndeliverableReason::UserRefused),
        ),
        (40003, Disposition::Permanent),
        (40037, Disposition::Permanent),
        (47003, Disposition::Permanent),
        (45009, Disposition::Transient),
        (45047, Disposition::Transient),
        (-1, Disposition::Transient),
    ] {
        assert_eq!(classify_error(code), want, "{code}");
    }
}

#[test]
fn the_body_carries_the_documented_fields() {
    let mut data = BTreeMap::new();
    data.insert(
        "keyword1".to_string(),
        crate::reply::template::TemplateField::new("巧克力"),
    );
    let content = ReplyContent::Template {
        template_id: "tpl".into(),
        data,
        url: None,
        miniprogram: Some(crate::reply::template::MiniProgram {
            appid: "wxabc".into(),
            pagepath: "index?foo=bar".into(),
        }),
    };
    let body = send_body("oUser", &content, "r1").unwrap();
    assert_eq!(
        body,
        json!({
            "touser": "oUser",
            "template_id": "tpl",
            "data": {"keyword1": {"value": "巧克力"}},
            "client_msg_id": "r1",
            "miniprogram": {"appid": "wxabc", "pagepath": "index?foo=bar"},
        })
    );
    assert_eq!(send_body("oUser", &ReplyContent::text("x"), "r"), None);
    assert_eq!(client_msg_id(&"好".repeat(30)).len(), 63);
}

fn finish(status: &str) -> NormalizedMessage {
    let mut m = text_message("demo", "oUser", "1", "x", 0);
    let mut detail = BTreeMap::new();
    detail.insert("MsgID".to_string(), "200228332".to_string());
    detail.insert("Status".to_string(), status.to_string());
    m.content = Content::Event {
        event: event::TEMPLATE_SEND_FINISHED.into(),
        platform_event: "TEMPLATESENDJOBFINISH".into(),
        key: None,
        detail,
    };
    m
}

#[test]
fn finish_statuses_map_to_outcomes() {
    assert_eq!(outcome_of("success"), Some(FinishOutcome::Delivered));
    assert_eq!(
        outcome_of("failed:user block"),
        Some(FinishOutcome::UserBlock)
    );
    assert_eq!(
        outcome_of("failed: system failed"),
        Some(FinishOutcome::SystemFailed)
    );
    assert_eq!(outcome_of("pending?"), None);
    let r = finish_report(&finish("failed:user block")).unwrap();
    assert_eq!(r.msgid, "200228332");
    assert_eq!(r.account_id, "demo");
    assert_eq!(r.outcome, Some(FinishOutcome::UserBlock));
    assert_eq!(
        FinishOutcome::UserBlock.reason(),
        Some(UndeliverableReason::UserBlock)
    );
    assert_eq!(
        FinishOutcome::SystemFailed.reason().map(|r| r.as_str()),
        Some("system_failed")
    );
    // Other messages are not finish reports.
    assert_eq!(finish_report(&text_message("demo", "u", "1", "x", 0)), None);
    let mut no_id = finish("success");
    if let Content::Event { detail, .. } = &mut no_id.content {
        detail.remove("MsgID");
    }
    assert_eq!(finish_report(&no_id), None);
}

#[test]
fn the_parsed_push_is_a_finish_report() {
    let xml = "<xml><ToUserName>gh_1</ToUserName><FromUserName>oUser</FromUserName>\
               <CreateTime>1700000000</CreateTime><MsgType>event</MsgType>\
               <Event>TEMPLATESENDJOBFINISH</Event><MsgID>200228332</MsgID>\
               <Status>failed: system failed</Status></xml>";
    let m = crate::channel::wechat::parse::normalize(
        xml,
        crate::channel::wechat::parse::Received {
            account_id: "demo",
            received_at_ms: 1,
        },
    )
    .unwrap();
    let r = finish_report(&m).unwrap();
    assert_eq!(r.msgid, "200228332");
    assert_eq!(r.outcome, Some(FinishOutcome::SystemFailed));
}
