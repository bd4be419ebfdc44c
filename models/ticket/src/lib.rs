//! # ticket: booking tickets for events on sale, with holds, payments and a waiting room
//!
//! The ticket booking design of the notes (system T), built from the `parts` crate. Each event
//! has a total and a remaining count of tickets (general admission), a row in a sharded KV
//! store ([`parts::kv`]). A buyer asks for 1 to `max_per_order` tickets of one event (`buy`,
//! key modulo `events` = the event); a visitor reads what remains (`view`, from a follower).
//!
//! **Purchase** on an API server, by `strategy`:
//! - `Hold` (the notes' Redis + Lua script): one atomic "decrement remaining by n if at least n,
//!   and create a hold row of n expiring after `hold_ttl`" ([`kv::Op::DecrIfAtLeast`]).
//! - `Occ` (the SQL alternative): read the event's row and its version, then `UPDATE events SET
//!   remaining = r - n, version = v + 1 WHERE version = v` ([`kv::Op::Cas`]); on a conflict the
//!   store answers the current row, and the server tries again from it, at most `occ_retries`
//!   times. The hold row is created in the same step (the transaction's `INSERT` beside its
//!   `UPDATE`): a purchase whose answer was lost (every attempt timed out after one took effect)
//!   leaves a hold that its TTL returns. Written as a second step, such a purchase took the
//!   tickets from `remaining` and held them nowhere (`no_stuck_tickets` failed on every seed of
//!   `ticket_occ.ron` with `network.link.latency=LogNormal(median: "2ms", sigma: 1.8)`).
//! - `ReadThenWrite` (known-bad): read remaining, write `remaining - n`, write the hold: no
//!   atomicity and no version, so two buyers who read the same count both succeed (a lost
//!   update) and more tickets are sold than exist.
//!
//! Then the payment: the third-party provider ([`parts::provider`], slow, failing, rate
//! limited) through retries and a breaker. Paid: the order is written by moving the hold into an
//! order row, atomically ([`kv::Op::ReleaseHold`] into the order's key: a hold that already
//! expired cannot become an order; the buyer is refunded, `late_confirms`). Refused (an error
//! after the retries, the breaker open): the hold is released back into remaining at once.
//! Unknown (the last attempt timed out: the charge may have gone through, and only the
//! provider's webhook, not modelled, would say): the hold is left to its TTL. A hold whose API
//! server crashed is left to its TTL too. How an expired hold gives its tickets back is the
//! `reaper` (a [`kv::Reaper`], run by [`kv::Restocker`] on a node of its own):
//! - `Events` (the notes' design): the hold is a row with a Redis TTL; when it expires, the store
//!   sends a keyspace event to the reaper, which adds its tickets back to remaining. Keyspace
//!   events are fire-and-forget: an event the network loses (a partition between the reaper and
//!   a shard's primary while holds expire) leaves its tickets out of remaining for ever.
//! - `Sweep(every)`: the hold keeps its deadline beside it (a sorted set of holds per event)
//!   and no TTL; every `every` the reaper runs one script per event that deletes the holds past
//!   their deadline and adds their tickets back, in one step. A lost call loses nothing: the
//!   next sweep does its work. A hold past its deadline cannot become an order (the confirm's
//!   script checks the deadline), as an expired TTL hold cannot.
//!
//! **Waiting room** (`room`, optional): the on-sale spike is absorbed by a queue in front of the
//! purchase path. Buyers enter a room node; at most `room.active` purchases run at once, the
//! rest wait in order (up to `room.capacity`, then "come back later"), so the store and the
//! provider see a bounded load however large the crowd.
//!
//! Scale: the notes' 10-minute hold and minutes-long on-sale spike are scaled down together
//! (1 minute of the notes = 1 second here): a 10 s hold, spikes of seconds. Payment latency is
//! not scaled (a network round trip is what it is), so holds are, if anything, long.
//!
//! Nodes (servers in id order): `api_servers` API servers, the store's `kv.shards *
//! kv.replicas` nodes (shard by shard, primary first), the provider, the reaper, then the
//! waiting room if there is one; clients after them.
//!
//! Checks over the history and the store:
//! - `never_oversold`: the store's committed log replayed entry by entry (every durable state
//!   the primaries went through): per event, `remaining + held + ordered <= total`, none negative.
//! - `orders_within_total`: per event, tickets in acknowledged purchases (the history) and in
//!   the final order rows never exceed the total.
//! - `no_stuck_tickets`: at the end (after the holds' TTL and the liveness phase), no hold is
//!   left and `remaining + ordered == total`: every expired or failed hold returned its tickets.
//! - `paid_orders_have_tickets`: every acknowledged purchase has its order row, with its tickets.
//!
//! Under `Occ`, the table `occ_contention` gives per event (rows by buyers, i.e. contention):
//! buyers, CAS attempts, conflicts, the retry rate, and the reservation's latency.
//!
//! The failures this model exists to show: read-then-write oversells (counted: `oversold`), and
//! holds without a TTL leave tickets stuck after payments whose outcome was unknown (a provider
//! outage) or whose server crashed (counted: `tickets_stuck`).

pub mod check;

use check::{Finding, Slot, Tally};
use parts::calls::{Answer, CallOutcome, CallPolicy, CallStats, CallTimer, Calls, Done, ReqId, ServiceId};
use parts::kv::{
    self, Hold, KvClient, KvResult, KvServer, KvSpec, KvStats, ReadFrom, Reaper, RestockStats, Restocker, ShardMap,
    tagged, untag,
};
use parts::pool::{PoolTimer, Slots};
use parts::provider::{self, Provider, ProviderSpec, ProviderStats};
use serde::{Deserialize, Serialize};
use sim_core::cost::count;
use sim_core::rng::mix64;
use sim_core::{
    Actor, Axis, Check, Ctx, Dist, Duration, Message, Model, ModelReport, NodeId, Op, OpId, Outcome, Prng, Reply,
    RunView, Table, Time, Topology, WriteId,
};
use std::collections::BTreeMap;

