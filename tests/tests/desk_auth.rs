//! The desk's sign-in against the emulator's Cognito: the user pool the local stack set up
//! (`gatewayctl local desk-setup`, from config/desk-users.local.json), real tokens from
//! `InitiateAuth` (USER_PASSWORD_AUTH), and the desk API's `TokenVerifier` built from the
//! function's own configuration (the stack's `DESK_*` variables, the JWKS fetched from the
//! emulator over HTTP), and the desk profiles the setup stored for each user, as the desk API
//! reads them for the identity a token names.
//!
//! The emulator signs every pool's tokens with one key pair of its own (`kid` "dummy"), so a
//! token of another pool has a valid signature here: only its issuer tells it apart, which is
//! what `wrong_issuer` is tested for.
#![allow(clippy::unwrap_used)]

use aws_sdk_cognitoidentityprovider::Client as Cognito;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use desk_api::auth::{AuthError, CLOCK_LEEWAY_SECS, TokenVerifier};
use desk_api::config::Config;
use gateway_core::desk::ports::DeskStore;
use gateway_tests::sandbox::function_binary;
use gateway_tests::{desk_pool, local_desk_users, sdk, unique};
use gatewayctl::desk::{self, DeskUsers, Tokens};
use serde_json::{Value, json};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

async fn cognito() -> Cognito {
    Cognito::new(&sdk().await)
}

/// The verifier of the desk API, configured from the stack's environment as the function is.
fn verifier() -> TokenVerifier {
    let config = Config::from_env().expect("the desk API's configuration from the stack");
    assert_eq!(config.jwks_url, desk_pool().jwks_url);
    TokenVerifier::from_config(&config).unwrap()
}

async fn sign_in(cognito: &Cognito, client_id: &str, username: &str) -> Tokens {
    let users = local_desk_users();
    let password = users.user(username).unwrap().password.expose();
    desk::login(cognito, client_id, username, password)
        .await
        .unwrap()
}

fn payload(token: &str) -> Value {
    let part = token.split('.').nth(1).unwrap();
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(part).unwrap()).unwrap()
}

fn header(token: &str) -> Value {
    let part = token.split('.').next().unwrap();
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(part).unwrap()).unwrap()
}

/// `token` with its header or payload replaced, its signature kept.
fn replace_part(token: &str, index: usize, value: &Value) -> String {
    let mut parts: Vec<String> = token.split('.').map(str::to_string).collect();
    parts[index] = URL_SAFE_NO_PAD.encode(serde_json::to_vec(value).unwrap());
    parts.join(".")
}

fn at(secs: u64) -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(secs)
}

#[tokio::test]
#[ignore = "needs the AWS emulator and the stack's desk user pool (make test)"]
async fn access_tokens_of_the_local_users_validate_and_carry_their_groups() {
    // Arrange
    let pool = desk_pool();
    let cognito = cognito().await;
    let verifier = verifier();
    let users = local_desk_users();
    assert!(users.users.len() >= 4);
    let table = std::env::var("TABLE_NAME").unwrap();
    let profiles = gateway_aws::DynamoDbDesk::new(gateway_aws::DynamoDbConversationStore::new(
        aws_sdk_dynamodb::Client::new(&sdk().await),
        &table,
        None,
    ));
    for user in &users.users {
        // Act
        let tokens = sign_in(&cognito, &pool.client_id, &user.username).await;
        let identity = verifier
            .verify_header(
                Some(&format!("Bearer {}", tokens.access_token)),
                SystemTime::now(),
            )
            .await;
        // Assert
        let identity = identity.unwrap_or_else(|e| panic!("{}: {}", user.username, e.code()));
        assert_eq!(identity.username, user.username);
        assert!(!identity.sub.is_empty());
        let mut groups = identity.groups.clone();
        groups.sort();
        let mut expected = user.groups.clone();
        expected.sort();
        assert_eq!(groups, expected, "{}", user.username);
        assert_eq!(
            payload(&tokens.access_token)["iss"],
            json!(pool.token_issuer)
        );
        assert_eq!(header(&tokens.access_token)["alg"], json!("RS256"));
        // The profile the desk API loads for this identity, as the users file gives it.
        let profile = profiles.agent(&identity.username).await.unwrap();
        let profile = profile.unwrap_or_else(|| panic!("no profile for {}", user.username));
        let wanted = user.agent_profile();
        assert_eq!(
            (
                &profile.display_name,
                &profile.teams,
                &profile.accounts,
                profile.capacity
            ),
            (
                &wanted.display_name,
                &wanted.teams,
                &wanted.accounts,
                wanted.capacity
            ),
            "{}",
            user.username
        );
        assert_eq!(profile.updated_by.as_deref(), Some(desk::SEEDED_BY));
    }
}

