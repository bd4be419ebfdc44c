//! Seed sweeps as data: which seeds to run (`0..1000`, `5`, `1,2,7`), how to split them into
//! disjoint shards for a batch system, swarm mode (each seed draws its own fault climate), and the
//! statistics across seeds (the probability that each verdict item holds, with a Wilson 95%
//! interval, and the distribution of each metric). Pure: the parallel runner lives in the CLI.
//!
//! **Swarm mode.** A scenario may give ranges instead of values for fault intensities. For each
//! seed, [`apply`] draws one value per range from `Prng::new(seed ^ SWARM_SALT, Stream::Nemesis)`:
//! the nemesis stream of a *different* seed, so that the draws do not overlap the nemesis schedule
//! that `scenario::run` draws from `Prng::new(seed, Stream::Nemesis)`, and no new stream kind is
//! needed. Every knob always consumes exactly two draws (on/off, then the value) in a fixed order,
//! whether or not its range is given, so adding a range to a swarm never changes what the other
//! knobs draw for a seed. Following swarm testing (Groce et al., ISSTA 2012), each fault kind can
//! also be switched off entirely for a seed (`off_share`), because a climate without crashes finds
//! bugs that crashes would mask.

use crate::rng::{Prng, Stream};
use crate::scenario::Scenario;
use crate::time::Duration;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

/// At most this many seeds in one sweep (a guard against typing `0..1e12`).
pub const MAX_SEEDS: u64 = 100_000_000;

/// Parses a seed list: `0..1000` (end excluded), `0..=999`, `5`, `1,2,7`, or a mix (`0..10,42`).
/// Returns the seeds sorted, without duplicates.
pub fn parse_seeds(text: &str) -> Result<Vec<u64>, String> {
    let mut seeds = BTreeSet::new();
    for part in text.split(',') {
        let part = part.trim();
        if part.is_empty() {
            return Err(format!("seed list `{text}` has an empty item"));
        }
        let num = |s: &str| {
            s.trim()
                .replace('_', "")
                .parse::<u64>()
                .map_err(|_| format!("seed `{}` is not a whole number >= 0", s.trim()))
        };
        let (lo, hi) = if let Some((a, b)) = part.split_once("..=") {
            (num(a)?, num(b)?.checked_add(1).ok_or_else(|| format!("seed range `{part}` is too large"))?)
        } else if let Some((a, b)) = part.split_once("..") {
            (num(a)?, num(b)?)
        } else {
            let s = num(part)?;
            (s, s + 1)
        };
        if lo >= hi {
            return Err(format!("seed range `{part}` is empty (write `start..end`, end excluded)"));
        }
        if hi - lo > MAX_SEEDS || seeds.len() as u64 + (hi - lo) > MAX_SEEDS {
            return Err(format!("seed list `{text}` has more than {MAX_SEEDS} seeds"));
        }
        seeds.extend(lo..hi);
    }
    Ok(seeds.into_iter().collect())
}

/// The `index`-th of `count` disjoint slices of a seed list (`--shard I/N`, `I` counted from 0, as a
/// Kubernetes indexed Job's `JOB_COMPLETION_INDEX` is).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Shard {
    pub index: u32,
    pub count: u32,
}

impl std::str::FromStr for Shard {
    type Err = String;
    fn from_str(s: &str) -> Result<Shard, String> {
        let (i, n) =
            s.split_once('/').ok_or_else(|| format!("shard `{s}` must look like I/N, e.g. 0/4 (I counts from 0)"))?;
        let index: u32 = i.trim().parse().map_err(|_| format!("shard `{s}`: `{i}` is not a whole number"))?;
        let count: u32 = n.trim().parse().map_err(|_| format!("shard `{s}`: `{n}` is not a whole number"))?;
        if count == 0 {
            return Err(format!("shard `{s}`: N must be at least 1"));
        }
        if index >= count {
            return Err(format!("shard `{s}`: I must be within 0..{count} (I counts from 0)"));
        }
        Ok(Shard { index, count })
    }
}

impl fmt::Display for Shard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.index, self.count)
    }
}

