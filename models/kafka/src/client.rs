//! A client node: a producer (the workload's `produce` ops) and a consumer-group member (the
//! workload's `poll` ops), with its metadata cache of partition leaders.

use crate::msg::*;
use crate::{Delivery, Node, Params};
use sim_core::{Ctx, NodeId, Op, OpId, Outcome, Reply, ThinVec, Time, TimerId};
use std::collections::{BTreeMap, VecDeque};
use std::rc::Rc;

type C<'a, 'b> = &'a mut Ctx<'b, Node>;

pub struct Client {
    p: Rc<Params>,
    /// Per partition: the idempotent producer's id (0: not idempotent; a new one per incarnation,
    /// and after a batch is given up, as Kafka bumps the producer epoch), the next sequence number,
    /// the messages waiting, and the batches in flight (at most `producer_max_in_flight`).
    producers: Vec<PartitionProducer>,
    leaders: Vec<(Option<u32>, u32)>,
    /// The partition of every batch in flight, by request: a produce answer names only its
    /// request, and scanning every partition for it cost O(partitions) per answer.
    batch_of: BatchIndex,
    /// Emptied item lists of finished batches, reused by the next ones (a list allocated and
    /// freed per batch, 83 k a second on `kafka_50k`).
    spare_items: Vec<Vec<Queued>>,
    /// The id lists of finished batches that no request holds any more, reused likewise (an
    /// `Rc<[u64]>` made per batch was a third of `send_next_batch`'s instructions).
    spare_ids: Vec<Rc<Vec<u64>>>,
    next_req: u64,
    metadata_at: Option<Time>,
    /// The broker the next metadata request goes to (`None`: not asked yet; the first is the
    /// client's id modulo the brokers, so clients start on different brokers).
    metadata_next: Option<u32>,
    pub consumer: Option<Consumer>,
}

/// The ids of a new batch's `items`, in a `spare` list if there is one.
fn ids_of(spare: &mut Vec<Rc<Vec<u64>>>, items: &[Queued]) -> Rc<Vec<u64>> {
    let mut ids = spare.pop().unwrap_or_default();
    let list = Rc::get_mut(&mut ids).expect("a spare id list is held by no request");
    list.clear();
    list.extend(items.iter().map(|q| q.id));
    ids
}

/// The newer of two controllers `(controller epoch, id)`.
fn newer(a: Option<(u64, u32)>, b: Option<(u64, u32)>) -> Option<(u64, u32)> {
    a.max(b)
}

#[derive(Default)]
struct PartitionProducer {
    producer: u64,
    next_seq: u32,
    queue: VecDeque<Queued>,
    batches: Vec<Batch>,
    /// A batch was given up: send nothing new until the batches in flight are resolved, then take
    /// a new producer id (Kafka's epoch bump waits the same way), so no old batch lands after a
    /// new one.
    resetting: bool,
}

impl PartitionProducer {
    /// Nothing can be sent: `in_flight` batches are in flight, and no reset waits for them.
    fn at_limit(&self, in_flight: usize) -> bool {
        !self.resetting && self.batches.len() >= in_flight
    }

    /// The reset of a producer that gave a batch up: a new producer id, sequences from 0. Rare,
    /// out of line.
    #[cold]
    #[inline(never)]
    fn reset(&mut self, ctx: C) {
        self.resetting = false;
        self.producer = ctx.rng().next_u64() | 1;
        self.next_seq = 0;
        ctx.count("producer_resets", 1);
    }
}

#[derive(Clone, Copy)]
struct Queued {
    op: OpId,
    id: u64,
    deadline: Time,
}

/// The partition of every batch in flight, by request. Requests are numbered in order, so a
/// window of slots from the oldest request with a batch in flight (`NO_BATCH` where there is
/// none: a consumer's request, or a batch that finished) does what a map did, without one
/// node allocated and rebalanced per batch (a fifth of a produce answer's instructions).
#[derive(Default)]
struct BatchIndex {
    base: u64,
    slots: VecDeque<u32>,
}

const NO_BATCH: u32 = u32::MAX;

impl BatchIndex {
    /// `req` must be newer than every request inserted before.
    fn insert(&mut self, req: u64, partition: u32) {
        if self.slots.is_empty() {
            self.base = req;
        }
        let at = usize::try_from(req - self.base).expect("a window of requests in memory");
        debug_assert!(at >= self.slots.len(), "request {req} inserted out of order");
        // Most often the next request: no gap to fill.
        if at != self.slots.len() {
            self.resize(at);
        }
        self.slots.push_back(partition);
    }
    /// Fills the gap before slot `at` (requests that were not batches): out of line.
    #[inline(never)]
    fn resize(&mut self, at: usize) {
        self.slots.resize(at, NO_BATCH);
    }
    fn get(&self, req: u64) -> Option<u32> {
        let at = usize::try_from(req.checked_sub(self.base)?).ok()?;
        self.slots.get(at).copied().filter(|&p| p != NO_BATCH)
    }
    fn remove(&mut self, req: u64) {
        if let Some(slot) =
            req.checked_sub(self.base).and_then(|at| usize::try_from(at).ok()).and_then(|at| self.slots.get_mut(at))
        {
            *slot = NO_BATCH;
        }
        while self.slots.front() == Some(&NO_BATCH) {
            self.slots.pop_front();
            self.base += 1;
        }
    }
}

