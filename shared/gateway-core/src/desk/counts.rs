//! Queue counts (`GET /conversations/counts`): how many conversations of a list's scope are
//! open, and how many of those wait for an answer, are escalated, breached, the caller's or
//! nobody's; and how many resolved ones the table still holds.
//!
//! The scope is a list's (`account`, `team`, with the same defaults and permissions:
//! [`ListQuery::plan`]), read as two index partitions: the scope's `open` one (what
//! `GET /conversations` pages through by default) and its `resolved` one. Pending
//! conversations (waiting for the customer) are counted in neither. Each partition is read
//! up to [`COUNT_CAP`] conversations; a partition with more is counted over its first
//! [`COUNT_CAP`] (in queue order) and the answer says `capped`.

use super::access::{Caller, is_valid_team, parse_account_key};
use super::list::{ListPlan, ListQuery, PlanError};
use crate::conversation::Status;
use crate::message::Channel;
use serde::Serialize;

/// The most conversations read per partition by one count.
pub const COUNT_CAP: u32 = 1000;

/// The attributes of a conversation a count reads (the index query projects only these).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct QueueEntry {
    /// `{channel}:{account}:{customer}`.
    pub key: String,
    /// Its team.
    pub team: Option<String>,
    /// Its assignee.
    pub assignee: Option<String>,
    /// Escalated.
    pub escalated: bool,
    /// The customer waits for an answer (`waiting_since` is set).
    pub unanswered: bool,
    /// The current wait breached its due time (`sla_breached_at` is set).
    pub breached: bool,
}

impl QueueEntry {
    /// The `channel:account` of its key.
    fn account_key(&self) -> Option<String> {
        let mut parts = self.key.splitn(3, ':');
        let (channel, account) = (parts.next()?, parts.next()?);
        Some(format!("{channel}:{account}"))
    }

    /// Whether `caller` sees it (as [`Caller::sees`] a conversation).
    pub fn seen_by(&self, caller: &Caller) -> bool {
        self.account_key()
            .is_some_and(|a| caller.covers_account(&a))
            && self.team.as_deref().is_none_or(|t| caller.covers_team(t))
    }
}

/// The conversations of one partition a count read, and whether it stopped at the cap.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Sample {
    /// What was read (after the plan's filters).
    pub entries: Vec<QueueEntry>,
    /// The partition holds more than was read.
    pub capped: bool,
}

/// The counts of a scope.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
pub struct QueueCounts {
    /// Open conversations (status `open`).
    pub open: u64,
    /// Of the open ones, customers waiting for an answer.
    pub unanswered: u64,
    /// Of the open ones, escalated.
    pub escalated: u64,
    /// Of the open ones, whose current wait breached its due time.
    pub breached: u64,
    /// Of the open ones, assigned to the caller.
    pub mine: u64,
    /// Of the open ones, assigned to nobody.
    pub unassigned: u64,
    /// Resolved conversations.
    pub resolved: u64,
}

impl QueueCounts {
    /// Counts the `open` and `resolved` entries `caller` sees.
    pub fn count(open: &[QueueEntry], resolved: &[QueueEntry], caller: &Caller) -> QueueCounts {
        let mut c = QueueCounts::default();
        for e in open.iter().filter(|e| e.seen_by(caller)) {
            c.open += 1;
            c.unanswered += u64::from(e.unanswered);
            c.escalated += u64::from(e.escalated);
            c.breached += u64::from(e.breached);
            c.mine += u64::from(e.assignee.as_deref() == Some(caller.agent_id.as_str()));
            c.unassigned += u64::from(e.assignee.is_none());
        }
        c.resolved = resolved.iter().filter(|e| e.seen_by(caller)).count() as u64;
        c
    }
}

/// The query string of `GET /conversations/counts`: a list's scope.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct CountsQuery {
    /// `account=wechat:demo`.
    pub account: Option<(Channel, String)>,
    /// `team=complaints`.
    pub team: Option<String>,
}

