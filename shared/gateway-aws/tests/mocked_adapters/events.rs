//! `EventBridgePublisher`: entries in order, ten per `PutEvents` call, source, detail type,
//! detail and bus; a call with refused entries fails the publish (transient), as do throttling
//! and server errors, while a denied call is permanent. `DynamoDbPublishedChanges`: the
//! marker's key, consistent read and TTL, and how failures map.

use crate::support::{
    Seen, TABLE, assert_permanent, assert_transient, attr, aws_error, dynamodb, n, s, throttled,
};
use aws_sdk_dynamodb::operation::get_item::GetItemOutput;
use aws_sdk_dynamodb::operation::put_item::PutItemOutput;
use aws_sdk_eventbridge::Client;
use aws_sdk_eventbridge::operation::put_events::{PutEventsInput, PutEventsOutput};
use aws_sdk_eventbridge::types::PutEventsResultEntry;
use aws_smithy_mocks::{MockResponse, mock};
use gateway_aws::dynamodb::stats::MARKER_TTL_SECS;
use gateway_aws::{DynamoDbPublishedChanges, EventBridgePublisher};
use gateway_core::events::{Event, StreamChange, message_received};
use gateway_core::ports::{EventPublisher, PublishedChanges};
use gateway_core::testing::text_message;

const BUS: &str = "gateway-events";
const NOW_MS: i64 = 1_796_551_200_000;

/// `count` message events, of records 0, 1, 2…
fn events(count: usize) -> Vec<Event> {
    (0..count)
        .map(|i| {
            let m = text_message("demo", "u1", &i.to_string(), "hi", NOW_MS);
            let change = StreamChange {
                event_id: format!("event-{i}"),
                sequence: format!("{:021}", i + 1),
            };
            message_received(&change, &m)
        })
        .collect()
}

fn accepted(n: usize) -> PutEventsOutput {
    PutEventsOutput::builder()
        .failed_entry_count(0)
        .set_entries(Some(
            (0..n)
                .map(|i| {
                    PutEventsResultEntry::builder()
                        .event_id(format!("eb-{i}"))
                        .build()
                })
                .collect(),
        ))
        .build()
}

#[tokio::test]
async fn events_go_in_order_at_most_ten_per_call_with_source_type_and_detail() {
    // Arrange
    let seen = Seen::<PutEventsInput>::default();
    let rule = mock!(Client::put_events).then_compute_response({
        let seen = seen.clone();
        move |request| {
            seen.push(request);
            MockResponse::Output(accepted(request.entries().len()))
        }
    });
    let publisher = EventBridgePublisher::new(crate::support::eventbridge(&[&rule]), BUS);
    let events = events(23);
    // Act
    publisher.publish(&events).await.expect("published");
    // Assert
    let calls = seen.all();
    let sizes: Vec<usize> = calls.iter().map(|c| c.entries().len()).collect();
    assert_eq!(sizes, [10, 10, 3]);
    let entries: Vec<_> = calls.iter().flat_map(|c| c.entries().to_vec()).collect();
    for (entry, event) in entries.iter().zip(&events) {
        assert_eq!(entry.event_bus_name(), Some(BUS));
        assert_eq!(entry.source(), Some("channel-gateway"));
        assert_eq!(entry.detail_type(), Some("message.received"));
        let detail: Event = serde_json::from_str(entry.detail().expect("detail")).expect("JSON");
        assert_eq!(&detail, event, "in order, the event's JSON as the detail");
    }
    // Nothing to publish: no call.
    publisher.publish(&[]).await.expect("nothing");
    assert_eq!(rule.num_calls(), 3);
}

