//! # pipeline: producers -> a partitioned log -> autoscaled workers -> a results store
//!
//! The asynchronous half of most system designs (notifications, ad clicks, metrics, video
//! transcoding, an online judge): clients hand events to a durable queue and return; a pool of
//! workers consumes the queue, processes each event and writes the result to a store. Built from
//! the parts crate only: [`parts::log`] is the queue, [`parts::workers`] the autoscaled pool (each
//! worker a member of one consumer group), [`parts::calls`] the workers' writes to the store.
//!
//! **Nodes.** Servers: the control node (0: the log's coordinator and the workers' scaler), then
//! `brokers` brokers, then the worker nodes (as many as the servers leave: the autoscaling group's
//! ceiling), then the results store (the last server). Clients are the producers: a `produce`
//! operation appends a record (its value is the operation's unique value, its key the workload's
//! key) and completes `Ok` when the log acknowledges it (`acks` disks), with the partition and
//! offset as its reply, or `Fail` when the producer gave up.
//!
//! **A worker** that the scaler started joins the consumer group once its cold start is over,
//! takes records while it has a free slot, holds each for a service time, then writes the result
//! to the store (retrying until the store has it on disk) and only then marks the record done, so
//! its offset may be committed. So a crash loses at most work whose offsets were not committed,
//! and that work is delivered again: **at-least-once, end to end**. A worker told to drain stops
//! taking records, finishes its writes, commits and leaves the group.
//!
//! **The store** persists every result it is given (with its partition, offset and the end-to-end
//! latency of the record's first processing, producer clock to store clock: equal to true time
//! without clock faults) before it answers; a retried write (same worker incarnation and request)
//! is answered without a second copy.
//!
//! **Checks.** `delivered_at_least_once`: every produce the log acknowledged was processed (its
//! result is in the store) by the end of the run. `no_acked_loss`: every acknowledged record is in
//! its partition's final log at its offset, or was deleted by retention (which is not a loss of
//! the log). **Measures**: `acked`, `produce_failed`, `processed` (distinct records), `missing`,
//! `duplicates` (processings beyond the first), split into `redelivered` (the same offset
//! processed again: a consumer crash or rebalance) and `log_duplicates` (the record appended
//! twice: a producer retry); `lost_to_retention`, end-to-end latency `e2e_p50_ms`, `e2e_p99_ms`,
//! `e2e_max_ms`; from the kernel's levels `lag_max`, `lag_mean`, `workers_max`, `workers_mean`,
//! `offline_max`; and `rebalances`, `partitions_moved`, `elections`, `cold_starts`,
//! `workers_lost`. The levels `log.lag`, `workers.up`, `workers.starting`, `workers.desired`,
//! `workers.busy` and `log.offline` are plotted over time in the report.
//!
//! **The failures it shows**: a fixed pool sized for the average load falls behind in a flash
//! crowd (backlog and latency grow until the crowd is over) while the autoscaled pool catches up
//! after its cold start; a retention shorter than the backlog deletes records nobody processed;
//! `acks: 1` with an unclean election loses acknowledged records when a leader dies; a consumer
//! crash redelivers (counted), a broker crash within the replication settings loses nothing.

pub mod check;

use parts::balance::{HealthSpec, Policy};
use parts::calls::{Answer, AnswerWhenDurable, CallOutcome, CallPolicy, CallTimer, Calls, ReqId, ServiceId};
use parts::log::{self, Broker, Cluster, Consumer, Coordinator, Delivery, LogSpec, Pid, Producer, Record};
use parts::pool::PoolTimer;
use parts::workers::{self, Observation, Scaler, ScalerSpec, Worker, WorkerEvent, WorkerSpec};
use serde::{Deserialize, Serialize};
use sim_core::cost::count;
use sim_core::{
    Actor, Ctx, Duration, Message, Model, ModelReport, NodeId, Op, OpId, Outcome, Prng, Reply, RunView, Topology,
    WriteId,
};
use std::collections::{BTreeMap, BTreeSet};
use std::rc::Rc;

