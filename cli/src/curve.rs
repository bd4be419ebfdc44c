//! `simctl curve`: latency and throughput against one varied field, and the knee.
//!
//! A scenario, a field path and a range: every (point, seed) pair is one run of the scenario with
//! that value set ([`crate::overrides`]), run through the sweep machinery ([`crate::sweep`]):
//! parallel workers, a resumable results file (one line per pair, `results.jsonl`), results in a
//! fixed order whatever `--jobs` says, so `curve.json` is byte-identical for any `--jobs`. The
//! pairs are numbered `point * seeds + i` and that number is the sweep's "seed"; the run itself
//! uses the seed of the list. [`run_points`] is shared with `simctl capacity`.

use crate::commands::{self, seed_result};
use crate::overrides::{self, Override};
use crate::sweep::{self, SeedResult, SweepConfig};
use crate::{MemoryArg, output, shell_quote};
use anyhow::{Context, Result, bail};
use clap::Args;
use registry::{Entry, RunResult};
use reports::curve::{self as rc, Curve, CurvePoint, CurveRun, LatencyBound, OpPoint};
use sim_core::verdict::Sla;
use std::collections::BTreeMap;
use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

pub const EXAMPLES_CURVE: &str = "\
Examples:
  simctl curve scenarios/dynamo_partition.ron --vary workload.arrival.rate_per_s=200..4000 --points 12
  simctl curve scenarios/perf/dynamo_10k.ron --vary workload.arrival.rate_per_s=2000..20000 --seeds 0..5
  simctl curve scenarios/service.ron --vary topology.servers=1..8 --points 8 --set duration=10s

Runs the scenario at each of --points values of the field (evenly spaced from A to B; an integer
range gives integer values), each on every seed, in parallel. Writes <out>/curve.json,
<out>/curve.svg, <out>/index.html and <out>/results.jsonl (resumable). A point holds when at least
--confidence of its seeds pass every SLA and invariant; the knee is the highest value at which it
and every lower point hold. Exit codes: 0 written, 2 bad input or IO error.";

#[derive(Args)]
pub struct CurveArgs {
    /// The scenario file.
    pub scenario: PathBuf,
    /// The field to vary and its range, `PATH=A..B` (e.g. `workload.arrival.rate_per_s=1000..20000`).
    #[arg(long, value_name = "PATH=A..B")]
    pub vary: String,
    /// How many values from A to B (both included).
    #[arg(long, default_value_t = 8)]
    pub points: usize,
    /// Seeds per point: `0..5`, `1,5,9`, ...
    #[arg(long, default_value = "0..5")]
    pub seeds: String,
    /// Share of seeds that must pass every SLA and invariant for a point to hold.
    #[arg(long, default_value_t = 0.95)]
    pub confidence: f64,
    /// Worker threads; default: the cores.
    #[arg(long)]
    pub jobs: Option<usize>,
    /// Output folder (default: out/curve-<scenario file name>).
    #[arg(short, long)]
    pub out: Option<PathBuf>,
    /// Other fields to change first, `PATH=VALUE` (repeatable).
    #[arg(long = "set", value_name = "PATH=VALUE")]
    pub set: Vec<Override>,
    /// No progress bar.
    #[arg(long)]
    pub no_progress: bool,
    #[command(flatten)]
    pub memory: MemoryArg,
}

/// `A..B` as two numbers, and whether both are written as integers.
pub fn parse_range(text: &str) -> Result<(f64, f64, bool), String> {
    let (a, b) = text.split_once("..").ok_or_else(|| format!("`{text}` is not a range A..B"))?;
    let (a, b) = (a.trim(), b.trim());
    let parse = |t: &str| t.parse::<f64>().ok().filter(|v| v.is_finite()).ok_or(format!("`{t}` is not a number"));
    let (x, y) = (parse(a)?, parse(b)?);
    if x > y {
        return Err(format!("`{text}`: the range is empty ({a} > {b})"));
    }
    let int = |t: &str| t.trim_start_matches('-').chars().all(|c| c.is_ascii_digit());
    Ok((x, y, int(a) && int(b)))
}

