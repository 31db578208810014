//! Roles, agent profiles and scope.
//!
//! A caller's role comes from their sign-in groups (`admins`, `supervisors`, `agents`; the
//! highest wins). Agents and supervisors work within their profile: the accounts they may
//! work (`channel:account`, or `*` for all) and, for agents, their teams. A conversation
//! outside a caller's scope does not exist for them.

use crate::conversation::Conversation;
use crate::message::Channel;
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;

/// The longest agent id, display name, team or account name, in characters.
pub const MAX_NAME_CHARS: usize = 64;
/// The most teams or accounts a profile lists.
pub const MAX_PROFILE_ENTRIES: usize = 50;
/// The largest capacity (conversations at once) a profile may give.
pub const MAX_CAPACITY: u32 = 1000;

/// What a caller may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Answers conversations of their teams and accounts.
    Agent,
    /// Also sees every team of their accounts, assigns, manages profiles and canned responses,
    /// reads statistics.
    Supervisor,
    /// Everything, everywhere.
    Admin,
}

impl Role {
    /// The highest role among sign-in groups; `None` when no group gives one.
    pub fn from_groups<S: AsRef<str>>(groups: &[S]) -> Option<Role> {
        groups
            .iter()
            .filter_map(|g| match g.as_ref() {
                "admins" => Some(Role::Admin),
                "supervisors" => Some(Role::Supervisor),
                "agents" => Some(Role::Agent),
                _ => None,
            })
            .max()
    }

    /// Lowercase name.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Agent => "agent",
            Role::Supervisor => "supervisor",
            Role::Admin => "admin",
        }
    }
}

/// An agent's (or supervisor's) desk profile, kept by supervisors.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AgentProfile {
    /// The agent's id: their sign-in user name.
    pub agent_id: String,
    /// Shown to colleagues (and in canned responses as `{{agent_name}}`).
    pub display_name: String,
    /// The teams whose conversations they work.
    #[serde(default)]
    pub teams: BTreeSet<String>,
    /// The accounts they may work: `channel:account` (`wechat:demo`), or `*` for all.
    #[serde(default)]
    pub accounts: BTreeSet<String>,
    /// How many conversations they take at once ("take next" stops there).
    #[serde(default = "default_capacity")]
    pub capacity: u32,
    /// When the profile last changed, Unix ms.
    #[serde(default)]
    pub updated_at: i64,
    /// Who changed it last.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub updated_by: Option<String>,
    /// Optimistic-concurrency version (0: not stored yet).
    #[serde(default)]
    pub version: u64,
}

fn default_capacity() -> u32 {
    5
}

fn valid_name(s: &str) -> bool {
    !s.is_empty()
        && s.chars().count() <= MAX_NAME_CHARS
        && s.chars()
            .all(|c| c.is_alphanumeric() || matches!(c, '-' | '_' | '.' | '@'))
}

/// Whether `s` is a valid agent id (a sign-in user name: letters, digits, `-_.@`).
pub fn is_valid_agent_id(s: &str) -> bool {
    valid_name(s)
}

/// Whether `s` is a valid team name (the teams of the rules document).
pub fn is_valid_team(s: &str) -> bool {
    valid_name(s)
}

impl AgentProfile {
    /// Checks the fields a supervisor sent: `Err` names the field and the reason.
    pub fn validate(&self) -> Result<(), (String, String)> {
        let bad = |field: &str, reason: String| Err((field.to_string(), reason));
        if !is_valid_agent_id(&self.agent_id) {
            return bad(
                "agent_id",
                format!("1 to {MAX_NAME_CHARS} letters, digits or -_.@"),
            );
        }
        let name = self.display_name.trim();
        if name.is_empty() || name.chars().count() > MAX_NAME_CHARS {
            return bad("display_name", format!("1 to {MAX_NAME_CHARS} characters"));
        }
        if self.teams.len() > MAX_PROFILE_ENTRIES {
            return bad("teams", format!("at most {MAX_PROFILE_ENTRIES}"));
        }
        if let Some(t) = self.teams.iter().find(|t| !is_valid_team(t)) {
            return bad(
                "teams",
                format!("`{t}`: 1 to {MAX_NAME_CHARS} letters, digits or -_.@"),
            );
        }
        if self.accounts.len() > MAX_PROFILE_ENTRIES {
            return bad("accounts", format!("at most {MAX_PROFILE_ENTRIES}"));
        }
        if let Some(a) = self.accounts.iter().find(|a| !valid_account_scope(a)) {
            return bad(
                "accounts",
                format!("`{a}`: `wechat:<account>`, `weibo:<account>` or `*`"),
            );
        }
        if self.capacity == 0 || self.capacity > MAX_CAPACITY {
            return bad("capacity", format!("1 to {MAX_CAPACITY}"));
        }
        Ok(())
    }

    /// Whether the profile covers the account `channel:account`.
    pub fn covers_account(&self, account_key: &str) -> bool {
        self.accounts.contains("*") || self.accounts.contains(account_key)
    }
}

fn valid_account_scope(a: &str) -> bool {
    a == "*" || parse_account_key(a).is_some()
}

