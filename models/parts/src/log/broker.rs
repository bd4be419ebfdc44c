//! A broker: the replicas it holds, leading some (appends, replication, the HWM, produces and
//! fetches) and following others (log matching, fences, acknowledgements of what is on disk).

use super::*;

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
    /// Fetches parked at the HWM: (consumer, request, offset, max, since on the monotonic clock).
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
        // Retention reads the records' wall-clock times, as Kafka's does; the long polls' wait and
        // the replication timeout are elapsed times, on the monotonic clock.
        let (now, mono) = (ctx.now(), ctx.monotonic());
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
                let (expired, kept): (Vec<_>, Vec<_>) = lead.parked.drain(..).partition(|f| mono.since(f.4) >= wait);
                lead.parked = kept;
                for (to, req, offset, _, _) in expired {
                    let result = FetchResult::Records { from: offset, next: offset, recs: Vec::new() };
                    send(ctx, to, Msg::FetchReply { req, p, result });
                }
                for f in &mut lead.followers {
                    if f.sent.is_some_and(|s| mono.since(s) >= spec.request_timeout) {
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
        let now = ctx.monotonic();
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
                let now = ctx.monotonic();
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

/// Each partition's log as its leader holds it at the end of a run, with the leader's high-water
/// mark: what a design's checker compares its outputs against.
pub fn leader_logs<'a>(brokers: impl IntoIterator<Item = &'a Broker>) -> BTreeMap<Pid, (u64, &'a PartLog)> {
    let mut logs = BTreeMap::new();
    for b in brokers {
        for (p, log) in b.logs() {
            if let Some((_, hwm)) = b.leading(p) {
                logs.insert(p, (hwm, log));
            }
        }
    }
    logs
}

/// The committed records (below the high-water mark) of each partition of [`leader_logs`], in
/// log order, with their offsets (entries without a record, such as a new leader's marker, take
/// an offset too).
pub fn committed(logs: &BTreeMap<Pid, (u64, &PartLog)>) -> BTreeMap<Pid, Vec<(u64, Record)>> {
    logs.iter()
        .map(|(&p, &(hwm, log))| {
            (p, log.entries().filter(|(o, _)| *o < hwm).filter_map(|(o, e)| e.rec.map(|r| (o, r))).collect())
        })
        .collect()
}
