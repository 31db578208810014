//! Applying a [`Decision`] to a [`Conversation`].

use super::Decision;
use crate::conversation::{Conversation, Priority, Status};

impl Decision {
    /// Applies the decision to `conversation` at `now_ms` (Unix ms):
    ///
    /// - team and priority, when the decision sets them;
    /// - tags added and removed;
    /// - escalation ([`Conversation::escalate`]): an episode begins unless one is in progress,
    ///   priority urgent, and `response_due_at` = `now_ms` + the response target, unless an
    ///   earlier due time is still pending (the customer has been waiting longer);
    /// - status, when set; `resolved` resolves ([`Conversation::resolve`], by `rule:<id>`:
    ///   the wait and the escalation end; the decision already removes the document's
    ///   `lifecycle.resolve_removes_tags`);
    /// - `rule_last_fired[id] = now_ms` for every rule that fired (the memory behind
    ///   `once_per`).
    ///
    /// An escalated conversation stays `urgent` whatever later rules assign, until the
    /// episode is cleared. Replies are not recorded here: the outbound path records them when
    /// delivered ([`Conversation::record_outbound`]), and only some answer. Applying the same
    /// decision twice at the same time gives the same conversation.
    pub fn apply_to(&self, conversation: &mut Conversation, now_ms: i64) {
        if let Some(team) = &self.team {
            conversation.team = Some(team.clone());
        }
        for tag in &self.tags_removed {
            conversation.tags.remove(tag);
        }
        for tag in &self.tags_added {
            conversation.tags.insert(tag.clone());
        }
        if let Some(e) = &self.escalation {
            conversation.escalate(now_ms, e.response_target_secs);
        }
        match self.status {
            Some(Status::Resolved) => {
                let by = format!("rule:{}", self.status_set_by.as_deref().unwrap_or_default());
                conversation.resolve(now_ms, &by, &[]);
            }
            Some(status) => conversation.status = status,
            None => {}
        }
        // After the resolution, so that a rule that assigns a priority and closes has the
        // last word (and applying the decision again changes nothing).
        if let Some(priority) = self.priority {
            conversation.priority = priority;
        }
        if conversation.escalated {
            conversation.priority = Priority::Urgent;
        }
        for fired in &self.fired {
            conversation
                .rule_last_fired
                .insert(fired.id.clone(), now_ms);
        }
    }
}
