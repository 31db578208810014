//! In-memory fakes of the listening ports, for unit and handler tests: timelines served with
//! the platform's `since_id`/`max_id`/`count` semantics, cursors with conditional saves, and a
//! recording queue. Compiled only for tests and with the `test-util` feature.
#![allow(clippy::unwrap_used, missing_docs)]

use super::{Cursor, CursorStore, MessageBatchPublisher, PageQuery, TimelineError, TimelineSource};
use crate::account::{ListeningApi, Secret, Timeline};
use crate::message::NormalizedMessage;
use crate::ports::PortError;
use async_trait::async_trait;
use serde_json::{Value, json};
use std::collections::{BTreeMap, VecDeque};
use std::sync::Mutex;

/// A comment object as Weibo's comment timelines give it.
pub fn comment(id: u64, writer: u64, text: &str, post_id: u64, post_author: u64) -> Value {
    json!({
        "created_at": "Wed Jun 01 00:50:25 +0800 2011",
        "id": id,
        "idstr": id.to_string(),
        "text": text,
        "source": "<a href=\"http://weibo.com\">新浪微博</a>",
        "user": { "id": writer, "idstr": writer.to_string(), "screen_name": format!("user{writer}") },
        "status": {
            "id": post_id,
            "idstr": post_id.to_string(),
            "text": "新品上市，欢迎评论",
            "created_at": "Tue May 31 17:46:55 +0800 2011",
            "user": { "id": post_author, "idstr": post_author.to_string(), "screen_name": "brand" }
        }
    })
}

/// A status object as `statuses/mentions` gives it.
pub fn status(id: u64, writer: u64, text: &str) -> Value {
    json!({
        "created_at": "Wed Jun 01 00:50:25 +0800 2011",
        "id": id,
        "idstr": id.to_string(),
        "mid": id.to_string(),
        "text": text,
        "user": { "id": writer, "idstr": writer.to_string(), "screen_name": format!("user{writer}") }
    })
}

/// Timelines served from items, newest first, as the platform pages them: `since_id`
/// exclusive, `max_id` inclusive, at most `count`.
#[derive(Default)]
pub struct FakeTimelines {
    items: Mutex<BTreeMap<Timeline, Vec<Value>>>,
    failures: Mutex<VecDeque<TimelineError>>,
    /// Every request: timeline, api, query.
    pub requests: Mutex<Vec<(Timeline, ListeningApi, PageQuery)>>,
}

impl FakeTimelines {
    /// Adds items to a timeline.
    pub fn add(&self, timeline: Timeline, items: impl IntoIterator<Item = Value>) {
        self.items
            .lock()
            .unwrap()
            .entry(timeline)
            .or_default()
            .extend(items);
    }

    /// The next call fails with `error`.
    pub fn fail_next(&self, error: TimelineError) {
        self.failures.lock().unwrap().push_back(error);
    }

    /// The requests made so far.
    pub fn requests(&self) -> Vec<(Timeline, ListeningApi, PageQuery)> {
        self.requests.lock().unwrap().clone()
    }

    /// Forgets the requests.
    pub fn clear_requests(&self) {
        self.requests.lock().unwrap().clear();
    }
}

fn id(v: &Value) -> u64 {
    super::items::item_id(v).unwrap_or(0)
}

#[async_trait]
impl TimelineSource for FakeTimelines {
    async fn page(
        &self,
        _access_token: &Secret,
        api: ListeningApi,
        timeline: Timeline,
        query: PageQuery,
    ) -> Result<Value, TimelineError> {
        self.requests.lock().unwrap().push((timeline, api, query));
        if let Some(e) = self.failures.lock().unwrap().pop_front() {
            return Err(e);
        }
        let mut items: Vec<Value> = self
            .items
            .lock()
            .unwrap()
            .get(&timeline)
            .cloned()
            .unwrap_or_default()
            .into_iter()
            .filter(|v| id(v) > query.since_id && (query.max_id == 0 || id(v) <= query.max_id))
            .collect();
        items.sort_by_key(|v| std::cmp::Reverse(id(v)));
        items.truncate(query.count as usize);
        let key = if timeline.holds_comments() {
            "comments"
        } else {
            "statuses"
        };
        let total = items.len();
        let mut answer = serde_json::Map::new();
        answer.insert(key.into(), Value::Array(items));
        answer.insert("total_number".into(), json!(total));
        Ok(Value::Object(answer))
    }
}

/// Cursors in memory, saved conditionally on their version as the DynamoDB adapter does.
#[derive(Default)]
pub struct InMemoryCursors {
    pub cursors: Mutex<BTreeMap<(String, Timeline), Cursor>>,
    /// Saves that fail (a crash between queueing and saving).
    pub failing_saves: Mutex<u32>,
}

impl InMemoryCursors {
    /// The stored cursor.
    pub fn get(&self, account: &str, timeline: Timeline) -> Option<Cursor> {
        self.cursors
            .lock()
            .unwrap()
            .get(&(account.to_string(), timeline))
            .cloned()
    }

    /// Replaces the stored cursor (a test's rewind).
    pub fn put(&self, account: &str, timeline: Timeline, cursor: Option<Cursor>) {
        let mut all = self.cursors.lock().unwrap();
        match cursor {
            Some(c) => all.insert((account.to_string(), timeline), c),
            None => all.remove(&(account.to_string(), timeline)),
        };
    }
}

#[async_trait]
impl CursorStore for InMemoryCursors {
    async fn load(&self, account: &str, timeline: Timeline) -> Result<Option<Cursor>, PortError> {
        Ok(self.get(account, timeline))
    }

    async fn save(
        &self,
        account: &str,
        timeline: Timeline,
        cursor: &Cursor,
        expected_version: u64,
    ) -> Result<bool, PortError> {
        {
            let mut failing = self.failing_saves.lock().unwrap();
            if *failing > 0 {
                *failing -= 1;
                return Err(PortError::transient("put cursor", "injected failure"));
            }
        }
        let mut all = self.cursors.lock().unwrap();
        let key = (account.to_string(), timeline);
        let stored = all.get(&key).map_or(0, |c| c.version);
        if stored != expected_version {
            return Ok(false);
        }
        all.insert(key, cursor.clone());
        Ok(true)
    }
}

/// Records what was queued; can be told to fail.
#[derive(Default)]
pub struct RecordingBatchPublisher {
    pub messages: Mutex<Vec<NormalizedMessage>>,
    pub failing: Mutex<u32>,
}

impl RecordingBatchPublisher {
    /// Everything queued so far.
    pub fn all(&self) -> Vec<NormalizedMessage> {
        self.messages.lock().unwrap().clone()
    }
}

#[async_trait]
impl MessageBatchPublisher for RecordingBatchPublisher {
    async fn publish_all(&self, messages: &[NormalizedMessage]) -> Result<(), PortError> {
        {
            let mut failing = self.failing.lock().unwrap();
            if *failing > 0 {
                *failing -= 1;
                return Err(PortError::transient("send batch", "injected failure"));
            }
        }
        self.messages.lock().unwrap().extend_from_slice(messages);
        Ok(())
    }
}
