//! Handler tests of the reply API with in-memory fakes.

use super::*;
use gateway_core::account::AccountsDocument;
use gateway_core::conversation::Conversation;
use gateway_core::delivery::auth::sign;
use gateway_core::delivery::ports::{DeliveryRecord, DeliveryState};
use gateway_core::delivery::testing::InMemoryDeliveryLedger;
use gateway_core::outbound::ReplyOrigin;
use gateway_core::profile::crm::InMemoryCrmContacts;
use gateway_core::testing::{RecordingReplyQueue, StaticAccounts, text_message};

mod contacts;

const SECRET: &str = "crm-shared-secret-0123456789";
const NOW_MS: i64 = 1_800_000_000_000;
const ACCOUNTS: &str = r#"{
  "wechat": {"demo": {"app_id": "wx1", "token": "t", "app_secret": "s"}},
  "weibo": {"brand": {"app_key": "k", "app_secret": "s", "access_token": "a"}},
  "api_clients": {
    "crm": {"secret": "crm-shared-secret-0123456789", "accounts": ["wechat:demo", "weibo:brand"]},
    "desk": {"secret": "desk-shared-secret-012345", "accounts": ["weibo:brand"]},
    "other": {"secret": "other-shared-secret-0123", "accounts": ["wechat:demo"]}
  }
}"#;

struct Fixture {
    api: ReplyApi,
    queue: Arc<RecordingReplyQueue>,
    ledger: Arc<InMemoryDeliveryLedger>,
    contacts: Arc<InMemoryCrmContacts>,
}

fn fixture() -> Fixture {
    let queue = Arc::new(RecordingReplyQueue::default());
    let ledger = Arc::new(InMemoryDeliveryLedger::default());
    let contacts = Arc::new(InMemoryCrmContacts::default());
    let m = text_message("demo", "oUser", "1", "hi", NOW_MS - 1_000);
    let mut c = Conversation::new_for(&m);
    c.record_inbound(&m);
    c.version = 1;
    ledger.put_conversation(c);
    Fixture {
        api: ReplyApi {
            accounts: Arc::new(StaticAccounts(Arc::new(
                AccountsDocument::from_json(ACCOUNTS).expect("accounts"),
            ))),
            conversations: ledger.clone(),
            queue: queue.clone(),
            ledger: ledger.clone(),
            requests: ledger.clone(),
            contacts: contacts.clone(),
            accept_v1: true,
            max_clock_skew_secs: 300,
            max_body_bytes: 4096,
        },
        queue,
        ledger,
        contacts,
    }
}

fn signed(method: &str, path: &str, client: &str, secret: &str, ts: i64, body: &str) -> Request {
    lambda_http::http::Request::builder()
        .method(method)
        .uri(path)
        .header(CLIENT_HEADER, client)
        .header(TIMESTAMP_HEADER, ts.to_string())
        .header(
            SIGNATURE_HEADER,
            sign(
                secret,
                method,
                &signed_route(path),
                client,
                ts,
                body.as_bytes(),
            ),
        )
        .body(if body.is_empty() {
            Body::Empty
        } else {
            Body::Text(body.to_string())
        })
        .expect("request")
}

/// The route part a client signs: the path from `/replies` or `/contacts` on.
fn signed_route(path: &str) -> String {
    let path = path.trim_end_matches('/');
    match path.find("/replies").or_else(|| path.find("/contacts")) {
        Some(i) => path[i..].to_string(),
        None => path.to_string(),
    }
}

fn post(body: &str) -> Request {
    signed("POST", "/replies", "crm", SECRET, NOW_MS / 1000, body)
}

async fn call(f: &Fixture, request: Request) -> (u16, Value) {
    let response = handle_request_at(&f.api, request, NOW_MS).await;
    let status = response.status().as_u16();
    let body = match response.body() {
        Body::Text(t) => serde_json::from_str(t).expect("json body"),
        _ => Value::Null,
    };
    (status, body)
}

const TEXT: &str = r#"{"conversation_key":"wechat:demo:oUser","content":{"type":"text","text":"您好"},"agent_id":"alice"}"#;

