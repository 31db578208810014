//! Every action, how actions of several rules combine, stop and continue, and `apply_to`.

use super::conditions::PRELUDE;
use super::*;
use crate::conversation::{Priority, Status};
use crate::reply::{Article, ReplyContent};

fn decide(rules_yaml: &str, m: &NormalizedMessage, c: Option<&Conversation>) -> Decision {
    let set = rules(&format!("{PRELUDE}{rules_yaml}"));
    evaluate(&set, m, c, working_morning())
}

#[test]
fn each_action_lands_in_the_decision() {
    struct Case {
        desc: &'static str,
        then: &'static str,
        check: fn(&Decision) -> bool,
    }
    let cases = [
        Case {
            desc: "text reply",
            then: "[ { reply: { type: text, text: 您好 } } ]",
            check: |d| d.replies.len() == 1 && d.replies[0].content == ReplyContent::text("您好"),
        },
        Case {
            desc: "image reply",
            then: "[ { reply: { type: image, media_id: MEDIA1 } } ]",
            check: |d| {
                d.replies[0].content
                    == ReplyContent::Image {
                        media_id: "MEDIA1".into(),
                        upload: None,
                    }
            },
        },
        Case {
            desc: "articles reply",
            then: "[ { reply: { type: articles, articles: [ { title: T, url: 'https://e.example/a' } ] } } ]",
            check: |d| {
                d.replies[0].content
                    == ReplyContent::Articles {
                        articles: vec![Article {
                            title: "T".into(),
                            description: None,
                            url: "https://e.example/a".into(),
                            pic_url: None,
                        }],
                    }
            },
        },
        Case {
            desc: "music reply",
            then: "[ { reply: { type: music, title: Song, thumb_media_id: TH } } ]",
            check: |d| d.replies[0].content.kind() == "music",
        },
        Case {
            desc: "video reply",
            then: "[ { reply: { type: video, media_id: V, title: Clip } } ]",
            check: |d| d.replies[0].content.kind() == "video",
        },
        Case {
            desc: "voice reply",
            then: "[ { reply: { type: voice, media_id: V } } ]",
            check: |d| d.replies[0].content.kind() == "voice",
        },
        Case {
            desc: "several replies keep their order",
            then: "[ { reply: { type: text, text: one } }, { reply: { type: text, text: two } } ]",
            check: |d| {
                d.replies
                    .iter()
                    .map(|r| r.content.summary())
                    .collect::<Vec<_>>()
                    == ["text \"one\"", "text \"two\""]
                    && d.replies.iter().all(|r| r.rule_id == "r")
            },
        },
        Case {
            desc: "assign team and priority",
            then: "[ { assign: { team: billing, priority: high } } ]",
            check: |d| d.team.as_deref() == Some("billing") && d.priority == Some(Priority::High),
        },
        Case {
            desc: "assign only the priority",
            then: "[ { assign: { priority: low } } ]",
            check: |d| d.team.is_none() && d.priority == Some(Priority::Low),
        },
        Case {
            desc: "add tags",
            then: "[ { add_tags: [a, b] } ]",
            check: |d| d.tags_added.iter().map(String::as_str).eq(["a", "b"]),
        },
        Case {
            desc: "remove a tag (single value)",
            then: "[ { remove_tags: a } ]",
            check: |d| d.tags_removed.contains("a") && d.tags_added.is_empty(),
        },
        Case {
            desc: "escalate with the default target",
            then: "[ escalate ]",
            check: |d| {
                d.escalation.as_ref().map(|e| e.response_target_secs) == Some(60)
                    && d.priority == Some(Priority::Urgent)
            },
        },
        Case {
            desc: "escalate with an explicit target",
            then: "[ { escalate: { response_target_secs: 30 } } ]",
            check: |d| d.escalation.as_ref().map(|e| e.response_target_secs) == Some(30),
        },
        Case {
            desc: "escalate written with an empty value",
            then: "[ { escalate: } ]",
            check: |d| d.escalation.as_ref().map(|e| e.response_target_secs) == Some(60),
        },
        Case {
            desc: "set status",
            then: "[ { set_status: pending } ]",
            check: |d| d.status == Some(Status::Pending),
        },
        Case {
            desc: "close",
            then: "[ close ]",
            check: |d| d.status == Some(Status::Resolved),
        },
        Case {
            desc: "close written as a map",
            then: "[ { close: {} } ]",
            check: |d| d.status == Some(Status::Resolved),
        },
        Case {
            desc: "no actions: fires and stops, doing nothing",
            then: "[]",
            check: |d| d.fired.len() == 1 && d.replies.is_empty() && d.stopped_by.is_some(),
        },
    ];
    for c in cases {
        let d = decide(
            &format!("  - id: r\n    then: {}\n", c.then),
            &text("x"),
            None,
        );
        assert!((c.check)(&d), "{}: then {} -> {d:#?}", c.desc, c.then);
    }
}

#[test]
fn stop_and_continue() {
    let yaml = "  - id: a
    then: [ { add_tags: [a] } ]
    stop: false
  - id: b
    when: { kind: text }
    then: [ { add_tags: [b] } ]
  - id: c
    then: [ { add_tags: [c] } ]
";
    let d = decide(yaml, &text("x"), None);
    assert_eq!(
        d.fired_ids(),
        ["a", "b"],
        "b stops by default; c is not reached"
    );
    assert_eq!(d.stopped_by.as_deref(), Some("b"));
    assert!(d.tags_added.contains("a") && d.tags_added.contains("b"));

    let d = decide(yaml, &event_msg("follow", None), None);
    assert_eq!(d.fired_ids(), ["a", "c"], "b does not match; c does");
}

