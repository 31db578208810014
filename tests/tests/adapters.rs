//! The AWS adapters against the emulator, through the real SDK clients: FIFO deduplication,
//! conditional and transactional writes, the accounts secret cache. Each test gets fresh,
//! uniquely named resources.
#![allow(clippy::unwrap_used)]

use aws_sdk_sqs::types::MessageSystemAttributeName;
use gateway_aws::{
    DynamoDbConversationStore, SecretsManagerAccountDirectory, SqsDeadLetters, SqsMessagePublisher,
};
use gateway_core::account::AccountsRole;
use gateway_core::conversation::{Conversation, Responder};
use gateway_core::ports::{
    AccountDirectory, CommitOutcome, ConversationStore, DeadLetter, DeadLetters, MessagePublisher,
};
use gateway_core::routing::{ProcessOutcome, Router, process};
use gateway_core::rules::RuleSet;
use gateway_core::testing::{RecordingMediaQueue, RecordingReplyQueue, text_message};
use gateway_tests::{fresh_stack, sdk};
use gatewayctl::local::role_secret_id;
use std::sync::Arc;
use std::time::Duration;

async fn receive_all(sqs: &aws_sdk_sqs::Client, url: &str) -> Vec<aws_sdk_sqs::types::Message> {
    let mut all = Vec::new();
    loop {
        let out = sqs
            .receive_message()
            .queue_url(url)
            .max_number_of_messages(10)
            .message_system_attribute_names(MessageSystemAttributeName::All)
            .message_attribute_names("All")
            .send()
            .await
            .unwrap();
        if out.messages().is_empty() {
            return all;
        }
        all.extend(out.messages().iter().cloned());
    }
}

#[tokio::test]
#[ignore = "needs the local AWS emulator (make test)"]
async fn fifo_publisher_queues_a_platform_message_once_however_often_it_is_published() {
    // Arrange
    let sdk = sdk().await;
    let stack = fresh_stack(&sdk).await;
    let sqs = aws_sdk_sqs::Client::new(&sdk);
    let publisher = SqsMessagePublisher::new(sqs.clone(), &stack.queue_url);
    let first = text_message("demo", "user-a", "1001", "hello", 1_000);
    let mut retry = first.clone();
    retry.received_at_ms = 6_000; // the platform's retry arrives later
    let other = text_message("demo", "user-a", "1002", "second", 2_000);

    // Act
    publisher.publish(&first).await.unwrap();
    publisher.publish(&retry).await.unwrap();
    publisher.publish(&retry).await.unwrap();
    publisher.publish(&other).await.unwrap();

    // Assert
    let received = receive_all(&sqs, &stack.queue_url).await;
    assert_eq!(received.len(), 2, "one per distinct platform message");
    let attrs = received[0].attributes().unwrap();
    assert_eq!(
        attrs[&MessageSystemAttributeName::MessageGroupId],
        "wechat:demo:user-a"
    );
    assert_eq!(
        attrs[&MessageSystemAttributeName::MessageDeduplicationId],
        first.dedupe_id()
    );
    let body: gateway_core::NormalizedMessage =
        serde_json::from_str(received[0].body().unwrap()).unwrap();
    assert_eq!(body, first);
    assert_eq!(
        received[0].message_attributes().unwrap()["kind"].string_value(),
        Some("text")
    );
}

