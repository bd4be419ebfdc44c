//! # readpath: API servers over a cache tier over a database, and the cache stampede
//!
//! The read path of most services, built from the `parts` crate: clients balance their requests
//! over API servers (each a [`Pool`] of workers, calling the cache tier through [`Calls`]); the
//! cache tier is a set of cache servers, each owning the keys a consistent-hash ring gives it and
//! running a [`ReadPath`] (the cache, its mode, request coalescing, early refresh); on a miss a
//! cache server fetches the row from the database tier (database servers, each a `Pool` whose
//! `concurrency` is its connection limit and whose service time is the per-query latency), stores
//! it, and answers. Writes go the same way down to the database, and once it acknowledges, the
//! cache server applies its mode (delete the entry, store the new value, or leave it).
//!
//! The failure it exists to show is the **cache stampede** (thundering herd): a hot key expires
//! under load, every request for it misses until the refill lands, and without request
//! coalescing each of them queries the database for the same row. The burst is as large as the
//! hot key's request rate times the time the query takes, and since the queries queue behind each
//! other for the database's connections, the query takes longer the larger the burst. With
//! `single_flight` the cache server sends one query per expiry and the other misses wait for it;
//! with `early_refresh` one request refreshes the key shortly before it expires and nobody waits.
//!
//! Rows: each key's row has a version, 0 until its first write, and a write increments it when
//! its query completes; a read sees the row as it was when the read arrived at the database (its
//! snapshot), so a read that overlaps a write can return the old row after the write was
//! acknowledged: the window cache-aside's race needs. Keys at or above `db.rows` do not exist
//! until written (reads of them are "not found", negatively cached for `negative_ttl`). A read
//! answers the version it saw (`Reply::Value`), or `Reply::None` for "not found"; a write answers
//! the new version.
//!
//! Ops: `read` and `write` (keys from the workload). Outcomes: `Ok`; `Fail` when a tier refused or
//! a fetch failed; `Timeout` when the client's last attempt timed out; `Rejected` by the client's
//! breaker.
//!
//! Check `staleness_bounded`: no `Ok` read returns a version older than a write of its key
//! acknowledged more than `ttl + fetch_bound` before the read began, where `fetch_bound` is the
//! longest a fetch to the database can take (its timeout times its attempts). A cache can be
//! stale (write-around serves the old value until the TTL; cache-aside's race stores an old row
//! after a write), but a TTL bounds it; without a TTL only the modes that never store a row older
//! than the last write (read-through, write-through) pass.
//!
//! Measures (the stampede's): `db_key_concurrency_max`, the most queries for one key in flight at
//! the database at once (arrived, not yet answered); `db_hot_key_reads`, the database's reads of
//! the most-read key, `db_hot_key_bursts` (periods with at least one of them in flight) and
//! `db_hot_key_reads_per_burst`; `hot_key_misses`, reads of that key that missed the cache; the
//! cache tier's hit ratio (and per interval, the table `cache hit ratio`), coalesced misses,
//! fetches, refreshes, evictions, expirations; the database's reads per second (and per interval),
//! waits and utilisation; the API tier's wait; stale reads and their age.

use parts::balance::{HealthSpec, Policy};
use parts::cache::{CacheStats, FetchId, Fetched, Mode, Read, ReadPath, ReadPathSpec, ReadStats, hit_ratio_table};
use parts::calls::{Answer, CallOutcome, CallPolicy, CallTimer, Calls, Done, ReqId, ServiceId};
use parts::pool::{Admit, Pool, PoolSpec, PoolStats, PoolTimer};
use serde::{Deserialize, Serialize};
use sim_core::cost::count;
use sim_core::metrics::HistoryEntry;
use sim_core::{
    Actor, Axis, Check, Ctx, Duration, Message, Model, ModelReport, NodeId, Op, OpId, Outcome, Prng, Reply, RunView,
    Table, Time, Topology,
};
use std::collections::BTreeMap;

/// The database tier.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DbSpec {
    /// Each database server's connection limit, queue and per-query time.
    pub pool: PoolSpec,
    /// How a cache server calls the database.
    pub call: CallPolicy,
    /// Keys `0..rows` exist from the start (`None`: every key).
    pub rows: Option<u64>,
    /// Bytes of a row, as the cache counts it against a `Bytes` capacity.
    pub row_bytes: u64,
}

