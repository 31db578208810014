//! Ports: the small traits through which the core reaches the outside world. Adapters over the
//! AWS SDK live in `gateway-aws`; in-memory fakes for tests live in [`crate::testing`].

use crate::account::AccountsDocument;
use crate::conversation::Conversation;
use crate::events::Event;
use crate::message::NormalizedMessage;
use crate::outbound::ReplyCommand;
use crate::rules::RuleSet;
use crate::stats::{Applied, StatsDelta};
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

    /// Replaces the conversation `previous` with `next` (and its tag items), no message: only
    /// if the stored conversation is still at `previous`'s version ([`CommitOutcome::Conflict`]
    /// otherwise). The router's profile notices.
    async fn commit_conversation(
        &self,
        previous: &Conversation,
        next: &Conversation,
    ) -> Result<CommitOutcome, PortError> {
        let _ = (previous, next);
        Err(PortError::permanent(
            "commit conversation",
            "not supported by this store",
        ))
    }
}

/// The longest `reason` a dead letter carries, in characters (a queue message attribute is
/// meant to be read by an operator, not to hold a whole error chain).
pub const DEAD_LETTER_REASON_MAX_CHARS: usize = 1000;

/// One record for a dead-letter queue: the body to redrive unchanged, its FIFO group and
/// deduplication id, and attributes that tell an operator why it is there.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeadLetter {
    /// The body, exactly as it should be redriven.
    pub body: String,
    /// FIFO message group (the conversation, or `poison` when the record had none).
    pub group_id: String,
    /// FIFO deduplication id.
    pub dedupe_id: String,
    /// `reason` first, then any further attributes (`error_code`, `channel`, …).
    pub attributes: Vec<(&'static str, String)>,
}

impl DeadLetter {
    /// A queue record moved as received (an undecodable body, or one that failed
    /// permanently), deduplicated by its queue message id.
    pub fn record(body: &str, group_id: &str, message_id: &str, reason: &str) -> Self {
        let group_id = if group_id.is_empty() {
            "poison"
        } else {
            group_id
        };
        DeadLetter {
            body: body.to_string(),
            group_id: group_id.to_string(),
            dedupe_id: message_id.to_string(),
            attributes: vec![("reason", cut_reason(reason))],
        }
    }

    /// A reply command that can never be delivered: the body is the command exactly as
    /// queued (so it can be redriven unchanged), in its conversation's group, deduplicated by
    /// its reply id, with the error code, the channel, the account and the reply id.
    pub fn reply(
        command: &ReplyCommand,
        error_code: &str,
        reason: &str,
    ) -> Result<Self, PortError> {
        let body = serde_json::to_string(command)
            .map_err(|e| PortError::permanent("serialize reply command", e))?;
        let reply_id = command.dedupe_id();
        Ok(DeadLetter {
            body,
            group_id: command.message_group_id(),
            dedupe_id: reply_id.clone(),
            attributes: vec![("reason", cut_reason(reason))],
        }
        .with("error_code", error_code)
        .with("channel", command.channel.as_str())
        .with("account", command.account_id.as_str())
        .with("reply_id", reply_id))
    }

    /// Adds one more attribute.
    pub fn with(mut self, name: &'static str, value: impl Into<String>) -> Self {
        self.attributes.push((name, value.into()));
        self
    }

    /// The value of attribute `name`, if present.
    pub fn attribute(&self, name: &str) -> Option<&str> {
        self.attributes
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| v.as_str())
    }
}

/// `reason` cut to [`DEAD_LETTER_REASON_MAX_CHARS`] characters (never inside one).
fn cut_reason(reason: &str) -> String {
    reason.chars().take(DEAD_LETTER_REASON_MAX_CHARS).collect()
}

