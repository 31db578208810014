//! The outbound path: how replies reach customers.
//!
//! * [`window`]: reply windows and quotas (configuration, checked before sending);
//! * [`wechat`], [`weibo`]: the platforms' request formats, answers and error codes;
//! * [`weibo_comments`]: Weibo's comment API, for public replies (no reply window);
//! * [`template`]: WeChat template messages (no reply window) and their finish reports;
//! * [`template_quota`]: their own daily quota per account, and holding replies until it resets;
//! * [`platform`]: what a platform call can end in and what to do about it;
//! * [`auth`]: HMAC authentication of `reply-api` requests;
//! * [`api`]: the `reply-api` request and the command it becomes;
//! * [`ports`]: delivery records, tokens, platform APIs, dead letters;
//! * [`outcome`]: what an attempt ends in (outcomes, errors, the attempt count);
//! * [`process`]: the reply sender's orchestration (at-most-once delivery), and the platform
//!   request it builds for a command (`request`);
//! * [`uploads`]: media replies naming an agent's file, uploaded to WeChat when sent.
//!
//! Pure: no I/O, no clock (time is passed in). See `docs/replies.md`.

pub mod api;
pub mod auth;
pub mod outcome;
pub mod platform;
pub mod ports;
pub mod process;
mod request;
pub mod template;
pub mod template_quota;
pub mod uploads;
pub mod wechat;
pub mod weibo;
pub mod weibo_comments;
pub mod window;

#[cfg(any(test, feature = "test-util"))]
pub mod testing;

#[cfg(test)]
mod tests;

pub use outcome::{Attempt, DeliveryError, DeliveryOutcome};
pub use process::{RETRIES_EXHAUSTED, Sender, deliver, deliver_attempt};
