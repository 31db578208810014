//! Listening end to end: `weibo-poller` (running under `cargo lambda watch`, invoked through
//! its invoke URL with a scheduled event, as its EventBridge schedule would) reads the platform
//! stand-ins' timelines (items seeded through `POST /admin/weibo/timeline`), queues the items
//! on the inbound queue, `gatewayctl::local::pump` hands them to `message-router`, and the
//! table is read. The local accounts document (`config/accounts.local.json`) has `listening` on
//! the account `brand` with 10 items a page.
//!
//! The running functions share the queue, the table and the stand-ins, so these tests take the
//! stack lock, reset the stand-ins, drain the queue and delete `brand`'s cursors first. Ids and
//! users are unique per run. "A minute later" is the cursors' `polled_at_ms` moved back a
//! minute.
#![allow(clippy::unwrap_used)]

use aws_sdk_dynamodb::types::AttributeValue;
use gateway_aws::DynamoDbRulesStore;
use gateway_aws::dynamodb::poll_cursors::{poll_pk, read_cursor};
use gateway_core::account::Timeline;
use gateway_core::conversation::Conversation;
use gateway_core::listening::Cursor;
use gateway_core::listening::testing::{comment, status};
use gateway_core::ports::ConversationStore;
use gateway_tests::{RUNNING_STACK_LOCK, RunningStack, accounts, sdk, unique_digits};
use gatewayctl::send;
use gatewayctl::stub::StubAdmin;
use serde_json::{Value, json};
use std::collections::HashMap;
use std::time::Duration;

const BRAND: u64 = 1_902_538_057;
type Item = HashMap<String, AttributeValue>;

struct Ctx {
    run: RunningStack,
    sqs: aws_sdk_sqs::Client,
    ddb: aws_sdk_dynamodb::Client,
    http: reqwest::Client,
    stub: StubAdmin,
    /// Run-unique base of the ids of this test's items.
    base: u64,
}

async fn setup() -> Ctx {
    let run = RunningStack::from_env();
    let sdk = sdk().await;
    let ctx = Ctx {
        sqs: aws_sdk_sqs::Client::new(&sdk),
        ddb: aws_sdk_dynamodb::Client::new(&sdk),
        http: gatewayctl::http_client(),
        stub: gateway_tests::platforms::stub(),
        run,
        base: unique_id() * 1000,
    };
    assert!(
        accounts().weibo["brand"].listening.is_some(),
        "config/accounts.local.json: brand listens"
    );
    ctx.stub.reset().await.unwrap();
    gateway_tests::drain_messages(&ctx.sqs, &ctx.run.stack.queue_url).await;
    for timeline in Timeline::ALL {
        ctx.ddb
            .delete_item()
            .table_name(&ctx.run.stack.table_name)
            .key("PK", AttributeValue::S(poll_pk("brand")))
            .key("SK", AttributeValue::S(timeline.as_str().into()))
            .send()
            .await
            .unwrap();
    }
    ctx
}

/// A run-unique number of at most 15 digits (ids stay far below `u64::MAX`).
fn unique_id() -> u64 {
    unique_digits()
        .chars()
        .take(15)
        .collect::<String>()
        .parse()
        .unwrap()
}

impl Ctx {
    /// The poller's run, as its schedule invokes it; returns its summary.
    async fn poll(&self) -> Value {
        let event = json!({
            "version": "0", "id": format!("test-{}", unique_digits()),
            "detail-type": "Scheduled Event", "source": "aws.events",
            "account": "000000000000", "time": "", "region": "us-east-1",
            "resources": ["local:schedule/weibo-poller"], "detail": {}
        });
        let response = self
            .http
            .post(self.run.invoke_url("weibo-poller"))
            .json(&event)
            .send()
            .await
            .unwrap();
        let status = response.status().as_u16();
        let body: Value = response.json().await.unwrap();
        assert!(
            status == 200 && body.get("timelines").is_some(),
            "weibo-poller answered {status}: {body}"
        );
        body
    }

