//! `Sim` drives; it holds the whole world: nodes and their actors, the network, disks, clocks, the
//! workload, the fault schedule, measurement. All iterated state is in `Vec`s by id or `BTreeMap`s.

use crate::actor::{
    Actor, Ctx, Effect, IdSource, Message, NodeId, Op, OpId, Outcome, Records, Reply, RngSource, TimerId, WriteId,
};
use crate::chunked::Chunked;
use crate::disk::DiskSpec;
use crate::fault::{Clock, Fault, OutageMode, ScheduledFault};
use crate::lanes::{LaneTimer, Lanes};
use crate::metrics::{Completion, FaultEffect, HistoryEntry, MessageCounts, Metrics};
use crate::net::{Cut, LinkTable, NetworkSpec, PipeTable};
use crate::queue::EventQueue;
use crate::rng::{Prng, Stream};
use crate::time::{Duration, Time};
use crate::topology::Topology;
use crate::workload::{Arrival, FINAL_READ_COUNTER, Generator, WorkloadSpec};
use std::collections::{BTreeMap, BTreeSet, VecDeque};

/// Why a run stopped.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
pub enum StopReason {
    /// No events left.
    Quiescent,
    /// The simulated-time limit was reached.
    TimeLimit,
    /// The event-count limit was reached.
    EventLimit,
}

/// Everything the kernel needs besides the actors.
#[derive(Clone, Debug)]
pub struct SimConfig {
    pub seed: u64,
    pub network: NetworkSpec,
    pub disk: DiskSpec,
    /// Concrete faults (a nemesis is expanded into these before the run).
    pub faults: Vec<ScheduledFault>,
    pub workload: Option<WorkloadSpec>,
    /// The model's operation kinds, in the order `Op::kind` indexes them.
    pub op_kinds: Vec<&'static str>,
    /// The workload issues no operation after this.
    pub workload_until: Duration,
    pub max_events: u64,
    /// Width of the reporting intervals (throughput and latency over time).
    pub interval: Duration,
    /// Keep a full event trace (for replay); costs memory.
    pub trace: bool,
}

impl SimConfig {
    pub fn new(seed: u64) -> SimConfig {
        SimConfig {
            seed,
            network: NetworkSpec::default(),
            disk: DiskSpec::default(),
            faults: Vec::new(),
            workload: None,
            op_kinds: Vec::new(),
            workload_until: Duration::MAX,
            max_events: u64::MAX,
            interval: Duration::from_secs(1),
            trace: false,
        }
    }
}

/// One event of the trace, kept when `SimConfig::trace` is on: every event a handler ran for
/// (start, delivery, timer, operation, persisted write), every fault, and, as records of what
/// happened rather than processed events, every dropped message, crash and completed operation.
/// So the trace's length is not the run's processed-event count (`RunRecord::events`, which the
/// trace hash covers): the kernel also processes events no actor sees (workload arrivals, flushes,
/// writes of a crashed incarnation, messages that are then dropped; a timer that is no longer
/// armed when it comes due is not an event at all), and the trace adds
/// drops, crashes and completions. Recording never changes the run.
#[derive(Clone, Debug, PartialEq)]
pub struct TraceEvent {
    pub time: Time,
    pub node: NodeId,
    pub kind: TraceKind,
    /// The message kind, timer, or operation.
    pub label: String,
    /// `Debug` of the payload.
    pub detail: String,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TraceKind {
    /// The node's actor started (label `start`), or started again after a crash (`restart`).
    Start,
    /// A message from `from`, sent at `sent` (true time).
    Deliver {
        from: NodeId,
        sent: Time,
    },
    /// A message from `from` to this node, sent at `sent`, lost at this event's time (at the send
    /// itself, or when it would have arrived) for `reason`. Not a processed event.
    Drop {
        from: NodeId,
        sent: Time,
        reason: DropReason,
    },
    Timer,
    Persisted,
    /// Operation `op` invoked at this client.
    Op {
        op: OpId,
    },
    /// Operation `op` completed with `outcome` (detail: the reply). Not a processed event.
    Complete {
        op: OpId,
        outcome: Outcome,
    },
    /// This node crashed (the fault itself is a world event just before). Not a processed event.
    Crash,
    Fault,
}

/// Why a message was lost.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DropReason {
    /// A partition cut the link when it was sent or when it would have arrived.
    Partition,
    /// Random loss (the link's, or a loss fault's).
    Loss,
    /// The receiver was down (crashed) when it arrived, or is not in the topology.
    Down,
    /// On a connection: an end crashed after the send, closing the connection it was on.
    Closed,
    /// The link's bound on messages in flight was reached.
    Overflow,
}

impl DropReason {
    pub fn word(self) -> &'static str {
        match self {
            DropReason::Partition => "partition",
            DropReason::Loss => "loss",
            DropReason::Down => "receiver down",
            DropReason::Closed => "connection closed by a crash",
            DropReason::Overflow => "in-flight bound",
        }
    }
}

/// `Deliver::ends`: on a connection, the incarnations of `(from, to)` when it was sent (else zeros).
enum Event<A: Actor> {
    Deliver {
        from: NodeId,
        to: NodeId,
        msg: A::Msg,
        tracked: bool,
        sent: Time,
        ends: (u32, u32),
    },
    /// The first live timer of timer lane `lane` ([`crate::lanes`]): popped, it is taken from
    /// the lane and handled as the `Timer` it is.
    LaneTimer {
        lane: u32,
    },
    /// `held`: popped while its node was paused and held back (so already counted as an event).
    Timer {
        node: NodeId,
        incarnation: u32,
        id: TimerId,
        timer: A::Timer,
        held: bool,
    },
    DiskDone {
        node: NodeId,
        incarnation: u32,
        write: WriteId,
    },
    Flush {
        node: NodeId,
    },
    Op {
        node: NodeId,
        op: Op,
    },
    Arrival,
    /// The scripted operation at this index of the generator's script.
    Scripted {
        index: u32,
    },
    /// A probe round's write; a probe read at grid index `grid` of `key`.
    ProbeWrite,
    ProbeRead {
        grid: u32,
        key: u64,
    },
    UserNext {
        user: u32,
    },
    Retry {
        of: OpId,
    },
    Fault {
        index: usize,
        undo: bool,
    },
    /// A round of the workload's final read (every client issues its operation).
    FinalRead,
}

