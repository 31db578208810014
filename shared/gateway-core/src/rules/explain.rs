//! Explaining a decision rule by rule (`gatewayctl rules explain`) and summarizing a valid
//! document (`gatewayctl rules check`).

use super::evaluate::run;
use super::trace::{RuleOutcome, RuleTrace};
use super::{Decision, Problem, RuleSet, RulesError, ServiceLevel, ServiceLevelDue};
use crate::conversation::Conversation;
use crate::message::{Content, NormalizedMessage};
use crate::reply::quote_short;
use chrono::{DateTime, Utc};
use serde::Serialize;
use std::fmt;

/// What happened to every rule for one message, and the resulting decision. `Display` gives
/// the report `gatewayctl rules explain` prints; `Serialize` gives it as JSON.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Explanation {
    /// The evaluation time.
    pub at: DateTime<Utc>,
    /// One line about the message.
    pub message: String,
    /// One line about the conversation state the rules saw.
    pub conversation: String,
    /// Every rule, in order.
    pub rules: Vec<RuleTrace>,
    /// The decision, exactly as [`super::evaluate`] returns it.
    pub decision: Decision,
    /// The service level that applies once the decision is applied, with its due times.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub service_level: Option<ServiceLevelDue>,
    /// The account's time zone (due times are shown in it).
    #[serde(skip)]
    pub timezone: chrono_tz::Tz,
}

/// Evaluates like [`super::evaluate`] and reports, for every rule, whether it fired or why
/// not, with the final decision.
pub fn explain(
    rules: &RuleSet,
    message: &NormalizedMessage,
    conversation: Option<&Conversation>,
    now: DateTime<Utc>,
) -> Explanation {
    let (decision, traces) = run(rules, message, conversation, now, true);
    let tz = rules.timezone_for_account(&message.account_id);
    let local = now.with_timezone(&tz);
    let what = match &message.content {
        Content::Event { event, key, .. } => match key {
            Some(k) => format!("event {event} (key {})", quote_short(k, 40)),
            None => format!("event {event}"),
        },
        c => match c.text() {
            Some(t) => format!("{} {}", c.kind(), quote_short(t, 60)),
            None => c.kind().to_string(),
        },
    };
    let message_line = format!(
        "{}/{} from {}: {what} at {} ({} {})",
        message.channel,
        message.account_id,
        message.sender_id,
        now.format("%Y-%m-%dT%H:%M:%SZ"),
        local.format("%a %Y-%m-%d %H:%M"),
        tz.name()
    );
    let conversation_line = match conversation {
        None => "new (this is its first message)".to_string(),
        Some(c) => {
            let tags: Vec<&str> = c.tags.iter().map(String::as_str).collect();
            format!(
                "{}, team {}, priority {}, tags [{}], {} inbound before this one{}",
                c.status.as_str(),
                c.team.as_deref().unwrap_or("none"),
                priority_name(c.priority),
                tags.join(", "),
                c.inbound_count,
                if c.escalated { ", escalated" } else { "" }
            )
        }
    };
    // The conversation as the router would store it: the message recorded, the decision and
    // the service level applied.
    let mut after = conversation
        .cloned()
        .unwrap_or_else(|| Conversation::new_for(message));
    after.record_inbound(message);
    decision.apply_to(&mut after, now.timestamp_millis());
    let service_level = rules.apply_service_level(&mut after);
    Explanation {
        at: now,
        message: message_line,
        conversation: conversation_line,
        rules: traces,
        decision,
        service_level,
        timezone: tz,
    }
}

/// `2026-09-28 13:50 CST` in the account's time zone.
fn local_time(ms: i64, tz: chrono_tz::Tz) -> String {
    DateTime::from_timestamp_millis(ms).map_or_else(
        || format!("{ms} ms"),
        |t| t.with_timezone(&tz).format("%Y-%m-%d %H:%M %Z").to_string(),
    )
}

fn priority_name(p: crate::conversation::Priority) -> &'static str {
    use crate::conversation::Priority::*;
    match p {
        Low => "low",
        Normal => "normal",
        High => "high",
        Urgent => "urgent",
    }
}

