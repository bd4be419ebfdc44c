//! SVG plots (plotters, SVG backend). Every time axis shades and labels the fault windows.

use plotters::coord::Shift;
use plotters::prelude::*;
use sim_core::model::Table;
use sim_core::record::RunRecord;

const W: u32 = 900;
const H: u32 = 380;

/// A colour per series, readable on white.
fn color(i: usize) -> RGBColor {
    const C: [RGBColor; 8] = [
        RGBColor(31, 119, 180),
        RGBColor(255, 127, 14),
        RGBColor(44, 160, 44),
        RGBColor(214, 39, 40),
        RGBColor(148, 103, 189),
        RGBColor(140, 86, 75),
        RGBColor(227, 119, 194),
        RGBColor(23, 190, 207),
    ];
    C[i % C.len()]
}

/// A fault window on the time axis: `[start, end)` seconds and its label.
fn fault_windows(record: &RunRecord) -> Vec<(f64, f64, String)> {
    record.faults.iter().map(|f| (f.start_s, f.end_s.unwrap_or(record.main_phase_s), f.label.clone())).collect()
}

fn empty_svg(title: &str, why: &str) -> String {
    let mut buf = String::new();
    {
        let root = SVGBackend::with_string(&mut buf, (W, 120)).into_drawing_area();
        let _ = root.fill(&WHITE);
        let _ = root.draw(&Text::new(format!("{title}: {why}"), (20, 50), ("sans-serif", 16).into_font()));
        let _ = root.present();
    }
    buf
}

/// One line of a time plot: colour index, width, dashed, and the largest x gap it bridges.
struct Line {
    name: String,
    pts: Vec<(f64, f64)>,
    color: usize,
    width: u32,
    dashed: bool,
}

impl Line {
    fn new(name: String, pts: Vec<(f64, f64)>, color: usize) -> Line {
        Line { name, pts, color, width: 2, dashed: false }
    }
}

/// Splits a line where consecutive points are more than `gap` apart (no data there: draw none).
fn segments(pts: &[(f64, f64)], gap: f64) -> Vec<Vec<(f64, f64)>> {
    let mut out: Vec<Vec<(f64, f64)>> = Vec::new();
    for (i, p) in pts.iter().enumerate() {
        if i == 0 || p.0 - pts[i - 1].0 > gap {
            out.push(Vec::new());
        }
        out.last_mut().expect("pushed").push(*p);
    }
    out
}

type Chart<'a, 'b> = ChartContext<
    'a,
    SVGBackend<'b>,
    Cartesian2d<plotters::coord::types::RangedCoordf64, plotters::coord::types::RangedCoordf64>,
>;

/// Shades the fault windows over the whole plot height, each labelled at the top.
fn shade_faults(chart: &mut Chart<'_, '_>, windows: &[(f64, f64, String)], y_max: f64) -> Result<(), String> {
    let fill = RGBColor(214, 39, 40).mix(0.12).filled();
    let edge = RGBColor(214, 39, 40).mix(0.6);
    for (i, (a, b, label)) in windows.iter().enumerate() {
        if b > a {
            chart
                .draw_series(std::iter::once(Rectangle::new([(*a, 0.0), (*b, y_max)], fill)))
                .map_err(|e| e.to_string())?;
        } else {
            chart
                .draw_series(std::iter::once(PathElement::new(vec![(*a, 0.0), (*a, y_max)], edge.stroke_width(1))))
                .map_err(|e| e.to_string())?;
        }
        // Stagger labels so overlapping windows stay readable.
        let y = y_max * (0.97 - 0.06 * (i % 4) as f64);
        chart
            .draw_series(std::iter::once(Text::new(
                label.clone(),
                (*a, y),
                ("sans-serif", 11).into_font().color(&RGBColor(150, 20, 20)),
            )))
            .map_err(|e| e.to_string())?;
    }
    Ok(())
}

fn finish(root: DrawingArea<SVGBackend<'_>, Shift>) -> Result<(), String> {
    root.present().map_err(|e| e.to_string())
}

