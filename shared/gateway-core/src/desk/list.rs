//! The filters of a conversation list (`GET /conversations`) and the one index query that
//! serves them.
//!
//! A list reads one partition of an index, in the order the index keeps (unanswered first,
//! escalated before the others, oldest waiting first; then answered ones): a team's queue
//! (`GSI2`, `TEAM#{team}#{status}`) when a team is named, an account's inbox (`GSI1`,
//! `INBOX#{channel}#{account}#{status}`) otherwise. The other filters, and the caller's
//! scope, narrow that partition.

use super::access::{Caller, is_valid_agent_id, is_valid_team, parse_account_key};
use super::change::is_valid_tag;
use crate::conversation::Status;
use crate::message::Channel;

/// Default page size.
pub const DEFAULT_LIMIT: u32 = 25;
/// Largest page size.
pub const MAX_LIMIT: u32 = 100;

/// Whose conversations.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AssigneeFilter {
    /// Assigned to this agent (`me` is resolved to the caller).
    Agent(String),
    /// Assigned to nobody (`none`).
    Nobody,
}

/// The query string of `GET /conversations`, checked.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ListQuery {
    /// `account=wechat:demo`.
    pub account: Option<(Channel, String)>,
    /// `team=complaints`.
    pub team: Option<String>,
    /// `status=open` (default), `pending`, `resolved`.
    pub status: Status,
    /// `assignee=me|none|<agent>`.
    pub assignee: Option<AssigneeFilter>,
    /// `tag=crisis`.
    pub tag: Option<String>,
    /// `unanswered=true`: only customers waiting for an answer.
    pub unanswered: bool,
    /// `escalated=true`.
    pub escalated: bool,
    /// `breached=true`: only waits past their due time.
    pub breached: bool,
    /// `limit` (1 to 100, default 25).
    pub limit: u32,
    /// `cursor`: the `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

fn flag(field: &str, v: &str) -> Result<bool, (String, String)> {
    match v {
        "true" => Ok(true),
        "false" => Ok(false),
        _ => Err((field.into(), "`true` or `false`".into())),
    }
}

impl ListQuery {
    /// Parses the query parameters; `Err` names the parameter and the reason.
    pub fn parse<'a>(
        params: impl IntoIterator<Item = (&'a str, &'a str)>,
        caller: &Caller,
    ) -> Result<ListQuery, (String, String)> {
        let mut q = ListQuery {
            limit: DEFAULT_LIMIT,
            ..Default::default()
        };
        let bad = |field: &str, reason: &str| Err((field.to_string(), reason.to_string()));
        for (k, v) in params {
            match k {
                "account" => match parse_account_key(v) {
                    Some(a) => q.account = Some(a),
                    None => return bad("account", "`wechat:<account>` or `weibo:<account>`"),
                },
                "team" if is_valid_team(v) => q.team = Some(v.to_string()),
                "team" => return bad("team", "1 to 64 letters, digits or -_.@"),
                "status" => {
                    q.status = match v {
                        "open" => Status::Open,
                        "pending" => Status::Pending,
                        "resolved" => Status::Resolved,
                        _ => return bad("status", "`open`, `pending` or `resolved`"),
                    }
                }
                "assignee" => {
                    q.assignee = Some(match v {
                        "me" => AssigneeFilter::Agent(caller.agent_id.clone()),
                        "none" => AssigneeFilter::Nobody,
                        a if is_valid_agent_id(a) => AssigneeFilter::Agent(a.to_string()),
                        _ => return bad("assignee", "`me`, `none` or an agent id"),
                    })
                }
                "tag" if is_valid_tag(v) => q.tag = Some(v.to_string()),
                "tag" => return bad("tag", "1 to 64 characters, no `#` or spaces"),
                "unanswered" => q.unanswered = flag(k, v)?,
                "escalated" => q.escalated = flag(k, v)?,
                "breached" => q.breached = flag(k, v)?,
                "limit" => match v.parse::<u32>() {
                    Ok(n) if (1..=MAX_LIMIT).contains(&n) => q.limit = n,
                    _ => return bad("limit", "an integer from 1 to 100"),
                },
                "cursor" if !v.is_empty() && v.len() <= 2048 => q.cursor = Some(v.to_string()),
                "cursor" => return bad("cursor", "the next_cursor of a previous page"),
                other => {
                    return Err((
                        other.to_string(),
                        "unknown parameter (account, team, status, assignee, tag, unanswered, \
                         escalated, breached, limit, cursor)"
                            .to_string(),
                    ));
                }
            }
        }
        Ok(q)
    }
}

