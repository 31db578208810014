//! The router's batch handler: decodes each record on its own, runs
//! [`routing::process`] in queue order, and reports only the records that must be retried.
//!
//! FIFO rule: once a record of a conversation (message group) fails, every later record of
//! that group in the batch is reported failed too, so a conversation is never processed out of
//! order; other conversations in the batch go on. Records that can never be processed (an
//! undecodable body, a permanent error) are moved to the dead-letter queue and acknowledged, so
//! they neither block their conversation nor are retried forever.

use aws_lambda_events::event::sqs::SqsMessage;
use gateway_core::NormalizedMessage;
use gateway_core::delivery::template::TemplateSends;
use gateway_core::media::MediaQueue;
use gateway_core::ports::{ConversationStore, DeadLetter, DeadLetters, ReplyQueue, RulesSource};
use gateway_core::profile::{NoticeOutcome, ProfileNotice, apply_notice};
use gateway_core::routing::{self, ProcessOutcome, Router};
use gateway_lambda::sqs_batch;
use std::sync::Arc;
use std::time::Duration;

/// Records not started with less than this much time left are handed back for retry.
const SAFETY_MARGIN: Duration = Duration::from_secs(3);

/// What the router needs.
#[derive(Clone)]
pub struct RouterDeps {
    /// Conversations and messages.
    pub store: Arc<dyn ConversationStore>,
    /// Dead-letter queue for records that can never be processed.
    pub dead_letters: Arc<dyn DeadLetters>,
    /// Outbound queue for auto-replies.
    pub replies: Arc<dyn ReplyQueue>,
    /// Media queue for the media-fetcher.
    pub media: Arc<dyn MediaQueue>,
    /// Rules in force.
    pub rules: Arc<dyn RulesSource>,
    /// Template message delivery records, settled by WeChat's finish reports.
    pub template_sends: Arc<dyn TemplateSends>,
    /// A cached profile at least this old (ms) is fetched again.
    pub profile_refresh_ms: i64,
}

/// Handles a batch in order and returns the ids of the records to retry.
pub async fn handle_batch(
    deps: &RouterDeps,
    records: &[SqsMessage],
    time_left: impl Fn() -> Duration,
) -> Vec<String> {
    let rules = match deps.rules.rules().await {
        Ok(rules) => rules,
        Err(e) => {
            tracing::error!(error.message = %e, "no rules available; the batch will be retried");
            return records
                .iter()
                .filter_map(|r| r.message_id.clone())
                .collect();
        }
    };
    let router = Router {
        store: deps.store.as_ref(),
        replies: deps.replies.as_ref(),
        media: deps.media.as_ref(),
        rules: &rules,
        profile_refresh_ms: deps.profile_refresh_ms,
    };
    let retry = sqs_batch::drive(
        records,
        time_left,
        SAFETY_MARGIN,
        async |record, id, group| handle_record(deps, &router, record, id, group).await,
    )
    .await;
    sqs_batch::ids(&retry)
}

/// Returns false when the record must be retried.
async fn handle_record(
    deps: &RouterDeps,
    router: &Router<'_>,
    record: &SqsMessage,
    id: &str,
    group: &str,
) -> bool {
    let body = record.body.as_deref().unwrap_or_default();
    match ProfileNotice::from_body(body) {
        Some(Ok(notice)) => return handle_notice(deps, router, record, &notice, id, group).await,
        Some(Err(e)) => {
            let reason = format!(
                "undecodable profile notice: {}",
                gateway_core::account::describe_json_error(&e)
            );
            return dead_letter(deps, record, id, group, &reason).await;
        }
        None => {}
    }
    let message: NormalizedMessage = match serde_json::from_str(body) {
        Ok(m) => m,
        Err(e) => {
            let reason = format!(
                "undecodable body: {}",
                gateway_core::account::describe_json_error(&e)
            );
            return dead_letter(deps, record, id, group, &reason).await;
        }
    };
    if let Some(report) = crate::finish::report(&message) {
        return match crate::finish::settle(
            deps.template_sends.as_ref(),
            &report,
            message.received_at_ms,
        )
        .await
        {
            Ok(()) => true,
            Err(e) if e.is_retryable() => {
                tracing::warn!(sqs.message_id = id, error.message = %e, "template finish report will be retried");
                false
            }
            Err(e) => {
                dead_letter(deps, record, id, group, &format!("permanent failure: {e}")).await
            }
        };
    }
    match routing::process(router, &message).await {
        Ok(outcome) => {
            emit_metrics(&message, &outcome);
            let (stored, rules_fired, replies) = match &outcome {
                ProcessOutcome::Stored(p) => (
                    true,
                    p.decision
                        .fired
                        .iter()
                        .map(|f| f.id.as_str())
                        .collect::<Vec<_>>()
                        .join(","),
                    p.replies_queued,
                ),
                ProcessOutcome::Duplicate => (false, String::new(), 0),
            };
            tracing::info!(
                sqs.message_id = id,
                channel = %message.channel,
                account = %message.account_id,
                kind = message.kind(),
                stored,
                rules_fired,
                replies,
                "message processed"
            );
            true
        }
        Err(e) if e.is_retryable() => {
            tracing::warn!(
                sqs.message_id = id,
                error.message = %e,
                error.cause_chain = ?e,
                "transient failure; the record will be retried"
            );
            false
        }
        Err(e) => {
            let reason = format!("permanent failure: {e}");
            dead_letter(deps, record, id, group, &reason).await
        }
    }
}