/// `points` values from `a` to `b`, both included; integers (deduplicated) for an integer range.
pub fn point_values(a: f64, b: f64, points: usize, integer: bool) -> Vec<f64> {
    let n = points.max(1);
    let mut v: Vec<f64> = (0..n)
        .map(|i| if n == 1 { a } else { a + (b - a) * i as f64 / (n - 1) as f64 })
        .map(|x| if integer { x.round() } else { x })
        .collect();
    v.dedup();
    v
}

/// A value as `--set` writes it: an integer without a fraction, else the shortest exact float.
pub fn value_text(v: f64) -> String {
    if v == v.trunc() && v.abs() < 1e15 { format!("{}", v as i64) } else { format!("{v}") }
}

/// What a pair's run keeps: the sweep's line, with p50 and p99.9 per op kind beside p99.
fn curve_seed_result(r: &RunResult) -> SeedResult {
    let mut s = seed_result(r);
    for o in r.record.ops.iter().filter(|o| o.ok > 0) {
        s.metrics.insert(format!("latency.{}.p50_ms", o.kind), o.latency_ms.p50);
        s.metrics.insert(format!("latency.{}.p999_ms", o.kind), o.latency_ms.p999);
    }
    s
}

fn curve_run(seed: u64, r: &SeedResult) -> CurveRun {
    let mut ops: BTreeMap<String, OpPoint> = BTreeMap::new();
    for (key, &v) in &r.metrics {
        let v = Some(v).filter(|v| v.is_finite());
        if let Some(rest) = key.strip_prefix("latency.") {
            let Some((kind, which)) = rest.rsplit_once('.') else { continue };
            let o = ops.entry(kind.to_string()).or_default();
            match which {
                "p50_ms" => o.p50_ms = v,
                "p99_ms" => o.p99_ms = v,
                "p999_ms" => o.p999_ms = v,
                _ => {}
            }
        } else if let Some(kind) = key.strip_prefix("throughput.").and_then(|k| k.strip_suffix("_per_s")) {
            ops.entry(kind.to_string()).or_default().throughput_ok_per_s = v;
        }
    }
    CurveRun {
        seed,
        passed: r.passed && r.error.is_none(),
        failed: r.failed.clone(),
        error: r.error.clone(),
        trace_hash: r.trace_hash.clone(),
        ops,
    }
}

/// The runs to make: each point's scenario text (overrides applied and validated) and the seeds.
pub struct Plan<'a> {
    pub entry: &'a Entry,
    pub points: Vec<(f64, String)>,
    pub seeds: &'a [u64],
    pub confidence: f64,
    pub jobs: usize,
    pub results_file: Option<&'a Path>,
    pub progress: bool,
}

/// Runs every (point, seed) pair in parallel and gathers each point's runs, in point and seed
/// order whatever the jobs.
pub fn run_points(plan: &Plan<'_>) -> Result<Vec<CurvePoint>> {
    let n = plan.seeds.len() as u64;
    let jobs: Vec<u64> = (0..plan.points.len() as u64 * n).collect();
    let mut parts: Vec<&[u8]> = vec![env!("CARGO_PKG_VERSION").as_bytes()];
    let seeds_text = format!("{:?}", plan.seeds);
    parts.push(seeds_text.as_bytes());
    for (_, text) in &plan.points {
        parts.push(text.as_bytes());
    }
    let print = sweep::fingerprint(&parts);
    let config = SweepConfig { jobs: plan.jobs, results_file: plan.results_file, fingerprint: &print };
    let bar = if plan.progress {
        let b = indicatif::ProgressBar::new(jobs.len() as u64);
        b.set_style(
            indicatif::ProgressStyle::with_template("{spinner} [{bar:30}] {pos}/{len} runs  {msg}  eta {eta}")
                .expect("valid template")
                .progress_chars("=> "),
        );
        b
    } else {
        indicatif::ProgressBar::hidden()
    };
    let on_done = |_: &SeedResult, p: sweep::Progress| {
        bar.inc(1);
        bar.set_message(format!("{} did not pass", p.unexpected));
    };
    let run_one = |job: u64| {
        let (point, i) = ((job / n) as usize, (job % n) as usize);
        let mut r = commands::run_seed_as(plan.entry, &plan.points[point].1, plan.seeds[i], &curve_seed_result);
        r.seed = job;
        r
    };
    let outcome = sweep::run_seeds(&jobs, &config, run_one, &on_done)?;
    bar.finish_and_clear();
    let mut points: Vec<CurvePoint> = Vec::new();
    for (p, (value, _)) in plan.points.iter().enumerate() {
        let runs: Vec<CurveRun> = outcome.results[p * n as usize..(p + 1) * n as usize]
            .iter()
            .enumerate()
            .map(|(i, r)| curve_run(plan.seeds[i], r))
            .collect();
        points.push(point_of(*value, runs, plan.confidence));
    }
    Ok(points)
}

