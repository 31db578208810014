//! Load run through the functions running locally under `cargo lambda watch --release`
//! (started by `bench/load.sh`), against the local AWS emulator.
//!
//! 1. Sends `--messages` correctly signed pushes across `--conversations` conversations, mixed
//!    WeChat plaintext / secure / compatible and Weibo JSON, with `--concurrency` requests in
//!    flight, and re-sends every `--retry-every`-th message (the platform's retry), timing
//!    each webhook request.
//! 2. Meanwhile drives the router the way the SQS event source mapping does (batches of up to
//!    10, partial batch failures honoured, redeliveries after the visibility timeout), timing
//!    each invocation, and consumes the outbound queue as the reply sender would.
//! 3. Reconciles DynamoDB against what was sent: every message stored exactly once (no loss,
//!    no duplicate), every conversation's `inbound_count` right, nothing dead-lettered, the
//!    queue drained.
//!
//! Prints one JSON object. Traffic goes to 127.0.0.1 only; every loop is bounded in count and
//! time.

#[path = "../../../shared/gateway-core/benches/common/mod.rs"]
#[allow(unused_imports)]
mod common;

use anyhow::{Context, Result, bail};
use aws_sdk_sqs::types::{MessageSystemAttributeName, QueueAttributeName};
use gateway_core::channel::{Limits, WebhookOutcome, wechat, weibo};
use serde_json::{Value, json};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// Longest a phase may run.
const PHASE_LIMIT: Duration = Duration::from_secs(900);

struct Args {
    lambda_url: String,
    messages: usize,
    conversations: usize,
    concurrency: usize,
    retry_every: usize,
}

fn parse_args() -> Result<Args> {
    let mut args = Args {
        lambda_url: std::env::var("GATEWAY_LAMBDA_URL").unwrap_or_default(),
        messages: 1200,
        conversations: 240,
        concurrency: 4,
        retry_every: 20,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let value = it.next().with_context(|| format!("{flag} needs a value"))?;
        match flag.as_str() {
            "--lambda-url" => args.lambda_url = value,
            "--messages" => args.messages = value.parse()?,
            "--conversations" => args.conversations = value.parse()?,
            "--concurrency" => args.concurrency = value.parse()?,
            "--retry-every" => args.retry_every = value.parse()?,
            other => bail!("unknown argument {other}"),
        }
    }
    if !args.lambda_url.starts_with("http://127.0.0.1:") {
        bail!("--lambda-url (or GATEWAY_LAMBDA_URL) must be http://127.0.0.1:PORT");
    }
    if args.conversations == 0 || args.concurrency == 0 || args.concurrency > 64 {
        bail!("--conversations must be > 0 and --concurrency in 1..=64");
    }
    Ok(args)
}

fn env(name: &str) -> Result<String> {
    std::env::var(name).with_context(|| format!("{name} is not set (run through bench/load.sh)"))
}

/// One signed push, with what the gateway must make of it.
struct Push {
    kind: &'static str,
    url: String,
    body: Vec<u8>,
    content_type: &'static str,
    ack: &'static str,
    conversation_key: String,
    dedupe_id: String,
}

