//! The reply sender's orchestration: what happens to one reply command taken off the outbound
//! queue. No I/O of its own: everything goes through the ports in [`super::ports`].
//!
//! 1. **Already handled?** The delivery record says. `delivered`, `undeliverable`, `failed`:
//!    acknowledge. `sent`: the platform took it but the conversation was not updated; finish
//!    that (step 6). `calling` and older than the claim timeout: an earlier attempt died
//!    during the platform call, so the reply may or may not have reached the customer. It is
//!    **not** sent again (never twice); it is marked `delivery_uncertain` on the conversation.
//! 2. **Deliverable at all?** Content valid for the channel, account known, credentials
//!    present, the account has the API. Otherwise dead-letter with a `gateway:` code. WeChat
//!    `reply_mode: passive` accounts have no API: an agent reply is marked `no_reply_api`; an
//!    auto-reply is skipped (the webhook answered the stateless rules in its response).
//! 3. **Window and quota** ([`super::window::check`]) against the conversation. An auto-reply
//!    waits (retry) until the router has stored the message that triggered it. Closed: mark the
//!    reply undeliverable on the conversation, with the reason. A public comment has no window
//!    (it goes under a post, [`super::weibo_comments`]), nor a WeChat template message (its
//!    own channel, [`super::template`]): they skip this check. A template message checks its
//!    account's daily template quota instead (`process/quota.rs`, [`super::template_quota`]): used up
//!    (the account's `template_daily_limit` reached, or WeChat answered 45009 today), the reply
//!    is held until the quota resets ([`DeliveryError::Held`], record `held`), not sent.
//! 4. **Claim** (`calling`), conditional on no record: two copies never both call the platform.
//! 5. **Call** the platform. WeChat token errors: invalidate (compare-and-expire), fetch a new
//!    token, retry once. Busy or throttled, or the request never left: release the claim and
//!    retry later. A window/quota refusal: mark undeliverable. A template message refused with
//!    45009 (daily quota): release the claim, mark the day exhausted and hold the reply. Any
//!    other refusal: dead-letter with the code. No usable answer (timeout): mark
//!    `delivery_uncertain`.
//! 6. **Record**: `sent` (with the platform's id of what it created, when it gives one: a
//!    public comment's `idstr`), then in one transaction `delivered` + the conversation's
//!    `record_outbound` (first response time, answered, window charge, or for a public comment
//!    its own count and time, `public_replies`, and for a template message `template_replies`
//!    with the record `accepted` instead of `delivered`; version checked, retried on conflict) + the
//!    outbound message item.
//!
//! The residual window: if the process dies after the platform accepted the reply and before
//! the `sent` write, the record stays `calling`; the redelivery then marks the reply
//! `delivery_uncertain` instead of sending it again.
//!
//! **Attempt limit** ([`deliver_attempt`]): a command whose last allowed attempt fails again
//! for a reason that may pass (platform busy or throttling, token API unavailable, request not
//! sent, triggering message not stored yet) is dead-lettered with [`RETRIES_EXHAUSTED`] and the
//! last failure as the reason, and its record becomes `failed`, as for a permanent refusal.
//! A reply whose outcome is not settled ([`DeliveryError::Unsettled`]: another attempt holds
//! the claim, or the platform accepted it and recording it is pending) is never given up on
//! this way: giving up could record as failed a reply that reached the customer. Nor is a
//! held template message ([`DeliveryError::Held`]), and the receives that were holds are not
//! counted as attempts (`quota::attempt_without_holds`).

use crate::account::Secret;
use crate::conversation::{Conversation, MessagePreview, Responder};
use crate::delivery::outcome::{Attempt, DeliveryError, DeliveryOutcome};
use crate::delivery::platform::{CallError, Disposition, PlatformError};
use crate::delivery::ports::{
    AccessTokens, ClaimOutcome, DeliveryLedger, DeliveryRecord, DeliveryState, TokenError,
    WeChatApi, WeiboApi,
};
use crate::delivery::request::{Refusal, Request, build_request};
use crate::delivery::template_quota::TemplateQuotas;
use crate::delivery::uploads::{self, Failure, Uploads};
use crate::delivery::wechat;
use crate::delivery::window::{self, ReplyPolicy, UndeliverableReason, UndeliverableReply};
use crate::outbound::{ReplyCommand, ReplyOrigin};
use crate::ports::{AccountDirectory, CommitOutcome, ConversationStore, DeadLetter, DeadLetters};
use std::time::Duration;

mod quota;
mod wechat_call;