#[tokio::test]
async fn a_call_with_a_refused_entry_fails_transient_and_stops_there() {
    let rule = mock!(Client::put_events).then_output(|| {
        PutEventsOutput::builder()
            .failed_entry_count(1)
            .entries(PutEventsResultEntry::builder().event_id("eb-0").build())
            .entries(
                PutEventsResultEntry::builder()
                    .error_code("ThrottlingException")
                    .error_message("Rate exceeded")
                    .build(),
            )
            .build()
    });
    let publisher = EventBridgePublisher::new(crate::support::eventbridge(&[&rule]), BUS);
    let result = publisher.publish(&events(12)).await;
    let err = result.as_ref().expect_err("refused");
    assert!(
        format!("{:?}", err.source).contains("ThrottlingException"),
        "{err:?}"
    );
    assert_transient(result, "eventbridge put_events");
    assert_eq!(rule.num_calls(), 1, "the next ten are not sent");
}

#[tokio::test]
async fn throttling_and_server_errors_are_transient_and_a_denial_is_permanent() {
    for (status, code, transient) in [
        (400, "ThrottlingException", true),
        (500, "InternalException", true),
        (400, "AccessDeniedException", false),
        (400, "ResourceNotFoundException", false),
    ] {
        let rule =
            mock!(Client::put_events).then_http_response(move || aws_error(status, code, "mocked"));
        let publisher = EventBridgePublisher::new(crate::support::eventbridge(&[&rule]), BUS);
        let result = publisher.publish(&events(1)).await;
        if transient {
            assert_transient(result, "eventbridge put_events");
        } else {
            assert_permanent(result, "eventbridge put_events");
        }
    }
}

#[tokio::test]
async fn the_marker_is_read_consistently_and_written_with_its_ttl() {
    let reads = Seen::default();
    let get = mock!(aws_sdk_dynamodb::Client::get_item).then_compute_response({
        let reads = reads.clone();
        move |request| {
            reads.push(request);
            MockResponse::Output(GetItemOutput::builder().build())
        }
    });
    let writes = Seen::default();
    let put = mock!(aws_sdk_dynamodb::Client::put_item).then_compute_response({
        let writes = writes.clone();
        move |request| {
            writes.push(request);
            MockResponse::Output(PutItemOutput::builder().build())
        }
    });
    let marks = DynamoDbPublishedChanges::new(dynamodb(&[&get, &put]), TABLE);

    assert!(!marks.is_published("abc").await.expect("read"));
    marks.mark_published("abc", NOW_MS).await.expect("marked");

    let read = reads.only();
    assert_eq!(read.table_name(), Some(TABLE));
    assert_eq!(read.consistent_read(), Some(true));
    let key = read.key().expect("key");
    assert_eq!(key.get("PK"), Some(&s("STREAM#abc")));
    assert_eq!(key.get("SK"), Some(&s("EVENTS")));
    let write = writes.only();
    let item = write.item().expect("item");
    assert_eq!(attr(item, "PK"), &s("STREAM#abc"));
    assert_eq!(attr(item, "SK"), &s("EVENTS"));
    assert_eq!(
        attr(item, "expires_at"),
        &n(NOW_MS / 1000 + MARKER_TTL_SECS)
    );
}

#[tokio::test]
async fn a_marker_found_means_published_and_throttling_is_transient() {
    let get = mock!(aws_sdk_dynamodb::Client::get_item)
        .then_output(|| GetItemOutput::builder().item("PK", s("STREAM#abc")).build());
    let marks = DynamoDbPublishedChanges::new(dynamodb(&[&get]), TABLE);
    assert!(marks.is_published("abc").await.expect("read"));

    let get = mock!(aws_sdk_dynamodb::Client::get_item).then_http_response(throttled);
    let put = mock!(aws_sdk_dynamodb::Client::put_item).then_http_response(throttled);
    let marks = DynamoDbPublishedChanges::new(dynamodb(&[&get, &put]), TABLE);
    assert_transient(
        marks.is_published("abc").await,
        "dynamodb get_item (events marker)",
    );
    assert_transient(
        marks.mark_published("abc", NOW_MS).await,
        "dynamodb put_item (events marker)",
    );
}
