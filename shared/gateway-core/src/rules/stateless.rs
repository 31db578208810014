//! The stateless part of a rule set: what can be decided from the message alone, without the
//! conversation (WeChat passive replies answer inside the webhook, which has no conversation
//! state).

use super::RuleSet;

impl RuleSet {
    /// A copy holding only the rules that do not depend on conversation state (no
    /// `first_message`, tags, status, escalation conditions and no `once_per`), in their
    /// order. Evaluating it without a conversation gives the decision those rules would make
    /// alone; rules that need state never fire there.
    pub fn without_conversation_state(&self) -> RuleSet {
        let mut stateless = self.clone();
        stateless
            .rules
            .retain(|rule| !rule.uses_conversation_state());
        stateless
    }
}

#[cfg(test)]
mod tests {
    use crate::rules::RuleSet;

    #[test]
    fn keeps_only_rules_that_need_no_conversation() {
        let rules = RuleSet::from_yaml(
            r#"
version: 1
rules:
  - id: first
    when: { first_message: true }
    then: [ { reply: { type: text, text: "welcome" } } ]
  - id: daily
    when: { kind: text }
    once_per: day
    then: [ { reply: { type: text, text: "once a day" } } ]
  - id: help
    when: { text_contains_any: "help" }
    then: [ { reply: { type: text, text: "how can we help" } } ]
"#,
        )
        .expect("valid");
        let stateless = rules.without_conversation_state();
        let ids: Vec<&str> = stateless.rules().iter().map(|r| r.id()).collect();
        assert_eq!(ids, ["help"]);
    }
}