use wechat_call::{WeChatCall, call_wechat};

/// How many times a conversation write is retried after an optimistic-concurrency conflict.
const MAX_CONFLICT_RETRIES: usize = 5;

/// Error code of a command dead-lettered because its last allowed attempt failed transiently.
pub const RETRIES_EXHAUSTED: &str = "gateway:retries_exhausted";

/// What the reply sender works with.
#[derive(Clone, Copy)]
pub struct Sender<'a> {
    /// The accounts document (credentials, reply mode).
    pub accounts: &'a dyn AccountDirectory,
    /// Conversations (window state, outbound recording).
    pub conversations: &'a dyn ConversationStore,
    /// Delivery records.
    pub ledger: &'a dyn DeliveryLedger,
    /// Template messages' daily quota per account.
    pub quotas: &'a dyn TemplateQuotas,
    /// WeChat access tokens.
    pub tokens: &'a dyn AccessTokens,
    /// WeChat API.
    pub wechat: &'a dyn WeChatApi,
    /// Weibo API.
    pub weibo: &'a dyn WeiboApi,
    /// Outbound dead-letter queue.
    pub dead_letters: &'a dyn DeadLetters,
    /// The agents' files that media replies may name, and their WeChat media ids.
    pub uploads: Uploads<'a>,
    /// Reply windows and quotas.
    pub policy: &'a ReplyPolicy,
    /// A `calling` record younger than this belongs to an attempt that may still be running.
    pub claim_timeout_ms: i64,
    /// The clock, Unix ms.
    pub now: &'a (dyn Fn() -> i64 + Send + Sync),
}

/// [`deliver`] as attempt `attempt`: when the last allowed attempt fails with a
/// [`DeliveryError::Retry`], the command is dead-lettered with [`RETRIES_EXHAUSTED`] and the
/// failure as the reason, and its record becomes `failed` (the path of a permanent refusal).
///
/// An AWS refusal that a retry alone cannot fix (access denied, a missing table, secret or
/// queue) is the deployment's fault, never the command's: it is retried like a transient
/// failure, so that the fix (or an IAM change still propagating) lets the reply through, and
/// only the last allowed attempt dead-letters it. Every other result is [`deliver`]'s.
pub async fn deliver_attempt(
    s: &Sender<'_>,
    command: &ReplyCommand,
    attempt: Attempt,
) -> Result<DeliveryOutcome, DeliveryError> {
    let result = match deliver(s, command).await {
        Err(DeliveryError::Port(e)) if !e.is_retryable() => {
            // With the causes (the AWS error code), for the dead letter's reason.
            let mut why = format!("AWS refused: {e}");
            let mut cause = std::error::Error::source(&e);
            while let Some(c) = cause {
                why.push_str(&format!(": {c}"));
                cause = c.source();
            }
            Err(DeliveryError::Retry(why))
        }
        other => other,
    };
    match result {
        Err(DeliveryError::Retry(why)) if attempt.is_last() => {
            // Receives that were holds (template quota) are not attempts.
            if !quota::attempt_without_holds(s, command, attempt)
                .await?
                .is_last()
            {
                return Err(DeliveryError::Retry(why));
            }
            let reason = format!("not delivered after {} attempts: {why}", attempt.number);
            tracing::warn!(
                reply_id = %command.dedupe_id(),
                attempt = attempt.number,
                limit = attempt.limit,
                reason,
                "last allowed attempt failed; the command is dead-lettered"
            );
            dead_letter(s, command, RETRIES_EXHAUSTED, &reason).await
        }
        other => other,
    }
}

