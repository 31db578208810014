//! Webhook targets end to end: an event published to the stack's bus (`PutEvents`), the
//! emulator's EventBridge rule putting it on the webhook queue, `webhook-sender` running under
//! `cargo lambda watch` (fed by `gatewayctl::local::pump`, standing in for the Lambda SQS
//! event source), and the platform stand-ins' webhook receivers (`POST /webhook/{name}`,
//! scripted to fail), which record what they got. Signatures are checked here with `hmac`
//! directly, not with the sender's code.
//!
//! Most tests publish events in the producer's shape (`docs/events.md`) themselves, to script
//! the receivers around one event; the last one starts from a customer's complaint through the
//! signed webhook: the router escalates, the table's stream goes to `stats-aggregator`, which
//! publishes `conversation.escalated` on the bus, and the CRM's receiver gets it. The tests replace the webhook targets' accounts secret
//! (`{base}-webhook-targets`, read only by `webhook-sender`) with receivers on the stand-ins,
//! whose port is known only once the stack runs, and hold the stack lock.
#![allow(clippy::unwrap_used)]

use aws_sdk_eventbridge::types::PutEventsRequestEntry;
use gateway_core::account::{AccountsRole, ApiClient, Secret, WebhookTarget};
use gateway_tests::{RUNNING_STACK_LOCK, RunningStack, accounts, sdk, unique, unique_digits};
use gatewayctl::local::{put_secret, role_secret_id};
use gatewayctl::stub::StubAdmin;
use hmac::{Hmac, KeyInit, Mac};
use serde_json::{Value, json};
use sha2::Sha256;
use std::time::{Duration, Instant};

struct Ctx {
    run: RunningStack,
    sqs: aws_sdk_sqs::Client,
    events: aws_sdk_eventbridge::Client,
    http: reqwest::Client,
    stub: StubAdmin,
}

/// A receiver registered for the test: its client id, secret and stand-in name.
struct Receiver {
    client: String,
    secret: String,
}

async fn setup() -> Ctx {
    let run = RunningStack::from_env();
    let sdk = sdk().await;
    let ctx = Ctx {
        sqs: aws_sdk_sqs::Client::new(&sdk),
        events: aws_sdk_eventbridge::Client::new(&sdk),
        http: gatewayctl::http_client(),
        stub: gateway_tests::platforms::stub(),
        run,
    };
    ctx.stub.reset().await.unwrap();
    for url in [
        &ctx.run.stack.webhook_queue_url,
        &ctx.run.stack.webhook_dead_letter_queue_url,
    ] {
        gateway_tests::drain_messages(&ctx.sqs, url).await;
    }
    ctx
}

