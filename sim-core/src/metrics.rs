//! Measurement: the operation history, latency histograms per operation kind (hdrhistogram's
//! buckets, counted by [`LatencyCounts`]), outcome counts, per-interval series, named counters and gauges,
//! and what each fault actually did.

use crate::actor::{NodeId, OpId, Outcome, Reply};
use crate::crosscheck::{InFlight, Stations};
use crate::latency::LatencyCounts;
use crate::time::{Duration, Time};
use hdrhistogram::Histogram;
use std::collections::BTreeMap;

/// One operation attempt, Jepsen-style: invoked at `invoke`, completed (or not) later.
#[derive(Clone, Debug)]
pub struct HistoryEntry {
    pub op: OpId,
    pub client: NodeId,
    pub kind: u16,
    pub key: u64,
    /// The workload value: the first attempt's id plus one ([`op_of_value`]), a retry's the same
    /// as its first attempt's.
    pub value: u64,
    pub attempt: u32,
    /// The intended start on the true clock (open loop: the scheduled arrival).
    pub invoke: Time,
    /// When it completed, if it did (`complete.get()`).
    pub complete: Completion,
    /// `None`: still pending when the run ended (an "info" in Jepsen's terms).
    pub outcome: Option<Outcome>,
    pub reply: Reply,
}

/// When an attempt completed, if it did: an `Option<Time>` in 8 bytes, `u64::MAX` standing for
/// "not completed" (no run reaches that instant). `Option<Time>` is 16 bytes, and every history
/// entry holds one (docs/performance.md, "Round twenty-one"). Shown as the `Option` it stands for.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Completion(u64);

impl Completion {
    pub const NOT: Completion = Completion(u64::MAX);
    pub fn at(t: Time) -> Completion {
        assert!(t.0 != u64::MAX, "a completion at the end of time");
        Completion(t.0)
    }
    pub fn get(self) -> Option<Time> {
        (self.0 != u64::MAX).then_some(Time(self.0))
    }
    pub fn is_some(self) -> bool {
        self.0 != u64::MAX
    }
}

impl Default for Completion {
    fn default() -> Completion {
        Completion::NOT
    }
}

impl From<Option<Time>> for Completion {
    fn from(t: Option<Time>) -> Completion {
        t.map_or(Completion::NOT, Completion::at)
    }
}

impl std::fmt::Debug for Completion {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.get().fmt(f)
    }
}

// The history is a run's largest structure: every byte of an entry is a byte per operation.
const _: () = assert!(std::mem::size_of::<HistoryEntry>() == 64);

impl HistoryEntry {
    /// The first attempt's id (this entry's own unless it is a retry), read from the value every
    /// attempt carries: a field of its own made an entry 8 bytes larger (a byte of history costs
    /// wall time; docs/performance.md, "Round twenty").
    pub fn logical(&self) -> OpId {
        op_of_value(self.value).unwrap_or(self.op)
    }

    pub fn latency(&self) -> Option<Duration> {
        self.complete.get().map(|c| c - self.invoke)
    }

    /// Whether the attempt was live at some instant of `[start, end)`: invoked before `end` and
    /// not completed before `start` (one still pending is live to the end). A fault window judges
    /// the operations it overlaps: one invoked just before a crash and killed by it is the crash's.
    pub fn overlaps(&self, start: Time, end: Time) -> bool {
        self.invoke < end && self.complete.0 >= start.0
    }
}

/// The highest latency a histogram records; larger values are clamped.
const LATENCY_MAX_NS: u64 = 3_600_000_000_000;

pub(crate) fn new_histogram(sigfig: u8) -> Histogram<u64> {
    Histogram::new_with_bounds(1, LATENCY_MAX_NS, sigfig).expect("histogram bounds")
}

/// Per interval and op kind: counts by outcome and a latency histogram.
#[derive(Clone, Debug)]
pub struct IntervalStats {
    pub counts: [u64; 4],
    /// Latencies of the interval's `Ok` completions (2 significant digits).
    pub latency: LatencyCounts,
}