/// Delivers one reply command at most once.
#[tracing::instrument(skip_all, fields(channel = %command.channel, account = %command.account_id, reply_id = %command.dedupe_id()))]
pub async fn deliver(
    s: &Sender<'_>,
    command: &ReplyCommand,
) -> Result<DeliveryOutcome, DeliveryError> {
    let reply_id = command.dedupe_id();

    // 1. Already handled?
    if let Some(record) = s.ledger.get(&reply_id).await?
        && let Some(outcome) = resume(s, command, &record).await?
    {
        return Ok(outcome);
    }

    // 2. Deliverable at all?
    if let Err(why) = command.content.validate() {
        return dead_letter(s, command, "gateway:invalid_content", &why).await;
    }
    let accounts = s.accounts.accounts().await?;
    let request = match build_request(&accounts, command) {
        Ok(r) => r,
        Err(Refusal::DeadLetter(code, why)) => return dead_letter(s, command, code, &why).await,
        Err(Refusal::Undeliverable(reason)) => {
            return mark_undeliverable(s, command, reason, None).await;
        }
        Err(Refusal::SkipPassive) => return Ok(DeliveryOutcome::SkippedPassive),
    };

    // 3. Window and quota.
    let conversation = s.conversations.load(&command.conversation_key).await?;
    if let ReplyOrigin::Rule {
        message_dedupe_id, ..
    } = &command.origin
    {
        let stored = conversation.as_ref().is_some_and(|c| {
            c.has_seen(message_dedupe_id) || c.last_inbound_at >= command.created_at_ms
        });
        if !stored {
            return Err(DeliveryError::Retry(
                "the router has not stored the message this auto-reply answers yet".into(),
            ));
        }
        let decided = conversation
            .as_ref()
            .and_then(|c| c.decided(message_dedupe_id, &reply_id));
        if decided == Some(false) {
            return Ok(DeliveryOutcome::Superseded);
        }
    }
    let policy = s.policy.for_channel(command.channel);
    let windows = conversation
        .as_ref()
        .map(|c| c.reply_windows.clone())
        .unwrap_or_default();
    if !command.content.bypasses_window()
        && let Err(reason) = window::check(policy, &windows, (s.now)())
    {
        return mark_undeliverable(s, command, reason, None).await;
    }
    if let Request::WeChatTemplate {
        account_id,
        account,
        ..
    } = &request
        && let Err(held) = quota::check(s, command, account_id, account.template_daily_limit).await
    {
        return held;
    }

    // Token before the claim: failing to get one leaves nothing to release.
    let wechat_token = match &request {
        Request::WeChat {
            account_id,
            account,
            ..
        } => match s.tokens.token(account_id, account, (s.now)()).await {
            Ok(t) => Some(t),
            Err(e) => return token_failure(s, command, e).await,
        },
        Request::WeChatTemplate {
            account_id,
            account,
            ..
        } => match s.tokens.token(account_id, account, (s.now)()).await {
            Ok(t) => Some(t),
            Err(e) => return token_failure(s, command, e).await,
        },
        Request::Weibo { .. } | Request::WeiboComment { .. } => None,
    };

    // A media reply naming an agent's file: its media id, uploaded if need be (before the
    // claim too: a failure leaves nothing to release).
    let request = match resolve_file(s, command, request, wechat_token.as_ref()).await {
        Ok(r) => r,
        Err(outcome) => return outcome,
    };

    // 4. Claim.
    match s.ledger.claim(command, (s.now)()).await? {
        ClaimOutcome::Claimed => {}
        ClaimOutcome::Exists(record) => {
            return match resume(s, command, &record).await? {
                Some(outcome) => Ok(outcome),
                None => Err(held_by_another_attempt(s, &record)),
            };
        }
    }

    // 5. Call.
    let result = match &request {
        Request::WeChat {
            account_id,
            account,
            body,
        } => {
            let call = WeChatCall::Custom(body);
            match call_wechat(s, command, account_id, account, wechat_token, call).await {
                Ok(sent) => sent,
                Err(outcome) => return outcome,
            }
        }
        Request::WeChatTemplate {
            account_id,
            account,
            body,
        } => {
            let call = WeChatCall::Template(body);
            match call_wechat(s, command, account_id, account, wechat_token, call).await {
                Ok(sent) => sent,
                Err(outcome) => return outcome,
            }
        }
        Request::Weibo { token, fields } => s.weibo.reply(token, fields).await.map(|()| None),
        Request::WeiboComment {
            token,
            call,
            fields,
        } => s.weibo.comment(token, *call, fields).await.map(Some),
    };

    match result {
        Ok(platform_id) => {
            let sent_at = (s.now)();
            match (&request, platform_id.as_deref()) {
                (Request::WeChatTemplate { .. }, Some(msgid)) => {
                    s.ledger.mark_template_sent(command, sent_at, msgid).await?;
                }
                (_, platform_id) => s.ledger.mark_sent(&reply_id, sent_at, platform_id).await?,
            }
            finish(s, command, sent_at).await
        }
        Err(CallError::Platform(e)) => match &request {
            Request::WeChatTemplate { account_id, .. } if quota::is_daily_quota(&e) => {
                s.ledger.release(&reply_id).await?;
                quota::refused(s, command, account_id).await
            }
            _ => platform_refusal(s, command, e).await,
        },
        Err(CallError::NotSent(e)) => {
            s.ledger.release(&reply_id).await?;
            Err(DeliveryError::Retry(format!("not sent: {e}")))
        }
        Err(CallError::Uncertain(e)) => {
            tracing::error!(
                error.message = %e,
                "no usable answer from the platform; the reply may have been delivered and is not sent again"
            );
            mark_undeliverable(s, command, UndeliverableReason::DeliveryUncertain, None).await
        }
    }
}

