//! A database / key-value store: the stateful tier under stateless servers (a Redis cluster, a
//! sharded MySQL with replicas, DynamoDB as a design sees it).
//!
//! **Shape.** The keyspace is split into shards ([`ShardMap`]: by hash, or by ranges of keys);
//! each shard has one primary and `replicas - 1` followers, on nodes of their own. A node runs a
//! [`KvServer`]; a caller holds a [`KvClient`], which routes each operation by its key to the
//! shard's primary (writes, and reads that must be fresh) or to a follower (reads that may be
//! stale, chosen per read with [`ReadFrom`]), through the caller's [`crate::calls::Calls`]
//! (timeouts, retries with backoff and jitter, a breaker per shard).
//!
//! **Operations** ([`Op`]), each applied atomically on the primary (a single-threaded apply, as in
//! Redis; a Lua script is one such operation):
//! - `Get`; `Put` (unconditional, with an optional TTL); `Delete`; `Incr` (by a signed amount).
//! - `Cas { key, version, value }`: optimistic concurrency on versioned rows, the SQL idiom
//!   `UPDATE t SET v = ?, version = version + 1 WHERE k = ? AND version = ?`. Every row carries a
//!   version (1 when created, +1 per write); the write applies only if the row's version is the one
//!   given (0: the row must not exist), else the answer is `Conflict` with the current version.
//!   With `hold`, it also creates a hold row in the same step (the transaction's `INSERT` beside
//!   its `UPDATE`; the hold must share the key's tag), as `DecrIfAtLeast` does.
//! - `DecrIfAtLeast { key, n, hold }`: the notes' Redis + Lua "decrement if >= n": if the value is
//!   at least `n`, subtract `n` and (optionally) create a hold row holding `n` with a TTL, all at
//!   once; the answer says whether it applied. `ReleaseHold { hold, into }` undoes a hold that is
//!   still there (delete it, add its amount back), atomically.
//! - Multi-key operations (a hold and its counter) must live on one shard: keys made with
//!   [`tagged`] route by their tag only (Redis Cluster's `{hash tags}`).
//!
//! **TTL and keyspace events.** A row may expire. The primary expires rows lazily (an access to
//! an expired row deletes it first) and actively, every `expiry_tick` (Redis's `hz`), and every
//! expiry is a write like any other (logged, synced, replicated as a delete). Each expiry sends
//! [`Msg::Expired`] to the subscribers the design names (Redis keyspace notifications). Delivery
//! is Redis's: **fire-and-forget, at most once** per deletion: no acknowledgement, no retry; an
//! event to a subscriber that is down, partitioned away or behind a lossy link is lost, and
//! nothing tells anyone. Events go out once the deletion is durable; a primary that crashes first
//! forgets the deletion, recovers the row, and expires it again later (one event then).
//!
//! **Holds by deadline.** A hold may instead carry a deadline the store keeps as data
//! ([`Expiry::Deadline`]: the hold's score in a sorted set of holds per tag, `ZADD
//! holds:{event} deadline hold`), never a TTL: the store does not delete it by itself and sends
//! no event. [`Op::Reap`] (a Lua script) deletes every hold of a tag past its deadline and adds
//! their amounts to the tag's counter in the same step; a hold past its deadline can no longer
//! be released into anything else (the release script checks the score) nor deleted (a confirm
//! that deletes its hold finds nothing, as it would find an expired TTL hold gone). A reaper that runs the
//! script periodically ([`Reaper::Sweep`]) loses nothing to a lost message: the next sweep
//! does what a lost one did not, and a repeated one finds nothing left to do.
//!
//! **Durability.** Every write is appended to the shard's log, synced (`ctx.persist`), and only
//! then acknowledged; with `fsync: false` the primary acknowledges from the page cache
//! (`persist_buffered`), the known-bad setting that a power loss punishes. Every answer (reads
//! and refused conditional writes too) waits until the log is durable up to what it observed, so
//! no one is told a value that a crash could take back. A restarted server rebuilds its rows, its
//! log and its idempotency table from `ctx.durable()`.
//!
//! **Replication** is asynchronous: the primary ships durable log entries to its followers after
//! a lag drawn from `replication.lag` (plus the network's `kv_replicate` leg); followers apply in
//! log order (buffering what arrives early), persist to their page cache, and report how far they
//! are every `expiry_tick`; the primary resends what a follower is missing every
//! `replication.resend`. A follower answers reads from what it has: stale by the replication lag.
//! Followers never expire rows themselves: they wait for the primary's delete (Redis replicas).
//! There is no failover: while a primary is down, its shard refuses writes (callers time out)
//! and followers keep serving stale reads.
//!
//! **Capacity.** Each server runs a [`Pool`]: `pool.concurrency` operations at once (connections,
//! threads), `pool.queue` waiting, each taking a service time from `pool.service`; an operation
//! refused by a full pool is answered `Busy` (retryable).
//!
//! **Retries are idempotent.** A [`KvClient`] gives each call a random idempotency token that its
//! retries keep; the primary remembers the answers of the last `dedupe` writes by token (rebuilt
//! from the log on restart) and answers a repeated write with the first answer instead of
//! applying it twice (a retried decrement does not take two units).
//!
//! Knobs ([`KvSpec`]):
//!
//! ```ron
//! kv: (
//!     shards: 2, replicas: 2, partition: Hash,         // or Range(splits: [1000])
//!     pool: (concurrency: 16, queue: 200, service: Exponential(mean: "300us")),
//!     replication: (lag: Exponential(mean: "20ms"), resend: "500ms"),
//!     fsync: true, expiry_tick: "100ms", dedupe: 100000,
//! )
//! ```
//!
//! Measured, per request in [`KvStats`] (summed by a design over its nodes; a crash loses the
//! node's share): gets, follower reads, writes, conflicts (CAS and refused decrements), busy
//! answers, entries shipped; as kernel counters under the scope (rare events, surviving crashes):
//! `expired`, `events` (keyspace events sent), `dedup_hits` (writes answered from the idempotency
//! table), `resent` (log entries sent again); the pool's counters and levels (`scope.queue`,
//! `scope.busy`, `scope.rejected`); the level `scope.repl_backlog` (log entries the primaries know
//! their followers still miss, over time).
//!
//! Invariants: a row's version rises by one per write; a conditional decrement never takes a
//! value below zero (it is applied whole or not at all); an acknowledged write is durable (with
//! `fsync: true`); a follower's rows are always a prefix of its primary's log.

use crate::calls::{Answer, CallPolicy, CallTimer, Calls, Done, ReqId, ServiceId};
use crate::pool::{Admit, Pool, PoolSpec, PoolTimer};
use serde::{Deserialize, Serialize};
use sim_core::rng::mix64;
use sim_core::{Actor, Ctx, Dist, Duration, Message, NodeId, Time, WriteId};
use std::collections::{BTreeMap, BTreeSet, VecDeque};

/// Keys with this bit set carry a hash tag ([`tagged`]).
pub const TAGGED: u64 = 1 << 63;
const TAG_BITS: u32 = 39;
const SUB_BITS: u32 = 24;

/// A key that routes by `tag` alone: every key of one tag lives on one shard, so an operation may
/// touch several of them atomically (Redis Cluster's `{tag}`). `sub` tells the keys of a tag
/// apart (its low 24 bits are kept).
pub fn tagged(tag: u64, sub: u64) -> u64 {
    TAGGED | (tag & ((1 << TAG_BITS) - 1)) << SUB_BITS | (sub & ((1 << SUB_BITS) - 1))
}

/// The (tag, sub) of a tagged key.
pub fn untag(key: u64) -> Option<(u64, u64)> {
    (key & TAGGED != 0).then_some(((key >> SUB_BITS) & ((1 << TAG_BITS) - 1), key & ((1 << SUB_BITS) - 1)))
}

/// What a key routes by: its tag if it has one, else itself.
pub fn route_of(key: u64) -> u64 {
    untag(key).map_or(key, |(tag, _)| tag)
}

/// How keys are assigned to shards.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum Partitioning {
    /// By a hash of the key (even spread, no range scans).
    #[default]
    Hash,
    /// By ranges of the key: shard `i` holds `[splits[i-1], splits[i])` (hot ranges stay hot).
    Range { splits: Vec<u64> },
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ReplicationSpec {
    /// From a write being durable on the primary to its shipment to the followers (batching,
    /// a busy replication thread); the network's `kv_replicate` leg comes on top.
    pub lag: Dist,
    /// A follower that is behind is sent what it misses again after this long.
    pub resend: Duration,
}

impl Default for ReplicationSpec {
    fn default() -> Self {
        ReplicationSpec { lag: Dist::Constant(Duration::ZERO), resend: Duration::from_millis(500) }
    }
}

/// The store's knobs (see the module docs for a RON example).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct KvSpec {
    pub shards: u32,
    /// Copies of each shard, the primary's included.
    pub replicas: u32,
    pub partition: Partitioning,
    /// Per server: operations at once, the queue, the service time of one operation.
    pub pool: PoolSpec,
    pub replication: ReplicationSpec,
    /// Sync every write before acknowledging it (`false`: acknowledge from the page cache).
    pub fsync: bool,
    /// How often the primary expires rows and servers exchange replication progress.
    pub expiry_tick: Duration,
    /// Writes whose answers the primary remembers by idempotency token (0: none).
    pub dedupe: u32,
}

impl KvSpec {
    /// The heap `writes` writes leave in a [`KvServer`] store, for a model's footprint
    /// (`Model::footprint`): each an entry in the primary's log (with its change, ~150 B with the
    /// log's growth), a record on every replica's disk (~150 B), and an answer in the primary's
    /// idempotency table while it holds fewer than `dedupe` per shard (~100 B). Measured on
    /// chat, notify, ticket and checkout (docs/performance.md, "Round thirty"). Nothing is
    /// trimmed: a write stays in the log and on the disks until the run ends.
    pub fn footprint_of_writes(&self, writes: f64) -> f64 {
        let remembered = writes.min(self.shards as f64 * self.dedupe as f64);
        writes * (150.0 + 150.0 * self.replicas as f64) + remembered * 100.0
    }
}

