//! # simctl: the command line
//!
//! The only crate with IO: it reads scenario files, picks the model a file names from the
//! [`registry`], runs it (with a progress bar on a terminal), writes the report (rendered by the
//! `reports` crate) atomically, as a whole folder ([`output`]), then prints the verdict: an
//! interrupted run never leaves half a report, or a mix of two, and a stdout that fails never
//! costs the report. Everything printed to stdout goes through [`term`] and never panics: a
//! closed pipe (`| head`) ends the printing quietly with the usual exit code; another write
//! error (`> /dev/full`) makes the exit code 2 with an error naming stdout. Before a run starts, its cost is
//! estimated (`sim_core::cost`) and a run that would not fit in `--max-memory` (by default the
//! memory available) is refused with the estimate.
//!
//! Exit codes: 0 every verdict passed; 1 a verdict failed (including a known-bad scenario failing
//! as expected, and a model panic); 2 bad input or an IO error (stdout included).
//!
//! The workflow around single runs lives in [`commands`]: `sweep` (many seeds in parallel, a
//! resumable results file, a summary with Wilson intervals, JUnit XML; exit 0 iff every seed met
//! its scenario's expectation), `merge` (shards), `shrink` (a minimal failing scenario), `replay`
//! (the trace as JSON lines, Chrome trace and a sequence diagram, and the model's figures: a
//! violation's timeline) and `run --check-determinism`.
//! See docs/workflow.md.

#[macro_use]
mod term;
mod bench;
mod capacity;
mod commands;
mod curve;
mod explore;
mod output;
mod overrides;
#[cfg(test)]
mod registry_tests;
mod suggest;
mod sweep;
mod trace;

use anyhow::{Context, Result};
use clap::{Parser, Subcommand};
use reports::Meta;
use sim_core::parse::{self, Diagnostic};
use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

