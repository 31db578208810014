//! WeChat Official Account message push protocol (stub, being implemented).

use crate::account::WeChatAccount;
use crate::channel::{InboundRequest, Limits, WebhookError, WebhookOutcome};

/// Verifies and parses one WeChat webhook request.
pub fn handle(
    _account: &WeChatAccount,
    _request: &InboundRequest<'_>,
    _limits: &Limits,
) -> Result<WebhookOutcome, WebhookError> {
    Err(WebhookError::MethodNotAllowed)
}
