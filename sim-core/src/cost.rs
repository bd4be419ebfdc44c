//! What a run will cost, estimated before it starts: memory and events.
//!
//! The kernel estimates the [`Load`] (operations per kind, keys, operations at once) from the
//! workload; a model states its own part under that load as a [`Footprint`] (its state, part by
//! part, and the events it causes); the kernel adds its own parts (per node, the operation
//! history, the report's time series, the workload's tables, the event queue, the fault schedule,
//! the trace), in [`estimate`]. The CLI refuses a run whose
//! estimate exceeds the memory it may use, with the estimate part by part, so a scenario that
//! would take the machine down says so before it allocates anything. The estimates are held to
//! the heap a run really uses by a test (cli/tests/cli/memory.rs, a counting allocator).

use crate::actor::Actor;
use crate::math;
use crate::metrics::HistoryEntry;
use crate::model::Model;
use crate::net::{LinkTable, PipeTable};
use crate::scenario::Scenario;
use crate::time::Time;
use crate::topology::Topology;
use crate::workload::{Arrival, Keys};
use std::fmt;

/// What the workload will do, as the kernel estimates it before the run: the input of
/// [`Model::footprint`].
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Load {
    /// Operations per kind, in `Model::OP_KINDS` order.
    pub ops: Vec<f64>,
    /// Distinct keys the operations touch (at most the workload's key count).
    pub keys: f64,
    /// How unevenly operations fall on keys: `keys x sum of p(key)^2` (1 when even; a Zipf
    /// workload's hot keys make it larger). A key's share of `n` operations squared, summed over
    /// keys, is `n^2 / keys x key_skew`: what grows with the square of a key's writes costs that.
    pub key_skew: f64,
    /// Operations in flight at the busiest moment (at least 1 when there is a workload).
    pub in_flight: f64,
    /// The main phase and the liveness phase, in seconds.
    pub run_s: f64,
    /// The mean latency of a message on the network's default link, in seconds.
    pub latency_s: f64,
    /// The mean time of a synced write on the default disk, in seconds.
    pub disk_s: f64,
    /// The workload's key distribution (`None`: no workload, or a script's or probe's keys,
    /// taken as even over [`Load::keys`]): for [`Load::hottest_share`].
    pub key_spread: Option<Keys>,
}

impl Load {
    /// Operations of kind `kind` (0 for a kind the model does not have).
    pub fn of(&self, kind: &str, kinds: &[&str]) -> f64 {
        kinds.iter().position(|k| *k == kind).and_then(|i| self.ops.get(i)).copied().unwrap_or(0.0)
    }
    pub fn total(&self) -> f64 {
        self.ops.iter().fold(0.0, |a, b| a + b)
    }
    /// How many times something done every `interval` happens over the run (`run_s /
    /// interval`, an interval under a millisecond taken as one): a footprint's rebuilds,
    /// heartbeats, polls.
    pub fn times_every(&self, interval: crate::time::Duration) -> f64 {
        self.run_s / interval.as_secs_f64().max(1e-3)
    }

    /// The share of operations that fall on the `c` most popular keys: what a cache of `c`
    /// entries holding the hottest keys hits, once warm (an LRU cache of that size hits somewhat
    /// less, as it also keeps keys of the tail). Even keys: `c / keys`; Zipf(`s`) over `n`: `H(c,
    /// s) / H(n, s)`; a hot key: its share, and the rest even over the other keys (the key it
    /// moves to taken as any other).
    pub fn hottest_share(&self, c: f64) -> f64 {
        if c <= 0.0 {
            return 0.0;
        }
        let share = match self.key_spread {
            None | Some(Keys::Uniform { .. }) => c / self.keys.max(1.0),
            Some(Keys::Zipf { count, s }) => {
                let n = count as f64;
                if c >= n { 1.0 } else { zipf_sum(c.floor(), s, 10_000) / zipf_sum(n, s, 10_000) }
            }
            Some(Keys::HotKey { count, share, .. }) => {
                let rest = (count as f64 - 1.0).max(1.0);
                share + (1.0 - share) * ((c - 1.0) / rest).min(1.0)
            }
        };
        share.clamp(0.0, 1.0)
    }
}

