//! The webhook pipeline both channel functions share: find the account, let the channel
//! protocol verify and parse the request, queue the message, acknowledge.
//!
//! The acknowledgement is sent only after the message is safely queued; a queuing failure
//! answers 503 so that the platform retries and nothing is lost. No I/O of its own: the
//! accounts and the queue are ports.

use crate::channel::{self, HttpMethod, InboundRequest, Limits, WebhookError, WebhookOutcome};
use crate::message::Channel;
use crate::ports::{AccountDirectory, MessagePublisher};
use std::sync::Arc;

/// An HTTP response, independent of the Lambda event shape.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpReply {
    /// Status code.
    pub status: u16,
    /// Content type of `body`.
    pub content_type: &'static str,
    /// Body.
    pub body: String,
}

impl HttpReply {
    fn text(status: u16, body: impl Into<String>) -> Self {
        HttpReply {
            status,
            content_type: "text/plain; charset=utf-8",
            body: body.into(),
        }
    }

    fn error(status: u16, code: &str) -> Self {
        HttpReply {
            status,
            content_type: "application/json",
            body: format!("{{\"error\":\"{code}\"}}"),
        }
    }
}

/// Dependencies of a webhook function.
#[derive(Clone)]
pub struct WebhookService {
    /// Which channel this function serves.
    pub channel: Channel,
    /// Accounts document source.
    pub accounts: Arc<dyn AccountDirectory>,
    /// Inbound queue.
    pub publisher: Arc<dyn MessagePublisher>,
    /// Request limits.
    pub limits: Limits,
}

impl WebhookService {
    /// Handles one webhook request end to end and returns the HTTP answer for the platform.
    pub async fn handle(&self, request: &InboundRequest<'_>) -> HttpReply {
        match self.try_handle(request).await {
            Ok(reply) => reply,
            Err(Failure::Rejected(e)) => {
                tracing::warn!(
                    channel = %self.channel,
                    account = request.account_id,
                    error.code = e.code(),
                    error.message = %e,
                    status = e.status(),
                    "webhook request rejected"
                );
                HttpReply::error(e.status(), e.code())
            }
            Err(Failure::Unavailable(e)) => {
                tracing::error!(
                    channel = %self.channel,
                    account = request.account_id,
                    error.message = %e,
                    error.cause_chain = ?e,
                    "webhook could not queue the message; answering 503 so the platform retries"
                );
                HttpReply::error(503, "unavailable")
            }
        }
    }

    async fn try_handle(&self, request: &InboundRequest<'_>) -> Result<HttpReply, Failure> {
        if request.method == HttpMethod::Other {
            return Err(WebhookError::MethodNotAllowed.into());
        }
        if request.body.len() > self.limits.max_body_bytes {
            return Err(WebhookError::BodyTooLarge {
                limit: self.limits.max_body_bytes,
            }
            .into());
        }
        if request.account_id.is_empty() {
            return Err(WebhookError::MissingAccount.into());
        }
        let accounts = self
            .accounts
            .accounts()
            .await
            .map_err(|e| Failure::Unavailable(Box::new(e)))?;
        let outcome = match self.channel {
            Channel::WeChat => {
                let account = accounts
                    .wechat
                    .get(request.account_id)
                    .ok_or(WebhookError::UnknownAccount)?;
                channel::wechat::handle(account, request, &self.limits)?
            }
            Channel::Weibo => {
                let account = accounts
                    .weibo
                    .get(request.account_id)
                    .ok_or(WebhookError::UnknownAccount)?;
                channel::weibo::handle(account, request, &self.limits)?
            }
        };
        match outcome {
            WebhookOutcome::Echo(echo) => Ok(HttpReply::text(200, echo)),
            WebhookOutcome::Message(message) => {
                self.publisher
                    .publish(&message)
                    .await
                    .map_err(|e| Failure::Unavailable(Box::new(e)))?;
                tracing::info!(
                    channel = %message.channel,
                    account = %message.account_id,
                    kind = message.kind(),
                    dedupe_id = %message.dedupe_id(),
                    "message queued"
                );
                Ok(self.ack())
            }
        }
    }

    /// The acknowledgement each platform expects once a message is queued: WeChat `success`,
    /// Weibo an empty body. Both stop the platform's retries.
    fn ack(&self) -> HttpReply {
        match self.channel {
            Channel::WeChat => HttpReply::text(200, "success"),
            Channel::Weibo => HttpReply::text(200, ""),
        }
    }
}

enum Failure {
    Rejected(WebhookError),
    Unavailable(Box<dyn std::error::Error + Send + Sync>),
}

impl From<WebhookError> for Failure {
    fn from(e: WebhookError) -> Self {
        Failure::Rejected(e)
    }
}
