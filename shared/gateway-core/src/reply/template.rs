//! WeChat template messages ([`ReplyContent::Template`]): a notification sent to a follower
//! through `POST /cgi-bin/message/template/send`, outside the customer-service reply window.
//!
//! Official reference: 模板消息接口
//! (<https://developers.weixin.qq.com/doc/offiaccount/Message_Management/Template_Message_Interface.html>,
//! API page <https://developers.weixin.qq.com/doc/service/api/notify/template/api_sendtemplatemessage.html>).
//! The body is `touser`, `template_id`, optional `url` ("模板跳转链接"), optional
//! `miniprogram{appid, pagepath}` ("url 和 miniprogram 同时填写，优先跳转小程序"), and `data`, one
//! `{"value": …, "color"?: …}` per template keyword. A template's text names its keywords as
//! `{{keyword1.DATA}}`; the key in `data` is the part before `.DATA` (`keyword1`), so the
//! gateway refuses a key written with the suffix instead of sending a message WeChat would
//! render empty.
//!
//! Limits the gateway enforces before queueing (the documentation publishes no overall figure
//! for most of them, so they are the gateway's own bounds, chosen well above what the
//! documented templates use and low enough to keep a command small):
//!
//! | field | limit |
//! |---|---|
//! | `template_id` | 1 to [`MAX_TEMPLATE_ID`] characters of `[A-Za-z0-9_-]` (ids look like `ngqIpbwh8bUfcSsECmogfXcV14J0tQlEpBO27izEYtY`) |
//! | `data` | 1 to [`MAX_FIELDS`] keys of `[A-Za-z0-9_]`, 1 to [`MAX_KEY_CHARS`] characters |
//! | a value | not blank, at most [`MAX_VALUE_CHARS`] characters (category templates' typed keywords, `thing1`, `time2`, are shorter still and refused by WeChat with 47003) |
//! | `color` | `#RRGGBB` |
//! | `url` | `https://` or `http://` (the documented example is `http://weixin.qq.com/download`), at most [`MAX_URL_CHARS`] characters |
//! | `miniprogram` | `appid` `wx` + 16 hex-like characters as WeChat issues them (1 to 32 of `[A-Za-z0-9_]`), `pagepath` 1 to [`MAX_URL_CHARS`] characters |
//!
//! A template message is not bound by the 48-hour customer-service window (it needs the
//! follower to be subscribed, and spends the account's daily template quota). Pure.

use super::{ReplyContent, not_blank, short};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// The longest template id, in characters.
pub const MAX_TEMPLATE_ID: usize = 64;
/// The most keywords one message fills.
pub const MAX_FIELDS: usize = 20;
/// The longest keyword name, in characters.
pub const MAX_KEY_CHARS: usize = 32;
/// The longest keyword value, in characters.
pub const MAX_VALUE_CHARS: usize = 200;
/// The longest `url` or `pagepath`, in characters.
pub const MAX_URL_CHARS: usize = 1024;
/// The longest mini-program appid, in characters.
const MAX_APPID_CHARS: usize = 32;

/// One keyword of a template message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TemplateField {
    /// What the keyword shows.
    pub value: String,
    /// Its colour, `#RRGGBB` (WeChat's default when absent).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub color: Option<String>,
}

impl TemplateField {
    /// A field with `value` and no colour.
    pub fn new(value: impl Into<String>) -> Self {
        TemplateField {
            value: value.into(),
            color: None,
        }
    }
}

/// The mini-program page a template message opens (takes precedence over `url`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MiniProgram {
    /// The mini program's appid (bound to the official account).
    pub appid: String,
    /// The page, with parameters (`index?foo=bar`).
    pub pagepath: String,
}

fn keyword_name(key: &str) -> Result<(), String> {
    if let Some(stem) = key.strip_suffix(".DATA") {
        return Err(format!(
            "data key `{}` names the template's placeholder: write `{}` (the part before `.DATA`)",
            short(key, 40),
            short(stem, 40)
        ));
    }
    let ok = !key.is_empty()
        && key.chars().count() <= MAX_KEY_CHARS
        && key.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
    if ok {
        Ok(())
    } else {
        Err(format!(
            "data key `{}` is not a template keyword: 1 to {MAX_KEY_CHARS} letters, digits or `_`",
            short(key, 40)
        ))
    }
}