/// p50 / p99 / p99.9 of ok operations per interval, per op, over time.
pub fn latency_svg(record: &RunRecord) -> String {
    let mut lines: Vec<Line> = Vec::new();
    for (k, op) in record.ops.iter().enumerate() {
        let pts = record.series.iter().filter(|p| p.kind == op.kind);
        let half = record.interval_s / 2.0;
        let get = |f: fn(&sim_core::record::SeriesPoint) -> Option<f64>| -> Vec<(f64, f64)> {
            pts.clone().filter_map(|p| f(p).map(|v| (p.t_s + half, v))).collect()
        };
        let styles = [
            ("p50", get(|p| p.p50_ms), 1, false),
            ("p99", get(|p| p.p99_ms), 2, false),
            ("p99.9", get(|p| p.p999_ms), 1, true),
        ];
        for (name, v, width, dashed) in styles {
            if !v.is_empty() {
                lines.push(Line { name: format!("{} {name}", op.kind), pts: v, color: k, width, dashed });
            }
        }
    }
    if lines.is_empty() {
        return empty_svg("Latency over time", "no successful operations");
    }
    let y_max = lines.iter().flat_map(|l| l.pts.iter().map(|p| p.1)).fold(0.0f64, f64::max).max(1e-3) * 1.15;
    time_plot("Latency of ok operations over time (ms)", "latency (ms)", record, &lines, y_max)
        .unwrap_or_else(|e| empty_svg("Latency over time", &e))
}

/// Completions per second in each interval, by outcome (all op kinds together).
pub fn throughput_svg(record: &RunRecord) -> String {
    let n =
        record.series.iter().map(|p| (p.t_s / record.interval_s.max(1e-12)).round() as usize + 1).max().unwrap_or(0);
    if n == 0 {
        return empty_svg("Throughput", "no completed operations");
    }
    let mut by = vec![[0u64; 4]; n];
    for p in &record.series {
        let i = (p.t_s / record.interval_s.max(1e-12)).round() as usize;
        by[i][0] += p.ok;
        by[i][1] += p.fail;
        by[i][2] += p.timeout;
        by[i][3] += p.rejected;
    }
    let per_s = 1.0 / record.interval_s.max(1e-12);
    let mut lines = Vec::new();
    for (k, name) in ["ok", "fail", "timeout", "rejected"].iter().enumerate() {
        if by.iter().any(|c| c[k] > 0) || k == 0 {
            let pts: Vec<(f64, f64)> = by
                .iter()
                .enumerate()
                .map(|(i, c)| ((i as f64 + 0.5) * record.interval_s, c[k] as f64 * per_s))
                .collect();
            lines.push(Line::new(name.to_string(), pts, [2, 3, 1, 4][k]));
        }
    }
    let y_max = lines.iter().flat_map(|l| l.pts.iter().map(|p| p.1)).fold(0.0f64, f64::max).max(1.0) * 1.15;
    time_plot("Completed operations per second, by outcome", "ops/s", record, &lines, y_max)
        .unwrap_or_else(|e| empty_svg("Throughput", &e))
}

