#![allow(clippy::unwrap_used)]

use super::items::{Context, Item, MAX_RAW_ITEM_BYTES, Page, normalize};
use super::poll::{Outcome, Poller, SCHEDULE_SLACK_MS, Settings, TimelineReport, advance};
use super::testing::{FakeTimelines, InMemoryCursors, RecordingBatchPublisher, comment, status};
use super::*;
use crate::account::{AccountsDocument, Timeline, WeiboAccount};
use crate::channel::weibo;
use crate::channel::{Limits, WebhookOutcome};
use crate::message::{Content, PostRef};
use crate::testing::StaticAccounts;
use serde_json::json;
use std::collections::BTreeSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

const BRAND: u64 = 1_902_538_057;
const FAN: u64 = 2_489_518_277;
const POST: u64 = 4_100_000_000_000_001;

fn ctx(timeline: Timeline) -> Context<'static> {
    Context {
        account_id: "brand",
        receiver_uid: BRAND,
        screen_name: Some("品牌"),
        timeline,
        received_at_ms: 1_700_000_000_000,
    }
}

fn message(item: Item) -> NormalizedMessage {
    match item {
        Item::Message(m) => *m,
        other => panic!("not a message: {other:?}"),
    }
}

#[test]
fn a_comment_on_a_post_joins_the_writers_conversation_with_its_post() {
    let mut item = comment(4_200_000_000_000_001, FAN, "快递三天没动", POST, BRAND);
    item["reply_comment"] = json!({"id": 4_200_000_000_000_000u64, "idstr": "4200000000000000"});
    let m = message(normalize(&ctx(Timeline::CommentsToMe), &item));
    assert_eq!(m.channel, crate::Channel::Weibo);
    assert_eq!(m.sender_id, FAN.to_string());
    assert_eq!(m.recipient_id, BRAND.to_string());
    assert_eq!(m.conversation_key, format!("weibo:brand:{FAN}"));
    assert_eq!(m.dedupe_key, "mention:comment:4200000000000001");
    assert_eq!(m.platform_message_id.as_deref(), Some("4200000000000001"));
    // Wed Jun 01 00:50:25 +0800 2011
    assert_eq!(m.platform_time, 1_306_860_625);
    assert_eq!(
        m.content,
        Content::Comment {
            comment_id: "4200000000000001".into(),
            text: "快递三天没动".into(),
            post: PostRef::new(
                POST.to_string(),
                "新品上市，欢迎评论",
                Some(BRAND.to_string())
            ),
            reply_to_comment_id: Some("4200000000000000".into()),
        }
    );
    assert!(m.content.is_public());
    assert_eq!(m.raw.format, crate::message::RawFormat::Json);
    assert_eq!(
        serde_json::from_str::<Value>(&m.raw.body).unwrap(),
        item,
        "raw is the item"
    );
}

#[test]
fn a_comment_on_a_post_that_ats_the_account_is_a_mention() {
    let item = comment(5, FAN, "@品牌 退款还没到", POST, BRAND);
    let m = message(normalize(&ctx(Timeline::CommentsToMe), &item));
    assert_eq!(
        m.content,
        Content::Mention {
            subtype: "comment".into(),
            target_id: Some("5".into()),
            text: "@品牌 退款还没到".into(),
            post: Some(PostRef::new(
                POST.to_string(),
                "新品上市，欢迎评论",
                Some(BRAND.to_string())
            )),
        }
    );
    // Another account whose name starts the same is not this one.
    let other = comment(6, FAN, "@品牌旗舰店 你好", POST, BRAND);
    let m = message(normalize(&ctx(Timeline::CommentsToMe), &other));
    assert_eq!(m.content.kind(), "comment");
    // The same comment read from comments/mentions is the same message.
    let from_mentions = message(normalize(&ctx(Timeline::CommentsMentions), &item));
    let from_to_me = message(normalize(&ctx(Timeline::CommentsToMe), &item));
    assert_eq!(from_mentions.dedupe_id(), from_to_me.dedupe_id());
    assert_eq!(from_mentions.content, from_to_me.content);
}