/// A model's own costs under a [`Load`], stated by [`Model::footprint`]. Bytes are heap bytes
/// summed over every node (a key held by three replicas costs three copies).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Footprint {
    /// Named parts of the model's memory at its fullest: `("ring walks: 80,000 tokens x 5,000
    /// servers x 4 B", bytes)`.
    pub parts: Vec<(String, f64)>,
    /// Events the model causes over the run (messages, timers, disk writes, the initial
    /// population), beyond the kernel's own two per operation.
    pub events: f64,
    /// Events waiting in the queue at the busiest moment.
    pub queued: f64,
    /// Ordered pairs of nodes that send each other messages over the run. The kernel keeps a
    /// pipe for each when the transport is `Connection` (or a link has a bandwidth or an
    /// in-flight bound) and counts it; unstated (0), it counts two per client, a lower bound.
    pub talking: f64,
    /// Set by [`Model::footprint`]'s default alone: the model states no footprint, so the
    /// estimate holds only the kernel's parts and is a lower bound ([`Cost::unstated`]).
    pub unstated: bool,
}

impl Footprint {
    /// Adds a named part of the model's memory.
    pub fn part(mut self, what: impl Into<String>, bytes: f64) -> Footprint {
        self.parts.push((what.into(), bytes));
        self
    }
    /// [`Footprint::part`], when `when` (a part of an optional feature).
    pub fn part_if(self, when: bool, part: impl FnOnce() -> (String, f64)) -> Footprint {
        if when {
            let (what, bytes) = part();
            self.part(what, bytes)
        } else {
            self
        }
    }
}

/// A run's estimated cost.
#[derive(Clone, Debug, PartialEq)]
pub struct Cost {
    /// Named parts of the peak memory, in bytes.
    pub parts: Vec<(String, f64)>,
    /// Operations the workload will issue.
    pub ops: f64,
    /// Events the run will process.
    pub events: f64,
    /// The run's event limit (it stops there, failing `run.event_limit`).
    pub max_events: u64,
    /// The model's name when it states no footprint ([`Footprint::unstated`]): its state and the
    /// events it causes beyond the kernel's two per operation are then not counted, and the
    /// estimate is a lower bound (measured: 2.3x to 15x under the peak RSS of the perf scenarios
    /// of the designs that stated none until round thirty, docs/performance.md).
    pub unstated: Option<&'static str>,
}

impl Cost {
    /// The estimated peak memory in bytes.
    pub fn bytes(&self) -> f64 {
        self.parts.iter().map(|p| p.1).sum()
    }
}

impl fmt::Display for Cost {
    /// One line with the totals, then the parts above 1% of the total, largest first.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let total = self.bytes();
        write!(f, "about {} of memory, {} events, {} operations", bytes(total), count(self.events), count(self.ops))?;
        let mut parts: Vec<&(String, f64)> = self.parts.iter().filter(|p| p.1 >= total / 100.0).collect();
        parts.sort_by(|a, b| b.1.total_cmp(&a.1));
        for (what, b) in parts {
            write!(f, "\n  {:>9}  {what}", bytes(*b))?;
        }
        if let Some(model) = self.unstated {
            write!(
                f,
                "\n  a lower bound: the `{model}` model states no footprint of its own (`Model::footprint`):\n  \
                 its state, and the events it causes beyond two per operation, are not counted"
            )?;
        }
        Ok(())
    }
}

/// Bytes in decimal units: `512 B`, `3.4 MB`, `1.9 TB`.
pub fn bytes(b: f64) -> String {
    let units = ["B", "kB", "MB", "GB", "TB", "PB", "EB"];
    let mut v = b.max(0.0);
    let mut u = 0;
    while v >= 1000.0 && u + 1 < units.len() {
        v /= 1000.0;
        u += 1;
    }
    if u == 0 { format!("{v:.0} B") } else { format!("{v:.1} {}", units[u]) }
}