#[tokio::test]
#[ignore = "needs the local AWS emulator (make test)"]
async fn store_commits_once_detects_duplicates_and_version_conflicts() {
    let sdk = sdk().await;
    let stack = fresh_stack(&sdk).await;
    let store = DynamoDbConversationStore::new(
        aws_sdk_dynamodb::Client::new(&sdk),
        &stack.table_name,
        Some(86_400),
    );
    let m = text_message("demo", "user-b", "2001", "hello", 1_000);
    let mut next = Conversation::new_for(&m);
    next.record_inbound(&m);
    next.version = 1;
    next.tags.insert("vip".into());

    assert_eq!(
        store.commit_inbound(&m, None, &next).await.unwrap(),
        CommitOutcome::Stored
    );
    assert_eq!(
        store.commit_inbound(&m, None, &next).await.unwrap(),
        CommitOutcome::Duplicate,
        "same platform message again"
    );
    let m2 = text_message("demo", "user-b", "2002", "again", 2_000);
    assert_eq!(
        store.commit_inbound(&m2, None, &next).await.unwrap(),
        CommitOutcome::Conflict,
        "conversation already exists, so a writer that thought it new must reload"
    );
    let loaded = store.load(&m.conversation_key).await.unwrap().unwrap();
    assert_eq!(loaded, next);
    let mut next2 = loaded.clone();
    next2.record_inbound(&m2);
    next2.version = 2;
    next2.tags.clear();
    assert_eq!(
        store
            .commit_inbound(&m2, Some(&loaded), &next2)
            .await
            .unwrap(),
        CommitOutcome::Stored
    );
    let messages = store.messages(&m.conversation_key).await.unwrap();
    assert_eq!(messages, vec![m.clone(), m2.clone()]);

    let items =
        gatewayctl::local::scan_items(&aws_sdk_dynamodb::Client::new(&sdk), &stack.table_name)
            .await
            .unwrap();
    assert!(
        items.iter().all(|i| i["SK"] != "TAG#vip"),
        "removed tag's index item is deleted"
    );
    let msg_item = items.iter().find(|i| i["entity"] == "message").unwrap();
    assert_eq!(
        msg_item["expires_at"],
        1 + 86_400,
        "TTL set from receipt time"
    );
    let conv = items.iter().find(|i| i["SK"] == "META").unwrap();
    assert_eq!(conv["GSI1PK"], "INBOX#wechat#demo#open");
    assert!(
        conv["GSI1SK"].as_str().unwrap().starts_with("0-waiting#"),
        "unanswered first"
    );
}

#[tokio::test]
#[ignore = "needs the local AWS emulator (make test)"]
async fn routing_process_over_dynamodb_stores_each_message_exactly_once() {
    let sdk = sdk().await;
    let stack = fresh_stack(&sdk).await;
    let store = DynamoDbConversationStore::new(
        aws_sdk_dynamodb::Client::new(&sdk),
        &stack.table_name,
        None,
    );
    let replies = RecordingReplyQueue::default();
    let rules = RuleSet::from_yaml(
        "version: 1\nrules:\n  - id: ack\n    then: [ { reply: { type: text, text: ok } } ]\n",
    )
    .unwrap();
    let router = Router {
        store: &store,
        replies: &replies,
        media: &RecordingMediaQueue::default(),
        rules: &rules,
        profile_refresh_ms: 7 * 86_400_000,
    };
    let msgs: Vec<_> = (0..5)
        .map(|i| text_message("demo", "user-c", &format!("30{i}"), "x", 1_000 + i))
        .collect();
    for m in &msgs {
        assert!(matches!(
            process(&router, m).await.unwrap(),
            ProcessOutcome::Stored(_)
        ));
    }
    for m in &msgs {
        assert_eq!(
            process(&router, m).await.unwrap(),
            ProcessOutcome::Duplicate
        );
    }
    assert_eq!(
        replies.commands().len(),
        5,
        "one reply per stored message, none for duplicates"
    );
    let c = store
        .load(&msgs[0].conversation_key)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(c.inbound_count, 5);
    assert_eq!(c.version, 5);
    assert_eq!(store.messages(&c.key).await.unwrap().len(), 5);
}

