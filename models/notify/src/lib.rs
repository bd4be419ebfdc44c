//! # notify: a notification system (email, SMS, push, in-app) over queues, workers and providers
//!
//! The notes' design (system 10): `POST /notifications/send {user_id, type, content}` reaches an
//! API server, which validates it (user, device and template info from a cache in front of the
//! database), records it as *pending* in a status store and puts it on the queue of its channel;
//! per-channel workers take it from the queue, render it, and hand it to the channel's third-party
//! provider (an email gateway, an SMS gateway, APNs/FCM for push, the app's own socket tier for
//! in-app), retrying with backoff; the worker records the result (*sent*, or *failed* with a
//! reason) in the status store, which `GET /notifications/status/{id}` reads. Built from the
//! parts crate only: [`parts::log`] is the queue (a topic per channel, a consumer group per
//! channel), [`parts::workers`] the workers (a fixed pool, each worker node serving one
//! channel), [`parts::provider`] the four providers (latency, errors, outages), [`parts::calls`]
//! every call (timeouts, retries with backoff and jitter, a circuit breaker per provider),
//! [`parts::cache`] the API servers' user-info cache and the workers' dedup window, and
//! [`parts::kv`] both the user table and the status store.
//!
//! **Accepting.** An API server looks the user up (cache, else a store read that fills the
//! cache), creates the status row *pending* with a compare-and-set on "absent" (so a late or
//! repeated request never turns a *sent* row back to *pending*), produces the notification to its
//! channel's topic (key = the notification id) and answers *accepted* once the log acknowledged
//! it. A notification is **accepted** when its `send` operation ends `Ok`: from then on the design
//! owes it a delivery or a recorded failure.
//!
//! **Delivering.** A worker takes a record while it has fewer than `in_flight` notifications in
//! hand, renders it (the worker's service time), and with `dedup` on first checks its window of
//! recently handled ids (same id, same partition, same worker) and then *claims* it in the status
//! store: a compare-and-set from the version it read to *sending*, with a lease (`claim_lease`,
//! the row's TTL). A notification already *sent* or *failed* is skipped; one another worker is
//! sending (a rebalance gave its partition to this worker while the old owner still held it) is
//! looked at again after `requeue`; of two racing claims only one succeeds. The claim's row names
//! its claimer (worker and job, [`claim_row`]): a worker whose compare-and-set went unanswered
//! (every attempt timed out, one of them after it had taken effect) knows its own claim when it
//! reads the row again (counted as `worker_reclaimed`), where a bare *sending* held the
//! notification until the lease ran out. It then calls its provider. When the call
//! gives up (timeouts, 5xx, an open breaker) the record is **not** acknowledged to the queue:
//! the worker waits `requeue` and tries again, so a provider outage turns into a backlog in the
//! queue (the `log.lag` level), not into failures; only a notification older than
//! `give_up_after` is failed, with the reason *expired*. The final status is written (retried until
//! the store has it) before the record counts as done, so a worker crash redelivers it.
//!
//! **Known-bad variants.** `queue: false`: the API server answers *accepted* after the pending
//! write and calls the provider itself, retrying in memory, then writes *sent* or *failed after
//! retries*: a provider outage keeps notifications in the API servers' memory for the whole retry
//! budget, and a restart of an API server meanwhile loses them (the status stays *pending*
//! forever) — and those that outlive the budget fail although the provider came back; and a
//! client's retry of one already *failed* sends it again from memory, so a status read may answer
//! *failed* before its delivery (`status_agrees`; scenarios/notify_no_queue.ron, seed 716).
//! `dedup: false`: a client's retry of a slow `send` (the first attempt was only late) puts the
//! notification on the queue twice, and both copies are delivered.
//!
//! **What is simplified.** Users' contact info and templates are one row per user (the cache
//! holds it); rendering is a service time; in-app delivery is a fourth provider (the app's own
//! connection tier, fast and reliable); per-user rate limiting and open/click tracking are not
//! modelled; the providers keep no idempotency keys, so a worker crash between the provider's
//! answer and the status write delivers that notification again (at-least-once: the window is
//! one provider round trip, and no good scenario crashes a worker), and so does a provider
//! crash between its delivery and its answer: the worker's call times out and it sends again
//! (`simctl explore scenarios/notify.ron --seed 2` found one: the email provider down for 1 s,
//! one notification of 5,335 delivered twice; no good scenario crashes a provider past its
//! delivery). A worker crash after its claim holds that notification
//! until the claim's lease runs out (`claim_lease`, 30 s by default): no other worker may send it
//! meanwhile, so it is late by up to the lease, and a run that ends first counts it lost
//! (`simctl explore scenarios/notify.ron --seed 6` with measure targets found one: email worker
//! n14 down 2 s at 16.2 s, 5 ms after taking an email up, still *sending* at the run's end).
//!
//! Nodes (servers in id order): the control node (the log's coordinator and the workers' fixed
//! scaler), `brokers` brokers, `api_servers` API servers, the store's `kv.shards * kv.replicas`
//! nodes, the four providers (email, SMS, push, in-app), then the workers (worker `i` serves
//! channel `i mod 4`). Clients after them. Ops: `email`, `sms`, `push`, `in_app` (send one
//! notification to user `key`, id = the op's unique value; reply: the id) and `status` (read the
//! status of one of the client's recently accepted notifications; reply: `[id, code]`).
//!
//! Checks (history + the providers' delivery records + the store's final rows, see [`check`]):
//! `no_lost_notifications`, `no_duplicate_delivery`, `push_delivery_sla` (push and in-app
//! delivered within `sla` at p99, notifications accepted during a fault window left out: the
//! notes' objective holds outside provider outages; API-server and broker crashes are left out too,
//! since a client's retry or a partition's failover alone takes about a second) and
//! `status_agrees` (a *sent* answer only after a delivery; a *failed* answer only for a
//! notification never delivered; never *not found* for an accepted one).

pub mod check;

use parts::balance::{HealthSpec, Policy};
use parts::cache::{Cache, CacheSpec, CacheStats, Capacity};
use parts::calls::{Answer, CallOutcome, CallPolicy, CallStats, CallTimer, Calls, Done, ReqId, ServiceId};
use parts::kv::{self, AsEntry, KvClient, KvResult, KvServer, KvSpec, KvStats, ReadFrom, ShardMap};
use parts::log::{self, Broker, Cluster, Consumer, Coordinator, Delivery, LogSpec, Producer, TopicSpec};
use parts::pool::PoolTimer;
use parts::provider::{self, Provider, ProviderSpec, ProviderStats};
use parts::workers::{self, Observation, Scaler, ScalerSpec, Target, Worker, WorkerEvent, WorkerSpec};
use serde::{Deserialize, Serialize};
use sim_core::cost::count;
use sim_core::{
    Actor, Ctx, Dist, Duration, Message, Model, ModelReport, NodeId, Op, OpId, Outcome, Prng, Reply, RunView, Time,
    Topology, WriteId,
};
use std::cell::RefCell;
use std::collections::{BTreeMap, VecDeque};
use std::rc::Rc;