impl Default for DbSpec {
    fn default() -> Self {
        DbSpec {
            pool: PoolSpec { concurrency: 16, ..PoolSpec::default() },
            call: CallPolicy::default(),
            rows: None,
            row_bytes: 1_000,
        }
    }
}

/// ```ron
/// config: (
///     api_servers: 2,
///     cache_servers: 1,
///     api: (concurrency: 32, queue: 1000, service: Exponential(mean: "1ms")),
///     read_path: (cache: (capacity: Entries(10000), ttl: Some("5s")), mode: ReadThrough,
///                 single_flight: true),
///     db: (pool: (concurrency: 16, queue: 10000, service: Constant("20ms")), rows: Some(1000)),
/// )
/// ```
/// The servers after the API and cache tiers form the database tier.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    pub api_servers: u32,
    pub cache_servers: u32,
    /// Each API server's workers.
    pub api: PoolSpec,
    /// How a client calls the API tier, and how it balances.
    pub call: CallPolicy,
    pub balance: Policy,
    /// How an API server calls the cache tier (routed by key on a consistent-hash ring).
    pub cache_call: CallPolicy,
    /// Each cache server's read path.
    pub read_path: ReadPathSpec,
    pub db: DbSpec,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            api_servers: 2,
            cache_servers: 1,
            api: PoolSpec { concurrency: 32, ..PoolSpec::default() },
            call: CallPolicy::default(),
            balance: Policy::RoundRobin,
            cache_call: CallPolicy::default(),
            read_path: ReadPathSpec::default(),
            db: DbSpec::default(),
        }
    }
}

/// Which hop a request or response travels.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Hop {
    /// Client to API server.
    Api,
    /// API server to cache server.
    Cache,
    /// Cache server to database server.
    Db,
}

#[derive(Clone, Debug)]
pub enum AppMsg {
    Request {
        hop: Hop,
        req: ReqId,
        key: u64,
        write: bool,
    },
    /// `version`: the row's version (a read's, or a write's new one); `None`: not found.
    Response {
        hop: Hop,
        req: ReqId,
        answer: Answer,
        version: Option<u64>,
    },
}

impl Message for AppMsg {
    fn kind(&self) -> &'static str {
        match self {
            AppMsg::Request { hop: Hop::Api, .. } => "api_request",
            AppMsg::Request { hop: Hop::Cache, .. } => "cache_request",
            AppMsg::Request { hop: Hop::Db, .. } => "db_request",
            AppMsg::Response { hop: Hop::Api, .. } => "api_response",
            AppMsg::Response { hop: Hop::Cache, .. } => "cache_response",
            AppMsg::Response { hop: Hop::Db, .. } => "db_response",
        }
    }
}

parts::wire! {
    /// Everything a node of this design sends.
    pub enum Msg { App(AppMsg) }
}
parts::wire! {
    timers pub enum Timer { Call(CallTimer), Pool(PoolTimer) }
}

/// Who waits for an answer: the sender and its request id.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Waiter {
    from: NodeId,
    req: ReqId,
}

/// A request held by an API or database server until it is answered.
#[derive(Clone, Copy, Debug)]
pub struct Job {
    to: Waiter,
    key: u64,
    write: bool,
}

fn respond(ctx: &mut Ctx<'_, Node>, hop: Hop, to: Waiter, answer: Answer, version: Option<u64>) {
    ctx.send(to.from, Msg::from(AppMsg::Response { hop, req: to.req, answer, version }));
}

fn answer_of(o: CallOutcome) -> Answer {
    if o == CallOutcome::Ok { Answer::Ok } else { Answer::Retryable }
}

pub struct Client {
    calls: Calls<AppMsg, OpId>,
    api: ServiceId,
}

impl Client {
    fn on_op(&mut self, ctx: &mut Ctx<'_, Node>, op: Op) {
        let (key, write) = (op.key, op.kind == WRITE);
        let make = |req| AppMsg::Request { hop: Hop::Api, req, key, write };
        if let Err(done) = self.calls.call(ctx, self.api, key, make, op.id) {
            parts::calls::complete(ctx, done, None);
        }
    }

    fn on_msg(&mut self, ctx: &mut Ctx<'_, Node>, msg: Msg) {
        if let Msg::App(AppMsg::Response { hop: Hop::Api, req, answer, version }) = msg
            && let Some(done) = self.calls.reply(ctx, req, answer)
        {
            parts::calls::complete(ctx, done, version);
        }
    }

