//! # A Dynamo-style key-value store
//!
//! **The algorithm** (DeCandia et al., 2007). Keys live on a consistent-hash ring: each server owns
//! `weight * vnodes` tokens, and a key belongs to the first token at or after its hash. Its
//! *preference list* is the first `N` distinct servers clockwise from there. A client sends each
//! request to a coordinator (the first healthy node of the preference list, or a random node); the
//! coordinator sends it to the first `N` *healthy* nodes of the key's ring walk and answers a `get`
//! after `R` replies and a `put` after `W` acknowledgements (replicas acknowledge once the write is on
//! disk). With a *sloppy quorum*, an unreachable owner is replaced by the next healthy node, which
//! keeps the write apart with a *hint* naming the owner and *hands it off* when the owner is
//! reachable again. Health comes from a failure detector: gossiped heartbeats (each server swaps
//! its view with a random known peer or seed, push-pull) plus direct suspicion of nodes that do not
//! answer. Replicas group-commit their writes (one fsync for all that arrived during the last).
//!
//! **Coordinators and replica choice.** `coordinator: PreferenceList` (default) and `Random`
//! send a request to a server, which coordinates it; when it is one of the key's replicas it
//! reads and writes its own copy with no network delay, so with `R = W = 1` a read is almost
//! always consistent however slow replication is. `coordinator: Proxy` places the coordinator
//! in the client library (the paper's client-driven coordination; a proxy tier or Cassandra's
//! coordinator behave the same): the client computes the key's targets from the ring and its own
//! suspicions (nodes that did not answer in time), sends every replica its `read` or `write`, and
//! counts the `read_reply` and `write_ack` legs back, so every replica is reached through the
//! network as the analytical partial-quorum models assume; it times out, read-repairs and
//! (sloppy quorum) hints like a server coordinator, and its writes' ids are its own (client id,
//! operation id). `replica_choice: PreferenceList` (default) asks all `N` targets and takes the
//! first `R` or `W` replies; `Random` asks a random `R` or `W` of them and no other, the
//! experiment of the literature: with read repair, hinted handoff and anti-entropy off nothing
//! spreads a write, a read misses the latest write with probability `C(N-W, R) / C(N, R)` and is
//! `k` or more versions behind with that probability to the power `k`. Every coordinator marks a
//! put committed ([`sim_core::Ctx::committed`]) when the `W`-th acknowledgement reaches it, so a
//! probe workload with `from: Commit` times its reads from there (a server coordinator's commit
//! precedes the client's acknowledgement by the `put_reply` leg; a proxy's coincides with it).
//! `put_mode: ReadModifyWrite` (default) reads the context before writing; `Blind` writes at once
//! with an empty context, so a put's latency is the write alone (see [`PutMode`] for what blind
//! puts do to versions).
//!
//! **Versions.** Each write gets a unique id (a *dot*: coordinator, counter) and carries the set of
//! writes it supersedes (its *context*: the ids the client read, transitively). A replica drops a
//! version exactly when a newer one supersedes it; versions that do not supersede each other are
//! *siblings*, all returned by `get` with the context. The client merges them (set union, as the
//! shopping cart) and its next `put` supersedes them all. Carts and contexts are persistent sets
//! ([`pset`]) that share structure, so a hot key's versions cost `O(log K)` each, not `O(K)`. This is Dynamo's vector clock in its exact
//! form (as dotted version vectors fix it). `versioning: VectorClocks` switches to the paper's rule,
//! where the coordinator increments its own entry of the context clock: two concurrent writes
//! through one coordinator then get ordered clocks and one is silently dropped
//! (`dynamo_vector_clocks.ron` shows acknowledged items lost, with no sibling ever seen). The other
//! reconciliation policy is last-write-wins by the coordinator's *local* clock, where clock skew
//! decides which acknowledged writes survive.
//!
//! **Repair.** Read repair sends the reconciled versions to owners that answered with less; Merkle
//! anti-entropy compares, per key range and periodically, each range's tree with a random
//! co-owner, then exchanges only the keys of differing leaves (counting keys repaired, and bytes
//! sent against a full comparison). TTL: expired versions are invisible at once and swept
//! periodically. Every mechanism can be switched off in the configuration.
//!
//! **Invariants checked** (see [`check`]): `durability` (every acknowledged write survives in its
//! key's replicas after the liveness phase; under last-write-wins, no acknowledged write is beaten
//! by one acknowledged before it began), `convergence` (all owners of every key hold the same
//! versions, and no hint is left), `stale_reads` (with `R + W > N`, a read in a fault-free period
//! sees the latest write acknowledged before it began; judged on every read except those that,
//! or whose latest write, overlap a fault touching one of the key's owners or a ring change
//! moving the key, or the `quiet_after_faults` after one). `linearizable`, `read_your_writes`
//! and `monotonic_reads` (see [`consistency`]) judge the whole history against a sequential
//! object per key, excusing nothing: under client merge an add-only set (a put adds its item, a
//! get reads the union of its siblings' items), under last-write-wins a register; a put that
//! failed or timed out may have taken effect. With `R + W > N` and a sloppy quorum, a partition
//! makes the store non-linearizable (`dynamo_sloppy_not_linearizable.ron`); at `R = W = N`
//! without faults it is linearizable (`dynamo_linearizable.ron`).
//!
//! **The failures it shows.** `R + W <= N` gives stale reads; last-write-wins under clock skew loses
//! acknowledged writes; without sloppy quorums and hinted handoff, writes fail during a partition;
//! without handoff, read repair and anti-entropy, replicas never converge; coordinator-incremented
//! vector clocks lose concurrent writes; concurrent writes produce siblings that a merge resolves.
//!
//! **Membership.** Ring changes (a server joins or leaves) are operator actions, as in Dynamo: the
//! server concerned adopts the new ring version (epoch) at the scheduled time and gossip spreads
//! it; each server re-files its keys under the new ranges, and anti-entropy streams moved ranges to
//! their new owners (whose Merkle trees start empty). Gossip also carries heartbeats: a server
//! whose heartbeat stops rising for `failure_timeout`, or that does not answer, is considered down.
//! Not modelled: a joining node bootstrapping its ranges *before* it takes ownership (so reads can
//! be stale for a moment after a ring change), and leaving nodes streaming their data out (their
//! co-owners still hold it).
//!
//! **Transport:** `Connection` by default (TCP, as Dynamo's messaging runs on): messages between two
//! nodes arrive in send order; a scenario may set `network.transport: Datagram`.

