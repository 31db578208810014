//! The SQS adapters: FIFO group and deduplication ids taken from the message or command, the
//! bodies and message attributes, the dead letters' error code and (truncated) reason, the
//! retry backoff's visibility change, and how SQS errors map.

use crate::support::{Seen, assert_permanent, assert_transient, message, reply, sqs};
use aws_sdk_sqs::Client;
use aws_sdk_sqs::operation::change_message_visibility::ChangeMessageVisibilityOutput;
use aws_sdk_sqs::operation::send_message::{SendMessageInput, SendMessageOutput};
use aws_smithy_mocks::{Rule, mock};
use aws_smithy_runtime_api::client::orchestrator::HttpResponse;
use gateway_aws::{SqsDeadLetters, SqsMessagePublisher, SqsReplyQueue, SqsRetryScheduler};
use gateway_core::NormalizedMessage;
use gateway_core::delivery::ports::RetryScheduler;
use gateway_core::outbound::ReplyCommand;
use gateway_core::ports::{DeadLetter, DeadLetters, MessagePublisher, ReplyQueue};

const FIFO: &str = "https://sqs.ap-east-1.amazonaws.com/123456789012/gateway-inbound.fifo";
const STANDARD: &str = "https://sqs.ap-east-1.amazonaws.com/123456789012/gateway-dlq";

/// An SQS error as SQS sends it in its JSON protocol: `__type`, and the query-compatible
/// code in `x-amzn-query-error`, which is the code the SDK reports.
fn sqs_error(status: u16, shape: &str, query_code: &str) -> HttpResponse {
    let mut response =
        crate::support::aws_error(status, &format!("com.amazonaws.sqs#{shape}"), "mocked");
    response
        .headers_mut()
        .insert("x-amzn-query-error", format!("{query_code};Sender"));
    response
}

fn throttled() -> HttpResponse {
    sqs_error(400, "RequestThrottled", "RequestThrottled")
}

fn no_queue() -> HttpResponse {
    sqs_error(
        400,
        "QueueDoesNotExist",
        "AWS.SimpleQueueService.NonExistentQueue",
    )
}

fn unavailable() -> HttpResponse {
    crate::support::aws_error(503, "com.amazonaws.sqs#ServiceUnavailable", "mocked")
}

fn sent(seen: &Seen<SendMessageInput>) -> Rule {
    let seen = seen.clone();
    mock!(Client::send_message).then_compute_output(move |request| {
        seen.push(request);
        SendMessageOutput::builder().message_id("m-1").build()
    })
}

/// The message attributes of a request, as (name, data type, string value), sorted.
fn attributes(request: &SendMessageInput) -> Vec<(String, String, String)> {
    let mut v: Vec<_> = request
        .message_attributes()
        .into_iter()
        .flatten()
        .map(|(k, a)| {
            (
                k.clone(),
                a.data_type().to_string(),
                a.string_value().unwrap_or_default().to_string(),
            )
        })
        .collect();
    v.sort();
    v
}

fn string(name: &str, value: &str) -> (String, String, String) {
    (name.to_string(), "String".to_string(), value.to_string())
}

#[tokio::test]
async fn a_published_message_is_grouped_by_conversation_and_deduplicated_by_its_dedupe_id() {
    let mut long_key = message();
    long_key.conversation_key = format!("weibo:brand:{}", "9".repeat(200));
    for m in [message(), long_key] {
        let seen = Seen::default();
        let rule = sent(&seen);
        SqsMessagePublisher::new(sqs(&[&rule]), FIFO)
            .publish(&m)
            .await
            .unwrap();
        let request = seen.only();
        assert_eq!(request.queue_url(), Some(FIFO));
        let body: NormalizedMessage =
            serde_json::from_str(request.message_body().unwrap()).unwrap();
        assert_eq!(body, m);
        // The conversation key itself when SQS takes it, its hash when it is too long.
        assert_eq!(
            request.message_group_id(),
            Some(m.message_group_id().as_str())
        );
        assert!(request.message_group_id().unwrap().len() <= 128);
        assert_eq!(
            request.message_deduplication_id(),
            Some(m.dedupe_id().as_str())
        );
        assert_eq!(
            attributes(&request),
            [
                string("account", "demo"),
                string("channel", "wechat"),
                string("kind", "text"),
            ]
        );
    }
    assert_eq!(message().message_group_id(), "wechat:demo:openid-1");
}

