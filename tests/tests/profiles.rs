//! Who the customer is, end to end: a customer's first message through the webhook and the
//! router (which queues the profile command with the message's media commands), the media
//! queue and `media-fetcher` (running under `cargo lambda watch`), which asks the platform
//! stand-ins' `user/info` or `users/show`, stores the profile on the conversation and puts a
//! profile notice on the inbound queue, and the router again, which runs the rules with
//! profile conditions (`docs/profiles.md`). `gatewayctl::local::pump` stands in for the Lambda
//! SQS event sources.
//!
//! The running functions share their queues and the stand-ins, so these tests take the stack
//! lock and drain the queues first. Platform ids are unique per run.
#![allow(clippy::unwrap_used)]

use aws_sdk_dynamodb::types::AttributeValue;
use gateway_core::channel::wechat::simulate::Envelope;
use gateway_core::conversation::{Conversation, Priority};
use gateway_core::message::Channel;
use gateway_core::profile::{ProfileRecords, StoreOutcome};
use gateway_tests::{RUNNING_STACK_LOCK, RunningStack, accounts, platforms, sdk, unique_digits};
use gatewayctl::local::PumpStats;
use gatewayctl::send;
use gatewayctl::stub::StubAdmin;
use serde_json::{Value, json};
use std::time::Duration;

struct Ctx {
    run: RunningStack,
    sqs: aws_sdk_sqs::Client,
    ddb: aws_sdk_dynamodb::Client,
    http: reqwest::Client,
    stub: StubAdmin,
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
    };
    platforms::reset_platforms(
        &ctx.stub,
        &ctx.ddb,
        &ctx.run.stack.table_name,
        accounts().wechat.keys(),
    )
    .await;
    let stack = &ctx.run.stack;
    platforms::drain_all(
        &ctx.sqs,
        &[
            &stack.queue_url,
            &stack.media_queue_url,
            &stack.media_dead_letter_queue_url,
        ],
    )
    .await;
    // The shipped rules (their opinion-leader rule), whatever an earlier test pushed.
    gateway_aws::DynamoDbRulesStore::new(ctx.ddb.clone(), &ctx.run.stack.table_name)
        .push(
            include_str!("../../config/rules.yaml"),
            send::now_secs() * 1000,
        )
        .await
        .unwrap()
        .unwrap();
    tokio::time::sleep(Duration::from_millis(1_200)).await; // past RULES_CACHE_SECS
    ctx
}

impl Ctx {
    /// A WeChat text from `openid` to the running webhook (account `secure-demo`, which has
    /// API credentials), then routed.
    async fn wechat(&self, openid: &str, text: &str) {
        let xml = send::wechat_text_xml(openid, text, &unique_digits(), send::now_secs());
        let request = send::wechat_push(
            &accounts(),
            "secure-demo",
            &xml,
            Envelope::Secure,
            send::now_secs(),
        )
        .unwrap();
        let url = self
            .run
            .webhook_url("wechat-webhook", "/wechat/secure-demo");
        let (status, body) = send::send(&self.http, &url, &request).await.unwrap();
        assert_eq!((status, body.as_str()), (200, "success"));
        let routed = self.route().await;
        assert_eq!((routed.delivered, routed.failed), (1, 0), "{routed:?}");
    }

    /// A Weibo private text from `uid` to the running webhook (account `brand`), then routed.
    async fn weibo(&self, uid: &str, text: &str) {
        let body = json!({
            "type": "text", "receiver_id": 1902538057u64, "sender_id": uid.parse::<u64>().unwrap(),
            "created_at": "Mon Jul 16 18:09:20 +0800 2012", "text": text, "data": {},
        })
        .to_string();
        let request =
            send::weibo_push(&accounts(), "brand", &body, send::now_secs() * 1000).unwrap();
        let url = self.run.webhook_url("weibo-webhook", "/weibo/brand");
        let (status, _) = send::send(&self.http, &url, &request).await.unwrap();
        assert_eq!(status, 200);
        let routed = self.route().await;
        assert_eq!((routed.delivered, routed.failed), (1, 0), "{routed:?}");
    }

    /// Hands the inbound queue (messages, profile notices) to `message-router` once.
    async fn route(&self) -> PumpStats {
        gatewayctl::local::pump(
            &self.sqs,
            &self.http,
            &self.run.stack.queue_url,
            &self.run.invoke_url("message-router"),
        )
        .await
        .unwrap()
    }

