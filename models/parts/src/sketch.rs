//! A count-min sketch: "about how many times was X seen?" in a fixed `depth x width` table of
//! counters, where a Bloom filter ([`crate::bloom`]) only says "was X seen?".
//!
//! Each of the `depth` rows hashes a key to one of `width` counters (row `i` by a seeded
//! [`mix64`], the seeds a function of the sketch's `seed`: two sketches with the same seed and
//! shape hash alike and can be merged); an add increments the key's counter in every row; the
//! estimate is the smallest of the key's counters. With `width = ceil(e / epsilon)` and
//! `depth = ceil(ln(1 / delta))` ([`SketchSpec::width`], [`SketchSpec::depth`]), and `N` the sum
//! of all counts, the estimate of any key is **never below** its true count and is above it by
//! more than `epsilon * N` with probability at most `delta` (Cormode and Muthukrishnan). Counts
//! may also be taken away again ([`CountMin::add`] with a negative delta: a sliding window's
//! expired events) as long as no key's true count goes negative (the strict turnstile model):
//! the guarantees hold for the counts as they are.
//!
//! Memory: `depth x width` counters of 8 bytes ([`CountMin::bytes`]), whatever the number of
//! distinct keys.

use serde::{Deserialize, Serialize};
use sim_core::math;
pub use sim_core::rng::mix64;

/// ```ron
/// sketch: (epsilon: 0.01, delta: 0.01, seed: 7)
/// ```
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SketchSpec {
    /// The error bound, as a share of the total count `N`.
    pub epsilon: f64,
    /// The probability that a key's estimate exceeds its count by more than `epsilon * N`.
    pub delta: f64,
    /// Seeds the row hashes.
    pub seed: u64,
}

impl Default for SketchSpec {
    fn default() -> Self {
        SketchSpec { epsilon: 0.01, delta: 0.01, seed: 0 }
    }
}

impl SketchSpec {
    /// `ceil(e / epsilon)` counters per row.
    pub fn width(&self) -> usize {
        (std::f64::consts::E / self.epsilon).ceil() as usize
    }

    /// `ceil(ln(1 / delta))` rows.
    pub fn depth(&self) -> usize {
        (math::ln(1.0 / self.delta).ceil() as usize).max(1)
    }

    pub fn validate(&self, path: &str) -> Vec<(String, String)> {
        let mut e = Vec::new();
        if !(self.epsilon > 0.0 && self.epsilon < 1.0) || (std::f64::consts::E / self.epsilon) > 10_000_000.0 {
            e.push((format!("{path}.epsilon"), format!("must be within (2.7e-7, 1), got {}", self.epsilon)));
        }
        if !(self.delta > 0.0 && self.delta < 1.0) || self.delta < 1e-30 {
            e.push((format!("{path}.delta"), format!("must be within [1e-30, 1), got {}", self.delta)));
        }
        e
    }
}

/// The sketch: `depth` rows of `width` counters.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CountMin {
    width: usize,
    seeds: Vec<u64>,
    table: Vec<i64>,
    total: i64,
}

impl CountMin {
    /// A sketch of `spec`'s shape (the spec must be valid).
    pub fn new(spec: &SketchSpec) -> CountMin {
        CountMin::with_shape(spec.width(), spec.depth(), spec.seed)
    }

    /// A sketch of `depth` rows of `width` counters (both at least 1).
    pub fn with_shape(width: usize, depth: usize, seed: u64) -> CountMin {
        assert!(width > 0 && depth > 0, "a count-min sketch needs a width and a depth");
        let seeds = (0..depth as u64).map(|i| mix64(seed ^ mix64(i.wrapping_add(0x9E37_79B9)))).collect();
        CountMin { width, seeds, table: vec![0; width * depth], total: 0 }
    }

    pub fn width(&self) -> usize {
        self.width
    }

    pub fn depth(&self) -> usize {
        self.seeds.len()
    }

    fn cell(&self, row: usize, key: u64) -> usize {
        row * self.width + (mix64(key ^ self.seeds[row]) % self.width as u64) as usize
    }

    /// Adds `delta` (negative: takes counts away) to `key`'s count; returns the new estimate.
    pub fn add(&mut self, key: u64, delta: i64) -> u64 {
        let mut est = i64::MAX;
        for row in 0..self.depth() {
            let c = self.cell(row, key);
            self.table[c] += delta;
            est = est.min(self.table[c]);
        }
        self.total += delta;
        est.max(0) as u64
    }

    /// The smallest of the key's counters: never below its count.
    pub fn estimate(&self, key: u64) -> u64 {
        (0..self.depth()).map(|row| self.table[self.cell(row, key)]).min().unwrap_or(0).max(0) as u64
    }

    /// `N`: the sum of all counts.
    pub fn total(&self) -> u64 {
        self.total.max(0) as u64
    }

    /// Adds another sketch of the same shape and seed (the sketch of the two streams together).
    pub fn merge(&mut self, other: &CountMin) -> Result<(), String> {
        if other.width != self.width || other.seeds != self.seeds {
            return Err(format!(
                "cannot merge a {}x{} sketch into a {}x{} one (or their seeds differ)",
                other.depth(),
                other.width,
                self.depth(),
                self.width
            ));
        }
        for (a, b) in self.table.iter_mut().zip(&other.table) {
            *a += b;
        }
        self.total += other.total;
        Ok(())
    }

