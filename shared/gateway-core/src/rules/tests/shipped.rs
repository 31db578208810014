//! The shipped example `config/rules.yaml`: it validates, has no warnings, and behaves as its
//! comments say over a scripted set of messages.

use super::*;
use crate::conversation::{Priority, Responder, Status};

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
                    post: None,
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

/// Evaluates `m` against the shipped rules at `at` and applies the decision, as the router
/// does; returns the rules that fired.
fn route(c: &mut Conversation, m: &NormalizedMessage, at: DateTime<Utc>) -> Vec<String> {
    let d = evaluate(shipped(), m, Some(c), at);
    c.record_inbound(m);
    d.apply_to(c, at.timestamp_millis());
    d.fired_ids().into_iter().map(String::from).collect()
}

fn wechat_text(id: &str, t: &str) -> NormalizedMessage {
    let mut m = message(
        Channel::WeChat,
        "demo",
        "u1",
        Content::Text { text: t.into() },
    );
    m.dedupe_key = format!("msg:{id}");
    m
}

#[test]
fn a_crisis_conversation_over_time() {
    let first = wechat_text("1", "我要投诉你们");
    let mut c = Conversation::new_for(&first);
    let t0 = sh(2026, 9, 28, 22, 0);

    assert_eq!(
        route(&mut c, &first, t0),
        ["route-wechat", "crisis", "crisis-acknowledge"]
    );
    assert_eq!(c.team.as_deref(), Some("escalations"), "crisis team wins");
    assert_eq!(c.priority, Priority::Urgent);
    assert!(c.escalated && c.tags.contains("crisis"));
    assert_eq!(c.response_due_at, Some(t0.timestamp_millis() + 60_000));
    // The acknowledgement, delivered, answers nothing: still waiting, the clock still runs.
    assert!(!c.record_outbound(t0.timestamp_millis() + 800, Responder::Automation));
    assert!(c.is_unanswered());
    assert_eq!(c.response_due_at, Some(t0.timestamp_millis() + 60_000));

    // Later that evening, and the next morning: no second apology in the same escalation.
    let t1 = sh(2026, 9, 28, 22, 5);
    assert_eq!(
        route(&mut c, &wechat_text("2", "人呢？"), t1),
        ["crisis-hold"]
    );
    let t2 = sh(2026, 9, 29, 9, 30);
    assert_eq!(
        route(&mut c, &wechat_text("3", "还在等"), t2),
        ["crisis-hold"],
        "once per escalation, not once a day"
    );

    // An unfollow is not a complaint: no apology, no reply at all.
    let t3 = sh(2026, 9, 29, 9, 31);
    let unfollow = event_msg("unfollow", None);
    let d = evaluate(shipped(), &unfollow, Some(&c), t3);
    assert_eq!(d.fired_ids(), ["ignore-other-events"]);
    assert!(d.replies.is_empty());
    // A re-follow gets the welcome.
    let refollow = event_msg("follow", None);
    let d = evaluate(shipped(), &refollow, Some(&c), t3);
    assert_eq!(d.fired_ids(), ["welcome"]);

    // An agent answers, then resolves: the crisis tag and the escalation go.
    let t4 = sh(2026, 9, 29, 9, 40);
    assert!(c.record_outbound(t4.timestamp_millis(), Responder::Person));
    assert!(!c.is_unanswered());
    assert!(c.resolve(
        t4.timestamp_millis() + 60_000,
        "agent:alice",
        shipped().resolve_removes_tags()
    ));
    assert!(!c.escalated && !c.tags.contains("crisis"));

    // The next day the customer asks for prices: the price reply, a complete answer, and
    // the conversation reopened.
    let t5 = sh(2026, 9, 30, 10, 0);
    let price = wechat_text("4", "价格多少");
    let d = evaluate(shipped(), &price, Some(&c), t5);
    assert_eq!(d.fired_ids(), ["price"]);
    assert!(d.replies[0].counts_as_answer);
    c.record_inbound(&price);
    d.apply_to(&mut c, t5.timestamp_millis());
    assert_eq!((c.status, c.reopened_count), (Status::Open, 1));

    // A new complaint is a new escalation, acknowledged again.
    let t6 = sh(2026, 9, 30, 10, 5);
    assert_eq!(
        route(&mut c, &wechat_text("5", "再不处理我就曝光"), t6),
        ["crisis", "crisis-acknowledge"]
    );
    assert_eq!(c.escalation_count, 2);
}

#[test]
fn an_out_of_office_reply_leaves_the_customer_waiting() {
    let m = wechat_text("1", "你好，在吗");
    let mut c = Conversation::new_for(&m);
    let night = sh(2026, 9, 28, 22, 0);
    let d = evaluate(shipped(), &m, Some(&c), night);
    assert_eq!(d.fired_ids(), ["route-wechat", "out-of-office"]);
    assert!(!d.replies[0].counts_as_answer);
    c.record_inbound(&m);
    d.apply_to(&mut c, night.timestamp_millis());
    let responder = if d.replies[0].counts_as_answer {
        Responder::AnsweringRule
    } else {
        Responder::Automation
    };
    c.record_outbound(night.timestamp_millis() + 500, responder);
    assert!(
        c.is_unanswered(),
        "a night-time customer still waits for a person"
    );
    assert_eq!(c.waiting_since, Some(m.received_at_ms));
}

#[test]
fn the_shipped_service_levels_give_office_time_to_wechat_and_clock_time_to_weibo() {
    // Monday 2026-09-28 22:00: the WeChat desk is closed; Weibo's clock runs.
    let night = sh(2026, 9, 28, 22, 0);
    let mut m = wechat_text("1", "你好，在吗");
    m.received_at_ms = night.timestamp_millis();
    let mut c = Conversation::new_for(&m);
    c.record_inbound(&m);
    let due = shipped().apply_service_level(&mut c).expect("a policy");
    assert_eq!(due.policy, "wechat-care");
    // 30 minutes of office time from the next opening, Tuesday 09:00.
    assert_eq!(
        c.response_due_at,
        Some(sh(2026, 9, 29, 9, 30).timestamp_millis())
    );

    let mut w = weibo_text("客服在吗");
    w.received_at_ms = night.timestamp_millis();
    let mut c = Conversation::new_for(&w);
    c.record_inbound(&w);
    let due = shipped().apply_service_level(&mut c).map(|d| d.policy);
    assert_eq!(due.as_deref(), Some("weibo-public"));
    assert_eq!(c.response_due_at, Some(night.timestamp_millis() + 900_000));
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
  price: [价格]
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
            format!("{prelude}rules:\n{indented}")
        } else if block.starts_with("lifecycle:") {
            format!("{prelude}{block}")
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

/// The outputs `docs/rules.md` shows for `check` and `explain` of the shipped rules are the
/// real ones.
#[test]
fn the_reference_shows_the_real_check_and_explain_output() {
    let summary = shipped().summary().to_string();
    assert!(
        DOCS.contains(&format!("```text\n{summary}```")),
        "{summary}"
    );
    let mut m = message(
        Channel::WeChat,
        "demo",
        "u1",
        Content::Text {
            text: "你们是骗子，我要投诉".into(),
        },
    );
    m.received_at_ms = utc(2026, 9, 28, 12, 15).timestamp_millis();
    let report = explain(shipped(), &m, None, utc(2026, 9, 28, 12, 15)).to_string();
    assert!(DOCS.contains(&format!("```text\n{report}```")), "{report}");
}
