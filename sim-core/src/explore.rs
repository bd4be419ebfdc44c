//! `simctl explore`: a guided search for runs that fail a scenario's checks.
//!
//! Random seeds find a failure only as often as it happens. The explorer spends a budget of runs on
//! one scenario instead, as a coverage-guided fuzzer does (AFL, and for distributed systems the
//! schedule fuzzers after it):
//!
//! - A **candidate** is a concrete run: a seed (the network's, the workload's and the nodes' draws)
//!   and a concrete fault schedule (the scenario's nemesis expanded, then mutated). Written out as a
//!   scenario file it replays bit for bit: that is what a found failure becomes.
//! - Each run reports its **coverage** (the model's abstract states: every new (previous, next)
//!   pair of a node's [`crate::Actor::fingerprint`], and, for every model, every new pair of event
//!   kinds a node handled in a row) and its **anchors** (when and where each message, timer and disk
//!   completion was handled on a server). A run that reached coverage no earlier run reached joins
//!   the corpus; children are mutated from corpus entries, the more new coverage an entry brought,
//!   the more often.
//! - **Mutations** stay within the scenario's fault kinds (its nemesis's non-zero rates and the kinds
//!   its schedule names) plus message delays ([`Fault::Delay`]): move a fault to an anchor of the
//!   parent's run (a kind of event first, uniformly, then one of its events; the fault lands on that
//!   event's node a little after it: "a crash between a write and its replication"), shift a fault
//!   by a log-uniform amount, retarget it, halve or double its duration, add or remove one, add a
//!   delay at an anchor, or draw a new seed.
//! - **Determinism**: candidates are made in fixed batches of [`BATCH`] from the explorer's own
//!   stream ([`Stream::Explore`]) and judged in batch order, so the same scenario, explore seed and
//!   run budget give the same result with any number of threads. The first failing candidate in
//!   that order is the result, with its position (runs to first failure).

use crate::fault::{Fault, ScheduledFault};
use crate::math;
use crate::model::Model;
use crate::net::PartitionSpec;
use crate::rng::{Prng, Stream};
use crate::scenario::{self, RunOptions, Scenario};
use crate::shrink;
use crate::time::Duration;
use crate::verdict;
use crate::world::{TraceEvent, TraceKind};
use std::collections::{BTreeMap, BTreeSet};
use std::panic::{AssertUnwindSafe, catch_unwind};

/// Candidates made and judged together; fixed, so the result does not depend on threads.
pub const BATCH: usize = 8;
/// At most this many anchors are kept of a run (evenly thinned beyond it).
const ANCHORS_MAX: usize = 50_000;
/// At most this many scheduled faults in a candidate.
const FAULTS_MAX: usize = 32;

/// A concrete run: the seed and the whole fault schedule (no nemesis).
#[derive(Clone, Debug, PartialEq)]
pub struct Candidate {
    pub seed: u64,
    pub faults: Vec<ScheduledFault>,
    /// How it was made, for the report (`seed 3`, `anchor crash n0 after write@n0 +2.1ms`, ...).
    pub origin: String,
}

impl Candidate {
    /// The scenario that runs this candidate: `base` with its schedule replaced, no nemesis, and
    /// the candidate's seed.
    pub fn apply<C: Clone>(&self, base: &Scenario<C>) -> Scenario<C> {
        let mut sc = base.clone();
        sc.seed = self.seed;
        sc.faults.nemesis = None;
        sc.faults.schedule = self.faults.clone();
        sc
    }
}

/// A point of a run where a fault may be placed: an event handled on a server.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Anchor {
    pub at: Duration,
    pub node: u32,
    /// The event's kind, interned in [`Observation::kinds`].
    pub kind: u32,
    /// For a delivered message: its sender and when it was sent.
    pub message: Option<(u32, Duration)>,
}

/// What one run told the explorer.
#[derive(Clone, Debug, Default)]
pub struct Observation {
    /// It failed as the search wanted (the caller decides: the target checks failed).
    pub hit: bool,
    /// The failed verdict names.
    pub failed: Vec<String>,
    pub coverage: Vec<u64>,
    pub anchors: Vec<Anchor>,
    /// Anchor kind names, indexed by `Anchor::kind`.
    pub kinds: Vec<String>,
    /// The model rejected the candidate or panicked: not a run.
    pub invalid: bool,
}