#[test]
fn a_plain_comment_read_from_both_comment_timelines_has_one_dedupe_id() {
    let item = comment(7, FAN, "多少钱", POST, BRAND);
    let a = message(normalize(&ctx(Timeline::CommentsToMe), &item));
    let b = message(normalize(&ctx(Timeline::CommentsMentions), &item));
    assert_eq!(a.dedupe_id(), b.dedupe_id());
}

#[test]
fn a_post_that_ats_the_account_is_a_status_mention_about_itself() {
    let item = status(POST + 9, FAN, "@品牌 客服在吗");
    let m = message(normalize(&ctx(Timeline::StatusesMentions), &item));
    assert_eq!(m.dedupe_key, format!("mention:status:{}", POST + 9));
    assert_eq!(
        m.content,
        Content::Mention {
            subtype: "status".into(),
            target_id: Some((POST + 9).to_string()),
            text: "@品牌 客服在吗".into(),
            post: Some(PostRef::new(
                (POST + 9).to_string(),
                "@品牌 客服在吗",
                Some(FAN.to_string())
            )),
        }
    );
}

#[test]
fn the_accounts_own_items_and_unreadable_ones_are_not_messages() {
    let own = comment(8, BRAND, "感谢反馈", POST, BRAND);
    assert_eq!(normalize(&ctx(Timeline::CommentsToMe), &own), Item::Own);
    let no_id = json!({"text": "x", "user": {"idstr": "1"}});
    assert_eq!(
        normalize(&ctx(Timeline::CommentsToMe), &no_id),
        Item::Unreadable {
            id: None,
            reason: "no id"
        }
    );
    let no_user = json!({"idstr": "9", "text": "x"});
    assert_eq!(
        normalize(&ctx(Timeline::StatusesMentions), &no_user),
        Item::Unreadable {
            id: Some(9),
            reason: "no user"
        }
    );
    // A time that cannot be read is the time it was read.
    let mut odd = status(10, FAN, "hi");
    odd["created_at"] = json!("yesterday");
    assert_eq!(
        message(normalize(&ctx(Timeline::StatusesMentions), &odd)).platform_time,
        1_700_000_000
    );
}

#[test]
fn a_huge_item_keeps_the_fields_read() {
    let mut item = comment(11, FAN, "hi", POST, BRAND);
    item["user"]["description"] = json!("x".repeat(MAX_RAW_ITEM_BYTES));
    let m = message(normalize(&ctx(Timeline::CommentsToMe), &item));
    assert!(m.raw.body.len() < 2_000, "{}", m.raw.body.len());
    let raw: Value = serde_json::from_str(&m.raw.body).unwrap();
    assert_eq!(raw["idstr"], "11");
    assert_eq!(raw["user"]["idstr"], FAN.to_string());
    assert_eq!(raw["status"]["idstr"], POST.to_string());
    assert_eq!(raw["truncated"], true);
}

