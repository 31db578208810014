//! An in-memory [`DeskStore`] for the desk's unit tests and its handler benchmark. It keeps
//! the index order (escalated waits first, then the oldest wait, then answered ones by last
//! message) and the filters of a [`ListPlan`]; its cursors are offsets.
#![allow(clippy::unwrap_used, missing_docs)]

use super::access::AgentProfile;
use super::canned::CannedResponse;
use super::change::{AuditEntry, Note};
use super::counts::{QueueEntry, Sample};
use super::list::{Filter, Index, ListPlan, Waiting};
use super::media::{LinkRequest, MediaLink, MediaLinks};
use super::ports::{BadCursor, DeskStore, Page, PageError, ProfileWrite, ThreadEntry, ThreadItem};
use super::upload::{MediaFile, UploadStore, WeChatMediaApi, WeChatUploaded};
use crate::account::Secret;
use crate::conversation::Conversation;
use crate::delivery::platform::CallError;
use crate::media::MediaKind;
use crate::ports::{CommitOutcome, PortError};
use async_trait::async_trait;
use std::collections::{BTreeMap, VecDeque};
use std::sync::Mutex;
use std::time::Duration;

#[derive(Default)]
pub struct MemoryDesk {
    pub conversations: Mutex<BTreeMap<String, Conversation>>,
    pub threads: Mutex<BTreeMap<String, Vec<ThreadItem>>>,
    pub audits: Mutex<BTreeMap<String, Vec<AuditEntry>>>,
    pub agents: Mutex<BTreeMap<String, AgentProfile>>,
    pub canned: Mutex<BTreeMap<String, CannedResponse>>,
}

/// The index order of a conversation.
fn order(c: &Conversation) -> (u8, i64, String) {
    match c.waiting_since {
        Some(t) if c.escalated => (0, t, c.key.clone()),
        Some(t) => (1, t, c.key.clone()),
        None => (2, c.last_inbound_at, c.key.clone()),
    }
}

fn matches(plan: &ListPlan, c: &Conversation) -> bool {
    let partition = match plan.index {
        Index::Gsi1 => format!("INBOX#{}#{}#{}", c.channel, c.account_id, c.status.as_str()),
        Index::Gsi2 => match &c.team {
            Some(t) => format!("TEAM#{t}#{}", c.status.as_str()),
            None => return false,
        },
    };
    if partition != plan.partition {
        return false;
    }
    let waiting = match plan.waiting {
        Waiting::Any => true,
        Waiting::Unanswered => c.is_unanswered(),
        Waiting::UnansweredEscalated => c.is_unanswered() && c.escalated,
    };
    waiting
        && plan.filters.iter().all(|f| match f {
            Filter::AccountIn(a) => a.iter().any(|a| c.key.starts_with(&format!("{a}:"))),
            Filter::TeamInOrNone(t) => c.team.as_ref().is_none_or(|team| t.contains(team)),
            Filter::Assignee(a) => c.assignee.as_ref() == Some(a),
            Filter::Unassigned => c.assignee.is_none(),
            Filter::Tag(t) => c.tags.contains(t),
            Filter::Escalated => c.escalated,
            Filter::Breached => c.sla_breached_at.is_some(),
        })
}

fn page<T: Clone>(all: &[T], limit: u32, cursor: Option<&str>) -> Result<Page<T>, PageError> {
    let start = match cursor {
        Some(c) => c.parse::<usize>().map_err(|_| BadCursor)?,
        None => 0,
    };
    let end = (start + limit as usize).min(all.len());
    Ok(Page {
        items: all.get(start..end).unwrap_or_default().to_vec(),
        next_cursor: (end < all.len()).then(|| end.to_string()),
    })
}

impl MemoryDesk {
    pub fn insert(&self, c: Conversation) {
        self.conversations.lock().unwrap().insert(c.key.clone(), c);
    }
    pub fn add_thread(&self, key: &str, item: ThreadItem) {
        self.threads
            .lock()
            .unwrap()
            .entry(key.to_string())
            .or_default()
            .push(item);
    }
}