impl Observation {
    /// A candidate the model rejects: not a run.
    pub fn invalid() -> Observation {
        Observation { invalid: true, ..Default::default() }
    }
}

/// Runs one candidate of model `M` with the trace and coverage on, and judges it: a hit when it
/// failed one of `target` (empty: anything). A model that panics is a hit too: a bug the search
/// found (`failed` names the panic).
pub fn observe_run<M: Model>(base: &Scenario<M::Config>, cand: &Candidate, target: &[String]) -> Observation {
    let sc = cand.apply(base);
    if !shrink::structurally_valid(&sc) || !sc.validate::<M>().is_empty() {
        return Observation::invalid();
    }
    // The trace without payloads: `observe` reads times, nodes and labels only.
    let opts = RunOptions {
        seed: Some(cand.seed),
        trace: true,
        coverage: true,
        trace_without_details: true,
        ..Default::default()
    };
    match catch_unwind(AssertUnwindSafe(|| scenario::run::<M>(&sc, opts))) {
        Err(payload) => {
            let text = payload
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| payload.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "(no message)".into());
            Observation { hit: true, failed: vec![format!("panic: {text}")], ..Default::default() }
        }
        Ok(out) => {
            let failed = verdict::judge(&sc, &out.record).failed;
            let mut o = observe(out.trace.as_deref().unwrap_or(&[]), out.coverage, sc.topology.servers);
            o.hit = if target.is_empty() { !failed.is_empty() } else { failed.iter().any(|f| target.contains(f)) };
            o.failed = failed;
            o
        }
    }
}

/// Coverage and anchors of a traced run. `fingerprints`: the kernel's fingerprint transitions (the
/// run's `RunOutput::coverage`); `servers`: anchors are taken on nodes `0..servers` only.
pub fn observe(trace: &[TraceEvent], fingerprints: Option<Vec<u64>>, servers: u32) -> Observation {
    let mut coverage: BTreeSet<u64> = fingerprints.unwrap_or_default().into_iter().collect();
    let mut kinds: Vec<String> = Vec::new();
    let mut kind_of: BTreeMap<&str, u32> = BTreeMap::new();
    let mut last_kind: BTreeMap<u32, u32> = BTreeMap::new();
    let mut anchors = Vec::new();
    for e in trace {
        let handled = matches!(e.kind, TraceKind::Deliver { .. } | TraceKind::Timer | TraceKind::Persisted);
        let message = match e.kind {
            TraceKind::Deliver { from, sent } => Some((from.0, Duration(sent.0))),
            _ => None,
        };
        let label: &str = match e.kind {
            TraceKind::Crash => "crash",
            TraceKind::Start => "start",
            _ if handled => &e.label,
            _ => continue,
        };
        let next = kinds.len() as u32;
        let kind = *kind_of.entry(label).or_insert(next);
        if kind == next {
            kinds.push(label.to_string());
        }
        // Event-kind pairs per node: the coverage every model has. Tagged apart from fingerprints.
        let prev = last_kind.insert(e.node.0, kind).map_or(u64::MAX, u64::from);
        coverage.insert(0x9e37_79b9_7f4a_7c15 ^ (prev << 32) ^ u64::from(kind));
        if handled && e.node.0 < servers {
            anchors.push(Anchor { at: Duration(e.time.0), node: e.node.0, kind, message });
        }
    }
    if anchors.len() > ANCHORS_MAX {
        let step = anchors.len().div_ceil(ANCHORS_MAX);
        anchors = anchors.into_iter().step_by(step).collect();
    }
    Observation { coverage: coverage.into_iter().collect(), anchors, kinds, ..Default::default() }
}

/// Limits of one search, and the two guidances it can do without (for measuring what each buys).
#[derive(Clone, Copy, Debug)]
pub struct ExploreOptions {
    /// At most this many runs.
    pub runs: u32,
    /// The explorer's own seed (its choices; the candidates carry their own run seeds).
    pub seed: u64,
    /// Place faults and delays at anchors of the parent's run (else at uniformly random times,
    /// with the same number of mutations).
    pub anchors: bool,
    /// Keep only the runs that reached new coverage, weighted by it (else every run joins the
    /// corpus with the same weight).
    pub coverage: bool,
}

