//! Normalizes one (decrypted) WeChat push — the inner `<xml>` message — into a
//! [`NormalizedMessage`]: every `MsgType`, the event-name mapping, and the dedupe key.
//!
//! Reference: the official Official Account docs, 接收普通消息 / 接收事件推送 (messages, events, retries). Pure: no I/O.

use crate::channel::WebhookError;
use crate::channel::xml::{self, XmlDoc};
use crate::message::{
    Channel, Content, NormalizedMessage, RawFormat, RawPayload, SCHEMA_VERSION, event,
};
use sha2::{Digest, Sha256};
use std::collections::{BTreeMap, HashMap};

/// Envelope fields every push carries; they are never repeated in an event's `detail`.
const ENVELOPE_FIELDS: [&str; 7] = [
    "ToUserName",
    "FromUserName",
    "CreateTime",
    "MsgType",
    "Event",
    "EventKey",
    "Encrypt",
];

/// What the gateway needs to know about the request a message came in.
#[derive(Debug, Clone, Copy)]
pub struct Received<'a> {
    /// The gateway account name from the path.
    pub account_id: &'a str,
    /// Arrival time, Unix milliseconds.
    pub received_at_ms: i64,
}

/// Parses and normalizes an inner message (plaintext body, or decrypted `Encrypt`).
///
/// Errors: whatever [`xml::parse_fields`] refuses, and [`WebhookError::MissingField`] for a
/// missing `ToUserName`, `FromUserName`, `MsgType`, a missing or non-integer `CreateTime`, or a
/// known type's required field (`Content`, `Location_X`/`Location_Y` as finite numbers, `Url`,
/// `Event`).
pub fn normalize(
    inner_xml: &str,
    received: Received<'_>,
) -> Result<NormalizedMessage, WebhookError> {
    let doc = xml::parse_fields(inner_xml.as_bytes())?;
    normalize_doc(&doc, inner_xml, received)
}

/// [`normalize`] for an already parsed document; `inner_xml` is kept as the raw payload.
pub fn normalize_doc(
    doc: &XmlDoc,
    inner_xml: &str,
    received: Received<'_>,
) -> Result<NormalizedMessage, WebhookError> {
    let to = required(doc, "ToUserName")?;
    let from = required(doc, "FromUserName")?;
    let create_time: i64 = required(doc, "CreateTime")?
        .trim()
        .parse()
        .map_err(|_| WebhookError::MissingField("CreateTime"))?;
    let msg_type = required(doc, "MsgType")?.trim();
    let msg_id = doc.non_empty("MsgId").map(|s| s.trim().to_string());

    let content = content(doc, msg_type)?;
    let dedupe_key = match &content {
        Content::Event { platform_event, .. } => {
            // The `EventKey` slot falls back to `MsgID` (template / mass-send results), so two
            // such results for one user in the same second stay distinct.
            let key = doc
                .non_empty("EventKey")
                .or_else(|| doc.non_empty("MsgID"))
                .unwrap_or("");
            format!("evt:{from}:{create_time}:{platform_event}:{}", key.trim())
        }
        _ => match &msg_id {
            Some(id) => format!("msg:{id}"),
            None => {
                let digest = hex::encode(Sha256::digest(inner_xml.as_bytes()));
                format!("raw:{from}:{create_time}:{msg_type}:{}", &digest[..16])
            }
        },
    };

    Ok(NormalizedMessage {
        schema_version: SCHEMA_VERSION,
        channel: Channel::WeChat,
        account_id: received.account_id.to_string(),
        sender_id: from.to_string(),
        recipient_id: to.to_string(),
        conversation_key: NormalizedMessage::conversation_key_for(
            Channel::WeChat,
            received.account_id,
            from,
        ),
        platform_message_id: msg_id,
        dedupe_key,
        content,
        platform_time: create_time,
        received_at_ms: received.received_at_ms,
        raw: RawPayload {
            format: RawFormat::Xml,
            body: inner_xml.to_string(),
        },
    })
}

