//! `simctl sweep`, `merge`, `shrink`, `replay` and `run --check-determinism`: the workflow around
//! single runs. Farm seeds, find a failure, shrink it, look at it, keep it as a regression.
//!
//! Every per-seed run goes through the model [`registry`](crate::registry), so these commands work
//! for every model. The seed runner itself (threads, the resumable results file, JUnit XML, the
//! Markdown summary) is [`crate::sweep`].

use crate::output;
use crate::sweep::{self, JunitSuite, SeedResult, SweepConfig};
use crate::{MemoryArg, load, print_diagnostics, sanitize, shell_quote};
use anyhow::{Context, Result, bail};
use clap::Args;
use registry::{RunError, RunRequest, RunResult};
use sim_core::shrink::ShrinkOptions;
use sim_core::sweep::{PromisedRate, Shard, parse_seeds};
use sim_core::verdict::Expect;
use std::collections::BTreeMap;
use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

pub const EXAMPLES_SWEEP: &str = "\
Examples:
  simctl sweep scenarios/dynamo_partition.ron --seeds 0..100
  simctl sweep scenarios/dynamo_partition.ron --seeds 0..1000 --jobs 8 --out out/sweep-dp
  simctl sweep scenarios/ --seeds 0..3 --junit out/ci/junit.xml      # every scenario in a folder
  simctl sweep scenarios/ --seeds 0..3 --known-bad-seeds 0..20       # known-bad ones on 20 seeds
  simctl sweep scenarios/kafka_nemesis.ron --seeds 0..8000 --shard 3/8 # one shard of eight

Seeds: `0..100` (100 excluded), `0..=99`, `1,5,9`, or a mix `0..10,42`.
Writes <out>/results.jsonl (one JSON line per seed, appended as seeds finish: an interrupted sweep
re-run with the same arguments resumes) and <out>/summary.md (how often each invariant and SLA held,
with a Wilson 95% interval, each metric's distribution, and each SLA bound's distance from the
mean in standard deviations: under 4, or crossed by a seed, it is thin, and the terminal names it;
a floor no seed crosses, where a normal spread would, is not). For a folder, each scenario gets
<out>/<file name>/. The results are identical for any --jobs. Resuming trusts results of the same
scenario text and simctl version: after changing a model's code, use a fresh --out.
A known-bad scenario with `expect: Fail([...], AtLeast(r))` promises its failure on at least a
share r of seeds: the sweep counts the seeds that failed exactly as declared and fails when r lies
above their Wilson 95% interval.
Exit codes: 0 every seed met its scenario's expectation (a known-bad scenario must fail as
expected) and every promised rate was kept, 1 otherwise, 2 bad input or IO error.";

pub const EXAMPLES_MERGE: &str = "\
Examples:
  simctl merge shard-*/results.jsonl --out out/merged
  simctl merge a/results.jsonl b/results.jsonl --out out/merged --scenario scenarios/dynamo_partition.ron

Writes <out>/results.jsonl (seed order) and <out>/summary.md. Refuses shards of different scenario
versions. Exit codes as for sweep.";

pub const EXAMPLES_SHRINK: &str = "\
Examples:
  simctl shrink scenarios/register_stale_reads.ron --seed 3     # writes out/register_stale_reads_min.ron
  simctl shrink scenarios/kafka_nemesis.ron --seed 17 --out /tmp/min.ron --max-runs 100
  simctl run out/register_stale_reads_min.ron  # fails the same way; report in out/register_stale_reads_min/

The failure signature is the set of failed verdict names; every accepted step keeps it exactly.
Removes faults (a nemesis is first expanded into its concrete schedule), shortens the run, lowers
the load and the client and server counts, and shortens the remaining faults; a bisected value is
rounded up (240 ops/s rather than 232.089) where the rounder value fails the same way.
The minimal scenario is named <name>_min (its report does not replace the original's) and holds
only what differs from the defaults; its header comment lists every step.
Exit codes: 0 a minimal scenario was written, 1 the seed does not fail (nothing to shrink), 2 bad
input or IO error.";

pub const EXAMPLES_REPLAY: &str = "\
Examples:
  simctl replay scenarios/register_stale_reads.ron --seed 3
  simctl replay scenarios/dynamo_partition.ron --seed 7 --out out/replay --around 2.5s --window 50ms

Writes trace.jsonl (one event per line), trace.chrome.json (open in https://ui.perfetto.dev or
chrome://tracing: one track per node, message arrows as flow events) and sequence.svg (a Lamport
diagram of the events around --around; by default around the invoke time of the first operation
that did not complete Ok, else the first fault, else the middle of the run).";

/// The scenario files a sweep path names: the file, or every `*.ron` in the folder (sorted).
fn scenario_files(path: &Path) -> Result<Vec<PathBuf>> {
    if path.is_dir() {
        let mut files: Vec<PathBuf> = std::fs::read_dir(path)
            .with_context(|| format!("cannot read {}", path.display()))?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "ron"))
            .collect();
        files.sort();
        if files.is_empty() {
            bail!("{} holds no .ron scenario files", path.display());
        }
        Ok(files)
    } else {
        Ok(vec![path.to_path_buf()])
    }
}

