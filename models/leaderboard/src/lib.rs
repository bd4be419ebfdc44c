//! # leaderboard: a real-time gaming leaderboard on a sorted set sharded by score range
//!
//! The notes (2-10, "Real-time Gaming Leaderboard"): `user -> game service -> kafka ->
//! Leaderboard Service (win ? +1 : -1)`; "Database slow" (crossed out) and "redis sorted set,
//! O(log n)" (ticked); readers go through a load balancer to "User profile + User points" and a
//! "Top 10 user cache"; Redis sharded by rank range, "[top 1-100] - [top 101-200] - ...".
//!
//! **Nodes.** Servers: the log's coordinator, `brokers` brokers, then the leaderboard service
//! (the last server). Clients are game servers and players: a `win` or `loss` operation is a game
//! result the game service appends to the log ([`parts::log`], keyed by player, acknowledged on
//! `acks` disks: the operation completes then); `top10` and `rank` are reads sent to the
//! leaderboard service.
//!
//! **The leaderboard service** is the log's consumer (a group of one). It holds the user points
//! (score by player: the profile lookup), the scores in a [`Store`], and a top-10 cache
//! ([`parts::cache`], one entry with a TTL). It applies each record exactly once (it keeps the
//! next offset of each partition with its state, so a redelivery is skipped; and the ids of the
//! results it applied, so a result the log holds twice, a produce retried after its first attempt
//! landed, is skipped too), in log order per partition. The store is either the sorted set ([`set::Sharded`]: an order-statistic tree per
//! score-range shard, boundaries moved when one shard outgrows the mean by `rebalance.tolerance`)
//! or the known-bad table without a score index ([`set::ScanTable`]). Each shard (or the
//! database) is a [`parts::pool::Pool`]: Redis is single-threaded, so a sorted-set shard has one
//! server; a database has `concurrency` cores. **An operation's service time is the work the
//! structure did for it**: `op_cost + steps * step_cost`, where `steps` are the nodes, rows and
//! comparisons the structure counted (a sorted-set update or rank touches a root-to-leaf path,
//! `O(log n)`; the scan reads every row, `O(players)`). An operation takes effect when it reaches
//! its shard (the shard runs them in arrival order) and is answered, or its record marked done
//! for the log, when its service ends. Rank reads are answered by the player's shard (higher
//! shards' sizes are known to the router); a top-10 read is answered from the cache, or on a miss
//! by the top shard, whose answer is cached for `cache.ttl`.
//!
//! **Simplified.** The shards live in one process (one pool each: their CPU is modelled, their
//! network hops are not); the service's state is in memory and not recovered after a crash
//! (no scenario crashes it); a player's first game creates the player at score 0 (`players` exist
//! from the start, with scores `0..score_spread` from a hash of the id: a season in progress).
//!
//! **Checks** (over the history and the service's journal of applied updates, see [`check`]):
//! `applied_exactly_once` (every acknowledged game result applied once, nothing else applied),
//! `final_ranks_exact` (every player's final score and rank equal the oracle's from the
//! initial scores and the acknowledged results), `ranks_exact` (every rank read equals the
//! oracle at the prefix of the journal it read, and that prefix holds every update applied
//! before the read was sent), `top10_exact` (every top-10 answer is the oracle's top 10 at its
//! prefix), `top10_staleness` (a cached top 10 is served at most `staleness_max` after it stopped
//! being the true one). SLAs on the latency of reads and of updates (produce to applied).
//!
//! **The failure it shows** (`leaderboard_order_by`): the same load on a table read with
//! `ORDER BY` scans every row per read; at the scenario's player count each rank read costs ~10 ms
//! of database time and the read SLA is missed. The control (the sorted set, same load) passes.
//! The measured cost per read against the number of players is in README.md.

pub mod check;
pub mod set;

use parts::cache::{Cache, CacheSpec, Capacity};
use parts::log::{self, Broker, Cluster, Consumer, Coordinator, Delivery, LogSpec, Pid, Producer};
use parts::pool::{Admit, Pool, PoolSpec, PoolTimer};
use serde::{Deserialize, Serialize};
use set::{Key, ScanTable, Sharded, key};
use sim_core::cost::count;
use sim_core::rng::mix64;
use sim_core::{
    Actor, Ctx, Duration, Message, Model, ModelReport, NodeId, Op, OpId, Outcome, Prng, Reply, RunView, Time, Topology,
    WriteId,
};
use std::collections::{BTreeMap, BTreeSet};
use std::rc::Rc;

