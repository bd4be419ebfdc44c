//! A partitioned, replicated log (a queue between services): topics split into partitions by key,
//! offsets, producers that are acknowledged once a write is on `acks` disks, consumer groups that
//! share a topic's partitions (one consumer per partition) and commit offsets, retention, and
//! failover when a broker dies. The delivery semantics are Kafka's with auto-commit:
//! **at-least-once**. `models/kafka` stays the place for the ISR protocol; this part is a simpler
//! replicated log with a quorum commit, for designs that need a queue and not its internals.
//!
//! ## Roles
//!
//! Four structs, each living in a design's actor (a node may hold several):
//! - [`Coordinator`] (one node; it stands for ZooKeeper/KRaft): broker liveness by heartbeats,
//!   partition leadership (elections, epochs), consumer-group membership and assignment, and the
//!   committed offsets (on its disk). It also keeps the cluster-wide level `scope.lag`.
//! - [`Broker`]: holds replicas; leads some partitions, follows others.
//! - [`Producer`]: sends a record to its partition's leader, retries on timeout or a leader change.
//! - [`Consumer`]: a group member: heartbeats, fetches its partitions from their leaders, hands
//!   records to the design ([`Consumer::poll`]), takes the design's [`Consumer::done`], commits.
//!
//! ## The protocol, and why nothing acknowledged is lost
//!
//! Partition `p` (numbered across topics) lives on `replication` brokers, `p, p+1, ..` (mod the
//! broker count). Every log entry carries the *epoch* of the leader that wrote it. The leader
//! appends a record, writes it to its disk (group commit: one write in flight, the next one takes
//! everything appended meanwhile) and pushes it to the followers (one batch in flight per
//! follower, Raft's `AppendEntries`: a follower accepts a batch only if its log matches the
//! leader's just before it, and drops a conflicting tail). A follower acknowledges what it has
//! *persisted*. The **high-water mark** (HWM) is the longest prefix persisted on `acks` replicas
//! (leader included) whose last entry is of the leader's own epoch (Raft's commit rule; a new
//! leader appends an empty *marker* entry so that older entries commit with it). A producer is
//! acknowledged, and a consumer may read, only below the HWM.
//!
//! When a leader's broker misses heartbeats for `session_timeout` (or comes back with a new
//! incarnation: a restarted broker never leads from memory it lost), the coordinator runs an
//! **election** under a new epoch: it *probes* the partition's live replicas; each persists a
//! promise to refuse older epochs (the fence) and answers with its last entry's epoch and its log
//! end. With answers from `replication - acks + 1` replicas, the coordinator picks the most
//! up-to-date log (higher last epoch, then longer), writes the choice to its disk and tells
//! everyone. Every committed entry is on `acks` replicas, and every election hears from
//! `replication - acks + 1`: the two sets share a replica (`acks + (replication - acks + 1) >
//! replication`), so the winner's log holds every committed entry (the up-to-date rule is Raft's
//! proof). The fence makes an old leader unable to commit anything after the election (its
//! commit set would have to include a fenced replica), so a paused or cut-off old leader cannot
//! split the brain; when it comes back it learns the new epoch and its uncommitted tail is
//! overwritten. With `unclean_election: true` the coordinator takes any live replica when the
//! quorum is not there: the partition comes back sooner, and committed records can be lost.
//!
//! ## What survives which failure (crash = process and in-flight disk writes lost, disk kept)
//!
//! - **Broker crash or power loss** (synced writes only): no acknowledged record is lost, under
//!   any pattern of crashes, as long as disks survive. A partition stays writable while its
//!   leader lives and `acks` of its replicas are up; after its leader dies it is *offline*
//!   (produces retried, then failed; the level `scope.offline`) until the coordinator has
//!   noticed (`session_timeout`) and `replication - acks + 1` replicas answer the probe.
//! - **Network partition or pause**: safe as above (epochs fence the old side); the side without
//!   the coordinator and a quorum is unavailable.
//! - **Coordinator crash**: its committed offsets and leader choices are on its disk. While it is
//!   down there are no elections, no rebalances and no commits (consumers keep consuming what they
//!   own; their commits are retried, so more is redelivered later) and the `lag` level reads zero
//!   (its share dies with it). It is one node here; in production it is a replicated service.
//! - **Consumer crash**: its partitions move to other members after `session_timeout`; they resume
//!   from the group's committed offset, so records it processed after its last commit are
//!   delivered again (at-least-once). Nothing is skipped.
//! - **Retention**: records older than `retention.time`, or beyond `retention.records` per
//!   partition, are deleted (only below the HWM); a consumer whose position is behind the log start
//!   skips ahead to it, and the skipped records are counted as `lost_to_retention`.
//! - **Producer retries**: a retried produce whose first attempt did land appends the record twice
//!   (no idempotent producer): duplicates in the log, delivered twice.
//!
//! ## Consumer groups
//!
//! A member joins by heartbeating the coordinator (every `heartbeat`). Whenever the member set
//! changes (a join, a `leave`, a member silent for `session_timeout`), the coordinator bumps the
//! group's *generation* and assigns the topic's partitions deterministically: the `i`-th
//! partition of the topic to the `(i mod n)`-th member in node order ([`assign`]), so one consumer
//! owns each partition and the counts differ by at most one (members beyond the partition count
//! idle). A member keeps its position in partitions it keeps and starts newly assigned ones at the
//! committed offset. Commits carry the generation and are accepted only from the partition's
//! current owner and only forward, so a zombie member cannot move an offset. Offsets are committed
//! every `commit_interval`, and on `leave` (in the same message). The commit of a partition is the
//! lowest offset not yet [`Consumer::done`]: a record counts as consumed when the design says it is
//! processed, not when it is fetched.
//!
//! ## Knobs ([`LogSpec`])
//!
//! ```ron
//! (
//!     topics: [(name: "events", partitions: 12, retention: (time: Some("10m"), records: None))],
//!     replication: 3,          // copies of each partition
//!     acks: 2,                 // copies on disk before a produce is acknowledged (leader included)
//!     unclean_election: false, // elect any live replica when fewer than replication-acks+1 answer
//!     heartbeat: "100ms",      // brokers and consumers to the coordinator
//!     session_timeout: "1s",   // silence after which a broker or member is dead
//!     election_timeout: "300ms",
//!     request_timeout: "500ms",// produce, fetch and replication attempts
//!     retries: 10,             // produce attempts after the first
//!     retry_backoff: "100ms",
//!     max_batch: 500,          // entries per replication message
//!     fetch_max: 100,          // entries per consumer fetch
//!     fetch_wait: "100ms",     // a fetch at the end of the log waits this long for data
//!     commit_interval: "1s",
//!     record_bytes: 100,       // a record's size on the wire
//! )
//! ```
//!
//! ## Measures
//!
//! Counters under the part's scope (`log.` in most designs): `produced`, `produce_failed`,
//! `produce_retries`, `not_leader`, `elections`, `unclean_elections`, `rebalances`, `commits`,
//! `commit_rejected`, `deleted` (by retention), `lost_to_retention`, `offset_resets`, `truncated`
//! (uncommitted entries dropped by a follower). Levels: `lag` (for every group, the sum over its
//! partitions of HWM minus committed offset: Burrow's consumer lag, in records) and `offline`
//! (partitions whose leader died and that have no new one yet). [`LogStats`] sums the roles' own counts over nodes.

use serde::{Deserialize, Serialize};
use sim_core::rng::mix64;
use sim_core::{Actor, Ctx, Duration, Message, NodeId, Time, TimerId, WriteId};
use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::ops::Range;
use std::rc::Rc;

/// A partition, numbered across all topics (topic 0's partitions first).
pub type Pid = u32;

/// How long a topic keeps records: by age, by count per partition, or both (either one deletes).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Retention {
    pub time: Option<Duration>,
    /// Records kept per partition (size-based retention: bytes = records x `record_bytes`).
    pub records: Option<u64>,
}

/// ```ron
/// (name: "events", partitions: 12, retention: (time: Some("1h")))
/// ```
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TopicSpec {
    pub name: String,
    pub partitions: u32,
    pub retention: Retention,
}

impl Default for TopicSpec {
    fn default() -> Self {
        TopicSpec { name: "events".into(), partitions: 6, retention: Retention::default() }
    }
}

/// The log's knobs (see the module docs for a RON example).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LogSpec {
    pub topics: Vec<TopicSpec>,
    pub replication: u32,
    pub acks: u32,
    pub unclean_election: bool,
    pub heartbeat: Duration,
    pub session_timeout: Duration,
    pub election_timeout: Duration,
    pub request_timeout: Duration,
    pub retries: u32,
    pub retry_backoff: Duration,
    pub max_batch: u32,
    pub fetch_max: u32,
    pub fetch_wait: Duration,
    pub commit_interval: Duration,
    pub record_bytes: u32,
}

impl Default for LogSpec {
    fn default() -> Self {
        LogSpec {
            topics: vec![TopicSpec::default()],
            replication: 3,
            acks: 2,
            unclean_election: false,
            heartbeat: Duration::from_millis(100),
            session_timeout: Duration::from_secs(1),
            election_timeout: Duration::from_millis(300),
            request_timeout: Duration::from_millis(500),
            retries: 10,
            retry_backoff: Duration::from_millis(100),
            max_batch: 500,
            fetch_max: 100,
            fetch_wait: Duration::from_millis(100),
            commit_interval: Duration::from_secs(1),
            record_bytes: 100,
        }
    }
}

