//! Compiling calendars, rules and their actions.

use super::*;

impl Compiler<'_> {
    pub(super) fn calendar(&mut self, name: &str, spec: CalendarSpec) -> Option<Calendar> {
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

    pub(super) fn rule(&mut self, at: At<'_>, spec: RuleSpec, env: &Env<'_>) -> Option<Rule> {
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
        if condition.as_ref().is_some_and(Condition::uses_profile)
            && actions.iter().any(|a| matches!(a, Action::Reply(_)))
        {
            let pos = self.loc.in_rule(at.index, at.id, "then", 0);
            self.error(
                pos,
                format!(
                    "rule `{}`: a rule with profile conditions (followers_at_least, verified, \
                     profile_language, subscribe_scene) cannot reply: it is evaluated again \
                     when the customer's profile arrives, and its reply could be sent twice; \
                     put the reply in a rule without profile conditions",
                    at.id
                ),
            );
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
            counts_as_answer: spec.counts_as_answer,
            line: None,
        })
    }

    pub(super) fn action(
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
            if let Err(e) = crate::reply::public::validate_in_rule(&content) {
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
}