    fn on_timer(&mut self, ctx: &mut Ctx<'_, Node>, timer: Timer) {
        if let Timer::Call(t) = timer
            && let Some(done) = self.calls.on_timer(ctx, t)
        {
            parts::calls::complete(ctx, done, None);
        }
    }
}

pub struct Api {
    pool: Pool<Job>,
    calls: Calls<AppMsg, Job>,
    cache: ServiceId,
}

impl Api {
    fn on_msg(&mut self, ctx: &mut Ctx<'_, Node>, from: NodeId, msg: Msg) {
        match msg {
            Msg::App(AppMsg::Request { hop: Hop::Api, req, key, write }) => {
                match self.pool.submit(ctx, Job { to: Waiter { from, req }, key, write }) {
                    Admit::Started | Admit::Queued => {}
                    Admit::Rejected(job) | Admit::Dropped(job) => {
                        respond(ctx, Hop::Api, job.to, Answer::Retryable, None)
                    }
                }
            }
            Msg::App(AppMsg::Response { hop: Hop::Cache, req, answer, version }) => {
                if let Some(done) = self.calls.reply(ctx, req, answer) {
                    respond(ctx, Hop::Api, done.data.to, answer_of(done.outcome), version);
                }
            }
            _ => {}
        }
    }

    fn on_timer(&mut self, ctx: &mut Ctx<'_, Node>, timer: Timer) {
        match timer {
            Timer::Pool(t) => {
                if let Some(job) = self.pool.on_timer(ctx, t) {
                    let (key, write) = (job.key, job.write);
                    let make = |req| AppMsg::Request { hop: Hop::Cache, req, key, write };
                    if let Err(done) = self.calls.call(ctx, self.cache, key, make, job) {
                        respond(ctx, Hop::Api, done.data.to, Answer::Retryable, None);
                    }
                }
                for job in self.pool.take_shed() {
                    respond(ctx, Hop::Api, job.to, Answer::Retryable, None);
                }
            }
            Timer::Call(t) => {
                if let Some(done) = self.calls.on_timer(ctx, t) {
                    respond(ctx, Hop::Api, done.data.to, Answer::Retryable, None);
                }
            }
        }
    }
}

/// What a cache server's call to the database is for.
#[derive(Clone, Copy, Debug)]
pub enum Upstream {
    Fetch { id: FetchId, key: u64 },
    Write { to: Waiter, key: u64 },
}

pub struct CacheServer {
    path: ReadPath<Waiter, u64>,
    calls: Calls<AppMsg, Upstream>,
    db: ServiceId,
    row_bytes: u64,
    /// Reads that missed (fetched or joined a fetch), by key.
    misses: BTreeMap<u64, u64>,
}

impl CacheServer {
    fn fetch(&mut self, ctx: &mut Ctx<'_, Node>, id: FetchId, key: u64) {
        let make = |req| AppMsg::Request { hop: Hop::Db, req, key, write: false };
        if let Err(done) = self.calls.call(ctx, self.db, key, make, Upstream::Fetch { id, key }) {
            self.landed(ctx, done, None);
        }
    }

    fn on_msg(&mut self, ctx: &mut Ctx<'_, Node>, from: NodeId, msg: Msg) {
        match msg {
            Msg::App(AppMsg::Request { hop: Hop::Cache, req, key, write: false }) => {
                let to = Waiter { from, req };
                match self.path.read(ctx, key, to) {
                    Read::Hit(to, v) => respond(ctx, Hop::Cache, to, Answer::Ok, v),
                    Read::HitRefresh(to, v, id) => {
                        respond(ctx, Hop::Cache, to, Answer::Ok, v);
                        self.fetch(ctx, id, key);
                    }
                    Read::Fetch(id) => {
                        *self.misses.entry(key).or_default() += 1;
                        self.fetch(ctx, id, key);
                    }
                    Read::Joined => *self.misses.entry(key).or_default() += 1,
                }
            }
            Msg::App(AppMsg::Request { hop: Hop::Cache, req, key, write: true }) => {
                let up = Upstream::Write { to: Waiter { from, req }, key };
                let make = |req| AppMsg::Request { hop: Hop::Db, req, key, write: true };
                if let Err(done) = self.calls.call(ctx, self.db, key, make, up) {
                    self.landed(ctx, done, None);
                }
            }
            Msg::App(AppMsg::Response { hop: Hop::Db, req, answer, version }) => {
                if let Some(done) = self.calls.reply(ctx, req, answer) {
                    self.landed(ctx, done, version);
                }
            }
            _ => {}
        }
    }