fn build_pushes(args: &Args) -> Result<Vec<Push>> {
    let accounts = common::accounts();
    let now_ms = SystemTime::now().duration_since(UNIX_EPOCH)?.as_millis() as i64;
    let now = now_ms / 1000;
    let mut out = Vec::with_capacity(args.messages);
    for i in 0..args.messages {
        let conversation = i % args.conversations;
        let text = format!("第{i}条消息：{}", common::TEXT);
        let nonce = format!("{}", 100_000 + i);
        let push = match conversation % 4 {
            kind @ 0..=2 => {
                let (account_id, envelope, label) = match kind {
                    0 => (
                        "plain-demo",
                        wechat::simulate::Envelope::Plaintext,
                        "wechat_plaintext",
                    ),
                    1 => (
                        "secure-demo",
                        wechat::simulate::Envelope::Secure,
                        "wechat_secure",
                    ),
                    _ => (
                        "demo",
                        wechat::simulate::Envelope::Compatible,
                        "wechat_compatible",
                    ),
                };
                let account = accounts.wechat.get(account_id).context("account")?;
                let sender = format!("oLoadTest{conversation:06}");
                let msg_id = now as u64 * 100_000 + i as u64;
                let inner = common::wechat_inner_xml_at(&sender, msg_id, &text, now);
                let request = wechat::simulate::push(account, &inner, now, &nonce, envelope)?;
                let expected = match wechat::handle(
                    account,
                    &request.as_inbound(account_id, now_ms),
                    &Limits::default(),
                ) {
                    Ok(WebhookOutcome::Message(m)) => m,
                    other => bail!("self-check of a WeChat push failed: {other:?}"),
                };
                Push {
                    kind: label,
                    url: format!(
                        "{}/lambda-url/wechat-webhook/wechat/{account_id}?{}",
                        args.lambda_url,
                        request.query_string()
                    ),
                    body: request.body,
                    content_type: "text/xml",
                    ack: "success",
                    conversation_key: expected.conversation_key.clone(),
                    dedupe_id: expected.dedupe_id(),
                }
            }
            _ => {
                let account = accounts.weibo.get("brand").context("brand")?;
                let created_at = weibo::simulate::created_at(now).context("time")?;
                let body = weibo::simulate::text_body(
                    1_902_538_057,
                    3_000_000_000 + conversation as u64,
                    &created_at,
                    &text,
                );
                let request = weibo::simulate::push(account, body, now_ms, &nonce);
                let expected =
                    match weibo::handle(account, &request.inbound("brand"), &Limits::default()) {
                        Ok(WebhookOutcome::Message(m)) => m,
                        other => bail!("self-check of a Weibo push failed: {other:?}"),
                    };
                Push {
                    kind: "weibo_json",
                    url: format!(
                        "{}/lambda-url/weibo-webhook/weibo/brand?{}",
                        args.lambda_url,
                        request.query_string()
                    ),
                    body: request.body,
                    content_type: "application/json",
                    ack: "",
                    conversation_key: expected.conversation_key.clone(),
                    dedupe_id: expected.dedupe_id(),
                }
            }
        };
        out.push(push);
    }
    Ok(out)
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let rank = ((p / 100.0) * (sorted.len() as f64 - 1.0)).round() as usize;
    sorted[rank.min(sorted.len() - 1)]
}

fn summary(mut values: Vec<f64>) -> Value {
    values.sort_by(f64::total_cmp);
    let mean = if values.is_empty() {
        f64::NAN
    } else {
        values.iter().sum::<f64>() / values.len() as f64
    };
    json!({
        "n": values.len(),
        "mean": mean,
        "p50": percentile(&values, 50.0),
        "p90": percentile(&values, 90.0),
        "p99": percentile(&values, 99.0),
        "max": values.last().copied().unwrap_or(f64::NAN),
    })
}

/// One URL verification per webhook and an empty batch for the router, so that the measured
/// requests are warm (the first request to a function under the watcher starts its process,
/// and the first push fetches the accounts document).
async fn warm_up(http: &reqwest::Client, args: &Args) -> Result<()> {
    let accounts = common::accounts();
    let now_ms = SystemTime::now().duration_since(UNIX_EPOCH)?.as_millis() as i64;
    let wechat_account = accounts.wechat.get("plain-demo").context("plain-demo")?;
    let weibo_account = accounts.weibo.get("brand").context("brand")?;
    let urls = [
        format!(
            "{}/lambda-url/wechat-webhook/wechat/plain-demo?{}",
            args.lambda_url,
            wechat::simulate::verification(wechat_account, now_ms / 1000, "1", "warm")
                .query_string()
        ),
        format!(
            "{}/lambda-url/weibo-webhook/weibo/brand?{}",
            args.lambda_url,
            weibo::simulate::verification(weibo_account, "warm", now_ms, "1").query_string()
        ),
    ];
    for url in urls {
        let response = http
            .get(&url)
            .timeout(Duration::from_secs(600))
            .send()
            .await?;
        if response.status() != 200 {
            bail!("warm-up {url}: {}", response.status());
        }
    }
    let response = http
        .post(format!(
            "{}/2015-03-31/functions/message-router/invocations",
            args.lambda_url
        ))
        .json(&json!({ "Records": [] }))
        .timeout(Duration::from_secs(600))
        .send()
        .await?;
    if !response.status().is_success() {
        bail!("warm-up of the router: {}", response.status());
    }
    Ok(())
}