impl Shard {
    /// The seeds of this shard: every `count`-th seed of the list, starting at position `index`, so
    /// shards are balanced, disjoint, and together hold every seed (given the same list).
    pub fn select(&self, seeds: &[u64]) -> Vec<u64> {
        seeds.iter().skip(self.index as usize).step_by(self.count as usize).copied().collect()
    }
}

/// `(min, max)`: a value drawn uniformly from it for each seed.
pub type Range = (f64, f64);

/// Fault intensities as ranges; each seed draws one fault climate from them.
///
/// ```ron
/// swarm: Some((
///     loss: Some((0.0, 0.05)),
///     partitions_per_min: Some((0.0, 4.0)),
///     crashes_per_min: Some((0.0, 2.0)),
///     clock_step_max: Some(("0ms", "500ms")),
///     off_share: 0.25,
/// )),
/// ```
/// Loss goes to `network.link.loss`; the rest to the nemesis (created with its defaults if the
/// scenario has none; fields without a range keep the scenario's value). `clock_step_max` bounds the
/// size of clock steps, which happen only if `clock_steps_per_min` (here or in the nemesis) is set;
/// `clock_drift_max_ppm` likewise bounds the rates of drifts (`clock_drifts_per_min`).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Swarm {
    #[serde(default)]
    pub loss: Option<Range>,
    #[serde(default)]
    pub partitions_per_min: Option<Range>,
    #[serde(default)]
    pub crashes_per_min: Option<Range>,
    #[serde(default)]
    pub pauses_per_min: Option<Range>,
    #[serde(default)]
    pub clock_steps_per_min: Option<Range>,
    #[serde(default)]
    pub clock_step_max: Option<(Duration, Duration)>,
    #[serde(default)]
    pub power_loss_share: Option<Range>,
    #[serde(default)]
    pub clock_drifts_per_min: Option<Range>,
    #[serde(default)]
    pub clock_drift_max_ppm: Option<Range>,
    /// Probability that a fault kind with a range is switched off (set to zero) for a seed.
    #[serde(default)]
    pub off_share: f64,
}

/// Salt for the swarm's random stream (ASCII "SWARM" in the high bytes); see the module docs.
pub const SWARM_SALT: u64 = 0x5357_4152_4d00_0000;

/// The fault climate one seed drew: only the knobs the swarm gives a range for.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Climate {
    pub loss: Option<f64>,
    pub partitions_per_min: Option<f64>,
    pub crashes_per_min: Option<f64>,
    pub pauses_per_min: Option<f64>,
    pub clock_steps_per_min: Option<f64>,
    pub clock_step_max: Option<Duration>,
    pub power_loss_share: Option<f64>,
    pub clock_drifts_per_min: Option<f64>,
    pub clock_drift_max_ppm: Option<f64>,
    /// Knobs switched off for this seed.
    pub off: Vec<String>,
}

impl fmt::Display for Climate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut parts = Vec::new();
        let mut num = |name: &str, v: Option<f64>| {
            if let Some(v) = v {
                parts.push(format!("{name}={}", round_sig(v)));
            }
        };
        num("loss", self.loss);
        num("partitions_per_min", self.partitions_per_min);
        num("crashes_per_min", self.crashes_per_min);
        num("pauses_per_min", self.pauses_per_min);
        num("clock_steps_per_min", self.clock_steps_per_min);
        num("power_loss_share", self.power_loss_share);
        num("clock_drifts_per_min", self.clock_drifts_per_min);
        num("clock_drift_max_ppm", self.clock_drift_max_ppm);
        if let Some(d) = self.clock_step_max {
            parts.push(format!("clock_step_max={d}"));
        }
        if parts.is_empty() { write!(f, "(no swarm knobs)") } else { write!(f, "{}", parts.join(" ")) }
    }
}

fn round_sig(v: f64) -> f64 {
    (v * 1e4).round() / 1e4
}

