//! The broker: partition replicas (leader or follower), the disk queue (group commit), heartbeats,
//! and, on the lowest-id live broker that hears a majority, the controller and group coordinator.

use crate::log::{Entry, NO_CAS, PartitionLog, Payload, Runs, SeqCheck, high_watermark};
use crate::msg::*;
use crate::{Node, Params};
use sim_core::{Ctx, NodeId, Time, WriteId};
use std::collections::{BTreeMap, VecDeque};
use std::rc::Rc;

type C<'a, 'b> = &'a mut Ctx<'b, Node>;

pub struct Broker {
    p: Rc<Params>,
    pub id: u32,
    started: Time,
    /// A restarted broker waits a session timeout (hearing the others) before it may claim the
    /// controller; at the cluster's first boot the lowest broker claims at once.
    restarted: bool,
    incarnation: u64,
    /// The last incarnation heard from each broker, and whether it changed (a restart the
    /// controller must treat as a failure: the broker lost its unsynced tail).
    incarnations: Vec<u64>,
    bounced: Vec<bool>,
    /// When each broker was last heard from; and one slot more, never read, that a client's
    /// message sets ([`Broker::on_msg`]).
    last_heard: Vec<Option<Time>>,
    /// The highest controller epoch seen.
    controller_epoch: u64,
    /// The latest committed partition states heard from a controller (acted on).
    pub known: Vec<Option<PartState>>,
    /// The latest states proposed or committed (stored, reported to a new controller).
    proposed: Vec<Option<PartState>>,
    pub replicas: Replicas,
    pub ctl: Option<Controller>,
    disk_pending: Vec<LogOp>,
    /// Replies that may only leave once the pending changes are on disk.
    replies_pending: Vec<(NodeId, Msg)>,
    disk_inflight: Option<InFlightWrite>,
    /// The emptied lists of the last group commit's log ends and replies, for the next one (two
    /// lists allocated, grown and freed per group commit otherwise).
    spare_leos: Vec<(u32, u64)>,
    spare_replies: Vec<(NodeId, Msg)>,
    /// Events this broker recorded (recovered from disk after a restart).
    pub events: Vec<KEvent>,
    /// When the high-water marks were last checkpointed (`leader_epochs: false` only).
    last_checkpoint: Time,
    /// When the log was last fsynced on the `flush_interval` clock (`Some` interval only).
    last_fsync: Time,
}

/// The group commit on disk: its write, each partition's log end in it, and the replies waiting
/// for it.
type InFlightWrite = (WriteId, Vec<(u32, u64)>, Vec<(NodeId, Msg)>);

/// A broker's replicas by partition: a slot per partition of the topic, `None` where the broker
/// holds none, so the lookup nearly every message and disk write starts with is an index and
/// not a map search (366 k of them in `kafka_50k`'s first 10 s). Iterated in partition order,
/// as the map it replaced, over the partitions held (`held`, fixed for the run): a broker holds a
/// few of many (30 of 1,000 on `kafka_100_brokers`), and a walk over every slot, a cache line or
/// more each, in every broker's tick was a cost that grew with brokers times partitions.
#[derive(Default)]
pub struct Replicas {
    slots: Vec<Option<Replica>>,
    /// The partitions with a replica here, ascending.
    held: Vec<u32>,
}

impl Replicas {
    /// The replicas of `slots` (`Some` where the broker holds the partition).
    pub fn new(slots: Vec<Option<Replica>>) -> Replicas {
        let held = (0..slots.len() as u32).filter(|&p| slots[p as usize].is_some()).collect();
        Replicas { slots, held }
    }
    pub fn get(&self, part: &u32) -> Option<&Replica> {
        self.slots.get(*part as usize)?.as_ref()
    }
    pub fn get_mut(&mut self, part: &u32) -> Option<&mut Replica> {
        self.slots.get_mut(*part as usize)?.as_mut()
    }
    /// `(partition, replica)` in partition order.
    pub fn iter(&self) -> impl Iterator<Item = (u32, &Replica)> + '_ {
        self.held.iter().map(|&p| (p, self.slots[p as usize].as_ref().expect("a held partition has its replica")))
    }
    pub fn keys(&self) -> impl Iterator<Item = u32> + '_ {
        self.held.iter().copied()
    }
    pub fn values(&self) -> impl Iterator<Item = &Replica> + '_ {
        self.iter().map(|(_, r)| r)
    }
    /// Every slot visited: only a restart's recovery walks them all mutably.
    pub fn values_mut(&mut self) -> impl Iterator<Item = &mut Replica> + '_ {
        self.slots.iter_mut().flatten()
    }
}

impl std::ops::Index<&u32> for Replicas {
    type Output = Replica;
    fn index(&self, part: &u32) -> &Replica {
        self.get(part).expect("no replica of this partition")
    }
}

pub struct Replica {
    pub log: PartitionLog,
    pub durable_leo: u64,
    pub role: Role,
    pub leader_epoch: u32,
}

impl Replica {
    /// Takes the leader epoch of a newer committed partition state. With fencing, epochs only grow
    /// (without it, brokers ignore epochs and a stale state may win: the known-bad split brain).
    fn enter_epoch(&mut self, epoch: u32, fencing: bool) {
        debug_assert!(
            !fencing || epoch >= self.leader_epoch,
            "leader epoch went back from {} to {epoch}",
            self.leader_epoch
        );
        self.leader_epoch = epoch;
    }
}

pub enum Role {
    /// Not told yet (after a restart), or the partition is offline.
    None,
    Leader(Box<LeaderState>),
    Follower {
        leader: u32,
        fetch_sent: Option<Time>,
    },
}

pub struct LeaderState {
    pub isr: Vec<u32>,
    version: u64,
    alter_sent: Option<Time>,
    /// Each follower's progress: a follower or two (the replication factor less one), so a
    /// short list searched in place of a map.
    progress: Vec<(u32, Progress)>,
    parked: Vec<(u32, u64, Time)>,
    waiting: VecDeque<Waiter>,
}

fn progress_of(progress: &[(u32, Progress)], follower: u32) -> Option<&Progress> {
    progress.iter().find(|(b, _)| *b == follower).map(|(_, p)| p)
}

struct Progress {
    incarnation: u64,
    offset: u64,
    caught_up_at: Time,
    last_fetch_leo: u64,
    last_fetch_at: Time,
}

struct Waiter {
    /// Answered once the high-water mark is above this offset.
    offset: u64,
    to: NodeId,
    kind: WaitKind,
}

enum WaitKind {
    Produce { req: u64 },
    Commit { req: u64, partition: u32 },
}

pub struct Controller {
    pub epoch: u64,
    /// The latest decided state of every partition (committed, or pending in `pending`).
    states: Vec<PartState>,
    /// Proposals waiting for a majority: version, brokers that stored it, events to record.
    pending: BTreeMap<u32, (u64, Vec<u32>, Vec<EventKind>)>,
    /// Brokers whose state report arrived; the controller acts once a majority reported.
    reports: Vec<u32>,
    ready: bool,
    ready_at: Time,
    live: Vec<bool>,
    members: BTreeMap<u32, Time>,
    member_set: Vec<u32>,
    generation: u64,
    assignment: BTreeMap<u32, Vec<u32>>,
    last_broadcast: Time,
}

impl Broker {
    pub fn new(p: Rc<Params>, id: u32) -> Broker {
        let b = p.server_count() as usize;
        let replicas = Replicas::new(
            (0..p.config.partition_count)
                .map(|part| {
                    p.replicas_of(part).contains(&id).then(|| Replica {
                        log: PartitionLog::default(),
                        durable_leo: 0,
                        role: Role::None,
                        leader_epoch: 0,
                    })
                })
                .collect(),
        );
        Broker {
            known: vec![None; p.config.partition_count as usize],
            proposed: vec![None; p.config.partition_count as usize],
            p,
            id,
            started: Time::ZERO,
            restarted: false,
            incarnation: 0,
            incarnations: vec![0; b],
            bounced: vec![false; b],
            last_heard: vec![None; b + 1],
            controller_epoch: 0,
            replicas,
            ctl: None,
            disk_pending: Vec::new(),
            replies_pending: Vec::new(),
            disk_inflight: None,
            spare_leos: Vec::new(),
            spare_replies: Vec::new(),
            events: Vec::new(),
            last_checkpoint: Time::ZERO,
            last_fsync: Time::ZERO,
        }
    }

    fn fencing(&self) -> bool {
        self.p.config.epoch_fencing
    }

    fn leader_epochs(&self) -> bool {
        self.p.config.leader_epochs
    }

    fn record(&mut self, ctx: C, partition: u32, kind: EventKind) {
        let ev = KEvent { at: ctx.ledger_time(), partition, kind };
        self.events.push(ev);
        ctx.persist_buffered(Record::Event(ev));
    }

