//! The object key scheme: `media/{channel}/{account}/{conversation}/{message_id}/{kind}`.
//!
//! Account, conversation and message ids come from configuration and the platforms; each is
//! percent-encoded as one segment, keeping only ASCII letters, digits, `-` and `_`: a `/`
//! cannot add a segment, a `.` is `%2E` so no segment is `.` or `..`, and unicode, spaces and
//! control characters are UTF-8 percent-encoded. Empty ids and ids whose encoding exceeds
//! [`MAX_SEGMENT_BYTES`] are refused, which keeps every key well under S3's 1,024 bytes.

use super::MediaKind;
use crate::message::Channel;
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};

/// Prefix of every media object key.
pub const PREFIX: &str = "media";

/// The longest encoded segment accepted (4 × 200 + the fixed parts < 1,024).
pub const MAX_SEGMENT_BYTES: usize = 200;

/// Kept as is: ASCII letters, digits, `-`, `_`. Everything else, `.` included, is encoded.
const SEGMENT: &AsciiSet = &NON_ALPHANUMERIC.remove(b'-').remove(b'_');

/// An id that cannot be a key segment.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    /// The id is empty.
    #[error("{0} is empty")]
    Empty(&'static str),
    /// The id's encoding is longer than [`MAX_SEGMENT_BYTES`].
    #[error("{0} is too long for an object key ({1} bytes encoded)")]
    TooLong(&'static str, usize),
}

/// One id as a key segment: percent-encoded, never empty, `.`, `..` nor containing `/`.
pub fn segment(name: &'static str, id: &str) -> Result<String, KeyError> {
    if id.is_empty() {
        return Err(KeyError::Empty(name));
    }
    let encoded = utf8_percent_encode(id, SEGMENT).to_string();
    if encoded.len() > MAX_SEGMENT_BYTES {
        return Err(KeyError::TooLong(name, encoded.len()));
    }
    Ok(encoded)
}

/// The prefix under which every media object of one conversation is kept,
/// `media/{channel}/{account}/{conversation}/` (with the trailing `/`, so that listing it never
/// reaches another conversation whose key starts the same): what a customer's data export
/// reads and an erasure deletes.
pub fn conversation_prefix(
    channel: Channel,
    account_id: &str,
    conversation_key: &str,
) -> Result<String, KeyError> {
    Ok(format!(
        "{PREFIX}/{}/{}/{}/",
        channel.as_str(),
        segment("account", account_id)?,
        segment("conversation", conversation_key)?,
    ))
}

/// The object key of one media object of one message.
pub fn object_key(
    channel: Channel,
    account_id: &str,
    conversation_key: &str,
    message_id: &str,
    kind: MediaKind,
) -> Result<String, KeyError> {
    Ok(format!(
        "{PREFIX}/{}/{}/{}/{}/{}",
        channel.as_str(),
        segment("account", account_id)?,
        segment("conversation", conversation_key)?,
        segment("message id", message_id)?,
        kind.as_str(),
    ))
}
