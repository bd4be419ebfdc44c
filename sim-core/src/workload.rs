//! Load generators. Open loop: arrivals follow a (possibly time-varying) Poisson process and latency
//! counts from the *intended* send time, so a slow system cannot hide its queueing (no coordinated
//! omission). Closed loop: a fixed number of users, each waiting for its answer, then thinking.
//! Scripted: operations listed one by one (`at`, op, key, client), in the scenario or read from a
//! trace file, so a published script or a production trace replays exactly. After any of them,
//! a final read ([`FinalRead`]): every client reads through the settle phase, as Jepsen's final
//! reads do, so a liveness check does not fail a design for the load's end.

use crate::dist::Dist;
use crate::math;
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
    /// Operation kinds (the model's names) and their weights (unused by a scripted arrival, whose
    /// operations name their kind).
    #[serde(default)]
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
    /// Jepsen's final read: once the main phase ends and its faults heal, every client issues
    /// this operation each `every` until the run ends.
    #[serde(default)]
    pub final_read: Option<FinalRead>,
}

/// The final read ([`WorkloadSpec::final_read`]). A liveness check such as "every acknowledged
/// message is consumed" needs readers after the load: without them a reader cut off until the
/// load stops never catches up, and the check fails the design for the workload's end.
///
/// ```ron
/// final_read: Some((op: "poll", every: "250ms")),
/// ```
///
/// From the end of the main phase (after the heal), each `every`, every client node in turn
/// issues `op` with a key drawn as the workload draws keys; the rounds go on until the end of
/// the settle phase (so a run with a final read never ends early for want of events). The
/// operations are ordinary operations of the history (latency, outcomes, checks); the report's
/// counter `final_read_ops` says how many were issued.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FinalRead {
    /// An operation kind of the model.
    pub op: String,
    /// The gap between rounds; the first round comes `every` after the main phase ends.
    pub every: Duration,
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
    /// Operations listed in the scenario, each issued at its time (ties in the order listed).
    ///
    /// ```ron
    /// arrival: Script(ops: [(at: "10ms", op: "write", key: 7), (at: "12ms", op: "read", key: 7, client: 1)]),
    /// ```
    Script {
        ops: Vec<Scripted>,
    },
    /// Operations read from a trace file: CSV (`at,op,key[,client]`, an optional header line) or
    /// JSON lines (`{"at": "10ms", "op": "write", "key": 7, "client": 1}`), chosen by the file's
    /// extension (`.csv`, `.jsonl`); `at` is a duration (`"10ms"`) or a number of seconds. The path
    /// is relative to the scenario file. `simctl` reads the file when it loads the scenario and
    /// carries the operations in `ops` from then on, so sweeps, shrinks and replays do not need
    /// the file again (a scenario that already lists `ops`, as `simctl shrink` writes one back,
    /// is used as it is); a trace with no operations is refused.
    Trace {
        file: String,
        #[serde(default)]
        ops: Vec<Scripted>,
    },
    /// The probe of the partial-quorum literature (see [`crate::probe`]): `writes` rounds of one
    /// `write` (an operation kind of the model), then a `read` of the same key at each of
    /// `read_after` after the write's acknowledgement (`from: Ack`, the default) or its commit at
    /// the coordinator (`from: Commit`, for models that report it); the next round starts `gap`
    /// after the round's last answer. Keys are written in turn over `keys` keys.
    ///
    /// ```ron
    /// arrival: Probe(write: "write", read: "read", writes: 200, read_after: ["0ms", "1ms", "5ms"]),
    /// ```
    Probe {
        write: String,
        read: String,
        writes: u32,
        read_after: Vec<Duration>,
        #[serde(default = "one_key")]
        keys: u64,
        #[serde(default = "probe_gap")]
        gap: Duration,
        #[serde(default)]
        from: crate::probe::ProbeFrom,
    },
}