    pub fn on_start(&mut self, ctx: C) {
        self.started = ctx.now();
        self.last_checkpoint = ctx.now();
        self.last_fsync = ctx.now();
        self.restarted = ctx.is_restart();
        // 0 is every broker's first life; a restart draws a new one.
        self.incarnation = if ctx.is_restart() { ctx.rng().next_u64() | 1 } else { 0 };
        let me = self.id as usize;
        self.incarnations[me] = self.incarnation;
        if ctx.is_restart() {
            let durable: Vec<Record> = ctx.durable().to_vec();
            self.recover(ctx, durable);
        } else {
            // Everyone boots with the same initial assignment: the first replica leads, epoch 1.
            for part in 0..self.p.config.partition_count {
                let replicas = self.p.replicas_of(part);
                let s = PartState {
                    leader: Some(replicas[0]),
                    leader_epoch: 1,
                    isr: replicas,
                    version: 1,
                    leader_incarnation: 0,
                    decided_by: 0,
                };
                self.proposed[part as usize] = Some(s.clone());
                self.known[part as usize] = Some(s);
                self.apply_role(ctx, part);
            }
        }
        ctx.set_timer(self.p.config.broker_heartbeat, Timer::Tick);
    }

    /// After a restart: rebuilds the logs and the stored states from what survived on disk.
    fn recover(&mut self, ctx: C, durable: Vec<Record>) {
        for r in durable {
            match r {
                Record::Event(ev) => self.events.push(ev),
                Record::Log(ops) => {
                    for op in ops {
                        self.replay(op);
                    }
                }
            }
        }
        let leader_epochs = self.leader_epochs();
        let mut recovered = 0;
        for r in self.replicas.values_mut() {
            r.durable_leo = r.log.leo();
            if leader_epochs {
                r.log.hwm = 0;
            }
            recovered += r.log.leo();
        }
        ctx.count("recovered_entries", recovered);
        if !leader_epochs {
            // Before KIP-101 a restarted replica cut its log to the checkpointed high-water
            // mark: what lies above it may be uncommitted. (It may also be committed: the
            // checkpoint lags, and that is the loss this option exists to show.)
            let parts: Vec<(u32, u64)> = self.replicas.iter().map(|(p, r)| (p, r.log.hwm)).collect();
            for (part, hwm) in parts {
                self.truncate(ctx, part, hwm);
            }
        }
    }

    fn replay(&mut self, op: LogOp) {
        match op {
            LogOp::Append { partition, base, entries } => {
                let Some(r) = self.replicas.get_mut(&partition) else { return };
                if base < r.log.leo() {
                    r.log.truncate_to(base);
                }
                if base != r.log.leo() {
                    return;
                }
                for run in entries {
                    r.log.append_run(run);
                }
            }
            LogOp::Truncate { partition, to } => {
                if let Some(r) = self.replicas.get_mut(&partition) {
                    r.log.truncate_to(to);
                }
            }
            LogOp::State { partition, state } => {
                let cur = &mut self.proposed[partition as usize];
                if cur.as_ref().is_none_or(|c| state.key() >= c.key()) {
                    *cur = Some(*state);
                }
            }
            LogOp::ControllerEpoch(e) => self.controller_epoch = self.controller_epoch.max(e),
            LogOp::Hwm { partition, hwm } => {
                if let Some(r) = self.replicas.get_mut(&partition) {
                    r.log.hwm = hwm.min(r.log.leo());
                }
            }
        }
    }

    /// Sends `msg` once everything queued for the disk so far is durable.
    fn reply_after_sync(&mut self, ctx: C, to: NodeId, msg: Msg) {
        self.replies_pending.push((to, msg));
        self.flush(ctx);
    }

    // ----- disk: group commit -----

    /// Queues runs for the disk; they share their entries with the log.
    fn queue_append(&mut self, partition: u32, base: u64, runs: Runs) {
        if let Some(LogOp::Append { partition: p, base: b, entries: es }) = self.disk_pending.last_mut()
            && *p == partition
            && *b + crate::log::run_len(&*es) == base
        {
            es.extend(runs);
            return;
        }
        self.disk_pending.push(LogOp::Append { partition, base, entries: runs });
    }

    fn flush(&mut self, ctx: C) {
        if self.disk_inflight.is_some() || (self.disk_pending.is_empty() && self.replies_pending.is_empty()) {
            return;
        }
        // The disk keeps every record for the rest of the run: each holds exactly its ops (a
        // vector grown by pushes held room for 4, 288 bytes for the one op of most group
        // commits when batches are single messages, `kafka_100_brokers`), and the pending list
        // keeps its room for the next group commit.
        let ops: Vec<LogOp> = self.disk_pending.drain(..).collect();
        let replies = std::mem::replace(&mut self.replies_pending, std::mem::take(&mut self.spare_replies));
        let mut leos = std::mem::take(&mut self.spare_leos);
        for op in &ops {
            let p = match op {
                LogOp::Append { partition, .. } | LogOp::Truncate { partition, .. } => *partition,
                LogOp::State { .. } | LogOp::ControllerEpoch(_) | LogOp::Hwm { .. } => continue,
            };
            if !leos.iter().any(|x| x.0 == p)
                && let Some(r) = self.replicas.get(&p)
            {
                leos.push((p, r.log.leo()));
            }
        }
        // With a flush interval, log changes go to the page cache (and count at once); metadata,
        // and the replies waiting for it, are always synced.
        let sync = self.p.config.flush_interval.is_none()
            || !replies.is_empty()
            || ops.iter().any(|op| !matches!(op, LogOp::Append { .. } | LogOp::Truncate { .. }));
        let id = if sync { ctx.persist(Record::Log(ops)) } else { ctx.persist_buffered(Record::Log(ops)) };
        self.disk_inflight = Some((id, leos, replies));
    }

    /// For `simctl explore`: where the broker's protocol is, abstractly (never offsets or data, which
    /// would make every step a new state): controller or not, and per role how many partitions it
    /// holds (leader, follower, none, each capped at 3), whether a leader's ISR is short of the
    /// replication factor, whether any log holds an uncommitted tail (entries above the high-water
    /// mark), whether a replica's log end is ahead of what is durable, and a group commit in flight.
    pub fn fingerprint(&self) -> u64 {
        let (mut leaders, mut followers, mut none, mut short_isr, mut tail, mut unsynced) = (0u64, 0u64, 0u64, 0, 0, 0);
        for r in self.replicas.values() {
            match &r.role {
                Role::Leader(ls) => {
                    leaders += 1;
                    short_isr |= u64::from(ls.isr.len() < self.p.config.replication_factor as usize);
                }
                Role::Follower { .. } => followers += 1,
                Role::None => none += 1,
            }
            tail |= u64::from(r.log.leo() > r.log.hwm);
            unsynced |= u64::from(r.log.leo() > r.durable_leo);
        }
        u64::from(self.ctl.is_some())
            | leaders.min(3) << 1
            | followers.min(3) << 3
            | none.min(3) << 5
            | short_isr << 7
            | tail << 8
            | unsynced << 9
            | u64::from(self.disk_inflight.is_some()) << 10
    }

    pub fn on_persisted(&mut self, ctx: C, write: WriteId) {
        let Some((id, mut leos, mut replies)) = self.disk_inflight.take() else { return };
        if id != write {
            self.disk_inflight = Some((id, leos, replies));
            return;
        }
        for (to, msg) in replies.drain(..) {
            match msg {
                Msg::StateAck { controller_epoch, acks } if to.0 == self.id => {
                    self.on_state_ack(ctx, to.0, controller_epoch, acks)
                }
                msg => ctx.send(to, msg),
            }
        }
        self.spare_replies = replies;
        for (p, leo) in leos.drain(..) {
            let Some(r) = self.replicas.get_mut(&p) else { continue };
            r.durable_leo = r.durable_leo.max(leo.min(r.log.leo()));
            if matches!(r.role, Role::Leader(_)) {
                self.advance_hwm(ctx, p);
            } else {
                self.maybe_fetch(ctx, p);
            }
        }
        self.spare_leos = leos;
        self.flush(ctx);
    }

    // ----- roles -----