impl ExploreOptions {
    /// The search with both guidances.
    pub fn new(runs: u32, seed: u64) -> ExploreOptions {
        ExploreOptions { runs, seed, anchors: true, coverage: true }
    }
}

/// The coverage after each batch, for the report.
#[derive(Clone, Debug, PartialEq)]
pub struct Progress {
    pub runs: u32,
    pub coverage: usize,
    pub corpus: usize,
}

/// The result of a search.
#[derive(Clone, Debug)]
pub struct Explored {
    /// The first failing candidate in run order, its position (1-based: runs to first failure)
    /// and the checks it failed.
    pub found: Option<(Candidate, u32, Vec<String>)>,
    /// Runs made (invalid candidates are not runs).
    pub runs: u32,
    pub invalid: u32,
    pub coverage: usize,
    pub corpus: usize,
    pub progress: Vec<Progress>,
}

/// The fault kinds a search may use.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Kinds {
    pub crash: bool,
    pub power_loss_share: f64,
    pub partition: bool,
    pub pause: bool,
    pub clock_step: bool,
    pub clock_drift: bool,
    pub delay: bool,
    /// Typical durations (from the nemesis, else the schedule, else 1 s).
    pub crash_downtime: Duration,
    pub partition_duration: Duration,
    pub pause_duration: Duration,
    pub clock_step_max: Duration,
    /// A drift's rate is drawn within `±clock_drift_max_ppm` and lasts `clock_drift_duration`.
    pub clock_drift_max_ppm: f64,
    pub clock_drift_duration: Duration,
}

impl Kinds {
    /// The kinds of `sc`'s nemesis (non-zero rates) and schedule, plus delays when `delays`.
    pub fn of<C>(sc: &Scenario<C>, delays: bool) -> Kinds {
        let second = Duration::from_secs(1);
        let mut k = Kinds {
            delay: delays,
            crash_downtime: second,
            partition_duration: second,
            pause_duration: second,
            clock_step_max: Duration::from_millis(500),
            clock_drift_max_ppm: crate::fault::default_drift_ppm(),
            clock_drift_duration: crate::fault::default_drift_duration(),
            ..Default::default()
        };
        if let Some(n) = &sc.faults.nemesis {
            k.crash = n.crashes_per_min > 0.0;
            k.power_loss_share = n.power_loss_share;
            k.partition = n.partitions_per_min > 0.0;
            k.pause = n.pauses_per_min > 0.0;
            k.clock_step = n.clock_steps_per_min > 0.0;
            (k.crash_downtime, k.partition_duration, k.pause_duration) =
                (n.crash_downtime, n.partition_duration, n.pause_duration);
            k.clock_step_max = n.clock_step_max;
            k.clock_drift = n.clock_drifts_per_min > 0.0;
            (k.clock_drift_max_ppm, k.clock_drift_duration) = (n.clock_drift_max_ppm, n.clock_drift_duration);
        }
        for f in &sc.faults.schedule {
            let d = f.duration.unwrap_or(second);
            match f.fault {
                Fault::Crash { power_loss, .. } => {
                    k.crash = true;
                    k.crash_downtime = d;
                    if power_loss {
                        k.power_loss_share = k.power_loss_share.max(1.0);
                    }
                }
                Fault::Partition(_) => (k.partition, k.partition_duration) = (true, d),
                Fault::Pause(_) => (k.pause, k.pause_duration) = (true, d),
                Fault::ClockStep { .. } => k.clock_step = true,
                Fault::ClockDrift { ppm, .. } => {
                    // The schedule's largest rate bounds the search's (a nemesis's bound stays
                    // when it is larger).
                    let bound = if k.clock_drift { k.clock_drift_max_ppm.max(ppm.abs()) } else { ppm.abs() };
                    (k.clock_drift, k.clock_drift_max_ppm, k.clock_drift_duration) = (true, bound, d);
                }
                _ => {}
            }
        }
        k
    }

    fn list(&self) -> Vec<u8> {
        [
            (self.crash, 0),
            (self.partition, 1),
            (self.pause, 2),
            (self.clock_step, 3),
            (self.delay, DELAY),
            (self.clock_drift, DRIFT),
        ]
        .into_iter()
        .filter_map(|(on, k)| on.then_some(k))
        .collect()
    }