/// The channels, in op-kind, topic, provider and worker order.
pub const CHANNELS: [&str; 4] = ["email", "sms", "push", "in_app"];

/// Status codes in the status store (a row's value).
pub const PENDING: i64 = 1;
pub const SENT: i64 = 2;
/// Failed: still undelivered `give_up_after` after it was queued.
pub const FAILED_EXPIRED: i64 = 3;
/// Failed: the in-memory sender (`queue: false`) ran out of retries.
pub const FAILED_RETRIES: i64 = 4;
/// Claimed by a worker that is sending it (with `dedup`; the claim expires after `claim_lease`).
/// The row holds its claimer above the code ([`claim_row`]); [`code_of`] a row gives its code.
pub const SENDING: i64 = 5;

/// The row of a claim by job `job` of worker `worker`: the code [`SENDING`], and above it who
/// claimed. A claim whose compare-and-set went unanswered (every attempt timed out, one of them
/// after it had taken effect; the store's answers to retries are deduplicated by token, so a
/// retry does not conflict with its own first attempt) is known again by its row when the worker
/// reads it, where a bare *sending* looked like another worker's claim and held the notification
/// until the lease ran out.
pub fn claim_row(worker: NodeId, job: u64) -> i64 {
    SENDING | ((i64::from(worker.0) & 0x7f_ffff) + 1) << 40 | ((job & 0xffff_ffff) as i64) << 8
}

/// A row's status code (without a claim's claimer).
pub fn code_of(row: i64) -> i64 {
    row & 0xff
}

pub fn is_failed(code: i64) -> bool {
    code == FAILED_EXPIRED || code == FAILED_RETRIES
}

/// The four providers, one per channel.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Providers {
    pub email: ProviderSpec,
    pub sms: ProviderSpec,
    pub push: ProviderSpec,
    pub in_app: ProviderSpec,
}

impl Default for Providers {
    fn default() -> Self {
        let p = |ms: u64| ProviderSpec {
            latency: Dist::LogNormal { median: Duration::from_millis(ms), sigma: 0.4 },
            ..ProviderSpec::default()
        };
        Providers { email: p(200), sms: p(150), push: p(50), in_app: p(10) }
    }
}

impl Providers {
    fn get(&self, ch: usize) -> &ProviderSpec {
        [&self.email, &self.sms, &self.push, &self.in_app][ch]
    }
}

/// ```ron
/// config: (
///     api_servers: 2, brokers: 3, queue: true, dedup: true, users: 10000,
///     client: (timeout: "1s", retries: 2),
///     worker: (concurrency: 4, service: Exponential(mean: "2ms")), in_flight: 32,
///     send: (timeout: "500ms", retries: 2, breaker: Some((failures: 10, cooldown: "1s"))),
///     requeue: "500ms", give_up_after: "10m", sla: "1s",
/// )
/// ```
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    pub api_servers: u32,
    pub brokers: u32,
    /// The queue: four topics, one per channel (email, sms, push, in_app).
    pub log: LogSpec,
    /// `false`: no queue; API servers call the providers themselves (known-bad).
    pub queue: bool,
    /// Workers skip a notification already handled (known-bad: `false`).
    pub dedup: bool,
    /// How long a worker's claim on a notification (status `sending`) holds.
    pub claim_lease: Duration,
    /// Ids a worker remembers for dedup (an LRU window).
    pub dedup_window: u64,
    /// Users in the user table (the workload's keys must stay below).
    pub users: u64,
    /// The API servers' cache of user, device and template info.
    pub user_cache: CacheSpec,
    /// How a client calls the API tier.
    pub client: CallPolicy,
    pub kv: KvSpec,
    /// How API servers and workers call the store.
    pub kv_call: CallPolicy,
    pub providers: Providers,
    /// How a sender (a worker, or an API server without the queue) calls a provider.
    pub send: CallPolicy,
    /// A worker's rendering of one notification, and its slots.
    pub worker: WorkerSpec,
    /// Notifications a worker holds at once (rendering, checking, sending, recording).
    pub in_flight: u32,
    /// After a send gave up: wait this long, then send again (the record stays on the queue).
    pub requeue: Duration,
    /// A notification still undelivered this long after it was queued is failed (`expired`).
    pub give_up_after: Duration,
    /// The push / in-app delivery objective (p99, from the send's invocation to the provider's
    /// delivery).
    pub sla: Duration,
}

impl Default for Config {
    fn default() -> Self {
        let topics =
            CHANNELS.iter().map(|c| TopicSpec { name: (*c).into(), partitions: 4, ..TopicSpec::default() }).collect();
        Config {
            api_servers: 2,
            brokers: 3,
            log: LogSpec { topics, commit_interval: Duration::from_millis(500), ..LogSpec::default() },
            queue: true,
            dedup: true,
            claim_lease: Duration::from_secs(30),
            dedup_window: 10_000,
            users: 10_000,
            user_cache: CacheSpec { capacity: Capacity::Entries(5_000), ..CacheSpec::default() },
            client: CallPolicy { timeout: Duration::from_secs(1), retries: 2, ..CallPolicy::default() },
            kv: KvSpec { shards: 2, ..KvSpec::default() },
            kv_call: CallPolicy { timeout: Duration::from_millis(300), retries: 3, ..CallPolicy::default() },
            providers: Providers::default(),
            send: CallPolicy { timeout: Duration::from_millis(500), retries: 2, ..CallPolicy::default() },
            worker: WorkerSpec {
                concurrency: 4,
                service: Dist::Constant(Duration::from_millis(2)),
                ..Default::default()
            },
            in_flight: 32,
            requeue: Duration::from_millis(500),
            give_up_after: Duration::from_secs(600),
            sla: Duration::from_secs(1),
        }
    }
}

/// Which server does what.
#[derive(Clone, Debug)]
pub struct Layout {
    pub control: NodeId,
    pub brokers: Vec<NodeId>,
    pub api: Vec<NodeId>,
    pub kv: Vec<NodeId>,
    pub providers: Vec<NodeId>,
    pub workers: Vec<NodeId>,
}

