//! Router orchestration: what happens to one normalized message taken off the inbound queue.
//!
//! 1. Load the conversation; a message it already stored (an SQS redelivery) stops here.
//! 2. Evaluate the rules (a pure function) against the message and the conversation *before*
//!    this message, at the time the message was received (so business hours are judged when
//!    the customer wrote, not when a retry was processed, and re-evaluation is deterministic).
//! 3. Apply the message and the decision to the conversation state.
//! 4. Queue the auto-replies as commands whose idempotency keys derive from the message and
//!    the rule, so that if anything below fails and the message is redelivered, the same
//!    replies are queued again under the same keys and still sent once.
//! 5. Commit message and conversation together (conditional: the message only if new, the
//!    conversation only if unchanged since step 1; on a conflict, start again at 1). The
//!    conversation records the decision's reply ids ([`Conversation::record_decision`]) in
//!    the same transaction: the committed decision is the only source of truth, and a reply
//!    queued in step 4 by an attempt that then lost a conflict is dropped by the sender when
//!    the re-evaluated decision does not contain it.
//! 6. Between 4 and 5, a message with media (WeChat image, voice, video, shortvideo; Weibo
//!    image, voice) queues its fetch commands in one call ([`crate::media::fetch_commands`]);
//!    the message item records them as `pending`. The same call carries the profile command
//!    of the conversation's first message, or of one whose cached profile is stale
//!    ([`crate::profile::profile_command`]): one `SendMessageBatch` at most. A command queued by an attempt that then
//!    lost a conflict names a thread place the message may not have: the media-fetcher
//!    records only on the item that holds the message.
//!
//! No I/O of its own: everything goes through ports.

use crate::conversation::Conversation;
use crate::media::{MediaCommand, MediaQueue, fetch_commands};
use crate::message::NormalizedMessage;
use crate::outbound::ReplyCommand;
use crate::ports::{CommitOutcome, ConversationStore, PortError, ReplyQueue};
use crate::rules::{self, Decision, RuleSet};
use chrono::{DateTime, Utc};

/// How many times a commit is retried after an optimistic-concurrency conflict.
const MAX_CONFLICT_RETRIES: usize = 5;

/// What the router works with.
#[derive(Clone, Copy)]
pub struct Router<'a> {
    /// Conversations and messages.
    pub store: &'a dyn ConversationStore,
    /// Outbound queue for auto-replies.
    pub replies: &'a dyn ReplyQueue,
    /// Media queue for the media-fetcher.
    pub media: &'a dyn MediaQueue,
    /// Rules in force.
    pub rules: &'a RuleSet,
    /// A cached profile at least this old (ms) is fetched again (`PROFILE_REFRESH_SECS`).
    pub profile_refresh_ms: i64,
}

/// What processing did with a message.
#[derive(Debug, Clone, PartialEq)]
pub enum ProcessOutcome {
    /// Stored for the first time.
    Stored(Box<Processed>),
    /// Already stored earlier (an SQS redelivery or platform retry): nothing changed.
    Duplicate,
}

