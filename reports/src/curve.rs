//! A load curve (`simctl curve`): one field of a scenario varied over points, each point run on
//! several seeds. Rendered as `curve.json` (every seed's numbers), `curve.svg` (latency
//! percentiles and throughput against the varied value: the median across seeds as a line, the
//! seeds' spread as a band, the SLA latency bounds as dashed lines, the knee marked), a terminal
//! table and `index.html`. No IO, nothing about a model: the CLI fills in [`Curve`].

use crate::svg::{Ax, Pen, Plot, palette};
use crate::text::{aligned, esc, html_table, inline_svg, page_head};
use serde::Serialize;
use sim_core::model::Scale;
use std::collections::BTreeMap;
use std::fmt::Write as _;

/// Schema version of `curve.json`.
pub const CURVE_SCHEMA: u32 = 1;

/// A whole curve.
#[derive(Clone, Debug, Serialize)]
pub struct Curve {
    pub schema: u32,
    pub scenario: String,
    pub scenario_file: String,
    pub scenario_hash: String,
    pub simctl_version: String,
    /// The field path varied (`workload.arrival.rate_per_s`).
    pub vary: String,
    /// Other `--set` overrides, as `PATH=VALUE`.
    pub set: Vec<String>,
    pub seeds: Vec<u64>,
    /// The share of seeds that must pass for a point to hold.
    pub confidence: f64,
    /// SLA latency bounds drawn on the plot.
    pub latency_bounds: Vec<LatencyBound>,
    pub points: Vec<CurvePoint>,
    /// The knee: the highest value such that it and every lower point hold (`None`: the lowest
    /// point already fails).
    pub knee: Option<f64>,
    /// Points above the knee that hold again (a curve that is not monotone).
    pub holds_above_knee: Vec<f64>,
    /// The command that reproduces one (point, seed) run, with `{value}` and `{seed}` to fill in.
    pub reproduce: String,
}

#[derive(Clone, Debug, Serialize)]
pub struct LatencyBound {
    pub op: String,
    pub percentile: f64,
    pub max_ms: f64,
}

/// One value of the varied field.
#[derive(Clone, Debug, Serialize)]
pub struct CurvePoint {
    pub value: f64,
    pub runs: Vec<CurveRun>,
    /// Seeds whose every SLA and invariant passed, of those that finished.
    pub passed: u64,
    pub finished: u64,
    pub pass_rate: f64,
    /// Wilson 95% interval of the pass rate.
    pub ci_low: f64,
    pub ci_high: f64,
    /// `pass_rate >= confidence`, and no run errored.
    pub holds: bool,
}

/// One seed at one point.
#[derive(Clone, Debug, Serialize)]
pub struct CurveRun {
    pub seed: u64,
    pub passed: bool,
    pub failed: Vec<String>,
    pub error: Option<String>,
    pub trace_hash: String,
    /// Per op kind.
    pub ops: BTreeMap<String, OpPoint>,
}

/// What one run measured of one op kind (`None`: no operation of it succeeded).
#[derive(Clone, Debug, Default, Serialize)]
pub struct OpPoint {
    pub p50_ms: Option<f64>,
    pub p99_ms: Option<f64>,
    pub p999_ms: Option<f64>,
    pub throughput_ok_per_s: Option<f64>,
}

impl Curve {
    /// The op kinds any run measured, sorted.
    pub fn op_kinds(&self) -> Vec<String> {
        let mut kinds: Vec<String> =
            self.points.iter().flat_map(|p| p.runs.iter().flat_map(|r| r.ops.keys().cloned())).collect();
        kinds.sort();
        kinds.dedup();
        kinds
    }
}

/// `(median, min, max)` across a point's runs of one measure; `None` when no run has it.
pub fn spread(point: &CurvePoint, get: impl Fn(&CurveRun) -> Option<f64>) -> Option<(f64, f64, f64)> {
    let mut v: Vec<f64> = point.runs.iter().filter_map(&get).filter(|x| x.is_finite()).collect();
    if v.is_empty() {
        return None;
    }
    v.sort_by(f64::total_cmp);
    // The one percentile rule of the workspace (nearest rank).
    let median = sim_core::stats::percentile(&v, 0.5)?;
    Some((median, v[0], v[v.len() - 1]))
}

/// Picks the knee: the last point of the leading run of points that hold.
pub fn knee(points: &[CurvePoint]) -> (Option<f64>, Vec<f64>) {
    let lead = points.iter().take_while(|p| p.holds).count();
    let knee = lead.checked_sub(1).map(|i| points[i].value);
    let later = points.iter().skip(lead).filter(|p| p.holds).map(|p| p.value).collect();
    (knee, later)
}

/// `curve.json`: pretty, fields in declaration order, maps sorted.
pub fn curve_json(c: &Curve) -> String {
    serde_json::to_string_pretty(c).expect("a curve always serializes") + "\n"
}

fn num(v: f64) -> String {
    crate::num(v)
}

fn ms(v: Option<(f64, f64, f64)>) -> String {
    v.map_or("-".into(), |(m, lo, hi)| if lo == hi { num(m) } else { format!("{} [{}..{}]", num(m), num(lo), num(hi)) })
}