/// Which structure holds the scores.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Structure {
    /// The sorted set, split by score range over `shards` single-threaded shards.
    SortedSet { shards: u32 },
    /// The known-bad table with no index on the score: every read scans it.
    OrderByScan,
}

/// When the score ranges are moved.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Rebalance {
    /// How often the shard sizes are compared.
    pub interval: Duration,
    /// Rebalance when the largest shard holds more than `tolerance` times the mean.
    pub tolerance: f64,
}

impl Default for Rebalance {
    fn default() -> Self {
        Rebalance { interval: Duration::from_secs(1), tolerance: 1.2 }
    }
}

/// ```ron
/// config: (
///     brokers: 3,
///     log: (topics: [(name: "games", partitions: 6)], replication: 3, acks: 2),
///     players: 100000,
///     score_spread: 200,
///     structure: SortedSet(shards: 4),
///     shard: (concurrency: 1, queue: 100000),
///     step_cost: "100ns",
///     op_cost: "20us",
///     cache: (capacity: Entries(1), ttl: Some("1s")),
///     rebalance: (interval: "1s", tolerance: 1.2),
///     staleness_max: "1500ms",
/// )
/// ```
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    pub brokers: u32,
    pub log: LogSpec,
    /// Players that exist at the start (ids `0..players`).
    pub players: u64,
    /// Initial scores are `0..score_spread`, a hash of the player id.
    pub score_spread: u32,
    pub structure: Structure,
    /// Each shard's (or the database's) servers and queue; its `service` is not used: service
    /// times come from the work done.
    pub shard: PoolSpec,
    /// Time per step of work (a node visited, a row read, a comparison).
    pub step_cost: Duration,
    /// Fixed time per operation (parsing, the reply).
    pub op_cost: Duration,
    /// The top-10 cache (one entry).
    pub cache: CacheSpec,
    pub rebalance: Rebalance,
    /// The bound `top10_staleness` checks.
    pub staleness_max: Duration,
    /// The player count the measured bytes per player are scaled to (`store_mb_at_scale`), for
    /// the estimate of the sorted set's memory at the notes' size.
    pub scale_players: u64,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            brokers: 3,
            log: LogSpec::default(),
            players: 10_000,
            score_spread: 200,
            structure: Structure::SortedSet { shards: 4 },
            shard: PoolSpec { concurrency: 1, queue: 100_000, ..PoolSpec::default() },
            step_cost: Duration::from_nanos(100),
            op_cost: Duration::from_micros(20),
            cache: CacheSpec {
                capacity: Capacity::Entries(1),
                ttl: Some(Duration::from_secs(1)),
                ..Default::default()
            },
            rebalance: Rebalance::default(),
            staleness_max: Duration::from_millis(1500),
            scale_players: 25_000_000,
        }
    }
}

/// A player's score at the start of the run.
pub fn initial_score(c: &Config, player: u64) -> Option<i64> {
    (player < c.players).then(|| (mix64(player ^ 0x1ead_b0a4d) % c.score_spread.max(1) as u64) as i64)
}

/// The op kinds, in `OP_KINDS` order.
pub const WIN: u16 = 0;
pub const LOSS: u16 = 1;
pub const TOP10: u16 = 2;
pub const RANK: u16 = 3;

/// A game result's record value: the operation's unique value and the delta in its low bit.
pub fn encode(value: u64, win: bool) -> u64 {
    value << 1 | win as u64
}

pub fn decode(v: u64) -> (u64, i64) {
    (v >> 1, if v & 1 == 1 { 1 } else { -1 })
}

/// Encodes a score for a reply (the sign bit flipped, so that no score encodes as [`NO_PLAYER`]
/// but `i64::MAX`).
pub fn enc_score(s: i64) -> u64 {
    (s as u64) ^ (1 << 63)
}

pub fn dec_score(v: u64) -> i64 {
    (v ^ (1 << 63)) as i64
}

/// The reply value of a rank read of a player with no score.
pub const NO_PLAYER: u64 = u64::MAX;

#[derive(Clone, Copy, Debug)]
pub enum Read {
    Top10,
    Rank(u64),
}

/// The design's own messages.
#[derive(Clone, Debug)]
pub enum AppMsg {
    Read { req: u64, read: Read },
    Answer { req: u64, values: Vec<u64> },
}

