//! A customer's data request: everything the gateway keeps about one customer of one account,
//! found, exported to a directory, or erased (`gatewayctl customer export|erase`).
//!
//! What belongs to a customer (`docs/privacy.md` lists it with what is kept elsewhere):
//!
//! - the conversation's partition `CONV#{channel}:{account}:{customer}`: the conversation item
//!   (with its summary, profile and reply windows), every thread item (the customer's messages,
//!   the replies, the agents' notes), the dedupe markers, the desk's audit entries and the tag
//!   items;
//! - every other item that names the conversation in its `conversation_key` attribute: the
//!   replies' delivery records (`REPLY#…`), the reply API's request records (`APIREQ#…`), the
//!   template messages' lookup items (`TPLMSG#…`) and any later item that links to the
//!   conversation the same way;
//! - the name a CRM set for the customer (`CRM#wechat#{account}#{unionid}`), found through the
//!   `unionid` of the conversation's profile (a WeChat customer's only);
//! - the media bucket's objects under `media/{channel}/{account}/{conversation}/`.
//!
//! The linked items are found with a table scan filtered on `conversation_key`: a data
//! request is rare, and a scan finds every item that names the conversation, whatever its
//! key, without an index kept for the purpose.
//!
//! Erasure deletes the objects, then the linked items, then the partition with the
//! conversation item last, and looks again: a message that arrived meanwhile (a new
//! conversation item) is reported as left, and the command fails so that it is run again.

use anyhow::{Context, Result, bail};
use aws_sdk_dynamodb::types::{AttributeValue, DeleteRequest, WriteRequest};
use gateway_core::Channel;
use gateway_core::message::NormalizedMessage;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::{Path, PathBuf};

type Item = HashMap<String, AttributeValue>;

/// The customer a request is about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Customer {
    /// The channel.
    pub channel: Channel,
    /// The account (its name in the webhook path).
    pub account: String,
    /// The platform's id of the customer: the WeChat OpenID or the Weibo UID.
    pub id: String,
}

impl Customer {
    /// The customer's conversation key, `{channel}:{account}:{id}`.
    pub fn conversation_key(&self) -> String {
        NormalizedMessage::conversation_key_for(self.channel, &self.account, &self.id)
    }

    /// The conversation's partition key.
    pub fn partition(&self) -> String {
        format!("CONV#{}", self.conversation_key())
    }

    /// The prefix of the conversation's media objects.
    pub fn media_prefix(&self) -> Result<String> {
        gateway_core::media::conversation_prefix(
            self.channel,
            &self.account,
            &self.conversation_key(),
        )
        .context("the customer's media prefix")
    }
}

/// Where the customer's data is kept.
#[derive(Debug, Clone)]
pub struct Stores {
    /// DynamoDB.
    pub dynamodb: aws_sdk_dynamodb::Client,
    /// The conversations table.
    pub table: String,
    /// S3.
    pub s3: aws_sdk_s3::Client,
    /// The media bucket.
    pub bucket: String,
}

/// One media object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Object {
    /// Its key.
    pub key: String,
    /// Its size in bytes.
    pub bytes: i64,
}

/// Everything found about a customer.
#[derive(Debug, Clone, Default)]
pub struct Found {
    /// The conversation's partition, in key order.
    pub partition: Vec<Item>,
    /// Items elsewhere naming the conversation (delivery and request records…).
    pub linked: Vec<Item>,
    /// The media objects.
    pub objects: Vec<Object>,
}

impl Found {
    /// True when nothing was found.
    pub fn is_empty(&self) -> bool {
        self.partition.is_empty() && self.linked.is_empty() && self.objects.is_empty()
    }

    /// `n item(s) and m object(s)`.
    pub fn describe(&self) -> String {
        format!(
            "{} item(s) in the conversation, {} linked item(s), {} media object(s)",
            self.partition.len(),
            self.linked.len(),
            self.objects.len()
        )
    }
}

fn s(v: &str) -> AttributeValue {
    AttributeValue::S(v.to_string())
}

fn text<'a>(item: &'a Item, name: &str) -> &'a str {
    match item.get(name) {
        Some(AttributeValue::S(v)) => v,
        _ => "",
    }
}