/// What an existing record means for this attempt; `None` to go on with a delivery.
async fn resume(
    s: &Sender<'_>,
    command: &ReplyCommand,
    record: &DeliveryRecord,
) -> Result<Option<DeliveryOutcome>, DeliveryError> {
    match record.state {
        state if state.is_settled_for_sender() => Ok(Some(DeliveryOutcome::AlreadyHandled(state))),
        // Held for the template quota: tried again like a reply without a record.
        DeliveryState::Held => Ok(None),
        DeliveryState::Sent => {
            let sent_at = record.sent_at_ms.unwrap_or(record.updated_at_ms);
            finish(s, command, sent_at).await.map(Some)
        }
        _ => {
            if claim_left_ms(s, record) > 0 {
                return Err(held_by_another_attempt(s, record));
            }
            tracing::error!(
                "an earlier attempt died during the platform call; the reply is marked delivery_uncertain instead of being sent twice"
            );
            mark_undeliverable(s, command, UndeliverableReason::DeliveryUncertain, None)
                .await
                .map(Some)
        }
    }
}

/// How long the claim of a `calling` record still runs, ms (0 or less: it ran out).
fn claim_left_ms(s: &Sender<'_>, record: &DeliveryRecord) -> i64 {
    let since = record.calling_since_ms.unwrap_or(record.updated_at_ms);
    since.saturating_add(s.claim_timeout_ms) - (s.now)()
}

/// The error for a reply another (earlier or concurrent) attempt has claimed: retried once that
/// claim runs out, when the reply is settled one way or the other.
fn held_by_another_attempt(s: &Sender<'_>, record: &DeliveryRecord) -> DeliveryError {
    let left = claim_left_ms(s, record).max(0);
    DeliveryError::Unsettled {
        why: format!(
            "an earlier attempt may still be calling the platform (its claim runs out in {left} ms)"
        ),
        settles_in: Some(Duration::from_millis(u64::try_from(left).unwrap_or(0))),
    }
}

/// `request` with the media id of the file its reply names ([`uploads::resolve`], with the
/// token already fetched); the outcome when that fails ([`uploads::ResolveError::failure`]).
async fn resolve_file(
    s: &Sender<'_>,
    command: &ReplyCommand,
    request: Request,
    token: Option<&Secret>,
) -> Result<Request, Result<DeliveryOutcome, DeliveryError>> {
    let (Request::WeChat { account_id, .. }, Some(token)) = (&request, token) else {
        return Ok(request);
    };
    let (tokens, now) = (s.tokens, (s.now)());
    let resolved = uploads::resolve(&command.content, account_id, &s.uploads, tokens, token, now);
    let content = match resolved.await {
        Ok(None) => return Ok(request),
        Ok(Some(content)) => content,
        Err(e) => {
            return Err(match e.failure() {
                Failure::DeadLetter(code, why) => dead_letter(s, command, &code, &why).await,
                Failure::Token(e) => token_failure(s, command, e).await,
                Failure::Retry(e) => Err(e),
            });
        }
    };
    let Request::WeChat {
        account_id,
        account,
        body,
    } = request
    else {
        return Ok(request);
    };
    let body = wechat::custom_message(&command.recipient_id, &content).unwrap_or(body);
    Ok(Request::WeChat {
        account_id,
        account,
        body,
    })
}

/// The outcome of a token failure: dead-lettered when the token API refused for good,
/// otherwise a retry.
async fn token_failure(
    s: &Sender<'_>,
    command: &ReplyCommand,
    e: TokenError,
) -> Result<DeliveryOutcome, DeliveryError> {
    match e {
        TokenError::Platform(pe) if pe.disposition == Disposition::Permanent => {
            let code = pe.code_label();
            dead_letter(s, command, &code, &format!("access token refused: {pe}")).await
        }
        other => Err(DeliveryError::Retry(other.to_string())),
    }
}

async fn platform_refusal(
    s: &Sender<'_>,
    command: &ReplyCommand,
    e: PlatformError,
) -> Result<DeliveryOutcome, DeliveryError> {
    match e.disposition {
        Disposition::Transient | Disposition::RefreshToken => {
            s.ledger.release(&command.dedupe_id()).await?;
            Err(DeliveryError::Retry(e.to_string()))
        }
        Disposition::Undeliverable(reason) => {
            mark_undeliverable(s, command, reason, Some(e.code_label())).await
        }
        Disposition::Permanent => dead_letter(s, command, &e.code_label(), &e.to_string()).await,
    }
}