impl fmt::Display for Explanation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "message:      {}", self.message)?;
        writeln!(f, "conversation: {}", self.conversation)?;
        writeln!(f)?;
        let width = self.rules.iter().map(|r| r.id.len()).max().unwrap_or(0);
        for (i, r) in self.rules.iter().enumerate() {
            let line = r.line.map(|l| format!("line {l}")).unwrap_or_default();
            let (label, detail) = match &r.outcome {
                RuleOutcome::Fired { why, stop: true } => ("FIRED, stop", why.clone()),
                RuleOutcome::Fired { why, stop: false } => ("FIRED, continue", why.clone()),
                RuleOutcome::NotMatched { reason } => ("no match", reason.clone()),
                RuleOutcome::Suppressed { reason, .. } => ("suppressed", reason.clone()),
                RuleOutcome::Disabled => ("disabled", String::new()),
                RuleOutcome::NotReached { stopped_by } => {
                    ("not reached", format!("stopped by `{stopped_by}`"))
                }
            };
            writeln!(
                f,
                "{:>3}. {:<width$}  {:<9}  {label}{}{detail}",
                i + 1,
                r.id,
                line,
                if detail.is_empty() { "" } else { ": " },
            )?;
        }
        writeln!(f)?;
        write!(f, "{}", DecisionDisplay(&self.decision))?;
        match &self.service_level {
            None => writeln!(f, "service level: none applies"),
            Some(sl) => {
                let due = |label: &str, at: Option<i64>| match at {
                    Some(ms) => format!(", {label} due {}", local_time(ms, self.timezone)),
                    None => String::new(),
                };
                writeln!(
                    f,
                    "service level: {} ({}){}{}",
                    sl.policy,
                    sl.clock.as_str(),
                    due("answer", sl.response_due_at),
                    due("resolution", sl.resolution_due_at),
                )
            }
        }
    }
}

/// The decision part of an explanation.
struct DecisionDisplay<'a>(&'a Decision);

impl fmt::Display for DecisionDisplay<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let d = self.0;
        if d.is_empty() {
            return writeln!(f, "decision: no rule fired; nothing to do");
        }
        writeln!(f, "decision:")?;
        writeln!(f, "  fired:    {}", d.fired_ids().join(", "))?;
        if d.replies.is_empty() {
            writeln!(f, "  replies:  none")?;
        } else {
            writeln!(f, "  replies:")?;
            for (i, r) in d.replies.iter().enumerate() {
                writeln!(f, "    {}. [{}] {}", i + 1, r.rule_id, r.content.summary())?;
            }
        }
        for r in &d.skipped_replies {
            writeln!(
                f,
                "  skipped:  [{}] {} reply: {}",
                r.rule_id, r.kind, r.reason
            )?;
        }
        if d.team.is_some() || d.priority.is_some() {
            writeln!(
                f,
                "  assign:   team {}, priority {}",
                d.team.as_deref().unwrap_or("(unchanged)"),
                d.priority.map_or("(unchanged)", priority_name)
            )?;
        }
        if !d.tags_added.is_empty() || !d.tags_removed.is_empty() {
            let mut parts: Vec<String> = d.tags_added.iter().map(|t| format!("+{t}")).collect();
            parts.extend(d.tags_removed.iter().map(|t| format!("-{t}")));
            writeln!(f, "  tags:     {}", parts.join(" "))?;
        }
        if let Some(e) = &d.escalation {
            writeln!(
                f,
                "  escalate: answer within {}s (by `{}`)",
                e.response_target_secs, e.rule_id
            )?;
        }
        if let Some(s) = d.status {
            writeln!(f, "  status:   {}", s.as_str())?;
        }
        Ok(())
    }
}

