//! Evaluation: rules in order against one message and its conversation, producing a
//! [`Decision`].
//!
//! - Conditions see the message and the conversation as it was *before* this message was
//!   recorded, updated with the effects of rules that already fired in this evaluation (tags
//!   added or removed, status, escalation), so a rule can build on an earlier one.
//! - A rule whose conditions hold but whose `once_per` window has not passed is *suppressed*:
//!   it does not fire, does not stop, and evaluation goes on.
//! - A rule that fires with `stop` (the default) ends evaluation.

use super::condition::Ctx;
use super::text::{capped, fold};
use super::trace::{RuleOutcome, RuleTrace};
use super::{Action, OncePer, Rule, RuleSet};
use crate::conversation::{Conversation, Priority, Status};
use crate::message::NormalizedMessage;
use crate::reply::{ReplyContent, public};
use chrono::{DateTime, Utc};
use serde::Serialize;
use std::collections::BTreeSet;

/// What the rules decided for one message. Empty (`Decision::default()`) when no rule fired.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Decision {
    /// Rules that fired, in order, with why.
    pub fired: Vec<FiredRule>,
    /// Replies to send, in order.
    pub replies: Vec<PlannedReply>,
    /// Replies of rules that fired but that cannot be sent for this message (a public comment
    /// in answer to a private message), with why: left out, never an error.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub skipped_replies: Vec<SkippedReply>,
    /// Team to assign (the last `assign` with a team wins); `None` leaves it unchanged.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub team: Option<String>,
    /// Priority to set (the last `assign` with a priority wins, but an escalation always
    /// makes it `urgent`); `None` leaves it unchanged.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub priority: Option<Priority>,
    /// Tags to add (net of later removals).
    pub tags_added: BTreeSet<String>,
    /// Tags to remove (net of later additions).
    pub tags_removed: BTreeSet<String>,
    /// Crisis escalation, when a rule escalated.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub escalation: Option<Escalation>,
    /// Status to set (the last `set_status`/`close` wins); `None` leaves it unchanged.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<Status>,
    /// The rule that set `status`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status_set_by: Option<String>,
    /// The rule that fired with `stop` and ended evaluation, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stopped_by: Option<String>,
}

/// A rule that fired.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FiredRule {
    /// Rule id.
    pub id: String,
    /// Why its conditions held, in plain words.
    pub why: String,
    /// True when it ended evaluation.
    pub stop: bool,
}

/// A reply to send, and the rule that produced it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PlannedReply {
    /// Rule id.
    pub rule_id: String,
    /// What to send.
    pub content: ReplyContent,
    /// The rule says its reply is a complete answer.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub counts_as_answer: bool,
}

/// A reply a fired rule could not make for this message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SkippedReply {
    /// Rule id.
    pub rule_id: String,
    /// The reply's type.
    pub kind: &'static str,
    /// Why, in plain words.
    pub reason: String,
}

/// A crisis escalation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Escalation {
    /// The first rule that escalated.
    pub rule_id: String,
    /// An answer is due within this many seconds (the smallest target of the escalating
    /// rules).
    pub response_target_secs: u32,
}

impl Decision {
    /// True when no rule fired.
    pub fn is_empty(&self) -> bool {
        self.fired.is_empty()
    }

    /// Ids of the rules that fired.
    pub fn fired_ids(&self) -> Vec<&str> {
        self.fired.iter().map(|f| f.id.as_str()).collect()
    }
}

/// Evaluates `rules` in order for `message`.
///
/// `conversation` is the conversation *before* this message is recorded, `None` for a new
/// one. The message is the first of its conversation when there is no conversation, when it
/// has no inbound message yet, or when its only inbound message is this one (so passing the
/// state after `record_inbound` works too). `now` decides business hours and `once_per`
/// windows; pass the message's receive time for reproducible decisions. Pure and total: never
/// panics, whatever the text.
pub fn evaluate(
    rules: &RuleSet,
    message: &NormalizedMessage,
    conversation: Option<&Conversation>,
    now: DateTime<Utc>,
) -> Decision {
    run(rules, message, conversation, now, false).0
}

/// Evaluates only the rules with profile conditions, for a profile that was just stored
/// (the router's profile notice): against `conversation` as stored (its `profile` is the one
/// the conditions read) and `message`, its latest inbound message as far as the conversation
/// knows it ([`latest_message`]). The message counts as the first when the conversation has
/// at most one inbound message. Profile rules cannot reply (validation), so the decision holds
/// no reply.
pub fn evaluate_profile_rules(
    rules: &RuleSet,
    message: &NormalizedMessage,
    conversation: &Conversation,
    now: DateTime<Utc>,
) -> Decision {
    run_with(
        rules,
        message,
        Some(conversation),
        now,
        false,
        Mode::ProfileRules,
    )
    .0
}

