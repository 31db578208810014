//! The rules document exactly as ops write it, before cross-checks.
//!
//! Every struct denies unknown keys. Values whose validity does not depend on the rest of the
//! document (regexes, time zones, time ranges, dates, names, keywords) are checked *while*
//! deserializing, so the YAML parser attaches the line and column of the offending value to
//! the error. Cross-references (calendar and keyword-list names, duplicate rule ids) are
//! checked afterwards in [`super::compile`].

mod values;

use crate::conversation::{Priority, Status};
use crate::message::Channel;
use crate::reply::ReplyContent;
use crate::rules::calendar::TimeRange;
use serde::de::{self, Deserializer, MapAccess, Visitor};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt;
pub(crate) use values::*;

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
    #[serde(default)]
    pub lifecycle: LifecycleSpec,
    #[serde(default)]
    pub service_levels: Vec<ServiceLevelSpec>,
    pub rules: Vec<RuleSpec>,
}

/// What resolving a conversation does beyond its status.
#[derive(Debug, Default, Deserialize)]
#[serde(
    deny_unknown_fields,
    expecting = "lifecycle settings: a mapping such as `{ resolve_removes_tags: [crisis] }`"
)]
pub(crate) struct LifecycleSpec {
    /// Tags a resolution removes (an episode's tags: `crisis`, `wants-agent`…).
    #[serde(default)]
    pub resolve_removes_tags: Vec<NonEmpty>,
    /// An answered (`pending`) conversation the customer does not come back to is resolved
    /// (`auto`) after this long.
    #[serde(default)]
    pub auto_resolve_pending_after_secs: Option<u32>,
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

/// One service-level policy.
#[derive(Debug, Deserialize)]
#[serde(
    deny_unknown_fields,
    expecting = "a service level: a mapping with `id`, optional `when`, and its targets"
)]
pub(crate) struct ServiceLevelSpec {
    pub id: Name,
    #[serde(default)]
    #[allow(dead_code)]
    pub description: Option<String>,
    #[serde(default)]
    pub when: Option<ServiceLevelWhenSpec>,
    #[serde(default)]
    pub first_response_secs: Option<u32>,
    #[serde(default)]
    pub resolution_secs: Option<u32>,
    #[serde(default)]
    pub clock: ClockSpec,
}

/// The conversations a service level applies to: every key present must hold.
#[derive(Debug, Default, Deserialize)]
#[serde(
    deny_unknown_fields,
    expecting = "service level conditions: a mapping of `channel`, `account`, `team`, `priority`"
)]
pub(crate) struct ServiceLevelWhenSpec {
    #[serde(default)]
    pub channel: Option<OneOrMany<Channel>>,
    #[serde(default)]
    pub account: Option<OneOrMany<NonEmpty>>,
    #[serde(default)]
    pub team: Option<OneOrMany<NonEmpty>>,
    #[serde(default)]
    pub priority: Option<OneOrMany<Priority>>,
}

/// `around_the_clock` or `business_hours`.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum ClockSpec {
    #[default]
    AroundTheClock,
    BusinessHours,
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
    #[serde(default)]
    pub counts_as_answer: bool,
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
    /// At most once per escalation episode, and only during one: from the escalation (by
    /// this message's rules or an earlier one) until it is cleared or resolved.
    Escalation,
}

impl OncePer {
    /// The name used in the document.
    pub fn as_str(self) -> &'static str {
        match self {
            OncePer::Day => "day",
            OncePer::Conversation => "conversation",
            OncePer::Escalation => "escalation",
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
    pub public: Option<bool>,
    #[serde(default)]
    pub post: Option<OneOrMany<NonEmpty>>,
    #[serde(default)]
    pub followers_at_least: Option<u64>,
    #[serde(default)]
    pub verified: Option<bool>,
    #[serde(default)]
    pub profile_language: Option<OneOrMany<NonEmpty>>,
    #[serde(default)]
    pub subscribe_scene: Option<OneOrMany<NonEmpty>>,
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
    Comment,
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
            MessageKind::Comment => "comment",
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
