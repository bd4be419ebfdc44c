//! The actors: servers (coordinator, replica, gossip, hinted handoff, anti-entropy, TTL sweep) and
//! clients (coordinator choice, read-modify-write or blind puts, timeouts, and under
//! `coordinator: Proxy` the coordination itself: replica targets, quorums, read repair).

use crate::keymap::KeyMap;
use crate::pset::PSet;
use crate::store::{self, Dot, Policy, Reconcile, Sibling, Stamp, Version, Versioning, Versions};
use crate::{Config, Coordinator, PutMode, ReplicaChoice};
use common::merkle::MerkleTree;
use common::mix64;
use common::ring::Ring;
use common::vclock::VClock;
use sim_core::{Actor, Ctx, Message, NodeId, Op, OpId, Outcome, Reply, TimerId, WriteId};
use smallvec::SmallVec;
use std::collections::{BTreeMap, VecDeque};
use std::rc::Rc;

/// One version of the ring: its tokens, and which ranges each server owns.
pub struct View {
    pub ring: Ring,
    /// Per server: the ranges it is among the `N` owners of, ascending.
    owned: Vec<Vec<u32>>,
    index: RangeIndex,
}

impl View {
    /// The key range (token index) `key` belongs to: [`Ring::range_of`], looked up in
    /// [`RangeIndex`].
    #[inline]
    pub fn range_of(&self, key: u64) -> usize {
        self.index.range_of(key)
    }
}

/// A ring's key ranges, found in about one step: the tokens' positions, and for each of the
/// `2^bits` equal buckets of the position space (`bits` such that there are two to four buckets
/// per token) the first token at or after the bucket's start. A key's range is the first token
/// at or after its position, so a lookup starts at its bucket's first token and steps past the
/// few that lie before the position in the same bucket, where [`Ring::range_of`] binary-searches
/// every token (7 steps and ~75 instructions for 128 tokens, a cache miss a step on a
/// thousand-server ring). Every request looks its key's range up at least once (the client's
/// coordinator, the coordinator's preference list, each replica filing a new key).
struct RangeIndex {
    /// Token positions, ascending (the ring's order).
    positions: Vec<u64>,
    /// Per bucket, the index of the first token at or after its start (`positions.len()` when
    /// none is).
    first: Vec<u32>,
    /// `64 - bits`: a position's bucket is `position >> shift`.
    shift: u32,
}

impl RangeIndex {
    fn new(ring: &Ring) -> RangeIndex {
        let positions: Vec<u64> = (0..ring.token_count()).map(|r| ring.range_bounds(r).1).collect();
        let buckets = (2 * positions.len()).next_power_of_two().max(2) as u64;
        let shift = 64 - buckets.trailing_zeros();
        let first = (0..buckets).map(|b| positions.partition_point(|&p| p < b << shift) as u32).collect();
        RangeIndex { positions, first, shift }
    }

    #[inline]
    fn range_of(&self, key: u64) -> usize {
        self.range_of_position(Ring::key_position(key))
    }

    /// The range owning ring position `position`: [`Ring::range_of_position`].
    #[inline]
    fn range_of_position(&self, position: u64) -> usize {
        let mut i = self.first[(position >> self.shift) as usize] as usize;
        while i < self.positions.len() && self.positions[i] < position {
            i += 1;
        }
        // Past the last token: the range wraps around to the first.
        if i == self.positions.len() { 0 } else { i }
    }
}

/// What every node shares: the configuration and the ring's versions (epochs). Ring membership is
/// operator configuration, as in Dynamo, where nodes are added and removed explicitly.
pub struct Shared {
    pub config: Config,
    /// Epoch `k` applies the first `k` ring changes.
    pub views: Vec<View>,
    pub servers: u32,
    /// The Merkle root of a range with no keys (every leaf 0).
    empty_root: u64,
}

impl Shared {
    pub fn new(config: Config, servers: u32) -> Shared {
        let n = config.replicas as usize;
        let views = crate::ring_members(&config, servers)
            .iter()
            .map(|members| {
                let ring = crate::build_ring(&config, members, config.vnodes);
                let mut owned = vec![Vec::new(); servers as usize];
                for r in 0..ring.token_count() {
                    for &s in ring.head(r, n.min(ring.distinct_servers())) {
                        owned[s as usize].push(r as u32);
                    }
                }
                View { index: RangeIndex::new(&ring), ring, owned }
            })
            .collect();
        let empty_root = MerkleTree::root_of(&vec![0; config.merkle_leaves as usize]);
        Shared { config, views, servers, empty_root }
    }
    fn policy(&self) -> Policy {
        Policy { reconcile: self.config.reconcile, versioning: self.config.versioning }
    }
    /// The epoch an operator's schedule gives at local time `now_ns`.
    fn epoch_at(&self, now_ns: u64) -> usize {
        crate::epoch_at(&self.config, now_ns)
    }
}

/// A coordinator's or replica's answer about a client request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Status {
    Ok,
    /// Definitely not done (too few replicas reachable; nothing was written).
    Fail,
    /// Not confirmed: some replicas may have applied the write.
    Unknown,
}

/// A key's versions as a message carries them.
pub type Entry = (u64, Versions);

#[derive(Clone, Debug)]
pub enum Msg {
    ClientGet {
        req: u64,
        key: u64,
    },
    /// `op`: the workload operation, which the coordinator marks committed
    /// ([`Ctx::committed`]) when the `W`-th acknowledgement reaches it.
    ClientPut {
        req: u64,
        op: OpId,
        key: u64,
        context: PSet<Dot>,
        items: PSet<u64>,
    },
    GetReply {
        req: u64,
        status: Status,
        siblings: Versions,
    },
    PutReply {
        req: u64,
        status: Status,
    },
    Read {
        req: u64,
        key: u64,
    },
    ReadReply {
        req: u64,
        siblings: Versions,
    },
    /// `hint`: the owner this copy is held for (sloppy quorum).
    Write {
        req: u64,
        key: u64,
        sibling: Sibling,
        hint: Option<u32>,
    },
    WriteAck {
        req: u64,
    },
    Repair {
        key: u64,
        siblings: Versions,
    },
    Handoff {
        entries: Vec<Entry>,
    },
    /// `(key, hash of the versions handed over)`.
    HandoffAck {
        acks: Vec<(u64, u64)>,
    },
    /// Heartbeat `(generation, counter)` per server and the ring epoch; `reply`: answer with your
    /// own (push-pull). The sender's table itself, shared ([`Server::beats`]).
    Gossip {
        beats: Rc<[(u64, u64)]>,
        epoch: u32,
        reply: bool,
    },
    /// Anti-entropy messages name a range of the ring of `epoch`; a node on another epoch ignores them.
    AeRoot {
        epoch: u32,
        range: u32,
        root: u64,
    },
    AeLeaves {
        epoch: u32,
        range: u32,
        leaves: Vec<u64>,
    },
    /// Boxed slices, not `Vec`s (16 bytes each, not 24), so that this rare message is no larger
    /// than a client's put and every message fits in 48 bytes, not 64: the kernel moves each one
    /// through its queue and effect lists.
    AeData {
        epoch: u32,
        range: u32,
        leaves: Box<[u32]>,
        entries: Box<[Entry]>,
        reply: bool,
    },
}

const _: () = assert!(size_of::<Msg>() == 48);

fn sets_bytes(sets: &[Sibling]) -> u64 {
    store::set_size_bytes(sets)
}

fn entries_bytes(e: &[Entry]) -> u64 {
    e.iter().map(|(_, s)| 8 + sets_bytes(s)).sum()
}

impl Message for Msg {
    fn kind(&self) -> &'static str {
        match self {
            Msg::ClientGet { .. } => "client_get",
            Msg::ClientPut { .. } => "client_put",
            Msg::GetReply { .. } => "get_reply",
            Msg::PutReply { .. } => "put_reply",
            Msg::Read { .. } => "read",
            Msg::ReadReply { .. } => "read_reply",
            Msg::Write { .. } => "write",
            Msg::WriteAck { .. } => "write_ack",
            Msg::Repair { .. } => "repair",
            Msg::Handoff { .. } => "handoff",
            Msg::HandoffAck { .. } => "handoff_ack",
            Msg::Gossip { .. } => "gossip",
            Msg::AeRoot { .. } => "ae_root",
            Msg::AeLeaves { .. } => "ae_leaves",
            Msg::AeData { .. } => "ae_data",
        }
    }
    fn size_bytes(&self) -> u64 {
        32 + match self {
            Msg::ClientGet { .. } | Msg::Read { .. } | Msg::WriteAck { .. } | Msg::PutReply { .. } => 16,
            Msg::ClientPut { context, items, .. } => 16 + 12 * context.len() as u64 + 8 * items.len() as u64,
            Msg::GetReply { siblings, .. } | Msg::ReadReply { siblings, .. } | Msg::Repair { siblings, .. } => {
                16 + sets_bytes(siblings)
            }
            Msg::Write { sibling, .. } => 24 + sibling.size_bytes(),
            Msg::Handoff { entries } => entries_bytes(entries),
            Msg::HandoffAck { acks } => 16 * acks.len() as u64,
            Msg::Gossip { beats, .. } => 1 + 16 * beats.len() as u64,
            Msg::AeRoot { .. } => 12,
            Msg::AeLeaves { leaves, .. } => 4 + 8 * leaves.len() as u64,
            Msg::AeData { leaves, entries, .. } => 5 + 4 * leaves.len() as u64 + entries_bytes(entries),
        }
    }
}

#[derive(Clone, Debug)]
pub enum Timer {
    /// A coordinator's request `req` (a server's, or a client's under `coordinator: Proxy`) is out
    /// of time.
    Request(u64),
    Gossip,
    AntiEntropy,
    Handoff,
    Sweep,
    /// Adopt ring epoch `n` (a scheduled ring change).
    Epoch(usize),
    /// A client's attempt `n` of request `req` got no answer from its coordinator.
    Attempt(u64, u32),
    /// A client's operation is out of time.
    Deadline(u64),
}

/// What a server writes to its disk; replayed in order on restart.
#[derive(Clone, Debug)]
pub enum Record {
    Generation(u64),
    /// Write counters below this may have been used.
    SeqReserve(u64),
    Versions {
        key: u64,
        siblings: Versions,
    },
    Hint {
        owner: u32,
        key: u64,
        siblings: Versions,
    },
    HintDone {
        owner: u32,
        key: u64,
        hash: u64,
    },
    /// A group commit: records that arrived while the previous sync was in flight.
    Batch(Vec<Record>),
}

pub enum DynamoNode {
    Server(Box<Server>),
    Client(Client),
}

