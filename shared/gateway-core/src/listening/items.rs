//! Timeline pages into normalized messages.
//!
//! A page is Weibo's answer object: `{"comments": [...]}` for the comment timelines,
//! `{"statuses": [...]}` for `statuses/mentions`, newest first. A comment object carries
//! `idstr`, `text`, `created_at` (`Wed Jun 01 00:50:25 +0800 2011`), `user{idstr,screen_name}`,
//! `status` (the post it is under, with its `user`) and, for a reply within the thread,
//! `reply_comment`; a status object carries `idstr`, `text`, `created_at` and `user`
//! (<https://open.weibo.com/wiki/2/comments/to_me>, <https://open.weibo.com/wiki/2/statuses/mentions>).
//!
//! Every item becomes a message of the writer's conversation (`weibo:{account}:{uid}`, the
//! one their private messages join), with the dedupe key a push of the same item gets
//! (`mention:status:{id}`, `mention:comment:{id}`), so that a pushed and a polled copy, or one
//! comment read from two timelines, are stored once. Pure.

use crate::account::Timeline;
use crate::channel::weibo::parse_created_at;
use crate::message::{
    Channel, Content, NormalizedMessage, PostRef, RawFormat, RawPayload, SCHEMA_VERSION,
};
use serde_json::{Map, Value};

/// The largest raw item kept whole; a larger one keeps only the fields the gateway reads (an
/// inbound queue message holds at most 256 KiB).
pub const MAX_RAW_ITEM_BYTES: usize = 64 * 1024;

/// A page as read: its items and the range of their ids.
#[derive(Debug, Clone, PartialEq)]
pub struct Page {
    /// The items, newest first, as sent.
    pub items: Vec<Value>,
    /// The smallest readable id on the page.
    pub min_id: Option<u64>,
    /// The largest readable id on the page.
    pub max_id: Option<u64>,
}

impl Page {
    /// Reads the answer of `timeline`: the `comments` or `statuses` list.
    pub fn read(timeline: Timeline, answer: &Value) -> Result<Page, String> {
        let key = if timeline.holds_comments() {
            "comments"
        } else {
            "statuses"
        };
        let Some(list) = answer.get(key).and_then(Value::as_array) else {
            return Err(format!("the {timeline} answer holds no `{key}` list"));
        };
        let ids = list.iter().filter_map(item_id);
        let (min_id, max_id) =
            ids.fold((None, None), |(lo, hi): (Option<u64>, Option<u64>), id| {
                (
                    Some(lo.map_or(id, |l| l.min(id))),
                    Some(hi.map_or(id, |h| h.max(id))),
                )
            });
        Ok(Page {
            items: list.clone(),
            min_id,
            max_id,
        })
    }
}

/// An item's id: `idstr` (a decimal string), else `id` (a number or a decimal string).
pub fn item_id(item: &Value) -> Option<u64> {
    id_of(item.get("idstr")).or_else(|| id_of(item.get("id")))
}

fn id_of(value: Option<&Value>) -> Option<u64> {
    match value? {
        Value::String(s) => {
            let s = s.trim();
            if s.is_empty() || s.len() > 20 || !s.bytes().all(|b| b.is_ascii_digit()) {
                return None;
            }
            s.parse().ok()
        }
        Value::Number(n) => n.as_u64(),
        _ => None,
    }
}

/// The uid of an object's `user`.
fn user_id(object: &Value) -> Option<u64> {
    object.get("user").and_then(item_id)
}

fn text_of(object: &Value) -> String {
    object
        .get("text")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string()
}

/// What the account and poll say about the items read.
#[derive(Debug, Clone)]
pub struct Context<'a> {
    /// The gateway's account name.
    pub account_id: &'a str,
    /// The account's UID (its own items are skipped).
    pub receiver_uid: u64,
    /// The account's screen name, when configured: a comment on its posts that @s it is a
    /// mention.
    pub screen_name: Option<&'a str>,
    /// The timeline read.
    pub timeline: Timeline,
    /// When the page was read, Unix milliseconds.
    pub received_at_ms: i64,
}

/// One item of a page, read.
#[derive(Debug, Clone, PartialEq)]
pub enum Item {
    /// A message for the inbound queue.
    Message(Box<NormalizedMessage>),
    /// Written by the account itself (its own replies and posts): not a customer's.
    Own,
    /// Missing what a message needs (an id, its writer): skipped, said in the log.
    Unreadable {
        /// The item's id, when it has one.
        id: Option<u64>,
        /// What is missing.
        reason: &'static str,
    },
}

