//! Weibo push bodies: JSON (and WeChat-compatible XML fields) into one canonical [`Push`],
//! then into normalized [`Content`] and a dedupe key.
//!
//! Pure: no I/O, no clock. Signature checks live in the parent module; this module only
//! reads bodies that were already authenticated.

use crate::channel::WebhookError;
use crate::message::{Content, RawFormat, event};
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;

/// Deepest JSON nesting accepted. Real pushes are two levels deep (envelope and `data`);
/// the cap is checked by a linear pre-scan before serde_json builds anything.
pub(super) const MAX_JSON_DEPTH: usize = 32;

/// `created_at` format: `Mon Jul 16 18:09:20 +0800 2012`.
const CREATED_AT_FORMAT: &str = "%a %b %d %H:%M:%S %z %Y";

/// One optional scalar field of a push (`data.key`, `data.tovfid`, …), kept in a canonical
/// string form whatever JSON type it arrived as.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(super) enum Field {
    /// Absent, `null` or the empty string.
    #[default]
    Absent,
    /// A string, or a JSON number written in decimal (integers exactly, never via `f64`).
    Scalar(String),
    /// A boolean, array or object: compact JSON, kept only so the dedupe key still sees it.
    Invalid(String),
}

impl Field {
    fn from_json(value: Option<&Value>) -> Self {
        match value {
            None | Some(Value::Null) => Field::Absent,
            Some(Value::String(s)) if s.is_empty() => Field::Absent,
            Some(Value::String(s)) => Field::Scalar(s.clone()),
            // serde_json keeps integers as u64/i64 and prints them exactly.
            Some(Value::Number(n)) => Field::Scalar(n.to_string()),
            Some(other) => Field::Invalid(other.to_string()),
        }
    }

    fn from_text(value: Option<String>) -> Self {
        match value {
            Some(s) if !s.is_empty() => Field::Scalar(s),
            _ => Field::Absent,
        }
    }

    /// The value when it is a scalar; `MissingField(name)` when it has a non-scalar type.
    fn scalar(&self, name: &'static str) -> Result<Option<&str>, WebhookError> {
        match self {
            Field::Absent => Ok(None),
            Field::Scalar(s) => Ok(Some(s)),
            Field::Invalid(_) => Err(WebhookError::MissingField(name)),
        }
    }

    /// The canonical form hashed into the dedupe key (`""` when absent).
    fn canonical(&self) -> &str {
        match self {
            Field::Absent => "",
            Field::Scalar(s) | Field::Invalid(s) => s,
        }
    }
}

/// A push reduced to the fields the gateway uses, identical for JSON and XML bodies.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Push {
    /// Body format, which also decides the field names used in errors.
    pub format: RawFormat,
    /// `type` / `MsgType`, as sent.
    pub kind: String,
    /// Receiving blue-V UID, canonical decimal.
    pub receiver_id: String,
    /// Sending fan UID, canonical decimal.
    pub sender_id: String,
    /// `created_at` / `CreateTime`, Unix seconds.
    pub platform_time: i64,
    /// `text` / `Content`.
    pub text: Option<String>,
    /// `data.subtype` / `Event`.
    pub subtype: Field,
    /// `data.key` / `EventKey`.
    pub key: Field,
    /// `data.ticket` / `Ticket`.
    pub ticket: Field,
    /// `data.vfid` (sender-side media id; JSON only).
    pub vfid: Field,
    /// `data.tovfid` / `MediaId` (receiver-side media id).
    pub tovfid: Field,
    /// `data.latitude` / `Location_X`.
    pub latitude: Field,
    /// `data.longitude` / `Location_Y`.
    pub longitude: Field,
}

impl Push {
    /// Picks the field name of this push's format for an error.
    fn name(&self, json: &'static str, xml: &'static str) -> &'static str {
        match self.format {
            RawFormat::Json => json,
            RawFormat::Xml => xml,
        }
    }

    fn kind_lower(&self) -> String {
        self.kind.to_ascii_lowercase()
    }

    fn subtype_lower(&self) -> Option<String> {
        match &self.subtype {
            Field::Scalar(s) => Some(s.to_ascii_lowercase()),
            _ => None,
        }
    }

    /// True for @-mentions: `type: "mention"`, or `type: "event"` with subtype `status` or
    /// `comment` (the reference, §2.4, finds evidence for both envelopes).
    fn is_mention(&self) -> bool {
        match self.kind_lower().as_str() {
            "mention" => true,
            "event" => matches!(self.subtype_lower().as_deref(), Some("status" | "comment")),
            _ => false,
        }
    }
}

