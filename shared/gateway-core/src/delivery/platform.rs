//! What a platform call can end in, and what the reply sender does about it.
//!
//! Every platform error code is classified once, here, into a [`Disposition`]: refresh the
//! access token and retry once, back off and retry later, mark the reply undeliverable (a
//! window or quota refusal: the reply is kept and surfaced, not retried), or give up and
//! dead-letter the command with the code (configuration or payload problems an operator must
//! fix). Pure data.

use crate::delivery::window::UndeliverableReason;
use crate::message::Channel;
use std::fmt;

/// What to do about a platform error.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Disposition {
    /// The access token is stale or invalid: invalidate it, fetch a new one, retry once.
    RefreshToken,
    /// The platform is busy or throttling: nothing was delivered; retry later with backoff.
    Transient,
    /// The platform refused because of the reply window or quota: mark the reply
    /// undeliverable on the conversation.
    Undeliverable(UndeliverableReason),
    /// Retrying cannot help: dead-letter the command with the code.
    Permanent,
}

/// An error answer from a platform API (WeChat `errcode`, Weibo `error_code`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{channel} error {code}: {message}")]
pub struct PlatformError {
    /// Which platform answered.
    pub channel: Channel,
    /// The platform's error code (HTTP status for answers without an envelope).
    pub code: i64,
    /// The platform's message (never contains a token).
    pub message: String,
    /// What to do about it.
    pub disposition: Disposition,
}

impl PlatformError {
    /// `wechat:45015`: the code as recorded on dead letters and delivery records.
    pub fn code_label(&self) -> String {
        format!("{}:{}", self.channel, self.code)
    }
}

/// Why a platform call failed.
#[derive(Debug, thiserror::Error)]
pub enum CallError {
    /// The platform answered with an error.
    #[error(transparent)]
    Platform(#[from] PlatformError),
    /// The request never reached the platform (connection refused, DNS): nothing was
    /// delivered, so it is safe to try again.
    #[error("the request did not reach the platform: {0}")]
    NotSent(#[source] Box<dyn std::error::Error + Send + Sync>),
    /// The request may have reached the platform but no usable answer came back (timeout,
    /// connection reset, server error page): it may or may not have been delivered.
    #[error("no usable answer from the platform: {0}")]
    Uncertain(#[source] Box<dyn std::error::Error + Send + Sync>),
}

/// A plain-text error source for [`CallError`] variants built from a description.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Described(pub String);

impl fmt::Display for Described {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Described {}

impl CallError {
    /// A [`CallError::NotSent`] with a description.
    pub fn not_sent(what: impl Into<String>) -> Self {
        CallError::NotSent(Box::new(Described(what.into())))
    }
    /// A [`CallError::Uncertain`] with a description.
    pub fn uncertain(what: impl Into<String>) -> Self {
        CallError::Uncertain(Box::new(Described(what.into())))
    }
}
