//! The store the desk reads and writes (adapter: `gateway_aws::dynamodb::desk`).

use super::access::AgentProfile;
use super::canned::CannedResponse;
use super::change::{AuditEntry, Note};
use super::counts::Sample;
use super::list::ListPlan;
use crate::conversation::Conversation;
use crate::media::MediaRecord;
use crate::message::NormalizedMessage;
use crate::outbound::ReplyCommand;
use crate::ports::{CommitOutcome, PortError};
use async_trait::async_trait;

/// One page of a list and where the next begins.
#[derive(Debug, Clone, PartialEq)]
pub struct Page<T> {
    /// The items.
    pub items: Vec<T>,
    /// Opaque: the `cursor` of the next page; `None` on the last page.
    pub next_cursor: Option<String>,
}

/// What a thread item is.
#[derive(Debug, Clone, PartialEq)]
pub enum ThreadEntry {
    /// A customer's message.
    Inbound(NormalizedMessage),
    /// A reply delivered to the customer, at `sent_at` (Unix ms).
    Outbound {
        /// The reply as queued.
        reply: ReplyCommand,
        /// When the platform accepted it.
        sent_at: i64,
        /// What the platform reported later, for a reply whose result comes after it was
        /// accepted (a WeChat template message): `accepted` until the report, then
        /// `delivered` or `undeliverable`. `None`: delivered when sent.
        delivery: Option<String>,
        /// Why an `undeliverable` report (`user_block`, `system_failed`).
        delivery_reason: Option<String>,
    },
    /// An internal note.
    Note(Note),
}

/// One item of a conversation's thread, at its place.
#[derive(Debug, Clone, PartialEq)]
pub struct ThreadItem {
    /// Its place in the thread (0 for items stored before places were kept).
    pub seq: u64,
    /// Its id: the message's dedupe id, the reply's id, or `note-{seq}`.
    pub id: String,
    /// The item.
    pub entry: ThreadEntry,
    /// The media records of an inbound message (its `media` map: pending, stored, too large or
    /// unavailable), in no particular order; empty for everything else.
    pub media: Vec<MediaRecord>,
}

/// A cursor that does not belong to the list it was sent with (or was tampered with).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid cursor")]
pub struct BadCursor;

/// A failure of a paged read: a bad cursor (400) or the store (503).
#[derive(Debug, thiserror::Error)]
pub enum PageError {
    /// The cursor is not one this list gave.
    #[error(transparent)]
    Cursor(#[from] BadCursor),
    /// The store failed.
    #[error(transparent)]
    Port(#[from] PortError),
}

/// Outcome of a conditional write of a profile.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProfileWrite {
    /// Written.
    Stored,
    /// The stored profile is not at the version given.
    Stale,
}

/// The desk's reads and writes.
#[async_trait]
pub trait DeskStore: Send + Sync {
    /// One agent's profile.
    async fn agent(&self, agent_id: &str) -> Result<Option<AgentProfile>, PortError>;
    /// Every profile.
    async fn agents(&self) -> Result<Vec<AgentProfile>, PortError>;
    /// Writes `profile` if the stored one is at `profile.version - 1` (absent for 1).
    async fn put_agent(&self, profile: &AgentProfile) -> Result<ProfileWrite, PortError>;
    /// Deletes a profile; false when there was none.
    async fn delete_agent(&self, agent_id: &str) -> Result<bool, PortError>;

    /// A page of conversations (one index query).
    async fn list(
        &self,
        plan: &ListPlan,
        cursor: Option<&str>,
    ) -> Result<Page<Conversation>, PageError>;
    /// What a count needs of the conversations of `plan`'s partition (its filters applied),
    /// reading at most `max_read` of them, in the index order (one index query per page).
    async fn queue_entries(&self, plan: &ListPlan, max_read: u32) -> Result<Sample, PortError>;
    /// One conversation.
    async fn conversation(&self, key: &str) -> Result<Option<Conversation>, PortError>;
    /// A page of a conversation's thread, oldest first (one query).
    async fn thread(
        &self,
        key: &str,
        limit: u32,
        cursor: Option<&str>,
    ) -> Result<Page<ThreadItem>, PageError>;
    /// A page of a conversation's audit trail, oldest first (one query).
    async fn audit(
        &self,
        key: &str,
        limit: u32,
        cursor: Option<&str>,
    ) -> Result<Page<AuditEntry>, PageError>;
    /// Writes `next` over `previous` (only if still at its version) with its audit entry, the
    /// tag items that change and, for a note, the note: all or nothing.
    async fn commit_change(
        &self,
        previous: &Conversation,
        next: &Conversation,
        audit: &AuditEntry,
        note: Option<&Note>,
    ) -> Result<CommitOutcome, PortError>;

    /// Every canned response.
    async fn canned_responses(&self) -> Result<Vec<CannedResponse>, PortError>;
    /// Creates (`create`: only if absent) or replaces (only if present) a canned response;
    /// false when that condition failed.
    async fn put_canned(&self, canned: &CannedResponse, create: bool) -> Result<bool, PortError>;
    /// Deletes a canned response; false when there was none.
    async fn delete_canned(&self, id: &str) -> Result<bool, PortError>;
}