    /// A new fault of kind `k` on `node` at `at`.
    fn make(&self, k: u8, node: u32, at: Duration, rng: &mut Prng) -> ScheduledFault {
        let (duration, fault) = match k {
            0 => (
                Some(self.crash_downtime),
                Fault::Crash { node, power_loss: rng.chance(self.power_loss_share), corrupt_unsynced: 0.0 },
            ),
            1 => (Some(self.partition_duration), Fault::Partition(PartitionSpec::Isolate(node))),
            2 => (Some(self.pause_duration), Fault::Pause(node)),
            3 => {
                let mag = rng.below(self.clock_step_max.0.max(1)) / 1_000 * 1_000;
                let by = if rng.chance(0.5) { -(mag as i64) } else { mag as i64 };
                (None, Fault::ClockStep { node, by: crate::fault::SignedDuration(by) })
            }
            DRIFT => {
                let ppm = crate::fault::drift_ppm(rng, self.clock_drift_max_ppm);
                (Some(self.clock_drift_duration), Fault::ClockDrift { node, ppm })
            }
            _ => (
                Some(log_uniform(rng, 1_000_000, 1_000_000_000)),
                Fault::Delay { node, extra: log_uniform(rng, 1_000_000, 500_000_000), from: None },
            ),
        };
        ScheduledFault { at, duration, fault }
    }
}

/// A duration log-uniform in `[lo, hi]` nanoseconds, in whole microseconds.
fn log_uniform(rng: &mut Prng, lo: u64, hi: u64) -> Duration {
    let x = math::ln(lo as f64) + rng.unit() * (math::ln(hi as f64) - math::ln(lo as f64));
    Duration((math::exp(x) as u64 / 1_000).max(1) * 1_000)
}

/// The node a fault acts on, if one.
fn target(f: &Fault) -> Option<u32> {
    match f {
        Fault::Crash { node, .. }
        | Fault::ClockStep { node, .. }
        | Fault::ClockDrift { node, .. }
        | Fault::Outage { node, .. }
        | Fault::Delay { node, .. } => Some(*node),
        Fault::Pause(n) | Fault::Restart(n) | Fault::Resume(n) | Fault::Partition(PartitionSpec::Isolate(n)) => {
            Some(*n)
        }
        _ => None,
    }
}

fn retarget(f: &mut Fault, to: u32) {
    match f {
        Fault::Crash { node, .. }
        | Fault::ClockStep { node, .. }
        | Fault::ClockDrift { node, .. }
        | Fault::Outage { node, .. }
        | Fault::Delay { node, .. } => *node = to,
        Fault::Pause(n) | Fault::Partition(PartitionSpec::Isolate(n)) => *n = to,
        _ => {}
    }
}

/// A corpus entry: a candidate whose run reached new coverage, and what that run showed.
struct Entry {
    candidate: Candidate,
    anchors: Vec<Anchor>,
    kinds: Vec<String>,
    /// Coverage elements it added when it ran: its weight as a parent.
    new: usize,
}

/// A batch of fresh random seeds, each with the scenario's own schedule and its nemesis drawn for
/// that seed: what a sweep over random seeds runs.
fn random_batch<C: Clone>(base: &Scenario<C>, rng: &mut Prng) -> Vec<Candidate> {
    (0..BATCH)
        .map(|_| {
            let seed = rng.next_u64() >> 16;
            let faults = shrink::expand_nemesis(base, seed).faults.schedule;
            Candidate { seed, faults, origin: format!("seed {seed}") }
        })
        .collect()
}

/// The baseline the search is measured against: random seeds (drawn from the explorer's stream,
/// the same first [`BATCH`] seeds the search starts from) until one hits or the budget is spent.
pub fn random_seeds<C: Clone>(
    base: &Scenario<C>,
    opts: ExploreOptions,
    judge: &mut dyn FnMut(&[Candidate]) -> Vec<Observation>,
) -> Explored {
    let mut rng = Prng::new(opts.seed, Stream::Explore);
    let mut out = Explored { found: None, runs: 0, invalid: 0, coverage: 0, corpus: 0, progress: Vec::new() };
    let mut seen: BTreeSet<u64> = BTreeSet::new();
    while out.runs < opts.runs {
        let mut batch = random_batch(base, &mut rng);
        batch.truncate((opts.runs - out.runs) as usize);
        for (cand, obs) in batch.iter().zip(judge(&batch)) {
            out.runs += 1;
            seen.extend(obs.coverage.iter().copied());
            if obs.hit {
                out.found = Some((cand.clone(), out.runs, obs.failed));
                break;
            }
        }
        out.progress.push(Progress { runs: out.runs, coverage: seen.len(), corpus: 0 });
        if out.found.is_some() {
            break;
        }
    }
    out.coverage = seen.len();
    out
}

