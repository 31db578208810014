//! In-memory fakes of the ports and message builders, for unit and handler tests.
//! Compiled only for tests and with the `test-util` feature, never into a function.
#![allow(clippy::unwrap_used, missing_docs)]

use crate::account::AccountsDocument;
use crate::conversation::Conversation;
use crate::message::{Channel, Content, NormalizedMessage, RawFormat, RawPayload, SCHEMA_VERSION};
use crate::outbound::ReplyCommand;
use crate::ports::{
    AccountDirectory, CommitOutcome, ConversationStore, DeadLetter, DeadLetters, MessagePublisher,
    PortError, ReplyQueue,
};
use async_trait::async_trait;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};

/// A WeChat follower's profile fetched at `fetched_at`, with an operator's remark and a
/// `unionid` when given.
pub fn wechat_profile(
    fetched_at: i64,
    remark: Option<&str>,
    unionid: Option<&str>,
) -> crate::conversation::CustomerProfile {
    crate::conversation::CustomerProfile {
        fetched_at,
        source: Channel::WeChat,
        language: Some("zh_CN".into()),
        subscribed: Some(true),
        subscribe_time: None,
        subscribe_scene: None,
        remark: remark.map(str::to_string),
        tag_ids: Vec::new(),
        unionid: unionid.map(str::to_string),
        screen_name: None,
        followers_count: None,
        verified: None,
        verified_reason: None,
    }
}

/// A WeChat text message with the given ids.
pub fn text_message(
    account: &str,
    sender: &str,
    msg_id: &str,
    text: &str,
    received_at_ms: i64,
) -> NormalizedMessage {
    NormalizedMessage {
        schema_version: SCHEMA_VERSION,
        channel: Channel::WeChat,
        account_id: account.into(),
        sender_id: sender.into(),
        recipient_id: "gh_test".into(),
        conversation_key: NormalizedMessage::conversation_key_for(Channel::WeChat, account, sender),
        platform_message_id: Some(msg_id.into()),
        dedupe_key: format!("msg:{msg_id}"),
        content: Content::Text { text: text.into() },
        platform_time: received_at_ms / 1000,
        received_at_ms,
        raw: RawPayload {
            format: RawFormat::Xml,
            body: String::new(),
        },
    }
}

/// A WeChat event (`follow`, `unfollow`, `click`…) from `sender`, as the channel parser
/// normalizes it.
pub fn event_message(
    account: &str,
    sender: &str,
    event: &str,
    received_at_ms: i64,
) -> NormalizedMessage {
    let mut m = text_message(account, sender, "", "", received_at_ms);
    m.platform_message_id = None;
    m.dedupe_key = format!("event:{sender}:{event}:{received_at_ms}");
    m.content = Content::Event {
        event: event.into(),
        platform_event: event.into(),
        key: None,
        detail: BTreeMap::new(),
    };
    m
}

/// Records published messages; can be told to fail.
#[derive(Default)]
pub struct RecordingPublisher {
    pub published: Mutex<Vec<NormalizedMessage>>,
    pub fail: Mutex<bool>,
}

impl RecordingPublisher {
    pub fn messages(&self) -> Vec<NormalizedMessage> {
        self.published.lock().unwrap().clone()
    }
    pub fn set_failing(&self, fail: bool) {
        *self.fail.lock().unwrap() = fail;
    }
}

#[async_trait]
impl MessagePublisher for RecordingPublisher {
    async fn publish(&self, message: &NormalizedMessage) -> Result<(), PortError> {
        if *self.fail.lock().unwrap() {
            return Err(PortError::transient("publish", "queue unavailable (test)"));
        }
        self.published.lock().unwrap().push(message.clone());
        Ok(())
    }
}

/// A fixed accounts document.
pub struct StaticAccounts(pub Arc<AccountsDocument>);

#[async_trait]
impl AccountDirectory for StaticAccounts {
    async fn accounts(&self) -> Result<Arc<AccountsDocument>, PortError> {
        Ok(self.0.clone())
    }
}