#[test]
fn a_polled_mention_and_a_pushed_one_are_one_message() {
    // The push of the same @mention (a comment), signed and parsed by the webhook's code.
    let account = WeiboAccount {
        app_key: "k".into(),
        app_secret: crate::account::Secret::new("xyz123xyz"),
        receiver_uid: Some(BRAND.to_string()),
        access_token: None,
        format: crate::account::WeiboFormat::Json,
        listening: None,
    };
    for (timeline, item, subtype) in [
        (
            Timeline::CommentsMentions,
            comment(4_300_000_000_000_002, FAN, "@品牌 在吗", POST, BRAND),
            "comment",
        ),
        (
            Timeline::CommentsToMe,
            comment(4_300_000_000_000_003, FAN, "在吗", POST, BRAND),
            "comment",
        ),
        (
            Timeline::StatusesMentions,
            status(4_300_000_000_000_004, FAN, "@品牌 在吗"),
            "status",
        ),
    ] {
        let id = item["idstr"].as_str().unwrap().to_string();
        let body = json!({
            "type": "mention", "receiver_id": BRAND, "sender_id": FAN,
            "created_at": "Wed Jun 01 00:50:25 +0800 2011", "text": item["text"],
            "data": {"subtype": subtype, "key": id}
        })
        .to_string();
        let signed = weibo::simulate::push(&account, body, 1_700_000_000_000, "n");
        let pushed = match weibo::handle(&account, &signed.inbound("brand"), &Limits::default()) {
            Ok(WebhookOutcome::Message(m)) => *m,
            other => panic!("{other:?}"),
        };
        let polled = message(normalize(&ctx(timeline), &item));
        assert_eq!(pushed.dedupe_id(), polled.dedupe_id(), "{timeline}");
        assert_eq!(
            pushed.conversation_key, polled.conversation_key,
            "{timeline}"
        );
        assert_eq!(
            pushed.message_group_id(),
            polled.message_group_id(),
            "{timeline}"
        );
    }
}

#[test]
fn pages_read_their_list_and_compare_ids_as_integers() {
    let answer = json!({"comments": [
        comment(1000, FAN, "a", POST, BRAND),
        comment(999, FAN, "b", POST, BRAND),
        {"idstr": "bogus"}
    ]});
    let page = Page::read(Timeline::CommentsToMe, &answer).unwrap();
    // As strings "999" > "1000"; as ids 999 < 1000.
    assert_eq!((page.min_id, page.max_id), (Some(999), Some(1000)));
    assert_eq!(page.items.len(), 3);
    let err = Page::read(Timeline::StatusesMentions, &answer).unwrap_err();
    assert!(err.contains("`statuses`"), "{err}");
    let empty = Page::read(Timeline::StatusesMentions, &json!({"statuses": []})).unwrap();
    assert_eq!((empty.min_id, empty.max_id), (None, None));
}

#[test]
fn backoff_doubles_from_a_minute_to_an_hour() {
    let secs: Vec<i64> = (1..=8).map(backoff_secs).collect();
    assert_eq!(secs, [60, 120, 240, 480, 960, 1920, 3600, 3600]);
    assert_eq!(backoff_secs(u32::MAX), 3600);
    assert!(is_rate_limit_code(10022) && is_rate_limit_code(10023) && is_rate_limit_code(10024));
    assert!(!is_rate_limit_code(10001));
}

#[test]
fn advance_is_table_driven() {
    let page = |ids: &[u64]| Page {
        items: ids.iter().map(|i| status(*i, FAN, "x")).collect(),
        min_id: ids.iter().min().copied(),
        max_id: ids.iter().max().copied(),
    };
    let at = |since_id: u64, burst: Option<Burst>| Cursor {
        since_id,
        burst,
        ..Cursor::default()
    };
    let b = |top_id, next_max_id, pages| {
        Some(Burst {
            top_id,
            next_max_id,
            pages,
        })
    };
    for (what, cursor, p, want_since, want_burst) in [
        (
            "first poll: one page only",
            at(0, None),
            page(&[30, 20, 10]),
            30,
            None,
        ),
        ("first poll, nothing yet", at(0, None), page(&[]), 0, None),
        ("short page", at(5, None), page(&[30, 20]), 30, None),
        ("nothing new", at(30, None), page(&[]), 30, None),
        (
            "full page: a burst",
            at(5, None),
            page(&[30, 20, 10]),
            5,
            b(30, 9, 1),
        ),
        (
            "full page reaching the cursor",
            at(9, None),
            page(&[30, 20, 10]),
            30,
            None,
        ),
        (
            "burst goes on",
            at(5, b(30, 9, 1)),
            page(&[9, 8, 7]),
            5,
            b(30, 6, 2),
        ),
        (
            "burst ends on a short page",
            at(5, b(30, 9, 1)),
            page(&[9, 8]),
            30,
            None,
        ),
        (
            "burst ends on an empty page",
            at(5, b(30, 9, 2)),
            page(&[]),
            30,
            None,
        ),
        (
            "burst ends at the cursor",
            at(5, b(30, 9, 1)),
            page(&[8, 7, 6]),
            30,
            None,
        ),
    ] {
        let next = advance(&cursor, &p, 3, 77);
        assert_eq!(
            (next.since_id, next.burst),
            (want_since, want_burst),
            "{what}"
        );
        assert_eq!(next.polled_at_ms, 77, "{what}");
    }
}