#[tokio::test]
#[ignore = "needs the AWS emulator and the stack's desk user pool (make test)"]
async fn tokens_that_are_not_the_desks_valid_access_tokens_are_refused_with_their_code() {
    // Arrange: agent1's tokens through the desk's client, and a valid one to compare with.
    let pool = desk_pool();
    let cognito = cognito().await;
    let verifier = verifier();
    let tokens = sign_in(&cognito, &pool.client_id, "agent1").await;
    let now = SystemTime::now();
    assert!(verifier.verify(&tokens.access_token, now).await.is_ok());
    let mut refused = Vec::new();

    // A payload altered to grant more (the signature no longer matches).
    let mut claims = payload(&tokens.access_token);
    claims["cognito:groups"] = json!(["agents", "admins"]);
    let altered = replace_part(&tokens.access_token, 1, &claims);
    refused.push((
        "altered payload",
        verifier.verify(&altered, now).await,
        AuthError::BadSignature,
    ));

    // A key the pool's JWKS does not have.
    let mut other_kid = header(&tokens.access_token);
    other_kid["kid"] = json!("not-a-pool-key");
    let other_kid = replace_part(&tokens.access_token, 0, &other_kid);
    refused.push((
        "unknown kid",
        verifier.verify(&other_kid, now).await,
        AuthError::UnknownKey,
    ));

    // The same sign-in's ID token.
    refused.push((
        "ID token",
        verifier.verify(&tokens.id_token, now).await,
        AuthError::WrongTokenUse,
    ));

    // A second app client of the same pool.
    let other_client = desk::create_client(&cognito, &pool.user_pool_id, &unique("desk-other"))
        .await
        .unwrap();
    let other = sign_in(&cognito, &other_client, "agent1").await;
    assert_eq!(
        payload(&other.access_token)["client_id"],
        json!(other_client)
    );
    refused.push((
        "second app client",
        verifier.verify(&other.access_token, now).await,
        AuthError::WrongClient,
    ));

    // After its exp (and the leeway); just before it, the same token is valid.
    let exp = payload(&tokens.access_token)["exp"].as_u64().unwrap();
    assert!(
        verifier
            .verify(&tokens.access_token, at(exp - 1))
            .await
            .is_ok()
    );
    refused.push((
        "after exp",
        verifier
            .verify(&tokens.access_token, at(exp + CLOCK_LEEWAY_SECS))
            .await,
        AuthError::Expired,
    ));

    // Another pool, its users and client set up as the stack's are.
    let only_agent1 = DeskUsers {
        users: vec![local_desk_users().user("agent1").unwrap().clone()],
    };
    let (other_pool, _) = desk::setup_pool(
        &cognito,
        &unique("desk-foreign"),
        &only_agent1,
        Some(&gateway_tests::endpoint()),
    )
    .await
    .unwrap();
    assert_ne!(other_pool.user_pool_id, pool.user_pool_id);
    let foreign = sign_in(&cognito, &other_pool.client_id, "agent1").await;
    assert_eq!(
        payload(&foreign.access_token)["iss"],
        json!(other_pool.token_issuer)
    );
    refused.push((
        "another pool",
        verifier.verify(&foreign.access_token, now).await,
        AuthError::WrongIssuer,
    ));

    // No token at all.
    refused.push((
        "no token",
        verifier.verify_header(None, now).await,
        AuthError::MissingToken,
    ));

    for (case, outcome, expected) in refused {
        assert_eq!(
            outcome.as_ref().map(|i| &i.username),
            Err(&expected),
            "{case}: expected {}",
            expected.code()
        );
        assert_eq!(expected.status(), 401, "{case}");
    }
}