impl DynamoNode {
    pub fn server(&self) -> Option<&Server> {
        match self {
            DynamoNode::Server(s) => Some(s),
            DynamoNode::Client(_) => None,
        }
    }
    pub fn client(&self) -> Option<&Client> {
        match self {
            DynamoNode::Client(c) => Some(c),
            DynamoNode::Server(_) => None,
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Server

enum AckAction {
    Write { to: NodeId, req: u64 },
    Handoff { to: NodeId, acks: Vec<(u64, u64)> },
}

#[derive(PartialEq, Eq)]
enum Kind {
    Get,
    Put,
}

/// A request's replicas: `(node, owner it holds a hint for)`, at most `N`.
type Targets = SmallVec<[(u32, Option<u32>); INLINE_REPLICAS]>;

/// How many replicas a request's lists (targets, answers) hold without an allocation: the
/// default `N`. As `Vec`s they cost an allocation and a free each per request (about 75
/// instructions apiece, docs/performance.md, "Round eight, merged": `dynsim8`).
const INLINE_REPLICAS: usize = 3;

/// Whether `answered` makes a quorum of `q`. A quorum counts distinct nodes, each one the request
/// was sent to (a node answering twice, or one never asked, is a bug upstream).
fn is_quorum(answered: &[(u32, u64)], targets: &[(u32, Option<u32>)], q: usize) -> bool {
    debug_assert!(
        answered.iter().enumerate().all(|(i, a)| answered[..i].iter().all(|b| b.0 != a.0)),
        "a node counted twice toward a quorum: {answered:?}"
    );
    debug_assert!(
        answered.iter().all(|a| targets.iter().any(|t| t.0 == a.0)),
        "a node that was not asked counted toward a quorum: {answered:?} of {targets:?}"
    );
    answered.len() >= q
}

/// A coordinator's answer when too few replicas are up for a quorum: out of line, as it is rare.
#[cold]
#[inline(never)]
fn refuse(ctx: &mut Ctx<'_, DynamoNode>, client: NodeId, fail: Msg) {
    ctx.count("coordinator_too_few_replicas", 1);
    ctx.send(client, fail);
}

/// The first `n` healthy nodes of a key's ring walk: healthy owners, then (sloppy quorum) healthy
/// fallbacks, each carrying a hint naming an owner it stands in for.
fn healthy_targets(
    mut walk: impl Iterator<Item = u32>,
    n: usize,
    sloppy: bool,
    is_up: impl Fn(u32) -> bool,
) -> Targets {
    let mut t = Targets::new();
    let mut down = Vec::new();
    for o in walk.by_ref().take(n) {
        if is_up(o) { t.push((o, None)) } else { down.push(o) }
    }
    if sloppy && !down.is_empty() {
        let mut d = down.into_iter();
        for f in walk {
            if !is_up(f) {
                continue;
            }
            match d.next() {
                Some(o) => t.push((f, Some(o))),
                None => break,
            }
        }
    }
    t
}

/// The replicas a coordinator asks of its `targets` for a quorum of `q`: all of them, or (random
/// choice) `q` of them drawn uniformly, in their preference-list order. Draws nothing otherwise.
#[inline]
fn choose_replicas(targets: Targets, q: usize, choice: ReplicaChoice, rng: &mut sim_core::Prng) -> Targets {
    if choice == ReplicaChoice::PreferenceList || targets.len() <= q {
        return targets;
    }
    draw_replicas(&targets, q, rng)
}

/// [`choose_replicas`]' random choice (`replica_choice: Random`, not the default): out of line.
#[inline(never)]
fn draw_replicas(targets: &Targets, q: usize, rng: &mut sim_core::Prng) -> Targets {
    // A partial Fisher-Yates shuffle of the indices, then the chosen ones in their order.
    let mut idx: Vec<usize> = (0..targets.len()).collect();
    for i in 0..q {
        let j = i + rng.below((idx.len() - i) as u64) as usize;
        idx.swap(i, j);
    }
    let mut keep = vec![false; targets.len()];
    for &i in &idx[..q] {
        keep[i] = true;
    }
    targets.iter().zip(keep).filter(|t| t.1).map(|t| *t.0).collect()
}

/// A new version written by coordinator `node` with write counter `seq` at its local time `now`.
/// Under the paper's vector clocks the coordinator's entry of the context clock goes past
/// `local_max` (the highest entry of its own it has seen for the key).
fn new_version(
    sh: &Shared,
    node: u32,
    seq: u64,
    now: u64,
    context: PSet<Dot>,
    items: PSet<u64>,
    local_max: u64,
) -> Sibling {
    let (clock, past) = match sh.config.versioning {
        Versioning::Dotted => (VClock::new(), context),
        Versioning::VectorClocks => {
            let mut clock = VClock(context.iter().map(|d| (d.node, d.seq)).collect());
            clock.advance(node, clock.get(node).max(local_max) + 1);
            (clock, PSet::new())
        }
    };
    Version::new(
        Dot { node, seq },
        clock,
        past,
        items,
        Stamp { local_ns: now, node },
        sh.config.ttl.map(|t| now + t.0).unwrap_or(0),
    )
}

/// Entries by request id, for ids a node hands out in rising order (its `next_req`) and never
/// reuses: a ring of slots from the oldest live id, so insert, lookup and removal are `O(1)` (a
/// `BTreeMap` walked its tree for each: about 300 instructions per request, 5% of a run's
/// simulation). Slots before the oldest live entry are dropped as it goes, so the table spans the
/// requests in flight (each ends by its answer or its timer).
struct ReqTable<T> {
    base: u64,
    slots: VecDeque<Option<T>>,
}

impl<T> ReqTable<T> {
    fn new() -> ReqTable<T> {
        ReqTable { base: 0, slots: VecDeque::new() }
    }

    fn insert(&mut self, id: u64, v: T) {
        if self.slots.is_empty() {
            self.base = id;
        }
        assert!(id >= self.base, "request id {id} below the oldest live one {}: ids must rise", self.base);
        let i = (id - self.base) as usize;
        // Most often the next id: one slot more at the back.
        if i == self.slots.len() {
            self.slots.push_back(Some(v));
            return;
        }
        self.insert_apart(i, v);
    }

    /// [`ReqTable::insert`] at slot `i`, not the next one: out of line, as it is seldom needed.
    #[inline(never)]
    fn insert_apart(&mut self, i: usize, v: T) {
        if self.slots.len() <= i {
            self.slots.resize_with(i + 1, || None);
        }
        debug_assert!(self.slots[i].is_none(), "request id {} used twice", self.base + i as u64);
        self.slots[i] = Some(v);
    }

    fn index(&self, id: u64) -> Option<usize> {
        id.checked_sub(self.base).map(|i| i as usize)
    }

    fn get(&self, id: u64) -> Option<&T> {
        self.slots.get(self.index(id)?)?.as_ref()
    }

    fn get_mut(&mut self, id: u64) -> Option<&mut T> {
        let i = self.index(id)?;
        self.slots.get_mut(i)?.as_mut()
    }

    fn remove(&mut self, id: u64) -> Option<T> {
        let i = self.index(id)?;
        let v = self.slots.get_mut(i)?.take();
        while let Some(None) = self.slots.front() {
            self.slots.pop_front();
            self.base += 1;
        }
        v
    }
}

/// Finished requests' boxes, for the next requests ([`Pending::new`]): as many as were ever in
/// flight at once. Boxes, not `Pending`s, as they move into a request table by pointer.
#[allow(clippy::vec_box)]
type Spares = Vec<Box<Pending>>;

/// A request a coordinator has sent to replicas: a server's for a client, or a client's own
/// under `coordinator: Proxy` (then `client` is the client itself and `client_req` its request).
struct Pending {
    kind: Kind,
    client: NodeId,
    client_req: u64,
    /// A put's workload operation (marked committed at the quorum).
    op: Option<OpId>,
    key: u64,
    targets: Targets,
    /// Who answered, and (gets) the hash of what each returned.
    answered: SmallVec<[(u32, u64); INLINE_REPLICAS]>,
    merged: Versions,
    responded: bool,
    timer: TimerId,
}

impl Pending {
    /// A round just started: nobody answered yet. Boxed: with its lists inline a `Pending` is
    /// 176 bytes, which a request table's insert and removal copied with `memcpy` calls (more
    /// instructions than the lists' own allocations had cost, measured); a box is one
    /// allocation for the request, where the lists as `Vec`s were two, and moves 8 bytes. The
    /// box is a finished request's from `spare` when there is one ([`Pending::retire`]): no
    /// allocation, and no copy of a new `Pending` into a new box (about 60 instructions less
    /// per request, measured).
    fn new(
        spare: &mut Spares,
        kind: Kind,
        (client, client_req): (NodeId, u64),
        op: Option<OpId>,
        key: u64,
        targets: Targets,
        timer: TimerId,
    ) -> Box<Pending> {
        let Some(mut p) = spare.pop() else {
            return Box::new(Pending {
                kind,
                client,
                client_req,
                op,
                key,
                answered: SmallVec::new(),
                targets,
                merged: Versions::new(),
                responded: false,
                timer,
            });
        };
        (p.kind, p.client, p.client_req, p.op, p.key) = (kind, client, client_req, op, key);
        (p.targets, p.responded, p.timer) = (targets, false, timer);
        p
    }

    /// Done: into `spare` for the next request, its lists emptied (what it merged released now).
    fn retire(mut self: Box<Self>, spare: &mut Spares) {
        self.answered.clear();
        self.merged.clear();
        spare.push(self);
    }

    /// A replica's read reply: `None` when ignored (not a get, or a repeat); else whether it
    /// completed the quorum of `r` just now (the caller answers with `merged`).
    fn read_reply(&mut self, from: u32, siblings: &[Sibling], r: usize, policy: Policy) -> Option<bool> {
        if self.kind != Kind::Get || self.answered.iter().any(|a| a.0 == from) {
            return None;
        }
        self.answered.push((from, store::set_hash(self.key, siblings)));
        store::merge(&mut self.merged, siblings, policy);
        Some(self.reached(r))
    }

    /// A replica's write acknowledgement, as [`Pending::read_reply`] for a quorum of `w`.
    fn write_ack(&mut self, from: u32, w: usize) -> Option<bool> {
        if self.kind != Kind::Put || self.answered.iter().any(|a| a.0 == from) {
            return None;
        }
        self.answered.push((from, 0));
        Some(self.reached(w))
    }

    fn reached(&mut self, q: usize) -> bool {
        let now = is_quorum(&self.answered, &self.targets, q) && !self.responded;
        self.responded |= now;
        now
    }

    fn all_answered(&self) -> bool {
        self.answered.len() == self.targets.len()
    }

    /// Read repair: every owner (not a hinted fallback) that answered with less than the
    /// reconciled versions.
    fn stale_owners(&self) -> Vec<u32> {
        if self.merged.is_empty() {
            return Vec::new();
        }
        let want = store::set_hash(self.key, &self.merged);
        self.answered
            .iter()
            .filter(|&&(node, hash)| hash != want && self.targets.iter().any(|t| t.0 == node && t.1.is_none()))
            .map(|a| a.0)
            .collect()
    }

    /// Out of time: the replicas that did not answer (to suspect), and the answer the requester
    /// gets if it had none yet.
    fn expire(&self) -> (Vec<u32>, Option<Msg>) {
        let silent = self.targets.iter().map(|t| t.0).filter(|t| !self.answered.iter().any(|a| a.0 == *t)).collect();
        let answer = (!self.responded).then(|| match self.kind {
            Kind::Get => Msg::GetReply { req: self.client_req, status: Status::Fail, siblings: Versions::new() },
            Kind::Put => Msg::PutReply { req: self.client_req, status: Status::Unknown },
        });
        (silent, answer)
    }
}

/// What a server holds of one key range (the versions themselves are in its key table).
struct Held {
    /// The range's keys, in no order: what walks them in key order sorts them first (a slot
    /// knows its key's place here, so a key leaves in `O(1)`).
    keys: Vec<u64>,
    /// Per leaf of the range's Merkle tree: the XOR of the hashes of its keys' versions, kept up
    /// to date on every change, so a tree costs `2L - 1` hashes, not a scan.
    leaf_xor: Vec<u64>,
    /// The Merkle root over `leaf_xor` as of its last change, once an anti-entropy round has
    /// asked for it: a range changes less often than rounds compare it (each round asks twice,
    /// both ends), and the roots' hashing was a twentieth of a 1,000-server run.
    root: Option<u64>,
    /// The bytes a full comparison would ship (every key's versions).
    bytes: u64,
}

/// One key's versions on a replica, and where its range lists it.
struct Stored {
    set: Versions,
    /// Its range's index in [`Server::held`].
    held: u32,
    /// Its place in that range's `keys`.
    pos: u32,
}

pub struct Server {
    sh: Rc<Shared>,
    me: u32,
    /// `key -> versions`: looked up, never iterated ([`KeyMap`]).
    keys: KeyMap<Stored>,
    /// The key ranges this server holds keys of (only those: a server of a thousand-server ring
    /// holds a few dozen of its tens of thousands of ranges), in the order it met them ...
    held: Vec<Held>,
    /// ... and `(range, its index there)` by range, ascending: a sorted list, not a map (a new
    /// key finds its range's entry by a binary search of a few dozen contiguous pairs; ranges
    /// are added rarely, at a server's first key of each).
    ranges: Vec<(u32, u32)>,
    /// `(owner, key) -> versions` held for an unreachable owner.
    hints: BTreeMap<(u32, u64), Versions>,
    /// The same hints by `(key, owner)`: a read finds a key's hints without asking every server
    /// whether it is their owner (a cost linear in the servers per read, once any hint exists).
    hints_by_key: BTreeMap<(u64, u32), ()>,
    owned_ranges: Vec<u32>,
    /// The ring version this server uses.
    epoch: usize,
    pending: ReqTable<Box<Pending>>,
    spare: Spares,
    next_req: u64,
    /// Acknowledgements waiting for a buffered write to be durable (`sync_writes: false`).
    on_disk: BTreeMap<WriteId, Vec<AckAction>>,
    /// The batch being synced now; records arriving meanwhile wait in `batch`.
    syncing: Option<WriteId>,
    /// The acknowledgements waiting for the batch being synced (one batch is in flight at a time,
    /// so no map: a map of one entry allocated and freed a node per batch). It and `batch_acks`
    /// swap buffers at each sync, so neither allocates once grown.
    sync_acks: Vec<AckAction>,
    batch: Vec<Record>,
    batch_acks: Vec<AckAction>,
    seq: u64,
    seq_reserved: u64,
    generation: u64,
    /// Each server's heartbeat `(generation, counter)`, as this server last heard it. A gossip
    /// message carries the table itself, not a copy: a table is written (`Rc::make_mut`) about
    /// twice a second and most often no message holds it by then, so it is copied only when one
    /// still does, where every message made a copy of 16 B per server (docs/performance.md,
    /// "Round thirty-six").
    beats: Rc<[(u64, u64)]>,
    /// Every other server is a gossip peer (heard from, or a seed). Heartbeats only rise within an
    /// incarnation, so once true it stays true, and a round's peer is drawn without a walk.
    all_peers: bool,
    /// Local time (ns) each server's heartbeat last rose.
    beat_seen: Vec<u64>,
    /// Local time (ns) until which a server that did not answer is considered down; and one
    /// slot more, never read, that a client's message clears ([`Server::on_msg`]).
    suspect_until: Vec<u64>,
}

/// The gossip peers of server `me` (given its heartbeat table `beats`): the other servers it has
/// heard from, and the seeds, in server order.
fn gossip_peers<'a>(beats: &'a [(u64, u64)], seeds: &'a [u32], me: u32) -> impl Iterator<Item = u32> + 'a {
    (0..beats.len() as u32).filter(move |&s| s != me && (beats[s as usize].0 > 0 || seeds.contains(&s)))
}

/// Takes each heartbeat of `heard` that is newer than `mine`'s, and notes when (`seen`). Without
/// a branch per server: whether a heartbeat is newer is a coin toss in a gossiping cluster, so a
/// branch would be mispredicted about every other entry.
fn merge_beats(mine: &mut [(u64, u64)], seen: &mut [u64], heard: &[(u64, u64)], now: u64) {
    for ((m, t), &h) in mine.iter_mut().zip(seen.iter_mut()).zip(heard) {
        let newer = h > *m;
        let keep = (newer as u64).wrapping_sub(1); // all ones when not newer
        m.0 = (m.0 & keep) | (h.0 & !keep);
        m.1 = (m.1 & keep) | (h.1 & !keep);
        *t = (*t & keep) | (now & !keep);
    }
}

/// Whether `key` is stored in leaf `leaf` of a range's Merkle tree.
fn leaf_of(key: u64, leaves: u32) -> u32 {
    (mix64(key ^ 0x1EAF) % leaves as u64) as u32
}

impl Server {
    pub fn new(sh: Rc<Shared>, me: u32) -> Server {
        let n = sh.servers as usize;
        let owned_ranges = sh.views[0].owned[me as usize].clone();
        Server {
            me,
            keys: KeyMap::default(),
            held: Vec::new(),
            ranges: Vec::new(),
            hints: BTreeMap::new(),
            hints_by_key: BTreeMap::new(),
            owned_ranges,
            epoch: 0,
            pending: ReqTable::new(),
            spare: Spares::new(),
            next_req: 0,
            on_disk: BTreeMap::new(),
            syncing: None,
            sync_acks: Vec::new(),
            batch: Vec::new(),
            batch_acks: Vec::new(),
            seq: 0,
            seq_reserved: 0,
            generation: 0,
            beats: vec![(0, 0); n].into(),
            all_peers: false,
            beat_seen: vec![0; n],
            suspect_until: vec![0; n + 1],
            sh,
        }
    }

    /// The versions this server stores of `key`.
    fn stored(&self, key: u64) -> Option<&Versions> {
        self.keys.get(key).map(|s| &s.set)
    }

    /// The index in `held` of range `range`, a new entry if this server held none of its keys.
    fn held_index(ranges: &mut Vec<(u32, u32)>, held: &mut Vec<Held>, leaves: u32, range: u32) -> usize {
        match ranges.binary_search_by_key(&range, |e| e.0) {
            Ok(i) => ranges[i].1 as usize,
            Err(i) => {
                held.push(Held { keys: Vec::new(), leaf_xor: vec![0; leaves as usize], root: None, bytes: 0 });
                ranges.insert(i, (range, (held.len() - 1) as u32));
                held.len() - 1
            }
        }
    }

    /// The index in `held` of range `range`, if this server holds keys of it.
    fn held_of(&self, range: u32) -> Option<usize> {
        let i = self.ranges.binary_search_by_key(&range, |e| e.0).ok()?;
        Some(self.ranges[i].1 as usize)
    }

    /// The entry of `key`: filed under its range of the current ring, with no versions yet, if
    /// it had none.
    fn file(&mut self, key: u64) -> &mut Stored {
        let Server { keys, held, ranges, sh, epoch, .. } = self;
        keys.get_or_insert_with(key, || {
            let range = sh.views[*epoch].range_of(key) as u32;
            let h = Server::held_index(ranges, held, sh.config.merkle_leaves, range);
            held[h].keys.push(key);
            // No versions yet: the one a new key most often gets will be held inline.
            Stored { set: Versions::new(), held: h as u32, pos: (held[h].keys.len() - 1) as u32 }
        })
        .0
    }

    /// Takes `key` out of the store: its versions and its range's index in `held`.
    fn unfile(&mut self, key: u64) -> Option<(Versions, usize)> {
        let s = self.keys.remove(key)?;
        let (h, pos) = (s.held as usize, s.pos as usize);
        let list = &mut self.held[h].keys;
        list.swap_remove(pos);
        if let Some(&moved) = list.get(pos) {
            self.keys.get_mut(moved).expect("a listed key is stored").pos = pos as u32;
        }
        Some((s.set, h))
    }

    fn view(&self) -> &View {
        &self.sh.views[self.epoch]
    }

    /// Moves to ring epoch `e` (never back): re-files every key under the new ring's ranges.
    #[cold]
    #[inline(never)]
    fn set_epoch(&mut self, e: usize) {
        if e <= self.epoch {
            return;
        }
        self.epoch = e;
        let sh = self.sh.clone();
        let view = &sh.views[e];
        let (mut old, held) = (std::mem::take(&mut self.keys), std::mem::take(&mut self.held));
        let ranges = std::mem::take(&mut self.ranges);
        self.owned_ranges = view.owned[self.me as usize].clone();
        // In the order the ranges' trees held them: by range, then by key.
        for (_, h) in ranges {
            let mut keys = held[h as usize].keys.clone();
            keys.sort_unstable();
            for key in keys {
                let set = old.remove(key).expect("a listed key is stored").set;
                let d = Server::digest(key, &set);
                let s = self.file(key);
                s.set = set;
                let h = s.held as usize;
                self.account(h, key, None, d);
            }
        }
    }

    /// The live versions this server holds for `key` (its own and any hinted copies).
    pub fn versions(&self, key: u64, local_now_ns: u64) -> Versions {
        let policy = self.sh.policy();
        let mut out = Versions::new();
        if let Some(s) = self.stored(key) {
            store::merge(&mut out, s, policy);
        }
        for s in self.hints_of(key) {
            store::merge(&mut out, s, policy);
        }
        out.retain(|s| s.is_live(local_now_ns));
        out
    }

    /// The versions this server holds as a replica (not hints) for `key`.
    pub fn own_versions(&self, key: u64, local_now_ns: u64) -> Versions {
        let mut v = self.stored(key).cloned().unwrap_or_default();
        v.retain(|s| s.is_live(local_now_ns));
        v
    }

    /// Every version this server stores as a replica for `key`, live or expired (no copy).
    pub fn own_set(&self, key: u64) -> &[Sibling] {
        self.stored(key).map_or(&[], |s| s.as_slice())
    }

    /// The versions this server holds of `key` for other owners, by owner.
    fn hints_of(&self, key: u64) -> impl Iterator<Item = &Versions> + '_ {
        self.hints_by_key
            .range((key, 0)..=(key, u32::MAX))
            .filter_map(move |(&(_, owner), _)| self.hints.get(&(owner, key)))
    }

    /// Every key this server stores as a replica, in no particular order.
    pub fn keys(&self) -> impl Iterator<Item = u64> + '_ {
        self.held.iter().flat_map(|h| h.keys.iter().copied())
    }

    pub fn key_count(&self) -> usize {
        self.keys.len()
    }

    /// Every key this server holds a hinted copy of.
    pub fn hinted_keys(&self) -> impl Iterator<Item = u64> + '_ {
        self.hints.keys().map(|k| k.1)
    }