    /// Makes this broker's replica of `part` match the known state.
    fn apply_role(&mut self, ctx: C, part: u32) {
        let Some(s) = self.known[part as usize].clone() else { return };
        let me = self.id;
        let fencing = self.fencing();
        let now = ctx.now();
        let Some(r) = self.replicas.get_mut(&part) else { return };
        match s.leader {
            // Elected in an earlier life: wait for the controller to notice and elect again.
            Some(l) if l == me && s.leader_incarnation != self.incarnation => self.step_down(ctx, part),
            Some(l) if l == me => {
                if let Role::Leader(ls) = &mut r.role
                    && r.leader_epoch == s.leader_epoch
                {
                    if s.version > ls.version {
                        ls.isr = s.isr.clone();
                        ls.version = s.version;
                        ls.alter_sent = None;
                    }
                    return;
                }
                self.step_down(ctx, part);
                let r = self.replicas.get_mut(&part).expect("replica");
                r.enter_epoch(s.leader_epoch, fencing);
                r.log.begin_epoch(s.leader_epoch);
                let progress = self
                    .p
                    .replicas_of(part)
                    .into_iter()
                    .filter(|&f| f != me)
                    .map(|f| {
                        (
                            f,
                            Progress {
                                incarnation: 0,
                                offset: 0,
                                caught_up_at: now,
                                last_fetch_leo: 0,
                                last_fetch_at: now,
                            },
                        )
                    })
                    .collect();
                r.role = Role::Leader(Box::new(LeaderState {
                    isr: s.isr.clone(),
                    version: s.version,
                    alter_sent: None,
                    progress,
                    parked: Vec::new(),
                    waiting: VecDeque::new(),
                }));
                self.advance_hwm(ctx, part);
            }
            Some(l) => {
                if let Role::Follower { leader, .. } = r.role
                    && leader == l
                    && r.leader_epoch == s.leader_epoch
                {
                    return;
                }
                self.step_down(ctx, part);
                let r = self.replicas.get_mut(&part).expect("replica");
                r.enter_epoch(s.leader_epoch, fencing);
                r.log.drop_empty_epochs();
                r.role = Role::Follower { leader: l, fetch_sent: None };
                let hwm = r.log.hwm;
                if !self.leader_epochs() {
                    // Before KIP-101 a new follower cut its log to its high-water mark.
                    self.truncate(ctx, part, hwm);
                }
                self.maybe_fetch(ctx, part);
            }
            None => {
                self.step_down(ctx, part);
                let r = self.replicas.get_mut(&part).expect("replica");
                r.enter_epoch(s.leader_epoch, fencing);
            }
        }
    }

    /// Leaves the leader role: every waiting producer and committer hears "not leader".
    fn step_down(&mut self, ctx: C, part: u32) {
        let Some(r) = self.replicas.get_mut(&part) else { return };
        let old = std::mem::replace(&mut r.role, Role::None);
        if let Role::Leader(ls) = old {
            for w in ls.waiting {
                reply_waiter(ctx, w, false);
            }
        }
    }

    // ----- the tick -----

    pub fn on_tick(&mut self, ctx: C) {
        let now = ctx.now();
        let cfg = &self.p.config;
        let (hb, lag, wait) = (cfg.broker_heartbeat, cfg.replica_lag_time, cfg.fetch_max_wait);
        let ctl_epoch = self.ctl.as_ref().map_or(self.controller_epoch, |c| c.epoch);
        let is_ctl = self.ctl.is_some();
        let incarnation = self.incarnation;
        // A voter heartbeats every server: the voters elect the controller among those they
        // hear, and the brokers learn from the voters who leads them. A broker that is no voter
        // (there are dedicated controller nodes) heartbeats the voters alone, as a KRaft broker
        // heartbeats its controller quorum: nobody else reads its heartbeats.
        let to = if self.p.is_voter(self.id) { 0..self.p.server_count() } else { self.p.voters() };
        ctx.broadcast(to.map(NodeId), Msg::Heartbeat { controller_epoch: ctl_epoch, controller: is_ctl, incarnation });
        let me = self.id;
        let parts: Vec<u32> = self.replicas.keys().collect();
        for part in parts {
            let r = self.replicas.get_mut(&part).expect("replica");
            match &mut r.role {
                Role::Leader(ls) => {
                    // Parked fetches that waited long enough get an empty answer (with the HWM).
                    let hwm = r.log.hwm;
                    let epoch = r.leader_epoch;
                    // In place: the list keeps its room (a new one per tick and append was an
                    // allocation for every fetch parked after it).
                    ls.parked.retain(|&(f, offset, at)| {
                        let answer = now.since(at) >= wait;
                        if answer {
                            let result = FetchResult::Entries { base: offset, entries: Runs::default(), hwm };
                            ctx.send(NodeId(f), Msg::FetchResp { partition: part, leader_epoch: epoch, result });
                        }
                        !answer
                    });
                    // ISR shrink: followers that have not caught up within the lag time.
                    let lagging: Vec<u32> = ls
                        .isr
                        .iter()
                        .copied()
                        .filter(|&f| {
                            f != me && progress_of(&ls.progress, f).is_some_and(|p| now.since(p.caught_up_at) > lag)
                        })
                        .collect();
                    if !lagging.is_empty() {
                        let isr: Vec<u32> = ls.isr.iter().copied().filter(|f| !lagging.contains(f)).collect();
                        self.propose_isr(ctx, part, isr);
                    }
                }
                Role::Follower { fetch_sent, .. } => {
                    if fetch_sent.is_some_and(|t| now.since(t) > wait.saturating_mul(3) + hb) {
                        *fetch_sent = None;
                    }
                    self.maybe_fetch(ctx, part);
                }
                Role::None => {}
            }
        }
        self.checkpoint_hwms(ctx);
        self.fsync_on_interval(ctx);
        self.controller_tick(ctx);
        ctx.set_timer(hb, Timer::Tick);
    }

    /// Without leader epochs, writes every partition's high-water mark to disk once per
    /// `hwm_checkpoint_interval`: what a restarted broker truncates its logs to.
    fn checkpoint_hwms(&mut self, ctx: C) {
        let now = ctx.now();
        if self.leader_epochs() || now.since(self.last_checkpoint) < self.p.config.hwm_checkpoint_interval {
            return;
        }
        self.last_checkpoint = now;
        for (partition, r) in self.replicas.iter() {
            self.disk_pending.push(LogOp::Hwm { partition, hwm: r.log.hwm });
        }
        self.flush(ctx);
    }

    /// With a flush interval, fsyncs once per interval: an empty synced write, which makes every
    /// buffered write before it durable.
    fn fsync_on_interval(&mut self, ctx: C) {
        let now = ctx.now();
        let Some(interval) = self.p.config.flush_interval else { return };
        if now.since(self.last_fsync) < interval {
            return;
        }
        self.last_fsync = now;
        ctx.persist(Record::Log(Vec::new()));
        ctx.count("log_fsyncs", 1);
    }

    /// Leader: asks the controller for a new ISR (with fencing, the change applies only once the
    /// controller confirms it; without, the leader applies it at once, as pre-KIP-497 leaders
    /// writing to ZooKeeper without a version check could).
    fn propose_isr(&mut self, ctx: C, part: u32, isr: Vec<u32>) {
        let now = ctx.now();
        let fencing = self.fencing();
        let resend = self.p.config.broker_heartbeat.saturating_mul(3);
        let controller = self.controller_guess();
        let Some(r) = self.replicas.get_mut(&part) else { return };
        let epoch = r.leader_epoch;
        let Role::Leader(ls) = &mut r.role else { return };
        if ls.isr == isr {
            return;
        }
        if fencing {
            if ls.alter_sent.is_some_and(|t| now.since(t) < resend) {
                return;
            }
            ls.alter_sent = Some(now);
            // An expansion counts at once (a larger ISR only makes the HWM wait longer); a shrink
            // only once the controller committed it, so no ISR it may elect from is smaller.
            if ls.isr.iter().all(|b| isr.contains(b)) {
                ls.isr = isr.clone();
            }
            if let Some(c) = controller {
                ctx.send(NodeId(c), Msg::AlterIsr { partition: part, leader_epoch: epoch, version: ls.version, isr });
            }
        } else {
            let (old, new) = (ls.isr.len(), isr.len());
            ls.isr = isr.clone();
            if let Some(c) = controller {
                ctx.send(NodeId(c), Msg::AlterIsr { partition: part, leader_epoch: epoch, version: ls.version, isr });
            }
            self.record_isr(ctx, part, old, new);
            self.advance_hwm(ctx, part);
        }
    }

    fn record_isr(&mut self, ctx: C, part: u32, old: usize, new: usize) {
        if new < old {
            ctx.count("isr_shrinks", 1);
            self.record(ctx, part, EventKind::IsrShrink { size: new as u32 });
        } else if new > old {
            ctx.count("isr_expands", 1);
            self.record(ctx, part, EventKind::IsrExpand { size: new as u32 });
        }
    }

    /// The newest controller this broker knows of, `(controller epoch, id)`: itself, or the one
    /// whose epoch it heard last (an epoch carries its controller's id, see `controller_of`).
    fn known_controller(&self) -> Option<(u64, u32)> {
        match &self.ctl {
            Some(c) => Some((c.epoch, self.id)),
            None => controller_of(self.controller_epoch).map(|id| (self.controller_epoch, id)),
        }
    }

    /// Whom this broker believes is the controller: the lowest-id broker it hears.
    fn controller_guess(&self) -> Option<u32> {
        self.p.voters().find(|&b| b == self.id || self.alive(b))
    }

    fn alive(&self, b: u32) -> bool {
        self.last_heard[b as usize].is_some()
    }

    // ----- follower side -----

    fn maybe_fetch(&mut self, ctx: C, part: u32) {
        let now = ctx.now();
        let Some(r) = self.replicas.get_mut(&part) else { return };
        let Role::Follower { leader, fetch_sent } = &mut r.role else { return };
        if fetch_sent.is_some() || r.durable_leo < r.log.leo() {
            return;
        }
        *fetch_sent = Some(now);
        let msg = Msg::Fetch {
            partition: part,
            leader_epoch: r.leader_epoch,
            offset: r.log.leo(),
            last_epoch: r.log.last_epoch(),
            incarnation: self.incarnation,
        };
        ctx.send(NodeId(*leader), msg);
    }

