//! Daily statistics end to end: the aggregator's core over a scripted two days of a contact
//! centre, the records it keeps, and `gatewayctl report` over them.
//!
//! The scenario (account `demo` on WeChat, Asia/Shanghai, office hours 09:00-18:00 on
//! weekdays, answers due within 30 office minutes, a crisis within 60 seconds):
//!
//! Monday 2026-03-02
//! - 10:00:00 u1 "你们是骗子，我要投诉": rule `crisis` escalates (due 10:01), tags `crisis`,
//!   assigns team `escalations`; its apology is marked `delivery_uncertain` at 10:00:05;
//!   the SLA monitor marks the wait breached at 10:01:00 (in a write at 10:01:30); an agent
//!   answers at 10:03 (first response breached, 3 min); the agent resolves at 12:00 (2 h).
//! - 10:30:00 u2 "我要退货": rule `returns` tags `returns`, assigns team `care` (due 11:00);
//!   10:35 u2 "还在吗": rule `fallback`; an agent answers at 10:40 (met, 10 min).
//! - 21:30:00 u3 "你好": rule `out-of-office`, team `care` (due 09:30 next morning).
//!
//! Tuesday 2026-03-03
//! - 09:10 an agent answers u3 (met, 11 h 40 min); resolved at 09:30 (12 h).
//! - 14:00 u5 "你好": rule `fallback`, no team, not answered.
//!
//! And outside the range reported: Sunday 2026-03-01 12:00 u9 "你好" (`out-of-office`),
//! Wednesday 2026-03-04 10:00 u9 again (`fallback`); on Weibo, an account also named `demo`.
//!
//! The figures, by hand (the report of 2026-03-02 to 2026-03-03 on WeChat):
//!
//! | figure                 | account                         | care            | escalations |
//! |------------------------|---------------------------------|-----------------|-------------|
//! | inbound                | u1 1 + u2 2 + u3 1 + u5 1 = 5   | u2 2 + u3 1 = 3 | 1           |
//! | opened                 | u1, u2, u3, u5 = 4              | 2               | 1           |
//! | resolved               | u1, u3 = 2                      | 1               | 1           |
//! | escalations            | 1                               | 0               | 1           |
//! | SLA breaches           | 1                               | 0               | 1           |
//! | first responses met    | u2, u3 = 2                      | 2               | 0           |
//! | … breached             | u1 = 1                          | 0               | 1           |
//! | SLA met                | 2 / 3 = 66.7 %                  | 100.0 %         | 0.0 %       |
//! | first response times   | 3 m, 10 m, 11 h 40 m            | 10 m, 11 h 40 m | 3 m         |
//! | … buckets              | ≤ 5m, ≤ 10m, ≤ 1d               | ≤ 10m, ≤ 1d     | ≤ 5m        |
//! | … p50 (rank ⌈1.5⌉ = 2) | ≤ 10m                           | ≤ 10m (rank 1)  | ≤ 5m        |
//! | … p90 (rank ⌈2.7⌉ = 3) | ≤ 1d                            | ≤ 1d (rank 2)   | ≤ 5m        |
//! | resolution times       | 2 h (≤ 2h), 12 h (≤ 1d)         | 12 h            | 2 h         |
//! | … p50 / p90            | ≤ 2h (rank 1) / ≤ 1d (rank 2)   | ≤ 1d / ≤ 1d     | ≤ 2h / ≤ 2h |
//! | tags                   | crisis 1, returns 1             | returns 1       | crisis 1    |
//! | undeliverable          | delivery_uncertain 1            | —               | same        |
//! | rules                  | crisis 1, fallback 2 (u2, u5), out-of-office 1, returns 1 | fallback 1, out-of-office 1, returns 1 | crisis 1 |
//!
//! [`seeds`] holds the same by day, as the records the aggregator keeps; the hermetic test
//! checks that the core derives exactly them from the scripted conversations, the emulator
//! test seeds them in a table and runs the real `gatewayctl report`. Both compare the report
//! with `tests/golden/report.{txt,csv,json}`, and `docs/service-levels.md` shows the table
//! (checked here too). `UPDATE_GOLDEN=1` rewrites the golden files from the output.
#![allow(clippy::unwrap_used)]

