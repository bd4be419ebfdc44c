//! Controls for the register's known-bad scenario files: each run as it is (it fails exactly as it
//! declares) and with its cause removed (the named failure is gone, and nothing else fails).

use register::{Config, ReadFrom, Register};
use sim_core::scenario::Scenario;
use sim_core::testkit;

fn load(name: &str) -> Scenario<Config> {
    let path = format!("{}/../../scenarios/{name}.ron", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    testkit::parse_and_validate::<Register>(&path, &text)
}

fn control(name: &str, remove_cause: impl FnOnce(&mut Scenario<Config>), still_failing: &[&str]) -> testkit::Control {
    testkit::control::<Register>(&load(name), remove_cause, still_failing)
}

#[test]
fn control_leader_reads_instead_of_follower_reads_are_fresh() {
    control("register_stale_reads", |sc| sc.config.read_from = ReadFrom::Leader, &[]);
}

#[test]
fn control_fsync_before_the_ack_keeps_writes_through_the_power_loss() {
    let c = control("register_page_cache_acks", |sc| sc.config.fsync = true, &[]);
    // The power loss still happened and still hit the leader: only what it lost differs.
    assert!(c.fixed.faults.iter().all(|f| f.had_effect), "{:?}", c.fixed.faults);
    assert!(testkit::measure(&c.original, "acked_writes") > 0.0);
}

#[test]
#[should_panic(expected = "with its cause removed: `fresh_reads` must be judged and hold")]
fn a_control_that_leaves_the_cause_in_place_fails() {
    control("register_stale_reads", |_| {}, &[]);
}
