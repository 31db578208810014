//! Media records put on a stored message by hand, for trying and testing the desk without the
//! media-fetcher: the object in the media bucket under the key the fetcher uses, and the record
//! it writes on the message item (`gatewayctl desk seed-media`).

use anyhow::{Context, Result, bail};
use aws_sdk_dynamodb::types::AttributeValue;
use gateway_core::NormalizedMessage;
use gateway_core::media::{MediaKind, MediaRecord, MediaState, object_key};
use gateway_core::message::Content;
use sha2::{Digest, Sha256};
use std::collections::HashMap;

/// What to record.
#[derive(Debug, Clone)]
pub enum Seed {
    /// Store `body` in the bucket and record it as `stored`.
    Stored {
        /// The bytes.
        body: Vec<u8>,
        /// Their `Content-Type`.
        content_type: String,
    },
    /// Record this state as it is (`pending`, `too_large`, `unavailable`): nothing stored.
    State(MediaState),
}

/// Where the message is and where its object goes.
#[derive(Debug, Clone)]
pub struct SeedTarget<'a> {
    /// The conversations table.
    pub table: &'a str,
    /// The media bucket.
    pub bucket: &'a str,
    /// The conversation; its latest inbound message gets the record.
    pub conversation_key: &'a str,
    /// The record's kind.
    pub kind: MediaKind,
}

/// The `Content-Type` of a file by its extension (the formats the desk handles).
pub fn content_type_of(path: &std::path::Path) -> &'static str {
    match path
        .extension()
        .and_then(|e| e.to_str())
        .map(str::to_ascii_lowercase)
        .as_deref()
    {
        Some("jpg" | "jpeg") => "image/jpeg",
        Some("png") => "image/png",
        Some("gif") => "image/gif",
        Some("amr") => "audio/amr",
        Some("mp3") => "audio/mpeg",
        Some("mp4") => "video/mp4",
        _ => "application/octet-stream",
    }
}

/// Records `seed` on the latest inbound message of the conversation (storing the object first
/// for [`Seed::Stored`]), under its kind in the item's `media` map, keeping the other kinds'
/// records. Returns the record written.
pub async fn seed_media(
    ddb: &aws_sdk_dynamodb::Client,
    s3: &aws_sdk_s3::Client,
    target: &SeedTarget<'_>,
    seed: Seed,
    now_ms: i64,
) -> Result<MediaRecord> {
    let pk = format!("CONV#{}", target.conversation_key);
    let page = ddb
        .query()
        .table_name(target.table)
        .key_condition_expression("PK = :pk AND begins_with(SK, :msg)")
        .expression_attribute_values(":pk", AttributeValue::S(pk.clone()))
        .expression_attribute_values(":msg", AttributeValue::S("MSG#".into()))
        .scan_index_forward(false)
        .consistent_read(true)
        .send()
        .await
        .context("query the thread")?;
    let Some(item) = page.items().iter().find(|i| {
        i.get("direction")
            .and_then(|d| d.as_s().ok())
            .map(String::as_str)
            == Some("in")
    }) else {
        bail!("no inbound message in {}", target.conversation_key);
    };
    let sk = item
        .get("SK")
        .and_then(|v| v.as_s().ok())
        .context("thread item without SK")?
        .clone();
    let message: NormalizedMessage =
        serde_dynamo::from_attribute_value(item.get("message").context("no message")?.clone())
            .context("read the message")?;
    let mut media: HashMap<String, AttributeValue> = item
        .get("media")
        .and_then(|m| m.as_m().ok())
        .cloned()
        .unwrap_or_default();
    let existing: Option<MediaRecord> = media
        .get(target.kind.as_str())
        .and_then(|v| serde_dynamo::from_attribute_value(v.clone()).ok());
    let media_id = existing
        .map(|r| r.media_id)
        .or_else(|| match &message.content {
            Content::Image { media_id, .. }
            | Content::Voice { media_id, .. }
            | Content::Video { media_id, .. } => media_id.clone(),
            _ => None,
        })
        .unwrap_or_else(|| "seeded".to_string());
    let state = match seed {
        Seed::State(state) => state,
        Seed::Stored { body, content_type } => {
            let key = object_key(
                message.channel,
                &message.account_id,
                &message.conversation_key,
                &message.dedupe_id(),
                target.kind,
            )?;
            let sha256 = hex::encode(Sha256::digest(&body));
            let bytes = body.len() as u64;
            s3.put_object()
                .bucket(target.bucket)
                .key(&key)
                .content_type(&content_type)
                .metadata("sha256", &sha256)
                .body(body.into())
                .send()
                .await
                .with_context(|| format!("put s3://{}/{key}", target.bucket))?;
            MediaState::Stored {
                s3_key: key,
                content_type,
                bytes,
                sha256,
            }
        }
    };
    let record = MediaRecord {
        kind: target.kind,
        media_id,
        recorded_at_ms: now_ms,
        state,
    };
    media.insert(
        target.kind.as_str().to_string(),
        serde_dynamo::to_attribute_value(&record).context("serialize the record")?,
    );
    ddb.update_item()
        .table_name(target.table)
        .key("PK", AttributeValue::S(pk))
        .key("SK", AttributeValue::S(sk))
        .update_expression("SET #media = :media")
        .condition_expression("attribute_exists(PK)")
        .expression_attribute_names("#media", "media")
        .expression_attribute_values(":media", AttributeValue::M(media))
        .send()
        .await
        .context("record the media on the message")?;
    Ok(record)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_type_follows_the_extension() {
        for (name, t) in [
            ("a.JPG", "image/jpeg"),
            ("b.png", "image/png"),
            ("c.amr", "audio/amr"),
            ("d.mp4", "video/mp4"),
            ("e", "application/octet-stream"),
        ] {
            assert_eq!(content_type_of(std::path::Path::new(name)), t);
        }
    }
}
