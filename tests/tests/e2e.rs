//! End to end through the functions running under `cargo lambda watch` (started by
//! `make test`), the real SQS FIFO queue and DynamoDB table in the AWS emulator, and the
//! router invoked the way the Lambda SQS event source invokes it.
//!
//! The running functions share one queue, so these tests take a lock and drain the queue
//! first. Every platform id is made unique per run, so reruns never collide with SQS's
//! 5-minute deduplication window.
#![allow(clippy::unwrap_used)]

use aws_sdk_sqs::types::MessageSystemAttributeName;
use gateway_core::channel::wechat::simulate::Envelope;
use gateway_core::channel::{InboundRequest, Limits, WebhookOutcome, wechat, weibo};
use gateway_core::{Content, NormalizedMessage};
use gateway_tests::{RUNNING_STACK_LOCK, RunningStack, accounts, drain, sdk, unique_digits};
use gatewayctl::send::{self, PlatformRequest};
use std::collections::BTreeMap;
use std::path::Path;

fn now_secs() -> i64 {
    send::now_secs()
}

async fn post(
    http: &reqwest::Client,
    run: &RunningStack,
    channel: &str,
    account: &str,
    request: &PlatformRequest,
) -> (u16, String) {
    let url = run.webhook_url(
        &format!("{channel}-webhook"),
        &format!("/{channel}/{account}"),
    );
    send::send(http, &url, request).await.unwrap()
}

/// What the core itself makes of a request: the expected normalized message.
fn expected(
    channel: &str,
    account: &str,
    request: &PlatformRequest,
    received_at_ms: i64,
) -> NormalizedMessage {
    let docs = accounts();
    let inbound = InboundRequest {
        method: request.method,
        account_id: account,
        query: &request.query,
        body: &request.body,
        received_at_ms,
    };
    let outcome = match channel {
        "wechat" => wechat::handle(&docs.wechat[account], &inbound, &Limits::default()),
        _ => weibo::handle(&docs.weibo[account], &inbound, &Limits::default()),
    }
    .unwrap();
    match outcome {
        WebhookOutcome::Message(m) => *m,
        other => panic!("expected a message, got {other:?}"),
    }
}

fn same_apart_from_arrival(mut got: NormalizedMessage, mut want: NormalizedMessage) -> bool {
    got.received_at_ms = 0;
    want.received_at_ms = 0;
    got == want
}

