//! The `service` design's core written inline, without the parts: the baseline of the parts'
//! overhead benchmark (`scenarios/perf/service_parts.ron` against `service_inline.ron`).
//!
//! Only what both can do the same way: clients round-robin over the API servers with a timeout
//! and no retries, breaker or health checks; each API server is `concurrency` workers over a FIFO
//! queue with service times from the same distribution; no database tier. It makes the same
//! random draws, sets the same timers and sends the same messages in the same order as the parts
//! version, so for a scenario both accept the two runs are the same run: equal trace hashes (a
//! test checks it). What differs is only the code path, which is what the benchmark measures.

use crate::{AppMsg, Config, Msg, Service};
use parts::balance::Policy;
use parts::calls::{Answer, ReqId};
use sim_core::cost::count;
use sim_core::{
    Actor, Ctx, Dist, Duration, Model, ModelReport, NodeId, Op, OpId, Outcome, Prng, Reply, RunView, TimerId, Topology,
};
use std::collections::{BTreeMap, VecDeque};

#[derive(Clone, Debug)]
pub enum Timer {
    Timeout(u64),
    Served(u64),
}

pub enum Node {
    Client {
        api: Vec<NodeId>,
        next: usize,
        next_req: u64,
        timeout: Duration,
        pending: BTreeMap<u64, (OpId, TimerId)>,
    },
    Api {
        service: Dist,
        concurrency: usize,
        queue_cap: usize,
        queue: VecDeque<(NodeId, ReqId, Duration)>,
        busy: BTreeMap<u64, (NodeId, ReqId)>,
        next: u64,
    },
}

impl Node {
    fn start(
        ctx: &mut Ctx<'_, Node>,
        busy: &mut BTreeMap<u64, (NodeId, ReqId)>,
        next: &mut u64,
        job: (NodeId, ReqId),
        service: Duration,
    ) {
        let id = *next;
        *next += 1;
        busy.insert(id, job);
        ctx.set_timer(service, Timer::Served(id));
    }
}

impl Actor for Node {
    type Msg = Msg;
    type Timer = Timer;
    type Record = ();