/// A point's pass rate over its finished runs, its Wilson 95% interval, and whether it holds.
pub fn point_of(value: f64, runs: Vec<CurveRun>, confidence: f64) -> CurvePoint {
    let finished = runs.iter().filter(|r| r.error.is_none()).count() as u64;
    let passed = runs.iter().filter(|r| r.passed).count() as u64;
    let pass_rate = if finished == 0 { 0.0 } else { passed as f64 / finished as f64 };
    let (ci_low, ci_high) = sim_core::sweep::wilson(passed, finished, sim_core::sweep::Z_95);
    let holds = finished == runs.len() as u64 && finished > 0 && pass_rate >= confidence - 1e-12;
    CurvePoint { value, runs, passed, finished, pass_rate, ci_low, ci_high, holds }
}

/// The scenario's text with `sets` and then `path=value` applied, or the error naming the flag.
pub fn text_at(entry: &Entry, source: &str, sets: &[Override], path: &str, value: f64) -> Result<String, String> {
    let mut all = sets.to_vec();
    all.push(Override { path: path.to_string(), value: value_text(value) });
    overrides::apply(entry, source, &all).map_err(|e| match e {
        overrides::OverrideError::Source(d) => d.iter().map(|d| d.to_string()).collect::<Vec<_>>().join("\n"),
        overrides::OverrideError::Set(m) => m,
    })
}

fn latency_bounds(slas: &[Sla]) -> Vec<LatencyBound> {
    slas.iter()
        .filter_map(|s| match s {
            Sla::Latency { op, percentile, max } => {
                Some(LatencyBound { op: op.clone(), percentile: *percentile, max_ms: max.as_millis_f64() })
            }
            _ => None,
        })
        .collect()
}

/// A checked `--confidence`.
pub fn confidence(c: f64) -> Result<f64> {
    if !(c > 0.0 && c <= 1.0) {
        bail!("--confidence {c}: must be in (0, 1]");
    }
    Ok(c)
}