fn time_plot(title: &str, y_label: &str, record: &RunRecord, lines: &[Line], y_max: f64) -> Result<String, String> {
    let mut buf = String::new();
    {
        let root = SVGBackend::with_string(&mut buf, (W, H)).into_drawing_area();
        root.fill(&WHITE).map_err(|e| e.to_string())?;
        let x_max = record.end_s.max(1e-3);
        let mut chart = ChartBuilder::on(&root)
            .caption(title, ("sans-serif", 16))
            .margin(10)
            .x_label_area_size(35)
            .y_label_area_size(60)
            .build_cartesian_2d(0.0..x_max, 0.0..y_max)
            .map_err(|e| e.to_string())?;
        chart
            .configure_mesh()
            .x_desc("simulated time (s)")
            .y_desc(y_label)
            .light_line_style(WHITE.mix(0.0))
            .draw()
            .map_err(|e| e.to_string())?;
        shade_faults(&mut chart, &fault_windows(record), y_max)?;
        // The end of the main phase: after it the liveness phase heals every fault.
        if record.end_s > record.main_phase_s {
            let m = record.main_phase_s;
            chart
                .draw_series(std::iter::once(PathElement::new(
                    vec![(m, 0.0), (m, y_max)],
                    BLACK.mix(0.4).stroke_width(1),
                )))
                .map_err(|e| e.to_string())?;
            chart
                .draw_series(std::iter::once(Text::new("settle", (m, y_max * 0.6), ("sans-serif", 11).into_font())))
                .map_err(|e| e.to_string())?;
        }
        let gap = record.interval_s * 1.5;
        for line in lines {
            let c = color(line.color);
            let style = c.stroke_width(line.width);
            for (j, seg) in segments(&line.pts, gap).into_iter().enumerate() {
                let anno = if line.dashed {
                    chart.draw_series(DashedLineSeries::new(seg, 6, 4, style)).map_err(|e| e.to_string())?
                } else {
                    chart.draw_series(LineSeries::new(seg, style)).map_err(|e| e.to_string())?
                };
                if j == 0 {
                    anno.label(line.name.clone())
                        .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 18, y)], style));
                }
            }
        }
        draw_legend(&mut chart, SeriesLabelPosition::UpperRight)?;
        finish(root)?;
    }
    Ok(buf)
}

/// The legend box every plot uses, at `position`.
fn draw_legend<'a, DB: DrawingBackend + 'a, CT: CoordTranslate>(
    chart: &mut ChartContext<'a, DB, CT>,
    position: SeriesLabelPosition,
) -> Result<(), String> {
    chart
        .configure_series_labels()
        .position(position)
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK.mix(0.3))
        .draw()
        .map_err(|e| e.to_string())
}

/// The "nines" of a percentile: p90 -> 1, p99 -> 2, p99.9 -> 3.
fn nines(p: f64) -> f64 {
    -(1.0 - p / 100.0).max(1e-6).log10()
}

/// Latency by percentile per op: x is the number of nines (p50 ... p99.99), y milliseconds.
pub fn latency_cdf_svg(record: &RunRecord) -> String {
    let lines: Vec<(String, Vec<(f64, f64)>)> = record
        .ops
        .iter()
        .filter(|o| !o.latency_curve.is_empty())
        .map(|o| {
            (
                o.kind.clone(),
                o.latency_curve.iter().filter(|(p, _)| *p < 100.0).map(|&(p, ms)| (nines(p), ms)).collect(),
            )
        })
        .collect();
    if lines.is_empty() {
        return empty_svg("Latency by percentile", "no successful operations");
    }
    let y_max = lines.iter().flat_map(|l| l.1.iter().map(|p| p.1)).fold(0.0f64, f64::max).max(1e-3) * 1.15;
    let x_max = lines.iter().flat_map(|l| l.1.iter().map(|p| p.0)).fold(1.0f64, f64::max);
    let render = || -> Result<String, String> {
        let mut buf = String::new();
        {
            let root = SVGBackend::with_string(&mut buf, (W, H)).into_drawing_area();
            root.fill(&WHITE).map_err(|e| e.to_string())?;
            let mut chart = ChartBuilder::on(&root)
                .caption("Latency by percentile (ok operations)", ("sans-serif", 16))
                .margin(10)
                .x_label_area_size(35)
                .y_label_area_size(60)
                .build_cartesian_2d(0.0..x_max, 0.0..y_max)
                .map_err(|e| e.to_string())?;
            chart
                .configure_mesh()
                .x_desc("percentile")
                .y_desc("latency (ms)")
                .disable_x_mesh()
                .x_labels(0)
                .draw()
                .map_err(|e| e.to_string())?;
            // The percentile ticks, at their nines.
            let ticks = [(0.0, "p0"), (50.0, "p50"), (90.0, "p90"), (99.0, "p99"), (99.9, "p99.9"), (99.99, "p99.99")];
            for (p, label) in ticks {
                let x = nines(p);
                if x > x_max + 1e-9 {
                    break;
                }
                chart
                    .draw_series(std::iter::once(PathElement::new(vec![(x, 0.0), (x, y_max)], BLACK.mix(0.15))))
                    .map_err(|e| e.to_string())?;
                chart
                    .draw_series(std::iter::once(Text::new(
                        label,
                        (if x + 0.2 > x_max { x - 0.25 } else { x + 0.02 }, y_max * 0.03),
                        ("sans-serif", 11).into_font(),
                    )))
                    .map_err(|e| e.to_string())?;
            }
            for (i, (name, pts)) in lines.iter().enumerate() {
                let c = color(i);
                chart
                    .draw_series(LineSeries::new(pts.iter().copied(), c.stroke_width(2)))
                    .map_err(|e| e.to_string())?
                    .label(name.clone())
                    .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 18, y)], c.stroke_width(2)));
                chart
                    .draw_series(pts.iter().map(|&(x, y)| Circle::new((x, y), 3, c.filled())))
                    .map_err(|e| e.to_string())?;
            }
            draw_legend(&mut chart, SeriesLabelPosition::UpperLeft)?;
            finish(root)?;
        }
        Ok(buf)
    };
    render().unwrap_or_else(|e| empty_svg("Latency by percentile", &e))
}