#[tokio::test]
#[ignore = "needs the AWS emulator (make test)"]
async fn desk_setup_is_idempotent_and_puts_back_what_drifted() {
    // Arrange
    let cognito = cognito().await;
    let users = local_desk_users();
    let prefix = unique("desk-setup");
    let endpoint = gateway_tests::endpoint();
    let dynamodb = aws_sdk_dynamodb::Client::new(&sdk().await);
    let table = format!("{prefix}-conversations");
    gatewayctl::local::create_table(&dynamodb, &table)
        .await
        .unwrap();
    let profiles = gateway_aws::DynamoDbDesk::new(gateway_aws::DynamoDbConversationStore::new(
        dynamodb.clone(),
        &table,
        None,
    ));

    // Act: twice with the same file.
    let (first, created) = desk::setup_pool(&cognito, &prefix, &users, Some(&endpoint))
        .await
        .unwrap();
    let stored = desk::seed_agent_profiles(&dynamodb, &table, &users, 1_000)
        .await
        .unwrap();
    let (second, again) = desk::setup_pool(&cognito, &prefix, &users, Some(&endpoint))
        .await
        .unwrap();
    let restored = desk::seed_agent_profiles(&dynamodb, &table, &users, 2_000)
        .await
        .unwrap();

    // Assert: the first created everything, the second nothing.
    assert_eq!(first, second);
    assert!(
        created.changes.contains(&format!(
            "created user pool {prefix}-desk ({})",
            first.user_pool_id
        )),
        "{created:?}"
    );
    for group in desk::DESK_GROUPS {
        assert!(created.changes.contains(&format!("created group {group}")));
    }
    for user in &users.users {
        assert!(
            created
                .changes
                .contains(&format!("created user {}", user.username))
        );
    }
    assert!(again.is_empty(), "a second setup changed {again:?}");
    assert_eq!(stored.len(), users.users.len(), "{stored:?}");
    assert!(restored.is_empty(), "a second seeding wrote {restored:?}");
    assert_eq!(profiles.agent("agent1").await.unwrap().unwrap().version, 1);

    // Drift: agent1's password and groups changed by hand; setup puts the file's back.
    let pool_id = &first.user_pool_id;
    cognito
        .admin_set_user_password()
        .user_pool_id(pool_id)
        .username("agent1")
        .password("Changed-by-hand-1!")
        .permanent(true)
        .send()
        .await
        .unwrap();
    cognito
        .admin_remove_user_from_group()
        .user_pool_id(pool_id)
        .username("agent1")
        .group_name("agents")
        .send()
        .await
        .unwrap();
    cognito
        .admin_add_user_to_group()
        .user_pool_id(pool_id)
        .username("agent1")
        .group_name("admins")
        .send()
        .await
        .unwrap();
    // And agent1's profile, as a supervisor would change it through the desk API.
    let mut edited = profiles.agent("agent1").await.unwrap().unwrap();
    edited.capacity = 1;
    edited.version += 1;
    profiles.put_agent(&edited).await.unwrap();
    let (_, repaired) = desk::setup_pool(&cognito, &prefix, &users, Some(&endpoint))
        .await
        .unwrap();
    let reseeded = desk::seed_agent_profiles(&dynamodb, &table, &users, 3_000)
        .await
        .unwrap();
    assert_eq!(reseeded, ["reset the profile of agent1"]);
    let agent1 = profiles.agent("agent1").await.unwrap().unwrap();
    assert_eq!(
        (agent1.capacity, agent1.version, agent1.updated_at),
        (5, 3, 3_000)
    );
    assert_eq!(
        repaired.changes,
        [
            "set the password of agent1",
            "added agent1 to agents",
            "removed agent1 from admins"
        ]
    );
    let (_, settled) = desk::setup_pool(&cognito, &prefix, &users, Some(&endpoint))
        .await
        .unwrap();
    assert!(settled.is_empty(), "{settled:?}");
    let groups = payload(
        &sign_in(&cognito, &first.client_id, "agent1")
            .await
            .access_token,
    )["cognito:groups"]
        .clone();
    assert_eq!(groups, json!(["agents"]));
}

