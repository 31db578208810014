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
//! The soak (`tools/soak/run.sh`) runs the same driver longer and harder: `--copies` re-sends
//! of a message at the platforms' retry pattern, `--platform-retries` re-sends after a 5xx
//! (as the platforms do when the gateway could not queue), `--pumps` router instances at once,
//! `--replies 1` delivers the reply commands through the running `reply-sender` to the
//! platform stand-ins (`GATEWAY_STUB_URL`) and reconciles every send, and `--faults-every S`
//! freezes the AWS emulator (`MOTO_PID`, SIGSTOP/SIGCONT) for 0.5–3 s and scripts transient
//! platform errors at random, on average every S seconds.
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
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// Longest a phase may run.
const PHASE_LIMIT: Duration = Duration::from_secs(5400);

#[derive(Clone)]
struct Args {
    lambda_url: String,
    messages: usize,
    conversations: usize,
    concurrency: usize,
    retry_every: usize,
    copies: usize,
    retry_gap: usize,
    platform_retries: u32,
    pumps: usize,
    replies: bool,
    faults_every_secs: f64,
}

fn parse_args() -> Result<Args> {
    let mut args = Args {
        lambda_url: std::env::var("GATEWAY_LAMBDA_URL").unwrap_or_default(),
        messages: 1200,
        conversations: 240,
        concurrency: 4,
        retry_every: 20,
        copies: 1,
        retry_gap: 0,
        platform_retries: 0,
        pumps: 1,
        replies: false,
        faults_every_secs: 0.0,
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
            "--copies" => args.copies = value.parse()?,
            "--retry-gap" => args.retry_gap = value.parse()?,
            "--platform-retries" => args.platform_retries = value.parse()?,
            "--pumps" => args.pumps = value.parse()?,
            "--replies" => args.replies = value != "0",
            "--faults-every" => args.faults_every_secs = value.parse()?,
            other => bail!("unknown argument {other}"),
        }
    }
    if !args.lambda_url.starts_with("http://127.0.0.1:") {
        bail!("--lambda-url (or GATEWAY_LAMBDA_URL) must be http://127.0.0.1:PORT");
    }
    if args.conversations == 0 || args.concurrency == 0 || args.concurrency > 64 {
        bail!("--conversations must be > 0 and --concurrency in 1..=64");
    }
    if args.pumps == 0 || args.pumps > 16 || args.copies > 5 || args.platform_retries > 20 {
        bail!("--pumps must be in 1..=16, --copies at most 5, --platform-retries at most 20");
    }
    if args.faults_every_secs < 0.0
        || (args.faults_every_secs > 0.0 && args.faults_every_secs < 2.0)
    {
        bail!("--faults-every must be 0 (off) or at least 2 seconds");
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
    /// When the run started (the message's own time).
    base_ms: i64,
}

fn now_ms() -> Result<i64> {
    Ok(SystemTime::now().duration_since(UNIX_EPOCH)?.as_millis() as i64)
}

fn build_pushes(args: &Args) -> Result<Vec<Push>> {
    let base_ms = now_ms()?;
    (0..args.messages)
        .map(|i| build_push(args, i, base_ms, base_ms))
        .collect()
}

