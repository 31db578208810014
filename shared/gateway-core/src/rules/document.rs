//! The rules document exactly as ops write it, before cross-checks.
//!
//! Every struct denies unknown keys. Values whose validity does not depend on the rest of the
//! document (regexes, time zones, time ranges, dates, names, keywords) are checked *while*
//! deserializing, so the YAML parser attaches the line and column of the offending value to
//! the error. Cross-references (calendar and keyword-list names, duplicate rule ids) are
//! checked afterwards in [`super::compile`].

use super::calendar::TimeRange;
use super::{MAX_KEYWORD_CHARS, MAX_PATTERN_CHARS, REGEX_SIZE_LIMIT};
use crate::conversation::{Priority, Status};
use crate::message::Channel;
use crate::reply::ReplyContent;
use chrono::NaiveDate;
use chrono_tz::Tz;
use regex::{Regex, RegexBuilder};
use serde::de::{self, Deserializer, IntoDeserializer, MapAccess, SeqAccess, Visitor};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt;
use std::marker::PhantomData;

/// The whole document.
#[derive(Debug, Deserialize)]
#[serde(
    deny_unknown_fields,
    expecting = "a rules document: a mapping with `version` and `rules`"
)]
pub(crate) struct DocumentSpec {
    pub version: u32,
    #[serde(default)]
    pub default_calendar: Option<Name>,
    #[serde(default, deserialize_with = "null_is_empty")]
    pub calendars: BTreeMap<Name, CalendarSpec>,
    #[serde(default, deserialize_with = "null_is_empty")]
    pub accounts: BTreeMap<NonEmpty, AccountSpec>,
    #[serde(default, deserialize_with = "null_is_empty")]
    pub keyword_lists: BTreeMap<Name, Vec<Keyword>>,
    pub rules: Vec<RuleSpec>,
}

/// A business calendar.
#[derive(Debug, Deserialize)]
#[serde(
    deny_unknown_fields,
    expecting = "a calendar: a mapping with `timezone` and `weekly`"
)]
pub(crate) struct CalendarSpec {
    #[serde(default)]
    #[allow(dead_code)]
    pub description: Option<String>,
    pub timezone: TimeZoneName,
    pub weekly: WeeklySpec,
    #[serde(default)]
    pub holidays: Vec<HolidaySpec>,
    #[serde(default, deserialize_with = "null_is_empty")]
    pub exceptions: BTreeMap<DateSpec, Vec<TimeRange>>,
}

/// Opening hours per weekday; a missing day is closed.
#[derive(Debug, Default, Deserialize)]
#[serde(
    deny_unknown_fields,
    expecting = "weekly hours: a mapping of `mon` … `sun` to lists of HH:MM-HH:MM"
)]
pub(crate) struct WeeklySpec {
    #[serde(default)]
    pub mon: Vec<TimeRange>,
    #[serde(default)]
    pub tue: Vec<TimeRange>,
    #[serde(default)]
    pub wed: Vec<TimeRange>,
    #[serde(default)]
    pub thu: Vec<TimeRange>,
    #[serde(default)]
    pub fri: Vec<TimeRange>,
    #[serde(default)]
    pub sat: Vec<TimeRange>,
    #[serde(default)]
    pub sun: Vec<TimeRange>,
}

impl WeeklySpec {
    /// Days Monday first.
    pub fn days(self) -> [Vec<TimeRange>; 7] {
        [
            self.mon, self.tue, self.wed, self.thu, self.fri, self.sat, self.sun,
        ]
    }
}

/// Settings of one account.
#[derive(Debug, Deserialize)]
#[serde(
    deny_unknown_fields,
    expecting = "account settings: `{ calendar: NAME }`"
)]
pub(crate) struct AccountSpec {
    pub calendar: Name,
}

/// One rule.
#[derive(Debug, Deserialize)]
#[serde(
    deny_unknown_fields,
    expecting = "a rule: a mapping with `id`, optional `when`, and `then`"
)]
pub(crate) struct RuleSpec {
    pub id: Name,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default = "yes")]
    pub enabled: bool,
    /// `Some(None)` is an explicit empty `when:`, rejected later.
    #[serde(default, deserialize_with = "present")]
    pub when: Option<Option<ConditionSpec>>,
    pub then: Vec<ActionItem>,
    #[serde(default)]
    pub stop: Option<bool>,
    #[serde(default)]
    pub once_per: Option<OncePer>,
}

