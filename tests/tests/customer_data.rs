//! A customer's data request end to end: a customer writes (a complaint and a picture) through
//! the running webhook, the router, the media fetcher and an agent's reply through the reply
//! sender; `gatewayctl customer export` writes all of it out, and `gatewayctl customer erase`
//! deletes it, after which no item of the whole table and no object of the whole media bucket
//! names the customer, while another customer of the same account is untouched.
#![allow(clippy::unwrap_used)]

use gateway_aws::SqsReplyQueue;
use gateway_core::channel::wechat::simulate::Envelope;
use gateway_core::message::Channel;
use gateway_core::outbound::{REPLY_SCHEMA_VERSION, ReplyCommand, ReplyOrigin};
use gateway_core::ports::ReplyQueue;
use gateway_core::reply::ReplyContent;
use gateway_core::reply::template::TemplateField;
use gateway_tests::media_files::png;
use gateway_tests::{RUNNING_STACK_LOCK, RunningStack, accounts, platforms, sdk, unique_digits};
use gatewayctl::send;
use gatewayctl::stub::StubAdmin;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use std::path::Path;

const ACCOUNT: &str = "secure-demo";

struct Ctx {
    run: RunningStack,
    sqs: aws_sdk_sqs::Client,
    ddb: aws_sdk_dynamodb::Client,
    s3: aws_sdk_s3::Client,
    http: reqwest::Client,
    stub: StubAdmin,
}

impl Ctx {
    async fn new() -> Self {
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
            &[ACCOUNT.to_string()],
        )
        .await;
        ctx.drain_work().await;
        ctx
    }

    /// Empties the inbound, media and outbound queues.
    async fn drain_work(&self) {
        let stack = &self.run.stack;
        platforms::drain_all(
            &self.sqs,
            &[
                &stack.queue_url,
                &stack.media_queue_url,
                &stack.outbound_queue_url,
            ],
        )
        .await;
    }

    /// A WeChat push from `openid` through the running webhook, then the router.
    async fn push(&self, openid: &str, kind: &str, fields: &str) {
        let xml = format!(
            "<xml><ToUserName><![CDATA[gh_demo]]></ToUserName><FromUserName><![CDATA[{openid}]]></FromUserName>\
             <CreateTime>{}</CreateTime><MsgType><![CDATA[{kind}]]></MsgType>{fields}<MsgId>{}</MsgId></xml>",
            send::now_secs(),
            unique_digits()
        );
        let request = send::wechat_push(
            &accounts(),
            ACCOUNT,
            &xml,
            Envelope::Secure,
            send::now_secs(),
        )
        .unwrap();
        let url = self
            .run
            .webhook_url("wechat-webhook", &format!("/wechat/{ACCOUNT}"));
        let (status, body) = send::send(&self.http, &url, &request).await.unwrap();
        assert_eq!((status, body.as_str()), (200, "success"));
        self.pump(&self.run.stack.queue_url, "message-router").await;
    }

    async fn pump(&self, queue_url: &str, function: &str) {
        let stats = gatewayctl::local::pump(
            &self.sqs,
            &self.http,
            queue_url,
            &self.run.invoke_url(function),
        )
        .await
        .unwrap();
        assert_eq!(stats.failed, 0, "{function}: {stats:?}");
    }

    /// An agent's reply to `openid`, through the outbound queue and the reply sender.
    async fn agent_reply(&self, openid: &str, content: ReplyContent) -> String {
        let command = ReplyCommand {
            schema_version: REPLY_SCHEMA_VERSION,
            idempotency_key: format!("agent:test:{}", unique_digits()),
            channel: Channel::WeChat,
            account_id: ACCOUNT.into(),
            conversation_key: format!("wechat:{ACCOUNT}:{openid}"),
            recipient_id: openid.into(),
            content,
            origin: ReplyOrigin::Agent {
                client_id: "test".into(),
                agent_id: None,
            },
            created_at_ms: chrono::Utc::now().timestamp_millis(),
        };
        SqsReplyQueue::new(self.sqs.clone(), &self.run.stack.outbound_queue_url)
            .enqueue(&command)
            .await
            .unwrap();
        self.pump(&self.run.stack.outbound_queue_url, "reply-sender")
            .await;
        command.dedupe_id()
    }

    /// The company CRM (the local accounts' `demo-crm` client) sets its name for the WeChat
    /// customer known by `unionid`, through the running reply-api, signed.
    async fn crm_contact(&self, unionid: &str, body: &str) {
        let path = format!("/contacts/wechat/{ACCOUNT}/{unionid}");
        let client = "demo-crm";
        let secret = accounts().api_clients[client].secret.expose().to_string();
        let response = gateway_tests::reply_api::signed(
            &self.http,
            &self.run,
            "PUT",
            &path,
            client,
            &secret,
            send::now_secs(),
            body,
        )
        .await;
        let status = response.status().as_u16();
        let answer = response.text().await.unwrap();
        assert_eq!(status, 200, "{answer}");
    }

    /// Every item of the table as JSON text.
    async fn table_texts(&self) -> Vec<String> {
        gatewayctl::local::scan_items(&self.ddb, &self.run.stack.table_name)
            .await
            .unwrap()
            .iter()
            .map(Value::to_string)
            .collect()
    }

    /// Every object key of the media bucket.
    async fn object_keys(&self) -> Vec<String> {
        let mut keys = Vec::new();
        let mut token = None;
        loop {
            let page = self
                .s3
                .list_objects_v2()
                .bucket(&self.run.stack.media_bucket)
                .set_continuation_token(token)
                .send()
                .await
                .unwrap();
            keys.extend(
                page.contents()
                    .iter()
                    .filter_map(|o| o.key().map(String::from)),
            );
            match page.next_continuation_token() {
                Some(next) => token = Some(next.to_string()),
                None => break,
            }
        }
        keys
    }

    /// `gatewayctl customer …` against the running stack: (exit status, stdout, stderr).
    fn ctl(&self, args: &[&str]) -> (i32, String, String) {
        let out = std::process::Command::new(gateway_tests::sandbox::function_binary("gatewayctl"))
            .arg("customer")
            .args(args)
            .args([
                "--table",
                &self.run.stack.table_name,
                "--bucket",
                &self.run.stack.media_bucket,
            ])
            .output()
            .unwrap();
        (
            out.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    }
}