impl LogSpec {
    /// Problems as `(field path, message)`; `brokers` is the design's broker count.
    pub fn validate(&self, path: &str, brokers: u32) -> Vec<(String, String)> {
        let mut e = Vec::new();
        if self.topics.is_empty() || self.topics.len() > u16::MAX as usize {
            e.push((format!("{path}.topics"), "needs between 1 and 65,535 topics".into()));
        }
        let mut total = 0u64;
        for (i, t) in self.topics.iter().enumerate() {
            if t.partitions == 0 || t.partitions > 100_000 {
                e.push((
                    format!("{path}.topics[{i}].partitions"),
                    format!("must be within [1, 100,000], got {}", t.partitions),
                ));
            }
            total += t.partitions as u64;
            if self.topics[..i].iter().any(|o| o.name == t.name) {
                e.push((format!("{path}.topics[{i}].name"), format!("topic `{}` is listed twice", t.name)));
            }
            if t.retention.time == Some(Duration::ZERO) {
                e.push((format!("{path}.topics[{i}].retention.time"), "must be positive (or None)".into()));
            }
            if t.retention.records == Some(0) {
                e.push((format!("{path}.topics[{i}].retention.records"), "must be positive (or None)".into()));
            }
        }
        if total > 1_000_000 {
            e.push((format!("{path}.topics"), format!("{total} partitions in all, more than 1,000,000")));
        }
        if self.replication == 0 || self.replication > brokers {
            e.push((
                format!("{path}.replication"),
                format!("must be within [1, {brokers}] (the broker count), got {}", self.replication),
            ));
        }
        if self.acks == 0 || self.acks > self.replication {
            e.push((
                format!("{path}.acks"),
                format!("must be within [1, replication = {}], got {}", self.replication, self.acks),
            ));
        }
        for (name, d) in [
            ("heartbeat", self.heartbeat),
            ("session_timeout", self.session_timeout),
            ("election_timeout", self.election_timeout),
            ("request_timeout", self.request_timeout),
            ("retry_backoff", self.retry_backoff),
            ("fetch_wait", self.fetch_wait),
            ("commit_interval", self.commit_interval),
        ] {
            if d == Duration::ZERO {
                e.push((format!("{path}.{name}"), "must be positive".into()));
            }
        }
        if self.session_timeout <= self.heartbeat {
            e.push((
                format!("{path}.session_timeout"),
                format!("must exceed heartbeat ({}), got {}", self.heartbeat, self.session_timeout),
            ));
        }
        for (name, v) in [("max_batch", self.max_batch), ("fetch_max", self.fetch_max)] {
            if v == 0 || v > 1_000_000 {
                e.push((format!("{path}.{name}"), format!("must be within [1, 1,000,000], got {v}")));
            }
        }
        if self.record_bytes > 100_000_000 {
            e.push((format!("{path}.record_bytes"), format!("at most 100,000,000, got {}", self.record_bytes)));
        }
        if self.retries > 1000 {
            e.push((format!("{path}.retries"), format!("at most 1000, got {}", self.retries)));
        }
        e
    }
}

/// The log's shape, shared (in an `Rc`) by every role of a design: the knobs, the coordinator, the
/// brokers, and where each topic's partitions are.
#[derive(Debug)]
pub struct Cluster {
    spec: LogSpec,
    coordinator: NodeId,
    brokers: Vec<NodeId>,
    /// First partition of each topic, and one past the last (`topics + 1` entries).
    starts: Vec<Pid>,
}

impl Cluster {
    pub fn new(spec: LogSpec, coordinator: NodeId, brokers: Vec<NodeId>) -> Cluster {
        assert!(!brokers.is_empty() && spec.replication as usize <= brokers.len(), "validated: replication <= brokers");
        let mut starts = vec![0];
        for t in &spec.topics {
            starts.push(starts.last().unwrap() + t.partitions);
        }
        Cluster { spec, coordinator, brokers, starts }
    }
    pub fn spec(&self) -> &LogSpec {
        &self.spec
    }
    pub fn coordinator(&self) -> NodeId {
        self.coordinator
    }
    pub fn brokers(&self) -> &[NodeId] {
        &self.brokers
    }
    /// Partitions over all topics.
    pub fn partitions(&self) -> u32 {
        *self.starts.last().unwrap()
    }
    /// The index of the topic named `name`.
    pub fn topic(&self, name: &str) -> Option<u16> {
        self.spec.topics.iter().position(|t| t.name == name).map(|i| i as u16)
    }
    pub fn topic_partitions(&self, topic: u16) -> Range<Pid> {
        self.starts[topic as usize]..self.starts[topic as usize + 1]
    }
    fn topic_of(&self, p: Pid) -> usize {
        self.starts.partition_point(|&s| s <= p) - 1
    }
    /// The partition of `topic` that a record with `key` goes to: a fixed hash of the key, so one
    /// key's records stay in order in one partition.
    pub fn partition_of(&self, topic: u16, key: u64) -> Pid {
        let r = self.topic_partitions(topic);
        r.start + (mix64(key) % (r.end - r.start) as u64) as Pid
    }
    /// The brokers holding `p`, in preference order.
    pub fn replicas(&self, p: Pid) -> impl Iterator<Item = NodeId> + '_ {
        let b = self.brokers.len();
        (0..self.spec.replication as usize).map(move |i| self.brokers[(p as usize + i) % b])
    }
    fn is_replica(&self, p: Pid, node: NodeId) -> bool {
        self.replicas(p).any(|n| n == node)
    }
    /// Replicas an election must hear from (`replication - acks + 1`).
    pub fn election_quorum(&self) -> usize {
        (self.spec.replication - self.spec.acks + 1) as usize
    }
    fn retention(&self, p: Pid) -> &Retention {
        &self.spec.topics[self.topic_of(p)].retention
    }
    fn broker_index(&self, n: NodeId) -> Option<usize> {
        self.brokers.iter().position(|&b| b == n)
    }
}

/// What a producer writes: a key (it picks the partition), a value (the design's payload, an id)
/// and the producer's clock when it was produced.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Record {
    pub key: u64,
    pub value: u64,
    pub produced: Time,
    /// Size on the wire and on disk (the spec's `record_bytes`).
    pub bytes: u32,
}

/// One slot of a partition's log. `rec: None` is a new leader's epoch marker (consumers skip it).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Entry {
    pub epoch: u32,
    /// When the leader appended it, on its clock (retention by time reads it).
    pub at: Time,
    pub rec: Option<Record>,
}

/// A partition's leadership as the coordinator decided it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PartMeta {
    pub epoch: u32,
    pub leader: Option<NodeId>,
    /// The incarnation of the leader's broker that was elected (a restarted broker has another).
    pub inc: u64,
}

/// Why a produce was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ProduceError {
    /// Every attempt timed out or found no leader.
    Failed,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FetchResult {
    /// Entries `[from, next)` were read; `recs` are the records among them (markers skipped).
    Records {
        from: u64,
        next: u64,
        recs: Vec<(u64, Record)>,
    },
    NotLeader,
    /// The offset is outside `[start, end]`: deleted by retention, or beyond the log.
    OutOfRange {
        start: u64,
        end: u64,
    },
}

/// The log's messages (every role's; a role ignores the ones not meant for it).
#[derive(Clone, Debug)]
pub enum Msg {
    Beat { inc: u64, led: Vec<(Pid, u32, u64)> },
    Probe { p: Pid, epoch: u32 },
    ProbeReply { p: Pid, epoch: u32, last_epoch: u32, end: u64, inc: u64 },
    MetaReq,
    Meta { parts: Rc<Vec<PartMeta>> },
    Append { p: Pid, epoch: u32, start: u64, prev_epoch: u32, reset: bool, entries: Vec<Entry> },
    AppendAck { p: Pid, epoch: u32, ok: bool, end: u64 },
    Produce { req: u64, p: Pid, rec: Record },
    ProduceReply { req: u64, offset: Option<u64> },
    Fetch { req: u64, p: Pid, offset: u64, max: u32 },
    FetchReply { req: u64, p: Pid, result: FetchResult },
    Member { group: u16, topic: u16, inc: u64, generation: u64 },
    Assign { group: u16, generation: u64, parts: Vec<(Pid, u64)> },
    Commit { group: u16, generation: u64, offsets: Vec<(Pid, u64)>, leave: bool },
    CommitAck { group: u16, offsets: Vec<(Pid, u64)> },
}

/// Framing of one entry on the wire (offset, epoch, timestamp).
const ENTRY_OVERHEAD: u64 = 24;

fn entry_bytes(e: &Entry) -> u64 {
    ENTRY_OVERHEAD + e.rec.map_or(0, |r| r.bytes as u64)
}

impl Message for Msg {
    fn kind(&self) -> &'static str {
        match self {
            Msg::Beat { .. } => "log_beat",
            Msg::Probe { .. } => "log_probe",
            Msg::ProbeReply { .. } => "log_probe_reply",
            Msg::MetaReq => "log_meta_req",
            Msg::Meta { .. } => "log_meta",
            Msg::Append { .. } => "log_append",
            Msg::AppendAck { .. } => "log_append_ack",
            Msg::Produce { .. } => "log_produce",
            Msg::ProduceReply { .. } => "log_produce_reply",
            Msg::Fetch { .. } => "log_fetch",
            Msg::FetchReply { .. } => "log_fetch_reply",
            Msg::Member { .. } => "log_member",
            Msg::Assign { .. } => "log_assign",
            Msg::Commit { .. } => "log_commit",
            Msg::CommitAck { .. } => "log_commit_ack",
        }
    }
    fn size_bytes(&self) -> u64 {
        64 + match self {
            Msg::Append { entries, .. } => entries.iter().map(entry_bytes).sum(),
            Msg::Produce { rec, .. } => ENTRY_OVERHEAD + rec.bytes as u64,
            Msg::FetchReply { result: FetchResult::Records { recs, .. }, .. } => {
                recs.iter().map(|r| ENTRY_OVERHEAD + r.1.bytes as u64).sum()
            }
            Msg::Meta { parts } => parts.len() as u64 * 16,
            Msg::Beat { led, .. } => led.len() as u64 * 16,
            Msg::Assign { parts, .. } | Msg::Commit { offsets: parts, .. } | Msg::CommitAck { offsets: parts, .. } => {
                parts.len() as u64 * 12
            }
            _ => 0,
        }
    }
}

