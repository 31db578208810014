//! The fetch use case and its ports: download one object from the platform and keep it once.
//!
//! [`fetch_one`] is idempotent: it first looks for the object under its key and, when a
//! previous delivery of the same command stored it, answers that object's record without
//! downloading again; the store's put is conditional (`If-None-Match: *` on S3), so two
//! concurrent deliveries store once too.

use super::command::MediaFetch;
use super::outcome::{ErrorClass, MediaRecord, MediaState, classify_platform_error};
use crate::message::Channel;
use crate::ports::{PortError, Retry};
use async_trait::async_trait;
use sha2::{Digest, Sha256};

/// What to download.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DownloadRequest {
    /// Channel whose media API to call.
    pub channel: Channel,
    /// Account whose credentials to use.
    pub account_id: String,
    /// The platform's id of the object.
    pub media_id: String,
    /// Stop reading past this many bytes and answer [`SourceError::TooLarge`].
    pub max_bytes: u64,
}

/// A downloaded object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Downloaded {
    /// The platform's `Content-Type` (`application/octet-stream` when it sent none).
    pub content_type: String,
    /// The bytes, at most the request's `max_bytes`.
    pub body: Vec<u8>,
}

/// Why a download failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SourceError {
    /// The object is larger than the cap (announced by `Content-Length`, or crossed while
    /// reading).
    #[error("larger than the cap ({bytes} bytes)")]
    TooLarge {
        /// The announced size, or the bytes read when the cap was crossed.
        bytes: u64,
    },
    /// The platform answered an error code (classified by [`classify_platform_error`]).
    #[error("platform error {code}: {message}")]
    Platform {
        /// WeChat `errcode`, Weibo `error_code`.
        code: i64,
        /// The platform's message.
        message: String,
    },
    /// The download answered HTTP 404 with no platform code (Weibo's download).
    #[error("not found (HTTP {http_status})")]
    NotFound {
        /// The HTTP status.
        http_status: u16,
    },
    /// Network, timeout, 5xx, or an unreadable answer.
    #[error("transport: {reason}")]
    Transport {
        /// Whether it may succeed later.
        retry: Retry,
        /// What happened.
        reason: String,
    },
}

/// Downloads media from a platform.
#[async_trait]
pub trait MediaSource: Send + Sync {
    /// Downloads one object, reading at most `max_bytes`.
    async fn download(&self, request: &DownloadRequest) -> Result<Downloaded, SourceError>;
}

/// An object already kept.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredObject {
    /// Its `Content-Type`.
    pub content_type: String,
    /// Its size.
    pub bytes: u64,
    /// Its SHA-256, lowercase hex (kept as object metadata).
    pub sha256: String,
}

/// What a conditional put did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PutOutcome {
    /// The object was written.
    Created,
    /// An object was already there under the key (left unchanged): its description.
    Existing(StoredObject),
}

/// Keeps media objects (S3 in production).
#[async_trait]
pub trait MediaStore: Send + Sync {
    /// The object under `key`, if any.
    async fn head(&self, key: &str) -> Result<Option<StoredObject>, PortError>;
    /// Writes the object unless one exists under `key` (then leaves it and describes it).
    async fn put_if_absent(
        &self,
        key: &str,
        object: &StoredObject,
        body: &[u8],
    ) -> Result<PutOutcome, PortError>;
}

/// How one fetch command ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FetchOutcome {
    /// Final: record it on the message (`media`) and delete the command.
    Recorded(MediaRecord),
    /// Transient failure: leave the command on the queue to be retried with backoff (then
    /// dead-lettered with the reason after the last attempt).
    Retry {
        /// What failed.
        reason: String,
    },
    /// Permanent failure not due to the media (invalid command, configuration, permission):
    /// dead-letter now with the reason.
    DeadLetter {
        /// What failed.
        reason: String,
    },
}

