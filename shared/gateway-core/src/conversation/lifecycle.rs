//! How a conversation is answered, escalated and resolved.
//!
//! - **An answer** ends the customer's wait. Only a person's reply answers, or a rule's reply
//!   when the rule says `counts_as_answer: true` (a complete FAQ answer). An acknowledgement,
//!   an out-of-office notice or a system notice reaches the customer but leaves them waiting,
//!   with their due time still running.
//! - **An escalation** is an episode: it begins when a rule escalates a conversation that is
//!   not escalated, and ends when someone clears it or the conversation is resolved.
//! - **Resolving** ends the episode of the conversation: no one waits, nothing is due, the
//!   escalation is cleared. A new message that expects an answer reopens it.

use super::{Conversation, Priority, Status};

/// Who sent a reply that reached the customer, as far as answering goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Responder {
    /// A person (an agent, through the API): answers; the first one is the first response.
    Person,
    /// A rule that says `counts_as_answer: true`: answers, but is never a first response.
    AnsweringRule,
    /// Any other automation (a rule's acknowledgement, a system notice): answers nothing.
    Automation,
}

impl Responder {
    /// Whether a reply from this responder ends the customer's wait.
    pub fn answers(self) -> bool {
        !matches!(self, Responder::Automation)
    }
}

impl Conversation {
    /// Records a reply delivered to the customer at `at` (Unix ms). Every reply takes the next
    /// place in the thread and moves `last_outbound_at`. An answer (see [`Responder`]) also ends the wait: `waiting_since`,
    /// `response_due_at` and `sla_breached_at` cleared, `last_answered_at` set, an open
    /// conversation pending; a person's first answer sets `first_response_at`. Returns
    /// whether it answered a customer who was waiting.
    pub fn record_outbound(&mut self, at: i64, by: Responder) -> bool {
        self.record_outbound_by(at, by, None)
    }

    /// [`record_outbound`](Self::record_outbound) of a reply whose origin names `agent`: a
    /// person's first answer also records who gave it (`first_response_by`).
    pub fn record_outbound_by(&mut self, at: i64, by: Responder, agent: Option<&str>) -> bool {
        self.next_thread_seq();
        self.last_outbound_at = Some(self.last_outbound_at.map_or(at, |t| t.max(at)));
        if !by.answers() {
            return false;
        }
        if by == Responder::Person && self.first_response_at.is_none() {
            self.first_response_at = Some(at);
            self.first_response_by = agent.map(str::to_string);
        }
        self.last_answered_at = Some(self.last_answered_at.map_or(at, |t| t.max(at)));
        let was_waiting = self.waiting_since.take().is_some();
        self.response_due_at = None;
        self.sla_breached_at = None;
        if self.status == Status::Open {
            self.status = Status::Pending;
        }
        was_waiting
    }

    /// Escalates at `at` with an answer due within `target_secs`: begins an episode
    /// (`escalated_at`, `escalation_count`) unless one is in progress; the earlier of the
    /// due times wins; the priority becomes urgent. Returns whether an episode began.
    pub fn escalate(&mut self, at: i64, target_secs: u32) -> bool {
        if !self.escalated && self.escalated_at == Some(at) {
            // The episode that began at this very instant has already ended (the same
            // decision applied again): nothing begins.
            return false;
        }
        let began = !self.escalated;
        if began {
            self.escalated = true;
            self.escalated_at = Some(at);
            self.escalation_count += 1;
            self.escalation_cleared_at = None;
            self.escalation_cleared_by = None;
        }
        self.escalation_target_secs = Some(match (began, self.escalation_target_secs) {
            (false, Some(t)) => t.min(target_secs),
            _ => target_secs,
        });
        let due = at.saturating_add(i64::from(target_secs) * 1000);
        self.response_due_at = Some(self.response_due_at.map_or(due, |d| d.min(due)));
        self.priority = Priority::Urgent;
        began
    }

    /// Ends the escalation episode at `at`, by `by` (`agent:<id>`, `rule:<id>`, `auto`); an
    /// urgent priority goes back to normal. The due time of a waiting customer stays. Returns
    /// false (and changes nothing) when the conversation is not escalated.
    pub fn clear_escalation(&mut self, at: i64, by: &str) -> bool {
        if !self.escalated {
            return false;
        }
        self.escalated = false;
        self.escalation_target_secs = None;
        self.escalation_cleared_at = Some(at);
        self.escalation_cleared_by = Some(by.to_string());
        if self.priority == Priority::Urgent {
            self.priority = Priority::Normal;
        }
        true
    }