    fn on_fetch_resp(&mut self, ctx: C, from: u32, part: u32, leader_epoch: u32, result: FetchResult) {
        let fencing = self.fencing();
        let Some(r) = self.replicas.get_mut(&part) else { return };
        let Role::Follower { leader, fetch_sent } = &mut r.role else { return };
        if *leader != from || (fencing && leader_epoch != r.leader_epoch) {
            return;
        }
        *fetch_sent = None;
        match result {
            FetchResult::Entries { base, entries, hwm } => {
                if base != r.log.leo() {
                    return self.maybe_fetch(ctx, part);
                }
                for run in &entries {
                    r.log.append_run(run.clone());
                }
                let hwm = r.log.hwm.max(hwm.min(r.log.leo()));
                r.log.advance_hwm(hwm);
                if !entries.is_empty() {
                    self.queue_append(part, base, entries);
                    self.flush(ctx);
                }
                self.maybe_fetch(ctx, part);
            }
            FetchResult::Diverging { epoch, end_offset } => {
                let to = r.log.truncation_point(epoch, end_offset);
                self.truncate(ctx, part, to);
                self.maybe_fetch(ctx, part);
            }
            FetchResult::OutOfRange { leader_leo } => {
                self.truncate(ctx, part, leader_leo);
                self.maybe_fetch(ctx, part);
            }
            FetchResult::NotLeader => {
                // Wait for the next tick (and, likely, a new state from the controller).
                if let Some(Replica { role: Role::Follower { fetch_sent, .. }, .. }) = self.replicas.get_mut(&part) {
                    *fetch_sent = Some(ctx.now());
                }
            }
        }
    }

    /// Cuts a follower's log back to `to` (a diverged or out-of-range fetch): rare, out of line.
    #[cold]
    #[inline(never)]
    fn truncate(&mut self, ctx: C, part: u32, to: u64) {
        let me = self.id;
        // Only an unclean election, a leader without fencing, the protocol before leader epochs or
        // a power loss of unflushed logs can make a replica cut committed entries (what the known-bad scenarios show); a safe
        // configuration never does.
        let cfg = &self.p.config;
        let safe =
            cfg.epoch_fencing && !cfg.unclean_leader_election && cfg.leader_epochs && cfg.flush_interval.is_none();
        let Some(r) = self.replicas.get_mut(&part) else { return };
        debug_assert!(
            !safe || to >= r.log.hwm,
            "broker {me} truncates partition {part} to {to}, below its high-water mark {}",
            r.log.hwm
        );
        let removed = r.log.truncate_to(to);
        if removed == 0 {
            return;
        }
        r.durable_leo = r.durable_leo.min(to);
        if let Some((_, leos, _)) = &mut self.disk_inflight {
            for (p, leo) in leos.iter_mut() {
                if *p == part {
                    *leo = (*leo).min(to);
                }
            }
        }
        self.disk_pending.push(LogOp::Truncate { partition: part, to });
        self.flush(ctx);
        ctx.count("truncations", 1);
        ctx.count("truncated_entries", removed);
        self.record(ctx, part, EventKind::Truncation { broker: me, removed });
    }

    // ----- leader side -----

    fn on_fetch(
        &mut self,
        ctx: C,
        f: u32,
        part: u32,
        leader_epoch: u32,
        offset: u64,
        last_epoch: u32,
        incarnation: u64,
    ) {
        let now = ctx.now();
        let fencing = self.fencing();
        let max = self.p.config.replica_fetch_max as u64;
        let Some(r) = self.replicas.get_mut(&part) else { return };
        let my_epoch = r.leader_epoch;
        let not_leader = !matches!(r.role, Role::Leader(_)) || (fencing && leader_epoch != my_epoch);
        if not_leader {
            ctx.send(NodeId(f), Msg::FetchResp { partition: part, leader_epoch, result: FetchResult::NotLeader });
            return;
        }
        let diverged = if self.p.config.leader_epochs {
            r.log.divergence(offset, last_epoch).map(|(epoch, end_offset)| FetchResult::Diverging { epoch, end_offset })
        } else {
            // Before KIP-101 the leader compares offsets only: a follower at or below its log end
            // is taken to hold a prefix of it, whatever its entries are.
            (offset > r.log.leo()).then_some(FetchResult::OutOfRange { leader_leo: r.log.leo() })
        };
        if let Some(result) = diverged {
            ctx.send(NodeId(f), Msg::FetchResp { partition: part, leader_epoch: my_epoch, result });
            return;
        }
        let leo = r.log.leo();
        let hwm = r.log.hwm;
        let Role::Leader(ls) = &mut r.role else { unreachable!() };
        let Some(pr) = ls.progress.iter_mut().find(|(b, _)| *b == f).map(|(_, p)| p) else { return };
        // Kafka's rule: caught up if at our end now, or at our end as of its previous fetch.
        if offset >= leo {
            pr.caught_up_at = now;
        } else if offset >= pr.last_fetch_leo {
            pr.caught_up_at = pr.caught_up_at.max(pr.last_fetch_at);
        }
        pr.offset = offset.min(leo);
        pr.last_fetch_leo = leo;
        pr.last_fetch_at = now;
        let restarted = pr.incarnation != incarnation;
        pr.incarnation = incarnation;
        let in_isr = ls.isr.contains(&f);
        if restarted && in_isr {
            // It may have lost the unsynced tail it was counted for: out until it catches up.
            self.change_isr(ctx, part, f, false);
        } else if !restarted && !in_isr && offset >= hwm {
            self.change_isr(ctx, part, f, true);
        }
        self.advance_hwm(ctx, part);
        let r = self.replicas.get_mut(&part).expect("replica");
        let Role::Leader(ls) = &mut r.role else { return };
        if offset < leo {
            let end = leo.min(offset + max);
            let entries = r.log.runs_between(offset, end);
            let result = FetchResult::Entries { base: offset, entries, hwm: r.log.hwm };
            ctx.send(NodeId(f), Msg::FetchResp { partition: part, leader_epoch: my_epoch, result });
        } else {
            ls.parked.retain(|x| x.0 != f);
            ls.parked.push((f, offset, now));
        }
    }

    /// Proposes the leader's ISR of `part` with follower `f` added (`add`) or removed: rare, out
    /// of line.
    #[cold]
    #[inline(never)]
    fn change_isr(&mut self, ctx: C, part: u32, f: u32, add: bool) {
        let Some(Replica { role: Role::Leader(ls), .. }) = self.replicas.get(&part) else { unreachable!() };
        let isr = if add {
            let mut isr = ls.isr.clone();
            isr.push(f);
            isr.sort_unstable();
            isr
        } else {
            ls.isr.iter().copied().filter(|&b| b != f).collect()
        };
        self.propose_isr(ctx, part, isr);
    }

    /// Answers parked follower fetches after an append.
    fn wake_parked(&mut self, ctx: C, part: u32) {
        let max = self.p.config.replica_fetch_max as u64;
        let Some(r) = self.replicas.get_mut(&part) else { return };
        let Role::Leader(ls) = &mut r.role else { return };
        if ls.parked.is_empty() {
            return;
        }
        let leo = r.log.leo();
        let (log, leader_epoch) = (&r.log, r.leader_epoch);
        ls.parked.retain(|&(f, offset, _)| {
            let answer = offset < leo;
            if answer {
                let end = leo.min(offset + max);
                let entries = log.runs_between(offset, end);
                let result = FetchResult::Entries { base: offset, entries, hwm: log.hwm };
                ctx.send(NodeId(f), Msg::FetchResp { partition: part, leader_epoch, result });
            }
            !answer
        });
    }

    fn advance_hwm(&mut self, ctx: C, part: u32) {
        let me = self.id;
        let Some(r) = self.replicas.get_mut(&part) else { return };
        let Role::Leader(ls) = &mut r.role else { return };
        let followers =
            ls.isr.iter().filter(|&&f| f != me).map(|&f| progress_of(&ls.progress, f).map_or(0, |p| p.offset));
        let hwm = high_watermark(r.log.hwm, r.durable_leo, followers).min(r.log.leo());
        r.log.advance_hwm(hwm);
        while ls.waiting.front().is_some_and(|w| w.offset < hwm) {
            let w = ls.waiting.pop_front().expect("front");
            reply_waiter(ctx, w, true);
        }
    }

    fn leader_append(&mut self, ctx: C, part: u32, payload: Payload) -> Option<u64> {
        let r = self.replicas.get_mut(&part)?;
        let (offset, run) = r.log.append_new([Entry::new(r.leader_epoch, payload)]);
        self.queue_append(part, offset, run.into());
        self.flush(ctx);
        self.wake_parked(ctx, part);
        Some(offset)
    }