/// Searches `base` for a run with `Observation::hit`. `judge` runs a batch of candidates (each
/// as [`Candidate::apply`] makes it, in any order, on any threads) and returns one observation per
/// candidate, in the batch's order.
pub fn explore<C: Clone>(
    base: &Scenario<C>,
    kinds: &Kinds,
    opts: ExploreOptions,
    judge: &mut dyn FnMut(&[Candidate]) -> Vec<Observation>,
) -> Explored {
    let mut rng = Prng::new(opts.seed, Stream::Explore);
    let servers = base.topology.servers.max(1);
    let mut corpus: Vec<Entry> = Vec::new();
    let mut seen: BTreeSet<u64> = BTreeSet::new();
    let mut out = Explored { found: None, runs: 0, invalid: 0, coverage: 0, corpus: 0, progress: Vec::new() };
    // Generation 0 is what random seeds would do, so the search starts from the runs a sweep makes.
    let mut generation = random_batch(base, &mut rng);
    let mut attempts = 0u32;
    while out.runs < opts.runs && attempts < opts.runs.saturating_mul(4).max(BATCH as u32) {
        let room = (opts.runs - out.runs) as usize;
        generation.truncate(room);
        attempts += generation.len() as u32;
        let observed = judge(&generation);
        assert_eq!(observed.len(), generation.len(), "judge must answer every candidate");
        for (cand, obs) in generation.drain(..).zip(observed) {
            if obs.invalid {
                out.invalid += 1;
                continue;
            }
            out.runs += 1;
            if obs.hit {
                out.found = Some((cand, out.runs, obs.failed));
                break;
            }
            let before = seen.len();
            seen.extend(obs.coverage.iter().copied());
            let new = if opts.coverage { seen.len() - before } else { 1 };
            if new > 0 {
                corpus.push(Entry { candidate: cand, anchors: obs.anchors, kinds: obs.kinds, new });
            }
        }
        out.progress.push(Progress { runs: out.runs, coverage: seen.len(), corpus: corpus.len() });
        if out.found.is_some() || corpus.is_empty() {
            break;
        }
        generation = (0..BATCH).map(|_| child(&corpus, kinds, base, servers, opts.anchors, &mut rng)).collect();
    }
    out.coverage = seen.len();
    out.corpus = corpus.len();
    out
}

