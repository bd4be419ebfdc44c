//! The model author's view: an [`Actor`] per node, a [`Ctx`] as its only door to the world.
//!
//! Handlers never touch the world. They record effects (send, timers, persist, complete an operation,
//! metrics) into the context, and the kernel applies them after the handler returns, so a handler can
//! be unit-tested with [`Ctx::detached`] and no world at all.

use crate::chunked::Chunked;
use crate::fault::OutageMode;
use crate::pset::PSet;
use crate::rng::Prng;
use crate::time::{Duration, Time};
use std::fmt::Debug;
pub use thin_vec::{ThinVec, thin_vec};

/// A node of the simulated cluster (servers and clients alike).
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug, Default)]
pub struct NodeId(pub u32);

impl NodeId {
    pub fn index(self) -> usize {
        self.0 as usize
    }
}
impl std::fmt::Display for NodeId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "n{}", self.0)
    }
}

/// A timer set by an actor; cancel it with [`Ctx::cancel_timer`].
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug)]
pub struct TimerId(pub u64);

/// A durable write issued with [`Ctx::persist`]; the actor is told in [`Actor::on_persisted`].
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug)]
pub struct WriteId(pub u64);

/// One client operation of the workload (one attempt of it, when the workload retries): its index
/// in the run's history. 32 bits, so a history entry is 64 bytes (docs/performance.md, "Round
/// twenty-two"); a run of 2^32 operations would need 275 GB of history.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug)]
pub struct OpId(pub u32);

impl OpId {
    /// The id `id`, counted as the history counts (its index there), or as a model or checker
    /// that keeps ids in 64 bits counts it. Panics past `u32::MAX`, which no run reaches.
    #[track_caller]
    pub fn new(id: u64) -> OpId {
        OpId(u32::try_from(id).unwrap_or_else(|_| panic!("operation id {id} is past 2^32 - 1")))
    }

    /// Its index in the history.
    pub fn index(self) -> usize {
        self.0 as usize
    }
}

/// A message of a model: one enum per model.
pub trait Message: Clone + Debug + 'static {
    /// The kind of message, e.g. `"put"` or `"put_ack"`: selects its network leg (latency per kind)
    /// and labels counters and traces.
    fn kind(&self) -> &'static str;
    /// Size on the wire; with a link bandwidth set, large messages take transfer time.
    fn size_bytes(&self) -> u64 {
        128
    }
}

/// An operation the workload asks a client node to perform.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Op {
    pub id: OpId,
    /// Index into the model's `OP_KINDS`.
    pub kind: u16,
    /// The key chosen by the workload's key chooser.
    pub key: u64,
    /// A value unique to this operation (writes use it as the written value).
    pub value: u64,
    /// 1 for a first attempt, 2.. for retries of the same logical operation.
    pub attempt: u32,
}

/// How an operation ended (Jepsen's ok / fail / info).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize)]
pub enum Outcome {
    /// Done, and the result is known.
    Ok,
    /// Definitely not done.
    Fail,
    /// Unknown: the client gave up waiting. It may or may not have taken effect.
    Timeout,
    /// Refused by admission control (e.g. HTTP 429); definitely not done.
    Rejected,
}

impl Outcome {
    pub const ALL: [Outcome; 4] = [Outcome::Ok, Outcome::Fail, Outcome::Timeout, Outcome::Rejected];
    pub fn name(self) -> &'static str {
        match self {
            Outcome::Ok => "ok",
            Outcome::Fail => "fail",
            Outcome::Timeout => "timeout",
            Outcome::Rejected => "rejected",
        }
    }
}

/// What a completed operation returned, for checkers (e.g. the sibling values a read saw).
///
/// Every history entry holds one, so it is kept to 16 bytes: a tag and a thin pointer. A list is
/// a [`ThinVec`] (its length and capacity beside the values, in the one allocation) and a shared
/// set a [`PSet`] (a pointer to its root): a `Vec` inline made every reply, and every history
/// entry, 8 bytes larger (docs/performance.md, "Round twenty-one").
#[derive(Clone, PartialEq, Eq, Default)]
pub enum Reply {
    #[default]
    None,
    Value(u64),
    /// A list of values, in the model's order: `Reply::Values(thin_vec![a, b])`, or
    /// [`Reply::list`] from any iterator.
    Values(ThinVec<u64>),
    /// Values the model shares with the history instead of copying them: a set it keeps anyway
    /// (a hot key's cart, read by every get), so a reply costs `O(1)` and no allocation, and the
    /// history `O(changes)` rather than the sum of every read's size. Shown and read as
    /// [`Reply::Values`] of the same values, ascending.
    Shared(PSet<u64>),
}

