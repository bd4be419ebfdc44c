//! Every `adclick` scenario file through the generic driver and the real verdict, and the
//! controls of the known-bad ones (the same file with the cause removed).

use adclick::{AdClick, Config};
use sim_core::record::RunRecord;
use sim_core::scenario::Scenario;
use sim_core::testkit::{self, measure};

fn load(name: &str) -> Scenario<Config> {
    let path = format!("{}/../../scenarios/{name}.ron", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    testkit::parse_and_validate::<AdClick>(&path, &text)
}

fn check(name: &str) -> RunRecord {
    testkit::run_as_expected::<AdClick>(&load(name)).0
}

#[test]
fn counts_stay_exact_through_a_crash_duplicates_and_late_clicks() {
    let r = check("adclick");
    assert!(measure(&r, "snapshots_restored") >= 1.0, "the crash moved partitions, restored from snapshots");
    assert!(measure(&r, "late_dropped") >= 1.0);
    assert!(measure(&r, "duplicates_dropped") >= 1.0);
    assert!(measure(&r, "minutes_final") >= 5.0);
}