/// A model table as a line plot: the first column is x, every other column a line. When the first
/// column is time (`t_s` / `time_s`), fault windows are shaded. `None` for a table with no rows or
/// fewer than two columns.
pub fn table_svg(table: &Table, record: &RunRecord) -> Option<String> {
    if table.columns.len() < 2 || table.rows.is_empty() {
        return None;
    }
    let xs = table.rows.iter().filter_map(|r| r.first().copied()).filter(|v| v.is_finite());
    let (x_min, x_max) = xs.fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), x| (a.min(x), b.max(x)));
    if !x_min.is_finite() {
        return None;
    }
    let is_time = matches!(table.columns[0].as_str(), "t_s" | "time_s" | "t");
    let (x_min, x_max) = if is_time { (0.0, record.end_s.max(x_max)) } else { (x_min, x_max) };
    let x_max = if x_max > x_min { x_max } else { x_min + 1.0 };
    let lines: Vec<(String, Vec<(f64, f64)>)> = (1..table.columns.len())
        .map(|c| {
            let pts = table
                .rows
                .iter()
                .filter_map(|r| Some((*r.first()?, *r.get(c)?)))
                .filter(|(x, y)| x.is_finite() && y.is_finite())
                .collect();
            (table.columns[c].clone(), pts)
        })
        .collect();
    let all_y = lines.iter().flat_map(|l| l.1.iter().map(|p| p.1));
    let (y_min, y_max) = all_y.fold((0.0f64, f64::NEG_INFINITY), |(a, b), y| (a.min(y), b.max(y)));
    let y_max = if y_max > y_min { y_max + (y_max - y_min) * 0.15 } else { y_min + 1.0 };
    let render = || -> Result<String, String> {
        let mut buf = String::new();
        {
            let root = SVGBackend::with_string(&mut buf, (W, H)).into_drawing_area();
            root.fill(&WHITE).map_err(|e| e.to_string())?;
            let mut chart = ChartBuilder::on(&root)
                .caption(format!("Model table: {}", table.name), ("sans-serif", 16))
                .margin(10)
                .x_label_area_size(35)
                .y_label_area_size(60)
                .build_cartesian_2d(x_min..x_max, y_min..y_max)
                .map_err(|e| e.to_string())?;
            chart.configure_mesh().x_desc(table.columns[0].clone()).draw().map_err(|e| e.to_string())?;
            if is_time && y_min >= 0.0 {
                shade_faults(&mut chart, &fault_windows(record), y_max)?;
            }
            for (i, (name, pts)) in lines.iter().enumerate() {
                let c = color(i);
                chart
                    .draw_series(LineSeries::new(pts.iter().copied(), c.stroke_width(2)))
                    .map_err(|e| e.to_string())?
                    .label(name.clone())
                    .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 18, y)], c.stroke_width(2)));
            }
            draw_legend(&mut chart, SeriesLabelPosition::UpperRight)?;
            finish(root)?;
        }
        Ok(buf)
    };
    Some(render().unwrap_or_else(|e| empty_svg(&table.name, &e)))
}