#[async_trait]
impl DeskStore for MemoryDesk {
    async fn agent(&self, agent_id: &str) -> Result<Option<AgentProfile>, PortError> {
        Ok(self.agents.lock().unwrap().get(agent_id).cloned())
    }
    async fn agents(&self) -> Result<Vec<AgentProfile>, PortError> {
        Ok(self.agents.lock().unwrap().values().cloned().collect())
    }
    async fn put_agent(&self, profile: &AgentProfile) -> Result<ProfileWrite, PortError> {
        let mut agents = self.agents.lock().unwrap();
        let stored = agents.get(&profile.agent_id).map(|p| p.version);
        let expected = (profile.version > 1).then(|| profile.version - 1);
        if stored != expected {
            return Ok(ProfileWrite::Stale);
        }
        agents.insert(profile.agent_id.clone(), profile.clone());
        Ok(ProfileWrite::Stored)
    }
    async fn delete_agent(&self, agent_id: &str) -> Result<bool, PortError> {
        Ok(self.agents.lock().unwrap().remove(agent_id).is_some())
    }
    async fn list(
        &self,
        plan: &ListPlan,
        cursor: Option<&str>,
    ) -> Result<Page<Conversation>, PageError> {
        let mut all: Vec<Conversation> = self
            .conversations
            .lock()
            .unwrap()
            .values()
            .filter(|c| matches(plan, c))
            .cloned()
            .collect();
        all.sort_by_key(order);
        page(&all, plan.limit, cursor)
    }
    async fn queue_entries(&self, plan: &ListPlan, max_read: u32) -> Result<Sample, PortError> {
        let mut all: Vec<Conversation> = self
            .conversations
            .lock()
            .unwrap()
            .values()
            .filter(|c| matches(plan, c))
            .cloned()
            .collect();
        all.sort_by_key(order);
        let capped = all.len() > max_read as usize;
        all.truncate(max_read as usize);
        Ok(Sample {
            entries: all
                .iter()
                .map(|c| QueueEntry {
                    key: c.key.clone(),
                    team: c.team.clone(),
                    assignee: c.assignee.clone(),
                    escalated: c.escalated,
                    unanswered: c.is_unanswered(),
                    breached: c.sla_breached_at.is_some(),
                })
                .collect(),
            capped,
        })
    }
    async fn conversation(&self, key: &str) -> Result<Option<Conversation>, PortError> {
        Ok(self.conversations.lock().unwrap().get(key).cloned())
    }
    async fn thread(
        &self,
        key: &str,
        limit: u32,
        cursor: Option<&str>,
    ) -> Result<Page<ThreadItem>, PageError> {
        let mut all = self
            .threads
            .lock()
            .unwrap()
            .get(key)
            .cloned()
            .unwrap_or_default();
        all.sort_by_key(|i| i.seq);
        page(&all, limit, cursor)
    }
    async fn audit(
        &self,
        key: &str,
        limit: u32,
        cursor: Option<&str>,
    ) -> Result<Page<AuditEntry>, PageError> {
        let all = self
            .audits
            .lock()
            .unwrap()
            .get(key)
            .cloned()
            .unwrap_or_default();
        page(&all, limit, cursor)
    }
    async fn commit_change(
        &self,
        previous: &Conversation,
        next: &Conversation,
        audit: &AuditEntry,
        note: Option<&Note>,
    ) -> Result<CommitOutcome, PortError> {
        let mut conversations = self.conversations.lock().unwrap();
        if conversations.get(&previous.key).map(|c| c.version) != Some(previous.version) {
            return Ok(CommitOutcome::Conflict);
        }
        conversations.insert(next.key.clone(), next.clone());
        self.audits
            .lock()
            .unwrap()
            .entry(next.key.clone())
            .or_default()
            .push(audit.clone());
        if let Some(note) = note {
            self.add_thread(
                &next.key,
                ThreadItem {
                    seq: note.seq,
                    id: format!("note-{}", note.seq),
                    entry: ThreadEntry::Note(note.clone()),
                    media: Vec::new(),
                },
            );
        }
        Ok(CommitOutcome::Stored)
    }
    async fn canned_responses(&self) -> Result<Vec<CannedResponse>, PortError> {
        Ok(self.canned.lock().unwrap().values().cloned().collect())
    }
    async fn put_canned(&self, canned: &CannedResponse, create: bool) -> Result<bool, PortError> {
        let mut all = self.canned.lock().unwrap();
        if all.contains_key(&canned.id) == create {
            return Ok(false);
        }
        all.insert(canned.id.clone(), canned.clone());
        Ok(true)
    }
    async fn delete_canned(&self, id: &str) -> Result<bool, PortError> {
        Ok(self.canned.lock().unwrap().remove(id).is_some())
    }
}

