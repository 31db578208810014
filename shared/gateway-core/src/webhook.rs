//! The webhook pipeline both channel functions share: find the account, let the channel
//! protocol verify and parse the request, queue the message, acknowledge.
//!
//! The acknowledgement is sent only after the message is safely queued; a queuing failure
//! answers 503 so that the platform retries and nothing is lost. No I/O of its own: the
//! accounts and the queue are ports.
//!
//! **Passive replies.** For a WeChat account with `reply_mode: passive` (unverified
//! subscription accounts have no customer-service API), the acknowledgement can carry one
//! auto-reply in the platform's reply XML (encrypted when the push was), decided by the
//! *stateless* rules only ([`PassiveReplies`]). The message is still queued first and still
//! flows to the router, which records it and applies every rule (its auto-reply commands for
//! passive accounts are skipped by the reply sender). See `docs/replies.md`.

use crate::account::{ReplyMode, Secret, WeChatAccount, WeiboAccount};
use crate::channel::wechat::reply::{self as passive, PassiveReply};
use crate::channel::{self, HttpMethod, InboundRequest, Limits, WebhookError, WebhookOutcome};
use crate::message::{Channel, Content, NormalizedMessage};
use crate::ports::{AccountDirectory, MessagePublisher, RulesSource};
use crate::reply::ReplyContent;
use crate::rules::{self, RuleSet};
use std::sync::{Arc, Mutex};

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
    /// Passive replies for WeChat accounts in passive reply mode (`None`: no passive replies,
    /// as for Weibo).
    pub passive: Option<Arc<PassiveReplies>>,
}

/// Passive auto-replies for WeChat accounts with `reply_mode: passive`.
///
/// What it can do: answer a push with **one** reply (text, image, voice, video, music or
/// news; news cut to one article when answering a user message, as the platform requires),
/// decided by the rules that need no conversation state (keywords, regexes, message kind,
/// event and key, channel, account, business hours…), evaluated in order at the time the
/// message was received. Encrypted with the account's current EncodingAESKey when the push was
/// encrypted (secure mode, and compatible mode with an encrypted push).
///
/// What it cannot do: rules with `first_message`, tag, status or escalation conditions, or
/// with `once_per`, never fire here (there is no conversation state in the webhook); a second
/// reply of the same decision is not sent (one reply per push); nothing is retried (a reply
/// lost with the HTTP response is lost) and the reply is not recorded as the conversation's
/// first response.
pub struct PassiveReplies {
    /// The rules in force (cached by the source).
    pub rules: Arc<dyn RulesSource>,
    /// The stateless subset of the last rules seen, rebuilt only when the rules change.
    stateless: Mutex<Option<(Arc<RuleSet>, Arc<RuleSet>)>>,
}

impl PassiveReplies {
    /// Passive replies decided by `rules`.
    pub fn new(rules: Arc<dyn RulesSource>) -> Self {
        PassiveReplies {
            rules,
            stateless: Mutex::new(None),
        }
    }

    async fn stateless_rules(&self) -> Option<Arc<RuleSet>> {
        let rules = match self.rules.rules().await {
            Ok(r) => r,
            Err(e) => {
                tracing::warn!(error.message = %e, "rules unavailable; acknowledging without a passive reply");
                return None;
            }
        };
        let mut cache = self.stateless.lock().unwrap_or_else(|p| p.into_inner());
        if let Some((from, stateless)) = cache.as_ref()
            && Arc::ptr_eq(from, &rules)
        {
            return Some(stateless.clone());
        }
        let stateless = Arc::new(rules.without_conversation_state());
        *cache = Some((rules, stateless.clone()));
        Some(stateless)
    }