#[test]
fn disabled_rules_are_skipped() {
    let d = decide(
        "  - id: off\n    enabled: false\n    then: [ close ]\n  - id: on\n    then: []\n",
        &text("x"),
        None,
    );
    assert_eq!(d.fired_ids(), ["on"]);
}

#[test]
fn combining_actions_of_several_rules() {
    let yaml = "  - id: one
    then: [ { assign: { team: t1, priority: high } }, { add_tags: [x] }, { set_status: pending } ]
    stop: false
  - id: two
    then: [ { assign: { team: t2 } }, { remove_tags: [x] }, { add_tags: [y] }, close ]
    stop: false
  - id: three
    then: [ { assign: { priority: low } }, { escalate: { response_target_secs: 120 } } ]
    stop: false
  - id: four
    then: [ { escalate: { response_target_secs: 30 } } ]
    stop: false
";
    let d = decide(yaml, &text("x"), None);
    assert_eq!(d.team.as_deref(), Some("t2"), "last team wins");
    assert_eq!(
        d.priority,
        Some(Priority::Urgent),
        "an escalation keeps priority urgent whatever is assigned"
    );
    assert_eq!(
        d.tags_added.iter().collect::<Vec<_>>(),
        ["y"],
        "x added then removed"
    );
    assert_eq!(d.tags_removed.iter().collect::<Vec<_>>(), ["x"]);
    assert_eq!(d.status, Some(Status::Resolved), "last status wins");
    let e = d.escalation.expect("escalated");
    assert_eq!(e.rule_id, "three", "first escalating rule");
    assert_eq!(e.response_target_secs, 30, "smallest target");
    assert!(d.stopped_by.is_none());
}

#[test]
fn apply_to_updates_the_conversation() {
    let yaml = "  - id: crisis
    when: { text_contains_any: '@crisis' }
    then: [ escalate, { add_tags: [crisis] }, { remove_tags: [happy] }, { assign: { team: escalations, priority: low } } ]
    stop: false
  - id: close
    then: [ close ]
";
    let m = text("我要投诉");
    let mut c = conversation(&m, 2);
    c.tags.insert("happy".into());
    let d = decide(yaml, &m, Some(&c));
    let now_ms = working_morning().timestamp_millis();
    d.apply_to(&mut c, now_ms);

    // The message escalated, and the `close` rule resolved: the episode began and ended.
    let cases: [(&str, bool); 10] = [
        (
            "an escalation episode",
            c.escalation_count == 1 && c.escalated_at == Some(now_ms),
        ),
        (
            "cleared by the resolution",
            !c.escalated && c.escalation_cleared_by.as_deref() == Some("rule:close"),
        ),
        (
            "the priority the rule assigned",
            c.priority == Priority::Low,
        ),
        ("team", c.team.as_deref() == Some("escalations")),
        ("tag added", c.tags.contains("crisis")),
        ("tag removed", !c.tags.contains("happy")),
        (
            "nothing due",
            c.response_due_at.is_none() && c.waiting_since.is_none(),
        ),
        ("resolved", c.status == Status::Resolved),
        (
            "resolved by the rule",
            c.resolved_at == Some(now_ms) && c.resolved_by.as_deref() == Some("rule:close"),
        ),
        (
            "both rules remembered",
            c.rule_last_fired.get("crisis") == Some(&now_ms)
                && c.rule_last_fired.get("close") == Some(&now_ms),
        ),
    ];
    for (desc, ok) in cases {
        assert!(ok, "{desc}: {c:#?}");
    }

    let before = c.clone();
    d.apply_to(&mut c, now_ms);
    assert_eq!(c, before, "applying twice changes nothing");
}

#[test]
fn apply_keeps_an_earlier_pending_due_time_and_urgent_priority() {
    let m = text("投诉");
    let mut c = conversation(&m, 2);
    c.escalated = true;
    c.priority = Priority::Urgent;
    c.response_due_at = Some(1_000);
    let d = decide(
        "  - id: e\n    then: [ escalate ]\n    stop: false\n  - id: lower\n    then: [ { assign: { priority: low } } ]\n",
        &m,
        Some(&c),
    );
    d.apply_to(&mut c, 500_000);
    assert_eq!(c.response_due_at, Some(1_000), "the earlier due time stays");
    assert_eq!(c.priority, Priority::Urgent, "escalated stays urgent");

    let d = decide(
        "  - id: lower\n    then: [ { assign: { priority: low } } ]\n",
        &m,
        Some(&c),
    );
    d.apply_to(&mut c, 600_000);
    assert_eq!(
        c.priority,
        Priority::Urgent,
        "an escalated conversation is not lowered by a later message"
    );

    c.escalated = false;
    d.apply_to(&mut c, 700_000);
    assert_eq!(
        c.priority,
        Priority::Low,
        "once de-escalated, assign applies"
    );
}

#[test]
fn empty_decision_changes_nothing_but_nothing() {
    let m = text("x");
    let mut c = conversation(&m, 1);
    let before = c.clone();
    Decision::default().apply_to(&mut c, 5);
    assert_eq!(c, before);
}
