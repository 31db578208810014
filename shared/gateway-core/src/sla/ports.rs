//! The SLA monitor's ports: the timers queue, the alerts topic, and the conversation writes a
//! timer may make.

use super::{Alert, InboxGauge, Timer};
use crate::conversation::Conversation;
use crate::message::Channel;
use crate::ports::{CommitOutcome, PortError};
use async_trait::async_trait;

/// Schedules timers (SQS: a message delayed up to 15 minutes, chained beyond).
#[async_trait]
pub trait TimerQueue: Send + Sync {
    /// Makes `timer` come up after `delay_secs`.
    async fn schedule(&self, timer: &Timer, delay_secs: u32) -> Result<(), PortError>;
}

/// Publishes alerts for the operations team (SNS: e-mail, SMS, chat webhooks subscribe).
#[async_trait]
pub trait AlertPublisher: Send + Sync {
    /// Publishes one alert.
    async fn publish(&self, alert: &Alert) -> Result<(), PortError>;
}

/// The conversation reads and writes of the monitor.
#[async_trait]
pub trait SlaRecords: Send + Sync {
    /// The conversation as stored.
    async fn load(&self, conversation_key: &str) -> Result<Option<Conversation>, PortError>;
    /// Records the breach `timer` timed, at `at` (Unix ms), only if the conversation is still
    /// as the timer timed it (the same wait or episode, the same due time) and no breach of
    /// it is recorded; the version moves on, so that a concurrent write by the router or the
    /// reply sender retries with it. Returns whether it recorded it (false: someone answered,
    /// or a copy of the timer already recorded it).
    async fn record_breach(&self, timer: &Timer, at: i64) -> Result<bool, PortError>;
    /// Replaces the stored conversation `previous` with `next`, only if it is still at
    /// `previous.version` (an automatic resolution).
    async fn replace(
        &self,
        previous: &Conversation,
        next: &Conversation,
    ) -> Result<CommitOutcome, PortError>;
}

/// The accounts' inboxes, for the gauges of who is waiting now.
#[async_trait]
pub trait Inboxes: Send + Sync {
    /// Records that `channel`/`account_id` has conversations (idempotent).
    async fn register(&self, channel: Channel, account_id: &str) -> Result<(), PortError>;
    /// Every account registered.
    async fn accounts(&self) -> Result<Vec<(Channel, String)>, PortError>;
    /// The account's waiting conversations now: how many, and the oldest wait.
    async fn gauge(&self, channel: Channel, account_id: &str) -> Result<InboxGauge, PortError>;
}
