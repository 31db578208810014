//! Sends requests exactly as WeChat and Weibo would (correctly signed, optionally encrypted)
//! to a running webhook: the local stack under `cargo lambda watch`, or a deployed API for a
//! smoke test. Builds simple messages (text, events) with the current time.

use anyhow::{Context, Result, anyhow};
use gateway_core::account::AccountsDocument;
use gateway_core::channel::{HttpMethod, wechat, weibo};
use std::collections::BTreeMap;

/// WeChat original id used by the generated messages' `ToUserName`.
pub const WECHAT_ACCOUNT_ORIGINAL_ID: &str = "gh_97417a04a28d";

/// What a platform request is made of.
#[derive(Debug, Clone)]
pub struct PlatformRequest {
    /// GET or POST.
    pub method: HttpMethod,
    /// Query parameters.
    pub query: BTreeMap<String, String>,
    /// Body.
    pub body: Vec<u8>,
}

impl From<wechat::simulate::SimulatedRequest> for PlatformRequest {
    fn from(r: wechat::simulate::SimulatedRequest) -> Self {
        PlatformRequest {
            method: r.method,
            query: r.query,
            body: r.body,
        }
    }
}

impl From<weibo::simulate::SimulatedRequest> for PlatformRequest {
    fn from(r: weibo::simulate::SimulatedRequest) -> Self {
        PlatformRequest {
            method: r.method,
            query: r.query,
            body: r.body,
        }
    }
}

/// Unix seconds now.
pub fn now_secs() -> i64 {
    chrono::Utc::now().timestamp()
}

/// A fresh nonce.
pub fn nonce() -> String {
    format!("{}", chrono::Utc::now().timestamp_subsec_nanos())
}

fn cdata(s: &str) -> String {
    format!("<![CDATA[{}]]>", s.replace("]]>", "]]]]><![CDATA[>"))
}

/// A WeChat text message as the platform pushes it.
pub fn wechat_text_xml(from: &str, text: &str, msg_id: &str, create_time: i64) -> String {
    format!(
        "<xml><ToUserName>{}</ToUserName><FromUserName>{}</FromUserName><CreateTime>{create_time}</CreateTime><MsgType><![CDATA[text]]></MsgType><Content>{}</Content><MsgId>{msg_id}</MsgId></xml>",
        cdata(WECHAT_ACCOUNT_ORIGINAL_ID),
        cdata(from),
        cdata(text)
    )
}

/// The `TEMPLATESENDJOBFINISH` event WeChat pushes when a template message to `to` (an
/// OpenID) finished: `status` is `success`, `failed:user block` or `failed: system failed`
/// (<https://developers.weixin.qq.com/doc/offiaccount/Message_Management/Template_Message_Interface.html>).
pub fn wechat_template_finish_xml(to: &str, msgid: &str, status: &str, create_time: i64) -> String {
    format!(
        "<xml><ToUserName>{}</ToUserName><FromUserName>{}</FromUserName><CreateTime>{create_time}</CreateTime><MsgType><![CDATA[event]]></MsgType><Event><![CDATA[TEMPLATESENDJOBFINISH]]></Event><MsgID>{msgid}</MsgID><Status>{}</Status></xml>",
        cdata(WECHAT_ACCOUNT_ORIGINAL_ID),
        cdata(to),
        cdata(status)
    )
}

/// `gatewayctl send wechat`'s media messages: one of `--image`, `--voice` (with
/// `--recognition`), `--video` (with `--thumb`), each a platform `MediaId`.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct WeChatMediaArgs {
    /// An image message instead of text, with this `MediaId`.
    #[arg(long, conflicts_with_all = ["text", "event", "location"])]
    pub image: Option<String>,
    /// A voice message (AMR) instead of text, with this `MediaId`.
    #[arg(long, conflicts_with_all = ["text", "event", "location", "image"])]
    pub voice: Option<String>,
    /// The voice message's speech recognition (`Recognition`).
    #[arg(long, requires = "voice")]
    pub recognition: Option<String>,
    /// A video message instead of text, with this `MediaId` (and --thumb).
    #[arg(long, conflicts_with_all = ["text", "event", "location", "image", "voice"], requires = "thumb")]
    pub video: Option<String>,
    /// The video's thumbnail `ThumbMediaId`.
    #[arg(long, requires = "video")]
    pub thumb: Option<String>,
}

impl WeChatMediaArgs {
    /// Whether a media message was asked for.
    pub fn is_some(&self) -> bool {
        self.image.is_some() || self.voice.is_some() || self.video.is_some()
    }

