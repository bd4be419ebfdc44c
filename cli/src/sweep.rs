//! The parallel seed runner behind `simctl sweep` and `simctl merge`, and the JUnit XML writer.
//!
//! - Seeds run on `jobs` worker threads (each run single-threaded); a worker takes the next seed
//!   from an atomic counter, so a slow seed never holds up the others.
//! - Each finished seed is appended to the results file as one JSON line and flushed, so an
//!   interrupted sweep loses at most the seeds in flight. A restarted sweep reads the file, drops a
//!   torn last line, and runs only the seeds it lacks.
//! - The returned results are ordered by seed, and when the sweep completes the results file is
//!   rewritten in seed order: both are byte-identical for any `--jobs` (the runs themselves are
//!   deterministic; only the order in which they finish is not).
//! - A panic in a run (a model bug) is caught and recorded as that seed's `error`; the sweep goes on.
//!
//! Dependency-light on purpose (std, serde, serde_json, sim-core): the CLI wires it to clap,
//! indicatif and the model registry.

use serde::{Deserialize, Serialize};
use sim_core::sweep::PromisedRate;
use sim_core::verdict::{Expect, Sla};
use std::collections::BTreeMap;
use std::fs::{File, OpenOptions};
use std::io::{self, Read, Seek, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

/// One seed's outcome: one line of a results file.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SeedResult {
    pub seed: u64,
    /// Every verdict item passed.
    pub passed: bool,
    /// The verdict is what the scenario's `expect` says (a known-bad scenario failing as expected).
    pub met_expectation: bool,
    /// Names of the failed verdict items (`durability`, `latency.get.p99`, ...).
    pub failed: Vec<String>,
    /// Names of every verdict item evaluated, passed or failed (for the per-item probability).
    #[serde(default)]
    pub checked: Vec<String>,
    /// Named numbers for the distribution across seeds. Non-finite values are written as `null`
    /// and read back as NaN (JSON has no NaN).
    #[serde(default, with = "nan_as_null")]
    pub metrics: BTreeMap<String, f64>,
    pub trace_hash: String,
    /// The run did not finish: the panic message.
    #[serde(default)]
    pub error: Option<String>,
    /// The fault climate a swarm-mode seed drew.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub climate: Option<sim_core::sweep::Climate>,
    /// What was run (see [`fingerprint`]); set by the runner.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub fingerprint: String,
}

/// A stable fingerprint of what a sweep runs (FNV-1a 64 over the parts, e.g. the scenario file's
/// text, the swarm spec and the simctl version), as 16 hex digits. Results recorded under another
/// fingerprint are stale: a resumed sweep runs those seeds again, and `merge` refuses to mix them.
pub fn fingerprint(parts: &[&[u8]]) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for part in parts {
        for &b in part.iter().chain(&[0xff]) {
            h ^= b as u64;
            h = h.wrapping_mul(0x0000_0100_0000_01b3);
        }
    }
    format!("{h:016x}")
}

impl SeedResult {
    /// A result for a run that panicked.
    pub fn errored(seed: u64, message: String) -> SeedResult {
        SeedResult {
            seed,
            passed: false,
            met_expectation: false,
            failed: Vec::new(),
            checked: Vec::new(),
            metrics: BTreeMap::new(),
            trace_hash: String::new(),
            error: Some(message),
            climate: None,
            fingerprint: String::new(),
        }
    }

    /// The seed as the aggregation in `sim_core::sweep` reads it.
    pub fn sample(&self) -> sim_core::sweep::SeedSample<'_> {
        sim_core::sweep::SeedSample {
            checked: &self.checked,
            failed: &self.failed,
            metrics: &self.metrics,
            error: self.error.is_some(),
        }
    }

    fn to_line(&self) -> String {
        serde_json::to_string(self).expect("a SeedResult always serializes")
    }
}

mod nan_as_null {
    use serde::{Deserialize, Deserializer, Serialize, Serializer};
    use std::collections::BTreeMap;

    pub fn serialize<S: Serializer>(m: &BTreeMap<String, f64>, s: S) -> Result<S::Ok, S::Error> {
        let m: BTreeMap<&String, Option<f64>> = m.iter().map(|(k, v)| (k, v.is_finite().then_some(*v))).collect();
        m.serialize(s)
    }
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<BTreeMap<String, f64>, D::Error> {
        let m = BTreeMap::<String, Option<f64>>::deserialize(d)?;
        Ok(m.into_iter().map(|(k, v)| (k, v.unwrap_or(f64::NAN))).collect())
    }
}

fn invalid(path: &Path, line: usize, message: impl std::fmt::Display) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, format!("{}:{line}: {message}", path.display()))
}

/// Parses a results file's text into results and the lines they were read from. A last line
/// without its newline is a write torn by an interrupt: it is ignored, and its byte offset returned
/// so a resuming writer can cut it off.
fn parse_results<'t>(path: &Path, text: &'t str) -> io::Result<(Vec<(SeedResult, &'t str)>, usize)> {
    let complete = text.rfind('\n').map(|i| i + 1).unwrap_or(0);
    let mut out = Vec::new();
    for (i, line) in text[..complete].lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let r: SeedResult = serde_json::from_str(line).map_err(|e| invalid(path, i + 1, e))?;
        out.push((r, line));
    }
    Ok((out, complete))
}

/// Reads a results file (one JSON line per seed). A missing file reads as empty; a torn last line
/// is ignored; any other bad line is an error naming the file and line.
pub fn read_results(path: &Path) -> io::Result<Vec<SeedResult>> {
    match std::fs::read_to_string(path) {
        Ok(text) => Ok(parse_results(path, &text)?.0.into_iter().map(|(r, _)| r).collect()),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(Vec::new()),
        Err(e) => Err(io::Error::new(e.kind(), format!("{}: {e}", path.display()))),
    }
}

/// Adds `(origin, result)` pairs to a by-seed map; the same seed twice must mean the same result.
fn insert_unique(by_seed: &mut BTreeMap<u64, (String, SeedResult)>, origin: &str, r: SeedResult) -> Result<(), String> {
    match by_seed.get(&r.seed) {
        None => {
            by_seed.insert(r.seed, (origin.to_string(), r));
            Ok(())
        }
        Some((_, old)) if old.to_line() == r.to_line() => Ok(()),
        Some((first, old)) => Err(format!(
            "seed {} has two different results: {first} (trace hash {}, failed {:?}) and {origin} (trace hash {}, \
             failed {:?}); were the shards run from different scenarios or simctl versions?",
            r.seed, old.trace_hash, old.failed, r.trace_hash, r.failed
        )),
    }
}

/// Combines the results files of shards into one list ordered by seed. The same seed in two files
/// is fine if the results are identical, and an error if they differ; so are results recorded
/// under different fingerprints (shards of different scenario versions).
pub fn merge(files: &[PathBuf]) -> io::Result<Vec<SeedResult>> {
    let mut by_seed = BTreeMap::new();
    let mut first_print: Option<(String, String)> = None;
    for f in files {
        if !f.exists() {
            return Err(io::Error::new(io::ErrorKind::NotFound, format!("{}: no such results file", f.display())));
        }
        for r in read_results(f)? {
            match &first_print {
                None => first_print = Some((r.fingerprint.clone(), f.display().to_string())),
                Some((print, origin)) if *print != r.fingerprint => {
                    return Err(io::Error::new(
                        io::ErrorKind::InvalidData,
                        format!(
                            "{} holds results of another scenario version than {origin} (fingerprint {} vs {print}); \
                             re-run the stale shard",
                            f.display(),
                            r.fingerprint
                        ),
                    ));
                }
                Some(_) => {}
            }
            insert_unique(&mut by_seed, &f.display().to_string(), r)
                .map_err(|m| io::Error::new(io::ErrorKind::InvalidData, m))?;
        }
    }
    Ok(by_seed.into_values().map(|(_, r)| r).collect())
}