#[derive(Args)]
pub struct SweepArgs {
    /// A scenario file, or a folder: every *.ron in it.
    pub path: PathBuf,
    /// The seeds: `0..100`, `0..=99`, `1,5,9` or a mix.
    #[arg(long, default_value = "0..100")]
    pub seeds: String,
    /// Other seeds for the known-bad scenarios (`expect: Fail(...)`), e.g. more of them than for
    /// the good ones; default: `--seeds`.
    #[arg(long)]
    pub known_bad_seeds: Option<String>,
    /// Worker threads (each run is single-threaded); default: the number of cores.
    #[arg(long)]
    pub jobs: Option<usize>,
    /// Output folder (default: out/sweep-<scenario file name>, or out/sweep for a folder).
    #[arg(short, long)]
    pub out: Option<PathBuf>,
    /// Run only the I-th of N disjoint slices of the seeds (I counts from 0), e.g. `--shard 3/8`.
    #[arg(long)]
    pub shard: Option<Shard>,
    /// Also write JUnit XML here (one test suite per scenario, one test case per seed).
    #[arg(long)]
    pub junit: Option<PathBuf>,
    /// No progress bar (it is also hidden when stderr is not a terminal, or under CI).
    #[arg(long)]
    pub no_progress: bool,
    /// Change one field of every scenario swept, e.g. `--set topology.servers=8` (repeatable).
    #[arg(long = "set", value_name = "PATH=VALUE")]
    pub set: Vec<crate::overrides::Override>,
    /// Also bounds the jobs: as many runs at once as fit in this memory.
    #[command(flatten)]
    pub memory: MemoryArg,
}

/// The verdict of one run as a results-file line.
pub fn seed_result(r: &RunResult) -> SeedResult {
    let mut metrics = BTreeMap::new();
    for o in &r.record.ops {
        if o.ok > 0 {
            metrics.insert(format!("latency.{}.p99_ms", o.kind), o.latency_ms.p99);
        }
        metrics.insert(format!("availability.{}", o.kind), o.availability);
        metrics.insert(format!("throughput.{}_per_s", o.kind), o.throughput_ok_per_s);
    }
    for (name, v) in &r.record.model_report.measures {
        metrics.insert(format!("measure.{name}"), *v);
    }
    let idle = r.record.faults.iter().filter(|f| !f.had_effect).count();
    if !r.record.faults.is_empty() {
        metrics.insert("faults.without_effect".into(), idle as f64);
    }
    let v = &r.verdict;
    // Every SLA's measured value too, under its verdict name with the unit the names above
    // carry, so a sweep shows the spread of exactly what each bound judges (a window's
    // availability, a p50, a queueing cross-check), not only the per-op figures.
    for i in v.items.iter().filter(|i| i.kind == sim_core::verdict::ItemKind::Sla) {
        if let Some(x) = i.measured {
            metrics.entry(sweep::sla_metric(&i.name)).or_insert(x);
        }
    }
    SeedResult {
        seed: r.seed,
        passed: v.passed,
        met_expectation: v.meets_expectation,
        failed: v.failed.clone(),
        checked: v.items.iter().filter(|i| i.counts).map(|i| i.name.clone()).collect(),
        metrics,
        trace_hash: r.record.trace_hash.clone(),
        error: None,
        climate: r.climate.clone(),
        fingerprint: String::new(),
    }
}

fn run_seed(entry: &registry::Entry, source: &str, seed: u64) -> SeedResult {
    run_seed_as(entry, source, seed, &seed_result)
}

/// One seed's run as a results line made by `make`; a run that did not finish as an error line.
pub fn run_seed_as(
    entry: &registry::Entry,
    source: &str,
    seed: u64,
    make: &dyn Fn(&RunResult) -> SeedResult,
) -> SeedResult {
    match (entry.run)(source, RunRequest { seed: Some(seed), ..Default::default() }) {
        Ok(r) => make(&r),
        Err(RunError::Panicked { message, .. }) => SeedResult::errored(seed, message),
        Err(RunError::Invalid(d)) => SeedResult::errored(
            seed,
            format!("invalid scenario: {}", d.first().map(|d| d.to_string()).unwrap_or_default()),
        ),
        // The sweep checks the cost before it starts and runs without a limit per seed.
        Err(RunError::TooBig { cost, .. }) => {
            SeedResult::errored(seed, format!("not run: needs {}", sim_core::cost::bytes(cost.bytes())))
        }
    }
}

fn reproduce_cmd<'a>(file: &'a Path, sets: &'a [crate::overrides::Override]) -> impl Fn(u64) -> String + 'a {
    move |seed| format!("simctl run {} --seed {seed}{}", shell_quote(file), crate::overrides::flags(sets))
}

