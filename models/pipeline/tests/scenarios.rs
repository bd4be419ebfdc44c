//! Every `pipeline` scenario file through the generic driver and the real verdict, with the
//! numbers that make each one's point, and the controls: each known-bad run again with its cause
//! removed.

use pipeline::{Config, Pipeline};
use sim_core::Duration;
use sim_core::record::RunRecord;
use sim_core::scenario::Scenario;
use sim_core::testkit::{self, failed_checks, measure};

fn load(name: &str) -> Scenario<Config> {
    let path = format!("{}/../../scenarios/{name}.ron", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    testkit::parse_and_validate::<Pipeline>(&path, &text)
}

/// Runs a scenario file and asserts its verdict is what the file expects.
fn check(name: &str) -> RunRecord {
    testkit::run_as_expected::<Pipeline>(&load(name)).0
}

#[test]
fn a_healthy_pipeline_processes_every_record_and_sizes_the_pool_to_the_load() {
    let r = check("pipeline");
    assert_eq!(measure(&r, "missing"), 0.0);
    assert_eq!(measure(&r, "processed"), measure(&r, "acked"));
    // 200 events/s at 20 ms each is 4 workers' worth; the scaler keeps 5-7 (12 partitions do not
    // split evenly over 5, so the busiest worker runs hotter than the mean).
    let w = measure(&r, "workers_mean");
    assert!((4.5..8.0).contains(&w), "workers_mean {w}");
    let u = measure(&r, "utilisation");
    assert!((0.5..0.85).contains(&u), "utilisation {u}");
    // Each scale event rebalances the group: the moved partitions' uncommitted records come again.
    assert_eq!(measure(&r, "duplicates"), measure(&r, "redelivered") + measure(&r, "log_duplicates"));
}

#[test]
fn a_broker_crash_within_the_replication_settings_loses_nothing() {
    let r = check("pipeline_broker_crash");
    assert_eq!(measure(&r, "missing"), 0.0);
    assert_eq!(measure(&r, "produce_failed"), 0.0);
    assert!(measure(&r, "elections") > 12.0, "failovers beyond the 12 initial elections");
    assert!(measure(&r, "produce_retries") > 10.0, "producers retried onto the new leaders");
}

#[test]
fn autoscaling_absorbs_a_flash_crowd_that_a_fixed_pool_sized_for_the_average_does_not() {
    let auto = check("pipeline_flash_crowd");
    let fixed = check("pipeline_flash_crowd_fixed");
    // Both deliver everything; the fixed pool delivers it late.
    assert_eq!(failed_checks(&fixed), Vec::<String>::new());
    assert_eq!((measure(&auto, "missing"), measure(&fixed, "missing")), (0.0, 0.0));
    let (a, f) = (measure(&auto, "e2e_p99_ms"), measure(&fixed, "e2e_p99_ms"));
    assert!(f > 3.0 * a, "end-to-end p99: autoscaled {a} ms, fixed {f} ms");
    let (a, f) = (measure(&auto, "lag_max"), measure(&fixed, "lag_max"));
    assert!(f > 2.0 * a, "peak lag: autoscaled {a}, fixed {f}");
    assert_eq!(measure(&auto, "workers_max"), 12.0);
    assert_eq!(measure(&fixed, "workers_max"), 6.0);
    // The autoscaled pool paid for it with fewer worker-seconds than the peak would need for the
    // whole run.
    assert!(measure(&auto, "workers_mean") < 10.0);
}

#[test]
fn a_consumer_crash_redelivers_what_it_had_not_committed_and_loses_nothing() {
    let r = check("pipeline_consumer_crash");
    assert_eq!(measure(&r, "missing"), 0.0);
    let base = check("pipeline");
    // The crash adds redeliveries beyond the rebalances of scaling.
    assert!(measure(&r, "redelivered") > measure(&base, "redelivered"));
    assert_eq!(measure(&r, "workers_lost"), 1.0);
}

#[test]
fn retention_shorter_than_the_backlog_loses_records_and_a_long_one_does_not() {
    let bad = check("pipeline_retention_loss");
    let lost = measure(&bad, "lost_to_retention");
    assert!(lost > 0.0);
    assert_eq!(measure(&bad, "missing"), lost, "what was skipped is exactly what was never processed");
    // The control: the same run keeping records for 10 minutes.
    let mut sc = load("pipeline_retention_loss");
    sc.config.log.topics[0].retention.time = Some(Duration::from_secs(600));
    sc.slas.clear();
    let (r, v) = testkit::run_and_judge::<Pipeline>(&sc, None);
    testkit::assert_passes("pipeline_retention_loss with 10 min retention", &v);
    assert_eq!((measure(&r, "lost_to_retention"), measure(&r, "missing")), (0.0, 0.0));
}

#[test]
fn an_unclean_election_loses_acknowledged_records_and_a_clean_one_waits_instead() {
    let bad = check("pipeline_unclean_election");
    assert!(measure(&bad, "unclean_elections") > 0.0);
    assert!(measure(&bad, "missing") > 0.0);
    // The control: the same run without unclean election. The dead leader's partitions stay
    // offline until it is back (their produces are retried, some give up), and nothing is lost.
    let mut sc = load("pipeline_unclean_election");
    sc.config.log.unclean_election = false;
    sc.slas.clear();
    let (r, v) = testkit::run_and_judge::<Pipeline>(&sc, None);
    testkit::assert_passes("pipeline_unclean_election without unclean election", &v);
    assert_eq!(measure(&r, "unclean_elections"), 0.0);
    assert!(measure(&r, "offline_max") >= 1.0);
}

#[test]
fn runs_are_deterministic() {
    let sc = load("pipeline_consumer_crash");
    let a = testkit::run_record::<Pipeline>(&sc, None);
    testkit::assert_same_run(&a, &testkit::run_record::<Pipeline>(&sc, None));
}

#[test]
fn bad_config_is_reported_with_its_path() {
    let mut sc = load("pipeline");
    sc.config.log.acks = 4;
    sc.config.scaler.max = 20;
    sc.config.worker.concurrency = 0;
    let paths: Vec<String> = sc.validate::<Pipeline>().into_iter().map(|p| p.path).collect();
    for p in ["config.log.acks", "config.scaler.max", "config.worker.concurrency"] {
        assert!(paths.contains(&p.to_string()), "{p} in {paths:?}");
    }
    sc.topology.servers = 5;
    let paths: Vec<String> = sc.validate::<Pipeline>().into_iter().map(|p| p.path).collect();
    assert!(paths.contains(&"topology.servers".to_string()), "{paths:?}");
}

/// Every pipeline scenario keeps its expected verdict over more seeds (3 by default; set
/// `SIMCTL_SWEEP_SEEDS` for a longer sweep).
#[test]
fn expected_verdicts_hold_over_a_seed_sweep() {
    let dir = std::fs::read_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/../../scenarios")).expect("scenarios");
    let names = testkit::scenario_names(dir.filter_map(|e| e.ok()?.file_name().into_string().ok()), "pipeline");
    assert!(names.len() >= 7, "{names:?}");
    let seeds = testkit::sweep_seeds(std::env::var("SIMCTL_SWEEP_SEEDS").ok().as_deref(), 3);
    testkit::assert_expectations_over_seeds::<Pipeline>(&names.iter().map(|n| load(n)).collect::<Vec<_>>(), seeds);
}

// Controls (`testkit::control`): each known-bad file run again with only its cause removed; the
// failures it declares must be judged and hold, and nothing else may fail.

#[test]
fn control_the_autoscaler_absorbs_the_crowd_the_fixed_pool_could_not() {
    let good = load("pipeline_flash_crowd").config.scaler;
    testkit::control::<Pipeline>(&load("pipeline_flash_crowd_fixed"), |sc| sc.config.scaler = good, &[]);
}

#[test]
fn control_ten_minutes_of_retention_lose_nothing() {
    // The scenario's SLAs size the backlog for the loss; with nothing deleted they do not apply.
    testkit::control::<Pipeline>(
        &load("pipeline_retention_loss"),
        |sc| {
            sc.config.log.topics[0].retention.time = Some(Duration::from_secs(600));
            sc.slas.clear();
        },
        &[],
    );
}

#[test]
fn control_a_clean_election_waits_and_loses_nothing() {
    // Without unclean election the dead leader's partitions stay offline until it is back, so
    // the SLAs on produce availability are dropped: the control is about loss, not availability.
    testkit::control::<Pipeline>(
        &load("pipeline_unclean_election"),
        |sc| {
            sc.config.log.unclean_election = false;
            sc.slas.clear();
        },
        &[],
    );
}