type Getter = fn(&OpPoint) -> Option<f64>;
const PERCENTILES: [(&str, Getter, &str); 3] =
    [("p50", |o| o.p50_ms, "2 3"), ("p99", |o| o.p99_ms, ""), ("p99.9", |o| o.p999_ms, "8 3")];

/// Rows of the table: per point, the pass rate and per op kind the median [min..max] across seeds.
fn rows(c: &Curve) -> (Vec<String>, Vec<Vec<String>>) {
    let kinds = c.op_kinds();
    let mut head = vec![c.vary.clone(), "held".into(), "pass (95% CI)".into()];
    for k in &kinds {
        head.push(format!("{k} p50 ms"));
        head.push(format!("{k} p99 ms"));
        head.push(format!("{k} p99.9 ms"));
        head.push(format!("{k} ok/s"));
    }
    let mut out = Vec::new();
    for p in &c.points {
        let mark = if c.knee == Some(p.value) { " <- knee" } else { "" };
        let mut row = vec![
            format!("{}{mark}", num(p.value)),
            if p.holds { "yes".into() } else { "NO".into() },
            format!("{}/{} ({:.0}%..{:.0}%)", p.passed, p.runs.len(), p.ci_low * 100.0, p.ci_high * 100.0),
        ];
        for k in &kinds {
            let of = |g: Getter| spread(p, |r| r.ops.get(k).and_then(g));
            row.push(ms(of(|o| o.p50_ms)));
            row.push(ms(of(|o| o.p99_ms)));
            row.push(ms(of(|o| o.p999_ms)));
            row.push(ms(of(|o| o.throughput_ok_per_s)));
        }
        out.push(row);
    }
    (head, out)
}

fn knee_text(c: &Curve) -> String {
    let mut s = match c.knee {
        Some(k) => format!(
            "knee: {} = {} (the highest value at which it and every lower point pass every SLA and invariant on at \
             least {:.0}% of seeds)",
            c.vary,
            num(k),
            c.confidence * 100.0
        ),
        None => format!(
            "no knee: the lowest point, {} = {}, already fails on more than {:.0}% of seeds",
            c.vary,
            c.points.first().map_or("-".into(), |p| num(p.value)),
            (1.0 - c.confidence) * 100.0
        ),
    };
    if c.knee.is_some() && c.knee == c.points.last().map(|p| p.value) {
        s.push_str("; every point held: the range ends before the system's knee (widen --vary to find it)");
    }
    if !c.holds_above_knee.is_empty() {
        let v: Vec<String> = c.holds_above_knee.iter().map(|v| num(*v)).collect();
        let _ = write!(s, "; NOT monotone: holds again at {}", v.join(", "));
    }
    s
}

/// The table the terminal shows, and the knee.
pub fn curve_table(c: &Curve) -> String {
    let (head, rows) = rows(c);
    let head: Vec<&str> = head.iter().map(String::as_str).collect();
    format!("{}  {}\n", aligned(&head, &rows, 40), knee_text(c))
}

/// `curve.svg`: latency percentiles (log axis) above throughput, both against the varied value.
pub fn curve_svg(c: &Curve) -> String {
    let kinds = c.op_kinds();
    let xs: Vec<f64> = c.points.iter().map(|p| p.value).collect();
    let x_ax = || Ax::fit(&c.vary, Scale::Linear, xs.iter().copied(), None);
    // Latency.
    let mut all = Vec::new();
    for p in &c.points {
        for r in &p.runs {
            for o in r.ops.values() {
                all.extend([o.p50_ms, o.p99_ms, o.p999_ms].into_iter().flatten());
            }
        }
    }
    all.extend(c.latency_bounds.iter().map(|b| b.max_ms));
    let mut lat = Plot::new(
        &format!("{}: latency against {}", c.scenario, c.vary),
        x_ax(),
        Ax::fit("latency (ms)", Scale::Log10, all, None),
    );
    lat.note(format!("median across {} seeds per point; bands: min..max across seeds", c.seeds.len()));
    for (i, k) in kinds.iter().enumerate() {
        let color = palette(i);
        for (name, get, dash) in PERCENTILES {
            let series: Vec<(f64, (f64, f64, f64))> = c
                .points
                .iter()
                .filter_map(|p| spread(p, |r| r.ops.get(k).and_then(get)).map(|s| (p.value, s)))
                .collect();
            let band: Vec<(f64, f64, f64)> = series.iter().map(|&(x, (_, lo, hi))| (x, lo, hi)).collect();
            lat.spread(&format!("{k} {name} spread"), &band, color);
            let line: Vec<(f64, f64)> = series.iter().map(|&(x, (m, _, _))| (x, m)).collect();
            lat.line(&format!("{k} {name}"), &line, Pen { color, dash, width: 2.0 }, f64::INFINITY);
        }
    }
    for b in &c.latency_bounds {
        lat.hline(b.max_ms, &format!("SLA {} p{} <= {} ms", b.op, num(b.percentile), num(b.max_ms)), "#d62728");
    }
    // Throughput.
    let mut tput_values = Vec::new();
    for p in &c.points {
        for r in &p.runs {
            tput_values.extend(r.ops.values().filter_map(|o| o.throughput_ok_per_s));
        }
    }
    let mut tput = Plot::new(
        &format!("{}: throughput against {}", c.scenario, c.vary),
        x_ax(),
        Ax::fit("ok operations / s", Scale::Linear, tput_values, None),
    );
    for (i, k) in kinds.iter().enumerate() {
        let color = palette(i);
        let series: Vec<(f64, (f64, f64, f64))> = c
            .points
            .iter()
            .filter_map(|p| spread(p, |r| r.ops.get(k).and_then(|o| o.throughput_ok_per_s)).map(|s| (p.value, s)))
            .collect();
        let band: Vec<(f64, f64, f64)> = series.iter().map(|&(x, (_, lo, hi))| (x, lo, hi)).collect();
        tput.spread(&format!("{k} ok/s spread"), &band, color);
        let line: Vec<(f64, f64)> = series.iter().map(|&(x, (m, _, _))| (x, m)).collect();
        tput.line(&format!("{k} ok/s"), &line, Pen::solid(color), f64::INFINITY);
    }
    for p in [&mut lat, &mut tput] {
        if let Some(k) = c.knee {
            p.vline(k, &format!("knee {}", num(k)));
        }
        for pt in c.points.iter().filter(|p| !p.holds) {
            p.band(pt.value, pt.value, &format!("fails ({}/{})", pt.passed, pt.runs.len()));
        }
    }
    stack(&[lat.finish(), tput.finish()])
}