fn color(key: &str, value: &str) -> Result<(), String> {
    let ok = value.len() == 7
        && value.starts_with('#')
        && value[1..].bytes().all(|b| b.is_ascii_hexdigit());
    if ok {
        Ok(())
    } else {
        Err(format!("`data.{key}.color` must be #RRGGBB"))
    }
}

fn link(field: &str, value: &str) -> Result<(), String> {
    let rest = value
        .strip_prefix("https://")
        .or_else(|| value.strip_prefix("http://"));
    let ok = rest.is_some_and(|host| !host.is_empty())
        && !value.contains(char::is_whitespace)
        && value.chars().count() <= MAX_URL_CHARS;
    if ok {
        Ok(())
    } else {
        // Not echoed: a link may carry a token or personal data.
        Err(format!(
            "`{field}` must be an https:// or http:// URL of at most {MAX_URL_CHARS} characters"
        ))
    }
}

/// Checks a template message (see the module's table of limits). The error is a plain
/// sentence for people.
pub fn validate(
    template_id: &str,
    data: &BTreeMap<String, TemplateField>,
    url: Option<&str>,
    miniprogram: Option<&MiniProgram>,
) -> Result<(), String> {
    not_blank("template_id", template_id)?;
    let id_ok = template_id.chars().count() <= MAX_TEMPLATE_ID
        && template_id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
    if !id_ok {
        return Err(format!(
            "`template_id` must be 1 to {MAX_TEMPLATE_ID} letters, digits, `_` or `-`"
        ));
    }
    if data.is_empty() {
        return Err("`data` is empty: give the template's keywords".into());
    }
    if data.len() > MAX_FIELDS {
        return Err(format!(
            "`data` has {} keywords: at most {MAX_FIELDS}",
            data.len()
        ));
    }
    for (key, field) in data {
        keyword_name(key)?;
        if field.value.trim().is_empty() {
            return Err(format!("`data.{key}.value` is empty"));
        }
        let length = field.value.chars().count();
        if length > MAX_VALUE_CHARS {
            return Err(format!(
                "`data.{key}.value` is {length} characters: at most {MAX_VALUE_CHARS}"
            ));
        }
        if let Some(c) = &field.color {
            color(key, c)?;
        }
    }
    if let Some(u) = url {
        link("url", u)?;
    }
    if let Some(mp) = miniprogram {
        let appid_ok = !mp.appid.is_empty()
            && mp.appid.len() <= MAX_APPID_CHARS
            && mp
                .appid
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_');
        if !appid_ok {
            return Err(format!(
                "`miniprogram.appid` must be 1 to {MAX_APPID_CHARS} letters, digits or `_`"
            ));
        }
        not_blank("miniprogram.pagepath", &mp.pagepath)?;
        if mp.pagepath.chars().count() > MAX_URL_CHARS || mp.pagepath.contains(char::is_whitespace)
        {
            return Err(format!(
                "`miniprogram.pagepath` must be at most {MAX_URL_CHARS} characters, without spaces"
            ));
        }
    }
    Ok(())
}

/// The one-line summary of a template message (`template abc… (3 fields)`).
pub(super) fn summary(template_id: &str, data: &BTreeMap<String, TemplateField>) -> String {
    format!(
        "template {} ({} fields)",
        short(template_id, 24),
        data.len()
    )
}

