//! Cold start, memory and in-process invocation time of a function binary, measured locally
//! as a process against a stub of the Lambda runtime API.
//!
//! The stub listens on 127.0.0.1; the function is started with `AWS_LAMBDA_RUNTIME_API`
//! pointing at it. The runtime's first `GET …/runtime/invocation/next` marks the end of init
//! (config, SDK clients, rules): cold start = that moment minus the moment before the process
//! was spawned (fork and exec included). Peak memory is the kernel's high-water mark of the
//! resident set (`VmHWM` in `/proc/PID/status`, the same figure as `/usr/bin/time -v`'s
//! "Maximum resident set size"), read after init and again after `--invocations` real
//! invocations (signed webhook requests or router SQS events, built fresh), which go to
//! whatever `AWS_ENDPOINT_URL` names (the local emulator in `bench/run.sh`).
//!
//! ```text
//! coldstart --label NAME --bin PATH [--runs N] [--env NAME=VALUE]...
//!           [--event wechat|weibo|router --invocations K]
//! ```
//!
//! The function starts with a cleared environment: what a provided.al2023 function gets, plus
//! its configuration variables taken from this process (`PASS_THROUGH`) and `--env`.
//!
//! Prints one JSON object. Everything stays on 127.0.0.1; every wait is bounded.

#[path = "../../../shared/gateway-core/benches/common/mod.rs"]
#[allow(unused_imports)]
mod common;

use anyhow::{Context, Result, anyhow, bail};
use gateway_bench::summary;
use gateway_core::channel::{wechat, weibo};
use gatewayctl::runtime_api::{self, Answer, Call};
use serde_json::{Value, json};
use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::{self, Receiver, Sender};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// How long one function may take to reach `/next` or to answer an invocation.
const STEP_TIMEOUT: Duration = Duration::from_secs(30);

enum FromRuntime {
    /// The runtime asks for the next event; send the HTTP response bytes on the channel.
    Next(Sender<Vec<u8>>),
    /// The runtime posted a result (or an error) for a request id.
    Done { id: String, ok: bool, body: String },
}

struct Args {
    label: String,
    bin: String,
    runs: usize,
    event: Option<String>,
    invocations: usize,
    env: Vec<(String, String)>,
}

fn parse_args() -> Result<Args> {
    let mut args = Args {
        label: String::new(),
        bin: String::new(),
        runs: 20,
        event: None,
        invocations: 0,
        env: Vec::new(),
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = || it.next().ok_or_else(|| anyhow!("{flag} needs a value"));
        match flag.as_str() {
            "--label" => args.label = value()?,
            "--bin" => args.bin = value()?,
            "--runs" => args.runs = value()?.parse()?,
            "--event" => args.event = Some(value()?),
            "--invocations" => args.invocations = value()?.parse()?,
            "--env" => {
                let pair = value()?;
                let (k, v) = pair.split_once('=').context("--env needs NAME=VALUE")?;
                args.env.push((k.to_string(), v.to_string()));
            }
            other => bail!("unknown argument {other}"),
        }
    }
    if args.bin.is_empty() {
        bail!(
            "usage: coldstart --label NAME --bin PATH [--runs N] [--env NAME=VALUE]... \
             [--event KIND --invocations K]"
        );
    }
    if args.label.is_empty() {
        args.label = args.bin.clone();
    }
    Ok(args)
}

/// Reads one HTTP/1.1 request (head and `Content-Length` body).
fn serve_connection(stream: TcpStream, to_main: Sender<FromRuntime>) -> std::io::Result<()> {
    runtime_api::serve_connection(stream, |call| match call {
        Call::Next => {
            let (tx, rx) = mpsc::channel();
            if to_main.send(FromRuntime::Next(tx)).is_err() {
                return Answer::Stop;
            }
            // Blocks until the main thread hands out an event; a closed channel (the run is
            // over) drops the connection.
            match rx.recv() {
                Ok(bytes) => Answer::Event(bytes),
                Err(_) => Answer::Stop,
            }
        }
        Call::Posted { id, ok, body } => {
            let _ = to_main.send(FromRuntime::Done { id, ok, body });
            Answer::Continue
        }
        // init/error and anything else: reported as a failure.
        Call::Other(what) => {
            let _ = to_main.send(FromRuntime::Done {
                id: String::new(),
                ok: false,
                body: what,
            });
            Answer::Continue
        }
    })
}

