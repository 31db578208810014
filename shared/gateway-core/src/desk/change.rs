//! A change to a conversation through the desk (status, team, assignee, priority, tags, the
//! end of an escalation, taking it, an internal note), and the audit entry that records it.
//!
//! Each change is applied to the conversation as loaded and written over that version with its
//! audit entry in one transaction, so the trail holds exactly the changes that happened.

use super::access::{Caller, is_valid_agent_id, is_valid_team};
use crate::conversation::{Conversation, Priority, Status};
use serde::{Deserialize, Deserializer, Serialize};
use serde_json::Value;
use std::collections::BTreeMap;

/// The longest tag, in characters.
pub const MAX_TAG_CHARS: usize = 64;
/// The most tags a conversation carries.
pub const MAX_TAGS: usize = 50;
/// The longest internal note, in characters.
pub const MAX_NOTE_CHARS: usize = 4000;

/// Distinguishes a field sent as `null` (`Some(None)`) from one left out (`None`).
fn present<'de, D, T>(d: D) -> Result<Option<Option<T>>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    Option::<T>::deserialize(d).map(Some)
}

/// Tags to add and remove.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TagChange {
    /// Tags to add.
    #[serde(default)]
    pub add: Vec<String>,
    /// Tags to remove.
    #[serde(default)]
    pub remove: Vec<String>,
}

/// The body of `PATCH /conversations/{key}`: every field optional, `null` clears.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConversationPatch {
    /// `open`, `pending` or `resolved`.
    #[serde(default)]
    pub status: Option<Status>,
    /// The team (agent queue); `null` takes it out of every team.
    #[serde(default, deserialize_with = "present")]
    pub team: Option<Option<String>>,
    /// The agent; `me` for the caller; `null` unassigns.
    #[serde(default, deserialize_with = "present")]
    pub assignee: Option<Option<String>>,
    /// `low`, `normal`, `high`, `urgent`.
    #[serde(default)]
    pub priority: Option<Priority>,
    /// Tags to add and remove.
    #[serde(default)]
    pub tags: Option<TagChange>,
    /// `false` ends the escalation in progress (escalations begin by the rules only).
    #[serde(default)]
    pub escalated: Option<bool>,
}

/// Why a change is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ChangeError {
    /// Bad input: the field and the reason (400).
    #[error("{0}: {1}")]
    Invalid(String, String),
    /// The caller's role may not do this (403).
    #[error("{0}")]
    Forbidden(String),
}

fn invalid(field: &str, reason: impl Into<String>) -> ChangeError {
    ChangeError::Invalid(field.to_string(), reason.into())
}

/// Whether `tag` is a valid tag: 1 to [`MAX_TAG_CHARS`] characters, no `#`, no control or
/// white space characters.
pub fn is_valid_tag(tag: &str) -> bool {
    !tag.is_empty()
        && tag.chars().count() <= MAX_TAG_CHARS
        && !tag
            .chars()
            .any(|c| c == '#' || c.is_control() || c.is_whitespace())
}

/// One field's value before and after a change.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FieldChange {
    /// Before (`null`: absent).
    pub before: Value,
    /// After (`null`: absent).
    pub after: Value,
}

/// One entry of a conversation's audit trail.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AuditEntry {
    /// When, Unix ms.
    pub at: i64,
    /// Who: `agent:<id>`.
    pub actor: String,
    /// `update` (a PATCH), `take` (take next), `note`.
    pub action: String,
    /// The conversation's version this change produced.
    pub version: u64,
    /// Every field of the conversation the change moved, before and after.
    pub changes: BTreeMap<String, FieldChange>,
}

/// Fields that say nothing to a reader of the trail.
const UNAUDITED: [&str; 2] = ["version", "thread_seq"];

/// The fields that differ between `before` and `after`.
pub fn diff(before: &Conversation, after: &Conversation) -> BTreeMap<String, FieldChange> {
    let to_map = |c: &Conversation| match serde_json::to_value(c) {
        Ok(Value::Object(m)) => m,
        _ => serde_json::Map::new(),
    };
    let (b, a) = (to_map(before), to_map(after));
    let mut out = BTreeMap::new();
    for key in b.keys().chain(a.keys()) {
        if UNAUDITED.contains(&key.as_str()) || out.contains_key(key) {
            continue;
        }
        let (bv, av) = (
            b.get(key).cloned().unwrap_or(Value::Null),
            a.get(key).cloned().unwrap_or(Value::Null),
        );
        if bv != av {
            out.insert(
                key.clone(),
                FieldChange {
                    before: bv,
                    after: av,
                },
            );
        }
    }
    out
}

/// The conversation after `change` and its audit entry; `None` when nothing would change.
fn finish(
    before: &Conversation,
    mut after: Conversation,
    caller: &Caller,
    action: &str,
    at: i64,
) -> Option<(Conversation, AuditEntry)> {
    let changes = diff(before, &after);
    if changes.is_empty() && action != "note" {
        return None;
    }
    after.version = before.version + 1;
    let entry = AuditEntry {
        at,
        actor: caller.actor(),
        action: action.to_string(),
        version: after.version,
        changes,
    };
    Some((after, entry))
}

