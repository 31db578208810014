//! Warnings about rules that are valid but probably not what was meant.

use super::*;

impl Compiler<'_> {
    pub(super) fn lint(
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
            if rule.once_per == Some(crate::rules::OncePer::Day) && !has_default_calendar {
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
