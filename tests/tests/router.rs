//! The router under `cargo lambda watch` with rules pushed to the table the way ops deploy
//! them: a scripted multi-message conversation, redelivery of a whole batch, and a poison
//! record among good ones. Real SQS and DynamoDB (the emulator), real HTTP to the webhooks.
#![allow(clippy::unwrap_used)]

use aws_sdk_sqs::types::MessageSystemAttributeName;
use gateway_core::channel::wechat::simulate::Envelope;
use gateway_core::outbound::ReplyCommand;
use gateway_core::reply::ReplyContent;
use gateway_tests::{RUNNING_STACK_LOCK, RunningStack, accounts, drain, sdk, unique_digits};
use gatewayctl::send;
use serde_json::Value;

const RULES: &str = r#"
version: 1
keyword_lists:
  crisis: ["投诉", "骗子"]
rules:
  - id: welcome
    when: { event: follow }
    then: [ { reply: { type: text, text: "欢迎关注" } } ]
  - id: route
    when: { first_message: true }
    then: [ { assign: { team: support } } ]
    stop: false
  - id: crisis
    when: { text_contains_any: "@crisis" }
    then: [ escalate, { add_tags: [crisis] } ]
  - id: price
    when: { text_contains_any: ["价格", "price"] }
    then: [ { reply: { type: text, text: "价格请看菜单" } } ]
  - id: fallback
    when: { kind: text }
    then: [ { reply: { type: text, text: "稍后回复" } } ]
"#;

async fn items_of(run: &RunningStack, pk: &str) -> Vec<Value> {
    let ddb = aws_sdk_dynamodb::Client::new(&sdk().await);
    gatewayctl::local::scan_items(&ddb, &run.stack.table_name)
        .await
        .unwrap()
        .into_iter()
        .filter(|i| i["PK"] == pk)
        .collect()
}

async fn push_rules(run: &RunningStack, document: &str) {
    let sdk = sdk().await;
    let store = gateway_aws::DynamoDbRulesStore::new(
        aws_sdk_dynamodb::Client::new(&sdk),
        &run.stack.table_name,
    );
    store.push(document, 0).await.unwrap().unwrap();
    // The router re-reads the rules after RULES_CACHE_SECS (1 s in the local stack).
    tokio::time::sleep(std::time::Duration::from_millis(1_200)).await;
}

#[tokio::test]
#[ignore = "needs the running functions (make test)"]
async fn scripted_conversation_is_routed_escalated_answered_and_stored_exactly_once() {
    let _guard = RUNNING_STACK_LOCK.lock().await;
    let run = RunningStack::from_env();
    let sdk = sdk().await;
    let sqs = aws_sdk_sqs::Client::new(&sdk);
    let http = gatewayctl::http_client();
    push_rules(&run, RULES).await;
    gatewayctl::local::pump(
        &sqs,
        &http,
        &run.stack.queue_url,
        &run.invoke_url("message-router"),
    )
    .await
    .unwrap();
    drain::<ReplyCommand>(&sqs, &run.stack.outbound_queue_url).await;

    // Arrange: follow, a question, a complaint, as WeChat sends them.
    let openid = format!("o{}", unique_digits());
    let now = send::now_secs();
    let script = [
        send::wechat_event_xml(&openid, "subscribe", None, now),
        send::wechat_text_xml(&openid, "请问价格是多少？", &unique_digits(), now + 1),
        send::wechat_text_xml(&openid, "再不发货我就投诉", &unique_digits(), now + 2),
    ];
    for xml in &script {
        let request =
            send::wechat_push(&accounts(), "demo", xml, Envelope::Compatible, now).unwrap();
        let url = run.webhook_url("wechat-webhook", "/wechat/demo");
        assert_eq!(send::send(&http, &url, &request).await.unwrap().0, 200);
    }

    // Act: the router consumes the queue; then the same batch is delivered again.
    let mut bodies = Vec::new();
    let got = sqs
        .receive_message()
        .queue_url(&run.stack.queue_url)
        .max_number_of_messages(10)
        .message_system_attribute_names(MessageSystemAttributeName::All)
        .visibility_timeout(0)
        .send()
        .await
        .unwrap();
    for m in got.messages() {
        bodies.push(m.body().unwrap().to_string());
    }
    assert_eq!(bodies.len(), 3);
    let stats = gatewayctl::local::pump(
        &sqs,
        &http,
        &run.stack.queue_url,
        &run.invoke_url("message-router"),
    )
    .await
    .unwrap();
    assert_eq!((stats.delivered, stats.failed), (3, 0));
    let pk = format!("CONV#wechat:demo:{openid}");
    let before = items_of(&run, &pk).await;

    for (i, body) in bodies.iter().enumerate() {
        sqs.send_message()
            .queue_url(&run.stack.queue_url)
            .message_body(body)
            .message_group_id(format!("wechat:demo:{openid}"))
            .message_deduplication_id(format!("redelivery-{i}-{}", unique_digits()))
            .send()
            .await
            .unwrap();
    }
    let stats = gatewayctl::local::pump(
        &sqs,
        &http,
        &run.stack.queue_url,
        &run.invoke_url("message-router"),
    )
    .await
    .unwrap();
    assert_eq!((stats.delivered, stats.failed), (3, 0));

    // Assert: one conversation, three messages, routed and escalated; redelivery changed nothing.
    let after = items_of(&run, &pk).await;
    assert_eq!(after, before, "the redelivered batch changed nothing");
    let conversation = after.iter().find(|i| i["SK"] == "META").unwrap();
    assert_eq!(after.iter().filter(|i| i["entity"] == "message").count(), 3);
    assert_eq!(conversation["inbound_count"], 3);
    assert_eq!(conversation["team"], "support");
    assert_eq!(conversation["priority"], "urgent");
    assert_eq!(conversation["escalated"], true);
    assert_eq!(conversation["tags"], serde_json::json!(["crisis"]));
    assert!(conversation["response_due_at"].as_i64().is_some());
    assert_eq!(conversation["GSI2PK"], "TEAM#support#open");
    assert!(
        after.iter().any(|i| i["SK"] == "TAG#crisis"),
        "tag index item"
    );

    let replies = drain::<ReplyCommand>(&sqs, &run.stack.outbound_queue_url).await;
    let texts: Vec<_> = replies
        .iter()
        .map(|c| match &c.content {
            ReplyContent::Text { text } => text.as_str(),
            _ => "",
        })
        .collect();
    assert_eq!(
        texts,
        vec!["欢迎关注", "价格请看菜单"],
        "welcome, price; the complaint escalates"
    );
    assert!(replies.iter().all(|c| c.recipient_id == openid));

    push_rules(
        &run,
        &std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../config/rules.yaml"))
            .unwrap(),
    )
    .await;
}