/// A mapping that may be written as an empty value (`calendars:`). Keys given twice are
/// refused earlier, by the syntax pass over the whole document.
fn null_is_empty<'de, D, K, V>(d: D) -> Result<BTreeMap<K, V>, D::Error>
where
    D: Deserializer<'de>,
    K: Deserialize<'de> + Ord,
    V: Deserialize<'de>,
{
    Ok(Option::<BTreeMap<K, V>>::deserialize(d)?.unwrap_or_default())
}

fn yes() -> bool {
    true
}

/// Deserializes a field that is present (even as `null`) into `Some`.
fn present<'de, D, T>(d: D) -> Result<Option<T>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    T::deserialize(d).map(Some)
}

/// How often a rule may fire for one conversation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OncePer {
    /// At most once per calendar day in the account's time zone.
    Day,
    /// At most once in the life of the conversation.
    Conversation,
}

impl OncePer {
    /// The name used in the document.
    pub fn as_str(self) -> &'static str {
        match self {
            OncePer::Day => "day",
            OncePer::Conversation => "conversation",
        }
    }
}

/// A condition: every key present must hold (an implicit `all`).
#[derive(Debug, Default, Deserialize)]
#[serde(
    deny_unknown_fields,
    expecting = "a condition: a mapping such as `{ channel: wechat }`"
)]
pub(crate) struct ConditionSpec {
    #[serde(default)]
    pub channel: Option<OneOrMany<Channel>>,
    #[serde(default)]
    pub account: Option<OneOrMany<NonEmpty>>,
    #[serde(default)]
    pub kind: Option<OneOrMany<MessageKind>>,
    #[serde(default)]
    pub event: Option<OneOrMany<NonEmpty>>,
    #[serde(default)]
    pub event_regex: Option<Pattern<false>>,
    #[serde(default)]
    pub event_key: Option<OneOrMany<NonEmpty>>,
    #[serde(default)]
    pub event_key_regex: Option<Pattern<false>>,
    #[serde(default)]
    pub text: Option<OneOrMany<Keyword>>,
    #[serde(default)]
    pub text_contains_any: Option<OneOrMany<Keyword>>,
    #[serde(default)]
    pub text_regex: Option<Pattern<true>>,
    #[serde(default)]
    pub sender: Option<OneOrMany<NonEmpty>>,
    #[serde(default)]
    pub within_hours: Option<Name>,
    #[serde(default)]
    pub first_message: Option<bool>,
    #[serde(default)]
    pub has_tags: Option<OneOrMany<NonEmpty>>,
    #[serde(default)]
    pub status: Option<OneOrMany<Status>>,
    #[serde(default)]
    pub escalated: Option<bool>,
    #[serde(default)]
    pub all: Option<Vec<ConditionSpec>>,
    #[serde(default)]
    pub any: Option<Vec<ConditionSpec>>,
    #[serde(default)]
    pub not: Option<Box<ConditionSpec>>,
}

/// Kinds of message a `kind` condition can name (the `kind` tag of [`crate::Content`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum MessageKind {
    Text,
    Image,
    Voice,
    Video,
    Location,
    Link,
    Event,
    Mention,
    Other,
}

impl MessageKind {
    pub fn as_str(self) -> &'static str {
        match self {
            MessageKind::Text => "text",
            MessageKind::Image => "image",
            MessageKind::Voice => "voice",
            MessageKind::Video => "video",
            MessageKind::Location => "location",
            MessageKind::Link => "link",
            MessageKind::Event => "event",
            MessageKind::Mention => "mention",
            MessageKind::Other => "other",
        }
    }
}

/// One item of `then`: a map with exactly one action key, or the bare word `close` or
/// `escalate`.
#[derive(Debug)]
pub(crate) struct ActionItem(pub ActionSpec);

