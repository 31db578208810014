//! The conversation: contact-centre state of one customer on one account, and how inbound
//! messages change it.
//!
//! Pure: times are passed in (Unix milliseconds).

mod lifecycle;
pub mod preview;
pub mod profile;
pub mod windows;

pub use lifecycle::Responder;
pub use preview::MessagePreview;
pub use profile::CustomerProfile;

use crate::message::{Channel, NormalizedMessage};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};
use windows::{PublicReplies, ReplyWindows, UndeliverableReply};

/// How many recent inbound dedupe ids a conversation remembers, so that an SQS redelivery is
/// recognised before any rule runs (the message write is also conditional).
pub const RECENT_DEDUPE_IDS: usize = 32;

/// Where a conversation stands.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// Waiting for the contact centre.
    #[default]
    Open,
    /// Waiting for the customer.
    Pending,
    /// Closed.
    Resolved,
}

impl Status {
    /// Lowercase name.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Open => "open",
            Status::Pending => "pending",
            Status::Resolved => "resolved",
        }
    }
}

/// Priority of a conversation in agent queues.
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum Priority {
    /// Low.
    Low,
    /// Normal (default).
    #[default]
    Normal,
    /// High.
    High,
    /// Urgent: crisis escalations.
    Urgent,
}

/// One conversation between a customer and an account.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Conversation {
    /// `{channel}:{account}:{customer}`.
    pub key: String,
    /// Channel.
    pub channel: Channel,
    /// Gateway account name.
    pub account_id: String,
    /// The customer's platform id.
    pub customer_id: String,
    /// Status.
    pub status: Status,
    /// Team (agent queue) it is assigned to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub team: Option<String>,
    /// The agent it is assigned to (their desk id), if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub assignee: Option<String>,
    /// When it was assigned to `assignee`, Unix ms.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub assigned_at: Option<i64>,
    /// Priority.
    #[serde(default)]
    pub priority: Priority,
    /// Tags.
    #[serde(default, skip_serializing_if = "BTreeSet::is_empty")]
    pub tags: BTreeSet<String>,
    /// First inbound message, Unix ms.
    pub first_inbound_at: i64,
    /// When the current episode opened: the first message that made the customer wait since
    /// the conversation began or was last resolved, Unix ms.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub opened_at: Option<i64>,
    /// The first answer by a person (an agent's delivered reply) in the current episode, Unix
    /// ms. Rule replies never set it, not even those that count as an answer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub first_response_at: Option<i64>,
    /// Who gave that first answer: the agent id of the reply's origin (`None` when it was not
    /// recorded, or the reply named no agent: a client of the reply API without one).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub first_response_by: Option<String>,
    /// The last answer (an agent's reply, or a rule's that counts as one), Unix ms.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_answered_at: Option<i64>,
    /// Last inbound message, Unix ms.
    pub last_inbound_at: i64,
    /// Last message delivered to the customer, from anyone (rules included), Unix ms.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_outbound_at: Option<i64>,
    /// The latest message, shortened (what a desk's list row shows).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_message: Option<MessagePreview>,
    /// Since when the customer has been waiting for an answer, Unix ms; none when answered.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub waiting_since: Option<i64>,
    /// Escalated (crisis): must be answered within the response target, until cleared.
    #[serde(default)]
    pub escalated: bool,
    /// When the current (or last) escalation episode began, Unix ms.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub escalated_at: Option<i64>,
    /// When the last escalation episode was cleared, Unix ms, and by whom (`agent:<id>`,
    /// `rule:<id>`, `auto`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub escalation_cleared_at: Option<i64>,
    /// Who cleared the last escalation episode.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub escalation_cleared_by: Option<String>,
    /// The response target of the escalation in progress, seconds: each wait during the
    /// episode is due within it (it overrides the service level's).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub escalation_target_secs: Option<u32>,
    /// Escalation episodes, in all.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub escalation_count: u64,
    /// When an answer is due, Unix ms: the service level's first-response target, or an
    /// escalation's when earlier. Cleared by an answer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub response_due_at: Option<i64>,
    /// When the current wait breached its response due time, Unix ms (set by the SLA
    /// monitor). Cleared by an answer and by a resolution.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sla_breached_at: Option<i64>,
    /// When the episode breached its resolution due time, Unix ms (set by the SLA monitor).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resolution_breached_at: Option<i64>,
    /// When the episode is due resolved, Unix ms (its service level's resolution target).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resolution_due_at: Option<i64>,
    /// The service-level policy that applies (`service_levels` in the rules document).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service_level: Option<String>,
    /// When the conversation was last resolved, Unix ms (kept when it reopens).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resolved_at: Option<i64>,
    /// Who resolved it last (`agent:<id>`, `rule:<id>`, `auto`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resolved_by: Option<String>,
    /// How many times a new message reopened it after it was resolved.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub reopened_count: u64,
    /// Number of inbound messages stored.
    pub inbound_count: u64,
    /// Dedupe ids of the most recent inbound messages (newest last).
    #[serde(default)]
    pub recent_dedupe_ids: Vec<String>,
    /// The committed decision of each recent inbound message (keyed by its dedupe id, for the
    /// messages in `recent_dedupe_ids`): the ids (first 16 hex characters) of the auto-replies
    /// it contains. Written in the router's transaction with the message; the reply sender
    /// delivers an auto-reply only when its id is here, so a reply queued for a decision that
    /// lost a conflict (and was re-evaluated) is never sent.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub decided_replies: BTreeMap<String, Vec<String>>,
    /// Per-rule memory: rule id -> when it last fired, Unix ms (for "once per day" rules).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub rule_last_fired: BTreeMap<String, i64>,
    /// Reply windows opened by the customer's interactions, and the replies charged to them
    /// (see [`crate::delivery::window`]).
    #[serde(default, skip_serializing_if = "ReplyWindows::is_empty")]
    pub reply_windows: ReplyWindows,
    /// The latest reply that could not be delivered (outside the window, quota used up,
    /// unfollowed…), so that agents see it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub undeliverable: Option<UndeliverableReply>,
    /// How many replies could not be delivered, in all.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub undeliverable_count: u64,
    /// Public replies (comments under posts) delivered, and the latest one's time: counted on
    /// their own, never charged to `reply_windows`.
    #[serde(default, skip_serializing_if = "PublicReplies::is_empty")]
    pub public_replies: PublicReplies,
    /// WeChat template messages accepted by the platform, and the latest one's time: counted
    /// on their own (same shape as `public_replies`), never charged to `reply_windows`.
    #[serde(default, skip_serializing_if = "PublicReplies::is_empty")]
    pub template_replies: PublicReplies,
    /// The position of the latest item in the conversation's thread (inbound and outbound
    /// messages, internal notes): each new item takes the next number, in the same write as the
    /// conversation, so the thread reads in the order things happened.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub thread_seq: u64,
    /// The customer's profile as the platform holds it (media-fetcher, `docs/profiles.md`);
    /// none until it is first fetched.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub profile: Option<CustomerProfile>,
    /// The `fetched_at` of the last profile the router evaluated the profile rules for
    /// (a profile notice), Unix ms: a redelivered notice changes nothing.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub profile_rules_at: Option<i64>,
    /// When the router last queued a profile fetch, Unix ms (the receive time of the message
    /// that asked): a burst of messages before the profile arrives asks once.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub profile_requested_at: Option<i64>,
    /// Optimistic-concurrency version: incremented on every write.
    pub version: u64,
}

