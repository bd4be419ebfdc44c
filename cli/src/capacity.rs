//! `simctl capacity`: the least value of an integer field (servers, nodes, brokers, replicas) at
//! which every SLA and invariant holds on at least `--confidence` of the seeds.
//!
//! **Monotonicity is assumed** (more of the resource never hurts): the search checks the top of
//! the range (no answer if even that fails), then the bottom (the answer if it holds), then
//! bisects between a value that fails and one that holds. Each tried value runs every seed in
//! parallel through the curve's runner ([`crate::curve::run_points`]). The assumption is then
//! checked where it matters: the answer's lower neighbour failed (the bisection tried it) and its
//! upper neighbour is run too; a neighbour that contradicts the assumption is reported.

use crate::curve::{self, Plan};
use crate::overrides::{self, Override};
use crate::{MemoryArg, commands, shell_quote};
use anyhow::{Result, bail};
use clap::Args;
use reports::curve::CurvePoint;
use std::collections::BTreeMap;
use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;

pub const EXAMPLES_CAPACITY: &str = "\
Examples:
  simctl capacity scenarios/dynamo_partition.ron --minimise topology.servers --range 8..16
  simctl capacity scenarios/autocomplete_sql_like.ron --minimise config.query.concurrency --range 2..64 --seeds 0..5
  simctl capacity scenarios/kafka_failover.ron --minimise topology.servers --range 3..9 --confidence 0.9