/// A profile notice: the rules with profile conditions, no message stored, nothing counted
/// as an inbound message.
async fn handle_notice(
    deps: &RouterDeps,
    router: &Router<'_>,
    record: &SqsMessage,
    notice: &ProfileNotice,
    id: &str,
    group: &str,
) -> bool {
    match apply_notice(router.store, router.rules, notice).await {
        Ok(outcome) => {
            let fired = match &outcome {
                NoticeOutcome::Applied { decision, .. } => decision.fired_ids().join(","),
                _ => String::new(),
            };
            if let NoticeOutcome::Applied { decision, .. } = &outcome {
                use gateway_lambda::metrics::emit;
                for rule in decision.fired_ids() {
                    emit(
                        &[("RuleHits", 1.0, "Count")],
                        &[("Rule", rule), ("Channel", notice.channel.as_str())],
                        &[&["Rule"]],
                    );
                }
            }
            tracing::info!(
                sqs.message_id = id,
                channel = %notice.channel,
                account = %notice.account_id,
                rules_fired = fired,
                applied = matches!(outcome, NoticeOutcome::Applied { .. }),
                "profile notice processed"
            );
            true
        }
        Err(e) if e.is_retryable() => {
            tracing::warn!(
                sqs.message_id = id,
                error.message = %e,
                "transient failure on a profile notice; it will be retried"
            );
            false
        }
        Err(e) => {
            let reason = format!("permanent failure: {e}");
            dead_letter(deps, record, id, group, &reason).await
        }
    }
}

async fn dead_letter(
    deps: &RouterDeps,
    record: &SqsMessage,
    id: &str,
    group: &str,
    reason: &str,
) -> bool {
    let body = record.body.as_deref().unwrap_or_default();
    let letter = DeadLetter::record(body, group, id, reason);
    match deps.dead_letters.dead_letter(&letter).await {
        Ok(()) => {
            tracing::error!(
                sqs.message_id = id,
                reason,
                "record moved to the dead-letter queue"
            );
            true
        }
        Err(e) => {
            tracing::error!(
                sqs.message_id = id,
                reason,
                error.message = %e,
                "could not move the record to the dead-letter queue; it will be retried"
            );
            false
        }
    }
}

