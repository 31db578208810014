//! The reply sender's WeChat calls made with an access token: the call, and on a token error
//! one refresh and a second call.

use super::{Sender, token_failure};
use crate::account::Secret;
use crate::delivery::outcome::{DeliveryError, DeliveryOutcome};
use crate::delivery::platform::{CallError, Disposition};
use crate::outbound::ReplyCommand;

/// A WeChat API call the reply sender makes with an access token.
#[derive(Clone, Copy)]
pub(super) enum WeChatCall<'b> {
    /// `message/custom/send`.
    Custom(&'b serde_json::Value),
    /// `message/template/send`: answers the `msgid`.
    Template(&'b serde_json::Value),
}

async fn wechat_once(
    s: &Sender<'_>,
    token: &Secret,
    call: WeChatCall<'_>,
) -> Result<Option<String>, CallError> {
    match call {
        WeChatCall::Custom(body) => s.wechat.send_custom(token, body).await.map(|()| None),
        WeChatCall::Template(body) => s.wechat.send_template(token, body).await.map(Some),
    }
}

/// Makes `call` with the token, and on a token error invalidates it, fetches a fresh one and
/// makes it once more. `Err` is the outcome when no call could be made with a fresh token.
pub(super) async fn call_wechat(
    s: &Sender<'_>,
    command: &ReplyCommand,
    account_id: &str,
    account: &crate::account::WeChatAccount,
    token: Option<Secret>,
    call: WeChatCall<'_>,
) -> Result<Result<Option<String>, CallError>, Result<DeliveryOutcome, DeliveryError>> {
    let first = token.unwrap_or_else(|| Secret::new(String::new()));
    match wechat_once(s, &first, call).await {
        Err(CallError::Platform(e)) if e.disposition == Disposition::RefreshToken => {
            tracing::info!(error.code = e.code, "access token refused; refreshing once");
            let reply_id = command.dedupe_id();
            if let Err(e) = s.tokens.invalidate(account_id, &first).await {
                return Err(match s.ledger.release(&reply_id).await {
                    Ok(()) => Err(e.into()),
                    Err(e) => Err(e.into()),
                });
            }
            match s.tokens.token(account_id, account, (s.now)()).await {
                Ok(fresh) => Ok(wechat_once(s, &fresh, call).await),
                Err(e) => Err(match s.ledger.release(&reply_id).await {
                    Ok(()) => token_failure(s, command, e).await,
                    Err(e) => Err(e.into()),
                }),
            }
        }
        other => Ok(other),
    }
}
