//! What a model exports: its configuration, its actors, and its checkers.

use crate::actor::{Actor, NodeId, OpId};
use crate::metrics::HistoryEntry;
use crate::rng::Prng;
use crate::time::{Duration, Time};
use crate::topology::Topology;
use crate::world::Sim;
use serde::{Serialize, de::DeserializeOwned};
use std::collections::BTreeMap;
use std::fmt::Debug;

/// A system design, runnable from a scenario file.
pub trait Model: 'static {
    /// The name scenario files use in `model: "..."`.
    const NAME: &'static str;
    /// One line for `simctl list`.
    const ABOUT: &'static str;
    /// The operations its clients perform, as the workload names them.
    const OP_KINDS: &'static [&'static str];
    /// The transport of the real system, used unless the scenario's `network.transport` says
    /// otherwise: `Connection` (TCP: in order per pair of nodes) or `Datagram`. Say which in the
    /// model's docs.
    const TRANSPORT: crate::net::Transport = crate::net::Transport::Datagram;
    /// The names of the checks its `report` makes (a scenario's `invariants`, `may_be_empty` and
    /// `expect` are validated against them; a report with another name is a model bug).
    const CHECKS: &'static [&'static str];
    /// The checks among [`Model::CHECKS`] that fail when the system makes no progress (a liveness
    /// check such as "every message produced is eventually consumed", or a coverage bound): a good
    /// scenario that counts one of them needs no availability or throughput SLA.
    const PROGRESS_CHECKS: &'static [&'static str] = &[];
    /// Whether the report reads the incarnations crashes ended ([`RunView::incarnations`]): its
    /// measures sum counters the actors keep (a part's stats), and a crash would take a node's
    /// counts so far out of the sum. The kernel then keeps each crashed actor until the report
    /// (the memory of a node per crash) instead of dropping it.
    const KEEP_CRASHED_ACTORS: bool = false;
    /// The `config: (...)` section of a scenario; `#[serde(deny_unknown_fields)]` and defaults.
    type Config: DeserializeOwned + Serialize + Clone + Debug + Default + 'static;
    type Actor: Actor;

    /// Checks the configuration against the topology; `(field path, message)` per problem, with
    /// paths like `config.replicas`.
    fn validate(_config: &Self::Config, _topo: &Topology) -> Vec<(String, String)> {
        Vec::new()
    }

    /// Checks the parts of the configuration scheduled in time against the run's end (`duration +
    /// settle`), e.g. an operator action scheduled after it; `(field path, message)` per problem.
    fn validate_schedule(_config: &Self::Config, _run_end: Duration) -> Vec<(String, String)> {
        Vec::new()
    }

    /// Builds the node factory (called again for a node that restarts after a crash). `setup` is
    /// the seed's setup stream, for data the model generates up front (a synthetic web, say).
    fn factory(config: &Self::Config, topo: &Topology, setup: &mut Prng) -> Box<dyn FnMut(NodeId) -> Self::Actor>;

    /// What a run under `load` costs the model: its state at its fullest, part by part, and the
    /// events it causes. The kernel adds its own costs and refuses a run that would not fit in
    /// memory before it starts (see [`crate::cost`]). A model that does not state it gets an
    /// estimate of the kernel's parts alone, shown as a lower bound.
    fn footprint(_config: &Self::Config, _topo: &Topology, _load: &crate::cost::Load) -> crate::cost::Footprint {
        crate::cost::Footprint { unstated: true, ..Default::default() }
    }

    /// After the run: invariants, named measurements, tables. Called once.
    fn report(config: &Self::Config, run: &RunView<'_, Self::Actor>) -> ModelReport;
}

/// What a model's checkers can read after a run.
pub struct RunView<'a, A: Actor> {
    pub sim: &'a Sim<A>,
    /// End of the main phase (faults and workload); the liveness phase follows until `end`.
    pub main_end: Time,
    pub end: Time,
}

