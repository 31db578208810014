//! Media in the desk's thread: short-lived links to the stored objects.
//!
//! A message's `media` records ([`MediaRecord`], written by the router and the media-fetcher)
//! are shown with each thread item; a `stored` one also gets a presigned GET link of its object
//! through [`MediaLinks`] (S3 in production: `gateway_aws::S3MediaLinks`), valid for
//! `MEDIA_URL_TTL_SECS`. The desk API asks for links only after it has checked that the caller
//! sees the conversation, so a link is never handed to someone who cannot read the thread.
//!
//! Links are signed at the start of a window of half their lifetime ([`signing_start_ms`]):
//! every read of the thread within one window gets the same URL (the browser keeps the image
//! it already has instead of downloading it again at each refresh), and a link handed out is
//! valid for at least half its lifetime.

use crate::media::{MediaRecord, MediaState};
use crate::ports::PortError;
use async_trait::async_trait;
use std::time::Duration;

/// Default lifetime of a media link (`MEDIA_URL_TTL_SECS`).
pub const DEFAULT_LINK_TTL_SECS: u64 = 600;
/// The longest lifetime of a media link.
pub const MAX_LINK_TTL_SECS: u64 = 3600;

/// A link to one stored object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MediaLink {
    /// The URL (a presigned GET).
    pub url: String,
    /// When it stops working, Unix ms.
    pub expires_at_ms: i64,
}

/// What a link is asked for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LinkRequest {
    /// The object key.
    pub key: String,
    /// The `Content-Type` the object is served with ([`served_content_type`]).
    pub content_type: String,
    /// When the link's lifetime starts, Unix ms ([`signing_start_ms`]).
    pub start_ms: i64,
    /// Its lifetime.
    pub ttl: Duration,
}

/// Makes links to stored media objects.
#[async_trait]
pub trait MediaLinks: Send + Sync {
    /// A link that GETs `request.key`, answered with `request.content_type`, valid from
    /// `request.start_ms` for `request.ttl`.
    async fn link(&self, request: &LinkRequest) -> Result<MediaLink, PortError>;
}

/// The start of the signing window `now_ms` falls in: windows are half of `ttl` long (at least
/// a second), so a link signed there is valid for at least half of `ttl` after `now_ms`.
pub fn signing_start_ms(now_ms: i64, ttl: Duration) -> i64 {
    let step = i64::try_from(ttl.as_millis() / 2)
        .unwrap_or(i64::MAX)
        .max(1000);
    now_ms - now_ms.rem_euclid(step)
}

/// The `Content-Type` a stored object is served with: the platform's when it is an image
/// the browser shows inertly (JPEG, PNG, GIF, WebP, BMP), audio or video; anything else
/// (HTML, SVG, scripts: whatever a platform's answer claimed) as `application/octet-stream`,
/// a download. Parameters (`; charset=…`) are dropped.
pub fn served_content_type(content_type: &str) -> String {
    let essence = content_type
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase();
    let token = |s: &str| {
        !s.is_empty()
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'+'))
    };
    let safe = match essence.split_once('/') {
        Some(("image", sub)) => matches!(sub, "jpeg" | "jpg" | "png" | "gif" | "webp" | "bmp"),
        Some(("audio" | "video", sub)) => token(sub),
        _ => false,
    };
    if safe {
        essence
    } else {
        "application/octet-stream".to_string()
    }
}

/// One media record as the desk shows it, with its link when it is stored and one was made.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MediaView {
    /// The record.
    pub record: MediaRecord,
    /// The link of a stored object.
    pub link: Option<MediaLink>,
}

/// The records of a message in the order the desk shows them (the object, then its
/// thumbnail: image, voice, video, thumb).
pub fn ordered(records: &[MediaRecord]) -> Vec<&MediaRecord> {
    let mut out: Vec<&MediaRecord> = records.iter().collect();
    out.sort_by_key(|r| r.kind);
    out
}