#[tokio::test]
#[ignore = "needs the running functions (make test)"]
async fn skeleton_path_wechat_text_is_queued_routed_and_stored_once() {
    let _guard = RUNNING_STACK_LOCK.lock().await;
    let run = RunningStack::from_env();
    let sdk = sdk().await;
    let sqs = aws_sdk_sqs::Client::new(&sdk);
    let ddb = aws_sdk_dynamodb::Client::new(&sdk);
    let http = gatewayctl::http_client();
    drain::<NormalizedMessage>(&sqs, &run.stack.queue_url).await;

    // Arrange: a plaintext-mode text message, signed as WeChat signs it.
    let openid = format!("o{}", unique_digits());
    let msg_id = unique_digits();
    let xml = send::wechat_text_xml(&openid, "你好 hello", &msg_id, now_secs());
    let request = send::wechat_push(
        &accounts(),
        "plain-demo",
        &xml,
        Envelope::Plaintext,
        now_secs(),
    )
    .unwrap();

    // Act: deliver it, then the platform's three retries (same MsgId, freshly signed).
    let (status, body) = post(&http, &run, "wechat", "plain-demo", &request).await;
    assert_eq!((status, body.as_str()), (200, "success"));
    for _ in 0..3 {
        let retry = send::wechat_push(
            &accounts(),
            "plain-demo",
            &xml,
            Envelope::Plaintext,
            now_secs(),
        )
        .unwrap();
        assert_eq!(
            post(&http, &run, "wechat", "plain-demo", &retry).await.0,
            200
        );
    }

    // Assert: one normalized message on the FIFO queue, grouped by conversation.
    let got = sqs
        .receive_message()
        .queue_url(&run.stack.queue_url)
        .max_number_of_messages(10)
        .message_system_attribute_names(MessageSystemAttributeName::All)
        .send()
        .await
        .unwrap();
    assert_eq!(
        got.messages().len(),
        1,
        "the retries are deduplicated by SQS"
    );
    let record = &got.messages()[0];
    let attrs = record.attributes().unwrap();
    let queued: NormalizedMessage = serde_json::from_str(record.body().unwrap()).unwrap();
    assert_eq!(
        attrs[&MessageSystemAttributeName::MessageGroupId],
        format!("wechat:plain-demo:{openid}")
    );
    assert_eq!(
        attrs[&MessageSystemAttributeName::MessageDeduplicationId],
        queued.dedupe_id()
    );
    assert_eq!(queued.platform_message_id.as_deref(), Some(msg_id.as_str()));
    assert_eq!(
        queued.content,
        Content::Text {
            text: "你好 hello".into()
        }
    );
    // Make it visible again for the router.
    sqs.change_message_visibility()
        .queue_url(&run.stack.queue_url)
        .receipt_handle(record.receipt_handle().unwrap())
        .visibility_timeout(0)
        .send()
        .await
        .unwrap();

    // Act: the router consumes the queue.
    let stats = gatewayctl::local::pump(
        &sqs,
        &http,
        &run.stack.queue_url,
        &run.invoke_url("message-router"),
    )
    .await
    .unwrap();
    assert_eq!((stats.delivered, stats.failed), (1, 0));

    // Assert: one conversation item, one message item and the message's dedupe marker.
    let key = format!("CONV#wechat:plain-demo:{openid}");
    let items = gatewayctl::local::scan_items(&ddb, &run.stack.table_name)
        .await
        .unwrap();
    let mine: Vec<_> = items.iter().filter(|i| i["PK"] == key).collect();
    assert_eq!(mine.len(), 3, "{mine:?}");
    assert!(mine.iter().any(|i| i["entity"] == "dedupe"), "{mine:?}");
    let conversation = mine.iter().find(|i| i["SK"] == "META").unwrap();
    assert_eq!(conversation["inbound_count"], 1);
    assert_eq!(conversation["status"], "open");
    let message = mine.iter().find(|i| i["entity"] == "message").unwrap();
    assert_eq!(message["message"]["content"]["text"], "你好 hello");

    // A redelivery after SQS's deduplication window (same platform message, new SQS dedup
    // id): the router's conditional write stores nothing new.
    sqs.send_message()
        .queue_url(&run.stack.queue_url)
        .message_body(record.body().unwrap())
        .message_group_id(queued.message_group_id())
        .message_deduplication_id(format!("late-{}", unique_digits()))
        .send()
        .await
        .unwrap();
    let stats = gatewayctl::local::pump(
        &sqs,
        &http,
        &run.stack.queue_url,
        &run.invoke_url("message-router"),
    )
    .await
    .unwrap();
    assert_eq!((stats.delivered, stats.failed), (1, 0));
    let after = gatewayctl::local::scan_items(&ddb, &run.stack.table_name)
        .await
        .unwrap();
    let mine_after: Vec<_> = after.iter().filter(|i| i["PK"] == key).collect();
    assert_eq!(mine_after, mine, "nothing new stored, nothing changed");
}