    /// The message's XML (an image when nothing was asked for).
    pub fn xml(&self, from: &str, msg_id: &str, create_time: i64) -> String {
        match (&self.voice, &self.video) {
            (Some(voice), _) => wechat_voice_xml(
                from,
                voice,
                self.recognition.as_deref(),
                msg_id,
                create_time,
            ),
            (None, Some(video)) => wechat_video_xml(
                from,
                video,
                self.thumb.as_deref().unwrap_or_default(),
                msg_id,
                create_time,
            ),
            (None, None) => wechat_image_xml(
                from,
                self.image.as_deref().unwrap_or_default(),
                msg_id,
                create_time,
            ),
        }
    }
}

/// A WeChat image message as the platform pushes it: `PicUrl` (a link to the picture on
/// WeChat's servers) and `MediaId` (what the media API downloads it by).
pub fn wechat_image_xml(from: &str, media_id: &str, msg_id: &str, create_time: i64) -> String {
    format!(
        "<xml><ToUserName>{}</ToUserName><FromUserName>{}</FromUserName><CreateTime>{create_time}</CreateTime><MsgType><![CDATA[image]]></MsgType><PicUrl>{}</PicUrl><MediaId>{}</MediaId><MsgId>{msg_id}</MsgId></xml>",
        cdata(WECHAT_ACCOUNT_ORIGINAL_ID),
        cdata(from),
        cdata(&format!("http://mmbiz.qpic.cn/mmbiz/{media_id}/0")),
        cdata(media_id)
    )
}

/// A WeChat voice message (AMR) as the platform pushes it, with WeChat's speech recognition
/// when given.
pub fn wechat_voice_xml(
    from: &str,
    media_id: &str,
    recognition: Option<&str>,
    msg_id: &str,
    create_time: i64,
) -> String {
    let recognition = recognition
        .map(|r| format!("<Recognition>{}</Recognition>", cdata(r)))
        .unwrap_or_default();
    format!(
        "<xml><ToUserName>{}</ToUserName><FromUserName>{}</FromUserName><CreateTime>{create_time}</CreateTime><MsgType><![CDATA[voice]]></MsgType><MediaId>{}</MediaId><Format><![CDATA[amr]]></Format>{recognition}<MsgId>{msg_id}</MsgId></xml>",
        cdata(WECHAT_ACCOUNT_ORIGINAL_ID),
        cdata(from),
        cdata(media_id)
    )
}

/// A WeChat video message as the platform pushes it: the video's and its thumbnail's ids.
pub fn wechat_video_xml(
    from: &str,
    media_id: &str,
    thumb_media_id: &str,
    msg_id: &str,
    create_time: i64,
) -> String {
    format!(
        "<xml><ToUserName>{}</ToUserName><FromUserName>{}</FromUserName><CreateTime>{create_time}</CreateTime><MsgType><![CDATA[video]]></MsgType><MediaId>{}</MediaId><ThumbMediaId>{}</ThumbMediaId><MsgId>{msg_id}</MsgId></xml>",
        cdata(WECHAT_ACCOUNT_ORIGINAL_ID),
        cdata(from),
        cdata(media_id),
        cdata(thumb_media_id)
    )
}

/// A WeChat location message (`Location_X` latitude, `Location_Y` longitude) as the platform
/// pushes it.
pub fn wechat_location_xml(
    from: &str,
    (latitude, longitude): (f64, f64),
    label: &str,
    msg_id: &str,
    create_time: i64,
) -> String {
    format!(
        "<xml><ToUserName>{}</ToUserName><FromUserName>{}</FromUserName><CreateTime>{create_time}</CreateTime><MsgType><![CDATA[location]]></MsgType><Location_X>{latitude}</Location_X><Location_Y>{longitude}</Location_Y><Scale>15</Scale><Label>{}</Label><MsgId>{msg_id}</MsgId></xml>",
        cdata(WECHAT_ACCOUNT_ORIGINAL_ID),
        cdata(from),
        cdata(label)
    )
}

/// `LAT,LNG` or `LAT,LNG,LABEL` (degrees).
pub fn parse_location(s: &str) -> Result<((f64, f64), String)> {
    let mut parts = s.splitn(3, ',');
    let mut degrees = |what: &str| -> Result<f64> {
        let v = parts.next().unwrap_or_default().trim();
        v.parse::<f64>()
            .ok()
            .filter(|d| d.is_finite())
            .ok_or_else(|| anyhow!("--location: {what} `{v}` is not a number (LAT,LNG[,LABEL])"))
    };
    let (lat, lng) = (degrees("latitude")?, degrees("longitude")?);
    Ok((
        (lat, lng),
        parts.next().unwrap_or_default().trim().to_string(),
    ))
}

