//! The report's plots. Every time axis shades and labels the fault windows.
//!
//! A model table is drawn as its model declares it ([`sim_core::model::Shape`]): a curve with its
//! axes' labels, units and scales, bars for categories, or no plot at all (an HTML table only).
//! Nothing is guessed from the columns.

use crate::svg::{Ax, Pen, Plot, empty, palette};
use sim_core::Outcome;
use sim_core::model::{Bars, Curve, Scale, Shape, Table};
use sim_core::record::{OP_POINTS_MAX, RunRecord};

/// Colours of outcomes, the same in every plot.
pub(crate) fn outcome_color(o: Option<Outcome>) -> &'static str {
    match o {
        Some(Outcome::Ok) => "#2ca02c",
        Some(Outcome::Fail) => "#d62728",
        Some(Outcome::Timeout) => "#ff7f0e",
        Some(Outcome::Rejected) => "#9467bd",
        None => "#7f7f7f",
    }
}

fn outcome_name(o: Option<Outcome>) -> &'static str {
    match o {
        Some(Outcome::Ok) => "ok",
        Some(Outcome::Fail) => "failed",
        Some(Outcome::Timeout) => "timed out (unknown)",
        Some(Outcome::Rejected) => "rejected",
        None => "pending at the end (unknown)",
    }
}

/// Latencies below this are drawn at it on the log axes (a histogram's 1 ns would otherwise
/// stretch the axis over decades no operation took).
const LATENCY_FLOOR_MS: f64 = 1e-3;

/// The dash of each latency percentile: p50 solid, p99 dashed, p99.9 dotted.
const PERCENTILE_DASH: [(&str, &str, f64); 3] = [("p50", "", 2.0), ("p99", "7 4", 1.8), ("p99.9", "2 3", 1.8)];

/// A named line and its pen.
type Series = (String, Vec<(f64, f64)>, Pen);

/// Shades the fault windows and marks the end of the main phase on a time plot.
fn time_marks(plot: &mut Plot, record: &RunRecord) {
    for fw in &record.faults {
        plot.band(fw.start_s, fw.end_s.unwrap_or(record.main_phase_s), &fw.label);
    }
    if record.end_s > record.main_phase_s {
        plot.vline(record.main_phase_s, "settle: faults healed");
    }
}

fn time_axis(record: &RunRecord) -> Ax {
    Ax::new("simulated time (s)", Scale::Linear, 0.0, record.end_s.max(1e-3))
}

/// p50 / p99 / p99.9 of ok operations per interval, per op kind, on a log axis: a colour per op
/// kind, a dash per percentile.
pub fn latency_svg(record: &RunRecord) -> String {
    let half = record.interval_s / 2.0;
    let mut lines: Vec<Series> = Vec::new();
    for (k, op) in record.ops.iter().enumerate() {
        let pts = record.series.iter().filter(|p| p.kind == op.kind);
        for (i, (name, dash, width)) in PERCENTILE_DASH.iter().enumerate() {
            let v: Vec<(f64, f64)> = pts
                .clone()
                .filter_map(|p| [p.p50_ms, p.p99_ms, p.p999_ms][i].map(|v| (p.t_s + half, v.max(LATENCY_FLOOR_MS))))
                .collect();
            if !v.is_empty() {
                lines.push((format!("{} {name}", op.kind), v, Pen { color: palette(k), dash, width: *width }));
            }
        }
    }
    if lines.is_empty() {
        return empty("Latency over time", "no successful operations");
    }
    let ys = lines.iter().flat_map(|l| l.1.iter().map(|p| p.1));
    let mut plot = Plot::new(
        "Latency of ok operations over time",
        time_axis(record),
        Ax::fit("latency (ms, log scale)", Scale::Log10, ys, None),
    );
    plot.note("per reporting interval: p50 solid, p99 dashed, p99.9 dotted; a colour per operation");
    time_marks(&mut plot, record);
    for (name, pts, pen) in &lines {
        plot.line(name, pts, *pen, record.interval_s * 1.5);
    }
    plot.finish()
}

