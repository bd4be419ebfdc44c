//! The checkers: pure functions over the history (what producers were told, what consumers saw)
//! and the final logs, so each can be tested on hand-made data as well as on runs.

use crate::broker::{Replica, Role};
use crate::log::{Entry, Payload};
use crate::msg::EventKind;
use crate::{Config, Node};
use sim_core::metrics::{Completion, HistoryEntry};
use sim_core::{Axis, Check, ModelReport, OpId, Outcome, Reply, RunView, Table, Time};
use std::borrow::Borrow;

/// A message as a report names it: by the produce operation that wrote it, in the id space of the
/// history and the trace (a message id is its workload value: the first attempt's op id plus one).
pub fn msg(id: u64) -> String {
    match sim_core::metrics::op_of_value(id) {
        Some(op) => format!("the message of op {} (id {id})", op.0),
        None => format!("message {id}"),
    }
}

/// A produce op from the history, in 32 bytes: the checkers keep one per produce op for the
/// whole report (3 million on `kafka_50k`), and every byte of it is fresh memory the report
/// faults in (a first touch costs about a third of a nanosecond a byte on the machines measured,
/// docs/performance.md, "Round nineteen"); with 64-bit ids and an `Option<Time>` it was 56.
#[derive(Clone, Copy, Debug)]
pub struct Produced {
    pub invoke: Time,
    /// When the producer was told the outcome, if it was.
    complete: Completion,
    /// The history's op id of this attempt (the kernel's ids are 32 bits).
    op: OpId,
    /// The message id (the workload value: every attempt of one produce writes the same id).
    id32: u32,
    pub partition: u32,
    /// The producer's node id, with `ACKED` set when this attempt was acknowledged.
    client_acked: u32,
}

impl Produced {
    const ACKED: u32 = 1 << 31;

    /// Message ids are below the history's length plus one, and op ids are 32 bits, so message
    /// ids fit in 32 bits too.
    pub fn new(
        op: OpId,
        id: u64,
        partition: u32,
        client: u32,
        invoke: Time,
        complete: Option<Time>,
        acked: bool,
    ) -> Produced {
        assert!(client < Produced::ACKED, "client node ids are below 2^31");
        debug_assert!(!acked || complete.is_some(), "an acknowledged attempt completed");
        Produced {
            invoke,
            complete: complete.into(),
            op,
            id32: u32::try_from(id).expect("fewer than 2^32 operations"),
            partition,
            client_acked: client | if acked { Produced::ACKED } else { 0 },
        }
    }
    /// The history's op id of this attempt.
    pub fn op(&self) -> u64 {
        self.op.0 as u64
    }
    /// The message id.
    pub fn id(&self) -> u64 {
        self.id32 as u64
    }
    pub fn client(&self) -> u32 {
        self.client_acked & !Produced::ACKED
    }
    pub fn acked(&self) -> bool {
        self.client_acked & Produced::ACKED != 0
    }
    /// When the producer was told the outcome (`None`: never).
    pub fn complete(&self) -> Option<Time> {
        self.complete.get()
    }
    fn blame(&self) -> sim_core::Blame {
        sim_core::Blame { invoke: self.invoke, op: self.op, complete: self.complete() }
    }
}

/// One message a consumer delivered (a poll op's reply). The checkers take deliveries as an
/// iterator of these, made where they are read ([`poll_deliveries`], [`transactional_outputs`]):
/// copied into a vector they were 40 bytes of fresh memory per message (page faults were most of
/// the phase after the simulation).
#[derive(Clone, Copy, Debug)]
pub struct Delivered {
    pub partition: u32,
    pub offset: u64,
    pub id: u64,
    pub client: u32,
    /// The poll op (deliveries of one poll share it).
    pub poll: u64,
    pub at: Time,
}

/// One partition at the end: a digest of every replica's full log (`None`: the broker is down),
/// and the committed prefix of the authoritative one (the leader with the highest epoch).
#[derive(Clone, Debug, Default)]
pub struct FinalPartition {
    pub committed: Committed,
    pub replicas: Vec<(u32, Option<Digest>)>,
    /// Each replica's role at the end, for the convergence check's detail.
    pub roles: Vec<String>,
}

/// A log's length and a hash over its entries: equal digests, equal logs (up to a 64-bit hash).
/// When every replica of a partition holds the authoritative log's very runs, their logs are
/// equal without reading them, and the hash is left at its start ([`final_partitions`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Digest {
    pub len: usize,
    pub hash: u64,
}

impl Default for Digest {
    fn default() -> Digest {
        Digest { len: 0, hash: 0xcbf2_9ce4_8422_2325 }
    }
}

impl Digest {
    pub fn of<E: Borrow<Entry>>(entries: impl IntoIterator<Item = E>) -> Digest {
        let mut d = Digest::default();
        for e in entries {
            d.add(e.borrow());
        }
        d
    }
    /// The digest of the log with `e` appended.
    fn add(&mut self, e: &Entry) {
        let h = &mut self.hash;
        let mut mix = |x: u64| *h = (*h ^ x).wrapping_mul(0x0000_0100_0000_01B3).rotate_left(23);
        self.len += 1;
        mix(e.epoch() as u64);
        match e.payload() {
            Payload::Data { id, producer, seq } => {
                mix(id);
                mix(producer);
                mix(seq as u64);
            }
            Payload::Commit { offset, generation, from } => {
                mix(u64::MAX);
                mix(offset);
                mix(generation);
                mix(from);
            }
        }
    }
}

/// A partition's final committed log as the checkers read it: the data id at each offset and the
/// transactional commit entries, in two dense vectors. The log's entries sit in many small shared
/// chunks (`log::Run`) spread over the heap; every checker walking them again was most of the
/// phase after the simulation (cache misses, not instructions), so they are walked once, here.
#[derive(Clone, Debug, Default)]
pub struct Committed {
    /// The data id at each offset; `NOT_DATA` at a commit entry (message ids start at 1). In 32
    /// bits, as the report's produce ops hold them ([`Produced`]): ids are below the history's
    /// length plus one.
    ids: Vec<u32>,
    /// `(offset of the entry, from, to)` of every transactional (compare-and-set) commit entry.
    txns: Vec<(u64, u64, u64)>,
    /// How many of the entries are data.
    data: usize,
}

impl Committed {
    const NOT_DATA: u32 = 0;
    /// Room for `entries` entries: a log's committed length is known before it is read, and a
    /// vector grown by doubling copies itself into fresh memory at every step.
    pub fn with_capacity(entries: usize) -> Committed {
        Committed { ids: Vec::with_capacity(entries), ..Committed::default() }
    }
    /// Appends the entry at the next offset.
    pub fn push(&mut self, e: &Entry) {
        match e.payload() {
            Payload::Data { id, .. } => {
                let id = u32::try_from(id).expect("message ids fit in 32 bits (see `Produced`)");
                debug_assert_ne!(id, Committed::NOT_DATA, "message ids start at 1");
                self.ids.push(id);
                self.data += 1;
            }
            Payload::Commit { offset, from, .. } => {
                if from != crate::log::NO_CAS {
                    self.txns.push((self.ids.len() as u64, from, offset));
                }
                self.ids.push(Committed::NOT_DATA);
            }
        }
    }
    pub fn of<E: Borrow<Entry>>(entries: impl IntoIterator<Item = E>) -> Committed {
        let mut c = Committed::default();
        for e in entries {
            c.push(e.borrow());
        }
        c
    }
    /// How many entries (data and commits).
    pub fn len(&self) -> usize {
        self.ids.len()
    }
    pub fn is_empty(&self) -> bool {
        self.ids.is_empty()
    }
    /// The data id at `offset` (`None`: past the end, or a commit entry).
    pub fn id(&self, offset: u64) -> Option<u64> {
        self.ids.get(offset as usize).copied().filter(|&id| id != Committed::NOT_DATA).map(u64::from)
    }
    /// `(offset, id)` of every data entry, in offset order.
    pub fn data(&self) -> impl Iterator<Item = (u64, u64)> + Clone + '_ {
        self.ids
            .iter()
            .enumerate()
            .filter(|&(_, &id)| id != Committed::NOT_DATA)
            .map(|(o, &id)| (o as u64, u64::from(id)))
    }
    /// How many data entries.
    pub fn data_len(&self) -> usize {
        self.data
    }
}

/// A vector indexed by message id. Message ids are workload values (the first attempt's op id plus
/// one), so they run from 1 to the history's length: indexing by id is linear where sorting by id
/// was `n log n` (sorts were most of the checkers' time on `kafka_50k`).
///
/// Every table is sized by `id_end`, which the report knows from the history's length (every
/// message id is below it), not by a pass over its ids for the largest: six such passes, two of
/// them over the deliveries read from the polls' replies, were a tenth of the report.
pub struct ById<T>(Vec<T>);