/// What the log writes to disk.
#[derive(Clone, Debug)]
pub enum Disk {
    /// A broker's entries for `p` from `start` (applied like an `Append`: a conflicting tail goes).
    Append { p: Pid, start: u64, prev_epoch: u32, reset: bool, entries: Vec<Entry> },
    /// A broker's promise to refuse epochs below `epoch` for `p`.
    Fence { p: Pid, epoch: u32 },
    /// The coordinator's choice of a leader.
    Leader { p: Pid, meta: PartMeta },
    /// The coordinator's committed offsets of a group.
    Commit { group: u16, offsets: Vec<(Pid, u64)> },
}

/// The log's timers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Timer {
    BrokerTick,
    CoordinatorTick,
    /// A consumer's heartbeat and commit loops, tagged with its membership (a `leave` and a
    /// new `join` start new loops; the old ones stop).
    MemberTick(u32),
    CommitTick(u32),
    ProduceTimeout {
        req: u64,
        attempt: u32,
    },
    ProduceRetry {
        req: u64,
        attempt: u32,
    },
}

/// A host actor that can carry the log's messages, timers and disk records.
pub trait LogHost: Actor<Msg: From<Msg>, Timer: From<Timer>, Record: From<Disk>> {}
impl<A> LogHost for A
where
    A: Actor,
    A::Msg: From<Msg>,
    A::Timer: From<Timer>,
    A::Record: From<Disk>,
{
}

fn send<A: LogHost>(ctx: &mut Ctx<'_, A>, to: NodeId, msg: Msg) {
    ctx.send(to, A::Msg::from(msg));
}
fn timer<A: LogHost>(ctx: &mut Ctx<'_, A>, after: Duration, t: Timer) -> TimerId {
    ctx.set_timer(after, A::Timer::from(t))
}
fn persist<A: LogHost>(ctx: &mut Ctx<'_, A>, d: Disk) -> WriteId {
    ctx.persist(A::Record::from(d))
}

/// Counts of every role, summed over nodes by a design's report.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LogStats {
    pub produced: u64,
    pub produce_failed: u64,
    pub produce_retries: u64,
    pub appended: u64,
    pub elections: u64,
    pub unclean_elections: u64,
    pub rebalances: u64,
    pub commits: u64,
    pub commit_rejected: u64,
    pub fetched: u64,
    pub deleted: u64,
    pub lost_to_retention: u64,
    pub offset_resets: u64,
    pub truncated: u64,
}

impl LogStats {
    pub fn add(&mut self, o: &LogStats) {
        self.produced += o.produced;
        self.produce_failed += o.produce_failed;
        self.produce_retries += o.produce_retries;
        self.appended += o.appended;
        self.elections += o.elections;
        self.unclean_elections += o.unclean_elections;
        self.rebalances += o.rebalances;
        self.commits += o.commits;
        self.commit_rejected += o.commit_rejected;
        self.fetched += o.fetched;
        self.deleted += o.deleted;
        self.lost_to_retention += o.lost_to_retention;
        self.offset_resets += o.offset_resets;
        self.truncated += o.truncated;
    }
}

// ---------------------------------------------------------------------------------------------
// One replica's log of one partition.

/// A replica's log of one partition: entries `[start, end)`, the fence, and how much is on disk.
#[derive(Clone, Debug, Default)]
pub struct PartLog {
    start: u64,
    entries: VecDeque<Entry>,
    /// Epoch of the entry just before `start` (deleted by retention), 0 at the beginning.
    base_epoch: u32,
    /// The highest epoch this replica has promised to (or seen a leader of): older ones are refused.
    fence: u32,
    /// Bumped when the tail is truncated, so writes issued before it do not count as persisted.
    version: u64,
    /// Entries `[.., written)` have been issued to disk; `[.., persisted)` are on it.
    written: u64,
    persisted: u64,
}

impl PartLog {
    pub fn start(&self) -> u64 {
        self.start
    }
    pub fn end(&self) -> u64 {
        self.start + self.entries.len() as u64
    }
    pub fn persisted(&self) -> u64 {
        self.persisted
    }
    pub fn get(&self, offset: u64) -> Option<&Entry> {
        offset.checked_sub(self.start).and_then(|i| self.entries.get(i as usize))
    }
    /// The entries, from `start()`.
    pub fn entries(&self) -> impl Iterator<Item = (u64, &Entry)> {
        self.entries.iter().enumerate().map(|(i, e)| (self.start + i as u64, e))
    }
    pub fn last_epoch(&self) -> u32 {
        self.entries.back().map_or(self.base_epoch, |e| e.epoch)
    }
    /// The epoch of the entry before `offset` (`offset >= start`).
    fn epoch_before(&self, offset: u64) -> u32 {
        if offset <= self.start { self.base_epoch } else { self.entries[(offset - 1 - self.start) as usize].epoch }
    }

    fn truncate(&mut self, to: u64) -> u64 {
        let cut = self.end() - to;
        self.entries.truncate((to - self.start) as usize);
        self.version += 1;
        self.written = self.written.min(to);
        self.persisted = self.persisted.min(to);
        cut
    }

    /// Applies a leader's batch: entries from `start`, which must follow an entry of `prev_epoch`.
    /// `Ok(end of the batch)` (the prefix now known to match the leader's), with the count of
    /// entries truncated; `Err(hint)`: no match, retry from `hint` (< `start`). `reset` replaces
    /// the whole log (the follower is behind the leader's retention).
    pub fn apply(&mut self, start: u64, prev_epoch: u32, reset: bool, entries: &[Entry]) -> Result<(u64, u64), u64> {
        let mut truncated = 0;
        if reset {
            truncated = self.entries.len() as u64;
            self.entries.clear();
            self.version += 1;
            self.start = start;
            self.base_epoch = prev_epoch;
            self.written = start;
            self.persisted = start;
        } else if start > self.end() {
            return Err(self.end());
        } else if start > self.start && self.epoch_before(start) != prev_epoch {
            // Back up to the first entry of the conflicting epoch (Raft's fast backup).
            let bad = self.epoch_before(start);
            let mut o = start - 1;
            while o > self.start && self.epoch_before(o) == bad {
                o -= 1;
            }
            return Err(o);
        }
        let end = start + entries.len() as u64;
        for (i, e) in entries.iter().enumerate() {
            let o = start + i as u64;
            if o < self.start {
                continue; // below this replica's retention: committed long ago
            }
            match self.get(o) {
                Some(have) if have.epoch == e.epoch => {}
                Some(_) => {
                    truncated += self.truncate(o);
                    self.entries.push_back(*e);
                }
                None => self.entries.push_back(*e),
            }
        }
        Ok((end, truncated))
    }

    /// Deletes entries below `limit` that retention no longer keeps; returns how many.
    fn trim(&mut self, now: Time, r: &Retention, limit: u64) -> u64 {
        let mut n = 0;
        while self.start < limit
            && let Some(e) = self.entries.front()
        {
            let old = r.time.is_some_and(|t| now.since(e.at) > t);
            let over = r.records.is_some_and(|k| self.entries.len() as u64 > k);
            if !(old || over) {
                break;
            }
            self.base_epoch = e.epoch;
            self.entries.pop_front();
            self.start += 1;
            n += 1;
        }
        self.written = self.written.max(self.start);
        self.persisted = self.persisted.max(self.start);
        n
    }

    /// Up to `max` entries from `offset`, not beyond `limit`: `(next offset, records)`.
    fn read(&self, offset: u64, max: u32, limit: u64) -> (u64, Vec<(u64, Record)>) {
        let to = limit.min(offset + max as u64).min(self.end());
        let recs =
            (offset.max(self.start)..to).filter_map(|o| self.get(o).and_then(|e| e.rec).map(|r| (o, r))).collect();
        (to.max(offset), recs)
    }
}

// ---------------------------------------------------------------------------------------------
// Broker.

#[derive(Debug)]
struct Follower {
    node: NodeId,
    /// Next offset to send; `matched`: prefix known to be on its disk and equal to ours.
    next: u64,
    matched: u64,
    sent: Option<Time>,
}

#[derive(Debug)]
struct Lead {
    epoch: u32,
    hwm: u64,
    followers: Vec<Follower>,
    /// Produces waiting for the HWM: (offset, producer, request).
    waiting: VecDeque<(u64, NodeId, u64)>,
    /// Fetches parked at the HWM: (consumer, request, offset, max, since).
    parked: Vec<(NodeId, u64, u64, u32, Time)>,
}

#[derive(Debug, Default)]
struct Replica {
    log: PartLog,
    lead: Option<Lead>,
    /// The leader's own group commit: a write in flight.
    writing: bool,
}

