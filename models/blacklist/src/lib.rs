//! # blacklist: a malicious-IP blacklist service (system B), and the cold-cache stampede
//!
//! The notes' design: clients ask `GET /isBlacklisted?ip=...` through an **API gateway** that
//! rate-limits each caller ([`parts::limiter`], one state per client node); the gateway routes
//! the IP by consistent hashing to a **blacklist service** server ([`Pool`] of threads), which
//! answers from its **cache** ([`ReadPath`]: the notes' Redis `blacklist:<ip> -> true/false`
//! with a 24 h TTL, scaled down, held in the service server that owns the IP); on a miss it reads
//! the **persistent store** ([`parts::kv`]: the notes' table `ip -> is_malicious`, sharded,
//! replicated asynchronously, every acknowledged write synced); an IP the store does not know is
//! checked with the slow external **`isMalicious(ip)`** ([`Provider`]: latency, errors, a rate
//! limit answering 429), either
//! - `Sync` (the notes' main flow): the service calls it inline, records the verdict (malicious
//!   or clean) in the store, then answers; or
//! - `Async` (the notes' "异步批量验证"): the service answers `UNKNOWN` at once (not listed yet:
//!   the caller treats it as clean), negatively cached for `negative_ttl`, and puts the IP on the
//!   **queue** of the checker node, whose **workers** ([`Slots`]: `workers` slots, a bounded
//!   queue; an IP already queued is not queued twice) call `isMalicious` and record the verdict.
//!
//! The checker also runs the **cron job** (the notes' "定期从数据库中抽样 ... 重新验证" and
//! "过期清理"): every `cron.every` it reads `cron.sample` IPs drawn uniformly from the address
//! space, and each one the store holds is re-checked by the workers; a changed verdict is
//! written (malicious -> clean is the **expiry** of an IP that is no longer malicious, clean ->
//! malicious a late detection). The services' caches learn of it when their entry expires (the
//! TTL bounds how long a stale verdict is served; measured as `stale_malicious_lag_max_ms`).
//!
//! **Ground truth** ([`check::Truth`]): a share of the IPs is malicious from the start, some of
//! them turn clean at a time drawn per IP, and some clean ones turn malicious; a pure function of
//! a salt drawn from the seed and the IP. `isMalicious(ip)` answers the truth at the moment its
//! answer reaches the caller (the provider part decides the status: ok, error, 429; the caller
//! reads the verdict).
//!
//! Checks:
//! - `no_recorded_malicious_clean`: once an IP was answered malicious (which the service does
//!   only from the store or once the store acknowledged the record), no later answer says clean
//!   or unknown while the truth keeps it malicious. It is the blacklist's durability through a
//!   store node crash: with `fsync: false` a power loss takes back acknowledged records, the
//!   store answers "not found", and the async flow answers `UNKNOWN` for a known-malicious IP
//!   (`blacklist_unsynced_store.ron`).
//! - `warm_latency_sla`: the p99 of the answers invoked from `sla.warm_from` (the cache is warm)
//!   to the end of the main phase is at most `sla.warm_p99` (milliseconds, the notes' "毫秒级别").
//! - The external call rate is the measure `external_calls_per_s` (requests reaching the
//!   provider, retries included, over the main phase), bounded by a scenario's `Measure` SLA.
//!
//! The known-bad twin, `blacklist_cold_stampede.ron`: the `Sync` flow, a cold cache under load
//! and no request coalescing (`read_path.single_flight: false`). Every concurrent miss of an IP
//! reads the store and calls `isMalicious` itself; the provider's rate limit answers 429, the
//! retries add calls, and external calls and the tail latency explode (counted per phase in the
//! table `external calls per phase`, plotted over time). With coalescing one call per IP is in
//! flight and the others wait for it (`cache.coalesced`).
//!
//! Simplified: the queue is the checker's in-memory queue (a crash of the checker loses it: the
//! IPs are queued again at their next miss); one IP per `isMalicious` call (the API takes one);
//! the cron samples the key space and reads the store for each (a database would sample its own
//! rows); a verdict unchanged by a re-check is not written again (no `LastChecked` column);
//! no failover in the store (a primary's shard refuses reads and writes while it is down).
//! Transport: `Connection` (HTTP and RPC over TCP).
//!
//! Nodes (servers in id order): `gateways`, `services`, the store's `shards * replicas` (shard
//! by shard, primary first), the provider, the checker; then the clients. Op `check`, key = IP.
//! Replies: `Value(1)` malicious, `Value(0)` clean, `Value(2)` unknown; a 429 of the gateway is
//! `Rejected`; a failed check is `Fail`.

pub mod check;

use check::{CLEAN, MALICIOUS, Truth, TruthSpec, UNKNOWN};
use parts::balance::{HealthSpec, Policy};
use parts::cache::{CacheStats, FetchId, Fetched, Read, ReadPath, ReadPathSpec, ReadStats, hit_ratio_table};
use parts::calls::{Answer, CallOutcome, CallPolicy, CallTimer, Calls, Done, OpCalls, ReqId, ServiceId};
use parts::kv::{self, KvClient, KvResult, KvServer, KvSpec, ReadFrom, ShardMap};
use parts::limiter::{self, Algorithm, Params};
use parts::pool::{Admit, Pool, PoolSpec, PoolStats, PoolTimer, Slots};
use parts::provider::{self, Provider, ProviderSpec, ProviderStats};
use serde::{Deserialize, Serialize};
use sim_core::cost::count;
use sim_core::{
    Actor, Axis, Check, Ctx, Duration, Message, Model, ModelReport, NodeId, Op, Outcome, Prng, Reply, RunView, Table,
    Time, Topology, WriteId,
};
use std::collections::{BTreeMap, BTreeSet};

/// How an IP the store does not know is checked.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum Unknown {
    /// Inline: the request waits for `isMalicious` and the store's write.
    Sync,
    /// Answered `UNKNOWN` at once; the IP goes on the checker's queue.
    #[default]
    Async,
}

/// The gateway's limit per caller (client node).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RateLimitSpec {
    pub algorithm: Algorithm,
    /// Requests per `window` per caller.
    pub max: u32,
    pub window: Duration,
}

impl Default for RateLimitSpec {
    fn default() -> Self {
        RateLimitSpec { algorithm: Algorithm::TokenBucket, max: 1_000, window: Duration::from_secs(1) }
    }
}

