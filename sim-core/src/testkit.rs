//! Helpers for model tests: the steps every model's `tests/scenarios.rs` takes, written once.
//!
//! A scenario test reads `scenarios/<name>.ron` (the IO stays in the test file: this crate does
//! none), then [`parse_and_validate`]s it, runs it and judges it with the real verdict
//! ([`run_and_judge`], which is [`crate::scenario::run`] followed by [`crate::verdict::evaluate`],
//! as `simctl run` does), and asserts the verdict is what the file's `expect` says
//! ([`assert_meets_expectation`]). [`assert_expectations_over_seeds`] does the same over a seed
//! sweep. [`assert_progress_fails_with_servers_down`] shows a good scenario's progress
//! conditions fail when nothing can succeed. [`check`] and [`measure`] look up a model check or measure by name and panic with the
//! names that exist when it is missing, so a typo in a test is a clear failure, not a `None`.
//! [`control`] runs a known-bad scenario as it is and with its cause removed, and asserts the named
//! failure is there and then gone: one line per known-bad scenario in each model's tests.
//!
//! Everything here is pure and deterministic; a failed assertion panics with the run's numbers.

use crate::model::{Check, Model};
use crate::record::RunRecord;
use crate::scenario::{RunOptions, Scenario, run};
use crate::verdict::{Verdict, VerdictItem};
use std::ops::Range;

/// Parses `source` as a scenario of model `M` and validates it (the scenario, the model's config,
/// and the SLAs, estimates and expectation), exactly as `simctl check` does. Panics with every
/// problem, located as `path:line:col: field: message`, when the file is not valid.
pub fn parse_and_validate<M: Model>(path: &str, source: &str) -> Scenario<M::Config> {
    crate::parse::load_scenario::<M>(source).unwrap_or_else(|problems| {
        let lines: Vec<String> = problems.iter().map(|d| format!("  {path}:{d}")).collect();
        panic!("{path}: not a valid `{}` scenario:\n{}", M::NAME, lines.join("\n"))
    })
}

/// Runs the scenario (with `seed`, or the scenario's own seed) and returns its record.
/// Every run of every model's tests also checks the kernel's own bookkeeping: Little's law's
/// exact identity (operations in flight integrated by the kernel against the history) must hold.
pub fn run_record<M: Model>(sc: &Scenario<M::Config>, seed: Option<u64>) -> RunRecord {
    let record = run::<M>(sc, RunOptions { seed, ..RunOptions::default() }).record;
    let broken: Vec<_> = record.queueing.little_violations().collect();
    assert!(broken.is_empty(), "{}: Little's law identity broken (a kernel bug): {broken:?}", sc.name);
    record
}

/// The verdict of a run against its scenario's invariants, SLAs, estimates and expectation,
/// exactly as `simctl run` judges it ([`crate::verdict::judge`]).
pub fn judge<C>(sc: &Scenario<C>, record: &RunRecord) -> Verdict {
    crate::verdict::judge(sc, record)
}

/// Runs the scenario (with `seed`, or its own) and judges the run: the record and its verdict.
pub fn run_and_judge<M: Model>(sc: &Scenario<M::Config>, seed: Option<u64>) -> (RunRecord, Verdict) {
    let record = run_record::<M>(sc, seed);
    let verdict = judge(sc, &record);
    (record, verdict)
}

/// Runs the scenario with its own seed, judges it and asserts the verdict meets the scenario's
/// expectation; the record and the verdict, for further assertions.
pub fn run_as_expected<M: Model>(sc: &Scenario<M::Config>) -> (RunRecord, Verdict) {
    let (record, verdict) = run_and_judge::<M>(sc, None);
    assert_meets_expectation(&sc.name, &verdict);
    (record, verdict)
}

/// Panics unless the verdict meets its expectation (a good design passed, a known-bad one failed
/// for exactly the named reasons). The message lists every failed item with its measured value,
/// bound and detail.
pub fn assert_meets_expectation(name: &str, verdict: &Verdict) {
    assert!(verdict.meets_expectation, "{name}: {}\n{}", verdict.expectation, describe_failures(verdict));
}

