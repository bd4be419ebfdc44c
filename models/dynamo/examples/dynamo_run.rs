//! Runs one `dynamo` scenario file and prints its operations, checks and measures.
//!
//! `cargo run -p dynamo --example dynamo_run -- scenarios/dynamo_partition.ron [seed]`

use dynamo::{Config, Dynamo};
use sim_core::scenario::{RunOptions, Scenario, run};

// Wall time is measured here, at the edge, never inside the simulation.
#[allow(clippy::disallowed_methods)]
fn main() {
    let args: Vec<String> = std::env::args().collect();
    let path = args.get(1).expect("usage: run <scenario.ron> [seed]");
    let text = std::fs::read_to_string(path).expect("read scenario");
    let sc: Scenario<Config> = ron::from_str(&text).expect("parse scenario");
    let problems = sc.validate::<Dynamo>();
    assert!(problems.is_empty(), "{problems:?}");
    let seed = args.get(2).map(|s| s.parse().expect("seed"));
    let t = std::time::Instant::now();
    let out = run::<Dynamo>(&sc, RunOptions { seed, ..Default::default() });
    let wall = t.elapsed().as_secs_f64();
    let rec = &out.record;
    println!("{} seed {} events {} wall {:.2}s hash {}", rec.scenario, rec.seed, rec.events, wall, rec.trace_hash);
    for o in &rec.ops {
        println!(
            "  {:4} total {} ok {} fail {} timeout {} pending {} avail {:.4} in_faults {:?} outside {:?} p50 {:.2}ms p99 {:.2}ms p999 {:.2}ms",
            o.kind,
            o.total,
            o.ok,
            o.fail,
            o.timeout,
            o.pending,
            o.availability,
            o.availability_in_faults,
            o.availability_outside_faults,
            o.latency_ms.p50,
            o.latency_ms.p99,
            o.latency_ms.p999
        );
    }
    for c in &rec.model_report.checks {
        println!("  check {} {}: {}", c.name, if c.passed { "PASS" } else { "FAIL" }, c.detail);
    }
    for (k, v) in &rec.model_report.measures {
        println!("  measure {k} = {v:.4}");
    }
    for t in &rec.model_report.tables {
        println!("  table {} {:?}", t.name, t.columns);
        for r in &t.rows {
            println!("    {r:?}");
        }
    }
    for (k, v) in &rec.counters {
        println!("  counter {k} = {v}");
    }
}