fn what_happened(r: &SeedResult) -> String {
    match (&r.error, r.passed) {
        (Some(e), _) => format!("panic: {}", e.lines().next().unwrap_or("")),
        (None, true) => "passed, but the scenario expects failures".into(),
        (None, false) => format!("failed: {}", r.failed.join(", ")),
    }
}

/// Prints the seeds that did not meet the expectation (at most 20) with their reproduce commands.
fn print_unexpected(file: &Path, sets: &[crate::overrides::Override], results: &[SeedResult]) {
    let bad: Vec<&SeedResult> = results.iter().filter(|r| !r.met_expectation || r.error.is_some()).collect();
    if bad.is_empty() {
        return;
    }
    outln!("  seeds that did not meet the expectation:");
    outln!("  {:>8}  {:<50}  reproduce", "seed", "what happened");
    for r in bad.iter().take(20) {
        outln!("  {:>8}  {:<50}  {}", r.seed, what_happened(r), reproduce_cmd(file, sets)(r.seed));
    }
    if bad.len() > 20 {
        outln!("  ... and {} more (see summary.md and results.jsonl)", bad.len() - 20);
    }
}

/// Every seed met its expectation, and a promised rate (if any) was kept.
fn scenario_ok(results: &[SeedResult], promise: Option<&PromisedRate>) -> bool {
    results.iter().all(|r| r.met_expectation && r.error.is_none()) && promise.is_none_or(|p| p.kept)
}

/// The promised-rate line of a known-bad scenario with `Fail([...], AtLeast(r))`.
fn print_promise(promise: Option<&PromisedRate>) {
    if let Some(p) = promise {
        outln!("  promised rate: {p}");
    }
}

fn one_line_stats(results: &[SeedResult]) -> String {
    let met = results.iter().filter(|r| r.met_expectation && r.error.is_none()).count();
    let failed = results.iter().filter(|r| !r.passed).count();
    format!("{} seeds: {met} as expected, {} not ({failed} failed some check)", results.len(), results.len() - met)
}

struct Loaded {
    file: PathBuf,
    source: String,
    entry: registry::Entry,
    name: String,
    expect: Expect,
    may_also_fail: Vec<String>,
    slas: Vec<sim_core::verdict::Sla>,
}

