//! # checkout: stock reservations in a sharded KV store, payments through a third party
//!
//! The flash-sale / ticket-booking checkout of the notes, built from the `parts` crate: clients
//! call API servers (a [`Calls`] with a load balancer each); an API server holds one of its
//! `workers` (a thread per request, waiting with it) for each request until it answers, and talks
//! to a sharded KV store ([`parts::kv`]) and a payment provider ([`parts::provider`]) through one
//! [`Calls`] (timeouts, retries with backoff and jitter, a circuit breaker per downstream).
//!
//! **Buy** (`buy`, key modulo `items` = the item): reserve with the store's atomic "decrement if at least 1" that
//! also creates a hold row (one unit, expiring after `hold_ttl`), the notes' Redis + Lua script;
//! then charge the provider; then confirm (delete the hold), or, if the charge failed, release
//! the hold (delete it and give the unit back, atomically). A hold whose API server never came
//! back (it crashed, the store timed out) expires, and the *reaper* node gives the unit back, as
//! `reaper` says (a [`kv::Reaper`], run by [`kv::Restocker`]):
//! - `Events` (the notes' design): the store deletes the hold at its TTL and sends a keyspace
//!   event to the reaper, which gives the unit back (`Incr`). Those events are fire-and-forget,
//!   like Redis's: an event lost (reaper down, message dropped) leaks a unit, never sells one
//!   twice (the measure `units_leaked`).
//! - `Sweep(every)`: the hold keeps a deadline and no TTL; every `every` the reaper runs one
//!   script per item that deletes its holds past their deadline and gives their units back in
//!   the same step. A lost call loses nothing: the next sweep does its work.
//!
//! A confirm that finds its hold expired (deleted at its TTL, or past its deadline) refunds (the
//! unit went, or goes, back to stock).
//!
//! **Stock** (`stock`, key modulo `items`) reads the item's count, from a follower by default
//! (`stock_reads`: a stale count is fine for a product page). **Cart** (`cart_put`, `cart_get`,
//! key = user) writes and reads the user's cart row on the shard's primary: versioned rows whose
//! acknowledged writes must survive a crash of the primary.
//!
//! Nodes (servers in id order): `api_servers` API servers, then the store's `kv.shards *
//! kv.replicas` nodes (shard by shard, primary first), then the provider, then the reaper;
//! clients after them.
//!
//! Checks:
//! - `durable_writes`: every acknowledged `cart_put` is in the store's final state (the primaries'
//!   rows after the liveness phase) or superseded there by a later version.
//! - `fresh_reads`: no `cart_get` returns a version older than a `cart_put` acknowledged before it
//!   was invoked (the primary's reads wait for the disk, so a crash cannot take back what they saw).
//! - `sales_backed`: per item, acknowledged sales never exceed the units gone from the store
//!   (initial stock - final stock - units on hold): no unit is sold twice.
//!
//! Measures: the shop's (`bought`, `sold_out`, `payment_failed`, `late_confirms`, `units_leaked`,
//! `units_restocked`, and with `Sweep` `holds_reaped`, `reaps`, `reaps_failed`; `confirmed`:
//! confirms an API server saw answered, `confirmed_in_store`:
//! confirms in the store's logs, `confirms_unanswered`: the difference, confirms whose answer died
//! with a crashed API server or a timed-out call, sales all the same), the store's (`kv_*`: writes, conflicts, expired, keyspace events, duplicate
//! writes answered from the idempotency table, busy answers, follower reads, resent log entries),
//! the provider's (`provider_*`) and the payment calls' (`pay_*`: attempts, retries, timeouts, the
//! breaker's openings and refusals), the API tier's (`api_busy`, `api_waiting_max`).
//!
//! The failure this model exists to show: a payment provider outage without a circuit breaker.
//! Every buy then holds an API worker through its timeouts and retries, the workers run out, and
//! requests that never touch the provider (stock reads) queue behind them and time out. With the
//! breaker, buys fail fast during the outage and everything else carries on.

pub mod check;

use parts::calls::{Answer, CallOutcome, CallPolicy, CallStats, CallTimer, Calls, Done, ReqId, ServiceId};
use parts::kv::{
    self, Hold, KvClient, KvResult, KvServer, KvSpec, KvStats, ReadFrom, Reaper, RestockStats, Restocker, ShardMap,
    tagged,
};
use parts::pool::{PoolTimer, Slots};
use parts::provider::{self, Provider, ProviderSpec, ProviderStats};
use serde::{Deserialize, Serialize};
use sim_core::cost::count;
use sim_core::{
    Actor, Check, Ctx, Dist, Duration, Message, Model, ModelReport, NodeId, Op, OpId, Outcome, Prng, Reply, RunView,
    Topology, WriteId,
};
use std::collections::BTreeMap;

