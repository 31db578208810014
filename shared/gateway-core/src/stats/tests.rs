use super::*;
use crate::conversation::windows::{UndeliverableReason, UndeliverableReply};
use crate::conversation::{Conversation, Responder};
use crate::testing::{event_message, text_message};
use chrono_tz::Tz;

const SHANGHAI: Tz = chrono_tz::Asia::Shanghai;

/// Unix ms of an RFC 3339 time.
fn at(time: &str) -> i64 {
    chrono::DateTime::parse_from_rfc3339(time)
        .expect("RFC 3339")
        .timestamp_millis()
}

fn day(d: &str) -> NaiveDate {
    d.parse().expect("a date")
}

/// A conversation of `demo` whose customer wrote at `time` (10:00 in Shanghai by default).
fn waiting_since(time: &str) -> Conversation {
    let m = text_message("demo", "u1", time, "你好", at(time));
    let mut c = Conversation::new_for(&m);
    c.record_inbound(&m);
    c
}

const TEN: &str = "2026-03-02T10:00:00+08:00";

fn waiting() -> Conversation {
    waiting_since(TEN)
}

/// `c` changed by `f`, one version later.
fn then(c: &Conversation, f: impl FnOnce(&mut Conversation)) -> Conversation {
    let mut next = c.clone();
    f(&mut next);
    next.version += 1;
    next
}

type Expected<'a> = &'a [(&'a str, Option<&'a str>, &'a [(&'a str, i64)])];

/// The delta's records as (day, team, attributes), for comparing with a table.
#[track_caller]
fn assert_records(delta: Option<StatsDelta>, expected: Expected<'_>, case: &str) {
    let got: Vec<(NaiveDate, Option<String>, BTreeMap<String, i64>)> = delta
        .map(|d| {
            d.records
                .into_iter()
                .map(|(k, v)| (k.day, k.team, v.attributes()))
                .collect()
        })
        .unwrap_or_default();
    let want: Vec<(NaiveDate, Option<String>, BTreeMap<String, i64>)> = expected
        .iter()
        .map(|(d, team, counters)| {
            (
                day(d),
                team.map(str::to_string),
                counters.iter().map(|(k, n)| (k.to_string(), *n)).collect(),
            )
        })
        .collect();
    assert_eq!(got, want, "{case}");
}

