//! Weibo fan-service push protocol (stub, being implemented).

use crate::account::WeiboAccount;
use crate::channel::{InboundRequest, Limits, WebhookError, WebhookOutcome};

/// Verifies and parses one Weibo webhook request.
pub fn handle(
    _account: &WeiboAccount,
    _request: &InboundRequest<'_>,
    _limits: &Limits,
) -> Result<WebhookOutcome, WebhookError> {
    Err(WebhookError::MethodNotAllowed)
}
