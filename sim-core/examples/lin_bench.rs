//! The checker's benchmark without building the CLI: the same history and figures as
//! `simctl bench lin` at its defaults. `cargo run --release -p sim-core --example lin_bench`.
#![allow(clippy::disallowed_methods)] // a benchmark times itself with the wall clock

use sim_core::lin::{self, generate};

fn main() {
    let shape = generate::Shape::bench();
    let history = generate::register_history(&shape, 42);
    for _ in 0..3 {
        let t = std::time::Instant::now();
        let r = lin::check(&lin::Register, &history, &lin::Options::default());
        let s = t.elapsed().as_secs_f64();
        let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
        println!(
            "RESULT ops={} keys={} linearizable={} states_explored={} pruned_unknown={} check_s={s:.3} ops_per_s={:.0} load_avg={}",
            history.len(),
            r.keys,
            r.linearizable(),
            r.states_explored,
            r.pruned_unknown,
            history.len() as f64 / s,
            load.split_whitespace().take(3).collect::<Vec<_>>().join("/")
        );
    }
}