    fn wait_for(&mut self, ctx: C, part: u32, offset: u64, to: NodeId, kind: WaitKind) {
        let Some(r) = self.replicas.get_mut(&part) else { return };
        let w = Waiter { offset, to, kind };
        if offset < r.log.hwm {
            return reply_waiter(ctx, w, true);
        }
        let Role::Leader(ls) = &mut r.role else { return reply_waiter(ctx, w, false) };
        // Offsets mostly rise (a duplicate produce waits for an older one): the waiter most often
        // goes last, where the search below would put it.
        if ls.waiting.back().is_none_or(|x| x.offset <= offset) {
            ls.waiting.push_back(w);
        } else {
            insert_waiter(&mut ls.waiting, w);
        }
    }

    fn on_produce(
        &mut self,
        ctx: C,
        from: NodeId,
        req: u64,
        part: u32,
        ids: Rc<Vec<u64>>,
        producer: u64,
        base_seq: u32,
        acks: Acks,
    ) {
        let min_isr = self.p.config.min_insync_replicas as usize;
        let reply = |ctx: C, error| {
            if acks != Acks::Zero {
                ctx.send(from, Msg::ProduceResp { req, error });
            }
        };
        let Some(r) = self.replicas.get_mut(&part) else { return reply(ctx, Some(ProduceError::NotLeader)) };
        let Role::Leader(ls) = &r.role else { return reply(ctx, Some(ProduceError::NotLeader)) };
        if acks == Acks::All && ls.isr.len() < min_isr {
            return reply(ctx, Some(ProduceError::NotEnoughReplicas));
        }
        if producer != 0 {
            match r.log.check_sequence(producer, base_seq, ids.len() as u32) {
                SeqCheck::Next => {}
                SeqCheck::Duplicate(at) => {
                    ctx.count("producer_duplicates_rejected", ids.len() as u64);
                    return match (at, acks) {
                        (Some(offset), Acks::All) => self.wait_for(ctx, part, offset, from, WaitKind::Produce { req }),
                        _ => reply(ctx, None),
                    };
                }
                SeqCheck::OutOfOrder => return reply(ctx, Some(ProduceError::OutOfOrderSequence)),
            }
        }
        let r = self.replicas.get_mut(&part).expect("replica");
        let epoch = r.leader_epoch;
        let (base, run) = r.log.append_new(
            ids.iter()
                .enumerate()
                .map(|(i, &id)| Entry::new(epoch, Payload::Data { id, producer, seq: base_seq + i as u32 })),
        );
        let last = r.log.leo() - 1;
        self.queue_append(part, base, run.into());
        self.flush(ctx);
        self.wake_parked(ctx, part);
        match acks {
            Acks::Zero => {}
            Acks::One => reply(ctx, None),
            Acks::All => self.wait_for(ctx, part, last, from, WaitKind::Produce { req }),
        }
    }

    // ----- consumers at the leader -----
    // Out of line: a consumer's messages are about one in ten of the data path's, and inlined
    // they would sit amid the produce and replication arms of `on_msg`.

    #[inline(never)]
    fn on_consumer_fetch(&mut self, ctx: C, from: NodeId, req: u64, part: u32, offset: u64, max: u32) {
        let result = match self.replicas.get(&part) {
            Some(r) if matches!(r.role, Role::Leader(_)) => {
                if offset > r.log.leo() {
                    ConsumerFetchResult::OutOfRange
                } else {
                    let hwm = r.log.hwm;
                    let mut records = Vec::with_capacity(hwm.saturating_sub(offset).min(u64::from(max)) as usize);
                    let next = r.log.read_data(offset, hwm, max as usize, &mut records);
                    ConsumerFetchResult::Records { records, next, hwm }
                }
            }
            _ => ConsumerFetchResult::NotLeader,
        };
        ctx.send(from, Msg::ConsumerFetchResp { req, partition: part, result });
    }

    #[inline(never)]
    fn on_offset_commit(
        &mut self,
        ctx: C,
        from: NodeId,
        req: u64,
        part: u32,
        expect: Option<u64>,
        offset: u64,
        generation: u64,
        ack: bool,
    ) {
        let fail = |ctx: C| {
            if ack {
                ctx.send(from, Msg::OffsetCommitResp { req, partition: part, ok: false });
            }
        };
        let Some(r) = self.replicas.get(&part) else { return fail(ctx) };
        if !matches!(r.role, Role::Leader(_)) {
            return fail(ctx);
        }
        let (last, last_gen) = r.log.latest_commit().unwrap_or((0, 0));
        if generation < last_gen || expect.is_some_and(|e| e != last) {
            ctx.count("offset_commits_fenced", 1);
            return fail(ctx);
        }
        let base = expect.unwrap_or(NO_CAS);
        let payload = Payload::Commit { offset, generation, from: base };
        let Some(at) = self.leader_append(ctx, part, payload) else { return };
        if ack {
            self.wait_for(ctx, part, at, from, WaitKind::Commit { req, partition: part });
        }
    }

    // ----- controller state from the controller -----

    fn on_leader_and_isr(
        &mut self,
        ctx: C,
        from: u32,
        controller_epoch: u64,
        states: Rc<[(u32, PartState)]>,
        commit: bool,
    ) {
        let fencing = self.fencing();
        if fencing && controller_epoch < self.controller_epoch {
            return;
        }
        self.controller_epoch = self.controller_epoch.max(controller_epoch);
        let mut acks = Vec::new();
        // Only voters store states (and acknowledge proposals); with dedicated controller nodes a
        // broker acts on committed states only.
        let voter = self.p.is_voter(self.id);
        for (part, s) in states.iter() {
            let (part, i) = (*part, *part as usize);
            let store = voter && self.proposed[i].as_ref().is_none_or(|cur| !fencing || s.key() >= cur.key());
            if store {
                if !commit {
                    acks.push((part, s.version));
                }
                if self.proposed[i].as_ref().is_none_or(|cur| s.key() > cur.key() || !fencing) {
                    self.proposed[i] = Some(s.clone());
                    self.disk_pending.push(LogOp::State { partition: part, state: Box::new(s.clone()) });
                }
            }
            if commit {
                let accept = match &self.known[i] {
                    None => true,
                    Some(cur) if fencing => s.key() > cur.key(),
                    Some(cur) => cur != s,
                };
                if accept {
                    self.known[i] = Some(s.clone());
                    self.apply_role(ctx, part);
                }
            }
        }
        if !acks.is_empty() {
            // Acknowledged once on disk (the controller's own vote too).
            self.reply_after_sync(ctx, NodeId(from), Msg::StateAck { controller_epoch, acks });
        } else {
            self.flush(ctx);
        }
    }

    // ----- the controller -----