impl<A: Actor> Event<A> {
    /// The kind and node (or index) hashed into the trace. `Sim::handle` repeats the numbers of
    /// the hot kinds (1, 2, 3, 6) in its arms.
    fn tag(&self) -> (u64, u32) {
        match self {
            Event::Deliver { to, .. } => (1, to.0),
            Event::Timer { node, .. } => (2, node.0),
            Event::LaneTimer { .. } => unreachable!("a lane's timer is taken from its lane when popped"),
            Event::DiskDone { node, .. } => (3, node.0),
            Event::Flush { node } => (4, node.0),
            Event::Op { node, .. } => (5, node.0),
            Event::Arrival => (6, 0),
            Event::UserNext { user } => (7, *user),
            Event::Retry { of } => (8, of.0),
            Event::Fault { index, .. } => (9, *index as u32),
            Event::Scripted { index } => (10, *index),
            Event::ProbeWrite => (11, 0),
            Event::ProbeRead { grid, .. } => (12, *grid),
            Event::FinalRead => (13, 0),
        }
    }
    /// The node an event is handled by, if it is held back while that node is paused.
    fn pausable_node(&self) -> Option<NodeId> {
        match self {
            Event::Deliver { to, .. } => Some(*to),
            Event::Timer { node, .. } | Event::DiskDone { node, .. } | Event::Op { node, .. } => Some(*node),
            _ => None,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Status {
    Up,
    Down,
    Paused,
}

struct PendingWrite<R> {
    id: WriteId,
    record: R,
    sync: bool,
    /// Synced writes: the disk has not finished yet.
    in_flight: bool,
}

/// The rarely used per-node state, kept apart so a million idle nodes stay small.
struct NodeExtra<A: Actor> {
    parked: Vec<(Time, Event<A>)>,
    timers: Timers,
    writes: VecDeque<PendingWrite<A::Record>>,
    disk_free: Time,
    flush_scheduled: bool,
    corrupt_records: u64,
    down_by: Option<usize>,
    paused_by: Option<usize>,
    /// The fault that crashed the node last (kept after the restart: it closed its connections).
    last_crash: Option<usize>,
}

impl<A: Actor> Default for NodeExtra<A> {
    fn default() -> Self {
        NodeExtra {
            parked: Vec::new(),
            timers: Timers::default(),
            writes: VecDeque::new(),
            disk_free: Time::ZERO,
            flush_scheduled: false,
            corrupt_records: 0,
            down_by: None,
            paused_by: None,
            last_crash: None,
        }
    }
}

/// The rare per-node state of the nodes that have any, found through a dense index by node id
/// (4 bytes a node; `NONE` for a node without). A `BTreeMap<NodeId, NodeExtra>` here cost a tree
/// walk per timer armed, cancelled and fired: with 100,000 clients each holding a call timer, a
/// tenth of the run. Entries are never removed, so an index stays valid.
struct Extras<A: Actor> {
    index: Vec<u32>,
    slab: Vec<NodeExtra<A>>,
}

impl<A: Actor> Extras<A> {
    const NONE: u32 = u32::MAX;

    fn new(nodes: usize) -> Extras<A> {
        Extras { index: vec![Self::NONE; nodes], slab: Vec::new() }
    }

    #[inline]
    fn get(&self, node: NodeId) -> Option<&NodeExtra<A>> {
        match self.index.get(node.index()) {
            Some(&k) if k != Self::NONE => Some(&self.slab[k as usize]),
            _ => None,
        }
    }

    #[inline]
    fn get_mut(&mut self, node: NodeId) -> Option<&mut NodeExtra<A>> {
        match self.index.get(node.index()) {
            Some(&k) if k != Self::NONE => Some(&mut self.slab[k as usize]),
            _ => None,
        }
    }

    /// The node's state, made empty if it had none.
    #[inline]
    fn entry(&mut self, node: NodeId) -> &mut NodeExtra<A> {
        let mut k = self.index[node.index()];
        if k == Self::NONE {
            k = u32::try_from(self.slab.len()).expect("fewer than u32::MAX nodes");
            self.index[node.index()] = k;
            self.slab.push(NodeExtra::default());
        }
        &mut self.slab[k as usize]
    }
}

struct Nodes<A: Actor> {
    actors: Vec<Option<A>>,
    /// Changed only through [`Nodes::set_status`], which keeps `paused` in step.
    status: Vec<Status>,
    /// How many nodes are paused: while none is, an event is not looked at for a node to hold it
    /// back for (a match on the event and a status load, on every event).
    paused: usize,
    /// Whether the per-node state an event reads (`NODE_HINT_BYTES`) is large enough for the
    /// kernel to hint the next event's node, and the next arrival's client, into the cache
    /// (`Sim::hint_next`, `Sim::next_arrival_at`).
    hint: bool,
    incarnation: Vec<u32>,
    rngs: crate::rng::NodeStreams,
    ids: Vec<IdSource>,
    /// Each node's durable records, in chunks that never move (a `Vec` per node was copied at every
    /// doubling: docs/performance.md, round thirty-two).
    durable: Vec<Chunked<A::Record>>,
    /// Empty until a clock fault touches a node.
    clocks: Vec<Clock>,
    extra: Extras<A>,
}

impl<A: Actor> Nodes<A> {
    /// Starts loading the kernel's state of node `i` that its next event reads: its actor slot,
    /// status, incarnation and stream (only a hint; see [`crate::hint`]).
    #[inline]
    fn prefetch(&self, i: usize) {
        if let (Some(actor), Some(status), Some(incarnation)) =
            (self.actors.get(i), self.status.get(i), self.incarnation.get(i))
        {
            crate::hint::prefetch(actor);
            crate::hint::prefetch(status);
            crate::hint::prefetch(incarnation);
            self.rngs.prefetch(i);
        }
    }

    /// Node `i` is now `status`; the count of paused nodes follows.
    fn set_status(&mut self, i: usize, status: Status) {
        let was = std::mem::replace(&mut self.status[i], status);
        self.paused = self.paused + usize::from(status == Status::Paused) - usize::from(was == Status::Paused);
    }
}

/// A closed-loop user: which client it runs on, and its logical operation in progress.
struct User {
    client: NodeId,
}

/// Fingerprint transitions seen while exploring: per node its last fingerprint, and every
/// (previous, next) pair as one hash. Node ids are left out, so symmetric nodes share coverage.
struct Coverage {
    last: Vec<u64>,
    seen: BTreeSet<u64>,
}

impl Coverage {
    /// Out of line: `Sim::call`, inlined into every handler's caller, would carry a copy of the
    /// set insertion each, for a run that explores.
    #[inline(never)]
    fn note(&mut self, node: usize, fp: u64) {
        let last = std::mem::replace(&mut self.last[node], fp);
        if last != fp {
            self.seen.insert(mix(last, fp));
        }
    }
}

/// The simulation: the world and the loop that drives it.
pub struct Sim<A: Actor> {
    topo: Topology,
    config: SimConfig,
    now: Time,
    queue: EventQueue<Event<A>>,
    /// Timers waiting outside the queue, a FIFO per span, the first live one of each in it.
    lanes: Lanes<A::Timer>,
    /// The next open-loop arrival, `(time, sequence number)`: it waits beside the queue, not in
    /// it. There is at most one, and about every other event of a run with many small operations
    /// is one (Kafka's), so a push and a pop of the queue per operation are saved; the number is
    /// the one a push would have given, so events pop in the same order.
    arrival: Option<(Time, u64)>,
    /// The client of the next open-loop arrival. The workload stream draws an arrival's client,
    /// kind and key, then the next gap; the next client is drawn right after that gap, so the
    /// stream's draws are the same, and the client's state can be hinted into the cache an
    /// arrival ahead (`Sim::next_arrival_at`).
    arrival_client: NodeId,
    /// The model has not yet been given its hint of the next arrival (`Sim::next_arrival_at`).
    arrival_hint: bool,
    /// The sequence number of the event popped last.
    last_seq: u64,
    factory: Box<dyn FnMut(NodeId) -> A>,
    nodes: Nodes<A>,
    links: LinkTable,
    /// Per ordered pair of nodes that has talked (only if `links.stateful`).
    pipes: PipeTable,
    cuts: Vec<(usize, Cut)>,
    extra_loss: Vec<(usize, f64)>,
    /// Delay faults in force: (fault index, node, extra latency of its messages).
    /// Active delay faults: (fault index, node, only from this peer, extra latency).
    delays: Vec<(usize, NodeId, Option<NodeId>, Duration)>,
    /// The explorer's coverage (`enable_coverage`): off unless asked for.
    coverage: Option<Box<Coverage>>,
    /// The actors crashes ended, in crash order, kept for the report (`keep_crashed_actors`):
    /// `None` drops them, as a crash does.
    crashed: Option<Vec<(NodeId, A)>>,
    /// Outages in force: (fault index, node, mode); the latest of a node's wins.
    outages: Vec<(usize, NodeId, OutageMode)>,
    net_rng: Prng,
    disk_rng: Prng,
    fault_rng: Prng,
    workload: Option<Generator>,
    wl_rng: Prng,
    users: Vec<User>,
    /// Per history entry: the closed-loop user that issued it.
    op_user: BTreeMap<OpId, u32>,
    /// A probe workload's spec and state (`Arrival::Probe`).
    probe: Option<(crate::probe::ProbeSpec, crate::probe::ProbeState)>,
    history: Vec<HistoryEntry>,
    metrics: Metrics,
    effects: Vec<Effect<A>>,
    trace_hash: u64,
    events: u64,
    /// Timers that came due and ran no handler: cancelled before their time, or set by a node
    /// that has crashed since. They stay in the queue or their lane until then (a cancel only
    /// clears the timer's bit) and are popped or passed over, but are no events: not in
    /// `events`, not in the trace hash.
    /// A timer held back for a paused node was counted as an event already: not tallied here if
    /// it is cancelled before the resume.
    skipped: u64,
    trace: Option<Vec<TraceEvent>>,
    /// Whether trace events carry their payload's `Debug` form ([`Sim::trace_without_details`]).
    trace_details: bool,
    started: bool,
}

/// Timers set and neither fired nor cancelled (one node's). A timer fires at most once, and never
/// after it was cancelled: firing and cancelling both remove it.
///
/// A bit per id over a window that slides forward: a node's timer ids only grow (`IdSource`), and
/// most timers (request timeouts) die soon, so the window stays a few words long. A `BTreeSet`
/// here cost ~200 instructions per arm and per cancel, 4% of a Dynamo run.
#[derive(Default)]
struct Timers {
    /// The id of bit 0 of `words[0]` (a multiple of 64); every id below it is dead.
    base: u64,
    words: VecDeque<u64>,
    armed: usize,
}

/// `arm` and `cancel` are inlined into `apply_effects`, their one caller each: as calls, saving
/// and restoring registers was ~16 of their ~41 instructions (callgrind, Dynamo cut).
impl Timers {
    #[inline]
    fn arm(&mut self, id: TimerId) {
        if self.words.is_empty() {
            self.base = id.0 & !63;
        }
        assert!(id.0 >= self.base, "timer {id:?} armed twice: timer ids must be unique per node");
        let (word, bit) = (((id.0 - self.base) / 64) as usize, id.0 % 64);
        // A word at a time (ids grow): `VecDeque::resize` is a lot of code for a push.
        while self.words.len() <= word {
            self.words.push_back(0);
        }
        let fresh = self.words[word] & (1 << bit) == 0;
        debug_assert!(fresh, "timer {id:?} armed twice: timer ids must be unique per node");
        self.words[word] |= 1 << bit;
        self.armed += usize::from(fresh);
    }
    /// Cancelling a timer that fired, or was cancelled, is a no-op.
    #[inline]
    fn cancel(&mut self, id: TimerId) {
        self.fire(id);
    }
    /// Whether the timer is set and has neither fired nor been cancelled.
    fn is_armed(&self, id: TimerId) -> bool {
        let Some(offset) = id.0.checked_sub(self.base) else { return false };
        self.words.get((offset / 64) as usize).is_some_and(|w| w & (1 << (offset % 64)) != 0)
    }
    /// Whether the timer fires now (and so never again).
    fn fire(&mut self, id: TimerId) -> bool {
        let Some(offset) = id.0.checked_sub(self.base) else { return false };
        let (word, bit) = ((offset / 64) as usize, offset % 64);
        let Some(w) = self.words.get_mut(word) else { return false };
        if *w & (1 << bit) == 0 {
            return false;
        }
        *w &= !(1 << bit);
        self.armed -= 1;
        while self.words.front() == Some(&0) {
            self.words.pop_front();
            self.base += 64;
        }
        true
    }
    /// Drops every timer (a crash); returns how many there were.
    fn clear(&mut self) -> usize {
        self.words.clear();
        std::mem::take(&mut self.armed)
    }
}

/// Past this many bytes of per-node state read per event (actor slot, status, incarnation, stream
/// position, over all nodes) the kernel hints the next event's node into the cache
/// (`Sim::hint_next`): the arrays then outgrow the second-level cache, and an event for a node
/// drawn at random misses on each. PHOLD (`simctl bench phold`, the kernel's run time in three
/// to six rounds, alternating with a build without the hint): 10,000 LPs 6.6-7.5 against 7.9-8.6
/// s, 100,000 LPs 1.11-1.18 against 1.37-1.61 s, 1,000,000 LPs 1.89-2.00 against 2.56-2.68 s;
/// 1,024 LPs the same with the hint forced on (docs/performance.md, round thirty-seven). PHOLD's
/// 4,096 LPs (184 KB) stay under it.
const NODE_HINT_BYTES: usize = 256 << 10;

/// At most this many history entries are reserved up front (1.5 GB of address space).
const HISTORY_RESERVE_MAX: usize = 1 << 24;

/// The history entries to reserve before a run: the workload's expected arrivals, an eighth more
/// and 1,024 for the Poisson spread and a few retries, at most `HISTORY_RESERVE_MAX`; none for a
/// workload without an end (a run that issues more grows the history as before). Grown by
/// doubling from empty, the history was copied at every doubling (`memcpy` in a `realloc`) and each copy faulted in fresh pages: on
/// `kafka_50k` (3.0 M operations of 88 bytes) that is ~260 MB copied and ~260 MB of pages faulted
/// in beside the final 260 MB. Reserved pages that are never written cost no memory.
fn history_capacity(config: &SimConfig) -> usize {
    let Some(w) = config.workload.as_ref().filter(|_| config.workload_until != Duration::MAX) else { return 0 };
    let expected = w.expected_arrivals(Time(config.workload_until.0));
    ((expected * 1.125) as usize).saturating_add(1024).min(HISTORY_RESERVE_MAX)
}

/// The loop's clock moves to `t`, the time of the event just popped: never backwards.
#[inline]
fn advance_time(now: Time, t: Time) -> Time {
    debug_assert!(t >= now, "time went backwards: an event at {t} popped at {now}");
    t
}

const HASH_PRIME: u64 = 0x0000_0100_0000_01B3;

#[inline]
fn mix(h: u64, x: u64) -> u64 {
    (h ^ x).wrapping_mul(HASH_PRIME).rotate_left(29)
}

impl<A: Actor> Sim<A> {
    /// A world of `topo`'s nodes, each running `factory(node)` (also used to rebuild a node after a
    /// crash).
    pub fn new(topo: Topology, config: SimConfig, factory: impl FnMut(NodeId) -> A + 'static) -> Sim<A> {
        let n = topo.node_count();
        let seed = config.seed;
        let links = LinkTable::new(&config.network, &topo);
        let mut wl_rng = Prng::new(seed, Stream::Workload);
        let workload = config
            .workload
            .as_ref()
            .map(|w| Generator::new(w, &config.op_kinds, Time(config.workload_until.0), &mut wl_rng));
        let metrics = Metrics::new(&config.op_kinds, config.interval);
        Sim {
            now: Time::ZERO,
            queue: EventQueue::with_capacity(n),
            lanes: Lanes::new(),
            arrival: None,
            arrival_client: NodeId(0),
            arrival_hint: false,
            last_seq: 0,
            factory: Box::new(factory),
            nodes: Nodes {
                actors: (0..n).map(|_| None).collect(),
                status: vec![Status::Down; n],
                paused: 0,
                hint: n * (size_of::<Option<A>>() + size_of::<Status>() + size_of::<u32>() + size_of::<u64>())
                    > NODE_HINT_BYTES,
                incarnation: vec![0; n],
                rngs: crate::rng::NodeStreams::new(seed, n),
                ids: vec![IdSource::default(); n],
                durable: (0..n).map(|_| Chunked::default()).collect(),
                clocks: Vec::new(),
                extra: Extras::new(n),
            },
            links,
            pipes: PipeTable::new(n),
            cuts: Vec::new(),
            extra_loss: Vec::new(),
            delays: Vec::new(),
            coverage: None,
            crashed: None,
            outages: Vec::new(),
            net_rng: Prng::new(seed, Stream::Network),
            disk_rng: Prng::new(seed, Stream::Disk),
            fault_rng: Prng::new(seed, Stream::Faults),
            workload,
            wl_rng,
            users: Vec::new(),
            op_user: BTreeMap::new(),
            probe: None,
            history: Vec::with_capacity(history_capacity(&config)),
            metrics,
            effects: Vec::new(),
            trace_hash: 0xcbf2_9ce4_8422_2325 ^ seed,
            events: 0,
            skipped: 0,
            trace: if config.trace { Some(Vec::new()) } else { None },
            trace_details: true,
            topo,
            config,
            started: false,
        }
    }

    // ----- the loop -----

    /// Starts every node, schedules the faults and the workload. Called by `run_until` if needed.
    pub fn start(&mut self) {
        if self.started {
            return;
        }
        self.started = true;
        for (i, f) in self.config.faults.clone().iter().enumerate() {
            self.metrics.faults.push(FaultEffect { label: f.fault.label(), start: Time(f.at.0), ..Default::default() });
            self.queue.push(Time(f.at.0), Event::Fault { index: i, undo: false });
            if let Some(d) = f.duration {
                self.queue.push(Time(f.at.0) + d, Event::Fault { index: i, undo: true });
            }
        }
        for node in 0..self.topo.node_count() as u32 {
            self.boot(NodeId(node));
        }
        if let Some(g) = &self.workload {
            match &g.spec.arrival {
                Arrival::OpenLoop { .. } => {
                    if let Some(t) = g.next_arrival(Time::ZERO, &mut self.wl_rng) {
                        self.next_arrival_at(t);
                    }
                }
                Arrival::Script { .. } | Arrival::Trace { .. } => {
                    if let Some(first) = g.script.first() {
                        self.queue.push(first.at, Event::Scripted { index: 0 });
                    }
                }
                Arrival::Probe { .. } => {
                    let spec = crate::probe::spec(&g.spec.arrival).expect("a probe arrival");
                    self.probe = Some((spec, Default::default()));
                    self.queue.push(Time::ZERO, Event::ProbeWrite);
                }
                Arrival::ClosedLoop { users, think } => {
                    assert!(!self.topo.clients.is_empty(), "a closed-loop workload needs client nodes");
                    for u in 0..*users {
                        let client = self.topo.clients[u as usize % self.topo.clients.len()];
                        self.users.push(User { client });
                        let first = think.as_ref().map(|d| d.sample(&mut self.wl_rng)).unwrap_or_default();
                        self.queue.push(Time(first.0), Event::UserNext { user: u });
                    }
                }
            }
        }
    }

    /// Runs until simulated time `end`, the event limit, or no events are left.
    pub fn run_until(&mut self, end: Time) -> StopReason {
        self.start();
        loop {
            let Some((t, arrival)) = self.next_event() else { return self.stop_quiescent(end) };
            if t > end {
                return self.stop_at(end);
            }
            if self.events >= self.config.max_events {
                return self.stop_at_event_limit();
            }
            if arrival {
                self.step_arrival();
            } else {
                self.step_queued();
            }
        }
    }

    // The three stops below settle the dead timers waiting in lanes ([`crate::lanes`]) as the
    // queue popped them when they were in it: each was the queue's next entry in its turn, so
    // it could be the entry that stopped a run, or the last one popped.

    /// The queue's next event is after `end`: the dead timers due by then are passed, unless the
    /// first of them comes after the event limit was reached.
    #[cold]
    fn stop_at(&mut self, end: Time) -> StopReason {
        if self.lanes.earliest_dead().is_some_and(|t| t <= end) && self.events >= self.config.max_events {
            return self.stop_at_event_limit();
        }
        self.settle_lanes(end, u64::MAX);
        self.now = end;
        StopReason::TimeLimit
    }

    /// The event limit is reached: the dead timers before the last event popped were passed.
    #[cold]
    fn stop_at_event_limit(&mut self) -> StopReason {
        self.settle_lanes(self.now, self.last_seq);
        StopReason::EventLimit
    }

    /// The queue is empty: the dead timers due by `end` are passed (the clock moves to the last
    /// of them), and one due later keeps the run from being quiescent.
    #[cold]
    fn stop_quiescent(&mut self, end: Time) -> StopReason {
        match self.lanes.earliest_dead() {
            None => return StopReason::Quiescent,
            Some(t) if t > end => return self.stop_at(end),
            Some(_) if self.events >= self.config.max_events => return self.stop_at_event_limit(),
            Some(_) => {}
        }
        if let Some(t) = self.settle_lanes(end, u64::MAX) {
            // The last entry the queue would have popped: a dead timer due after the last event
            // (one due before it was popped before it, and left the clock where it was).
            self.now = self.now.max(t);
        }
        if self.lanes.hold_any() {
            return self.stop_at(end);
        }
        StopReason::Quiescent
    }

    /// The run stops, having popped every event up to `(time, seq)`: the dead timers in lanes
    /// due by then are tallied as the skipped timers they would have been in the queue.
    /// Returns when the last of them was due.
    fn settle_lanes(&mut self, time: Time, seq: u64) -> Option<Time> {
        let (passed, latest) = self.lanes.settle(time, seq);
        self.skipped += passed;
        latest
    }

    /// When the next event is due, and whether it is the arrival beside the queue
    /// ([`Sim::arrival`]) rather than the queue's first.
    #[inline(always)]
    fn next_event(&mut self) -> Option<(Time, bool)> {
        let queued = self.queue.peek_key();
        match self.arrival {
            Some(a) if queued.is_none_or(|q| a < q) => Some((a.0, true)),
            _ => queued.map(|(t, _)| (t, false)),
        }
    }

    /// Moves the clock to `t` with no event in between (the queue must hold none before `t`).
    pub fn idle_until(&mut self, t: Time) {
        debug_assert!(self.next_event().is_none_or(|next| next.0 >= t), "an event before {t:?} would be skipped");
        self.now = self.now.max(t);
    }

    /// Processes one event. Returns false when none is left.
    pub fn step(&mut self) -> bool {
        if !self.started {
            self.start();
        }
        match self.next_event() {
            None => return false,
            Some((_, true)) => self.step_arrival(),
            Some((_, false)) => self.step_queued(),
        }
        true
    }

    /// `step` for the queue's first event (there must be one).
    #[inline]
    fn step_queued(&mut self) {
        let (t, seq, ev) = self.queue.pop().expect("an event in the queue");
        if (A::PREFETCH || self.nodes.hint)
            && let Some(next) = self.queue.peek_next()
        {
            self.hint_next(next);
        }
        if A::PREFETCH_OP && self.arrival_hint {
            self.arrival_hint = false;
            if let Some(Some(actor)) = self.nodes.actors.get(self.arrival_client.index()) {
                actor.prefetch_op();
            }
        }
        self.now = advance_time(self.now, t);
        self.last_seq = seq;
        if self.nodes.paused > 0 {
            self.step_while_paused(t, seq, ev);
        } else {
            self.handle(ev, Some((t, seq)));
        }
    }

    /// Hints the next event's reads into the cache while this one is handled: with many nodes
    /// (`Nodes::hint`), the kernel's state of the node it goes to; and the message to a model
    /// that asks (`Actor::PREFETCH`). Changes nothing a run computes.
    #[inline(always)]
    fn hint_next(&self, next: &Event<A>) {
        let node = match next {
            Event::Deliver { to, .. } => *to,
            Event::Timer { node, .. } | Event::Op { node, .. } | Event::DiskDone { node, .. } => *node,
            _ => return,
        };
        if self.nodes.hint {
            self.nodes.prefetch(node.index());
            // Most messages are answered: the pipe the answer will take.
            if self.links.stateful
                && let Event::Deliver { from, .. } = next
            {
                self.pipes.prefetch(node, *from);
            }
        }
        if A::PREFETCH
            && let Event::Deliver { msg, .. } = next
            && let Some(Some(actor)) = self.nodes.actors.get(node.index())
        {
            actor.prefetch(msg);
        }
    }

    /// `step` for the next arrival, which waits beside the queue ([`Sim::arrival`]; there must be
    /// one).
    #[inline]
    fn step_arrival(&mut self) {
        let (t, seq) = self.arrival.take().expect("an arrival beside the queue");
        self.now = advance_time(self.now, t);
        self.last_seq = seq;
        if self.nodes.paused > 0 {
            self.step_while_paused(t, seq, Event::Arrival);
        } else {
            self.note_event(t, seq, 6, 0);
            self.arrive();
        }
    }

    /// An open-loop arrival: a new operation at a client, and the next arrival drawn.
    #[inline]
    fn arrive(&mut self) {
        self.issue(self.arrival_client, None, None, None);
        let g = self.workload.as_ref().expect("arrival without a workload");
        if let Some(t) = g.next_arrival(self.now, &mut self.wl_rng) {
            self.next_arrival_at(t);
        }
    }

    /// The next open-loop arrival is at `t`: it takes its sequence number and its client now
    /// (see [`Sim::arrival_client`]), and the client's state is hinted into the cache: the
    /// kernel's at once, the model's (`Actor::prefetch_op`) after the next event, when the actor,
    /// through which the model finds its state, has been loaded.
    fn next_arrival_at(&mut self, t: Time) {
        self.arrival = Some((t, self.queue.reserve_seq()));
        let client = self.pick_client();
        self.arrival_client = client;
        if self.nodes.hint {
            self.nodes.prefetch(client.index());
        }
        self.arrival_hint = A::PREFETCH_OP;
    }

    /// `step` while some node is paused: the event is noted, then held back if its node is one.
    /// A timer that is not armed is no event (see `on_timer`); one armed for a paused node is
    /// noted and held back, and fires when the node resumes.
    #[cold]
    #[inline(never)]
    fn step_while_paused(&mut self, t: Time, seq: u64, ev: Event<A>) {
        if let Event::LaneTimer { lane } = ev {
            let (node, incarnation, id, timer) = self.take_from_lane(lane);
            self.step_while_paused(t, seq, Event::Timer { node, incarnation, id, timer, held: false });
            return;
        }
        if let Event::Timer { node, incarnation, id, held, .. } = ev
            && !self.timer_armed(node, incarnation, id)
        {
            self.skip_timer(held);
            return;
        }
        let (tag, node) = ev.tag();
        self.note_event(t, seq, tag, node);
        self.dispatch(ev);
    }

    /// Counts the event just popped and mixes it into the trace hash: its time, sequence number,
    /// kind and node ([`Event::tag`]).
    #[inline(always)]
    fn note_event(&mut self, t: Time, seq: u64, tag: u64, node: u32) {
        self.events += 1;
        self.trace_hash = mix(mix(self.trace_hash, t.0), seq ^ (tag << 56) ^ ((node as u64) << 24));
    }

    /// An event popped while some node is paused, or held back by one that resumed (noted in the
    /// trace hash already): held back if its node is paused, else handled.
    #[inline(never)]
    fn dispatch(&mut self, ev: Event<A>) {
        if let Some(node) = ev.pausable_node()
            && self.nodes.status[node.index()] == Status::Paused
        {
            self.park(node, ev);
            return;
        }
        self.handle(ev, None);
    }

    /// Handles `ev`, noting it in the trace hash first if it was just popped (`popped`: its time
    /// and sequence number). The hash's kind and node are taken in the arms of the one `match`
    /// that handles the event, not by `Event::tag`'s own: each `match` on the kind is a jump
    /// table whose target changes with nearly every event, and the second was mispredicted as
    /// often as the first (callgrind: 410 k each on the Dynamo cut's 836,606 events). The hot arms
    /// (messages, timers, disk completions, open-loop arrivals) are handled here, the rest out of
    /// line (`dispatch_rare`), so the per-event code stays small enough for the instruction cache.
    #[inline(always)]
    fn handle(&mut self, ev: Event<A>, popped: Option<(Time, u64)>) {
        let note = |sim: &mut Self, tag: u64, node: u32| {
            if let Some((t, seq)) = popped {
                sim.note_event(t, seq, tag, node);
            }
        };
        match ev {
            Event::Deliver { from, to, msg, tracked, sent, ends } => {
                note(self, 1, to.0);
                self.on_deliver(from, to, msg, tracked, sent, ends)
            }
            Event::Timer { node, incarnation, id, timer, held } => {
                if self.fire_timer(node, incarnation, id) {
                    note(self, 2, node.0);
                    self.on_timer(node, timer);
                } else {
                    self.skip_timer(held);
                }
            }
            Event::LaneTimer { lane } => {
                let (node, incarnation, id, timer) = self.take_from_lane(lane);
                if self.fire_timer(node, incarnation, id) {
                    note(self, 2, node.0);
                    self.on_timer(node, timer);
                } else {
                    self.skip_timer(false);
                }
            }
            Event::DiskDone { node, incarnation, write } => {
                note(self, 3, node.0);
                self.on_disk_done(node, incarnation, write)
            }
            Event::Arrival => {
                note(self, 6, 0);
                self.arrive();
            }
            ev => {
                let (tag, node) = ev.tag();
                note(self, tag, node);
                self.dispatch_rare(ev)
            }
        }
    }

    /// Takes lane `lane`'s timer that just popped (the dead timers before it are skipped ones),
    /// and puts the lane's next live timer in the queue, before the popped one's handler runs:
    /// a timer that handler arms in the lane goes behind it.
    #[inline]
    fn take_from_lane(&mut self, lane: u32) -> (NodeId, u32, TimerId, A::Timer) {
        let (t, passed) = self.lanes.take(lane);
        self.skipped += passed;
        self.queue_next_in_lane(lane);
        (t.node, t.incarnation, t.id, t.timer)
    }

    /// Puts lane `lane`'s first live timer in the queue, under the sequence number it was armed
    /// with, passing over dead ones: those that can never fire (cancelled or fired, or of an
    /// earlier incarnation). Not `timer_armed`, which also asks whether the node is down now:
    /// a down node's armed timer is kept, and judged when it pops, as in the queue.
    #[inline]
    fn queue_next_in_lane(&mut self, lane: u32) {
        let (incarnations, extra) = (&self.nodes.incarnation, &self.nodes.extra);
        let live = |t: &LaneTimer<A::Timer>| {
            incarnations[t.node.index()] == t.incarnation && extra.get(t.node).is_some_and(|x| x.timers.is_armed(t.id))
        };
        if let Some((time, seq)) = self.lanes.next_live(lane, live) {
            self.queue.push_late(time, seq, Event::LaneTimer { lane });
        }
    }

    /// Arms timer `t` in lane `lane`: behind the lane's queued timer, under a sequence number
    /// taken now, or in the queue if the lane has none there.
    #[inline]
    fn arm_in_lane(&mut self, lane: u32, mut t: LaneTimer<A::Timer>) {
        let queued = self.lanes.is_queued(lane);
        t.seq = if queued { self.queue.reserve_seq() } else { self.queue.push(t.time, Event::LaneTimer { lane }) };
        self.lanes.append(lane, t, !queued);
    }

    /// Holds `ev` back until paused `node` resumes.
    #[cold]
    #[inline(never)]
    fn park(&mut self, node: NodeId, mut ev: Event<A>) {
        if let Event::Timer { held, .. } = &mut ev {
            *held = true;
        }
        let x = self.extra(node);
        x.parked.push((Time::ZERO, ev));
        if let Some(f) = x.paused_by {
            self.metrics.faults[f].events_delayed += 1;
        }
    }

    /// Whether timer `id` of `node`'s `incarnation` fires now (and so never again). One that does
    /// not (cancelled before its time, or set by an incarnation that has crashed since) runs
    /// nothing: it is no event, neither noted in the trace hash nor counted ([`Self::skip_timer`]).
    #[inline]
    fn fire_timer(&mut self, node: NodeId, incarnation: u32, id: TimerId) -> bool {
        let i = node.index();
        self.nodes.incarnation[i] == incarnation
            && self.nodes.status[i] == Status::Up
            && self.nodes.extra.get_mut(node).is_some_and(|x| x.timers.fire(id))
    }

    /// A timer came due and ran nothing: tallied in `skipped`, unless it was `held` (popped while
    /// its node was paused, it was counted as an event then, and is not counted twice).
    #[inline]
    fn skip_timer(&mut self, held: bool) {
        self.skipped += u64::from(!held);
    }

    /// Whether timer `id` of `node`'s `incarnation` would fire if its node were up: it is armed,
    /// and the node has not crashed since (a paused node's timers stay armed). `fire_timer`'s
    /// twin that only looks: a timer popped for a paused node must stay armed while it is held
    /// back (it fires at the resume, or is cancelled before), and a paused node is not up.
    fn timer_armed(&self, node: NodeId, incarnation: u32, id: TimerId) -> bool {
        let i = node.index();
        self.nodes.incarnation[i] == incarnation
            && self.nodes.status[i] != Status::Down
            && self.nodes.extra.get(node).is_some_and(|x| x.timers.is_armed(id))
    }

    fn on_timer(&mut self, node: NodeId, timer: A::Timer) {
        self.record_trace(node, TraceKind::Timer, "timer", &timer);
        self.call(node, |a, ctx| a.on_timer(ctx, timer));
    }

    /// The events a model run sees seldom or never: flushes, parked operations, scripted, probe
    /// and closed-loop arrivals, retries, faults.
    #[cold]
    #[inline(never)]
    fn dispatch_rare(&mut self, ev: Event<A>) {
        match ev {
            Event::Deliver { .. }
            | Event::Timer { .. }
            | Event::LaneTimer { .. }
            | Event::DiskDone { .. }
            | Event::Arrival => {
                unreachable!("a hot event is dispatched in line")
            }
            Event::Flush { node } => {
                let x = self.extra(node);
                x.flush_scheduled = false;
                self.flush(node, None);
            }
            Event::Op { node, op } => self.start_op(node, op),
            Event::Scripted { index } => {
                let g = self.workload.as_ref().expect("scripted arrival without a workload");
                let op = g.script[index as usize];
                if let Some(next) = g.script.get(index as usize + 1) {
                    self.queue.push(next.at, Event::Scripted { index: index + 1 });
                }
                let client = self.topo.clients[op.client as usize];
                self.issue(client, None, None, Some((op.kind, op.key)));
            }
            Event::ProbeWrite => {
                let stop_at = self.workload.as_ref().map_or(Time::ZERO, |g| g.stop_at);
                let Some((spec, state)) = &mut self.probe else { return };
                if state.round >= spec.writes || self.now >= stop_at {
                    return;
                }
                let kind = self.config.op_kinds.iter().position(|k| *k == spec.write).unwrap_or(0) as u16;
                let (key, writer) = (state.round as u64 % spec.keys, state.round as usize % self.topo.clients.len());
                state.round += 1;
                // The role first: an operation at a crashed client completes inside `issue`.
                state.note_write(OpId::new(self.history.len() as u64));
                self.issue(self.topo.clients[writer], None, None, Some((kind, key)));
            }
            Event::ProbeRead { grid, key } => {
                let Some((spec, state)) = &mut self.probe else { return };
                let kind = self.config.op_kinds.iter().position(|k| *k == spec.read).unwrap_or(0) as u16;
                // The client after the writer: another one when there are several.
                let reader = state.round as usize % self.topo.clients.len();
                state.note_read(OpId::new(self.history.len() as u64), grid);
                self.issue(self.topo.clients[reader], None, None, Some((kind, key)));
            }
            Event::UserNext { user } => {
                if self.now < self.workload.as_ref().map(|g| g.stop_at).unwrap_or(Time::ZERO) {
                    let client = self.users[user as usize].client;
                    self.issue(client, Some(user), None, None);
                }
            }
            Event::Retry { of } => {
                let client = self.history[of.index()].client;
                let user = self.op_user.get(&of).copied();
                self.issue(client, user, Some(of), None);
            }
            Event::Fault { index, undo } => self.on_fault(index, undo),
            Event::FinalRead => self.final_read_round(),
        }
    }

    /// Starts the workload's final read ([`crate::workload::FinalRead`]), if it has one: its
    /// first round comes `every` from now. The scenario runner calls this once the main phase
    /// has ended and its faults have healed.
    pub fn start_final_read(&mut self) {
        if let Some((_, every)) = self.workload.as_ref().and_then(|g| g.final_read) {
            self.queue.push(self.now + every, Event::FinalRead);
        }
    }

    /// One round of the final read: every client, in topology order, issues the operation (the
    /// next round is queued first; the run's end cuts the rounds off).
    fn final_read_round(&mut self) {
        let Some((kind, every)) = self.workload.as_ref().and_then(|g| g.final_read) else { return };
        self.queue.push(self.now + every, Event::FinalRead);
        for i in 0..self.topo.clients.len() {
            let g = self.workload.as_ref().expect("a final read has a workload");
            let key = g.draw_key(self.now, &mut self.wl_rng);
            self.issue(self.topo.clients[i], None, None, Some((kind, key)));
        }
        let issued = self.topo.clients.len() as u64;
        *self.metrics.counters.entry(FINAL_READ_COUNTER).or_insert(0) += issued;
    }

    /// Hands `op` to its client `node` (not paused): a node that is down fails it at once.
    #[inline]
    fn start_op(&mut self, node: NodeId, op: Op) {
        if self.nodes.status[node.index()] != Status::Up {
            self.finish_op(op.id, Outcome::Fail, Reply::None);
            return;
        }
        self.record_trace(node, TraceKind::Op { op: op.id }, self.config.op_kinds[op.kind as usize], &op);
        self.call(node, |a, ctx| a.on_op(ctx, op));
    }

    // ----- actors -----

    fn extra(&mut self, node: NodeId) -> &mut NodeExtra<A> {
        self.nodes.extra.entry(node)
    }

    pub(crate) fn local_time(&self, node: NodeId) -> Time {
        self.clock_readings(node).0
    }

    /// `node`'s local clock and its monotonic clock, the local clock without the steps
    /// ([`Ctx::monotonic`]): both the true time unless a clock fault touched the node.
    fn clock_readings(&self, node: NodeId) -> (Time, Time) {
        match self.nodes.clocks.get(node.index()) {
            Some(c) => c.readings(self.now),
            None => (self.now, self.now),
        }
    }

    fn boot(&mut self, node: NodeId) {
        let i = node.index();
        self.nodes.actors[i] = Some((self.factory)(node));
        self.nodes.set_status(i, Status::Up);
        let incarnation = self.nodes.incarnation[i];
        self.record_trace(node, TraceKind::Start, if incarnation > 0 { "restart" } else { "start" }, &incarnation);
        self.call(node, |a, ctx| a.on_start(ctx));
    }

    /// Runs one handler of `node`'s actor, then applies what it recorded.
    #[inline]
    fn call(&mut self, node: NodeId, f: impl FnOnce(&mut A, &mut Ctx<'_, A>)) {
        let i = node.index();
        let (local, mono) = self.clock_readings(node);
        let restarted = self.nodes.incarnation[i] > 0;
        let outage = self.outage_of(node).map(|(_, m)| m);
        let Some(actor) = self.nodes.actors[i].as_mut() else { return };
        // Only a crash tears records, and a crashed node restarts with a higher incarnation.
        let corrupt = if restarted { self.nodes.extra.get(node).map_or(0, |x| x.corrupt_records) } else { 0 };
        let mut ctx = Ctx::new(
            node,
            local,
            mono,
            self.now,
            restarted,
            RngSource::Streams(&mut self.nodes.rngs),
            &mut self.nodes.ids[i],
            Records::Chunks(&self.nodes.durable[i]),
            &mut self.effects,
        )
        .with_corrupt_records(corrupt)
        .with_outage(outage);
        f(actor, &mut ctx);
        if let Some(cov) = &mut self.coverage
            && let Some(fp) = actor.fingerprint()
        {
            cov.note(i, fp);
        }
        self.apply_effects(node);
    }

    fn apply_effects(&mut self, node: NodeId) {
        // In recorded order, popped from the back of the reversed list, in place: `Vec::drain`'s
        // drop was a call of its own per handler (~2% of PHOLD's instructions), and taking the
        // list out and putting it back cost moves and a drop per handler. No effect runs a
        // handler (they queue events, count, or write), so nothing is recorded while the list
        // is walked (debug builds check).
        self.effects.reverse();
        while let Some(e) = self.effects.pop() {
            let left = self.effects.len();
            match e {
                Effect::Send { to, msg } => self.send(node, to, msg),
                Effect::SetTimer { id, after, timer } => {
                    let span = match self.nodes.clocks.get(node.index()) {
                        Some(c) => c.true_span(after),
                        None => after,
                    };
                    let incarnation = self.nodes.incarnation[node.index()];
                    self.extra(node).timers.arm(id);
                    let time = self.now + span;
                    match self.lanes.lane_for(span.0) {
                        Some(lane) => self.arm_in_lane(lane, LaneTimer { time, seq: 0, node, incarnation, id, timer }),
                        None => _ = self.queue.push(time, Event::Timer { node, incarnation, id, timer, held: false }),
                    }
                }
                Effect::CancelTimer { id } => {
                    // Cancelling a timer that fired, or was cancelled, is a no-op.
                    if let Some(x) = self.nodes.extra.get_mut(node) {
                        x.timers.cancel(id);
                    }
                }
                Effect::Persist { id, record, sync } => self.write(node, id, record, sync),
                Effect::Complete { op, outcome, reply } => self.finish_op(op, outcome, reply),
                Effect::Count { name, delta } => match self.metrics.counters.get_mut(name) {
                    Some(c) => *c += delta,
                    None => self.new_counter(name, delta),
                },
                e => self.apply_rare(node, e),
            }
            debug_assert_eq!(self.effects.len(), left, "an effect recorded effects while they were applied");
        }
    }

    /// The effects few models record, out of line so `apply_effects` stays small.
    #[cold]
    #[inline(never)]
    fn apply_rare(&mut self, node: NodeId, e: Effect<A>) {
        match e {
            Effect::Send { .. }
            | Effect::SetTimer { .. }
            | Effect::CancelTimer { .. }
            | Effect::Persist { .. }
            | Effect::Complete { .. }
            | Effect::Count { .. } => unreachable!("a common effect is applied in line"),
            Effect::Committed { op } => self.probe_committed(op),
            Effect::Gauge { name, value } => self.metrics.record_gauge(name, value, self.now),
            Effect::CountIn { scope, name, delta } => self.metrics.record_count_in(scope, name, delta, self.now),
            Effect::Level { scope, name, delta } => self.metrics.record_level(scope, name, node, delta, self.now),
            Effect::StationArrival { scope, servers } => {
                self.metrics.stations.get_mut(node, scope).arrival(self.now, servers)
            }
            Effect::StationServed { scope, wait, service } => {
                self.metrics.stations.get_mut(node, scope).served(wait, service)
            }
        }
    }

    /// The first count of counter `name`: a `BTreeMap` insertion, a lot of code for once per name.
    #[cold]
    #[inline(never)]
    fn new_counter(&mut self, name: &'static str, delta: u64) {
        self.metrics.counters.insert(name, delta);
    }

    // ----- network -----

    #[inline]
    fn counts(&mut self, kind: &'static str) -> &mut MessageCounts {
        self.metrics.messages.get_mut(kind)
    }

    fn send(&mut self, from: NodeId, to: NodeId, msg: A::Msg) {
        let kind = msg.kind();
        self.counts(kind).sent += 1;
        if !self.topo.contains(to) {
            return self.drop_message(from, to, self.now, DropReason::Down, None, msg);
        }
        if let Some(f) = self.cut_between(from, to) {
            return self.drop_message(from, to, self.now, DropReason::Partition, Some(f), msg);
        }
        let li = self.links.index(self.topo.zone_of(from), self.topo.zone_of(to));
        let link = self.links.at(li);
        if link.loss > 0.0 && self.net_rng.chance(link.loss) {
            return self.drop_message(from, to, self.now, DropReason::Loss, None, msg);
        }
        for k in 0..self.extra_loss.len() {
            let (f, p) = self.extra_loss[k];
            if self.net_rng.chance(p) {
                return self.drop_message(from, to, self.now, DropReason::Loss, Some(f), msg);
            }
        }
        let duplicate = link.duplicate > 0.0 && self.net_rng.chance(link.duplicate);
        let ends = if self.links.fifo { (self.incarnation(from), self.incarnation(to)) } else { (0, 0) };
        if duplicate && !self.send_duplicate(from, to, &msg, ends, li) {
            return;
        }
        self.send_copy(from, to, msg, kind, ends, li);
    }

    /// The first of two copies of a duplicated message; false if the link's in-flight bound
    /// dropped it (and so the second). Out of line, so `send_copy` is inlined into `send` once.
    /// The message itself goes in the last copy: a clone (an allocation, for a message that
    /// carries a version set or a batch) only for a duplicate.
    #[cold]
    #[inline(never)]
    fn send_duplicate(&mut self, from: NodeId, to: NodeId, msg: &A::Msg, ends: (u32, u32), link: usize) -> bool {
        let kind = msg.kind();
        self.counts(kind).duplicated += 1;
        self.send_copy(from, to, msg.clone(), kind, ends, link)
    }

    /// Loses `msg` (from `from` to `to`, sent at `sent`) for `reason`: counted under its kind and
    /// against `fault` (the fault that caused the loss, if any), and traced. Out of line: a
    /// healthy run loses nothing, and these paths were most of `send` and `on_deliver`.
    #[cold]
    #[inline(never)]
    fn drop_message(
        &mut self,
        from: NodeId,
        to: NodeId,
        sent: Time,
        reason: DropReason,
        fault: Option<usize>,
        msg: A::Msg,
    ) {
        let counts = self.counts(msg.kind());
        match reason {
            DropReason::Partition => counts.dropped_partition += 1,
            DropReason::Loss => counts.dropped_loss += 1,
            DropReason::Down | DropReason::Closed => counts.dropped_down += 1,
            DropReason::Overflow => counts.dropped_overflow += 1,
        }
        if let Some(f) = fault {
            self.metrics.faults[f].messages_dropped += 1;
        }
        self.trace_drop(from, to, sent, reason, &msg);
    }

    /// Puts one copy of a sent message on the wire over link `link` ([`LinkTable::index`]); false
    /// if the link's in-flight bound dropped it (and so any later copy).
    #[inline(always)]
    fn send_copy(
        &mut self,
        from: NodeId,
        to: NodeId,
        msg: A::Msg,
        kind: &'static str,
        ends: (u32, u32),
        link: usize,
    ) -> bool {
        let link = self.links.at(link);
        let mut latency = link.latency_for(kind).sample(&mut self.net_rng);
        for &(f, node, peer, extra) in &self.delays {
            let hit = match peer {
                None => node == from || node == to,
                Some(peer) => node == to && peer == from,
            };
            if hit {
                latency = latency + extra;
                self.metrics.faults[f].events_delayed += 1;
            }
        }
        let mut arrival = self.now + latency;
        let mut tracked = false;
        if self.links.stateful {
            let (ns_per_byte, max) = (link.ns_per_byte, link.max_in_flight);
            let pipe = self.pipes.entry(from, to);
            if let Some(max) = max {
                if pipe.in_flight >= max {
                    self.drop_message(from, to, self.now, DropReason::Overflow, None, msg);
                    return false;
                }
                pipe.in_flight += 1;
                tracked = true;
            }
            if let Some(nspb) = ns_per_byte {
                let start = self.now.max(pipe.free_at);
                let depart = start + Duration((msg.size_bytes() as f64 * nspb).ceil() as u64);
                pipe.free_at = depart;
                arrival = depart + latency;
            }
            if self.links.fifo {
                arrival = pipe.connection_arrival(ends, arrival);
            }
        }
        debug_assert!(arrival >= self.now, "a message would arrive before it was sent");
        let sent = self.now;
        self.queue.push(arrival, Event::Deliver { from, to, msg, tracked, sent, ends });
        true
    }

    /// The outage `node` is in (fault index and mode), if any.
    #[inline]
    fn outage_of(&self, node: NodeId) -> Option<(usize, OutageMode)> {
        if self.outages.is_empty() {
            return None;
        }
        self.outages.iter().rev().find(|o| o.1 == node).map(|o| (o.0, o.2))
    }

    #[inline(always)]
    fn cut_between(&self, a: NodeId, b: NodeId) -> Option<usize> {
        if self.cuts.is_empty() { None } else { self.cut_among(a, b) }
    }

    #[inline(never)]
    fn cut_among(&self, a: NodeId, b: NodeId) -> Option<usize> {
        self.cuts.iter().find(|(_, c)| c.blocks(a, b)).map(|(f, _)| *f)
    }

    fn incarnation(&self, node: NodeId) -> u32 {
        self.nodes.incarnation.get(node.index()).copied().unwrap_or(0)
    }

    /// On a connection: the crash of an end since the message was sent (it closed the connection
    /// the message was on), if any.
    fn closed_by(&self, from: NodeId, to: NodeId, ends: (u32, u32)) -> Option<Option<usize>> {
        let crash = |n: NodeId| self.nodes.extra.get(n).and_then(|x| x.last_crash);
        if self.incarnation(from) != ends.0 {
            Some(crash(from))
        } else if self.incarnation(to) != ends.1 {
            Some(crash(to))
        } else {
            None
        }
    }

    fn on_deliver(&mut self, from: NodeId, to: NodeId, msg: A::Msg, tracked: bool, sent: Time, ends: (u32, u32)) {
        let kind = msg.kind();
        debug_assert!(self.now >= sent, "a message delivered before it was sent");
        if tracked && let Some(pipe) = self.pipes.get_mut(from, to) {
            pipe.in_flight -= 1;
        }
        if let Some(f) = self.cut_between(from, to) {
            return self.drop_message(from, to, sent, DropReason::Partition, Some(f), msg);
        }
        if self.nodes.status[to.index()] != Status::Up {
            let by = self.nodes.extra.get(to).and_then(|x| x.down_by);
            return self.drop_message(from, to, sent, DropReason::Down, by, msg);
        }
        if self.links.fifo {
            if let Some(by) = self.closed_by(from, to, ends) {
                return self.drop_message(from, to, sent, DropReason::Closed, by, msg);
            }
            if cfg!(debug_assertions)
                && let Some(pipe) = self.pipes.get_mut(from, to)
            {
                pipe.assert_in_order(sent);
            }
        }
        self.counts(kind).delivered += 1;
        if let Some((f, _)) = self.outage_of(to) {
            self.metrics.faults[f].messages_in_outage += 1;
        }
        if self.trace.is_some() {
            self.record_trace(to, TraceKind::Deliver { from, sent }, kind, &msg);
        }
        self.call(to, |a, ctx| a.on_msg(ctx, from, msg));
    }

    // ----- disks -----

    fn write(&mut self, node: NodeId, id: WriteId, record: A::Record, sync: bool) {
        let now = self.now;
        let latency =
            if sync { self.config.disk.latency_of(node.0).sample(&mut self.disk_rng) } else { Duration::ZERO };
        let flush_interval = self.config.disk.flush_interval;
        let incarnation = self.nodes.incarnation[node.index()];
        let x = self.extra(node);
        x.writes.push_back(PendingWrite { id, record, sync, in_flight: sync });
        let done = if sync {
            x.disk_free = x.disk_free.max(now) + latency;
            x.disk_free
        } else {
            now
        };
        let schedule_flush = !sync && !x.flush_scheduled;
        if schedule_flush {
            x.flush_scheduled = true;
        }
        self.queue.push(done, Event::DiskDone { node, incarnation, write: id });
        if schedule_flush {
            self.queue.push(now + flush_interval, Event::Flush { node });
        }
    }

    fn on_disk_done(&mut self, node: NodeId, incarnation: u32, write: WriteId) {
        if self.nodes.incarnation[node.index()] != incarnation {
            return; // the write died with the process
        }
        let x = self.extra(node);
        // Write ids grow per node for the whole run (never reset by a restart), every write is
        // queued in id order and leaves from the front (or all at once in a crash): the queue
        // holds consecutive ids, so the write is at `id - front id`; a binary search stands by.
        // (A scan from the front per completed write was most of a 1,000-crawler run: thousands
        // of buffered writes per node wait between flushes.)
        let guess = x.writes.front().and_then(|f| write.0.checked_sub(f.id.0)).map(|i| i as usize);
        let at = match guess {
            Some(i) if x.writes.get(i).is_some_and(|w| w.id == write) => i,
            _ => match x.writes.binary_search_by_key(&write.0, |w| w.id.0) {
                Ok(i) => i,
                Err(_) => return,
            },
        };
        let w = &mut x.writes[at];
        w.in_flight = false;
        let sync = w.sync;
        if sync {
            // An fsync makes everything written before it durable too.
            self.flush(node, Some(write));
        }
        self.record_trace(node, TraceKind::Persisted, "persisted", &write);
        self.call(node, |a, ctx| a.on_persisted(ctx, write));
    }

    /// Moves writes to the durable log, in order: up to and including `upto`, or (a periodic flush)
    /// every buffered write before the first synced write still in flight.
    fn flush(&mut self, node: NodeId, upto: Option<WriteId>) {
        let i = node.index();
        let Some(x) = self.nodes.extra.get_mut(node) else { return };
        while let Some(w) = x.writes.front() {
            if upto.is_none() && w.in_flight {
                break;
            }
            if let Some(u) = upto
                && w.id > u
            {
                break;
            }
            let w = x.writes.pop_front().expect("front exists");
            self.nodes.durable[i].push_back(w.record);
        }
    }

    // ----- workload -----

    fn pick_client(&mut self) -> NodeId {
        let c = &self.topo.clients;
        assert!(!c.is_empty(), "an open-loop workload needs client nodes");
        if c.len() == 1 { c[0] } else { c[self.wl_rng.below(c.len() as u64) as usize] }
    }

    /// A new operation (or a retry of `retry_of`) at `client`, now: of the given kind and key
    /// (`listed`, a scripted one) or drawn from the workload.
    fn issue(&mut self, client: NodeId, user: Option<u32>, retry_of: Option<OpId>, listed: Option<(u16, u64)>) {
        let id = OpId::new(self.history.len() as u64);
        let (kind, key, value, attempt) = match retry_of {
            Some(prev) => {
                let p = &self.history[prev.index()];
                (p.kind, p.key, p.value, p.attempt + 1)
            }
            None => {
                let (kind, key) = match listed {
                    Some(op) => op,
                    None => self.workload.as_ref().expect("issue without a workload").draw(self.now, &mut self.wl_rng),
                };
                // The value is the id plus one (`metrics::op_of_value` maps it back), so 0 stays "never
                // written".
                (kind, key, id.0 as u64 + 1, 1)
            }
        };
        self.history.push(HistoryEntry {
            op: id,
            client,
            kind,
            key,
            value,
            attempt,
            invoke: self.now,
            complete: Completion::NOT,
            outcome: None,
            reply: Reply::None,
        });
        if let Some(f) = self.metrics.in_flight.get_mut(kind as usize) {
            f.issue(self.now);
        }
        if let Some(u) = user {
            self.note_user(id, u);
        }
        let op = Op { id, kind, key, value, attempt };
        // Straight to the client, not through `dispatch` and an `Event` (a paused client parks
        // the operation there).
        if self.nodes.paused > 0 && self.nodes.status[client.index()] == Status::Paused {
            self.park(client, Event::Op { node: client, op });
        } else {
            self.start_op(client, op);
        }
    }

    /// Closed-loop user `user` issued `op` (out of line: a `BTreeMap` insertion is a lot of code).
    #[cold]
    #[inline(never)]
    fn note_user(&mut self, op: OpId, user: u32) {
        self.op_user.insert(op, user);
    }

    fn finish_op(&mut self, id: OpId, outcome: Outcome, reply: Reply) {
        let now = self.now;
        let entry = self.history.get_mut(id.index()).unwrap_or_else(|| panic!("complete of unknown operation {id:?}"));
        assert!(entry.outcome.is_none(), "operation {id:?} completed twice (model bug)");
        entry.complete = Completion::at(now);
        entry.outcome = Some(outcome);
        entry.reply = reply;
        let (kind, invoke, attempt) = (entry.kind, entry.invoke, entry.attempt);
        if self.trace.is_some() {
            self.trace_completion(id, outcome);
        }
        self.metrics.record_completion(kind, outcome, now - invoke, now);
        if let Some(f) = self.metrics.in_flight.get_mut(kind as usize) {
            f.end(now);
        }
        if self.probe.is_some() {
            self.probe_completed(id, outcome);
        }
        let g = self.workload.as_ref();
        if let Some(r) = g.and_then(|g| g.spec.retry.as_ref())
            && attempt < r.max_attempts
            && (outcome == Outcome::Timeout || (r.on_fail && outcome == Outcome::Fail))
        {
            let backoff = r.backoff.saturating_mul(1 << (attempt - 1).min(20));
            self.queue.push(now + backoff, Event::Retry { of: id });
            return;
        }
        if !self.op_user.is_empty() {
            self.user_thinks(id);
        }
    }

    /// Notes completed `op` in the trace.
    #[cold]
    #[inline(never)]
    fn trace_completion(&mut self, op: OpId, outcome: Outcome) {
        let e = &self.history[op.index()];
        let event = TraceEvent {
            time: self.now,
            node: e.client,
            kind: TraceKind::Complete { op, outcome },
            label: self.config.op_kinds.get(e.kind as usize).copied().unwrap_or("op").to_string(),
            detail: if self.trace_details { format!("{:?}", e.reply) } else { String::new() },
        };
        self.trace.as_mut().expect("tracing").push(event);
    }

    /// The probe workload learns that `op` completed, and schedules what follows.
    #[cold]
    #[inline(never)]
    fn probe_completed(&mut self, op: OpId, outcome: Outcome) {
        let now = self.now;
        let Some((spec, state)) = &mut self.probe else { return };
        match state.complete(spec, &self.history[op.index()], outcome, now) {
            crate::probe::Next::Reads => self.probe_reads(op),
            crate::probe::Next::Round => {
                self.queue.push(now + spec.gap, Event::ProbeWrite);
            }
            crate::probe::Next::Nothing => {}
        }
    }

    /// A closed-loop user whose operation `op` completed (for good) thinks, then issues its next.
    #[cold]
    #[inline(never)]
    fn user_thinks(&mut self, op: OpId) {
        let g = self.workload.as_ref();
        if let Some(&user) = self.op_user.get(&op)
            && let Some(Arrival::ClosedLoop { think, .. }) = g.map(|g| &g.spec.arrival)
        {
            let think = think.as_ref().map(|d| d.sample(&mut self.wl_rng)).unwrap_or_default();
            self.queue.push(self.now + think, Event::UserNext { user });
        }
    }

    /// A model marked `op` committed at its coordinator ([`Ctx::committed`]): the probe notes it,
    /// and times its reads from it under `from: Commit`.
    fn probe_committed(&mut self, op: OpId) {
        let now = self.now;
        let Some((spec, state)) = &mut self.probe else { return };
        let Some(e) = self.history.get(op.index()) else { return };
        if state.commit(spec, e, now) {
            self.probe_reads(op);
        }
    }

    /// Schedules the probe reads of write `op`'s key, one at each delay of the grid from now.
    fn probe_reads(&mut self, op: OpId) {
        let Some((spec, _)) = &self.probe else { return };
        let key = self.history[op.index()].key;
        for (grid, t) in spec.read_after.iter().enumerate() {
            self.queue.push(self.now + *t, Event::ProbeRead { grid: grid as u32, key });
        }
    }

    // ----- faults -----

    fn on_fault(&mut self, index: usize, undo: bool) {
        let fault = self.config.faults[index].fault.clone();
        // Instant faults (a heal, a clock step) end where they start; lasting ones below reopen.
        if undo || self.config.faults[index].duration.is_none() {
            self.metrics.faults[index].end = Some(self.now);
        }
        if let Some(t) = &mut self.trace {
            t.push(TraceEvent {
                time: self.now,
                node: NodeId(u32::MAX),
                kind: TraceKind::Fault,
                label: if undo { format!("end {}", fault.label()) } else { fault.label() },
                detail: String::new(),
            });
        }
        match (fault, undo) {
            (Fault::Partition(spec), false) => {
                let cut = Cut::resolve(&spec, &self.topo);
                self.cuts.push((index, cut));
                self.metrics.faults[index].end = None;
            }
            (Fault::Partition(_), true) => self.cuts.retain(|(f, _)| *f != index),
            (Fault::Heal, false) => {
                for (f, _) in std::mem::take(&mut self.cuts) {
                    self.metrics.faults[f].end.get_or_insert(self.now);
                }
            }
            (Fault::Crash { node, power_loss, corrupt_unsynced }, false) => {
                self.crash(NodeId(node), index, power_loss, corrupt_unsynced);
                self.metrics.faults[index].end = None;
            }
            (Fault::Crash { node, .. }, true) | (Fault::Restart(node), false) => self.restart(NodeId(node)),
            (Fault::Pause(node), false) => {
                self.pause(NodeId(node), index);
                self.metrics.faults[index].end = None;
            }
            (Fault::Pause(node), true) | (Fault::Resume(node), false) => self.resume(NodeId(node)),
            (Fault::ClockStep { node, by }, undo) => {
                self.ensure_clocks();
                self.nodes.clocks[node as usize].step(if undo { -by.0 } else { by.0 });
            }
            (Fault::ClockDrift { node, ppm }, undo) => {
                self.ensure_clocks();
                let now = self.now;
                self.nodes.clocks[node as usize].set_drift(now, if undo { 0.0 } else { ppm });
            }
            (Fault::Loss(p), false) => {
                self.extra_loss.push((index, p));
                self.metrics.faults[index].end = None;
            }
            (Fault::Loss(_), true) => self.extra_loss.retain(|(f, _)| *f != index),
            (Fault::Delay { node, extra, from }, false) => {
                self.delays.push((index, NodeId(node), from.map(NodeId), extra));
                self.metrics.faults[index].end = None;
            }
            (Fault::Delay { .. }, true) => self.delays.retain(|(f, ..)| *f != index),
            (Fault::Outage { node, mode }, false) => {
                self.outages.push((index, NodeId(node), mode));
                self.metrics.faults[index].end = None;
            }
            (Fault::Outage { .. }, true) => self.outages.retain(|(f, _, _)| *f != index),
            (Fault::Heal | Fault::Restart(_) | Fault::Resume(_), true) => {}
        }
    }

    fn ensure_clocks(&mut self) {
        if self.nodes.clocks.is_empty() {
            self.nodes.clocks = vec![Clock::default(); self.topo.node_count()];
        }
    }

    fn crash(&mut self, node: NodeId, fault: usize, power_loss: bool, corrupt: f64) {
        let i = node.index();
        if self.nodes.status[i] == Status::Down {
            return;
        }
        let gone = self.nodes.actors[i].take();
        if let (Some(kept), Some(actor)) = (&mut self.crashed, gone) {
            kept.push((node, actor)); // no longer reachable by the run: read by the report only
        }
        self.nodes.set_status(i, Status::Down);
        if let Some(t) = &mut self.trace {
            let label = if power_loss { "power loss" } else { "crash" };
            t.push(TraceEvent {
                time: self.now,
                node,
                kind: TraceKind::Crash,
                label: label.into(),
                detail: String::new(),
            });
        }
        self.metrics.drop_level_shares(node, self.now);
        self.nodes.incarnation[i] += 1;
        let mut lost = 0u64;
        let mut corrupted = 0u64;
        let x = self.nodes.extra.entry(node);
        x.parked.clear();
        let timers = x.timers.clear();
        x.down_by = Some(fault);
        x.last_crash = Some(fault);
        x.paused_by = None;
        x.flush_scheduled = false;
        let mut survivors = Vec::new();
        for w in std::mem::take(&mut x.writes) {
            if w.in_flight {
                lost += 1; // the disk never finished it
            } else if power_loss {
                if corrupt > 0.0 && self.fault_rng.chance(corrupt) {
                    corrupted += 1; // survives torn: detected by checksum on restart
                } else {
                    lost += 1;
                }
            } else {
                survivors.push(w.record); // the page cache outlives the process
            }
        }
        x.corrupt_records += corrupted;
        self.nodes.durable[i].extend(survivors);
        let e = &mut self.metrics.faults[fault];
        e.timers_lost += timers as u64;
        e.writes_lost += lost + corrupted;
    }

    fn restart(&mut self, node: NodeId) {
        if self.nodes.status[node.index()] != Status::Down {
            return;
        }
        if let Some(x) = self.nodes.extra.get_mut(node) {
            x.down_by = None;
        }
        self.boot(node);
    }

    fn pause(&mut self, node: NodeId, fault: usize) {
        if self.nodes.status[node.index()] != Status::Up {
            return;
        }
        self.nodes.set_status(node.index(), Status::Paused);
        self.extra(node).paused_by = Some(fault);
    }

    fn resume(&mut self, node: NodeId) {
        if self.nodes.status[node.index()] != Status::Paused {
            return;
        }
        self.nodes.set_status(node.index(), Status::Up);
        let x = self.extra(node);
        x.paused_by = None;
        let parked = std::mem::take(&mut x.parked);
        if self.links.fifo {
            // Held messages first, in order, before anything else due now (re-queued, a message
            // due at this very instant could overtake one held on the same connection).
            for (_, ev) in parked {
                self.dispatch(ev);
            }
        } else {
            for (_, ev) in parked {
                self.queue.push(self.now, ev);
            }
        }
    }

    /// The liveness phase begins: every partition heals, extra loss and outages stop, paused nodes resume and
    /// crashed nodes restart. Clock offsets stay (a clock does not un-skew by itself).
    pub fn heal_all(&mut self) {
        for (f, _) in std::mem::take(&mut self.cuts) {
            self.metrics.faults[f].end.get_or_insert(self.now);
        }
        for (f, _) in std::mem::take(&mut self.extra_loss) {
            self.metrics.faults[f].end.get_or_insert(self.now);
        }
        for (f, ..) in std::mem::take(&mut self.delays) {
            self.metrics.faults[f].end.get_or_insert(self.now);
        }
        for (f, _, _) in std::mem::take(&mut self.outages) {
            self.metrics.faults[f].end.get_or_insert(self.now);
        }
        for n in 0..self.topo.node_count() as u32 {
            let node = NodeId(n);
            let by = self.nodes.extra.get(node).and_then(|x| x.down_by.or(x.paused_by));
            if let Some(f) = by {
                self.metrics.faults[f].end.get_or_insert(self.now);
            }
            match self.nodes.status[n as usize] {
                Status::Paused => self.resume(node),
                Status::Down => self.restart(node),
                Status::Up => {}
            }
        }
        // Undo events still in the queue are now no-ops (resume of a running node, and so on).
    }

    /// Closes the run's time-weighted measurements (levels) at the current time.
    pub fn finish_levels(&mut self) {
        let now = self.now;
        self.metrics.finish_levels(now);
    }

    /// Counts, per fault, the operations live during its window that did not end `Ok`.
    pub fn tally_fault_hits(&mut self) {
        for f in &mut self.metrics.faults {
            let end = f.end.unwrap_or(self.now);
            f.ops_hit =
                self.history.iter().filter(|h| h.overlaps(f.start, end) && h.outcome != Some(Outcome::Ok)).count()
                    as u64;
        }
    }

    /// Notes a lost message in the trace (no-op without one).
    fn trace_drop(&mut self, from: NodeId, to: NodeId, sent: Time, reason: DropReason, msg: &A::Msg) {
        if self.trace.is_some() {
            self.record_trace(to, TraceKind::Drop { from, sent, reason }, msg.kind(), msg);
        }
    }

    #[inline]
    fn record_trace<T: std::fmt::Debug>(&mut self, node: NodeId, kind: TraceKind, label: &str, detail: &T) {
        if self.trace.is_some() {
            self.push_trace(node, kind, label, detail);
        }
    }

    /// The formatting of a trace event, out of line: most runs trace nothing.
    #[cold]
    #[inline(never)]
    fn push_trace<T: std::fmt::Debug>(&mut self, node: NodeId, kind: TraceKind, label: &str, detail: &T) {
        let detail = if self.trace_details { format!("{detail:?}") } else { String::new() };
        let event = TraceEvent { time: self.now, node, kind, label: label.to_string(), detail };
        self.trace.as_mut().expect("tracing").push(event);
    }

    // ----- what checkers and reports read -----

    pub fn now(&self) -> Time {
        self.now
    }
    pub fn topology(&self) -> &Topology {
        &self.topo
    }
    pub fn config(&self) -> &SimConfig {
        &self.config
    }
    /// A hash over every processed event (time, sequence number, kind, node): equal hashes mean
    /// equal runs.
    pub fn trace_hash(&self) -> u64 {
        self.trace_hash
    }
    pub fn events_processed(&self) -> u64 {
        self.events
    }
    /// The timers that came due and ran no handler (cancelled, or of a node that went down
    /// since): not events, so not in [`Self::events_processed`] nor in the trace hash. A model
    /// that cancels most of its timers (request timeouts) has many. A timer popped while its
    /// node was paused is an event (held back) and not one of these, even if it is cancelled
    /// before the resume.
    pub fn events_skipped(&self) -> u64 {
        self.skipped
    }
    /// Keeps at most `n` timer lanes ([`crate::lanes`]; 0: every timer in the event queue), for
    /// tests and measurements that compare a run with the queue alone: the run is the same either
    /// way. Call it before the run starts.
    pub fn set_timer_lanes(&mut self, n: usize) {
        self.lanes.limit(n);
    }
    pub fn pending_events(&self) -> usize {
        self.queue.len() + self.lanes.waiting() + self.arrival.is_some() as usize
    }
    /// A probe workload's table (`Arrival::Probe`), if the run had one.
    pub fn probe_table(&self) -> Option<crate::model::Table> {
        self.probe.as_ref().map(|(spec, state)| state.table(spec))
    }
    /// A probe workload's writes: acknowledged, committed at the coordinator, commit-to-ack delay.
    pub fn probe_writes_table(&self) -> Option<crate::model::Table> {
        self.probe.as_ref().map(|(_, state)| state.writes_table())
    }
    pub fn history(&self) -> &[HistoryEntry] {
        &self.history
    }
    pub fn metrics(&self) -> &Metrics {
        &self.metrics
    }
    pub fn into_metrics(self) -> Metrics {
        self.metrics
    }
    /// Turns on the explorer's coverage: after every handler the kernel asks the actor for its
    /// [`Actor::fingerprint`] and keeps each new (previous, next) pair of a node's fingerprints.
    /// Keeps the trace's events without their payloads (`detail` empty): what a search that
    /// reads only the events' times, nodes and labels needs. A payload's `Debug` form can be
    /// kilobytes (a Kafka fetch's records), and `simctl explore` traces every run it makes: with
    /// details, a search of `kafka_failover` grew past 24 GB and was killed.
    pub fn trace_without_details(&mut self) {
        self.trace_details = false;
    }

    /// The trace, taken out of the simulation (empty afterwards); `None` without one.
    pub fn take_trace(&mut self) -> Option<Vec<TraceEvent>> {
        self.trace.as_mut().map(std::mem::take)
    }

    /// Keeps the actor of every incarnation a crash ends, for the report to read
    /// ([`Sim::crashed_actors`]), instead of dropping it. The run is the same: a crashed actor
    /// receives nothing more, and its restart is a new one from the factory.
    pub fn keep_crashed_actors(&mut self) {
        self.crashed.get_or_insert_with(Vec::new);
    }

    /// The actors crashes ended, in crash order, if [`Sim::keep_crashed_actors`] was asked for.
    pub fn crashed_actors(&self) -> Option<&[(NodeId, A)]> {
        self.crashed.as_deref()
    }

    pub fn enable_coverage(&mut self) {
        self.coverage = Some(Box::new(Coverage { last: vec![0; self.topo.node_count()], seen: BTreeSet::new() }));
    }

    /// The fingerprint transitions seen, as hashes, in order; `None` unless coverage is on.
    pub fn coverage(&self) -> Option<Vec<u64>> {
        self.coverage.as_ref().map(|c| c.seen.iter().copied().collect())
    }

    pub fn trace(&self) -> Option<&[TraceEvent]> {
        self.trace.as_deref()
    }
    /// The actor on `node`, if the node is running (or paused).
    pub fn actor(&self, node: NodeId) -> Option<&A> {
        self.nodes.actors.get(node.index())?.as_ref()
    }
    pub fn is_up(&self, node: NodeId) -> bool {
        self.nodes.status.get(node.index()) == Some(&Status::Up)
    }
    pub fn durable(&self, node: NodeId) -> Records<'_, A::Record> {
        Records::Chunks(&self.nodes.durable[node.index()])
    }
    /// The local clock reading of `node` now.
    pub fn local_clock(&self, node: NodeId) -> Time {
        self.local_time(node)
    }
    /// Delivers `msg` from outside the cluster (tests, and drivers that inject load).
    pub fn inject(&mut self, from: NodeId, to: NodeId, msg: A::Msg) {
        self.start();
        self.send(from, to, msg);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_timer_fires_at_most_once_and_never_after_cancel() {
        let mut t = Timers::default();
        t.arm(TimerId(1));
        t.arm(TimerId(2));
        assert!(t.fire(TimerId(1)));
        assert!(!t.fire(TimerId(1)), "fired twice");
        t.cancel(TimerId(2));
        assert!(!t.fire(TimerId(2)), "fired after cancel");
        t.arm(TimerId(3));
        assert_eq!(t.clear(), 1);
        assert!(!t.fire(TimerId(3)), "fired after a crash");
        // A long-lived timer among many short ones, ids across several words of the window.
        t.arm(TimerId(10));
        for id in 11..1000 {
            t.arm(TimerId(id));
            assert!(t.fire(TimerId(id)));
        }
        assert!(t.fire(TimerId(10)));
        assert!(t.words.is_empty(), "the window slid past every dead id");
        assert_eq!(t.clear(), 0);
    }

    #[test]
    #[cfg(debug_assertions)]
    #[should_panic(expected = "armed twice")]
    fn a_timer_armed_twice_trips_the_assertion() {
        let mut t = Timers::default();
        t.arm(TimerId(7));
        t.arm(TimerId(7));
    }

    #[test]
    #[cfg(debug_assertions)]
    #[should_panic(expected = "time went backwards")]
    fn time_going_backwards_trips_the_assertion() {
        let now = advance_time(Time(10), Time(10));
        advance_time(now, Time(9));
    }
}
