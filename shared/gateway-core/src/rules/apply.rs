//! Applying a [`Decision`] to a [`Conversation`].

use super::Decision;
use crate::conversation::{Conversation, Priority};

impl Decision {
    /// Applies the decision to `conversation` at `now_ms` (Unix ms):
    ///
    /// - team and priority, when the decision sets them;
    /// - tags added and removed;
    /// - escalation: `escalated = true`, priority urgent, and `response_due_at` = `now_ms` +
    ///   the response target, unless an earlier due time is still pending (the customer has
    ///   been waiting longer);
    /// - status, when set;
    /// - `rule_last_fired[id] = now_ms` for every rule that fired (the memory behind
    ///   `once_per`).
    ///
    /// An escalated conversation stays `urgent` whatever later rules assign, until someone
    /// clears `escalated`. Replies are not recorded here: they count as answers when the
    /// outbound path delivers them ([`Conversation::record_outbound`]). Applying the same
    /// decision twice at the same time gives the same conversation.
    pub fn apply_to(&self, conversation: &mut Conversation, now_ms: i64) {
        if let Some(team) = &self.team {
            conversation.team = Some(team.clone());
        }
        if let Some(priority) = self.priority {
            conversation.priority = priority;
        }
        for tag in &self.tags_removed {
            conversation.tags.remove(tag);
        }
        for tag in &self.tags_added {
            conversation.tags.insert(tag.clone());
        }
        if let Some(e) = &self.escalation {
            conversation.escalated = true;
            let due = now_ms.saturating_add(i64::from(e.response_target_secs) * 1000);
            conversation.response_due_at = Some(match conversation.response_due_at {
                Some(existing) => existing.min(due),
                None => due,
            });
        }
        if conversation.escalated {
            conversation.priority = Priority::Urgent;
        }
        if let Some(status) = self.status {
            conversation.status = status;
        }
        for fired in &self.fired {
            conversation
                .rule_last_fired
                .insert(fired.id.clone(), now_ms);
        }
    }
}
