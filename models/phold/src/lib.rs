//! # PHOLD through the actor API
//!
//! PHOLD (Fujimoto, 1990) measures a simulation engine, not a system: `L` logical processes pass
//! time-stamped events. Each LP starts with `E` events; handling one increments the LP's counter
//! and sends exactly one new event, to a uniformly random LP with probability `p` (0.9) or back to
//! itself, arriving after `la + Exp(mean)` (0.1 + Exp(0.9) time units). So `L * E` events are
//! pending at all times.
//!
//! Here an LP is an actor and an event is a message: the delay is the *network's* latency
//! (`Exponential { min: la, mean }` from the network stream), and the destination draw comes from
//! the LP's own stream (`Ctx::rng`), so the run exercises the kernel's real path: dispatch,
//! effects, the network model, per-node streams and the trace hash. One time unit = 1 ms.
//! The initial population is `E` self-sends per LP at start (each also takes `la + Exp(mean)`).
//! **Transport:** `Datagram`: PHOLD's events are independent (no connection order).

pub mod bench;

use serde::{Deserialize, Serialize};
use sim_core::cost::Load;
use sim_core::net::{LinkSpec, NetworkSpec};
use sim_core::{
    Actor, Check, Ctx, Dist, Duration, Footprint, Message, Model, ModelReport, NodeId, Prng, RunView, Topology,
};

/// One time unit of the PHOLD definition.
pub const UNIT: Duration = Duration::from_millis(1);

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Initial events per LP (`E`).
    #[serde(default = "one")]
    pub population: u32,
    /// Probability that a new event goes to a random LP (`p`).
    #[serde(default = "remote")]
    pub remote: f64,
}

impl Default for Config {
    fn default() -> Self {
        Config { population: one(), remote: remote() }
    }
}

fn one() -> u32 {
    1
}
fn remote() -> f64 {
    0.9
}

#[derive(Clone, Copy, Debug)]
pub struct Event;

impl Message for Event {
    fn kind(&self) -> &'static str {
        "event"
    }
}

pub struct Lp {
    pub processed: u64,
    lps: u32,
    population: u32,
    remote: f64,
}

impl Actor for Lp {
    type Msg = Event;
    type Timer = ();
    type Record = ();

    fn on_start(&mut self, ctx: &mut Ctx<'_, Self>) {
        for _ in 0..self.population {
            ctx.send(ctx.id(), Event);
        }
    }

    #[inline]
    fn on_msg(&mut self, ctx: &mut Ctx<'_, Self>, _from: NodeId, msg: Event) {
        self.processed += 1;
        let rng = ctx.rng();
        let to = if rng.unit() < self.remote { NodeId(rng.below(self.lps as u64) as u32) } else { ctx.id() };
        ctx.send(to, msg);
    }
}

/// The network PHOLD prescribes: `la + Exp(mean)` = 0.1 + Exp(0.9) units.
pub fn network() -> NetworkSpec {
    NetworkSpec {
        link: LinkSpec {
            latency: Dist::Exponential { mean: Duration(UNIT.0 * 9 / 10), min: Duration(UNIT.0 / 10) },
            ..LinkSpec::default()
        },
        ..NetworkSpec::default()
    }
}

pub struct Phold;

impl Model for Phold {
    const NAME: &'static str = "phold";
    const ABOUT: &'static str = "PHOLD engine benchmark: LPs passing time-stamped events (no system, just the kernel)";
    const OP_KINDS: &'static [&'static str] = &[];
    /// PHOLD defines no transport: its events are independent, and the engine benchmark must not pay for connection
    /// state.
    const TRANSPORT: sim_core::net::Transport = sim_core::net::Transport::Datagram;
    const CHECKS: &'static [&'static str] = &["population"];
    type Config = Config;
    type Actor = Lp;

    fn validate(config: &Config, topo: &Topology) -> Vec<(String, String)> {
        let mut e = Vec::new();
        if !(0.0..=1.0).contains(&config.remote) {
            e.push(("config.remote".into(), format!("a probability must be within [0, 1], got {}", config.remote)));
        }
        if topo.servers.is_empty() {
            e.push(("topology.servers".into(), "PHOLD needs at least one LP".into()));
        }
        e
    }

    /// `L * E` events in the queue at all times, each handled once per message latency.
    fn footprint(config: &Config, topo: &Topology, load: &Load) -> Footprint {
        let population = topo.node_count() as f64 * config.population as f64;
        Footprint {
            // Each event in flight is processed once a link latency (the initial ones too: a
            // self-send at start), and schedules the next.
            events: population * load.run_s / load.latency_s.max(1e-9),
            queued: population,
            ..Footprint::default()
        }
    }

    fn factory(config: &Config, topo: &Topology, _setup: &mut Prng) -> Box<dyn FnMut(NodeId) -> Lp> {
        let (lps, population, remote) = (topo.node_count() as u32, config.population, config.remote);
        Box::new(move |_| Lp { processed: 0, lps, population, remote })
    }

    fn report(config: &Config, run: &RunView<'_, Lp>) -> ModelReport {
        let processed: u64 = run.servers().map(|(_, lp)| lp.processed).sum();
        let lps = run.topology().servers.len() as u64;
        let pending = run.sim.pending_events() as u64;
        let expected = lps * config.population as u64;
        let mut r = ModelReport::default();
        // The conservation law: every processed event schedules exactly one more, so the events
        // pending at the end (counted in the kernel's queue) are L*E.
        r.checks.push(
            Check::judged("population", pending, "events pending at the end")
                .passed_if(pending == expected)
                .detail(format!("{pending} pending, L*E = {expected} (LPs x population)")),
        );
        r.measures.insert("events_processed".into(), processed as f64);
        r
    }
}
