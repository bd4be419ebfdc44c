//! The analytic cross-check every run gets: Little's law per operation kind, and for every
//! queueing station (a part that queues jobs for `c` servers, such as `parts::pool`) its
//! utilisation and the mean wait queueing theory predicts from the arrivals and service times the
//! run measured, beside the wait the run measured.
//!
//! **Little's law**, `L = lambda W`. The kernel integrates the number of operations in flight over
//! time as it issues and ends them ([`InFlight`]); the record compares that time average `L` with
//! the arrival rate times the mean latency of the history. Over a finite run the two differ by
//! exactly the time the operations still in flight at the end have spent so far (Little's law
//! holds for a window that starts and ends empty), so the record states that end effect and checks
//! the identity `L T = sum of completed latencies + ages of the pending` in integer nanoseconds:
//! any difference is a bug in the kernel's bookkeeping, and the run says so.
//!
//! **Stations.** A part reports each arrival (with its current number of servers) and each served
//! job (its wait in the queue and its service time) through [`crate::Ctx::station_arrival`] and
//! [`crate::Ctx::station_served`]; the kernel keeps per (scope, node) the moments that the
//! formulas need. Per node: the arrival rate from the inter-arrival gaps, their squared
//! coefficient of variation `Ca^2`, the service mean and `Cs^2`, the utilisation (busy server
//! time over server time while arrivals came), and the predicted mean wait: Erlang C (M/M/c) when
//! both coefficients are near 1 (Poisson arrivals, exponential service), Pollaczek-Khinchine
//! (M/G/1) for one server and Poisson arrivals, otherwise the Allen-Cunneen approximation
//! `W(M/M/c) (Ca^2 + Cs^2) / 2`, marked approximate. A station's row sums its nodes, the
//! prediction weighted by each node's served jobs. Jobs refused or dropped (a finite queue), a
//! changing number of servers, or few jobs also mark a prediction approximate.

use crate::actor::NodeId;
use crate::metrics::{HistoryEntry, Level, Scoped};
use crate::queueing;
use crate::time::{Duration, Time};
use serde::Serialize;
use std::collections::BTreeMap;

/// Operations of one kind in flight, integrated over time as the kernel issues and ends them.
#[derive(Clone, Debug, Default)]
pub struct InFlight {
    now: u64,
    since: Time,
    /// Integral of the count over time, in operation-nanoseconds.
    area_ns: u128,
    pub issued: u64,
}

impl InFlight {
    #[inline]
    fn advance(&mut self, t: Time) {
        self.area_ns += self.now as u128 * t.0.saturating_sub(self.since.0) as u128;
        self.since = self.since.max(t);
    }

    #[inline]
    pub(crate) fn issue(&mut self, t: Time) {
        self.advance(t);
        self.now += 1;
        self.issued += 1;
    }

    #[inline]
    pub(crate) fn end(&mut self, t: Time) {
        self.advance(t);
        self.now = self.now.saturating_sub(1);
    }

    pub(crate) fn finish(&mut self, t: Time) {
        self.advance(t);
    }

    /// Operation-nanoseconds in flight so far.
    pub fn area_ns(&self) -> u128 {
        self.area_ns
    }
}

/// The stations of every node: per node (by index) its few `(scope, station)` pairs, found by a
/// linear scan that compares the scope's pointer first (a `BTreeMap` keyed by `(scope, node)`
/// cost 4% of a pool-heavy run in string comparisons, measured with callgrind).
#[derive(Clone, Debug, Default)]
pub struct Stations {
    per_node: Vec<Vec<(&'static str, Station)>>,
}

impl Stations {
    pub(crate) fn get_mut(&mut self, node: NodeId, scope: &'static str) -> &mut Station {
        let i = node.index();
        if self.per_node.len() <= i {
            self.per_node.resize_with(i + 1, Vec::new);
        }
        let list = &mut self.per_node[i];
        let same = |s: &str| std::ptr::eq(s, scope) || s == scope;
        match list.iter().position(|(s, _)| same(s)) {
            Some(j) => &mut list[j].1,
            None => {
                list.push((scope, Station::default()));
                &mut list.last_mut().expect("just pushed").1
            }
        }
    }

