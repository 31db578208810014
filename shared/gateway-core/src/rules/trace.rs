//! What happened to each rule during one evaluation: recorded by the evaluator, reported by
//! [`super::explain`]. Its own module so that neither of the two imports the other for it.

use super::OncePer;
use serde::Serialize;

/// What happened to one rule.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RuleTrace {
    /// Rule id.
    pub id: String,
    /// Line of the rule in the document.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub line: Option<usize>,
    /// The outcome.
    pub outcome: RuleOutcome,
}

/// The outcome of one rule.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum RuleOutcome {
    /// It fired.
    Fired {
        /// Why its conditions held.
        why: String,
        /// Whether it ended evaluation.
        stop: bool,
    },
    /// Its conditions did not hold.
    NotMatched {
        /// The condition that failed, as a fact about the message or state.
        reason: String,
    },
    /// Its conditions held but its `once_per` window had not passed.
    Suppressed {
        /// The window.
        once_per: OncePer,
        /// When it last fired, Unix ms (none for a `once_per: escalation` rule outside an
        /// escalation).
        #[serde(skip_serializing_if = "Option::is_none")]
        last_fired_ms: Option<i64>,
        /// In plain words.
        reason: String,
    },
    /// `enabled: false`.
    Disabled,
    /// An earlier rule fired with `stop`.
    NotReached {
        /// That rule's id.
        stopped_by: String,
    },
}