impl ConversationPatch {
    /// Applies the patch to `c` for `caller` at `at`: the next conversation and its audit
    /// entry, or `None` when it changes nothing. `removes_tags`: the tags a resolution
    /// removes (the rules document's `lifecycle.resolve_removes_tags`).
    pub fn apply(
        &self,
        c: &Conversation,
        caller: &Caller,
        at: i64,
        removes_tags: &[String],
    ) -> Result<Option<(Conversation, AuditEntry)>, ChangeError> {
        if *self == ConversationPatch::default() {
            return Err(invalid("body", "names nothing to change"));
        }
        let mut next = c.clone();
        let actor = caller.actor();
        if let Some(Some(team)) = &self.team
            && !is_valid_team(team)
        {
            return Err(invalid("team", "1 to 64 letters, digits or -_.@"));
        }
        if let Some(team) = &self.team {
            next.team = team.clone();
        }
        if let Some(assignee) = &self.assignee {
            let assignee = assignee.as_deref().map(|a| {
                if a == "me" {
                    caller.agent_id.as_str()
                } else {
                    a
                }
            });
            if let Some(a) = assignee
                && !is_valid_agent_id(a)
            {
                return Err(invalid("assignee", "an agent id, `me` or null"));
            }
            let own = |a: Option<&str>| a.is_none_or(|a| a == caller.agent_id);
            let allowed = caller.supervises() || (own(assignee) && own(c.assignee.as_deref()));
            if !allowed {
                return Err(ChangeError::Forbidden(
                    "agents assign conversations to themselves only, and unassign only their own"
                        .into(),
                ));
            }
            if next.assignee.as_deref() != assignee {
                next.assignee = assignee.map(str::to_string);
                next.assigned_at = assignee.map(|_| at);
            }
        }
        if let Some(priority) = self.priority {
            next.priority = priority;
        }
        if let Some(tags) = &self.tags {
            if let Some(t) = tags
                .add
                .iter()
                .chain(&tags.remove)
                .find(|t| !is_valid_tag(t))
            {
                return Err(invalid(
                    "tags",
                    format!("`{t}`: 1 to {MAX_TAG_CHARS} characters, no `#` or spaces"),
                ));
            }
            for t in &tags.remove {
                next.tags.remove(t);
            }
            next.tags.extend(tags.add.iter().cloned());
            if next.tags.len() > MAX_TAGS {
                return Err(invalid(
                    "tags",
                    format!("at most {MAX_TAGS} on a conversation"),
                ));
            }
        }
        match self.escalated {
            Some(true) => {
                return Err(invalid(
                    "escalated",
                    "only `false` (an escalation begins by the rules)",
                ));
            }
            Some(false) => {
                next.clear_escalation(at, &actor);
            }
            None => {}
        }
        match self.status {
            Some(Status::Resolved) => {
                next.resolve(at, &actor, removes_tags);
            }
            Some(status) if next.status == Status::Resolved => {
                // Reopened by a person: back in the queue, with no customer waiting.
                next.status = status;
                next.reopened_count += 1;
                next.opened_at = Some(at);
                next.first_response_at = None;
            }
            Some(status) => next.status = status,
            None => {}
        }
        Ok(finish(c, next, caller, "update", at))
    }
}

/// Takes `c` for `caller` ("take next"): assigns it to them at `at`. `None` when it is no
/// longer takeable (someone took it, or it was answered).
pub fn take(c: &Conversation, caller: &Caller, at: i64) -> Option<(Conversation, AuditEntry)> {
    if c.assignee.is_some() || !c.is_unanswered() || !caller.sees(c) {
        return None;
    }
    let mut next = c.clone();
    next.assignee = Some(caller.agent_id.clone());
    next.assigned_at = Some(at);
    finish(c, next, caller, "take", at)
}

/// An internal note on a conversation: seen by agents, never sent to the customer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Note {
    /// The note's place in the thread.
    pub seq: u64,
    /// Its author: `agent:<id>`.
    pub author: String,
    /// The text.
    pub text: String,
    /// When, Unix ms.
    pub at: i64,
}

/// Adds a note with `text` by `caller` at `at`: the conversation with the note's place taken,
/// the note, and the audit entry.
pub fn add_note(
    c: &Conversation,
    caller: &Caller,
    text: &str,
    at: i64,
) -> Result<(Conversation, Note, AuditEntry), ChangeError> {
    let text = text.trim();
    if text.is_empty() || text.chars().count() > MAX_NOTE_CHARS {
        return Err(invalid("text", format!("1 to {MAX_NOTE_CHARS} characters")));
    }
    let mut next = c.clone();
    let seq = next.next_thread_seq();
    let note = Note {
        seq,
        author: caller.actor(),
        text: text.to_string(),
        at,
    };
    let (next, mut entry) = finish(c, next, caller, "note", at).expect("a note is always recorded");
    entry.changes.insert(
        "note".into(),
        FieldChange {
            before: Value::Null,
            after: Value::String(note.text.clone()),
        },
    );
    Ok((next, note, entry))
}
