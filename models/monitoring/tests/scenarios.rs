//! Every `monitoring` scenario file through the generic driver and the real verdict, and the
//! control of the known-bad one (the same file with the cause removed).

use monitoring::{Config, Monitoring};
use sim_core::Duration;
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

/// Lost samples can also raise a false alert: at seed 61 the direct writes fail
/// `no_false_alerts` beside the declared `no_sample_lost` and `alert_timely` (an alert of host 8
/// for instant 100 s, where the oracle's condition never held), which the scenario's
/// `may_also_fail` allows; without it the run would not fail as declared. At its own seed the
/// false alert does not happen.
#[test]
fn direct_writes_may_also_raise_a_false_alert_as_may_also_fail_allows() {
    let sc = load("monitoring_direct_write");
    assert_eq!(sc.may_also_fail, ["no_false_alerts"]);
    let (_, v) = testkit::run_and_judge::<Monitoring>(&sc, Some(61));
    assert_eq!(v.failed, ["no_sample_lost", "alert_timely", "no_false_alerts"]);
    assert!(v.meets_expectation && v.expectation.contains("as `may_also_fail` allows"), "{}", v.expectation);
    let mut strict = sc.clone();
    strict.may_also_fail.clear();
    let (_, v) = testkit::run_and_judge::<Monitoring>(&strict, Some(61));
    assert!(
        !v.meets_expectation && v.expectation.contains("failed unexpectedly: no_false_alerts"),
        "{}",
        v.expectation
    );
    let (_, v) = testkit::run_and_judge::<Monitoring>(&sc, None);
    assert!(v.meets_expectation && !v.failed.iter().any(|f| f == "no_false_alerts"), "{}", v.expectation);
}

/// Host 5 (n16), in the scheduled incident, crashes at 137.35 s, just before its alert fires at
/// instant 140 s (its cpu was 100, 99 and 96 in the window): the alert is right, and the oracle
/// must know the samples the host emitted before it crashed, whether it comes back (60 s later)
/// or is still down at the end. Found by `simctl explore scenarios/monitoring.ron --target
/// no_false_alerts ...`: the oracle read the samples from the host's own memory, which its crash
/// emptied, and judged the alert false.
#[test]
fn a_host_that_crashes_keeps_what_it_emitted_in_the_oracle() {
    let run = |duration: Option<Duration>| {
        let mut sc = load("monitoring");
        testkit::add_crash(&mut sc, Duration::from_micros(137_350_350), duration, 16);
        testkit::run_and_judge::<Monitoring>(&sc, None)
    };
    let (r, v) = run(Some(Duration::from_secs(60)));
    assert!(v.failed.is_empty(), "failed {:?}", v.failed);
    assert!(measure(&r, "alerts_due") >= 6.0, "{}", measure(&r, "alerts_due"));
    // Down to the end: no alert is false, but host 5's is late (fired at 245 s, due by 225 s):
    // the alert manager evaluates an instant once a sample `grace` past it has arrived, and a
    // dead host sends none (waiting for late data is the design's choice, see the model's doc).
    let (r, v) = run(None);
    assert_eq!(v.failed, ["alert_timely"]);
    assert!(measure(&r, "alerts_due") >= 6.0, "{}", measure(&r, "alerts_due"));
}

/// A collector (n4) crashes for 5 s at 100 s and the alert manager (n10) for 5 s at 200 s: what
/// the collector accepted before its crash is still judged (`no_sample_lost` over every accepted
/// sample), and the alerts fired before the manager's crash still count (the restarted manager
/// fires them again, later: duplicates, not late alerts). Both were the nodes' memory, so the
/// crashes hid the collector's samples from the check and made the manager's alerts look late
/// (found by a review of the checkers' inputs).
#[test]
fn collector_and_alert_manager_crashes_keep_what_they_accepted_and_fired() {
    let run = |crashes: &[(u64, u32)]| {
        let mut sc = load("monitoring");
        for &(at, node) in crashes {
            testkit::add_crash(&mut sc, Duration::from_secs(at), Some(Duration::from_secs(5)), node);
        }
        testkit::run_and_judge::<Monitoring>(&sc, None)
    };
    let (plain, _) = run(&[]);
    let (r, v) = run(&[(100, 4), (200, 10)]);
    assert!(v.failed.is_empty(), "failed {:?}", v.failed);
    // 5 s without n4 costs about 1% of the samples; its first incarnation's were a fifth of
    // all (9,004 judged instead of 11,918 at seed 1 when they died with it).
    assert!(
        measure(&r, "samples_accepted") >= measure(&plain, "samples_accepted") * 0.95,
        "{} against {}",
        measure(&r, "samples_accepted"),
        measure(&plain, "samples_accepted")
    );
    assert!(measure(&r, "alerts_fired") > measure(&plain, "alerts_fired"), "the restart fired again");
}