/// A mutated child of a corpus entry chosen by weight (its new coverage). Without `anchors`, the
/// mutations that would place a fault at an anchor place it at a uniformly random time instead.
fn child<C: Clone>(
    corpus: &[Entry],
    kinds: &Kinds,
    base: &Scenario<C>,
    servers: u32,
    anchors: bool,
    rng: &mut Prng,
) -> Candidate {
    // Recent entries are favoured twice over: they are where the search is making headway.
    let weights: Vec<f64> =
        corpus.iter().enumerate().map(|(i, e)| e.new as f64 * if i + 8 >= corpus.len() { 2.0 } else { 1.0 }).collect();
    let parent = &corpus[rng.weighted(&weights)];
    let mut c = parent.candidate.clone();
    let mut notes = Vec::new();
    let end = base.duration;
    let list = kinds.list();
    let own: Vec<u8> = list.iter().copied().filter(|&k| k != DELAY).collect();
    let steps = 1 + rng.below(2);
    for _ in 0..steps {
        let note = match rng.below(8) {
            // The anchor moves are the most productive: three slots of eight, with the scenario's
            // own fault kinds (delays have a slot of their own).
            0..=2 if !parent.anchors.is_empty() && !own.is_empty() => {
                let k = own[rng.below(own.len() as u64) as usize];
                let (f, what) = if anchors {
                    at_anchor(parent, kinds, k, end, rng)
                } else {
                    (at_random(kinds, k, servers, end, rng), "a random time".to_string())
                };
                let note = format!("{} after {what}", f.fault.label());
                let same: Vec<usize> =
                    (0..c.faults.len()).filter(|&i| kind_of(&c.faults[i].fault) == Some(k)).collect();
                if !same.is_empty() && rng.chance(0.5) {
                    c.faults[same[rng.below(same.len() as u64) as usize]] = f;
                } else if c.faults.len() < FAULTS_MAX {
                    c.faults.push(f);
                } else {
                    continue;
                }
                note
            }
            7 if kinds.delay && !parent.anchors.is_empty() && c.faults.len() < FAULTS_MAX && rng.chance(0.5) => {
                let (f, what) = if !anchors {
                    (at_random(kinds, DELAY, servers, end, rng), "a random time".to_string())
                } else if rng.chance(0.5) {
                    at_anchor(parent, kinds, DELAY, end, rng)
                } else if let Some(swap) = reorder(parent, end, rng) {
                    swap
                } else {
                    continue;
                };
                let note = format!("{} after {what}", f.fault.label());
                c.faults.push(f);
                note
            }
            3 if !c.faults.is_empty() => {
                let i = rng.below(c.faults.len() as u64) as usize;
                let by = log_uniform(rng, 100_000, 1_000_000_000).0;
                let f = &mut c.faults[i];
                f.at = if rng.chance(0.5) {
                    Duration(f.at.0.saturating_sub(by))
                } else {
                    Duration(f.at.0 + by).min(last_start(end))
                };
                format!("shift {}", f.fault.label())
            }
            4 if !c.faults.is_empty() && servers > 1 => {
                let i = rng.below(c.faults.len() as u64) as usize;
                let to = rng.below(servers as u64) as u32;
                if target(&c.faults[i].fault).is_none() {
                    continue;
                }
                retarget(&mut c.faults[i].fault, to);
                format!("retarget {}", c.faults[i].fault.label())
            }
            5 if !c.faults.is_empty() => {
                let i = rng.below(c.faults.len() as u64) as usize;
                let Some(d) = c.faults[i].duration else { continue };
                let d = if rng.chance(0.5) { d.0 / 2 } else { d.0 * 2 };
                c.faults[i].duration = Some(Duration((d / 1_000).max(1) * 1_000));
                format!("duration {}", c.faults[i].fault.label())
            }
            6 if !c.faults.is_empty() && rng.chance(0.5) => {
                let f = c.faults.remove(rng.below(c.faults.len() as u64) as usize);
                format!("remove {}", f.fault.label())
            }
            6 if !own.is_empty() && c.faults.len() < FAULTS_MAX => {
                let k = own[rng.below(own.len() as u64) as usize];
                let f = at_random(kinds, k, servers, end, rng);
                let note = format!("add {}", f.fault.label());
                c.faults.push(f);
                note
            }
            _ => {
                c.seed = rng.next_u64() >> 16;
                format!("seed {}", c.seed)
            }
        };
        notes.push(note);
    }
    c.faults.sort_by_key(|f| f.at);
    c.origin = notes.join("; ");
    c
}

/// A fault of kind `k` on a random server at a uniformly random time of the main phase.
fn at_random(kinds: &Kinds, k: u8, servers: u32, end: Duration, rng: &mut Prng) -> ScheduledFault {
    let at = Duration(rng.below(last_start(end).0.max(1)) / 1_000 * 1_000);
    kinds.make(k, rng.below(servers as u64) as u32, at, rng)
}

/// A fault of kind `k` a little after an anchor of `parent`'s run, on the anchor's node.
fn at_anchor(parent: &Entry, kinds: &Kinds, k: u8, end: Duration, rng: &mut Prng) -> (ScheduledFault, String) {
    let (at, node, what) = pick_anchor(parent, rng);
    let at = Duration(at.0 + log_uniform(rng, 10_000, 20_000_000).0).min(last_start(end));
    (kinds.make(k, node, at, rng), what)
}