/// Parses a JSON push body into a [`Push`].
pub(super) fn from_json(body: &str) -> Result<Push, WebhookError> {
    check_json_depth(body.as_bytes(), MAX_JSON_DEPTH)?;
    let value: Value = serde_json::from_str(body).map_err(|e| json_error(&e))?;
    let Value::Object(envelope) = value else {
        return Err(WebhookError::MalformedBody(
            "expected a JSON object".to_string(),
        ));
    };
    let kind = match envelope.get("type") {
        Some(Value::String(s)) if !s.is_empty() => s.clone(),
        _ => return Err(WebhookError::MissingField("type")),
    };
    let receiver_id = json_id(envelope.get("receiver_id"), "receiver_id")?;
    let sender_id = json_id(envelope.get("sender_id"), "sender_id")?;
    let platform_time = match envelope.get("created_at") {
        Some(Value::String(s)) => {
            parse_created_at(s).ok_or(WebhookError::MissingField("created_at"))?
        }
        _ => return Err(WebhookError::MissingField("created_at")),
    };
    let text = match envelope.get("text") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(s.clone()),
        Some(_) => return Err(WebhookError::MissingField("text")),
    };
    let data = json_data(envelope.get("data"))?;
    let field = |name: &str| Field::from_json(data.get(name));
    Ok(Push {
        format: RawFormat::Json,
        kind,
        receiver_id,
        sender_id,
        platform_time,
        text,
        subtype: field("subtype"),
        key: field("key"),
        ticket: field("ticket"),
        vfid: field("vfid"),
        tovfid: field("tovfid"),
        latitude: field("latitude"),
        longitude: field("longitude"),
    })
}

/// Builds a [`Push`] from the fields of a WeChat-compatible XML body (reference §2.5):
/// `ToUserName` = receiver, `FromUserName` = sender, `CreateTime` = Unix seconds,
/// `MsgType` = type, `Content` = text, `MediaId` = tovfid, `Event`/`EventKey`/`Ticket` for
/// events, `Location_X`/`Location_Y` (or `Latitude`/`Longitude`) for positions. `MsgId` is
/// empty on Weibo and ignored.
///
/// `get` returns a field's text content (as the shared `channel::xml` reader gives it), `None`
/// when the element is absent.
pub(super) fn from_xml_fields<'a>(
    get: impl Fn(&str) -> Option<&'a str>,
) -> Result<Push, WebhookError> {
    // Identifiers are trimmed (the reader keeps whitespace around them); `Content` is not.
    let get_trimmed = |name: &str| get(name).map(|s| s.trim().to_string());
    let kind = get_trimmed("MsgType")
        .filter(|s| !s.is_empty())
        .ok_or(WebhookError::MissingField("MsgType"))?;
    let receiver_id = text_id(get("ToUserName"), "ToUserName")?;
    let sender_id = text_id(get("FromUserName"), "FromUserName")?;
    let platform_time = get("CreateTime")
        .and_then(|s| parse_decimal_i64(s.trim()))
        .ok_or(WebhookError::MissingField("CreateTime"))?;
    let text = get("Content").or_else(|| get("Label")).map(str::to_string);
    Ok(Push {
        format: RawFormat::Xml,
        kind,
        receiver_id,
        sender_id,
        platform_time,
        text,
        subtype: Field::from_text(get_trimmed("Event")),
        key: Field::from_text(get_trimmed("EventKey")),
        ticket: Field::from_text(get_trimmed("Ticket")),
        vfid: Field::Absent,
        tovfid: Field::from_text(get_trimmed("MediaId")),
        latitude: Field::from_text(get_trimmed("Location_X").or_else(|| get_trimmed("Latitude"))),
        longitude: Field::from_text(get_trimmed("Location_Y").or_else(|| get_trimmed("Longitude"))),
    })
}

/// Maps a push to normalized content. Unknown types become [`Content::Other`] and unknown
/// event subtypes an [`Content::Event`] named after the lowercased subtype: never dropped.
pub(super) fn content(push: &Push) -> Result<Content, WebhookError> {
    if push.is_mention() {
        return mention(push);
    }
    match push.kind_lower().as_str() {
        "text" => {
            let text = push
                .text
                .clone()
                .ok_or(WebhookError::MissingField(push.name("text", "Content")))?;
            Ok(Content::Text { text })
        }
        "position" => position(push),
        "voice" => Ok(Content::Voice {
            media_id: media_id(push)?,
            format: None,
            recognition: None,
        }),
        "image" => Ok(Content::Image {
            media_id: media_id(push)?,
            url: None,
        }),
        "event" => event_content(push),
        _ => Ok(Content::Other {
            platform_type: push.kind.clone(),
        }),
    }
}

