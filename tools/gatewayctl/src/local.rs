//! The local stack: creates the queues, table and accounts secret in the AWS emulator, and
//! pumps the inbound queue into the router running under `cargo lambda watch`, the way the
//! Lambda event source mapping does in AWS (batches of up to 10, partial batch failures,
//! delete on success, redelivery after the visibility timeout).

use anyhow::{Context, Result, bail};
use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, GlobalSecondaryIndex, KeySchemaElement, KeyType, Projection,
    ProjectionType, ScalarAttributeType, StreamSpecification, StreamViewType,
    TimeToLiveSpecification,
};
use aws_sdk_sqs::types::{MessageSystemAttributeName, QueueAttributeName};
use gateway_core::account::{AccountsDocument, AccountsRole};
use serde_json::{Value, json};
use std::collections::HashMap;
use std::time::Duration;

/// Names and URLs of one local stack.
#[derive(Debug, Clone)]
pub struct LocalStack {
    /// Inbound FIFO queue URL.
    pub queue_url: String,
    /// Inbound dead-letter queue URL.
    pub dead_letter_queue_url: String,
    /// Outbound (reply commands) FIFO queue URL.
    pub outbound_queue_url: String,
    /// Outbound dead-letter queue URL.
    pub outbound_dead_letter_queue_url: String,
    /// Conversations table.
    pub table_name: String,
    /// Base name of the accounts secrets: each role's projection is `{base}-{role}`
    /// ([`role_secret_id`]).
    pub accounts_secret_id: String,
    /// The SLA timers queue (standard).
    pub timers_queue_url: String,
    /// The alerts topic.
    pub alerts_topic_arn: String,
    /// The media queue (standard) and its dead-letter queue.
    pub media_queue_url: String,
    /// The media dead-letter queue.
    pub media_dead_letter_queue_url: String,
    /// The media bucket.
    pub media_bucket: String,
    /// The deployment's event bus (`{prefix}-events`).
    pub event_bus_name: String,
    /// The queue a rule on the bus sends every gateway event to (tests read it).
    pub events_observed_queue_url: String,
    /// The webhook queue (standard; the bus rule's target, `webhook-sender`'s source).
    pub webhook_queue_url: String,
    /// The webhook dead-letter queue.
    pub webhook_dead_letter_queue_url: String,
}

/// The roles whose secrets a stack holds, with the variable naming each in the functions.
pub const SECRET_ROLES: [(AccountsRole, &str); 4] = [
    (AccountsRole::Webhook, "WEBHOOK_SECRET_ID"),
    (AccountsRole::Delivery, "DELIVERY_SECRET_ID"),
    (AccountsRole::ApiClients, "API_CLIENTS_SECRET_ID"),
    (AccountsRole::WebhookTargets, "WEBHOOK_TARGETS_SECRET_ID"),
];

/// The secret holding `role`'s projection of the accounts document.
pub fn role_secret_id(base: &str, role: AccountsRole) -> String {
    format!("{base}-{}", role.as_str())
}

impl LocalStack {
    /// The environment the functions need, as `KEY=VALUE` lines.
    pub fn env_lines(&self) -> String {
        format!(
            "QUEUE_URL={}\nDEAD_LETTER_QUEUE_URL={}\nOUTBOUND_QUEUE_URL={}\nOUTBOUND_DEAD_LETTER_QUEUE_URL={}\nTABLE_NAME={}\nACCOUNTS_SECRET_ID={}\nTIMERS_QUEUE_URL={}\nALERTS_TOPIC_ARN={}\nMEDIA_QUEUE_URL={}\nMEDIA_DEAD_LETTER_QUEUE_URL={}\nMEDIA_BUCKET={}\nEVENT_BUS_NAME={}\nEVENTS_OBSERVED_QUEUE_URL={}\nWEBHOOK_QUEUE_URL={}\nWEBHOOK_DEAD_LETTER_QUEUE_URL={}\n{}",
            self.queue_url,
            self.dead_letter_queue_url,
            self.outbound_queue_url,
            self.outbound_dead_letter_queue_url,
            self.table_name,
            self.accounts_secret_id,
            self.timers_queue_url,
            self.alerts_topic_arn,
            self.media_queue_url,
            self.media_dead_letter_queue_url,
            self.media_bucket,
            self.event_bus_name,
            self.events_observed_queue_url,
            self.webhook_queue_url,
            self.webhook_dead_letter_queue_url,
            SECRET_ROLES
                .iter()
                .map(|(role, var)| format!(
                    "{var}={}\n",
                    role_secret_id(&self.accounts_secret_id, *role)
                ))
                .collect::<String>()
        )
    }
}

