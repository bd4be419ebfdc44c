//! # service: a stateless API tier behind a load balancer, over the standard parts
//!
//! The shape most system designs start from, built only from the `parts` crate: clients balance
//! their requests over the API servers (a [`Balancer`] inside each client's [`Calls`], with
//! timeouts, retries and an optional circuit breaker); each API server is a [`Pool`] of
//! `api.concurrency` workers in front of a bounded queue; with a `db` tier, a served request makes
//! one query to a database server (another `Pool`: its connection limit and per-query time), routed
//! by key, before it answers.
//!
//! This model is the parts' proving ground, and two questions are its reason to exist:
//!
//! - **Does the queueing come out right?** With Poisson arrivals, exponential service and one API
//!   server of `c` workers, the API tier is an M/M/c queue, and its mean wait must match Erlang C.
//!   The report puts the measured mean wait beside the M/M/c prediction computed from the
//!   *measured* arrival rate and mean service time (`api_wait_over_mmc`, 1.0 when they agree):
//!   this checks the pool, the workload generator and the measurement together.
//! - **What does a dead backend cost before it is noticed?** A crashed API server keeps receiving
//!   its share of requests until the clients' health checks (passive ejection after failed
//!   requests, or active pings) take it out; the requests sent to it time out. Without health
//!   checks it receives its share for as long as it is down.
//!
//! Op kind: `request` (the workload's key routes it under hashing policies and picks its database
//! shard). Outcomes: `Ok`; `Fail` when the API tier or the database refused or errored after the
//! retries; `Timeout` when the last attempt timed out; `Rejected` when the client's circuit breaker
//! or an empty healthy set refused it without sending.
//!
//! Check `no_lost_requests`: every request invoked in the main phase ended (with any outcome) by
//! the end of the run; a request still pending then was lost by the design (never answered, never
//! timed out). Measures: the API tier's mean wait, mean service time, utilisation, refusals, the
//! M/M/c prediction and the ratio, the load balancer's spread (`lb_share_max_over_mean`), failed
//! attempts, ejections and pings missed, and the database tier's wait and utilisation.
//!
//! Statistics of a part live in its node and die with it in a crash (the kernel's counters
//! `api.rejected`, `api.completed`, ... and the levels `api.queue`, `api.busy` survive).

pub mod inline;

use parts::balance::{Balancer, HealthSpec, Policy, ProbeMsg, ProbeTimer, Prober, answer_ping};
use parts::calls::{Answer, CallOutcome, CallPolicy, CallStats, CallTimer, Calls, ReqId, ServiceId};
use parts::pool::{Admit, Pool, PoolSpec, PoolStats, PoolTimer};
use serde::{Deserialize, Serialize};
use sim_core::cost::{count, distinct_among};
use sim_core::metrics::HistoryEntry;
use sim_core::{
    Actor, Check, Ctx, Duration, Message, Model, ModelReport, NodeId, Op, OpId, Outcome, Prng, Reply, RunView, Time,
    Topology,
};

/// The optional database tier: the servers after the API tier.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DbTier {
    /// Each database server's connection limit, queue and query time.
    pub pool: PoolSpec,
    /// How an API server calls the database.
    pub call: CallPolicy,
    /// How an API server picks a database server (default: by key on a consistent-hash ring).
    pub balance: Policy,
}

impl Default for DbTier {
    fn default() -> Self {
        DbTier {
            pool: PoolSpec { concurrency: 16, ..PoolSpec::default() },
            call: CallPolicy::default(),
            balance: Policy::ConsistentHash { vnodes: 64 },
        }
    }
}

/// ```ron
/// config: (
///     api_servers: Some(4),
///     api: (concurrency: 8, queue: 100, service: Exponential(mean: "10ms")),
///     balance: PowerOfTwo,
///     health: (eject_after: 3, eject_for: "5s"),
///     call: (timeout: "500ms", retries: 1),
///     db: Some((pool: (concurrency: 16, service: Constant("2ms")))),
/// )
/// ```
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// The first `api_servers` servers form the API tier (default: every server, or every server
    /// but one when there is a database tier).
    pub api_servers: Option<u32>,
    pub api: PoolSpec,
    /// The clients' load balancing over the API servers.
    pub balance: Policy,
    pub health: HealthSpec,
    /// How a client calls the API tier.
    pub call: CallPolicy,
    pub db: Option<DbTier>,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            api_servers: None,
            api: PoolSpec::default(),
            balance: Policy::RoundRobin,
            health: HealthSpec::default(),
            call: CallPolicy::default(),
            db: None,
        }
    }
}

