#![allow(clippy::unwrap_used)]

use super::*;
use crate::account::{AccountsDocument, WeChatAccount};
use crate::delivery::ports::AccessTokens;
use crate::delivery::testing::{CountingTokens, MemoryUploadFiles};
use crate::desk::testing::ScriptedWeChatMedia;

const DAY_MS: i64 = 24 * 3600 * 1000;

fn account() -> WeChatAccount {
    AccountsDocument::from_json(
        r#"{"wechat":{"demo":{"app_id":"wx1","token":"t","app_secret":"s"}}}"#,
    )
    .expect("accounts")
    .wechat["demo"]
        .clone()
}

fn key(account: &str) -> String {
    format!("uploads/wechat/{account}/{}", "ab".repeat(32))
}

fn image(upload: &str) -> ReplyContent {
    ReplyContent::Image {
        media_id: String::new(),
        upload: Some(upload.into()),
    }
}

struct World {
    files: MemoryUploadFiles,
    wechat: ScriptedWeChatMedia,
    tokens: CountingTokens,
}

impl World {
    fn new() -> Self {
        let w = World {
            files: MemoryUploadFiles::default(),
            wechat: ScriptedWeChatMedia::default(),
            tokens: CountingTokens::default(),
        };
        w.files.insert(&key("demo"), "image/png", b"\x89PNG file");
        w
    }
    async fn resolve(
        &self,
        content: &ReplyContent,
        now_ms: i64,
    ) -> Result<Option<ReplyContent>, ResolveError> {
        let uploads = Uploads {
            files: &self.files,
            ids: &self.files,
            wechat: &self.wechat,
        };
        let token = self.tokens.token("demo", &account(), now_ms).await?;
        resolve(content, "demo", &uploads, &self.tokens, &token, now_ms).await
    }
    fn uploads(&self) -> usize {
        self.wechat.calls.lock().unwrap().len()
    }
}

#[tokio::test]
async fn a_file_is_uploaded_once_per_three_days_and_its_id_reused_meanwhile() {
    let w = World::new();
    let t0 = 1_000 * DAY_MS;
    let first = w.resolve(&image(&key("demo")), t0).await.expect("resolved");
    assert_eq!(
        first,
        Some(ReplyContent::Image {
            media_id: "media-1".into(),
            upload: None
        })
    );
    {
        let calls = w.wechat.calls.lock().unwrap();
        let (_, kind, name, content_type, body) = &calls[0];
        assert_eq!(
            (*kind, content_type.as_str()),
            (MediaKind::Image, "image/png")
        );
        assert_eq!(name, &format!("{}.png", "ab".repeat(8)));
        assert_eq!(body.as_slice(), b"\x89PNG file");
    }
    // Two days later: the same id, no upload.
    let again = w
        .resolve(&image(&key("demo")), t0 + 2 * DAY_MS)
        .await
        .expect("resolved");
    assert_eq!(again, first);
    assert_eq!(w.uploads(), 1);
    // Within the last hour of the three days: uploaded again, the new id kept.
    let later = w
        .resolve(&image(&key("demo")), t0 + 3 * DAY_MS - REUSE_MARGIN_MS / 2)
        .await
        .expect("resolved");
    assert_eq!(w.uploads(), 2);
    assert!(
        matches!(later, Some(ReplyContent::Image { ref media_id, .. }) if media_id == "media-2")
    );
}

#[tokio::test]
async fn a_reply_without_a_file_is_left_alone_and_a_video_keeps_its_title() {
    let w = World::new();
    let plain = ReplyContent::Image {
        media_id: "m".into(),
        upload: None,
    };
    assert_eq!(w.resolve(&plain, 0).await.expect("ok"), None);
    let video = ReplyContent::Video {
        media_id: String::new(),
        upload: Some(key("demo")),
        thumb_media_id: None,
        title: Some("说明".into()),
        description: None,
    };
    let Some(ReplyContent::Video {
        media_id,
        upload,
        title,
        ..
    }) = w.resolve(&video, 0).await.expect("ok")
    else {
        panic!("a video")
    };
    assert_eq!(
        (media_id.as_str(), upload, title.as_deref()),
        ("media-1", None, Some("说明"))
    );
    assert_eq!(w.wechat.calls.lock().unwrap()[0].1, MediaKind::Video);
    assert_eq!(w.uploads(), 1);
}

#[tokio::test]
async fn another_accounts_file_and_a_missing_file_are_refused_without_an_upload() {
    let w = World::new();
    w.files.insert(&key("other"), "image/png", b"theirs");
    let err = w
        .resolve(&image(&key("other")), 0)
        .await
        .expect_err("not ours");
    assert!(
        matches!(err, ResolveError::Missing(ref m) if m.contains("not a file of")),
        "{err}"
    );
    let gone = format!("uploads/wechat/demo/{}", "cd".repeat(32));
    let err = w.resolve(&image(&gone), 0).await.expect_err("gone");
    assert!(
        matches!(err, ResolveError::Missing(ref m) if m.contains("no file")),
        "{err}"
    );
    assert_eq!(w.uploads(), 0);
}

#[tokio::test]
async fn a_refused_token_is_expired_for_the_next_attempt_and_a_refusal_is_reported() {
    let w = World::new();
    let refused = |code: i64, disposition| {
        Err(CallError::Platform(PlatformError {
            channel: Channel::WeChat,
            code,
            message: "x".into(),
            disposition,
        }))
    };
    w.wechat.then(refused(40001, Disposition::RefreshToken));
    let err = w
        .resolve(&image(&key("demo")), 0)
        .await
        .expect_err("refused token");
    assert!(matches!(err.failure(), Failure::Retry(_)));
    // The next attempt gets a fresh token (the refused one was expired) and succeeds.
    let ok = w
        .resolve(&image(&key("demo")), 0)
        .await
        .expect("with a fresh token");
    assert!(ok.is_some());
    {
        let calls = w.wechat.calls.lock().unwrap();
        assert_eq!(
            (calls[0].0.as_str(), calls[1].0.as_str()),
            ("token-1", "token-2")
        );
    }
    let w = World::new();
    w.wechat.then(refused(40004, Disposition::Permanent));
    let err = w
        .resolve(&image(&key("demo")), 0)
        .await
        .expect_err("refused");
    assert!(
        matches!(err, ResolveError::Platform(ref e) if e.code == 40004),
        "{err}"
    );
    assert!(matches!(err.failure(), Failure::DeadLetter(ref code, _) if code == "wechat:40004"));
    assert!(w.files.ids.lock().unwrap().is_empty(), "nothing cached");
}