impl Layout {
    fn fixed(c: &Config) -> usize {
        1 + c.brokers as usize + c.api_servers as usize + c.kv.nodes() + CHANNELS.len()
    }
    pub fn new(c: &Config, topo: &Topology) -> Layout {
        let s = &topo.servers;
        let mut at = 1;
        let mut take = |n: usize| {
            let v = s[at..at + n].to_vec();
            at += n;
            v
        };
        let brokers = take(c.brokers as usize);
        let api = take(c.api_servers as usize);
        let kv = take(c.kv.nodes());
        let providers = take(CHANNELS.len());
        let workers = s[Layout::fixed(c)..].to_vec();
        Layout { control: s[0], brokers, api, kv, providers, workers }
    }
}

/// A notification's status row.
pub fn status_key(id: u64) -> u64 {
    id & ((1 << 62) - 1)
}

/// A user's row (contact info, devices, preferences).
pub fn user_key(user: u64) -> u64 {
    (1 << 62) | user
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// Send on channel `0..4`.
    Send(u8),
    Status,
}

impl Kind {
    fn of(op: &Op) -> Kind {
        if (op.kind as usize) < CHANNELS.len() { Kind::Send(op.kind as u8) } else { Kind::Status }
    }
}

/// An API server's answer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Resp {
    Accepted,
    /// The status row's value (0: no row).
    Status(i64),
    /// Not accepted (the store or the queue refused or did not answer).
    Failed,
}

#[derive(Clone, Debug)]
pub enum AppMsg {
    Request { req: ReqId, kind: Kind, id: u64, user: u64 },
    Response { req: ReqId, resp: Resp },
}

impl Message for AppMsg {
    fn kind(&self) -> &'static str {
        match self {
            AppMsg::Request { .. } => "request",
            AppMsg::Response { .. } => "response",
        }
    }
}

/// A worker's wait before sending a notification again.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Requeue(u64);

parts::wire! {
    /// Everything a node of this design sends.
    pub enum Msg { App(AppMsg), Log(log::Msg), Workers(workers::Msg), Kv(kv::Msg), Prov(provider::Msg) }
}
parts::wire! {
    timers pub enum Timer {
        Log(log::Timer), Workers(workers::Timer), Pool(PoolTimer), Call(CallTimer), Kv(kv::Timer),
        Prov(provider::Timer), Requeue(Requeue),
    }
}

/// What nodes of this design write to disk: the log's records and the store's.
#[derive(Clone, Debug)]
pub enum Rec {
    Log(log::Disk),
    Kv(kv::Entry),
}

impl From<log::Disk> for Rec {
    fn from(d: log::Disk) -> Rec {
        Rec::Log(d)
    }
}

impl From<kv::Entry> for Rec {
    fn from(e: kv::Entry) -> Rec {
        Rec::Kv(e)
    }
}

impl AsEntry for Rec {
    fn as_entry(&self) -> Option<&kv::Entry> {
        match self {
            Rec::Kv(e) => Some(e),
            Rec::Log(_) => None,
        }
    }
}

fn log_rec(r: &Rec) -> Option<&log::Disk> {
    match r {
        Rec::Log(d) => Some(d),
        Rec::Kv(_) => None,
    }
}

// ----- clients -----

pub struct Client {
    calls: Calls<Msg, (OpId, u64)>,
    api: ServiceId,
    /// Recently accepted notification ids (what `status` asks about).
    accepted: VecDeque<u64>,
}

impl Client {
    fn on_op(&mut self, ctx: &mut Ctx<'_, Node>, op: Op) {
        let kind = Kind::of(&op);
        let id = match kind {
            Kind::Send(_) => op.value,
            Kind::Status if self.accepted.is_empty() => {
                ctx.complete(op.id, Outcome::Rejected, Reply::None);
                return;
            }
            Kind::Status => self.accepted[ctx.rng().below(self.accepted.len() as u64) as usize],
        };
        let user = op.key;
        let make = |req| Msg::from(AppMsg::Request { req, kind, id, user });
        if let Err(d) = self.calls.call(ctx, self.api, id, make, (op.id, id)) {
            ctx.complete(d.data.0, d.outcome.outcome(), Reply::None);
        }
    }

    fn on_response(&mut self, ctx: &mut Ctx<'_, Node>, req: ReqId, resp: Resp) {
        let answer = if resp == Resp::Failed { Answer::Fatal } else { Answer::Ok };
        let Some(d) = self.calls.reply(ctx, req, answer) else { return };
        let (op, id) = d.data;
        let reply = match resp {
            Resp::Accepted => {
                self.accepted.push_back(id);
                if self.accepted.len() > 256 {
                    self.accepted.pop_front();
                }
                Reply::Value(id)
            }
            Resp::Status(code) => Reply::list([id, code as u64]),
            Resp::Failed => Reply::None,
        };
        ctx.complete(op, d.outcome.outcome(), reply);
    }
}

// ----- API servers -----

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Stage {
    User,
    Pending,
    Produce,
    /// Without the queue: the API server's own send, then its final write.
    Send,
    Final,
    Status,
}

#[derive(Clone, Copy, Debug)]
struct Job {
    from: NodeId,
    req: ReqId,
    kind: Kind,
    id: u64,
    user: u64,
    stage: Stage,
}

/// What an API tier did, summed over its servers in the report.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ApiStats {
    pub accepted: u64,
    pub refused: u64,
    /// Pending rows that already existed (a repeated request).
    pub repeats: u64,
    /// Without the queue: sends that ran out of retries.
    pub gave_up: u64,
}

pub struct Api {
    calls: Calls<Msg, u64>,
    kv: KvClient,
    /// Without the queue: a provider service per channel.
    send: Vec<ServiceId>,
    producer: Producer<u64>,
    users: Cache<()>,
    jobs: BTreeMap<u64, Job>,
    next: u64,
    queue: bool,
    pub stats: ApiStats,
}

impl Api {
    fn on_request(&mut self, ctx: &mut Ctx<'_, Node>, from: NodeId, req: ReqId, kind: Kind, id: u64, user: u64) {
        let j = self.next;
        self.next += 1;
        let stage = if kind == Kind::Status { Stage::Status } else { Stage::User };
        self.jobs.insert(j, Job { from, req, kind, id, user, stage });
        match stage {
            Stage::Status => self.store(ctx, j, kv::Op::Get { key: status_key(id) }),
            _ if self.users.get(ctx.now(), user_key(user)).is_some() => self.pending(ctx, j),
            _ => self.store(ctx, j, kv::Op::Get { key: user_key(user) }),
        }
    }