impl Config {
    fn api_count(&self, servers: usize) -> usize {
        match self.api_servers {
            Some(n) => n as usize,
            None if self.db.is_some() => servers.saturating_sub(1),
            None => servers,
        }
    }
}

/// The design's own messages.
#[derive(Clone, Debug)]
pub enum AppMsg {
    Request { req: ReqId, key: u64 },
    Response { req: ReqId, answer: Answer },
    Query { req: ReqId, key: u64 },
    QueryResult { req: ReqId, answer: Answer },
}

impl Message for AppMsg {
    fn kind(&self) -> &'static str {
        match self {
            AppMsg::Request { .. } => "request",
            AppMsg::Response { .. } => "response",
            AppMsg::Query { .. } => "query",
            AppMsg::QueryResult { .. } => "query_result",
        }
    }
}

parts::wire! {
    /// Everything a node of this design sends.
    pub enum Msg { App(AppMsg), Probe(ProbeMsg) }
}
parts::wire! {
    timers pub enum Timer { Call(CallTimer), Pool(PoolTimer), Probe(ProbeTimer) }
}

/// A request held by a server until it is answered.
#[derive(Clone, Copy, Debug)]
pub struct Job {
    from: NodeId,
    req: ReqId,
    key: u64,
}

pub struct Client {
    calls: Calls<AppMsg, OpId>,
    api: ServiceId,
    prober: Prober,
}

pub struct Api {
    pool: Pool<Job>,
    /// The database tier, if any.
    db: Option<(Calls<AppMsg, Job>, ServiceId)>,
}

pub struct Db {
    pool: Pool<Job>,
}

pub enum Node {
    Client(Box<Client>),
    Api(Box<Api>),
    Db(Box<Db>),
}

fn outcome(o: CallOutcome) -> Outcome {
    match o {
        CallOutcome::Ok => Outcome::Ok,
        CallOutcome::Error => Outcome::Fail,
        CallOutcome::Timeout => Outcome::Timeout,
        CallOutcome::BreakerOpen | CallOutcome::NoBackend => Outcome::Rejected,
    }
}

fn respond(ctx: &mut Ctx<'_, Node>, job: Job, answer: Answer) {
    ctx.send(job.from, Msg::from(AppMsg::Response { req: job.req, answer }));
}

impl Client {
    fn on_msg(&mut self, ctx: &mut Ctx<'_, Node>, from: NodeId, msg: Msg) {
        match msg {
            Msg::App(AppMsg::Response { req, answer }) => {
                if let Some(done) = self.calls.reply(ctx, req, answer) {
                    ctx.complete(done.data, outcome(done.outcome), Reply::None);
                }
            }
            Msg::Probe(ProbeMsg::Pong { seq }) => self.prober.on_pong(from, seq, self.calls.balancer_mut(self.api)),
            _ => {}
        }
    }

    fn on_timer(&mut self, ctx: &mut Ctx<'_, Node>, timer: Timer) {
        match timer {
            Timer::Call(t) => {
                if let Some(done) = self.calls.on_timer(ctx, t) {
                    ctx.complete(done.data, outcome(done.outcome), Reply::None);
                }
            }
            Timer::Probe(t) => self.prober.on_timer(ctx, t, self.calls.balancer_mut(self.api)),
            Timer::Pool(_) => {}
        }
    }

    fn on_op(&mut self, ctx: &mut Ctx<'_, Node>, op: Op) {
        let key = op.key;
        if let Err(done) = self.calls.call(ctx, self.api, key, |req| AppMsg::Request { req, key }, op.id) {
            ctx.complete(done.data, outcome(done.outcome), Reply::None);
        }
    }
}