const EXAMPLES_TOP: &str = "\
Examples:
  simctl run scenarios/register.ron
  simctl run scenarios/register.ron --seed 42 --out /tmp/reg
  simctl run scenarios/register.ron --check-determinism
  simctl sweep scenarios/dynamo_partition.ron --seeds 0..100 --jobs 2
  simctl shrink scenarios/register_stale_reads.ron --seed 3 --out minimal.ron
  simctl replay scenarios/register_stale_reads.ron --seed 3 --out out/replay
  simctl validate scenarios/*.ron
  simctl list
  simctl list dynamo";

const EXAMPLES_RUN: &str = "\
Examples:
  simctl run scenarios/register.ron                 # report in out/register/
  simctl run scenarios/register.ron --seed 42       # another seed (reproduces a failure)
  simctl run scenarios/register_stale_reads.ron     # a known-bad design: exits 1, as expected
  simctl run scenarios/register.ron --check-determinism   # two traced runs, compared event by event

Exit codes: 0 every verdict passed, 1 a verdict failed, 2 bad input or IO error.";

const EXAMPLES_LIST: &str = "\
Examples:
  simctl list                # every model in a line or two, and the scenarios in ./scenarios
  simctl list dynamo         # one model: operations, checks, measures, tables, defaults

The check names are what `invariants: [...]` and `expect: Fail([...])` name; the measures are what
`slas: [Measure(name: ...)]` bounds.";

const EXAMPLES_VALIDATE: &str = "\
Examples:
  simctl validate scenarios/register.ron
  simctl validate scenarios/*.ron

Prints every problem as file:line:col: field.path: message; exits 2 if there is any.";

/// `simctl --version`: the package version, and whether this binary is the profile-guided build
/// (`cli/pgo/build.sh` sets `SIMCTL_PGO` for its final build). Benchmarks print it, so a figure
/// says which build produced it.
const PGO: bool = option_env!("SIMCTL_PGO").is_some();
const VERSION: &str =
    if PGO { concat!(env!("CARGO_PKG_VERSION"), " (profile-guided build)") } else { env!("CARGO_PKG_VERSION") };

#[derive(Parser)]
#[command(name = "simctl", version = VERSION, about = "Deterministic discrete-event simulation of distributed-system designs", after_help = EXAMPLES_TOP)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run a scenario: print the verdict and write the report.
    #[command(after_help = EXAMPLES_RUN)]
    Run {
        /// The scenario file (RON).
        scenario: PathBuf,
        /// Override the scenario's seed.
        #[arg(long)]
        seed: Option<u64>,
        /// Where to write the report (default: out/<scenario name>/).
        #[arg(short, long)]
        out: Option<PathBuf>,
        /// No progress bar (it is also hidden when stdout is not a terminal, or under CI).
        #[arg(long)]
        no_progress: bool,
        /// Run twice with the full trace and report the first event where the runs differ (time,
        /// node, event), or confirm identical trace hashes; exits 1 on a divergence. No report.
        #[arg(long)]
        check_determinism: bool,
        /// Change one field of the scenario, e.g. `--set topology.servers=8` or
        /// `--set workload.arrival.rate_per_s=2000` (repeatable; see docs/scenarios.md).
        #[arg(long = "set", value_name = "PATH=VALUE")]
        set: Vec<overrides::Override>,
        #[command(flatten)]
        memory: MemoryArg,
    },
    /// Run many seeds of a scenario (or of every scenario in a folder) in parallel.
    #[command(after_help = commands::EXAMPLES_SWEEP)]
    Sweep(commands::SweepArgs),
    /// Latency and throughput against one varied field (load, servers, ...), and the knee.
    #[command(after_help = curve::EXAMPLES_CURVE)]
    Curve(curve::CurveArgs),
    /// The least value of an integer field (servers, nodes) at which every SLA and invariant holds.
    #[command(after_help = capacity::EXAMPLES_CAPACITY)]
    Capacity(capacity::CapacityArgs),
    /// Combine the results files of sharded sweeps into one report.
    #[command(after_help = commands::EXAMPLES_MERGE)]
    Merge(commands::MergeArgs),
    /// Search for a failing run: mutate fault schedules, guided by coverage (vs random seeds).
    #[command(after_help = explore::EXAMPLES_EXPLORE)]
    Explore(explore::ExploreArgs),
    /// Reduce a failing seed to a minimal scenario that fails the same way (delta debugging).
    #[command(after_help = commands::EXAMPLES_SHRINK)]
    Shrink(commands::ShrinkArgs),
    /// Re-run a seed with the full event trace: JSON lines, Chrome trace and a sequence diagram
    /// (and the model's figures, such as a linearizability violation's timeline).
    #[command(after_help = commands::EXAMPLES_REPLAY)]
    Replay(commands::ReplayArgs),
    /// Check scenario files without running them; reports every problem.
    #[command(after_help = EXAMPLES_VALIDATE)]
    Validate {
        #[arg(required = true)]
        files: Vec<PathBuf>,
    },
    /// List the models and the scenarios in ./scenarios; with a model's name, that model in full:
    /// its operations, checks, measures, tables and default configuration.
    #[command(after_help = EXAMPLES_LIST)]
    List {
        /// One model to describe (e.g. `dynamo`).
        model: Option<String>,
    },
    /// Benchmarks. `phold`: the engine benchmark of shared/bench/PHOLD.md, the bare BinaryHeap loop
    /// and the simctl kernel one after the other in this process, and the ratio kernel/bare.
    #[command(after_help = EXAMPLES_BENCH)]
    Bench {
        #[command(subcommand)]
        which: BenchCommand,
    },
}

const EXAMPLES_BENCH: &str = "\
Examples:
  simctl bench phold --size medium
  simctl bench phold --size huge --repeat 1
  simctl bench phold --lps 1024 --population 16 --end 100
  simctl bench scenario scenarios/perf/dynamo_10k.ron
  simctl bench scenario scenarios/perf/kafka_50k.ron
  simctl bench scenario scenarios/perf/service_inline.ron scenarios/perf/service_parts.ron --repeat 3
  simctl bench scenario scenarios/perf/dynamo_10k.ron --phold-baseline none
  simctl bench lin
  simctl bench lin --ops 1000000 --keys 1000 --clients 2000

Build with --release: cargo run --release -p simctl -- bench phold --size medium";

#[derive(Subcommand)]
enum BenchCommand {
    /// PHOLD: L logical processes, E initial events each, remote probability 0.9, delay 0.1 + Exp(0.9).
    Phold {
        /// small (L=64, E=16), medium (1024, 16), large (100000, 8), huge (1000000, 1); `all` runs each.
        #[arg(long, default_value = "medium")]
        size: String,
        /// Override L, the number of LPs.
        #[arg(long)]
        lps: Option<u32>,
        /// Override E, the initial events per LP.
        #[arg(long)]
        population: Option<u32>,
        /// Override T, the end of simulated time (time units; 1 unit = 1 ms of simulated time).
        #[arg(long)]
        end: Option<f64>,
        /// Alternating bare/kernel runs; the median ratio is reported.
        #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u32).range(1..))]
        repeat: u32,
        #[arg(long, default_value_t = 42)]
        seed: u64,
    },
    /// Speed of scenario runs: simulated time / wall time and events per second, with the
    /// simulation and the end-of-run checkers timed apart (no report is written). With several
    /// files, the runs alternate (`--repeat` rounds) and each file's median events/s is reported
    /// as a ratio to the first file's, measured in the same invocation (the baseline).
    ///
    /// A scaling study needs no copies of the file: `--set` changes every file's run, e.g.
    /// `simctl bench scenario scenarios/perf/kafka_100_brokers.ron --set duration=5s --set
    /// topology.servers=50 --phold-baseline none`.
    Scenario {
        /// The scenario files, e.g. scenarios/perf/dynamo_10k.ron; the first is the baseline.
        #[arg(required = true)]
        scenarios: Vec<PathBuf>,
        #[arg(long)]
        seed: Option<u64>,
        /// Change one field of every file's scenario, as `simctl run --set` does, e.g.
        /// `--set topology.servers=64` (repeatable; see docs/scenarios.md).
        #[arg(long = "set", value_name = "PATH=VALUE")]
        set: Vec<overrides::Override>,
        /// Rounds over the files (each round runs every file once).
        #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..))]
        repeat: u32,
        /// The PHOLD size whose kernel runs (before the first round and after each, in this
        /// process; their median) each file's simulation speed is set against (`RATIO ...
        /// model/kernel`; `handled/kernel`, the same figure since a timer popped after its
        /// cancel stopped being an event, kept so the line reads as in earlier rounds); `none`
        /// skips them.
        #[arg(long, default_value = "medium")]
        phold_baseline: String,
        #[command(flatten)]
        memory: MemoryArg,
    },
    /// The linearizability checker on a generated register history (linearizable by construction,
    /// 1% of writes with unknown outcome), on one thread: time, ops/s, states explored and the
    /// load average.
    Lin {
        #[arg(long, default_value_t = 100_000)]
        ops: usize,
        #[arg(long, default_value_t = 100)]
        keys: u64,
        /// Clients, each running one operation at a time (1 ms latency, 1 ms think time).
        #[arg(long, default_value_t = 200)]
        clients: u32,
        #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u32).range(1..))]
        repeat: u32,
        #[arg(long, default_value_t = 42)]
        seed: u64,
    },
}

/// `--max-memory`, shared by every command that runs a scenario.
#[derive(clap::Args, Clone, Debug, Default)]
pub struct MemoryArg {
    /// Refuse a run whose estimated peak memory is above this (`8GB`, `512MB`, `2GiB` or bytes),
    /// before it starts. Default: the memory available now (MemAvailable in /proc/meminfo).
    #[arg(long, value_name = "SIZE")]
    pub max_memory: Option<String>,
}

impl MemoryArg {
    /// The limit in bytes (`None`: no limit known), or a usage error.
    pub fn bytes(&self) -> Result<Option<f64>> {
        match &self.max_memory {
            Some(text) => parse_size(text).map(Some).map_err(|e| anyhow::anyhow!("--max-memory `{text}`: {e}")),
            None => Ok(std::fs::read_to_string("/proc/meminfo").ok().and_then(|m| mem_available(&m))),
        }
    }
}

/// A size in bytes: a number with an optional unit (B, kB, MB, GB, TB decimal; KiB, MiB, GiB,
/// TiB binary; case does not matter).
pub fn parse_size(text: &str) -> std::result::Result<f64, String> {
    let t = text.trim();
    let split = t.find(|c: char| c.is_alphabetic()).unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let value: f64 = num.trim().parse().map_err(|_| format!("`{}` is not a number", num.trim()))?;
    let scale = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1.0,
        "k" | "kb" => 1e3,
        "m" | "mb" => 1e6,
        "g" | "gb" => 1e9,
        "t" | "tb" => 1e12,
        "kib" => 1024.0,
        "mib" => 1024.0 * 1024.0,
        "gib" => 1024.0 * 1024.0 * 1024.0,
        "tib" => 1024.0 * 1024.0 * 1024.0 * 1024.0,
        u => return Err(format!("unknown unit `{u}` (B, kB, MB, GB, TB, KiB, MiB, GiB, TiB)")),
    };
    if !(value.is_finite() && value > 0.0) {
        return Err("must be a positive size".into());
    }
    Ok(value * scale)
}

/// `MemAvailable` of a /proc/meminfo text, in bytes.
pub fn mem_available(meminfo: &str) -> Option<f64> {
    let line = meminfo.lines().find(|l| l.starts_with("MemAvailable:"))?;
    let kb: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024.0)
}

/// The allocator: mimalloc rather than the system's (glibc) malloc. A simulation allocates and
/// frees a message, a history entry or a version per event, and a run ends by freeing millions of
/// them; measured with `simctl bench scenario` in docs/performance.md ("Round three, merged": the allocator). Built without
/// transparent huge pages (`no_thp`): with them, on a kernel that grants them always, Kafka's runs
/// spent their gain zeroing 2 MiB pages. It decides nothing a run computes (no address reaches the
/// simulation), so trace hashes are the same under either.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Run { scenario, seed, check_determinism: true, set, memory, .. } => {
            commands::cmd_check_determinism(&scenario, seed, &set, &memory)
        }
        Command::Run { scenario, seed, out, no_progress, check_determinism: false, set, memory } => {
            cmd_run(&scenario, seed, out, no_progress, &set, &memory)
        }
        Command::Sweep(a) => commands::cmd_sweep(a),
        Command::Curve(a) => curve::cmd_curve(a),
        Command::Capacity(a) => capacity::cmd_capacity(a),
        Command::Merge(a) => commands::cmd_merge(a),
        Command::Shrink(a) => commands::cmd_shrink(a),
        Command::Explore(a) => explore::cmd_explore(a),
        Command::Replay(a) => commands::cmd_replay(a),
        Command::Validate { files } => cmd_validate(&files),
        Command::List { model: None } => cmd_list(),
        Command::List { model: Some(m) } => cmd_list_model(&m),
        Command::Bench { which: BenchCommand::Phold { size, lps, population, end, repeat, seed } } => {
            cmd_bench_phold(&size, lps, population, end, repeat, seed)
        }
        Command::Bench { which: BenchCommand::Scenario { scenarios, seed, set, repeat, phold_baseline, memory } } => {
            cmd_bench_scenarios(&scenarios, seed, &set, repeat, &phold_baseline, &memory)
        }
        Command::Bench { which: BenchCommand::Lin { ops, keys, clients, repeat, seed } } => {
            cmd_bench_lin(ops, keys, clients, repeat, seed)
        }
    };
    term::exit_code(match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(2)
        }
    })
}

/// 64-bit FNV-1a of the scenario text: `summary.json` records it so a result can be traced to
/// the exact file that produced it.
pub fn fnv1a(text: &str) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in text.bytes() {
        h ^= b as u64;
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    format!("{h:016x}")
}

pub(crate) fn print_diagnostics(file: &Path, problems: &[Diagnostic]) {
    for p in problems {
        let (l, c) = (p.line.unwrap_or(1), p.col.unwrap_or(1));
        let path = if p.path.is_empty() { String::new() } else { format!("{}: ", p.path) };
        eprintln!("{}:{l}:{c}: {path}{}", file.display(), suggest::on_unknown_name(&p.message));
    }
}

/// Reads a scenario and finds its model, or the problems that prevent it.
pub(crate) fn load(file: &Path) -> Result<std::result::Result<(String, registry::Entry), Vec<Diagnostic>>> {
    let source = std::fs::read_to_string(file).with_context(|| format!("cannot read {}", file.display()))?;
    let model = match parse::scenario_model(&source) {
        Ok(m) => m,
        Err(d) => return Ok(Err(d)),
    };
    let source = match trace::inline(&source, file) {
        Ok(s) => s,
        Err(d) => return Ok(Err(d)),
    };
    match registry::find(&model) {
        Some(e) => Ok(Ok((source, e))),
        None => {
            let pos = parse::locate(&source, "model");
            let names: Vec<&str> = registry::models().iter().map(|e| e.name).collect();
            Ok(Err(vec![Diagnostic {
                line: pos.map(|p| p.0),
                col: pos.map(|p| p.1),
                path: "model".into(),
                message: format!(
                    "unknown model `{model}`{} (models: {})",
                    suggest::did_you_mean(&model, names.iter().copied()),
                    names.join(", ")
                ),
            }]))
        }
    }
}

/// [`load`] with the `--set` overrides applied; on bad input, the problems are printed and the
/// exit code (2) returned.
pub(crate) fn load_with(
    file: &Path,
    sets: &[overrides::Override],
) -> Result<std::result::Result<(String, registry::Entry), ExitCode>> {
    let (source, entry) = match load(file)? {
        Ok(x) => x,
        Err(d) => {
            print_diagnostics(file, &d);
            return Ok(Err(ExitCode::from(2)));
        }
    };
    match overrides::apply(&entry, &source, sets) {
        Ok(text) => Ok(Ok((text, entry))),
        Err(overrides::OverrideError::Source(d)) => {
            print_diagnostics(file, &d);
            Ok(Err(ExitCode::from(2)))
        }
        Err(overrides::OverrideError::Set(m)) => {
            for line in m.lines() {
                eprintln!("{}: error: {line}", file.display());
            }
            Ok(Err(ExitCode::from(2)))
        }
    }
}

pub(crate) fn shell_quote(p: &Path) -> String {
    shell_word(&p.display().to_string())
}

/// A word as a POSIX shell reads it back: as it is when safe, else single-quoted.
pub(crate) fn shell_word(s: &str) -> String {
    if !s.is_empty() && s.chars().all(|c| c.is_ascii_alphanumeric() || "/._-=:,+".contains(c)) {
        s.to_string()
    } else {
        format!("'{}'", s.replace('\'', "'\\''"))
    }
}

/// A run's result, or the exit code after reporting why there is none: 2 for a scenario that does
/// not validate, 1 for a model panic (with the command that reproduces it).
fn judged(
    file: &Path,
    sets: &[overrides::Override],
    entry: &registry::Entry,
    result: std::result::Result<registry::RunResult, registry::RunError>,
) -> std::result::Result<registry::RunResult, ExitCode> {
    result.map_err(|e| commands::run_error(file, sets, entry, e))
}

/// Says what a run will cost when that is notable (a gigabyte, a billion events) or more than its
/// event limit allows, before it starts.
pub(crate) fn print_cost_notice(cost: &sim_core::cost::Cost) {
    let max_events = cost.max_events;
    if cost.bytes() >= 1e9 || cost.events >= 1e9 {
        eprintln!("note: this run costs {cost}");
    }
    if cost.events > max_events as f64 {
        eprintln!(
            "note: about {} events are expected, beyond the run's event limit of {}: it will stop there and \
             fail `run.event_limit`",
            sim_core::cost::count(cost.events),
            sim_core::cost::count(max_events as f64)
        );
    }
}

fn cmd_run(
    file: &Path,
    seed: Option<u64>,
    out: Option<PathBuf>,
    no_progress: bool,
    sets: &[overrides::Override],
    memory: &MemoryArg,
) -> Result<ExitCode> {
    let max_memory = memory.bytes()?;
    let (source, entry) = match load_with(file, sets)? {
        Ok(x) => x,
        Err(code) => return Ok(code),
    };
    match (entry.cost)(&source, false) {
        Ok(cost) if max_memory.is_some_and(|m| cost.bytes() > m) => {
            commands::print_too_big(file, &cost, max_memory.unwrap_or_default());
            return Ok(ExitCode::from(2));
        }
        Ok(cost) => print_cost_notice(&cost),
        Err(d) => {
            print_diagnostics(file, &d);
            return Ok(ExitCode::from(2));
        }
    }
    let show_progress = !no_progress && std::io::stdout().is_terminal() && std::env::var_os("CI").is_none();
    let mut bar = show_progress.then(progress::Bar::new);
    let mut tick = |now: sim_core::Time, events: u64, end: sim_core::Time| {
        if let Some(b) = bar.as_mut() {
            b.update(now, events, end);
        }
    };
    let req = registry::RunRequest { seed, trace: false, progress: Some(&mut tick), max_memory };
    let result = (entry.run)(&source, req);
    if let Some(b) = bar.take() {
        b.finish();
    }
    let result = match judged(file, sets, &entry, result) {
        Ok(r) => r,
        Err(code) => return Ok(code),
    };
    for w in &result.info.warnings {
        eprintln!("{}: warning: {w}", file.display());
    }
    let reproduce = format!("simctl run {} --seed {}{}", shell_quote(file), result.seed, overrides::flags(sets));
    let meta = Meta {
        scenario_file: file.display().to_string(),
        scenario_hash: fnv1a(&source),
        description: result.info.description.clone(),
        simctl_version: env!("CARGO_PKG_VERSION").to_string(),
        reproduce: reproduce.clone(),
    };
    // The report first: a failing stdout (a full disk, a closed pipe) must not cost it.
    let dir = out.unwrap_or_else(|| Path::new("out").join(sanitize(&result.info.name)));
    let files = reports::render(&result.record, &result.verdict, &meta);
    let written =
        output::write_folder(&dir, &files).with_context(|| format!("cannot write the report to {}", dir.display()));
    out!("{}", reports::text_summary(&result.record, &result.verdict, &meta));
    written?;
    outln!("report: {}", dir.join("index.html").display());
    for (check, file) in reports::failed_check_figures(&result.record, &result.verdict) {
        outln!("the failure of `{check}`, drawn: {}", dir.join(file).display());
    }
    let v = &result.verdict;
    let ok = v.passed && v.meets_expectation;
    if !ok {
        outln!("reproduce: {reproduce}");
    }
    // The process exits next: freeing the world piece by piece would be work for nothing.
    result.world.leak();
    Ok(if ok { ExitCode::SUCCESS } else { ExitCode::from(1) })
}

pub(crate) fn sanitize(name: &str) -> String {
    let s: String =
        name.chars().map(|c| if c.is_ascii_alphanumeric() || "-_.".contains(c) { c } else { '_' }).collect();
    if s.is_empty() || s.starts_with('.') { format!("scenario{s}") } else { s }
}

fn cmd_validate(files: &[PathBuf]) -> Result<ExitCode> {
    let mut bad = false;
    for file in files {
        let loaded = match load(file) {
            Ok(l) => l,
            Err(e) => {
                eprintln!("{}: error: {e:#}", file.display());
                bad = true;
                continue;
            }
        };
        let problems = match loaded {
            Err(d) => d,
            Ok((source, entry)) => match (entry.check)(&source) {
                Ok(info) => {
                    for w in &info.warnings {
                        eprintln!("{}: warning: {w}", file.display());
                    }
                    Vec::new()
                }
                Err(d) => d,
            },
        };
        if problems.is_empty() {
            outln!("{}: ok", file.display());
        } else {
            print_diagnostics(file, &problems);
            bad = true;
        }
    }
    Ok(if bad { ExitCode::from(2) } else { ExitCode::SUCCESS })
}

/// `name: a, b, c`, or `name: (none)`.
fn names_line(label: &str, names: &[&str]) -> String {
    format!("{label}: {}", if names.is_empty() { "(none)".to_string() } else { names.join(", ") })
}

/// The `*.ron` files in ./scenarios, sorted.
fn shipped_scenarios() -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = match std::fs::read_dir("scenarios") {
        Ok(rd) => {
            rd.filter_map(|e| e.ok().map(|e| e.path())).filter(|p| p.extension().is_some_and(|x| x == "ron")).collect()
        }
        Err(_) => Vec::new(),
    };
    files.sort();
    files
}

fn cmd_list() -> Result<ExitCode> {
    outln!("Models (`simctl list MODEL` for one in full: measures, tables, default configuration):");
    for e in registry::models() {
        outln!("\n  {} - {}", e.name, e.about);
        outln!("    {}", names_line("operations", e.op_kinds));
        outln!("    {}", names_line("checks", e.checks));
    }
    let files = shipped_scenarios();
    outln!("\nScenarios in ./scenarios:");
    if files.is_empty() {
        outln!("  (none found)");
    }
    for f in files {
        let line = match load(&f)? {
            Err(d) => format!("INVALID ({})", d.first().map(|d| d.to_string()).unwrap_or_default()),
            Ok((source, entry)) => match (entry.check)(&source) {
                Ok(info) => format!("[{}, seed {}] {}", entry.name, info.seed, info.description),
                Err(d) => format!("[{}] INVALID ({} problems; run simctl validate)", entry.name, d.len()),
            },
        };
        outln!("  {}  {line}", f.display());
    }
    Ok(ExitCode::SUCCESS)
}

/// `simctl list MODEL`: everything a scenario author names: operations, checks, measures and
/// tables (from a short run of the model's first shipped scenario that allows one), the default
/// configuration and the shipped scenarios.
fn cmd_list_model(name: &str) -> Result<ExitCode> {
    let Some(e) = registry::find(name) else {
        let models = registry::models();
        let names: Vec<&str> = models.iter().map(|e| e.name).collect();
        eprintln!(
            "error: unknown model `{name}`{} (models: {})",
            suggest::did_you_mean(name, names.iter().copied()),
            names.join(", ")
        );
        return Ok(ExitCode::from(2));
    };
    outln!("{} - {}", e.name, e.about);
    outln!("  transport: {} (network.transport overrides it)", e.transport);
    outln!("  {}  (workload: (ops: [...]))", names_line("operations", e.op_kinds));
    outln!("  {}  (invariants: [...], expect: Fail([...]))", names_line("checks", e.checks));
    if !e.progress_checks.is_empty() {
        outln!("  {}  (fail when nothing succeeds)", names_line("progress checks", e.progress_checks));
    }
    let mut scenarios = Vec::new();
    for f in shipped_scenarios() {
        if let Ok(Ok((source, entry))) = load(&f)
            && entry.name == e.name
            && let Ok(info) = (entry.check)(&source)
        {
            scenarios.push((f, source, info));
        }
    }
    // A good scenario first: a known-bad one may configure the design into another shape.
    let mut order: Vec<usize> = (0..scenarios.len()).collect();
    order.sort_by_key(|&i| scenarios[i].2.expect.failing().is_some());
    let probed = order.iter().find_map(|&i| (e.probe)(&scenarios[i].1).map(|p| (&scenarios[i].0, p)));
    match probed {
        Some((file, p)) => {
            let measures: Vec<&str> = p.measures.iter().map(String::as_str).collect();
            let tables: Vec<&str> = p.tables.iter().map(String::as_str).collect();
            outln!("  {}  (slas: [Measure(name: ...)])", names_line("measures", &measures));
            outln!("  {}", names_line("tables", &tables));
            outln!(
                "    (as a 0.5 s run of {} without faults reports them; a configuration may add others)",
                file.display()
            );
        }
        None => outln!("  measures, tables: unknown until a run (summary.json's model_report lists them)"),
    }
    outln!("  config (defaults):");
    for line in (e.default_config)().lines() {
        outln!("    {line}");
    }
    outln!("  scenarios:");
    if scenarios.is_empty() {
        outln!("    (none in ./scenarios)");
    }
    for (f, _, info) in &scenarios {
        let expect = match info.expect.failing() {
            Some((names, _)) => format!("known-bad: fails {}", names.join(", ")),
            None => "good".to_string(),
        };
        outln!("    {}  [{expect}] {}", f.display(), info.description);
    }
    Ok(ExitCode::SUCCESS)
}

/// Runs one scenario and reports its speed. The wall clock is read here, at the edge: the last
/// progress call marks the end of the simulation, and the checkers run after it.
/// `simctl bench scenario A [B ...]`: alternating rounds, bracketed by the kernel's PHOLD runs at
/// `phold_baseline` (unless `none`: one before the first round and one after each); then each
/// file's median simulation speed against the first file's, and against the median of the
/// kernel's PHOLD events/s of the same invocation.
fn cmd_bench_scenarios(
    files: &[PathBuf],
    seed: Option<u64>,
    sets: &[overrides::Override],
    repeat: u32,
    phold_baseline: &str,
    memory: &MemoryArg,
) -> Result<ExitCode> {
    let baseline = match phold_baseline {
        "none" => None,
        name => match bench::PholdParams::size(name) {
            Some(p) => Some(p),
            None => {
                let sizes = bench::PholdParams::size_names().join(", ");
                eprintln!("error: --phold-baseline `{name}`: unknown PHOLD size (sizes: {sizes}, none)");
                return Ok(ExitCode::from(2));
            }
        },
    };
    // Every file is read and checked before anything is timed: a typo in the last file should
    // not wait for the PHOLD baseline and the earlier files' runs to be reported.
    for f in files {
        let (source, entry) = match load_with(f, sets)? {
            Ok(x) => x,
            Err(code) => return Ok(code),
        };
        if let Err(d) = (entry.check)(&source) {
            print_diagnostics(f, &d);
            return Ok(ExitCode::from(2));
        }
    }
    print_build();
    if !sets.is_empty() {
        outln!("CHANGED every file's scenario by{}", overrides::flags(sets));
    }
    let mut speeds: Vec<Vec<f64>> = vec![Vec::new(); files.len()];
    // The kernel's PHOLD rate, measured before the first round and after every round: the
    // machine's speed drifts over minutes, and the rounds are bracketed by the runs whose median
    // is the ratio's denominator.
    let mut kernel: Vec<f64> = Vec::new();
    let measure_kernel = |kernel: &mut Vec<f64>| {
        if let Some(p) = &baseline {
            let k = bench::run_kernel(p);
            outln!("BASELINE {}", k.line(p));
            kernel.push(k.events_per_s());
        }
    };
    measure_kernel(&mut kernel);
    for _ in 0..repeat {
        for (i, f) in files.iter().enumerate() {
            match cmd_bench_scenario(f, seed, sets, memory)? {
                Ok(events_per_s) => speeds[i].push(events_per_s),
                Err(code) => return Ok(code),
            }
        }
        measure_kernel(&mut kernel);
    }
    let medians: Vec<f64> = speeds.iter().map(|v| bench::median(v)).collect();
    if files.len() > 1 {
        outln!("SUMMARY (simulation alone, median of {} rounds; ratio to the first file)", repeat);
        for (f, m) in files.iter().zip(&medians) {
            outln!("  {:<50} {:>6.2} M events/s  ratio {:.3}", f.display(), m / 1e6, m / medians[0]);
        }
    }
    if let Some(p) = &baseline {
        let k = bench::median(&kernel);
        let (k_min, k_max) = kernel.iter().fold((f64::MAX, f64::MIN), |(lo, hi), &x| (lo.min(x), hi.max(x)));
        let load = bench::load_average().unwrap_or_else(|| "unknown".into());
        for (f, m) in files.iter().zip(&medians) {
            outln!(
                "RATIO scenario={} simulation_events_per_s={m:.0} phold_{}_kernel_events_per_s={k:.0} model/kernel={:.3} \
                 handled_events_per_s={m:.0} handled/kernel={:.3} \
                 (medians of {} rounds and {} PHOLD runs, PHOLD {:.2}-{:.2} M events/s; target >= 0.5) load_avg={load}",
                f.display(),
                p.name,
                m / k,
                m / k,
                repeat,
                kernel.len(),
                k_min / 1e6,
                k_max / 1e6,
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// The `BUILD` line every benchmark starts with: which binary produced its figures.
fn print_build() {
    let profile = if cfg!(debug_assertions) { "debug" } else { "release" };
    let pgo = if PGO { "yes" } else { "no" };
    outln!("BUILD simctl={VERSION} profile={profile} pgo={pgo}");
}

/// One timed run; `Ok(Ok(events per second of the simulation alone))`, or the exit code of a
/// run that could not be judged.
#[allow(clippy::disallowed_methods)]
fn cmd_bench_scenario(
    file: &Path,
    seed: Option<u64>,
    sets: &[overrides::Override],
    memory: &MemoryArg,
) -> Result<std::result::Result<f64, ExitCode>> {
    let max_memory = memory.bytes()?;
    let (source, entry) = match load_with(file, sets)? {
        Ok(x) => x,
        Err(code) => return Ok(Err(code)),
    };
    if cfg!(debug_assertions) {
        eprintln!("warning: a debug build; run with --release for meaningful figures");
    }
    let start = std::time::Instant::now();
    let mut simulated_s = 0.0;
    let mut tick = |_: sim_core::Time, _: u64, _: sim_core::Time| simulated_s = start.elapsed().as_secs_f64();
    let req = registry::RunRequest { seed, trace: false, progress: Some(&mut tick), max_memory };
    let rss_reset = bench::reset_peak_rss();
    let rss_at_start = if rss_reset { bench::rss_kb() } else { None };
    let result = (entry.run)(&source, req);
    let checked_s = start.elapsed().as_secs_f64();
    let peak_rss = if rss_reset { bench::peak_rss_kb() } else { None };
    let r = match judged(file, sets, &entry, result) {
        Ok(r) => r,
        Err(code) => return Ok(Err(code)),
    };
    // Freeing the world is timed on its own: part of the run's wall time, not the checkers'.
    let world = r.world;
    let freeing = std::time::Instant::now();
    world.free();
    let teardown_s = freeing.elapsed().as_secs_f64();
    let total_s = checked_s + teardown_s;
    let rec = &r.record;
    let ops: u64 = rec.ops.iter().map(|o| o.total).sum();
    outln!(
        "BENCH scenario={} seed={} simulated_s={:.1} ops={} events={} events_skipped={} wall_s={:.2} simulating_s={:.2} \
         checkers_s={:.2} teardown_s={:.2}",
        rec.scenario,
        rec.seed,
        rec.end_s,
        ops,
        rec.events,
        rec.events_skipped,
        total_s,
        simulated_s,
        checked_s - simulated_s,
        teardown_s
    );
    outln!(
        "  simulated/wall {:.1}x, {:.2} M events/s (simulation alone: {:.1}x, {:.2} M events/s)",
        rec.end_s / total_s,
        rec.events as f64 / total_s / 1e6,
        rec.end_s / simulated_s.max(1e-9),
        rec.events as f64 / simulated_s.max(1e-9) / 1e6
    );
    outln!(
        "  events: {}; beside them {} timers ({:.1}% as many) came due cancelled (or of a node gone down) and were dropped unrun",
        rec.events,
        rec.events_skipped,
        100.0 * rec.events_skipped as f64 / rec.events.max(1) as f64
    );
    // The cost estimate beside what the run used (peak resident memory of this process).
    if let Ok(cost) = (entry.cost)(&source, false) {
        outln!(
            "COST estimated_bytes={:.0} peak_rss_bytes={} estimated_events={:.0} events={} estimated_ops={:.0} ops={ops} rss_at_start_bytes={}",
            cost.bytes(),
            peak_rss.map_or("unknown".into(), |kb| (kb * 1024).to_string()),
            cost.events,
            rec.events,
            cost.ops,
            rss_at_start.map_or("unknown".into(), |kb| (kb * 1024).to_string()),
        );
        // A second round in one process starts from what the allocator kept of the first: say so,
        // or a repeated round's peak reads as that run's own.
        let held = match rss_at_start {
            Some(kb) if kb >= 64 * 1024 => {
                format!(" (the process held {} when the run began)", sim_core::cost::bytes(kb as f64 * 1024.0))
            }
            _ => String::new(),
        };
        outln!(
            "  memory: estimated {}, peak RSS {}{held}; events: estimated {}, processed {}",
            sim_core::cost::bytes(cost.bytes()),
            peak_rss.map_or("unknown".into(), |kb| sim_core::cost::bytes(kb as f64 * 1024.0)),
            sim_core::cost::count(cost.events),
            sim_core::cost::count(rec.events as f64)
        );
        outln!("  estimate: {cost}");
    }
    let v = &r.verdict;
    outln!("  verdict: {}", if v.passed { "PASS".to_string() } else { format!("FAIL ({})", v.failed.join(", ")) });
    let simulating = simulated_s.max(1e-9);
    Ok(Ok(rec.events as f64 / simulating))
}

fn cmd_bench_phold(
    size: &str,
    lps: Option<u32>,
    population: Option<u32>,
    end: Option<f64>,
    repeat: u32,
    seed: u64,
) -> Result<ExitCode> {
    let names: Vec<&str> = if size == "all" { bench::PholdParams::size_names() } else { vec![size] };
    print_build();
    for name in names {
        let Some(mut p) = bench::PholdParams::size(name) else {
            eprintln!("error: unknown size `{name}` (sizes: {}, all)", bench::PholdParams::size_names().join(", "));
            return Ok(ExitCode::from(2));
        };
        p.lps = lps.unwrap_or(p.lps);
        p.population = population.unwrap_or(p.population);
        p.end = end.unwrap_or(p.end);
        p.seed = seed;
        if p.lps == 0 || p.population == 0 || !(p.end.is_finite() && p.end > 0.1) {
            eprintln!("error: --lps and --population must be at least 1 and --end above 0.1");
            return Ok(ExitCode::from(2));
        }
        if cfg!(debug_assertions) {
            eprintln!("warning: a debug build; run with --release for meaningful figures");
        }
        let ratios = bench::phold(&p, repeat, |line| outln!("{line}"));
        let listed: Vec<String> = ratios.iter().map(|r| format!("{r:.2}")).collect();
        outln!(
            "RATIO size={} L={} E={} kernel/bare={:.2} (median of {}: {})",
            p.name,
            p.lps,
            p.population,
            bench::median(&ratios),
            ratios.len(),
            listed.join(" ")
        );
    }
    Ok(ExitCode::SUCCESS)
}

fn cmd_bench_lin(ops: usize, keys: u64, clients: u32, repeat: u32, seed: u64) -> Result<ExitCode> {
    if ops == 0 || keys == 0 || clients == 0 {
        eprintln!("error: --ops, --keys and --clients must be at least 1");
        return Ok(ExitCode::from(2));
    }
    if cfg!(debug_assertions) {
        eprintln!("warning: a debug build; run with --release for meaningful figures");
    }
    let shape = sim_core::lin::generate::Shape { ops, keys, clients, ..sim_core::lin::generate::Shape::bench() };
    print_build();
    for (case, secs) in bench::lin(&shape, seed, repeat, |line| outln!("{line}")) {
        outln!(
            "MEDIAN case={case} check_s={:.3} of_target={:.4} (target {} s; of {} runs)",
            bench::median(&secs),
            bench::median(&secs) / bench::LIN_TARGET_S,
            bench::LIN_TARGET_S,
            secs.len()
        );
    }
    Ok(ExitCode::SUCCESS)
}

mod progress {
    //! The progress bar: simulated time against the run's end, elapsed wall time, an ETA and the
    //! events per (wall) second; then a "checking" phase while the model's checkers run (the
    //! simulation's last progress call comes at its end, and the checkers follow it).
    use indicatif::{HumanCount, ProgressBar, ProgressStyle};
    use sim_core::Time;

    pub struct Bar {
        bar: ProgressBar,
        checking: bool,
    }

    impl Bar {
        pub fn new() -> Bar {
            let bar = ProgressBar::new(1000);
            bar.set_style(
                ProgressStyle::with_template(
                    "{spinner} {prefix:8} [{bar:30}] {percent:>3}%  elapsed {elapsed}  eta {eta}  {msg}",
                )
                .expect("valid template")
                .progress_chars("=> "),
            );
            bar.set_prefix("running");
            Bar { bar, checking: false }
        }

        pub fn update(&mut self, now: Time, events: u64, end: Time) {
            if self.checking {
                return;
            }
            let frac = if end.0 == 0 { 1.0 } else { now.0 as f64 / end.0 as f64 };
            self.bar.set_position((frac.min(1.0) * 1000.0) as u64);
            let secs = self.bar.elapsed().as_secs_f64().max(1e-6);
            if now >= end {
                // The simulation is over; the checkers may take a while: keep the clock moving.
                self.checking = true;
                self.bar.set_style(
                    ProgressStyle::with_template("{spinner} {prefix:8} elapsed {elapsed}  {msg}")
                        .expect("valid template"),
                );
                self.bar.set_prefix("checking");
                self.bar.set_message(format!(
                    "{} events simulated; the model's checks and the verdict",
                    HumanCount(events)
                ));
                self.bar.enable_steady_tick(std::time::Duration::from_millis(120));
                return;
            }
            self.bar.set_message(format!(
                "sim {:.2}s / {:.2}s  {} events  {} events/s",
                now.as_secs_f64(),
                end.as_secs_f64(),
                HumanCount(events),
                HumanCount((events as f64 / secs) as u64)
            ));
        }

        /// Whether the bar has reached its checking phase.
        #[cfg(test)]
        pub fn is_checking(&self) -> bool {
            self.checking
        }

        /// What the bar shows now, one line (for tests; the terminal gets the same text).
        #[cfg(test)]
        pub fn line(&self) -> String {
            format!("{} {}", self.bar.prefix(), self.bar.message())
        }

        pub fn finish(self) {
            self.bar.finish_and_clear();
        }
    }

    #[cfg(test)]
    mod tests {
        use super::*;

        #[test]
        fn the_bar_moves_to_a_checking_phase_when_the_simulation_ends() {
            let mut bar = Bar::new();
            let end = Time(2_000_000_000);
            bar.update(Time(1_000_000_000), 500, end);
            assert!(!bar.is_checking());
            assert!(bar.line().starts_with("running sim 1.00s / 2.00s  500 events"), "{}", bar.line());
            assert_eq!(bar.bar.position(), 500);
            // A quiet system stops early (92% of the way); the run's last call comes at the end.
            bar.update(Time(1_840_000_000), 900, end);
            bar.update(end, 900, end);
            assert!(bar.is_checking());
            assert_eq!(bar.bar.position(), 1000);
            assert!(bar.line().starts_with("checking 900 events simulated"), "{}", bar.line());
            bar.finish();
        }
    }
}