#[tokio::test]
#[ignore = "needs the local AWS emulator (make test)"]
async fn accounts_directory_picks_up_new_accounts_and_keeps_the_last_good_document() {
    let sdk = sdk().await;
    let stack = fresh_stack(&sdk).await;
    let sm = aws_sdk_secretsmanager::Client::new(&sdk);
    let webhook_secret = role_secret_id(&stack.accounts_secret_id, AccountsRole::Webhook);
    let failures = Arc::new(CountingObserver::default());
    let dir = SecretsManagerAccountDirectory::new(
        sm.clone(),
        &webhook_secret,
        Duration::from_millis(200),
    )
    .for_role(AccountsRole::Webhook)
    .with_observer(failures.clone());
    let before = dir.accounts().await.unwrap();
    assert!(before.wechat.contains_key("demo"));
    assert!(!before.wechat.contains_key("added"));
    // The webhooks' part holds no API credentials and no API clients.
    assert!(before.wechat.values().all(|a| a.app_secret.is_none()));
    assert!(before.api_clients.is_empty());

    let mut doc: serde_json::Value =
        serde_json::from_str(&gateway_tests::local_accounts_json()).unwrap();
    doc["wechat"]["added"] = serde_json::json!({"app_id": "wx9", "token": "t9"});
    gatewayctl::local::put_accounts_secret(&sm, &stack.accounts_secret_id, &doc.to_string())
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    // Expired: served from cache at once while the refresh runs in the background.
    assert!(!dir.accounts().await.unwrap().wechat.contains_key("added"));
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(dir.accounts().await.unwrap().wechat.contains_key("added"));
    assert_eq!(failures.counts(), (0, 0));

    // An invalid document stored by mistake: the directory keeps serving the last good one,
    // and every failed refresh is reported (the functions turn it into a metric and an alarm).
    sm.put_secret_value()
        .secret_id(&webhook_secret)
        .secret_string("{not json")
        .send()
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(dir.accounts().await.unwrap().wechat.contains_key("added"));
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(
        dir.accounts().await.unwrap().wechat.contains_key("added"),
        "last good kept"
    );
    assert!(failures.counts().0 >= 1, "{:?}", failures.counts());

    // A fresh instance has no last good document: it is unavailable, and says so.
    let fresh_failures = Arc::new(CountingObserver::default());
    let fresh = SecretsManagerAccountDirectory::new(
        sm.clone(),
        &webhook_secret,
        Duration::from_millis(200),
    )
    .for_role(AccountsRole::Webhook)
    .with_observer(fresh_failures.clone());
    assert!(fresh.accounts().await.is_err());
    assert_eq!(fresh_failures.counts(), (1, 1));

    // With a staleness bound (the reply API's API clients), a document that cannot be
    // refreshed stops being served once it is older than the bound.
    let api_secret = role_secret_id(&stack.accounts_secret_id, AccountsRole::ApiClients);
    let bounded_failures = Arc::new(CountingObserver::default());
    let bounded = SecretsManagerAccountDirectory::new(sm.clone(), &api_secret, Duration::ZERO)
        .for_role(AccountsRole::ApiClients)
        .with_max_stale(Duration::from_millis(500))
        .with_observer(bounded_failures.clone());
    assert!(
        bounded
            .accounts()
            .await
            .unwrap()
            .api_clients
            .contains_key("demo-crm")
    );
    sm.put_secret_value()
        .secret_id(&api_secret)
        .secret_string("{not json")
        .send()
        .await
        .unwrap();
    let _ = bounded.accounts().await; // starts a refresh, which fails
    tokio::time::sleep(Duration::from_millis(700)).await;
    assert!(bounded.accounts().await.is_err(), "served past the bound");
    assert!(bounded_failures.counts().1 >= 1);
}

/// Counts what a directory reports: (refresh failures, unavailable answers).
#[derive(Default)]
struct CountingObserver(std::sync::Mutex<(u32, u32)>);

impl CountingObserver {
    fn counts(&self) -> (u32, u32) {
        *self.0.lock().unwrap()
    }
}

impl gateway_aws::AccountsObserver for CountingObserver {
    fn refresh_failed(&self) {
        self.0.lock().unwrap().0 += 1;
    }
    fn unavailable(&self) {
        self.0.lock().unwrap().1 += 1;
    }
}

#[tokio::test]
#[ignore = "needs the local AWS emulator (make test)"]
async fn a_dead_letter_moves_the_body_with_its_reason_to_the_fifo_dlq() {
    let sdk = sdk().await;
    let stack = fresh_stack(&sdk).await;
    let sqs = aws_sdk_sqs::Client::new(&sdk);
    let dead_letters = SqsDeadLetters::new(sqs.clone(), &stack.dead_letter_queue_url);
    let letter = DeadLetter::record("{bad", "wechat:demo:u", "rec-1", "undecodable body");
    dead_letters.dead_letter(&letter).await.unwrap();
    let got = receive_all(&sqs, &stack.dead_letter_queue_url).await;
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].body(), Some("{bad"));
    assert_eq!(
        got[0].message_attributes().unwrap()["reason"].string_value(),
        Some("undecodable body")
    );
}

