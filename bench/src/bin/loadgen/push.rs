//! The pushes: built and signed as the platforms sign them, and sent to the webhooks with the
//! platforms' retries.

use crate::{Args, PHASE_LIMIT, common};
use anyhow::{Context, Result, bail};
use gateway_core::channel::{Limits, WebhookOutcome, wechat, weibo};
use serde_json::json;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// One signed push, with what the gateway must make of it.
pub struct Push {
    pub kind: &'static str,
    url: String,
    body: Vec<u8>,
    content_type: &'static str,
    ack: &'static str,
    pub conversation_key: String,
    pub dedupe_id: String,
    /// When the run started (the message's own time).
    base_ms: i64,
}

fn now_ms() -> Result<i64> {
    Ok(SystemTime::now().duration_since(UNIX_EPOCH)?.as_millis() as i64)
}

pub fn build_pushes(args: &Args) -> Result<Vec<Push>> {
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

/// One URL verification per webhook and an empty batch for the router, so that the measured
/// requests are warm (the first request to a function under the watcher starts its process,
/// and the first push fetches the accounts document).
pub async fn warm_up(http: &reqwest::Client, args: &Args) -> Result<()> {
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

/// Sends every push (and the retries) with `concurrency` requests in flight; `done` counts the
/// pushes finished (acknowledged, or given up on after the platform's re-sends), originals and
/// scripted re-sends alike.
pub async fn send_all(
    http: &reqwest::Client,
    pushes: Arc<Vec<Push>>,
    args: &Args,
    done: Arc<AtomicUsize>,
) -> Result<Sent> {
    /// Pushes older than this are signed again before they are sent (the window is 300 s).
    const RESIGN_AFTER_MS: i64 = 120_000;
    let order = Arc::new(send_order(pushes.len(), args));
    let platform_retries = args.platform_retries;
    let shared_args = Arc::new(args.clone());
    let cursor = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let mut workers = Vec::new();
    for _ in 0..args.concurrency {
        let (http, pushes, order, cursor, args, done) = (
            http.clone(),
            pushes.clone(),
            order.clone(),
            cursor.clone(),
            shared_args.clone(),
            done.clone(),
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
                done.fetch_add(1, Ordering::SeqCst);
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
pub struct Sent {
    /// (push index, latency ms) of every acknowledged request.
    pub timings: Vec<(usize, f64)>,
    /// Requests never acknowledged, even after the platform's retries.
    pub errors: Vec<String>,
    /// Requests answered with an error and then retried as the platform would.
    pub refused: Vec<String>,
    pub elapsed: Duration,
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