    /// Hands the inbound queue to the router; returns the records delivered.
    async fn route(&self) -> usize {
        let stats = gatewayctl::local::pump(
            &self.sqs,
            &self.http,
            &self.run.stack.queue_url,
            &self.run.invoke_url("message-router"),
        )
        .await
        .unwrap();
        assert_eq!(stats.failed, 0, "{stats:?}");
        stats.delivered
    }

    async fn seed(&self, timeline: Timeline, items: Vec<Value>) {
        self.stub
            .timeline_items(timeline.as_str(), items)
            .await
            .unwrap();
    }

    /// The messages stored in `brand`'s conversation with `fan`, as JSON, in thread order.
    async fn thread(&self, fan: u64) -> Vec<Value> {
        let items = self
            .ddb
            .query()
            .table_name(&self.run.stack.table_name)
            .key_condition_expression("PK = :pk AND begins_with(SK, :msg)")
            .expression_attribute_values(
                ":pk",
                AttributeValue::S(format!("CONV#weibo:brand:{fan}")),
            )
            .expression_attribute_values(":msg", AttributeValue::S("MSG#".into()))
            .consistent_read(true)
            .send()
            .await
            .unwrap()
            .items()
            .to_vec();
        items
            .into_iter()
            .map(|i| {
                let v: Value = serde_dynamo::from_item(i).unwrap();
                v["message"].clone()
            })
            .collect()
    }

    async fn conversation(&self, fan: u64) -> Conversation {
        gateway_aws::DynamoDbConversationStore::new(
            self.ddb.clone(),
            &self.run.stack.table_name,
            None,
        )
        .load(&format!("weibo:brand:{fan}"))
        .await
        .unwrap()
        .expect("conversation stored")
    }

    /// `brand`'s cursor items, by timeline.
    async fn cursor_items(&self) -> HashMap<String, Item> {
        self.ddb
            .query()
            .table_name(&self.run.stack.table_name)
            .key_condition_expression("PK = :pk")
            .expression_attribute_values(":pk", AttributeValue::S(poll_pk("brand")))
            .consistent_read(true)
            .send()
            .await
            .unwrap()
            .items()
            .iter()
            .map(|i| (i["SK"].as_s().unwrap().clone(), i.clone()))
            .collect()
    }

    async fn cursor(&self, timeline: Timeline) -> Cursor {
        read_cursor(&self.cursor_items().await[timeline.as_str()]).unwrap()
    }

    /// Sets `name` on every cursor item of `brand`.
    async fn set_on_cursors(&self, name: &str, value: i64) {
        for timeline in self.cursor_items().await.keys() {
            self.ddb
                .update_item()
                .table_name(&self.run.stack.table_name)
                .key("PK", AttributeValue::S(poll_pk("brand")))
                .key("SK", AttributeValue::S(timeline.clone()))
                .update_expression("SET #n = :v")
                .expression_attribute_names("#n", name)
                .expression_attribute_values(":v", AttributeValue::N(value.to_string()))
                .send()
                .await
                .unwrap();
        }
    }

    /// "A minute later": every cursor's last poll moved back past its interval.
    async fn a_minute_passes(&self) {
        self.set_on_cursors("polled_at_ms", send::now_secs() * 1000 - 61_000)
            .await;
    }

    async fn timeline_reads(&self) -> Vec<Value> {
        self.stub.timeline_requests().await.unwrap()
    }

    fn ids(&self, range: std::ops::RangeInclusive<u64>) -> impl Iterator<Item = u64> {
        let base = self.base;
        range.map(move |i| base + i)
    }

    fn post(&self) -> u64 {
        self.base
    }
}

fn texts(thread: &[Value]) -> Vec<String> {
    thread
        .iter()
        .map(|m| {
            m["content"]["text"]
                .as_str()
                .unwrap_or_default()
                .to_string()
        })
        .collect()
}

