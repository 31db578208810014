//! Reply commands: the one form in which every reply to a customer travels to the
//! `reply-sender` function, whether an auto-reply decided by the router's rules or an agent's
//! reply submitted through `reply-api`.
//!
//! Pure data. Commands go on the outbound SQS FIFO queue (group = conversation, so replies to
//! one customer go out in order; deduplication id = [`ReplyCommand::dedupe_id`]).

use crate::conversation::Responder;
use crate::message::{Channel, NormalizedMessage};
use crate::reply::ReplyContent;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// Version of the reply command wire schema.
pub const REPLY_SCHEMA_VERSION: u16 = 1;

/// Who asked for a reply.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ReplyOrigin {
    /// An auto-reply rule, answering one inbound message.
    Rule {
        /// Rule id.
        rule_id: String,
        /// `dedupe_id` of the inbound message that triggered it.
        message_dedupe_id: String,
        /// The rule says its reply is a complete answer (`counts_as_answer: true`).
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        counts_as_answer: bool,
    },
    /// A person, through `reply-api` (an agent desk, or a CRM on behalf of its user).
    Agent {
        /// The API client that submitted it.
        client_id: String,
        /// The agent, when the client says.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        agent_id: Option<String>,
    },
    /// An automated notice from an API client (a CRM's order or ticket notification): it
    /// reaches the customer but answers nothing.
    System {
        /// The API client that submitted it.
        client_id: String,
    },
}

impl ReplyOrigin {
    /// The agent a person's reply names, if any.
    pub fn agent_id(&self) -> Option<&str> {
        match self {
            ReplyOrigin::Agent { agent_id, .. } => agent_id.as_deref(),
            _ => None,
        }
    }

    /// `rule`, `agent` or `system` (metrics, logs, the stored message).
    pub fn kind(&self) -> &'static str {
        match self {
            ReplyOrigin::Rule { .. } => "rule",
            ReplyOrigin::Agent { .. } => "agent",
            ReplyOrigin::System { .. } => "system",
        }
    }

    /// Whether and how a delivered reply of this origin answers the customer.
    pub fn responder(&self) -> Responder {
        match self {
            ReplyOrigin::Agent { .. } => Responder::Person,
            ReplyOrigin::Rule {
                counts_as_answer: true,
                ..
            } => Responder::AnsweringRule,
            ReplyOrigin::Rule { .. } | ReplyOrigin::System { .. } => Responder::Automation,
        }
    }
}

/// One reply to deliver to one customer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReplyCommand {
    /// Always [`REPLY_SCHEMA_VERSION`] when produced by this build.
    pub schema_version: u16,
    /// Identical for every copy of the same reply: the sender delivers each key at most once.
    pub idempotency_key: String,
    /// Channel.
    pub channel: Channel,
    /// Gateway account name.
    pub account_id: String,
    /// `{channel}:{account}:{customer}`.
    pub conversation_key: String,
    /// The customer's platform id (WeChat OpenID, Weibo UID).
    pub recipient_id: String,
    /// What to send.
    pub content: ReplyContent,
    /// Who asked for it.
    pub origin: ReplyOrigin,
    /// When the reply was decided or submitted, Unix ms.
    pub created_at_ms: i64,
}

impl ReplyCommand {
    /// The auto-reply number `index` (0-based) that rule `rule_id` decided for `message`.
    /// The key is derived from the message and the rule, so re-evaluating a redelivered message
    /// yields the same key and the reply is still sent once.
    pub fn auto_reply(
        message: &NormalizedMessage,
        rule_id: &str,
        index: usize,
        content: ReplyContent,
        now_ms: i64,
    ) -> Self {
        let message_dedupe_id = message.dedupe_id();
        ReplyCommand {
            schema_version: REPLY_SCHEMA_VERSION,
            idempotency_key: format!("rule:{message_dedupe_id}:{rule_id}:{index}"),
            channel: message.channel,
            account_id: message.account_id.clone(),
            conversation_key: message.conversation_key.clone(),
            recipient_id: message.sender_id.clone(),
            content,
            origin: ReplyOrigin::Rule {
                rule_id: rule_id.to_string(),
                message_dedupe_id,
                counts_as_answer: false,
            },
            created_at_ms: now_ms,
        }
    }

    /// The same auto-reply, marked as a complete answer when `counts_as_answer` (the rule
    /// says so); any other command unchanged.
    pub fn counting_as_answer(mut self, counts_as_answer: bool) -> Self {
        if let ReplyOrigin::Rule {
            counts_as_answer: c,
            ..
        } = &mut self.origin
        {
            *c = counts_as_answer;
        }
        self
    }

    /// 64 hex characters derived from the idempotency key: the SQS deduplication id and the
    /// key of the delivery record.
    pub fn dedupe_id(&self) -> String {
        hex::encode(Sha256::digest(self.idempotency_key.as_bytes()))
    }

    /// The SQS FIFO message group: the conversation (hashed when SQS would refuse it).
    pub fn message_group_id(&self) -> String {
        crate::message::message_group_id(&self.conversation_key)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::text_message;

    #[test]
    fn a_reply_is_in_the_same_fifo_group_as_its_conversation_s_messages() {
        for key in [
            "wechat:demo:openid",
            &format!("weibo:brand:{}", "x".repeat(200)),
            "wechat:a b:c",
        ] {
            let mut m = text_message("demo", "u1", "m1", "hi", 0);
            m.conversation_key = key.to_string();
            let reply = ReplyCommand::auto_reply(&m, "r", 0, ReplyContent::text("x"), 0);
            assert_eq!(reply.message_group_id(), m.message_group_id(), "{key}");
        }
    }

    #[test]
    fn auto_reply_keys_are_stable_per_message_rule_and_index() {
        let m = text_message("demo", "u1", "42", "hi", 1_000);
        let reply = || ReplyContent::Text {
            text: "hello".into(),
        };
        let a = ReplyCommand::auto_reply(&m, "welcome", 0, reply(), 5);
        let again = ReplyCommand::auto_reply(&m, "welcome", 0, reply(), 9_999);
        let second = ReplyCommand::auto_reply(&m, "welcome", 1, reply(), 5);
        assert_eq!(a.idempotency_key, again.idempotency_key);
        assert_eq!(a.dedupe_id(), again.dedupe_id());
        assert_ne!(a.dedupe_id(), second.dedupe_id());
        assert_eq!(a.recipient_id, "u1");
        assert_eq!(a.message_group_id(), "wechat:demo:u1");
        let json = serde_json::to_value(&a).expect("json");
        assert_eq!(json["origin"]["type"], "rule");
        assert_eq!(json["content"]["type"], "text");
        let back: ReplyCommand = serde_json::from_value(json).expect("round trip");
        assert_eq!(back, a);
    }
}
