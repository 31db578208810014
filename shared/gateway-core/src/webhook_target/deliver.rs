//! One record of the webhook queue, handled: plan it against the current accounts document,
//! then either queue one delivery message per client (fan-out) or POST the event to its one
//! client, signed, and classify the answer.
//!
//! - 2xx: delivered.
//! - 408, 429, 5xx, timeouts and connection errors: transient, retried with backoff until the
//!   attempt limit, then dead-lettered with the last reason.
//! - any other status (4xx, and 1xx/3xx: redirects are not followed): permanent,
//!   dead-lettered at once with the status and the start of the answer.
//!
//! A dead letter is a delivery message for the one client (redriving it to the webhook queue
//! delivers to that client only). No I/O of its own: the accounts, the HTTP POST and the
//! queue are ports; the time is passed in.

use super::route::{DeliveryMessage, Plan, QueueRecord, plan};
use super::sign::{self, EVENT_HEADER, EVENT_ID_HEADER, SIGNATURE_HEADER, TIMESTAMP_HEADER};
use crate::ports::{AccountDirectory, PortError};
use async_trait::async_trait;

/// Most bytes of a receiver's answer kept (for a dead letter's reason); the rest is not read.
pub const MAX_ANSWER_BYTES: usize = 512;

/// Characters of the answer quoted in a reason.
const REASON_ANSWER_CHARS: usize = 200;

/// A receiver's answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PostAnswer {
    /// The HTTP status.
    pub status: u16,
    /// The start of the body (at most [`MAX_ANSWER_BYTES`]), lossily decoded.
    pub body_start: String,
}

/// Why a POST got no answer. Every kind is transient.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PostError {
    /// No answer within the timeout.
    #[error("timed out")]
    Timeout,
    /// The connection could not be made (DNS, refused, TLS).
    #[error("connection failed: {0}")]
    Connect(String),
    /// Anything else on the way (reset, unreadable answer).
    #[error("transport error: {0}")]
    Transport(String),
}

/// POSTs a signed event to a receiver (redirects not followed, answer read capped).
#[async_trait]
pub trait WebhookPoster: Send + Sync {
    /// POSTs `body` to `url` with `headers` (plus `Content-Type: application/json`).
    async fn post(
        &self,
        url: &str,
        headers: &[(&'static str, String)],
        body: &[u8],
    ) -> Result<PostAnswer, PostError>;
}

/// Queues delivery messages on the webhook queue (fan-out).
#[async_trait]
pub trait WebhookFanOut: Send + Sync {
    /// Queues every message, or fails (then the whole event is retried; a client that got its
    /// message already may get a second one, which the event id deduplicates).
    async fn fan_out(&self, messages: &[DeliveryMessage]) -> Result<(), PortError>;
}

/// The headers of one attempt at `now_secs`.
pub fn headers(
    event_type: &str,
    event_id: &str,
    secret: &str,
    now_secs: i64,
    body: &[u8],
) -> Vec<(&'static str, String)> {
    vec![
        (EVENT_HEADER, event_type.to_string()),
        (EVENT_ID_HEADER, event_id.to_string()),
        (TIMESTAMP_HEADER, now_secs.to_string()),
        (SIGNATURE_HEADER, sign::sign(secret, now_secs, body)),
    ]
}

/// How one attempt went.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Attempt {
    /// 2xx.
    Delivered(u16),
    /// Worth another attempt.
    Transient(String),
    /// Never worth another attempt.
    Permanent(String),
}

/// Classifies the result of one POST.
pub fn classify(result: &Result<PostAnswer, PostError>) -> Attempt {
    match result {
        Ok(answer) if (200..300).contains(&answer.status) => Attempt::Delivered(answer.status),
        Ok(answer) => {
            let quoted: String = answer
                .body_start
                .chars()
                .map(|c| if c.is_control() { ' ' } else { c })
                .take(REASON_ANSWER_CHARS)
                .collect();
            let reason = format!("http {}: {}", answer.status, quoted.trim());
            if matches!(answer.status, 408 | 429 | 500..=599) {
                Attempt::Transient(reason)
            } else {
                Attempt::Permanent(reason)
            }
        }
        Err(e) => Attempt::Transient(e.to_string()),
    }
}

/// What became of a record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Handled {
    /// Nobody subscribes: acknowledged.
    Nobody,
    /// One delivery message per client queued.
    FannedOut(usize),
    /// POSTed and answered 2xx.
    Delivered {
        /// The client.
        client: String,
        /// Its status.
        status: u16,
    },
    /// Hand the record back for another attempt (with backoff).
    Retry {
        /// The client, when the failure was its receiver's.
        client: Option<String>,
        /// Why.
        reason: String,
    },
    /// Move to the dead-letter queue with the reason.
    DeadLetter {
        /// The client, when known.
        client: Option<String>,
        /// Why.
        reason: String,
        /// What to dead-letter: the delivery message for the client, or the record as
        /// received when it could not be decoded.
        body: String,
    },
}

