//! `gatewayctl accounts check`: the same validation the functions apply, as ops run it before
//! putting a new secret.
#![allow(clippy::unwrap_used)]

use std::process::Command;

fn check(document: &str) -> (i32, String, String) {
    let dir = std::env::temp_dir().join(format!("accounts-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join(format!("{}.json", document.len()));
    std::fs::write(&file, document).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_gatewayctl"))
        .args(["accounts", "check"])
        .arg(&file)
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn the_local_document_is_valid() {
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../config/accounts.local.json"
    ))
    .unwrap();
    let (code, out, err) = check(&text);
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        out.contains("valid (3 WeChat, 2 Weibo account(s), 1 API client(s))"),
        "{out}"
    );
}

#[test]
fn an_invalid_document_exits_1_with_the_reason_and_no_secret() {
    for (document, reason) in [
        (
            r#"{"wechat":{"a":{"app_id":"wx1","token":"TOPSECRET-TOKEN"}},"api_clients":{"crm":{"secret":"TOPSECRET-0123456789"}}}"#,
            "accounts is required",
        ),
        (
            r#"{"wechat":{"a":{"app_id":"wx1","token":"TOPSECRET-TOKEN","mode":"secure"}}}"#,
            "need an encoding_aes_key",
        ),
        (
            r#"{"wechat":{"a":{"app_id":"wx1","token":["TOPSECRET-TOKEN"]}}}"#,
            "line 1",
        ),
    ] {
        let (code, out, err) = check(document);
        assert_eq!(code, 1, "{document}: {out}{err}");
        assert!(
            err.contains("invalid, nothing written") && err.contains(reason),
            "{err}"
        );
        assert!(!format!("{out}{err}").contains("TOPSECRET"), "{out}{err}");
    }
}