pub mod check;
pub mod consistency;
pub mod keymap;
pub mod node;
pub use sim_core::pset;
pub mod store;

use common::ring::{Member, Partitioning, Ring};
use node::{Client, DynamoNode, Server, Shared};
use serde::{Deserialize, Serialize};
use sim_core::cost::{Load, count};
use sim_core::math;
use sim_core::{Duration, Footprint, Model, ModelReport, NodeId, Prng, RunView, Topology};
use std::collections::BTreeMap;
use std::rc::Rc;

pub use store::{Reconcile, Versioning};

/// How a client picks the coordinator of a request.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum Coordinator {
    /// The first node of the key's preference list it does not suspect (a partition-aware client).
    #[default]
    PreferenceList,
    /// Any node it does not suspect, at random (behind a load balancer).
    Random,
    /// The client library coordinates its own requests (the Dynamo paper's client-driven
    /// coordination; a proxy tier or Cassandra's non-replica coordinator behave alike): it is no
    /// replica of any key, so every replica request and reply travels its network leg (`read`,
    /// `read_reply`, `write`, `write_ack`), and the request commits at the client when the `W`-th
    /// acknowledgement arrives there.
    Proxy,
}

/// Which of a key's replicas a coordinator asks.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum ReplicaChoice {
    /// All of the first `N` healthy nodes of the preference list; the quorum is the first `R` (or
    /// `W`) replies, and the others still get the write.
    #[default]
    PreferenceList,
    /// A random `R` (reads) or `W` (writes) of them, and no others: the quorum is all of those
    /// asked. With read repair, hinted handoff and anti-entropy off nothing else spreads a write,
    /// the experiment of the partial-quorum literature: a read misses the latest write with
    /// probability `C(N-W, R) / C(N, R)`, and is `k` or more versions behind with that
    /// probability to the power `k`.
    Random,
}