    pub fn hint_count(&self) -> usize {
        self.hints.len()
    }

    fn is_up(&self, now_ns: u64, s: u32) -> bool {
        if s == self.me {
            return true;
        }
        let i = s as usize;
        if now_ns < self.suspect_until[i] {
            return false;
        }
        let c = &self.sh.config;
        !c.gossip || self.beats[i].0 == 0 || now_ns.saturating_sub(self.beat_seen[i]) <= c.failure_timeout.0
    }

    fn suspect(&mut self, now_ns: u64, s: u32) {
        if s != self.me {
            self.suspect_until[s as usize] = now_ns + self.sh.config.failure_timeout.0;
        }
    }

    /// The first `N` healthy nodes of the key's ring walk ([`healthy_targets`]), as this server's
    /// failure detector sees them.
    fn targets(&self, now_ns: u64, key: u64) -> Targets {
        let c = &self.sh.config;
        let n = (c.replicas as usize).min(self.sh.servers as usize);
        let view = self.view();
        let (ring, range) = (&view.ring, view.range_of(key));
        // Most often every owner is up: the targets are the preference list (the walk's first
        // `n`), and no walk is needed.
        let owners = ring.head(range, n);
        if owners.iter().all(|&s| self.is_up(now_ns, s)) {
            // A push each: `SmallVec`'s `collect` costs about 80 instructions for three.
            let mut t = Targets::new();
            for &s in owners {
                t.push((s, None));
            }
            return t;
        }
        self.targets_past_failures(now_ns, range, n)
    }

    /// [`Server::targets`] when an owner is down: the ring walk past it. Out of line and cold,
    /// so the generic walk and its closures stay out of every request's handler.
    #[cold]
    #[inline(never)]
    fn targets_past_failures(&self, now_ns: u64, range: usize, n: usize) -> Targets {
        let ring = &self.view().ring;
        healthy_targets(ring.walk(range), n, self.sh.config.sloppy_quorum, |s| self.is_up(now_ns, s))
    }

    fn next_seq(&mut self, ctx: &mut Ctx<'_, DynamoNode>) -> u64 {
        self.seq += 1;
        if self.seq + 500 >= self.seq_reserved {
            self.reserve_seqs(ctx);
        }
        self.seq
    }