/// The action keys; exactly one must be present (checked later, with the rule's line).
#[derive(Debug, Default, Deserialize)]
#[serde(
    deny_unknown_fields,
    expecting = "an action: a mapping such as `{ add_tags: [vip] }`"
)]
pub(crate) struct ActionSpec {
    #[serde(default)]
    pub reply: Option<ReplyContent>,
    #[serde(default)]
    pub assign: Option<AssignSpec>,
    #[serde(default)]
    pub add_tags: Option<OneOrMany<NonEmpty>>,
    #[serde(default)]
    pub remove_tags: Option<OneOrMany<NonEmpty>>,
    #[serde(default, deserialize_with = "present")]
    pub escalate: Option<Option<EscalateSpec>>,
    #[serde(default)]
    pub set_status: Option<Status>,
    #[serde(default, deserialize_with = "present")]
    pub close: Option<Option<Empty>>,
}

impl ActionSpec {
    /// Names of the action keys present.
    pub fn keys(&self) -> Vec<&'static str> {
        let mut keys = Vec::new();
        if self.reply.is_some() {
            keys.push("reply");
        }
        if self.assign.is_some() {
            keys.push("assign");
        }
        if self.add_tags.is_some() {
            keys.push("add_tags");
        }
        if self.remove_tags.is_some() {
            keys.push("remove_tags");
        }
        if self.escalate.is_some() {
            keys.push("escalate");
        }
        if self.set_status.is_some() {
            keys.push("set_status");
        }
        if self.close.is_some() {
            keys.push("close");
        }
        keys
    }
}

impl<'de> Deserialize<'de> for ActionItem {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = ActionItem;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(
                    "an action such as `reply: {...}`, `assign: {...}`, `add_tags: [...]`, \
                     `remove_tags: [...]`, `escalate`, `set_status: ...` or `close`",
                )
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<ActionItem, E> {
                match v {
                    "close" => Ok(ActionItem(ActionSpec {
                        close: Some(None),
                        ..ActionSpec::default()
                    })),
                    "escalate" => Ok(ActionItem(ActionSpec {
                        escalate: Some(None),
                        ..ActionSpec::default()
                    })),
                    other => Err(E::custom(format!(
                        "unknown action `{other}`: only `close` and `escalate` can be written \
                         alone; other actions take a value, e.g. `add_tags: [vip]`"
                    ))),
                }
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<ActionItem, A::Error> {
                ActionSpec::deserialize(de::value::MapAccessDeserializer::new(map)).map(ActionItem)
            }
        }
        d.deserialize_any(V)
    }
}

/// `assign` arguments.
#[derive(Debug, Deserialize)]
#[serde(
    deny_unknown_fields,
    expecting = "assign arguments: `{ team: NAME, priority: LEVEL }`"
)]
pub(crate) struct AssignSpec {
    #[serde(default)]
    pub team: Option<NonEmpty>,
    #[serde(default)]
    pub priority: Option<Priority>,
}

/// `escalate` arguments.
#[derive(Debug, Deserialize)]
#[serde(
    deny_unknown_fields,
    expecting = "escalate arguments: `{ response_target_secs: N }`"
)]
pub(crate) struct EscalateSpec {
    #[serde(default)]
    pub response_target_secs: Option<u32>,
}

/// An empty mapping (`close: {}`).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, expecting = "an empty mapping `{}`")]
pub(crate) struct Empty {}

// ---------------------------------------------------------------------------------------------
// Validating scalars.
// ---------------------------------------------------------------------------------------------

/// Implements `Deserialize` for a type parsed from a string by `$parse: fn(&str) ->
/// Result<Self, String>`, inside the visitor so the parser attaches the value's position.
macro_rules! from_str_visitor {
    ($ty:ty, $expecting:expr, $parse:expr) => {
        impl<'de> Deserialize<'de> for $ty {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                struct V;
                impl<'de> Visitor<'de> for V {
                    type Value = $ty;
                    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                        f.write_str($expecting)
                    }
                    fn visit_str<E: de::Error>(self, v: &str) -> Result<$ty, E> {
                        let parse: fn(&str) -> Result<$ty, String> = $parse;
                        parse(v).map_err(E::custom)
                    }
                }
                d.deserialize_str(V)
            }
        }
    };
}