use gateway_aws::DynamoDbStats;
use gateway_core::conversation::windows::{UndeliverableReason, UndeliverableReply};
use gateway_core::conversation::{Conversation, Responder};
use gateway_core::ports::{ConversationStore, StatsStore};
use gateway_core::routing::{Router, process};
use gateway_core::rules::RuleSet;
use gateway_core::stats::testing::InMemoryStats;
use gateway_core::stats::{self, Applied, DailyDelta, DailyRecord, RecordKey, Report, StatsDelta};
use gateway_core::testing::{
    InMemoryConversationStore, RecordingMediaQueue, RecordingReplyQueue, text_message,
};
use gateway_core::{Channel, NormalizedMessage};
use gateway_tests::sandbox::function_binary;
use gateway_tests::{fresh_stack, sdk};
use gatewayctl::report::{Format, render};
use std::path::PathBuf;

const RULES: &str = r#"
version: 1
calendars:
  cn-office:
    timezone: Asia/Shanghai
    weekly:
      mon: &day ["09:00-18:00"]
      tue: *day
      wed: *day
      thu: *day
      fri: *day
default_calendar: cn-office
service_levels:
  - id: wechat-care
    when: { channel: wechat }
    first_response_secs: 1800
    clock: business_hours
lifecycle:
  resolve_removes_tags: [crisis]
rules:
  - id: crisis
    when: { text_contains_any: [骗子, 投诉] }
    then:
      - escalate: { response_target_secs: 60 }
      - add_tags: [crisis]
      - assign: { team: escalations }
      - reply: { type: text, text: "非常抱歉，主管马上联系您。" }
  - id: returns
    when: { text_contains_any: [退货] }
    then:
      - add_tags: [returns]
      - assign: { team: care }
      - reply: { type: text, text: "退货请在订单页申请售后。" }
  - id: out-of-office
    when: { not: { within_hours: account } }
    once_per: day
    then:
      - assign: { team: care }
      - reply: { type: text, text: "现在是非工作时间，我们上班后回复您。" }
  - id: fallback
    description: no auto-reply; agents answer
    when: { kind: text }
    then: []
"#;

/// Unix ms of a time in Shanghai, `2026-03-02T10:00:00`.
fn at(local: &str) -> i64 {
    chrono::DateTime::parse_from_rfc3339(&format!("{local}+08:00"))
        .unwrap()
        .timestamp_millis()
}

fn day(d: &str) -> chrono::NaiveDate {
    d.parse().unwrap()
}

/// The scenario played through the router's core and the conversation's own transitions,
/// each change fed to the aggregator's core, as the stream would.
struct Script {
    rules: RuleSet,
    conversations: InMemoryConversationStore,
    stats: InMemoryStats,
    changes: u32,
}

impl Script {
    fn new() -> Self {
        Script {
            rules: RuleSet::from_yaml(RULES).unwrap(),
            conversations: InMemoryConversationStore::default(),
            stats: InMemoryStats::default(),
            changes: 0,
        }
    }

    async fn count(&mut self, delta: Option<StatsDelta>) {
        self.changes += 1;
        if let Some(delta) = delta {
            let id = format!("change-{}", self.changes);
            assert_eq!(
                self.stats.apply(&id, &delta, 0).await.unwrap(),
                Applied::Counted
            );
        }
    }

    /// A customer's message through the router: the message item and the conversation's
    /// change.
    async fn message(&mut self, customer: &str, text: &str, local: &str) {
        let m: NormalizedMessage = text_message("demo", customer, local, text, at(local));
        let before = self.conversations.load(&m.conversation_key).await.unwrap();
        let replies = RecordingReplyQueue::default();
        let router = Router {
            store: &self.conversations,
            replies: &replies,
            media: &RecordingMediaQueue::default(),
            rules: &self.rules,
            profile_refresh_ms: 7 * 86_400_000,
        };
        process(&router, &m).await.unwrap();
        let after = self.conversations.load(&m.conversation_key).await.unwrap();
        let tz = self.rules.timezone_for_account("demo");
        self.count(Some(stats::message_delta(&m, tz))).await;
        self.count(stats::conversation_delta(
            before.as_ref(),
            after.as_ref(),
            tz,
        ))
        .await;
    }