impl Message for AppMsg {
    fn kind(&self) -> &'static str {
        match self {
            AppMsg::Read { .. } => "read",
            AppMsg::Answer { .. } => "answer",
        }
    }
    fn size_bytes(&self) -> u64 {
        match self {
            AppMsg::Read { .. } => 64,
            AppMsg::Answer { values, .. } => 64 + 8 * values.len() as u64,
        }
    }
}

parts::wire! {
    /// Everything a node of this design sends.
    pub enum Msg { Log(log::Msg), App(AppMsg) }
}
parts::wire! {
    timers pub enum Timer { Log(log::Timer), Pool(PoolTimer), Rebalance(RebalanceTick) }
}

#[derive(Clone, Copy, Debug)]
pub struct RebalanceTick;

/// One update the service applied, in its order.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Applied {
    /// The game result's unique value (its operation's).
    pub value: u64,
    pub player: u64,
    pub delta: i64,
    pub at: Time,
}

/// The scores, in one of the two structures.
pub enum Store {
    Sorted(Sharded),
    Scan(ScanTable),
}

/// Steps of work by operation kind.
#[derive(Clone, Copy, Debug, Default)]
pub struct Work {
    pub ops: u64,
    pub steps: u64,
    pub steps_max: u64,
}

impl Work {
    fn add(&mut self, steps: u64) {
        self.ops += 1;
        self.steps += steps;
        self.steps_max = self.steps_max.max(steps);
    }
    pub fn mean(&self) -> f64 {
        if self.ops == 0 { 0.0 } else { self.steps as f64 / self.ops as f64 }
    }
}

/// A job in a shard's pool.
#[derive(Clone, Debug)]
pub enum Job {
    Update(Delivery),
    Answer { to: NodeId, req: u64, values: Vec<u64> },
    Rebalance,
}

/// Per-interval work on reads, for the table of read cost against players.
#[derive(Clone, Copy, Debug, Default)]
pub struct Interval {
    pub players: u64,
    pub reads: u64,
    pub read_steps: u64,
}

pub struct Board {
    consumer: Consumer,
    /// User points: score by player id (`None`: no such player yet).
    pub points: Vec<Option<i64>>,
    pub store: Store,
    pub pools: Vec<Pool<Job>>,
    cache: Cache<Vec<u64>>,
    /// The next offset to apply, per partition (kept with the state: redeliveries are skipped).
    next: BTreeMap<Pid, u64>,
    /// The game results applied, by id (kept with the state): a produce retried after its first
    /// attempt landed puts a result in the log twice, at two offsets (`parts::log` has no
    /// idempotent producer), and the second is skipped here.
    games: BTreeSet<u64>,
    pub journal: Vec<Applied>,
    pub skipped: u64,
    /// Results skipped because the log held them twice.
    pub duplicates_skipped: u64,
    pub work_update: Work,
    pub work_top10: Work,
    pub work_rank: Work,
    pub rebalances: u64,
    pub rebalance_moves: u64,
    pub imbalance_max: f64,
    /// Produce-to-applied latency of each update (ns).
    pub apply_ns: Vec<u64>,
    pub intervals: Vec<Interval>,
    interval: Duration,
    cfg: Rc<Config>,
}

impl Board {
    fn new(c: &Rc<Config>, consumer: Consumer, interval: Duration) -> Board {
        let points: Vec<Option<i64>> = (0..c.players).map(|p| initial_score(c, p)).collect();
        let (store, pools) = match c.structure {
            Structure::SortedSet { shards } => {
                let mut keys: Vec<Key> =
                    points.iter().enumerate().map(|(p, sc)| key(p as u64, sc.expect("initial player"))).collect();
                keys.sort_unstable();
                let s = Sharded::load(shards as usize, &keys);
                let pools = (0..shards).map(|_| Pool::new("shard", c.shard.clone())).collect();
                (Store::Sorted(s), pools)
            }
            Structure::OrderByScan => {
                let mut t = ScanTable::default();
                for (p, sc) in points.iter().enumerate() {
                    t.update(p as u64, sc.expect("initial player"));
                }
                (Store::Scan(t), vec![Pool::new("db", c.shard.clone())])
            }
        };
        Board {
            consumer,
            points,
            store,
            pools,
            cache: Cache::new(c.cache.clone()),
            next: BTreeMap::new(),
            games: BTreeSet::new(),
            journal: Vec::new(),
            skipped: 0,
            duplicates_skipped: 0,
            work_update: Work::default(),
            work_top10: Work::default(),
            work_rank: Work::default(),
            rebalances: 0,
            rebalance_moves: 0,
            imbalance_max: 1.0,
            apply_ns: Vec::new(),
            intervals: Vec::new(),
            interval,
            cfg: c.clone(),
        }
    }

