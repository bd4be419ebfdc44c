//! Every Kafka scenario file, run through the generic driver and judged by the real verdict: the
//! good ones pass, each known-bad one fails exactly the checks it names; plus the companions that
//! show which knob fixes what.

use kafka::{Config, Kafka};
use sim_core::record::RunRecord;
use sim_core::scenario::Scenario;
use sim_core::testkit::{self, check, measure};
use sim_core::{Duration, Model, Topology};

fn load(name: &str) -> Scenario<Config> {
    let path = format!("{}/../../scenarios/{name}.ron", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    testkit::parse_and_validate::<Kafka>(&path, &text)
}

fn exec(sc: &Scenario<Config>) -> RunRecord {
    testkit::run_record::<Kafka>(sc, None)
}

/// Runs a scenario file and asserts its `expect`; returns the record for further checks.
fn verdict(name: &str) -> RunRecord {
    testkit::run_as_expected::<Kafka>(&load(name)).0
}

/// Runs a variant of a scenario (a knob changed) and asserts every check it counts passes.
fn passes(sc: &Scenario<Config>) -> RunRecord {
    let (r, verdict) = testkit::run_and_judge::<Kafka>(sc, None);
    testkit::assert_passes(&sc.name, &verdict);
    r
}

#[test]
fn failover_loses_nothing_through_crashes_partition_and_controller_failover() {
    let r = verdict("kafka_failover");
    assert!(measure(&r, "acked_messages") > 30_000.0);
    assert_eq!(measure(&r, "acked_lost"), 0.0);
    // The faults really happened: leaders moved, the controller failed over and came back, a
    // follower left the ISR and rejoined, and the paused leader truncated its unreplicated tail.
    assert!(measure(&r, "leader_changes") >= 4.0);
    assert!(measure(&r, "controller_changes") >= 3.0);
    assert!(measure(&r, "isr_shrinks") >= 1.0 && measure(&r, "isr_expands") >= 1.0);
    assert!(measure(&r, "truncations") >= 1.0);
    assert!(measure(&r, "recovered_entries") >= 1000.0, "restarted brokers read their logs back from disk");
    // The events are on the time axis, inside the run.
    for t in ["leader_changes", "isr_changes", "truncations", "controller_changes"] {
        let table = r.model_report.tables.iter().find(|x| x.name == t).expect("table");
        assert!(!table.rows.is_empty(), "{t} is empty");
        assert!(table.rows.iter().all(|row| row[0] >= 0.0 && row[0] <= r.end_s), "{t} times out of range");
    }
    // Consumers read everything the producers got acknowledged (exactly-once, no lag left).
    assert!(measure(&r, "messages_consumed") >= 0.99 * measure(&r, "acked_messages"));
    assert!(measure(&r, "e2e_latency_p50_ms") > 0.0);
    assert!(measure(&r, "e2e_latency_p99_ms") >= measure(&r, "e2e_latency_p50_ms"));
}

/// The safe configuration under a random nemesis, over several seeds: every check passes, and
/// the faults did bite (leaders moved, brokers restarted, replicas truncated).
#[test]
fn nemesis_runs_lose_nothing() {
    verdict("kafka_nemesis");
    let sc = load("kafka_nemesis");
    for seed in 2..6 {
        let r = testkit::run_record::<Kafka>(&sc, Some(seed));
        assert!(testkit::failed_checks(&r).is_empty(), "seed {seed}: {:#?}", r.model_report.checks);
        assert!(measure(&r, "leader_changes") >= 3.0, "seed {seed}");
        assert!(measure(&r, "recovered_entries") >= 1.0, "seed {seed}");
    }
}

#[test]
fn acks_one_loses_acknowledged_messages_on_leader_crash() {
    let r = verdict("kafka_acks1_loss");
    assert!(measure(&r, "acked_lost") >= 1.0);
    assert!(measure(&r, "leader_changes") >= 2.0, "both crashes moved a leader");
    // The same faults with acks=all lose nothing.
    let mut sc = load("kafka_acks1_loss");
    sc.config.acks = kafka::Acks::All;
    let fixed = exec(&sc);
    assert!(check(&fixed, "no_acked_loss").passed, "{}", check(&fixed, "no_acked_loss").detail);
}

#[test]
fn unclean_election_loses_committed_messages_and_clean_election_does_not() {
    let r = verdict("kafka_unclean_election");
    assert!(measure(&r, "acked_lost") >= 100.0);
    let mut sc = load("kafka_unclean_election");
    sc.config.unclean_leader_election = false;
    passes(&sc);
}

#[test]
fn split_brain_without_fencing_loses_acked_writes_and_fencing_prevents_it() {
    let r = verdict("kafka_split_brain");
    assert!(measure(&r, "acked_lost") >= 10.0);
    let mut sc = load("kafka_split_brain");
    sc.config.epoch_fencing = true;
    passes(&sc);
}

#[test]
fn at_least_once_duplicates_after_a_consumer_crash() {
    let r = verdict("kafka_at_least_once_dupes");
    assert!(measure(&r, "duplicates_delivered") >= 1.0);
    assert_eq!(measure(&r, "duplicates_in_log"), 0.0, "the idempotent producer wrote no copies");
    assert_eq!(measure(&r, "messages_skipped"), 0.0, "at-least-once loses nothing");
    assert!(measure(&r, "rebalances") >= 2.0);
}

/// At-most-once, same crashes: offsets are committed before processing, so what a crashed
/// consumer was processing is never delivered by anyone (skipped), and nothing is delivered twice.
#[test]
fn at_most_once_skips_instead_of_duplicating() {
    let mut sc = load("kafka_at_least_once_dupes");
    sc.config.delivery = kafka::Delivery::AtMostOnce;
    sc.config.processing_time = Duration::from_millis(20);
    let r = exec(&sc);
    assert!(check(&r, "no_duplicates").passed, "{}", check(&r, "no_duplicates").detail);
    assert!(measure(&r, "messages_skipped") >= 1.0);
}

#[test]
fn exactly_once_has_no_duplicates_under_the_same_crashes() {
    let r = verdict("kafka_exactly_once");
    assert_eq!(measure(&r, "duplicates_delivered"), 0.0);
    assert_eq!(measure(&r, "messages_skipped"), 0.0);
    assert!(measure(&r, "rebalances") >= 2.0, "the consumer crashes did force rebalances");
    assert!(measure(&r, "messages_consumed") > 10_000.0);
}

#[test]
fn several_requests_in_flight_without_idempotence_reorder_and_duplicate() {
    let r = verdict("kafka_in_flight_reorder");
    assert!(check(&r, "order").detail.contains("client n"), "{}", check(&r, "order").detail);
    assert!(measure(&r, "duplicates_in_log") >= 1.0);
    // The idempotent producer keeps order with the same five requests in flight.
    let mut sc = load("kafka_in_flight_reorder");
    sc.config.idempotent = true;
    passes(&sc);
}

#[test]
fn same_seed_same_run_and_another_seed_another_run() {
    let sc = load("kafka_failover");
    let a = exec(&sc);
    testkit::assert_same_run(&a, &exec(&sc));
    let c = testkit::run_record::<Kafka>(&sc, Some(sc.seed + 1));
    assert_ne!(a.trace_hash, c.trace_hash);
}

/// With no liveness phase, a broker that crashed near the end has no time to catch up: the
/// convergence check fails on a real run (and passes on the same run given time to heal).
#[test]
fn convergence_fails_without_time_to_heal() {
    let mut sc = load("kafka_exactly_once");
    sc.faults.schedule = vec![sim_core::fault::ScheduledFault {
        at: Duration::from_secs(15),
        duration: None,
        fault: sim_core::fault::Fault::Crash { node: 2, power_loss: false, corrupt_unsynced: 0.0 },
    }];
    sc.settle = Duration::ZERO;
    let r = exec(&sc);
    assert!(!check(&r, "convergence").passed, "{}", check(&r, "convergence").detail);
    sc.settle = Duration::from_secs(3);
    let r = exec(&sc);
    assert!(check(&r, "convergence").passed, "{}", check(&r, "convergence").detail);
}

/// Without the idempotent producer, retried batches whose first attempt landed are written twice:
/// `no_duplicates` fails on the log even with exactly-once consumers.
#[test]
fn retries_without_idempotence_write_duplicates() {
    let mut sc = load("kafka_failover");
    sc.config.idempotent = false;
    sc.config.request_timeout = Duration::from_millis(20);
    let r = exec(&sc);
    assert!(measure(&r, "duplicates_in_log") >= 1.0, "{}", check(&r, "no_duplicates").detail);
    assert!(!check(&r, "no_duplicates").passed);
}

#[test]
fn bad_config_names_the_field() {
    let topo = Topology::simple(3, 2);
    let c = Config { replication_factor: 4, min_insync_replicas: 0, ..Config::default() };
    let e = Kafka::validate(&c, &topo);
    let paths: Vec<&str> = e.iter().map(|(p, _)| p.as_str()).collect();
    assert!(paths.contains(&"config.replication_factor"), "{e:?}");
    assert!(paths.contains(&"config.min_insync_replicas"), "{e:?}");
    let c = Config { acks: kafka::Acks::One, idempotent: true, ..Config::default() };
    assert!(Kafka::validate(&c, &topo).iter().any(|(p, _)| p == "config.idempotent"));
    assert!(Kafka::validate(&Config::default(), &topo).is_empty());
}

/// Every good kafka scenario has a progress condition, and it fails when every server is down (a
/// run that passes its safety checks by doing nothing must not pass).
#[test]
fn good_scenarios_fail_their_progress_conditions_with_every_server_down() {
    let dir = std::fs::read_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/../../scenarios")).expect("scenarios");
    let names = testkit::scenario_names(dir.filter_map(|e| e.ok()?.file_name().into_string().ok()), "kafka");
    let scenarios: Vec<Scenario<Config>> = names.iter().map(|n| load(n)).collect();
    assert!(testkit::assert_good_scenarios_need_progress::<Kafka>(&scenarios) >= 3);
}

/// `all_consumed` fails on a run where consumers fall behind for good: one record per poll cannot
/// keep up with the producers, so acknowledged messages are never consumed (not a vacuous failure).
#[test]
fn all_consumed_fails_when_consumers_fall_behind() {
    let mut sc = load("kafka_exactly_once");
    sc.config.max_poll_records = 1;
    let r = exec(&sc);
    let c = check(&r, "all_consumed");
    assert!(!c.passed && c.count.judged > 1000 && c.count.violations > Some(1000), "{c:?}");
    // The scenario as shipped consumes everything it owes.
    let r = exec(&load("kafka_exactly_once"));
    assert!(check(&r, "all_consumed").passed, "{:?}", check(&r, "all_consumed"));
}