/// `wechat:demo` as its channel and account name; `None` for anything else.
pub fn parse_account_key(key: &str) -> Option<(Channel, String)> {
    let (channel, account) = key.split_once(':')?;
    let channel = channel.parse::<Channel>().ok()?;
    crate::account::is_valid_account_name(account).then(|| (channel, account.to_string()))
}

/// The `channel:account` of a conversation.
pub fn account_key(c: &Conversation) -> String {
    format!("{}:{}", c.channel, c.account_id)
}

/// Who is calling: their id (sign-in user name), role and profile.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    /// The agent id.
    pub agent_id: String,
    /// Their role.
    pub role: Role,
    /// Their profile; admins may have none.
    pub profile: Option<AgentProfile>,
}

impl Caller {
    /// The actor named in audit entries and `resolved_by`: `agent:<id>`.
    pub fn actor(&self) -> String {
        format!("agent:{}", self.agent_id)
    }

    /// At least a supervisor.
    pub fn supervises(&self) -> bool {
        self.role >= Role::Supervisor
    }

    /// Whether the caller may work the account `channel:account`.
    pub fn covers_account(&self, account_key: &str) -> bool {
        self.role == Role::Admin
            || self
                .profile
                .as_ref()
                .is_some_and(|p| p.covers_account(account_key))
    }

    /// Whether the caller may work `team`'s conversations: a supervisor every team of their
    /// accounts, an agent their own teams.
    pub fn covers_team(&self, team: &str) -> bool {
        self.supervises()
            || self
                .profile
                .as_ref()
                .is_some_and(|p| p.teams.contains(team))
    }

    /// Whether the caller may see and act on `c`: its account is theirs, and for an agent its
    /// team is one of theirs, or it has none yet.
    pub fn sees(&self, c: &Conversation) -> bool {
        self.covers_account(&account_key(c))
            && c.team.as_deref().is_none_or(|t| self.covers_team(t))
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::testing::text_message;

    fn profile(teams: &[&str], accounts: &[&str]) -> AgentProfile {
        AgentProfile {
            agent_id: "agent1".into(),
            display_name: "小李".into(),
            teams: teams.iter().map(|s| s.to_string()).collect(),
            accounts: accounts.iter().map(|s| s.to_string()).collect(),
            capacity: 5,
            updated_at: 0,
            updated_by: None,
            version: 0,
        }
    }

    fn conversation(account: &str, team: Option<&str>) -> Conversation {
        let m = text_message(account, "u1", "1", "hi", 1);
        let mut c = Conversation::new_for(&m);
        c.team = team.map(str::to_string);
        c
    }

    #[test]
    fn the_highest_group_gives_the_role_and_unknown_groups_none() {
        assert_eq!(Role::from_groups(&["agents"]), Some(Role::Agent));
        assert_eq!(
            Role::from_groups(&["agents", "supervisors"]),
            Some(Role::Supervisor)
        );
        assert_eq!(Role::from_groups(&["admins", "agents"]), Some(Role::Admin));
        assert_eq!(Role::from_groups(&["marketing"]), None);
        assert_eq!(Role::from_groups::<&str>(&[]), None);
    }

    #[test]
    fn an_agent_sees_their_accounts_teams_and_unrouted_conversations_only() {
        let agent = Caller {
            agent_id: "agent1".into(),
            role: Role::Agent,
            profile: Some(profile(&["complaints"], &["wechat:demo"])),
        };
        assert!(agent.sees(&conversation("demo", Some("complaints"))));
        assert!(agent.sees(&conversation("demo", None)));
        assert!(!agent.sees(&conversation("demo", Some("sales"))));
        assert!(!agent.sees(&conversation("other", Some("complaints"))));

        let supervisor = Caller {
            role: Role::Supervisor,
            ..agent.clone()
        };
        assert!(supervisor.sees(&conversation("demo", Some("sales"))));
        assert!(!supervisor.sees(&conversation("other", Some("sales"))));

        let nobody = Caller {
            profile: None,
            ..agent.clone()
        };
        assert!(!nobody.sees(&conversation("demo", None)));
        let admin = Caller {
            role: Role::Admin,
            ..nobody
        };
        assert!(admin.sees(&conversation("other", Some("sales"))));
    }

    #[test]
    fn a_star_covers_every_account() {
        let p = profile(&[], &["*"]);
        assert!(p.covers_account("weibo:anything"));
    }

    #[test]
    fn a_profile_names_the_field_it_fails_on() {
        assert!(
            profile(&["complaints"], &["wechat:demo", "*"])
                .validate()
                .is_ok()
        );
        let cases = [
            (
                AgentProfile {
                    agent_id: "has space".into(),
                    ..profile(&[], &[])
                },
                "agent_id",
            ),
            (
                AgentProfile {
                    display_name: " ".into(),
                    ..profile(&[], &[])
                },
                "display_name",
            ),
            (profile(&["bad team"], &[]), "teams"),
            (profile(&[], &["qq:demo"]), "accounts"),
            (profile(&[], &["wechat"]), "accounts"),
            (
                AgentProfile {
                    capacity: 0,
                    ..profile(&[], &[])
                },
                "capacity",
            ),
        ];
        for (p, field) in cases {
            assert_eq!(p.validate().unwrap_err().0, field, "{p:?}");
        }
    }
}