impl Default for KvSpec {
    fn default() -> Self {
        KvSpec {
            shards: 1,
            replicas: 2,
            partition: Partitioning::Hash,
            pool: PoolSpec {
                concurrency: 16,
                queue: 1000,
                service: Dist::Constant(Duration::from_micros(200)),
                ..PoolSpec::default()
            },
            replication: ReplicationSpec::default(),
            fsync: true,
            expiry_tick: Duration::from_millis(100),
            dedupe: 100_000,
        }
    }
}

impl KvSpec {
    /// Nodes the store needs: `shards * replicas`.
    pub fn nodes(&self) -> usize {
        self.shards as usize * self.replicas as usize
    }

    pub fn validate(&self, path: &str) -> Vec<(String, String)> {
        let mut e = Vec::new();
        if self.shards == 0 || self.shards > 10_000 {
            e.push((format!("{path}.shards"), format!("must be within [1, 10000], got {}", self.shards)));
        }
        if self.replicas == 0 || self.replicas > 16 {
            e.push((format!("{path}.replicas"), format!("must be within [1, 16], got {}", self.replicas)));
        }
        if let Partitioning::Range { splits } = &self.partition {
            if splits.len() + 1 != self.shards as usize {
                e.push((
                    format!("{path}.partition.Range.splits"),
                    format!(
                        "{} shards need {} splits, got {}",
                        self.shards,
                        self.shards.saturating_sub(1),
                        splits.len()
                    ),
                ));
            }
            if splits.windows(2).any(|w| w[0] >= w[1]) {
                e.push((format!("{path}.partition.Range.splits"), "must rise strictly".into()));
            }
        }
        e.extend(self.pool.validate(&format!("{path}.pool")));
        if let Err(m) = self.replication.lag.validate() {
            e.push((format!("{path}.replication.lag"), m));
        }
        if self.replication.resend.0 == 0 {
            e.push((format!("{path}.replication.resend"), "must be positive".into()));
        }
        if self.expiry_tick.0 == 0 {
            e.push((format!("{path}.expiry_tick"), "must be positive".into()));
        }
        e
    }
}

/// Which nodes hold which keys: the design and every caller build the same map from the same
/// spec and node list.
#[derive(Clone, Debug, PartialEq)]
pub struct ShardMap {
    partition: Partitioning,
    /// Per shard: the primary, then the followers.
    shards: Vec<Vec<NodeId>>,
}

impl ShardMap {
    /// Shard `s` gets `nodes[s * replicas ..][.. replicas]`, the first of them its primary.
    pub fn new(spec: &KvSpec, nodes: &[NodeId]) -> ShardMap {
        assert_eq!(nodes.len(), spec.nodes(), "a shard map needs shards * replicas nodes");
        let shards = nodes.chunks(spec.replicas as usize).map(|c| c.to_vec()).collect();
        ShardMap { partition: spec.partition.clone(), shards }
    }

    pub fn shards(&self) -> usize {
        self.shards.len()
    }

    pub fn shard_of(&self, key: u64) -> usize {
        let r = route_of(key);
        match &self.partition {
            Partitioning::Hash => (mix64(r) % self.shards.len() as u64) as usize,
            Partitioning::Range { splits } => splits.partition_point(|&s| s <= r),
        }
    }

    pub fn primary(&self, shard: usize) -> NodeId {
        self.shards[shard][0]
    }

    pub fn followers(&self, shard: usize) -> &[NodeId] {
        &self.shards[shard][1..]
    }

    /// The shard a node serves, and whether it is its primary.
    pub fn role_of(&self, node: NodeId) -> Option<(usize, bool)> {
        self.shards.iter().enumerate().find_map(|(s, n)| n.iter().position(|&m| m == node).map(|i| (s, i == 0)))
    }

    /// Every node of the store.
    pub fn nodes(&self) -> impl Iterator<Item = NodeId> + '_ {
        self.shards.iter().flatten().copied()
    }
}

/// A row: its value, its version (1 when created, +1 per write), when it expires (a TTL, on the
/// primary's local clock) and a hold's deadline ([`Expiry::Deadline`], the same clock).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Row {
    pub value: i64,
    pub version: u64,
    pub expires: Option<Time>,
    pub deadline: Option<Time>,
}

impl Row {
    fn new(value: i64, version: u64, expires: Option<Time>) -> Row {
        Row { value, version, expires, deadline: None }
    }
}

/// A hold created with a decrement: a row holding the amount taken, expiring after `ttl`
/// (`None`: never; the known-bad setting whose holds a lost release leaves stuck) as `expiry`
/// says.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Hold {
    pub key: u64,
    pub ttl: Option<Duration>,
    pub expiry: Expiry,
}

/// How a hold's time runs out.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Expiry {
    /// A TTL (Redis `EXPIRE`): the store deletes the row when it is due and sends a keyspace
    /// event, at most once, for a [`Restocker`] to give the amount back.
    #[default]
    Ttl,
    /// A deadline kept beside the row: the store keeps the row until an [`Op::Reap`] deletes
    /// it and gives its amount back in the same step.
    Deadline,
}

/// How expired holds give their amounts back (a design's choice, in its config).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum Reaper {
    /// Holds with a TTL; a reaper gives back what the keyspace events it receives name
    /// (fire-and-forget: an event lost leaks its amount).
    #[default]
    Events,
    /// Holds with a deadline; a reaper runs [`Op::Reap`] on every counter each `every`.
    Sweep { every: Duration },
}

impl Reaper {
    /// How the holds of a design with this reaper expire.
    pub fn expiry(&self) -> Expiry {
        match self {
            Reaper::Events => Expiry::Ttl,
            Reaper::Sweep { .. } => Expiry::Deadline,
        }
    }

    pub fn validate(&self, path: &str) -> Vec<(String, String)> {
        match self {
            Reaper::Sweep { every } if every.0 == 0 => vec![(format!("{path}.every"), "must be positive".into())],
            _ => Vec::new(),
        }
    }
}

/// An operation on the store.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Op {
    Get {
        key: u64,
    },
    /// Sets the value; `ttl: None` clears any TTL (Redis `SET`).
    Put {
        key: u64,
        value: i64,
        ttl: Option<Duration>,
    },
    /// Sets the value if the row's version is `version` (0: only if the row does not exist), and
    /// creates `hold` (holding `held`) in the same step, as a transaction's `UPDATE` and `INSERT`.
    Cas {
        key: u64,
        version: u64,
        value: i64,
        ttl: Option<Duration>,
        hold: Option<(Hold, i64)>,
    },
    /// Adds `by` (a missing row counts as 0); keeps the TTL.
    Incr {
        key: u64,
        by: i64,
    },
    /// If the value is at least `n`: subtracts `n` and creates `hold` (holding `n`), atomically.
    DecrIfAtLeast {
        key: u64,
        n: i64,
        hold: Option<Hold>,
    },
    Delete {
        key: u64,
    },
    /// If `hold` is still there (and, with a deadline, not past it): deletes it and adds its
    /// amount to `into`, atomically.
    ReleaseHold {
        hold: u64,
        into: u64,
    },
    /// Deletes every hold with a deadline that shares `counter`'s tag and whose deadline has
    /// passed, and adds their amounts to `counter`, atomically.
    Reap {
        counter: u64,
    },
}

impl Op {
    /// The key that routes the operation.
    pub fn key(&self) -> u64 {
        match *self {
            Op::Get { key }
            | Op::Put { key, .. }
            | Op::Cas { key, .. }
            | Op::Incr { key, .. }
            | Op::DecrIfAtLeast { key, .. }
            | Op::Delete { key }
            | Op::Reap { counter: key } => key,
            Op::ReleaseHold { hold, .. } => hold,
        }
    }

    pub fn is_read(&self) -> bool {
        matches!(self, Op::Get { .. })
    }

    /// Every key it touches.
    fn keys(&self) -> [Option<u64>; 2] {
        match *self {
            Op::DecrIfAtLeast { key, hold, .. } => [Some(key), hold.map(|h| h.key)],
            Op::Cas { key, hold, .. } => [Some(key), hold.map(|(h, _)| h.key)],
            Op::ReleaseHold { hold, into } => [Some(hold), Some(into)],
            o => [Some(o.key()), None],
        }
    }
}

/// The answer to an [`Op`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KvResult {
    Found {
        value: i64,
        version: u64,
    },
    NotFound,
    /// A write applied: the row's value and version after it.
    Written {
        value: i64,
        version: u64,
    },
    /// A conditional write refused (a CAS on another version, a decrement below `n`): the row's
    /// current value and version (0 and 0 for a missing row).
    Conflict {
        value: i64,
        version: u64,
    },
    /// `Delete` / `ReleaseHold`: whether the row was there (and so was removed).
    Deleted {
        existed: bool,
    },
    /// `Reap`: how many holds it deleted and the amount they gave back.
    Reaped {
        holds: u64,
        amount: i64,
    },
    /// The server's pool refused it: retry.
    Busy,
    /// A write sent to a follower.
    NotPrimary,
    /// The keys of a multi-key operation live on different shards.
    CrossShard,
}

impl KvResult {
    /// How a [`Calls`] caller treats it.
    pub fn answer(&self) -> Answer {
        match self {
            KvResult::Busy => Answer::Retryable,
            KvResult::NotPrimary | KvResult::CrossShard => Answer::Fatal,
            _ => Answer::Ok,
        }
    }
}

/// Why a log entry was written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Cause {
    /// A caller's write, with its idempotency token and the answer it got.
    Write { token: u64, result: KvResult },
    /// The expiry of the row `key`, which held `value`.
    Expiry { key: u64, value: i64 },
}

/// One entry of a shard's log: what the store persists and replicates. `changes` holds each
/// touched row after the write (`None`: deleted).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    pub seq: u64,
    pub changes: Vec<(u64, Option<Row>)>,
    pub cause: Cause,
}