pub fn cmd_sweep(a: SweepArgs) -> Result<ExitCode> {
    let files = scenario_files(&a.path)?;
    let folder = a.path.is_dir();
    let parse = |flag: &str, text: &str| match parse_seeds(text) {
        Ok(s) => Ok(a.shard.map(|shard| shard.select(&s)).unwrap_or(s)),
        Err(e) => {
            eprintln!("error: {flag}: {e}");
            Err(ExitCode::from(2))
        }
    };
    let seeds = match parse("--seeds", &a.seeds) {
        Ok(s) => s,
        Err(code) => return Ok(code),
    };
    let known_bad_seeds = match a.known_bad_seeds.as_deref().map(|t| parse("--known-bad-seeds", t)) {
        None => seeds.clone(),
        Some(Ok(s)) => s,
        Some(Err(code)) => return Ok(code),
    };
    let max_memory = a.memory.bytes()?;
    // Load and validate every scenario, and estimate what a run of it costs, before running any.
    let mut loaded = Vec::new();
    let mut bad_input = false;
    let mut cost_max: f64 = 0.0;
    for file in &files {
        match crate::load_with(file, &a.set)? {
            Err(_) => bad_input = true,
            Ok((source, entry)) => match ((entry.check)(&source), (entry.cost)(&source, false)) {
                (Err(d), _) | (_, Err(d)) => {
                    print_diagnostics(file, &d);
                    bad_input = true;
                }
                (Ok(info), Ok(cost)) => {
                    if let Some(limit) = max_memory.filter(|&l| cost.bytes() > l) {
                        print_too_big(file, &cost, limit);
                        bad_input = true;
                    }
                    cost_max = cost_max.max(cost.bytes());
                    loaded.push(Loaded {
                        file: file.clone(),
                        source,
                        entry,
                        name: info.name,
                        expect: info.expect,
                        may_also_fail: info.may_also_fail,
                        slas: info.slas,
                    });
                }
            },
        }
    }
    if bad_input {
        return Ok(ExitCode::from(2));
    }
    let out = a.out.clone().unwrap_or_else(|| {
        if folder {
            PathBuf::from("out/sweep")
        } else {
            let stem = files[0].file_stem().map(|s| s.to_string_lossy().to_string()).unwrap_or_default();
            PathBuf::from(format!("out/sweep-{}", sanitize(&stem)))
        }
    });
    let seeds_of = |l: &Loaded| if l.expect.failing().is_some() { &known_bad_seeds } else { &seeds };
    let jobs = sweep_jobs(a.jobs, cost_max, max_memory);
    let show = !a.no_progress && std::io::stderr().is_terminal() && std::env::var_os("CI").is_none();
    let bar = if show {
        let b = indicatif::ProgressBar::new(loaded.iter().map(|l| seeds_of(l).len() as u64).sum());
        b.set_style(
            indicatif::ProgressStyle::with_template("{spinner} [{bar:30}] {pos}/{len} seeds  {msg}  eta {eta}")
                .expect("valid template")
                .progress_chars("=> "),
        );
        b
    } else {
        indicatif::ProgressBar::hidden()
    };
    let mut all_ok = true;
    let mut per_scenario: Vec<(String, PathBuf, Vec<SeedResult>, Option<PromisedRate>)> = Vec::new();
    for l in &loaded {
        let dir = if folder {
            let stem = l.file.file_stem().map(|s| s.to_string_lossy().to_string()).unwrap_or_default();
            out.join(sanitize(&stem))
        } else {
            out.clone()
        };
        std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
        let results_path = dir.join("results.jsonl");
        let print = sweep::fingerprint(&[l.source.as_bytes(), env!("CARGO_PKG_VERSION").as_bytes()]);
        let config = SweepConfig { jobs, results_file: Some(&results_path), fingerprint: &print };
        let name = l.file.display().to_string();
        let on_done = |_: &SeedResult, p: sweep::Progress| {
            bar.inc(1);
            bar.set_message(format!("{name}: {} unexpected", p.unexpected));
        };
        let outcome = sweep::run_seeds(seeds_of(l), &config, |seed| run_seed(&l.entry, &l.source, seed), &on_done)
            .with_context(|| format!("sweep of {}", l.file.display()))?;
        let results = outcome.results;
        let reproduce = reproduce_cmd(&l.file, &a.set);
        let promise = sweep::promised_rate(&l.expect, &l.may_also_fail, &results);
        let spreads = sweep::bound_spreads(&l.slas, &l.expect, &l.may_also_fail, &results);
        let mut md = sweep::summary_markdown(&l.name, &results, &reproduce);
        md.push_str(&sweep::bounds_markdown(&spreads));
        if let Some(p) = &promise {
            md.push_str(&sweep::promise_markdown(p));
        }
        output::write_into(&dir, &[("summary.md".to_string(), md)])
            .with_context(|| format!("cannot write {}", dir.display()))?;
        bar.suspend(|| {
            let mut resumed = String::new();
            if outcome.resumed > 0 {
                resumed = format!(" ({} ran now, {} resumed from results.jsonl)", outcome.ran, outcome.resumed);
            }
            if outcome.stale > 0 {
                resumed.push_str(&format!(
                    " ({} stale results of another scenario version were dropped and re-run)",
                    outcome.stale
                ));
            }
            outln!("{}: {}{resumed}", l.file.display(), one_line_stats(&results));
            out!("{}", sweep::probability_table(&results));
            out!("{}", sweep::thin_bounds_text(&spreads));
            print_unexpected(&l.file, &a.set, &results);
            print_promise(promise.as_ref());
            outln!("  results: {}  summary: {}", results_path.display(), dir.join("summary.md").display());
        });
        all_ok &= scenario_ok(&results, promise.as_ref());
        per_scenario.push((name, l.file.clone(), results, promise));
    }
    bar.finish_and_clear();
    if let Some(junit) = &a.junit {
        let closures: Vec<Box<dyn Fn(u64) -> String + '_>> = per_scenario
            .iter()
            .map(|(_, f, _, _)| Box::new(reproduce_cmd(f, &a.set)) as Box<dyn Fn(u64) -> String>)
            .collect();
        let suites: Vec<JunitSuite<'_>> = per_scenario
            .iter()
            .zip(&closures)
            .map(|((name, _, results, promise), rep)| JunitSuite {
                name,
                results,
                reproduce: rep.as_ref(),
                promise: promise.as_ref(),
            })
            .collect();
        write_file(junit, &sweep::junit_xml(&suites))?;
        outln!("junit: {}", junit.display());
    }
    if loaded.len() > 1 {
        let bad: Vec<&str> = per_scenario
            .iter()
            .filter(|(_, _, rs, promise)| !scenario_ok(rs, promise.as_ref()))
            .map(|(n, _, _, _)| n.as_str())
            .collect();
        let runs: usize = per_scenario.iter().map(|(_, _, rs, _)| rs.len()).sum();
        outln!(
            "{} scenarios, {runs} seeded runs: {}",
            loaded.len(),
            if bad.is_empty() {
                "every seed met its expectation".to_string()
            } else {
                format!("NOT as expected: {}", bad.join(", "))
            }
        );
    }
    Ok(if all_ok { ExitCode::SUCCESS } else { ExitCode::from(1) })
}