/// Finds everything kept about `customer`.
pub async fn find(stores: &Stores, customer: &Customer) -> Result<Found> {
    let partition_key = customer.partition();
    let mut partition = Vec::new();
    let mut start: Option<Item> = None;
    loop {
        let page = stores
            .dynamodb
            .query()
            .table_name(&stores.table)
            .key_condition_expression("PK = :pk")
            .expression_attribute_values(":pk", s(&partition_key))
            .consistent_read(true)
            .set_exclusive_start_key(start.take())
            .send()
            .await
            .with_context(|| format!("query {partition_key}"))?;
        partition.extend(page.items.unwrap_or_default());
        match page.last_evaluated_key {
            Some(key) if !key.is_empty() => start = Some(key),
            _ => break,
        }
    }
    let mut linked = Vec::new();
    let mut start: Option<Item> = None;
    loop {
        let page = stores
            .dynamodb
            .scan()
            .table_name(&stores.table)
            .filter_expression("conversation_key = :key AND PK <> :pk")
            .expression_attribute_values(":key", s(&customer.conversation_key()))
            .expression_attribute_values(":pk", s(&partition_key))
            .consistent_read(true)
            .set_exclusive_start_key(start.take())
            .send()
            .await
            .context("scan for the conversation's linked items")?;
        linked.extend(page.items.unwrap_or_default());
        match page.last_evaluated_key {
            Some(key) if !key.is_empty() => start = Some(key),
            _ => break,
        }
    }
    if let Some(contact) = crm_contact(stores, customer, &partition).await? {
        linked.push(contact);
    }
    linked.sort_by(|a, b| (text(a, "PK"), text(a, "SK")).cmp(&(text(b, "PK"), text(b, "SK"))));
    let prefix = customer.media_prefix()?;
    let mut objects = Vec::new();
    let mut token: Option<String> = None;
    loop {
        let page = stores
            .s3
            .list_objects_v2()
            .bucket(&stores.bucket)
            .prefix(&prefix)
            .set_continuation_token(token.take())
            .send()
            .await
            .with_context(|| format!("list s3://{}/{prefix}", stores.bucket))?;
        for object in page.contents.unwrap_or_default() {
            if let Some(key) = object.key {
                objects.push(Object {
                    key,
                    bytes: object.size.unwrap_or_default(),
                });
            }
        }
        match page.next_continuation_token {
            Some(next) if page.is_truncated == Some(true) => token = Some(next),
            _ => break,
        }
    }
    Ok(Found {
        partition,
        linked,
        objects,
    })
}

/// An item as plain JSON (numbers as JSON numbers, sets as arrays, binary as base64).
fn item_json(item: &Item) -> Result<Value> {
    serde_dynamo::from_item(item.clone()).context("an item that is not JSON-representable")
}

/// Which section of the export an item of the partition belongs in.
fn section(sk: &str) -> &'static str {
    match sk {
        "META" => "conversation",
        _ if sk.starts_with("MSG#") => "thread",
        _ if sk.starts_with("AUDIT#") => "audit",
        _ if sk.starts_with("TAG#") => "tags",
        _ if sk.starts_with("DEDUPE#") => "dedupe_markers",
        _ => "other",
    }
}

/// What an export wrote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Exported {
    /// The document, `customer.json`.
    pub document: PathBuf,
    /// Items written into it.
    pub items: usize,
    /// Media files written beside it.
    pub files: usize,
}