impl Api {
    fn on_msg(&mut self, ctx: &mut Ctx<'_, Node>, from: NodeId, msg: Msg) {
        match msg {
            Msg::App(AppMsg::Request { req, key }) => match self.pool.submit(ctx, Job { from, req, key }) {
                Admit::Started | Admit::Queued => {}
                Admit::Rejected(job) | Admit::Dropped(job) => respond(ctx, job, Answer::Retryable),
            },
            Msg::App(AppMsg::QueryResult { req, answer }) => {
                if let Some((calls, _)) = &mut self.db
                    && let Some(done) = calls.reply(ctx, req, answer)
                {
                    let answer = if done.outcome == CallOutcome::Ok { Answer::Ok } else { Answer::Retryable };
                    respond(ctx, done.data, answer);
                }
            }
            Msg::Probe(ProbeMsg::Ping { seq }) => answer_ping(ctx, from, seq),
            _ => {}
        }
    }

    fn on_timer(&mut self, ctx: &mut Ctx<'_, Node>, timer: Timer) {
        match timer {
            Timer::Pool(t) => {
                if let Some(job) = self.pool.on_timer(ctx, t) {
                    self.served(ctx, job);
                }
                for job in self.pool.take_shed() {
                    respond(ctx, job, Answer::Retryable);
                }
            }
            Timer::Call(t) => {
                if let Some((calls, _)) = &mut self.db
                    && let Some(done) = calls.on_timer(ctx, t)
                {
                    respond(ctx, done.data, Answer::Retryable);
                }
            }
            Timer::Probe(_) => {}
        }
    }

    /// The request's work is done: answer, or query the database first.
    fn served(&mut self, ctx: &mut Ctx<'_, Node>, job: Job) {
        let Some((calls, db)) = &mut self.db else {
            respond(ctx, job, Answer::Ok);
            return;
        };
        let key = job.key;
        if let Err(done) = calls.call(ctx, *db, key, |req| AppMsg::Query { req, key }, job) {
            respond(ctx, done.data, Answer::Retryable);
        }
    }
}

impl Db {
    fn on_msg(&mut self, ctx: &mut Ctx<'_, Node>, from: NodeId, msg: Msg) {
        if let Msg::App(AppMsg::Query { req, key }) = msg {
            match self.pool.submit(ctx, Job { from, req, key }) {
                Admit::Started | Admit::Queued => {}
                Admit::Rejected(job) | Admit::Dropped(job) => {
                    ctx.send(job.from, Msg::from(AppMsg::QueryResult { req: job.req, answer: Answer::Retryable }))
                }
            }
        }
    }

    fn on_timer(&mut self, ctx: &mut Ctx<'_, Node>, timer: Timer) {
        if let Timer::Pool(t) = timer {
            if let Some(job) = self.pool.on_timer(ctx, t) {
                ctx.send(job.from, Msg::from(AppMsg::QueryResult { req: job.req, answer: Answer::Ok }));
            }
            for job in self.pool.take_shed() {
                ctx.send(job.from, Msg::from(AppMsg::QueryResult { req: job.req, answer: Answer::Retryable }));
            }
        }
    }
}

impl Actor for Node {
    type Msg = Msg;
    type Timer = Timer;
    type Record = ();
    /// With many clients (`clients_100k`), a client's call state is a cache miss at each of its
    /// operations: hinted an arrival ahead (`prefetch_op`). No message hints: those cost a look at
    /// the next event for every event, and the servers' state is small.
    const PREFETCH_OP: bool = true;

    #[inline]
    fn prefetch_op(&self) {
        if let Node::Client(c) = self {
            c.calls.prefetch();
        }
    }

    fn on_start(&mut self, ctx: &mut Ctx<'_, Self>) {
        if let Node::Client(c) = self {
            let b = c.calls.balancer(c.api).clone();
            c.prober.start(ctx, &b);
        }
    }

    fn on_msg(&mut self, ctx: &mut Ctx<'_, Self>, from: NodeId, msg: Msg) {
        match self {
            Node::Client(c) => c.on_msg(ctx, from, msg),
            Node::Api(a) => a.on_msg(ctx, from, msg),
            Node::Db(d) => d.on_msg(ctx, from, msg),
        }
    }