    fn on_timer(&mut self, ctx: &mut Ctx<'_, Node>, timer: Timer) {
        if let Timer::Call(t) = timer
            && let Some(done) = self.calls.on_timer(ctx, t)
        {
            self.landed(ctx, done, None);
        }
    }

    /// A call to the database ended.
    fn landed(&mut self, ctx: &mut Ctx<'_, Node>, done: Done<Upstream>, version: Option<u64>) {
        let ok = done.outcome == CallOutcome::Ok;
        match done.data {
            Upstream::Fetch { id, .. } => {
                let result = match (ok, version) {
                    (true, Some(v)) => Fetched::Found { value: v, size: self.row_bytes },
                    (true, None) => Fetched::NotFound { size: NEGATIVE_ENTRY_BYTES },
                    (false, _) => Fetched::Failed,
                };
                let answer = if ok { Answer::Ok } else { Answer::Retryable };
                for to in self.path.fetched(ctx, id, &result) {
                    respond(ctx, Hop::Cache, to, answer, version);
                }
            }
            Upstream::Write { to, key } => {
                if let (true, Some(v)) = (ok, version) {
                    self.path.written(ctx, key, &v, self.row_bytes);
                }
                respond(ctx, Hop::Cache, to, answer_of(done.outcome), version);
            }
        }
    }
}

/// Bytes of a remembered "not found" (the key and a marker).
const NEGATIVE_ENTRY_BYTES: u64 = 16;

/// One key's load on a database server.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct KeyLoad {
    /// Reads arrived and not yet answered.
    pub in_flight: u64,
    /// The most of them at once.
    pub max: u64,
    pub reads: u64,
    /// Times `in_flight` rose from zero.
    pub bursts: u64,
}

/// A query held by a database server; a read carries the row's version as of its arrival (the
/// snapshot it reads).
#[derive(Clone, Copy, Debug)]
pub struct Query {
    job: Job,
    snapshot: Option<u64>,
}

pub struct Db {
    pool: Pool<Query>,
    rows: Option<u64>,
    /// Versions of the keys written.
    versions: BTreeMap<u64, u64>,
    pub load: BTreeMap<u64, KeyLoad>,
}

impl Db {
    fn version(&self, key: u64) -> Option<u64> {
        match self.versions.get(&key) {
            Some(v) => Some(*v),
            None if self.rows.is_none_or(|r| key < r) => Some(0),
            None => None,
        }
    }

    fn answer(&mut self, ctx: &mut Ctx<'_, Node>, job: Job, answer: Answer, version: Option<u64>) {
        if !job.write {
            let l = self.load.get_mut(&job.key).expect("a read in flight is counted");
            l.in_flight -= 1;
        }
        respond(ctx, Hop::Db, job.to, answer, version);
    }

    fn on_msg(&mut self, ctx: &mut Ctx<'_, Node>, from: NodeId, msg: Msg) {
        let Msg::App(AppMsg::Request { hop: Hop::Db, req, key, write }) = msg else { return };
        if write {
            ctx.count_in("db", "writes", 1);
        } else {
            ctx.count_in("db", "reads", 1);
            let l = self.load.entry(key).or_default();
            if l.in_flight == 0 {
                l.bursts += 1;
            }
            l.in_flight += 1;
            l.reads += 1;
            l.max = l.max.max(l.in_flight);
        }
        let snapshot = if write { None } else { self.version(key) };
        match self.pool.submit(ctx, Query { job: Job { to: Waiter { from, req }, key, write }, snapshot }) {
            Admit::Started | Admit::Queued => {}
            Admit::Rejected(q) | Admit::Dropped(q) => self.answer(ctx, q.job, Answer::Retryable, None),
        }
    }

    fn on_timer(&mut self, ctx: &mut Ctx<'_, Node>, timer: Timer) {
        let Timer::Pool(t) = timer else { return };
        if let Some(Query { job, snapshot }) = self.pool.on_timer(ctx, t) {
            let version = if job.write {
                let v = self.version(job.key).map_or(0, |v| v + 1);
                self.versions.insert(job.key, v);
                Some(v)
            } else {
                snapshot
            };
            self.answer(ctx, job, Answer::Ok, version);
        }
        for q in self.pool.take_shed() {
            self.answer(ctx, q.job, Answer::Retryable, None);
        }
    }
}