#[tokio::test]
#[ignore = "needs the running functions (make test)"]
async fn every_wechat_message_type_in_every_mode_reaches_the_queue_normalized() {
    let _guard = RUNNING_STACK_LOCK.lock().await;
    let run = RunningStack::from_env();
    let sdk = sdk().await;
    let sqs = aws_sdk_sqs::Client::new(&sdk);
    let http = gatewayctl::http_client();
    drain::<NormalizedMessage>(&sqs, &run.stack.queue_url).await;

    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../events/wechat/messages");
    let mut fixtures: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "xml"))
        .collect();
    fixtures.sort();
    assert!(
        fixtures.len() >= 20,
        "fixtures missing in {}",
        dir.display()
    );

    let openid = format!("o{}", unique_digits());
    let mut want: BTreeMap<String, NormalizedMessage> = BTreeMap::new();
    let mut kinds = std::collections::BTreeSet::new();
    for (mode, account) in [
        (Envelope::Plaintext, "plain-demo"),
        (Envelope::Compatible, "demo"),
        (Envelope::Secure, "secure-demo"),
    ] {
        for path in &fixtures {
            let xml = std::fs::read_to_string(path)
                .unwrap()
                .replace("o9AgO5Kd5ggOC-bXrbNODIiE3bGY", &openid)
                .replace("<MsgId>", &format!("<MsgId>{}", unique_digits()));
            let request = send::wechat_push(&accounts(), account, &xml, mode, now_secs()).unwrap();
            let (status, body) = post(&http, &run, "wechat", account, &request).await;
            assert_eq!(
                (status, body.as_str()),
                (200, "success"),
                "{} via {account}",
                path.display()
            );
            let m = expected("wechat", account, &request, now_secs() * 1000);
            kinds.insert(m.kind());
            assert!(
                want.insert(m.dedupe_id(), m).is_none(),
                "dedupe ids must differ"
            );
        }
    }

    let got = drain::<NormalizedMessage>(&sqs, &run.stack.queue_url).await;
    assert_eq!(got.len(), want.len(), "every message queued exactly once");
    for m in got {
        let w = want.remove(&m.dedupe_id()).expect("an expected message");
        assert!(
            same_apart_from_arrival(m.clone(), w.clone()),
            "{m:#?}\n!=\n{w:#?}"
        );
    }
    for kind in [
        "text", "image", "voice", "video", "location", "link", "event", "other",
    ] {
        assert!(kinds.contains(kind), "no {kind} fixture went through");
    }
}

#[tokio::test]
#[ignore = "needs the running functions (make test)"]
async fn every_weibo_push_type_reaches_the_queue_normalized() {
    let _guard = RUNNING_STACK_LOCK.lock().await;
    let run = RunningStack::from_env();
    let sdk = sdk().await;
    let sqs = aws_sdk_sqs::Client::new(&sdk);
    let http = gatewayctl::http_client();
    drain::<NormalizedMessage>(&sqs, &run.stack.queue_url).await;

    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../events/weibo/messages");
    let mut fixtures: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "json" || e == "xml"))
        .collect();
    fixtures.sort();
    assert!(
        fixtures.len() >= 19,
        "fixtures missing in {}",
        dir.display()
    );

    let sender = unique_digits();
    let mut want: BTreeMap<String, NormalizedMessage> = BTreeMap::new();
    let mut kinds = std::collections::BTreeSet::new();
    for path in &fixtures {
        let is_xml = path.extension().is_some_and(|e| e == "xml");
        let account = if is_xml { "brand-xml" } else { "brand" };
        let body = std::fs::read_to_string(path)
            .unwrap()
            .replace("2489518277", &sender)
            .replace("fromUser", &sender);
        let request = send::weibo_push(&accounts(), account, &body, now_secs() * 1000).unwrap();
        let (status, resp) = post(&http, &run, "weibo", account, &request).await;
        assert_eq!((status, resp.as_str()), (200, ""), "{}", path.display());
        let m = expected("weibo", account, &request, now_secs() * 1000);
        kinds.insert(m.kind());
        // Fixtures that are the same platform message (ids as numbers vs strings, a mention
        // pushed as `mention` and as `event`) share a dedupe id: SQS keeps the first.
        want.entry(m.dedupe_id()).or_insert(m);
    }

    let got = drain::<NormalizedMessage>(&sqs, &run.stack.queue_url).await;
    assert_eq!(
        got.len(),
        want.len(),
        "every distinct push queued exactly once"
    );
    for m in got {
        let w = want.remove(&m.dedupe_id()).expect("an expected message");
        assert!(
            same_apart_from_arrival(m.clone(), w.clone()),
            "{m:#?}\n!=\n{w:#?}"
        );
    }
    for kind in [
        "text", "image", "voice", "location", "event", "mention", "other",
    ] {
        assert!(kinds.contains(kind), "no {kind} fixture went through");
    }
}

