//! Passive reply XML (被动回复消息): the body a webhook may answer a push with, for the types
//! in reference §4.3 (text, image, voice, video, music, news, transfer_customer_service), and
//! its encrypted form for secure-mode accounts.
//!
//! Every string goes into a CDATA section that survives `]]>` (see [`xml::cdata`]). Pure: no
//! I/O; the caller passes the time.

use crate::account::WeChatAccount;
use crate::channel::wechat::crypto::{AesKey, EncryptedReply, RANDOM_LEN, random_prefix};
use crate::channel::xml;
use std::fmt::Write as _;

/// Most articles one news reply may carry (the current platform rule; replies to a user's
/// text, image, voice, video, news or location message are limited to 1 by the platform).
pub const MAX_NEWS_ARTICLES: usize = 8;

/// One article of a news reply.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Article {
    /// Title.
    pub title: String,
    /// Description.
    pub description: String,
    /// Picture URL.
    pub pic_url: String,
    /// Target URL.
    pub url: String,
}

/// The content of one passive reply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PassiveReply {
    /// Text; newlines render as line breaks.
    Text {
        /// The text.
        content: String,
    },
    /// An uploaded image.
    Image {
        /// Media id from the material API.
        media_id: String,
    },
    /// An uploaded voice clip.
    Voice {
        /// Media id from the material API.
        media_id: String,
    },
    /// An uploaded video.
    Video {
        /// Media id from the material API.
        media_id: String,
        /// Optional title.
        title: Option<String>,
        /// Optional description.
        description: Option<String>,
    },
    /// Music.
    Music {
        /// Optional title.
        title: Option<String>,
        /// Optional description.
        description: Option<String>,
        /// Optional music URL.
        music_url: Option<String>,
        /// Optional high-quality music URL (preferred on Wi-Fi).
        hq_music_url: Option<String>,
        /// Thumbnail media id (required).
        thumb_media_id: String,
    },
    /// News: 1 to [`MAX_NEWS_ARTICLES`] articles.
    News {
        /// The articles.
        articles: Vec<Article>,
    },
    /// Hand the conversation to the customer-service system (only for user messages, never
    /// for events).
    TransferCustomerService {
        /// A specific agent (`test1@test`), or any agent when `None`.
        kf_account: Option<String>,
    },
}

/// Why a reply could not be built.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ReplyError {
    /// A news reply needs 1 to [`MAX_NEWS_ARTICLES`] articles.
    #[error("a news reply needs 1 to {MAX_NEWS_ARTICLES} articles, got {0}")]
    ArticleCount(usize),
    /// The account has no usable EncodingAESKey for an encrypted reply.
    #[error("the account has no usable encoding_aes_key")]
    NoAesKey,
}

fn element(out: &mut String, name: &str, value: &str) {
    // Writing to a String cannot fail.
    let _ = write!(out, "<{name}>{}</{name}>", xml::cdata(value));
}

fn optional_element(out: &mut String, name: &str, value: Option<&String>) {
    if let Some(v) = value {
        element(out, name, v);
    }
}

