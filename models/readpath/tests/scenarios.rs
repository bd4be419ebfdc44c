//! Every `readpath` scenario file through the generic driver and the real verdict, and the
//! controls: each known-bad run again with its cause removed.

use parts::cache::Mode;
use readpath::{Config, ReadPathModel};
use sim_core::Duration;
use sim_core::scenario::Scenario;
use sim_core::testkit::{self, measure};

fn load(name: &str) -> Scenario<Config> {
    let path = format!("{}/../../scenarios/{name}.ron", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    testkit::parse_and_validate::<ReadPathModel>(&path, &text)
}

/// The stampede and its fix, and the control: the known-bad file with only `single_flight`
/// switched on passes.
#[test]
fn single_flight_turns_the_stampede_into_one_query_per_expiry() {
    let (bad, _) = testkit::run_as_expected::<ReadPathModel>(&load("readpath_stampede"));
    let (good, _) = testkit::run_as_expected::<ReadPathModel>(&load("readpath_single_flight"));
    // Without coalescing: a burst of identical queries at each expiry of the hot key.
    assert!(measure(&bad, "db_hot_key_reads_per_burst") >= 5.0, "{:?}", bad.model_report.measures);
    assert!(measure(&bad, "db_key_concurrency_max") >= 5.0);
    // With it: one query per expiry, as many as the key's expiries, and the misses wait instead.
    assert_eq!(measure(&good, "db_hot_key_reads_per_burst"), 1.0);
    assert_eq!(measure(&good, "db_key_concurrency_max"), 1.0);
    assert!(measure(&good, "cache_coalesced") > 0.0);
    let (b, g) = (measure(&bad, "db_hot_key_reads"), measure(&good, "db_hot_key_reads"));
    assert!(b >= 5.0 * g, "database reads of the hot key: without single-flight {b}, with {g}");
    assert_eq!(g, measure(&good, "db_hot_key_bursts"));
    // The hit ratio is the same either way: coalescing saves the database, not the cache.
    let (hb, hg) = (measure(&bad, "cache_hit_ratio"), measure(&good, "cache_hit_ratio"));
    assert!((hb - hg).abs() < 0.005 && hg > 0.95, "{hb} {hg}");

    let mut control = load("readpath_stampede");
    control.config.read_path.single_flight = true;
    control.expect = Default::default();
    let (_, v) = testkit::run_and_judge::<ReadPathModel>(&control, None);
    assert!(v.passed, "{}", testkit::describe_failures(&v));
}

#[test]
fn early_refresh_keeps_the_hot_key_from_expiring() {
    let (with, _) = testkit::run_as_expected::<ReadPathModel>(&load("readpath_early_refresh"));
    let mut without = load("readpath_early_refresh");
    without.config.read_path.early_refresh = None;
    let (without, v) = testkit::run_and_judge::<ReadPathModel>(&without, None);
    assert!(v.failed.contains(&"measure.hot_key_misses".to_string()), "{:?}", v.failed);
    let (w, wo) = (measure(&with, "hot_key_misses"), measure(&without, "hot_key_misses"));
    assert!(wo >= 4.0 * w, "misses of the hot key: with early refresh {w}, without {wo}");
    assert!(measure(&with, "cache_refreshes") >= 10.0);
    // Negative caching and LFU under the byte capacity were exercised.
    assert!(measure(&with, "cache_negative_hits") > 0.0);
    assert!(measure(&with, "cache_evictions") > 0.0);
}

/// Control for readpath_write_around: a TTL bounds the staleness; read-through (writes delete,
/// overtaken fetches are dropped) has none beyond a fetch time even without a TTL; cache-aside
/// without a TTL is caught by its race (a fetch that read the old row fills the cache after the
/// write's delete).
#[test]
fn staleness_is_bounded_by_the_ttl_or_by_the_mode() {
    let (bad, _) = testkit::run_as_expected::<ReadPathModel>(&load("readpath_write_around"));
    assert!(measure(&bad, "stale_reads") > 100.0, "{:?}", bad.model_report.measures);

    let mut ttl = load("readpath_write_around");
    ttl.config.read_path.cache.ttl = Some(Duration::from_secs(5));
    ttl.expect = Default::default();
    let (r, v) = testkit::run_and_judge::<ReadPathModel>(&ttl, None);
    assert!(v.passed, "{}", testkit::describe_failures(&v));
    assert!(measure(&r, "stale_reads") > 0.0, "write-around is still stale, within the TTL");

    let mut read_through = load("readpath_write_around");
    read_through.config.read_path.mode = Mode::ReadThrough;
    read_through.expect = Default::default();
    let (r, v) = testkit::run_and_judge::<ReadPathModel>(&read_through, None);
    assert!(v.passed, "{}", testkit::describe_failures(&v));
    assert!(measure(&r, "cache_dropped_fills") > 0.0);

    let mut cache_aside = load("readpath_write_around");
    cache_aside.config.read_path.mode = Mode::CacheAside;
    let (r, v) = testkit::run_and_judge::<ReadPathModel>(&cache_aside, None);
    assert!(measure(&r, "cache_racy_fills") > 0.0);
    assert_eq!(v.failed, ["staleness_bounded"], "{:?}", r.model_report.measures);
}

// Controls (`testkit::control`): each known-bad file run again with only its cause removed.

#[test]
fn control_single_flight_coalesces_the_stampede() {
    testkit::control::<ReadPathModel>(&load("readpath_stampede"), |sc| sc.config.read_path.single_flight = true, &[]);
}

#[test]
fn control_a_ttl_bounds_the_write_around_staleness() {
    testkit::control::<ReadPathModel>(
        &load("readpath_write_around"),
        |sc| sc.config.read_path.cache.ttl = Some(Duration::from_secs(5)),
        &[],
    );
}