/// Conversations and messages in memory, with the same conditional semantics as the
/// DynamoDB adapter.
#[derive(Default)]
pub struct InMemoryConversationStore {
    conversations: Mutex<BTreeMap<String, Conversation>>,
    messages: Mutex<BTreeSet<(String, String)>>,
}

impl InMemoryConversationStore {
    pub fn message_count(&self) -> usize {
        self.messages.lock().unwrap().len()
    }
    pub fn conversation(&self, key: &str) -> Option<Conversation> {
        self.conversations.lock().unwrap().get(key).cloned()
    }
    pub fn forget_recent_ids(&self, key: &str) {
        if let Some(c) = self.conversations.lock().unwrap().get_mut(key) {
            c.recent_dedupe_ids.clear();
        }
    }
}

#[async_trait]
impl ConversationStore for InMemoryConversationStore {
    async fn load(&self, key: &str) -> Result<Option<Conversation>, PortError> {
        Ok(self.conversation(key))
    }

    async fn commit_inbound(
        &self,
        message: &NormalizedMessage,
        previous: Option<&Conversation>,
        conversation: &Conversation,
    ) -> Result<CommitOutcome, PortError> {
        let expected_version = previous.map_or(0, |c| c.version);
        let mut convs = self.conversations.lock().unwrap();
        let mut msgs = self.messages.lock().unwrap();
        let id = (message.conversation_key.clone(), message.dedupe_id());
        if msgs.contains(&id) {
            return Ok(CommitOutcome::Duplicate);
        }
        let current = convs.get(&conversation.key).map_or(0, |c| c.version);
        if current != expected_version {
            return Ok(CommitOutcome::Conflict);
        }
        msgs.insert(id);
        convs.insert(conversation.key.clone(), conversation.clone());
        Ok(CommitOutcome::Stored)
    }

    async fn commit_conversation(
        &self,
        previous: &Conversation,
        next: &Conversation,
    ) -> Result<CommitOutcome, PortError> {
        let mut convs = self.conversations.lock().unwrap();
        let current = convs.get(&next.key).map_or(0, |c| c.version);
        if current != previous.version {
            return Ok(CommitOutcome::Conflict);
        }
        convs.insert(next.key.clone(), next.clone());
        Ok(CommitOutcome::Stored)
    }
}

/// Records queued reply commands; can be told to fail.
#[derive(Default)]
pub struct RecordingReplyQueue {
    pub queued: Mutex<Vec<ReplyCommand>>,
    pub fail: Mutex<bool>,
}

impl RecordingReplyQueue {
    pub fn commands(&self) -> Vec<ReplyCommand> {
        self.queued.lock().unwrap().clone()
    }
    pub fn set_failing(&self, fail: bool) {
        *self.fail.lock().unwrap() = fail;
    }
}

#[async_trait]
impl ReplyQueue for RecordingReplyQueue {
    async fn enqueue(&self, command: &ReplyCommand) -> Result<(), PortError> {
        if *self.fail.lock().unwrap() {
            return Err(PortError::transient("enqueue", "queue unavailable (test)"));
        }
        self.queued.lock().unwrap().push(command.clone());
        Ok(())
    }
}

/// Records queued media fetch commands (one entry per call); can be told to fail.
#[derive(Default)]
pub struct RecordingMediaQueue {
    pub calls: Mutex<Vec<Vec<crate::media::MediaCommand>>>,
    pub fail: Mutex<bool>,
}