#[tokio::test]
#[ignore = "needs the AWS emulator and the stack's desk user pool (make test)"]
async fn gatewayctl_desk_login_prints_a_token_the_desk_accepts() {
    // Arrange
    let verifier = verifier();
    let repo = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let gatewayctl = |args: &[&str]| {
        std::process::Command::new(function_binary("gatewayctl"))
            .args(args)
            .current_dir(&repo)
            .env_remove("GATEWAY_DESK_USERS_FILE")
            .output()
            .unwrap()
    };

    // Act
    let access = gatewayctl(&["desk", "login", "--user", "agent1"]);
    let id = gatewayctl(&["desk", "login", "--user", "supervisor1", "--id-token"]);
    let wrong = gatewayctl(&[
        "desk",
        "login",
        "--user",
        "agent1",
        "--password",
        "Not-it-1!",
    ]);
    let unknown = gatewayctl(&["desk", "login", "--user", "nobody"]);

    // Assert
    let stdout = |o: &std::process::Output| String::from_utf8_lossy(&o.stdout).trim().to_string();
    let stderr = |o: &std::process::Output| String::from_utf8_lossy(&o.stderr).to_string();
    assert_eq!(access.status.code(), Some(0), "{}", stderr(&access));
    let identity = verifier
        .verify(&stdout(&access), SystemTime::now())
        .await
        .unwrap();
    assert_eq!(
        (identity.username.as_str(), identity.groups),
        ("agent1", vec!["agents".to_string()])
    );
    assert_eq!(id.status.code(), Some(0), "{}", stderr(&id));
    assert_eq!(
        payload(&stdout(&id))["cognito:username"],
        json!("supervisor1")
    );
    assert_eq!(
        verifier.verify(&stdout(&id), SystemTime::now()).await,
        Err(AuthError::WrongTokenUse)
    );
    assert_eq!(wrong.status.code(), Some(1), "{}", stderr(&wrong));
    assert!(
        stderr(&wrong).contains("sign-in refused"),
        "{}",
        stderr(&wrong)
    );
    assert!(!stderr(&wrong).contains("Not-it-1!"));
    assert!(stdout(&wrong).is_empty());
    assert_eq!(unknown.status.code(), Some(2), "{}", stderr(&unknown));
    assert!(
        stderr(&unknown).contains("nobody is not in"),
        "{}",
        stderr(&unknown)
    );
}

#[tokio::test]
#[ignore = "needs the running functions and the stack's desk user pool (make test)"]
async fn the_running_desk_api_serves_a_signed_in_agent_and_refuses_other_tokens() {
    // Arrange: tokens from the stack's pool; desk-api under cargo lambda watch, configured by
    // the stack (DESK_* in its environment, the JWKS from the emulator).
    let run = gateway_tests::RunningStack::from_env();
    let pool = desk_pool();
    let cognito = cognito().await;
    let agent = sign_in(&cognito, &pool.client_id, "agent1").await;
    let supervisor = sign_in(&cognito, &pool.client_id, "supervisor1").await;
    let http = gatewayctl::http_client();
    let me = run.webhook_url("desk-api", "/me");
    let get = |authorization: Option<String>| {
        let mut request = http.get(&me);
        if let Some(value) = authorization {
            request = request.header("authorization", value);
        }
        async move {
            let response = request.send().await.unwrap();
            let status = response.status().as_u16();
            let challenge = response
                .headers()
                .get("www-authenticate")
                .map(|v| v.to_str().unwrap().to_string());
            let body: Value = response.json().await.unwrap();
            (status, challenge, body)
        }
    };

    // Act
    let as_agent = get(Some(format!("Bearer {}", agent.access_token))).await;
    let as_supervisor = get(Some(format!("bearer {}", supervisor.access_token))).await;
    let with_id_token = get(Some(format!("Bearer {}", agent.id_token))).await;
    let without = get(None).await;

    // Assert
    assert_eq!(as_agent.0, 200, "{:?}", as_agent.2);
    assert_eq!(as_agent.2["agent_id"], json!("agent1"));
    assert_eq!(as_agent.2["role"], json!("agent"));
    assert_eq!(as_agent.2["profile"]["teams"], json!(["complaints"]));
    assert_eq!(as_supervisor.0, 200, "{:?}", as_supervisor.2);
    assert_eq!(as_supervisor.2["role"], json!("supervisor"));
    assert_eq!(
        (with_id_token.0, with_id_token.2["error"].clone()),
        (401, json!("wrong_token_use"))
    );
    assert_eq!(with_id_token.1.as_deref(), Some("Bearer"));
    assert_eq!(
        (without.0, without.2["error"].clone()),
        (401, json!("missing_token"))
    );
}
