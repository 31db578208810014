//! Generates the signed sample events in `events/`: API Gateway (HTTP API v2) requests for every
//! WeChat message type in every mode and every Weibo push type, the URL verifications, and an
//! SQS batch for the router. Deterministic (fixed timestamp, nonce and AES random prefix), so
//! the committed files can be checked for drift.
//!
//! The samples are signed at [`SAMPLE_TIMESTAMP`]: to replay them with `cargo lambda invoke`,
//! run the webhooks with a `MAX_CLOCK_SKEW_SECS` that covers that time (see the README).

use anyhow::{Context, Result, bail};
use gateway_core::account::AccountsDocument;
use gateway_core::channel::wechat::simulate::{self as wechat_sim, Envelope};
use gateway_core::channel::weibo::simulate as weibo_sim;
use gateway_core::channel::{HttpMethod, Limits, WebhookOutcome, wechat, weibo};
use gateway_core::outbound::ReplyCommand;
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::path::Path;

/// Unix seconds every sample is signed at (2026-11-18T21:46:40Z).
pub const SAMPLE_TIMESTAMP: i64 = 1_795_038_400;
const NONCE: &str = "1795038400";
const RANDOM: &[u8; 16] = b"gatewaysample016";

/// One generated file: path relative to the repository root, and its content.
pub type Generated = BTreeMap<String, String>;

fn apigw_v2(
    method: HttpMethod,
    channel: &str,
    account: &str,
    query: &BTreeMap<String, String>,
    query_string: &str,
    body: &[u8],
) -> Result<String> {
    let method = match method {
        HttpMethod::Get => "GET",
        HttpMethod::Post => "POST",
        HttpMethod::Other => bail!("samples are GET or POST"),
    };
    let path = format!("/{channel}/{account}");
    let body = String::from_utf8(body.to_vec()).context("sample bodies are UTF-8")?;
    let content_type = if body.starts_with('{') {
        "application/json"
    } else {
        "text/xml"
    };
    let mut event = json!({
        "version": "2.0",
        "routeKey": format!("{method} /{channel}/{{account}}"),
        "rawPath": path,
        "rawQueryString": query_string,
        "headers": { "content-type": content_type, "host": "localhost", "user-agent": "Mozilla/4.0" },
        "queryStringParameters": query,
        "pathParameters": { "account": account },
        "requestContext": {
            "accountId": "123456789012",
            "apiId": "sample",
            "domainName": "localhost",
            "domainPrefix": "localhost",
            "http": {
                "method": method,
                "path": path,
                "protocol": "HTTP/1.1",
                "sourceIp": "127.0.0.1",
                "userAgent": "Mozilla/4.0"
            },
            "requestId": "sample",
            "routeKey": format!("{method} /{channel}/{{account}}"),
            "stage": "$default",
            "time": "18/Nov/2026:21:46:40 +0000",
            "timeEpoch": SAMPLE_TIMESTAMP * 1000
        },
        "isBase64Encoded": false
    });
    if !body.is_empty() {
        event["body"] = Value::String(body);
    }
    Ok(serde_json::to_string_pretty(&event)? + "\n")
}

fn fixtures(root: &Path, dir: &str, ext: &[&str]) -> Result<Vec<(String, String)>> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(root.join(dir)).with_context(|| format!("read {dir}"))? {
        let path = entry?.path();
        let Some(e) = path.extension().and_then(|e| e.to_str()) else {
            continue;
        };
        if !ext.contains(&e) {
            continue;
        }
        let stem = path
            .file_stem()
            .and_then(|s| s.to_str())
            .context("fixture name")?
            .to_string();
        out.push((stem, std::fs::read_to_string(&path)?));
    }
    out.sort();
    Ok(out)
}

fn queued(outcome: WebhookOutcome) -> Result<gateway_core::NormalizedMessage> {
    match outcome {
        WebhookOutcome::Message(m) => Ok(*m),
        WebhookOutcome::Echo(_) => bail!("expected a message"),
    }
}

