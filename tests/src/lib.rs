//! Helpers for the integration tests: the emulator's SDK configuration, fresh uniquely named
//! resources per test, and the addresses of the functions running under `cargo lambda watch`.
//!
//! The tests that need the local stack are `#[ignore]`d so that a bare `cargo test` stays
//! hermetic; `make test` starts the stack and runs them with `--include-ignored`. Run without
//! the stack, they fail with a message saying so rather than passing vacuously.
#![allow(clippy::unwrap_used)]

pub mod media_files;
pub mod openapi;
pub mod outbound_source;
pub mod platforms;
pub mod reply_api;
pub mod sandbox;
pub mod wire;

use gateway_core::account::AccountsDocument;
use gatewayctl::local::{self, LocalStack};
use serde::de::DeserializeOwned;
use std::sync::atomic::{AtomicU32, Ordering};

/// The emulator endpoint exported by `make test`.
pub fn endpoint() -> String {
    std::env::var("AWS_ENDPOINT_URL").expect(
        "AWS_ENDPOINT_URL is not set: these tests need the local stack; run them with `make test`",
    )
}

/// SDK configuration for the emulator.
pub async fn sdk() -> aws_config::SdkConfig {
    local::emulator_config(&endpoint()).await
}

/// A name no other test (or test run) uses.
pub fn unique(prefix: &str) -> String {
    static COUNTER: AtomicU32 = AtomicU32::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos();
    format!(
        "{prefix}-{}-{}-{nanos}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    )
}

/// The accounts document used by the local stack and the tests.
pub fn local_accounts_json() -> String {
    std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../config/accounts.local.json"
    ))
    .unwrap()
}

/// The local accounts document, parsed.
pub fn accounts() -> AccountsDocument {
    AccountsDocument::from_json(&local_accounts_json()).unwrap()
}

/// A run-unique decimal id (for MsgIds, OpenIDs, Weibo UIDs), so reruns never collide with
/// SQS's 5-minute deduplication window.
pub fn unique_digits() -> String {
    unique("9")
        .chars()
        .filter(char::is_ascii_digit)
        .take(18)
        .collect()
}

/// Receives and deletes everything on a queue; returns the messages, with their message
/// attributes (a dead letter's `reason`).
pub async fn drain_messages(
    sqs: &aws_sdk_sqs::Client,
    url: &str,
) -> Vec<aws_sdk_sqs::types::Message> {
    let mut out = Vec::new();
    loop {
        let got = sqs
            .receive_message()
            .queue_url(url)
            .max_number_of_messages(10)
            .message_attribute_names("All")
            .send()
            .await
            .unwrap();
        if got.messages().is_empty() {
            return out;
        }
        for m in got.messages() {
            sqs.delete_message()
                .queue_url(url)
                .receipt_handle(m.receipt_handle().unwrap())
                .send()
                .await
                .unwrap();
            out.push(m.clone());
        }
    }
}

/// Receives and deletes everything on a queue, decoding each body as `T`.
pub async fn drain<T: DeserializeOwned>(sqs: &aws_sdk_sqs::Client, url: &str) -> Vec<T> {
    drain_messages(sqs, url)
        .await
        .iter()
        .map(|m| serde_json::from_str(m.body().unwrap()).unwrap())
        .collect()
}

/// A fresh set of queues, table and accounts secret.
pub async fn fresh_stack(sdk: &aws_config::SdkConfig) -> LocalStack {
    local::setup(
        sdk,
        &unique("t"),
        &local_accounts_json(),
        local::TEST_VISIBILITY_SECS,
    )
    .await
    .unwrap()
}

/// The functions under `cargo lambda watch` and the stack they were started with.
pub struct RunningStack {
    /// `http://127.0.0.1:PORT` of cargo lambda watch.
    pub lambda_url: String,
    /// Resources the running functions use.
    pub stack: LocalStack,
}

impl RunningStack {
    /// From the variables `make test` exports.
    pub fn from_env() -> Self {
        let var = |k: &str| {
            std::env::var(k).unwrap_or_else(|_| {
                panic!("{k} is not set: these tests need the running functions; run `make test`")
            })
        };
        RunningStack {
            lambda_url: var("GATEWAY_LAMBDA_URL"),
            stack: LocalStack {
                queue_url: var("QUEUE_URL"),
                dead_letter_queue_url: var("DEAD_LETTER_QUEUE_URL"),
                outbound_queue_url: var("OUTBOUND_QUEUE_URL"),
                outbound_dead_letter_queue_url: var("OUTBOUND_DEAD_LETTER_QUEUE_URL"),
                table_name: var("TABLE_NAME"),
                accounts_secret_id: var("ACCOUNTS_SECRET_ID"),
                timers_queue_url: var("TIMERS_QUEUE_URL"),
                alerts_topic_arn: var("ALERTS_TOPIC_ARN"),
                media_queue_url: var("MEDIA_QUEUE_URL"),
                media_dead_letter_queue_url: var("MEDIA_DEAD_LETTER_QUEUE_URL"),
                media_bucket: var("MEDIA_BUCKET"),
                event_bus_name: var("EVENT_BUS_NAME"),
                events_observed_queue_url: var("EVENTS_OBSERVED_QUEUE_URL"),
                webhook_queue_url: var("WEBHOOK_QUEUE_URL"),
                webhook_dead_letter_queue_url: var("WEBHOOK_DEAD_LETTER_QUEUE_URL"),
            },
        }
    }

    /// Function URL of a webhook, e.g. `…/lambda-url/wechat-webhook/wechat/demo`.
    pub fn webhook_url(&self, function: &str, path: &str) -> String {
        format!("{}/lambda-url/{function}{path}", self.lambda_url)
    }

    /// Invoke URL of a function.
    pub fn invoke_url(&self, function: &str) -> String {
        format!(
            "{}/2015-03-31/functions/{function}/invocations",
            self.lambda_url
        )
    }
}

/// The desk's user pool the stack set up (`stack_desk_setup` in tools/stack.sh exports its
/// `DESK_*` variables, as the functions get them).
pub fn desk_pool() -> gatewayctl::desk::DeskPool {
    let var = |k: &str| {
        std::env::var(k).unwrap_or_else(|_| {
            panic!("{k} is not set: these tests need the local stack's user pool; run `make test`")
        })
    };
    gatewayctl::desk::DeskPool {
        user_pool_id: var("DESK_USER_POOL_ID"),
        client_id: var("DESK_CLIENT_ID"),
        token_issuer: var("DESK_TOKEN_ISSUER"),
        jwks_url: var("DESK_JWKS_URL"),
    }
}

/// The desk users file the local stack sets its user pool up from.
pub fn local_desk_users() -> gatewayctl::desk::DeskUsers {
    gatewayctl::desk::DeskUsers::read(std::path::Path::new(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../config/desk-users.local.json"
    )))
    .unwrap()
}

/// Serializes the tests that share the running functions' queue.
pub static RUNNING_STACK_LOCK: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());
