//! Durations counted in fixed buckets, so that the counts of any number of days add up and a
//! percentile of any period can be read from their sum.
//!
//! A duration falls in the first bucket whose upper bound it does not exceed (bounds are
//! inclusive: exactly two hours is `le_2h`); the last bucket, `gt_7d`, has no bound. A
//! percentile is answered with the upper bound of the bucket it falls in: "p50 ≤ 5m" means
//! that at least half of the durations were five minutes or less.

use serde::ser::{Serialize, SerializeMap, Serializer};
use std::fmt;

const SECOND: i64 = 1_000;
const MINUTE: i64 = 60 * SECOND;
const HOUR: i64 = 60 * MINUTE;
const DAY: i64 = 24 * HOUR;

/// The buckets: name and upper bound in milliseconds (`None`: unbounded), in order.
pub const BUCKETS: [(&str, Option<i64>); 15] = [
    ("le_30s", Some(30 * SECOND)),
    ("le_1m", Some(MINUTE)),
    ("le_2m", Some(2 * MINUTE)),
    ("le_5m", Some(5 * MINUTE)),
    ("le_10m", Some(10 * MINUTE)),
    ("le_15m", Some(15 * MINUTE)),
    ("le_30m", Some(30 * MINUTE)),
    ("le_1h", Some(HOUR)),
    ("le_2h", Some(2 * HOUR)),
    ("le_4h", Some(4 * HOUR)),
    ("le_8h", Some(8 * HOUR)),
    ("le_1d", Some(DAY)),
    ("le_2d", Some(2 * DAY)),
    ("le_7d", Some(7 * DAY)),
    ("gt_7d", None),
];

/// How many buckets there are.
pub const BUCKET_COUNT: usize = BUCKETS.len();

/// One bucket, by its index in [`BUCKETS`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Bucket(usize);

impl Bucket {
    /// The bucket a duration (milliseconds) falls in; a negative duration (clocks that
    /// disagree) counts as zero.
    pub fn of(duration_ms: i64) -> Bucket {
        let d = duration_ms.max(0);
        let index = BUCKETS
            .iter()
            .position(|(_, bound)| bound.is_none_or(|b| d <= b))
            .unwrap_or(BUCKET_COUNT - 1);
        Bucket(index)
    }

    /// The bucket named `name` (`le_5m`…).
    pub fn named(name: &str) -> Option<Bucket> {
        BUCKETS.iter().position(|(n, _)| *n == name).map(Bucket)
    }

    /// Its index in [`BUCKETS`].
    pub fn index(self) -> usize {
        self.0
    }

    /// Its name: `le_30s` … `le_7d`, `gt_7d`.
    pub fn name(self) -> &'static str {
        BUCKETS[self.0].0
    }

    /// Its upper bound in milliseconds; `None` for the last, unbounded bucket.
    pub fn upper_bound_ms(self) -> Option<i64> {
        BUCKETS[self.0].1
    }
}

impl fmt::Display for Bucket {
    /// `≤ 5m`, `≤ 1d`, `> 7d`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = self.name();
        match name.strip_prefix("le_") {
            Some(bound) => write!(f, "≤ {bound}"),
            None => write!(f, "> {}", name.trim_start_matches("gt_")),
        }
    }
}

impl Serialize for Bucket {
    /// Its name.
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.name())
    }
}

/// Counts per bucket.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Histogram(pub [i64; BUCKET_COUNT]);

impl Serialize for Histogram {
    /// The non-empty buckets in order, as a map of name to count.
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(None)?;
        for (bucket, n) in self.buckets() {
            map.serialize_entry(bucket.name(), &n)?;
        }
        map.end()
    }
}

impl Histogram {
    /// Counts one duration (milliseconds).
    pub fn record(&mut self, duration_ms: i64) {
        self.0[Bucket::of(duration_ms).index()] += 1;
    }

    /// Adds `n` to a bucket.
    pub fn add(&mut self, bucket: Bucket, n: i64) {
        self.0[bucket.index()] += n;
    }

    /// Adds every bucket of `other`.
    pub fn merge(&mut self, other: &Histogram) {
        for (mine, theirs) in self.0.iter_mut().zip(other.0) {
            *mine += theirs;
        }
    }

    /// The count of one bucket.
    pub fn count(&self, bucket: Bucket) -> i64 {
        self.0[bucket.index()]
    }

    /// All durations counted.
    pub fn total(&self) -> i64 {
        self.0.iter().sum()
    }

    /// True when nothing was counted.
    pub fn is_empty(&self) -> bool {
        self.0.iter().all(|n| *n == 0)
    }