    fn controller_tick(&mut self, ctx: C) {
        let now = ctx.now();
        let timeout = self.p.config.broker_session_timeout;
        for b in 0..self.p.server_count() as usize {
            if self.last_heard[b].is_some_and(|t| now.since(t) > timeout) {
                self.last_heard[b] = None;
            }
        }
        let mut live: Vec<bool> = (0..self.p.server_count()).map(|b| b == self.id || self.alive(b)).collect();
        let live_count = self.p.voters().filter(|&b| live[b as usize]).count();
        // A broker that restarted since the last tick counts as failed for this one: its
        // partitions get new leaders, and it leaves their ISRs.
        let acting = self.ctl.as_ref().is_some_and(|c| c.ready);
        for (b, bounced) in self.bounced.iter_mut().enumerate() {
            if *bounced && acting {
                live[b] = false;
            }
            if acting || self.ctl.is_none() {
                *bounced = false;
            }
        }
        let majority = self.p.majority();
        let lowest = self.p.voters().filter(|&b| b < self.id).all(|b| !live[b as usize]);
        let warmed_up = !self.restarted || now.since(self.started) >= timeout;
        let should = self.p.is_voter(self.id) && live_count >= majority && lowest && warmed_up;
        // A controller that heard of a newer controller epoch is deposed: brokers now refuse its
        // requests. It steps down, and claims again (with a higher epoch) if it still should.
        if !should || self.ctl.as_ref().is_some_and(|c| c.epoch < self.controller_epoch) {
            self.ctl = None;
            return;
        }
        if self.ctl.is_none() {
            let epoch = (self.controller_epoch / EPOCH_IDS + 1) * EPOCH_IDS + self.id as u64;
            self.controller_epoch = epoch;
            self.disk_pending.push(LogOp::ControllerEpoch(epoch));
            self.flush(ctx);
            let states = (0..self.p.config.partition_count)
                .map(|p| {
                    self.latest(p).unwrap_or(PartState {
                        leader: None,
                        leader_epoch: 0,
                        isr: self.p.replicas_of(p),
                        version: 0,
                        leader_incarnation: 0,
                        decided_by: 0,
                    })
                })
                .collect();
            self.ctl = Some(Controller {
                epoch,
                states,
                pending: BTreeMap::new(),
                reports: vec![self.id],
                ready: false,
                ready_at: now + self.p.config.broker_heartbeat.saturating_mul(2),
                live: vec![false; self.p.server_count() as usize],
                members: BTreeMap::new(),
                member_set: Vec::new(),
                generation: epoch << 20,
                assignment: BTreeMap::new(),
                last_broadcast: Time::ZERO,
            });
            ctx.broadcast(self.p.voters().map(NodeId), Msg::StateQuery { controller_epoch: epoch });
            ctx.count("controller_changes", 1);
            let me = self.id;
            self.record(ctx, 0, EventKind::ControllerChange { broker: me });
            return;
        }
        let c = self.ctl.as_mut().expect("controller");
        if !c.ready {
            if c.reports.len() < majority || now < c.ready_at {
                let epoch = c.epoch;
                ctx.broadcast(self.p.voters().map(NodeId), Msg::StateQuery { controller_epoch: epoch });
                return;
            }
            // A majority reported: their newest states include every committed one. Re-propose
            // them all under this controller's epoch, so they outrank any deposed proposal.
            c.ready = true;
            for s in c.states.iter_mut() {
                s.decided_by = c.epoch;
            }
            let all: Vec<u32> = (0..self.p.config.partition_count).collect();
            self.propose(ctx, all.into_iter().map(|p| (p, Vec::new())).collect());
            return;
        }
        let unclean = self.p.config.unclean_leader_election;
        let broadcast_every = self.p.config.controller_broadcast;
        let member_timeout = self.p.config.consumer_session_timeout;
        let mut changed: Vec<(u32, Vec<EventKind>)> = Vec::new();
        let mut unclean_elections = 0;
        for (part, s) in c.states.iter_mut().enumerate() {
            let part = part as u32;
            let leader_ok =
                s.leader.is_some_and(|l| live[l as usize] && s.leader_incarnation == self.incarnations[l as usize]);
            if leader_ok {
                // A failed follower leaves the ISR at once (Kafka's controller does the same).
                if s.isr.iter().any(|&b| !live[b as usize]) && !c.pending.contains_key(&part) {
                    s.isr.retain(|&b| live[b as usize]);
                    s.version += 1;
                    s.decided_by = c.epoch;
                    changed.push((part, vec![EventKind::IsrShrink { size: s.isr.len() as u32 }]));
                }
                continue;
            }
            let replicas = self.p.replicas_of(part);
            let isr: Vec<u32> = s.isr.iter().copied().filter(|&b| live[b as usize]).collect();
            let clean = replicas.iter().copied().find(|b| isr.contains(b));
            let mut events = Vec::new();
            let (leader, new_isr) = match clean {
                Some(l) => (Some(l), isr),
                None if unclean => match replicas.iter().copied().find(|&b| live[b as usize]) {
                    Some(l) => {
                        events.push(EventKind::IsrShrink { size: 1 });
                        (Some(l), vec![l])
                    }
                    None => (None, s.isr.clone()),
                },
                // Offline: keep the last ISR so that one of its members can come back as leader.
                None => (None, s.isr.clone()),
            };
            if leader.is_none() && s.leader.is_none() {
                continue;
            }
            if leader.is_some() && clean.is_none() {
                unclean_elections += 1;
            }
            events.push(EventKind::LeaderChange { leader, epoch: s.leader_epoch + 1 });
            s.leader = leader;
            s.leader_epoch += 1;
            s.leader_incarnation = leader.map_or(0, |l| self.incarnations[l as usize]);
            s.isr = new_isr;
            s.version += 1;
            s.decided_by = c.epoch;
            changed.push((part, events));
        }
        let newly_live: Vec<u32> =
            (0..self.p.server_count()).filter(|&b| live[b as usize] && !c.live[b as usize] && b != self.id).collect();
        c.live = live;
        let full = now.since(c.last_broadcast) >= broadcast_every;
        if full {
            c.last_broadcast = now;
        }
        // Consumer group membership.
        c.members.retain(|_, t| now.since(*t) <= member_timeout);
        let members: Vec<u32> = c.members.keys().copied().collect();
        let rebalance = members != c.member_set;
        if rebalance {
            c.member_set = members.clone();
            c.generation += 1;
            c.assignment.clear();
            for (i, m) in members.iter().enumerate() {
                let parts: Vec<u32> =
                    (0..self.p.config.partition_count).filter(|p| *p as usize % members.len() == i).collect();
                c.assignment.insert(*m, parts);
            }
        }
        let generation = c.generation;
        // Cloned only to send it: every tick would copy one entry per group member.
        let assignment = if rebalance { c.assignment.clone() } else { BTreeMap::new() };
        if unclean_elections > 0 {
            ctx.count("unclean_elections", unclean_elections);
        }
        if rebalance {
            ctx.count("rebalances", 1);
            for (m, parts) in assignment {
                ctx.send(NodeId(m), Msg::Assignment { generation, partitions: parts });
            }
        }
        if !changed.is_empty() {
            self.propose(ctx, changed);
        }
        if full {
            self.send_states(ctx, None);
        } else {
            for b in newly_live {
                self.send_states(ctx, Some(b));
            }
        }
    }

    /// The newest state this broker stored for `part` (proposed or committed).
    fn latest(&self, part: u32) -> Option<PartState> {
        let i = part as usize;
        match (&self.proposed[i], &self.known[i]) {
            (Some(a), Some(b)) => Some(if a.key() >= b.key() { a.clone() } else { b.clone() }),
            (a, b) => a.clone().or(b.clone()),
        }
    }

    /// Proposes the controller's current state of `parts` to every broker (this one included).
    fn propose(&mut self, ctx: C, parts: Vec<(u32, Vec<EventKind>)>) {
        let me = self.id;
        let Some(c) = self.ctl.as_mut() else { return };
        let epoch = c.epoch;
        let mut states = Vec::new();
        for (p, events) in parts {
            let s = c.states[p as usize].clone();
            let mut evs = c.pending.remove(&p).map(|x| x.2).unwrap_or_default();
            evs.extend(events);
            c.pending.insert(p, (s.version, Vec::new(), evs));
            states.push((p, s));
        }
        let states: Rc<[(u32, PartState)]> = states.into();
        ctx.broadcast(
            self.p.servers(),
            Msg::LeaderAndIsr { controller_epoch: epoch, states: states.clone(), commit: false },
        );
        self.on_leader_and_isr(ctx, me, epoch, states, false);
    }

    fn on_state_ack(&mut self, ctx: C, from: u32, controller_epoch: u64, acks: Vec<(u32, u64)>) {
        let majority = self.p.majority();
        let Some(c) = self.ctl.as_mut() else { return };
        if controller_epoch != c.epoch {
            return;
        }
        let mut done = Vec::new();
        for (p, v) in acks {
            if let Some((version, by, _)) = c.pending.get_mut(&p)
                && *version == v
            {
                if !by.contains(&from) {
                    by.push(from);
                }
                if by.len() >= majority {
                    done.push(p);
                }
            }
        }
        for p in done {
            self.commit(ctx, p);
        }
    }

    /// A majority stored the proposal: tell everyone to act on it, and record what changed.
    fn commit(&mut self, ctx: C, part: u32) {
        let me = self.id;
        let Some(c) = self.ctl.as_mut() else { return };
        let Some((_, _, events)) = c.pending.remove(&part) else { return };
        let epoch = c.epoch;
        let states: Rc<[(u32, PartState)]> = Rc::new([(part, c.states[part as usize].clone())]);
        ctx.broadcast(
            self.p.servers(),
            Msg::LeaderAndIsr { controller_epoch: epoch, states: states.clone(), commit: true },
        );
        self.on_leader_and_isr(ctx, me, epoch, states, true);
        for kind in events {
            match kind {
                EventKind::LeaderChange { .. } => ctx.count("leader_changes", 1),
                EventKind::IsrShrink { .. } => ctx.count("isr_shrinks", 1),
                EventKind::IsrExpand { .. } => ctx.count("isr_expands", 1),
                _ => {}
            }
            self.record(ctx, part, kind);
        }
    }

    /// Re-sends every state: committed ones as commits, pending ones as proposals.
    fn send_states(&mut self, ctx: C, to: Option<u32>) {
        let Some(c) = self.ctl.as_ref() else { return };
        let epoch = c.epoch;
        let (mut committed, mut proposed) = (Vec::new(), Vec::new());
        for (p, s) in c.states.iter().enumerate() {
            if c.pending.contains_key(&(p as u32)) {
                proposed.push((p as u32, s.clone()));
            } else {
                committed.push((p as u32, s.clone()));
            }
        }
        for (states, commit) in [(committed, true), (proposed, false)] {
            if states.is_empty() {
                continue;
            }
            let msg = Msg::LeaderAndIsr { controller_epoch: epoch, states: states.into(), commit };
            match to {
                Some(b) => ctx.send(NodeId(b), msg),
                None => ctx.broadcast(self.p.servers(), msg),
            }
        }
    }

