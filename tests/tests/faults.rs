//! Fault tests against the running stack: the AWS emulator frozen (SIGSTOP) while the router
//! is in the middle of a batch, and the router process killed mid-batch. In both, the
//! records that did not finish are reported failed (or, after a crash, simply not deleted),
//! redelivered after the visibility timeout, and in the end every message is stored exactly
//! once, in order per conversation.
//!
//! The queue outage at the webhook is `e2e.rs`
//! (`queue_outage_answers_503_in_time_and_the_platform_retry_is_queued_once`).
#![allow(clippy::unwrap_used)]

use aws_sdk_sqs::types::MessageSystemAttributeName;
use gateway_core::account::AccountsDocument;
use gateway_core::channel::wechat::simulate::Envelope;
use gateway_tests::{RUNNING_STACK_LOCK, RunningStack, local_accounts_json, sdk, unique};
use gatewayctl::send;
use serde_json::{Value, json};
use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, Instant};

fn accounts() -> AccountsDocument {
    AccountsDocument::from_json(&local_accounts_json()).unwrap()
}

fn unique_digits() -> String {
    unique("9")
        .chars()
        .filter(char::is_ascii_digit)
        .take(18)
        .collect()
}

/// Sends SIGCONT when dropped, so a failing test never leaves the emulator frozen.
struct Frozen(String);

impl Frozen {
    fn freeze(pid: &str) -> Self {
        signal("-STOP", pid);
        Frozen(pid.to_string())
    }
}

impl Drop for Frozen {
    fn drop(&mut self) {
        signal("-CONT", &self.0);
    }
}

fn signal(sig: &str, pid: &str) {
    let status = std::process::Command::new("kill")
        .args([sig, pid])
        .status()
        .unwrap();
    assert!(status.success(), "kill {sig} {pid}");
}

async fn drain(sqs: &aws_sdk_sqs::Client, url: &str) {
    loop {
        let got = sqs
            .receive_message()
            .queue_url(url)
            .max_number_of_messages(10)
            .send()
            .await
            .unwrap();
        if got.messages().is_empty() {
            return;
        }
        for m in got.messages() {
            sqs.delete_message()
                .queue_url(url)
                .receipt_handle(m.receipt_handle().unwrap())
                .send()
                .await
                .unwrap();
        }
    }
}

/// Sends `per_conversation` text messages for each of `conversations` new customers,
/// interleaved, through the plaintext webhook; returns the customers' openids.
async fn send_conversations(
    http: &reqwest::Client,
    run: &RunningStack,
    conversations: usize,
    per_conversation: usize,
) -> Vec<String> {
    let openids: Vec<String> = (0..conversations)
        .map(|_| format!("o{}", unique_digits()))
        .collect();
    let url = run.webhook_url("wechat-webhook", "/wechat/plain-demo");
    for seq in 0..per_conversation {
        for openid in &openids {
            let now = send::now_secs();
            let xml = send::wechat_text_xml(openid, &format!("seq-{seq}"), &unique_digits(), now);
            let request =
                send::wechat_push(&accounts(), "plain-demo", &xml, Envelope::Plaintext, now)
                    .unwrap();
            let (status, body) = send::send(http, &url, &request).await.unwrap();
            assert_eq!((status, body.as_str()), (200, "success"));
        }
    }
    openids
}

/// Receives one batch (up to 10 records) the way the event source mapping does.
async fn receive_batch(sqs: &aws_sdk_sqs::Client, url: &str) -> Vec<aws_sdk_sqs::types::Message> {
    sqs.receive_message()
        .queue_url(url)
        .max_number_of_messages(10)
        .message_system_attribute_names(MessageSystemAttributeName::All)
        .send()
        .await
        .unwrap()
        .messages()
        .to_vec()
}

fn sqs_event(messages: &[aws_sdk_sqs::types::Message]) -> Value {
    let records: Vec<Value> = messages
        .iter()
        .map(|m| {
            let attributes: HashMap<String, String> = m
                .attributes()
                .map(|a| {
                    a.iter()
                        .map(|(k, v)| (k.as_str().to_string(), v.clone()))
                        .collect()
                })
                .unwrap_or_default();
            json!({
                "messageId": m.message_id(),
                "receiptHandle": m.receipt_handle(),
                "body": m.body(),
                "attributes": attributes,
                "messageAttributes": {},
                "md5OfBody": m.md5_of_body(),
                "eventSource": "aws:sqs",
                "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:local-inbound.fifo",
                "awsRegion": "us-east-1"
            })
        })
        .collect();
    json!({ "Records": records })
}