#[tokio::test]
#[ignore = "needs the running functions (make test)"]
async fn comments_arriving_across_two_polls_are_each_stored_once_in_the_writers_conversation() {
    let _guard = RUNNING_STACK_LOCK.lock().await;
    let ctx = setup().await;
    let fan = unique_id();
    let post = ctx.post();
    let comments = |range| -> Vec<Value> {
        ctx.ids(range)
            .map(|id| comment(id, fan, &format!("评论 {}", id - ctx.base), post, BRAND))
            .collect()
    };
    ctx.seed(Timeline::CommentsToMe, comments(1..=3)).await;
    // The brand's own answer under its post is not a customer's message.
    ctx.seed(
        Timeline::CommentsToMe,
        vec![comment(ctx.base + 4, BRAND, "感谢反馈", post, BRAND)],
    )
    .await;

    let summary = ctx.poll().await;
    assert_eq!(summary["queued"], 3, "{summary}");
    assert_eq!(ctx.route().await, 3);
    ctx.seed(Timeline::CommentsToMe, comments(5..=6)).await;
    // Within the interval: nothing read.
    let summary = ctx.poll().await;
    assert_eq!(summary["queued"], 0, "{summary}");
    ctx.a_minute_passes().await;
    let summary = ctx.poll().await;
    assert_eq!(summary["queued"], 2, "{summary}");
    assert_eq!(ctx.route().await, 2);

    let thread = ctx.thread(fan).await;
    assert_eq!(
        texts(&thread),
        ["评论 1", "评论 2", "评论 3", "评论 5", "评论 6"]
    );
    let first = &thread[0];
    assert_eq!(first["content"]["kind"], "comment");
    assert_eq!(first["content"]["post"]["id"], post.to_string());
    assert_eq!(first["sender_id"], fan.to_string());
    assert_eq!(first["recipient_id"], BRAND.to_string());
    assert_eq!(
        first["dedupe_key"],
        format!("mention:comment:{}", ctx.base + 1)
    );
    // The second read asked only for what is newer than the cursor.
    let reads: Vec<Value> = ctx
        .timeline_reads()
        .await
        .into_iter()
        .filter(|r| r["timeline"] == "comments_to_me")
        .collect();
    assert_eq!(reads.len(), 2, "{reads:?}");
    assert_eq!(reads[1]["since_id"], ctx.base + 4);
    assert_eq!(reads[1]["access_token"], "local-demo-access-token");
    assert_eq!(
        ctx.cursor(Timeline::CommentsToMe).await.since_id,
        ctx.base + 6
    );
}

#[tokio::test]
#[ignore = "needs the running functions (make test)"]
async fn a_crash_between_queueing_and_saving_the_cursor_stores_nothing_twice() {
    let _guard = RUNNING_STACK_LOCK.lock().await;
    let ctx = setup().await;
    let fan = unique_id();
    let post = ctx.post();
    let comments = |range| -> Vec<Value> {
        ctx.ids(range)
            .map(|id| comment(id, fan, &format!("c{}", id - ctx.base), post, BRAND))
            .collect()
    };
    ctx.seed(Timeline::CommentsToMe, comments(1..=2)).await;
    ctx.poll().await;
    ctx.route().await;
    ctx.seed(Timeline::CommentsToMe, comments(3..=5)).await;
    ctx.a_minute_passes().await;
    let before = ctx.cursor_items().await;

    // The run queues the page and saves the cursor...
    assert_eq!(ctx.poll().await["queued"], 3);
    assert_eq!(ctx.route().await, 3);
    // ... but say it died before the save: the cursor items as they were before the run.
    for item in before.values() {
        ctx.ddb
            .put_item()
            .table_name(&ctx.run.stack.table_name)
            .set_item(Some(item.clone()))
            .send()
            .await
            .unwrap();
    }
    assert_eq!(
        ctx.cursor(Timeline::CommentsToMe).await.since_id,
        ctx.base + 2
    );
    // The next run reads the same page again and queues it again...
    assert_eq!(ctx.poll().await["queued"], 3);
    ctx.route().await;
    let reads: Vec<Value> = ctx
        .timeline_reads()
        .await
        .into_iter()
        .filter(|r| r["timeline"] == "comments_to_me")
        .collect();
    assert_eq!(reads.len(), 3);
    assert_eq!(reads[2]["since_id"], reads[1]["since_id"], "the same page");
    // ... and every comment is stored once.
    assert_eq!(
        texts(&ctx.thread(fan).await),
        ["c1", "c2", "c3", "c4", "c5"]
    );
    assert_eq!(
        ctx.cursor(Timeline::CommentsToMe).await.since_id,
        ctx.base + 5
    );
}