/// A summary of a valid rules document, for `gatewayctl rules check`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CheckSummary {
    /// Document version.
    pub version: u32,
    /// Number of rules.
    pub rules: usize,
    /// Number of enabled rules.
    pub enabled_rules: usize,
    /// Calendars: name, time zone, holidays, exceptional days.
    pub calendars: Vec<CalendarSummary>,
    /// The default calendar.
    pub default_calendar: Option<String>,
    /// Accounts with their own calendar.
    pub accounts: usize,
    /// Keyword lists: name and number of keywords.
    pub keyword_lists: Vec<(String, usize)>,
    /// Service-level policies, in order.
    pub service_levels: Vec<ServiceLevel>,
    /// Tags a resolution removes.
    pub resolve_removes_tags: Vec<String>,
    /// Warnings (the document is valid, but probably not as meant).
    pub warnings: Vec<Problem>,
}

/// One calendar in a [`CheckSummary`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CalendarSummary {
    /// Name.
    pub name: String,
    /// IANA time zone.
    pub timezone: String,
    /// Holiday dates.
    pub holidays: usize,
    /// Exceptional dates.
    pub exceptions: usize,
}

impl RuleSet {
    /// Summarizes the document.
    pub fn summary(&self) -> CheckSummary {
        CheckSummary {
            version: self.version,
            rules: self.rules.len(),
            enabled_rules: self.rules.iter().filter(|r| r.enabled()).count(),
            calendars: self
                .calendars
                .values()
                .map(|c| CalendarSummary {
                    name: c.name().to_string(),
                    timezone: c.timezone().name().to_string(),
                    holidays: c.holiday_count(),
                    exceptions: c.exception_count(),
                })
                .collect(),
            default_calendar: self.default_calendar.clone(),
            accounts: self.accounts.len(),
            keyword_lists: self
                .keyword_lists
                .iter()
                .map(|(k, v)| (k.clone(), v.len()))
                .collect(),
            service_levels: self.service_levels.clone(),
            resolve_removes_tags: self.resolve_removes_tags.clone(),
            warnings: self.warnings.clone(),
        }
    }
}

/// Validates a document and summarizes it (`gatewayctl rules check FILE`).
pub fn check(text: &str) -> Result<CheckSummary, RulesError> {
    RuleSet::from_yaml(text).map(|r| r.summary())
}

impl fmt::Display for CheckSummary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "OK: version {}, {} rules ({} enabled)",
            self.version, self.rules, self.enabled_rules
        )?;
        if self.calendars.is_empty() {
            writeln!(f, "calendars: none")?;
        } else {
            writeln!(f, "calendars:")?;
            for c in &self.calendars {
                let default = if self.default_calendar.as_deref() == Some(c.name.as_str()) {
                    " (default)"
                } else {
                    ""
                };
                writeln!(
                    f,
                    "  {}{default}: {}, {} holiday dates, {} exceptional days",
                    c.name, c.timezone, c.holidays, c.exceptions
                )?;
            }
        }
        writeln!(f, "accounts with their own calendar: {}", self.accounts)?;
        if self.keyword_lists.is_empty() {
            writeln!(f, "keyword lists: none")?;
        } else {
            let lists: Vec<String> = self
                .keyword_lists
                .iter()
                .map(|(n, c)| format!("{n} ({c})"))
                .collect();
            writeln!(f, "keyword lists: {}", lists.join(", "))?;
        }
        if self.service_levels.is_empty() {
            writeln!(f, "service levels: none")?;
        } else {
            writeln!(f, "service levels (the first that matches applies):")?;
            for p in &self.service_levels {
                let secs = |label: &str, v: Option<u32>| v.map(|s| format!(", {label} {s}s"));
                writeln!(
                    f,
                    "  {} ({}){}{}",
                    p.id,
                    p.clock.as_str(),
                    secs("first response", p.first_response_secs).unwrap_or_default(),
                    secs("resolution", p.resolution_secs).unwrap_or_default(),
                )?;
            }
        }
        if !self.resolve_removes_tags.is_empty() {
            writeln!(
                f,
                "resolving removes tags: {}",
                self.resolve_removes_tags.join(", ")
            )?;
        }
        for w in &self.warnings {
            writeln!(f, "warning: {w}")?;
        }
        Ok(())
    }
}