const _: () = assert!(std::mem::size_of::<Reply>() == 16);

impl Reply {
    /// A [`Reply::Values`] of `values`, in their order.
    pub fn list(values: impl IntoIterator<Item = u64>) -> Reply {
        Reply::Values(values.into_iter().collect())
    }
    /// The values, whichever way they are held (one for [`Reply::Value`], none for
    /// [`Reply::None`]); a [`Reply::Shared`] set is copied out (`O(len)`).
    pub fn values(&self) -> std::borrow::Cow<'_, [u64]> {
        use std::borrow::Cow;
        match self {
            Reply::None => Cow::Borrowed(&[]),
            Reply::Value(v) => Cow::Borrowed(std::slice::from_ref(v)),
            Reply::Values(v) => Cow::Borrowed(v),
            Reply::Shared(s) => Cow::Owned(s.to_vec()),
        }
    }
    /// The values in place, without copying a [`Reply::Shared`] set.
    pub fn iter(&self) -> impl Iterator<Item = u64> + '_ {
        let (listed, shared): (&[u64], _) = match self {
            Reply::None => (&[], None),
            Reply::Value(v) => (std::slice::from_ref(v), None),
            Reply::Values(v) => (v, None),
            Reply::Shared(s) => (&[], Some(s)),
        };
        listed.iter().copied().chain(shared.into_iter().flat_map(PSet::iter))
    }
    /// Whether `v` is among the values (a [`Reply::Shared`] set by a search, `O(log n)`).
    pub fn contains(&self, v: u64) -> bool {
        match self {
            Reply::Shared(s) => s.contains(&v),
            _ => self.iter().any(|x| x == v),
        }
    }
}

impl Debug for Reply {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        /// A shared set, shown as the list of its values (as a `Values` reply shows them).
        struct Listed<'a>(&'a PSet<u64>);
        impl Debug for Listed<'_> {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.debug_list().entries(self.0.iter()).finish()
            }
        }
        match self {
            Reply::None => f.write_str("None"),
            Reply::Value(v) => f.debug_tuple("Value").field(v).finish(),
            Reply::Values(v) => f.debug_tuple("Values").field(v).finish(),
            Reply::Shared(s) => f.debug_tuple("Values").field(&Listed(s)).finish(),
        }
    }
}