    fn on_alter_isr(&mut self, ctx: C, from: u32, part: u32, leader_epoch: u32, version: u64, isr: Vec<u32>) {
        let fencing = self.fencing();
        let Some(c) = self.ctl.as_mut() else { return };
        if !c.ready {
            return;
        }
        let epoch = c.epoch;
        let pending = c.pending.contains_key(&part);
        let s = &mut c.states[part as usize];
        let valid = s.leader == Some(from) && s.leader_epoch == leader_epoch && s.version == version && !pending;
        if fencing && !valid {
            ctx.count("alter_isr_fenced", 1);
            if !pending {
                let states = Rc::new([(part, s.clone())]);
                ctx.send(NodeId(from), Msg::LeaderAndIsr { controller_epoch: epoch, states, commit: true });
            }
            return;
        }
        let (old, new) = (s.isr.len(), isr.len());
        s.isr = isr;
        s.version += 1;
        s.decided_by = epoch;
        let mut events = Vec::new();
        if fencing && new < old {
            events.push(EventKind::IsrShrink { size: new as u32 });
        } else if fencing && new > old {
            events.push(EventKind::IsrExpand { size: new as u32 });
        }
        self.propose(ctx, vec![(part, events)]);
    }

    fn on_state_query(&mut self, ctx: C, from: u32, controller_epoch: u64) {
        if !self.p.is_voter(self.id) || (self.fencing() && controller_epoch < self.controller_epoch) {
            return;
        }
        // A durable promise: after this report, older controllers are refused, also after a restart.
        self.controller_epoch = self.controller_epoch.max(controller_epoch);
        self.disk_pending.push(LogOp::ControllerEpoch(self.controller_epoch));
        let states: Vec<(u32, PartState)> =
            (0..self.p.config.partition_count).filter_map(|p| self.latest(p).map(|s| (p, s))).collect();
        self.reply_after_sync(ctx, NodeId(from), Msg::StateReport { controller_epoch, states });
    }

    fn on_state_report(&mut self, from: u32, controller_epoch: u64, states: Vec<(u32, PartState)>) {
        let Some(c) = self.ctl.as_mut() else { return };
        if controller_epoch != c.epoch || c.ready {
            return;
        }
        if !c.reports.contains(&from) {
            c.reports.push(from);
        }
        for (part, s) in states {
            let cur = &mut c.states[part as usize];
            if s.key() > cur.key() {
                *cur = s;
            }
        }
    }

    // ----- dispatch -----

    pub fn on_msg(&mut self, ctx: C, from: NodeId, msg: Msg) {
        // A client's message sets the spare last slot: no branch on the sender's kind, which the
        // mix of producers' and replicas' messages made unpredictable (callgrind: 109 k
        // mispredicts on the Kafka cut).
        let slot = from.index().min(self.last_heard.len() - 1);
        self.last_heard[slot] = Some(ctx.now());
        match msg {
            Msg::Fetch { partition, leader_epoch, offset, last_epoch, incarnation } => {
                self.on_fetch(ctx, from.0, partition, leader_epoch, offset, last_epoch, incarnation)
            }
            Msg::FetchResp { partition, leader_epoch, result } => {
                self.on_fetch_resp(ctx, from.0, partition, leader_epoch, result)
            }
            Msg::Produce { req, partition, ids, producer, base_seq, acks } => {
                self.on_produce(ctx, from, req, partition, ids, producer, base_seq, acks)
            }
            Msg::ConsumerFetch { req, partition, offset, max } => {
                self.on_consumer_fetch(ctx, from, req, partition, offset, max)
            }
            Msg::OffsetCommit { req, partition, expect, offset, generation, ack } => {
                self.on_offset_commit(ctx, from, req, partition, expect, offset, generation, ack)
            }
            msg => self.on_control_msg(ctx, from, msg),
        }
    }

    /// The messages that move no data (heartbeats, controller state, ISR changes, metadata, group
    /// membership): a few per thousand. Out of line and cold, so that the data path above stays
    /// compact in the instruction cache (inlined, these arms made the handler 12 KB).
    #[cold]
    #[inline(never)]
    fn on_control_msg(&mut self, ctx: C, from: NodeId, msg: Msg) {
        let now = ctx.now();
        match msg {
            Msg::Heartbeat { controller_epoch, incarnation, .. } => {
                let seen = &mut self.incarnations[from.index()];
                if *seen != incarnation {
                    self.bounced[from.index()] = true;
                    *seen = incarnation;
                }
                if !self.fencing() || controller_epoch >= self.controller_epoch {
                    self.controller_epoch = self.controller_epoch.max(controller_epoch);
                }
            }
            Msg::LeaderAndIsr { controller_epoch, states, commit } => {
                self.on_leader_and_isr(ctx, from.0, controller_epoch, states, commit)
            }
            Msg::StateAck { controller_epoch, acks } => self.on_state_ack(ctx, from.0, controller_epoch, acks),
            Msg::StateQuery { controller_epoch } => self.on_state_query(ctx, from.0, controller_epoch),
            Msg::StateReport { controller_epoch, states } => self.on_state_report(from.0, controller_epoch, states),
            Msg::AlterIsr { partition, leader_epoch, version, isr } => {
                self.on_alter_isr(ctx, from.0, partition, leader_epoch, version, isr)
            }
            Msg::Metadata => {
                let leaders =
                    self.known.iter().map(|s| s.as_ref().map_or((None, 0), |s| (s.leader, s.leader_epoch))).collect();
                ctx.send(from, Msg::MetadataResp { leaders, controller: self.known_controller() });
            }
            Msg::Join { generation } => match self.ctl.as_mut() {
                Some(c) => {
                    c.members.insert(from.0, now);
                    if generation != c.generation
                        && let Some(parts) = c.assignment.get(&from.0)
                    {
                        let msg = Msg::Assignment { generation: c.generation, partitions: parts.clone() };
                        ctx.send(from, msg);
                    }
                }
                // Not the coordinator (any more): point the consumer at the newest controller.
                None => {
                    let controller = self.known_controller().filter(|&(_, id)| id != self.id);
                    ctx.send(from, Msg::NotCoordinator { controller });
                }
            },
            Msg::OffsetFetch { req, partition } => {
                let offset = self
                    .replicas
                    .get(&partition)
                    .filter(|r| matches!(r.role, Role::Leader(_)))
                    .map(|r| r.log.committed_consumer_offset());
                ctx.send(from, Msg::OffsetFetchResp { req, partition, offset });
            }
            Msg::ProduceResp { .. }
            | Msg::MetadataResp { .. }
            | Msg::Assignment { .. }
            | Msg::NotCoordinator { .. }
            | Msg::ConsumerFetchResp { .. }
            | Msg::OffsetFetchResp { .. }
            | Msg::OffsetCommitResp { .. } => {}
            Msg::Fetch { .. }
            | Msg::FetchResp { .. }
            | Msg::Produce { .. }
            | Msg::ConsumerFetch { .. }
            | Msg::OffsetCommit { .. } => unreachable!("a data message is handled by on_msg"),
        }
    }
}

/// Controller epochs carry their controller's id: epoch `k * EPOCH_IDS + id` (so validation keeps
/// the servers below `EPOCH_IDS`).
pub const EPOCH_IDS: u64 = 1024;

/// The controller that claimed `epoch` (`None` for 0, the epoch before any claim).
pub fn controller_of(epoch: u64) -> Option<u32> {
    (epoch >= EPOCH_IDS).then_some((epoch % EPOCH_IDS) as u32)
}

/// Files `w` among `waiting` (by offset, after those of the same offset): out of line, as it
/// is seldom needed ([`Broker::wait_for`]).
#[inline(never)]
fn insert_waiter(waiting: &mut VecDeque<Waiter>, w: Waiter) {
    let at = waiting.partition_point(|x| x.offset <= w.offset);
    waiting.insert(at, w);
}