/// Sends every push (and the retries) with `concurrency` requests in flight.
async fn send_all(
    http: &reqwest::Client,
    pushes: Arc<Vec<Push>>,
    args: &Args,
) -> Result<(Vec<(usize, f64)>, Vec<String>, Duration)> {
    // Every message once, then the platform's retries of some of them.
    let mut order: Vec<usize> = (0..pushes.len()).collect();
    if args.retry_every > 0 {
        order.extend((0..pushes.len()).step_by(args.retry_every));
    }
    let order = Arc::new(order);
    let cursor = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let mut workers = Vec::new();
    for _ in 0..args.concurrency {
        let (http, pushes, order, cursor) =
            (http.clone(), pushes.clone(), order.clone(), cursor.clone());
        workers.push(tokio::spawn(async move {
            let mut timings = Vec::new();
            let mut errors = Vec::new();
            loop {
                let slot = cursor.fetch_add(1, Ordering::Relaxed);
                let Some(&i) = order.get(slot) else { break };
                if started.elapsed() > PHASE_LIMIT {
                    errors.push("send phase over its time limit".to_string());
                    break;
                }
                let p = &pushes[i];
                let sent = Instant::now();
                let result = http
                    .post(&p.url)
                    .header("content-type", p.content_type)
                    .body(p.body.clone())
                    .timeout(Duration::from_secs(30))
                    .send()
                    .await;
                match result {
                    Ok(response) => {
                        let status = response.status();
                        let body = response.text().await.unwrap_or_default();
                        let ms = sent.elapsed().as_secs_f64() * 1000.0;
                        if status == 200 && body == p.ack {
                            timings.push((i, ms));
                        } else {
                            errors.push(format!("{} #{i}: {status} {body}", p.kind));
                        }
                    }
                    Err(e) => errors.push(format!("{} #{i}: {e}", p.kind)),
                }
            }
            (timings, errors)
        }));
    }
    let mut timings = Vec::new();
    let mut errors = Vec::new();
    for w in workers {
        let (t, e) = w.await?;
        timings.extend(t);
        errors.extend(e);
    }
    Ok((timings, errors, started.elapsed()))
}

/// Stands in for the SQS event source mapping, timing each router invocation.
/// Runs while the pushes are sent (`sending`), so the queue stays as short as in production,
/// and until the queue is drained: records a failed batch left behind come back after the
/// visibility timeout, so it stops only after `DRAIN_QUIET` without any record and an empty
/// queue. It also consumes the outbound queue the way the reply sender would, so the
/// emulator's queues do not grow without bound.
async fn pump(
    sqs: &aws_sdk_sqs::Client,
    http: &reqwest::Client,
    queues: (&str, &str),
    invoke_url: &str,
    sending: &AtomicBool,
) -> Result<Value> {
    const DRAIN_QUIET: Duration = Duration::from_secs(8);
    let (queue_url, outbound_url) = queues;
    let started = Instant::now();
    let mut invoke_ms = Vec::new();
    let mut delivered = 0usize;
    let mut failed = 0usize;
    let mut replies_consumed = 0usize;
    let mut quiet_since: Option<Instant> = None;
    while started.elapsed() < PHASE_LIMIT {
        replies_consumed += drain_some(sqs, outbound_url).await?;
        let received = sqs
            .receive_message()
            .queue_url(queue_url)
            .max_number_of_messages(10)
            .message_system_attribute_names(MessageSystemAttributeName::All)
            .wait_time_seconds(0)
            .send()
            .await
            .context("receive")?;
        let messages = received.messages();
        if messages.is_empty() {
            if sending.load(Ordering::SeqCst) {
                quiet_since = None;
            } else {
                let since = *quiet_since.get_or_insert_with(Instant::now);
                if since.elapsed() >= DRAIN_QUIET && queue_depth(sqs, queue_url).await? == 0 {
                    break;
                }
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
            continue;
        }
        quiet_since = None;
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
                    "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:bench-inbound.fifo",
                    "awsRegion": "us-east-1"
                })
            })
            .collect();
        let sent = Instant::now();
        let response = http
            .post(invoke_url)
            .json(&json!({ "Records": records }))
            .timeout(Duration::from_secs(120))
            .send()
            .await
            .context("invoke the router")?;
        let body: Value = response.json().await.context("router response")?;
        invoke_ms.push(sent.elapsed().as_secs_f64() * 1000.0);
        if body.get("errorType").is_some() {
            bail!("router invocation failed: {body}");
        }
        let failures: BTreeSet<String> = body["batchItemFailures"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|f| f["itemIdentifier"].as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default();
        delivered += messages.len();
        failed += failures.len();
        let done: Vec<&aws_sdk_sqs::types::Message> = messages
            .iter()
            .filter(|m| !failures.contains(m.message_id().unwrap_or_default()))
            .collect();
        delete_batch(sqs, queue_url, &done).await?;
    }
    let elapsed = started.elapsed().as_secs_f64();
    let busy: f64 = invoke_ms.iter().sum::<f64>() / 1000.0;
    Ok(json!({
        "records_delivered": delivered,
        "records_failed": failed,
        "replies_consumed": replies_consumed,
        "batches": invoke_ms.len(),
        "elapsed_s": elapsed,
        "records_per_s_end_to_end": delivered as f64 / elapsed,
        "records_per_s_router_busy": delivered as f64 / busy,
        "invoke_ms": summary(invoke_ms),
    }))
}