// --- the use case, with fakes -------------------------------------------------------------

const DOC: &str = r#"{"weibo":{
  "brand":{"app_key":"k","app_secret":"s","receiver_uid":"1902538057","access_token":"T",
           "listening":{"count":3,"screen_name":"品牌"}},
  "quiet":{"app_key":"k","app_secret":"s","receiver_uid":"1","access_token":"T"},
  "biz":{"app_key":"k","app_secret":"s","receiver_uid":"2","access_token":"T",
         "listening":{"api":"biz","timelines":["statuses_mentions"],"every_secs":300}}
}}"#;

struct World {
    accounts: StaticAccounts,
    timelines: FakeTimelines,
    cursors: InMemoryCursors,
    queue: RecordingBatchPublisher,
    clock: Arc<AtomicI64>,
    max_pages: u32,
}

const T0: i64 = 1_800_000_000_000;

fn world() -> World {
    World {
        accounts: StaticAccounts(Arc::new(AccountsDocument::from_json(DOC).unwrap())),
        timelines: FakeTimelines::default(),
        cursors: InMemoryCursors::default(),
        queue: RecordingBatchPublisher::default(),
        clock: Arc::new(AtomicI64::new(T0)),
        max_pages: 5,
    }
}

impl World {
    async fn run(&self) -> Vec<TimelineReport> {
        let clock = self.clock.clone();
        let now = move || clock.load(Ordering::SeqCst);
        Poller {
            accounts: &self.accounts,
            source: &self.timelines,
            cursors: &self.cursors,
            queue: &self.queue,
            settings: Settings {
                max_pages: self.max_pages,
                page_budget_ms: 10_000,
            },
            now_ms: &now,
        }
        .run(self.clock.load(Ordering::SeqCst) + 50_000)
        .await
        .unwrap()
    }

    fn later(&self, ms: i64) {
        self.clock.fetch_add(ms, Ordering::SeqCst);
    }

    fn one(reports: &[TimelineReport], account: &str, timeline: Timeline) -> TimelineReport {
        reports
            .iter()
            .find(|r| r.account == account && r.timeline == timeline)
            .cloned()
            .unwrap()
    }

    fn to_me(&self, ids: std::ops::RangeInclusive<u64>) {
        self.timelines.add(
            Timeline::CommentsToMe,
            ids.map(|i| comment(i, FAN + i, &format!("comment {i}"), POST, BRAND)),
        );
    }

    fn queued_ids(&self) -> Vec<String> {
        self.queue
            .all()
            .iter()
            .filter(|m| m.content.kind() == "comment")
            .map(|m| m.platform_message_id.clone().unwrap())
            .collect()
    }
}

#[tokio::test]
async fn only_listening_accounts_and_their_timelines_are_polled_through_their_api() {
    let w = world();
    let reports = w.run().await;
    let polled: BTreeSet<(String, Timeline)> = reports
        .iter()
        .map(|r| (r.account.clone(), r.timeline))
        .collect();
    assert_eq!(polled.len(), 4, "{reports:?}");
    assert!(!polled.iter().any(|(a, _)| a == "quiet"));
    let requests = w.timelines.requests();
    assert!(requests.contains(&(
        Timeline::StatusesMentions,
        ListeningApi::Biz,
        PageQuery {
            since_id: 0,
            max_id: 0,
            count: 50
        }
    )));
    assert_eq!(
        requests
            .iter()
            .filter(|r| r.1 == ListeningApi::Standard)
            .count(),
        3
    );
}