/// Details of a stored message, for logs and metrics.
#[derive(Debug, Clone, PartialEq)]
pub struct Processed {
    /// The rules' decision.
    pub decision: Decision,
    /// Auto-replies queued.
    pub replies_queued: usize,
    /// Media fetch commands queued.
    pub media_queued: usize,
    /// A profile command was queued (first message, or a stale profile).
    pub profile_queued: bool,
    /// The conversation went from answered to waiting for an answer.
    pub became_unanswered: bool,
    /// The conversation as stored.
    pub conversation: Conversation,
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
    router: &Router<'_>,
    message: &NormalizedMessage,
) -> Result<ProcessOutcome, ProcessError> {
    let dedupe_id = message.dedupe_id();
    let at = DateTime::<Utc>::from_timestamp_millis(message.received_at_ms).unwrap_or_default();
    for _ in 0..MAX_CONFLICT_RETRIES {
        let loaded = router.store.load(&message.conversation_key).await?;
        if loaded.as_ref().is_some_and(|c| c.has_seen(&dedupe_id)) {
            return Ok(ProcessOutcome::Duplicate);
        }
        let decision = rules::evaluate(router.rules, message, loaded.as_ref(), at);
        for skipped in &decision.skipped_replies {
            tracing::info!(
                rule = %skipped.rule_id,
                kind = skipped.kind,
                reason = %skipped.reason,
                "rule reply skipped: it cannot be sent for this message"
            );
        }
        let was_waiting = loaded.as_ref().is_some_and(Conversation::is_unanswered);
        let mut conversation = loaded
            .clone()
            .unwrap_or_else(|| Conversation::new_for(message));
        conversation.record_inbound(message);
        decision.apply_to(&mut conversation, message.received_at_ms);
        router.rules.apply_service_level(&mut conversation);
        conversation.version = loaded.as_ref().map_or(0, |c| c.version) + 1;

        let commands = reply_commands(message, &decision);
        let ids: Vec<String> = commands.iter().map(ReplyCommand::dedupe_id).collect();
        conversation.record_decision(&dedupe_id, &ids);
        for command in &commands {
            router.replies.enqueue(command).await?;
        }
        let fetches = fetch_commands(message, conversation.thread_seq);
        let media_queued = fetches.len();
        let mut queued: Vec<MediaCommand> = fetches.into_iter().map(MediaCommand::Fetch).collect();
        let profile =
            crate::profile::profile_command(message, loaded.as_ref(), router.profile_refresh_ms);
        let profile_queued = profile.is_some();
        if profile_queued {
            conversation.profile_requested_at = Some(message.received_at_ms);
        }
        queued.extend(profile.map(MediaCommand::Profile));
        if !queued.is_empty() {
            router.media.enqueue(&queued).await?;
        }
        match router
            .store
            .commit_inbound(message, loaded.as_ref(), &conversation)
            .await?
        {
            CommitOutcome::Stored => {
                return Ok(ProcessOutcome::Stored(Box::new(Processed {
                    became_unanswered: !was_waiting && conversation.is_unanswered(),
                    replies_queued: commands.len(),
                    media_queued,
                    profile_queued,
                    decision,
                    conversation,
                })));
            }
            CommitOutcome::Duplicate => return Ok(ProcessOutcome::Duplicate),
            CommitOutcome::Conflict => continue,
        }
    }
    Err(ProcessError::Contention(message.conversation_key.clone()))
}