#[tokio::test]
async fn a_failed_send_is_transient_when_throttled_or_unavailable_and_permanent_otherwise() {
    for (response, transient) in [
        (throttled as fn() -> HttpResponse, true),
        (unavailable, true),
        (
            || crate::support::aws_error(500, "InternalError", "mocked"),
            true,
        ),
        (no_queue, false),
        (
            || sqs_error(400, "InvalidMessageContents", "InvalidMessageContents"),
            false,
        ),
    ] {
        let rule = mock!(Client::send_message).then_http_response(response);
        let client = sqs(&[&rule]);
        let publish = SqsMessagePublisher::new(client.clone(), FIFO)
            .publish(&message())
            .await;
        let enqueue = SqsReplyQueue::new(client.clone(), FIFO)
            .enqueue(&reply())
            .await;
        let dead_letter = SqsDeadLetters::new(client, FIFO)
            .dead_letter(&DeadLetter::record("{", "g", "d", "undecodable body"))
            .await;
        if transient {
            assert_transient(publish, "sqs send_message");
            assert_transient(enqueue, "sqs send_message (reply)");
            assert_transient(dead_letter, "sqs send_message (dead letter)");
        } else {
            assert_permanent(publish, "sqs send_message");
            assert_permanent(enqueue, "sqs send_message (reply)");
            assert_permanent(dead_letter, "sqs send_message (dead letter)");
        }
        assert_eq!(rule.num_calls(), 3, "one call each, not retried here");
    }
}

#[tokio::test]
async fn an_undecodable_record_is_dead_lettered_with_its_reason_and_fifo_ids_when_fifo() {
    let seen = Seen::default();
    let rule = sent(&seen);
    SqsDeadLetters::new(sqs(&[&rule]), FIFO)
        .dead_letter(&DeadLetter::record(
            "{not json",
            "wechat:demo:openid-1",
            "sqs-message-id-1",
            "undecodable body: EOF",
        ))
        .await
        .unwrap();
    let request = seen.only();
    assert_eq!(request.queue_url(), Some(FIFO));
    assert_eq!(request.message_body(), Some("{not json"));
    assert_eq!(request.message_group_id(), Some("wechat:demo:openid-1"));
    assert_eq!(request.message_deduplication_id(), Some("sqs-message-id-1"));
    assert_eq!(
        attributes(&request),
        [string("reason", "undecodable body: EOF")]
    );

    // A standard queue takes neither id (SQS refuses them there).
    let seen = Seen::default();
    let rule = sent(&seen);
    SqsDeadLetters::new(sqs(&[&rule]), STANDARD)
        .dead_letter(&DeadLetter::record(
            "{not json",
            "g",
            "d",
            "undecodable body: EOF",
        ))
        .await
        .unwrap();
    let request = seen.only();
    assert_eq!(request.message_group_id(), None);
    assert_eq!(request.message_deduplication_id(), None);
}

#[tokio::test]
async fn a_queued_reply_is_grouped_by_conversation_and_deduplicated_by_its_reply_id() {
    let command = reply();
    let seen = Seen::default();
    let rule = sent(&seen);
    SqsReplyQueue::new(sqs(&[&rule]), FIFO)
        .enqueue(&command)
        .await
        .unwrap();
    let request = seen.only();
    assert_eq!(request.queue_url(), Some(FIFO));
    let body: ReplyCommand = serde_json::from_str(request.message_body().unwrap()).unwrap();
    assert_eq!(body, command);
    assert_eq!(request.message_group_id(), Some("wechat:demo:openid-1"));
    assert_eq!(
        request.message_deduplication_id(),
        Some(command.dedupe_id().as_str())
    );
    // The reply goes in the same group as the messages of its conversation.
    assert_eq!(command.message_group_id(), message().message_group_id());
}