    /// Hands the media queue to `media-fetcher` once.
    async fn fetch(&self) -> PumpStats {
        gatewayctl::local::pump(
            &self.sqs,
            &self.http,
            &self.run.stack.media_queue_url,
            &self.run.invoke_url("media-fetcher"),
        )
        .await
        .unwrap()
    }

    async fn conversation(&self, key: &str) -> Conversation {
        let item = self
            .ddb
            .get_item()
            .table_name(&self.run.stack.table_name)
            .key("PK", AttributeValue::S(format!("CONV#{key}")))
            .key("SK", AttributeValue::S("META".into()))
            .consistent_read(true)
            .send()
            .await
            .unwrap()
            .item
            .unwrap_or_else(|| panic!("conversation {key} is stored"));
        serde_dynamo::from_item(item).unwrap()
    }

    /// The thread items of `key`.
    async fn thread_len(&self, key: &str) -> usize {
        self.ddb
            .query()
            .table_name(&self.run.stack.table_name)
            .key_condition_expression("PK = :pk AND begins_with(SK, :msg)")
            .expression_attribute_values(":pk", AttributeValue::S(format!("CONV#{key}")))
            .expression_attribute_values(":msg", AttributeValue::S("MSG#".into()))
            .consistent_read(true)
            .send()
            .await
            .unwrap()
            .items()
            .len()
    }

    /// The profile requests the stand-ins answered with a profile, for `id` (a refused token,
    /// answered 40001 and asked again with a fresh one, is not a profile request).
    async fn profile_requests(&self, id: &str) -> Vec<Value> {
        self.stub.requests().await.unwrap()["profiles"]["requests"]
            .as_array()
            .cloned()
            .unwrap_or_default()
            .into_iter()
            .filter(|r| r["id"] == id && r["answer"] == "profile")
            .collect()
    }
}

#[tokio::test]
#[ignore = "needs the running functions (make test)"]
async fn a_wechat_followers_profile_is_on_the_conversation_after_the_first_message() {
    let _guard = RUNNING_STACK_LOCK.lock().await;
    let ctx = setup().await;
    let openid = format!("o{}", unique_digits());
    let key = format!("wechat:secure-demo:{openid}");
    ctx.stub
        .profile(
            "wechat",
            &openid,
            json!({"subscribe": 1, "language": "en", "subscribe_time": 1_700_000_000,
                   "unionid": "uUnion42", "remark": "VIP 张先生", "groupid": 0,
                   "tagid_list": [2, 105], "subscribe_scene": "ADD_SCENE_QR_CODE",
                   "qr_scene": 98765, "qr_scene_str": ""}),
        )
        .await
        .unwrap();
    ctx.wechat(&openid, "你好").await;
    // Routed without waiting for the platform: the profile comes after.
    let routed = ctx.conversation(&key).await;
    assert_eq!(routed.profile, None);
    assert!(routed.profile_requested_at.is_some());

    let stats = ctx.fetch().await;
    assert_eq!((stats.delivered, stats.failed), (1, 0), "{stats:?}");
    let c = ctx.conversation(&key).await;
    let p = c
        .profile
        .clone()
        .expect("the profile is on the conversation");
    assert_eq!(p.source, Channel::WeChat);
    assert_eq!(p.remark.as_deref(), Some("VIP 张先生"));
    assert_eq!(p.language.as_deref(), Some("en"));
    assert_eq!(p.unionid.as_deref(), Some("uUnion42"));
    assert_eq!(p.subscribed, Some(true));
    assert_eq!(p.subscribe_time, Some(1_700_000_000_000));
    assert_eq!(p.subscribe_scene.as_deref(), Some("ADD_SCENE_QR_CODE"));
    assert_eq!(p.tag_ids, [2, 105]);
    assert!(p.fetched_at >= routed.last_inbound_at, "{p:?}");
    assert_eq!(
        c.version,
        routed.version + 1,
        "the profile write moves the version on"
    );
    assert_eq!(ctx.profile_requests(&openid).await.len(), 1);

    // An older answer (a retry that lost a race) never overwrites it; no conversation, no write.
    let records =
        gateway_aws::DynamoDbProfileRecords::new(ctx.ddb.clone(), &ctx.run.stack.table_name);
    let mut older = p.clone();
    older.fetched_at -= 1_000;
    older.remark = Some("旧备注".into());
    assert_eq!(
        records.store(&key, &older).await.unwrap(),
        StoreOutcome::Newer
    );
    assert_eq!(
        records
            .store(&format!("wechat:secure-demo:o{}", unique_digits()), &p)
            .await
            .unwrap(),
        StoreOutcome::NoConversation
    );
    assert_eq!(ctx.conversation(&key).await.profile, Some(p.clone()));

    // Its notice reaches the router: no profile rule holds for this customer, so nothing
    // changes; no message is stored for it, nothing counts as an inbound message.
    let notices = ctx.route().await;
    assert_eq!((notices.delivered, notices.failed), (1, 0), "{notices:?}");
    let after = ctx.conversation(&key).await;
    assert_eq!(after.inbound_count, 1);
    assert_eq!(after.version, c.version);
    assert_eq!(ctx.thread_len(&key).await, 1);
}