    /// Bytes of the counters.
    pub fn bytes(&self) -> u64 {
        self.table.len() as u64 * 8
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sim_core::Prng;
    use std::collections::BTreeMap;

    #[test]
    fn width_and_depth_follow_epsilon_and_delta() {
        let s = SketchSpec { epsilon: 0.001, delta: 0.01, seed: 0 };
        assert_eq!(s.width(), 2719, "ceil(e / 0.001)");
        assert_eq!(s.depth(), 5, "ceil(ln 100) = ceil(4.61)");
        assert_eq!(SketchSpec { epsilon: 0.01, delta: 0.5, seed: 0 }.depth(), 1);
        let m = CountMin::new(&s);
        assert_eq!(m.bytes(), 2719 * 5 * 8);
        assert!(!SketchSpec { epsilon: 0.0, ..s.clone() }.validate("s").is_empty());
        assert!(!SketchSpec { delta: 1.0, ..s.clone() }.validate("s").is_empty());
        assert!(s.validate("s").is_empty());
    }

    /// A heavy-tailed stream over many keys: the true counts and the sketch.
    fn stream(spec: &SketchSpec, keys: u64, n: u64, seed: u64) -> (BTreeMap<u64, u64>, CountMin) {
        let mut rng = Prng::new(seed, sim_core::Stream::Setup);
        let mut truth = BTreeMap::new();
        let mut cm = CountMin::new(spec);
        for _ in 0..n {
            // Roughly Zipf: small ids much more often.
            let u = rng.unit();
            let k = (math::powf(keys as f64, u) as u64).saturating_sub(1);
            *truth.entry(k).or_default() += 1;
            cm.add(k, 1);
        }
        (truth, cm)
    }

    #[test]
    fn the_estimate_never_undercounts_and_overcounts_beyond_epsilon_n_at_most_delta_of_the_time() {
        let spec = SketchSpec { epsilon: 0.005, delta: 0.05, seed: 11 };
        let (mut judged, mut over) = (0u64, 0u64);
        for seed in 0..20 {
            let (truth, cm) = stream(&spec, 20_000, 20_000, seed);
            let bound = spec.epsilon * cm.total() as f64;
            assert_eq!(cm.total(), 20_000);
            // Every key ever seen, and as many never seen (true count 0).
            for k in 0..40_000u64 {
                let t = truth.get(&k).copied().unwrap_or(0);
                let e = cm.estimate(k);
                assert!(e >= t, "key {k}: estimate {e} below the count {t}");
                judged += 1;
                if (e - t) as f64 > bound {
                    over += 1;
                }
            }
        }
        let share = over as f64 / judged as f64;
        assert!(share <= spec.delta, "{over} of {judged} keys over epsilon * N: {share} > delta");
        // The bound is not vacuous: a too-narrow sketch breaks it.
        let (truth, _) = stream(&spec, 20_000, 20_000, 0);
        let mut cm = CountMin::with_shape(8, 1, 3);
        for (&k, &n) in &truth {
            cm.add(k, n as i64);
        }
        let tight = 0.001 * cm.total() as f64;
        let bad = truth.iter().filter(|&(&k, &t)| (cm.estimate(k) - t) as f64 > tight).count();
        assert!(bad > truth.len() / 2, "8 counters for {} keys over-count most of them", truth.len());
    }

    #[test]
    fn removing_counts_keeps_the_estimate_at_or_above_the_count() {
        let spec = SketchSpec { epsilon: 0.05, delta: 0.1, seed: 2 };
        let mut cm = CountMin::new(&spec);
        let mut truth = BTreeMap::new();
        for k in 0..500u64 {
            cm.add(k, (k % 7 + 1) as i64);
            truth.insert(k, k % 7 + 1);
        }
        for k in (0..500u64).step_by(3) {
            cm.add(k, -1);
            *truth.get_mut(&k).unwrap() -= 1;
        }
        assert_eq!(cm.total(), truth.values().sum::<u64>());
        for (&k, &t) in &truth {
            assert!(cm.estimate(k) >= t);
        }
    }

    #[test]
    fn merged_sketches_equal_the_sketch_of_both_streams_and_seeds_are_deterministic() {
        let spec = SketchSpec { epsilon: 0.01, delta: 0.01, seed: 5 };
        let (mut a, mut b, mut both) = (CountMin::new(&spec), CountMin::new(&spec), CountMin::new(&spec));
        for k in 0..300u64 {
            a.add(k, 1);
            both.add(k, 1);
            b.add(k * 3, 2);
            both.add(k * 3, 2);
        }
        a.merge(&b).unwrap();
        assert_eq!(a, both);
        let other = CountMin::new(&SketchSpec { seed: 6, ..spec.clone() });
        assert!(a.merge(&other).is_err(), "another seed hashes differently");
        assert!(a.merge(&CountMin::with_shape(3, 2, 5)).is_err());
        // Same seed, same table: deterministic.
        let mut c = CountMin::new(&spec);
        for k in 0..300u64 {
            c.add(k, 1);
            c.add(k * 3, 2);
        }
        assert_eq!(c, both);
    }
}