/// The checker node: the queue, its workers and the cron job.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CheckerSpec {
    /// IPs checked at once.
    pub workers: u32,
    /// IPs waiting at most (more are dropped, and queued again at their next miss).
    pub queue: u32,
    /// How often the cron job runs (`None`: never).
    pub cron_every: Option<Duration>,
    /// IPs it samples each time.
    pub cron_sample: u32,
    /// The address space it samples, `0..ips` (the workload's key count).
    pub ips: u64,
}

impl Default for CheckerSpec {
    fn default() -> Self {
        CheckerSpec {
            workers: 16,
            queue: 10_000,
            cron_every: Some(Duration::from_secs(1)),
            cron_sample: 100,
            ips: 10_000,
        }
    }
}

/// The answer-time objective.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SlaSpec {
    /// From when the cache counts as warm.
    pub warm_from: Duration,
    pub warm_p99: Duration,
}

impl Default for SlaSpec {
    fn default() -> Self {
        SlaSpec { warm_from: Duration::from_secs(5), warm_p99: Duration::from_millis(10) }
    }
}

/// ```ron
/// config: (
///     gateways: 2, services: 2, unknown: Async,
///     rate_limit: (algorithm: TokenBucket, max: 1000, window: "1s"),
///     read_path: (cache: (capacity: Entries(100000), ttl: Some("10s"), negative_ttl: Some("1s")),
///                 single_flight: true),
///     store: (shards: 2, replicas: 2),
///     provider: (latency: LogNormal(median: "100ms", sigma: 0.5), rate_limit: Some((per_s: 300.0, burst: 50))),
///     checker: (workers: 16, cron_every: Some("1s"), cron_sample: 200),
///     truth: (malicious: 0.1, turn_clean: 0.3, turn_malicious: 0.02, horizon: "30s"),
/// )
/// ```
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    pub gateways: u32,
    pub services: u32,
    pub rate_limit: RateLimitSpec,
    /// How a client calls a gateway.
    pub client_call: CallPolicy,
    /// How a gateway calls the service server owning the IP.
    pub gateway_call: CallPolicy,
    /// Each service server's threads.
    pub service: PoolSpec,
    /// Each service server's cache.
    pub read_path: ReadPathSpec,
    pub unknown: Unknown,
    pub store: KvSpec,
    pub store_call: CallPolicy,
    pub provider: ProviderSpec,
    /// How services and workers call `isMalicious`.
    pub provider_call: CallPolicy,
    pub checker: CheckerSpec,
    pub truth: TruthSpec,
    pub sla: SlaSpec,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            gateways: 2,
            services: 2,
            rate_limit: RateLimitSpec::default(),
            client_call: CallPolicy::default(),
            gateway_call: CallPolicy::default(),
            service: PoolSpec { concurrency: 32, ..PoolSpec::default() },
            read_path: ReadPathSpec { single_flight: true, ..ReadPathSpec::default() },
            unknown: Unknown::Async,
            store: KvSpec { shards: 2, ..KvSpec::default() },
            store_call: CallPolicy { timeout: Duration::from_millis(300), retries: 2, ..CallPolicy::default() },
            provider: ProviderSpec::default(),
            provider_call: CallPolicy { timeout: Duration::from_secs(1), retries: 2, ..CallPolicy::default() },
            checker: CheckerSpec::default(),
            truth: TruthSpec::default(),
            sla: SlaSpec::default(),
        }
    }
}

/// Which servers play which role.
#[derive(Clone, Debug)]
struct Layout {
    gateways: Vec<NodeId>,
    services: Vec<NodeId>,
    store: Vec<NodeId>,
    provider: NodeId,
    checker: NodeId,
}

impl Layout {
    fn needed(c: &Config) -> usize {
        c.gateways as usize + c.services as usize + c.store.nodes() + 2
    }

    fn new(c: &Config, topo: &Topology) -> Layout {
        let s = &topo.servers;
        let (g, v, k) = (c.gateways as usize, c.services as usize, c.store.nodes());
        Layout {
            gateways: s[..g].to_vec(),
            services: s[g..g + v].to_vec(),
            store: s[g + v..g + v + k].to_vec(),
            provider: s[g + v + k],
            checker: s[g + v + k + 1],
        }
    }
}

/// Which hop a check travels.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Hop {
    /// Client to gateway.
    Gateway,
    /// Gateway to service.
    Service,
}

/// A service's (or gateway's) answer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// `MALICIOUS`, `CLEAN` or `UNKNOWN`.
    Is(u64),
    /// 429 from the gateway's rate limit.
    Limited,
    /// The service could not decide (store or provider failed, overloaded).
    Failed,
}

#[derive(Clone, Debug)]
pub enum AppMsg {
    Check {
        hop: Hop,
        req: ReqId,
        ip: u64,
    },
    Answer {
        hop: Hop,
        req: ReqId,
        verdict: Verdict,
    },
    /// An unknown IP for the checker's queue.
    Enqueue {
        ip: u64,
    },
}

impl Message for AppMsg {
    fn kind(&self) -> &'static str {
        match self {
            AppMsg::Check { hop: Hop::Gateway, .. } => "check",
            AppMsg::Check { hop: Hop::Service, .. } => "service_check",
            AppMsg::Answer { hop: Hop::Gateway, .. } => "answer",
            AppMsg::Answer { hop: Hop::Service, .. } => "service_answer",
            AppMsg::Enqueue { .. } => "enqueue",
        }
    }
}

parts::wire! {
    /// Everything a node of this design sends.
    pub enum Msg { App(AppMsg), Kv(kv::Msg), Ext(provider::Msg) }
}

/// The cron job's tick.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Cron;

parts::wire! {
    timers pub enum Timer { Call(CallTimer), Pool(PoolTimer), Kv(kv::Timer), Ext(provider::Timer), Cron(Cron) }
}

/// Who waits for an answer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Waiter {
    from: NodeId,
    req: ReqId,
}

fn answer(ctx: &mut Ctx<'_, Node>, hop: Hop, to: Waiter, verdict: Verdict) {
    ctx.send(to.from, Msg::from(AppMsg::Answer { hop, req: to.req, verdict }));
}

// ----- client and gateway -----

pub struct Client {
    calls: OpCalls<AppMsg>,
}