/// ```ron
/// config: (
///     api_servers: 2, workers: 32, queue: 200, api_service: Exponential(mean: "1ms"),
///     client: (timeout: "3s"),
///     kv: (shards: 2, replicas: 2), kv_call: (timeout: "300ms", retries: 2),
///     provider: (latency: LogNormal(median: "80ms", sigma: 0.4), rate_limit: Some((per_s: 500.0, burst: 100))),
///     payment: (timeout: "400ms", retries: 2, breaker: Some((failures: 5, cooldown: "2s"))),
///     items: 100, stock: 1000, hold_ttl: "30s", stock_reads: Follower,
///     reaper: Events,                          // or Sweep(every: "1s")
/// )
/// ```
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    pub api_servers: u32,
    /// Per API server: requests in progress at once; each holds its worker until it answers.
    pub workers: u32,
    /// Per API server: requests waiting for a worker (more are answered busy).
    pub queue: u32,
    /// An API server's own work on a request, before it calls anything.
    pub api_service: Dist,
    /// How a client calls the API tier.
    pub client: CallPolicy,
    pub kv: KvSpec,
    /// How an API server (and the reaper) calls the store.
    pub kv_call: CallPolicy,
    pub provider: ProviderSpec,
    /// How an API server calls the payment provider.
    pub payment: CallPolicy,
    pub items: u32,
    /// Units of each item at the start.
    pub stock: i64,
    /// How long a reservation holds its unit before it expires.
    pub hold_ttl: Duration,
    pub stock_reads: ReadFrom,
    /// How an expired hold's unit goes back to stock: `Events` (the store's keyspace events, the
    /// notes' design) or `Sweep(every: "1s")` (holds keep a deadline, and the reaper deletes those
    /// past it and gives their units back in one script per item, every `every`).
    pub reaper: Reaper,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            api_servers: 2,
            workers: 32,
            queue: 200,
            api_service: Dist::Constant(Duration::from_millis(1)),
            client: CallPolicy { timeout: Duration::from_secs(3), ..CallPolicy::default() },
            kv: KvSpec { shards: 2, ..KvSpec::default() },
            kv_call: CallPolicy { timeout: Duration::from_millis(300), retries: 2, ..CallPolicy::default() },
            provider: ProviderSpec::default(),
            payment: CallPolicy { timeout: Duration::from_millis(400), retries: 2, ..CallPolicy::default() },
            items: 100,
            stock: 1000,
            hold_ttl: Duration::from_secs(30),
            stock_reads: ReadFrom::Follower,
            reaper: Reaper::Events,
        }
    }
}

/// Which server does what.
#[derive(Clone, Debug)]
struct Layout {
    api: Vec<NodeId>,
    kv: Vec<NodeId>,
    provider: NodeId,
    reaper: NodeId,
}

impl Layout {
    fn servers_needed(c: &Config) -> usize {
        c.api_servers as usize + c.kv.nodes() + 2
    }
    fn new(c: &Config, topo: &Topology) -> Layout {
        let s = &topo.servers;
        let (a, k) = (c.api_servers as usize, c.kv.nodes());
        Layout { api: s[..a].to_vec(), kv: s[a..a + k].to_vec(), provider: s[a + k], reaper: s[a + k + 1] }
    }
}

/// The key of an item's stock row (its holds share its tag, so they live on its shard).
pub fn stock_key(item: u64) -> u64 {
    tagged(item, 0)
}

/// A user's cart row.
pub fn cart_key(user: u64) -> u64 {
    (1 << 40) + user
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Buy,
    Stock,
    CartPut,
    CartGet,
}

impl Kind {
    fn of(op: &Op) -> Kind {
        [Kind::Buy, Kind::Stock, Kind::CartPut, Kind::CartGet][op.kind as usize]
    }
}

/// An API server's answer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Status {
    /// Buy: 1 bought, 0 sold out. Stock: the count. Cart: the value and its version.
    Ok(u64, u64),
    /// Definitely not done (payment failed, the store refused or did not answer).
    Failed,
    /// No worker and no room to wait: retry.
    Busy,
}

#[derive(Clone, Debug)]
pub enum AppMsg {
    Request { req: ReqId, kind: Kind, key: u64, value: u64 },
    Response { req: ReqId, status: Status },
}

impl Message for AppMsg {
    fn kind(&self) -> &'static str {
        match self {
            AppMsg::Request { .. } => "request",
            AppMsg::Response { .. } => "response",
        }
    }
}

/// An API server's own work on a request is done.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Cpu(u64);

parts::wire! {
    /// Everything a node of this design sends.
    pub enum Msg { App(AppMsg), Kv(kv::Msg), Pay(provider::Msg) }
}
parts::wire! {
    timers pub enum Timer { Call(CallTimer), Pool(PoolTimer), Kv(kv::Timer), Pay(provider::Timer), Cpu(Cpu) }
}