    /// Every station with its scope, by node.
    pub fn iter(&self) -> impl Iterator<Item = (&'static str, NodeId, &Station)> {
        self.per_node
            .iter()
            .enumerate()
            .flat_map(|(i, list)| list.iter().map(move |(scope, s)| (*scope, NodeId(i as u32), s)))
    }
}

/// What the kernel keeps of one station (one part instance on one node).
#[derive(Clone, Debug, Default)]
pub struct Station {
    pub arrivals: u64,
    first: Option<Time>,
    last: Time,
    /// Sum of the squared inter-arrival gaps (s^2); their sum is `last - first`.
    gap_sq_s2: f64,
    pub served: u64,
    wait_ns: u128,
    service_ns: u128,
    service_sq_s2: f64,
    servers_min: u32,
    servers_max: u32,
}

impl Station {
    pub(crate) fn arrival(&mut self, at: Time, servers: u32) {
        match self.first {
            None => {
                self.first = Some(at);
                self.servers_min = servers;
                self.servers_max = servers;
            }
            Some(_) => {
                let gap = at.0.saturating_sub(self.last.0) as f64 / 1e9;
                self.gap_sq_s2 += gap * gap;
                self.servers_min = self.servers_min.min(servers);
                self.servers_max = self.servers_max.max(servers);
            }
        }
        self.last = at;
        self.arrivals += 1;
    }

    pub(crate) fn served(&mut self, wait: Duration, service: Duration) {
        self.served += 1;
        self.wait_ns += wait.0 as u128;
        self.service_ns += service.0 as u128;
        let s = service.as_secs_f64();
        self.service_sq_s2 += s * s;
    }

    /// The span over which arrivals came, in seconds (0 with fewer than two).
    fn span_s(&self) -> f64 {
        self.first.map_or(0.0, |f| (self.last.0 - f.0) as f64 / 1e9)
    }

    fn node_estimate(&self) -> Option<NodeEstimate> {
        if self.arrivals < 2 || self.served == 0 {
            return None;
        }
        let span = self.span_s();
        if span <= 0.0 {
            return None;
        }
        let gaps = (self.arrivals - 1) as f64;
        let gap_mean = span / gaps;
        let lambda = 1.0 / gap_mean;
        let ca2 = (self.gap_sq_s2 / gaps - gap_mean * gap_mean).max(0.0) / (gap_mean * gap_mean);
        let served = self.served as f64;
        let es = self.service_ns as f64 / 1e9 / served;
        let es2 = self.service_sq_s2 / served;
        let cs2 = if es > 0.0 { (es2 / (es * es) - 1.0).max(0.0) } else { 0.0 };
        let c = self.servers_max.max(1);
        let utilisation = self.service_ns as f64 / 1e9 / (c as f64 * span);
        let near_one = |x: f64| (CV2_EXPONENTIAL.0..=CV2_EXPONENTIAL.1).contains(&x);
        let (formula, predicted) = if es <= 0.0 {
            (Formula::None, None)
        } else if near_one(ca2) && near_one(cs2) {
            (Formula::MMc, queueing::mmc_mean_wait(c, lambda, 1.0 / es))
        } else if c == 1 && near_one(ca2) {
            (Formula::MG1, queueing::mg1_mean_wait(lambda, es, es2))
        } else {
            (Formula::AllenCunneen, queueing::mmc_mean_wait(c, lambda, 1.0 / es).map(|w| w * (ca2 + cs2) / 2.0))
        };
        Some(NodeEstimate { lambda, ca2, cs2, utilisation, formula, predicted })
    }
}

/// `Ca^2` and `Cs^2` within this range count as "Poisson arrivals" and "exponential service".
pub const CV2_EXPONENTIAL: (f64, f64) = (0.8, 1.25);
/// A predicted wait below this share of the mean service time is negligible: no ratio.
pub const NEGLIGIBLE_WAIT: f64 = 1e-3;
/// A station whose nodes served fewer jobs than this in all has an approximate prediction.
pub const FEW_JOBS: u64 = 1000;
/// Share of arrivals not served (refused, dropped, shed, lost, or still waiting) above which the
/// infinite-queue formulas are approximate.
pub const UNSERVED_SHARE: f64 = 0.01;

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Formula {
    None,
    MMc,
    MG1,
    AllenCunneen,
}

impl Formula {
    fn name(self) -> &'static str {
        match self {
            Formula::None => "none",
            Formula::MMc => "M/M/c (Erlang C)",
            Formula::MG1 => "M/G/1 (Pollaczek-Khinchine)",
            Formula::AllenCunneen => "G/G/c (Allen-Cunneen)",
        }
    }
}

struct NodeEstimate {
    lambda: f64,
    ca2: f64,
    cs2: f64,
    utilisation: f64,
    formula: Formula,
    /// Mean wait in the queue, seconds; `None` when unstable.
    predicted: Option<f64>,
}