    fn on_timer(&mut self, ctx: &mut Ctx<'_, Self>, timer: Timer) {
        match self {
            Node::Client(c) => c.on_timer(ctx, timer),
            Node::Api(a) => a.on_timer(ctx, timer),
            Node::Db(d) => d.on_timer(ctx, timer),
        }
    }

    fn on_op(&mut self, ctx: &mut Ctx<'_, Self>, op: Op) {
        match self {
            Node::Client(c) => c.on_op(ctx, op),
            _ => ctx.complete(op.id, Outcome::Rejected, Reply::None),
        }
    }
}

pub struct Service;

impl Model for Service {
    const TRANSPORT: sim_core::net::Transport = sim_core::net::Transport::Connection;
    const KEEP_CRASHED_ACTORS: bool = true;
    const CHECKS: &'static [&'static str] = &["no_lost_requests"];
    const NAME: &'static str = "service";
    const ABOUT: &'static str =
        "stateless API tier behind a load balancer (pools, calls, health checks), optionally over a database tier";
    const OP_KINDS: &'static [&'static str] = &["request"];
    type Config = Config;
    type Actor = Node;

    fn validate(c: &Config, topo: &Topology) -> Vec<(String, String)> {
        let mut e = Vec::new();
        let servers = topo.servers.len();
        let api = c.api_count(servers);
        let db_servers = servers.saturating_sub(api);
        if api == 0 || api > servers {
            e.push(("config.api_servers".into(), format!("must be within [1, {servers}] (the servers), got {api}")));
        }
        match &c.db {
            Some(db) => {
                if db_servers == 0 {
                    e.push((
                        "config.db".into(),
                        "a database tier needs servers after the API tier (raise topology.servers or lower api_servers)"
                            .into(),
                    ));
                }
                e.extend(db.pool.validate("config.db.pool"));
                e.extend(db.call.validate("config.db.call"));
                e.extend(db.balance.validate("config.db.balance"));
            }
            None if api < servers && c.api_servers.is_some() => e.push((
                "config.api_servers".into(),
                format!("{} servers would be idle: without a db tier every server is an API server", servers - api),
            )),
            None => {}
        }
        e.extend(c.api.validate("config.api"));
        e.extend(c.call.validate("config.call"));
        e.extend(c.balance.validate("config.balance"));
        e.extend(c.health.validate("config.health"));
        e
    }

    /// Per client: its calls (a downstream with its balancer's backends), the pending map's
    /// B-tree node that stays once a call was made, the kernel's timer state (a client sets call
    /// timers; the kernel counts that only for servers): ~4 kB, measured as the slope between
    /// `clients_100k.ron` at 50,000 and 100,000 clients (362 and 610 MB over a tiny run, 5.0 kB
    /// a client, of which ~1 kB its connections). The pairs of nodes that talk, whose
    /// connections the kernel counts (`Footprint::talking`); per request in flight its call, job
    /// and queue place. Events: a request and a response per operation (2), a query, its result
    /// and the database's pool timer with a db tier (3), the active health checks' pings and
    /// pongs. Measured on `clients_100k.ron`: 666 MB estimated, 617 used (peak RSS minus 8 MB),
    /// 1.08.
    fn footprint(c: &Config, topo: &Topology, load: &sim_core::cost::Load) -> sim_core::cost::Footprint {
        let api = c.api_count(topo.servers.len()).max(1) as f64;
        let db = (topo.servers.len() as f64 - api).max(0.0);
        let clients = topo.clients.len() as f64;
        let ops = load.total();
        let per_client = ops / clients.max(1.0);
        let spread =
            if c.balance == Policy::RoundRobin { per_client.min(api) } else { distinct_among(api, per_client) };
        let mut pairs = 2.0 * clients * spread;
        let mut events = ops * 2.0;
        if c.db.is_some() {
            pairs += 2.0 * api * distinct_among(db, ops / api);
            events += ops * 3.0;
        }
        if let Some(a) = &c.health.active {
            events += clients * api * load.times_every(a.interval) * 2.0;
        }
        sim_core::cost::Footprint { events, queued: load.in_flight * 2.0, talking: pairs, ..Default::default() }
            .part(
                format!("clients: {} x 4 kB (calls, balancer, pending map, timer state)", count(clients)),
                clients * 4_000.0,
            )
            .part(format!("requests in flight: {} x 300 B", count(load.in_flight)), load.in_flight * 300.0)
    }

    fn factory(c: &Config, topo: &Topology, _setup: &mut Prng) -> Box<dyn FnMut(NodeId) -> Node> {
        let api_count = c.api_count(topo.servers.len());
        let api: Vec<NodeId> = topo.servers[..api_count].to_vec();
        let db: Vec<NodeId> = topo.servers[api_count..].to_vec();
        let c = c.clone();
        let topo = topo.clone();
        Box::new(move |n| {
            if topo.is_client(n) {
                let mut calls = Calls::new();
                let svc = calls.add("api_calls", &api, c.call.clone(), c.balance, c.health.clone());
                return Node::Client(Box::new(Client { calls, api: svc, prober: Prober::default() }));
            }
            if n.index() < api_count {
                let db = c.db.as_ref().map(|d| {
                    let mut calls = Calls::new();
                    let svc = calls.add("db_calls", &db, d.call.clone(), d.balance, HealthSpec::default());
                    (calls, svc)
                });
                return Node::Api(Box::new(Api { pool: Pool::new("api", c.api.clone()), db }));
            }
            let spec = c.db.as_ref().map(|d| d.pool.clone()).unwrap_or_default();
            Node::Db(Box::new(Db { pool: Pool::new("db", spec) }))
        })
    }

    fn report(c: &Config, run: &RunView<'_, Node>) -> ModelReport {
        report(c, run)
    }
}