/// What one fault did (so a fault that did nothing is visible).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct FaultEffect {
    pub label: String,
    pub start: Time,
    /// `None`: never ended before the liveness phase.
    pub end: Option<Time>,
    /// Messages dropped because of this fault (cut link, crashed or unknown node).
    pub messages_dropped: u64,
    /// Events held back while a node was paused; messages slowed by a delay fault.
    pub events_delayed: u64,
    /// Timers and pending writes lost in a crash.
    pub timers_lost: u64,
    pub writes_lost: u64,
    /// Operations live during the fault window (invoked before its end, not completed before its
    /// start) that did not end `Ok`.
    pub ops_hit: u64,
    /// Messages delivered to a node while this outage was on (its part answered them by the
    /// outage's mode).
    pub messages_in_outage: u64,
}

#[derive(Clone, Debug)]
pub struct Metrics {
    pub op_kinds: Vec<String>,
    pub interval: Duration,
    /// Per op kind: whole-run latency (ns) of operations that ended `Ok` (3 significant digits;
    /// [`LatencyCounts::histogram`] for percentiles).
    pub latency_ok: Vec<LatencyCounts>,
    /// Per op kind: counts by outcome (`Outcome::ALL` order).
    pub outcomes: Vec<[u64; 4]>,
    /// Per interval (by completion time), per op kind.
    pub series: Vec<Vec<IntervalStats>>,
    pub counters: BTreeMap<&'static str, u64>,
    /// Counters of part instances, by `(scope, name)`; reported as `scope.name`.
    pub scoped_counters: Scoped<ScopedCounter>,
    /// Cluster-wide levels by `(scope, name)` (see [`crate::actor::Effect::Level`]).
    pub levels: Scoped<Level>,
    /// Per gauge: (last value per interval, overall max).
    pub gauges: BTreeMap<&'static str, (Vec<Option<f64>>, f64)>,
    /// Messages sent / delivered / dropped per message kind.
    pub messages: MessageTable,
    pub faults: Vec<FaultEffect>,
    /// Per op kind: operations in flight integrated over time (Little's law's `L`).
    pub in_flight: Vec<InFlight>,
    /// Queueing stations by `(scope, node)` (see [`crate::crosscheck`]).
    pub stations: Stations,
    /// When the levels and in-flight integrals were closed (the simulation's last instant).
    pub finished_at: Time,
    /// The reporting interval last looked up (see [`IntervalCursor`]).
    cursor: IntervalCursor,
}

/// The reporting interval of the last instant looked up, with its bounds. Completions, counts
/// and gauges arrive in time order, so the next one almost always falls in the same interval:
/// two compares instead of a division (a 64-bit division is tens of cycles, on every operation).
#[derive(Clone, Copy, Debug, Default)]
struct IntervalCursor {
    index: usize,
    /// `[start, end)` of interval `index`, of width `width` (empty until the first look-up).
    start: u64,
    end: u64,
    width: u64,
}

/// Counts per message kind. A short `Vec` searched by pointer first: message kinds are
/// `&'static str`s and few, and this sits on the hot path of every send and delivery (a `BTreeMap`
/// of string keys cost ~10% of PHOLD throughput). An open-addressed index by the kind's address
/// (`slots`, row + 1, 0 = empty; linear probing) finds a kind seen before in one compare unless
/// its address shares a slot with another's, and then in a few (direct-mapped, one kind a slot,
/// kinds of Dynamo's evicted each other: 7% of its sends and deliveries took the slow path). The
/// rows' order is the order kinds were first seen, which addresses do not change.
#[derive(Clone, Debug)]
pub struct MessageTable {
    rows: Vec<(&'static str, MessageCounts)>,
    slots: [u16; MESSAGE_SLOTS],
}

impl Default for MessageTable {
    fn default() -> Self {
        MessageTable { rows: Vec::new(), slots: [0; MESSAGE_SLOTS] }
    }
}

/// Slots of the index, a power of two. Sparse on purpose: a kind whose slot another kind took
/// first is found at the second probe, and whether a lookup takes one probe or two depends on the
/// kind, which changes from one message to the next (a branch mispredicted on most of them). With
/// 32 slots, 28% of the Dynamo cut's lookups took two (callgrind: 328 k mispredicts, 6.5% of the
/// run's conditional ones); a dozen kinds in 256 slots rarely share one.
const MESSAGE_SLOTS: usize = 256;

#[inline]
fn message_slot(kind: &'static str) -> usize {
    ((kind.as_ptr() as usize as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15) >> (64 - MESSAGE_SLOTS.trailing_zeros()))
        as usize
}

impl MessageTable {
    #[inline]
    pub(crate) fn get_mut(&mut self, kind: &'static str) -> &mut MessageCounts {
        let mut slot = message_slot(kind);
        for _ in 0..MESSAGE_SLOTS {
            let i = self.slots[slot] as usize;
            if i == 0 {
                return self.get_mut_slow(kind, Some(slot));
            }
            if std::ptr::eq(self.rows[i - 1].0, kind) {
                return &mut self.rows[i - 1].1;
            }
            slot = (slot + 1) % MESSAGE_SLOTS;
        }
        self.get_mut_slow(kind, None)
    }