async fn delete_batch(
    sqs: &aws_sdk_sqs::Client,
    queue_url: &str,
    messages: &[&aws_sdk_sqs::types::Message],
) -> Result<()> {
    if messages.is_empty() {
        return Ok(());
    }
    let entries = messages
        .iter()
        .enumerate()
        .map(|(i, m)| {
            aws_sdk_sqs::types::DeleteMessageBatchRequestEntry::builder()
                .id(format!("m{i}"))
                .receipt_handle(m.receipt_handle().unwrap_or_default())
                .build()
        })
        .collect::<Result<Vec<_>, _>>()?;
    let out = sqs
        .delete_message_batch()
        .queue_url(queue_url)
        .set_entries(Some(entries))
        .send()
        .await
        .context("delete batch")?;
    if !out.failed().is_empty() {
        bail!("delete batch failed for {} record(s)", out.failed().len());
    }
    Ok(())
}

/// Receives and deletes up to ten outbound reply commands; returns how many.
async fn drain_some(sqs: &aws_sdk_sqs::Client, queue_url: &str) -> Result<usize> {
    let received = sqs
        .receive_message()
        .queue_url(queue_url)
        .max_number_of_messages(10)
        .wait_time_seconds(0)
        .send()
        .await
        .context("receive outbound")?;
    let messages: Vec<&aws_sdk_sqs::types::Message> = received.messages().iter().collect();
    delete_batch(sqs, queue_url, &messages).await?;
    Ok(messages.len())
}

async fn queue_depth(sqs: &aws_sdk_sqs::Client, queue_url: &str) -> Result<u64> {
    let out = sqs
        .get_queue_attributes()
        .queue_url(queue_url)
        .attribute_names(QueueAttributeName::ApproximateNumberOfMessages)
        .attribute_names(QueueAttributeName::ApproximateNumberOfMessagesNotVisible)
        .send()
        .await
        .context("queue attributes")?;
    let attrs = out.attributes();
    let get = |name: QueueAttributeName| {
        attrs
            .and_then(|a| a.get(&name))
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or(0)
    };
    Ok(get(QueueAttributeName::ApproximateNumberOfMessages)
        + get(QueueAttributeName::ApproximateNumberOfMessagesNotVisible))
}