fn media_id(push: &Push) -> Result<Option<String>, WebhookError> {
    Ok(push
        .tovfid
        .scalar(push.name("data.tovfid", "MediaId"))?
        .map(str::to_string))
}

fn position(push: &Push) -> Result<Content, WebhookError> {
    let coordinate = |field: &Field, name: &'static str, bound: f64| {
        field
            .scalar(name)?
            .and_then(|s| s.trim().parse::<f64>().ok())
            .filter(|v| v.is_finite() && v.abs() <= bound)
            .ok_or(WebhookError::MissingField(name))
    };
    let latitude = coordinate(
        &push.latitude,
        push.name("data.latitude", "Location_X"),
        90.0,
    )?;
    let longitude = coordinate(
        &push.longitude,
        push.name("data.longitude", "Location_Y"),
        180.0,
    )?;
    Ok(Content::Location {
        latitude,
        longitude,
        scale: None,
        label: push.text.clone().filter(|t| !t.is_empty()),
    })
}

fn event_content(push: &Push) -> Result<Content, WebhookError> {
    let subtype_name = push.name("data.subtype", "Event");
    let platform_event = push
        .subtype
        .scalar(subtype_name)?
        .ok_or(WebhookError::MissingField(subtype_name))?
        .to_string();
    let lower = platform_event.to_ascii_lowercase();
    let name = match lower.as_str() {
        "follow" => event::FOLLOW.to_string(),
        "unfollow" => event::UNFOLLOW.to_string(),
        "subscribe" => event::SUBSCRIBE.to_string(),
        "unsubscribe" => event::UNSUBSCRIBE.to_string(),
        "scan" => event::SCAN.to_string(),
        "scan_follow" => event::FOLLOW_BY_SCAN.to_string(),
        "click" => event::CLICK.to_string(),
        "view" => event::VIEW.to_string(),
        _ => lower,
    };
    let key = push
        .key
        .scalar(push.name("data.key", "EventKey"))?
        .map(str::to_string);
    let mut detail = BTreeMap::new();
    if let Some(ticket) = push.ticket.scalar(push.name("data.ticket", "Ticket"))? {
        detail.insert("ticket".to_string(), ticket.to_string());
    }
    // The caption carries the keyword that triggered (un)subscribe (`dy`, `td`).
    if let Some(text) = push.text.as_deref().filter(|t| !t.is_empty()) {
        detail.insert("text".to_string(), text.to_string());
    }
    Ok(Content::Event {
        event: name,
        platform_event,
        key,
        detail,
    })
}

fn mention(push: &Push) -> Result<Content, WebhookError> {
    let subtype_name = push.name("data.subtype", "Event");
    let subtype = push
        .subtype
        .scalar(subtype_name)?
        .ok_or(WebhookError::MissingField(subtype_name))?
        .to_ascii_lowercase();
    let target_id = push
        .key
        .scalar(push.name("data.key", "EventKey"))?
        .map(str::to_string);
    Ok(Content::Mention {
        subtype,
        target_id,
        text: push.text.clone().unwrap_or_default(),
        post: None,
    })
}

/// The dedupe key. Weibo pushes carry no message id, so:
///
/// * mentions with a target: `mention:{subtype}:{key}` (status and comment ids are globally
///   unique, and the same mention pushed as `mention` or as `event` gets the same key);
/// * everything else: `k:` + hex SHA-256 over the canonical fields receiver, sender,
///   created_at (Unix seconds), type, subtype, key, tovfid, vfid, text, latitude, longitude,
///   joined with 0x1f. IDs are canonical decimals, so numbers and strings hash alike, and a
///   re-serialised retry (other key order or whitespace) hashes like the original.
pub(super) fn dedupe_key(push: &Push) -> String {
    if push.is_mention()
        && let (Some(subtype), Field::Scalar(key)) = (push.subtype_lower(), &push.key)
    {
        return format!("mention:{subtype}:{key}");
    }
    let created_at = push.platform_time.to_string();
    let fields: [&str; 11] = [
        &push.receiver_id,
        &push.sender_id,
        &created_at,
        &push.kind,
        push.subtype.canonical(),
        push.key.canonical(),
        push.tovfid.canonical(),
        push.vfid.canonical(),
        push.text.as_deref().unwrap_or(""),
        push.latitude.canonical(),
        push.longitude.canonical(),
    ];
    let mut hasher = Sha256::new();
    for (i, field) in fields.iter().enumerate() {
        if i > 0 {
            hasher.update([0x1f]);
        }
        hasher.update(field.as_bytes());
    }
    format!("k:{}", hex::encode(hasher.finalize()))
}