    /// A kind not in the index: its row (a new one if its name is new), indexed at the `empty`
    /// slot if the index has room and the row is this kind's own.
    #[inline(never)]
    fn get_mut_slow(&mut self, kind: &'static str, empty: Option<usize>) -> &mut MessageCounts {
        let i = match self.rows.iter().position(|(k, _)| std::ptr::eq(*k, kind)) {
            Some(i) => i,
            None => match self.rows.iter().position(|(k, _)| *k == kind) {
                Some(i) => i,
                None => {
                    self.rows.push((kind, MessageCounts::default()));
                    self.rows.len() - 1
                }
            },
        };
        // A kind whose name is stored twice (two `&'static str`s) keeps its first row; only a
        // pointer-equal kind is found through the index.
        if let Some(slot) = empty
            && std::ptr::eq(self.rows[i].0, kind)
            && let Ok(row) = u16::try_from(i + 1)
        {
            self.slots[slot] = row;
        }
        &mut self.rows[i].1
    }

    pub fn get(&self, kind: &str) -> Option<&MessageCounts> {
        self.rows.iter().find(|(k, _)| *k == kind).map(|(_, c)| c)
    }

    /// By kind name, in name order. The same kind name used by two different `&'static str`s is
    /// summed.
    pub fn iter(&self) -> impl Iterator<Item = (&'static str, MessageCounts)> {
        let mut merged: BTreeMap<&'static str, MessageCounts> = BTreeMap::new();
        for (k, c) in &self.rows {
            let m = merged.entry(k).or_default();
            m.sent += c.sent;
            m.delivered += c.delivered;
            m.dropped_partition += c.dropped_partition;
            m.dropped_loss += c.dropped_loss;
            m.dropped_down += c.dropped_down;
            m.dropped_overflow += c.dropped_overflow;
            m.duplicated += c.duplicated;
        }
        merged.into_iter()
    }
}

impl std::ops::Index<&str> for MessageTable {
    type Output = MessageCounts;
    fn index(&self, kind: &str) -> &MessageCounts {
        self.get(kind).unwrap_or_else(|| panic!("no messages of kind `{kind}`"))
    }
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct MessageCounts {
    pub sent: u64,
    pub delivered: u64,
    pub dropped_partition: u64,
    pub dropped_loss: u64,
    pub dropped_down: u64,
    pub dropped_overflow: u64,
    pub duplicated: u64,
}

impl Metrics {
    pub fn new(op_kinds: &[&str], interval: Duration) -> Metrics {
        Metrics {
            op_kinds: op_kinds.iter().map(|s| s.to_string()).collect(),
            interval,
            latency_ok: op_kinds.iter().map(|_| LatencyCounts::new(LATENCY_MAX_NS, 3)).collect(),
            outcomes: vec![[0; 4]; op_kinds.len()],
            series: Vec::new(),
            counters: BTreeMap::new(),
            scoped_counters: Scoped::default(),
            levels: Scoped::default(),
            gauges: BTreeMap::new(),
            messages: MessageTable::default(),
            faults: Vec::new(),
            in_flight: op_kinds.iter().map(|_| InFlight::default()).collect(),
            stations: Stations::default(),
            finished_at: Time::ZERO,
            cursor: IntervalCursor::default(),
        }
    }

    /// The index of the reporting interval holding `t`: `t / interval`.
    #[inline]
    fn interval_index(&mut self, t: Time) -> usize {
        let c = &self.cursor;
        if t.0 >= c.start && t.0 < c.end && c.width == self.interval.0 {
            return c.index;
        }
        self.interval_index_slow(t)
    }

    #[cold]
    #[inline(never)]
    fn interval_index_slow(&mut self, t: Time) -> usize {
        let w = self.interval.0.max(1);
        let i = t.0 / w;
        self.cursor =
            IntervalCursor { index: i as usize, start: i * w, end: (i + 1).saturating_mul(w), width: self.interval.0 };
        i as usize
    }