#[tokio::test]
async fn a_reply_dead_letter_carries_the_code_and_the_reason_cut_to_1000_characters() {
    let command = reply();
    // Multi-byte characters: the cut is by characters, never inside one.
    let long_reason = "拒".repeat(1500);
    for (reason, expected) in [
        (
            "invalid openid rid: 6630a1b2".to_string(),
            "invalid openid rid: 6630a1b2".to_string(),
        ),
        (long_reason.clone(), "拒".repeat(1000)),
        ("x".repeat(1000), "x".repeat(1000)),
    ] {
        let seen = Seen::default();
        let rule = sent(&seen);
        SqsDeadLetters::new(sqs(&[&rule]), FIFO)
            .dead_letter(&DeadLetter::reply(&command, "wechat:40003", &reason).unwrap())
            .await
            .unwrap();
        let request = seen.only();
        assert_eq!(request.queue_url(), Some(FIFO));
        // The body is the command exactly as queued, so that it can be redriven unchanged.
        let body: ReplyCommand = serde_json::from_str(request.message_body().unwrap()).unwrap();
        assert_eq!(body, command);
        assert_eq!(request.message_group_id(), Some("wechat:demo:openid-1"));
        assert_eq!(
            request.message_deduplication_id(),
            Some(command.dedupe_id().as_str())
        );
        let attributes = attributes(&request);
        let sent_reason = &attributes
            .iter()
            .find(|a| a.0 == "reason")
            .expect("a reason")
            .2;
        assert_eq!(
            sent_reason.chars().count(),
            expected.chars().count(),
            "characters of the reason"
        );
        assert_eq!(
            attributes,
            [
                string("account", "demo"),
                string("channel", "wechat"),
                string("error_code", "wechat:40003"),
                string("reason", &expected),
                string("reply_id", &command.dedupe_id()),
            ]
        );
    }

    let seen = Seen::default();
    let rule = sent(&seen);
    SqsDeadLetters::new(sqs(&[&rule]), STANDARD)
        .dead_letter(&DeadLetter::reply(&command, "gateway:retries_exhausted", "timeout").unwrap())
        .await
        .unwrap();
    let request = seen.only();
    assert_eq!(request.message_group_id(), None);
    assert_eq!(request.message_deduplication_id(), None);
}

#[tokio::test]
async fn a_retry_changes_the_record_visibility_to_the_delay_capped_at_12_hours() {
    for (delay, timeout) in [(0, 0), (37, 37), (43_200, 43_200), (100_000, 43_200)] {
        let seen = Seen::default();
        let rule = mock!(Client::change_message_visibility).then_compute_output({
            let seen = seen.clone();
            move |request| {
                seen.push(request);
                ChangeMessageVisibilityOutput::builder().build()
            }
        });
        SqsRetryScheduler::new(sqs(&[&rule]), FIFO)
            .retry_after("receipt-handle-AQEB", delay)
            .await
            .unwrap();
        let request = seen.only();
        assert_eq!(request.queue_url(), Some(FIFO));
        assert_eq!(request.receipt_handle(), Some("receipt-handle-AQEB"));
        assert_eq!(request.visibility_timeout(), Some(timeout), "delay {delay}");
    }

    for (response, transient) in [
        (throttled as fn() -> HttpResponse, true),
        (unavailable, true),
        (
            || sqs_error(400, "ReceiptHandleIsInvalid", "ReceiptHandleIsInvalid"),
            false,
        ),
        (
            || {
                sqs_error(
                    400,
                    "MessageNotInflight",
                    "AWS.SimpleQueueService.MessageNotInflight",
                )
            },
            false,
        ),
    ] {
        let rule = mock!(Client::change_message_visibility).then_http_response(response);
        let result = SqsRetryScheduler::new(sqs(&[&rule]), FIFO)
            .retry_after("receipt-handle-AQEB", 60)
            .await;
        if transient {
            assert_transient(result, "sqs change_message_visibility");
        } else {
            assert_permanent(result, "sqs change_message_visibility");
        }
    }
}

