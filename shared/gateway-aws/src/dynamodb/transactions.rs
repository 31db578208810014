//! `TransactWriteItems` with its cancellation decoded in one place, for every adapter that
//! writes transactions (the router's conversation commit, the sender's delivery commits).
//!
//! A cancelled transaction lists one reason per item ("Cancellation reasons",
//! `TransactWriteItems` in the DynamoDB API reference). `ConditionalCheckFailed` is an answer
//! (a duplicate or a stale version) and is returned to the caller. `TransactionConflict` (another
//! request wrote one of the items at the same moment, e.g. the router and the reply sender on
//! one conversation), `ThrottlingError` and `ProvisionedThroughputExceeded` are contention: the
//! transaction is retried here a few times with jittered backoff and then reported as a
//! *transient* error, so the record goes back to its queue instead of the dead-letter queue.

use crate::error::port_error;
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::types::TransactWriteItem;
use gateway_core::ports::PortError;
use std::hash::{BuildHasher, Hasher};
use std::time::Duration;

/// Cancellation reason codes that mean contention, never a wrong request.
const CONTENTION: &[&str] = &[
    "TransactionConflict",
    "ThrottlingError",
    "ProvisionedThroughputExceeded",
    "RequestLimitExceeded",
];

/// Attempts of one transaction under contention before the error is reported as transient.
pub const CONTENTION_ATTEMPTS: u32 = 3;

/// What a transaction came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Transacted {
    /// Written.
    Committed,
    /// Cancelled because the conditions of these items (by index) failed.
    ConditionsFailed(Vec<usize>),
}

/// How a cancellation's reasons read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Cancellation {
    /// Items whose condition failed.
    Conditions(Vec<usize>),
    /// Contention only: worth retrying.
    Contention,
    /// Anything else (validation, an unknown code): not retried here.
    Other,
}

/// Decodes the reason codes (`None` or `"None"` for items that were fine).
pub(crate) fn classify(codes: &[Option<&str>]) -> Cancellation {
    let failed: Vec<usize> = codes
        .iter()
        .enumerate()
        .filter(|(_, c)| **c == Some("ConditionalCheckFailed"))
        .map(|(i, _)| i)
        .collect();
    if !failed.is_empty() {
        return Cancellation::Conditions(failed);
    }
    let mut problems = codes.iter().flatten().filter(|c| **c != "None").peekable();
    if problems.peek().is_some() && problems.all(|c| CONTENTION.contains(c)) {
        Cancellation::Contention
    } else {
        Cancellation::Other
    }
}

/// A random delay in `[base, 2 * base)`: full jitter keeps two contending writers apart.
fn jittered(base: Duration) -> Duration {
    let random = std::collections::hash_map::RandomState::new()
        .build_hasher()
        .finish();
    base + Duration::from_micros(random % (base.as_micros().max(1) as u64))
}

/// Writes `items` in one transaction, retrying contention; `operation` names it in errors.
pub async fn transact(
    client: &Client,
    items: Vec<TransactWriteItem>,
    operation: &'static str,
) -> Result<Transacted, PortError> {
    let mut attempt = 1;
    loop {
        let err = match client
            .transact_write_items()
            .set_transact_items(Some(items.clone()))
            .send()
            .await
        {
            Ok(_) => return Ok(Transacted::Committed),
            Err(err) => err,
        };
        let cancellation = match err.as_service_error() {
            Some(TransactWriteItemsError::TransactionCanceledException(tc)) => {
                let codes: Vec<Option<&str>> =
                    tc.cancellation_reasons().iter().map(|r| r.code()).collect();
                classify(&codes)
            }
            _ => Cancellation::Other,
        };
        match cancellation {
            Cancellation::Conditions(items) => return Ok(Transacted::ConditionsFailed(items)),
            Cancellation::Contention if attempt < CONTENTION_ATTEMPTS => {
                tracing::info!(
                    operation,
                    attempt,
                    "transaction cancelled by contention; retrying"
                );
                tokio::time::sleep(jittered(Duration::from_millis(25 << attempt))).await;
                attempt += 1;
            }
            Cancellation::Contention => {
                return Err(PortError::transient(operation, err));
            }
            Cancellation::Other => return Err(port_error(operation, err)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn conditions_are_answers_contention_is_transient() {
        assert_eq!(
            classify(&[Some("ConditionalCheckFailed"), Some("None")]),
            Cancellation::Conditions(vec![0])
        );
        assert_eq!(
            classify(&[Some("TransactionConflict"), Some("ConditionalCheckFailed")]),
            Cancellation::Conditions(vec![1])
        );
        for code in CONTENTION {
            assert_eq!(
                classify(&[Some("None"), Some(code)]),
                Cancellation::Contention,
                "{code}"
            );
        }
        assert_eq!(
            classify(&[Some("ValidationError"), Some("TransactionConflict")]),
            Cancellation::Other
        );
        assert_eq!(classify(&[None, Some("None")]), Cancellation::Other);
    }

    #[test]
    fn jitter_stays_within_one_base() {
        for _ in 0..100 {
            let d = jittered(Duration::from_millis(50));
            assert!(d >= Duration::from_millis(50) && d < Duration::from_millis(100));
        }
    }
}
