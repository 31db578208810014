//! What a record of the webhook queue is, and which API clients it goes to.
//!
//! The queue holds two kinds of records: the bus's events, as the EventBridge rule delivers
//! them (the whole event envelope, the event JSON under `detail`), and delivery messages the
//! sender itself queued when an event goes to several clients (one per client, so that each
//! client is retried on its own and never gets a copy another client's failure caused).
//! Pure: no I/O.

use crate::account::AccountsDocument;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// An event as it is POSTed: the routing fields and the body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    /// `id`: stable across retries of one change (the receiver's deduplication key).
    pub id: String,
    /// `type`, e.g. `conversation.escalated`.
    pub event_type: String,
    /// `channel`: `wechat` or `weibo`.
    pub channel: String,
    /// `account`: the account's name in the accounts document.
    pub account: String,
    /// The event JSON exactly as POSTed and signed.
    pub body: String,
}

/// Why a record cannot be handled (it is dead-lettered as received).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RecordError {
    /// Not JSON, or not an event envelope, an event or a delivery message.
    #[error("undecodable webhook queue record: {0}")]
    Undecodable(String),
    /// A field the routing needs is missing or not a string.
    #[error("event without `{0}`")]
    MissingField(&'static str),
}

impl Event {
    /// From the event JSON (a version 1 event, `docs/events.md`).
    pub fn from_json(body: String) -> Result<Event, RecordError> {
        let value: Value = serde_json::from_str(&body)
            .map_err(|e| RecordError::Undecodable(crate::account::describe_json_error(&e)))?;
        Self::from_value(&value, body)
    }

    fn from_value(value: &Value, body: String) -> Result<Event, RecordError> {
        let field = |name: &'static str| {
            value[name]
                .as_str()
                .filter(|s| !s.is_empty())
                .map(str::to_string)
                .ok_or(RecordError::MissingField(name))
        };
        Ok(Event {
            id: field("id")?,
            event_type: field("type")?,
            channel: field("channel")?,
            account: field("account")?,
            body,
        })
    }

    /// `{channel}:{account}`, as API clients' `accounts` scopes name it.
    pub fn scope(&self) -> String {
        format!("{}:{}", self.channel, self.account)
    }
}

/// A delivery message: one event for one client, queued by the sender's fan-out. The event
/// travels as the string it is POSTed as, so every attempt sends the same bytes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeliveryMessage {
    /// The API client's id.
    pub webhook_client: String,
    /// The event JSON.
    pub event: String,
}

impl DeliveryMessage {
    /// The message's JSON.
    pub fn to_json(&self) -> String {
        serde_json::json!({"webhook_client": self.webhook_client, "event": self.event}).to_string()
    }
}

/// One record of the webhook queue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum QueueRecord {
    /// An event from the bus, for every subscribed client.
    Bus(Event),
    /// An event for one client.
    Delivery {
        /// The API client's id.
        client: String,
        /// The event.
        event: Event,
    },
}

impl QueueRecord {
    /// Decodes a record body: an EventBridge envelope (`detail-type`, `detail`), a delivery
    /// message (`webhook_client`, `event`), or a bare event (a rule with `InputPath: $.detail`).
    ///
    /// The POSTed body of an envelope's event is its `detail` in compact JSON: EventBridge
    /// hands the rule's target the detail re-serialized inside the envelope, not the bytes
    /// `PutEvents` received, so no byte-exact copy exists past the bus.
    pub fn parse(body: &str) -> Result<QueueRecord, RecordError> {
        let value: Value = serde_json::from_str(body)
            .map_err(|e| RecordError::Undecodable(crate::account::describe_json_error(&e)))?;
        if let Some(client) = value.get("webhook_client") {
            let message: DeliveryMessage = serde_json::from_value(value.clone())
                .map_err(|e| RecordError::Undecodable(crate::account::describe_json_error(&e)))?;
            let client = client.as_str().unwrap_or_default().to_string();
            return Ok(QueueRecord::Delivery {
                client,
                event: Event::from_json(message.event)?,
            });
        }
        if value.get("detail-type").is_some() {
            let detail = value
                .get("detail")
                .filter(|d| d.is_object())
                .ok_or(RecordError::MissingField("detail"))?;
            return Ok(QueueRecord::Bus(Event::from_value(
                detail,
                detail.to_string(),
            )?));
        }
        if value.is_object() {
            return Ok(QueueRecord::Bus(Event::from_value(
                &value,
                body.to_string(),
            )?));
        }
        Err(RecordError::Undecodable("not a JSON object".into()))
    }

    /// The event.
    pub fn event(&self) -> &Event {
        match self {
            QueueRecord::Bus(event) | QueueRecord::Delivery { event, .. } => event,
        }
    }
}

/// The clients whose webhook receives `event`: a webhook configured, the event's
/// `{channel}:{account}` in the client's `accounts`, its type in the webhook's `events`.
/// In client id order.
pub fn subscribers(doc: &AccountsDocument, event: &Event) -> Vec<String> {
    let scope = event.scope();
    doc.api_clients
        .iter()
        .filter(|(_, client)| {
            client.accounts.contains(&scope)
                && client
                    .webhook
                    .as_ref()
                    .is_some_and(|w| w.wants(&event.event_type))
        })
        .map(|(id, _)| id.clone())
        .collect()
}

/// What to do with a record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Plan {
    /// Nobody receives it (no subscriber; or the delivery's client no longer subscribes):
    /// acknowledge.
    Nobody,
    /// POST it to this one client, in this invocation (its retries are this record's).
    Deliver(String),
    /// Queue one delivery message per client: each is then retried independently.
    FanOut(Vec<DeliveryMessage>),
}

