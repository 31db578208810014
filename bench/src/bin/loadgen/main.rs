//! Load run through the functions running locally under `cargo lambda watch --release`
//! (started by `bench/load.sh`), against the local AWS emulator.
//!
//! 1. Sends `--messages` correctly signed pushes across `--conversations` conversations, mixed
//!    WeChat plaintext / secure / compatible and Weibo JSON, with `--concurrency` requests in
//!    flight, and re-sends every `--retry-every`-th message (the platform's retry), timing
//!    each webhook request ([`push`]).
//! 2. Meanwhile drives the router the way the SQS event source mapping does (batches of up to
//!    10, partial batch failures honoured, redeliveries after the visibility timeout), timing
//!    each invocation, and consumes the outbound queue as the reply sender would ([`pump`]).
//! 3. Reconciles DynamoDB against what was sent: every message stored exactly once (no loss,
//!    no duplicate), every conversation's `inbound_count` right, nothing dead-lettered, the
//!    queue drained ([`inbound`]).
//!
//! The soak (`tools/soak/run.sh`) runs the same driver longer and harder: `--copies` re-sends
//! of a message at the platforms' retry pattern, `--platform-retries` re-sends after a 5xx
//! (as the platforms do when the gateway could not queue), `--pumps` router instances at once,
//! `--replies 1` delivers the reply commands through the running `reply-sender` to the
//! platform stand-ins (`GATEWAY_STUB_URL`) and reconciles every send ([`replies`]),
//! `--faults-every S` and `--faults-per-messages K` inject faults, whichever comes first of
//! a random gap of mean S seconds and K pushes ([`faults`]): the AWS emulator (`MOTO_PID`)
//! frozen for 0.5–3 s, and transient platform errors scripted, alternately.
//! `--require-faults 1` fails a run of 500 messages or more that saw no freeze or no platform
//! call refused by a scripted error.
//!
//! `--progress-secs S` (default 30, 0 off) prints a progress line on stderr every S seconds:
//! pushes finished of all, their pace and the time left at it, and the queues' depth.
//!
//! Prints one JSON object. Traffic goes to 127.0.0.1 only; every loop is bounded in count and
//! time.

#[path = "../../../../shared/gateway-core/benches/common/mod.rs"]
#[allow(unused_imports)]
mod common;
mod faults;
mod inbound;
mod progress;
mod pump;
mod push;
mod replies;

use anyhow::{Context, Result, bail};
pub(crate) use gateway_bench::summary;
use pump::{Pump, pump_json, run_pumps};
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

/// Longest a phase may run.
const PHASE_LIMIT: Duration = Duration::from_secs(7200);

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
    faults: faults::Plan,
    require_faults: bool,
    progress_secs: u64,
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
        faults: faults::Plan {
            every_secs: 0.0,
            per_messages: 0,
        },
        require_faults: false,
        progress_secs: 30,
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
            "--faults-every" => args.faults.every_secs = value.parse()?,
            "--faults-per-messages" => args.faults.per_messages = value.parse()?,
            "--require-faults" => args.require_faults = value != "0",
            "--progress-secs" => args.progress_secs = value.parse()?,
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
    let every = args.faults.every_secs;
    if every < 0.0 || (every > 0.0 && every < 2.0) {
        bail!("--faults-every must be 0 (off) or at least 2 seconds");
    }
    if args.require_faults && !args.replies {
        bail!("--require-faults needs --replies 1 (platform errors are scripted on the stand-ins)");
    }
    Ok(args)
}

fn env(name: &str) -> Result<String> {
    std::env::var(name).with_context(|| format!("{name} is not set (run through bench/load.sh)"))
}

#[tokio::main]
async fn main() -> Result<()> {
    let args = parse_args()?;
    let pushes = Arc::new(push::build_pushes(&args)?);
    let http = gatewayctl::http_client_builder()
        .pool_max_idle_per_host(args.concurrency + args.pumps + 1)
        .build()?;

    push::warm_up(&http, &args).await?;
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
    let finished = Arc::new(AtomicUsize::new(0));
    let faults = if args.faults.is_on() {
        Some(tokio::spawn(faults::inject(
            args.faults,
            env("MOTO_PID")?,
            stub.clone(),
            finished.clone(),
            stop_faults.clone(),
        )))
    } else {
        None
    };

    let stop_progress = Arc::new(AtomicBool::new(false));
    let progress = (args.progress_secs > 0).then(|| {
        let mut queues = vec![("inbound", queue_url.clone())];
        if args.replies {
            queues.push(("outbound", outbound_url.clone()));
        }
        tokio::spawn(progress::report(progress::Watch {
            every: Duration::from_secs(args.progress_secs),
            total: pushes.len(),
            finished: finished.clone(),
            sqs: sqs.clone(),
            queues,
            stop: stop_progress.clone(),
        }))
    });

    let sent = push::send_all(&http, pushes.clone(), &args, finished).await;
    sending.store(0, Ordering::SeqCst);
    // Faults stop with the pushes, so that the drain ends on a healthy stack.
    stop_faults.store(true, Ordering::SeqCst);
    let injected = match faults {
        Some(f) => f.await?,
        None => faults::Injected::default(),
    };
    let sent = sent?;
    let router = routers.await??;
    let reply_stats = match replies {
        Some(r) => Some(r.await??),
        None => None,
    };
    stop_progress.store(true, Ordering::SeqCst);
    if let Some(p) = progress {
        p.await?;
    }

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
    let reconciliation = inbound::reconcile(&sqs, &items, &pushes).await?;
    // With platform re-sends (the soak), a push never acknowledged is a failure only if it
    // was not stored (the reconciliation counts it lost): its send may have reached the queue
    // after the webhook gave up waiting, the ambiguous case the dedupe id exists for.
    let mut ok = (sent.errors.is_empty() || args.platform_retries > 0)
        && reconciliation["ok"] == json!(true);
    let mut refused_by_scripted = 0;
    let replies = match (&stub, &reply_stats) {
        (Some(stub), Some(stats)) => {
            let (r, sends) = replies::reconcile_replies(&sqs, &items, stub, &stats.keys).await?;
            ok &= r["ok"] == json!(true);
            refused_by_scripted = sends.refused_by_scripted_errors();
            json!({ "pump": pump_json(stats), "reconciliation": r })
        }
        _ => Value::Null,
    };
    let mut faults = injected.to_json(&args.faults);
    faults["platform_calls_refused_by_scripted_errors"] = json!(refused_by_scripted);
    faults["required"] = json!(args.require_faults);
    if args.require_faults {
        let problems = faults::fault_check(args.messages, injected.freezes, refused_by_scripted);
        ok &= problems.is_empty();
        faults["required_from_messages"] = json!(faults::FAULTS_REQUIRED_FROM);
        faults["problems"] = json!(problems);
    }
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
