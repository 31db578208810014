//! Media end to end: a customer's picture, voice note or video through the webhook, the
//! router (which queues the fetch command), the media queue and `media-fetcher` (running
//! under `cargo lambda watch`), the emulator's S3 and DynamoDB, with the platform stand-ins
//! serving `media/get` and Weibo's `msget` with real bytes. `gatewayctl::local::pump` stands
//! in for the Lambda SQS event sources.
//!
//! The running functions share their queues and the stand-ins, so these tests take the stack
//! lock and drain the queues first. Platform ids are unique per run. The first message of each
//! conversation also queues its customer's profile command on the media queue
//! (`docs/profiles.md`): the fetcher's counts include one per new conversation.
#![allow(clippy::unwrap_used)]

use aws_sdk_dynamodb::types::AttributeValue;
use gateway_aws::SqsMediaQueue;
use gateway_aws::dynamodb::media::read_media;
use gateway_core::channel::wechat::simulate::Envelope;
use gateway_core::media::{MediaCommand, MediaQueue};
use gateway_core::media::{MediaFetch, MediaKind, MediaRecord, MediaState, limits};
use gateway_tests::media_files::{amr, png};
use gateway_tests::{RUNNING_STACK_LOCK, RunningStack, accounts, platforms, sdk, unique_digits};
use gatewayctl::local::PumpStats;
use gatewayctl::send;
use gatewayctl::stub::StubAdmin;
use serde_json::Value;
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::time::Duration;

struct Ctx {
    run: RunningStack,
    sqs: aws_sdk_sqs::Client,
    ddb: aws_sdk_dynamodb::Client,
    s3: aws_sdk_s3::Client,
    http: reqwest::Client,
    stub: StubAdmin,
}

async fn setup() -> Ctx {
    let run = RunningStack::from_env();
    let sdk = sdk().await;
    let ctx = Ctx {
        sqs: aws_sdk_sqs::Client::new(&sdk),
        ddb: aws_sdk_dynamodb::Client::new(&sdk),
        s3: gateway_aws::s3::client(&sdk),
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
            &stack.outbound_queue_url,
            &stack.media_queue_url,
            &stack.media_dead_letter_queue_url,
        ],
    )
    .await;
    ctx
}

