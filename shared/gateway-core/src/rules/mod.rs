//! Routing and auto-reply rules: written by ops as YAML data, validated before they go live,
//! evaluated as a pure function of (message, conversation state, now).
//!
//! - [`RuleSet::from_yaml`] parses and validates a document (see `docs/rules.md` for the
//!   format). Every problem carries a line (and column when known) and a plain reason; all
//!   regexes are compiled at load.
//! - [`evaluate`] runs the rules in order against one message and returns a [`Decision`]:
//!   the rules that fired and why, the replies, the final team and priority, tag changes,
//!   escalation and status. A rule that fires with `stop` (the default) ends evaluation.
//! - [`Decision::apply_to`] applies a decision to a [`Conversation`](crate::conversation::Conversation),
//!   including the per-rule memory behind `once_per`.
//! - [`explain`] shows, for every rule, whether it fired or which condition failed, and
//!   [`check`] summarizes a valid document; they back `gatewayctl rules explain` and
//!   `gatewayctl rules check`.
//!
//! Nothing here does I/O or reads the clock.

mod apply;
mod calendar;
mod compile;
mod condition;
mod document;
mod error;
mod evaluate;
mod explain;
mod service_levels;
mod stateless;
mod text;
mod trace;

#[cfg(test)]
mod tests;

pub use calendar::{Calendar, DaySource, HoursCheck, NEXT_OPENING_LOOKAHEAD_DAYS, TimeRange};
pub use document::OncePer;
pub use error::{Problem, RulesError};
pub use evaluate::{
    Decision, Escalation, FiredRule, PlannedReply, SkippedReply, evaluate, evaluate_profile_rules,
    latest_message,
};
pub use explain::{CalendarSummary, CheckSummary, Explanation, check, explain};
pub use service_levels::{
    Clock, MAX_FIRST_RESPONSE_SECS, MAX_RESOLUTION_SECS, ServiceLevel, ServiceLevelDue,
};
pub use trace::{RuleOutcome, RuleTrace};

use crate::conversation::{Priority, Status};
use crate::reply::ReplyContent;
use chrono_tz::Tz;
use condition::Condition;
use std::collections::BTreeMap;

/// The document version this build reads.
pub const SUPPORTED_VERSION: u32 = 1;
/// Response target of `escalate` when the rule gives none, in seconds ("golden 60 seconds").
pub const DEFAULT_RESPONSE_TARGET_SECS: u32 = 60;
/// Longest response target `escalate` accepts, in seconds (one day).
pub const MAX_RESPONSE_TARGET_SECS: u32 = 86_400;
/// Shortest `lifecycle.auto_resolve_pending_after_secs` (one second).
pub const MIN_AUTO_RESOLVE_SECS: u32 = 1;
/// Longest `lifecycle.auto_resolve_pending_after_secs` (90 days).
pub const MAX_AUTO_RESOLVE_SECS: u32 = 90 * 86_400;
/// Largest rules document accepted, in bytes.
pub const MAX_DOCUMENT_BYTES: usize = 1 << 20;
/// Most rules in one document.
pub const MAX_RULES: usize = 1_000;
/// Most keywords in all keyword lists and inline lists together.
pub const MAX_KEYWORDS: usize = 20_000;
/// Longest keyword, in characters.
pub const MAX_KEYWORD_CHARS: usize = 200;
/// Longest regex source, in characters.
pub const MAX_PATTERN_CHARS: usize = 1_000;
/// Compiled size limit of one regex (and of its lazy DFA cache), in bytes.
pub const REGEX_SIZE_LIMIT: usize = 1 << 20;
/// Deepest nesting of `all` / `any` / `not`.
pub const MAX_CONDITION_DEPTH: usize = 16;
/// Text conditions look at no more than this many bytes of a message's text (cut at a
/// character boundary). Platform texts are far shorter; this bounds the work on any input.
pub const MAX_MATCH_TEXT_BYTES: usize = 16 * 1024;

/// A validated rules document, ready to evaluate. Cheap to share (`Arc`) across invocations.
#[derive(Debug, Clone)]
pub struct RuleSet {
    version: u32,
    default_calendar: Option<String>,
    calendars: BTreeMap<String, Calendar>,
    /// account id -> calendar name
    accounts: BTreeMap<String, String>,
    keyword_lists: BTreeMap<String, Vec<String>>,
    /// `lifecycle.resolve_removes_tags`.
    resolve_removes_tags: Vec<String>,
    /// `lifecycle.auto_resolve_pending_after_secs`.
    auto_resolve_pending_after_secs: Option<u32>,
    /// `service_levels`, in order.
    service_levels: Vec<ServiceLevel>,
    rules: Vec<Rule>,
    warnings: Vec<Problem>,
}

