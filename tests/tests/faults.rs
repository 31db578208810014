//! Fault tests against the running stack: the AWS emulator frozen (SIGSTOP) while the router
//! is in the middle of a batch, and the router process killed (SIGKILL) mid-batch. In both,
//! the records that did not finish are reported failed (or, after a crash, simply not
//! deleted), redelivered, and in the end every message is stored exactly once, in order per
//! conversation.
//!
//! The crash test runs the router itself, as Lambda runs it in a sandbox: the `message-router`
//! binary as a child process, its `AWS_LAMBDA_RUNTIME_API` pointing at a minimal runtime API
//! served by the test on 127.0.0.1 ([`Sandbox`]). After the kill it starts a new process, as
//! Lambda starts a new sandbox after a crash. (The functions under `cargo lambda watch` do not
//! come back from a killed process: the next invoke hangs.)
//!
//! The queue outage at the webhook is `e2e.rs`
//! (`queue_outage_answers_503_in_time_and_the_platform_retry_is_queued_once`).
#![allow(clippy::unwrap_used)]

use aws_sdk_sqs::types::MessageSystemAttributeName;
use gateway_core::account::AccountsDocument;
use gateway_core::channel::wechat::simulate::Envelope;
use gateway_tests::{RUNNING_STACK_LOCK, RunningStack, local_accounts_json, sdk, unique};
use gatewayctl::{local, send};
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::os::unix::process::ExitStatusExt;
use std::path::PathBuf;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use tokio::sync::{mpsc, oneshot};

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
    let records: Vec<Value> = messages.iter().map(local::sqs_record).collect();
    json!({ "Records": records })
}

fn group_of(m: &aws_sdk_sqs::types::Message) -> String {
    m.attributes().unwrap()[&MessageSystemAttributeName::MessageGroupId].clone()
}

/// A router to hand batches to: the watcher's (an invoke over HTTP) or a [`Sandbox`].
trait Router {
    /// Invokes the router with an SQS event and returns its response (`batchItemFailures`).
    async fn handle(&mut self, event: &Value) -> Value;
}

/// The `message-router` running under `cargo lambda watch`.
struct Watched {
    http: reqwest::Client,
    invoke_url: String,
}

impl Router for Watched {
    async fn handle(&mut self, event: &Value) -> Value {
        self.http
            .post(&self.invoke_url)
            .json(event)
            .timeout(Duration::from_secs(120))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    }
}

/// Ids of the records a router response reports failed.
fn failed_ids(response: &Value) -> Vec<String> {
    response["batchItemFailures"]
        .as_array()
        .unwrap_or_else(|| panic!("{response}"))
        .iter()
        .map(|f| f["itemIdentifier"].as_str().unwrap().to_string())
        .collect()
}

/// Deletes the records of `batch` not in `failed`: what the event source mapping does.
async fn delete_succeeded(
    sqs: &aws_sdk_sqs::Client,
    queue_url: &str,
    batch: &[aws_sdk_sqs::types::Message],
    failed: &[String],
) {
    for m in batch {
        if !failed.iter().any(|f| Some(f.as_str()) == m.message_id()) {
            sqs.delete_message()
                .queue_url(queue_url)
                .receipt_handle(m.receipt_handle().unwrap())
                .send()
                .await
                .unwrap();
        }
    }
}