#[tokio::test]
#[ignore = "needs the running functions (make test)"]
async fn rejected_requests_get_their_documented_status_and_queue_nothing() {
    let _guard = RUNNING_STACK_LOCK.lock().await;
    let run = RunningStack::from_env();
    let sdk = sdk().await;
    let sqs = aws_sdk_sqs::Client::new(&sdk);
    let http = gatewayctl::http_client();
    drain::<NormalizedMessage>(&sqs, &run.stack.queue_url).await;

    let xml = send::wechat_text_xml("oAttacker", "hi", &unique_digits(), now_secs());
    let good = send::wechat_push(
        &accounts(),
        "plain-demo",
        &xml,
        Envelope::Plaintext,
        now_secs(),
    )
    .unwrap();

    let mut forged = good.clone();
    forged.query.insert("signature".into(), "0".repeat(40));
    let stale = send::wechat_push(
        &accounts(),
        "plain-demo",
        &xml,
        Envelope::Plaintext,
        now_secs() - 3600,
    )
    .unwrap();
    // The downgrade: a plaintext push to a compatible account, signed with a query captured
    // from any request (the plain signature does not cover the body).
    let compatible_downgrade =
        send::wechat_push(&accounts(), "demo", &xml, Envelope::Plaintext, now_secs()).unwrap();
    // A passive reply fed back as a push: from the account (its original id) to a follower.
    let from_account = send::wechat_push(
        &accounts(),
        "plain-demo",
        &send::wechat_text_xml("gh_97417a04a28d", "hi", &unique_digits(), now_secs()).replacen(
            "<ToUserName><![CDATA[gh_97417a04a28d]]>",
            "<ToUserName><![CDATA[oVictim]]>",
            1,
        ),
        Envelope::Plaintext,
        now_secs(),
    )
    .unwrap();
    let mut doctype = good.clone();
    doctype.body =
        b"<?xml version=\"1.0\"?><!DOCTYPE x [<!ENTITY a \"aaaa\">]><xml>&a;</xml>".to_vec();
    let mut oversize = good.clone();
    oversize.body = vec![b'a'; 70 * 1024];
    let downgrade = send::wechat_push(
        &accounts(),
        "secure-demo",
        &xml,
        Envelope::Plaintext,
        now_secs(),
    )
    .unwrap();
    let mut missing = good.clone();
    missing.query.remove("nonce");

    let cases: Vec<(&str, &str, &PlatformRequest, u16, &str)> = vec![
        (
            "forged signature",
            "plain-demo",
            &forged,
            401,
            "bad_signature",
        ),
        (
            "stale timestamp",
            "plain-demo",
            &stale,
            401,
            "stale_timestamp",
        ),
        ("DTD", "plain-demo", &doctype, 400, "doctype_forbidden"),
        (
            "oversize body",
            "plain-demo",
            &oversize,
            413,
            "body_too_large",
        ),
        (
            "plaintext to a compatible account",
            "demo",
            &compatible_downgrade,
            403,
            "mode_not_allowed",
        ),
        (
            "a message from the account itself",
            "plain-demo",
            &from_account,
            403,
            "from_account_itself",
        ),
        (
            "plaintext to a secure account",
            "secure-demo",
            &downgrade,
            403,
            "mode_not_allowed",
        ),
        (
            "missing nonce",
            "plain-demo",
            &missing,
            400,
            "missing_parameter",
        ),
        // Answered exactly like a bad signature: no account enumeration.
        ("unknown account", "nobody", &good, 401, "bad_signature"),
    ];
    for (what, account, request, status, code) in cases {
        let (got_status, body) = post(&http, &run, "wechat", account, request).await;
        assert_eq!(got_status, status, "{what}: {body}");
        assert!(body.contains(code), "{what}: {body}");
    }
    // The decryption oracle: a captured secure push replayed as a verification GET, its
    // `Encrypt` as `echostr`. Never decrypted: with `signature` the ciphertext is echoed as
    // sent; the WeCom-style `msg_signature` form is refused.
    let secret_text = "my order number is 4242";
    let secret_xml = send::wechat_text_xml("oVictim", secret_text, &unique_digits(), now_secs());
    let captured = send::wechat_push(
        &accounts(),
        "secure-demo",
        &secret_xml,
        Envelope::Secure,
        now_secs(),
    )
    .unwrap();
    let body = String::from_utf8(captured.body.clone()).unwrap();
    let encrypt = body
        .split("<Encrypt><![CDATA[")
        .nth(1)
        .and_then(|rest| rest.split("]]>").next())
        .unwrap()
        .to_string();
    let mut replay = captured.clone();
    replay.method = gateway_core::channel::HttpMethod::Get;
    replay.body.clear();
    replay.query.insert("echostr".into(), encrypt.clone());
    let (status, echoed) = post(&http, &run, "wechat", "secure-demo", &replay).await;
    assert_eq!((status, echoed.as_str()), (200, encrypt.as_str()));
    replay.query.remove("signature");
    let (status, refused) = post(&http, &run, "wechat", "secure-demo", &replay).await;
    assert_eq!(status, 400, "{refused}");
    assert!(!refused.contains(secret_text) && !echoed.contains(secret_text));

    let put = http
        .put(run.webhook_url("wechat-webhook", "/wechat/demo"))
        .send()
        .await
        .unwrap();
    assert_eq!(put.status().as_u16(), 405);

    assert!(
        drain::<NormalizedMessage>(&sqs, &run.stack.queue_url)
            .await
            .is_empty(),
        "nothing queued"
    );
}

