//! Prints the checks and measures of crawler scenario files: `cargo run -p crawler --example dump -- FILE...`.

use crawler::{Config, Crawl};
use sim_core::scenario::{RunOptions, Scenario, run};

fn main() {
    for path in std::env::args().skip(1) {
        let text = std::fs::read_to_string(&path).expect("readable scenario");
        let sc: Scenario<Config> = ron::from_str(&text).expect("a crawler scenario");
        let problems = sc.validate::<Crawl>();
        assert!(problems.is_empty(), "{path}: {problems:?}");
        let out = run::<Crawl>(&sc, RunOptions::default());
        println!("{path}: {} events, trace {}", out.record.events, out.record.trace_hash);
        for c in &out.record.model_report.checks {
            println!("  {} {}: {}", if c.passed { "PASS" } else { "FAIL" }, c.name, c.detail);
        }
        for (k, v) in &out.record.model_report.measures {
            println!("  {k} = {v:.3}");
        }
    }
}
