//! In-memory fakes of the delivery ports, with the same conditional semantics as the
//! DynamoDB adapters, for unit and handler tests. Compiled only for tests and with the
//! `test-util` feature.
#![allow(clippy::unwrap_used, missing_docs)]

use crate::account::{Secret, WeChatAccount};
use crate::conversation::Conversation;
use crate::delivery::platform::CallError;
use crate::delivery::ports::{
    AccessTokens, ApiRequestLedger, ApiRequestRecord, ClaimOutcome, DeliveryLedger, DeliveryRecord,
    DeliveryState, TokenError, WeChatApi, WeiboApi,
};
use crate::delivery::template::{Settled, TemplateSends};
use crate::delivery::template_quota::{QuotaDay, TemplateQuotas, quota_day};
use crate::delivery::weibo_comments::CommentCall;
use crate::delivery::window::{UndeliverableReason, UndeliverableReply};
use crate::outbound::ReplyCommand;
use crate::ports::{CommitOutcome, ConversationStore, PortError};
use async_trait::async_trait;
use serde_json::Value;
use std::collections::{BTreeMap, VecDeque};
use std::sync::Mutex;

/// Delivery records and conversations in memory (it is also the [`ConversationStore`]), with
/// the adapters' conditional semantics.
#[derive(Default)]
pub struct InMemoryDeliveryLedger {
    pub records: Mutex<BTreeMap<String, DeliveryRecord>>,
    pub requests: Mutex<BTreeMap<String, ApiRequestRecord>>,
    pub outbound: Mutex<Vec<ReplyCommand>>,
    pub conversations: Mutex<BTreeMap<String, Conversation>>,
    /// `(account, msgid)` → reply id, as `mark_template_sent` writes it.
    pub template_lookups: Mutex<BTreeMap<(String, String), String>>,
    /// `(account, day)` → the day's template quota, as `commit_delivered` and
    /// `mark_exhausted` write it.
    pub quota_days: Mutex<BTreeMap<(String, String), QuotaDay>>,
    /// reply id → holds so far.
    pub holds: Mutex<BTreeMap<String, u32>>,
}

impl InMemoryDeliveryLedger {
    pub fn conversation(&self, key: &str) -> Option<Conversation> {
        self.conversations.lock().unwrap().get(key).cloned()
    }
    pub fn put_conversation(&self, c: Conversation) {
        self.conversations.lock().unwrap().insert(c.key.clone(), c);
    }
    pub fn record(&self, reply_id: &str) -> Option<DeliveryRecord> {
        self.records.lock().unwrap().get(reply_id).cloned()
    }
    pub fn set(&self, record: DeliveryRecord) {
        self.records
            .lock()
            .unwrap()
            .insert(record.reply_id.clone(), record);
    }
    fn state(&self, id: &str) -> Option<DeliveryState> {
        self.record(id).map(|r| r.state)
    }
    async fn write_conversation(
        &self,
        previous: Option<&Conversation>,
        next: Option<&Conversation>,
    ) -> bool {
        let Some(next) = next else { return true };
        let current = self.conversation(&next.key);
        if current.map(|c| c.version) != previous.map(|c| c.version) {
            return false;
        }
        self.put_conversation(next.clone());
        true
    }
}

fn record(id: &str, state: DeliveryState, now: i64) -> DeliveryRecord {
    DeliveryRecord {
        reply_id: id.into(),
        state,
        calling_since_ms: (state == DeliveryState::Calling).then_some(now),
        sent_at_ms: None,
        reason: None,
        error_code: None,
        platform_id: None,
        retry_at_ms: None,
        updated_at_ms: now,
    }
}