/// A design's disk record that may hold a store's log entry.
pub trait AsEntry {
    fn as_entry(&self) -> Option<&Entry>;
}

impl AsEntry for Entry {
    fn as_entry(&self) -> Option<&Entry> {
        Some(self)
    }
}

#[derive(Clone, Debug)]
pub enum Msg {
    /// An operation; `token` is the call's idempotency token (the same on every retry).
    Req {
        id: ReqId,
        token: u64,
        op: Op,
    },
    Resp {
        id: ReqId,
        result: KvResult,
    },
    /// Log entries, primary to follower, in order.
    Replicate {
        entries: Vec<Entry>,
    },
    /// A follower's progress: it has applied the log up to `applied`.
    ReplAck {
        applied: u64,
    },
    /// A keyspace event: `key` expired, holding `value`. Fire-and-forget.
    Expired {
        key: u64,
        value: i64,
    },
}

impl Msg {
    /// Whether a server handles it (the rest go to callers and subscribers).
    pub fn is_for_server(&self) -> bool {
        matches!(self, Msg::Req { .. } | Msg::Replicate { .. } | Msg::ReplAck { .. })
    }
}

impl Message for Msg {
    fn kind(&self) -> &'static str {
        match self {
            Msg::Req { .. } => "kv_req",
            Msg::Resp { .. } => "kv_resp",
            Msg::Replicate { .. } => "kv_replicate",
            Msg::ReplAck { .. } => "kv_repl_ack",
            Msg::Expired { .. } => "kv_expired",
        }
    }
    fn size_bytes(&self) -> u64 {
        match self {
            Msg::Replicate { entries } => 64 + entries.iter().map(|e| 32 + 40 * e.changes.len() as u64).sum::<u64>(),
            _ => 128,
        }
    }
}

/// A server's own timers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Timer {
    /// Expiry cycle, resends (primary); progress report (follower).
    Tick,
    /// Ship the durable log to the followers.
    Ship,
    /// A sweeping [`Restocker`]'s next round of [`Op::Reap`].
    Sweep,
}

/// A host that can carry a store server: its messages, timers (the server's and its pool's) and
/// disk records.
pub trait KvHost: Actor<Msg: From<Msg>, Timer: From<Timer> + From<PoolTimer>, Record: From<Entry> + AsEntry> {}
impl<A> KvHost for A
where
    A: Actor,
    A::Msg: From<Msg>,
    A::Timer: From<Timer> + From<PoolTimer>,
    A::Record: From<Entry> + AsEntry,
{
}

/// Counts of a server, summed over the store's nodes in a design's report.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct KvStats {
    pub gets: u64,
    pub follower_reads: u64,
    pub writes: u64,
    /// Conditional writes refused (CAS version mismatch, decrement below `n`).
    pub conflicts: u64,
    pub expired: u64,
    pub events_sent: u64,
    /// Writes answered from the idempotency table instead of applied again.
    pub dedup_hits: u64,
    pub busy: u64,
    pub entries_shipped: u64,
    pub entries_resent: u64,
}

impl KvStats {
    pub fn add(&mut self, o: &KvStats) {
        self.gets += o.gets;
        self.follower_reads += o.follower_reads;
        self.writes += o.writes;
        self.conflicts += o.conflicts;
        self.expired += o.expired;
        self.events_sent += o.events_sent;
        self.dedup_hits += o.dedup_hits;
        self.busy += o.busy;
        self.entries_shipped += o.entries_shipped;
        self.entries_resent += o.entries_resent;
    }
}

/// A request waiting in the server's pool.
#[derive(Debug)]
pub struct Job {
    from: NodeId,
    id: ReqId,
    token: u64,
    op: Op,
}

#[derive(Debug)]
struct Follower {
    node: NodeId,
    /// What it reported it has applied; `None` until it reports (after a restart of either).
    acked: Option<u64>,
    /// Entries up to here were shipped.
    shipped: u64,
    /// When entries were last sent, on the monotonic clock (the resend waits an elapsed time).
    last_sent: Time,
}

#[derive(Debug)]
enum Role {
    Primary {
        followers: Vec<Follower>,
        /// The whole log, `log[i].seq == i + 1` (rebuilt from the disk on restart).
        log: Vec<Entry>,
        /// Highest durable sequence number.
        durable: u64,
        writes: BTreeMap<WriteId, u64>,
        /// Answers waiting for the log to be durable up to their sequence number.
        outbox: VecDeque<(u64, NodeId, ReqId, KvResult)>,
        ship_pending: bool,
        expiries: BTreeSet<(Time, u64)>,
        dedupe: BTreeMap<u64, (u64, KvResult)>,
        dedupe_order: VecDeque<u64>,
        subscribers: Vec<NodeId>,
        /// This node's share of the level `repl_backlog`.
        backlog: i64,
    },
    Follower {
        primary: NodeId,
        applied: u64,
        early: BTreeMap<u64, Entry>,
    },
}

/// One server of the store: a primary or a follower of one shard (see the module docs).
#[derive(Debug)]
pub struct KvServer {
    scope: &'static str,
    spec: KvSpec,
    map: ShardMap,
    shard: usize,
    rows: BTreeMap<u64, Row>,
    /// A primary's holds with a deadline, by (tag, deadline): the sorted sets `Reap` reads.
    deadlines: BTreeSet<(u64, Time, u64)>,
    preload: Vec<(u64, i64)>,
    pool: Pool<Job>,
    role: Role,
    pub stats: KvStats,
}

impl KvServer {
    /// The server on `node` (which must be in `map`), counting under `scope`. A primary sends
    /// keyspace events to `subscribers`.
    pub fn new(scope: &'static str, spec: &KvSpec, map: &ShardMap, node: NodeId, subscribers: &[NodeId]) -> KvServer {
        let (shard, primary) = map.role_of(node).expect("a store server's node is in the shard map");
        let role = if primary {
            Role::Primary {
                followers: map
                    .followers(shard)
                    .iter()
                    .map(|&n| Follower { node: n, acked: None, shipped: 0, last_sent: Time::ZERO })
                    .collect(),
                log: Vec::new(),
                durable: 0,
                writes: BTreeMap::new(),
                outbox: VecDeque::new(),
                ship_pending: false,
                expiries: BTreeSet::new(),
                dedupe: BTreeMap::new(),
                dedupe_order: VecDeque::new(),
                subscribers: subscribers.to_vec(),
                backlog: 0,
            }
        } else {
            Role::Follower { primary: map.primary(shard), applied: 0, early: BTreeMap::new() }
        };
        KvServer {
            scope,
            spec: spec.clone(),
            map: map.clone(),
            shard,
            rows: BTreeMap::new(),
            deadlines: BTreeSet::new(),
            preload: Vec::new(),
            pool: Pool::new(scope, spec.pool.clone()),
            role,
            stats: KvStats::default(),
        }
    }

    /// The store's contents before the run (a snapshot every start begins from; the log is
    /// replayed over it). Keys of other shards are ignored.
    pub fn preload(&mut self, rows: impl IntoIterator<Item = (u64, i64)>) {
        let (map, shard) = (&self.map, self.shard);
        self.preload.extend(rows.into_iter().filter(|(k, _)| map.shard_of(*k) == shard));
    }

    pub fn shard(&self) -> usize {
        self.shard
    }

    pub fn is_primary(&self) -> bool {
        matches!(self.role, Role::Primary { .. })
    }

    /// The rows as this server has them (a follower's may be stale).
    pub fn rows(&self) -> &BTreeMap<u64, Row> {
        &self.rows
    }

    /// The pool's counts (its queueing, rejections, busy time).
    pub fn pool_stats(&self) -> &crate::pool::PoolStats {
        &self.pool.stats
    }

    /// A primary's log, every entry since the start (empty for a follower, which keeps none).
    pub fn log(&self) -> &[Entry] {
        match &self.role {
            Role::Primary { log, .. } => log,
            Role::Follower { .. } => &[],
        }
    }

    /// The highest log sequence number this server has (applied, for a follower).
    pub fn log_seq(&self) -> u64 {
        match &self.role {
            Role::Primary { log, .. } => log.len() as u64,
            Role::Follower { applied, .. } => *applied,
        }
    }

    /// Starts (or restarts) the server: the preload, then the log from the disk; the tick.
    pub fn on_start<A: KvHost>(&mut self, ctx: &mut Ctx<'_, A>) {
        for &(k, v) in &self.preload {
            self.rows.insert(k, Row::new(v, 1, None));
        }
        let entries: Vec<Entry> = ctx.durable().iter().filter_map(|r| r.as_entry()).cloned().collect();
        for e in entries {
            match &mut self.role {
                Role::Primary { log, durable, dedupe, dedupe_order, .. } => {
                    if e.seq != log.len() as u64 + 1 {
                        continue; // written in order and lost only at the tail: never a gap
                    }
                    apply_changes(&mut self.rows, &e.changes);
                    *durable = e.seq;
                    if let Cause::Write { token, result } = e.cause {
                        remember(dedupe, dedupe_order, self.spec.dedupe, token, e.seq, result);
                    }
                    log.push(e);
                }
                Role::Follower { applied, .. } => {
                    apply_changes(&mut self.rows, &e.changes);
                    *applied = e.seq;
                }
            }
        }
        if let Role::Primary { expiries, followers, .. } = &mut self.role {
            expiries.extend(self.rows.iter().filter_map(|(k, r)| r.expires.map(|t| (t, *k))));
            self.deadlines.extend(self.rows.iter().filter_map(|(k, r)| r.deadline.map(|t| (route_of(*k), t, *k))));
            for f in followers {
                f.last_sent = ctx.monotonic();
            }
        }
        crate::set_timer(ctx, self.spec.expiry_tick, Timer::Tick);
    }