fn required<'d>(doc: &'d XmlDoc, name: &'static str) -> Result<&'d str, WebhookError> {
    doc.non_empty(name).ok_or(WebhookError::MissingField(name))
}

fn optional(doc: &XmlDoc, name: &str) -> Option<String> {
    doc.non_empty(name).map(str::to_string)
}

fn finite(doc: &XmlDoc, name: &str) -> Option<f64> {
    doc.get(name)
        .and_then(|v| v.trim().parse::<f64>().ok())
        .filter(|v| v.is_finite())
}

fn content(doc: &XmlDoc, msg_type: &str) -> Result<Content, WebhookError> {
    Ok(match msg_type {
        "text" => Content::Text {
            text: doc
                .get("Content")
                .ok_or(WebhookError::MissingField("Content"))?
                .to_string(),
        },
        "image" => Content::Image {
            media_id: optional(doc, "MediaId"),
            url: optional(doc, "PicUrl"),
        },
        "voice" => Content::Voice {
            media_id: optional(doc, "MediaId"),
            format: optional(doc, "Format"),
            recognition: optional(doc, "Recognition"),
        },
        "video" | "shortvideo" => Content::Video {
            media_id: optional(doc, "MediaId"),
            thumb_media_id: optional(doc, "ThumbMediaId"),
            short: msg_type == "shortvideo",
        },
        "location" => Content::Location {
            latitude: finite(doc, "Location_X").ok_or(WebhookError::MissingField("Location_X"))?,
            longitude: finite(doc, "Location_Y").ok_or(WebhookError::MissingField("Location_Y"))?,
            scale: finite(doc, "Scale"),
            label: optional(doc, "Label"),
        },
        "link" => Content::Link {
            title: doc.get("Title").unwrap_or_default().to_string(),
            description: optional(doc, "Description"),
            url: required(doc, "Url")?.to_string(),
        },
        "event" => event_content(doc)?,
        other => Content::Other {
            platform_type: other.to_string(),
        },
    })
}

fn event_content(doc: &XmlDoc) -> Result<Content, WebhookError> {
    let platform_event = required(doc, "Event")?.trim().to_string();
    let event_key = doc.non_empty("EventKey").map(|k| k.trim().to_string());
    let (name, key) = match platform_event.as_str() {
        "subscribe" => match event_key {
            Some(k) => match k.strip_prefix("qrscene_") {
                Some(scene) => (event::FOLLOW_BY_SCAN.to_string(), Some(scene.to_string())),
                None => (event::FOLLOW.to_string(), Some(k)),
            },
            None => (event::FOLLOW.to_string(), None),
        },
        "unsubscribe" => (event::UNFOLLOW.to_string(), event_key),
        "SCAN" => (event::SCAN.to_string(), event_key),
        "CLICK" => (event::CLICK.to_string(), event_key),
        "VIEW" => (event::VIEW.to_string(), event_key),
        "LOCATION" => (event::LOCATION.to_string(), event_key),
        "TEMPLATESENDJOBFINISH" => (event::TEMPLATE_SEND_FINISHED.to_string(), event_key),
        "MASSSENDJOBFINISH" => (event::MASS_SEND_FINISHED.to_string(), event_key),
        other => (other.to_lowercase(), event_key),
    };
    Ok(Content::Event {
        event: name,
        platform_event,
        key,
        detail: detail(doc),
    })
}