#[tokio::test]
async fn an_empty_attribute_value_is_left_out_since_sqs_would_refuse_the_whole_message() {
    // SQS refuses a message attribute with an empty value, and the message with it: the dead
    // letter would be lost for want of a reason.
    let command = reply();
    let seen = Seen::default();
    let rule = sent(&seen);
    SqsDeadLetters::new(sqs(&[&rule]), FIFO)
        .dead_letter(&DeadLetter::reply(&command, "", "").unwrap())
        .await
        .unwrap();
    let names: Vec<String> = attributes(&seen.only()).into_iter().map(|a| a.0).collect();
    assert_eq!(names, ["account", "channel", "reply_id"]);

    let seen = Seen::default();
    let rule = sent(&seen);
    SqsDeadLetters::new(sqs(&[&rule]), FIFO)
        .dead_letter(&DeadLetter::record("{", "g", "d", ""))
        .await
        .unwrap();
    assert_eq!(attributes(&seen.only()), []);
}

#[tokio::test]
async fn a_batch_with_an_entry_sqs_refused_fails_whole_and_transient_with_the_first_reason() {
    use aws_sdk_sqs::operation::send_message_batch::SendMessageBatchOutput;
    use aws_sdk_sqs::types::{BatchResultErrorEntry, SendMessageBatchResultEntry};
    use gateway_core::listening::MessageBatchPublisher;
    let one_refused = mock!(Client::send_message_batch).then_compute_output(|request| {
        let entries = request.entries();
        SendMessageBatchOutput::builder()
            .successful(
                SendMessageBatchResultEntry::builder()
                    .id(entries[0].id())
                    .message_id("m-1")
                    .md5_of_message_body("x")
                    .build()
                    .unwrap(),
            )
            .failed(
                BatchResultErrorEntry::builder()
                    .id(entries[1].id())
                    .sender_fault(false)
                    .code("InternalError")
                    .message("try again")
                    .build()
                    .unwrap(),
            )
            .build()
            .unwrap()
    });
    let mut second = message();
    second.dedupe_key = "msg:24002".into();
    let result = SqsMessagePublisher::new(sqs(&[&one_refused]), FIFO)
        .publish_all(&[message(), second])
        .await;
    let e = result
        .as_ref()
        .expect_err("a refused entry fails the batch");
    assert!(
        e.source
            .to_string()
            .contains("1 of 2 entries refused, first: InternalError try again"),
        "{e:?}"
    );
    assert_transient(result, "sqs send_message_batch");
}

#[tokio::test]
async fn a_fan_out_sends_one_delivery_message_per_client_ten_entries_a_call() {
    use aws_sdk_sqs::operation::send_message_batch::{
        SendMessageBatchInput, SendMessageBatchOutput,
    };
    use gateway_aws::SqsWebhookFanOut;
    use gateway_core::webhook_target::{DeliveryMessage, WebhookFanOut};
    let seen: Seen<SendMessageBatchInput> = Seen::default();
    let recorder = seen.clone();
    let batch = mock!(Client::send_message_batch).then_compute_output(move |request| {
        recorder.push(request);
        SendMessageBatchOutput::builder()
            .set_successful(Some(Vec::new()))
            .set_failed(Some(Vec::new()))
            .build()
            .expect("output")
    });
    let messages: Vec<DeliveryMessage> = (0..12)
        .map(|i| DeliveryMessage {
            webhook_client: format!("client-{i}"),
            event: r#"{"id":"evt-1"}"#.into(),
        })
        .collect();
    SqsWebhookFanOut::new(sqs(&[&batch]), STANDARD)
        .fan_out(&messages)
        .await
        .expect("queued");
    let calls = seen.all();
    let sizes: Vec<usize> = calls.iter().map(|c| c.entries().len()).collect();
    assert_eq!(sizes, [10, 2]);
    let entry = &calls[1].entries()[1];
    assert_eq!(entry.message_body(), messages[11].to_json());
    let client = entry
        .message_attributes()
        .and_then(|a| a.get("webhook_client"))
        .and_then(|v| v.string_value());
    assert_eq!(client, Some("client-11"));
    // A standard queue: no FIFO group or deduplication id.
    assert!(entry.message_group_id().is_none() && entry.message_deduplication_id().is_none());
}
