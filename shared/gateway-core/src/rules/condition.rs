//! Compiled conditions and how they are checked against a message and conversation state.
//!
//! Every check yields whether it holds and, when explaining, a *fact*: a sentence about the
//! message or state that is true either way ("channel is weibo, not wechat", "cn-office is
//! closed: …"). A `not` passes its child's fact through unchanged, so reasons read naturally
//! whichever way a condition is negated.

use super::RuleSet;
use super::document::MessageKind;
use super::text::KeywordSet;
use crate::conversation::{CustomerProfile, Status};
use crate::message::{Channel, Content, NormalizedMessage};
use crate::reply::{quote_short, short};
use chrono::{DateTime, Utc};
use regex::Regex;
use std::collections::BTreeSet;

/// Which calendar a `within_hours` condition uses.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum CalendarRef {
    /// A named calendar.
    Named(String),
    /// The message account's calendar (`within_hours: account`).
    Account,
}

/// A validated condition.
#[derive(Debug, Clone)]
pub(crate) enum Condition {
    Channel(Vec<Channel>),
    Account(Vec<String>),
    Kind(Vec<MessageKind>),
    Event(Vec<String>),
    EventRegex(Regex),
    EventKey(Vec<String>),
    EventKeyRegex(Regex),
    Text(KeywordSet),
    TextContainsAny(KeywordSet),
    TextRegex(Regex),
    Sender(Vec<String>),
    WithinHours(CalendarRef),
    FirstMessage(bool),
    HasTags(Vec<String>),
    Status(Vec<Status>),
    Escalated(bool),
    /// The message was written in public (a Weibo comment or @mention), or not.
    Public(bool),
    /// The message concerns one of these posts (a comment under it, a mention in or under it).
    Post(Vec<String>),
    /// The customer's profile says at least this many followers (Weibo `followers_count`).
    FollowersAtLeast(u64),
    /// The customer's profile says verified (Weibo `verified`), or not.
    Verified(bool),
    /// The customer's profile language is one of these (WeChat `language`).
    ProfileLanguage(Vec<String>),
    /// The customer followed through one of these scenes (WeChat `subscribe_scene`).
    SubscribeScene(Vec<String>),
    All(Vec<Condition>),
    Any(Vec<Condition>),
    Not(Box<Condition>),
}

/// What conditions see: the message, and the conversation as it was before this message,
/// updated with the effects of the rules that already fired in this evaluation.
pub(crate) struct Ctx<'a> {
    pub rules: &'a RuleSet,
    pub message: &'a NormalizedMessage,
    pub now: DateTime<Utc>,
    pub first_message: bool,
    pub inbound_count: u64,
    pub tags: BTreeSet<String>,
    pub status: Status,
    pub escalated: bool,
    /// The customer's profile as cached on the conversation (none until fetched).
    pub profile: Option<&'a CustomerProfile>,
    /// The message text, capped.
    pub text: Option<&'a str>,
    /// The folded (lowercase, half-width) capped text.
    pub folded: Option<String>,
    /// Build facts (explain) or not (plain evaluation).
    pub explain: bool,
}

impl Ctx<'_> {
    fn say(&self, f: impl FnOnce() -> String) -> String {
        if self.explain { f() } else { String::new() }
    }
}

impl Condition {
    /// True when it reads conversation state.
    pub fn uses_conversation_state(&self) -> bool {
        match self {
            Condition::FirstMessage(_)
            | Condition::HasTags(_)
            | Condition::Status(_)
            | Condition::Escalated(_) => true,
            Condition::All(cs) | Condition::Any(cs) => {
                cs.iter().any(Condition::uses_conversation_state)
            }
            Condition::Not(c) => c.uses_conversation_state(),
            _ => false,
        }
    }

    /// True when it reads the customer's profile.
    pub fn uses_profile(&self) -> bool {
        match self {
            Condition::FollowersAtLeast(_)
            | Condition::Verified(_)
            | Condition::ProfileLanguage(_)
            | Condition::SubscribeScene(_) => true,
            Condition::All(cs) | Condition::Any(cs) => cs.iter().any(Condition::uses_profile),
            Condition::Not(c) => c.uses_profile(),
            _ => false,
        }
    }

