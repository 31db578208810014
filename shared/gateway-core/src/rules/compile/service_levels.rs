//! `service_levels:`: ids unique, at least one target, targets in range, a calendar for every
//! business-hours policy, and a warning for a policy no conversation can reach.

use super::Compiler;
use crate::rules::document::{ClockSpec, ServiceLevelSpec};
use crate::rules::service_levels::{
    Clock, MAX_FIRST_RESPONSE_SECS, MAX_RESOLUTION_SECS, ServiceLevel,
};
use std::collections::{BTreeMap, BTreeSet};

impl Compiler<'_> {
    /// Validates the policies. `accounts` maps accounts to their calendars.
    pub(super) fn service_levels(
        &mut self,
        specs: Vec<ServiceLevelSpec>,
        accounts: &BTreeMap<String, String>,
        has_default_calendar: bool,
    ) -> Vec<ServiceLevel> {
        let mut out: Vec<ServiceLevel> = Vec::with_capacity(specs.len());
        let mut ids = BTreeSet::new();
        for (index, spec) in specs.into_iter().enumerate() {
            let id = spec.id.0;
            // The index-th `id:` of the section is this policy's (conditions have no `id`).
            let at = self
                .loc
                .section("service_levels")
                .and_then(|span| self.loc.key_in(span, "id", index));
            let before = self.problems.len();
            if !ids.insert(id.clone()) {
                self.error(
                    at,
                    format!("duplicate service level id `{id}`: ids must be unique"),
                );
            }
            if spec.first_response_secs.is_none() && spec.resolution_secs.is_none() {
                self.error(
                    at,
                    format!(
                        "service level `{id}` has no target: give `first_response_secs`, \
                         `resolution_secs` or both"
                    ),
                );
            }
            for (key, value, max) in [
                (
                    "first_response_secs",
                    spec.first_response_secs,
                    MAX_FIRST_RESPONSE_SECS,
                ),
                ("resolution_secs", spec.resolution_secs, MAX_RESOLUTION_SECS),
            ] {
                if let Some(v) = value
                    && (v == 0 || v > max)
                {
                    self.error(
                        at,
                        format!("service level `{id}`: `{key}` is {v}: from 1 to {max} seconds"),
                    );
                }
            }
            let when = spec.when.unwrap_or_default();
            let accounts_of = when.account.map(|a| a.0).unwrap_or_default();
            let clock = match spec.clock {
                ClockSpec::AroundTheClock => Clock::AroundTheClock,
                ClockSpec::BusinessHours => Clock::BusinessHours,
            };
            if clock == Clock::BusinessHours && !has_default_calendar {
                let without: Vec<&str> = accounts_of
                    .iter()
                    .map(|a| a.0.as_str())
                    .filter(|a| !accounts.contains_key(*a))
                    .collect();
                if accounts_of.is_empty() || !without.is_empty() {
                    let which = if accounts_of.is_empty() {
                        "it applies to every account".to_string()
                    } else {
                        format!("account(s) {} have none", without.join(", "))
                    };
                    self.error(
                        at,
                        format!(
                            "service level `{id}` counts business hours, but {which}: set \
                             `default_calendar`, give the accounts a calendar under `accounts`, \
                             or use `clock: around_the_clock`"
                        ),
                    );
                }
            }
            if self.problems.len() > before {
                continue;
            }
            let policy = ServiceLevel {
                id,
                channels: when.channel.map(|c| c.0).unwrap_or_default(),
                accounts: accounts_of.into_iter().map(|a| a.0).collect(),
                teams: when
                    .team
                    .map(|t| t.0)
                    .unwrap_or_default()
                    .into_iter()
                    .map(|t| t.0)
                    .collect(),
                priorities: when.priority.map(|p| p.0).unwrap_or_default(),
                first_response_secs: spec.first_response_secs,
                resolution_secs: spec.resolution_secs,
                clock,
                line: at.map(|a| a.0),
            };
            if let Some(catch_all) = out.iter().find(|p| covers(p, &policy)) {
                self.warn(
                    at,
                    format!(
                        "service level `{}` is never used: `{}` above applies to every \
                         conversation it would",
                        policy.id, catch_all.id
                    ),
                );
            }
            out.push(policy);
        }
        out
    }
}

/// Whether every conversation `later` matches is matched by `earlier` already.
fn covers(earlier: &ServiceLevel, later: &ServiceLevel) -> bool {
    fn wider<T: PartialEq>(e: &[T], l: &[T]) -> bool {
        e.is_empty() || (!l.is_empty() && l.iter().all(|x| e.contains(x)))
    }
    wider(&earlier.channels, &later.channels)
        && wider(&earlier.accounts, &later.accounts)
        && wider(&earlier.teams, &later.teams)
        && wider(&earlier.priorities, &later.priorities)
}