/// Links of the form `https://media.example/{key}?type={content_type}&from={start_ms}&ttl={secs}`
/// (or failures), remembering what was asked.
#[derive(Default)]
pub struct FakeLinks {
    pub fail: bool,
    pub asked: Mutex<Vec<LinkRequest>>,
}

impl FakeLinks {
    pub fn failing() -> Self {
        FakeLinks {
            fail: true,
            ..Default::default()
        }
    }
    pub fn requests(&self) -> Vec<LinkRequest> {
        self.asked.lock().unwrap().clone()
    }
}

#[async_trait]
impl MediaLinks for FakeLinks {
    async fn link(&self, request: &LinkRequest) -> Result<MediaLink, PortError> {
        self.asked.lock().unwrap().push(request.clone());
        if self.fail {
            return Err(PortError::transient("presign", "no credentials"));
        }
        let ttl: Duration = request.ttl;
        Ok(MediaLink {
            url: format!(
                "https://media.example/{}?type={}&from={}&ttl={}",
                request.key,
                request.content_type,
                request.start_ms,
                ttl.as_secs()
            ),
            expires_at_ms: request.start_ms + ttl.as_millis() as i64,
        })
    }
}

/// One object of [`MemoryUploads`]: content type, sha256, bytes.
pub type StoredUpload = (String, String, Vec<u8>);

/// The media bucket's uploads in memory, by key.
#[derive(Default)]
pub struct MemoryUploads {
    pub fail: bool,
    pub objects: Mutex<BTreeMap<String, StoredUpload>>,
    pub puts: Mutex<u32>,
}

#[async_trait]
impl UploadStore for MemoryUploads {
    async fn put(
        &self,
        key: &str,
        content_type: &str,
        sha256: &str,
        body: &[u8],
    ) -> Result<(), PortError> {
        if self.fail {
            return Err(PortError::transient("s3 put_object", "unavailable"));
        }
        *self.puts.lock().unwrap() += 1;
        self.objects.lock().unwrap().insert(
            key.to_string(),
            (content_type.to_string(), sha256.to_string(), body.to_vec()),
        );
        Ok(())
    }
}

/// One call of [`ScriptedWeChatMedia`]: token, type, file name, content type, bytes.
pub type MediaUploadCall = (String, MediaKind, String, String, Vec<u8>);

/// WeChat's media upload, answering from `script` in order (then `media-{n}` created at
/// `created_at`), recording every call.
#[derive(Default)]
pub struct ScriptedWeChatMedia {
    pub script: Mutex<VecDeque<Result<WeChatUploaded, CallError>>>,
    pub calls: Mutex<Vec<MediaUploadCall>>,
    pub created_at: i64,
}

impl ScriptedWeChatMedia {
    pub fn then(&self, answer: Result<WeChatUploaded, CallError>) {
        self.script.lock().unwrap().push_back(answer);
    }
}

#[async_trait]
impl WeChatMediaApi for ScriptedWeChatMedia {
    async fn upload_media(
        &self,
        access_token: &Secret,
        kind: MediaKind,
        file: MediaFile<'_>,
    ) -> Result<WeChatUploaded, CallError> {
        let mut calls = self.calls.lock().unwrap();
        calls.push((
            access_token.expose().to_string(),
            kind,
            file.filename.to_string(),
            file.content_type.to_string(),
            file.body.to_vec(),
        ));
        let n = calls.len();
        drop(calls);
        self.script.lock().unwrap().pop_front().unwrap_or_else(|| {
            Ok(WeChatUploaded {
                kind: kind.as_str().to_string(),
                media_id: format!("media-{n}"),
                created_at: self.created_at,
            })
        })
    }
}