/// The worker threads of a sweep: as asked (default: the cores), but no more than the cores (a
/// run is single-threaded and CPU-bound: more threads only add memory) and no more runs at once
/// than fit in the memory limit. Says so when it lowers the number asked for.
pub fn sweep_jobs(asked: Option<usize>, cost_bytes: f64, max_memory: Option<f64>) -> usize {
    let cores = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1);
    let fit = max_memory.map_or(usize::MAX, |m| ((m / cost_bytes.max(1.0)).floor() as usize).max(1));
    let jobs = asked.unwrap_or(cores).clamp(1, cores.min(fit));
    if let Some(asked) = asked.filter(|&a| a > jobs) {
        let why = if jobs == cores.min(fit) && fit < cores {
            format!("the runs that fit in {} of memory", sim_core::cost::bytes(max_memory.unwrap_or(0.0)))
        } else {
            "the cores".to_string()
        };
        eprintln!("note: --jobs {asked} lowered to {jobs} ({why})");
    }
    jobs
}

fn write_file(path: &Path, text: &str) -> Result<()> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    }
    std::fs::write(path, text).with_context(|| format!("cannot write {}", path.display()))
}

#[derive(Args)]
pub struct MergeArgs {
    /// The shards' results files.
    #[arg(required = true)]
    pub results: Vec<PathBuf>,
    /// Output folder for the merged results.jsonl and summary.md.
    #[arg(short, long)]
    pub out: PathBuf,
    /// The scenario file the shards ran (for the reproduce commands and the summary's title).
    #[arg(long)]
    pub scenario: Option<PathBuf>,
    /// Also write JUnit XML here.
    #[arg(long)]
    pub junit: Option<PathBuf>,
    /// The seeds the whole sweep ran (the shards' `--seeds`): a seed missing from every file is
    /// reported and the merge exits 1 (a shard that did not finish, or a file not given).
    #[arg(long)]
    pub seeds: Option<String>,
}

pub fn cmd_merge(a: MergeArgs) -> Result<ExitCode> {
    let expected = match a.seeds.as_deref().map(parse_seeds).transpose() {
        Ok(s) => s,
        Err(e) => {
            eprintln!("error: --seeds: {e}");
            return Ok(ExitCode::from(2));
        }
    };
    let results = match sweep::merge(&a.results) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: {e}");
            return Ok(ExitCode::from(2));
        }
    };
    let missing: Vec<u64> = match &expected {
        Some(seeds) => {
            let have: std::collections::BTreeSet<u64> = results.iter().map(|r| r.seed).collect();
            seeds.iter().copied().filter(|s| !have.contains(s)).collect()
        }
        None => Vec::new(),
    };
    let scenario = a.scenario.clone().unwrap_or_else(|| PathBuf::from("<scenario.ron>"));
    // With the scenario file, a promised rate (`Fail([...], AtLeast(r))`) is checked too, and the
    // SLA bounds are set against their spread.
    let mut promise = None;
    let mut spreads = Vec::new();
    if let Some(file) = &a.scenario {
        let info = match load(file)? {
            Ok((source, entry)) => (entry.check)(&source),
            Err(d) => Err(d),
        };
        match info {
            Ok(info) => {
                promise = sweep::promised_rate(&info.expect, &info.may_also_fail, &results);
                spreads = sweep::bound_spreads(&info.slas, &info.expect, &info.may_also_fail, &results);
            }
            Err(d) => {
                print_diagnostics(file, &d);
                return Ok(ExitCode::from(2));
            }
        }
    }
    let name = scenario.display().to_string();
    std::fs::create_dir_all(&a.out).with_context(|| format!("cannot create {}", a.out.display()))?;
    let results_path = a.out.join("results.jsonl");
    sweep::rewrite_sorted(&results_path, &results)?;
    let reproduce = reproduce_cmd(&scenario, &[]);
    let mut md = sweep::summary_markdown(&name, &results, &reproduce);
    md.push_str(&sweep::bounds_markdown(&spreads));
    if let Some(p) = &promise {
        md.push_str(&sweep::promise_markdown(p));
    }
    output::write_into(&a.out, &[("summary.md".to_string(), md)])?;
    if let Some(junit) = &a.junit {
        let suite = JunitSuite { name: &name, results: &results, reproduce: &reproduce, promise: promise.as_ref() };
        write_file(junit, &sweep::junit_xml(&[suite]))?;
    }
    outln!("merged {} files: {}", a.results.len(), one_line_stats(&results));
    out!("{}", sweep::probability_table(&results));
    out!("{}", sweep::thin_bounds_text(&spreads));
    print_unexpected(&scenario, &[], &results);
    print_promise(promise.as_ref());
    outln!("results: {}  summary: {}", results_path.display(), a.out.join("summary.md").display());
    if !missing.is_empty() {
        let shown: Vec<String> = missing.iter().take(10).map(u64::to_string).collect();
        eprintln!(
            "incomplete: {} of the {} seeds of --seeds are in no results file (first: {}{}): a shard did not \
             finish or its file was not given; the summary covers the {} seeds present",
            missing.len(),
            expected.as_ref().map_or(0, Vec::len),
            shown.join(", "),
            if missing.len() > 10 { ", ..." } else { "" },
            results.len()
        );
        return Ok(ExitCode::from(1));
    }
    Ok(if scenario_ok(&results, promise.as_ref()) { ExitCode::SUCCESS } else { ExitCode::from(1) })
}