    /// The non-empty buckets with their counts.
    pub fn buckets(&self) -> impl Iterator<Item = (Bucket, i64)> + '_ {
        self.0
            .iter()
            .enumerate()
            .filter(|(_, n)| **n != 0)
            .map(|(i, n)| (Bucket(i), *n))
    }

    /// The `p`-th percentile (0 < p ≤ 100) by nearest rank: the bucket holding the
    /// `ceil(p / 100 × total)`-th smallest duration. `None` when nothing was counted.
    pub fn percentile(&self, p: u32) -> Option<Bucket> {
        let total = self.total();
        if total <= 0 {
            return None;
        }
        let p = i64::from(p.clamp(1, 100));
        let rank = p.saturating_mul(total).saturating_add(99) / 100;
        let mut seen = 0;
        for (i, n) in self.0.iter().enumerate() {
            seen += n;
            if seen >= rank {
                return Some(Bucket(i));
            }
        }
        Some(Bucket(BUCKET_COUNT - 1))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_duration_falls_in_the_first_bucket_whose_bound_it_does_not_exceed() {
        let cases: &[(i64, &str)] = &[
            (-5_000, "le_30s"),
            (0, "le_30s"),
            (30 * SECOND, "le_30s"),
            (30 * SECOND + 1, "le_1m"),
            (3 * MINUTE, "le_5m"),
            (5 * MINUTE, "le_5m"),
            (11 * HOUR + 10 * MINUTE, "le_1d"),
            (2 * HOUR, "le_2h"),
            (2 * HOUR + 1, "le_4h"),
            (7 * DAY, "le_7d"),
            (7 * DAY + 1, "gt_7d"),
            (i64::MAX, "gt_7d"),
        ];
        for (duration, bucket) in cases {
            assert_eq!(Bucket::of(*duration).name(), *bucket, "{duration} ms");
        }
    }

    #[test]
    fn buckets_are_named_and_bounded_in_increasing_order() {
        let bounds: Vec<i64> = BUCKETS.iter().filter_map(|(_, b)| *b).collect();
        assert!(bounds.windows(2).all(|w| w[0] < w[1]));
        for (i, (name, bound)) in BUCKETS.iter().enumerate() {
            let bucket = Bucket::named(name).expect("named");
            assert_eq!((bucket.index(), bucket.upper_bound_ms()), (i, *bound));
        }
        assert_eq!(Bucket::named("le_3m"), None);
        assert_eq!(Bucket::of(0).to_string(), "≤ 30s");
        assert_eq!(Bucket::of(i64::MAX).to_string(), "> 7d");
    }

    #[test]
    fn percentiles_are_the_upper_bound_of_the_bucket_of_the_nearest_rank() {
        let h = |counts: &[(&str, i64)]| {
            let mut h = Histogram::default();
            for (name, n) in counts {
                h.add(Bucket::named(name).expect("bucket"), *n);
            }
            h
        };
        // (histogram, percentile, expected bucket)
        let cases: &[(Histogram, u32, Option<&str>)] = &[
            (Histogram::default(), 50, None),
            (h(&[("le_5m", 1)]), 50, Some("le_5m")),
            (h(&[("le_5m", 1)]), 90, Some("le_5m")),
            // 4 durations: p50 is the 2nd, p90 the 4th.
            (
                h(&[("le_1m", 2), ("le_1h", 1), ("le_1d", 1)]),
                50,
                Some("le_1m"),
            ),
            (
                h(&[("le_1m", 2), ("le_1h", 1), ("le_1d", 1)]),
                90,
                Some("le_1d"),
            ),
            // 10 durations: p90 is the 9th.
            (
                h(&[("le_30s", 8), ("le_2m", 1), ("gt_7d", 1)]),
                90,
                Some("le_2m"),
            ),
            (
                h(&[("le_30s", 8), ("le_2m", 1), ("gt_7d", 1)]),
                100,
                Some("gt_7d"),
            ),
            // 3 durations: p50 is the 2nd.
            (h(&[("le_2h", 1), ("le_8h", 2)]), 50, Some("le_8h")),
        ];
        for (histogram, p, expected) in cases {
            assert_eq!(
                histogram.percentile(*p).map(Bucket::name),
                *expected,
                "p{p} of {histogram:?}"
            );
        }
    }

    #[test]
    fn histograms_of_several_days_add_up() {
        let mut monday = Histogram::default();
        monday.record(3 * MINUTE);
        let mut tuesday = Histogram::default();
        tuesday.record(4 * MINUTE);
        tuesday.record(DAY);
        monday.merge(&tuesday);
        assert_eq!(monday.total(), 3);
        assert_eq!(monday.count(Bucket::of(5 * MINUTE)), 2);
        let non_empty: Vec<_> = monday.buckets().map(|(b, n)| (b.name(), n)).collect();
        assert_eq!(non_empty, [("le_5m", 2), ("le_1d", 1)]);
    }
}