/// Little's law for one operation kind, over the run `[0, end]`.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct LittleRow {
    pub kind: String,
    pub issued: u64,
    pub completed: u64,
    pub in_flight_at_end: u64,
    /// Time-averaged operations in flight, as the kernel integrated them.
    pub l_measured: f64,
    /// Operations issued per second of the run.
    pub arrival_rate_per_s: f64,
    /// Mean latency of the completed operations (every outcome), ms.
    pub mean_latency_ms: f64,
    /// `lambda W`: arrival rate times mean latency.
    pub lambda_w: f64,
    /// The part of `L` owed to operations still in flight at the end (their ages over the run).
    pub end_effect: f64,
    /// `(L - lambda W) / L`.
    pub relative_gap: f64,
    /// The exact identity held: `L T` equals the completed latencies plus the ages of the
    /// pending operations, to the nanosecond.
    pub identity_holds: bool,
}

/// One queueing station (a part's scope), summed over its nodes.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct StationRow {
    pub scope: String,
    pub nodes: u64,
    /// Servers per node (the most any node had).
    pub servers: u32,
    /// Some node's number of servers changed during the run.
    pub servers_varied: bool,
    pub arrivals: u64,
    pub served: u64,
    /// Arrivals per second per node (mean over nodes).
    pub arrival_rate_per_s: f64,
    pub mean_service_ms: f64,
    /// Squared coefficients of variation of inter-arrival gaps and service times (1 for
    /// Poisson arrivals and exponential service), weighted by served jobs.
    pub arrival_cv2: f64,
    pub service_cv2: f64,
    /// Busy server time over server time while arrivals came (weighted by served jobs).
    pub utilisation: f64,
    pub wait_measured_ms: f64,
    /// Little's law on the queue: the time-averaged number of waiting jobs as the kernel
    /// integrated the part's `SCOPE.queue` level (`None` when the part has no such level), against
    /// the total wait of the served jobs over the run (`lambda Wq`). Jobs refused after waiting
    /// (dropped, shed) or still waiting at the end count in the first only.
    pub queue_mean: Option<f64>,
    pub queue_lambda_w: f64,
    /// `None`: no prediction (a node unstable, utilisation at or above 1, or too few arrivals).
    pub wait_predicted_ms: Option<f64>,
    /// Measured over predicted (`None` also when the predicted wait is negligible).
    pub ratio: Option<f64>,
    pub formula: String,
    pub approximate: bool,
    /// Why the prediction is approximate or absent (empty when neither).
    pub note: String,
}

/// The cross-check of one run: in summary.json as `queueing`.
#[derive(Clone, Debug, Default, Serialize, PartialEq)]
pub struct Queueing {
    pub little: Vec<LittleRow>,
    pub stations: Vec<StationRow>,
}

impl Queueing {
    /// A value of the cross-check by name, for `Measure` SLAs: `queueing.SCOPE.FIELD` with FIELD
    /// one of `wait_ratio` (measured over predicted wait), `wait_measured_ms`,
    /// `wait_predicted_ms`, `utilisation`, `arrival_cv2`, `service_cv2`, `queue_little_gap`
    /// (Little's law on the queue: `(Lq - lambda Wq) / Lq`); or
    /// `queueing.little.KIND.FIELD` with FIELD `relative_gap`, `l_measured` or `lambda_w`.
    pub fn value(&self, name: &str) -> Option<f64> {
        let rest = name.strip_prefix("queueing.")?;
        if let Some(rest) = rest.strip_prefix("little.") {
            let (kind, field) = rest.rsplit_once('.')?;
            let r = self.little.iter().find(|r| r.kind == kind)?;
            return match field {
                "relative_gap" => Some(r.relative_gap),
                "l_measured" => Some(r.l_measured),
                "lambda_w" => Some(r.lambda_w),
                _ => None,
            };
        }
        let (scope, field) = rest.rsplit_once('.')?;
        let r = self.stations.iter().find(|r| r.scope == scope)?;
        match field {
            "wait_ratio" => r.ratio,
            "wait_measured_ms" => Some(r.wait_measured_ms),
            "wait_predicted_ms" => r.wait_predicted_ms,
            "utilisation" => Some(r.utilisation),
            "arrival_cv2" => Some(r.arrival_cv2),
            "service_cv2" => Some(r.service_cv2),
            "queue_little_gap" => r.queue_mean.filter(|l| *l > 0.0).map(|l| (l - r.queue_lambda_w) / l),
            _ => None,
        }
    }