/// A count in words: `950`, `3.4 thousand`, `1.2 million`, `4.0e12`.
pub fn count(n: f64) -> String {
    match n {
        n if n < 1e4 => format!("{n:.0}"),
        n if n < 1e6 => format!("{:.1} thousand", n / 1e3),
        n if n < 1e9 => format!("{:.1} million", n / 1e6),
        n if n < 1e12 => format!("{:.1} billion", n / 1e9),
        n => format!("{n:.1e}"),
    }
}

/// `count x sum of p(k)^2` of Zipf(`s`) over `count` keys ([`Load::key_skew`] of a Zipf
/// workload): the sums of `k^-s` and `k^-2s`, their first `exact` terms exactly and the rest as
/// integrals. A model's footprint that recovers `s` from the load's skew by bisection calls it
/// with few exact terms.
pub fn zipf_key_skew(count: f64, s: f64, exact: u64) -> f64 {
    let exact = count.min(exact as f64) as u64;
    let (mut h1, mut h2) = (0.0, 0.0);
    for k in 1..=exact {
        let w = math::powf(k as f64, -s);
        h1 += w;
        h2 += w * w;
    }
    h1 += zipf_tail(count, s, exact);
    h2 += zipf_tail(count, 2.0 * s, exact);
    count * h2 / (h1 * h1)
}

/// `sum of k^-p` for `k` in `1..=n`: the first `exact` terms exactly, the rest as an integral.
fn zipf_sum(n: f64, p: f64, exact: u64) -> f64 {
    let exact = n.min(exact as f64) as u64;
    (1..=exact).fold(0.0, |h, k| h + math::powf(k as f64, -p)) + zipf_tail(n, p, exact)
}

/// `sum of k^-p` for `k` in `exact + 1..=n`, as the integral over `[exact + 1/2, n + 1/2]`.
fn zipf_tail(n: f64, p: f64, exact: u64) -> f64 {
    let (a, b) = (exact as f64 + 0.5, n + 0.5);
    if n <= exact as f64 {
        0.0
    } else if (p - 1.0).abs() < 1e-9 {
        math::ln(b / a)
    } else {
        (math::powf(b, 1.0 - p) - math::powf(a, 1.0 - p)) / (1.0 - p)
    }
}

/// The distinct values among `draws` uniform draws from `n` (expected): `n (1 - (1 - 1/n)^draws)`,
/// `min(n, draws)` when `n <= 1`. A footprint's distinct keys, objects or peers reached.
pub fn distinct_among(n: f64, draws: f64) -> f64 {
    if n <= 1.0 { n.min(draws) } else { n * (1.0 - crate::math::powf(1.0 - 1.0 / n, draws)) }
}

/// `count x sum of p(key)^2` of a key distribution (see [`Load::key_skew`]).
fn key_skew(keys: &Keys) -> f64 {
    match *keys {
        Keys::Uniform { .. } => 1.0,
        Keys::HotKey { count, share, .. } => {
            let n = count as f64;
            n * (share * share + (1.0 - share) * (1.0 - share) / n)
        }
        Keys::Zipf { count, s } => zipf_key_skew(count as f64, s, 100_000),
    }
}

/// Per node, the kernel's arrays (actor slot, status, incarnation, stream position, id source,
/// rare-state index, durable log header, clock) and the topology's.
const KERNEL_BYTES_PER_NODE: f64 = 64.0;
/// Per node that ever sets a timer or writes to disk: its entry of the kernel's rare-state slab.
const KERNEL_BYTES_PER_BUSY_NODE: f64 = 200.0;
/// Per event in the queue: its key and its slot, beside the message or timer it carries.
const EVENT_OVERHEAD_BYTES: f64 = 96.0;
/// Per fault: the scheduled fault, its effect record and its label.
const FAULT_BYTES: f64 = 300.0;
/// Per traced event: the record and its label and detail strings.
const TRACE_EVENT_BYTES: f64 = 160.0;

