//! Times one run of a dynamo scenario file by phase, without building the whole CLI:
//! `cargo run --release -p dynamo --example phases -- FILE [SEED] [DURATION_S] [KEYS] [SERVERS]`
//! (`DURATION_S`: the main phase in seconds, 0 for the file's; `KEYS`: a Zipf(count: KEYS,
//! s: 0.9) key choice, 0 for the file's; `SERVERS`: the servers, 0 for the file's). Prints the
//! events, the trace hash, the simulation's and the rest's (report, record, teardown) wall
//! times, the peak RSS, and every check (with `PHASES_FULL` set, every measure, table and figure). Also usable under `valgrind --tool=callgrind`.

use dynamo::{Config, Dynamo};
use sim_core::scenario::{RunOptions, Scenario, run};
use sim_core::workload::Keys;
use std::time::Instant;

fn peak_rss_kb() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

// A timing tool at the edge (like `simctl bench`): it reads the wall clock around the run.
#[allow(clippy::disallowed_methods)]
fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let path = args.first().expect("usage: phases FILE [SEED] [DURATION_S] [KEYS] [SERVERS]");
    let num = |i: usize| args.get(i).map(|s| s.parse::<u64>().expect("a number")).unwrap_or(0);
    let text = std::fs::read_to_string(path).expect("readable scenario");
    let mut sc: Scenario<Config> = ron::from_str(&text).expect("a dynamo scenario");
    if num(2) > 0 {
        sc.duration = sim_core::Duration::from_secs(num(2));
    }
    if num(3) > 0 {
        let w = sc.workload.as_mut().expect("a workload");
        w.keys = Keys::Zipf { count: num(3), s: 0.9 };
    }
    if num(4) > 0 {
        sc.topology.servers = num(4) as u32;
    }
    let problems = sc.validate::<Dynamo>();
    assert!(problems.is_empty(), "{path}: {problems:?}");
    let seed = args.get(1).map(|s| s.parse().expect("a seed"));
    let start = Instant::now();
    let mut sim_s = 0.0;
    let mut tick = |_: sim_core::Time, _: u64, _: sim_core::Time| sim_s = start.elapsed().as_secs_f64();
    let out = run::<Dynamo>(&sc, RunOptions { seed, progress: Some(&mut tick), ..RunOptions::default() });
    let report_s = start.elapsed().as_secs_f64() - sim_s;
    let rec = out.record;
    let ops: u64 = rec.ops.iter().map(|o| o.total).sum();
    println!(
        "{path}: seed {} ops {ops} events {} trace {} simulation {sim_s:.2}s report {report_s:.2}s peak_rss {:.1} MB",
        rec.seed,
        rec.events,
        rec.trace_hash,
        peak_rss_kb() as f64 / 1024.0
    );
    for c in &rec.model_report.checks {
        println!("  {} {}: {}", if c.passed { "PASS" } else { "FAIL" }, c.name, c.detail);
    }
    if std::env::var_os("PHASES_FULL").is_some() {
        for (k, v) in &rec.model_report.measures {
            println!("  measure {k} = {v}");
        }
        for t in &rec.model_report.tables {
            println!("  table {}: {:?}", t.name, t.rows);
        }
        for (name, svg) in &rec.model_report.figures {
            println!("  figure {name}: {} bytes", svg.len());
        }
    }
}