impl<T: Copy> ById<T> {
    /// Room for every id below `id_end`, each slot `empty`.
    pub fn new(id_end: u64, empty: T) -> ById<T> {
        ById(vec![empty; usize::try_from(id_end).expect("message ids fit in memory")])
    }
    pub fn get(&self, id: u64) -> Option<T> {
        self.0.get(id as usize).copied()
    }
    /// The slot of `id`, which must be one of the ids the table was sized for.
    pub fn slot(&mut self, id: u64) -> &mut T {
        &mut self.0[id as usize]
    }
}

/// Where each message id sits in the committed logs: `(partition, offset)` by id, its first copy
/// (lowest partition, then lowest offset). A vector indexed by id, not a map: runs hold millions
/// of messages. Each place is packed in 8 bytes (the partition above `OFFSET_BITS` bits of
/// offset), where a `(u32, u64)` was 16 of fresh memory per message.
pub struct Index {
    at: ById<u64>,
    len: usize,
    id_end: u64,
}

impl Index {
    const NONE: u64 = u64::MAX;
    /// A partition's offsets stay below 2^40 (a trillion entries), its number below 2^24.
    const OFFSET_BITS: u32 = 40;
    /// `id_end`: every message id is below it (see [`ById`]).
    pub fn new(parts: &[FinalPartition], id_end: u64) -> Index {
        assert!(parts.len() < 1 << (64 - Index::OFFSET_BITS), "fewer than 2^24 partitions");
        let mut at = ById::new(id_end, Index::NONE);
        let mut len = 0;
        for (p, fp) in parts.iter().enumerate() {
            assert!((fp.committed.len() as u64) < 1 << Index::OFFSET_BITS, "a partition's offsets fit in 40 bits");
            for (o, id) in fp.committed.data() {
                let slot = at.slot(id);
                if *slot == Index::NONE {
                    *slot = (p as u64) << Index::OFFSET_BITS | o;
                    len += 1;
                }
            }
        }
        Index { at, len, id_end }
    }
    /// Every message id is below it.
    pub fn id_end(&self) -> u64 {
        self.id_end
    }
    pub fn get(&self, id: u64) -> Option<(u32, u64)> {
        let packed = self.at.get(id).filter(|&x| x != Index::NONE)?;
        Some(((packed >> Index::OFFSET_BITS) as u32, packed & ((1 << Index::OFFSET_BITS) - 1)))
    }
    pub fn len(&self) -> usize {
        self.len
    }
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
}

pub fn no_acked_loss(produced: &[Produced], at: &Index) -> Check {
    no_acked_loss_given(&acked_sends(produced, at).0)
}

/// The acknowledged messages, counted, and those missing from their partition's final committed
/// log (without a list of the acknowledged ones: it was as long as the history).
pub struct AckedLoss<'p> {
    pub acked: usize,
    pub lost: Vec<&'p Produced>,
}

/// `no_acked_loss`, given the loss already found.
fn no_acked_loss_given(AckedLoss { acked, lost }: &AckedLoss<'_>) -> Check {
    let example =
        lost.first().map(|p| format!("e.g. {} of partition {}", msg(p.id()), p.partition)).unwrap_or_default();
    Check::judged("no_acked_loss", *acked, "acknowledged messages")
        .violations(lost.len(), "missing from the final committed logs")
        .detail(example)
        .blame_all(lost.iter().map(|p| p.blame()))
}

pub fn no_truncated_reads(polled: &Polled) -> Check {
    let bad = &polled.truncated;
    let example = bad
        .first()
        .map(|d| {
            format!("e.g. {} read by poll op {} at partition {} offset {}", msg(d.id), d.poll, d.partition, d.offset)
        })
        .unwrap_or_default();
    // The poll that read it (its invoke time comes from the history: `Check::settle_blame`).
    Check::judged("no_truncated_reads", polled.reads, "consumed messages")
        .violations(bad.len(), "not in the final log where they were read")
        .detail(example)
        .blame_all(bad.iter().map(|d| sim_core::Blame { invoke: d.at, op: OpId::new(d.poll), complete: Some(d.at) }))
}

/// What the checks read from the polls' deliveries, found in one walk over them (a walk per
/// check, through the nested iterators that read the deliveries in place from the polls'
/// replies, was most of the report's instructions).
pub struct Polled {
    /// The reads judged, and those not in the final log where they were read.
    reads: usize,
    truncated: Vec<Delivered>,
    /// The read before, for the order within a poll: consecutive reads of one (poll, partition)
    /// batch judged, those out of order, and the first of those blamed.
    prev: Option<Delivered>,
    pairs: u64,
    inversions: u64,
    blamed: Vec<sim_core::Blame>,
    first: FirstDeliveries,
}

/// Each message's first delivery, by id (dense, see [`ById`]): nanoseconds, `u64::MAX` for none.
pub struct FirstDeliveries {
    at: ById<u64>,
    /// Messages delivered at least once.
    consumed: usize,
}

impl Polled {
    /// `id_end`: every message id is below it (see [`ById`]).
    pub fn new(id_end: u64) -> Polled {
        Polled {
            reads: 0,
            truncated: Vec::new(),
            prev: None,
            pairs: 0,
            inversions: 0,
            blamed: Vec::new(),
            first: FirstDeliveries { at: ById::new(id_end, FirstDeliveries::NONE), consumed: 0 },
        }
    }
    /// Walks `delivered` (in history order) once.
    pub fn of(delivered: impl Iterator<Item = Delivered>, parts: &[FinalPartition], id_end: u64) -> Polled {
        let mut p = Polled::new(id_end);
        delivered.for_each(|d| p.add(d, parts));
        p
    }
    /// Takes the next delivery in history order.
    pub fn add(&mut self, d: Delivered, parts: &[FinalPartition]) {
        self.reads += 1;
        if parts.get(d.partition as usize).and_then(|fp| fp.committed.id(d.offset)) != Some(d.id) {
            self.truncated.push(d);
        }
        if let Some(p) = self.prev
            && p.poll == d.poll
            && p.partition == d.partition
        {
            self.pairs += 1;
            if d.offset <= p.offset {
                self.inversions += 1;
                if self.blamed.len() < sim_core::model::MAX_BLAMED {
                    self.blamed.push(sim_core::Blame { invoke: d.at, op: OpId::new(d.poll), complete: Some(d.at) });
                }
            }
        }
        self.prev = Some(d);
        self.first.add(d);
    }
}

impl FirstDeliveries {
    const NONE: u64 = u64::MAX;
    /// Set on a message's first delivery time once [`e2e_latencies`] took its latency (times stay
    /// below 2^63 ns, 292 years).
    const TAKEN: u64 = 1 << 63;
    fn add(&mut self, d: Delivered) {
        debug_assert!(d.at.0 < FirstDeliveries::TAKEN);
        let f = self.at.slot(d.id);
        self.consumed += (*f == FirstDeliveries::NONE) as usize;
        *f = (*f).min(d.at.0);
    }
}

/// What reached the sink (the consumers' deliveries, or for exactly-once the transactional
/// outputs), as the checks read it, found in one walk over it.
pub struct Sink {
    /// How many deliveries.
    n: usize,
    /// Which ids were delivered, and how many deliveries repeated one.
    got: ById<bool>,
    dupes: u64,
    /// Per partition: the highest offset delivered, and which committed offsets were.
    last: Vec<Option<u64>>,
    read: Vec<Vec<bool>>,
}

impl Sink {
    /// `id_end`: every message id is below it (see [`ById`]).
    pub fn new(parts: &[FinalPartition], id_end: u64) -> Sink {
        Sink {
            n: 0,
            got: ById::new(id_end, false),
            dupes: 0,
            last: vec![None; parts.len()],
            read: parts.iter().map(|fp| vec![false; fp.committed.len()]).collect(),
        }
    }
    /// Walks `delivered` once.
    pub fn of(delivered: impl Iterator<Item = Delivered>, parts: &[FinalPartition], id_end: u64) -> Sink {
        let mut s = Sink::new(parts, id_end);
        delivered.for_each(|d| s.add(d));
        s
    }
    /// Takes the next delivery (in any order).
    pub fn add(&mut self, d: Delivered) {
        self.n += 1;
        self.dupes += std::mem::replace(self.got.slot(d.id), true) as u64;
        let p = d.partition as usize;
        if let Some(l) = self.last.get_mut(p) {
            *l = Some(l.map_or(d.offset, |x| x.max(d.offset)));
            if let Some(r) = self.read[p].get_mut(d.offset as usize) {
                *r = true;
            }
        }
    }
    fn consumed(&self, id: u64) -> bool {
        self.got.get(id).unwrap_or(false)
    }
}