/// A node's behaviour: one state machine per node, over the model's own message enum.
///
/// A crash drops the actor with its timers; a restart builds a fresh one (the model's factory) and
/// calls `on_start` again, where [`Ctx::durable`] holds what the node persisted before.
pub trait Actor: 'static {
    type Msg: Message;
    /// What the actor's timers carry.
    type Timer: Clone + Debug + 'static;
    /// What the actor writes to its disk.
    type Record: Clone + Debug + 'static;

    fn on_start(&mut self, ctx: &mut Ctx<'_, Self>);
    fn on_msg(&mut self, ctx: &mut Ctx<'_, Self>, from: NodeId, msg: Self::Msg);
    /// Whether the kernel gives this model [`Actor::prefetch`] hints. Off by default: a hint
    /// costs a look at the next event for every event (about 30 instructions), worth it only to a
    /// model whose handlers wait on cache misses in a large table (Dynamo's keys).
    const PREFETCH: bool = false;
    /// Whether the kernel gives this model [`Actor::prefetch_op`] hints: a look up of the client's
    /// actor for every open-loop arrival, worth it to a model whose clients' state is spread over
    /// more memory than the caches hold (the service model's, with many clients).
    const PREFETCH_OP: bool = false;
    /// A cache hint, and only that (called when [`Actor::PREFETCH`] is set): `msg` is the next
    /// message this node will get, after the event being handled now, unless a handler schedules
    /// another before it. An actor whose handler will look `msg`'s key up in a large table may
    /// [`crate::hint::prefetch`] the slot, so that its miss overlaps the event before. It must
    /// change nothing.
    #[inline]
    fn prefetch(&self, _msg: &Self::Msg) {}
    /// A cache hint, and only that (called when [`Actor::PREFETCH_OP`] is set): the next open-loop
    /// operation will arrive at this (client) node, an arrival from now. An actor whose
    /// [`Actor::on_op`] reads state of its own behind pointers may prefetch it. It must change
    /// nothing.
    #[inline]
    fn prefetch_op(&self) {}
    fn on_timer(&mut self, _ctx: &mut Ctx<'_, Self>, _timer: Self::Timer) {}
    /// A workload operation arrives at this (client) node. Complete it with [`Ctx::complete`].
    fn on_op(&mut self, ctx: &mut Ctx<'_, Self>, op: Op) {
        ctx.complete(op.id, Outcome::Rejected, Reply::None);
    }
    /// A write issued with [`Ctx::persist`] is on disk.
    fn on_persisted(&mut self, _ctx: &mut Ctx<'_, Self>, _write: WriteId) {}
    /// An abstract summary of this node's state for `simctl explore`'s coverage: the few fields
    /// that say where the protocol is (role, epoch or term, log length, whether writes are
    /// unsynced), hashed together, never whole data. `None` (the default): the explorer uses the
    /// sequence of event kinds the node handles instead. The kernel calls it after every handler,
    /// and only while exploring.
    fn fingerprint(&self) -> Option<u64> {
        None
    }
}

/// An effect recorded by a handler, applied by the kernel when the handler returns.
#[derive(Debug)]
pub enum Effect<A: Actor + ?Sized> {
    Send {
        to: NodeId,
        msg: A::Msg,
    },
    SetTimer {
        id: TimerId,
        after: Duration,
        timer: A::Timer,
    },
    CancelTimer {
        id: TimerId,
    },
    /// `sync`: durable when acknowledged (write + fsync); otherwise buffered in the page cache until
    /// the disk's next flush.
    Persist {
        id: WriteId,
        record: A::Record,
        sync: bool,
    },
    Complete {
        op: OpId,
        outcome: Outcome,
        reply: Reply,
    },
    /// A write operation committed at its coordinator (see [`Ctx::committed`]).
    Committed {
        op: OpId,
    },
    Count {
        name: &'static str,
        delta: u64,
    },
    Gauge {
        name: &'static str,
        value: f64,
    },
    /// A counter of one part instance: reported as `scope.name`.
    CountIn {
        scope: &'static str,
        name: &'static str,
        delta: u64,
    },
    /// A change of this node's share of a cluster-wide level (`scope.name`): queue lengths,
    /// backlogs, workers, open connections. The kernel sums the shares of every node, plots the
    /// level over time (per interval: time-weighted mean, and the maximum), and drops a node's
    /// share when the node crashes (its queue died with it).
    Level {
        scope: &'static str,
        name: &'static str,
        delta: i64,
    },
    /// A job arrived at this node's queueing station `scope`, which has `servers` servers (see
    /// [`crate::crosscheck`]).
    StationArrival {
        scope: &'static str,
        servers: u32,
    },
    /// A job of station `scope` was served after waiting `wait` in its queue, for `service`.
    StationServed {
        scope: &'static str,
        wait: Duration,
        service: Duration,
    },
}

/// Ids an actor allocates (timers, writes), kept by the kernel across handler calls.
#[derive(Debug, Default, Clone)]
pub struct IdSource {
    next_timer: u64,
    next_write: u64,
}

/// Where a handler's random stream comes from: a generator of its own (a detached context), or
/// the world's per-node streams, reached only if the handler draws (with a hundred thousand nodes
/// most generators are out of the streams' cache, and re-making one costs a ChaCha refill: a
/// handler that draws nothing should not pay it).
pub(crate) enum RngSource<'a> {
    Own(&'a mut Prng),
    Streams(&'a mut crate::rng::NodeStreams),
}

/// A node's durable records, as [`Ctx::durable`] and `Sim::durable` give them: the kernel's
/// log, kept in chunks that never move ([`Chunked`]) and read only if the handler asks (its
/// header is one more cache miss per event with a million nodes), or a slice (a detached
/// context's).
#[derive(Debug)]
pub enum Records<'a, R> {
    Slice(&'a [R]),
    Chunks(&'a Chunked<R>),
}

impl<R> Clone for Records<'_, R> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<R> Copy for Records<'_, R> {}

impl<'a, R> Records<'a, R> {
    pub fn len(&self) -> usize {
        match self {
            Records::Slice(s) => s.len(),
            Records::Chunks(c) => c.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn iter(&self) -> RecordsIter<'a, R> {
        match *self {
            Records::Slice(s) => RecordsIter::Slice(s.iter()),
            Records::Chunks(c) => RecordsIter::Chunks(c.iter()),
        }
    }

    pub fn to_vec(&self) -> Vec<R>
    where
        R: Clone,
    {
        self.iter().cloned().collect()
    }
}

/// The records of [`Records`], in the order written.
pub enum RecordsIter<'a, R> {
    Slice(std::slice::Iter<'a, R>),
    Chunks(crate::chunked::Iter<'a, R>),
}

impl<'a, R> Iterator for RecordsIter<'a, R> {
    type Item = &'a R;
    #[inline]
    fn next(&mut self) -> Option<&'a R> {
        match self {
            RecordsIter::Slice(i) => i.next(),
            RecordsIter::Chunks(i) => i.next(),
        }
    }
}

impl<'a, R> IntoIterator for Records<'a, R> {
    type Item = &'a R;
    type IntoIter = RecordsIter<'a, R>;
    fn into_iter(self) -> RecordsIter<'a, R> {
        self.iter()
    }
}

/// The actor's only door to the world.
pub struct Ctx<'a, A: Actor + ?Sized> {
    node: NodeId,
    local_now: Time,
    /// This node's monotonic clock: [`Ctx::monotonic`].
    mono_now: Time,
    /// The true time of this event: for [`Ctx::ledger_time`] only.
    true_now: Time,
    restarted: bool,
    rng: RngSource<'a>,
    ids: &'a mut IdSource,
    durable: Records<'a, A::Record>,
    corrupt_records: u64,
    outage: Option<OutageMode>,
    effects: &'a mut Vec<Effect<A>>,
}

impl<'a, A: Actor + ?Sized> Ctx<'a, A> {
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn new(
        node: NodeId,
        local_now: Time,
        mono_now: Time,
        true_now: Time,
        restarted: bool,
        rng: RngSource<'a>,
        ids: &'a mut IdSource,
        durable: Records<'a, A::Record>,
        effects: &'a mut Vec<Effect<A>>,
    ) -> Self {
        Ctx {
            node,
            local_now,
            mono_now,
            true_now,
            restarted,
            rng,
            ids,
            durable,
            corrupt_records: 0,
            outage: None,
            effects,
        }
    }

    pub(crate) fn with_corrupt_records(mut self, n: u64) -> Self {
        self.corrupt_records = n;
        self
    }

    /// The context of a node under an outage (the kernel sets it; tests of a dependency's part
    /// set it on a detached context).
    pub fn with_outage(mut self, outage: Option<OutageMode>) -> Self {
        self.outage = outage;
        self
    }

    /// A detached context whose wall clock ([`Ctx::now`]) was stepped by `step_ns` against its
    /// monotonic clock and true time, as a clock fault's step leaves it (tests of which clock a
    /// part reads).
    pub fn with_wall_step(mut self, step_ns: i64) -> Self {
        self.local_now = Time((self.mono_now.0 as i64).saturating_add(step_ns).max(0) as u64);
        self
    }

    /// The context of a start after a crash (the kernel sets it; tests of a part's recovery set
    /// it on a detached context).
    pub fn with_restart(mut self, restarted: bool) -> Self {
        self.restarted = restarted;
        self
    }

    /// A context with no world behind it, for unit tests of one handler: inspect `effects` after.
    /// Its clocks are true: [`Ctx::monotonic`] and [`Ctx::ledger_time`] are `local_now`.
    pub fn detached(
        node: NodeId,
        local_now: Time,
        rng: &'a mut Prng,
        ids: &'a mut IdSource,
        durable: &'a [A::Record],
        effects: &'a mut Vec<Effect<A>>,
    ) -> Self {
        Ctx::new(
            node,
            local_now,
            local_now,
            local_now,
            false,
            RngSource::Own(rng),
            ids,
            Records::Slice(durable),
            effects,
        )
    }

    /// This node.
    pub fn id(&self) -> NodeId {
        self.node
    }
    /// This node's *local* clock: skewed, drifting, possibly stepped backwards. Never the true time.
    pub fn now(&self) -> Time {
        self.local_now
    }
    /// This node's *monotonic* clock (`CLOCK_MONOTONIC`, `Instant`, `System.nanoTime`): it runs at
    /// the local clock's rate (drift included) but is never stepped, so it never goes back. For
    /// elapsed time within one node (an in-process cache's TTL, a timeout measured by hand, a
    /// heartbeat's silence); [`Ctx::now`] for timestamps that leave the node or are compared
    /// with another node's (IDs, last-write-wins, samples). Only differences mean anything: its
    /// origin is arbitrary. Without clock steps it equals [`Ctx::now`].
    pub fn monotonic(&self) -> Time {
        self.mono_now
    }
    /// The true time of this event, for a *ledger*: what a model writes down for its checkers to
    /// read after the run (when a record was applied, a message delivered, a firing raised), to be
    /// compared with the history's times, which are true. Never for the protocol: a real node
    /// knows only its own clock, [`Ctx::now`], and a handler that decides by this one is a design
    /// with perfect clocks. Without clock faults the two are equal; with them, a ledger stamped by
    /// [`Ctx::now`] blames the design for the clock (a journal stamped 270 ms behind true time
    /// made a leaderboard's fresh reads look stale).
    pub fn ledger_time(&self) -> Time {
        self.true_now
    }
    /// True when this start follows a crash (the actor was rebuilt; `durable()` holds what survived).
    pub fn is_restart(&self) -> bool {
        self.restarted
    }
    /// This node's own random stream.
    #[inline]
    pub fn rng(&mut self) -> &mut Prng {
        match &mut self.rng {
            RngSource::Own(rng) => rng,
            RngSource::Streams(streams) => streams.get(self.node.0),
        }
    }
    /// Records this node persisted and that survived (synced, or flushed from the page cache).
    pub fn durable(&self) -> Records<'a, A::Record> {
        self.durable
    }

    /// Records that failed their checksum on recovery (torn by a power loss): they are not in
    /// `durable()`, but the actor knows that something it wrote is gone.
    pub fn corrupt_records(&self) -> u64 {
        self.corrupt_records
    }

    /// The outage this node is in now, if a scenario scheduled one ([`crate::fault::Fault::Outage`]).
    ///
    /// The one fault a model can see, and only for the part that *implements* an external
    /// dependency (a payment or email provider): the provider's own failure is its behaviour (it
    /// answers errors, or late, or not at all), which the kernel cannot fabricate for it. Every
    /// other fault stays invisible; a caller of the dependency sees only the consequences.
    pub fn outage(&self) -> Option<OutageMode> {
        self.outage
    }

    pub fn send(&mut self, to: NodeId, msg: A::Msg) {
        self.effects.push(Effect::Send { to, msg });
    }
    pub fn broadcast(&mut self, to: impl IntoIterator<Item = NodeId>, msg: A::Msg) {
        for n in to {
            if n != self.node {
                self.send(n, msg.clone());
            }
        }
    }
    /// Fires `timer` after `after` of this node's local time (drift applies).
    pub fn set_timer(&mut self, after: Duration, timer: A::Timer) -> TimerId {
        let id = TimerId(self.ids.next_timer);
        self.ids.next_timer += 1;
        self.effects.push(Effect::SetTimer { id, after, timer });
        id
    }
    /// A cancelled timer never fires (cancelling a fired or unknown timer is a no-op).
    pub fn cancel_timer(&mut self, id: TimerId) {
        self.effects.push(Effect::CancelTimer { id });
    }
    /// Writes `record` and syncs it: [`Actor::on_persisted`] follows after the disk's latency, and
    /// only then is it durable. A crash before that loses it.
    pub fn persist(&mut self, record: A::Record) -> WriteId {
        self.write(record, true)
    }
    /// Writes `record` to the page cache: durable at the disk's next periodic flush (or the next
    /// synced write); a power loss before that loses it. `on_persisted` follows at once.
    pub fn persist_buffered(&mut self, record: A::Record) -> WriteId {
        self.write(record, false)
    }
    fn write(&mut self, record: A::Record, sync: bool) -> WriteId {
        let id = WriteId(self.ids.next_write);
        self.ids.next_write += 1;
        self.effects.push(Effect::Persist { id, record, sync });
        id
    }
    /// Ends a workload operation. Latency is measured by the kernel from the operation's intended
    /// start on the true clock.
    pub fn complete(&mut self, op: OpId, outcome: Outcome, reply: Reply) {
        self.effects.push(Effect::Complete { op, outcome, reply });
    }
    /// Marks the write `op` as committed *as its coordinator sees it* (for a quorum write, the
    /// moment the `W`-th acknowledgement reached the coordinator), which may be on another node
    /// than the client that completes it, and earlier. The kernel records the first mark of an
    /// operation (on the true clock); a probe workload with `from: Commit` times its reads from
    /// it ([`crate::probe`]). Nothing else in the run depends on it, so a model that never calls
    /// it runs as before.
    pub fn committed(&mut self, op: OpId) {
        self.effects.push(Effect::Committed { op });
    }
    /// Adds to a named counter (reported per run).
    pub fn count(&mut self, name: &'static str, delta: u64) {
        self.effects.push(Effect::Count { name, delta });
    }
    /// Records a gauge sample (reported per interval: last value, and overall maximum).
    pub fn gauge(&mut self, name: &'static str, value: f64) {
        self.effects.push(Effect::Gauge { name, value });
    }
    /// Adds to the counter `scope.name`: a part instance (`scope` = its role, e.g. `"api"`) counts
    /// under its own scope, so two pools of one design never share a counter. Counters live in the
    /// kernel, so a crash does not lose them.
    pub fn count_in(&mut self, scope: &'static str, name: &'static str, delta: u64) {
        self.effects.push(Effect::CountIn { scope, name, delta });
    }
    /// Moves this node's share of the cluster-wide level `scope.name` by `delta` (see
    /// [`Effect::Level`]).
    pub fn level(&mut self, scope: &'static str, name: &'static str, delta: i64) {
        if delta != 0 {
            self.effects.push(Effect::Level { scope, name, delta });
        }
    }
    /// A job arrives at this node's queueing station `scope` (a pool of `servers` servers with a
    /// queue): for the run's queueing cross-check (utilisation, predicted against measured wait).
    /// Parts that queue call it; a model author rarely needs to.
    pub fn station_arrival(&mut self, scope: &'static str, servers: u32) {
        self.effects.push(Effect::StationArrival { scope, servers });
    }
    /// A job of station `scope` was served: it waited `wait` in the queue, then held a server for
    /// `service`.
    pub fn station_served(&mut self, scope: &'static str, wait: Duration, service: Duration) {
        self.effects.push(Effect::StationServed { scope, wait, service });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_shared_reply_reads_shows_and_compares_as_its_values() {
        let set: PSet<u64> = [9, 2, 5].into_iter().collect();
        let shared = Reply::Shared(set.clone());
        let listed = Reply::Values(thin_vec![2, 5, 9]);
        assert_eq!(listed, Reply::list([2, 5, 9]));
        assert_eq!(format!("{shared:?}"), format!("{listed:?}"));
        assert_eq!(format!("{shared:?}"), "Values([2, 5, 9])");
        assert_eq!(format!("{:?}", Reply::Shared(PSet::new())), "Values([])");
        assert_eq!(shared.values(), listed.values());
        assert_eq!(*shared.values(), [2, 5, 9]);
        // Equal when the values are, whatever the set was built from; not equal to a listed reply.
        assert_eq!(shared, Reply::Shared([2, 5, 9].into_iter().collect()));
        assert_ne!(shared, Reply::Shared([2, 5].into_iter().collect()));
        assert_ne!(shared, Reply::Shared([2, 5, 8].into_iter().collect()));
        assert_ne!(shared, listed);
        // The other replies' values.
        assert_eq!(*Reply::Value(7).values(), [7]);
        assert!(Reply::None.values().is_empty());
        // Read in place, the same values.
        for r in [&shared, &listed, &Reply::Value(7), &Reply::None] {
            assert_eq!(r.iter().collect::<Vec<_>>(), *r.values());
            assert!(r.values().iter().all(|&v| r.contains(v)));
            assert!(!r.contains(3));
        }
        assert_eq!((0..11).filter(|&v| shared.contains(v)).collect::<Vec<_>>(), [2, 5, 9]);
        // A clone is the same set, not a copy.
        let Reply::Shared(s) = shared.clone() else { unreachable!() };
        assert!(s.shares_root(&set));
    }
}