/// Push number `i` of a run that started at `base_ms` (the message's own time, ids and
/// content), signed at `sign_ms`. A long run re-signs a push before sending it, as a platform
/// signs each request when it sends it, so that it stays inside the gateway's timestamp window;
/// what the gateway must make of it does not change.
fn build_push(args: &Args, i: usize, base_ms: i64, sign_ms: i64) -> Result<Push> {
    static ACCOUNTS: std::sync::LazyLock<gateway_core::account::AccountsDocument> =
        std::sync::LazyLock::new(common::accounts);
    let accounts = &*ACCOUNTS;
    let now = base_ms / 1000;
    let now_ms = sign_ms;
    {
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
                let request =
                    wechat::simulate::push(account, &inner, sign_ms / 1000, &nonce, envelope)?;
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
                    base_ms,
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
                    base_ms,
                }
            }
        };
        Ok(push)
    }
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
async fn send_all(http: &reqwest::Client, pushes: Arc<Vec<Push>>, args: &Args) -> Result<Sent> {
    /// Pushes older than this are signed again before they are sent (the window is 300 s).
    const RESIGN_AFTER_MS: i64 = 120_000;
    let order = Arc::new(send_order(pushes.len(), args));
    let platform_retries = args.platform_retries;
    let shared_args = Arc::new(args.clone());
    let cursor = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let mut workers = Vec::new();
    for _ in 0..args.concurrency {
        let (http, pushes, order, cursor, args) = (
            http.clone(),
            pushes.clone(),
            order.clone(),
            cursor.clone(),
            shared_args.clone(),
        );
        workers.push(tokio::spawn(async move {
            let mut timings = Vec::new();
            let mut errors = Vec::new();
            let mut refused = Vec::new();
            loop {
                let slot = cursor.fetch_add(1, Ordering::Relaxed);
                let Some(&i) = order.get(slot) else { break };
                if started.elapsed() > PHASE_LIMIT {
                    errors.push("send phase over its time limit".to_string());
                    break;
                }
                let resigned;
                let mut p = &pushes[i];
                if let Ok(now) = now_ms()
                    && now - p.base_ms > RESIGN_AFTER_MS
                    && let Ok(fresh) = build_push(&args, i, p.base_ms, now)
                {
                    resigned = fresh;
                    p = &resigned;
                }
                let mut attempt = 0;
                loop {
                    let sent = Instant::now();
                    let result = http
                        .post(&p.url)
                        .header("content-type", p.content_type)
                        .body(p.body.clone())
                        .timeout(Duration::from_secs(30))
                        .send()
                        .await;
                    let failure = match result {
                        Ok(response) => {
                            let status = response.status();
                            let body = response.text().await.unwrap_or_default();
                            let ms = sent.elapsed().as_secs_f64() * 1000.0;
                            if status == 200 && body == p.ack {
                                timings.push((i, ms));
                                None
                            } else {
                                Some(format!("{} #{i}: {status} {body}", p.kind))
                            }
                        }
                        Err(e) => Some(format!("{} #{i}: {e}", p.kind)),
                    };
                    let Some(failure) = failure else { break };
                    if attempt < platform_retries {
                        // The platform retries an unacknowledged push (5xx or timeout).
                        attempt += 1;
                        refused.push(failure);
                        tokio::time::sleep(Duration::from_secs(1)).await;
                    } else {
                        errors.push(failure);
                        break;
                    }
                }
            }
            (timings, errors, refused)
        }));
    }
    let mut sent = Sent::default();
    for w in workers {
        let (t, e, r) = w.await?;
        sent.timings.extend(t);
        sent.errors.extend(e);
        sent.refused.extend(r);
    }
    sent.elapsed = started.elapsed();
    Ok(sent)
}

/// What the send phase saw.
#[derive(Default)]
struct Sent {
    /// (push index, latency ms) of every acknowledged request.
    timings: Vec<(usize, f64)>,
    /// Requests never acknowledged, even after the platform's retries.
    errors: Vec<String>,
    /// Requests answered with an error and then retried as the platform would.
    refused: Vec<String>,
    elapsed: Duration,
}

/// Every message once, and `copies` re-sends of every `retry_every`-th one: at the end
/// (`retry_gap` 0), or `retry_gap`, 2·`retry_gap`, … slots after the original, the way a
/// platform retries a push while others keep arriving.
fn send_order(n: usize, args: &Args) -> Vec<usize> {
    if args.retry_every == 0 || args.copies == 0 {
        return (0..n).collect();
    }
    if args.retry_gap == 0 {
        let mut order: Vec<usize> = (0..n).collect();
        for _ in 0..args.copies {
            order.extend((0..n).step_by(args.retry_every));
        }
        return order;
    }
    // Slot of each send: originals at i·(1 + copies·gap)-spaced positions would leave holes;
    // instead, sort (position, tie-break) pairs.
    let mut slots: Vec<(usize, usize, usize)> = (0..n).map(|i| (i, 0, i)).collect();
    for i in (0..n).step_by(args.retry_every) {
        for c in 1..=args.copies {
            slots.push((i + c * args.retry_gap, c, i));
        }
    }
    slots.sort_unstable();
    slots.into_iter().map(|(_, _, i)| i).collect()
}

