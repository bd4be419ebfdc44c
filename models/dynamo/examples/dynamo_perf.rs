//! Engine speed on the flagship model: one simulated minute of an 8-server Dynamo cluster at
//! 10,000 operations per second (default configuration: N=3, R=2, W=2, gossip, hinted handoff,
//! read repair, anti-entropy all on), then a 5 s liveness phase.
//!
//! `cargo run --release -p dynamo --example dynamo_perf` prints simulated time / wall time and events/s.

use dynamo::{Config, Dynamo};
use sim_core::scenario::{RunOptions, Scenario, run};

const SCENARIO: &str = r#"(
    name: "dynamo_perf",
    model: "dynamo",
    seed: 1,
    duration: "60s",
    settle: "5s",
    topology: (servers: 8, clients: 4),
    network: (link: (latency: LogNormal(median: "1ms", sigma: 0.4))),
    workload: Some((
        ops: [("get", 0.6), ("put", 0.4)],
        arrival: OpenLoop(rate_per_s: 10000.0),
        keys: Uniform(count: 1000000),
    )),
)"#;

// Wall time is measured here, at the edge, never inside the simulation.
#[allow(clippy::disallowed_methods)]
fn main() {
    let sc: Scenario<Config> = ron::from_str(SCENARIO).expect("parse");
    let problems = sc.validate::<Dynamo>();
    assert!(problems.is_empty(), "{problems:?}");
    let t = std::time::Instant::now();
    let out = run::<Dynamo>(&sc, RunOptions::default());
    let wall = t.elapsed().as_secs_f64();
    let rec = &out.record;
    let ops: u64 = rec.ops.iter().map(|o| o.total).sum();
    println!("simulated {:.0} s ({} ops, {} events) in {:.2} s wall", rec.end_s, ops, rec.events, wall);
    println!("simulated/wall = {:.1}x, {:.2} M events/s", rec.end_s / wall, rec.events as f64 / wall / 1e6);
    for c in &rec.model_report.checks {
        println!("  {} {}: {}", c.name, if c.passed { "pass" } else { "FAIL" }, c.detail);
    }
}