pub fn cmd_curve(a: CurveArgs) -> Result<ExitCode> {
    let confidence = confidence(a.confidence)?;
    let Some((path, range)) = a.vary.split_once('=') else {
        bail!("--vary `{}`: expected PATH=A..B", a.vary);
    };
    let (lo, hi, integer) = parse_range(range).map_err(|e| anyhow::anyhow!("--vary: {e}"))?;
    if a.points == 0 {
        bail!("--points must be at least 1");
    }
    let seeds = sim_core::sweep::parse_seeds(&a.seeds).map_err(|e| anyhow::anyhow!("--seeds: {e}"))?;
    let file = &a.scenario;
    let (source, entry) = match crate::load_with(file, &a.set)? {
        Ok(x) => x,
        Err(code) => return Ok(code),
    };
    let info = match (entry.check)(&source) {
        Ok(i) => i,
        Err(d) => {
            crate::print_diagnostics(file, &d);
            return Ok(ExitCode::from(2));
        }
    };
    // Every point's scenario is built and validated before any run starts.
    let mut points = Vec::new();
    let mut cost_max: f64 = 0.0;
    for v in point_values(lo, hi, a.points, integer) {
        match text_at(&entry, &source, &[], path, v) {
            Ok(text) => {
                if let Ok(cost) = (entry.cost)(&text, false) {
                    cost_max = cost_max.max(cost.bytes());
                }
                points.push((v, text));
            }
            Err(m) => {
                for line in m.lines() {
                    eprintln!("{}: error: --vary at {path}={}: {line}", file.display(), value_text(v));
                }
                return Ok(ExitCode::from(2));
            }
        }
    }
    let max_memory = a.memory.bytes()?;
    if let Some(limit) = max_memory.filter(|&l| cost_max > l) {
        eprintln!(
            "error: the largest point needs about {}, above the limit of {}",
            sim_core::cost::bytes(cost_max),
            sim_core::cost::bytes(limit)
        );
        return Ok(ExitCode::from(2));
    }
    let out = a.out.clone().unwrap_or_else(|| {
        let stem = file.file_stem().map(|s| s.to_string_lossy().to_string()).unwrap_or_default();
        PathBuf::from(format!("out/curve-{}", crate::sanitize(&stem)))
    });
    std::fs::create_dir_all(&out).with_context(|| format!("cannot create {}", out.display()))?;
    let results = out.join("results.jsonl");
    let show = !a.no_progress && std::io::stderr().is_terminal() && std::env::var_os("CI").is_none();
    let plan = Plan {
        entry: &entry,
        points,
        seeds: &seeds,
        confidence,
        jobs: commands::sweep_jobs(a.jobs, cost_max, max_memory),
        results_file: Some(&results),
        progress: show,
    };
    let points = run_points(&plan).with_context(|| format!("curve of {}", file.display()))?;
    let (knee, holds_above_knee) = rc::knee(&points);
    let original = std::fs::read_to_string(file).with_context(|| format!("cannot read {}", file.display()))?;
    let curve = Curve {
        schema: rc::CURVE_SCHEMA,
        scenario: info.name.clone(),
        scenario_file: file.display().to_string(),
        scenario_hash: crate::fnv1a(&original),
        simctl_version: env!("CARGO_PKG_VERSION").to_string(),
        vary: path.to_string(),
        set: a.set.iter().map(|s| s.to_string()).collect(),
        seeds: seeds.clone(),
        confidence,
        latency_bounds: latency_bounds(&info.slas),
        points,
        knee,
        holds_above_knee,
        reproduce: format!(
            "simctl run {}{} --set {path}={{value}} --seed {{seed}}",
            shell_quote(file),
            overrides::flags(&a.set)
        ),
    };
    let svg = rc::curve_svg(&curve);
    let files = vec![
        ("curve.json".to_string(), rc::curve_json(&curve)),
        ("curve.svg".to_string(), svg.clone()),
        ("index.html".to_string(), rc::curve_html(&curve, &svg)),
    ];
    output::write_into(&out, &files).with_context(|| format!("cannot write {}", out.display()))?;
    out!("{}", rc::curve_table(&curve));
    outln!("curve: {}  json: {}", out.join("index.html").display(), out.join("curve.json").display());
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_and_points() {
        assert_eq!(parse_range("2..64").unwrap(), (2.0, 64.0, true));
        assert_eq!(parse_range("1000.0..2e4").unwrap(), (1000.0, 20000.0, false));
        assert!(parse_range("5..2").unwrap_err().contains("empty"));
        assert!(parse_range("x..2").unwrap_err().contains("not a number"));
        assert_eq!(point_values(1000.0, 2000.0, 3, false), vec![1000.0, 1500.0, 2000.0]);
        assert_eq!(point_values(1.0, 3.0, 5, true), vec![1.0, 2.0, 3.0]);
        assert_eq!(value_text(2000.0), "2000");
        assert_eq!(value_text(0.25), "0.25");
    }

    fn run(seed: u64, passed: bool, error: bool) -> CurveRun {
        CurveRun {
            seed,
            passed,
            failed: if passed { vec![] } else { vec!["x".into()] },
            error: error.then(|| "boom".into()),
            trace_hash: String::new(),
            ops: BTreeMap::new(),
        }
    }

    #[test]
    fn a_point_holds_on_its_share_of_seeds_and_the_knee_is_the_last_of_the_leading_run() {
        let p = |v: f64, pass: usize| point_of(v, (0..5).map(|s| run(s, s < pass as u64, false)).collect(), 0.8);
        let points = vec![p(1.0, 5), p(2.0, 4), p(3.0, 3), p(4.0, 5)];
        assert_eq!(points.iter().map(|p| p.holds).collect::<Vec<_>>(), vec![true, true, false, true]);
        assert_eq!(rc::knee(&points), (Some(2.0), vec![4.0]));
        assert_eq!(rc::knee(&points[2..]), (None, vec![4.0]));
        // A run that did not finish spoils its point.
        let q = point_of(1.0, vec![run(0, true, false), run(1, false, true)], 0.5);
        assert!(!q.holds);
        assert_eq!((q.passed, q.finished), (1, 1));
    }
}