    /// Reserves the next thousand write counters on disk: once per thousand writes.
    #[cold]
    #[inline(never)]
    fn reserve_seqs(&mut self, ctx: &mut Ctx<'_, DynamoNode>) {
        self.seq_reserved = self.seq_reserved.max(self.seq) + 1000;
        ctx.persist(Record::SeqReserve(self.seq_reserved));
    }

    /// Writes `r`; `ack` is sent once it is durable. Synced writes are group-committed: while one
    /// fsync is in flight, new records gather into the next batch (one disk write for all).
    fn write_record(&mut self, ctx: &mut Ctx<'_, DynamoNode>, r: Record, ack: Option<AckAction>) {
        if !self.sh.config.sync_writes {
            return self.write_buffered(ctx, r, ack);
        }
        self.batch.push(r);
        self.batch_acks.extend(ack);
        if self.syncing.is_none() {
            self.sync_batch(ctx);
        }
    }

    /// `sync_writes: false` (not the default): `ack` waits in a map for its own write. Out of
    /// line, so the map's code stays out of every write's handler.
    #[inline(never)]
    fn write_buffered(&mut self, ctx: &mut Ctx<'_, DynamoNode>, r: Record, ack: Option<AckAction>) {
        let w = ctx.persist_buffered(r);
        if let Some(a) = ack {
            self.on_disk.entry(w).or_default().push(a);
        }
    }

    fn sync_batch(&mut self, ctx: &mut Ctx<'_, DynamoNode>) {
        // A batch of one (the common case) is written as its record; a larger one as a copy of
        // exactly its length (one allocation, where a batch that started anew grew by doubling).
        // Either way the batch keeps its buffer for the next.
        let r = if self.batch.len() == 1 {
            self.batch.pop().expect("one")
        } else {
            Record::Batch(self.batch.drain(..).collect())
        };
        let w = ctx.persist(r);
        debug_assert!(self.sync_acks.is_empty(), "a batch's acknowledgements left over");
        std::mem::swap(&mut self.sync_acks, &mut self.batch_acks);
        self.syncing = Some(w);
    }

    /// Merges versions into the replica's own store; true when they changed it.
    fn apply(&mut self, now_ns: u64, key: u64, incoming: &[Sibling]) -> bool {
        let policy = self.sh.policy();
        if !incoming.iter().any(|s| s.is_live(now_ns)) {
            return false;
        }
        let stored = self.file(key);
        let old = Server::digest(key, &stored.set);
        let mut changed = false;
        for s in incoming.iter().filter(|s| s.is_live(now_ns)) {
            changed |= store::add(&mut stored.set, s.clone(), policy);
        }
        let new = Server::digest(key, &stored.set);
        let (h, empty) = (stored.held as usize, stored.set.is_empty());
        if empty {
            self.unfile(key);
        }
        if changed {
            self.account(h, key, old, new);
        }
        changed
    }

    /// A key's versions as the Merkle tree sees them: (hash, bytes), or nothing when none.
    fn digest(key: u64, set: &[Sibling]) -> Option<(u64, u64)> {
        (!set.is_empty()).then(|| (store::set_hash(key, set), 8 + store::set_size_bytes(set)))
    }

    /// Moves a key's contribution to its range's (`held[h]`'s) leaf and byte count from `old` to `new`.
    fn account(&mut self, h: usize, key: u64, old: Option<(u64, u64)>, new: Option<(u64, u64)>) {
        let leaf = leaf_of(key, self.sh.config.merkle_leaves) as usize;
        let held = &mut self.held[h];
        held.root = None;
        if let Some((h, b)) = old {
            held.leaf_xor[leaf] ^= h;
            held.bytes -= b;
        }
        if let Some((h, b)) = new {
            held.leaf_xor[leaf] ^= h;
            held.bytes += b;
        }
    }

    /// A copy held for an unreachable owner (sloppy quorum): only while a server is down.
    #[cold]
    #[inline(never)]
    fn apply_hint(&mut self, owner: u32, key: u64, incoming: &[Sibling]) -> bool {
        let policy = self.sh.policy();
        self.hints_by_key.insert((key, owner), ());
        store::merge(self.hints.entry((owner, key)).or_default(), incoming, policy)
    }

    fn replay(&mut self, records: &[Record]) {
        for r in records {
            match r {
                Record::Batch(b) => self.replay(b),
                Record::Generation(g) => self.generation = self.generation.max(*g),
                Record::SeqReserve(s) => self.seq = self.seq.max(*s),
                Record::Versions { key, siblings } => {
                    self.apply(0, *key, siblings);
                }
                Record::Hint { owner, key, siblings } => {
                    self.apply_hint(*owner, *key, siblings);
                }
                Record::HintDone { owner, key, hash } => {
                    self.hint_done(*owner, *key, *hash);
                }
            }
        }
        self.seq_reserved = self.seq_reserved.max(self.seq);
    }

    fn hint_done(&mut self, owner: u32, key: u64, hash: u64) -> bool {
        let same = self.hints.get(&(owner, key)).is_some_and(|s| store::set_hash(key, s) == hash);
        if same {
            self.hints.remove(&(owner, key));
            self.hints_by_key.remove(&(key, owner));
        }
        same
    }