/// The auto-reply commands of a decision; content the channel cannot carry is skipped
/// (the rules check warns about such rules when they are loaded).
fn reply_commands(message: &NormalizedMessage, decision: &Decision) -> Vec<ReplyCommand> {
    decision
        .replies
        .iter()
        .enumerate()
        .filter(|(_, planned)| {
            let ok = planned.content.supported_on(message.channel);
            if !ok {
                tracing::warn!(
                    rule = %planned.rule_id,
                    channel = %message.channel,
                    "auto-reply type not supported on this channel; skipped"
                );
            }
            ok
        })
        .map(|(i, planned)| {
            ReplyCommand::auto_reply(
                message,
                &planned.rule_id,
                i,
                planned.content.clone(),
                message.received_at_ms,
            )
            .counting_as_answer(planned.counts_as_answer)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::conversation::{Priority, Status};
    use crate::testing::{
        InMemoryConversationStore, RecordingMediaQueue, RecordingReplyQueue, text_message,
    };

    const RULES: &str = r#"
version: 1
keyword_lists:
  crisis: ["投诉", "lawyer"]
rules:
  - id: welcome-first
    when: { first_message: true }
    then: [ { reply: { type: text, text: "欢迎" } } ]
    stop: false
  - id: crisis
    when: { text_contains_any: "@crisis" }
    then:
      - escalate: { response_target_secs: 60 }
      - add_tags: [crisis]
      - assign: { team: escalations }
    stop: true
  - id: fallback
    when: { kind: text }
    then: [ { reply: { type: text, text: "稍后回复" } } ]
"#;

    fn rules() -> RuleSet {
        RuleSet::from_yaml(RULES).expect("valid rules")
    }

    #[tokio::test]
    async fn stores_once_queues_replies_and_recognises_redelivery() {
        let store = InMemoryConversationStore::default();
        let replies = RecordingReplyQueue::default();
        let rules = rules();
        let media = RecordingMediaQueue::default();
        let router = Router {
            store: &store,
            replies: &replies,
            media: &media,
            rules: &rules,
            profile_refresh_ms: 7 * 86_400_000,
        };
        let m = text_message("demo", "u1", "42", "hello", 1_000);

        let ProcessOutcome::Stored(first) = process(&router, &m).await.expect("ok") else {
            panic!("first delivery must be stored");
        };
        assert_eq!(first.replies_queued, 2, "welcome (continue) + fallback");
        assert!(first.became_unanswered);
        assert_eq!(
            process(&router, &m).await.expect("ok"),
            ProcessOutcome::Duplicate
        );
        assert_eq!(store.message_count(), 1);
        let sent = replies.commands();
        assert_eq!(sent.len(), 2, "redelivery queues nothing more");
        assert_eq!(
            sent[0].idempotency_key,
            format!("rule:{}:welcome-first:0", m.dedupe_id())
        );
        let c = store
            .conversation(&m.conversation_key)
            .expect("conversation");
        assert_eq!((c.inbound_count, c.version), (1, 1));
    }

    /// A store where another router commits `racer` just before the first commit of ours.
    struct RacingStore {
        inner: InMemoryConversationStore,
        racer: std::sync::Mutex<Option<NormalizedMessage>>,
    }

    #[async_trait::async_trait]
    impl ConversationStore for RacingStore {
        async fn load(&self, key: &str) -> Result<Option<Conversation>, PortError> {
            self.inner.load(key).await
        }
        async fn commit_inbound(
            &self,
            message: &NormalizedMessage,
            previous: Option<&Conversation>,
            conversation: &Conversation,
        ) -> Result<CommitOutcome, PortError> {
            let racer = self.racer.lock().expect("lock").take();
            if let Some(racer) = racer {
                let mut theirs = Conversation::new_for(&racer);
                theirs.record_inbound(&racer);
                theirs.version = 1;
                self.inner.commit_inbound(&racer, None, &theirs).await?;
            }
            self.inner
                .commit_inbound(message, previous, conversation)
                .await
        }
    }

    #[tokio::test]
    async fn only_the_committed_decision_lists_its_replies_after_a_conflict() {
        let store = RacingStore {
            inner: InMemoryConversationStore::default(),
            racer: std::sync::Mutex::new(Some(text_message("demo", "u1", "1", "hi", 900))),
        };
        let replies = RecordingReplyQueue::default();
        let rules = rules();
        let media = RecordingMediaQueue::default();
        let router = Router {
            store: &store,
            replies: &replies,
            media: &media,
            rules: &rules,
            profile_refresh_ms: 7 * 86_400_000,
        };
        let m = text_message("demo", "u1", "2", "hello", 1_000);
        let ProcessOutcome::Stored(p) = process(&router, &m).await.expect("ok") else {
            panic!("stored");
        };
        // Attempt 1 saw a new conversation (welcome + fallback) and lost the conflict;
        // attempt 2 saw the racer's message first (fallback only) and was committed.
        let queued = replies.commands();
        assert_eq!(
            queued.len(),
            3,
            "2 from the lost attempt, 1 from the committed one"
        );
        let decided: Vec<Option<bool>> = queued
            .iter()
            .map(|c| p.conversation.decided(&m.dedupe_id(), &c.dedupe_id()))
            .collect();
        // The lost attempt's fallback was its reply #1, the committed one's is #0: another id.
        // Without the decision on the conversation, the customer would get the welcome and
        // the fallback twice.
        assert_eq!(decided, [Some(false), Some(false), Some(true)]);
        let stored = store
            .inner
            .conversation(&m.conversation_key)
            .expect("stored");
        assert_eq!(stored.decided_replies, p.conversation.decided_replies);
    }

    #[tokio::test]
    async fn crisis_escalates_tags_and_assigns_and_first_message_is_only_first() {
        let store = InMemoryConversationStore::default();
        let replies = RecordingReplyQueue::default();
        let rules = rules();
        let media = RecordingMediaQueue::default();
        let router = Router {
            store: &store,
            replies: &replies,
            media: &media,
            rules: &rules,
            profile_refresh_ms: 7 * 86_400_000,
        };
        process(&router, &text_message("demo", "u1", "1", "hi", 1_000))
            .await
            .expect("ok");
        let ProcessOutcome::Stored(p) = process(
            &router,
            &text_message("demo", "u1", "2", "我要投诉你们", 2_000),
        )
        .await
        .expect("ok") else {
            panic!("stored");
        };
        assert_eq!(
            p.replies_queued, 0,
            "crisis stops before the fallback; not first"
        );
        let c = p.conversation;
        assert!(c.escalated);
        assert_eq!(c.priority, Priority::Urgent);
        assert_eq!(c.team.as_deref(), Some("escalations"));
        assert!(c.tags.contains("crisis"));
        assert_eq!(c.response_due_at, Some(2_000 + 60_000));
        assert_eq!(c.status, Status::Open);
        assert!(
            !p.became_unanswered,
            "already waiting since the first message"
        );
    }

    #[tokio::test]
    async fn a_failed_reply_enqueue_stores_nothing_and_the_retry_queues_the_same_keys() {
        let store = InMemoryConversationStore::default();
        let replies = RecordingReplyQueue::default();
        let rules = rules();
        let media = RecordingMediaQueue::default();
        let router = Router {
            store: &store,
            replies: &replies,
            media: &media,
            rules: &rules,
            profile_refresh_ms: 7 * 86_400_000,
        };
        let m = text_message("demo", "u1", "7", "hello", 1_000);
        replies.set_failing(true);
        let err = process(&router, &m).await.expect_err("queue down");
        assert!(err.is_retryable());
        assert_eq!(store.message_count(), 0);
        replies.set_failing(false);
        process(&router, &m).await.expect("ok");
        let keys: Vec<_> = replies
            .commands()
            .into_iter()
            .map(|c| c.idempotency_key)
            .collect();
        assert_eq!(keys.len(), 2);
        assert!(keys[0].ends_with(":welcome-first:0") && keys[1].ends_with(":fallback:1"));
    }

    #[tokio::test]
    async fn a_media_message_queues_its_fetches_in_one_call_and_once() {
        use crate::media::MediaKind;
        use crate::message::Content;
        let store = InMemoryConversationStore::default();
        let replies = RecordingReplyQueue::default();
        let rules = rules();
        let media = RecordingMediaQueue::default();
        let router = Router {
            store: &store,
            replies: &replies,
            media: &media,
            rules: &rules,
            profile_refresh_ms: 7 * 86_400_000,
        };
        process(&router, &text_message("demo", "u1", "1", "hi", 1_000))
            .await
            .expect("ok");
        assert_eq!(media.calls(), 1, "the first message asks for the profile");
        assert!(
            media.commands().is_empty(),
            "a text message fetches no media"
        );
        assert_eq!(media.profile_commands().len(), 1);
        let mut video = text_message("demo", "u1", "2", "", 2_000);
        video.content = Content::Video {
            media_id: Some("VIDEO".into()),
            thumb_media_id: Some("THUMB".into()),
            short: false,
        };
        // The queue fails first: nothing is stored, the redelivery queues the same commands.
        media.set_failing(true);
        assert!(
            process(&router, &video)
                .await
                .expect_err("down")
                .is_retryable()
        );
        assert_eq!(store.message_count(), 1);
        media.set_failing(false);
        let ProcessOutcome::Stored(p) = process(&router, &video).await.expect("ok") else {
            panic!("stored");
        };
        assert_eq!(p.media_queued, 2);
        let commands = media.commands();
        assert_eq!(media.calls(), 2, "video and thumbnail in one call");
        assert_eq!(media.commands().len(), 2);
        assert_eq!(
            media.profile_commands().len(),
            1,
            "asked for once: the first message's request is on its way"
        );
        let kinds: Vec<_> = commands
            .iter()
            .map(|c| (c.kind, c.media_id.as_str()))
            .collect();
        assert_eq!(
            kinds,
            [(MediaKind::Video, "VIDEO"), (MediaKind::Thumb, "THUMB")]
        );
        assert!(commands.iter().all(
            |c| c.thread_seq == p.conversation.thread_seq && c.message_id == video.dedupe_id()
        ));
        assert_eq!(
            p.conversation.thread_seq, 2,
            "the second message of the thread"
        );
        // A redelivery is a duplicate and queues nothing more.
        assert_eq!(
            process(&router, &video).await.expect("ok"),
            ProcessOutcome::Duplicate
        );
        assert_eq!(media.calls(), 2);
    }

    #[tokio::test]
    async fn conditional_write_catches_a_duplicate_the_conversation_forgot() {
        let store = InMemoryConversationStore::default();
        let replies = RecordingReplyQueue::default();
        let rules = rules();
        let media = RecordingMediaQueue::default();
        let router = Router {
            store: &store,
            replies: &replies,
            media: &media,
            rules: &rules,
            profile_refresh_ms: 7 * 86_400_000,
        };
        let m = text_message("demo", "u1", "42", "hello", 1_000);
        process(&router, &m).await.expect("ok");
        store.forget_recent_ids(&m.conversation_key);
        assert_eq!(
            process(&router, &m).await.expect("ok"),
            ProcessOutcome::Duplicate
        );
        assert_eq!(store.message_count(), 1);
    }
}