/// How an API server takes tickets from an event's remaining count.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum Strategy {
    /// Atomic decrement-if-at-least with a hold row, in one operation (Redis + Lua).
    #[default]
    Hold,
    /// Read the row's version, compare-and-set, retried on conflict; then write the hold.
    Occ,
    /// Known-bad: read, then write the new count, without atomicity or versions.
    ReadThenWrite,
}

/// The virtual waiting room in front of the purchase path.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RoomSpec {
    /// Purchases in progress at once (admitted buyers).
    pub active: u32,
    /// Buyers waiting; more are told to come back later.
    pub capacity: u32,
    /// How the room passes an admitted buyer's purchase to the API tier (no retries: a
    /// purchase is not idempotent).
    pub forward: CallPolicy,
}

impl Default for RoomSpec {
    fn default() -> Self {
        RoomSpec {
            active: 100,
            capacity: 100_000,
            forward: CallPolicy { timeout: Duration::from_secs(20), ..CallPolicy::default() },
        }
    }
}

/// ```ron
/// config: (
///     api_servers: 2, api_service: Exponential(mean: "1ms"), client: (timeout: "30s"),
///     room: Some((active: 100, capacity: 100000)),
///     kv: (shards: 2, replicas: 2), kv_call: (timeout: "300ms", retries: 2),
///     provider: (latency: LogNormal(median: "300ms", sigma: 0.5), error_rate: 0.05),
///     payment: (timeout: "1s", retries: 1),
///     events: 10, tickets: 500, max_per_order: 4, hold_ttl: Some("10s"),
///     reaper: Events,                          // or Sweep(every: "1s")
///     strategy: Hold, occ_retries: 10,
/// )
/// ```
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    pub api_servers: u32,
    /// An API server's own work on a request, before it calls anything.
    pub api_service: Dist,
    /// How a client calls the API tier (and the room).
    pub client: CallPolicy,
    pub room: Option<RoomSpec>,
    pub kv: KvSpec,
    /// How an API server (and the reaper) calls the store.
    pub kv_call: CallPolicy,
    pub provider: ProviderSpec,
    /// How an API server calls the payment provider.
    pub payment: CallPolicy,
    pub events: u32,
    /// Tickets of each event.
    pub tickets: i64,
    /// A purchase takes 1 to this many tickets.
    pub max_per_order: u32,
    /// How long a hold keeps its tickets (`None`: for ever, the known-bad setting).
    pub hold_ttl: Option<Duration>,
    /// How expired holds give their tickets back: keyspace events, or a periodic sweep.
    pub reaper: Reaper,
    pub strategy: Strategy,
    /// `Occ`: compare-and-set attempts after the first before the purchase fails.
    pub occ_retries: u32,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            api_servers: 2,
            api_service: Dist::Constant(Duration::from_millis(1)),
            client: CallPolicy { timeout: Duration::from_secs(30), ..CallPolicy::default() },
            room: None,
            kv: KvSpec { shards: 2, ..KvSpec::default() },
            kv_call: CallPolicy { timeout: Duration::from_millis(300), retries: 2, ..CallPolicy::default() },
            provider: ProviderSpec::default(),
            payment: CallPolicy { timeout: Duration::from_secs(1), retries: 1, ..CallPolicy::default() },
            events: 10,
            tickets: 500,
            max_per_order: 4,
            hold_ttl: Some(Duration::from_secs(10)),
            reaper: Reaper::Events,
            strategy: Strategy::Hold,
            occ_retries: 10,
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
    room: Option<NodeId>,
}

impl Layout {
    fn servers_needed(c: &Config) -> usize {
        c.api_servers as usize + c.kv.nodes() + 2 + usize::from(c.room.is_some())
    }
    fn new(c: &Config, topo: &Topology) -> Layout {
        let s = &topo.servers;
        let (a, k) = (c.api_servers as usize, c.kv.nodes());
        Layout {
            api: s[..a].to_vec(),
            kv: s[a..a + k].to_vec(),
            provider: s[a + k],
            reaper: s[a + k + 1],
            room: c.room.as_ref().map(|_| s[a + k + 2]),
        }
    }
}

/// Sub-keys of an event's tag from here on are orders; below, holds (0 is the count itself).
const ORDER_BASE: u64 = 1 << 23;

/// The row of an event's remaining tickets (its holds and orders share its tag: its shard).
pub fn event_key(event: u64) -> u64 {
    tagged(event, 0)
}

/// Which event and which kind of row a key is.
pub fn slot_of(key: u64) -> Option<(u64, Slot)> {
    let (event, sub) = untag(key)?;
    Some((
        event,
        if sub == 0 {
            Slot::Remaining
        } else if sub < ORDER_BASE {
            Slot::Hold
        } else {
            Slot::Order
        },
    ))
}

/// Tickets a purchase asks for (1..=max), from the operation's unique value.
pub fn tickets_of(value: u64, max: u32) -> u64 {
    1 + mix64(value) % max.max(1) as u64
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Buy,
    View,
}

/// An API server's answer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Status {
    /// Bought `n` tickets, order key `order`.
    Bought {
        n: u64,
        order: u64,
    },
    /// View: the remaining count.
    Remaining(u64),
    SoldOut,
    /// Definitely not bought (payment refused, contention, the store did not answer) or not
    /// known (the charge timed out: the hold expires).
    Failed,
    /// The waiting room is full: come back later.
    Busy,
}