#[async_trait]
impl DeliveryLedger for InMemoryDeliveryLedger {
    async fn get(&self, reply_id: &str) -> Result<Option<DeliveryRecord>, PortError> {
        Ok(self.record(reply_id))
    }
    async fn claim(&self, command: &ReplyCommand, now_ms: i64) -> Result<ClaimOutcome, PortError> {
        let id = command.dedupe_id();
        let mut records = self.records.lock().unwrap();
        if let Some(r) = records.get(&id).filter(|r| r.state != DeliveryState::Held) {
            return Ok(ClaimOutcome::Exists(r.clone()));
        }
        records.insert(id.clone(), record(&id, DeliveryState::Calling, now_ms));
        Ok(ClaimOutcome::Claimed)
    }
    async fn release(&self, reply_id: &str) -> Result<(), PortError> {
        let mut records = self.records.lock().unwrap();
        if records.get(reply_id).map(|r| r.state) == Some(DeliveryState::Calling) {
            records.remove(reply_id);
        }
        Ok(())
    }
    async fn mark_sent(
        &self,
        reply_id: &str,
        now_ms: i64,
        platform_id: Option<&str>,
    ) -> Result<(), PortError> {
        if let Some(r) = self.records.lock().unwrap().get_mut(reply_id)
            && r.state == DeliveryState::Calling
        {
            r.state = DeliveryState::Sent;
            r.sent_at_ms = Some(now_ms);
            r.platform_id = platform_id.map(String::from);
            r.updated_at_ms = now_ms;
        }
        Ok(())
    }
    async fn mark_template_sent(
        &self,
        command: &ReplyCommand,
        now_ms: i64,
        msgid: &str,
    ) -> Result<(), PortError> {
        let id = command.dedupe_id();
        if self.state(&id) == Some(DeliveryState::Calling) {
            self.mark_sent(&id, now_ms, Some(msgid)).await?;
            self.template_lookups
                .lock()
                .unwrap()
                .insert((command.account_id.clone(), msgid.to_string()), id);
        }
        Ok(())
    }
    async fn mark_failed(
        &self,
        command: &ReplyCommand,
        error_code: &str,
        reason: &str,
        now_ms: i64,
    ) -> Result<(), PortError> {
        let id = command.dedupe_id();
        if matches!(
            self.state(&id),
            None | Some(DeliveryState::Calling | DeliveryState::Held)
        ) {
            let mut r = record(&id, DeliveryState::Failed, now_ms);
            r.error_code = Some(error_code.into());
            r.reason = Some(reason.into());
            self.set(r);
        }
        Ok(())
    }
    async fn commit_delivered(
        &self,
        command: &ReplyCommand,
        previous: Option<&Conversation>,
        next: Option<&Conversation>,
        sent_at_ms: i64,
    ) -> Result<CommitOutcome, PortError> {
        let id = command.dedupe_id();
        if self.state(&id) != Some(DeliveryState::Sent) {
            return Ok(CommitOutcome::Duplicate);
        }
        if !self.write_conversation(previous, next).await {
            return Ok(CommitOutcome::Conflict);
        }
        let mut r = self.record(&id).unwrap();
        r.state = DeliveryState::after_send(&command.content);
        r.updated_at_ms = sent_at_ms;
        self.set(r);
        self.outbound.lock().unwrap().push(command.clone());
        if command.content.is_template() {
            let key = (command.account_id.clone(), quota_day(sent_at_ms));
            self.quota_days.lock().unwrap().entry(key).or_default().sent += 1;
        }
        Ok(CommitOutcome::Stored)
    }
    async fn commit_undeliverable(
        &self,
        command: &ReplyCommand,
        previous: Option<&Conversation>,
        next: Option<&Conversation>,
        mark: &UndeliverableReply,
    ) -> Result<CommitOutcome, PortError> {
        let id = command.dedupe_id();
        if !matches!(
            self.state(&id),
            None | Some(DeliveryState::Calling | DeliveryState::Held)
        ) {
            return Ok(CommitOutcome::Duplicate);
        }
        if !self.write_conversation(previous, next).await {
            return Ok(CommitOutcome::Conflict);
        }
        let mut r = record(&id, DeliveryState::Undeliverable, mark.at);
        r.reason = Some(mark.reason.as_str().into());
        r.error_code = mark.platform_code.clone();
        self.set(r);
        Ok(CommitOutcome::Stored)
    }
    async fn hold(
        &self,
        command: &ReplyCommand,
        reason: &str,
        _detail: &str,
        retry_at_ms: i64,
        now_ms: i64,
    ) -> Result<u32, PortError> {
        let id = command.dedupe_id();
        if !matches!(self.state(&id), None | Some(DeliveryState::Held)) {
            return Err(PortError::transient("hold delivery", "the record moved on"));
        }
        let mut r = record(&id, DeliveryState::Held, now_ms);
        r.reason = Some(reason.into());
        r.retry_at_ms = Some(retry_at_ms);
        self.set(r);
        let mut holds = self.holds.lock().unwrap();
        let n = holds.entry(id).or_default();
        *n += 1;
        Ok(*n)
    }
    async fn holds(&self, reply_id: &str) -> Result<u32, PortError> {
        Ok(self
            .holds
            .lock()
            .unwrap()
            .get(reply_id)
            .copied()
            .unwrap_or(0))
    }
}

