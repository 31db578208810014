//! Canned responses: texts supervisors prepare for agents, per account and team, with
//! placeholders filled in for the conversation at hand.

use super::access::{AgentProfile, Caller};
use crate::conversation::Conversation;
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;

/// The longest title, in characters.
pub const MAX_TITLE_CHARS: usize = 100;
/// The longest text, in characters (a WeChat customer-service text message's limit is
/// larger; a canned response is meant to be short).
pub const MAX_TEXT_CHARS: usize = 2000;

/// The placeholders a text may use.
pub const PLACEHOLDERS: [&str; 4] = ["agent_name", "customer_id", "account", "channel"];

/// One canned response.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CannedResponse {
    /// Its id (letters, digits, `-_`), chosen by the supervisor.
    pub id: String,
    /// A short title agents pick it by.
    pub title: String,
    /// The text, with `{{placeholder}}`s.
    pub text: String,
    /// The accounts it is for (`channel:account`); none: every account.
    #[serde(default)]
    pub accounts: BTreeSet<String>,
    /// The teams it is for; none: every team.
    #[serde(default)]
    pub teams: BTreeSet<String>,
    /// When it last changed, Unix ms.
    #[serde(default)]
    pub updated_at: i64,
    /// Who changed it last.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub updated_by: Option<String>,
}

/// The placeholders of `text`, in order; `Err` on one left open.
fn placeholders(text: &str) -> Result<Vec<&str>, String> {
    let mut out = Vec::new();
    let mut rest = text;
    while let Some(start) = rest.find("{{") {
        let after = &rest[start + 2..];
        let Some(end) = after.find("}}") else {
            return Err("a `{{` is never closed".into());
        };
        out.push(after[..end].trim());
        rest = &after[end + 2..];
    }
    Ok(out)
}

impl CannedResponse {
    /// Checks a supervisor's input: `Err` names the field and the reason.
    pub fn validate(&self) -> Result<(), (String, String)> {
        let bad = |f: &str, r: String| Err((f.to_string(), r));
        if self.id.is_empty()
            || self.id.len() > 64
            || !self
                .id
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        {
            return bad("id", "1 to 64 letters, digits, - or _".into());
        }
        let title = self.title.trim();
        if title.is_empty() || title.chars().count() > MAX_TITLE_CHARS {
            return bad("title", format!("1 to {MAX_TITLE_CHARS} characters"));
        }
        if self.text.trim().is_empty() || self.text.chars().count() > MAX_TEXT_CHARS {
            return bad("text", format!("1 to {MAX_TEXT_CHARS} characters"));
        }
        match placeholders(&self.text) {
            Err(e) => return bad("text", e),
            Ok(found) => {
                if let Some(p) = found.iter().find(|p| !PLACEHOLDERS.contains(p)) {
                    return bad(
                        "text",
                        format!(
                            "unknown placeholder `{{{{{p}}}}}` (known: {})",
                            PLACEHOLDERS.join(", ")
                        ),
                    );
                }
            }
        }
        let probe = AgentProfile {
            agent_id: "x".into(),
            display_name: "x".into(),
            teams: self.teams.clone(),
            accounts: self.accounts.clone(),
            capacity: 1,
            updated_at: 0,
            updated_by: None,
            version: 0,
        };
        if let Err((field, reason)) = probe.validate() {
            return bad(&field, reason);
        }
        Ok(())
    }

    /// Whether it is offered to `caller`: for one of their accounts and teams (or for all).
    pub fn offered_to(&self, caller: &Caller) -> bool {
        let accounts_ok = self.accounts.is_empty()
            || caller.role == super::Role::Admin
            || self.accounts.iter().any(|a| caller.covers_account(a));
        let teams_ok = self.teams.is_empty() || self.teams.iter().any(|t| caller.covers_team(t));
        accounts_ok && teams_ok
    }

    /// Whether it is meant for `c`'s account and team.
    pub fn fits(&self, c: &Conversation) -> bool {
        (self.accounts.is_empty() || self.accounts.contains(&super::access::account_key(c)))
            && (self.teams.is_empty() || c.team.as_ref().is_some_and(|t| self.teams.contains(t)))
    }

    /// The text with its placeholders filled in for `c`, answered by `agent_name`.
    pub fn render(&self, c: &Conversation, agent_name: &str) -> String {
        let mut out = String::with_capacity(self.text.len());
        let mut rest = self.text.as_str();
        while let Some(start) = rest.find("{{") {
            out.push_str(&rest[..start]);
            let after = &rest[start + 2..];
            let Some(end) = after.find("}}") else {
                out.push_str(&rest[start..]);
                return out;
            };
            match after[..end].trim() {
                "agent_name" => out.push_str(agent_name),
                "customer_id" => out.push_str(&c.customer_id),
                "account" => out.push_str(&c.account_id),
                "channel" => out.push_str(c.channel.as_str()),
                _ => out.push_str(&rest[start..start + 2 + end + 2]),
            }
            rest = &after[end + 2..];
        }
        out.push_str(rest);
        out
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::testing::text_message;

    fn canned(text: &str) -> CannedResponse {
        CannedResponse {
            id: "greet".into(),
            title: "Greeting".into(),
            text: text.into(),
            accounts: BTreeSet::new(),
            teams: BTreeSet::new(),
            updated_at: 0,
            updated_by: None,
        }
    }

    #[test]
    fn placeholders_are_filled_in_for_the_conversation() {
        let m = text_message("demo", "oUser1", "1", "hi", 1);
        let c = Conversation::new_for(&m);
        let r = canned("您好 {{customer_id}}，我是{{ agent_name }}（{{channel}}/{{account}}）");
        assert!(r.validate().is_ok());
        assert_eq!(r.render(&c, "小李"), "您好 oUser1，我是小李（wechat/demo）");
    }

    #[test]
    fn an_unknown_or_open_placeholder_is_refused_with_the_field() {
        let (field, reason) = canned("Hi {{customer_name}}").validate().unwrap_err();
        assert_eq!(field, "text");
        assert!(reason.contains("customer_name"), "{reason}");
        assert_eq!(canned("Hi {{agent_name").validate().unwrap_err().0, "text");
        let mut bad_id = canned("hi");
        bad_id.id = "has space".into();
        assert_eq!(bad_id.validate().unwrap_err().0, "id");
        let mut bad_team = canned("hi");
        bad_team.teams.insert("a b".into());
        assert_eq!(bad_team.validate().unwrap_err().0, "teams");
    }
}
