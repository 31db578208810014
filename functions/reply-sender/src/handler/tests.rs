//! Tests of the batch handler with in-memory ports.

mod batch {
    use super::super::*;
    use crate::config::{MARGIN_SLACK, worst_case_record};
    use async_trait::async_trait;
    use gateway_core::account::AccountsDocument;
    use gateway_core::conversation::Conversation;
    use gateway_core::delivery::platform::{CallError, Disposition, PlatformError};
    use gateway_core::delivery::testing::{
        CountingTokens, InMemoryDeliveryLedger, RecordingReplyDeadLetters, ScriptedPlatform,
    };
    use gateway_core::message::Channel;
    use gateway_core::ports::PortError;
    use gateway_core::reply::ReplyContent;
    use gateway_core::testing::{StaticAccounts, text_message};
    use std::sync::Mutex;

    #[derive(Default)]
    struct Recorder(Mutex<Vec<String>>);

    #[async_trait]
    impl DeadLetterSink for Recorder {
        async fn dead_letter(
            &self,
            _body: &str,
            _group: &str,
            _dedupe: &str,
            reason: &str,
        ) -> Result<(), PortError> {
            self.0.lock().expect("lock").push(reason.to_string());
            Ok(())
        }
    }

    #[async_trait]
    impl RetryScheduler for Recorder {
        async fn retry_after(&self, handle: &str, delay: u32) -> Result<(), PortError> {
            self.0
                .lock()
                .expect("lock")
                .push(format!("{handle}:{delay}"));
            Ok(())
        }
    }

    fn deps(
        ledger: &Arc<InMemoryDeliveryLedger>,
        platform: &Arc<ScriptedPlatform>,
        poison: &Arc<Recorder>,
        retries: &Arc<Recorder>,
        start_margin: Duration,
    ) -> ReplySenderDeps {
        ReplySenderDeps {
            accounts: Arc::new(StaticAccounts(Arc::new(
                AccountsDocument::from_json(
                    r#"{"wechat":{"demo":{"app_id":"wx1","token":"t","app_secret":"s"}}}"#,
                )
                .expect("accounts"),
            ))),
            conversations: ledger.clone(),
            ledger: ledger.clone(),
            tokens: Arc::new(CountingTokens::default()),
            wechat: platform.clone(),
            weibo: platform.clone(),
            dead_letters: Arc::new(RecordingReplyDeadLetters::default()),
            poison: poison.clone(),
            retries: retries.clone(),
            settings: Settings {
                policy: ReplyPolicy::default(),
                claim_timeout: Duration::from_secs(60),
                retry_base_secs: 10,
                retry_max_secs: 300,
                max_attempts: 4,
            },
            start_margin,
        }
    }

    #[tokio::test]
    async fn no_reply_is_started_unless_its_worst_case_fits_in_the_time_left() {
        let ledger = Arc::new(InMemoryDeliveryLedger::default());
        let now = crate::now_ms();
        let m = text_message("demo", "u1", "u1", "hi", now - 1_000);
        let mut c = Conversation::new_for(&m);
        c.record_inbound(&m);
        c.version = 1;
        ledger.put_conversation(c);
        let command =
            ReplyCommand::auto_reply(&m, "r", 0, ReplyContent::text("x"), m.received_at_ms);
        let body = serde_json::to_string(&command).expect("json");
        let records = vec![record("a", "wechat:demo:u1", &body, "1")];
        let platform = Arc::new(ScriptedPlatform::default());
        let (poison, retries) = (Arc::new(Recorder::default()), Arc::new(Recorder::default()));
        let margin =
            worst_case_record(Duration::from_secs(5), Duration::from_secs(4)) + MARGIN_SLACK;
        let deps = deps(&ledger, &platform, &poison, &retries, margin);
        // One second short of the worst case: handed back unclaimed, no platform call.
        let short = margin - Duration::from_secs(1);
        assert_eq!(handle_batch(&deps, &records, || short).await, ["a"]);
        assert!(platform.wechat_calls.lock().expect("lock").is_empty());
        assert!(
            ledger.record(&command.dedupe_id()).is_none(),
            "never claimed"
        );
        // With the worst case left it is delivered.
        assert!(handle_batch(&deps, &records, || margin).await.is_empty());
        assert_eq!(platform.wechat_calls.lock().expect("lock").len(), 1);
    }

    fn record(id: &str, group: &str, body: &str, receives: &str) -> SqsMessage {
        let mut r = SqsMessage::default();
        r.message_id = Some(id.into());
        r.receipt_handle = Some(format!("rh-{id}"));
        r.body = Some(body.into());
        r.attributes.insert("MessageGroupId".into(), group.into());
        r.attributes
            .insert("ApproximateReceiveCount".into(), receives.into());
        r
    }