fn one_key() -> u64 {
    1
}
fn probe_gap() -> Duration {
    Duration::from_millis(10)
}

/// One operation of a scripted workload.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Scripted {
    /// When it is issued, from the start of the run.
    pub at: Duration,
    /// The operation kind (the model's name).
    pub op: String,
    pub key: u64,
    /// Which client node issues it, as an index into the topology's clients (default: the first).
    #[serde(default)]
    pub client: u32,
}

impl Arrival {
    /// The listed operations of a scripted arrival.
    pub fn script(&self) -> Option<&[Scripted]> {
        match self {
            Arrival::Script { ops } | Arrival::Trace { ops, .. } => Some(ops),
            _ => None,
        }
    }
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
    /// Every problem, for a run whose main phase lasts `until` (the rate's peak is judged over it).
    pub fn validate(&self, op_kinds: &[&str], until: Duration) -> Vec<(String, String)> {
        let mut e = Vec::new();
        if let Some(script) = self.arrival.script() {
            validate_script(&self.arrival, script, op_kinds, &mut e);
        } else if let Some(p) = crate::probe::spec(&self.arrival) {
            p.validate(op_kinds, &mut e);
        } else if self.ops.is_empty() {
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
            Arrival::Script { .. } | Arrival::Trace { .. } | Arrival::Probe { .. } => {}
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
        if self.shape.len() > SHAPES_MAX {
            e.push((
                "workload.shape".into(),
                format!("{} shapes is more than the limit of {SHAPES_MAX}", self.shape.len()),
            ));
        }
        // The peak, if the rate and the shapes are each right.
        let parts_ok = e.iter().all(|(p, _)| !p.starts_with("workload.shape") && p != "workload.arrival.rate_per_s");
        if let (true, Arrival::OpenLoop { rate_per_s }) = (parts_ok, &self.arrival) {
            let end = self.stop_at.map_or(until, |s| s.min(until));
            let peak = self.pieces(Time(end.0)).iter().map(|p| p.peak).fold(0.0, f64::max);
            if rate_per_s * peak > RATE_PEAK_MAX_PER_S {
                e.push((
                    "workload.shape".into(),
                    format!(
                        "the rate peaks at {:.3e}/s (rate_per_s {rate_per_s} x a combined shape factor of {peak:.3e}), \
                         more than the limit of 1e9/s",
                        rate_per_s * peak
                    ),
                ));
            }
        }
        if let Some(r) = &self.retry
            && r.max_attempts == 0
        {
            e.push(("workload.retry.max_attempts".into(), "must be at least 1".into()));
        }
        if let Some(f) = &self.final_read {
            if !op_kinds.contains(&f.op.as_str()) {
                e.push((
                    "workload.final_read.op".into(),
                    format!("unknown operation `{}` (this model has: {})", f.op, op_kinds.join(", ")),
                ));
            }
            if f.every < FINAL_READ_EVERY_MIN {
                e.push((
                    "workload.final_read.every".into(),
                    format!("must be at least {FINAL_READ_EVERY_MIN}, got {}", f.every),
                ));
            }
        }
        e
    }

    /// The rate multiplier at `t`: the product of every shape's factor.
    pub fn rate_factor(&self, t: Time) -> f64 {
        self.shape.iter().map(|s| s.factor_at(t.0)).product()
    }

    /// `[0, until)` cut where any shape changes phase, with the highest combined factor in each
    /// piece: the thinning envelope, piece by piece. A shape that lowers the rate lowers it; shapes
    /// that peak at different times do not multiply their peaks; a burst outside `[0, until)` has no
    /// effect.
    pub(crate) fn pieces(&self, until: Time) -> Vec<Piece> {
        let mut cuts: Vec<u64> = vec![0, until.0];
        for s in &self.shape {
            match *s {
                Shape::Burst { at, duration, .. } => cuts.extend([at.0, at.0.saturating_add(duration.0)]),
                Shape::FlashCrowd { at, ramp, hold, .. } => {
                    let ramped = at.0.saturating_add(ramp.0);
                    cuts.extend([at.0, ramped, ramped.saturating_add(hold.0)]);
                }
                Shape::Diurnal { .. } => {}
            }
        }
        cuts.retain(|&c| c <= until.0);
        cuts.sort_unstable();
        cuts.dedup();
        cuts.windows(2)
            .map(|w| {
                let (start, end) = (w[0], w[1]);
                let mut piece = Piece { start, end, peak: 1.0, flat: true, mean: 1.0 };
                for s in &self.shape {
                    let (peak, mean, flat) = s.over(start, end);
                    piece.peak *= peak;
                    piece.mean *= mean;
                    piece.flat &= flat;
                }
                piece
            })
            .collect()
    }

    /// Open-loop arrivals expected over `[0, until)` (the rate times the mean of the shapes).
    pub fn expected_arrivals(&self, until: Time) -> f64 {
        let end = self.stop_at.map_or(until, |s| Time(s.0).min(until));
        if let Some(script) = self.arrival.script() {
            return script.iter().filter(|s| s.at.0 < end.0).count() as f64;
        }
        if let Arrival::Probe { writes, read_after, .. } = &self.arrival {
            return *writes as f64 * (1 + read_after.len()) as f64;
        }
        let Arrival::OpenLoop { rate_per_s } = self.arrival else { return 0.0 };
        self.pieces(end).iter().map(|p| rate_per_s * p.mean * (p.end - p.start) as f64 / 1e9).sum()
    }
}

/// At most this many operations in a scripted workload.
pub const SCRIPT_MAX: usize = 10_000_000;

fn validate_script(arrival: &Arrival, script: &[Scripted], op_kinds: &[&str], e: &mut Vec<(String, String)>) {
    if let Arrival::Trace { file, .. } = arrival
        && script.is_empty()
    {
        e.push((
            "workload.arrival.ops".into(),
            format!(
                "the trace `{file}` holds no operations (or was not read: `simctl` reads it when it loads the scenario)"
            ),
        ));
    }
    if script.len() > SCRIPT_MAX {
        e.push((
            "workload.arrival.ops".into(),
            format!("{} operations is more than the limit of {SCRIPT_MAX}", script.len()),
        ));
    }
    // The first few problems, each named; a million bad lines are not a million errors.
    let mut bad = 0;
    for (i, s) in script.iter().enumerate() {
        if !op_kinds.contains(&s.op.as_str()) {
            bad += 1;
            if bad <= 5 {
                e.push((
                    format!("workload.arrival.ops[{i}].op"),
                    format!("unknown operation `{}` (this model has: {})", s.op, op_kinds.join(", ")),
                ));
            }
        }
    }
    if bad > 5 {
        e.push(("workload.arrival.ops".into(), format!("{} more operations name an unknown kind", bad - 5)));
    }
}

/// At most this many shapes in a workload.
pub const SHAPES_MAX: usize = 1000;

/// The shortest gap between a final read's rounds.
pub const FINAL_READ_EVERY_MIN: Duration = Duration::from_millis(1);

/// The counter of the operations a final read issued.
pub const FINAL_READ_COUNTER: &str = "final_read_ops";

/// The highest open-loop rate, shapes included: a billion arrivals per simulated second.
pub const RATE_PEAK_MAX_PER_S: f64 = 1e9;

/// A stretch `[start, end)` in which no shape changes phase.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) struct Piece {
    pub start: u64,
    pub end: u64,
    /// The highest combined factor in the piece (an upper bound when two shapes vary in it).
    pub peak: f64,
    /// The mean combined factor (exact when at most one shape varies in it).
    pub mean: f64,
    /// Every shape is constant in the piece: the factor is `peak` throughout.
    pub flat: bool,
}