/// SDK configuration for an operator's command: the SDK's usual credential chain (environment,
/// profiles with SSO or `credential_process`, instance roles) and region, with `endpoint`
/// overriding the AWS endpoints when given (a local emulator); the system trust store, as an
/// operator's machine may sit behind a proxy with its own CA.
pub async fn ops_config(endpoint: Option<&str>) -> aws_config::SdkConfig {
    let mut loader = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .http_client(gateway_aws::sdk::system_roots_https_client());
    if let Some(endpoint) = endpoint {
        loader = loader.endpoint_url(endpoint);
    }
    loader.load().await
}

/// SDK configuration for the emulator at `endpoint` with dummy credentials.
pub async fn emulator_config(endpoint: &str) -> aws_config::SdkConfig {
    aws_config::defaults(aws_config::BehaviorVersion::latest())
        .http_client(gateway_aws::sdk::system_roots_https_client())
        .endpoint_url(endpoint)
        .region(aws_config::Region::new("us-east-1"))
        .test_credentials()
        .load()
        .await
}

/// Creates the FIFO queue `{prefix}-{name}.fifo` with its FIFO dead-letter queue (redrive
/// after `max_receive_count` receives, as in `infra/`: 5 inbound, 10 outbound); returns both
/// URLs.
pub async fn create_queues(
    sqs: &aws_sdk_sqs::Client,
    prefix: &str,
    name: &str,
    visibility_timeout_secs: u32,
    max_receive_count: u32,
) -> Result<(String, String)> {
    let dlq = sqs
        .create_queue()
        .queue_name(format!("{prefix}-{name}-dlq.fifo"))
        .attributes(QueueAttributeName::FifoQueue, "true")
        .attributes(QueueAttributeName::MessageRetentionPeriod, "1209600")
        .send()
        .await
        .context("create dead-letter queue")?;
    let dlq_url = dlq
        .queue_url()
        .context("dead-letter queue url")?
        .to_string();
    let dlq_arn = sqs
        .get_queue_attributes()
        .queue_url(&dlq_url)
        .attribute_names(QueueAttributeName::QueueArn)
        .send()
        .await
        .context("dead-letter queue arn")?
        .attributes()
        .and_then(|a| a.get(&QueueAttributeName::QueueArn).cloned())
        .context("dead-letter queue arn missing")?;
    let queue = sqs
        .create_queue()
        .queue_name(format!("{prefix}-{name}.fifo"))
        .attributes(QueueAttributeName::FifoQueue, "true")
        .attributes(QueueAttributeName::ContentBasedDeduplication, "false")
        .attributes(
            QueueAttributeName::VisibilityTimeout,
            visibility_timeout_secs.to_string(),
        )
        .attributes(
            QueueAttributeName::RedrivePolicy,
            json!({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": max_receive_count})
                .to_string(),
        )
        .send()
        .await
        .context("create inbound queue")?;
    Ok((
        queue.queue_url().context("inbound queue url")?.to_string(),
        dlq_url,
    ))
}

/// Creates the conversations table (same keys, indexes, stream and TTL as `infra/`).
pub async fn create_table(ddb: &aws_sdk_dynamodb::Client, name: &str) -> Result<()> {
    let attr = |n: &str| {
        AttributeDefinition::builder()
            .attribute_name(n)
            .attribute_type(ScalarAttributeType::S)
            .build()
    };
    let key = |n: &str, t: KeyType| {
        KeySchemaElement::builder()
            .attribute_name(n)
            .key_type(t)
            .build()
    };
    let gsi = |name: &str, pk: &str, sk: &str| -> Result<GlobalSecondaryIndex> {
        Ok(GlobalSecondaryIndex::builder()
            .index_name(name)
            .key_schema(key(pk, KeyType::Hash)?)
            .key_schema(key(sk, KeyType::Range)?)
            .projection(
                Projection::builder()
                    .projection_type(ProjectionType::All)
                    .build(),
            )
            .build()?)
    };
    ddb.create_table()
        .table_name(name)
        .billing_mode(BillingMode::PayPerRequest)
        .attribute_definitions(attr("PK")?)
        .attribute_definitions(attr("SK")?)
        .attribute_definitions(attr("GSI1PK")?)
        .attribute_definitions(attr("GSI1SK")?)
        .attribute_definitions(attr("GSI2PK")?)
        .attribute_definitions(attr("GSI2SK")?)
        .key_schema(key("PK", KeyType::Hash)?)
        .key_schema(key("SK", KeyType::Range)?)
        .global_secondary_indexes(gsi("GSI1", "GSI1PK", "GSI1SK")?)
        .global_secondary_indexes(gsi("GSI2", "GSI2PK", "GSI2SK")?)
        .stream_specification(
            StreamSpecification::builder()
                .stream_enabled(true)
                .stream_view_type(StreamViewType::NewAndOldImages)
                .build()?,
        )
        .send()
        .await
        .context("create table")?;
    ddb.update_time_to_live()
        .table_name(name)
        .time_to_live_specification(
            TimeToLiveSpecification::builder()
                .attribute_name("expires_at")
                .enabled(true)
                .build()?,
        )
        .send()
        .await
        .context("enable TTL")?;
    Ok(())
}

/// Validates the whole accounts `document` and writes each role's projection to its secret
/// (`{base}-webhook`, `{base}-delivery`, `{base}-api`, `{base}-webhook-targets`), creating or
/// overwriting them.
pub async fn put_accounts_secret(
    sm: &aws_sdk_secretsmanager::Client,
    base: &str,
    document: &str,
) -> Result<()> {
    let doc = AccountsDocument::from_json(document).context("the accounts document is invalid")?;
    for (role, _) in SECRET_ROLES {
        let text = serde_json::to_string(&doc.project(role))?;
        put_secret(sm, &role_secret_id(base, role), &text).await?;
    }
    Ok(())
}

/// Creates or overwrites the secret `name` with `text`.
pub async fn put_secret(sm: &aws_sdk_secretsmanager::Client, name: &str, text: &str) -> Result<()> {
    match sm
        .create_secret()
        .name(name)
        .secret_string(text)
        .send()
        .await
    {
        Ok(_) => Ok(()),
        Err(e)
            if e.as_service_error()
                .is_some_and(|s| s.is_resource_exists_exception()) =>
        {
            sm.put_secret_value()
                .secret_id(name)
                .secret_string(text)
                .send()
                .await
                .with_context(|| format!("update secret {name}"))?;
            Ok(())
        }
        Err(e) => Err(e).with_context(|| format!("create secret {name}")),
    }
}

/// Visibility timeout of the local queues: short enough for redelivery to be observable in
/// tests. Long runs under injected faults (tools/soak) ask for a longer one, as in AWS.
pub const TEST_VISIBILITY_SECS: u32 = 5;

/// Creates a whole local stack named by `prefix`, seeding the accounts secret with
/// `accounts_json`; both queues get `visibility_timeout_secs`.
pub async fn setup(
    sdk: &aws_config::SdkConfig,
    prefix: &str,
    accounts_json: &str,
    visibility_timeout_secs: u32,
) -> Result<LocalStack> {
    let sqs = aws_sdk_sqs::Client::new(sdk);
    let ddb = aws_sdk_dynamodb::Client::new(sdk);
    let sm = aws_sdk_secretsmanager::Client::new(sdk);
    let (queue_url, dead_letter_queue_url) =
        create_queues(&sqs, prefix, "inbound", visibility_timeout_secs, 5).await?;
    let (outbound_queue_url, outbound_dead_letter_queue_url) =
        create_queues(&sqs, prefix, "outbound", visibility_timeout_secs, 10).await?;
    let table_name = format!("{prefix}-conversations");
    create_table(&ddb, &table_name).await?;
    let accounts_secret_id = format!("{prefix}-accounts");
    put_accounts_secret(&sm, &accounts_secret_id, accounts_json).await?;
    let (timers_queue_url, _) =
        crate::local_sla::create_timers_queue(&sqs, prefix, visibility_timeout_secs).await?;
    let sns = aws_sdk_sns::Client::new(sdk);
    let alerts_topic_arn = crate::local_sla::create_alerts_topic(&sns, prefix).await?;
    let (media_queue_url, media_dead_letter_queue_url) =
        crate::local_media::create_media_queue(&sqs, prefix, visibility_timeout_secs).await?;
    let media_bucket = crate::local_media::create_media_bucket(sdk, prefix).await?;
    let eventbridge = aws_sdk_eventbridge::Client::new(sdk);
    let event_bus_name = crate::local_events::create_event_bus(&eventbridge, prefix).await?;
    let events_observed_queue_url =
        crate::local_events::create_observed_queue(&eventbridge, &sqs, prefix, &event_bus_name)
            .await?;
    let (webhook_queue_url, webhook_dead_letter_queue_url) =
        crate::local_webhooks::create_webhook_queue(
            sdk,
            prefix,
            &event_bus_name,
            visibility_timeout_secs,
        )
        .await?;
    Ok(LocalStack {
        queue_url,
        dead_letter_queue_url,
        outbound_queue_url,
        outbound_dead_letter_queue_url,
        table_name,
        accounts_secret_id,
        timers_queue_url,
        alerts_topic_arn,
        media_queue_url,
        media_dead_letter_queue_url,
        media_bucket,
        event_bus_name,
        events_observed_queue_url,
        webhook_queue_url,
        webhook_dead_letter_queue_url,
    })
}

/// One received SQS message as a record of the Lambda SQS event the event source mapping
/// hands a consumer (attributes included, so that `ApproximateReceiveCount` and the FIFO
/// group reach the function).
pub fn sqs_record(m: &aws_sdk_sqs::types::Message) -> Value {
    let attributes: HashMap<String, String> = m
        .attributes()
        .map(|a| {
            a.iter()
                .map(|(k, v)| (k.as_str().to_string(), v.clone()))
                .collect()
        })
        .unwrap_or_default();
    json!({
        "messageId": m.message_id(),
        "receiptHandle": m.receipt_handle(),
        "body": m.body(),
        "attributes": attributes,
        "messageAttributes": {},
        "md5OfBody": m.md5_of_body(),
        "eventSource": "aws:sqs",
        "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:local-inbound.fifo",
        "awsRegion": "us-east-1"
    })
}

/// Result of one pump cycle.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct PumpStats {
    /// Records handed to the router.
    pub delivered: usize,
    /// Records the router reported failed (left for redelivery).
    pub failed: usize,
    /// Router invocations.
    pub batches: usize,
}

/// Stands in for the Lambda SQS event source mapping, once: receives batches from `queue_url`
/// and invokes the function at `invoke_url` (the `cargo lambda watch` invoke endpoint) with
/// each ([`deliver_batch`]), until a receive returns nothing or a batch reports failures (those
/// records stay invisible until their visibility timeout, as with the real event source). For
/// deterministic tests; [`crate::event_sources`] runs continuously.
pub async fn pump(
    sqs: &aws_sdk_sqs::Client,
    http: &reqwest::Client,
    queue_url: &str,
    invoke_url: &str,
) -> Result<PumpStats> {
    let mut stats = PumpStats::default();
    loop {
        let messages = receive_batch(sqs, queue_url, 0).await?;
        if messages.is_empty() {
            return Ok(stats);
        }
        let failed = deliver_batch(sqs, http, queue_url, invoke_url, &messages).await?;
        stats.batches += 1;
        stats.delivered += messages.len();
        stats.failed += failed;
        if failed > 0 {
            // Failed records stay invisible until the visibility timeout; like the real event
            // source mapping, do not spin on them.
            return Ok(stats);
        }
    }
}

/// Up to ten messages of `queue_url`, with the attributes the event source passes on, waiting
/// up to `wait_secs` for one.
pub async fn receive_batch(
    sqs: &aws_sdk_sqs::Client,
    queue_url: &str,
    wait_secs: i32,
) -> Result<Vec<aws_sdk_sqs::types::Message>> {
    let received = sqs
        .receive_message()
        .queue_url(queue_url)
        .max_number_of_messages(10)
        .message_system_attribute_names(MessageSystemAttributeName::All)
        .message_attribute_names("All")
        .wait_time_seconds(wait_secs)
        .send()
        .await
        .with_context(|| format!("receive from {queue_url}"))?;
    Ok(received.messages().to_vec())
}

/// Invokes the function at `invoke_url` with `messages` as one SQS event and deletes the
/// records it did not report as failed (`batchItemFailures`); returns how many it reported.
/// A function error leaves the whole batch to come back after the visibility timeout.
pub async fn deliver_batch(
    sqs: &aws_sdk_sqs::Client,
    http: &reqwest::Client,
    queue_url: &str,
    invoke_url: &str,
    messages: &[aws_sdk_sqs::types::Message],
) -> Result<usize> {
    let records: Vec<Value> = messages.iter().map(sqs_record).collect();
    let response = http
        .post(invoke_url)
        .json(&json!({ "Records": records }))
        .timeout(Duration::from_secs(120))
        .send()
        .await
        .with_context(|| format!("invoke {invoke_url}"))?;
    let status = response.status();
    let body: Value = response.json().await.context("function response")?;
    if !status.is_success() || body.get("errorType").is_some() {
        bail!("invocation failed ({status}): {body}");
    }
    let failed: Vec<&str> = body["batchItemFailures"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|f| f["itemIdentifier"].as_str())
                .collect()
        })
        .unwrap_or_default();
    for m in messages {
        if failed.contains(&m.message_id().unwrap_or_default()) {
            continue;
        }
        if let Some(handle) = m.receipt_handle() {
            sqs.delete_message()
                .queue_url(queue_url)
                .receipt_handle(handle)
                .send()
                .await
                .context("delete a processed record")?;
        }
    }
    Ok(failed.len())
}

