//! `simctl bench phold`: the engine benchmark of shared/bench/PHOLD.md. The bare `BinaryHeap` loop
//! and the real kernel run one after the other in one process, and the ratio kernel/bare is the
//! figure that counts (the machines are noisy; a ratio from one run holds up).
#![allow(clippy::disallowed_methods)] // the benchmark times itself with the wall clock

use phold::bench::{Bare, Kernel, SIZES};
use std::time::Instant;

/// One benchmark configuration.
#[derive(Clone, Debug)]
pub struct PholdParams {
    pub name: String,
    pub lps: u32,
    pub population: u32,
    pub end: f64,
    pub seed: u64,
}

impl PholdParams {
    pub fn size(name: &str) -> Option<PholdParams> {
        SIZES.iter().find(|s| s.0 == name).map(|&(n, l, e, t)| PholdParams {
            name: n.to_string(),
            lps: l,
            population: e,
            end: t,
            seed: 42,
        })
    }
    pub fn size_names() -> Vec<&'static str> {
        SIZES.iter().map(|s| s.0).collect()
    }
}

/// One implementation's measurement.
#[derive(Clone, Debug)]
pub struct PholdResult {
    pub implementation: &'static str,
    pub events: u64,
    pub setup_s: f64,
    pub run_s: f64,
    pub peak_rss_kb: Option<u64>,
}

impl PholdResult {
    pub fn events_per_s(&self) -> f64 {
        self.events as f64 / self.run_s.max(1e-12)
    }
    pub fn line(&self, p: &PholdParams) -> String {
        format!(
            "RESULT impl={} L={} E={} T={} events={} setup_s={:.4} run_s={:.4} events_per_s={:.0} peak_rss_kb={}",
            self.implementation,
            p.lps,
            p.population,
            p.end,
            self.events,
            self.setup_s,
            self.run_s,
            self.events_per_s(),
            self.peak_rss_kb.map_or("unknown".to_string(), |k| k.to_string())
        )
    }
}

/// Resets the kernel's peak-RSS mark for this process (Linux); false where unsupported.
pub fn reset_peak_rss() -> bool {
    std::fs::write("/proc/self/clear_refs", "5").is_ok()
}

pub fn peak_rss_kb() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// Times `setup` and `run` apart, with the peak RSS of this implementation alone.
fn measure<S>(
    implementation: &'static str,
    p: &PholdParams,
    setup: impl FnOnce() -> S,
    run: impl FnOnce(&mut S) -> phold::bench::Outcome,
) -> PholdResult {
    let rss_ok = reset_peak_rss();
    let t0 = Instant::now();
    let mut state = setup();
    let setup_s = t0.elapsed().as_secs_f64();
    let t1 = Instant::now();
    let out = run(&mut state);
    let run_s = t1.elapsed().as_secs_f64();
    assert_eq!(out.pending, (p.lps as usize) * (p.population as usize), "PHOLD population not conserved");
    PholdResult { implementation, events: out.events, setup_s, run_s, peak_rss_kb: rss_ok.then(peak_rss_kb).flatten() }
}

pub fn run_bare(p: &PholdParams) -> PholdResult {
    measure("bare", p, || Bare::setup(p.lps, p.population, p.seed), |b| b.run(p.end))
}

pub fn run_kernel(p: &PholdParams) -> PholdResult {
    measure("simctl-kernel", p, || Kernel::setup(p.lps, p.population, p.seed), |k| k.run(p.end))
}

/// Runs bare and kernel `repeat` times, alternating; returns the per-run ratios (kernel/bare).
pub fn phold(p: &PholdParams, repeat: u32, mut out: impl FnMut(String)) -> Vec<f64> {
    let mut ratios = Vec::new();
    for _ in 0..repeat.max(1) {
        let b = run_bare(p);
        out(b.line(p));
        let k = run_kernel(p);
        out(k.line(p));
        ratios.push(k.events_per_s() / b.events_per_s());
    }
    ratios
}

pub fn median(v: &[f64]) -> f64 {
    let mut s = v.to_vec();
    s.sort_by(|a, b| a.total_cmp(b));
    s[s.len() / 2]
}

/// `simctl bench lin`: a generated linearizable register history (`sim_core::lin::generate`),
/// checked on this thread; one `RESULT` line per repeat.
pub fn lin(shape: &sim_core::lin::generate::Shape, seed: u64, repeat: u32, mut out: impl FnMut(String)) -> Vec<f64> {
    let history = sim_core::lin::generate::register_history(shape, seed);
    let unknown = history.iter().filter(|o| o.ret == sim_core::lin::Ret::Unknown).count();
    let mut secs = Vec::new();
    for _ in 0..repeat.max(1) {
        let t = Instant::now();
        let r = sim_core::lin::check(&sim_core::lin::Register, &history, &sim_core::lin::Options::default());
        let s = t.elapsed().as_secs_f64();
        secs.push(s);
        out(format!(
            "RESULT ops={} keys={} clients={} unknown_outcome={unknown} linearizable={} states_explored={} \
             check_s={s:.3} ops_per_s={:.0} load_avg={} peak_rss_kb={}",
            history.len(),
            r.keys,
            shape.clients,
            r.linearizable(),
            r.states_explored,
            history.len() as f64 / s.max(1e-12),
            load_average().unwrap_or_else(|| "unknown".into()),
            peak_rss_kb().map_or("unknown".to_string(), |k| k.to_string()),
        ));
    }
    secs
}

/// The 1-, 5- and 15-minute load averages, as /proc/loadavg gives them.
pub fn load_average() -> Option<String> {
    let s = std::fs::read_to_string("/proc/loadavg").ok()?;
    Some(s.split_whitespace().take(3).collect::<Vec<_>>().join("/"))
}