#[derive(Debug)]
enum BrokerWrite {
    /// The leader's own entries up to `end`.
    Own { p: Pid, end: u64, version: u64 },
    /// A follower's batch: acknowledge `end` to `leader` in `epoch` once on disk.
    Follow { p: Pid, end: u64, version: u64, leader: NodeId, epoch: u32 },
    /// A probe's fence: answer the coordinator once on disk.
    Fence { p: Pid, epoch: u32 },
}

/// A broker: the replicas it holds, leading some and following others.
#[derive(Debug)]
pub struct Broker {
    c: Rc<Cluster>,
    scope: &'static str,
    me: NodeId,
    inc: u64,
    reps: BTreeMap<Pid, Replica>,
    writes: BTreeMap<WriteId, BrokerWrite>,
    pub stats: LogStats,
}

impl Broker {
    pub fn new(c: Rc<Cluster>, scope: &'static str, me: NodeId) -> Broker {
        let reps = (0..c.partitions()).filter(|&p| c.is_replica(p, me)).map(|p| (p, Replica::default())).collect();
        Broker { c, scope, me, inc: 0, reps, writes: BTreeMap::new(), stats: LogStats::default() }
    }

    /// Starts the broker; after a restart it first rebuilds its logs from what it persisted
    /// (`extract` picks the log's records out of the design's).
    pub fn start<A: LogHost>(&mut self, ctx: &mut Ctx<'_, A>, extract: impl Fn(&A::Record) -> Option<&Disk>) {
        for d in ctx.durable().iter().filter_map(extract) {
            match d {
                Disk::Append { p, start, prev_epoch, reset, entries } => {
                    if let Some(r) = self.reps.get_mut(p) {
                        // A record on disk was applied successfully when it was written.
                        let _ = r.log.apply(*start, *prev_epoch, *reset, entries);
                    }
                }
                Disk::Fence { p, epoch } => {
                    if let Some(r) = self.reps.get_mut(p) {
                        r.log.fence = r.log.fence.max(*epoch);
                    }
                }
                Disk::Leader { .. } | Disk::Commit { .. } => {}
            }
        }
        let now = ctx.now();
        for (&p, r) in &mut self.reps {
            r.log.written = r.log.end();
            r.log.persisted = r.log.end();
            let limit = r.log.end();
            r.log.trim(now, self.c.retention(p), limit);
        }
        self.inc = ctx.rng().next_u64();
        self.beat(ctx);
        timer(ctx, self.c.spec.heartbeat, Timer::BrokerTick);
    }

    /// The incarnation this broker announces (drawn at every start).
    pub fn incarnation(&self) -> u64 {
        self.inc
    }

    /// This broker's log of `p`, if it holds a replica.
    pub fn log(&self, p: Pid) -> Option<&PartLog> {
        self.reps.get(&p).map(|r| &r.log)
    }

    /// Every replica this broker holds, with its log.
    pub fn logs(&self) -> impl Iterator<Item = (Pid, &PartLog)> {
        self.reps.iter().map(|(&p, r)| (p, &r.log))
    }

    /// The epoch and HWM of `p` if this broker leads it.
    pub fn leading(&self, p: Pid) -> Option<(u32, u64)> {
        self.reps.get(&p)?.lead.as_ref().map(|l| (l.epoch, l.hwm))
    }

    fn beat<A: LogHost>(&self, ctx: &mut Ctx<'_, A>) {
        let led = self.reps.iter().filter_map(|(&p, r)| r.lead.as_ref().map(|l| (p, l.epoch, l.hwm))).collect();
        send(ctx, self.c.coordinator, Msg::Beat { inc: self.inc, led });
    }

    pub fn on_timer<A: LogHost>(&mut self, ctx: &mut Ctx<'_, A>, t: Timer) {
        if t != Timer::BrokerTick {
            return;
        }
        let now = ctx.now();
        let spec = &self.c.spec;
        for (&p, r) in &mut self.reps {
            let limit = r.lead.as_ref().map_or(r.log.persisted, |l| l.hwm.min(r.log.persisted));
            let deleted = r.log.trim(now, self.c.retention(p), limit);
            if let Some(lead) = &mut r.lead {
                if deleted > 0 {
                    self.stats.deleted += deleted;
                    ctx.count_in(self.scope, "deleted", deleted);
                }
                // Expired long polls answer empty; lost replication messages are sent again.
                let wait = spec.fetch_wait;
                let (expired, kept): (Vec<_>, Vec<_>) = lead.parked.drain(..).partition(|f| now.since(f.4) >= wait);
                lead.parked = kept;
                for (to, req, offset, _, _) in expired {
                    let result = FetchResult::Records { from: offset, next: offset, recs: Vec::new() };
                    send(ctx, to, Msg::FetchReply { req, p, result });
                }
                for f in &mut lead.followers {
                    if f.sent.is_some_and(|s| now.since(s) >= spec.request_timeout) {
                        f.sent = None;
                    }
                }
                Self::replicate(ctx, spec, p, &r.log, lead);
            }
        }
        self.beat(ctx);
        timer(ctx, spec.heartbeat, Timer::BrokerTick);
    }

    /// Sends the next batch to every follower with nothing in flight and something to send.
    fn replicate<A: LogHost>(ctx: &mut Ctx<'_, A>, spec: &LogSpec, p: Pid, log: &PartLog, lead: &mut Lead) {
        let now = ctx.now();
        for f in &mut lead.followers {
            if f.sent.is_some() || (f.next >= log.end() && f.matched >= log.end()) {
                continue;
            }
            let reset = f.next < log.start;
            let start = if reset { log.start } else { f.next.min(log.end()) };
            let prev_epoch = log.epoch_before(start);
            let from = (start - log.start) as usize;
            let to = (from + spec.max_batch as usize).min(log.entries.len());
            let entries: Vec<Entry> = log.entries.range(from..to).copied().collect();
            f.sent = Some(now);
            send(ctx, f.node, Msg::Append { p, epoch: lead.epoch, start, prev_epoch, reset, entries });
        }
    }

    /// Issues the leader's next group-commit write, if none is in flight.
    fn flush<A: LogHost>(&mut self, ctx: &mut Ctx<'_, A>, p: Pid) {
        let Some(r) = self.reps.get_mut(&p) else { return };
        if r.writing || r.log.written >= r.log.end() {
            return;
        }
        let start = r.log.written.max(r.log.start);
        let entries: Vec<Entry> = r.log.entries.range((start - r.log.start) as usize..).copied().collect();
        let prev_epoch = r.log.epoch_before(start);
        let end = r.log.end();
        let w = persist(ctx, Disk::Append { p, start, prev_epoch, reset: false, entries });
        r.writing = true;
        r.log.written = end;
        self.writes.insert(w, BrokerWrite::Own { p, end, version: r.log.version });
    }

    /// A write is on disk. Returns whether it was this broker's.
    pub fn on_persisted<A: LogHost>(&mut self, ctx: &mut Ctx<'_, A>, w: WriteId) -> bool {
        let Some(write) = self.writes.remove(&w) else { return false };
        match write {
            BrokerWrite::Own { p, end, version } => {
                let r = self.reps.get_mut(&p).expect("own write of a held partition");
                r.writing = false;
                if version == r.log.version {
                    r.log.persisted = r.log.persisted.max(end);
                }
                self.flush(ctx, p);
                self.advance(ctx, p);
            }
            BrokerWrite::Follow { p, end, version, leader, epoch } => {
                let r = self.reps.get_mut(&p).expect("follower write of a held partition");
                if version == r.log.version {
                    r.log.persisted = r.log.persisted.max(end);
                    send(ctx, leader, Msg::AppendAck { p, epoch, ok: true, end });
                }
            }
            BrokerWrite::Fence { p, epoch } => {
                let r = &self.reps[&p];
                let (last_epoch, end) = (r.log.last_epoch(), r.log.end());
                send(ctx, self.c.coordinator, Msg::ProbeReply { p, epoch, last_epoch, end, inc: self.inc });
            }
        }
        true
    }

    /// Moves the HWM of a led partition (Raft's rule) and answers produces and parked fetches.
    fn advance<A: LogHost>(&mut self, ctx: &mut Ctx<'_, A>, p: Pid) {
        let acks = self.c.spec.acks as usize;
        let Some(r) = self.reps.get_mut(&p) else { return };
        let Some(lead) = &mut r.lead else { return };
        let mut ends: Vec<u64> = lead.followers.iter().map(|f| f.matched).collect();
        ends.push(r.log.persisted);
        ends.sort_unstable_by(|a, b| b.cmp(a));
        let c = ends[acks - 1];
        if c <= lead.hwm || r.log.get(c - 1).is_none_or(|e| e.epoch != lead.epoch) {
            return;
        }
        lead.hwm = c;
        while lead.waiting.front().is_some_and(|w| w.0 < c) {
            let (offset, to, req) = lead.waiting.pop_front().unwrap();
            send(ctx, to, Msg::ProduceReply { req, offset: Some(offset) });
        }
        let (ready, kept): (Vec<_>, Vec<_>) = lead.parked.drain(..).partition(|f| f.2 < c);
        lead.parked = kept;
        for (to, req, offset, max, _) in ready {
            let (next, recs) = r.log.read(offset, max, c);
            send(ctx, to, Msg::FetchReply { req, p, result: FetchResult::Records { from: offset, next, recs } });
        }
    }

    fn step_down<A: LogHost>(ctx: &mut Ctx<'_, A>, p: Pid, r: &mut Replica) {
        if let Some(lead) = r.lead.take() {
            for (_, to, req) in lead.waiting {
                send(ctx, to, Msg::ProduceReply { req, offset: None });
            }
            for (to, req, ..) in lead.parked {
                send(ctx, to, Msg::FetchReply { req, p, result: FetchResult::NotLeader });
            }
        }
    }

