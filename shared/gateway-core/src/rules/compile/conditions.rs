//! Compiling conditions and keyword sets.

use super::*;

impl Compiler<'_> {
    pub(super) fn condition(
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
            public,
            post,
            followers_at_least,
            verified,
            profile_language,
            subscribe_scene,
            all,
            any,
            not,
        } = spec;
        let mut parts: Vec<Condition> = Vec::new();
        let mut failed = false;
        let strings =
            |v: Vec<crate::rules::document::NonEmpty>| v.into_iter().map(|s| s.0).collect();
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
        if let Some(b) = public {
            parts.push(Condition::Public(b));
        }
        if let Some(v) = post {
            parts.push(Condition::Post(
                v.0.into_iter().map(|p| p.0.trim().to_string()).collect(),
            ));
        }
        if let Some(n) = followers_at_least {
            parts.push(Condition::FollowersAtLeast(n));
        }
        if let Some(b) = verified {
            parts.push(Condition::Verified(b));
        }
        if let Some(v) = profile_language {
            parts.push(Condition::ProfileLanguage(
                v.0.into_iter().map(|p| p.0.trim().to_string()).collect(),
            ));
        }
        if let Some(v) = subscribe_scene {
            let scenes: Vec<String> = v.0.into_iter().map(|p| p.0.trim().to_string()).collect();
            for scene in &scenes {
                if !scene.starts_with("ADD_SCENE_") {
                    let pos = self.loc.text_in_rule(at.index, at.id, scene);
                    self.error(
                        pos,
                        format!(
                            "rule `{}`: {path}.subscribe_scene {scene:?}: WeChat's scenes are                              named ADD_SCENE_… (e.g. ADD_SCENE_QR_CODE, ADD_SCENE_SEARCH)",
                            at.id
                        ),
                    );
                    failed = true;
                }
            }
            parts.push(Condition::SubscribeScene(scenes));
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

    pub(super) fn keywords(
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
}
