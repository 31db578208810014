//! Ports: the small traits through which the core reaches the outside world. Adapters over the
//! AWS SDK live in `gateway-aws`; in-memory fakes for tests live in [`crate::testing`].

use crate::account::AccountsDocument;
use crate::conversation::Conversation;
use crate::message::NormalizedMessage;
use crate::outbound::ReplyCommand;
use crate::rules::RuleSet;
use async_trait::async_trait;
use std::sync::Arc;

/// A boxed error source from an adapter.
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// Whether a failed port call may succeed if retried.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Retry {
    /// Throttling, timeouts, service errors: retry later.
    Transient,
    /// Validation or permission errors: retrying will not help.
    Permanent,
}

/// A failed call through a port, with the adapter's error kept as the source.
#[derive(Debug, thiserror::Error)]
#[error("{operation} failed ({retry:?})")]
pub struct PortError {
    /// What was attempted, e.g. `sqs send_message`.
    pub operation: &'static str,
    /// Retry classification.
    pub retry: Retry,
    /// The underlying error.
    #[source]
    pub source: BoxError,
}

impl PortError {
    /// A transient failure.
    pub fn transient(operation: &'static str, source: impl Into<BoxError>) -> Self {
        PortError {
            operation,
            retry: Retry::Transient,
            source: source.into(),
        }
    }
    /// A permanent failure.
    pub fn permanent(operation: &'static str, source: impl Into<BoxError>) -> Self {
        PortError {
            operation,
            retry: Retry::Permanent,
            source: source.into(),
        }
    }
    /// True when retrying may succeed.
    pub fn is_retryable(&self) -> bool {
        self.retry == Retry::Transient
    }
}

/// Puts normalized messages on the inbound queue (webhooks).
#[async_trait]
pub trait MessagePublisher: Send + Sync {
    /// Queues one message. Queuing the same message twice must not deliver it twice
    /// (the SQS FIFO adapter uses [`NormalizedMessage::dedupe_id`]).
    async fn publish(&self, message: &NormalizedMessage) -> Result<(), PortError>;
}

/// Reads the accounts document (webhooks, reply path). Implementations cache it briefly.
#[async_trait]
pub trait AccountDirectory: Send + Sync {
    /// The current accounts document.
    async fn accounts(&self) -> Result<Arc<AccountsDocument>, PortError>;
}

/// Outcome of committing an inbound message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CommitOutcome {
    /// Message and conversation were written.
    Stored,
    /// The message was already stored: nothing was written.
    Duplicate,
    /// The conversation changed since it was loaded: reload and try again.
    Conflict,
}

/// Conversations and their messages (router, reply path).
#[async_trait]
pub trait ConversationStore: Send + Sync {
    /// Loads a conversation by key.
    async fn load(&self, conversation_key: &str) -> Result<Option<Conversation>, PortError>;

    /// Atomically stores `message` (only if not already stored) and replaces the conversation
    /// `previous` (as loaded; `None` when it did not exist) with `next`, only if the stored
    /// conversation is still at `previous`'s version.
    async fn commit_inbound(
        &self,
        message: &NormalizedMessage,
        previous: Option<&Conversation>,
        next: &Conversation,
    ) -> Result<CommitOutcome, PortError>;
}

/// Where the router moves records it can never process (undecodable bodies), so that they
/// neither block their conversation nor are retried forever.
#[async_trait]
pub trait DeadLetterSink: Send + Sync {
    /// Moves one record body to the dead-letter queue with the reason.
    async fn dead_letter(
        &self,
        body: &str,
        group_id: &str,
        dedupe_id: &str,
        reason: &str,
    ) -> Result<(), PortError>;
}

/// Puts reply commands on the outbound queue (router auto-replies, `reply-api`).
#[async_trait]
pub trait ReplyQueue: Send + Sync {
    /// Queues one reply command. Queuing the same command twice must not deliver it twice
    /// (the SQS FIFO adapter uses [`ReplyCommand::dedupe_id`]).
    async fn enqueue(&self, command: &ReplyCommand) -> Result<(), PortError>;
}

/// The current validated rules (router; webhooks in passive reply mode). Implementations cache
/// briefly and keep the last good rules when a newly stored document is invalid.
#[async_trait]
pub trait RulesSource: Send + Sync {
    /// The rules in force.
    async fn rules(&self) -> Result<Arc<RuleSet>, PortError>;
}