fn outcome(o: CallOutcome) -> Outcome {
    match o {
        CallOutcome::Ok => Outcome::Ok,
        CallOutcome::Error => Outcome::Fail,
        CallOutcome::Timeout => Outcome::Timeout,
        CallOutcome::BreakerOpen | CallOutcome::NoBackend => Outcome::Rejected,
    }
}

// ----- clients -----

pub struct Client {
    calls: Calls<Msg, (OpId, Kind)>,
    api: ServiceId,
}

impl Client {
    fn on_op(&mut self, ctx: &mut Ctx<'_, Node>, op: Op) {
        let (kind, key, value) = (Kind::of(&op), op.key, op.value);
        let make = |req| Msg::from(AppMsg::Request { req, kind, key, value });
        if let Err(d) = self.calls.call(ctx, self.api, key, make, (op.id, kind)) {
            ctx.complete(d.data.0, outcome(d.outcome), Reply::None);
        }
    }

    fn on_response(&mut self, ctx: &mut Ctx<'_, Node>, req: ReqId, status: Status) {
        let answer = match status {
            Status::Ok(..) => Answer::Ok,
            Status::Failed => Answer::Fatal,
            Status::Busy => Answer::Retryable,
        };
        let Some(d) = self.calls.reply(ctx, req, answer) else { return };
        let reply = match (status, d.data.1) {
            (Status::Ok(a, _), Kind::Buy | Kind::Stock) => Reply::Value(a),
            (Status::Ok(a, b), _) => Reply::list([a, b]),
            _ => Reply::None,
        };
        ctx.complete(d.data.0, outcome(d.outcome), reply);
    }
}

// ----- API servers -----

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Stage {
    Waiting,
    Reserve,
    Charge,
    Confirm,
    Release,
    Read,
    Write,
}

#[derive(Clone, Copy, Debug)]
struct Job {
    from: NodeId,
    req: ReqId,
    kind: Kind,
    key: u64,
    value: u64,
    stage: Stage,
    hold: u64,
}

/// What an API server's buys came to, summed over the tier in the report (a crashed server's
/// counts die with it; confirmed sales are also counted by the kernel, as `shop.confirmed`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ShopStats {
    pub bought: u64,
    pub sold_out: u64,
    pub payment_failed: u64,
    /// Charges that timed out: the customer may have been charged (reconciliation's business).
    pub charge_unknown: u64,
    /// Confirms that found the hold expired: refunded.
    pub late_confirms: u64,
    pub released: u64,
    pub store_errors: u64,
    pub busy: u64,
}

impl ShopStats {
    pub fn add(&mut self, o: &ShopStats) {
        self.bought += o.bought;
        self.sold_out += o.sold_out;
        self.payment_failed += o.payment_failed;
        self.charge_unknown += o.charge_unknown;
        self.late_confirms += o.late_confirms;
        self.released += o.released;
        self.store_errors += o.store_errors;
        self.busy += o.busy;
    }
}

pub struct Api {
    /// This server's place in the tier (hold keys of two servers never collide).
    index: u64,
    servers: u64,
    /// Workers held by requests until they are answered, and the requests waiting for one.
    workers: Slots<u64>,
    calls: Calls<Msg, u64>,
    kv: KvClient,
    pay: ServiceId,
    jobs: BTreeMap<u64, Job>,
    next_job: u64,
    /// Buys numbered so far: a hold's id. A restarted server numbers from its restart's instant
    /// in milliseconds (see [`Api::on_start`]).
    orders: u64,
    items: u64,
    service: Dist,
    hold_ttl: Duration,
    expiry: kv::Expiry,
    stock_reads: ReadFrom,
    pub stats: ShopStats,
}

impl Api {
    fn on_request(&mut self, ctx: &mut Ctx<'_, Node>, from: NodeId, req: ReqId, kind: Kind, key: u64, value: u64) {
        let id = self.next_job;
        self.next_job += 1;
        match self.workers.acquire(ctx, id) {
            None => {
                self.stats.busy += 1;
                ctx.send(from, Msg::from(AppMsg::Response { req, status: Status::Busy }));
            }
            Some(started) => {
                let job = Job { from, req, kind, key, value, stage: Stage::Waiting, hold: 0 };
                self.jobs.insert(id, job);
                if started {
                    self.work(ctx, id);
                }
            }
        }
    }

