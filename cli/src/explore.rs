//! `simctl explore`: a guided search for a failing run of one scenario (the engine is
//! `sim_core::explore`), and `--compare`, which measures it against random seeds.

use crate::{MemoryArg, commands, sanitize, shell_quote};
use anyhow::Result;
use clap::Args;
use registry::{ExploreOutcome, ExploreRequest};
use sim_core::explore::ExploreOptions;
use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;

pub const EXAMPLES_EXPLORE: &str = "\
Examples:
  simctl explore scenarios/explore/register_rare_power_loss.ron            # 500 runs, explore seed 0
  simctl explore scenarios/explore/register_rare_power_loss.ron --runs 2000 --seed 7 --jobs 2
  simctl explore scenarios/kafka_nemesis.ron --target no_acked_loss --no-delays
  simctl explore scenarios/explore/register_rare_power_loss.ron --compare 9 --runs 3000
  simctl explore scenarios/explore/kafka_rare_acks1_crash.ron --compare 9 --runs 3000 --no-anchors  # ablation
  simctl shrink out/explore/register_rare_power_loss_found.ron --seed <its seed>   # then minimise it

A run is a seed plus a concrete fault schedule. The search starts from 8 random seeds of the
scenario (its nemesis drawn for each), keeps every run that reached new coverage (the model's
state fingerprints and the kinds of events each node handled in a row), and mutates those: moves a
fault to just after an event of the parent run (a kind of event first, then one of its events, on
its node), shifts, retargets, lengthens or removes faults, adds one, adds a message delay, swaps
the arrival order of two concurrent messages at a server (by delaying the first on its own link),
or draws a new seed. --no-anchors and --no-coverage switch off one guidance each, to measure it. Fault kinds stay within the scenario's: its nemesis's non-zero rates and the kinds its
schedule names (and delays, unless --no-delays).
A run counts when it fails one of --target, else one of the scenario's expected failures
(`expect: Fail([...])`), else anything. The first such run (in the search's order) is written as a
scenario file with its seed and whole schedule, which `simctl run`, `replay` and `shrink` take.
The same scenario, --seed and --runs give the same result with any --jobs.
--compare N runs the search and random seeds N times each (explore seeds 0..N; random seeds drawn
from the same streams, the first 8 the same as the search's) and prints runs to first failure, and
the medians: the search's speed-up over random seeds.
Exit codes: 0 nothing found within the budget, 1 a failing run was found (written), 2 bad input.";

#[derive(Args)]
pub struct ExploreArgs {
    /// The scenario file (RON).
    pub scenario: PathBuf,
    /// The run budget.
    #[arg(long, default_value_t = 500)]
    pub runs: u32,
    /// The search's own seed (its choices; each run carries its own seed).
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Worker threads (default: the cores); the result is the same for any number.
    #[arg(long)]
    pub jobs: Option<usize>,
    /// A run counts when it fails this check or SLA (repeatable; default: the scenario's
    /// expected failures, else any).
    #[arg(long)]
    pub target: Vec<String>,
    /// Do not place message delays (only the scenario's own fault kinds).
    #[arg(long)]
    pub no_delays: bool,
    /// Ablation: place faults at uniformly random times instead of just after events of the
    /// parent run (to measure what the anchors buy, with --compare).
    #[arg(long)]
    pub no_anchors: bool,
    /// Ablation: keep every run as a parent, all weighted alike, instead of only the runs that
    /// reached new coverage (to measure what coverage buys, with --compare).
    #[arg(long)]
    pub no_coverage: bool,
    /// Folder for the found scenario (`<name>_found.ron`) and `explore.json`.
    #[arg(short, long, default_value = "out/explore")]
    pub out: PathBuf,
    /// Measure: run the search and random seeds this many times each and compare the runs to
    /// first failure.
    #[arg(long, value_name = "REPEATS")]
    pub compare: Option<u32>,
    #[command(flatten)]
    pub memory: MemoryArg,
}

pub fn cmd_explore(a: ExploreArgs) -> Result<ExitCode> {
    let Some((source, entry)) = commands::load_or_report(&a.scenario)? else { return Ok(ExitCode::from(2)) };
    let jobs = commands::sweep_jobs(a.jobs, 0.0, None);
    if let Some(code) = commands::refuse_if_too_big(&a.scenario, &entry, &source, &a.memory, true, jobs as f64)? {
        return Ok(code);
    }
    let req = |seed: u64, random: bool| ExploreRequest {
        options: ExploreOptions {
            anchors: !a.no_anchors,
            coverage: !a.no_coverage,
            ..ExploreOptions::new(a.runs.max(1), seed)
        },
        jobs,
        delays: !a.no_delays,
        target: a.target.clone(),
        random,
    };
    if let Some(repeats) = a.compare {
        return compare(&a, &source, &entry, repeats.max(1), &req);
    }
    let outcome = match explore_one(&entry, &source, &req(a.seed, false), "explore") {
        Ok(o) => o,
        Err(e) => return Ok(commands::run_error(&a.scenario, &[], &entry, e)),
    };
    report(&a, &outcome)
}

/// One search (or random baseline) with a progress line on a terminal.
fn explore_one(
    entry: &registry::Entry,
    source: &str,
    req: &ExploreRequest,
    what: &str,
) -> Result<ExploreOutcome, registry::RunError> {
    let live = std::io::stderr().is_terminal() && std::env::var_os("CI").is_none();
    let budget = req.options.runs;
    let mut progress = |runs: u32| {
        if live {
            eprint!("\r{what} seed {}: {runs}/{budget} runs", req.options.seed);
        }
    };
    let out = (entry.explore)(source, req, &mut progress);
    if live {
        eprint!("\r\x1b[K");
    }
    out
}

fn target_text(o: &ExploreOutcome) -> String {
    if o.target.is_empty() { "any failed check".into() } else { format!("one of {}", o.target.join(", ")) }
}

fn report(a: &ExploreArgs, o: &ExploreOutcome) -> Result<ExitCode> {
    let e = &o.explored;
    outln!(
        "explored {} runs of {} (explore seed {}; target: {}); coverage {} elements, corpus {} runs{}",
        e.runs,
        a.scenario.display(),
        a.seed,
        target_text(o),
        e.coverage,
        e.corpus,
        if e.invalid > 0 {
            format!(", {} candidates invalid for the model (not run)", e.invalid)
        } else {
            String::new()
        }
    );
    outln!("fault kinds searched: {}", kinds_text(&o.kinds));
    let mut json = serde_json::json!({
        "scenario": a.scenario.display().to_string(),
        "explore_seed": a.seed,
        "budget": a.runs,
        "runs": e.runs,
        "invalid": e.invalid,
        "coverage": e.coverage,
        "corpus": e.corpus,
        "target": o.target,
        "progress": e.progress.iter().map(|p| serde_json::json!({"runs": p.runs, "coverage": p.coverage, "corpus": p.corpus})).collect::<Vec<_>>(),
    });
    let Some(((cand, at, failed), (name, ron))) = e.found.as_ref().zip(o.found.as_ref()) else {
        outln!("no run failed within {} runs (a larger --runs, another --seed, or the design holds)", a.runs);
        json["found"] = serde_json::Value::Null;
        crate::output::write_into(&a.out, &[("explore.json".into(), json.to_string())])?;
        return Ok(ExitCode::SUCCESS);
    };
    let file = format!("{}.ron", sanitize(name));
    let path = a.out.join(&file);
    let header = format!(
        "// Found by `simctl explore {} --seed {} --runs {}` at run {at}: fails {}.\n// How the run was made from its parent: {}\n",
        a.scenario.display(),
        a.seed,
        a.runs,
        failed.join(", "),
        cand.origin
    );
    json["found"] = serde_json::json!({
        "run": at, "seed": cand.seed, "failed": failed, "faults": cand.faults.len(),
        "origin": cand.origin, "file": path.display().to_string(),
    });
    crate::output::write_into(
        &a.out,
        &[(file, format!("{header}{ron}\n")), ("explore.json".into(), json.to_string())],
    )?;
    outln!(
        "FOUND at run {at}: fails {} (seed {}, {} scheduled faults)",
        failed.join(", "),
        cand.seed,
        cand.faults.len()
    );
    outln!("  made by: {}", cand.origin);
    outln!("  scenario: {}", path.display());
    outln!("  replay:   simctl replay {}", shell_quote(&path));
    outln!("  shrink:   simctl shrink {} --seed {}", shell_quote(&path), cand.seed);
    Ok(ExitCode::from(1))
}

fn kinds_text(k: &sim_core::explore::Kinds) -> String {
    let mut v = Vec::new();
    if k.crash {
        v.push(if k.power_loss_share > 0.0 {
            format!("crash ({}, {:.0}% power loss)", k.crash_downtime, 100.0 * k.power_loss_share.min(1.0))
        } else {
            format!("crash ({})", k.crash_downtime)
        });
    }
    if k.partition {
        v.push(format!("partition ({})", k.partition_duration));
    }
    if k.pause {
        v.push(format!("pause ({})", k.pause_duration));
    }
    if k.clock_step {
        v.push(format!("clock step (up to {})", k.clock_step_max));
    }
    if k.clock_drift {
        v.push(format!("clock drift (within {} ppm, {})", k.clock_drift_max_ppm, k.clock_drift_duration));
    }
    if k.delay {
        v.push("message delay".into());
    }
    if v.is_empty() { "none (the scenario has no faults: only seeds are searched)".into() } else { v.join(", ") }
}

/// Runs to first failure of the search and of random seeds, `repeats` times each.
fn compare(
    a: &ExploreArgs,
    source: &str,
    entry: &registry::Entry,
    repeats: u32,
    req: &dyn Fn(u64, bool) -> ExploreRequest,
) -> Result<ExitCode> {
    let guidance = format!(
        "anchors {}, coverage {}",
        if a.no_anchors { "off" } else { "on" },
        if a.no_coverage { "off" } else { "on" }
    );
    outln!("runs to first failure, budget {} runs each (-: none within the budget); search: {guidance}", a.runs);
    outln!("{:>6}  {:>8}  {:>8}", "repeat", "random", "explore");
    let (mut random, mut search) = (Vec::new(), Vec::new());
    let mut rows = Vec::new();
    for r in 0..repeats {
        let mut row = [None, None];
        for (k, is_random) in [(0, true), (1, false)] {
            let what = if is_random { "random" } else { "explore" };
            match explore_one(entry, source, &req(a.seed + u64::from(r), is_random), what) {
                Ok(o) => row[k] = o.explored.found.as_ref().map(|f| f.1),
                Err(e) => return Ok(commands::run_error(&a.scenario, &[], entry, e)),
            }
        }
        let cell = |v: Option<u32>| v.map_or("-".to_string(), |n| n.to_string());
        outln!("{:>6}  {:>8}  {:>8}", a.seed + u64::from(r), cell(row[0]), cell(row[1]));
        random.push(row[0]);
        search.push(row[1]);
        rows.push(serde_json::json!({"explore_seed": a.seed + u64::from(r), "random": row[0], "explore": row[1]}));
    }
    let (mr, me) = (median(&random, a.runs), median(&search, a.runs));
    let shown = |m: Option<f64>| m.map_or(format!("> {}", a.runs), |v| format!("{v}"));
    outln!("median  {:>8}  {:>8}", shown(mr), shown(me));
    let ratio = match (mr, me) {
        (Some(r), Some(e)) => {
            outln!("speed-up of the search over random seeds: {:.1}x (median runs to first failure)", r / e);
            Some(r / e)
        }
        (None, Some(e)) => {
            outln!(
                "speed-up: more than {:.1}x (random seeds found nothing within the budget in most repeats)",
                f64::from(a.runs) / e
            );
            None
        }
        _ => {
            outln!("the search found nothing within the budget in most repeats");
            None
        }
    };
    let json = serde_json::json!({
        "scenario": a.scenario.display().to_string(), "budget": a.runs, "repeats": rows,
        "anchors": !a.no_anchors, "coverage": !a.no_coverage,
        "median_random": mr, "median_explore": me, "speedup": ratio,
    });
    crate::output::write_into(&a.out, &[("compare.json".into(), json.to_string())])?;
    outln!("written: {}", a.out.join("compare.json").display());
    Ok(ExitCode::SUCCESS)
}

/// The median of runs to first failure, a repeat that found nothing counting as above the
/// budget; `None` when the median itself is above the budget.
fn median(v: &[Option<u32>], budget: u32) -> Option<f64> {
    let mut x: Vec<u64> = v.iter().map(|o| o.map_or(u64::from(budget) + 1, u64::from)).collect();
    x.sort_unstable();
    let n = x.len();
    let m = if n % 2 == 1 { x[n / 2] as f64 } else { (x[n / 2 - 1] + x[n / 2]) as f64 / 2.0 };
    (m <= f64::from(budget)).then_some(m)
}