#[derive(Args)]
pub struct ShrinkArgs {
    /// The scenario file (RON).
    pub scenario: PathBuf,
    /// The failing seed.
    #[arg(long)]
    pub seed: u64,
    /// Where to write the minimal scenario (default: out/<name>_min.ron).
    #[arg(short, long)]
    pub out: Option<PathBuf>,
    /// At most this many simulation runs.
    #[arg(long, default_value_t = 200)]
    pub max_runs: u32,
    /// Change one field of the scenario first, as `simctl run --set` does (repeatable), e.g. the
    /// nemesis of a perturbation sweep whose failure this reproduces.
    #[arg(long = "set", value_name = "PATH=VALUE")]
    pub set: Vec<crate::overrides::Override>,
    #[command(flatten)]
    pub memory: MemoryArg,
}

/// Exit 2 (and why) if `runs` runs of `source` at once (with the trace kept when `trace`) would
/// not fit in memory; otherwise a note of the cost when it is notable.
pub(crate) fn refuse_if_too_big(
    file: &Path,
    entry: &registry::Entry,
    source: &str,
    memory: &MemoryArg,
    trace: bool,
    runs: f64,
) -> Result<Option<ExitCode>> {
    let limit = memory.bytes()?;
    let mut cost = match (entry.cost)(source, trace) {
        Ok(c) => c,
        Err(d) => {
            print_diagnostics(file, &d);
            return Ok(Some(ExitCode::from(2)));
        }
    };
    for p in &mut cost.parts {
        p.1 *= runs;
    }
    match limit {
        Some(l) if cost.bytes() > l => {
            print_too_big(file, &cost, l);
            Ok(Some(ExitCode::from(2)))
        }
        _ => {
            crate::print_cost_notice(&cost);
            Ok(None)
        }
    }
}

pub(crate) fn load_or_report(file: &Path) -> Result<Option<(String, registry::Entry)>> {
    match load(file)? {
        Ok(x) => Ok(Some(x)),
        Err(d) => {
            print_diagnostics(file, &d);
            Ok(None)
        }
    }
}

/// Reports why a run has no result and gives its exit code: 2 for a scenario that does not
/// validate or would not fit in memory, 1 for a model panic (with the command that reproduces it).
pub(crate) fn run_error(
    file: &Path,
    sets: &[crate::overrides::Override],
    entry: &registry::Entry,
    e: RunError,
) -> ExitCode {
    match e {
        RunError::Invalid(d) => {
            print_diagnostics(file, &d);
            ExitCode::from(2)
        }
        RunError::Panicked { seed, message } => {
            eprintln!("MODEL PANIC in model `{}` with seed {seed}: {message}", entry.name);
            eprintln!("reproduce: simctl run {} --seed {seed}{}", shell_quote(file), crate::overrides::flags(sets));
            ExitCode::from(1)
        }
        RunError::TooBig { cost, limit } => {
            print_too_big(file, &cost, limit);
            ExitCode::from(2)
        }
    }
}

/// A run refused before it started: its estimated cost, part by part.
pub(crate) fn print_too_big(file: &Path, cost: &sim_core::cost::Cost, limit: f64) {
    eprintln!(
        "{}: not run: it needs an estimated {} of memory, more than the {} it may use (--max-memory; by default \
         the memory available now)",
        file.display(),
        sim_core::cost::bytes(cost.bytes()),
        sim_core::cost::bytes(limit)
    );
    eprintln!("estimate: {cost}");
    eprintln!("Lower the topology, the load or the duration (or raise --max-memory if the estimate is wrong).");
}