/// Where a sweep stands, passed to the progress callback after each seed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Progress {
    /// Seeds finished, resumed ones included.
    pub done: usize,
    pub total: usize,
    /// Finished seeds that did not meet the scenario's expectation (or errored).
    pub unexpected: usize,
}

/// At most this many worker threads, whatever `jobs` says (the CLI also keeps to the cores).
pub const WORKERS_MAX: usize = 512;

/// How a sweep runs.
#[derive(Clone, Copy, Debug, Default)]
pub struct SweepConfig<'a> {
    /// Worker threads (0 counts as 1; at most [`WORKERS_MAX`]).
    pub jobs: usize,
    /// Append each result here as it finishes; resume from what it holds.
    pub results_file: Option<&'a Path>,
    /// What is being run (see [`fingerprint`]): recorded in every result; results in the file
    /// with another fingerprint are stale, run again, and dropped from the file.
    pub fingerprint: &'a str,
}

#[derive(Clone, Debug)]
pub struct SweepOutcome {
    /// One result per requested seed, ordered by seed.
    pub results: Vec<SeedResult>,
    /// Seeds taken from the results file instead of being run.
    pub resumed: usize,
    /// Seeds run now.
    pub ran: usize,
    /// Results dropped from the file because their fingerprint differed.
    pub stale: usize,
}

fn unexpected(r: &SeedResult) -> bool {
    !r.met_expectation || r.error.is_some()
}

fn panic_message(p: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = p.downcast_ref::<&str>() {
        s.to_string()
    } else if let Some(s) = p.downcast_ref::<String>() {
        s.clone()
    } else {
        "panic with a non-string payload".to_string()
    }
}

/// Runs `run_one` for every seed in `seeds` on `config.jobs` threads. With a results file, seeds
/// already in it (under the same fingerprint) are not run again, each new result is appended (and
/// flushed) as it finishes, and the file is rewritten in seed order at the end. `on_done` is called
/// after each seed (from the worker thread that ran it; resumed seeds are reported first, from the
/// caller's thread).
pub fn run_seeds<F>(
    seeds: &[u64],
    config: &SweepConfig<'_>,
    run_one: F,
    on_done: &(dyn Fn(&SeedResult, Progress) + Sync),
) -> io::Result<SweepOutcome>
where
    F: Fn(u64) -> SeedResult + Sync,
{
    let mut seeds = seeds.to_vec();
    seeds.sort_unstable();
    seeds.dedup();
    let total = seeds.len();
    let (jobs, results_file) = (config.jobs, config.results_file);
    let mut stale = 0;

    // Resume: what the file already holds, and each result's line exactly as it was written (a
    // resumed sweep writes it back byte for byte, not parsed and printed again).
    let mut known: BTreeMap<u64, (String, SeedResult)> = BTreeMap::new();
    let mut written: BTreeMap<u64, String> = BTreeMap::new();
    let mut journal: Option<File> = None;
    if let Some(path) = results_file {
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(path)
            .map_err(|e| io::Error::new(e.kind(), format!("{}: {e}", path.display())))?;
        let mut text = String::new();
        file.read_to_string(&mut text)?;
        let (old, complete) = parse_results(path, &text)?;
        for (r, line) in old {
            if r.fingerprint != config.fingerprint {
                stale += 1;
                continue;
            }
            written.insert(r.seed, line.to_string());
            insert_unique(&mut known, &path.display().to_string(), r)
                .map_err(|m| io::Error::new(io::ErrorKind::InvalidData, m))?;
        }
        // Cut a torn last line, then append after the complete ones.
        file.set_len(complete as u64)?;
        file.seek(io::SeekFrom::End(0))?;
        journal = Some(file);
    }

    let wanted: Vec<&SeedResult> = seeds.iter().filter_map(|s| known.get(s).map(|(_, r)| r)).collect();
    let resumed = wanted.len();
    let todo: Vec<u64> = seeds.iter().copied().filter(|s| !known.contains_key(s)).collect();
    let done = AtomicUsize::new(0);
    let unexpected_count = AtomicUsize::new(0);
    for r in wanted {
        let d = done.fetch_add(1, Ordering::SeqCst) + 1;
        let u = unexpected_count.fetch_add(unexpected(r) as usize, Ordering::SeqCst) + unexpected(r) as usize;
        on_done(r, Progress { done: d, total, unexpected: u });
    }

    let next = AtomicUsize::new(0);
    let stop = AtomicBool::new(false);
    let journal = Mutex::new(journal);
    let fresh: Mutex<Vec<SeedResult>> = Mutex::new(Vec::with_capacity(todo.len()));
    let write_error: Mutex<Option<io::Error>> = Mutex::new(None);
    let workers = jobs.clamp(1, WORKERS_MAX).min(todo.len().max(1));
    let spawn_error: Mutex<Option<io::Error>> = Mutex::new(None);
    std::thread::scope(|scope| {
        for w in 0..workers {
            let worker = std::thread::Builder::new().name(format!("sweep-{w}")).spawn_scoped(scope, || {
                while !stop.load(Ordering::SeqCst) {
                    let i = next.fetch_add(1, Ordering::SeqCst);
                    let Some(&seed) = todo.get(i) else { break };
                    let mut r = match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| run_one(seed))) {
                        Ok(r) => r,
                        Err(p) => SeedResult::errored(seed, panic_message(p.as_ref())),
                    };
                    r.fingerprint = config.fingerprint.to_string();
                    assert_eq!(r.seed, seed, "run_one({seed}) returned the result of seed {}", r.seed);
                    if let Some(f) = journal.lock().expect("journal lock").as_mut() {
                        let line = r.to_line();
                        if let Err(e) = writeln!(f, "{line}").and_then(|_| f.flush()) {
                            write_error.lock().expect("error lock").get_or_insert(e);
                            stop.store(true, Ordering::SeqCst);
                        }
                    }
                    let d = done.fetch_add(1, Ordering::SeqCst) + 1;
                    let u =
                        unexpected_count.fetch_add(unexpected(&r) as usize, Ordering::SeqCst) + unexpected(&r) as usize;
                    on_done(&r, Progress { done: d, total, unexpected: u });
                    fresh.lock().expect("results lock").push(r);
                }
            });
            // The system refused another thread: the ones running take every seed; with none
            // running, the sweep fails.
            if let Err(e) = worker {
                if w == 0 {
                    spawn_error.lock().expect("error lock").get_or_insert(e);
                }
                break;
            }
        }
    });
    if let Some(e) = spawn_error.into_inner().expect("error lock") {
        return Err(io::Error::new(e.kind(), format!("cannot start a worker thread: {e}")));
    }
    if let Some(e) = write_error.into_inner().expect("error lock") {
        return Err(e);
    }
    let fresh = fresh.into_inner().expect("results lock");
    let ran = fresh.len();
    for r in fresh {
        known.insert(r.seed, ("this run".to_string(), r));
    }
    if let Some(path) = results_file {
        drop(journal);
        let lines = known.values().map(|(_, r)| written.get(&r.seed).cloned().unwrap_or_else(|| r.to_line()));
        write_lines(path, lines)?;
    }
    let results = seeds.iter().filter_map(|s| known.remove(s).map(|(_, r)| r)).collect();
    Ok(SweepOutcome { results, resumed, ran, stale })
}

/// Writes results as JSON lines, atomically (a temporary file renamed over `path`).
pub fn rewrite_sorted<'a>(path: &Path, results: impl IntoIterator<Item = &'a SeedResult>) -> io::Result<()> {
    write_lines(path, results.into_iter().map(SeedResult::to_line))
}

