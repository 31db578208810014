//! Reply content: what the gateway sends back to a customer.
//!
//! One type for every producer of replies: the auto-reply rules ([`crate::rules`]) today, the
//! outbound path (reply commands, agent replies) later. It is channel-neutral; which types a
//! channel can deliver is answered by [`ReplyContent::supported_on`].
//!
//! Serialized with an internal `type` tag, the same in YAML rules and in JSON commands:
//!
//! ```yaml
//! type: text
//! text: "您好，我们已收到您的消息"
//! ```
//!
//! Unknown fields are rejected (`deny_unknown_fields`) so that a typo in an ops-written rule
//! (`txt:` for `text:`) fails validation instead of sending an empty reply. For the wire this
//! means a new optional field must be deployed to consumers before producers write it.
//!
//! A `public_comment` is answered in public under a Weibo post (`comments/reply` or
//! `comments/create`), not as a private message: see [`public`].
//!
//! A `template` is a WeChat template message ([`template`]): a follow-up outside the
//! customer-service window.
//!
//! Deserializing does not check the values (an empty text is well-formed); call
//! [`ReplyContent::validate`] before accepting content from people or other systems.

use crate::message::Channel;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use template::{MiniProgram, TemplateField};

/// Most articles one reply may carry (WeChat's historical limit for news messages).
pub const MAX_ARTICLES: usize = 8;

/// Weibo text replies must have fewer characters than this.
pub const WEIBO_MAX_TEXT_CHARS: usize = 300;

/// The longest WeChat text reply the gateway queues, in UTF-8 bytes.
pub const WECHAT_MAX_TEXT_BYTES: usize = 2048;

/// What a text length is counted in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum TextUnit {
    /// UTF-8 bytes (a Chinese character is 3).
    Bytes,
    /// Unicode characters (scalar values).
    Chars,
}

/// The longest text reply a channel takes: `max` in `unit`, inclusive.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct TextLimit {
    /// The longest text accepted.
    pub max: usize,
    /// What `max` counts.
    pub unit: TextUnit,
}

impl TextLimit {
    /// The length of `text` in this limit's unit.
    pub fn measure(&self, text: &str) -> usize {
        match self.unit {
            TextUnit::Bytes => text.len(),
            TextUnit::Chars => text.chars().count(),
        }
    }
}

/// The text limit [`ReplyContent::check_length`] enforces on `channel`: WeChat
/// [`WECHAT_MAX_TEXT_BYTES`] UTF-8 bytes, Weibo fewer than [`WEIBO_MAX_TEXT_CHARS`] characters
/// (299 at most).
pub fn text_limit(channel: Channel) -> TextLimit {
    match channel {
        Channel::WeChat => TextLimit {
            max: WECHAT_MAX_TEXT_BYTES,
            unit: TextUnit::Bytes,
        },
        Channel::Weibo => TextLimit {
            max: WEIBO_MAX_TEXT_CHARS - 1,
            unit: TextUnit::Chars,
        },
    }
}