    fn on_start(&mut self, _ctx: &mut Ctx<'_, Self>) {}

    fn on_op(&mut self, ctx: &mut Ctx<'_, Self>, op: Op) {
        let Node::Client { api, next, next_req, timeout, pending } = self else {
            ctx.complete(op.id, Outcome::Rejected, Reply::None);
            return;
        };
        let req = *next_req;
        *next_req += 1;
        let to = api[*next];
        *next = (*next + 1) % api.len();
        ctx.send(to, Msg::App(AppMsg::Request { req: ReqId(req), key: op.key }));
        let t = ctx.set_timer(*timeout, Timer::Timeout(req));
        pending.insert(req, (op.id, t));
    }

    fn on_msg(&mut self, ctx: &mut Ctx<'_, Self>, from: NodeId, msg: Msg) {
        match (self, msg) {
            (Node::Client { pending, .. }, Msg::App(AppMsg::Response { req, answer })) => {
                if let Some((op, t)) = pending.remove(&req.0) {
                    ctx.cancel_timer(t);
                    let outcome = if answer == Answer::Ok { Outcome::Ok } else { Outcome::Fail };
                    ctx.complete(op, outcome, Reply::None);
                }
            }
            (
                Node::Api { service, concurrency, queue_cap, queue, busy, next },
                Msg::App(AppMsg::Request { req, .. }),
            ) => {
                let service = service.sample(ctx.rng());
                if busy.len() < *concurrency && queue.is_empty() {
                    Node::start(ctx, busy, next, (from, req), service);
                } else if queue.len() < *queue_cap {
                    queue.push_back((from, req, service));
                } else {
                    ctx.send(from, Msg::App(AppMsg::Response { req, answer: Answer::Retryable }));
                }
            }
            _ => {}
        }
    }

    fn on_timer(&mut self, ctx: &mut Ctx<'_, Self>, timer: Timer) {
        match (self, timer) {
            (Node::Client { pending, .. }, Timer::Timeout(req)) => {
                if let Some((op, _)) = pending.remove(&req) {
                    ctx.complete(op, Outcome::Timeout, Reply::None);
                }
            }
            (Node::Api { concurrency, queue, busy, next, .. }, Timer::Served(id)) => {
                // Like the pool: the next waiter starts, then the served request is answered.
                let Some((from, req)) = busy.remove(&id) else { return };
                while busy.len() < *concurrency {
                    let Some((f, r, service)) = queue.pop_front() else { break };
                    Node::start(ctx, busy, next, (f, r), service);
                }
                ctx.send(from, Msg::App(AppMsg::Response { req, answer: Answer::Ok }));
            }
            _ => {}
        }
    }
}

/// The inline baseline as a model of its own (`model: "service_inline"`).
pub struct ServiceInline;

impl Model for ServiceInline {
    const TRANSPORT: sim_core::net::Transport = sim_core::net::Transport::Connection;
    const CHECKS: &'static [&'static str] = &["no_lost_requests"];
    const NAME: &'static str = "service_inline";
    const ABOUT: &'static str = "benchmark baseline: the service model's core hand-written without the parts";
    const OP_KINDS: &'static [&'static str] = Service::OP_KINDS;
    type Config = Config;
    type Actor = Node;

    fn validate(c: &Config, topo: &Topology) -> Vec<(String, String)> {
        let mut e = Service::validate(c, topo);
        let unsupported = [
            (c.db.is_some(), "config.db"),
            (c.balance != Policy::RoundRobin, "config.balance"),
            (c.call.retries > 0 || c.call.breaker.is_some(), "config.call"),
            (c.health.eject_after > 0 || c.health.active.is_some(), "config.health"),
            (
                c.api.overflow != parts::pool::Overflow::RejectNew
                    || c.api.discipline != parts::pool::Discipline::Fifo
                    || c.api.queue_timeout.is_some(),
                "config.api",
            ),
        ];
        for (bad, path) in unsupported {
            if bad {
                e.push((path.into(), "the inline baseline supports only round robin, no retries, breaker, health checks or db, and a FIFO queue that rejects when full".into()));
            }
        }
        e
    }

    /// Per client: its copy of the API servers' list, the pending map's B-tree node that stays
    /// once a request was made, the kernel's timer state: ~450 B; its connections to every API
    /// server it reached (round robin: all of them after `api` requests), as the pairs that
    /// talk, which the kernel counts (`Footprint::talking`). Measured as the slope between
    /// `service_inline.ron` at 50,000 and 100,000 clients: 1.9 kB a client (216 and 313 MB peak
    /// RSS; 239 and 321 MB estimated, a slope of 1.6 kB).
    /// Events: a request and a response per operation, as `service`.
    fn footprint(_c: &Config, topo: &Topology, load: &sim_core::cost::Load) -> sim_core::cost::Footprint {
        let api = topo.servers.len() as f64;
        let clients = topo.clients.len() as f64;
        let ops = load.total();
        let pairs = 2.0 * clients * (ops / clients.max(1.0)).min(api);
        sim_core::cost::Footprint {
            events: ops * 2.0,
            queued: load.in_flight * 2.0,
            talking: pairs,
            ..Default::default()
        }
        .part(format!("clients: {} x 450 B (servers' list, pending map, timer state)", count(clients)), clients * 450.0)
        .part(format!("requests in flight: {} x 100 B", count(load.in_flight)), load.in_flight * 100.0)
    }

    fn factory(c: &Config, topo: &Topology, _setup: &mut Prng) -> Box<dyn FnMut(NodeId) -> Node> {
        let api: Vec<NodeId> = topo.servers.clone();
        let c = c.clone();
        let topo = topo.clone();
        Box::new(move |n| {
            if topo.is_client(n) {
                Node::Client {
                    api: api.clone(),
                    next: 0,
                    next_req: 0,
                    timeout: c.call.timeout,
                    pending: BTreeMap::new(),
                }
            } else {
                Node::Api {
                    service: c.api.service.clone(),
                    concurrency: c.api.concurrency as usize,
                    queue_cap: c.api.queue as usize,
                    queue: VecDeque::new(),
                    busy: BTreeMap::new(),
                    next: 0,
                }
            }
        })
    }

    fn report(_c: &Config, run: &RunView<'_, Node>) -> ModelReport {
        let mut r = ModelReport::default();
        let (judged, lost, _) = crate::lost_requests(run.history(), run.main_end);
        r.checks.push(
            sim_core::Check::judged("no_lost_requests", judged, "requests")
                .violations(lost, "never ended")
                .detail(format!("{lost} of {judged} requests never ended")),
        );
        r
    }
}