#[tokio::test]
#[ignore = "needs the running functions (make test)"]
async fn a_burst_larger_than_a_page_is_read_completely_by_paging_back() {
    let _guard = RUNNING_STACK_LOCK.lock().await;
    let ctx = setup().await;
    let fan = unique_id();
    let post = ctx.post();
    ctx.seed(
        Timeline::CommentsToMe,
        vec![comment(ctx.base + 1, fan, "first", post, BRAND)],
    )
    .await;
    ctx.poll().await;
    ctx.route().await;
    // 25 comments at once, 10 a page (the local account's `count`).
    let burst: Vec<Value> = ctx
        .ids(2..=26)
        .map(|id| comment(id, fan, &format!("b{:02}", id - ctx.base), post, BRAND))
        .collect();
    ctx.seed(Timeline::CommentsToMe, burst).await;
    ctx.a_minute_passes().await;
    let summary = ctx.poll().await;
    assert_eq!(summary["queued"], 25, "{summary}");
    assert_eq!(ctx.route().await, 25);

    let mut stored = texts(&ctx.thread(fan).await);
    stored.sort();
    let mut want: Vec<String> = (2..=26).map(|i| format!("b{i:02}")).collect();
    want.push("first".into());
    want.sort();
    assert_eq!(stored, want, "every comment, each once");
    let pages: Vec<(u64, u64)> = ctx
        .timeline_reads()
        .await
        .iter()
        .filter(|r| r["timeline"] == "comments_to_me")
        .skip(1)
        .map(|r| {
            (
                r["since_id"].as_u64().unwrap(),
                r["max_id"].as_u64().unwrap(),
            )
        })
        .collect();
    let b = ctx.base;
    assert_eq!(pages, [(b + 1, 0), (b + 1, b + 16), (b + 1, b + 6)]);
    let cursor = ctx.cursor(Timeline::CommentsToMe).await;
    assert_eq!((cursor.since_id, cursor.burst), (b + 26, None));
}

#[tokio::test]
#[ignore = "needs the running functions (make test)"]
async fn a_pushed_and_a_polled_copy_of_one_mention_are_one_message() {
    let _guard = RUNNING_STACK_LOCK.lock().await;
    let ctx = setup().await;
    let fan = unique_id();
    let comment_id = ctx.base + 1;
    let status_id = ctx.base + 2;
    // The push of both mentions (fan service 被@消息), signed, through the webhook.
    for (subtype, id, text) in [
        ("comment", comment_id, "@品牌客服 订单在哪"),
        ("status", status_id, "@品牌客服 客服在吗"),
    ] {
        let body = json!({
            "type": "mention", "receiver_id": BRAND, "sender_id": fan,
            "created_at": "Wed Jun 01 00:50:25 +0800 2011", "text": text,
            "data": {"subtype": subtype, "key": id.to_string()}
        })
        .to_string();
        let request =
            send::weibo_push(&accounts(), "brand", &body, send::now_secs() * 1000).unwrap();
        let url = ctx.run.webhook_url("weibo-webhook", "/weibo/brand");
        let (code, _) = send::send(&ctx.http, &url, &request).await.unwrap();
        assert_eq!(code, 200);
    }
    assert_eq!(ctx.route().await, 2);
    // The same mentions polled (the comment from both comment timelines).
    let polled = comment(comment_id, fan, "@品牌客服 订单在哪", ctx.post(), BRAND);
    ctx.seed(Timeline::CommentsMentions, vec![polled.clone()])
        .await;
    ctx.seed(Timeline::CommentsToMe, vec![polled]).await;
    ctx.seed(
        Timeline::StatusesMentions,
        vec![status(status_id, fan, "@品牌客服 客服在吗")],
    )
    .await;
    let summary = ctx.poll().await;
    assert_eq!(summary["queued"], 3, "{summary}");
    ctx.route().await;

    let thread = ctx.thread(fan).await;
    assert_eq!(thread.len(), 2, "one message per mention: {thread:?}");
    assert_eq!(ctx.conversation(fan).await.inbound_count, 2);
}