#[test]
fn each_change_of_a_conversation_counts_what_it_changed_on_the_day_it_happened() {
    let new = waiting();
    let with_team = then(&new, |c| c.team = Some("care".into()));
    let escalated = then(&waiting(), |c| {
        c.escalate(at(TEN), 60);
        c.tags.insert("crisis".into());
        c.rule_last_fired.insert("crisis".into(), at(TEN));
    });
    let answered_late = then(&escalated, |c| {
        c.record_outbound(at("2026-03-02T10:03:00+08:00"), Responder::Person);
    });
    let answered_in_time = then(&escalated, |c| {
        c.record_outbound(at("2026-03-02T10:00:45+08:00"), Responder::Person);
    });
    let answered_nothing_due = then(&new, |c| {
        c.record_outbound(at("2026-03-03T09:10:00+08:00"), Responder::Person);
    });
    let answered_by_a_rule = then(&escalated, |c| {
        c.record_outbound(at("2026-03-02T10:00:30+08:00"), Responder::AnsweringRule);
    });
    let person_after_the_rule = then(&answered_by_a_rule, |c| {
        c.record_outbound(at("2026-03-02T10:20:00+08:00"), Responder::Person);
    });
    let acknowledged = then(&escalated, |c| {
        c.record_outbound(at("2026-03-02T10:00:01+08:00"), Responder::Automation);
    });
    let resolved = then(&answered_late, |c| {
        c.resolve(at("2026-03-02T12:00:00+08:00"), "agent:alice", &[]);
    });
    let reopened = then(&resolved, |c| {
        let m = text_message("demo", "u1", "r", "又来了", at("2026-03-05T08:00:00+08:00"));
        c.record_inbound(&m);
    });
    let reopened_and_closed = then(&resolved, |c| {
        let t = at("2026-03-05T08:00:00+08:00");
        c.record_inbound(&text_message("demo", "u1", "r", "谢谢", t));
        c.resolve(t, "rule:thanks", &[]);
        c.rule_last_fired.insert("thanks".into(), t);
    });
    let breached = then(&escalated, |c| {
        c.sla_breached_at = Some(at("2026-03-02T10:01:00+08:00"));
    });
    let undeliverable = then(&new, |c| {
        c.record_undeliverable(UndeliverableReply {
            reply_id: "r1".into(),
            reason: UndeliverableReason::WindowClosed,
            platform_code: Some("wechat:45015".into()),
            at: at("2026-03-04T09:00:00+08:00"),
        });
    });
    let fired_again = then(&escalated, |c| {
        c.rule_last_fired
            .insert("crisis".into(), at("2026-03-02T10:30:00+08:00"));
    });
    let untagged = then(&escalated, |c| {
        c.tags.clear();
    });
    let retagged = then(&untagged, |c| {
        c.tags.insert("crisis".into());
        c.tags.insert("returns".into());
    });
    let second_message_of_team = then(&with_team, |c| {
        let m = text_message("demo", "u1", "2", "在吗", at("2026-03-02T10:05:00+08:00"));
        c.record_inbound(&m);
    });
    let follow_only = {
        let m = event_message("demo", "u2", "subscribe", at(TEN));
        let mut c = Conversation::new_for(&m);
        c.record_inbound(&m);
        c
    };

    // (case, old image, new image, expected records)
    let cases: &[(
        &str,
        Option<&Conversation>,
        Option<&Conversation>,
        Expected<'_>,
    )] = &[
        (
            "a new conversation opens an episode",
            None,
            Some(&new),
            &[("2026-03-02", None, &[("opened", 1)])],
        ),
        (
            "a team's record also counts the inbound messages",
            None,
            Some(&with_team),
            &[
                ("2026-03-02", None, &[("opened", 1)]),
                (
                    "2026-03-02",
                    Some("care"),
                    &[("inbound", 1), ("inbound_hour:10", 1), ("opened", 1)],
                ),
            ],
        ),
        (
            "a later message of the same episode",
            Some(&with_team),
            Some(&second_message_of_team),
            &[(
                "2026-03-02",
                Some("care"),
                &[("inbound", 1), ("inbound_hour:10", 1)],
            )],
        ),
        ("a follow opens nothing", None, Some(&follow_only), &[]),
        ("a deleted item counts nothing", Some(&new), None, &[]),
        (
            "an unchanged image counts nothing",
            Some(&new),
            Some(&new),
            &[],
        ),
        (
            "an escalation, its tag and its rule",
            Some(&new),
            Some(&escalated),
            &[(
                "2026-03-02",
                None,
                &[("escalations", 1), ("rule:crisis", 1), ("tag:crisis", 1)],
            )],
        ),
        (
            "an acknowledgement answers nothing",
            Some(&escalated),
            Some(&acknowledged),
            &[],
        ),
        (
            "a first response after the due time is breached",
            Some(&escalated),
            Some(&answered_late),
            &[(
                "2026-03-02",
                None,
                &[
                    ("first_response_breached", 1),
                    ("first_response_time:le_5m", 1),
                ],
            )],
        ),
        (
            "a first response by the due time is met",
            Some(&escalated),
            Some(&answered_in_time),
            &[(
                "2026-03-02",
                None,
                &[("first_response_met", 1), ("first_response_time:le_1m", 1)],
            )],
        ),
        (
            "a first response with nothing due is met, on the day it was given",
            Some(&new),
            Some(&answered_nothing_due),
            &[(
                "2026-03-03",
                None,
                &[("first_response_met", 1), ("first_response_time:le_1d", 1)],
            )],
        ),
        (
            "a rule's answer is no first response",
            Some(&escalated),
            Some(&answered_by_a_rule),
            &[],
        ),
        (
            "a person's first answer after a rule's finds nothing due",
            Some(&answered_by_a_rule),
            Some(&person_after_the_rule),
            &[(
                "2026-03-02",
                None,
                &[("first_response_met", 1), ("first_response_time:le_30m", 1)],
            )],
        ),
        (
            "a later answer is no first response",
            Some(&answered_late),
            Some(&then(&answered_late, |c| {
                c.record_outbound(at("2026-03-02T10:09:00+08:00"), Responder::Person);
            })),
            &[],
        ),
        (
            "a resolution and its time from the opening",
            Some(&answered_late),
            Some(&resolved),
            &[(
                "2026-03-02",
                None,
                &[
                    ("agent:alice:resolved", 1),
                    ("resolution_time:le_2h", 1),
                    ("resolved", 1),
                ],
            )],
        ),
        (
            "a reopening opens a new episode",
            Some(&resolved),
            Some(&reopened),
            &[("2026-03-05", None, &[("opened", 1)])],
        ),
        (
            "reopened and closed by a rule in one write",
            Some(&resolved),
            Some(&reopened_and_closed),
            &[(
                "2026-03-05",
                None,
                &[
                    ("opened", 1),
                    ("resolution_time:le_30s", 1),
                    ("resolved", 1),
                    ("rule:thanks", 1),
                ],
            )],
        ),
        (
            "a breach marked by the SLA monitor",
            Some(&escalated),
            Some(&breached),
            &[("2026-03-02", None, &[("sla_breaches", 1)])],
        ),
        (
            "a breach already counted",
            Some(&breached),
            Some(&then(&breached, |c| {
                c.priority = crate::conversation::Priority::High
            })),
            &[],
        ),
        (
            "an undeliverable reply, by reason, on the day it was marked",
            Some(&new),
            Some(&undeliverable),
            &[("2026-03-04", None, &[("undeliverable:window_closed", 1)])],
        ),
        (
            "a rule that fires again",
            Some(&escalated),
            Some(&fired_again),
            &[("2026-03-02", None, &[("rule:crisis", 1)])],
        ),
        (
            "a removed tag counts nothing",
            Some(&escalated),
            Some(&untagged),
            &[],
        ),
        (
            "tags added again count again",
            Some(&untagged),
            Some(&retagged),
            &[("2026-03-02", None, &[("tag:crisis", 1), ("tag:returns", 1)])],
        ),
    ];
    for (case, old, new, expected) in cases {
        assert_records(conversation_delta(*old, *new, SHANGHAI), expected, case);
    }
}