impl Status {
    fn answer(self) -> Answer {
        match self {
            Status::Failed => Answer::Fatal,
            Status::Busy => Answer::Retryable,
            _ => Answer::Ok,
        }
    }
}

#[derive(Clone, Debug)]
pub enum AppMsg {
    Request { req: ReqId, kind: Kind, event: u64, n: u64 },
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
    /// Where buys go: the waiting room, or the API tier.
    buy: ServiceId,
    events: u64,
    max_per_order: u32,
}

impl Client {
    fn on_op(&mut self, ctx: &mut Ctx<'_, Node>, op: Op) {
        let kind = if op.kind == 0 { Kind::Buy } else { Kind::View };
        let (event, n) = (op.key % self.events, tickets_of(op.value, self.max_per_order));
        let svc = if kind == Kind::Buy { self.buy } else { self.api };
        let make = |req| Msg::from(AppMsg::Request { req, kind, event, n });
        if let Err(d) = self.calls.call(ctx, svc, event, make, (op.id, kind)) {
            ctx.complete(d.data.0, outcome(d.outcome), Reply::None);
        }
    }

    fn on_response(&mut self, ctx: &mut Ctx<'_, Node>, req: ReqId, status: Status) {
        let Some(d) = self.calls.reply(ctx, req, status.answer()) else { return };
        let reply = match status {
            Status::Bought { n, order } => Reply::list([n, order]),
            Status::Remaining(r) => Reply::Value(r),
            Status::SoldOut => Reply::Value(0),
            _ => Reply::None,
        };
        ctx.complete(d.data.0, outcome(d.outcome), reply);
    }
}

// ----- the waiting room -----

#[derive(Clone, Copy, Debug)]
struct Buyer {
    from: NodeId,
    req: ReqId,
    event: u64,
    n: u64,
}

/// Admits at most `active` purchases at once, in arrival order; the rest wait.
pub struct Room {
    slots: Slots<u64>,
    calls: Calls<Msg, u64>,
    api: ServiceId,
    buyers: BTreeMap<u64, Buyer>,
    next: u64,
    /// Buyers told to come back later (the room was full).
    pub turned_away: u64,
}

impl Room {
    fn on_msg(&mut self, ctx: &mut Ctx<'_, Node>, from: NodeId, msg: Msg) {
        match msg {
            Msg::App(AppMsg::Request { req, event, n, .. }) => {
                let id = self.next;
                self.next += 1;
                match self.slots.acquire(ctx, id) {
                    None => {
                        self.turned_away += 1;
                        ctx.send(from, Msg::from(AppMsg::Response { req, status: Status::Busy }));
                    }
                    Some(admitted) => {
                        self.buyers.insert(id, Buyer { from, req, event, n });
                        if admitted {
                            self.admit(ctx, id);
                        }
                    }
                }
            }
            Msg::App(AppMsg::Response { req, status }) => {
                if let Some(d) = self.calls.reply(ctx, req, status.answer()) {
                    self.done(ctx, d, Some(status));
                }
            }
            _ => {}
        }
    }

    fn admit(&mut self, ctx: &mut Ctx<'_, Node>, id: u64) {
        let Some(&Buyer { event, n, .. }) = self.buyers.get(&id) else { return };
        let make = |req| Msg::from(AppMsg::Request { req, kind: Kind::Buy, event, n });
        if let Err(d) = self.calls.call(ctx, self.api, event, make, id) {
            self.done(ctx, d, None);
        }
    }

    /// A purchase ended: tell its buyer (unless it timed out: the buyer's own call will), and
    /// admit the next.
    fn done(&mut self, ctx: &mut Ctx<'_, Node>, d: Done<u64>, status: Option<Status>) {
        if let Some(b) = self.buyers.remove(&d.data) {
            let status = match d.outcome {
                CallOutcome::Ok | CallOutcome::Error => status,
                CallOutcome::Timeout => None,
                CallOutcome::BreakerOpen | CallOutcome::NoBackend => Some(Status::Failed),
            };
            if let Some(status) = status {
                ctx.send(b.from, Msg::from(AppMsg::Response { req: b.req, status }));
            }
        }
        if let Some(next) = self.slots.release(ctx) {
            self.admit(ctx, next);
        }
    }
}

// ----- API servers -----

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Stage {
    View,
    /// `Hold`: the atomic decrement with its hold.
    Reserve,
    /// `Occ` / `ReadThenWrite`: reading the event's row.
    Read,
    /// `Occ`: the compare-and-set.
    Cas,
    /// `ReadThenWrite`: the blind write of the new count.
    Write,
    /// `Occ` / `ReadThenWrite`: writing the hold row.
    PutHold,
    Charge,
    /// Moving the hold into the order.
    Confirm,
    /// Giving the hold back after a refused payment.
    Release,
}

#[derive(Clone, Copy, Debug)]
struct Job {
    from: NodeId,
    req: ReqId,
    kind: Kind,
    event: u64,
    n: u64,
    stage: Stage,
    hold: u64,
    order: u64,
    /// When the reservation began on the server's monotonic clock (for its latency) and its CAS attempts.
    start: Time,
    cas: u32,
}

/// Per event under `Occ`: compare-and-set attempts and conflicts, reservation latencies.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct OccStats {
    pub reserved: u64,
    pub cas: u64,
    pub conflicts: u64,
    /// Purchases that gave up after `occ_retries` conflicts.
    pub exhausted: u64,
    /// Reservation latencies (read to successful CAS), in ns.
    pub latency_ns: Vec<u64>,
}

