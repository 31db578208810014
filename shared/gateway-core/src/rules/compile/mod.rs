//! Validation: from the parsed document to a [`RuleSet`], collecting every problem with its
//! line, plus warnings for valid but suspicious documents.

use super::calendar::Calendar;
use super::condition::{CalendarRef, Condition};
use super::document::{
    ActionItem, ActionSpec, CalendarSpec, ConditionSpec, DocumentSpec, Keyword, RuleSpec,
};
use super::error::{Locator, Problem, RulesError};
use super::text::{KeywordEntry, KeywordSet, fold};
use super::{
    Action, DEFAULT_RESPONSE_TARGET_SECS, MAX_AUTO_RESOLVE_SECS, MAX_CONDITION_DEPTH,
    MAX_DOCUMENT_BYTES, MAX_KEYWORDS, MAX_RESPONSE_TARGET_SECS, MAX_RULES, MIN_AUTO_RESOLVE_SECS,
    Rule, RuleSet, SUPPORTED_VERSION,
};
use crate::conversation::Status;
use crate::message::{Channel, event};
use chrono::Days;
use std::collections::{BTreeMap, BTreeSet, HashMap};

/// The name `within_hours` uses for "the account's calendar"; no calendar may have it.
pub(crate) const ACCOUNT_CALENDAR: &str = "account";

/// Event names the gateway normalizes to (others pass through lowercased).
const KNOWN_EVENTS: &[&str] = &[
    event::FOLLOW,
    event::FOLLOW_BY_SCAN,
    event::UNFOLLOW,
    event::SCAN,
    event::CLICK,
    event::VIEW,
    event::LOCATION,
    event::SUBSCRIBE,
    event::UNSUBSCRIBE,
    event::TEMPLATE_SEND_FINISHED,
    event::MASS_SEND_FINISHED,
];

pub(crate) fn compile(text: &str) -> Result<RuleSet, RulesError> {
    if text.len() > MAX_DOCUMENT_BYTES {
        return Err(RulesError::one(Problem::new(
            None,
            format!(
                "document is {} bytes: at most {MAX_DOCUMENT_BYTES}",
                text.len()
            ),
        )));
    }
    if text.trim().is_empty() {
        return Err(RulesError::one(Problem::new(
            None,
            "document is empty: it needs at least `version: 1` and `rules:`",
        )));
    }
    // Syntax first: the typed pass below reads events as it goes and could report a type
    // error caused by a syntax error further down.
    serde_norway::from_str::<serde_norway::Value>(text).map_err(|e| yaml_error(text, &e))?;
    let doc: DocumentSpec = serde_norway::from_str(text).map_err(|e| yaml_error(text, &e))?;
    Compiler {
        loc: Locator::new(text),
        problems: Vec::new(),
        warnings: Vec::new(),
        keywords: 0,
        used_lists: BTreeSet::new(),
        used_calendars: BTreeSet::new(),
    }
    .run(doc)
}

/// A parser error as a [`RulesError`], with a hint for the classic unquoted `@list`.
fn yaml_error(text: &str, e: &serde_norway::Error) -> RulesError {
    let mut location = e.location().map(|l| (l.line(), l.column()));
    let mut reason = e.to_string();
    if let Some((line, column)) = location {
        reason = reason.replacen(&format!(" at line {line} column {column}"), "", 1);
        // Inside replies (an internally tagged enum) the parser only knows where the mapping
        // starts; point at the unknown key itself when it is in that block.
        if let Some(key) = reason
            .split_once("duplicate entry with key \"")
            .and_then(|(_, rest)| rest.split_once('"'))
            .map(|(key, _)| key.to_string())
        {
            reason = reason.replacen(
                "duplicate entry with key",
                "a key is given twice in the same mapping (keep one):",
                1,
            );
            if let Some(at) = second_key_in_mapping(text, line, &key) {
                location = Some(at);
            }
        }
        let unknown = reason
            .split_once("unknown field `")
            .and_then(|(_, rest)| rest.split_once('`'))
            .map(|(field, _)| field.to_string());
        if let Some(at) = unknown.and_then(|field| key_in_block(text, line, &field)) {
            location = Some(at);
        }
    }
    if reason.contains("cannot start any token") {
        let at = location.and_then(|(l, c)| {
            text.lines()
                .nth(l.saturating_sub(1))
                .and_then(|s| s.chars().nth(c.saturating_sub(1)))
        });
        if at == Some('@') {
            reason.push_str(" (values starting with @ must be quoted in YAML: \"@crisis\")");
        }
    }
    RulesError::one(Problem::new(location, reason))
}