fn start_stub() -> Result<(String, Receiver<FromRuntime>)> {
    let listener = TcpListener::bind("127.0.0.1:0")?;
    let address = listener.local_addr()?.to_string();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let tx = tx.clone();
            std::thread::spawn(move || serve_connection(stream, tx));
        }
    });
    Ok((address, rx))
}

/// Function configuration passed through from this process's environment (what the
/// templates set); everything else is cleared, so the machine's own variables (proxies,
/// `SSL_CERT_*`, …) do not change what init does.
const PASS_THROUGH: &[&str] = &[
    "AWS_REGION",
    "AWS_DEFAULT_REGION",
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "AWS_ENDPOINT_URL",
    "QUEUE_URL",
    "ACCOUNTS_SECRET_ID",
    "WEBHOOK_SECRET_ID",
    "DELIVERY_SECRET_ID",
    "API_CLIENTS_SECRET_ID",
    "ACCOUNTS_CACHE_SECS",
    "MAX_CLOCK_SKEW_SECS",
    "MAX_BODY_BYTES",
    "TABLE_NAME",
    "DEAD_LETTER_QUEUE_URL",
    "OUTBOUND_QUEUE_URL",
    "OUTBOUND_DEAD_LETTER_QUEUE_URL",
    "TIMERS_QUEUE_URL",
    "ALERTS_TOPIC_ARN",
    "MEDIA_QUEUE_URL",
    "MEDIA_DEAD_LETTER_QUEUE_URL",
    "MEDIA_BUCKET",
    "EVENT_BUS_NAME",
    "DESK_USER_POOL_ID",
    "DESK_CLIENT_ID",
    "MESSAGE_TTL_DAYS",
    "RULES_CACHE_SECS",
    "RUST_LOG",
    "AWS_LAMBDA_LOG_FORMAT",
    "AWS_LAMBDA_LOG_LEVEL",
];

fn spawn(bin: &str, runtime_api: &str, label: &str, extra: &[(String, String)]) -> Result<Child> {
    let log = std::env::temp_dir().join(format!("coldstart-{label}.log"));
    let log = std::fs::File::create(&log).with_context(|| format!("create {}", log.display()))?;
    let mut command = Command::new(bin);
    // The environment a provided.al2023 function starts with, plus its configuration.
    command
        .env_clear()
        .env("PATH", "/usr/local/bin:/usr/bin/:/bin:/opt/bin")
        .env("LANG", "en_US.UTF-8")
        .env("TZ", ":UTC")
        .env("LAMBDA_TASK_ROOT", "/var/task")
        .env("LAMBDA_RUNTIME_DIR", "/var/runtime")
        .env("_HANDLER", "bootstrap")
        .env("AWS_LAMBDA_INITIALIZATION_TYPE", "on-demand")
        .env("AWS_LAMBDA_RUNTIME_API", runtime_api)
        .env("AWS_LAMBDA_FUNCTION_NAME", label)
        .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128")
        .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
        .env("AWS_LAMBDA_LOG_STREAM_NAME", "bench")
        .env("AWS_LAMBDA_LOG_GROUP_NAME", "bench");
    for name in PASS_THROUGH {
        if let Some(value) = std::env::var_os(name) {
            command.env(name, value);
        }
    }
    for (name, value) in extra {
        command.env(name, value);
    }
    command
        .stdin(Stdio::null())
        .stdout(log.try_clone()?)
        .stderr(log)
        .spawn()
        .with_context(|| format!("spawn {bin}"))
}

/// `VmHWM` and `VmRSS` of a live process, in KiB.
fn memory_kib(pid: u32) -> (u64, u64) {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.split_whitespace().next())
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    };
    (field("VmHWM:"), field("VmRSS:"))
}