/// ```ron
/// config: (
///     brokers: 3,
///     log: (topics: [(name: "events", partitions: 12)], replication: 3, acks: 2),
///     worker: (concurrency: 1, service: Exponential(mean: "20ms")),
///     scaler: (min: 2, max: 12, initial: 3, target: Backlog(50.0), interval: "1s",
///              provisioning: Constant("3s"), scale_in_window: "10s"),
///     store_call: (timeout: "500ms", retries: 10),
/// )
/// ```
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    pub brokers: u32,
    /// The log; producers write to its first topic, which the workers consume.
    pub log: LogSpec,
    pub worker: WorkerSpec,
    pub scaler: ScalerSpec,
    /// How a worker writes a result to the store (no breaker: a writer retries until it lands).
    pub store_call: CallPolicy,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            brokers: 3,
            log: LogSpec::default(),
            worker: WorkerSpec::default(),
            scaler: ScalerSpec::default(),
            store_call: CallPolicy { timeout: Duration::from_millis(500), retries: 10, ..CallPolicy::default() },
        }
    }
}

/// Where each role lives.
#[derive(Clone, Debug)]
pub struct Layout {
    pub control: NodeId,
    pub brokers: Vec<NodeId>,
    pub workers: Vec<NodeId>,
    pub store: NodeId,
}

impl Layout {
    pub fn new(c: &Config, topo: &Topology) -> Layout {
        let s = &topo.servers;
        let b = c.brokers as usize;
        Layout {
            control: s[0],
            brokers: s[1..=b].to_vec(),
            workers: s[b + 1..s.len() - 1].to_vec(),
            store: s[s.len() - 1],
        }
    }
}

/// The design's own messages: a worker's write of a result, and the store's answer.
#[derive(Clone, Debug)]
pub enum AppMsg {
    Write { req: ReqId, inc: u64, p: Pid, offset: u64, rec: Record },
    Written { req: ReqId },
}

impl Message for AppMsg {
    fn kind(&self) -> &'static str {
        match self {
            AppMsg::Write { .. } => "store_write",
            AppMsg::Written { .. } => "store_written",
        }
    }
    fn size_bytes(&self) -> u64 {
        match self {
            AppMsg::Write { rec, .. } => 64 + rec.bytes as u64,
            AppMsg::Written { .. } => 64,
        }
    }
}

parts::wire! {
    /// Everything a node of this design sends.
    pub enum Msg { Log(log::Msg), Workers(workers::Msg), App(AppMsg) }
}
parts::wire! {
    timers pub enum Timer { Log(log::Timer), Workers(workers::Timer), Pool(PoolTimer), Call(CallTimer) }
}

/// One result on the store's disk.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StoreRec {
    pub value: u64,
    pub p: Pid,
    pub offset: u64,
    /// End-to-end latency if this was the record's first processing.
    pub e2e_ns: Option<u64>,
    /// The write's origin (worker, incarnation, request): a retried write is recognised.
    pub from: (NodeId, u64, u64),
}

/// What nodes of this design write to disk.
#[derive(Clone, Debug)]
pub enum Rec {
    Log(log::Disk),
    Store(StoreRec),
}

impl From<log::Disk> for Rec {
    fn from(d: log::Disk) -> Rec {
        Rec::Log(d)
    }
}

fn log_rec(r: &Rec) -> Option<&log::Disk> {
    match r {
        Rec::Log(d) => Some(d),
        Rec::Store(_) => None,
    }
}

pub struct Control {
    pub coordinator: Coordinator,
    pub scaler: Scaler,
}

pub struct WorkerNode {
    pub worker: Worker<Delivery>,
    pub consumer: Consumer,
    calls: Calls<AppMsg, Delivery>,
    store: ServiceId,
    inc: u64,
    draining: bool,
}

/// The results store: what was processed, from which offsets, and how late.
#[derive(Default)]
pub struct Store {
    /// Value -> the (partition, offset) of every processing, in order.
    pub processed: BTreeMap<u64, Vec<(Pid, u64)>>,
    /// End-to-end latency (ns) of each record's first processing.
    pub e2e_ns: Vec<u64>,
    seen: BTreeSet<(NodeId, u64, u64)>,
    pending: AnswerWhenDurable,
}

pub enum Node {
    Control(Box<Control>),
    Broker(Box<Broker>),
    Worker(Box<WorkerNode>),
    Store(Box<Store>),
    Producer(Box<Producer<OpId>>),
}

impl WorkerNode {
    fn on_start(&mut self, ctx: &mut Ctx<'_, Node>) {
        self.inc = ctx.rng().next_u64();
        self.worker.start(ctx);
    }