struct Batch {
    req: u64,
    producer: u64,
    base_seq: u32,
    items: Vec<Queued>,
    /// The messages' ids, shared by every attempt's request.
    ids: Rc<Vec<u64>>,
    attempt: u32,
    timer: Option<TimerId>,
    timed_out: bool,
}

pub struct Consumer {
    /// The group coordinator `(controller epoch, id)` heartbeats go to, learned from metadata
    /// answers, from `NotCoordinator` and from the sender of an assignment; `None`: unknown,
    /// so heartbeats go to every voter until one of those names it.
    pub coordinator: Option<(u64, u32)>,
    pub generation: u64,
    pub assigned: Vec<u32>,
    positions: BTreeMap<u32, Position>,
    queue: VecDeque<OpId>,
    poll: Option<Poll>,
    next_poll: u64,
}

#[derive(Clone, Copy, Default)]
struct Position {
    /// Next offset to fetch (`None`: read the committed offset first).
    next: Option<u64>,
    /// The committed offset as this consumer knows it (the compare-and-set's expected value).
    committed: u64,
    /// What was last sent as a commit (auto-commit skips unchanged partitions).
    commit_sent: u64,
}

struct Poll {
    id: u64,
    op: OpId,
    waiting: BTreeMap<u64, u32>,
    got: Vec<Got>,
    timer: Option<TimerId>,
    /// Still waiting for fetch answers.
    fetching: bool,
    committing: BTreeMap<u64, u32>,
}

struct Got {
    partition: u32,
    from: u64,
    next: u64,
    records: Vec<(u64, u64)>,
    ok: bool,
}

impl Client {
    pub fn new(p: Rc<Params>, consumes: bool) -> Client {
        let parts = p.config.partition_count as usize;
        let leaders = (0..p.config.partition_count).map(|q| (Some(p.replicas_of(q)[0]), 1)).collect();
        Client {
            p,
            producers: (0..parts).map(|_| PartitionProducer::default()).collect(),
            leaders,
            batch_of: BatchIndex::default(),
            spare_items: Vec::new(),
            spare_ids: Vec::new(),
            next_req: 1,
            metadata_at: None,
            metadata_next: None,
            consumer: consumes.then(|| Consumer {
                coordinator: None,
                generation: 0,
                assigned: Vec::new(),
                positions: BTreeMap::new(),
                queue: VecDeque::new(),
                poll: None,
                next_poll: 1,
            }),
        }
    }

    pub fn on_start(&mut self, ctx: C) {
        if self.p.config.idempotent {
            for pp in &mut self.producers {
                pp.producer = ctx.rng().next_u64() | 1;
            }
        }
        ctx.set_timer(self.p.config.metadata_refresh, Timer::MetadataRefresh);
        if self.consumer.is_some() {
            self.send_join(ctx);
            ctx.set_timer(self.p.config.consumer_heartbeat, Timer::ConsumerHeartbeat);
            if self.p.config.delivery == Delivery::AtLeastOnce {
                ctx.set_timer(self.p.config.auto_commit_interval, Timer::AutoCommit);
            }
        }
    }

    fn req(&mut self) -> u64 {
        self.next_req += 1;
        self.next_req
    }

    fn refresh_metadata(&mut self, ctx: C) {
        let now = ctx.now();
        if self.metadata_at.is_some_and(|t| now.since(t) < self.p.config.retry_backoff) {
            return;
        }
        self.metadata_at = Some(now);
        // One broker, as a Kafka client asks one node (its least loaded) and not every broker:
        // each refresh the next one, so one that is down or cut off costs one refresh.
        let brokers = self.p.broker_count;
        let b = self.metadata_next.unwrap_or(ctx.id().0 % brokers);
        self.metadata_next = Some((b + 1) % brokers);
        ctx.send(NodeId(b), Msg::Metadata);
    }

    pub fn on_op(&mut self, ctx: C, op: Op) {
        match op.kind {
            0 => self.on_produce_op(ctx, op),
            _ => self.on_poll_op(ctx, op),
        }
    }

    // ----- producer -----