/// Writes everything kept about `customer` into `dir` (created; it must not exist or be
/// empty): `customer.json` (the items, by section, and the media list with each file's
/// SHA-256) and `media/…` (the objects, by their key under the conversation's prefix).
pub async fn export(stores: &Stores, customer: &Customer, dir: &Path) -> Result<Exported> {
    if dir.exists()
        && std::fs::read_dir(dir)
            .with_context(|| format!("read {}", dir.display()))?
            .next()
            .is_some()
    {
        bail!(
            "{} is not empty: an export goes into a new or empty directory",
            dir.display()
        );
    }
    let found = find(stores, customer).await?;
    if found.is_empty() {
        bail!(
            "nothing is kept about {} (no conversation, linked item or media object)",
            customer.conversation_key()
        );
    }
    std::fs::create_dir_all(dir).with_context(|| format!("create {}", dir.display()))?;
    let mut sections: BTreeMap<&str, Vec<Value>> = BTreeMap::new();
    for item in &found.partition {
        sections
            .entry(section(text(item, "SK")))
            .or_default()
            .push(item_json(item)?);
    }
    let linked = found
        .linked
        .iter()
        .map(item_json)
        .collect::<Result<Vec<_>>>()?;
    let prefix = customer.media_prefix()?;
    let mut media = Vec::new();
    for object in &found.objects {
        let body = stores
            .s3
            .get_object()
            .bucket(&stores.bucket)
            .key(&object.key)
            .send()
            .await
            .with_context(|| format!("get s3://{}/{}", stores.bucket, object.key))?;
        let content_type = body.content_type.clone();
        let bytes = body
            .body
            .collect()
            .await
            .with_context(|| format!("read s3://{}/{}", stores.bucket, object.key))?
            .into_bytes();
        let relative = Path::new("media").join(object.key.trim_start_matches(&prefix));
        let path = dir.join(&relative);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)
                .with_context(|| format!("create {}", parent.display()))?;
        }
        std::fs::write(&path, &bytes).with_context(|| format!("write {}", path.display()))?;
        media.push(json!({
            "key": object.key,
            "file": relative.to_string_lossy(),
            "bytes": bytes.len(),
            "sha256": hex::encode(Sha256::digest(&bytes)),
            "content_type": content_type,
        }));
    }
    let single = |name: &str| {
        sections
            .get(name)
            .and_then(|items| items.first().cloned())
            .unwrap_or(Value::Null)
    };
    let list = |name: &str| Value::Array(sections.get(name).cloned().unwrap_or_default());
    let document = json!({
        "format": "channel-gateway customer export",
        "version": 1,
        "exported_at": chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
        "customer": {
            "channel": customer.channel.as_str(),
            "account": customer.account,
            "id": customer.id,
            "conversation_key": customer.conversation_key(),
        },
        "conversation": single("conversation"),
        "thread": list("thread"),
        "audit": list("audit"),
        "tags": list("tags"),
        "dedupe_markers": list("dedupe_markers"),
        "other_items": list("other"),
        "linked_items": linked,
        "media": media,
    });
    let path = dir.join("customer.json");
    let text = serde_json::to_vec_pretty(&document).context("the export document")?;
    std::fs::write(&path, text).with_context(|| format!("write {}", path.display()))?;
    Ok(Exported {
        document: path,
        items: found.partition.len() + found.linked.len(),
        files: found.objects.len(),
    })
}

/// What an erasure deleted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Erased {
    /// Items deleted from the table.
    pub items: usize,
    /// Objects deleted from the bucket.
    pub objects: usize,
}

/// Deletes everything kept about `customer`, then looks again: an error when anything is
/// left (something written meanwhile; run it again).
/// The CRM's name for the customer, joined by the `unionid` of the profile on the
/// conversation item (among `partition`'s items): the same key the desk joins it by.
async fn crm_contact(
    stores: &Stores,
    customer: &Customer,
    partition: &[Item],
) -> Result<Option<Item>> {
    let unionid = partition
        .iter()
        .find(|item| text(item, "SK") == "META")
        .and_then(|meta| match meta.get("profile") {
            Some(AttributeValue::M(profile)) => match profile.get("unionid") {
                Some(AttributeValue::S(u)) => Some(u.clone()),
                _ => None,
            },
            _ => None,
        });
    let Some(unionid) = unionid.filter(|_| customer.channel == Channel::WeChat) else {
        return Ok(None);
    };
    let key = gateway_core::profile::crm::ContactKey {
        account: customer.account.clone(),
        unionid,
    };
    let out = stores
        .dynamodb
        .get_item()
        .table_name(&stores.table)
        .key(
            "PK",
            s(&gateway_aws::dynamodb::crm_contacts::contact_pk(&key)),
        )
        .key("SK", s("CONTACT"))
        .consistent_read(true)
        .send()
        .await
        .context("read the CRM's name for the customer")?;
    Ok(out.item)
}

