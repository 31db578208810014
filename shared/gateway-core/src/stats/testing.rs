//! An in-memory [`StatsStore`], with the same once-per-change semantics as the DynamoDB
//! adapter. Compiled only for tests and with the `test-util` feature, never into a function.
#![allow(clippy::unwrap_used, missing_docs)]

use super::{Applied, DailyDelta, DailyRecord, StatsDelta};
use crate::message::Channel;
use crate::ports::{PortError, StatsStore};
use async_trait::async_trait;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Mutex;

/// Daily records in memory; can be told to fail.
#[derive(Default)]
pub struct InMemoryStats {
    records: Mutex<BTreeMap<(Channel, String), Vec<DailyRecord>>>,
    applied: Mutex<BTreeSet<String>>,
    fail: Mutex<bool>,
}

impl InMemoryStats {
    /// The records of an account, by day then team (the account's first).
    pub fn records(&self, channel: Channel, account: &str) -> Vec<DailyRecord> {
        self.records
            .lock()
            .unwrap()
            .get(&(channel, account.to_string()))
            .cloned()
            .unwrap_or_default()
    }

    /// The ids of the changes applied.
    pub fn applied(&self) -> BTreeSet<String> {
        self.applied.lock().unwrap().clone()
    }

    /// Makes every later `apply` fail (transiently) or succeed again.
    pub fn set_failing(&self, fail: bool) {
        *self.fail.lock().unwrap() = fail;
    }
}

#[async_trait]
impl StatsStore for InMemoryStats {
    async fn apply(
        &self,
        change_id: &str,
        delta: &StatsDelta,
        _now_ms: i64,
    ) -> Result<Applied, PortError> {
        if *self.fail.lock().unwrap() {
            return Err(PortError::transient("stats apply", "throttled (test)"));
        }
        if !self.applied.lock().unwrap().insert(change_id.to_string()) {
            return Ok(Applied::AlreadyCounted);
        }
        let mut all = self.records.lock().unwrap();
        let records = all
            .entry((delta.channel, delta.account_id.clone()))
            .or_default();
        for (key, increments) in &delta.records {
            match records.iter_mut().find(|r| r.key == *key) {
                Some(r) => r.counts.merge(increments),
                None => {
                    let mut counts = DailyDelta::default();
                    counts.merge(increments);
                    records.push(DailyRecord {
                        key: key.clone(),
                        counts,
                    });
                }
            }
        }
        records.sort_by(|a, b| a.key.cmp(&b.key));
        Ok(Applied::Counted)
    }
}