/// Several SVG documents one above the other in one document.
fn stack(svgs: &[String]) -> String {
    let height = |s: &str| -> f64 {
        s.split("height=\"").nth(1).and_then(|r| r.split('"').next()).and_then(|h| h.parse().ok()).unwrap_or(0.0)
    };
    let total: f64 = svgs.iter().map(|s| height(s)).sum();
    let w = crate::svg::W;
    let mut out = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{w}\" \
         height=\"{total:.1}\" viewBox=\"0 0 {w} {total:.1}\">\n"
    );
    let mut y = 0.0;
    for s in svgs {
        let body = inline_svg(s);
        // The nested document keeps its own coordinates; only its place changes.
        let _ = writeln!(out, "<svg y=\"{y:.1}\"{}", &body["<svg".len()..]);
        y += height(s);
    }
    out.push_str("</svg>\n");
    out
}

/// `index.html` of a curve, in the report's style: the knee, the table, the plot.
pub fn curve_html(c: &Curve, svg: &str) -> String {
    let mut s = page_head(&format!("{} curve", c.scenario));
    let _ = writeln!(s, "<h1>{}: {} from {} to {}</h1>", esc(&c.scenario), esc(&c.vary), num(first(c)), num(last(c)));
    let ok = c.knee.is_some();
    let _ = writeln!(s, "<p class=\"verdict {}\">{}</p>", if ok { "pass" } else { "fail" }, esc(&knee_text(c)));
    let meta = vec![
        vec!["scenario file".into(), c.scenario_file.clone()],
        vec!["scenario hash".into(), c.scenario_hash.clone()],
        vec!["varied".into(), c.vary.clone()],
        vec!["other overrides".into(), if c.set.is_empty() { "(none)".into() } else { c.set.join(" ") }],
        vec!["seeds per point".into(), format!("{} ({:?})", c.seeds.len(), c.seeds)],
        vec![
            "a point holds when".into(),
            format!("at least {:.0}% of its seeds pass every SLA and invariant", c.confidence * 100.0),
        ],
        vec!["reproduce one run".into(), c.reproduce.clone()],
        vec!["simctl".into(), c.simctl_version.clone()],
    ];
    s.push_str(&html_table(&["", ""], &meta, false));
    let (head, rows) = rows(c);
    let head: Vec<&str> = head.iter().map(String::as_str).collect();
    let _ = write!(
        s,
        "<h2>Points</h2>\n<p>Latency and throughput: median [min..max] across seeds.</p>\n{}",
        html_table(&head, &rows, false)
    );
    let _ = write!(s, "<h2>Latency and throughput</h2>\n{}\n", inline_svg(svg));
    let mut failing = Vec::new();
    for p in &c.points {
        for r in p.runs.iter().filter(|r| !r.passed) {
            let what = r.error.clone().map_or_else(|| r.failed.join(", "), |e| format!("panic: {e}"));
            let repro = c.reproduce.replace("{value}", &num(p.value)).replace("{seed}", &r.seed.to_string());
            failing.push(vec![num(p.value), r.seed.to_string(), what, repro]);
        }
    }
    if !failing.is_empty() {
        let _ = write!(
            s,
            "<h2>Runs that failed</h2>\n{}",
            html_table(&[c.vary.as_str(), "seed", "failed", "reproduce"], &failing, false)
        );
    }
    s.push_str("</body></html>\n");
    s
}

fn first(c: &Curve) -> f64 {
    c.points.first().map_or(f64::NAN, |p| p.value)
}

fn last(c: &Curve) -> f64 {
    c.points.last().map_or(f64::NAN, |p| p.value)
}