impl Client {
    fn on_msg(&mut self, ctx: &mut Ctx<'_, Node>, msg: Msg) {
        if let Msg::App(AppMsg::Answer { hop: Hop::Gateway, req, verdict }) = msg {
            let (outcome, reply) = match verdict {
                Verdict::Is(v) => (Outcome::Ok, Reply::Value(v)),
                Verdict::Limited => (Outcome::Rejected, Reply::None),
                Verdict::Failed => (Outcome::Fail, Reply::None),
            };
            self.calls.answered(ctx, req, outcome, reply);
        }
    }
}

pub struct Gateway {
    limit: Params,
    algorithm: Algorithm,
    /// One limiter per caller.
    limiters: BTreeMap<NodeId, limiter::State>,
    calls: Calls<AppMsg, Waiter>,
    services: ServiceId,
    limited: u64,
}

impl Gateway {
    fn on_msg(&mut self, ctx: &mut Ctx<'_, Node>, from: NodeId, msg: Msg) {
        match msg {
            Msg::App(AppMsg::Check { hop: Hop::Gateway, req, ip }) => {
                let to = Waiter { from, req };
                let (limit, algo) = (self.limit, self.algorithm);
                let state = self.limiters.entry(from).or_insert_with(|| limiter::State::new(algo, &limit));
                // An in-process limiter: its windows measure elapsed time (the monotonic clock).
                if !state.admit(&limit, ctx.monotonic().0) {
                    self.limited += 1;
                    ctx.count_in("gateway", "limited", 1);
                    return answer(ctx, Hop::Gateway, to, Verdict::Limited);
                }
                let make = |req| AppMsg::Check { hop: Hop::Service, req, ip };
                if let Err(done) = self.calls.call(ctx, self.services, ip, make, to) {
                    answer(ctx, Hop::Gateway, done.data, Verdict::Failed);
                }
            }
            Msg::App(AppMsg::Answer { hop: Hop::Service, req, verdict }) => {
                let a = if verdict == Verdict::Failed { Answer::Fatal } else { Answer::Ok };
                if let Some(done) = self.calls.reply(ctx, req, a) {
                    answer(ctx, Hop::Gateway, done.data, verdict);
                }
            }
            _ => {}
        }
    }

    fn on_timer(&mut self, ctx: &mut Ctx<'_, Node>, t: Timer) {
        if let Timer::Call(t) = t
            && let Some(done) = self.calls.on_timer(ctx, t)
        {
            answer(ctx, Hop::Gateway, done.data, Verdict::Failed);
        }
    }
}

// ----- the blacklist service -----

/// What a service's call downstream is for.
#[derive(Clone, Copy, Debug)]
pub enum Up {
    /// The cache missed: the store's row.
    Get { fetch: FetchId, ip: u64 },
    /// The store does not know the IP (`Sync`): `isMalicious`.
    Ext { fetch: FetchId, ip: u64 },
    /// Record the verdict, then answer.
    Put { fetch: FetchId, verdict: u64 },
}

/// A service server's counts.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ServiceStats {
    pub store_reads: u64,
    pub store_failures: u64,
    pub unknown: u64,
    pub external_calls: u64,
    pub external_failures: u64,
    pub recorded: u64,
    pub overloaded: u64,
}

pub struct Service {
    pool: Pool<Waiter>,
    ips: BTreeMap<u64, u64>,
    path: ReadPath<Waiter, u64>,
    calls: Calls<Msg, Up>,
    kv: KvClient,
    ext: ServiceId,
    checker: NodeId,
    unknown: Unknown,
    truth: Truth,
    stats: ServiceStats,
}

/// Bytes of a cached verdict (the key `blacklist:<ip>` and `true`/`false`, as the notes store it).
const ENTRY_BYTES: u64 = 32;

impl Service {
    fn on_msg(&mut self, ctx: &mut Ctx<'_, Node>, from: NodeId, msg: Msg) {
        match msg {
            Msg::App(AppMsg::Check { hop: Hop::Service, req, ip }) => {
                let to = Waiter { from, req };
                match self.pool.submit(ctx, to) {
                    Admit::Started | Admit::Queued => {
                        self.ips.insert(req_key(to), ip);
                    }
                    Admit::Rejected(to) | Admit::Dropped(to) => self.overloaded(ctx, to),
                }
            }
            m => {
                if let Some((done, r)) = downstream_reply(&mut self.calls, ctx, m) {
                    self.landed(ctx, done, r);
                }
            }
        }
    }

    fn overloaded(&mut self, ctx: &mut Ctx<'_, Node>, to: Waiter) {
        self.ips.remove(&req_key(to));
        self.stats.overloaded += 1;
        answer(ctx, Hop::Service, to, Verdict::Failed);
    }

    fn on_timer(&mut self, ctx: &mut Ctx<'_, Node>, t: Timer) {
        match t {
            Timer::Pool(t) => {
                if let Some(to) = self.pool.on_timer(ctx, t) {
                    let ip = self.ips.remove(&req_key(to)).expect("a job's IP is kept");
                    self.lookup(ctx, to, ip);
                }
                for to in self.pool.take_shed() {
                    self.overloaded(ctx, to);
                }
            }
            Timer::Call(t) => {
                if let Some(done) = self.calls.on_timer(ctx, t) {
                    self.landed(ctx, done, None);
                }
            }
            _ => {}
        }
    }

    /// A thread took the request: the cache.
    fn lookup(&mut self, ctx: &mut Ctx<'_, Node>, to: Waiter, ip: u64) {
        match self.path.read(ctx, ip, to) {
            Read::Hit(to, v) | Read::HitRefresh(to, v, _) => {
                answer(ctx, Hop::Service, to, Verdict::Is(v.unwrap_or(UNKNOWN)));
            }
            Read::Fetch(fetch) => self.store(ctx, kv::Op::Get { key: ip }, Up::Get { fetch, ip }),
            Read::Joined => {}
        }
    }

    fn store(&mut self, ctx: &mut Ctx<'_, Node>, op: kv::Op, up: Up) {
        if up_is_read(&up) {
            self.stats.store_reads += 1;
        }
        if let Err(done) = self.kv.call(&mut self.calls, ctx, op, ReadFrom::Primary, up) {
            self.landed(ctx, done, None);
        }
    }

    /// A fetch is over: answers the requests waiting for it.
    fn fetched(&mut self, ctx: &mut Ctx<'_, Node>, fetch: FetchId, result: Fetched<u64>) {
        let verdict = match &result {
            Fetched::Found { value, .. } => Verdict::Is(*value),
            Fetched::NotFound { .. } => Verdict::Is(UNKNOWN),
            Fetched::Failed => Verdict::Failed,
        };
        for to in self.path.fetched(ctx, fetch, &result) {
            answer(ctx, Hop::Service, to, verdict);
        }
    }