impl InMemoryDeliveryLedger {
    /// The account's quota on `day`.
    pub fn quota(&self, account_id: &str, day: &str) -> QuotaDay {
        self.quota_days
            .lock()
            .unwrap()
            .get(&(account_id.to_string(), day.to_string()))
            .cloned()
            .unwrap_or_default()
    }
}

#[async_trait]
impl TemplateQuotas for InMemoryDeliveryLedger {
    async fn day(&self, account_id: &str, day: &str) -> Result<QuotaDay, PortError> {
        Ok(self.quota(account_id, day))
    }
    async fn mark_exhausted(
        &self,
        account_id: &str,
        day: &str,
        now_ms: i64,
    ) -> Result<(), PortError> {
        let mut days = self.quota_days.lock().unwrap();
        let d = days
            .entry((account_id.to_string(), day.to_string()))
            .or_default();
        d.exhausted_at_ms.get_or_insert(now_ms);
        Ok(())
    }
}

#[async_trait]
impl TemplateSends for InMemoryDeliveryLedger {
    async fn settle(
        &self,
        account_id: &str,
        msgid: &str,
        reason: Option<UndeliverableReason>,
        now_ms: i64,
    ) -> Result<Settled, PortError> {
        let key = (account_id.to_string(), msgid.to_string());
        let Some(reply_id) = self.template_lookups.lock().unwrap().get(&key).cloned() else {
            return Ok(Settled::Unknown);
        };
        let mut records = self.records.lock().unwrap();
        let Some(r) = records.get_mut(&reply_id) else {
            return Ok(Settled::Unknown);
        };
        match r.state {
            DeliveryState::Accepted => {
                r.state = match reason {
                    None => DeliveryState::Delivered,
                    Some(_) => DeliveryState::Undeliverable,
                };
                r.reason = reason.map(|x| x.as_str().to_string());
                r.updated_at_ms = now_ms;
                Ok(Settled::Updated { reply_id })
            }
            DeliveryState::Calling | DeliveryState::Sent => {
                Ok(Settled::NotYetAccepted { reply_id })
            }
            _ => Ok(Settled::AlreadySettled { reply_id }),
        }
    }
}

#[async_trait]
impl ConversationStore for InMemoryDeliveryLedger {
    async fn load(&self, key: &str) -> Result<Option<Conversation>, PortError> {
        Ok(self.conversation(key))
    }
    async fn commit_inbound(
        &self,
        _message: &crate::message::NormalizedMessage,
        previous: Option<&Conversation>,
        next: &Conversation,
    ) -> Result<CommitOutcome, PortError> {
        Ok(if self.write_conversation(previous, Some(next)).await {
            CommitOutcome::Stored
        } else {
            CommitOutcome::Conflict
        })
    }
}

/// Hands out `token-1`, `token-2`, … : a new one after each invalidation.
#[derive(Default)]
pub struct CountingTokens {
    pub fetched: Mutex<u32>,
    pub current: Mutex<Option<String>>,
    pub fail_with: Mutex<Option<crate::delivery::platform::PlatformError>>,
}

#[async_trait]
impl AccessTokens for CountingTokens {
    async fn token(
        &self,
        _account_id: &str,
        _account: &WeChatAccount,
        _now_ms: i64,
    ) -> Result<Secret, TokenError> {
        if let Some(e) = self.fail_with.lock().unwrap().clone() {
            return Err(TokenError::Platform(e));
        }
        let mut current = self.current.lock().unwrap();
        if current.is_none() {
            let mut n = self.fetched.lock().unwrap();
            *n += 1;
            *current = Some(format!("token-{n}"));
        }
        Ok(Secret::new(current.clone().unwrap()))
    }
    async fn invalidate(&self, _account_id: &str, failed: &Secret) -> Result<(), PortError> {
        let mut current = self.current.lock().unwrap();
        if current.as_deref() == Some(failed.expose()) {
            *current = None;
        }
        Ok(())
    }
}

/// Token and form fields of one Weibo call.
pub type WeiboCall = (String, Vec<(String, String)>);

/// A scripted platform: answers from `script` in order (then success), records every call.
/// A comment call that succeeds answers the id `c{n}` (n = the comment calls so far).
#[derive(Default)]
pub struct ScriptedPlatform {
    pub script: Mutex<VecDeque<Result<(), CallError>>>,
    pub wechat_calls: Mutex<Vec<(String, Value)>>,
    pub weibo_calls: Mutex<Vec<WeiboCall>>,
    pub comment_calls: Mutex<Vec<(CommentCall, WeiboCall)>>,
    /// Token and body of each template message call; a success answers the msgid
    /// `200228332 + n` (n = the template calls before it).
    pub template_calls: Mutex<Vec<(String, Value)>>,
}