/// The plan for `record` under the current accounts document.
pub fn plan(doc: &AccountsDocument, record: &QueueRecord) -> Plan {
    let event = record.event();
    let mut clients = subscribers(doc, event);
    match record {
        QueueRecord::Delivery { client, .. } => {
            if clients.contains(client) {
                Plan::Deliver(client.clone())
            } else {
                Plan::Nobody
            }
        }
        QueueRecord::Bus(_) => match clients.len() {
            0 => Plan::Nobody,
            1 => Plan::Deliver(clients.remove(0)),
            _ => Plan::FanOut(
                clients
                    .into_iter()
                    .map(|webhook_client| DeliveryMessage {
                        webhook_client,
                        event: event.body.clone(),
                    })
                    .collect(),
            ),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const EVENT: &str = r#"{"version":1,"id":"evt-1","type":"conversation.escalated","occurred_at":"2026-12-06T10:00:00.123Z","channel":"wechat","account":"demo","conversation_key":"wechat#demo#o1","customer_id":"o1","sequence":"100","data":{}}"#;

    fn doc() -> AccountsDocument {
        AccountsDocument::from_json(
            r#"{"wechat":{"demo":{"app_id":"wx1","token":"t"},"other":{"app_id":"wx2","token":"t"}},
                "api_clients":{
                  "crm":{"secret":"0123456789abcdef","accounts":["wechat:demo"],
                         "webhook":{"url":"https://crm.example.com/h","secret":"whsec-crm-0123456"}},
                  "tickets":{"secret":"0123456789abcdef","accounts":["wechat:demo"],
                         "webhook":{"url":"https://t.example.com/h","secret":"whsec-tix-0123456",
                                    "events":["conversation.escalated"]}},
                  "elsewhere":{"secret":"0123456789abcdef","accounts":["wechat:other"],
                         "webhook":{"url":"https://e.example.com/h","secret":"whsec-els-0123456"}},
                  "quiet":{"secret":"0123456789abcdef","accounts":["wechat:demo"]},
                  "replies-only":{"secret":"0123456789abcdef","accounts":["wechat:demo"],
                         "webhook":{"url":"https://r.example.com/h","secret":"whsec-rep-0123456",
                                    "events":["reply.delivered"]}}}}"#,
        )
        .expect("valid")
    }

    fn envelope(detail: &str) -> String {
        format!(
            r#"{{"version":"0","id":"e5","detail-type":"conversation.escalated","source":"channel-gateway","account":"123456789012","time":"2026-12-06T10:00:00Z","region":"us-east-1","resources":[],"detail":{detail}}}"#
        )
    }

    #[test]
    fn an_envelope_is_routed_to_each_scoped_subscribed_client() {
        let record = QueueRecord::parse(&envelope(EVENT)).expect("decodes");
        let event = record.event();
        assert_eq!(event.id, "evt-1");
        assert_eq!(event.scope(), "wechat:demo");
        // Not `elsewhere` (another account), not `quiet` (no webhook), not `replies-only`.
        assert_eq!(subscribers(&doc(), event), ["crm", "tickets"]);
        let Plan::FanOut(messages) = plan(&doc(), &record) else {
            panic!("two clients fan out");
        };
        assert_eq!(messages.len(), 2);
        assert_eq!(messages[0].webhook_client, "crm");
        // A delivery message decodes back to the same event, for that client only.
        let back = QueueRecord::parse(&messages[1].to_json()).expect("decodes");
        assert_eq!(
            back,
            QueueRecord::Delivery {
                client: "tickets".into(),
                event: event.clone()
            }
        );
        assert_eq!(plan(&doc(), &back), Plan::Deliver("tickets".into()));
    }

    #[test]
    fn one_subscriber_is_delivered_directly_and_none_is_acknowledged() {
        let resolved = EVENT.replace("conversation.escalated", "conversation.resolved");
        let record = QueueRecord::parse(&envelope(&resolved)).expect("decodes");
        assert_eq!(plan(&doc(), &record), Plan::Deliver("crm".into()));
        let weibo = EVENT.replace(r#""channel":"wechat""#, r#""channel":"weibo""#);
        let record = QueueRecord::parse(&envelope(&weibo)).expect("decodes");
        assert_eq!(plan(&doc(), &record), Plan::Nobody);
        // A delivery for a client that no longer subscribes is acknowledged, not sent.
        let gone = DeliveryMessage {
            webhook_client: "quiet".into(),
            event: EVENT.into(),
        };
        let record = QueueRecord::parse(&gone.to_json()).expect("decodes");
        assert_eq!(plan(&doc(), &record), Plan::Nobody);
    }

    #[test]
    fn a_bare_event_keeps_its_bytes_and_bad_records_are_refused() {
        let record = QueueRecord::parse(EVENT).expect("bare event");
        assert_eq!(record.event().body, EVENT);
        assert!(matches!(
            QueueRecord::parse("not json"),
            Err(RecordError::Undecodable(_))
        ));
        assert_eq!(
            QueueRecord::parse(&envelope(r#"{"id":"x","type":"t","channel":"wechat"}"#)),
            Err(RecordError::MissingField("account"))
        );
        assert!(QueueRecord::parse(r#"{"webhook_client":"crm"}"#).is_err());
        assert!(QueueRecord::parse("[1]").is_err());
    }
}