/// What an API server's purchases came to, summed over the tier in the report.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ShopStats {
    pub bought: u64,
    pub sold_out: u64,
    pub payment_failed: u64,
    /// Charges that timed out: their holds are left to expire.
    pub charge_unknown: u64,
    /// Confirms that found the hold expired: refunded.
    pub late_confirms: u64,
    pub released: u64,
    pub store_errors: u64,
    pub occ: Vec<OccStats>,
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
        if self.occ.len() < o.occ.len() {
            self.occ.resize(o.occ.len(), OccStats::default());
        }
        for (a, b) in self.occ.iter_mut().zip(&o.occ) {
            a.reserved += b.reserved;
            a.cas += b.cas;
            a.conflicts += b.conflicts;
            a.exhausted += b.exhausted;
            a.latency_ns.extend_from_slice(&b.latency_ns);
        }
    }
}

pub struct Api {
    /// This server's place in the tier (hold and order keys of two servers never collide).
    index: u64,
    servers: u64,
    calls: Calls<Msg, u64>,
    kv: KvClient,
    pay: ServiceId,
    jobs: BTreeMap<u64, Job>,
    next_job: u64,
    orders: u64,
    service: Dist,
    hold_ttl: Option<Duration>,
    expiry: kv::Expiry,
    strategy: Strategy,
    occ_retries: u32,
    pub stats: ShopStats,
}

impl Api {
    fn on_request(&mut self, ctx: &mut Ctx<'_, Node>, from: NodeId, req: ReqId, kind: Kind, event: u64, n: u64) {
        let id = self.next_job;
        self.next_job += 1;
        let (stage, start) = (Stage::View, ctx.monotonic());
        self.jobs.insert(id, Job { from, req, kind, event, n, stage, hold: 0, order: 0, start, cas: 0 });
        let d = self.service.sample(ctx.rng());
        ctx.set_timer(d, Timer::Cpu(Cpu(id)));
    }

    /// The request's own work is done: its first call.
    fn begin(&mut self, ctx: &mut Ctx<'_, Node>, id: u64) {
        let Some(job) = self.jobs.get_mut(&id) else { return };
        let key = event_key(job.event);
        if job.kind == Kind::View {
            return self.store(ctx, id, kv::Op::Get { key }, ReadFrom::Follower);
        }
        let seq = (self.index + self.servers * self.orders) % (ORDER_BASE - 1);
        self.orders += 1;
        job.hold = tagged(job.event, 1 + seq);
        job.order = tagged(job.event, ORDER_BASE + seq);
        job.start = ctx.monotonic();
        let op = match self.strategy {
            Strategy::Hold => {
                job.stage = Stage::Reserve;
                let hold = Some(Hold { key: job.hold, ttl: self.hold_ttl, expiry: self.expiry });
                kv::Op::DecrIfAtLeast { key, n: job.n as i64, hold }
            }
            Strategy::Occ | Strategy::ReadThenWrite => {
                job.stage = Stage::Read;
                kv::Op::Get { key }
            }
        };
        self.store(ctx, id, op, ReadFrom::Primary);
    }

    fn store(&mut self, ctx: &mut Ctx<'_, Node>, id: u64, op: kv::Op, read: ReadFrom) {
        if let Err(d) = self.kv.call(&mut self.calls, ctx, op, read, id) {
            self.step(ctx, d, None);
        }
    }

    fn occ(&mut self, event: u64) -> &mut OccStats {
        let e = event as usize;
        if self.stats.occ.len() <= e {
            self.stats.occ.resize(e + 1, OccStats::default());
        }
        &mut self.stats.occ[e]
    }

    /// `Occ` / `ReadThenWrite`: the event's row read (or answered by a conflict): take the
    /// tickets from it, if there are enough.
    fn take(&mut self, ctx: &mut Ctx<'_, Node>, id: u64, remaining: i64, version: u64) {
        let Some(job) = self.jobs.get_mut(&id) else { return };
        let (key, n) = (event_key(job.event), job.n as i64);
        if remaining < n {
            self.stats.sold_out += 1;
            return self.finish(ctx, id, Status::SoldOut);
        }
        let op = if self.strategy == Strategy::Occ {
            job.stage = Stage::Cas;
            job.cas += 1;
            let event = job.event;
            // The hold in the same step: a purchase whose answer is lost leaves a hold that its
            // TTL returns, never tickets taken from `remaining` and held nowhere.
            let hold = Some((Hold { key: job.hold, ttl: self.hold_ttl, expiry: self.expiry }, n));
            self.occ(event).cas += 1;
            kv::Op::Cas { key, version, value: remaining - n, ttl: None, hold }
        } else {
            job.stage = Stage::Write;
            kv::Op::Put { key, value: remaining - n, ttl: None }
        };
        self.store(ctx, id, op, ReadFrom::Primary);
    }

    /// The tickets are taken (and held): charge the buyer.
    fn charge(&mut self, ctx: &mut Ctx<'_, Node>, id: u64) {
        let Some(job) = self.jobs.get_mut(&id) else { return };
        job.stage = Stage::Charge;
        let hold = job.hold;
        let make = |rid| Msg::from(provider::Msg::Request { id: rid, key: hold });
        if let Err(d) = self.calls.call(ctx, self.pay, hold, make, id) {
            self.step(ctx, d, None);
        }
    }