/// A WeChat event (`subscribe`, `CLICK`, …) as the platform pushes it.
pub fn wechat_event_xml(from: &str, event: &str, key: Option<&str>, create_time: i64) -> String {
    let key = key
        .map(|k| format!("<EventKey>{}</EventKey>", cdata(k)))
        .unwrap_or_default();
    format!(
        "<xml><ToUserName>{}</ToUserName><FromUserName>{}</FromUserName><CreateTime>{create_time}</CreateTime><MsgType><![CDATA[event]]></MsgType><Event>{}</Event>{key}</xml>",
        cdata(WECHAT_ACCOUNT_ORIGINAL_ID),
        cdata(from),
        cdata(event)
    )
}

/// A Weibo event push body.
pub fn weibo_event_json(receiver: &str, sender: &str, subtype: &str, created_at: &str) -> String {
    serde_json::json!({
        "type": "event",
        "receiver_id": receiver.parse::<u64>().unwrap_or_default(),
        "sender_id": sender.parse::<u64>().unwrap_or_default(),
        "created_at": created_at,
        "text": "",
        "data": { "subtype": subtype },
    })
    .to_string()
}

/// Signs (and for encrypted envelopes encrypts) a WeChat push of `inner_xml` for `account`.
pub fn wechat_push(
    accounts: &AccountsDocument,
    account: &str,
    inner_xml: &str,
    envelope: wechat::simulate::Envelope,
    timestamp: i64,
) -> Result<PlatformRequest> {
    let acc = accounts
        .wechat
        .get(account)
        .ok_or_else(|| anyhow!("no WeChat account `{account}` in the accounts document"))?;
    Ok(wechat::simulate::push(acc, inner_xml, timestamp, &nonce(), envelope)?.into())
}

/// Signs a Weibo push of `body` for `account`.
pub fn weibo_push(
    accounts: &AccountsDocument,
    account: &str,
    body: &str,
    timestamp_ms: i64,
) -> Result<PlatformRequest> {
    let acc = accounts
        .weibo
        .get(account)
        .ok_or_else(|| anyhow!("no Weibo account `{account}` in the accounts document"))?;
    Ok(weibo::simulate::push(acc, body.as_bytes().to_vec(), timestamp_ms, &nonce()).into())
}

/// Sends `request` to `url` and returns the status and body.
pub async fn send(
    http: &reqwest::Client,
    url: &str,
    request: &PlatformRequest,
) -> Result<(u16, String)> {
    let builder = match request.method {
        HttpMethod::Get => http.get(url),
        _ => {
            let content_type = if request.body.first() == Some(&b'{') {
                "application/json"
            } else {
                "text/xml"
            };
            http.post(url)
                .header("content-type", content_type)
                .body(request.body.clone())
        }
    };
    let response = builder
        .query(&request.query)
        .send()
        .await
        .with_context(|| format!("send to {url}"))?;
    let status = response.status().as_u16();
    Ok((status, response.text().await.unwrap_or_default()))
}