    /// A write of the conversation by someone else than the router (the reply sender, the
    /// SLA monitor, an agent's desk).
    async fn write(&mut self, customer: &str, change: impl FnOnce(&mut Conversation)) {
        let key = format!("wechat:demo:{customer}");
        let before = self.conversations.conversation(&key).unwrap();
        let mut after = before.clone();
        change(&mut after);
        after.version += 1;
        // The in-memory store has only the router's commit: it is given a message id it has
        // never seen, so that it takes the conversation (it keeps no message content).
        let unseen = text_message("demo", customer, &format!("w{}", self.changes), "", 0);
        self.conversations
            .commit_inbound(&unseen, Some(&before), &after)
            .await
            .unwrap();
        let tz = self.rules.timezone_for_account("demo");
        self.count(stats::conversation_delta(Some(&before), Some(&after), tz))
            .await;
    }

    async fn answer(&mut self, customer: &str, local: &str) {
        self.write(customer, |c| {
            c.record_outbound(at(local), Responder::Person);
        })
        .await;
    }

    async fn resolve(&mut self, customer: &str, local: &str) {
        let removes = self.rules.resolve_removes_tags().to_vec();
        self.write(customer, |c| {
            c.resolve(at(local), "agent:alice", &removes);
        })
        .await;
    }

    /// The records of `demo` on WeChat.
    fn records(&self) -> Vec<DailyRecord> {
        self.stats.records(Channel::WeChat, "demo")
    }
}

/// Plays the scenario.
async fn play() -> Script {
    let mut s = Script::new();
    s.message("u9", "你好", "2026-03-01T12:00:00").await;
    s.message("u1", "你们是骗子，我要投诉", "2026-03-02T10:00:00")
        .await;
    s.write("u1", |c| {
        c.record_undeliverable(UndeliverableReply {
            reply_id: "apology".into(),
            reason: UndeliverableReason::DeliveryUncertain,
            platform_code: None,
            at: at("2026-03-02T10:00:05"),
        })
    })
    .await;
    s.write("u1", |c| {
        assert_eq!(c.response_due_at, Some(at("2026-03-02T10:01:00")));
        c.sla_breached_at = c.response_due_at;
    })
    .await;
    s.answer("u1", "2026-03-02T10:03:00").await;
    s.message("u2", "我要退货", "2026-03-02T10:30:00").await;
    s.message("u2", "还在吗", "2026-03-02T10:35:00").await;
    s.answer("u2", "2026-03-02T10:40:00").await;
    s.resolve("u1", "2026-03-02T12:00:00").await;
    s.message("u3", "你好", "2026-03-02T21:30:00").await;
    s.answer("u3", "2026-03-03T09:10:00").await;
    s.resolve("u3", "2026-03-03T09:30:00").await;
    s.message("u5", "你好", "2026-03-03T14:00:00").await;
    s.message("u9", "你好", "2026-03-04T10:00:00").await;
    s
}

