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
    Action, DEFAULT_RESPONSE_TARGET_SECS, MAX_CONDITION_DEPTH, MAX_DOCUMENT_BYTES, MAX_KEYWORDS,
    MAX_RESPONSE_TARGET_SECS, MAX_RULES, Rule, RuleSet, SUPPORTED_VERSION,
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

struct Compiler<'a> {
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
    fn error(&mut self, at: Option<(usize, usize)>, reason: impl Into<String>) {
        self.problems.push(Problem::new(at, reason));
    }

    fn warn(&mut self, at: Option<(usize, usize)>, reason: impl Into<String>) {
        self.warnings.push(Problem::new(at, reason));
    }

    fn run(mut self, doc: DocumentSpec) -> Result<RuleSet, RulesError> {
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
            rules,
            warnings,
        })
    }

    fn calendar(&mut self, name: &str, spec: CalendarSpec) -> Option<Calendar> {
        let at = self.loc.entry("calendars", name, 0);
        if name == ACCOUNT_CALENDAR {
            self.error(
                at,
                "the calendar name `account` is reserved: `within_hours: account` means the \
                 message account's calendar",
            );
            return None;
        }
        let mut holidays = Vec::new();
        for h in &spec.holidays {
            let mut d = h.first;
            while d <= h.last {
                holidays.push(d);
                match d.checked_add_days(Days::new(1)) {
                    Some(next) => d = next,
                    None => break,
                }
            }
        }
        let exceptions = spec
            .exceptions
            .into_iter()
            .map(|(d, ranges)| (d.0, ranges))
            .collect();
        match Calendar::new(
            name,
            spec.timezone.0,
            spec.weekly.days(),
            holidays,
            exceptions,
        ) {
            Ok(cal) => Some(cal),
            Err(errors) => {
                for e in errors {
                    self.error(at, format!("calendar `{name}`: {e}"));
                }
                None
            }
        }
    }

    fn rule(&mut self, at: At<'_>, spec: RuleSpec, env: &Env<'_>) -> Option<Rule> {
        let before = self.problems.len();
        let condition = match spec.when {
            None => None,
            Some(None) => {
                let pos = self.loc.in_rule(at.index, at.id, "when", 0);
                self.error(
                    pos,
                    format!(
                        "rule `{}`: `when` is empty; remove it to match every message",
                        at.id
                    ),
                );
                None
            }
            Some(Some(c)) => self.condition(at, c, env, "when", 1),
        };
        let mut actions = Vec::with_capacity(spec.then.len());
        let mut counts: HashMap<&'static str, usize> = HashMap::new();
        for (n, ActionItem(item)) in spec.then.into_iter().enumerate() {
            if let Some(a) = self.action(at, n, item, &mut counts) {
                actions.push(a);
            }
        }
        if self.problems.len() > before {
            return None;
        }
        Some(Rule {
            id: spec.id.0,
            description: spec.description,
            enabled: spec.enabled,
            condition,
            actions,
            stop: spec.stop.unwrap_or(true),
            once_per: spec.once_per,
            line: None,
        })
    }

    fn action(
        &mut self,
        at: At<'_>,
        n: usize,
        item: ActionSpec,
        counts: &mut HashMap<&'static str, usize>,
    ) -> Option<Action> {
        let keys = item.keys();
        let key = match keys.as_slice() {
            [one] => *one,
            [] => {
                let pos = self.loc.in_rule(at.index, at.id, "then", 0);
                self.error(pos, format!("rule `{}`: action {} is empty", at.id, n + 1));
                return None;
            }
            many => {
                let pos = self.loc.in_rule(at.index, at.id, many[1], 0);
                self.error(
                    pos,
                    format!(
                        "rule `{}`: action {} has {} keys ({}): write one action per `-` item",
                        at.id,
                        n + 1,
                        many.len(),
                        many.join(", ")
                    ),
                );
                return None;
            }
        };
        let nth = counts.entry(key).or_insert(0);
        let pos = self.loc.in_rule(at.index, at.id, key, *nth);
        *nth += 1;
        let ActionSpec {
            reply,
            assign,
            add_tags,
            remove_tags,
            escalate,
            set_status,
            close,
        } = item;
        if let Some(content) = reply {
            if let Err(e) = content.validate() {
                self.error(pos, format!("rule `{}`: reply: {e}", at.id));
                return None;
            }
            return Some(Action::Reply(content));
        }
        if let Some(a) = assign {
            if a.team.is_none() && a.priority.is_none() {
                self.error(
                    pos,
                    format!("rule `{}`: assign needs a team, a priority or both", at.id),
                );
                return None;
            }
            return Some(Action::Assign {
                team: a.team.map(|t| t.0.trim().to_string()),
                priority: a.priority,
            });
        }
        if let Some(tags) = add_tags {
            return Some(Action::AddTags(
                tags.0.into_iter().map(|t| t.0.trim().to_string()).collect(),
            ));
        }
        if let Some(tags) = remove_tags {
            return Some(Action::RemoveTags(
                tags.0.into_iter().map(|t| t.0.trim().to_string()).collect(),
            ));
        }
        if let Some(e) = escalate {
            let secs = e
                .and_then(|e| e.response_target_secs)
                .unwrap_or(DEFAULT_RESPONSE_TARGET_SECS);
            if secs == 0 || secs > MAX_RESPONSE_TARGET_SECS {
                self.error(
                    pos,
                    format!(
                        "rule `{}`: response_target_secs {secs} must be between 1 and \
                         {MAX_RESPONSE_TARGET_SECS}",
                        at.id
                    ),
                );
                return None;
            }
            return Some(Action::Escalate {
                response_target_secs: secs,
            });
        }
        if let Some(s) = set_status {
            return Some(Action::SetStatus(s));
        }
        if close.is_some() {
            return Some(Action::SetStatus(Status::Resolved));
        }
        None
    }

    fn condition(
        &mut self,
        at: At<'_>,
        spec: ConditionSpec,
        env: &Env<'_>,
        path: &str,
        depth: usize,
    ) -> Option<Condition> {
        if depth > MAX_CONDITION_DEPTH {
            let pos = self.loc.rule(at.index, at.id);
            self.error(
                pos,
                format!(
                    "rule `{}`: {path} nests deeper than {MAX_CONDITION_DEPTH} levels",
                    at.id
                ),
            );
            return None;
        }
        let ConditionSpec {
            channel,
            account,
            kind,
            event,
            event_regex,
            event_key,
            event_key_regex,
            text,
            text_contains_any,
            text_regex,
            sender,
            within_hours,
            first_message,
            has_tags,
            status,
            escalated,
            all,
            any,
            not,
        } = spec;
        let mut parts: Vec<Condition> = Vec::new();
        let mut failed = false;
        let strings = |v: Vec<super::document::NonEmpty>| v.into_iter().map(|s| s.0).collect();
        if let Some(v) = channel {
            parts.push(Condition::Channel(v.0));
        }
        if let Some(v) = account {
            parts.push(Condition::Account(strings(v.0)));
        }
        if let Some(v) = kind {
            parts.push(Condition::Kind(v.0));
        }
        if let Some(v) = event {
            let names: Vec<String> = strings(v.0);
            for e in &names {
                if e.chars().any(|c| c.is_uppercase()) {
                    let pos = self.loc.text_in_rule(at.index, at.id, e);
                    self.error(
                        pos,
                        format!(
                            "rule `{}`: {path}.event {e:?}: event names are lowercase (the \
                             normalized names, e.g. follow, click)",
                            at.id
                        ),
                    );
                    failed = true;
                }
            }
            parts.push(Condition::Event(names));
        }
        if let Some(p) = event_regex {
            parts.push(Condition::EventRegex(p.regex));
        }
        if let Some(v) = event_key {
            parts.push(Condition::EventKey(strings(v.0)));
        }
        if let Some(p) = event_key_regex {
            parts.push(Condition::EventKeyRegex(p.regex));
        }
        if let Some(v) = text {
            match self.keywords(at, v.0, env, "text") {
                Some(set) => parts.push(Condition::Text(set)),
                None => failed = true,
            }
        }
        if let Some(v) = text_contains_any {
            match self.keywords(at, v.0, env, "text_contains_any") {
                Some(set) => parts.push(Condition::TextContainsAny(set)),
                None => failed = true,
            }
        }
        if let Some(p) = text_regex {
            parts.push(Condition::TextRegex(p.regex));
        }
        if let Some(v) = sender {
            parts.push(Condition::Sender(strings(v.0)));
        }
        if let Some(name) = within_hours {
            let name = name.0;
            if name == ACCOUNT_CALENDAR {
                if !env.has_default_calendar {
                    let pos = self.loc.in_rule(at.index, at.id, "within_hours", 0);
                    self.error(
                        pos,
                        format!(
                            "rule `{}`: `within_hours: account` needs `default_calendar`, for \
                             accounts not listed under `accounts`",
                            at.id
                        ),
                    );
                    failed = true;
                }
                parts.push(Condition::WithinHours(CalendarRef::Account));
            } else if env.calendars.contains_key(&name) {
                self.used_calendars.insert(name.clone());
                parts.push(Condition::WithinHours(CalendarRef::Named(name)));
            } else {
                let pos = self.loc.in_rule(at.index, at.id, "within_hours", 0);
                let known = known(env.calendars.keys());
                self.error(
                    pos,
                    format!(
                        "rule `{}`: {path}.within_hours: unknown calendar `{name}` ({known}; or \
                         `account` for the account's own calendar)",
                        at.id
                    ),
                );
                failed = true;
            }
        }
        if let Some(b) = first_message {
            parts.push(Condition::FirstMessage(b));
        }
        if let Some(v) = has_tags {
            parts.push(Condition::HasTags(
                v.0.into_iter().map(|t| t.0.trim().to_string()).collect(),
            ));
        }
        if let Some(v) = status {
            parts.push(Condition::Status(v.0));
        }
        if let Some(b) = escalated {
            parts.push(Condition::Escalated(b));
        }
        for (key, list) in [("all", all), ("any", any)] {
            let Some(list) = list else { continue };
            if list.is_empty() {
                let pos = self.loc.in_rule(at.index, at.id, key, 0);
                self.error(
                    pos,
                    format!("rule `{}`: {path}.{key} is an empty list", at.id),
                );
                failed = true;
                continue;
            }
            let mut children = Vec::with_capacity(list.len());
            for (i, c) in list.into_iter().enumerate() {
                match self.condition(at, c, env, &format!("{path}.{key}[{i}]"), depth + 1) {
                    Some(c) => children.push(c),
                    None => failed = true,
                }
            }
            parts.push(if key == "all" {
                Condition::All(children)
            } else {
                Condition::Any(children)
            });
        }
        if let Some(c) = not {
            match self.condition(at, *c, env, &format!("{path}.not"), depth + 1) {
                Some(c) => parts.push(Condition::Not(Box::new(c))),
                None => failed = true,
            }
        }
        if failed {
            return None;
        }
        match parts.len() {
            0 => {
                let pos = self.loc.rule(at.index, at.id);
                self.error(
                    pos,
                    format!(
                        "rule `{}`: {path} is an empty condition; give at least one condition \
                         (or remove `when` to match every message)",
                        at.id
                    ),
                );
                None
            }
            1 => parts.pop(),
            _ => Some(Condition::All(parts)),
        }
    }

    fn keywords(
        &mut self,
        at: At<'_>,
        written: Vec<Keyword>,
        env: &Env<'_>,
        key: &str,
    ) -> Option<KeywordSet> {
        let written: Vec<String> = written.into_iter().map(|k| k.0).collect();
        let mut entries = Vec::new();
        let mut ok = true;
        for w in &written {
            if let Some(lit) = w.strip_prefix("@@") {
                let original = format!("@{lit}");
                entries.push(KeywordEntry {
                    folded: fold(&original),
                    original,
                    list: None,
                });
            } else if let Some(name) = w.strip_prefix('@') {
                match env.lists.get(name) {
                    Some(words) => {
                        self.used_lists.insert(name.to_string());
                        entries.extend(words.iter().map(|k| KeywordEntry {
                            folded: fold(k),
                            original: k.clone(),
                            list: Some(name.to_string()),
                        }));
                    }
                    None => {
                        let pos = self.loc.text_in_rule(at.index, at.id, w);
                        let known = known(env.lists.keys());
                        self.error(
                            pos,
                            format!(
                                "rule `{}`: {key}: unknown keyword list `{w}` ({known}); to match \
                                 a literal @, write @@",
                                at.id
                            ),
                        );
                        ok = false;
                    }
                }
            } else {
                self.keywords += 1;
                entries.push(KeywordEntry {
                    folded: fold(w),
                    original: w.clone(),
                    list: None,
                });
            }
        }
        ok.then(|| KeywordSet::new(entries, &written))
    }

    fn lint(
        &mut self,
        rules: &[Rule],
        calendars: &BTreeMap<String, Calendar>,
        lists: &BTreeMap<String, Vec<String>>,
        has_default_calendar: bool,
    ) {
        let mut catch_all: Option<&Rule> = None;
        for (index, rule) in rules.iter().enumerate() {
            let pos = rule.line.map(|l| (l, 1));
            if let Some(c) = catch_all {
                if rule.enabled {
                    let line = c.line.map(|l| format!(" (line {l})")).unwrap_or_default();
                    self.warn(
                        pos,
                        format!(
                            "rule `{}` can never fire: rule `{}`{line} matches every message \
                             and stops",
                            rule.id, c.id
                        ),
                    );
                }
            } else if rule.enabled
                && rule.condition.is_none()
                && rule.stop
                && rule.once_per.is_none()
            {
                catch_all = Some(rule);
            }
            if rule.actions.is_empty() && !rule.stop {
                self.warn(
                    pos,
                    format!(
                        "rule `{}` has no actions and does not stop: it has no effect",
                        rule.id
                    ),
                );
            }
            let channels = rule
                .condition
                .as_ref()
                .and_then(Condition::possible_channels)
                .unwrap_or_else(|| [Channel::WeChat, Channel::Weibo].into());
            for action in &rule.actions {
                if let Action::Reply(content) = action {
                    for ch in &channels {
                        if !content.supported_on(*ch) {
                            let at = self.loc.in_rule(index, &rule.id, "reply", 0);
                            self.warn(
                                at,
                                format!(
                                    "rule `{}`: {} replies cannot be delivered on {ch}; add \
                                     `channel: {}` to its conditions",
                                    rule.id,
                                    content.kind(),
                                    if *ch == Channel::WeChat {
                                        "weibo"
                                    } else {
                                        "wechat"
                                    }
                                ),
                            );
                        }
                    }
                }
            }
            if let Some(c) = &rule.condition {
                let mut unknown_events = Vec::new();
                c.walk(&mut |c| {
                    if let Condition::Event(names) = c {
                        for n in names {
                            if !KNOWN_EVENTS.contains(&n.as_str()) {
                                unknown_events.push(n.clone());
                            }
                        }
                    }
                });
                for e in unknown_events {
                    let at = self.loc.text_in_rule(index, &rule.id, &e);
                    self.warn(
                        at,
                        format!(
                            "rule `{}`: event `{e}` is not one of the normalized events ({}); it \
                             only matches if a platform sends it under that name",
                            rule.id,
                            KNOWN_EVENTS.join(", ")
                        ),
                    );
                }
            }
            if rule.once_per == Some(super::OncePer::Day) && !has_default_calendar {
                self.warn(
                    pos,
                    format!(
                        "rule `{}`: once_per: day counts days in the account's calendar time \
                         zone, and in UTC for accounts without one; set `default_calendar`",
                        rule.id
                    ),
                );
            }
        }
        for name in lists.keys() {
            if !self.used_lists.contains(name) {
                let at = self.loc.entry("keyword_lists", name, 0);
                self.warn(at, format!("keyword list `{name}` is not used by any rule"));
            }
        }
        for name in calendars.keys() {
            if !self.used_calendars.contains(name) {
                let at = self.loc.entry("calendars", name, 0);
                self.warn(at, format!("calendar `{name}` is not used"));
            }
        }
    }
}

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
