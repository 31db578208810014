#![allow(clippy::unwrap_used)]

use super::*;
use gateway_core::account::{AccountsDocument, Timeline};
use gateway_core::listening::TimelineError;
use gateway_core::listening::testing::{
    FakeTimelines, InMemoryCursors, RecordingBatchPublisher, comment,
};
use gateway_core::testing::StaticAccounts;
use std::time::Duration;

const DOC: &str = r#"{"weibo":{"brand":{"app_key":"k","receiver_uid":"1902538057",
  "access_token":"T","listening":{"timelines":["comments_to_me"]}}}}"#;

struct World {
    timelines: Arc<FakeTimelines>,
    queue: Arc<RecordingBatchPublisher>,
    deps: PollerDeps,
}

fn world(doc: &str) -> World {
    let timelines = Arc::new(FakeTimelines::default());
    let queue = Arc::new(RecordingBatchPublisher::default());
    let accounts =
        AccountsDocument::from_json_for(doc, gateway_core::account::AccountsRole::Delivery)
            .unwrap();
    World {
        timelines: timelines.clone(),
        queue: queue.clone(),
        deps: PollerDeps {
            accounts: Arc::new(StaticAccounts(Arc::new(accounts))),
            source: timelines,
            cursors: Arc::new(InMemoryCursors::default()),
            queue,
            settings: Settings {
                max_pages: 5,
                page_budget_ms: 1_000,
            },
            now_ms: gateway_lambda::now_ms,
        },
    }
}

#[tokio::test]
async fn a_run_queues_the_new_comments_and_sums_up() {
    let w = world(DOC);
    w.timelines.add(
        Timeline::CommentsToMe,
        (1..=3).map(|i| comment(i, 2_000 + i, "在吗", 9, 1_902_538_057)),
    );
    let summary = handle(&w.deps, gateway_lambda::now_ms() + 30_000)
        .await
        .unwrap();
    assert_eq!(
        summary,
        json!({"timelines": 1, "queued": 3, "failed": 0, "rate_limited": 0})
    );
    assert_eq!(w.queue.all().len(), 3);
    assert!(w.queue.all().iter().all(|m| m.account_id == "brand"));
}

#[tokio::test]
async fn failures_and_rate_limits_are_counted() {
    let w = world(DOC);
    w.timelines.fail_next(TimelineError::RateLimited {
        code: 10022,
        message: "IP requests out of rate limit!".into(),
    });
    let summary = handle(&w.deps, gateway_lambda::now_ms() + 30_000)
        .await
        .unwrap();
    assert_eq!(summary["rate_limited"], 1);
    let w = world(DOC);
    w.timelines.fail_next(TimelineError::Failed {
        reason: "weibo answered HTTP 502".into(),
    });
    let summary = handle(&w.deps, gateway_lambda::now_ms() + 30_000)
        .await
        .unwrap();
    assert_eq!(summary["failed"], 1);
}

fn report(outcome: Outcome, queued: usize) -> TimelineReport {
    TimelineReport {
        account: "brand".into(),
        timeline: Timeline::CommentsMentions,
        queued,
        pages: 1,
        own: 0,
        unreadable: Vec::new(),
        outcome,
    }
}

fn parsed(lines: &[String]) -> Vec<Value> {
    lines
        .iter()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

#[test]
fn metrics_follow_the_contract() {
    // Items read: PolledItems by channel, account and timeline, and by channel.
    let lines = parsed(&metric_lines(
        &report(
            Outcome::Read {
                burst_unfinished: false,
            },
            4,
        ),
        1,
    ));
    assert_eq!(lines.len(), 1);
    let m = &lines[0];
    assert_eq!(m["PolledItems"], 4.0);
    assert_eq!(
        (
            m["Channel"].as_str(),
            m["Account"].as_str(),
            m["Timeline"].as_str()
        ),
        (Some("weibo"), Some("brand"), Some("comments_mentions"))
    );
    assert_eq!(
        m["_aws"]["CloudWatchMetrics"][0]["Namespace"],
        "ChannelGateway"
    );
    assert_eq!(
        m["_aws"]["CloudWatchMetrics"][0]["Dimensions"],
        json!([["Channel", "Account", "Timeline"], ["Channel"]])
    );
    // A failure: PollFailures by account and with no dimension (the alarm's).
    let lines = parsed(&metric_lines(
        &report(Outcome::Failed { reason: "x".into() }, 0),
        1,
    ));
    let f = lines
        .iter()
        .find(|l| l.get("PollFailures").is_some())
        .unwrap();
    assert_eq!(
        f["_aws"]["CloudWatchMetrics"][0]["Dimensions"],
        json!([["Account"], []])
    );
    assert_eq!(f["Account"], "brand");
    // A rate limit: PollRateLimited by account.
    let lines = parsed(&metric_lines(
        &report(
            Outcome::RateLimited {
                code: 10023,
                until_ms: 5,
            },
            0,
        ),
        1,
    ));
    let r = lines
        .iter()
        .find(|l| l.get("PollRateLimited").is_some())
        .unwrap();
    assert_eq!(
        r["_aws"]["CloudWatchMetrics"][0]["Dimensions"],
        json!([["Account"]])
    );
    // Not polled: nothing.
    assert!(metric_lines(&report(Outcome::NotDue, 0), 1).is_empty());
    assert!(metric_lines(&report(Outcome::BackingOff { until_ms: 9 }, 0), 1).is_empty());
}

#[test]
fn queue_and_stream_batches_are_refused_and_a_schedule_is_taken() {
    let schedule = json!({"version": "0", "id": "e", "detail-type": "Scheduled Event",
        "source": "aws.events", "time": "2026-12-06T14:00:00Z", "resources": [], "detail": {}});
    assert!(check_event(&schedule).is_ok());
    assert!(check_event(&json!({})).is_ok(), "a manual invocation");
    assert!(check_event(&json!({"Records": []})).is_err());
}

#[test]
fn the_deadline_is_the_runtimes_or_the_timeout_from_now() {
    let now = 1_800_000_000_000;
    let at = UNIX_EPOCH + Duration::from_millis(1_800_000_030_000);
    assert_eq!(deadline_ms(at, now), 1_800_000_030_000);
    assert_eq!(deadline_ms(UNIX_EPOCH, now), now + FUNCTION_TIMEOUT_MS);
}