impl CountsQuery {
    /// Parses the query parameters; `Err` names the parameter and the reason.
    pub fn parse<'a>(
        params: impl IntoIterator<Item = (&'a str, &'a str)>,
    ) -> Result<CountsQuery, (String, String)> {
        let mut q = CountsQuery::default();
        for (k, v) in params {
            match k {
                "account" => match parse_account_key(v) {
                    Some(a) => q.account = Some(a),
                    None => {
                        return Err((k.into(), "`wechat:<account>` or `weibo:<account>`".into()));
                    }
                },
                "team" if is_valid_team(v) => q.team = Some(v.to_string()),
                "team" => return Err((k.into(), "1 to 64 letters, digits or -_.@".into())),
                other => {
                    return Err((other.into(), "unknown parameter (account, team)".into()));
                }
            }
        }
        Ok(q)
    }

    /// The index queries of the scope's open and resolved conversations for `caller` (the
    /// scope's filters only), as a list of the same scope plans them.
    pub fn plans(&self, caller: &Caller) -> Result<(ListPlan, ListPlan), PlanError> {
        let plan = |status| {
            ListQuery {
                account: self.account.clone(),
                team: self.team.clone(),
                status,
                limit: COUNT_CAP,
                ..Default::default()
            }
            .plan(caller)
        };
        Ok((plan(Status::Open)?, plan(Status::Resolved)?))
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::desk::list::{Filter, Index};
    use crate::desk::{AgentProfile, Role};

    fn agent(role: Role, teams: &[&str]) -> Caller {
        Caller {
            agent_id: "agent1".into(),
            role,
            profile: Some(AgentProfile {
                agent_id: "agent1".into(),
                display_name: "A".into(),
                teams: teams.iter().map(|s| s.to_string()).collect(),
                accounts: ["wechat:demo".to_string()].into(),
                capacity: 5,
                updated_at: 0,
                updated_by: None,
                version: 1,
            }),
        }
    }

    fn entry(customer: &str, team: Option<&str>) -> QueueEntry {
        QueueEntry {
            key: format!("wechat:demo:{customer}"),
            team: team.map(str::to_string),
            ..Default::default()
        }
    }

    #[test]
    fn the_scope_is_a_lists_open_and_resolved_partitions() {
        let a = agent(Role::Agent, &["complaints"]);
        let (open, resolved) = CountsQuery::parse([]).unwrap().plans(&a).unwrap();
        assert_eq!(
            (open.index, open.partition.as_str()),
            (Index::Gsi2, "TEAM#complaints#open")
        );
        assert_eq!(resolved.partition, "TEAM#complaints#resolved");
        assert_eq!(
            open.filters,
            [Filter::AccountIn(vec!["wechat:demo".into()])]
        );
        let q = CountsQuery::parse([("account", "wechat:demo")]).unwrap();
        let (open, _) = q.plans(&a).unwrap();
        assert_eq!(open.partition, "INBOX#wechat#demo#open");
        assert_eq!(
            open.filters,
            [Filter::TeamInOrNone(vec!["complaints".into()])]
        );
        // The list's refusals: another team, another account, two teams and nothing named.
        let q = CountsQuery::parse([("team", "sales")]).unwrap();
        assert!(matches!(q.plans(&a), Err(PlanError::Forbidden(_))));
        let q = CountsQuery::parse([("account", "weibo:brand")]).unwrap();
        assert!(matches!(q.plans(&a), Err(PlanError::Forbidden(_))));
        let two = agent(Role::Agent, &["complaints", "vip"]);
        assert!(matches!(
            CountsQuery::parse([]).unwrap().plans(&two),
            Err(PlanError::Invalid(f, _)) if f == "team"
        ));
        for (k, v) in [("status", "open"), ("team", "a b"), ("account", "qq:x")] {
            assert_eq!(CountsQuery::parse([(k, v)]).unwrap_err().0, k);
        }
    }

    #[test]
    fn each_count_is_of_the_open_conversations_the_caller_sees() {
        let a = agent(Role::Agent, &["complaints"]);
        let open = [
            QueueEntry {
                unanswered: true,
                escalated: true,
                breached: true,
                ..entry("c1", Some("complaints"))
            },
            QueueEntry {
                unanswered: true,
                assignee: Some("agent1".into()),
                ..entry("c2", Some("complaints"))
            },
            QueueEntry {
                assignee: Some("agent2".into()),
                ..entry("c3", None)
            },
            // Another team's (an index entry served stale) and another account's: not seen.
            entry("s1", Some("sales")),
            QueueEntry {
                key: "wechat:other:x".into(),
                ..Default::default()
            },
        ];
        let resolved = [entry("r1", Some("complaints")), entry("r2", Some("sales"))];
        assert_eq!(
            QueueCounts::count(&open, &resolved, &a),
            QueueCounts {
                open: 3,
                unanswered: 2,
                escalated: 1,
                breached: 1,
                mine: 1,
                unassigned: 1,
                resolved: 1,
            }
        );
        assert_eq!(
            serde_json::to_value(QueueCounts::default()).unwrap(),
            serde_json::json!({"open": 0, "unanswered": 0, "escalated": 0, "breached": 0,
                "mine": 0, "unassigned": 0, "resolved": 0})
        );
    }
}