    pub fn players(&self) -> usize {
        match &self.store {
            Store::Sorted(s) => s.len(),
            Store::Scan(t) => t.len(),
        }
    }

    /// Bytes of the score structures: the store and the user points.
    pub fn bytes(&self) -> u64 {
        let store = match &self.store {
            Store::Sorted(s) => s.bytes(),
            Store::Scan(t) => t.bytes(),
        };
        store + (self.points.capacity() * std::mem::size_of::<Option<i64>>()) as u64
    }

    fn service(&self, steps: u64) -> Duration {
        Duration(self.cfg.op_cost.0 + steps * self.cfg.step_cost.0)
    }

    fn submit(&mut self, ctx: &mut Ctx<'_, Node>, shard: usize, job: Job, steps: u64) {
        let service = self.service(steps);
        match self.pools[shard].submit_for(ctx, job, service) {
            Admit::Started | Admit::Queued => {}
            Admit::Rejected(j) | Admit::Dropped(j) => panic!("a shard queue overflowed ({j:?}): raise shard.queue"),
        }
    }

    fn on_start(&mut self, ctx: &mut Ctx<'_, Node>) {
        self.consumer.join(ctx);
        if matches!(self.store, Store::Sorted(_)) && self.pools.len() > 1 {
            ctx.set_timer(self.cfg.rebalance.interval, Timer::Rebalance(RebalanceTick));
        }
    }

    fn pump(&mut self, ctx: &mut Ctx<'_, Node>) {
        while let Some(d) = self.consumer.poll(ctx) {
            self.apply(ctx, d);
        }
    }

    /// Applies one game result (once) and puts its work on its shard.
    fn apply(&mut self, ctx: &mut Ctx<'_, Node>, d: Delivery) {
        let next = self.next.entry(d.p).or_insert(0);
        if d.offset < *next {
            self.skipped += 1;
            self.consumer.done(&d);
            return;
        }
        *next = d.offset + 1;
        let (value, delta) = decode(d.rec.value);
        if !self.games.insert(value) {
            self.duplicates_skipped += 1;
            self.consumer.done(&d);
            return;
        }
        let player = d.rec.key;
        let i = player as usize;
        if self.points.len() <= i {
            self.points.resize(i + 1, None);
        }
        let old = self.points[i];
        let new = old.unwrap_or(0) + delta;
        self.points[i] = Some(new);
        let (shard, steps) = match &mut self.store {
            Store::Sorted(s) => s.update(player, old, new),
            Store::Scan(t) => (0, t.update(player, new)),
        };
        self.work_update.add(steps);
        self.journal.push(Applied { value, player, delta, at: ctx.ledger_time() });
        self.submit(ctx, shard, Job::Update(d), steps);
    }

    fn read(&mut self, ctx: &mut Ctx<'_, Node>, from: NodeId, req: u64, read: Read) {
        let prefix = self.journal.len() as u64;
        match read {
            Read::Top10 => {
                if let Some(found) = self.cache.get(ctx.monotonic(), 0)
                    && let Some(v) = found.value
                {
                    let values = v.clone();
                    ctx.send(from, Msg::from(AppMsg::Answer { req, values }));
                    return;
                }
                let (top, steps): (Vec<Key>, u64) = match &self.store {
                    Store::Sorted(s) => s.top(10),
                    Store::Scan(t) => t.top(10),
                };
                self.work_top10.add(steps);
                self.note_read(ctx.ledger_time(), steps);
                let mut values = vec![prefix];
                for (neg, p) in top {
                    values.extend([p, enc_score(-neg)]);
                }
                // In-process: its TTL is elapsed time, on the monotonic clock (a stepped clock must not
                // keep an entry alive, or end it, early).
                self.cache.put(ctx.monotonic(), 0, values.clone(), 8 * values.len() as u64);
                self.submit(ctx, 0, Job::Answer { to: from, req, values }, steps);
            }
            Read::Rank(player) => {
                let Some(score) = self.points.get(player as usize).copied().flatten() else {
                    ctx.send(from, Msg::from(AppMsg::Answer { req, values: vec![prefix, NO_PLAYER, 0] }));
                    return;
                };
                let (rank, shard, steps) = match &self.store {
                    Store::Sorted(s) => s.rank(score),
                    Store::Scan(t) => {
                        let (r, steps) = t.rank(score);
                        (r, 0, steps)
                    }
                };
                self.work_rank.add(steps);
                self.note_read(ctx.ledger_time(), steps);
                let values = vec![prefix, enc_score(score), rank];
                self.submit(ctx, shard, Job::Answer { to: from, req, values }, steps);
            }
        }
    }