    pub fn on_msg<A: LogHost>(&mut self, ctx: &mut Ctx<'_, A>, from: NodeId, msg: &Msg) {
        match msg {
            Msg::Meta { parts } => self.on_meta(ctx, parts),
            Msg::Probe { p, epoch } => {
                let Some(r) = self.reps.get_mut(p) else { return };
                if *epoch < r.log.fence {
                    return;
                }
                r.log.fence = *epoch;
                if r.lead.as_ref().is_some_and(|l| l.epoch < *epoch) {
                    Self::step_down(ctx, *p, r);
                }
                let w = persist(ctx, Disk::Fence { p: *p, epoch: *epoch });
                self.writes.insert(w, BrokerWrite::Fence { p: *p, epoch: *epoch });
            }
            Msg::Append { p, epoch, start, prev_epoch, reset, entries } => {
                let Some(r) = self.reps.get_mut(p) else { return };
                if *epoch < r.log.fence {
                    send(ctx, from, Msg::AppendAck { p: *p, epoch: r.log.fence, ok: false, end: 0 });
                    return;
                }
                r.log.fence = *epoch;
                if r.lead.is_some() {
                    Self::step_down(ctx, *p, r);
                }
                match r.log.apply(*start, *prev_epoch, *reset, entries) {
                    Err(hint) => send(ctx, from, Msg::AppendAck { p: *p, epoch: *epoch, ok: false, end: hint }),
                    Ok((end, truncated)) => {
                        if truncated > 0 {
                            self.stats.truncated += truncated;
                            ctx.count_in(self.scope, "truncated", truncated);
                        }
                        if entries.is_empty() && !*reset {
                            let end = end.min(r.log.persisted);
                            send(ctx, from, Msg::AppendAck { p: *p, epoch: *epoch, ok: true, end });
                        } else {
                            let d = Disk::Append {
                                p: *p,
                                start: *start,
                                prev_epoch: *prev_epoch,
                                reset: *reset,
                                entries: entries.clone(),
                            };
                            let w = persist(ctx, d);
                            r.log.written = r.log.end();
                            let version = r.log.version;
                            self.writes
                                .insert(w, BrokerWrite::Follow { p: *p, end, version, leader: from, epoch: *epoch });
                        }
                    }
                }
            }
            Msg::AppendAck { p, epoch, ok, end } => {
                let Some(r) = self.reps.get_mut(p) else { return };
                let Some(lead) = &mut r.lead else { return };
                if *epoch > lead.epoch {
                    r.log.fence = r.log.fence.max(*epoch);
                    Self::step_down(ctx, *p, r);
                    return;
                }
                if *epoch < lead.epoch {
                    return;
                }
                let Some(f) = lead.followers.iter_mut().find(|f| f.node == from) else { return };
                f.sent = None;
                if *ok {
                    f.matched = f.matched.max(*end);
                    f.next = f.next.max(*end);
                } else {
                    f.next = (*end).min(f.next.saturating_sub(1));
                }
                Self::replicate(ctx, &self.c.spec, *p, &r.log, lead);
                self.advance(ctx, *p);
            }
            Msg::Produce { req, p, rec } => {
                let now = ctx.now();
                let Some(r) = self.reps.get_mut(p) else {
                    send(ctx, from, Msg::ProduceReply { req: *req, offset: None });
                    return;
                };
                let Some(lead) = &mut r.lead else {
                    send(ctx, from, Msg::ProduceReply { req: *req, offset: None });
                    return;
                };
                let offset = r.log.end();
                r.log.entries.push_back(Entry { epoch: lead.epoch, at: now, rec: Some(*rec) });
                lead.waiting.push_back((offset, from, *req));
                self.stats.appended += 1;
                Self::replicate(ctx, &self.c.spec, *p, &r.log, lead);
                self.flush(ctx, *p);
            }
            Msg::Fetch { req, p, offset, max } => {
                let now = ctx.now();
                let lead_hwm = self.reps.get(p).and_then(|r| r.lead.as_ref().map(|l| l.hwm));
                let (Some(r), Some(hwm)) = (self.reps.get_mut(p), lead_hwm) else {
                    send(ctx, from, Msg::FetchReply { req: *req, p: *p, result: FetchResult::NotLeader });
                    return;
                };
                let result = if *offset < r.log.start || *offset > r.log.end() {
                    FetchResult::OutOfRange { start: r.log.start, end: r.log.end() }
                } else if *offset < hwm {
                    let (next, recs) = r.log.read(*offset, *max, hwm);
                    self.stats.fetched += recs.len() as u64;
                    FetchResult::Records { from: *offset, next, recs }
                } else {
                    let lead = r.lead.as_mut().expect("leading");
                    lead.parked.push((from, *req, *offset, *max, now));
                    return;
                };
                send(ctx, from, Msg::FetchReply { req: *req, p: *p, result });
            }
            _ => {}
        }
    }