/// The part of a reply id kept in [`Conversation::decided_replies`].
fn short_reply_id(reply_id: &str) -> String {
    reply_id.chars().take(16).collect()
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

impl Conversation {
    /// A new, empty conversation for the sender of `message`.
    pub fn new_for(message: &NormalizedMessage) -> Self {
        Conversation {
            key: message.conversation_key.clone(),
            channel: message.channel,
            account_id: message.account_id.clone(),
            customer_id: message.sender_id.clone(),
            status: Status::Open,
            team: None,
            assignee: None,
            assigned_at: None,
            priority: Priority::Normal,
            tags: BTreeSet::new(),
            first_inbound_at: message.received_at_ms,
            opened_at: None,
            first_response_at: None,
            first_response_by: None,
            last_answered_at: None,
            last_inbound_at: message.received_at_ms,
            last_outbound_at: None,
            last_message: None,
            waiting_since: None,
            escalated: false,
            escalated_at: None,
            escalation_cleared_at: None,
            escalation_cleared_by: None,
            escalation_target_secs: None,
            escalation_count: 0,
            response_due_at: None,
            sla_breached_at: None,
            resolution_breached_at: None,
            resolution_due_at: None,
            service_level: None,
            resolved_at: None,
            resolved_by: None,
            reopened_count: 0,
            inbound_count: 0,
            recent_dedupe_ids: Vec::new(),
            decided_replies: BTreeMap::new(),
            rule_last_fired: BTreeMap::new(),
            reply_windows: ReplyWindows::default(),
            undeliverable: None,
            undeliverable_count: 0,
            public_replies: PublicReplies::default(),
            template_replies: PublicReplies::default(),
            thread_seq: 0,
            profile: None,
            profile_rules_at: None,
            profile_requested_at: None,
            version: 0,
        }
    }

    /// Takes the next position in the thread for a new item (a message or a note).
    pub fn next_thread_seq(&mut self) -> u64 {
        self.thread_seq += 1;
        self.thread_seq
    }

    /// True when the customer is waiting for an answer.
    pub fn is_unanswered(&self) -> bool {
        self.waiting_since.is_some()
    }

    /// True when this conversation already stored the message with `dedupe_id`.
    pub fn has_seen(&self, dedupe_id: &str) -> bool {
        self.recent_dedupe_ids.iter().any(|d| d == dedupe_id)
    }

    /// Records an inbound message: counters, its place in the thread, times, waiting state,
    /// reopening a resolved conversation (`reopened_count`; a new episode opens). Events (follow, menu clicks…) do
    /// not make the customer "wait" and reopen nothing.
    pub fn record_inbound(&mut self, message: &NormalizedMessage) {
        let at = message.received_at_ms;
        if self.inbound_count == 0 {
            self.first_inbound_at = at;
        }
        self.inbound_count += 1;
        self.next_thread_seq();
        self.last_inbound_at = self.last_inbound_at.max(at);
        let expects_answer = !matches!(message.content, crate::Content::Event { .. });
        if expects_answer {
            self.last_message = Some(MessagePreview::inbound(message));
            if self.waiting_since.is_none() {
                self.waiting_since = Some(at);
            }
            if self.status == Status::Resolved {
                self.reopened_count += 1;
                self.opened_at = None;
                self.first_response_at = None;
                self.first_response_by = None;
                self.resolution_due_at = None;
                self.resolution_breached_at = None;
            }
            if self.opened_at.is_none() {
                self.opened_at = Some(at);
            }
            self.status = Status::Open;
        }
        self.reply_windows.record_inbound(message);
        self.recent_dedupe_ids.push(message.dedupe_id());
        if self.recent_dedupe_ids.len() > RECENT_DEDUPE_IDS {
            let excess = self.recent_dedupe_ids.len() - RECENT_DEDUPE_IDS;
            self.recent_dedupe_ids.drain(..excess);
        }
        let recent = &self.recent_dedupe_ids;
        self.decided_replies.retain(|m, _| recent.contains(m));
    }

    /// Records the committed decision's auto-replies for the message `dedupe_id` (call after
    /// [`record_inbound`](Self::record_inbound)).
    pub fn record_decision(&mut self, dedupe_id: &str, reply_ids: &[String]) {
        self.decided_replies.insert(
            dedupe_id.to_string(),
            reply_ids.iter().map(|id| short_reply_id(id)).collect(),
        );
    }

    /// Whether the committed decision for `message_dedupe_id` contains the auto-reply
    /// `reply_id`; `None` when no decision is recorded for it (a message older than the recent
    /// window, or stored before decisions were recorded).
    pub fn decided(&self, message_dedupe_id: &str, reply_id: &str) -> Option<bool> {
        self.decided_replies
            .get(message_dedupe_id)
            .map(|ids| ids.iter().any(|id| *id == short_reply_id(reply_id)))
    }

    /// Marks a reply that could not be delivered (the outbound path).
    pub fn record_undeliverable(&mut self, reply: UndeliverableReply) {
        self.undeliverable_count += 1;
        self.undeliverable = Some(reply);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::text_message;

    #[test]
    fn inbound_text_opens_waiting_and_an_agent_reply_answers_it() {
        let m = text_message("demo", "u1", "1", "hello", 1_000);
        let mut c = Conversation::new_for(&m);
        c.record_inbound(&m);
        assert_eq!(c.inbound_count, 1);
        assert_eq!(c.waiting_since, Some(1_000));
        assert!(c.is_unanswered());
        assert!(c.has_seen(&m.dedupe_id()));

        let m2 = text_message("demo", "u1", "2", "anyone?", 5_000);
        c.record_inbound(&m2);
        assert_eq!(
            c.waiting_since,
            Some(1_000),
            "waiting since the first unanswered"
        );
        assert_eq!(c.last_inbound_at, 5_000);

        c.record_outbound(7_000, Responder::Person);
        assert_eq!(c.first_response_at, Some(7_000));
        assert!(!c.is_unanswered());
        assert_eq!(c.status, Status::Pending);
        c.record_outbound(9_000, Responder::Person);
        assert_eq!(c.first_response_at, Some(7_000));
        assert_eq!(c.last_outbound_at, Some(9_000));
    }

    #[test]
    fn decisions_are_kept_for_the_recent_messages_only() {
        let first = text_message("demo", "u1", "0", "hi", 1_000);
        let mut c = Conversation::new_for(&first);
        c.record_inbound(&first);
        let reply = "ab".repeat(32);
        c.record_decision(&first.dedupe_id(), std::slice::from_ref(&reply));
        assert_eq!(c.decided(&first.dedupe_id(), &reply), Some(true));
        assert_eq!(c.decided(&first.dedupe_id(), &"cd".repeat(32)), Some(false));
        assert_eq!(c.decided("msg:unknown", &reply), None);
        for i in 1..=RECENT_DEDUPE_IDS {
            let m = text_message("demo", "u1", &i.to_string(), "hi", 1_000 + i as i64);
            c.record_inbound(&m);
            c.record_decision(&m.dedupe_id(), &[]);
        }
        // The first message left the recent window; so did its decision.
        assert_eq!(c.decided(&first.dedupe_id(), &reply), None);
        assert_eq!(c.decided_replies.len(), RECENT_DEDUPE_IDS);
    }

    #[test]
    fn remembers_only_the_most_recent_dedupe_ids() {
        let first = text_message("demo", "u1", "0", "x", 0);
        let mut c = Conversation::new_for(&first);
        for i in 0..(RECENT_DEDUPE_IDS as i64 + 5) {
            c.record_inbound(&text_message("demo", "u1", &i.to_string(), "x", i));
        }
        assert_eq!(c.recent_dedupe_ids.len(), RECENT_DEDUPE_IDS);
        assert!(!c.has_seen(&first.dedupe_id()));
    }

    #[test]
    fn public_replies_are_counted_apart_and_stored_only_once_there_is_one() {
        let m = text_message("demo", "u1", "1", "hi", 1_000);
        let mut c = Conversation::new_for(&m);
        let json = serde_json::to_value(&c).expect("json");
        assert!(
            json.get("public_replies").is_none(),
            "absent until the first"
        );
        c.public_replies.record_sent(5_000);
        c.public_replies.record_sent(4_000);
        assert_eq!(c.public_replies.sent, 2);
        assert_eq!(c.public_replies.last_at, Some(5_000));
        let json = serde_json::to_value(&c).expect("json");
        assert_eq!(
            json["public_replies"],
            serde_json::json!({"sent": 2, "last_at": 5_000})
        );
        // An item written before the field existed reads as none.
        let mut old = json.clone();
        old.as_object_mut()
            .expect("object")
            .remove("public_replies");
        let back: Conversation = serde_json::from_value(old).expect("old item");
        assert!(back.public_replies.is_empty());
    }
}