    /// The response body answering `message` (pushed to `account` by `request`), or `None`
    /// when no stateless rule replies. `random` is the 16-byte prefix of an encrypted reply.
    pub async fn reply_body(
        &self,
        account: &WeChatAccount,
        request: &InboundRequest<'_>,
        message: &NormalizedMessage,
        random: &[u8; 16],
    ) -> Option<String> {
        // A platform report (a template message's `TEMPLATESENDJOBFINISH`) is answered with an
        // empty acknowledgement, never a message to the follower.
        if matches!(&message.content, Content::Event { event, .. } if event == crate::message::event::TEMPLATE_SEND_FINISHED)
        {
            return None;
        }
        let rules = self.stateless_rules().await?;
        let at = chrono::DateTime::<chrono::Utc>::from_timestamp_millis(message.received_at_ms)
            .unwrap_or_default();
        let decision = rules::evaluate(&rules, message, None, at);
        let planned = decision.replies.first()?;
        let content = passive_content(&planned.content, message)?;
        let now_secs = request.received_at_ms.div_euclid(1000);
        let xml = passive::build(
            &message.sender_id,
            &message.recipient_id,
            now_secs,
            &content,
        )
        .ok()?;
        tracing::info!(
            account = request.account_id,
            rule = %planned.rule_id,
            kind = planned.content.kind(),
            "answering with a passive reply"
        );
        if request.optional("encrypt_type") != Some("aes") {
            return Some(xml);
        }
        let nonce = request.optional("nonce").unwrap_or_default();
        match passive::encrypt_with_random(account, &xml, now_secs, nonce, random) {
            Ok(envelope) => Some(envelope),
            Err(e) => {
                tracing::error!(error.message = %e, "cannot encrypt the passive reply; acknowledging without it");
                None
            }
        }
    }
}

/// The passive form of a reply; `None` for content WeChat cannot carry (a position), and for a
/// media reply naming an `upload`: the webhook answers within WeChat's 5 seconds and uploads
/// nothing.
fn passive_content(content: &ReplyContent, message: &NormalizedMessage) -> Option<PassiveReply> {
    Some(match content {
        ReplyContent::Text { text } => PassiveReply::Text {
            content: text.clone(),
        },
        ReplyContent::Image {
            media_id,
            upload: None,
        } => PassiveReply::Image {
            media_id: media_id.clone(),
        },
        ReplyContent::Voice {
            media_id,
            upload: None,
        } => PassiveReply::Voice {
            media_id: media_id.clone(),
        },
        ReplyContent::Image { .. } | ReplyContent::Voice { .. } => return None,
        ReplyContent::Video {
            upload: Some(_), ..
        } => return None,
        ReplyContent::Video {
            media_id,
            title,
            description,
            ..
        } => PassiveReply::Video {
            media_id: media_id.clone(),
            title: title.clone(),
            description: description.clone(),
        },
        ReplyContent::Music {
            title,
            description,
            music_url,
            hq_music_url,
            thumb_media_id,
        } => PassiveReply::Music {
            title: title.clone(),
            description: description.clone(),
            music_url: music_url.clone(),
            hq_music_url: hq_music_url.clone(),
            thumb_media_id: thumb_media_id.clone(),
        },
        ReplyContent::Articles { articles } => {
            // A reply to a user's message may carry one article only (reference §4.3).
            let limit = if matches!(message.content, Content::Event { .. }) {
                passive::MAX_NEWS_ARTICLES
            } else {
                1
            };
            PassiveReply::News {
                articles: articles
                    .iter()
                    .take(limit)
                    .map(|a| passive::Article {
                        title: a.title.clone(),
                        description: a.description.clone().unwrap_or_default(),
                        pic_url: a.pic_url.clone().unwrap_or_default(),
                        url: a.url.clone(),
                    })
                    .collect(),
            }
        }
        // A passive reply is a private answer in the webhook's response: a public comment is
        // never one (it is Weibo's, and goes through the reply sender), nor a template message
        // (its own API, sent by the reply sender).
        ReplyContent::Position { .. }
        | ReplyContent::PublicComment { .. }
        | ReplyContent::Template { .. } => return None,
    })
}