/// One reply to a customer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum ReplyContent {
    /// Plain text. WeChat and Weibo.
    Text {
        /// The text; must not be blank.
        text: String,
    },
    /// An image: uploaded to the platform already (`media_id`), or an agent's file kept by the
    /// gateway (`upload`, the `upload_key` of `POST /media`), which the reply sender uploads
    /// when it sends the reply (WeChat keeps a media id 3 days; `docs/media.md`). WeChat.
    Image {
        /// Platform media id of the image (empty when `upload` names the file).
        #[serde(default, skip_serializing_if = "String::is_empty")]
        media_id: String,
        /// The gateway's copy of the file: `uploads/wechat/{account}/{sha256}`.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        upload: Option<String>,
    },
    /// A voice clip, by `media_id` or `upload` as an image. WeChat.
    Voice {
        /// Platform media id of the clip (empty when `upload` names the file).
        #[serde(default, skip_serializing_if = "String::is_empty")]
        media_id: String,
        /// The gateway's copy of the file.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        upload: Option<String>,
    },
    /// A video, by `media_id` or `upload` as an image. WeChat.
    Video {
        /// Platform media id of the video (empty when `upload` names the file).
        #[serde(default, skip_serializing_if = "String::is_empty")]
        media_id: String,
        /// The gateway's copy of the file.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        upload: Option<String>,
        /// Media id of a thumbnail image.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        thumb_media_id: Option<String>,
        /// Title shown with the video.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        title: Option<String>,
        /// Description shown with the video.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        description: Option<String>,
    },
    /// A music card. WeChat.
    Music {
        /// Title of the track.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        title: Option<String>,
        /// Description of the track.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        description: Option<String>,
        /// Link to the audio.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        music_url: Option<String>,
        /// Link to a high-quality version of the audio (played on Wi-Fi).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        hq_music_url: Option<String>,
        /// Media id of the cover image (required by WeChat).
        thumb_media_id: String,
    },
    /// One or more link cards (WeChat "news", Weibo "articles").
    Articles {
        /// The cards, 1 to [`MAX_ARTICLES`].
        articles: Vec<Article>,
    },
    /// A map position. Weibo.
    Position {
        /// Latitude in degrees, -90 to 90.
        latitude: f64,
        /// Longitude in degrees, -180 to 180.
        longitude: f64,
    },
    /// A public comment under a Weibo post, visible to everyone: a reply to the comment
    /// `comment_id` when set (`comments/reply`), else a comment on the post (`comments/create`).
    /// Not bound by the private reply window. Weibo.
    PublicComment {
        /// The comment; not blank, at most [`public::MAX_CHARS`] characters.
        text: String,
        /// The post (Weibo status id, digits). Required in a command; a rule leaves it out and
        /// the router fills it from the message that triggered the rule.
        #[serde(default, skip_serializing_if = "String::is_empty")]
        post_id: String,
        /// The comment answered (digits), if any.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        comment_id: Option<String>,
    },
    /// A WeChat template message (`message/template/send`): sent to a follower without a
    /// customer-service window, within the account's template quota. WeChat.
    Template {
        /// The template's id in the account's template library.
        template_id: String,
        /// The template's keywords (`first`, `keyword1`, …), 1 to [`template::MAX_FIELDS`].
        data: BTreeMap<String, TemplateField>,
        /// Where the message links to.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        url: Option<String>,
        /// The mini-program page it opens (preferred over `url` by WeChat).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        miniprogram: Option<MiniProgram>,
    },
}

/// One link card of an [`ReplyContent::Articles`] reply.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Article {
    /// Card title; must not be blank.
    pub title: String,
    /// Short description under the title.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Where the card links to: an `http://` or `https://` URL.
    pub url: String,
    /// Cover picture: an `http://` or `https://` URL.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pic_url: Option<String>,
}