Bisection over an integer field, assuming that more of it never makes a run fail (said in the
output, and checked at the answer's neighbours). A value holds when at least --confidence of the
seeds pass every SLA and invariant. Prints the answer, every tried value with its pass rate and
Wilson 95% interval, and the commands that reproduce the deciding runs.
Exit codes: 0 an answer was found, 1 none in the range (or monotonicity was contradicted), 2 bad
input or IO error.";

#[derive(Args)]
pub struct CapacityArgs {
    /// The scenario file.
    pub scenario: PathBuf,
    /// The integer field to minimise, e.g. `topology.servers`.
    #[arg(long, visible_alias = "minimize", value_name = "PATH")]
    pub minimise: String,
    /// The values to search, `A..B` (both included).
    #[arg(long, value_name = "A..B")]
    pub range: String,
    /// Share of seeds that must pass every SLA and invariant.
    #[arg(long, default_value_t = 0.95)]
    pub confidence: f64,
    /// The seeds each tried value runs.
    #[arg(long, default_value = "0..20")]
    pub seeds: String,
    /// Worker threads; default: the cores.
    #[arg(long)]
    pub jobs: Option<usize>,
    /// Other fields to change first, `PATH=VALUE` (repeatable).
    #[arg(long = "set", value_name = "PATH=VALUE")]
    pub set: Vec<Override>,
    /// No progress bar.
    #[arg(long)]
    pub no_progress: bool,
    #[command(flatten)]
    pub memory: MemoryArg,
}

/// The search itself, over any `holds` (tests give it a fake): the least value in `[lo, hi]`
/// for which `try_value` holds, assuming monotonicity; every value tried is in `tried`.
pub fn bisect(
    lo: i64,
    hi: i64,
    mut try_value: impl FnMut(i64) -> Result<bool>,
    tried: &mut BTreeMap<i64, bool>,
) -> Result<Option<i64>> {
    let mut check = |v: i64, tried: &mut BTreeMap<i64, bool>| -> Result<bool> {
        if let Some(&h) = tried.get(&v) {
            return Ok(h);
        }
        let h = try_value(v)?;
        tried.insert(v, h);
        Ok(h)
    };
    if !check(hi, tried)? {
        return Ok(None);
    }
    if check(lo, tried)? {
        return Ok(Some(lo));
    }
    // lo fails, hi holds.
    let (mut fail, mut hold) = (lo, hi);
    while hold - fail > 1 {
        let mid = fail + (hold - fail) / 2;
        if check(mid, tried)? {
            hold = mid;
        } else {
            fail = mid;
        }
    }
    Ok(Some(hold))
}

#[allow(clippy::disallowed_methods)] // the wall time of the search, reported; the CLI is the edge
pub fn cmd_capacity(a: CapacityArgs) -> Result<ExitCode> {
    let started = std::time::Instant::now();
    let confidence = curve::confidence(a.confidence)?;
    let (lo, hi, integer) = curve::parse_range(&a.range).map_err(|e| anyhow::anyhow!("--range: {e}"))?;
    if !integer {
        bail!("--range {}: capacity searches an integer field; give integers A..B", a.range);
    }
    let (lo, hi) = (lo as i64, hi as i64);
    let seeds = sim_core::sweep::parse_seeds(&a.seeds).map_err(|e| anyhow::anyhow!("--seeds: {e}"))?;
    let file = &a.scenario;
    let path = a.minimise.as_str();
    let (source, entry) = match crate::load_with(file, &a.set)? {
        Ok(x) => x,
        Err(code) => return Ok(code),
    };
    // Both ends must make valid scenarios before anything runs.
    for v in [lo, hi] {
        if let Err(m) = curve::text_at(&entry, &source, &[], path, v as f64) {
            for line in m.lines() {
                eprintln!("{}: error: --minimise {path} at {v}: {line}", file.display());
            }
            return Ok(ExitCode::from(2));
        }
    }
    let max_memory = a.memory.bytes()?;
    let cost = curve::text_at(&entry, &source, &[], path, hi as f64)
        .ok()
        .and_then(|t| (entry.cost)(&t, false).ok())
        .map_or(0.0, |c| c.bytes());
    let jobs = commands::sweep_jobs(a.jobs, cost, max_memory);
    let show = !a.no_progress && std::io::stderr().is_terminal() && std::env::var_os("CI").is_none();
    outln!(
        "capacity: the least {path} in {lo}..{hi} at which every SLA and invariant holds on at least {:.0}% of {} seeds",
        confidence * 100.0,
        seeds.len()
    );
    outln!("  assumed: more {path} never makes a run fail (monotone); checked at the answer's neighbours");
    let mut evidence: BTreeMap<i64, CurvePoint> = BTreeMap::new();
    let mut run_value = |v: i64| -> Result<bool> {
        let text =
            curve::text_at(&entry, &source, &[], path, v as f64).map_err(|m| anyhow::anyhow!("{path}={v}: {m}"))?;
        let plan = Plan {
            entry: &entry,
            points: vec![(v as f64, text)],
            seeds: &seeds,
            confidence,
            jobs,
            results_file: None,
            progress: show,
        };
        let point = curve::run_points(&plan)?.remove(0);
        outln!(
            "  tried {path}={v:<6} {:>3}/{:<3} passed ({:.1}%, 95% CI {:.1}%..{:.1}%)  {}",
            point.passed,
            point.runs.len(),
            point.pass_rate * 100.0,
            point.ci_low * 100.0,
            point.ci_high * 100.0,
            if point.holds { "holds" } else { "fails" }
        );
        let holds = point.holds;
        evidence.insert(v, point);
        Ok(holds)
    };
    let mut tried = BTreeMap::new();
    let answer = bisect(lo, hi, &mut run_value, &mut tried)?;
    // The upper neighbour: a monotone field holds there too.
    let mut contradicted = Vec::new();
    if let Some(ans) = answer {
        if ans < hi && !tried.contains_key(&(ans + 1)) {
            let h = run_value(ans + 1)?;
            tried.insert(ans + 1, h);
        }
        for (&v, &h) in &tried {
            if v > ans && !h {
                contradicted.push(v);
            }
        }
    }
    let flags = overrides::flags(&a.set);
    let sweep_cmd = |v: i64| format!("simctl sweep {}{flags} --set {path}={v} --seeds {}", shell_quote(file), a.seeds);
    outln!("evidence ({} values tried, {:.1} s wall):", tried.len(), started.elapsed().as_secs_f64());
    outln!("  {:>8}  {:>9}  {:>13}  {:>15}  failed items (seeds)", path, "held", "pass rate", "95% CI");
    for (v, p) in &evidence {
        let mut items: BTreeMap<&str, Vec<u64>> = BTreeMap::new();
        for r in &p.runs {
            for f in &r.failed {
                items.entry(f.as_str()).or_default().push(r.seed);
            }
            if r.error.is_some() {
                items.entry("panic").or_default().push(r.seed);
            }
        }
        let why: Vec<String> = items.iter().map(|(k, s)| format!("{k} ({})", s.len())).collect();
        outln!(
            "  {v:>8}  {:>9}  {:>12.1}%  {:>6.1}%..{:>5.1}%  {}",
            format!("{}/{}", p.passed, p.runs.len()),
            p.pass_rate * 100.0,
            p.ci_low * 100.0,
            p.ci_high * 100.0,
            why.join(", ")
        );
    }
    match answer {
        None => {
            outln!("answer: none: even {path}={hi} fails (widen --range, or the design fails for another reason)");
            outln!("reproduce: {}", sweep_cmd(hi));
            Ok(ExitCode::from(1))
        }
        Some(ans) => {
            let p = &evidence[&ans];
            outln!(
                "answer: {path} = {ans} ({}/{} seeds pass; 95% CI of the pass probability {:.1}%..{:.1}%)",
                p.passed,
                p.runs.len(),
                p.ci_low * 100.0,
                p.ci_high * 100.0
            );
            if p.ci_low < confidence {
                outln!(
                    "  note: with {} seeds a pass probability as low as {:.1}% is not ruled out; more seeds narrow it",
                    p.runs.len(),
                    p.ci_low * 100.0
                );
            }
            if ans > lo {
                outln!("reproduce (fails):  {}", sweep_cmd(ans - 1));
            }
            outln!("reproduce (holds):  {}", sweep_cmd(ans));
            if contradicted.is_empty() {
                Ok(ExitCode::SUCCESS)
            } else {
                let v: Vec<String> = contradicted.iter().map(|v| v.to_string()).collect();
                outln!(
                    "MONOTONICITY CONTRADICTED: {path} = {} above the answer fails; the answer is not trustworthy",
                    v.join(", ")
                );
                Ok(ExitCode::from(1))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn search(lo: i64, hi: i64, least: i64) -> (Option<i64>, Vec<i64>) {
        let mut tried = BTreeMap::new();
        let ans = bisect(lo, hi, |v| Ok(v >= least), &mut tried).unwrap();
        (ans, tried.keys().copied().collect())
    }

    #[test]
    fn bisection_finds_the_least_holding_value_with_few_tries() {
        let (ans, tried) = search(2, 64, 11);
        assert_eq!(ans, Some(11));
        assert!(tried.contains(&10) && tried.contains(&11), "{tried:?}");
        assert!(tried.len() <= 2 + 7, "{tried:?}");
        assert_eq!(search(2, 64, 2).0, Some(2));
        assert_eq!(search(2, 64, 64).0, Some(64));
        assert_eq!(search(2, 64, 65), (None, vec![64]));
        assert_eq!(search(5, 5, 5).0, Some(5));
    }
}