/// Builds the reply XML. `to_user` is the inbound `FromUserName` (the user's OpenID),
/// `from_user` the inbound `ToUserName` (the account's `gh_…` id), `create_time` Unix seconds.
pub fn build(
    to_user: &str,
    from_user: &str,
    create_time: i64,
    reply: &PassiveReply,
) -> Result<String, ReplyError> {
    let msg_type = match reply {
        PassiveReply::Text { .. } => "text",
        PassiveReply::Image { .. } => "image",
        PassiveReply::Voice { .. } => "voice",
        PassiveReply::Video { .. } => "video",
        PassiveReply::Music { .. } => "music",
        PassiveReply::News { .. } => "news",
        PassiveReply::TransferCustomerService { .. } => "transfer_customer_service",
    };
    let mut out = String::with_capacity(256);
    out.push_str("<xml>");
    element(&mut out, "ToUserName", to_user);
    element(&mut out, "FromUserName", from_user);
    let _ = write!(out, "<CreateTime>{create_time}</CreateTime>");
    element(&mut out, "MsgType", msg_type);
    match reply {
        PassiveReply::Text { content } => element(&mut out, "Content", content),
        PassiveReply::Image { media_id } => {
            out.push_str("<Image>");
            element(&mut out, "MediaId", media_id);
            out.push_str("</Image>");
        }
        PassiveReply::Voice { media_id } => {
            out.push_str("<Voice>");
            element(&mut out, "MediaId", media_id);
            out.push_str("</Voice>");
        }
        PassiveReply::Video {
            media_id,
            title,
            description,
        } => {
            out.push_str("<Video>");
            element(&mut out, "MediaId", media_id);
            optional_element(&mut out, "Title", title.as_ref());
            optional_element(&mut out, "Description", description.as_ref());
            out.push_str("</Video>");
        }
        PassiveReply::Music {
            title,
            description,
            music_url,
            hq_music_url,
            thumb_media_id,
        } => {
            out.push_str("<Music>");
            optional_element(&mut out, "Title", title.as_ref());
            optional_element(&mut out, "Description", description.as_ref());
            optional_element(&mut out, "MusicUrl", music_url.as_ref());
            optional_element(&mut out, "HQMusicUrl", hq_music_url.as_ref());
            element(&mut out, "ThumbMediaId", thumb_media_id);
            out.push_str("</Music>");
        }
        PassiveReply::News { articles } => {
            if articles.is_empty() || articles.len() > MAX_NEWS_ARTICLES {
                return Err(ReplyError::ArticleCount(articles.len()));
            }
            let _ = write!(
                out,
                "<ArticleCount>{}</ArticleCount><Articles>",
                articles.len()
            );
            for a in articles {
                out.push_str("<item>");
                element(&mut out, "Title", &a.title);
                element(&mut out, "Description", &a.description);
                element(&mut out, "PicUrl", &a.pic_url);
                element(&mut out, "Url", &a.url);
                out.push_str("</item>");
            }
            out.push_str("</Articles>");
        }
        PassiveReply::TransferCustomerService { kf_account } => {
            if let Some(kf) = kf_account {
                out.push_str("<TransInfo>");
                element(&mut out, "KfAccount", kf);
                out.push_str("</TransInfo>");
            }
        }
    }
    out.push_str("</xml>");
    Ok(out)
}

/// Encrypts a built reply for `account` with its current EncodingAESKey and the given random
/// prefix, and returns the envelope XML (reference §2.3.5). `timestamp` is the reply's own
/// time; `nonce` is usually the request's nonce echoed back.
pub fn encrypt_with_random(
    account: &WeChatAccount,
    reply_xml: &str,
    timestamp: i64,
    nonce: &str,
    random: &[u8; RANDOM_LEN],
) -> Result<String, ReplyError> {
    let key = account
        .encoding_aes_key
        .as_ref()
        .and_then(|k| AesKey::from_encoding_aes_key(k.expose()).ok())
        .ok_or(ReplyError::NoAesKey)?;
    Ok(EncryptedReply::seal_with_random(
        account.token.expose(),
        &key,
        &account.app_id,
        reply_xml,
        timestamp,
        nonce,
        random,
    )
    .to_xml())
}