    fn on_produce_op(&mut self, ctx: C, op: Op) {
        let partition = (op.key % self.p.config.partition_count as u64) as u32;
        let acks = self.p.config.acks;
        if acks == Acks::Zero {
            if let Some(l) = self.leaders[partition as usize].0 {
                let msg =
                    Msg::Produce { req: 0, partition, ids: Rc::new(vec![op.value]), producer: 0, base_seq: 0, acks };
                ctx.send(NodeId(l), msg);
            }
            ctx.complete(op.id, Outcome::Ok, Reply::None);
            return;
        }
        let deadline = ctx.now() + self.p.config.delivery_timeout;
        let pp = &mut self.producers[partition as usize];
        pp.queue.push_back(Queued { op: op.id, id: op.value, deadline });
        // Nearly always the message waits for a batch in flight to finish: tested here, not by a
        // call of `send_next_batch` that returns at once (its prologue was half of a produce op's
        // instructions in the client).
        if !pp.at_limit(self.p.config.producer_max_in_flight as usize) {
            self.send_next_batch(ctx, partition);
        }
    }

    /// Up to `producer_max_in_flight` batches in flight per partition (Kafka's
    /// `max.in.flight.requests.per.connection`); the messages that queue meanwhile go out together.
    /// With more than one in flight and no idempotence, a retried batch lands after a later one.
    fn send_next_batch(&mut self, ctx: C, partition: u32) {
        let now = ctx.now();
        let max = self.p.config.producer_batch_max as usize;
        let in_flight = self.p.config.producer_max_in_flight as usize;
        loop {
            let pp = &mut self.producers[partition as usize];
            if pp.resetting {
                if !pp.batches.is_empty() {
                    return;
                }
                pp.reset(ctx);
            }
            if pp.at_limit(in_flight) {
                return;
            }
            while pp.queue.front().is_some_and(|q| q.deadline <= now) {
                let q = pp.queue.pop_front().expect("front");
                ctx.complete(q.op, Outcome::Fail, Reply::None);
            }
            if pp.queue.is_empty() {
                return;
            }
            let n = pp.queue.len().min(max);
            let mut items = self.spare_items.pop().unwrap_or_default();
            if n == pp.queue.len() {
                // The whole queue, as nearly always: two slices copied, not a drain element by element.
                let (a, b) = pp.queue.as_slices();
                items.extend_from_slice(a);
                items.extend_from_slice(b);
                pp.queue.clear();
            } else {
                items.extend(pp.queue.drain(..n));
            }
            let ids = ids_of(&mut self.spare_ids, &items);
            let base_seq = pp.next_seq;
            if pp.producer != 0 {
                pp.next_seq += n as u32;
            }
            let producer = pp.producer;
            self.next_req += 1;
            let req = self.next_req;
            let pp = &mut self.producers[partition as usize];
            pp.batches.push(Batch { req, producer, base_seq, items, ids, attempt: 0, timer: None, timed_out: false });
            self.batch_of.insert(req, partition);
            self.send_batch(ctx, partition, req);
        }
    }

    /// Keeps a finished batch's lists (its items completed and drained) for the next batches:
    /// its ids only if no request in flight (a retry's earlier attempt) still holds them.
    fn recycle(&mut self, mut b: Batch) {
        debug_assert!(b.items.is_empty(), "a batch recycled with items to complete");
        self.spare_items.push(b.items);
        if Rc::get_mut(&mut b.ids).is_some() {
            self.spare_ids.push(b.ids);
        }
    }

    fn batch_mut(&mut self, partition: u32, req: u64) -> Option<&mut Batch> {
        self.producers[partition as usize].batches.iter_mut().find(|b| b.req == req)
    }

    fn send_batch(&mut self, ctx: C, partition: u32, req: u64) {
        let leader = self.leaders[partition as usize].0;
        let acks = self.p.config.acks;
        let timeout = self.p.config.request_timeout;
        let Some(b) = self.batch_mut(partition, req) else { return };
        b.attempt += 1;
        let attempt = b.attempt;
        match leader {
            Some(l) => {
                let msg = Msg::Produce {
                    req,
                    partition,
                    ids: b.ids.clone(),
                    producer: b.producer,
                    base_seq: b.base_seq,
                    acks,
                };
                ctx.send(NodeId(l), msg);
                b.timer = Some(ctx.set_timer(timeout, Timer::ProduceTimeout { req, attempt }));
            }
            None => self.no_leader(ctx, partition, req),
        }
    }

    /// A batch for a partition with no known leader: new metadata, and a retry after a backoff.
    #[cold]
    #[inline(never)]
    fn no_leader(&mut self, ctx: C, partition: u32, req: u64) {
        self.refresh_metadata(ctx);
        self.retry_later(ctx, partition, req);
    }

