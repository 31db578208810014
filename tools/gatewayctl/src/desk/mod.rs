//! The desk's sign-in, for developers: the local users file, the user pool the local stack
//! creates in the emulator's Cognito (`gatewayctl local desk-setup`), and signing in as one of
//! its users (`gatewayctl desk login`).
//!
//! The users file (`GATEWAY_DESK_USERS_FILE`, default `config/desk-users.local.json`) holds
//! demo users only: a username, a demo password, the Cognito groups and the desk profile of
//! each. The pool is set up from it idempotently: a second setup with the same file changes
//! nothing ([`DeskSetupReport::is_empty`]). The profiles go to the table as the desk API keeps
//! them ([`seed_agent_profiles`], through `gateway_aws::DynamoDbDesk`).

use anyhow::{Context, Result, bail};
use aws_sdk_cognitoidentityprovider::Client as Cognito;
use aws_sdk_cognitoidentityprovider::types::{
    AuthFlowType, ExplicitAuthFlowsType, MessageActionType,
};
use gateway_core::desk::AgentProfile;
use gateway_core::desk::ports::{DeskStore, ProfileWrite};
use std::collections::BTreeSet;

mod media;
mod users;

pub use media::{Seed, SeedTarget, content_type_of, seed_media};
pub use users::{DEFAULT_USERS_FILE, DESK_GROUPS, DeskProfile, DeskUser, DeskUsers};

/// What the desk API is configured with for a pool: its `DESK_*` variables.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeskPool {
    /// `DESK_USER_POOL_ID`.
    pub user_pool_id: String,
    /// `DESK_CLIENT_ID`: the desk's app client.
    pub client_id: String,
    /// `DESK_TOKEN_ISSUER`: the tokens' `iss`, always the AWS form (the emulator's too).
    pub token_issuer: String,
    /// `DESK_JWKS_URL`: the pool's keys, at the emulator when there is one.
    pub jwks_url: String,
}

impl DeskPool {
    /// The pool's settings, with the JWKS at `endpoint` (the emulator) when given, else at
    /// the issuer as in AWS.
    pub fn new(user_pool_id: &str, client_id: &str, endpoint: Option<&str>) -> DeskPool {
        let token_issuer = issuer(user_pool_id);
        let jwks_url = match endpoint {
            Some(endpoint) => format!(
                "{}/{user_pool_id}/.well-known/jwks.json",
                endpoint.trim_end_matches('/')
            ),
            None => format!("{token_issuer}/.well-known/jwks.json"),
        };
        DeskPool {
            user_pool_id: user_pool_id.into(),
            client_id: client_id.into(),
            token_issuer,
            jwks_url,
        }
    }

    /// The `DESK_*` variables as `KEY=VALUE` lines.
    pub fn env_lines(&self) -> String {
        format!(
            "DESK_USER_POOL_ID={}\nDESK_CLIENT_ID={}\nDESK_TOKEN_ISSUER={}\nDESK_JWKS_URL={}\n",
            self.user_pool_id, self.client_id, self.token_issuer, self.jwks_url
        )
    }
}

/// A pool's token issuer: `https://cognito-idp.{region}.amazonaws.com/{poolId}`, the region
/// being the pool id's prefix (`us-east-1_AbC…`).
pub fn issuer(user_pool_id: &str) -> String {
    let region = user_pool_id
        .split_once('_')
        .map_or("us-east-1", |(region, _)| region);
    format!("https://cognito-idp.{region}.amazonaws.com/{user_pool_id}")
}

/// What a setup changed; empty when the pool was already as the file says.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DeskSetupReport {
    /// One line per change (`created user pool …`, `added agent1 to agents`, …).
    pub changes: Vec<String>,
}

impl DeskSetupReport {
    /// Whether nothing changed.
    pub fn is_empty(&self) -> bool {
        self.changes.is_empty()
    }
}