impl<'a, A: Actor> RunView<'a, A> {
    pub fn history(&self) -> &'a [HistoryEntry] {
        self.sim.history()
    }
    pub fn topology(&self) -> &'a Topology {
        self.sim.topology()
    }
    /// The running actors of the servers.
    pub fn servers(&self) -> impl Iterator<Item = (NodeId, &'a A)> + 'a {
        let sim = self.sim;
        sim.topology().servers.clone().into_iter().filter_map(move |n| sim.actor(n).map(|a| (n, a)))
    }

    /// Every incarnation of the servers in the run: the running actors ([`RunView::servers`]),
    /// then those crashes ended, in crash order. For sums of what the actors counted over the
    /// whole run (a part's stats); what a node holds at the end is read from `servers`.
    ///
    /// # Panics
    /// If the model does not set [`Model::KEEP_CRASHED_ACTORS`]: the crashed ones would be
    /// missing without a word.
    pub fn incarnations(&self) -> impl Iterator<Item = (NodeId, &'a A)> + 'a {
        let sim = self.sim;
        let crashed =
            sim.crashed_actors().expect("the model reads crashed incarnations: set Model::KEEP_CRASHED_ACTORS");
        let is_server = move |n: NodeId| !sim.topology().is_client(n);
        self.servers().chain(crashed.iter().filter(move |(n, _)| is_server(*n)).map(|(n, a)| (*n, a)))
    }
    pub fn op_kind(&self, entry: &HistoryEntry) -> &'static str {
        self.sim.config().op_kinds[entry.kind as usize]
    }
}

/// An invariant's verdict, with the count of what it judged.
///
/// Built in two steps, so a check always says how many items it looked at and always decides:
///
/// ```
/// use sim_core::Check;
/// let (acked, lost, expired) = (41_200u64, 0u64, 17u64);
/// let c = Check::judged("durability", acked - expired, "acknowledged writes")
///     .skipped(expired, "expired under the TTL")
///     .violations(lost, "lost") // passes exactly when no judged item is a violation
///     .detail("every write is in its key's replicas");
/// assert!(c.passed);
/// assert_eq!(c.count.summary(), "0 of 41,183 acknowledged writes lost; 17 skipped (expired under the TTL)");
/// // A check that is not a count of bad items decides with `passed_if`:
/// let c = Check::judged("coverage", 9_800u64, "reachable pages").passed_if(0.02 <= 0.05);
/// assert!(c.passed && c.count.violations.is_none());
/// ```
///
/// A check that judged nothing (`judged == 0`) is *vacuous*: the verdict fails it unless the
/// scenario lists it in `may_be_empty` (see `verdict::evaluate_with`).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Check {
    pub name: String,
    pub passed: bool,
    /// What was measured, in words and numbers ("3 of 41,200 acknowledged writes lost: ...").
    pub detail: String,
    #[serde(flatten)]
    pub count: Count,
    /// The operations this check blames, earliest invoke first (at most [`MAX_BLAMED`]): the first
    /// violating operations, for `replay` to centre on and a reader to look up in the history.
    pub blamed: Vec<Blame>,
}

/// How many operations a check keeps as [`Check::blamed`].
pub const MAX_BLAMED: usize = 10;

/// An operation a check blames: its id (the history's, the trace's `op` id), when it was invoked
/// and, if it completed, when. Serialised as `{"op": 17, "invoke_ns": 45000000,
/// "complete_ns": 47000000}` (`complete_ns` is `null` for an operation still pending).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Blame {
    pub invoke: Time,
    pub op: OpId,
    pub complete: Option<Time>,
}

impl Blame {
    /// The blame of one history entry.
    pub fn of(e: &HistoryEntry) -> Blame {
        Blame { invoke: e.invoke, op: e.op, complete: e.complete.get() }
    }
}

impl Serialize for Blame {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct;
        let mut st = s.serialize_struct("Blame", 3)?;
        st.serialize_field("op", &self.op.0)?;
        st.serialize_field("invoke_ns", &self.invoke.0)?;
        st.serialize_field("complete_ns", &self.complete.map(|t| t.0))?;
        st.end()
    }
}

/// How many items a check judged, of what kind, how many of them broke the invariant, and what
/// it looked at but did not judge, with why.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Count {
    /// Items the check judged (computed from what it looked at, never from the configuration).
    pub judged: u64,
    /// What the items are, plural: "acknowledged writes", "reads".
    pub unit: String,
    /// Of the judged items, how many broke the invariant (`None`: the check does not judge item
    /// by item, e.g. a share against a bound).
    pub violations: Option<u64>,
    /// The word for a violating item: "lost", "stale".
    pub violation: String,
    /// Items looked at but not judged, by reason.
    pub skipped: Vec<Skipped>,
}