    fn note_read(&mut self, now: Time, steps: u64) {
        let i = (now.0 / self.interval.0.max(1)) as usize;
        if self.intervals.len() <= i {
            self.intervals.resize(i + 1, Interval::default());
        }
        let players = self.players() as u64;
        let iv = &mut self.intervals[i];
        iv.players = players;
        iv.reads += 1;
        iv.read_steps += steps;
    }

    fn on_rebalance(&mut self, ctx: &mut Ctx<'_, Node>) {
        ctx.set_timer(self.cfg.rebalance.interval, Timer::Rebalance(RebalanceTick));
        let Store::Sorted(s) = &mut self.store else { return };
        let imbalance = s.imbalance();
        self.imbalance_max = self.imbalance_max.max(imbalance);
        if imbalance <= self.cfg.rebalance.tolerance {
            return;
        }
        let (moved, steps) = s.rebalance();
        let steps = steps + s.compact();
        self.rebalances += 1;
        self.rebalance_moves += moved;
        ctx.count_in("board", "rebalances", 1);
        // The move occupies every shard for its share of the work.
        let per = steps / self.pools.len() as u64;
        for i in 0..self.pools.len() {
            self.submit(ctx, i, Job::Rebalance, per);
        }
    }

    fn on_pool(&mut self, ctx: &mut Ctx<'_, Node>, t: PoolTimer) {
        for i in 0..self.pools.len() {
            if let Some(job) = self.pools[i].on_timer(ctx, t) {
                match job {
                    Job::Update(d) => {
                        self.apply_ns.push(ctx.now().since(d.rec.produced).0);
                        self.consumer.done(&d);
                    }
                    Job::Answer { to, req, values } => ctx.send(to, Msg::from(AppMsg::Answer { req, values })),
                    Job::Rebalance => {}
                }
                return;
            }
        }
    }
}

/// A game server or a player: produces game results, sends reads.
pub struct Client {
    producer: Producer<OpId>,
    board: NodeId,
    pending: BTreeMap<u64, OpId>,
    next_req: u64,
}

pub enum Node {
    Coordinator(Box<Coordinator>),
    Broker(Box<Broker>),
    Board(Box<Board>),
    Client(Box<Client>),
}

fn log_rec(r: &log::Disk) -> Option<&log::Disk> {
    Some(r)
}

impl Client {
    fn on_op(&mut self, ctx: &mut Ctx<'_, Node>, op: Op) {
        let read = match op.kind {
            WIN | LOSS => {
                self.producer.produce(ctx, 0, op.key, encode(op.value, op.kind == WIN), op.id);
                return;
            }
            TOP10 => Read::Top10,
            _ => Read::Rank(op.key),
        };
        let req = self.next_req;
        self.next_req += 1;
        self.pending.insert(req, op.id);
        ctx.send(self.board, Msg::from(AppMsg::Read { req, read }));
    }

    fn produced(ctx: &mut Ctx<'_, Node>, done: log::Produced<OpId>) {
        match done.result {
            Ok((p, offset)) => ctx.complete(done.token, Outcome::Ok, Reply::list([p as u64, offset])),
            Err(_) => ctx.complete(done.token, Outcome::Fail, Reply::None),
        }
    }

    fn on_msg(&mut self, ctx: &mut Ctx<'_, Node>, msg: Msg) {
        match msg {
            Msg::Log(m) => {
                if let Some(done) = self.producer.on_msg(ctx, &m) {
                    Self::produced(ctx, done);
                }
            }
            Msg::App(AppMsg::Answer { req, values }) => {
                if let Some(op) = self.pending.remove(&req) {
                    ctx.complete(op, Outcome::Ok, Reply::list(values));
                }
            }
            Msg::App(AppMsg::Read { .. }) => {}
        }
    }
}