/// [`send`], and the same request again after a 5xx or no answer, up to `retries` times, one
/// second apart (the platforms retry a push that was not acknowledged, unchanged).
pub async fn send_retrying(
    http: &reqwest::Client,
    url: &str,
    request: &PlatformRequest,
    retries: u32,
) -> Result<(u16, String)> {
    let mut attempt = 0;
    loop {
        let answer = send(http, url, request).await;
        let retry = match &answer {
            Ok((status, _)) => *status >= 500,
            Err(_) => true,
        };
        if !retry || attempt >= retries {
            return answer;
        }
        attempt += 1;
        match &answer {
            Ok((status, body)) => {
                eprintln!("{url} -> {status} {body}; sending it again ({attempt}/{retries})")
            }
            Err(e) => eprintln!("{url}: {e:#}; sending it again ({attempt}/{retries})"),
        }
        tokio::time::sleep(std::time::Duration::from_secs(1)).await;
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use gateway_core::channel::wechat::parse::{Received, normalize};
    use gateway_core::message::Content;

    #[test]
    fn a_location_is_latitude_longitude_and_an_optional_label() {
        assert_eq!(
            parse_location("31.2304, 121.4737, 上海, 人民广场").unwrap(),
            ((31.2304, 121.4737), "上海, 人民广场".to_string())
        );
        assert_eq!(parse_location("1,2").unwrap(), ((1.0, 2.0), String::new()));
        for bad in ["", "31.2", "north,121", "31,inf"] {
            let e = parse_location(bad).unwrap_err().to_string();
            assert!(
                e.contains("is not a number (LAT,LNG[,LABEL])"),
                "{bad}: {e}"
            );
        }
    }

    #[test]
    fn the_image_message_is_what_the_gateway_reads_as_an_image() {
        let xml = wechat_image_xml("oUser", "MEDIA_1", "42", 1_700_000_000);
        let m = normalize(
            &xml,
            Received {
                account_id: "demo",
                received_at_ms: 1_700_000_000_000,
            },
        )
        .unwrap();
        match m.content {
            Content::Image { media_id, .. } => assert_eq!(media_id.as_deref(), Some("MEDIA_1")),
            other => panic!("not an image: {other:?}"),
        }
    }

    #[test]
    fn voice_and_video_messages_are_what_the_gateway_reads() {
        let at = Received {
            account_id: "demo",
            received_at_ms: 1_700_000_000_000,
        };
        let voice = wechat_voice_xml("oUser", "V1", Some("你好"), "43", 1_700_000_000);
        match normalize(&voice, at).unwrap().content {
            Content::Voice {
                media_id,
                format,
                recognition,
                ..
            } => {
                assert_eq!(media_id.as_deref(), Some("V1"));
                assert_eq!(format.as_deref(), Some("amr"));
                assert_eq!(recognition.as_deref(), Some("你好"));
            }
            other => panic!("not a voice note: {other:?}"),
        }
        let video = wechat_video_xml("oUser", "M1", "T1", "44", 1_700_000_000);
        match normalize(&video, at).unwrap().content {
            Content::Video {
                media_id,
                thumb_media_id,
                ..
            } => {
                assert_eq!(media_id.as_deref(), Some("M1"));
                assert_eq!(thumb_media_id.as_deref(), Some("T1"));
            }
            other => panic!("not a video: {other:?}"),
        }
    }

    #[test]
    fn the_location_message_is_what_the_gateway_reads_as_a_location() {
        let xml = wechat_location_xml(
            "oUser",
            (31.2304, 121.4737),
            "人民广场",
            "42",
            1_700_000_000,
        );
        let m = normalize(
            &xml,
            Received {
                account_id: "demo",
                received_at_ms: 1_700_000_000_000,
            },
        )
        .unwrap();
        match m.content {
            Content::Location {
                latitude,
                longitude,
                label,
                ..
            } => {
                assert_eq!((latitude, longitude), (31.2304, 121.4737));
                assert_eq!(label.as_deref(), Some("人民广场"));
            }
            other => panic!("not a location: {other:?}"),
        }
    }

    /// A server answering each connection with the next status of `statuses`, and what it got.
    async fn server(statuses: Vec<u16>) -> (String, tokio::task::JoinHandle<Vec<String>>) {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/weibo/brand", listener.local_addr().unwrap());
        let handle = tokio::spawn(async move {
            let mut seen = Vec::new();
            for status in statuses {
                let (mut socket, _) = listener.accept().await.unwrap();
                let mut buf = vec![0u8; 8192];
                let n = socket.read(&mut buf).await.unwrap();
                let text = String::from_utf8_lossy(&buf[..n]).to_string();
                seen.push(text.split("\r\n\r\n").nth(1).unwrap_or("").to_string());
                let reply = format!(
                    "HTTP/1.1 {status} X\r\ncontent-length: 2\r\nconnection: close\r\n\r\nok"
                );
                socket.write_all(reply.as_bytes()).await.unwrap();
            }
            seen
        });
        (url, handle)
    }

    fn push() -> PlatformRequest {
        PlatformRequest {
            method: HttpMethod::Post,
            query: BTreeMap::new(),
            body: br#"{"text":"hi"}"#.to_vec(),
        }
    }

    #[test]
    fn a_push_answered_5xx_is_sent_again_unchanged_and_a_4xx_is_not() {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async {
            let http = crate::http_client();
            let (url, seen) = server(vec![503, 200]).await;
            let (status, _) = send_retrying(&http, &url, &push(), 2).await.unwrap();
            assert_eq!(status, 200);
            assert_eq!(seen.await.unwrap(), [r#"{"text":"hi"}"#; 2]);

            let (url, seen) = server(vec![503]).await;
            let (status, _) = send_retrying(&http, &url, &push(), 0).await.unwrap();
            assert_eq!(status, 503);
            assert_eq!(seen.await.unwrap().len(), 1);

            let (url, seen) = server(vec![401]).await;
            let (status, _) = send_retrying(&http, &url, &push(), 2).await.unwrap();
            assert_eq!(status, 401);
            assert_eq!(seen.await.unwrap().len(), 1);
        });
    }
}