#[tokio::test]
async fn the_first_poll_reads_the_newest_page_only_then_new_items_each_poll() {
    let w = world();
    w.to_me(1..=5);
    let r = World::one(&w.run().await, "brand", Timeline::CommentsToMe);
    assert_eq!((r.queued, r.pages), (3, 1));
    assert_eq!(w.queued_ids(), ["3", "4", "5"], "oldest first");
    assert_eq!(
        w.cursors
            .get("brand", Timeline::CommentsToMe)
            .unwrap()
            .since_id,
        5
    );
    // Not due again before every_secs.
    w.to_me(6..=7);
    w.later(30_000);
    let r = World::one(&w.run().await, "brand", Timeline::CommentsToMe);
    assert_eq!(r.outcome, Outcome::NotDue);
    // Due a minute later (the schedule's slack allowed), with only the new items.
    w.later(30_000 - SCHEDULE_SLACK_MS);
    let r = World::one(&w.run().await, "brand", Timeline::CommentsToMe);
    assert_eq!((r.queued, r.outcome.as_str()), (2, "read"));
    assert_eq!(w.queued_ids(), ["3", "4", "5", "6", "7"]);
    let c = w.cursors.get("brand", Timeline::CommentsToMe).unwrap();
    assert_eq!((c.since_id, c.burst), (7, None));
}

#[tokio::test]
async fn a_burst_larger_than_a_page_is_read_completely_by_paging_back() {
    let w = world();
    w.to_me(1..=1);
    w.run().await;
    w.to_me(2..=11);
    w.later(60_000);
    w.timelines.clear_requests();
    let r = World::one(&w.run().await, "brand", Timeline::CommentsToMe);
    assert_eq!((r.queued, r.pages), (10, 4), "{r:?}");
    let mut ids: Vec<u64> = w.queued_ids().iter().map(|s| s.parse().unwrap()).collect();
    ids.sort_unstable();
    assert_eq!(ids, (1..=11).collect::<Vec<_>>(), "each item once");
    let queries: Vec<(u64, u64)> = w
        .timelines
        .requests()
        .iter()
        .filter(|q| q.0 == Timeline::CommentsToMe)
        .map(|q| (q.2.since_id, q.2.max_id))
        .collect();
    assert_eq!(queries, [(1, 0), (1, 8), (1, 5), (1, 2)]);
    let c = w.cursors.get("brand", Timeline::CommentsToMe).unwrap();
    assert_eq!((c.since_id, c.burst), (11, None));
}

#[tokio::test]
async fn a_burst_beyond_the_page_limit_resumes_at_its_next_page_in_the_next_run() {
    let mut w = world();
    w.max_pages = 2;
    w.to_me(1..=1);
    w.run().await;
    w.to_me(2..=11);
    w.later(60_000);
    let r = World::one(&w.run().await, "brand", Timeline::CommentsToMe);
    assert_eq!(
        r.outcome,
        Outcome::Read {
            burst_unfinished: true
        }
    );
    let c = w.cursors.get("brand", Timeline::CommentsToMe).unwrap();
    assert_eq!(
        c.since_id, 1,
        "the committed cursor stays until the burst is read"
    );
    assert_eq!(
        c.burst,
        Some(Burst {
            top_id: 11,
            next_max_id: 5,
            pages: 2
        })
    );
    // New items meanwhile wait for the burst; the next run goes on below it at once (a burst
    // is due whatever the interval).
    w.to_me(12..=12);
    w.later(1_000);
    w.timelines.clear_requests();
    let r = World::one(&w.run().await, "brand", Timeline::CommentsToMe);
    assert_eq!(
        r.outcome,
        Outcome::Read {
            burst_unfinished: false
        }
    );
    let first = w
        .timelines
        .requests()
        .into_iter()
        .find(|q| q.0 == Timeline::CommentsToMe)
        .unwrap();
    assert_eq!((first.2.since_id, first.2.max_id), (1, 5));
    assert_eq!(
        w.cursors
            .get("brand", Timeline::CommentsToMe)
            .unwrap()
            .since_id,
        11
    );
    w.later(60_000);
    w.run().await;
    let mut ids: Vec<u64> = w.queued_ids().iter().map(|s| s.parse().unwrap()).collect();
    ids.sort_unstable();
    assert_eq!(
        ids,
        (1..=12).collect::<Vec<_>>(),
        "nothing lost, nothing twice"
    );
}

