//! Throughput of the Kafka model: one simulated minute of 5 brokers, 12 partitions (RF 3, acks=all,
//! min ISR 2, idempotent producers), 50,000 messages/s from 4 producer clients, with consumers
//! polling (exactly-once) at 1% of the op rate. Run in release:
//! `cargo run -p kafka --release --example kafka_perf [seconds] [rate_per_s]`.
//! Prints the simulated-to-wall-time ratio and events per wall second.

use kafka::{Config, Delivery, Kafka};
use sim_core::scenario::{RunOptions, Scenario, run};

fn main() {
    let seconds: u64 = std::env::args().nth(1).map_or(60, |s| s.parse().expect("seconds"));
    let rate: f64 = std::env::args().nth(2).map_or(50_000.0, |s| s.parse().expect("rate"));
    let text = format!(
        r#"Scenario(
            name: "kafka_perf",
            model: "kafka",
            seed: 1,
            duration: "{seconds}s",
            settle: "1s",
            topology: (servers: 5, clients: 4),
            network: (link: (latency: LogNormal(median: "500us", sigma: 0.3))),
            disk: (latency: LogNormal(median: "1ms", sigma: 0.3)),
            workload: Some((
                ops: [("produce", 0.99), ("poll", 0.01)],
                arrival: OpenLoop(rate_per_s: {rate}),
                keys: Uniform(count: 100000),
            )),
        )"#
    );
    let mut sc: Scenario<Config> = ron::from_str(&text).expect("scenario");
    sc.config =
        Config { partition_count: 12, delivery: Delivery::ExactlyOnce, max_poll_records: 5000, ..Config::default() };
    let problems = sc.validate::<Kafka>();
    assert!(problems.is_empty(), "{problems:?}");
    // Wall time of the whole run, measured outside the simulation.
    #[allow(clippy::disallowed_methods)]
    let wall = std::time::Instant::now();
    // The last progress call comes when the simulation ends; the checkers run after it.
    let mut sim_secs = 0.0;
    let mut progress = |_: sim_core::Time, _: u64, _: sim_core::Time| sim_secs = wall.elapsed().as_secs_f64();
    let out = run::<Kafka>(&sc, RunOptions { progress: Some(&mut progress), ..Default::default() });
    let secs = wall.elapsed().as_secs_f64();
    let r = &out.record;
    let produce = r.op("produce").expect("produce");
    println!("kafka_perf: {seconds} s simulated (+1 s settle) at {rate} ops/s, 5 brokers, 12 partitions");
    println!("  events: {}  wall: {secs:.2} s ({sim_secs:.2} s simulating, the rest in the checkers)", r.events);
    println!(
        "  simulated/wall: {:.1}x  events/s: {:.0} (simulation alone: {:.1}x, {:.0} events/s)",
        r.end_s / secs,
        r.events as f64 / secs,
        r.end_s / sim_secs,
        r.events as f64 / sim_secs
    );
    println!(
        "  produce ok {} (p50 {:.2} ms, p99 {:.2} ms), throughput {:.0}/s",
        produce.ok, produce.latency_ms.p50, produce.latency_ms.p99, produce.throughput_ok_per_s
    );
    for c in &r.model_report.checks {
        println!("  {} {}: {}", if c.passed { "PASS" } else { "FAIL" }, c.name, c.detail);
    }
    for m in ["e2e_latency_p50_ms", "e2e_latency_p99_ms", "consumer_lag_max", "messages_consumed"] {
        println!("  {m} = {}", r.model_report.measures[m]);
    }
}