/// Completions per second in each interval, by outcome (all op kinds together).
pub fn throughput_svg(record: &RunRecord) -> String {
    let step = record.interval_s.max(1e-12);
    let n = record.series.iter().map(|p| (p.t_s / step).round() as usize + 1).max().unwrap_or(0);
    if n == 0 {
        return empty("Throughput", "no completed operations");
    }
    let mut by = vec![[0u64; 4]; n];
    for p in &record.series {
        let i = (p.t_s / step).round() as usize;
        for (c, v) in by[i].iter_mut().zip([p.ok, p.fail, p.timeout, p.rejected]) {
            *c += v;
        }
    }
    let mut lines = Vec::new();
    for (k, o) in Outcome::ALL.iter().enumerate() {
        if by.iter().any(|c| c[k] > 0) || k == 0 {
            let pts: Vec<(f64, f64)> =
                by.iter().enumerate().map(|(i, c)| ((i as f64 + 0.5) * step, c[k] as f64 / step)).collect();
            lines.push((outcome_name(Some(*o)), pts, Pen::solid(outcome_color(Some(*o)))));
        }
    }
    let ys = lines.iter().flat_map(|l| l.1.iter().map(|p| p.1));
    let mut plot = Plot::new(
        "Completed operations per second, by outcome",
        time_axis(record),
        Ax::fit("completions (ops/s)", Scale::Linear, ys, None),
    );
    time_marks(&mut plot, record);
    for (name, pts, pen) in &lines {
        plot.line(name, pts, *pen, f64::INFINITY);
    }
    plot.finish()
}

/// Latency by percentile per op kind: percentiles on a "nines" axis labelled p50 ... p99.99, the
/// latency on a log axis; steps between the measured percentiles (never a straight line across
/// the ones not measured).
pub fn latency_cdf_svg(record: &RunRecord) -> String {
    let ops: Vec<_> = record.ops.iter().enumerate().filter(|(_, o)| !o.latency_curve.is_empty()).collect();
    if ops.is_empty() {
        return empty("Latency by percentile", "no successful operations");
    }
    let measured = |o: &sim_core::record::OpSummary| -> Vec<(f64, f64)> {
        o.latency_curve.iter().filter(|(p, _)| *p < 100.0).map(|&(p, ms)| (p, ms.max(LATENCY_FLOOR_MS))).collect()
    };
    let ps = ops.iter().flat_map(|(_, o)| measured(o)).map(|p| p.0);
    let x = Ax::fit("percentile (of ok operations)", Scale::Nines, ps, None);
    let ys = ops.iter().flat_map(|(_, o)| measured(o)).map(|p| p.1);
    let mut plot = Plot::new("Latency by percentile", x, Ax::fit("latency (ms, log scale)", Scale::Log10, ys, None));
    plot.note("a dot is a measured percentile; its value holds until the next measured one");
    for (k, o) in ops {
        let m = measured(o);
        let steps: Vec<(f64, f64, f64)> =
            m.iter().enumerate().map(|(i, &(p, ms))| (p, m.get(i + 1).map_or(p, |n| n.0), ms)).collect();
        plot.steps_from_start(&o.kind, &steps, Pen::solid(palette(k)));
    }
    plot.finish()
}

/// One dot per operation (Jepsen's latency-raw): x its invocation, y its latency on a log axis,
/// coloured by outcome, fault windows shaded. `Err(why)` when the run had too many operations.
pub fn scatter_svg(record: &RunRecord) -> Result<String, String> {
    let Some(points) = &record.op_points.points else {
        return Err(format!(
            "skipped: the run has {} operations, more than the {} a readable scatter (and a page that opens quickly) \
             allows; the latency plots above summarise them",
            sim_core::model::thousands(record.op_points.total as u64),
            sim_core::model::thousands(OP_POINTS_MAX as u64),
        ));
    };
    if points.is_empty() {
        return Ok(empty("Every operation", "no operations"));
    }
    let ys = points.iter().map(|p| p.latency_ms.max(LATENCY_FLOOR_MS));
    let y = Ax::fit("latency (ms, log scale)", Scale::Log10, ys, None);
    let mut plot = Plot::new("Every operation: latency against invocation time", time_axis(record), y);
    plot.note(format!(
        "{} operations, one dot each, coloured by outcome; a pending operation's latency runs to the end of the run",
        sim_core::model::thousands(points.len() as u64)
    ));
    time_marks(&mut plot, record);
    let r = if points.len() > 5_000 { 1.4 } else { 2.2 };
    for o in [Some(Outcome::Ok), Some(Outcome::Rejected), Some(Outcome::Fail), Some(Outcome::Timeout), None] {
        let pts: Vec<(f64, f64)> = points
            .iter()
            .filter(|p| p.outcome == o)
            .map(|p| (p.invoke_s, p.latency_ms.max(LATENCY_FLOOR_MS)))
            .collect();
        if !pts.is_empty() {
            plot.dots(&format!("{} ({})", outcome_name(o), pts.len()), &pts, outcome_color(o), r);
        }
    }
    Ok(plot.finish())
}