/// Items a check left out, and why.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Skipped {
    pub count: u64,
    pub reason: String,
}

/// A check that has counted its items but not yet decided: finish it with
/// [`Judging::violations`] or [`Judging::passed_if`].
#[must_use = "a check must decide: call .violations(n, word) or .passed_if(cond)"]
#[derive(Clone, Debug)]
pub struct Judging {
    name: String,
    count: Count,
}

/// A count from any integer type (`usize`, `u32`, `u64`).
fn count_of(n: impl TryInto<u64>) -> u64 {
    n.try_into().ok().unwrap_or(u64::MAX)
}

impl Check {
    /// Starts a check that judged `judged` items of kind `unit` (plural: "reads").
    pub fn judged(name: &str, judged: impl TryInto<u64>, unit: &str) -> Judging {
        Judging {
            name: name.to_string(),
            count: Count { judged: count_of(judged), unit: unit.to_string(), ..Count::default() },
        }
    }
    /// Replaces the detail (by default, the count's [`Count::summary`]).
    pub fn detail(mut self, detail: impl Into<String>) -> Check {
        self.detail = detail.into();
        self
    }
    /// A further condition: the check passes only if it also holds.
    pub fn passed_if(mut self, also: bool) -> Check {
        self.passed &= also;
        self
    }
    /// Items left out of the judgment, and why (a reason with a zero count is not listed).
    pub fn skipped(mut self, n: impl TryInto<u64>, reason: &str) -> Check {
        self.count.skip(count_of(n), reason);
        self
    }
    /// Blames operation `op`, invoked at `invoke` (completion unknown).
    pub fn blame(self, op: OpId, invoke: Time) -> Check {
        self.blame_all([Blame { invoke, op, complete: None }])
    }
    /// Blames operations by id alone: the scenario driver takes their times from the history
    /// ([`Check::settle_blame`]), so a check that knows only the op need not look it up.
    pub fn blame_ids(self, ops: impl IntoIterator<Item = OpId>) -> Check {
        self.blame_all(ops.into_iter().map(|op| Blame { invoke: Time::ZERO, op, complete: None }))
    }
    /// Blames the operations of these history entries (the earliest [`MAX_BLAMED`] are kept).
    pub fn blame_ops<'a>(self, ops: impl IntoIterator<Item = &'a HistoryEntry>) -> Check {
        self.blame_all(ops.into_iter().map(Blame::of))
    }
    /// Blames these operations (the earliest [`MAX_BLAMED`] by invoke time are kept).
    pub fn blame_all(mut self, blames: impl IntoIterator<Item = Blame>) -> Check {
        for b in blames {
            self.blamed.push(b);
            if self.blamed.len() >= 4 * MAX_BLAMED {
                self.keep_earliest();
            }
        }
        self.keep_earliest();
        self
    }
    /// Takes each blamed operation's invoke and completion times from the history (the
    /// authority; a check may blame an op by id alone), drops ids the history does not have, and
    /// keeps the earliest. The scenario driver does this for every check of a report. A passing
    /// check blames nothing: a percentile check may name its late operations before it knows
    /// whether they are within the allowance.
    pub fn settle_blame(&mut self, history: &[HistoryEntry]) {
        if self.passed {
            self.blamed.clear();
            return;
        }
        self.blamed.retain_mut(|b| match history.get(b.op.0 as usize).filter(|e| e.op == b.op) {
            Some(e) => {
                *b = Blame::of(e);
                true
            }
            None => false,
        });
        self.keep_earliest();
    }
    fn keep_earliest(&mut self) {
        self.blamed.sort();
        self.blamed.dedup_by_key(|b| b.op);
        self.blamed.truncate(MAX_BLAMED);
    }
    /// Judged nothing.
    pub fn is_vacuous(&self) -> bool {
        self.count.judged == 0
    }
}

impl Judging {
    /// Items left out of the judgment, and why (a reason with a zero count is not listed).
    pub fn skipped(mut self, n: impl TryInto<u64>, reason: &str) -> Judging {
        self.count.skip(count_of(n), reason);
        self
    }
    /// `n` of the judged items broke the invariant (`word`: "lost", "stale"); passes when `n == 0`.
    pub fn violations(mut self, n: impl TryInto<u64>, word: &str) -> Check {
        let n = count_of(n);
        self.count.violations = Some(n);
        self.count.violation = word.to_string();
        self.decide(n == 0)
    }
    /// Decides by a condition (a share against a bound, say).
    pub fn passed_if(self, passed: bool) -> Check {
        self.decide(passed)
    }
    fn decide(self, passed: bool) -> Check {
        Check { detail: self.count.summary(), name: self.name, passed, count: self.count, blamed: Vec::new() }
    }
}