/// Makes the pool `{prefix}-desk` what `users` says, creating only what is missing: the pool,
/// its app client `{prefix}-desk-web` (no secret; USER_PASSWORD_AUTH and refresh tokens), the
/// groups [`DESK_GROUPS`], each user with its password (set when the user is created or when
/// the file's password no longer signs in) and exactly the file's groups.
pub async fn setup_pool(
    cognito: &Cognito,
    prefix: &str,
    users: &DeskUsers,
    endpoint: Option<&str>,
) -> Result<(DeskPool, DeskSetupReport)> {
    let mut report = DeskSetupReport::default();
    let pool_name = format!("{prefix}-desk");
    let pool_id = match find_pool(cognito, &pool_name).await? {
        Some(id) => id,
        None => {
            let created = cognito
                .create_user_pool()
                .pool_name(&pool_name)
                .send()
                .await
                .with_context(|| format!("create user pool {pool_name}"))?;
            let id = created
                .user_pool()
                .and_then(|p| p.id())
                .context("the new user pool has no id")?
                .to_string();
            report
                .changes
                .push(format!("created user pool {pool_name} ({id})"));
            id
        }
    };
    let client_name = format!("{prefix}-desk-web");
    let client_id = match find_client(cognito, &pool_id, &client_name).await? {
        Some(id) => id,
        None => {
            let id = create_client(cognito, &pool_id, &client_name).await?;
            report
                .changes
                .push(format!("created app client {client_name} ({id})"));
            id
        }
    };
    for group in DESK_GROUPS {
        let exists = cognito
            .get_group()
            .user_pool_id(&pool_id)
            .group_name(group)
            .send()
            .await;
        match exists {
            Ok(_) => {}
            Err(e)
                if e.as_service_error()
                    .is_some_and(|s| s.is_resource_not_found_exception()) =>
            {
                cognito
                    .create_group()
                    .user_pool_id(&pool_id)
                    .group_name(group)
                    .send()
                    .await
                    .with_context(|| format!("create group {group}"))?;
                report.changes.push(format!("created group {group}"));
            }
            Err(e) => return Err(e).with_context(|| format!("read group {group}")),
        }
    }
    for user in &users.users {
        setup_user(cognito, &pool_id, &client_id, user, &mut report).await?;
    }
    Ok((DeskPool::new(&pool_id, &client_id, endpoint), report))
}

/// Creates the app client `name` of `pool_id` as the desk's web client is: no secret (a browser
/// cannot keep one), sign-in with the password (USER_PASSWORD_AUTH) and refresh tokens.
pub async fn create_client(cognito: &Cognito, pool_id: &str, name: &str) -> Result<String> {
    let created = cognito
        .create_user_pool_client()
        .user_pool_id(pool_id)
        .client_name(name)
        .generate_secret(false)
        .explicit_auth_flows(ExplicitAuthFlowsType::AllowUserPasswordAuth)
        .explicit_auth_flows(ExplicitAuthFlowsType::AllowRefreshTokenAuth)
        .send()
        .await
        .with_context(|| format!("create app client {name}"))?;
    Ok(created
        .user_pool_client()
        .and_then(|c| c.client_id())
        .context("the new app client has no id")?
        .to_string())
}

async fn setup_user(
    cognito: &Cognito,
    pool_id: &str,
    client_id: &str,
    user: &DeskUser,
    report: &mut DeskSetupReport,
) -> Result<()> {
    let name = &user.username;
    let existing = cognito
        .admin_get_user()
        .user_pool_id(pool_id)
        .username(name)
        .send()
        .await;
    let set_password = match existing {
        Ok(_) => match login(cognito, client_id, name, user.password.expose()).await {
            Ok(_) => false,
            Err(LoginError::Refused(_)) => true,
            Err(LoginError::Other(e)) => return Err(e.context(format!("sign in as {name}"))),
        },
        Err(e)
            if e.as_service_error()
                .is_some_and(|s| s.is_user_not_found_exception()) =>
        {
            cognito
                .admin_create_user()
                .user_pool_id(pool_id)
                .username(name)
                .message_action(MessageActionType::Suppress)
                .send()
                .await
                .with_context(|| format!("create user {name}"))?;
            report.changes.push(format!("created user {name}"));
            true
        }
        Err(e) => return Err(e).with_context(|| format!("read user {name}")),
    };
    if set_password {
        cognito
            .admin_set_user_password()
            .user_pool_id(pool_id)
            .username(name)
            .password(user.password.expose())
            .permanent(true)
            .send()
            .await
            .with_context(|| format!("set the password of {name}"))?;
        report.changes.push(format!("set the password of {name}"));
    }
    let current: BTreeSet<String> = cognito
        .admin_list_groups_for_user()
        .user_pool_id(pool_id)
        .username(name)
        .send()
        .await
        .with_context(|| format!("list the groups of {name}"))?
        .groups()
        .iter()
        .filter_map(|g| g.group_name().map(str::to_string))
        .collect();
    let wanted: BTreeSet<String> = user.groups.iter().cloned().collect();
    for group in wanted.difference(&current) {
        cognito
            .admin_add_user_to_group()
            .user_pool_id(pool_id)
            .username(name)
            .group_name(group)
            .send()
            .await
            .with_context(|| format!("add {name} to {group}"))?;
        report.changes.push(format!("added {name} to {group}"));
    }
    for group in current.difference(&wanted) {
        cognito
            .admin_remove_user_from_group()
            .user_pool_id(pool_id)
            .username(name)
            .group_name(group)
            .send()
            .await
            .with_context(|| format!("remove {name} from {group}"))?;
        report.changes.push(format!("removed {name} from {group}"));
    }
    Ok(())
}