/// Acknowledged messages that sit below a message their producer sent before them in the same
/// partition, of how many consecutive pairs, with an example.
pub fn send_order_inversions(produced: &[Produced], at: &Index) -> SendOrder {
    acked_sends(produced, at).1
}

/// An acknowledged send placed in the logs: (sent at, id, offset, op). A stream's send order is
/// this tuple's order.
type Sent = (Time, u64, u64, u64);

/// A send below the one before it in its stream's send order: (client, partition, the earlier
/// send, the later one).
type Inversion = (u32, u32, Sent, Sent);

/// One (producer, partition) stream as [`acked_sends`] walks it: the sends of the latest invoke
/// time seen, in arrival order, and the last send before them in send order.
#[derive(Default)]
struct Stream {
    last: Option<Sent>,
    ties: Vec<Sent>,
}

impl Stream {
    /// The stream of `(client, partition)`, made (with any before it) if it is new.
    fn of(streams: &mut Vec<Vec<Stream>>, client: u32, partition: u32) -> &mut Stream {
        let (c, q) = (client as usize, partition as usize);
        if streams.len() <= c {
            streams.resize_with(c + 1, Vec::new);
        }
        let row = &mut streams[c];
        if row.len() <= q {
            row.resize_with(q + 1, Stream::default);
        }
        &mut row[q]
    }
    /// Takes the stream's next send in history order; false if its invoke time went back.
    fn take(&mut self, x: Sent, key: (u32, u32), pairs: &mut u64, found: &mut Vec<Inversion>) -> bool {
        match self.ties.as_mut_slice() {
            // Nearly always: one send waits and this one is later. It is judged, and this one
            // waits in its place (no sort of one send, no list emptied and refilled: a third of
            // this walk's instructions).
            [t] if t.0 < x.0 => {
                let t = std::mem::replace(t, x);
                judge_next(&mut self.last, t, key, pairs, found);
                return true;
            }
            [t, ..] if t.0 > x.0 => return false,
            [t, ..] if t.0 < x.0 => self.judge(key, pairs, found),
            _ => {}
        }
        self.ties.push(x);
        true
    }
    /// Puts the sends of the latest invoke time in order and judges each against the one before.
    fn judge(&mut self, key: (u32, u32), pairs: &mut u64, found: &mut Vec<Inversion>) {
        self.ties.sort_unstable();
        for &x in &self.ties {
            judge_next(&mut self.last, x, key, pairs, found);
        }
        self.ties.clear();
    }
}

/// Judges send `x` against `last`, the one before it in its stream's send order, and moves on.
fn judge_next(
    last: &mut Option<Sent>,
    x: Sent,
    (client, partition): (u32, u32),
    pairs: &mut u64,
    found: &mut Vec<Inversion>,
) {
    if let Some(prev) = *last {
        *pairs += 1;
        if x.2 < prev.2 {
            found.push((client, partition, prev, x));
        }
    }
    *last = Some(x);
}

/// One pass over the acknowledged produce ops, each looked up once in the logs: those missing
/// from their partition's final committed log ([`AckedLoss`]), and the send order of the others
/// ([`SendOrder`]), judged per (producer, partition) stream: each send against the one before it
/// in (sent at, id) order. The history is in invoke order, so a stream arrives in send order but
/// for sends sharing an invoke time out of id order: a stream keeps the sends of its latest
/// invoke time aside and puts them in order when the time moves on, so nothing as long as the
/// history is stored (a vector of every send, grouped by stream, was 32 bytes of fresh memory
/// per message). If a stream's invoke time goes back (a history not in invoke order), the sends
/// are judged by [`send_order_sorted`] instead.
pub fn acked_sends<'p>(produced: &'p [Produced], at: &Index) -> (AckedLoss<'p>, SendOrder) {
    let (mut acked, mut lost) = (0, Vec::new());
    // `streams[client][partition]`, made as they appear.
    let mut streams: Vec<Vec<Stream>> = Vec::new();
    let (mut pairs, mut found, mut in_order) = (0u64, Vec::new(), true);
    for p in produced.iter().filter(|p| p.acked()) {
        acked += 1;
        let Some((_, off)) = at.get(p.id()).filter(|&(q, _)| q == p.partition) else {
            lost.push(p);
            continue;
        };
        if in_order {
            let s = Stream::of(&mut streams, p.client(), p.partition);
            in_order = s.take((p.invoke, p.id(), off, p.op()), (p.client(), p.partition), &mut pairs, &mut found);
        }
    }
    let loss = AckedLoss { acked, lost };
    if !in_order {
        return (loss, send_order_sorted(produced, at));
    }
    // The rest of each stream, in (client, partition) order; then what was found, in that order
    // too (stable: each stream's inversions are already in its send order).
    for (c, row) in streams.iter_mut().enumerate() {
        for (q, s) in row.iter_mut().enumerate() {
            s.judge((c as u32, q as u32), &mut pairs, &mut found);
        }
    }
    found.sort_by_key(|&(c, q, ..)| (c, q));
    (loss, SendOrder::of(pairs, &found))
}

/// [`send_order_inversions`] on any history: every acknowledged message in the logs, with its
/// offset, grouped by its (producer, partition) stream (a counting sort over dense stream
/// numbers: client, then partition), each stream then put in send order, (sent at, id), by an
/// insertion sort (linear on a stream nearly in order). Pass 1: the streams' numbering (clients,
/// partitions); pass 2: an upper bound of each stream's length (its acknowledged sends); pass 3:
/// each send placed in the logs, with its offset, at the end of its stream so far.
fn send_order_sorted(produced: &[Produced], at: &Index) -> SendOrder {
    let acked = || produced.iter().filter(|p| p.acked());
    let (mut first_client, mut last_client, mut partitions) = (u32::MAX, 0, 0);
    for p in acked() {
        first_client = first_client.min(p.client());
        last_client = last_client.max(p.client());
        partitions = partitions.max(p.partition as usize + 1);
    }
    let stream = |p: &Produced| (p.client() - first_client) as usize * partitions + p.partition as usize;
    let streams = if partitions == 0 { 0 } else { (last_client - first_client) as usize + 1 } * partitions;
    // `starts[s]`: where stream `s`'s room begins in `sent`; `ends[s]`: where its sends end.
    let mut starts = vec![0usize; streams + 1];
    for p in acked() {
        starts[stream(p) + 1] += 1;
    }
    for s in 0..streams {
        starts[s + 1] += starts[s];
    }
    let mut sent: Vec<Sent> = vec![(Time::ZERO, 0, 0, 0); starts[streams]];
    let mut ends = starts.clone();
    for p in acked() {
        if let Some((_, off)) = at.get(p.id()).filter(|&(q, _)| q == p.partition) {
            let s = stream(p);
            sent[ends[s]] = (p.invoke, p.id(), off, p.op());
            ends[s] += 1;
        }
    }
    let (mut pairs, mut found) = (0u64, Vec::new());
    for s in 0..streams {
        let run = &mut sent[starts[s]..ends[s]];
        insertion_sort_by_key(run, |&x| x);
        let (client, partition) = (first_client + (s / partitions) as u32, (s % partitions) as u32);
        // Each send against the previous one of its stream.
        for i in 1..run.len() {
            pairs += 1;
            if run[i].2 < run[i - 1].2 {
                found.push((client, partition, run[i - 1], run[i]));
            }
        }
    }
    SendOrder::of(pairs, &found)
}

/// Sorts `v` by `key`, moving each element left past the larger ones before it:
/// `O(n + inversions)`, so linear on a slice already nearly in order.
fn insertion_sort_by_key<T: Copy, K: Ord>(v: &mut [T], key: impl Fn(&T) -> K) {
    for i in 1..v.len() {
        let x = v[i];
        let kx = key(&x);
        let mut j = i;
        while j > 0 && key(&v[j - 1]) > kx {
            v[j] = v[j - 1];
            j -= 1;
        }
        v[j] = x;
    }
}

/// What [`send_order_inversions`] found.
pub struct SendOrder {
    /// Acknowledged messages below one their producer sent before them in the same partition.
    pub inversions: u64,
    /// Consecutive pairs of a producer's acknowledged messages to one partition (what was judged).
    pub pairs: u64,
    /// `"; e.g. ..."`, or empty.
    pub example: String,
    /// The first acknowledged sends found below an earlier one.
    pub blamed: Vec<sim_core::Blame>,
}

