//! `simctl explore` on Kafka's rare-by-construction scenario (acks=1; a leader crash must land in
//! the ~9.5 ms between the producer's acknowledgement and the follower's copy): the search, guided
//! by the brokers' fingerprints, finds it within a budget that random seeds (about 0.15% of seeds
//! fail) rarely reach; the found run replays; the search is deterministic; on the control
//! (acks=all) it finds nothing. The comparison with random seeds is a measurement, not a test:
//! `simctl explore scenarios/explore/kafka_rare_acks1_crash.ron --compare 9 --runs 3000`.

use kafka::{Config, Kafka};
use sim_core::explore::Explored;
use sim_core::scenario::{self, RunOptions, Scenario};
use sim_core::testkit;
use sim_core::verdict;

fn load(name: &str) -> Scenario<Config> {
    let path = format!("{}/../../scenarios/explore/{name}.ron", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    testkit::parse_and_validate::<Kafka>(&path, &text)
}

const BUDGET: u32 = 160;

fn search(base: &Scenario<Config>, seed: u64) -> Explored {
    testkit::explore::<Kafka>(base, &["no_acked_loss"], BUDGET, seed)
}

#[test]
fn explore_finds_the_crash_between_an_acks1_write_and_its_replication() {
    let base = load("kafka_rare_acks1_crash");
    let found = search(&base, 0);
    let (cand, at, failed) = found.found.clone().expect("the search finds the rare failure within the budget");
    assert!(at <= BUDGET && failed.iter().any(|f| f == "no_acked_loss"), "run {at}: {failed:?}");
    assert!(found.coverage > 0 && found.corpus > 0, "{found:?}");
    let sc = cand.apply(&base);
    let out = scenario::run::<Kafka>(&sc, RunOptions::default());
    assert_eq!(verdict::judge(&sc, &out.record).failed, failed, "the found run replays");
    let again = search(&base, 0);
    assert_eq!(again.found.map(|f| (f.0, f.1)), Some((cand, at)), "the same seed and budget, the same result");
}

#[test]
fn control_kafka_rare_acks1_crash_acks_all_leaves_nothing_to_find() {
    let base = load("kafka_rare_acks1_crash_control");
    let r = search(&base, 0);
    assert!(r.found.is_none(), "found {:?}", r.found);
    assert_eq!(r.runs, BUDGET, "the whole budget was spent");
    assert!(r.coverage > 0, "the runs were judged: {r:?}");
}