impl Swarm {
    /// Problems with their field paths under `prefix` (e.g. `swarm`).
    pub fn validate(&self, prefix: &str) -> Vec<(String, String)> {
        let mut e = Vec::new();
        let ranges = [
            ("loss", self.loss, true),
            ("partitions_per_min", self.partitions_per_min, false),
            ("crashes_per_min", self.crashes_per_min, false),
            ("pauses_per_min", self.pauses_per_min, false),
            ("clock_steps_per_min", self.clock_steps_per_min, false),
            ("power_loss_share", self.power_loss_share, true),
            ("clock_drifts_per_min", self.clock_drifts_per_min, false),
            ("clock_drift_max_ppm", self.clock_drift_max_ppm, false),
        ];
        for (name, range, probability) in ranges {
            let Some((lo, hi)) = range else { continue };
            let path = format!("{prefix}.{name}");
            if !(lo.is_finite() && hi.is_finite() && lo >= 0.0) {
                e.push((path, format!("must be finite and >= 0, got ({lo}, {hi})")));
            } else if lo > hi {
                e.push((path, format!("min {lo} is above max {hi}")));
            } else if probability && hi > 1.0 {
                e.push((path, format!("a probability must be within [0, 1], got max {hi}")));
            } else if name == "clock_drift_max_ppm" && hi >= crate::fault::CLOCK_DRIFT_PPM_LIMIT {
                e.push((path, format!("must stay below 1e6 (a clock at -1e6 ppm stands still), got max {hi}")));
            }
        }
        if let Some((lo, hi)) = self.clock_step_max
            && lo > hi
        {
            e.push((format!("{prefix}.clock_step_max"), format!("min {lo} is above max {hi}")));
        }
        if !(0.0..=1.0).contains(&self.off_share) {
            e.push((
                format!("{prefix}.off_share"),
                format!("a probability must be within [0, 1], got {}", self.off_share),
            ));
        }
        e
    }
}

/// Draws the fault climate of `seed` from `swarm` and applies it to `sc` (see [`Swarm`]). Returns
/// what was drawn, for the report.
pub fn apply<C>(swarm: &Swarm, seed: u64, sc: &mut Scenario<C>) -> Climate {
    let mut rng = Prng::new(seed ^ SWARM_SALT, Stream::Nemesis);
    let mut climate = Climate::default();
    // Two draws per knob, always, in this order.
    let mut draw = |name: &str, range: Option<Range>, can_be_off: bool| -> Option<f64> {
        let off = rng.chance(swarm.off_share);
        let u = rng.unit();
        let (lo, hi) = range?;
        if off && can_be_off {
            climate.off.push(name.to_string());
            return Some(0.0);
        }
        Some(lo + u * (hi - lo))
    };
    let loss = draw("loss", swarm.loss, true);
    let partitions = draw("partitions_per_min", swarm.partitions_per_min, true);
    let crashes = draw("crashes_per_min", swarm.crashes_per_min, true);
    let pauses = draw("pauses_per_min", swarm.pauses_per_min, true);
    let steps = draw("clock_steps_per_min", swarm.clock_steps_per_min, true);
    let step_max = draw("clock_step_max", swarm.clock_step_max.map(|(a, b)| (a.0 as f64, b.0 as f64)), false)
        .map(|ns| Duration((ns / 1_000.0).round() as u64 * 1_000));
    let power = draw("power_loss_share", swarm.power_loss_share, true);
    // (Drawn after the knobs of before, so their climates stay what they were.)
    let drifts = draw("clock_drifts_per_min", swarm.clock_drifts_per_min, true);
    let drift_max = draw("clock_drift_max_ppm", swarm.clock_drift_max_ppm, false);
    climate.loss = loss;
    climate.partitions_per_min = partitions;
    climate.crashes_per_min = crashes;
    climate.pauses_per_min = pauses;
    climate.clock_steps_per_min = steps;
    climate.clock_step_max = step_max;
    climate.power_loss_share = power;
    climate.clock_drifts_per_min = drifts;
    climate.clock_drift_max_ppm = drift_max;

    if let Some(l) = loss {
        sc.network.link.loss = l;
    }
    let touches_nemesis = [partitions, crashes, pauses, steps, power, drifts, drift_max].iter().any(Option::is_some)
        || step_max.is_some();
    if touches_nemesis {
        let n = sc.faults.nemesis.get_or_insert_with(Default::default);
        if let Some(v) = partitions {
            n.partitions_per_min = v;
        }
        if let Some(v) = crashes {
            n.crashes_per_min = v;
        }
        if let Some(v) = pauses {
            n.pauses_per_min = v;
        }
        if let Some(v) = steps {
            n.clock_steps_per_min = v;
        }
        if let Some(v) = step_max {
            n.clock_step_max = v;
        }
        if let Some(v) = power {
            n.power_loss_share = v;
        }
        if let Some(v) = drifts {
            n.clock_drifts_per_min = v;
        }
        if let Some(v) = drift_max {
            n.clock_drift_max_ppm = v;
        }
    }
    climate
}

