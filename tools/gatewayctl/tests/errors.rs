//! How `gatewayctl` reports errors: one line on stderr, `gatewayctl: <error>: <cause>…`, never
//! a backtrace or a `Caused by:` list, and the exit status says whose problem it is (2: the
//! command line or an input file, 1: the command ran and failed).
#![allow(clippy::unwrap_used)]

use std::process::Command;

const USAGE: i32 = 2;
const FAILURE: i32 = 1;

/// Runs gatewayctl from the repository root with backtraces requested (as a developer's shell
/// may have them), so that a printed backtrace would show.
fn gatewayctl(args: &[&str]) -> (i32, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_gatewayctl"))
        .args(args)
        .current_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/../.."))
        .env("RUST_BACKTRACE", "1")
        .env("RUST_LIB_BACKTRACE", "1")
        .env_remove("TABLE_NAME")
        .env_remove("GATEWAY_ACCOUNTS_FILE")
        .env_remove("GATEWAY_DESK_USERS_FILE")
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Asserts the error report is one line starting `gatewayctl: ` holding every `needle`.
fn assert_one_line(args: &[&str], code: i32, needles: &[&str]) {
    let (actual, stderr) = gatewayctl(args);
    let context = format!("gatewayctl {}\n{stderr}", args.join(" "));
    assert_eq!(actual, code, "exit status of {context}");
    assert_eq!(stderr.lines().count(), 1, "one line on stderr: {context}");
    assert!(stderr.starts_with("gatewayctl: "), "{context}");
    assert!(!stderr.contains("Caused by"), "{context}");
    assert!(!stderr.contains("backtrace"), "{context}");
    for needle in needles {
        assert!(stderr.contains(needle), "`{needle}` in {context}");
    }
}

#[test]
fn a_missing_input_file_is_a_usage_error_with_the_path_and_the_os_reason() {
    assert_one_line(
        &["rules", "check", "no/such/rules.yaml"],
        USAGE,
        &["gatewayctl: read no/such/rules.yaml: No such file or directory"],
    );
    assert_one_line(
        &[
            "send",
            "wechat",
            "--accounts",
            "no/such/accounts.json",
            "--account",
            "demo",
            "--from",
            "oUser",
        ],
        USAGE,
        &["read no/such/accounts.json: No such file or directory"],
    );
}

#[test]
fn a_bad_command_line_is_one_line_with_the_usage() {
    assert_one_line(
        &["rules", "check", "--bogus", "config/rules.yaml"],
        USAGE,
        &[
            "unexpected argument '--bogus'",
            "usage: gatewayctl rules check <FILE>",
        ],
    );
    assert_one_line(
        &["rules", "push", "config/rules.yaml"],
        USAGE,
        &["required arguments were not provided: --table <TABLE>"],
    );
    assert_one_line(
        &["rulez"],
        USAGE,
        &["unrecognized subcommand 'rulez'", "'rules'"],
    );
}

#[test]
fn an_unusable_input_is_a_usage_error() {
    let (batch, message) = (
        std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../events/sqs/inbound-batch.json"
        ))
        .unwrap(),
        std::env::temp_dir().join(format!("gatewayctl-errors-{}.json", std::process::id())),
    );
    let batch: serde_json::Value = serde_json::from_str(&batch).unwrap();
    std::fs::write(&message, batch["Records"][0]["body"].as_str().unwrap()).unwrap();
    let message = message.to_str().unwrap();
    assert_one_line(
        &[
            "rules",
            "explain",
            "config/rules.yaml",
            message,
            "--at",
            "yesterday",
        ],
        USAGE,
        &["--at must be RFC 3339"],
    );
    // A message file that is not a normalized message (the rules document instead).
    assert_one_line(
        &["rules", "explain", "config/rules.yaml", "config/rules.yaml"],
        USAGE,
        &["not a normalized message"],
    );
    assert_one_line(
        &[
            "send",
            "wechat",
            "--accounts",
            "config/accounts.local.json",
            "--account",
            "nobody",
            "--from",
            "oUser",
        ],
        USAGE,
        &["no WeChat account `nobody`"],
    );
}

#[test]
fn a_failed_operation_exits_1_with_its_causes_on_the_same_line() {
    // Nothing listens on port 1 of the loopback: the connection is refused at once.
    assert_one_line(
        &[
            "send",
            "wechat",
            "--accounts",
            "config/accounts.local.json",
            "--account",
            "demo",
            "--from",
            "oUser",
            "--webhook-url",
            "http://127.0.0.1:1/wechat/demo",
        ],
        FAILURE,
        &[
            "send to http://127.0.0.1:1/wechat/demo: ",
            "Connection refused",
        ],
    );
}