    fn on_start(&mut self, ctx: &mut Ctx<'_, DynamoNode>) {
        if ctx.is_restart() {
            let records = ctx.durable().to_vec();
            self.replay(&records);
        }
        self.generation += 1;
        ctx.persist(Record::Generation(self.generation));
        // The ring as the operator's schedule has it now; later changes are adopted when due by the
        // server concerned (and by everyone when there is no gossip to spread them).
        let now = ctx.now().0;
        let due = self.sh.epoch_at(now);
        self.set_epoch(due);
        let gossip = self.sh.config.gossip;
        for (k, c) in self.sh.config.membership.clone().iter().enumerate() {
            if c.at.0 > now && (c.server == self.me || !gossip) {
                ctx.set_timer(sim_core::Duration(c.at.0 - now), Timer::Epoch(k + 1));
            }
        }
        Rc::make_mut(&mut self.beats)[self.me as usize] = (self.generation, 0);
        let c = self.sh.config.clone();
        let jitter = |ctx: &mut Ctx<'_, DynamoNode>, every: sim_core::Duration, t: Timer| {
            let first = sim_core::Duration(ctx.rng().below(every.0.max(1)) + 1);
            ctx.set_timer(first, t);
        };
        if c.gossip {
            jitter(ctx, c.gossip_interval, Timer::Gossip);
        }
        if c.anti_entropy {
            jitter(ctx, c.anti_entropy_interval, Timer::AntiEntropy);
        }
        if c.hinted_handoff {
            jitter(ctx, c.handoff_interval, Timer::Handoff);
        }
        if c.ttl.is_some() {
            jitter(ctx, c.sweep_interval, Timer::Sweep);
        }
    }

    fn on_msg(&mut self, ctx: &mut Ctx<'_, DynamoNode>, from: NodeId, msg: Msg) {
        // A server that answers is no longer suspected. A client's message clears the spare last
        // slot instead: no branch on the sender's kind, which the mix of clients' requests and
        // replicas' traffic made unpredictable (callgrind: 100 k mispredicts on the Dynamo cut).
        let slot = from.index().min(self.suspect_until.len() - 1);
        self.suspect_until[slot] = 0;
        match msg {
            Msg::ClientGet { req, key } => self.on_client_get(ctx, from, req, key),
            Msg::ClientPut { req, op, key, context, items } => {
                self.on_client_put(ctx, from, req, op, key, context, items)
            }
            Msg::Read { req, key } => {
                let siblings = self.read_local(ctx.now().0, key);
                ctx.send(from, Msg::ReadReply { req, siblings });
            }
            Msg::ReadReply { req, siblings } => self.on_read_reply(ctx, from.0, req, siblings),
            Msg::Write { req, key, sibling, hint } => self.on_write(ctx, from, req, key, sibling, hint),
            Msg::WriteAck { req } => self.on_write_ack(ctx, from.0, req),
            m => self.on_maintenance_msg(ctx, from, m),
        }
    }

    /// The messages that are not a client request's own (repair, handoff, gossip, anti-entropy):
    /// a few per thousand. Out of line and cold, so that the request path above stays compact
    /// in the instruction cache (inlined, these arms made the handler 12 KB).
    #[cold]
    #[inline(never)]
    fn on_maintenance_msg(&mut self, ctx: &mut Ctx<'_, DynamoNode>, from: NodeId, msg: Msg) {
        let now = ctx.now().0;
        match msg {
            Msg::Repair { key, siblings } => {
                if self.apply(now, key, &siblings) {
                    ctx.count("read_repair_keys_fixed", 1);
                    self.write_record(ctx, Record::Versions { key, siblings }, None);
                }
            }
            Msg::Handoff { entries } => self.on_handoff(ctx, from, entries),
            Msg::HandoffAck { acks } => {
                for (key, hash) in acks {
                    if self.hint_done(from.0, key, hash) {
                        ctx.count("handoff_keys", 1);
                        ctx.persist_buffered(Record::HintDone { owner: from.0, key, hash });
                    }
                }
            }
            Msg::Gossip { beats, epoch, reply } => {
                self.set_epoch(epoch as usize);
                merge_beats(Rc::make_mut(&mut self.beats), &mut self.beat_seen, &beats, now);
                if reply {
                    let epoch = self.epoch as u32;
                    ctx.send(from, Msg::Gossip { beats: self.beats.clone(), epoch, reply: false });
                }
            }
            Msg::AeRoot { epoch, .. } | Msg::AeLeaves { epoch, .. } | Msg::AeData { epoch, .. }
                if epoch as usize != self.epoch =>
            {
                ctx.count("ae_epoch_mismatch", 1);
            }
            Msg::AeRoot { epoch, range, root } => {
                if self.root(range).0 == root {
                    ctx.count("ae_ranges_in_sync", 1);
                } else {
                    let tree = self.tree(range);
                    let m = Msg::AeLeaves { epoch, range, leaves: tree.leaf_hashes().to_vec() };
                    ctx.count("ae_bytes", m.size_bytes());
                    ctx.send(from, m);
                }
            }
            Msg::AeLeaves { epoch, range, leaves } => {
                let tree = self.tree(range);
                let (diff, _) = tree.diff(&MerkleTree::from_leaves(&leaves));
                let diff: Box<[u32]> = diff.into_iter().map(|l| l as u32).collect();
                let entries = self.entries_in(range, &diff);
                let m = Msg::AeData { epoch, range, leaves: diff, entries, reply: true };
                ctx.count("ae_bytes", m.size_bytes());
                ctx.send(from, m);
            }
            Msg::AeData { epoch, range, leaves, entries, reply } => {
                if reply {
                    let mine = self.entries_in(range, &leaves);
                    let m = Msg::AeData { epoch, range, leaves, entries: mine, reply: false };
                    ctx.count("ae_bytes", m.size_bytes());
                    ctx.send(from, m);
                }
                for (key, siblings) in entries {
                    if self.apply(now, key, &siblings) {
                        ctx.count("ae_keys_repaired", 1);
                        self.write_record(ctx, Record::Versions { key, siblings }, None);
                    }
                }
            }
            Msg::GetReply { .. } | Msg::PutReply { .. } => {}
            Msg::ClientGet { .. }
            | Msg::ClientPut { .. }
            | Msg::Read { .. }
            | Msg::ReadReply { .. }
            | Msg::Write { .. }
            | Msg::WriteAck { .. } => unreachable!("a request's message is handled by on_msg"),
        }
    }

    fn read_local(&mut self, now: u64, key: u64) -> Versions {
        let mut out: Versions = match self.stored(key) {
            None => Versions::new(),
            Some(set) if set.iter().any(|v| v.is_live(now)) => set.iter().filter(|v| v.is_live(now)).cloned().collect(),
            Some(_) => self.drop_expired(key),
        };
        // Hints are held only around a server's failure: most reads skip their lookup.
        if !self.hints_by_key.is_empty() {
            self.add_hinted(now, key, &mut out);
        }
        out
    }

    /// Lazy delete: a key whose every version expired is invisible, and removed on sight.
    #[cold]
    #[inline(never)]
    fn drop_expired(&mut self, key: u64) -> Versions {
        let (set, h) = self.unfile(key).expect("stored");
        self.account(h, key, Server::digest(key, &set), None);
        Versions::new()
    }

    /// Adds the live versions of `key` this server holds for other owners to `out`.
    #[cold]
    #[inline(never)]
    fn add_hinted(&self, now: u64, key: u64, out: &mut Versions) {
        let policy = self.sh.policy();
        for h in self.hints_of(key) {
            for v in h.iter().filter(|v| v.is_live(now)) {
                store::add(out, v.clone(), policy);
            }
        }
    }

    fn on_client_get(&mut self, ctx: &mut Ctx<'_, DynamoNode>, client: NodeId, client_req: u64, key: u64) {
        let now = ctx.now().0;
        let targets = self.targets(now, key);
        if targets.len() < self.sh.config.read_quorum as usize {
            return refuse(
                ctx,
                client,
                Msg::GetReply { req: client_req, status: Status::Fail, siblings: Versions::new() },
            );
        }
        let c = &self.sh.config;
        let targets = choose_replicas(targets, c.read_quorum as usize, c.replica_choice, ctx.rng());
        let req = self.next_req;
        self.next_req += 1;
        let timer = ctx.set_timer(self.sh.config.request_timeout, Timer::Request(req));
        let local = targets.iter().any(|t| t.0 == self.me);
        for &(t, _) in &targets {
            if t != self.me {
                ctx.send(NodeId(t), Msg::Read { req, key });
            }
        }
        let p = Pending::new(&mut self.spare, Kind::Get, (client, client_req), None, key, targets, timer);
        self.pending.insert(req, p);
        if local {
            let siblings = self.read_local(now, key);
            self.on_read_reply(ctx, self.me, req, siblings);
        }
    }

    fn on_read_reply(&mut self, ctx: &mut Ctx<'_, DynamoNode>, from: u32, req: u64, siblings: Versions) {
        let policy = self.sh.policy();
        let r = self.sh.config.read_quorum as usize;
        let Some(p) = self.pending.get_mut(req) else { return };
        let Some(quorum) = p.read_reply(from, &siblings, r, policy) else { return };
        if quorum {
            ctx.send(
                p.client,
                Msg::GetReply { req: p.client_req, status: Status::Ok, siblings: store::copy(&p.merged) },
            );
        }
        if p.all_answered() {
            let p = self.pending.remove(req).expect("pending");
            ctx.cancel_timer(p.timer);
            self.read_repair(ctx, &p);
            p.retire(&mut self.spare);
        }
    }

    /// Every owner that answered with less than the reconciled versions gets them.
    fn read_repair(&mut self, ctx: &mut Ctx<'_, DynamoNode>, p: &Pending) {
        if !self.sh.config.read_repair {
            return;
        }
        let stale = p.stale_owners();
        if !stale.is_empty() {
            self.repair(ctx, p, stale);
        }
    }

    /// Sends the reconciled versions of `p`'s key to the `stale` owners: rare, out of line.
    #[cold]
    #[inline(never)]
    fn repair(&mut self, ctx: &mut Ctx<'_, DynamoNode>, p: &Pending, stale: Vec<u32>) {
        for node in stale {
            ctx.count("read_repairs_sent", 1);
            if node == self.me {
                let now = ctx.now().0;
                if self.apply(now, p.key, &p.merged) {
                    ctx.count("read_repair_keys_fixed", 1);
                    self.write_record(ctx, Record::Versions { key: p.key, siblings: store::copy(&p.merged) }, None);
                }
            } else {
                ctx.send(NodeId(node), Msg::Repair { key: p.key, siblings: store::copy(&p.merged) });
            }
        }
    }

    fn on_client_put(
        &mut self,
        ctx: &mut Ctx<'_, DynamoNode>,
        client: NodeId,
        client_req: u64,
        op: OpId,
        key: u64,
        context: PSet<Dot>,
        items: PSet<u64>,
    ) {
        let now = ctx.now().0;
        let targets = self.targets(now, key);
        if targets.len() < self.sh.config.write_quorum as usize {
            return refuse(ctx, client, Msg::PutReply { req: client_req, status: Status::Fail });
        }
        let c = &self.sh.config;
        let targets = choose_replicas(targets, c.write_quorum as usize, c.replica_choice, ctx.rng());
        let seq = self.next_seq(ctx);
        let local_max = match self.sh.config.versioning {
            Versioning::VectorClocks => self.local_max(key, now),
            Versioning::Dotted => 0,
        };
        let sibling = new_version(&self.sh, self.me, seq, now, context, items, local_max);
        let req = self.next_req;
        self.next_req += 1;
        let timer = ctx.set_timer(self.sh.config.request_timeout, Timer::Request(req));
        let mut local = None;
        for &(t, hint) in &targets {
            if hint.is_some() {
                ctx.count("hinted_writes", 1);
            }
            if t == self.me {
                local = Some(hint);
            } else {
                ctx.send(NodeId(t), Msg::Write { req, key, sibling: sibling.clone(), hint });
            }
        }
        let p = Pending::new(&mut self.spare, Kind::Put, (client, client_req), Some(op), key, targets, timer);
        self.pending.insert(req, p);
        if let Some(hint) = local {
            let me = NodeId(self.me);
            self.on_write(ctx, me, req, key, sibling, hint);
        }
    }

    /// The paper's rule under vector clocks (not the default): the coordinator increments its
    /// own entry of the context clock past anything it has stored for the key.
    #[inline(never)]
    fn local_max(&self, key: u64, now: u64) -> u64 {
        self.versions(key, now).iter().map(|s| s.clock.get(self.me)).max().unwrap_or(0)
    }

    fn on_write(
        &mut self,
        ctx: &mut Ctx<'_, DynamoNode>,
        from: NodeId,
        req: u64,
        key: u64,
        sibling: Sibling,
        hint: Option<u32>,
    ) {
        let now = ctx.now().0;
        let siblings = Versions::from_buf([sibling]);
        let record = match hint {
            Some(owner) if owner != self.me => {
                self.apply_hint(owner, key, &siblings).then_some(Record::Hint { owner, key, siblings })
            }
            _ => self.apply(now, key, &siblings).then_some(Record::Versions { key, siblings }),
        };
        match record {
            Some(r) => self.write_record(ctx, r, Some(AckAction::Write { to: from, req })),
            None => self.ack_write(ctx, from, req),
        }
    }

    fn ack_write(&mut self, ctx: &mut Ctx<'_, DynamoNode>, to: NodeId, req: u64) {
        if to.0 == self.me {
            self.on_write_ack(ctx, self.me, req);
        } else {
            ctx.send(to, Msg::WriteAck { req });
        }
    }

    fn on_write_ack(&mut self, ctx: &mut Ctx<'_, DynamoNode>, from: u32, req: u64) {
        let w = self.sh.config.write_quorum as usize;
        let Some(p) = self.pending.get_mut(req) else { return };
        let Some(quorum) = p.write_ack(from, w) else { return };
        if quorum {
            if let Some(op) = p.op {
                ctx.committed(op);
            }
            ctx.send(p.client, Msg::PutReply { req: p.client_req, status: Status::Ok });
        }
        if p.all_answered() {
            let p = self.pending.remove(req).expect("pending");
            ctx.cancel_timer(p.timer);
            p.retire(&mut self.spare);
        }
    }

    #[cold]
    #[inline(never)]
    fn on_request_timeout(&mut self, ctx: &mut Ctx<'_, DynamoNode>, req: u64) {
        let Some(p) = self.pending.remove(req) else { return };
        let now = ctx.now().0;
        let (silent, answer) = p.expire();
        for t in silent {
            self.suspect(now, t);
        }
        ctx.count("coordinator_timeouts", 1);
        if let Some(m) = answer {
            ctx.send(p.client, m);
        } else if p.kind == Kind::Get {
            self.read_repair(ctx, &p);
        }
    }

    fn on_handoff(&mut self, ctx: &mut Ctx<'_, DynamoNode>, from: NodeId, entries: Vec<Entry>) {
        let now = ctx.now().0;
        let mut acks = Vec::with_capacity(entries.len());
        let mut changed = Vec::new();
        for (key, siblings) in entries {
            acks.push((key, store::set_hash(key, &siblings)));
            if self.apply(now, key, &siblings) {
                changed.push(Record::Versions { key, siblings });
            }
        }
        // Acknowledge only once the handed-over versions are on disk.
        if changed.is_empty() {
            ctx.send(from, Msg::HandoffAck { acks });
        } else {
            self.write_record(ctx, Record::Batch(changed), Some(AckAction::Handoff { to: from, acks }));
        }
    }

    fn on_persisted(&mut self, ctx: &mut Ctx<'_, DynamoNode>, w: WriteId) {
        let synced = self.syncing == Some(w);
        let mut acks = if synced { std::mem::take(&mut self.sync_acks) } else { self.buffered_acks(w) };
        for a in acks.drain(..) {
            match a {
                AckAction::Write { to, req } => self.ack_write(ctx, to, req),
                AckAction::Handoff { to, acks } => ctx.send(to, Msg::HandoffAck { acks }),
            }
        }
        if synced {
            // The emptied list keeps its buffer for the next batch but one.
            self.sync_acks = acks;
            self.syncing = None;
            if !self.batch.is_empty() {
                self.sync_batch(ctx);
            }
        }
    }

    /// The acknowledgements waiting for buffered write `w` (`sync_writes: false`), if any: out
    /// of line, as [`Server::write_buffered`].
    #[inline(never)]
    fn buffered_acks(&mut self, w: WriteId) -> Vec<AckAction> {
        self.on_disk.remove(&w).unwrap_or_default()
    }

    /// The Merkle tree of one range of the own store.
    fn tree(&self, range: u32) -> MerkleTree {
        match self.held_of(range) {
            Some(h) => MerkleTree::from_leaves(&self.held[h].leaf_xor),
            None => MerkleTree::from_leaves(&vec![0; self.sh.config.merkle_leaves as usize]),
        }
    }

    /// The root of [`Server::tree`] (without the tree), and the bytes a full comparison would send.
    fn root(&mut self, range: u32) -> (u64, u64) {
        match self.held_of(range) {
            Some(h) => {
                let held = &mut self.held[h];
                (*held.root.get_or_insert_with(|| MerkleTree::root_of(&held.leaf_xor)), held.bytes)
            }
            None => (self.sh.empty_root, 0),
        }
    }

    /// The keys of range `range` this server stores, ascending.
    fn sorted_keys(&self, range: u32) -> Vec<u64> {
        let mut keys = self.held_of(range).map_or_else(Vec::new, |h| self.held[h].keys.clone());
        keys.sort_unstable();
        keys
    }

    /// The versions of every key of `range` in the Merkle leaves `leaves`, by key ascending.
    fn entries_in(&self, range: u32, leaves: &[u32]) -> Box<[Entry]> {
        let l = self.sh.config.merkle_leaves;
        let mut keys = self.sorted_keys(range);
        keys.retain(|&key| leaves.binary_search(&leaf_of(key, l)).is_ok());
        keys.into_iter().map(|key| (key, self.stored(key).expect("a listed key is stored").clone())).collect()
    }

    /// Every timer of a server is rare next to its messages (a request's timer is cancelled at
    /// its last answer): each kind has its own out-of-line, cold handler.
    fn on_timer(&mut self, ctx: &mut Ctx<'_, DynamoNode>, timer: Timer) {
        match timer {
            Timer::Request(req) => self.on_request_timeout(ctx, req),
            Timer::Gossip => self.gossip(ctx),
            Timer::AntiEntropy => self.anti_entropy(ctx),
            Timer::Handoff => self.hand_off(ctx),
            Timer::Sweep => self.sweep(ctx),
            Timer::Epoch(e) => self.set_epoch(e),
            Timer::Attempt(..) | Timer::Deadline(_) => {}
        }
    }

    /// A heartbeat, pushed to a random peer (known alive, or a seed).
    #[cold]
    #[inline(never)]
    fn gossip(&mut self, ctx: &mut Ctx<'_, DynamoNode>) {
        let now = ctx.now().0;
        let c = &self.sh.config;
        let (servers, me) = (self.sh.servers, self.me);
        Rc::make_mut(&mut self.beats)[me as usize].1 += 1;
        self.beat_seen[me as usize] = now;
        // A random one of the peers. Once every other server is one, the k-th of them is k or
        // k + 1; until then they are counted and walked to. A list of them built every round was
        // most of what a round cost in a large cluster.
        let peers = if self.all_peers { servers - 1 } else { gossip_peers(&self.beats, &c.seeds, me).count() as u32 };
        self.all_peers = peers + 1 == servers;
        if peers > 0 {
            let k = ctx.rng().below(peers as u64) as u32;
            let p = if self.all_peers {
                k + (k >= me) as u32
            } else {
                gossip_peers(&self.beats, &c.seeds, me).nth(k as usize).expect("the k-th of the peers counted")
            };
            let epoch = self.epoch as u32;
            ctx.send(NodeId(p), Msg::Gossip { beats: self.beats.clone(), epoch, reply: true });
        }
        ctx.set_timer(c.gossip_interval, Timer::Gossip);
    }

    /// Each owned range's Merkle root, to a random other owner that is up.
    #[cold]
    #[inline(never)]
    fn anti_entropy(&mut self, ctx: &mut Ctx<'_, DynamoNode>) {
        let now = ctx.now().0;
        let sh = self.sh.clone();
        let c = &sh.config;
        let epoch = self.epoch as u32;
        for i in 0..self.owned_ranges.len() {
            let range = self.owned_ranges[i];
            let ring = &sh.views[self.epoch].ring;
            let n = (c.replicas as usize).min(ring.distinct_servers());
            let peers: Vec<u32> =
                ring.head(range as usize, n).iter().copied().filter(|&s| s != self.me && self.is_up(now, s)).collect();
            if peers.is_empty() {
                continue;
            }
            let peer = peers[ctx.rng().below(peers.len() as u64) as usize];
            let (root, full) = self.root(range);
            let m = Msg::AeRoot { epoch, range, root };
            ctx.count("ae_bytes", m.size_bytes());
            // A full comparison ships every key's versions in the range, both ways.
            ctx.count("ae_bytes_full", 2 * full);
            ctx.send(NodeId(peer), m);
        }
        ctx.set_timer(c.anti_entropy_interval, Timer::AntiEntropy);
    }

    /// Hinted handoff: up to 128 hinted keys to each owner that is up again.
    #[cold]
    #[inline(never)]
    fn hand_off(&mut self, ctx: &mut Ctx<'_, DynamoNode>) {
        let now = ctx.now().0;
        let mut batches: BTreeMap<u32, Vec<Entry>> = BTreeMap::new();
        for (&(owner, key), s) in &self.hints {
            if !self.is_up(now, owner) {
                continue;
            }
            let b = batches.entry(owner).or_default();
            if b.len() < 128 {
                b.push((key, s.clone()));
            }
        }
        for (owner, entries) in batches {
            ctx.send(NodeId(owner), Msg::Handoff { entries });
        }
        ctx.set_timer(self.sh.config.handoff_interval, Timer::Handoff);
    }

    /// TTL: drops every expired version, own and hinted.
    #[cold]
    #[inline(never)]
    fn sweep(&mut self, ctx: &mut Ctx<'_, DynamoNode>) {
        let now = ctx.now().0;
        let mut swept = 0;
        let ranges: Vec<u32> = self.ranges.iter().map(|e| e.0).collect();
        for range in ranges {
            for key in self.sorted_keys(range) {
                let s = self.keys.get_mut(key).expect("a listed key is stored");
                let (before, h) = (s.set.len(), s.held as usize);
                let old = Server::digest(key, &s.set);
                s.set.retain(|v| v.is_live(now));
                let (after, new) = (s.set.len(), Server::digest(key, &s.set));
                swept += (before - after) as u64;
                if after == 0 {
                    self.unfile(key);
                }
                if after != before {
                    self.account(h, key, old, new);
                }
            }
        }
        let by_key = &mut self.hints_by_key;
        self.hints.retain(|&(owner, key), s| {
            s.retain(|v| v.is_live(now));
            if s.is_empty() {
                by_key.remove(&(key, owner));
            }
            !s.is_empty()
        });
        ctx.count("ttl_swept_versions", swept);
        ctx.set_timer(self.sh.config.sweep_interval, Timer::Sweep);
    }
}

