//! The SQS FIFO batch driver shared by the queue consumers (router, reply sender).
//!
//! Records are handled one at a time, in queue order. Once a record of a message group (a
//! conversation) must be retried, every later record of that group in the batch is handed back
//! too, so a conversation is never processed out of order; other groups go on. Records not
//! started with less than a safety margin left in the invocation are handed back as well. The
//! ids handed back become the `batchItemFailures` of the response (the event source mapping
//! must have `ReportBatchItemFailures`).

use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsMessage};
use std::collections::HashSet;
use std::time::{Duration, SystemTime};

/// Time left in the invocation whose deadline is `deadline`. AWS always sends a deadline in the
/// future; a local emulator may send none (the epoch), and then the batch runs to completion.
pub fn time_left(deadline: SystemTime) -> impl Fn() -> Duration {
    let known = deadline > SystemTime::now();
    move || {
        if known {
            deadline
                .duration_since(SystemTime::now())
                .unwrap_or_default()
        } else {
            Duration::MAX
        }
    }
}

/// The response reporting `failures` for retry.
pub fn response(failures: impl IntoIterator<Item = String>) -> SqsBatchResponse {
    let mut response = SqsBatchResponse::default();
    for id in failures {
        response.add_failure(id);
    }
    response
}

/// Runs `handle(record, message_id, group)` on each record in order (it returns true when the
/// record is done, false when it must be retried) and returns the records to hand back.
pub async fn drive<'r>(
    records: &'r [SqsMessage],
    time_left: impl Fn() -> Duration,
    safety_margin: Duration,
    mut handle: impl AsyncFnMut(&'r SqsMessage, &str, &str) -> bool,
) -> Vec<&'r SqsMessage> {
    let mut retry = Vec::new();
    let mut failed_groups: HashSet<&str> = HashSet::new();
    for record in records {
        let Some(id) = record.message_id.as_deref() else {
            tracing::error!("SQS record without messageId; cannot acknowledge or retry it");
            continue;
        };
        let group = record
            .attributes
            .get("MessageGroupId")
            .map_or("", String::as_str);
        if failed_groups.contains(group) {
            retry.push(record);
            continue;
        }
        let remaining = time_left();
        let done = if remaining < safety_margin {
            tracing::warn!(
                sqs.message_id = id,
                remaining_ms = remaining.as_millis() as u64,
                "not enough time left in this invocation; handing the record back for retry"
            );
            false
        } else {
            handle(record, id, group).await
        };
        if !done {
            retry.push(record);
            failed_groups.insert(group);
        }
    }
    retry
}

/// The message ids of `records`.
pub fn ids(records: &[&SqsMessage]) -> Vec<String> {
    records
        .iter()
        .filter_map(|r| r.message_id.clone())
        .collect()
}