    /// The names [`Queueing::value`] answers for this run.
    pub fn value_names(&self) -> Vec<String> {
        let mut names = Vec::new();
        for r in &self.stations {
            for f in [
                "wait_ratio",
                "wait_measured_ms",
                "wait_predicted_ms",
                "utilisation",
                "arrival_cv2",
                "service_cv2",
                "queue_little_gap",
            ] {
                names.push(format!("queueing.{}.{f}", r.scope));
            }
        }
        for r in &self.little {
            for f in ["relative_gap", "l_measured", "lambda_w"] {
                names.push(format!("queueing.little.{}.{f}", r.kind));
            }
        }
        names
    }

    /// The Little rows whose identity failed (a kernel bookkeeping bug if any).
    pub fn little_violations(&self) -> impl Iterator<Item = &LittleRow> {
        self.little.iter().filter(|r| !r.identity_holds)
    }

    /// The cross-check from the history (one pass for every kind).
    #[cfg(test)]
    pub(crate) fn build(
        op_kinds: &[String],
        in_flight: &[InFlight],
        stations: &Stations,
        levels: &Scoped<Level>,
        history: &[HistoryEntry],
        end: Time,
    ) -> Queueing {
        let mut tallies = vec![Tally::default(); op_kinds.len()];
        for e in history {
            if let Some(t) = tallies.get_mut(e.kind as usize) {
                t.add(e, end);
            }
        }
        Queueing::of_tallies(op_kinds, in_flight, stations, levels, &tallies, end)
    }

    /// The cross-check from each op kind's [`Tally`] of the history, which the caller takes in
    /// its own pass (`RunRecord::build` reads the history once for everything it needs).
    pub(crate) fn of_tallies(
        op_kinds: &[String],
        in_flight: &[InFlight],
        stations: &Stations,
        levels: &Scoped<Level>,
        tallies: &[Tally],
        end: Time,
    ) -> Queueing {
        let little = op_kinds
            .iter()
            .zip(tallies)
            .enumerate()
            .map(|(k, (name, tally))| little_row(name, in_flight.get(k), tally, end))
            .collect();
        let mut by_scope: BTreeMap<&str, Vec<&Station>> = BTreeMap::new();
        for (scope, _, s) in stations.iter() {
            by_scope.entry(scope).or_default().push(s);
        }
        let stations = by_scope
            .into_iter()
            .map(|(scope, nodes)| {
                let mut row = station_row(scope, &nodes);
                let waited_ns: u128 = nodes.iter().map(|s| s.wait_ns).sum();
                row.queue_lambda_w = waited_ns as f64 / end.0.max(1) as f64;
                row.queue_mean = levels.get(scope, "queue").map(|l| l.mean(end));
                row
            })
            .collect();
        Queueing { little, stations }
    }
}

/// What the history says of one op kind, for Little's law.
#[derive(Clone, Copy, Default)]
pub(crate) struct Tally {
    issued: u64,
    completed: u64,
    pending: u64,
    /// Sum of the completed operations' latencies, and of the pending ones' ages at the end (ns).
    latency_ns: u128,
    ages_ns: u128,
}

impl Tally {
    /// Counts one entry of the history; `end`: when the run finished (the age of a pending one).
    pub(crate) fn add(&mut self, e: &HistoryEntry, end: Time) {
        self.issued += 1;
        match e.complete.get() {
            Some(c) => {
                self.completed += 1;
                self.latency_ns += c.0.saturating_sub(e.invoke.0) as u128;
            }
            None => {
                self.pending += 1;
                self.ages_ns += end.0.saturating_sub(e.invoke.0) as u128;
            }
        }
    }
}

fn little_row(name: &str, flight: Option<&InFlight>, tally: &Tally, end: Time) -> LittleRow {
    let Tally { issued, completed, pending, latency_ns, ages_ns } = *tally;
    let area = flight.map_or(0, InFlight::area_ns);
    let t = end.0.max(1) as f64;
    let l = area as f64 / t;
    let rate = issued as f64 / (t / 1e9);
    let w_s = if completed == 0 { 0.0 } else { latency_ns as f64 / completed as f64 / 1e9 };
    let lambda_w = rate * w_s;
    LittleRow {
        kind: name.to_string(),
        issued,
        completed,
        in_flight_at_end: pending,
        l_measured: l,
        arrival_rate_per_s: rate,
        mean_latency_ms: w_s * 1e3,
        lambda_w,
        end_effect: ages_ns as f64 / t,
        // Float noise (1e-16) reads as "-0.00%": below 1e-12 the gap is none.
        relative_gap: if l > 0.0 && ((l - lambda_w) / l).abs() > 1e-12 { (l - lambda_w) / l } else { 0.0 },
        identity_holds: area == latency_ns + ages_ns && flight.map_or(0, |f| f.issued) == issued,
    }
}