/// Concurrent messages arriving in the other order: a message `a` delivered to a server, and a
/// message `b` from another sender delivered to the same server after `a` (within 50 ms) but sent
/// before `a` arrived (so `b` does not depend on `a`'s handling). The child delays `a` on its own
/// link (a [`Fault::Delay`] `from` its sender, in force only at the instant it was sent) by the gap
/// and a little more, so that `b` is handled first: the order of (nearly) simultaneous events,
/// mutated without breaking a connection's send order. (Exactly simultaneous events on one node
/// are rare with continuous latencies and are mostly a connection's messages, whose order is
/// fixed; see the explore tests.)
fn reorder(parent: &Entry, end: Duration, rng: &mut Prng) -> Option<(ScheduledFault, String)> {
    const WINDOW: u64 = 50_000_000;
    let delivered: Vec<usize> = (0..parent.anchors.len()).filter(|&i| parent.anchors[i].message.is_some()).collect();
    for _ in 0..4 {
        let &i = delivered.get(rng.below(delivered.len().max(1) as u64) as usize)?;
        let a = parent.anchors[i];
        let (from, sent) = a.message.expect("a delivery");
        let b = parent.anchors[i + 1..]
            .iter()
            .take_while(|b| b.at.0 <= a.at.0 + WINDOW)
            .find(|b| b.node == a.node && b.at > a.at && b.message.is_some_and(|(f, s)| f != from && s < a.at));
        let Some(b) = b else { continue };
        let at = Duration(sent.0 / 1_000 * 1_000);
        if at >= last_start(end) {
            continue;
        }
        let gap = b.at.0 - a.at.0;
        let extra = Duration((gap + log_uniform(rng, 1_000, 1_000_000).0).div_ceil(1_000) * 1_000);
        let f = ScheduledFault {
            at,
            duration: Some(Duration(1_000)),
            fault: Fault::Delay { node: a.node, extra, from: Some(from) },
        };
        let name = |k: u32| parent.kinds.get(k as usize).map_or("?", String::as_str).to_string();
        let (bfrom, _) = b.message.expect("a delivery");
        let what = format!("{}@n{} from n{from} swapped with {} from n{bfrom}", name(a.kind), a.node, name(b.kind));
        return Some((f, what));
    }
    None
}

/// The latest start a fault may have: a microsecond before the main phase ends.
fn last_start(end: Duration) -> Duration {
    Duration(end.0.saturating_sub(1_000) / 1_000 * 1_000)
}

const DELAY: u8 = 4;
/// After the delay: a scenario without drifts lists the kinds it listed before drifts existed.
const DRIFT: u8 = 5;

fn kind_of(f: &Fault) -> Option<u8> {
    match f {
        Fault::Crash { .. } => Some(0),
        Fault::Partition(_) => Some(1),
        Fault::Pause(_) => Some(2),
        Fault::ClockStep { .. } => Some(3),
        Fault::Delay { .. } => Some(DELAY),
        Fault::ClockDrift { .. } => Some(DRIFT),
        _ => None,
    }
}