    fn on_worker_event(&mut self, ctx: &mut Ctx<'_, Node>, e: Option<WorkerEvent>) {
        match e {
            Some(WorkerEvent::Up) => self.consumer.join(ctx),
            Some(WorkerEvent::Draining) => {
                self.draining = true;
                self.check_drained(ctx);
            }
            None => {}
        }
    }

    /// Takes records while a slot is free.
    fn pump(&mut self, ctx: &mut Ctx<'_, Node>) {
        while !self.draining && self.worker.accepting() {
            let Some(d) = self.consumer.poll(ctx) else { break };
            self.worker.submit(ctx, d);
        }
    }

    fn check_drained(&mut self, ctx: &mut Ctx<'_, Node>) {
        if self.draining && self.worker.busy() == 0 && self.calls.in_flight() == 0 {
            self.consumer.leave(ctx);
            self.worker.stopped(ctx);
            self.draining = false;
        }
    }

    /// Writes a processed record's result to the store (again, if a write gave up).
    fn write(&mut self, ctx: &mut Ctx<'_, Node>, d: Delivery) {
        let inc = self.inc;
        let make = |req| AppMsg::Write { req, inc, p: d.p, offset: d.offset, rec: d.rec };
        if let Err(done) = self.calls.call(ctx, self.store, d.rec.key, make, d) {
            unreachable!("one store, no breaker, no ejection: a call always starts ({:?})", done.outcome);
        }
    }

    fn written(&mut self, ctx: &mut Ctx<'_, Node>, done: parts::calls::Done<Delivery>) {
        if done.outcome == CallOutcome::Ok {
            self.consumer.done(&done.data);
            self.pump(ctx);
            self.check_drained(ctx);
        } else {
            self.write(ctx, done.data);
        }
    }

    fn on_msg(&mut self, ctx: &mut Ctx<'_, Node>, msg: Msg) {
        match msg {
            Msg::Workers(m) => {
                let e = self.worker.on_msg(ctx, &m);
                self.on_worker_event(ctx, e);
            }
            Msg::Log(m) => {
                if self.consumer.on_msg(ctx, &m).is_some() {
                    self.pump(ctx);
                }
            }
            Msg::App(AppMsg::Written { req }) => {
                if let Some(done) = self.calls.reply(ctx, req, Answer::Ok) {
                    self.written(ctx, done);
                }
            }
            Msg::App(AppMsg::Write { .. }) => {}
        }
    }

    fn on_timer(&mut self, ctx: &mut Ctx<'_, Node>, t: Timer) {
        match t {
            Timer::Workers(t) => {
                let e = self.worker.on_timer(ctx, t);
                self.on_worker_event(ctx, e);
            }
            Timer::Log(t) => {
                self.consumer.on_timer(ctx, t);
                self.pump(ctx);
            }
            Timer::Pool(t) => {
                if let Some(d) = self.worker.on_pool_timer(ctx, t) {
                    self.write(ctx, d);
                }
                self.pump(ctx);
            }
            Timer::Call(t) => {
                if let Some(done) = self.calls.on_timer(ctx, t) {
                    self.written(ctx, done);
                }
            }
        }
    }
}

impl Store {
    fn on_start(&mut self, ctx: &mut Ctx<'_, Node>) {
        for r in ctx.durable() {
            if let Rec::Store(s) = r {
                self.record(s);
            }
        }
    }

    fn record(&mut self, s: &StoreRec) {
        self.processed.entry(s.value).or_default().push((s.p, s.offset));
        if let Some(ns) = s.e2e_ns {
            self.e2e_ns.push(ns);
        }
        self.seen.insert(s.from);
    }

    fn on_msg(&mut self, ctx: &mut Ctx<'_, Node>, from: NodeId, msg: Msg) {
        let Msg::App(AppMsg::Write { req, inc, p, offset, rec }) = msg else { return };
        let key = (from, inc, req.0);
        if self.seen.contains(&key) {
            // A retried write: answer now if the first copy is on disk (else its write will).
            if !self.pending.is_waiting(from, req) {
                ctx.send(from, Msg::from(AppMsg::Written { req }));
            }
            return;
        }
        let first = !self.processed.contains_key(&rec.value);
        let e2e_ns = first.then(|| ctx.now().since(rec.produced).0);
        let s = StoreRec { value: rec.value, p, offset, e2e_ns, from: key };
        self.record(&s);
        let w = ctx.persist(Rec::Store(s));
        self.pending.wait(w, from, req);
    }