    /// A message for the server (see [`Msg::is_for_server`]; others are ignored).
    pub fn on_msg<A: KvHost>(&mut self, ctx: &mut Ctx<'_, A>, from: NodeId, msg: Msg) {
        match msg {
            Msg::Req { id, token, op } => self.on_request(ctx, from, id, token, op),
            Msg::Replicate { entries } => self.on_replicate(ctx, entries),
            Msg::ReplAck { applied } => {
                if let Role::Primary { followers, .. } = &mut self.role
                    && let Some(f) = followers.iter_mut().find(|f| f.node == from)
                {
                    f.acked = Some(applied);
                    f.shipped = f.shipped.max(applied);
                    self.update_backlog(ctx);
                }
            }
            Msg::Resp { .. } | Msg::Expired { .. } => {}
        }
    }

    fn on_request<A: KvHost>(&mut self, ctx: &mut Ctx<'_, A>, from: NodeId, id: ReqId, token: u64, op: Op) {
        if !op.is_read() && !self.is_primary() {
            crate::send(ctx, from, Msg::Resp { id, result: KvResult::NotPrimary });
            return;
        }
        match self.pool.submit(ctx, Job { from, id, token, op }) {
            Admit::Started | Admit::Queued => {}
            Admit::Rejected(j) | Admit::Dropped(j) => self.busy(ctx, j),
        }
    }

    fn busy<A: KvHost>(&mut self, ctx: &mut Ctx<'_, A>, j: Job) {
        self.stats.busy += 1;
        crate::send(ctx, j.from, Msg::Resp { id: j.id, result: KvResult::Busy });
    }

    /// A [`PoolTimer`] of this server's pool: an operation's service is over; it is applied now.
    pub fn on_pool_timer<A: KvHost>(&mut self, ctx: &mut Ctx<'_, A>, t: PoolTimer) {
        if let Some(job) = self.pool.on_timer(ctx, t) {
            self.apply(ctx, job);
        }
        for j in self.pool.take_shed() {
            self.busy(ctx, j);
        }
    }

    fn apply<A: KvHost>(&mut self, ctx: &mut Ctx<'_, A>, job: Job) {
        let now = ctx.now();
        let Job { from, id, token, op } = job;
        if op.keys().iter().flatten().any(|&k| self.map.shard_of(k) != self.shard) {
            crate::send(ctx, from, Msg::Resp { id, result: KvResult::CrossShard });
            return;
        }
        if !self.is_primary() {
            self.stats.gets += 1;
            self.stats.follower_reads += 1;
            let result = match self.rows.get(&op.key()) {
                Some(r) => KvResult::Found { value: r.value, version: r.version },
                None => KvResult::NotFound,
            };
            crate::send(ctx, from, Msg::Resp { id, result });
            return;
        }
        // Lazy expiry: an expired row the operation touches is deleted first.
        for k in op.keys().into_iter().flatten() {
            if self.rows.get(&k).is_some_and(|r| r.expires.is_some_and(|t| t <= now)) {
                self.expire(ctx, k);
            }
        }
        if !op.is_read()
            && let Role::Primary { dedupe, .. } = &self.role
            && let Some(&(seq, result)) = dedupe.get(&token)
        {
            self.stats.dedup_hits += 1;
            ctx.count_in(self.scope, "dedup_hits", 1);
            self.answer(ctx, seq, from, id, result);
            return;
        }
        let (result, changes) = self.decide(op, now);
        match op {
            Op::Get { .. } => {
                self.stats.gets += 1;
            }
            _ if changes.is_empty() => {
                if matches!(result, KvResult::Conflict { .. }) {
                    self.stats.conflicts += 1;
                }
            }
            _ => {
                self.stats.writes += 1;
            }
        }
        let seq = if changes.is_empty() || op.is_read() {
            self.log_seq()
        } else {
            self.append(ctx, changes, Cause::Write { token, result })
        };
        if !op.is_read()
            && let Role::Primary { dedupe, dedupe_order, .. } = &mut self.role
        {
            remember(dedupe, dedupe_order, self.spec.dedupe, token, seq, result);
        }
        self.answer(ctx, seq, from, id, result);
    }

    /// What `op` answers and which rows it changes, on the current rows.
    fn decide(&self, op: Op, now: Time) -> (KvResult, Vec<(u64, Option<Row>)>) {
        let row = |k: u64| self.rows.get(&k).copied();
        let version = |k: u64| row(k).map_or(0, |r| r.version);
        let written = |k: u64, value: i64, expires: Option<Time>| Row::new(value, version(k) + 1, expires);
        // The row `k` with `by` added (a missing row counts as 0), keeping its TTL.
        let added = |k: u64, by: i64| {
            let old = row(k);
            written(k, old.map_or(0, |r| r.value).saturating_add(by), old.and_then(|r| r.expires))
        };
        let conflict = |k: u64| {
            let r = row(k);
            KvResult::Conflict { value: r.map_or(0, |r| r.value), version: r.map_or(0, |r| r.version) }
        };
        let ok = |r: Row| KvResult::Written { value: r.value, version: r.version };
        // The row of a hold created beside a write, holding `amount`.
        let hold_row = |h: Hold, amount: i64| {
            let due = h.ttl.map(|d| now + d);
            let r = match h.expiry {
                Expiry::Ttl => written(h.key, amount, due),
                Expiry::Deadline => Row { deadline: due, ..written(h.key, amount, None) },
            };
            (h.key, Some(r))
        };
        match op {
            Op::Get { key } => match row(key) {
                Some(r) => (KvResult::Found { value: r.value, version: r.version }, Vec::new()),
                None => (KvResult::NotFound, Vec::new()),
            },
            Op::Put { key, value, ttl } => {
                let r = written(key, value, ttl.map(|d| now + d));
                (ok(r), vec![(key, Some(r))])
            }
            Op::Cas { key, version: v, value, ttl, hold } => {
                if version(key) != v {
                    return (conflict(key), Vec::new());
                }
                let r = written(key, value, ttl.map(|d| now + d));
                let mut changes = vec![(key, Some(r))];
                changes.extend(hold.map(|(h, held)| hold_row(h, held)));
                (ok(r), changes)
            }
            Op::Incr { key, by } => {
                let r = added(key, by);
                (ok(r), vec![(key, Some(r))])
            }
            Op::DecrIfAtLeast { key, n, hold } => {
                let old = row(key);
                let have = old.map_or(0, |r| r.value);
                if have < n {
                    return (conflict(key), Vec::new());
                }
                let r = written(key, have - n, old.and_then(|r| r.expires));
                let mut changes = vec![(key, Some(r))];
                changes.extend(hold.map(|h| hold_row(h, n)));
                (ok(r), changes)
            }
            // A hold past its deadline is the reaper's: deleting it (a confirm) finds nothing.
            Op::Delete { key } => match row(key).filter(|h| h.deadline.is_none_or(|t| t > now)) {
                Some(_) => (KvResult::Deleted { existed: true }, vec![(key, None)]),
                None => (KvResult::Deleted { existed: false }, Vec::new()),
            },
            Op::ReleaseHold { hold, into } => match row(hold).filter(|h| h.deadline.is_none_or(|t| t > now)) {
                Some(h) => {
                    (KvResult::Deleted { existed: true }, vec![(hold, None), (into, Some(added(into, h.value)))])
                }
                None => (KvResult::Deleted { existed: false }, Vec::new()),
            },
            Op::Reap { counter } => {
                let tag = route_of(counter);
                let due: Vec<u64> =
                    self.deadlines.range((tag, Time::ZERO, 0)..=(tag, now, u64::MAX)).map(|d| d.2).collect();
                let amount: i64 = due.iter().filter_map(|&k| row(k)).map(|r| r.value).sum();
                let reaped = KvResult::Reaped { holds: due.len() as u64, amount };
                if due.is_empty() {
                    return (reaped, Vec::new());
                }
                let mut changes: Vec<(u64, Option<Row>)> = due.into_iter().map(|k| (k, None)).collect();
                changes.push((counter, Some(added(counter, amount))));
                (reaped, changes)
            }
        }
    }

    /// Deletes the expired row `key` (a logged write that sends a keyspace event when durable).
    fn expire<A: KvHost>(&mut self, ctx: &mut Ctx<'_, A>, key: u64) {
        let Some(r) = self.rows.get(&key).copied() else { return };
        self.stats.expired += 1;
        ctx.count_in(self.scope, "expired", 1);
        self.append(ctx, vec![(key, None)], Cause::Expiry { key, value: r.value });
    }

    /// Applies `changes` on the primary, logs and persists them; the entry's sequence number.
    fn append<A: KvHost>(&mut self, ctx: &mut Ctx<'_, A>, changes: Vec<(u64, Option<Row>)>, cause: Cause) -> u64 {
        let Role::Primary { log, writes, expiries, .. } = &mut self.role else { unreachable!("only primaries write") };
        let deadlines = &mut self.deadlines;
        for (k, new) in &changes {
            let old = self.rows.get(k);
            if let Some(t) = old.and_then(|r| r.expires) {
                expiries.remove(&(t, *k));
            }
            if let Some(t) = old.and_then(|r| r.deadline) {
                deadlines.remove(&(route_of(*k), t, *k));
            }
            if let Some(t) = new.and_then(|r| r.expires) {
                expiries.insert((t, *k));
            }
            if let Some(t) = new.and_then(|r| r.deadline) {
                deadlines.insert((route_of(*k), t, *k));
            }
        }
        apply_changes(&mut self.rows, &changes);
        let seq = log.len() as u64 + 1;
        let entry = Entry { seq, changes, cause };
        log.push(entry.clone());
        let w = if self.spec.fsync { ctx.persist(entry.into()) } else { ctx.persist_buffered(entry.into()) };
        writes.insert(w, seq);
        seq
    }

    /// Sends `result` once the log is durable up to `seq`.
    fn answer<A: KvHost>(&mut self, ctx: &mut Ctx<'_, A>, seq: u64, to: NodeId, id: ReqId, result: KvResult) {
        match &mut self.role {
            Role::Primary { durable, outbox, .. } if seq > *durable => outbox.push_back((seq, to, id, result)),
            _ => crate::send(ctx, to, Msg::Resp { id, result }),
        }
    }