#[tokio::test]
async fn a_signed_reply_is_queued_as_an_agent_command() {
    let f = fixture();
    let (status, body) = call(&f, post(TEXT)).await;
    assert_eq!(status, 202, "{body}");
    let commands = f.queue.commands();
    assert_eq!(commands.len(), 1);
    let c = &commands[0];
    assert_eq!(body["reply_id"], c.dedupe_id());
    assert_eq!(body["status"], "queued");
    assert_eq!(c.recipient_id, "oUser");
    // No idempotency key: derived from the client, the signed timestamp and the body.
    assert!(
        c.idempotency_key.starts_with("agent:crm:auto:"),
        "{}",
        c.idempotency_key
    );
    assert_eq!(
        c.origin,
        ReplyOrigin::Agent {
            client_id: "crm".into(),
            agent_id: Some("alice".into())
        }
    );
    // Behind a stage or Function URL prefix too.
    let request = signed(
        "POST",
        "/lambda-url/reply-api/replies/",
        "crm",
        SECRET,
        NOW_MS / 1000,
        TEXT,
    );
    assert_eq!(call(&f, request).await.0, 202);
}

#[tokio::test]
async fn every_bad_request_gets_a_clear_4xx_and_queues_nothing() {
    let f = fixture();
    let ts = NOW_MS / 1000;
    let cases: Vec<(Request, u16, &str)> = vec![
        (
            signed(
                "POST",
                "/replies",
                "crm",
                "wrong-secret-0123456789",
                ts,
                TEXT,
            ),
            401,
            "bad_signature",
        ),
        (
            signed("POST", "/replies", "nobody", SECRET, ts, TEXT),
            401,
            "bad_signature",
        ),
        (
            signed("POST", "/replies", "crm", SECRET, ts - 301, TEXT),
            401,
            "stale_timestamp",
        ),
        (
            lambda_http::http::Request::builder()
                .method("POST")
                .uri("/replies")
                .body(Body::Text(TEXT.into()))
                .expect("request"),
            401,
            "missing_header",
        ),
        (post("{"), 400, "malformed_body"),
        (
            post(r#"{"conversation_key":"wechat:demo:oUser","content":{"type":"txt","text":"x"}}"#),
            400,
            "malformed_body",
        ),
        (
            post(r#"{"content":{"type":"text","text":"x"}}"#),
            422,
            "missing_conversation",
        ),
        (
            post(
                r#"{"conversation_key":"wechat:nope:oUser","content":{"type":"text","text":"x"}}"#,
            ),
            404,
            "unknown_account",
        ),
        (
            post(
                r#"{"conversation_key":"wechat:demo:stranger","content":{"type":"text","text":"x"}}"#,
            ),
            404,
            "unknown_conversation",
        ),
        (
            post(r#"{"conversation_key":"wechat:demo:oUser","content":{"type":"text","text":""}}"#),
            422,
            "invalid_content",
        ),
        (
            post(
                r#"{"conversation_key":"wechat:demo:oUser","content":{"type":"position","latitude":1,"longitude":2}}"#,
            ),
            422,
            "unsupported_content",
        ),
        (
            signed(
                "POST",
                "/replies",
                "desk",
                "desk-shared-secret-012345",
                ts,
                TEXT,
            ),
            403,
            "account_not_allowed",
        ),
        (
            post(&format!(
                r#"{{"conversation_key":"wechat:demo:oUser","content":{{"type":"text","text":"{}"}}}}"#,
                "x".repeat(5000)
            )),
            413,
            "body_too_large",
        ),
        (
            signed("PUT", "/replies", "crm", SECRET, ts, TEXT),
            405,
            "method_not_allowed",
        ),
        (
            signed("POST", "/elsewhere", "crm", SECRET, ts, TEXT),
            404,
            "not_found",
        ),
    ];
    for (i, (request, status, code)) in cases.into_iter().enumerate() {
        let (got, body) = call(&f, request).await;
        assert_eq!(
            (got, body["error"].as_str()),
            (status, Some(code)),
            "case {i}: {body}"
        );
        assert!(
            !body.to_string().contains("您好"),
            "case {i} echoes content"
        );
    }
    assert!(f.queue.commands().is_empty());
}

#[tokio::test]
async fn the_same_client_key_is_the_same_reply_and_a_failing_queue_is_503() {
    let f = fixture();
    let body = r#"{"conversation_key":"wechat:demo:oUser","content":{"type":"text","text":"x"},"idempotency_key":"ticket-1"}"#;
    let (_, first) = call(&f, post(body)).await;
    let (_, second) = call(&f, post(body)).await;
    assert_eq!(first["reply_id"], second["reply_id"]);
    f.queue.set_failing(true);
    assert_eq!(call(&f, post(body)).await.0, 503);
}

#[tokio::test]
async fn the_delivery_state_of_a_reply_can_be_read() {
    let f = fixture();
    let (_, queued) = call(&f, post(TEXT)).await;
    let id = queued["reply_id"].as_str().expect("id").to_string();
    let get = |id: &str| {
        signed(
            "GET",
            &format!("/replies/{id}"),
            "crm",
            SECRET,
            NOW_MS / 1000,
            "",
        )
    };
    let (status, body) = call(&f, get(&id)).await;
    assert_eq!((status, body["state"].as_str()), (200, Some("pending")));
    f.ledger.set(DeliveryRecord {
        reply_id: id.clone(),
        state: DeliveryState::Delivered,
        calling_since_ms: None,
        sent_at_ms: Some(5),
        reason: None,
        error_code: None,
        platform_id: None,
        retry_at_ms: None,
        updated_at_ms: 5,
    });
    let (_, body) = call(&f, get(&id)).await;
    assert_eq!(body["state"], "delivered");
    assert_eq!(body["retry_at_ms"], serde_json::Value::Null);
    // A template message held for its account's daily quota: why, and when it is tried again.
    f.ledger.set(DeliveryRecord {
        reply_id: id.clone(),
        state: DeliveryState::Held,
        calling_since_ms: None,
        sent_at_ms: None,
        reason: Some("template_quota_exhausted".into()),
        error_code: None,
        platform_id: None,
        retry_at_ms: Some(NOW_MS + 3_600_000),
        updated_at_ms: NOW_MS,
    });
    let (_, body) = call(&f, get(&id)).await;
    assert_eq!(body["state"], "held");
    assert_eq!(body["reason"], "template_quota_exhausted");
    assert_eq!(body["retry_at_ms"], NOW_MS + 3_600_000);
    assert_eq!(call(&f, get("xyz")).await.0, 400);
}

#[tokio::test]
async fn a_replayed_request_without_a_key_is_one_reply() {
    let f = fixture();
    // The same signed request twice (a replay, or a client's retry of the same request).
    let (first, a) = call(&f, post(TEXT)).await;
    let (second, b) = call(&f, post(TEXT)).await;
    assert_eq!((first, second), (202, 202));
    assert_eq!(a["reply_id"], b["reply_id"]);
    let commands = f.queue.commands();
    assert_eq!(commands.len(), 2);
    assert_eq!(commands[0].dedupe_id(), commands[1].dedupe_id());
    // Signed at another second, it is another request: another reply.
    let later = signed("POST", "/replies", "crm", SECRET, NOW_MS / 1000 - 1, TEXT);
    let (_, c) = call(&f, later).await;
    assert_ne!(a["reply_id"], c["reply_id"]);
}

#[tokio::test]
async fn a_key_reused_for_other_content_or_conversation_is_409_and_queues_nothing() {
    let f = fixture();
    let m = text_message("demo", "oOther", "2", "hi", NOW_MS - 1_000);
    let mut c = Conversation::new_for(&m);
    c.record_inbound(&m);
    c.version = 1;
    f.ledger.put_conversation(c);
    let with = |customer: &str, text: &str| {
        format!(
            r#"{{"conversation_key":"wechat:demo:{customer}","content":{{"type":"text","text":"{text}"}},"idempotency_key":"ticket-9"}}"#
        )
    };
    assert_eq!(call(&f, post(&with("oUser", "first"))).await.0, 202);
    for (customer, text) in [("oUser", "second"), ("oOther", "first")] {
        let (status, body) = call(&f, post(&with(customer, text))).await;
        assert_eq!(
            (status, body["error"].as_str()),
            (409, Some("idempotency_key_reused")),
            "{customer} {text}: {body}"
        );
    }
    assert_eq!(f.queue.commands().len(), 1);
    // Another client may use the same key: keys are scoped to their client.
    let other = signed(
        "POST",
        "/replies",
        "other",
        "other-shared-secret-0123",
        NOW_MS / 1000,
        &with("oUser", "second"),
    );
    assert_eq!(call(&f, other).await.0, 202);
}

#[tokio::test]
async fn a_reply_status_is_for_its_client_only_and_needs_a_signed_path() {
    let f = fixture();
    let (_, queued) = call(&f, post(TEXT)).await;
    let id = queued["reply_id"].as_str().expect("id").to_string();
    let path = format!("/replies/{id}");
    let ts = NOW_MS / 1000;
    let other = signed("GET", &path, "other", "other-shared-secret-0123", ts, "");
    let (status, body) = call(&f, other).await;
    assert_eq!((status, body["error"].as_str()), (404, Some("not_found")));
    // A v1 signature (which does not cover the path) is refused for a status.
    let v1 = lambda_http::http::Request::builder()
        .method("GET")
        .uri(&path)
        .header(CLIENT_HEADER, "crm")
        .header(TIMESTAMP_HEADER, ts.to_string())
        .header(
            SIGNATURE_HEADER,
            gateway_core::delivery::auth::sign_v1(SECRET, ts, b""),
        )
        .body(Body::Empty)
        .expect("request");
    let (status, body) = call(&f, v1).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (401, Some("signature_version_refused"))
    );
    // A signature for another reply's path does not read this one.
    let mut elsewhere = signed(
        "GET",
        &format!("/replies/{}", "0".repeat(64)),
        "crm",
        SECRET,
        ts,
        "",
    );
    *elsewhere.uri_mut() = path.parse().expect("uri");
    assert_eq!(call(&f, elsewhere).await.0, 401);
}

#[tokio::test]
async fn v1_signatures_still_post_with_a_deprecation_header_until_switched_off() {
    let mut f = fixture();
    let ts = NOW_MS / 1000;
    let v1 = || {
        lambda_http::http::Request::builder()
            .method("POST")
            .uri("/replies")
            .header(CLIENT_HEADER, "crm")
            .header(TIMESTAMP_HEADER, ts.to_string())
            .header(
                SIGNATURE_HEADER,
                gateway_core::delivery::auth::sign_v1(SECRET, ts, TEXT.as_bytes()),
            )
            .body(Body::Text(TEXT.into()))
            .expect("request")
    };
    let response = handle_request_at(&f.api, v1(), NOW_MS).await;
    assert_eq!(response.status().as_u16(), 202);
    assert_eq!(
        response.headers().get("deprecation").map(|v| v.as_bytes()),
        Some(&b"true"[..])
    );
    let v2 = handle_request_at(&f.api, post(TEXT), NOW_MS).await;
    assert!(v2.headers().get("deprecation").is_none());
    f.api.accept_v1 = false;
    assert_eq!(call(&f, v1()).await.0, 401);
}

#[tokio::test]
async fn text_longer_than_the_channel_takes_is_refused_before_queuing() {
    let f = fixture();
    let long = |n: usize| {
        format!(
            r#"{{"conversation_key":"wechat:demo:oUser","content":{{"type":"text","text":"{}"}}}}"#,
            "好".repeat(n)
        )
    };
    // 2048 bytes is 682 three-byte characters.
    assert_eq!(call(&f, post(&long(682))).await.0, 202);
    let (status, body) = call(&f, post(&long(683))).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (422, Some("invalid_content"))
    );
    assert_eq!(f.queue.commands().len(), 1);
}

#[tokio::test]
async fn the_sample_reply_event_is_accepted_at_its_signing_time() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let read = |p: &str| std::fs::read_to_string(root.join(p)).expect("sample file");
    let batch: Value = serde_json::from_str(&read("events/sqs/inbound-batch.json")).expect("json");
    let message: gateway_core::NormalizedMessage =
        serde_json::from_str(batch["Records"][0]["body"].as_str().expect("body")).expect("message");
    let queue = Arc::new(RecordingReplyQueue::default());
    let ledger = Arc::new(InMemoryDeliveryLedger::default());
    let mut c = Conversation::new_for(&message);
    c.record_inbound(&message);
    c.version = 1;
    ledger.put_conversation(c);
    let api = ReplyApi {
        accounts: Arc::new(StaticAccounts(Arc::new(
            AccountsDocument::from_json(&read("config/accounts.local.json")).expect("accounts"),
        ))),
        conversations: ledger.clone(),
        requests: ledger.clone(),
        contacts: Arc::new(InMemoryCrmContacts::default()),
        accept_v1: true,
        queue: queue.clone(),
        ledger,
        max_clock_skew_secs: 300,
        max_body_bytes: 4096,
    };
    let request =
        lambda_http::request::from_str(&read("events/reply-api/post-reply.apigw-v2.json"))
            .expect("API Gateway v2 event");
    // `gatewayctl events generate` signs every sample at 1_795_038_400.
    let response = handle_request_at(&api, request, 1_795_038_400_000).await;
    assert_eq!(response.status().as_u16(), 202);
    let queued = queue.commands();
    assert_eq!(queued.len(), 1);
    assert_eq!(queued[0].conversation_key, message.conversation_key);
}

