//! Every condition, true and false, and the combinators.

use super::*;
use crate::conversation::Status;

/// Calendars and lists shared by the condition cases.
pub(super) const PRELUDE: &str = r#"version: 1
default_calendar: office
calendars:
  office:
    timezone: Asia/Shanghai
    weekly:
      mon: &day ["09:00-12:00", "13:30-18:00"]
      tue: *day
      wed: *day
      thu: *day
      fri: *day
    holidays: ["2026-10-01..2026-10-07"]
    exceptions: { "2026-09-27": ["09:00-18:00"] }
  ny:
    timezone: America/New_York
    weekly: { mon: &ny ["09:00-17:00"], tue: *ny, wed: *ny, thu: *ny, fri: *ny }
accounts:
  us: { calendar: ny }
keyword_lists:
  crisis: [投诉, lawyer, ＳＣＡＭ]
  other: [退货]
rules:
"#;

struct Case {
    desc: &'static str,
    when: &'static str,
    message: NormalizedMessage,
    conversation: Option<Conversation>,
    now: DateTime<Utc>,
    want: bool,
}

fn case(desc: &'static str, when: &'static str, message: NormalizedMessage, want: bool) -> Case {
    Case {
        desc,
        when,
        message,
        conversation: None,
        now: working_morning(),
        want,
    }
}

impl Case {
    fn conv(mut self, f: impl FnOnce(&mut Conversation)) -> Self {
        let mut c = conversation(&self.message, 3);
        f(&mut c);
        self.conversation = Some(c);
        self
    }
    fn at(mut self, now: DateTime<Utc>) -> Self {
        self.now = now;
        self
    }
}

fn weibo(content: Content) -> NormalizedMessage {
    message(Channel::Weibo, "brand", "2001", content)
}

fn image() -> NormalizedMessage {
    message(
        Channel::WeChat,
        "demo",
        "u1",
        Content::Image {
            media_id: Some("m".into()),
            url: None,
        },
    )
}