impl Actor for Node {
    type Msg = Msg;
    type Timer = Timer;
    type Record = log::Disk;

    fn on_start(&mut self, ctx: &mut Ctx<'_, Self>) {
        match self {
            Node::Coordinator(c) => c.start(ctx, log_rec),
            Node::Broker(b) => b.start(ctx, log_rec),
            Node::Board(b) => b.on_start(ctx),
            Node::Client(c) => c.producer.start(ctx),
        }
    }

    fn on_msg(&mut self, ctx: &mut Ctx<'_, Self>, from: NodeId, msg: Msg) {
        match self {
            Node::Coordinator(c) => {
                if let Msg::Log(m) = msg {
                    c.on_msg(ctx, from, &m);
                }
            }
            Node::Broker(b) => {
                if let Msg::Log(m) = msg {
                    b.on_msg(ctx, from, &m);
                }
            }
            Node::Board(b) => match msg {
                Msg::Log(m) => {
                    if b.consumer.on_msg(ctx, &m).is_some() {
                        b.pump(ctx);
                    }
                }
                Msg::App(AppMsg::Read { req, read }) => b.read(ctx, from, req, read),
                Msg::App(AppMsg::Answer { .. }) => {}
            },
            Node::Client(c) => c.on_msg(ctx, msg),
        }
    }