    #[tokio::test]
    async fn a_transient_failure_holds_back_its_conversation_only_and_backs_off() {
        let ledger = Arc::new(InMemoryDeliveryLedger::default());
        let now = crate::now_ms();
        let commands: Vec<ReplyCommand> = ["u1", "u2"]
            .iter()
            .map(|u| {
                let m = text_message("demo", u, u, "hi", now - 1_000);
                let mut c = Conversation::new_for(&m);
                c.record_inbound(&m);
                c.version = 1;
                ledger.put_conversation(c);
                ReplyCommand::auto_reply(&m, "r", 0, ReplyContent::text("x"), m.received_at_ms)
            })
            .collect();
        let later = ReplyCommand::auto_reply(
            &text_message("demo", "u1", "u1", "hi", now - 1_000),
            "r",
            1,
            ReplyContent::text("y"),
            now - 1_000,
        );
        let platform = Arc::new(ScriptedPlatform::default());
        platform.then(Err(CallError::Platform(PlatformError {
            channel: Channel::WeChat,
            code: -1,
            message: "busy".into(),
            disposition: Disposition::Transient,
        })));
        let poison = Arc::new(Recorder::default());
        let retries = Arc::new(Recorder::default());
        let deps = deps(
            &ledger,
            &platform,
            &poison,
            &retries,
            Duration::from_secs(5),
        );
        let json = |c: &ReplyCommand| serde_json::to_string(c).expect("json");
        let records = vec![
            record("a", "wechat:demo:u1", &json(&commands[0]), "2"),
            record("b", "wechat:demo:u2", &json(&commands[1]), "1"),
            record("c", "wechat:demo:u1", &json(&later), "1"),
            record("d", "wechat:demo:u3", "{not a command", "1"),
        ];

        let failures = handle_batch(&deps, &records, || Duration::from_secs(60)).await;

        assert_eq!(failures, ["a", "c"]);
        assert_eq!(
            platform.wechat_calls.lock().expect("lock").len(),
            2,
            "a and b"
        );
        assert_eq!(
            *retries.0.lock().expect("lock"),
            ["rh-a:20", "rh-c:10"],
            "exponential backoff by receive count"
        );
        let dead = poison.0.lock().expect("lock");
        assert_eq!(dead.len(), 1);
        assert!(
            dead[0].starts_with("undecodable reply command"),
            "{}",
            dead[0]
        );
    }
    #[tokio::test]
    async fn a_reply_another_attempt_holds_is_handed_back_until_its_claim_runs_out() {
        use gateway_core::delivery::ports::{DeliveryRecord, DeliveryState};
        let ledger = Arc::new(InMemoryDeliveryLedger::default());
        let now = crate::now_ms();
        let m = text_message("demo", "u1", "u1", "hi", now - 1_000);
        let command =
            ReplyCommand::auto_reply(&m, "r", 0, ReplyContent::text("x"), m.received_at_ms);
        // Claimed 15.5 s ago by an attempt that never wrote again (claim timeout 60 s).
        ledger.set(DeliveryRecord {
            reply_id: command.dedupe_id(),
            state: DeliveryState::Calling,
            calling_since_ms: Some(now - 15_500),
            sent_at_ms: None,
            reason: None,
            error_code: None,
            updated_at_ms: now - 15_500,
        });
        let platform = Arc::new(ScriptedPlatform::default());
        let (poison, retries) = (Arc::new(Recorder::default()), Arc::new(Recorder::default()));
        let deps = deps(
            &ledger,
            &platform,
            &poison,
            &retries,
            Duration::from_secs(5),
        );
        let body = serde_json::to_string(&command).expect("json");
        let records = vec![record("a", "wechat:demo:u1", &body, "2")];

        let failures = handle_batch(&deps, &records, || Duration::from_secs(60)).await;

        assert_eq!(failures, ["a"]);
        assert!(platform.wechat_calls.lock().expect("lock").is_empty());
        // Not the 20 s backoff of a second receive: the 44.5 s (rounded up) the claim has
        // left, so the next receive settles it instead of spending the queue's receives.
        let retried = retries.0.lock().expect("lock").clone();
        let delay: u32 = retried[0]
            .strip_prefix("rh-a:")
            .expect("a")
            .parse()
            .expect("secs");
        assert!((44..=45).contains(&delay), "{retried:?}");
    }

    #[test]
    fn the_retry_delay_is_the_backoff_or_the_time_to_settle_whichever_is_later() {
        assert_eq!(retry_delay_secs(1, 10, 300, None), 10);
        assert_eq!(retry_delay_secs(3, 10, 300, None), 40);
        assert_eq!(retry_delay_secs(9, 10, 300, None), 300);
        assert_eq!(
            retry_delay_secs(1, 10, 300, Some(Duration::from_millis(170_001))),
            171
        );
        assert_eq!(
            retry_delay_secs(5, 10, 300, Some(Duration::from_secs(5))),
            160
        );
        assert_eq!(retry_delay_secs(1, 0, 0, Some(Duration::ZERO)), 0);
        assert_eq!(
            retry_delay_secs(1, 10, 300, Some(Duration::from_secs(86_400))),
            43_200,
            "SQS's longest visibility timeout"
        );
    }
}