    fn landed(&mut self, ctx: &mut Ctx<'_, Node>, done: Done<Up>, result: Option<KvResult>) {
        let ok = done.outcome == CallOutcome::Ok;
        match (done.data, result) {
            (Up::Get { fetch, .. }, Some(KvResult::Found { value, .. })) if ok => {
                self.fetched(ctx, fetch, Fetched::Found { value: value as u64, size: ENTRY_BYTES })
            }
            (Up::Get { fetch, ip }, Some(KvResult::NotFound)) if ok => match self.unknown {
                Unknown::Async => {
                    self.stats.unknown += 1;
                    ctx.send(self.checker, Msg::from(AppMsg::Enqueue { ip }));
                    self.fetched(ctx, fetch, Fetched::NotFound { size: ENTRY_BYTES });
                }
                Unknown::Sync => {
                    self.stats.external_calls += 1;
                    let make = |id| Msg::from(provider::Msg::Request { id, key: ip });
                    if let Err(d) = self.calls.call(ctx, self.ext, ip, make, Up::Ext { fetch, ip }) {
                        self.landed(ctx, d, None);
                    }
                }
            },
            (Up::Get { fetch, .. }, _) => {
                self.stats.store_failures += 1;
                self.fetched(ctx, fetch, Fetched::Failed);
            }
            (Up::Ext { fetch, ip }, _) if ok => {
                // The external service's answer is the world's truth now, in true time: it knows
                // the IP's real state, not this node's clock (a step back 8 s made it answer with
                // the truth of 8 s ago, clean after malicious).
                let verdict = if self.truth.is_malicious(ip, ctx.ledger_time()) { MALICIOUS } else { CLEAN };
                let op = kv::Op::Put { key: ip, value: verdict as i64, ttl: None };
                self.store(ctx, op, Up::Put { fetch, verdict });
            }
            (Up::Ext { fetch, .. }, _) => {
                self.stats.external_failures += 1;
                self.fetched(ctx, fetch, Fetched::Failed);
            }
            (Up::Put { fetch, verdict }, Some(KvResult::Written { .. })) if ok => {
                self.stats.recorded += 1;
                self.fetched(ctx, fetch, Fetched::Found { value: verdict, size: ENTRY_BYTES });
            }
            (Up::Put { fetch, .. }, _) => {
                // Not recorded: the verdict is not answered (a malicious answer promises a record).
                self.stats.store_failures += 1;
                self.fetched(ctx, fetch, Fetched::Failed);
            }
        }
    }
}

/// A caller's store client and `isMalicious` service in its `calls`.
fn downstream<T>(
    calls: &mut Calls<Msg, T>,
    scope: &'static str,
    map: &ShardMap,
    c: &Config,
    provider: NodeId,
) -> (KvClient, ServiceId) {
    let kv = KvClient::register(calls, "store_calls", map, &c.store_call);
    let ext = calls.add(scope, &[provider], c.provider_call.clone(), Policy::RoundRobin, HealthSpec::default());
    (kv, ext)
}

/// A store or `isMalicious` answer to one of `calls`: the call's end, if this ends it (with the
/// store's result for a store call).
fn downstream_reply<T>(
    calls: &mut Calls<Msg, T>,
    ctx: &mut Ctx<'_, Node>,
    msg: Msg,
) -> Option<(Done<T>, Option<KvResult>)> {
    match msg {
        Msg::Kv(kv::Msg::Resp { id, result }) => {
            KvClient::on_response(calls, ctx, id, result).map(|(d, r)| (d, Some(r)))
        }
        Msg::Ext(provider::Msg::Response { id, status, .. }) => {
            calls.reply(ctx, id, status.answer()).map(|d| (d, None))
        }
        _ => None,
    }
}

fn up_is_read(up: &Up) -> bool {
    matches!(up, Up::Get { .. })
}

/// A request's key among a server's jobs: the caller and its request id.
fn req_key(w: Waiter) -> u64 {
    (w.from.0 as u64) << 40 ^ w.req.0
}

// ----- the checker: queue, workers, cron -----

/// What a worker's (or the cron's) call is for.
#[derive(Clone, Copy, Debug)]
pub enum Step {
    /// The cron read a sampled IP's row.
    Sampled {
        ip: u64,
    },
    /// `isMalicious(ip)`; `prior`: the stored verdict (a re-check), `None`: a new IP.
    Ext {
        ip: u64,
        prior: Option<u64>,
    },
    Put {
        ip: u64,
    },
}

/// A task of the queue.
#[derive(Clone, Copy, Debug)]
pub struct Task {
    ip: u64,
    prior: Option<u64>,
}

/// The checker's counts.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CheckerStats {
    pub enqueued: u64,
    /// IPs not queued again: already queued or being checked.
    pub deduplicated: u64,
    /// Refused by a full queue.
    pub dropped: u64,
    pub new_checked: u64,
    pub rechecked: u64,
    pub external_calls: u64,
    pub external_failures: u64,
    /// Re-checks that found a malicious IP clean (its record changed: expired).
    pub expired: u64,
    /// Re-checks that found a clean IP malicious.
    pub promoted: u64,
    pub recorded: u64,
    pub cron_samples: u64,
    pub cron_found: u64,
    pub store_failures: u64,
}

pub struct Checker {
    slots: Slots<Task>,
    /// IPs queued or being checked.
    queued: BTreeSet<u64>,
    calls: Calls<Msg, Step>,
    kv: KvClient,
    ext: ServiceId,
    truth: Truth,
    spec: CheckerSpec,
    ips: u64,
    stats: CheckerStats,
}

impl Checker {
    fn on_start(&mut self, ctx: &mut Ctx<'_, Node>) {
        if let Some(every) = self.spec.cron_every {
            ctx.set_timer(every, Timer::Cron(Cron));
        }
    }

    fn enqueue(&mut self, ctx: &mut Ctx<'_, Node>, task: Task) {
        if !self.queued.insert(task.ip) {
            self.stats.deduplicated += 1;
            return;
        }
        self.stats.enqueued += 1;
        match self.slots.acquire(ctx, task) {
            Some(true) => self.start(ctx, task),
            Some(false) => {}
            None => {
                self.stats.dropped += 1;
                ctx.count_in("checker", "dropped", 1);
                self.queued.remove(&task.ip);
            }
        }
    }

