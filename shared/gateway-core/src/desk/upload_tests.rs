#![allow(clippy::unwrap_used)]

use super::*;
use crate::delivery::testing::CountingTokens;
use crate::desk::testing::{MemoryUploads, ScriptedWeChatMedia};

const NOW: i64 = 1_795_428_000_000;

fn png(len: usize) -> Vec<u8> {
    let mut v = b"\x89PNG\r\n\x1a\n".to_vec();
    v.resize(len, 7);
    v
}

fn jpeg(len: usize) -> Vec<u8> {
    let mut v = vec![0xFF, 0xD8, 0xFF, 0xE0];
    v.resize(len, 1);
    v
}

fn account() -> WeChatAccount {
    serde_json::from_value(serde_json::json!({"app_id": "wx1", "app_secret": "s"})).unwrap()
}

fn platform_error(code: i64) -> CallError {
    CallError::Platform(
        parse_upload_answer(&format!(r#"{{"errcode":{code},"errmsg":"e"}}"#))
            .unwrap()
            .unwrap_err(),
    )
}

struct Fixture {
    store: MemoryUploads,
    tokens: CountingTokens,
    wechat: ScriptedWeChatMedia,
    account: WeChatAccount,
}

impl Fixture {
    fn new() -> Self {
        Fixture {
            store: MemoryUploads::default(),
            tokens: CountingTokens::default(),
            wechat: ScriptedWeChatMedia {
                created_at: NOW / 1000 - 5,
                ..Default::default()
            },
            account: account(),
        }
    }

    async fn upload(&self, body: &[u8], kind: Option<MediaKind>) -> Result<Uploaded, UploadError> {
        let request = UploadRequest {
            account_id: "demo",
            account: &self.account,
            kind,
            body,
            now_ms: NOW,
        };
        upload(request, &self.store, &self.tokens, &self.wechat).await
    }
}

#[tokio::test]
async fn a_picture_is_kept_under_its_digest_then_sent_as_an_image() {
    let f = Fixture::new();
    let body = png(2_000);
    let up = f.upload(&body, None).await.unwrap();
    let sha = hex::encode(Sha256::digest(&body));
    assert_eq!(
        up,
        Uploaded {
            media_id: "media-1".into(),
            kind: MediaKind::Image,
            expires_at_ms: (NOW / 1000 - 5) * 1000 + 259_200_000,
            upload_key: format!("uploads/wechat/demo/{sha}"),
            bytes: 2_000,
            sha256: sha.clone(),
            content_type: "image/png",
        }
    );
    let objects = f.store.objects.lock().unwrap().clone();
    assert_eq!(
        objects[&up.upload_key],
        ("image/png".to_string(), sha.clone(), body.clone())
    );
    let calls = f.wechat.calls.lock().unwrap().clone();
    assert_eq!(calls.len(), 1);
    let (token, kind, filename, content_type, sent) = &calls[0];
    assert_eq!(
        (token.as_str(), *kind, content_type.as_str()),
        ("token-1", MediaKind::Image, "image/png")
    );
    assert_eq!(filename, &format!("{}.png", &sha[..16]));
    assert_eq!(sent, &body);
    // The same bytes again: the same key (one object), a new upload to WeChat.
    let again = f.upload(&body, None).await.unwrap();
    assert_eq!(again.upload_key, up.upload_key);
    assert_eq!(again.media_id, "media-2");
    assert_eq!(f.store.objects.lock().unwrap().len(), 1);
}

#[tokio::test]
async fn the_type_comes_from_the_bytes_and_must_fit_what_was_asked() {
    let f = Fixture::new();
    assert!(matches!(
        f.upload(b"<html><script>", None).await,
        Err(UploadError::UnknownType)
    ));
    assert!(matches!(
        f.upload(&png(100), Some(MediaKind::Voice)).await,
        Err(UploadError::WrongType {
            format: Format::Png,
            kind: MediaKind::Voice
        })
    ));
    assert!(matches!(
        f.upload(&png(100), Some(MediaKind::Thumb)).await,
        Err(UploadError::WrongType { .. })
    ));
    let thumb = f
        .upload(&jpeg(65_536), Some(MediaKind::Thumb))
        .await
        .unwrap();
    assert_eq!(thumb.kind, MediaKind::Thumb);
    assert!(matches!(
        f.upload(&jpeg(65_537), Some(MediaKind::Thumb)).await,
        Err(UploadError::TooLarge {
            bytes: 65_537,
            limit: 65_536,
            kind: MediaKind::Thumb
        })
    ));
    let mut amr = b"#!AMR\n".to_vec();
    amr.resize(2 * 1024 * 1024 + 1, 0);
    assert!(matches!(
        f.upload(&amr, None).await,
        Err(UploadError::TooLarge {
            kind: MediaKind::Voice,
            ..
        })
    ));
    // Nothing refused reached the bucket or WeChat.
    assert_eq!(f.store.objects.lock().unwrap().len(), 1);
    assert_eq!(f.wechat.calls.lock().unwrap().len(), 1);
}

#[tokio::test]
async fn a_refused_token_is_replaced_once_and_other_errors_keep_their_code() {
    let f = Fixture::new();
    f.wechat.then(Err(platform_error(40001)));
    let up = f.upload(&png(10), None).await.unwrap();
    assert_eq!(up.media_id, "media-2");
    let tokens: Vec<String> = f
        .wechat
        .calls
        .lock()
        .unwrap()
        .iter()
        .map(|c| c.0.clone())
        .collect();
    assert_eq!(tokens, ["token-1", "token-2"]);

    // Refused twice: the second refusal is the answer, no third call.
    let f = Fixture::new();
    f.wechat.then(Err(platform_error(42001)));
    f.wechat.then(Err(platform_error(42001)));
    match f.upload(&png(10), None).await {
        Err(UploadError::Platform(e)) => assert_eq!(e.code, 42001),
        other => panic!("{other:?}"),
    }
    assert_eq!(f.wechat.calls.lock().unwrap().len(), 2);

    let f = Fixture::new();
    f.wechat.then(Err(platform_error(40004)));
    match f.upload(&png(10), None).await {
        Err(UploadError::Platform(e)) => {
            assert_eq!((e.code, e.disposition), (40004, Disposition::Permanent))
        }
        other => panic!("{other:?}"),
    }
    let f = Fixture::new();
    f.wechat.then(Err(CallError::uncertain("timed out")));
    assert!(matches!(
        f.upload(&png(10), None).await,
        Err(UploadError::Unreachable(_))
    ));
}

#[tokio::test]
async fn without_a_bucket_or_a_token_nothing_reaches_wechat() {
    let mut f = Fixture::new();
    f.store.fail = true;
    assert!(matches!(
        f.upload(&png(10), None).await,
        Err(UploadError::Store(_))
    ));
    f.store.fail = false;
    *f.tokens.fail_with.lock().unwrap() = Some(PlatformError {
        channel: Channel::WeChat,
        code: 40164,
        message: "invalid ip".into(),
        disposition: Disposition::Permanent,
    });
    assert!(matches!(
        f.upload(&png(10), None).await,
        Err(UploadError::Token(TokenError::Platform(_)))
    ));
    assert!(f.wechat.calls.lock().unwrap().is_empty());
}

#[test]
fn wechats_answers_are_read_as_documented() {
    assert_eq!(
        parse_upload_answer(r#"{"type":"image","media_id":"M1","created_at":1700000000}"#),
        Some(Ok(WeChatUploaded {
            kind: "image".into(),
            media_id: "M1".into(),
            created_at: 1_700_000_000
        }))
    );
    // A thumbnail's id is `thumb_media_id`.
    assert_eq!(
        parse_upload_answer(r#"{"type":"thumb","thumb_media_id":"T1","created_at":1}"#)
            .unwrap()
            .unwrap()
            .media_id,
        "T1"
    );
    let e = parse_upload_answer(r#"{"errcode":40005,"errmsg":"invalid file type"}"#)
        .unwrap()
        .unwrap_err();
    assert_eq!(
        (e.code, e.disposition, e.message.as_str()),
        (40005, Disposition::Permanent, "invalid file type")
    );
    assert_eq!(
        parse_upload_answer(r#"{"errcode":40001,"errmsg":"x"}"#)
            .unwrap()
            .unwrap_err()
            .disposition,
        Disposition::RefreshToken
    );
    assert_eq!(parse_upload_answer("<html>busy</html>"), None);
    assert_eq!(
        upload_key(Channel::WeChat, "demo.cn", "ab").unwrap(),
        "uploads/wechat/demo%2Ecn/ab"
    );
}