mod attempts {
    use super::super::*;
    use gateway_core::account::AccountsDocument;
    use gateway_core::conversation::Conversation;
    use gateway_core::delivery::platform::{CallError, Disposition, PlatformError};
    use gateway_core::delivery::ports::DeliveryState;
    use gateway_core::delivery::testing::{
        CountingTokens, InMemoryDeliveryLedger, RecordingReplyDeadLetters, ScriptedPlatform,
    };
    use gateway_core::message::Channel;
    use gateway_core::ports::PortError;
    use gateway_core::reply::ReplyContent;
    use gateway_core::testing::{StaticAccounts, text_message};
    use std::sync::Mutex;

    #[derive(Default)]
    struct Retries(Mutex<Vec<String>>);

    #[async_trait::async_trait]
    impl RetryScheduler for Retries {
        async fn retry_after(&self, handle: &str, _delay: u32) -> Result<(), PortError> {
            self.0.lock().expect("lock").push(handle.to_string());
            Ok(())
        }
    }

    #[async_trait::async_trait]
    impl DeadLetterSink for Retries {
        async fn dead_letter(&self, _: &str, _: &str, _: &str, _: &str) -> Result<(), PortError> {
            Ok(())
        }
    }

    fn busy() -> Result<(), CallError> {
        Err(CallError::Platform(PlatformError {
            channel: Channel::WeChat,
            code: -1,
            message: "system busy".into(),
            disposition: Disposition::Transient,
        }))
    }

    fn record(id: &str, body: &str, receives: &str) -> SqsMessage {
        let mut r = SqsMessage::default();
        r.message_id = Some(id.into());
        r.receipt_handle = Some(format!("rh-{id}"));
        r.body = Some(body.into());
        r.attributes
            .insert("MessageGroupId".into(), "wechat:demo:u1".into());
        r.attributes
            .insert("ApproximateReceiveCount".into(), receives.into());
        r
    }

    #[tokio::test]
    async fn the_last_allowed_receive_dead_letters_instead_of_handing_the_record_back() {
        let ledger = Arc::new(InMemoryDeliveryLedger::default());
        let now = crate::now_ms();
        let m = text_message("demo", "u1", "u1", "hi", now - 1_000);
        let mut c = Conversation::new_for(&m);
        c.record_inbound(&m);
        c.version = 1;
        ledger.put_conversation(c);
        let first = ReplyCommand::auto_reply(&m, "r", 0, ReplyContent::text("x"), m.received_at_ms);
        let second =
            ReplyCommand::auto_reply(&m, "r", 1, ReplyContent::text("y"), m.received_at_ms);
        let platform = Arc::new(ScriptedPlatform::default());
        let dead = Arc::new(RecordingReplyDeadLetters::default());
        let retries = Arc::new(Retries::default());
        let deps = ReplySenderDeps {
            accounts: Arc::new(StaticAccounts(Arc::new(
                AccountsDocument::from_json(
                    r#"{"wechat":{"demo":{"app_id":"wx1","token":"t","app_secret":"s"}}}"#,
                )
                .expect("accounts"),
            ))),
            conversations: ledger.clone(),
            ledger: ledger.clone(),
            tokens: Arc::new(CountingTokens::default()),
            wechat: platform.clone(),
            weibo: platform.clone(),
            dead_letters: dead.clone(),
            poison: retries.clone(),
            retries: retries.clone(),
            settings: Settings {
                policy: ReplyPolicy::default(),
                claim_timeout: Duration::from_secs(60),
                retry_base_secs: 10,
                retry_max_secs: 300,
                max_attempts: 3,
            },
            start_margin: Duration::from_secs(5),
        };
        let json = |c: &ReplyCommand| serde_json::to_string(c).expect("json");

        // Received twice before: the third receive is the last allowed attempt.
        platform.then(busy());
        let failures = handle_batch(
            &deps,
            &[
                record("a", &json(&first), "2"),
                record("b", &json(&second), "2"),
            ],
            || Duration::from_secs(60),
        )
        .await;
        assert_eq!(failures, ["a", "b"], "attempt 2 of 3: handed back in order");
        assert!(dead.0.lock().expect("lock").is_empty());

        platform.then(busy());
        let failures = handle_batch(
            &deps,
            &[
                record("a", &json(&first), "3"),
                record("b", &json(&second), "3"),
            ],
            || Duration::from_secs(60),
        )
        .await;

        assert!(failures.is_empty(), "{failures:?}");
        let dead = dead.0.lock().expect("lock").clone();
        assert_eq!(dead.len(), 1);
        assert_eq!(dead[0].0, first);
        assert_eq!(dead[0].1, delivery::RETRIES_EXHAUSTED);
        assert_eq!(
            dead[0].2,
            "not delivered after 3 attempts: wechat error -1: system busy"
        );
        assert_eq!(
            ledger.record(&first.dedupe_id()).map(|r| r.state),
            Some(DeliveryState::Failed)
        );
        // The conversation's next reply is no longer held back behind it.
        assert_eq!(
            ledger.record(&second.dedupe_id()).map(|r| r.state),
            Some(DeliveryState::Delivered)
        );
        assert_eq!(platform.wechat_calls.lock().expect("lock").len(), 3);
        assert_eq!(*retries.0.lock().expect("lock"), ["rh-a", "rh-b"]);
    }
}
