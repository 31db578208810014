//! Listening: reading a Weibo account's public timelines (`comments/to_me`,
//! `comments/mentions`, `statuses/mentions`) into normalized messages, for `weibo-poller`
//! (`docs/listening.md`).
//!
//! Owns the cursor per account and timeline ([`Cursor`]: the committed `since_id`, the progress
//! of an unfinished burst, the rate-limit backoff), the page-by-page use case ([`poll::Poller`]),
//! the reading of timeline pages into messages ([`items`]), and the ports it works through
//! ([`TimelineSource`], [`CursorStore`], [`MessageBatchPublisher`]). Pure: no I/O, no clock
//! (time comes from the caller), no logging.
//!
//! Ids are compared as integers (`u64`): status and comment ids are 16-digit decimals whose
//! string order is not their numeric order across lengths.

pub mod items;
pub mod poll;

#[cfg(any(test, feature = "test-util"))]
pub mod testing;

use crate::account::{ListeningApi, Secret, Timeline};
use crate::message::NormalizedMessage;
use crate::ports::PortError;
use async_trait::async_trait;
use serde_json::Value;

/// Weibo's rate-limit error codes: 10022 (IP requests out of rate limit), 10023 (user requests
/// out of rate limit), 10024 (user requests for this API out of rate limit)
/// (<https://open.weibo.com/wiki/Error_code>).
pub const RATE_LIMIT_CODES: [i64; 3] = [10022, 10023, 10024];

/// True for a Weibo error code that means "too many requests, slow down".
pub fn is_rate_limit_code(code: i64) -> bool {
    RATE_LIMIT_CODES.contains(&code)
}

/// First backoff after a rate-limit answer, in seconds; it doubles with each consecutive one.
pub const BACKOFF_BASE_SECS: i64 = 60;
/// Longest backoff, in seconds (an hour).
pub const BACKOFF_MAX_SECS: i64 = 3600;

/// The backoff after the `level`-th consecutive rate-limit answer (1-based): 60 s, 120 s,
/// 240 s, … capped at an hour.
pub fn backoff_secs(level: u32) -> i64 {
    let shift = level.saturating_sub(1).min(16);
    (BACKOFF_BASE_SECS << shift).min(BACKOFF_MAX_SECS)
}

/// One page request: items with `since_id < id <= max_id` (`max_id` 0 = no upper bound),
/// newest first, at most `count`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PageQuery {
    /// Only items newer than this id (0: no lower bound).
    pub since_id: u64,
    /// Only items at or below this id (0: no upper bound).
    pub max_id: u64,
    /// Items per page.
    pub count: u32,
}

/// Why a page could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TimelineError {
    /// The platform asked to slow down (error code 10022/10023/10024, or HTTP 429).
    #[error("rate limited by weibo ({code}: {message})")]
    RateLimited {
        /// The error code (429 for an HTTP 429 without an envelope).
        code: i64,
        /// The platform's message (never holds the token).
        message: String,
    },
    /// Anything else: the platform's error envelope, an HTTP error, a transport failure, an
    /// answer too large or not JSON. The next cycle tries again.
    #[error("{reason}")]
    Failed {
        /// What went wrong (never holds the token).
        reason: String,
    },
}

/// Reads one page of a timeline.
#[async_trait]
pub trait TimelineSource: Send + Sync {
    /// The decoded answer (an object holding `comments` or `statuses`), or why not.
    async fn page(
        &self,
        access_token: &Secret,
        api: ListeningApi,
        timeline: Timeline,
        query: PageQuery,
    ) -> Result<Value, TimelineError>;
}

/// Where a timeline's reading stands: one item per account and timeline.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Cursor {
    /// Every item with an id up to this one has been queued (0: never read).
    pub since_id: u64,
    /// An unfinished burst (more new items than a page), read newest to oldest.
    pub burst: Option<Burst>,
    /// When the last poll of this timeline started, Unix milliseconds.
    pub polled_at_ms: i64,
    /// No call before this time, Unix milliseconds (0: none).
    pub backoff_until_ms: i64,
    /// Consecutive rate-limited polls (0 after a page is read).
    pub backoff_level: u32,
    /// Incremented by every save; a save is accepted only over the version it was read at,
    /// so two overlapping runs can never move a cursor backwards.
    pub version: u64,
}

/// Progress through a burst: the pages read so far lie between `next_max_id` (exclusive) and
/// `top_id`; those below are still to be read, down to the cursor's `since_id`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Burst {
    /// The newest id of the burst: the cursor's `since_id` once it is read completely.
    pub top_id: u64,
    /// The `max_id` of the next page to read.
    pub next_max_id: u64,
    /// Pages read so far.
    pub pages: u32,
}

/// Cursor items (the table's `POLL#weibo#{account}` partition).
#[async_trait]
pub trait CursorStore: Send + Sync {
    /// The cursor of `account`'s `timeline`, `None` when it was never saved.
    async fn load(&self, account: &str, timeline: Timeline) -> Result<Option<Cursor>, PortError>;

    /// Stores `cursor` (whose `version` is `expected_version + 1`) only if the stored cursor is
    /// still at `expected_version` (0: none stored). `Ok(false)` when another run moved it.
    async fn save(
        &self,
        account: &str,
        timeline: Timeline,
        cursor: &Cursor,
        expected_version: u64,
    ) -> Result<bool, PortError>;
}

/// Puts messages on the inbound queue, as the webhooks do (message group = conversation,
/// deduplication id = [`NormalizedMessage::dedupe_id`]), several per call.
#[async_trait]
pub trait MessageBatchPublisher: Send + Sync {
    /// Queues all of `messages`; an error means some may not have been queued (queuing them
    /// again stores each once).
    async fn publish_all(&self, messages: &[NormalizedMessage]) -> Result<(), PortError>;
}

#[cfg(test)]
mod tests;
