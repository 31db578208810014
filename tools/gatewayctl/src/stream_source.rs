//! The local stand-in for a DynamoDB Streams event source mapping: the table's stream read
//! shard by shard from the AWS emulator, each batch of records handed to the function as a
//! DynamoDB stream event, and a record the function reports failed delivered again, with the
//! records after it on its shard, as Lambda does (`ReportBatchItemFailures`).
//!
//! The emulator's stream API is called in its JSON wire form: its records are then exactly
//! what Lambda puts in the event, with no conversion.

use anyhow::{Context, Result, bail};
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::time::Duration;

/// Most records handed to the function at once (Lambda's default batch size for streams).
pub const BATCH_SIZE: usize = 100;

/// One table's stream and the function it feeds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamMapping {
    /// A short name for the log lines (the function's).
    pub name: String,
    /// The table whose stream it reads.
    pub table: String,
    /// The function's invoke URL (`cargo lambda watch`).
    pub invoke_url: String,
}

impl StreamMapping {
    /// `NAME=TABLE=INVOKE_URL`.
    pub fn parse(text: &str) -> Result<Self> {
        let mut parts = text.splitn(3, '=');
        match (parts.next(), parts.next(), parts.next()) {
            (Some(name), Some(table), Some(invoke))
                if !name.is_empty() && !table.is_empty() && !invoke.is_empty() =>
            {
                Ok(StreamMapping {
                    name: name.to_string(),
                    table: table.to_string(),
                    invoke_url: invoke.to_string(),
                })
            }
            _ => bail!("a stream mapping is NAME=TABLE=INVOKE_URL, got `{text}`"),
        }
    }
}

/// A reader of one table's stream in the emulator at `endpoint`.
pub struct StreamReader {
    http: reqwest::Client,
    endpoint: String,
    stream_arn: String,
    /// Shard id → the iterator to read next.
    iterators: BTreeMap<String, String>,
    /// Where a shard is first read from.
    start: &'static str,
}

impl StreamReader {
    /// Opens the stream of `table` from its oldest record (as an event source mapping
    /// created with the table does), or with `latest` from what is written next (a test that
    /// shares the table with others).
    pub async fn open(
        ddb: &aws_sdk_dynamodb::Client,
        http: &reqwest::Client,
        endpoint: &str,
        table: &str,
        latest: bool,
    ) -> Result<Self> {
        let stream_arn = ddb
            .describe_table()
            .table_name(table)
            .send()
            .await
            .context("describe table")?
            .table()
            .and_then(|t| t.latest_stream_arn())
            .with_context(|| format!("table {table} has no stream"))?
            .to_string();
        let mut reader = StreamReader {
            http: http.clone(),
            endpoint: endpoint.trim_end_matches('/').to_string(),
            stream_arn,
            iterators: BTreeMap::new(),
            start: if latest { "LATEST" } else { "TRIM_HORIZON" },
        };
        reader.discover_shards().await?;
        Ok(reader)
    }

    async fn call(&self, action: &str, body: Value) -> Result<Value> {
        let response = self
            .http
            .post(format!("{}/", self.endpoint))
            .header("X-Amz-Target", format!("DynamoDBStreams_20120810.{action}"))
            .header("Content-Type", "application/x-amz-json-1.0")
            .header(
                "Authorization",
                "AWS4-HMAC-SHA256 Credential=test/20260101/us-east-1/dynamodb/aws4_request, SignedHeaders=host, Signature=0",
            )
            .json(&body)
            .send()
            .await
            .with_context(|| format!("dynamodb streams {action}"))?;
        let status = response.status();
        let value: Value = response.json().await.unwrap_or(Value::Null);
        if !status.is_success() {
            bail!("dynamodb streams {action}: HTTP {status}: {value}");
        }
        Ok(value)
    }

    async fn iterator(&self, shard: &str, kind: &str, sequence: Option<&str>) -> Result<String> {
        let mut body =
            json!({"StreamArn": self.stream_arn, "ShardId": shard, "ShardIteratorType": kind});
        if let Some(seq) = sequence {
            body["SequenceNumber"] = json!(seq);
        }
        self.call("GetShardIterator", body).await?["ShardIterator"]
            .as_str()
            .map(str::to_string)
            .context("no shard iterator")
    }