/// Writes lines, atomically (a temporary file renamed over `path`).
fn write_lines(path: &Path, lines: impl IntoIterator<Item = String>) -> io::Result<()> {
    let mut text = String::new();
    for line in lines {
        text.push_str(&line);
        text.push('\n');
    }
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".tmp");
    let tmp = PathBuf::from(tmp);
    std::fs::write(&tmp, text).map_err(|e| io::Error::new(e.kind(), format!("{}: {e}", tmp.display())))?;
    std::fs::rename(&tmp, path).map_err(|e| io::Error::new(e.kind(), format!("{}: {e}", path.display())))
}

/// One scenario's seeds for the JUnit report.
pub struct JunitSuite<'a> {
    /// The scenario's name (or file); JUnit's test suite and class name.
    pub name: &'a str,
    pub results: &'a [SeedResult],
    /// The command that reproduces a seed, e.g. `simctl run scenarios/x.ron --seed 17`.
    pub reproduce: &'a dyn Fn(u64) -> String,
    /// A known-bad scenario's promised rate, checked: one more test case, `promised rate`.
    pub promise: Option<&'a PromisedRate>,
}

/// The promise of `expect: Fail([...], AtLeast(r))` checked over these seeds: the seeds that
/// failed as declared (beside what `may_also_fail` allows) against the promised rate
/// ([`PromisedRate`]). `None` for any other expectation (`Fail([...])` alone must hold on every
/// seed, which each seed's result says).
pub fn promised_rate(expect: &Expect, may_also_fail: &[String], results: &[SeedResult]) -> Option<PromisedRate> {
    let rate = expect.promised_rate()?;
    let finished: Vec<&SeedResult> = results.iter().filter(|r| r.error.is_none()).collect();
    let hits = finished.iter().filter(|r| expect.failed_as_declared(&r.failed, may_also_fail)).count();
    Some(PromisedRate::check(rate, hits as u64, finished.len() as u64))
}

/// The summary's section on a promised rate.
pub fn promise_markdown(p: &PromisedRate) -> String {
    format!(
        "## Promised rate

The scenario expects its failure on at least {:.1}% of seeds (`AtLeast({})`): it {p}.

",
        p.promised * 100.0,
        p.promised
    )
}

pub use reports::trace::xml_escape;

