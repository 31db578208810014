//! What the bench binaries share: the summary of a series of measurements, and the progress
//! line of a long run.

use serde_json::{Value, json};
use std::time::Duration;

/// The nearest-rank percentile `p` (0-100) of `sorted`; NaN when empty.
pub fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let rank = ((p / 100.0) * (sorted.len() as f64 - 1.0)).round() as usize;
    sorted[rank.min(sorted.len() - 1)]
}

/// `n`, `min`, `mean`, `p50`, `p90`, `p99` and `max` of `values` (NaN for an empty series).
pub fn summary(mut values: Vec<f64>) -> Value {
    values.sort_by(f64::total_cmp);
    let mean = if values.is_empty() {
        f64::NAN
    } else {
        values.iter().sum::<f64>() / values.len() as f64
    };
    json!({
        "n": values.len(),
        "min": values.first().copied().unwrap_or(f64::NAN),
        "mean": mean,
        "p50": percentile(&values, 50.0),
        "p90": percentile(&values, 90.0),
        "p99": percentile(&values, 99.0),
        "max": values.last().copied().unwrap_or(f64::NAN),
    })
}

/// `1h02m03s`, `4m05s` or `7s`: a duration as a person reads it in a progress line.
pub fn human_duration(d: Duration) -> String {
    let s = d.as_secs();
    match (s / 3600, s / 60 % 60, s % 60) {
        (0, 0, sec) => format!("{sec}s"),
        (0, min, sec) => format!("{min}m{sec:02}s"),
        (h, min, sec) => format!("{h}h{min:02}m{sec:02}s"),
    }
}

/// How long the rest of `total` takes at the pace of `done` in `elapsed`; `None` before
/// anything is done (no pace yet).
pub fn eta(done: usize, total: usize, elapsed: Duration) -> Option<Duration> {
    if done == 0 {
        return None;
    }
    let left = total.saturating_sub(done) as f64;
    Some(elapsed.mul_f64(left / done as f64))
}

/// One progress line: `what done/total (pct%), rate/s, ETA …` after `elapsed`.
pub fn progress_line(what: &str, done: usize, total: usize, elapsed: Duration) -> String {
    let pct = if total == 0 {
        100.0
    } else {
        100.0 * done as f64 / total as f64
    };
    let rate = done as f64 / elapsed.as_secs_f64().max(0.001);
    let eta = eta(done, total, elapsed).map_or("unknown".to_string(), human_duration);
    format!(
        "{} {what} {done}/{total} ({pct:.1}%), {rate:.1}/s, ETA {eta}",
        human_duration(elapsed)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_of_a_hundred_values() {
        let s = summary((1..=100).rev().map(f64::from).collect());
        assert_eq!(s["n"], 100);
        assert_eq!(s["min"], 1.0);
        assert_eq!(s["p50"], 51.0);
        assert_eq!(s["p90"], 90.0);
        assert_eq!(s["p99"], 99.0);
        assert_eq!(s["max"], 100.0);
        assert_eq!(s["mean"], 50.5);
        assert!(summary(Vec::new())["p50"].is_null(), "NaN is null in JSON");
    }

    #[test]
    fn a_progress_line_has_counts_rate_and_the_time_left_at_that_pace() {
        let line = progress_line("pushes", 250, 1000, Duration::from_secs(50));
        assert_eq!(line, "50s pushes 250/1000 (25.0%), 5.0/s, ETA 2m30s");
        let line = progress_line("pushes", 0, 1000, Duration::from_secs(3));
        assert_eq!(line, "3s pushes 0/1000 (0.0%), 0.0/s, ETA unknown");
        let line = progress_line("pushes", 1000, 1000, Duration::from_secs(3723));
        assert_eq!(line, "1h02m03s pushes 1000/1000 (100.0%), 0.3/s, ETA 0s");
    }
}