    fn store(&mut self, ctx: &mut Ctx<'_, Node>, j: u64, op: kv::Op) {
        if let Err(d) = self.kv.call(&mut self.calls, ctx, op, ReadFrom::Primary, j) {
            self.step(ctx, d, None);
        }
    }

    fn pending(&mut self, ctx: &mut Ctx<'_, Node>, j: u64) {
        let Some(job) = self.jobs.get_mut(&j) else { return };
        job.stage = Stage::Pending;
        let key = status_key(job.id);
        self.store(ctx, j, kv::Op::Cas { key, version: 0, value: PENDING, ttl: None, hold: None });
    }

    fn respond(&mut self, ctx: &mut Ctx<'_, Node>, j: u64, resp: Resp, keep: bool) {
        let job = if keep { self.jobs.get(&j).copied() } else { self.jobs.remove(&j) };
        let Some(job) = job else { return };
        match resp {
            Resp::Accepted => self.stats.accepted += 1,
            Resp::Failed => self.stats.refused += 1,
            Resp::Status(_) => {}
        }
        ctx.send(job.from, Msg::from(AppMsg::Response { req: job.req, resp }));
    }

    /// Without the queue: send it now, from memory.
    fn send_direct(&mut self, ctx: &mut Ctx<'_, Node>, j: u64) {
        let Some(job) = self.jobs.get_mut(&j) else { return };
        job.stage = Stage::Send;
        let Kind::Send(ch) = job.kind else { return };
        let key = job.id;
        let make = |id| Msg::from(provider::Msg::Request { id, key });
        if let Err(d) = self.calls.call(ctx, self.send[ch as usize], key, make, j) {
            self.step(ctx, d, None);
        }
    }

    fn step(&mut self, ctx: &mut Ctx<'_, Node>, d: Done<u64>, result: Option<KvResult>) {
        let j = d.data;
        let Some(job) = self.jobs.get_mut(&j) else { return };
        let ok = d.outcome == CallOutcome::Ok;
        match (job.stage, result) {
            (Stage::Status, Some(KvResult::Found { value, .. })) if ok => {
                self.respond(ctx, j, Resp::Status(code_of(value)), false)
            }
            (Stage::Status, Some(KvResult::NotFound)) if ok => self.respond(ctx, j, Resp::Status(0), false),
            (Stage::User, Some(KvResult::Found { .. })) if ok => {
                self.users.put(ctx.now(), user_key(job.user), (), 1);
                self.pending(ctx, j);
            }
            (Stage::Pending, Some(KvResult::Written { .. } | KvResult::Conflict { .. })) if ok => {
                if matches!(result, Some(KvResult::Conflict { .. })) {
                    // Already there (a repeated request): queue it again anyway, since the first
                    // request may have died before its produce; the workers deduplicate.
                    self.stats.repeats += 1;
                }
                if self.queue {
                    job.stage = Stage::Produce;
                    let Kind::Send(ch) = job.kind else { return };
                    self.producer.produce(ctx, ch as u16, job.id, job.id, j);
                } else {
                    self.respond(ctx, j, Resp::Accepted, true);
                    self.send_direct(ctx, j);
                }
            }
            (Stage::Send, _) => {
                let code = if ok { SENT } else { FAILED_RETRIES };
                if !ok {
                    self.stats.gave_up += 1;
                }
                job.stage = Stage::Final;
                let key = status_key(job.id);
                self.store(ctx, j, kv::Op::Put { key, value: code, ttl: None });
            }
            (Stage::Final, _) => {
                self.jobs.remove(&j);
            }
            _ => self.respond(ctx, j, Resp::Failed, false),
        }
    }

    fn produced(&mut self, ctx: &mut Ctx<'_, Node>, done: log::Produced<u64>) {
        let resp = if done.result.is_ok() { Resp::Accepted } else { Resp::Failed };
        self.respond(ctx, done.token, resp, false);
    }

    fn on_msg(&mut self, ctx: &mut Ctx<'_, Node>, from: NodeId, msg: Msg) {
        match msg {
            Msg::App(AppMsg::Request { req, kind, id, user }) => self.on_request(ctx, from, req, kind, id, user),
            Msg::Kv(kv::Msg::Resp { id, result }) => {
                if let Some((d, r)) = KvClient::on_response(&mut self.calls, ctx, id, result) {
                    self.step(ctx, d, Some(r));
                }
            }
            Msg::Prov(provider::Msg::Response { id, status, .. }) => {
                if let Some(d) = self.calls.reply(ctx, id, status.answer()) {
                    self.step(ctx, d, None);
                }
            }
            Msg::Log(m) => {
                if let Some(done) = self.producer.on_msg(ctx, &m) {
                    self.produced(ctx, done);
                }
            }
            _ => {}
        }
    }

    fn on_timer(&mut self, ctx: &mut Ctx<'_, Node>, t: Timer) {
        match t {
            Timer::Call(t) => {
                if let Some(d) = self.calls.on_timer(ctx, t) {
                    self.step(ctx, d, None);
                }
            }
            Timer::Log(t) => {
                if let Some(done) = self.producer.on_timer(ctx, t) {
                    self.produced(ctx, done);
                }
            }
            _ => {}
        }
    }
}

// ----- workers -----

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum WStage {
    Check,
    Claim,
    Send,
    /// Waiting to send again.
    Wait,
    /// Waiting to check again (another worker holds the claim).
    WaitCheck,
    Record,
}

#[derive(Clone, Copy, Debug)]
struct WJob {
    d: Delivery,
    stage: WStage,
    code: i64,
    /// Whether this job asked for a claim (its row is then [`claim_row`] of the worker and job).
    claimed: bool,
}

/// What a channel's workers did, summed in the report.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SendStats {
    pub taken: u64,
    pub sent: u64,
    pub deduped: u64,
    pub requeued: u64,
    /// Claims a worker found it held when it read the row again (their answers were lost).
    pub reclaimed: u64,
    pub expired: u64,
}

impl SendStats {
    pub fn add(&mut self, o: &SendStats) {
        self.taken += o.taken;
        self.sent += o.sent;
        self.deduped += o.deduped;
        self.requeued += o.requeued;
        self.reclaimed += o.reclaimed;
        self.expired += o.expired;
    }
}

pub struct WorkerNode {
    pub channel: usize,
    worker: Worker<Delivery>,
    consumer: Consumer,
    calls: Calls<Msg, u64>,
    kv: KvClient,
    send: ServiceId,
    jobs: BTreeMap<u64, WJob>,
    next: u64,
    seen: Cache<()>,
    dedup: bool,
    claim_lease: Duration,
    in_flight: usize,
    requeue: Duration,
    give_up_after: Duration,
    pub stats: SendStats,
}