#[test]
fn days_are_the_accounts_local_days() {
    // 01:00 in Shanghai on the 3rd is 17:00 UTC on the 2nd.
    let late = waiting_since("2026-03-03T01:00:00+08:00");
    for (tz, expected) in [(SHANGHAI, "2026-03-03"), (Tz::UTC, "2026-03-02")] {
        let delta = conversation_delta(None, Some(&late), tz).expect("counts");
        assert_eq!(delta.account_day(day(expected)).get(counter::OPENED), 1);
        let m = text_message("demo", "u1", "x", "hi", at("2026-03-03T01:00:00+08:00"));
        let delta = message_delta(&m, tz);
        assert_eq!(delta.account_day(day(expected)).get(counter::INBOUND), 1);
        assert_eq!(
            (delta.channel, delta.account_id.as_str()),
            (m.channel, "demo")
        );
    }
    assert_eq!(local_day(SHANGHAI, i64::MAX), day("1970-01-01"));
}

#[test]
fn one_write_may_count_on_two_days() {
    // The SLA monitor marks, just after midnight, a breach that happened before it.
    let c = waiting_since("2026-03-02T23:50:00+08:00");
    let marked = then(&c, |c| {
        c.sla_breached_at = Some(at("2026-03-02T23:59:00+08:00"));
        c.undeliverable_count = 1;
        c.undeliverable = Some(UndeliverableReply {
            reply_id: "r".into(),
            reason: UndeliverableReason::QuotaExhausted,
            platform_code: None,
            at: at("2026-03-03T00:01:00+08:00"),
        });
    });
    assert_records(
        conversation_delta(Some(&c), Some(&marked), SHANGHAI),
        &[
            ("2026-03-02", None, &[("sla_breaches", 1)]),
            ("2026-03-03", None, &[("undeliverable:quota_exhausted", 1)]),
        ],
        "two days",
    );
}

#[test]
fn daily_counts_flatten_to_attributes_and_back() {
    let mut d = DailyDelta::default();
    d.add(counter::INBOUND, 3);
    d.add(&counter::tag("crisis"), 1);
    d.add(&counter::rule("out-of-office"), 2);
    d.add(counter::OPENED, 0);
    d.first_response_time.record(3 * 60_000);
    d.resolution_time.record(2 * 3_600_000);
    let attributes = d.attributes();
    assert_eq!(
        attributes.keys().collect::<Vec<_>>(),
        [
            "first_response_time:le_5m",
            "inbound",
            "resolution_time:le_2h",
            "rule:out-of-office",
            "tag:crisis",
        ]
    );
    assert_eq!(DailyDelta::from_attributes(attributes), d);

    let mut sum = d.clone();
    sum.merge(&d);
    assert_eq!(sum.get(counter::INBOUND), 6);
    assert_eq!(sum.first_response_time.total(), 2);
    assert_eq!(
        sum.by_prefix(counter::RULE).collect::<Vec<_>>(),
        [("out-of-office", 4)]
    );
    assert!(DailyDelta::default().is_empty());
    assert!(!d.is_empty());
}