    fn start(&mut self, ctx: &mut Ctx<'_, Node>, task: Task) {
        self.stats.external_calls += 1;
        let (ip, prior) = (task.ip, task.prior);
        let make = |id| Msg::from(provider::Msg::Request { id, key: ip });
        if let Err(d) = self.calls.call(ctx, self.ext, ip, make, Step::Ext { ip, prior }) {
            self.landed(ctx, d, None);
        }
    }

    /// A task is over: its worker takes the next one.
    fn finish(&mut self, ctx: &mut Ctx<'_, Node>, ip: u64) {
        self.queued.remove(&ip);
        if let Some(next) = self.slots.release(ctx) {
            self.start(ctx, next);
        }
    }

    fn on_msg(&mut self, ctx: &mut Ctx<'_, Node>, msg: Msg) {
        match msg {
            Msg::App(AppMsg::Enqueue { ip }) => self.enqueue(ctx, Task { ip, prior: None }),
            m => {
                if let Some((done, r)) = downstream_reply(&mut self.calls, ctx, m) {
                    self.landed(ctx, done, r);
                }
            }
        }
    }

    fn on_timer(&mut self, ctx: &mut Ctx<'_, Node>, t: Timer) {
        match t {
            Timer::Cron(Cron) => {
                for _ in 0..self.spec.cron_sample {
                    let ip = ctx.rng().below(self.ips);
                    self.stats.cron_samples += 1;
                    let op = kv::Op::Get { key: ip };
                    if let Err(d) = self.kv.call(&mut self.calls, ctx, op, ReadFrom::Primary, Step::Sampled { ip }) {
                        self.landed(ctx, d, None);
                    }
                }
                if let Some(every) = self.spec.cron_every {
                    ctx.set_timer(every, Timer::Cron(Cron));
                }
            }
            Timer::Call(t) => {
                if let Some(done) = self.calls.on_timer(ctx, t) {
                    self.landed(ctx, done, None);
                }
            }
            _ => {}
        }
    }

    fn landed(&mut self, ctx: &mut Ctx<'_, Node>, done: Done<Step>, result: Option<KvResult>) {
        let ok = done.outcome == CallOutcome::Ok;
        match (done.data, result) {
            (Step::Sampled { ip }, Some(KvResult::Found { value, .. })) if ok => {
                self.stats.cron_found += 1;
                self.enqueue(ctx, Task { ip, prior: Some(value as u64) });
            }
            (Step::Sampled { .. }, Some(KvResult::NotFound)) if ok => {}
            (Step::Sampled { .. }, _) => self.stats.store_failures += 1,
            (Step::Ext { ip, prior }, _) if ok => {
                // The external service's answer: the truth in true time (as above).
                let verdict = if self.truth.is_malicious(ip, ctx.ledger_time()) { MALICIOUS } else { CLEAN };
                match prior {
                    None => self.stats.new_checked += 1,
                    Some(p) => {
                        self.stats.rechecked += 1;
                        if p == MALICIOUS && verdict == CLEAN {
                            self.stats.expired += 1;
                            ctx.count_in("checker", "expired", 1);
                        } else if p == CLEAN && verdict == MALICIOUS {
                            self.stats.promoted += 1;
                        }
                    }
                }
                if prior == Some(verdict) {
                    return self.finish(ctx, ip);
                }
                let op = kv::Op::Put { key: ip, value: verdict as i64, ttl: None };
                if let Err(d) = self.kv.call(&mut self.calls, ctx, op, ReadFrom::Primary, Step::Put { ip }) {
                    self.landed(ctx, d, None);
                }
            }
            (Step::Ext { ip, .. }, _) => {
                self.stats.external_failures += 1;
                self.finish(ctx, ip);
            }
            (Step::Put { ip }, r) => {
                if ok && matches!(r, Some(KvResult::Written { .. })) {
                    self.stats.recorded += 1;
                } else {
                    self.stats.store_failures += 1;
                }
                self.finish(ctx, ip);
            }
        }
    }
}

// ----- the actor -----

pub enum Node {
    Client(Box<Client>),
    Gateway(Box<Gateway>),
    Service(Box<Service>),
    Store(Box<KvServer>),
    Provider(Box<Provider>),
    Checker(Box<Checker>),
}

const CHECK: u16 = 0;

impl Actor for Node {
    type Msg = Msg;
    type Timer = Timer;
    type Record = kv::Entry;

    fn on_start(&mut self, ctx: &mut Ctx<'_, Self>) {
        match self {
            Node::Store(s) => s.on_start(ctx),
            Node::Checker(c) => c.on_start(ctx),
            _ => {}
        }
    }

    fn on_msg(&mut self, ctx: &mut Ctx<'_, Self>, from: NodeId, msg: Msg) {
        match (self, msg) {
            (Node::Client(c), m) => c.on_msg(ctx, m),
            (Node::Gateway(g), m) => g.on_msg(ctx, from, m),
            (Node::Service(s), m) => s.on_msg(ctx, from, m),
            (Node::Store(s), Msg::Kv(m)) => s.on_msg(ctx, from, m),
            (Node::Provider(p), Msg::Ext(m)) => {
                ctx.count_in("provider", "requests", 1);
                p.on_msg(ctx, from, m)
            }
            (Node::Checker(c), m) => c.on_msg(ctx, m),
            _ => {}
        }
    }

    fn on_timer(&mut self, ctx: &mut Ctx<'_, Self>, t: Timer) {
        match (self, t) {
            (Node::Client(c), Timer::Call(t)) => c.calls.on_timer(ctx, t),
            (Node::Gateway(g), t) => g.on_timer(ctx, t),
            (Node::Service(s), t) => s.on_timer(ctx, t),
            (Node::Store(s), Timer::Kv(t)) => s.on_timer(ctx, t),
            (Node::Store(s), Timer::Pool(t)) => s.on_pool_timer(ctx, t),
            (Node::Provider(p), Timer::Ext(t)) => p.on_timer(ctx, t),
            (Node::Checker(c), t) => c.on_timer(ctx, t),
            _ => {}
        }
    }

    fn on_persisted(&mut self, ctx: &mut Ctx<'_, Self>, w: WriteId) {
        if let Node::Store(s) = self {
            s.on_persisted(ctx, w);
        }
    }

    fn on_op(&mut self, ctx: &mut Ctx<'_, Self>, op: Op) {
        match self {
            Node::Client(c) => {
                let ip = op.key;
                c.calls.call(ctx, ip, |req| AppMsg::Check { hop: Hop::Gateway, req, ip }, op.id);
            }
            _ => ctx.complete(op.id, Outcome::Rejected, Reply::None),
        }
    }
}