    fn on_persisted(&mut self, ctx: &mut Ctx<'_, Node>, w: WriteId) {
        if let Some((to, req)) = self.pending.written(w) {
            ctx.send(to, Msg::from(AppMsg::Written { req }));
        }
    }
}

fn produced(ctx: &mut Ctx<'_, Node>, done: log::Produced<OpId>) {
    match done.result {
        Ok((p, offset)) => ctx.complete(done.token, Outcome::Ok, Reply::list([p as u64, offset])),
        Err(_) => ctx.complete(done.token, Outcome::Fail, Reply::None),
    }
}

impl Actor for Node {
    type Msg = Msg;
    type Timer = Timer;
    type Record = Rec;

    fn on_start(&mut self, ctx: &mut Ctx<'_, Self>) {
        match self {
            Node::Control(c) => {
                c.coordinator.start(ctx, log_rec);
                c.scaler.start(ctx);
            }
            Node::Broker(b) => b.start(ctx, log_rec),
            Node::Worker(w) => w.on_start(ctx),
            Node::Store(s) => s.on_start(ctx),
            Node::Producer(p) => p.start(ctx),
        }
    }

    fn on_msg(&mut self, ctx: &mut Ctx<'_, Self>, from: NodeId, msg: Msg) {
        match self {
            Node::Control(c) => match msg {
                Msg::Log(m) => c.coordinator.on_msg(ctx, from, &m),
                Msg::Workers(m) => c.scaler.on_msg(ctx, from, &m),
                Msg::App(_) => {}
            },
            Node::Broker(b) => {
                if let Msg::Log(m) = msg {
                    b.on_msg(ctx, from, &m);
                }
            }
            Node::Worker(w) => w.on_msg(ctx, msg),
            Node::Store(s) => s.on_msg(ctx, from, msg),
            Node::Producer(p) => {
                if let Msg::Log(m) = msg
                    && let Some(done) = p.on_msg(ctx, &m)
                {
                    produced(ctx, done);
                }
            }
        }
    }

    fn on_timer(&mut self, ctx: &mut Ctx<'_, Self>, t: Timer) {
        match self {
            Node::Control(c) => match t {
                Timer::Log(t) => c.coordinator.on_timer(ctx, t),
                Timer::Workers(t) => {
                    let obs = Observation { backlog: c.coordinator.total_lag() };
                    c.scaler.on_timer(ctx, t, obs);
                }
                _ => {}
            },
            Node::Broker(b) => {
                if let Timer::Log(t) = t {
                    b.on_timer(ctx, t);
                }
            }
            Node::Worker(w) => w.on_timer(ctx, t),
            Node::Store(_) => {}
            Node::Producer(p) => {
                if let Timer::Log(t) = t
                    && let Some(done) = p.on_timer(ctx, t)
                {
                    produced(ctx, done);
                }
            }
        }
    }

    fn on_op(&mut self, ctx: &mut Ctx<'_, Self>, op: Op) {
        match self {
            Node::Producer(p) => p.produce(ctx, 0, op.key, op.value, op.id),
            _ => ctx.complete(op.id, Outcome::Rejected, Reply::None),
        }
    }

    fn on_persisted(&mut self, ctx: &mut Ctx<'_, Self>, w: WriteId) {
        match self {
            Node::Control(c) => {
                c.coordinator.on_persisted(ctx, w);
            }
            Node::Broker(b) => {
                b.on_persisted(ctx, w);
            }
            Node::Store(s) => s.on_persisted(ctx, w),
            Node::Worker(_) | Node::Producer(_) => {}
        }
    }
}

pub struct Pipeline;