/// The views of `records`, with a link for each stored one from `links` (none when `links`
/// is `None`: no bucket configured). A link that cannot be made is left out (logged), never
/// failing the thread.
pub async fn views(
    records: &[MediaRecord],
    links: Option<&dyn MediaLinks>,
    ttl: Duration,
    now_ms: i64,
) -> Vec<MediaView> {
    let mut out = Vec::with_capacity(records.len());
    for record in ordered(records) {
        let link = match (&record.state, links) {
            (
                MediaState::Stored {
                    s3_key,
                    content_type,
                    ..
                },
                Some(links),
            ) => {
                let request = LinkRequest {
                    key: s3_key.clone(),
                    content_type: served_content_type(content_type),
                    start_ms: signing_start_ms(now_ms, ttl),
                    ttl,
                };
                match links.link(&request).await {
                    Ok(link) => Some(link),
                    Err(e) => {
                        tracing::warn!(error = %e, source = %e.source, kind = %record.kind, "no link for a stored media object");
                        None
                    }
                }
            }
            _ => None,
        };
        out.push(MediaView {
            record: record.clone(),
            link,
        });
    }
    out
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::desk::testing::FakeLinks;
    use crate::media::MediaKind;

    fn record(kind: MediaKind, state: MediaState) -> MediaRecord {
        MediaRecord {
            kind,
            media_id: format!("{kind}-id"),
            recorded_at_ms: 1,
            state,
        }
    }

    fn stored(key: &str, content_type: &str) -> MediaState {
        MediaState::Stored {
            s3_key: key.into(),
            content_type: content_type.into(),
            bytes: 3,
            sha256: "ab".repeat(32),
        }
    }

    #[test]
    fn links_are_signed_at_the_start_of_half_ttl_windows() {
        let ttl = Duration::from_secs(600);
        assert_eq!(signing_start_ms(1_000_300_000, ttl), 1_000_200_000);
        assert_eq!(signing_start_ms(1_000_200_000, ttl), 1_000_200_000);
        assert_eq!(signing_start_ms(1_000_499_999, ttl), 1_000_200_000);
        assert_eq!(signing_start_ms(1_000_500_000, ttl), 1_000_500_000);
        // Always at least half the lifetime left.
        for now in (1_000_000_000..1_000_700_000).step_by(7_919) {
            let start = signing_start_ms(now, ttl);
            assert!(start <= now && start + 600_000 - now >= 300_000, "{now}");
        }
        // A lifetime under two seconds still moves in whole seconds.
        assert_eq!(signing_start_ms(1_234, Duration::from_secs(1)), 1_000);
    }

    #[test]
    fn only_inert_images_audio_and_video_keep_their_type() {
        for (given, served) in [
            ("image/jpeg", "image/jpeg"),
            ("IMAGE/PNG; charset=binary", "image/png"),
            ("image/gif", "image/gif"),
            ("audio/amr", "audio/amr"),
            ("audio/mpeg", "audio/mpeg"),
            ("video/mp4", "video/mp4"),
            ("image/svg+xml", "application/octet-stream"),
            ("text/html", "application/octet-stream"),
            ("application/javascript", "application/octet-stream"),
            ("audio/", "application/octet-stream"),
            ("video/mp4\r\nX-Evil: 1", "application/octet-stream"),
            ("", "application/octet-stream"),
        ] {
            assert_eq!(served_content_type(given), served, "{given:?}");
        }
    }

    #[tokio::test]
    async fn stored_records_get_a_link_in_kind_order_others_none() {
        let links = FakeLinks::default();
        let records = [
            record(MediaKind::Thumb, stored("media/t", "image/jpeg")),
            record(MediaKind::Video, stored("media/v", "text/html")),
            record(MediaKind::Image, MediaState::Pending),
        ];
        let views = views(
            &records,
            Some(&links),
            Duration::from_secs(600),
            1_000_300_000,
        )
        .await;
        let kinds: Vec<MediaKind> = views.iter().map(|v| v.record.kind).collect();
        assert_eq!(
            kinds,
            [MediaKind::Image, MediaKind::Video, MediaKind::Thumb]
        );
        assert_eq!(views[0].link, None);
        let video = views[1].link.as_ref().unwrap();
        assert_eq!(video.expires_at_ms, 1_000_200_000 + 600_000);
        assert!(video.url.contains("media/v"), "{}", video.url);
        assert!(
            video.url.contains("type=application/octet-stream"),
            "{}",
            video.url
        );
        assert_eq!(links.requests().len(), 2);
        // No bucket: no link, the records all the same.
        let views = super::views(&records, None, Duration::from_secs(600), 0).await;
        assert!(views.iter().all(|v| v.link.is_none()));
        assert_eq!(views.len(), 3);
    }

    #[tokio::test]
    async fn a_link_that_cannot_be_made_leaves_the_record_without_one() {
        let links = FakeLinks::failing();
        let records = [record(MediaKind::Image, stored("media/i", "image/png"))];
        let views = views(&records, Some(&links), Duration::from_secs(60), 0).await;
        assert_eq!(views.len(), 1);
        assert_eq!(views[0].link, None);
    }
}