#[tokio::test]
#[ignore = "needs the running functions (make test)"]
async fn queue_outage_answers_503_in_time_and_the_platform_retry_is_queued_once() {
    let _guard = RUNNING_STACK_LOCK.lock().await;
    let run = RunningStack::from_env();
    let moto_pid = std::env::var("MOTO_PID").expect("MOTO_PID (make test exports it)");
    let sdk = sdk().await;
    let sqs = aws_sdk_sqs::Client::new(&sdk);
    let http = gatewayctl::http_client();
    drain::<NormalizedMessage>(&sqs, &run.stack.queue_url).await;
    let signal = |sig: &str| {
        let status = std::process::Command::new("kill")
            .args([sig, &moto_pid])
            .status()
            .unwrap();
        assert!(status.success(), "kill {sig} {moto_pid}");
    };

    let openid = format!("o{}", unique_digits());
    let xml = send::wechat_text_xml(&openid, "outage?", &unique_digits(), now_secs());
    let first = send::wechat_push(&accounts(), "demo", &xml, Envelope::Secure, now_secs()).unwrap();

    // Act: the AWS endpoint stops answering while the platform delivers.
    signal("-STOP");
    let started = std::time::Instant::now();
    let outcome = post(&http, &run, "wechat", "demo", &first).await;
    let elapsed = started.elapsed();
    signal("-CONT");

    // Assert: a 5xx, in time for the platform to retry (it gives up after 5 s).
    assert_eq!(outcome.0, 503, "{}", outcome.1);
    assert!(
        elapsed < std::time::Duration::from_millis(4_500),
        "{elapsed:?}"
    );

    // The platform's retry after recovery (same MsgId, freshly signed) is accepted...
    let retry = send::wechat_push(&accounts(), "demo", &xml, Envelope::Secure, now_secs()).unwrap();
    let ok = post(&http, &run, "wechat", "demo", &retry).await;
    assert_eq!((ok.0, ok.1.as_str()), (200, "success"));
    // ...and the message is on the queue exactly once, even if the frozen attempt's send
    // was processed after the thaw (same deduplication id).
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    let queued: Vec<_> = drain::<NormalizedMessage>(&sqs, &run.stack.queue_url)
        .await
        .into_iter()
        .filter(|m| m.sender_id == openid)
        .collect();
    assert_eq!(queued.len(), 1, "nothing lost, nothing doubled");
}
