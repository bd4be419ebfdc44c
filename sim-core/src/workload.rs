//! Load generators. Open loop: arrivals follow a (possibly time-varying) Poisson process and latency
//! counts from the *intended* send time, so a slow system cannot hide its queueing (no coordinated
//! omission). Closed loop: a fixed number of users, each waiting for its answer, then thinking.

use crate::dist::Dist;
use crate::rng::Prng;
use crate::time::{Duration, Time};
use serde::{Deserialize, Serialize};

/// ```ron
/// workload: (
///     ops: [("get", 0.8), ("put", 0.2)],
///     arrival: OpenLoop(rate_per_s: 2000.0),
///     keys: Zipf(count: 10000, s: 1.1),
///     shape: [Burst(at: "20s", duration: "5s", factor: 3.0)],
///     retry: Some((max_attempts: 3, backoff: "100ms")),
/// ),
/// ```
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WorkloadSpec {
    /// Operation kinds (the model's names) and their weights.
    pub ops: Vec<(String, f64)>,
    pub arrival: Arrival,
    #[serde(default)]
    pub keys: Keys,
    /// Multipliers of the open-loop rate over time.
    #[serde(default)]
    pub shape: Vec<Shape>,
    /// Retry an operation that timed out or failed: the retry storm.
    #[serde(default)]
    pub retry: Option<Retry>,
    /// No new operations after this (default: the end of the run's main phase).
    #[serde(default)]
    pub stop_at: Option<Duration>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub enum Arrival {
    OpenLoop {
        rate_per_s: f64,
    },
    /// `users` in all, spread over the client nodes.
    ClosedLoop {
        users: u32,
        #[serde(default)]
        think: Option<Dist>,
    },
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub enum Keys {
    Uniform {
        count: u64,
    },
    Zipf {
        count: u64,
        s: f64,
    },
    /// `share` of operations go to one hot key, which moves to a new random key every `every`.
    HotKey {
        count: u64,
        share: f64,
        every: Duration,
    },
}

impl Default for Keys {
    fn default() -> Self {
        Keys::Uniform { count: 1000 }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub enum Shape {
    /// The rate times `factor` during `[at, at + duration)`.
    Burst { at: Duration, duration: Duration, factor: f64 },
    /// A day-like sine: rate times `1 + amplitude * sin(2 pi t / period)`.
    Diurnal { period: Duration, amplitude: f64 },
    /// A flash crowd: from `at` the rate ramps up to `factor` over `ramp`, holds for `hold`, then drops.
    FlashCrowd { at: Duration, ramp: Duration, hold: Duration, factor: f64 },
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Retry {
    pub max_attempts: u32,
    pub backoff: Duration,
    /// Retry failures too, not only timeouts.
    #[serde(default)]
    pub on_fail: bool,
}

impl WorkloadSpec {
    pub fn validate(&self, op_kinds: &[&str]) -> Vec<(String, String)> {
        let mut e = Vec::new();
        if self.ops.is_empty() {
            e.push((
                "workload.ops".into(),
                format!("needs at least one operation (this model has: {})", op_kinds.join(", ")),
            ));
        }
        for (i, (name, w)) in self.ops.iter().enumerate() {
            if !op_kinds.contains(&name.as_str()) {
                e.push((
                    format!("workload.ops[{i}]"),
                    format!("unknown operation `{name}` (this model has: {})", op_kinds.join(", ")),
                ));
            }
            if !(w.is_finite() && *w >= 0.0) {
                e.push((format!("workload.ops[{i}]"), format!("weight must be finite and >= 0, got {w}")));
            }
        }
        if !self.ops.is_empty() && self.ops.iter().map(|o| o.1).sum::<f64>() <= 0.0 {
            e.push(("workload.ops".into(), "weights sum to zero".into()));
        }
        match &self.arrival {
            Arrival::OpenLoop { rate_per_s } => {
                if !(rate_per_s.is_finite() && *rate_per_s >= 0.0 && *rate_per_s <= 1e9) {
                    e.push((
                        "workload.arrival.rate_per_s".into(),
                        format!("must be within [0, 1e9], got {rate_per_s}"),
                    ));
                }
            }
            Arrival::ClosedLoop { users, think } => {
                if *users == 0 {
                    e.push(("workload.arrival.users".into(), "must be at least 1".into()));
                }
                if let Some(Err(m)) = think.as_ref().map(|t| t.validate()) {
                    e.push(("workload.arrival.think".into(), m));
                }
            }
        }
        match &self.keys {
            Keys::Uniform { count } | Keys::Zipf { count, .. } | Keys::HotKey { count, .. } => {
                if *count == 0 || *count > 50_000_000 {
                    e.push(("workload.keys.count".into(), format!("must be within [1, 50,000,000], got {count}")));
                }
            }
        }
        if let Keys::Zipf { s, .. } = &self.keys
            && !(s.is_finite() && *s >= 0.0)
        {
            e.push(("workload.keys.s".into(), format!("must be finite and >= 0, got {s}")));
        }
        if let Keys::HotKey { share, every, .. } = &self.keys {
            if !(0.0..=1.0).contains(share) {
                e.push(("workload.keys.share".into(), format!("a probability must be within [0, 1], got {share}")));
            }
            if every.0 == 0 {
                e.push(("workload.keys.every".into(), "must be positive".into()));
            }
        }
        for (i, s) in self.shape.iter().enumerate() {
            let f = match s {
                Shape::Burst { factor, .. } | Shape::FlashCrowd { factor, .. } => *factor,
                Shape::Diurnal { amplitude, period } => {
                    if period.0 == 0 {
                        e.push((format!("workload.shape[{i}].period"), "must be positive".into()));
                    }
                    if !(0.0..=1.0).contains(amplitude) {
                        e.push((
                            format!("workload.shape[{i}].amplitude"),
                            format!("must be within [0, 1], got {amplitude}"),
                        ));
                    }
                    1.0
                }
            };
            if !(f.is_finite() && f >= 0.0) {
                e.push((format!("workload.shape[{i}].factor"), format!("must be finite and >= 0, got {f}")));
            }
        }
        if let Some(r) = &self.retry
            && r.max_attempts == 0
        {
            e.push(("workload.retry.max_attempts".into(), "must be at least 1".into()));
        }
        e
    }

    /// The rate multiplier at `t`, and an upper bound of it over the whole run (for thinning).
    pub fn rate_factor(&self, t: Time) -> f64 {
        let mut f = 1.0;
        for s in &self.shape {
            f *= match *s {
                Shape::Burst { at, duration, factor } => {
                    if t.0 >= at.0 && t.0 < at.0 + duration.0 {
                        factor
                    } else {
                        1.0
                    }
                }
                Shape::Diurnal { period, amplitude } => {
                    1.0 + amplitude * (std::f64::consts::TAU * t.0 as f64 / period.0 as f64).sin()
                }
                Shape::FlashCrowd { at, ramp, hold, factor } => {
                    if t.0 < at.0 || t.0 >= at.0 + ramp.0 + hold.0 {
                        1.0
                    } else if t.0 < at.0 + ramp.0 {
                        1.0 + (factor - 1.0) * (t.0 - at.0) as f64 / ramp.0 as f64
                    } else {
                        factor
                    }
                }
            };
        }
        f
    }

    fn max_rate_factor(&self) -> f64 {
        self.shape
            .iter()
            .map(|s| match *s {
                Shape::Burst { factor, .. } | Shape::FlashCrowd { factor, .. } => factor.max(1.0),
                Shape::Diurnal { amplitude, .. } => 1.0 + amplitude,
            })
            .product()
    }
}

/// Chooses keys: uniform, Zipf (by an exact inverse-CDF table), or a moving hot key.
#[derive(Clone, Debug)]
pub(crate) enum KeyChooser {
    Uniform(u64),
    Zipf(Vec<f64>),
    Hot { count: u64, share: f64, every: u64 },
}

impl KeyChooser {
    pub fn new(keys: &Keys) -> KeyChooser {
        match *keys {
            Keys::Uniform { count } => KeyChooser::Uniform(count),
            Keys::Zipf { count, s } => {
                let mut cdf = Vec::with_capacity(count as usize);
                let mut acc = 0.0;
                for k in 1..=count {
                    acc += 1.0 / (k as f64).powf(s);
                    cdf.push(acc);
                }
                for c in &mut cdf {
                    *c /= acc;
                }
                KeyChooser::Zipf(cdf)
            }
            Keys::HotKey { count, share, every } => KeyChooser::Hot { count, share, every: every.0 },
        }
    }

    /// Key 0 is the most popular under Zipf.
    pub fn choose(&self, t: Time, rng: &mut Prng, hot_seed: u64) -> u64 {
        match self {
            KeyChooser::Uniform(n) => rng.below(*n),
            KeyChooser::Zipf(cdf) => {
                let u = rng.unit();
                (cdf.partition_point(|&c| c <= u) as u64).min(cdf.len() as u64 - 1)
            }
            KeyChooser::Hot { count, share, every } => {
                if rng.chance(*share) {
                    // The hot key of this period: a fixed function of the period number.
                    let period = t.0 / every;
                    crate::rng::mix64(hot_seed ^ period) % count
                } else {
                    rng.below(*count)
                }
            }
        }
    }
}

/// The workload's running state: the next arrival, and the draws of kinds and keys.
pub(crate) struct Generator {
    pub spec: WorkloadSpec,
    op_index: Vec<u16>,
    op_weights: Vec<f64>,
    keys: KeyChooser,
    max_factor: f64,
    hot_seed: u64,
    pub stop_at: Time,
}

impl Generator {
    pub fn new(spec: &WorkloadSpec, op_kinds: &[&str], stop_at: Time, rng: &mut Prng) -> Generator {
        let op_index = spec.ops.iter().map(|(n, _)| op_kinds.iter().position(|k| k == n).unwrap_or(0) as u16).collect();
        Generator {
            op_index,
            op_weights: spec.ops.iter().map(|o| o.1).collect(),
            keys: KeyChooser::new(&spec.keys),
            max_factor: spec.max_rate_factor(),
            hot_seed: rng.next_u64(),
            stop_at: spec.stop_at.map(|d| Time(d.0)).unwrap_or(stop_at).min(stop_at),
            spec: spec.clone(),
        }
    }

    /// The next open-loop arrival after `t` (thinning for time-varying rates), or `None` past the end.
    pub fn next_arrival(&self, t: Time, rng: &mut Prng) -> Option<Time> {
        let Arrival::OpenLoop { rate_per_s } = self.spec.arrival else { return None };
        let max_rate = rate_per_s * self.max_factor;
        if max_rate <= 0.0 {
            return None;
        }
        let mut now = t;
        loop {
            let gap = rng.exp(1e9 / max_rate);
            now += Duration(gap.round().max(1.0) as u64);
            if now >= self.stop_at {
                return None;
            }
            // Thinning whenever there is a shape: a dip (factor < 1) alone has a maximum of 1.
            if self.spec.shape.is_empty() || rng.unit() * self.max_factor < self.spec.rate_factor(now) {
                return Some(now);
            }
        }
    }

    /// Draws the kind and key of a new operation.
    pub fn draw(&self, t: Time, rng: &mut Prng) -> (u16, u64) {
        let kind =
            if self.op_index.len() == 1 { self.op_index[0] } else { self.op_index[rng.weighted(&self.op_weights)] };
        (kind, self.keys.choose(t, rng, self.hot_seed))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::Stream;

    #[test]
    fn zipf_favours_low_keys() {
        let k = KeyChooser::new(&Keys::Zipf { count: 1000, s: 1.0 });
        let mut rng = Prng::new(3, Stream::Workload);
        let n = 100_000;
        let hits0 = (0..n).filter(|_| k.choose(Time(0), &mut rng, 0) == 0).count() as f64 / n as f64;
        // P(key 0) = 1 / H(1000) = 0.1336
        assert!((hits0 - 0.1336).abs() < 0.01, "{hits0}");
    }

    #[test]
    fn poisson_rate_and_burst() {
        let spec = WorkloadSpec {
            ops: vec![("x".into(), 1.0)],
            arrival: Arrival::OpenLoop { rate_per_s: 1000.0 },
            keys: Keys::default(),
            shape: vec![Shape::Burst { at: Duration::from_secs(5), duration: Duration::from_secs(5), factor: 3.0 }],
            retry: None,
            stop_at: None,
        };
        let mut rng = Prng::new(5, Stream::Workload);
        let g = Generator::new(&spec, &["x"], Time(Duration::from_secs(10).0), &mut rng);
        let mut t = Time::ZERO;
        let (mut before, mut during) = (0, 0);
        while let Some(n) = g.next_arrival(t, &mut rng) {
            if n.0 < 5_000_000_000 {
                before += 1
            } else {
                during += 1
            }
            t = n;
        }
        assert!((4700..5300).contains(&before), "{before}");
        assert!((14200..15800).contains(&during), "{during}");
    }

    /// A dip (factor below 1) thins the arrivals too, down to none at factor 0 (a warm-up).
    #[test]
    fn a_dip_alone_thins_the_rate() {
        let spec = WorkloadSpec {
            ops: vec![("x".into(), 1.0)],
            arrival: Arrival::OpenLoop { rate_per_s: 1000.0 },
            keys: Keys::default(),
            shape: vec![Shape::Burst { at: Duration::ZERO, duration: Duration::from_secs(5), factor: 0.0 }],
            retry: None,
            stop_at: None,
        };
        let mut rng = Prng::new(5, Stream::Workload);
        let g = Generator::new(&spec, &["x"], Time(Duration::from_secs(10).0), &mut rng);
        let first = g.next_arrival(Time::ZERO, &mut rng).expect("arrivals after the dip");
        assert!(first >= Time(Duration::from_secs(5).0), "{first}");
    }
}
