//! In-memory [`EventPublisher`] and [`PublishedChanges`], with the semantics of the
//! EventBridge and DynamoDB adapters. Compiled only for tests and with the `test-util` feature,
//! never into a function.
#![allow(clippy::unwrap_used, missing_docs)]

use super::Event;
use crate::ports::{EventPublisher, PortError, PublishedChanges};
use async_trait::async_trait;
use std::collections::BTreeSet;
use std::sync::Mutex;

/// Records what it was asked to publish; can be told to fail.
#[derive(Default)]
pub struct RecordingEventPublisher {
    published: Mutex<Vec<Event>>,
    calls: Mutex<usize>,
    fail: Mutex<Option<bool>>,
}

impl RecordingEventPublisher {
    /// Every event published, in order (a republished event appears again).
    pub fn published(&self) -> Vec<Event> {
        self.published.lock().unwrap().clone()
    }

    /// How many calls were made (failed ones included).
    pub fn calls(&self) -> usize {
        *self.calls.lock().unwrap()
    }

    /// Makes every later call fail, transiently (`Some(true)`) or permanently (`Some(false)`),
    /// or succeed again (`None`).
    pub fn set_failing(&self, fail: Option<bool>) {
        *self.fail.lock().unwrap() = fail;
    }
}

#[async_trait]
impl EventPublisher for RecordingEventPublisher {
    async fn publish(&self, events: &[Event]) -> Result<(), PortError> {
        *self.calls.lock().unwrap() += 1;
        match *self.fail.lock().unwrap() {
            Some(true) => return Err(PortError::transient("put events", "throttled (test)")),
            Some(false) => return Err(PortError::permanent("put events", "denied (test)")),
            None => {}
        }
        self.published.lock().unwrap().extend_from_slice(events);
        Ok(())
    }
}

/// The published changes in memory; marking can be told to fail.
#[derive(Default)]
pub struct InMemoryPublishedChanges {
    marked: Mutex<BTreeSet<String>>,
    fail_marking: Mutex<bool>,
}

impl InMemoryPublishedChanges {
    /// The changes marked published.
    pub fn marked(&self) -> BTreeSet<String> {
        self.marked.lock().unwrap().clone()
    }

    /// Makes every later `mark_published` fail (transiently), as a function that dies between
    /// publishing and marking would leave it.
    pub fn set_failing_marks(&self, fail: bool) {
        *self.fail_marking.lock().unwrap() = fail;
    }
}

#[async_trait]
impl PublishedChanges for InMemoryPublishedChanges {
    async fn is_published(&self, change_id: &str) -> Result<bool, PortError> {
        Ok(self.marked.lock().unwrap().contains(change_id))
    }

    async fn mark_published(&self, change_id: &str, _now_ms: i64) -> Result<(), PortError> {
        if *self.fail_marking.lock().unwrap() {
            return Err(PortError::transient("mark published", "throttled (test)"));
        }
        self.marked.lock().unwrap().insert(change_id.to_string());
        Ok(())
    }
}