#[tokio::test]
#[ignore = "needs the running functions (make test)"]
async fn a_weibo_opinion_leaders_first_message_is_prioritised_once_the_profile_arrives() {
    let _guard = RUNNING_STACK_LOCK.lock().await;
    let ctx = setup().await;
    let uid = unique_digits();
    let key = format!("weibo:brand:{uid}");
    ctx.stub
        .profile(
            "weibo",
            &uid,
            json!({"screen_name": "某大V", "followers_count": 150_000, "verified": true,
                   "verified_type": 0, "verified_reason": "知名财经博主",
                   "description": "", "location": "北京"}),
        )
        .await
        .unwrap();
    ctx.weibo(&uid, "你们的产品有问题").await;
    // The router's first pass: the shipped rules route it to the social team; the profile
    // is not known yet, so the opinion-leader rule cannot hold.
    let first = ctx.conversation(&key).await;
    assert_eq!(first.team.as_deref(), Some("weibo-care"));
    assert!(!first.escalated);
    assert!(!first.tags.contains("opinion_leader"));

    let stats = ctx.fetch().await;
    assert_eq!((stats.delivered, stats.failed), (1, 0), "{stats:?}");
    let fetched = ctx.conversation(&key).await;
    let p = fetched.profile.clone().expect("profile");
    assert_eq!(
        (
            p.screen_name.as_deref(),
            p.followers_count,
            p.verified,
            p.verified_reason.as_deref()
        ),
        (
            Some("某大V"),
            Some(150_000),
            Some(true),
            Some("知名财经博主")
        )
    );

    // The profile notice: the shipped `opinion-leader` rule prioritises the conversation.
    let notices = ctx.route().await;
    assert_eq!((notices.delivered, notices.failed), (1, 0), "{notices:?}");
    let c = ctx.conversation(&key).await;
    assert_eq!(c.team.as_deref(), Some("vip-care"));
    assert!(c.escalated, "escalated by the rule");
    assert_eq!(c.priority, Priority::Urgent);
    assert!(c.tags.contains("opinion_leader"), "{:?}", c.tags);
    assert!(c.rule_last_fired.contains_key("opinion-leader"));
    assert_eq!(c.profile_rules_at, Some(p.fetched_at));
    assert!(c.response_due_at.is_some());
    assert_eq!(c.inbound_count, 1, "a notice is not a message");
    assert_eq!(ctx.thread_len(&key).await, 1);
    // The tag item lists it with the account's other opinion leaders.
    let tag = ctx
        .ddb
        .get_item()
        .table_name(&ctx.run.stack.table_name)
        .key("PK", AttributeValue::S(format!("CONV#{key}")))
        .key("SK", AttributeValue::S("TAG#opinion_leader".into()))
        .consistent_read(true)
        .send()
        .await
        .unwrap();
    assert!(tag.item.is_some());

    // A redelivered notice changes nothing.
    let notice = gateway_core::profile::ProfileNotice {
        schema_version: 1,
        record: gateway_core::profile::NoticeKind::Profile,
        channel: Channel::Weibo,
        account_id: "brand".into(),
        conversation_key: key.clone(),
        fetched_at: p.fetched_at,
    };
    ctx.sqs
        .send_message()
        .queue_url(&ctx.run.stack.queue_url)
        .message_body(serde_json::to_string(&notice).unwrap())
        .message_group_id(notice.message_group_id())
        .message_deduplication_id(format!("{}-again", notice.dedupe_id()))
        .send()
        .await
        .unwrap();
    let again = ctx.route().await;
    assert_eq!((again.delivered, again.failed), (1, 0), "{again:?}");
    assert_eq!(ctx.conversation(&key).await.version, c.version);
}