/// Generates every sample from the fixtures under `root/events/*/messages` and the accounts
/// document `root/config/accounts.local.json`.
pub fn generate(root: &Path) -> Result<Generated> {
    let accounts = AccountsDocument::from_json(&std::fs::read_to_string(
        root.join("config/accounts.local.json"),
    )?)?;
    let limits = Limits {
        max_clock_skew_secs: 60,
        ..Limits::default()
    };
    let now_ms = SAMPLE_TIMESTAMP * 1000;
    let mut out = Generated::new();
    let mut router_batch = Vec::new();

    let demo = &accounts.wechat["demo"];
    let v = wechat_sim::verification(demo, SAMPLE_TIMESTAMP, NONCE, "4375120948345356249");
    out.insert(
        "events/wechat/verify-url.apigw-v2.json".into(),
        apigw_v2(
            v.method,
            "wechat",
            "demo",
            &v.query,
            &v.query_string(),
            &v.body,
        )?,
    );
    for (mode, dir, account) in [
        (Envelope::Plaintext, "plaintext", "plain-demo"),
        (Envelope::Compatible, "compatible", "demo"),
        (Envelope::Secure, "secure", "secure-demo"),
    ] {
        let acc = &accounts.wechat[account];
        for (name, xml) in fixtures(root, "events/wechat/messages", &["xml"])? {
            let r = wechat_sim::push_with_random(acc, &xml, SAMPLE_TIMESTAMP, NONCE, mode, RANDOM)?;
            // Each sample must verify, or it is not a sample.
            let message = queued(wechat::handle(
                acc,
                &r.as_inbound(account, now_ms),
                &limits,
            )?)?;
            if mode == Envelope::Plaintext && (name == "text" || name == "event-subscribe") {
                router_batch.push(message);
            }
            out.insert(
                format!("events/wechat/{dir}/{name}.apigw-v2.json"),
                apigw_v2(
                    r.method,
                    "wechat",
                    account,
                    &r.query,
                    &r.query_string(),
                    &r.body,
                )?,
            );
        }
    }

    let brand = &accounts.weibo["brand"];
    let v = weibo_sim::verification(brand, "dnPdpTZz85", now_ms, NONCE);
    out.insert(
        "events/weibo/verify-url.apigw-v2.json".into(),
        apigw_v2(
            v.method,
            "weibo",
            "brand",
            &v.query,
            &v.query_string(),
            &v.body,
        )?,
    );
    for (name, body) in fixtures(root, "events/weibo/messages", &["json", "xml"])? {
        let account = if body.trim_start().starts_with('<') {
            "brand-xml"
        } else {
            "brand"
        };
        let acc = &accounts.weibo[account];
        let r = weibo_sim::push(acc, body.into_bytes(), now_ms, NONCE);
        let message = queued(weibo::handle(acc, &r.inbound(account), &limits)?)?;
        if name == "text" {
            router_batch.push(message);
        }
        out.insert(
            format!("events/weibo/push/{name}.apigw-v2.json"),
            apigw_v2(
                r.method,
                "weibo",
                account,
                &r.query,
                &r.query_string(),
                &r.body,
            )?,
        );
    }

    // The router's input: what the webhooks queued, as the SQS event source delivers it, plus
    // one undecodable record (it goes to the dead-letter queue, not back to the queue).
    let mut records: Vec<Value> = router_batch
        .iter()
        .enumerate()
        .map(|(i, m)| {
            Ok(json!({
                "messageId": format!("00000000-0000-4000-8000-00000000000{i}"),
                "receiptHandle": format!("sample-receipt-{i}"),
                "body": serde_json::to_string(m)?,
                "attributes": {
                    "ApproximateReceiveCount": "1",
                    "MessageGroupId": m.message_group_id(),
                    "MessageDeduplicationId": m.dedupe_id(),
                    "SentTimestamp": (now_ms).to_string(),
                    "SequenceNumber": format!("1879000000000000000{i}")
                },
                "messageAttributes": {},
                "eventSource": "aws:sqs",
                "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:gateway-inbound.fifo",
                "awsRegion": "us-east-1"
            }))
        })
        .collect::<Result<_>>()?;
    records.push(json!({
        "messageId": "00000000-0000-4000-8000-0000000000ff",
        "receiptHandle": "sample-receipt-poison",
        "body": "{\"not\": \"a normalized message\"",
        "attributes": { "ApproximateReceiveCount": "1", "MessageGroupId": "poison" },
        "messageAttributes": {},
        "eventSource": "aws:sqs",
        "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:gateway-inbound.fifo",
        "awsRegion": "us-east-1"
    }));
    out.insert(
        "events/sqs/inbound-batch.json".into(),
        serde_json::to_string_pretty(&json!({ "Records": records }))? + "\n",
    );

    // reply-api: an agent's reply to the WeChat text sample's conversation, HMAC-signed by the
    // local demo client.
    let first = router_batch.first().context("a router sample")?;
    let reply_body = json!({
        "conversation_key": first.conversation_key,
        "content": { "type": "text", "text": "您好，营业时间为工作日 9:00-18:00。" },
        "idempotency_key": "sample-ticket-1",
        "agent_id": "alice"
    })
    .to_string();
    let client = accounts
        .api_clients
        .get("demo-crm")
        .context("api client demo-crm in config/accounts.local.json")?;
    let signature = gateway_core::delivery::auth::sign(
        client.secret.expose(),
        "POST",
        "/replies",
        "demo-crm",
        SAMPLE_TIMESTAMP,
        reply_body.as_bytes(),
    );
    let mut reply_event: Value = serde_json::from_str(&apigw_v2(
        HttpMethod::Post,
        "replies",
        "",
        &BTreeMap::new(),
        "",
        reply_body.as_bytes(),
    )?)?;
    reply_event["rawPath"] = json!("/replies");
    reply_event["routeKey"] = json!("POST /replies");
    reply_event["requestContext"]["routeKey"] = json!("POST /replies");
    reply_event["requestContext"]["http"]["path"] = json!("/replies");
    reply_event["pathParameters"] = json!({});
    reply_event["headers"]["x-gateway-client"] = json!("demo-crm");
    reply_event["headers"]["x-gateway-timestamp"] = json!(SAMPLE_TIMESTAMP.to_string());
    reply_event["headers"]["x-gateway-signature"] = json!(signature);
    out.insert(
        "events/reply-api/post-reply.apigw-v2.json".into(),
        serde_json::to_string_pretty(&reply_event)? + "\n",
    );

    // reply-sender: the auto-replies the router queues for the samples, as the SQS event
    // source delivers them from the outbound queue.
    let commands: Vec<ReplyCommand> = router_batch
        .iter()
        .map(|m| {
            ReplyCommand::auto_reply(
                m,
                "welcome",
                0,
                gateway_core::reply::ReplyContent::Text {
                    text: "欢迎关注！Welcome!".into(),
                },
                now_ms,
            )
        })
        .collect();
    let outbound: Vec<Value> = commands
        .iter()
        .enumerate()
        .map(|(i, c)| {
            Ok(json!({
                "messageId": format!("10000000-0000-4000-8000-00000000000{i}"),
                "receiptHandle": format!("sample-outbound-receipt-{i}"),
                "body": serde_json::to_string(c)?,
                "attributes": {
                    "ApproximateReceiveCount": "1",
                    "MessageGroupId": c.message_group_id(),
                    "MessageDeduplicationId": c.dedupe_id(),
                    "SentTimestamp": now_ms.to_string(),
                    "SequenceNumber": format!("1879000000000000100{i}")
                },
                "messageAttributes": {},
                "eventSource": "aws:sqs",
                "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:gateway-outbound.fifo",
                "awsRegion": "us-east-1"
            }))
        })
        .collect::<Result<_>>()?;
    out.insert(
        "events/sqs/outbound-batch.json".into(),
        serde_json::to_string_pretty(&json!({ "Records": outbound }))? + "\n",
    );

    // media-fetcher: the fetch commands the router queues for the samples with media (each
    // as the first message of its thread), as the SQS event source delivers them.
    let fetches: Vec<Value> = router_batch
        .iter()
        .flat_map(|m| gateway_core::media::fetch_commands(m, 1))
        .enumerate()
        .map(|(i, c)| {
            Ok(json!({
                "messageId": format!("20000000-0000-4000-8000-{i:012}"),
                "receiptHandle": format!("sample-media-receipt-{i}"),
                "body": serde_json::to_string(&c)?,
                "attributes": {
                    "ApproximateReceiveCount": "1",
                    "SentTimestamp": now_ms.to_string()
                },
                "messageAttributes": {},
                "eventSource": "aws:sqs",
                "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:gateway-media",
                "awsRegion": "us-east-1"
            }))
        })
        .collect::<Result<_>>()?;
    out.insert(
        "events/sqs/media-batch.json".into(),
        serde_json::to_string_pretty(&json!({ "Records": fetches }))? + "\n",
    );
    Ok(out)
}

/// Writes the generated samples under `root`.
pub fn write(root: &Path, generated: &Generated) -> Result<()> {
    for (path, content) in generated {
        let path = root.join(path);
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        std::fs::write(&path, content).with_context(|| format!("write {}", path.display()))?;
    }
    Ok(())
}

/// The paths whose committed content differs from what [`generate`] produces.
pub fn stale(root: &Path, generated: &Generated) -> Vec<String> {
    generated
        .iter()
        .filter(|(path, content)| {
            std::fs::read_to_string(root.join(path)).ok().as_deref() != Some(content.as_str())
        })
        .map(|(path, _)| path.clone())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn root() -> std::path::PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
    }

    #[test]
    fn committed_sample_events_are_up_to_date() {
        let generated = generate(&root()).expect("generate");
        assert!(generated.len() > 90, "{} samples", generated.len());
        let stale = stale(&root(), &generated);
        assert!(
            stale.is_empty(),
            "events/ is out of date; run `cargo run -p gatewayctl -- events generate`: {stale:?}"
        );
    }
}