    /// A restarted server must not hand out the hold ids of its previous incarnation, whose
    /// orphaned holds may still be in the store (until their TTL, or their deadline and the next
    /// sweep that reaches the store): a reserve with a live hold's id overwrites that hold, and
    /// its unit is lost. It numbers its buys from the restart's instant in milliseconds, above any
    /// number the old one reached while it made fewer than one buy per millisecond on average
    /// (ids are 24 bits per item).
    fn on_start(&mut self, ctx: &mut Ctx<'_, Node>) {
        if ctx.is_restart() {
            self.orders = self.orders.max(ctx.now().as_nanos() / 1_000_000);
        }
    }

    /// A worker took job `id`: its own work first.
    fn work(&mut self, ctx: &mut Ctx<'_, Node>, id: u64) {
        let d = self.service.sample(ctx.rng());
        ctx.set_timer(d, Timer::Cpu(Cpu(id)));
    }

    /// The request's own work is done: its first call.
    fn begin(&mut self, ctx: &mut Ctx<'_, Node>, id: u64) {
        let Some(job) = self.jobs.get_mut(&id) else { return };
        let item = job.key % self.items;
        let (op, read, stage) = match job.kind {
            Kind::Buy => {
                job.hold = tagged(item, 1 + (self.index + self.servers * self.orders) % ((1 << 24) - 1));
                self.orders += 1;
                let hold = Some(Hold { key: job.hold, ttl: Some(self.hold_ttl), expiry: self.expiry });
                (kv::Op::DecrIfAtLeast { key: stock_key(item), n: 1, hold }, ReadFrom::Primary, Stage::Reserve)
            }
            Kind::Stock => (kv::Op::Get { key: stock_key(item) }, self.stock_reads, Stage::Read),
            Kind::CartPut => {
                let op = kv::Op::Put { key: cart_key(job.key), value: job.value as i64, ttl: None };
                (op, ReadFrom::Primary, Stage::Write)
            }
            Kind::CartGet => (kv::Op::Get { key: cart_key(job.key) }, ReadFrom::Primary, Stage::Read),
        };
        job.stage = stage;
        self.store(ctx, id, op, read);
    }

    fn store(&mut self, ctx: &mut Ctx<'_, Node>, id: u64, op: kv::Op, read: ReadFrom) {
        if let Err(d) = self.kv.call(&mut self.calls, ctx, op, read, id) {
            self.step(ctx, d, None);
        }
    }

    /// A call of job `done.data` ended: the next step of its request.
    fn step(&mut self, ctx: &mut Ctx<'_, Node>, done: Done<u64>, result: Option<KvResult>) {
        let id = done.data;
        let Some(job) = self.jobs.get_mut(&id) else { return };
        let ok = done.outcome == CallOutcome::Ok;
        let item = job.key % self.items;
        match (job.stage, result) {
            (Stage::Reserve, Some(KvResult::Written { .. })) if ok => {
                job.stage = Stage::Charge;
                let hold = job.hold;
                let make = |rid| Msg::from(provider::Msg::Request { id: rid, key: hold });
                if let Err(d) = self.calls.call(ctx, self.pay, hold, make, id) {
                    self.step(ctx, d, None);
                }
            }
            (Stage::Reserve, Some(KvResult::Conflict { .. })) if ok => {
                self.stats.sold_out += 1;
                self.finish(ctx, id, Status::Ok(0, 0));
            }
            (Stage::Charge, _) if ok => {
                job.stage = Stage::Confirm;
                let hold = job.hold;
                self.store(ctx, id, kv::Op::Delete { key: hold }, ReadFrom::Primary);
            }
            (Stage::Charge, _) => {
                self.stats.payment_failed += 1;
                if done.outcome == CallOutcome::Timeout {
                    self.stats.charge_unknown += 1;
                }
                job.stage = Stage::Release;
                let op = kv::Op::ReleaseHold { hold: job.hold, into: stock_key(item) };
                self.store(ctx, id, op, ReadFrom::Primary);
            }
            (Stage::Confirm, Some(KvResult::Deleted { existed: true })) if ok => {
                self.stats.bought += 1;
                ctx.count_in("shop", "confirmed", 1);
                self.finish(ctx, id, Status::Ok(1, 0));
            }
            (Stage::Confirm, Some(KvResult::Deleted { existed: false })) if ok => {
                self.stats.late_confirms += 1;
                self.finish(ctx, id, Status::Failed);
            }
            (Stage::Release, r) => {
                if r == Some(KvResult::Deleted { existed: true }) {
                    self.stats.released += 1;
                }
                self.finish(ctx, id, Status::Failed);
            }
            (Stage::Read, Some(KvResult::Found { value, version })) if ok => {
                self.finish(ctx, id, Status::Ok(value.max(0) as u64, version))
            }
            (Stage::Read, Some(KvResult::NotFound)) if ok => self.finish(ctx, id, Status::Ok(0, 0)),
            (Stage::Write, Some(KvResult::Written { value, version })) if ok => {
                self.finish(ctx, id, Status::Ok(value as u64, version))
            }
            _ => {
                self.stats.store_errors += 1;
                self.finish(ctx, id, Status::Failed);
            }
        }
    }