/// The index a list reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Index {
    /// Accounts' inboxes.
    Gsi1,
    /// Teams' queues.
    Gsi2,
}

/// A condition on the conversations of the partition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Filter {
    /// The conversation's account is one of these (`channel:account`).
    AccountIn(Vec<String>),
    /// Its team is one of these, or it has none.
    TeamInOrNone(Vec<String>),
    /// Assigned to this agent.
    Assignee(String),
    /// Assigned to nobody.
    Unassigned,
    /// Carries this tag.
    Tag(String),
    /// Escalated.
    Escalated,
    /// Its current wait breached its due time.
    Breached,
}

/// The one index query of a list: the partition, the sort-key prefix, the filters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListPlan {
    /// The index.
    pub index: Index,
    /// Its partition key value.
    pub partition: String,
    /// A sort-key prefix: `Waiting` for unanswered ones only, `WaitingEscalated` for escalated
    /// unanswered ones.
    pub waiting: Waiting,
    /// Further conditions.
    pub filters: Vec<Filter>,
    /// Page size.
    pub limit: u32,
}

/// Which part of the partition's sort order a list reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Waiting {
    /// All of it.
    Any,
    /// Customers waiting for an answer.
    Unanswered,
    /// Escalated customers waiting for an answer.
    UnansweredEscalated,
}

/// Why a list cannot be served.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PlanError {
    /// Bad input: the parameter and the reason (400).
    Invalid(String, String),
    /// Outside the caller's scope (403).
    Forbidden(String),
}

