//! Webhook targets: the deployment's events delivered to each API client's registered HTTPS
//! endpoint, HMAC-signed, with retries and a dead-letter queue (`docs/webhooks.md`).
//!
//! - [`route`]: what a webhook queue record is (a bus event or a per-client delivery
//!   message), which clients it goes to, direct delivery or fan-out;
//! - [`sign`]: the `X-Gateway-Signature` of a delivery and its verification by a receiver;
//! - [`deliver`]: one record handled through the ports (accounts, HTTP POST, the queue), the
//!   answer classified (delivered, transient, permanent).
//!
//! Pure: no I/O, no clock. The targets themselves are configured in the accounts document
//! (`crate::account::WebhookTarget`).

pub mod deliver;
pub mod route;
pub mod sign;

pub use deliver::{
    Handled, Ports, PostAnswer, PostError, WebhookFanOut, WebhookPoster, classify, process,
};
pub use route::{DeliveryMessage, Event, Plan, QueueRecord, plan, subscribers};