/// Every non-envelope leaf, keyed by its `/` path. A path that occurs more than once (list
/// items such as `SendPicsInfo/PicList/item/PicMd5Sum`) gets an index suffix on every
/// occurrence: `…/PicMd5Sum[0]`, `…/PicMd5Sum[1]`.
fn detail(doc: &XmlDoc) -> BTreeMap<String, String> {
    let mut counts: HashMap<&str, usize> = HashMap::new();
    for f in doc.fields() {
        *counts.entry(f.path.as_str()).or_default() += 1;
    }
    let mut seen: HashMap<&str, usize> = HashMap::new();
    let mut out = BTreeMap::new();
    for f in doc.fields() {
        if ENVELOPE_FIELDS.contains(&f.path.as_str()) {
            continue;
        }
        let key = if counts.get(f.path.as_str()).copied().unwrap_or(0) > 1 {
            let i = seen.entry(f.path.as_str()).or_default();
            let key = format!("{}[{}]", f.path, i);
            *i += 1;
            key
        } else {
            f.path.clone()
        };
        out.insert(key, f.value.clone());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const RX: Received<'static> = Received {
        account_id: "demo",
        received_at_ms: 1_714_112_445_123,
    };

    fn msg(body: &str) -> String {
        format!(
            "<xml><ToUserName><![CDATA[gh_97417a04a28d]]></ToUserName>\
             <FromUserName><![CDATA[o9AgO5Kd5ggOC-bXrbNODIiE3bGY]]></FromUserName>\
             <CreateTime>1714112445</CreateTime>{body}</xml>"
        )
    }

    fn content_of(body: &str) -> Content {
        normalize(&msg(body), RX).expect("parses").content
    }

    #[test]
    fn text_message_fills_every_field() {
        let xml = msg(
            "<MsgType><![CDATA[text]]></MsgType><Content><![CDATA[你好]]></Content><MsgId>24602292134412345</MsgId>",
        );
        let m = normalize(&xml, RX).expect("parses");
        assert_eq!(m.schema_version, SCHEMA_VERSION);
        assert_eq!(m.channel, Channel::WeChat);
        assert_eq!(m.account_id, "demo");
        assert_eq!(m.sender_id, "o9AgO5Kd5ggOC-bXrbNODIiE3bGY");
        assert_eq!(m.recipient_id, "gh_97417a04a28d");
        assert_eq!(
            m.conversation_key,
            "wechat:demo:o9AgO5Kd5ggOC-bXrbNODIiE3bGY"
        );
        assert_eq!(m.platform_message_id.as_deref(), Some("24602292134412345"));
        assert_eq!(m.dedupe_key, "msg:24602292134412345");
        assert_eq!(
            m.content,
            Content::Text {
                text: "你好".into()
            }
        );
        assert_eq!(m.platform_time, 1714112445);
        assert_eq!(m.received_at_ms, 1_714_112_445_123);
        assert_eq!(
            m.raw,
            RawPayload {
                format: RawFormat::Xml,
                body: xml
            }
        );
    }

    #[test]
    fn msg_ids_beyond_i64_are_kept_intact() {
        for id in [
            "9223372036854775807",
            "9223372036854775808",
            "18446744073709551615",
            "23456789012345678901",
        ] {
            let m = normalize(
                &msg(&format!(
                    "<MsgType>text</MsgType><Content>x</Content><MsgId>{id}</MsgId>"
                )),
                RX,
            )
            .expect("parses");
            assert_eq!(m.platform_message_id.as_deref(), Some(id));
            assert_eq!(m.dedupe_key, format!("msg:{id}"));
        }
    }

    #[test]
    fn voice_recognition_is_optional_and_empty_means_none() {
        let with = content_of(
            "<MsgType>voice</MsgType><MediaId>m</MediaId><Format>amr</Format><Recognition><![CDATA[腾讯微信团队]]></Recognition><MsgId>1</MsgId>",
        );
        assert_eq!(
            with,
            Content::Voice {
                media_id: Some("m".into()),
                format: Some("amr".into()),
                recognition: Some("腾讯微信团队".into())
            }
        );
        let empty = content_of(
            "<MsgType>voice</MsgType><MediaId>m</MediaId><Format>amr</Format><Recognition><![CDATA[]]></Recognition><MsgId>1</MsgId>",
        );
        assert!(matches!(
            empty,
            Content::Voice {
                recognition: None,
                ..
            }
        ));
    }

    #[test]
    fn location_axes_are_latitude_then_longitude() {
        let c = content_of(
            "<MsgType>location</MsgType><Location_X>23.134521</Location_X><Location_Y>113.358803</Location_Y><Scale>20</Scale><Label><![CDATA[位置信息]]></Label><MsgId>1</MsgId>",
        );
        assert_eq!(
            c,
            Content::Location {
                latitude: 23.134521,
                longitude: 113.358803,
                scale: Some(20.0),
                label: Some("位置信息".into())
            }
        );
        for bad in ["NaN", "inf", "abc", ""] {
            let xml = msg(&format!(
                "<MsgType>location</MsgType><Location_X>{bad}</Location_X><Location_Y>1</Location_Y>"
            ));
            assert_eq!(
                normalize(&xml, RX).map(|_| ()),
                Err(WebhookError::MissingField("Location_X"))
            );
        }
    }

    #[test]
    fn subscribe_variants_map_to_follow_names() {
        let plain = content_of(
            "<MsgType>event</MsgType><Event>subscribe</Event><EventKey><![CDATA[]]></EventKey>",
        );
        assert!(matches!(plain, Content::Event { ref event, key: None, .. } if event == "follow"));
        let scan = content_of(
            "<MsgType>event</MsgType><Event>subscribe</Event><EventKey>qrscene_123123</EventKey><Ticket>TICKET</Ticket>",
        );
        match scan {
            Content::Event {
                event,
                platform_event,
                key,
                detail,
            } => {
                assert_eq!(event, "follow_by_scan");
                assert_eq!(platform_event, "subscribe");
                assert_eq!(key.as_deref(), Some("123123"));
                assert_eq!(detail.get("Ticket").map(String::as_str), Some("TICKET"));
                assert!(!detail.contains_key("EventKey"));
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn unknown_events_keep_their_fields_with_paths() {
        let c = content_of(
            "<MsgType>event</MsgType><Event>pic_weixin</Event><EventKey>k</EventKey>\
             <SendPicsInfo><Count>2</Count><PicList><item><PicMd5Sum>a</PicMd5Sum></item>\
             <item><PicMd5Sum>b</PicMd5Sum></item></PicList></SendPicsInfo>",
        );
        match c {
            Content::Event {
                event, key, detail, ..
            } => {
                assert_eq!(event, "pic_weixin");
                assert_eq!(key.as_deref(), Some("k"));
                assert_eq!(
                    detail.get("SendPicsInfo/Count").map(String::as_str),
                    Some("2")
                );
                assert_eq!(
                    detail
                        .get("SendPicsInfo/PicList/item/PicMd5Sum[0]")
                        .map(String::as_str),
                    Some("a")
                );
                assert_eq!(
                    detail
                        .get("SendPicsInfo/PicList/item/PicMd5Sum[1]")
                        .map(String::as_str),
                    Some("b")
                );
            }
            other => panic!("{other:?}"),
        }
        let upper = content_of("<MsgType>event</MsgType><Event>FutureEvent</Event>");
        assert!(
            matches!(upper, Content::Event { ref event, ref platform_event, .. } if event == "futureevent" && platform_event == "FutureEvent")
        );
    }

    #[test]
    fn unknown_msg_type_is_other_and_gets_a_raw_key() {
        let xml = msg("<MsgType>futuretype</MsgType><Foo>bar</Foo>");
        let m = normalize(&xml, RX).expect("accepted");
        assert_eq!(
            m.content,
            Content::Other {
                platform_type: "futuretype".into()
            }
        );
        assert!(
            m.dedupe_key
                .starts_with("raw:o9AgO5Kd5ggOC-bXrbNODIiE3bGY:1714112445:futuretype:")
        );
        assert_eq!(m.dedupe_key.rsplit(':').next().map(str::len), Some(16));
        assert_eq!(normalize(&xml, RX).expect("again").dedupe_key, m.dedupe_key);
    }

    #[test]
    fn event_dedupe_keys_differ_within_one_second() {
        let a = normalize(
            &msg("<MsgType>event</MsgType><Event>CLICK</Event><EventKey>A</EventKey>"),
            RX,
        )
        .expect("a");
        let b = normalize(
            &msg("<MsgType>event</MsgType><Event>CLICK</Event><EventKey>B</EventKey>"),
            RX,
        )
        .expect("b");
        let c = normalize(
            &msg("<MsgType>event</MsgType><Event>VIEW</Event><EventKey>A</EventKey>"),
            RX,
        )
        .expect("c");
        assert_eq!(
            a.dedupe_key,
            "evt:o9AgO5Kd5ggOC-bXrbNODIiE3bGY:1714112445:CLICK:A"
        );
        assert_ne!(a.dedupe_key, b.dedupe_key);
        assert_ne!(a.dedupe_key, c.dedupe_key);
        let t1 = normalize(&msg("<MsgType>event</MsgType><Event>TEMPLATESENDJOBFINISH</Event><MsgID>1</MsgID><Status>success</Status>"), RX).expect("t1");
        let t2 = normalize(&msg("<MsgType>event</MsgType><Event>TEMPLATESENDJOBFINISH</Event><MsgID>2</MsgID><Status>success</Status>"), RX).expect("t2");
        assert_ne!(t1.dedupe_key, t2.dedupe_key);
        let u = normalize(
            &msg("<MsgType>event</MsgType><Event>unsubscribe</Event>"),
            RX,
        )
        .expect("u");
        assert_eq!(
            u.dedupe_key,
            "evt:o9AgO5Kd5ggOC-bXrbNODIiE3bGY:1714112445:unsubscribe:"
        );
    }

    #[test]
    fn missing_required_fields_are_named() {
        let cases = [
            (
                "<xml><FromUserName>f</FromUserName><CreateTime>1</CreateTime><MsgType>text</MsgType><Content>x</Content></xml>",
                "ToUserName",
            ),
            (
                "<xml><ToUserName>t</ToUserName><CreateTime>1</CreateTime><MsgType>text</MsgType><Content>x</Content></xml>",
                "FromUserName",
            ),
            (
                "<xml><ToUserName>t</ToUserName><FromUserName>f</FromUserName><MsgType>text</MsgType><Content>x</Content></xml>",
                "CreateTime",
            ),
            (
                "<xml><ToUserName>t</ToUserName><FromUserName>f</FromUserName><CreateTime>1.5</CreateTime><MsgType>text</MsgType></xml>",
                "CreateTime",
            ),
            (
                "<xml><ToUserName>t</ToUserName><FromUserName>f</FromUserName><CreateTime>1</CreateTime><Content>x</Content></xml>",
                "MsgType",
            ),
            (
                "<xml><ToUserName>t</ToUserName><FromUserName>f</FromUserName><CreateTime>1</CreateTime><MsgType>text</MsgType></xml>",
                "Content",
            ),
            (
                "<xml><ToUserName>t</ToUserName><FromUserName>f</FromUserName><CreateTime>1</CreateTime><MsgType>event</MsgType></xml>",
                "Event",
            ),
            (
                "<xml><ToUserName>t</ToUserName><FromUserName>f</FromUserName><CreateTime>1</CreateTime><MsgType>link</MsgType><Title>t</Title></xml>",
                "Url",
            ),
            (
                "<xml><ToUserName>t</ToUserName><FromUserName><![CDATA[]]></FromUserName><CreateTime>1</CreateTime><MsgType>text</MsgType><Content>x</Content></xml>",
                "FromUserName",
            ),
        ];
        for (xml, field) in cases {
            assert_eq!(
                normalize(xml, RX).map(|_| ()),
                Err(WebhookError::MissingField(field)),
                "{xml}"
            );
        }
    }
}
