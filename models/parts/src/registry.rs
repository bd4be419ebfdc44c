//! A service-discovery registry in the ZooKeeper mould: which server holds each user's
//! connection (user -> server), the list of live servers, and the lag with which readers learn
//! of changes.
//!
//! A design whose messages must reach a user on whichever connection server holds the user
//! (chat, live comments, notifications) looks the server up here. Three pieces:
//!
//! - [`Registry`] (one node, standing for a ZooKeeper/etcd ensemble): the authoritative map and
//!   the membership. It applies a write when it arrives, assigns it a transaction id (`zxid`),
//!   and publishes it to every watcher `lag` later.
//! - [`Member`] (in each connection server): the server's *session*, renewed every
//!   `session_interval`, under which it registers its users (ephemeral entries, as ZooKeeper's
//!   ephemeral nodes).
//! - [`View`] (in each reader: the senders that must find a user's server): a local copy fed by
//!   the registry's notifications, which is what lookups read. It is **stale by design**: it
//!   shows the registry as it was `lag` (plus the network) ago.
//!
//! ## The propagation model: watches with a lag
//!
//! A reader subscribes once (`Watch`) and gets a snapshot at once; after that, every change
//! reaches it in a batch `lag` after the registry applied it (the registry holds a queue of
//! unpublished changes, the level `scope.unpublished`, and flushes what is due). This stands for
//! the real sources of delay: observers and followers catching up, watch delivery, a
//! cross-datacenter replica, a client-side cache refreshed on notification. A reader applies a
//! change only if its zxid is newer than what it holds for that user (or server), so batches
//! reordered by the network never roll a view back.
//!
//! ## Sessions and ephemeral entries
//!
//! A member opens a session (a fresh random id) when it starts, renews it every
//! `session_interval`, and registers `(user, epoch)` under it when a connection opens and
//! unregisters it when the connection closes. A session not renewed for `session_timeout`
//! expires: its server leaves the membership when it has no other live session, and every entry
//! registered under it is removed (the crashed server's users vanish from the map). The registry
//! sweeps for silent sessions every `session_interval`; a sweep that comes a whole
//! `session_timeout` after the previous one finds the registry itself stalled (a process pause),
//! cannot tell its members' silence from its own, and gives every session a new timeout instead
//! (counter `stalls`; a paused registry expired every session on resume, renewals queued behind
//! the sweep). A write or a
//! renewal under a session the registry does not know (it expired, or the registry lost its
//! state) is refused with `Expired`; the member then opens a new session and registers everything
//! it holds again (as a ZooKeeper client must after session expiry).
//!
//! Writes are guarded by the connection's epoch (see [`crate::conn`]): a registration with an
//! older epoch than the entry's is stale and ignored; an unregistration removes the entry only
//! if it is still exactly `(that server, that epoch)`, so the old server letting a connection go
//! *after* the user reconnected elsewhere never erases the new entry.
//!
//! ```ron
//! registry: (lag: "100ms", session_interval: "1s", session_timeout: "5s", durable: true)
//! ```
//!
//! ## Durability
//!
//! With `durable: true` the registry writes every session opened or closed and every entry set
//! or removed to its disk (as a ZooKeeper server's transaction log) and a restart replays them: the entries and members come back, every session gets a new timeout from the restart
//! (as a restarted ensemble gives its sessions), and the views are reset to that state rather
//! than emptied, so lookups keep finding servers across the restart. What the registry missed
//! while down (writes sent to it then, or not yet on its disk) is made up by a resync: it asks
//! each restored session's member ([`Msg::Resync`]) to open a new session and register what it
//! holds again; an entry registered again moves to the new session without a change, and what
//! stays under the old session (a connection let go meanwhile, a member that crashed) expires
//! with it a timeout after the restart. The writes go through the page cache, unsynced: no
//! answer of this registry waits for its disk (a member learns of a lost write only through the
//! resync), so a sync would change only what a power loss takes, the writes since the disk's
//! last flush, and the resync makes those up as it does the writes sent while the node was down;
//! a process crash keeps them all. (Unsynced writes also draw no disk latency, so a design's
//! other disks see the same latencies with the registry's log as without.) The log is never
//! compacted here (a ZooKeeper snapshot would bound it). On by default; off, a restart starts empty (below): the known-bad
//! `push_registry_crash.ron` shows what that costs.
//!
//! ## What it measures
//!
//! Counters under the registry's scope: `registers`, `unregisters`, `stale_writes` (ignored by
//! the epoch guard), `sessions_opened`, `sessions_expired`, `expired_replies`, `stalls`, `changes`,
//! `notifications` (batches sent), `watchers_reset` (views told to start again by a restarted
//! registry), `sessions_restored` and `adopted` (a durable registry's restart and resync); the
//! level `scope.unpublished`. Under a view's scope:
//! `misrouted` (reported by the design when a lookup sent it to a server that no longer held the
//! user) and `lookup_misses`. [`RegistryStats`] and [`ViewStats`] per node.
//!
//! ## Invariants
//!
//! The map holds at most one entry per user, and never an older epoch after a newer one; an
//! entry's session is live (entries of an expired session are gone). A view converges to the
//! registry within `lag` plus the network once writes stop.
//!
//! ## Failure modes it shows
//!
//! Stale reads: for `lag` after a user reconnects elsewhere, readers still route its messages to
//! the old server (misrouted); after a crash, until the session expires and that is published,
//! to a dead server. Whether a misrouted message is retried, and for how long, is the design's
//! choice. The registry node itself is not replicated here: without `durable`, crashing it loses
//! the map (members re-register when their renewals are refused, and lookups miss until they
//! have), which a scenario can show but should not mistake for ZooKeeper's behaviour; with it,
//! the map survives the crash, though nothing is published while the node is down. Its watches
//! are lost with it; the nodes the design names
//! as watchers ([`Registry::watched_by`]) are told to drop their views and start again
//! ([`Msg::Reset`]), as a ZooKeeper client sets its watches again after reconnecting, and the
//! new registry's transaction ids start above the old one's (at the restart's instant in
//! nanoseconds), so a batch of the old registry still in flight changes nothing.

use crate::conn::UserId;
use crate::sweep::Sweeps;
use serde::{Deserialize, Serialize};
use sim_core::{Actor, Ctx, Duration, NodeId, Time};
use std::collections::{BTreeMap, VecDeque};
use std::sync::Arc;

