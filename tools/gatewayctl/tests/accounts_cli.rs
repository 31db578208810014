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

#[tokio::test]
#[ignore = "needs the local AWS emulator (make test)"]
async fn push_writes_each_role_part_with_a_credential_process_profile() {
    use gateway_core::account::{AccountsDocument, AccountsRole};
    let endpoint = std::env::var("AWS_ENDPOINT_URL").expect("AWS_ENDPOINT_URL (make test)");
    let prefix = format!("cli{}", std::process::id());
    let accounts = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../config/accounts.local.json"
    );
    let sdk = gatewayctl::local::emulator_config(&endpoint).await;
    let text = std::fs::read_to_string(accounts).unwrap();
    gatewayctl::local::put_accounts_secret(
        &aws_sdk_secretsmanager::Client::new(&sdk),
        &prefix,
        r#"{"wechat":{},"weibo":{}}"#,
    )
    .await
    .unwrap();
    // Ops' profile gets its credentials from a credential_process (as with most SSO and
    // vault tools); no key in the environment.
    let dir = std::env::temp_dir().join(format!("accounts-cli-profile-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let config = dir.join("config");
    std::fs::write(
        &config,
        "[profile ops]\nregion = us-east-1\ncredential_process = printf '{\"Version\": 1, \"AccessKeyId\": \"AKIDPROCESS\", \"SecretAccessKey\": \"process-secret\"}'\n",
    )
    .unwrap();
    let secret = |role| gatewayctl::local::role_secret_id(&prefix, role);
    let out = Command::new(env!("CARGO_BIN_EXE_gatewayctl"))
        .args(["accounts", "push", accounts, "--webhook-secret"])
        .arg(secret(AccountsRole::Webhook))
        .arg("--delivery-secret")
        .arg(secret(AccountsRole::Delivery))
        .arg("--api-secret")
        .arg(secret(AccountsRole::ApiClients))
        .arg("--webhook-targets-secret")
        .arg(secret(AccountsRole::WebhookTargets))
        .env_remove("AWS_ACCESS_KEY_ID")
        .env_remove("AWS_SECRET_ACCESS_KEY")
        .env("AWS_PROFILE", "ops")
        .env("AWS_CONFIG_FILE", &config)
        .env("AWS_SHARED_CREDENTIALS_FILE", dir.join("none"))
        .env("AWS_ENDPOINT_URL", &endpoint)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let full = AccountsDocument::from_json(&text).unwrap();
    let sm = aws_sdk_secretsmanager::Client::new(&sdk);
    for role in [
        AccountsRole::Webhook,
        AccountsRole::Delivery,
        AccountsRole::ApiClients,
        AccountsRole::WebhookTargets,
    ] {
        let stored = sm
            .get_secret_value()
            .secret_id(secret(role))
            .send()
            .await
            .unwrap();
        let part = AccountsDocument::from_json_for(stored.secret_string().unwrap(), role).unwrap();
        assert_eq!(part, full.project(role), "{}", role.as_str());
    }
}