    /// Retries a batch after a backoff, or gives it up (each op: `Timeout` if some attempt may have
    /// landed, else `Fail`); an idempotent producer then moves on with a new producer id, as its
    /// sequence now has a gap.
    fn retry_later(&mut self, ctx: C, partition: u32, req: u64) {
        let now = ctx.now();
        let (retries, backoff) = (self.p.config.retries, self.p.config.retry_backoff);
        let Some(b) = self.batch_mut(partition, req) else { return };
        let deadline = b.items.iter().map(|q| q.deadline).min().unwrap_or(now);
        if b.attempt > retries || now + backoff >= deadline {
            let pp = &mut self.producers[partition as usize];
            let i = pp.batches.iter().position(|b| b.req == req).expect("batch");
            let mut b = pp.batches.remove(i);
            self.batch_of.remove(req);
            let outcome = if b.timed_out { Outcome::Timeout } else { Outcome::Fail };
            for q in b.items.drain(..) {
                ctx.complete(q.op, outcome, Reply::None);
            }
            if pp.producer != 0 && pp.producer == b.producer {
                pp.resetting = true;
            }
            self.recycle(b);
            return self.send_next_batch(ctx, partition);
        }
        b.timer = Some(ctx.set_timer(backoff, Timer::ProduceRetry { req }));
    }

    /// The partition whose in-flight batch is request `req`.
    fn batch_partition(&self, req: u64) -> Option<u32> {
        let p = self.batch_of.get(req);
        debug_assert_eq!(
            p,
            self.producers.iter().position(|pp| pp.batches.iter().any(|b| b.req == req)).map(|p| p as u32),
            "batch_of out of step with the batches in flight"
        );
        p
    }

    fn on_produce_resp(&mut self, ctx: C, req: u64, error: Option<ProduceError>) {
        let Some(partition) = self.batch_partition(req) else { return };
        let b = self.batch_mut(partition, req).expect("batch");
        if let Some(t) = b.timer.take() {
            ctx.cancel_timer(t);
        }
        match error {
            None => {
                let pp = &mut self.producers[partition as usize];
                let i = pp.batches.iter().position(|b| b.req == req).expect("batch");
                let mut b = pp.batches.remove(i);
                self.batch_of.remove(req);
                for q in b.items.drain(..) {
                    ctx.complete(q.op, Outcome::Ok, Reply::None);
                }
                self.recycle(b);
                self.send_next_batch(ctx, partition);
            }
            Some(e) => self.on_produce_error(ctx, partition, req, e),
        }
    }

    /// A batch the leader refused: counted, and retried after a backoff. Rare, out of line.
    #[cold]
    #[inline(never)]
    fn on_produce_error(&mut self, ctx: C, partition: u32, req: u64, e: ProduceError) {
        ctx.count(
            match e {
                ProduceError::NotLeader => "produce_not_leader",
                ProduceError::NotEnoughReplicas => "produce_not_enough_replicas",
                ProduceError::OutOfOrderSequence => "produce_out_of_order",
            },
            1,
        );
        if e == ProduceError::NotLeader {
            self.refresh_metadata(ctx);
        }
        self.retry_later(ctx, partition, req);
    }

    pub fn on_timer(&mut self, ctx: C, timer: Timer) {
        match timer {
            Timer::ProduceTimeout { req, attempt } => {
                let Some(partition) = self.batch_partition(req) else { return };
                let b = self.batch_mut(partition, req).expect("batch");
                if b.attempt != attempt || b.timer.is_none() {
                    return;
                }
                b.timed_out = true;
                b.timer = None;
                self.refresh_metadata(ctx);
                self.retry_later(ctx, partition, req);
            }
            Timer::ProduceRetry { req } => {
                let Some(partition) = self.batch_partition(req) else { return };
                self.batch_mut(partition, req).expect("batch").timer = None;
                self.send_batch(ctx, partition, req);
            }
            Timer::MetadataRefresh => {
                self.refresh_metadata(ctx);
                ctx.set_timer(self.p.config.metadata_refresh, Timer::MetadataRefresh);
            }
            Timer::ConsumerHeartbeat => {
                self.send_join(ctx);
                ctx.set_timer(self.p.config.consumer_heartbeat, Timer::ConsumerHeartbeat);
            }
            Timer::AutoCommit => {
                self.auto_commit(ctx);
                ctx.set_timer(self.p.config.auto_commit_interval, Timer::AutoCommit);
            }
            Timer::PollTimeout { poll } | Timer::CommitTimeout { poll } => {
                // The timer fired: never cancel it again.
                if let Some(p) = self.consumer.as_mut().and_then(|c| c.poll.as_mut()).filter(|p| p.id == poll) {
                    p.timer = None;
                }
                match timer {
                    Timer::PollTimeout { .. } => self.end_fetching(ctx, poll),
                    _ => self.finish_poll(ctx, poll),
                }
            }
            Timer::Processed { poll } => self.on_processed(ctx, poll),
            Timer::Tick => {}
        }
    }