#[tokio::test]
async fn a_public_comment_is_queued_for_a_weibo_conversation_and_validated() {
    let f = fixture();
    let mut m = text_message("brand", "2001", "1", "hi", NOW_MS - 1_000);
    m.channel = gateway_core::message::Channel::Weibo;
    m.conversation_key = "weibo:brand:2001".into();
    let mut c = Conversation::new_for(&m);
    c.version = 1;
    f.ledger.put_conversation(c);
    let public = |key: &str, content: &str| {
        format!(
            r#"{{"conversation_key":"{key}","content":{content},"idempotency_key":"{key}-{}"}}"#,
            content.len()
        )
    };
    let ok = r#"{"type":"public_comment","text":"抱歉","post_id":"4900000000000001","comment_id":"4900000000000777"}"#;
    let (status, body) = call(&f, post(&public("weibo:brand:2001", ok))).await;
    assert_eq!(status, 202, "{body}");
    let commands = f.queue.commands();
    assert_eq!(commands[0].content.kind(), "public_comment");
    assert!(commands[0].content.is_public());
    for (key, content, code) in [
        ("wechat:demo:oUser", ok, "unsupported_content"),
        (
            "weibo:brand:2001",
            r#"{"type":"public_comment","text":"x"}"#,
            "invalid_content",
        ),
        (
            "weibo:brand:2001",
            r#"{"type":"public_comment","text":" ","post_id":"1"}"#,
            "invalid_content",
        ),
    ] {
        let (status, body) = call(&f, post(&public(key, content))).await;
        assert_eq!(
            (status, body["error"].as_str()),
            (422, Some(code)),
            "{body}"
        );
    }
    let long = format!(
        r#"{{"type":"public_comment","text":"{}","post_id":"1"}}"#,
        "好".repeat(141)
    );
    let (status, body) = call(&f, post(&public("weibo:brand:2001", &long))).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (422, Some("invalid_content"))
    );
    assert!(body.to_string().contains("140"), "{body}");
    assert_eq!(f.queue.commands().len(), 1, "nothing queued by a refusal");
    // Delivered: its status names the comment Weibo created.
    let id = commands[0].dedupe_id();
    f.ledger.set(DeliveryRecord {
        reply_id: id.clone(),
        state: DeliveryState::Delivered,
        calling_since_ms: None,
        sent_at_ms: Some(5),
        reason: None,
        error_code: None,
        platform_id: Some("4990000000000001".into()),
        retry_at_ms: None,
        updated_at_ms: 5,
    });
    let get = signed(
        "GET",
        &format!("/replies/{id}"),
        "crm",
        SECRET,
        NOW_MS / 1000,
        "",
    );
    let (_, body) = call(&f, get).await;
    assert_eq!(body["platform_id"], "4990000000000001");
}