async fn reconcile(
    ddb: &aws_sdk_dynamodb::Client,
    sqs: &aws_sdk_sqs::Client,
    table: &str,
    pushes: &[Push],
) -> Result<Value> {
    let items = gatewayctl::local::scan_items(ddb, table).await?;
    let mut stored: BTreeMap<String, usize> = BTreeMap::new();
    let mut inbound_counts: BTreeMap<String, u64> = BTreeMap::new();
    for item in &items {
        let sk = item["SK"].as_str().unwrap_or_default();
        if sk.starts_with("MSG#") {
            let id = item["dedupe_id"].as_str().unwrap_or_default().to_string();
            *stored.entry(id).or_default() += 1;
        } else if sk == "META" {
            let key = item["key"].as_str().unwrap_or_default().to_string();
            inbound_counts.insert(key, item["inbound_count"].as_u64().unwrap_or(0));
        }
    }
    let expected: BTreeSet<&str> = pushes.iter().map(|p| p.dedupe_id.as_str()).collect();
    let mut per_conversation: BTreeMap<&str, u64> = BTreeMap::new();
    for p in pushes {
        *per_conversation
            .entry(p.conversation_key.as_str())
            .or_default() += 1;
    }
    let lost = expected
        .iter()
        .filter(|id| !stored.contains_key(**id))
        .count();
    let duplicated: usize = stored.values().map(|n| n - 1).sum();
    let unexpected = stored
        .keys()
        .filter(|id| !expected.contains(id.as_str()))
        .count();
    let wrong_counts = per_conversation
        .iter()
        .filter(|(k, n)| inbound_counts.get(**k) != Some(n))
        .count();
    let dead_letters = queue_depth(sqs, &env("DEAD_LETTER_QUEUE_URL")?).await?;
    let left_in_queue = queue_depth(sqs, &env("QUEUE_URL")?).await?;
    Ok(json!({
        "expected_messages": expected.len(),
        "stored_messages": stored.values().sum::<usize>(),
        "lost": lost,
        "duplicated": duplicated,
        "unexpected": unexpected,
        "conversations_expected": per_conversation.len(),
        "conversations_stored": inbound_counts.len(),
        "conversations_with_wrong_inbound_count": wrong_counts,
        "dead_lettered": dead_letters,
        "left_in_queue": left_in_queue,
        "ok": lost == 0 && duplicated == 0 && unexpected == 0 && wrong_counts == 0
            && dead_letters == 0 && left_in_queue == 0,
    }))
}

#[tokio::main]
async fn main() -> Result<()> {
    let args = parse_args()?;
    let pushes = Arc::new(build_pushes(&args)?);
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(args.concurrency)
        .build()?;

    warm_up(&http, &args).await?;
    let sdk = gatewayctl::local::emulator_config(&env("AWS_ENDPOINT_URL")?).await;
    let sqs = aws_sdk_sqs::Client::new(&sdk);
    let ddb = aws_sdk_dynamodb::Client::new(&sdk);

    // The router runs while the pushes arrive, as the event source mapping would.
    let invoke_url = format!(
        "{}/2015-03-31/functions/message-router/invocations",
        args.lambda_url
    );
    let (queue_url, outbound_url) = (env("QUEUE_URL")?, env("OUTBOUND_QUEUE_URL")?);
    let sending = AtomicBool::new(true);
    let send = async {
        let result = send_all(&http, pushes.clone(), &args).await;
        sending.store(false, Ordering::SeqCst);
        result
    };
    let (sent, router) = tokio::join!(
        send,
        pump(
            &sqs,
            &http,
            (&queue_url, &outbound_url),
            &invoke_url,
            &sending
        )
    );
    let (timings, errors, elapsed) = sent?;
    let router = router?;
    let mut by_kind: BTreeMap<&str, Vec<f64>> = BTreeMap::new();
    let mut all = Vec::new();
    for (i, ms) in &timings {
        by_kind.entry(pushes[*i].kind).or_default().push(*ms);
        all.push(*ms);
    }
    let webhook = json!({
        "requests": timings.len() + errors.len(),
        "ok": timings.len(),
        "errors": errors.len(),
        "first_errors": errors.iter().take(5).collect::<Vec<_>>(),
        "concurrency": args.concurrency,
        "elapsed_s": elapsed.as_secs_f64(),
        "requests_per_s": timings.len() as f64 / elapsed.as_secs_f64(),
        "latency_ms": summary(all),
        "latency_ms_by_kind": by_kind.into_iter().map(|(k, v)| (k.to_string(), summary(v))).collect::<BTreeMap<_, _>>(),
    });

    let reconciliation = reconcile(&ddb, &sqs, &env("TABLE_NAME")?, &pushes).await?;
    let ok = errors.is_empty() && reconciliation["ok"] == json!(true);
    println!(
        "{}",
        json!({
            "messages": args.messages,
            "conversations": args.conversations,
            "retries_sent": if args.retry_every > 0 { args.messages.div_ceil(args.retry_every) } else { 0 },
            "webhook": webhook,
            "router": router,
            "reconciliation": reconciliation,
            "ok": ok,
        })
    );
    if !ok {
        bail!("load run failed: see the JSON above");
    }
    Ok(())
}