/// One stand-in of the SQS event source mapping: receives batches of up to ten records from
/// `queue_url`, invokes the function at `invoke_url` with an SQS event, honours the partial
/// batch failures it reports, deletes the rest. Runs while `upstream` producers are active, so
/// the queue stays as short as in production, and until the queue is drained: it stops only
/// after `DRAIN_QUIET` without a record and with no message visible or in flight. Several
/// pumps on one FIFO queue behave like the event source's concurrent batches (the queue hands
/// out a message group to one receiver at a time). `drain`: an outbound queue nobody delivers,
/// consumed so the emulator's queues do not grow without bound.
struct Pump {
    sqs: aws_sdk_sqs::Client,
    http: reqwest::Client,
    queue_url: String,
    invoke_url: String,
    drain: Option<String>,
    upstream: Arc<AtomicUsize>,
}

#[derive(Default)]
struct PumpStats {
    delivered: usize,
    failed: usize,
    drained: usize,
    invoke_ms: Vec<f64>,
    invocation_errors: usize,
    queue_errors: usize,
    /// `idempotency_key`s of the records (reply commands) handed to the function.
    keys: BTreeSet<String>,
    elapsed: Duration,
}

impl Pump {
    async fn run(self) -> PumpStats {
        const DRAIN_QUIET: Duration = Duration::from_secs(8);
        let started = Instant::now();
        let mut stats = PumpStats::default();
        let mut quiet_since: Option<Instant> = None;
        while started.elapsed() < PHASE_LIMIT {
            if let Some(outbound) = &self.drain {
                match drain_some(&self.sqs, outbound).await {
                    Ok(n) => stats.drained += n,
                    Err(_) => stats.queue_errors += 1,
                }
            }
            let received = self
                .sqs
                .receive_message()
                .queue_url(&self.queue_url)
                .max_number_of_messages(10)
                .message_system_attribute_names(MessageSystemAttributeName::All)
                .wait_time_seconds(0)
                .send()
                .await;
            let Ok(received) = received else {
                stats.queue_errors += 1;
                tokio::time::sleep(Duration::from_millis(500)).await;
                continue;
            };
            let messages = received.messages();
            if messages.is_empty() {
                if self.upstream.load(Ordering::SeqCst) > 0 {
                    quiet_since = None;
                } else {
                    let since = *quiet_since.get_or_insert_with(Instant::now);
                    if since.elapsed() >= DRAIN_QUIET
                        && queue_depth(&self.sqs, &self.queue_url).await.ok() == Some(0)
                    {
                        break;
                    }
                }
                tokio::time::sleep(Duration::from_millis(200)).await;
                continue;
            }
            quiet_since = None;
            for m in messages {
                if let Some(key) = m
                    .body()
                    .and_then(|b| serde_json::from_str::<Value>(b).ok())
                    .and_then(|v| v["idempotency_key"].as_str().map(str::to_string))
                {
                    stats.keys.insert(key);
                }
            }
            let sent = Instant::now();
            let failures = match self.invoke(messages).await {
                Ok(failures) => failures,
                Err(_) => {
                    // A function error or a timeout: the event source leaves the whole batch
                    // to come back after the visibility timeout.
                    stats.invocation_errors += 1;
                    continue;
                }
            };
            stats.invoke_ms.push(sent.elapsed().as_secs_f64() * 1000.0);
            stats.delivered += messages.len();
            stats.failed += failures.len();
            let done: Vec<&aws_sdk_sqs::types::Message> = messages
                .iter()
                .filter(|m| !failures.contains(m.message_id().unwrap_or_default()))
                .collect();
            if delete_batch(&self.sqs, &self.queue_url, &done)
                .await
                .is_err()
            {
                // Redelivered later; the function must absorb it.
                stats.queue_errors += 1;
            }
        }
        stats.elapsed = started.elapsed();
        stats
    }