pub struct Blacklist;

impl Model for Blacklist {
    const NAME: &'static str = "blacklist";
    const ABOUT: &'static str = "A malicious-IP blacklist: gateway, cached service, replicated store, slow external isMalicious, queue and workers, cron re-checks; the cold-cache stampede";
    const OP_KINDS: &'static [&'static str] = &["check"];
    const TRANSPORT: sim_core::net::Transport = sim_core::net::Transport::Connection;
    const CHECKS: &'static [&'static str] = &["no_recorded_malicious_clean", "warm_latency_sla"];
    type Config = Config;
    type Actor = Node;

    fn validate(c: &Config, topo: &Topology) -> Vec<(String, String)> {
        let mut e = Vec::new();
        if c.gateways == 0 {
            e.push(("config.gateways".into(), "must be at least 1".into()));
        }
        if c.services == 0 {
            e.push(("config.services".into(), "must be at least 1".into()));
        }
        let need = Layout::needed(c);
        if topo.servers.len() != need {
            e.push((
                "topology.servers".into(),
                format!(
                    "{} gateways + {} services + {} store nodes + provider + checker = {need} servers, got {}",
                    c.gateways,
                    c.services,
                    c.store.nodes(),
                    topo.servers.len()
                ),
            ));
        }
        if topo.clients.is_empty() {
            e.push(("topology.clients".into(), "the workload needs at least one client".into()));
        }
        if c.rate_limit.max == 0 {
            e.push(("config.rate_limit.max".into(), "must be at least 1".into()));
        }
        if c.rate_limit.window == Duration::ZERO {
            e.push(("config.rate_limit.window".into(), "must be positive".into()));
        }
        if c.checker.workers == 0 {
            e.push(("config.checker.workers".into(), "must be at least 1".into()));
        }
        if c.checker.ips == 0 {
            e.push(("config.checker.ips".into(), "must be at least 1".into()));
        }
        if c.checker.cron_every == Some(Duration::ZERO) {
            e.push(("config.checker.cron_every".into(), "must be positive (or None: no cron job)".into()));
        }
        e.extend(c.client_call.validate("config.client_call"));
        e.extend(c.gateway_call.validate("config.gateway_call"));
        e.extend(c.service.validate("config.service"));
        e.extend(c.read_path.validate("config.read_path"));
        e.extend(c.store.validate("config.store"));
        e.extend(c.store_call.validate("config.store_call"));
        e.extend(c.provider.validate("config.provider"));
        e.extend(c.provider_call.validate("config.provider_call"));
        e.extend(c.truth.validate("config.truth"));
        e
    }

    /// Per distinct IP checked (from `load.keys` and its skew): its verdict written once to the
    /// store (`KvSpec::footprint_of_writes`: in the primary's log and on each replica's disk,
    /// ~150 B a copy, and the dedupe record), its
    /// entry in the owning service's cache (~160 B) and the checkers' records (~150 B: the
    /// durability check's per-IP map, the report's copies). Store reads: a miss per distinct IP,
    /// and 15% of the other checks (expired entries, negative entries of IPs not yet checked).
    /// Events beyond the kernel's two: ~4.3 a check (gateway and service hops, the pool timer),
    /// 3 a store read, 7 an IP checked by `isMalicious` (enqueue, the call, the write and its
    /// replication), 4 an IP the cron samples. Measured on `blacklist_perf.ron` and variants
    /// (30 to 120 s, 1,500 to 6,000 checks/s, 25,000 to 400,000 IPs): 61 MB used over a tiny
    /// run, 28 MB of it the kernel's estimate; 9.6 events a check. Not counted: the store's
    /// disk also bounds the writes (one sync at a time per shard, e.g. ~1,600/s at 1.25 ms), and
    /// the disk is not in the config; a slow disk makes this an overestimate.
    fn footprint(c: &Config, _topo: &Topology, load: &sim_core::cost::Load) -> sim_core::cost::Footprint {
        let checks = load.of("check", Self::OP_KINDS);
        // The distinct IPs checked: the uniform expectation, its rate divided by skew^0.19 for a
        // Zipf workload's repeats (fit: within 10% of the expectation for s = 1, 25,000 to
        // 100,000 keys, 180,000 checks).
        let keys = load.keys.max(1.0);
        let spread = keys * sim_core::math::powf(load.key_skew.max(1.0), 0.19);
        let ips = keys * (1.0 - sim_core::math::exp(-checks / spread));
        // The checker's workers record at most one IP per `isMalicious` round trip, and at most
        // the provider's rate limit.
        let round_trip = c.provider.latency.mean_ns().unwrap_or(1e9) / 1e9 + 2.0 * load.latency_s;
        let mut per_s = c.checker.workers as f64 / round_trip.max(1e-3);
        if let Some(r) = &c.provider.rate_limit {
            per_s = per_s.min(r.per_s);
        }
        let written = match c.unknown {
            Unknown::Async => ips.min(per_s * load.run_s),
            Unknown::Sync => ips,
        };
        let capacity = c.read_path.cache.capacity.entries(ENTRY_BYTES as f64) * c.services as f64;
        let cached = ips.min(capacity);
        let reads = ips + (checks - ips).max(0.0) * 0.15;
        let samples = c.checker.cron_every.map_or(0.0, |e| load.times_every(e) * c.checker.cron_sample as f64);
        // A sampled IP the store knows is checked again: about half the known share on average.
        let rechecks = samples * (written / c.checker.ips.max(1) as f64).min(1.0) / 2.0;
        sim_core::cost::Footprint {
            events: checks * 4.3 + reads * 3.0 + (written + rechecks) * 7.0 + samples * 4.0,
            queued: load.in_flight * 4.0 + c.checker.workers as f64,
            ..Default::default()
        }
        .part(
            format!(
                "the store: {written} verdicts x {} copies x 150 B, and dedupe records",
                1 + c.store.replicas,
                written = count(written)
            ),
            c.store.footprint_of_writes(written),
        )
        .part(format!("cache entries: {cached} x 160 B", cached = count(cached)), cached * parts::cache::ENTRY_BYTES)
        .part(format!("the checkers' records: {ips} IPs x 150 B", ips = count(ips)), ips * 150.0)
    }

    fn factory(c: &Config, topo: &Topology, setup: &mut Prng) -> Box<dyn FnMut(NodeId) -> Node> {
        let layout = Layout::new(c, topo);
        let map = ShardMap::new(&c.store, &layout.store);
        let truth = Truth { spec: c.truth.clone(), salt: setup.next_u64() };
        let (c, topo) = (c.clone(), topo.clone());
        let limit = Params { max: c.rate_limit.max, window_ns: c.rate_limit.window.0, buckets: 60 };
        Box::new(move |n| {
            if topo.is_client(n) {
                let calls = OpCalls::new("client_calls", &layout.gateways, c.client_call.clone(), Policy::RoundRobin);
                return Node::Client(Box::new(Client { calls }));
            }
            if layout.gateways.contains(&n) {
                let mut calls = Calls::new();
                let ring = Policy::ConsistentHash { vnodes: 64 };
                let services =
                    calls.add("gateway_calls", &layout.services, c.gateway_call.clone(), ring, HealthSpec::default());
                return Node::Gateway(Box::new(Gateway {
                    limit,
                    algorithm: c.rate_limit.algorithm,
                    limiters: BTreeMap::new(),
                    calls,
                    services,
                    limited: 0,
                }));
            }
            if layout.services.contains(&n) {
                let mut calls = Calls::new();
                let (kv, ext) = downstream(&mut calls, "service_ext_calls", &map, &c, layout.provider);
                return Node::Service(Box::new(Service {
                    pool: Pool::new("service", c.service.clone()),
                    ips: BTreeMap::new(),
                    path: ReadPath::new("cache", c.read_path.clone()),
                    calls,
                    kv,
                    ext,
                    checker: layout.checker,
                    unknown: c.unknown,
                    truth: truth.clone(),
                    stats: ServiceStats::default(),
                }));
            }
            if layout.store.contains(&n) {
                return Node::Store(Box::new(KvServer::new("store", &c.store, &map, n, &[])));
            }
            if n == layout.provider {
                return Node::Provider(Box::new(Provider::new("provider", c.provider.clone())));
            }
            let mut calls = Calls::new();
            let (kv, ext) = downstream(&mut calls, "checker_ext_calls", &map, &c, layout.provider);
            Node::Checker(Box::new(Checker {
                slots: Slots::new("checker", "workers_busy", c.checker.workers, c.checker.queue),
                queued: BTreeSet::new(),
                calls,
                kv,
                ext,
                truth: truth.clone(),
                spec: c.checker.clone(),
                ips: c.checker.ips,
                stats: CheckerStats::default(),
            }))
        })
    }

    fn report(c: &Config, run: &RunView<'_, Node>) -> ModelReport {
        report(c, run)
    }
}