impl Count {
    fn skip(&mut self, n: u64, reason: &str) {
        if n > 0 {
            self.skipped.push(Skipped { count: n, reason: reason.to_string() });
        }
    }
    /// Items skipped for any reason.
    pub fn skipped_total(&self) -> u64 {
        self.skipped.iter().map(|s| s.count).sum()
    }
    /// In words: `0 of 41,200 reads stale; 3,100 skipped (2,900 in a fault window, 200 of keys
    /// never written)`, or `judged 41,200 reads` for a check without per-item violations.
    pub fn summary(&self) -> String {
        let mut s = match self.violations {
            Some(v) => format!("{} of {} {} {}", thousands(v), thousands(self.judged), self.unit, self.violation),
            None => format!("judged {} {}", thousands(self.judged), self.unit),
        };
        if !self.skipped.is_empty() {
            let total = self.skipped_total();
            let why: Vec<String> = if self.skipped.len() == 1 {
                vec![self.skipped[0].reason.clone()]
            } else {
                self.skipped.iter().map(|k| format!("{} {}", thousands(k.count), k.reason)).collect()
            };
            s.push_str(&format!("; {} skipped ({})", thousands(total), why.join(", ")));
        }
        s
    }
}

/// `41200` -> `41,200`.
pub fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// A table for the report (a curve, a distribution), with the plot its model declares for it.
///
/// The report never guesses a plot from the columns: a table drawn as a curve or as bars says so
/// with its columns, its axes' labels and units, and their scales; any other table is shown as an
/// HTML table only ([`Shape::Grid`]).
///
/// ```
/// use sim_core::model::{Axis, Table};
/// let rows = vec![vec![0.0, 1.0, 40.0, 0.5], vec![1.0, f64::INFINITY, 60.0, 0.9]];
/// let t = Table::new("consistency_vs_lag", &["lag_ms_from", "lag_ms_to", "reads", "p_consistent"], rows)
///     .curve("lag_ms_from", Axis::new("time since the write", "ms").log10(), &["p_consistent"],
///            Axis::new("P(consistent read)", "share").range(0.0, 1.0))
///     .binned("lag_ms_to") // bins: from `lag_ms_from` to `lag_ms_to` (not finite or negative: open)
///     .note("reads");      // written beside each point, not drawn as a curve
/// assert!(matches!(t.shape, sim_core::model::Shape::Curve(_)));
/// ```
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Table {
    pub name: String,
    pub columns: Vec<String>,
    pub rows: Vec<Vec<f64>>,
    /// How the report draws it (declared by the model; [`Shape::Grid`]: an HTML table only).
    pub shape: Shape,
    /// Names of a column's values, row by row (a category stored as its number): the report's
    /// tables and a bar plot show the name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub names: Option<Names>,
}

/// What a column's values stand for, row by row ([`Table::names`]).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Names {
    pub column: String,
    pub names: Vec<String>,
}

/// The plot a model declares for a table.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Shape {
    /// No plot: an HTML table only.
    #[default]
    Grid,
    /// Lines of one or more columns against an x column.
    Curve(Curve),
    /// A bar per category (a row) for each value column.
    Bars(Bars),
}

/// Columns `ys` against column `x`, on one y axis (so the `ys` share a unit).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Curve {
    pub x: String,
    pub x_axis: Axis,
    pub ys: Vec<String>,
    pub y_axis: Axis,
    /// `x` is simulated time in seconds: the report shades the fault windows.
    pub time: bool,
    /// Bins: each row covers `[x, x_to)`; an `x_to` that is not finite or is negative marks the
    /// last bin open (it runs to the end of the axis and is labelled so, never drawn at a number).
    pub x_to: Option<String>,
    /// A column written beside each point (a count, say), not drawn as a curve.
    pub note: Option<String>,
}

/// A bar per row, grouped by the category in column `category`, one bar per value column.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Bars {
    pub category: String,
    pub values: Vec<String>,
    pub y_axis: Axis,
}

