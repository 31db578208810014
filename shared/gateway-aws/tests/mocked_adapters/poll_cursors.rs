//! `DynamoDbPollCursors`: a consistent read of the cursor item, and a whole-item put
//! conditional on the version read (absent for the first), a refused condition being "another
//! run moved it", never an error.

use crate::support::{
    Seen, TABLE, assert_transient, condition_failed, dynamodb, s, sorted, throttled,
};
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::operation::get_item::{GetItemInput, GetItemOutput};
use aws_sdk_dynamodb::operation::put_item::{PutItemInput, PutItemOutput};
use aws_sdk_dynamodb::types::AttributeValue;
use aws_smithy_mocks::{MockResponse, Rule, mock};
use aws_smithy_runtime_api::client::orchestrator::HttpResponse;
use gateway_aws::DynamoDbPollCursors;
use gateway_aws::dynamodb::poll_cursors::cursor_item;
use gateway_core::account::Timeline;
use gateway_core::listening::{Burst, Cursor, CursorStore};

fn cursor() -> Cursor {
    Cursor {
        since_id: 4_100_000_000_000_001,
        burst: Some(Burst {
            top_id: 4_100_000_000_000_099,
            next_max_id: 4_100_000_000_000_049,
            pages: 1,
        }),
        polled_at_ms: 1_800_000_000_000,
        backoff_until_ms: 0,
        backoff_level: 0,
        version: 8,
    }
}

fn put_rule(seen: &Seen<PutItemInput>, respond: fn() -> Option<HttpResponse>) -> Rule {
    let seen = seen.clone();
    mock!(Client::put_item).then_compute_response(move |request| {
        seen.push(request);
        match respond() {
            Some(http) => MockResponse::Http(http),
            None => MockResponse::Output(PutItemOutput::builder().build()),
        }
    })
}

#[tokio::test]
async fn a_save_is_conditional_on_the_version_read() {
    let seen = Seen::default();
    let rule = put_rule(&seen, || None);
    let store = DynamoDbPollCursors::new(dynamodb(&[&rule]), TABLE);
    let saved = store
        .save("brand", Timeline::CommentsToMe, &cursor(), 7)
        .await
        .unwrap();
    assert!(saved);
    let request = seen.only();
    assert_eq!(request.table_name(), Some(TABLE));
    assert_eq!(
        request.item(),
        Some(&cursor_item("brand", Timeline::CommentsToMe, &cursor()))
    );
    assert_eq!(request.item().unwrap()["PK"], s("POLL#weibo#brand"));
    assert_eq!(request.item().unwrap()["SK"], s("comments_to_me"));
    assert_eq!(request.condition_expression(), Some("#v = :v"));
    assert_eq!(
        sorted(request.expression_attribute_names()),
        [("#v".to_string(), "version".to_string())]
    );
    assert_eq!(
        sorted(request.expression_attribute_values()),
        [(":v".to_string(), AttributeValue::N("7".into()))]
    );
}

#[tokio::test]
async fn the_first_save_needs_the_item_absent_and_a_refused_condition_is_an_answer() {
    let seen = Seen::default();
    let rule = put_rule(&seen, || Some(condition_failed()));
    let store = DynamoDbPollCursors::new(dynamodb(&[&rule]), TABLE);
    let saved = store
        .save("brand", Timeline::StatusesMentions, &cursor(), 0)
        .await
        .unwrap();
    assert!(!saved, "another run saved first");
    let request = seen.only();
    assert_eq!(
        request.condition_expression(),
        Some("attribute_not_exists(PK)")
    );
    assert!(request.expression_attribute_values().is_none());

    let throttled_rule = put_rule(&Seen::default(), || Some(throttled()));
    let store = DynamoDbPollCursors::new(dynamodb(&[&throttled_rule]), TABLE);
    assert_transient(
        store
            .save("brand", Timeline::StatusesMentions, &cursor(), 3)
            .await,
        "dynamodb put_item (poll cursor)",
    );
}

#[tokio::test]
async fn a_load_reads_consistently_and_an_absent_item_is_no_cursor() {
    let seen: Seen<GetItemInput> = Seen::default();
    let found = {
        let seen = seen.clone();
        mock!(Client::get_item)
            .match_requests(|r| r.key().is_some_and(|k| k["SK"] == s("comments_mentions")))
            .then_compute_output(move |request| {
                seen.push(request);
                GetItemOutput::builder()
                    .set_item(Some(cursor_item(
                        "brand",
                        Timeline::CommentsMentions,
                        &cursor(),
                    )))
                    .build()
            })
    };
    let absent = mock!(Client::get_item).then_output(|| GetItemOutput::builder().build());
    let store = DynamoDbPollCursors::new(dynamodb(&[&found, &absent]), TABLE);
    assert_eq!(
        store
            .load("brand", Timeline::CommentsMentions)
            .await
            .unwrap(),
        Some(cursor())
    );
    let request = seen.only();
    assert_eq!(request.consistent_read(), Some(true));
    assert_eq!(request.key().unwrap()["PK"], s("POLL#weibo#brand"));
    assert_eq!(
        store.load("brand", Timeline::CommentsToMe).await.unwrap(),
        None
    );
}