/// A name of a rule, calendar or keyword list: 1–64 of `A-Z a-z 0-9 _ - .`, starting with a
/// letter or digit.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct Name(pub String);

impl Name {
    pub fn parse(s: &str) -> Result<Name, String> {
        let ok = !s.is_empty()
            && s.chars().count() <= 64
            && s.chars().next().is_some_and(|c| c.is_ascii_alphanumeric())
            && s.chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'));
        if ok {
            Ok(Name(s.to_string()))
        } else {
            Err(format!(
                "invalid name {s:?}: use 1 to 64 letters, digits, `_`, `-` or `.`, starting \
                 with a letter or digit"
            ))
        }
    }
}

from_str_visitor!(Name, "a name (letters, digits, `_`, `-`, `.`)", Name::parse);

impl fmt::Display for Name {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A string that is not blank.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct NonEmpty(pub String);

from_str_visitor!(NonEmpty, "a non-empty string", |s| {
    if s.trim().is_empty() {
        Err("empty value: give a non-blank string".to_string())
    } else {
        Ok(NonEmpty(s.to_string()))
    }
});

impl fmt::Display for NonEmpty {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A keyword (or, in conditions, `@list` reference): not blank, at most
/// [`MAX_KEYWORD_CHARS`] characters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Keyword(pub String);

from_str_visitor!(Keyword, "a keyword", |s| {
    if s.trim().is_empty() {
        Err("empty keyword: it would match every text".to_string())
    } else if s.chars().count() > MAX_KEYWORD_CHARS {
        Err(format!(
            "keyword is {} characters long: at most {MAX_KEYWORD_CHARS}",
            s.chars().count()
        ))
    } else {
        Ok(Keyword(s.to_string()))
    }
});

/// An IANA time zone name.
#[derive(Debug, Clone, Copy)]
pub(crate) struct TimeZoneName(pub Tz);

from_str_visitor!(
    TimeZoneName,
    "an IANA time zone name such as Asia/Shanghai",
    |s| {
        match s.parse::<Tz>() {
            Ok(tz) => Ok(TimeZoneName(tz)),
            Err(_) => {
                let hint = chrono_tz::TZ_VARIANTS
                    .iter()
                    .find(|tz| tz.name().eq_ignore_ascii_case(s))
                    .map(|tz| format!(" (did you mean {}?)", tz.name()))
                    .unwrap_or_else(|| " (use an IANA name such as Asia/Shanghai or UTC)".into());
                Err(format!("unknown time zone {s:?}{hint}"))
            }
        }
    }
);

/// A calendar date, `YYYY-MM-DD`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct DateSpec(pub NaiveDate);

pub(crate) fn parse_date(s: &str) -> Result<NaiveDate, String> {
    let t = s.trim();
    let well_formed = t.len() == 10
        && t.bytes().enumerate().all(|(i, b)| {
            if i == 4 || i == 7 {
                b == b'-'
            } else {
                b.is_ascii_digit()
            }
        });
    if !well_formed {
        return Err(format!("invalid date {s:?}: expected YYYY-MM-DD"));
    }
    NaiveDate::parse_from_str(t, "%Y-%m-%d").map_err(|_| format!("invalid date {s:?}: no such day"))
}

from_str_visitor!(DateSpec, "a date YYYY-MM-DD", |s| parse_date(s)
    .map(DateSpec));

impl fmt::Display for DateSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0.format("%Y-%m-%d"))
    }
}

/// Most days one holiday range may span.
pub(crate) const MAX_HOLIDAY_RANGE_DAYS: i64 = 366;

/// A holiday: one date, or an inclusive range `YYYY-MM-DD..YYYY-MM-DD`.
#[derive(Debug, Clone, Copy)]
pub(crate) struct HolidaySpec {
    pub first: NaiveDate,
    pub last: NaiveDate,
}