fn wait_next(rx: &Receiver<FromRuntime>, child: &mut Child) -> Result<Sender<Vec<u8>>> {
    let deadline = Instant::now() + STEP_TIMEOUT;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match rx.recv_timeout(left.min(Duration::from_millis(200))) {
            Ok(FromRuntime::Next(tx)) => return Ok(tx),
            Ok(FromRuntime::Done { body, .. }) => bail!("function reported an error: {body}"),
            Err(mpsc::RecvTimeoutError::Timeout) => {
                if let Some(status) = child.try_wait()? {
                    bail!("function exited during init ({status}); see its log in the temp dir");
                }
                if left.is_zero() {
                    bail!("no /next within {STEP_TIMEOUT:?}");
                }
            }
            Err(e) => bail!("stub stopped: {e}"),
        }
    }
}

fn stop(mut child: Child) {
    let _ = child.kill();
    let _ = child.wait();
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or_default()
}

fn apigw_v2(
    path: &str,
    query: &std::collections::BTreeMap<String, String>,
    body: &str,
    ct: &str,
) -> Value {
    let raw_query = query
        .iter()
        .map(|(k, v)| {
            format!(
                "{k}={}",
                v.replace('+', "%2B")
                    .replace('/', "%2F")
                    .replace('=', "%3D")
            )
        })
        .collect::<Vec<_>>()
        .join("&");
    json!({
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": path,
        "rawQueryString": raw_query,
        "queryStringParameters": query,
        "headers": { "content-type": ct, "host": "localhost", "user-agent": "Mozilla/4.0" },
        "requestContext": {
            "accountId": "123456789012", "apiId": "bench", "domainName": "localhost",
            "domainPrefix": "localhost",
            "http": { "method": "POST", "path": path, "protocol": "HTTP/1.1",
                      "sourceIp": "127.0.0.1", "userAgent": "Mozilla/4.0" },
            "requestId": "bench", "routeKey": "$default", "stage": "$default",
            "time": "01/Jan/2026:00:00:00 +0000", "timeEpoch": now_ms()
        },
        "body": body,
        "isBase64Encoded": false
    })
}

/// A fresh event of `kind` (unique message each time), as the Lambda service would send it.
fn event(kind: &str, i: usize) -> Result<Value> {
    let accounts = common::accounts();
    let now = now_ms();
    let sender = format!("oBenchColdstart{:06}", i % 50);
    match kind {
        "wechat" => {
            let account = accounts.wechat.get("secure-demo").context("secure-demo")?;
            let msg_id = now as u64 * 1000 + i as u64;
            let inner = common::wechat_inner_xml_at(&sender, msg_id, common::TEXT, now / 1000);
            let request = wechat::simulate::push(
                account,
                &inner,
                now / 1000,
                &format!("{i}"),
                wechat::simulate::Envelope::Secure,
            )?;
            let body = String::from_utf8(request.body)?;
            Ok(apigw_v2(
                "/wechat/secure-demo",
                &request.query,
                &body,
                "text/xml",
            ))
        }
        "weibo" => {
            let account = accounts.weibo.get("brand").context("brand")?;
            let created_at = weibo::simulate::created_at(now / 1000).context("time")?;
            let body = weibo::simulate::text_body(
                1_902_538_057,
                2_489_518_277 + (i % 50) as u64,
                &created_at,
                &format!("{} #{i}-{now}", common::TEXT),
            );
            let request = weibo::simulate::push(account, body.clone(), now, &format!("{i}"));
            Ok(apigw_v2(
                "/weibo/brand",
                &request.query,
                &body,
                "application/json",
            ))
        }
        "router" => {
            let f = common::wechat_secure();
            let mut message = common::normalized(&f);
            message.sender_id = sender.clone();
            message.conversation_key = gateway_core::NormalizedMessage::conversation_key_for(
                message.channel,
                &message.account_id,
                &sender,
            );
            message.dedupe_key = format!("msg:bench-{now}-{i}");
            message.received_at_ms = now;
            Ok(json!({ "Records": [{
                "messageId": format!("bench-{now}-{i}"),
                "receiptHandle": "bench",
                "body": serde_json::to_string(&message)?,
                "attributes": {
                    "MessageGroupId": message.message_group_id(),
                    "MessageDeduplicationId": message.dedupe_id(),
                    "ApproximateReceiveCount": "1",
                    "SequenceNumber": format!("{i}"),
                },
                "messageAttributes": {},
                "md5OfBody": "",
                "eventSource": "aws:sqs",
                "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:bench-inbound.fifo",
                "awsRegion": "us-east-1"
            }]}))
        }
        other => bail!("unknown event kind {other} (wechat, weibo, router)"),
    }
}