fn report(c: &Config, run: &RunView<'_, Node>) -> ModelReport {
    let mut r = ModelReport::default();
    let metrics = run.sim.metrics();
    let (mut cache, mut path) = (CacheStats::default(), ReadStats::default());
    let (mut svc, mut pool) = (ServiceStats::default(), PoolStats::default());
    let mut ext = ProviderStats::default();
    let mut checker = CheckerStats::default();
    let (mut rows, mut malicious_rows, mut limited) = (0u64, 0u64, 0u64);
    let mut truth = None;
    for (_, node) in run.servers() {
        match node {
            Node::Service(s) => {
                cache.add(&s.path.cache.stats);
                path.add(&s.path.stats);
                pool.add(&s.pool.stats);
                let t = &s.stats;
                svc.store_reads += t.store_reads;
                svc.store_failures += t.store_failures;
                svc.unknown += t.unknown;
                svc.external_calls += t.external_calls;
                svc.external_failures += t.external_failures;
                svc.recorded += t.recorded;
                svc.overloaded += t.overloaded;
                truth.get_or_insert_with(|| s.truth.clone());
            }
            Node::Store(s) if s.is_primary() => {
                rows += s.rows().len() as u64;
                malicious_rows += s.rows().values().filter(|r| r.value == MALICIOUS as i64).count() as u64;
            }
            Node::Provider(p) => ext.add(&p.stats),
            Node::Checker(k) => {
                checker = k.stats;
                truth.get_or_insert_with(|| k.truth.clone());
            }
            Node::Gateway(g) => limited += g.limited,
            _ => {}
        }
    }
    let truth = truth.expect("a service or the checker is running at the end");
    let history = run.history();

    let d = check::durability(history, &truth, CHECK);
    let first = d.violations.first().map(|h| {
        format!(
            "e.g. IP {} answered {:?} at {} (op {}) after it was answered malicious",
            h.key, h.reply, h.invoke, h.op.0
        )
    });
    r.checks.push(
        Check::judged("no_recorded_malicious_clean", d.judged, "answers after a malicious answer")
            .skipped(d.turned_clean, "the IP had turned clean in the ground truth")
            .violations(d.violations.len(), "answered clean or unknown")
            .detail(first.unwrap_or_default())
            .blame_ops(d.violations.iter().copied()),
    );

    let warm_from = Time(c.sla.warm_from.0);
    let faults: Vec<(Time, Time)> = run
        .sim
        .config()
        .faults
        .iter()
        .map(|f| (Time(f.at.0), Time(f.at.0) + f.duration.unwrap_or(Duration::ZERO)))
        .collect();
    let (lat, ops, in_faults) = check::latencies(history, CHECK, warm_from, run.main_end, &faults);
    let p99 = sim_core::stats::percentile(&lat, 0.99).unwrap_or(0);
    let late: Vec<_> = lat.iter().zip(&ops).filter(|(l, _)| **l > c.sla.warm_p99.0).map(|(_, h)| *h).collect();
    r.checks.push(
        Check::judged("warm_latency_sla", lat.len() as u64, "answers with a warm cache")
            .skipped(in_faults, "invoked during a fault")
            .passed_if(p99 <= c.sla.warm_p99.0)
            .detail(format!(
                "p99 {:.2} ms (bound {} ms), {} answers over the bound, from {}",
                p99 as f64 / 1e6,
                c.sla.warm_p99.as_secs_f64() * 1e3,
                late.len(),
                warm_from
            ))
            .blame_ops(late.into_iter().rev().take(10)),
    );

    // Measures.
    let main_s = run.main_end.0.max(1) as f64 / 1e9;
    let interval = metrics.interval;
    let main_intervals = run.main_end.0.div_ceil(interval.0.max(1)) as usize;
    let in_main = |s: &[u64]| s.iter().take(main_intervals).sum::<u64>();
    let external = in_main(metrics.scoped_counter_series("provider", "requests"));
    let ok_answers = history
        .iter()
        .filter(|h| {
            h.kind == CHECK && h.outcome == Some(Outcome::Ok) && h.complete.get().is_some_and(|t| t <= run.main_end)
        })
        .count() as u64;
    let (hit, positives, stale, lag) = check::accuracy(history, &truth, CHECK);
    let m = &mut r.measures;
    m.insert("answers_per_s".into(), ok_answers as f64 / main_s);
    m.insert("external_calls".into(), external as f64);
    m.insert("external_calls_per_s".into(), external as f64 / main_s);
    m.insert("external_rate_limited".into(), ext.rate_limited as f64);
    m.insert("external_errors".into(), ext.errors as f64);
    m.insert("external_in_flight_max".into(), metrics_level_max(run, "provider", "in_flight"));
    m.insert("warm_p99_ms".into(), p99 as f64 / 1e6);
    // The cold phase's tail, failed answers included (a stampede fails many after long waits).
    let (cold, _, _) = check::latencies(history, CHECK, Time::ZERO, warm_from.min(run.main_end), &[]);
    m.insert("cold_p99_ms".into(), sim_core::stats::percentile_ms(&cold, 0.99));
    m.insert("cold_answers".into(), cold.len() as f64);
    m.insert("warm_answers".into(), lat.len() as f64);
    m.insert("cache_hit_ratio".into(), cache.hit_ratio());
    m.insert("cache_hits".into(), cache.hits as f64);
    m.insert("cache_misses".into(), cache.misses as f64);
    m.insert("cache_coalesced".into(), path.coalesced as f64);
    m.insert("cache_fetches".into(), path.fetches as f64);
    m.insert("cache_key_fetches_max".into(), path.key_fetches_max as f64);
    m.insert("cache_expirations".into(), cache.expirations as f64);
    m.insert("service_store_reads".into(), svc.store_reads as f64);
    m.insert("service_unknown".into(), svc.unknown as f64);
    m.insert("service_external_calls".into(), svc.external_calls as f64);
    m.insert("service_recorded".into(), svc.recorded as f64);
    m.insert("service_overloaded".into(), (svc.overloaded + pool.rejected) as f64);
    m.insert("gateway_limited".into(), limited as f64);
    m.insert("queue_enqueued".into(), checker.enqueued as f64);
    m.insert("queue_deduplicated".into(), checker.deduplicated as f64);
    m.insert("queue_dropped".into(), checker.dropped as f64);
    m.insert("checker_new_checked".into(), checker.new_checked as f64);
    m.insert("checker_rechecked".into(), checker.rechecked as f64);
    m.insert("checker_expired".into(), checker.expired as f64);
    m.insert("checker_promoted".into(), checker.promoted as f64);
    m.insert("checker_external_calls".into(), checker.external_calls as f64);
    m.insert("cron_samples".into(), checker.cron_samples as f64);
    m.insert("ips_stored".into(), rows as f64);
    m.insert("ips_stored_malicious".into(), malicious_rows as f64);
    let row_bytes = std::mem::size_of::<(u64, kv::Row)>() as f64;
    m.insert("store_row_bytes".into(), row_bytes);
    m.insert("store_gb_at_100m_ips".into(), row_bytes * 100e6 / 1e9);
    m.insert("malicious_recall".into(), if positives == 0 { 0.0 } else { hit as f64 / positives as f64 });
    m.insert("stale_malicious_answers".into(), stale as f64);
    m.insert("stale_malicious_lag_max_ms".into(), lag.as_secs_f64() * 1e3);
    m.insert("violations".into(), d.violations.len() as f64);

    r.tables.push(phase_table(c, run));
    let series = |scope, name| metrics.scoped_counter_series(scope, name);
    let secs = interval.as_secs_f64();
    let (calls, coalesced, hits) =
        (series("provider", "requests"), series("cache", "coalesced"), series("cache", "hits"));
    let len = calls.len().max(coalesced.len()).max(hits.len());
    let at = |v: &[u64], i: usize| v.get(i).copied().unwrap_or(0) as f64 / secs;
    let rows = (0..len).map(|i| vec![i as f64 * secs, at(calls, i), at(coalesced, i), at(hits, i)]).collect();
    r.tables.push(
        Table::new(
            "external calls over time",
            ["t_s", "external_calls_per_s", "coalesced_per_s", "cache_hits_per_s"],
            rows,
        )
        .over_time(&["external_calls_per_s", "coalesced_per_s", "cache_hits_per_s"], Axis::new("rate", "/s").log10()),
    );
    r.tables.push(hit_ratio_table(metrics, "cache hit ratio", &[("cache", "hit_ratio")]));
    r
}