    /// Answers job `id` and frees its worker for the next waiting request.
    fn finish(&mut self, ctx: &mut Ctx<'_, Node>, id: u64, status: Status) {
        let Some(job) = self.jobs.remove(&id) else { return };
        ctx.send(job.from, Msg::from(AppMsg::Response { req: job.req, status }));
        if let Some(next) = self.workers.release(ctx) {
            self.work(ctx, next);
        }
    }

    fn on_msg(&mut self, ctx: &mut Ctx<'_, Node>, from: NodeId, msg: Msg) {
        match msg {
            Msg::App(AppMsg::Request { req, kind, key, value }) => self.on_request(ctx, from, req, kind, key, value),
            Msg::Kv(kv::Msg::Resp { id, result }) => {
                if let Some((d, r)) = KvClient::on_response(&mut self.calls, ctx, id, result) {
                    self.step(ctx, d, Some(r));
                }
            }
            Msg::Pay(provider::Msg::Response { id, status, .. }) => {
                if let Some(d) = self.calls.reply(ctx, id, status.answer()) {
                    self.step(ctx, d, None);
                }
            }
            _ => {}
        }
    }

    fn on_timer(&mut self, ctx: &mut Ctx<'_, Node>, t: Timer) {
        match t {
            Timer::Cpu(Cpu(id)) => self.begin(ctx, id),
            Timer::Call(t) => {
                if let Some(d) = self.calls.on_timer(ctx, t) {
                    self.step(ctx, d, None);
                }
            }
            _ => {}
        }
    }
}

// ----- the actor -----

pub enum Node {
    Client(Box<Client>),
    Api(Box<Api>),
    Kv(Box<KvServer>),
    Provider(Box<Provider>),
    /// Gives back the units of expired holds: on the store's keyspace events, or by sweeps.
    Reaper(Box<Restocker<Msg>>),
}

impl Actor for Node {
    type Msg = Msg;
    type Timer = Timer;
    type Record = kv::Entry;

    fn on_start(&mut self, ctx: &mut Ctx<'_, Self>) {
        match self {
            Node::Kv(s) => s.on_start(ctx),
            Node::Reaper(r) => r.on_start(ctx),
            Node::Api(a) => a.on_start(ctx),
            _ => {}
        }
    }

    fn on_msg(&mut self, ctx: &mut Ctx<'_, Self>, from: NodeId, msg: Msg) {
        match (self, msg) {
            (Node::Client(c), Msg::App(AppMsg::Response { req, status })) => c.on_response(ctx, req, status),
            (Node::Api(a), m) => a.on_msg(ctx, from, m),
            (Node::Kv(s), Msg::Kv(m)) => s.on_msg(ctx, from, m),
            (Node::Provider(p), Msg::Pay(m)) => p.on_msg(ctx, from, m),
            (Node::Reaper(r), Msg::Kv(m)) => r.on_msg(ctx, m),
            _ => {}
        }
    }

    fn on_timer(&mut self, ctx: &mut Ctx<'_, Self>, t: Timer) {
        match (self, t) {
            (Node::Client(c), Timer::Call(t)) => {
                if let Some(d) = c.calls.on_timer(ctx, t) {
                    ctx.complete(d.data.0, outcome(d.outcome), Reply::None);
                }
            }
            (Node::Api(a), t) => a.on_timer(ctx, t),
            (Node::Kv(s), Timer::Kv(t)) => s.on_timer(ctx, t),
            (Node::Kv(s), Timer::Pool(t)) => s.on_pool_timer(ctx, t),
            (Node::Provider(p), Timer::Pay(t)) => p.on_timer(ctx, t),
            (Node::Reaper(r), Timer::Call(t)) => r.on_timer(ctx, t),
            (Node::Reaper(r), Timer::Kv(t)) => r.on_kv_timer(ctx, t),
            _ => {}
        }
    }

    fn on_persisted(&mut self, ctx: &mut Ctx<'_, Self>, w: WriteId) {
        if let Node::Kv(s) = self {
            s.on_persisted(ctx, w);
        }
    }

    fn on_op(&mut self, ctx: &mut Ctx<'_, Self>, op: Op) {
        match self {
            Node::Client(c) => c.on_op(ctx, op),
            _ => ctx.complete(op.id, Outcome::Rejected, Reply::None),
        }
    }
}

pub struct Checkout;

