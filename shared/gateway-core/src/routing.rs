//! Router orchestration: what happens to one normalized message taken off the inbound queue.
//!
//! Loads the conversation, recognises redeliveries, applies the message to the conversation
//! state and commits message and conversation together through the [`ConversationStore`]
//! port. No I/O of its own.

use crate::conversation::Conversation;
use crate::message::NormalizedMessage;
use crate::ports::{CommitOutcome, ConversationStore, PortError};

/// How many times a commit is retried after an optimistic-concurrency conflict.
const MAX_CONFLICT_RETRIES: usize = 5;

/// What processing did with a message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProcessOutcome {
    /// Stored for the first time.
    Stored,
    /// Already stored earlier (an SQS redelivery or platform retry): nothing changed.
    Duplicate,
}

/// Error from [`process`].
#[derive(Debug, thiserror::Error)]
pub enum ProcessError {
    /// A port failed.
    #[error(transparent)]
    Port(#[from] PortError),
    /// The conversation kept changing under us.
    #[error("conversation {0} kept changing; giving up after {MAX_CONFLICT_RETRIES} attempts")]
    Contention(String),
}

impl ProcessError {
    /// True when the message should be retried later (SQS redelivery).
    pub fn is_retryable(&self) -> bool {
        match self {
            ProcessError::Port(e) => e.is_retryable(),
            ProcessError::Contention(_) => true,
        }
    }
}

/// Processes one inbound message exactly once, whatever the number of deliveries.
#[tracing::instrument(skip_all, fields(channel = %message.channel, account = %message.account_id, kind = message.kind()))]
pub async fn process(
    store: &dyn ConversationStore,
    message: &NormalizedMessage,
) -> Result<ProcessOutcome, ProcessError> {
    let dedupe_id = message.dedupe_id();
    for _ in 0..MAX_CONFLICT_RETRIES {
        let loaded = store.load(&message.conversation_key).await?;
        let mut conversation = loaded
            .clone()
            .unwrap_or_else(|| Conversation::new_for(message));
        if conversation.has_seen(&dedupe_id) {
            return Ok(ProcessOutcome::Duplicate);
        }
        conversation.record_inbound(message);
        conversation.version = loaded.as_ref().map_or(0, |c| c.version) + 1;
        match store
            .commit_inbound(message, loaded.as_ref(), &conversation)
            .await?
        {
            CommitOutcome::Stored => return Ok(ProcessOutcome::Stored),
            CommitOutcome::Duplicate => return Ok(ProcessOutcome::Duplicate),
            CommitOutcome::Conflict => continue,
        }
    }
    Err(ProcessError::Contention(message.conversation_key.clone()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{InMemoryConversationStore, text_message};

    #[tokio::test]
    async fn stores_once_and_recognises_redelivery() {
        let store = InMemoryConversationStore::default();
        let m = text_message("demo", "u1", "42", "hello", 1_000);
        assert_eq!(process(&store, &m).await.expect("ok"), ProcessOutcome::Stored);
        assert_eq!(process(&store, &m).await.expect("ok"), ProcessOutcome::Duplicate);
        assert_eq!(store.message_count(), 1);
        let c = store.conversation(&m.conversation_key).expect("conversation");
        assert_eq!(c.inbound_count, 1);
        assert_eq!(c.version, 1);
    }

    #[tokio::test]
    async fn conditional_write_catches_a_duplicate_the_conversation_forgot() {
        let store = InMemoryConversationStore::default();
        let m = text_message("demo", "u1", "42", "hello", 1_000);
        process(&store, &m).await.expect("ok");
        store.forget_recent_ids(&m.conversation_key);
        assert_eq!(process(&store, &m).await.expect("ok"), ProcessOutcome::Duplicate);
        assert_eq!(store.message_count(), 1);
    }
}
