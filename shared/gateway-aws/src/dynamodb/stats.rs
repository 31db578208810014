//! DynamoDB adapter of the daily statistics: the records of each account's days (and of its
//! teams' days) in the conversations table, added to by the stats aggregator and read by
//! `gatewayctl report`.
//!
//! | item                  | PK                            | SK                                |
//! |-----------------------|-------------------------------|-----------------------------------|
//! | an account's day      | `STATS#{channel}:{account}`   | `DAY#{yyyy-mm-dd}`                |
//! | a team's day          | `STATS#{channel}:{account}`   | `DAY#{yyyy-mm-dd}#TEAM#{team}`    |
//! | a change counted      | `STREAM#{event_id}`           | `STATS`                           |
//!
//! A record holds `entity = stats`, `channel`, `account_id`, `day`, `team` (team records) and
//! one number per counter ([`DailyDelta::attributes`]), added with `ADD`, so concurrent
//! writers never lose a count. Records have no TTL: they are kept after the messages they
//! count have expired. The days of a range, with their teams, are one `Query` of the
//! account's partition (`SK BETWEEN DAY#{from} AND DAY#{to}$`: `$` sorts just after `#`).
//!
//! **Counting each change once.** A DynamoDB stream may deliver a record more than once (a
//! batch retried after a failure, a function that timed out). Each change is applied in one
//! `TransactWriteItems`: a `Put` of a marker item named by the stream record's event id, on
//! condition `attribute_not_exists(PK)`, and one `Update` with `ADD` per daily record it
//! touches. A second delivery finds the marker, the condition fails, the whole transaction is
//! cancelled and nothing is added twice; a failed attempt adds nothing at all, so the retry
//! counts it in full. Markers expire by TTL two days after they are written: a stream keeps a
//! record for 24 hours, so no copy of it can arrive after that.
//!
//! The alternatives were weighed and refused: a set of applied event ids inside each daily
//! record grows with the day's changes (32 characters per id: about 12,000 changes fill an
//! item's 400 KB, a busy account's single day), and a high-water mark of sequence numbers
//! needs the stream shard of each record, which the Lambda event does not carry (and
//! sequence numbers are ordered only within a shard). The marker costs one more item write
//! per counted change (and a transaction bills two write units per item); a change that
//! counts nothing (most replies' writes) is not written at all.

use crate::dynamodb::attrs::{Item, n, s, text};
use crate::dynamodb::transactions::{Transacted, transact};
use crate::error::port_error;
use async_trait::async_trait;
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::types::{AttributeValue, Put, TransactWriteItem, Update};
use chrono::NaiveDate;
use gateway_core::Channel;
use gateway_core::ports::{PortError, StatsStore};
use gateway_core::stats::{Applied, DailyDelta, DailyRecord, RecordKey, StatsDelta};

/// How long a change's marker is kept, seconds: well beyond the 24 hours a stream keeps a
/// record.
pub const MARKER_TTL_SECS: i64 = 2 * 86_400;

/// Most daily records one change may touch (a transaction holds up to 100 items, one is the
/// marker).
pub const MAX_RECORDS_PER_CHANGE: usize = 99;

/// Partition key of an account's statistics.
pub fn stats_pk(channel: Channel, account_id: &str) -> String {
    format!("STATS#{channel}:{account_id}")
}

/// Sort key of an account's (`team = None`) or a team's record of `day`.
pub fn day_sk(day: NaiveDate, team: Option<&str>) -> String {
    match team {
        None => format!("DAY#{day}"),
        Some(team) => format!("DAY#{day}#TEAM#{team}"),
    }
}

/// Partition key of the marker of a counted change.
pub fn marker_pk(change_id: &str) -> String {
    format!("STREAM#{change_id}")
}

/// The daily statistics records in the conversations table.
#[derive(Clone, Debug)]
pub struct DynamoDbStats {
    client: Client,
    table: String,
}