/// Panics unless every counting item of the verdict passed (whatever the scenario expects): for
/// a variant of a known-bad scenario with its cause fixed.
pub fn assert_passes(name: &str, verdict: &Verdict) {
    assert!(verdict.passed, "{name}: expected every check to pass\n{}", describe_failures(verdict));
}

/// One line per failed item of the verdict: `name: measured vs bound: detail`.
pub fn describe_failures(verdict: &Verdict) -> String {
    let failed: Vec<&VerdictItem> = verdict.items.iter().filter(|i| !i.passed).collect();
    if failed.is_empty() {
        return "  (no item failed)".into();
    }
    failed
        .iter()
        .map(|i| {
            let measured = i.measured.map_or("nothing measured".to_string(), |v| format!("{v}"));
            let counts = if i.counts { "" } else { " (does not count)" };
            format!("  {}{counts}: {measured} vs {}: {}", i.name, i.bound, i.detail)
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// The names of the model checks that failed in this run, in the report's order (every check,
/// whatever the scenario's `invariants` list selects).
pub fn failed_checks(record: &RunRecord) -> Vec<String> {
    record.model_report.checks.iter().filter(|c| !c.passed).map(|c| c.name.clone()).collect()
}

/// The model check `name`; panics, naming the checks there are, when the model has none by that name.
pub fn check<'a>(record: &'a RunRecord, name: &str) -> &'a Check {
    record.model_report.checks.iter().find(|c| c.name == name).unwrap_or_else(|| {
        let known: Vec<&str> = record.model_report.checks.iter().map(|c| c.name.as_str()).collect();
        panic!("no check `{name}` (checks: {})", known.join(", "))
    })
}

/// The model measure `name`; panics, naming the measures there are, when there is none by that name.
pub fn measure(record: &RunRecord, name: &str) -> f64 {
    record.model_report.measures.get(name).copied().unwrap_or_else(|| {
        let known: Vec<&str> = record.model_report.measures.keys().map(String::as_str).collect();
        panic!("no measure `{name}` (measures: {})", known.join(", "))
    })
}

/// The seeds of a sweep: `count` seeds from 2 (seed 1 is the usual scenario seed), where `count`
/// comes from `setting` (say, the `SIMCTL_SWEEP_SEEDS` variable, read by the test), or `default`.
pub fn sweep_seeds(setting: Option<&str>, default: u64) -> Range<u64> {
    let count = setting.map_or(default, |s| {
        s.trim().parse().unwrap_or_else(|_| panic!("a seed count must be a whole number, got `{s}`"))
    });
    2..2 + count
}

/// The scenario names (file names without `.ron`) among `file_names` that start with `prefix`,
/// sorted.
pub fn scenario_names(file_names: impl IntoIterator<Item = String>, prefix: &str) -> Vec<String> {
    let mut names: Vec<String> = file_names
        .into_iter()
        .filter(|n| n.starts_with(prefix))
        .filter_map(|n| n.strip_suffix(".ron").map(str::to_string))
        .collect();
    names.sort();
    names
}

/// Runs every scenario under every seed in `seeds` and asserts each verdict meets the scenario's
/// expectation; the failure names the scenario and the seed.
pub fn assert_expectations_over_seeds<M: Model>(scenarios: &[Scenario<M::Config>], seeds: Range<u64>) {
    for sc in scenarios {
        for seed in seeds.clone() {
            let (_, verdict) = run_and_judge::<M>(sc, Some(seed));
            assert_meets_expectation(&format!("{} seed {seed}", sc.name), &verdict);
        }
    }
}

/// A known-bad scenario run as it is and with its cause removed ([`control`]).
pub struct Control {
    pub original: RunRecord,
    pub original_verdict: Verdict,
    pub fixed: RunRecord,
    pub fixed_verdict: Verdict,
}

/// A control for a known-bad scenario: the evidence that its failure comes from the mechanism it
/// names. Runs `sc` on its own seed and asserts it fails exactly as its `expect` declares; then
/// runs it again with the cause removed by `remove_cause` (the flag flipped, the clock step
/// dropped, the quorum raised) and asserts that every name the scenario declared was judged and
/// held, and that nothing else failed but `still_failing` (names the fixed run keeps failing for
/// another, stated reason; usually none). A model test has one line per known-bad scenario:
///
/// ```ignore
/// #[test]
/// fn control_leader_reads_are_fresh() {
///     control("register_stale_reads", |sc| sc.config.read_from = ReadFrom::Leader, &[]);
/// }
/// ```
pub fn control<M: Model>(
    sc: &Scenario<M::Config>,
    remove_cause: impl FnOnce(&mut Scenario<M::Config>),
    still_failing: &[&str],
) -> Control {
    let (declared, _) =
        sc.expect.failing().unwrap_or_else(|| panic!("{}: a control needs a known-bad scenario", sc.name));
    let (original, original_verdict) = run_and_judge::<M>(sc, None);
    assert!(
        sc.expect.failed_as_declared(&original_verdict.failed, &sc.may_also_fail),
        "{}: the known-bad run (seed {}) does not fail as declared ({}): {}\n{}",
        sc.name,
        sc.seed,
        declared.join(", "),
        original_verdict.expectation,
        describe_failures(&original_verdict)
    );
    let mut fixed_sc = sc.clone();
    remove_cause(&mut fixed_sc);
    fixed_sc.expect = crate::verdict::Expect::Pass;
    let (fixed, fixed_verdict) = run_and_judge::<M>(&fixed_sc, None);
    let name = format!("{} with its cause removed", sc.name);
    for d in declared {
        let item = fixed_verdict.items.iter().find(|i| &i.name == d);
        assert!(
            item.is_some_and(|i| i.passed),
            "{name}: `{d}` must be judged and hold, got {item:?}\n{}",
            describe_failures(&fixed_verdict)
        );
    }
    let mut failed: Vec<&str> = fixed_verdict.failed.iter().map(String::as_str).collect();
    failed.sort_unstable();
    let mut expected = still_failing.to_vec();
    expected.sort_unstable();
    assert_eq!(failed, expected, "{name}: what still fails\n{}", describe_failures(&fixed_verdict));
    Control { original, original_verdict, fixed, fixed_verdict }
}

/// A crash (no power loss) of `node` at `at`, restarting after `down` (`None`: down to the end),
/// added to the scenario's schedule: the fault a test adds to show a design (or its checks)
/// through a crash its file does not have.
pub fn add_crash<C>(sc: &mut Scenario<C>, at: crate::time::Duration, down: Option<crate::time::Duration>, node: u32) {
    sc.faults.schedule.push(crate::fault::ScheduledFault {
        at,
        duration: down,
        fault: crate::fault::Fault::Crash { node, power_loss: false, corrupt_unsynced: 0.0 },
    });
}

/// A process pause of `node` at `at` for `pause` (a GC pause, a stalled VM), added to the
/// scenario's schedule: the node handles nothing meanwhile, and what reached it waits until the
/// resume.
pub fn add_pause<C>(sc: &mut Scenario<C>, at: crate::time::Duration, pause: crate::time::Duration, node: u32) {
    sc.faults.schedule.push(crate::fault::ScheduledFault {
        at,
        duration: Some(pause),
        fault: crate::fault::Fault::Pause(node),
    });
}

/// The scenario with every server crashed from the start of the run and no liveness phase (which
/// would restart them), its other faults dropped: a run in which the system can make no progress.
pub fn with_every_server_down<C: Clone>(sc: &Scenario<C>) -> Scenario<C> {
    let mut down = sc.clone();
    down.settle = crate::time::Duration::ZERO;
    let topo = crate::topology::Topology::from_spec(&sc.topology).expect("a valid topology");
    down.faults.nemesis = None;
    down.swarm = None;
    down.faults.schedule = topo
        .servers
        .iter()
        .map(|n| crate::fault::ScheduledFault {
            at: crate::time::Duration::ZERO,
            duration: None,
            fault: crate::fault::Fault::Crash { node: n.0, power_loss: false, corrupt_unsynced: 0.0 },
        })
        .collect();
    down
}

/// Runs the scenario with every server down ([`with_every_server_down`]) and asserts that it has
/// progress conditions ([`crate::verdict::progress_conditions`], with the model's
/// `PROGRESS_CHECKS`) and that every one of them fails: the proof that the scenario cannot pass
/// when nothing succeeds. Returns the verdict.
pub fn assert_progress_fails_with_servers_down<M: Model>(sc: &Scenario<M::Config>) -> Verdict {
    let conditions =
        crate::verdict::progress_conditions(&sc.invariants, &sc.may_be_empty, &sc.slas, M::PROGRESS_CHECKS);
    assert!(
        !conditions.is_empty(),
        "{}: no progress condition (an availability or throughput SLA, or a progress check)",
        sc.name
    );
    let down = with_every_server_down(sc);
    let (_, verdict) = run_and_judge::<M>(&down, None);
    for c in &conditions {
        assert!(
            verdict.failed.contains(c),
            "{}: with every server down the progress condition `{c}` still passed\n{}",
            sc.name,
            describe_failures(&verdict)
        );
    }
    verdict
}

/// [`assert_progress_fails_with_servers_down`] for every good scenario (`expect: Pass`) among
/// `scenarios`; returns how many it checked.
pub fn assert_good_scenarios_need_progress<M: Model>(scenarios: &[Scenario<M::Config>]) -> usize {
    let good: Vec<&Scenario<M::Config>> =
        scenarios.iter().filter(|s| s.expect == crate::verdict::Expect::Pass).collect();
    for sc in &good {
        assert_progress_fails_with_servers_down::<M>(sc);
    }
    good.len()
}

/// Panics unless two runs are the same run: trace hash, event count and model report.
pub fn assert_same_run(a: &RunRecord, b: &RunRecord) {
    assert_eq!(a.trace_hash, b.trace_hash, "trace hashes differ");
    assert_eq!(a.events, b.events, "event counts differ");
    assert_eq!(a.model_report, b.model_report, "model reports differ");
}

/// `simctl explore`'s search on `base` within `runs` runs from explore seed `seed`, on this
/// thread: a hit is a run failing one of `target` (message delays included in the fault kinds).
pub fn explore<M: Model>(
    base: &Scenario<M::Config>,
    target: &[&str],
    runs: u32,
    seed: u64,
) -> crate::explore::Explored {
    use crate::explore::{self, Candidate, ExploreOptions, Kinds, Observation};
    let target: Vec<String> = target.iter().map(|s| s.to_string()).collect();
    let mut judge = |batch: &[Candidate]| -> Vec<Observation> {
        batch.iter().map(|c| explore::observe_run::<M>(base, c, &target)).collect()
    };
    explore::explore(base, &Kinds::of(base, true), ExploreOptions::new(runs, seed), &mut judge)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scenario_names_keep_the_prefix_and_ron_files_sorted() {
        let files = ["kafka_b.ron", "dynamo_a.ron", "kafka_a.ron", "kafka_notes.md", "kafka.ron"];
        let names = scenario_names(files.iter().map(|s| s.to_string()), "kafka");
        assert_eq!(names, ["kafka", "kafka_a", "kafka_b"]);
    }

    #[test]
    fn sweep_seeds_start_after_the_usual_seed() {
        assert_eq!(sweep_seeds(None, 3), 2..5);
        assert_eq!(sweep_seeds(Some(" 10 "), 3), 2..12);
        assert_eq!(sweep_seeds(Some("0"), 3), 2..2);
    }

    #[test]
    #[should_panic(expected = "a seed count must be a whole number, got `lots`")]
    fn sweep_seeds_refuse_a_typo() {
        sweep_seeds(Some("lots"), 3);
    }
}