/// The highest value a kernel level reached.
fn metrics_level_max(run: &RunView<'_, Node>, scope: &str, name: &str) -> f64 {
    run.sim.metrics().levels.get(scope, name).map_or(0.0, |l| l.max as f64)
}

/// External calls, cache hits and coalesced waits per phase: cold (to `sla.warm_from`), warm
/// (to the end of the main phase) and the liveness phase.
fn phase_table(c: &Config, run: &RunView<'_, Node>) -> Table {
    let metrics = run.sim.metrics();
    let iv = metrics.interval.0.max(1);
    let warm = (c.sla.warm_from.0 / iv) as usize;
    let main = run.main_end.0.div_ceil(iv) as usize;
    let sum = |scope, name, a: usize, b: usize| -> f64 {
        metrics.scoped_counter_series(scope, name).iter().skip(a).take(b.saturating_sub(a)).sum::<u64>() as f64
    };
    let phases = [(0.0, 0, warm.min(main)), (1.0, warm.min(main), main), (2.0, main, usize::MAX)];
    let rows = phases
        .iter()
        .map(|&(p, a, b)| {
            vec![
                p,
                sum("provider", "requests", a, b),
                sum("cache", "hits", a, b) + sum("cache", "negative_hits", a, b),
                sum("cache", "misses", a, b),
                sum("cache", "coalesced", a, b),
                sum("cache", "fetches", a, b),
            ]
        })
        .collect();
    Table::new(
        "external calls per phase",
        ["phase", "external_calls", "cache_hits", "cache_misses", "coalesced_waits", "fetches"],
        rows,
    )
    .bars("phase", &["external_calls", "cache_hits", "coalesced_waits"], Axis::new("count", "").log10())
    .labels(&["cold", "warm", "liveness"])
}