    // ----- consumer -----

    /// A heartbeat to the group coordinator only, as Kafka's consumers send (each used to go to
    /// every voter, though only the controller reads it: with 4,096 clients, 2.27 M of a run's
    /// 3.55 M events). Producers that are not group members send none.
    fn send_join(&mut self, ctx: C) {
        let Some(c) = &self.consumer else { return };
        let msg = Msg::Join { generation: c.generation };
        match c.coordinator {
            Some((_, id)) => ctx.send(NodeId(id), msg),
            None => ctx.broadcast(self.p.voters().map(NodeId), msg),
        }
    }

    /// A newer coordinator heard of (`None` from a `NotCoordinator`: the one we had is not it).
    fn learn_coordinator(&mut self, controller: Option<(u64, u32)>, from_not_coordinator: Option<u32>) {
        let Some(c) = &mut self.consumer else { return };
        match from_not_coordinator {
            Some(from) if controller.is_none_or(|k| Some(k) <= c.coordinator) => {
                if c.coordinator.is_some_and(|(_, id)| id == from) {
                    c.coordinator = None;
                }
            }
            _ => c.coordinator = newer(c.coordinator, controller),
        }
    }

    fn on_assignment(&mut self, ctx: C, from: NodeId, generation: u64, partitions: Vec<u32>) {
        // Only the controller assigns; its generations start at its epoch << 20.
        self.learn_coordinator(Some((generation >> 20, from.0)), None);
        let Some(c) = &mut self.consumer else { return };
        if generation <= c.generation {
            return;
        }
        c.generation = generation;
        c.positions.retain(|p, _| partitions.contains(p));
        for &p in &partitions {
            c.positions.entry(p).or_default();
        }
        c.assigned = partitions;
        ctx.count("consumer_assignments", 1);
    }

    fn auto_commit(&mut self, ctx: C) {
        let Some(c) = &mut self.consumer else { return };
        let generation = c.generation;
        let mut sends = Vec::new();
        for (&p, pos) in c.positions.iter_mut() {
            if let Some(next) = pos.next
                && next > pos.commit_sent
            {
                pos.commit_sent = next;
                sends.push((p, next));
            }
        }
        for (p, offset) in sends {
            self.send_commit(ctx, p, None, offset, generation, false);
        }
    }

    fn send_commit(
        &mut self,
        ctx: C,
        partition: u32,
        expect: Option<u64>,
        offset: u64,
        generation: u64,
        ack: bool,
    ) -> Option<u64> {
        let req = self.req();
        let leader = self.leaders[partition as usize].0?;
        ctx.send(NodeId(leader), Msg::OffsetCommit { req, partition, expect, offset, generation, ack });
        Some(req)
    }

    fn on_poll_op(&mut self, ctx: C, op: Op) {
        let Some(c) = &mut self.consumer else {
            ctx.complete(op.id, Outcome::Rejected, Reply::None);
            return;
        };
        c.queue.push_back(op.id);
        if c.poll.is_none() {
            self.start_poll(ctx);
        }
    }

    fn start_poll(&mut self, ctx: C) {
        let timeout = self.p.config.poll_timeout;
        let max = self.p.config.max_poll_records;
        loop {
            let c = self.consumer.as_mut().expect("consumer");
            if c.poll.is_some() {
                return;
            }
            let Some(op) = c.queue.pop_front() else { return };
            if c.assigned.is_empty() {
                ctx.complete(op, Outcome::Ok, Reply::Values(ThinVec::new()));
                continue;
            }
            let id = c.next_poll;
            c.next_poll += 1;
            let mut poll = Poll {
                id,
                op,
                waiting: BTreeMap::new(),
                got: Vec::new(),
                timer: None,
                fetching: true,
                committing: BTreeMap::new(),
            };
            let assigned = c.assigned.clone();
            let mut unknown = false;
            for p in assigned {
                let Some(leader) = self.leaders[p as usize].0 else {
                    unknown = true;
                    continue;
                };
                self.next_req += 1;
                let req = self.next_req;
                let c = self.consumer.as_mut().expect("consumer");
                let pos = c.positions.entry(p).or_default();
                let msg = match pos.next {
                    Some(offset) => Msg::ConsumerFetch { req, partition: p, offset, max },
                    None => Msg::OffsetFetch { req, partition: p },
                };
                poll.waiting.insert(req, p);
                ctx.send(NodeId(leader), msg);
            }
            if unknown {
                self.refresh_metadata(ctx);
            }
            poll.timer = Some(ctx.set_timer(timeout, Timer::PollTimeout { poll: id }));
            let c = self.consumer.as_mut().expect("consumer");
            let empty = poll.waiting.is_empty();
            c.poll = Some(poll);
            if empty {
                self.end_fetching(ctx, id);
            }
            return;
        }
    }

