//! `service_levels:`: validation with lines, which policy applies, and the due times it sets.

use super::*;
use crate::conversation::{Priority, Status};

const BASE: &str = "version: 1
calendars:
  office:
    timezone: Asia/Shanghai
    weekly:
      mon: ['09:00-12:00', '13:30-18:00']
      tue: ['09:00-12:00', '13:30-18:00']
accounts:
  brand: { calendar: office }
";

fn with(service_levels: &str) -> String {
    format!("{BASE}service_levels:\n{service_levels}rules: []\n")
}

const POLICIES: &str = "  - id: weibo-urgent
    when: { channel: weibo, priority: [high, urgent] }
    first_response_secs: 300
  - id: brand-office
    when: { account: brand }
    first_response_secs: 1800
    resolution_secs: 7200
    clock: business_hours
  - id: everyone
    first_response_secs: 3600
";

/// A waiting conversation of `sender` on `channel`/`account` since `at`.
fn waiting(channel: Channel, account: &str, at: DateTime<Utc>) -> Conversation {
    let mut m = message(
        channel,
        account,
        "u1",
        Content::Text {
            text: "在吗".into(),
        },
    );
    m.received_at_ms = at.timestamp_millis();
    let mut c = Conversation::new_for(&m);
    c.record_inbound(&m);
    c
}

#[test]
fn the_first_matching_policy_sets_the_due_times_on_its_clock() {
    let set = rules(&with(POLICIES));
    assert_eq!(set.service_levels().len(), 3);
    // Monday 11:50 in Shanghai.
    let t = sh(2026, 9, 28, 11, 50);
    let ms = t.timestamp_millis();

    // brand (Weibo, normal priority): business hours, 30 min = 10 before lunch + 20 after.
    let mut c = waiting(Channel::Weibo, "brand", t);
    let due = set.apply_service_level(&mut c).expect("a policy");
    assert_eq!(due.policy, "brand-office");
    assert_eq!(c.service_level.as_deref(), Some("brand-office"));
    assert_eq!(
        c.response_due_at,
        Some(sh(2026, 9, 28, 13, 50).timestamp_millis())
    );
    // Resolution: 2 h of office time from 11:50: 10 min, then 13:30 + 110 min = 15:20.
    assert_eq!(
        c.resolution_due_at,
        Some(sh(2026, 9, 28, 15, 20).timestamp_millis())
    );

    // The same account at high priority on Weibo: the first policy, around the clock.
    let mut c = waiting(Channel::Weibo, "brand", t);
    c.priority = Priority::High;
    set.apply_service_level(&mut c);
    assert_eq!(c.service_level.as_deref(), Some("weibo-urgent"));
    assert_eq!(c.response_due_at, Some(ms + 300_000));
    assert_eq!(
        c.resolution_due_at, None,
        "that policy has no resolution target"
    );

    // Anyone else: the catch-all.
    let mut c = waiting(Channel::WeChat, "demo", t);
    set.apply_service_level(&mut c);
    assert_eq!(c.service_level.as_deref(), Some("everyone"));
    assert_eq!(c.response_due_at, Some(ms + 3_600_000));
}

#[test]
fn a_due_time_is_never_moved_later_and_an_escalation_overrides_the_policy() {
    let set = rules(&with(POLICIES));
    let t = sh(2026, 9, 28, 10, 0);
    let ms = t.timestamp_millis();
    let mut c = waiting(Channel::WeChat, "demo", t);
    c.response_due_at = Some(ms + 60_000);
    set.apply_service_level(&mut c);
    assert_eq!(
        c.response_due_at,
        Some(ms + 60_000),
        "the earlier due time stays"
    );

    // Escalated: its 60 s target stands, the policy's hour does not apply.
    let mut c = waiting(Channel::WeChat, "demo", t);
    c.escalate(ms + 5_000, 60);
    set.apply_service_level(&mut c);
    assert_eq!(c.response_due_at, Some(ms + 65_000));

    // Answered, then waiting again during the episode: due within the escalation's target.
    c.record_outbound(ms + 30_000, crate::conversation::Responder::Person);
    let mut again = message(
        Channel::WeChat,
        "demo",
        "u1",
        Content::Text {
            text: "还有".into(),
        },
    );
    again.received_at_ms = ms + 600_000;
    again.dedupe_key = "msg:again".into();
    c.record_inbound(&again);
    set.apply_service_level(&mut c);
    assert_eq!(c.response_due_at, Some(ms + 660_000));
}