    pub(crate) fn record_completion(&mut self, kind: u16, outcome: Outcome, latency: Duration, at: Time) {
        let k = kind as usize;
        let o = outcome as usize;
        self.outcomes[k][o] += 1;
        let i = self.interval_index(at);
        if self.series.len() <= i {
            self.grow_series(i);
        }
        let cell = &mut self.series[i][k];
        cell.counts[o] += 1;
        if outcome == Outcome::Ok {
            let ns = latency.0.clamp(1, LATENCY_MAX_NS);
            cell.latency.record(ns);
            self.latency_ok[k].record(ns);
        }
    }

    /// Rows of the per-interval series up to and including interval `i`. Completions come in
    /// time order, so the rows before `i` are done: their latency counts are frozen to the
    /// buckets that hold values ([`LatencyCounts::freeze`]), and their arrays count row `i`'s.
    /// A long run's thousands of intervals kept ~37 kB of array each (2 digits), most of it
    /// zeros.
    #[cold]
    #[inline(never)]
    fn grow_series(&mut self, i: usize) {
        let kinds = self.op_kinds.len();
        let mut arrays: Vec<Vec<u64>> = match self.series.last_mut() {
            Some(row) => row.iter_mut().map(|c| c.latency.freeze()).collect(),
            None => Vec::new(),
        };
        let model = LatencyCounts::lazy(LATENCY_MAX_NS, 2);
        while self.series.len() <= i {
            // The rows skipped over (no completion in them) need no array.
            let last = self.series.len() == i;
            self.series.push(
                (0..kinds)
                    .map(|k| {
                        let array =
                            if last { arrays.get_mut(k).map(std::mem::take).unwrap_or_default() } else { Vec::new() };
                        IntervalStats { counts: [0; 4], latency: model.empty_like(array) }
                    })
                    .collect(),
            );
        }
    }

    pub(crate) fn record_gauge(&mut self, name: &'static str, value: f64, at: Time) {
        let i = self.interval_index(at);
        let entry = self.gauges.entry(name).or_insert_with(|| (Vec::new(), f64::MIN));
        if entry.0.len() <= i {
            entry.0.resize(i + 1, None);
        }
        entry.0[i] = Some(value);
        entry.1 = entry.1.max(value);
    }

    pub(crate) fn record_count_in(&mut self, scope: &'static str, name: &'static str, delta: u64, at: Time) {
        let i = self.interval_index(at);
        let c = self.scoped_counters.get_mut(scope, name);
        c.total += delta;
        if c.per_interval.len() <= i {
            c.per_interval.resize(i + 1, 0);
        }
        c.per_interval[i] += delta;
    }

    pub(crate) fn record_level(&mut self, scope: &'static str, name: &'static str, node: NodeId, delta: i64, at: Time) {
        let interval = self.interval;
        self.levels.get_mut(scope, name).change(node, delta, at, interval);
    }

    /// A crashed node's queues and connections die with it: its share of every level goes.
    pub(crate) fn drop_level_shares(&mut self, node: NodeId, at: Time) {
        let interval = self.interval;
        for (_, level) in self.levels.rows.iter_mut() {
            let share = level.shares.get(node.index()).copied().unwrap_or(0);
            if share != 0 {
                level.change(node, -share, at, interval);
            }
        }
    }

    /// Closes every level's last interval at `end`, and the in-flight integrals.
    pub(crate) fn finish_levels(&mut self, end: Time) {
        for f in &mut self.in_flight {
            f.finish(end);
        }
        self.finished_at = end;
        let interval = self.interval;
        for (_, level) in self.levels.rows.iter_mut() {
            level.advance(end, interval);
        }
    }

    /// A counter of a part instance (`scope.name`).
    pub fn scoped_counter(&self, scope: &str, name: &str) -> u64 {
        self.scoped(scope, name).map(|c| c.total).unwrap_or(0)
    }

    /// A counter of a part instance per reporting interval (index `i` covers
    /// `[i * interval, (i + 1) * interval)`, by the time of the count); empty if it never counted.
    /// A design's report divides two of these for a ratio over time (a cache's hits over lookups).
    pub fn scoped_counter_series(&self, scope: &str, name: &str) -> &[u64] {
        self.scoped(scope, name).map(|c| c.per_interval.as_slice()).unwrap_or(&[])
    }