fn cases() -> Vec<Case> {
    vec![
        // channel
        case("channel matches", "{ channel: wechat }", text("hi"), true),
        case("channel differs", "{ channel: weibo }", text("hi"), false),
        case(
            "channel list",
            "{ channel: [weibo, wechat] }",
            weibo(Content::Text { text: "x".into() }),
            true,
        ),
        // account
        case("account matches", "{ account: demo }", text("hi"), true),
        case(
            "account list misses",
            "{ account: [brand, other] }",
            text("hi"),
            false,
        ),
        // kind
        case("kind text", "{ kind: text }", text("hi"), true),
        case("kind image", "{ kind: [image, voice] }", image(), true),
        case("kind mismatch", "{ kind: event }", text("hi"), false),
        case(
            "kind mention",
            "{ kind: mention }",
            weibo(Content::Mention {
                subtype: "status".into(),
                target_id: None,
                text: "@brand hi".into(),
                post: None,
            }),
            true,
        ),
        // event
        case(
            "event exact",
            "{ event: follow }",
            event_msg("follow", None),
            true,
        ),
        case(
            "event in list",
            "{ event: [follow, follow_by_scan] }",
            event_msg("follow_by_scan", Some("s1")),
            true,
        ),
        case(
            "event other",
            "{ event: follow }",
            event_msg("click", None),
            false,
        ),
        case(
            "event on a text message",
            "{ event: follow }",
            text("follow"),
            false,
        ),
        case(
            "event regex",
            "{ event_regex: '^follow' }",
            event_msg("follow_by_scan", None),
            true,
        ),
        case(
            "event regex misses",
            "{ event_regex: '^kf_' }",
            event_msg("click", None),
            false,
        ),
        // event key
        case(
            "event key exact",
            "{ event_key: MENU_PRICE }",
            event_msg("click", Some("MENU_PRICE")),
            true,
        ),
        case(
            "event key is case-sensitive",
            "{ event_key: MENU_PRICE }",
            event_msg("click", Some("menu_price")),
            false,
        ),
        case(
            "numeric event key in a list is read as written",
            "{ event_key: [0123] }",
            event_msg("scan", Some("0123")),
            true,
        ),
        case(
            "a number with a leading zero is not a YAML number: read as written",
            "{ event_key: 0123 }",
            event_msg("scan", Some("0123")),
            true,
        ),
        case(
            "quoted number",
            "{ event_key: '1001' }",
            event_msg("scan", Some("1001")),
            true,
        ),
        case(
            "event without key",
            "{ event_key: MENU_PRICE }",
            event_msg("click", None),
            false,
        ),
        case(
            "event key regex",
            "{ event_key_regex: '^campaign_[0-9]+$' }",
            event_msg("follow_by_scan", Some("campaign_42")),
            true,
        ),
        case(
            "event key regex misses",
            "{ event_key_regex: '^campaign_' }",
            event_msg("follow_by_scan", Some("store_1")),
            false,
        ),
        case(
            "event key regex on text",
            "{ event_key_regex: '.' }",
            text("x"),
            false,
        ),
        // text exact
        case("text exact", "{ text: 人工 }", text("人工"), true),
        case(
            "text exact ignores case and surrounding space",
            "{ text: [agent, human] }",
            text("  Agent "),
            true,
        ),
        case(
            "text exact folds full-width",
            "{ text: agent }",
            text("ＡＧＥＮＴ"),
            true,
        ),
        case(
            "text exact is not contains",
            "{ text: 人工 }",
            text("转人工服务"),
            false,
        ),
        case(
            "text exact from a named list",
            "{ text: '@other' }",
            text("退货"),
            true,
        ),
        // text contains any
        case(
            "contains inline keyword",
            "{ text_contains_any: [价格, price] }",
            text("请问PRICE是多少"),
            true,
        ),
        case(
            "contains named list",
            "{ text_contains_any: '@crisis' }",
            text("我要投诉你们"),
            true,
        ),
        case(
            "contains named list, case-insensitive",
            "{ text_contains_any: '@crisis' }",
            text("I will call my LAWYER"),
            true,
        ),
        case(
            "full-width keyword matches half-width text",
            "{ text_contains_any: '@crisis' }",
            text("this is a scam"),
            true,
        ),
        case(
            "list and inline mixed",
            "{ text_contains_any: ['@crisis', 曝光] }",
            text("我要曝光"),
            true,
        ),
        case(
            "contains none",
            "{ text_contains_any: '@crisis' }",
            text("你好"),
            false,
        ),
        case(
            "@@ is a literal @",
            "{ text_contains_any: '@@brand' }",
            text("hi @Brand"),
            true,
        ),
        case(
            "@@ does not expand the list",
            "{ text_contains_any: '@@crisis' }",
            text("投诉"),
            false,
        ),
        case(
            "voice recognition counts as text",
            "{ text_contains_any: [退货] }",
            message(
                Channel::WeChat,
                "demo",
                "u1",
                Content::Voice {
                    media_id: None,
                    format: None,
                    recognition: Some("我想退货".into()),
                },
            ),
            true,
        ),
        case(
            "image has no text",
            "{ text_contains_any: [x] }",
            image(),
            false,
        ),
        // text regex
        case(
            "text regex",
            "{ text_regex: '退(货|款)' }",
            text("怎么退款"),
            true,
        ),
        case(
            "text regex is case-insensitive",
            "{ text_regex: '\\brefund\\b' }",
            text("REFUND please"),
            true,
        ),
        case(
            "text regex can opt out of case-insensitivity",
            "{ text_regex: '(?-i)refund' }",
            text("REFUND"),
            false,
        ),
        case(
            "text regex with digit boundaries",
            "{ text_regex: '(^|[^0-9])315([^0-9]|$)' }",
            text("order 13150000"),
            false,
        ),
        case(
            "text regex on an event",
            "{ text_regex: '.' }",
            event_msg("follow", None),
            false,
        ),
        // sender
        case("sender matches", "{ sender: [u0, u1] }", text("x"), true),
        case("sender differs", "{ sender: vip }", text("x"), false),
        // business hours, named calendar
        case(
            "open in the morning",
            "{ within_hours: office }",
            text("x"),
            true,
        ),
        case(
            "closed over lunch",
            "{ within_hours: office }",
            text("x"),
            false,
        )
        .at(sh(2026, 9, 28, 12, 30)),
        case(
            "closed on a holiday",
            "{ within_hours: office }",
            text("x"),
            false,
        )
        .at(sh(2026, 10, 1, 10, 0)),
        case(
            "open on an exceptional Sunday",
            "{ within_hours: office }",
            text("x"),
            true,
        )
        .at(sh(2026, 9, 27, 17, 0)),
        case(
            "not within hours at night",
            "{ not: { within_hours: office } }",
            text("x"),
            true,
        )
        .at(sh(2026, 9, 28, 23, 0)),
        // business hours, the account's calendar and time zone
        case(
            "account calendar: default for demo",
            "{ within_hours: account }",
            text("x"),
            true,
        ),
        case(
            "account calendar: us is New York, closed at 10:00 Shanghai",
            "{ within_hours: account }",
            message(
                Channel::WeChat,
                "us",
                "u1",
                Content::Text { text: "x".into() },
            ),
            false,
        ),
        case(
            "account calendar: us is open at 10:00 New York",
            "{ within_hours: account }",
            message(
                Channel::WeChat,
                "us",
                "u1",
                Content::Text { text: "x".into() },
            ),
            true,
        )
        .at(utc(2026, 9, 28, 14, 0)),
        // first message
        case(
            "first message: new conversation",
            "{ first_message: true }",
            text("x"),
            true,
        ),
        case(
            "first message: conversation with no inbound",
            "{ first_message: true }",
            text("x"),
            true,
        )
        .conv(|c| c.inbound_count = 0),
        case(
            "first message: later message",
            "{ first_message: true }",
            text("x"),
            false,
        )
        .conv(|_| {}),
        case(
            "first_message: false on a later message",
            "{ first_message: false }",
            text("x"),
            true,
        )
        .conv(|_| {}),
        // tags
        case("has tag", "{ has_tags: vip }", text("x"), true).conv(|c| {
            c.tags.insert("vip".into());
        }),
        case(
            "has all tags",
            "{ has_tags: [vip, returns] }",
            text("x"),
            false,
        )
        .conv(|c| {
            c.tags.insert("vip".into());
        }),
        case(
            "no tags on a new conversation",
            "{ has_tags: vip }",
            text("x"),
            false,
        ),
        // status
        case(
            "new conversation is open",
            "{ status: open }",
            text("x"),
            true,
        ),
        case(
            "pending",
            "{ status: [pending, resolved] }",
            text("x"),
            true,
        )
        .conv(|c| c.status = Status::Pending),
        case("not resolved", "{ status: resolved }", text("x"), false).conv(|_| {}),
        // escalated
        case("escalated", "{ escalated: true }", text("x"), true).conv(|c| c.escalated = true),
        case("not escalated", "{ escalated: true }", text("x"), false),
        // combinators
        case(
            "implicit all: every key must hold",
            "{ channel: wechat, text_contains_any: [price] }",
            text("price?"),
            true,
        ),
        case(
            "implicit all: one key fails",
            "{ channel: wechat, text_contains_any: [price] }",
            text("hello"),
            false,
        ),
        case(
            "all",
            "{ all: [ { kind: text }, { account: demo } ] }",
            text("x"),
            true,
        ),
        case(
            "all fails",
            "{ all: [ { kind: text }, { account: brand } ] }",
            text("x"),
            false,
        ),
        case(
            "any",
            "{ any: [ { kind: image }, { text_contains_any: [x] } ] }",
            text("x"),
            true,
        ),
        case(
            "any fails",
            "{ any: [ { kind: image }, { kind: voice } ] }",
            text("x"),
            false,
        ),
        case("not", "{ not: { kind: image } }", text("x"), true),
        case("not fails", "{ not: { kind: text } }", text("x"), false),
        case(
            "nested",
            "{ any: [ { all: [ { channel: weibo }, { kind: mention } ] }, { not: { any: [ { kind: text }, { kind: image } ] } } ] }",
            event_msg("follow", None),
            true,
        ),
    ]
}