#[test]
fn nothing_is_due_for_a_customer_who_does_not_wait_or_a_resolved_conversation() {
    let set = rules(&with(POLICIES));
    let t = sh(2026, 9, 28, 10, 0);
    let mut follow = message(Channel::WeChat, "demo", "u1", event("follow", None));
    follow.received_at_ms = t.timestamp_millis();
    let mut c = Conversation::new_for(&follow);
    c.record_inbound(&follow);
    set.apply_service_level(&mut c);
    assert_eq!((c.response_due_at, c.resolution_due_at), (None, None));

    let mut c = waiting(Channel::Weibo, "brand", t);
    c.resolve(t.timestamp_millis() + 1_000, "agent:alice", &[]);
    set.apply_service_level(&mut c);
    assert_eq!(c.status, Status::Resolved);
    assert_eq!((c.response_due_at, c.resolution_due_at), (None, None));
}

#[test]
fn a_document_without_service_levels_sets_no_due_time() {
    let set = rules("version: 1\nrules: []\n");
    let mut c = waiting(Channel::WeChat, "demo", sh(2026, 9, 28, 10, 0));
    assert_eq!(set.apply_service_level(&mut c), None);
    assert_eq!((c.response_due_at, c.service_level), (None, None));
}

#[test]
fn invalid_service_levels_are_refused_with_line_and_reason() {
    let cases: [(&str, &str, usize, &str); 7] = [
        (
            "no target",
            "  - id: a\n    when: { channel: wechat }\n",
            11,
            "service level `a` has no target",
        ),
        (
            "target out of range",
            "  - id: a\n    first_response_secs: 0\n",
            11,
            "`first_response_secs` is 0: from 1 to 604800 seconds",
        ),
        (
            "duplicate id",
            "  - id: a\n    first_response_secs: 60\n  - id: a\n    first_response_secs: 90\n",
            13,
            "duplicate service level id `a`",
        ),
        (
            "business hours with no calendar",
            "  - id: a\n    when: { account: demo }\n    first_response_secs: 60\n    clock: business_hours\n",
            11,
            "account(s) demo have none",
        ),
        (
            "unknown key",
            "  - id: a\n    first_response: 60\n",
            12,
            "unknown field `first_response`",
        ),
        (
            "unknown priority",
            "  - id: a\n    when: { priority: critical }\n    first_response_secs: 60\n",
            12,
            "unknown variant `critical`",
        ),
        (
            "unknown clock",
            "  - id: a\n    first_response_secs: 60\n    clock: office_hours\n",
            13,
            "unknown variant `office_hours`",
        ),
    ];
    for (desc, policies, line, reason) in cases {
        let err = RuleSet::from_yaml(&with(policies)).expect_err(desc);
        let problem = &err.problems[0];
        assert!(problem.reason.contains(reason), "{desc}: {err}");
        assert_eq!(problem.line, Some(line), "{desc}: {err}");
    }
}

#[test]
fn a_policy_an_earlier_one_covers_is_a_warning() {
    let set = rules(&with(
        "  - id: all-weibo\n    when: { channel: weibo }\n    first_response_secs: 60\n  - id: brand-weibo\n    when: { channel: weibo, account: brand }\n    first_response_secs: 30\n",
    ));
    let warning = &set.warnings()[0];
    assert!(
        warning
            .reason
            .contains("`brand-weibo` is never used: `all-weibo` above"),
        "{warning}"
    );
    assert_eq!(warning.line, Some(14));
}

#[test]
fn explain_and_check_show_the_service_level() {
    let set = rules(&with(POLICIES));
    let mut m = message(
        Channel::Weibo,
        "brand",
        "u1",
        Content::Text {
            text: "在吗".into(),
        },
    );
    let t = sh(2026, 9, 28, 11, 50);
    m.received_at_ms = t.timestamp_millis();
    let report = explain(&set, &m, None, t).to_string();
    assert!(
        report.contains(
            "service level: brand-office (business_hours), answer due 2026-09-28 13:50 CST, \
             resolution due 2026-09-28 15:20 CST"
        ),
        "{report}"
    );
    let summary = set.summary().to_string();
    assert!(
        summary.contains("  brand-office (business_hours), first response 1800s, resolution 7200s"),
        "{summary}"
    );
    let none = rules("version: 1\nrules: []\n");
    assert!(
        explain(&none, &m, None, t)
            .to_string()
            .contains("service level: none applies")
    );
}

#[test]
fn auto_resolution_is_set_in_the_lifecycle_and_checked() {
    let set = rules(
        "version: 1\nlifecycle:\n  resolve_removes_tags: [crisis]\n  auto_resolve_pending_after_secs: 86400\nrules: []\n",
    );
    assert_eq!(set.auto_resolve_pending_after_secs(), Some(86_400));
    assert_eq!(
        rules("version: 1\nrules: []\n").auto_resolve_pending_after_secs(),
        None
    );
    let err = RuleSet::from_yaml(
        "version: 1\nlifecycle:\n  auto_resolve_pending_after_secs: 0\nrules: []\n",
    )
    .expect_err("too short");
    assert_eq!(err.problems[0].line, Some(3));
    assert!(
        err.problems[0].reason.contains("from 1 to 7776000 seconds"),
        "{err}"
    );
}