/// Fetches the object of `command` from `source` into `store`; `now_ms` is the time recorded.
pub async fn fetch_one(
    command: &MediaFetch,
    source: &dyn MediaSource,
    store: &dyn MediaStore,
    now_ms: i64,
) -> FetchOutcome {
    let record = |state: MediaState| {
        FetchOutcome::Recorded(MediaRecord {
            kind: command.kind,
            media_id: command.media_id.clone(),
            recorded_at_ms: now_ms,
            state,
        })
    };
    let stored = |key: &str, o: StoredObject| MediaState::Stored {
        s3_key: key.to_string(),
        content_type: o.content_type,
        bytes: o.bytes,
        sha256: o.sha256,
    };
    let store_failed = |e: PortError| {
        let reason = format!("{e}: {}", e.source);
        if e.is_retryable() {
            FetchOutcome::Retry { reason }
        } else {
            FetchOutcome::DeadLetter { reason }
        }
    };
    let key = match command.object_key() {
        Ok(k) => k,
        Err(e) => {
            return FetchOutcome::DeadLetter {
                reason: format!("invalid command: {e}"),
            };
        }
    };
    if command.media_id.is_empty() {
        return FetchOutcome::DeadLetter {
            reason: "invalid command: media id is empty".into(),
        };
    }
    match store.head(&key).await {
        Ok(Some(existing)) => return record(stored(&key, existing)),
        Ok(None) => {}
        Err(e) => return store_failed(e),
    }
    let limit = command.max_bytes();
    let request = DownloadRequest {
        channel: command.channel,
        account_id: command.account_id.clone(),
        media_id: command.media_id.clone(),
        max_bytes: limit,
    };
    let downloaded = match source.download(&request).await {
        Ok(d) => d,
        Err(SourceError::TooLarge { bytes }) => {
            return record(MediaState::TooLarge { bytes, limit });
        }
        Err(SourceError::NotFound { http_status }) => {
            return record(MediaState::Unavailable {
                platform_code: i64::from(http_status),
                message: "not found".into(),
            });
        }
        Err(SourceError::Platform { code, message }) => {
            return match classify_platform_error(command.channel, code) {
                ErrorClass::Unavailable => record(MediaState::Unavailable {
                    platform_code: code,
                    message,
                }),
                ErrorClass::Transient => FetchOutcome::Retry {
                    reason: format!("platform error {code}: {message}"),
                },
                ErrorClass::Permanent => FetchOutcome::DeadLetter {
                    reason: format!("platform error {code}: {message}"),
                },
            };
        }
        Err(SourceError::Transport { retry, reason }) => {
            return match retry {
                Retry::Transient => FetchOutcome::Retry { reason },
                Retry::Permanent => FetchOutcome::DeadLetter { reason },
            };
        }
    };
    let bytes = downloaded.body.len() as u64;
    if bytes > limit {
        // A source that ignored the cap: the object is still not kept.
        return record(MediaState::TooLarge { bytes, limit });
    }
    let object = StoredObject {
        content_type: downloaded.content_type,
        bytes,
        sha256: hex::encode(Sha256::digest(&downloaded.body)),
    };
    match store.put_if_absent(&key, &object, &downloaded.body).await {
        Ok(PutOutcome::Created) => record(stored(&key, object)),
        Ok(PutOutcome::Existing(existing)) => record(stored(&key, existing)),
        Err(e) => store_failed(e),
    }
}

/// What recording an outcome on the message item did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RecordOutcome {
    /// Written under the object's kind in the item's `media` map.
    Recorded,
    /// The message is not at the command's place: the router has not committed it yet, or the
    /// command came from a routing attempt that lost a conflict (another message, or none,
    /// holds that place). Retried, then dead-lettered with the reason: a command is never
    /// dropped on a guess, because an emulator or a read can show a transaction half-applied.
    NotStored,
}

/// Records fetch outcomes on message items (DynamoDB in production).
#[async_trait]
pub trait MediaRecords: Send + Sync {
    /// Writes `record` on the item of `command`'s message (`media.{kind}`), only if that item
    /// holds `command.message_id`. Writing the same record twice leaves one.
    async fn record(
        &self,
        command: &MediaFetch,
        record: &MediaRecord,
    ) -> Result<RecordOutcome, PortError>;
}

/// How handling one fetch command ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Handled {
    /// The outcome is on the message: delete the command.
    Recorded(MediaRecord),
    /// Try again later (with backoff; dead-lettered with the reason after the last attempt).
    Retry {
        /// What failed.
        reason: String,
    },
    /// Dead-letter now with the reason.
    DeadLetter {
        /// What failed.
        reason: String,
    },
}

/// Fetches the object of `command` ([`fetch_one`]) and records the outcome on its message.
pub async fn fetch_and_record(
    command: &MediaFetch,
    source: &dyn MediaSource,
    store: &dyn MediaStore,
    records: &dyn MediaRecords,
    now_ms: i64,
) -> Handled {
    let record = match fetch_one(command, source, store, now_ms).await {
        FetchOutcome::Recorded(r) => r,
        FetchOutcome::Retry { reason } => return Handled::Retry { reason },
        FetchOutcome::DeadLetter { reason } => return Handled::DeadLetter { reason },
    };
    match records.record(command, &record).await {
        Ok(RecordOutcome::Recorded) => Handled::Recorded(record),
        Ok(RecordOutcome::NotStored) => Handled::Retry {
            reason: "the message is not stored (yet) at its place in the thread".into(),
        },
        Err(e) if e.is_retryable() => Handled::Retry {
            reason: format!("{e}: {}", e.source),
        },
        Err(e) => Handled::DeadLetter {
            reason: format!("{e}: {}", e.source),
        },
    }
}