#[tokio::test]
#[ignore = "needs the local AWS emulator (make test)"]
async fn the_inbox_gauges_count_who_waits_per_registered_account_with_queries_only() {
    use gateway_core::Channel;
    use gateway_core::sla::ports::Inboxes;
    let sdk = sdk().await;
    let stack = fresh_stack(&sdk).await;
    let store = DynamoDbConversationStore::new(
        aws_sdk_dynamodb::Client::new(&sdk),
        &stack.table_name,
        None,
    );
    // Two waiting since 500 and 2 000, one answered; another account with nobody waiting.
    for (account, who, at, answered) in [
        ("desk", "a", 2_000, false),
        ("desk", "b", 500, false),
        ("desk", "c", 100, true),
        ("quiet", "d", 300, true),
    ] {
        let m = text_message(account, who, &format!("5{at}"), "hi", at);
        let mut c = Conversation::new_for(&m);
        c.record_inbound(&m);
        if answered {
            c.record_outbound(at + 10, Responder::Person);
        }
        c.version = 1;
        store.commit_inbound(&m, None, &c).await.unwrap();
        store.register(Channel::WeChat, account).await.unwrap();
    }
    let mut accounts = store.accounts().await.unwrap();
    accounts.sort();
    assert_eq!(
        accounts,
        [
            (Channel::WeChat, "desk".to_string()),
            (Channel::WeChat, "quiet".to_string())
        ],
        "registered once each"
    );
    let desk = store.gauge(Channel::WeChat, "desk").await.unwrap();
    assert_eq!((desk.unanswered, desk.oldest_waiting_since), (2, Some(500)));
    let quiet = store.gauge(Channel::WeChat, "quiet").await.unwrap();
    assert_eq!((quiet.unanswered, quiet.oldest_waiting_since), (0, None));
}

#[tokio::test]
#[ignore = "needs the local AWS emulator (make test)"]
async fn agent_desk_queries_list_inboxes_team_queues_and_tags_in_waiting_order() {
    use gateway_core::Channel;
    use gateway_core::conversation::Status;
    let sdk = sdk().await;
    let stack = fresh_stack(&sdk).await;
    let store = DynamoDbConversationStore::new(
        aws_sdk_dynamodb::Client::new(&sdk),
        &stack.table_name,
        None,
    );
    // Three customers: c waited longest, a next; b was answered.
    for (who, at, team, tag, answered) in [
        ("a", 2_000, Some("support"), None, false),
        ("b", 1_000, Some("support"), Some("vip"), true),
        ("c", 500, None, Some("vip"), false),
    ] {
        let m = text_message("desk", who, &format!("4{at}"), "hi", at);
        let mut c = Conversation::new_for(&m);
        c.record_inbound(&m);
        c.team = team.map(str::to_string);
        if let Some(t) = tag {
            c.tags.insert(t.to_string());
        }
        if answered {
            c.record_outbound(at + 10, Responder::Person);
            c.status = Status::Open;
        }
        c.version = 1;
        assert_eq!(
            store.commit_inbound(&m, None, &c).await.unwrap(),
            CommitOutcome::Stored
        );
    }
    let keys = |cs: Vec<Conversation>| cs.into_iter().map(|c| c.customer_id).collect::<Vec<_>>();

    let inbox = store
        .account_inbox(Channel::WeChat, "desk", Status::Open, false, 50)
        .await
        .unwrap();
    assert_eq!(
        keys(inbox),
        vec!["c", "a", "b"],
        "unanswered first, oldest waiting first"
    );
    let unanswered = store
        .account_inbox(Channel::WeChat, "desk", Status::Open, true, 50)
        .await
        .unwrap();
    assert_eq!(keys(unanswered), vec!["c", "a"]);
    let team = store
        .team_queue("support", Status::Open, false, 50)
        .await
        .unwrap();
    assert_eq!(keys(team), vec!["a", "b"]);
    let mut vip = keys(
        store
            .tagged(Channel::WeChat, "desk", "vip", 50)
            .await
            .unwrap(),
    );
    vip.sort();
    assert_eq!(vip, vec!["b", "c"]);
}

