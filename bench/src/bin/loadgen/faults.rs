//! Faults injected while the pushes are sent, and the check that a soak saw them.
//!
//! A fault comes when the first of two triggers fires: the time trigger, an exponential gap
//! of mean `--faults-every` seconds (clamped to 1 s .. 4× the mean), and the count trigger,
//! `--faults-per-messages` pushes finished since the previous fault. Either is off at 0. The
//! faults alternate, starting with a freeze: the AWS emulator SIGSTOPped for 0.5–3 s, then
//! (with the platform stand-ins) the next one or two calls of the WeChat send API (`-1`) or
//! the Weibo reply API (`10001`) scripted to fail, then a freeze again.

use rand::RngExt;
use rand::rngs::SmallRng;
use serde_json::{Value, json};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// A run of at least this many messages with `--require-faults` fails unless it saw both an
/// emulator freeze and a platform call refused by a scripted error.
pub const FAULTS_REQUIRED_FROM: usize = 500;

/// When faults come.
#[derive(Debug, Clone, Copy)]
pub struct Plan {
    /// Mean gap of the time trigger, seconds (0: off).
    pub every_secs: f64,
    /// Pushes finished between two faults (0: off).
    pub per_messages: usize,
}

impl Plan {
    pub fn is_on(&self) -> bool {
        self.every_secs > 0.0 || self.per_messages > 0
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Trigger {
    Time,
    Count,
}

/// Which trigger fired, if any: at `now`, with the time trigger at `until` and `finished`
/// pushes of which `mark` were finished at the previous fault.
fn due(
    plan: &Plan,
    now: Instant,
    until: Option<Instant>,
    finished: usize,
    mark: usize,
) -> Option<Trigger> {
    if until.is_some_and(|u| now >= u) {
        Some(Trigger::Time)
    } else if plan.per_messages > 0 && finished.saturating_sub(mark) >= plan.per_messages {
        Some(Trigger::Count)
    } else {
        None
    }
}

/// What was injected.
#[derive(Debug, Default)]
pub struct Injected {
    pub freezes: u32,
    pub frozen_s: f64,
    pub bursts: u32,
    pub by_time: u32,
    pub by_count: u32,
}

impl Injected {
    pub fn to_json(&self, plan: &Plan) -> Value {
        json!({
            "mean_interval_s": plan.every_secs,
            "per_messages": plan.per_messages,
            "triggered_by_time": self.by_time,
            "triggered_by_count": self.by_count,
            "emulator_freezes": self.freezes,
            "emulator_frozen_s": self.frozen_s,
            "platform_error_bursts": self.bursts,
        })
    }
}

/// Injects faults by `plan` until `stop`; `finished` counts the pushes finished.
pub async fn inject(
    plan: Plan,
    moto_pid: String,
    stub: Option<gatewayctl::stub::StubAdmin>,
    finished: Arc<AtomicUsize>,
    stop: Arc<AtomicBool>,
) -> Injected {
    let mut done = Injected::default();
    // Not cryptographic: only when and which fault comes; seeded from the OS.
    let mut rng: SmallRng = rand::make_rng();
    // True when the SIGSTOP/SIGCONT was delivered.
    let signal = |sig: &str| {
        std::process::Command::new("kill")
            .args([sig, moto_pid.as_str()])
            .status()
            .is_ok_and(|s| s.success())
    };
    let mut freeze_next = true;
    'outer: loop {
        let until = (plan.every_secs > 0.0).then(|| {
            // Exponential inter-arrival time, clamped.
            let u: f64 = rng.random_range(0.01..1.0);
            let wait = (-u.ln() * plan.every_secs).clamp(1.0, plan.every_secs * 4.0);
            Instant::now() + Duration::from_secs_f64(wait)
        });
        let mark = finished.load(Ordering::SeqCst);
        let trigger = loop {
            if stop.load(Ordering::SeqCst) {
                break 'outer;
            }
            let now = Instant::now();
            if let Some(t) = due(&plan, now, until, finished.load(Ordering::SeqCst), mark) {
                break t;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        };
        match trigger {
            Trigger::Time => done.by_time += 1,
            Trigger::Count => done.by_count += 1,
        }
        match (&stub, freeze_next) {
            (Some(stub), false) => {
                let (api, code) = if rng.random_bool(0.5) {
                    ("wechat_send", -1)
                } else {
                    ("weibo_reply", 10001)
                };
                if stub.fail(api, code, rng.random_range(1..=2)).await.is_ok() {
                    done.bursts += 1;
                }
            }
            _ => {
                let secs = rng.random_range(0.5..3.0);
                if signal("-STOP") {
                    tokio::time::sleep(Duration::from_secs_f64(secs)).await;
                    done.freezes += 1;
                    done.frozen_s += secs;
                }
                signal("-CONT");
            }
        }
        freeze_next = !freeze_next;
    }
    signal("-CONT");
    done
}

/// Why a run with `--require-faults` fails the fault check (empty: it passes): with at least
/// [`FAULTS_REQUIRED_FROM`] messages, no emulator freeze, or no platform call refused by a
/// scripted error (a burst scripted but never reached by a call did not happen).
pub fn fault_check(messages: usize, freezes: u32, refused_by_scripted: usize) -> Vec<String> {
    let mut problems = Vec::new();
    if messages < FAULTS_REQUIRED_FROM {
        return problems;
    }
    if freezes == 0 {
        problems.push(format!(
            "no emulator freeze in a run of {messages} messages"
        ));
    }
    if refused_by_scripted == 0 {
        problems.push(format!(
            "no platform call refused by a scripted error in a run of {messages} messages"
        ));
    }
    problems
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_soak_without_a_freeze_or_a_platform_error_fails() {
        assert_eq!(fault_check(500, 0, 3).len(), 1);
        assert_eq!(fault_check(500, 4, 0).len(), 1);
        assert_eq!(fault_check(50_000, 0, 0).len(), 2);
    }

    #[test]
    fn a_soak_with_both_faults_or_a_short_run_passes() {
        assert!(fault_check(500, 1, 1).is_empty());
        assert!(fault_check(499, 0, 0).is_empty());
    }

    #[test]
    fn the_count_trigger_fires_before_the_time_trigger() {
        let now = Instant::now();
        let later = Some(now + Duration::from_secs(60));
        let plan = Plan {
            every_secs: 20.0,
            per_messages: 50,
        };
        assert_eq!(due(&plan, now, later, 149, 100), None);
        assert_eq!(due(&plan, now, later, 150, 100), Some(Trigger::Count));
        assert_eq!(due(&plan, now, Some(now), 100, 100), Some(Trigger::Time));
        let time_only = Plan {
            every_secs: 20.0,
            per_messages: 0,
        };
        assert_eq!(due(&time_only, now, later, 10_000, 0), None);
        let count_only = Plan {
            every_secs: 0.0,
            per_messages: 50,
        };
        assert_eq!(due(&count_only, now, None, 50, 0), Some(Trigger::Count));
    }
}