impl WorkerNode {
    /// A fixed pool: a worker joins its channel's group once up, and is never drained.
    fn on_worker_event(&mut self, ctx: &mut Ctx<'_, Node>, e: Option<WorkerEvent>) {
        if e == Some(WorkerEvent::Up) {
            self.consumer.join(ctx);
        }
    }

    fn pump(&mut self, ctx: &mut Ctx<'_, Node>) {
        while self.worker.accepting() && self.jobs.len() + self.worker.busy() < self.in_flight {
            let Some(d) = self.consumer.poll(ctx) else { break };
            self.stats.taken += 1;
            self.worker.submit(ctx, d);
        }
    }

    /// Rendered: check for a duplicate, or send.
    fn rendered(&mut self, ctx: &mut Ctx<'_, Node>, d: Delivery) {
        let j = self.next;
        self.next += 1;
        let id = d.rec.value;
        self.jobs.insert(j, WJob { d, stage: WStage::Check, code: PENDING, claimed: false });
        if !self.dedup {
            return self.send(ctx, j);
        }
        if self.seen.contains(ctx.now(), id) {
            self.stats.deduped += 1;
            return self.skip(ctx, j);
        }
        self.seen.put(ctx.now(), id, (), 1);
        self.check(ctx, j);
    }

    /// Reads the notification's status (the first half of a claim).
    fn check(&mut self, ctx: &mut Ctx<'_, Node>, j: u64) {
        let Some(job) = self.jobs.get_mut(&j) else { return };
        job.stage = WStage::Check;
        let key = status_key(job.d.rec.value);
        self.store(ctx, j, kv::Op::Get { key });
    }

    /// Waits `requeue`, then `stage` again.
    fn wait(&mut self, ctx: &mut Ctx<'_, Node>, j: u64, stage: WStage) {
        let Some(job) = self.jobs.get_mut(&j) else { return };
        self.stats.requeued += 1;
        job.stage = stage;
        ctx.set_timer(self.requeue, Timer::Requeue(Requeue(j)));
    }

    fn store(&mut self, ctx: &mut Ctx<'_, Node>, j: u64, op: kv::Op) {
        if let Err(d) = self.kv.call(&mut self.calls, ctx, op, ReadFrom::Primary, j) {
            self.step(ctx, d, None);
        }
    }

    fn claim(&mut self, ctx: &mut Ctx<'_, Node>, j: u64, version: u64) {
        let Some(job) = self.jobs.get_mut(&j) else { return };
        job.stage = WStage::Claim;
        job.claimed = true;
        let key = status_key(job.d.rec.value);
        let ttl = Some(self.claim_lease);
        self.store(ctx, j, kv::Op::Cas { key, version, value: claim_row(ctx.id(), j), ttl, hold: None });
    }

    fn send(&mut self, ctx: &mut Ctx<'_, Node>, j: u64) {
        let Some(job) = self.jobs.get_mut(&j) else { return };
        job.stage = WStage::Send;
        let key = job.d.rec.value;
        let make = |id| Msg::from(provider::Msg::Request { id, key });
        if let Err(d) = self.calls.call(ctx, self.send, key, make, j) {
            self.step(ctx, d, None);
        }
    }

    fn record(&mut self, ctx: &mut Ctx<'_, Node>, j: u64, code: i64) {
        let Some(job) = self.jobs.get_mut(&j) else { return };
        job.stage = WStage::Record;
        job.code = code;
        let key = status_key(job.d.rec.value);
        self.store(ctx, j, kv::Op::Put { key, value: code, ttl: None });
    }

    /// Done with the record: its offset may be committed.
    fn skip(&mut self, ctx: &mut Ctx<'_, Node>, j: u64) {
        if let Some(job) = self.jobs.remove(&j) {
            self.consumer.done(&job.d);
        }
        self.pump(ctx);
    }

    fn step(&mut self, ctx: &mut Ctx<'_, Node>, d: Done<u64>, result: Option<KvResult>) {
        let j = d.data;
        let Some(job) = self.jobs.get_mut(&j) else { return };
        let ok = d.outcome == CallOutcome::Ok;
        match job.stage {
            WStage::Check => match result {
                Some(KvResult::Found { value, .. }) if ok && (code_of(value) == SENT || is_failed(code_of(value))) => {
                    self.stats.deduped += 1;
                    self.skip(ctx, j);
                }
                // This job's own claim, taken though its answer was lost: send.
                Some(KvResult::Found { value, .. }) if ok && job.claimed && value == claim_row(ctx.id(), j) => {
                    self.stats.reclaimed += 1;
                    self.send(ctx, j)
                }
                // Another worker is sending it (a rebalance moved the partition): look again
                // later; its claim expires if that worker died.
                Some(KvResult::Found { value, .. }) if ok && code_of(value) == SENDING => {
                    self.wait(ctx, j, WStage::WaitCheck)
                }
                // Pending or missing: claim it (compare-and-set on the version read).
                Some(KvResult::Found { version, .. }) if ok => self.claim(ctx, j, version),
                Some(KvResult::NotFound) if ok => self.claim(ctx, j, 0),
                _ => self.wait(ctx, j, WStage::WaitCheck),
            },
            WStage::Claim => match result {
                Some(KvResult::Written { .. }) if ok => self.send(ctx, j),
                // Someone else moved it first, or no answer: look again.
                Some(KvResult::Conflict { .. }) if ok => self.check(ctx, j),
                _ => self.wait(ctx, j, WStage::WaitCheck),
            },
            WStage::Send if ok => {
                self.stats.sent += 1;
                self.record(ctx, j, SENT);
            }
            WStage::Send => {
                let age = ctx.now().since(job.d.rec.produced);
                if age >= self.give_up_after {
                    self.stats.expired += 1;
                    self.record(ctx, j, FAILED_EXPIRED);
                } else {
                    self.wait(ctx, j, WStage::Wait);
                }
            }
            WStage::Wait | WStage::WaitCheck => {}
            WStage::Record if ok => self.skip(ctx, j),
            // The store did not take it: write again (the record must not count as done first).
            WStage::Record => {
                let code = job.code;
                self.record(ctx, j, code);
            }
        }
    }