/// [`encrypt_with_random`] with a fresh CSPRNG prefix (production).
pub fn encrypt(
    account: &WeChatAccount,
    reply_xml: &str,
    timestamp: i64,
    nonce: &str,
) -> Result<String, ReplyError> {
    encrypt_with_random(account, reply_xml, timestamp, nonce, &random_prefix())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::account::{ReplyMode, Secret, WeChatMode};
    use crate::channel::wechat::crypto;

    fn doc(x: &str) -> xml::XmlDoc {
        xml::parse_fields(x.as_bytes()).expect("reply parses")
    }

    #[test]
    fn text_reply_matches_the_documented_shape() {
        let x = build(
            "toUser",
            "fromUser",
            12345678,
            &PassiveReply::Text {
                content: "你好".into(),
            },
        )
        .expect("ok");
        assert_eq!(
            x,
            "<xml><ToUserName><![CDATA[toUser]]></ToUserName><FromUserName><![CDATA[fromUser]]></FromUserName>\
             <CreateTime>12345678</CreateTime><MsgType><![CDATA[text]]></MsgType><Content><![CDATA[你好]]></Content></xml>"
        );
    }

    #[test]
    fn cdata_terminator_in_content_survives() {
        let content = "a]]>b <x> & ]]]]> end";
        let x = build(
            "u",
            "gh",
            1,
            &PassiveReply::Text {
                content: content.into(),
            },
        )
        .expect("ok");
        assert!(x.contains("]]]]><![CDATA[>"));
        assert_eq!(doc(&x).get("Content"), Some(content));
    }

    #[test]
    fn every_reply_type_parses_back() {
        let cases = vec![
            (
                PassiveReply::Image {
                    media_id: "m1".into(),
                },
                "image",
                vec![("Image/MediaId", "m1")],
            ),
            (
                PassiveReply::Voice {
                    media_id: "m2".into(),
                },
                "voice",
                vec![("Voice/MediaId", "m2")],
            ),
            (
                PassiveReply::Video {
                    media_id: "m3".into(),
                    title: Some("t".into()),
                    description: None,
                },
                "video",
                vec![("Video/MediaId", "m3"), ("Video/Title", "t")],
            ),
            (
                PassiveReply::Music {
                    title: Some("t".into()),
                    description: None,
                    music_url: Some("http://m".into()),
                    hq_music_url: None,
                    thumb_media_id: "th".into(),
                },
                "music",
                vec![
                    ("Music/Title", "t"),
                    ("Music/MusicUrl", "http://m"),
                    ("Music/ThumbMediaId", "th"),
                ],
            ),
            (
                PassiveReply::News {
                    articles: vec![
                        Article {
                            title: "a".into(),
                            description: "d".into(),
                            pic_url: "p".into(),
                            url: "u".into(),
                        },
                        Article {
                            title: "b".into(),
                            ..Default::default()
                        },
                    ],
                },
                "news",
                vec![
                    ("ArticleCount", "2"),
                    ("Articles/item/Title", "a"),
                    ("Articles/item/Url", "u"),
                ],
            ),
            (
                PassiveReply::TransferCustomerService { kf_account: None },
                "transfer_customer_service",
                vec![],
            ),
            (
                PassiveReply::TransferCustomerService {
                    kf_account: Some("test1@test".into()),
                },
                "transfer_customer_service",
                vec![("TransInfo/KfAccount", "test1@test")],
            ),
        ];
        for (reply, msg_type, fields) in cases {
            let d = doc(&build("o1", "gh_1", 1399197672, &reply).expect("builds"));
            assert_eq!(d.get("ToUserName"), Some("o1"));
            assert_eq!(d.get("FromUserName"), Some("gh_1"));
            assert_eq!(d.get("CreateTime"), Some("1399197672"));
            assert_eq!(d.get("MsgType"), Some(msg_type));
            for (path, value) in fields {
                assert_eq!(d.get(path), Some(value), "{msg_type} {path}");
            }
        }
        let d = doc(&build(
            "o",
            "g",
            1,
            &PassiveReply::Video {
                media_id: "m".into(),
                title: None,
                description: None,
            },
        )
        .expect("ok"));
        assert!(!d.contains("Video/Title"));
    }

    #[test]
    fn news_article_count_is_bounded() {
        assert_eq!(
            build("o", "g", 1, &PassiveReply::News { articles: vec![] }),
            Err(ReplyError::ArticleCount(0))
        );
        let nine = vec![Article::default(); 9];
        assert_eq!(
            build("o", "g", 1, &PassiveReply::News { articles: nine }),
            Err(ReplyError::ArticleCount(9))
        );
    }

    #[test]
    fn encrypted_reply_envelope_decrypts_to_the_reply() {
        let account = WeChatAccount {
            app_id: "wxba5fad812f8e6fb9".into(),
            token: Secret::new("AAAAA"),
            encoding_aes_key: Some(Secret::new("AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA")),
            previous_encoding_aes_key: None,
            mode: WeChatMode::Secure,
            app_secret: None,
            reply_mode: ReplyMode::Passive,
            original_id: None,
            template_daily_limit: None,
        };
        let reply = build(
            "o",
            "gh",
            5,
            &PassiveReply::Text {
                content: "hi".into(),
            },
        )
        .expect("ok");
        let env = doc(&encrypt(&account, &reply, 1713424427, "415670741").expect("encrypts"));
        let enc = env.get("Encrypt").expect("Encrypt");
        assert_eq!(
            env.get("MsgSignature"),
            Some(crypto::msg_signature("AAAAA", "1713424427", "415670741", enc).as_str())
        );
        let key = AesKey::from_encoding_aes_key("AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA")
            .expect("key");
        assert_eq!(
            crypto::decrypt_for(&key, "wxba5fad812f8e6fb9", enc).expect("ok"),
            reply.as_bytes()
        );

        let plain = WeChatAccount {
            encoding_aes_key: None,
            ..account
        };
        assert_eq!(encrypt(&plain, &reply, 1, "n"), Err(ReplyError::NoAesKey));
    }
}