fn group_of(m: &aws_sdk_sqs::types::Message) -> String {
    m.attributes().unwrap()[&MessageSystemAttributeName::MessageGroupId].clone()
}

/// Redelivers `records` (those of one received batch, in batch order) to the router until it
/// reports none failed, then deletes them: what SQS FIFO does for a failed or abandoned
/// batch. Done by hand because the emulator (moto 5.2) redelivers several timed-out in-flight
/// records of one group in the wrong order (newest first: when they become visible together,
/// each but the last is skipped as "group still pending"); real SQS keeps group order.
async fn redeliver_in_order(
    sqs: &aws_sdk_sqs::Client,
    http: &reqwest::Client,
    run: &RunningStack,
    records: &[aws_sdk_sqs::types::Message],
) {
    let mut left: Vec<aws_sdk_sqs::types::Message> = records.to_vec();
    for _ in 0..10 {
        if left.is_empty() {
            break;
        }
        let response: Value = http
            .post(run.invoke_url("message-router"))
            .json(&sqs_event(&left))
            .timeout(Duration::from_secs(120))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let failed: Vec<String> = response["batchItemFailures"]
            .as_array()
            .unwrap_or_else(|| panic!("{response}"))
            .iter()
            .map(|f| f["itemIdentifier"].as_str().unwrap().to_string())
            .collect();
        for m in &left {
            if !failed.iter().any(|f| Some(f.as_str()) == m.message_id()) {
                sqs.delete_message()
                    .queue_url(&run.stack.queue_url)
                    .receipt_handle(m.receipt_handle().unwrap())
                    .send()
                    .await
                    .unwrap();
            }
        }
        left.retain(|m| failed.iter().any(|f| Some(f.as_str()) == m.message_id()));
        if !left.is_empty() {
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
    }
    assert!(left.is_empty(), "{} records never succeeded", left.len());
}

/// Whether the conversation of `openid` has a stored state item yet.
async fn conversation_exists(ddb: &aws_sdk_dynamodb::Client, table: &str, openid: &str) -> bool {
    use aws_sdk_dynamodb::types::AttributeValue;
    ddb.get_item()
        .table_name(table)
        .key(
            "PK",
            AttributeValue::S(format!("CONV#wechat:plain-demo:{openid}")),
        )
        .key("SK", AttributeValue::S("META".into()))
        .send()
        .await
        .map(|r| r.item().is_some())
        .unwrap_or(false)
}

/// Pumps until the inbound queue is empty, waiting out the visibility timeout of records the
/// router reported failed or never answered for. Bounded.
async fn pump_until_empty(sqs: &aws_sdk_sqs::Client, http: &reqwest::Client, run: &RunningStack) {
    let deadline = Instant::now() + Duration::from_secs(90);
    loop {
        let stats = gatewayctl::local::pump(
            sqs,
            http,
            &run.stack.queue_url,
            &run.invoke_url("message-router"),
        )
        .await;
        let visible_or_inflight = sqs
            .get_queue_attributes()
            .queue_url(&run.stack.queue_url)
            .attribute_names(aws_sdk_sqs::types::QueueAttributeName::All)
            .send()
            .await
            .unwrap()
            .attributes()
            .map(|a| {
                [
                    aws_sdk_sqs::types::QueueAttributeName::ApproximateNumberOfMessages,
                    aws_sdk_sqs::types::QueueAttributeName::ApproximateNumberOfMessagesNotVisible,
                ]
                .iter()
                .map(|k| a.get(k).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0))
                .sum::<u64>()
            })
            .unwrap_or(0);
        if matches!(&stats, Ok(s) if s.failed == 0) && visible_or_inflight == 0 {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "queue not drained: {stats:?}, {visible_or_inflight} left"
        );
        tokio::time::sleep(Duration::from_millis(1_500)).await;
    }
}

