//! # sim-core: simctl's deterministic discrete-event kernel
//!
//! A run is a pure function of (scenario, seed). Virtual time is integer nanoseconds; events are
//! totally ordered by `(time, sequence number)`; the loop jumps from one event to the next, so idle
//! time costs nothing. Every random draw comes from a ChaCha8 stream derived from the one seed, with
//! a separate stream per node and per subsystem (network, faults, workload, disk), so that a new draw
//! in one place never shifts another. A hash over every processed event (the trace hash) makes "the
//! same run" checkable, bit for bit.
//!
//! Models are written as [`Actor`]s: one state machine per node (`on_start`, `on_msg`, `on_timer`,
//! `on_op`, `on_persisted`) over the model's own message enum. A [`Ctx`] is the actor's only door to
//! the world: its id, its *local* clock, its random stream, send, timers, durable writes, metrics
//! and completing workload operations. Effects are recorded and applied by the kernel after the
//! handler returns. Faults (partitions, loss, crashes, pauses, clock skew, disk loss) belong to the
//! world: model code never sees them, it only sees their consequences. The one exception is the
//! outage of an external dependency (`fault::Fault::Outage`), which the code implementing that
//! dependency reads through `Ctx::outage`: a provider's failure is its own behaviour.
//!
//! Architecture invariant: no IO, no wall clock, no threads, no globals, no unordered-map iteration
//! anywhere in this crate. Parallelism happens across seeds, outside.

pub mod actor;
pub mod chunked;
pub mod cost;
pub mod crosscheck;
pub mod disk;
pub mod dist;
pub mod divergence;
pub mod explore;
pub mod fault;
pub mod hint;
mod lanes;
pub mod latency;
pub mod lin;
pub mod math;
pub mod metrics;
pub mod model;
pub mod net;
pub mod parse;
pub mod probe;
pub mod pset;
pub mod queue;
pub mod queueing;
pub mod record;
pub mod rng;
pub mod ron_text;
pub mod scenario;
pub mod shrink;
pub mod stats;
pub mod sweep;
pub mod testkit;
pub mod time;
pub mod topology;
pub mod verdict;
pub mod workload;
pub mod world;
mod ziggurat;

pub use actor::{
    Actor, Ctx, Effect, IdSource, Message, NodeId, Op, OpId, Outcome, Records, Reply, ThinVec, TimerId, WriteId,
    thin_vec,
};
pub use cost::Footprint;
pub use dist::Dist;
pub use model::{Axis, Blame, Check, Model, ModelReport, RunView, Table};
pub use pset::PSet;
pub use rng::{Prng, Stream};
pub use time::{Duration, Time};
pub use topology::{Topology, TopologySpec};
pub use world::{Sim, SimConfig, StopReason};
