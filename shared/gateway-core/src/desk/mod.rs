//! The desk: who may see and change which conversations, and what a change through the desk
//! API does to a conversation. Pure: the `desk-api` function reads and writes through
//! [`ports::DeskStore`].
//!
//! - [`access`]: roles, agent profiles and scope;
//! - [`change`]: a supervisor's or agent's change to a conversation, and its audit entry;
//! - [`list`]: the filters of a conversation list;
//! - [`counts`]: the counts of a list's scope (open, unanswered, mine…);
//! - [`canned`]: canned responses and their placeholders;
//! - [`media`]: links to a thread's stored media;
//! - [`upload`]: an agent's file sent to WeChat for a reply, and [`sniff`], what it is;
//! - [`ports`]: the store the desk reads and writes.

pub mod access;
pub mod canned;
pub mod change;
pub mod counts;
pub mod list;
pub mod media;
pub mod ports;
pub mod sniff;
#[cfg(any(test, feature = "test-util"))]
pub mod testing;
pub mod upload;

pub use access::{AgentProfile, Caller, Role};
pub use change::{AuditEntry, ConversationPatch, Note};