/// An axis: what it measures, in which unit, on which scale.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Axis {
    pub label: String,
    /// `ms`, `/s`, `share` ...; empty for a plain count.
    pub unit: String,
    pub scale: Scale,
    /// A fixed range (e.g. `0..1` for a probability); `None`: from the data.
    pub range: Option<(f64, f64)>,
}

/// How values map to an axis.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Scale {
    #[default]
    Linear,
    /// Decades (values must be positive; others are not drawn).
    Log10,
    /// Powers of two (values must be positive; others are not drawn).
    Log2,
    /// Percentiles (0..100) by their nines: p90, p99, p99.9 equally spaced.
    Nines,
}

impl Axis {
    pub fn new(label: &str, unit: &str) -> Axis {
        Axis { label: label.to_string(), unit: unit.to_string(), scale: Scale::Linear, range: None }
    }
    pub fn log10(mut self) -> Axis {
        self.scale = Scale::Log10;
        self
    }
    pub fn log2(mut self) -> Axis {
        self.scale = Scale::Log2;
        self
    }
    pub fn nines(mut self) -> Axis {
        self.scale = Scale::Nines;
        self
    }
    pub fn range(mut self, lo: f64, hi: f64) -> Axis {
        self.range = Some((lo, hi));
        self
    }
    /// `label (unit)`, or the label alone without a unit.
    pub fn title(&self) -> String {
        if self.unit.is_empty() { self.label.clone() } else { format!("{} ({})", self.label, self.unit) }
    }
}

impl Table {
    /// A table shown as an HTML table only, until a shape is declared.
    pub fn new<S: AsRef<str>>(name: &str, columns: impl IntoIterator<Item = S>, rows: Vec<Vec<f64>>) -> Table {
        Table {
            name: name.to_string(),
            columns: columns.into_iter().map(|c| c.as_ref().to_string()).collect(),
            rows,
            shape: Shape::Grid,
            names: None,
        }
    }
    /// Drawn as lines of `ys` against `x`.
    pub fn curve(mut self, x: &str, x_axis: Axis, ys: &[&str], y_axis: Axis) -> Table {
        self.shape = Shape::Curve(Curve {
            x: x.to_string(),
            x_axis,
            ys: ys.iter().map(|c| c.to_string()).collect(),
            y_axis,
            time: false,
            x_to: None,
            note: None,
        });
        self.assert_columns();
        self
    }
    /// Drawn as lines of `ys` against simulated time (column `t_s`, seconds), fault windows shaded.
    pub fn over_time(self, ys: &[&str], y_axis: Axis) -> Table {
        let mut t = self.curve("t_s", Axis::new("simulated time", "s"), ys, y_axis);
        if let Shape::Curve(c) = &mut t.shape {
            c.time = true;
        }
        t
    }
    /// A curve over bins `[x, to)` (see [`Curve::x_to`]).
    pub fn binned(mut self, to: &str) -> Table {
        if let Shape::Curve(c) = &mut self.shape {
            c.x_to = Some(to.to_string());
        }
        self.assert_columns();
        self
    }
    /// A column written beside each point of a curve.
    pub fn note(mut self, column: &str) -> Table {
        if let Shape::Curve(c) = &mut self.shape {
            c.note = Some(column.to_string());
        }
        self.assert_columns();
        self
    }
    /// Drawn as bars: a group per row named by `category`, a bar per column of `values`.
    pub fn bars(mut self, category: &str, values: &[&str], y_axis: Axis) -> Table {
        self.shape = Shape::Bars(Bars {
            category: category.to_string(),
            values: values.iter().map(|c| c.to_string()).collect(),
            y_axis,
        });
        self.assert_columns();
        self
    }
    /// Names the bars' categories, row by row (declare the bars first).
    pub fn labels(self, labels: &[&str]) -> Table {
        let Shape::Bars(b) = &self.shape else { panic!("table {}: labels name the categories of bars", self.name) };
        let category = b.category.clone();
        self.names(&category, labels)
    }
    /// Names the values of column `column`, row by row: a category stored as a number is shown
    /// by its name in the report's table (and under its bar).
    pub fn names(mut self, column: &str, names: &[&str]) -> Table {
        assert!(self.column(column).is_some(), "table {}: no column {column} to name", self.name);
        self.names = Some(Names { column: column.to_string(), names: names.iter().map(|n| n.to_string()).collect() });
        self
    }
    /// Whether `row` is an open last bin of a binned curve ([`Curve::x_to`]): its upper edge not
    /// finite, or not above its lower edge (a missing cell reads as not finite).
    pub fn open_bin(&self, row: &[f64]) -> bool {
        let Shape::Curve(c) = &self.shape else { return false };
        let cell = |name: &str| self.column(name).and_then(|i| row.get(i)).copied().unwrap_or(f64::NAN);
        c.x_to.as_deref().is_some_and(|to| !(cell(to).is_finite() && cell(to) > cell(&c.x)))
    }
    /// The name of row `row`'s value in column `column`, if the model named it.
    pub fn name_of(&self, column: usize, row: usize) -> Option<&str> {
        let n = self.names.as_ref()?;
        (self.columns.get(column)? == &n.column).then(|| n.names.get(row).map(|s| s.as_str()))?
    }
    /// The index of a column.
    pub fn column(&self, name: &str) -> Option<usize> {
        self.columns.iter().position(|c| c == name)
    }
    /// A shape naming a column the table lacks is a model bug.
    fn assert_columns(&self) {
        let named: Vec<&String> = match &self.shape {
            Shape::Grid => Vec::new(),
            Shape::Curve(c) => std::iter::once(&c.x).chain(&c.ys).chain(&c.x_to).chain(&c.note).collect(),
            Shape::Bars(b) => std::iter::once(&b.category).chain(&b.values).collect(),
        };
        for n in named {
            assert!(
                self.column(n).is_some(),
                "table `{}` has no column `{n}` (columns: {:?})",
                self.name,
                self.columns
            );
        }
    }
}