fn read_json(path: &Path) -> Value {
    serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
}

#[tokio::test]
#[ignore = "needs the running functions (make test)"]
async fn export_writes_everything_kept_about_a_customer_and_erase_leaves_nothing_of_them() {
    let _guard = RUNNING_STACK_LOCK.lock().await;
    let ctx = Ctx::new().await;
    let customer = format!("oErase{}", unique_digits());
    let other = format!("oKeep{}", unique_digits());
    let key = format!("wechat:{ACCOUNT}:{customer}");
    let unionid = format!("uErase{}", unique_digits());
    // WeChat knows the customer by a unionid (the account is bound to an open platform).
    ctx.stub
        .profile(
            "wechat",
            &customer,
            json!({"subscribe": 1, "language": "zh_CN", "remark": "退款客户", "unionid": unionid}),
        )
        .await
        .unwrap();

    // The customer complains, sends a picture (kept in the media bucket) and is answered.
    ctx.push(
        &customer,
        "text",
        "<Content><![CDATA[投诉: 退款还没到]]></Content>",
    )
    .await;
    let picture = png(24, 16);
    let media_id = format!("IMG{}", unique_digits());
    ctx.stub
        .register_media("wechat", &media_id, "image/png", &picture, false, false)
        .await
        .unwrap();
    ctx.push(
        &customer,
        "image",
        &format!("<PicUrl><![CDATA[http://mmbiz.qpic.cn/x]]></PicUrl><MediaId><![CDATA[{media_id}]]></MediaId>"),
    )
    .await;
    ctx.pump(&ctx.run.stack.media_queue_url, "media-fetcher")
        .await;
    // The company's CRM names the customer it knows by that unionid.
    ctx.crm_contact(&unionid, r#"{"name":"王芳","external_id":"CRM-7"}"#)
        .await;
    let reply_id = ctx
        .agent_reply(&customer, ReplyContent::text("退款已在处理, 请稍候"))
        .await;
    // A template follow-up: its delivery record and its msgid lookup item.
    let template = ReplyContent::Template {
        template_id: "refund-done".into(),
        data: [("first".to_string(), TemplateField::new("退款已到账"))].into(),
        url: None,
        miniprogram: None,
    };
    let template_id = ctx.agent_reply(&customer, template).await;
    // Another customer of the same account.
    ctx.push(&other, "text", "<Content><![CDATA[你好]]></Content>")
        .await;

    let mentions = |texts: &[String], id: &str| texts.iter().filter(|t| t.contains(id)).count();
    let before = ctx.table_texts().await;
    assert!(
        mentions(&before, &customer) >= 4,
        "conversation, 2 messages, reply"
    );
    assert!(
        before
            .iter()
            .any(|t| t.contains(&format!("REPLY#{reply_id}")) && t.contains(&customer)),
        "the reply's delivery record names the conversation"
    );
    let encoded = gateway_core::media::conversation_prefix(Channel::WeChat, ACCOUNT, &key).unwrap();
    assert_eq!(
        ctx.object_keys()
            .await
            .iter()
            .filter(|k| k.starts_with(&encoded))
            .count(),
        1,
        "the picture is kept"
    );

    // Export.
    let dir = std::env::temp_dir().join(format!("customer-export-{}", unique_digits()));
    let id_args = ["--channel", "wechat", "--account", ACCOUNT, "--id"];
    let (code, out, err) = ctx.ctl(
        &[
            &["export"][..],
            &id_args[..],
            &[customer.as_str(), "--out", dir.to_str().unwrap()][..],
        ]
        .concat(),
    );
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("1 media file(s)"), "{out}");
    let doc = read_json(&dir.join("customer.json"));
    assert_eq!(doc["customer"]["conversation_key"], key.as_str());
    assert_eq!(doc["conversation"]["PK"], format!("CONV#{key}").as_str());
    let thread = doc["thread"].as_array().unwrap();
    let directions: Vec<&str> = thread
        .iter()
        .map(|m| m["direction"].as_str().unwrap_or(""))
        .collect();
    // The complaint, the picture, the crisis rule's acknowledgement, the agent's reply, the
    // template follow-up.
    assert_eq!(directions, ["in", "in", "out", "out", "out"], "{thread:?}");
    assert!(doc.to_string().contains("退款还没到"));
    assert!(
        doc["linked_items"]
            .as_array()
            .unwrap()
            .iter()
            .any(|i| i["PK"] == format!("REPLY#{reply_id}").as_str()),
        "{}",
        doc["linked_items"]
    );
    for pk in [
        format!("REPLY#{template_id}"),
        "TPLMSG#".to_string(),
        format!("CRM#wechat#{ACCOUNT}#{unionid}"),
    ] {
        assert!(
            doc["linked_items"]
                .as_array()
                .unwrap()
                .iter()
                .any(|i| i["PK"].as_str().unwrap().starts_with(&pk)),
            "{pk}: {}",
            doc["linked_items"]
        );
    }
    let media = doc["media"].as_array().unwrap();
    assert_eq!(media.len(), 1);
    let file = std::fs::read(dir.join(media[0]["file"].as_str().unwrap())).unwrap();
    assert_eq!(file, picture);
    assert_eq!(media[0]["sha256"], hex::encode(Sha256::digest(&picture)));
    assert!(!doc.to_string().contains(&other), "nobody else's data");
    // A second export never writes over the first.
    let (code, _, err) = ctx.ctl(
        &[
            &["export"][..],
            &id_args[..],
            &[customer.as_str(), "--out", dir.to_str().unwrap()][..],
        ]
        .concat(),
    );
    assert_eq!(code, 1);
    assert!(err.contains("is not empty"), "{err}");

    // Erase: without --yes nothing is deleted.
    let erase = [&["erase"][..], &id_args[..], &[customer.as_str()][..]].concat();
    let (code, out, err) = ctx.ctl(&erase);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("nothing deleted"), "{out}");
    assert_eq!(
        mentions(&ctx.table_texts().await, &customer),
        mentions(&before, &customer)
    );

    let (code, out, err) = ctx.ctl(&[&erase[..], &["--yes"][..]].concat());
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("nothing of them is left"), "{out}");

    // Nothing of them is left: no item of the whole table and no object of the whole bucket.
    let after = ctx.table_texts().await;
    let left: Vec<&String> = after
        .iter()
        .filter(|t| t.contains(&customer) || t.contains(&unionid))
        .collect();
    assert!(left.is_empty(), "left: {left:?}");
    assert!(
        !ctx.object_keys()
            .await
            .iter()
            .any(|k| k.starts_with(&encoded)),
        "media left"
    );
    // The other customer is untouched.
    assert_eq!(mentions(&after, &other), mentions(&before, &other));
    assert!(mentions(&after, &other) >= 2);
    // Erasing again finds nothing and says so.
    let (code, out, _) = ctx.ctl(&[&erase[..], &["--yes"][..]].concat());
    assert_eq!(code, 0);
    assert!(out.contains("nothing is kept"), "{out}");
    std::fs::remove_dir_all(&dir).unwrap();
    // Leave no work behind for the tests that follow (the other customer's out-of-hours reply
    // and profile command, by the shipped rules).
    ctx.drain_work().await;
}
