use super::*;
use crate::account::AccountsDocument;
use crate::testing::StaticAccounts;
use std::sync::{Arc, Mutex};

const EVENT: &str = r#"{"version":1,"id":"evt-7","type":"conversation.escalated","occurred_at":"2026-12-06T10:00:00.123Z","channel":"wechat","account":"demo","conversation_key":"wechat#demo#o1","customer_id":"o1","sequence":"100","data":{}}"#;
const NOW: i64 = 1765015200;

fn accounts(clients: &str) -> StaticAccounts {
    let doc = format!(
        r#"{{"wechat":{{"demo":{{"app_id":"wx1","token":"t"}}}},"api_clients":{{{clients}}}}}"#
    );
    StaticAccounts(Arc::new(AccountsDocument::from_json(&doc).expect("valid")))
}

const CRM: &str = r#""crm":{"secret":"0123456789abcdef","accounts":["wechat:demo"],
    "webhook":{"url":"https://crm.example.com/h","secret":"whsec-crm-0123456"}}"#;
const TIX: &str = r#""tix":{"secret":"0123456789abcdef","accounts":["wechat:demo"],
    "webhook":{"url":"https://t.example.com/h","secret":"whsec-tix-0123456"}}"#;

/// One POST as the poster was given it: URL, headers, body.
type Post = (String, Vec<(&'static str, String)>, Vec<u8>);

/// Answers each POST with the next scripted result and records what it was given.
#[derive(Default)]
struct ScriptedPoster {
    answers: Mutex<Vec<Result<PostAnswer, PostError>>>,
    posts: Mutex<Vec<Post>>,
}

impl ScriptedPoster {
    fn answering(answers: Vec<Result<PostAnswer, PostError>>) -> Self {
        ScriptedPoster {
            answers: Mutex::new(answers),
            posts: Mutex::default(),
        }
    }
}

#[async_trait]
impl WebhookPoster for ScriptedPoster {
    async fn post(
        &self,
        url: &str,
        headers: &[(&'static str, String)],
        body: &[u8],
    ) -> Result<PostAnswer, PostError> {
        self.posts
            .lock()
            .expect("lock")
            .push((url.to_string(), headers.to_vec(), body.to_vec()));
        let mut answers = self.answers.lock().expect("lock");
        if answers.is_empty() {
            return Ok(status(200, ""));
        }
        answers.remove(0)
    }
}

#[derive(Default)]
struct RecordingFanOut(Mutex<Vec<DeliveryMessage>>);

#[async_trait]
impl WebhookFanOut for RecordingFanOut {
    async fn fan_out(&self, messages: &[DeliveryMessage]) -> Result<(), PortError> {
        self.0.lock().expect("lock").extend_from_slice(messages);
        Ok(())
    }
}

fn status(status: u16, body: &str) -> PostAnswer {
    PostAnswer {
        status,
        body_start: body.into(),
    }
}

async fn run(
    accounts: &StaticAccounts,
    poster: &ScriptedPoster,
    fan_out: &RecordingFanOut,
    body: &str,
    attempt: u32,
) -> Handled {
    let ports = Ports {
        accounts,
        poster,
        fan_out,
    };
    process(&ports, body, attempt, 6, NOW).await
}

#[tokio::test]
async fn one_client_gets_the_event_signed_with_its_own_secret() {
    // Arrange
    let accounts = accounts(CRM);
    let poster = ScriptedPoster::default();
    let fan_out = RecordingFanOut::default();
    // Act
    let handled = run(&accounts, &poster, &fan_out, EVENT, 1).await;
    // Assert
    assert_eq!(
        handled,
        Handled::Delivered {
            client: "crm".into(),
            status: 200
        }
    );
    let posts = poster.posts.lock().expect("lock");
    let (url, headers, body) = &posts[0];
    assert_eq!(url, "https://crm.example.com/h");
    assert_eq!(body, EVENT.as_bytes());
    let header = |name: &str| {
        headers
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| v.as_str())
            .expect(name)
    };
    assert_eq!(header("x-gateway-event"), "conversation.escalated");
    assert_eq!(header("x-gateway-event-id"), "evt-7");
    assert_eq!(header("x-gateway-timestamp"), NOW.to_string());
    assert_eq!(
        sign::verify(
            "whsec-crm-0123456",
            header("x-gateway-timestamp"),
            header("x-gateway-signature"),
            body,
            NOW,
            300
        ),
        Ok(())
    );
    assert!(fan_out.0.lock().expect("lock").is_empty());
}

#[tokio::test]
async fn several_clients_fan_out_one_message_each_without_posting() {
    let accounts = accounts(&format!("{CRM},{TIX}"));
    let poster = ScriptedPoster::default();
    let fan_out = RecordingFanOut::default();
    let handled = run(&accounts, &poster, &fan_out, EVENT, 1).await;
    assert_eq!(handled, Handled::FannedOut(2));
    assert!(poster.posts.lock().expect("lock").is_empty());
    let messages = fan_out.0.lock().expect("lock").clone();
    let clients: Vec<_> = messages.iter().map(|m| m.webhook_client.as_str()).collect();
    assert_eq!(clients, ["crm", "tix"]);
    // Each message then goes to its client only.
    let handled = run(&accounts, &poster, &fan_out, &messages[1].to_json(), 1).await;
    assert_eq!(
        handled,
        Handled::Delivered {
            client: "tix".into(),
            status: 200
        }
    );
    assert_eq!(
        poster.posts.lock().expect("lock")[0].0,
        "https://t.example.com/h"
    );
}

#[test]
fn outcomes_are_classified_by_status_and_transport() {
    for (result, expected) in [
        (Ok(status(204, "")), "delivered"),
        (Ok(status(500, "oops")), "transient"),
        (Ok(status(503, "")), "transient"),
        (Ok(status(408, "")), "transient"),
        (Ok(status(429, "slow down")), "transient"),
        (Ok(status(400, "bad")), "permanent"),
        (Ok(status(401, "")), "permanent"),
        (Ok(status(404, "")), "permanent"),
        (Ok(status(410, "")), "permanent"),
        (Ok(status(301, "")), "permanent"),
        (Err(PostError::Timeout), "transient"),
        (Err(PostError::Connect("refused".into())), "transient"),
        (Err(PostError::Transport("reset".into())), "transient"),
    ] {
        let got = match classify(&result) {
            Attempt::Delivered(_) => "delivered",
            Attempt::Transient(_) => "transient",
            Attempt::Permanent(_) => "permanent",
        };
        assert_eq!(got, expected, "{result:?}");
    }
}

#[tokio::test]
async fn a_refusal_is_dead_lettered_at_once_with_status_and_answer() {
    let accounts = accounts(&format!("{CRM},{TIX}"));
    let poster = ScriptedPoster::answering(vec![Ok(status(400, "{\"error\":\"unknown\nfield\"}"))]);
    let fan_out = RecordingFanOut::default();
    let message = DeliveryMessage {
        webhook_client: "crm".into(),
        event: EVENT.into(),
    };
    let handled = run(&accounts, &poster, &fan_out, &message.to_json(), 1).await;
    let Handled::DeadLetter {
        client,
        reason,
        body,
    } = handled
    else {
        panic!("dead letter expected: {handled:?}");
    };
    assert_eq!(client.as_deref(), Some("crm"));
    assert_eq!(reason, "http 400: {\"error\":\"unknown field\"}");
    // The letter redrives to this client only.
    assert_eq!(body, message.to_json());
}

#[tokio::test]
async fn transient_failures_retry_until_the_attempt_limit() {
    let accounts = accounts(CRM);
    let fan_out = RecordingFanOut::default();
    let poster = ScriptedPoster::answering(vec![Ok(status(500, "down"))]);
    let handled = run(&accounts, &poster, &fan_out, EVENT, 5).await;
    assert_eq!(
        handled,
        Handled::Retry {
            client: Some("crm".into()),
            reason: "http 500: down".into()
        }
    );
    let poster = ScriptedPoster::answering(vec![Err(PostError::Timeout)]);
    let Handled::DeadLetter { reason, body, .. } =
        run(&accounts, &poster, &fan_out, EVENT, 6).await
    else {
        panic!("dead letter expected");
    };
    assert_eq!(
        reason,
        "gateway:retries_exhausted after 6 attempts: timed out"
    );
    assert!(body.contains("\"webhook_client\":\"crm\""), "{body}");
}

#[tokio::test]
async fn nobody_subscribed_and_undecodable_records() {
    let accounts = accounts(CRM);
    let poster = ScriptedPoster::default();
    let fan_out = RecordingFanOut::default();
    let other = EVENT.replace(r#""account":"demo""#, r#""account":"other""#);
    assert_eq!(
        run(&accounts, &poster, &fan_out, &other, 1).await,
        Handled::Nobody
    );
    let Handled::DeadLetter { body, client, .. } = run(&accounts, &poster, &fan_out, "{", 1).await
    else {
        panic!("dead letter expected");
    };
    assert_eq!((body.as_str(), client), ("{", None));
    assert!(poster.posts.lock().expect("lock").is_empty());
}