/// The latest inbound message of `conversation` as the conversation item knows it (channel,
/// account, customer, and the preview of its last inbound message: kind and at most 80
/// characters of text), for [`evaluate_profile_rules`].
pub fn latest_message(conversation: &Conversation) -> NormalizedMessage {
    use crate::message::{Content, RawFormat, RawPayload, SCHEMA_VERSION};
    let preview = conversation
        .last_message
        .as_ref()
        .filter(|p| p.direction == "in");
    let content = match preview {
        Some(p) if p.kind == "text" => Content::Text {
            text: p.text.clone(),
        },
        _ => Content::Other {
            platform_type: preview.map(|p| p.kind.clone()).unwrap_or_default(),
        },
    };
    NormalizedMessage {
        schema_version: SCHEMA_VERSION,
        channel: conversation.channel,
        account_id: conversation.account_id.clone(),
        conversation_key: conversation.key.clone(),
        sender_id: conversation.customer_id.clone(),
        recipient_id: String::new(),
        platform_message_id: None,
        dedupe_key: format!("profile-rules:{}", conversation.key),
        content,
        platform_time: conversation.last_inbound_at / 1000,
        received_at_ms: conversation.last_inbound_at,
        raw: RawPayload {
            format: RawFormat::Json,
            body: String::new(),
        },
    }
}

/// Which rules an evaluation runs.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// Every rule, for a message.
    Message,
    /// Only rules with profile conditions, for a stored profile.
    ProfileRules,
}

/// Evaluates, and with `trace` also records what happened to every rule.
pub(crate) fn run(
    rules: &RuleSet,
    message: &NormalizedMessage,
    conversation: Option<&Conversation>,
    now: DateTime<Utc>,
    trace: bool,
) -> (Decision, Vec<RuleTrace>) {
    run_with(rules, message, conversation, now, trace, Mode::Message)
}

fn run_with(
    rules: &RuleSet,
    message: &NormalizedMessage,
    conversation: Option<&Conversation>,
    now: DateTime<Utc>,
    trace: bool,
    mode: Mode,
) -> (Decision, Vec<RuleTrace>) {
    let text = message.content.text().map(capped);
    let first_message = match (conversation, mode) {
        (None, _) => true,
        (Some(c), Mode::ProfileRules) => c.inbound_count <= 1,
        (Some(c), Mode::Message) => {
            c.inbound_count == 0 || (c.inbound_count == 1 && c.has_seen(&message.dedupe_id()))
        }
    };
    let mut ctx = Ctx {
        rules,
        message,
        now,
        first_message,
        inbound_count: conversation.map_or(0, |c| c.inbound_count),
        tags: conversation.map(|c| c.tags.clone()).unwrap_or_default(),
        status: conversation.map_or(Status::Open, |c| c.status),
        escalated: conversation.is_some_and(|c| c.escalated),
        profile: conversation.and_then(|c| c.profile.as_ref()),
        text,
        folded: text.map(fold),
        explain: trace,
    };
    let mut decision = Decision::default();
    let mut traces = Vec::new();

    for rule in rules.rules() {
        let mut record = |outcome: RuleOutcome| {
            if trace {
                traces.push(RuleTrace {
                    id: rule.id.clone(),
                    line: rule.line,
                    outcome,
                });
            }
        };
        if let Some(stopper) = &decision.stopped_by {
            if !trace {
                break;
            }
            record(RuleOutcome::NotReached {
                stopped_by: stopper.clone(),
            });
            continue;
        }
        if !rule.enabled {
            record(RuleOutcome::Disabled);
            continue;
        }
        if mode == Mode::ProfileRules && !rule.condition.as_ref().is_some_and(|c| c.uses_profile())
        {
            continue;
        }
        let (matched, fact) = match &rule.condition {
            None => (true, String::new()),
            Some(c) => c.eval(&ctx),
        };
        if !matched {
            record(RuleOutcome::NotMatched { reason: fact });
            continue;
        }
        if let Some((once_per, last)) = suppressed(rule, &ctx, conversation) {
            let reason = suppression_reason(once_per, last, rules, message);
            record(RuleOutcome::Suppressed {
                once_per,
                last_fired_ms: last,
                reason,
            });
            continue;
        }
        let why = match &rule.condition {
            None => "no conditions: matches every message".to_string(),
            Some(_) if trace => fact,
            Some(c) => {
                ctx.explain = true;
                let (_, fact) = c.eval(&ctx);
                ctx.explain = false;
                fact
            }
        };
        record(RuleOutcome::Fired {
            why: why.clone(),
            stop: rule.stop,
        });
        fire(rule, why, &mut decision, &mut ctx);
    }
    // An escalation in progress keeps the priority urgent (one the decision also ended, by
    // resolving, does not).
    if decision.escalation.is_some() && ctx.escalated {
        decision.priority = Some(Priority::Urgent);
    }
    (decision, traces)
}

