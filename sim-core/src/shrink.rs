//! Shrinking a failing scenario to a minimal one that still fails the same way (delta debugging).
//!
//! The caller owns "fails the same way": it passes `still_fails`, which runs a candidate scenario
//! and compares its failure signature (the failed verdict names) with the original's. It must
//! return `false` for a candidate its model rejects (`Scenario::validate`), since the shrinker only
//! knows the kernel's structural rules (node ids, fault order), not the model's.
//!
//! The passes, repeated until a whole round changes nothing or the run budget is spent:
//! 1. **faults**: a nemesis is first expanded into the concrete schedule `scenario::run` would draw
//!    (`NemesisSpec::expand` with `Prng::new(seed, Stream::Nemesis)`, appended to the schedule) and
//!    switched off; then ddmin (Zeller and Hildebrandt) removes faults from the schedule.
//! 2. **duration**: a bisection for the shortest main phase that still fails, never shorter than
//!    the last remaining fault's start.
//! 3. **load**: a bisection on the open-loop rate or the closed-loop user count.
//! 4. **clients**, then **servers**: a bisection on the count. Node ids are dense (servers, then
//!    clients), so removing servers removes the highest server ids and renumbers the clients; a
//!    candidate whose faults or disk overrides name a removed node is skipped without a run.
//! 5. **fault durations**: a bisection on each remaining fault's duration (a 5 s partition that
//!    fails as a 40 ms one is shown as the 40 ms one).
//!
//! A bisection ends on a value like 232.089 ops/s or 3.127 s; the shrinker then tries rounder
//! values just above it (one significant digit, then two, within 10% above, and never above the
//! value the pass started from): 240 ops/s or 3.2 s, kept when they fail the same way.
//!
//! Every bisection assumes that the failure is monotone in the knob (a longer run, more load,
//! more nodes fail at least as often); where that is false the result is still a failing scenario,
//! just not the smallest one. Every accepted step is a scenario that *did* fail in a run.
//!
//! Times in the result are whole microseconds (nemesis draws are rounded), because a `Duration`
//! written to RON keeps microseconds exactly but not nanoseconds: the written file must reproduce.

use crate::fault::{Fault, ScheduledFault, SignedDuration};
use crate::net::PartitionSpec;
use crate::rng::{Prng, Stream};
use crate::scenario::Scenario;
use crate::time::Duration;
use crate::topology::Topology;
use crate::workload::Arrival;

/// Limits of one shrink.
#[derive(Clone, Copy, Debug)]
pub struct ShrinkOptions {
    /// At most this many calls of `still_fails` (each is one simulation run).
    pub max_runs: u32,
    /// Bisections stop when the interval is narrower than this share of its upper end (0.01: the
    /// result is within 1% of the smallest failing value).
    pub precision: f64,
}

impl Default for ShrinkOptions {
    fn default() -> Self {
        ShrinkOptions { max_runs: 200, precision: 0.01 }
    }
}

/// One accepted reduction, or a note (`accepted: false`) about a pass that found nothing.
#[derive(Clone, Debug, PartialEq)]
pub struct ShrinkStep {
    /// `nemesis`, `faults`, `duration`, `load`, `clients`, `servers`, `fault durations`.
    pub pass: &'static str,
    /// What changed, e.g. `faults: 14 -> 2` or `duration: 30s -> 3.1s`.
    pub change: String,
    /// Runs spent so far, this step included.
    pub runs: u32,
}

/// The result of a shrink.
#[derive(Clone, Debug)]
pub struct Shrunk<C> {
    /// The smallest scenario found that still failed (with `seed` set to the seed that was shrunk
    /// and no nemesis). When `reproduced` is false it is the original with the nemesis expanded.
    pub scenario: Scenario<C>,
    pub steps: Vec<ShrinkStep>,
    pub runs: u32,
    /// False if the starting scenario (nemesis expanded) did not fail: nothing was shrunk.
    pub reproduced: bool,
    /// True if the run budget ran out before a round of passes changed nothing.
    pub budget_exhausted: bool,
}

struct Oracle<'f, C> {
    still_fails: &'f mut dyn FnMut(&Scenario<C>) -> bool,
    runs: u32,
    max_runs: u32,
}