fn station_row(scope: &str, nodes: &[&Station]) -> StationRow {
    let arrivals: u64 = nodes.iter().map(|s| s.arrivals).sum();
    let served: u64 = nodes.iter().map(|s| s.served).sum();
    let wait_ns: u128 = nodes.iter().map(|s| s.wait_ns).sum();
    let service_ns: u128 = nodes.iter().map(|s| s.service_ns).sum();
    let servers = nodes.iter().map(|s| s.servers_max).max().unwrap_or(0);
    let servers_varied = nodes.iter().any(|s| s.servers_min != s.servers_max);
    let estimates: Vec<(f64, NodeEstimate)> =
        nodes.iter().filter_map(|s| s.node_estimate().map(|e| (s.served as f64, e))).collect();
    let weight: f64 = estimates.iter().map(|(w, _)| w).sum();
    let mean = |f: &dyn Fn(&NodeEstimate) -> f64| {
        if weight > 0.0 { estimates.iter().map(|(w, e)| w * f(e)).sum::<f64>() / weight } else { 0.0 }
    };
    let lambda_mean = if estimates.is_empty() {
        0.0
    } else {
        estimates.iter().map(|(_, e)| e.lambda).sum::<f64>() / estimates.len() as f64
    };
    let formulas: Vec<Formula> = estimates.iter().map(|(_, e)| e.formula).collect();
    let formula = match formulas.iter().max() {
        None => Formula::None,
        Some(&worst) => worst,
    };
    let mut notes: Vec<String> = Vec::new();
    let unstable = estimates.iter().filter(|(_, e)| e.predicted.is_none()).count();
    let predicted_s = if estimates.is_empty() {
        notes.push("too few arrivals to estimate".into());
        None
    } else if unstable > 0 {
        notes.push(format!("{unstable} of {} nodes at or above utilisation 1: no steady state", estimates.len()));
        None
    } else {
        Some(estimates.iter().map(|(w, e)| w * e.predicted.unwrap_or(0.0)).sum::<f64>() / weight)
    };
    let mut approximate = formula == Formula::AllenCunneen;
    if formula == Formula::AllenCunneen {
        notes.push("arrivals or service not of the Poisson/exponential kind".into());
    }
    let unserved = arrivals.saturating_sub(served);
    if arrivals > 0 && unserved as f64 > UNSERVED_SHARE * arrivals as f64 {
        approximate = true;
        notes.push(format!("{unserved} of {arrivals} arrivals not served (refused, dropped, shed or still waiting)"));
    }
    if servers_varied {
        approximate = true;
        notes.push("the number of servers changed".into());
    }
    if served < FEW_JOBS {
        approximate = true;
        notes.push(format!("only {served} jobs served"));
    }
    let wait_measured_ms = if served == 0 { 0.0 } else { wait_ns as f64 / served as f64 / 1e6 };
    let mean_service_ms = if served == 0 { 0.0 } else { service_ns as f64 / served as f64 / 1e6 };
    let negligible_ms = NEGLIGIBLE_WAIT * mean_service_ms;
    if predicted_s.is_some_and(|p| p * 1e3 <= negligible_ms) {
        notes.push("predicted wait negligible (under 0.1% of the service time)".into());
    }
    let wait_predicted_ms = predicted_s.map(|w| w * 1e3);
    StationRow {
        scope: scope.to_string(),
        nodes: nodes.len() as u64,
        servers,
        servers_varied,
        arrivals,
        served,
        arrival_rate_per_s: lambda_mean,
        mean_service_ms,
        arrival_cv2: mean(&|e| e.ca2),
        service_cv2: mean(&|e| e.cs2),
        utilisation: mean(&|e| e.utilisation),
        wait_measured_ms,
        queue_mean: None,
        queue_lambda_w: 0.0,
        // A ratio of two negligible waits says nothing (1e-40 ms against 1e-43 ms).
        ratio: wait_predicted_ms.filter(|p| *p > negligible_ms).map(|p| wait_measured_ms / p),
        wait_predicted_ms,
        formula: formula.name().to_string(),
        approximate,
        note: notes.join("; "),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::actor::{OpId, Outcome, Reply};

    fn entry(kind: u16, invoke: u64, complete: Option<u64>) -> HistoryEntry {
        HistoryEntry {
            op: OpId(0),
            client: NodeId(0),
            kind,
            key: 0,
            value: 1,
            attempt: 1,
            invoke: Time(invoke),
            complete: complete.map(Time).into(),
            outcome: complete.map(|_| Outcome::Ok),
            reply: Reply::None,
        }
    }

    /// Two operations: one in flight over [10, 30), one from 20 to the end at 100 (pending).
    /// L = (20 + 80) / 100 = 1.0; lambda = 2 per 100 ns; W = 20 ns (the completed one); lambda W
    /// = 0.4; the end effect is the pending one's age, 80 / 100 = 0.8, and the identity is
    /// L T = 100 = 20 (completed latency) + 80 (pending age).
    #[test]
    fn little_identity_with_a_pending_operation() {
        let mut f = InFlight::default();
        f.issue(Time(10));
        f.issue(Time(20));
        f.end(Time(30));
        f.finish(Time(100));
        let history = [entry(0, 10, Some(30)), entry(0, 20, None)];
        let q = Queueing::build(&["op".into()], &[f], &Stations::default(), &Scoped::default(), &history, Time(100));
        let r = &q.little[0];
        assert_eq!((r.issued, r.completed, r.in_flight_at_end), (2, 1, 1));
        assert!((r.l_measured - 1.0).abs() < 1e-12, "{r:?}");
        assert!((r.lambda_w - 0.4).abs() < 1e-9, "{r:?}");
        assert!((r.end_effect - 0.8).abs() < 1e-12, "{r:?}");
        assert!(r.identity_holds);
        assert_eq!(q.little_violations().count(), 0);
    }

    /// The check can fail: a kernel that lost an operation's end (the count never came down)
    /// integrates more than the history accounts for.
    #[test]
    fn little_identity_fails_when_the_bookkeeping_is_wrong() {
        let mut f = InFlight::default();
        f.issue(Time(10));
        f.finish(Time(100)); // the end at 30 was never recorded
        let history = [entry(0, 10, Some(30))];
        let q = Queueing::build(&["op".into()], &[f], &Stations::default(), &Scoped::default(), &history, Time(100));
        assert!(!q.little[0].identity_holds);
        assert_eq!(q.little_violations().count(), 1);
    }

    /// A deterministic D/D/1 station: arrivals every 10 ms, service 5 ms, no wait. Ca^2 = Cs^2 =
    /// 0, so neither M/M/c nor M/G/1 applies and Allen-Cunneen predicts W(M/M/1) x 0 = 0.
    #[test]
    fn a_deterministic_station_is_judged_by_allen_cunneen() {
        let mut s = Station::default();
        for i in 0..2000u64 {
            s.arrival(Time(i * 10_000_000), 1);
            s.served(Duration::ZERO, Duration::from_millis(5));
        }
        let mut m = Stations::default();
        *m.get_mut(NodeId(1), "pool") = s;
        let q = Queueing::build(&[], &[], &m, &Scoped::default(), &[], Time(20_000_000_000));
        let r = &q.stations[0];
        assert!((r.arrival_rate_per_s - 100.0).abs() < 1e-6, "{r:?}");
        assert!((r.utilisation - 0.5).abs() < 1e-3, "{r:?}");
        assert!(r.arrival_cv2 < 1e-9 && r.service_cv2 < 1e-9, "{r:?}");
        assert_eq!(r.formula, "G/G/c (Allen-Cunneen)");
        assert!(r.approximate);
        assert_eq!(r.wait_predicted_ms, Some(0.0));
        assert_eq!(r.ratio, None);
    }

    /// Utilisation at or above 1 has no steady state: no prediction, and the note says why.
    #[test]
    fn an_overloaded_station_has_no_prediction() {
        let mut s = Station::default();
        for i in 0..100u64 {
            s.arrival(Time(i * 1_000_000), 1);
            s.served(Duration::from_millis(i), Duration::from_millis(2));
        }
        let mut m = Stations::default();
        *m.get_mut(NodeId(1), "pool") = s;
        let r = &Queueing::build(&[], &[], &m, &Scoped::default(), &[], Time(1)).stations[0];
        assert_eq!(r.wait_predicted_ms, None);
        assert!(r.note.contains("utilisation 1"), "{}", r.note);
    }
}