pub enum Node {
    Client(Box<Client>),
    Api(Box<Api>),
    Cache(Box<CacheServer>),
    Db(Box<Db>),
}

const READ: u16 = 0;
const WRITE: u16 = 1;

impl Actor for Node {
    type Msg = Msg;
    type Timer = Timer;
    type Record = ();

    fn on_start(&mut self, _: &mut Ctx<'_, Self>) {}

    fn on_msg(&mut self, ctx: &mut Ctx<'_, Self>, from: NodeId, msg: Msg) {
        match self {
            Node::Client(c) => c.on_msg(ctx, msg),
            Node::Api(a) => a.on_msg(ctx, from, msg),
            Node::Cache(c) => c.on_msg(ctx, from, msg),
            Node::Db(d) => d.on_msg(ctx, from, msg),
        }
    }

    fn on_timer(&mut self, ctx: &mut Ctx<'_, Self>, timer: Timer) {
        match self {
            Node::Client(c) => c.on_timer(ctx, timer),
            Node::Api(a) => a.on_timer(ctx, timer),
            Node::Cache(c) => c.on_timer(ctx, timer),
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

pub struct ReadPathModel;

impl Model for ReadPathModel {
    const TRANSPORT: sim_core::net::Transport = sim_core::net::Transport::Connection;
    const CHECKS: &'static [&'static str] = &["staleness_bounded"];
    const NAME: &'static str = "readpath";
    const ABOUT: &'static str =
        "API servers over a cache tier over a database: cache modes, negative caching, the stampede and single-flight";
    const OP_KINDS: &'static [&'static str] = &["read", "write"];
    type Config = Config;
    type Actor = Node;

    fn validate(c: &Config, topo: &Topology) -> Vec<(String, String)> {
        let mut e = Vec::new();
        let servers = topo.servers.len() as u64;
        let front = c.api_servers as u64 + c.cache_servers as u64;
        if c.api_servers == 0 {
            e.push(("config.api_servers".into(), "must be at least 1".into()));
        }
        if c.cache_servers == 0 {
            e.push(("config.cache_servers".into(), "must be at least 1 (capacity: Entries(0) is no cache)".into()));
        }
        if front >= servers {
            e.push((
                "config.api_servers".into(),
                format!(
                    "{} API + {} cache servers leave no database server among topology.servers = {servers}",
                    c.api_servers, c.cache_servers
                ),
            ));
        }
        e.extend(c.api.validate("config.api"));
        e.extend(c.call.validate("config.call"));
        e.extend(c.balance.validate("config.balance"));
        e.extend(c.cache_call.validate("config.cache_call"));
        e.extend(c.read_path.validate("config.read_path"));
        e.extend(c.db.pool.validate("config.db.pool"));
        e.extend(c.db.call.validate("config.db.call"));
        e
    }

    /// The cache tier's entries (the distinct keys read, at most the reads and the workload's
    /// keys, and at most the capacity; ~160 B an entry with its expiry and LRU
    /// records); per key the database read, its load record (and the report's merged copy) and
    /// the cache server's miss count (~150 B); per key written its version and the staleness
    /// check's list (~120 B, and 16 B a write). Database calls: a miss per distinct key per TTL
    /// window, and a miss after each write that deletes its entry (at most the reads), and every
    /// write. Events: per operation the API server's pool
    /// timer, the request to the cache tier and its response (3, beyond the kernel's two), per
    /// database call a request, the pool timer and a response (3). Measured on a variant of
    /// `readpath_write_around.ron` (1 M keys uniform, capacity 1 M, 30,000 operations/s for
    /// 10 s, 2 cache and 2 database servers): 126 MB used over a tiny run, 48 MB of it the
    /// kernel's estimate; 2.6 M events.
    fn footprint(c: &Config, _topo: &Topology, load: &sim_core::cost::Load) -> sim_core::cost::Footprint {
        let (reads, writes) = (load.of("read", Self::OP_KINDS), load.of("write", Self::OP_KINDS));
        // The workload's distinct keys (at most the operations) bound those of each kind.
        let keys = load.keys.max(1.0);
        let read_keys = keys.min(reads);
        let written_keys = keys.min(writes);
        let capacity = c.read_path.cache.capacity.entries(c.db.row_bytes.max(1) as f64) * c.cache_servers as f64;
        let entries = read_keys.min(capacity);
        let windows = c.read_path.cache.ttl.map_or(1.0, |t| load.times_every(t).max(1.0));
        let mut misses = (windows * read_keys).min(reads);
        if capacity < read_keys {
            // Keys evicted before they are read again miss again.
            misses = misses.max(reads * (1.0 - capacity / read_keys));
        }
        if matches!(c.read_path.mode, Mode::CacheAside | Mode::ReadThrough) {
            // A write deletes its key's entry: its next read misses.
            misses = (misses + writes).min(reads);
        }
        let db_calls = misses + writes;
        sim_core::cost::Footprint {
            events: load.total() * 3.0 + db_calls * 3.0,
            queued: load.in_flight * 4.0,
            ..Default::default()
        }
        .part(format!("cache entries: {} x 160 B", count(entries)), entries * parts::cache::ENTRY_BYTES)
        .part(
            format!("keys read at the database: {} x 150 B (load, report, misses)", count(read_keys)),
            read_keys * 150.0,
        )
        .part(
            format!("keys written: {} x 120 B, and {} writes x 16 B", count(written_keys), count(writes)),
            written_keys * 120.0 + writes * 16.0,
        )
        .part(format!("requests in flight: {} x 3 hops x 200 B", count(load.in_flight)), load.in_flight * 600.0)
    }

    fn factory(c: &Config, topo: &Topology, _setup: &mut Prng) -> Box<dyn FnMut(NodeId) -> Node> {
        let (a, k) = (c.api_servers as usize, c.cache_servers as usize);
        let api: Vec<NodeId> = topo.servers[..a].to_vec();
        let cache: Vec<NodeId> = topo.servers[a..a + k].to_vec();
        let db: Vec<NodeId> = topo.servers[a + k..].to_vec();
        let c = c.clone();
        let topo = topo.clone();
        let ring = Policy::ConsistentHash { vnodes: 64 };
        Box::new(move |n| {
            if topo.is_client(n) {
                let mut calls = Calls::new();
                let svc = calls.add("api_calls", &api, c.call.clone(), c.balance, HealthSpec::default());
                return Node::Client(Box::new(Client { calls, api: svc }));
            }
            let i = n.index();
            if i < a {
                let mut calls = Calls::new();
                let svc = calls.add("cache_calls", &cache, c.cache_call.clone(), ring, HealthSpec::default());
                return Node::Api(Box::new(Api { pool: Pool::new("api", c.api.clone()), calls, cache: svc }));
            }
            if i < a + k {
                let mut calls = Calls::new();
                let svc = calls.add("db_calls", &db, c.db.call.clone(), ring, HealthSpec::default());
                return Node::Cache(Box::new(CacheServer {
                    path: ReadPath::new("cache", c.read_path.clone()),
                    calls,
                    db: svc,
                    row_bytes: c.db.row_bytes,
                    misses: BTreeMap::new(),
                }));
            }
            Node::Db(Box::new(Db {
                pool: Pool::new("db", c.db.pool.clone()),
                rows: c.db.rows,
                versions: BTreeMap::new(),
                load: BTreeMap::new(),
            }))
        })
    }

    fn report(c: &Config, run: &RunView<'_, Node>) -> ModelReport {
        report(c, run)
    }
}

/// Reads that returned a version older than a write of their key acknowledged before they
/// began.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Staleness {
    /// `Ok` reads judged.
    pub reads: u64,
    pub stale: u64,
    /// The longest time from the acknowledgement of a newer write to the start of a stale read.
    pub age_max: Duration,
    /// A stale read at that age: `(key, invoked, its operation)`.
    pub worst: Option<(u64, Time, OpId)>,
}

/// Judges every `Ok` read of `history` (op kind `read`, `Reply::Value` or `Reply::None` for not
/// found) against the `Ok` writes of its key (kind `write`, `Reply::Value(new version)`). A read
/// is stale when a write acknowledged before the read was invoked wrote a newer version than the
/// read returned. `O(n log n)`.
pub fn staleness(history: &[HistoryEntry], read: u16, write: u16) -> Staleness {
    // Per key: (ack time, version) of its Ok writes, by ack time, with the running newest version.
    let mut writes: BTreeMap<u64, Vec<(Time, u64)>> = BTreeMap::new();
    for h in history.iter().filter(|h| h.kind == write && h.outcome == Some(Outcome::Ok)) {
        if let (Some(done), Reply::Value(v)) = (h.complete.get(), &h.reply) {
            writes.entry(h.key).or_default().push((done, *v));
        }
    }
    for w in writes.values_mut() {
        w.sort();
        for i in 1..w.len() {
            w[i].1 = w[i].1.max(w[i - 1].1);
        }
    }
    let mut s = Staleness::default();
    for h in history.iter().filter(|h| h.kind == read && h.outcome == Some(Outcome::Ok)) {
        s.reads += 1;
        let Some(w) = writes.get(&h.key) else { continue };
        let before = w.partition_point(|&(t, _)| t < h.invoke);
        if before == 0 {
            continue;
        }
        let newest = w[before - 1].1;
        let seen = match h.reply {
            Reply::Value(v) => Some(v),
            _ => None,
        };
        if seen < Some(newest) {
            s.stale += 1;
            // The oldest acknowledged write the read missed: the first one newer than what it saw.
            let first_newer = w[..before].iter().find(|&&(_, v)| Some(v) > seen).expect("newest is newer");
            let age = h.invoke.since(first_newer.0);
            if age >= s.age_max {
                s.age_max = age;
                s.worst = Some((h.key, h.invoke, h.op));
            }
        }
    }
    s
}

fn report(c: &Config, run: &RunView<'_, Node>) -> ModelReport {
    let mut r = ModelReport::default();
    let metrics = run.sim.metrics();
    let (mut api, mut db) = (PoolStats::default(), PoolStats::default());
    let (mut cache, mut path) = (CacheStats::default(), ReadStats::default());
    let mut load: BTreeMap<u64, KeyLoad> = BTreeMap::new();
    let mut misses: BTreeMap<u64, u64> = BTreeMap::new();
    let (mut api_nodes, mut db_nodes) = (0u64, 0u64);
    for (_, node) in run.servers() {
        match node {
            Node::Api(a) => {
                api.add(&a.pool.stats);
                api_nodes += 1;
            }
            Node::Cache(k) => {
                cache.add(&k.path.cache.stats);
                path.add(&k.path.stats);
                for (key, n) in &k.misses {
                    *misses.entry(*key).or_default() += n;
                }
            }
            Node::Db(d) => {
                db.add(&d.pool.stats);
                db_nodes += 1;
                for (key, l) in &d.load {
                    let m = load.entry(*key).or_default();
                    m.max = m.max.max(l.max);
                    m.reads += l.reads;
                    m.bursts += l.bursts;
                }
            }
            Node::Client(_) => {}
        }
    }

    // The staleness bound: the TTL plus the longest a fetch can take.
    let fetch = &c.db.call;
    let fetch_bound = Duration(fetch.timeout.0.saturating_mul(fetch.retries as u64 + 1));
    let bound = c.read_path.cache.ttl.unwrap_or(Duration::ZERO) + fetch_bound;
    let st = staleness(run.history(), READ, WRITE);
    let detail = match st.worst {
        Some((key, at, _)) if st.age_max > bound => format!(
            "a read of key {key} at {at} returned a version {} after a newer write was acknowledged \
             (bound: TTL + fetch time = {bound}); {} of {} reads stale",
            st.age_max, st.stale, st.reads
        ),
        _ => format!(
            "{} of {} reads stale, the oldest {} after a newer write (bound: TTL + fetch time = {bound})",
            st.stale, st.reads, st.age_max
        ),
    };
    r.checks.push(
        Check::judged("staleness_bounded", st.reads, "reads")
            .passed_if(st.age_max <= bound)
            .detail(detail)
            .blame_ids(st.worst.map(|w| w.2)),
    );

    // The hot key: the key read most often.
    let mut reads_by_key: BTreeMap<u64, u64> = BTreeMap::new();
    for h in run.history().iter().filter(|h| h.kind == READ) {
        *reads_by_key.entry(h.key).or_default() += 1;
    }
    let hot = reads_by_key.iter().max_by_key(|&(k, n)| (*n, std::cmp::Reverse(*k))).map(|(k, _)| *k);
    let hot_load = hot.and_then(|k| load.get(&k)).copied().unwrap_or_default();

    let elapsed = Duration(run.main_end.0.max(1));
    let m = &mut r.measures;
    let ms = |s: f64| s * 1e3;
    m.insert("db_key_concurrency_max".into(), load.values().map(|l| l.max).max().unwrap_or(0) as f64);
    m.insert("db_hot_key_reads".into(), hot_load.reads as f64);
    m.insert("db_hot_key_bursts".into(), hot_load.bursts as f64);
    m.insert("db_hot_key_concurrency_max".into(), hot_load.max as f64);
    if hot_load.bursts > 0 {
        m.insert("db_hot_key_reads_per_burst".into(), hot_load.reads as f64 / hot_load.bursts as f64);
    }
    m.insert("hot_key_misses".into(), hot.and_then(|k| misses.get(&k)).copied().unwrap_or(0) as f64);
    m.insert("hot_key".into(), hot.unwrap_or(0) as f64);
    let db_reads = metrics.scoped_counter("db", "reads");
    m.insert("db_reads".into(), db_reads as f64);
    m.insert("db_reads_per_s".into(), db_reads as f64 / elapsed.as_secs_f64());
    m.insert("db_wait_mean_ms".into(), ms(db.mean_wait_s()));
    m.insert("db_utilisation".into(), db.utilisation(db_nodes * c.db.pool.concurrency as u64, elapsed));
    m.insert("db_rejected".into(), (db.rejected + db.dropped + db.shed) as f64);
    m.insert("cache_hit_ratio".into(), cache.hit_ratio());
    m.insert("cache_hits".into(), cache.hits as f64);
    m.insert("cache_negative_hits".into(), cache.negative_hits as f64);
    m.insert("cache_misses".into(), cache.misses as f64);
    m.insert("cache_coalesced".into(), path.coalesced as f64);
    m.insert("cache_fetches".into(), path.fetches as f64);
    m.insert("cache_refreshes".into(), path.refreshes as f64);
    m.insert("cache_fetch_failures".into(), path.fetch_failures as f64);
    m.insert("cache_evictions".into(), cache.evictions as f64);
    m.insert("cache_expirations".into(), cache.expirations as f64);
    m.insert("cache_racy_fills".into(), path.racy_fills as f64);
    m.insert("cache_dropped_fills".into(), path.dropped_fills as f64);
    m.insert("api_wait_mean_ms".into(), ms(api.mean_wait_s()));
    m.insert("api_utilisation".into(), api.utilisation(api_nodes * c.api.concurrency as u64, elapsed));
    m.insert("api_rejected".into(), (api.rejected + api.dropped + api.shed) as f64);
    m.insert("stale_reads".into(), st.stale as f64);
    m.insert("stale_read_age_max_ms".into(), ms(st.age_max.as_secs_f64()));

    r.tables.push(hit_ratio_table(metrics, "cache hit ratio", &[("cache", "hit_ratio")]));
    let reads = metrics.scoped_counter_series("db", "reads");
    let interval = metrics.interval.as_secs_f64();
    let rows = reads.iter().enumerate().map(|(i, n)| vec![i as f64 * interval, *n as f64 / interval]).collect();
    r.tables.push(
        Table::new("database reads per second", ["t_s", "db_reads_per_s"], rows)
            .over_time(&["db_reads_per_s"], Axis::new("database reads", "/s")),
    );
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(kind: u16, key: u64, invoke: u64, complete: u64, reply: Reply) -> HistoryEntry {
        HistoryEntry {
            op: OpId::new(invoke),
            client: NodeId(9),
            kind,
            key,
            value: 0,
            attempt: 1,
            invoke: Time(invoke),
            complete: Some(Time(complete)).into(),
            outcome: Some(Outcome::Ok),
            reply,
        }
    }

    #[test]
    fn a_read_older_than_an_acknowledged_write_is_stale() {
        let h = vec![
            entry(WRITE, 1, 10, 20, Reply::Value(1)),
            entry(READ, 1, 15, 30, Reply::Value(0)), // began before the ack: not judged stale
            entry(READ, 1, 25, 30, Reply::Value(1)),
            entry(READ, 1, 50, 60, Reply::Value(0)), // 30 after the ack
            entry(WRITE, 2, 0, 5, Reply::Value(0)),  // creates key 2
            entry(READ, 2, 7, 9, Reply::None),       // not found after the create: stale
            entry(READ, 3, 7, 9, Reply::None),
        ];
        let s = staleness(&h, READ, WRITE);
        assert_eq!((s.reads, s.stale, s.age_max, s.worst), (5, 2, Duration(30), Some((1, Time(50), OpId(50)))));
    }
}