impl<C> Oracle<'_, C> {
    /// `None` when the budget is spent; `Some(false)` without a run for a structurally invalid one.
    fn test(&mut self, sc: &Scenario<C>) -> Option<bool> {
        if !structurally_valid(sc) {
            return Some(false);
        }
        if self.runs >= self.max_runs {
            return None;
        }
        self.runs += 1;
        Some((self.still_fails)(sc))
    }
}

/// The kernel's own rules on a scenario: a buildable topology, faults naming existing nodes in a
/// legal order and inside the run, disk overrides naming existing nodes, known zones.
pub fn structurally_valid<C>(sc: &Scenario<C>) -> bool {
    if sc.duration.0 == 0 {
        return false;
    }
    let Ok(topo) = Topology::from_spec(&sc.topology) else { return false };
    if sc.workload.is_some() && topo.clients.is_empty() {
        return false;
    }
    sc.faults.validate(&topo, sc.duration).is_empty()
        && sc.disk.validate(topo.node_count()).is_empty()
        && sc.network.validate(&topo).is_empty()
}

fn round_us(d: Duration) -> Duration {
    Duration((d.0 + 500) / 1_000 * 1_000)
}

/// The nemesis of `sc` drawn for `seed` exactly as `scenario::run` draws it, appended to the
/// schedule, with the nemesis switched off. Times are rounded to whole microseconds so that the
/// schedule survives being written to a file.
pub fn expand_nemesis<C: Clone>(sc: &Scenario<C>, seed: u64) -> Scenario<C> {
    let mut out = sc.clone();
    out.seed = seed;
    if let Some(n) = out.faults.nemesis.take()
        && let Ok(topo) = Topology::from_spec(&sc.topology)
    {
        let drawn = n.expand(&topo, sc.duration, &mut Prng::new(seed, Stream::Nemesis));
        out.faults.schedule.extend(drawn.into_iter().map(|mut f| {
            f.at = round_us(f.at).min(sc.duration);
            f.duration = f.duration.map(round_us);
            if let Fault::ClockStep { by, .. } = &mut f.fault {
                let mag = round_us(Duration(by.0.unsigned_abs())).0 as i64;
                *by = SignedDuration(if by.0 < 0 { -mag } else { mag });
            }
            f
        }));
    }
    out
}

/// Shrinks `scenario` run with `seed` (which overrides `scenario.seed`) while `still_fails`.
pub fn shrink<C: Clone>(
    scenario: &Scenario<C>,
    seed: u64,
    opts: ShrinkOptions,
    mut still_fails: impl FnMut(&Scenario<C>) -> bool,
) -> Shrunk<C> {
    let mut oracle = Oracle { still_fails: &mut still_fails, runs: 0, max_runs: opts.max_runs };
    let mut cur = expand_nemesis(scenario, seed);
    let mut steps = Vec::new();
    if scenario.faults.nemesis.is_some() {
        steps.push(ShrinkStep {
            pass: "nemesis",
            change: format!("nemesis expanded into {} scheduled faults", cur.faults.schedule.len()),
            runs: 0,
        });
    }
    match oracle.test(&cur) {
        Some(true) => {}
        other => {
            return Shrunk {
                scenario: cur,
                steps,
                runs: oracle.runs,
                reproduced: false,
                budget_exhausted: other.is_none(),
            };
        }
    }
    let mut exhausted = false;
    'rounds: loop {
        let before = steps.len();
        for pass in [pass_faults, pass_duration, pass_load, pass_clients, pass_servers, pass_fault_durations] {
            match pass(&mut cur, &mut oracle, opts.precision) {
                Ok(Some(change)) => steps.push(change_step(change, &oracle)),
                Ok(None) => {}
                Err(Some(change)) => {
                    steps.push(change_step(change, &oracle));
                    exhausted = true;
                    break 'rounds;
                }
                Err(None) => {
                    exhausted = true;
                    break 'rounds;
                }
            }
        }
        if steps.len() == before {
            break;
        }
    }
    Shrunk { scenario: cur, steps, runs: oracle.runs, reproduced: true, budget_exhausted: exhausted }
}