/// Registers one webhook per `(scope, events)`: the local accounts document with API clients
/// whose receivers are the stand-in's, written to the webhook targets' secret.
async fn register(ctx: &Ctx, clients: &[(&str, Option<&[&str]>)]) -> Vec<Receiver> {
    let mut doc = accounts();
    let mut receivers = Vec::new();
    for (scope, events) in clients {
        let client = unique("hook").replace(|c: char| !c.is_ascii_alphanumeric(), "-");
        let secret = format!("whsec-{}", unique_digits());
        doc.api_clients.insert(
            client.clone(),
            ApiClient {
                secret: Secret::new("reply-api-secret-0123456789"),
                accounts: vec![scope.to_string()],
                webhook: Some(WebhookTarget {
                    url: format!("{}/webhook/{client}", ctx.stub.base_url),
                    secret: Secret::new(secret.clone()),
                    events: events.map(|e| e.iter().map(|s| s.to_string()).collect()),
                }),
            },
        );
        receivers.push(Receiver { client, secret });
    }
    doc.validate().unwrap();
    let sdk = sdk().await;
    put_secret(
        &aws_sdk_secretsmanager::Client::new(&sdk),
        &role_secret_id(
            &ctx.run.stack.accounts_secret_id,
            AccountsRole::WebhookTargets,
        ),
        &serde_json::to_string(&doc.project(AccountsRole::WebhookTargets)).unwrap(),
    )
    .await
    .unwrap();
    // The sender caches the document for ACCOUNTS_CACHE_SECS (1 s locally) and refreshes it in
    // the background, serving the cached one meanwhile: once that time has passed, one record
    // nobody subscribes to starts the refresh, which then has time to finish.
    tokio::time::sleep(Duration::from_millis(1200)).await;
    let nobody = escalation("no-such-account");
    let answer: Value = ctx
        .http
        .post(ctx.run.invoke_url("webhook-sender"))
        .json(&json!({"Records": [{
            "messageId": unique("warm-up"),
            "receiptHandle": "warm-up",
            "body": nobody.to_string(),
            "attributes": {"ApproximateReceiveCount": "1"},
            "messageAttributes": {},
            "eventSource": "aws:sqs"
        }]}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(answer["batchItemFailures"], json!([]), "{answer}");
    tokio::time::sleep(Duration::from_millis(1000)).await;
    receivers
}

/// A `conversation.escalated` event of `wechat:{account}`, as the producer publishes it.
fn escalation(account: &str) -> Value {
    let openid = format!("o{}", unique_digits());
    json!({
        "version": 1,
        "id": format!("evt-{}", unique_digits()),
        "type": "conversation.escalated",
        "occurred_at": "2026-12-06T10:00:00.123Z",
        "channel": "wechat",
        "account": account,
        "conversation_key": format!("wechat#{account}#{openid}"),
        "customer_id": openid,
        "sequence": unique_digits(),
        "data": {"reason": "keyword", "priority": "high", "team": "crisis"}
    })
}

/// Publishes `event` to the stack's bus as the producer does.
async fn publish(ctx: &Ctx, event: &Value) {
    let answer = ctx
        .events
        .put_events()
        .entries(
            PutEventsRequestEntry::builder()
                .event_bus_name(&ctx.run.stack.event_bus_name)
                .source("channel-gateway")
                .detail_type(event["type"].as_str().unwrap())
                .detail(event.to_string())
                .build(),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(answer.failed_entry_count(), 0, "{answer:?}");
}

/// Pumps the webhook queue into the running sender until `done` holds (failed records come
/// back after their backoff), or fails after `limit`.
async fn pump_until<F, Fut>(ctx: &Ctx, limit: Duration, done: F)
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let start = Instant::now();
    loop {
        gatewayctl::local::pump(
            &ctx.sqs,
            &ctx.http,
            &ctx.run.stack.webhook_queue_url,
            &ctx.run.invoke_url("webhook-sender"),
        )
        .await
        .unwrap();
        if done().await {
            return;
        }
        assert!(start.elapsed() < limit, "not done within {limit:?}");
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
}

/// Checks the signature of one recorded request with the receiver's secret, as a receiver
/// would: `sha256=hex(HMAC-SHA256(secret, "{timestamp}.{body}"))`, timestamp within 5 minutes.
fn assert_signed(request: &Value, secret: &str) {
    let headers = &request["headers"];
    let timestamp = headers["x-gateway-timestamp"].as_str().unwrap();
    let body = request["body"].as_str().unwrap();
    let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(format!("{timestamp}.{body}").as_bytes());
    let expected = format!("sha256={}", hex::encode(mac.finalize().into_bytes()));
    assert_eq!(headers["x-gateway-signature"], expected.as_str());
    let sent: i64 = timestamp.parse().unwrap();
    assert!((chrono::Utc::now().timestamp() - sent).abs() < 300);
}

/// Runs the receiver's `verify` of docs/webhooks.md (its first Python block), as written, on a
/// recorded request; returns what it answered.
fn doc_example_verifies(request: &Value, secret: &str) -> bool {
    let doc = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/webhooks.md"))
        .unwrap();
    let start = doc.find("```python\n").unwrap() + "```python\n".len();
    let code = &doc[start..start + doc[start..].find("```").unwrap()];
    let script = format!(
        "{code}\nimport json, sys\nr = json.load(sys.stdin)\n\
         headers = {{'X-Gateway-Timestamp': r['headers']['x-gateway-timestamp'], 'X-Gateway-Signature': r['headers']['x-gateway-signature']}}\n\
         print(verify(r['secret'].encode(), headers, r['body'].encode()))\n"
    );
    let mut child = std::process::Command::new("python3")
        .args(["-c", &script])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let input = json!({"headers": request["headers"], "body": request["body"], "secret": secret});
    use std::io::Write;
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.to_string().as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "{out:?}");
    String::from_utf8(out.stdout).unwrap().trim() == "True"
}

async fn requests(ctx: &Ctx, receiver: &Receiver) -> Vec<Value> {
    ctx.stub.webhook_requests(&receiver.client).await.unwrap()
}

#[tokio::test]
#[ignore = "needs the running local stack (make test)"]
async fn an_escalation_reaches_the_registered_receiver_signed_and_is_retried_after_failures() {
    let _lock = RUNNING_STACK_LOCK.lock().await;
    let ctx = setup().await;
    // Arrange: one receiver for wechat:demo, failing twice with 500; one for another account.
    let receivers = register(&ctx, &[("wechat:demo", None), ("wechat:secure-demo", None)]).await;
    let (crm, elsewhere) = (&receivers[0], &receivers[1]);
    ctx.stub.fail_webhook(&crm.client, 500, 2).await.unwrap();
    let event = escalation("demo");
    // Act
    publish(&ctx, &event).await;
    pump_until(&ctx, Duration::from_secs(60), || async {
        requests(&ctx, crm).await.iter().any(|r| r["status"] == 200)
    })
    .await;
    // Assert: two failed attempts, then one delivery, the same event each time.
    let got = requests(&ctx, crm).await;
    let statuses: Vec<_> = got.iter().map(|r| r["status"].as_u64().unwrap()).collect();
    assert_eq!(statuses, [500, 500, 200]);
    for request in &got {
        assert_signed(request, &crm.secret);
        let headers = &request["headers"];
        assert_eq!(headers["content-type"], "application/json");
        assert_eq!(headers["x-gateway-event"], "conversation.escalated");
        assert_eq!(headers["x-gateway-event-id"], event["id"]);
        let body: Value = serde_json::from_str(request["body"].as_str().unwrap()).unwrap();
        assert_eq!(body, event);
    }
    // The receiver's verification example of docs/webhooks.md accepts the delivery as sent and
    // refuses it with another secret or a changed body.
    let delivered = &got[2];
    assert!(doc_example_verifies(delivered, &crm.secret));
    assert!(!doc_example_verifies(delivered, "another-secret-0123456"));
    let mut tampered = delivered.clone();
    tampered["body"] = json!(delivered["body"].as_str().unwrap().replace("high", "low"));
    assert!(!doc_example_verifies(&tampered, &crm.secret));
    // The client scoped to another account got nothing; nothing was dead-lettered.
    assert!(requests(&ctx, elsewhere).await.is_empty());
    let dead =
        gateway_tests::drain_messages(&ctx.sqs, &ctx.run.stack.webhook_dead_letter_queue_url).await;
    assert!(dead.is_empty(), "{dead:?}");
}

#[tokio::test]
#[ignore = "needs the running local stack (make test)"]
async fn a_refusing_receiver_sends_the_event_to_the_dead_letter_queue_with_the_reason() {
    let _lock = RUNNING_STACK_LOCK.lock().await;
    let ctx = setup().await;
    let receivers = register(&ctx, &[("wechat:demo", Some(&["conversation.escalated"]))]).await;
    let crm = &receivers[0];
    ctx.stub.fail_webhook(&crm.client, 400, 1).await.unwrap();
    let event = escalation("demo");
    publish(&ctx, &event).await;
    let dlq = &ctx.run.stack.webhook_dead_letter_queue_url;
    let mut dead = Vec::new();
    pump_until(&ctx, Duration::from_secs(30), || async {
        !requests(&ctx, crm).await.is_empty()
    })
    .await;
    for _ in 0..20 {
        dead.extend(gateway_tests::drain_messages(&ctx.sqs, dlq).await);
        if !dead.is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // One attempt, no retry: the letter names the client and the refusal.
    assert_eq!(requests(&ctx, crm).await.len(), 1);
    assert_eq!(dead.len(), 1, "{dead:?}");
    let attribute = |name: &str| {
        dead[0]
            .message_attributes()
            .and_then(|a| a.get(name))
            .and_then(|v| v.string_value())
            .unwrap_or_default()
            .to_string()
    };
    assert!(
        attribute("reason").starts_with("http 400: {\"error\":\"scripted failure\"}"),
        "{}",
        attribute("reason")
    );
    assert_eq!(attribute("webhook_client"), crm.client);
    // The letter is a delivery for that client only, carrying the event.
    let letter: Value = serde_json::from_str(dead[0].body().unwrap()).unwrap();
    assert_eq!(letter["webhook_client"], crm.client.as_str());
    let carried: Value = serde_json::from_str(letter["event"].as_str().unwrap()).unwrap();
    assert_eq!(carried, event);
}

#[tokio::test]
#[ignore = "needs the running local stack (make test)"]
async fn two_receivers_each_get_the_event_once_and_unsubscribed_ones_none() {
    let _lock = RUNNING_STACK_LOCK.lock().await;
    let ctx = setup().await;
    let receivers = register(
        &ctx,
        &[
            ("wechat:demo", None),
            ("wechat:demo", Some(&["conversation.escalated"])),
            ("wechat:demo", Some(&["reply.delivered"])),
        ],
    )
    .await;
    // The first receiver fails once: the second must not get a second copy for it.
    ctx.stub
        .fail_webhook(&receivers[0].client, 503, 1)
        .await
        .unwrap();
    let event = escalation("demo");
    publish(&ctx, &event).await;
    pump_until(&ctx, Duration::from_secs(60), || async {
        let a = requests(&ctx, &receivers[0]).await;
        let b = requests(&ctx, &receivers[1]).await;
        a.iter().any(|r| r["status"] == 200) && b.iter().any(|r| r["status"] == 200)
    })
    .await;
    // Let anything left over come back (a visibility timeout) and be handled.
    tokio::time::sleep(Duration::from_secs(6)).await;
    pump_until(&ctx, Duration::from_secs(10), || async { true }).await;
    let first = requests(&ctx, &receivers[0]).await;
    let second = requests(&ctx, &receivers[1]).await;
    let statuses = |got: &[Value]| {
        got.iter()
            .map(|r| r["status"].as_u64().unwrap())
            .collect::<Vec<_>>()
    };
    assert_eq!(statuses(&first), [503, 200]);
    assert_eq!(statuses(&second), [200]);
    assert_signed(&first[1], &receivers[0].secret);
    assert_signed(&second[0], &receivers[1].secret);
    assert!(requests(&ctx, &receivers[2]).await.is_empty());
}

/// Rules for the end-to-end test: a complaint escalates the conversation.
const CRISIS_RULES: &str = r#"
version: 1
rules:
  - id: crisis
    when: { text_contains_any: ["投诉"] }
    then:
      - escalate: { response_target_secs: 60 }
      - add_tags: [crisis]
      - assign: { team: escalations }
"#;

#[tokio::test]
#[ignore = "needs the running local stack (make test)"]
async fn a_customers_complaint_escalated_by_the_router_reaches_the_crm_signed_and_retried() {
    let _lock = RUNNING_STACK_LOCK.lock().await;
    let ctx = setup().await;
    let sdk = sdk().await;
    let ddb = aws_sdk_dynamodb::Client::new(&sdk);
    let table = &ctx.run.stack.table_name;
    gateway_aws::DynamoDbRulesStore::new(ddb.clone(), table)
        .push(CRISIS_RULES, gatewayctl::send::now_secs() * 1000)
        .await
        .unwrap()
        .unwrap();
    // A CRM following escalations of wechat:demo, failing its first delivery.
    let receivers = register(&ctx, &[("wechat:demo", Some(&["conversation.escalated"]))]).await;
    let crm = &receivers[0];
    ctx.stub.fail_webhook(&crm.client, 500, 1).await.unwrap();
    // The table's stream from now on, as stats-aggregator's event source reads it.
    let mut stream = gatewayctl::stream_source::StreamReader::open(
        &ddb,
        &ctx.http,
        &gateway_tests::endpoint(),
        table,
        true,
    )
    .await
    .unwrap();

    // A customer complains through the signed webhook; the router escalates.
    let openid = format!("oCrm{}", unique_digits());
    let now = gatewayctl::send::now_secs();
    let xml =
        gatewayctl::send::wechat_text_xml(&openid, "我要投诉: 三天没人回复", &unique_digits(), now);
    let request = gatewayctl::send::wechat_push(
        &accounts(),
        "demo",
        &xml,
        gateway_core::channel::wechat::simulate::Envelope::Compatible,
        now,
    )
    .unwrap();
    let url = ctx.run.webhook_url("wechat-webhook", "/wechat/demo");
    let (status, _) = gatewayctl::send::send(&ctx.http, &url, &request)
        .await
        .unwrap();
    assert_eq!(status, 200);
    gatewayctl::local::pump(
        &ctx.sqs,
        &ctx.http,
        &ctx.run.stack.queue_url,
        &ctx.run.invoke_url("message-router"),
    )
    .await
    .unwrap();

    // The stream to stats-aggregator (which publishes on the bus), the bus rule to the webhook
    // queue, the queue to webhook-sender, until the CRM has the event.
    let start = Instant::now();
    loop {
        stream
            .deliver(&ctx.run.invoke_url("stats-aggregator"))
            .await
            .unwrap();
        gatewayctl::local::pump(
            &ctx.sqs,
            &ctx.http,
            &ctx.run.stack.webhook_queue_url,
            &ctx.run.invoke_url("webhook-sender"),
        )
        .await
        .unwrap();
        if requests(&ctx, crm).await.iter().any(|r| r["status"] == 200) {
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "the escalation did not reach the CRM: {:?}",
            requests(&ctx, crm).await
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    let key = format!("wechat:demo:{openid}");
    let got = requests(&ctx, crm).await;
    let statuses: Vec<_> = got.iter().map(|r| r["status"].as_u64().unwrap()).collect();
    assert_eq!(statuses, [500, 200], "the failed delivery, then its retry");
    let bodies: Vec<Value> = got
        .iter()
        .map(|r| serde_json::from_str(r["body"].as_str().unwrap()).unwrap())
        .collect();
    for (request, body) in got.iter().zip(&bodies) {
        assert_signed(request, &crm.secret);
        // Only the subscribed type, about this customer, from the producer.
        assert_eq!(body["type"], "conversation.escalated", "{body}");
        assert_eq!(body["conversation_key"], key.as_str());
        assert_eq!(body["customer_id"], openid.as_str());
        assert_eq!(
            body["data"]["conversation"]["team"], "escalations",
            "{body}"
        );
    }
    assert_eq!(bodies[0], bodies[1], "the retry carries the same event");
}