    fn on_offset_fetch_resp(&mut self, ctx: C, req: u64, partition: u32, offset: Option<u64>) {
        let max = self.p.config.max_poll_records;
        let Some(c) = &mut self.consumer else { return };
        let Some(poll) = &mut c.poll else { return };
        if poll.waiting.remove(&req).is_none() {
            return;
        }
        let Some(offset) = offset else {
            self.refresh_metadata(ctx);
            return self.maybe_end_fetching(ctx);
        };
        let pos = c.positions.entry(partition).or_default();
        pos.next = Some(offset);
        pos.committed = offset;
        pos.commit_sent = offset;
        let Some(leader) = self.leaders[partition as usize].0 else { return self.maybe_end_fetching(ctx) };
        self.next_req += 1;
        let req = self.next_req;
        let c = self.consumer.as_mut().expect("consumer");
        c.poll.as_mut().expect("poll").waiting.insert(req, partition);
        ctx.send(NodeId(leader), Msg::ConsumerFetch { req, partition, offset, max });
    }

    /// Out of line (as `on_commit_resp`): a consumer's answers are few next to produce answers.
    #[inline(never)]
    fn on_consumer_fetch_resp(&mut self, ctx: C, req: u64, partition: u32, result: ConsumerFetchResult) {
        let Some(c) = &mut self.consumer else { return };
        let Some(poll) = &mut c.poll else { return };
        if poll.waiting.remove(&req).is_none() {
            return;
        }
        match result {
            ConsumerFetchResult::Records { records, next, hwm } => {
                let from = c.positions.get(&partition).and_then(|p| p.next).unwrap_or(0);
                ctx.gauge("consumer_lag", hwm.saturating_sub(next) as f64);
                poll.got.push(Got { partition, from, next, records, ok: true });
            }
            ConsumerFetchResult::NotLeader => self.refresh_metadata(ctx),
            ConsumerFetchResult::OutOfRange => {
                if let Some(pos) = c.positions.get_mut(&partition) {
                    pos.next = None;
                }
            }
        }
        self.maybe_end_fetching(ctx);
    }

    fn maybe_end_fetching(&mut self, ctx: C) {
        let Some(c) = &self.consumer else { return };
        let Some(poll) = &c.poll else { return };
        if poll.waiting.is_empty() && poll.fetching {
            let id = poll.id;
            self.end_fetching(ctx, id);
        }
    }

    /// Every fetch answered (or the poll timed out): commit first (at-most-once), then process.
    fn end_fetching(&mut self, ctx: C, poll_id: u64) {
        let delivery = self.p.config.delivery;
        let processing = self.p.config.processing_time;
        let Some(c) = &mut self.consumer else { return };
        let generation = c.generation;
        let Some(poll) = &mut c.poll else { return };
        if poll.id != poll_id || !poll.fetching {
            return;
        }
        poll.fetching = false;
        if let Some(t) = poll.timer.take() {
            ctx.cancel_timer(t);
        }
        poll.waiting.clear();
        let mut commits = Vec::new();
        for g in &poll.got {
            if let Some(pos) = c.positions.get_mut(&g.partition) {
                if pos.next != Some(g.from) {
                    continue;
                }
                if delivery == Delivery::AtMostOnce && g.next > pos.commit_sent {
                    pos.commit_sent = g.next;
                    commits.push((g.partition, g.next));
                }
            }
        }
        for (p, offset) in commits {
            self.send_commit(ctx, p, None, offset, generation, false);
        }
        ctx.set_timer(processing, Timer::Processed { poll: poll_id });
    }

    /// Processing done: at-most-once and at-least-once deliver now; exactly-once commits the
    /// consumed offsets with a compare-and-set first, and delivers what committed.
    fn on_processed(&mut self, ctx: C, poll_id: u64) {
        let delivery = self.p.config.delivery;
        let timeout = self.p.config.request_timeout;
        let Some(c) = &mut self.consumer else { return };
        let generation = c.generation;
        let Some(poll) = &mut c.poll else { return };
        if poll.id != poll_id {
            return;
        }
        if delivery != Delivery::ExactlyOnce {
            return self.finish_poll(ctx, poll_id);
        }
        let mut cas = Vec::new();
        for (i, g) in poll.got.iter_mut().enumerate() {
            let assigned = c.assigned.contains(&g.partition);
            let pos = c.positions.get(&g.partition).copied().unwrap_or_default();
            if !assigned || pos.next != Some(g.from) {
                g.ok = false;
                continue;
            }
            if g.records.is_empty() {
                continue;
            }
            g.ok = false;
            cas.push((i, g.partition, pos.committed, g.next));
        }
        let mut committing = BTreeMap::new();
        for (i, p, expect, to) in cas {
            if let Some(req) = self.send_commit(ctx, p, Some(expect), to, generation, true) {
                committing.insert(req, i as u32);
            }
        }
        let c = self.consumer.as_mut().expect("consumer");
        let poll = c.poll.as_mut().expect("poll");
        poll.committing = committing;
        if poll.committing.is_empty() {
            return self.finish_poll(ctx, poll_id);
        }
        poll.timer = Some(ctx.set_timer(timeout, Timer::CommitTimeout { poll: poll_id }));
    }

