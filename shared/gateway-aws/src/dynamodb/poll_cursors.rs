//! The cursors of `weibo-poller`: one item per account and timeline in the conversations table.
//!
//! | item   | PK                      | SK                                                          |
//! |--------|-------------------------|-------------------------------------------------------------|
//! | cursor | `POLL#weibo#{account}`  | the timeline: `comments_to_me`, `comments_mentions`, `statuses_mentions` |
//!
//! Attributes: `since_id` (N), `burst_top_id`, `burst_next_max_id`, `burst_pages` (N, only
//! while a burst is unfinished), `polled_at_ms`, `backoff_until_ms`, `backoff_level`,
//! `version` (N). Ids are numbers written exactly (DynamoDB numbers hold 38 digits).
//!
//! Read with a consistent `GetItem`; written whole with a `PutItem` conditional on the version
//! read (`attribute_not_exists(PK)` for the first), so two runs overlapping can never move a
//! cursor backwards: the one that loses is told (`Ok(false)`) and stops.

use crate::dynamodb::attrs::{Item, is_condition_failure, n, s};
use crate::error::port_error;
use async_trait::async_trait;
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::types::AttributeValue;
use gateway_core::account::Timeline;
use gateway_core::listening::{Burst, Cursor, CursorStore};
use gateway_core::ports::PortError;

/// Partition key of an account's cursors.
pub fn poll_pk(account: &str) -> String {
    format!("POLL#weibo#{account}")
}

/// The cursor store over the conversations table.
#[derive(Clone, Debug)]
pub struct DynamoDbPollCursors {
    client: Client,
    table: String,
}

impl DynamoDbPollCursors {
    /// Store over `table`.
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        DynamoDbPollCursors {
            client,
            table: table.into(),
        }
    }
}

fn u64_attr(v: u64) -> AttributeValue {
    AttributeValue::N(v.to_string())
}

fn read_u64(item: &Item, name: &str) -> Option<u64> {
    item.get(name)
        .and_then(|v| v.as_n().ok())
        .and_then(|v| v.parse().ok())
}

fn read_i64(item: &Item, name: &str) -> i64 {
    item.get(name)
        .and_then(|v| v.as_n().ok())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

/// The item of `cursor`.
pub fn cursor_item(account: &str, timeline: Timeline, cursor: &Cursor) -> Item {
    let mut item: Item = [
        ("PK".to_string(), s(poll_pk(account))),
        ("SK".to_string(), s(timeline.as_str())),
        ("since_id".to_string(), u64_attr(cursor.since_id)),
        ("polled_at_ms".to_string(), n(cursor.polled_at_ms)),
        ("backoff_until_ms".to_string(), n(cursor.backoff_until_ms)),
        (
            "backoff_level".to_string(),
            n(i64::from(cursor.backoff_level)),
        ),
        ("version".to_string(), u64_attr(cursor.version)),
    ]
    .into_iter()
    .collect();
    if let Some(b) = cursor.burst {
        item.insert("burst_top_id".into(), u64_attr(b.top_id));
        item.insert("burst_next_max_id".into(), u64_attr(b.next_max_id));
        item.insert("burst_pages".into(), n(i64::from(b.pages)));
    }
    item
}

/// The cursor an item holds; an item without a readable `since_id` or `version` is refused
/// (it was not written by this adapter), so it is never taken for "nothing read yet".
pub fn read_cursor(item: &Item) -> Result<Cursor, String> {
    let since_id = read_u64(item, "since_id").ok_or("cursor item without since_id")?;
    let version = read_u64(item, "version").ok_or("cursor item without version")?;
    let burst = match (
        read_u64(item, "burst_top_id"),
        read_u64(item, "burst_next_max_id"),
    ) {
        (Some(top_id), Some(next_max_id)) => Some(Burst {
            top_id,
            next_max_id,
            pages: u32::try_from(read_i64(item, "burst_pages")).unwrap_or(0),
        }),
        _ => None,
    };
    Ok(Cursor {
        since_id,
        burst,
        polled_at_ms: read_i64(item, "polled_at_ms"),
        backoff_until_ms: read_i64(item, "backoff_until_ms"),
        backoff_level: u32::try_from(read_i64(item, "backoff_level")).unwrap_or(0),
        version,
    })
}

#[async_trait]
impl CursorStore for DynamoDbPollCursors {
    async fn load(&self, account: &str, timeline: Timeline) -> Result<Option<Cursor>, PortError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .key("PK", s(poll_pk(account)))
            .key("SK", s(timeline.as_str()))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| port_error("dynamodb get_item (poll cursor)", e))?;
        match out.item() {
            None => Ok(None),
            Some(item) => read_cursor(item)
                .map(Some)
                .map_err(|e| PortError::permanent("read poll cursor", e)),
        }
    }

    async fn save(
        &self,
        account: &str,
        timeline: Timeline,
        cursor: &Cursor,
        expected_version: u64,
    ) -> Result<bool, PortError> {
        let mut put = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(cursor_item(account, timeline, cursor)));
        put = if expected_version == 0 {
            put.condition_expression("attribute_not_exists(PK)")
        } else {
            put.condition_expression("#v = :v")
                .expression_attribute_names("#v", "version")
                .expression_attribute_values(":v", u64_attr(expected_version))
        };
        match put.send().await {
            Ok(_) => Ok(true),
            Err(e) if e.as_service_error().is_some_and(is_condition_failure) => Ok(false),
            Err(e) => Err(port_error("dynamodb put_item (poll cursor)", e)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cursor_round_trips_through_its_item() {
        for cursor in [
            Cursor::default(),
            Cursor {
                since_id: 4_999_999_999_999_999_999,
                burst: Some(Burst {
                    top_id: u64::MAX,
                    next_max_id: 4_100_000_000_000_000,
                    pages: 3,
                }),
                polled_at_ms: 1_800_000_000_000,
                backoff_until_ms: 1_800_000_060_000,
                backoff_level: 2,
                version: 17,
            },
        ] {
            let item = cursor_item("brand", Timeline::CommentsMentions, &cursor);
            assert_eq!(item["PK"], s("POLL#weibo#brand"));
            assert_eq!(item["SK"], s("comments_mentions"));
            assert_eq!(read_cursor(&item), Ok(cursor));
        }
        assert!(read_cursor(&Item::new()).is_err());
    }
}