    fn on_msg(&mut self, ctx: &mut Ctx<'_, Node>, msg: Msg) {
        match msg {
            Msg::Workers(m) => {
                let e = self.worker.on_msg(ctx, &m);
                self.on_worker_event(ctx, e);
            }
            Msg::Log(m) => {
                let e = self.consumer.on_msg(ctx, &m);
                if e.is_some() {
                    self.pump(ctx);
                }
            }
            Msg::Kv(kv::Msg::Resp { id, result }) => {
                if let Some((d, r)) = KvClient::on_response(&mut self.calls, ctx, id, result) {
                    self.step(ctx, d, Some(r));
                }
            }
            Msg::Prov(provider::Msg::Response { id, status, .. }) => {
                if let Some(d) = self.calls.reply(ctx, id, status.answer()) {
                    self.step(ctx, d, None);
                }
            }
            _ => {}
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
                    self.rendered(ctx, d);
                }
                self.pump(ctx);
            }
            Timer::Call(t) => {
                if let Some(d) = self.calls.on_timer(ctx, t) {
                    self.step(ctx, d, None);
                }
            }
            Timer::Requeue(Requeue(j)) => match self.jobs.get(&j).map(|x| x.stage) {
                Some(WStage::WaitCheck) => self.check(ctx, j),
                _ => self.send(ctx, j),
            },
            _ => {}
        }
    }
}

// ----- providers -----

/// A channel's provider, and what it delivered (its answers `Ok`: the message left for the
/// user's inbox, phone or device), on its local clock.
pub struct Gateway {
    pub channel: usize,
    pub provider: Provider,
    /// What every provider delivered: the users' inboxes, phones and devices, the world's record
    /// and not a provider's memory (one list, handed by the factory to every incarnation of
    /// every provider), so a provider that crashes does not take back what it delivered.
    pub delivered: Rc<RefCell<Vec<(u64, Time)>>>,
}

pub struct Control {
    pub coordinator: Coordinator,
    pub scaler: Scaler,
}

pub enum Node {
    Control(Box<Control>),
    Broker(Box<Broker>),
    Api(Box<Api>),
    Kv(Box<KvServer>),
    Gateway(Box<Gateway>),
    Worker(Box<WorkerNode>),
    Client(Box<Client>),
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
            Node::Api(a) => a.producer.start(ctx),
            Node::Kv(s) => s.on_start(ctx),
            Node::Worker(w) => w.worker.start(ctx),
            Node::Gateway(_) | Node::Client(_) => {}
        }
    }

    fn on_msg(&mut self, ctx: &mut Ctx<'_, Self>, from: NodeId, msg: Msg) {
        match (self, msg) {
            (Node::Control(c), Msg::Log(m)) => c.coordinator.on_msg(ctx, from, &m),
            (Node::Control(c), Msg::Workers(m)) => c.scaler.on_msg(ctx, from, &m),
            (Node::Broker(b), Msg::Log(m)) => b.on_msg(ctx, from, &m),
            (Node::Api(a), m) => a.on_msg(ctx, from, m),
            (Node::Kv(s), Msg::Kv(m)) => s.on_msg(ctx, from, m),
            (Node::Gateway(g), Msg::Prov(m)) => g.provider.on_msg(ctx, from, m),
            (Node::Worker(w), m) => w.on_msg(ctx, m),
            (Node::Client(c), Msg::App(AppMsg::Response { req, resp })) => c.on_response(ctx, req, resp),
            _ => {}
        }
    }

    fn on_timer(&mut self, ctx: &mut Ctx<'_, Self>, t: Timer) {
        match (self, t) {
            (Node::Control(c), Timer::Log(t)) => c.coordinator.on_timer(ctx, t),
            (Node::Control(c), Timer::Workers(t)) => {
                let obs = Observation { backlog: c.coordinator.total_lag() };
                c.scaler.on_timer(ctx, t, obs);
            }
            (Node::Broker(b), Timer::Log(t)) => b.on_timer(ctx, t),
            (Node::Api(a), t) => a.on_timer(ctx, t),
            (Node::Kv(s), Timer::Kv(t)) => s.on_timer(ctx, t),
            (Node::Kv(s), Timer::Pool(t)) => s.on_pool_timer(ctx, t),
            (Node::Gateway(g), Timer::Prov(t)) => {
                if let Some((id, provider::Status::Ok)) = g.provider.answer(ctx, t) {
                    g.delivered.borrow_mut().push((id, ctx.ledger_time()));
                }
            }
            (Node::Worker(w), t) => w.on_timer(ctx, t),
            (Node::Client(c), Timer::Call(t)) => {
                if let Some(d) = c.calls.on_timer(ctx, t) {
                    ctx.complete(d.data.0, d.outcome.outcome(), Reply::None);
                }
            }
            _ => {}
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
            Node::Kv(s) => {
                s.on_persisted(ctx, w);
            }
            _ => {}
        }
    }

    fn on_op(&mut self, ctx: &mut Ctx<'_, Self>, op: Op) {
        match self {
            Node::Client(c) => c.on_op(ctx, op),
            _ => ctx.complete(op.id, Outcome::Rejected, Reply::None),
        }
    }
}

pub struct Notify;