// ---------------------------------------------------------------------------------------------
// Client

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    Get,
    /// A put's first step: read the versions and their context.
    ReadForPut,
    Put,
}

struct ClientOp {
    op: Op,
    phase: Phase,
    coordinator: u32,
    attempt: u32,
    /// Pending timers only: the kernel must never be asked to cancel a timer that has fired.
    attempt_timer: Option<TimerId>,
    deadline: Option<TimerId>,
    context: PSet<Dot>,
    items: PSet<u64>,
}

pub struct Client {
    sh: Rc<Shared>,
    ops: ReqTable<ClientOp>,
    next_req: u64,
    /// `coordinator: Proxy`: the replica requests this client coordinates, by request id (ids
    /// shared with `ops`).
    rounds: ReqTable<Box<Pending>>,
    spare: Spares,
    suspect_until: Vec<u64>,
    /// Requests this client sent to each server as coordinator (`coordinator: Proxy`: replica
    /// requests it sent to each server).
    pub coordinator_requests: Vec<u64>,
    /// Successful reads by number of versions returned: 0, 1, 2, 3 or more.
    pub reads_by_versions: [u64; 4],
    pub versions_max: u64,
}

impl Client {
    pub fn new(sh: Rc<Shared>) -> Client {
        let n = sh.servers as usize;
        Client {
            sh,
            ops: ReqTable::new(),
            next_req: 0,
            rounds: ReqTable::new(),
            spare: Spares::new(),
            suspect_until: vec![0; n],
            coordinator_requests: vec![0; n],
            reads_by_versions: [0; 4],
            versions_max: 0,
        }
    }

    fn choose_coordinator(&self, ctx: &mut Ctx<'_, DynamoNode>, key: u64, avoid: Option<u32>) -> u32 {
        let now = ctx.now().0;
        let view = &self.sh.views[self.sh.epoch_at(now)];
        let (ring, range) = (&view.ring, view.range_of(key));
        match self.sh.config.coordinator {
            // The client coordinates itself: no server is asked to (the field is not used).
            Coordinator::Proxy => ring.primary(range),
            // The primary (the walk's first) when it is fine, as it most often is; else the walk.
            Coordinator::PreferenceList if self.may_coordinate(now, ring.primary(range), avoid) => ring.primary(range),
            _ => self.walk_for_coordinator(ctx, ring, range, avoid),
        }
    }

    /// Whether server `s` is not suspected (and not the one to avoid).
    fn may_coordinate(&self, now: u64, s: u32, avoid: Option<u32>) -> bool {
        now >= self.suspect_until[s as usize] && Some(s) != avoid
    }

    /// [`Client::choose_coordinator`] past a suspected primary, or at random: out of line, so the
    /// usual choice (the primary) stays compact in every operation's handler.
    #[inline(never)]
    fn walk_for_coordinator(
        &self,
        ctx: &mut Ctx<'_, DynamoNode>,
        ring: &Ring,
        range: usize,
        avoid: Option<u32>,
    ) -> u32 {
        let now = ctx.now().0;
        let ok = |s: u32| self.may_coordinate(now, s, avoid);
        match self.sh.config.coordinator {
            Coordinator::Proxy => unreachable!("a proxy coordinates itself"),
            Coordinator::PreferenceList => ring.walk(range).find(|&s| ok(s)).unwrap_or(ring.primary(range)),
            Coordinator::Random => {
                let walk: Vec<u32> = ring.walk(range).collect();
                let up: Vec<u32> = walk.iter().copied().filter(|&s| ok(s)).collect();
                let from = if up.is_empty() { &walk } else { &up };
                from[ctx.rng().below(from.len() as u64) as usize]
            }
        }
    }

    fn send(&mut self, ctx: &mut Ctx<'_, DynamoNode>, req: u64) {
        if self.sh.config.coordinator == Coordinator::Proxy {
            return self.coordinate(ctx, req);
        }
        let o = self.ops.get_mut(req).expect("op");
        self.coordinator_requests[o.coordinator as usize] += 1;
        let m = match o.phase {
            Phase::Get | Phase::ReadForPut => Msg::ClientGet { req, key: o.op.key },
            Phase::Put => {
                Msg::ClientPut { req, op: o.op.id, key: o.op.key, context: o.context.clone(), items: o.items.clone() }
            }
        };
        ctx.send(NodeId(o.coordinator), m);
        if let Some(t) = o.attempt_timer.take() {
            ctx.cancel_timer(t);
        }
        o.attempt_timer = Some(ctx.set_timer(self.sh.config.attempt_timeout, Timer::Attempt(req, o.attempt)));
    }

    /// `coordinator: Proxy`: the client sends its request `req`'s current phase to the key's
    /// replicas itself (reads or writes, each on its leg) and answers itself at the quorum. Out
    /// of line: under the default coordinators it would only swell [`Client::send`].
    #[inline(never)]
    fn coordinate(&mut self, ctx: &mut Ctx<'_, DynamoNode>, req: u64) {
        let now = ctx.now().0;
        let sh = self.sh.clone();
        let c = &sh.config;
        let o = self.ops.get(req).expect("op");
        let (kind, q) = match o.phase {
            Phase::Put => (Kind::Put, c.write_quorum as usize),
            Phase::Get | Phase::ReadForPut => (Kind::Get, c.read_quorum as usize),
        };
        let view = &sh.views[sh.epoch_at(now)];
        let n = (c.replicas as usize).min(sh.servers as usize);
        let targets = healthy_targets(view.ring.walk(view.range_of(o.op.key)), n, c.sloppy_quorum, |s| {
            now >= self.suspect_until[s as usize]
        });
        if targets.len() < q {
            ctx.count("coordinator_too_few_replicas", 1);
            let fail = match kind {
                Kind::Get => Msg::GetReply { req, status: Status::Fail, siblings: Versions::new() },
                Kind::Put => Msg::PutReply { req, status: Status::Fail },
            };
            return self.on_reply(ctx, fail);
        }
        let targets = choose_replicas(targets, q, c.replica_choice, ctx.rng());
        let round = self.next_req;
        self.next_req += 1;
        let timer = ctx.set_timer(c.request_timeout, Timer::Request(round));
        let o = self.ops.get(req).expect("op");
        let (op, key) = (o.op.id, o.op.key);
        let me = ctx.id().0;
        // The client's write counter: its operation ids (unique in the run, rising), so a restart
        // never reuses one.
        let sibling = (kind == Kind::Put)
            .then(|| new_version(&sh, me, op.0 as u64 + 1, now, o.context.clone(), o.items.clone(), op.0 as u64));
        for &(t, hint) in &targets {
            self.coordinator_requests[t as usize] += 1;
            let m = match &sibling {
                None => Msg::Read { req: round, key },
                Some(s) => {
                    if hint.is_some() {
                        ctx.count("hinted_writes", 1);
                    }
                    Msg::Write { req: round, key, sibling: s.clone(), hint }
                }
            };
            ctx.send(NodeId(t), m);
        }
        let op = sibling.is_some().then_some(op);
        let pending = Pending::new(&mut self.spare, kind, (ctx.id(), req), op, key, targets, timer);
        self.rounds.insert(round, pending);
    }