/// A dead-letter queue: where a function moves what it can never process (undecodable
/// records, reply commands that can never be delivered), so that they neither block their
/// conversation nor are retried forever, and an operator can fix the cause and redrive them.
#[async_trait]
pub trait DeadLetters: Send + Sync {
    /// Moves one letter to the queue.
    async fn dead_letter(&self, letter: &DeadLetter) -> Result<(), PortError>;
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

/// The daily statistics records (stats aggregator): adds the increments of one change of the
/// table, once.
#[async_trait]
pub trait StatsStore: Send + Sync {
    /// Adds `delta` to its records, all or nothing, once per `change_id` (the id of the
    /// stream record that carried the change): applying the same change again adds nothing
    /// and answers [`Applied::AlreadyCounted`]. `now_ms` is the time of this attempt (the
    /// adapter's memory of applied changes is kept from then until no copy of the change can
    /// arrive any more).
    async fn apply(
        &self,
        change_id: &str,
        delta: &StatsDelta,
        now_ms: i64,
    ) -> Result<Applied, PortError>;
}

/// The deployment's event bus (stats aggregator): publishes the events of one change.
#[async_trait]
pub trait EventPublisher: Send + Sync {
    /// Publishes `events` in order, all or an error: an event the bus refused fails the call
    /// (transient: publishing them again is safe, receivers deduplicate by event id).
    async fn publish(&self, events: &[Event]) -> Result<(), PortError>;
}

/// The memory of which changes' events were published (stats aggregator), so that a stream
/// record delivered again does not publish them again.
#[async_trait]
pub trait PublishedChanges: Send + Sync {
    /// True when the events of `change_id` (a stream record's event id) were published.
    async fn is_published(&self, change_id: &str) -> Result<bool, PortError>;
    /// Remembers that the events of `change_id` were published (kept from `now_ms` until no
    /// copy of the record can arrive any more).
    async fn mark_published(&self, change_id: &str, now_ms: i64) -> Result<(), PortError>;
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::reply::ReplyContent;
    use crate::testing::text_message;

    #[test]
    fn a_record_letter_keeps_the_body_and_ids_and_names_a_group_when_it_had_none() {
        let letter = DeadLetter::record("{not json", "wechat:demo:u1", "m-1", "undecodable");
        assert_eq!(letter.body, "{not json");
        assert_eq!(letter.group_id, "wechat:demo:u1");
        assert_eq!(letter.dedupe_id, "m-1");
        assert_eq!(letter.attributes, [("reason", "undecodable".to_string())]);
        // SQS refuses an empty FIFO group id.
        assert_eq!(DeadLetter::record("x", "", "m-2", "r").group_id, "poison");
    }

    #[test]
    fn a_reply_letter_is_the_command_as_queued_with_its_code_and_ids() {
        let m = text_message("demo", "u1", "m1", "hi", 1_000);
        let command = ReplyCommand::auto_reply(&m, "r", 0, ReplyContent::text("x"), 1_000);
        let letter =
            DeadLetter::reply(&command, "wechat:40003", "invalid openid").expect("a letter");
        let body: ReplyCommand = serde_json::from_str(&letter.body).expect("the command");
        assert_eq!(body, command);
        assert_eq!(letter.group_id, command.message_group_id());
        assert_eq!(letter.dedupe_id, command.dedupe_id());
        assert_eq!(letter.attribute("reason"), Some("invalid openid"));
        assert_eq!(letter.attribute("error_code"), Some("wechat:40003"));
        assert_eq!(letter.attribute("channel"), Some("wechat"));
        assert_eq!(letter.attribute("account"), Some("demo"));
        assert_eq!(
            letter.attribute("reply_id"),
            Some(command.dedupe_id().as_str())
        );
    }

    #[test]
    fn the_reason_is_cut_to_1000_characters_never_inside_one() {
        for (reason, expected) in [
            ("拒".repeat(1500), "拒".repeat(1000)),
            ("x".repeat(1000), "x".repeat(1000)),
            ("short".to_string(), "short".to_string()),
        ] {
            let letter = DeadLetter::record("b", "g", "d", &reason);
            assert_eq!(letter.attribute("reason"), Some(expected.as_str()));
        }
    }
}