/// The records of the scenario, computed by hand, one per day and scope (the Weibo one
/// apart): what the aggregator keeps.
fn seeds() -> Vec<StatsDelta> {
    let record = |channel, d: &str, team: Option<&str>, counters: &[(&str, i64)]| StatsDelta {
        channel,
        account_id: "demo".into(),
        records: [(
            RecordKey {
                day: day(d),
                team: team.map(str::to_string),
            },
            DailyDelta::from_attributes(counters.iter().map(|(k, n)| (k.to_string(), *n))),
        )]
        .into(),
    };
    let wechat = Channel::WeChat;
    vec![
        record(
            wechat,
            "2026-03-01",
            Some("care"),
            &[
                ("inbound", 1),
                ("inbound_hour:12", 1),
                ("opened", 1),
                ("rule:out-of-office", 1),
            ],
        ),
        record(
            wechat,
            "2026-03-01",
            None,
            &[
                ("inbound", 1),
                ("inbound_hour:12", 1),
                ("opened", 1),
                ("rule:out-of-office", 1),
            ],
        ),
        record(
            wechat,
            "2026-03-02",
            None,
            &[
                ("inbound", 4),
                ("inbound_hour:10", 3),
                ("inbound_hour:21", 1),
                ("opened", 3),
                ("resolved", 1),
                ("agent:alice:resolved", 1),
                ("escalations", 1),
                ("sla_breaches", 1),
                ("first_response_met", 1),
                ("first_response_breached", 1),
                ("first_response_time:le_5m", 1),
                ("first_response_time:le_10m", 1),
                ("resolution_time:le_2h", 1),
                ("tag:crisis", 1),
                ("tag:returns", 1),
                ("undeliverable:delivery_uncertain", 1),
                ("rule:crisis", 1),
                ("rule:returns", 1),
                ("rule:fallback", 1),
                ("rule:out-of-office", 1),
            ],
        ),
        record(
            wechat,
            "2026-03-02",
            Some("care"),
            &[
                ("inbound", 3),
                ("inbound_hour:10", 2),
                ("inbound_hour:21", 1),
                ("opened", 2),
                ("first_response_met", 1),
                ("first_response_time:le_10m", 1),
                ("tag:returns", 1),
                ("rule:returns", 1),
                ("rule:fallback", 1),
                ("rule:out-of-office", 1),
            ],
        ),
        record(
            wechat,
            "2026-03-02",
            Some("escalations"),
            &[
                ("inbound", 1),
                ("inbound_hour:10", 1),
                ("opened", 1),
                ("resolved", 1),
                ("agent:alice:resolved", 1),
                ("escalations", 1),
                ("sla_breaches", 1),
                ("first_response_breached", 1),
                ("first_response_time:le_5m", 1),
                ("resolution_time:le_2h", 1),
                ("tag:crisis", 1),
                ("undeliverable:delivery_uncertain", 1),
                ("rule:crisis", 1),
            ],
        ),
        record(
            wechat,
            "2026-03-03",
            None,
            &[
                ("inbound", 1),
                ("inbound_hour:14", 1),
                ("opened", 1),
                ("resolved", 1),
                ("agent:alice:resolved", 1),
                ("first_response_met", 1),
                ("first_response_time:le_1d", 1),
                ("resolution_time:le_1d", 1),
                ("rule:fallback", 1),
            ],
        ),
        record(
            wechat,
            "2026-03-03",
            Some("care"),
            &[
                ("resolved", 1),
                ("agent:alice:resolved", 1),
                ("first_response_met", 1),
                ("first_response_time:le_1d", 1),
                ("resolution_time:le_1d", 1),
            ],
        ),
        record(
            wechat,
            "2026-03-04",
            Some("care"),
            &[("inbound", 1), ("inbound_hour:10", 1), ("rule:fallback", 1)],
        ),
        record(
            wechat,
            "2026-03-04",
            None,
            &[("inbound", 1), ("inbound_hour:10", 1), ("rule:fallback", 1)],
        ),
        record(
            Channel::Weibo,
            "2026-03-02",
            None,
            &[("inbound", 7), ("opened", 2)],
        ),
    ]
}

const FROM: &str = "2026-03-02";
const TO: &str = "2026-03-03";

fn golden(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("golden")
        .join(name)
}

/// Compares `actual` with a golden file (or rewrites it with `UPDATE_GOLDEN=1`).
#[track_caller]
fn assert_golden(name: &str, actual: &str) {
    let path = golden(name);
    if std::env::var_os("UPDATE_GOLDEN").is_some() {
        std::fs::write(&path, actual).unwrap();
    }
    let expected = std::fs::read_to_string(&path).unwrap();
    assert!(
        expected == actual,
        "{} differs (UPDATE_GOLDEN=1 rewrites it):\n--- expected\n{expected}\n--- actual\n{actual}",
        path.display()
    );
}

const FORMATS: [(Format, &str, &str); 3] = [
    (Format::Table, "table", "report.txt"),
    (Format::Csv, "csv", "report.csv"),
    (Format::Json, "json", "report.json"),
];