#[test]
fn a_command_group_given_alone_prints_its_help_and_exits_2() {
    let (code, stderr) = gatewayctl(&["rules"]);
    assert_eq!(code, USAGE, "{stderr}");
    assert!(
        stderr.contains("Usage: gatewayctl rules <COMMAND>") && stderr.contains("check"),
        "{stderr}"
    );
}

#[test]
fn a_bad_report_range_or_format_is_a_usage_error() {
    let report = |from: &'static str, to: &'static str, extra: &[&'static str]| {
        let mut args = vec![
            "report",
            "--account",
            "demo",
            "--from",
            from,
            "--to",
            to,
            "--table",
            "t",
        ];
        args.extend_from_slice(extra);
        args
    };
    assert_one_line(
        &report("2026-13-01", "2026-03-02", &[]),
        USAGE,
        &["invalid value '2026-13-01' for '--from", "YYYY-MM-DD"],
    );
    assert_one_line(
        &report("2026-03-03", "2026-03-02", &[]),
        USAGE,
        &["--from 2026-03-03 is after --to 2026-03-02"],
    );
    assert_one_line(
        &report("2025-01-01", "2026-03-02", &[]),
        USAGE,
        &["the range covers 426 days; a report covers at most 366"],
    );
    assert_one_line(
        &report("2026-03-01", "2026-03-02", &["--format", "xml"]),
        USAGE,
        &["invalid value 'xml' for '--format", "table, csv, json"],
    );
    assert_one_line(
        &report("2026-03-01", "2026-03-02", &["--channel", "qq"]),
        USAGE,
        &["invalid value 'qq' for '--channel", "wechat, weibo"],
    );
}

#[test]
fn a_report_whose_table_cannot_be_read_exits_1() {
    // Nothing listens on port 1 of the loopback: every attempt is refused at once.
    let out = Command::new(env!("CARGO_BIN_EXE_gatewayctl"))
        .args([
            "report",
            "--account",
            "demo",
            "--from",
            "2026-03-01",
            "--to",
            "2026-03-02",
            "--table",
            "t",
            "--endpoint",
            "http://127.0.0.1:1",
        ])
        .env("AWS_ACCESS_KEY_ID", "test")
        .env("AWS_SECRET_ACCESS_KEY", "test")
        .env("AWS_REGION", "us-east-1")
        .env("AWS_MAX_ATTEMPTS", "1")
        .env_remove("AWS_PROFILE")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(FAILURE), "{stderr}");
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(
        stderr.starts_with("gatewayctl: read the statistics: dynamodb query (stats)"),
        "{stderr}"
    );
}

#[test]
fn desk_commands_report_an_unusable_users_file_or_user_as_usage_errors() {
    // A user neither in the users file nor given a password: nothing is sent anywhere.
    assert_one_line(
        &["desk", "login", "--user", "nobody", "--client-id", "c"],
        USAGE,
        &[
            "nobody is not in config/desk-users.local.json",
            "--password",
        ],
    );
    // A file that is not a desk users file, for either command.
    assert_one_line(
        &[
            "desk",
            "login",
            "--user",
            "agent1",
            "--client-id",
            "c",
            "--users",
            "config/accounts.local.json",
        ],
        USAGE,
        &[
            "config/accounts.local.json: invalid",
            "not a desk users file",
        ],
    );
    assert_one_line(
        &[
            "local",
            "desk-setup",
            "--endpoint",
            "http://127.0.0.1:1",
            "--users",
            "config/missing-users.json",
        ],
        USAGE,
        &["read config/missing-users.json"],
    );
}

#[test]
fn a_desk_login_that_cannot_reach_cognito_exits_1_on_one_line() {
    let out = Command::new(env!("CARGO_BIN_EXE_gatewayctl"))
        .args(["desk", "login", "--user", "agent1", "--client-id", "c"])
        .current_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/../.."))
        .env("AWS_ENDPOINT_URL", "http://127.0.0.1:1")
        .env("AWS_REGION", "us-east-1")
        .env_remove("GATEWAY_DESK_USERS_FILE")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(FAILURE), "{stderr}");
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(
        stderr.starts_with("gatewayctl: sign in as agent1: "),
        "{stderr}"
    );
    assert!(!stderr.contains("Demo-agent1"), "no password in {stderr}");
    assert!(out.stdout.is_empty());
}
