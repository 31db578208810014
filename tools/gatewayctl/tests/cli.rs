//! `gatewayctl rules` as an operator runs it: exit codes and what it prints.
#![allow(clippy::unwrap_used)]

use std::process::Command;

fn gatewayctl(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_gatewayctl"))
        .args(args)
        .current_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/../.."))
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn rules_check_accepts_the_shipped_rules() {
    let (code, out, _) = gatewayctl(&["rules", "check", "config/rules.yaml"]);
    assert_eq!(code, 0);
    assert!(out.contains("valid"), "{out}");
}

#[test]
fn rules_check_refuses_a_bad_document_with_line_and_reason() {
    let dir = std::env::temp_dir().join(format!("gatewayctl-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let bad = dir.join("bad.yaml");
    std::fs::write(
        &bad,
        "version: 1\nrules:\n  - id: a\n    when: { kind: txt }\n    then: []\n",
    )
    .unwrap();
    let (code, _, err) = gatewayctl(&["rules", "check", bad.to_str().unwrap()]);
    assert_eq!(code, 1);
    assert!(err.contains("line 4"), "{err}");
    assert!(err.contains("txt"), "{err}");
}

#[test]
fn rules_explain_shows_what_fires_for_a_sample_message() {
    let batch: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../events/sqs/inbound-batch.json"
        ))
        .unwrap(),
    )
    .unwrap();
    let mut message: serde_json::Value =
        serde_json::from_str(batch["Records"][0]["body"].as_str().unwrap()).unwrap();
    message["content"] = serde_json::json!({"kind": "text", "text": "我要投诉"});
    let path = std::env::temp_dir().join(format!("gatewayctl-msg-{}.json", std::process::id()));
    std::fs::write(&path, message.to_string()).unwrap();
    let (code, out, err) = gatewayctl(&[
        "rules",
        "explain",
        "config/rules.yaml",
        path.to_str().unwrap(),
        "--at",
        "2026-11-23T10:00:00+08:00",
    ]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("crisis") && out.contains("FIRED"), "{out}");
    assert!(out.contains("escalate"), "{out}");
}