#[tokio::test]
async fn the_core_derives_the_hand_computed_records_from_the_scripted_conversations() {
    let script = play().await;
    // The records kept, account's before teams' each day, equal the hand-computed ones.
    let mut expected: Vec<DailyRecord> = seeds()
        .into_iter()
        .filter(|d| d.channel == Channel::WeChat)
        .flat_map(|d| d.records)
        .map(|(key, counts)| DailyRecord { key, counts })
        .collect();
    expected.sort_by(|a, b| a.key.cmp(&b.key));
    let actual = script.records();
    for (a, e) in actual.iter().zip(&expected) {
        assert_eq!(a, e, "record of {} {:?}", e.key.day, e.key.team);
    }
    assert_eq!(actual.len(), expected.len());

    let report = Report::build("demo", &[Channel::WeChat], day(FROM), day(TO), &actual);
    let total = &report.total;
    assert_eq!((total.inbound, total.opened, total.resolved), (5, 4, 2));
    assert_eq!((total.escalations, total.sla_breaches), (1, 1));
    assert_eq!(
        (total.first_responses_met, total.first_responses_breached),
        (2, 1)
    );
    assert_eq!(total.sla_met_percent, Some(66.7));
    let name = |b: Option<stats::Bucket>| b.map(|b| b.name());
    assert_eq!(name(total.first_response_time.p50), Some("le_10m"));
    assert_eq!(name(total.first_response_time.p90), Some("le_1d"));
    assert_eq!(name(total.resolution_time.p50), Some("le_2h"));
    assert_eq!(name(total.resolution_time.p90), Some("le_1d"));
    assert_eq!(total.rules["fallback"], 2);
    assert_eq!(total.undeliverable["delivery_uncertain"], 1);
    assert_eq!(report.teams["care"].sla_met_percent, Some(100.0));
    assert_eq!(report.teams["escalations"].sla_met_percent, Some(0.0));
    for (format, _, file) in FORMATS {
        assert_golden(file, &render(&report, format));
    }
}

#[test]
fn the_docs_show_the_real_report() {
    let docs = std::fs::read_to_string(
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../docs/service-levels.md"),
    )
    .unwrap();
    let command =
        format!("gatewayctl report --account demo --from {FROM} --to {TO} --channel wechat");
    let start = docs
        .find(&command)
        .unwrap_or_else(|| panic!("docs/service-levels.md shows `{command}`"));
    let block = docs[start..]
        .split("```text\n")
        .nth(1)
        .and_then(|rest| rest.split("```").next())
        .expect("a text block after the command");
    assert_eq!(
        block,
        std::fs::read_to_string(golden("report.txt")).unwrap()
    );
}

#[tokio::test]
#[ignore = "needs the local AWS emulator (make test)"]
async fn the_report_of_records_in_the_emulator_is_the_golden_one_and_a_change_counts_once() {
    let sdk = sdk().await;
    let stack = fresh_stack(&sdk).await;
    let stats = DynamoDbStats::new(aws_sdk_dynamodb::Client::new(&sdk), &stack.table_name);
    let now = 1_772_416_800_000;
    for (i, delta) in seeds().iter().enumerate() {
        let id = format!("seed-{i}");
        assert_eq!(
            stats.apply(&id, delta, now).await.unwrap(),
            Applied::Counted
        );
        // The stream delivers it again: the marker refuses it, nothing is added twice.
        assert_eq!(
            stats.apply(&id, delta, now).await.unwrap(),
            Applied::AlreadyCounted,
            "{id}"
        );
    }
    let records = stats
        .days(Channel::WeChat, "demo", day(FROM), day(TO))
        .await
        .unwrap();
    assert_eq!(
        records.len(),
        5,
        "two days: the account's and its teams' records"
    );
    assert_eq!(records[0].counts.get(stats::counter::INBOUND), 4);

    for (_, format, file) in FORMATS {
        let out = std::process::Command::new(function_binary("gatewayctl"))
            .args(["report", "--account", "demo", "--from", FROM, "--to", TO])
            .args(["--channel", "wechat", "--format", format])
            .args(["--table", &stack.table_name])
            .args(["--endpoint", &gateway_tests::endpoint()])
            .env("AWS_ACCESS_KEY_ID", "test")
            .env("AWS_SECRET_ACCESS_KEY", "test")
            .env("AWS_REGION", "us-east-1")
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            out.status.success(),
            "gatewayctl report --format {format}: {stderr}"
        );
        assert_golden(file, &String::from_utf8(out.stdout).unwrap());
    }

    // Without --channel, the account's records on both channels are summed.
    let out = std::process::Command::new(function_binary("gatewayctl"))
        .args(["report", "--account", "demo", "--from", FROM, "--to", TO])
        .args(["--format", "json", "--table", &stack.table_name])
        .args(["--endpoint", &gateway_tests::endpoint()])
        .env("AWS_ACCESS_KEY_ID", "test")
        .env("AWS_SECRET_ACCESS_KEY", "test")
        .env("AWS_REGION", "us-east-1")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let both: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(both["channels"], serde_json::json!(["wechat", "weibo"]));
    assert_eq!(both["total"]["inbound"], 5 + 7);
    assert_eq!(both["total"]["opened"], 4 + 2);
}