/// The cost of a run of `sc` (with the event trace kept when `trace`).
pub fn estimate<M: Model>(sc: &Scenario<M::Config>, trace: bool) -> Cost {
    let Ok(topo) = Topology::from_spec(&sc.topology) else {
        return Cost { parts: Vec::new(), ops: 0.0, events: 0.0, max_events: 0, unstated: None };
    };
    let nodes = topo.node_count() as f64;
    let main_end = Time(sc.duration.0);
    let mut parts: Vec<(String, f64)> = Vec::new();
    let mut part = |what: String, b: f64| {
        if b > 0.0 {
            parts.push((what, b));
        }
    };

    // The workload: operations per kind, keys, how many at once.
    let link_mean_ns = sc.network.link.latency.mean_ns().unwrap_or(1e6);
    let disk_mean_ns = sc.disk.latency.mean_ns().unwrap_or(1e6);
    let response_ns = (2.0 * link_mean_ns + disk_mean_ns).max(1_000.0);
    let mut load = Load {
        ops: vec![0.0; M::OP_KINDS.len()],
        run_s: sc.run_span().as_secs_f64(),
        latency_s: link_mean_ns / 1e9,
        disk_s: disk_mean_ns / 1e9,
        ..Load::default()
    };
    let mut users = 0.0;
    if let Some(w) = &sc.workload {
        let end = w.stop_at.map_or(main_end, |s| Time(s.0).min(main_end));
        let (ops, peak_rate) = match &w.arrival {
            Arrival::OpenLoop { rate_per_s } => {
                (w.expected_arrivals(main_end), rate_per_s * w.pieces(end).iter().map(|p| p.peak).fold(0.0, f64::max))
            }
            Arrival::ClosedLoop { users: u, think } => {
                users = *u as f64;
                let cycle_ns = think.as_ref().and_then(|t| t.mean_ns()).unwrap_or(0.0) + response_ns;
                let rate = users * 1e9 / cycle_ns;
                part(format!("closed-loop users: {}", count(users)), users * 48.0);
                (rate * end.as_secs_f64(), rate)
            }
            Arrival::Probe { write, read, writes, read_after, .. } => {
                let n = w.expected_arrivals(main_end);
                for (name, count) in [(write, *writes as f64), (read, *writes as f64 * read_after.len() as f64)] {
                    if let Some(k) = M::OP_KINDS.iter().position(|k| k == name) {
                        load.ops[k] += count;
                    }
                }
                (n, n / end.as_secs_f64().max(1e-3))
            }
            Arrival::Script { ops } | Arrival::Trace { ops, .. } => {
                for s in ops.iter().filter(|s| s.at.0 < end.0) {
                    if let Some(k) = M::OP_KINDS.iter().position(|k| *k == s.op) {
                        load.ops[k] += 1.0;
                    }
                }
                let n = w.expected_arrivals(main_end);
                part(format!("script: {} operations x 48 B", count(ops.len() as f64)), ops.len() as f64 * 48.0);
                (n, n / end.as_secs_f64().max(1e-3))
            }
        };
        // Retries are bounded by the attempts; most operations need one.
        let ops = if w.retry.is_some() { ops * 1.1 } else { ops };
        let total: f64 = w.ops.iter().map(|o| o.1).sum::<f64>().max(f64::MIN_POSITIVE);
        if w.arrival.script().is_none() && !matches!(w.arrival, Arrival::Probe { .. }) {
            for (name, weight) in &w.ops {
                if let Some(k) = M::OP_KINDS.iter().position(|k| k == name) {
                    load.ops[k] += ops * weight / total;
                }
            }
        }
        let key_count = match (w.arrival.script(), &w.keys, &w.arrival) {
            (_, _, Arrival::Probe { keys, .. }) => *keys as f64,
            (Some(script), _, _) => {
                script.iter().map(|s| s.key).collect::<std::collections::BTreeSet<u64>>().len() as f64
            }
            (None, Keys::Uniform { count } | Keys::Zipf { count, .. } | Keys::HotKey { count, .. }, _) => *count as f64,
        };
        load.keys = key_count.min(ops);
        load.key_skew = key_skew(&w.keys);
        if w.arrival.script().is_none() && !matches!(w.arrival, Arrival::Probe { .. }) {
            load.key_spread = Some(w.keys.clone());
        }
        load.in_flight = (peak_rate * response_ns / 1e9).clamp(1.0, ops.max(1.0));
        if let Keys::Zipf { count, .. } = w.keys {
            part(format!("Zipf table: {} keys x 8 B", crate::cost::count(count as f64)), count as f64 * 8.0);
        }
        // The final read: a round of every client each `every` through the settle phase.
        if let Some(f) = &w.final_read
            && let Some(k) = M::OP_KINDS.iter().position(|k| *k == f.op)
        {
            let rounds = (sc.settle.0 / f.every.0.max(1)) as f64;
            load.ops[k] += rounds * topo.clients.len() as f64;
        }
    }
    let ops = load.total();

    // The model's own parts, and the kernel's per node.
    let model = M::footprint(&sc.config, &topo, &load);
    for (what, b) in &model.parts {
        part(format!("{}: {what}", M::NAME), *b);
    }
    let actor = std::mem::size_of::<Option<M::Actor>>() as f64;
    part(
        format!("nodes: {} x {} B (kernel and actor slot)", count(nodes), (KERNEL_BYTES_PER_NODE + actor) as u64),
        nodes * (KERNEL_BYTES_PER_NODE + actor),
    );
    part("nodes' timers and disks".into(), topo.servers.len() as f64 * KERNEL_BYTES_PER_BUSY_NODE);
    if LinkTable::new(&sc.network.with_default_transport(M::TRANSPORT), &topo).stateful {
        let stated = model.talking > 0.0;
        let pairs = if stated { model.talking } else { 2.0 * topo.clients.len() as f64 };
        let table = if nodes <= PipeTable::DENSE_NODES_MAX as f64 {
            format!("{} x {} nodes, dense", count(nodes), count(nodes))
        } else {
            format!("{} pairs{}", count(pairs), if stated { "" } else { " (two per client: the model states none)" })
        };
        part(format!("connections: {table}"), PipeTable::bytes(nodes, pairs));
    }
    let zones = topo.zone_names.len() as f64;
    part(
        format!("links: {} zones squared", count(zones)),
        zones * zones * std::mem::size_of::<crate::net::Link>() as f64,
    );
    let entry = std::mem::size_of::<HistoryEntry>() as f64;
    part(
        format!("operation history: {} operations x {} B (and the record built from it)", count(ops), entry as u64),
        ops * entry * 2.0,
    );

    // The report's time series: per interval and op kind its counts, and the latency buckets
    // that hold values once the interval is past (`LatencyCounts::freeze`: 16 B a bucket, up to
    // ~400 for latencies spread over a decade at 2 digits); the interval being counted, a whole
    // array per op kind.
    let interval = sc.report_interval_or_default();
    let intervals = sc.run_span().0.div_ceil(interval.0.max(1)) as f64;
    let kinds = M::OP_KINDS.len() as f64;
    let histogram = |sigfig| crate::metrics::new_histogram(sigfig).distinct_values() as f64 * 8.0 + 200.0;
    if sc.workload.is_some() {
        let cells = intervals.min(ops) * kinds;
        let buckets = (ops / cells.max(1.0)).min(400.0);
        part(
            format!("report series: {} intervals of {interval} x {} op kinds", count(intervals), kinds as u64),
            cells * (200.0 + 16.0 * buckets) + kinds * histogram(2),
        );
    }
    part("latency histograms".into(), kinds * histogram(3));

    // The event queue at its fullest.
    let event_bytes = EVENT_OVERHEAD_BYTES
        + std::mem::size_of::<<M::Actor as Actor>::Msg>().max(std::mem::size_of::<<M::Actor as Actor>::Timer>()) as f64;
    let queued = model.queued + users + load.in_flight;
    part(format!("event queue: {} events at its fullest", count(queued)), queued * event_bytes);

    // Faults.
    let nemesis_faults = sc.faults.nemesis.as_ref().map_or(0.0, |n| n.expected_faults(sc.duration));
    let faults = sc.faults.schedule.len() as f64 + nemesis_faults;
    part(format!("faults: {}", count(faults)), faults * FAULT_BYTES);

    let kernel_events_per_op = 2.0;
    let events = model.events + ops * kernel_events_per_op + 2.0 * faults;
    let max_events = sc.max_events.unwrap_or(crate::scenario::MAX_EVENTS_DEFAULT);
    if trace {
        let traced = events.min(max_events as f64);
        part(format!("event trace: {} events", count(traced)), traced * TRACE_EVENT_BYTES);
    }
    Cost { parts, ops, events, max_events, unstated: model.unstated.then_some(M::NAME) }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Against every sequence of draws counted out: 4 values drawn 0 to 5 times.
    #[test]
    fn distinct_among_is_the_mean_over_every_sequence_of_draws() {
        for draws in 0..=5u32 {
            let seqs = 4u32.pow(draws);
            let total: u32 = (0..seqs)
                .map(|mut s| {
                    let mut seen = [false; 4];
                    for _ in 0..draws {
                        seen[(s % 4) as usize] = true;
                        s /= 4;
                    }
                    seen.iter().filter(|&&x| x).count() as u32
                })
                .sum();
            let want = total as f64 / seqs as f64;
            assert!((distinct_among(4.0, draws as f64) - want).abs() < 1e-12, "{draws} draws: {want}");
        }
        assert_eq!(distinct_among(1.0, 7.0), 1.0);
        assert_eq!(distinct_among(0.5, 0.2), 0.2);
    }

    #[test]
    fn the_hottest_keys_share_is_even_for_uniform_keys_and_the_zipf_head_otherwise() {
        let load = |keys: Keys, n: f64| Load { keys: n, key_spread: Some(keys), ..Load::default() };
        let even = load(Keys::Uniform { count: 1000 }, 1000.0);
        assert!((even.hottest_share(100.0) - 0.1).abs() < 1e-12);
        assert_eq!(even.hottest_share(5000.0), 1.0);
        assert_eq!(even.hottest_share(0.0), 0.0);
        // Zipf(1) over 100,000 keys: H(1000) / H(100,000) = 7.4855 / 12.0901, summed exactly.
        let exact = |c: u64, n: u64, s: f64| {
            let h = |m: u64| (1..=m).map(|k| math::powf(k as f64, -s)).sum::<f64>();
            h(c) / h(n)
        };
        let zipf = load(Keys::Zipf { count: 100_000, s: 1.0 }, 100_000.0);
        assert!((zipf.hottest_share(1000.0) - exact(1000, 100_000, 1.0)).abs() < 1e-6);
        assert!((zipf.hottest_share(1000.0) - 0.6191).abs() < 1e-3);
        let steep = load(Keys::Zipf { count: 1_000_000, s: 1.2 }, 1_000_000.0);
        assert!((steep.hottest_share(50_000.0) - exact(50_000, 1_000_000, 1.2)).abs() < 1e-4);
        // The hot key alone, then the rest evenly.
        let hot = load(Keys::HotKey { count: 101, share: 0.5, every: crate::time::Duration::from_secs(1) }, 101.0);
        assert!((hot.hottest_share(1.0) - 0.5).abs() < 1e-12);
        assert!((hot.hottest_share(51.0) - 0.75).abs() < 1e-12);
        // No workload's distribution: even over the keys.
        assert!((Load { keys: 200.0, ..Load::default() }.hottest_share(50.0) - 0.25).abs() < 1e-12);
    }

    #[test]
    fn key_skew_is_one_when_even_and_grows_with_zipf() {
        assert_eq!(key_skew(&Keys::Uniform { count: 1000 }), 1.0);
        assert!((key_skew(&Keys::Zipf { count: 1000, s: 0.0 }) - 1.0).abs() < 1e-9);
        // s = 1, 1,000 keys: H2 / H1^2 = 1.6439 / 7.4855^2 -> x 1000 = 29.3.
        assert!((key_skew(&Keys::Zipf { count: 1000, s: 1.0 }) - 29.34).abs() < 0.1);
        // The tail integral carries on where the exact sum stops.
        let big = key_skew(&Keys::Zipf { count: 10_000_000, s: 1.1 });
        assert!(big > 1000.0, "{big}");
    }

    #[test]
    fn sizes_and_counts_read_well() {
        assert_eq!(bytes(512.0), "512 B");
        assert_eq!(bytes(3.4e6), "3.4 MB");
        assert_eq!(bytes(1.92e12), "1.9 TB");
        assert_eq!(count(950.0), "950");
        assert_eq!(count(1.25e6), "1.2 million");
        assert_eq!(count(4e12), "4.0e12");
    }

    /// Two models alike but for their footprint: one states none, one states a part.
    mod models {
        use crate::actor::{Actor, Ctx, Message, NodeId};
        use crate::model::{Model, ModelReport, RunView};
        use crate::rng::Prng;
        use crate::topology::Topology;

        #[derive(Clone, Debug)]
        pub struct Ping;
        impl Message for Ping {
            fn kind(&self) -> &'static str {
                "ping"
            }
        }
        pub struct Node;
        impl Actor for Node {
            type Msg = Ping;
            type Timer = ();
            type Record = ();
            fn on_start(&mut self, _: &mut Ctx<'_, Self>) {}
            fn on_msg(&mut self, _: &mut Ctx<'_, Self>, _: NodeId, _: Ping) {}
        }
        /// A model named `$name` of one op kind, with the footprint given, if any.
        macro_rules! model {
            ($model:ident, $name:literal $(, $footprint:item)?) => {
                pub struct $model;
                impl Model for $model {
                    const NAME: &'static str = $name;
                    const ABOUT: &'static str = "a cost estimate's test";
                    const OP_KINDS: &'static [&'static str] = &["get"];
                    const CHECKS: &'static [&'static str] = &[];
                    type Config = ();
                    type Actor = Node;
                    fn factory(_: &(), _: &Topology, _: &mut Prng) -> Box<dyn FnMut(NodeId) -> Node> {
                        Box::new(|_| Node)
                    }
                    $($footprint)?
                    fn report(_: &(), _: &RunView<'_, Node>) -> ModelReport {
                        ModelReport::default()
                    }
                }
            };
        }
        model!(Silent, "silent");
        model!(
            Stated,
            "stated",
            fn footprint(_: &(), _: &Topology, load: &crate::cost::Load) -> crate::cost::Footprint {
                crate::cost::Footprint { events: load.total() * 4.0, ..Default::default() }
                    .part("values: 1 kB per key", load.keys * 1e3)
            }
        );
    }

    #[test]
    fn a_final_read_adds_a_round_of_every_client_each_gap_of_the_settle_phase() {
        let file = |final_read: &str| {
            format!(
                r#"(name: "x", model: "stated", duration: "10s", settle: "2s", topology: (servers: 3, clients: 4),
                   workload: Some((ops: [("get", 1.0)], arrival: OpenLoop(rate_per_s: 100.0), {final_read})))"#
            )
        };
        let plain = estimate::<models::Stated>(&ron::from_str(&file("")).unwrap(), false);
        let read = r#"final_read: Some((op: "get", every: "250ms"))"#;
        let with = estimate::<models::Stated>(&ron::from_str(&file(read)).unwrap(), false);
        // 2 s / 250 ms = 8 rounds of 4 clients.
        assert!((with.ops - plain.ops - 32.0).abs() < 1e-9, "{} against {}", with.ops, plain.ops);
        assert!(with.events > plain.events);
    }

    #[test]
    fn an_estimate_without_the_model_s_footprint_says_it_is_a_lower_bound() {
        let file = |model: &str| {
            format!(
                r#"(name: "x", model: "{model}", duration: "10s", topology: (servers: 3, clients: 1),
                   workload: Some((ops: [("get", 1.0)], arrival: OpenLoop(rate_per_s: 100.0), keys: Uniform(count: 500))))"#
            )
        };
        let silent = estimate::<models::Silent>(&ron::from_str(&file("silent")).unwrap(), false);
        assert_eq!(silent.unstated, Some("silent"));
        let shown = silent.to_string();
        assert!(shown.contains("a lower bound: the `silent` model states no footprint"), "{shown}");

        let stated = estimate::<models::Stated>(&ron::from_str(&file("stated")).unwrap(), false);
        assert_eq!(stated.unstated, None);
        assert!(!stated.to_string().contains("lower bound"), "{stated}");
        // The part and the events it states are what the two estimates differ by.
        assert!((stated.bytes() - silent.bytes() - 500.0 * 1e3).abs() < 1.0, "{stated}\n{silent}");
        assert!((stated.events - silent.events - 1000.0 * 4.0).abs() < 1.0);
    }
}