    fn scoped(&self, scope: &str, name: &str) -> Option<&ScopedCounter> {
        self.scoped_counters.get(scope, name)
    }

    pub fn counter(&self, name: &str) -> u64 {
        self.counters.get(name).copied().unwrap_or(0)
    }

    pub fn op_kind_index(&self, name: &str) -> Option<usize> {
        self.op_kinds.iter().position(|k| k == name)
    }
}

/// Values by `(scope, name)` of `&'static str`s: a short `Vec` searched by pointer first (the
/// names are literals in part code, and this sits on the path of every counted event), by text
/// when the pointers differ.
#[derive(Clone, Debug)]
pub struct Scoped<V> {
    rows: Vec<((&'static str, &'static str), V)>,
}

impl<V> Default for Scoped<V> {
    fn default() -> Self {
        Scoped { rows: Vec::new() }
    }
}

impl<V: Default> Scoped<V> {
    #[inline]
    pub fn get_mut(&mut self, scope: &'static str, name: &'static str) -> &mut V {
        let same = |k: &(&str, &str)| std::ptr::eq(k.0, scope) && std::ptr::eq(k.1, name);
        let i = match self.rows.iter().position(|(k, _)| same(k)) {
            Some(i) => i,
            None => match self.rows.iter().position(|(k, _)| k.0 == scope && k.1 == name) {
                Some(i) => i,
                None => {
                    self.rows.push(((scope, name), V::default()));
                    self.rows.len() - 1
                }
            },
        };
        &mut self.rows[i].1
    }
}

impl<V> Scoped<V> {
    /// The value at `(scope, name)`, if anything was recorded there.
    pub fn get(&self, scope: &str, name: &str) -> Option<&V> {
        self.rows.iter().find(|(k, _)| k.0 == scope && k.1 == name).map(|(_, v)| v)
    }

    /// By `(scope, name)`, in name order.
    pub fn iter(&self) -> impl Iterator<Item = (&(&'static str, &'static str), &V)> {
        let mut rows: Vec<_> = self.rows.iter().map(|(k, v)| (k, v)).collect();
        rows.sort_by(|a, b| a.0.cmp(b.0));
        rows.into_iter()
    }
}

/// A counter of a part instance: its total, and its increments per reporting interval.
#[derive(Clone, Debug, Default)]
pub struct ScopedCounter {
    pub total: u64,
    pub per_interval: Vec<u64>,
}

/// A cluster-wide level: the sum of every node's share, followed over time.
#[derive(Clone, Debug, Default)]
pub struct Level {
    /// The current level (sum of the shares).
    pub value: i64,
    pub max: i64,
    /// Per node (by index): its share.
    shares: Vec<i64>,
    since: Time,
    /// Per interval: the integral of the level over time (level x ns) and the interval's maximum.
    pub intervals: Vec<(f64, i64)>,
}

impl Level {
    fn change(&mut self, node: NodeId, delta: i64, at: Time, interval: Duration) {
        self.advance(at, interval);
        if self.shares.len() <= node.index() {
            self.shares.resize(node.index() + 1, 0);
        }
        self.shares[node.index()] += delta;
        self.value += delta;
        self.max = self.max.max(self.value);
        let i = (at.0 / interval.0.max(1)) as usize;
        self.cell(i).1 = self.cell(i).1.max(self.value);
    }

    fn cell(&mut self, i: usize) -> &mut (f64, i64) {
        if self.intervals.len() <= i {
            self.intervals.resize(i + 1, (0.0, 0));
        }
        &mut self.intervals[i]
    }

    /// Accumulates the level from `since` to `to` into the intervals it spans.
    fn advance(&mut self, to: Time, interval: Duration) {
        let w = interval.0.max(1);
        let mut t = self.since.0;
        debug_assert!(to.0 >= t, "a level moved back in time");
        if t / w == to.0 / w {
            // Within one interval: the common case.
            let value = self.value;
            let cell = self.cell((t / w) as usize);
            cell.0 += value as f64 * (to.0 - t) as f64;
            cell.1 = cell.1.max(value);
            self.since = to;
            return;
        }
        while t < to.0 {
            let i = (t / w) as usize;
            let edge = ((t / w) + 1).saturating_mul(w).min(to.0);
            let value = self.value;
            let cell = self.cell(i);
            cell.0 += value as f64 * (edge - t) as f64;
            cell.1 = cell.1.max(value);
            t = edge;
        }
        self.since = self.since.max(to);
    }