impl WebhookService {
    /// Handles one webhook request end to end and returns the HTTP answer for the platform
    /// (with a passive reply for a passive-mode WeChat account when the service has them).
    pub async fn handle(&self, request: &InboundRequest<'_>) -> HttpReply {
        let passive = self.passive.as_deref();
        match self.try_handle(request, passive).await {
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
                HttpReply::error(e.status(), e.public_code())
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

    async fn try_handle(
        &self,
        request: &InboundRequest<'_>,
        passive: Option<&PassiveReplies>,
    ) -> Result<HttpReply, Failure> {
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
        let mut passive_account = None;
        // An unknown account is checked against a stand-in with an unguessable key, so that
        // it answers exactly as a known account answers a bad signature (no enumeration).
        let unknown = |e: WebhookError| match e {
            WebhookError::BadSignature => WebhookError::UnknownAccount,
            other => other,
        };
        let outcome = match self.channel {
            Channel::WeChat => match accounts.wechat.get(request.account_id) {
                Some(account) => {
                    if account.reply_mode == ReplyMode::Passive {
                        passive_account = Some(account);
                    }
                    channel::wechat::handle(account, request, &self.limits)?
                }
                None => {
                    let stand_in = &stand_ins().0;
                    channel::wechat::handle(stand_in, request, &self.limits).map_err(unknown)?;
                    return Err(WebhookError::UnknownAccount.into());
                }
            },
            Channel::Weibo => match accounts.weibo.get(request.account_id) {
                Some(account) => channel::weibo::handle(account, request, &self.limits)?,
                None => {
                    let stand_in = &stand_ins().1;
                    channel::weibo::handle(stand_in, request, &self.limits).map_err(unknown)?;
                    return Err(WebhookError::UnknownAccount.into());
                }
            },
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
                if let (Some(passive), Some(account)) = (passive, passive_account)
                    && let Some(body) = passive
                        .reply_body(
                            account,
                            request,
                            &message,
                            &channel::wechat::crypto::random_prefix(),
                        )
                        .await
                {
                    return Ok(HttpReply {
                        status: 200,
                        content_type: "application/xml; charset=utf-8",
                        body,
                    });
                }
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

/// The stand-in accounts an unknown account name is checked against: keys drawn from the OS
/// once per process, never configured anywhere, so no request can verify against them.
fn stand_ins() -> &'static (WeChatAccount, WeiboAccount) {
    static STAND_INS: std::sync::OnceLock<(WeChatAccount, WeiboAccount)> =
        std::sync::OnceLock::new();
    STAND_INS.get_or_init(|| {
        let key = |_| {
            channel::wechat::crypto::random_prefix()
                .iter()
                .map(|b| format!("{b:02x}"))
                .collect::<String>()
        };
        let secret = Secret::new((0..2).map(key).collect::<String>());
        (
            WeChatAccount {
                app_id: "stand-in".into(),
                token: secret.clone(),
                encoding_aes_key: None,
                previous_encoding_aes_key: None,
                mode: crate::account::WeChatMode::Plaintext,
                app_secret: None,
                reply_mode: ReplyMode::Api,
                original_id: None,
                template_daily_limit: None,
            },
            WeiboAccount {
                app_key: "stand-in".into(),
                app_secret: secret,
                receiver_uid: None,
                access_token: None,
                format: crate::account::WeiboFormat::Json,
                listening: None,
            },
        )
    })
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

#[cfg(test)]
mod passive_tests;

#[cfg(test)]
mod passive_upload_tests {
    use super::*;
    use crate::testing::text_message;

    #[test]
    fn a_passive_reply_never_names_a_file_it_would_have_to_upload() {
        let m = text_message("demo", "oUser", "1", "hi", 1_000);
        let named = ReplyContent::Image {
            media_id: String::new(),
            upload: Some(format!("uploads/wechat/demo/{}", "a".repeat(64))),
        };
        assert_eq!(passive_content(&named, &m), None);
        let by_id = ReplyContent::Image {
            media_id: "m".into(),
            upload: None,
        };
        assert_eq!(
            passive_content(&by_id, &m),
            Some(PassiveReply::Image {
                media_id: "m".into()
            })
        );
    }
}