    #[inline(never)]
    fn on_commit_resp(&mut self, ctx: C, req: u64, ok: bool) {
        let Some(c) = &mut self.consumer else { return };
        let Some(poll) = &mut c.poll else { return };
        let Some(i) = poll.committing.remove(&req) else { return };
        let g = &mut poll.got[i as usize];
        g.ok = ok;
        if !ok {
            ctx.count("consumer_commits_rejected", 1);
            if let Some(pos) = c.positions.get_mut(&g.partition) {
                pos.next = None;
            }
        }
        if poll.committing.is_empty() {
            let id = poll.id;
            if let Some(t) = poll.timer.take() {
                ctx.cancel_timer(t);
            }
            self.finish_poll(ctx, id);
        }
    }

    /// Delivers the poll's records (completes the op with `[partition, offset, id]` triples) and
    /// moves the positions.
    fn finish_poll(&mut self, ctx: C, poll_id: u64) {
        let exactly = self.p.config.delivery == Delivery::ExactlyOnce;
        let Some(c) = &mut self.consumer else { return };
        if c.poll.as_ref().is_none_or(|p| p.id != poll_id) {
            return;
        }
        let poll = c.poll.take().expect("poll");
        // Sized for every record fetched (nearly always all delivered; the history keeps the
        // list, so it holds no spare room: grown by doubling it held a third more on average).
        let mut values = ThinVec::with_capacity(3 * poll.got.iter().map(|g| g.records.len()).sum::<usize>());
        for g in &poll.got {
            let Some(pos) = c.positions.get_mut(&g.partition) else { continue };
            if exactly {
                if !g.ok {
                    if !poll.committing.is_empty() && !g.records.is_empty() {
                        // Unknown commit outcome: re-read the committed offset.
                        pos.next = None;
                    }
                    continue;
                }
                if !g.records.is_empty() {
                    pos.committed = g.next;
                    pos.commit_sent = g.next;
                }
            } else if pos.next != Some(g.from) {
                continue;
            }
            pos.next = Some(g.next);
            for &(offset, id) in &g.records {
                values.extend_from_slice(&[g.partition as u64, offset, id]);
            }
        }
        values.shrink_to_fit();
        ctx.complete(poll.op, Outcome::Ok, Reply::Values(values));
        self.start_poll(ctx);
    }

    pub fn on_msg(&mut self, ctx: C, from: NodeId, msg: Msg) {
        match msg {
            Msg::ProduceResp { req, error } => self.on_produce_resp(ctx, req, error),
            Msg::ConsumerFetchResp { req, partition, result } => {
                self.on_consumer_fetch_resp(ctx, req, partition, result)
            }
            Msg::OffsetCommitResp { req, ok, .. } => self.on_commit_resp(ctx, req, ok),
            msg => self.on_control_msg(ctx, from, msg),
        }
    }

