//! One run of the poller: every timeline of every listening Weibo account that is due, read
//! page by page from its cursor, each page queued before the cursor moves past it.
//!
//! Per timeline, one run:
//!
//! 1. **Due?** Not while the cursor's `backoff_until` is ahead; not before `every_secs` since
//!    its last poll (less [`SCHEDULE_SLACK_MS`], the schedule's jitter), unless a burst is
//!    unfinished. The timelines polled longest ago go first, so a run cut short by its deadline
//!    never starves the same ones.
//! 2. **Newest page** with `since_id` = the cursor. A short page is everything new: queued, and
//!    the cursor moves to its newest id. A full page is a **burst**: queued, and the cursor
//!    records the burst (its newest id, and the `max_id` of the next page, the page's lowest
//!    id − 1) while keeping the committed `since_id`.
//! 3. **Paging back** through a burst with `since_id` and `max_id` until a short page (or one
//!    reaching the cursor): the cursor's `since_id` becomes the burst's newest id. At most
//!    `max_pages` pages a run; an unfinished burst continues at its next page in the next run.
//! 4. The first poll of a timeline (no cursor) reads only the newest page: listening starts
//!    now, without flooding the desk with the account's history.
//!
//! Each page's messages are queued **before** the cursor is saved past them: a crash between
//! the two reads that page again, and the queue's deduplication and the router's conditional
//! write store each item once. A save is accepted only over the version read, so two runs
//! overlapping can never move a cursor backwards (the one that loses stops).
//!
//! Rate limits (Weibo 10022/10023/10024, HTTP 429) set `backoff_until` on the cursor
//! ([`super::backoff_secs`]: 60 s doubling to an hour); any other failure leaves the cursor as
//! it is, and the next run tries again.

use super::items::{Context, Item, Page, normalize};
use super::{
    Burst, Cursor, CursorStore, MessageBatchPublisher, PageQuery, TimelineError, TimelineSource,
    backoff_secs,
};
use crate::account::{Listening, Secret, Timeline};
use crate::message::NormalizedMessage;
use crate::ports::AccountDirectory;

/// Tolerance of the due check: a schedule firing a little early still polls a timeline whose
/// interval is one minute.
pub const SCHEDULE_SLACK_MS: i64 = 5_000;

/// The run's limits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Settings {
    /// Pages read per timeline and run (`POLL_MAX_PAGES`).
    pub max_pages: u32,
    /// The longest one page can take (its request, the queueing, the cursor's save): a page
    /// is started only with that much time left before the deadline.
    pub page_budget_ms: i64,
}

/// The ports and clock of a run.
pub struct Poller<'a> {
    /// The accounts document.
    pub accounts: &'a dyn AccountDirectory,
    /// The timelines.
    pub source: &'a dyn TimelineSource,
    /// The cursors.
    pub cursors: &'a dyn CursorStore,
    /// The inbound queue.
    pub queue: &'a dyn MessageBatchPublisher,
    /// Limits.
    pub settings: Settings,
    /// Unix milliseconds now.
    pub now_ms: &'a (dyn Fn() -> i64 + Send + Sync),
}

/// What became of one timeline in a run.
#[derive(Debug, Clone, PartialEq)]
pub struct TimelineReport {
    /// The account name.
    pub account: String,
    /// The timeline.
    pub timeline: Timeline,
    /// Messages queued.
    pub queued: usize,
    /// Pages read.
    pub pages: u32,
    /// Items skipped: the account's own, and unreadable ones (with their ids and why).
    pub own: usize,
    /// Items without what a message needs, skipped: `(id, reason)`.
    pub unreadable: Vec<(Option<u64>, &'static str)>,
    /// How it ended.
    pub outcome: Outcome,
}

/// How a timeline's poll ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Its interval has not passed: not read.
    NotDue,
    /// Backing off after a rate limit: not read.
    BackingOff {
        /// Until when, Unix milliseconds.
        until_ms: i64,
    },
    /// Read up to what is new, or up to `max_pages` of a burst.
    Read {
        /// A burst remains to be read in the next run.
        burst_unfinished: bool,
    },
    /// The platform asked to slow down; the cursor backs off.
    RateLimited {
        /// The error code.
        code: i64,
        /// No call before, Unix milliseconds.
        until_ms: i64,
    },
    /// A call failed; the cursor keeps what was saved, the next run tries again.
    Failed {
        /// Why (never holds a token or customer text).
        reason: String,
    },
    /// Another run moved the cursor first: this one stopped.
    Overtaken,
    /// The run's deadline came before (more) pages could be read; the next run goes on.
    OutOfTime,
}