impl Shape {
    fn factor_at(&self, t: u64) -> f64 {
        match *self {
            Shape::Burst { at, duration, factor } => {
                if t >= at.0 && t < at.0.saturating_add(duration.0) {
                    factor
                } else {
                    1.0
                }
            }
            Shape::Diurnal { period, amplitude } => {
                1.0 + amplitude * math::sin(std::f64::consts::TAU * t as f64 / period.0 as f64)
            }
            Shape::FlashCrowd { at, ramp, hold, factor } => {
                let ramped = at.0.saturating_add(ramp.0);
                if t < at.0 || t >= ramped.saturating_add(hold.0) {
                    1.0
                } else if t < ramped {
                    1.0 + (factor - 1.0) * (t - at.0) as f64 / ramp.0 as f64
                } else {
                    factor
                }
            }
        }
    }

    /// Over `[start, end)`, inside which this shape does not change phase: its highest factor, its
    /// mean factor, and whether it is constant.
    fn over(&self, start: u64, end: u64) -> (f64, f64, bool) {
        match *self {
            Shape::Burst { .. } => {
                let f = self.factor_at(start);
                (f, f, true)
            }
            Shape::FlashCrowd { at, ramp, factor, .. } => {
                let ramping = start >= at.0 && start < at.0.saturating_add(ramp.0) && factor != 1.0;
                if !ramping {
                    let f = self.factor_at(start);
                    return (f, f, true);
                }
                // Linear in the piece: the extremes are at its ends (the end value as a limit).
                let (a, b) = (self.factor_at(start), 1.0 + (factor - 1.0) * (end - at.0) as f64 / ramp.0 as f64);
                (a.max(b), (a + b) / 2.0, false)
            }
            Shape::Diurnal { period, amplitude } => {
                if amplitude == 0.0 {
                    return (1.0, 1.0, true);
                }
                let p = period.0 as f64;
                let (a, b) = (start as f64, end as f64);
                // A crest (sin = 1) at p/4 + k p inside the piece?
                let k = ((a - p / 4.0) / p).ceil();
                let crest = p / 4.0 + k * p;
                let peak = if b - a >= p || (crest >= a && crest < b) {
                    1.0 + amplitude
                } else {
                    self.factor_at(start).max(self.factor_at(end))
                };
                // Whole periods average 1; a shorter piece is averaged from 17 samples.
                let mean = if b - a >= p {
                    1.0
                } else {
                    (0..=16)
                        .map(|i| self.factor_at(start + ((end - start) as f64 * i as f64 / 16.0) as u64))
                        .sum::<f64>()
                        / 17.0
                };
                (peak, mean, false)
            }
        }
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
                    acc += 1.0 / math::powf(k as f64, s);
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
    /// The weights' sum, for [`Prng::weighted_of`]: the sum `Prng::weighted` took on every draw.
    op_total: f64,
    keys: KeyChooser,
    /// The thinning envelope over `[0, stop_at)`, piece by piece.
    pieces: Vec<Piece>,
    /// Per piece: the mean gap between candidate arrivals in ns, `1e9 / (rate * peak)`, computed
    /// once rather than divided out on every arrival (the same value bit for bit).
    gaps: Vec<f64>,
    /// The open-loop rate per second; 0 for any other arrival (which draws no arrivals).
    rate_per_s: f64,
    hot_seed: u64,
    pub stop_at: Time,
    /// A scripted arrival's operations before `stop_at`, in time order (ties as listed).
    pub script: Vec<ScriptedOp>,
    /// The final read's operation kind and gap between rounds.
    pub final_read: Option<(u16, Duration)>,
}

/// A scripted operation, resolved: the kind's index and the client's index into the topology's.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct ScriptedOp {
    pub at: Time,
    pub kind: u16,
    pub key: u64,
    pub client: u32,
}