/// Every customer's conversation holds exactly `per_conversation` messages, each once, and
/// was updated in send order (`recent_dedupe_ids` is the processing order).
async fn assert_stored_once_in_order(
    ddb: &aws_sdk_dynamodb::Client,
    table: &str,
    openids: &[String],
    per_conversation: usize,
) {
    let items = gatewayctl::local::scan_items(ddb, table).await.unwrap();
    for openid in openids {
        let key = format!("CONV#wechat:plain-demo:{openid}");
        let mine: Vec<&Value> = items.iter().filter(|i| i["PK"] == key).collect();
        let messages: Vec<&Value> = mine
            .iter()
            .copied()
            .filter(|i| i["entity"] == "message")
            .collect();
        let text_of: BTreeMap<String, String> = messages
            .iter()
            .map(|m| {
                (
                    m["dedupe_id"].as_str().unwrap().to_string(),
                    m["message"]["content"]["text"]
                        .as_str()
                        .unwrap()
                        .to_string(),
                )
            })
            .collect();
        assert_eq!(messages.len(), per_conversation, "{openid}: {messages:#?}");
        assert_eq!(text_of.len(), per_conversation, "{openid}: a message twice");
        let meta = mine.iter().find(|i| i["SK"] == "META").unwrap();
        assert_eq!(meta["inbound_count"], per_conversation as u64, "{meta}");
        let order: Vec<String> = meta["recent_dedupe_ids"]
            .as_array()
            .unwrap()
            .iter()
            .map(|d| text_of[d.as_str().unwrap()].clone())
            .collect();
        let want: Vec<String> = (0..per_conversation).map(|i| format!("seq-{i}")).collect();
        assert_eq!(order, want, "{openid}: processed out of order");
    }
}

#[tokio::test]
#[ignore = "needs the running functions (make test)"]
async fn dynamodb_frozen_mid_batch_fails_only_unfinished_records_and_retry_stores_each_once_in_order()
 {
    let _guard = RUNNING_STACK_LOCK.lock().await;
    let run = RunningStack::from_env();
    let moto_pid = std::env::var("MOTO_PID").expect("MOTO_PID (make test exports it)");
    let sdk = sdk().await;
    let sqs = aws_sdk_sqs::Client::new(&sdk);
    let ddb = aws_sdk_dynamodb::Client::new(&sdk);
    let http = reqwest::Client::new();
    drain(&sqs, &run.stack.queue_url).await;

    let openids = send_conversations(&http, &run, 3, 4).await;
    let batch = receive_batch(&sqs, &run.stack.queue_url).await;
    assert_eq!(batch.len(), 10);

    // Act: the router starts the batch; as soon as its first write lands, freeze the
    // emulator (DynamoDB and SQS stop answering).
    let invoke = {
        let http = http.clone();
        let url = run.invoke_url("message-router");
        let event = sqs_event(&batch);
        tokio::spawn(async move {
            http.post(url)
                .json(&event)
                .timeout(Duration::from_secs(120))
                .send()
                .await
                .unwrap()
                .json::<Value>()
                .await
                .unwrap()
        })
    };
    let first = &openids[0];
    let started = Instant::now();
    while !conversation_exists(&ddb, &run.stack.table_name, first).await {
        assert!(started.elapsed() < Duration::from_secs(30), "router idle");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let frozen = Frozen::freeze(&moto_pid);
    let response = invoke.await.unwrap();
    let took = started.elapsed();
    drop(frozen);

    // Assert: some records failed, not all; per conversation, failures are a suffix of the
    // batch order (FIFO rule); the batch returned in bounded time (SDK timeouts).
    let failed: Vec<String> = response["batchItemFailures"]
        .as_array()
        .unwrap_or_else(|| panic!("{response}"))
        .iter()
        .map(|f| f["itemIdentifier"].as_str().unwrap().to_string())
        .collect();
    assert!(
        !failed.is_empty() && failed.len() < batch.len(),
        "want a partial failure, got {} of {} failed: {response}",
        failed.len(),
        batch.len()
    );
    assert!(took < Duration::from_secs(60), "batch took {took:?}");
    let mut seen_failure: BTreeMap<String, bool> = BTreeMap::new();
    for m in &batch {
        let is_failed = failed.iter().any(|f| Some(f.as_str()) == m.message_id());
        let group = group_of(m);
        let before = seen_failure.get(&group).copied().unwrap_or(false);
        assert!(
            !before || is_failed,
            "{group}: a record after a failed one was processed"
        );
        seen_failure.insert(group, before || is_failed);
    }
    // The event source mapping deletes the records not reported failed.
    for m in &batch {
        if !failed.iter().any(|f| Some(f.as_str()) == m.message_id()) {
            sqs.delete_message()
                .queue_url(&run.stack.queue_url)
                .receipt_handle(m.receipt_handle().unwrap())
                .send()
                .await
                .unwrap();
        }
    }

    // Recovery: the failed records redelivered in order, then the rest of the queue.
    let failed_records: Vec<_> = batch
        .iter()
        .filter(|m| failed.iter().any(|f| Some(f.as_str()) == m.message_id()))
        .cloned()
        .collect();
    redeliver_in_order(&sqs, &http, &run, &failed_records).await;
    pump_until_empty(&sqs, &http, &run).await;
    assert_stored_once_in_order(&ddb, &run.stack.table_name, &openids, 4).await;
}

/// PIDs of the `message-router` processes of this stack's watcher (their runtime API is
/// this watcher's port), never another stack's.
fn router_pids(lambda_url: &str) -> Vec<String> {
    let needle = format!("AWS_LAMBDA_RUNTIME_API={lambda_url}/.rt/message-router");
    let mut out = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let pid = entry.file_name().to_string_lossy().to_string();
        if !pid.chars().all(|c| c.is_ascii_digit()) {
            continue;
        }
        let comm = std::fs::read_to_string(entry.path().join("comm")).unwrap_or_default();
        if comm.trim() != "message-router" {
            continue;
        }
        let environ = std::fs::read(entry.path().join("environ")).unwrap_or_default();
        if environ.split(|&b| b == 0).any(|kv| kv == needle.as_bytes()) {
            out.push(pid);
        }
    }
    out
}