#[tokio::test]
#[ignore = "needs the running functions (make test)"]
async fn a_poison_record_is_dead_lettered_without_blocking_its_neighbours() {
    let _guard = RUNNING_STACK_LOCK.lock().await;
    let run = RunningStack::from_env();
    let sdk = sdk().await;
    let sqs = aws_sdk_sqs::Client::new(&sdk);
    let http = gatewayctl::http_client();
    gatewayctl::local::pump(
        &sqs,
        &http,
        &run.stack.queue_url,
        &run.invoke_url("message-router"),
    )
    .await
    .unwrap();

    let openid = format!("o{}", unique_digits());
    let group = format!("wechat:plain-demo:{openid}");
    let poison = format!("poison-{}", unique_digits());
    let good = |text: &str| {
        let xml = send::wechat_text_xml(&openid, text, &unique_digits(), send::now_secs());
        send::wechat_push(
            &accounts(),
            "plain-demo",
            &xml,
            Envelope::Plaintext,
            send::now_secs(),
        )
        .unwrap()
    };
    let url = run.webhook_url("wechat-webhook", "/wechat/plain-demo");
    assert_eq!(
        send::send(&http, &url, &good("before")).await.unwrap().0,
        200
    );
    sqs.send_message()
        .queue_url(&run.stack.queue_url)
        .message_body(format!("{{\"not a message\": \"{poison}\""))
        .message_group_id(&group)
        .message_deduplication_id(&poison)
        .send()
        .await
        .unwrap();
    assert_eq!(
        send::send(&http, &url, &good("after")).await.unwrap().0,
        200
    );

    let stats = gatewayctl::local::pump(
        &sqs,
        &http,
        &run.stack.queue_url,
        &run.invoke_url("message-router"),
    )
    .await
    .unwrap();
    assert_eq!((stats.delivered, stats.failed), (3, 0));
    let items = items_of(&run, &format!("CONV#{group}")).await;
    assert_eq!(items.iter().filter(|i| i["entity"] == "message").count(), 2);

    let dead = sqs
        .receive_message()
        .queue_url(&run.stack.dead_letter_queue_url)
        .max_number_of_messages(10)
        .message_attribute_names("All")
        .send()
        .await
        .unwrap();
    let mine: Vec<_> = dead
        .messages()
        .iter()
        .filter(|m| m.body().unwrap_or_default().contains(&poison))
        .collect();
    assert_eq!(mine.len(), 1);
    let reason = mine[0].message_attributes().unwrap()["reason"]
        .string_value()
        .unwrap();
    assert!(reason.starts_with("undecodable body"), "{reason}");
}