    /// Channels on which it can hold (conservative: `None` means any).
    pub fn possible_channels(&self) -> Option<BTreeSet<Channel>> {
        match self {
            Condition::Channel(cs) => Some(cs.iter().copied().collect()),
            Condition::All(cs) => cs
                .iter()
                .filter_map(Condition::possible_channels)
                .reduce(|a, b| a.intersection(&b).copied().collect()),
            Condition::Any(cs) => {
                let mut out = BTreeSet::new();
                for c in cs {
                    out.extend(c.possible_channels()?);
                }
                Some(out)
            }
            _ => None,
        }
    }

    /// Visits this condition and all nested ones.
    pub fn walk<'c>(&'c self, f: &mut impl FnMut(&'c Condition)) {
        f(self);
        match self {
            Condition::All(cs) | Condition::Any(cs) => cs.iter().for_each(|c| c.walk(f)),
            Condition::Not(c) => c.walk(f),
            _ => {}
        }
    }

    /// Checks the condition; the fact is empty unless `ctx.explain`.
    pub fn eval(&self, ctx: &Ctx<'_>) -> (bool, String) {
        let m = ctx.message;
        match self {
            Condition::Channel(list) => {
                let ok = list.contains(&m.channel);
                let names: Vec<&str> = list.iter().map(|c| c.as_str()).collect();
                (
                    ok,
                    ctx.say(|| is_not("channel", m.channel.as_str(), ok, &names)),
                )
            }
            Condition::Account(list) => {
                let ok = list.contains(&m.account_id);
                (ok, ctx.say(|| is_not("account", &m.account_id, ok, list)))
            }
            Condition::Kind(list) => {
                let kind = m.content.kind();
                let ok = list.iter().any(|k| k.as_str() == kind);
                let names: Vec<&str> = list.iter().map(|k| k.as_str()).collect();
                (ok, ctx.say(|| is_not("message kind", kind, ok, &names)))
            }
            Condition::Event(list) => match &m.content {
                Content::Event { event, .. } => {
                    let ok = list.iter().any(|e| e == event);
                    (ok, ctx.say(|| is_not("event", event, ok, list)))
                }
                other => (false, ctx.say(|| not_an_event(other))),
            },
            Condition::EventRegex(re) => match &m.content {
                Content::Event { event, .. } => {
                    let ok = re.is_match(event);
                    (ok, ctx.say(|| matches_fact("event", event, ok, re)))
                }
                other => (false, ctx.say(|| not_an_event(other))),
            },
            Condition::EventKey(list) => match event_key(&m.content) {
                Ok(key) => {
                    let ok = list.iter().any(|k| k == key);
                    (ok, ctx.say(|| is_not("event key", key, ok, list)))
                }
                Err(why) => (false, ctx.say(|| why)),
            },
            Condition::EventKeyRegex(re) => match event_key(&m.content) {
                Ok(key) => {
                    let ok = re.is_match(key);
                    (ok, ctx.say(|| matches_fact("event key", key, ok, re)))
                }
                Err(why) => (false, ctx.say(|| why)),
            },
            Condition::Text(set) => match &ctx.folded {
                Some(folded) => {
                    let hit = set.equal_to(folded.trim());
                    let fact = ctx.say(|| match hit {
                        Some(k) => format!("text is {}{}", quote_short(&k.original, 40), from(k)),
                        None => format!(
                            "text {} is not {}",
                            quote_short(ctx.text.unwrap_or(""), 40),
                            set.label
                        ),
                    });
                    (hit.is_some(), fact)
                }
                None => (false, ctx.say(|| no_text(&m.content))),
            },
            Condition::TextContainsAny(set) => match &ctx.folded {
                Some(folded) => {
                    let hit = set.find_in(folded);
                    let fact = ctx.say(|| match hit {
                        Some(k) => {
                            format!("text contains {}{}", quote_short(&k.original, 40), from(k))
                        }
                        None => format!(
                            "text {} contains none of {} keyword{} ({})",
                            quote_short(ctx.text.unwrap_or(""), 40),
                            set.entries.len(),
                            if set.entries.len() == 1 { "" } else { "s" },
                            set.label
                        ),
                    });
                    (hit.is_some(), fact)
                }
                None => (false, ctx.say(|| no_text(&m.content))),
            },
            Condition::TextRegex(re) => match ctx.text {
                Some(text) => {
                    let found = re.find(text);
                    let fact = ctx.say(|| match found {
                        Some(f) => format!(
                            "text matches /{}/ at {}",
                            short(re.as_str(), 60),
                            quote_short(f.as_str(), 40)
                        ),
                        None => format!(
                            "text {} does not match /{}/",
                            quote_short(text, 40),
                            short(re.as_str(), 60)
                        ),
                    });
                    (found.is_some(), fact)
                }
                None => (false, ctx.say(|| no_text(&m.content))),
            },
            Condition::Sender(list) => {
                let ok = list.contains(&m.sender_id);
                (ok, ctx.say(|| is_not("sender", &m.sender_id, ok, list)))
            }
            Condition::WithinHours(cref) => {
                let calendar = match cref {
                    CalendarRef::Named(name) => ctx.rules.calendar(name),
                    CalendarRef::Account => ctx.rules.calendar_for_account(&m.account_id),
                };
                let Some(calendar) = calendar else {
                    // Validation makes this unreachable; stay total anyway.
                    return (false, ctx.say(|| "no calendar applies".into()));
                };
                let open = calendar.is_open(ctx.now);
                let fact = ctx.say(|| {
                    let check = calendar.check(ctx.now);
                    let mut s = match cref {
                        CalendarRef::Account => {
                            format!("account {}'s calendar {check}", m.account_id)
                        }
                        CalendarRef::Named(_) => check.to_string(),
                    };
                    if !open {
                        match calendar.next_opening(ctx.now) {
                            Some(t) => {
                                s.push_str(&format!("; opens {}", t.format("%a %Y-%m-%d %H:%M")))
                            }
                            None => s.push_str("; no opening within a year"),
                        }
                    }
                    s
                });
                (open, fact)
            }
            Condition::FirstMessage(want) => {
                let ok = ctx.first_message == *want;
                let fact = ctx.say(|| {
                    if ctx.first_message {
                        "this is the first message of the conversation".into()
                    } else {
                        format!(
                            "not the first message ({} earlier in the conversation)",
                            ctx.inbound_count
                        )
                    }
                });
                (ok, fact)
            }
            Condition::HasTags(tags) => {
                let missing: Vec<&String> =
                    tags.iter().filter(|t| !ctx.tags.contains(*t)).collect();
                let fact = ctx.say(|| {
                    if missing.is_empty() {
                        format!("conversation has tag{} {}", plural(tags.len()), join(tags))
                    } else {
                        let has: Vec<&String> = ctx.tags.iter().collect();
                        format!(
                            "conversation lacks tag{} {} (has: {})",
                            plural(missing.len()),
                            join(&missing),
                            if has.is_empty() {
                                "none".into()
                            } else {
                                join(&has)
                            }
                        )
                    }
                });
                (missing.is_empty(), fact)
            }
            Condition::Status(list) => {
                let ok = list.contains(&ctx.status);
                let names: Vec<&str> = list.iter().map(|s| s.as_str()).collect();
                (
                    ok,
                    ctx.say(|| is_not("conversation status", ctx.status.as_str(), ok, &names)),
                )
            }
            Condition::Escalated(want) => {
                let ok = ctx.escalated == *want;
                let fact = ctx.say(|| {
                    if ctx.escalated {
                        "conversation is escalated".into()
                    } else {
                        "conversation is not escalated".into()
                    }
                });
                (ok, fact)
            }
            Condition::Public(want) => {
                let public = m.content.is_public();
                let fact = ctx.say(|| {
                    let kind = m.content.kind();
                    if public {
                        format!("message is public (a {kind})")
                    } else {
                        format!("message is private (a {kind})")
                    }
                });
                (public == *want, fact)
            }
            Condition::Post(list) => match m.content.post() {
                Some(post) => {
                    let ok = list.contains(&post.id);
                    (ok, ctx.say(|| is_not("post", &post.id, ok, list)))
                }
                None => (
                    false,
                    ctx.say(|| format!("message ({}) concerns no post", m.content.kind())),
                ),
            },
            Condition::FollowersAtLeast(n) => match ctx.profile.and_then(|p| p.followers_count) {
                Some(count) => (
                    count >= *n,
                    ctx.say(|| {
                        let cmp = if count >= *n {
                            "at least"
                        } else {
                            "fewer than"
                        };
                        format!("customer has {count} followers, {cmp} {n}")
                    }),
                ),
                None => (
                    false,
                    ctx.say(|| no_profile(ctx.profile, "followers count")),
                ),
            },
            Condition::Verified(want) => match ctx.profile.and_then(|p| p.verified) {
                Some(v) => (
                    v == *want,
                    ctx.say(|| {
                        if v {
                            "customer is verified".to_string()
                        } else {
                            "customer is not verified".to_string()
                        }
                    }),
                ),
                None => (false, ctx.say(|| no_profile(ctx.profile, "verification"))),
            },
            Condition::ProfileLanguage(list) => {
                match ctx.profile.and_then(|p| p.language.as_deref()) {
                    Some(lang) => {
                        let ok = list.iter().any(|l| l.eq_ignore_ascii_case(lang));
                        (ok, ctx.say(|| is_not("profile language", lang, ok, list)))
                    }
                    None => (false, ctx.say(|| no_profile(ctx.profile, "language"))),
                }
            }
            Condition::SubscribeScene(list) => {
                match ctx.profile.and_then(|p| p.subscribe_scene.as_deref()) {
                    Some(scene) => {
                        let ok = list.iter().any(|l| l == scene);
                        (ok, ctx.say(|| is_not("subscribe scene", scene, ok, list)))
                    }
                    None => (
                        false,
                        ctx.say(|| no_profile(ctx.profile, "subscribe scene")),
                    ),
                }
            }
            Condition::All(children) => {
                let mut facts = Vec::new();
                for c in children {
                    let (ok, fact) = c.eval(ctx);
                    if !ok {
                        return (false, fact);
                    }
                    facts.push(fact);
                }
                (true, facts.join(" and "))
            }
            Condition::Any(children) => {
                let mut facts = Vec::new();
                for c in children {
                    let (ok, fact) = c.eval(ctx);
                    if ok {
                        return (true, fact);
                    }
                    facts.push(fact);
                }
                (false, ctx.say(|| format!("none of: {}", facts.join("; "))))
            }
            Condition::Not(child) => {
                let (ok, fact) = child.eval(ctx);
                (!ok, fact)
            }
        }
    }
}