    /// Time-weighted mean of the level over interval `i` of width `interval`.
    pub fn mean_in(&self, i: usize, interval: Duration) -> f64 {
        self.intervals.get(i).map(|c| c.0 / interval.0.max(1) as f64).unwrap_or(0.0)
    }

    /// Time-weighted mean over `[0, end)`.
    pub fn mean(&self, end: Time) -> f64 {
        if end.0 == 0 {
            return 0.0;
        }
        self.intervals.iter().map(|c| c.0).sum::<f64>() / end.0 as f64
    }
}

/// The operation that wrote workload value `v`. A value is its operation's id plus one (the id of
/// the first attempt: a retry writes the value of its first attempt), so 0 is never written and
/// stands for "nothing written yet".
pub fn op_of_value(v: u64) -> Option<OpId> {
    v.checked_sub(1).and_then(|id| u32::try_from(id).ok()).map(OpId)
}

/// A workload value as a report names it, in the operations' id space (the `op` ids of the
/// history, the trace and `blamed`): `op 19773's value (19774)`, or `the initial value (0)`.
pub fn describe_value(v: u64) -> String {
    match op_of_value(v) {
        Some(op) => format!("op {}'s value ({v})", op.0),
        None if v == 0 => "the initial value (0)".to_string(),
        None => format!("value {v}, which no operation wrote"),
    }
}

#[cfg(test)]
mod completion {
    use super::*;

    /// Reads back as the `Option<Time>` it was made from, at the edges too, and shows as one.
    #[test]
    fn a_completion_is_the_option_it_stands_for() {
        for t in [None, Some(Time::ZERO), Some(Time(1)), Some(Time(u64::MAX - 1))] {
            let c = Completion::from(t);
            assert_eq!((c.get(), c.is_some()), (t, t.is_some()));
            assert_eq!(format!("{c:?}"), format!("{t:?}"));
        }
        assert_eq!(Completion::default(), Completion::NOT);
        assert_eq!(Completion::at(Time(5)), Some(Time(5)).into());
        assert_ne!(Completion::at(Time(5)), Completion::at(Time(6)));
        // The entry holds it in 8 bytes, where `Option<Time>` took 16.
        assert_eq!(std::mem::size_of::<Completion>(), 8);
    }

    /// The one instant that stands for "not completed" is refused as a completion, not taken
    /// for one.
    #[test]
    #[should_panic(expected = "a completion at the end of time")]
    fn a_completion_at_the_end_of_time_is_refused() {
        let _ = Completion::at(Time(u64::MAX));
    }
}

#[cfg(test)]
mod value_ids {
    use super::*;

    #[test]
    fn a_value_names_the_operation_that_wrote_it() {
        assert_eq!(op_of_value(19_774), Some(OpId(19_773)));
        assert_eq!(op_of_value(0), None);
        assert_eq!(describe_value(19_774), "op 19773's value (19774)");
        assert_eq!(describe_value(0), "the initial value (0)");
        // Past the ids of 2^32 operations: a value a model wrote itself, named as such.
        assert_eq!(op_of_value(u32::MAX as u64 + 1), Some(OpId(u32::MAX)));
        assert_eq!(op_of_value(u32::MAX as u64 + 2), None);
        assert_eq!(describe_value(1 << 40), "value 1099511627776, which no operation wrote");
    }

    /// An id kept in 64 bits (a checker's) converts while it fits, and says so when it does not.
    #[test]
    fn an_operation_id_is_32_bits() {
        assert_eq!(OpId::new(7), OpId(7));
        assert_eq!(OpId::new(u32::MAX as u64).index(), u32::MAX as usize);
        let past = std::panic::catch_unwind(|| OpId::new(u32::MAX as u64 + 1)).unwrap_err();
        assert_eq!(past.downcast_ref::<String>().map(String::as_str), Some("operation id 4294967296 is past 2^32 - 1"));
    }
}

#[cfg(test)]
mod intervals {
    use super::*;

