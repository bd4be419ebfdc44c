//! Every `nearby` scenario file through the generic driver and the real verdict, and the control
//! of the known-bad one (the same file with the neighbours read again).

use nearby::{Config, Expand, Nearby};
use sim_core::record::RunRecord;
use sim_core::scenario::Scenario;
use sim_core::testkit::{self, check, failed_checks, measure};

fn load(name: &str) -> Scenario<Config> {
    let path = format!("{}/../../scenarios/{name}.ron", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    testkit::parse_and_validate::<Nearby>(&path, &text)
}

fn run(name: &str) -> RunRecord {
    testkit::run_as_expected::<Nearby>(&load(name)).0
}

/// What both good runs show: exact answers, adds visible at every server, new businesses found.
fn exact_and_live(r: &RunRecord) {
    assert_eq!(measure(r, "recall"), 1.0);
    assert_eq!(measure(r, "precision"), 1.0);
    assert_eq!(measure(r, "shadow_mismatches"), 0.0, "every shadow index agrees with the served one");
    assert!(measure(r, "searches_answered") > 2000.0);
    assert!(measure(r, "within_radius_mean") > 5.0, "searches find businesses");
    assert!(measure(r, "businesses_added") > 20.0);
    assert_eq!(measure(r, "updates_not_applied"), 0.0);
    assert!(measure(r, "searches_finding_new_businesses") > 0.0, "added businesses appear in later searches");
    // One network hop (median 0.5 ms) from the business service to each location server.
    assert!(measure(r, "visibility_max_ms") < 10.0);
}

#[test]
fn the_geohash_index_answers_exactly_within_the_sla() {
    let r = run("nearby");
    exact_and_live(&r);
    // Centre + 8 neighbours: at most 9 cells (fewer at a pole), and the cache serves most of them.
    let cells = measure(&r, "cells_mean");
    assert!((8.0..=9.0).contains(&cells), "cells per query {cells}");
    assert!(measure(&r, "cell_cache_hit_ratio") > 0.5);
    // The 3 x 3 block is larger than the circle: several entries scanned per result.
    assert!(measure(&r, "scanned_per_result") > 2.0);
    let t = r.model_report.tables.iter().find(|t| t.name == "index work per query").expect("the table");
    assert_eq!(t.rows.len(), 5, "served geohash, three fixed precisions, the quadtree");
    assert!(t.rows.iter().all(|row| row[1] == t.rows[0][1]), "every index ran every query");
}

#[test]
fn the_quadtree_answers_exactly_within_the_sla() {
    let r = run("nearby_quadtree");
    exact_and_live(&r);
    assert!(measure(&r, "quadtree_leaves") > 30.0, "3,000 clustered businesses split the tree");
    assert!(measure(&r, "quadtree_fullest_leaf") <= 100.0);
}

/// Control for nearby_center_cell_only: the same file reading the centre cell and its 8
/// neighbours returns every business within the radius.
#[test]
fn control_the_centre_cell_alone_misses_businesses_across_its_edge_and_the_neighbours_find_them() {
    let c = testkit::control::<Nearby>(&load("nearby_center_cell_only"), |s| s.config.expand = Expand::Neighbours, &[]);
    assert_eq!(failed_checks(&c.original), vec!["results_exact".to_string()]);
    let recall = measure(&c.original, "recall");
    assert!(recall < 0.9, "recall {recall}");
    // Nothing outside the radius is returned: the failure is only what was not looked at.
    assert_eq!(measure(&c.original, "precision"), 1.0);
    assert_eq!(measure(&c.original, "cells_mean"), 1.0);
    assert_eq!(measure(&c.fixed, "recall"), 1.0);
    assert!(check(&c.fixed, "results_exact").passed);
}

/// The latency SLA fails on a shipped run: nearby.ron served from precision-6 cells for every
/// radius answers exactly but far too slowly.
#[test]
fn known_bad_a_fine_fixed_precision_reads_dozens_of_cells_and_misses_the_latency_sla() {
    let (r, _) = testkit::run_as_expected::<Nearby>(&load("nearby_fine_precision"));
    assert!(check(&r, "results_exact").passed, "slow, not wrong");
    assert!(measure(&r, "cells_mean") > 50.0, "{}", measure(&r, "cells_mean"));
}

/// Control for nearby_fine_precision: the same run with the precision chosen from the radius
/// (nearby.ron's index) reads 9 cells a search and meets the SLA.
#[test]
fn control_fine_precision_meets_the_sla_with_the_precision_from_the_radius() {
    let c = testkit::control::<Nearby>(
        &load("nearby_fine_precision"),
        |sc| sc.config.index = nearby::Index::Geohash { precision: None },
        &[],
    );
    assert!(measure(&c.fixed, "cells_mean") < 10.0, "{}", measure(&c.fixed, "cells_mean"));
}
