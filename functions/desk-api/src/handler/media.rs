//! Media: the links of a thread's stored media objects.

use gateway_core::desk::media::{DEFAULT_LINK_TTL_SECS, MediaLinks, MediaView, views};
use gateway_core::media::MediaRecord;
use std::sync::Arc;
use std::time::Duration;

/// The desk's media settings: where links come from and how long they last.
#[derive(Clone)]
pub struct MediaSettings {
    /// Presigned links of stored objects; `None` when no bucket is configured (records are
    /// shown without links).
    pub links: Option<Arc<dyn MediaLinks>>,
    /// How long a link works (`MEDIA_URL_TTL_SECS`).
    pub link_ttl: Duration,
}

impl Default for MediaSettings {
    fn default() -> Self {
        MediaSettings {
            links: None,
            link_ttl: Duration::from_secs(DEFAULT_LINK_TTL_SECS),
        }
    }
}

impl MediaSettings {
    /// The views of a message's records, with links for the stored ones.
    pub(crate) async fn views(&self, records: &[MediaRecord], now_ms: i64) -> Vec<MediaView> {
        if records.is_empty() {
            return Vec::new();
        }
        views(records, self.links.as_deref(), self.link_ttl, now_ms).await
    }
}
