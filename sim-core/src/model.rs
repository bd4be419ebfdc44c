//! What a model exports: its configuration, its actors, and its checkers.

use crate::actor::{Actor, NodeId};
use crate::metrics::HistoryEntry;
use crate::rng::Prng;
use crate::time::Time;
use crate::topology::Topology;
use crate::world::Sim;
use serde::{Serialize, de::DeserializeOwned};
use std::collections::BTreeMap;
use std::fmt::Debug;

/// A system design, runnable from a scenario file.
pub trait Model: 'static {
    /// The name scenario files use in `model: "..."`.
    const NAME: &'static str;
    /// One line for `simctl list`.
    const ABOUT: &'static str;
    /// The operations its clients perform, as the workload names them.
    const OP_KINDS: &'static [&'static str];
    /// The transport of the real system, used unless the scenario's `network.transport` says
    /// otherwise: `Connection` (TCP: in order per pair of nodes) or `Datagram`. Say which in the
    /// model's docs.
    const TRANSPORT: crate::net::Transport = crate::net::Transport::Datagram;
    /// The `config: (...)` section of a scenario; `#[serde(deny_unknown_fields)]` and defaults.
    type Config: DeserializeOwned + Serialize + Clone + Debug + Default + 'static;
    type Actor: Actor;

    /// Checks the configuration against the topology; `(field path, message)` per problem, with
    /// paths like `config.replicas`.
    fn validate(_config: &Self::Config, _topo: &Topology) -> Vec<(String, String)> {
        Vec::new()
    }

    /// Builds the node factory (called again for a node that restarts after a crash). `setup` is
    /// the seed's setup stream, for data the model generates up front (a synthetic web, say).
    fn factory(config: &Self::Config, topo: &Topology, setup: &mut Prng) -> Box<dyn FnMut(NodeId) -> Self::Actor>;

    /// What a run under `load` costs the model: its state at its fullest, part by part, and the
    /// events it causes. The kernel adds its own costs and refuses a run that would not fit in
    /// memory before it starts (see [`crate::cost`]).
    fn footprint(_config: &Self::Config, _topo: &Topology, _load: &crate::cost::Load) -> crate::cost::Footprint {
        crate::cost::Footprint::default()
    }

    /// After the run: invariants, named measurements, tables. Called once.
    fn report(config: &Self::Config, run: &RunView<'_, Self::Actor>) -> ModelReport;
}

/// What a model's checkers can read after a run.
pub struct RunView<'a, A: Actor> {
    pub sim: &'a Sim<A>,
    /// End of the main phase (faults and workload); the liveness phase follows until `end`.
    pub main_end: Time,
    pub end: Time,
}

impl<'a, A: Actor> RunView<'a, A> {
    pub fn history(&self) -> &'a [HistoryEntry] {
        self.sim.history()
    }
    pub fn topology(&self) -> &'a Topology {
        self.sim.topology()
    }
    /// The running actors of the servers.
    pub fn servers(&self) -> impl Iterator<Item = (NodeId, &'a A)> + 'a {
        let sim = self.sim;
        sim.topology().servers.clone().into_iter().filter_map(move |n| sim.actor(n).map(|a| (n, a)))
    }
    pub fn op_kind(&self, entry: &HistoryEntry) -> &'static str {
        self.sim.config().op_kinds[entry.kind as usize]
    }
}

/// An invariant's verdict.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Check {
    pub name: String,
    pub passed: bool,
    /// What was measured, in words and numbers ("3 of 41,200 acknowledged writes lost: ...").
    pub detail: String,
}

impl Check {
    pub fn new(name: &str, passed: bool, detail: impl Into<String>) -> Check {
        Check { name: name.to_string(), passed, detail: detail.into() }
    }
}

/// A table for the report (a curve, a distribution).
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Table {
    pub name: String,
    pub columns: Vec<String>,
    pub rows: Vec<Vec<f64>>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct ModelReport {
    pub checks: Vec<Check>,
    /// Named measurements (SLAs and estimates refer to them by name).
    pub measures: BTreeMap<String, f64>,
    pub tables: Vec<Table>,
}