    fn on_timer(&mut self, ctx: &mut Ctx<'_, Self>, t: Timer) {
        match (self, t) {
            (Node::Coordinator(c), Timer::Log(t)) => c.on_timer(ctx, t),
            (Node::Broker(b), Timer::Log(t)) => b.on_timer(ctx, t),
            (Node::Board(b), Timer::Log(t)) => {
                b.consumer.on_timer(ctx, t);
                b.pump(ctx);
            }
            (Node::Board(b), Timer::Pool(t)) => b.on_pool(ctx, t),
            (Node::Board(b), Timer::Rebalance(_)) => b.on_rebalance(ctx),
            (Node::Client(c), Timer::Log(t)) => {
                if let Some(done) = c.producer.on_timer(ctx, t) {
                    Client::produced(ctx, done);
                }
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

    fn on_persisted(&mut self, ctx: &mut Ctx<'_, Self>, w: WriteId) {
        match self {
            Node::Coordinator(c) => {
                c.on_persisted(ctx, w);
            }
            Node::Broker(b) => {
                b.on_persisted(ctx, w);
            }
            _ => {}
        }
    }
}

pub struct Leaderboard;

/// The checks the leaderboard reports (see [`check`]).
pub const CHECKS: &[&str] =
    &["applied_exactly_once", "final_ranks_exact", "ranks_exact", "top10_exact", "top10_staleness"];

impl Model for Leaderboard {
    const NAME: &'static str = "leaderboard";
    const ABOUT: &'static str =
        "game results through a log into a sorted set sharded by score range, a top-10 cache (or the ORDER BY scan)";
    const OP_KINDS: &'static [&'static str] = &["win", "loss", "top10", "rank"];
    const TRANSPORT: sim_core::net::Transport = sim_core::net::Transport::Connection;
    const CHECKS: &'static [&'static str] = CHECKS;
    type Config = Config;
    type Actor = Node;

    fn validate(c: &Config, topo: &Topology) -> Vec<(String, String)> {
        let mut e = Vec::new();
        let servers = topo.servers.len() as u32;
        if c.brokers == 0 {
            e.push(("config.brokers".into(), "needs at least one broker".into()));
        }
        if servers != c.brokers + 2 {
            e.push((
                "topology.servers".into(),
                format!("needs brokers + 2 servers (the coordinator, the brokers, the leaderboard service) = {}, got {servers}", c.brokers + 2),
            ));
        }
        if topo.clients.is_empty() {
            e.push(("topology.clients".into(), "needs at least one client (game servers and players)".into()));
        }
        e.extend(c.log.validate("config.log", c.brokers));
        e.extend(c.shard.validate("config.shard"));
        e.extend(c.cache.validate("config.cache"));
        if let Structure::SortedSet { shards } = c.structure
            && shards == 0
        {
            e.push(("config.structure.shards".into(), "needs at least one shard".into()));
        }
        if c.score_spread == 0 {
            e.push(("config.score_spread".into(), "must be at least 1".into()));
        }
        if c.players > 50_000_000 {
            e.push(("config.players".into(), format!("at most 50,000,000 (got {})", c.players)));
        }
        if c.rebalance.tolerance < 1.0 {
            e.push((
                "config.rebalance.tolerance".into(),
                format!("must be at least 1.0, got {}", c.rebalance.tolerance),
            ));
        }
        if c.rebalance.interval == Duration::ZERO {
            e.push(("config.rebalance.interval".into(), "must be positive".into()));
        }
        e
    }

    /// Measured (debug binary, `simctl bench scenario`, peak RSS less a tiny run's) on
    /// `scenarios/perf/leaderboard_1m.ron` with no operations: 154 MB for 1,000,000 players, so
    /// ~155 B a player: the service's points (16 B) and sorted set (45 B a treap node), and the
    /// checks' oracle copies (16 B each), rankings (16 B a key) and ordered set (~20 B a key). At
    /// 100,000 players and 6,945 operations/s for 65 s: 242 MB, ~500 B an operation with the
    /// kernel's history: a game result is a log record on every replica (~120 B a copy, as
    /// adclick's log) and the journal, latencies and the checks' maps (~170 B), and its id in the
    /// service's set of applied results (~20 B in a B-tree of `u64`s); a read's answer
    /// is its values. Events: 5 (at 6,945/s) to 11 (at 695/s) an operation, the log's batches
    /// fuller at the higher rate; the consumer's and the followers' fetches tick in the background.
    fn footprint(c: &Config, _topo: &Topology, load: &sim_core::cost::Load) -> sim_core::cost::Footprint {
        let players = c.players as f64;
        let per_player = match c.structure {
            Structure::SortedSet { .. } => 155.0,
            // The table's rows (16 B) instead of the treap's nodes (45 B).
            Structure::OrderByScan => 126.0,
        };
        let updates = load.of("win", Self::OP_KINDS) + load.of("loss", Self::OP_KINDS);
        let (top10, rank) = (load.of("top10", Self::OP_KINDS), load.of("rank", Self::OP_KINDS));
        let replicas = c.log.replication.max(1) as f64;
        let update_bytes = replicas * 120.0 + 190.0;
        let fetch_s = c.log.fetch_wait.as_secs_f64().max(1e-3);
        let ticks = load.run_s / fetch_s * (1.0 + c.brokers as f64) * 1.1;
        sim_core::cost::Footprint {
            events: updates * 7.0 + (top10 + rank) * 3.0 + ticks,
            queued: load.in_flight * 4.0,
            ..Default::default()
        }
        .part(
            format!(
                "players: {players} x {per_player:.0} B (points, store, the checks' oracles)",
                players = count(players)
            ),
            players * per_player,
        )
        .part(
            format!(
                "game results: {updates} x ({replicas:.0} log replicas x 120 B + 190 B journal, ids and checks)",
                updates = count(updates)
            ),
            updates * update_bytes,
        )
        .part(
            format!(
                "answers: {top10} top-10 reads x 200 B, {rank} rank reads x 60 B",
                top10 = count(top10),
                rank = count(rank)
            ),
            top10 * 200.0 + rank * 60.0,
        )
    }

    fn factory(c: &Config, topo: &Topology, _setup: &mut Prng) -> Box<dyn FnMut(NodeId) -> Node> {
        let s = &topo.servers;
        let coordinator = s[0];
        let brokers: Vec<NodeId> = s[1..=c.brokers as usize].to_vec();
        let board = s[s.len() - 1];
        let cluster = Rc::new(Cluster::new(c.log.clone(), coordinator, brokers.clone()));
        let cfg = Rc::new(c.clone());
        Box::new(move |n| {
            if n == coordinator {
                Node::Coordinator(Box::new(Coordinator::new(cluster.clone(), "log")))
            } else if brokers.contains(&n) {
                Node::Broker(Box::new(Broker::new(cluster.clone(), "log", n)))
            } else if n == board {
                let consumer = Consumer::new(cluster.clone(), "log", 0, 0);
                Node::Board(Box::new(Board::new(&cfg, consumer, Duration::from_secs(1))))
            } else {
                let producer = Producer::new(cluster.clone(), "log");
                Node::Client(Box::new(Client { producer, board, pending: BTreeMap::new(), next_req: 0 }))
            }
        })
    }

    fn report(c: &Config, run: &RunView<'_, Node>) -> ModelReport {
        check::report(c, run)
    }
}
