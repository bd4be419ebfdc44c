//! `RunRecord`: everything a run measured, as plain data for verdicts and reports.

use crate::actor::Outcome;
use crate::crosscheck::{Queueing, Tally};
use crate::metrics::{FaultEffect, Metrics};
use crate::model::ModelReport;
use crate::time::{Duration, Time};
use crate::world::StopReason;
use serde::Serialize;
use std::collections::BTreeMap;

#[derive(Clone, Debug, Serialize)]
pub struct OpSummary {
    pub kind: String,
    pub total: u64,
    pub ok: u64,
    pub fail: u64,
    pub timeout: u64,
    pub rejected: u64,
    /// Operations still pending when the run ended.
    pub pending: u64,
    /// Successful operations per second of the main phase.
    pub throughput_ok_per_s: f64,
    /// Share of completed operations that ended `Ok` (1.0 when none completed).
    pub availability: f64,
    /// Availability of operations whose lifetime overlaps a fault window / overlaps none (`None`:
    /// no such op).
    pub availability_in_faults: Option<f64>,
    pub availability_outside_faults: Option<f64>,
    /// Latency of `Ok` operations, milliseconds.
    pub latency_ms: Percentiles,
    /// `(percentile, ms)` points of the latency distribution, for a CDF plot.
    pub latency_curve: Vec<(f64, f64)>,
}

#[derive(Clone, Debug, Default, Serialize)]
pub struct Percentiles {
    pub mean: f64,
    pub p50: f64,
    pub p90: f64,
    pub p99: f64,
    pub p999: f64,
    pub max: f64,
}

/// One reporting interval of one op kind.
#[derive(Clone, Debug, Serialize)]
pub struct SeriesPoint {
    /// Start of the interval, seconds.
    pub t_s: f64,
    pub kind: String,
    pub ok: u64,
    pub fail: u64,
    pub timeout: u64,
    pub rejected: u64,
    pub p50_ms: Option<f64>,
    pub p99_ms: Option<f64>,
    pub p999_ms: Option<f64>,
}

#[derive(Clone, Debug, Serialize)]
pub struct FaultRecord {
    pub label: String,
    pub start_s: f64,
    pub end_s: Option<f64>,
    pub messages_dropped: u64,
    pub events_delayed: u64,
    pub timers_lost: u64,
    pub writes_lost: u64,
    pub ops_hit: u64,
    /// Messages delivered to the node of an outage while it was on.
    pub messages_in_outage: u64,
    /// True when the fault visibly did something (dropped, delayed or lost anything, hit ops, or
    /// an outage met requests).
    pub had_effect: bool,
}

#[derive(Clone, Debug, Serialize)]
pub struct MessageRecord {
    pub kind: String,
    pub sent: u64,
    pub delivered: u64,
    pub dropped_partition: u64,
    pub dropped_loss: u64,
    pub dropped_down: u64,
    pub dropped_overflow: u64,
    pub duplicated: u64,
}

#[derive(Clone, Debug, Serialize)]
pub struct GaugeRecord {
    pub name: String,
    pub max: f64,
    /// `(t_s, value)` of the last sample in each interval that had one (for a level: its
    /// time-weighted mean over the interval).
    pub series: Vec<(f64, f64)>,
}

#[derive(Clone, Debug, Serialize)]
pub struct RunRecord {
    pub scenario: String,
    pub model: String,
    pub seed: u64,
    /// Hex of the trace hash: equal hashes, equal runs.
    pub trace_hash: String,
    pub events: u64,
    /// Timers that came due and ran no handler (cancelled, or of a node gone down since; not in
    /// `events`: [`crate::world::Sim::events_skipped`]). Not written to results: `simctl bench
    /// scenario` prints it beside the events/s.
    #[serde(skip)]
    pub events_skipped: u64,
    pub stop: StopReason,
    pub main_phase_s: f64,
    pub end_s: f64,
    pub interval_s: f64,
    pub ops: Vec<OpSummary>,
    pub series: Vec<SeriesPoint>,
    pub faults: Vec<FaultRecord>,
    pub messages: Vec<MessageRecord>,
    pub counters: BTreeMap<String, u64>,
    pub gauges: Vec<GaugeRecord>,
    pub model_report: ModelReport,
    /// The analytic cross-check: Little's law per op kind, utilisation and predicted against
    /// measured wait per queueing station (see [`crate::crosscheck`]).
    pub queueing: Queueing,
    /// Every operation of the history, for the report's per-operation scatter (see [`OpPoints`]).
    #[serde(skip)]
    pub op_points: OpPoints,
}