from_str_visitor!(
    HolidaySpec,
    "a date YYYY-MM-DD or a range YYYY-MM-DD..YYYY-MM-DD",
    |s| {
        let (first, last) = match s.split_once("..") {
            Some((a, b)) => (parse_date(a)?, parse_date(b)?),
            None => {
                let d = parse_date(s)?;
                (d, d)
            }
        };
        if last < first {
            return Err(format!("holiday range {s:?} ends before it starts"));
        }
        if (last - first).num_days() >= MAX_HOLIDAY_RANGE_DAYS {
            return Err(format!(
                "holiday range {s:?} is longer than {MAX_HOLIDAY_RANGE_DAYS} days"
            ));
        }
        Ok(HolidaySpec { first, last })
    }
);

from_str_visitor!(TimeRange, "a time range HH:MM-HH:MM", TimeRange::parse);

/// A regex, compiled at load. `CI`: case-insensitive (text conditions).
#[derive(Debug, Clone)]
pub(crate) struct Pattern<const CI: bool> {
    pub regex: Regex,
}

impl<const CI: bool> Pattern<CI> {
    pub fn parse(s: &str) -> Result<Self, String> {
        if s.is_empty() {
            return Err("empty regex: it matches everything; remove the condition instead".into());
        }
        let chars = s.chars().count();
        if chars > MAX_PATTERN_CHARS {
            return Err(format!(
                "regex is {chars} characters long: at most {MAX_PATTERN_CHARS}"
            ));
        }
        let regex = RegexBuilder::new(s)
            .case_insensitive(CI)
            .size_limit(REGEX_SIZE_LIMIT)
            .dfa_size_limit(REGEX_SIZE_LIMIT)
            .nest_limit(64)
            .build()
            .map_err(|e| format!("invalid regex {s:?}: {}", one_line(&e.to_string())))?;
        Ok(Pattern { regex })
    }
}

/// Collapses the multi-line error text of the regex crate.
fn one_line(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

impl<'de, const CI: bool> Deserialize<'de> for Pattern<CI> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V<const CI: bool>;
        impl<'de, const CI: bool> Visitor<'de> for V<CI> {
            type Value = Pattern<CI>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a regular expression")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Pattern<CI>, E> {
                Pattern::parse(v).map_err(E::custom)
            }
        }
        d.deserialize_str(V::<CI>)
    }
}

// ---------------------------------------------------------------------------------------------
// Collections.
// ---------------------------------------------------------------------------------------------

/// A single value or a non-empty list of values.
///
/// A single value must be a string (or a word such as `wechat`): a bare number or boolean is
/// refused with a hint to quote it, because YAML would turn `0123` into `123`. In a list every
/// item is read exactly as written.
#[derive(Debug, Clone)]
pub(crate) struct OneOrMany<T>(pub Vec<T>);

impl<'de, T: Deserialize<'de>> Deserialize<'de> for OneOrMany<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V<T>(PhantomData<T>);
        impl<'de, T: Deserialize<'de>> Visitor<'de> for V<T> {
            type Value = OneOrMany<T>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a value or a list of values")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<OneOrMany<T>, E> {
                let de: de::value::StrDeserializer<'_, E> = v.into_deserializer();
                T::deserialize(de).map(|t| OneOrMany(vec![t]))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<OneOrMany<T>, E> {
                Err(E::custom(quote_hint(&v.to_string())))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<OneOrMany<T>, E> {
                Err(E::custom(quote_hint(&v.to_string())))
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<OneOrMany<T>, E> {
                Err(E::custom(quote_hint(&v.to_string())))
            }
            fn visit_bool<E: de::Error>(self, v: bool) -> Result<OneOrMany<T>, E> {
                Err(E::custom(quote_hint(&v.to_string())))
            }
            fn visit_unit<E: de::Error>(self) -> Result<OneOrMany<T>, E> {
                Err(E::custom("missing value: give a value or a list of values"))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<OneOrMany<T>, A::Error> {
                let mut items = Vec::new();
                while let Some(item) = seq.next_element()? {
                    items.push(item);
                }
                if items.is_empty() {
                    return Err(de::Error::custom(
                        "empty list: it can never match; give at least one value",
                    ));
                }
                Ok(OneOrMany(items))
            }
        }
        d.deserialize_any(V(PhantomData))
    }
}

fn quote_hint(v: &str) -> String {
    format!(
        "`{v}` is read as a number or boolean: put it in quotes (\"{v}\") so it is matched as \
         the text you wrote"
    )
}