/// The preview text of a template message: its first keyword's value.
pub fn preview_text(content: &ReplyContent) -> Option<&str> {
    match content {
        ReplyContent::Template { data, .. } => data.values().next().map(|f| f.value.as_str()),
        _ => None,
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn data(pairs: &[(&str, &str)]) -> BTreeMap<String, TemplateField> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), TemplateField::new(*v)))
            .collect()
    }

    #[test]
    fn the_documented_example_is_valid_and_round_trips() {
        let json = serde_json::json!({
            "type": "template",
            "template_id": "ngqIpbwh8bUfcSsECmogfXcV14J0tQlEpBO27izEYtY",
            "url": "http://weixin.qq.com/download",
            "miniprogram": {"appid": "xiaochengxuappid12345", "pagepath": "index?foo=bar"},
            "data": {
                "keyword1": {"value": "巧克力"},
                "keyword2": {"value": "39.8元", "color": "#173177"},
                "keyword3": {"value": "2014年9月22日"}
            }
        });
        let content: ReplyContent = serde_json::from_value(json.clone()).unwrap();
        assert_eq!(content.validate(), Ok(()));
        assert_eq!(content.kind(), "template");
        assert_eq!(serde_json::to_value(&content).unwrap(), json);
        assert_eq!(preview_text(&content), Some("巧克力"));
        assert!(content.summary().starts_with("template ngq"));
        // Unknown fields inside a keyword are refused, like everywhere in replies.
        let typo = serde_json::json!({
            "type": "template", "template_id": "t",
            "data": {"k": {"value": "v", "colour": "#000000"}}
        });
        assert!(serde_json::from_value::<ReplyContent>(typo).is_err());
    }

    #[test]
    fn validation_names_the_problem() {
        let ok = data(&[("first", "您好"), ("keyword1", "工单 42")]);
        assert!(validate("tpl_1-A", &ok, Some("https://x.example/a"), None).is_ok());
        let long_value = "好".repeat(MAX_VALUE_CHARS + 1);
        let long_id = "t".repeat(65);
        let long_url = format!("https://{}", "a".repeat(1020));
        let many: Vec<(String, String)> = (0..=MAX_FIELDS)
            .map(|i| (format!("k{i}"), "v".to_string()))
            .collect();
        let many: BTreeMap<String, TemplateField> = many
            .into_iter()
            .map(|(k, v)| (k, TemplateField::new(v)))
            .collect();
        type Case<'a> = (
            &'a str,
            BTreeMap<String, TemplateField>,
            Option<&'a str>,
            &'a str,
        );
        let cases: Vec<Case<'_>> = vec![
            ("", ok.clone(), None, "`template_id` is empty"),
            (&long_id, ok.clone(), None, "`template_id` must be"),
            ("a b", ok.clone(), None, "`template_id` must be"),
            ("t", BTreeMap::new(), None, "`data` is empty"),
            ("t", many, None, "at most 20"),
            (
                "t",
                data(&[("keyword1.DATA", "v")]),
                None,
                "write `keyword1`",
            ),
            (
                "t",
                data(&[("key word", "v")]),
                None,
                "not a template keyword",
            ),
            (
                "t",
                data(&[(&"k".repeat(33), "v")]),
                None,
                "not a template keyword",
            ),
            ("t", data(&[("k", " ")]), None, "`data.k.value` is empty"),
            ("t", data(&[("k", &long_value)]), None, "at most 200"),
            ("t", ok.clone(), Some("ftp://x"), "`url` must be"),
            ("t", ok.clone(), Some("https://"), "`url` must be"),
            ("t", ok.clone(), Some(&long_url), "`url` must be"),
        ];
        for (id, d, url, want) in cases {
            let e = validate(id, &d, url, None).unwrap_err();
            assert!(e.contains(want), "{e:?} should contain {want:?}");
        }
        let mut coloured = ok.clone();
        coloured.get_mut("first").unwrap().color = Some("red".into());
        assert!(
            validate("t", &coloured, None, None)
                .unwrap_err()
                .contains("#RRGGBB")
        );
        let mp = |appid: &str, page: &str| MiniProgram {
            appid: appid.into(),
            pagepath: page.into(),
        };
        assert!(validate("t", &ok, None, Some(&mp("wx1234", "index?a=1"))).is_ok());
        assert!(
            validate("t", &ok, None, Some(&mp("", "index")))
                .unwrap_err()
                .contains("appid")
        );
        assert!(
            validate("t", &ok, None, Some(&mp("wx1", " ")))
                .unwrap_err()
                .contains("pagepath")
        );
    }
}