fn sha256(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

fn wechat_xml(from: &str, msg_id: &str, kind: &str, fields: &str) -> String {
    format!(
        "<xml><ToUserName><![CDATA[gh_demo]]></ToUserName><FromUserName><![CDATA[{from}]]></FromUserName>\
         <CreateTime>{}</CreateTime><MsgType><![CDATA[{kind}]]></MsgType>{fields}<MsgId>{msg_id}</MsgId></xml>",
        send::now_secs()
    )
}

impl Ctx {
    /// Posts a WeChat push to the running webhook (account `secure-demo`, 安全模式, which has
    /// API credentials), then routes it.
    async fn wechat(&self, xml: &str) {
        self.push(xml).await;
        self.route().await;
    }

    /// Posts a WeChat push to the running webhook (account `secure-demo`), routing nothing.
    async fn push(&self, xml: &str) {
        let request = send::wechat_push(
            &accounts(),
            "secure-demo",
            xml,
            Envelope::Secure,
            send::now_secs(),
        )
        .unwrap();
        let url = self
            .run
            .webhook_url("wechat-webhook", "/wechat/secure-demo");
        let (status, body) = send::send(&self.http, &url, &request).await.unwrap();
        assert_eq!((status, body.as_str()), (200, "success"));
    }

    /// Posts a Weibo push to the running webhook (account `brand`), then routes it.
    async fn weibo(&self, body: &str) {
        let request =
            send::weibo_push(&accounts(), "brand", body, send::now_secs() * 1000).unwrap();
        let url = self.run.webhook_url("weibo-webhook", "/weibo/brand");
        let (status, _) = send::send(&self.http, &url, &request).await.unwrap();
        assert_eq!(status, 200);
        self.route().await;
    }

    async fn route(&self) {
        let stats = gatewayctl::local::pump(
            &self.sqs,
            &self.http,
            &self.run.stack.queue_url,
            &self.run.invoke_url("message-router"),
        )
        .await
        .unwrap();
        // The message, and any profile notice the media-fetcher queued since (its rules).
        assert!(stats.delivered >= 1 && stats.failed == 0, "{stats:?}");
    }

    /// Hands the media queue to `media-fetcher` once, as the event source would.
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

    /// The thread items of `conversation_key`, in order.
    async fn thread(&self, conversation_key: &str) -> Vec<HashMap<String, AttributeValue>> {
        self.ddb
            .query()
            .table_name(&self.run.stack.table_name)
            .key_condition_expression("PK = :pk AND begins_with(SK, :msg)")
            .expression_attribute_values(
                ":pk",
                AttributeValue::S(format!("CONV#{conversation_key}")),
            )
            .expression_attribute_values(":msg", AttributeValue::S("MSG#".into()))
            .consistent_read(true)
            .send()
            .await
            .unwrap()
            .items()
            .to_vec()
    }

    /// The media records of the only message of `conversation_key`.
    async fn records(&self, conversation_key: &str) -> Vec<MediaRecord> {
        let items = self.thread(conversation_key).await;
        assert_eq!(items.len(), 1, "one message in {conversation_key}");
        read_media(&items[0])
    }

    async fn object(&self, key: &str) -> (String, Vec<u8>) {
        let got = self
            .s3
            .get_object()
            .bucket(&self.run.stack.media_bucket)
            .key(key)
            .send()
            .await
            .unwrap();
        let content_type = got.content_type().unwrap_or_default().to_string();
        (
            content_type,
            got.body.collect().await.unwrap().into_bytes().to_vec(),
        )
    }

    /// The downloads the stand-ins answered with the file (a refused token, answered with
    /// 40001 and retried once with a fresh one, is not a download).
    async fn downloads(&self) -> Vec<Value> {
        self.stub.requests().await.unwrap()["media"]["downloads"]
            .as_array()
            .cloned()
            .unwrap_or_default()
            .into_iter()
            .filter(|d| !matches!(d["answer"].as_i64(), Some(40001 | 42001)))
            .collect()
    }

    async fn queued(&self, url: &str) -> usize {
        gateway_tests::drain_messages(&self.sqs, url).await.len()
    }
}

fn stored(record: &MediaRecord) -> (&str, &str, u64, &str) {
    match &record.state {
        MediaState::Stored {
            s3_key,
            content_type,
            bytes,
            sha256,
        } => (s3_key, content_type, *bytes, sha256),
        other => panic!("not stored: {other:?}"),
    }
}

#[tokio::test]
#[ignore = "needs the running functions (make test)"]
async fn an_image_is_kept_with_the_same_bytes_and_sha256_and_a_redelivery_stores_once() {
    let _guard = RUNNING_STACK_LOCK.lock().await;
    let ctx = setup().await;
    let picture = png(48, 32);
    let media_id = format!("IMG{}", unique_digits());
    ctx.stub
        .register_media("wechat", &media_id, "image/png", &picture, false, false)
        .await
        .unwrap();
    let openid = format!("o{}", unique_digits());
    let key = format!("wechat:secure-demo:{openid}");

    // The webhook and the router: the message is stored with its media `pending`, and one
    // fetch command is queued.
    ctx.wechat(&wechat_xml(
        &openid,
        &unique_digits(),
        "image",
        &format!("<PicUrl><![CDATA[http://mmbiz.qpic.cn/x]]></PicUrl><MediaId><![CDATA[{media_id}]]></MediaId>"),
    ))
    .await;
    let pending = ctx.records(&key).await;
    assert_eq!(pending.len(), 1);
    assert_eq!(
        (pending[0].kind, &pending[0].state),
        (MediaKind::Image, &MediaState::Pending)
    );

    // The fetcher keeps the object and records it.
    let stats = ctx.fetch().await;
    assert_eq!((stats.delivered, stats.failed), (2, 0), "{stats:?}");
    let records = ctx.records(&key).await;
    let (s3_key, content_type, bytes, digest) = stored(&records[0]);
    assert_eq!(content_type, "image/png");
    assert_eq!(bytes, picture.len() as u64);
    assert_eq!(digest, sha256(&picture));
    assert!(s3_key.starts_with("media/wechat/secure-demo/"), "{s3_key}");
    assert!(s3_key.ends_with("/image"), "{s3_key}");
    let (stored_type, body) = ctx.object(s3_key).await;
    assert_eq!(
        (stored_type.as_str(), sha256(&body)),
        ("image/png", sha256(&picture))
    );
    assert_eq!(body, picture);

    // A presigned GET of the object answers the same bytes.
    let presigned = ctx
        .s3
        .get_object()
        .bucket(&ctx.run.stack.media_bucket)
        .key(s3_key)
        .presigned(
            aws_sdk_s3::presigning::PresigningConfig::expires_in(Duration::from_secs(300)).unwrap(),
        )
        .await
        .unwrap();
    let fetched = reqwest::get(presigned.uri()).await.unwrap();
    assert_eq!(fetched.status().as_u16(), 200);
    assert_eq!(fetched.bytes().await.unwrap().to_vec(), picture);

    // The same command delivered again: no second download, the record unchanged.
    let command = MediaFetch {
        schema_version: 1,
        channel: gateway_core::message::Channel::WeChat,
        account_id: "secure-demo".into(),
        conversation_key: key.clone(),
        message_id: s3_key.split('/').nth(4).unwrap().to_string(),
        thread_seq: 1,
        kind: MediaKind::Image,
        media_id: media_id.clone(),
        format: None,
    };
    SqsMediaQueue::new(ctx.sqs.clone(), &ctx.run.stack.media_queue_url)
        .enqueue(&[
            MediaCommand::Fetch(command.clone()),
            MediaCommand::Fetch(command),
        ])
        .await
        .unwrap();
    let stats = ctx.fetch().await;
    assert_eq!((stats.delivered, stats.failed), (2, 0), "{stats:?}");
    let downloads = ctx.downloads().await;
    assert_eq!(downloads.len(), 1, "downloaded once in all: {downloads:?}");
    let again = ctx.records(&key).await;
    assert_eq!(stored(&again[0]), stored(&records[0]));
    assert_eq!(
        ctx.queued(&ctx.run.stack.media_dead_letter_queue_url).await,
        0
    );
}

#[tokio::test]
#[ignore = "needs the running functions (make test)"]
async fn expired_media_is_marked_unavailable_once_and_not_retried() {
    let _guard = RUNNING_STACK_LOCK.lock().await;
    let ctx = setup().await;
    let media_id = format!("OLD{}", unique_digits());
    ctx.stub
        .register_media("wechat", &media_id, "audio/amr", &amr(5), false, true)
        .await
        .unwrap();
    let openid = format!("o{}", unique_digits());
    ctx.wechat(&wechat_xml(
        &openid,
        &unique_digits(),
        "voice",
        &format!("<MediaId><![CDATA[{media_id}]]></MediaId><Format><![CDATA[amr]]></Format>"),
    ))
    .await;
    let stats = ctx.fetch().await;
    assert_eq!((stats.delivered, stats.failed), (2, 0), "{stats:?}");
    let records = ctx.records(&format!("wechat:secure-demo:{openid}")).await;
    assert_eq!(
        records[0].state,
        MediaState::Unavailable {
            platform_code: 40007,
            message: "invalid media_id".into()
        }
    );
    // Not retried: nothing left on the queue, nothing dead-lettered, one download.
    tokio::time::sleep(Duration::from_secs(6)).await; // past the local visibility timeout
    assert_eq!(ctx.queued(&ctx.run.stack.media_queue_url).await, 0);
    assert_eq!(
        ctx.queued(&ctx.run.stack.media_dead_letter_queue_url).await,
        0
    );
    assert_eq!(ctx.downloads().await.len(), 1);
}

#[tokio::test]
#[ignore = "needs the running functions (make test)"]
async fn a_voice_note_keeps_its_recognition_and_a_video_its_thumbnail() {
    let _guard = RUNNING_STACK_LOCK.lock().await;
    let ctx = setup().await;
    let voice = amr(50);
    let (voice_id, video_id, thumb_id) = (
        format!("VOI{}", unique_digits()),
        format!("VID{}", unique_digits()),
        format!("THU{}", unique_digits()),
    );
    let video = b"\x00\x00\x00\x18ftypmp42 a video stand-in".repeat(10);
    let thumb = png(16, 9);
    for (id, kind, body, is_video) in [
        (&voice_id, "audio/amr", &voice, false),
        (&video_id, "video/mp4", &video, true),
        (&thumb_id, "image/png", &thumb, false),
    ] {
        ctx.stub
            .register_media("wechat", id, kind, body, is_video, false)
            .await
            .unwrap();
    }
    let (a, b) = (
        format!("o{}", unique_digits()),
        format!("o{}", unique_digits()),
    );
    ctx.wechat(&wechat_xml(
        &a,
        &unique_digits(),
        "voice",
        &format!(
            "<MediaId><![CDATA[{voice_id}]]></MediaId><Format><![CDATA[amr]]></Format>\
             <Recognition><![CDATA[我的订单还没到]]></Recognition>"
        ),
    ))
    .await;
    ctx.wechat(&wechat_xml(
        &b,
        &unique_digits(),
        "video",
        &format!(
            "<MediaId><![CDATA[{video_id}]]></MediaId><ThumbMediaId><![CDATA[{thumb_id}]]></ThumbMediaId>"
        ),
    ))
    .await;
    let stats = ctx.fetch().await;
    assert_eq!((stats.delivered, stats.failed), (5, 0), "{stats:?}");

    let voice_records = ctx.records(&format!("wechat:secure-demo:{a}")).await;
    let (key, content_type, _, digest) = stored(&voice_records[0]);
    assert_eq!(
        (voice_records[0].kind, content_type),
        (MediaKind::Voice, "audio/amr")
    );
    assert_eq!(digest, sha256(&voice), "the original AMR, not converted");
    assert_eq!(ctx.object(key).await.1, voice);
    // The recognition text stays the message's text.
    let items = ctx.thread(&format!("wechat:secure-demo:{a}")).await;
    let message: gateway_core::NormalizedMessage =
        serde_dynamo::from_attribute_value(items[0]["message"].clone()).unwrap();
    assert_eq!(message.content.text(), Some("我的订单还没到"));

    let video_records = ctx.records(&format!("wechat:secure-demo:{b}")).await;
    let kinds: Vec<_> = video_records.iter().map(|r| r.kind).collect();
    assert_eq!(kinds, [MediaKind::Video, MediaKind::Thumb]);
    assert_eq!(stored(&video_records[0]).3, sha256(&video));
    assert_eq!(stored(&video_records[1]).3, sha256(&thumb));
    // The video came through the `video_url` WeChat answers for videos.
    let apis: Vec<String> = ctx
        .downloads()
        .await
        .iter()
        .map(|d| d["api"].as_str().unwrap().to_string())
        .collect();
    assert!(apis.contains(&"wechat_video_url".to_string()), "{apis:?}");
}

#[tokio::test]
#[ignore = "needs the running functions (make test)"]
async fn a_weibo_image_is_fetched_by_its_tovfid_and_too_large_media_is_recorded_with_its_size() {
    let _guard = RUNNING_STACK_LOCK.lock().await;
    let ctx = setup().await;
    let picture = png(20, 20);
    let tovfid = unique_digits();
    ctx.stub
        .register_media("weibo", &tovfid, "image/png", &picture, false, false)
        .await
        .unwrap();
    let sender = unique_digits();
    ctx.weibo(
        &serde_json::json!({
            "type": "image", "receiver_id": 1902538057u64, "sender_id": sender.parse::<u64>().unwrap(),
            "created_at": "Mon Jul 16 18:09:20 +0800 2012", "text": "发了一张图片",
            "data": { "vfid": 1, "tovfid": tovfid.parse::<u64>().unwrap() },
        })
        .to_string(),
    )
    .await;
    // A WeChat voice note one byte over the voice limit.
    let big = vec![0u8; limits::VOICE_MAX_BYTES as usize + 1];
    let big_id = format!("BIG{}", unique_digits());
    ctx.stub
        .register_media("wechat", &big_id, "audio/amr", &big, false, false)
        .await
        .unwrap();
    let openid = format!("o{}", unique_digits());
    ctx.wechat(&wechat_xml(
        &openid,
        &unique_digits(),
        "voice",
        &format!("<MediaId><![CDATA[{big_id}]]></MediaId><Format><![CDATA[amr]]></Format>"),
    ))
    .await;
    let stats = ctx.fetch().await;
    assert_eq!((stats.delivered, stats.failed), (4, 0), "{stats:?}");

    let weibo = ctx.records(&format!("weibo:brand:{sender}")).await;
    let (key, _, bytes, digest) = stored(&weibo[0]);
    assert!(key.starts_with("media/weibo/brand/"), "{key}");
    assert_eq!(
        (bytes, digest),
        (picture.len() as u64, sha256(&picture).as_str())
    );
    assert_eq!(ctx.object(key).await.1, picture);

    let wechat = ctx.records(&format!("wechat:secure-demo:{openid}")).await;
    assert_eq!(
        wechat[0].state,
        MediaState::TooLarge {
            bytes: big.len() as u64,
            limit: limits::VOICE_MAX_BYTES
        }
    );
}

#[tokio::test]
#[ignore = "needs the running functions (make test)"]
async fn a_slow_or_busy_platform_is_retried_then_dead_lettered_with_the_reason() {
    let _guard = RUNNING_STACK_LOCK.lock().await;
    let ctx = setup().await;
    let picture = png(8, 8);
    let (slow_id, busy_id) = (
        format!("SLO{}", unique_digits()),
        format!("BSY{}", unique_digits()),
    );
    for id in [&slow_id, &busy_id] {
        ctx.stub
            .register_media("wechat", id, "image/png", &picture, false, false)
            .await
            .unwrap();
    }
    // Slower than the local PLATFORM_TIMEOUT_SECS (2 s): the fetch is handed back.
    ctx.stub.media_delay(Duration::from_secs(3)).await.unwrap();
    let slow_user = format!("o{}", unique_digits());
    let image = |id: &str| {
        format!("<PicUrl><![CDATA[http://x]]></PicUrl><MediaId><![CDATA[{id}]]></MediaId>")
    };
    ctx.wechat(&wechat_xml(
        &slow_user,
        &unique_digits(),
        "image",
        &image(&slow_id),
    ))
    .await;
    // The image's download times out and is handed back; the customer's profile command rides
    // in the same batch and is handed back too when the slow download left too little of the
    // invocation to start it (it is stored on a later delivery).
    let stats = ctx.fetch().await;
    assert_eq!(stats.delivered, 2, "{stats:?}");
    assert!((1..=2).contains(&stats.failed), "{stats:?}");
    let key = format!("wechat:secure-demo:{slow_user}");
    assert_eq!(ctx.records(&key).await[0].state, MediaState::Pending);
    // Back to normal speed: the retry (after the backoff) stores it.
    ctx.stub.media_delay(Duration::ZERO).await.unwrap();
    let mut state = String::new();
    for _ in 0..20 {
        tokio::time::sleep(Duration::from_millis(500)).await;
        ctx.fetch().await;
        state = ctx.records(&key).await[0].state.label().to_string();
        if state == "stored" {
            break;
        }
    }
    assert_eq!(state, "stored");

    // Busy at every attempt: retried with backoff up to MEDIA_MAX_ATTEMPTS (4), then
    // dead-lettered with the reason.
    ctx.stub.fail("wechat_media", -1, 10).await.unwrap();
    let busy_user = format!("o{}", unique_digits());
    ctx.wechat(&wechat_xml(
        &busy_user,
        &unique_digits(),
        "image",
        &image(&busy_id),
    ))
    .await;
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
    let reason = letters[0]
        .message_attributes()
        .and_then(|a| a.get("reason"))
        .and_then(|v| v.string_value())
        .unwrap_or_default()
        .to_string();
    assert!(
        reason.contains("retries_exhausted after 4 attempts")
            && reason.contains("platform error -1"),
        "{reason}"
    );
    let tries = ctx
        .downloads()
        .await
        .iter()
        .filter(|d| d["media_id"] == busy_id.as_str())
        .count();
    assert_eq!(tries, 4);
    assert_eq!(
        ctx.records(&format!("wechat:secure-demo:{busy_user}"))
            .await[0]
            .state,
        MediaState::Pending,
        "nothing recorded: the dead letter can be redriven"
    );
}

#[tokio::test]
#[ignore = "needs the running functions (make test)"]
async fn a_rules_image_reply_names_an_agents_file_uploaded_to_wechat_once_for_two_customers() {
    use gateway_core::desk::upload::UploadStore;
    let _guard = RUNNING_STACK_LOCK.lock().await;
    let ctx = setup().await;
    gateway_tests::drain_messages(&ctx.sqs, &ctx.run.stack.outbound_queue_url).await;
    // An agent's file in the media bucket, as `POST /media` keeps it.
    let picture = png(24, 24);
    let digest = sha256(&picture);
    let key = format!("uploads/wechat/secure-demo/{digest}");
    gateway_aws::S3Uploads::new(ctx.s3.clone(), &ctx.run.stack.media_bucket)
        .put(&key, "image/png", &digest, &picture)
        .await
        .unwrap();
    let rules_store =
        gateway_aws::DynamoDbRulesStore::new(ctx.ddb.clone(), &ctx.run.stack.table_name);
    let rules = format!(
        "version: 1\nrules:\n  - id: product-photo\n    when: {{ text_contains_any: [\"产品图\"] }}\n    then: [ {{ reply: {{ type: image, upload: \"{key}\" }} }} ]\n"
    );
    rules_store
        .push(&rules, send::now_secs() * 1000)
        .await
        .unwrap()
        .unwrap();
    tokio::time::sleep(Duration::from_millis(1_200)).await; // past RULES_CACHE_SECS

    // Two customers ask for the product photo; the rule answers each with the file.
    for _ in 0..2 {
        let xml = send::wechat_text_xml(
            &format!("o{}", unique_digits()),
            "请发一下产品图",
            &unique_digits(),
            send::now_secs(),
        );
        ctx.wechat(&xml).await;
    }
    // The reply sender's rounds until both are sent. A running sender may still hold a token
    // the stand-ins forgot (an earlier test's): WeChat refuses the upload, the token is expired
    // and the reply retried with a fresh one (docs/media.md), at most one round more.
    let rounds = gateway_tests::outbound_source::sender_rounds(
        &ctx.sqs,
        &ctx.http,
        &ctx.run.stack.outbound_queue_url,
        &ctx.run.invoke_url("reply-sender"),
        3,
    )
    .await;
    // Put the shipped rules back for the tests that follow.
    rules_store
        .push(
            include_str!("../../config/rules.yaml"),
            send::now_secs() * 1000,
        )
        .await
        .unwrap()
        .unwrap();
    assert_eq!(rounds[0].receive_counts.len(), 2, "{rounds:?}");
    assert!(rounds.len() <= 2, "{rounds:?}");

    // WeChat took the file once (a refused token's attempt stores nothing), and both replies
    // carry the media id it answered.
    let uploads: Vec<Value> = gatewayctl::stub_upload::received(&ctx.stub.base_url)
        .await
        .unwrap()
        .into_iter()
        .filter(|u| u["sha256"] == digest.as_str() && u.get("media_id").is_some())
        .collect();
    assert_eq!(uploads.len(), 1, "{uploads:?}");
    let media_id = uploads[0]["media_id"].as_str().unwrap().to_string();
    let images: Vec<Value> = ctx.stub.requests().await.unwrap()["wechat"]["messages"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m["body"]["msgtype"] == "image" && m["accepted"] == true)
        .cloned()
        .collect();
    assert_eq!(images.len(), 2, "{images:?}");
    for image in &images {
        assert_eq!(image["body"]["image"]["media_id"], media_id.as_str());
    }
    assert_eq!(
        ctx.queued(&ctx.run.stack.outbound_dead_letter_queue_url)
            .await,
        0
    );
}

#[tokio::test]
#[ignore = "needs the running functions (make test)"]
async fn media_messages_of_one_conversation_routed_in_one_batch_are_each_recorded() {
    let _guard = RUNNING_STACK_LOCK.lock().await;
    let ctx = setup().await;
    let openid = format!("o{}", unique_digits());
    let mut ids = Vec::new();
    for (i, body) in [amr(10), amr(20), png(9, 9)].iter().enumerate() {
        let id = format!("M{i}X{}", unique_digits());
        let content_type = if i < 2 { "audio/amr" } else { "image/png" };
        ctx.stub
            .register_media("wechat", &id, content_type, body, false, false)
            .await
            .unwrap();
        ids.push(id);
    }
    // Three pushes of one customer, routed together (one batch of the FIFO group).
    for (i, id) in ids.iter().enumerate() {
        let fields = if i < 2 {
            format!("<MediaId><![CDATA[{id}]]></MediaId><Format><![CDATA[amr]]></Format>")
        } else {
            format!("<PicUrl><![CDATA[http://x]]></PicUrl><MediaId><![CDATA[{id}]]></MediaId>")
        };
        let kind = if i < 2 { "voice" } else { "image" };
        ctx.push(&wechat_xml(&openid, &unique_digits(), kind, &fields))
            .await;
    }
    let routed = gatewayctl::local::pump(
        &ctx.sqs,
        &ctx.http,
        &ctx.run.stack.queue_url,
        &ctx.run.invoke_url("message-router"),
    )
    .await
    .unwrap();
    assert_eq!((routed.delivered, routed.failed), (3, 0), "{routed:?}");
    let stats = ctx.fetch().await;
    assert_eq!((stats.delivered, stats.failed), (4, 0), "{stats:?}");
    let items = ctx.thread(&format!("wechat:secure-demo:{openid}")).await;
    let states: Vec<String> = items
        .iter()
        .filter(|i| {
            i.get("direction")
                .and_then(|d| d.as_s().ok())
                .map(String::as_str)
                == Some("in")
        })
        .flat_map(read_media)
        .map(|r| r.state.label().to_string())
        .collect();
    assert_eq!(states, ["stored", "stored", "stored"]);
}