    /// Metadata, group membership and offset fetches: a few per thousand messages. Out of line
    /// and cold, so that the data path above stays compact in the instruction cache.
    #[cold]
    #[inline(never)]
    fn on_control_msg(&mut self, ctx: C, from: NodeId, msg: Msg) {
        match msg {
            Msg::MetadataResp { leaders, controller } => {
                self.learn_coordinator(controller, None);
                for (i, (leader, epoch)) in leaders.into_iter().enumerate() {
                    let cur = &mut self.leaders[i];
                    if leader.is_some() && epoch >= cur.1 {
                        *cur = (leader, epoch);
                    }
                }
            }
            Msg::Assignment { generation, partitions } => self.on_assignment(ctx, from, generation, partitions),
            Msg::NotCoordinator { controller } => self.learn_coordinator(controller, Some(from.0)),
            Msg::OffsetFetchResp { req, partition, offset } => self.on_offset_fetch_resp(ctx, req, partition, offset),
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Config;
    use sim_core::{Effect, IdSource, Prng, Stream};

    /// Runs one handler of client `c` (node 10 of 5 brokers) with a detached context; returns
    /// where its `Join`s went.
    fn joins(c: &mut Client, f: impl FnOnce(&mut Client, C)) -> Vec<u32> {
        let mut rng = Prng::new(1, Stream::Node(10));
        let mut ids = IdSource::default();
        let mut effects: Vec<Effect<Node>> = Vec::new();
        let mut ctx = Ctx::detached(NodeId(10), Time(1_000), &mut rng, &mut ids, &[], &mut effects);
        f(c, &mut ctx);
        effects
            .into_iter()
            .filter_map(|e| match e {
                Effect::Send { to, msg: Msg::Join { .. } } => Some(to.0),
                _ => None,
            })
            .collect()
    }

    /// The batch index: requests 5, 6 and 9 in flight (7 and 8 a consumer's, never inserted);
    /// each is found until removed, whatever the order of the answers; the window starts at the
    /// oldest batch still in flight and is empty once none is.
    #[test]
    fn batches_are_found_by_request_in_a_window_from_the_oldest() {
        let mut ix = BatchIndex::default();
        ix.insert(5, 0);
        ix.insert(6, 3);
        ix.insert(9, 1);
        assert_eq!((ix.base, ix.slots.len()), (5, 5));
        assert_eq!([4, 5, 6, 7, 8, 9, 10].map(|r| ix.get(r)), [None, Some(0), Some(3), None, None, Some(1), None]);
        ix.remove(6);
        assert_eq!((ix.base, ix.get(5), ix.get(6)), (5, Some(0), None), "an answer out of order leaves a hole");
        ix.remove(5);
        assert_eq!((ix.base, ix.slots.len(), ix.get(9)), (9, 1, Some(1)), "the window moves past the holes");
        ix.remove(7);
        assert_eq!(ix.get(9), Some(1), "removing a request not in flight changes nothing");
        ix.remove(9);
        assert!(ix.slots.is_empty());
        ix.insert(12, 2);
        assert_eq!((ix.base, ix.get(12)), (12, Some(2)), "an empty window starts at the next batch");
    }

    /// A client asks one broker for metadata per refresh, the next one each time, starting at
    /// its id modulo the brokers (node 10 of 5 brokers: broker 0).
    #[test]
    fn a_client_asks_one_broker_for_metadata_in_turn() {
        let p = Rc::new(Params { config: Config::default(), broker_count: 5 });
        let mut c = Client::new(p.clone(), false);
        let mut asked = Vec::new();
        for i in 0..7 {
            let mut rng = Prng::new(1, Stream::Node(10));
            let mut ids = IdSource::default();
            let mut effects: Vec<Effect<Node>> = Vec::new();
            // 10 s apart: past the retry backoff that spaces refreshes.
            let mut ctx = Ctx::detached(NodeId(10), Time(i * 10_000_000_000), &mut rng, &mut ids, &[], &mut effects);
            c.on_timer(&mut ctx, Timer::MetadataRefresh);
            asked.extend(effects.into_iter().filter_map(|e| match e {
                Effect::Send { to, msg: Msg::Metadata } => Some(to.0),
                _ => None,
            }));
        }
        assert_eq!(asked, [0, 1, 2, 3, 4, 0, 1]);
    }

    /// A consumer heartbeats every voter only until it knows its coordinator, then the
    /// coordinator alone; a newer controller named in a metadata answer takes over, an older one
    /// does not, and a `NotCoordinator` from the coordinator it had sends it back to every voter.
    #[test]
    fn a_consumer_heartbeats_its_coordinator_alone() {
        let p = Rc::new(Params { config: Config::default(), broker_count: 5 });
        let mut c = Client::new(p.clone(), true);
        let beat = |c: &mut Client| joins(c, |c, ctx| c.send_join(ctx));
        assert_eq!(beat(&mut c), [0, 1, 2, 3, 4], "coordinator unknown");
        let meta = |controller| Msg::MetadataResp { leaders: Vec::new(), controller };
        joins(&mut c, |c, ctx| c.on_msg(ctx, NodeId(3), meta(Some((2048 + 1, 1)))));
        assert_eq!(beat(&mut c), [1]);
        joins(&mut c, |c, ctx| c.on_msg(ctx, NodeId(3), meta(Some((1024, 0)))));
        assert_eq!(beat(&mut c), [1], "an older controller is ignored");
        let assign = Msg::Assignment { generation: (3072 + 2) << 20 | 1, partitions: vec![0] };
        joins(&mut c, |c, ctx| c.on_msg(ctx, NodeId(2), assign));
        assert_eq!(beat(&mut c), [2], "the assigner is the coordinator");
        // A stale hint from another broker changes nothing; from the coordinator, it is dropped.
        joins(&mut c, |c, ctx| c.on_msg(ctx, NodeId(4), Msg::NotCoordinator { controller: None }));
        assert_eq!(beat(&mut c), [2]);
        joins(&mut c, |c, ctx| c.on_msg(ctx, NodeId(2), Msg::NotCoordinator { controller: None }));
        assert_eq!(beat(&mut c), [0, 1, 2, 3, 4]);
        // A producer that is not a group member sends none.
        assert!(beat(&mut Client::new(p, false)).is_empty());
    }
}