impl Outcome {
    /// A short label for logs.
    pub fn as_str(&self) -> &'static str {
        match self {
            Outcome::NotDue => "not_due",
            Outcome::BackingOff { .. } => "backing_off",
            Outcome::Read { .. } => "read",
            Outcome::RateLimited { .. } => "rate_limited",
            Outcome::Failed { .. } => "failed",
            Outcome::Overtaken => "overtaken",
            Outcome::OutOfTime => "out_of_time",
        }
    }
}

/// Why a run could not start: the accounts document could not be read.
#[derive(Debug, thiserror::Error)]
#[error("accounts unavailable")]
pub struct RunError {
    /// The directory's error.
    #[source]
    pub source: crate::ports::PortError,
}

/// One timeline to poll.
struct Job<'d> {
    account: &'d str,
    listening: &'d Listening,
    token: &'d Secret,
    receiver_uid: u64,
    timeline: Timeline,
}

impl Poller<'_> {
    /// Polls every due timeline until `deadline_ms`; one report per configured timeline.
    pub async fn run(&self, deadline_ms: i64) -> Result<Vec<TimelineReport>, RunError> {
        let doc = self
            .accounts
            .accounts()
            .await
            .map_err(|source| RunError { source })?;
        let mut jobs = Vec::new();
        for (account, config) in &doc.weibo {
            let Some(listening) = &config.listening else {
                continue;
            };
            // Validation requires both where the document holds tokens.
            let (Some(token), Some(uid)) = (
                config.access_token.as_ref(),
                config
                    .receiver_uid
                    .as_deref()
                    .and_then(|u| u.trim().parse().ok()),
            ) else {
                continue;
            };
            for timeline in listening.timelines() {
                jobs.push(Job {
                    account,
                    listening,
                    token,
                    receiver_uid: uid,
                    timeline,
                });
            }
        }
        let mut loaded = Vec::with_capacity(jobs.len());
        let mut reports = Vec::new();
        for job in jobs {
            match self.cursors.load(job.account, job.timeline).await {
                Ok(cursor) => loaded.push((job, cursor.unwrap_or_default())),
                Err(e) => reports.push(report(
                    &job,
                    Outcome::Failed {
                        reason: format!("cursor not read: {e}"),
                    },
                )),
            }
        }
        loaded.sort_by_key(|(job, cursor)| (cursor.polled_at_ms, job.account, job.timeline));
        for (job, cursor) in loaded {
            reports.push(self.poll(&job, cursor, deadline_ms).await);
        }
        Ok(reports)
    }

    async fn poll(&self, job: &Job<'_>, stored: Cursor, deadline_ms: i64) -> TimelineReport {
        let mut out = report(job, Outcome::NotDue);
        let started = (self.now_ms)();
        if stored.backoff_until_ms > started {
            out.outcome = Outcome::BackingOff {
                until_ms: stored.backoff_until_ms,
            };
            return out;
        }
        let due_at = stored.polled_at_ms + job.listening.every_ms() - SCHEDULE_SLACK_MS;
        if stored.polled_at_ms > 0 && stored.burst.is_none() && started < due_at {
            return out;
        }
        let count = job.listening.count;
        let api = job.listening.api();
        let mut cursor = stored;
        loop {
            if out.pages >= self.settings.max_pages {
                out.outcome = Outcome::Read {
                    burst_unfinished: cursor.burst.is_some(),
                };
                return out;
            }
            if (self.now_ms)() + self.settings.page_budget_ms > deadline_ms {
                out.outcome = if out.pages == 0 {
                    Outcome::OutOfTime
                } else {
                    Outcome::Read {
                        burst_unfinished: cursor.burst.is_some(),
                    }
                };
                return out;
            }
            let query = PageQuery {
                since_id: cursor.since_id,
                max_id: cursor.burst.map_or(0, |b| b.next_max_id),
                count,
            };
            let answer = match self.source.page(job.token, api, job.timeline, query).await {
                Ok(a) => a,
                Err(TimelineError::RateLimited { code, .. }) => {
                    let mut next = cursor.clone();
                    next.backoff_level = cursor.backoff_level.saturating_add(1).min(32);
                    next.backoff_until_ms =
                        (self.now_ms)() + backoff_secs(next.backoff_level) * 1000;
                    next.polled_at_ms = started;
                    out.outcome = match self.save(job, &mut cursor, next).await {
                        Ok(true) => Outcome::RateLimited {
                            code,
                            until_ms: cursor.backoff_until_ms,
                        },
                        Ok(false) => Outcome::Overtaken,
                        Err(reason) => Outcome::Failed {
                            reason: format!("rate limited ({code}), and {reason}"),
                        },
                    };
                    return out;
                }
                Err(TimelineError::Failed { reason }) => {
                    out.outcome = Outcome::Failed { reason };
                    return out;
                }
            };
            let page = match Page::read(job.timeline, &answer) {
                Ok(p) => p,
                Err(reason) => {
                    out.outcome = Outcome::Failed { reason };
                    return out;
                }
            };
            let messages = self.messages(job, &cursor, &page, &mut out);
            if !messages.is_empty()
                && let Err(e) = self.queue.publish_all(&messages).await
            {
                out.outcome = Outcome::Failed {
                    reason: format!("messages not queued: {e}"),
                };
                return out;
            }
            out.pages += 1;
            out.queued += messages.len();
            let next = advance(&cursor, &page, count, started);
            let finished = next.burst.is_none();
            match self.save(job, &mut cursor, next).await {
                Ok(true) => {}
                Ok(false) => {
                    out.outcome = Outcome::Overtaken;
                    return out;
                }
                Err(reason) => {
                    out.outcome = Outcome::Failed { reason };
                    return out;
                }
            }
            if finished {
                out.outcome = Outcome::Read {
                    burst_unfinished: false,
                };
                return out;
            }
        }
    }

    /// The page's new items as messages, oldest first (the order the customer wrote them).
    fn messages(
        &self,
        job: &Job<'_>,
        cursor: &Cursor,
        page: &Page,
        out: &mut TimelineReport,
    ) -> Vec<NormalizedMessage> {
        let ctx = Context {
            account_id: job.account,
            receiver_uid: job.receiver_uid,
            screen_name: job.listening.screen_name.as_deref(),
            timeline: job.timeline,
            received_at_ms: (self.now_ms)(),
        };
        let upper = cursor.burst.map_or(u64::MAX, |b| b.next_max_id);
        let mut messages = Vec::new();
        for item in page.items.iter().rev() {
            // Only what lies in the range asked for, whatever the platform sent.
            if let Some(id) = super::items::item_id(item)
                && (id <= cursor.since_id || id > upper)
            {
                continue;
            }
            match normalize(&ctx, item) {
                Item::Message(m) => messages.push(*m),
                Item::Own => out.own += 1,
                Item::Unreadable { id, reason } => out.unreadable.push((id, reason)),
            }
        }
        messages
    }

    /// Saves `next` over `cursor` (at its version); on success `cursor` becomes `next`.
    async fn save(
        &self,
        job: &Job<'_>,
        cursor: &mut Cursor,
        mut next: Cursor,
    ) -> Result<bool, String> {
        next.version = cursor.version + 1;
        match self
            .cursors
            .save(job.account, job.timeline, &next, cursor.version)
            .await
        {
            Ok(true) => {
                *cursor = next;
                Ok(true)
            }
            Ok(false) => Ok(false),
            Err(e) => Err(format!("cursor not saved: {e}")),
        }
    }
}