    /// Completions at known instants, in time order and then out of it: each lands in the
    /// interval `t / interval` and both histograms hold exactly the `Ok` latencies, as a fresh
    /// histogram recording the same values directly does.
    #[test]
    fn a_completion_lands_in_the_interval_of_its_instant_in_any_order() {
        let s = 1_000_000_000;
        let mut m = Metrics::new(&["read", "write"], Duration(s));
        // (kind, outcome, latency ns, at ns): interval 0 gets three, interval 2 two, interval 5
        // one, then a look back at interval 1 and at the last instant of interval 2.
        let ops: [(u16, Outcome, u64, u64); 8] = [
            (0, Outcome::Ok, 1_500, 0),
            (0, Outcome::Ok, 2_500_000, s - 1),
            (1, Outcome::Timeout, 9_000_000, s / 2),
            (0, Outcome::Ok, 40_000, 2 * s),
            (1, Outcome::Ok, 0, 2 * s + 7),
            (0, Outcome::Fail, 3_000, 5 * s),
            (0, Outcome::Ok, 123_456_789, s),
            (1, Outcome::Ok, 77, 3 * s - 1),
        ];
        for &(kind, outcome, ns, at) in &ops {
            m.record_completion(kind, outcome, Duration(ns), Time(at));
        }
        assert_eq!(m.series.len(), 6);
        let counts = |i: usize, k: usize| m.series[i][k].counts;
        assert_eq!(counts(0, 0), [2, 0, 0, 0]);
        assert_eq!(counts(0, 1), [0, 0, 1, 0]);
        assert_eq!(counts(1, 0), [1, 0, 0, 0]);
        assert_eq!(counts(2, 0), [1, 0, 0, 0]);
        assert_eq!(counts(2, 1), [2, 0, 0, 0]);
        assert_eq!(counts(3, 0), [0; 4]);
        assert_eq!(counts(5, 0), [0, 1, 0, 0]);
        assert_eq!(m.outcomes, [[4, 1, 0, 0], [2, 0, 1, 0]]);
        // Latency 0 is clamped to 1 ns, as before.
        for (k, latencies) in [(0, vec![1_500, 2_500_000, 40_000, 123_456_789]), (1, vec![1, 77])] {
            let mut direct = new_histogram(3);
            for v in &latencies {
                direct.record(*v).unwrap();
            }
            let h = m.latency_ok[k].histogram();
            assert_eq!((h.len(), h.max(), h.min()), (direct.len(), direct.max(), direct.min()));
            for q in [0.0, 0.5, 0.9, 0.99, 1.0] {
                assert_eq!(h.value_at_quantile(q), direct.value_at_quantile(q));
            }
        }
        assert_eq!(m.series[2][1].latency.len(), 2);
        assert_eq!(m.series[2][1].latency.histogram().max(), 77);
    }

    /// A gauge and a scoped count after a change of the interval's width go by the new width.
    #[test]
    fn the_cached_interval_follows_a_new_width() {
        let mut m = Metrics::new(&["x"], Duration(10));
        m.record_count_in("cache", "hit", 1, Time(15));
        m.interval = Duration(100);
        m.record_count_in("cache", "hit", 2, Time(15));
        m.record_gauge("depth", 3.0, Time(250));
        assert_eq!(m.scoped_counter_series("cache", "hit"), [2, 1]);
        assert_eq!(m.gauges["depth"].0, [None, None, Some(3.0)]);
    }
}

#[cfg(test)]
mod message_table {
    use super::*;
    use crate::rng::{Prng, Stream};

    /// The table counts by name whatever its index does: more kinds than slots, and names stored
    /// twice under different addresses, against a map by name.
    #[test]
    fn the_message_table_counts_every_kind_by_name() {
        let distinct = MESSAGE_SLOTS + 5;
        let names: Vec<&'static str> = (0..distinct + 3).map(|i| &*format!("kind{}", i % distinct).leak()).collect();
        let mut table = MessageTable::default();
        let mut want: BTreeMap<&str, u64> = BTreeMap::new();
        let mut rng = Prng::new(3, Stream::Setup);
        for _ in 0..20_000 {
            let kind = names[rng.below(names.len() as u64) as usize];
            table.get_mut(kind).sent += 1;
            *want.entry(kind).or_default() += 1;
        }
        let got: BTreeMap<&str, u64> = table.iter().map(|(k, c)| (k, c.sent)).collect();
        assert_eq!(got, want);
        for (k, n) in &want {
            assert_eq!(table.get(k).map(|c| c.sent), Some(*n));
        }
    }
}
