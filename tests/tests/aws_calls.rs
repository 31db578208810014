//! AWS calls per inbound message, counted on the wire (docs/benchmarks.md): the real adapters talk to the
//! emulator through a counting HTTP proxy that records every request's `X-Amz-Target` and
//! body. These tests fail if the hot paths grow a call:
//!
//! * webhook, once warm: exactly one SQS `SendMessage` per message and no other call (the
//!   accounts document comes from the cache);
//! * router: one `GetItem` and one `TransactWriteItems` carrying exactly three writes (the
//!   message's dedupe marker, the message at its place in the thread, the conversation) per
//!   stored message, plus one per tag the rules add or remove; a redelivered message costs one
//!   read and no write; the rules come from the cache; a message with media (picture, voice,
//!   video) adds exactly one SQS `SendMessageBatch` of its fetch commands to the media queue.
#![allow(clippy::unwrap_used)]

use gateway_aws::{
    DynamoDbConversationStore, DynamoDbRulesSource, DynamoDbRulesStore,
    SecretsManagerAccountDirectory, SqsMediaQueue, SqsMessagePublisher, SqsReplyQueue,
};
use gateway_core::account::AccountsDocument;
use gateway_core::channel::{InboundRequest, Limits, wechat, weibo};
use gateway_core::message::Channel;
use gateway_core::ports::{AccountDirectory, RulesSource};
use gateway_core::routing::{ProcessOutcome, Router, process};
use gateway_core::rules::RuleSet;
use gateway_core::webhook::WebhookService;
use gateway_tests::wire::{Call, WireProxy};
use gateway_tests::{endpoint, fresh_stack, local_accounts_json, sdk};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

fn targets(calls: &[Call]) -> Vec<&str> {
    calls.iter().map(|c| c.target.as_str()).collect()
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

fn wechat_inbound<'a>(
    (account, request): &'a (&'static str, wechat::simulate::SimulatedRequest),
    now: i64,
) -> InboundRequest<'a> {
    request.as_inbound(account, now)
}

fn inner_xml(from: &str, msg_id: u64, create_time: i64) -> String {
    format!(
        "<xml><ToUserName><![CDATA[gh_97417a04a28d]]></ToUserName>\
         <FromUserName><![CDATA[{from}]]></FromUserName><CreateTime>{create_time}</CreateTime>\
         <MsgType><![CDATA[text]]></MsgType><Content><![CDATA[你好 #{msg_id}]]></Content>\
         <MsgId>{msg_id}</MsgId></xml>"
    )
}

#[tokio::test]
#[ignore = "needs the local AWS emulator (make test)"]
async fn a_warm_webhook_makes_exactly_one_sqs_send_per_message_and_no_other_call() {
    // Arrange: the real adapters, their SDK clients going through the counting proxy.
    let stack = fresh_stack(&sdk().await).await;
    let proxy = WireProxy::start(&endpoint());
    let sdk = proxy.sdk().await;
    let accounts: Arc<dyn AccountDirectory> = Arc::new(
        SecretsManagerAccountDirectory::new(
            aws_sdk_secretsmanager::Client::new(&sdk),
            gatewayctl::local::role_secret_id(
                &stack.accounts_secret_id,
                gateway_core::account::AccountsRole::Webhook,
            ),
            Duration::from_secs(60),
        )
        .for_role(gateway_core::account::AccountsRole::Webhook),
    );
    let publisher = Arc::new(SqsMessagePublisher::new(
        aws_sdk_sqs::Client::new(&sdk),
        stack.queue_url.clone(),
    ));
    let service = |channel| WebhookService {
        channel,
        accounts: accounts.clone(),
        publisher: publisher.clone(),
        limits: Limits::default(),
        passive: None,
    };
    let (wechat_service, weibo_service) = (service(Channel::WeChat), service(Channel::Weibo));
    let doc = AccountsDocument::from_json(&local_accounts_json()).unwrap();
    let now = now_ms();
    let mut wechat_requests = Vec::new();
    for (i, (account, envelope)) in [
        ("plain-demo", wechat::simulate::Envelope::Plaintext),
        ("secure-demo", wechat::simulate::Envelope::Secure),
        ("demo", wechat::simulate::Envelope::Compatible),
    ]
    .into_iter()
    .cycle()
    .take(12)
    .enumerate()
    {
        let inner = inner_xml(&format!("oCount{i}"), 9_000 + i as u64, now / 1000);
        let request =
            wechat::simulate::push(&doc.wechat[account], &inner, now / 1000, "1", envelope)
                .unwrap();
        wechat_requests.push((account, request));
    }
    let weibo_requests: Vec<_> = (0..4)
        .map(|i| {
            let created_at = weibo::simulate::created_at(now / 1000).unwrap();
            let body = weibo::simulate::text_body(
                1_902_538_057,
                4_000_000_000 + i,
                &created_at,
                &format!("count #{i}"),
            );
            weibo::simulate::push(&doc.weibo["brand"], body, now, "1")
        })
        .collect();

    // Act 1: the first message of a cold function also fetches the accounts document.
    let cold = wechat_service
        .handle(&wechat_inbound(&wechat_requests[0], now))
        .await;
    let cold_calls = proxy.take();

    // Act 2: warm.
    let mut replies = Vec::new();
    for r in &wechat_requests[1..] {
        replies.push(wechat_service.handle(&wechat_inbound(r, now)).await);
    }
    for r in &weibo_requests {
        let inbound: InboundRequest<'_> = r.inbound("brand");
        replies.push(weibo_service.handle(&inbound).await);
    }
    let warm_calls = proxy.take();

    // Assert
    assert_eq!(cold.status, 200, "{cold:?}");
    assert_eq!(
        targets(&cold_calls),
        ["secretsmanager.GetSecretValue", "AmazonSQS.SendMessage"]
    );
    assert!(replies.iter().all(|r| r.status == 200), "{replies:?}");
    let messages = wechat_requests.len() - 1 + weibo_requests.len();
    assert_eq!(
        warm_calls.len(),
        messages,
        "one call per warm message: {:?}",
        targets(&warm_calls)
    );
    assert!(
        warm_calls
            .iter()
            .all(|c| c.target == "AmazonSQS.SendMessage"),
        "{:?}",
        targets(&warm_calls)
    );
    assert!(warm_calls.iter().all(|c| c.body.contains(&stack.queue_url)));
}