impl ReplyContent {
    /// The `type` tag value (`text`, `image`, …).
    pub fn kind(&self) -> &'static str {
        match self {
            ReplyContent::Text { .. } => "text",
            ReplyContent::Image { .. } => "image",
            ReplyContent::Voice { .. } => "voice",
            ReplyContent::Video { .. } => "video",
            ReplyContent::Music { .. } => "music",
            ReplyContent::Articles { .. } => "articles",
            ReplyContent::Position { .. } => "position",
            ReplyContent::PublicComment { .. } => "public_comment",
            ReplyContent::Template { .. } => "template",
        }
    }

    /// True for a reply everyone can read (a [`ReplyContent::PublicComment`]).
    pub fn is_public(&self) -> bool {
        matches!(self, ReplyContent::PublicComment { .. })
    }

    /// True for a WeChat template message ([`ReplyContent::Template`]).
    pub fn is_template(&self) -> bool {
        matches!(self, ReplyContent::Template { .. })
    }

    /// True when the customer-service reply window does not apply: a public comment (it goes
    /// under a post) and a template message (its own channel, bound by the follower's
    /// subscription and the template quota instead).
    pub fn bypasses_window(&self) -> bool {
        self.is_public() || self.is_template()
    }

    /// Convenience constructor for a text reply.
    pub fn text(text: impl Into<String>) -> Self {
        ReplyContent::Text { text: text.into() }
    }

    /// True when `channel` can deliver this type of reply: WeChat takes text, image, voice,
    /// video, music, articles and template messages; Weibo takes text, articles, position and
    /// public comments.
    pub fn supported_on(&self, channel: Channel) -> bool {
        match channel {
            Channel::WeChat => !matches!(
                self,
                ReplyContent::Position { .. } | ReplyContent::PublicComment { .. }
            ),
            Channel::Weibo => matches!(
                self,
                ReplyContent::Text { .. }
                    | ReplyContent::Articles { .. }
                    | ReplyContent::Position { .. }
                    | ReplyContent::PublicComment { .. }
            ),
        }
    }

    /// Checks `channel`'s length limit on text replies ([`text_limit`]): Weibo's reply API
    /// takes fewer than [`WEIBO_MAX_TEXT_CHARS`] characters ("文本大小必须小于300个汉字",
    /// fan-service reply API); WeChat's customer-service API refuses oversized content (error
    /// 45002) without a published figure, so the gateway holds WeChat text to
    /// [`WECHAT_MAX_TEXT_BYTES`] UTF-8 bytes. Checked before a reply is queued so the sender
    /// never learns it too late.
    pub fn check_length(&self, channel: Channel) -> Result<(), String> {
        if let ReplyContent::PublicComment { text, .. } = self {
            return public::check_text_length(text);
        }
        let ReplyContent::Text { text } = self else {
            return Ok(());
        };
        let limit = text_limit(channel);
        let length = limit.measure(text);
        if length <= limit.max {
            return Ok(());
        }
        Err(match limit.unit {
            TextUnit::Bytes => format!(
                "`text` is {length} bytes; {channel} text replies are limited to {} UTF-8 bytes",
                limit.max
            ),
            TextUnit::Chars => format!(
                "`text` is {length} characters; {channel} text replies are limited to {} characters",
                limit.max
            ),
        })
    }

    /// Checks the values: no blank text, title or media id, 1 to [`MAX_ARTICLES`] articles,
    /// http(s) URLs, coordinates in range; a public comment's text within
    /// [`public::MAX_CHARS`] characters and its ids ([`public::validate`]). The error is a plain
    /// sentence for people.
    pub fn validate(&self) -> Result<(), String> {
        match self {
            ReplyContent::Text { text } => not_blank("text", text),
            ReplyContent::PublicComment {
                text,
                post_id,
                comment_id,
            } => public::validate(text, post_id, comment_id.as_deref()),
            ReplyContent::Template {
                template_id,
                data,
                url,
                miniprogram,
            } => template::validate(template_id, data, url.as_deref(), miniprogram.as_ref()),
            ReplyContent::Image { media_id, upload } | ReplyContent::Voice { media_id, upload } => {
                media_or_upload(media_id, upload.as_deref())
            }
            ReplyContent::Video {
                media_id,
                upload,
                thumb_media_id,
                ..
            } => {
                media_or_upload(media_id, upload.as_deref())?;
                optional_not_blank("thumb_media_id", thumb_media_id.as_deref())
            }
            ReplyContent::Music {
                music_url,
                hq_music_url,
                thumb_media_id,
                ..
            } => {
                not_blank("thumb_media_id", thumb_media_id)?;
                if let Some(url) = music_url {
                    http_url("music_url", url)?;
                }
                if let Some(url) = hq_music_url {
                    http_url("hq_music_url", url)?;
                }
                Ok(())
            }
            ReplyContent::Articles { articles } => {
                if articles.is_empty() {
                    return Err("`articles` is empty: give at least one article".into());
                }
                if articles.len() > MAX_ARTICLES {
                    return Err(format!(
                        "{} articles is too many: at most {MAX_ARTICLES}",
                        articles.len()
                    ));
                }
                for (i, a) in articles.iter().enumerate() {
                    a.validate()
                        .map_err(|e| format!("article {} of {}: {e}", i + 1, articles.len()))?;
                }
                Ok(())
            }
            ReplyContent::Position {
                latitude,
                longitude,
            } => {
                if !latitude.is_finite() || !(-90.0..=90.0).contains(latitude) {
                    return Err(format!("latitude {latitude} is not between -90 and 90"));
                }
                if !longitude.is_finite() || !(-180.0..=180.0).contains(longitude) {
                    return Err(format!("longitude {longitude} is not between -180 and 180"));
                }
                Ok(())
            }
        }
    }

    /// True for a media reply naming an agent's file (`upload`) rather than a media id.
    pub fn names_upload(&self) -> bool {
        matches!(
            self,
            ReplyContent::Image {
                upload: Some(_),
                ..
            } | ReplyContent::Voice {
                upload: Some(_),
                ..
            } | ReplyContent::Video {
                upload: Some(_),
                ..
            }
        )
    }

    /// A one-line human summary (`text "您好…"`, `image media_id=abc`), at most about 60
    /// characters of content, for logs and `explain` output.
    pub fn summary(&self) -> String {
        match self {
            ReplyContent::Text { text } => format!("text {}", quote_short(text, 60)),
            ReplyContent::Image { media_id, upload } => media_summary("image", media_id, upload),
            ReplyContent::Voice { media_id, upload } => media_summary("voice", media_id, upload),
            ReplyContent::Video {
                media_id, upload, ..
            } => media_summary("video", media_id, upload),
            ReplyContent::Music { title, .. } => match title {
                Some(t) => format!("music {}", quote_short(t, 60)),
                None => "music".into(),
            },
            ReplyContent::Articles { articles } => match articles.first() {
                Some(first) if articles.len() == 1 => {
                    format!("article {}", quote_short(&first.title, 60))
                }
                Some(first) => format!(
                    "{} articles, first {}",
                    articles.len(),
                    quote_short(&first.title, 50)
                ),
                None => "articles (none)".into(),
            },
            ReplyContent::Position {
                latitude,
                longitude,
            } => format!("position {latitude},{longitude}"),
            ReplyContent::PublicComment {
                text, comment_id, ..
            } => match comment_id {
                Some(_) => format!("public reply {}", quote_short(text, 60)),
                None => format!("public comment {}", quote_short(text, 60)),
            },
            ReplyContent::Template {
                template_id, data, ..
            } => template::summary(template_id, data),
        }
    }
}