/// Adds a fired rule's actions to the decision and to what later rules see.
fn fire(rule: &Rule, why: String, d: &mut Decision, ctx: &mut Ctx<'_>) {
    d.fired.push(FiredRule {
        id: rule.id.clone(),
        why,
        stop: rule.stop,
    });
    for action in &rule.actions {
        match action {
            // A public comment goes where the message was written (`reply::public::place`).
            Action::Reply(content) => match public::for_message(content, ctx.message) {
                Ok(content) => d.replies.push(PlannedReply {
                    rule_id: rule.id.clone(),
                    content,
                    counts_as_answer: rule.counts_as_answer,
                }),
                Err(why) => d.skipped_replies.push(SkippedReply {
                    rule_id: rule.id.clone(),
                    kind: content.kind(),
                    reason: why.to_string(),
                }),
            },
            Action::Assign { team, priority } => {
                if let Some(t) = team {
                    d.team = Some(t.clone());
                }
                if let Some(p) = priority {
                    d.priority = Some(*p);
                }
            }
            Action::AddTags(tags) => {
                for t in tags {
                    d.tags_removed.remove(t);
                    d.tags_added.insert(t.clone());
                    ctx.tags.insert(t.clone());
                }
            }
            Action::RemoveTags(tags) => {
                for t in tags {
                    d.tags_added.remove(t);
                    d.tags_removed.insert(t.clone());
                    ctx.tags.remove(t);
                }
            }
            Action::Escalate {
                response_target_secs,
            } => {
                ctx.escalated = true;
                match &mut d.escalation {
                    Some(e) => {
                        e.response_target_secs = e.response_target_secs.min(*response_target_secs)
                    }
                    None => {
                        d.escalation = Some(Escalation {
                            rule_id: rule.id.clone(),
                            response_target_secs: *response_target_secs,
                        })
                    }
                }
            }
            Action::SetStatus(s) => {
                d.status = Some(*s);
                d.status_set_by = Some(rule.id.clone());
                ctx.status = *s;
                if *s == Status::Resolved {
                    // Resolving removes the tags the document names (`lifecycle`).
                    for t in ctx.rules.resolve_removes_tags() {
                        d.tags_added.remove(t);
                        d.tags_removed.insert(t.clone());
                        ctx.tags.remove(t);
                    }
                    // ...and ends the escalation episode.
                    ctx.escalated = false;
                }
            }
        }
    }
    if rule.stop {
        d.stopped_by = Some(rule.id.clone());
    }
}

/// When `rule` may not fire (again) yet: its `once_per` and when it last fired (none for a
/// `once_per: escalation` rule outside an escalation).
fn suppressed(
    rule: &Rule,
    ctx: &Ctx<'_>,
    conversation: Option<&Conversation>,
) -> Option<(OncePer, Option<i64>)> {
    let once_per = rule.once_per?;
    if once_per == OncePer::Escalation && !ctx.escalated {
        return Some((once_per, None));
    }
    let last = *conversation?.rule_last_fired.get(&rule.id)?;
    match once_per {
        OncePer::Conversation => Some((once_per, Some(last))),
        OncePer::Day => {
            let tz = ctx.rules.timezone_for_account(&ctx.message.account_id);
            let last_day = DateTime::from_timestamp_millis(last)?
                .with_timezone(&tz)
                .date_naive();
            let today = ctx.now.with_timezone(&tz).date_naive();
            // A last firing "in the future" (clock skew) also counts as today.
            (last_day >= today).then_some((once_per, Some(last)))
        }
        OncePer::Escalation => {
            // The episode in progress began when the stored conversation escalated; one this
            // message's rules began has not seen the rule fire.
            let stored = conversation.filter(|c| c.escalated)?;
            let since = stored.escalated_at?;
            (last >= since).then_some((once_per, Some(last)))
        }
    }
}

fn suppression_reason(
    once_per: OncePer,
    last: Option<i64>,
    rules: &RuleSet,
    message: &NormalizedMessage,
) -> String {
    let tz = rules.timezone_for_account(&message.account_id);
    let Some(last) = last else {
        return "conditions hold, but once_per: escalation and no escalation is in progress"
            .to_string();
    };
    let when = DateTime::from_timestamp_millis(last)
        .map(|t| t.with_timezone(&tz).format("%Y-%m-%d %H:%M %Z").to_string())
        .unwrap_or_else(|| format!("{last} ms"));
    match once_per {
        OncePer::Day => format!(
            "conditions hold, but once_per: day and it already fired today ({when}, {})",
            tz.name()
        ),
        OncePer::Conversation => {
            format!("conditions hold, but once_per: conversation and it already fired ({when})")
        }
        OncePer::Escalation => format!(
            "conditions hold, but once_per: escalation and it already fired in this escalation ({when})"
        ),
    }
}