#[tokio::test]
async fn a_crash_between_queueing_and_saving_reads_that_page_again_and_loses_nothing() {
    let w = world();
    w.to_me(1..=2);
    w.run().await;
    w.to_me(3..=4);
    w.later(60_000);
    // The page is queued, then the cursor's save fails (the function dies there).
    *w.cursors.failing_saves.lock().unwrap() = 1;
    let r = World::one(&w.run().await, "brand", Timeline::CommentsToMe);
    assert!(matches!(r.outcome, Outcome::Failed { .. }), "{r:?}");
    assert_eq!(
        w.cursors
            .get("brand", Timeline::CommentsToMe)
            .unwrap()
            .since_id,
        2
    );
    let r = World::one(&w.run().await, "brand", Timeline::CommentsToMe);
    assert_eq!(r.queued, 2, "the same page again");
    // Queued twice with the same dedupe ids: the queue and the router store each once.
    let all = w.queue.all();
    let ids: Vec<String> = all.iter().map(|m| m.dedupe_id()).collect();
    let distinct: BTreeSet<&String> = ids.iter().collect();
    assert_eq!((ids.len(), distinct.len()), (6, 4));
    assert_eq!(
        w.cursors
            .get("brand", Timeline::CommentsToMe)
            .unwrap()
            .since_id,
        4
    );
}

#[tokio::test]
async fn a_queue_failure_leaves_the_cursor_and_the_next_run_retries() {
    let w = world();
    w.to_me(1..=2);
    *w.queue.failing.lock().unwrap() = 1;
    let reports = w.run().await;
    let r = World::one(&reports, "brand", Timeline::CommentsToMe);
    assert!(
        matches!(&r.outcome, Outcome::Failed { reason } if reason.contains("not queued")),
        "{r:?}"
    );
    assert_eq!(w.cursors.get("brand", Timeline::CommentsToMe), None);
    let r = World::one(&w.run().await, "brand", Timeline::CommentsToMe);
    assert_eq!(r.queued, 2);
}

#[tokio::test]
async fn a_platform_failure_keeps_the_cursor_and_the_next_run_retries() {
    let w = world();
    w.to_me(1..=2);
    w.run().await;
    let before = w.cursors.get("brand", Timeline::CommentsToMe).unwrap();
    w.to_me(3..=3);
    w.later(60_000);
    // The run's first call (biz's timeline is not due; brand's comments_to_me comes first).
    w.timelines.fail_next(TimelineError::Failed {
        reason: "weibo answered HTTP 502".into(),
    });
    let r = World::one(&w.run().await, "brand", Timeline::CommentsToMe);
    assert_eq!(
        r.outcome,
        Outcome::Failed {
            reason: "weibo answered HTTP 502".into()
        }
    );
    assert_eq!(
        w.cursors.get("brand", Timeline::CommentsToMe).unwrap(),
        before
    );
    // Not saved, so due again at the next run, a minute later.
    let r = World::one(&w.run().await, "brand", Timeline::CommentsToMe);
    assert_eq!((r.queued, r.outcome.as_str()), (1, "read"));
    assert_eq!(w.queued_ids(), ["1", "2", "3"]);
}