impl ScriptedPlatform {
    pub fn then(&self, answer: Result<(), CallError>) {
        self.script.lock().unwrap().push_back(answer);
    }
    fn next(&self) -> Result<(), CallError> {
        self.script.lock().unwrap().pop_front().unwrap_or(Ok(()))
    }
}

#[async_trait]
impl WeChatApi for ScriptedPlatform {
    async fn send_custom(&self, access_token: &Secret, body: &Value) -> Result<(), CallError> {
        self.wechat_calls
            .lock()
            .unwrap()
            .push((access_token.expose().into(), body.clone()));
        self.next()
    }
    async fn typing(&self, _access_token: &Secret, _body: &Value) -> Result<(), CallError> {
        Ok(())
    }
    async fn send_template(
        &self,
        access_token: &Secret,
        body: &Value,
    ) -> Result<String, CallError> {
        let mut calls = self.template_calls.lock().unwrap();
        let n = calls.len();
        calls.push((access_token.expose().into(), body.clone()));
        drop(calls);
        self.next().map(|()| (200_228_332 + n).to_string())
    }
}

#[async_trait]
impl WeiboApi for ScriptedPlatform {
    async fn reply(
        &self,
        access_token: &Secret,
        fields: &[(String, String)],
    ) -> Result<(), CallError> {
        self.weibo_calls
            .lock()
            .unwrap()
            .push((access_token.expose().into(), fields.to_vec()));
        self.next()
    }
    async fn comment(
        &self,
        access_token: &Secret,
        call: CommentCall,
        fields: &[(String, String)],
    ) -> Result<String, CallError> {
        let mut calls = self.comment_calls.lock().unwrap();
        calls.push((call, (access_token.expose().into(), fields.to_vec())));
        let n = calls.len();
        drop(calls);
        self.next().map(|()| format!("c{n}"))
    }
}

#[async_trait]
impl ApiRequestLedger for InMemoryDeliveryLedger {
    async fn record_once(
        &self,
        record: &ApiRequestRecord,
    ) -> Result<Option<ApiRequestRecord>, PortError> {
        let mut requests = self.requests.lock().unwrap();
        if let Some(existing) = requests.get(&record.reply_id) {
            return Ok(Some(existing.clone()));
        }
        requests.insert(record.reply_id.clone(), record.clone());
        Ok(None)
    }

    async fn get_request(&self, reply_id: &str) -> Result<Option<ApiRequestRecord>, PortError> {
        Ok(self.requests.lock().unwrap().get(reply_id).cloned())
    }
}

/// The agents' files and the media ids they were uploaded as, in memory.
#[derive(Default)]
pub struct MemoryUploadFiles {
    pub files: Mutex<std::collections::BTreeMap<String, crate::delivery::uploads::StoredFile>>,
    pub ids:
        Mutex<std::collections::BTreeMap<(String, String), crate::delivery::uploads::UploadedId>>,
}

impl MemoryUploadFiles {
    /// Keeps `body` under `key`.
    pub fn insert(&self, key: &str, content_type: &str, body: &[u8]) {
        self.files.lock().unwrap().insert(
            key.into(),
            crate::delivery::uploads::StoredFile {
                content_type: content_type.into(),
                body: body.to_vec(),
            },
        );
    }
}

#[async_trait]
impl crate::delivery::uploads::UploadFiles for MemoryUploadFiles {
    async fn get(
        &self,
        key: &str,
    ) -> Result<Option<crate::delivery::uploads::StoredFile>, PortError> {
        Ok(self.files.lock().unwrap().get(key).cloned())
    }
}

#[async_trait]
impl crate::delivery::uploads::UploadedIds for MemoryUploadFiles {
    async fn get(
        &self,
        account_id: &str,
        key: &str,
    ) -> Result<Option<crate::delivery::uploads::UploadedId>, PortError> {
        Ok(self
            .ids
            .lock()
            .unwrap()
            .get(&(account_id.to_string(), key.to_string()))
            .cloned())
    }
    async fn put(
        &self,
        account_id: &str,
        key: &str,
        id: &crate::delivery::uploads::UploadedId,
    ) -> Result<(), PortError> {
        self.ids
            .lock()
            .unwrap()
            .insert((account_id.to_string(), key.to_string()), id.clone());
        Ok(())
    }
}
