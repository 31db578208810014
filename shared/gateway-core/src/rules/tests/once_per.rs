//! `once_per: day | conversation`, with days counted in the account's time zone.

use super::conditions::PRELUDE;
use super::*;

const RULES: &str = "  - id: ooo
    once_per: day
    then: [ { reply: { type: text, text: closed } } ]
  - id: fallback
    then: [ { reply: { type: text, text: fallback } } ]
";

/// Fires `ooo` at `last` for `account`, then evaluates at `now`.
fn fired_again(account: &str, last: DateTime<Utc>, now: DateTime<Utc>) -> Vec<String> {
    let set = rules(&format!("{PRELUDE}{RULES}"));
    let m = message(
        Channel::WeChat,
        account,
        "u1",
        Content::Text { text: "x".into() },
    );
    let mut c = conversation(&m, 1);
    let first = evaluate(&set, &m, Some(&c), last);
    assert_eq!(first.fired_ids(), ["ooo"], "fires the first time");
    first.apply_to(&mut c, last.timestamp_millis());
    evaluate(&set, &m, Some(&c), now)
        .fired
        .into_iter()
        .map(|f| f.id)
        .collect()
}

#[test]
fn once_per_day_in_the_account_time_zone() {
    let cases = [
        (
            "same local day is suppressed (falls through to the next rule)",
            "demo",
            sh(2026, 9, 28, 9, 0),
            sh(2026, 9, 28, 23, 59),
            "fallback",
        ),
        (
            "next local day fires again",
            "demo",
            sh(2026, 9, 28, 9, 0),
            sh(2026, 9, 29, 0, 0),
            "ooo",
        ),
        (
            "Shanghai midnight: same UTC day (15:50 and 16:10 UTC) but a new local day",
            "demo",
            utc(2026, 9, 28, 15, 50),
            utc(2026, 9, 28, 16, 10),
            "ooo",
        ),
        (
            "Shanghai morning: different UTC days but the same local day",
            "demo",
            utc(2026, 9, 27, 23, 50),
            utc(2026, 9, 28, 0, 10),
            "fallback",
        ),
        (
            "New York account: 01:00 and 03:59 UTC are the same New York evening",
            "us",
            utc(2026, 9, 29, 1, 0),
            utc(2026, 9, 29, 3, 59),
            "fallback",
        ),
        (
            "New York account: 04:00 UTC is New York midnight",
            "us",
            utc(2026, 9, 29, 3, 0),
            utc(2026, 9, 29, 4, 0),
            "ooo",
        ),
        (
            "a last firing in the future (clock skew) still suppresses",
            "demo",
            sh(2026, 9, 29, 9, 0),
            sh(2026, 9, 28, 9, 0),
            "fallback",
        ),
    ];
    for (desc, account, last, now, want) in cases {
        assert_eq!(fired_again(account, last, now), [want], "{desc}");
    }
}

#[test]
fn once_per_conversation() {
    let set = rules(&format!(
        "{PRELUDE}  - id: intro\n    once_per: conversation\n    then: [ {{ add_tags: [introduced] }} ]\n    stop: false\n"
    ));
    let m = text("x");
    let mut c = conversation(&m, 0);
    let d = evaluate(&set, &m, Some(&c), sh(2026, 1, 1, 0, 0));
    assert_eq!(d.fired_ids(), ["intro"]);
    d.apply_to(&mut c, sh(2026, 1, 1, 0, 0).timestamp_millis());
    for (desc, at) in [
        ("same day", sh(2026, 1, 1, 12, 0)),
        ("a year later", sh(2027, 1, 1, 0, 0)),
    ] {
        assert!(evaluate(&set, &m, Some(&c), at).is_empty(), "{desc}");
    }
}

#[test]
fn new_conversation_has_no_memory() {
    let set = rules(&format!("{PRELUDE}{RULES}"));
    let d = evaluate(&set, &text("x"), None, working_morning());
    assert_eq!(d.fired_ids(), ["ooo"]);
}

#[test]
fn explain_reports_suppression() {
    let set = rules(&format!("{PRELUDE}{RULES}"));
    let m = text("x");
    let mut c = conversation(&m, 1);
    c.rule_last_fired
        .insert("ooo".into(), sh(2026, 9, 28, 9, 0).timestamp_millis());
    let e = explain(&set, &m, Some(&c), sh(2026, 9, 28, 10, 0));
    match &e.rules[0].outcome {
        RuleOutcome::Suppressed {
            once_per, reason, ..
        } => {
            assert_eq!(*once_per, OncePer::Day);
            assert!(
                reason.contains("already fired today (2026-09-28 09:00 CST, Asia/Shanghai)"),
                "{reason}"
            );
        }
        other => panic!("expected suppressed, got {other:?}"),
    }
}