/// How a client writes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum PutMode {
    /// Read the key's versions and their context first, then write the merge (the paper's
    /// shopping cart): the new version supersedes what was read.
    #[default]
    ReadModifyWrite,
    /// Write at once with an empty context: the put's latency is the write alone. Under client
    /// merge with dotted versions a blind put supersedes nothing, so every blind put stays a
    /// sibling until a read-modify-write put merges them (reads return the union of all);
    /// under last-write-wins every put is blind already; under the paper's vector clocks the
    /// coordinator's increment makes a blind put supersede every version whose clock holds no
    /// other coordinator's entry than its own (their items are lost, as `dynamo_vector_clocks.ron`
    /// shows for concurrent puts).
    Blind,
}

/// A ring change an operator makes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Change {
    Join,
    Leave,
}

/// `(at: "10s", server: 8, change: Join)`: the server concerned adopts the new ring at `at` on its
/// local clock, and gossip spreads it (a node that starts later reads the ring history from its
/// configuration). Data moves to new owners by anti-entropy.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RingChange {
    pub at: Duration,
    pub server: u32,
    pub change: Change,
}

/// The `config: (...)` section of a `dynamo` scenario.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// `N`: replicas per key.
    pub replicas: u32,
    /// `R`: replies a read waits for.
    pub read_quorum: u32,
    /// `W`: acknowledgements a write waits for.
    pub write_quorum: u32,
    /// Ring tokens per unit of weight.
    pub vnodes: u32,
    /// How the key space is cut into ranges and placed (the paper's strategies 1-3).
    pub partitioning: Partitioning,
    /// Rings the balance tables average over: the run's ring and `rings - 1` more drawn from the
    /// seed (token positions and dealing orders); the spread over them is reported.
    pub rings: u32,
    /// Whether the report has the balance tables (`balance_vs_vnodes`, `balance_by_partitioning`
    /// and the measure `balance_rings`): they build `12 * rings` more rings (nine vnode counts,
    /// three strategies) and place every key of the history on each, a report cost that grows
    /// with the tokens (`servers * vnodes`, up to 256 vnodes) and the keys. Default on; a
    /// performance run of a large cluster turns them off.
    pub balance_tables: bool,
    /// Server weights (default 1): a weight-2 server gets twice the tokens.
    pub weights: BTreeMap<u32, u32>,
    pub coordinator: Coordinator,
    /// Which replicas a coordinator asks: all `N` (default), or a random `R` or `W` of them.
    pub replica_choice: ReplicaChoice,
    /// Read-modify-write puts (default), or blind puts that write with no read first.
    pub put_mode: PutMode,
    pub reconcile: Reconcile,
    /// How versions are ordered: exact write ids (default) or the paper's vector clocks.
    pub versioning: Versioning,
    /// How long a coordinator waits for its replicas.
    pub request_timeout: Duration,
    /// How long a client waits for a coordinator before trying the next one.
    pub attempt_timeout: Duration,
    /// How long a client waits for an operation in all.
    pub client_timeout: Duration,
    pub sloppy_quorum: bool,
    pub hinted_handoff: bool,
    pub read_repair: bool,
    pub anti_entropy: bool,
    pub gossip: bool,
    pub gossip_interval: Duration,
    /// A server whose heartbeat has not risen for this long, or that did not answer, is down.
    pub failure_timeout: Duration,
    /// Gossip seeds: known to every node from the start.
    pub seeds: Vec<u32>,
    pub handoff_interval: Duration,
    pub anti_entropy_interval: Duration,
    /// Leaves of each range's Merkle tree (a power of two).
    pub merkle_leaves: u32,
    /// Time to live of a written version (none: forever).
    pub ttl: Option<Duration>,
    pub sweep_interval: Duration,
    /// Replicas fsync before acknowledging (otherwise the page cache holds the write).
    pub sync_writes: bool,
    /// Servers joining and leaving the ring, in time order, at most at the run's end (`duration +
    /// settle`). A server whose first change is a join is outside the ring until then.
    pub membership: Vec<RingChange>,
    /// The `stale_reads` check does not judge a read made during a fault touching one of its key's
    /// owners (a clock fault touches none) or a ring change moving its key, or within this long
    /// after one ended, nor a read whose latest write was (failure detectors, hinted handoff and range moves need time to
    /// catch up; Dynamo promises no more).
    pub quiet_after_faults: Duration,
    /// The upper edges of the `consistency_vs_lag` table's bins (time from a write's
    /// acknowledgement to a read of its key), ascending; a last, open bin holds the rest. Set a
    /// finer grid (`["100us", "200us", ...]`) to look below a millisecond.
    pub lag_grid: Vec<Duration>,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            replicas: 3,
            read_quorum: 2,
            write_quorum: 2,
            vnodes: 16,
            partitioning: Partitioning::RandomTokens,
            rings: 1,
            balance_tables: true,
            weights: BTreeMap::new(),
            coordinator: Coordinator::PreferenceList,
            replica_choice: ReplicaChoice::PreferenceList,
            put_mode: PutMode::ReadModifyWrite,
            reconcile: Reconcile::ClientMerge,
            versioning: Versioning::Dotted,
            request_timeout: Duration::from_millis(200),
            attempt_timeout: Duration::from_millis(300),
            client_timeout: Duration::from_secs(1),
            sloppy_quorum: true,
            hinted_handoff: true,
            read_repair: true,
            anti_entropy: true,
            gossip: true,
            gossip_interval: Duration::from_millis(100),
            failure_timeout: Duration::from_secs(1),
            seeds: vec![0, 1],
            handoff_interval: Duration::from_millis(500),
            anti_entropy_interval: Duration::from_secs(2),
            merkle_leaves: 16,
            ttl: None,
            sweep_interval: Duration::from_secs(5),
            sync_writes: true,
            quiet_after_faults: Duration::from_secs(5),
            lag_grid: [1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000].map(Duration::from_millis).to_vec(),
            membership: Vec::new(),
        }
    }
}