    /// Invokes the function with the batch; the ids it reported failed.
    async fn invoke(&self, messages: &[aws_sdk_sqs::types::Message]) -> Result<BTreeSet<String>> {
        let records: Vec<Value> = messages.iter().map(gatewayctl::local::sqs_record).collect();
        let response = self
            .http
            .post(&self.invoke_url)
            .json(&json!({ "Records": records }))
            .timeout(Duration::from_secs(120))
            .send()
            .await
            .context("invoke")?;
        let body: Value = response.json().await.context("invocation response")?;
        if body.get("errorType").is_some() {
            bail!("invocation failed: {body}");
        }
        Ok(body["batchItemFailures"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|f| f["itemIdentifier"].as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default())
    }
}

/// Runs `pumps` to the end; their combined figures.
async fn run_pumps(pumps: Vec<Pump>, finished: Option<Arc<AtomicUsize>>) -> Result<PumpStats> {
    let mut tasks = Vec::new();
    for pump in pumps {
        let finished = finished.clone();
        tasks.push(tokio::spawn(async move {
            let stats = pump.run().await;
            if let Some(f) = finished {
                f.fetch_sub(1, Ordering::SeqCst);
            }
            stats
        }));
    }
    let mut all = PumpStats::default();
    for t in tasks {
        let s = t.await?;
        all.delivered += s.delivered;
        all.failed += s.failed;
        all.drained += s.drained;
        all.invoke_ms.extend(s.invoke_ms);
        all.invocation_errors += s.invocation_errors;
        all.queue_errors += s.queue_errors;
        all.keys.extend(s.keys);
        all.elapsed = all.elapsed.max(s.elapsed);
    }
    Ok(all)
}

fn pump_json(s: &PumpStats) -> Value {
    let elapsed = s.elapsed.as_secs_f64();
    let busy: f64 = s.invoke_ms.iter().sum::<f64>() / 1000.0;
    json!({
        "records_delivered": s.delivered,
        "records_failed": s.failed,
        "replies_consumed": s.drained,
        "batches": s.invoke_ms.len(),
        "invocation_errors": s.invocation_errors,
        "queue_errors": s.queue_errors,
        "elapsed_s": elapsed,
        "records_per_s_end_to_end": s.delivered as f64 / elapsed,
        "records_per_s_router_busy": s.delivered as f64 / busy,
        "invoke_ms": summary(s.invoke_ms.clone()),
    })
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

async fn reconcile(sqs: &aws_sdk_sqs::Client, items: &[Value], pushes: &[Push]) -> Result<Value> {
    let mut stored: BTreeMap<String, usize> = BTreeMap::new();
    let mut inbound_counts: BTreeMap<String, u64> = BTreeMap::new();
    let mut metas: BTreeMap<String, &Value> = BTreeMap::new();
    for item in items {
        let sk = item["SK"].as_str().unwrap_or_default();
        if sk.starts_with("MSG#") && item["direction"].as_str() != Some("out") {
            let id = item["dedupe_id"].as_str().unwrap_or_default().to_string();
            *stored.entry(id).or_default() += 1;
        } else if sk == "META" {
            let key = item["key"].as_str().unwrap_or_default().to_string();
            inbound_counts.insert(key.clone(), item["inbound_count"].as_u64().unwrap_or(0));
            metas.insert(key, item);
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
    // What the conversation says about the first lost messages: whether it counted them and
    // remembers their dedupe id (written, then lost) or never saw them (never routed).
    let first_lost: Vec<Value> = pushes
        .iter()
        .filter(|p| !stored.contains_key(&p.dedupe_id))
        .take(10)
        .map(|p| {
            let meta = metas.get(&p.conversation_key);
            json!({
                "kind": p.kind,
                "conversation": p.conversation_key,
                "dedupe_id": p.dedupe_id,
                "sent": per_conversation.get(p.conversation_key.as_str()),
                "inbound_count": meta.map(|m| &m["inbound_count"]),
                "conversation_remembers_it": meta.map(|m| m.to_string().contains(&p.dedupe_id)),
            })
        })
        .collect();
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
        "first_lost": first_lost,
        "dead_lettered": dead_letters,
        "left_in_queue": left_in_queue,
        "ok": lost == 0 && duplicated == 0 && unexpected == 0 && wrong_counts == 0
            && dead_letters == 0 && left_in_queue == 0,
    }))
}

/// Every reply sent at most once: for each customer, the sends the platform stand-ins
/// accepted lie between the replies recorded as delivered (each was accepted at least once)
/// and those plus the ones whose outcome the sender could not know (claimed, sent but not
/// yet recorded, marked undeliverable). A reply sent twice makes the first bound fail.
async fn reconcile_replies(
    sqs: &aws_sdk_sqs::Client,
    items: &[Value],
    stub: &gatewayctl::stub::StubAdmin,
    commands_seen: &BTreeSet<String>,
) -> Result<Value> {
    #[derive(Default)]
    struct PerCustomer {
        accepted: usize,
        delivered: usize,
        uncertain: usize,
    }
    let mut customers: BTreeMap<String, PerCustomer> = BTreeMap::new();
    let mut states: BTreeMap<String, usize> = BTreeMap::new();
    let mut recorded: BTreeSet<String> = BTreeSet::new();
    for item in items.iter().filter(|i| i["entity"] == "delivery") {
        let state = item["state"].as_str().unwrap_or_default();
        *states.entry(state.to_string()).or_default() += 1;
        let command = &item["command"];
        recorded.insert(
            command["idempotency_key"]
                .as_str()
                .unwrap_or_default()
                .to_string(),
        );
        let c = customers
            .entry(
                command["recipient_id"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string(),
            )
            .or_default();
        match state {
            "delivered" => c.delivered += 1,
            "failed" => {}
            _ => c.uncertain += 1,
        }
    }
    let requests = stub.requests().await?;
    let mut accepted_total = 0;
    let mut refused_total = 0;
    let wechat = requests["wechat"]["messages"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let weibo = requests["weibo"]["replies"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    for r in &wechat {
        if r["accepted"] == true {
            accepted_total += 1;
            let to = r["body"]["touser"].as_str().unwrap_or_default();
            customers.entry(to.to_string()).or_default().accepted += 1;
        } else {
            refused_total += 1;
        }
    }
    for r in &weibo {
        if r["accepted"] == true {
            accepted_total += 1;
            let to = r["receiver_id"].as_str().unwrap_or_default();
            customers.entry(to.to_string()).or_default().accepted += 1;
        } else {
            refused_total += 1;
        }
    }
    let sent_twice: usize = customers
        .values()
        .map(|c| c.accepted.saturating_sub(c.delivered + c.uncertain))
        .sum();
    let delivered_unsent: usize = customers
        .values()
        .map(|c| c.delivered.saturating_sub(c.accepted))
        .sum();
    let without_record = commands_seen.difference(&recorded).count();
    let stuck =
        states.get("calling").copied().unwrap_or(0) + states.get("sent").copied().unwrap_or(0);
    let dead_letters = queue_depth(sqs, &env("OUTBOUND_DEAD_LETTER_QUEUE_URL")?).await?;
    let left = queue_depth(sqs, &env("OUTBOUND_QUEUE_URL")?).await?;
    Ok(json!({
        "commands": commands_seen.len(),
        "records_by_state": states,
        "platform_sends_accepted": accepted_total,
        "platform_calls_refused": refused_total,
        "sent_twice": sent_twice,
        "delivered_but_never_accepted": delivered_unsent,
        "commands_without_record": without_record,
        "stuck_in_flight": stuck,
        "dead_lettered": dead_letters,
        "left_in_queue": left,
        "ok": sent_twice == 0 && delivered_unsent == 0 && without_record == 0 && stuck == 0
            && left == 0,
    }))
}

/// Freezes the emulator and scripts transient platform errors at random until `stop`:
/// on average every `every_secs`, either SIGSTOP the AWS emulator for 0.5–3 s, or make the
/// next one or two calls of a platform API answer "system busy".
async fn inject_faults(
    every_secs: f64,
    moto_pid: String,
    stub: Option<gatewayctl::stub::StubAdmin>,
    stop: Arc<AtomicBool>,
) -> Value {
    use rand::{Rng, SeedableRng};
    let mut freezes = 0u32;
    let mut frozen_s = 0.0f64;
    let mut platform_faults = 0u32;
    let mut rng = rand::rngs::StdRng::from_entropy();
    let signal = |sig: &str| {
        let _ = std::process::Command::new("kill")
            .args([sig, moto_pid.as_str()])
            .status();
    };
    'outer: loop {
        // Exponential inter-arrival time, clamped.
        let u: f64 = rng.gen_range(0.01..1.0);
        let wait = (-u.ln() * every_secs).clamp(1.0, every_secs * 4.0);
        let until = Instant::now() + Duration::from_secs_f64(wait);
        while Instant::now() < until {
            if stop.load(Ordering::SeqCst) {
                break 'outer;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        match (&stub, rng.gen_range(0..10)) {
            (Some(stub), 0..=2) => {
                let (api, code) = if rng.gen_bool(0.5) {
                    ("wechat_send", -1)
                } else {
                    ("weibo_reply", 10001)
                };
                if stub.fail(api, code, rng.gen_range(1..=2)).await.is_ok() {
                    platform_faults += 1;
                }
            }
            _ => {
                let secs = rng.gen_range(0.5..3.0);
                signal("-STOP");
                tokio::time::sleep(Duration::from_secs_f64(secs)).await;
                signal("-CONT");
                freezes += 1;
                frozen_s += secs;
            }
        }
    }
    signal("-CONT");
    json!({
        "mean_interval_s": every_secs,
        "emulator_freezes": freezes,
        "emulator_frozen_s": frozen_s,
        "platform_errors_scripted": platform_faults,
    })
}

#[tokio::main]
async fn main() -> Result<()> {
    let args = parse_args()?;
    let pushes = Arc::new(build_pushes(&args)?);
    let http = gatewayctl::http_client_builder()
        .pool_max_idle_per_host(args.concurrency + args.pumps + 1)
        .build()?;

    warm_up(&http, &args).await?;
    let sdk = gatewayctl::local::emulator_config(&env("AWS_ENDPOINT_URL")?).await;
    let sqs = aws_sdk_sqs::Client::new(&sdk);
    let ddb = aws_sdk_dynamodb::Client::new(&sdk);
    let stub = if args.replies {
        let admin = gatewayctl::stub::StubAdmin::new(env("GATEWAY_STUB_URL")?);
        admin.reset().await?;
        Some(admin)
    } else {
        None
    };

    let invoke = |function: &str| {
        format!(
            "{}/2015-03-31/functions/{function}/invocations",
            args.lambda_url
        )
    };
    let (queue_url, outbound_url) = (env("QUEUE_URL")?, env("OUTBOUND_QUEUE_URL")?);
    // The router pumps run while the pushes arrive, as the event source mapping would; the
    // reply pump while the routers run.
    let sending = Arc::new(AtomicUsize::new(1));
    let routing = Arc::new(AtomicUsize::new(args.pumps));
    let router_pumps: Vec<Pump> = (0..args.pumps)
        .map(|_| Pump {
            sqs: sqs.clone(),
            http: http.clone(),
            queue_url: queue_url.clone(),
            invoke_url: invoke("message-router"),
            drain: (!args.replies).then(|| outbound_url.clone()),
            upstream: sending.clone(),
        })
        .collect();
    let routers = tokio::spawn(run_pumps(router_pumps, Some(routing.clone())));
    let replies = args.replies.then(|| {
        tokio::spawn(run_pumps(
            vec![Pump {
                sqs: sqs.clone(),
                http: http.clone(),
                queue_url: outbound_url.clone(),
                invoke_url: invoke("reply-sender"),
                drain: None,
                upstream: routing.clone(),
            }],
            None,
        ))
    });
    let stop_faults = Arc::new(AtomicBool::new(false));
    let faults = if args.faults_every_secs > 0.0 {
        Some(tokio::spawn(inject_faults(
            args.faults_every_secs,
            env("MOTO_PID")?,
            stub.clone(),
            stop_faults.clone(),
        )))
    } else {
        None
    };

    let sent = send_all(&http, pushes.clone(), &args).await;
    sending.store(0, Ordering::SeqCst);
    // Faults stop with the pushes, so that the drain ends on a healthy stack.
    stop_faults.store(true, Ordering::SeqCst);
    let faults = match faults {
        Some(f) => f.await?,
        None => Value::Null,
    };
    let sent = sent?;
    let router = routers.await??;
    let reply_stats = match replies {
        Some(r) => Some(r.await??),
        None => None,
    };

    let mut by_kind: BTreeMap<&str, Vec<f64>> = BTreeMap::new();
    let mut all = Vec::new();
    for (i, ms) in &sent.timings {
        by_kind.entry(pushes[*i].kind).or_default().push(*ms);
        all.push(*ms);
    }
    let elapsed = sent.elapsed.as_secs_f64();
    let webhook = json!({
        "requests": sent.timings.len() + sent.errors.len() + sent.refused.len(),
        "ok": sent.timings.len(),
        "errors": sent.errors.len(),
        "first_errors": sent.errors.iter().take(5).collect::<Vec<_>>(),
        "refused_then_retried": sent.refused.len(),
        "first_refusals": sent.refused.iter().take(3).collect::<Vec<_>>(),
        "concurrency": args.concurrency,
        "elapsed_s": elapsed,
        "requests_per_s": sent.timings.len() as f64 / elapsed,
        "latency_ms": summary(all),
        "latency_ms_by_kind": by_kind.into_iter().map(|(k, v)| (k.to_string(), summary(v))).collect::<BTreeMap<_, _>>(),
    });

    let items = gatewayctl::local::scan_items(&ddb, &env("TABLE_NAME")?).await?;
    let reconciliation = reconcile(&sqs, &items, &pushes).await?;
    // With platform re-sends (the soak), a push never acknowledged is a failure only if it
    // was not stored (the reconciliation counts it lost): its send may have reached the queue
    // after the webhook gave up waiting, the ambiguous case the dedupe id exists for.
    let mut ok = (sent.errors.is_empty() || args.platform_retries > 0)
        && reconciliation["ok"] == json!(true);
    let replies = match (&stub, &reply_stats) {
        (Some(stub), Some(stats)) => {
            let r = reconcile_replies(&sqs, &items, stub, &stats.keys).await?;
            ok &= r["ok"] == json!(true);
            json!({ "pump": pump_json(stats), "reconciliation": r })
        }
        _ => Value::Null,
    };
    let copies_sent = if args.retry_every > 0 {
        args.messages.div_ceil(args.retry_every) * args.copies
    } else {
        0
    };
    println!(
        "{}",
        json!({
            "messages": args.messages,
            "conversations": args.conversations,
            "retries_sent": copies_sent,
            "router_instances": args.pumps,
            "webhook": webhook,
            "router": pump_json(&router),
            "replies": replies,
            "faults": faults,
            "reconciliation": reconciliation,
            "ok": ok,
        })
    );
    if !ok {
        bail!("load run failed: see the JSON above");
    }
    Ok(())
}