impl RuleSet {
    /// Parses and validates a rules document (YAML; JSON is valid YAML too).
    ///
    /// Fails with every problem found, each with its line (and column when known): YAML
    /// syntax, unknown keys, wrong types, invalid regexes, time zones, time ranges and dates,
    /// duplicate rule ids or map keys, references to undefined calendars or keyword lists,
    /// empty conditions, empty replies, and so on. Never panics.
    pub fn from_yaml(text: &str) -> Result<RuleSet, RulesError> {
        compile::compile(text)
    }

    /// Document version.
    pub fn version(&self) -> u32 {
        self.version
    }

    /// The rules, in evaluation order.
    pub fn rules(&self) -> &[Rule] {
        &self.rules
    }

    /// A rule by id.
    pub fn rule(&self, id: &str) -> Option<&Rule> {
        self.rules.iter().find(|r| r.id == id)
    }

    /// A calendar by name.
    pub fn calendar(&self, name: &str) -> Option<&Calendar> {
        self.calendars.get(name)
    }

    /// All calendars by name.
    pub fn calendars(&self) -> &BTreeMap<String, Calendar> {
        &self.calendars
    }

    /// The keyword lists by name (keywords as written).
    pub fn keyword_lists(&self) -> &BTreeMap<String, Vec<String>> {
        &self.keyword_lists
    }

    /// The tags resolving a conversation removes (`lifecycle.resolve_removes_tags`).
    pub fn resolve_removes_tags(&self) -> &[String] {
        &self.resolve_removes_tags
    }

    /// How long an answered conversation may stay pending before it is resolved
    /// automatically (`lifecycle.auto_resolve_pending_after_secs`); never when `None`.
    pub fn auto_resolve_pending_after_secs(&self) -> Option<u32> {
        self.auto_resolve_pending_after_secs
    }

    /// The default calendar's name, for accounts not listed under `accounts`.
    pub fn default_calendar(&self) -> Option<&str> {
        self.default_calendar.as_deref()
    }

    /// The calendar of an account: its own, else the default calendar.
    pub fn calendar_for_account(&self, account_id: &str) -> Option<&Calendar> {
        self.accounts
            .get(account_id)
            .or(self.default_calendar.as_ref())
            .and_then(|name| self.calendars.get(name))
    }

    /// The time zone of an account (that of its calendar), UTC when it has none. Days for
    /// `once_per: day` are counted in this zone.
    pub fn timezone_for_account(&self, account_id: &str) -> Tz {
        self.calendar_for_account(account_id)
            .map_or(Tz::UTC, |c| c.timezone())
    }

    /// Things that are valid but probably not what was meant (unreachable rules, replies a
    /// channel cannot deliver, unknown event names, unused lists…), with their lines.
    pub fn warnings(&self) -> &[Problem] {
        &self.warnings
    }
}

/// One validated rule.
#[derive(Debug, Clone)]
pub struct Rule {
    id: String,
    description: Option<String>,
    enabled: bool,
    condition: Option<Condition>,
    actions: Vec<Action>,
    stop: bool,
    once_per: Option<OncePer>,
    counts_as_answer: bool,
    line: Option<usize>,
}

impl Rule {
    /// Unique id.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// Free-text description.
    pub fn description(&self) -> Option<&str> {
        self.description.as_deref()
    }

    /// False when switched off with `enabled: false` (it is skipped).
    pub fn enabled(&self) -> bool {
        self.enabled
    }

    /// The actions, in order.
    pub fn actions(&self) -> &[Action] {
        &self.actions
    }

    /// True when a firing ends evaluation (default), false to continue with the next rule.
    pub fn stop(&self) -> bool {
        self.stop
    }

    /// How often it may fire per conversation.
    pub fn once_per(&self) -> Option<OncePer> {
        self.once_per
    }

    /// Whether its replies are complete answers (`counts_as_answer: true`): delivered, they
    /// end the customer's wait as a person's answer would.
    pub fn counts_as_answer(&self) -> bool {
        self.counts_as_answer
    }

    /// Line of the rule in the document, when found.
    pub fn line(&self) -> Option<usize> {
        self.line
    }

    /// True when the rule depends on conversation state (first message, tags, status,
    /// escalation, `once_per`). A rule that does not can be decided without loading the
    /// conversation, e.g. for an immediate passive reply in the webhook.
    pub fn uses_conversation_state(&self) -> bool {
        self.once_per.is_some()
            || self
                .condition
                .as_ref()
                .is_some_and(Condition::uses_conversation_state)
    }
}

/// One validated action of a rule.
#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    /// Send a reply.
    Reply(ReplyContent),
    /// Assign to a team and/or set the priority.
    Assign {
        /// New team, when given.
        team: Option<String>,
        /// New priority, when given.
        priority: Option<Priority>,
    },
    /// Add tags.
    AddTags(Vec<String>),
    /// Remove tags.
    RemoveTags(Vec<String>),
    /// Crisis escalation: priority urgent, escalated, answer due within the target.
    Escalate {
        /// Seconds within which an answer is due.
        response_target_secs: u32,
    },
    /// Set the status (`close` is `SetStatus(Resolved)`).
    SetStatus(Status),
}