#[tokio::test]
async fn a_rate_limit_backs_off_makes_no_call_meanwhile_then_resumes() {
    let w = world();
    w.to_me(1..=2);
    w.run().await;
    w.to_me(3..=3);
    w.later(60_000);
    for _ in 0..4 {
        w.timelines.fail_next(TimelineError::RateLimited {
            code: 10023,
            message: "User requests out of rate limit!".into(),
        });
    }
    let reports = w.run().await;
    let limited: Vec<&TimelineReport> = reports
        .iter()
        .filter(|r| matches!(r.outcome, Outcome::RateLimited { .. }))
        .collect();
    assert_eq!(
        limited.len(),
        3,
        "every brand timeline this run: {reports:?}"
    );
    let c = w.cursors.get("brand", Timeline::CommentsToMe).unwrap();
    assert_eq!(c.since_id, 2, "the cursor is kept");
    assert_eq!(
        (c.backoff_level, c.backoff_until_ms),
        (1, T0 + 60_000 + 60_000)
    );
    // Within the backoff: no call at all.
    w.later(59_000);
    w.timelines.clear_requests();
    let r = World::one(&w.run().await, "brand", Timeline::CommentsToMe);
    assert!(matches!(r.outcome, Outcome::BackingOff { .. }), "{r:?}");
    assert!(
        !w.timelines
            .requests()
            .iter()
            .any(|q| q.0 == Timeline::CommentsToMe)
    );
    // After it: one more 10023 doubles the backoff.
    w.later(1_000);
    let r = World::one(&w.run().await, "brand", Timeline::CommentsToMe);
    assert_eq!(
        r.outcome,
        Outcome::RateLimited {
            code: 10023,
            until_ms: T0 + 120_000 + 120_000
        }
    );
    // Then it resumes where it was, and a read page ends the backoff.
    w.later(120_000);
    let r = World::one(&w.run().await, "brand", Timeline::CommentsToMe);
    assert_eq!((r.queued, r.outcome.as_str()), (1, "read"));
    let c = w.cursors.get("brand", Timeline::CommentsToMe).unwrap();
    assert_eq!((c.since_id, c.backoff_level, c.backoff_until_ms), (3, 0, 0));
}

#[tokio::test]
async fn an_overlapping_run_never_moves_a_cursor_backwards() {
    let w = world();
    w.to_me(1..=2);
    w.run().await;
    w.to_me(3..=4);
    w.later(60_000);
    // Another run read the cursor at the same version and saved first, further on.
    let stale = w.cursors.get("brand", Timeline::CommentsToMe).unwrap();
    let mut ahead = stale.clone();
    ahead.since_id = 4;
    ahead.version = stale.version + 1;
    let store = InMemoryCursors::default();
    store.put("brand", Timeline::CommentsToMe, Some(stale.clone()));
    assert!(
        store
            .save("brand", Timeline::CommentsToMe, &ahead, stale.version)
            .await
            .unwrap()
    );
    let mut behind = stale.clone();
    behind.version = stale.version + 1;
    assert!(
        !store
            .save("brand", Timeline::CommentsToMe, &behind, stale.version)
            .await
            .unwrap()
    );
    assert_eq!(
        store.get("brand", Timeline::CommentsToMe).unwrap().since_id,
        4
    );
    // In the use case: the loser stops at its first save.
    w.cursors
        .put("brand", Timeline::CommentsToMe, Some(stale.clone()));
    let winner = w.cursors.get("brand", Timeline::CommentsToMe).unwrap();
    let mut moved = winner.clone();
    moved.since_id = 4;
    moved.version = winner.version + 1;
    // Simulate the other run's save landing between this run's load and save: the fake store
    // is changed from inside the queue call.
    struct Racing<'a>(&'a InMemoryCursors, Cursor, &'a RecordingBatchPublisher);
    #[async_trait::async_trait]
    impl MessageBatchPublisher for Racing<'_> {
        async fn publish_all(
            &self,
            m: &[NormalizedMessage],
        ) -> Result<(), crate::ports::PortError> {
            self.0
                .put("brand", Timeline::CommentsToMe, Some(self.1.clone()));
            self.2.publish_all(m).await
        }
    }
    let racing = Racing(&w.cursors, moved, &w.queue);
    let clock = w.clock.clone();
    let now = move || clock.load(Ordering::SeqCst);
    let reports = Poller {
        accounts: &w.accounts,
        source: &w.timelines,
        cursors: &w.cursors,
        queue: &racing,
        settings: Settings {
            max_pages: 5,
            page_budget_ms: 0,
        },
        now_ms: &now,
    }
    .run(i64::MAX)
    .await
    .unwrap();
    let r = World::one(&reports, "brand", Timeline::CommentsToMe);
    assert_eq!(r.outcome, Outcome::Overtaken);
    assert_eq!(
        w.cursors
            .get("brand", Timeline::CommentsToMe)
            .unwrap()
            .since_id,
        4
    );
}

