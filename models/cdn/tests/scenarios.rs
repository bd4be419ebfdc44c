//! Every `cdn` scenario file through the generic driver and the real verdict, and the control:
//! the known-bad run again with its cause removed.

use cdn::{Cdn, Config};
use parts::cache::ReadPathSpec;
use sim_core::scenario::Scenario;
use sim_core::testkit::{self, measure};

fn load(name: &str) -> Scenario<Config> {
    let path = format!("{}/../../scenarios/{name}.ron", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    testkit::parse_and_validate::<Cdn>(&path, &text)
}

#[test]
fn the_shield_cuts_the_origin_load_at_the_same_edge_hit_ratio() {
    let (with, _) = testkit::run_as_expected::<Cdn>(&load("cdn_shield"));
    let (without, _) = testkit::run_as_expected::<Cdn>(&load("cdn_no_shield"));
    let (w, wo) = (measure(&with, "origin_requests_per_s"), measure(&without, "origin_requests_per_s"));
    assert!(wo > 3.0 * w, "origin requests/s: with the shield {w}, without {wo}");
    // The PoPs behave the same either way: the shield changes what is behind them.
    let (ew, ewo) = (measure(&with, "edge_hit_ratio"), measure(&without, "edge_hit_ratio"));
    assert!((ew - ewo).abs() < 0.01, "{ew} {ewo}");
    // Without a shield every PoP miss is an origin request; with one, only the shield's misses.
    assert_eq!(measure(&without, "origin_requests"), measure(&without, "edge_fetches"));
    let shield_misses = measure(&with, "shield_requests") * (1.0 - measure(&with, "shield_hit_ratio"));
    let coalesced = measure(&with, "shield_coalesced");
    assert!((measure(&with, "origin_requests") - (shield_misses - coalesced)).abs() < 1.0);
    assert!(measure(&with, "edge_coalesced") > 0.0, "PoPs coalesced their viewers' misses");
}

/// Control for cdn_no_shield: the shield back (one more server in the origin zone) passes.
#[test]
fn control_no_shield_passes_with_the_shield_back() {
    let mut sc = load("cdn_no_shield");
    let shielded = load("cdn_shield");
    sc.config.cdn.shield = shielded.config.cdn.shield.clone();
    assert!(matches!(sc.config.cdn.shield, Some(ReadPathSpec { single_flight: true, .. })));
    sc.topology = shielded.topology.clone();
    sc.expect = Default::default();
    let (_, v) = testkit::run_and_judge::<Cdn>(&sc, None);
    assert!(v.passed, "{}", testkit::describe_failures(&v));
}