impl RecordingMediaQueue {
    /// Every media fetch command queued, in order.
    pub fn commands(&self) -> Vec<crate::media::MediaFetch> {
        self.calls
            .lock()
            .unwrap()
            .iter()
            .flatten()
            .filter_map(|c| match c {
                crate::media::MediaCommand::Fetch(f) => Some(f.clone()),
                crate::media::MediaCommand::Profile(_) => None,
            })
            .collect()
    }
    /// Every profile command queued, in order.
    pub fn profile_commands(&self) -> Vec<crate::profile::ProfileFetch> {
        self.calls
            .lock()
            .unwrap()
            .iter()
            .flatten()
            .filter_map(|c| match c {
                crate::media::MediaCommand::Profile(p) => Some(p.clone()),
                crate::media::MediaCommand::Fetch(_) => None,
            })
            .collect()
    }
    /// How many times `enqueue` was called.
    pub fn calls(&self) -> usize {
        self.calls.lock().unwrap().len()
    }
    pub fn set_failing(&self, fail: bool) {
        *self.fail.lock().unwrap() = fail;
    }
}

#[async_trait]
impl crate::media::MediaQueue for RecordingMediaQueue {
    async fn enqueue(&self, commands: &[crate::media::MediaCommand]) -> Result<(), PortError> {
        if *self.fail.lock().unwrap() {
            return Err(PortError::transient(
                "enqueue media",
                "queue unavailable (test)",
            ));
        }
        self.calls.lock().unwrap().push(commands.to_vec());
        Ok(())
    }
}

/// Records dead letters.
#[derive(Default)]
pub struct RecordingDeadLetters(pub Mutex<Vec<DeadLetter>>);

impl RecordingDeadLetters {
    /// The letters recorded so far.
    pub fn letters(&self) -> Vec<DeadLetter> {
        self.0.lock().expect("lock").clone()
    }
}

#[async_trait]
impl DeadLetters for RecordingDeadLetters {
    async fn dead_letter(&self, letter: &DeadLetter) -> Result<(), PortError> {
        self.0.lock().expect("lock").push(letter.clone());
        Ok(())
    }
}

#[async_trait]
impl crate::sla::ports::SlaRecords for InMemoryConversationStore {
    async fn load(&self, key: &str) -> Result<Option<Conversation>, PortError> {
        Ok(self.conversation(key))
    }

    async fn record_breach(&self, timer: &crate::sla::Timer, at: i64) -> Result<bool, PortError> {
        use crate::sla::TimerKind;
        let mut convs = self.conversations.lock().unwrap();
        let Some(c) = convs.get_mut(&timer.conversation_key) else {
            return Ok(false);
        };
        let still = match timer.kind {
            TimerKind::FirstResponse => {
                c.waiting_since == Some(timer.since)
                    && c.response_due_at == Some(timer.due_at)
                    && c.sla_breached_at.is_none()
            }
            TimerKind::Resolution => {
                c.opened_at == Some(timer.since)
                    && c.resolution_due_at == Some(timer.due_at)
                    && c.resolution_breached_at.is_none()
            }
            TimerKind::AutoResolve => false,
        };
        if still {
            match timer.kind {
                TimerKind::Resolution => c.resolution_breached_at = Some(at),
                _ => c.sla_breached_at = Some(at),
            }
            c.version += 1;
        }
        Ok(still)
    }

    async fn replace(
        &self,
        previous: &Conversation,
        next: &Conversation,
    ) -> Result<CommitOutcome, PortError> {
        let mut convs = self.conversations.lock().unwrap();
        if convs.get(&previous.key).map(|c| c.version) != Some(previous.version) {
            return Ok(CommitOutcome::Conflict);
        }
        convs.insert(next.key.clone(), next.clone());
        Ok(CommitOutcome::Stored)
    }
}

impl InMemoryConversationStore {
    /// Stores `c` as is (a conversation another function wrote).
    pub fn put(&self, c: Conversation) {
        self.conversations.lock().unwrap().insert(c.key.clone(), c);
    }
}

/// Records scheduled timers with their delays, and published alerts.
#[derive(Default)]
pub struct RecordingSla {
    pub timers: Mutex<Vec<(crate::sla::Timer, u32)>>,
    pub alerts: Mutex<Vec<crate::sla::Alert>>,
}

