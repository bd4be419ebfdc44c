//! The coordinator: broker liveness, elections (probes, fences, the most up-to-date answer), group
//! membership and assignment, committed offsets, and the `lag` and `offline` levels.

use super::*;
use crate::sweep::Sweeps;

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
    /// Since when the leader's heartbeats have said it does not lead this partition at `meta`'s
    /// epoch (it stepped down, or never heard of its election).
    disowned: Option<Time>,
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
    let m = distinct(members);
    if m.is_empty() {
        return Vec::new();
    }
    parts.clone().map(|p| (p, m[(p - parts.start) as usize % m.len()])).collect()
}

/// Assigns a topic's partitions to a group's members moving as few as it can from `previous`
/// (partition -> owner at the last rebalance): each member keeps its previous partitions up to
/// its share (the lowest numbered first), and the partitions left over (a departed member's, a
/// member's surplus, new ones) go, lowest first, to the members below their share in node order.
/// Shares differ by at most one; the larger ones go to the members that kept the most, so the
/// fewest move. With no previous owners it is a balanced assignment like [`assign`]'s.
pub fn assign_sticky(members: &[NodeId], parts: Range<Pid>, previous: &BTreeMap<Pid, NodeId>) -> Vec<(Pid, NodeId)> {
    let m = distinct(members);
    if m.is_empty() {
        return Vec::new();
    }
    let mut kept: BTreeMap<NodeId, Vec<Pid>> = m.iter().map(|&x| (x, Vec::new())).collect();
    for p in parts.clone() {
        if let Some(v) = previous.get(&p).and_then(|o| kept.get_mut(o)) {
            v.push(p);
        }
    }
    let (base, extra) = (parts.len() / m.len(), parts.len() % m.len());
    let mut by_kept = m.clone();
    by_kept.sort_by_key(|x| (std::cmp::Reverse(kept[x].len()), *x));
    let share: BTreeMap<NodeId, usize> =
        by_kept.iter().enumerate().map(|(i, &x)| (x, base + usize::from(i < extra))).collect();
    let mut owner: BTreeMap<Pid, NodeId> = BTreeMap::new();
    for (&x, v) in &kept {
        owner.extend(v.iter().take(share[&x]).map(|&p| (p, x)));
    }
    let free: Vec<Pid> = parts.clone().filter(|p| !owner.contains_key(p)).collect();
    let mut free = free.into_iter();
    for (&x, v) in &kept {
        let held = v.len().min(share[&x]);
        owner.extend(free.by_ref().take(share[&x] - held).map(|p| (p, x)));
    }
    owner.into_iter().collect()
}

/// The members in node order, each once: an assignment does not depend on the order it is given.
fn distinct(members: &[NodeId]) -> Vec<NodeId> {
    let mut m = members.to_vec();
    m.sort_unstable();
    m.dedup();
    m
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
    /// The liveness sweeps (every tick), to tell this coordinator's own stall from silence.
    sweeps: Sweeps,
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
            sweeps: Sweeps::default(),
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
        self.started = ctx.monotonic();
        self.sweeps.started(self.started);
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

    /// Whether `p` needs a new leader now: its leader is dead, restarted, or has said for a whole
    /// session that it does not lead `p` (a leader steps down when a follower shows it a newer
    /// epoch: the fence of an election that was abandoned for want of answers).
    fn leaderless(&self, p: usize, now: Time) -> bool {
        let s = &self.parts[p];
        let Some(l) = s.meta.leader else { return true };
        let b = self.c.broker_index(l).expect("leaders are brokers");
        !self.alive(b, now)
            || self.brokers[b].inc.is_some_and(|i| i != s.meta.inc)
            || s.disowned.is_some_and(|t| now.since(t) >= self.c.spec.session_timeout)
    }

    pub fn on_timer<A: LogHost>(&mut self, ctx: &mut Ctx<'_, A>, t: Timer) {
        if t != Timer::CoordinatorTick {
            return;
        }
        let now = ctx.monotonic();
        let session = self.c.spec.session_timeout;
        // A tick a whole session after the previous one: this coordinator itself stalled (a
        // process pause), and the heartbeats of the brokers and members may be waiting behind
        // this timer. Everyone heard from gets a new session from now rather than being taken
        // for dead (every partition re-elected, every group rebalanced, then again as they beat).
        if self.sweeps.stalled(now, session) {
            self.stats.coordinator_stalls += 1;
            ctx.count_in(self.scope, "coordinator_stalls", 1);
            for b in &mut self.brokers {
                b.seen = b.seen.map(|t| t.max(now));
            }
            for g in self.groups.values_mut() {
                for (_, seen) in g.members.values_mut() {
                    *seen = (*seen).max(now);
                }
            }
        }
        for p in 0..self.parts.len() {
            if self.parts[p].election.as_ref().is_some_and(|e| !e.chosen && now >= e.deadline) {
                self.decide(ctx, p as Pid, true);
            }
        }
        self.elect_all(ctx);
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
        let now = ctx.monotonic();
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
            if s.disowned.is_some() && s.meta.leader.is_some_and(|l| live.contains(&l)) {
                self.stats.leaders_disowned += 1;
                ctx.count_in(self.scope, "leaders_disowned", 1);
            }
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
                    s.disowned = None;
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
        let now = ctx.monotonic();
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
        let parts = self.c.topic_partitions(g.topic);
        let owner: BTreeMap<Pid, NodeId> = match self.c.spec.assignor {
            Assignor::RoundRobin => assign(&members, parts),
            Assignor::Sticky => assign_sticky(&members, parts, &g.owner),
        }
        .into_iter()
        .collect();
        let moved = owner.iter().filter(|&(p, o)| g.owner.get(p).is_some_and(|before| before != o)).count() as u64;
        g.owner = owner;
        self.stats.rebalances += 1;
        self.stats.partitions_moved += moved;
        ctx.count_in(self.scope, "rebalances", 1);
        ctx.count_in(self.scope, "partitions_moved", moved);
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
        let now = ctx.monotonic();
        match msg {
            Msg::Beat { inc, led } => {
                let Some(b) = self.c.broker_index(from) else { return };
                let fresh = self.brokers[b].inc != Some(*inc);
                self.brokers[b] = BrokerSeen { seen: Some(now), inc: Some(*inc) };
                // What the broker says it leads (`led` is in partition order) against what it
                // was chosen for.
                for (p, s) in self.parts.iter_mut().enumerate() {
                    if s.meta.leader != Some(from) || s.meta.inc != *inc {
                        continue;
                    }
                    let leads = led.binary_search_by_key(&(p as Pid), |l| l.0).is_ok_and(|i| led[i].1 == s.meta.epoch);
                    s.disowned = if leads { None } else { s.disowned.or(Some(now)) };
                }
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
