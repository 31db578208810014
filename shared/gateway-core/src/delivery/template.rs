//! WeChat template messages on the outbound path: the `message/template/send` body, its
//! answer and error codes, and the `TEMPLATESENDJOBFINISH` push that reports the final result.
//!
//! Official references: 模板消息接口
//! (<https://developers.weixin.qq.com/doc/offiaccount/Message_Management/Template_Message_Interface.html>),
//! the API page (<https://developers.weixin.qq.com/doc/service/api/notify/template/api_sendtemplatemessage.html>)
//! and the global return codes (全局返回码,
//! <https://developers.weixin.qq.com/doc/offiaccount/Getting_Started/Global_Return_Code.html>).
//!
//! **Send.** `POST /cgi-bin/message/template/send?access_token=…` with `touser`, `template_id`,
//! `url`?, `miniprogram`?, `data` and `client_msg_id` (the reply id: "对于同一个openid +
//! client_msg_id, 只发送一条消息,10分钟有效", so a retry within ten minutes is not sent twice).
//! The answer `{"errcode":0,"errmsg":"ok","msgid":200228332}` means *accepted*: the delivery
//! record keeps `msgid` as its `platform_id` and becomes `accepted`.
//!
//! **Errors** ([`classify_error`]):
//!
//! | code | meaning (全局返回码) | disposition |
//! |---|---|---|
//! | 40001, 40014, 42001 | access token invalid / expired | refresh the token, retry once |
//! | 43004 | 需要接收者关注 (not following) | undeliverable `unfollowed` |
//! | 43101 | 用户拒绝接受消息 (the user refused) | undeliverable `user_refused` |
//! | 40003 | invalid openid | dead-lettered with the code (record `failed`) |
//! | 40037 | invalid template_id | dead-lettered with the code |
//! | 47003 | 模板参数不准确 (argument invalid) | dead-lettered with the code |
//! | 45009 | 接口调用超过限制 (daily API quota) | transient here; the reply sender marks the account's quota day exhausted and holds the reply until the reset instead ([`super::template_quota`]) |
//! | 45047, -1 | out of response count / system busy | transient: retried with backoff |
//! | others | | dead-lettered with the code |
//!
//! **Finish.** WeChat pushes `<MsgType>event</MsgType><Event>TEMPLATESENDJOBFINISH</Event>
//! <MsgID>200228332</MsgID><Status>success</Status>` to the webhook; the status is `success`,
//! `failed:user block` or `failed: system failed` (sic, with the space). [`finish_report`]
//! reads it from the normalized event; the router settles the delivery record
//! ([`settle`]): `accepted` → `delivered`, or `undeliverable` with `user_block` /
//! `system_failed`. A redelivered push finds the record settled and changes nothing. Pure.

use crate::delivery::platform::{Disposition, PlatformError};
use crate::delivery::wechat::TOKEN_ERROR_CODES;
use crate::delivery::window::UndeliverableReason;
use crate::message::{Channel, Content, NormalizedMessage, event};
use crate::ports::PortError;
use crate::reply::ReplyContent;
use async_trait::async_trait;
use serde::Deserialize;
use serde_json::{Value, json};

/// Path of the template message API.
pub const TEMPLATE_SEND_PATH: &str = "/cgi-bin/message/template/send";

/// The JSON body sending `content` to `to_user` (an OpenID), with `client_msg_id` for WeChat's
/// own de-duplication. `None` when `content` is not a template message.
pub fn send_body(to_user: &str, content: &ReplyContent, client_msg_id: &str) -> Option<Value> {
    let ReplyContent::Template {
        template_id,
        data,
        url,
        miniprogram,
    } = content
    else {
        return None;
    };
    let mut body = json!({
        "touser": to_user,
        "template_id": template_id,
        "data": data,
        "client_msg_id": client_msg_id,
    });
    if let Some(u) = url {
        body["url"] = Value::String(u.clone());
    }
    if let Some(mp) = miniprogram {
        body["miniprogram"] = json!({ "appid": mp.appid, "pagepath": mp.pagepath });
    }
    Some(body)
}

/// The `client_msg_id` of a reply: its id, cut to 64 bytes at a character boundary (the
/// documentation gives no length; reply ids are far shorter in practice).
pub fn client_msg_id(reply_id: &str) -> String {
    let mut end = reply_id.len().min(64);
    while !reply_id.is_char_boundary(end) {
        end -= 1;
    }
    reply_id[..end].to_string()
}

#[derive(Deserialize)]
struct Answer {
    #[serde(default)]
    errcode: i64,
    #[serde(default)]
    errmsg: String,
    #[serde(default)]
    msgid: Option<Value>,
}

/// Parses a send answer: the `msgid` (as a string) when accepted. `None` when the body is
/// not the platform's JSON envelope, or an `errcode` 0 without a `msgid`.
pub fn parse_send_answer(body: &str) -> Option<Result<String, PlatformError>> {
    let answer: Answer = serde_json::from_str(body).ok()?;
    if answer.errcode != 0 {
        return Some(Err(PlatformError {
            channel: Channel::WeChat,
            code: answer.errcode,
            message: answer.errmsg.chars().take(200).collect(),
            disposition: classify_error(answer.errcode),
        }));
    }
    match answer.msgid? {
        Value::Number(n) => Some(Ok(n.to_string())),
        Value::String(s) if !s.is_empty() => Some(Ok(s)),
        _ => None,
    }
}

