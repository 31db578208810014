//! What the bench binaries share: the summary of a series of measurements.

use serde_json::{Value, json};

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
}