#[tokio::test]
async fn a_run_near_its_deadline_starts_no_page_and_the_oldest_polled_go_first() {
    let w = world();
    w.to_me(1..=1);
    let clock = w.clock.clone();
    let now = move || clock.load(Ordering::SeqCst);
    let poller = Poller {
        accounts: &w.accounts,
        source: &w.timelines,
        cursors: &w.cursors,
        queue: &w.queue,
        settings: Settings {
            max_pages: 5,
            page_budget_ms: 10_000,
        },
        now_ms: &now,
    };
    let reports = poller.run(T0 + 9_999).await.unwrap();
    assert!(
        reports.iter().all(|r| r.outcome == Outcome::OutOfTime),
        "{reports:?}"
    );
    assert!(w.timelines.requests().is_empty());
    // A timeline polled long ago is first in the next run.
    w.cursors.put(
        "brand",
        Timeline::StatusesMentions,
        Some(Cursor {
            since_id: 1,
            polled_at_ms: 1,
            version: 1,
            ..Cursor::default()
        }),
    );
    w.cursors.put(
        "brand",
        Timeline::CommentsToMe,
        Some(Cursor {
            since_id: 1,
            polled_at_ms: 5,
            version: 1,
            ..Cursor::default()
        }),
    );
    let reports = poller.run(T0 + 60_000).await.unwrap();
    let at = |t: Timeline| {
        reports
            .iter()
            .position(|r| r.account == "brand" && r.timeline == t)
            .unwrap()
    };
    assert!(
        at(Timeline::StatusesMentions) < at(Timeline::CommentsToMe),
        "{reports:?}"
    );
}

#[tokio::test]
async fn the_accounts_own_comments_are_skipped_and_counted() {
    let w = world();
    w.timelines.add(
        Timeline::CommentsToMe,
        [
            comment(1, BRAND, "感谢反馈", POST, BRAND),
            comment(2, FAN, "好", POST, BRAND),
        ],
    );
    let r = World::one(&w.run().await, "brand", Timeline::CommentsToMe);
    assert_eq!((r.queued, r.own), (1, 1));
    assert_eq!(
        w.cursors
            .get("brand", Timeline::CommentsToMe)
            .unwrap()
            .since_id,
        2
    );
}

#[tokio::test]
async fn an_unreadable_answer_fails_without_moving_the_cursor() {
    struct Odd;
    #[async_trait::async_trait]
    impl TimelineSource for Odd {
        async fn page(
            &self,
            _: &crate::account::Secret,
            _: ListeningApi,
            _: Timeline,
            _: PageQuery,
        ) -> Result<Value, TimelineError> {
            Ok(json!({"result": true}))
        }
    }
    let w = world();
    let clock = w.clock.clone();
    let now = move || clock.load(Ordering::SeqCst);
    let reports = Poller {
        accounts: &w.accounts,
        source: &Odd,
        cursors: &w.cursors,
        queue: &w.queue,
        settings: Settings {
            max_pages: 5,
            page_budget_ms: 0,
        },
        now_ms: &now,
    }
    .run(i64::MAX)
    .await
    .unwrap();
    assert!(
        reports.iter().all(
            |r| matches!(&r.outcome, Outcome::Failed { reason } if reason.contains("holds no"))
        ),
        "{reports:?}"
    );
    assert!(w.cursors.cursors.lock().unwrap().is_empty());
}