#[test]
fn a_report_sums_the_days_of_its_range_per_account_and_team() {
    let record = |d: &str, team: Option<&str>, counters: &[(&str, i64)]| DailyRecord {
        key: RecordKey {
            day: day(d),
            team: team.map(str::to_string),
        },
        counts: DailyDelta::from_attributes(counters.iter().map(|(k, n)| (k.to_string(), *n))),
    };
    let records = [
        record(
            "2026-03-01",
            None,
            &[("inbound", 100), ("first_response_met", 9)],
        ),
        record(
            "2026-03-02",
            None,
            &[
                ("inbound", 5),
                ("first_response_met", 2),
                ("first_response_breached", 1),
                ("first_response_time:le_5m", 2),
                ("first_response_time:le_1d", 1),
                ("tag:crisis", 1),
            ],
        ),
        record(
            "2026-03-03",
            None,
            &[
                ("inbound", 2),
                ("resolution_time:le_2h", 1),
                ("resolved", 1),
            ],
        ),
        record(
            "2026-03-03",
            Some("care"),
            &[("inbound", 2), ("resolved", 1)],
        ),
    ];
    let report = Report::build(
        "demo",
        &[crate::Channel::WeChat],
        day("2026-03-02"),
        day("2026-03-03"),
        &records,
    );
    assert_eq!(report.days, 2);
    let total = &report.total;
    assert_eq!(total.inbound, 7, "the 1st is outside the range");
    assert_eq!(
        (total.first_responses_met, total.first_responses_breached),
        (2, 1)
    );
    assert_eq!(total.sla_met_percent, Some(66.7));
    assert_eq!(total.first_response_time.count, 3);
    assert_eq!(
        total.first_response_time.p50.map(Bucket::name),
        Some("le_5m")
    );
    assert_eq!(
        total.first_response_time.p90.map(Bucket::name),
        Some("le_1d")
    );
    assert_eq!(total.resolution_time.p50.map(Bucket::name), Some("le_2h"));
    assert_eq!(total.tags, BTreeMap::from([("crisis".to_string(), 1)]));
    let care = &report.teams["care"];
    assert_eq!((care.inbound, care.resolved), (2, 1));
    assert_eq!(care.sla_met_percent, None, "no first response");
    assert_eq!(care.resolution_time.p50, None);
}

#[test]
fn sla_met_percent_is_rounded_to_one_decimal() {
    for (part, whole, expected) in [
        (2, 3, Some(66.7)),
        (1, 3, Some(33.3)),
        (3, 3, Some(100.0)),
        (0, 4, Some(0.0)),
        (1, 8, Some(12.5)),
        (0, 0, None),
    ] {
        assert_eq!(report::percent(part, whole), expected, "{part}/{whole}");
    }
}

#[test]
fn an_inbound_message_counts_on_the_local_hour_of_the_accounts_time_zone() {
    // 23:59:59 and 00:00:00 in Shanghai: two hours of two days; in UTC, both 15:xx/16:00 of the
    // same day.
    for (time, tz, expected_day, hour) in [
        (
            "2026-03-02T23:59:59+08:00",
            SHANGHAI,
            "2026-03-02",
            "inbound_hour:23",
        ),
        (
            "2026-03-03T00:00:00+08:00",
            SHANGHAI,
            "2026-03-03",
            "inbound_hour:00",
        ),
        (
            "2026-03-02T23:59:59+08:00",
            Tz::UTC,
            "2026-03-02",
            "inbound_hour:15",
        ),
        (
            "2026-03-03T00:00:00+08:00",
            Tz::UTC,
            "2026-03-02",
            "inbound_hour:16",
        ),
    ] {
        let m = text_message("demo", "u1", time, "你好", at(time));
        assert_records(
            Some(message_delta(&m, tz)),
            &[(expected_day, None, &[("inbound", 1), (hour, 1)])],
            time,
        );
    }
}