    /// A call of job `done.data` ended: the next step of its request.
    fn step(&mut self, ctx: &mut Ctx<'_, Node>, done: Done<u64>, result: Option<KvResult>) {
        let id = done.data;
        let Some(job) = self.jobs.get_mut(&id) else { return };
        let ok = done.outcome == CallOutcome::Ok;
        let (event, n) = (job.event, job.n);
        match (job.stage, result) {
            (Stage::View, Some(KvResult::Found { value, .. })) if ok => {
                self.finish(ctx, id, Status::Remaining(value.max(0) as u64))
            }
            (Stage::Reserve, Some(KvResult::Written { .. })) if ok => self.charge(ctx, id),
            (Stage::Reserve, Some(KvResult::Conflict { .. })) if ok => {
                self.stats.sold_out += 1;
                self.finish(ctx, id, Status::SoldOut);
            }
            (Stage::Read, Some(KvResult::Found { value, version })) if ok => self.take(ctx, id, value, version),
            (Stage::Cas, Some(KvResult::Written { .. })) if ok => {
                let latency = ctx.monotonic().0.saturating_sub(job.start.0);
                let o = self.occ(event);
                o.reserved += 1;
                o.latency_ns.push(latency);
                self.charge(ctx, id);
            }
            (Stage::Cas, Some(KvResult::Conflict { value, version })) if ok => {
                let tries = job.cas;
                self.occ(event).conflicts += 1;
                if tries > self.occ_retries {
                    self.occ(event).exhausted += 1;
                    self.finish(ctx, id, Status::Failed);
                } else {
                    self.take(ctx, id, value, version);
                }
            }
            (Stage::Write, Some(KvResult::Written { .. })) if ok => self.put_hold(ctx, id),
            (Stage::PutHold, Some(KvResult::Written { .. })) if ok => self.charge(ctx, id),
            (Stage::Charge, _) if ok => {
                job.stage = Stage::Confirm;
                let op = kv::Op::ReleaseHold { hold: job.hold, into: job.order };
                self.store(ctx, id, op, ReadFrom::Primary);
            }
            (Stage::Charge, _) if done.outcome == CallOutcome::Timeout => {
                // The charge may have gone through: the hold stays until it expires.
                self.stats.charge_unknown += 1;
                self.finish(ctx, id, Status::Failed);
            }
            (Stage::Charge, _) => {
                self.stats.payment_failed += 1;
                job.stage = Stage::Release;
                let op = kv::Op::ReleaseHold { hold: job.hold, into: event_key(event) };
                self.store(ctx, id, op, ReadFrom::Primary);
            }
            (Stage::Confirm, Some(KvResult::Deleted { existed: true })) if ok => {
                self.stats.bought += 1;
                ctx.count_in("shop", "tickets_sold", n);
                let order = job.order;
                self.finish(ctx, id, Status::Bought { n, order });
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
            _ => {
                self.stats.store_errors += 1;
                self.finish(ctx, id, Status::Failed);
            }
        }
    }

    fn put_hold(&mut self, ctx: &mut Ctx<'_, Node>, id: u64) {
        let Some(job) = self.jobs.get_mut(&id) else { return };
        job.stage = Stage::PutHold;
        let op = kv::Op::Put { key: job.hold, value: job.n as i64, ttl: self.hold_ttl };
        self.store(ctx, id, op, ReadFrom::Primary);
    }

    fn finish(&mut self, ctx: &mut Ctx<'_, Node>, id: u64, status: Status) {
        let Some(job) = self.jobs.remove(&id) else { return };
        ctx.send(job.from, Msg::from(AppMsg::Response { req: job.req, status }));
    }

    fn on_msg(&mut self, ctx: &mut Ctx<'_, Node>, from: NodeId, msg: Msg) {
        match msg {
            Msg::App(AppMsg::Request { req, kind, event, n }) => self.on_request(ctx, from, req, kind, event, n),
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
    Room(Box<Room>),
    Api(Box<Api>),
    Kv(Box<KvServer>),
    Provider(Box<Provider>),
    /// Gives back the tickets of expired holds (on the store's keyspace events, or by sweeps).
    Reaper(Box<Restocker<Msg>>),
}

impl Actor for Node {
    type Msg = Msg;
    type Timer = Timer;
    type Record = kv::Entry;

    fn on_start(&mut self, ctx: &mut Ctx<'_, Self>) {
        match self {
            Node::Kv(s) => s.on_start(ctx),
            // Hold and order keys must not repeat across a crash (the server remembers nothing):
            // an incarnation started at t numbers its purchases from t in ms x 100, room for
            // 100 purchases a millisecond per server before two incarnations could meet.
            Node::Api(a) => a.orders = ctx.now().0 / 1_000_000 * 100,
            Node::Reaper(r) => r.on_start(ctx),
            _ => {}
        }
    }

    fn on_msg(&mut self, ctx: &mut Ctx<'_, Self>, from: NodeId, msg: Msg) {
        match (self, msg) {
            (Node::Client(c), Msg::App(AppMsg::Response { req, status })) => c.on_response(ctx, req, status),
            (Node::Room(r), m) => r.on_msg(ctx, from, m),
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
            (Node::Room(r), Timer::Call(t)) => {
                if let Some(d) = r.calls.on_timer(ctx, t) {
                    r.done(ctx, d, None);
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

pub struct Ticket;

impl Model for Ticket {
    const NAME: &'static str = "ticket";
    const ABOUT: &'static str =
        "ticket booking: holds with a TTL (atomic decrement) or OCC, a slow failing payment provider, a waiting room";
    const OP_KINDS: &'static [&'static str] = &["buy", "view"];
    const TRANSPORT: sim_core::net::Transport = sim_core::net::Transport::Connection;
    const KEEP_CRASHED_ACTORS: bool = true;
    const CHECKS: &'static [&'static str] =
        &["never_oversold", "orders_within_total", "no_stuck_tickets", "paid_orders_have_tickets"];
    type Config = Config;
    type Actor = Node;

    fn validate(c: &Config, topo: &Topology) -> Vec<(String, String)> {
        let mut e = Vec::new();
        if c.api_servers == 0 {
            e.push(("config.api_servers".into(), "must be at least 1".into()));
        }
        if let Err(m) = c.api_service.validate() {
            e.push(("config.api_service".into(), m));
        }
        e.extend(c.client.validate("config.client"));
        if let Some(r) = &c.room {
            if r.active == 0 {
                e.push(("config.room.active".into(), "must be at least 1".into()));
            }
            e.extend(r.forward.validate("config.room.forward"));
        }
        e.extend(c.kv.validate("config.kv"));
        e.extend(c.kv_call.validate("config.kv_call"));
        e.extend(c.provider.validate("config.provider"));
        e.extend(c.payment.validate("config.payment"));
        if c.events == 0 {
            e.push(("config.events".into(), "must be at least 1".into()));
        }
        if c.tickets < 0 {
            e.push(("config.tickets".into(), format!("must be >= 0, got {}", c.tickets)));
        }
        if c.max_per_order == 0 {
            e.push(("config.max_per_order".into(), "must be at least 1".into()));
        }
        if c.hold_ttl.is_some_and(|t| t.0 == 0) {
            e.push(("config.hold_ttl".into(), "must be positive (None: holds never expire)".into()));
        }
        e.extend(c.reaper.validate("config.reaper"));
        if c.reaper != Reaper::Events && c.strategy == Strategy::ReadThenWrite {
            e.push((
                "config.reaper".into(),
                "a sweep reaps holds made with their deadline (strategy Hold or Occ); ReadThenWrite writes its \
                 hold as a plain row with a TTL: use reaper: Events"
                    .into(),
            ));
        }
        let need = Layout::servers_needed(c);
        if topo.servers.len() != need {
            e.push((
                "topology.servers".into(),
                format!(
                    "must be {need}: {} API servers + {} store nodes + the provider + the reaper{}, got {}",
                    c.api_servers,
                    c.kv.nodes(),
                    if c.room.is_some() { " + the waiting room" } else { "" },
                    topo.servers.len()
                ),
            ));
        }
        if topo.clients.is_empty() {
            e.push(("topology.clients".into(), "the workload needs at least one client".into()));
        }
        e
    }

    /// Per order placed (at most the tickets on sale, `(1 + max_per_order) / 2` a purchase):
    /// the store's writes (the hold, its release into the order row) and the checker's copy of
    /// each change read back from the logs, ~1.6 kB with 2 replicas; per purchase and per view
    /// the API servers', the room's and the checkers' records. Events: ~7 an operation, ~15 more
    /// an order (the writes, their replication, the payment). Measured with `simctl bench
    /// scenario` (debug): ticket_onsale 62.8 MB used (estimate 60 MB); at twice its rate 88 MB
    /// (89 MB); with 3,000 tickets an event (all 47,700 purchases served) 116 MB (117 MB).
    fn footprint(c: &Config, _topo: &Topology, load: &sim_core::cost::Load) -> sim_core::cost::Footprint {
        let buys = load.of("buy", Self::OP_KINDS);
        let views = load.of("view", Self::OP_KINDS);
        let per_order = (1.0 + c.max_per_order.max(1) as f64) / 2.0;
        let on_sale = c.events as f64 * c.tickets.max(0) as f64;
        let orders = buys.min(on_sale / per_order);
        sim_core::cost::Footprint {
            events: (buys + views) * 7.0 + orders * 15.0,
            queued: load.in_flight * 10.0,
            ..Default::default()
        }
        .part(
            format!("orders: {orders} x 2 writes (and the checker's changes, 150 B each)", orders = count(orders)),
            c.kv.footprint_of_writes(orders * 2.0) + orders * 2.0 * 150.0 + orders * 200.0,
        )
        .part(format!("purchases: {buys} x 300 B (jobs, the room, the checkers)", buys = count(buys)), buys * 300.0)
        .part(format!("views: {views} x 150 B", views = count(views)), views * 150.0)
    }

    fn factory(c: &Config, topo: &Topology, _setup: &mut Prng) -> Box<dyn FnMut(NodeId) -> Node> {
        let layout = Layout::new(c, topo);
        let map = ShardMap::new(&c.kv, &layout.kv);
        let c = c.clone();
        let topo = topo.clone();
        let rr = parts::balance::Policy::RoundRobin;
        Box::new(move |n| {
            if topo.is_client(n) {
                let mut calls = Calls::new();
                let api = calls.add("client_calls", &layout.api, c.client.clone(), rr, Default::default());
                let buy = match layout.room {
                    Some(room) => calls.add("client_room", &[room], c.client.clone(), rr, Default::default()),
                    None => api,
                };
                let (events, max_per_order) = (c.events as u64, c.max_per_order);
                return Node::Client(Box::new(Client { calls, api, buy, events, max_per_order }));
            }
            if let (Some(room), Some(spec)) = (layout.room, &c.room)
                && n == room
            {
                let mut calls = Calls::new();
                let api = calls.add("room_calls", &layout.api, spec.forward.clone(), rr, Default::default());
                return Node::Room(Box::new(Room {
                    slots: Slots::new("room", "admitted", spec.active, spec.capacity),
                    calls,
                    api,
                    buyers: BTreeMap::new(),
                    next: 0,
                    turned_away: 0,
                }));
            }
            if let Some(index) = layout.api.iter().position(|&a| a == n) {
                let mut calls = Calls::new();
                let kv = KvClient::register(&mut calls, "kv_calls", &map, &c.kv_call);
                let pay = calls.add("pay_calls", &[layout.provider], c.payment.clone(), rr, Default::default());
                return Node::Api(Box::new(Api {
                    index: index as u64,
                    servers: layout.api.len() as u64,
                    calls,
                    kv,
                    pay,
                    jobs: BTreeMap::new(),
                    next_job: 0,
                    orders: 0,
                    service: c.api_service.clone(),
                    hold_ttl: c.hold_ttl,
                    expiry: c.reaper.expiry(),
                    strategy: c.strategy,
                    occ_retries: c.occ_retries,
                    stats: ShopStats::default(),
                }));
            }
            if layout.kv.contains(&n) {
                // Keyspace events go to the reaper that listens for them; holds with a deadline
                // send none.
                let subscribers = if c.reaper == Reaper::Events { vec![layout.reaper] } else { Vec::new() };
                let mut s = KvServer::new("kv", &c.kv, &map, n, &subscribers);
                s.preload((0..c.events as u64).map(|e| (event_key(e), c.tickets)));
                return Node::Kv(Box::new(s));
            }
            if n == layout.provider {
                return Node::Provider(Box::new(Provider::new("provider", c.provider.clone())));
            }
            let counters: Vec<u64> = (0..c.events as u64).map(event_key).collect();
            Node::Reaper(Box::new(Restocker::new("reaper_calls", &map, &c.kv_call, c.reaper, &counters)))
        })
    }

    fn report(c: &Config, run: &RunView<'_, Node>) -> ModelReport {
        report(c, run)
    }
}

/// The store's final rows (every running primary's) and the shards whose primary is down.
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

/// A check from a finding: `f.bad` of the `f.judged` items (`unit`) were `word`. `extra`, when
/// not empty, says why the final state could not be read in full (a primary down at the end),
/// and fails the check: a store that cannot be read is not a store that holds.
fn check(name: &str, f: &Finding, unit: &str, word: &str, extra: &str) -> Check {
    let c = Check::judged(name, f.judged, unit).violations(f.bad, word).passed_if(extra.is_empty());
    let mut notes: Vec<String> = Vec::new();
    if f.bad > 0 {
        notes.push(format!("worst by {}", f.worst));
    }
    if let Some(first) = &f.first {
        notes.push(format!("first: {first}"));
    }
    if !extra.is_empty() {
        notes.push(extra.trim().to_string());
    }
    if notes.is_empty() { c } else { c.detail(notes.join("; ")) }
}

fn report(c: &Config, run: &RunView<'_, Node>) -> ModelReport {
    let mut r = ModelReport::default();
    let (rows, down) = final_rows(run, c);
    let events = c.events as u64;
    let down_note =
        if down.is_empty() { String::new() } else { format!(" (primaries of shards {down:?} down at the end)") };

    // The committed states: each shard primary's durable log, replayed.
    let layout = Layout::new(c, run.topology());
    let map = ShardMap::new(&c.kv, &layout.kv);
    let logs: Vec<sim_core::Records<kv::Entry>> = (0..map.shards()).map(|s| run.sim.durable(map.primary(s))).collect();
    let changes: Vec<(u64, check::Changes)> = logs
        .iter()
        .flat_map(|l| l.iter())
        .map(|e| (e.seq, e.changes.iter().map(|(k, row)| (*k, row.map(|r| r.value))).collect()))
        .collect();
    let oversold = check::never_oversold(c.tickets, events, changes.iter().map(|(s, v)| (*s, v.as_slice())), slot_of);
    r.checks.push(check("never_oversold", &oversold, "committed (log entry, event) states", "oversold", ""));

    // The history: acknowledged purchases per event, and their orders.
    let (mut acked, mut paid) = (BTreeMap::<u64, i64>::new(), Vec::new());
    let mut buyers = vec![0u64; events as usize];
    let mut buy_latency: Vec<Vec<u64>> = vec![Vec::new(); events as usize];
    for e in run.history() {
        if run.op_kind(e) != "buy" {
            continue;
        }
        buyers[(e.key % events) as usize] += 1;
        if let (Some(Outcome::Ok), Reply::Values(v), Some(done)) = (e.outcome, &e.reply, e.complete.get()) {
            *acked.entry(e.key % events).or_default() += v[0] as i64;
            paid.push((v[1], v[0] as i64));
            buy_latency[(e.key % events) as usize].push(done.0 - e.invoke.0);
        }
    }
    let mut tallies = vec![Tally::default(); events as usize];
    for (&key, row) in &rows {
        if let Some((e, kind)) = slot_of(key)
            && let Some(t) = tallies.get_mut(e as usize)
        {
            match kind {
                Slot::Remaining => t.remaining = row.value,
                Slot::Hold => {
                    t.held += row.value;
                    if row.expires.or(row.deadline).is_some_and(|x| x > run.end) {
                        t.live += row.value;
                    }
                }
                Slot::Order => t.ordered += row.value,
            }
        }
    }
    let ordered: BTreeMap<u64, i64> = tallies.iter().enumerate().map(|(e, t)| (e as u64, t.ordered)).collect();
    let within = check::orders_within_total(c.tickets, &acked, &ordered);
    r.checks.push(check("orders_within_total", &within, "events", "sold more tickets than they have", &down_note));
    let stuck = check::no_stuck_tickets(c.tickets, &tallies);
    r.checks.push(check("no_stuck_tickets", &stuck, "events", "with tickets stuck at the end", &down_note));
    let have = check::paid_orders_have_tickets(&paid, |k| rows.get(&k).map(|r| r.value));
    r.checks.push(check(
        "paid_orders_have_tickets",
        &have,
        "acknowledged purchases",
        "without their tickets in the store",
        &down_note,
    ));

    // The parts' statistics, summed over their nodes' incarnations (a crash does not take back
    // what a node did before it).
    let (mut shop, mut kvs, mut prov, mut pay) =
        (ShopStats::default(), KvStats::default(), ProviderStats::default(), CallStats::default());
    let (mut reaper, mut room_waiting_max, mut turned_away) = (RestockStats::default(), 0u64, 0u64);
    for (_, node) in run.incarnations() {
        match node {
            Node::Api(a) => {
                shop.add(&a.stats);
                pay.add(a.calls.stats(a.pay));
            }
            Node::Kv(s) => kvs.add(&s.stats),
            Node::Provider(p) => prov.add(&p.stats),
            Node::Reaper(rp) => reaper.add(&rp.stats),
            Node::Room(rm) => {
                room_waiting_max = room_waiting_max.max(rm.slots.waiting_max);
                turned_away += rm.turned_away;
            }
            Node::Client(_) => {}
        }
    }
    let total = c.tickets * events as i64;
    let sold: i64 = tallies.iter().map(|t| t.ordered).sum();
    let m = &mut r.measures;
    let mut put = |k: &str, v: f64| {
        m.insert(k.to_string(), v);
    };
    put("tickets_total", total as f64);
    put("tickets_sold", sold as f64);
    put("sold_share", if total > 0 { sold as f64 / total as f64 } else { 0.0 });
    put("tickets_acknowledged", acked.values().sum::<i64>() as f64);
    put("oversold", oversold.worst.max(within.worst) as f64);
    put("oversold_committed", oversold.worst as f64);
    put("oversold_orders", within.worst as f64);
    put("tickets_stuck", tallies.iter().map(|t| (c.tickets - t.remaining - t.ordered).max(0)).sum::<i64>() as f64);
    put("tickets_on_hold", tallies.iter().map(|t| t.held).sum::<i64>() as f64);
    put("purchases", shop.bought as f64);
    put("sold_out", shop.sold_out as f64);
    put("payment_failed", shop.payment_failed as f64);
    put("charge_unknown", shop.charge_unknown as f64);
    put("late_confirms", shop.late_confirms as f64);
    put("released", shop.released as f64);
    put("store_errors", shop.store_errors as f64);
    // Holds whose time ran out: deleted by the store's TTL, or by the reaper's sweeps.
    put("holds_expired", (kvs.expired + reaper.holds_reaped) as f64);
    put("tickets_restocked", reaper.restocked as f64);
    put("reaper_events", reaper.events as f64);
    if let Reaper::Sweep { .. } = c.reaper {
        put("holds_reaped", reaper.holds_reaped as f64);
        put("reaps", reaper.reaps as f64);
        put("reaps_failed", reaper.reaps_failed as f64);
    }
    put("room_waiting_max", room_waiting_max as f64);
    put("room_turned_away", turned_away as f64);
    put("kv_writes", kvs.writes as f64);
    put("kv_conflicts", kvs.conflicts as f64);
    put("kv_log_entries", logs.iter().map(|l| l.len()).sum::<usize>() as f64);
    put("provider_requests", prov.requests as f64);
    put("provider_errors", prov.errors as f64);
    put("provider_rate_limited", prov.rate_limited as f64);
    put("provider_unanswered", prov.unanswered as f64);
    put("pay_attempts", pay.attempts as f64);
    put("pay_retries", pay.retries as f64);
    put("pay_breaker_rejected", pay.breaker_rejected as f64);
    if c.strategy == Strategy::Occ {
        let (cas, conflicts): (u64, u64) = shop.occ.iter().fold((0, 0), |a, o| (a.0 + o.cas, a.1 + o.conflicts));
        put("occ_cas", cas as f64);
        put("occ_conflicts", conflicts as f64);
        put("occ_retry_rate", if cas > 0 { conflicts as f64 / cas as f64 } else { 0.0 });
        put("occ_exhausted", shop.occ.iter().map(|o| o.exhausted).sum::<u64>() as f64);
        r.tables.push(occ_table(&shop.occ, &buyers, &buy_latency, run.main_end));
    }
    r
}

/// Per event, by buyers (contention): CAS attempts, conflicts, retry rate, reservation latency.
fn occ_table(occ: &[OccStats], buyers: &[u64], buy_latency: &[Vec<u64>], main_end: Time) -> Table {
    let ms = |v: &[u64], q: f64| {
        let mut s: Vec<f64> = v.iter().map(|&ns| ns as f64 / 1e6).collect();
        s.sort_by(f64::total_cmp);
        if s.is_empty() { 0.0 } else { sim_core::sweep::percentile(&s, q) }
    };
    let secs = (main_end.0 as f64 / 1e9).max(1e-9);
    let mut rows: Vec<Vec<f64>> = (0..buyers.len())
        .map(|e| {
            let o = occ.get(e).cloned().unwrap_or_default();
            vec![
                e as f64,
                buyers[e] as f64,
                buyers[e] as f64 / secs,
                o.cas as f64,
                o.conflicts as f64,
                if o.cas > 0 { o.conflicts as f64 / o.cas as f64 } else { 0.0 },
                ms(&o.latency_ns, 0.5),
                ms(&o.latency_ns, 0.99),
                ms(&buy_latency[e], 0.99),
            ]
        })
        .collect();
    rows.sort_by(|a, b| a[1].total_cmp(&b[1]));
    let columns = [
        "event",
        "buyers",
        "buyers_per_s",
        "cas_attempts",
        "conflicts",
        "retry_rate",
        "reserve_p50_ms",
        "reserve_p99_ms",
        "buy_p99_ms",
    ];
    Table::new("occ_contention", columns, rows).curve(
        "buyers_per_s",
        Axis::new("buyers of one event", "/s").log10(),
        &["retry_rate"],
        Axis::new("conflicts per CAS attempt", "share"),
    )
}