/// Reads one item of `ctx.timeline`.
pub fn normalize(ctx: &Context<'_>, item: &Value) -> Item {
    let Some(id) = item_id(item) else {
        return Item::Unreadable {
            id: None,
            reason: "no id",
        };
    };
    let Some(writer) = user_id(item) else {
        return Item::Unreadable {
            id: Some(id),
            reason: "no user",
        };
    };
    if writer == ctx.receiver_uid {
        return Item::Own;
    }
    let text = text_of(item);
    let content = match ctx.timeline {
        Timeline::StatusesMentions => Content::Mention {
            subtype: "status".into(),
            target_id: Some(id.to_string()),
            post: Some(PostRef::new(
                id.to_string(),
                &text,
                Some(writer.to_string()),
            )),
            text,
        },
        Timeline::CommentsMentions => Content::Mention {
            subtype: "comment".into(),
            target_id: Some(id.to_string()),
            post: post_of(item),
            text,
        },
        Timeline::CommentsToMe => match post_of(item) {
            Some(post) if !mentions(&text, ctx.screen_name) => Content::Comment {
                comment_id: id.to_string(),
                text,
                post,
                reply_to_comment_id: item
                    .get("reply_comment")
                    .and_then(item_id)
                    .map(|r| r.to_string()),
            },
            // A comment that @s the account (or, never seen, one without its post) is a
            // mention of it, as `comments/mentions` would give it.
            post => Content::Mention {
                subtype: "comment".into(),
                target_id: Some(id.to_string()),
                post,
                text,
            },
        },
    };
    let subtype = if ctx.timeline.holds_comments() {
        "comment"
    } else {
        "status"
    };
    let sender = writer.to_string();
    let platform_time = item
        .get("created_at")
        .and_then(Value::as_str)
        .and_then(parse_created_at)
        .unwrap_or(ctx.received_at_ms / 1000);
    Item::Message(Box::new(NormalizedMessage {
        schema_version: SCHEMA_VERSION,
        channel: Channel::Weibo,
        account_id: ctx.account_id.to_string(),
        conversation_key: NormalizedMessage::conversation_key_for(
            Channel::Weibo,
            ctx.account_id,
            &sender,
        ),
        sender_id: sender,
        recipient_id: ctx.receiver_uid.to_string(),
        platform_message_id: Some(id.to_string()),
        // The push's key for the same item (channel/weibo/parse.rs `dedupe_key`).
        dedupe_key: format!("mention:{subtype}:{id}"),
        content,
        platform_time,
        received_at_ms: ctx.received_at_ms,
        raw: RawPayload {
            format: RawFormat::Json,
            body: raw_body(item),
        },
    }))
}

/// The post a comment is under, from its `status`.
fn post_of(comment: &Value) -> Option<PostRef> {
    let status = comment.get("status")?;
    let id = item_id(status)?;
    Some(PostRef::new(
        id.to_string(),
        &text_of(status),
        user_id(status).map(|u| u.to_string()),
    ))
}

/// True when `text` @s `screen_name` (the name followed by anything but a nickname
/// character).
fn mentions(text: &str, screen_name: Option<&str>) -> bool {
    let Some(name) = screen_name.map(str::trim).filter(|n| !n.is_empty()) else {
        return false;
    };
    let needle = format!("@{name}");
    text.match_indices(&needle).any(|(i, _)| {
        text[i + needle.len()..]
            .chars()
            .next()
            .is_none_or(|c| !(c.is_alphanumeric() || c == '_' || c == '-'))
    })
}

/// The item as JSON; past [`MAX_RAW_ITEM_BYTES`], only the fields read here.
fn raw_body(item: &Value) -> String {
    let whole = item.to_string();
    if whole.len() <= MAX_RAW_ITEM_BYTES {
        return whole;
    }
    let pick = |object: &Value, keys: &[&str]| -> Value {
        let mut out = Map::new();
        for k in keys {
            if let Some(v) = object.get(*k) {
                out.insert((*k).to_string(), v.clone());
            }
        }
        Value::Object(out)
    };
    let user = |object: &Value| {
        object
            .get("user")
            .map(|u| pick(u, &["idstr", "id", "screen_name"]))
    };
    let mut out = pick(item, &["idstr", "id", "text", "created_at"]);
    if let Some(u) = user(item) {
        out["user"] = u;
    }
    if let Some(status) = item.get("status") {
        let mut s = pick(status, &["idstr", "id", "text", "created_at"]);
        if let Some(u) = user(status) {
            s["user"] = u;
        }
        out["status"] = s;
    }
    if let Some(r) = item.get("reply_comment") {
        out["reply_comment"] = pick(r, &["idstr", "id"]);
    }
    out["truncated"] = Value::Bool(true);
    let reduced = out.to_string();
    if reduced.len() <= MAX_RAW_ITEM_BYTES {
        reduced
    } else {
        // Only a text of tens of kilobytes gets here: keep the ids.
        let mut ids = pick(item, &["idstr", "id"]);
        ids["truncated"] = Value::Bool(true);
        ids.to_string()
    }
}