    /// `coordinator: Proxy`: a replica answered round `round` (`siblings`: a read's reply; `None`:
    /// a write's acknowledgement). Out of line, as [`Client::coordinate`].
    #[inline(never)]
    fn on_replica_reply(&mut self, ctx: &mut Ctx<'_, DynamoNode>, from: u32, round: u64, siblings: Option<Versions>) {
        let c = &self.sh.config;
        let (r, w, policy) = (c.read_quorum as usize, c.write_quorum as usize, self.sh.policy());
        let Some(p) = self.rounds.get_mut(round) else { return };
        let step = match &siblings {
            Some(s) => p.read_reply(from, s, r, policy),
            None => p.write_ack(from, w),
        };
        let Some(quorum) = step else { return };
        let answer = quorum.then(|| match p.kind {
            Kind::Get => Msg::GetReply { req: p.client_req, status: Status::Ok, siblings: store::copy(&p.merged) },
            Kind::Put => Msg::PutReply { req: p.client_req, status: Status::Ok },
        });
        if quorum && let Some(op) = p.op {
            ctx.committed(op);
        }
        if p.all_answered() {
            let p = self.rounds.remove(round).expect("round");
            ctx.cancel_timer(p.timer);
            self.read_repair(ctx, &p);
            p.retire(&mut self.spare);
        }
        if let Some(m) = answer {
            self.on_reply(ctx, m);
        }
    }

    /// `coordinator: Proxy`: every owner that answered a read with less gets the reconciled versions.
    fn read_repair(&mut self, ctx: &mut Ctx<'_, DynamoNode>, p: &Pending) {
        if !self.sh.config.read_repair {
            return;
        }
        for node in p.stale_owners() {
            ctx.count("read_repairs_sent", 1);
            ctx.send(NodeId(node), Msg::Repair { key: p.key, siblings: store::copy(&p.merged) });
        }
    }

    /// `coordinator: Proxy`: round `round` is out of time.
    #[cold]
    #[inline(never)]
    fn on_round_timeout(&mut self, ctx: &mut Ctx<'_, DynamoNode>, round: u64) {
        let Some(p) = self.rounds.remove(round) else { return };
        let now = ctx.now().0;
        let (silent, answer) = p.expire();
        for t in silent {
            self.suspect_until[t as usize] = now + self.sh.config.failure_timeout.0;
        }
        ctx.count("coordinator_timeouts", 1);
        match answer {
            Some(m) => self.on_reply(ctx, m),
            None if p.kind == Kind::Get => self.read_repair(ctx, &p),
            None => {}
        }
    }

    fn on_op(&mut self, ctx: &mut Ctx<'_, DynamoNode>, op: Op) {
        let req = self.next_req;
        self.next_req += 1;
        let is_put = op.kind == 1;
        // Last-write-wins needs no context: its puts are blind already.
        let blind = self.sh.config.put_mode == PutMode::Blind || self.sh.config.reconcile == Reconcile::LastWriteWins;
        let phase = match (is_put, blind) {
            (false, _) => Phase::Get,
            (true, false) => Phase::ReadForPut,
            (true, true) => Phase::Put,
        };
        let coordinator = self.choose_coordinator(ctx, op.key, None);
        let deadline = ctx.set_timer(self.sh.config.client_timeout, Timer::Deadline(req));
        let items = if phase == Phase::Put { PSet::new().insert(op.value) } else { PSet::new() };
        self.ops.insert(
            req,
            ClientOp {
                op,
                phase,
                coordinator,
                attempt: 1,
                attempt_timer: None,
                deadline: Some(deadline),
                context: PSet::new(),
                items,
            },
        );
        self.send(ctx, req);
    }

    fn finish(&mut self, ctx: &mut Ctx<'_, DynamoNode>, req: u64, outcome: Outcome, reply: Reply) {
        if let Some(o) = self.ops.remove(req) {
            for t in [o.attempt_timer, o.deadline].into_iter().flatten() {
                ctx.cancel_timer(t);
            }
            ctx.complete(o.op.id, outcome, reply);
        }
    }

    fn on_msg(&mut self, ctx: &mut Ctx<'_, DynamoNode>, from: NodeId, msg: Msg) {
        if from.0 < self.sh.servers {
            self.suspect_until[from.index()] = 0;
        }
        match msg {
            Msg::ReadReply { req, siblings } => self.on_replica_reply(ctx, from.0, req, Some(siblings)),
            Msg::WriteAck { req } => self.on_replica_reply(ctx, from.0, req, None),
            m => self.on_reply(ctx, m),
        }
    }

    /// A coordinator's answer (a server's, or the client's own under `coordinator: Proxy`).
    fn on_reply(&mut self, ctx: &mut Ctx<'_, DynamoNode>, msg: Msg) {
        match msg {
            Msg::GetReply { req, status, siblings } => {
                let Some(o) = self.ops.get_mut(req) else { return };
                match o.phase {
                    Phase::Put => {}
                    Phase::Get => {
                        if status == Status::Ok {
                            let n = siblings.len();
                            self.reads_by_versions[n.min(3)] += 1;
                            self.versions_max = self.versions_max.max(n as u64);
                            ctx.count(
                                ["get_versions_0", "get_versions_1", "get_versions_2", "get_versions_3plus"][n.min(3)],
                                1,
                            );
                            // The cart read, shared with its versions (a clone of its root), not a copy;
                            // no items, an empty list (most gets of a large key space).
                            let items = store::union(&siblings);
                            let reply = if items.is_empty() { Reply::list([]) } else { Reply::Shared(items) };
                            self.finish(ctx, req, Outcome::Ok, reply);
                        } else {
                            self.finish(ctx, req, Outcome::Fail, Reply::None);
                        }
                    }
                    Phase::ReadForPut => {
                        // The client's merge: the union of every version it read, plus its own item;
                        // the context makes the write supersede exactly what it read. A failed read
                        // still lets the write through, as a new sibling (always writeable).
                        if status == Status::Ok {
                            o.context = store::context(&siblings, self.sh.config.versioning);
                            o.items = store::union(&siblings);
                        }
                        o.items = o.items.insert(o.op.value);
                        o.phase = Phase::Put;
                        self.send(ctx, req);
                    }
                }
            }
            Msg::PutReply { req, status } => {
                if self.ops.get(req).is_none_or(|o| o.phase != Phase::Put) {
                    return;
                }
                let outcome = match status {
                    Status::Ok => Outcome::Ok,
                    Status::Fail => Outcome::Fail,
                    Status::Unknown => Outcome::Timeout,
                };
                self.finish(ctx, req, outcome, Reply::None);
            }
            _ => {}
        }
    }

    /// A client's timers fire only for an operation that is late (each is cancelled when its
    /// operation ends): cold.
    #[cold]
    #[inline(never)]
    fn on_timer(&mut self, ctx: &mut Ctx<'_, DynamoNode>, timer: Timer) {
        match timer {
            Timer::Deadline(req) => {
                if let Some(o) = self.ops.get_mut(req) {
                    o.deadline = None;
                }
                self.finish(ctx, req, Outcome::Timeout, Reply::None)
            }
            Timer::Attempt(req, attempt) => {
                let now = ctx.now().0;
                let suspect_for = self.sh.config.failure_timeout.0;
                let Some(o) = self.ops.get(req) else { return };
                if o.attempt != attempt {
                    return;
                }
                let (key, old) = (o.op.key, o.coordinator);
                self.suspect_until[old as usize] = now + suspect_for;
                let next = self.choose_coordinator(ctx, key, Some(old));
                let o = self.ops.get_mut(req).expect("op");
                o.attempt_timer = None;
                o.coordinator = next;
                o.attempt += 1;
                ctx.count("client_coordinator_retries", 1);
                self.send(ctx, req);
            }
            Timer::Request(round) => self.on_round_timeout(ctx, round),
            _ => {}
        }
    }
}

// ---------------------------------------------------------------------------------------------

impl Actor for DynamoNode {
    type Msg = Msg;
    type Timer = Timer;
    type Record = Record;