/// The Wilson score interval for `successes` out of `n` at normal quantile `z` (1.96: 95%).
/// `(0, 1)` for `n == 0`.
pub fn wilson(successes: u64, n: u64, z: f64) -> (f64, f64) {
    if n == 0 {
        return (0.0, 1.0);
    }
    let n_f = n as f64;
    let p = successes as f64 / n_f;
    let z2 = z * z;
    let denom = 1.0 + z2 / n_f;
    let center = (p + z2 / (2.0 * n_f)) / denom;
    let half = z / denom * (p * (1.0 - p) / n_f + z2 / (4.0 * n_f * n_f)).sqrt();
    ((center - half).max(0.0), (center + half).min(1.0))
}

/// The normal quantile for a two-sided 95% interval.
pub const Z_95: f64 = 1.959_963_984_540_054;

/// A known-bad scenario's promise, `expect: Fail([...], AtLeast(rate))`, checked across seeds: the
/// seeds that failed exactly as declared, with their Wilson 95% interval. The promise is broken
/// when the promised rate lies above the interval's upper bound (the seeds make a rate that high
/// implausible); a rate inside or below the interval is kept.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PromisedRate {
    pub promised: f64,
    /// Seeds that failed exactly as declared.
    pub hits: u64,
    /// Seeds that finished (a seed whose run panicked counts in neither).
    pub seeds: u64,
    pub ci_low: f64,
    pub ci_high: f64,
    pub kept: bool,
}

impl PromisedRate {
    pub fn check(promised: f64, hits: u64, seeds: u64) -> PromisedRate {
        let (ci_low, ci_high) = wilson(hits, seeds, Z_95);
        PromisedRate { promised, hits, seeds, ci_low, ci_high, kept: seeds > 0 && promised <= ci_high }
    }
}

impl fmt::Display for PromisedRate {
    /// `failed as declared in 17 of 20 seeds (85.0%, 95% CI 64.0%..94.8%); promised at least
    /// 80.0%: kept`
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let share = if self.seeds == 0 { 0.0 } else { self.hits as f64 / self.seeds as f64 };
        write!(
            f,
            "failed as declared in {} of {} seeds ({:.1}%, 95% CI {:.1}%..{:.1}%); promised at least {:.1}%: {}",
            self.hits,
            self.seeds,
            share * 100.0,
            self.ci_low * 100.0,
            self.ci_high * 100.0,
            self.promised * 100.0,
            if self.kept { "kept" } else { "BROKEN (the promised rate is above the interval)" }
        )
    }
}

/// One seed's outcome as the aggregation reads it.
#[derive(Clone, Copy, Debug)]
pub struct SeedSample<'a> {
    /// Every verdict item evaluated (passed or failed).
    pub checked: &'a [String],
    /// The items that failed (may name items missing from `checked`).
    pub failed: &'a [String],
    pub metrics: &'a BTreeMap<String, f64>,
    /// The run did not finish (a model panic): it counts in no item and no metric.
    pub error: bool,
}

/// How often one verdict item held across seeds.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ItemStat {
    pub name: String,
    pub passed: u64,
    /// Seeds in which the item was evaluated.
    pub seeds: u64,
    pub probability: f64,
    /// Wilson 95% interval of the probability.
    pub ci_low: f64,
    pub ci_high: f64,
}

impl fmt::Display for ItemStat {
    /// `latency.get.p99: holds in 97.2% of 1000 seeds (95% CI 96.0%..98.1%)`
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}: holds in {:.1}% of {} seeds (95% CI {:.1}%..{:.1}%)",
            self.name,
            self.probability * 100.0,
            self.seeds,
            self.ci_low * 100.0,
            self.ci_high * 100.0
        )
    }
}