impl Article {
    /// Checks the title and URLs (see [`ReplyContent::validate`]).
    pub fn validate(&self) -> Result<(), String> {
        not_blank("title", &self.title)?;
        http_url("url", &self.url)?;
        if let Some(pic) = &self.pic_url {
            http_url("pic_url", pic)?;
        }
        Ok(())
    }
}

pub(crate) fn not_blank(field: &str, value: &str) -> Result<(), String> {
    if value.trim().is_empty() {
        Err(format!("`{field}` is empty"))
    } else {
        Ok(())
    }
}

fn optional_not_blank(field: &str, value: Option<&str>) -> Result<(), String> {
    value.map_or(Ok(()), |v| not_blank(field, v))
}

fn http_url(field: &str, value: &str) -> Result<(), String> {
    let v = value.trim();
    let rest = v
        .strip_prefix("https://")
        .or_else(|| v.strip_prefix("http://"));
    match rest {
        Some(host) if !host.is_empty() && !v.contains(char::is_whitespace) => Ok(()),
        // The submitted value is not echoed: it may carry a token or personal data.
        _ => Err(format!("`{field}` must be an http:// or https:// URL")),
    }
}

/// The first `max` characters of `s`, with `…` when cut.
pub(crate) fn short(s: &str, max: usize) -> String {
    match s.char_indices().nth(max) {
        Some((i, _)) => format!("{}…", &s[..i]),
        None => s.to_string(),
    }
}

/// `s` shortened to `max` characters, quoted and with control characters escaped.
pub(crate) fn quote_short(s: &str, max: usize) -> String {
    format!("{:?}", short(s, max))
}

/// `media_id` or `upload`, exactly one: a non-blank media id, or an upload key
/// `uploads/wechat/{account}/{sha256}` (64 lowercase hex digits).
fn media_or_upload(media_id: &str, upload: Option<&str>) -> Result<(), String> {
    match upload {
        None => not_blank("media_id", media_id),
        Some(_) if !media_id.is_empty() => Err("give `media_id` or `upload`, not both".into()),
        Some(key) => {
            let parts: Vec<&str> = key.split('/').collect();
            let well_formed = matches!(
                parts.as_slice(),
                ["uploads", "wechat", account, sha256]
                    if !account.is_empty()
                        && sha256.len() == 64
                        && sha256.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
            );
            if well_formed {
                Ok(())
            } else {
                Err(format!(
                    "`upload` `{}` is not an upload key (uploads/wechat/{{account}}/{{sha256}}, as `POST /media` answers)",
                    short(key, 80)
                ))
            }
        }
    }
}

fn media_summary(kind: &str, media_id: &str, upload: &Option<String>) -> String {
    match upload {
        Some(key) => format!("{kind} upload={}", short(key, 40)),
        None => format!("{kind} media_id={}", short(media_id, 40)),
    }
}

pub mod public;
pub mod template;

#[cfg(test)]
mod tests;
