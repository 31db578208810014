//! `explain` and `check` reports.

use super::conditions::PRELUDE;
use super::*;

const RULES: &str = "  - id: welcome
    when: { event: [follow, subscribe] }
    then: [ { reply: { type: text, text: welcome } } ]
  - id: crisis
    when: { any: [ { text_contains_any: '@crisis' }, { text_regex: '(^|[^0-9])315([^0-9]|$)' } ] }
    then: [ escalate, { add_tags: [crisis] } ]
    stop: false
  - id: off
    enabled: false
    then: []
  - id: ooo
    when: { not: { within_hours: account } }
    then: [ { reply: { type: text, text: closed } } ]
  - id: fallback
    then: [ { reply: { type: text, text: fallback } } ]
";

#[test]
fn explains_every_rule() {
    let set = rules(&format!("{PRELUDE}{RULES}"));
    let m = text("我要投诉");
    let e = explain(&set, &m, None, sh(2026, 9, 28, 20, 0));
    let outcomes: Vec<(&str, String)> = e
        .rules
        .iter()
        .map(|r| {
            let o = match &r.outcome {
                RuleOutcome::Fired { why, stop } => format!("fired stop={stop}: {why}"),
                RuleOutcome::NotMatched { reason } => format!("no match: {reason}"),
                RuleOutcome::Suppressed { reason, .. } => format!("suppressed: {reason}"),
                RuleOutcome::Disabled => "disabled".into(),
                RuleOutcome::NotReached { stopped_by } => format!("not reached: {stopped_by}"),
            };
            (r.id.as_str(), o)
        })
        .collect();
    let want = [
        ("welcome", "no match: message is text, not an event"),
        (
            "crisis",
            "fired stop=false: text contains \"投诉\" (from @crisis)",
        ),
        ("off", "disabled"),
        (
            "ooo",
            "fired stop=true: account demo's calendar office is closed: Mon 2026-09-28 20:00 Asia/Shanghai is outside 09:00-12:00, 13:30-18:00; opens Tue 2026-09-29 09:00",
        ),
        ("fallback", "not reached: ooo"),
    ];
    assert_eq!(outcomes.len(), want.len());
    for ((id, got), (want_id, want)) in outcomes.iter().zip(want) {
        assert_eq!(*id, want_id);
        assert_eq!(got, want, "rule {id}");
    }
    assert_eq!(
        e.decision,
        evaluate(&set, &m, None, sh(2026, 9, 28, 20, 0)),
        "explain decides exactly like evaluate"
    );

    let report = e.to_string();
    for want in [
        "message:      wechat/demo from u1: text \"我要投诉\" at 2026-09-28T12:00:00Z (Mon 2026-09-28 20:00 Asia/Shanghai)",
        "conversation: new (this is its first message)",
        "  2. crisis    line 26    FIRED, continue: text contains \"投诉\" (from @crisis)",
        "  3. off       line 30    disabled",
        "  5. fallback  line 36    not reached: stopped by `ooo`",
        "  fired:    crisis, ooo",
        "    1. [ooo] text \"closed\"",
        "  assign:   team (unchanged), priority urgent",
        "  tags:     +crisis",
        "  escalate: answer within 60s (by `crisis`)",
    ] {
        assert!(report.contains(want), "report lacks {want:?}:\n{report}");
    }
}

#[test]
fn explains_why_not_for_each_kind_of_failure() {
    let set = rules(&format!("{PRELUDE}{RULES}"));
    let cases = [
        (
            "any lists every failed branch",
            text("hello"),
            "crisis",
            "none of: text \"hello\" contains none of 3 keywords (@crisis); text \"hello\" does not match /(^|[^0-9])315([^0-9]|$)/",
        ),
        (
            "not passes the fact through",
            text("hello"),
            "ooo",
            "account demo's calendar office is open: Mon 2026-09-28 10:00 Asia/Shanghai is within 09:00-12:00",
        ),
    ];
    for (desc, m, id, want) in cases {
        let e = explain(&set, &m, None, working_morning());
        let trace = e.rules.iter().find(|r| r.id == id).unwrap();
        match &trace.outcome {
            RuleOutcome::NotMatched { reason } => assert_eq!(reason, want, "{desc}"),
            other => panic!("{desc}: {other:?}"),
        }
    }
}

#[test]
fn explanation_serializes_to_json() {
    let set = rules(&format!("{PRELUDE}{RULES}"));
    let e = explain(&set, &event_msg("follow", None), None, working_morning());
    let json = serde_json::to_value(&e).unwrap();
    assert_eq!(json["rules"][0]["outcome"]["outcome"], "fired");
    assert_eq!(json["decision"]["replies"][0]["content"]["type"], "text");
    assert_eq!(json["decision"]["stopped_by"], "welcome");
}

#[test]
fn check_summarizes() {
    let summary = check(&format!("{PRELUDE}{RULES}")).unwrap();
    assert_eq!(summary.rules, 5);
    assert_eq!(summary.enabled_rules, 4);
    assert_eq!(summary.calendars.len(), 2);
    assert_eq!(
        summary.keyword_lists,
        [("crisis".into(), 3), ("other".into(), 1)]
    );
    let text = summary.to_string();
    for want in [
        "OK: version 1, 5 rules (4 enabled)",
        "  office (default): Asia/Shanghai, 7 holiday dates, 1 exceptional days",
        "  ny: America/New_York, 0 holiday dates, 0 exceptional days",
        "keyword lists: crisis (3), other (1)",
        "warning: line 21, column 3: keyword list `other` is not used by any rule",
    ] {
        assert!(text.contains(want), "summary lacks {want:?}:\n{text}");
    }
    let err = check("version: 1\nrules: [ { id: a } ]\n").unwrap_err();
    assert_eq!(err.line(), Some(2));
}