/// Every item of the table, as JSON (for the demo's "what was stored" print-out and tests).
pub async fn scan_items(ddb: &aws_sdk_dynamodb::Client, table: &str) -> Result<Vec<Value>> {
    let mut out = Vec::new();
    let mut start = None;
    loop {
        let page = ddb
            .scan()
            .table_name(table)
            .set_exclusive_start_key(start.take())
            .send()
            .await
            .context("scan table")?;
        for item in page.items() {
            let value: Value = serde_dynamo::from_item(item.clone()).context("decode item")?;
            out.push(value);
        }
        match page.last_evaluated_key() {
            Some(k) if !k.is_empty() => start = Some(k.clone()),
            _ => break,
        }
    }
    out.sort_by(|a, b| {
        (a["PK"].as_str(), a["SK"].as_str()).cmp(&(b["PK"].as_str(), b["SK"].as_str()))
    });
    Ok(out)
}

/// A human-readable summary of stored items: each conversation with its state, then its
/// messages in order.
pub fn summarize(items: &[Value]) -> String {
    let mut out = String::new();
    let conversations = items.iter().filter(|i| i["entity"] == "conversation");
    for c in conversations {
        let pk = c["PK"].as_str().unwrap_or_default();
        out.push_str(&format!(
            "conversation {}  status={} inbound={} unanswered={} team={} priority={} tags={}\n",
            c["key"].as_str().unwrap_or_default(),
            c["status"].as_str().unwrap_or_default(),
            c["inbound_count"],
            c.get("waiting_since").is_some_and(|w| !w.is_null()),
            c["team"].as_str().unwrap_or("-"),
            c["priority"].as_str().unwrap_or("-"),
            if c["tags"].is_null() {
                "[]".to_string()
            } else {
                c["tags"].to_string()
            },
        ));
        for m in items
            .iter()
            .filter(|i| i["PK"] == pk && i["entity"] == "message")
        {
            // Inbound items carry the message; outbound ones (the reply sender's) the command.
            let content = if m["direction"] == "out" {
                &m["reply"]["content"]
            } else {
                &m["message"]["content"]
            };
            let what = content["text"]
                .as_str()
                .or(content["event"].as_str())
                .or(content["platform_type"].as_str())
                .or(content["articles"][0]["title"].as_str())
                .unwrap_or_default();
            out.push_str(&format!(
                "    message {:<6} {:<5} {}\n",
                m["kind"].as_str().unwrap_or_default(),
                m["direction"].as_str().unwrap_or_default(),
                what
            ));
        }
    }
    let messages = items.iter().filter(|i| i["entity"] == "message").count();
    let convs = items
        .iter()
        .filter(|i| i["entity"] == "conversation")
        .count();
    out.push_str(&format!(
        "{convs} conversation(s), {messages} message(s) stored\n"
    ));
    out
}