#[tokio::test]
#[ignore = "needs the running functions (make test)"]
async fn a_crisis_keyword_in_a_public_comment_escalates_like_a_private_message() {
    let _guard = RUNNING_STACK_LOCK.lock().await;
    let ctx = setup().await;
    let rules = DynamoDbRulesStore::new(ctx.ddb.clone(), &ctx.run.stack.table_name);
    let previous = rules.get().await.unwrap();
    rules
        .push(
            r#"version: 1
rules:
  - id: crisis
    when: { text_contains_any: ["投诉"] }
    then: [ escalate, { add_tags: [crisis] } ]
    stop: false
  - id: public
    when: { public: true }
    then: [ { add_tags: [public] } ]
    stop: false
"#,
            send::now_secs() * 1000,
        )
        .await
        .unwrap()
        .unwrap();
    // The functions re-read the rules after RULES_CACHE_SECS (1 s locally).
    tokio::time::sleep(Duration::from_millis(1_200)).await;

    let (public_fan, private_fan) = (unique_id(), unique_id() + 1);
    ctx.seed(
        Timeline::CommentsToMe,
        vec![comment(
            ctx.base + 1,
            public_fan,
            "再不退款我就投诉",
            ctx.post(),
            BRAND,
        )],
    )
    .await;
    ctx.poll().await;
    let body = json!({
        "type": "text", "receiver_id": BRAND, "sender_id": private_fan,
        "created_at": "Wed Jun 01 00:50:25 +0800 2011", "text": "再不退款我就投诉", "data": {}
    })
    .to_string();
    let request = send::weibo_push(&accounts(), "brand", &body, send::now_secs() * 1000).unwrap();
    let url = ctx.run.webhook_url("weibo-webhook", "/weibo/brand");
    assert_eq!(send::send(&ctx.http, &url, &request).await.unwrap().0, 200);
    assert_eq!(ctx.route().await, 2);

    let public = ctx.conversation(public_fan).await;
    let private = ctx.conversation(private_fan).await;
    for (what, c) in [("public", &public), ("private", &private)] {
        assert!(c.escalated, "{what}: {c:?}");
        assert_eq!(
            c.priority,
            gateway_core::conversation::Priority::Urgent,
            "{what}"
        );
        assert!(c.tags.contains("crisis"), "{what}");
    }
    assert!(public.tags.contains("public"));
    assert!(!private.tags.contains("public"));

    if let Some(p) = previous {
        rules
            .push(&p.document, send::now_secs() * 1000)
            .await
            .unwrap()
            .unwrap();
    }
}

