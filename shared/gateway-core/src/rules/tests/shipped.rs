//! The shipped example `config/rules.yaml`: it validates, has no warnings, and behaves as its
//! comments say over a scripted set of messages.

use super::*;
use crate::conversation::{Priority, Status};

pub(super) const SHIPPED: &str = include_str!("../../../../../config/rules.yaml");

/// The shipped rules, parsed once for all tests.
pub(super) fn shipped() -> &'static RuleSet {
    static SET: std::sync::OnceLock<RuleSet> = std::sync::OnceLock::new();
    SET.get_or_init(|| rules(SHIPPED))
}

#[test]
fn shipped_rules_are_valid_and_clean() {
    let set = shipped();
    assert!(set.warnings().is_empty(), "{:#?}", set.warnings());
    assert!(set.rules().len() >= 10);
    for id in [
        "welcome",
        "crisis",
        "out-of-office",
        "fallback",
        "route-wechat",
        "price",
        "returns",
    ] {
        assert!(set.rule(id).is_some(), "shipped rules have `{id}`");
    }
}

struct Case {
    desc: &'static str,
    message: NormalizedMessage,
    conversation: Option<Conversation>,
    now: DateTime<Utc>,
    fired: &'static [&'static str],
    reply_contains: Option<&'static str>,
}

fn weibo_text(t: &str) -> NormalizedMessage {
    message(
        Channel::Weibo,
        "brand",
        "2001",
        Content::Text { text: t.into() },
    )
}

fn later(m: &NormalizedMessage) -> Option<Conversation> {
    Some(conversation(m, 2))
}

#[test]
fn shipped_rules_behave_as_documented() {
    let set = shipped();
    let weekday_morning = working_morning();
    let night = sh(2026, 9, 28, 22, 0);
    let cases = vec![
        Case {
            desc: "follow gets the welcome and routing",
            message: event_msg("follow", None),
            conversation: None,
            now: weekday_morning,
            fired: &["route-wechat", "welcome"],
            reply_contains: Some("欢迎关注"),
        },
        Case {
            desc: "campaign QR follow gets the campaign welcome instead",
            message: event_msg("follow_by_scan", Some("campaign_autumn")),
            conversation: later(&event_msg("follow_by_scan", None)),
            now: weekday_morning,
            fired: &["campaign-scan"],
            reply_contains: Some("活动"),
        },
        Case {
            desc: "menu click",
            message: event_msg("click", Some("MENU_PRICE")),
            conversation: later(&event_msg("click", None)),
            now: weekday_morning,
            fired: &["menu-price"],
            reply_contains: Some("Price list"),
        },
        Case {
            desc: "unfollow is ignored, even at night",
            message: event_msg("unfollow", None),
            conversation: later(&event_msg("unfollow", None)),
            now: night,
            fired: &["ignore-other-events"],
            reply_contains: None,
        },
        Case {
            desc: "crisis words escalate and acknowledge",
            message: text("你们是骗子，我要去消协投诉"),
            conversation: later(&text("x")),
            now: weekday_morning,
            fired: &["crisis", "crisis-acknowledge"],
            reply_contains: Some("1 分钟内"),
        },
        Case {
            desc: "315 is a crisis on its own",
            message: text("我要打3.15热线"),
            conversation: later(&text("x")),
            now: night,
            fired: &["crisis", "crisis-acknowledge"],
            reply_contains: Some("1 分钟内"),
        },
        Case {
            desc: "315 inside an order number is not",
            message: text("订单 20263150001 价格"),
            conversation: later(&text("x")),
            now: weekday_morning,
            fired: &["price"],
            reply_contains: Some("example.com/prices"),
        },
        Case {
            desc: "price keyword in English, any case",
            message: text("How much is it? PRICE?"),
            conversation: later(&text("x")),
            now: weekday_morning,
            fired: &["price"],
            reply_contains: Some("example.com/prices"),
        },
        Case {
            desc: "returns keyword tags the conversation",
            message: text("我想退货"),
            conversation: later(&text("x")),
            now: night,
            fired: &["returns"],
            reply_contains: Some("售后"),
        },
        Case {
            desc: "asking for an agent",
            message: text(" 人工 "),
            conversation: later(&text("x")),
            now: weekday_morning,
            fired: &["ask-for-agent"],
            reply_contains: Some("人工客服"),
        },
        Case {
            desc: "first message at night: routing and out-of-office",
            message: text("在吗"),
            conversation: None,
            now: night,
            fired: &["route-wechat", "out-of-office"],
            reply_contains: Some("非工作时间"),
        },
        Case {
            desc: "during hours: fallback",
            message: text("在吗"),
            conversation: later(&text("x")),
            now: weekday_morning,
            fired: &["fallback"],
            reply_contains: Some("消息已收到"),
        },
        Case {
            desc: "National Day is out of office",
            message: text("在吗"),
            conversation: later(&text("x")),
            now: sh(2026, 10, 2, 10, 0),
            fired: &["out-of-office"],
            reply_contains: Some("非工作时间"),
        },
        Case {
            desc: "the make-up Sunday is a working day",
            message: text("在吗"),
            conversation: later(&text("x")),
            now: sh(2026, 9, 27, 10, 0),
            fired: &["fallback"],
            reply_contains: Some("消息已收到"),
        },
        Case {
            desc: "Weibo uses its seven-day calendar: Saturday afternoon is open",
            message: weibo_text("hello"),
            conversation: later(&weibo_text("x")),
            now: sh(2026, 9, 26, 15, 0),
            fired: &["fallback"],
            reply_contains: Some("消息已收到"),
        },
        Case {
            desc: "Weibo public mention with a complaint",
            message: message(
                Channel::Weibo,
                "brand",
                "2001",
                Content::Mention {
                    subtype: "status".into(),
                    target_id: Some("1".into()),
                    text: "@brand 垃圾服务，我要曝光".into(),
                },
            ),
            conversation: None,
            now: weekday_morning,
            fired: &[
                "route-weibo",
                "weibo-public-mention",
                "crisis",
                "crisis-acknowledge",
            ],
            reply_contains: Some("1 分钟内"),
        },
    ];
    for c in cases {
        let d = evaluate(set, &c.message, c.conversation.as_ref(), c.now);
        assert_eq!(
            d.fired_ids(),
            c.fired,
            "{}:\n{}",
            c.desc,
            explain(set, &c.message, c.conversation.as_ref(), c.now)
        );
        match c.reply_contains {
            Some(want) => {
                assert_eq!(d.replies.len(), 1, "{}: one reply", c.desc);
                let got = d.replies[0].content.summary()
                    + &serde_json::to_string(&d.replies[0].content).unwrap();
                assert!(got.contains(want), "{}: reply {got} lacks {want}", c.desc);
            }
            None => assert!(d.replies.is_empty(), "{}: no reply", c.desc),
        }
    }
}

