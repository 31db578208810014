//! The local users file (`GATEWAY_DESK_USERS_FILE`, default `config/desk-users.local.json`):
//! demo users with their passwords, groups and desk profiles, checked as the desk checks them.

use anyhow::{Context, Result, bail};
use gateway_core::account::Secret;
use gateway_core::desk::AgentProfile;
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;

/// The users file the local stack reads unless `GATEWAY_DESK_USERS_FILE` names another.
pub const DEFAULT_USERS_FILE: &str = "config/desk-users.local.json";

/// The desk's Cognito groups: what each user may do is decided from these.
pub const DESK_GROUPS: [&str; 3] = ["agents", "supervisors", "admins"];

/// The users file: demo users of the local stack.
#[derive(Debug, Clone, PartialEq)]
pub struct DeskUsers {
    /// In the file's order.
    pub users: Vec<DeskUser>,
}

/// One user of the users file.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeskUser {
    /// The Cognito username (the `username` claim of the access token).
    pub username: String,
    /// A demo password (it satisfies Cognito's default password policy).
    pub password: Secret,
    /// Cognito groups, among [`DESK_GROUPS`].
    pub groups: Vec<String>,
    /// What the desk knows of the agent.
    pub profile: DeskProfile,
}

/// An agent's desk profile, as the users file gives it: the fields of the desk's
/// [`AgentProfile`] that a supervisor sets, checked as the desk API checks them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeskProfile {
    /// The name the desk shows.
    pub display_name: String,
    /// The teams whose conversations the agent works on (the rules' `team`).
    pub teams: Vec<String>,
    /// The accounts the agent works for, as `channel:account` (`wechat:demo`, `weibo:brand`),
    /// or `*` for all.
    pub accounts: Vec<String>,
    /// How many conversations the agent handles at once (1 to 1000).
    pub capacity: u32,
}

impl DeskUser {
    /// The user's desk profile as the desk API stores it, not yet stored (version 0).
    pub fn agent_profile(&self) -> AgentProfile {
        let p = &self.profile;
        AgentProfile {
            agent_id: self.username.clone(),
            display_name: p.display_name.clone(),
            teams: p.teams.iter().cloned().collect(),
            accounts: p.accounts.iter().cloned().collect(),
            capacity: p.capacity,
            updated_at: 0,
            updated_by: None,
            version: 0,
        }
    }
}

impl DeskUsers {
    /// Parses and checks a users file: top-level keys starting with `_` are comments; every
    /// problem is listed in the error.
    pub fn from_json(text: &str) -> Result<DeskUsers> {
        #[derive(Deserialize)]
        #[serde(deny_unknown_fields)]
        struct File {
            users: Vec<DeskUser>,
        }
        let mut value: serde_json::Value = serde_json::from_str(text).context("not JSON")?;
        if let Some(map) = value.as_object_mut() {
            map.retain(|k, _| !k.starts_with('_'));
        }
        let file: File = serde_json::from_value(value).context("not a desk users file")?;
        let users = DeskUsers { users: file.users };
        let problems = users.problems();
        if !problems.is_empty() {
            bail!("{}", problems.join("\n"));
        }
        Ok(users)
    }

    /// Reads and checks the users file at `path`.
    pub fn read(path: &std::path::Path) -> Result<DeskUsers> {
        let text =
            std::fs::read_to_string(path).with_context(|| format!("read {}", path.display()))?;
        DeskUsers::from_json(&text).with_context(|| format!("{}: invalid", path.display()))
    }

    /// The user named `username`.
    pub fn user(&self, username: &str) -> Option<&DeskUser> {
        self.users.iter().find(|u| u.username == username)
    }

    fn problems(&self) -> Vec<String> {
        let mut problems = Vec::new();
        let mut seen = BTreeSet::new();
        for (i, u) in self.users.iter().enumerate() {
            let who = if u.username.is_empty() {
                format!("users[{i}]")
            } else {
                format!("user {}", u.username)
            };
            if !seen.insert(u.username.as_str()) {
                problems.push(format!("{who}: listed twice"));
            }
            if u.password.expose().chars().count() < 8 {
                problems.push(format!(
                    "{who}: the password must have at least 8 characters"
                ));
            }
            for g in &u.groups {
                if !DESK_GROUPS.contains(&g.as_str()) {
                    problems.push(format!(
                        "{who}: unknown group `{g}` (one of {})",
                        DESK_GROUPS.join(", ")
                    ));
                }
            }
            // The desk API's own check of a profile (its first problem), the username being
            // the agent id.
            if let Err((field, reason)) = u.agent_profile().validate() {
                let field = if field == "agent_id" {
                    "username".to_string()
                } else {
                    format!("profile.{field}")
                };
                problems.push(format!("{who}: {field}: {reason}"));
            }
        }
        problems
    }
}