fn invocation_response(id: &str, payload: &Value) -> Vec<u8> {
    let deadline_ms = u128::try_from(now_ms() + 30_000).unwrap_or_default();
    runtime_api::invocation("bench", deadline_ms, id, &payload.to_string())
}

/// A webhook answered 200, or the router reported no failed record.
fn succeeded(body: &str) -> bool {
    let Ok(v) = serde_json::from_str::<Value>(body) else {
        return false;
    };
    let status_ok = v
        .get("statusCode")
        .and_then(Value::as_u64)
        .is_none_or(|s| s == 200);
    let no_failed_items = v
        .get("batchItemFailures")
        .and_then(Value::as_array)
        .is_none_or(|f| f.is_empty());
    status_ok && no_failed_items
}

fn main() -> Result<()> {
    let args = parse_args()?;
    let (address, rx) = start_stub()?;

    let mut cold_ms = Vec::new();
    let mut hwm_init = Vec::new();
    let mut rss_init = Vec::new();
    for _ in 0..args.runs {
        let started = Instant::now();
        let mut child = spawn(&args.bin, &address, &args.label, &args.env)?;
        let next = wait_next(&rx, &mut child);
        let elapsed = started.elapsed();
        let (hwm, rss) = memory_kib(child.id());
        stop(child);
        drop(next?);
        cold_ms.push(elapsed.as_secs_f64() * 1000.0);
        hwm_init.push(hwm as f64);
        rss_init.push(rss as f64);
    }

    let mut out = json!({
        "label": args.label,
        "cold_start_ms": summary(cold_ms),
        "hwm_after_init_kib": summary(hwm_init),
        "rss_after_init_kib": summary(rss_init),
    });

    if let (Some(kind), true) = (&args.event, args.invocations > 0) {
        let mut child = spawn(&args.bin, &address, &args.label, &args.env)?;
        let mut invoke_ms = Vec::new();
        let mut failures = Vec::new();
        let result = (|| -> Result<()> {
            let mut pending = Some(wait_next(&rx, &mut child)?);
            for i in 0..args.invocations {
                let id = format!("bench-{i}");
                let payload = event(kind, i)?;
                let next = match pending.take() {
                    Some(tx) => tx,
                    None => wait_next(&rx, &mut child)?,
                };
                let started = Instant::now();
                next.send(invocation_response(&id, &payload))
                    .map_err(|_| anyhow!("runtime connection closed"))?;
                // Wait for this invocation's result; the runtime's next poll may come first.
                let deadline = Instant::now() + STEP_TIMEOUT;
                loop {
                    let left = deadline.saturating_duration_since(Instant::now());
                    match rx.recv_timeout(left)? {
                        FromRuntime::Done { id: done, ok, body } if done == id => {
                            invoke_ms.push(started.elapsed().as_secs_f64() * 1000.0);
                            if !ok || !succeeded(&body) {
                                failures.push(body);
                            }
                            break;
                        }
                        FromRuntime::Done { body, .. } => failures.push(body),
                        FromRuntime::Next(tx) => pending = Some(tx),
                    }
                }
            }
            drop(pending);
            Ok(())
        })();
        let (hwm, rss) = memory_kib(child.id());
        stop(child);
        result?;
        out["invocations"] = json!({
            "event": kind,
            "count": args.invocations,
            "failed": failures.len(),
            "first_failure": failures.first(),
            "first_ms": invoke_ms.first(),
            "warm_ms": summary(invoke_ms.iter().skip(1).copied().collect()),
            "hwm_kib": hwm,
            "rss_kib": rss,
        });
    }
    println!("{out}");
    Ok(())
}
