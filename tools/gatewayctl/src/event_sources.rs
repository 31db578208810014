//! The local stack's event sources, running continuously as Lambda runs them: each queue
//! mapped to its function (`inbound` → `message-router`, `outbound` → `reply-sender`) is
//! long-polled and every batch of up to ten records is handed to the function as an SQS event,
//! honouring its partial batch failures and leaving failed records to the queue's visibility
//! timeout (and the backoff the function sets); and the table's stream feeds `sla-monitor`
//! ([`crate::stream_source`]). `gatewayctl local event-sources` runs them until Ctrl-C;
//! `make up` starts them with the stack.

use crate::local::{deliver_batch, receive_batch};
use crate::stream_source::StreamMapping;
use anyhow::{Context, Result, bail};
use std::time::Duration;

/// One queue and the function it feeds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mapping {
    /// A short name for the log lines (the function's).
    pub name: String,
    /// The queue.
    pub queue_url: String,
    /// The function's invoke URL (`cargo lambda watch`).
    pub invoke_url: String,
}

impl Mapping {
    /// `NAME=QUEUE_URL=INVOKE_URL`.
    pub fn parse(text: &str) -> Result<Self> {
        let mut parts = text.splitn(3, '=');
        match (parts.next(), parts.next(), parts.next()) {
            (Some(name), Some(queue), Some(invoke))
                if !name.is_empty() && !queue.is_empty() && !invoke.is_empty() =>
            {
                Ok(Mapping {
                    name: name.to_string(),
                    queue_url: queue.to_string(),
                    invoke_url: invoke.to_string(),
                })
            }
            _ => bail!("a mapping is NAME=QUEUE_URL=INVOKE_URL, got `{text}`"),
        }
    }
}

/// A schedule (EventBridge rule) and the function it invokes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Schedule {
    /// A short name for the log lines (the function's).
    pub name: String,
    /// How often, in seconds.
    pub every_secs: u64,
    /// The function's invoke URL.
    pub invoke_url: String,
}

impl Schedule {
    /// `NAME=SECONDS=INVOKE_URL`.
    pub fn parse(text: &str) -> Result<Self> {
        let mut parts = text.splitn(3, '=');
        match (
            parts.next(),
            parts.next().map(str::parse::<u64>),
            parts.next(),
        ) {
            (Some(name), Some(Ok(every_secs)), Some(invoke))
                if !name.is_empty() && every_secs > 0 && !invoke.is_empty() =>
            {
                Ok(Schedule {
                    name: name.to_string(),
                    every_secs,
                    invoke_url: invoke.to_string(),
                })
            }
            _ => bail!("a schedule is NAME=SECONDS=INVOKE_URL (SECONDS > 0), got `{text}`"),
        }
    }
}

/// Invokes the function with an EventBridge scheduled event every `every_secs`.
async fn run_schedule(http: reqwest::Client, schedule: Schedule) {
    let mut tick = tokio::time::interval(Duration::from_secs(schedule.every_secs));
    loop {
        tick.tick().await;
        let event = serde_json::json!({
            "version": "0",
            "id": format!("local-{}", epoch_ms()),
            "detail-type": "Scheduled Event",
            "source": "aws.events",
            "account": "000000000000",
            "time": "",
            "region": "us-east-1",
            "resources": [format!("local:schedule/{}", schedule.name)],
            "detail": {},
        });
        match http.post(&schedule.invoke_url).json(&event).send().await {
            Ok(r) if r.status().is_success() => println!("{}: scheduled run", schedule.name),
            Ok(r) => eprintln!(
                "{}: scheduled run answered HTTP {}",
                schedule.name,
                r.status()
            ),
            Err(e) => eprintln!("{}: {e:#}", schedule.name),
        }
    }
}

fn epoch_ms() -> u128 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis())
        .unwrap_or_default()
}

/// Runs one mapping until the process stops: a line per batch on stdout, a line per error on
/// stderr (the loop goes on after a pause, as the event source retries).
async fn run_one(sqs: aws_sdk_sqs::Client, http: reqwest::Client, mapping: Mapping) {
    loop {
        let outcome: Result<Option<(usize, usize)>> = async {
            let messages = receive_batch(&sqs, &mapping.queue_url, 1).await?;
            if messages.is_empty() {
                return Ok(None);
            }
            let failed = deliver_batch(
                &sqs,
                &http,
                &mapping.queue_url,
                &mapping.invoke_url,
                &messages,
            )
            .await?;
            Ok(Some((messages.len(), failed)))
        }
        .await;
        match outcome {
            Ok(None) => {}
            Ok(Some((records, failed))) => {
                println!(
                    "{}: {records} record(s), {failed} reported failed (retried after their visibility timeout)",
                    mapping.name
                );
            }
            Err(e) => {
                eprintln!("{}: {e:#}", mapping.name);
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        }
    }
}

/// Runs every queue mapping, stream mapping and schedule concurrently until Ctrl-C (or
/// `stop_after`, for tests). `endpoint` is the emulator's (the streams are read from it).
pub async fn run(
    sdk: &aws_config::SdkConfig,
    endpoint: &str,
    http: &reqwest::Client,
    mappings: Vec<Mapping>,
    streams: Vec<StreamMapping>,
    schedules: Vec<Schedule>,
    stop_after: Option<Duration>,
) -> Result<()> {
    if mappings.is_empty() && streams.is_empty() && schedules.is_empty() {
        bail!("no event source given (--map, --stream or --schedule)");
    }
    let sqs = aws_sdk_sqs::Client::new(sdk);
    let ddb = aws_sdk_dynamodb::Client::new(sdk);
    let mut tasks: Vec<_> = mappings
        .into_iter()
        .map(|m| tokio::spawn(run_one(sqs.clone(), http.clone(), m)))
        .collect();
    tasks.extend(streams.into_iter().map(|m| {
        tokio::spawn(crate::stream_source::run_one(
            ddb.clone(),
            http.clone(),
            endpoint.to_string(),
            m,
        ))
    }));
    tasks.extend(
        schedules
            .into_iter()
            .map(|sc| tokio::spawn(run_schedule(http.clone(), sc))),
    );
    match stop_after {
        Some(d) => tokio::time::sleep(d).await,
        None => tokio::signal::ctrl_c().await.context("wait for Ctrl-C")?,
    }
    for t in tasks {
        t.abort();
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_mapping_names_its_function_queue_and_url() {
        let m =
            Mapping::parse("message-router=http://q/1/in.fifo=http://f/invoke?a=b").expect("valid");
        assert_eq!(m.name, "message-router");
        assert_eq!(m.queue_url, "http://q/1/in.fifo");
        assert_eq!(m.invoke_url, "http://f/invoke?a=b");
        assert!(Mapping::parse("router=http://q").is_err());
        assert!(Mapping::parse("=a=b").is_err());
        let s = Schedule::parse("sla-monitor=60=http://f/invoke").expect("valid");
        assert_eq!(s.every_secs, 60);
        assert!(Schedule::parse("sla-monitor=0=http://f").is_err());
        assert!(Schedule::parse("sla-monitor=soon=http://f").is_err());
    }
}
