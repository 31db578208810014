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
                next.first_response_by = None;
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

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::desk::{AgentProfile, Role};
    use crate::testing::text_message;

    fn caller(id: &str, role: Role) -> Caller {
        Caller {
            agent_id: id.into(),
            role,
            profile: Some(AgentProfile {
                agent_id: id.into(),
                display_name: id.into(),
                teams: ["complaints".to_string()].into(),
                accounts: ["wechat:demo".to_string()].into(),
                capacity: 5,
                updated_at: 0,
                updated_by: None,
                version: 1,
            }),
        }
    }

    fn waiting() -> Conversation {
        let m = text_message("demo", "u1", "1", "你们是骗子", 1_000);
        let mut c = Conversation::new_for(&m);
        c.record_inbound(&m);
        c.team = Some("complaints".into());
        c.tags.insert("crisis".into());
        c.escalate(1_000, 60);
        c.version = 3;
        c
    }

    fn patch(json: &str) -> ConversationPatch {
        serde_json::from_str(json).unwrap()
    }

    #[test]
    fn resolving_records_who_removes_the_lifecycle_tags_and_audits_before_and_after() {
        let c = waiting();
        let agent = caller("agent1", Role::Agent);
        let (next, entry) = patch(r#"{"status":"resolved"}"#)
            .apply(&c, &agent, 9_000, &["crisis".to_string()])
            .unwrap()
            .unwrap();
        assert_eq!(next.status, Status::Resolved);
        assert_eq!(next.resolved_by.as_deref(), Some("agent:agent1"));
        assert!(!next.tags.contains("crisis"));
        assert!(!next.escalated);
        assert_eq!(next.version, 4);
        assert_eq!((entry.version, entry.actor.as_str()), (4, "agent:agent1"));
        assert_eq!(entry.changes["status"].before, "open");
        assert_eq!(entry.changes["status"].after, "resolved");
        assert_eq!(entry.changes["tags"].before, serde_json::json!(["crisis"]));
        assert!(
            entry.changes.contains_key("waiting_since"),
            "side effects are audited"
        );
        assert!(!entry.changes.contains_key("version"));
    }

    #[test]
    fn a_patch_that_changes_nothing_writes_nothing_and_an_empty_one_is_refused() {
        let c = waiting();
        let agent = caller("agent1", Role::Agent);
        assert_eq!(
            patch(r#"{"priority":"urgent"}"#)
                .apply(&c, &agent, 9, &[])
                .unwrap(),
            None
        );
        assert_eq!(
            patch("{}").apply(&c, &agent, 9, &[]).unwrap_err(),
            ChangeError::Invalid("body".into(), "names nothing to change".into())
        );
        assert!(serde_json::from_str::<ConversationPatch>(r#"{"stauts":"open"}"#).is_err());
    }

    #[test]
    fn agents_assign_only_themselves_and_supervisors_anyone() {
        let c = waiting();
        let agent = caller("agent1", Role::Agent);
        let (mine, _) = patch(r#"{"assignee":"me"}"#)
            .apply(&c, &agent, 5, &[])
            .unwrap()
            .unwrap();
        assert_eq!(mine.assignee.as_deref(), Some("agent1"));
        assert_eq!(mine.assigned_at, Some(5));
        assert!(matches!(
            patch(r#"{"assignee":"agent2"}"#).apply(&c, &agent, 5, &[]),
            Err(ChangeError::Forbidden(_))
        ));
        // Nor take away a colleague's.
        let mut theirs = c.clone();
        theirs.assignee = Some("agent2".into());
        assert!(matches!(
            patch(r#"{"assignee":null}"#).apply(&theirs, &agent, 5, &[]),
            Err(ChangeError::Forbidden(_))
        ));
        let supervisor = caller("boss", Role::Supervisor);
        let (moved, entry) = patch(r#"{"assignee":"agent2","team":"vip"}"#)
            .apply(&c, &supervisor, 5, &[])
            .unwrap()
            .unwrap();
        assert_eq!(moved.assignee.as_deref(), Some("agent2"));
        assert_eq!(moved.team.as_deref(), Some("vip"));
        assert_eq!(entry.changes["team"].before, "complaints");
        let (unrouted, _) = patch(r#"{"team":null}"#)
            .apply(&c, &supervisor, 5, &[])
            .unwrap()
            .unwrap();
        assert_eq!(unrouted.team, None);
    }

    #[test]
    fn clearing_an_escalation_is_allowed_and_starting_one_is_not() {
        let c = waiting();
        let agent = caller("agent1", Role::Agent);
        let (next, _) = patch(r#"{"escalated":false}"#)
            .apply(&c, &agent, 7, &[])
            .unwrap()
            .unwrap();
        assert!(!next.escalated);
        assert_eq!(next.escalation_cleared_by.as_deref(), Some("agent:agent1"));
        assert!(next.is_unanswered(), "clearing is not an answer");
        assert!(matches!(
            patch(r#"{"escalated":true}"#).apply(&c, &agent, 7, &[]),
            Err(ChangeError::Invalid(f, _)) if f == "escalated"
        ));
    }

    #[test]
    fn bad_tags_and_teams_name_their_field() {
        let c = waiting();
        let agent = caller("agent1", Role::Agent);
        for (body, field) in [
            (r#"{"tags":{"add":["has space"]}}"#, "tags"),
            (r#"{"tags":{"add":["a#b"]}}"#, "tags"),
            (r#"{"team":"no spaces allowed"}"#, "team"),
            (r#"{"assignee":"bad id!"}"#, "assignee"),
        ] {
            match patch(body).apply(&c, &agent, 1, &[]) {
                Err(ChangeError::Invalid(f, _)) => assert_eq!(f, field, "{body}"),
                other => panic!("{body}: {other:?}"),
            }
        }
    }

    #[test]
    fn take_assigns_an_unanswered_unassigned_conversation_once() {
        let c = waiting();
        let agent = caller("agent1", Role::Agent);
        let (taken, entry) = take(&c, &agent, 8).unwrap();
        assert_eq!(taken.assignee.as_deref(), Some("agent1"));
        assert_eq!(entry.action, "take");
        assert_eq!(take(&taken, &caller("agent2", Role::Agent), 9), None);
        let mut answered = c.clone();
        answered.record_outbound(5, crate::conversation::Responder::Person);
        assert_eq!(take(&answered, &agent, 9), None);
    }

    #[test]
    fn a_note_takes_the_next_place_in_the_thread() {
        let c = waiting();
        let agent = caller("agent1", Role::Agent);
        let (next, note, entry) = add_note(&c, &agent, "  customer called too ", 10).unwrap();
        assert_eq!(note.seq, c.thread_seq + 1);
        assert_eq!(next.thread_seq, note.seq);
        assert_eq!(note.text, "customer called too");
        assert_eq!(entry.action, "note");
        assert_eq!(next.version, c.version + 1);
        assert!(add_note(&c, &agent, " ", 10).is_err());
    }
}
