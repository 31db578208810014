//! Pure core of the social channel gateway.
//!
//! It owns the normalized message model, the WeChat and Weibo webhook protocols, the routing
//! rules, the conversation state machine and the ports the Lambda functions plug adapters
//! into. It does no I/O of its own: no AWS, no network, no clock (time is passed in).
#![warn(missing_docs)]

pub mod account;
pub mod channel;
pub mod conversation;
pub mod delivery;
pub mod desk;
pub mod events;
pub mod listening;
pub mod media;
pub mod message;
pub mod outbound;
pub mod ports;
pub mod profile;
pub mod reply;
pub mod routing;
pub mod rules;
pub mod sla;
pub mod stats;
pub mod webhook;
pub mod webhook_target;

#[cfg(any(test, feature = "test-util"))]
pub mod testing;

pub use message::{Channel, Content, NormalizedMessage, PostRef};
