//! The Lambda event source mapping on the outbound queue, one round at a time, for tests that
//! watch each attempt of the reply sender: receive what is visible, invoke `reply-sender` with
//! it, delete what it did not report as failed, and make the failed records visible again at
//! once (the sender set a backoff; a test does not wait it out).

use aws_sdk_sqs::types::MessageSystemAttributeName;
use serde_json::{Value, json};
use std::time::Duration;

/// What one [`sender_round`] saw.
#[derive(Debug)]
pub struct Round {
    /// `ApproximateReceiveCount` of each record handed to the sender.
    pub receive_counts: Vec<u32>,
    /// The records the sender reported as batch item failures.
    pub failed: Vec<String>,
}

/// One round on `queue_url` with the function at `invoke_url`; `None` when nothing was visible.
pub async fn sender_round(
    sqs: &aws_sdk_sqs::Client,
    http: &reqwest::Client,
    queue_url: &str,
    invoke_url: &str,
) -> Option<Round> {
    let received = sqs
        .receive_message()
        .queue_url(queue_url)
        .max_number_of_messages(10)
        .message_system_attribute_names(MessageSystemAttributeName::All)
        .wait_time_seconds(0)
        .send()
        .await
        .unwrap();
    let messages = received.messages();
    if messages.is_empty() {
        return None;
    }
    let mut receive_counts = Vec::new();
    let records: Vec<Value> = messages
        .iter()
        .map(|m| {
            let mut record = gatewayctl::local::sqs_record(m);
            receive_counts.push(
                record["attributes"]["ApproximateReceiveCount"]
                    .as_str()
                    .unwrap()
                    .parse::<u32>()
                    .unwrap(),
            );
            record["eventSourceARN"] =
                json!("arn:aws:sqs:us-east-1:123456789012:local-outbound.fifo");
            record
        })
        .collect();
    let answer: Value = http
        .post(invoke_url)
        .json(&json!({ "Records": records }))
        .timeout(Duration::from_secs(120))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(answer.get("errorType").is_none(), "{answer}");
    let failed: Vec<String> = answer["batchItemFailures"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["itemIdentifier"].as_str().unwrap().to_string())
        .collect();
    for m in messages {
        let handle = m.receipt_handle().unwrap();
        if failed.iter().any(|id| Some(id.as_str()) == m.message_id()) {
            sqs.change_message_visibility()
                .queue_url(queue_url)
                .receipt_handle(handle)
                .visibility_timeout(0)
                .send()
                .await
                .unwrap();
        } else {
            sqs.delete_message()
                .queue_url(queue_url)
                .receipt_handle(handle)
                .send()
                .await
                .unwrap();
        }
    }
    Some(Round {
        receive_counts,
        failed,
    })
}

/// Rounds until the queue is empty; fails the test past `max_rounds`.
pub async fn sender_rounds(
    sqs: &aws_sdk_sqs::Client,
    http: &reqwest::Client,
    queue_url: &str,
    invoke_url: &str,
    max_rounds: usize,
) -> Vec<Round> {
    let mut rounds = Vec::new();
    while let Some(round) = sender_round(sqs, http, queue_url, invoke_url).await {
        rounds.push(round);
        assert!(rounds.len() <= max_rounds, "still retrying: {rounds:?}");
    }
    rounds
}