#[async_trait]
impl crate::sla::ports::TimerQueue for RecordingSla {
    async fn schedule(&self, timer: &crate::sla::Timer, delay_secs: u32) -> Result<(), PortError> {
        self.timers
            .lock()
            .unwrap()
            .push((timer.clone(), delay_secs));
        Ok(())
    }
}

#[async_trait]
impl crate::sla::ports::AlertPublisher for RecordingSla {
    async fn publish(&self, alert: &crate::sla::Alert) -> Result<(), PortError> {
        self.alerts.lock().unwrap().push(alert.clone());
        Ok(())
    }
}

#[async_trait]
impl crate::sla::ports::Inboxes for InMemoryConversationStore {
    async fn register(&self, _channel: Channel, _account_id: &str) -> Result<(), PortError> {
        Ok(())
    }

    async fn accounts(&self) -> Result<Vec<(Channel, String)>, PortError> {
        let convs = self.conversations.lock().unwrap();
        let set: BTreeSet<(String, String)> = convs
            .values()
            .map(|c| (c.channel.to_string(), c.account_id.clone()))
            .collect();
        Ok(set
            .into_iter()
            .filter_map(|(ch, a)| ch.parse().ok().map(|ch| (ch, a)))
            .collect())
    }

    async fn gauge(
        &self,
        channel: Channel,
        account_id: &str,
    ) -> Result<crate::sla::InboxGauge, PortError> {
        let convs = self.conversations.lock().unwrap();
        let waiting: Vec<i64> = convs
            .values()
            .filter(|c| c.channel == channel && c.account_id == account_id)
            .filter(|c| c.status == crate::conversation::Status::Open)
            .filter_map(|c| c.waiting_since)
            .collect();
        Ok(crate::sla::InboxGauge {
            channel,
            account_id: account_id.to_string(),
            unanswered: waiting.len() as u64,
            oldest_waiting_since: waiting.into_iter().min(),
        })
    }
}

/// Fakes of the media ports ([`crate::media`]).
pub mod media {
    use crate::media::{
        DownloadRequest, Downloaded, MediaFetch, MediaRecord, MediaRecords, MediaSource,
        MediaStore, PutOutcome, RecordOutcome, SourceError, StoredObject,
    };
    use crate::ports::PortError;
    use async_trait::async_trait;
    use std::collections::{BTreeMap, VecDeque};
    use std::sync::Mutex;

    /// A platform's media API in memory: objects by media id, scripted failures first.
    #[derive(Default)]
    pub struct FakeMediaSource {
        objects: Mutex<BTreeMap<String, Downloaded>>,
        failures: Mutex<BTreeMap<String, VecDeque<SourceError>>>,
        pub requests: Mutex<Vec<DownloadRequest>>,
    }

    impl FakeMediaSource {
        pub fn insert(&self, media_id: &str, content_type: &str, body: &[u8]) {
            self.objects.lock().unwrap().insert(
                media_id.into(),
                Downloaded {
                    content_type: content_type.into(),
                    body: body.to_vec(),
                },
            );
        }
        /// The next download of `media_id` fails with `error` (queued after earlier ones).
        pub fn fail_next(&self, media_id: &str, error: SourceError) {
            self.failures
                .lock()
                .unwrap()
                .entry(media_id.into())
                .or_default()
                .push_back(error);
        }
        pub fn downloads(&self) -> usize {
            self.requests.lock().unwrap().len()
        }
    }

    #[async_trait]
    impl MediaSource for FakeMediaSource {
        async fn download(&self, request: &DownloadRequest) -> Result<Downloaded, SourceError> {
            self.requests.lock().unwrap().push(request.clone());
            if let Some(e) = self
                .failures
                .lock()
                .unwrap()
                .get_mut(&request.media_id)
                .and_then(VecDeque::pop_front)
            {
                return Err(e);
            }
            let Some(object) = self.objects.lock().unwrap().get(&request.media_id).cloned() else {
                // WeChat's answer for an unknown or expired media id.
                return Err(SourceError::Platform {
                    code: 40007,
                    message: "invalid media_id".into(),
                });
            };
            let bytes = object.body.len() as u64;
            if bytes > request.max_bytes {
                return Err(SourceError::TooLarge { bytes });
            }
            Ok(object)
        }
    }

