//! `SecretsManagerAccountDirectory`: the secret read and parsed as the role's projection, how
//! Secrets Manager's errors map, and the cache that keeps the last good document.

use crate::support::{Seen, assert_permanent, assert_transient, aws_error, secrets};
use aws_sdk_secretsmanager::Client;
use aws_sdk_secretsmanager::operation::get_secret_value::GetSecretValueOutput;
use aws_smithy_mocks::{MockResponse, mock};
use aws_smithy_runtime_api::client::orchestrator::HttpResponse;
use gateway_aws::{AccountsObserver, SecretsManagerAccountDirectory};
use gateway_core::account::{AccountsDocument, AccountsRole};
use gateway_core::ports::AccountDirectory;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

const SECRET_ID: &str = "gateway/accounts/webhook";
const GET: &str = "secretsmanager get_secret_value";

/// The whole document as ops write it; each role's secret holds a projection of it.
const FULL: &str = r#"{
  "wechat": {
    "demo": { "app_id": "wx1", "token": "TOKEN-W", "mode": "secure",
              "encoding_aes_key": "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
              "app_secret": "APPSECRET-W", "original_id": "gh_0123456789ab" }
  },
  "weibo": { "brand": { "app_key": "k", "app_secret": "SIGNKEY-B", "access_token": "ACCESS-B" } },
  "api_clients": { "crm": { "secret": "CLIENTSECRET-0123", "accounts": ["wechat:demo"] } }
}"#;

/// What `gatewayctl accounts push` stores for `role`.
fn projection(role: AccountsRole) -> (AccountsDocument, String) {
    let doc = AccountsDocument::from_json(FULL).unwrap().project(role);
    let text = serde_json::to_string(&doc).unwrap();
    (doc, text)
}

fn secret(text: String) -> impl Fn() -> GetSecretValueOutput + Send + Sync + 'static {
    move || {
        GetSecretValueOutput::builder()
            .name(SECRET_ID)
            .secret_string(text.clone())
            .build()
    }
}

#[derive(Default)]
struct Counts {
    refresh_failed: AtomicUsize,
    unavailable: AtomicUsize,
}

impl AccountsObserver for Counts {
    fn refresh_failed(&self) {
        self.refresh_failed.fetch_add(1, Ordering::SeqCst);
    }
    fn unavailable(&self) {
        self.unavailable.fetch_add(1, Ordering::SeqCst);
    }
}

fn directory(client: Client, role: AccountsRole, ttl: Duration) -> SecretsManagerAccountDirectory {
    SecretsManagerAccountDirectory::new(client, SECRET_ID, ttl).for_role(role)
}

#[tokio::test]
async fn the_secret_is_read_by_id_parsed_as_the_role_projection_and_cached() {
    for role in [
        AccountsRole::Webhook,
        AccountsRole::Delivery,
        AccountsRole::ApiClients,
    ] {
        let (doc, text) = projection(role);
        let seen = Seen::default();
        let rule = mock!(Client::get_secret_value).then_compute_output({
            let seen = seen.clone();
            let respond = secret(text);
            move |request| {
                seen.push(request);
                respond()
            }
        });
        let accounts = directory(secrets(&[&rule]), role, Duration::from_secs(300));
        assert_eq!(*accounts.accounts().await.unwrap(), doc, "{role:?}");
        assert_eq!(*accounts.accounts().await.unwrap(), doc, "{role:?}");
        assert_eq!(
            seen.only().secret_id(),
            Some(SECRET_ID),
            "one read, then the cache"
        );
    }
}

#[tokio::test]
async fn a_secret_holding_more_than_its_role_may_is_a_permanent_error_that_leaks_nothing() {
    // The whole document where the webhook's projection belongs.
    let rule = mock!(Client::get_secret_value).then_output(secret(FULL.to_string()));
    let counts = Arc::new(Counts::default());
    let accounts = directory(
        secrets(&[&rule]),
        AccountsRole::Webhook,
        Duration::from_secs(300),
    )
    .with_observer(counts.clone());
    let e = accounts.accounts().await.expect_err("refused");
    let text = format!("{e} {:?}", e);
    assert!(text.contains("must not hold"), "{text}");
    for leaked in ["APPSECRET-W", "ACCESS-B", "CLIENTSECRET", "TOKEN-W"] {
        assert!(!text.contains(leaked), "{leaked} in {text}");
    }
    assert_permanent(Err::<(), _>(e), "parse accounts");
    assert_eq!(counts.refresh_failed.load(Ordering::SeqCst), 1);
    assert_eq!(counts.unavailable.load(Ordering::SeqCst), 1);

    // Not JSON at all, and a binary secret.
    let rule = mock!(Client::get_secret_value).then_output(secret("not json".into()));
    let accounts = directory(secrets(&[&rule]), AccountsRole::Webhook, Duration::ZERO);
    assert_permanent(accounts.accounts().await, "parse accounts");
    let rule = mock!(Client::get_secret_value).then_output(|| {
        GetSecretValueOutput::builder()
            .secret_binary(aws_sdk_secretsmanager::primitives::Blob::new(
                b"{}".to_vec(),
            ))
            .build()
    });
    let accounts = directory(secrets(&[&rule]), AccountsRole::Webhook, Duration::ZERO);
    assert_permanent(accounts.accounts().await, "read accounts secret");
}

