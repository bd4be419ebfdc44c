//! Every `monitoring` scenario file through the generic driver and the real verdict, and the
//! control of the known-bad one (the same file with the cause removed).

use monitoring::{Config, Monitoring};
use sim_core::record::RunRecord;
use sim_core::scenario::Scenario;
use sim_core::testkit::{self, measure};

fn load(name: &str) -> Scenario<Config> {
    let path = format!("{}/../../scenarios/{name}.ron", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    testkit::parse_and_validate::<Monitoring>(&path, &text)
}

fn check(name: &str) -> RunRecord {
    testkit::run_as_expected::<Monitoring>(&load(name)).0
}

#[test]
fn the_log_keeps_every_sample_through_the_tsdb_outage_and_the_alerts_fire_late_but_in_bound() {
    let r = check("monitoring");
    assert_eq!(measure(&r, "samples_lost"), 0.0);
    assert!(measure(&r, "backlog_max") >= 1000.0, "the outage's samples waited in the log");
    assert!(measure(&r, "catchup_s") > 0.0);
    assert!(measure(&r, "alerts_due") >= 6.0);
    assert_eq!(measure(&r, "alerts_missed"), 0.0);
    // Pull missed short jobs that push delivered.
    assert!(measure(&r, "short_jobs_missed") >= 1.0);
    assert_eq!(measure(&r, "short_jobs_push"), measure(&r, "short_jobs_push_collected"));
}

/// Control for monitoring_direct_write: the same outage with the log between the collectors and
/// the TSDB loses nothing and misses no alert.
#[test]
fn control_the_log_between_collectors_and_tsdb_keeps_the_samples_and_the_alerts() {
    let c = testkit::control::<Monitoring>(&load("monitoring_direct_write"), |sc| sc.config.queue = true, &[]);
    assert!(measure(&c.original, "samples_dropped_by_collectors") >= 1000.0);
    assert!(measure(&c.original, "alerts_missed") >= 1.0);
    assert_eq!(measure(&c.fixed, "samples_lost"), 0.0);
    assert_eq!(measure(&c.fixed, "alerts_missed"), 0.0);
}