/// What [`process`] needs.
pub struct Ports<'a> {
    /// The webhook targets' accounts document.
    pub accounts: &'a dyn AccountDirectory,
    /// The HTTP POST.
    pub poster: &'a dyn WebhookPoster,
    /// The webhook queue.
    pub fan_out: &'a dyn WebhookFanOut,
}

/// Handles one record delivered for the `attempt`-th time (1 on the first), dead-lettering a
/// transient failure once `attempt` reaches `max_attempts`.
pub async fn process(
    ports: &Ports<'_>,
    body: &str,
    attempt: u32,
    max_attempts: u32,
    now_secs: i64,
) -> Handled {
    let record = match QueueRecord::parse(body) {
        Ok(record) => record,
        Err(e) => {
            return Handled::DeadLetter {
                client: None,
                reason: e.to_string(),
                body: body.to_string(),
            };
        }
    };
    let doc = match ports.accounts.accounts().await {
        Ok(doc) => doc,
        Err(e) => {
            return Handled::Retry {
                client: None,
                reason: format!("accounts: {e}"),
            };
        }
    };
    let client = match plan(&doc, &record) {
        Plan::Nobody => return Handled::Nobody,
        Plan::FanOut(messages) => {
            return match ports.fan_out.fan_out(&messages).await {
                Ok(()) => Handled::FannedOut(messages.len()),
                Err(e) => Handled::Retry {
                    client: None,
                    reason: format!("fan-out: {e}"),
                },
            };
        }
        Plan::Deliver(client) => client,
    };
    let event = record.event();
    let Some(target) = doc
        .api_clients
        .get(&client)
        .and_then(|c| c.webhook.as_ref())
    else {
        return Handled::Nobody;
    };
    let body_bytes = event.body.as_bytes();
    let headers = headers(
        &event.event_type,
        &event.id,
        target.secret.expose(),
        now_secs,
        body_bytes,
    );
    let result = ports.poster.post(&target.url, &headers, body_bytes).await;
    let letter = || {
        DeliveryMessage {
            webhook_client: client.clone(),
            event: event.body.clone(),
        }
        .to_json()
    };
    match classify(&result) {
        Attempt::Delivered(status) => Handled::Delivered { client, status },
        Attempt::Permanent(reason) => Handled::DeadLetter {
            body: letter(),
            client: Some(client),
            reason,
        },
        Attempt::Transient(reason) if attempt >= max_attempts => Handled::DeadLetter {
            body: letter(),
            client: Some(client),
            reason: format!("gateway:retries_exhausted after {attempt} attempts: {reason}"),
        },
        Attempt::Transient(reason) => Handled::Retry {
            client: Some(client),
            reason,
        },
    }
}

#[cfg(test)]
#[path = "deliver_tests.rs"]
mod tests;