impl SendOrder {
    /// `found`: in (producer, partition, send time) order, the order they are reported in.
    fn of(pairs: u64, found: &[Inversion]) -> SendOrder {
        let blamed = found
            .iter()
            .take(sim_core::model::MAX_BLAMED)
            .map(|&(.., b)| sim_core::Blame { invoke: b.0, op: OpId::new(b.3), complete: None })
            .collect();
        let example = found.first().map_or(String::new(), |&(client, partition, a, b)| {
            format!(
                "; e.g. client n{client}, partition {partition}: {} sent before {} but at offset {} > {}",
                msg(a.1),
                msg(b.1),
                a.2,
                b.2
            )
        });
        SendOrder { inversions: found.len() as u64, pairs, example, blamed }
    }
}

/// A producer's acknowledged messages to one partition appear in the order it sent them, and each
/// poll reads a partition's offsets in rising order.
pub fn order(produced: &[Produced], polled: &Polled, at: &Index) -> Check {
    order_given(send_order_inversions(produced, at), polled)
}

/// `order`, given the send-order inversions already counted.
fn order_given(SendOrder { inversions, pairs, example, mut blamed }: SendOrder, polled: &Polled) -> Check {
    let (poll_inversions, poll_pairs) = (polled.inversions, polled.pairs);
    let room = sim_core::model::MAX_BLAMED.saturating_sub(blamed.len());
    blamed.extend(polled.blamed.iter().take(room));
    // Judged: each send pair, and each read after the first of its (poll, partition) batch
    // against the one before it.
    Check::judged("order", pairs + poll_pairs, "consecutive pairs (acknowledged sends, reads within a poll)")
        .violations(inversions + poll_inversions, "out of order")
        .detail(format!(
            "{inversions} acknowledged messages out of their producer's send order, {poll_inversions} out-of-order reads within a poll{example}"
        ))
        .blame_all(blamed)
}

/// Exactly-once output: a transactional commit's output is the data it moved past, `[from,
/// offset)`, and it exists exactly when the commit entry is committed (a consumer that dies after
/// its commit has still produced its output; one whose commit failed has produced nothing), as
/// Kafka's read-process-write transactions commit the output with the offsets. Read off the
/// committed logs each time they are walked (a copy was 40 bytes of fresh memory per message).
pub fn transactional_outputs(parts: &[FinalPartition]) -> impl Iterator<Item = Delivered> + Clone + '_ {
    parts.iter().enumerate().flat_map(|(p, fp)| {
        let c = &fp.committed;
        c.txns.iter().flat_map(move |&(at, from, to)| {
            (from..to.min(c.len() as u64)).filter_map(move |o| {
                let id = c.id(o)?;
                Some(Delivered { partition: p as u32, offset: o, id, client: 0, poll: at, at: Time::ZERO })
            })
        })
    })
}