impl Model for Notify {
    const NAME: &'static str = "notify";
    const ABOUT: &'static str = "notification system: API servers, per-channel queues and workers, email/SMS/push/in-app providers with outages, retries, dedup, a status store";
    const OP_KINDS: &'static [&'static str] = &["email", "sms", "push", "in_app", "status"];
    const TRANSPORT: sim_core::net::Transport = sim_core::net::Transport::Connection;
    const KEEP_CRASHED_ACTORS: bool = true;
    const CHECKS: &'static [&'static str] =
        &["no_lost_notifications", "no_duplicate_delivery", "push_delivery_sla", "status_agrees"];
    type Config = Config;
    type Actor = Node;

    fn validate(c: &Config, topo: &Topology) -> Vec<(String, String)> {
        let mut e = Vec::new();
        if c.api_servers == 0 {
            e.push(("config.api_servers".into(), "must be at least 1".into()));
        }
        if c.brokers == 0 {
            e.push(("config.brokers".into(), "must be at least 1".into()));
        }
        e.extend(c.log.validate("config.log", c.brokers));
        let names: Vec<&str> = c.log.topics.iter().map(|t| t.name.as_str()).collect();
        if names != CHANNELS {
            e.push((
                "config.log.topics".into(),
                format!("must be one topic per channel, named {CHANNELS:?} in that order, got {names:?}"),
            ));
        }
        if c.users == 0 {
            e.push(("config.users".into(), "must be at least 1".into()));
        }
        if c.in_flight == 0 {
            e.push(("config.in_flight".into(), "must be at least 1".into()));
        }
        if c.dedup_window == 0 {
            e.push(("config.dedup_window".into(), "must be at least 1".into()));
        }
        if c.requeue == Duration::ZERO {
            e.push(("config.requeue".into(), "must be positive".into()));
        }
        e.extend(c.user_cache.validate("config.user_cache"));
        e.extend(c.client.validate("config.client"));
        e.extend(c.kv.validate("config.kv"));
        e.extend(c.kv_call.validate("config.kv_call"));
        e.extend(c.send.validate("config.send"));
        e.extend(c.worker.validate("config.worker"));
        for (i, ch) in CHANNELS.iter().enumerate() {
            e.extend(c.providers.get(i).validate(&format!("config.providers.{ch}")));
        }
        let fixed = Layout::fixed(c);
        if topo.servers.len() < fixed + CHANNELS.len() {
            e.push((
                "topology.servers".into(),
                format!(
                    "must be at least {}: control + {} brokers + {} API servers + {} store nodes + 4 providers + at least one worker per channel (4), got {}",
                    fixed + CHANNELS.len(),
                    c.brokers,
                    c.api_servers,
                    c.kv.nodes(),
                    topo.servers.len()
                ),
            ));
        }
        if topo.clients.is_empty() {
            e.push(("topology.clients".into(), "the workload needs at least one client".into()));
        }
        e
    }

    /// The user table, preloaded on each of its rows' replicas (its rows, the preload list, ~120
    /// B a copy, measured: 1,000,000 users cost 237 MB on 2 replicas); the API servers' user
    /// caches and the workers' dedup windows, at most full; per notification the status store's
    /// writes (pending; with `dedup` the claim; the final status), its message in the queue's
    /// log (the shared entry, each replica's handle and group commit, as kafka's footprint
    /// states them), the provider's delivery record and the checkers' records. Events: ~40 per
    /// notification (the request, the user lookup, the writes, the produce and its replication,
    /// the fetch, the worker, the provider, the offsets), measured. Measured (`simctl bench
    /// scenario`, debug): notify_peak 694 MB used; at half its rate 481 MB; with 10,000 users
    /// 456 MB: 2.3 kB per notification.
    fn footprint(c: &Config, topo: &Topology, load: &sim_core::cost::Load) -> sim_core::cost::Footprint {
        let sends: f64 = CHANNELS.iter().map(|ch| load.of(ch, Self::OP_KINDS)).sum();
        let statuses = load.of("status", Self::OP_KINDS);
        let users = c.users as f64;
        let replicas = c.kv.replicas as f64;
        let fixed = 1 + c.brokers as usize + c.api_servers as usize + c.kv.nodes() + CHANNELS.len();
        let workers = topo.servers.len().saturating_sub(fixed) as f64;
        let entries = |cap: &Capacity| cap.entries(64.0);
        let cached = (c.api_servers as f64 * entries(&c.user_cache.capacity)).min(users.max(load.keys));
        let seen = if c.dedup { (workers * c.dedup_window as f64).min(sends) } else { 0.0 };
        let writes_each = if c.queue { 2.0 + if c.dedup { 1.0 } else { 0.0 } } else { 2.0 };
        let queued_each = if c.queue { c.log.record_bytes() } else { 0.0 };
        sim_core::cost::Footprint {
            events: sends * 40.0 + statuses * 6.0,
            queued: load.in_flight * 20.0,
            ..Default::default()
        }
        .part(
            format!("user table: {users} users x {replicas:.0} replicas x 120 B", users = count(users)),
            users * replicas * 120.0,
        )
        .part(format!("user caches: {cached} entries x 100 B", cached = count(cached)), cached * 100.0)
        .part(format!("dedup windows: {seen} ids x 100 B", seen = count(seen)), seen * 100.0)
        .part(
            format!("status store: {sends} notifications x {writes_each:.0} writes", sends = count(sends)),
            c.kv.footprint_of_writes(sends * writes_each),
        )
        .part(format!("queue: {sends} notifications x {queued_each:.0} B", sends = count(sends)), sends * queued_each)
        .part(format!("deliveries and the checkers' records: {sends} x 250 B", sends = count(sends)), sends * 250.0)
    }

    fn factory(c: &Config, topo: &Topology, _setup: &mut Prng) -> Box<dyn FnMut(NodeId) -> Node> {
        let l = Layout::new(c, topo);
        let map = ShardMap::new(&c.kv, &l.kv);
        let cluster = Rc::new(Cluster::new(c.log.clone(), l.control, l.brokers.clone()));
        let delivered: Rc<RefCell<Vec<(u64, Time)>>> = Rc::default();
        let c = c.clone();
        let topo = topo.clone();
        let provider_service = move |calls: &mut Calls<Msg, u64>, c: &Config, to: NodeId| {
            calls.add("send_calls", &[to], c.send.clone(), Policy::RoundRobin, HealthSpec::default())
        };
        Box::new(move |n| {
            if topo.is_client(n) {
                let mut calls = Calls::new();
                let api =
                    calls.add("client_calls", &l.api, c.client.clone(), Policy::RoundRobin, HealthSpec::default());
                return Node::Client(Box::new(Client { calls, api, accepted: VecDeque::new() }));
            }
            if n == l.control {
                let w = l.workers.len() as u32;
                let spec = ScalerSpec {
                    min: w,
                    max: w,
                    initial: w,
                    target: Target::Backlog(1e9),
                    provisioning: Dist::Constant(Duration::ZERO),
                    ..ScalerSpec::default()
                };
                return Node::Control(Box::new(Control {
                    coordinator: Coordinator::new(cluster.clone(), "log"),
                    scaler: Scaler::new("workers", spec, &l.workers),
                }));
            }
            if l.brokers.contains(&n) {
                return Node::Broker(Box::new(Broker::new(cluster.clone(), "log", n)));
            }
            if l.api.contains(&n) {
                let mut calls = Calls::new();
                let kv = KvClient::register(&mut calls, "api_kv_calls", &map, &c.kv_call);
                let send = l.providers.iter().map(|&p| provider_service(&mut calls, &c, p)).collect();
                return Node::Api(Box::new(Api {
                    calls,
                    kv,
                    send,
                    producer: Producer::new(cluster.clone(), "log"),
                    users: Cache::new(c.user_cache.clone()),
                    jobs: BTreeMap::new(),
                    next: 0,
                    queue: c.queue,
                    stats: ApiStats::default(),
                }));
            }
            if l.kv.contains(&n) {
                let mut s = KvServer::new("kv", &c.kv, &map, n, &[]);
                s.preload((0..c.users).map(|u| (user_key(u), 1)));
                return Node::Kv(Box::new(s));
            }
            if let Some(ch) = l.providers.iter().position(|&p| p == n) {
                let provider = Provider::new(CHANNELS[ch], c.providers.get(ch).clone());
                return Node::Gateway(Box::new(Gateway { channel: ch, provider, delivered: delivered.clone() }));
            }
            let i = l.workers.iter().position(|&w| w == n).expect("every other server is a worker");
            let channel = i % CHANNELS.len();
            let mut calls = Calls::new();
            let kv = KvClient::register(&mut calls, "worker_kv_calls", &map, &c.kv_call);
            let send = provider_service(&mut calls, &c, l.providers[channel]);
            Node::Worker(Box::new(WorkerNode {
                channel,
                worker: Worker::new("workers", c.worker.clone(), l.control),
                consumer: Consumer::new(cluster.clone(), "log", channel as u16, channel as u16),
                calls,
                kv,
                send,
                jobs: BTreeMap::new(),
                next: 0,
                seen: Cache::lru(c.dedup_window),
                dedup: c.dedup,
                claim_lease: c.claim_lease,
                in_flight: c.in_flight as usize,
                requeue: c.requeue,
                give_up_after: c.give_up_after,
                stats: SendStats::default(),
            }))
        })
    }

    fn report(c: &Config, run: &RunView<'_, Node>) -> ModelReport {
        report(c, run)
    }
}

