//! A small SVG plotter: axes (linear, log10, log2, "nines"), lines (solid, dashed, dotted), steps,
//! dots, bars, shaded bands and a legend below the plot, where it never covers a curve.
//!
//! Written by hand rather than through a plotting crate so each series is an element the tests can
//! find (`<g class="series" data-series="read p99">`) and every label has a place of its own.

use crate::trace::xml_escape;
use sim_core::math;
use sim_core::model::Scale;
use std::fmt::Write as _;

/// Width of every plot, px.
pub(crate) const W: f64 = 900.0;
const LEFT: f64 = 78.0;
const RIGHT: f64 = 24.0;
const PLOT_H: f64 = 300.0;
const FONT: &str = "font-family=\"sans-serif\"";

/// Colours of op kinds and of the series of a table, readable on white and apart from the red of
/// fault windows.
pub(crate) fn palette(i: usize) -> &'static str {
    const C: [&str; 8] = ["#1f77b4", "#ff7f0e", "#2ca02c", "#9467bd", "#8c564b", "#e377c2", "#17becf", "#7f7f7f"];
    C[i % C.len()]
}

/// How a line is drawn.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Pen {
    pub color: &'static str,
    /// `""` solid, else an SVG `stroke-dasharray`.
    pub dash: &'static str,
    pub width: f64,
}

impl Pen {
    pub fn solid(color: &'static str) -> Pen {
        Pen { color, dash: "", width: 2.0 }
    }
    fn attrs(&self) -> String {
        let dash = if self.dash.is_empty() { String::new() } else { format!(" stroke-dasharray=\"{}\"", self.dash) };
        format!("fill=\"none\" stroke=\"{}\" stroke-width=\"{}\"{dash}", self.color, self.width)
    }
}