    /// A write of this server reached the disk: answers waiting for it go out, expiry events are
    /// sent, the followers get the entries. False when the write was not this part's.
    pub fn on_persisted<A: KvHost>(&mut self, ctx: &mut Ctx<'_, A>, w: WriteId) -> bool {
        let Role::Primary { writes, durable, outbox, log, subscribers, .. } = &mut self.role else {
            return false; // a follower's page-cache writes need nothing
        };
        let Some(seq) = writes.remove(&w) else { return false };
        let from = *durable;
        *durable = (*durable).max(seq);
        while let Some(&(s, to, id, result)) = outbox.front() {
            if s > *durable {
                break;
            }
            outbox.pop_front();
            crate::send(ctx, to, Msg::Resp { id, result });
        }
        for e in &log[from as usize..*durable as usize] {
            if let Cause::Expiry { key, value } = e.cause {
                for &s in subscribers.iter() {
                    self.stats.events_sent += 1;
                    ctx.count_in(self.scope, "events", 1);
                    crate::send(ctx, s, Msg::Expired { key, value });
                }
            }
        }
        self.ship(ctx, false);
        true
    }

    /// Ships the durable log the followers have not been sent; after the replication lag unless
    /// `now` (the lag's timer fired).
    fn ship<A: KvHost>(&mut self, ctx: &mut Ctx<'_, A>, now: bool) {
        let Role::Primary { followers, ship_pending, .. } = &mut self.role else { return };
        if followers.is_empty() {
            return;
        }
        if !now {
            if *ship_pending {
                return;
            }
            let lag = self.spec.replication.lag.sample(ctx.rng());
            if lag.0 > 0 {
                *ship_pending = true;
                crate::set_timer(ctx, lag, Timer::Ship);
                return;
            }
        }
        *ship_pending = false;
        let Role::Primary { followers, log, durable, .. } = &mut self.role else { return };
        let t = ctx.monotonic();
        for f in followers.iter_mut() {
            if f.shipped >= *durable {
                continue;
            }
            let entries = log[f.shipped as usize..*durable as usize].to_vec();
            self.stats.entries_shipped += entries.len() as u64;
            f.shipped = *durable;
            f.last_sent = t;
            crate::send(ctx, f.node, Msg::Replicate { entries });
        }
        self.update_backlog(ctx);
    }

    /// Moves this primary's share of `scope.repl_backlog` to what its followers miss now.
    fn update_backlog<A: KvHost>(&mut self, ctx: &mut Ctx<'_, A>) {
        let Role::Primary { followers, durable, backlog, .. } = &mut self.role else { return };
        let now: i64 = followers.iter().filter_map(|f| f.acked).map(|a| durable.saturating_sub(a) as i64).sum();
        ctx.level(self.scope, "repl_backlog", now - *backlog);
        *backlog = now;
    }

    fn on_replicate<A: KvHost>(&mut self, ctx: &mut Ctx<'_, A>, entries: Vec<Entry>) {
        let Role::Follower { primary, applied, early } = &mut self.role else { return };
        for e in entries {
            if e.seq > *applied {
                early.insert(e.seq, e);
            }
        }
        while let Some(e) = early.remove(&(*applied + 1)) {
            apply_changes(&mut self.rows, &e.changes);
            *applied = e.seq;
            ctx.persist_buffered(e.into());
        }
        let (primary, applied) = (*primary, *applied);
        crate::send(ctx, primary, Msg::ReplAck { applied });
    }

    /// A timer of this server ([`Timer`]).
    pub fn on_timer<A: KvHost>(&mut self, ctx: &mut Ctx<'_, A>, t: Timer) {
        match t {
            Timer::Ship => self.ship(ctx, true),
            Timer::Sweep => {} // a restocker's
            Timer::Tick => {
                crate::set_timer(ctx, self.spec.expiry_tick, Timer::Tick);
                self.tick(ctx);
            }
        }
    }

    fn tick<A: KvHost>(&mut self, ctx: &mut Ctx<'_, A>) {
        // Keys expire by the wall clock, as Redis's EXPIRE does; the resend measures elapsed time.
        let (now, mono) = (ctx.now(), ctx.monotonic());
        let resend = self.spec.replication.resend;
        match &mut self.role {
            Role::Follower { primary, applied, .. } => {
                let (p, a) = (*primary, *applied);
                crate::send(ctx, p, Msg::ReplAck { applied: a });
            }
            Role::Primary { expiries, .. } => {
                let due: Vec<u64> = expiries.iter().take_while(|(t, _)| *t <= now).map(|(_, k)| *k).collect();
                for k in due {
                    self.expire(ctx, k);
                }
                let Role::Primary { followers, log, durable, .. } = &mut self.role else { return };
                for f in followers.iter_mut() {
                    let Some(acked) = f.acked else { continue };
                    if acked >= *durable || mono.since(f.last_sent) < resend {
                        continue;
                    }
                    let entries = log[acked as usize..*durable as usize].to_vec();
                    self.stats.entries_resent += entries.len() as u64;
                    ctx.count_in(self.scope, "resent", entries.len() as u64);
                    f.shipped = *durable;
                    f.last_sent = mono;
                    crate::send(ctx, f.node, Msg::Replicate { entries });
                }
            }
        }
    }
}

fn apply_changes(rows: &mut BTreeMap<u64, Row>, changes: &[(u64, Option<Row>)]) {
    for (k, r) in changes {
        match r {
            Some(r) => rows.insert(*k, *r),
            None => rows.remove(k),
        };
    }
}

fn remember(
    dedupe: &mut BTreeMap<u64, (u64, KvResult)>,
    order: &mut VecDeque<u64>,
    cap: u32,
    token: u64,
    seq: u64,
    result: KvResult,
) {
    if cap == 0 || dedupe.insert(token, (seq, result)).is_some() {
        return;
    }
    order.push_back(token);
    while order.len() > cap as usize {
        if let Some(old) = order.pop_front() {
            dedupe.remove(&old);
        }
    }
}

/// Where a read goes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum ReadFrom {
    /// The shard's primary: fresh (reads wait for the log to be durable).
    #[default]
    Primary,
    /// A follower (round robin; the primary when the shard has none): may be stale by the
    /// replication lag, and keeps working while the primary is down.
    Follower,
}

/// A caller's side of the store: the shard map, and a downstream service per shard (primary) and
/// per shard's followers in the caller's [`Calls`].
#[derive(Clone, Debug)]
pub struct KvClient {
    map: ShardMap,
    primaries: Vec<ServiceId>,
    followers: Vec<ServiceId>,
}

impl KvClient {
    /// Adds the store's shards to `calls` (all under `scope`, with one policy: timeouts, retries,
    /// a breaker per shard).
    pub fn register<M: Clone, T>(
        calls: &mut Calls<M, T>,
        scope: &'static str,
        map: &ShardMap,
        policy: &CallPolicy,
    ) -> KvClient {
        let health = crate::balance::HealthSpec::default();
        let (mut primaries, mut followers) = (Vec::new(), Vec::new());
        for s in 0..map.shards() {
            let p = map.primary(s);
            primaries.push(calls.add(scope, &[p], policy.clone(), crate::balance::Policy::RoundRobin, health.clone()));
            let f = if map.followers(s).is_empty() { vec![p] } else { map.followers(s).to_vec() };
            followers.push(calls.add(scope, &f, policy.clone(), crate::balance::Policy::RoundRobin, health.clone()));
        }
        KvClient { map: map.clone(), primaries, followers }
    }

    pub fn map(&self) -> &ShardMap {
        &self.map
    }

    /// Sends `op` to its shard (reads where `read` says; writes to the primary). `Err` when the
    /// call ends at once (breaker open).
    pub fn call<A, M, T>(
        &self,
        calls: &mut Calls<M, T>,
        ctx: &mut Ctx<'_, A>,
        op: Op,
        read: ReadFrom,
        data: T,
    ) -> Result<ReqId, Done<T>>
    where
        M: From<Msg> + Clone,
        A: Actor<Msg: From<M>, Timer: From<CallTimer>>,
    {
        let shard = self.map.shard_of(op.key());
        let svc =
            if op.is_read() && read == ReadFrom::Follower { self.followers[shard] } else { self.primaries[shard] };
        let token = ctx.rng().next_u64();
        calls.call(ctx, svc, op.key(), |id| M::from(Msg::Req { id, token, op }), data)
    }

    /// A [`Msg::Resp`] arrived: the call's end, with the store's answer, if this ends it (a
    /// `Busy` is retried by `calls`).
    pub fn on_response<A, M, T>(
        calls: &mut Calls<M, T>,
        ctx: &mut Ctx<'_, A>,
        id: ReqId,
        result: KvResult,
    ) -> Option<(Done<T>, KvResult)>
    where
        M: Clone,
        A: Actor<Msg: From<M>, Timer: From<CallTimer>>,
    {
        calls.reply(ctx, id, result.answer()).map(|d| (d, result))
    }
}

/// What a [`Restocker`] did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RestockStats {
    /// Keyspace events received ([`Reaper::Events`]).
    pub events: u64,
    /// Amounts given back (acknowledged increments, or reaps).
    pub restocked: u64,
    /// Amounts whose increment failed (timed out: maybe applied, maybe not).
    pub failed: u64,
    /// Reap scripts sent ([`Reaper::Sweep`]) and those whose call failed (the next sweep does
    /// their work).
    pub reaps: u64,
    pub reaps_failed: u64,
    /// Holds the acknowledged reaps deleted.
    pub holds_reaped: u64,
}

impl RestockStats {
    pub fn add(&mut self, o: &RestockStats) {
        self.events += o.events;
        self.restocked += o.restocked;
        self.failed += o.failed;
        self.reaps += o.reaps;
        self.reaps_failed += o.reaps_failed;
        self.holds_reaped += o.holds_reaped;
    }
}

