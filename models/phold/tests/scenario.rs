//! The whole driver (scenario file -> nemesis -> main phase -> liveness phase -> report) is a pure
//! function of the scenario and the seed.

use phold::{Config, Phold};
use sim_core::scenario::Scenario;
use sim_core::testkit;

fn load(name: &str) -> Scenario<Config> {
    let path = format!("{}/../../scenarios/{name}.ron", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    testkit::parse_and_validate::<Phold>(&path, &text)
}

fn scenario() -> Scenario<Config> {
    load("phold")
}

fn hash(seed: u64) -> (String, u64) {
    let record = testkit::run_record::<Phold>(&scenario(), Some(seed));
    (record.trace_hash, record.events)
}

#[test]
fn same_seed_same_run_different_seed_different_run() {
    assert_eq!(hash(7), hash(7));
    assert_ne!(hash(7).0, hash(8).0);
}

/// Golden: a change here means runs changed (kernel, event order, or a dependency's random draws).
#[test]
fn golden_scenario_hash() {
    assert_eq!(hash(7), ("819d2c0b648cc8a6".to_string(), 457757));
}

#[test]
fn the_nemesis_faults_had_effect_and_the_population_survives() {
    let (r, verdict) = testkit::run_and_judge::<Phold>(&scenario(), None);
    assert!(r.faults.len() >= 5, "{:?}", r.faults);
    assert!(r.faults.iter().filter(|f| f.label.starts_with("crash")).any(|f| f.had_effect));
    // Crashes drop events in flight to the dead LP, so the population shrinks: the check says so.
    let pop = testkit::check(&r, "population");
    assert!(!pop.passed, "{pop:?}");
    // ... and the scenario expects exactly that failure.
    testkit::assert_meets_expectation("phold", &verdict);
}

#[test]
fn control_without_crashes_and_partitions_the_population_is_conserved() {
    // Crashes drop the events in flight to a dead LP, and a partition the events on a cut link:
    // both destroy events. Pauses only hold them, so they stay in the control.
    let c = testkit::control::<Phold>(
        &load("phold"),
        |sc| {
            let n = sc.faults.nemesis.as_mut().expect("a nemesis");
            n.crashes_per_min = 0.0;
            n.partitions_per_min = 0.0;
        },
        &[],
    );
    assert!(c.fixed.faults.iter().all(|f| f.label.starts_with("pause")), "{:?}", c.fixed.faults);
    assert!(c.fixed.faults.iter().any(|f| f.had_effect), "the pauses held events: {:?}", c.fixed.faults);
}