impl Generator {
    pub fn new(spec: &WorkloadSpec, op_kinds: &[&str], stop_at: Time, rng: &mut Prng) -> Generator {
        let op_index = spec.ops.iter().map(|(n, _)| op_kinds.iter().position(|k| k == n).unwrap_or(0) as u16).collect();
        let stop_at = spec.stop_at.map(|d| Time(d.0)).unwrap_or(stop_at).min(stop_at);
        let mut script: Vec<ScriptedOp> = spec
            .arrival
            .script()
            .unwrap_or_default()
            .iter()
            .filter(|s| s.at.0 < stop_at.0)
            .map(|s| ScriptedOp {
                at: Time(s.at.0),
                kind: op_kinds.iter().position(|k| *k == s.op).unwrap_or(0) as u16,
                key: s.key,
                client: s.client,
            })
            .collect();
        script.sort_by_key(|s| s.at); // stable: ties keep the listed order
        let rate_per_s = match spec.arrival {
            Arrival::OpenLoop { rate_per_s } => rate_per_s,
            _ => 0.0,
        };
        let pieces = spec.pieces(stop_at);
        Generator {
            script,
            op_index,
            op_weights: spec.ops.iter().map(|o| o.1).collect(),
            op_total: spec.ops.iter().map(|o| o.1).sum(),
            keys: KeyChooser::new(&spec.keys),
            gaps: pieces.iter().map(|p| 1e9 / (rate_per_s * p.peak)).collect(),
            rate_per_s,
            pieces,
            hot_seed: rng.next_u64(),
            stop_at,
            final_read: spec
                .final_read
                .as_ref()
                .map(|f| (op_kinds.iter().position(|k| *k == f.op).unwrap_or(0) as u16, f.every)),
            spec: spec.clone(),
        }
    }