impl ListQuery {
    /// The index query that serves this list for `caller`.
    pub fn plan(&self, caller: &Caller) -> Result<ListPlan, PlanError> {
        let status = self.status.as_str();
        let profile_teams: Vec<String> = caller
            .profile
            .as_ref()
            .map(|p| p.teams.iter().cloned().collect())
            .unwrap_or_default();
        let account_key = self
            .account
            .as_ref()
            .map(|(channel, account)| format!("{channel}:{account}"));
        if let Some(a) = &account_key
            && !caller.covers_account(a)
        {
            return Err(PlanError::Forbidden(format!("account {a} is not yours")));
        }
        let mut filters = Vec::new();
        // The team named, or an agent's only team when neither team nor account is named.
        let team = match (&self.team, &self.account) {
            (Some(t), _) => Some(t.clone()),
            (None, None) if !caller.supervises() && profile_teams.len() == 1 => {
                Some(profile_teams[0].clone())
            }
            (None, None) => {
                return Err(PlanError::Invalid(
                    "team".into(),
                    "name a team or an account (`team=…` or `account=channel:account`)".into(),
                ));
            }
            (None, Some(_)) => None,
        };
        let (index, partition) = match (&team, &self.account) {
            (Some(team), _) => {
                if !caller.covers_team(team) {
                    return Err(PlanError::Forbidden(format!("team {team} is not yours")));
                }
                match &account_key {
                    Some(a) => filters.push(Filter::AccountIn(vec![a.clone()])),
                    None if caller.role != super::Role::Admin => {
                        let accounts: Vec<String> = caller
                            .profile
                            .as_ref()
                            .map(|p| p.accounts.iter().cloned().collect())
                            .unwrap_or_default();
                        if !accounts.iter().any(|a| a == "*") {
                            filters.push(Filter::AccountIn(accounts));
                        }
                    }
                    None => {}
                }
                (Index::Gsi2, format!("TEAM#{team}#{status}"))
            }
            (None, Some((channel, account))) => {
                if !caller.supervises() {
                    filters.push(Filter::TeamInOrNone(profile_teams));
                }
                (Index::Gsi1, format!("INBOX#{channel}#{account}#{status}"))
            }
            (None, None) => unreachable!("a team is chosen above"),
        };
        match &self.assignee {
            Some(AssigneeFilter::Agent(a)) => filters.push(Filter::Assignee(a.clone())),
            Some(AssigneeFilter::Nobody) => filters.push(Filter::Unassigned),
            None => {}
        }
        if let Some(tag) = &self.tag {
            filters.push(Filter::Tag(tag.clone()));
        }
        if self.breached {
            filters.push(Filter::Breached);
        }
        let waiting = match (self.unanswered, self.escalated) {
            (true, true) => Waiting::UnansweredEscalated,
            (true, false) => Waiting::Unanswered,
            (false, escalated) => {
                if escalated {
                    filters.push(Filter::Escalated);
                }
                Waiting::Any
            }
        };
        Ok(ListPlan {
            index,
            partition,
            waiting,
            filters,
            limit: self.limit,
        })
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::desk::{AgentProfile, Role};

    fn caller(role: Role, teams: &[&str], accounts: &[&str]) -> Caller {
        Caller {
            agent_id: "agent1".into(),
            role,
            profile: Some(AgentProfile {
                agent_id: "agent1".into(),
                display_name: "A".into(),
                teams: teams.iter().map(|s| s.to_string()).collect(),
                accounts: accounts.iter().map(|s| s.to_string()).collect(),
                capacity: 5,
                updated_at: 0,
                updated_by: None,
                version: 1,
            }),
        }
    }

    fn plan(query: &str, caller: &Caller) -> Result<ListPlan, PlanError> {
        let pairs: Vec<(&str, &str)> = query
            .split('&')
            .filter(|p| !p.is_empty())
            .map(|p| p.split_once('=').unwrap())
            .collect();
        ListQuery::parse(pairs, caller)
            .map_err(|(f, r)| PlanError::Invalid(f, r))?
            .plan(caller)
    }

    #[test]
    fn an_agent_with_one_team_reads_their_team_queue_within_their_accounts() {
        let agent = caller(
            Role::Agent,
            &["complaints"],
            &["wechat:demo", "weibo:brand"],
        );
        let p = plan("unanswered=true&assignee=me", &agent).unwrap();
        assert_eq!(p.index, Index::Gsi2);
        assert_eq!(p.partition, "TEAM#complaints#open");
        assert_eq!(p.waiting, Waiting::Unanswered);
        assert_eq!(
            p.filters,
            [
                Filter::AccountIn(vec!["wechat:demo".into(), "weibo:brand".into()]),
                Filter::Assignee("agent1".into())
            ]
        );
        assert_eq!(p.limit, DEFAULT_LIMIT);
    }

    #[test]
    fn an_account_inbox_shows_an_agent_their_teams_and_unrouted_conversations() {
        let agent = caller(Role::Agent, &["complaints", "vip"], &["wechat:demo"]);
        let p = plan(
            "account=wechat:demo&status=pending&tag=crisis&breached=true",
            &agent,
        )
        .unwrap();
        assert_eq!(
            (p.index, p.partition.as_str()),
            (Index::Gsi1, "INBOX#wechat#demo#pending")
        );
        assert_eq!(
            p.filters,
            [
                Filter::TeamInOrNone(vec!["complaints".into(), "vip".into()]),
                Filter::Tag("crisis".into()),
                Filter::Breached
            ]
        );
        let supervisor = caller(Role::Supervisor, &[], &["wechat:demo"]);
        let p = plan(
            "account=wechat:demo&escalated=true&unanswered=true",
            &supervisor,
        )
        .unwrap();
        assert!(p.filters.is_empty());
        assert_eq!(p.waiting, Waiting::UnansweredEscalated);
    }

    #[test]
    fn outside_scope_is_forbidden_and_bad_parameters_name_themselves() {
        let agent = caller(Role::Agent, &["complaints", "vip"], &["wechat:demo"]);
        assert!(matches!(
            plan("team=sales", &agent),
            Err(PlanError::Forbidden(_))
        ));
        assert!(matches!(
            plan("account=weibo:brand", &agent),
            Err(PlanError::Forbidden(_))
        ));
        // Two teams and nothing named: which list is meant?
        assert!(matches!(plan("", &agent), Err(PlanError::Invalid(f, _)) if f == "team"));
        for (q, field) in [
            ("team=complaints&limit=0", "limit"),
            ("team=complaints&limit=101", "limit"),
            ("team=complaints&status=closed", "status"),
            ("team=complaints&unanswered=yes", "unanswered"),
            ("account=qq:demo", "account"),
            ("team=complaints&sort=oldest", "sort"),
        ] {
            assert!(
                matches!(plan(q, &agent), Err(PlanError::Invalid(f, _)) if f == field),
                "{q}"
            );
        }
    }

    #[test]
    fn an_admin_reads_any_team_without_account_filters() {
        let admin = Caller {
            agent_id: "root".into(),
            role: Role::Admin,
            profile: None,
        };
        let p = plan("team=sales", &admin).unwrap();
        assert!(p.filters.is_empty());
    }
}