/// Canonical decimal form of a configured or pushed UID: leading zeros dropped when it is a
/// decimal number, otherwise the trimmed text.
pub(super) fn canonical_uid(uid: &str) -> String {
    let trimmed = uid.trim();
    decimal_u64(trimmed).map_or_else(|| trimmed.to_string(), |v| v.to_string())
}

/// Parses `created_at` (`%a %b %d %H:%M:%S %z %Y`) into Unix seconds.
pub(crate) fn parse_created_at(text: &str) -> Option<i64> {
    chrono::DateTime::parse_from_str(text.trim(), CREATED_AT_FORMAT)
        .ok()
        .map(|t| t.timestamp())
}

/// A 1–20 digit decimal with no sign, as `u64`.
fn decimal_u64(text: &str) -> Option<u64> {
    if text.is_empty() || text.len() > 20 || !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    text.parse().ok()
}

fn parse_decimal_i64(text: &str) -> Option<i64> {
    decimal_u64(text).and_then(|v| i64::try_from(v).ok())
}

/// A UID from JSON: an unsigned integer or a decimal string, never through `f64`.
fn json_id(value: Option<&Value>, name: &'static str) -> Result<String, WebhookError> {
    let id = match value {
        Some(Value::Number(n)) => n.as_u64(),
        Some(Value::String(s)) => decimal_u64(s.trim()),
        _ => None,
    };
    id.map(|v| v.to_string())
        .ok_or(WebhookError::MissingField(name))
}

fn text_id(value: Option<&str>, name: &'static str) -> Result<String, WebhookError> {
    value
        .and_then(|s| decimal_u64(s.trim()))
        .map(|v| v.to_string())
        .ok_or(WebhookError::MissingField(name))
}

/// `data`: an object, absent/`null` (= `{}`), or (tolerated because the doc tables label it
/// "string") a string holding a JSON object.
fn json_data(value: Option<&Value>) -> Result<Map<String, Value>, WebhookError> {
    match value {
        None | Some(Value::Null) => Ok(Map::new()),
        Some(Value::Object(m)) => Ok(m.clone()),
        Some(Value::String(s)) if s.trim().is_empty() => Ok(Map::new()),
        Some(Value::String(s)) => {
            check_json_depth(s.as_bytes(), MAX_JSON_DEPTH)?;
            match serde_json::from_str::<Value>(s) {
                Ok(Value::Object(m)) => Ok(m),
                _ => Err(WebhookError::MissingField("data")),
            }
        }
        Some(_) => Err(WebhookError::MissingField("data")),
    }
}

/// A short reason for a JSON syntax error: category and position, never body content.
fn json_error(e: &serde_json::Error) -> WebhookError {
    use serde_json::error::Category;
    let what = match e.classify() {
        Category::Syntax => "syntax error",
        Category::Eof => "unexpected end of input",
        Category::Data => "invalid data",
        Category::Io => "read error",
    };
    WebhookError::MalformedBody(format!(
        "invalid JSON: {what} at line {} column {}",
        e.line(),
        e.column()
    ))
}