async fn dead_letter(
    s: &Sender<'_>,
    command: &ReplyCommand,
    code: &str,
    reason: &str,
) -> Result<DeliveryOutcome, DeliveryError> {
    s.dead_letters
        .dead_letter(&DeadLetter::reply(command, code, reason)?)
        .await?;
    s.ledger
        .mark_failed(command, code, reason, (s.now)())
        .await?;
    Ok(DeliveryOutcome::DeadLettered {
        code: code.to_string(),
    })
}

/// Marks the reply undeliverable on its record and its conversation (retried on conflict).
async fn mark_undeliverable(
    s: &Sender<'_>,
    command: &ReplyCommand,
    reason: UndeliverableReason,
    platform_code: Option<String>,
) -> Result<DeliveryOutcome, DeliveryError> {
    let mark = UndeliverableReply {
        reply_id: command.dedupe_id(),
        reason,
        platform_code: platform_code.clone(),
        at: (s.now)(),
    };
    for _ in 0..MAX_CONFLICT_RETRIES {
        let previous = s.conversations.load(&command.conversation_key).await?;
        let next = previous.clone().map(|mut c: Conversation| {
            c.record_undeliverable(mark.clone());
            c.version += 1;
            c
        });
        match s
            .ledger
            .commit_undeliverable(command, previous.as_ref(), next.as_ref(), &mark)
            .await?
        {
            CommitOutcome::Stored => {
                return Ok(DeliveryOutcome::Undeliverable {
                    reason,
                    platform_code,
                });
            }
            CommitOutcome::Duplicate => {
                let state = s
                    .ledger
                    .get(&command.dedupe_id())
                    .await?
                    .map_or(DeliveryState::Undeliverable, |r| r.state);
                return Ok(DeliveryOutcome::AlreadyHandled(state));
            }
            CommitOutcome::Conflict => continue,
        }
    }
    Err(DeliveryError::unsettled(format!(
        "conversation {} kept changing",
        command.conversation_key
    )))
}

/// Records a reply the platform accepted at `sent_at` (retried on conflict).
async fn finish(
    s: &Sender<'_>,
    command: &ReplyCommand,
    sent_at: i64,
) -> Result<DeliveryOutcome, DeliveryError> {
    let policy = s.policy.for_channel(command.channel);
    for _ in 0..MAX_CONFLICT_RETRIES {
        let previous = s.conversations.load(&command.conversation_key).await?;
        let mut charged = None;
        let responder = command.origin.responder();
        // A person's first answer: how long since the episode opened.
        let first_response_ms = previous
            .as_ref()
            .filter(|c| responder == Responder::Person && c.first_response_at.is_none())
            .filter(|c| c.inbound_count > 0)
            .map(|c| (sent_at - c.opened_at.unwrap_or(c.first_inbound_at)).max(0));
        let mut answered_waiting = false;
        let (public, template) = (command.content.is_public(), command.content.is_template());
        let next = previous.clone().map(|mut c: Conversation| {
            if public {
                // Not charged to a private window: counted on its own.
                c.public_replies.record_sent(sent_at);
            } else if template {
                // Its own channel, outside the customer-service windows: counted on its own.
                c.template_replies.record_sent(sent_at);
            } else {
                charged = window::charge(policy, &c.reply_windows, sent_at);
                if let Some(t) = charged {
                    c.reply_windows.record_sent(t);
                }
            }
            answered_waiting = c.record_outbound_by(sent_at, responder, command.origin.agent_id());
            c.last_message = Some(MessagePreview::outbound(&command.content, sent_at));
            c.version += 1;
            c
        });
        match s
            .ledger
            .commit_delivered(command, previous.as_ref(), next.as_ref(), sent_at)
            .await?
        {
            CommitOutcome::Stored => {
                return Ok(DeliveryOutcome::Delivered {
                    window: charged,
                    first_response_ms,
                    answered_waiting,
                });
            }
            CommitOutcome::Duplicate => {
                let state = DeliveryState::after_send(&command.content);
                return Ok(DeliveryOutcome::AlreadyHandled(state));
            }
            CommitOutcome::Conflict => continue,
        }
    }
    Err(DeliveryError::unsettled(format!(
        "conversation {} kept changing",
        command.conversation_key
    )))
}
