//! The two PHOLD implementations the benchmark compares (timing is the caller's: no clock here).
//!
//! `bare` is the baseline of `shared/bench/PHOLD.md`: a `std::collections::BinaryHeap` of
//! `(time, seq, lp)`, a `Vec` of counters and one ChaCha8 generator, no actor API.
//! `kernel` runs the same PHOLD as actors on the real `Sim`, with the network model, per-node
//! streams and the trace hash on.

use crate::{Config, Lp, Phold, UNIT};
use sim_core::{Model, NodeId, Prng, Sim, SimConfig, Stream, Time, Topology};
use std::cmp::Reverse;
use std::collections::BinaryHeap;

pub const LOOKAHEAD: f64 = 0.1;
pub const MEAN: f64 = 0.9;
pub const REMOTE: f64 = 0.9;

/// A benchmark size from PHOLD.md: `(name, L, E, T)`; T chosen so each size runs ~1-10M events.
pub const SIZES: [(&str, u32, u32, f64); 4] =
    [("small", 64, 16, 2000.0), ("medium", 1024, 16, 200.0), ("large", 100_000, 8, 4.0), ("huge", 1_000_000, 1, 4.0)];

pub struct Outcome {
    pub events: u64,
    pub pending: usize,
}

fn to_ns(units: f64) -> u64 {
    (units * UNIT.0 as f64).round() as u64
}

/// Builds the bare baseline's initial state.
pub struct Bare {
    heap: BinaryHeap<Reverse<(u64, u64, u32)>>,
    counters: Vec<u64>,
    rng: Prng,
    seq: u64,
    lps: u32,
}

impl Bare {
    pub fn setup(lps: u32, population: u32, seed: u64) -> Bare {
        let mut rng = Prng::new(seed, Stream::Setup);
        let mut heap = BinaryHeap::with_capacity((lps * population) as usize);
        let mut seq = 0;
        for lp in 0..lps {
            for _ in 0..population {
                let t = to_ns(LOOKAHEAD + rng.exp(MEAN));
                heap.push(Reverse((t, seq, lp)));
                seq += 1;
            }
        }
        Bare { heap, counters: vec![0; lps as usize], rng, seq, lps }
    }

    /// Processes every event with timestamp `< end` (in PHOLD time units).
    pub fn run(&mut self, end: f64) -> Outcome {
        let end_ns = to_ns(end);
        let mut events = 0;
        while let Some(&Reverse((t, _, lp))) = self.heap.peek() {
            if t >= end_ns {
                break;
            }
            self.heap.pop();
            events += 1;
            self.counters[lp as usize] += 1;
            let dst = if self.rng.unit() < REMOTE { self.rng.below(self.lps as u64) as u32 } else { lp };
            let at = t + to_ns(LOOKAHEAD + self.rng.exp(MEAN));
            self.heap.push(Reverse((at, self.seq, dst)));
            self.seq += 1;
        }
        Outcome { events, pending: self.heap.len() }
    }
}

/// The kernel's PHOLD, set up (actors started, initial events scheduled) but not run.
pub struct Kernel {
    pub sim: Sim<Lp>,
}

impl Kernel {
    pub fn setup(lps: u32, population: u32, seed: u64) -> Kernel {
        let topo = Topology::simple(lps, 0);
        let mut config = SimConfig::new(seed);
        config.network = crate::network();
        let cfg = Config { population, remote: REMOTE };
        let factory = Phold::factory(&cfg, &topo, &mut Prng::new(seed, Stream::Setup));
        let mut sim = Sim::new(topo, config, factory);
        sim.start();
        Kernel { sim }
    }

    pub fn run(&mut self, end: f64) -> Outcome {
        let before = self.sim.events_processed();
        self.sim.run_until(Time(to_ns(end) - 1));
        Outcome { events: self.sim.events_processed() - before, pending: self.sim.pending_events() }
    }

    pub fn processed_by_lps(&self) -> u64 {
        (0..self.sim.topology().node_count() as u32).map(|i| self.sim.actor(NodeId(i)).map_or(0, |a| a.processed)).sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_implementations_keep_the_population_and_process_about_l_e_t_events() {
        let (l, e, t) = (64u32, 4u32, 50.0);
        let mut bare = Bare::setup(l, e, 42);
        let b = bare.run(t);
        assert_eq!(b.pending, (l * e) as usize);
        let mut k = Kernel::setup(l, e, 42);
        let r = k.run(t);
        assert_eq!(r.pending, (l * e) as usize);
        assert_eq!(k.processed_by_lps(), r.events);
        let expected = l as f64 * e as f64 * (t - 0.095);
        for n in [b.events, r.events] {
            assert!((n as f64 - expected).abs() < 0.05 * expected, "{n} vs {expected}");
        }
    }
}