#[tokio::test]
#[ignore = "needs the running functions (make test)"]
async fn a_rate_limit_backs_off_without_calls_and_then_resumes() {
    let _guard = RUNNING_STACK_LOCK.lock().await;
    let ctx = setup().await;
    let fan = unique_id();
    ctx.seed(
        Timeline::CommentsToMe,
        vec![comment(ctx.base + 1, fan, "一", ctx.post(), BRAND)],
    )
    .await;
    ctx.poll().await;
    ctx.route().await;
    ctx.seed(
        Timeline::CommentsToMe,
        vec![comment(ctx.base + 2, fan, "二", ctx.post(), BRAND)],
    )
    .await;
    ctx.a_minute_passes().await;

    // Every timeline answers 10023 (user requests out of rate limit).
    ctx.stub.fail("weibo_timeline", 10023, 3).await.unwrap();
    let reads_before = ctx.timeline_reads().await.len();
    let summary = ctx.poll().await;
    assert_eq!(summary["rate_limited"], 3, "{summary}");
    assert_eq!(ctx.timeline_reads().await.len(), reads_before + 3);
    let now_ms = send::now_secs() * 1000;
    for timeline in Timeline::ALL {
        let c = ctx.cursor(timeline).await;
        assert_eq!(c.backoff_level, 1, "{timeline}");
        assert!(
            c.backoff_until_ms > now_ms + 50_000 && c.backoff_until_ms <= now_ms + 61_000,
            "{timeline}: {c:?}"
        );
    }
    assert_eq!(
        ctx.cursor(Timeline::CommentsToMe).await.since_id,
        ctx.base + 1,
        "the cursor is kept"
    );

    // Within the backoff, even past the interval: no call.
    ctx.a_minute_passes().await;
    let summary = ctx.poll().await;
    assert_eq!(summary["queued"], 0, "{summary}");
    assert_eq!(ctx.timeline_reads().await.len(), reads_before + 3);

    // Once it is over, reading resumes where it stopped, and the backoff is cleared.
    ctx.set_on_cursors("backoff_until_ms", send::now_secs() * 1000 - 1)
        .await;
    let summary = ctx.poll().await;
    assert_eq!(
        (&summary["queued"], &summary["rate_limited"]),
        (&json!(1), &json!(0)),
        "{summary}"
    );
    assert_eq!(ctx.route().await, 1);
    assert_eq!(texts(&ctx.thread(fan).await), ["一", "二"]);
    let c = ctx.cursor(Timeline::CommentsToMe).await;
    assert_eq!(
        (c.since_id, c.backoff_level, c.backoff_until_ms),
        (ctx.base + 2, 0, 0)
    );
}

#[tokio::test]
#[ignore = "needs the running functions (make test)"]
async fn the_cursor_store_refuses_a_stale_save_and_the_batch_queue_splits_batches() {
    use gateway_aws::{DynamoDbPollCursors, SqsMessagePublisher};
    use gateway_core::listening::{CursorStore, MessageBatchPublisher};
    let _guard = RUNNING_STACK_LOCK.lock().await;
    let sdk = sdk().await;
    let stack = gateway_tests::fresh_stack(&sdk).await;
    let cursors = DynamoDbPollCursors::new(aws_sdk_dynamodb::Client::new(&sdk), &stack.table_name);
    let t = Timeline::StatusesMentions;
    assert_eq!(cursors.load("brand", t).await.unwrap(), None);
    let first = Cursor {
        since_id: 10,
        version: 1,
        ..Cursor::default()
    };
    assert!(cursors.save("brand", t, &first, 0).await.unwrap());
    assert!(
        !cursors.save("brand", t, &first, 0).await.unwrap(),
        "exists already"
    );
    let ahead = Cursor {
        since_id: 20,
        version: 2,
        ..Cursor::default()
    };
    let behind = Cursor {
        since_id: 5,
        version: 2,
        ..Cursor::default()
    };
    assert!(cursors.save("brand", t, &ahead, 1).await.unwrap());
    assert!(
        !cursors.save("brand", t, &behind, 1).await.unwrap(),
        "stale version"
    );
    assert_eq!(cursors.load("brand", t).await.unwrap(), Some(ahead));

    // 23 messages in three SendMessageBatch calls, each deduplicated by its dedupe id.
    let sqs = aws_sdk_sqs::Client::new(&sdk);
    let publisher = SqsMessagePublisher::new(sqs.clone(), &stack.queue_url);
    let messages: Vec<_> = (0..23)
        .map(|i| {
            gateway_core::testing::text_message(
                "demo",
                &format!("u{}", i % 3),
                &format!("m{i}"),
                "hi",
                1,
            )
        })
        .collect();
    publisher.publish_all(&messages).await.unwrap();
    publisher.publish_all(&messages[..5]).await.unwrap();
    let queued = gateway_tests::drain_messages(&sqs, &stack.queue_url).await;
    assert_eq!(queued.len(), 23, "the repeated five deduplicated");
}
