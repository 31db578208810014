//! The platform request of a reply command, built before any claim so that a command that can
//! never be sent is never claimed: the WeChat customer-service body, the Weibo fan-service
//! reply form, the Weibo comment call of a public comment, or the WeChat template message
//! body. Pure.

use crate::account::{AccountsDocument, ReplyMode, Secret};
use crate::delivery::weibo_comments::{self, CommentCall};
use crate::delivery::window::UndeliverableReason;
use crate::delivery::{template, wechat, weibo};
use crate::message::Channel;
use crate::outbound::{ReplyCommand, ReplyOrigin};
use serde_json::Value;

/// The platform request, built before the claim so that a command that can never be sent is
/// never claimed.
pub(super) enum Request {
    WeChat {
        account_id: String,
        account: crate::account::WeChatAccount,
        body: serde_json::Value,
    },
    /// A template message (`message/template/send`), sent with the same token.
    WeChatTemplate {
        account_id: String,
        account: crate::account::WeChatAccount,
        body: serde_json::Value,
    },
    Weibo {
        token: Secret,
        fields: Vec<(String, String)>,
    },
    WeiboComment {
        token: Secret,
        call: CommentCall,
        fields: Vec<(String, String)>,
    },
}

pub(super) enum Refusal {
    DeadLetter(&'static str, String),
    Undeliverable(UndeliverableReason),
    SkipPassive,
}

pub(super) fn build_request(
    accounts: &AccountsDocument,
    command: &ReplyCommand,
) -> Result<Request, Refusal> {
    let unsupported = || {
        Refusal::DeadLetter(
            "gateway:unsupported_content",
            format!(
                "{} cannot carry a {} reply",
                command.channel,
                command.content.kind()
            ),
        )
    };
    let unknown = || {
        Refusal::DeadLetter(
            "gateway:unknown_account",
            format!("no {} account `{}`", command.channel, command.account_id),
        )
    };
    match command.channel {
        Channel::WeChat => {
            let account = accounts
                .wechat
                .get(&command.account_id)
                .ok_or_else(unknown)?;
            if account.reply_mode == ReplyMode::Passive {
                return Err(match command.origin {
                    ReplyOrigin::Rule { .. } => Refusal::SkipPassive,
                    ReplyOrigin::Agent { .. } | ReplyOrigin::System { .. } => {
                        Refusal::Undeliverable(UndeliverableReason::NoReplyApi)
                    }
                });
            }
            if account.app_secret.is_none() {
                return Err(Refusal::DeadLetter(
                    "gateway:missing_credentials",
                    "the account has no app_secret".into(),
                ));
            }
            if command.content.is_template() {
                let client_msg_id = template::client_msg_id(&command.dedupe_id());
                let body =
                    template::send_body(&command.recipient_id, &command.content, &client_msg_id)
                        .ok_or_else(unsupported)?;
                return Ok(Request::WeChatTemplate {
                    account_id: command.account_id.clone(),
                    account: account.clone(),
                    body,
                });
            }
            // A reply naming an agent's file gets its body once the file has a media id
            // (`resolve_file`).
            let body = if command.content.names_upload() {
                Value::Null
            } else {
                wechat::custom_message(&command.recipient_id, &command.content)
                    .ok_or_else(unsupported)?
            };
            Ok(Request::WeChat {
                account_id: command.account_id.clone(),
                account: account.clone(),
                body,
            })
        }
        Channel::Weibo => {
            let account = accounts
                .weibo
                .get(&command.account_id)
                .ok_or_else(unknown)?;
            let token = account.access_token.clone().ok_or_else(|| {
                Refusal::DeadLetter(
                    "gateway:missing_credentials",
                    "the account has no access_token".into(),
                )
            })?;
            if let Some((call, fields)) = weibo_comments::comment_form(&command.content) {
                return Ok(Request::WeiboComment {
                    token,
                    call,
                    fields,
                });
            }
            let fields = weibo::reply_form(&command.recipient_id, &command.content)
                .ok_or_else(unsupported)?;
            Ok(Request::Weibo { token, fields })
        }
    }
}
