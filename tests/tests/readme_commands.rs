//! Every `gatewayctl` command the README shows is run, as written, against the running stack,
//! or named as a reference to a command whose use a named test runs. A README example that
//! fails as written, or a new one without an entry here, fails this test.
#![allow(clippy::unwrap_used)]

use gateway_tests::sandbox::function_binary;
use std::path::{Path, PathBuf};
use std::process::Command;

/// What is done with a README command, by its leading words.
enum Check {
    /// Run it as written (placeholders filled) and expect this exit status.
    Run(i32),
    /// A mention without its arguments (`gatewayctl send weibo …`); the test named runs it.
    RunBy(&'static str),
}

/// Longest matching prefix wins.
const CHECKS: &[(&str, Check)] = &[
    ("gatewayctl --help", Check::Run(0)),
    ("gatewayctl rules", Check::Run(2)),
    ("gatewayctl rules check", Check::Run(0)),
    ("gatewayctl rules explain", Check::Run(0)),
    ("gatewayctl rules push", Check::Run(0)),
    ("gatewayctl accounts check", Check::Run(0)),
    (
        "gatewayctl accounts push",
        Check::RunBy(
            "tools/gatewayctl/tests/accounts_cli.rs push_writes_each_role_part_with_a_credential_process_profile",
        ),
    ),
    ("gatewayctl send wechat", Check::Run(0)),
    (
        "gatewayctl send weibo",
        Check::RunBy("tools/demo.sh (make demo) and tests/tests/e2e.rs"),
    ),
    (
        "gatewayctl send",
        Check::RunBy("the `gatewayctl send` examples of the README, run here"),
    ),
    ("gatewayctl local show", Check::Run(0)),
    ("gatewayctl desk login", Check::Run(0)),
    (
        "gatewayctl desk agents",
        Check::RunBy(
            "tests/tests/desk.rs gatewayctl_desk_agents_puts_lists_and_deletes_profiles_in_the_table",
        ),
    ),
    (
        "gatewayctl local desk-setup",
        Check::RunBy(
            "tools/stack.sh (stack_desk_setup, run by make test) and tests/tests/desk_auth.rs desk_setup_is_idempotent_and_puts_back_what_drifted",
        ),
    ),
    ("gatewayctl local pump", Check::Run(0)),
    (
        "gatewayctl report",
        Check::RunBy("tests/tests/stats_report.rs (the golden files, against the emulator)"),
    ),
    (
        "gatewayctl customer",
        Check::RunBy(
            "tests/tests/customer_data.rs export_writes_everything_kept_about_a_customer_and_erase_leaves_nothing_of_them",
        ),
    ),
    (
        "gatewayctl local event-sources",
        Check::RunBy("tools/demo.sh (make demo, run by make test)"),
    ),
];

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// Every `gatewayctl …` command in the README: inline code spans, and lines of code blocks
/// (with `\` continuations joined and trailing `# comments` dropped).
fn readme_commands(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut in_block = false;
    let mut pending = String::new();
    for line in text.lines() {
        if line.trim_start().starts_with("```") {
            in_block = !in_block;
            continue;
        }
        if in_block {
            let code = match line.find(" #") {
                Some(i) => &line[..i],
                None => line,
            };
            let code = code.trim();
            if let Some(head) = code.strip_suffix('\\') {
                pending.push_str(head.trim());
                pending.push(' ');
                continue;
            }
            let full = format!("{pending}{code}");
            pending.clear();
            if full.starts_with("gatewayctl") {
                out.push(full);
            }
        } else {
            for (i, span) in line.split('`').enumerate() {
                if i % 2 == 1 && span.starts_with("gatewayctl ") {
                    out.push(span.to_string());
                }
            }
        }
    }
    out
}

/// Words of a command line: whitespace-separated, double quotes grouping.
fn words(command: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut word = String::new();
    let mut quoted = false;
    let mut any = false;
    for c in command.chars() {
        match c {
            '"' => {
                quoted = !quoted;
                any = true;
            }
            c if c.is_whitespace() && !quoted => {
                if any {
                    out.push(std::mem::take(&mut word));
                    any = false;
                }
            }
            c => {
                word.push(c);
                any = true;
            }
        }
    }
    if any {
        out.push(word);
    }
    out
}

fn check_for(command: &str) -> &'static Check {
    CHECKS
        .iter()
        .filter(|(prefix, _)| command == *prefix || command.starts_with(&format!("{prefix} ")))
        .max_by_key(|(prefix, _)| prefix.len())
        .map(|(_, check)| check)
        .unwrap_or_else(|| panic!("README command without an entry in CHECKS: `{command}`"))
}

#[test]
fn every_readme_command_has_an_entry_and_the_reader_finds_them() {
    let commands = readme_commands(&std::fs::read_to_string(repo().join("README.md")).unwrap());
    assert!(commands.len() >= 10, "{commands:?}");
    assert!(
        commands
            .iter()
            .any(|c| c.starts_with("gatewayctl rules explain") && c.contains("--at")),
        "a continued code line is joined: {commands:?}"
    );
    for c in &commands {
        if let Check::RunBy(by) = check_for(c) {
            assert!(!by.is_empty(), "`{c}`: which test runs it?");
        }
    }
    assert_eq!(
        words(r#"send --text "想问 一下" x"#),
        ["send", "--text", "想问 一下", "x"]
    );
}

#[tokio::test]
#[ignore = "needs the running functions and the AWS emulator (make test)"]
async fn every_runnable_readme_command_works_as_written() {
    let _guard = gateway_tests::RUNNING_STACK_LOCK.lock().await;
    let run = gateway_tests::RunningStack::from_env();
    let dir = std::env::temp_dir().join(gateway_tests::unique("readme"));
    std::fs::create_dir_all(&dir).unwrap();
    // The message `rules explain` reads (any normalized message; the sample batch has some).
    let batch: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(repo().join("events/sqs/inbound-batch.json")).unwrap(),
    )
    .unwrap();
    let message = dir.join("message.json");
    std::fs::write(&message, batch["Records"][0]["body"].as_str().unwrap()).unwrap();

    let commands = readme_commands(&std::fs::read_to_string(repo().join("README.md")).unwrap());
    let mut ran = 0;
    for command in &commands {
        let Check::Run(expected) = check_for(command) else {
            continue;
        };
        let args: Vec<String> = words(command)
            .into_iter()
            .skip(1)
            .map(|w| match w.as_str() {
                "<TableName>" => run.stack.table_name.clone(),
                "FILE" => "config/accounts.local.json".to_string(),
                "message.json" => message.display().to_string(),
                // As a shell would expand it.
                _ if w.starts_with("$GATEWAY_LAMBDA_URL") => w.replace(
                    "$GATEWAY_LAMBDA_URL",
                    &std::env::var("GATEWAY_LAMBDA_URL").unwrap(),
                ),
                _ => w,
            })
            .collect();
        let output = Command::new(function_binary("gatewayctl"))
            .args(&args)
            .current_dir(repo())
            // As `make up` prints them: the stack's variables and the local accounts.
            .env("GATEWAY_ACCOUNTS_FILE", "config/accounts.local.json")
            .output()
            .unwrap();
        assert_eq!(
            output.status.code(),
            Some(*expected),
            "`{command}`:\n{}\n{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        ran += 1;
    }
    assert!(ran >= 9, "ran {ran} of {commands:?}");
}
