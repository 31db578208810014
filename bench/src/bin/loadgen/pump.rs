//! Stand-ins of the SQS event source mapping, and the queue calls they make.

use crate::{PHASE_LIMIT, summary};
use anyhow::{Context, Result, bail};
use aws_sdk_sqs::types::{MessageSystemAttributeName, QueueAttributeName};
use serde_json::{Value, json};
use std::collections::BTreeSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// One stand-in of the SQS event source mapping: receives batches of up to ten records from
/// `queue_url`, invokes the function at `invoke_url` with an SQS event, honours the partial
/// batch failures it reports, deletes the rest. Runs while `upstream` producers are active, so
/// the queue stays as short as in production, and until the queue is drained: it stops only
/// after `DRAIN_QUIET` without a record and with no message visible or in flight. Several
/// pumps on one FIFO queue behave like the event source's concurrent batches (the queue hands
/// out a message group to one receiver at a time). `drain`: an outbound queue nobody delivers,
/// consumed so the emulator's queues do not grow without bound.
pub struct Pump {
    pub sqs: aws_sdk_sqs::Client,
    pub http: reqwest::Client,
    pub queue_url: String,
    pub invoke_url: String,
    pub drain: Option<String>,
    pub upstream: Arc<AtomicUsize>,
}

#[derive(Default)]
pub struct PumpStats {
    pub delivered: usize,
    pub failed: usize,
    pub drained: usize,
    pub invoke_ms: Vec<f64>,
    pub invocation_errors: usize,
    pub queue_errors: usize,
    /// `idempotency_key`s of the records (reply commands) handed to the function.
    pub keys: BTreeSet<String>,
    pub elapsed: Duration,
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
pub async fn run_pumps(pumps: Vec<Pump>, finished: Option<Arc<AtomicUsize>>) -> Result<PumpStats> {
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

pub fn pump_json(s: &PumpStats) -> Value {
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

pub async fn queue_depth(sqs: &aws_sdk_sqs::Client, queue_url: &str) -> Result<u64> {
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