/// What a call of the restocker carries: the amount of an increment, or the index (in
/// `counters`) of the counter a reap was for.
#[derive(Clone, Copy, Debug)]
enum Work {
    Incr(i64),
    Reap(usize),
}

/// The node that gives back what expired holds held, as the design's [`Reaper`] says:
/// - `Events`: on the keyspace event of a hold `tagged(t, s)` (`s != 0`) it adds the hold's
///   amount back to its counter `tagged(t, 0)` (the counter shares the tag, so the shard). It
///   is named as a subscriber of the store's servers. Events are fire-and-forget: one it never
///   receives leaks its amount.
/// - `Sweep`: every `every` it runs [`Op::Reap`] on each counter (one call per counter at a
///   time), which deletes the holds past their deadline and gives their amounts back in one
///   step; nothing is lost with a message.
pub struct Restocker<M> {
    calls: Calls<M, Work>,
    kv: KvClient,
    reaper: Reaper,
    /// The counters a sweep reaps into, and whether a reap of each is in flight.
    counters: Vec<(u64, bool)>,
    pub stats: RestockStats,
}

impl<M: From<Msg> + Clone> Restocker<M> {
    /// A restocker for `reaper`; a sweep reaps holds into `counters`.
    pub fn new(scope: &'static str, map: &ShardMap, policy: &CallPolicy, reaper: Reaper, counters: &[u64]) -> Self {
        let mut calls = Calls::new();
        let kv = KvClient::register(&mut calls, scope, map, policy);
        let counters = counters.iter().map(|&c| (c, false)).collect();
        Restocker { calls, kv, reaper, counters, stats: RestockStats::default() }
    }

    /// Starts (or restarts) the restocker: a sweeping one sets its first sweep.
    pub fn on_start<A: Actor<Msg: From<M>, Timer: From<CallTimer> + From<Timer>>>(&mut self, ctx: &mut Ctx<'_, A>) {
        if let Reaper::Sweep { every } = self.reaper {
            crate::set_timer(ctx, every, Timer::Sweep);
        }
    }

    /// A message for the restocker: an event, or the store's answer to an increment or a reap.
    pub fn on_msg<A: Actor<Msg: From<M>, Timer: From<CallTimer>>>(&mut self, ctx: &mut Ctx<'_, A>, msg: Msg) {
        match msg {
            Msg::Expired { key, value } => {
                self.stats.events += 1;
                let Some((tag, sub)) = untag(key) else { return };
                if sub == 0 || self.reaper != Reaper::Events {
                    return; // a counter's expiry, or a sweeping reaper's: nothing to give back here
                }
                let op = Op::Incr { key: tagged(tag, 0), by: value };
                if let Err(d) = self.kv.call(&mut self.calls, ctx, op, ReadFrom::Primary, Work::Incr(value)) {
                    self.done(d, None);
                }
            }
            Msg::Resp { id, result } => {
                if let Some((d, r)) = KvClient::on_response(&mut self.calls, ctx, id, result) {
                    self.done(d, Some(r));
                }
            }
            _ => {}
        }
    }

    pub fn on_timer<A: Actor<Msg: From<M>, Timer: From<CallTimer>>>(&mut self, ctx: &mut Ctx<'_, A>, t: CallTimer) {
        if let Some(d) = self.calls.on_timer(ctx, t) {
            self.done(d, None);
        }
    }