    /// The next open-loop arrival after `t`, or `None` past the end. Thinning, piece by piece: in
    /// each piece candidates come at the rate times the piece's peak factor and are kept with
    /// probability factor / peak (no draw in a piece where the factor is constant). A candidate
    /// past its piece's end is dropped and the draw starts again at the boundary (exact for a
    /// Poisson process, which has no memory). Gaps are rounded to whole nanoseconds, never floored:
    /// two arrivals may share an instant, and the mean gap stays right up to the 1e9/s limit.
    pub fn next_arrival(&self, t: Time, rng: &mut Prng) -> Option<Time> {
        if self.rate_per_s <= 0.0 {
            return None;
        }
        let mut now = t;
        let mut i = self.pieces.partition_point(|p| p.end <= now.0);
        loop {
            let p = self.pieces.get(i)?;
            if p.peak <= 0.0 {
                (now, i) = (Time(p.end), i + 1);
                continue;
            }
            let gap = rng.exp(self.gaps[i]);
            let next = now + Duration(crate::time::round_ns(gap));
            if next.0 >= p.end {
                (now, i) = (Time(p.end), i + 1);
                continue;
            }
            now = next;
            if p.flat || rng.unit() * p.peak < self.spec.rate_factor(now) {
                return Some(now);
            }
        }
    }

    /// Draws the kind and key of a new operation.
    pub fn draw(&self, t: Time, rng: &mut Prng) -> (u16, u64) {
        let kind = if self.op_index.len() == 1 {
            self.op_index[0]
        } else {
            self.op_index[rng.weighted_of(&self.op_weights, self.op_total)]
        };
        (kind, self.draw_key(t, rng))
    }

