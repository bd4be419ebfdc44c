//! Every `jobrec` scenario file through the generic driver and the real verdict, the controls of
//! the known-bad ones, and the runs where each check fails.

use jobrec::{Config, JobRec};
use sim_core::record::RunRecord;
use sim_core::scenario::Scenario;
use sim_core::testkit::{self, check, failed_checks, measure};

fn load(name: &str) -> Scenario<Config> {
    let path = format!("{}/../../scenarios/{name}.ron", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    testkit::parse_and_validate::<JobRec>(&path, &text)
}

fn run(sc: &Scenario<Config>) -> RunRecord {
    testkit::run_record::<JobRec>(sc, None)
}

fn table_row(r: &RunRecord, reason: usize) -> &[f64] {
    let t = r.model_report.tables.iter().find(|t| t.name == "reasons").expect("the reasons table");
    &t.rows[reason]
}

#[test]
fn the_good_run_shows_five_per_reason_without_duplicates_within_the_sla() {
    let (r, _) = testkit::run_as_expected::<JobRec>(&load("jobrec"));
    for name in ["five_per_reason", "no_duplicates", "popularity_fresh"] {
        assert!(check(&r, name).count.judged > 1000, "{name} judged {}", check(&r, name).count.judged);
    }
    assert!(measure(&r, "pages") > 1500.0);
    assert!(measure(&r, "cache_hit_ratio") > 0.95, "{}", measure(&r, "cache_hit_ratio"));
    assert_eq!(measure(&r, "reason_calls_per_open"), 5.0);
    // Applications arrive and pairs become frequent; new jobs reach online followers by long poll.
    assert!(measure(&r, "applications_added") > 100.0);
    assert!(measure(&r, "frequent_pairs") > 100.0);
    let expected = measure(&r, "pushes_expected");
    assert!(expected > 10.0, "{expected}");
    assert_eq!(measure(&r, "pushes_delivered"), expected, "every new job reached every online follower");
    assert!(measure(&r, "push_p99_ms") < 10.0);
    // The popularity list lags the counter by about a refresh interval (250 ms), within 1 s.
    let stale = measure(&r, "popularity_staleness_max_ms");
    assert!(stale > 0.0 && stale < 1000.0, "{stale}");
    // The table: a row per reason, every page answered by each.
    for i in 0..5 {
        assert_eq!(table_row(&r, i)[1], measure(&r, "pages"));
    }
}

/// Control for jobrec_no_cache: the same run with the feed caches on meets the SLA.
#[test]
fn control_no_cache_misses_the_latency_sla_and_the_caches_meet_it() {
    let c = testkit::control::<JobRec>(&load("jobrec_no_cache"), |sc| sc.config.caches = true, &[]);
    assert!(measure(&c.original, "open_p99_ms") > 5.0 * measure(&c.fixed, "open_p99_ms"));
    assert_eq!(measure(&c.original, "cache_hit_ratio"), 0.0);
    // Popularity scans every job's counter on each request.
    assert!(table_row(&c.original, 4)[5] > 2000.0);
    assert!(table_row(&c.fixed, 4)[5] < 1.0);
}

/// Control for jobrec_no_dedup: the same run de-duplicating across reasons shows no job twice.
#[test]
fn control_no_dedup_shows_jobs_twice_and_dedup_removes_them() {
    let c = testkit::control::<JobRec>(&load("jobrec_no_dedup"), |sc| sc.config.dedup = true, &[]);
    assert_eq!(failed_checks(&c.original), vec!["no_duplicates".to_string()]);
    assert!(check(&c.fixed, "no_duplicates").passed);
}

/// `five_per_reason` fails when the page shows 3 a reason (jobrec.ron otherwise).
#[test]
fn five_per_reason_fails_when_the_page_shows_three() {
    let mut sc = load("jobrec");
    sc.config.show = 3;
    let r = run(&sc);
    let c = check(&r, "five_per_reason");
    assert!(!c.passed);
    assert!(c.count.judged > 1000);
    assert!(check(&r, "no_duplicates").passed);
}

/// Seed 2001 of `jobrec.ron` (the sweep of seeds 1990..2030): a page where two reasons answered
/// exactly 5 candidates each, sharing a job; nine distinct jobs cannot show 5 of each. The check
/// failed it until it judged against the best de-duplicated page; now the pair is excused, and
/// every other pair judged.
#[test]
fn five_per_reason_excuses_a_shortfall_no_page_could_avoid() {
    let mut sc = load("jobrec");
    sc.seed = 2001;
    let r = run(&sc);
    let c = check(&r, "five_per_reason");
    assert!(c.passed, "{}", c.detail);
    let excused: u64 = c.count.skipped.iter().filter(|s| s.reason.contains("de-duplication")).map(|s| s.count).sum();
    assert_eq!(excused, 1, "{:?}", c.count.skipped);
    assert!(c.count.judged > 8000);
}

/// `popularity_fresh` fails when the workers refresh the popularity list every 3 s against the 1 s
/// bound (jobrec.ron otherwise), and the lists it judged still equal the counter's top.
#[test]
fn popularity_fresh_fails_when_the_refresh_is_slower_than_the_bound() {
    let mut sc = load("jobrec");
    sc.config.refresh = sim_core::Duration::from_secs(3);
    let r = run(&sc);
    let c = check(&r, "popularity_fresh");
    assert!(!c.passed);
    assert!(measure(&r, "popularity_staleness_max_ms") > 1000.0);
    assert!(check(&r, "five_per_reason").passed);
}

/// Every scenario meets its expectation on seeds 0..20 (slow: set `JOBREC_SWEEP=1`; CI's
/// `simctl sweep` does the same).
#[test]
fn every_scenario_meets_its_expectation_on_20_seeds() {
    if std::env::var_os("JOBREC_SWEEP").is_none() {
        return;
    }
    for name in ["jobrec", "jobrec_no_cache", "jobrec_no_dedup"] {
        let sc = load(name);
        for seed in 0..20 {
            let (r, v) = testkit::run_and_judge::<JobRec>(&sc, Some(seed));
            testkit::assert_meets_expectation(&format!("{name} seed {seed}"), &v);
            if name == "jobrec" {
                eprintln!(
                    "{name} seed {seed}: open p99 {:.2} ms, items/page {:.2}, staleness max {:.0} ms",
                    measure(&r, "open_p99_ms"),
                    measure(&r, "items_per_page_mean"),
                    measure(&r, "popularity_staleness_max_ms")
                );
            } else {
                eprintln!(
                    "{name} seed {seed}: open p99 {:.2} ms, failed {:?}",
                    measure(&r, "open_p99_ms"),
                    failed_checks(&r)
                );
            }
        }
    }
}