#[tokio::test]
async fn secrets_manager_errors_map_missing_and_denied_to_permanent_throttling_to_transient() {
    for (response, transient) in [
        (
            (|| {
                aws_error(
                    400,
                    "ResourceNotFoundException",
                    "Secrets Manager can't find the specified secret.",
                )
            }) as fn() -> HttpResponse,
            false,
        ),
        (
            || {
                aws_error(
                    400,
                    "AccessDeniedException",
                    "not authorized to perform: secretsmanager:GetSecretValue",
                )
            },
            false,
        ),
        (
            || aws_error(400, "DecryptionFailure", "KMS key access denied"),
            false,
        ),
        (
            || aws_error(400, "ThrottlingException", "Rate exceeded"),
            true,
        ),
        (|| aws_error(500, "InternalServiceError", "mocked"), true),
    ] {
        let rule = mock!(Client::get_secret_value).then_http_response(response);
        let counts = Arc::new(Counts::default());
        let accounts = directory(
            secrets(&[&rule]),
            AccountsRole::Webhook,
            Duration::from_secs(300),
        )
        .with_observer(counts.clone());
        let result = accounts.accounts().await;
        if transient {
            assert_transient(result, GET);
        } else {
            assert_permanent(result, GET);
        }
        assert_eq!(rule.num_calls(), 1);
        assert_eq!(counts.refresh_failed.load(Ordering::SeqCst), 1);
        assert_eq!(counts.unavailable.load(Ordering::SeqCst), 1);
    }
}

#[tokio::test]
async fn a_failed_refresh_keeps_the_last_good_document_until_max_stale() {
    let (doc, text) = projection(AccountsRole::Webhook);
    // The first read succeeds, every later one is throttled.
    let calls = Arc::new(AtomicUsize::new(0));
    let rule = mock!(Client::get_secret_value).then_compute_response({
        let calls = calls.clone();
        let respond = secret(text);
        move |_| {
            if calls.fetch_add(1, Ordering::SeqCst) == 0 {
                MockResponse::Output(respond())
            } else {
                MockResponse::Http(aws_error(400, "ThrottlingException", "Rate exceeded"))
            }
        }
    });
    let counts = Arc::new(Counts::default());
    // Expired at once: every request starts a background refresh.
    let accounts = directory(secrets(&[&rule]), AccountsRole::Webhook, Duration::ZERO)
        .with_observer(counts.clone());
    assert_eq!(*accounts.accounts().await.unwrap(), doc);
    // Served from the cache at once while the refresh runs (and fails) in the background.
    assert_eq!(*accounts.accounts().await.unwrap(), doc);
    for _ in 0..200 {
        if counts.refresh_failed.load(Ordering::SeqCst) > 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(counts.refresh_failed.load(Ordering::SeqCst), 1);
    assert_eq!(rule.num_calls(), 2);
    assert_eq!(*accounts.accounts().await.unwrap(), doc);
    assert_eq!(counts.unavailable.load(Ordering::SeqCst), 0);

    // With a bound on staleness, a document not refreshed within it is no longer served.
    let bounded = accounts.with_max_stale(Duration::from_millis(1));
    tokio::time::sleep(Duration::from_millis(5)).await;
    assert_transient(bounded.accounts().await, "accounts");
    assert_eq!(counts.unavailable.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn refreshing_in_the_request_serves_a_changed_document_from_the_first_request_after_the_ttl()
{
    let (first, first_text) = projection(AccountsRole::ApiClients);
    let revoked = AccountsDocument::from_json(&FULL.replace(
        r#""crm": { "secret": "CLIENTSECRET-0123", "accounts": ["wechat:demo"] }"#,
        "",
    ))
    .unwrap()
    .project(AccountsRole::ApiClients);
    assert!(revoked.api_clients.is_empty(), "the client is revoked");
    let revoked_text = serde_json::to_string(&revoked).unwrap();
    // The first read answers the document with the client, every later one without it.
    let calls = Arc::new(AtomicUsize::new(0));
    let rule = mock!(Client::get_secret_value).then_compute_output({
        let calls = calls.clone();
        let (a, b) = (secret(first_text), secret(revoked_text));
        move |_| {
            if calls.fetch_add(1, Ordering::SeqCst) == 0 {
                a()
            } else {
                b()
            }
        }
    });
    let ttl = Duration::from_millis(20);
    let accounts =
        directory(secrets(&[&rule]), AccountsRole::ApiClients, ttl).refreshing_in_request();
    assert_eq!(*accounts.accounts().await.unwrap(), first);
    assert_eq!(
        *accounts.accounts().await.unwrap(),
        first,
        "cached within the TTL"
    );
    assert_eq!(rule.num_calls(), 1);
    tokio::time::sleep(ttl * 2).await;
    // The first request after the TTL is judged by the new document (in the background mode
    // it would still get the old one).
    assert_eq!(*accounts.accounts().await.unwrap(), revoked);
    assert_eq!(rule.num_calls(), 2);
}

#[tokio::test]
async fn refreshing_in_the_request_serves_the_last_good_document_when_the_fetch_fails() {
    let (doc, text) = projection(AccountsRole::ApiClients);
    let calls = Arc::new(AtomicUsize::new(0));
    let rule = mock!(Client::get_secret_value).then_compute_response({
        let calls = calls.clone();
        let respond = secret(text);
        move |_| {
            if calls.fetch_add(1, Ordering::SeqCst) == 0 {
                MockResponse::Output(respond())
            } else {
                MockResponse::Http(aws_error(400, "ThrottlingException", "Rate exceeded"))
            }
        }
    });
    let counts = Arc::new(Counts::default());
    let accounts = directory(secrets(&[&rule]), AccountsRole::ApiClients, Duration::ZERO)
        .refreshing_in_request()
        .with_observer(counts.clone());
    assert_eq!(*accounts.accounts().await.unwrap(), doc);
    assert_eq!(
        *accounts.accounts().await.unwrap(),
        doc,
        "the last good one"
    );
    assert_eq!(
        counts.refresh_failed.load(Ordering::SeqCst),
        1,
        "counted at once"
    );
    assert_eq!(counts.unavailable.load(Ordering::SeqCst), 0);
}
