//! The `reply-api` request: what an agent desk or CRM posts to `POST /replies`, its
//! validation, and the [`ReplyCommand`] it becomes. Pure: the time and the generated key are
//! passed in.
//!
//! ```json
//! {
//!   "conversation_key": "wechat:demo:oUser123",
//!   "content": { "type": "text", "text": "您好，我们已为您处理" },
//!   "idempotency_key": "ticket-4711-reply-2",
//!   "agent_id": "alice"
//! }
//! ```
//!
//! Instead of `conversation_key`, a request may name `channel`, `account_id` and `customer_id`.

use crate::account::is_valid_account_name;
use crate::message::{Channel, NormalizedMessage};
use crate::outbound::{REPLY_SCHEMA_VERSION, ReplyCommand, ReplyOrigin};
use crate::reply::ReplyContent;
use serde::Deserialize;

/// Longest client idempotency key, agent id and customer id, in bytes.
pub const MAX_ID_BYTES: usize = 128;

/// The body of `POST /replies`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReplyRequest {
    /// `{channel}:{account}:{customer}`.
    #[serde(default)]
    pub conversation_key: Option<String>,
    /// Channel, when `conversation_key` is not given.
    #[serde(default)]
    pub channel: Option<Channel>,
    /// Account, when `conversation_key` is not given.
    #[serde(default)]
    pub account_id: Option<String>,
    /// The customer's platform id, when `conversation_key` is not given.
    #[serde(default)]
    pub customer_id: Option<String>,
    /// What to send.
    pub content: ReplyContent,
    /// The client's own key for this reply: a retry with the same key is delivered once.
    #[serde(default)]
    pub idempotency_key: Option<String>,
    /// The agent who wrote it, for the record.
    #[serde(default)]
    pub agent_id: Option<String>,
    /// `agent` (default): a person's reply, which answers the customer. `system`: an automated
    /// notice (an order or ticket update) that reaches the customer but answers nothing.
    #[serde(default)]
    pub origin: RequestOrigin,
}

/// Who a reply submitted through `reply-api` comes from.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RequestOrigin {
    /// A person (the default).
    #[default]
    Agent,
    /// An automated notice from the client system.
    System,
}

/// Who a reply goes to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// Channel.
    pub channel: Channel,
    /// Account.
    pub account_id: String,
    /// Customer's platform id.
    pub customer_id: String,
    /// `{channel}:{account}:{customer}`.
    pub conversation_key: String,
}

/// Why a request was refused. Each variant has its HTTP status and code.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RequestError {
    /// Not JSON, not the documented shape, or an unknown field.
    #[error("malformed body: {0}")]
    MalformedBody(String),
    /// Neither `conversation_key` nor `channel` + `account_id` + `customer_id`, or both.
    #[error(
        "name the conversation: either `conversation_key` or `channel`, `account_id` and `customer_id`"
    )]
    MissingTarget,
    /// The conversation is named but the name is not valid.
    #[error("invalid conversation: {0}")]
    InvalidTarget(String),
    /// The content does not validate.
    #[error("invalid content: {0}")]
    InvalidContent(String),
    /// The channel cannot carry this type of content.
    #[error("{channel} cannot carry a {kind} reply")]
    UnsupportedContent {
        /// Channel.
        channel: Channel,
        /// Content type.
        kind: &'static str,
    },
    /// `idempotency_key` or `agent_id` is empty, too long or has control characters.
    #[error("invalid {0}: 1 to 128 printable characters")]
    InvalidId(&'static str),
    /// A `system` notice names an agent.
    #[error("a system notice has no agent_id: send it with origin agent, or without agent_id")]
    AgentOnSystemNotice,
}

impl RequestError {
    /// HTTP status.
    pub fn status(&self) -> u16 {
        match self {
            RequestError::MalformedBody(_) => 400,
            _ => 422,
        }
    }
    /// Machine-readable code.
    pub fn code(&self) -> &'static str {
        match self {
            RequestError::MalformedBody(_) => "malformed_body",
            RequestError::MissingTarget => "missing_conversation",
            RequestError::InvalidTarget(_) => "invalid_conversation",
            RequestError::InvalidContent(_) => "invalid_content",
            RequestError::UnsupportedContent { .. } => "unsupported_content",
            RequestError::InvalidId(_) => "invalid_id",
            RequestError::AgentOnSystemNotice => "agent_on_system_notice",
        }
    }
}