#[test]
fn an_agents_first_response_reply_and_resolution_count_for_that_agent() {
    let mut opened = waiting();
    opened.team = Some("care".into());
    opened.response_due_at = Some(at("2026-03-02T10:30:00+08:00"));
    let answered = then(&opened, |c| {
        c.record_outbound_by(
            at("2026-03-02T10:04:00+08:00"),
            Responder::Person,
            Some("alice"),
        );
    });
    assert_eq!(answered.first_response_by.as_deref(), Some("alice"));
    let both = |counters: &'static [(&'static str, i64)]| {
        [
            ("2026-03-02", None, counters),
            ("2026-03-02", Some("care"), counters),
        ]
    };
    assert_records(
        conversation_delta(Some(&opened), Some(&answered), SHANGHAI),
        &both(&[
            ("agent:alice:first_response_met", 1),
            ("agent:alice:first_response_time:le_5m", 1),
            ("first_response_met", 1),
            ("first_response_time:le_5m", 1),
        ]),
        "alice's first answer, within its due time",
    );
    // Resolved by bob: his; by a rule: nobody's.
    let resolved = then(&answered, |c| {
        c.resolve(at("2026-03-02T11:00:00+08:00"), "agent:bob", &[]);
    });
    assert_records(
        conversation_delta(Some(&answered), Some(&resolved), SHANGHAI),
        &both(&[
            ("agent:bob:resolved", 1),
            ("resolution_time:le_1h", 1),
            ("resolved", 1),
        ]),
        "bob resolves",
    );
    let by_rule = then(&answered, |c| {
        c.resolve(at("2026-03-02T11:00:00+08:00"), "rule:thanks", &[]);
    });
    let delta = conversation_delta(Some(&answered), Some(&by_rule), SHANGHAI).expect("counts");
    assert!(
        delta
            .account_day(day("2026-03-02"))
            .counters
            .keys()
            .all(|k| !k.starts_with("agent:")),
        "{delta:?}"
    );
    // A reply of the reply API that names no agent: a first response, nobody's.
    let anonymous = then(&opened, |c| {
        c.record_outbound_by(at("2026-03-02T10:04:00+08:00"), Responder::Person, None);
    });
    let delta = conversation_delta(Some(&opened), Some(&anonymous), SHANGHAI).expect("counts");
    assert_eq!(
        delta
            .account_day(day("2026-03-02"))
            .get("first_response_met"),
        1
    );
    assert!(
        delta
            .account_day(day("2026-03-02"))
            .counters
            .keys()
            .all(|k| !k.starts_with("agent:"))
    );
    // A reopening forgets who answered the episode before.
    let m = text_message("demo", "u1", "9", "又来了", at("2026-03-03T09:00:00+08:00"));
    let reopened = then(&resolved, |c| {
        c.record_inbound(&m);
    });
    assert_eq!(reopened.first_response_by, None);
}

#[test]
fn a_delivered_reply_counts_for_the_agent_it_names_on_the_day_it_was_sent() {
    use crate::outbound::{REPLY_SCHEMA_VERSION, ReplyCommand, ReplyOrigin};
    let reply = |origin| ReplyCommand {
        schema_version: REPLY_SCHEMA_VERSION,
        idempotency_key: "k".into(),
        channel: crate::Channel::WeChat,
        account_id: "demo".into(),
        conversation_key: "wechat:demo:u1".into(),
        recipient_id: "u1".into(),
        content: crate::reply::ReplyContent::text("好的"),
        origin,
        created_at_ms: at("2026-03-02T23:59:00+08:00"),
    };
    let agent = reply(ReplyOrigin::Agent {
        client_id: "desk".into(),
        agent_id: Some("alice".into()),
    });
    // Queued before midnight, delivered after: the day it was sent.
    let sent = at("2026-03-03T00:00:10+08:00");
    assert_records(
        reply_delta(&agent, sent, Some("care"), SHANGHAI),
        &[
            ("2026-03-03", None, &[("agent:alice:replies", 1)]),
            ("2026-03-03", Some("care"), &[("agent:alice:replies", 1)]),
        ],
        "alice's reply",
    );
    assert_eq!(
        reply_delta(
            &reply(ReplyOrigin::System {
                client_id: "crm".into()
            }),
            sent,
            None,
            SHANGHAI
        ),
        None
    );
    assert_eq!(
        counter::parse_agent("agent:a:b:first_response_time:le_5m"),
        Some(("a:b", "first_response_time:le_5m"))
    );
    assert_eq!(
        counter::parse_agent("agent:a.b:replies"),
        Some(("a.b", "replies"))
    );
    assert_eq!(counter::parse_agent("agent:a.b:other"), None);
    assert_eq!(counter::parse_agent("tag:x"), None);
}