impl DynamoDbStats {
    /// Records in `table`.
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        DynamoDbStats {
            client,
            table: table.into(),
        }
    }

    fn marker(&self, change_id: &str, now_ms: i64) -> Result<TransactWriteItem, PortError> {
        let item: Item = [
            ("PK".to_string(), s(marker_pk(change_id))),
            ("SK".to_string(), s("STATS")),
            ("entity".to_string(), s("stats_change")),
            ("expires_at".to_string(), n(now_ms / 1000 + MARKER_TTL_SECS)),
        ]
        .into();
        let put = Put::builder()
            .table_name(&self.table)
            .set_item(Some(item))
            .condition_expression("attribute_not_exists(PK)")
            .build()
            .map_err(|e| PortError::permanent("build put", e))?;
        Ok(TransactWriteItem::builder().put(put).build())
    }

    /// One `Update` of a record: its identifying attributes set, every counter added.
    fn update(
        &self,
        delta: &StatsDelta,
        key: &RecordKey,
        counts: &DailyDelta,
    ) -> Result<TransactWriteItem, PortError> {
        let mut update = Update::builder()
            .table_name(&self.table)
            .key("PK", s(stats_pk(delta.channel, &delta.account_id)))
            .key("SK", s(day_sk(key.day, key.team.as_deref())))
            .expression_attribute_names("#entity", "entity")
            .expression_attribute_names("#channel", "channel")
            .expression_attribute_names("#account", "account_id")
            .expression_attribute_names("#day", "day")
            .expression_attribute_values(":entity", s("stats"))
            .expression_attribute_values(":channel", s(delta.channel.as_str()))
            .expression_attribute_values(":account", s(&delta.account_id))
            .expression_attribute_values(":day", s(key.day.to_string()));
        let mut set =
            "SET #entity = :entity, #channel = :channel, #account = :account, #day = :day"
                .to_string();
        if let Some(team) = &key.team {
            update = update
                .expression_attribute_names("#team", "team")
                .expression_attribute_values(":team", s(team));
            set.push_str(", #team = :team");
        }
        let mut add = Vec::new();
        for (i, (name, count)) in counts.attributes().into_iter().enumerate() {
            update = update
                .expression_attribute_names(format!("#c{i}"), name)
                .expression_attribute_values(format!(":c{i}"), n(count));
            add.push(format!("#c{i} :c{i}"));
        }
        let expression = if add.is_empty() {
            set
        } else {
            format!("{set} ADD {}", add.join(", "))
        };
        let update = update
            .update_expression(expression)
            .build()
            .map_err(|e| PortError::permanent("build update", e))?;
        Ok(TransactWriteItem::builder().update(update).build())
    }

    /// The records of an account's days `from..=to` (the account's and its teams'), in
    /// order of day, the account's record of a day before its teams'.
    pub async fn days(
        &self,
        channel: Channel,
        account_id: &str,
        from: NaiveDate,
        to: NaiveDate,
    ) -> Result<Vec<DailyRecord>, PortError> {
        let mut out = Vec::new();
        let mut start: Option<Item> = None;
        loop {
            let page = self
                .client
                .query()
                .table_name(&self.table)
                .key_condition_expression("PK = :pk AND SK BETWEEN :from AND :to")
                .expression_attribute_values(":pk", s(stats_pk(channel, account_id)))
                .expression_attribute_values(":from", s(day_sk(from, None)))
                .expression_attribute_values(":to", s(format!("{}$", day_sk(to, None))))
                .set_exclusive_start_key(start.take())
                .send()
                .await
                .map_err(|e| port_error("dynamodb query (stats)", e))?;
            for item in page.items() {
                out.push(record_from_item(item)?);
            }
            match page.last_evaluated_key() {
                Some(k) if !k.is_empty() => start = Some(k.clone()),
                _ => return Ok(out),
            }
        }
    }
}

/// A stored record: its day and team from their attributes, every number a counter.
fn record_from_item(item: &Item) -> Result<DailyRecord, PortError> {
    let day = text(item, "day")
        .and_then(|d| d.parse::<NaiveDate>().ok())
        .ok_or_else(|| PortError::permanent("read stats record", "no valid day"))?;
    let counters = item.iter().filter_map(|(name, value)| match value {
        AttributeValue::N(v) => v.parse::<i64>().ok().map(|v| (name.clone(), v)),
        _ => None,
    });
    Ok(DailyRecord {
        key: RecordKey {
            day,
            team: text(item, "team"),
        },
        counts: DailyDelta::from_attributes(counters),
    })
}

#[async_trait]
impl StatsStore for DynamoDbStats {
    async fn apply(
        &self,
        change_id: &str,
        delta: &StatsDelta,
        now_ms: i64,
    ) -> Result<Applied, PortError> {
        let records: Vec<_> = delta
            .records
            .iter()
            .filter(|(_, counts)| !counts.is_empty())
            .collect();
        if records.is_empty() {
            return Ok(Applied::Counted);
        }
        if records.len() > MAX_RECORDS_PER_CHANGE {
            return Err(PortError::permanent(
                "dynamodb transact_write_items (stats)",
                format!("one change touches {} daily records", records.len()),
            ));
        }
        let mut writes = vec![self.marker(change_id, now_ms)?];
        for (key, counts) in records {
            writes.push(self.update(delta, key, counts)?);
        }
        match transact(
            &self.client,
            writes,
            "dynamodb transact_write_items (stats)",
        )
        .await?
        {
            Transacted::Committed => Ok(Applied::Counted),
            Transacted::ConditionsFailed(items) if items == [0] => Ok(Applied::AlreadyCounted),
            Transacted::ConditionsFailed(items) => Err(PortError::permanent(
                "dynamodb transact_write_items (stats)",
                format!("unexpected failed conditions on items {items:?}"),
            )),
        }
    }
}