#[test]
fn every_condition_true_and_false() {
    for c in cases() {
        let doc = format!(
            "{PRELUDE}  - id: r\n    when: {}\n    then: [ {{ add_tags: [hit] }} ]\n",
            c.when
        );
        let set = RuleSet::from_yaml(&doc).unwrap_or_else(|e| panic!("{}: invalid: {e}", c.desc));
        let d = evaluate(&set, &c.message, c.conversation.as_ref(), c.now);
        assert_eq!(
            !d.fired.is_empty(),
            c.want,
            "{}: when {} -> fired {:?}\n{}",
            c.desc,
            c.when,
            d.fired,
            explain(&set, &c.message, c.conversation.as_ref(), c.now)
        );
        if c.want {
            assert!(
                !d.fired[0].why.is_empty(),
                "{}: a fired rule says why",
                c.desc
            );
        }
    }
}

#[test]
fn first_message_when_given_the_state_after_recording() {
    let set = rules(&format!(
        "{PRELUDE}  - id: r\n    when: {{ first_message: true }}\n    then: []\n"
    ));
    let m = text("hello");
    let mut c = Conversation::new_for(&m);
    c.record_inbound(&m);
    let d = evaluate(&set, &m, Some(&c), working_morning());
    assert_eq!(
        d.fired_ids(),
        ["r"],
        "the only recorded message is this one"
    );

    let next = message(
        Channel::WeChat,
        "demo",
        "u1",
        Content::Text {
            text: "again".into(),
        },
    );
    let d = evaluate(&set, &next, Some(&c), working_morning());
    assert!(d.is_empty(), "a second message is not the first");
}

#[test]
fn later_rules_see_tags_status_and_escalation_of_earlier_rules() {
    let set = rules(&format!(
        "{PRELUDE}  - id: tag
    when: {{ text_contains_any: '@crisis' }}
    then: [ {{ add_tags: [crisis] }}, escalate, {{ set_status: pending }} ]
    stop: false
  - id: by-tag
    when: {{ has_tags: crisis, escalated: true, status: pending }}
    then: [ {{ remove_tags: crisis }} ]
    stop: false
  - id: after-removal
    when: {{ has_tags: crisis }}
    then: []
"
    ));
    let d = evaluate(&set, &text("投诉"), None, working_morning());
    assert_eq!(d.fired_ids(), ["tag", "by-tag"]);
    assert!(
        d.tags_added.is_empty(),
        "added then removed: net nothing added"
    );
    assert!(d.tags_removed.contains("crisis"));
}