pub fn cmd_shrink(a: ShrinkArgs) -> Result<ExitCode> {
    let (source, entry) = match crate::load_with(&a.scenario, &a.set)? {
        Ok(x) => x,
        Err(code) => return Ok(code),
    };
    if let Some(code) = refuse_if_too_big(&a.scenario, &entry, &source, &a.memory, false, 1.0)? {
        return Ok(code);
    }
    let opts = ShrinkOptions { max_runs: a.max_runs.max(1), ..Default::default() };
    let s = match (entry.shrink)(&source, a.seed, opts) {
        Ok(s) => s,
        Err(e) => return Ok(run_error(&a.scenario, &a.set, &entry, e)),
    };
    if s.signature.is_empty() {
        outln!("seed {} of {} passes every check: nothing to shrink", a.seed, a.scenario.display());
        return Ok(ExitCode::from(1));
    }
    outln!("failure signature (failed verdict items): {}", s.signature.join(", "));
    if !s.reproduced {
        outln!("the scenario with its nemesis expanded into a schedule no longer fails the same way: not shrunk");
        return Ok(ExitCode::from(1));
    }
    for step in &s.steps {
        outln!("  [{:>4} runs] {:<16} {}", step.runs, step.pass, step.change);
    }
    let mut header = format!(
        "// Shrunk by `simctl shrink {} --seed {}{}` ({} runs{}): fails with exactly {}.\n\
         // Only what differs from the defaults is written. The steps, each a run that failed the same way:\n",
        a.scenario.display(),
        a.seed,
        crate::overrides::flags(&a.set),
        s.runs,
        if s.budget_exhausted { ", run budget exhausted: may shrink further" } else { "" },
        s.signature.join(", "),
    );
    for step in &s.steps {
        header.push_str(&format!("//   [{:>4} runs] {}\n", step.runs, step.change));
    }
    if s.steps.is_empty() {
        header.push_str("//   (none: nothing could be removed)\n");
    }
    header.push_str(&format!("// faults: {} -> {}\n", s.faults_before, s.faults_after));
    let out = a.out.clone().unwrap_or_else(|| PathBuf::from(format!("out/{}.ron", sanitize(&s.name))));
    write_file(&out, &format!("{header}{}\n", s.minimal_ron))?;
    outln!(
        "faults {} -> {}; {} runs{}",
        s.faults_before,
        s.faults_after,
        s.runs,
        if s.budget_exhausted { " (budget exhausted; --max-runs for more)" } else { "" }
    );
    outln!("minimal scenario `{}`: {}", s.name, out.display());
    outln!("reproduce: simctl run {}", shell_quote(&out));
    Ok(ExitCode::SUCCESS)
}

#[derive(Args)]
pub struct ReplayArgs {
    /// The scenario file (RON).
    pub scenario: PathBuf,
    /// The seed to replay (default: the scenario's).
    #[arg(long)]
    pub seed: Option<u64>,
    /// Output folder (default: out/replay-<scenario name>-<seed>).
    #[arg(short, long)]
    pub out: Option<PathBuf>,
    /// Centre of the sequence diagram, a simulated time such as `2.5s` (default: the first
    /// operation the first failed check blames, else the first operation that did not complete
    /// Ok, else the first fault, else the start of the run).
    #[arg(long)]
    pub around: Option<String>,
    /// Width of the time window around the centre: the sequence diagram, `trace.jsonl` and
    /// `trace.chrome.json` hold the events in it (and, centred on an operation, up to its
    /// completion).
    #[arg(long, default_value = "100ms")]
    pub window: String,
    /// Write every event of the run to `trace.jsonl` and `trace.chrome.json`, not only the window
    /// (large: a 25 s run is ~100 MB).
    #[arg(long)]
    pub full_trace: bool,
    /// Change one field of the scenario first, as `simctl run --set` does (repeatable), e.g. the
    /// nemesis of a perturbation sweep whose failure this reproduces.
    #[arg(long = "set", value_name = "PATH=VALUE")]
    pub set: Vec<crate::overrides::Override>,
    #[command(flatten)]
    pub memory: MemoryArg,
}

/// Where `replay` centres its diagram, and why.
struct Centre {
    at: sim_core::Time,
    why: String,
    focus: Option<reports::trace::Focus>,
    /// What the blaming check found, in its words.
    finding: Option<String>,
}

/// The first operation a failed check blames (checks in verdict order), else the first failed
/// operation, else the first fault, else the start.
fn replay_centre(r: &registry::RunResult, window: sim_core::Duration) -> Centre {
    use reports::trace::Focus;
    let checks = &r.record.model_report.checks;
    let blamed = r.verdict.items.iter().filter(|i| i.counts && !i.passed).find_map(|i| {
        let c = checks.iter().find(|c| c.name == i.name)?;
        c.blamed.first().map(|b| (c, *b))
    });
    if let Some((c, b)) = blamed {
        let done = match b.complete {
            Some(t) => format!(", completed t={t}"),
            None => ", never completed".into(),
        };
        return Centre {
            at: b.invoke,
            why: format!(
                "op {} blamed by the failed check `{}` ({} blamed), invoked t={}{done}",
                b.op.0,
                c.name,
                c.blamed.len(),
                b.invoke
            ),
            focus: Some(Focus { op: b.op, invoke: b.invoke, complete: b.complete }),
            finding: Some(format!("{}: {}", c.name, c.detail)),
        };
    }
    if let Some(f) = &r.first_failed_op {
        return Centre {
            at: f.invoke,
            why: format!(
                "no failed check blames an operation; the first failed operation, op {}, a `{}` that ended {}",
                f.op.0, f.kind, f.outcome
            ),
            focus: Some(Focus { op: f.op, invoke: f.invoke, complete: f.complete }),
            finding: None,
        };
    }
    match r.record.faults.first() {
        Some(f) => Centre {
            at: sim_core::Time((f.start_s * 1e9).round() as u64),
            why: format!("no operation blamed or failed; the first fault, {}", f.label),
            focus: None,
            finding: None,
        },
        None => Centre {
            at: sim_core::Time(window.0 / 2),
            why: "no operation blamed or failed and no fault; the start of the run".into(),
            focus: None,
            finding: None,
        },
    }
}