#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct ModelReport {
    pub checks: Vec<Check>,
    /// Named measurements (SLAs and estimates refer to them by name).
    pub measures: BTreeMap<String, f64>,
    pub tables: Vec<Table>,
    /// Figures the model drew itself, `(name, svg)` (a consistency violation's timeline): written
    /// to the report folder as `figure_<name>.svg` and shown in index.html; not in summary.json.
    #[serde(skip)]
    pub figures: Vec<(String, String)>,
}

#[cfg(test)]
mod blame_tests {
    use super::*;
    use crate::actor::{Outcome, Reply};

    fn entry(op: u64, invoke: u64, complete: Option<u64>) -> HistoryEntry {
        HistoryEntry {
            op: OpId::new(op),
            client: NodeId(9),
            kind: 0,
            key: 1,
            value: op + 1,
            attempt: 1,
            invoke: Time(invoke),
            complete: complete.map(Time).into(),
            outcome: complete.map(|_| Outcome::Ok),
            reply: Reply::None,
        }
    }

    #[test]
    fn a_check_keeps_the_earliest_blamed_operations() {
        let history: Vec<HistoryEntry> =
            (0..30).map(|i| entry(i, 1_000 * (30 - i), Some(1_000 * (30 - i) + 5))).collect();
        let c = Check::judged("fresh_reads", 30u64, "reads").violations(30u64, "stale").blame_ops(&history);
        assert_eq!(c.blamed.len(), MAX_BLAMED);
        // The earliest invoked are the highest ids here.
        assert_eq!(c.blamed[0], Blame { invoke: Time(1_000), op: OpId(29), complete: Some(Time(1_005)) });
        assert!(c.blamed.windows(2).all(|w| w[0].invoke <= w[1].invoke));
        // (Serialised in summary.json: reports/src/tests.rs.)
    }

    #[test]
    fn settling_takes_the_times_from_the_history_and_drops_unknown_ids() {
        let history = vec![entry(0, 50, None), entry(1, 20, Some(40))];
        let mut c = Check::judged("x", 2u64, "ops")
            .violations(2u64, "bad")
            .blame_ids([OpId(0), OpId(7), OpId(1)])
            .blame(OpId(1), Time(999));
        c.settle_blame(&history);
        assert_eq!(
            c.blamed,
            [
                Blame { invoke: Time(20), op: OpId(1), complete: Some(Time(40)) },
                Blame { invoke: Time(50), op: OpId(0), complete: None }
            ]
        );
        // A check that passed (a percentile SLA within its allowance) blames nothing.
        let mut ok = Check::judged("x", 2u64, "ops").passed_if(true).blame_ids([OpId(0)]);
        ok.settle_blame(&history);
        assert!(ok.blamed.is_empty());
    }
}