/// The ring's members per epoch: epoch 0 holds every server whose first change is not a join;
/// epoch `k + 1` applies `membership[k]`.
pub fn ring_members(config: &Config, servers: u32) -> Vec<Vec<u32>> {
    let first_join =
        |s: u32| config.membership.iter().find(|c| c.server == s).is_some_and(|c| c.change == Change::Join);
    let mut members: Vec<u32> = (0..servers).filter(|&s| !first_join(s)).collect();
    let mut out = vec![members.clone()];
    for c in &config.membership {
        match c.change {
            Change::Join => {
                if let Err(i) = members.binary_search(&c.server) {
                    members.insert(i, c.server);
                }
            }
            Change::Leave => members.retain(|&m| m != c.server),
        }
        out.push(members.clone());
    }
    out
}

/// The ring epoch the operator's schedule gives at time `t` (ns since the start): the number of
/// ring changes scheduled at or before it.
pub fn epoch_at(config: &Config, t_ns: u64) -> usize {
    config.membership.iter().take_while(|c| c.at.0 <= t_ns).count()
}

/// The ring of `members` with the configured weights, `vnodes` tokens per weight and the
/// configured partitioning: the ring the run uses.
pub fn build_ring(config: &Config, members: &[u32], vnodes: u32) -> Ring {
    ring_with(config, members, vnodes, config.partitioning, 0)
}

/// A ring of `members` with the configured weights, drawn with `salt` (0: the run's own ring).
pub fn ring_with(config: &Config, members: &[u32], vnodes: u32, partitioning: Partitioning, salt: u64) -> Ring {
    let members: Vec<Member> =
        members.iter().map(|&s| Member { server: s, weight: config.weights.get(&s).copied().unwrap_or(1) }).collect();
    Ring::build_with_head(&members, vnodes, partitioning, salt, (config.replicas as usize).max(common::ring::HEAD))
}

pub struct Dynamo;

/// The bytes of one node of a [`pset::PSet`] of items or writes, with its `Rc` counts (the
/// allocation massif sees).
const PSET_NODE_BYTES: f64 = 64.0;

