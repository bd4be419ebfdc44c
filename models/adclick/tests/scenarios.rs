//! Every `adclick` scenario file through the generic driver and the real verdict, and the
//! controls of the known-bad ones (the same file with the cause removed).

use adclick::{AdClick, Config};
use sim_core::Duration;
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
    assert!(measure(&r, "minutes_final") >= 3.0);
}

/// Control for adclick_no_snapshot: the same crash with snapshots on is exact.
#[test]
fn control_snapshots_with_their_offsets_keep_counts_exact_through_the_crash() {
    let c = testkit::control::<AdClick>(&load("adclick_no_snapshot"), |sc| sc.config.snapshot.enabled = true, &[]);
    // Without snapshots the store's minutes were rewritten with partial counts.
    assert!(measure(&c.original, "result_rewrites_changed") >= 1.0);
    assert_eq!(measure(&c.original, "snapshots_restored"), 0.0);
    assert!(measure(&c.fixed, "snapshots_restored") >= 1.0);
    // No "rewritten identically" assertion: with snapshots no minute is written twice at all
    // (`result_rewrites` is 0 on seeds 0-7: the snapshots cover every emitted minute), so such an
    // assertion would hold vacuously. Exactness of the fixed run is `counts_exact` and
    // `top100_exact` holding, which `testkit::control` checks.
}

/// Control for adclick_no_dedup: the same duplicates with dedup on are dropped, counted once.
#[test]
fn control_dedup_by_click_id_drops_the_second_copies() {
    let c = testkit::control::<AdClick>(&load("adclick_no_dedup"), |sc| sc.config.dedup = true, &[]);
    assert_eq!(measure(&c.original, "duplicates_dropped"), 0.0);
    assert!(measure(&c.fixed, "duplicates_dropped") >= 100.0);
}

/// The store (node 7: results and snapshots) down for the first 20 s, while the aggregators load
/// their partitions' snapshots: each load times out and is asked again until the store is back,
/// and the clicks read meanwhile wait for it. Found by `simctl explore scenarios/adclick.ron
/// --target counts_exact ...`: a failed load used to revoke and reassign the partition, dropping
/// the clicks already read (not yet committed, so not read again): minute 0's counts came out
/// short (ad 0: 447 of 481 at seed 1).
#[test]
fn a_store_down_during_the_first_loads_loses_no_clicks() {
    let mut sc = load("adclick");
    testkit::add_crash(&mut sc, Duration::from_micros(1_144), Some(Duration::from_secs(20)), 7);
    let (r, v) = testkit::run_and_judge::<AdClick>(&sc, None);
    let plain = check("adclick");
    assert!(
        measure(&r, "snapshot_loads") > measure(&plain, "snapshot_loads"),
        "the loads were retried: {} against {}",
        measure(&r, "snapshot_loads"),
        measure(&plain, "snapshot_loads")
    );
    assert!(v.failed.is_empty(), "failed: {:?}", v.failed);
    assert!(measure(&r, "minutes_final") >= 3.0);
}
