//! The router's side of a profile notice: the rules with profile conditions, evaluated once
//! the profile is stored, so a first message is prioritised by the customer's profile even
//! though the profile arrives after the message was routed.

use super::ProfileNotice;
use crate::conversation::Conversation;
use crate::ports::{CommitOutcome, ConversationStore, PortError};
use crate::rules::{Decision, RuleSet, evaluate_profile_rules, latest_message};
use chrono::DateTime;

/// How many times a commit is retried after an optimistic-concurrency conflict.
const MAX_CONFLICT_RETRIES: usize = 5;

/// What a profile notice did.
#[derive(Debug, Clone, PartialEq)]
pub enum NoticeOutcome {
    /// Profile rules fired; their actions are stored on the conversation.
    Applied {
        /// The decision (never a reply: profile rules cannot reply).
        decision: Box<Decision>,
        /// The conversation as stored.
        conversation: Box<Conversation>,
    },
    /// Nothing to do: no profile rule fired, the notice's profile was already evaluated
    /// (a redelivery), or the conversation holds no profile.
    Unchanged,
    /// The conversation is gone (erased): the notice is dropped.
    NoConversation,
}

/// Evaluates the profile rules for a stored profile and stores their actions (assign, tags,
/// escalate, status) on the conversation, conditional on its version; no message is stored
/// and nothing is counted as an inbound message. Idempotent: the conversation remembers the
/// `fetched_at` of the profile it evaluated (`profile_rules_at`).
pub async fn apply_notice(
    store: &dyn ConversationStore,
    rules: &RuleSet,
    notice: &ProfileNotice,
) -> Result<NoticeOutcome, PortError> {
    for _ in 0..MAX_CONFLICT_RETRIES {
        let Some(loaded) = store.load(&notice.conversation_key).await? else {
            return Ok(NoticeOutcome::NoConversation);
        };
        let Some(profile) = loaded.profile.as_ref() else {
            return Ok(NoticeOutcome::Unchanged);
        };
        if loaded
            .profile_rules_at
            .is_some_and(|at| at >= profile.fetched_at)
        {
            return Ok(NoticeOutcome::Unchanged);
        }
        let at_ms = profile.fetched_at;
        let now = DateTime::from_timestamp_millis(at_ms).unwrap_or_default();
        let decision = evaluate_profile_rules(rules, &latest_message(&loaded), &loaded, now);
        if decision.is_empty() {
            return Ok(NoticeOutcome::Unchanged);
        }
        let mut next = loaded.clone();
        decision.apply_to(&mut next, at_ms);
        rules.apply_service_level(&mut next);
        next.profile_rules_at = Some(at_ms);
        next.version = loaded.version + 1;
        match store.commit_conversation(&loaded, &next).await? {
            CommitOutcome::Stored => {
                return Ok(NoticeOutcome::Applied {
                    decision: Box::new(decision),
                    conversation: Box::new(next),
                });
            }
            CommitOutcome::Duplicate | CommitOutcome::Conflict => continue,
        }
    }
    Err(PortError::transient(
        "profile notice",
        format!(
            "conversation {} kept changing; giving up after {MAX_CONFLICT_RETRIES} attempts",
            notice.conversation_key
        ),
    ))
}
