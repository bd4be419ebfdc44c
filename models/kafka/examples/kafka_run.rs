//! Runs one Kafka scenario file and prints its checks, measures and counters:
//! `cargo run -p kafka --example kafka_run -- scenarios/kafka_failover.ron [seed]`.

use kafka::{Config, Kafka};
use sim_core::scenario::{RunOptions, Scenario, run};

fn main() {
    let path = std::env::args().nth(1).expect("usage: run <scenario.ron> [seed]");
    let seed = std::env::args().nth(2).map(|s| s.parse().expect("seed"));
    let text = std::fs::read_to_string(&path).expect("read scenario");
    let sc: Scenario<Config> = ron::from_str(&text).expect("parse scenario");
    let problems = sc.validate::<Kafka>();
    assert!(problems.is_empty(), "{problems:?}");
    // Wall time of the whole run, measured outside the simulation.
    #[allow(clippy::disallowed_methods)]
    let wall = std::time::Instant::now();
    let out = run::<Kafka>(&sc, RunOptions { seed, ..Default::default() });
    let secs = wall.elapsed().as_secs_f64();
    let r = &out.record;
    println!("{}: {} events in {secs:.2}s wall, trace {}", r.scenario, r.events, r.trace_hash);
    for f in &r.faults {
        println!("  fault {:.3}-{:?} {}", f.start_s, f.end_s, f.label);
    }
    for c in &r.model_report.checks {
        println!("  {} {}: {}", if c.passed { "PASS" } else { "FAIL" }, c.name, c.detail);
    }
    for o in &r.ops {
        println!(
            "  op {}: ok {} fail {} timeout {} pending {} p50 {:.2}ms p99 {:.2}ms",
            o.kind, o.ok, o.fail, o.timeout, o.pending, o.latency_ms.p50, o.latency_ms.p99
        );
    }
    for (k, v) in &r.model_report.measures {
        println!("  measure {k} = {v}");
    }
    println!("  counters {:?}", r.counters);
    for t in &r.model_report.tables {
        if t.name != "e2e_latency_cdf" {
            println!("  table {} {:?}", t.name, t.rows.iter().take(40).collect::<Vec<_>>());
        }
    }
}