#[tokio::test]
#[ignore = "needs the running functions (make test)"]
async fn router_killed_mid_batch_redelivery_stores_each_message_once_in_order() {
    // `make test` skips this test by name (tools/test.sh says why): under `cargo lambda watch`
    // (cargo-lambda as pinned here) the invoke after the kill hung for 120 s instead of
    // starting a new process. Run it on its own with
    // `cargo test -p gateway-tests --test faults -- --ignored router_killed`.
    // See docs/reliability.md ("Router crash").
    let _guard = RUNNING_STACK_LOCK.lock().await;
    let run = RunningStack::from_env();
    let sdk = sdk().await;
    let sqs = aws_sdk_sqs::Client::new(&sdk);
    let ddb = aws_sdk_dynamodb::Client::new(&sdk);
    let http = reqwest::Client::new();
    drain(&sqs, &run.stack.queue_url).await;

    // Warm the router so that its process exists before the batch.
    http.post(run.invoke_url("message-router"))
        .json(&json!({ "Records": [] }))
        .send()
        .await
        .unwrap();
    let openids = send_conversations(&http, &run, 2, 5).await;
    let batch = receive_batch(&sqs, &run.stack.queue_url).await;
    assert_eq!(batch.len(), 10);
    let pids = router_pids(&run.lambda_url);
    assert!(!pids.is_empty(), "no message-router process of this stack");

    let invoke = {
        let http = http.clone();
        let url = run.invoke_url("message-router");
        let event = sqs_event(&batch);
        tokio::spawn(async move {
            http.post(url)
                .json(&event)
                .timeout(Duration::from_secs(60))
                .send()
                .await
        })
    };
    // Kill it as soon as its first write has landed: mid-batch.
    let started = Instant::now();
    while !conversation_exists(&ddb, &run.stack.table_name, &openids[0]).await {
        assert!(started.elapsed() < Duration::from_secs(30), "router idle");
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    assert!(!invoke.is_finished(), "the batch ended before the kill");
    for pid in router_pids(&run.lambda_url) {
        signal("-KILL", &pid);
    }
    let outcome = invoke.await.unwrap();
    let answered_ok = matches!(&outcome, Ok(r) if r.status().is_success());
    if let Ok(r) = outcome {
        let body: Value = r.json().await.unwrap_or(Value::Null);
        assert!(
            !answered_ok || body.get("errorType").is_some() || body.is_null(),
            "a killed router cannot have answered a batch result: {body}"
        );
    }

    // Nothing was deleted: the whole batch comes back (in order), and the watcher starts a
    // new router process on the next invoke; then the rest of the queue.
    redeliver_in_order(&sqs, &http, &run, &batch).await;
    pump_until_empty(&sqs, &http, &run).await;
    assert_stored_once_in_order(&ddb, &run.stack.table_name, &openids, 5).await;
    let restarted = router_pids(&run.lambda_url);
    assert!(
        restarted.iter().all(|p| !pids.contains(p)),
        "{pids:?} -> {restarted:?}"
    );
}