/// The parts' statistics, summed over their nodes.
#[derive(Default)]
struct Sums {
    api: ApiStats,
    send: SendStats,
    kv: KvStats,
    cache: CacheStats,
    providers: [ProviderStats; 4],
    send_calls: CallStats,
    workers: u64,
}

/// The parts' counts over every incarnation of their nodes (an API server's or a worker's
/// crash does not take back what it counted before); `workers` over the running ones.
fn sums(run: &RunView<'_, Node>) -> Sums {
    let workers = run.servers().filter(|(_, n)| matches!(n, Node::Worker(_))).count() as u64;
    let mut s = Sums { workers, ..Sums::default() };
    for (_, node) in run.incarnations() {
        match node {
            Node::Api(a) => {
                s.api.add(&a.stats);
                s.cache.add(&a.users.stats);
                for &svc in &a.send {
                    s.send_calls.add(a.calls.stats(svc));
                }
            }
            Node::Worker(w) => {
                s.send.add(&w.stats);
                s.send_calls.add(w.calls.stats(w.send));
            }
            Node::Kv(k) => s.kv.add(&k.stats),
            Node::Gateway(g) => s.providers[g.channel].add(&g.provider.stats),
            _ => {}
        }
    }
    s
}

impl ApiStats {
    pub fn add(&mut self, o: &ApiStats) {
        self.accepted += o.accepted;
        self.refused += o.refused;
        self.repeats += o.repeats;
        self.gave_up += o.gave_up;
    }
}

fn report(c: &Config, run: &RunView<'_, Node>) -> ModelReport {
    let mut r = ModelReport::default();
    let facts = check::Facts::gather(run);
    let outages = check::fault_windows(run, c.sla);
    let lost = check::lost(&facts);
    r.checks.push(lost.check(
        "no_lost_notifications",
        "accepted notifications",
        "lost (neither delivered nor failed with a reason in the final status store)",
    ));
    let dup = check::duplicates(&facts);
    r.checks.push(dup.check("no_duplicate_delivery", "delivered notifications", "delivered more than once"));
    let (sla, p99) = check::delivery_sla(&facts, &[2, 3], &outages, c.sla);
    // The objective is a percentile: up to 1% may be late.
    r.checks.push(sla.check_at_most(
        "push_delivery_sla",
        "push/in-app notifications outside fault windows",
        sla.judged / 100,
        &format!(
            "delivered later than {} or never; p99 {}",
            c.sla,
            match p99 {
                None => "-".into(),
                Some(d) if d.0 == u64::MAX => "not delivered by the end".into(),
                Some(d) => format!("{d}"),
            }
        ),
    ));
    let agree = check::status_answers(&facts);
    r.checks.push(agree.check("status_agrees", "status answers", "disagreeing with what the providers did"));

    let s = sums(run);
    let m = &mut r.measures;
    let mut put = |k: &str, v: f64| {
        m.insert(k.to_string(), v);
    };
    let accepted = facts.accepted.len() as f64;
    let main_s = run.main_end.as_secs_f64().max(1e-9);
    put("accepted", accepted);
    put("accepted_per_s", accepted / main_s);
    put("lost", lost.bad as f64);
    put("delivered", facts.delivered.len() as f64);
    put("deliveries", facts.delivered.values().map(|v| v.len()).sum::<usize>() as f64);
    put("duplicates", dup.bad as f64);
    let finals = |f: fn(i64) -> bool| facts.accepted.keys().filter(|id| f(facts.final_status(**id))).count() as f64;
    put("failed", finals(is_failed));
    put("pending_at_end", finals(|v| v == PENDING || v == SENDING || v == 0));
    if let Some(d) = p99 {
        put("push_in_app_p99_ms_outside_faults", d.as_secs_f64() * 1e3);
    }
    for (ch, name) in CHANNELS.iter().enumerate() {
        if let (_, Some(d)) = check::delivery_sla(&facts, &[ch as u8], &[], c.sla) {
            put(&format!("{name}_p99_ms"), d.as_secs_f64() * 1e3);
        }
        put(&format!("{name}_provider_requests"), s.providers[ch].requests as f64);
        put(&format!("{name}_provider_unanswered"), s.providers[ch].unanswered as f64);
    }
    put("api_refused", s.api.refused as f64);
    put("api_repeats", s.api.repeats as f64);
    put("api_gave_up", s.api.gave_up as f64);
    put("user_cache_hit_ratio", s.cache.hit_ratio());
    put("worker_deduped", s.send.deduped as f64);
    put("worker_requeued", s.send.requeued as f64);
    put("worker_reclaimed", s.send.reclaimed as f64);
    put("worker_expired", s.send.expired as f64);
    put("send_attempts", s.send_calls.attempts as f64);
    put("send_retries", s.send_calls.retries as f64);
    put("send_breaker_opened", s.send_calls.breaker_opened as f64);
    put("kv_writes", s.kv.writes as f64);
    put("kv_conflicts", s.kv.conflicts as f64);
    if s.workers > 0 {
        put("deliveries_per_worker_per_s", s.send.sent as f64 / s.workers as f64 / main_s);
    }
    put("status_answers", agree.judged as f64);
    r
}