/// The cursor after a page was queued.
///
/// * No burst: a first poll (`since_id` 0), a short page, or a page reaching the cursor is
///   everything new; otherwise a burst begins below the page.
/// * In a burst: a short page, one reaching the cursor, or nothing left below it ends the
///   burst at its newest id; otherwise the burst goes on below the page.
pub fn advance(cursor: &Cursor, page: &Page, count: u32, started_ms: i64) -> Cursor {
    let mut next = cursor.clone();
    next.polled_at_ms = started_ms;
    next.backoff_level = 0;
    next.backoff_until_ms = 0;
    let full = page.items.len() >= count as usize;
    // Nothing can lie between the cursor and the page's lowest id.
    let reached = page
        .min_id
        .is_none_or(|lo| lo <= cursor.since_id.saturating_add(1));
    let below = page.min_id.map_or(0, |lo| lo.saturating_sub(1));
    match cursor.burst {
        None => {
            let top = page.max_id.unwrap_or(0).max(cursor.since_id);
            if cursor.since_id == 0 || !full || reached {
                next.since_id = top;
                next.burst = None;
            } else {
                next.burst = Some(Burst {
                    top_id: top,
                    next_max_id: below,
                    pages: 1,
                });
            }
        }
        Some(burst) => {
            if !full || reached {
                next.since_id = burst.top_id.max(cursor.since_id);
                next.burst = None;
            } else {
                next.burst = Some(Burst {
                    top_id: burst.top_id,
                    next_max_id: below,
                    pages: burst.pages.saturating_add(1),
                });
            }
        }
    }
    next
}

fn report(job: &Job<'_>, outcome: Outcome) -> TimelineReport {
    TimelineReport {
        account: job.account.to_string(),
        timeline: job.timeline,
        queued: 0,
        pages: 0,
        own: 0,
        unreadable: Vec::new(),
        outcome,
    }
}