    fn on_meta<A: LogHost>(&mut self, ctx: &mut Ctx<'_, A>, parts: &[PartMeta]) {
        let now = ctx.now();
        let mut became = Vec::new();
        for (&p, r) in &mut self.reps {
            let Some(m) = parts.get(p as usize) else { continue };
            if m.epoch < r.log.fence || r.lead.as_ref().is_some_and(|l| l.epoch >= m.epoch) {
                continue;
            }
            r.log.fence = m.epoch;
            Self::step_down(ctx, p, r);
            if m.leader == Some(self.me) && m.inc == self.inc {
                let base = r.log.end();
                let followers = self
                    .c
                    .replicas(p)
                    .filter(|&n| n != self.me)
                    .map(|node| Follower { node, next: base, matched: 0, sent: None })
                    .collect();
                r.log.entries.push_back(Entry { epoch: m.epoch, at: now, rec: None });
                r.lead = Some(Lead {
                    epoch: m.epoch,
                    hwm: r.log.start,
                    followers,
                    waiting: VecDeque::new(),
                    parked: Vec::new(),
                });
                became.push(p);
            }
        }
        for p in became {
            let r = self.reps.get_mut(&p).expect("held");
            let lead = r.lead.as_mut().expect("just became leader");
            Self::replicate(ctx, &self.c.spec, p, &r.log, lead);
            self.flush(ctx, p);
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Coordinator.

#[derive(Debug, Default, Clone, Copy)]
struct BrokerSeen {
    seen: Option<Time>,
    inc: Option<u64>,
}

#[derive(Debug)]
struct Election {
    epoch: u32,
    asked: usize,
    replies: Vec<(NodeId, u32, u64, u64)>,
    deadline: Time,
    /// The choice, waiting for its write.
    chosen: bool,
}

#[derive(Debug, Default)]
struct PartState {
    meta: PartMeta,
    max_epoch: u32,
    hwm: u64,
    election: Option<Election>,
}

#[derive(Debug)]
struct Group {
    topic: u16,
    generation: u64,
    /// Member -> (incarnation, last heard).
    members: BTreeMap<NodeId, (u64, Time)>,
    owner: BTreeMap<Pid, NodeId>,
}

#[derive(Debug)]
enum CoordWrite {
    Leader { p: Pid, meta: PartMeta },
    Commit { to: NodeId, group: u16, offsets: Vec<(Pid, u64)> },
}

/// Assigns a topic's partitions to a group's members: the `i`-th partition to the `(i mod n)`-th
/// member in node order. One owner per partition; counts differ by at most one.
pub fn assign(members: &[NodeId], parts: Range<Pid>) -> Vec<(Pid, NodeId)> {
    let mut m = members.to_vec();
    m.sort_unstable();
    m.dedup();
    if m.is_empty() {
        return Vec::new();
    }
    parts.clone().map(|p| (p, m[(p - parts.start) as usize % m.len()])).collect()
}

/// The coordinator: broker liveness, elections, group membership, committed offsets.
#[derive(Debug)]
pub struct Coordinator {
    c: Rc<Cluster>,
    scope: &'static str,
    started: Time,
    brokers: Vec<BrokerSeen>,
    parts: Vec<PartState>,
    meta: Rc<Vec<PartMeta>>,
    subscribers: BTreeSet<NodeId>,
    groups: BTreeMap<u16, Group>,
    committed: BTreeMap<(u16, Pid), u64>,
    writes: BTreeMap<WriteId, CoordWrite>,
    lag: i64,
    offline: i64,
    pub stats: LogStats,
}

impl Coordinator {
    pub fn new(c: Rc<Cluster>, scope: &'static str) -> Coordinator {
        let n = c.partitions() as usize;
        Coordinator {
            brokers: vec![BrokerSeen::default(); c.brokers.len()],
            parts: (0..n).map(|_| PartState::default()).collect(),
            meta: Rc::new(vec![PartMeta::default(); n]),
            c,
            scope,
            started: Time::ZERO,
            subscribers: BTreeSet::new(),
            groups: BTreeMap::new(),
            committed: BTreeMap::new(),
            writes: BTreeMap::new(),
            lag: 0,
            offline: 0,
            stats: LogStats::default(),
        }
    }

    /// Starts (after a restart: recovers leader choices and committed offsets from disk).
    pub fn start<A: LogHost>(&mut self, ctx: &mut Ctx<'_, A>, extract: impl Fn(&A::Record) -> Option<&Disk>) {
        for d in ctx.durable().iter().filter_map(extract) {
            match d {
                Disk::Leader { p, meta } => {
                    let s = &mut self.parts[*p as usize];
                    s.meta = *meta;
                    s.max_epoch = s.max_epoch.max(meta.epoch);
                }
                Disk::Commit { group, offsets } => {
                    for &(p, o) in offsets {
                        let c = self.committed.entry((*group, p)).or_default();
                        *c = (*c).max(o);
                    }
                }
                Disk::Append { .. } | Disk::Fence { .. } => {}
            }
        }
        self.started = ctx.now();
        self.meta = Rc::new(self.parts.iter().map(|s| s.meta).collect());
        timer(ctx, self.c.spec.heartbeat, Timer::CoordinatorTick);
    }

    /// The partitions' leadership as decided so far.
    pub fn meta(&self) -> &[PartMeta] {
        &self.meta
    }

    /// A group's committed offset of `p`.
    pub fn committed(&self, group: u16, p: Pid) -> u64 {
        self.committed.get(&(group, p)).copied().unwrap_or(0)
    }

    /// The current consumer lag over every group (records), as plotted in `scope.lag`.
    pub fn total_lag(&self) -> u64 {
        self.lag.max(0) as u64
    }

    /// The members of `group` and the generation.
    pub fn group(&self, group: u16) -> Option<(u64, Vec<NodeId>)> {
        self.groups.get(&group).map(|g| (g.generation, g.members.keys().copied().collect()))
    }

    fn alive(&self, b: usize, now: Time) -> bool {
        // A broker not heard from yet counts as alive for one session after this coordinator
        // started, so leaders recovered from disk are not replaced before they could beat.
        match self.brokers[b].seen {
            Some(t) => now.since(t) < self.c.spec.session_timeout,
            None => now.since(self.started) < self.c.spec.session_timeout,
        }
    }

    /// Whether `p` needs a new leader now.
    fn leaderless(&self, p: usize, now: Time) -> bool {
        let m = &self.parts[p].meta;
        let Some(l) = m.leader else { return true };
        let b = self.c.broker_index(l).expect("leaders are brokers");
        !self.alive(b, now) || self.brokers[b].inc.is_some_and(|i| i != m.inc)
    }

    pub fn on_timer<A: LogHost>(&mut self, ctx: &mut Ctx<'_, A>, t: Timer) {
        if t != Timer::CoordinatorTick {
            return;
        }
        let now = ctx.now();
        for p in 0..self.parts.len() {
            if self.parts[p].election.as_ref().is_some_and(|e| !e.chosen && now >= e.deadline) {
                self.decide(ctx, p as Pid, true);
            }
        }
        self.elect_all(ctx);
        let session = self.c.spec.session_timeout;
        let stale: Vec<u16> = self
            .groups
            .iter()
            .filter(|(_, g)| g.members.values().any(|&(_, seen)| now.since(seen) >= session))
            .map(|(&k, _)| k)
            .collect();
        for k in stale {
            self.groups.get_mut(&k).unwrap().members.retain(|_, &mut (_, seen)| now.since(seen) < session);
            self.rebalance(ctx, k);
        }
        self.update_levels(ctx);
        timer(ctx, self.c.spec.heartbeat, Timer::CoordinatorTick);
    }

    /// Starts an election for every leaderless partition not electing already.
    fn elect_all<A: LogHost>(&mut self, ctx: &mut Ctx<'_, A>) {
        let now = ctx.now();
        for p in 0..self.parts.len() {
            if self.parts[p].election.is_some() || !self.leaderless(p, now) {
                continue;
            }
            // Ask the replicas heard from (a broker never heard from cannot answer anyway).
            let live: Vec<NodeId> = self
                .c
                .replicas(p as Pid)
                .filter(|&n| {
                    let b = self.c.broker_index(n).unwrap();
                    self.brokers[b].seen.is_some() && self.alive(b, now)
                })
                .collect();
            // Unclean elections settle for fewer answers only once every replica had a session to
            // be heard from (not at start-up, when the first broker to beat would win them all).
            let settled = now.since(self.started) >= self.c.spec.session_timeout;
            let need = if self.c.spec.unclean_election && settled { 1 } else { self.c.election_quorum() };
            if live.len() < need {
                continue;
            }
            let s = &mut self.parts[p];
            s.max_epoch += 1;
            let epoch = s.max_epoch;
            for &n in &live {
                send(ctx, n, Msg::Probe { p: p as Pid, epoch });
            }
            s.election = Some(Election {
                epoch,
                asked: live.len(),
                replies: Vec::new(),
                deadline: now + self.c.spec.election_timeout,
                chosen: false,
            });
        }
    }

    /// Picks the most up-to-date replica that answered (at the deadline: if enough did).
    fn decide<A: LogHost>(&mut self, ctx: &mut Ctx<'_, A>, p: Pid, deadline: bool) {
        let quorum = self.c.election_quorum();
        let unclean = self.c.spec.unclean_election;
        let rank: Vec<NodeId> = self.c.replicas(p).collect();
        let s = &mut self.parts[p as usize];
        let Some(e) = &mut s.election else { return };
        let n = e.replies.len();
        if n < e.asked && !deadline {
            return;
        }
        if n < quorum && !(unclean && n > 0) {
            s.election = None; // not enough answers: try again at the next tick
            return;
        }
        let best = e
            .replies
            .iter()
            .max_by_key(|&&(node, last_epoch, end, _)| {
                (last_epoch, end, std::cmp::Reverse(rank.iter().position(|&r| r == node)))
            })
            .copied()
            .expect("answers");
        let meta = PartMeta { epoch: e.epoch, leader: Some(best.0), inc: best.3 };
        e.chosen = true;
        if n < quorum {
            self.stats.unclean_elections += 1;
            ctx.count_in(self.scope, "unclean_elections", 1);
        }
        let w = persist(ctx, Disk::Leader { p, meta });
        self.writes.insert(w, CoordWrite::Leader { p, meta });
    }

    /// A write is on disk. Returns whether it was this coordinator's.
    pub fn on_persisted<A: LogHost>(&mut self, ctx: &mut Ctx<'_, A>, w: WriteId) -> bool {
        let Some(write) = self.writes.remove(&w) else { return false };
        match write {
            CoordWrite::Leader { p, meta } => {
                let s = &mut self.parts[p as usize];
                s.election = None;
                if meta.epoch > s.meta.epoch {
                    s.meta = meta;
                    self.stats.elections += 1;
                    ctx.count_in(self.scope, "elections", 1);
                    self.publish(ctx);
                }
            }
            CoordWrite::Commit { to, group, offsets } => {
                send(ctx, to, Msg::CommitAck { group, offsets });
            }
        }
        true
    }

    fn publish<A: LogHost>(&mut self, ctx: &mut Ctx<'_, A>) {
        self.meta = Rc::new(self.parts.iter().map(|s| s.meta).collect());
        for &b in &self.c.brokers {
            send(ctx, b, Msg::Meta { parts: self.meta.clone() });
        }
        for &n in &self.subscribers {
            send(ctx, n, Msg::Meta { parts: self.meta.clone() });
        }
        self.update_levels(ctx);
    }

    fn update_levels<A: LogHost>(&mut self, ctx: &mut Ctx<'_, A>) {
        let now = ctx.now();
        let lag: i64 = self
            .groups
            .iter()
            .flat_map(|(&g, grp)| self.c.topic_partitions(grp.topic).map(move |p| (g, p)))
            .map(|(g, p)| self.parts[p as usize].hwm.saturating_sub(self.committed(g, p)) as i64)
            .sum();
        ctx.level(self.scope, "lag", lag - self.lag);
        self.lag = lag;
        // Partitions that had a leader and lost it (not the ones awaiting their first election).
        let offline =
            (0..self.parts.len()).filter(|&p| self.parts[p].meta.epoch > 0 && self.leaderless(p, now)).count() as i64;
        ctx.level(self.scope, "offline", offline - self.offline);
        self.offline = offline;
    }

    fn rebalance<A: LogHost>(&mut self, ctx: &mut Ctx<'_, A>, group: u16) {
        let Some(g) = self.groups.get_mut(&group) else { return };
        g.generation += 1;
        let members: Vec<NodeId> = g.members.keys().copied().collect();
        g.owner = assign(&members, self.c.topic_partitions(g.topic)).into_iter().collect();
        self.stats.rebalances += 1;
        ctx.count_in(self.scope, "rebalances", 1);
        for &m in &members {
            self.send_assign(ctx, group, m);
        }
    }

    fn send_assign<A: LogHost>(&self, ctx: &mut Ctx<'_, A>, group: u16, m: NodeId) {
        let g = &self.groups[&group];
        let parts = g.owner.iter().filter(|&(_, &o)| o == m).map(|(&p, _)| (p, self.committed(group, p))).collect();
        send(ctx, m, Msg::Assign { group, generation: g.generation, parts });
    }

    pub fn on_msg<A: LogHost>(&mut self, ctx: &mut Ctx<'_, A>, from: NodeId, msg: &Msg) {
        let now = ctx.now();
        match msg {
            Msg::Beat { inc, led } => {
                let Some(b) = self.c.broker_index(from) else { return };
                let fresh = self.brokers[b].inc != Some(*inc);
                self.brokers[b] = BrokerSeen { seen: Some(now), inc: Some(*inc) };
                for &(p, epoch, hwm) in led {
                    let s = &mut self.parts[p as usize];
                    if epoch == s.meta.epoch {
                        s.hwm = s.hwm.max(hwm);
                    }
                }
                if fresh {
                    send(ctx, from, Msg::Meta { parts: self.meta.clone() });
                }
                self.elect_all(ctx);
            }
            Msg::ProbeReply { p, epoch, last_epoch, end, inc } => {
                let Some(e) = &mut self.parts[*p as usize].election else { return };
                if e.epoch != *epoch || e.chosen || e.replies.iter().any(|r| r.0 == from) {
                    return;
                }
                e.replies.push((from, *last_epoch, *end, *inc));
                self.decide(ctx, *p, false);
            }
            Msg::MetaReq => {
                self.subscribers.insert(from);
                send(ctx, from, Msg::Meta { parts: self.meta.clone() });
            }
            Msg::Member { group, topic, inc, generation } => {
                let g = self.groups.entry(*group).or_insert_with(|| Group {
                    topic: *topic,
                    generation: 0,
                    members: BTreeMap::new(),
                    owner: BTreeMap::new(),
                });
                match g.members.get_mut(&from) {
                    Some(m) if m.0 == *inc => {
                        m.1 = now;
                        if *generation != g.generation {
                            self.send_assign(ctx, *group, from);
                        }
                    }
                    _ => {
                        // A coordinator that restarted has lost its generations: continue above
                        // the member's, so its next assignment is newer than the last it saw.
                        g.generation = g.generation.max(*generation);
                        g.members.insert(from, (*inc, now));
                        self.rebalance(ctx, *group);
                    }
                }
            }
            Msg::Commit { group, generation, offsets, leave } => {
                let Some(g) = self.groups.get_mut(group) else { return };
                let mut moved = Vec::new();
                if *generation != g.generation && !offsets.is_empty() {
                    self.stats.commit_rejected += 1;
                    ctx.count_in(self.scope, "commit_rejected", 1);
                }
                for &(p, o) in offsets.iter().filter(|_| *generation == g.generation) {
                    if g.owner.get(&p) == Some(&from) {
                        let c = self.committed.entry((*group, p)).or_default();
                        if o > *c {
                            *c = o;
                            moved.push((p, o));
                        }
                    }
                }
                if !moved.is_empty() {
                    self.stats.commits += 1;
                    ctx.count_in(self.scope, "commits", 1);
                    let w = persist(ctx, Disk::Commit { group: *group, offsets: moved.clone() });
                    self.writes.insert(w, CoordWrite::Commit { to: from, group: *group, offsets: moved });
                }
                if *leave && g.members.remove(&from).is_some() {
                    self.rebalance(ctx, *group);
                }
                self.update_levels(ctx);
            }
            _ => {}
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Producer.

#[derive(Debug)]
struct Pending<T> {
    p: Pid,
    rec: Record,
    token: T,
    attempt: u32,
    started: Time,
    timer: Option<TimerId>,
}

/// A produce that is over: acknowledged at `(partition, offset)`, or failed.
#[derive(Debug, PartialEq, Eq)]
pub struct Produced<T> {
    pub token: T,
    pub result: Result<(Pid, u64), ProduceError>,
    pub attempts: u32,
}

/// A producer: sends each record to its partition's leader; retries (same record, possibly
/// appended twice) after a timeout, a refusal or while the partition has no leader.
#[derive(Debug)]
pub struct Producer<T> {
    c: Rc<Cluster>,
    scope: &'static str,
    leaders: Vec<Option<NodeId>>,
    pending: BTreeMap<u64, Pending<T>>,
    next_req: u64,
    meta_asked: Option<Time>,
    pub stats: LogStats,
}

impl<T> Producer<T> {
    pub fn new(c: Rc<Cluster>, scope: &'static str) -> Producer<T> {
        let n = c.partitions() as usize;
        Producer {
            c,
            scope,
            leaders: vec![None; n],
            pending: BTreeMap::new(),
            next_req: 0,
            meta_asked: None,
            stats: LogStats::default(),
        }
    }

    pub fn start<A: LogHost>(&mut self, ctx: &mut Ctx<'_, A>) {
        self.ask_meta(ctx);
    }

    pub fn in_flight(&self) -> usize {
        self.pending.len()
    }

    fn ask_meta<A: LogHost>(&mut self, ctx: &mut Ctx<'_, A>) {
        let now = ctx.now();
        if self.meta_asked.is_none_or(|t| now.since(t) >= self.c.spec.retry_backoff) {
            self.meta_asked = Some(now);
            send(ctx, self.c.coordinator, Msg::MetaReq);
        }
    }

    /// Produces `value` with `key` to `topic`; the [`Produced`] comes back from `on_msg` or
    /// `on_timer` (or at once if it fails at once).
    pub fn produce<A: LogHost>(&mut self, ctx: &mut Ctx<'_, A>, topic: u16, key: u64, value: u64, token: T) {
        let p = self.c.partition_of(topic, key);
        let req = self.next_req;
        self.next_req += 1;
        let now = ctx.now();
        let rec = Record { key, value, produced: now, bytes: self.c.spec.record_bytes };
        self.pending.insert(req, Pending { p, rec, token, attempt: 0, started: now, timer: None });
        self.attempt(ctx, req);
    }

    fn attempt<A: LogHost>(&mut self, ctx: &mut Ctx<'_, A>, req: u64) {
        let pd = self.pending.get_mut(&req).expect("pending");
        pd.attempt += 1;
        let attempt = pd.attempt;
        if attempt > 1 {
            self.stats.produce_retries += 1;
            ctx.count_in(self.scope, "produce_retries", 1);
        }
        match self.leaders[pd.p as usize] {
            Some(l) => {
                send(ctx, l, Msg::Produce { req, p: pd.p, rec: pd.rec });
                pd.timer = Some(timer(ctx, self.c.spec.request_timeout, Timer::ProduceTimeout { req, attempt }));
            }
            None => {
                pd.timer = Some(timer(ctx, self.c.spec.retry_backoff, Timer::ProduceRetry { req, attempt }));
                self.ask_meta(ctx);
            }
        }
    }

    /// The attempt failed: retry after the backoff, or give up.
    fn fail<A: LogHost>(&mut self, ctx: &mut Ctx<'_, A>, req: u64) -> Option<Produced<T>> {
        self.ask_meta(ctx);
        let pd = self.pending.get_mut(&req).expect("pending");
        if pd.attempt > self.c.spec.retries {
            let pd = self.pending.remove(&req).unwrap();
            self.stats.produce_failed += 1;
            ctx.count_in(self.scope, "produce_failed", 1);
            return Some(Produced { token: pd.token, result: Err(ProduceError::Failed), attempts: pd.attempt });
        }
        let attempt = pd.attempt;
        pd.timer = Some(timer(ctx, self.c.spec.retry_backoff, Timer::ProduceRetry { req, attempt }));
        None
    }

    pub fn on_msg<A: LogHost>(&mut self, ctx: &mut Ctx<'_, A>, msg: &Msg) -> Option<Produced<T>> {
        match msg {
            Msg::Meta { parts } => {
                for (l, m) in self.leaders.iter_mut().zip(parts.iter()) {
                    *l = m.leader;
                }
                None
            }
            Msg::ProduceReply { req, offset } => {
                let pd = self.pending.get(req)?;
                // A reply to an earlier attempt counts too (the record is in the log either way).
                let timer_id = pd.timer;
                match offset {
                    Some(o) => {
                        if let Some(t) = timer_id {
                            ctx.cancel_timer(t);
                        }
                        let pd = self.pending.remove(req).unwrap();
                        self.stats.produced += 1;
                        ctx.count_in(self.scope, "produced", 1);
                        Some(Produced { token: pd.token, result: Ok((pd.p, *o)), attempts: pd.attempt })
                    }
                    None => {
                        ctx.count_in(self.scope, "not_leader", 1);
                        if let Some(t) = timer_id {
                            ctx.cancel_timer(t);
                        }
                        self.leaders[pd.p as usize] = None;
                        self.fail(ctx, *req)
                    }
                }
            }
            _ => None,
        }
    }

    pub fn on_timer<A: LogHost>(&mut self, ctx: &mut Ctx<'_, A>, t: Timer) -> Option<Produced<T>> {
        match t {
            Timer::ProduceTimeout { req, attempt } => {
                let pd = self.pending.get_mut(&req)?;
                if pd.attempt != attempt {
                    return None;
                }
                pd.timer = None;
                let p = pd.p;
                self.leaders[p as usize] = None;
                self.fail(ctx, req)
            }
            Timer::ProduceRetry { req, attempt } => {
                let pd = self.pending.get(&req)?;
                if pd.attempt == attempt {
                    self.attempt(ctx, req);
                }
                None
            }
            _ => None,
        }
    }

    /// How long the oldest pending produce has waited.
    pub fn oldest(&self, now: Time) -> Option<Duration> {
        self.pending.values().map(|p| now.since(p.started)).max()
    }
}

// ---------------------------------------------------------------------------------------------
// Consumer.

#[derive(Debug, Default)]
struct Owned {
    /// Next offset to fetch.
    next: u64,
    /// Every offset below `floor` is done (the commit); `done` holds those above it.
    floor: u64,
    done: BTreeSet<u64>,
    committed: u64,
    buffer: VecDeque<(u64, Record)>,
    fetching: Option<(u64, Time)>,
}

impl Owned {
    fn mark_done(&mut self, offset: u64) {
        if offset >= self.floor {
            self.done.insert(offset);
        }
        while self.done.remove(&self.floor) {
            self.floor += 1;
        }
    }

    /// Everything below `offset` is gone (deleted by retention): nothing there to wait for.
    fn skip_to(&mut self, offset: u64) {
        if self.floor < offset {
            self.floor = offset;
            self.done = self.done.split_off(&offset);
            self.mark_done(offset.saturating_sub(1));
        }
    }
}

/// A record handed to the design.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Delivery {
    pub p: Pid,
    pub offset: u64,
    pub rec: Record,
}

/// What happened to a consumer that the design may act on.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ConsumerEvent {
    /// A new assignment: partitions kept, gained and lost.
    Rebalanced { generation: u64, owned: Vec<Pid>, revoked: Vec<Pid> },
    /// Records arrived: [`Consumer::poll`] has something.
    Records,
}

/// A consumer-group member.
#[derive(Debug)]
pub struct Consumer {
    c: Rc<Cluster>,
    scope: &'static str,
    group: u16,
    topic: u16,
    inc: u64,
    active: bool,
    /// Joins so far: tags this membership's timers.
    session: u32,
    generation: u64,
    leaders: Vec<Option<NodeId>>,
    owned: BTreeMap<Pid, Owned>,
    /// Round robin over owned partitions in `poll`.
    cursor: Pid,
    next_req: u64,
    meta_asked: Option<Time>,
    pub stats: LogStats,
}

impl Consumer {
    pub fn new(c: Rc<Cluster>, scope: &'static str, group: u16, topic: u16) -> Consumer {
        let n = c.partitions() as usize;
        Consumer {
            c,
            scope,
            group,
            topic,
            inc: 0,
            active: false,
            session: 0,
            generation: 0,
            leaders: vec![None; n],
            owned: BTreeMap::new(),
            cursor: 0,
            next_req: 0,
            meta_asked: None,
            stats: LogStats::default(),
        }
    }

    pub fn is_active(&self) -> bool {
        self.active
    }
    pub fn generation(&self) -> u64 {
        self.generation
    }
    /// The partitions this member owns.
    pub fn owned(&self) -> impl Iterator<Item = Pid> + '_ {
        self.owned.keys().copied()
    }
    /// Records fetched and not yet handed out.
    pub fn buffered(&self) -> usize {
        self.owned.values().map(|o| o.buffer.len()).sum()
    }
    /// The offset this member would commit for `p` (every offset below it is done).
    pub fn position(&self, p: Pid) -> Option<u64> {
        self.owned.get(&p).map(|o| o.floor)
    }

    /// Joins the group (again after a `leave`): a new incarnation, heartbeats, commits.
    pub fn join<A: LogHost>(&mut self, ctx: &mut Ctx<'_, A>) {
        if self.active {
            return;
        }
        self.active = true;
        self.session += 1;
        self.inc = ctx.rng().next_u64();
        self.generation = 0;
        self.owned.clear();
        self.heartbeat(ctx);
        self.ask_meta(ctx);
        timer(ctx, self.c.spec.heartbeat, Timer::MemberTick(self.session));
        timer(ctx, self.c.spec.commit_interval, Timer::CommitTick(self.session));
    }

    /// Commits what is done and leaves the group (one message: the commit cannot arrive after the
    /// leave). Records fetched and not done go to the partitions' next owners.
    pub fn leave<A: LogHost>(&mut self, ctx: &mut Ctx<'_, A>) {
        if !self.active {
            return;
        }
        self.commit(ctx, true);
        self.active = false;
        self.owned.clear();
        self.generation = 0;
    }

    fn heartbeat<A: LogHost>(&self, ctx: &mut Ctx<'_, A>) {
        let m = Msg::Member { group: self.group, topic: self.topic, inc: self.inc, generation: self.generation };
        send(ctx, self.c.coordinator, m);
    }

    fn ask_meta<A: LogHost>(&mut self, ctx: &mut Ctx<'_, A>) {
        let now = ctx.now();
        if self.meta_asked.is_none_or(|t| now.since(t) >= self.c.spec.retry_backoff) {
            self.meta_asked = Some(now);
            send(ctx, self.c.coordinator, Msg::MetaReq);
        }
    }

    fn commit<A: LogHost>(&mut self, ctx: &mut Ctx<'_, A>, leave: bool) {
        let offsets: Vec<(Pid, u64)> =
            self.owned.iter().filter(|(_, o)| o.floor > o.committed).map(|(&p, o)| (p, o.floor)).collect();
        if !offsets.is_empty() || leave {
            let m = Msg::Commit { group: self.group, generation: self.generation, offsets, leave };
            send(ctx, self.c.coordinator, m);
        }
    }

    /// Fetches every owned partition whose buffer is empty and that has no fetch in flight.
    fn fetch_all<A: LogHost>(&mut self, ctx: &mut Ctx<'_, A>) {
        let now = ctx.now();
        let mut need_meta = false;
        for (&p, o) in &mut self.owned {
            if o.fetching.is_some() || !o.buffer.is_empty() {
                continue;
            }
            let Some(l) = self.leaders[p as usize] else {
                need_meta = true;
                continue;
            };
            let req = self.next_req;
            self.next_req += 1;
            o.fetching = Some((req, now));
            send(ctx, l, Msg::Fetch { req, p, offset: o.next, max: self.c.spec.fetch_max });
        }
        if need_meta {
            self.ask_meta(ctx);
        }
    }

    /// The next record to process (round robin over partitions), or `None`.
    pub fn poll<A: LogHost>(&mut self, ctx: &mut Ctx<'_, A>) -> Option<Delivery> {
        let first =
            self.owned.range(self.cursor..).chain(self.owned.range(..self.cursor)).find(|(_, o)| !o.buffer.is_empty());
        let p = *first?.0;
        let o = self.owned.get_mut(&p).unwrap();
        let (offset, rec) = o.buffer.pop_front().unwrap();
        self.cursor = p + 1;
        if o.buffer.is_empty() {
            self.fetch_all(ctx);
        }
        Some(Delivery { p, offset, rec })
    }

    /// The design is done with a delivery (processed, its effects durable): it may be committed.
    /// Deliveries of partitions no longer owned are ignored (their new owner has them again).
    pub fn done(&mut self, d: &Delivery) {
        if let Some(o) = self.owned.get_mut(&d.p) {
            o.mark_done(d.offset);
        }
    }

    pub fn on_timer<A: LogHost>(&mut self, ctx: &mut Ctx<'_, A>, t: Timer) {
        if !self.active {
            return;
        }
        match t {
            Timer::MemberTick(s) if s == self.session => {
                let now = ctx.now();
                let stale = self.c.spec.request_timeout + self.c.spec.fetch_wait;
                for o in self.owned.values_mut() {
                    if o.fetching.is_some_and(|(_, at)| now.since(at) >= stale) {
                        o.fetching = None;
                    }
                }
                self.heartbeat(ctx);
                self.fetch_all(ctx);
                timer(ctx, self.c.spec.heartbeat, Timer::MemberTick(s));
            }
            Timer::CommitTick(s) if s == self.session => {
                self.commit(ctx, false);
                timer(ctx, self.c.spec.commit_interval, Timer::CommitTick(s));
            }
            _ => {}
        }
    }

    pub fn on_msg<A: LogHost>(&mut self, ctx: &mut Ctx<'_, A>, msg: &Msg) -> Option<ConsumerEvent> {
        if !self.active {
            return None;
        }
        match msg {
            Msg::Meta { parts } => {
                for (l, m) in self.leaders.iter_mut().zip(parts.iter()) {
                    *l = m.leader;
                }
                self.fetch_all(ctx);
                None
            }
            Msg::Assign { group, generation, parts } if *group == self.group => {
                if *generation <= self.generation {
                    return None;
                }
                self.generation = *generation;
                let revoked: Vec<Pid> =
                    self.owned.keys().copied().filter(|p| !parts.iter().any(|q| q.0 == *p)).collect();
                for p in &revoked {
                    self.owned.remove(p);
                }
                for &(p, committed) in parts {
                    let o = self.owned.entry(p).or_insert_with(|| Owned {
                        next: committed,
                        floor: committed,
                        committed,
                        ..Owned::default()
                    });
                    o.committed = o.committed.max(committed);
                }
                self.fetch_all(ctx);
                Some(ConsumerEvent::Rebalanced { generation: *generation, owned: self.owned().collect(), revoked })
            }
            Msg::CommitAck { group, offsets } if *group == self.group => {
                for &(p, off) in offsets {
                    if let Some(o) = self.owned.get_mut(&p) {
                        o.committed = o.committed.max(off);
                    }
                }
                None
            }
            Msg::FetchReply { req, p, result } => {
                let o = self.owned.get_mut(p)?;
                if o.fetching.map(|f| f.0) != Some(*req) {
                    return None;
                }
                o.fetching = None;
                let mut got = false;
                match result {
                    FetchResult::Records { from, next, recs } if *from == o.next => {
                        // Offsets read that hold no record (epoch markers) are done at once.
                        let mut it = recs.iter().map(|r| r.0).peekable();
                        for off in *from..*next {
                            if it.peek() == Some(&off) {
                                it.next();
                            } else {
                                o.mark_done(off);
                            }
                        }
                        self.stats.fetched += recs.len() as u64;
                        o.buffer.extend(recs.iter().copied());
                        o.next = *next;
                        got = !recs.is_empty();
                    }
                    FetchResult::Records { .. } => {}
                    FetchResult::NotLeader => {
                        self.leaders[*p as usize] = None;
                    }
                    FetchResult::OutOfRange { start, end } => {
                        if o.next < *start {
                            let lost = start - o.next;
                            self.stats.lost_to_retention += lost;
                            ctx.count_in(self.scope, "lost_to_retention", lost);
                            o.next = *start;
                            o.skip_to(*start);
                        } else if o.next > *end {
                            self.stats.offset_resets += 1;
                            ctx.count_in(self.scope, "offset_resets", 1);
                            o.next = *end;
                        }
                    }
                }
                self.fetch_all(ctx);
                got.then_some(ConsumerEvent::Records)
            }
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests;