fn event_key(content: &Content) -> Result<&str, String> {
    match content {
        Content::Event { key: Some(k), .. } => Ok(k),
        Content::Event { event, .. } => Err(format!("event {event} has no key")),
        other => Err(not_an_event(other)),
    }
}

fn not_an_event(content: &Content) -> String {
    format!("message is {}, not an event", content.kind())
}

fn no_profile(profile: Option<&CustomerProfile>, what: &str) -> String {
    match profile {
        None => "the customer's profile is not known (yet)".to_string(),
        Some(p) => format!("the customer's {} profile has no {what}", p.source),
    }
}

fn no_text(content: &Content) -> String {
    format!("message ({}) has no text", content.kind())
}

fn from(k: &super::text::KeywordEntry) -> String {
    k.list
        .as_ref()
        .map(|l| format!(" (from @{l})"))
        .unwrap_or_default()
}

fn plural(n: usize) -> &'static str {
    if n == 1 { "" } else { "s" }
}

fn join<T: AsRef<str>>(items: &[T]) -> String {
    items
        .iter()
        .map(|t| t.as_ref())
        .collect::<Vec<_>>()
        .join(", ")
}

/// "channel is wechat" / "channel is weibo, not wechat" / "…, not one of a, b, c".
fn is_not<T: AsRef<str>>(what: &str, actual: &str, ok: bool, expected: &[T]) -> String {
    let actual = short(actual, 60);
    if ok {
        return format!("{what} is {actual}");
    }
    let names: Vec<String> = expected
        .iter()
        .take(6)
        .map(|e| short(e.as_ref(), 40))
        .collect();
    let more = if expected.len() > 6 { ", …" } else { "" };
    match names.as_slice() {
        [one] => format!("{what} is {actual}, not {one}"),
        _ => format!("{what} is {actual}, not one of {}{more}", names.join(", ")),
    }
}

fn matches_fact(what: &str, actual: &str, ok: bool, re: &Regex) -> String {
    format!(
        "{what} {} {} /{}/",
        short(actual, 60),
        if ok { "matches" } else { "does not match" },
        short(re.as_str(), 60)
    )
}