fn valid_id(s: &str) -> bool {
    !s.is_empty() && s.len() <= MAX_ID_BYTES && !s.chars().any(char::is_control)
}

impl ReplyRequest {
    /// Parses a body. The error names the problem without echoing the content.
    pub fn parse(body: &[u8]) -> Result<Self, RequestError> {
        serde_json::from_slice(body).map_err(|e| {
            let m = e.to_string();
            let safe = if m.starts_with("unknown field")
                || m.starts_with("missing field")
                || m.starts_with("unknown variant")
            {
                m
            } else {
                format!("invalid JSON at line {} column {}", e.line(), e.column())
            };
            RequestError::MalformedBody(safe)
        })
    }

    /// The conversation the reply goes to.
    pub fn target(&self) -> Result<Target, RequestError> {
        let (channel, account, customer) = match (
            &self.conversation_key,
            self.channel,
            &self.account_id,
            &self.customer_id,
        ) {
            (Some(key), None, None, None) => {
                let mut parts = key.splitn(3, ':');
                let (Some(c), Some(a), Some(u)) = (parts.next(), parts.next(), parts.next()) else {
                    return Err(RequestError::InvalidTarget(
                        "conversation_key must be channel:account:customer".into(),
                    ));
                };
                let channel: Channel = c.parse().map_err(RequestError::InvalidTarget)?;
                (channel, a.to_string(), u.to_string())
            }
            (None, Some(c), Some(a), Some(u)) => (c, a.clone(), u.clone()),
            _ => return Err(RequestError::MissingTarget),
        };
        if !is_valid_account_name(&account) {
            return Err(RequestError::InvalidTarget(
                "account names are 1-64 of [A-Za-z0-9_-]".into(),
            ));
        }
        if !valid_id(&customer) || customer.contains(char::is_whitespace) {
            return Err(RequestError::InvalidTarget(
                "customer_id must be 1-128 characters without spaces".into(),
            ));
        }
        Ok(Target {
            conversation_key: NormalizedMessage::conversation_key_for(channel, &account, &customer),
            channel,
            account_id: account,
            customer_id: customer,
        })
    }