/// What a legend entry shows.
#[derive(Clone, Copy, Debug)]
enum Mark {
    Line(Pen),
    Dot(&'static str),
    Box(&'static str),
}

/// One axis: a scale, a range in data units, and labelled ticks.
#[derive(Clone, Debug)]
pub(crate) struct Ax {
    pub title: String,
    pub scale: Scale,
    lo: f64,
    hi: f64,
    pub ticks: Vec<(f64, String)>,
}

/// The "nines" of a percentile: p90 -> 1, p99 -> 2, p99.9 -> 3.
pub(crate) fn nines(p: f64) -> f64 {
    -math::log10((1.0 - p / 100.0).max(1e-7))
}

fn transform(scale: Scale, v: f64) -> Option<f64> {
    if !v.is_finite() {
        return None;
    }
    match scale {
        Scale::Linear => Some(v),
        Scale::Log10 => (v > 0.0).then(|| math::log10(v)),
        Scale::Log2 => (v > 0.0).then(|| math::log2(v)),
        Scale::Nines => (0.0..100.0).contains(&v).then(|| nines(v)),
    }
}

/// A tick label: short, no float noise (`0.25`, `5`, `1,000`, `20k`, `1.5M`).
pub(crate) fn tick_label(v: f64) -> String {
    let a = v.abs();
    if a >= 1e6 {
        format!("{}M", trim(v / 1e6))
    } else if a >= 1e4 {
        format!("{}k", trim(v / 1e3))
    } else if a > 0.0 && a < 1e-3 {
        format!("{v:e}")
    } else {
        trim(v)
    }
}

fn trim(v: f64) -> String {
    let s = format!("{:.4}", v);
    let s = s.trim_end_matches('0').trim_end_matches('.');
    if s == "-0" { "0".into() } else { s.to_string() }
}

/// A "nice" step (1, 2 or 5 times a power of ten) giving about `n` steps over `span`.
fn nice_step(span: f64, n: f64) -> f64 {
    let raw = (span / n).max(1e-12);
    let mag = math::powf(10f64, math::log10(raw).floor());
    let f = raw / mag;
    mag * if f <= 1.0 {
        1.0
    } else if f <= 2.0 {
        2.0
    } else if f <= 5.0 {
        5.0
    } else {
        10.0
    }
}

/// The 1, 2 or 5 times a power of ten next to `v`: at or below it when `down`, else at or above.
fn one_two_five(v: f64, down: bool) -> f64 {
    let mag = math::powf(10f64, math::log10(v).floor());
    let m = v / mag;
    let steps = [1.0, 2.0, 5.0, 10.0];
    let pick = if down {
        steps.iter().rev().find(|&&s| s <= m * (1.0 + 1e-9)).copied().unwrap_or(1.0)
    } else {
        steps.iter().find(|&&s| s >= m * (1.0 - 1e-9)).copied().unwrap_or(10.0)
    };
    pick * mag
}

impl Ax {
    /// An axis over `values` (those the scale cannot show are ignored); `range` fixes it.
    pub fn fit(title: &str, scale: Scale, values: impl IntoIterator<Item = f64>, range: Option<(f64, f64)>) -> Ax {
        let (mut lo, mut hi) = (f64::INFINITY, f64::NEG_INFINITY);
        for v in values {
            if transform(scale, v).is_some() {
                lo = lo.min(v);
                hi = hi.max(v);
            }
        }
        if let Some((a, b)) = range {
            return Ax::new(title, scale, a, b);
        }
        if !lo.is_finite() {
            return Ax::new(title, scale, if scale == Scale::Linear { 0.0 } else { 1.0 }, 10.0);
        }
        match scale {
            Scale::Linear => {
                let lo = lo.min(0.0);
                let hi = if hi > lo { hi } else { lo + 1.0 };
                let step = nice_step(hi - lo, 5.0);
                Ax::new(title, scale, (lo / step).floor() * step, ((hi / step).ceil() * step).max(hi * 1.05))
            }
            // From a 1, 2 or 5 below the least value to one above the greatest, with a margin so
            // no point sits on the frame.
            Scale::Log10 => {
                let (a, b) = (one_two_five(lo / 1.15, true), one_two_five(hi * 1.15, false));
                Ax::new(title, scale, a, if b > a { b } else { a * 10.0 })
            }
            Scale::Log2 => {
                let (a, b) = (math::powf(2f64, math::log2(lo).floor()), math::powf(2f64, math::log2(hi).ceil()));
                Ax::new(title, scale, a, if b > a { b } else { a * 2.0 })
            }
            Scale::Nines => Ax::new(title, scale, lo.min(50.0), hi.max(99.0)),
        }
    }

    /// An axis over `[lo, hi]` with ticks chosen for its scale.
    pub fn new(title: &str, scale: Scale, lo: f64, hi: f64) -> Ax {
        let mut ticks = Vec::new();
        match scale {
            Scale::Linear => {
                let step = nice_step(hi - lo, 5.0);
                let mut v = (lo / step).ceil() * step;
                while v <= hi + step * 1e-9 {
                    ticks.push((v, tick_label(if v.abs() < step * 1e-9 { 0.0 } else { v })));
                    v += step;
                }
            }
            Scale::Log10 => {
                let (a, b) = (math::log10(lo).floor() as i32, math::log10(hi).ceil() as i32);
                let few = b - a <= 3;
                for e in a..=b {
                    for m in if few { &[1.0, 2.0, 5.0][..] } else { &[1.0][..] } {
                        let v = m * 10f64.powi(e);
                        if v >= lo * (1.0 - 1e-9) && v <= hi * (1.0 + 1e-9) {
                            ticks.push((v, tick_label(v)));
                        }
                    }
                }
            }
            Scale::Log2 => {
                let (a, b) = (math::log2(lo).floor() as i32, math::log2(hi).ceil() as i32);
                for e in a..=b {
                    let v = 2f64.powi(e);
                    if v >= lo * (1.0 - 1e-9) && v <= hi * (1.0 + 1e-9) {
                        ticks.push((v, tick_label(v)));
                    }
                }
            }
            Scale::Nines => {
                for (p, label) in [
                    (0.0, "p0"),
                    (50.0, "p50"),
                    (90.0, "p90"),
                    (99.0, "p99"),
                    (99.9, "p99.9"),
                    (99.99, "p99.99"),
                    (99.999, "p99.999"),
                ] {
                    if p >= lo - 1e-9 && p <= hi + 1e-9 {
                        ticks.push((p, label.to_string()));
                    }
                }
            }
        }
        Ax { title: title.to_string(), scale, lo, hi, ticks }
    }

    /// Where `v` falls, 0 at `lo` and 1 at `hi` (`None`: the scale cannot show it).
    pub fn frac(&self, v: f64) -> Option<f64> {
        let (a, b) = (transform(self.scale, self.lo)?, transform(self.scale, self.hi)?);
        let t = transform(self.scale, v)?;
        Some(if b > a { (t - a) / (b - a) } else { 0.5 })
    }

    pub fn hi(&self) -> f64 {
        self.hi
    }
    pub fn lo(&self) -> f64 {
        self.lo
    }
}

/// A plot being drawn: elements in data coordinates, then axes and legend around them.
pub(crate) struct Plot {
    title: String,
    notes: Vec<String>,
    pub x: Ax,
    pub y: Ax,
    body: String,
    legend: Vec<(String, Mark)>,
    /// The top of each row of fault labels: where the last label of that row ends (px).
    label_rows: [f64; 4],
    /// Category labels under the x axis (bars), instead of numeric ticks.
    categories: Vec<(f64, String)>,
}

fn f(v: f64) -> String {
    format!("{:.1}", v)
}

impl Plot {
    pub fn new(title: &str, x: Ax, y: Ax) -> Plot {
        Plot {
            title: title.to_string(),
            notes: Vec::new(),
            x,
            y,
            body: String::new(),
            legend: Vec::new(),
            label_rows: [f64::NEG_INFINITY; 4],
            categories: Vec::new(),
        }
    }

    fn top(&self) -> f64 {
        34.0 + 16.0 * self.notes.len() as f64
    }

    /// A line of text under the title.
    pub fn note(&mut self, text: impl Into<String>) {
        self.notes.push(text.into());
    }

    /// Pixel x of a data x (within the plot area's frame; `None`: not showable).
    fn px(&self, x: f64) -> Option<f64> {
        Some(LEFT + self.x.frac(x)? * (W - LEFT - RIGHT))
    }
    /// Pixel y (before the top offset is known, plot-relative: 0 at the top of the plot area).
    fn py(&self, y: f64) -> Option<f64> {
        Some((1.0 - self.y.frac(y)?) * PLOT_H)
    }

    fn xy(&self, p: (f64, f64)) -> Option<(f64, f64)> {
        Some((self.px(p.0)?, self.py(p.1)?))
    }

    /// A shaded band over `[x0, x1)` (a zero-width one as a line), labelled at the top.
    pub fn band(&mut self, x0: f64, x1: f64, label: &str) {
        let (Some(a), Some(b)) = (self.px(x0), self.px(x1.max(x0))) else { return };
        let (a, b) = (a.clamp(LEFT, W - RIGHT), b.clamp(LEFT, W - RIGHT));
        let _ = write!(self.body, "<g class=\"fault\" data-label=\"{}\">", xml_escape(label));
        if b - a >= 1.0 {
            let _ = write!(
                self.body,
                "<rect x=\"{}\" y=\"0\" width=\"{}\" height=\"{PLOT_H}\" fill=\"#d62728\" fill-opacity=\"0.10\"/>",
                f(a),
                f(b - a)
            );
        } else {
            let _ = write!(
                self.body,
                "<line x1=\"{0}\" x2=\"{0}\" y1=\"0\" y2=\"{PLOT_H}\" stroke=\"#d62728\" stroke-opacity=\"0.6\"/>",
                f(a)
            );
        }
        // Labels in the first of four rows with room; none where every row is taken.
        let width = 6.0 * label.chars().count() as f64 + 6.0;
        if let Some(row) = self.label_rows.iter().position(|&end| end < a) {
            self.label_rows[row] = a + width;
            let _ = write!(
                self.body,
                "<text x=\"{}\" y=\"{}\" font-size=\"10\" fill=\"#961414\" {FONT}>{}</text>",
                f(a + 2.0),
                f(11.0 + 12.0 * row as f64),
                xml_escape(label)
            );
        }
        self.body.push_str("</g>");
    }

    /// A vertical marker line with a label (the start of the settle phase).
    pub fn vline(&mut self, x: f64, label: &str) {
        let Some(a) = self.px(x) else { return };
        let room = W - RIGHT - a > 5.5 * label.chars().count() as f64 + 6.0;
        let _ = write!(
            self.body,
            "<g class=\"marker\"><line x1=\"{0}\" x2=\"{0}\" y1=\"0\" y2=\"{PLOT_H}\" stroke=\"#000\" stroke-opacity=\"0.4\" \
             stroke-dasharray=\"2 3\"/><text x=\"{1}\" y=\"{2}\" font-size=\"10\" fill=\"#444\" text-anchor=\"{4}\" {FONT}>{3}</text></g>",
            f(a),
            f(if room { a + 3.0 } else { a - 3.0 }),
            f(PLOT_H - 6.0),
            xml_escape(label),
            if room { "start" } else { "end" }
        );
    }

    fn open_series(&mut self, name: &str) {
        let _ = write!(self.body, "<g class=\"series\" data-series=\"{}\">", xml_escape(name));
    }

    /// A line through `pts`, broken where a point cannot be shown or where x jumps by more than
    /// `gap` (no data there: nothing drawn).
    pub fn line(&mut self, name: &str, pts: &[(f64, f64)], pen: Pen, gap: f64) {
        self.open_series(name);
        let mut run: Vec<(f64, f64)> = Vec::new();
        let mut last_x = f64::NEG_INFINITY;
        for &p in pts {
            let shown = self.xy(p);
            if shown.is_none() || p.0 - last_x > gap {
                self.polyline(&run, pen);
                run.clear();
            }
            if let Some(q) = shown {
                run.push(q);
            }
            last_x = p.0;
        }
        self.polyline(&run, pen);
        self.body.push_str("</g>");
        self.legend.push((name.to_string(), Mark::Line(pen)));
    }

    fn polyline(&mut self, run: &[(f64, f64)], pen: Pen) {
        match run.len() {
            0 => {}
            1 => {
                let _ = write!(
                    self.body,
                    "<circle cx=\"{}\" cy=\"{}\" r=\"2.5\" fill=\"{}\"/>",
                    f(run[0].0),
                    f(run[0].1),
                    pen.color
                );
            }
            _ => {
                let pts: Vec<String> = run.iter().map(|&(x, y)| format!("{},{}", f(x), f(y))).collect();
                let _ = write!(self.body, "<polyline points=\"{}\" {}/>", pts.join(" "), pen.attrs());
            }
        }
    }

    /// A staircase: each `(x0, x1, y)` holds `y` over `[x0, x1]`, joined by risers; a marker at each
    /// step's middle carries its data (`data-x`, `data-y`), and `labels` are written above them.
    pub fn steps(&mut self, name: &str, steps: &[(f64, f64, f64)], labels: &[String], pen: Pen) {
        self.steps_marked(name, steps, labels, pen, false);
    }

    /// Steps whose value was measured at the step's start (a percentile held until the next
    /// measured one): the dot sits at the start, where the value was measured.
    pub fn steps_from_start(&mut self, name: &str, steps: &[(f64, f64, f64)], pen: Pen) {
        self.steps_marked(name, steps, &[], pen, true);
    }

    fn steps_marked(&mut self, name: &str, steps: &[(f64, f64, f64)], labels: &[String], pen: Pen, at_start: bool) {
        self.open_series(name);
        let mut path: Vec<(f64, f64)> = Vec::new();
        let mut marks = String::new();
        for (i, &(x0, x1, y)) in steps.iter().enumerate() {
            let (Some(a), Some(b), Some(v)) = (self.px(x0), self.px(x1), self.py(y)) else { continue };
            path.push((a, v));
            path.push((b, v));
            let mid = (a + b) / 2.0;
            let _ = write!(
                marks,
                "<circle class=\"point\" cx=\"{}\" cy=\"{}\" r=\"3\" fill=\"{}\" data-y=\"{}\"/>",
                f(if at_start { a } else { mid }),
                f(v),
                pen.color,
                trim(y)
            );
            // A label's lines stack away from the point: below it near the top, else above it.
            let lines: Vec<&str> = labels.get(i).map_or(Vec::new(), |l| l.lines().filter(|l| !l.is_empty()).collect());
            for (k, l) in lines.iter().enumerate() {
                let above =
                    if v < 24.0 { v + 16.0 + 12.0 * k as f64 } else { v - 7.0 - 12.0 * (lines.len() - 1 - k) as f64 };
                // Kept inside the plot: a label that would run past an edge is anchored at it.
                let half = 2.8 * l.chars().count() as f64;
                let (x, anchor) = if mid + half > W - RIGHT {
                    (W - RIGHT - 2.0, "end")
                } else if mid - half < LEFT {
                    (LEFT + 2.0, "start")
                } else {
                    (mid, "middle")
                };
                let _ = write!(
                    marks,
                    "<text class=\"note\" x=\"{}\" y=\"{}\" font-size=\"10\" fill=\"#555\" text-anchor=\"{anchor}\" {FONT}>{}</text>",
                    f(x),
                    f(above),
                    xml_escape(l)
                );
            }
        }
        self.polyline(&path, pen);
        self.body.push_str(&marks);
        self.body.push_str("</g>");
        self.legend.push((name.to_string(), Mark::Line(pen)));
    }

    /// A shaded band between two curves, `(x, low, high)` per point (the spread of a value across
    /// seeds); its series is named `name`, and it has no legend entry of its own.
    pub fn spread(&mut self, name: &str, pts: &[(f64, f64, f64)], color: &'static str) {
        let upper: Vec<(f64, f64)> = pts.iter().filter_map(|&(x, _, hi)| self.xy((x, hi))).collect();
        let lower: Vec<(f64, f64)> = pts.iter().rev().filter_map(|&(x, lo, _)| self.xy((x, lo))).collect();
        if upper.len() < 2 || upper.len() != lower.len() {
            return;
        }
        let outline: Vec<String> = upper.iter().chain(&lower).map(|&(x, y)| format!("{},{}", f(x), f(y))).collect();
        let _ = write!(
            self.body,
            "<g class=\"spread\" data-series=\"{}\"><polygon points=\"{}\" fill=\"{color}\" fill-opacity=\"0.15\" stroke=\"none\"/></g>",
            xml_escape(name),
            outline.join(" ")
        );
    }

    /// A horizontal line across the plot at `y` (a bound), labelled at its right end.
    pub fn hline(&mut self, y: f64, label: &str, color: &'static str) {
        let Some(v) = self.py(y) else { return };
        let _ = write!(
            self.body,
            "<g class=\"bound\" data-label=\"{3}\" data-y=\"{4}\"><line x1=\"{LEFT}\" x2=\"{0}\" y1=\"{1}\" y2=\"{1}\" stroke=\"{color}\" \
             stroke-width=\"1.5\" stroke-dasharray=\"8 4\"/><text x=\"{2}\" y=\"{5}\" font-size=\"10\" fill=\"{color}\" text-anchor=\"end\" {FONT}>{3}</text></g>",
            f(W - RIGHT),
            f(v),
            f(W - RIGHT - 2.0),
            xml_escape(label),
            trim(y),
            f(v - 3.0)
        );
    }

    /// Dots, one per point, in one colour (`r` px).
    pub fn dots(&mut self, name: &str, pts: &[(f64, f64)], color: &'static str, r: f64) {
        self.open_series(name);
        let _ = write!(self.body, "<g fill=\"{color}\" fill-opacity=\"0.55\">");
        for &p in pts {
            if let Some((x, y)) = self.xy(p) {
                let _ = write!(self.body, "<circle cx=\"{}\" cy=\"{}\" r=\"{r}\"/>", f(x), f(y));
            }
        }
        self.body.push_str("</g></g>");
        self.legend.push((name.to_string(), Mark::Dot(color)));
    }

    /// Grouped bars: `groups[i]` holds the category's label and one value per series.
    pub fn bars(&mut self, names: &[String], groups: &[(String, Vec<f64>)]) {
        let n = groups.len().max(1) as f64;
        let slot = (W - LEFT - RIGHT) / n;
        let per = names.len().max(1) as f64;
        let bar = (slot * 0.8 / per).min(60.0);
        let base = self.py(if self.y.scale == Scale::Linear { 0.0f64.max(self.y.lo) } else { self.y.lo });
        let base = base.unwrap_or(PLOT_H);
        for (s, name) in names.iter().enumerate() {
            self.open_series(name);
            for (g, (label, values)) in groups.iter().enumerate() {
                let Some(v) = values.get(s).copied() else { continue };
                let Some(top) = self.py(v) else { continue };
                let x = LEFT + slot * g as f64 + (slot - bar * per) / 2.0 + bar * s as f64;
                let _ = write!(
                    self.body,
                    "<rect class=\"bar\" data-category=\"{}\" data-y=\"{}\" x=\"{}\" y=\"{}\" width=\"{}\" height=\"{}\" \
                     fill=\"{}\"/>",
                    xml_escape(label),
                    trim(v),
                    f(x),
                    f(top.min(base)),
                    f(bar - 2.0),
                    f((base - top).abs()),
                    palette(s)
                );
                let _ = write!(
                    self.body,
                    "<text class=\"note\" x=\"{}\" y=\"{}\" font-size=\"10\" fill=\"#333\" text-anchor=\"middle\" {FONT}>{}</text>",
                    f(x + bar / 2.0 - 1.0),
                    f((top.min(base) - 4.0).max(10.0)),
                    xml_escape(&crate::num(v))
                );
            }
            self.body.push_str("</g>");
            self.legend.push((name.clone(), Mark::Box(palette(s))));
        }
        self.categories =
            groups.iter().enumerate().map(|(g, (l, _))| (LEFT + slot * (g as f64 + 0.5), l.clone())).collect();
    }

    /// The finished SVG document.
    pub fn finish(self) -> String {
        let top = self.top();
        let plot_w = W - LEFT - RIGHT;
        // Legend rows, wrapped to the width.
        let mut rows: Vec<Vec<(f64, &(String, Mark))>> = vec![Vec::new()];
        let mut x = LEFT;
        for item in &self.legend {
            let w = 34.0 + 6.5 * item.0.chars().count() as f64;
            if x + w > W - RIGHT && !rows.last().is_some_and(|r| r.is_empty()) {
                rows.push(Vec::new());
                x = LEFT;
            }
            rows.last_mut().expect("one row").push((x, item));
            x += w;
        }
        let legend_top = top + PLOT_H + 48.0;
        let rows_n = if self.legend.is_empty() { 0 } else { rows.len() };
        let h = legend_top + 18.0 * rows_n as f64 + 6.0;
        let clip = format!("c{:x}", fnv(&format!("{}{}", self.title, self.body.len())));
        let mut s = String::new();
        let _ = write!(
            s,
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{W}\" height=\"{}\" \
             viewBox=\"0 0 {W} {}\">\n<rect width=\"100%\" height=\"100%\" fill=\"#fff\"/>\n",
            f(h),
            f(h)
        );
        let _ = writeln!(
            s,
            "<text class=\"title\" x=\"{}\" y=\"20\" font-size=\"15\" font-weight=\"bold\" text-anchor=\"middle\" {FONT}>{}</text>",
            W / 2.0,
            xml_escape(&self.title)
        );
        for (i, n) in self.notes.iter().enumerate() {
            let _ = writeln!(
                s,
                "<text class=\"subtitle\" x=\"{}\" y=\"{}\" font-size=\"11\" fill=\"#444\" text-anchor=\"middle\" {FONT}>{}</text>",
                W / 2.0,
                f(36.0 + 16.0 * i as f64),
                xml_escape(n)
            );
        }
        // Grid and ticks.
        let _ = writeln!(s, "<g class=\"axes\" font-size=\"11\" fill=\"#333\" {FONT}>");
        for (v, label) in &self.y.ticks {
            if let Some(y) = self.py(*v) {
                let y = top + y;
                let _ = write!(
                    s,
                    "<line x1=\"{LEFT}\" x2=\"{}\" y1=\"{1}\" y2=\"{1}\" stroke=\"#000\" stroke-opacity=\"0.08\"/>\
                     <text class=\"ytick\" x=\"{2}\" y=\"{3}\" text-anchor=\"end\">{4}</text>",
                    W - RIGHT,
                    f(y),
                    LEFT - 6.0,
                    f(y + 4.0),
                    xml_escape(label)
                );
            }
        }
        if self.categories.is_empty() {
            for (v, label) in &self.x.ticks {
                if let Some(x) = self.px(*v) {
                    let _ = write!(
                        s,
                        "<line x1=\"{0}\" x2=\"{0}\" y1=\"{1}\" y2=\"{2}\" stroke=\"#000\" stroke-opacity=\"0.08\"/>\
                         <text class=\"xtick\" x=\"{0}\" y=\"{3}\" text-anchor=\"middle\">{4}</text>",
                        f(x),
                        f(top),
                        f(top + PLOT_H + 4.0),
                        f(top + PLOT_H + 17.0),
                        xml_escape(label)
                    );
                }
            }
        } else {
            for (x, label) in &self.categories {
                let _ = write!(
                    s,
                    "<text class=\"xtick\" x=\"{}\" y=\"{}\" text-anchor=\"middle\">{}</text>",
                    f(*x),
                    f(top + PLOT_H + 17.0),
                    xml_escape(label)
                );
            }
        }
        let _ = write!(
            s,
            "<rect x=\"{LEFT}\" y=\"{}\" width=\"{}\" height=\"{PLOT_H}\" fill=\"none\" stroke=\"#000\" stroke-opacity=\"0.5\"/>",
            f(top),
            f(plot_w)
        );
        let _ = write!(
            s,
            "<text class=\"xtitle\" x=\"{}\" y=\"{}\" text-anchor=\"middle\" font-size=\"12\">{}</text>",
            f(LEFT + plot_w / 2.0),
            f(top + PLOT_H + 35.0),
            xml_escape(&self.x.title)
        );
        let _ = writeln!(
            s,
            "<text class=\"ytitle\" transform=\"translate(16,{}) rotate(-90)\" text-anchor=\"middle\" font-size=\"12\">{}</text></g>",
            f(top + PLOT_H / 2.0),
            xml_escape(&self.y.title)
        );
        // The data, clipped to the plot area (a little room for markers on its edges).
        let _ = writeln!(
            s,
            "<clipPath id=\"{clip}\"><rect x=\"{}\" y=\"-4\" width=\"{}\" height=\"{}\"/></clipPath>",
            LEFT - 4.0,
            plot_w + 8.0,
            PLOT_H + 8.0
        );
        let _ = writeln!(s, "<g transform=\"translate(0,{})\" clip-path=\"url(#{clip})\">{}</g>", f(top), self.body);
        // The legend.
        if rows_n > 0 {
            let _ = writeln!(s, "<g class=\"legend\" font-size=\"11\" fill=\"#222\" {FONT}>");
            for (r, row) in rows.iter().enumerate() {
                let y = legend_top + 18.0 * r as f64;
                for (x, (name, mark)) in row {
                    let swatch = match mark {
                        Mark::Line(p) => {
                            format!(
                                "<line x1=\"{}\" x2=\"{}\" y1=\"{2}\" y2=\"{2}\" {3}/>",
                                f(*x),
                                f(x + 24.0),
                                f(y - 4.0),
                                p.attrs()
                            )
                        }
                        Mark::Dot(c) => {
                            format!("<circle cx=\"{}\" cy=\"{}\" r=\"4\" fill=\"{c}\"/>", f(x + 12.0), f(y - 4.0))
                        }
                        Mark::Box(c) => format!(
                            "<rect x=\"{}\" y=\"{}\" width=\"16\" height=\"10\" fill=\"{c}\"/>",
                            f(x + 4.0),
                            f(y - 9.0)
                        ),
                    };
                    let _ = write!(
                        s,
                        "<g class=\"legend-item\">{swatch}<text x=\"{}\" y=\"{}\">{}</text></g>",
                        f(x + 29.0),
                        f(y),
                        xml_escape(name)
                    );
                }
            }
            s.push_str("</g>\n");
        }
        s.push_str("</svg>\n");
        s
    }
}

/// FNV-1a, for ids unique to a plot (several plots share one HTML page).
fn fnv(s: &str) -> u64 {
    s.bytes().fold(0xcbf29ce484222325u64, |h, b| (h ^ b as u64).wrapping_mul(0x100000001b3))
}

/// A plot with nothing to draw: its title and why.
pub(crate) fn empty(title: &str, why: &str) -> String {
    format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{W}\" height=\"60\" \
         viewBox=\"0 0 {W} 60\"><rect width=\"100%\" height=\"100%\" fill=\"#fff\"/><text x=\"20\" y=\"35\" font-size=\"14\" \
         {FONT}>{}: {}</text></svg>\n",
        xml_escape(title),
        xml_escape(why)
    )
}