/// The distribution of one metric over seeds (nearest-rank percentiles; non-finite values skipped).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MetricStat {
    pub name: String,
    pub count: u64,
    pub min: f64,
    pub p50: f64,
    pub p90: f64,
    pub max: f64,
    pub mean: f64,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Aggregate {
    pub seeds: u64,
    /// Seeds whose run did not finish.
    pub errors: u64,
    pub items: Vec<ItemStat>,
    pub metrics: Vec<MetricStat>,
}

/// [`crate::stats::percentile`] over `f64`, NaN for no values: the spelling the push and pipeline
/// models still call (the rule is the one in `stats`).
pub fn percentile(sorted: &[f64], q: f64) -> f64 {
    crate::stats::percentile(sorted, q).unwrap_or(f64::NAN)
}

/// Statistics across seeds; items and metrics in name order.
pub fn aggregate<'a>(samples: impl IntoIterator<Item = SeedSample<'a>>) -> Aggregate {
    let mut agg = Aggregate::default();
    let mut items: BTreeMap<&str, (u64, u64)> = BTreeMap::new();
    let mut metrics: BTreeMap<&str, Vec<f64>> = BTreeMap::new();
    for s in samples {
        agg.seeds += 1;
        if s.error {
            agg.errors += 1;
            continue;
        }
        let failed: BTreeSet<&str> = s.failed.iter().map(String::as_str).collect();
        let mut names: BTreeSet<&str> = s.checked.iter().map(String::as_str).collect();
        names.extend(&failed);
        for name in names {
            let e = items.entry(name).or_default();
            e.1 += 1;
            if !failed.contains(name) {
                e.0 += 1;
            }
        }
        for (name, v) in s.metrics {
            if v.is_finite() {
                metrics.entry(name).or_default().push(*v);
            }
        }
    }
    agg.items = items
        .into_iter()
        .map(|(name, (passed, seeds))| {
            let (ci_low, ci_high) = wilson(passed, seeds, Z_95);
            ItemStat {
                name: name.to_string(),
                passed,
                seeds,
                probability: passed as f64 / seeds as f64,
                ci_low,
                ci_high,
            }
        })
        .collect();
    agg.metrics = metrics
        .into_iter()
        .map(|(name, mut v)| {
            v.sort_by(f64::total_cmp);
            MetricStat {
                name: name.to_string(),
                count: v.len() as u64,
                min: v[0],
                p50: percentile(&v, 0.5),
                p90: percentile(&v, 0.9),
                max: v[v.len() - 1],
                mean: v.iter().sum::<f64>() / v.len() as f64,
            }
        })
        .collect();
    agg
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seed_lists_parse() {
        assert_eq!(parse_seeds("0..5").unwrap(), vec![0, 1, 2, 3, 4]);
        assert_eq!(parse_seeds("0..=3").unwrap(), vec![0, 1, 2, 3]);
        assert_eq!(parse_seeds("5").unwrap(), vec![5]);
        assert_eq!(parse_seeds("7, 1,2").unwrap(), vec![1, 2, 7]);
        assert_eq!(parse_seeds("0..3,2,10").unwrap(), vec![0, 1, 2, 10]);
        assert_eq!(parse_seeds("1_000").unwrap(), vec![1000]);
        assert_eq!(parse_seeds("0..1000").unwrap().len(), 1000);
        assert!(parse_seeds("5..5").unwrap_err().contains("empty"));
        assert!(parse_seeds("a").unwrap_err().contains("not a whole number"));
        assert!(parse_seeds("1,,2").unwrap_err().contains("empty item"));
        assert!(parse_seeds("-1").is_err());
        assert!(parse_seeds("0..1000000000000").unwrap_err().contains("more than"));
    }

    #[test]
    fn shards_are_disjoint_and_cover_every_seed() {
        let seeds = parse_seeds("0..1000,5000,7777").unwrap();
        for count in [1u32, 2, 3, 7, 64, 2000] {
            let mut all: Vec<u64> = Vec::new();
            let mut sizes = Vec::new();
            for index in 0..count {
                let part = Shard { index, count }.select(&seeds);
                sizes.push(part.len());
                all.extend(part);
            }
            let n = all.len();
            all.sort();
            all.dedup();
            assert_eq!(n, all.len(), "shards overlap for N={count}");
            assert_eq!(all, seeds, "shards miss seeds for N={count}");
            assert!(sizes.iter().max().unwrap() - sizes.iter().min().unwrap() <= 1, "unbalanced for N={count}");
        }
        assert_eq!("2/4".parse::<Shard>().unwrap(), Shard { index: 2, count: 4 });
        assert!("4/4".parse::<Shard>().unwrap_err().contains("0..4"));
        assert!("1/0".parse::<Shard>().is_err());
        assert!("1".parse::<Shard>().is_err());
    }

    #[test]
    fn wilson_matches_known_values() {
        let check = |k: u64, n: u64, lo: f64, hi: f64| {
            let (a, b) = wilson(k, n, Z_95);
            assert!((a - lo).abs() < 1e-4 && (b - hi).abs() < 1e-4, "{k}/{n}: ({a}, {b}) vs ({lo}, {hi})");
        };
        check(8, 10, 0.4902, 0.9433);
        check(0, 10, 0.0, 0.2775);
        check(10, 10, 0.7225, 1.0);
        check(972, 1000, 0.9598, 0.9806);
        check(1, 2, 0.0945, 0.9055);
        assert_eq!(wilson(0, 0, Z_95), (0.0, 1.0));
    }

    #[test]
    fn a_promised_rate_is_kept_unless_it_lies_above_the_interval() {
        // 17 of 20: the interval is 64.0%..94.8%.
        let r = PromisedRate::check(0.8, 17, 20);
        assert!(r.kept);
        assert_eq!(
            r.to_string(),
            "failed as declared in 17 of 20 seeds (85.0%, 95% CI 64.0%..94.8%); promised at least 80.0%: kept"
        );
        assert!(PromisedRate::check(0.94, 17, 20).kept);
        let broken = PromisedRate::check(0.95, 17, 20);
        assert!(!broken.kept);
        assert!(broken.to_string().ends_with("BROKEN (the promised rate is above the interval)"), "{broken}");
        // A promise below what the seeds show is kept (it is a lower bound).
        assert!(PromisedRate::check(0.5, 20, 20).kept);
        assert!(!PromisedRate::check(0.5, 0, 0).kept, "no finished seed keeps no promise");
    }

    fn s(v: &[&str]) -> Vec<String> {
        v.iter().map(|x| x.to_string()).collect()
    }

    #[test]
    fn aggregation_counts_items_and_metric_distributions() {
        let checked = s(&["durability", "latency.get.p99"]);
        let none: Vec<String> = Vec::new();
        let lat = s(&["latency.get.p99"]);
        let mut runs: Vec<(Vec<String>, bool, BTreeMap<String, f64>)> = Vec::new();
        for i in 0..10u32 {
            let failed = if i < 2 { lat.clone() } else { none.clone() };
            let metrics = BTreeMap::from([("p99_ms".to_string(), (i + 1) as f64), ("nan".to_string(), f64::NAN)]);
            runs.push((failed, false, metrics));
        }
        runs.push((none.clone(), true, BTreeMap::new()));
        let agg = aggregate(runs.iter().map(|(failed, error, metrics)| SeedSample {
            checked: &checked,
            failed,
            metrics,
            error: *error,
        }));
        assert_eq!((agg.seeds, agg.errors), (11, 1));
        let names: Vec<&str> = agg.items.iter().map(|i| i.name.as_str()).collect();
        assert_eq!(names, ["durability", "latency.get.p99"]);
        assert_eq!((agg.items[0].passed, agg.items[0].seeds), (10, 10));
        let l = &agg.items[1];
        assert_eq!((l.passed, l.seeds), (8, 10));
        assert!((l.ci_low - 0.4902).abs() < 1e-4 && (l.ci_high - 0.9433).abs() < 1e-4);
        assert_eq!(l.to_string(), "latency.get.p99: holds in 80.0% of 10 seeds (95% CI 49.0%..94.3%)");
        assert_eq!(agg.metrics.len(), 1, "a metric without finite values is left out");
        let m = &agg.metrics[0];
        assert_eq!((m.min, m.p50, m.p90, m.max, m.mean, m.count), (1.0, 5.0, 9.0, 10.0, 5.5, 10));
    }

    fn scenario() -> Scenario<()> {
        ron::from_str(r#"(name: "t", model: "m", duration: "10s")"#).unwrap()
    }

    #[test]
    fn swarm_draws_a_climate_per_seed_within_the_ranges() {
        let swarm: Swarm = ron::from_str(
            r#"(loss: Some((0.0, 0.05)), partitions_per_min: Some((1.0, 4.0)),
                clock_step_max: Some(("10ms", "500ms")))"#,
        )
        .unwrap();
        assert!(swarm.validate("swarm").is_empty());
        let mut losses = BTreeSet::new();
        for seed in 0..50 {
            let mut sc = scenario();
            let c = apply(&swarm, seed, &mut sc);
            let mut again = scenario();
            assert_eq!(apply(&swarm, seed, &mut again), c, "the same seed draws the same climate");
            let loss = c.loss.unwrap();
            assert!((0.0..=0.05).contains(&loss));
            assert_eq!(sc.network.link.loss, loss);
            let n = sc.faults.nemesis.as_ref().unwrap();
            assert!((1.0..=4.0).contains(&n.partitions_per_min));
            assert_eq!(n.crashes_per_min, 0.0, "no range: the scenario's value stays");
            assert!(n.clock_step_max >= Duration::from_millis(10) && n.clock_step_max <= Duration::from_millis(500));
            assert!(c.crashes_per_min.is_none() && c.off.is_empty());
            losses.insert(loss.to_bits());
        }
        assert_eq!(losses.len(), 50, "each seed draws its own loss");
        // Adding a range does not change what the other knobs draw.
        let more = Swarm { crashes_per_min: Some((0.0, 1.0)), ..swarm.clone() };
        for seed in 0..10 {
            let a = apply(&swarm, seed, &mut scenario());
            let b = apply(&more, seed, &mut scenario());
            assert_eq!(
                (a.loss, a.partitions_per_min, a.clock_step_max),
                (b.loss, b.partitions_per_min, b.clock_step_max)
            );
        }
        // Drifts: a rate and a bound per seed, given to the nemesis; drawn after the other knobs.
        let drifting = Swarm {
            clock_drifts_per_min: Some((1.0, 6.0)),
            clock_drift_max_ppm: Some((100.0, 20_000.0)),
            ..swarm.clone()
        };
        assert!(drifting.validate("swarm").is_empty());
        for seed in 0..10 {
            let mut sc = scenario();
            let c = apply(&drifting, seed, &mut sc);
            let n = sc.faults.nemesis.as_ref().unwrap();
            assert!(
                (1.0..=6.0).contains(&n.clock_drifts_per_min) && c.clock_drifts_per_min == Some(n.clock_drifts_per_min)
            );
            assert!((100.0..=20_000.0).contains(&n.clock_drift_max_ppm));
            assert!(c.to_string().contains("clock_drift_max_ppm="), "{c}");
            let a = apply(&swarm, seed, &mut scenario());
            assert_eq!((a.loss, a.partitions_per_min), (c.loss, c.partitions_per_min));
        }
        let too_fast = Swarm { clock_drift_max_ppm: Some((0.0, 1e6)), ..Swarm::default() };
        assert_eq!(too_fast.validate("swarm")[0].0, "swarm.clock_drift_max_ppm");
    }

    #[test]
    fn swarm_switches_fault_kinds_off() {
        let swarm = Swarm { crashes_per_min: Some((1.0, 2.0)), off_share: 0.5, ..Default::default() };
        let off = (0..200).filter(|&seed| apply(&swarm, seed, &mut scenario()).crashes_per_min == Some(0.0)).count();
        assert!((70..=130).contains(&off), "{off}");
    }

    #[test]
    fn bad_swarms_are_rejected_with_paths() {
        let swarm = Swarm {
            loss: Some((0.1, 1.5)),
            crashes_per_min: Some((3.0, 1.0)),
            pauses_per_min: Some((f64::NAN, 1.0)),
            off_share: 2.0,
            ..Default::default()
        };
        let paths: Vec<String> = swarm.validate("swarm").into_iter().map(|e| e.0).collect();
        assert_eq!(paths, ["swarm.loss", "swarm.crashes_per_min", "swarm.pauses_per_min", "swarm.off_share"]);
        assert!(ron::from_str::<Swarm>("(los: Some((0.0, 0.1)))").is_err(), "unknown fields are rejected");
    }
}