/// Redelivers `records` (those of one received batch, in batch order) to the router until it
/// reports none failed, then deletes them: what SQS FIFO does for a failed or abandoned
/// batch. Done by hand because the emulator (moto 5.2) redelivers several timed-out in-flight
/// records of one group in the wrong order (newest first: when they become visible together,
/// each but the last is skipped as "group still pending"); real SQS keeps group order.
async fn redeliver_in_order(
    sqs: &aws_sdk_sqs::Client,
    router: &mut impl Router,
    queue_url: &str,
    records: &[aws_sdk_sqs::types::Message],
) {
    let mut left: Vec<aws_sdk_sqs::types::Message> = records.to_vec();
    for _ in 0..10 {
        if left.is_empty() {
            break;
        }
        let failed = failed_ids(&router.handle(&sqs_event(&left)).await);
        delete_succeeded(sqs, queue_url, &left, &failed).await;
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

/// Pumps until the inbound queue is empty, the way the event source mapping does (batches of
/// up to 10, records not reported failed deleted), waiting out the visibility timeout of
/// records the router reported failed or never answered for. Bounded.
async fn pump_until_empty(sqs: &aws_sdk_sqs::Client, router: &mut impl Router, queue_url: &str) {
    let deadline = Instant::now() + Duration::from_secs(90);
    loop {
        let mut failures = 0;
        loop {
            let batch = receive_batch(sqs, queue_url).await;
            if batch.is_empty() {
                break;
            }
            let failed = failed_ids(&router.handle(&sqs_event(&batch)).await);
            delete_succeeded(sqs, queue_url, &batch, &failed).await;
            if !failed.is_empty() {
                // Failed records stay invisible until the visibility timeout.
                failures = failed.len();
                break;
            }
        }
        let visible_or_inflight = sqs
            .get_queue_attributes()
            .queue_url(queue_url)
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
        if failures == 0 && visible_or_inflight == 0 {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "queue not drained: {failures} failed in the last batch, {visible_or_inflight} left"
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
    let http = gatewayctl::http_client();
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
    let failed = failed_ids(&response);
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
    delete_succeeded(&sqs, &run.stack.queue_url, &batch, &failed).await;

    // Recovery: the failed records redelivered in order, then the rest of the queue.
    let failed_records: Vec<_> = batch
        .iter()
        .filter(|m| failed.iter().any(|f| Some(f.as_str()) == m.message_id()))
        .cloned()
        .collect();
    let mut router = Watched {
        http: http.clone(),
        invoke_url: run.invoke_url("message-router"),
    };
    redeliver_in_order(&sqs, &mut router, &run.stack.queue_url, &failed_records).await;
    pump_until_empty(&sqs, &mut router, &run.stack.queue_url).await;
    assert_stored_once_in_order(&ddb, &run.stack.table_name, &openids, 4).await;
}

/// The router's timeout in the templates (`infra/sam/template.yaml`): the deadline each
/// invocation gets.
const ROUTER_TIMEOUT: Duration = Duration::from_secs(30);

/// The functions' configuration, as `tools/stack.sh` writes it for `cargo lambda watch`
/// (`functions.env`): taken from this process (the stack exports it), with the same defaults.
const FUNCTION_ENV: &[(&str, Option<&str>)] = &[
    ("AWS_ENDPOINT_URL", None),
    ("AWS_REGION", None),
    ("AWS_ACCESS_KEY_ID", None),
    ("AWS_SECRET_ACCESS_KEY", None),
    ("QUEUE_URL", None),
    ("DEAD_LETTER_QUEUE_URL", None),
    ("OUTBOUND_QUEUE_URL", None),
    ("OUTBOUND_DEAD_LETTER_QUEUE_URL", None),
    ("TABLE_NAME", None),
    ("ACCOUNTS_SECRET_ID", None),
    ("WEBHOOK_SECRET_ID", None),
    ("DELIVERY_SECRET_ID", None),
    ("API_CLIENTS_SECRET_ID", None),
    ("ACCOUNTS_CACHE_SECS", Some("1")),
    ("MAX_CLOCK_SKEW_SECS", Some("300")),
    ("MESSAGE_TTL_DAYS", Some("90")),
    ("RULES_CACHE_SECS", Some("1")),
    ("WECHAT_API_BASE_URL", None),
    ("WEIBO_API_BASE_URL", None),
    ("PLATFORM_TIMEOUT_SECS", Some("5")),
    ("RETRY_BASE_SECS", Some("1")),
    ("RETRY_MAX_SECS", Some("2")),
    ("DELIVERY_CLAIM_TIMEOUT_SECS", Some("30")),
    ("RUST_LOG", Some("info")),
];

/// The `message-router` binary. Cargo gives `CARGO_BIN_EXE_<name>` only to the tests of the
/// binary's own package, so this is `MESSAGE_ROUTER_BIN` if set, else the binary next to this
/// test's `deps/` directory (`<target dir>/debug/message-router`), which `tools/stack.sh`
/// (`stack_build`, run by `make test` and `tools/with-stack.sh`) builds before any test runs.
fn router_binary() -> PathBuf {
    if let Some(path) = std::env::var_os("MESSAGE_ROUTER_BIN") {
        return PathBuf::from(path);
    }
    let exe = std::env::current_exe().unwrap();
    let path = exe
        .parent()
        .and_then(|deps| deps.parent())
        .unwrap()
        .join("message-router");
    assert!(
        path.is_file(),
        "{} not found: build it first (`cargo build --bin message-router`; make test and \
         tools/with-stack.sh do) or set MESSAGE_ROUTER_BIN",
        path.display()
    );
    path
}

/// What the function's runtime client asked of, or told, the runtime API.
enum FromFunction {
    /// `GET …/runtime/invocation/next`: answer with the HTTP response carrying an event.
    Next(oneshot::Sender<Vec<u8>>),
    /// `POST …/runtime/invocation/{id}/response` (`ok`) or `…/error`.
    Result { id: String, ok: bool, body: String },
    /// Anything else (`POST …/runtime/init/error`, …).
    Other(String),
}

/// How an invocation ended.
#[derive(Debug)]
enum Outcome {
    /// The function posted a response.
    Response(Value),
    /// The function posted an error (invocation or init).
    Error(String),
    /// The process exited without answering.
    Exited(ExitStatus),
}

/// Reads one HTTP/1.1 request (request line, headers, `Content-Length` body); `None` when
/// the connection closed.
fn read_request(
    reader: &mut BufReader<TcpStream>,
) -> std::io::Result<Option<(String, String, String)>> {
    let mut line = String::new();
    if reader.read_line(&mut line)? == 0 {
        return Ok(None);
    }
    let mut parts = line.split_whitespace();
    let method = parts.next().unwrap_or_default().to_string();
    let path = parts.next().unwrap_or_default().to_string();
    let mut length = 0usize;
    loop {
        let mut header = String::new();
        if reader.read_line(&mut header)? == 0 {
            return Ok(None);
        }
        let header = header.trim_end();
        if header.is_empty() {
            break;
        }
        if let Some((name, value)) = header.split_once(':')
            && name.eq_ignore_ascii_case("content-length")
        {
            length = value.trim().parse().unwrap_or(0);
        }
    }
    let mut body = vec![0u8; length];
    reader.read_exact(&mut body)?;
    Ok(Some((
        method,
        path,
        String::from_utf8_lossy(&body).into_owned(),
    )))
}

/// Serves one connection of the function's runtime client.
fn serve_runtime_api(
    stream: TcpStream,
    to_test: &mpsc::UnboundedSender<FromFunction>,
) -> std::io::Result<()> {
    let mut writer = stream.try_clone()?;
    let mut reader = BufReader::new(stream);
    while let Some((method, path, body)) = read_request(&mut reader)? {
        if method == "GET" && path.ends_with("/runtime/invocation/next") {
            let (give, take) = oneshot::channel();
            if to_test.send(FromFunction::Next(give)).is_err() {
                return Ok(());
            }
            // Long poll: blocks until the test hands out an event (or drops the sandbox).
            match take.blocking_recv() {
                Ok(response) => writer.write_all(&response)?,
                Err(_) => return Ok(()),
            }
            continue;
        }
        let accepted = r#"{"status":"OK"}"#;
        write!(
            writer,
            "HTTP/1.1 202 Accepted\r\nContent-Type: application/json\r\n\
             Content-Length: {}\r\n\r\n{accepted}",
            accepted.len()
        )?;
        let message = match path.split_once("/runtime/invocation/") {
            Some((_, rest)) if method == "POST" => {
                let (id, kind) = rest.split_once('/').unwrap_or((rest, ""));
                FromFunction::Result {
                    id: id.to_string(),
                    ok: kind == "response",
                    body,
                }
            }
            _ => FromFunction::Other(format!("{method} {path}: {body}")),
        };
        if to_test.send(message).is_err() {
            return Ok(());
        }
    }
    Ok(())
}

/// The HTTP response to `…/invocation/next` carrying `event`, with the headers Lambda sends.
fn invocation(id: &str, event: &Value) -> Vec<u8> {
    let body = event.to_string();
    let deadline_ms = (SystemTime::now() + ROUTER_TIMEOUT)
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis();
    format!(
        "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n\
         Lambda-Runtime-Aws-Request-Id: {id}\r\n\
         Lambda-Runtime-Deadline-Ms: {deadline_ms}\r\n\
         Lambda-Runtime-Invoked-Function-Arn: \
         arn:aws:lambda:us-east-1:123456789012:function:message-router\r\n\
         Lambda-Runtime-Trace-Id: Root=1-00000000-000000000000000000000000\r\n\
         Content-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

/// A `message-router` process run by the test the way Lambda runs it in a sandbox: started
/// with `AWS_LAMBDA_RUNTIME_API` pointing at this sandbox's own runtime API on 127.0.0.1,
/// the Lambda variables and the functions' configuration, and handed one event per
/// `…/invocation/next`. Its output goes to a log file in the temporary directory (kept if the
/// test fails). Dropping the sandbox kills the process (if still alive) and stops the runtime
/// API.
struct Sandbox {
    child: Child,
    from_function: mpsc::UnboundedReceiver<FromFunction>,
    /// A `…/next` the function is waiting on.
    waiting: Option<oneshot::Sender<Vec<u8>>>,
    invocations: u32,
    runtime_api: SocketAddr,
    stop: Arc<AtomicBool>,
    log: PathBuf,
}

impl Sandbox {
    fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let runtime_api = listener.local_addr().unwrap();
        let (to_test, from_function) = mpsc::unbounded_channel();
        let stop = Arc::new(AtomicBool::new(false));
        {
            let stop = stop.clone();
            std::thread::spawn(move || {
                for stream in listener.incoming() {
                    if stop.load(Ordering::SeqCst) {
                        return;
                    }
                    if let Ok(stream) = stream {
                        let to_test = to_test.clone();
                        std::thread::spawn(move || serve_runtime_api(stream, &to_test));
                    }
                }
            });
        }
        let log = std::env::temp_dir().join(format!("{}.log", unique("faults-message-router")));
        eprintln!("message-router log: {}", log.display());
        let output = std::fs::File::create(&log).unwrap();
        let mut command = Command::new(router_binary());
        command
            .env_clear()
            .env("PATH", "/usr/local/bin:/usr/bin/:/bin:/opt/bin")
            .env("TZ", ":UTC")
            .env("AWS_LAMBDA_RUNTIME_API", runtime_api.to_string())
            .env("AWS_LAMBDA_FUNCTION_NAME", "message-router")
            .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "256")
            .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
            .env("AWS_LAMBDA_INITIALIZATION_TYPE", "on-demand")
            .env("AWS_LAMBDA_LOG_GROUP_NAME", "/aws/lambda/message-router")
            .env("AWS_LAMBDA_LOG_STREAM_NAME", "faults");
        for (name, default) in FUNCTION_ENV {
            match std::env::var_os(name) {
                Some(value) => {
                    command.env(name, value);
                }
                None => {
                    let default = default.unwrap_or_else(|| {
                        panic!(
                            "{name} is not set: this test needs the local stack; run `make test`"
                        )
                    });
                    command.env(name, default);
                }
            }
        }
        let child = command
            .stdin(Stdio::null())
            .stdout(output.try_clone().unwrap())
            .stderr(output)
            .spawn()
            .unwrap_or_else(|e| panic!("start {}: {e}", router_binary().display()));
        Sandbox {
            child,
            from_function,
            waiting: None,
            invocations: 0,
            runtime_api,
            stop,
            log,
        }
    }

    fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The next thing the function asks or tells, or how the process ended if it exited.
    async fn next_from_function(&mut self, deadline: Instant) -> Result<FromFunction, ExitStatus> {
        loop {
            let poll = Duration::from_millis(50);
            if let Ok(got) = tokio::time::timeout(poll, self.from_function.recv()).await {
                return Ok(got.expect("the runtime API stopped"));
            }
            if let Some(status) = self.child.try_wait().unwrap() {
                // Whatever it sent just before exiting is still on its way.
                return match tokio::time::timeout(poll * 4, self.from_function.recv()).await {
                    Ok(Some(got)) => Ok(got),
                    _ => Err(status),
                };
            }
            assert!(
                Instant::now() < deadline,
                "the router neither answered nor exited; log: {}",
                self.log.display()
            );
        }
    }

    /// Hands `event` to the function as one invocation (waiting for its `…/next` first) and
    /// returns how the invocation ended.
    async fn invoke(&mut self, event: &Value) -> Outcome {
        let deadline = Instant::now() + ROUTER_TIMEOUT * 2;
        let next = loop {
            if let Some(next) = self.waiting.take() {
                break next;
            }
            match self.next_from_function(deadline).await {
                Ok(FromFunction::Next(next)) => self.waiting = Some(next),
                Ok(FromFunction::Result { id, body, .. }) => {
                    panic!("a result for {id}, never handed out: {body}")
                }
                Ok(FromFunction::Other(what)) => return Outcome::Error(what),
                Err(status) => return Outcome::Exited(status),
            }
        };
        self.invocations += 1;
        let id = format!("{}-{}", self.pid(), self.invocations);
        // A send that fails means the function is gone; the loop below sees it exit.
        let _ = next.send(invocation(&id, event));
        loop {
            match self.next_from_function(deadline).await {
                Ok(FromFunction::Next(next)) => self.waiting = Some(next),
                Ok(FromFunction::Result { id: of, ok, body }) if of == id => {
                    return if ok {
                        Outcome::Response(serde_json::from_str(&body).unwrap())
                    } else {
                        Outcome::Error(body)
                    };
                }
                Ok(FromFunction::Result { id: of, body, .. }) => {
                    panic!("a result for {of} while {id} runs: {body}")
                }
                Ok(FromFunction::Other(what)) => return Outcome::Error(what),
                Err(status) => return Outcome::Exited(status),
            }
        }
    }
}

impl Router for Sandbox {
    async fn handle(&mut self, event: &Value) -> Value {
        match self.invoke(event).await {
            Outcome::Response(response) => response,
            other => panic!("router invocation: {other:?}; log: {}", self.log.display()),
        }
    }
}

impl Drop for Sandbox {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        // Wakes the runtime API's accept loop so that it sees `stop` and closes.
        self.stop.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect(self.runtime_api);
        // The log is kept when the test fails.
        if !std::thread::panicking() {
            let _ = std::fs::remove_file(&self.log);
        }
    }
}

/// How many message items the conversations of `openids` hold.
async fn stored_messages(ddb: &aws_sdk_dynamodb::Client, table: &str, openids: &[String]) -> usize {
    let keys: Vec<String> = openids
        .iter()
        .map(|o| format!("CONV#wechat:plain-demo:{o}"))
        .collect();
    gatewayctl::local::scan_items(ddb, table)
        .await
        .unwrap()
        .iter()
        .filter(|i| i["entity"] == "message" && keys.iter().any(|k| i["PK"] == k.as_str()))
        .count()
}

#[tokio::test]
#[ignore = "needs the running functions (make test)"]
async fn router_killed_mid_batch_redelivery_stores_each_message_once_in_order() {
    let _guard = RUNNING_STACK_LOCK.lock().await;
    let run = RunningStack::from_env();
    let queue_url = run.stack.queue_url.clone();
    let table = run.stack.table_name.clone();
    let sdk = sdk().await;
    let sqs = aws_sdk_sqs::Client::new(&sdk);
    let ddb = aws_sdk_dynamodb::Client::new(&sdk);
    let http = gatewayctl::http_client();
    drain(&sqs, &queue_url).await;

    // Arrange: 12 messages in 2 conversations; one batch of 10 received, 2 left queued
    // behind it; a router in its own sandbox, as Lambda runs it.
    let openids = send_conversations(&http, &run, 2, 6).await;
    let batch = receive_batch(&sqs, &queue_url).await;
    assert_eq!(batch.len(), 10);
    let mut sandbox = Sandbox::start();
    let killed_pid = sandbox.pid();

    // Act: the router starts the batch; as soon as its first write has landed, SIGKILL.
    let invoke = {
        let event = sqs_event(&batch);
        tokio::spawn(async move {
            let outcome = sandbox.invoke(&event).await;
            (sandbox, outcome)
        })
    };
    let started = Instant::now();
    loop {
        let mut any = false;
        for openid in &openids {
            any |= conversation_exists(&ddb, &table, openid).await;
        }
        if any {
            break;
        }
        assert!(started.elapsed() < Duration::from_secs(30), "router idle");
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    assert!(!invoke.is_finished(), "the batch ended before the kill");
    signal("-KILL", &killed_pid.to_string());
    let (killed, outcome) = invoke.await.unwrap();

    // Assert: the process died of the kill without answering the batch (no response, no
    // error), in the middle of it: some of the batch stored, not all.
    match outcome {
        Outcome::Exited(status) => assert_eq!(status.signal(), Some(9), "{status}"),
        Outcome::Response(response) => panic!(
            "a killed router cannot have answered the batch: {response}; log: {}",
            killed.log.display()
        ),
        Outcome::Error(error) => panic!(
            "a killed router cannot have reported an error: {error}; log: {}",
            killed.log.display()
        ),
    }
    let stored = stored_messages(&ddb, &table, &openids).await;
    assert!(
        (1..batch.len()).contains(&stored),
        "the kill did not land mid-batch: {stored} of {} stored",
        batch.len()
    );

    // Recovery: nothing of the batch was deleted, so the whole batch comes back, in order,
    // to a new process (a new sandbox, as after a crash in Lambda); then the rest of the
    // queue.
    let mut fresh = Sandbox::start();
    assert_ne!(fresh.pid(), killed_pid);
    redeliver_in_order(&sqs, &mut fresh, &queue_url, &batch).await;
    pump_until_empty(&sqs, &mut fresh, &queue_url).await;
    assert_stored_once_in_order(&ddb, &table, &openids, 6).await;
    drop((killed, fresh));
}