impl Model for Pipeline {
    const TRANSPORT: sim_core::net::Transport = sim_core::net::Transport::Connection;
    const CHECKS: &'static [&'static str] = &["delivered_at_least_once", "no_acked_loss"];
    const PROGRESS_CHECKS: &'static [&'static str] = &["delivered_at_least_once"];
    const NAME: &'static str = "pipeline";
    const ABOUT: &'static str =
        "producers -> partitioned replicated log -> autoscaled consumer-group workers -> results store (at-least-once)";
    const OP_KINDS: &'static [&'static str] = &["produce"];
    type Config = Config;
    type Actor = Node;

    fn validate(c: &Config, topo: &Topology) -> Vec<(String, String)> {
        let mut e = Vec::new();
        let servers = topo.servers.len() as u32;
        if c.brokers == 0 {
            e.push(("config.brokers".into(), "needs at least one broker".into()));
        }
        if servers < c.brokers + 3 {
            e.push((
                "topology.servers".into(),
                format!(
                    "needs brokers + 3 servers (control, brokers, at least one worker, the store) = {}, got {servers}",
                    c.brokers + 3
                ),
            ));
            return e;
        }
        if topo.clients.is_empty() {
            e.push(("topology.clients".into(), "needs at least one client (the producers)".into()));
        }
        let workers = servers - c.brokers - 2;
        e.extend(c.log.validate("config.log", c.brokers));
        e.extend(c.worker.validate("config.worker"));
        e.extend(c.scaler.validate("config.scaler", workers));
        e.extend(c.store_call.validate("config.store_call"));
        if c.store_call.breaker.is_some() {
            e.push((
                "config.store_call.breaker".into(),
                "a pipeline writer retries until the store has the result: no breaker".into(),
            ));
        }
        e
    }

    /// Per record produced, on each of its `replication` brokers: its log entry (~64 B, in a
    /// vector that doubles) and its durable record in the kernel's disk log (~80 B, doubling
    /// too): ~290 B a copy. At the store: the processed map's entry and its list (~110 B), the
    /// end-to-end latency, the retry set's entry and the durable result (~220 B). The check's
    /// map of acknowledged records (~50 B). Events: ~16 per record beyond the kernel's two
    /// (replication, disk writes and acks, the fetch, the worker's pool timer, the store's
    /// write, disk write and answer, commits and polls). Measured on `pipeline.ron` at 1,000
    /// produces/s with 8 slots per worker (40,000 records): 48 MB over a tiny run beside the
    /// kernel's 10 MB estimate, 1.2 kB a record; 21.5 events a record.
    fn footprint(c: &Config, _topo: &Topology, load: &sim_core::cost::Load) -> sim_core::cost::Footprint {
        let records = load.total();
        let copies = c.log.replication.max(1) as f64;
        sim_core::cost::Footprint { events: records * 16.0, queued: load.in_flight * 6.0, ..Default::default() }
            .part(
                format!("log: {} records x {copies:.0} replicas x 290 B (entries, durable records)", count(records)),
                records * copies * 290.0,
            )
            .part(format!("store: {} results x 330 B", count(records)), records * 330.0)
            .part(format!("the check's acknowledged records: {} x 50 B", count(records)), records * 50.0)
    }

    fn factory(c: &Config, topo: &Topology, _setup: &mut Prng) -> Box<dyn FnMut(NodeId) -> Node> {
        let l = Layout::new(c, topo);
        let cluster = Rc::new(Cluster::new(c.log.clone(), l.control, l.brokers.clone()));
        let c = c.clone();
        Box::new(move |n| {
            if n == l.control {
                let coordinator = Coordinator::new(cluster.clone(), "log");
                let scaler = Scaler::new("workers", c.scaler.clone(), &l.workers);
                Node::Control(Box::new(Control { coordinator, scaler }))
            } else if l.brokers.contains(&n) {
                Node::Broker(Box::new(Broker::new(cluster.clone(), "log", n)))
            } else if l.workers.contains(&n) {
                let mut calls = Calls::new();
                let health = HealthSpec { fail_open: true, ..HealthSpec::default() };
                let store = calls.add("store_calls", &[l.store], c.store_call.clone(), Policy::RoundRobin, health);
                Node::Worker(Box::new(WorkerNode {
                    worker: Worker::new("workers", c.worker.clone(), l.control),
                    consumer: Consumer::new(cluster.clone(), "log", 0, 0),
                    calls,
                    store,
                    inc: 0,
                    draining: false,
                }))
            } else if n == l.store {
                Node::Store(Box::default())
            } else {
                Node::Producer(Box::new(Producer::new(cluster.clone(), "log")))
            }
        })
    }

    fn report(c: &Config, run: &RunView<'_, Node>) -> ModelReport {
        check::report(c, run)
    }
}