#[tokio::test]
#[ignore = "needs the running functions (make test)"]
async fn a_stale_profile_is_refreshed_on_a_later_message_and_a_fresh_one_is_not() {
    let _guard = RUNNING_STACK_LOCK.lock().await;
    let ctx = setup().await;
    let openid = format!("o{}", unique_digits());
    let key = format!("wechat:secure-demo:{openid}");
    ctx.stub
        .profile(
            "wechat",
            &openid,
            json!({"subscribe": 1, "remark": "老客户"}),
        )
        .await
        .unwrap();
    ctx.wechat(&openid, "你好").await;
    assert_eq!(ctx.fetch().await.delivered, 1);
    ctx.route().await; // the notice

    // A later message while the profile is fresh: nothing is fetched.
    ctx.wechat(&openid, "在吗").await;
    let stats = ctx.fetch().await;
    assert_eq!(stats.delivered, 0, "{stats:?}");
    assert_eq!(ctx.profile_requests(&openid).await.len(), 1);

    // Eight days later (older than PROFILE_REFRESH_SECS, 7 days), with a new remark.
    let eight_days_ago = send::now_secs() * 1000 - 8 * 86_400_000;
    ctx.ddb
        .update_item()
        .table_name(&ctx.run.stack.table_name)
        .key("PK", AttributeValue::S(format!("CONV#{key}")))
        .key("SK", AttributeValue::S("META".into()))
        .update_expression("SET profile.fetched_at = :t, profile_requested_at = :t")
        .expression_attribute_values(":t", AttributeValue::N(eight_days_ago.to_string()))
        .send()
        .await
        .unwrap();
    ctx.stub
        .profile(
            "wechat",
            &openid,
            json!({"subscribe": 1, "remark": "VIP 老客户"}),
        )
        .await
        .unwrap();
    ctx.wechat(&openid, "我的订单呢").await;
    let stats = ctx.fetch().await;
    assert_eq!((stats.delivered, stats.failed), (1, 0), "{stats:?}");
    let p = ctx.conversation(&key).await.profile.expect("profile");
    assert_eq!(p.remark.as_deref(), Some("VIP 老客户"));
    assert!(p.fetched_at > eight_days_ago + 86_400_000, "{p:?}");
    assert_eq!(ctx.profile_requests(&openid).await.len(), 2);
    // Its values changed: a notice went to the router.
    let notices = ctx.route().await;
    assert_eq!((notices.delivered, notices.failed), (1, 0), "{notices:?}");
}

fn reason(letter: &aws_sdk_sqs::types::Message) -> String {
    letter
        .message_attributes()
        .and_then(|a| a.get("reason"))
        .and_then(|v| v.string_value())
        .unwrap_or_default()
        .to_string()
}

#[tokio::test]
#[ignore = "needs the running functions (make test)"]
async fn a_user_info_failure_is_retried_then_dead_lettered_with_its_reason() {
    let _guard = RUNNING_STACK_LOCK.lock().await;
    let ctx = setup().await;
    // Busy at every attempt: retried with backoff up to MEDIA_MAX_ATTEMPTS (4), then
    // dead-lettered with the reason.
    ctx.stub.fail("wechat_user_info", -1, 4).await.unwrap();
    let busy = format!("o{}", unique_digits());
    ctx.wechat(&busy, "你好").await;
    let mut letters = Vec::new();
    for _ in 0..40 {
        ctx.fetch().await;
        letters =
            gateway_tests::drain_messages(&ctx.sqs, &ctx.run.stack.media_dead_letter_queue_url)
                .await;
        if !letters.is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    assert_eq!(letters.len(), 1, "dead-lettered once");
    let why = reason(&letters[0]);
    assert!(
        why.contains("retries_exhausted after 4 attempts") && why.contains("wechat error -1"),
        "{why}"
    );
    assert!(
        letters[0]
            .body()
            .unwrap_or_default()
            .contains("\"command\":\"profile\""),
        "the command, to redrive"
    );
    let tries = ctx.stub.requests().await.unwrap()["profiles"]["requests"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["id"] == busy.as_str() && r["answer"] == -1)
        .count();
    assert_eq!(tries, 4);
    let key = format!("wechat:secure-demo:{busy}");
    assert_eq!(ctx.conversation(&key).await.profile, None);

    // An invalid OpenID: dead-lettered at once, with WeChat's reason.
    ctx.stub.fail("wechat_user_info", 40003, 1).await.unwrap();
    let invalid = format!("o{}", unique_digits());
    ctx.wechat(&invalid, "你好").await;
    let stats = ctx.fetch().await;
    assert_eq!((stats.delivered, stats.failed), (1, 0), "{stats:?}");
    let letters =
        gateway_tests::drain_messages(&ctx.sqs, &ctx.run.stack.media_dead_letter_queue_url).await;
    assert_eq!(letters.len(), 1);
    assert!(
        reason(&letters[0]).starts_with("wechat error 40003"),
        "{}",
        reason(&letters[0])
    );
}