fn change_step(change: (&'static str, String), oracle: &Oracle<'_, impl Sized>) -> ShrinkStep {
    ShrinkStep { pass: change.0, change: change.1, runs: oracle.runs }
}

/// `Ok(Some(change))`: the scenario shrank; `Ok(None)`: nothing found; `Err(_)`: the budget ran out
/// (with what the pass achieved before).
type PassResult = Result<Option<(&'static str, String)>, Option<(&'static str, String)>>;

fn pass_faults<C: Clone>(cur: &mut Scenario<C>, oracle: &mut Oracle<'_, C>, _: f64) -> PassResult {
    let before = cur.faults.schedule.len();
    if before == 0 {
        return Ok(None);
    }
    let base = cur.clone();
    let mut test = |faults: &[ScheduledFault]| {
        let mut c = base.clone();
        c.faults.schedule = faults.to_vec();
        oracle.test(&c)
    };
    let (kept, complete) = ddmin(cur.faults.schedule.clone(), &mut test);
    let change = (kept.len() < before).then(|| ("faults", format!("faults: {before} -> {}", kept.len())));
    cur.faults.schedule = kept;
    if complete { Ok(change) } else { Err(change) }
}

/// ddmin: the smallest subsequence (1-minimal: removing any one item makes it pass) of `items`
/// for which `test` holds, assuming it holds for `items`. Returns the items and whether it finished
/// (false: `test` returned `None`, the budget ran out, and the best so far is returned).
pub fn ddmin<T: Clone>(mut items: Vec<T>, test: &mut dyn FnMut(&[T]) -> Option<bool>) -> (Vec<T>, bool) {
    // Most failures need few faults: try none at all first.
    match test(&[]) {
        Some(true) => return (Vec::new(), true),
        Some(false) => {}
        None => return (items, false),
    }
    let mut n = 2usize;
    while items.len() >= 2 {
        let len = items.len();
        let chunk = len.div_ceil(n);
        let bounds: Vec<(usize, usize)> = (0..len).step_by(chunk).map(|s| (s, (s + chunk).min(len))).collect();
        let mut reduced = false;
        // A subset alone.
        for &(s, e) in &bounds {
            match test(&items[s..e]) {
                Some(true) => {
                    items = items[s..e].to_vec();
                    n = 2;
                    reduced = true;
                    break;
                }
                Some(false) => {}
                None => return (items, false),
            }
        }
        // The complement of a subset.
        if !reduced && bounds.len() > 2 {
            for &(s, e) in &bounds {
                let complement: Vec<T> = items[..s].iter().chain(&items[e..]).cloned().collect();
                match test(&complement) {
                    Some(true) => {
                        items = complement;
                        n = (n - 1).max(2);
                        reduced = true;
                        break;
                    }
                    Some(false) => {}
                    None => return (items, false),
                }
            }
        }
        if !reduced {
            if n >= len {
                break;
            }
            n = (2 * n).min(len);
        }
    }
    (items, true)
}

/// The smallest `v` in `[lo, hi]` for which `test(v)` holds, given that it holds at `hi`; stops when
/// the interval of candidates is no wider than `hi * precision` (0: exact). Tries `lo` first.
fn bisect(lo: u64, hi: u64, precision: f64, test: &mut dyn FnMut(u64) -> Option<bool>) -> (u64, bool) {
    if lo >= hi {
        return (hi, true);
    }
    let mut lo = lo;
    let mut hi = hi;
    match test(lo) {
        Some(true) => return (lo, true),
        Some(false) => lo += 1,
        None => return (hi, false),
    }
    while lo < hi && (hi - lo) as f64 > hi as f64 * precision {
        let mid = lo + (hi - lo) / 2;
        match test(mid) {
            Some(true) => hi = mid,
            Some(false) => lo = mid + 1,
            None => return (hi, false),
        }
    }
    (hi, true)
}

/// `v` rounded up to `digits` significant digits: 232_089 -> 300_000 (1), 240_000 (2).
fn round_up_significant(v: u64, digits: u32) -> u64 {
    if v == 0 {
        return 0;
    }
    let unit = 10u64.pow((v.ilog10() + 1).saturating_sub(digits));
    v.div_ceil(unit).saturating_mul(unit)
}

/// After a bisection found `best` (with `hi` known to fail): the roundest value in `(best, hi]`
/// within 10% above `best` that still fails, else `best`; `false` when the budget ran out.
fn rounder(best: u64, hi: u64, test: &mut dyn FnMut(u64) -> Option<bool>) -> (u64, bool) {
    let mut tried = Vec::new();
    for digits in 1..=2 {
        let r = round_up_significant(best, digits);
        if r <= best || r > hi || r as f64 > best as f64 * 1.1 || tried.contains(&r) {
            continue;
        }
        tried.push(r);
        match test(r) {
            Some(true) => return (r, true),
            Some(false) => {}
            None => return (best, false),
        }
    }
    (best, true)
}

/// [`bisect`], then [`rounder`].
fn bisect_round(lo: u64, hi: u64, precision: f64, test: &mut dyn FnMut(u64) -> Option<bool>) -> (u64, bool) {
    let (best, complete) = bisect(lo, hi, precision, test);
    if !complete {
        return (best, false);
    }
    rounder(best, hi, test)
}

fn pass_duration<C: Clone>(cur: &mut Scenario<C>, oracle: &mut Oracle<'_, C>, precision: f64) -> PassResult {
    const MS: u64 = 1_000_000;
    let hi = cur.duration.0;
    let last_fault = cur.faults.schedule.iter().map(|f| f.at.0).max().unwrap_or(0);
    // Whole milliseconds, so the result prints exactly.
    let lo_ms = last_fault.div_ceil(MS).max(1);
    let hi_ms = hi / MS;
    if hi_ms <= lo_ms {
        return Ok(None);
    }
    let base = cur.clone();
    let mut test = |ms: u64| {
        let mut c = base.clone();
        c.duration = Duration(ms * MS);
        oracle.test(&c)
    };
    let (best_ms, complete) = bisect_round(lo_ms, hi_ms, precision, &mut test);
    let best = Duration(best_ms * MS);
    let change = (best.0 < hi).then(|| ("duration", format!("duration: {} -> {best}", Duration(hi))));
    cur.duration = best;
    if complete { Ok(change) } else { Err(change) }
}

fn pass_load<C: Clone>(cur: &mut Scenario<C>, oracle: &mut Oracle<'_, C>, precision: f64) -> PassResult {
    let Some(w) = &cur.workload else { return Ok(None) };
    let base = cur.clone();
    match w.arrival.clone() {
        Arrival::OpenLoop { rate_per_s } => {
            // In thousandths of an operation per second.
            let hi = (rate_per_s * 1000.0).floor() as u64;
            if hi <= 1 {
                return Ok(None);
            }
            let mut test = |milli: u64| {
                let mut c = base.clone();
                if let Some(w) = &mut c.workload {
                    w.arrival = Arrival::OpenLoop { rate_per_s: milli as f64 / 1000.0 };
                }
                oracle.test(&c)
            };
            let (best, complete) = bisect_round(1, hi, precision, &mut test);
            let change = (best < hi).then(|| {
                let rate = best as f64 / 1000.0;
                if let Some(w) = &mut cur.workload {
                    w.arrival = Arrival::OpenLoop { rate_per_s: rate };
                }
                ("load", format!("rate_per_s: {rate_per_s} -> {rate}"))
            });
            if complete { Ok(change) } else { Err(change) }
        }
        Arrival::ClosedLoop { users, think } => {
            let hi = users as u64;
            let mut test = |u: u64| {
                let mut c = base.clone();
                if let Some(w) = &mut c.workload {
                    w.arrival = Arrival::ClosedLoop { users: u as u32, think: think.clone() };
                }
                oracle.test(&c)
            };
            let (best, complete) = bisect(1, hi, 0.0, &mut test);
            let change = (best < hi).then(|| {
                if let Some(w) = &mut cur.workload {
                    w.arrival = Arrival::ClosedLoop { users: best as u32, think: think.clone() };
                }
                ("load", format!("users: {users} -> {best}"))
            });
            if complete { Ok(change) } else { Err(change) }
        }
        // A script is the user's exact sequence: the shrinker shortens the run, not the list.
        Arrival::Script { .. } | Arrival::Trace { .. } | Arrival::Probe { .. } => Ok(None),
    }
}

fn pass_fault_durations<C: Clone>(cur: &mut Scenario<C>, oracle: &mut Oracle<'_, C>, precision: f64) -> PassResult {
    const MS: u64 = 1_000_000;
    let mut changes = Vec::new();
    let mut complete = true;
    for i in 0..cur.faults.schedule.len() {
        let Some(d) = cur.faults.schedule[i].duration else { continue };
        let hi_ms = d.0 / MS;
        if hi_ms <= 1 {
            continue;
        }
        let base = cur.clone();
        let mut test = |ms: u64| {
            let mut c = base.clone();
            c.faults.schedule[i].duration = Some(Duration(ms * MS));
            oracle.test(&c)
        };
        let (best_ms, done) = bisect_round(1, hi_ms, precision, &mut test);
        let best = Duration(best_ms * MS);
        if best < d {
            cur.faults.schedule[i].duration = Some(best);
            changes.push(format!("{} {d} -> {best}", cur.faults.schedule[i].fault.label()));
        }
        if !done {
            complete = false;
            break;
        }
    }
    let change = (!changes.is_empty()).then(|| ("fault durations", format!("fault durations: {}", changes.join(", "))));
    if complete { Ok(change) } else { Err(change) }
}

fn pass_clients<C: Clone>(cur: &mut Scenario<C>, oracle: &mut Oracle<'_, C>, _: f64) -> PassResult {
    let hi = cur.topology.clients as u64;
    let lo = if cur.workload.is_some() || cur.topology.servers == 0 { 1 } else { 0 };
    if hi <= lo {
        return Ok(None);
    }
    let base = cur.clone();
    let mut test = |n: u64| {
        let mut c = base.clone();
        c.topology.clients = n as u32;
        oracle.test(&c)
    };
    let (best, complete) = bisect(lo, hi, 0.0, &mut test);
    let change = (best < hi).then(|| {
        cur.topology.clients = best as u32;
        ("clients", format!("clients: {hi} -> {best}"))
    });
    if complete { Ok(change) } else { Err(change) }
}

fn pass_servers<C: Clone>(cur: &mut Scenario<C>, oracle: &mut Oracle<'_, C>, _: f64) -> PassResult {
    let hi = cur.topology.servers;
    if hi <= 1 {
        return Ok(None);
    }
    let base = cur.clone();
    let mut test = |n: u64| match with_servers(&base, n as u32) {
        Some(c) => oracle.test(&c),
        None => Some(false),
    };
    let (best, complete) = bisect(1, hi as u64, 0.0, &mut test);
    let change = (best < hi as u64).then(|| {
        *cur = with_servers(&base, best as u32).expect("tested above");
        ("servers", format!("servers: {hi} -> {best}"))
    });
    if complete { Ok(change) } else { Err(change) }
}

/// `sc` with only `servers` servers: the highest server ids go, client ids move down, faults and
/// disk overrides are renumbered. `None` if a fault or disk override names a removed server.
pub fn with_servers<C: Clone>(sc: &Scenario<C>, servers: u32) -> Option<Scenario<C>> {
    let old = sc.topology.servers;
    if servers > old {
        return None;
    }
    let removed = old - servers;
    let map = |id: u32| -> Option<u32> {
        if id < servers {
            Some(id)
        } else if id < old {
            None
        } else {
            Some(id - removed)
        }
    };
    let map_all = |ids: &[u32]| ids.iter().map(|&i| map(i)).collect::<Option<Vec<u32>>>();
    let mut out = sc.clone();
    out.topology.servers = servers;
    // Zones hold servers in id order: take the removed ones from the last zones.
    let mut excess = removed;
    for zone in out.topology.zones.iter_mut().rev() {
        let take = zone.1.min(excess);
        zone.1 -= take;
        excess -= take;
    }
    for f in &mut out.faults.schedule {
        f.fault = match &f.fault {
            Fault::Partition(p) => Fault::Partition(match p {
                PartitionSpec::Isolate(n) => PartitionSpec::Isolate(map(*n)?),
                PartitionSpec::Split(groups) => {
                    PartitionSpec::Split(groups.iter().map(|g| map_all(g)).collect::<Option<_>>()?)
                }
                PartitionSpec::OneWay { from, to } => PartitionSpec::OneWay { from: map_all(from)?, to: map_all(to)? },
                PartitionSpec::Bridge { left, bridge, right } => {
                    PartitionSpec::Bridge { left: map_all(left)?, bridge: map(*bridge)?, right: map_all(right)? }
                }
                PartitionSpec::MajoritiesRing => PartitionSpec::MajoritiesRing,
            }),
            Fault::Heal => Fault::Heal,
            Fault::Crash { node, power_loss, corrupt_unsynced } => {
                Fault::Crash { node: map(*node)?, power_loss: *power_loss, corrupt_unsynced: *corrupt_unsynced }
            }
            Fault::Restart(n) => Fault::Restart(map(*n)?),
            Fault::Pause(n) => Fault::Pause(map(*n)?),
            Fault::Resume(n) => Fault::Resume(map(*n)?),
            Fault::ClockStep { node, by } => Fault::ClockStep { node: map(*node)?, by: *by },
            Fault::ClockDrift { node, ppm } => Fault::ClockDrift { node: map(*node)?, ppm: *ppm },
            Fault::Loss(p) => Fault::Loss(*p),
            Fault::Delay { node, extra, from } => {
                let from = match from {
                    Some(f) => Some(map(*f)?),
                    None => None,
                };
                Fault::Delay { node: map(*node)?, extra: *extra, from }
            }
            Fault::Outage { node, mode } => Fault::Outage { node: map(*node)?, mode: *mode },
        };
    }
    out.disk.nodes = sc.disk.nodes.iter().map(|(n, d)| map(*n).map(|m| (m, d.clone()))).collect::<Option<_>>()?;
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fault::NemesisSpec;
    use crate::topology::TopologySpec;
    use crate::workload::WorkloadSpec;

    #[derive(Clone, Debug, Default, PartialEq, serde::Serialize, serde::Deserialize)]
    struct Cfg {
        replicas: u32,
    }

    fn fault(at_s: u64, fault: Fault) -> ScheduledFault {
        ScheduledFault { at: Duration::from_secs(at_s), duration: Some(Duration::from_secs(1)), fault }
    }

    fn crash(node: u32) -> Fault {
        Fault::Crash { node, power_loss: false, corrupt_unsynced: 0.0 }
    }

    fn scenario() -> Scenario<Cfg> {
        let mut sc: Scenario<Cfg> = ron::from_str(
            r#"(name: "t", model: "m", duration: "30s",
                topology: (servers: 5, clients: 4),
                workload: Some((ops: [("put", 1.0)], arrival: OpenLoop(rate_per_s: 1000.0))))"#,
        )
        .unwrap();
        sc.faults.schedule = (0..12)
            .map(|i| {
                let f = match i % 3 {
                    0 => crash(i % 5),
                    1 => Fault::Partition(PartitionSpec::Isolate(i % 5)),
                    _ => Fault::Pause(i % 5),
                };
                fault(1 + i as u64, f)
            })
            .collect();
        sc
    }

    fn is_x(f: &ScheduledFault) -> bool {
        f.fault == Fault::Partition(PartitionSpec::Isolate(2)) && f.at == Duration::from_secs(8)
    }

    #[test]
    fn finds_the_one_fault_and_the_shortest_run() {
        let sc = scenario();
        assert!(sc.faults.schedule.iter().filter(|f| is_x(f)).count() == 1);
        let fails = |s: &Scenario<Cfg>| {
            s.faults.schedule.iter().any(|f| is_x(f) && f.duration >= Some(Duration::from_millis(300)))
                && s.duration >= Duration::from_secs(9)
                && matches!(s.workload.as_ref().unwrap().arrival, Arrival::OpenLoop { rate_per_s } if rate_per_s >= 50.0)
                && s.topology.clients >= 2
        };
        let out = shrink(&sc, 7, ShrinkOptions { max_runs: 300, precision: 0.01 }, fails);
        assert!(out.reproduced && !out.budget_exhausted, "{:?}", out.steps);
        let m = &out.scenario;
        assert_eq!(m.faults.schedule.len(), 1);
        assert!(is_x(&m.faults.schedule[0]));
        // Within the bisection's 1% and then rounded up (by at most 10%) where that still fails.
        assert!(m.duration >= Duration::from_secs(9) && m.duration <= Duration::from_millis(9_100), "{}", m.duration);
        assert_eq!(m.duration.0 % 100_000_000, 0, "a round duration: {}", m.duration);
        let Arrival::OpenLoop { rate_per_s } = m.workload.as_ref().unwrap().arrival else { panic!() };
        assert!((50.0..=51.0).contains(&rate_per_s) && rate_per_s.fract() == 0.0, "{rate_per_s}");
        assert_eq!(m.topology.clients, 2);
        // Isolate(2) needs node 2: three servers is the least that keeps it.
        assert_eq!(m.topology.servers, 3);
        assert_eq!(m.seed, 7);
        let d = m.faults.schedule[0].duration.unwrap();
        assert!(d >= Duration::from_millis(300) && d <= Duration::from_millis(310), "{d}");
        assert_eq!(d.0 % 10_000_000, 0, "a round duration: {d}");
        assert!(fails(m));
        assert!(out.runs <= 300);
        let passes: Vec<&str> = out.steps.iter().map(|s| s.pass).collect();
        for p in ["faults", "duration", "load", "clients", "servers", "fault durations"] {
            assert!(passes.contains(&p), "{passes:?}");
        }
    }

    #[test]
    fn bisected_values_are_rounded_up_where_a_round_value_fails_the_same_way() {
        assert_eq!(round_up_significant(232_089, 1), 300_000);
        assert_eq!(round_up_significant(232_089, 2), 240_000);
        assert_eq!(round_up_significant(9_050, 1), 10_000);
        assert_eq!(round_up_significant(7, 1), 7);
        // 232.089 fails and 240 fails: 240 (300 is more than 10% above).
        let mut runs = Vec::new();
        let mut test = |v: u64| {
            runs.push(v);
            Some(v >= 232_089)
        };
        assert_eq!(rounder(232_089, 1_000_000, &mut test), (240_000, true));
        assert_eq!(runs, [240_000]);
        // A round value that passes (a failure that is not monotone) is not taken.
        let mut test = |v: u64| Some(v == 232_089);
        assert_eq!(rounder(232_089, 1_000_000, &mut test), (232_089, true));
        // Never above the value the pass started from.
        let mut test = |_: u64| Some(true);
        assert_eq!(rounder(232_089, 235_000, &mut test), (232_089, true));
    }

    #[test]
    fn a_pair_of_faults_is_kept_together() {
        let sc = scenario();
        let a = sc.faults.schedule[3].clone();
        let b = sc.faults.schedule[10].clone();
        let fails = |s: &Scenario<Cfg>| s.faults.schedule.contains(&a) && s.faults.schedule.contains(&b);
        let out = shrink(&sc, 0, ShrinkOptions::default(), fails);
        assert_eq!(out.scenario.faults.schedule, vec![a, b]);
    }

    #[test]
    fn the_budget_is_respected_and_the_result_still_fails() {
        let sc = scenario();
        let mut calls = 0;
        let fails = |s: &Scenario<Cfg>| {
            calls += 1;
            s.faults.schedule.iter().any(is_x) && s.duration >= Duration::from_secs(3)
        };
        let out = shrink(&sc, 0, ShrinkOptions { max_runs: 6, precision: 0.01 }, fails);
        assert!(out.budget_exhausted);
        assert_eq!(out.runs, 6);
        assert_eq!(calls, 6);
        assert!(out.scenario.faults.schedule.iter().any(is_x));
        assert!(out.scenario.faults.schedule.len() < 12);
    }

    #[test]
    fn a_run_that_does_not_fail_is_not_shrunk() {
        let out = shrink(&scenario(), 0, ShrinkOptions::default(), |_| false);
        assert!(!out.reproduced);
        assert_eq!(out.runs, 1);
        assert_eq!(out.scenario.faults.schedule.len(), 12);
    }

    #[test]
    fn the_nemesis_is_expanded_exactly_as_the_run_draws_it() {
        let mut sc = scenario();
        sc.faults.schedule.clear();
        let n = NemesisSpec { crashes_per_min: 20.0, partitions_per_min: 10.0, ..Default::default() };
        sc.faults.nemesis = Some(n.clone());
        let expanded = expand_nemesis(&sc, 42);
        assert!(expanded.faults.nemesis.is_none());
        let topo = Topology::from_spec(&sc.topology).unwrap();
        let drawn = n.expand(&topo, sc.duration, &mut Prng::new(42, Stream::Nemesis));
        assert!(drawn.len() >= 3, "{}", drawn.len());
        assert_eq!(expanded.faults.schedule.len(), drawn.len());
        for (e, d) in expanded.faults.schedule.iter().zip(&drawn) {
            assert_eq!(e.fault, d.fault);
            assert!(e.at.0.abs_diff(d.at.0) <= 500);
            assert_eq!(e.at.0 % 1_000, 0);
        }
        // The written file reproduces the schedule exactly.
        let text = ron::to_string(&expanded).unwrap();
        let back: Scenario<Cfg> = ron::from_str(&text).unwrap();
        assert_eq!(back, expanded);
        // Shrinking a nemesis run keeps one of the drawn crashes.
        let target = expanded.faults.schedule.iter().find(|f| matches!(f.fault, Fault::Crash { .. })).unwrap().clone();
        let out = shrink(&sc, 42, ShrinkOptions::default(), |s| s.faults.schedule.contains(&target));
        assert_eq!(out.scenario.faults.schedule, vec![target]);
        assert_eq!(out.steps[0].pass, "nemesis");
    }

    #[test]
    fn removing_servers_renumbers_clients_and_zones() {
        let mut sc = scenario();
        sc.topology = TopologySpec { servers: 4, clients: 2, zones: vec![("a".into(), 2), ("b".into(), 2)] };
        sc.faults.schedule = vec![
            fault(1, Fault::Partition(PartitionSpec::Split(vec![vec![0, 1], vec![4, 5]]))),
            fault(2, Fault::Partition(PartitionSpec::Isolate(5))),
        ];
        sc.disk.nodes.insert(5, crate::dist::Dist::Constant(Duration::from_millis(9)));
        let two = with_servers(&sc, 2).unwrap();
        assert_eq!(two.topology.zones, vec![("a".to_string(), 2), ("b".to_string(), 0)]);
        assert_eq!(two.faults.schedule[0].fault, Fault::Partition(PartitionSpec::Split(vec![vec![0, 1], vec![2, 3]])));
        assert_eq!(two.faults.schedule[1].fault, Fault::Partition(PartitionSpec::Isolate(3)));
        assert!(two.disk.nodes.contains_key(&3));
        assert!(structurally_valid(&two));
        assert!(with_servers(&sc, 1).is_none(), "node 1 is in a partition");
    }

    #[test]
    fn closed_loop_users_shrink() {
        let mut sc = scenario();
        sc.workload = Some(WorkloadSpec {
            arrival: Arrival::ClosedLoop { users: 40, think: None },
            ..sc.workload.clone().unwrap()
        });
        let fails = |s: &Scenario<Cfg>| matches!(s.workload.as_ref().unwrap().arrival, Arrival::ClosedLoop { users, .. } if users >= 7);
        let out = shrink(&sc, 0, ShrinkOptions::default(), fails);
        assert!(matches!(out.scenario.workload.unwrap().arrival, Arrival::ClosedLoop { users: 7, .. }));
    }

    #[test]
    fn ddmin_is_one_minimal() {
        let items: Vec<u32> = (0..40).collect();
        let mut runs = 0;
        let (kept, done) = ddmin(items, &mut |s: &[u32]| {
            runs += 1;
            Some([3, 17, 33].iter().all(|x| s.contains(x)))
        });
        assert!(done);
        assert_eq!(kept, vec![3, 17, 33]);
        assert!(runs < 120, "{runs}");
    }
}