/// The id of the one user pool named `name`, if there is one.
pub async fn find_pool(cognito: &Cognito, name: &str) -> Result<Option<String>> {
    let mut found = Vec::new();
    let mut next = None;
    loop {
        let page = cognito
            .list_user_pools()
            .max_results(60)
            .set_next_token(next.take())
            .send()
            .await
            .context("list user pools")?;
        found.extend(
            page.user_pools()
                .iter()
                .filter(|p| p.name() == Some(name))
                .filter_map(|p| p.id().map(str::to_string)),
        );
        match page.next_token() {
            Some(t) if !t.is_empty() => next = Some(t.to_string()),
            _ => break,
        }
    }
    if found.len() > 1 {
        bail!(
            "{} user pools are named {name}: {}",
            found.len(),
            found.join(", ")
        );
    }
    Ok(found.pop())
}

async fn find_client(cognito: &Cognito, pool_id: &str, name: &str) -> Result<Option<String>> {
    let mut found = Vec::new();
    let mut next = None;
    loop {
        let page = cognito
            .list_user_pool_clients()
            .user_pool_id(pool_id)
            .max_results(60)
            .set_next_token(next.take())
            .send()
            .await
            .context("list app clients")?;
        found.extend(
            page.user_pool_clients()
                .iter()
                .filter(|c| c.client_name() == Some(name))
                .filter_map(|c| c.client_id().map(str::to_string)),
        );
        match page.next_token() {
            Some(t) if !t.is_empty() => next = Some(t.to_string()),
            _ => break,
        }
    }
    if found.len() > 1 {
        bail!(
            "{} app clients are named {name}: {}",
            found.len(),
            found.join(", ")
        );
    }
    Ok(found.pop())
}

/// Who the seeded profiles say changed them last.
pub const SEEDED_BY: &str = "gatewayctl local desk-setup";

/// The users' desk profiles into `table`, through the desk API's own store
/// (`gateway_aws::DynamoDbDesk`: `PK = AGENTS`, `SK = AGENT#{username}`), so that the items
/// are exactly what the desk reads. A stored profile whose fields are the file's is left
/// alone (a second setup writes nothing); one that differs, say after a supervisor's edit, is
/// set back to the file's as its next version. Returns what changed, one line each.
pub async fn seed_agent_profiles(
    dynamodb: &aws_sdk_dynamodb::Client,
    table: &str,
    users: &DeskUsers,
    now_ms: i64,
) -> Result<Vec<String>> {
    let desk = gateway_aws::DynamoDbDesk::new(gateway_aws::DynamoDbConversationStore::new(
        dynamodb.clone(),
        table,
        None,
    ));
    let mut changes = Vec::new();
    for user in &users.users {
        let name = &user.username;
        let wanted = user.agent_profile();
        let stored = desk
            .agent(name)
            .await
            .with_context(|| format!("read the profile of {name}"))?;
        let same = |s: &AgentProfile| {
            (&s.display_name, &s.teams, &s.accounts, s.capacity)
                == (
                    &wanted.display_name,
                    &wanted.teams,
                    &wanted.accounts,
                    wanted.capacity,
                )
        };
        if stored.as_ref().is_some_and(same) {
            continue;
        }
        let profile = AgentProfile {
            version: stored.as_ref().map_or(1, |s| s.version + 1),
            updated_at: now_ms,
            updated_by: Some(SEEDED_BY.to_string()),
            ..wanted
        };
        match desk
            .put_agent(&profile)
            .await
            .with_context(|| format!("write the profile of {name}"))?
        {
            ProfileWrite::Stored => changes.push(format!(
                "{} the profile of {name}",
                if stored.is_some() { "reset" } else { "stored" }
            )),
            ProfileWrite::Stale => {
                bail!("the profile of {name} changed while it was written: run the setup again")
            }
        }
    }
    Ok(changes)
}