fn ms(ns: u64) -> f64 {
    ns as f64 / 1e6
}

impl RunRecord {
    pub fn op(&self, kind: &str) -> Option<&OpSummary> {
        self.ops.iter().find(|o| o.kind == kind)
    }

    /// Builds the record from the run's measurements.
    pub(crate) fn build(
        scenario: &str,
        model: &str,
        seed: u64,
        sim_hash: u64,
        events: u64,
        stop: StopReason,
        main_end: Time,
        end: Time,
        metrics: &Metrics,
        history: &[crate::metrics::HistoryEntry],
        model_report: ModelReport,
    ) -> RunRecord {
        let windows: Vec<(Time, Time)> =
            metrics.faults.iter().map(|f| (f.start, f.end.unwrap_or(end))).filter(|w| w.1 > w.0).collect();
        // An operation is in a fault window when its lifetime overlaps one: invoked before a crash
        // and killed by it, it counts as the crash's, not as an outage outside faults.
        let in_fault = |e: &crate::metrics::HistoryEntry| windows.iter().any(|&(a, b)| e.overlaps(a, b));
        let main_s = main_end.as_secs_f64().max(1e-9);
        // One pass over the history for every op kind: this record's counts and the queueing
        // cross-check's tallies (the history is the run's largest structure; each pass over it
        // reads every page of it).
        let kinds = metrics.op_kinds.len();
        let mut counts = vec![KindCounts::default(); kinds];
        let mut tallies = vec![Tally::default(); kinds];
        for e in history {
            let k = e.kind as usize;
            let (Some(c), Some(t)) = (counts.get_mut(k), tallies.get_mut(k)) else { continue };
            t.add(e, metrics.finished_at);
            match e.outcome {
                None => c.pending += 1,
                Some(o) => {
                    let ok = (o == Outcome::Ok) as u64;
                    if in_fault(e) {
                        c.in_all += 1;
                        c.in_ok += ok;
                    } else {
                        c.out_all += 1;
                        c.out_ok += ok;
                    }
                    if ok == 1 && e.complete.get().is_some_and(|t| t <= main_end) {
                        c.ok_main += 1;
                    }
                }
            }
        }
        let mut ops = Vec::with_capacity(kinds);
        for (k, name) in metrics.op_kinds.iter().enumerate() {
            let c = metrics.outcomes[k];
            let h = metrics.latency_ok[k].histogram();
            let KindCounts { in_ok, in_all, out_ok, out_all, pending, ok_main } = counts[k];
            let completed: u64 = c.iter().sum();
            let pct = |q: f64| if h.is_empty() { 0.0 } else { ms(h.value_at_quantile(q)) };
            let curve = if h.is_empty() {
                Vec::new()
            } else {
                [0.0, 10.0, 25.0, 50.0, 75.0, 90.0, 95.0, 99.0, 99.5, 99.9, 99.99, 100.0]
                    .iter()
                    .map(|&p| (p, ms(h.value_at_quantile(p / 100.0))))
                    .collect()
            };
            ops.push(OpSummary {
                kind: name.clone(),
                total: completed + pending,
                ok: c[Outcome::Ok as usize],
                fail: c[Outcome::Fail as usize],
                timeout: c[Outcome::Timeout as usize],
                rejected: c[Outcome::Rejected as usize],
                pending,
                throughput_ok_per_s: ok_main as f64 / main_s,
                availability: if completed == 0 { 1.0 } else { c[0] as f64 / completed as f64 },
                availability_in_faults: (in_all > 0).then(|| in_ok as f64 / in_all as f64),
                availability_outside_faults: (out_all > 0).then(|| out_ok as f64 / out_all as f64),
                latency_ms: Percentiles {
                    mean: if h.is_empty() { 0.0 } else { h.mean() / 1e6 },
                    p50: pct(0.5),
                    p90: pct(0.9),
                    p99: pct(0.99),
                    p999: pct(0.999),
                    max: if h.is_empty() { 0.0 } else { ms(h.max()) },
                },
                latency_curve: curve,
            });
        }
        let interval_s = metrics.interval.as_secs_f64();
        let mut series = Vec::new();
        // One histogram for every interval's percentiles, refilled (a new one per interval cost
        // more than the counting saved, on a run of many short intervals).
        let mut h = metrics.series.first().and_then(|row| row.first()).map(|c| c.latency.empty_histogram());
        for (i, row) in metrics.series.iter().enumerate() {
            for (k, cell) in row.iter().enumerate() {
                let h = match &mut h {
                    Some(h) if !cell.latency.is_empty() => {
                        cell.latency.fill(h);
                        Some(&*h)
                    }
                    _ => None,
                };
                let q = |q: f64| h.map(|h| ms(h.value_at_quantile(q)));
                series.push(SeriesPoint {
                    t_s: i as f64 * interval_s,
                    kind: metrics.op_kinds[k].clone(),
                    ok: cell.counts[0],
                    fail: cell.counts[1],
                    timeout: cell.counts[2],
                    rejected: cell.counts[3],
                    p50_ms: q(0.5),
                    p99_ms: q(0.99),
                    p999_ms: q(0.999),
                });
            }
        }
        let faults = metrics.faults.iter().map(fault_record).collect();
        let messages = metrics
            .messages
            .iter()
            .map(|(k, c)| MessageRecord {
                kind: k.to_string(),
                sent: c.sent,
                delivered: c.delivered,
                dropped_partition: c.dropped_partition,
                dropped_loss: c.dropped_loss,
                dropped_down: c.dropped_down,
                dropped_overflow: c.dropped_overflow,
                duplicated: c.duplicated,
            })
            .collect();
        let gauges = metrics
            .gauges
            .iter()
            .map(|(name, (vals, max))| GaugeRecord {
                name: name.to_string(),
                max: *max,
                series: vals.iter().enumerate().filter_map(|(i, v)| v.map(|v| (i as f64 * interval_s, v))).collect(),
            })
            .chain(metrics.levels.iter().map(|((scope, name), level)| {
                GaugeRecord {
                    name: format!("{scope}.{name}"),
                    max: level.max as f64,
                    series: (0..level.intervals.len())
                        .map(|i| (i as f64 * interval_s, level.mean_in(i, metrics.interval)))
                        .collect(),
                }
            }))
            .collect();
        let mut counters: BTreeMap<String, u64> = metrics.counters.iter().map(|(k, v)| (k.to_string(), *v)).collect();
        counters.extend(metrics.scoped_counters.iter().map(|((s, n), c)| (format!("{s}.{n}"), c.total)));
        RunRecord {
            scenario: scenario.to_string(),
            model: model.to_string(),
            seed,
            trace_hash: format!("{sim_hash:016x}"),
            events,
            stop,
            main_phase_s: main_end.as_secs_f64(),
            end_s: end.as_secs_f64(),
            interval_s,
            ops,
            series,
            faults,
            messages,
            counters,
            gauges,
            model_report,
            queueing: Queueing::of_tallies(
                &metrics.op_kinds,
                &metrics.in_flight,
                &metrics.stations,
                &metrics.levels,
                &tallies,
                metrics.finished_at,
            ),
            op_points: OpPoints::of(history, end, OP_POINTS_MAX),
            events_skipped: 0,
        }
    }
}