/// Position of `key:` in the block that starts at 1-based `line`: that line and the following
/// lines indented deeper than it.
fn key_in_block(text: &str, line: usize, key: &str) -> Option<(usize, usize)> {
    let lines: Vec<&str> = text.lines().collect();
    let start = line.checked_sub(1)?;
    let indent = |l: &str| l.len() - l.trim_start().len();
    let base = indent(lines.get(start)?);
    let mut end = start + 1;
    while end < lines.len() {
        let l = lines[end];
        if !l.trim().is_empty() && !l.trim_start().starts_with('#') && indent(l) <= base {
            break;
        }
        end += 1;
    }
    let loc = Locator::new(text);
    loc.key_in((start, end), key, 0)
}

/// Position of the second `key:` in the mapping whose first key is at 1-based `line`.
fn second_key_in_mapping(text: &str, line: usize, key: &str) -> Option<(usize, usize)> {
    let lines: Vec<&str> = text.lines().collect();
    let start = line.checked_sub(1)?;
    let indent = |l: &str| l.len() - l.trim_start().len();
    let base = indent(lines.get(start)?);
    let mut end = start + 1;
    while end < lines.len() {
        let l = lines[end];
        if !l.trim().is_empty() && !l.trim_start().starts_with('#') && indent(l) < base {
            break;
        }
        end += 1;
    }
    Locator::new(text).key_in((start, end), key, 1)
}

pub(super) struct Compiler<'a> {
    loc: Locator<'a>,
    problems: Vec<Problem>,
    warnings: Vec<Problem>,
    keywords: usize,
    used_lists: BTreeSet<String>,
    used_calendars: BTreeSet<String>,
}

/// Where we are inside a rule, for messages and line lookup.
#[derive(Clone, Copy)]
struct At<'r> {
    index: usize,
    id: &'r str,
}

impl<'a> Compiler<'a> {
    pub(super) fn error(&mut self, at: Option<(usize, usize)>, reason: impl Into<String>) {
        self.problems.push(Problem::new(at, reason));
    }

    pub(super) fn warn(&mut self, at: Option<(usize, usize)>, reason: impl Into<String>) {
        self.warnings.push(Problem::new(at, reason));
    }