/// JUnit XML: one test suite per scenario, one test case per seed. A seed that did not meet its
/// scenario's expectation is a `<failure>` naming the failed verdict items and the reproduce
/// command; a run that panicked is an `<error>`.
pub fn junit_xml(suites: &[JunitSuite<'_>]) -> String {
    let count = |rs: &[SeedResult], f: fn(&SeedResult) -> bool| rs.iter().filter(|r| f(r)).count();
    let is_failure = |r: &SeedResult| r.error.is_none() && !r.met_expectation;
    let is_error = |r: &SeedResult| r.error.is_some();
    let broken = |s: &JunitSuite<'_>| s.promise.is_some_and(|p| !p.kept) as usize;
    let tests: usize = suites.iter().map(|s| s.results.len() + s.promise.is_some() as usize).sum();
    let failures: usize = suites.iter().map(|s| count(s.results, is_failure) + broken(s)).sum();
    let errors: usize = suites.iter().map(|s| count(s.results, is_error)).sum();
    let mut x = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    x.push_str(&format!(
        "<testsuites name=\"simctl\" tests=\"{tests}\" failures=\"{failures}\" errors=\"{errors}\">\n"
    ));
    for s in suites {
        let name = xml_escape(s.name);
        x.push_str(&format!(
            "  <testsuite name=\"{name}\" tests=\"{}\" failures=\"{}\" errors=\"{}\">\n",
            s.results.len() + s.promise.is_some() as usize,
            count(s.results, is_failure) + broken(s),
            count(s.results, is_error)
        ));
        if let Some(p) = s.promise {
            x.push_str(&format!("    <testcase classname=\"{name}\" name=\"promised rate\""));
            if p.kept {
                x.push_str("/>\n");
            } else {
                let message = xml_escape(&p.to_string());
                x.push_str(&format!(
                    ">\n      <failure message=\"{message}\" type=\"promised rate\">{message}</failure>\n    </testcase>\n"
                ));
            }
        }
        for r in s.results {
            x.push_str(&format!("    <testcase classname=\"{name}\" name=\"seed {}\"", r.seed));
            let repro = xml_escape(&(s.reproduce)(r.seed));
            if let Some(e) = &r.error {
                x.push_str(&format!(
                    ">\n      <error message=\"the run panicked\" type=\"panic\">{}\nreproduce: {repro}</error>\n    </testcase>\n",
                    xml_escape(e)
                ));
            } else if !r.met_expectation {
                let message = if r.passed {
                    "the run passed, but the scenario expects it to fail".to_string()
                } else {
                    format!("failed: {}", r.failed.join(", "))
                };
                x.push_str(&format!(
                    ">\n      <failure message=\"{}\" type=\"verdict\">{}\ntrace hash: {}\nreproduce: {repro}</failure>\n    </testcase>\n",
                    xml_escape(&message),
                    xml_escape(&message),
                    xml_escape(&r.trace_hash)
                ));
            } else {
                x.push_str("/>\n");
            }
        }
        x.push_str("  </testsuite>\n");
    }
    x.push_str("</testsuites>\n");
    x
}

/// At most this many rows in the summary's table of unexpected seeds.
pub const SUMMARY_SEEDS_MAX: usize = 50;

fn num(v: f64) -> String {
    if v == v.trunc() && v.abs() < 1e15 { format!("{v:.0}") } else { format!("{v:.4}") }
}

/// How often each verdict item held across the seeds, with its Wilson 95% interval, as an aligned
/// table for the terminal (the same figures as the summary's table); empty without items.
pub fn probability_table(results: &[SeedResult]) -> String {
    use std::fmt::Write as _;
    let agg = sim_core::sweep::aggregate(results.iter().map(SeedResult::sample));
    if agg.items.is_empty() {
        return String::new();
    }
    let w = agg.items.iter().map(|i| i.name.chars().count()).max().unwrap_or(0).max(4);
    let mut t = String::new();
    let _ = writeln!(t, "  {:w$}  {:>11}  {:>11}  95% CI", "item", "held/seeds", "probability");
    for i in &agg.items {
        let (p, lo, hi) = (i.probability * 100.0, i.ci_low * 100.0, i.ci_high * 100.0);
        let held = format!("{}/{}", i.passed, i.seeds);
        let _ = writeln!(t, "  {:w$}  {held:>11}  {:>11}  {lo:.1}%..{hi:.1}%", i.name, format!("{p:.1}%"));
    }
    t
}

/// The results-file metric that holds what an SLA judges: its verdict name, a latency with `_ms`
/// and a throughput with `_per_s` (the units the per-op figures carry).
pub fn sla_metric(name: &str) -> String {
    match name.split('.').next() {
        Some("latency") => format!("{name}_ms"),
        Some("throughput") => format!("{name}_per_s"),
        _ => name.to_string(),
    }
}

/// Below this many standard deviations between the mean and the bound, a bound is thin: a
/// normal spread crosses 4 sd about once in 31,600 seeds, 3 sd once in 740.
pub const THIN_SD: f64 = 4.0;

/// A sweep refutes a normal spread at a bound when so few (or so many) seeds crossed it that a
/// normal spread would give that count less often than this.
pub const NORMAL_REFUTED: f64 = 0.001;

/// A bound is judged thin only from this many seeds: the spread of fewer says little (CI's
/// three seeds of a good scenario gave standard deviations off by a factor of two).
pub const THIN_MIN_SEEDS: usize = 10;

/// One side of an SLA's bound against the spread over the seeds of what it judges.
#[derive(Clone, Debug, PartialEq)]
pub struct BoundSpread {
    /// The SLA's verdict name.
    pub item: String,
    /// `<=` (a maximum) or `>=` (a minimum).
    pub op: &'static str,
    /// In the metric's unit (milliseconds for a latency).
    pub bound: f64,
    /// False for an SLA a known-bad scenario declares it fails.
    pub must_hold: bool,
    pub seeds: usize,
    pub mean: f64,
    pub sd: f64,
    /// The seed whose value came nearest the expected side's far edge (or went past it), and
    /// the value.
    pub nearest: (u64, f64),
    /// Seeds whose value is on the other side (an SLA that must hold and failed, or one that
    /// must fail and held).
    pub crossed: usize,
    /// The mean's distance to the bound in standard deviations, positive on the side the
    /// scenario expects; `None` when every seed measured the same.
    pub margin: Option<f64>,
}

impl BoundSpread {
    /// Whether the bound is thin, judged over at least [`THIN_MIN_SEEDS`] seeds: a seed crossed
    /// it, or the mean is within [`THIN_SD`] of it and the seeds agree with a normal tail there
    /// ([`BoundSpread::normal_fits`]). A bound the seeds never crossed where a normal spread
    /// would have, many times over, is a floor of the metric (a crash that always loses at least
    /// one worker, a scheduled incident that makes at least six alerts due), not a draw near
    /// its edge.
    pub fn thin(&self) -> bool {
        self.seeds >= THIN_MIN_SEEDS
            && (self.crossed > 0 || self.margin.is_some_and(|m| m < THIN_SD) && self.normal_fits())
    }

    /// The seeds a normal spread of this mean and sd would have put past the bound, of this many.
    pub fn normal_crossings(&self) -> Option<f64> {
        self.margin.map(|m| self.seeds as f64 * sim_core::math::normal_tail(m))
    }

    /// Whether the number of seeds that crossed the bound is one a normal spread gives at least
    /// once in [`NORMAL_REFUTED`]'s inverse sweeps, in either direction (as few or fewer, as many
    /// or more). False when the seeds refute the normal odds: the bound lies in a tail of
    /// another shape, and only the seeds' own count says how often it is crossed.
    pub fn normal_fits(&self) -> bool {
        let Some(m) = self.margin else { return true };
        let (n, p, k) = (self.seeds as u64, sim_core::math::normal_tail(m), self.crossed as u64);
        sim_core::math::binomial_at_most(n, p, k) >= NORMAL_REFUTED
            && sim_core::math::binomial_at_least(n, p, k) >= NORMAL_REFUTED
    }

    /// About one seed in this many crosses the bound, if the spread were normal.
    pub fn one_seed_in(&self) -> Option<f64> {
        self.margin.filter(|&m| m > 0.0).map(|m| 1.0 / sim_core::math::normal_tail(m))
    }
}

/// Every SLA side with a numeric bound against its metric's spread in `results` (seeds that
/// measured it). An SLA that `may_also_fail` allows either way is left out: no side is expected.
pub fn bound_spreads(
    slas: &[Sla],
    expect: &Expect,
    may_also_fail: &[String],
    results: &[SeedResult],
) -> Vec<BoundSpread> {
    let failing: &[String] = expect.failing().map_or(&[], |f| f.0);
    let mut out = Vec::new();
    for sla in slas {
        let item = sla.name();
        if may_also_fail.contains(&item) {
            continue;
        }
        let sides: Vec<(&'static str, f64)> = match sla {
            Sla::Latency { max, .. } => vec![("<=", max.0 as f64 / 1e6)],
            Sla::Availability { min, .. } => vec![(">=", *min)],
            Sla::Throughput { min_per_s, .. } => vec![(">=", *min_per_s)],
            Sla::ErrorRate { max, .. } => vec![("<=", *max)],
            Sla::Measure { min, max, .. } => min.map(|b| (">=", b)).into_iter().chain(max.map(|b| ("<=", b))).collect(),
        };
        let key = sla_metric(&item);
        let values: Vec<(u64, f64)> = results
            .iter()
            .filter_map(|r| r.metrics.get(&key).map(|&v| (r.seed, v)))
            .filter(|v| v.1.is_finite())
            .collect();
        if values.is_empty() {
            continue;
        }
        let n = values.len() as f64;
        let mean = values.iter().map(|v| v.1).sum::<f64>() / n;
        let sd = (values.iter().map(|v| (v.1 - mean) * (v.1 - mean)).sum::<f64>() / n).sqrt();
        let must_hold = !failing.contains(&item);
        for (op, bound) in sides {
            // +1: the expected side is above the bound (a minimum that holds, a maximum that
            // fails); -1: below it.
            let up = if (op == ">=") == must_hold { 1.0 } else { -1.0 };
            let nearest = values
                .iter()
                .copied()
                .min_by(|a, b| (up * a.1).total_cmp(&(up * b.1)).then(a.0.cmp(&b.0)))
                .expect("values is not empty");
            let margin = (sd > 0.0).then(|| up * (mean - bound) / sd);
            // On the bound itself an SLA holds.
            let crossed = values
                .iter()
                .filter(|v| if must_hold { up * (v.1 - bound) < 0.0 } else { up * (v.1 - bound) <= 0.0 })
                .count();
            out.push(BoundSpread {
                item: item.clone(),
                op,
                bound,
                must_hold,
                seeds: values.len(),
                mean,
                sd,
                nearest,
                crossed,
                margin,
            });
        }
    }
    out
}

/// A metric's value as the summary shows it: a share (availability) as a percent, as everywhere
/// else.
fn show_metric(name: &str, v: f64) -> String {
    if name.starts_with("availability") { sim_core::verdict::percent_beside(v, &[]) } else { num(v) }
}

/// An SLA's value as the bounds section shows it: as [`show_metric`], a latency with its unit
/// (the SLA's name has none). A spread is shown in the same unit as its mean (an availability's
/// standard deviation in percentage points).
fn show_bound_value(item: &str, v: f64) -> String {
    if item.starts_with("latency") { format!("{} ms", num(v)) } else { show_metric(item, v) }
}

/// The summary's section on the SLA bounds' margins (empty without any).
pub fn bounds_markdown(spreads: &[BoundSpread]) -> String {
    use std::fmt::Write as _;
    if spreads.is_empty() {
        return String::new();
    }
    let mut m = String::new();
    let _ = writeln!(m, "## SLA bounds against their spread\n");
    let _ = writeln!(
        m,
        "The distance from the mean over the seeds to each bound, in standard deviations, toward the side the \
         scenario expects (the SLA holds, or fails for a known-bad scenario that declares it). Under {THIN_SD} \
         it is thin: a normal spread crosses 4 sd about once in 31,600 seeds and 3 sd once in 740; a skewed one \
         (a rate, a tail latency) may do better or worse, so sweep more seeds before trusting a thin bound. \
         A bound no seed crossed where a normal spread would have crossed it often enough that the count is \
         less likely than 1 in {:.0} is not in a normal tail (a floor of the metric, such as a crash that \
         always loses a worker, or a skewed spread's short tail): not thin. A bound some seed crossed is \
         thin. Judged from {THIN_MIN_SEEDS} seeds or more.\n",
        1.0 / NORMAL_REFUTED
    );
    let _ = writeln!(m, "| SLA | expected | bound | seeds | mean | sd | nearest seed | crossed | margin |");
    let _ = writeln!(m, "|---|---|---:|---:|---:|---:|---|---:|---:|");
    for s in spreads {
        let v = |x: f64| show_bound_value(&s.item, x);
        let margin = match s.margin {
            None if s.thin() => "**no spread (thin: every seed crossed it)**".to_string(),
            None => "no spread".to_string(),
            Some(x) if s.thin() => format!("**{} sd (thin)**", tenths_down(x)),
            Some(x) if x < THIN_SD && s.crossed == 0 && !s.normal_fits() => {
                format!(
                    "{} sd (not a normal tail: none crossed it, where a normal spread puts ~{:.0} past it)",
                    tenths_down(x),
                    s.normal_crossings().unwrap_or(0.0)
                )
            }
            Some(x) => format!("{} sd", tenths_down(x)),
        };
        let _ = writeln!(
            m,
            "| {} | {} | {} {} | {} | {} | {} | {} (seed {}) | {} | {margin} |",
            s.item,
            if s.must_hold { "holds" } else { "fails" },
            s.op,
            v(s.bound),
            s.seeds,
            v(s.mean),
            v(s.sd),
            v(s.nearest.1),
            s.nearest.0,
            s.crossed,
        );
    }
    m.push('\n');
    m
}

/// A margin in sd to one decimal, rounded down, so a thin one (under 4) never shows as 4.0.
fn tenths_down(x: f64) -> String {
    format!("{:.1}", (x * 10.0).floor() / 10.0)
}

/// `n` rounded to two significant figures, with thousands separators: 10,078 -> "10,000".
fn two_figures(n: f64) -> String {
    let n = n.max(1.0).round() as u64;
    let unit = 10u64.pow((n.ilog10()).saturating_sub(1));
    sim_core::model::thousands((n + unit / 2) / unit * unit)
}

/// One line per thin bound, for the terminal (empty when none is thin).
pub fn thin_bounds_text(spreads: &[BoundSpread]) -> String {
    use std::fmt::Write as _;
    let mut t = String::new();
    for s in spreads.iter().filter(|s| s.thin()) {
        let mean = show_bound_value(&s.item, s.mean);
        let place = match s.margin {
            Some(m) => format!("{} sd from the mean {mean}", tenths_down(m)),
            // Every seed measured the same (and crossed it): no spread to measure by.
            None => format!("crossed by every seed, each at {mean}"),
        };
        // Where the seeds refute a normal tail, its odds are only what a normal spread would do.
        let odds = match s.one_seed_in() {
            Some(n) if !s.normal_fits() => {
                format!("; not a normal tail: a normal spread crosses it about once in {} seeds", two_figures(n))
            }
            Some(n) => format!("; a normal spread crosses it about once in {} seeds", two_figures(n)),
            None => String::new(),
        };
        let _ = writeln!(
            t,
            "  thin bound: {} {} {} ({}) is {place} (sd {}; nearest seed {}: {}; {} of {} seeds \
             crossed it){odds}",
            s.item,
            s.op,
            show_bound_value(&s.item, s.bound),
            if s.must_hold { "must hold" } else { "must fail" },
            show_bound_value(&s.item, s.sd),
            s.nearest.0,
            show_bound_value(&s.item, s.nearest.1),
            s.crossed,
            s.seeds,
        );
    }
    t
}

/// The sweep summary in Markdown: how often each verdict item held (with a Wilson 95% interval),
/// each metric's distribution across seeds, and the seeds that did not meet the scenario's
/// expectation with their failed items and the command that reproduces each.
pub fn summary_markdown(name: &str, results: &[SeedResult], reproduce: &dyn Fn(u64) -> String) -> String {
    use std::fmt::Write as _;
    let agg = sim_core::sweep::aggregate(results.iter().map(SeedResult::sample));
    let bad: Vec<&SeedResult> = results.iter().filter(|r| unexpected(r)).collect();
    let mut m = String::new();
    let _ = writeln!(m, "# Sweep: {name}\n");
    let _ = writeln!(
        m,
        "{} seeds: {} as expected, {} not{}.\n",
        results.len(),
        results.len() - bad.len(),
        bad.len(),
        if agg.errors > 0 { format!(" ({} did not finish: a panic)", agg.errors) } else { String::new() }
    );
    if !agg.items.is_empty() {
        let _ = writeln!(m, "## Verdict items across seeds\n");
        let _ = writeln!(m, "| item | held | seeds | probability | 95% CI | in words |\n|---|---:|---:|---:|---|---|");
        for i in &agg.items {
            let (p, lo, hi) = (i.probability * 100.0, i.ci_low * 100.0, i.ci_high * 100.0);
            let _ = writeln!(
                m,
                "| {} | {} | {} | {p:.1}% | {lo:.1}%..{hi:.1}% | holds in {p:.1}% [{lo:.1}, {hi:.1}] of seeds |",
                i.name, i.passed, i.seeds,
            );
        }
        m.push('\n');
    }
    if !agg.metrics.is_empty() {
        let _ = writeln!(m, "## Metrics across seeds\n");
        let _ = writeln!(m, "| metric | seeds | min | p50 | p90 | max | mean |\n|---|---:|---:|---:|---:|---:|---:|");
        for x in &agg.metrics {
            let show = |v: f64| show_metric(&x.name, v);
            let _ = writeln!(
                m,
                "| {} | {} | {} | {} | {} | {} | {} |",
                x.name,
                x.count,
                show(x.min),
                show(x.p50),
                show(x.p90),
                show(x.max),
                show(x.mean)
            );
        }
        m.push('\n');
    }
    if !bad.is_empty() {
        let _ = writeln!(m, "## Seeds that did not meet the expectation\n");
        let _ = writeln!(m, "| seed | what happened | fault climate | reproduce |\n|---:|---|---|---|");
        for r in bad.iter().take(SUMMARY_SEEDS_MAX) {
            let what = match (&r.error, r.passed) {
                (Some(e), _) => format!("panic: {}", e.lines().next().unwrap_or("").replace('|', "\\|")),
                (None, true) => "passed, but the scenario expects failures".to_string(),
                (None, false) => format!("failed: {}", r.failed.join(", ")),
            };
            let climate = r.climate.as_ref().map(|c| c.to_string()).unwrap_or_default();
            let _ = writeln!(m, "| {} | {what} | {climate} | `{}` |", r.seed, reproduce(r.seed));
        }
        if bad.len() > SUMMARY_SEEDS_MAX {
            let _ = writeln!(m, "\n... and {} more (all are in the results file).", bad.len() - SUMMARY_SEEDS_MAX);
        }
    }
    m
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicU64;

    /// A fake run: deterministic in the seed, fails `durability` for multiples of 7, panics on 13.
    fn fake(seed: u64) -> SeedResult {
        if seed == 13 {
            panic!("model bug on seed {seed}");
        }
        let bad = seed.is_multiple_of(7);
        let failed = if bad { vec!["durability".to_string()] } else { Vec::new() };
        // Uneven run times, so finishing order differs from seed order.
        std::thread::sleep(std::time::Duration::from_micros((seed * 37) % 500));
        SeedResult {
            seed,
            passed: !bad,
            met_expectation: !bad,
            failed,
            checked: vec!["durability".into(), "latency.get.p99".into()],
            metrics: BTreeMap::from([
                ("p99_ms".to_string(), (seed % 10) as f64),
                ("empty".to_string(), if seed == 3 { f64::NAN } else { 1.0 }),
            ]),
            trace_hash: format!("{:016x}", seed.wrapping_mul(0x9e37_79b9_7f4a_7c15)),
            error: None,
            climate: None,
            fingerprint: String::new(),
        }
    }

    /// A promised rate counts the seeds that failed as declared, a name `may_also_fail` allows
    /// beside them included, and no seed that failed anything else.
    #[test]
    fn a_promised_rate_counts_what_may_also_fail_allows_and_nothing_else() {
        let with = |seed, failed: &[&str]| SeedResult {
            failed: failed.iter().map(|s| s.to_string()).collect(),
            ..SeedResult::errored(seed, String::new())
        };
        let mut results: Vec<SeedResult> = (0..4).map(|s| with(s, &["lost"])).collect();
        results.push(with(4, &["lost", "false_alerts"]));
        results.push(with(5, &["lost", "order"]));
        results.push(with(6, &[]));
        for r in &mut results {
            r.error = None;
        }
        let expect = Expect::FailAtLeast(vec!["lost".into()], 0.5);
        let p = promised_rate(&expect, &[], &results).expect("a rate");
        assert_eq!((p.hits, p.seeds), (4, 7));
        let p = promised_rate(&expect, &["false_alerts".into()], &results).expect("a rate");
        assert_eq!((p.hits, p.seeds), (5, 7), "seed 4 now counts, seed 5 (order) never");
        assert!(promised_rate(&Expect::Fail(vec!["lost".into()]), &[], &results).is_none());
    }

    fn cfg(jobs: usize, file: Option<&Path>) -> SweepConfig<'_> {
        SweepConfig { jobs, results_file: file, fingerprint: "" }
    }

    fn temp(name: &str) -> PathBuf {
        static N: AtomicU64 = AtomicU64::new(0);
        let dir = std::env::temp_dir().join(format!(
            "simctl-sweep-test-{}-{}-{name}",
            std::process::id(),
            N.fetch_add(1, Ordering::SeqCst)
        ));
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    fn quiet() -> &'static (dyn Fn(&SeedResult, Progress) + Sync) {
        &|_, _| {}
    }

    #[test]
    fn results_and_files_are_identical_for_any_jobs() {
        let dir = temp("jobs");
        let seeds: Vec<u64> = (0..40).filter(|s| *s != 13).collect();
        let mut outputs = Vec::new();
        for jobs in [1, 2, 8] {
            let file = dir.join(format!("results-{jobs}.jsonl"));
            let out = run_seeds(&seeds, &cfg(jobs, Some(&file)), fake, quiet()).unwrap();
            assert_eq!((out.ran, out.resumed), (39, 0));
            let order: Vec<u64> = out.results.iter().map(|r| r.seed).collect();
            assert_eq!(order, seeds);
            outputs.push((
                out.results.iter().map(SeedResult::to_line).collect::<Vec<_>>(),
                std::fs::read_to_string(&file).unwrap(),
            ));
        }
        assert_eq!(outputs[0], outputs[1]);
        assert_eq!(outputs[0], outputs[2]);
        assert_eq!(outputs[0].1.lines().count(), 39);
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn an_interrupted_sweep_resumes_without_rerunning() {
        let dir = temp("resume");
        let file = dir.join("results.jsonl");
        // A first sweep that "stopped" after seeds 0..10, in the middle of writing seed 10.
        let mut text: String = (0..10).map(|s| fake(s).to_line() + "\n").collect();
        text.push_str(&fake(10).to_line()[..20]);
        std::fs::write(&file, text).unwrap();
        let calls = Mutex::new(Vec::new());
        let progress = Mutex::new(Vec::new());
        let on_done = |r: &SeedResult, p: Progress| progress.lock().unwrap().push((r.seed, p));
        let out = run_seeds(
            &(0..20).collect::<Vec<_>>(),
            &cfg(3, Some(&file)),
            |s| {
                calls.lock().unwrap().push(s);
                fake(s)
            },
            &on_done,
        )
        .unwrap();
        let mut calls = calls.into_inner().unwrap();
        calls.sort();
        assert_eq!(calls, (10..20).collect::<Vec<_>>(), "only the missing seeds run");
        assert_eq!((out.resumed, out.ran), (10, 10));
        assert_eq!(out.results.len(), 20);
        let fresh: Vec<SeedResult> = (0..20).filter(|s| *s != 13).map(fake).collect();
        let got: Vec<&SeedResult> = out.results.iter().filter(|r| r.seed != 13).collect();
        assert_eq!(got.iter().map(|r| r.to_line()).collect::<Vec<_>>(), lines(&fresh));
        let progress = progress.into_inner().unwrap();
        assert_eq!(progress.len(), 20);
        assert_eq!(progress.iter().map(|p| p.1.done).max(), Some(20));
        // 0, 7, 14 fail their verdict; 13 panics.
        assert_eq!(progress.iter().map(|p| p.1.unexpected).max(), Some(4));
        // The file now holds all 20, in order, and a third sweep runs nothing.
        assert_eq!(lines(&read_results(&file).unwrap()), lines(&out.results));
        let again = run_seeds(&(0..20).collect::<Vec<_>>(), &cfg(2, Some(&file)), |_| unreachable!(), quiet()).unwrap();
        assert_eq!((again.resumed, again.ran), (20, 0));
        // The scenario changed: every recorded result is stale and runs again.
        let changed = SweepConfig { jobs: 2, results_file: Some(&file), fingerprint: "v2" };
        let count = AtomicUsize::new(0);
        let out = run_seeds(
            &(0..5).collect::<Vec<_>>(),
            &changed,
            |s| {
                count.fetch_add(1, Ordering::SeqCst);
                fake(s)
            },
            quiet(),
        )
        .unwrap();
        assert_eq!((out.stale, out.resumed, out.ran, count.into_inner()), (20, 0, 5, 5));
        let kept = read_results(&file).unwrap();
        assert_eq!(kept.len(), 5);
        assert!(kept.iter().all(|r| r.fingerprint == "v2"));
        std::fs::remove_dir_all(dir).unwrap();
    }

    /// A seed whose metrics are hard floats: the one of the issue (0.98077260361417[64|65], read back
    /// one unit in the last place off) and a thousand more.
    fn floaty(seed: u64) -> SeedResult {
        let mut r = fake(seed);
        r.metrics.insert("ae_bytes_saved_fraction".into(), 0.9807726036141765);
        r.metrics.insert("ae_bytes_saved_fraction_b".into(), 0.9807726036141764);
        let mut x = seed.wrapping_add(1).wrapping_mul(0x9e37_79b9_7f4a_7c15);
        for i in 0..1000 {
            x = next(x);
            r.metrics.insert(format!("m{i:04}"), (x >> 11) as f64 / (1u64 << 53) as f64 * 10f64.powi(i % 9 - 4));
        }
        r
    }

    fn next(x: u64) -> u64 {
        x.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407)
    }

    /// An interrupted sweep, resumed, leaves the same results file as an uninterrupted one, byte
    /// for byte (resumed lines used to be parsed and printed again, a float one ulp off); merging
    /// a file writes it back unchanged too.
    #[test]
    fn a_resumed_sweep_writes_the_same_bytes_as_an_uninterrupted_one() {
        let dir = temp("resume-bytes");
        let seeds: Vec<u64> = (0..30).filter(|s| *s != 13).collect();
        let whole = dir.join("whole.jsonl");
        run_seeds(&seeds, &cfg(1, Some(&whole)), floaty, quiet()).unwrap();
        let whole_text = std::fs::read_to_string(&whole).unwrap();
        // Killed after 16 seeds, in the middle of writing the 17th.
        let cut = dir.join("cut.jsonl");
        let lines: Vec<&str> = whole_text.lines().collect();
        let mut text: String = lines[..16].iter().map(|l| format!("{l}\n")).collect();
        text.push_str(&lines[16][..40]);
        std::fs::write(&cut, text).unwrap();
        let out = run_seeds(&seeds, &cfg(2, Some(&cut)), floaty, quiet()).unwrap();
        assert_eq!((out.resumed, out.ran), (16, 13));
        assert_eq!(std::fs::read_to_string(&cut).unwrap(), whole_text);
        // Results read back parse to the exact floats: a merge writes the same bytes.
        let merged = dir.join("merged.jsonl");
        rewrite_sorted(&merged, &merge(std::slice::from_ref(&whole)).unwrap()).unwrap();
        assert_eq!(std::fs::read_to_string(&merged).unwrap(), whole_text);
        std::fs::remove_dir_all(dir).unwrap();
    }

    /// A huge job count is capped (100,000 threads used to be asked of the system, and the
    /// sweep panicked when it said no).
    #[test]
    fn a_huge_job_count_is_capped() {
        let seeds: Vec<u64> = (0..2_000).collect();
        let threads = Mutex::new(std::collections::BTreeSet::new());
        let run = |s: u64| {
            threads.lock().unwrap().insert(format!("{:?}", std::thread::current().id()));
            SeedResult::errored(s, String::new())
        };
        let out = run_seeds(&seeds, &cfg(100_000, None), run, quiet()).unwrap();
        assert_eq!(out.results.len(), 2_000);
        assert!(threads.into_inner().unwrap().len() <= WORKERS_MAX);
    }

    #[test]
    fn fingerprints_are_stable_and_separate_parts() {
        assert_eq!(fingerprint(&[b"a"]), fingerprint(&[b"a"]));
        assert_ne!(fingerprint(&[b"ab", b"c"]), fingerprint(&[b"a", b"bc"]));
        assert_eq!(fingerprint(&[]), "cbf29ce484222325");
        assert_eq!(fingerprint(&[b"a"]).len(), 16);
    }

    #[test]
    fn a_panicking_seed_is_recorded_and_the_sweep_goes_on() {
        let out = run_seeds(&[12, 13, 14], &cfg(2, None), fake, quiet()).unwrap();
        assert_eq!(out.results.len(), 3);
        let r = &out.results[1];
        assert_eq!(r.seed, 13);
        assert!(r.error.as_deref().unwrap().contains("model bug on seed 13"));
        assert!(!r.met_expectation);
    }

    #[test]
    fn nan_metrics_survive_a_round_trip() {
        let r = fake(3);
        let line = r.to_line();
        assert!(line.contains("\"empty\":null"), "{line}");
        let back: SeedResult = serde_json::from_str(&line).unwrap();
        assert!(back.metrics["empty"].is_nan());
        assert_eq!(back.metrics["p99_ms"], 3.0);
    }

    #[test]
    fn shards_merge_and_conflicts_are_errors() {
        let dir = temp("merge");
        let seeds: Vec<u64> = (0..30).collect();
        let mut files = Vec::new();
        for index in 0..3 {
            let shard = sim_core::sweep::Shard { index, count: 3 };
            let file = dir.join(format!("shard-{index}.jsonl"));
            run_seeds(&shard.select(&seeds), &cfg(2, Some(&file)), fake, quiet()).unwrap();
            files.push(file);
        }
        let merged = merge(&files).unwrap();
        let whole = run_seeds(&seeds, &cfg(4, None), fake, quiet()).unwrap();
        assert_eq!(lines(&merged), lines(&whole.results));
        // The same shard twice is fine.
        files.push(files[0].clone());
        assert_eq!(merge(&files).unwrap().len(), 30);
        // A different result for a seed is not.
        let mut other = fake(4);
        other.trace_hash = "deadbeef".into();
        let odd = dir.join("odd.jsonl");
        std::fs::write(&odd, other.to_line() + "\n").unwrap();
        files.push(odd);
        let err = merge(&files).unwrap_err().to_string();
        assert!(err.contains("seed 4") && err.contains("deadbeef"), "{err}");
        // Shards of two scenario versions do not merge.
        let v2 = dir.join("v2.jsonl");
        let stale_cfg = SweepConfig { jobs: 1, results_file: Some(&v2), fingerprint: "v2" };
        run_seeds(&[100], &stale_cfg, fake, quiet()).unwrap();
        let err = merge(&[files[0].clone(), v2]).unwrap_err().to_string();
        assert!(err.contains("another scenario version"), "{err}");
        assert!(merge(&[dir.join("missing.jsonl")]).unwrap_err().to_string().contains("no such results file"));
        std::fs::write(dir.join("bad.jsonl"), "{\"seed\": 1}\n").unwrap();
        let err = merge(&[dir.join("bad.jsonl")]).unwrap_err().to_string();
        assert!(err.contains("bad.jsonl:1:"), "{err}");
        std::fs::remove_dir_all(dir).unwrap();
    }

    /// Results compared through their JSON lines (NaN metrics are not equal to themselves).
    fn lines(rs: &[SeedResult]) -> Vec<String> {
        rs.iter().map(SeedResult::to_line).collect()
    }

    /// Where the seeds refute a normal spread, the normal odds do not judge: a floor (40 of 48
    /// seeds at exactly the minimum of 1, 8 at 3: 0.4 sd, where a normal spread would put 16 seeds
    /// under it) is not thin; a bound one seed in 100 crossed, 4.9 sd from the mean (a normal
    /// spread: once in 2.4 million seeds), is, with the seeds' count beside the normal odds.
    #[test]
    fn a_bound_the_seeds_refute_a_normal_tail_at_is_judged_by_the_seeds() {
        let results = |values: &[f64]| -> Vec<SeedResult> {
            values
                .iter()
                .enumerate()
                .map(|(seed, &v)| {
                    let mut r = SeedResult::errored(seed as u64, String::new());
                    r.error = None;
                    r.metrics = BTreeMap::from([("measure.m".to_string(), v)]);
                    r
                })
                .collect()
        };
        let at_least = |min: f64| vec![Sla::Measure { name: "m".into(), min: Some(min), max: None }];
        let floor: Vec<f64> = (0..48).map(|i| if i % 6 == 0 { 3.0 } else { 1.0 }).collect();
        let s = bound_spreads(&at_least(1.0), &Expect::Pass, &[], &results(&floor));
        assert_eq!((s[0].crossed, tenths_down(s[0].margin.unwrap())), (0, "0.4".to_string()));
        assert!(!s[0].normal_fits() && !s[0].thin(), "{:?}", s[0]);
        assert!(
            bounds_markdown(&s)
                .contains("| 0.4 sd (not a normal tail: none crossed it, where a normal spread puts ~16 past it) |"),
            "{}",
            bounds_markdown(&s)
        );
        assert!(thin_bounds_text(&s).is_empty());
        // The same spread over 12 seeds (two at 3) does not refute a normal tail: thin.
        let s12 = bound_spreads(&at_least(1.0), &Expect::Pass, &[], &results(&floor[..12]));
        assert!(s12[0].normal_fits() && s12[0].thin(), "{:?}", s12[0]);
        let mut tail = vec![100.0; 99];
        tail.push(0.0);
        let s = bound_spreads(&at_least(50.0), &Expect::Pass, &[], &results(&tail));
        assert_eq!((s[0].crossed, tenths_down(s[0].margin.unwrap())), (1, "4.9".to_string()));
        assert!(!s[0].normal_fits() && s[0].thin());
        let text = thin_bounds_text(&s);
        assert!(
            text.contains("1 of 100 seeds crossed it); not a normal tail: a normal spread crosses it about once in 2,400,000 seeds"),
            "{text}"
        );
        // Every seed the same and past the bound: thin, with no spread to give a margin by.
        let s = bound_spreads(&at_least(6.0), &Expect::Pass, &[], &results(&[5.0; 10]));
        assert!(s[0].margin.is_none() && s[0].thin());
        assert!(
            bounds_markdown(&s).contains("| 10 | **no spread (thin: every seed crossed it)** |"),
            "{}",
            bounds_markdown(&s)
        );
        let text = thin_bounds_text(&s);
        assert!(text.contains("is crossed by every seed, each at 5 (sd 0;"), "{text}");
    }

    /// Each SLA side against the spread of its metric: the margin in standard deviations toward
    /// the expected side, the nearest seed, thin under 4 sd; a known-bad's declared SLA must fail,
    /// one `may_also_fail` allows is left out, and a metric no seed measured gives no row.
    #[test]
    fn sla_bounds_are_set_against_their_spread() {
        use sim_core::time::Duration;
        // Seeds 0..10: `measure.m` = 10 + seed (mean 14.5, sd 2.87), the p99 20 ms for every seed
        // but seed 4 (30 ms), availability 0.5 + seed / 100.
        let results: Vec<SeedResult> = (0..10u64)
            .map(|seed| {
                let mut r = SeedResult::errored(seed, String::new());
                r.error = None;
                r.metrics = BTreeMap::from([
                    ("measure.m".to_string(), 10.0 + seed as f64),
                    ("latency.get.p99_ms".to_string(), if seed == 4 { 30.0 } else { 20.0 }),
                    ("availability".to_string(), 0.5 + seed as f64 / 100.0),
                    ("measure.same".to_string(), 3.0),
                ]);
                r
            })
            .collect();
        let slas = vec![
            Sla::Measure { name: "m".into(), min: Some(2.0), max: Some(20.0) },
            Sla::Latency { op: "get".into(), percentile: 99.0, max: Duration::from_millis(100) },
            Sla::Availability { op: None, min: 0.99, window: sim_core::verdict::Window::All },
            Sla::Measure { name: "same".into(), min: None, max: Some(3.0) },
            Sla::Measure { name: "unmeasured".into(), min: Some(1.0), max: None },
            Sla::Throughput { op: None, min_per_s: 5.0 },
        ];
        let expect = Expect::Fail(vec!["availability".into()]);
        let s = bound_spreads(&slas, &expect, &["throughput".to_string()], &results);
        let r2 = |x: f64| (x * 100.0).round() / 100.0;
        // (item, side, must hold, (nearest seed, margin to two decimals)).
        type Row<'a> = (&'a str, &'static str, bool, Option<(u64, f64)>);
        let rows: Vec<Row> =
            s.iter().map(|b| (b.item.as_str(), b.op, b.must_hold, b.margin.map(|m| (b.nearest.0, r2(m))))).collect();
        let sd = (8.25f64).sqrt();
        assert_eq!(
            rows,
            [
                ("measure.m", ">=", true, Some((0, r2((14.5 - 2.0) / sd)))),
                ("measure.m", "<=", true, Some((9, r2((20.0 - 14.5) / sd)))),
                ("latency.get.p99", "<=", true, Some((4, r2((100.0 - 21.0) / 3.0)))),
                // Declared failing: the expected side is below 99%, and the nearest seed the highest.
                ("availability", ">=", false, Some((9, r2((0.99 - 0.545) / (sd / 100.0))))),
                ("measure.same", "<=", true, None),
            ]
        );
        assert!(!s[0].thin() && s[1].thin(), "1.9 sd under the maximum is thin, 4.4 over the minimum is not");
        assert!(!s[4].thin(), "no spread: nothing to judge by");
        let few = bound_spreads(&slas, &expect, &["throughput".to_string()], &results[..9]);
        assert!(few[1].margin.is_some_and(|m| m < THIN_SD) && !few[1].thin(), "nine seeds judge no bound thin");
        let n = s[1].one_seed_in().unwrap();
        assert!((30.0..40.0).contains(&n), "P(Z > 1.92) is about 1/36: {n}");
        let md = bounds_markdown(&s);
        assert!(
            md.contains("| measure.m | holds | <= 20 | 10 | 14.5000 | 2.8723 | 19 (seed 9) | 0 | **1.9 sd (thin)** |"),
            "{md}"
        );
        assert!(
            md.contains("| latency.get.p99 | holds | <= 100 ms | 10 | 21 ms | 3 ms | 30 ms (seed 4) | 0 | 26.3 sd |"),
            "{md}"
        );
        // A share's spread in percentage points, beside its percent mean.
        assert!(md.contains("| availability | fails | >= 99.00% | 10 | 54.50% | 2.87% | 59.00% (seed 9) |"), "{md}");
        assert!(md.contains("| measure.same | holds | <= 3 | 10 | 3 | 0 | 3 (seed 0) | 0 | no spread |"), "{md}");
        // Seeds past a bound are counted: a minimum of 15 that must hold is crossed by seeds 0..5
        // (10 to 14), a maximum of 14 that must fail by the seeds at or under it (0..5).
        let tight = [Sla::Measure { name: "m".into(), min: Some(15.0), max: None }];
        assert_eq!(bound_spreads(&tight, &Expect::Pass, &[], &results)[0].crossed, 5);
        let fails = [Sla::Measure { name: "m".into(), min: None, max: Some(14.0) }];
        let declared = Expect::Fail(vec!["measure.m".into()]);
        assert_eq!(bound_spreads(&fails, &declared, &[], &results)[0].crossed, 5);
        let text = thin_bounds_text(&s);
        assert_eq!(text.lines().count(), 1, "{text}");
        assert!(text.contains("thin bound: measure.m <= 20 (must hold) is 1.9 sd from the mean 14.5000"), "{text}");
        assert!(text.contains("about once in 36 seeds"), "{text}");
        assert!(text.contains("nearest seed 9: 19; 0 of 10 seeds crossed it"), "{text}");
        assert_eq!(
            (tenths_down(3.97), tenths_down(4.0), tenths_down(-0.31)),
            ("3.9".into(), "4.0".into(), "-0.4".into())
        );
        assert_eq!(two_figures(10_078.4), "10,000");
        assert_eq!(two_figures(3.2), "3");
        assert!(bounds_markdown(&[]).is_empty());
    }

    #[test]
    fn the_summary_gives_probabilities_distributions_and_repro_lines() {
        let results: Vec<SeedResult> = (0..20u64)
            .map(|s| std::panic::catch_unwind(|| fake(s)).unwrap_or_else(|_| SeedResult::errored(s, "boom".into())))
            .collect();
        let md = summary_markdown("kv", &results, &|s| format!("simctl run kv.ron --seed {s}"));
        assert!(md.contains("20 seeds: 16 as expected, 4 not (1 did not finish: a panic)."), "{md}");
        // durability fails on 0, 7, 14: 16 of 19 finished seeds.
        assert!(md.contains("| durability | 16 | 19 | 84.2% |"), "{md}");
        assert!(md.contains("| latency.get.p99 | 19 | 19 | 100.0% |"), "{md}");
        assert!(md.contains("| p99_ms | 19 | 0 | 5 | 9 | 9 | 4.5789 |"), "{md}");
        assert!(md.contains("| 7 | failed: durability |  | `simctl run kv.ron --seed 7` |"), "{md}");
        assert!(md.contains("| 13 | panic: boom |"), "{md}");
    }

    #[test]
    fn junit_names_failures_and_the_reproduce_command() {
        let results: Vec<SeedResult> = [6, 7, 13]
            .iter()
            .map(|&s| {
                std::panic::catch_unwind(|| fake(s)).unwrap_or_else(|_| SeedResult::errored(s, "boom <&>".into()))
            })
            .collect();
        let repro = |s: u64| format!("simctl run scenarios/a&b.ron --seed {s}");
        let xml = junit_xml(&[JunitSuite { name: "kv \"fast\"", results: &results, reproduce: &repro, promise: None }]);
        assert!(xml.starts_with("<?xml"));
        assert!(xml.contains("<testsuites name=\"simctl\" tests=\"3\" failures=\"1\" errors=\"1\">"), "{xml}");
        assert!(xml.contains("<testcase classname=\"kv &quot;fast&quot;\" name=\"seed 6\"/>"), "{xml}");
        assert!(xml.contains("<failure message=\"failed: durability\""), "{xml}");
        assert!(xml.contains("reproduce: simctl run scenarios/a&amp;b.ron --seed 7"), "{xml}");
        assert!(xml.contains("<error message=\"the run panicked\" type=\"panic\">boom &lt;&amp;&gt;"), "{xml}");
        assert_eq!(xml.matches("<testcase").count(), 3);
        assert_eq!(xml.matches("</testcase>").count(), 2);
        assert_eq!(xml_escape("a\u{1}b\tc"), "ab\tc");
    }
}