    /// Validates everything and builds the command. `generated_key` is used when the client
    /// gave no idempotency key (a random value: each such request is a new reply).
    pub fn into_command(
        self,
        client_id: &str,
        generated_key: &str,
        now_ms: i64,
    ) -> Result<ReplyCommand, RequestError> {
        let target = self.target()?;
        self.content
            .validate()
            .map_err(RequestError::InvalidContent)?;
        if !self.content.supported_on(target.channel) {
            return Err(RequestError::UnsupportedContent {
                channel: target.channel,
                kind: self.content.kind(),
            });
        }
        self.content
            .check_length(target.channel)
            .map_err(RequestError::InvalidContent)?;
        if self.agent_id.as_deref().is_some_and(|a| !valid_id(a)) {
            return Err(RequestError::InvalidId("agent_id"));
        }
        if self.origin == RequestOrigin::System && self.agent_id.is_some() {
            return Err(RequestError::AgentOnSystemNotice);
        }
        let key = match &self.idempotency_key {
            Some(k) if valid_id(k) => format!("agent:{client_id}:key:{k}"),
            Some(_) => return Err(RequestError::InvalidId("idempotency_key")),
            None => format!("agent:{client_id}:auto:{generated_key}"),
        };
        Ok(ReplyCommand {
            schema_version: REPLY_SCHEMA_VERSION,
            idempotency_key: key,
            channel: target.channel,
            account_id: target.account_id,
            conversation_key: target.conversation_key,
            recipient_id: target.customer_id,
            content: self.content,
            origin: match self.origin {
                RequestOrigin::Agent => ReplyOrigin::Agent {
                    client_id: client_id.to_string(),
                    agent_id: self.agent_id,
                },
                RequestOrigin::System => ReplyOrigin::System {
                    client_id: client_id.to_string(),
                },
            },
            created_at_ms: now_ms,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(json: &str) -> Result<ReplyRequest, RequestError> {
        ReplyRequest::parse(json.as_bytes())
    }

    #[test]
    fn builds_an_agent_command_with_a_client_key() {
        let r = parse(
            r#"{"conversation_key":"wechat:demo:oU1","content":{"type":"text","text":"hi"},"idempotency_key":"t-1","agent_id":"alice"}"#,
        )
        .expect("parses");
        let c = r.into_command("crm", "rnd", 5).expect("valid");
        assert_eq!(c.idempotency_key, "agent:crm:key:t-1");
        assert_eq!(c.recipient_id, "oU1");
        assert_eq!(c.conversation_key, "wechat:demo:oU1");
        assert_eq!(
            c.origin,
            ReplyOrigin::Agent {
                client_id: "crm".into(),
                agent_id: Some("alice".into())
            }
        );
        let again = parse(
            r#"{"channel":"wechat","account_id":"demo","customer_id":"oU1","content":{"type":"text","text":"hi"},"idempotency_key":"t-1"}"#,
        )
        .expect("parses")
        .into_command("crm", "other", 9)
        .expect("valid");
        assert_eq!(again.dedupe_id(), c.dedupe_id(), "same key, same reply");
        let auto =
            parse(r#"{"conversation_key":"weibo:brand:123","content":{"type":"text","text":"x"}}"#)
                .expect("parses")
                .into_command("crm", "r4nd", 1)
                .expect("valid");
        assert_eq!(auto.idempotency_key, "agent:crm:auto:r4nd");
    }

    #[test]
    fn refuses_bad_requests_with_a_clear_code() {
        let cases = [
            ("{", "malformed_body"),
            (
                r#"{"conversation_key":"wechat:demo:u","content":{"type":"text","text":"x"},"extra":1}"#,
                "malformed_body",
            ),
            (
                r#"{"content":{"type":"text","text":"x"}}"#,
                "missing_conversation",
            ),
            (
                r#"{"conversation_key":"wechat:demo:u","channel":"wechat","content":{"type":"text","text":"x"}}"#,
                "missing_conversation",
            ),
            (
                r#"{"conversation_key":"line:demo:u","content":{"type":"text","text":"x"}}"#,
                "invalid_conversation",
            ),
            (
                r#"{"conversation_key":"wechat:demo","content":{"type":"text","text":"x"}}"#,
                "invalid_conversation",
            ),
            (
                r#"{"conversation_key":"wechat:de mo:u","content":{"type":"text","text":"x"}}"#,
                "invalid_conversation",
            ),
            (
                r#"{"conversation_key":"wechat:demo:u","content":{"type":"text","text":" "}}"#,
                "invalid_content",
            ),
            (
                r#"{"conversation_key":"wechat:demo:u","content":{"type":"position","latitude":1,"longitude":2}}"#,
                "unsupported_content",
            ),
            (
                r#"{"conversation_key":"weibo:b:1","content":{"type":"image","media_id":"m"}}"#,
                "unsupported_content",
            ),
            (
                r#"{"conversation_key":"wechat:demo:u","content":{"type":"text","text":"x"},"idempotency_key":""}"#,
                "invalid_id",
            ),
        ];
        for (body, code) in cases {
            let got = parse(body).and_then(|r| r.into_command("crm", "k", 1));
            assert_eq!(got.map(|_| ()).map_err(|e| e.code()), Err(code), "{body}");
        }
        let e = parse(r#"{"conversation_key":"wechat:demo:u","content":{"type":"text","text":"SECRET"},"x":1}"#)
            .expect_err("unknown field");
        assert!(!e.to_string().contains("SECRET"));
        let e = parse(r#"{"content":{"type":"text","text":"SECRET"#).expect_err("truncated");
        assert!(!e.to_string().contains("SECRET"));
    }

    #[test]
    fn a_system_notice_is_marked_so_and_names_no_agent() {
        let notice = parse(
            r#"{"conversation_key":"wechat:demo:oU1","content":{"type":"text","text":"您的订单已发货"},"origin":"system"}"#,
        )
        .expect("parses")
        .into_command("crm", "k", 1)
        .expect("valid");
        assert_eq!(
            notice.origin,
            ReplyOrigin::System {
                client_id: "crm".into()
            }
        );
        assert_eq!(
            notice.origin.responder(),
            crate::conversation::Responder::Automation
        );
        let with_agent = parse(
            r#"{"conversation_key":"wechat:demo:oU1","content":{"type":"text","text":"x"},"origin":"system","agent_id":"alice"}"#,
        )
        .expect("parses")
        .into_command("crm", "k", 1)
        .expect_err("refused");
        assert_eq!(with_agent.code(), "agent_on_system_notice");
        assert_eq!(with_agent.status(), 422);
        let unknown = parse(
            r#"{"conversation_key":"wechat:demo:oU1","content":{"type":"text","text":"x"},"origin":"bot"}"#,
        )
        .expect_err("refused");
        assert_eq!(unknown.code(), "malformed_body");
    }
}