/// An anchor of `e`'s run: a kind of event uniformly among those seen, then one of its events.
fn pick_anchor(e: &Entry, rng: &mut Prng) -> (Duration, u32, String) {
    let present: BTreeSet<u32> = e.anchors.iter().map(|a| a.kind).collect();
    let present: Vec<u32> = present.into_iter().collect();
    let kind = present[rng.below(present.len() as u64) as usize];
    let of_kind: Vec<&Anchor> = e.anchors.iter().filter(|a| a.kind == kind).collect();
    let a = of_kind[rng.below(of_kind.len() as u64) as usize];
    let name = e.kinds.get(kind as usize).map_or("?", String::as_str);
    (a.at, a.node, format!("{name}@n{}", a.node))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn delivery(at_us: u64, node: u32, from: u32, sent_us: u64) -> Anchor {
        Anchor { at: Duration(at_us * 1_000), node, kind: 0, message: Some((from, Duration(sent_us * 1_000 + 321))) }
    }

    /// Drifts are a kind of the search when the nemesis draws them or the schedule names one:
    /// the search draws rates within the bound (both signs) for the stated duration; a scenario
    /// without drifts lists the kinds it listed before drifts were a kind (its searches unchanged).
    #[test]
    fn the_search_drifts_clocks_when_the_scenario_does() {
        let sc = |faults: &str| -> Scenario<()> {
            ron::from_str(&format!(r#"(name: "t", model: "m", duration: "10s", faults: {faults})"#)).unwrap()
        };
        let none = Kinds::of(&sc("(schedule: [(at: \"1s\", fault: Crash(node: 0))])"), true);
        assert!(!none.clock_drift);
        assert_eq!(none.list(), [0, DELAY]);
        let nemesis = Kinds::of(
            &sc(
                "(nemesis: Some((clock_drifts_per_min: 2.0, clock_drift_max_ppm: 20000.0, clock_drift_duration: \"5s\")))",
            ),
            false,
        );
        assert!(nemesis.clock_drift && nemesis.list() == [DRIFT]);
        let (mut fast, mut slow) = (0, 0);
        let mut rng = Prng::new(7, Stream::Explore);
        for _ in 0..200 {
            let f = nemesis.make(DRIFT, 3, Duration::from_secs(2), &mut rng);
            assert_eq!(f.duration, Some(Duration::from_secs(5)));
            let Fault::ClockDrift { node: 3, ppm } = f.fault else { panic!("{f:?}") };
            assert!(ppm.abs() <= 20000.0, "{ppm}");
            if ppm > 0.0 {
                fast += 1
            } else {
                slow += 1
            }
            assert_eq!(kind_of(&f.fault), Some(DRIFT));
        }
        assert!(fast > 50 && slow > 50, "{fast} fast, {slow} slow");
        let schedule = Kinds::of(
            &sc("(schedule: [(at: \"1s\", duration: Some(\"3s\"), fault: ClockDrift(node: 1, ppm: -800.0))])"),
            false,
        );
        assert!(schedule.clock_drift);
        assert_eq!((schedule.clock_drift_max_ppm, schedule.clock_drift_duration), (800.0, Duration::from_secs(3)));
    }

    /// Node 0 gets `a` from node 1 at 10 ms (sent at 9.4 ms) and `b` from node 2 at 12 ms (sent at
    /// 8 ms, before `a` arrived: concurrent). Swapping them delays node 1's messages to node 0 at
    /// the instant `a` was sent by more than the 2 ms gap. What does not pair with `a`: node 1's
    /// next message (same sender: a connection keeps its order), a delivery on node 3, one sent
    /// after `a` arrived (it may depend on it), one more than 50 ms later. Node 1's next message
    /// (11 ms, sent at 10.5 ms) does pair with the one sent at 10.2 ms that arrives at 11.8 ms.
    #[test]
    fn a_reorder_delays_the_first_of_two_concurrent_messages_past_the_second_on_its_own_link() {
        let anchors = vec![
            delivery(10_000, 0, 1, 9_400), // `a`
            delivery(11_000, 0, 1, 10_500),
            delivery(11_500, 3, 2, 9_000),
            delivery(11_800, 0, 2, 10_200),
            delivery(12_000, 0, 2, 8_000), // `b`
            delivery(70_000, 0, 4, 9_000),
        ];
        let e = Entry {
            candidate: Candidate { seed: 1, faults: vec![], origin: String::new() },
            anchors,
            kinds: vec!["write".into()],
            new: 1,
        };
        let mut made = BTreeMap::new();
        for seed in 0..64 {
            let mut rng = Prng::new(seed, Stream::Explore);
            let Some((f, what)) = reorder(&e, Duration::from_secs(1), &mut rng) else { continue };
            let Fault::Delay { node, extra, from } = f.fault else { panic!("{f:?}") };
            assert_eq!((node, from, f.duration), (0, Some(1), Some(Duration(1_000))), "{what}");
            // In force at the send (rounded down to the microsecond), past the partner by 1 us..1 ms.
            let gap = match f.at.0 {
                9_400_000 => 2_000_000,
                10_500_000 => 800_000,
                other => panic!("no other pair: {other} ({what})"),
            };
            assert!(extra.0 > gap && extra.0 <= gap + 1_001_000 && extra.0 % 1_000 == 0, "{extra:?}");
            assert!(what.contains("from n1 swapped with write from n2"), "{what}");
            *made.entry(f.at.0).or_insert(0) += 1;
        }
        assert_eq!(made.len(), 2, "both pairs are drawn: {made:?}");
        // A run without two concurrent deliveries on one node has nothing to swap.
        let lone = Entry { anchors: vec![delivery(10_000, 0, 1, 9_000)], ..e };
        assert!(reorder(&lone, Duration::from_secs(1), &mut Prng::new(0, Stream::Explore)).is_none());
    }
}