/// The tokens of one sign-in.
#[derive(Clone, PartialEq, Eq)]
pub struct Tokens {
    /// What the desk API accepts.
    pub access_token: String,
    /// The user's ID token (refused by the desk API: `wrong_token_use`).
    pub id_token: String,
    /// Seconds until both expire.
    pub expires_in: i32,
}

impl std::fmt::Debug for Tokens {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tokens")
            .field("access_token", &"[redacted]")
            .field("id_token", &"[redacted]")
            .field("expires_in", &self.expires_in)
            .finish()
    }
}

/// Why a sign-in failed.
#[derive(Debug, thiserror::Error)]
pub enum LoginError {
    /// Cognito refused the username or password (`NotAuthorizedException`,
    /// `UserNotFoundException`), with its message.
    #[error("sign-in refused: {0}")]
    Refused(String),
    /// Anything else: the call failed, or Cognito asked for a challenge (a new password, MFA).
    #[error(transparent)]
    Other(#[from] anyhow::Error),
}

/// Signs in as `username` with `password` through the app client `client_id`
/// (`InitiateAuth`, `USER_PASSWORD_AUTH`, which the client must allow).
pub async fn login(
    cognito: &Cognito,
    client_id: &str,
    username: &str,
    password: &str,
) -> Result<Tokens, LoginError> {
    let answer = cognito
        .initiate_auth()
        .client_id(client_id)
        .auth_flow(AuthFlowType::UserPasswordAuth)
        .auth_parameters("USERNAME", username)
        .auth_parameters("PASSWORD", password)
        .send()
        .await;
    let answer = match answer {
        Ok(answer) => answer,
        Err(e) => {
            if let Some(s) = e.as_service_error()
                && (s.is_not_authorized_exception() || s.is_user_not_found_exception())
            {
                return Err(LoginError::Refused(
                    s.meta().message().unwrap_or("not authorized").to_string(),
                ));
            }
            return Err(anyhow::Error::new(e).context("InitiateAuth").into());
        }
    };
    let Some(result) = answer.authentication_result() else {
        let challenge = answer
            .challenge_name()
            .map_or("none".to_string(), |c| c.as_str().to_string());
        return Err(anyhow::anyhow!(
            "Cognito asks for the challenge {challenge}, which this command does not answer"
        )
        .into());
    };
    let token = |t: Option<&str>, what: &str| {
        t.map(str::to_string)
            .ok_or_else(|| anyhow::anyhow!("the answer has no {what}"))
    };
    Ok(Tokens {
        access_token: token(result.access_token(), "access token")?,
        id_token: token(result.id_token(), "ID token")?,
        expires_in: result.expires_in(),
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn repo_file(path: &str) -> String {
        std::fs::read_to_string(format!("{}/../../{path}", env!("CARGO_MANIFEST_DIR"))).unwrap()
    }

    #[test]
    fn the_local_users_file_is_valid_and_has_the_demo_users() {
        let users = DeskUsers::from_json(&repo_file(DEFAULT_USERS_FILE)).unwrap();
        let agent1 = users.user("agent1").unwrap();
        assert_eq!(agent1.groups, ["agents"]);
        assert_eq!(agent1.profile.teams, ["complaints"]);
        assert!(users.user("agent2").is_some());
        assert_ne!(users.user("agent3").unwrap().profile.teams, ["complaints"]);
        assert!(
            users
                .user("supervisor1")
                .unwrap()
                .groups
                .contains(&"supervisors".into())
        );
        assert!(
            users
                .users
                .iter()
                .any(|u| u.groups.contains(&"admins".into()))
        );
    }

    #[test]
    fn the_local_users_work_for_accounts_the_local_accounts_document_has() {
        let users = DeskUsers::from_json(&repo_file(DEFAULT_USERS_FILE)).unwrap();
        let accounts = gateway_core::account::AccountsDocument::from_json(&repo_file(
            "config/accounts.local.json",
        ))
        .unwrap();
        for user in &users.users {
            for a in user.profile.accounts.iter().filter(|a| *a != "*") {
                let (channel, name) = a.split_once(':').unwrap();
                let known = match channel {
                    "wechat" => accounts.wechat.contains_key(name),
                    _ => accounts.weibo.contains_key(name),
                };
                assert!(
                    known,
                    "{}: {a} is not in config/accounts.local.json",
                    user.username
                );
            }
        }
    }

    #[test]
    fn every_problem_of_a_users_file_is_listed() {
        let user = |name: &str, password: &str, groups: &str, profile: &str| {
            format!(
                r#"{{"username": "{name}", "password": "{password}", "groups": {groups}, "profile": {profile}}}"#
            )
        };
        let good = r#"{"display_name": "A", "teams": ["complaints"], "accounts": ["wechat:demo"], "capacity": 1}"#;
        let users = [
            user("a b", "short", r#"["agents", "root"]"#, good),
            user("twice", "long enough", "[]", good),
            user("twice", "long enough", "[]", good),
            user(
                "blank",
                "long enough",
                "[]",
                r#"{"display_name": " ", "teams": [], "accounts": [], "capacity": 1}"#,
            ),
            user(
                "team",
                "long enough",
                "[]",
                r#"{"display_name": "T", "teams": ["a team"], "accounts": [], "capacity": 1}"#,
            ),
            user(
                "line",
                "long enough",
                "[]",
                r#"{"display_name": "L", "teams": [], "accounts": ["line:x"], "capacity": 1}"#,
            ),
            user(
                "idle",
                "long enough",
                "[]",
                r#"{"display_name": "I", "teams": [], "accounts": ["*"], "capacity": 0}"#,
            ),
        ];
        let text = format!(
            r#"{{"_note": "comments are fine", "users": [{}]}}"#,
            users.join(",")
        );
        let message = format!("{:#}", DeskUsers::from_json(&text).unwrap_err());
        for expected in [
            "user a b: username: 1 to 64 letters, digits or -_.@",
            "user twice: listed twice",
            "user a b: the password must have at least 8 characters",
            "user a b: unknown group `root`",
            "user blank: profile.display_name",
            "user team: profile.teams: `a team`",
            "user line: profile.accounts: `line:x`",
            "user idle: profile.capacity: 1 to 1000",
        ] {
            assert!(message.contains(expected), "{expected}: {message}");
        }
        assert_eq!(message.matches("user ").count(), 8, "{message}");
    }

    #[test]
    fn unknown_fields_are_refused_and_passwords_never_printed() {
        let unknown = r#"{"users": [], "extra": 1}"#;
        assert!(DeskUsers::from_json(unknown).is_err());
        let typo = r#"{"users": [{"username": "x", "password": "p4ssw0rd!", "group": [],
            "profile": {"display_name": "X", "teams": [], "accounts": [], "capacity": 1}}]}"#;
        assert!(DeskUsers::from_json(typo).is_err());
        let users = DeskUsers::from_json(&repo_file(DEFAULT_USERS_FILE)).unwrap();
        let printed = format!("{users:?}");
        for user in &users.users {
            assert!(!printed.contains(user.password.expose()));
        }
    }

    #[test]
    fn the_issuer_and_jwks_url_follow_the_pool_and_the_endpoint() {
        let local = DeskPool::new("eu-west-1_AbC", "client", Some("http://127.0.0.1:5000/"));
        assert_eq!(
            local.token_issuer,
            "https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_AbC"
        );
        assert_eq!(
            local.jwks_url,
            "http://127.0.0.1:5000/eu-west-1_AbC/.well-known/jwks.json"
        );
        let aws = DeskPool::new("eu-west-1_AbC", "client", None);
        assert_eq!(
            aws.jwks_url,
            "https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_AbC/.well-known/jwks.json"
        );
        assert_eq!(
            aws.env_lines(),
            "DESK_USER_POOL_ID=eu-west-1_AbC\nDESK_CLIENT_ID=client\n\
             DESK_TOKEN_ISSUER=https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_AbC\n\
             DESK_JWKS_URL=https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_AbC/.well-known/jwks.json\n"
        );
    }
}