/// What to do about an error code of `message/template/send` (see the module's table).
pub fn classify_error(code: i64) -> Disposition {
    match code {
        c if TOKEN_ERROR_CODES.contains(&c) => Disposition::RefreshToken,
        43004 => Disposition::Undeliverable(UndeliverableReason::Unfollowed),
        43101 => Disposition::Undeliverable(UndeliverableReason::UserRefused),
        -1 | 45009 | 45011 | 45047 => Disposition::Transient,
        _ => Disposition::Permanent,
    }
}

/// The final result WeChat reports for a template message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FinishOutcome {
    /// `success`: delivered to the follower.
    Delivered,
    /// `failed:user block`: the follower blocks the account's template messages.
    UserBlock,
    /// `failed: system failed` (or any other `failed…` status): WeChat did not deliver it.
    SystemFailed,
}

impl FinishOutcome {
    /// The undeliverable reason, `None` for [`FinishOutcome::Delivered`].
    pub fn reason(self) -> Option<UndeliverableReason> {
        match self {
            FinishOutcome::Delivered => None,
            FinishOutcome::UserBlock => Some(UndeliverableReason::UserBlock),
            FinishOutcome::SystemFailed => Some(UndeliverableReason::SystemFailed),
        }
    }
}

/// A `TEMPLATESENDJOBFINISH` push, as the router needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FinishReport {
    /// The account the push came to.
    pub account_id: String,
    /// The `msgid` the send answered with (`MsgID`).
    pub msgid: String,
    /// The status as WeChat wrote it.
    pub status: String,
    /// What it means; `None` for a status the gateway does not know (left unchanged).
    pub outcome: Option<FinishOutcome>,
}

/// Maps a `Status` to its outcome: `success`; `failed:user block`; `failed: system failed`
/// and any other `failed…`. Spaces and case are not significant.
pub fn outcome_of(status: &str) -> Option<FinishOutcome> {
    let compact: String = status
        .chars()
        .filter(|c| !c.is_whitespace())
        .flat_map(char::to_lowercase)
        .collect();
    match compact.as_str() {
        "success" => Some(FinishOutcome::Delivered),
        "failed:userblock" => Some(FinishOutcome::UserBlock),
        s if s.starts_with("failed") => Some(FinishOutcome::SystemFailed),
        _ => None,
    }
}

/// The finish report in `message`, when it is a WeChat `TEMPLATESENDJOBFINISH` event with a
/// `MsgID`; `None` for everything else (the router's normal path).
pub fn finish_report(message: &NormalizedMessage) -> Option<FinishReport> {
    if message.channel != Channel::WeChat {
        return None;
    }
    let Content::Event { event, detail, .. } = &message.content else {
        return None;
    };
    if event != event::TEMPLATE_SEND_FINISHED {
        return None;
    }
    let msgid = detail
        .get("MsgID")
        .or_else(|| detail.get("MsgId"))
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())?;
    let status = detail
        .get("Status")
        .map(|s| s.trim().to_string())
        .unwrap_or_default();
    Some(FinishReport {
        account_id: message.account_id.clone(),
        outcome: outcome_of(&status),
        msgid,
        status,
    })
}

/// What settling a finish report did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Settled {
    /// The record of `reply_id` moved from `accepted` to its final state.
    Updated {
        /// The reply.
        reply_id: String,
    },
    /// The record was already final (a redelivered push): nothing changed.
    AlreadySettled {
        /// The reply.
        reply_id: String,
    },
    /// No reply is known by this msgid (sent by another system, or its lookup expired).
    Unknown,
    /// The record is still `calling` or `sent`: the reply sender has not recorded the
    /// acceptance yet. Retried later.
    NotYetAccepted {
        /// The reply.
        reply_id: String,
    },
}

/// The delivery records of template messages, found by the msgid WeChat gave them.
#[async_trait]
pub trait TemplateSends: Send + Sync {
    /// Settles the record of the template message `msgid` sent from `account_id`: only from
    /// `accepted`, to `delivered` or (with `reason`) `undeliverable`.
    async fn settle(
        &self,
        account_id: &str,
        msgid: &str,
        reason: Option<UndeliverableReason>,
        now_ms: i64,
    ) -> Result<Settled, PortError>;
}

/// Settles `report` on its delivery record. `Err` (transient) while the reply sender has not
/// recorded the acceptance yet, so the push is retried; an unknown status or msgid changes
/// nothing.
pub async fn settle(
    sends: &dyn TemplateSends,
    report: &FinishReport,
    now_ms: i64,
) -> Result<Settled, PortError> {
    let Some(outcome) = report.outcome else {
        tracing::warn!(
            msgid = report.msgid,
            status = report.status,
            "unknown template finish status; the delivery record is left as it is"
        );
        return Ok(Settled::Unknown);
    };
    match sends
        .settle(&report.account_id, &report.msgid, outcome.reason(), now_ms)
        .await?
    {
        Settled::NotYetAccepted { reply_id } => Err(PortError::transient(
            "settle template message",
            format!("the acceptance of reply {reply_id} is not recorded yet"),
        )),
        other => Ok(other),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests;