    /// The store's timer kind, of which a restocker uses [`Timer::Sweep`].
    pub fn on_kv_timer<A>(&mut self, ctx: &mut Ctx<'_, A>, t: Timer)
    where
        A: Actor<Msg: From<M>, Timer: From<CallTimer> + From<Timer>>,
    {
        let (Timer::Sweep, Reaper::Sweep { every }) = (t, self.reaper) else { return };
        crate::set_timer(ctx, every, Timer::Sweep);
        for i in 0..self.counters.len() {
            let (counter, busy) = self.counters[i];
            if busy {
                continue;
            }
            self.stats.reaps += 1;
            self.counters[i].1 = true;
            let op = Op::Reap { counter };
            if let Err(d) = self.kv.call(&mut self.calls, ctx, op, ReadFrom::Primary, Work::Reap(i)) {
                self.done(d, None);
            }
        }
    }

    fn done(&mut self, d: Done<Work>, result: Option<KvResult>) {
        let ok = d.outcome == crate::calls::CallOutcome::Ok;
        match d.data {
            Work::Incr(v) if ok => self.stats.restocked += v as u64,
            Work::Incr(v) => self.stats.failed += v as u64,
            Work::Reap(i) => {
                self.counters[i].1 = false;
                match result {
                    Some(KvResult::Reaped { holds, amount }) if ok => {
                        self.stats.holds_reaped += holds;
                        self.stats.restocked += amount.max(0) as u64;
                    }
                    _ => self.stats.reaps_failed += 1,
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::calls::CallOutcome;
    use crate::testing::Bench;
    use sim_core::fault::{Fault, ScheduledFault};
    use sim_core::{Effect, Sim, SimConfig, Topology};

    /// A command for a test client, injected from outside.
    #[derive(Clone, Debug)]
    struct Cmd {
        op: Op,
        read: ReadFrom,
        tag: u64,
    }
    impl Message for Cmd {
        fn kind(&self) -> &'static str {
            "cmd"
        }
    }

    crate::wire! { enum TMsg { Kv(Msg), Cmd(Cmd) } }
    crate::wire! { timers enum TTimer { Kv(Timer), Pool(PoolTimer), Call(CallTimer) } }

    /// What a test client saw: (tag, outcome, the store's answer, local time) and events.
    #[derive(Default)]
    struct Seen {
        results: Vec<(u64, CallOutcome, Option<KvResult>, Time)>,
        events: Vec<(u64, i64)>,
    }

    enum TNode {
        Server(Box<KvServer>),
        Client { calls: Calls<TMsg, u64>, kv: KvClient, seen: Seen },
    }

    impl TNode {
        fn server(&self) -> &KvServer {
            match self {
                TNode::Server(s) => s,
                TNode::Client { .. } => panic!("not a server"),
            }
        }
        fn seen(&self) -> &Seen {
            match self {
                TNode::Client { seen, .. } => seen,
                TNode::Server(_) => panic!("not a client"),
            }
        }
    }

    impl Actor for TNode {
        type Msg = TMsg;
        type Timer = TTimer;
        type Record = Entry;
        fn on_start(&mut self, ctx: &mut Ctx<'_, Self>) {
            if let TNode::Server(s) = self {
                s.on_start(ctx);
            }
        }
        fn on_msg(&mut self, ctx: &mut Ctx<'_, Self>, from: NodeId, msg: TMsg) {
            match (self, msg) {
                (TNode::Server(s), TMsg::Kv(m)) => s.on_msg(ctx, from, m),
                (TNode::Client { calls, kv, seen }, TMsg::Cmd(c)) => {
                    if let Err(d) = kv.call(calls, ctx, c.op, c.read, c.tag) {
                        seen.results.push((d.data, d.outcome, None, ctx.now()));
                    }
                }
                (TNode::Client { calls, seen, .. }, TMsg::Kv(Msg::Resp { id, result })) => {
                    if let Some((d, r)) = KvClient::on_response(calls, ctx, id, result) {
                        seen.results.push((d.data, d.outcome, Some(r), ctx.now()));
                    }
                }
                (TNode::Client { seen, .. }, TMsg::Kv(Msg::Expired { key, value })) => seen.events.push((key, value)),
                _ => {}
            }
        }
        fn on_timer(&mut self, ctx: &mut Ctx<'_, Self>, t: TTimer) {
            match (self, t) {
                (TNode::Server(s), TTimer::Kv(t)) => s.on_timer(ctx, t),
                (TNode::Server(s), TTimer::Pool(t)) => s.on_pool_timer(ctx, t),
                (TNode::Client { calls, seen, .. }, TTimer::Call(t)) => {
                    if let Some(d) = calls.on_timer(ctx, t) {
                        seen.results.push((d.data, d.outcome, None, ctx.now()));
                    }
                }
                _ => {}
            }
        }
        fn on_persisted(&mut self, ctx: &mut Ctx<'_, Self>, w: WriteId) {
            if let TNode::Server(s) = self {
                s.on_persisted(ctx, w);
            }
        }
    }

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    fn spec(replicas: u32) -> KvSpec {
        KvSpec {
            replicas,
            pool: PoolSpec { concurrency: 4, queue: 100, service: Dist::Constant(ms(1)), ..PoolSpec::default() },
            ..KvSpec::default()
        }
    }

    // ----- one server, detached: the apply rules -----

    /// A primary alone on a detached bench; `run` delivers requests and then plays the pool and
    /// disk (in the order they were set) until nothing is left.
    struct One {
        b: Bench<TNode>,
        node: TNode,
        answers: Vec<(ReqId, KvResult)>,
        events: Vec<(NodeId, u64, i64)>,
    }

    const SUB: NodeId = NodeId(5);
    const CALLER: NodeId = NodeId(6);

    impl One {
        fn new(spec: KvSpec, preload: &[(u64, i64)]) -> One {
            let map = ShardMap::new(&spec, &[NodeId(0)]);
            let mut s = KvServer::new("kv", &spec, &map, NodeId(0), &[SUB]);
            s.preload(preload.iter().copied());
            let mut one =
                One { b: Bench::new(), node: TNode::Server(Box::new(s)), answers: Vec::new(), events: Vec::new() };
            one.each(|s, ctx| s.on_start(ctx));
            one.b.fx.clear(); // the tick: fired by hand
            one
        }
        fn each(&mut self, f: impl FnOnce(&mut KvServer, &mut Ctx<'_, TNode>)) {
            let TNode::Server(s) = &mut self.node else { unreachable!() };
            self.b.with(|ctx| f(s, ctx));
        }
        fn server(&self) -> &KvServer {
            self.node.server()
        }
        /// Sends `ops` (with tokens) at once, then settles.
        fn run(&mut self, ops: &[(u64, Op)]) -> Vec<KvResult> {
            for (i, &(token, op)) in ops.iter().enumerate() {
                self.each(|s, ctx| s.on_msg(ctx, CALLER, Msg::Req { id: ReqId(i as u64), token, op }));
            }
            self.settle();
            let mut out: Vec<(ReqId, KvResult)> = std::mem::take(&mut self.answers);
            out.sort_by_key(|a| a.0);
            out.into_iter().map(|a| a.1).collect()
        }
        fn settle(&mut self) {
            loop {
                let fx: Vec<Effect<TNode>> = self.b.fx.drain(..).collect();
                if fx.is_empty() {
                    return;
                }
                for e in fx {
                    match e {
                        Effect::SetTimer { timer: TTimer::Pool(t), .. } => self.each(|s, ctx| s.on_pool_timer(ctx, t)),
                        Effect::Persist { id, record, .. } => {
                            self.b.durable.push(record);
                            self.each(|s, ctx| {
                                s.on_persisted(ctx, id);
                            });
                        }
                        Effect::Send { to, msg: TMsg::Kv(Msg::Resp { id, result }) } => {
                            assert_eq!(to, CALLER);
                            self.answers.push((id, result));
                        }
                        Effect::Send { to, msg: TMsg::Kv(Msg::Expired { key, value }) } => {
                            self.events.push((to, key, value))
                        }
                        _ => {}
                    }
                }
            }
        }
        fn tick(&mut self, at: Duration) {
            self.b.now = Time(at.0);
            self.each(|s, ctx| s.on_timer(ctx, Timer::Tick));
            self.settle();
        }
    }

    fn put(key: u64, value: i64) -> Op {
        Op::Put { key, value, ttl: None }
    }

    #[test]
    fn cas_applies_on_its_version_and_conflicts_otherwise() {
        let mut one = One::new(spec(1), &[]);
        assert_eq!(one.run(&[(1, put(7, 10))]), [KvResult::Written { value: 10, version: 1 }]);
        // Two writers read version 1 and both try to move it on: one wins, one conflicts.
        let cas = |value| Op::Cas { key: 7, version: 1, value, ttl: None, hold: None };
        let r = one.run(&[(2, cas(11)), (3, cas(12))]);
        assert_eq!(r, [KvResult::Written { value: 11, version: 2 }, KvResult::Conflict { value: 11, version: 2 }]);
        // Version 0 means "only if absent".
        let insert = |key| Op::Cas { key, version: 0, value: 1, ttl: None, hold: None };
        assert_eq!(one.run(&[(4, insert(7))]), [KvResult::Conflict { value: 11, version: 2 }]);
        assert_eq!(one.run(&[(5, insert(8))]), [KvResult::Written { value: 1, version: 1 }]);
        assert_eq!(one.server().stats.conflicts, 2);
        assert_eq!(one.server().rows()[&7], Row::new(11, 2, None));
    }

    #[test]
    fn conditional_decrement_never_goes_below_zero_under_concurrent_requests() {
        let stock = tagged(42, 0);
        let mut one = One::new(spec(1), &[(stock, 20)]);
        // 60 buyers at once, of 1 or 3 units, each with a hold: the pool runs 4 at a time and
        // queues the rest; each decision sees every earlier one.
        let ops: Vec<(u64, Op)> = (0..60u64)
            .map(|i| {
                let hold =
                    Some(Hold { key: tagged(42, 1 + i), ttl: Some(Duration::from_secs(60)), expiry: Expiry::Ttl });
                (100 + i, Op::DecrIfAtLeast { key: stock, n: if i % 3 == 0 { 3 } else { 1 }, hold })
            })
            .collect();
        let r = one.run(&ops);
        let rows = one.server().rows();
        let left = rows[&stock].value;
        assert!(left >= 0, "{left}");
        let mut taken = 0;
        for (i, res) in r.iter().enumerate() {
            let n = if i % 3 == 0 { 3 } else { 1 };
            match res {
                KvResult::Written { value, .. } => {
                    assert!(*value >= 0);
                    taken += n;
                    assert_eq!(rows[&tagged(42, 1 + i as u64)].value, n, "the hold holds what was taken");
                }
                KvResult::Conflict { value, .. } => {
                    assert!(*value < n, "refused only when short: had {value}, wanted {n}");
                    assert!(!rows.contains_key(&tagged(42, 1 + i as u64)), "no hold without the decrement");
                }
                other => panic!("{other:?}"),
            }
        }
        assert_eq!(taken, 20 - left);
        assert!(left < 1, "20 units, buyers of 1 left: all sold, {left} left");
        // A retry of a decrement that applied (same token) is answered again, not applied again.
        let again = one.run(&[ops[1]]);
        assert_eq!(again[0], r[1]);
        assert_eq!((one.server().rows()[&stock].value, one.server().stats.dedup_hits), (left, 1));
        // Multi-key operations must stay on one shard.
        let two = KvSpec { shards: 2, ..spec(1) };
        let map = ShardMap::new(&two, &[NodeId(0), NodeId(1)]);
        assert_eq!(map.shard_of(tagged(42, 0)), map.shard_of(tagged(42, 99)), "a tag routes as one");
    }

    #[test]
    fn ttl_expiry_deletes_the_row_and_sends_one_event() {
        let mut one = One::new(spec(1), &[]);
        let ttl = Some(Duration::from_secs(1));
        one.run(&[(1, Op::Put { key: 3, value: 30, ttl }), (2, Op::Put { key: 4, value: 40, ttl })]);
        let hold = Hold { key: tagged(9, 1), ttl: Some(ms(1500)), expiry: Expiry::Ttl };
        one.run(&[(3, put(tagged(9, 0), 5)), (4, Op::DecrIfAtLeast { key: tagged(9, 0), n: 2, hold: Some(hold) })]);
        one.tick(ms(900));
        assert!(one.events.is_empty());
        // Lazy: a read after the TTL, before the tick, finds nothing and expires the row.
        one.b.now = Time(ms(1001).0);
        assert_eq!(one.run(&[(5, Op::Get { key: 3 })]), [KvResult::NotFound]);
        assert_eq!(one.events, [(SUB, 3, 30)]);
        // Active: the next tick expires the other.
        one.tick(ms(1100));
        assert_eq!(one.events, [(SUB, 3, 30), (SUB, 4, 40)]);
        assert!(!one.server().rows().contains_key(&4));
        // The hold's event carries its amount, for whoever gives the units back.
        one.tick(ms(1600));
        assert_eq!(one.events[2], (SUB, tagged(9, 1), 2));
        // A rewrite without a TTL clears it; a rewrite with one moves it.
        one.run(&[(6, Op::Put { key: 5, value: 1, ttl }), (7, put(5, 2))]);
        one.tick(ms(5000));
        assert_eq!((one.events.len(), one.server().rows()[&5].value), (3, 2));
        assert_eq!(one.server().stats.expired, 3);
    }

    #[test]
    fn holds_with_a_deadline_wait_for_a_reap_which_gives_back_every_due_hold_at_once() {
        let counter = tagged(9, 0);
        let mut one = One::new(spec(1), &[(counter, 10), (tagged(8, 0), 10)]);
        let hold =
            |sub: u64, ttl_ms: u64| Hold { key: tagged(9, sub), ttl: Some(ms(ttl_ms)), expiry: Expiry::Deadline };
        let take = |sub, n, ttl_ms| Op::DecrIfAtLeast { key: counter, n, hold: Some(hold(sub, ttl_ms)) };
        let other =
            Op::DecrIfAtLeast { key: tagged(8, 0), n: 4, hold: Some(Hold { key: tagged(8, 1), ..hold(1, 500) }) };
        one.run(&[(1, take(1, 2, 1000)), (2, take(2, 3, 1000)), (3, take(3, 1, 5000)), (4, other)]);
        assert_eq!(one.server().rows()[&tagged(9, 1)].deadline, Some(Time(ms(1000).0)));
        assert_eq!(one.server().rows()[&tagged(9, 1)].expires, None, "a deadline is not a TTL");
        // Past the deadlines, the store's expiry neither deletes the holds nor sends an event.
        one.tick(ms(1500));
        assert!(one.events.is_empty());
        assert_eq!(one.server().stats.expired, 0);
        assert_eq!(one.server().rows()[&counter].value, 4);
        // A hold past its deadline cannot be released into anything else (an order).
        let confirm = Op::ReleaseHold { hold: tagged(9, 2), into: tagged(9, 100) };
        assert_eq!(one.run(&[(5, confirm)]), [KvResult::Deleted { existed: false }]);
        // One reap gives back the two due holds of its tag in one write; the third is not due,
        // and the other tag's hold is another counter's.
        let reap = Op::Reap { counter };
        let seq = one.server().log_seq();
        assert_eq!(one.run(&[(6, reap)]), [KvResult::Reaped { holds: 2, amount: 5 }]);
        assert_eq!(one.server().log_seq(), seq + 1, "one logged step");
        let rows = one.server().rows();
        assert_eq!(rows[&counter].value, 9);
        assert!(!rows.contains_key(&tagged(9, 1)) && !rows.contains_key(&tagged(9, 2)));
        assert!(rows.contains_key(&tagged(9, 3)) && rows.contains_key(&tagged(8, 1)));
        // Again: nothing left to do, nothing written (a lost answer's retry changes nothing).
        assert_eq!(one.run(&[(7, reap)]), [KvResult::Reaped { holds: 0, amount: 0 }]);
        assert_eq!(one.server().log_seq(), seq + 1);
        // A live hold still becomes an order.
        let confirm = Op::ReleaseHold { hold: tagged(9, 3), into: tagged(9, 100) };
        assert_eq!(one.run(&[(8, confirm)]), [KvResult::Deleted { existed: true }]);
        assert_eq!(one.server().rows()[&tagged(9, 100)].value, 1);
        assert_eq!(one.run(&[(9, Op::Reap { counter: tagged(8, 0) })]), [KvResult::Reaped { holds: 1, amount: 4 }]);
        assert_eq!(one.server().rows()[&tagged(8, 0)].value, 10);
    }

    #[test]
    fn answers_wait_for_the_disk_and_release_a_hold_only_once() {
        let mut one = One::new(spec(1), &[(tagged(1, 0), 5)]);
        let hold = Some(Hold { key: tagged(1, 7), ttl: Some(Duration::from_secs(10)), expiry: Expiry::Ttl });
        one.each(|s, ctx| {
            s.on_msg(
                ctx,
                CALLER,
                Msg::Req { id: ReqId(0), token: 1, op: Op::DecrIfAtLeast { key: tagged(1, 0), n: 2, hold } },
            )
        });
        // Play the pool but hold the disk: no answer goes out before the write is durable.
        let fx: Vec<_> = one.b.fx.drain(..).collect();
        for e in fx {
            if let Effect::SetTimer { timer: TTimer::Pool(t), .. } = e {
                one.each(|s, ctx| s.on_pool_timer(ctx, t));
            }
        }
        let fx: Vec<_> = one.b.fx.drain(..).collect();
        assert!(fx.iter().any(|e| matches!(e, Effect::Persist { sync: true, .. })));
        assert!(!fx.iter().any(|e| matches!(e, Effect::Send { .. })), "answered before the sync");
        one.b.fx.extend(fx);
        one.settle();
        assert_eq!(std::mem::take(&mut one.answers)[0].1, KvResult::Written { value: 3, version: 2 });
        let release = Op::ReleaseHold { hold: tagged(1, 7), into: tagged(1, 0) };
        assert_eq!(
            one.run(&[(2, release), (3, release)]),
            [KvResult::Deleted { existed: true }, KvResult::Deleted { existed: false }]
        );
        assert_eq!(one.server().rows()[&tagged(1, 0)].value, 5);
    }

    #[test]
    fn a_full_pool_answers_busy() {
        let s = KvSpec { pool: PoolSpec { concurrency: 1, queue: 1, ..spec(1).pool }, ..spec(1) };
        let mut one = One::new(s, &[]);
        let r = one.run(&[(1, put(1, 1)), (2, put(2, 2)), (3, put(3, 3))]);
        assert_eq!(r[2], KvResult::Busy);
        assert_eq!(KvResult::Busy.answer(), Answer::Retryable);
        assert_eq!(one.server().stats.busy, 1);
    }

    #[test]
    fn shard_maps_route_by_hash_or_range() {
        let nodes: Vec<NodeId> = (0..6).map(NodeId).collect();
        let range =
            KvSpec { shards: 3, replicas: 2, partition: Partitioning::Range { splits: vec![100, 200] }, ..spec(2) };
        let m = ShardMap::new(&range, &nodes);
        assert_eq!([m.shard_of(0), m.shard_of(99), m.shard_of(100), m.shard_of(250)], [0, 0, 1, 2]);
        assert_eq!((m.primary(1), m.followers(1)), (NodeId(2), &[NodeId(3)][..]));
        assert_eq!(m.role_of(NodeId(5)), Some((2, false)));
        let hash = ShardMap::new(&KvSpec { shards: 3, ..range.clone() }.with_hash(), &nodes);
        let mut per = [0; 3];
        for k in 0..3000 {
            per[hash.shard_of(k)] += 1;
        }
        assert!(per.iter().all(|&n| (850..=1150).contains(&n)), "{per:?}");
        let bad = KvSpec { shards: 3, partition: Partitioning::Range { splits: vec![5] }, ..spec(0) };
        let paths: Vec<String> = bad.validate("config.kv").into_iter().map(|e| e.0).collect();
        assert_eq!(paths, ["config.kv.replicas", "config.kv.partition.Range.splits"]);
    }

    impl KvSpec {
        fn with_hash(mut self) -> KvSpec {
            self.partition = Partitioning::Hash;
            self
        }
    }

    // ----- a store in the real kernel: replication, crashes, recovery -----

    /// Servers 0 (primary) and 1 (follower) of one shard, a client (2) subscribed to events.
    fn world(spec: KvSpec, faults: Vec<ScheduledFault>) -> Sim<TNode> {
        let mut cfg = SimConfig::new(7);
        cfg.faults = faults;
        let nodes = [NodeId(0), NodeId(1)];
        let map = ShardMap::new(&spec, &nodes);
        let policy = CallPolicy { timeout: ms(200), ..CallPolicy::default() };
        Sim::new(Topology::simple(2, 1), cfg, move |id| {
            if id.0 < 2 {
                TNode::Server(Box::new(KvServer::new("kv", &spec, &map, id, &[NodeId(2)])))
            } else {
                let mut calls = Calls::new();
                let kv = KvClient::register(&mut calls, "kv_client", &map, &policy);
                TNode::Client { calls, kv, seen: Seen::default() }
            }
        })
    }

    fn cmd(sim: &mut Sim<TNode>, at: Duration, tag: u64, op: Op, read: ReadFrom) {
        sim.run_until(Time(at.0));
        sim.inject(NodeId(2), NodeId(2), TMsg::Cmd(Cmd { op, read, tag }));
    }

    fn result(sim: &Sim<TNode>, tag: u64) -> (CallOutcome, Option<KvResult>) {
        let r = sim.actor(NodeId(2)).unwrap().seen().results.iter().find(|r| r.0 == tag);
        r.map(|r| (r.1, r.2)).unwrap_or_else(|| panic!("no result for {tag}"))
    }

    #[test]
    fn follower_reads_are_stale_by_the_replication_lag() {
        let s =
            KvSpec { replication: ReplicationSpec { lag: Dist::Constant(ms(100)), ..Default::default() }, ..spec(2) };
        let mut sim = world(s, Vec::new());
        cmd(&mut sim, ms(10), 1, put(1, 11), ReadFrom::Primary);
        let get = Op::Get { key: 1 };
        cmd(&mut sim, ms(30), 2, get, ReadFrom::Follower);
        cmd(&mut sim, ms(30), 3, get, ReadFrom::Primary);
        cmd(&mut sim, ms(200), 4, get, ReadFrom::Follower);
        sim.run_until(Time(ms(300).0));
        assert!(matches!(result(&sim, 1), (CallOutcome::Ok, Some(KvResult::Written { .. }))));
        assert_eq!(result(&sim, 2), (CallOutcome::Ok, Some(KvResult::NotFound)), "the follower has not got it yet");
        assert_eq!(result(&sim, 3).1, Some(KvResult::Found { value: 11, version: 1 }));
        assert_eq!(result(&sim, 4).1, Some(KvResult::Found { value: 11, version: 1 }), "after the lag it has");
        assert_eq!(sim.actor(NodeId(1)).unwrap().server().stats.follower_reads, 2);
    }

    /// Writes every 10ms for 1s (key i % 20), a power loss of the primary at 500ms for 200ms;
    /// returns the run and the writes acknowledged (key, value, version).
    fn writes_through_a_primary_power_loss(fsync: bool) -> (Sim<TNode>, Vec<(u64, i64, u64)>) {
        let crash = ScheduledFault {
            at: ms(500),
            duration: Some(ms(200)),
            fault: Fault::Crash { node: 0, power_loss: true, corrupt_unsynced: 0.0 },
        };
        let mut sim = world(KvSpec { fsync, ..spec(2) }, vec![crash]);
        for i in 0..100u64 {
            cmd(&mut sim, ms(10 * i), i, put(i % 20, i as i64), ReadFrom::Primary);
        }
        sim.run_until(Time(ms(2000).0));
        let acked = sim
            .actor(NodeId(2))
            .unwrap()
            .seen()
            .results
            .iter()
            .filter_map(|r| match r.2 {
                Some(KvResult::Written { value, version }) => Some((r.0 % 20, value, version)),
                _ => None,
            })
            .collect();
        (sim, acked)
    }

    #[test]
    fn a_restarted_primary_recovers_every_acknowledged_write_from_its_disk() {
        let (sim, acked) = writes_through_a_primary_power_loss(true);
        assert!(acked.len() >= 70, "writes outside the crash are acknowledged: {}", acked.len());
        let primary = sim.actor(NodeId(0)).unwrap().server();
        for &(k, v, ver) in &acked {
            let row = primary.rows()[&k];
            assert!(row.version > ver || (row.version == ver && row.value == v), "key {k}: {row:?} lost ({v}, {ver})");
        }
        // The follower caught up with the restarted primary.
        let follower = sim.actor(NodeId(1)).unwrap().server();
        assert_eq!(follower.log_seq(), primary.log_seq());
        assert_eq!(follower.rows(), primary.rows());
    }

    #[test]
    fn acknowledging_from_the_page_cache_loses_writes_in_a_power_loss() {
        let (sim, acked) = writes_through_a_primary_power_loss(false);
        let primary = sim.actor(NodeId(0)).unwrap().server();
        let lost = acked
            .iter()
            .filter(|&&(k, v, ver)| {
                let row = primary.rows().get(&k).copied().unwrap_or(Row::new(0, 0, None));
                row.version < ver || (row.version == ver && row.value != v)
            })
            .count();
        assert!(lost > 0, "a power loss must cost unsynced acknowledged writes");
    }

    #[test]
    fn a_restarted_follower_catches_up_from_its_primary() {
        let crash = ScheduledFault {
            at: ms(300),
            duration: Some(ms(300)),
            fault: Fault::Crash { node: 1, power_loss: true, corrupt_unsynced: 0.0 },
        };
        let mut sim = world(spec(2), vec![crash]);
        for i in 0..80u64 {
            cmd(&mut sim, ms(10 * i), i, put(i, i as i64), ReadFrom::Primary);
        }
        sim.run_until(Time(ms(2500).0));
        let (p, f) = (sim.actor(NodeId(0)).unwrap().server(), sim.actor(NodeId(1)).unwrap().server());
        assert_eq!((f.log_seq(), f.rows()), (p.log_seq(), p.rows()));
        assert!(p.stats.entries_resent > 0, "what it lost was sent again");
    }
}
