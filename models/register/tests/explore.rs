//! `simctl explore` on the register's rare-by-construction scenario: the search finds the narrow
//! window (a power loss of the leader within ~15 ms of an acknowledged write), the found run
//! replays, the search is deterministic, and on the control (synced acknowledgements) it finds
//! nothing with the same budget. The comparison with random seeds is a measurement, not a test:
//! `simctl explore scenarios/explore/register_rare_power_loss.ron --compare 9` (README.md).

use register::{Config, Register};
use sim_core::explore::Explored;
use sim_core::scenario::{self, RunOptions, Scenario};
use sim_core::testkit;
use sim_core::verdict;

fn load(name: &str) -> Scenario<Config> {
    let path = format!("{}/../../scenarios/explore/{name}.ron", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    testkit::parse_and_validate::<Register>(&path, &text)
}

const TARGET: [&str; 2] = ["durable_writes", "fresh_reads"];
const BUDGET: u32 = 160;

fn search(base: &Scenario<Config>, seed: u64) -> Explored {
    testkit::explore::<Register>(base, &TARGET, BUDGET, seed)
}

#[test]
fn explore_finds_the_rare_power_loss_and_the_found_run_replays() {
    let base = load("register_rare_power_loss");
    let found = search(&base, 0);
    let (cand, at, failed) = found.found.clone().expect("the search finds the rare failure within the budget");
    assert!(at <= BUDGET && failed.iter().any(|f| f == "durable_writes"), "run {at}: {failed:?}");
    assert!(found.coverage > 0 && found.corpus > 0, "{found:?}");
    // The found run is a plain scenario: run again, it fails the same way.
    let sc = cand.apply(&base);
    assert!(sc.validate::<Register>().is_empty());
    let out = scenario::run::<Register>(&sc, RunOptions::default());
    let judged = verdict::judge(&sc, &out.record);
    assert_eq!(judged.failed, failed, "the found run replays");
    // Determinism of the search: the same explore seed and budget give the same result.
    let again = search(&base, 0);
    assert_eq!(again.found.map(|f| (f.0, f.1)), Some((cand, at)));
    assert_eq!((again.runs, again.coverage, again.corpus), (found.runs, found.coverage, found.corpus));
}

#[test]
fn control_register_rare_power_loss_synced_acks_leave_nothing_to_find() {
    let base = load("register_rare_power_loss_control");
    let r = search(&base, 0);
    assert!(r.found.is_none(), "found {:?}", r.found);
    assert_eq!(r.runs, BUDGET, "the whole budget was spent");
    assert!(r.coverage > 0, "the runs were judged: {r:?}");
}