    fn on_start(&mut self, ctx: &mut Ctx<'_, Self>) {
        if let DynamoNode::Server(s) = self {
            s.on_start(ctx);
        }
    }
    // Most of a replica's wait is the cache misses of its key look-ups (docs/performance.md,
    // "Round twenty-two"): the hint starts them an event early.
    const PREFETCH: bool = true;
    fn prefetch(&self, msg: &Msg) {
        if let DynamoNode::Server(s) = self
            && let Msg::Read { key, .. }
            | Msg::Write { key, .. }
            | Msg::ClientGet { key, .. }
            | Msg::ClientPut { key, .. } = msg
        {
            s.keys.prefetch(*key);
        }
    }
    fn on_msg(&mut self, ctx: &mut Ctx<'_, Self>, from: NodeId, msg: Msg) {
        match self {
            DynamoNode::Server(s) => s.on_msg(ctx, from, msg),
            DynamoNode::Client(c) => c.on_msg(ctx, from, msg),
        }
    }
    fn on_timer(&mut self, ctx: &mut Ctx<'_, Self>, timer: Timer) {
        match self {
            DynamoNode::Server(s) => s.on_timer(ctx, timer),
            DynamoNode::Client(c) => c.on_timer(ctx, timer),
        }
    }
    fn on_op(&mut self, ctx: &mut Ctx<'_, Self>, op: Op) {
        match self {
            DynamoNode::Client(c) => c.on_op(ctx, op),
            DynamoNode::Server(_) => ctx.complete(op.id, Outcome::Rejected, Reply::None),
        }
    }
    fn on_persisted(&mut self, ctx: &mut Ctx<'_, Self>, w: WriteId) {
        if let DynamoNode::Server(s) = self {
            s.on_persisted(ctx, w);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sim_core::{Effect, IdSource, Prng, Stream, Time};

    #[test]
    fn merged_heartbeats_are_the_newer_of_each_pair_and_note_when() {
        let mut rng = Prng::new(7, Stream::Workload);
        for _ in 0..200 {
            let n = 1 + rng.below(40) as usize;
            let beat = |rng: &mut Prng| (rng.below(3), rng.below(4));
            let mine: Vec<(u64, u64)> = (0..n).map(|_| beat(&mut rng)).collect();
            let heard: Vec<(u64, u64)> = (0..n).map(|_| beat(&mut rng)).collect();
            let seen: Vec<u64> = (0..n).map(|_| rng.below(100)).collect();
            let (mut got, mut got_seen) = (mine.clone(), seen.clone());
            merge_beats(&mut got, &mut got_seen, &heard, 1_000);
            for i in 0..n {
                let newer = heard[i] > mine[i];
                assert_eq!(got[i], if newer { heard[i] } else { mine[i] }, "{mine:?} {heard:?}");
                assert_eq!(got_seen[i], if newer { 1_000 } else { seen[i] });
                assert!(got[i] >= mine[i], "a heartbeat never falls");
            }
        }
    }

    #[test]
    fn once_every_other_server_is_a_peer_the_kth_peer_is_k_or_k_plus_one() {
        let n = 9;
        let heard = vec![(1, 0); n as usize];
        for me in 0..n {
            let walk: Vec<u32> = gossip_peers(&heard, &[], me).collect();
            assert_eq!(walk.len() as u32, n - 1);
            for k in 0..n - 1 {
                assert_eq!(walk[k as usize], k + (k >= me) as u32);
            }
        }
        // Before that, only the servers heard from and the seeds, in order.
        let mut partly = heard.clone();
        partly[2] = (0, 0);
        partly[5] = (0, 0);
        assert_eq!(gossip_peers(&partly, &[5], 0).collect::<Vec<_>>(), [1, 3, 4, 5, 6, 7, 8]);
    }

    #[test]
    fn a_quorum_counts_distinct_asked_nodes() {
        let targets = [(1, None), (2, None), (3, Some(0))];
        assert!(!is_quorum(&[(1, 0)], &targets, 2));
        assert!(is_quorum(&[(1, 0), (3, 0)], &targets, 2));
    }

    #[test]
    #[cfg(debug_assertions)]
    #[should_panic(expected = "counted twice")]
    fn a_node_counted_twice_toward_a_quorum_trips_the_assertion() {
        is_quorum(&[(1, 0), (1, 0)], &[(1, None), (2, None)], 2);
    }

    #[test]
    #[cfg(debug_assertions)]
    #[should_panic(expected = "not asked")]
    fn a_node_never_asked_counted_toward_a_quorum_trips_the_assertion() {
        is_quorum(&[(1, 0), (5, 0)], &[(1, None), (2, None)], 2);
    }

    #[test]
    fn a_request_table_finds_live_ids_and_drops_the_slots_before_the_oldest() {
        let mut t = ReqTable::new();
        for id in [3, 4, 6, 9] {
            t.insert(id, id * 10);
        }
        assert_eq!((t.get(3), t.get(5), t.get(9), t.get(2), t.get(10)), (Some(&30), None, Some(&90), None, None));
        // Out of order: the oldest stays, so the slots stay.
        assert_eq!(t.remove(4), Some(40));
        assert_eq!(t.remove(4), None);
        assert_eq!((t.base, t.slots.len()), (3, 7));
        // The oldest goes: every empty slot up to the next live id goes with it.
        assert_eq!(t.remove(3), Some(30));
        assert_eq!((t.base, t.slots.len()), (6, 4));
        *t.get_mut(6).expect("live") += 1;
        assert_eq!(t.remove(6), Some(61));
        assert_eq!(t.remove(9), Some(90));
        assert!(t.slots.is_empty());
        // Empty again: the next id starts the table anew.
        t.insert(20, 1);
        assert_eq!((t.base, t.get(20)), (20, Some(&1)));
    }

    /// A finished request's box, renewed for the next request, holds nothing of the first: the
    /// answers, the merged versions (released when it finished) and the quorum reached.
    #[test]
    fn a_renewed_request_starts_as_a_new_one() {
        let sh = Shared::new(Config::default(), 3);
        let policy = sh.policy();
        let version = new_version(&sh, 1, 1, 5, PSet::new(), PSet::new().insert(42), 0);
        let targets: Targets = [(1, None), (2, None)].into_iter().collect();
        let mut spare = Spares::new();
        let mut p = Pending::new(&mut spare, Kind::Get, (NodeId(9), 4), None, 7, targets.clone(), TimerId(1));
        assert_eq!(p.read_reply(1, std::slice::from_ref(&version), 1, policy), Some(true));
        assert_eq!((p.answered.len(), p.merged.len(), p.responded), (1, 1, true));
        p.retire(&mut spare);
        assert_eq!((spare.len(), Rc::strong_count(&version)), (1, 1), "the versions merged are released");
        let p = Pending::new(&mut spare, Kind::Put, (NodeId(8), 5), Some(OpId(3)), 11, targets, TimerId(2));
        assert!(spare.is_empty() && p.answered.is_empty() && p.merged.is_empty() && !p.responded);
        assert!(p.kind == Kind::Put);
        assert_eq!((p.client, p.client_req, p.op, p.key, p.timer), (NodeId(8), 5, Some(OpId(3)), 11, TimerId(2)));
        assert_eq!(p.targets.as_slice(), &[(1, None), (2, None)]);
    }

    /// Runs one handler of `node` with no world, returning its effects.
    fn handle(
        node: &mut DynamoNode,
        id: u32,
        now: Time,
        f: impl FnOnce(&mut DynamoNode, &mut Ctx<'_, DynamoNode>),
    ) -> Vec<Effect<DynamoNode>> {
        let (mut rng, mut ids, mut effects) = (Prng::new(1, Stream::Node(id)), IdSource::default(), Vec::new());
        let mut ctx = Ctx::detached(NodeId(id), now, &mut rng, &mut ids, &[], &mut effects);
        f(node, &mut ctx);
        effects
    }

    fn sent(effects: &[Effect<DynamoNode>]) -> Vec<(u32, &Msg)> {
        effects.iter().filter_map(|e| if let Effect::Send { to, msg } = e { Some((to.0, msg)) } else { None }).collect()
    }

    #[test]
    fn a_put_goes_to_the_preference_list_and_a_down_owner_is_replaced_by_a_hinted_fallback() {
        let sh = Rc::new(Shared::new(Config::default(), 8));
        let key = 12345;
        let walk = sh.views[0].ring.walk(sh.views[0].ring.range_of(key)).collect::<Vec<_>>();
        let coordinator = walk[0];
        let mut node = DynamoNode::Server(Box::new(Server::new(sh.clone(), coordinator)));
        let put = |node: &mut DynamoNode, req| {
            handle(node, coordinator, Time(1_000_000_000), |n, ctx| {
                n.on_msg(
                    ctx,
                    NodeId(8),
                    Msg::ClientPut { req, op: OpId::new(req), key, context: PSet::new(), items: PSet::new().insert(7) },
                )
            })
        };
        // Everyone up: the other two owners get the write, without hints; the coordinator persists its own copy.
        let fx = put(&mut node, 1);
        let writes: Vec<(u32, Option<u32>)> = sent(&fx)
            .into_iter()
            .filter_map(|(to, m)| if let Msg::Write { hint, .. } = m { Some((to, *hint)) } else { None })
            .collect();
        assert_eq!(writes, [(walk[1], None), (walk[2], None)]);
        assert!(fx.iter().any(|e| matches!(e, Effect::Persist { sync: true, .. })));
        // The second owner stops answering: the next write goes to the first fallback, hinted for it.
        if let DynamoNode::Server(s) = &mut node {
            s.suspect(1_000_000_000, walk[1]);
        }
        let fx = put(&mut node, 2);
        let writes: Vec<(u32, Option<u32>)> = sent(&fx)
            .into_iter()
            .filter_map(|(to, m)| if let Msg::Write { hint, .. } = m { Some((to, *hint)) } else { None })
            .collect();
        assert_eq!(writes, [(walk[2], None), (walk[3], Some(walk[1]))]);
    }

    #[test]
    fn a_get_hands_the_history_the_cart_it_read_not_a_copy() {
        let sh = Rc::new(Shared::new(Config::default(), 8));
        let mut node = DynamoNode::Client(Client::new(sh));
        let version = |seq, items: &[u64]| {
            Version::new(
                Dot { node: 0, seq },
                VClock::new(),
                PSet::new(),
                items.iter().copied().collect(),
                Stamp { local_ns: seq, node: 0 },
                0,
            )
        };
        let (a, b) = (version(1, &[4, 1, 9]), version(2, &[9, 2]));
        let get = |node: &mut DynamoNode, id: u64, siblings: Versions| {
            let req = id; // on_op's request id: one per op, from 0
            handle(node, 8, Time(1), |n, ctx| {
                n.on_op(ctx, Op { id: OpId::new(id), kind: 0, key: 5, value: 0, attempt: 1 })
            });
            let fx = handle(node, 8, Time(2), |n, ctx| {
                n.on_msg(ctx, NodeId(0), Msg::GetReply { req, status: Status::Ok, siblings })
            });
            fx.into_iter()
                .find_map(|e| if let Effect::Complete { reply, .. } = e { Some(reply) } else { None })
                .expect("the get completes")
        };
        // One version: its own cart, shared.
        let reply = get(&mut node, 0, Versions::from_buf([a.clone()]));
        let Reply::Shared(set) = &reply else { panic!("a shared reply: {reply:?}") };
        assert!(set.shares_root(&a.items));
        assert_eq!(reply.values(), [1, 4, 9].as_slice());
        // Siblings: their union, ascending.
        let reply = get(&mut node, 1, [a, b].into_iter().collect());
        assert_eq!(reply.values(), [1, 2, 4, 9].as_slice());
    }

    /// A replica's store through inserts in descending key order and lazy deletes in the middle
    /// of its ranges' key lists: every key left is found, the removed ones are not, and
    /// anti-entropy's entries of a range come out in key order.
    #[test]
    fn a_replica_finds_every_key_it_holds_and_lists_a_range_in_key_order() {
        let sh = Rc::new(Shared::new(Config::default(), 8));
        let mut server = Server::new(sh.clone(), 0);
        let version = |key: u64, expires_ns| {
            let items = PSet::new().insert(key);
            Version::new(Dot { node: 0, seq: key }, VClock::new(), PSet::new(), items, Stamp::default(), expires_ns)
        };
        // Every third key expires at 100 ns; the rest never.
        for key in (0..3_000u64).rev() {
            assert!(server.apply(0, key, &[version(key, if key % 3 == 0 { 100 } else { 0 })]));
        }
        assert_eq!(server.key_count(), 3_000);
        // Reads after the expiry remove those keys on sight.
        for key in (0..3_000u64).filter(|k| k % 3 == 0) {
            assert!(server.read_local(200, key).is_empty());
        }
        let mut keys: Vec<u64> = server.keys().collect();
        keys.sort_unstable();
        assert_eq!(keys, (0..3_000u64).filter(|k| k % 3 != 0).collect::<Vec<_>>());
        for key in 0..3_000u64 {
            let held: Vec<u64> = server.own_set(key).iter().flat_map(|v| v.items.iter()).collect();
            assert_eq!(held, if key % 3 == 0 { vec![] } else { vec![key] }, "key {key}");
        }
        let ring = &sh.views[0].ring;
        let all_leaves: Vec<u32> = (0..sh.config.merkle_leaves).collect();
        for range in 0..ring.token_count() as u32 {
            let listed: Vec<u64> = server.entries_in(range, &all_leaves).into_iter().map(|e| e.0).collect();
            let want: Vec<u64> = keys.iter().copied().filter(|&k| ring.range_of(k) as u32 == range).collect();
            assert_eq!(listed, want, "range {range}");
        }
    }

    /// The index finds the ring's own range for every key: rings of 1 to 1,000 servers (16 to
    /// 16,000 tokens), keys at random, positions at the tokens themselves and either side, and
    /// the ends of the position space (past the last token, where the range wraps around).
    #[test]
    fn the_range_index_agrees_with_the_ring() {
        for servers in [1, 3, 8, 100, 1000] {
            let ring = crate::build_ring(&Config::default(), &(0..servers).collect::<Vec<u32>>(), 16);
            let index = RangeIndex::new(&ring);
            let mut x = servers as u64;
            for _ in 0..20_000 {
                x = mix64(x);
                assert_eq!(index.range_of(x), ring.range_of(x), "key {x} on {servers} servers");
            }
            // Keys whose positions fall on a token and on either side of it, and the ends.
            for r in 0..ring.token_count() {
                let token = ring.range_bounds(r).1;
                for p in [token.wrapping_sub(1), token, token.wrapping_add(1), 0, u64::MAX] {
                    assert_eq!(index.range_of_position(p), ring.range_of_position(p), "position {p}");
                }
            }
        }
    }

    #[test]
    fn without_sloppy_quorum_a_put_with_too_few_owners_fails_at_once() {
        let config = Config { sloppy_quorum: false, hinted_handoff: false, ..Config::default() };
        let sh = Rc::new(Shared::new(config, 8));
        let key = 99;
        let walk = sh.views[0].ring.walk(sh.views[0].ring.range_of(key)).collect::<Vec<_>>();
        let mut server = Server::new(sh.clone(), walk[0]);
        server.suspect(0, walk[1]);
        server.suspect(0, walk[2]);
        let mut node = DynamoNode::Server(Box::new(server));
        let fx = handle(&mut node, walk[0], Time(1), |n, ctx| {
            n.on_msg(
                ctx,
                NodeId(8),
                Msg::ClientPut { req: 5, op: OpId(5), key, context: PSet::new(), items: PSet::new().insert(1) },
            )
        });
        let msgs = sent(&fx);
        assert_eq!(msgs.len(), 1);
        assert!(matches!(msgs[0], (8, Msg::PutReply { req: 5, status: Status::Fail })), "{msgs:?}");
    }
}