/// Contact-centre metrics for one processed message (EMF, namespace `ChannelGateway`).
fn emit_metrics(message: &NormalizedMessage, outcome: &ProcessOutcome) {
    use gateway_lambda::metrics::emit;
    let dims = [
        ("Channel", message.channel.as_str()),
        ("Account", message.account_id.as_str()),
    ];
    let by_channel: &[&[&str]] = &[&["Channel"], &["Channel", "Account"]];
    let processed = match outcome {
        ProcessOutcome::Duplicate => {
            emit(&[("DuplicateMessages", 1.0, "Count")], &dims, by_channel);
            return;
        }
        ProcessOutcome::Stored(p) => p,
    };
    emit(
        &[
            ("InboundMessages", 1.0, "Count"),
            ("AutoReplies", processed.replies_queued as f64, "Count"),
            (
                "Escalations",
                f64::from(u8::from(processed.decision.escalation.is_some())),
                "Count",
            ),
            (
                "UnansweredConversations",
                f64::from(u8::from(processed.became_unanswered)),
                "Count",
            ),
        ],
        &dims,
        by_channel,
    );
    for fired in &processed.decision.fired {
        emit(
            &[("RuleHits", 1.0, "Count")],
            &[
                ("Rule", fired.id.as_str()),
                ("Channel", message.channel.as_str()),
            ],
            &[&["Rule"]],
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use async_trait::async_trait;
    use aws_lambda_events::event::sqs::SqsEvent;
    use gateway_core::ports::PortError;
    use gateway_core::rules::RuleSet;
    use gateway_core::testing::{
        InMemoryConversationStore, RecordingDeadLetters, RecordingReplyQueue, text_message,
    };
    use std::sync::Mutex;

    struct StaticRules(Arc<RuleSet>);

    #[async_trait]
    impl RulesSource for StaticRules {
        async fn rules(&self) -> Result<Arc<RuleSet>, PortError> {
            Ok(self.0.clone())
        }
    }

    fn deps_with(
        store: Arc<dyn ConversationStore>,
        dead_letters: Arc<dyn DeadLetters>,
    ) -> RouterDeps {
        RouterDeps {
            store,
            dead_letters,
            replies: Arc::new(RecordingReplyQueue::default()),
            media: Arc::new(gateway_core::testing::RecordingMediaQueue::default()),
            rules: Arc::new(StaticRules(Arc::new(
                RuleSet::from_yaml(gateway_lambda::BUNDLED_RULES).expect("bundled rules are valid"),
            ))),
            template_sends: Arc::new(
                gateway_core::delivery::testing::InMemoryDeliveryLedger::default(),
            ),
            profile_refresh_ms: 7 * 86_400_000,
        }
    }
    fn record(id: &str, group: &str, body: &str) -> SqsMessage {
        let mut r = SqsMessage::default();
        r.message_id = Some(id.to_string());
        r.body = Some(body.to_string());
        r.attributes
            .insert("MessageGroupId".to_string(), group.to_string());
        r
    }

    fn msg_record(id: &str, sender: &str, msg_id: &str) -> SqsMessage {
        let m = text_message("demo", sender, msg_id, "hi", 1_000);
        record(
            id,
            &m.conversation_key,
            &serde_json::to_string(&m).expect("json"),
        )
    }

    #[tokio::test]
    async fn poison_record_goes_to_the_dead_letter_queue_without_blocking_others() {
        let store = Arc::new(InMemoryConversationStore::default());
        let dlq = Arc::new(RecordingDeadLetters::default());
        let deps = deps_with(store.clone(), dlq.clone());
        // A well-formed record whose field holds a customer's words in the wrong type: the
        // reason names the problem and its position, never the value.
        let wrong_type = r#"{"schema_version": "我的手机号是13800000000"}"#;
        let records = vec![
            msg_record("a", "u1", "1"),
            record("b", "wechat:demo:u1", "{not json"),
            record("d", "wechat:demo:u1", wrong_type),
            msg_record("c", "u1", "2"),
        ];
        let failures = handle_batch(&deps, &records, || Duration::from_secs(60)).await;
        assert!(failures.is_empty(), "{failures:?}");
        assert_eq!(store.message_count(), 2);
        let dead = dlq.letters();
        assert_eq!(dead.len(), 2);
        for letter in &dead {
            let reason = letter.attribute("reason").expect("a reason");
            assert!(reason.starts_with("undecodable body"), "{reason}");
            assert!(!reason.contains("13800000000"), "{reason}");
        }
    }

    #[tokio::test]
    async fn redelivered_batch_changes_nothing() {
        let store = Arc::new(InMemoryConversationStore::default());
        let deps = deps_with(store.clone(), Arc::new(RecordingDeadLetters::default()));
        let records = vec![msg_record("a", "u1", "1"), msg_record("b", "u2", "2")];
        assert!(
            handle_batch(&deps, &records, || Duration::from_secs(60))
                .await
                .is_empty()
        );
        let before = store.conversation("wechat:demo:u1");
        assert!(
            handle_batch(&deps, &records, || Duration::from_secs(60))
                .await
                .is_empty()
        );
        assert_eq!(store.message_count(), 2);
        assert_eq!(store.conversation("wechat:demo:u1"), before);
    }

    #[tokio::test]
    async fn the_sample_sqs_batch_is_stored_and_its_poison_record_dead_lettered() {
        let text = std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../events/sqs/inbound-batch.json"
        ))
        .expect("sample");
        let event: SqsEvent = serde_json::from_str(&text).expect("SQS event");
        let store = Arc::new(InMemoryConversationStore::default());
        let dlq = Arc::new(RecordingDeadLetters::default());
        let deps = deps_with(store.clone(), dlq.clone());
        let failures = handle_batch(&deps, &event.records, || Duration::from_secs(60)).await;
        assert!(failures.is_empty(), "{failures:?}");
        assert_eq!(store.message_count(), event.records.len() - 1);
        assert_eq!(dlq.letters().len(), 1);
    }

    #[tokio::test]
    async fn a_transient_failure_fails_later_records_of_that_conversation_only() {
        struct FailFirstCommit {
            inner: InMemoryConversationStore,
            failed: Mutex<bool>,
        }
        #[async_trait]
        impl ConversationStore for FailFirstCommit {
            async fn load(
                &self,
                key: &str,
            ) -> Result<Option<gateway_core::conversation::Conversation>, PortError> {
                self.inner.load(key).await
            }
            async fn commit_inbound(
                &self,
                m: &NormalizedMessage,
                prev: Option<&gateway_core::conversation::Conversation>,
                next: &gateway_core::conversation::Conversation,
            ) -> Result<gateway_core::ports::CommitOutcome, PortError> {
                let first = {
                    let mut failed = self.failed.lock().expect("lock");
                    !std::mem::replace(&mut *failed, true)
                };
                if first {
                    return Err(PortError::transient("commit", "throttled (test)"));
                }
                self.inner.commit_inbound(m, prev, next).await
            }
        }
        let store = Arc::new(FailFirstCommit {
            inner: InMemoryConversationStore::default(),
            failed: Mutex::new(false),
        });
        let deps = deps_with(store.clone(), Arc::new(RecordingDeadLetters::default()));
        let records = vec![
            msg_record("a", "u1", "1"),
            msg_record("b", "u2", "2"),
            msg_record("c", "u1", "3"),
        ];
        let failures = handle_batch(&deps, &records, || Duration::from_secs(60)).await;
        assert_eq!(failures, vec!["a".to_string(), "c".to_string()]);
        assert_eq!(
            store.inner.message_count(),
            1,
            "only the other conversation's record"
        );
    }

    #[tokio::test]
    async fn records_are_handed_back_when_time_runs_out() {
        let store = Arc::new(InMemoryConversationStore::default());
        let deps = deps_with(store.clone(), Arc::new(RecordingDeadLetters::default()));
        let records = vec![msg_record("a", "u1", "1"), msg_record("b", "u2", "2")];
        let failures = handle_batch(&deps, &records, || Duration::from_secs(1)).await;
        assert_eq!(failures, vec!["a".to_string(), "b".to_string()]);
        assert_eq!(store.message_count(), 0);
    }

    #[tokio::test]
    async fn a_template_finish_report_settles_its_record_and_is_not_stored() {
        use gateway_core::delivery::ports::{DeliveryRecord, DeliveryState};
        use gateway_core::delivery::testing::InMemoryDeliveryLedger;
        use gateway_core::message::Content;
        let store = Arc::new(InMemoryConversationStore::default());
        let sends = Arc::new(InMemoryDeliveryLedger::default());
        sends.set(DeliveryRecord {
            reply_id: "r1".into(),
            state: DeliveryState::Accepted,
            calling_since_ms: None,
            sent_at_ms: Some(1),
            reason: None,
            error_code: None,
            platform_id: Some("200228332".into()),
            retry_at_ms: None,
            updated_at_ms: 1,
        });
        sends
            .template_lookups
            .lock()
            .expect("lock")
            .insert(("demo".into(), "200228332".into()), "r1".into());
        let mut deps = deps_with(store.clone(), Arc::new(RecordingDeadLetters::default()));
        deps.template_sends = sends.clone();
        let mut m = text_message("demo", "u1", "1", "x", 1_000);
        m.content = Content::Event {
            event: "template_send_finished".into(),
            platform_event: "TEMPLATESENDJOBFINISH".into(),
            key: None,
            detail: [
                ("MsgID".to_string(), "200228332".to_string()),
                ("Status".to_string(), "failed:user block".to_string()),
            ]
            .into(),
        };
        let body = serde_json::to_string(&m).expect("json");
        let records = vec![record("a", &m.conversation_key, &body)];
        for _ in 0..2 {
            // The second time: a redelivered push changes nothing.
            let failures = handle_batch(&deps, &records, || Duration::from_secs(60)).await;
            assert!(failures.is_empty(), "{failures:?}");
            let r = sends.record("r1").expect("record");
            assert_eq!(r.state, DeliveryState::Undeliverable);
            assert_eq!(r.reason.as_deref(), Some("user_block"));
        }
        assert_eq!(store.message_count(), 0, "not stored as a customer message");
        assert!(
            store
                .load(&m.conversation_key)
                .await
                .expect("load")
                .is_none(),
            "no conversation opened"
        );
    }
}