/// Requests invoked before `main_end` that never ended: `(judged, lost, first lost)`.
pub fn lost_requests(history: &[HistoryEntry], main_end: Time) -> (u64, u64, Option<&HistoryEntry>) {
    let judged: Vec<&HistoryEntry> = history.iter().filter(|h| h.invoke < main_end).collect();
    let lost: Vec<&&HistoryEntry> = judged.iter().filter(|h| h.outcome.is_none()).collect();
    (judged.len() as u64, lost.len() as u64, lost.first().map(|h| **h))
}

/// The M/M/c mean wait (s) predicted for one pool from its measured arrivals and service.
fn mmc_prediction(stats: &PoolStats, servers: u32, elapsed: Duration) -> Option<f64> {
    let lambda = stats.arrivals as f64 / elapsed.as_secs_f64();
    let service = stats.mean_service_s();
    if service <= 0.0 {
        return None;
    }
    sim_core::queueing::mmc_mean_wait(servers, lambda, 1.0 / service)
}

fn report(c: &Config, run: &RunView<'_, Node>) -> ModelReport {
    let mut r = ModelReport::default();
    let (judged, lost, first) = lost_requests(run.history(), run.main_end);
    let detail = match first {
        Some(h) => format!(
            "{lost} of {judged} requests never ended; first: {:?} invoked at {} by {}",
            h.op, h.invoke, h.client
        ),
        None => format!("{judged} requests, every one ended (ok, failed, timed out or refused)"),
    };
    r.checks.push(
        Check::judged("no_lost_requests", judged, "requests")
            .violations(lost, "never ended")
            .detail(detail)
            .blame_ops(first),
    );

    let elapsed = Duration(run.main_end.0.max(1));
    let (mut api, mut db) = (PoolStats::default(), PoolStats::default());
    let (mut api_nodes, mut db_nodes) = (0u64, 0u64);
    // The M/M/c prediction per API server, weighted by its arrivals.
    let (mut predicted_sum, mut predicted_weight) = (0.0f64, 0.0f64);
    let mut client_calls = CallStats::default();
    let mut picks: Vec<u64> = Vec::new();
    let (mut ejections, mut marked_down, mut pings_missed) = (0u64, 0u64, 0u64);
    // The pools' counts over every incarnation (a backend's crash does not take back the
    // requests it served); the nodes and the M/M/c prediction (rates over the whole main phase)
    // over the running ones.
    for (_, node) in run.incarnations() {
        match node {
            Node::Api(a) => api.add(&a.pool.stats),
            Node::Db(d) => db.add(&d.pool.stats),
            Node::Client(_) => {}
        }
    }
    for (_, node) in run.servers() {
        match node {
            Node::Api(a) => {
                api_nodes += 1;
                if let Some(w) = mmc_prediction(&a.pool.stats, a.pool.spec().concurrency, elapsed) {
                    predicted_sum += w * a.pool.stats.started as f64;
                    predicted_weight += a.pool.stats.started as f64;
                }
            }
            Node::Db(_) => db_nodes += 1,
            Node::Client(_) => {}
        }
    }
    for &n in &run.topology().clients {
        if let Some(Node::Client(cl)) = run.sim.actor(n) {
            client_calls.add(cl.calls.stats(cl.api));
            let b: &Balancer = cl.calls.balancer(cl.api);
            let p = b.picks();
            if picks.is_empty() {
                picks = vec![0; p.len()];
            }
            for (i, (_, k)) in p.iter().enumerate() {
                picks[i] += k;
            }
            ejections += b.stats.ejections;
            marked_down += b.stats.marked_down;
            pings_missed += cl.prober.missed;
        }
    }
    let m = &mut r.measures;
    let ms = |s: f64| s * 1e3;
    m.insert("api_arrivals".into(), api.arrivals as f64);
    m.insert("api_wait_mean_ms".into(), ms(api.mean_wait_s()));
    m.insert("api_service_mean_ms".into(), ms(api.mean_service_s()));
    m.insert("api_utilisation".into(), api.utilisation(api_nodes * c.api.concurrency as u64, elapsed));
    m.insert("api_rejected".into(), (api.rejected + api.dropped) as f64);
    m.insert("api_shed".into(), api.shed as f64);
    m.insert("api_queue_max".into(), api.queue_max as f64);
    if predicted_weight > 0.0 {
        let predicted = predicted_sum / predicted_weight;
        m.insert("api_wait_mmc_ms".into(), ms(predicted));
        if predicted > 0.0 {
            m.insert("api_wait_over_mmc".into(), api.mean_wait_s() / predicted);
        }
    }
    if !picks.is_empty() {
        let total: u64 = picks.iter().sum();
        let mean = total as f64 / picks.len() as f64;
        let max = *picks.iter().max().expect("non-empty") as f64;
        m.insert("lb_share_max_over_mean".into(), if mean > 0.0 { max / mean } else { 0.0 });
    }
    m.insert("client_attempts".into(), client_calls.attempts as f64);
    m.insert("client_attempt_timeouts".into(), client_calls.attempt_timeouts as f64);
    m.insert("client_retries".into(), client_calls.retries as f64);
    m.insert("client_breaker_rejected".into(), client_calls.breaker_rejected as f64);
    m.insert("lb_ejections".into(), ejections as f64);
    m.insert("lb_marked_down".into(), marked_down as f64);
    m.insert("health_pings_missed".into(), pings_missed as f64);
    if let Some(d) = &c.db {
        m.insert("db_wait_mean_ms".into(), ms(db.mean_wait_s()));
        m.insert("db_utilisation".into(), db.utilisation(db_nodes * d.pool.concurrency as u64, elapsed));
        m.insert("db_rejected".into(), (db.rejected + db.dropped) as f64);
    }
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(op: u64, invoke: u64, outcome: Option<Outcome>) -> HistoryEntry {
        HistoryEntry {
            op: OpId::new(op),
            client: NodeId(9),
            kind: 0,
            key: 0,
            value: op,
            attempt: 1,
            invoke: Time(invoke),
            complete: outcome.map(|_| Time(invoke + 1)).into(),
            outcome,
            reply: Reply::None,
        }
    }

    #[test]
    fn a_request_that_never_ends_is_lost() {
        let h = vec![entry(0, 10, Some(Outcome::Ok)), entry(1, 20, None), entry(2, 30, Some(Outcome::Timeout))];
        let (judged, lost, first) = lost_requests(&h, Time(100));
        assert_eq!((judged, lost), (3, 1));
        assert_eq!(first.map(|h| h.op), Some(OpId(1)));
        // Requests invoked after the main phase are not judged.
        let (judged, lost, _) = lost_requests(&h, Time(15));
        assert_eq!((judged, lost), (1, 0));
    }
}