/// Rejects JSON whose `{`/`[` nesting (outside strings) exceeds `max`, in one linear pass
/// that allocates nothing. Runs before serde_json so hostile nesting costs nothing more.
pub(super) fn check_json_depth(bytes: &[u8], max: usize) -> Result<(), WebhookError> {
    let mut depth = 0usize;
    let mut in_string = false;
    let mut escaped = false;
    for &b in bytes {
        if in_string {
            if escaped {
                escaped = false;
            } else if b == b'\\' {
                escaped = true;
            } else if b == b'"' {
                in_string = false;
            }
            continue;
        }
        match b {
            b'"' => in_string = true,
            b'{' | b'[' => {
                depth += 1;
                if depth > max {
                    return Err(WebhookError::MalformedBody(format!(
                        "JSON nested deeper than {max} levels"
                    )));
                }
            }
            b'}' | b']' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn created_at_parses_the_documented_example() {
        assert_eq!(
            parse_created_at("Mon Jul 16 18:09:20 +0800 2012"),
            Some(1_342_433_360)
        );
        assert_eq!(parse_created_at("2012-07-16T18:09:20+08:00"), None);
        assert_eq!(parse_created_at("Mon Jul 16 18:09:20 2012"), None);
    }

    #[test]
    fn ids_accept_numbers_and_decimal_strings_only() {
        let id = |v: Value| json_id(Some(&v), "sender_id");
        assert_eq!(id(Value::from(2_489_518_277u64)), Ok("2489518277".into()));
        assert_eq!(id(Value::from("2489518277")), Ok("2489518277".into()));
        assert_eq!(id(Value::from(" 0042 ")), Ok("42".into()));
        for bad in [
            Value::from(1.5),
            Value::from(-3),
            Value::from("12a"),
            Value::from(""),
            Value::from("+1"),
            Value::Null,
            Value::Bool(true),
        ] {
            assert_eq!(id(bad), Err(WebhookError::MissingField("sender_id")));
        }
        // Larger than u64: serde_json would hold it as f64; refused rather than rounded.
        let big: Value = serde_json::from_str("123456789012345678901234").expect("json");
        assert_eq!(id(big), Err(WebhookError::MissingField("sender_id")));
    }

    #[test]
    fn sixteen_digit_ids_keep_every_digit() {
        let v: Value = serde_json::from_str("9007199254740993").expect("json");
        assert_eq!(json_id(Some(&v), "x"), Ok("9007199254740993".into()));
        assert_eq!(
            Field::from_json(Some(&v)),
            Field::Scalar("9007199254740993".into())
        );
    }

    #[test]
    fn depth_scan_ignores_brackets_inside_strings() {
        assert!(check_json_depth(br#"{"t":"[[[[{{{{\"[[["}"#, 2).is_ok());
        assert!(check_json_depth(br#"{"a":{"b":{}}}"#, 2).is_err());
        assert!(check_json_depth(br#"{"a":{"b":1}}"#, 2).is_ok());
    }

    #[test]
    fn data_may_be_a_json_string_holding_an_object() {
        let m = json_data(Some(&Value::from(r#"{"subtype":"follow"}"#))).expect("object");
        assert_eq!(m.get("subtype"), Some(&Value::from("follow")));
        assert_eq!(
            json_data(Some(&Value::from("[1]"))),
            Err(WebhookError::MissingField("data"))
        );
        assert_eq!(
            json_data(Some(&Value::from(3))),
            Err(WebhookError::MissingField("data"))
        );
    }

    #[test]
    fn xml_fields_map_like_json() {
        let fields: BTreeMap<&str, &str> = [
            ("ToUserName", "1902538057"),
            ("FromUserName", "2489518277"),
            ("CreateTime", "1342433360"),
            ("MsgType", "event"),
            ("Event", "scan_follow"),
            ("EventKey", "qrscene_7"),
            ("Ticket", "TICKET"),
            ("MsgId", ""),
        ]
        .into_iter()
        .collect();
        let push = from_xml_fields(|n| fields.get(n).copied()).expect("push");
        assert_eq!(push.receiver_id, "1902538057");
        assert_eq!(push.platform_time, 1_342_433_360);
        match content(&push).expect("content") {
            Content::Event {
                event, key, detail, ..
            } => {
                assert_eq!(event, event::FOLLOW_BY_SCAN);
                assert_eq!(key.as_deref(), Some("qrscene_7"));
                assert_eq!(detail.get("ticket").map(String::as_str), Some("TICKET"));
            }
            other => panic!("unexpected {other:?}"),
        }
        let missing = from_xml_fields(|n| fields.get(n).copied().filter(|_| n != "FromUserName"));
        assert_eq!(missing, Err(WebhookError::MissingField("FromUserName")));
    }

    #[test]
    fn invalid_scalar_types_are_named_in_the_error() {
        let body = r#"{"type":"event","receiver_id":1,"sender_id":2,
            "created_at":"Mon Jul 16 18:09:20 +0800 2012","text":"x",
            "data":{"subtype":"click","key":{"nested":true}}}"#;
        let push = from_json(body).expect("push");
        assert_eq!(content(&push), Err(WebhookError::MissingField("data.key")));
        // An unknown type is never refused for its data's shape.
        let body = body.replace(r#""type":"event""#, r#""type":"novel""#);
        let push = from_json(&body).expect("push");
        assert_eq!(
            content(&push),
            Ok(Content::Other {
                platform_type: "novel".into()
            })
        );
    }
}