    /// Draws the key of a new operation.
    pub fn draw_key(&self, t: Time, rng: &mut Prng) -> u64 {
        self.keys.choose(t, rng, self.hot_seed)
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

    fn open_loop(rate_per_s: f64, shape: Vec<Shape>) -> WorkloadSpec {
        WorkloadSpec {
            ops: vec![("x".into(), 1.0)],
            arrival: Arrival::OpenLoop { rate_per_s },
            keys: Keys::default(),
            shape,
            retry: None,
            stop_at: None,
            final_read: None,
        }
    }

    fn burst(at_s: f64, duration_s: f64, factor: f64) -> Shape {
        Shape::Burst { at: Duration::from_secs_f64(at_s), duration: Duration::from_secs_f64(duration_s), factor }
    }

    /// Every arrival of `spec` over `[0, until)` with seed 5.
    fn arrivals(spec: &WorkloadSpec, until: Duration) -> Vec<Time> {
        let mut rng = Prng::new(5, Stream::Workload);
        let g = Generator::new(spec, &["x"], Time(until.0), &mut rng);
        let mut out = Vec::new();
        let mut t = Time::ZERO;
        while let Some(n) = g.next_arrival(t, &mut rng) {
            out.push(n);
            t = n;
        }
        out
    }

    /// A lowering shape lowers the rate even when no shape raises it (it used to be skipped when
    /// the largest factor was 1: `Burst(factor: 0.0)` alone changed nothing).
    #[test]
    fn a_shape_that_lowers_the_rate_alone_lowers_it() {
        let none = arrivals(&open_loop(100.0, vec![burst(0.0, 2.0, 0.0)]), Duration::from_secs(2));
        assert_eq!(none.len(), 0);
        // 1,500/s for 125 s with the rate at zero over [5 s, 120 s): 10 s of load, 15,000 calls
        // (187,123 before the fix).
        let spec = open_loop(1500.0, vec![burst(5.0, 115.0, 0.0)]);
        let got = arrivals(&spec, Duration::from_secs(125));
        assert!((14_500..15_500).contains(&got.len()), "{}", got.len());
        assert!(got.iter().all(|t| t.0 < 5_000_000_000 || t.0 >= 120_000_000_000));
        // Halved: about half.
        let half = arrivals(&open_loop(1000.0, vec![burst(0.0, 10.0, 0.5)]), Duration::from_secs(10));
        assert!((4_800..5_200).contains(&half.len()), "{}", half.len());
    }

    /// The envelope is the highest combined factor at any instant, not the product of every
    /// shape's peak: five bursts of 3e4..1.5e5 that never overlap peak at 1.5e5 (the product,
    /// 3e24, made a run of them crawl).
    #[test]
    fn the_envelope_is_the_highest_combined_factor_not_the_product() {
        let factors = [3e4, 6e4, 9e4, 1.2e5, 1.5e5];
        let shape: Vec<Shape> =
            factors.iter().enumerate().map(|(i, &f)| burst(10.0 + 20.0 * i as f64, 1.0, f)).collect();
        let spec = open_loop(0.001, shape);
        let pieces = spec.pieces(Time(Duration::from_secs(125).0));
        let peak = pieces.iter().map(|p| p.peak).fold(0.0, f64::max);
        assert_eq!(peak, 1.5e5);
        // Overlapping shapes do multiply where they overlap.
        let both = open_loop(1.0, vec![burst(0.0, 2.0, 3.0), burst(1.0, 2.0, 5.0)]);
        let peaks: Vec<f64> = both.pieces(Time(Duration::from_secs(4).0)).iter().map(|p| p.peak).collect();
        assert_eq!(peaks, [3.0, 15.0, 5.0, 1.0]);
        // The run finishes, with about 0.001 x (4.5e5 + 120) = 450.12 arrivals, all in the bursts.
        let got = arrivals(&spec, Duration::from_secs(125));
        assert!((380..520).contains(&got.len()), "{}", got.len());
        assert!(got.iter().all(|t| (t.0 / 1_000_000_000 - 10) % 20 == 0), "an arrival outside the bursts");
        assert!((spec.expected_arrivals(Time(Duration::from_secs(125).0)) - 450.12).abs() < 1e-6);
    }

    /// The gaps divided out once per piece give the arrivals the division on every arrival gave,
    /// bit for bit: a flat run, and a burst (three pieces, each with its own gap).
    #[test]
    fn arrivals_are_the_draws_of_the_piece_s_gap_bit_for_bit() {
        for (rate, shape) in [(3_000.0, vec![]), (700.0, vec![burst(0.5, 0.25, 7.0)])] {
            let spec = open_loop(rate, shape);
            let until = Duration::from_secs(2);
            let got = arrivals(&spec, until);
            let mut want = Vec::new();
            let mut rng = Prng::new(5, Stream::Workload);
            rng.next_u64(); // the hot-key seed `Generator::new` draws
            let mut now = 0u64;
            for p in spec.pieces(Time(until.0)) {
                now = now.max(p.start);
                loop {
                    let next = now + crate::time::round_ns(rng.exp(1e9 / (rate * p.peak)));
                    if next >= p.end {
                        break;
                    }
                    now = next;
                    want.push(Time(now));
                }
            }
            assert_eq!(got, want);
            assert!(got.len() > 2_000, "{}", got.len());
        }
    }

    /// A burst after the end of the run changes nothing (it used to raise the envelope past 1e9/s,
    /// where gaps were floored at 1 ns, and cut the load from 9,956 to 4,669 operations).
    #[test]
    fn a_burst_after_the_end_changes_nothing() {
        let plain = arrivals(&open_loop(10_000.0, vec![]), Duration::from_secs(1));
        let late = open_loop(10_000.0, vec![burst(5.0, 1.0, 1e6)]);
        assert!(late.validate(&["x"], Duration::from_secs(1)).is_empty());
        assert_eq!(arrivals(&late, Duration::from_secs(1)), plain);
        assert!((9_700..10_300).contains(&plain.len()), "{}", plain.len());
        // Inside the run, the same burst is beyond 1e9/s: refused, as is a factor of 1e300.
        let e = late.validate(&["x"], Duration::from_secs(10));
        assert!(e.iter().any(|(p, m)| p == "workload.shape" && m.contains("more than the limit of 1e9/s")), "{e:?}");
        let e = open_loop(1.0, vec![burst(0.0, 1.0, 1e300)]).validate(&["x"], Duration::from_secs(10));
        assert!(e.iter().any(|(p, _)| p == "workload.shape"), "{e:?}");
    }

    #[test]
    fn a_final_read_names_an_operation_of_the_model_and_a_gap_of_a_millisecond_or_more() {
        let with = |op: &str, every| WorkloadSpec {
            final_read: Some(FinalRead { op: op.into(), every }),
            ..open_loop(10.0, vec![])
        };
        let until = Duration::from_secs(1);
        assert!(with("x", Duration::from_millis(1)).validate(&["x"], until).is_empty());
        let e = with("read", Duration::from_millis(1)).validate(&["x"], until);
        assert_eq!(e, [("workload.final_read.op".into(), "unknown operation `read` (this model has: x)".into())]);
        let e = with("x", Duration(999_999)).validate(&["x"], until);
        assert_eq!(e, [("workload.final_read.every".into(), "must be at least 1ms, got 999999ns".into())]);
    }

    /// Near the 1e9/s limit the mean gap stays right: gaps are rounded, not floored at 1 ns.
    #[test]
    fn the_rate_holds_up_to_the_limit() {
        let got = arrivals(&open_loop(5e8, vec![]), Duration::from_millis(1));
        // 500,000 expected; floored gaps gave about 30% fewer.
        assert!((485_000..515_000).contains(&got.len()), "{}", got.len());
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
            final_read: None,
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
            final_read: None,
        };
        let mut rng = Prng::new(5, Stream::Workload);
        let g = Generator::new(&spec, &["x"], Time(Duration::from_secs(10).0), &mut rng);
        let first = g.next_arrival(Time::ZERO, &mut rng).expect("arrivals after the dip");
        assert!(first >= Time(Duration::from_secs(5).0), "{first}");
    }
}