/// One op kind's operations in the history: by outcome and by whether their lifetime overlaps a
/// fault window.
#[derive(Clone, Copy, Default)]
struct KindCounts {
    in_ok: u64,
    in_all: u64,
    out_ok: u64,
    out_all: u64,
    pending: u64,
    /// `Ok` and completed within the main phase.
    ok_main: u64,
}

fn fault_record(f: &FaultEffect) -> FaultRecord {
    FaultRecord {
        label: f.label.clone(),
        start_s: f.start.as_secs_f64(),
        end_s: f.end.map(|t| t.as_secs_f64()),
        messages_dropped: f.messages_dropped,
        events_delayed: f.events_delayed,
        timers_lost: f.timers_lost,
        writes_lost: f.writes_lost,
        ops_hit: f.ops_hit,
        messages_in_outage: f.messages_in_outage,
        had_effect: f.messages_dropped
            + f.events_delayed
            + f.timers_lost
            + f.writes_lost
            + f.ops_hit
            + f.messages_in_outage
            > 0,
    }
}

/// A duration as seconds, for report fields.
pub fn secs(d: Duration) -> f64 {
    d.as_secs_f64()
}

/// A run with more operations than this gets no per-operation scatter (an SVG of 20,000 dots is
/// about 2 MB; more would make the report page slow to open and the dots unreadable).
pub const OP_POINTS_MAX: usize = 20_000;