impl Model for Checkout {
    const TRANSPORT: sim_core::net::Transport = sim_core::net::Transport::Connection;
    const KEEP_CRASHED_ACTORS: bool = true;
    const CHECKS: &'static [&'static str] = &["durable_writes", "fresh_reads", "sales_backed"];
    const NAME: &'static str = "checkout";
    const ABOUT: &'static str = "checkout: stock holds in a sharded KV store (conditional decrement + TTL), a payment provider behind a circuit breaker";
    const OP_KINDS: &'static [&'static str] = &["buy", "stock", "cart_put", "cart_get"];
    type Config = Config;
    type Actor = Node;

    fn validate(c: &Config, topo: &Topology) -> Vec<(String, String)> {
        let mut e = Vec::new();
        if c.api_servers == 0 {
            e.push(("config.api_servers".into(), "must be at least 1".into()));
        }
        if c.workers == 0 {
            e.push(("config.workers".into(), "must be at least 1".into()));
        }
        if let Err(m) = c.api_service.validate() {
            e.push(("config.api_service".into(), m));
        }
        e.extend(c.client.validate("config.client"));
        e.extend(c.kv.validate("config.kv"));
        e.extend(c.kv_call.validate("config.kv_call"));
        e.extend(c.provider.validate("config.provider"));
        e.extend(c.payment.validate("config.payment"));
        e.extend(c.reaper.validate("config.reaper"));
        if c.items == 0 {
            e.push(("config.items".into(), "must be at least 1".into()));
        }
        if c.stock < 0 {
            e.push(("config.stock".into(), format!("must be >= 0, got {}", c.stock)));
        }
        if c.hold_ttl.0 == 0 {
            e.push(("config.hold_ttl".into(), "must be positive".into()));
        }
        let need = Layout::servers_needed(c);
        if topo.servers.len() != need {
            e.push((
                "topology.servers".into(),
                format!(
                    "must be {need}: {} API servers + {} store nodes ({} shards x {} replicas) + the provider + the reaper, got {}",
                    c.api_servers,
                    c.kv.nodes(),
                    c.kv.shards,
                    c.kv.replicas,
                    topo.servers.len()
                ),
            ));
        }
        if topo.clients.is_empty() {
            e.push(("topology.clients".into(), "the workload needs at least one client".into()));
        }
        e
    }

    /// Per cart write the store's write (the primary's log, every replica's disk, the
    /// idempotency table); per purchase its hold and confirmation (a write only when stock is
    /// left: taken as ~300 B a purchase all told) and the checkers' records; per read the
    /// checkers' records. Events: ~7 an operation beyond the kernel's (the API call, the
    /// store's calls and replication, the payment). Measured with `simctl bench scenario`
    /// (debug): checkout.ron at 10x its rate, 90,000 operations, 47 MB used (the kernel's parts
    /// 33 MB of the estimate); with 100x the stock or 100x the keys, within 1 MB of it.
    fn footprint(c: &Config, _topo: &Topology, load: &sim_core::cost::Load) -> sim_core::cost::Footprint {
        let buys = load.of("buy", Self::OP_KINDS);
        let puts = load.of("cart_put", Self::OP_KINDS);
        let reads = load.of("stock", Self::OP_KINDS) + load.of("cart_get", Self::OP_KINDS);
        sim_core::cost::Footprint {
            events: (buys + puts + reads) * 7.0,
            queued: load.in_flight * 10.0,
            ..Default::default()
        }
        .part(format!("cart writes: {puts}", puts = count(puts)), c.kv.footprint_of_writes(puts))
        .part(format!("purchases: {buys} x 300 B (holds, confirmations, records)", buys = count(buys)), buys * 300.0)
        .part(format!("reads: {reads} x 50 B (the checkers' records)", reads = count(reads)), reads * 50.0)
    }

    fn factory(c: &Config, topo: &Topology, _setup: &mut Prng) -> Box<dyn FnMut(NodeId) -> Node> {
        let layout = Layout::new(c, topo);
        let map = ShardMap::new(&c.kv, &layout.kv);
        let c = c.clone();
        let topo = topo.clone();
        Box::new(move |n| {
            if topo.is_client(n) {
                let mut calls = Calls::new();
                let api = calls.add(
                    "client_calls",
                    &layout.api,
                    c.client.clone(),
                    parts::balance::Policy::RoundRobin,
                    Default::default(),
                );
                return Node::Client(Box::new(Client { calls, api }));
            }
            if let Some(index) = layout.api.iter().position(|&a| a == n) {
                let mut calls = Calls::new();
                let kv = KvClient::register(&mut calls, "kv_calls", &map, &c.kv_call);
                let pay = calls.add(
                    "pay_calls",
                    &[layout.provider],
                    c.payment.clone(),
                    parts::balance::Policy::RoundRobin,
                    Default::default(),
                );
                return Node::Api(Box::new(Api {
                    index: index as u64,
                    servers: layout.api.len() as u64,
                    workers: Slots::new("api", "workers_busy", c.workers, c.queue),
                    calls,
                    kv,
                    pay,
                    jobs: BTreeMap::new(),
                    next_job: 0,
                    orders: 0,
                    items: c.items as u64,
                    service: c.api_service.clone(),
                    hold_ttl: c.hold_ttl,
                    expiry: c.reaper.expiry(),
                    stock_reads: c.stock_reads,
                    stats: ShopStats::default(),
                }));
            }
            if layout.kv.contains(&n) {
                // Keyspace events go to the reaper that listens for them; holds with a deadline
                // send none.
                let subscribers = if c.reaper == Reaper::Events { vec![layout.reaper] } else { Vec::new() };
                let mut s = KvServer::new("kv", &c.kv, &map, n, &subscribers);
                s.preload((0..c.items as u64).map(|i| (stock_key(i), c.stock)));
                return Node::Kv(Box::new(s));
            }
            if n == layout.provider {
                return Node::Provider(Box::new(Provider::new("provider", c.provider.clone())));
            }
            let counters: Vec<u64> = (0..c.items as u64).map(stock_key).collect();
            Node::Reaper(Box::new(Restocker::new("reaper_calls", &map, &c.kv_call, c.reaper, &counters)))
        })
    }

    fn report(c: &Config, run: &RunView<'_, Node>) -> ModelReport {
        report(c, run)
    }
}