/// The registry's knobs (see the module docs for a RON example).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RegistrySpec {
    /// A change reaches watchers this long after the registry applied it.
    pub lag: Duration,
    /// Members renew their session this often.
    pub session_interval: Duration,
    /// A session not renewed for this long expires, with its entries.
    pub session_timeout: Duration,
    /// The registry logs its sessions and entries to its disk and restarts from them, as a
    /// ZooKeeper server from its transaction log (see "Durability" in the module docs; on by
    /// default). Off: a restart starts empty.
    pub durable: bool,
}

impl Default for RegistrySpec {
    fn default() -> Self {
        RegistrySpec {
            lag: Duration::from_millis(100),
            session_interval: Duration::from_secs(1),
            session_timeout: Duration::from_secs(5),
            durable: true,
        }
    }
}

impl RegistrySpec {
    pub fn validate(&self, path: &str) -> Vec<(String, String)> {
        let mut e = Vec::new();
        if self.session_interval.0 == 0 {
            e.push((format!("{path}.session_interval"), "must be positive".into()));
        }
        if self.session_timeout <= self.session_interval {
            e.push((
                format!("{path}.session_timeout"),
                format!("must exceed session_interval ({}), or live sessions expire", self.session_interval),
            ));
        }
        if self.lag > Duration::from_secs(3600) {
            e.push((format!("{path}.lag"), format!("at most 1h, got {}", self.lag)));
        }
        e
    }
}

/// One published change, with the registry's transaction id.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Change {
    Set { zxid: u64, user: UserId, server: NodeId, epoch: u64 },
    Remove { zxid: u64, user: UserId },
    Member { zxid: u64, server: NodeId, live: bool },
}