/// One operation of the history, for the per-operation latency scatter (Jepsen's latency-raw).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct OpPoint {
    /// The op kind's index in the record's `ops`.
    pub kind: u16,
    pub invoke_s: f64,
    /// Until completion; for an operation still pending at the end, until the end of the run.
    pub latency_ms: f64,
    /// `None`: still pending when the run ended.
    pub outcome: Option<Outcome>,
}

/// The history's operations as points, or only their number when there are too many to draw.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct OpPoints {
    /// Operations in the history (attempts: a retry is an operation of its own).
    pub total: usize,
    /// `None`: more than the limit, not kept.
    pub points: Option<Vec<OpPoint>>,
}

impl OpPoints {
    /// Every entry of `history`, unless there are more than `limit`.
    pub fn of(history: &[crate::metrics::HistoryEntry], end: Time, limit: usize) -> OpPoints {
        let points = (history.len() <= limit).then(|| {
            history
                .iter()
                .map(|e| OpPoint {
                    kind: e.kind,
                    invoke_s: e.invoke.as_secs_f64(),
                    latency_ms: ms(e.complete.get().unwrap_or(end).0.saturating_sub(e.invoke.0)),
                    outcome: e.outcome,
                })
                .collect()
        });
        OpPoints { total: history.len(), points }
    }
}

#[cfg(test)]
mod windows {
    use super::*;
    use crate::actor::{NodeId, OpId, Reply};
    use crate::metrics::HistoryEntry;

    /// An operation is judged in a fault window when its lifetime overlaps the window: invoked
    /// just before a crash and timed out by it, it is the fault's casualty, not an outage outside
    /// faults (as `register_page_cache_acks` seed 303 counted it when the invocation alone decided).
    #[test]
    fn an_operation_live_when_a_fault_starts_counts_in_the_fault_window() {
        let ms = |x: u64| Time(x * 1_000_000);
        let mut m = Metrics::new(&["get"], Duration(1_000_000_000));
        m.faults.push(FaultEffect { label: "crash".into(), start: ms(100), end: Some(ms(200)), ..Default::default() });
        // (invoke, complete, outcome) in ms.
        let ops = [
            (0, 50, Outcome::Ok),        // before the window: outside
            (90, 150, Outcome::Timeout), // invoked before, ended by the fault: inside
            (120, 130, Outcome::Fail),   // inside
            (190, 210, Outcome::Ok),     // invoked inside, completed after: inside
            (200, 220, Outcome::Ok),     // invoked as the window ends: outside
            (250, 260, Outcome::Fail),   // a failure outside
        ];
        let mut history = Vec::new();
        for (i, &(invoke, complete, outcome)) in ops.iter().enumerate() {
            m.record_completion(0, outcome, ms(complete) - ms(invoke), ms(complete));
            history.push(HistoryEntry {
                op: OpId(i as u32),
                client: NodeId(0),
                kind: 0,
                key: 0,
                value: i as u64 + 1,
                attempt: 0,
                invoke: ms(invoke),
                complete: Some(ms(complete)).into(),
                outcome: Some(outcome),
                reply: Reply::None,
            });
        }
        let r = RunRecord::build(
            "t",
            "t",
            0,
            0,
            0,
            StopReason::TimeLimit,
            ms(300),
            ms(300),
            &m,
            &history,
            ModelReport::default(),
        );
        let get = r.op("get").expect("the op kind");
        assert_eq!(get.availability_in_faults, Some(1.0 / 3.0));
        assert_eq!(get.availability_outside_faults, Some(2.0 / 3.0));
        // The edges: live up to the window's start instant is inside, invoked at its end is not.
        let e = &history[0];
        assert!(e.overlaps(ms(50), ms(60)) && !e.overlaps(ms(51), ms(60)) && !e.overlaps(ms(0), ms(0)));
        let pending = HistoryEntry { complete: None.into(), outcome: None, ..history[0].clone() };
        assert!(pending.overlaps(ms(1_000), ms(2_000)), "a pending operation is live to the end");
    }
}