#[tokio::test]
#[ignore = "needs the local AWS emulator (make test)"]
async fn the_bundled_rules_are_parsed_only_when_no_stored_rules_serve() {
    use gateway_aws::{BundledRules, DynamoDbRulesSource, DynamoDbRulesStore};
    use gateway_core::ports::RulesSource;
    let sdk = sdk().await;
    let stack = fresh_stack(&sdk).await;
    let ddb = aws_sdk_dynamodb::Client::new(&sdk);
    let store = DynamoDbRulesStore::new(ddb, &stack.table_name);
    // Bundled text that does not parse: any use of it shows as an error.
    let source = || {
        DynamoDbRulesSource::new(
            store.clone(),
            Duration::from_secs(30),
            BundledRules::from_yaml("rules: ["),
        )
    };
    let err = source()
        .rules()
        .await
        .expect_err("nothing stored: the bundled rules serve");
    assert!(!err.is_retryable(), "{err}");
    assert!(err.to_string().contains("bundled"), "{err}");

    let one_rule = "version: 1\nrules:\n  - id: a\n    then: []\n";
    assert_eq!(store.push(one_rule, 1).await.unwrap().unwrap(), 1);
    // A new function instance with rules stored never parses its bundled rules.
    let fresh = source();
    assert_eq!(fresh.rules().await.unwrap().rules().len(), 1);

    // The shipped rules parse, on first use only.
    let shipped = BundledRules::from_yaml(include_str!("../../config/rules.yaml"));
    assert!(!shipped.is_parsed());
    assert!(!shipped.get().unwrap().rules().is_empty());
    assert!(shipped.is_parsed());
}

#[tokio::test]
#[ignore = "needs the local AWS emulator (make test)"]
async fn rules_source_falls_back_to_bundled_validates_pushes_and_keeps_the_last_good_rules() {
    use gateway_aws::{DynamoDbRulesSource, DynamoDbRulesStore};
    use gateway_core::ports::RulesSource;
    use std::sync::Arc;
    let one_rule = "version: 1\nrules:\n  - id: a\n    then: []\n";
    let two_rules = "version: 1\nrules:\n  - id: a\n    when: { kind: text }\n    then: []\n  - id: b\n    then: []\n";
    let sdk = sdk().await;
    let stack = fresh_stack(&sdk).await;
    let ddb = aws_sdk_dynamodb::Client::new(&sdk);
    let store = DynamoDbRulesStore::new(ddb.clone(), &stack.table_name);
    let source = DynamoDbRulesSource::new(
        store.clone(),
        Duration::from_millis(100),
        Arc::new(RuleSet::from_yaml(one_rule).unwrap()),
    );
    assert_eq!(source.rules().await.unwrap().rules().len(), 1, "bundled");

    let refused = store
        .push(
            "version: 1\nrules:\n  - id: a\n    when: { kind: txt }\n    then: []\n",
            1,
        )
        .await
        .unwrap();
    assert_eq!(refused.expect_err("invalid").line(), Some(4));
    assert!(store.get().await.unwrap().is_none(), "nothing written");

    assert_eq!(store.push(two_rules, 2).await.unwrap().unwrap(), 1);
    tokio::time::sleep(Duration::from_millis(150)).await;
    assert_eq!(source.rules().await.unwrap().rules().len(), 2, "pushed");

    // A document stored without validation (by hand) never goes live.
    ddb.put_item()
        .table_name(&stack.table_name)
        .item(
            "PK",
            aws_sdk_dynamodb::types::AttributeValue::S("CONFIG".into()),
        )
        .item(
            "SK",
            aws_sdk_dynamodb::types::AttributeValue::S("RULES".into()),
        )
        .item(
            "document",
            aws_sdk_dynamodb::types::AttributeValue::S("rules: [".into()),
        )
        .item(
            "version",
            aws_sdk_dynamodb::types::AttributeValue::N("2".into()),
        )
        .send()
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(150)).await;
    assert_eq!(
        source.rules().await.unwrap().rules().len(),
        2,
        "last good kept"
    );
}