impl Model for Dynamo {
    const NAME: &'static str = "dynamo";
    const ABOUT: &'static str = "Dynamo key-value store: vnode ring, sloppy N/R/W quorums, hinted handoff, siblings, read repair, Merkle anti-entropy";
    const OP_KINDS: &'static [&'static str] = &["get", "put"];
    /// Dynamo's request coordination runs over TCP (Java NIO channels, the paper's section 6).
    const TRANSPORT: sim_core::net::Transport = sim_core::net::Transport::Connection;
    const CHECKS: &'static [&'static str] =
        &["durability", "convergence", "stale_reads", "linearizable", "read_your_writes", "monotonic_reads"];
    type Config = Config;
    type Actor = DynamoNode;

    fn validate(c: &Config, topo: &Topology) -> Vec<(String, String)> {
        let mut e = Vec::new();
        let servers = topo.servers.len() as u32;
        let mut err = |field: &str, msg: String| e.push((format!("config.{field}"), msg));
        if c.replicas == 0 {
            err("replicas", "must be >= 1, got 0".into());
        }
        if c.replicas > servers {
            err("replicas", format!("must be at most the number of servers ({servers}), got {}", c.replicas));
        }
        for (name, q) in [("read_quorum", c.read_quorum), ("write_quorum", c.write_quorum)] {
            if q == 0 || q > c.replicas {
                err(name, format!("must be within 1..=replicas ({}), got {q}", c.replicas));
            }
        }
        if c.vnodes == 0 || c.vnodes > 4096 {
            err("vnodes", format!("must be within 1..=4096, got {}", c.vnodes));
        }
        if let Some(q) = c.partitioning.partitions()
            && (q < servers || q > 65_536)
        {
            err(
                "partitioning",
                format!("partitions must be within {servers}..=65536 (at least one per server), got {q}"),
            );
        }
        if c.rings == 0 || c.rings > 1000 {
            err("rings", format!("must be within 1..=1000, got {}", c.rings));
        }
        for (&s, &w) in &c.weights {
            if s >= servers {
                err(&format!("weights[{s}]"), format!("unknown server {s} (servers are 0..{servers})"));
            }
            if w == 0 || w > 64 {
                err(&format!("weights[{s}]"), format!("must be within 1..=64, got {w}"));
            }
        }
        for (i, &s) in c.seeds.iter().enumerate() {
            if s >= servers {
                err(&format!("seeds[{i}]"), format!("unknown server {s} (servers are 0..{servers})"));
            }
        }
        if c.lag_grid.is_empty() || c.lag_grid.len() > 200 {
            err("lag_grid", format!("must have 1 to 200 bin edges, got {}", c.lag_grid.len()));
        }
        if let Some(i) = c.lag_grid.windows(2).position(|w| w[0] >= w[1]) {
            err(
                &format!("lag_grid[{}]", i + 1),
                format!("bin edges must rise: {} follows {}", c.lag_grid[i + 1], c.lag_grid[i]),
            );
        }
        if c.lag_grid.first() == Some(&Duration::ZERO) {
            err("lag_grid[0]", "the first edge must be above 0 (the first bin starts at 0)".into());
        }
        if !c.merkle_leaves.is_power_of_two() || c.merkle_leaves > 1024 {
            err("merkle_leaves", format!("must be a power of two up to 1024, got {}", c.merkle_leaves));
        }
        let positive = [
            ("request_timeout", c.request_timeout),
            ("attempt_timeout", c.attempt_timeout),
            ("client_timeout", c.client_timeout),
            ("gossip_interval", c.gossip_interval),
            ("failure_timeout", c.failure_timeout),
            ("handoff_interval", c.handoff_interval),
            ("anti_entropy_interval", c.anti_entropy_interval),
            ("sweep_interval", c.sweep_interval),
        ];
        for (name, d) in positive {
            if d.0 == 0 {
                err(name, "must be positive".into());
            }
        }
        if c.ttl == Some(Duration::ZERO) {
            err("ttl", "must be positive (or None)".into());
        }
        let mut members: Vec<bool> = vec![true; servers as usize];
        for s in 0..servers {
            let first = c.membership.iter().find(|m| m.server == s);
            members[s as usize] = !first.is_some_and(|m| m.change == Change::Join);
        }
        let initial = members.iter().filter(|&&x| x).count() as u32;
        if initial < c.replicas {
            err("membership", format!("the initial ring has {initial} servers, fewer than replicas ({})", c.replicas));
        }
        for (i, m) in c.membership.iter().enumerate() {
            let path = format!("membership[{i}]");
            if i > 0 && m.at < c.membership[i - 1].at {
                err(&path, "ring changes must be listed in time order".into());
            }
            if m.server >= servers {
                err(&path, format!("unknown server {} (servers are 0..{servers})", m.server));
                continue;
            }
            let member = &mut members[m.server as usize];
            match (m.change, *member) {
                (Change::Join, true) => err(&path, format!("server {} is already in the ring", m.server)),
                (Change::Leave, false) => err(&path, format!("server {} is not in the ring", m.server)),
                _ => *member = m.change == Change::Join,
            }
            let count = members.iter().filter(|&&x| x).count() as u32;
            if count < c.replicas {
                err(&path, format!("leaves {count} servers in the ring, fewer than replicas ({})", c.replicas));
            }
        }
        if topo.servers.is_empty() {
            e.push(("topology.servers".into(), "a key-value store needs at least one server".into()));
        }
        e
    }

    /// Per ring epoch, every token with the head of its walk; per server, the ranges it owns (a
    /// B-tree, Merkle leaves and a size each) and heartbeats of every server (quadratic in the
    /// servers; a gossip message holds its sender's table, copied only when the sender changes it
    /// while a message still holds it, so messages add next to nothing). Per key written, its
    /// versions on `N` replicas; per put, a record on each replica's disk of the put's version, which the
    /// replicas share (made once). A version's cart and superseded writes grow by one each per
    /// put of its key, but as persistent sets ([`pset`]) that share all but the `O(log K)` nodes a
    /// put adds: a key's log grows as `K log K`. A get's reply in the history is a handle on the
    /// cart it read (`Reply::Shared`), not a copy, so the history grows by a constant per get.
    fn footprint(c: &Config, topo: &Topology, load: &Load) -> Footprint {
        let s = topo.servers.len() as f64;
        let clients = topo.clients.len() as f64;
        let n = c.replicas as f64;
        let weight = |m: u32| c.weights.get(&m).copied().unwrap_or(1) as f64;
        let epochs = ring_members(c, topo.servers.len() as u32);
        let tokens = |members: &[u32]| members.iter().map(|&m| weight(m)).sum::<f64>() * c.vnodes as f64;
        let t0 = tokens(&epochs[0]);
        // Every epoch's ring (per token: position, owner, its walk's head, and the owners' range
        // lists; the model's range index, a position and two to four 4-byte buckets), and the
        // checkers' ring of the end.
        let head = (n as usize).max(common::ring::HEAD) as f64;
        let per_token = |m: &Vec<u32>| 16.0 + 4.0 + 4.0 * head.min(m.len() as f64) + 20.0;
        let ring = |m: &Vec<u32>| tokens(m) * per_token(m);
        let rings: f64 =
            epochs.iter().map(|m| ring(m) + tokens(m) * 4.0 * n).sum::<f64>() + epochs.last().map_or(0.0, ring);
        // The report's balance tables build one ring at a time, up to 256 vnodes per weight,
        // with its tokens' bounds (8 B) and per range the keys and operations placed (16 B).
        let members = &epochs[epochs.len() - 1];
        let balance_tokens = members.iter().map(|&m| weight(m)).sum::<f64>() * 256.0;
        let balance = balance_tokens * (per_token(members) + 8.0 + 16.0);
        // A server holds the ranges it owns: a map entry, Merkle leaves and a byte count each.
        let per_range = 64.0 + 8.0 * c.merkle_leaves as f64 + 8.0;
        let sibling = std::mem::size_of::<store::Version>() as f64;
        let (gets, puts) = (load.of("get", Self::OP_KINDS), load.of("put", Self::OP_KINDS));
        let keys = load.keys.min(puts);
        let puts_per_key = puts / keys.max(1.0);
        // Each replica files a key in its key table (a 40-byte slot, key and value, in a table
        // 7/16 to 7/8 full, and its filter) and in its range's list of keys (8 bytes); a key's
        // one version is held inline in its slot. 109-115 B of resident memory per key and
        // replica, measured as the RSS that 8 servers' tables added for 100,000 and 213,000 keys
        // on 3 replicas each (the versions made beforehand; docs/performance.md, "Dynamo, round seven"), when
        // each key's version list was an allocation of its own: an upper bound now.
        let value = n * 112.0;
        // Every put's version stays alive to the end (each replica's disk record holds a handle
        // on it, one `Rc` all share: the version once and ~50 B a replica's record), and under
        // client merge its sets add a path of their treap: about `2 ln K` nodes for a key of
        // `K` puts, averaged over the puts. Measured with massif (heap at the peak, glibc build):
        // 6.7 nodes a put for 2,000 uniform keys of 32 puts each (2 ln 33 = 7.0), 10.3 for
        // Zipf(2,000, 0.9) (the puts' mean of 2 ln(1 + K) is 9.9; `2 ln(1 + K x sqrt(skew))`,
        // taken here, 10.2, where `ln(1 + K x skew)` gave 13.5), 1 a put on dynamo_10k's
        // million keys; 104 B a version, 50 B a replica's record. Counting a cart's and the
        // superseded writes' paths apart, at 80 B a node, and a version per key besides, put
        // every dynamo file's estimate at 1.15-1.65 of its use.
        let paths = if c.reconcile == Reconcile::ClientMerge {
            PSET_NODE_BYTES * (2.0 * math::ln(1.0 + puts_per_key * load.key_skew.sqrt())).max(1.0)
        } else {
            0.0
        };
        let log = puts * (n * 50.0 + sibling + 16.0 + paths);
        // Every get's reply in the history is the cart it read (`Reply::Shared`, a clone of its
        // root), which the versions hold anyway: no allocation, whatever the cart's size.
        let gossip_per_s = if c.gossip { s / c.gossip_interval.as_secs_f64() } else { 0.0 };
        let ae_per_s = if c.anti_entropy { t0 * n / c.anti_entropy_interval.as_secs_f64() } else { 0.0 };
        let timers_per_s = s * (1.0 / c.handoff_interval.as_secs_f64() + 1.0 / c.sweep_interval.as_secs_f64());
        // Beyond the kernel's two per operation (its arrival and the client's request): the
        // coordinator, one of the key's replicas, asks the other `N - 1` and hears them all, and
        // answers the client; a put first reads the key's context that way, then writes. An
        // anti-entropy exchange is about one event per range and replica. Measured on
        // `dynamo_10k` cut to 10 s: 7.0 events a get, 13.8 a put, in all; 3,041 anti-entropy
        // events in 15 s for 8 servers' 128 tokens on 3 replicas every 2 s.
        let per_get = 2.0 * n - 1.0;
        Footprint {
            events: gets * per_get
                + puts * (2.0 * per_get + 2.0)
                + load.run_s * (3.0 * gossip_per_s + ae_per_s + timers_per_s),
            // Per operation in flight, up to 5 + 2N events waiting (its messages and timers),
            // twice over: an upper bound, kept from before the events were measured.
            queued: load.in_flight * (5.0 + 2.0 * n) * 2.0 + gossip_per_s * 0.01 + s * 4.0,
            ..Footprint::default()
        }
        .part(format!("rings: {} epochs, {} tokens", epochs.len(), count(t0)), rings)
        .part_if(c.balance_tables, || {
            (format!("the report's balance tables: a ring of {} tokens at most", count(balance_tokens)), balance)
        })
        .part(format!("servers' ranges: {} ranges x {n} owners x {per_range:.0} B", count(t0)), t0 * n * per_range)
        .part(format!("heartbeats: {} servers squared (in each server)", count(s)), s * s * 32.0 + clients * s * 16.0)
        .part(format!("key tables: {} keys x {value:.0} B ({n} replicas)", count(keys)), keys * value)
        .part(format!("versions and disk logs: {} puts on {n} replicas", count(puts)), log)
        .part(format!("consistency checks: {} operations", count(gets + puts)), consistency::footprint(gets + puts))
    }

    fn validate_schedule(c: &Config, run_end: Duration) -> Vec<(String, String)> {
        c.membership
            .iter()
            .enumerate()
            .filter(|(_, m)| m.at > run_end)
            .map(|(i, m)| {
                (
                    format!("config.membership[{i}].at"),
                    format!(
                        "the ring change at {} is scheduled after the run ends at {run_end} (duration + settle): it \
                         would never happen, yet the ring would be judged as if it had",
                        m.at
                    ),
                )
            })
            .collect()
    }

    fn factory(config: &Config, topo: &Topology, _setup: &mut Prng) -> Box<dyn FnMut(NodeId) -> DynamoNode> {
        let servers = topo.servers.len() as u32;
        let shared = Rc::new(Shared::new(config.clone(), servers));
        Box::new(move |n| {
            if n.0 < servers {
                DynamoNode::Server(Box::new(Server::new(shared.clone(), n.0)))
            } else {
                DynamoNode::Client(Client::new(shared.clone()))
            }
        })
    }

    fn report(config: &Config, run: &RunView<'_, DynamoNode>) -> ModelReport {
        check::report(config, run)
    }
}