/// What the successful polls delivered, read in place from their replies (`[partition, offset,
/// id]` triples) in history order. The checkers walk these nested iterators with `for_each`
/// (internal iteration, a loop per level): a `for` loop's `next` on them cost 160 M
/// instructions on `kafka_50k` cut to 10 s, a third of the report.
pub fn poll_deliveries<'h>(polls: &'h [&'h HistoryEntry]) -> impl Iterator<Item = Delivered> + Clone + 'h {
    polls.iter().flat_map(|h| {
        let (values, at) = match (&h.reply, h.complete.get()) {
            (Reply::Values(v), Some(at)) => (&v[..], at),
            _ => (&[][..], Time::ZERO),
        };
        values.chunks_exact(3).map(move |t| Delivered {
            partition: t[0] as u32,
            offset: t[1],
            id: t[2],
            client: h.client.0,
            poll: h.op.0 as u64,
            at,
        })
    })
}

/// Committed messages that no consumer delivered although a later offset of their partition was
/// delivered: what at-most-once drops when a consumer crashes between its commit and its delivery.
pub fn skipped(sink: &Sink, parts: &[FinalPartition]) -> u64 {
    let mut n = 0;
    for ((fp, read), last) in parts.iter().zip(&sink.read).zip(&sink.last) {
        let Some(last) = *last else { continue };
        for (&id, &r) in fp.committed.ids.iter().zip(read).take(last as usize) {
            if id != Committed::NOT_DATA && !r {
                n += 1;
            }
        }
    }
    n
}

/// Extra copies of a message in the committed logs: every data entry but the first of its id
/// (the index counts the first copies).
pub fn log_duplicates(parts: &[FinalPartition], at: &Index) -> u64 {
    (parts.iter().map(|fp| fp.committed.data_len()).sum::<usize>() - at.len()) as u64
}

/// `sink`: what reached it (for exactly-once, the transactional outputs); `log_dupes`: the
/// [`log_duplicates`].
pub fn no_duplicates(delivery: crate::Delivery, sink: &Sink, log_dupes: u64, parts: &[FinalPartition]) -> Check {
    let what = if delivery == crate::Delivery::ExactlyOnce { "transactional outputs" } else { "deliveries" };
    let logged: usize = parts.iter().map(|fp| fp.committed.data_len()).sum();
    let (d, l, delivered) = (sink.dupes, log_dupes, sink.n);
    Check::judged("no_duplicates", delivered + logged, &format!("{what} and committed messages"))
        .violations(d + l, "duplicates")
        .detail(format!(
            "{delivery:?} delivery: {d} duplicate {what} of {delivered}, {l} duplicate messages in the committed logs"
        ))
}

pub fn convergence(parts: &[FinalPartition]) -> Check {
    let mut bad = Vec::new();
    for (p, fp) in parts.iter().enumerate() {
        let logs: Vec<&Option<Digest>> = fp.replicas.iter().map(|(_, l)| l).collect();
        let ok = logs.iter().all(|l| l.is_some()) && logs.windows(2).all(|w| w[0] == w[1]);
        if !ok {
            let lens: Vec<String> = fp
                .replicas
                .iter()
                .enumerate()
                .map(|(i, (b, l))| {
                    let role = fp.roles.get(i).map_or("", |r| r.as_str());
                    l.as_ref().map_or(format!("n{b}: down"), |l| format!("n{b}: {} entries, {role}", l.len))
                })
                .collect();
            bad.push(format!("partition {p} [{}]", lens.join(", ")));
        }
    }
    Check::judged("convergence", parts.len(), "partitions")
        .violations(bad.len(), "diverge after the heal")
        .detail(bad.join("; "))
}

/// `all_consumed` (liveness): every acknowledged message in the final committed logs, acknowledged
/// at least `within` before the load stopped at `load_end`, reached the sink (`sink`: what
/// consumers delivered, or for exactly-once the transactional outputs, which exist once the
/// commit is committed even if the consumer died before it was told). `polled`: what the polls
/// returned. Left out, and counted: acknowledged messages missing from the final logs
/// (`no_acked_loss` judges them), those acknowledged too late, those at an offset a consumer read
/// while it held another message (`no_truncated_reads` judges those reads), and under
/// at-most-once delivery the holes below a partition's last delivered offset (that mode drops
/// what a consumer crash interrupts, by design).
pub fn all_consumed(
    delivery: crate::Delivery,
    produced: &[Produced],
    sink: &Sink,
    polled: &Polled,
    at: &Index,
    (load_end, within): (Time, sim_core::Duration),
) -> Check {
    // Offsets read while they held another message than the final log has.
    let mut overwritten: Vec<(u32, u64)> = polled.truncated.iter().map(|d| (d.partition, d.offset)).collect();
    overwritten.sort_unstable();
    let horizon = Time(load_end.0.saturating_sub(within.0));
    let (mut judged, mut missing, mut lost, mut late, mut truncated, mut dropped) =
        (0u64, 0u64, 0u64, 0u64, 0u64, 0u64);
    // Each acknowledged message once (the workload retries only what failed: one acknowledged
    // attempt per message): its first acknowledged attempt in the history. Those never consumed
    // are reported in id order.
    let mut missed: Vec<(u64, u32, u64, &Produced)> = Vec::new();
    let acked = produced.iter().filter(|p| p.acked());
    let mut seen = ById::new(at.id_end(), false);
    for p in acked {
        if std::mem::replace(seen.slot(p.id()), true) {
            continue;
        }
        let Some((part, off)) = at.get(p.id()).filter(|&(q, _)| q == p.partition) else {
            lost += 1;
            continue;
        };
        if p.complete().is_none_or(|c| c > horizon) {
            late += 1;
            continue;
        }
        if sink.consumed(p.id()) {
            judged += 1;
            continue;
        }
        if overwritten.binary_search(&(part, off)).is_ok() {
            truncated += 1;
        } else if delivery == crate::Delivery::AtMostOnce && sink.last[part as usize].is_some_and(|l| off < l) {
            dropped += 1;
        } else {
            judged += 1;
            missing += 1;
            missed.push((p.id(), part, off, p));
        }
    }
    missed.sort_unstable_by_key(|&(id, ..)| id);
    let example = missed.first().map(|&(id, part, off, _)| (id, part, off));
    let blamed: Vec<_> = missed.iter().take(sim_core::model::MAX_BLAMED).map(|&(.., p)| p.blame()).collect();
    Check::judged("all_consumed", judged, "acknowledged messages")
        .skipped(lost, "missing from the final logs (no_acked_loss judges them)")
        .skipped(
            late,
            &if within.0 == 0 {
                "acknowledged after the load stopped".to_string()
            } else {
                format!("acknowledged less than {within} before the load stopped")
            },
        )
        .skipped(truncated, "at an offset a consumer read while it held another message (no_truncated_reads)")
        .skipped(dropped, "dropped by at-most-once delivery below a later delivered offset")
        .violations(missing, "never consumed")
        .detail(example.map(|(id, p, o)| format!("e.g. {} at partition {p} offset {o}", msg(id))).unwrap_or_default())
        .blame_all(blamed)
}

/// Reads the final partitions from the brokers still running: the authoritative replica's
/// committed prefix, and every replica's digest, hashed only if some replica does not hold the
/// very same runs as the authoritative one (a follower in sync shares every run of its leader).
pub fn final_partitions(config: &Config, run: &RunView<'_, Node>) -> Vec<FinalPartition> {
    let brokers = run.topology().servers.len() as u32 - config.controller_nodes;
    let mut out = Vec::new();
    for part in 0..config.partition_count {
        let mut fp = FinalPartition::default();
        let mut replicas = Vec::new();
        let mut best: Option<((bool, u32, u64), usize)> = None;
        for i in 0..config.replication_factor {
            let b = (part + i) % brokers;
            let replica = match run.sim.actor(sim_core::NodeId(b)) {
                Some(Node::Broker(br)) => br.replicas.get(&part),
                _ => None,
            };
            fp.roles.push(match replica {
                None => "down".into(),
                Some(r) => match &r.role {
                    Role::Leader(_) => format!("leader e{} hwm {}", r.leader_epoch, r.log.hwm),
                    Role::Follower { leader, .. } => {
                        format!("follower of n{leader} e{} hwm {}", r.leader_epoch, r.log.hwm)
                    }
                    Role::None => format!("no role e{}", r.leader_epoch),
                },
            });
            if let Some(r) = replica {
                let key = (matches!(r.role, Role::Leader(_)), r.leader_epoch, r.log.hwm);
                if best.is_none_or(|(k, _)| k < key) {
                    best = Some((key, replicas.len()));
                }
            }
            replicas.push((b, replica));
        }
        let authoritative = best.and_then(|(_, i)| replicas[i].1).map(|r| &r.log);
        if let Some(log) = authoritative {
            fp.committed = Committed::with_capacity(log.hwm as usize);
            log.iter().take(log.hwm as usize).for_each(|e| fp.committed.push(&e));
        }
        // Replicas in sync share every run of the authoritative log: then they hold the same
        // entries, and their digests are equal without reading them (the length alone; hashing
        // every entry was a third of this function). Otherwise every log is hashed.
        let shares = |r: Option<&Replica>| r.is_none_or(|r| authoritative.is_some_and(|a| r.log.shares_runs_with(a)));
        let all_share = replicas.iter().all(|&(_, r)| shares(r));
        for (b, replica) in replicas {
            let digest = replica.map(|r| match all_share {
                true => Digest { len: r.log.leo() as usize, ..Digest::default() },
                false => Digest::of(r.log.iter()),
            });
            fp.replicas.push((b, digest));
        }
        out.push(fp);
    }
    out
}

/// The quantiles of the end-to-end latency the report gives (its CDF table; the measures' p50,
/// p99 and maximum are among them).
pub const E2E_QUANTILES: [f64; 8] = [0.0, 0.25, 0.5, 0.75, 0.9, 0.99, 0.999, 1.0];

/// End-to-end latencies: produce invoked to first delivery, per message.
pub struct Latencies {
    /// Nanoseconds at each of [`E2E_QUANTILES`], by `stats::percentile`'s nearest rank (selected,
    /// not sorted: a sort of millions of latencies for eight of them was a tenth of the report);
    /// empty if no message was consumed.
    pub quantiles_ns: Vec<u64>,
    /// Messages delivered at least once.
    pub consumed: usize,
    /// The longest acknowledgement-to-first-delivery delay (what `all_consumed` bounds).
    pub ack_to_consume_max_ns: u64,
}

/// The first deliveries' table (dense, see `ById`), walked with the produce ops in history
/// order: a message's first produce op (its first invoke) gives its latency, and every
/// acknowledged attempt its acknowledgement-to-delivery delay (the largest of those is the one
/// from the first acknowledgement). Latencies are pushed in history order, not id order: only
/// the selected quantiles are read. (A table of three times per id was 24 bytes of fresh memory
/// per message.)
pub fn e2e_latencies(produced: &[Produced], first: FirstDeliveries) -> Latencies {
    const TAKEN: u64 = FirstDeliveries::TAKEN;
    let FirstDeliveries { at: mut first, consumed } = first;
    let (mut e2e, mut ack_to_consume_max_ns) = (Vec::with_capacity(consumed), 0);
    for p in produced {
        let f = first.slot(p.id());
        if *f == FirstDeliveries::NONE {
            continue;
        }
        let at = *f & !TAKEN;
        if *f & TAKEN == 0 {
            e2e.push(Time(at).since(p.invoke).0);
            *f |= TAKEN;
        }
        if let (true, Some(c)) = (p.acked(), p.complete()) {
            ack_to_consume_max_ns = ack_to_consume_max_ns.max(at.saturating_sub(c.0));
        }
    }
    drop(first);
    let quantiles_ns = sim_core::stats::quantiles(&e2e, &E2E_QUANTILES);
    Latencies { quantiles_ns, consumed, ack_to_consume_max_ns }
}

impl Latencies {
    /// The latency at `q`, one of [`E2E_QUANTILES`], in milliseconds (0 if nothing was consumed,
    /// as `stats::percentile_ms` of no samples).
    pub fn ms(&self, q: f64) -> f64 {
        let i = E2E_QUANTILES.iter().position(|&x| x == q).expect("one of E2E_QUANTILES");
        self.quantiles_ns.get(i).map_or(0.0, |&ns| ns as f64 / 1e6)
    }
}

pub fn report(config: &Config, run: &RunView<'_, Node>) -> ModelReport {
    let parts = config.partition_count as u64;
    // One pass over the history. The produce ops are copied, into a vector sized before it is
    // filled (growing it copied it into fresh memory, page by page; pages past the last one
    // written are never touched); the successful polls are kept aside, their deliveries read in
    // place from their replies.
    let history = run.history();
    let mut produced = Vec::with_capacity(history.len());
    let mut polls = Vec::new();
    for h in history {
        match (h.kind, h.outcome, &h.reply) {
            (0, ..) => produced.push(Produced::new(
                h.op,
                h.value,
                (h.key % parts) as u32,
                h.client.0,
                h.invoke,
                h.complete.get(),
                h.outcome == Some(Outcome::Ok),
            )),
            (_, Some(Outcome::Ok), Reply::Values(_)) if h.complete.is_some() => polls.push(h),
            _ => {}
        }
    }
    let fparts = final_partitions(config, run);
    // Message ids are op ids plus one: every one is below the history's length plus one.
    let id_end = history.len() as u64 + 1;
    let at = Index::new(&fparts, id_end);
    // One walk over the polls' deliveries, and one over what reached the sink: for exactly-once
    // the committed transactional outputs, otherwise those same deliveries (in the same walk).
    let delivery = config.delivery;
    let mut polled = Polled::new(id_end);
    let mut sink = Sink::new(&fparts, id_end);
    if delivery == crate::Delivery::ExactlyOnce {
        poll_deliveries(&polls).for_each(|d| polled.add(d, &fparts));
        transactional_outputs(&fparts).for_each(|d| sink.add(d));
    } else {
        poll_deliveries(&polls).for_each(|d| {
            polled.add(d, &fparts);
            sink.add(d);
        });
    }
    drop(polls);
    let mut r = ModelReport::default();
    let (loss, inversions) = acked_sends(&produced, &at);
    r.checks.push(no_acked_loss_given(&loss));
    r.checks.push(no_truncated_reads(&polled));
    let order_inversions = inversions.inversions;
    r.checks.push(order_given(inversions, &polled));
    // With a final read the consumers polled through the settle phase: every message
    // acknowledged before the load stopped is owed (Jepsen's final-read check), not only those
    // `consume_within` before.
    let final_read = run.sim.metrics().counter(sim_core::workload::FINAL_READ_COUNTER) > 0;
    let horizon = (run.main_end, if final_read { sim_core::Duration::ZERO } else { config.consume_within });
    let dup_log = log_duplicates(&fparts, &at);
    r.checks.push(no_duplicates(delivery, &sink, dup_log, &fparts));
    r.checks.push(convergence(&fparts));
    r.checks.push(all_consumed(delivery, &produced, &sink, &polled, &at, horizon));
    let (dup_delivered, skipped_n) = (sink.dupes, skipped(&sink, &fparts));
    let committed_n = at.len();
    let (acked, lost) = (loss.acked, loss.lost.len());
    drop(loss);
    // Freed before the latencies are selected: the phase's peak memory is the sum of what is
    // alive at once.
    drop((at, fparts, sink));
    let latency = e2e_latencies(&produced, polled.first);
    drop(produced);
    let metrics = run.sim.metrics();
    let m = &mut r.measures;
    m.insert("e2e_latency_p50_ms".into(), latency.ms(0.5));
    m.insert("e2e_latency_p99_ms".into(), latency.ms(0.99));
    m.insert("e2e_latency_max_ms".into(), latency.ms(1.0));
    m.insert("messages_consumed".into(), latency.consumed as f64);
    m.insert("ack_to_consume_max_ms".into(), latency.ack_to_consume_max_ns as f64 / 1e6);
    m.insert("messages_committed".into(), committed_n as f64);
    m.insert("acked_messages".into(), acked as f64);
    m.insert("acked_lost".into(), lost as f64);
    m.insert("duplicates_delivered".into(), dup_delivered as f64);
    m.insert("duplicates_in_log".into(), dup_log as f64);
    m.insert("order_inversions".into(), order_inversions as f64);
    m.insert("messages_skipped".into(), skipped_n as f64);
    m.insert("consumer_lag_max".into(), metrics.gauges.get("consumer_lag").map_or(0.0, |g| g.1.max(0.0)));
    for c in [
        "leader_changes",
        "isr_shrinks",
        "isr_expands",
        "truncations",
        "truncated_entries",
        "controller_changes",
        "rebalances",
        "recovered_entries",
        "unclean_elections",
    ] {
        m.insert(c.into(), metrics.counter(c) as f64);
    }

    // The time axis: every leader change, ISR change and truncation.
    let mut events = Vec::new();
    for (_, a) in run.servers() {
        if let Node::Broker(b) = a {
            events.extend(b.events.iter().copied());
        }
    }
    events.sort_by_key(|e| (e.at, e.partition));
    // Event logs: HTML tables (a line through events of different partitions would mean nothing).
    let mut leaders = Table::new("leader_changes", ["t_s", "partition", "leader", "leader_epoch"], Vec::new());
    let mut isr = Table::new("isr_changes", ["t_s", "partition", "isr_size", "change"], Vec::new());
    let mut truncs = Table::new("truncations", ["t_s", "partition", "broker", "entries_removed"], Vec::new());
    let mut ctl = Table::new("controller_changes", ["t_s", "broker"], Vec::new());
    for e in events {
        let t = e.at.as_secs_f64();
        let p = e.partition as f64;
        match e.kind {
            EventKind::LeaderChange { leader, epoch } => {
                leaders.rows.push(vec![t, p, leader.map_or(-1.0, |l| l as f64), epoch as f64])
            }
            EventKind::IsrShrink { size } => isr.rows.push(vec![t, p, size as f64, -1.0]),
            EventKind::IsrExpand { size } => isr.rows.push(vec![t, p, size as f64, 1.0]),
            EventKind::Truncation { broker, removed } => truncs.rows.push(vec![t, p, broker as f64, removed as f64]),
            EventKind::ControllerChange { broker } => ctl.rows.push(vec![t, broker as f64]),
        }
    }
    let rows = E2E_QUANTILES.iter().map(|&q| vec![q * 100.0, latency.ms(q)]).collect();
    let cdf = Table::new("e2e_latency_cdf", ["percentile", "ms"], rows).curve(
        "percentile",
        Axis::new("percentile", "").nines(),
        &["ms"],
        Axis::new("produce to consume latency", "ms").log10(),
    );
    r.tables.extend([leaders, isr, truncs, ctl, cdf]);
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every message id of these tests is below it.
    const IDS: u64 = 100;

    fn data(id: u64) -> Entry {
        Entry::new(1, Payload::Data { id, producer: 0, seq: 0 })
    }
    fn part(ids: &[u64]) -> FinalPartition {
        let log: Vec<Entry> = ids.iter().map(|&i| data(i)).collect();
        FinalPartition {
            committed: Committed::of(&log),
            replicas: vec![(0, Some(Digest::of(&log))), (1, Some(Digest::of(&log)))],
            roles: Vec::new(),
        }
    }
    fn produced(id: u64, t: u64) -> Produced {
        sent(id, id - 1, 9, 0, t)
    }
    /// An acknowledged send of message `id` by op `op` of `client` to `partition`, invoked at `t`.
    fn sent(id: u64, op: u64, client: u32, partition: u32, t: u64) -> Produced {
        Produced::new(OpId::new(op), id, partition, client, Time(t), Some(Time(t + 5)), true)
    }

    #[test]
    fn order_fails_on_a_reordered_producer_stream() {
        let ps = [produced(1, 10), produced(2, 20)];
        let none = Polled::new(IDS);
        assert!(order(&ps, &none, &Index::new(&[part(&[1, 2])], IDS)).passed);
        let c = order(&ps, &none, &Index::new(&[part(&[2, 1])], IDS));
        assert!(!c.passed, "{}", c.detail);
        assert!(c.detail.starts_with("1 acknowledged"), "{}", c.detail);
    }

    /// A produce op packed in 32 bytes reads back as it was made, at the edges of its fields.
    #[test]
    fn produced_reads_back_what_it_was_made_of() {
        assert_eq!(std::mem::size_of::<Produced>(), 32);
        let max = u32::MAX as u64;
        for (op, id, client, complete, acked) in [
            (0, 1, 0, None, false),
            (max, max, (1 << 31) - 1, Some(Time(u64::MAX - 1)), true),
            (7, 3, 5, Some(Time(0)), false),
            (7, 3, 5, Some(Time(9)), true),
        ] {
            let p = Produced::new(OpId::new(op), id, 4, client, Time(2), complete, acked);
            assert_eq!((p.op(), p.id(), p.partition, p.client(), p.invoke), (op, id, 4, client, Time(2)));
            assert_eq!((p.complete(), p.acked()), (complete, acked));
        }
    }

    /// The index packs a place in 8 bytes and gives back each id's first copy: lowest partition,
    /// then lowest offset.
    #[test]
    fn index_gives_each_id_its_first_place() {
        let logs = [part(&[5, 6]), part(&[1, 2, 3]), part(&[4, 7, 3, 1]), part(&[9])];
        let at = Index::new(&logs, IDS);
        assert_eq!(std::mem::size_of::<Index>(), std::mem::size_of::<(Vec<u64>, usize, u64)>());
        let want =
            [(1, (1, 0)), (2, (1, 1)), (3, (1, 2)), (4, (2, 0)), (5, (0, 0)), (6, (0, 1)), (7, (2, 1)), (9, (3, 0))];
        for (id, place) in want {
            assert_eq!(at.get(id), Some(place), "id {id}");
        }
        assert_eq!((at.get(8), at.get(IDS - 1), at.len()), (None, None, 8));
    }

    /// A committed log in 32-bit ids reads back every id it was given, up to the largest a
    /// history can make, and a commit entry as no data; an id past 32 bits is refused, not cut.
    #[test]
    fn committed_ids_read_back_at_the_edges_of_32_bits() {
        let commit = Entry::new(1, Payload::Commit { offset: 0, generation: 1, from: crate::log::NO_CAS });
        let mut c = Committed::with_capacity(4);
        for e in [data(1), commit, data(u64::from(u32::MAX)), data(7)] {
            c.push(&e);
        }
        assert_eq!((c.len(), c.data_len()), (4, 3));
        assert_eq!(
            [c.id(0), c.id(1), c.id(2), c.id(3), c.id(4)],
            [Some(1), None, Some(u64::from(u32::MAX)), Some(7), None]
        );
        assert_eq!(c.data().collect::<Vec<_>>(), [(0, 1), (2, u64::from(u32::MAX)), (3, 7)]);
        let past = std::panic::catch_unwind(|| Committed::default().push(&data(u64::from(u32::MAX) + 1)));
        assert!(past.is_err(), "an id past 32 bits must not be truncated");
    }

    /// Two producers' streams interleaved in time over two partitions: the inversions are found
    /// per (producer, partition) stream, and reported in (producer, partition, send time) order.
    #[test]
    fn send_order_judges_each_stream_apart_and_reports_in_stream_order() {
        let p = |id: u64, client: u32, partition: u32, t: u64| sent(id, id - 1, client, partition, t);
        // Sent in time order: ids 1..=8. Partition 0 holds 2, 1, 4, 3 (client 5 wrote 1 and 2,
        // client 6 wrote 3 and 4); partition 1 holds 6, 5, 7, 8 (client 5 wrote 5 and 6; client 6
        // wrote 7 and 8, in order).
        let ps = [p(1, 5, 0, 10), p(3, 6, 0, 20), p(5, 5, 1, 30), p(2, 5, 0, 40), p(7, 6, 1, 50)];
        let ps = [&ps[..], &[p(4, 6, 0, 60), p(6, 5, 1, 70), p(8, 6, 1, 80)]].concat();
        let logs = [part(&[2, 1, 4, 3]), part(&[6, 5, 7, 8])];
        let s = send_order_inversions(&ps, &Index::new(&logs, IDS));
        // Four streams of two messages: 4 pairs; inverted: client 5 in both partitions, client 6
        // in partition 0.
        assert_eq!((s.inversions, s.pairs), (3, 4));
        assert_eq!(s.blamed.iter().map(|b| b.op.0).collect::<Vec<_>>(), [1, 5, 3], "ops of ids 2, 6, 4");
        assert!(
            s.example.starts_with("; e.g. client n5, partition 0: the message of op 0 (id 1) sent before"),
            "{}",
            s.example
        );
    }

    /// Sends sharing an invoke time out of id order (a retry invoked with a fresh send), streams
    /// interleaved: the per-stream insertion sort finds exactly what sorting every send by
    /// (sent at, id) and walking each stream finds (computed here by hand, from that definition).
    #[test]
    fn send_order_sorts_ties_within_a_stream_by_id() {
        let p = |id: u64, op: u64, client: u32, t: u64| sent(id, op, client, 0, t);
        // History (invoke) order; client 5: ids 3 and 2 both sent at 10 (2 is a retry, op 7),
        // then 4 at 20; client 6: id 1 at 5, id 5 at 10.
        let ps = [p(1, 0, 6, 5), p(3, 2, 5, 10), p(5, 4, 6, 10), p(2, 7, 5, 10), p(4, 3, 5, 20)];
        // Offsets: 1 -> 0, 2 -> 1, 3 -> 2, 5 -> 3, 4 -> 4. In send order, client 5's stream is
        // 2 (offset 1), 3 (2), 4 (4): in order; client 6's is 1 (0), 5 (3): in order.
        let s = send_order_inversions(&ps, &Index::new(&[part(&[1, 2, 3, 5, 4])], IDS));
        assert_eq!((s.inversions, s.pairs), (0, 3));
        // Now 3 below 2: client 5's pair (2, 3) is inverted; nothing else.
        let s = send_order_inversions(&ps, &Index::new(&[part(&[1, 3, 2, 5, 4])], IDS));
        assert_eq!((s.inversions, s.pairs), (1, 3));
        assert_eq!(s.blamed.iter().map(|b| b.op.0).collect::<Vec<_>>(), [2], "the op of id 3");
        assert!(s.example.starts_with("; e.g. client n5, partition 0: the message of op 1 (id 2) sent before the message of op 2 (id 3) but at offset 2 > 1"), "{}", s.example);
    }

    /// A history whose invoke times go back within a stream is judged by sorting every send
    /// (`send_order_sorted`), and gives what the same sends in invoke order give (the one-pass
    /// walk). Worked by hand for the log holding the ids in reverse (offsets: 4 -> 0, 5 -> 1,
    /// 3 -> 2, 2 -> 3, 1 -> 4): client 5 sent 2 (offset 3), 3 (2), 4 (0), two inversions;
    /// client 6 sent 1 (4), 5 (1), one.
    #[test]
    fn send_order_of_a_history_out_of_invoke_order_is_the_sorted_one() {
        let p = |id: u64, op: u64, client: u32, t: u64| sent(id, op, client, 0, t);
        let ps = [p(1, 0, 6, 5), p(3, 2, 5, 10), p(5, 4, 6, 10), p(2, 7, 5, 10), p(4, 3, 5, 20)];
        let back: Vec<Produced> = ps.iter().rev().cloned().collect();
        let ops = |s: &SendOrder| s.blamed.iter().map(|b| b.op.0).collect::<Vec<_>>();
        for log in [[1, 2, 3, 5, 4], [1, 3, 2, 5, 4], [4, 5, 3, 2, 1]] {
            let at = Index::new(&[part(&log)], IDS);
            let (fwd, rev) = (send_order_inversions(&ps, &at), send_order_inversions(&back, &at));
            assert_eq!(
                (fwd.inversions, fwd.pairs, &fwd.example, ops(&fwd)),
                (rev.inversions, rev.pairs, &rev.example, ops(&rev))
            );
        }
        let s = send_order_inversions(&back, &Index::new(&[part(&[4, 5, 3, 2, 1])], IDS));
        assert_eq!((s.inversions, s.pairs, ops(&s)), (3, 3, vec![2, 3, 4]), "ops of ids 3, 4 (client 5), 5 (client 6)");
        assert!(s.example.starts_with("; e.g. client n5, partition 0: the message of op 1 (id 2) sent before the message of op 2 (id 3) but at offset 3 > 2"), "{}", s.example);
    }

    /// A message in the logs twice: the index holds its first copy (lowest partition, then
    /// lowest offset), and counts it once.
    #[test]
    fn index_keeps_the_first_copy_of_a_message() {
        let at = Index::new(&[part(&[7, 3]), part(&[3, 9, 3])], IDS);
        assert_eq!((at.get(3), at.get(9), at.get(4), at.get(1_000)), (Some((0, 1)), Some((1, 1)), None, None));
        assert_eq!(at.len(), 3);
    }

    #[test]
    fn order_fails_on_a_backwards_read_within_a_poll() {
        let d = |offset, id| Delivered { partition: 0, offset, id, client: 9, poll: 4, at: Time(1) };
        let logs = [part(&[1, 2])];
        let polled = Polled::of([d(1, 2), d(0, 1)].into_iter(), &logs, IDS);
        assert!(!order(&[], &polled, &Index::new(&logs, IDS)).passed);
    }

    #[test]
    fn convergence_fails_on_divergent_or_missing_replicas() {
        assert!(convergence(&[part(&[1, 2])]).passed);
        let mut fp = part(&[1, 2]);
        fp.replicas[1].1 = Some(Digest::of([data(1)]));
        assert!(!convergence(std::slice::from_ref(&fp)).passed);
        fp.replicas[1].1 = Some(Digest::of([data(1), data(3)]));
        assert!(!convergence(std::slice::from_ref(&fp)).passed, "same length, other entries");
        fp.replicas[1].1 = None;
        assert!(!convergence(&[fp]).passed);
    }

    #[test]
    fn all_consumed_fails_on_an_acknowledged_message_no_consumer_read() {
        use crate::Delivery::{self, AtLeastOnce, AtMostOnce};
        let d = |offset, id| Delivered { partition: 0, offset, id, client: 9, poll: offset, at: Time(1) };
        let ps = [produced(1, 10), produced(2, 20), produced(3, 30), produced(4, 1_000)];
        let logs = [part(&[1, 2, 3, 4])];
        let at = Index::new(&logs, IDS);
        let horizon = (Time(500), sim_core::Duration(0));
        // What reached the sink; no poll read a message the final logs do not hold.
        let check = |delivery: Delivery, sink: &[Delivered], at: &Index, logs: &[FinalPartition]| {
            let sink = Sink::of(sink.iter().copied(), logs, IDS);
            all_consumed(delivery, &ps, &sink, &Polled::new(IDS), at, horizon)
        };
        // Message 4 was acknowledged after the horizon: not owed yet.
        let all = check(AtLeastOnce, &[d(0, 1), d(1, 2), d(2, 3)], &at, &logs);
        assert!(all.passed && all.count.judged == 3, "{all:?}");
        assert_eq!(all.count.skipped_total(), 1);
        // Message 2 never delivered: fails.
        let c = check(AtLeastOnce, &[d(0, 1), d(2, 3)], &at, &logs);
        assert!(!c.passed && c.count.violations == Some(1), "{c:?}");
        assert!(c.detail.contains("the message of op 1 (id 2)"), "{}", c.detail);
        assert_eq!(c.blamed.iter().map(|b| b.op.0).collect::<Vec<_>>(), [1], "the producer of message 2");
        // ... which at-most-once delivery may drop by design (a hole below a later delivery).
        let c = check(AtMostOnce, &[d(0, 1), d(2, 3)], &at, &logs);
        assert!(c.passed && c.count.judged == 2, "{c:?}");
        // A message lost from the logs is no_acked_loss's to judge; nothing consumed at all fails.
        let empty = [part(&[])];
        let c = check(AtLeastOnce, &[], &Index::new(&empty, IDS), &empty);
        assert!(c.is_vacuous() && c.count.skipped_total() == 4, "{c:?}");
        let c = check(AtLeastOnce, &[], &at, &logs);
        assert!(!c.passed && c.count.violations == Some(3), "{c:?}");
    }

    /// Messages never consumed are reported in id order, whatever the history's order.
    #[test]
    fn all_consumed_reports_the_missing_in_id_order() {
        let ps = [produced(3, 30), produced(1, 10), produced(2, 20)];
        let logs = [part(&[1, 2, 3])];
        let horizon = (Time(500), sim_core::Duration(0));
        let (sink, polled) = (Sink::new(&logs, IDS), Polled::new(IDS));
        let c = all_consumed(crate::Delivery::AtLeastOnce, &ps, &sink, &polled, &Index::new(&logs, IDS), horizon);
        assert_eq!(c.count.violations, Some(3), "{c:?}");
        assert!(c.detail.starts_with("e.g. the message of op 0 (id 1) at partition 0 offset 0"), "{}", c.detail);
        assert_eq!(c.blamed.iter().map(|b| b.op.0).collect::<Vec<_>>(), [0, 1, 2]);
    }

    /// Exactly-once outputs are read off the committed logs: a transactional commit at offset 3
    /// moved past `[0, 3)`, which holds messages 1 and 2 and a plain commit; a transactional
    /// commit past the log's end yields what the log holds; a plain commit yields nothing.
    #[test]
    fn transactional_outputs_are_the_data_each_committed_commit_moved_past() {
        let commit = |from, offset| Entry::new(1, Payload::Commit { offset, generation: 1, from });
        let log = [data(1), data(2), commit(crate::log::NO_CAS, 2), commit(0, 3), data(4), commit(4, 9)];
        let parts = [part(&[]), FinalPartition { committed: Committed::of(log), ..FinalPartition::default() }];
        let out: Vec<(u32, u64, u64, u64)> =
            transactional_outputs(&parts).map(|d| (d.partition, d.offset, d.id, d.poll)).collect();
        assert_eq!(out, [(1, 0, 1, 3), (1, 1, 2, 3), (1, 4, 4, 5)]);
    }

    #[test]
    fn skipped_counts_holes_below_the_last_read() {
        let d = |offset, id| Delivered { partition: 0, offset, id, client: 9, poll: offset, at: Time(1) };
        let logs = [part(&[1, 2, 3, 4, 5])];
        assert_eq!(skipped(&Sink::of([d(0, 1), d(3, 4)].into_iter(), &logs, IDS), &logs), 2);
        let sink = Sink::of([d(0, 1), d(1, 2)].into_iter(), &logs, IDS);
        assert_eq!(skipped(&sink, &logs), 0, "not yet read is not skipped");
    }

    /// Two messages, the first delivered twice: the first delivery counts, from the invoke.
    #[test]
    fn e2e_latencies_run_from_the_invoke_to_the_first_delivery() {
        let d = |id, at| Delivered { partition: 0, offset: id, id, client: 9, poll: at, at: Time(at) };
        // Invoked at 10 and 20, acknowledged at 15 and 25 (`produced`); delivered at 40 and 30
        // (id 1: the later poll first in the history), 50 (id 2).
        let polled = Polled::of([d(1, 40), d(1, 30), d(2, 50)].into_iter(), &[], IDS);
        let l = e2e_latencies(&[produced(1, 10), produced(2, 20)], polled.first);
        assert_eq!(l.quantiles_ns, [20, 20, 20, 30, 30, 30, 30, 30], "latencies 20 and 30 at E2E_QUANTILES");
        assert_eq!(l.consumed, 2);
        assert_eq!(l.ack_to_consume_max_ns, 25, "id 2: acknowledged at 25, delivered at 50");
        let none = e2e_latencies(&[produced(1, 10)], Polled::new(IDS).first);
        assert!(none.quantiles_ns.is_empty() && none.consumed == 0 && none.ack_to_consume_max_ns == 0);
        assert_eq!(none.ms(0.5), 0.0);
    }

    /// The one-walk tallies ([`Polled`], [`Sink`]) against each check's plain definition, on
    /// random logs (duplicates, commit entries) and random reads (some of offsets the final logs
    /// hold otherwise or not at all, some repeated, some backwards within a poll).
    #[test]
    fn one_walk_tallies_match_their_definitions_on_random_input() {
        use std::collections::{BTreeMap, BTreeSet};
        let mut rng = sim_core::rng::Prng::new(7, sim_core::rng::Stream::Workload);
        for _ in 0..200 {
            let logs: Vec<FinalPartition> = (0..1 + rng.below(3))
                .map(|_| {
                    let log: Vec<Entry> = (0..rng.below(12))
                        .map(|_| match rng.below(5) {
                            0 => Entry::new(1, Payload::Commit { offset: 0, generation: 1, from: crate::log::NO_CAS }),
                            _ => data(1 + rng.below(20)),
                        })
                        .collect();
                    FinalPartition { committed: Committed::of(&log), ..FinalPartition::default() }
                })
                .collect();
            let reads: Vec<Delivered> = (0..rng.below(30))
                .map(|i| Delivered {
                    partition: rng.below(logs.len() as u64 + 1) as u32,
                    offset: rng.below(14),
                    id: 1 + rng.below(20),
                    client: 0,
                    poll: i / 4,
                    at: Time(rng.below(100)),
                })
                .collect();
            let (polled, sink) =
                (Polled::of(reads.iter().copied(), &logs, IDS), Sink::of(reads.iter().copied(), &logs, IDS));
            // no_truncated_reads: a read is good when the final log holds its id at its offset.
            let holds =
                |d: &Delivered| logs.get(d.partition as usize).and_then(|l| l.committed.id(d.offset)) == Some(d.id);
            let bad: Vec<(u64, u64)> = reads.iter().filter(|d| !holds(d)).map(|d| (d.poll, d.offset)).collect();
            assert_eq!(polled.truncated.iter().map(|d| (d.poll, d.offset)).collect::<Vec<_>>(), bad);
            assert_eq!(polled.reads, reads.len());
            // Order within a poll: consecutive reads of one (poll, partition).
            let same = |w: &&[Delivered]| w[0].poll == w[1].poll && w[0].partition == w[1].partition;
            let pairs: Vec<&[Delivered]> = reads.windows(2).filter(same).collect();
            let inverted = pairs.iter().filter(|w| w[1].offset <= w[0].offset).count() as u64;
            assert_eq!((polled.pairs, polled.inversions), (pairs.len() as u64, inverted));
            // First deliveries.
            let mut first: BTreeMap<u64, u64> = BTreeMap::new();
            for d in &reads {
                let f = first.entry(d.id).or_insert(d.at.0);
                *f = (*f).min(d.at.0);
            }
            assert_eq!(polled.first.consumed, first.len());
            for id in 0..IDS {
                assert_eq!(polled.first.at.get(id).filter(|&t| t != FirstDeliveries::NONE), first.get(&id).copied());
            }
            // The sink: count, duplicates, which ids, the skipped holes below each last read.
            let ids: BTreeSet<u64> = reads.iter().map(|d| d.id).collect();
            assert_eq!((sink.n, sink.dupes), (reads.len(), (reads.len() - ids.len()) as u64));
            assert!((0..IDS).all(|id| sink.consumed(id) == ids.contains(&id)));
            let mut skipped_ref = 0;
            for (p, fp) in logs.iter().enumerate() {
                let mine = || reads.iter().filter(|d| d.partition as usize == p);
                let Some(last) = mine().map(|d| d.offset).max() else { continue };
                let read: BTreeSet<u64> = mine().map(|d| d.offset).collect();
                skipped_ref += fp.committed.data().filter(|&(o, _)| o < last && !read.contains(&o)).count() as u64;
            }
            assert_eq!(skipped(&sink, &logs), skipped_ref);
            // Extra copies in the logs.
            let logged: Vec<u64> = logs.iter().flat_map(|fp| fp.committed.data().map(|(_, id)| id)).collect();
            let distinct = logged.iter().collect::<BTreeSet<_>>().len();
            assert_eq!(log_duplicates(&logs, &Index::new(&logs, IDS)), (logged.len() - distinct) as u64);
        }
    }

    #[test]
    fn duplicates_count_extra_copies() {
        let d = |offset, id| Delivered { partition: 0, offset, id, client: 9, poll: offset, at: Time(1) };
        let logs = [part(&[1, 2, 1])];
        let sink = Sink::of([d(0, 1), d(0, 1), d(1, 2), d(0, 1)].into_iter(), &logs, IDS);
        assert_eq!((sink.dupes, log_duplicates(&logs, &Index::new(&logs, IDS))), (2, 1));
    }
}
