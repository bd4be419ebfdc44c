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

/// The process's peak resident memory since the last reset, in KiB (Linux).
pub fn peak_rss_kb() -> Option<u64> {
    status_kb("VmHWM:")
}

/// The process's resident memory now, in KiB (Linux). Right after a reset of the peak mark this is
/// where the next peak starts: memory the allocator kept from earlier runs of the same process.
pub fn rss_kb() -> Option<u64> {
    status_kb("VmRSS:")
}

fn status_kb(field: &str) -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with(field))?;
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

/// The median; of an even count, the mean of the middle two.
pub fn median(v: &[f64]) -> f64 {
    let mut s = v.to_vec();
    s.sort_by(|a, b| a.total_cmp(b));
    let n = s.len();
    if n.is_multiple_of(2) { (s[n / 2 - 1] + s[n / 2]) / 2.0 } else { s[n / 2] }
}

/// The target for `simctl bench lin`'s default case: 100,000 operations on 100 keys
/// checked in under 10 s on one core.
pub const LIN_TARGET_S: f64 = 10.0;

/// One case of `simctl bench lin`: a generated register history and the budget it is checked with.
pub struct LinCase {
    pub name: &'static str,
    pub shape: sim_core::lin::generate::Shape,
    /// Make it non-linearizable (one late stale read): the time to find the violation.
    pub stale_read: bool,
    pub options: sim_core::lin::Options,
}

impl LinCase {
    /// The three cases: `linearizable` (`shape`), `violation` (`shape` with one stale read on its
    /// last read), and `budget` (a contended non-linearizable history whose keys run over the
    /// state budget: the time and memory of giving up).
    pub fn all(shape: &sim_core::lin::generate::Shape) -> Vec<LinCase> {
        use sim_core::lin::{Options, generate::Shape};
        vec![
            LinCase { name: "linearizable", shape: *shape, stale_read: false, options: Options::default() },
            LinCase { name: "violation", shape: *shape, stale_read: true, options: Options::default() },
            LinCase { name: "budget", shape: Shape::contended(), stale_read: true, options: Options::default() },
        ]
    }
}

/// `simctl bench lin`: each case's history (`sim_core::lin::generate`) checked on this thread;
/// one `RESULT` line per case and repeat, with the peak RSS of that check alone. Returns the
/// check times of each case, by case.
pub fn lin(
    shape: &sim_core::lin::generate::Shape,
    seed: u64,
    repeat: u32,
    mut out: impl FnMut(String),
) -> Vec<(&'static str, Vec<f64>)> {
    let mut all = Vec::new();
    for case in LinCase::all(shape) {
        let mut history = sim_core::lin::generate::register_history(&case.shape, seed);
        let stale = if case.stale_read { sim_core::lin::generate::stale_read(&mut history) } else { None };
        let unknown = history.iter().filter(|o| o.ret == sim_core::lin::Ret::Unknown).count();
        let mut secs = Vec::new();
        for _ in 0..repeat.max(1) {
            let rss_ok = reset_peak_rss();
            let t = Instant::now();
            let r = sim_core::lin::check(&sim_core::lin::Register, &history, &case.options);
            let s = t.elapsed().as_secs_f64();
            secs.push(s);
            let found = match (stale, r.violations.first()) {
                (Some((op, key)), Some(v)) => format!(
                    " found=key_{}_op_{}(injected_key_{key}_op_{op}) minimal_ops={}",
                    v.key,
                    v.blocked.id,
                    v.ops.len()
                ),
                (Some((op, key)), None) => format!(" found=none(injected_key_{key}_op_{op})"),
                (None, _) => String::new(),
            };
            out(format!(
                "RESULT case={} ops={} keys={} clients={} latency_ms={} unknown_outcome={unknown} linearizable={} \
                 failed_keys={} unknown_keys={}{found} states_explored={} max_states_per_key={} check_s={s:.3} \
                 ops_per_s={:.0} target_s={LIN_TARGET_S} of_target={:.4} load_avg={} peak_rss_kb={}",
                case.name,
                history.len(),
                r.keys,
                case.shape.clients,
                case.shape.latency_mean_ns / 1e6,
                r.linearizable(),
                r.failed_keys.len(),
                r.unknown_keys.len(),
                r.states_explored,
                case.options.max_states_per_key,
                history.len() as f64 / s.max(1e-12),
                s / LIN_TARGET_S,
                load_average().unwrap_or_else(|| "unknown".into()),
                if rss_ok { peak_rss_kb().map_or("unknown".to_string(), |k| k.to_string()) } else { "unknown".into() },
            ));
        }
        all.push((case.name, secs));
    }
    all
}

/// The 1-, 5- and 15-minute load averages, as /proc/loadavg gives them.
pub fn load_average() -> Option<String> {
    let s = std::fs::read_to_string("/proc/loadavg").ok()?;
    Some(s.split_whitespace().take(3).collect::<Vec<_>>().join("/"))
}

#[cfg(test)]
mod tests {
    use super::median;

    #[test]
    fn the_median_of_an_even_count_is_the_mean_of_the_middle_two() {
        assert_eq!(median(&[3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(&[4.0, 1.0, 3.0, 2.0]), 2.5);
        assert_eq!(median(&[7.0]), 7.0);
    }
}