fn rules() -> Arc<RuleSet> {
    Arc::new(RuleSet::from_yaml(include_str!("../../config/rules.yaml")).expect("shipped rules"))
}

/// The write items of a `TransactWriteItems` body, as `Put`/`Delete` and the sort key.
fn write_items(call: &Call) -> Vec<String> {
    let body: serde_json::Value = serde_json::from_str(&call.body).unwrap();
    body["TransactItems"]
        .as_array()
        .unwrap()
        .iter()
        .map(|item| {
            let (op, detail) = item.as_object().unwrap().iter().next().unwrap();
            let sk = detail
                .pointer("/Item/SK/S")
                .or_else(|| detail.pointer("/Key/SK/S"))
                .and_then(|v| v.as_str())
                .unwrap_or_default();
            format!("{op} {}", sk.split('#').next().unwrap_or_default())
        })
        .collect()
}

#[tokio::test]
#[ignore = "needs the local AWS emulator (make test)"]
async fn the_router_stores_a_message_with_one_read_and_one_transaction_of_three_writes() {
    // Arrange
    let stack = fresh_stack(&sdk().await).await;
    let proxy = WireProxy::start(&endpoint());
    let sdk = proxy.sdk().await;
    let dynamodb = aws_sdk_dynamodb::Client::new(&sdk);
    let store =
        DynamoDbConversationStore::new(dynamodb.clone(), stack.table_name.clone(), Some(86_400));
    let replies = SqsReplyQueue::new(
        aws_sdk_sqs::Client::new(&sdk),
        stack.outbound_queue_url.clone(),
    );
    let rules_source = DynamoDbRulesSource::new(
        DynamoDbRulesStore::new(dynamodb, stack.table_name.clone()),
        Duration::from_secs(30),
        rules(),
    );
    let doc = AccountsDocument::from_json(&local_accounts_json()).unwrap();
    let now = now_ms();
    let message = |from: &str, msg_id: u64, text: &str| {
        let inner = inner_xml(from, msg_id, now / 1000).replace(&format!("你好 #{msg_id}"), text);
        let request = wechat::simulate::push(
            &doc.wechat["plain-demo"],
            &inner,
            now / 1000,
            "1",
            wechat::simulate::Envelope::Plaintext,
        )
        .unwrap();
        match wechat::handle(
            &doc.wechat["plain-demo"],
            &request.as_inbound("plain-demo", now),
            &Limits::default(),
        )
        .unwrap()
        {
            gateway_core::channel::WebhookOutcome::Message(m) => *m,
            other => panic!("{other:?}"),
        }
    };

    // A picture from `from`: the same path, its content an image with a media id.
    let image = |from: &str, msg_id: u64| {
        let mut m = message(from, msg_id, "x");
        m.content = gateway_core::Content::Image {
            media_id: Some(format!("MEDIA{msg_id}")),
            url: None,
        };
        m
    };

    // Act 1: the first batch loads the rules; later batches use the cache.
    let rules_now = rules_source.rules().await.unwrap();
    let rules_cold = proxy.take();
    let _ = rules_source.rules().await.unwrap();
    let rules_warm = proxy.take();

    let media = SqsMediaQueue::new(
        aws_sdk_sqs::Client::new(&sdk),
        stack.media_queue_url.clone(),
    );
    let router = Router {
        store: &store,
        replies: &replies,
        media: &media,
        rules: &rules_now,
        profile_refresh_ms: 7 * 86_400_000,
    };
    let mut per_message = Vec::new();
    for m in [
        message("oRouterA", 1, "你好"), // new conversation (routing rule)
        message("oRouterA", 2, "请问还在吗"), // follow-up in the same conversation
        message("oRouterB", 3, "想问一下价格"), // new conversation, keyword auto-reply
        message("oRouterA", 4, "我要投诉，联系你们律师"), // crisis: the rules add a tag
        image("oRouterB", 5),           // media: one fetch command batch
    ] {
        let outcome = process(&router, &m).await.unwrap();
        let tags_changed = match &outcome {
            ProcessOutcome::Stored(p) => {
                p.decision.tags_added.len() + p.decision.tags_removed.len()
            }
            ProcessOutcome::Duplicate => panic!("stored once"),
        };
        per_message.push((proxy.take(), tags_changed));
    }
    let redelivered = message("oRouterA", 2, "请问还在吗");
    let duplicate = process(&router, &redelivered).await.unwrap();
    let duplicate_calls = proxy.take();

    // Assert
    assert_eq!(targets(&rules_cold), ["DynamoDB_20120810.GetItem"]);
    assert!(rules_warm.is_empty(), "{:?}", targets(&rules_warm));
    for (i, (calls, tags_changed)) in per_message.iter().enumerate() {
        let dynamodb: Vec<&Call> = calls
            .iter()
            .filter(|c| c.target.starts_with("DynamoDB_20120810."))
            .collect();
        assert_eq!(
            targets(&dynamodb.iter().map(|c| (*c).clone()).collect::<Vec<_>>()),
            [
                "DynamoDB_20120810.GetItem",
                "DynamoDB_20120810.TransactWriteItems"
            ],
            "message {i}"
        );
        let writes = write_items(dynamodb[1]);
        assert_eq!(
            &writes[..3],
            ["Put DEDUPE", "Put MSG", "Put META"],
            "message {i}"
        );
        assert_eq!(
            writes.len(),
            3 + tags_changed,
            "message {i}: three writes plus one per changed tag: {writes:?}"
        );
        // Anything else is an auto-reply command on the outbound queue, and for the image
        // (message 4) one batch of fetch commands on the media queue.
        let sqs: Vec<&Call> = calls
            .iter()
            .filter(|c| !c.target.starts_with("DynamoDB_20120810."))
            .collect();
        let (media, replies): (Vec<&Call>, Vec<&Call>) = sqs
            .iter()
            .partition(|c| c.body.contains(&stack.media_queue_url));
        assert!(
            replies.iter().all(|c| c.target == "AmazonSQS.SendMessage"
                && c.body.contains(&stack.outbound_queue_url)),
            "message {i}: {:?}",
            targets(calls)
        );
        // The first message of a conversation (0, 2) asks for the customer's profile, in the
        // one batch a message's media commands go in (the image's, message 4): at most one
        // SendMessageBatch per message. Later messages do not ask again (asked already).
        let bodies: Vec<&str> = media.iter().map(|c| c.body.as_str()).collect();
        let media: Vec<&str> = media.iter().map(|c| c.target.as_str()).collect();
        if [0, 2, 4].contains(&i) {
            assert_eq!(media, ["AmazonSQS.SendMessageBatch"], "message {i}");
            assert_eq!(
                bodies[0].contains("profile"),
                i != 4,
                "message {i}: {}",
                bodies[0]
            );
            assert_eq!(
                bodies[0].contains("MEDIA5"),
                i == 4,
                "message {i}: {}",
                bodies[0]
            );
        } else {
            assert!(media.is_empty(), "message {i}: {media:?}");
        }
    }
    // Plain messages (no tag change) are exactly three writes; the crisis message adds one tag.
    assert_eq!(
        per_message.iter().map(|(_, t)| *t).collect::<Vec<_>>(),
        [0, 0, 0, 1, 0]
    );
    assert_eq!(duplicate, ProcessOutcome::Duplicate);
    assert_eq!(targets(&duplicate_calls), ["DynamoDB_20120810.GetItem"]);
}