fn reply_waiter(ctx: C, w: Waiter, ok: bool) {
    match w.kind {
        WaitKind::Produce { req } => {
            let error = if ok { None } else { Some(ProduceError::NotLeader) };
            ctx.send(w.to, Msg::ProduceResp { req, error });
        }
        WaitKind::Commit { req, partition } => ctx.send(w.to, Msg::OffsetCommitResp { req, partition, ok }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Config;
    use sim_core::{Effect, IdSource, Prng, Stream};

    #[test]
    fn replicas_walk_the_held_partitions_in_order_and_only_those() {
        let replica =
            |epoch| Replica { log: PartitionLog::default(), durable_leo: 0, role: Role::None, leader_epoch: epoch };
        let held = [1u32, 4, 5, 9];
        let slots = (0..12).map(|p| held.contains(&p).then(|| replica(p * 10))).collect();
        let mut r = Replicas::new(slots);
        assert_eq!(r.keys().collect::<Vec<_>>(), held);
        assert_eq!(
            r.iter().map(|(p, x)| (p, x.leader_epoch)).collect::<Vec<_>>(),
            [(1, 10), (4, 40), (5, 50), (9, 90)]
        );
        assert_eq!(r.values().map(|x| x.leader_epoch).collect::<Vec<_>>(), [10, 40, 50, 90]);
        assert_eq!(r.values_mut().map(|x| x.leader_epoch).collect::<Vec<_>>(), [10, 40, 50, 90]);
        assert!(r.get(&2).is_none() && r.get(&12).is_none());
        r.get_mut(&4).expect("held").leader_epoch = 41;
        assert_eq!(r[&4].leader_epoch, 41);
    }

    /// Runs one handler of `b` with a detached context; returns the produce answers it sent.
    fn call(b: &mut Broker, f: impl FnOnce(&mut Broker, C)) -> Vec<(NodeId, Option<ProduceError>)> {
        let mut rng = Prng::new(1, Stream::Node(0));
        let mut ids = IdSource::default();
        let mut effects: Vec<Effect<Node>> = Vec::new();
        let mut ctx = Ctx::detached(NodeId(b.id), Time(1_000), &mut rng, &mut ids, &[], &mut effects);
        f(b, &mut ctx);
        effects
            .into_iter()
            .filter_map(|e| match e {
                Effect::Send { to, msg: Msg::ProduceResp { error, .. } } => Some((to, error)),
                _ => None,
            })
            .collect()
    }

    fn fetch(offset: u64) -> Msg {
        Msg::Fetch { partition: 0, leader_epoch: 1, offset, last_epoch: 1, incarnation: 0 }
    }

    /// acks=all: the leader answers only when the high-water mark passes the message, that is once
    /// it is on the leader's disk and every in-sync follower has fetched past it.
    #[test]
    fn acks_all_waits_for_the_hwm_of_the_whole_isr() {
        let config = Config { partition_count: 1, ..Config::default() };
        let p = Rc::new(Params { config, broker_count: 3 });
        let mut b = Broker::new(p, 0);
        call(&mut b, |b, ctx| b.on_start(ctx));
        assert!(matches!(b.replicas[&0].role, Role::Leader(_)), "broker 0 leads partition 0 at boot");
        let client = NodeId(5);
        let produce =
            Msg::Produce { req: 7, partition: 0, ids: Rc::new(vec![42]), producer: 0, base_seq: 0, acks: Acks::All };
        assert!(call(&mut b, |b, ctx| b.on_msg(ctx, client, produce)).is_empty());
        let write = b.disk_inflight.as_ref().expect("a group commit is on its way").0;
        assert!(call(&mut b, |b, ctx| b.on_persisted(ctx, write)).is_empty(), "on the leader's disk only");
        assert_eq!(b.replicas[&0].log.hwm, 0);
        assert!(call(&mut b, |b, ctx| b.on_msg(ctx, NodeId(1), fetch(1))).is_empty(), "one follower of two");
        assert_eq!(b.replicas[&0].log.hwm, 0);
        let answers = call(&mut b, |b, ctx| b.on_msg(ctx, NodeId(2), fetch(1)));
        assert_eq!(b.replicas[&0].log.hwm, 1);
        assert_eq!(answers, vec![(client, None)]);
    }

    /// The disk keeps every record to the end of the run, so a group commit's record holds
    /// exactly its ops, not the room a growing vector had (4 ops for the first push).
    #[test]
    fn a_group_commit_record_holds_exactly_its_ops() {
        let config = Config { partition_count: 1, ..Config::default() };
        let mut b = Broker::new(Rc::new(Params { config, broker_count: 3 }), 0);
        call(&mut b, |b, ctx| b.on_start(ctx));
        if let Some((write, _, _)) = b.disk_inflight.take() {
            call(&mut b, |b, ctx| b.on_persisted(ctx, write));
        }
        let produce =
            Msg::Produce { req: 7, partition: 0, ids: Rc::new(vec![42]), producer: 0, base_seq: 0, acks: Acks::All };
        let mut rng = Prng::new(1, Stream::Node(0));
        let mut ids = IdSource::default();
        let mut effects: Vec<Effect<Node>> = Vec::new();
        let mut ctx = Ctx::detached(NodeId(0), Time(1_000), &mut rng, &mut ids, &[], &mut effects);
        b.on_msg(&mut ctx, NodeId(5), produce);
        let ops = effects
            .iter()
            .find_map(|e| match e {
                Effect::Persist { record: Record::Log(ops), .. } => Some(ops),
                _ => None,
            })
            .expect("a group commit");
        assert_eq!((ops.len(), ops.capacity()), (1, 1));
    }

    /// min.insync.replicas: with the ISR below it, acks=all writes are refused, not appended.
    #[test]
    fn min_isr_refuses_acks_all_writes() {
        let config = Config { partition_count: 1, min_insync_replicas: 3, ..Config::default() };
        let p = Rc::new(Params { config, broker_count: 3 });
        let mut b = Broker::new(p, 0);
        call(&mut b, |b, ctx| b.on_start(ctx));
        if let Role::Leader(ls) = &mut b.replicas.get_mut(&0).expect("replica").role {
            ls.isr = vec![0, 1];
        }
        let produce =
            Msg::Produce { req: 7, partition: 0, ids: Rc::new(vec![42]), producer: 0, base_seq: 0, acks: Acks::All };
        let answers = call(&mut b, |b, ctx| b.on_msg(ctx, NodeId(5), produce));
        assert_eq!(answers, vec![(NodeId(5), Some(ProduceError::NotEnoughReplicas))]);
        assert_eq!(b.replicas[&0].log.leo(), 0);
    }

    /// The leader's answer to a follower's fetch, with and without leader epochs. The leader holds
    /// 3 entries of epoch 1 and 2 of epoch 2; the follower holds 4 entries, its last of epoch 1 (it
    /// wrote offset 3 in epoch 1 under the old leader: its entry differs from the leader's).
    #[test]
    fn without_leader_epochs_the_leader_compares_offsets_only() {
        let answer = |leader_epochs: bool, offset: u64, last_epoch: u32| {
            let config = Config { partition_count: 1, leader_epochs, ..Config::default() };
            let mut b = Broker::new(Rc::new(Params { config, broker_count: 3 }), 0);
            call(&mut b, |b, ctx| b.on_start(ctx));
            let r = b.replicas.get_mut(&0).expect("replica");
            for (epoch, id) in [(1, 1), (1, 2), (1, 3), (2, 4), (2, 5)] {
                r.log.append(Entry::new(epoch, Payload::Data { id, producer: 0, seq: 0 }));
            }
            r.leader_epoch = 2;
            let mut rng = Prng::new(1, Stream::Node(0));
            let mut ids = IdSource::default();
            let mut effects: Vec<Effect<Node>> = Vec::new();
            let mut ctx = Ctx::detached(NodeId(0), Time(1_000), &mut rng, &mut ids, &[], &mut effects);
            b.on_fetch(&mut ctx, 1, 0, 2, offset, last_epoch, 0);
            effects
                .into_iter()
                .find_map(|e| match e {
                    Effect::Send { msg: Msg::FetchResp { result, .. }, .. } => Some(result),
                    _ => None,
                })
                .expect("an answer")
        };
        // With leader epochs: epoch 1 ends at offset 3 on the leader, so the follower truncates to 3.
        assert!(matches!(answer(true, 4, 1), FetchResult::Diverging { epoch: 1, end_offset: 3 }));
        // Without: offset 4 is within the leader's log, so the follower gets entry 4 and keeps its
        // own, different, entry at offset 3.
        assert!(
            matches!(answer(false, 4, 1), FetchResult::Entries { base: 4, ref entries, .. } if crate::log::run_len(entries) == 1)
        );
        // Only a fetch past the leader's end is answered, and by offset: truncate to 5.
        assert!(matches!(answer(false, 7, 1), FetchResult::OutOfRange { leader_leo: 5 }));
    }

    /// Without leader epochs a restarted broker cuts each log to the high-water mark it
    /// checkpointed, even when more of it was on disk; with leader epochs it keeps its whole log.
    #[test]
    fn without_leader_epochs_a_restart_truncates_to_the_checkpointed_hwm() {
        let recover = |leader_epochs: bool| {
            let config = Config { partition_count: 1, leader_epochs, ..Config::default() };
            let mut b = Broker::new(Rc::new(Params { config, broker_count: 3 }), 1);
            let entries: Vec<Entry> =
                (1..=6).map(|id| Entry::new(1, Payload::Data { id, producer: 0, seq: 0 })).collect();
            let durable = vec![
                Record::Log(vec![LogOp::Append {
                    partition: 0,
                    base: 0,
                    entries: crate::log::Run::new(entries[..4].to_vec()).into(),
                }]),
                Record::Log(vec![LogOp::Hwm { partition: 0, hwm: 2 }]),
                Record::Log(vec![LogOp::Append {
                    partition: 0,
                    base: 4,
                    entries: crate::log::Run::new(entries[4..].to_vec()).into(),
                }]),
            ];
            let mut rng = Prng::new(1, Stream::Node(1));
            let mut ids = IdSource::default();
            let mut effects: Vec<Effect<Node>> = Vec::new();
            let mut ctx = Ctx::detached(NodeId(1), Time(1_000), &mut rng, &mut ids, &[], &mut effects);
            b.recover(&mut ctx, durable);
            let r = &b.replicas[&0];
            (r.log.leo(), r.log.hwm)
        };
        assert_eq!(recover(false), (2, 2));
        assert_eq!(recover(true), (6, 0), "the fixed protocol keeps the log and learns the HWM from the leader");
    }
}