    pub(super) fn run(mut self, doc: DocumentSpec) -> Result<RuleSet, RulesError> {
        if doc.version != SUPPORTED_VERSION {
            let at = self.loc.top_key("version");
            self.error(
                at,
                format!(
                    "unsupported version {}: this gateway reads version {SUPPORTED_VERSION}",
                    doc.version
                ),
            );
        }

        // Calendars.
        let mut calendars = BTreeMap::new();
        for (name, spec) in doc.calendars {
            if let Some(cal) = self.calendar(&name.0, spec) {
                calendars.insert(name.0, cal);
            }
        }

        // Keyword lists (flat: entries are literal keywords).
        let mut lists: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for (name, words) in doc.keyword_lists {
            let at = self.loc.entry("keyword_lists", &name.0, 0);
            if words.is_empty() {
                self.error(at, format!("keyword list `{name}` is empty"));
            }
            let mut out = Vec::with_capacity(words.len());
            for Keyword(w) in words {
                if let Some(lit) = w.strip_prefix("@@") {
                    out.push(format!("@{lit}"));
                } else if w.starts_with('@') {
                    self.error(
                        at,
                        format!(
                            "keyword list `{name}` contains {w:?}: lists cannot include other \
                             lists; to match a literal @, write @@"
                        ),
                    );
                } else {
                    out.push(w);
                }
            }
            self.keywords += out.len();
            lists.insert(name.0, out);
        }

        // Calendar references outside rules.
        let default_calendar = doc.default_calendar.map(|n| n.0);
        if let Some(name) = &default_calendar {
            if !calendars.contains_key(name) {
                let at = self.loc.top_key("default_calendar");
                let known = known(calendars.keys());
                self.error(
                    at,
                    format!("default_calendar `{name}` is not defined under `calendars` ({known})"),
                );
            }
            self.used_calendars.insert(name.clone());
        }
        let mut accounts = BTreeMap::new();
        for (account, spec) in doc.accounts {
            let cal = spec.calendar.0;
            if !calendars.contains_key(&cal) {
                let at = self
                    .loc
                    .section("accounts")
                    .and_then(|s| self.loc.text_in(s, &cal, 0));
                let known = known(calendars.keys());
                self.error(
                    at,
                    format!(
                        "account `{account}` uses calendar `{cal}`, which is not defined under \
                         `calendars` ({known})"
                    ),
                );
            }
            self.used_calendars.insert(cal.clone());
            accounts.insert(account.0, cal);
        }

        let service_levels =
            self.service_levels(doc.service_levels, &accounts, default_calendar.is_some());
        let auto_resolve_pending_after_secs = doc.lifecycle.auto_resolve_pending_after_secs;
        if let Some(secs) = auto_resolve_pending_after_secs
            && !(MIN_AUTO_RESOLVE_SECS..=MAX_AUTO_RESOLVE_SECS).contains(&secs)
        {
            let at = self
                .loc
                .section("lifecycle")
                .and_then(|span| self.loc.key_in(span, "auto_resolve_pending_after_secs", 0));
            self.error(
                at,
                format!(
                    "lifecycle.auto_resolve_pending_after_secs is {secs}: from \
                     {MIN_AUTO_RESOLVE_SECS} to {MAX_AUTO_RESOLVE_SECS} seconds"
                ),
            );
        }

        // Rules.
        if doc.rules.len() > MAX_RULES {
            let at = self.loc.top_key("rules");
            self.error(
                at,
                format!("{} rules: at most {MAX_RULES}", doc.rules.len()),
            );
        }
        let env = Env {
            calendars: &calendars,
            lists: &lists,
            has_default_calendar: default_calendar.is_some(),
        };
        let mut rules = Vec::with_capacity(doc.rules.len());
        let mut first_index: HashMap<String, usize> = HashMap::new();
        for (index, spec) in doc.rules.into_iter().enumerate() {
            let id = spec.id.0.clone();
            let at_rule = self.loc.rule(index, &id);
            if let Some(&first) = first_index.get(&id) {
                let first_line = self
                    .loc
                    .rule(first, &id)
                    .map(|(l, _)| format!(" (first at line {l})"))
                    .unwrap_or_default();
                self.error(
                    at_rule,
                    format!("duplicate rule id `{id}`{first_line}: rule ids must be unique"),
                );
            } else {
                first_index.insert(id.clone(), index);
            }
            if let Some(rule) = self.rule(At { index, id: &id }, spec, &env) {
                rules.push(Rule {
                    line: at_rule.map(|a| a.0),
                    ..rule
                });
            }
        }
        if self.keywords > MAX_KEYWORDS {
            self.error(
                None,
                format!(
                    "{} keywords in total: at most {MAX_KEYWORDS}",
                    self.keywords
                ),
            );
        }

        if !self.problems.is_empty() {
            let mut problems = self.problems;
            problems.sort_by_key(|p| (p.line.unwrap_or(usize::MAX), p.column.unwrap_or(0)));
            return Err(RulesError { problems });
        }

        self.lint(&rules, &calendars, &lists, default_calendar.is_some());
        let mut warnings = self.warnings;
        warnings.sort_by_key(|p| (p.line.unwrap_or(usize::MAX), p.column.unwrap_or(0)));
        Ok(RuleSet {
            version: doc.version,
            default_calendar,
            calendars,
            accounts,
            keyword_lists: lists,
            resolve_removes_tags: doc
                .lifecycle
                .resolve_removes_tags
                .into_iter()
                .map(|t| t.0)
                .collect(),
            auto_resolve_pending_after_secs,
            service_levels,
            rules,
            warnings,
        })
    }
}

mod conditions;
mod definitions;
mod lint;
mod service_levels;

struct Env<'e> {
    calendars: &'e BTreeMap<String, Calendar>,
    lists: &'e BTreeMap<String, Vec<String>>,
    has_default_calendar: bool,
}

fn known<'k>(names: impl Iterator<Item = &'k String>) -> String {
    let names: Vec<&str> = names.map(String::as_str).collect();
    if names.is_empty() {
        "none are defined".into()
    } else {
        format!("defined: {}", names.join(", "))
    }
}