#[test]
fn a_crisis_conversation_over_time() {
    let set = shipped();
    let first = text("我要投诉你们");
    let mut c = Conversation::new_for(&first);
    let t0 = sh(2026, 9, 28, 22, 0);

    let d = evaluate(set, &first, Some(&c), t0);
    assert_eq!(
        d.fired_ids(),
        ["route-wechat", "crisis", "crisis-acknowledge"]
    );
    c.record_inbound(&first);
    d.apply_to(&mut c, t0.timestamp_millis());
    assert_eq!(c.team.as_deref(), Some("escalations"), "crisis team wins");
    assert_eq!(c.priority, Priority::Urgent);
    assert!(c.escalated && c.tags.contains("crisis"));
    assert_eq!(c.response_due_at, Some(t0.timestamp_millis() + 60_000));

    let t1 = sh(2026, 9, 28, 22, 5);
    let second = message(
        Channel::WeChat,
        "demo",
        "u1",
        Content::Text {
            text: "人呢？".into(),
        },
    );
    let d = evaluate(set, &second, Some(&c), t1);
    assert_eq!(
        d.fired_ids(),
        ["crisis-hold"],
        "same day: no more auto-replies"
    );
    assert!(d.replies.is_empty());
    c.record_inbound(&second);
    d.apply_to(&mut c, t1.timestamp_millis());

    let t2 = sh(2026, 9, 29, 9, 30);
    let third = message(
        Channel::WeChat,
        "demo",
        "u1",
        Content::Text {
            text: "还在等".into(),
        },
    );
    let d = evaluate(set, &third, Some(&c), t2);
    assert_eq!(
        d.fired_ids(),
        ["crisis-acknowledge"],
        "next day: acknowledged again"
    );
    assert_eq!(c.status, Status::Open);
}

#[test]
fn out_of_office_once_per_night() {
    let set = shipped();
    let m = text("在吗");
    let mut c = Conversation::new_for(&m);
    let mut replies = Vec::new();
    for (i, at) in [
        sh(2026, 9, 28, 19, 0),
        sh(2026, 9, 28, 23, 59),
        sh(2026, 9, 29, 0, 1),
        sh(2026, 9, 29, 9, 30),
        sh(2026, 9, 29, 10, 0),
    ]
    .into_iter()
    .enumerate()
    {
        let msg = message(
            Channel::WeChat,
            "demo",
            "u1",
            Content::Text {
                text: format!("在吗 {i}"),
            },
        );
        let d = evaluate(set, &msg, Some(&c), at);
        c.record_inbound(&msg);
        d.apply_to(&mut c, at.timestamp_millis());
        replies.push(d.replies.first().map(|r| r.rule_id.clone()));
    }
    assert_eq!(
        replies,
        [
            Some("out-of-office".to_string()),
            None,
            Some("out-of-office".to_string()),
            Some("fallback".to_string()),
            None,
        ],
        "19:00 closed; 23:59 same night suppressed; 00:01 new local day; 09:30 open; 10:00 fallback already sent today"
    );
}

const DOCS: &str = include_str!("../../../../../docs/rules.md");

/// Every complete document and every rule snippet in `docs/rules.md` is valid.
#[test]
fn examples_in_the_reference_are_valid() {
    let prelude = "version: 1
default_calendar: cn-office
calendars:
  cn-office:
    timezone: Asia/Shanghai
    weekly: { mon: ['09:00-18:00'] }
keyword_lists:
  crisis: [投诉]
rules:
";
    let mut checked = 0;
    let mut rest = DOCS;
    while let Some(start) = rest.find("```yaml\n") {
        let body = &rest[start + 8..];
        let Some(end) = body.find("```") else { break };
        let block = &body[..end];
        rest = &body[end + 3..];
        let doc = if block.starts_with("version:") {
            block.to_string()
        } else if block.starts_with("- id:") {
            let indented: String = block.lines().map(|l| format!("  {l}\n")).collect();
            format!("{prelude}{indented}")
        } else {
            continue;
        };
        if let Err(e) = RuleSet::from_yaml(&doc) {
            panic!("example in docs/rules.md is invalid: {e}\n{block}");
        }
        checked += 1;
    }
    assert!(checked >= 10, "found {checked} examples");
}