    /// Resolves at `at`, by `by`: status resolved, `resolved_at` and `resolved_by` set, no
    /// one waiting, nothing due and no breach pending (a resolution is not an answer:
    /// `first_response_at` stays as it is), the escalation episode cleared, and
    /// `removes_tags` removed (the rules document's `lifecycle.resolve_removes_tags`).
    /// Returns false (and changes nothing) when it is already resolved.
    pub fn resolve(&mut self, at: i64, by: &str, removes_tags: &[String]) -> bool {
        if self.status == Status::Resolved {
            return false;
        }
        self.status = Status::Resolved;
        self.resolved_at = Some(at);
        self.resolved_by = Some(by.to_string());
        self.waiting_since = None;
        self.response_due_at = None;
        self.sla_breached_at = None;
        self.resolution_due_at = None;
        self.clear_escalation(at, by);
        for tag in removes_tags {
            self.tags.remove(tag);
        }
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::text_message;

    fn waiting(at: i64) -> Conversation {
        let m = text_message("demo", "u1", &at.to_string(), "你们是骗子", at);
        let mut c = Conversation::new_for(&m);
        c.record_inbound(&m);
        c
    }

    #[test]
    fn an_automatic_reply_reaches_the_customer_but_leaves_them_waiting() {
        let mut c = waiting(1_000);
        c.escalate(1_000, 60);
        assert!(!c.record_outbound(1_500, Responder::Automation));
        assert_eq!(c.last_outbound_at, Some(1_500));
        assert_eq!(c.waiting_since, Some(1_000), "still waiting");
        assert_eq!(c.response_due_at, Some(61_000), "the clock still runs");
        assert_eq!(c.first_response_at, None);
        assert_eq!(c.last_answered_at, None);
        assert_eq!(c.status, Status::Open);
    }

    #[test]
    fn a_person_answers_and_the_first_answer_is_the_first_response() {
        let mut c = waiting(1_000);
        c.escalate(1_000, 60);
        assert!(c.record_outbound(30_000, Responder::Person));
        assert_eq!(c.first_response_at, Some(30_000));
        assert_eq!(c.last_answered_at, Some(30_000));
        assert_eq!((c.waiting_since, c.response_due_at), (None, None));
        assert_eq!(c.status, Status::Pending);
        assert!(c.escalated, "an answer does not end the escalation");
        // Answering again: not waiting any more, the first response stays.
        assert!(!c.record_outbound(40_000, Responder::Person));
        assert_eq!(c.first_response_at, Some(30_000));
        assert_eq!(c.last_answered_at, Some(40_000));
    }

    #[test]
    fn an_answer_or_a_resolution_clears_a_breach_and_a_new_wait_starts_without_one() {
        let mut c = waiting(1_000);
        c.escalate(1_000, 60);
        c.sla_breached_at = Some(61_000); // the SLA monitor marked the wait
        assert!(!c.record_outbound(62_000, Responder::Automation));
        assert_eq!(
            c.sla_breached_at,
            Some(61_000),
            "an acknowledgement answers nothing"
        );
        assert!(c.record_outbound(90_000, Responder::Person));
        assert_eq!(c.sla_breached_at, None, "the answer ends the breached wait");

        let m = text_message("demo", "u1", "again", "还在吗", 100_000);
        c.record_inbound(&m);
        assert_eq!(c.waiting_since, Some(100_000));
        assert_eq!(c.sla_breached_at, None, "a new wait starts unbreached");
        c.sla_breached_at = Some(200_000);
        assert!(c.resolve(300_000, "agent:alice", &[]));
        assert_eq!(c.sla_breached_at, None, "a resolution ends the wait");
    }

    #[test]
    fn a_rule_that_counts_as_an_answer_answers_without_being_a_first_response() {
        let mut c = waiting(1_000);
        assert!(c.record_outbound(1_200, Responder::AnsweringRule));
        assert_eq!(c.waiting_since, None);
        assert_eq!(c.last_answered_at, Some(1_200));
        assert_eq!(c.first_response_at, None, "people only");
    }

    #[test]
    fn escalations_are_episodes_and_the_earlier_due_time_wins() {
        let mut c = waiting(1_000);
        assert!(c.escalate(1_000, 600));
        assert!(!c.escalate(2_000, 60), "the same episode");
        assert_eq!(c.response_due_at, Some(62_000));
        assert_eq!((c.escalated_at, c.escalation_count), (Some(1_000), 1));
        assert_eq!(c.priority, Priority::Urgent);

        assert!(c.clear_escalation(5_000, "agent:alice"));
        assert!(!c.escalated);
        assert_eq!(c.escalation_cleared_at, Some(5_000));
        assert_eq!(c.escalation_cleared_by.as_deref(), Some("agent:alice"));
        assert_eq!(c.priority, Priority::Normal);
        assert!(!c.clear_escalation(6_000, "agent:bob"), "nothing to clear");
        assert_eq!(c.escalation_cleared_by.as_deref(), Some("agent:alice"));

        assert!(c.escalate(9_000, 60), "a new episode");
        assert_eq!((c.escalated_at, c.escalation_count), (Some(9_000), 2));
        assert_eq!(c.escalation_cleared_at, None);
    }

    #[test]
    fn resolving_ends_the_wait_and_the_episode_and_a_new_message_reopens() {
        let mut c = waiting(1_000);
        c.escalate(1_000, 60);
        c.tags.insert("crisis".into());
        c.tags.insert("vip".into());
        assert!(c.resolve(9_000, "agent:alice", &["crisis".to_string()]));
        assert_eq!(c.status, Status::Resolved);
        assert_eq!(
            (c.resolved_at, c.resolved_by.as_deref()),
            (Some(9_000), Some("agent:alice"))
        );
        assert_eq!((c.waiting_since, c.response_due_at), (None, None));
        assert_eq!(c.first_response_at, None, "a resolution is not an answer");
        assert!(!c.escalated);
        assert_eq!(c.escalation_cleared_by.as_deref(), Some("agent:alice"));
        assert_eq!(c.tags.iter().collect::<Vec<_>>(), ["vip"]);
        assert!(!c.resolve(9_500, "auto", &[]), "already resolved");
        assert_eq!(c.resolved_by.as_deref(), Some("agent:alice"));

        // An event (an unfollow, a follow) reopens nothing.
        let event = crate::testing::event_message("demo", "u1", "unfollow", 10_000);
        c.record_inbound(&event);
        assert_eq!((c.status, c.reopened_count), (Status::Resolved, 0));

        let m = text_message("demo", "u1", "later", "价格", 86_400_000);
        c.record_inbound(&m);
        assert_eq!(c.status, Status::Open);
        assert_eq!(c.reopened_count, 1);
        assert_eq!(c.opened_at, Some(86_400_000), "a new episode");
        assert_eq!(c.waiting_since, Some(86_400_000));
        assert_eq!(c.resolved_at, Some(9_000), "the last resolution is kept");
    }
}