/// A model table drawn as its model declared it; `None` for a grid (an HTML table only) and for a
/// table with no rows.
pub fn table_svg(table: &Table, record: &RunRecord) -> Option<String> {
    if table.rows.is_empty() {
        return None;
    }
    match &table.shape {
        Shape::Grid => None,
        Shape::Curve(c) => Some(curve_svg(table, c, record)),
        Shape::Bars(b) => Some(bars_svg(table, b)),
    }
}

fn col(table: &Table, name: &str) -> usize {
    table.column(name).unwrap_or_else(|| panic!("table `{}` declares a missing column `{name}`", table.name))
}

fn cell(row: &[f64], i: usize) -> f64 {
    row.get(i).copied().unwrap_or(f64::NAN)
}

fn curve_svg(table: &Table, c: &Curve, record: &RunRecord) -> String {
    let xi = col(table, &c.x);
    let yis: Vec<usize> = c.ys.iter().map(|y| col(table, y)).collect();
    let to = c.x_to.as_deref().map(|n| col(table, n));
    let note = c.note.as_deref().map(|n| col(table, n));
    let rows = &table.rows;
    // An open bin (its upper edge not finite, or below its lower edge) runs to the axis's end.
    let is_open = |r: &[f64]| table.open_bin(r);
    let mut xs: Vec<f64> = rows.iter().map(|r| cell(r, xi)).collect();
    if let Some(t) = to {
        xs.extend(rows.iter().filter(|r| !is_open(r)).map(|r| cell(r, t)));
    }
    let log_x = matches!(c.x_axis.scale, Scale::Log10 | Scale::Log2);
    let mut x = if c.time {
        time_axis(record)
    } else {
        Ax::fit(&c.x_axis.title(), c.x_axis.scale, xs.iter().copied(), c.x_axis.range)
    };
    // A first bin from 0 on a log axis: the axis starts a step below its upper edge, where the bin
    // is drawn from.
    let starts_at_zero = to.is_some() && log_x && rows.iter().any(|r| cell(r, xi) <= 0.0);
    if starts_at_zero && c.x_axis.range.is_none() {
        let first =
            rows.iter().filter(|r| !is_open(r)).map(|r| cell(r, to.unwrap_or(xi))).fold(f64::INFINITY, f64::min);
        if first.is_finite() && first > 0.0 {
            let step = if c.x_axis.scale == Scale::Log2 { 2.0 } else { 10.0 };
            x = Ax::new(&c.x_axis.title(), c.x_axis.scale, x.lo().min(first / step), x.hi());
        }
    }
    // Room for an open last bin: a step beyond the last closed edge.
    let open_from = rows.iter().find(|r| is_open(r)).map(|r| cell(r, xi));
    if let Some(from) = open_from
        && from >= x.hi() * 0.999
    {
        let hi = match c.x_axis.scale {
            Scale::Log10 => x.hi() * 10.0,
            Scale::Log2 => x.hi() * 4.0,
            _ => x.hi() + (x.hi() - x.lo()) * 0.25,
        };
        x = Ax::new(&c.x_axis.title(), c.x_axis.scale, x.lo(), hi);
    }
    let ys = rows.iter().flat_map(|r| yis.iter().map(|&i| cell(r, i)));
    let y = Ax::fit(&c.y_axis.title(), c.y_axis.scale, ys, c.y_axis.range);
    let mut plot = Plot::new(&table.name, x, y);
    if c.time {
        time_marks(&mut plot, record);
    }
    if let Some(from) = open_from {
        plot.note(format!(
            "the last bin is open: {} {} and more, drawn to the end of the axis",
            crate::num(from),
            c.x_axis.unit
        ));
    }
    if let Some(n) = &c.note {
        plot.note(format!("n beside each point: {n}"));
    }
    for (s, (&yi, name)) in yis.iter().zip(&c.ys).enumerate() {
        let pen = Pen::solid(palette(s));
        match to {
            Some(t) => {
                let (lo, hi) = (plot.x.lo(), plot.x.hi());
                let steps: Vec<(f64, f64, f64)> = rows
                    .iter()
                    .map(|r| {
                        let a = cell(r, xi);
                        let b = if is_open(r) { hi } else { cell(r, t) };
                        // A first bin from 0 on a log axis starts at the axis's start.
                        (if a > 0.0 || c.x_axis.scale == Scale::Linear { a.max(lo) } else { lo }, b, cell(r, yi))
                    })
                    .collect();
                let labels: Vec<String> = rows
                    .iter()
                    .map(|r| {
                        let n = note.filter(|_| s == 0).map(|n| format!("n={}", crate::num(cell(r, n))));
                        let open = is_open(r).then(|| format!("≥ {} {}", crate::num(cell(r, xi)), c.x_axis.unit));
                        [n, open].into_iter().flatten().collect::<Vec<_>>().join("\n")
                    })
                    .collect();
                plot.steps(name, &steps, &labels, pen);
            }
            // Percentiles are measured at points: steps between them, never a line across.
            None if c.x_axis.scale == Scale::Nines => {
                let pts: Vec<(f64, f64)> =
                    rows.iter().map(|r| (cell(r, xi), cell(r, yi))).filter(|p| p.0 < 100.0).collect();
                let steps: Vec<(f64, f64, f64)> =
                    pts.iter().enumerate().map(|(i, &(p, v))| (p, pts.get(i + 1).map_or(p, |n| n.0), v)).collect();
                plot.steps(name, &steps, &[], pen);
            }
            None => {
                let pts: Vec<(f64, f64)> = rows.iter().map(|r| (cell(r, xi), cell(r, yi))).collect();
                // Over time, a missing row is a gap: the table's own spacing (a model's buckets
                // need not be the report's intervals) sets how far apart rows may be.
                let step = pts.windows(2).map(|w| w[1].0 - w[0].0).filter(|d| *d > 0.0).fold(f64::INFINITY, f64::min);
                let gap = if c.time && step.is_finite() { step * 1.5 } else { f64::INFINITY };
                match note {
                    // Points with their notes (a step of no width is a point; the line joins them).
                    Some(n) if s == 0 => {
                        let steps: Vec<(f64, f64, f64)> = pts.iter().map(|&(x, y)| (x, x, y)).collect();
                        let labels: Vec<String> =
                            rows.iter().map(|r| format!("n={}", crate::num(cell(r, n)))).collect();
                        plot.steps(name, &steps, &labels, pen);
                    }
                    _ => plot.line(name, &pts, pen, gap),
                }
            }
        }
    }
    plot.finish()
}

fn bars_svg(table: &Table, b: &Bars) -> String {
    let ci = col(table, &b.category);
    let vis: Vec<usize> = b.values.iter().map(|v| col(table, v)).collect();
    let groups: Vec<(String, Vec<f64>)> = table
        .rows
        .iter()
        .enumerate()
        .map(|(i, r)| {
            let label = table.name_of(ci, i).map_or_else(|| crate::num(cell(r, ci)), str::to_string);
            (label, vis.iter().map(|&v| cell(r, v)).collect())
        })
        .collect();
    let ys = groups.iter().flat_map(|g| g.1.iter().copied());
    let y = Ax::fit(&b.y_axis.title(), b.y_axis.scale, ys, b.y_axis.range);
    let x = Ax::new(&b.category, Scale::Linear, 0.0, 1.0);
    let mut plot = Plot::new(&table.name, x, y);
    plot.bars(&b.values, &groups);
    plot.finish()
}