impl Change {
    pub fn zxid(&self) -> u64 {
        match *self {
            Change::Set { zxid, .. } | Change::Remove { zxid, .. } | Change::Member { zxid, .. } => zxid,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Msg {
    /// A member opens (`fresh`) or renews its session.
    Session {
        session: u64,
        fresh: bool,
    },
    Register {
        session: u64,
        user: UserId,
        epoch: u64,
    },
    Unregister {
        session: u64,
        user: UserId,
        epoch: u64,
    },
    /// The registry does not know this session: open a new one and register again.
    Expired {
        session: u64,
    },
    /// A reader subscribes.
    Watch,
    /// Changes for watchers (the first answer to `Watch` is a snapshot).
    Changes(Arc<[Change]>),
    /// The registry restarted: the watcher drops everything it holds and starts again from
    /// `snapshot` (empty after a restart without durability), ignoring every change up to
    /// `since` (the old registry's, still in flight).
    Reset {
        since: u64,
        snapshot: Arc<[Change]>,
    },
    /// A durable registry restarted with this session: register everything held again, under a
    /// new session (a write sent while the registry was down, or not yet on its disk, is lost).
    Resync {
        session: u64,
    },
}

impl sim_core::Message for Msg {
    fn kind(&self) -> &'static str {
        match self {
            Msg::Session { .. } => "registry_session",
            Msg::Register { .. } => "registry_register",
            Msg::Unregister { .. } => "registry_unregister",
            Msg::Expired { .. } => "registry_expired",
            Msg::Watch => "registry_watch",
            Msg::Changes(_) => "registry_changes",
            Msg::Reset { .. } => "registry_reset",
            Msg::Resync { .. } => "registry_resync",
        }
    }
    fn size_bytes(&self) -> u64 {
        match self {
            Msg::Changes(c) | Msg::Reset { snapshot: c, .. } => 64 + 32 * c.len() as u64,
            _ => 64,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Timer {
    /// The registry publishes the changes that are due.
    Publish,
    /// The registry expires sessions not renewed.
    Expire,
    /// A member renews its session.
    Renew,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RegistryStats {
    pub registers: u64,
    pub unregisters: u64,
    pub stale_writes: u64,
    pub sessions_opened: u64,
    pub sessions_expired: u64,
    pub expired_replies: u64,
    pub changes: u64,
    pub notifications: u64,
    /// Expiry sweeps that found the registry itself stalled for a session timeout.
    pub stalls: u64,
    /// Sessions a durable registry read back from its disk at a restart.
    pub sessions_restored: u64,
    /// Entries a member registered again under a new session after a resync (moved to it).
    pub adopted: u64,
}

impl RegistryStats {
    pub fn add(&mut self, o: &RegistryStats) {
        self.registers += o.registers;
        self.unregisters += o.unregisters;
        self.stale_writes += o.stale_writes;
        self.sessions_opened += o.sessions_opened;
        self.sessions_expired += o.sessions_expired;
        self.expired_replies += o.expired_replies;
        self.changes += o.changes;
        self.notifications += o.notifications;
        self.stalls += o.stalls;
        self.sessions_restored += o.sessions_restored;
        self.adopted += o.adopted;
    }
}

/// What a durable registry writes to its disk (synced), one record per change of its state.
/// Replayed in order at a restart; a closed session takes its entries with it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Record {
    Opened { server: NodeId, session: u64 },
    Closed { server: NodeId, session: u64 },
    Set { zxid: u64, user: UserId, server: NodeId, epoch: u64, session: u64 },
    Removed { zxid: u64, user: UserId },
}

/// A node that hosts a [`Registry`]: its messages, timers and disk records wrap the registry's.
pub trait RegistryHost: Actor<Msg: From<Msg>, Timer: From<Timer>, Record: From<Record>> {}

impl<A> RegistryHost for A where A: Actor<Msg: From<Msg>, Timer: From<Timer>, Record: From<Record>> {}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Entry {
    server: NodeId,
    epoch: u64,
    session: u64,
    zxid: u64,
}

/// The authoritative store (see the module docs).
#[derive(Clone, Debug)]
pub struct Registry {
    scope: &'static str,
    spec: RegistrySpec,
    entries: BTreeMap<UserId, Entry>,
    /// Live sessions: (server, session) -> last renewal, on the monotonic clock.
    sessions: BTreeMap<(NodeId, u64), Time>,
    /// The expiry sweeps, to tell the registry's own stall from its members' silence.
    sweeps: Sweeps,
    /// Live servers: the number of live sessions each has, and the zxid of its last change.
    members: BTreeMap<NodeId, (u32, u64)>,
    watchers: Vec<NodeId>,
    /// The nodes that hold a [`View`] of this registry, as the design wires them
    /// ([`Registry::watched_by`]): told to start again when the registry restarts.
    known_watchers: Vec<NodeId>,
    /// Changes not yet published, with the time they are due.
    unpublished: VecDeque<(Time, Change)>,
    publish_armed: bool,
    zxid: u64,
    pub stats: RegistryStats,
}

impl Registry {
    pub fn new(scope: &'static str, spec: RegistrySpec) -> Registry {
        Registry {
            scope,
            spec,
            entries: BTreeMap::new(),
            sessions: BTreeMap::new(),
            sweeps: Sweeps::default(),
            members: BTreeMap::new(),
            watchers: Vec::new(),
            known_watchers: Vec::new(),
            unpublished: VecDeque::new(),
            publish_armed: false,
            zxid: 0,
            stats: RegistryStats::default(),
        }
    }

    /// The nodes that hold a [`View`] of this registry. A watch lives in the registry's memory,
    /// so a restart loses it; a ZooKeeper client library reconnects and sets its watches again.
    /// Here the restarted registry sends these nodes a [`Msg::Reset`] with its (empty) state and
    /// publishes to them from then on. Without it, a view outlives the registry's restart
    /// holding the old state, which no change ever reaches again.
    pub fn watched_by(mut self, nodes: impl IntoIterator<Item = NodeId>) -> Registry {
        self.known_watchers = nodes.into_iter().collect();
        self
    }

    /// Starts the session expiry sweep (call from `on_start`; `extract` picks the registry's
    /// records out of the design's). After a restart, resets the known watchers
    /// ([`Registry::watched_by`]) to the registry's state: empty, or with `durable`, what its disk
    /// holds. New transaction ids start above any the registry gave before: it counts from the
    /// restart's instant in nanoseconds (the registry cannot have made more changes than
    /// nanoseconds have passed).
    pub fn start<A: RegistryHost>(&mut self, ctx: &mut Ctx<'_, A>, extract: impl Fn(&A::Record) -> Option<&Record>) {
        crate::set_timer(ctx, self.spec.session_interval, Timer::Expire);
        self.sweeps.started(ctx.monotonic());
        if !ctx.is_restart() {
            return;
        }
        let durable = ctx.durable();
        if self.spec.durable {
            self.restore(ctx.monotonic(), durable.iter().filter_map(extract));
        }
        // A durable registry's snapshot keeps its transaction ids, so the views take it whole;
        // an empty one fences off the old registry's batches still in flight.
        let since = if self.spec.durable { 0 } else { ctx.now().0.max(self.zxid) };
        self.zxid = self.zxid.max(ctx.now().0);
        let snapshot: Arc<[Change]> = self.snapshot().into();
        for &w in &self.known_watchers {
            if !self.watchers.contains(&w) {
                self.watchers.push(w);
            }
            crate::send(ctx, w, Msg::Reset { since, snapshot: snapshot.clone() });
        }
        ctx.count_in(self.scope, "watchers_reset", self.known_watchers.len() as u64);
        if !self.spec.durable {
            return;
        }
        let restored: Vec<(NodeId, u64)> = self.sessions.keys().copied().collect();
        for &(server, session) in &restored {
            crate::send(ctx, server, Msg::Resync { session });
        }
        self.stats.sessions_restored += restored.len() as u64;
        ctx.count_in(self.scope, "sessions_restored", restored.len() as u64);
    }

    /// Replays a durable registry's records: its sessions (each with a new timeout from `now`, as
    /// a restarted ZooKeeper ensemble gives its sessions), members and entries.
    fn restore<'r>(&mut self, now: Time, records: impl Iterator<Item = &'r Record>) {
        for r in records {
            match *r {
                Record::Opened { server, session } => {
                    self.sessions.insert((server, session), now);
                }
                Record::Closed { server, session } => {
                    self.sessions.remove(&(server, session));
                    self.entries.retain(|_, e| !(e.server == server && e.session == session));
                }
                Record::Set { zxid, user, server, epoch, session } => {
                    self.entries.insert(user, Entry { server, epoch, session, zxid });
                    self.zxid = self.zxid.max(zxid);
                }
                Record::Removed { zxid, user } => {
                    self.entries.remove(&user);
                    self.zxid = self.zxid.max(zxid);
                }
            }
        }
        // Members under a transaction id above every restored entry's.
        self.zxid += 1;
        for &(server, _) in self.sessions.keys() {
            self.members.entry(server).or_insert((0, self.zxid)).0 += 1;
        }
    }

    /// The registry's state as changes: what a new watcher (or a reset one) starts from.
    fn snapshot(&self) -> Vec<Change> {
        let mut snap: Vec<Change> =
            self.members.iter().map(|(&server, &(_, zxid))| Change::Member { zxid, server, live: true }).collect();
        snap.extend(self.entries.iter().map(|(&user, e)| Change::Set {
            zxid: e.zxid,
            user,
            server: e.server,
            epoch: e.epoch,
        }));
        snap
    }

    /// Writes `record` to the disk of a durable registry, through the page cache (see
    /// "Durability" in the module docs for why no sync).
    fn log<A: RegistryHost>(&self, ctx: &mut Ctx<'_, A>, record: Record) {
        if self.spec.durable {
            ctx.persist_buffered(A::Record::from(record));
        }
    }

    /// The server and epoch `user` is registered at.
    pub fn entry(&self, user: UserId) -> Option<(NodeId, u64)> {
        self.entries.get(&user).map(|e| (e.server, e.epoch))
    }

    /// Every entry, by user: `(user, server, epoch)`.
    pub fn entries(&self) -> impl Iterator<Item = (UserId, NodeId, u64)> + '_ {
        self.entries.iter().map(|(&u, e)| (u, e.server, e.epoch))
    }

    /// Servers with a live session.
    pub fn live_servers(&self) -> impl Iterator<Item = NodeId> + '_ {
        self.members.keys().copied()
    }

    fn change<A: Actor<Timer: From<Timer>>>(&mut self, ctx: &mut Ctx<'_, A>, make: impl FnOnce(u64) -> Change) -> u64 {
        self.zxid += 1;
        let c = make(self.zxid);
        self.stats.changes += 1;
        ctx.count_in(self.scope, "changes", 1);
        ctx.level(self.scope, "unpublished", 1);
        self.unpublished.push_back((ctx.monotonic() + self.spec.lag, c));
        if !self.publish_armed {
            self.publish_armed = true;
            crate::set_timer(ctx, self.spec.lag, Timer::Publish);
        }
        self.zxid
    }

    fn open<A: RegistryHost>(&mut self, ctx: &mut Ctx<'_, A>, server: NodeId, session: u64) {
        self.log(ctx, Record::Opened { server, session });
        self.sessions.insert((server, session), ctx.monotonic());
        self.stats.sessions_opened += 1;
        ctx.count_in(self.scope, "sessions_opened", 1);
        let m = self.members.entry(server).or_insert((0, 0)).0;
        if m == 0 {
            let z = self.change(ctx, |zxid| Change::Member { zxid, server, live: true });
            self.members.insert(server, (1, z));
        } else {
            self.members.get_mut(&server).expect("member").0 += 1;
        }
    }

    fn expire<A: RegistryHost>(&mut self, ctx: &mut Ctx<'_, A>, server: NodeId, session: u64) {
        self.log(ctx, Record::Closed { server, session });
        self.sessions.remove(&(server, session));
        self.stats.sessions_expired += 1;
        ctx.count_in(self.scope, "sessions_expired", 1);
        let gone: Vec<UserId> =
            self.entries.iter().filter(|(_, e)| e.server == server && e.session == session).map(|(&u, _)| u).collect();
        for user in gone {
            self.entries.remove(&user);
            self.change(ctx, |zxid| Change::Remove { zxid, user });
        }
        let m = self.members.get_mut(&server).expect("a live session's server is a member");
        m.0 -= 1;
        if m.0 == 0 {
            self.members.remove(&server);
            self.change(ctx, |zxid| Change::Member { zxid, server, live: false });
        }
    }

    /// Renews `(from, session)`; false (and `Expired` sent) when the registry does not know it.
    fn renew<A>(&mut self, ctx: &mut Ctx<'_, A>, from: NodeId, session: u64) -> bool
    where
        A: Actor<Msg: From<Msg>>,
    {
        let now = ctx.monotonic();
        match self.sessions.get_mut(&(from, session)) {
            Some(t) => {
                *t = now;
                true
            }
            None => {
                self.stats.expired_replies += 1;
                ctx.count_in(self.scope, "expired_replies", 1);
                crate::send(ctx, from, Msg::Expired { session });
                false
            }
        }
    }

    pub fn on_msg<A: RegistryHost>(&mut self, ctx: &mut Ctx<'_, A>, from: NodeId, msg: Msg) {
        match msg {
            Msg::Session { session, fresh: true } if !self.sessions.contains_key(&(from, session)) => {
                self.open(ctx, from, session)
            }
            Msg::Session { session, .. } => {
                self.renew(ctx, from, session);
            }
            Msg::Register { session, user, epoch } => {
                if !self.renew(ctx, from, session) {
                    return;
                }
                match self.entries.get(&user).copied() {
                    // The same connection registered again under a new session (after a durable
                    // registry's resync): the entry moves to it, and nothing visible changes.
                    Some(e) if e.epoch == epoch && e.server == from && e.session != session => {
                        self.log(ctx, Record::Set { zxid: e.zxid, user, server: from, epoch, session });
                        self.entries.insert(user, Entry { session, ..e });
                        self.stats.adopted += 1;
                        ctx.count_in(self.scope, "adopted", 1);
                    }
                    Some(e) if e.epoch > epoch || (e.epoch == epoch && e.server == from) => {
                        self.stats.stale_writes += 1;
                        ctx.count_in(self.scope, "stale_writes", 1);
                    }
                    _ => {
                        self.stats.registers += 1;
                        ctx.count_in(self.scope, "registers", 1);
                        let zxid = self.change(ctx, |zxid| Change::Set { zxid, user, server: from, epoch });
                        self.log(ctx, Record::Set { zxid, user, server: from, epoch, session });
                        self.entries.insert(user, Entry { server: from, epoch, session, zxid });
                    }
                }
            }
            Msg::Unregister { session, user, epoch } => {
                if !self.renew(ctx, from, session) {
                    return;
                }
                if self.entries.get(&user).is_some_and(|e| e.server == from && e.epoch == epoch) {
                    self.entries.remove(&user);
                    self.stats.unregisters += 1;
                    ctx.count_in(self.scope, "unregisters", 1);
                    let zxid = self.change(ctx, |zxid| Change::Remove { zxid, user });
                    self.log(ctx, Record::Removed { zxid, user });
                } else {
                    self.stats.stale_writes += 1;
                    ctx.count_in(self.scope, "stale_writes", 1);
                }
            }
            Msg::Watch => {
                if !self.watchers.contains(&from) {
                    self.watchers.push(from);
                }
                crate::send(ctx, from, Msg::Changes(self.snapshot().into()));
            }
            Msg::Expired { .. } | Msg::Changes(_) | Msg::Reset { .. } | Msg::Resync { .. } => {}
        }
    }

    pub fn on_timer<A: RegistryHost>(&mut self, ctx: &mut Ctx<'_, A>, t: Timer) {
        // The publication lag and the session timeout are elapsed times: the monotonic clock, as
        // ZooKeeper and etcd measure them (a stepped wall clock would hold changes back or expire
        // live sessions).
        let now = ctx.monotonic();
        match t {
            Timer::Publish => {
                let mut batch = Vec::new();
                while let Some(&(due, c)) = self.unpublished.front()
                    && due <= now
                {
                    self.unpublished.pop_front();
                    batch.push(c);
                }
                ctx.level(self.scope, "unpublished", -(batch.len() as i64));
                if !batch.is_empty() {
                    let batch: Arc<[Change]> = batch.into();
                    for &w in &self.watchers {
                        self.stats.notifications += 1;
                        ctx.count_in(self.scope, "notifications", 1);
                        crate::send(ctx, w, Msg::Changes(batch.clone()));
                    }
                }
                match self.unpublished.front() {
                    Some(&(due, _)) => {
                        crate::set_timer(ctx, due.since(now), Timer::Publish);
                    }
                    None => self.publish_armed = false,
                }
            }
            Timer::Expire => {
                let timeout = self.spec.session_timeout;
                // A sweep a whole timeout after the previous one: the registry itself stalled (a
                // process pause) and cannot tell its members' silence from its own; renewals may
                // be waiting behind this timer. Every session gets a new timeout from now.
                if self.sweeps.stalled(now, timeout) {
                    self.stats.stalls += 1;
                    ctx.count_in(self.scope, "stalls", 1);
                    for renewed in self.sessions.values_mut() {
                        *renewed = (*renewed).max(now);
                    }
                } else {
                    let dead: Vec<(NodeId, u64)> =
                        self.sessions.iter().filter(|(_, t)| now.since(**t) >= timeout).map(|(&k, _)| k).collect();
                    for (server, session) in dead {
                        self.expire(ctx, server, session);
                    }
                }
                crate::set_timer(ctx, self.spec.session_interval, Timer::Expire);
            }
            Timer::Renew => {}
        }
    }
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct MemberStats {
    pub registers: u64,
    pub unregisters: u64,
    /// Sessions reopened after the registry refused one.
    pub resyncs: u64,
}

impl MemberStats {
    pub fn add(&mut self, o: &MemberStats) {
        self.registers += o.registers;
        self.unregisters += o.unregisters;
        self.resyncs += o.resyncs;
    }
}

/// A server's session with the registry, and its registrations.
#[derive(Clone, Debug)]
pub struct Member {
    registry: NodeId,
    interval: Duration,
    session: u64,
    pub stats: MemberStats,
}

impl Member {
    pub fn new(registry: NodeId, spec: &RegistrySpec) -> Member {
        Member { registry, interval: spec.session_interval, session: 0, stats: MemberStats::default() }
    }

    /// Opens a session (a fresh random id) and starts renewing it (call from `on_start`).
    pub fn start<A: Actor<Msg: From<Msg>, Timer: From<Timer>>>(&mut self, ctx: &mut Ctx<'_, A>) {
        self.open(ctx);
        crate::set_timer(ctx, self.interval, Timer::Renew);
    }

    fn open<A: Actor<Msg: From<Msg>>>(&mut self, ctx: &mut Ctx<'_, A>) {
        self.session = ctx.rng().next_u64();
        crate::send(ctx, self.registry, Msg::Session { session: self.session, fresh: true });
    }

    pub fn session(&self) -> u64 {
        self.session
    }

    pub fn register<A: Actor<Msg: From<Msg>>>(&mut self, ctx: &mut Ctx<'_, A>, user: UserId, epoch: u64) {
        self.stats.registers += 1;
        crate::send(ctx, self.registry, Msg::Register { session: self.session, user, epoch });
    }

    pub fn unregister<A: Actor<Msg: From<Msg>>>(&mut self, ctx: &mut Ctx<'_, A>, user: UserId, epoch: u64) {
        self.stats.unregisters += 1;
        crate::send(ctx, self.registry, Msg::Unregister { session: self.session, user, epoch });
    }

    pub fn on_timer<A: Actor<Msg: From<Msg>, Timer: From<Timer>>>(&mut self, ctx: &mut Ctx<'_, A>, t: Timer) {
        if t == Timer::Renew {
            crate::send(ctx, self.registry, Msg::Session { session: self.session, fresh: false });
            crate::set_timer(ctx, self.interval, Timer::Renew);
        }
    }

    /// The registry's message. True when the session was refused (or a restarted durable
    /// registry asked for a resync) and a new one opened: the design must then
    /// [`Member::register`] every connection it holds again.
    pub fn on_msg<A: Actor<Msg: From<Msg>>>(&mut self, ctx: &mut Ctx<'_, A>, msg: &Msg) -> bool {
        match *msg {
            Msg::Expired { session } | Msg::Resync { session } if session == self.session => {
                self.stats.resyncs += 1;
                self.open(ctx);
                true
            }
            _ => false,
        }
    }
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ViewStats {
    /// Changes applied.
    pub applied: u64,
    /// Changes older than what the view held (reordered batches), ignored.
    pub ignored: u64,
    pub lookups: u64,
    pub lookup_misses: u64,
    pub misrouted: u64,
    /// Restarts of the registry that emptied this view ([`Msg::Reset`]).
    pub resets: u64,
}

impl ViewStats {
    pub fn add(&mut self, o: &ViewStats) {
        self.applied += o.applied;
        self.ignored += o.ignored;
        self.lookups += o.lookups;
        self.lookup_misses += o.lookup_misses;
        self.misrouted += o.misrouted;
        self.resets += o.resets;
    }
}

/// Inserts `v` at `key` if `zxid` is newer than the zxid held there.
fn apply_newer<K: Ord, V>(map: &mut BTreeMap<K, (V, u64)>, key: K, v: V, zxid: u64) -> bool {
    if map.get(&key).is_some_and(|held| held.1 >= zxid) {
        return false;
    }
    map.insert(key, (v, zxid));
    true
}

/// A reader's copy of the registry, as of the notifications it has received.
#[derive(Clone, Debug)]
pub struct View {
    scope: &'static str,
    registry: NodeId,
    /// User -> (server and epoch, zxid); `None` is a removal remembered, so that an older `Set`
    /// cannot bring the entry back.
    entries: BTreeMap<UserId, (Option<(NodeId, u64)>, u64)>,
    /// Server -> (live, zxid).
    members: BTreeMap<NodeId, (bool, u64)>,
    /// Changes up to this zxid are a registry's from before its last restart: ignored.
    since: u64,
    pub stats: ViewStats,
}

impl View {
    pub fn new(scope: &'static str, registry: NodeId) -> View {
        View {
            scope,
            registry,
            entries: BTreeMap::new(),
            members: BTreeMap::new(),
            since: 0,
            stats: ViewStats::default(),
        }
    }

    /// Subscribes (call from `on_start`).
    pub fn start<A: Actor<Msg: From<Msg>>>(&mut self, ctx: &mut Ctx<'_, A>) {
        crate::send(ctx, self.registry, Msg::Watch);
    }

    /// Applies the registry's notifications.
    pub fn on_msg(&mut self, msg: &Msg) {
        let changes = match msg {
            Msg::Changes(changes) => changes,
            Msg::Reset { since, snapshot } => {
                self.stats.resets += 1;
                self.entries.clear();
                self.members.clear();
                self.since = self.since.max(*since);
                snapshot
            }
            _ => return,
        };
        for c in changes.iter() {
            if c.zxid() <= self.since {
                self.stats.ignored += 1;
                continue;
            }
            let applied = match *c {
                Change::Set { zxid, user, server, epoch } => {
                    apply_newer(&mut self.entries, user, Some((server, epoch)), zxid)
                }
                Change::Remove { zxid, user } => apply_newer(&mut self.entries, user, None, zxid),
                Change::Member { zxid, server, live } => apply_newer(&mut self.members, server, live, zxid),
            };
            if applied {
                self.stats.applied += 1;
            } else {
                self.stats.ignored += 1;
            }
        }
    }

    /// The server and epoch this view holds for `user`, live member or not.
    pub fn entry(&self, user: UserId) -> Option<(NodeId, u64)> {
        self.entries.get(&user).and_then(|s| s.0)
    }

    /// Whether this view believes `server` has a live session.
    pub fn is_live(&self, server: NodeId) -> bool {
        self.members.get(&server).is_some_and(|m| m.0)
    }

    /// The servers this view believes live, in node order (the membership a router or a
    /// consumer hashes over).
    pub fn live_servers(&self) -> impl Iterator<Item = NodeId> + '_ {
        self.members.iter().filter(|(_, m)| m.0).map(|(&s, _)| s)
    }

    /// Where to send a message for `user`: its server, if the view has one that it believes live.
    pub fn lookup<A: Actor>(&mut self, ctx: &mut Ctx<'_, A>, user: UserId) -> Option<NodeId> {
        self.stats.lookups += 1;
        let found = self.entry(user).map(|(s, _)| s).filter(|&s| self.is_live(s));
        if found.is_none() {
            self.stats.lookup_misses += 1;
            ctx.count_in(self.scope, "lookup_misses", 1);
        }
        found
    }

    /// The design found out that a lookup's answer was wrong: `server` did not hold `user`.
    pub fn misrouted<A: Actor>(&mut self, ctx: &mut Ctx<'_, A>) {
        self.stats.misrouted += 1;
        ctx.count_in(self.scope, "misrouted", 1);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{Bench, PartHost};
    use sim_core::Effect;

    type T = PartHost<Msg, Timer, Record>;

    const S1: NodeId = NodeId(1);
    const S2: NodeId = NodeId(2);
    const READER: NodeId = NodeId(8);

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    /// The registry's messages to `to` since the last drain, and its publish timers.
    fn out(b: &mut Bench<T>) -> (Vec<(NodeId, Msg)>, Vec<Duration>) {
        let (timers, fx) = b.drain();
        let sent = fx
            .into_iter()
            .filter_map(|e| match e {
                Effect::Send { to, msg } => Some((to, msg)),
                _ => None,
            })
            .collect();
        let publish = timers.into_iter().filter(|(_, t)| *t == Timer::Publish).map(|(d, _)| d).collect();
        (sent, publish)
    }

    /// An in-memory registry (`durable: false`): a restart starts empty.
    fn registry() -> Registry {
        Registry::new("registry", RegistrySpec { lag: ms(500), durable: false, ..RegistrySpec::default() })
    }

    fn msg(b: &mut Bench<T>, r: &mut Registry, from: NodeId, m: Msg) {
        b.with(|ctx| r.on_msg(ctx, from, m));
    }

    /// A started registry with S1 holding user 1 under session 1 and S2 user 2 under session 2.
    fn two_members(b: &mut Bench<T>) -> Registry {
        let mut r = registry();
        b.with(|ctx| r.start(ctx, |r| Some(r)));
        msg(b, &mut r, S1, Msg::Session { session: 1, fresh: true });
        msg(b, &mut r, S2, Msg::Session { session: 2, fresh: true });
        msg(b, &mut r, S1, Msg::Register { session: 1, user: 1, epoch: 1 });
        msg(b, &mut r, S2, Msg::Register { session: 2, user: 2, epoch: 1 });
        r
    }

    #[test]
    fn readers_see_a_change_only_after_the_lag() {
        let mut b: Bench<T> = Bench::new();
        let mut r = registry();
        let mut v = View::new("sender", NodeId(0));
        msg(&mut b, &mut r, READER, Msg::Watch);
        let (sent, _) = out(&mut b);
        v.on_msg(&sent[0].1);
        msg(&mut b, &mut r, S1, Msg::Session { session: 7, fresh: true });
        msg(&mut b, &mut r, S1, Msg::Register { session: 7, user: 42, epoch: 1 });
        assert_eq!(r.entry(42), Some((S1, 1)), "the registry applies at once");
        let (sent, publish) = out(&mut b);
        assert!(sent.is_empty(), "nothing published before the lag");
        assert_eq!(publish, [ms(500)], "one flush for both changes");
        b.with(|ctx| assert_eq!(v.lookup(ctx, 42), None));
        b.now = Time(ms(500).0);
        b.with(|ctx| r.on_timer(ctx, Timer::Publish));
        let (sent, publish) = out(&mut b);
        assert!(publish.is_empty());
        assert_eq!(sent.len(), 1);
        assert_eq!(sent[0].0, READER);
        v.on_msg(&sent[0].1);
        b.with(|ctx| assert_eq!(v.lookup(ctx, 42), Some(S1)));
        assert_eq!((v.stats.lookups, v.stats.lookup_misses), (2, 1));
    }

    /// The lag and the session timeout are elapsed times: a wall clock stepped back 1.5 s neither
    /// holds a change back nor keeps a silent session; one stepped forward 10 s expires nothing.
    /// (On the wall clock, a step back held a user's new server from every reader for 1.5 s and
    /// `push` lost 30 pushes to connected users at seed 15 of a clock round.)
    #[test]
    fn a_stepped_wall_clock_neither_delays_publication_nor_moves_session_expiry() {
        let mut b: Bench<T> = Bench::new();
        let mut r = registry();
        b.with(|ctx| r.start(ctx, |r| Some(r)));
        msg(&mut b, &mut r, READER, Msg::Watch);
        msg(&mut b, &mut r, S1, Msg::Session { session: 1, fresh: true });
        msg(&mut b, &mut r, S1, Msg::Register { session: 1, user: 42, epoch: 1 });
        out(&mut b);
        b.now = Time(ms(500).0);
        b.wall_step_ns = -1_500_000_000;
        b.with(|ctx| r.on_timer(ctx, Timer::Publish));
        let (sent, publish) = out(&mut b);
        assert_eq!(sent.len(), 1, "published at the lag, whatever the wall clock says");
        assert!(publish.is_empty());
        // Forward 10 s, far past the session timeout: the session renewed 0.5 s ago lives.
        b.wall_step_ns = 10_000_000_000;
        msg(&mut b, &mut r, S1, Msg::Session { session: 1, fresh: false });
        b.now = Time(ms(1_000).0);
        b.with(|ctx| r.on_timer(ctx, Timer::Expire));
        assert_eq!(r.entry(42), Some((S1, 1)));
        // Back 1.5 s again: a session silent past its timeout still expires (the sweeps tick
        // every session interval, as the timer has them).
        b.wall_step_ns = -1_500_000_000;
        for s in 2..=6 {
            b.now = Time(Duration::from_secs(s).0);
            b.with(|ctx| r.on_timer(ctx, Timer::Expire));
        }
        assert_eq!(r.entry(42), None);
        assert_eq!(r.stats.stalls, 0);
    }

    /// A registry paused 10 s (seed 0 of a pause round: the comments registry, n2) found every
    /// renewal 10 s old on its first sweep after the pause and expired every session, though the
    /// renewals were queued behind the sweep: comments' consumers and router lost every instance.
    /// A sweep a timeout after the previous one expires nothing and restarts the timeouts; a
    /// member that stays silent still expires a timeout later.
    #[test]
    fn a_stalled_registry_does_not_expire_the_sessions_its_own_pause_kept_silent() {
        let mut b: Bench<T> = Bench::new();
        let mut r = two_members(&mut b);
        b.now = Time(Duration::from_secs(1).0);
        b.with(|ctx| r.on_timer(ctx, Timer::Expire));
        // Paused from 1 s to 11 s: the next sweep runs at 11 s, before the renewals.
        b.now = Time(Duration::from_secs(11).0);
        b.with(|ctx| r.on_timer(ctx, Timer::Expire));
        assert_eq!((r.entry(1), r.entry(2)), (Some((S1, 1)), Some((S2, 1))));
        assert_eq!((r.stats.stalls, r.stats.sessions_expired), (1, 0));
        // S2 renews after the sweep; S1 is silent for good and expires a timeout after the stall.
        for s in 12..=16 {
            b.now = Time(Duration::from_secs(s).0);
            msg(&mut b, &mut r, S2, Msg::Session { session: 2, fresh: false });
            b.with(|ctx| r.on_timer(ctx, Timer::Expire));
        }
        assert_eq!((r.entry(1), r.entry(2)), (None, Some((S2, 1))));
        assert_eq!((r.stats.stalls, r.stats.sessions_expired), (1, 1));
    }

    #[test]
    fn epochs_guard_writes_so_a_late_unregister_never_erases_a_reconnect() {
        let mut b: Bench<T> = Bench::new();
        let mut r = registry();
        msg(&mut b, &mut r, S1, Msg::Session { session: 1, fresh: true });
        msg(&mut b, &mut r, S2, Msg::Session { session: 2, fresh: true });
        msg(&mut b, &mut r, S1, Msg::Register { session: 1, user: 5, epoch: 10 });
        // The user reconnects to S2; S1 lets its old connection go afterwards.
        msg(&mut b, &mut r, S2, Msg::Register { session: 2, user: 5, epoch: 11 });
        msg(&mut b, &mut r, S1, Msg::Unregister { session: 1, user: 5, epoch: 10 });
        assert_eq!(r.entry(5), Some((S2, 11)));
        // A registration older than the entry (a late one from S1) is stale too.
        msg(&mut b, &mut r, S1, Msg::Register { session: 1, user: 5, epoch: 10 });
        assert_eq!(r.entry(5), Some((S2, 11)));
        msg(&mut b, &mut r, S2, Msg::Unregister { session: 2, user: 5, epoch: 11 });
        assert_eq!(r.entry(5), None);
        assert_eq!((r.stats.registers, r.stats.unregisters, r.stats.stale_writes), (2, 1, 2));
    }

    #[test]
    fn an_expired_session_takes_its_entries_and_its_member_away() {
        let mut b: Bench<T> = Bench::new();
        let mut r = two_members(&mut b);
        // S2 renews, S1 has gone silent.
        for s in 1..=5 {
            b.now = Time(Duration::from_secs(s).0);
            msg(&mut b, &mut r, S2, Msg::Session { session: 2, fresh: false });
            b.with(|ctx| r.on_timer(ctx, Timer::Expire));
        }
        assert_eq!(r.entry(1), None);
        assert_eq!(r.entry(2), Some((S2, 1)));
        assert_eq!(r.live_servers().collect::<Vec<_>>(), [S2]);
        assert_eq!(r.stats.sessions_expired, 1);
        out(&mut b);
        // S1 comes back to life: its renewal and its writes are refused until it opens a new session.
        msg(&mut b, &mut r, S1, Msg::Register { session: 1, user: 1, epoch: 2 });
        let (sent, _) = out(&mut b);
        assert_eq!(sent, [(S1, Msg::Expired { session: 1 })]);
        assert_eq!(r.entry(1), None);
        let mut m = Member::new(NodeId(0), &RegistrySpec::default());
        b.with(|ctx| m.start(ctx));
        let old = m.session();
        assert!(!b.with(|ctx| m.on_msg(ctx, &Msg::Expired { session: old.wrapping_add(1) })), "not its session");
        assert!(b.with(|ctx| m.on_msg(ctx, &Msg::Expired { session: old })));
        assert_ne!(m.session(), old);
        let (sent, _) = out(&mut b);
        assert_eq!(sent.last().unwrap().1, Msg::Session { session: m.session(), fresh: true });
    }

    /// A registry that restarts without its state tells the views the design wired to it to
    /// start again, and its changes from then on reach them: `explore` found `comments` routing
    /// viewers by a view frozen at the registry's crash (its watches were lost with it), while the
    /// instances that re-registered hashed over the new membership.
    #[test]
    fn a_restarted_registry_resets_its_views_and_publishes_to_them_again() {
        let mut b: Bench<T> = Bench::new();
        let mut r = registry().watched_by([READER]);
        let mut v = View::new("sender", NodeId(0));
        b.with(|ctx| r.start(ctx, |r| Some(r)));
        msg(&mut b, &mut r, READER, Msg::Watch);
        msg(&mut b, &mut r, S1, Msg::Session { session: 1, fresh: true });
        msg(&mut b, &mut r, S1, Msg::Register { session: 1, user: 3, epoch: 1 });
        b.now = Time(ms(500).0);
        b.with(|ctx| r.on_timer(ctx, Timer::Publish));
        for (_, m) in out(&mut b).0 {
            v.on_msg(&m);
        }
        assert!(v.is_live(S1));
        assert_eq!(v.entry(3), Some((S1, 1)));
        // A late batch of the old registry, held back by the network: it arrives after the reset.
        let late = Msg::Changes(vec![Change::Member { zxid: 2, server: S2, live: true }].into());
        // The registry crashes and restarts 2 s later: a new one, empty, and a restart.
        let mut r = registry().watched_by([READER]);
        b.now = Time(Duration::from_secs(2).0);
        b.restarted = true;
        b.with(|ctx| r.start(ctx, |r| Some(r)));
        b.restarted = false;
        let (sent, _) = out(&mut b);
        let since = Duration::from_secs(2).0;
        assert_eq!(sent, [(READER, Msg::Reset { since, snapshot: Vec::new().into() })]);
        v.on_msg(&sent[0].1);
        assert_eq!((v.is_live(S1), v.entry(3)), (false, None), "the view holds what the registry holds");
        assert_eq!(v.stats.resets, 1);
        v.on_msg(&late);
        assert!(!v.is_live(S2), "the old registry's change is ignored");
        // S2 joins the new registry, which publishes to the reader without a new watch ...
        msg(&mut b, &mut r, S2, Msg::Session { session: 2, fresh: true });
        b.now = Time(ms(2_500).0);
        b.with(|ctx| r.on_timer(ctx, Timer::Publish));
        let (sent, _) = out(&mut b);
        assert_eq!(sent.len(), 1);
        v.on_msg(&sent[0].1);
        assert!(v.is_live(S2));
        // ... under transaction ids above the old registry's.
        let Msg::Changes(c) = &sent[0].1 else { panic!("a batch: {:?}", sent[0].1) };
        assert!(c[0].zxid() > since);
        assert_eq!(v.live_servers().collect::<Vec<_>>(), [S2]);
        // Without `watched_by` a restart resets nobody (the registry knows no watcher).
        let mut lone = registry();
        b.restarted = true;
        b.with(|ctx| lone.start(ctx, |r| Some(r)));
        assert!(out(&mut b).0.is_empty());
    }

    /// A durable registry logs its sessions and entries, and restarts with them: the views are
    /// reset to that state (not emptied), each session gets a new timeout, and its members are
    /// asked to register again under new sessions, which the entries they still hold move to. A
    /// session whose member never comes back expires a timeout after the restart, with what it
    /// alone held.
    #[test]
    fn a_durable_registry_restarts_from_its_disk_and_asks_its_members_to_resync() {
        let spec = RegistrySpec { lag: ms(500), durable: true, ..RegistrySpec::default() };
        let secs = |n: u64| Time(Duration::from_secs(n).0);
        let mut b: Bench<T> = Bench::new();
        let mut r = Registry::new("registry", spec.clone()).watched_by([READER]);
        b.with(|ctx| r.start(ctx, |r| Some(r)));
        msg(&mut b, &mut r, S1, Msg::Session { session: 1, fresh: true });
        msg(&mut b, &mut r, S2, Msg::Session { session: 2, fresh: true });
        for (from, session, user) in [(S1, 1, 3), (S1, 1, 4), (S2, 2, 5)] {
            msg(&mut b, &mut r, from, Msg::Register { session, user, epoch: 1 });
        }
        msg(&mut b, &mut r, S1, Msg::Unregister { session: 1, user: 4, epoch: 1 });
        let (_, fx) = b.drain();
        b.durable = fx
            .into_iter()
            .filter_map(|e| match e {
                Effect::Persist { record, .. } => Some(record),
                _ => None,
            })
            .collect();
        assert_eq!(b.durable.len(), 6, "two sessions, three registrations, one removal");
        // The registry crashes and restarts at 2 s.
        let mut r = Registry::new("registry", spec).watched_by([READER]);
        b.now = secs(2);
        b.restarted = true;
        b.with(|ctx| r.start(ctx, |r| Some(r)));
        b.restarted = false;
        let (sent, _) = out(&mut b);
        assert_eq!(sent.len(), 3, "{sent:?}");
        assert_eq!(sent[1..], [(S1, Msg::Resync { session: 1 }), (S2, Msg::Resync { session: 2 })]);
        let mut v = View::new("sender", NodeId(0));
        v.on_msg(&sent[0].1);
        assert_eq!((v.entry(3), v.entry(4), v.entry(5)), (Some((S1, 1)), None, Some((S2, 1))));
        assert_eq!(v.live_servers().collect::<Vec<_>>(), [S1, S2]);
        assert_eq!(r.stats.sessions_restored, 2);
        // S1's member resyncs under a new session; S2's never answers (it crashed meanwhile).
        let mut m = Member::new(NodeId(9), &RegistrySpec::default());
        b.with(|ctx| m.start(ctx));
        let old = m.session();
        assert!(b.with(|ctx| m.on_msg(ctx, &Msg::Resync { session: old })), "a resync opens a new session");
        let new = m.session();
        assert_ne!(new, old);
        out(&mut b);
        msg(&mut b, &mut r, S1, Msg::Session { session: new, fresh: true });
        msg(&mut b, &mut r, S1, Msg::Register { session: new, user: 3, epoch: 1 });
        assert_eq!((r.stats.adopted, r.stats.registers), (1, 0), "moved to the new session, no change");
        for t in 3..=7 {
            b.now = secs(t);
            if t == 6 {
                msg(&mut b, &mut r, S1, Msg::Session { session: new, fresh: false });
            }
            b.with(|ctx| r.on_timer(ctx, Timer::Expire));
        }
        assert_eq!(r.stats.sessions_expired, 2, "S1's old session and S2's, a timeout after the restart");
        assert_eq!((r.entry(3), r.entry(5)), (Some((S1, 1)), None));
        assert_eq!(r.live_servers().collect::<Vec<_>>(), [S1]);
    }

    #[test]
    fn a_view_never_rolls_back_on_reordered_batches() {
        let mut v = View::new("sender", NodeId(0));
        let batch = |c: &[Change]| Msg::Changes(c.to_vec().into());
        v.on_msg(&batch(&[Change::Member { zxid: 1, server: S1, live: true }]));
        v.on_msg(&batch(&[Change::Member { zxid: 2, server: S2, live: true }]));
        // The newer batch (the user moved to S2, zxid 5) arrives before the older one (zxid 3).
        v.on_msg(&batch(&[Change::Set { zxid: 5, user: 9, server: S2, epoch: 2 }]));
        v.on_msg(&batch(&[Change::Set { zxid: 3, user: 9, server: S1, epoch: 1 }]));
        assert_eq!(v.entry(9), Some((S2, 2)));
        // A removal is remembered, so an older set cannot resurrect the entry.
        v.on_msg(&batch(&[Change::Remove { zxid: 7, user: 9 }]));
        v.on_msg(&batch(&[Change::Set { zxid: 6, user: 9, server: S1, epoch: 1 }]));
        assert_eq!(v.entry(9), None);
        assert_eq!((v.stats.applied, v.stats.ignored), (4, 2));
        // A server that left is not routed to even while an entry still names it.
        v.on_msg(&batch(&[Change::Set { zxid: 8, user: 4, server: S1, epoch: 1 }]));
        v.on_msg(&batch(&[Change::Member { zxid: 9, server: S1, live: false }]));
        let mut b: Bench<T> = Bench::new();
        b.with(|ctx| assert_eq!(v.lookup(ctx, 4), None));
    }
}
