//! A consumer-group member: heartbeats, the assignment, fetches from the leaders, the records
//! handed to the design, and commits of what the design has done.

use super::*;

#[derive(Debug, Default)]
pub(super) struct Owned {
    /// Next offset to fetch.
    pub(super) next: u64,
    /// Every offset below `floor` is done (the commit); `done` holds those above it.
    pub(super) floor: u64,
    pub(super) done: BTreeSet<u64>,
    pub(super) committed: u64,
    pub(super) buffer: VecDeque<(u64, Record)>,
    pub(super) fetching: Option<(u64, Time)>,
}

impl Owned {
    pub(super) fn mark_done(&mut self, offset: u64) {
        if offset >= self.floor {
            self.done.insert(offset);
        }
        while self.done.remove(&self.floor) {
            self.floor += 1;
        }
    }

    /// Everything below `offset` is gone (deleted by retention): nothing there to wait for.
    pub(super) fn skip_to(&mut self, offset: u64) {
        if self.floor < offset {
            self.floor = offset;
            self.done = self.done.split_off(&offset);
            self.mark_done(offset.saturating_sub(1));
        }
    }
}

/// The position of a partition gained by [`Consumer::assign`] before its first fetch: past any
/// log's end, so the leader answers with the end, where reading starts.
const LATEST: u64 = u64::MAX;

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
    /// Assigned by the design ([`Consumer::assign`]), not by a group.
    manual: bool,
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
            manual: false,
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
        self.activate(ctx, false);
        self.heartbeat(ctx);
        timer(ctx, self.c.spec.commit_interval, Timer::CommitTick(self.session));
    }

    fn activate<A: LogHost>(&mut self, ctx: &mut Ctx<'_, A>, manual: bool) {
        self.active = true;
        self.manual = manual;
        self.session += 1;
        self.inc = ctx.rng().next_u64();
        self.generation = 0;
        self.owned.clear();
        self.ask_meta(ctx);
        timer(ctx, self.c.spec.heartbeat, Timer::MemberTick(self.session));
    }

    /// Owns exactly `parts`, outside any group: the design decides who reads what (live comments
    /// hash partitions onto the members of a membership view). No group heartbeats and no
    /// commits: a partition gained is read from the log's end as the first fetch finds it (live
    /// data; what was written before belongs to whoever owned it then). Returns the partitions
    /// given up. Not for a consumer that has [`Consumer::join`]ed a group.
    pub fn assign<A: LogHost>(&mut self, ctx: &mut Ctx<'_, A>, parts: &[Pid]) -> Vec<Pid> {
        if !self.active {
            self.activate(ctx, true);
        }
        assert!(self.manual, "assign is for a consumer outside a group");
        let revoked: Vec<Pid> = self.owned.keys().copied().filter(|p| !parts.contains(p)).collect();
        for p in &revoked {
            self.owned.remove(p);
        }
        for &p in parts {
            self.owned.entry(p).or_insert_with(|| Owned { next: LATEST, ..Owned::default() });
        }
        self.fetch_all(ctx);
        revoked
    }

    /// Commits what is done and leaves the group (one message: the commit cannot arrive after the
    /// leave). Records fetched and not done go to the partitions' next owners.
    pub fn leave<A: LogHost>(&mut self, ctx: &mut Ctx<'_, A>) {
        if !self.active {
            return;
        }
        if !self.manual {
            self.commit(ctx, true);
        }
        self.active = false;
        self.owned.clear();
        self.generation = 0;
    }

    fn heartbeat<A: LogHost>(&self, ctx: &mut Ctx<'_, A>) {
        let m = Msg::Member { group: self.group, topic: self.topic, inc: self.inc, generation: self.generation };
        send(ctx, self.c.coordinator, m);
    }

    fn ask_meta<A: LogHost>(&mut self, ctx: &mut Ctx<'_, A>) {
        let now = ctx.monotonic();
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
        let now = ctx.monotonic();
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

    /// Every record of `p` below `offset` is done (a snapshot of the design's state covers them,
    /// see [`crate::snapshot`]): the commit may move up to `offset`. Ignored if `p` is not owned.
    pub fn done_below(&mut self, p: Pid, offset: u64) {
        if let Some(o) = self.owned.get_mut(&p) {
            o.skip_to(offset);
        }
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
                let now = ctx.monotonic();
                let stale = self.c.spec.request_timeout + self.c.spec.fetch_wait;
                for o in self.owned.values_mut() {
                    if o.fetching.is_some_and(|(_, at)| now.since(at) >= stale) {
                        o.fetching = None;
                    }
                }
                if !self.manual {
                    self.heartbeat(ctx);
                }
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
            Msg::Assign { group, generation, parts } if *group == self.group && !self.manual => {
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
                    FetchResult::OutOfRange { end, .. } if o.next == LATEST => {
                        (o.next, o.floor, o.committed) = (*end, *end, *end);
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