pub fn cmd_replay(a: ReplayArgs) -> Result<ExitCode> {
    let (source, entry) = match crate::load_with(&a.scenario, &a.set)? {
        Ok(x) => x,
        Err(code) => return Ok(code),
    };
    let parse_time = |flag: &str, text: &str| {
        sim_core::time::parse_duration(text).map_err(|e| anyhow::anyhow!("{flag} `{text}`: {e}"))
    };
    let around = a.around.as_deref().map(|t| parse_time("--around", t)).transpose()?;
    let window = parse_time("--window", &a.window)?;
    if let Some(code) = refuse_if_too_big(&a.scenario, &entry, &source, &a.memory, true, 1.0)? {
        return Ok(code);
    }
    let r = match (entry.run)(&source, RunRequest { seed: a.seed, trace: true, progress: None, max_memory: None }) {
        Ok(r) => r,
        Err(e) => return Ok(run_error(&a.scenario, &a.set, &entry, e)),
    };
    let trace = r.trace.clone().unwrap_or_default();
    let centre = match around {
        Some(d) => Centre { at: sim_core::Time(d.0), why: "as asked (--around)".into(), focus: None, finding: None },
        None => replay_centre(&r, window),
    };
    let title = format!("{} seed {}", r.info.name, r.seed);
    let opts = reports::trace::DiagramOptions {
        title: title.clone(),
        subtitle: match &centre.finding {
            Some(f) => format!("centred on {}\n{f}", centre.why),
            None => format!("centred on {}", centre.why),
        },
        center: centre.at,
        window,
        focus: centre.focus.clone(),
        ..Default::default()
    };
    // The window the files hold: the diagram's (which reaches the focus operation's completion).
    let range = if a.full_trace { 0..trace.len() } else { reports::trace::diagram_range(&trace, &opts) };
    let part = &trace[range.clone()];
    let mut files = vec![
        ("trace.jsonl".to_string(), reports::trace::json_lines(part, range.start)),
        ("trace.chrome.json".to_string(), reports::trace::chrome_trace(part, range.start, r.topology.as_ref())),
        ("sequence.svg".to_string(), reports::trace::sequence_svg(&trace, &opts)),
    ];
    // The model's figures (a violation's timeline), as `simctl run` writes them.
    files.extend(reports::figure_files(&r.record));
    let dir =
        a.out.clone().unwrap_or_else(|| PathBuf::from(format!("out/replay-{}-{}", sanitize(&r.info.name), r.seed)));
    output::write_folder(&dir, &files).with_context(|| format!("cannot write {}", dir.display()))?;
    let v = &r.verdict;
    outln!(
        "{title}: {} events processed, trace hash {} (as `simctl run` prints); {}",
        sim_core::model::thousands(r.record.events),
        r.record.trace_hash,
        if v.passed { "every check passed".to_string() } else { format!("failed: {}", v.failed.join(", ")) }
    );
    outln!("sequence diagram around t={} ({}), window {window}", centre.at, centre.why);
    outln!(
        "trace: {} records (handler runs, faults, drops, crashes, completions: not the processed-event count), {} of \
         them from t={} to t={} written{}",
        sim_core::model::thousands(trace.len() as u64),
        sim_core::model::thousands(part.len() as u64),
        part.first().map_or(centre.at, |e| e.time),
        part.last().map_or(centre.at, |e| e.time),
        if a.full_trace { " (--full-trace)" } else { " (--full-trace for all)" }
    );
    for (name, _) in &files {
        outln!("{}", dir.join(name).display());
    }
    for (check, file) in reports::failed_check_figures(&r.record, &r.verdict) {
        outln!("the failure of `{check}`, drawn: {}", dir.join(file).display());
    }
    Ok(ExitCode::SUCCESS)
}

pub fn cmd_check_determinism(
    file: &Path,
    seed: Option<u64>,
    sets: &[crate::overrides::Override],
    memory: &MemoryArg,
) -> Result<ExitCode> {
    let (source, entry) = match crate::load_with(file, sets)? {
        Ok(x) => x,
        Err(code) => return Ok(code),
    };
    // Two traced runs, both kept until they are compared.
    if let Some(code) = refuse_if_too_big(file, &entry, &source, memory, true, 2.0)? {
        return Ok(code);
    }
    let info = match (entry.check)(&source) {
        Ok(i) => i,
        Err(d) => {
            print_diagnostics(file, &d);
            return Ok(ExitCode::from(2));
        }
    };
    let seed = seed.unwrap_or(info.seed);
    let d = match (entry.determinism)(&source, seed) {
        Ok(d) => d,
        Err(e) => return Ok(run_error(file, sets, &entry, e)),
    };
    outln!("{} seed {seed}: {d}", file.display());
    Ok(match d {
        sim_core::divergence::Determinism::Identical { .. } => ExitCode::SUCCESS,
        _ => ExitCode::from(1),
    })
}