/// A log entry of a confirm: a caller's delete of one hold row (releases touch the stock row
/// too, expiries are not callers' writes). Each hold holds one unit.
fn is_confirm(e: &kv::Entry) -> bool {
    matches!(e.cause, kv::Cause::Write { result: KvResult::Deleted { existed: true }, .. })
        && matches!(e.changes.as_slice(), [(k, None)] if kv::untag(*k).is_some_and(|(_, sub)| sub != 0))
}

/// The store's final state: every running primary's rows, and the shards whose primary is down.
fn final_rows(run: &RunView<'_, Node>, c: &Config) -> (BTreeMap<u64, kv::Row>, Vec<usize>) {
    let mut rows = BTreeMap::new();
    let mut up = vec![false; c.kv.shards as usize];
    for (_, node) in run.servers() {
        if let Node::Kv(s) = node
            && s.is_primary()
        {
            up[s.shard()] = true;
            rows.extend(s.rows().iter().map(|(k, r)| (*k, *r)));
        }
    }
    (rows, up.iter().enumerate().filter(|(_, u)| !**u).map(|(i, _)| i).collect())
}

fn report(c: &Config, run: &RunView<'_, Node>) -> ModelReport {
    let mut r = ModelReport::default();
    let (rows, down) = final_rows(run, c);
    let items = c.items as u64;
    // The history: acknowledged cart writes, cart reads, sales per item.
    let (mut acked, mut reads) = (Vec::new(), Vec::new());
    let mut sold: BTreeMap<u64, i64> = BTreeMap::new();
    for e in run.history() {
        if e.outcome != Some(Outcome::Ok) {
            continue;
        }
        let complete = e.complete.get().expect("a completed operation has a completion time");
        match (run.op_kind(e), &e.reply) {
            ("buy", Reply::Value(1)) => *sold.entry(e.key % items).or_default() += 1,
            ("cart_put", Reply::Values(v)) => {
                acked.push(check::AckedWrite { op: e.op, key: e.key, value: v[0], version: v[1], complete })
            }
            ("cart_get", Reply::Values(v)) => {
                reads.push(check::Read { op: e.op, key: e.key, value: v[0], version: v[1], invoke: e.invoke })
            }
            _ => {}
        }
    }
    let down_note = if down.is_empty() {
        String::new()
    } else {
        format!(" (the primaries of shards {down:?} were down at the end)")
    };
    let last = |user: u64| rows.get(&cart_key(user)).map(|r| (r.value as u64, r.version));
    let durable = check::durable_writes(&acked, last);
    r.checks.push(
        Check::judged("durable_writes", durable.checked, "acknowledged cart writes")
            .violations(durable.bad, "missing")
            .passed_if(down.is_empty())
            .detail(format!(
                "{} of {} acknowledged cart writes missing from the final state{}{down_note}",
                durable.bad,
                durable.checked,
                durable.first.map(|f| format!("; first: {f}")).unwrap_or_default()
            ))
            .blame_ids(durable.ops),
    );
    let fresh = check::fresh_reads(&acked, &reads);
    r.checks.push(
        Check::judged("fresh_reads", fresh.checked, "cart reads")
            .violations(fresh.bad, "stale")
            .detail(format!(
                "{} of {} cart reads older than an earlier acknowledged write{}",
                fresh.bad,
                fresh.checked,
                fresh.first.map(|f| format!("; first: {f}")).unwrap_or_default()
            ))
            .blame_ids(fresh.ops),
    );
    let stock_of = |item: u64| {
        let left = rows.get(&stock_key(item)).map_or(0, |r| r.value);
        let held: i64 = rows.range(stock_key(item) + 1..=tagged(item, (1 << 24) - 1)).map(|(_, r)| r.value).sum();
        (left, held)
    };
    let backed = check::sales_backed(c.stock, &sold, stock_of);
    r.checks.push(
        Check::judged("sales_backed", backed.checked, "items")
            .violations(backed.bad, "oversold")
            .passed_if(down.is_empty())
            .detail(format!(
                "{} of {} items sold more units than left the store{}{down_note}",
                backed.bad,
                backed.checked,
                backed.first.map(|f| format!("; first: {f}")).unwrap_or_default()
            )),
    );

    // The parts' statistics, summed over their nodes' incarnations (a crash does not take back
    // what a node did before it); the confirms in the store, from the primaries running.
    let (mut shop, mut kvs, mut prov, mut pay, mut reaper) = (
        ShopStats::default(),
        KvStats::default(),
        ProviderStats::default(),
        CallStats::default(),
        RestockStats::default(),
    );
    let mut waiting_max = 0u64;
    let mut confirmed_in_store = 0u64;
    for (_, node) in run.servers() {
        if let Node::Kv(s) = node
            && s.is_primary()
        {
            confirmed_in_store += s.log().iter().filter(|e| is_confirm(e)).count() as u64;
        }
    }
    for (_, node) in run.incarnations() {
        match node {
            Node::Api(a) => {
                shop.add(&a.stats);
                pay.add(a.calls.stats(a.pay));
                waiting_max = waiting_max.max(a.workers.waiting_max);
            }
            Node::Kv(s) => kvs.add(&s.stats),
            Node::Provider(p) => prov.add(&p.stats),
            Node::Reaper(rp) => reaper.add(&rp.stats),
            Node::Client(_) => {}
        }
    }
    let (left, held): (i64, i64) = (0..items).map(stock_of).fold((0, 0), |a, b| (a.0 + b.0, a.1 + b.1));
    let gone = c.stock * items as i64 - left - held;
    // Confirms an API server saw answered, from the kernel's counter (it survives API servers'
    // crashes). A confirm the store applied whose answer never came back (its API server crashed,
    // the call timed out) is still a sale: the charge went through and the hold is gone. The
    // store's logs count those too.
    let confirmed = run.sim.metrics().scoped_counter("shop", "confirmed");
    let m = &mut r.measures;
    let mut put = |k: &str, v: f64| {
        m.insert(k.to_string(), v);
    };
    put("bought", sold.values().sum::<i64>() as f64);
    put("confirmed", confirmed as f64);
    put("sold_out", shop.sold_out as f64);
    put("payment_failed", shop.payment_failed as f64);
    put("charge_unknown", shop.charge_unknown as f64);
    put("late_confirms", shop.late_confirms as f64);
    put("released", shop.released as f64);
    put("store_errors", shop.store_errors as f64);
    put("confirmed_in_store", confirmed_in_store as f64);
    put("confirms_unanswered", confirmed_in_store.saturating_sub(confirmed) as f64);
    put("units_on_hold", held as f64);
    // Units gone from the store that no sale accounts for (lost restocks of expired holds).
    put("units_leaked", (gone - confirmed_in_store as i64) as f64);
    put("units_restocked", reaper.restocked as f64);
    put("reaper_events", reaper.events as f64);
    if let Reaper::Sweep { .. } = c.reaper {
        put("holds_reaped", reaper.holds_reaped as f64);
        put("reaps", reaper.reaps as f64);
        put("reaps_failed", reaper.reaps_failed as f64);
    }
    put("api_busy", shop.busy as f64);
    put("api_waiting_max", waiting_max as f64);
    put("kv_writes", kvs.writes as f64);
    put("kv_conflicts", kvs.conflicts as f64);
    put("kv_expired", kvs.expired as f64);
    put("kv_events", kvs.events_sent as f64);
    put("kv_dedup_hits", kvs.dedup_hits as f64);
    put("kv_busy", kvs.busy as f64);
    put("kv_follower_reads", kvs.follower_reads as f64);
    put("kv_entries_resent", kvs.entries_resent as f64);
    put("provider_requests", prov.requests as f64);
    put("provider_unanswered", prov.unanswered as f64);
    put("provider_errors", prov.errors as f64);
    put("provider_rate_limited", prov.rate_limited as f64);
    put("pay_attempts", pay.attempts as f64);
    put("pay_retries", pay.retries as f64);
    put("pay_attempt_timeouts", pay.attempt_timeouts as f64);
    put("pay_breaker_opened", pay.breaker_opened as f64);
    put("pay_breaker_rejected", pay.breaker_rejected as f64);
    r
}