    /// An object store in memory, with S3's conditional put; can be told to fail.
    #[derive(Default)]
    pub struct InMemoryMediaStore {
        pub objects: Mutex<BTreeMap<String, (StoredObject, Vec<u8>)>>,
        pub puts: Mutex<usize>,
        pub fail: Mutex<Option<PortError>>,
    }

    impl InMemoryMediaStore {
        pub fn body(&self, key: &str) -> Option<Vec<u8>> {
            self.objects.lock().unwrap().get(key).map(|o| o.1.clone())
        }
        pub fn len(&self) -> usize {
            self.objects.lock().unwrap().len()
        }
        pub fn is_empty(&self) -> bool {
            self.len() == 0
        }
        /// Writes performed (conditional puts that created an object).
        pub fn writes(&self) -> usize {
            *self.puts.lock().unwrap()
        }
        /// The next call fails with `error`.
        pub fn fail_next(&self, error: PortError) {
            *self.fail.lock().unwrap() = Some(error);
        }
        fn take_failure(&self) -> Result<(), PortError> {
            match self.fail.lock().unwrap().take() {
                Some(e) => Err(e),
                None => Ok(()),
            }
        }
    }

    #[async_trait]
    impl MediaStore for InMemoryMediaStore {
        async fn head(&self, key: &str) -> Result<Option<StoredObject>, PortError> {
            self.take_failure()?;
            Ok(self.objects.lock().unwrap().get(key).map(|o| o.0.clone()))
        }

        async fn put_if_absent(
            &self,
            key: &str,
            object: &StoredObject,
            body: &[u8],
        ) -> Result<PutOutcome, PortError> {
            self.take_failure()?;
            let mut objects = self.objects.lock().unwrap();
            if let Some(existing) = objects.get(key) {
                return Ok(PutOutcome::Existing(existing.0.clone()));
            }
            objects.insert(key.into(), (object.clone(), body.to_vec()));
            *self.puts.lock().unwrap() += 1;
            Ok(PutOutcome::Created)
        }
    }

    /// A message item's id and its `media` map (kind → record).
    pub type MediaItem = (String, BTreeMap<String, MediaRecord>);

    /// Message items' `media` maps in memory, by `(conversation, seq)`.
    #[derive(Default)]
    pub struct InMemoryMediaRecords {
        pub items: Mutex<BTreeMap<(String, u64), MediaItem>>,
    }

    impl InMemoryMediaRecords {
        /// A message stored at its place, with no media recorded yet.
        pub fn store_message(&self, conversation: &str, seq: u64, message_id: &str) {
            self.items.lock().unwrap().insert(
                (conversation.into(), seq),
                (message_id.into(), BTreeMap::new()),
            );
        }
        /// The records on the message at that place.
        pub fn records(&self, conversation: &str, seq: u64) -> BTreeMap<String, MediaRecord> {
            self.items
                .lock()
                .unwrap()
                .get(&(conversation.to_string(), seq))
                .map(|i| i.1.clone())
                .unwrap_or_default()
        }
    }

    #[async_trait]
    impl MediaRecords for InMemoryMediaRecords {
        async fn record(
            &self,
            command: &MediaFetch,
            record: &MediaRecord,
        ) -> Result<RecordOutcome, PortError> {
            let mut items = self.items.lock().unwrap();
            let key = (command.conversation_key.clone(), command.thread_seq);
            match items.get_mut(&key) {
                None => Ok(RecordOutcome::NotStored),
                Some((id, _)) if *id != command.message_id => Ok(RecordOutcome::NotStored),
                Some((_, media)) => {
                    media.insert(command.kind.as_str().into(), record.clone());
                    Ok(RecordOutcome::Recorded)
                }
            }
        }
    }
}