pub async fn erase(stores: &Stores, customer: &Customer) -> Result<Erased> {
    let found = find(stores, customer).await?;
    for chunk in found.objects.chunks(1000) {
        let ids = chunk
            .iter()
            .map(|o| {
                aws_sdk_s3::types::ObjectIdentifier::builder()
                    .key(&o.key)
                    .build()
                    .context("an object identifier")
            })
            .collect::<Result<Vec<_>>>()?;
        let delete = aws_sdk_s3::types::Delete::builder()
            .set_objects(Some(ids))
            .quiet(true)
            .build()
            .context("a delete request")?;
        let out = stores
            .s3
            .delete_objects()
            .bucket(&stores.bucket)
            .delete(delete)
            .send()
            .await
            .with_context(|| format!("delete objects in s3://{}", stores.bucket))?;
        if let Some(error) = out.errors.unwrap_or_default().first() {
            bail!(
                "s3://{}/{} not deleted: {} {}",
                stores.bucket,
                error.key.as_deref().unwrap_or("?"),
                error.code.as_deref().unwrap_or(""),
                error.message.as_deref().unwrap_or("")
            );
        }
    }
    // The conversation item last: an erasure cut short leaves the partition findable.
    let (meta, rest): (Vec<&Item>, Vec<&Item>) = found
        .partition
        .iter()
        .partition(|item| text(item, "SK") == "META");
    let order: Vec<&Item> = found.linked.iter().chain(rest).chain(meta).collect();
    delete_items(stores, &order).await?;
    let left = find(stores, customer).await?;
    if !left.is_empty() {
        bail!(
            "{} are left after the erasure (written while it ran?): run it again",
            left.describe()
        );
    }
    Ok(Erased {
        items: found.partition.len() + found.linked.len(),
        objects: found.objects.len(),
    })
}

/// Deletes the items (by `PK`, `SK`) in `BatchWriteItem` calls of 25, in order, retrying
/// what DynamoDB hands back unprocessed.
async fn delete_items(stores: &Stores, items: &[&Item]) -> Result<()> {
    let mut seen = BTreeSet::new();
    let keys: Vec<Item> = items
        .iter()
        .filter(|item| seen.insert((text(item, "PK").to_string(), text(item, "SK").to_string())))
        .map(|item| {
            [
                ("PK".to_string(), s(text(item, "PK"))),
                ("SK".to_string(), s(text(item, "SK"))),
            ]
            .into_iter()
            .collect()
        })
        .collect();
    for chunk in keys.chunks(25) {
        let mut requests = chunk
            .iter()
            .map(|key| {
                DeleteRequest::builder()
                    .set_key(Some(key.clone()))
                    .build()
                    .map(|d| WriteRequest::builder().delete_request(d).build())
                    .context("a delete request")
            })
            .collect::<Result<Vec<_>>>()?;
        let mut attempt = 0u32;
        while !requests.is_empty() {
            attempt += 1;
            if attempt > 8 {
                bail!(
                    "{} item(s) still unprocessed after {} attempts (throttled?): run it again",
                    requests.len(),
                    attempt - 1
                );
            }
            if attempt > 1 {
                tokio::time::sleep(std::time::Duration::from_millis(50 << attempt)).await;
            }
            let out = stores
                .dynamodb
                .batch_write_item()
                .request_items(&stores.table, requests)
                .send()
                .await
                .with_context(|| format!("delete items from {}", stores.table))?;
            requests = out
                .unprocessed_items
                .and_then(|mut u| u.remove(&stores.table))
                .unwrap_or_default();
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_customer_names_their_conversation_partition_and_media() {
        let c = Customer {
            channel: Channel::Weibo,
            account: "brand".into(),
            id: "1234567890".into(),
        };
        assert_eq!(c.conversation_key(), "weibo:brand:1234567890");
        assert_eq!(c.partition(), "CONV#weibo:brand:1234567890");
        assert_eq!(
            c.media_prefix().expect("prefix"),
            "media/weibo/brand/weibo%3Abrand%3A1234567890/"
        );
    }

    #[test]
    fn partition_items_are_exported_by_section() {
        let cases = [
            ("META", "conversation"),
            ("MSG#000000000001#abc", "thread"),
            ("AUDIT#000000000003", "audit"),
            ("TAG#complaint", "tags"),
            ("DEDUPE#abc", "dedupe_markers"),
            ("SOMETHING", "other"),
        ];
        for (sk, expected) in cases {
            assert_eq!(section(sk), expected, "{sk}");
        }
    }
}