    async fn discover_shards(&mut self) -> Result<()> {
        let description = self
            .call("DescribeStream", json!({"StreamArn": self.stream_arn}))
            .await?;
        for shard in description["StreamDescription"]["Shards"]
            .as_array()
            .into_iter()
            .flatten()
        {
            let Some(id) = shard["ShardId"].as_str() else {
                continue;
            };
            if !self.iterators.contains_key(id) {
                let it = self.iterator(id, self.start, None).await?;
                self.iterators.insert(id.to_string(), it);
            }
        }
        Ok(())
    }

    /// Reads what is new on every shard and hands it to the function at `invoke_url`, batch by
    /// batch; a failed record is read again next time. Returns the records the function
    /// accepted and those it reported failed.
    pub async fn deliver(&mut self, invoke_url: &str) -> Result<(usize, usize)> {
        self.discover_shards().await?;
        let (mut accepted, mut failed) = (0, 0);
        let shards: Vec<(String, String)> = self
            .iterators
            .iter()
            .map(|(s, i)| (s.clone(), i.clone()))
            .collect();
        for (shard, iterator) in shards {
            let page = self
                .call(
                    "GetRecords",
                    json!({"ShardIterator": iterator, "Limit": BATCH_SIZE}),
                )
                .await?;
            let records: Vec<Value> = page["Records"]
                .as_array()
                .cloned()
                .unwrap_or_default()
                .into_iter()
                .map(|mut r| {
                    r["eventSource"] = json!("aws:dynamodb");
                    r["eventSourceARN"] = json!(self.stream_arn);
                    r
                })
                .collect();
            let next = page["NextShardIterator"].as_str().map(str::to_string);
            if records.is_empty() {
                if let Some(next) = next {
                    self.iterators.insert(shard, next);
                }
                continue;
            }
            let response: Value = self
                .http
                .post(invoke_url)
                .json(&json!({"Records": records}))
                .send()
                .await
                .context("invoke the function")?
                .error_for_status()
                .context("the function failed")?
                .json()
                .await
                .unwrap_or(Value::Null);
            let failures: Vec<&str> = response["batchItemFailures"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|f| f["itemIdentifier"].as_str())
                .collect();
            let sequence = |r: &Value| r["dynamodb"]["SequenceNumber"].as_str().map(str::to_string);
            let first_failed = records
                .iter()
                .position(|r| sequence(r).is_some_and(|s| failures.contains(&s.as_str())));
            match first_failed {
                Some(position) => {
                    accepted += position;
                    failed += records.len() - position;
                    let seq = sequence(&records[position]).unwrap_or_default();
                    let again = self
                        .iterator(&shard, "AT_SEQUENCE_NUMBER", Some(&seq))
                        .await?;
                    self.iterators.insert(shard, again);
                }
                None => {
                    accepted += records.len();
                    if let Some(next) = next {
                        self.iterators.insert(shard, next);
                    }
                }
            }
        }
        Ok((accepted, failed))
    }
}

/// Runs one stream mapping until the process stops: a line per batch on stdout, a line per
/// error on stderr (it goes on after a pause, as the event source retries).
pub async fn run_one(
    ddb: aws_sdk_dynamodb::Client,
    http: reqwest::Client,
    endpoint: String,
    mapping: StreamMapping,
) {
    let mut reader = loop {
        match StreamReader::open(&ddb, &http, &endpoint, &mapping.table, false).await {
            Ok(r) => break r,
            Err(e) => {
                eprintln!("{}: {e:#}", mapping.name);
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        }
    };
    loop {
        match reader.deliver(&mapping.invoke_url).await {
            Ok((0, 0)) => tokio::time::sleep(Duration::from_millis(250)).await,
            Ok((accepted, failed)) => println!(
                "{}: {accepted} stream record(s), {failed} to retry",
                mapping.name
            ),
            Err(e) => {
                eprintln!("{}: {e:#}", mapping.name);
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stream_mapping_names_its_function_table_and_url() {
        let m =
            StreamMapping::parse("sla-monitor=up-conversations=http://f/invoke").expect("valid");
        assert_eq!(m.table, "up-conversations");
        assert!(StreamMapping::parse("sla-monitor=t").is_err());
    }
}
