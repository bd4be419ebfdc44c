//! Connection servers: long-lived client connections (WebSocket, SSE, MQTT) that a server holds
//! so it can push to the client, with heartbeats both ways and a reconnect policy.
//!
//! Chat, live comments, notifications and presence all keep one open connection per online user
//! on some connection server, and deliver by pushing down it. Two halves live here:
//!
//! - [`ConnServer`] (in a server node): the connections it holds (user -> client node and the
//!   connection's epoch), answering heartbeats, dropping a connection that stopped sending them,
//!   and [`ConnServer::push`]ing a message down a held connection. Open connections are a
//!   cluster-wide kernel level (`scope.connections`, plotted over time): when the server crashes
//!   its connections die with it and the kernel drops its share.
//! - [`ConnClient`] (in a client node): the devices of the users who live on that node, one
//!   connection each, and the *router* that chooses a server for a (re)connect: a
//!   [`Balancer`] over the connection servers, shared by the node's devices like a regional load
//!   balancer (rendezvous hashing of the user id by default; consistent hashing, or least
//!   connections as `LeastOutstanding`, where outstanding counts this node's open connections).
//!
//! ## The protocol
//!
//! A device sends `Connect { user, epoch }` to the router's pick; the server answers `Accepted`
//! (or `Refused` when it is at `max_connections`). Every connect attempt has a fresh *epoch*
//! (increasing per user, also across a client restart: it is at least the local time in ns), so a
//! late acceptance of an abandoned attempt, a registration or a push is recognised as stale
//! wherever it lands. Heartbeats are the WebSocket shape: the client pings every
//! `heartbeat.interval`, the server answers each ping; **the server** drops a connection it has not
//! heard from for `heartbeat.timeout` (its sweep runs every interval, so detection takes between
//! `timeout` and `timeout + interval`); **the client** declares the connection lost when, at one of
//! its pings, it has heard nothing (pong or pushed message) for `heartbeat.timeout` (so, again,
//! within `timeout + interval` of the server's last sign of life), and reconnects. A server that
//! no longer knows a connection (it restarted, or dropped it) answers a ping with `Closed` (the
//! TCP reset), so the client reconnects at once instead of waiting out the timeout. A server that
//! stalled (a process pause) for a timeout or more does not take its own stall for its devices'
//! silence: the first sweep after it finds the pings queued behind it, so that sweep restarts
//! every connection's timeout instead of dropping them all ([`crate::sweep::Sweeps`]; counter
//! `stalls`).
//!
//! Reconnect policy: the first connect is spread uniformly over `connect_spread` (a fleet of
//! devices does not start in one instant); after the `k`-th failure in a row (a lost connection,
//! a connect attempt unanswered within `connect_timeout`, or refused) the device waits
//! `reconnect.wait(k)` (exponential backoff with jitter, [`Backoff`]) before the next attempt, and
//! reports the failure to the router's passive health
//! (`health.eject_after` failures eject the server for `health.eject_for`), so the next pick
//! avoids it.
//!
//! ```ron
//! conn: (
//!     heartbeat: (interval: "1s", timeout: "3s"),
//!     connect_timeout: "1s",
//!     reconnect: (base: "100ms", max: "10s", multiplier: 2.0, jitter: Full),
//!     router: Rendezvous,
//!     health: (eject_after: 1, eject_for: "10s"),
//!     max_connections: 0,          // 0: no limit
//!     connect_spread: "1s",
//! )
//! ```
//!
//! ## What it measures
//!
//! Kernel counters under the server's scope: `connects` (accepted), `drops` (missed heartbeats),
//! `closes` (client closed or replaced), `refused`, `pushes` (sent down a connection),
//! `push_no_connection` (a push for a user it does not hold); under the client's scope:
//! `connect_attempts`, `connect_failures`, `reconnects` (connections after the first), `lost`
//! (heartbeat timeouts or resets seen by a device), `stale_deliveries` (a push that arrived on a
//! connection the device had already given up). The level `scope.connections` on the servers.
//! [`ConnServerStats`] and [`ConnClientStats`] hold the same per node, plus reconnect times (from
//! the loss being noticed to the next acceptance); [`ConnClient::sessions`] is a log of every
//! connection a device had, with the last time it heard its server, for checkers.
//!
//! ## Invariants
//!
//! A device holds at most one connection (it connects only when it has none); a server holds at
//! most one connection per user, the newest epoch; a push goes only down a connection the server
//! holds. Timers of an abandoned attempt are recognised by their epoch and do nothing.
//!
//! ## Failure modes it shows
//!
//! A server crash takes its connections with it; until their devices notice (up to
//! `heartbeat.timeout`), pushes to those users go nowhere. A half-open connection (the server to
//! client direction cut) keeps the server pushing into a connection the client has abandoned:
//! the server believes it delivered. A thundering herd of reconnects after a crash (without
//! jitter, every device of the dead server reconnects in the same instant). Clocks: the session
//! log uses the client's local clock.

use crate::balance::{Balancer, HealthSpec, Policy};
use crate::calls::{Backoff, Jitter};
use serde::{Deserialize, Serialize};
use sim_core::{Actor, Ctx, Duration, NodeId, Time, TimerId};
use std::collections::BTreeMap;

/// A user of the design (the workload's key, usually).
pub type UserId = u64;

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HeartbeatSpec {
    /// The client pings this often.
    pub interval: Duration,
    /// Either side gives the connection up after hearing nothing for this long.
    pub timeout: Duration,
}

impl Default for HeartbeatSpec {
    fn default() -> Self {
        HeartbeatSpec { interval: Duration::from_secs(1), timeout: Duration::from_secs(3) }
    }
}

/// The knobs of connections (see the module docs for a RON example).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ConnSpec {
    pub heartbeat: HeartbeatSpec,
    /// A connect attempt unanswered for this long has failed.
    pub connect_timeout: Duration,
    /// The wait before each reconnect attempt.
    pub reconnect: Backoff,
    /// How a client node picks a server.
    pub router: Policy,
    /// The router's passive health: failed connects and lost connections eject a server.
    pub health: HealthSpec,
    /// Connections a server accepts (0: no limit).
    pub max_connections: u32,
    /// First connects are spread uniformly over this.
    pub connect_spread: Duration,
}

impl Default for ConnSpec {
    fn default() -> Self {
        ConnSpec {
            heartbeat: HeartbeatSpec::default(),
            connect_timeout: Duration::from_secs(1),
            reconnect: Backoff {
                base: Duration::from_millis(100),
                max: Duration::from_secs(10),
                multiplier: 2.0,
                jitter: Jitter::Full,
            },
            router: Policy::Rendezvous,
            health: HealthSpec { eject_after: 1, eject_for: Duration::from_secs(10), ..HealthSpec::default() },
            max_connections: 0,
            connect_spread: Duration::from_secs(1),
        }
    }
}

impl ConnSpec {
    pub fn validate(&self, path: &str) -> Vec<(String, String)> {
        let mut e = Vec::new();
        let hb = &self.heartbeat;
        if hb.interval.0 == 0 {
            e.push((format!("{path}.heartbeat.interval"), "must be positive".into()));
        }
        if hb.timeout <= hb.interval {
            e.push((
                format!("{path}.heartbeat.timeout"),
                format!("must exceed the interval ({}), or every connection is dropped between two pings", hb.interval),
            ));
        }
        if self.connect_timeout.0 == 0 {
            e.push((format!("{path}.connect_timeout"), "must be positive".into()));
        }
        let b = &self.reconnect;
        if !(b.multiplier.is_finite() && (1.0..=100.0).contains(&b.multiplier)) {
            e.push((format!("{path}.reconnect.multiplier"), format!("must be within [1, 100], got {}", b.multiplier)));
        }
        if b.max < b.base || b.max.0 == 0 {
            e.push((format!("{path}.reconnect.max"), "must be positive and at least reconnect.base".into()));
        }
        e.extend(self.router.validate(&format!("{path}.router")));
        e.extend(self.health.validate(&format!("{path}.health")));
        e
    }
}

/// What devices and connection servers say to each other.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Msg {
    Connect {
        user: UserId,
        epoch: u64,
    },
    Accepted {
        user: UserId,
        epoch: u64,
    },
    /// The server is full.
    Refused {
        user: UserId,
        epoch: u64,
    },
    Ping {
        user: UserId,
        epoch: u64,
    },
    Pong {
        user: UserId,
        epoch: u64,
    },
    /// The client gives the connection up (or the server does not know it: a reset).
    Closed {
        user: UserId,
        epoch: u64,
    },
    /// A message pushed down the connection; `msg` is the design's id for it.
    Deliver {
        user: UserId,
        epoch: u64,
        msg: u64,
    },
}

impl sim_core::Message for Msg {
    fn kind(&self) -> &'static str {
        match self {
            Msg::Connect { .. } => "conn_connect",
            Msg::Accepted { .. } => "conn_accepted",
            Msg::Refused { .. } => "conn_refused",
            Msg::Ping { .. } => "conn_ping",
            Msg::Pong { .. } => "conn_pong",
            Msg::Closed { .. } => "conn_closed",
            Msg::Deliver { .. } => "conn_deliver",
        }
    }
    fn size_bytes(&self) -> u64 {
        match self {
            Msg::Deliver { .. } => 512,
            _ => 64,
        }
    }
}

/// What a device waits for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Wait {
    /// Time to send a ping (and to check the server was heard from).
    Heartbeat,
    /// The connect attempt's deadline.
    ConnectDeadline,
    /// The end of a reconnect backoff (or of the initial spread).
    Reconnect,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Timer {
    /// A server's heartbeat sweep.
    Sweep,
    /// A device's timer; `epoch` tells a stale one.
    Device { user: UserId, epoch: u64, wait: Wait },
}

/// Why a server let a connection go.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CloseReason {
    /// No heartbeat for `heartbeat.timeout`.
    Timeout,
    /// The client closed it.
    ClosedByClient,
    /// A newer connection of the same user replaced it on this server.
    Replaced,
    /// The server let it go ([`ConnServer::disconnect`]): the client reconnects through its router.
    ByServer,
}

/// What happened at a server, for the design (to register the user, say).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ServerEvent {
    Opened { user: UserId, epoch: u64, client: NodeId },
    Closed { user: UserId, epoch: u64, reason: CloseReason },
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ConnServerStats {
    pub connects: u64,
    pub drops: u64,
    pub closes: u64,
    pub refused: u64,
    pub pushes: u64,
    pub push_no_connection: u64,
    /// Pings for a connection it does not hold (answered with `Closed`).
    pub resets: u64,
    /// Sweeps that found the server itself stalled, and dropped nothing.
    pub stalls: u64,
}

impl ConnServerStats {
    pub fn add(&mut self, o: &ConnServerStats) {
        self.connects += o.connects;
        self.drops += o.drops;
        self.closes += o.closes;
        self.refused += o.refused;
        self.pushes += o.pushes;
        self.push_no_connection += o.push_no_connection;
        self.resets += o.resets;
        self.stalls += o.stalls;
    }
}

#[derive(Clone, Copy, Debug)]
struct Held {
    client: NodeId,
    epoch: u64,
    /// When the server last heard from the device, on its monotonic clock (the sweep measures
    /// elapsed time).
    heard: Time,
}

/// The server's side: the connections it holds (see the module docs).
#[derive(Clone, Debug)]
pub struct ConnServer {
    scope: &'static str,
    spec: ConnSpec,
    held: BTreeMap<UserId, Held>,
    sweeps: crate::sweep::Sweeps,
    pub stats: ConnServerStats,
}

impl ConnServer {
    pub fn new(scope: &'static str, spec: ConnSpec) -> ConnServer {
        ConnServer { scope, spec, held: BTreeMap::new(), sweeps: Default::default(), stats: ConnServerStats::default() }
    }

    /// Starts the heartbeat sweep (call from `on_start`).
    pub fn start<A: Actor<Timer: From<Timer>>>(&mut self, ctx: &mut Ctx<'_, A>) {
        self.sweeps.started(ctx.monotonic());
        crate::set_timer(ctx, self.spec.heartbeat.interval, Timer::Sweep);
    }

    /// The connections held, by user: `(user, client node, epoch)`.
    pub fn connections(&self) -> impl Iterator<Item = (UserId, NodeId, u64)> + '_ {
        self.held.iter().map(|(&u, h)| (u, h.client, h.epoch))
    }

    pub fn len(&self) -> usize {
        self.held.len()
    }

    pub fn is_empty(&self) -> bool {
        self.held.is_empty()
    }

    /// The epoch of `user`'s connection here, if it holds one.
    pub fn holds(&self, user: UserId) -> Option<u64> {
        self.held.get(&user).map(|h| h.epoch)
    }

    fn close<A: Actor>(&mut self, ctx: &mut Ctx<'_, A>, user: UserId, reason: CloseReason) -> Option<ServerEvent> {
        let h = self.held.remove(&user)?;
        ctx.level(self.scope, "connections", -1);
        match reason {
            CloseReason::Timeout => {
                self.stats.drops += 1;
                ctx.count_in(self.scope, "drops", 1);
            }
            CloseReason::ClosedByClient | CloseReason::Replaced | CloseReason::ByServer => {
                self.stats.closes += 1;
                ctx.count_in(self.scope, "closes", 1);
            }
        }
        Some(ServerEvent::Closed { user, epoch: h.epoch, reason })
    }

    /// A device's message. Returns what changed, if anything.
    pub fn on_msg<A>(&mut self, ctx: &mut Ctx<'_, A>, from: NodeId, msg: Msg) -> Option<ServerEvent>
    where
        A: Actor<Msg: From<Msg>>,
    {
        // The sweep measures elapsed time: on the monotonic clock, as servers do.
        let mono = ctx.monotonic();
        match msg {
            Msg::Connect { user, epoch } => {
                match self.held.get_mut(&user) {
                    // The same attempt again (a duplicate): answer again.
                    Some(h) if h.epoch == epoch => {
                        h.heard = mono;
                        crate::send(ctx, from, Msg::Accepted { user, epoch });
                        return None;
                    }
                    // An attempt older than the connection held: stale.
                    Some(h) if h.epoch > epoch => {
                        crate::send(ctx, from, Msg::Closed { user, epoch });
                        return None;
                    }
                    // A newer connection of a user already held replaces it (it reconnected).
                    Some(_) => {}
                    None => {
                        let max = self.spec.max_connections;
                        if max > 0 && self.held.len() >= max as usize {
                            self.stats.refused += 1;
                            ctx.count_in(self.scope, "refused", 1);
                            crate::send(ctx, from, Msg::Refused { user, epoch });
                            return None;
                        }
                        ctx.level(self.scope, "connections", 1);
                    }
                }
                self.held.insert(user, Held { client: from, epoch, heard: mono });
                self.stats.connects += 1;
                ctx.count_in(self.scope, "connects", 1);
                crate::send(ctx, from, Msg::Accepted { user, epoch });
                Some(ServerEvent::Opened { user, epoch, client: from })
            }
            Msg::Ping { user, epoch } => {
                match self.held.get_mut(&user) {
                    Some(h) if h.epoch == epoch => {
                        h.heard = mono;
                        crate::send(ctx, from, Msg::Pong { user, epoch });
                    }
                    _ => {
                        self.stats.resets += 1;
                        crate::send(ctx, from, Msg::Closed { user, epoch });
                    }
                }
                None
            }
            Msg::Closed { user, epoch } => {
                if self.held.get(&user).is_some_and(|h| h.epoch == epoch) {
                    return self.close(ctx, user, CloseReason::ClosedByClient);
                }
                None
            }
            Msg::Accepted { .. } | Msg::Refused { .. } | Msg::Pong { .. } | Msg::Deliver { .. } => None,
        }
    }

    /// The sweep: drops connections not heard from for `heartbeat.timeout`.
    pub fn on_timer<A: Actor<Timer: From<Timer>>>(&mut self, ctx: &mut Ctx<'_, A>, t: Timer) -> Vec<ServerEvent> {
        if t != Timer::Sweep {
            return Vec::new();
        }
        let mono = ctx.monotonic();
        let timeout = self.spec.heartbeat.timeout;
        crate::set_timer(ctx, self.spec.heartbeat.interval, Timer::Sweep);
        // A sweep a whole timeout after the previous one: the server itself stalled, and the
        // devices' pings may wait behind this timer. Every connection gets a new timeout.
        if self.sweeps.stalled(mono, timeout) {
            self.stats.stalls += 1;
            ctx.count_in(self.scope, "stalls", 1);
            for h in self.held.values_mut() {
                h.heard = h.heard.max(mono);
            }
            return Vec::new();
        }
        let dead: Vec<UserId> =
            self.held.iter().filter(|(_, h)| mono.since(h.heard) >= timeout).map(|(&u, _)| u).collect();
        dead.into_iter().filter_map(|u| self.close(ctx, u, CloseReason::Timeout)).collect()
    }

    /// Closes `user`'s connection from the server's side (it no longer serves what the user
    /// wants: a live-comments instance that lost the user's video): the client is told at once
    /// and reconnects through its router, like an SSE stream the server ended.
    pub fn disconnect<A: Actor<Msg: From<Msg>>>(&mut self, ctx: &mut Ctx<'_, A>, user: UserId) -> Option<ServerEvent> {
        let (client, epoch) = self.held.get(&user).map(|h| (h.client, h.epoch))?;
        crate::send(ctx, client, Msg::Closed { user, epoch });
        self.close(ctx, user, CloseReason::ByServer)
    }

    /// Pushes message `msg` to `user` down its connection. False when this server holds no
    /// connection of that user (counted as `push_no_connection`).
    pub fn push<A: Actor<Msg: From<Msg>>>(&mut self, ctx: &mut Ctx<'_, A>, user: UserId, msg: u64) -> bool {
        let Some(h) = self.held.get(&user) else {
            self.stats.push_no_connection += 1;
            ctx.count_in(self.scope, "push_no_connection", 1);
            return false;
        };
        crate::send(ctx, h.client, Msg::Deliver { user, epoch: h.epoch, msg });
        self.stats.pushes += 1;
        ctx.count_in(self.scope, "pushes", 1);
        true
    }
}

/// One connection a device had, as the device saw it: a ledger for the checkers, its times true
/// ([`Ctx::ledger_time`]), beside the device's own clock's reading that its heartbeat timeout uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Session {
    pub user: UserId,
    pub server: NodeId,
    pub epoch: u64,
    /// When the acceptance arrived.
    pub from: Time,
    /// The last time anything arrived from the server on this connection.
    pub heard: Time,
    /// The same instant on the device's monotonic clock (the protocol's: the heartbeat timeout
    /// measures elapsed time, which a stepped wall clock would stretch or cut short).
    pub heard_mono: Time,
    /// When the device gave it up (`None`: still open).
    pub to: Option<Time>,
    /// Heartbeat pings the device sent on it.
    pub pings: u64,
}

impl Session {
    fn heard_at(&mut self, at: Time, mono: Time) {
        self.heard = at;
        self.heard_mono = mono;
    }
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ConnClientStats {
    pub connect_attempts: u64,
    pub connect_failures: u64,
    pub connects: u64,
    pub reconnects: u64,
    pub lost: u64,
    pub stale_deliveries: u64,
    /// From a loss being noticed to the next accepted connection, per reconnect (ns).
    pub reconnect_ns: Vec<u64>,
}

impl ConnClientStats {
    pub fn add(&mut self, o: &ConnClientStats) {
        self.connect_attempts += o.connect_attempts;
        self.connect_failures += o.connect_failures;
        self.connects += o.connects;
        self.reconnects += o.reconnects;
        self.lost += o.lost;
        self.stale_deliveries += o.stale_deliveries;
        self.reconnect_ns.extend_from_slice(&o.reconnect_ns);
    }
}

/// What happened to a device, for the design.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ClientEvent {
    Connected {
        user: UserId,
        server: NodeId,
        epoch: u64,
    },
    /// The connection is gone (heartbeat timeout, or the server reset it); a reconnect follows.
    Lost {
        user: UserId,
        server: NodeId,
    },
    /// A message pushed to the user arrived.
    Delivered {
        user: UserId,
        server: NodeId,
        msg: u64,
    },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    /// Waiting out a backoff (or the initial spread) before the next attempt.
    Idle,
    Connecting {
        server: NodeId,
    },
    Connected {
        server: NodeId,
        session: usize,
    },
}

#[derive(Clone, Debug)]
struct Device {
    user: UserId,
    /// The key the router hashes (the user, unless the design routes by something else).
    route: u64,
    state: State,
    epoch: u64,
    /// Failures in a row: failed attempts, and the loss that started the outage.
    failures: u32,
    timer: Option<TimerId>,
    ever_connected: bool,
    /// When the last loss was noticed, in true time (a measurement: the reconnect time).
    lost_at: Option<Time>,
}

/// The devices of the users living on one client node, and the router they share.
#[derive(Clone, Debug)]
pub struct ConnClient {
    scope: &'static str,
    spec: ConnSpec,
    router: Balancer,
    /// Sorted by user.
    devices: Vec<Device>,
    /// `devices[i].user`, apart: a user is found by a binary search over 8 bytes a device, not
    /// over the devices themselves (a search per delivery; 14% of `comments_perf`'s samples
    /// when it read the devices).
    users: Vec<UserId>,
    /// `(first, step)` when the users are `first + i x step` (a design that deals users to
    /// client nodes round-robin): then a user's device is found by a division.
    progression: Option<(UserId, UserId)>,
    sessions: Vec<Session>,
    pub stats: ConnClientStats,
}

impl ConnClient {
    /// `users` live on this node; `servers` are the connection servers the router knows.
    pub fn new(scope: &'static str, spec: ConnSpec, users: &[UserId], servers: &[NodeId]) -> ConnClient {
        let mut users = users.to_vec();
        users.sort_unstable();
        users.dedup();
        let devices: Vec<Device> = users
            .iter()
            .copied()
            .map(|user| Device {
                user,
                route: user,
                state: State::Idle,
                epoch: 0,
                failures: 0,
                timer: None,
                ever_connected: false,
                lost_at: None,
            })
            .collect();
        let router = Balancer::new(servers, spec.router, spec.health.clone());
        let progression = match users[..] {
            [first, second, ..] if users.windows(2).all(|w| w[1] - w[0] == second - first) => {
                Some((first, second - first))
            }
            _ => None,
        };
        let stats = ConnClientStats::default();
        ConnClient { scope, spec, router, devices, users, progression, sessions: Vec::new(), stats }
    }

    /// Schedules every device's first connect over `connect_spread` (call from `on_start`).
    pub fn start<A: Actor<Timer: From<Timer>>>(&mut self, ctx: &mut Ctx<'_, A>) {
        let spread = self.spec.connect_spread.0;
        for i in 0..self.devices.len() {
            let after = Duration(if spread == 0 { 0 } else { ctx.rng().below(spread) });
            let d = &mut self.devices[i];
            d.timer = Some(crate::set_timer(
                ctx,
                after,
                Timer::Device { user: d.user, epoch: d.epoch, wait: Wait::Reconnect },
            ));
        }
    }

    /// Routes each device by `key(user)` instead of its user id (live comments route a viewer
    /// by the video it watches, so every viewer of a video lands on the same server).
    pub fn route_by(mut self, key: impl Fn(UserId) -> u64) -> ConnClient {
        for d in &mut self.devices {
            d.route = key(d.user);
        }
        self
    }

    /// The servers the router chooses among from now on (a membership change); connections
    /// already open stay where they are.
    pub fn set_servers(&mut self, servers: &[NodeId]) {
        self.router.set_backends(servers);
    }

    pub fn router(&self) -> &Balancer {
        &self.router
    }

    /// Every connection any device of this node had, in the order they were made.
    pub fn sessions(&self) -> &[Session] {
        &self.sessions
    }

    /// The server `user` is connected to now, if any.
    pub fn connected_to(&self, user: UserId) -> Option<NodeId> {
        let d = &self.devices[self.index(user)?];
        match d.state {
            State::Connected { server, .. } => Some(server),
            _ => None,
        }
    }

    /// Devices connected now.
    pub fn connected(&self) -> usize {
        self.devices.iter().filter(|d| matches!(d.state, State::Connected { .. })).count()
    }

    fn index(&self, user: UserId) -> Option<usize> {
        match self.progression {
            Some((first, step)) => {
                let d = user.checked_sub(first)?;
                let i = (d / step) as usize;
                (d % step == 0 && i < self.users.len()).then_some(i)
            }
            None => self.users.binary_search(&user).ok(),
        }
    }

    fn set<A: Actor<Timer: From<Timer>>>(&mut self, ctx: &mut Ctx<'_, A>, i: usize, after: Duration, wait: Wait) {
        let d = &mut self.devices[i];
        if let Some(t) = d.timer.take() {
            ctx.cancel_timer(t);
        }
        d.timer = Some(crate::set_timer(ctx, after, Timer::Device { user: d.user, epoch: d.epoch, wait }));
    }

    /// A failed attempt or a lost connection: tell the router, back off, try again.
    fn retry_later<A: Actor<Timer: From<Timer>>>(&mut self, ctx: &mut Ctx<'_, A>, i: usize, failed: NodeId) {
        // The router's health windows measure elapsed time: the monotonic clock.
        self.router.on_end(failed, false, ctx.monotonic());
        let d = &mut self.devices[i];
        d.state = State::Idle;
        d.failures += 1;
        let wait = self.spec.reconnect.wait(d.failures, ctx.rng());
        self.set(ctx, i, wait, Wait::Reconnect);
    }

    fn connect<A: Actor<Msg: From<Msg>, Timer: From<Timer>>>(&mut self, ctx: &mut Ctx<'_, A>, i: usize) {
        let now = ctx.now();
        let Some(server) = self.router.pick(self.devices[i].route, ctx.monotonic(), ctx.rng()) else {
            // No server believed healthy (fail_open off): wait and ask again.
            let d = &mut self.devices[i];
            d.failures += 1;
            let wait = self.spec.reconnect.wait(d.failures, ctx.rng());
            self.set(ctx, i, wait, Wait::Reconnect);
            return;
        };
        let d = &mut self.devices[i];
        d.epoch = (d.epoch + 1).max(now.0);
        d.state = State::Connecting { server };
        let (user, epoch) = (d.user, d.epoch);
        self.stats.connect_attempts += 1;
        ctx.count_in(self.scope, "connect_attempts", 1);
        crate::send(ctx, server, Msg::Connect { user, epoch });
        self.set(ctx, i, self.spec.connect_timeout, Wait::ConnectDeadline);
    }

    /// The device's connection is gone: log it, tell the design, reconnect after a backoff.
    fn lose<A: Actor<Timer: From<Timer>>>(&mut self, ctx: &mut Ctx<'_, A>, i: usize) -> Option<ClientEvent> {
        let State::Connected { server, session } = self.devices[i].state else { return None };
        let now = ctx.ledger_time();
        self.sessions[session].to = Some(now);
        self.stats.lost += 1;
        ctx.count_in(self.scope, "lost", 1);
        let d = &mut self.devices[i];
        d.lost_at = Some(now);
        d.failures = 0;
        let user = d.user;
        self.retry_later(ctx, i, server);
        Some(ClientEvent::Lost { user, server })
    }

    /// A server's message to one of this node's devices.
    pub fn on_msg<A>(&mut self, ctx: &mut Ctx<'_, A>, from: NodeId, msg: Msg) -> Option<ClientEvent>
    where
        A: Actor<Msg: From<Msg>, Timer: From<Timer>>,
    {
        let mono = ctx.monotonic();
        let (user, epoch) = match msg {
            Msg::Accepted { user, epoch }
            | Msg::Refused { user, epoch }
            | Msg::Pong { user, epoch }
            | Msg::Closed { user, epoch }
            | Msg::Deliver { user, epoch, .. } => (user, epoch),
            Msg::Connect { .. } | Msg::Ping { .. } => return None,
        };
        let i = self.index(user)?;
        let d = &self.devices[i];
        let current = d.epoch == epoch;
        match (msg, d.state) {
            (Msg::Accepted { .. }, State::Connecting { server }) if current && server == from => {
                let session = self.sessions.len();
                self.sessions.push(Session {
                    user,
                    server,
                    epoch,
                    from: ctx.ledger_time(),
                    heard: ctx.ledger_time(),
                    heard_mono: mono,
                    to: None,
                    pings: 0,
                });
                self.router.on_start(server);
                self.stats.connects += 1;
                let d = &mut self.devices[i];
                if d.ever_connected {
                    self.stats.reconnects += 1;
                    ctx.count_in(self.scope, "reconnects", 1);
                }
                if let Some(at) = d.lost_at.take() {
                    self.stats.reconnect_ns.push(ctx.ledger_time().since(at).0);
                }
                d.ever_connected = true;
                d.failures = 0;
                d.state = State::Connected { server, session };
                self.set(ctx, i, self.spec.heartbeat.interval, Wait::Heartbeat);
                Some(ClientEvent::Connected { user, server, epoch })
            }
            // An acceptance of an attempt given up: close it so the server lets it go.
            (Msg::Accepted { .. }, _) => {
                crate::send(ctx, from, Msg::Closed { user, epoch });
                None
            }
            (Msg::Refused { .. }, State::Connecting { server }) if current && server == from => {
                self.stats.connect_failures += 1;
                ctx.count_in(self.scope, "connect_failures", 1);
                self.retry_later(ctx, i, server);
                None
            }
            (Msg::Pong { .. }, State::Connected { server, session }) if current && server == from => {
                self.sessions[session].heard_at(ctx.ledger_time(), mono);
                None
            }
            (Msg::Closed { .. }, State::Connected { server, .. }) if current && server == from => self.lose(ctx, i),
            (Msg::Deliver { msg, .. }, State::Connected { server, session }) if current && server == from => {
                self.sessions[session].heard_at(ctx.ledger_time(), mono);
                Some(ClientEvent::Delivered { user, server, msg })
            }
            (Msg::Deliver { .. }, _) => {
                // Pushed down a connection this device already gave up: the message is lost.
                self.stats.stale_deliveries += 1;
                ctx.count_in(self.scope, "stale_deliveries", 1);
                crate::send(ctx, from, Msg::Closed { user, epoch });
                None
            }
            _ => None,
        }
    }

    /// A device's timer.
    pub fn on_timer<A>(&mut self, ctx: &mut Ctx<'_, A>, t: Timer) -> Option<ClientEvent>
    where
        A: Actor<Msg: From<Msg>, Timer: From<Timer>>,
    {
        let Timer::Device { user, epoch, wait } = t else { return None };
        let i = self.index(user)?;
        if self.devices[i].epoch != epoch {
            return None; // a timer of an attempt given up
        }
        self.devices[i].timer = None;
        let mono = ctx.monotonic();
        match (wait, self.devices[i].state) {
            (Wait::Reconnect, State::Idle) => {
                self.connect(ctx, i);
                None
            }
            (Wait::ConnectDeadline, State::Connecting { server }) => {
                self.stats.connect_failures += 1;
                ctx.count_in(self.scope, "connect_failures", 1);
                self.retry_later(ctx, i, server);
                None
            }
            (Wait::Heartbeat, State::Connected { server, session }) => {
                if mono.since(self.sessions[session].heard_mono) >= self.spec.heartbeat.timeout {
                    return self.lose(ctx, i);
                }
                crate::send(ctx, server, Msg::Ping { user, epoch });
                self.sessions[session].pings += 1;
                self.set(ctx, i, self.spec.heartbeat.interval, Wait::Heartbeat);
                None
            }
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{Bench, PartHost};
    use sim_core::{Effect, NodeId};

    type T = PartHost<Msg, Timer>;

    /// A device is found by its user, by division when the users are evenly spaced and by a
    /// search when not, and a user the node does not have is found by neither.
    #[test]
    fn a_device_is_found_by_its_user_alone() {
        for users in [vec![3u64, 10, 17, 24, 31], vec![0, 1, 2, 3], vec![5, 6, 9, 40], vec![7]] {
            let c = ConnClient::new("c", ConnSpec::default(), &users, &[]);
            assert_eq!(c.progression.is_some(), users.len() > 1 && users != [5, 6, 9, 40], "{users:?}");
            for u in 0..45 {
                assert_eq!(c.index(u), users.iter().position(|&x| x == u), "user {u} of {users:?}");
            }
        }
    }

    fn sent(fx: &[Effect<T>]) -> Vec<(NodeId, Msg)> {
        fx.iter()
            .filter_map(|e| match e {
                Effect::Send { to, msg } => Some((*to, *msg)),
                _ => None,
            })
            .collect()
    }

    fn levels(fx: &[Effect<T>]) -> i64 {
        fx.iter().map(|e| if let Effect::Level { delta, .. } = e { *delta } else { 0 }).sum()
    }

    const C: NodeId = NodeId(7);

    fn spec() -> ConnSpec {
        ConnSpec {
            reconnect: Backoff { jitter: Jitter::None, ..ConnSpec::default().reconnect },
            connect_spread: Duration::ZERO,
            ..ConnSpec::default()
        }
    }

    #[test]
    fn a_server_holds_the_newest_connection_and_pushes_down_it() {
        let mut b: Bench<T> = Bench::new();
        let mut s = ConnServer::new("conn", spec());
        let ev = b.with(|ctx| s.on_msg(ctx, C, Msg::Connect { user: 5, epoch: 10 }));
        assert_eq!(ev, Some(ServerEvent::Opened { user: 5, epoch: 10, client: C }));
        // The same attempt again is answered again; an older one is refused as stale.
        assert_eq!(b.with(|ctx| s.on_msg(ctx, C, Msg::Connect { user: 5, epoch: 10 })), None);
        assert_eq!(b.with(|ctx| s.on_msg(ctx, C, Msg::Connect { user: 5, epoch: 3 })), None);
        // A newer one replaces it without a second connection.
        let ev = b.with(|ctx| s.on_msg(ctx, C, Msg::Connect { user: 5, epoch: 11 }));
        assert_eq!(ev, Some(ServerEvent::Opened { user: 5, epoch: 11, client: C }));
        assert_eq!((s.len(), s.holds(5)), (1, Some(11)));
        assert!(b.with(|ctx| s.push(ctx, 5, 99)));
        assert!(!b.with(|ctx| s.push(ctx, 6, 100)));
        let (_, fx) = b.drain();
        assert_eq!(levels(&fx), 1, "one open connection");
        let msgs = sent(&fx);
        assert_eq!(
            msgs,
            [
                (C, Msg::Accepted { user: 5, epoch: 10 }),
                (C, Msg::Accepted { user: 5, epoch: 10 }),
                (C, Msg::Closed { user: 5, epoch: 3 }),
                (C, Msg::Accepted { user: 5, epoch: 11 }),
                (C, Msg::Deliver { user: 5, epoch: 11, msg: 99 }),
            ]
        );
        assert_eq!((s.stats.pushes, s.stats.push_no_connection, s.stats.connects), (1, 1, 2));
    }

    #[test]
    fn the_server_drops_a_connection_that_stopped_pinging_and_resets_unknown_ones() {
        let mut b: Bench<T> = Bench::new();
        let mut s = ConnServer::new("conn", spec());
        b.with(|ctx| s.on_msg(ctx, C, Msg::Connect { user: 1, epoch: 1 }));
        b.with(|ctx| s.on_msg(ctx, C, Msg::Connect { user: 2, epoch: 1 }));
        b.now = Time(Duration::from_secs(2).0);
        b.with(|ctx| s.on_msg(ctx, C, Msg::Ping { user: 2, epoch: 1 }));
        b.now = Time(Duration::from_secs(3).0);
        // The wall clock stepped 10 s forward: the sweep measures silence on the monotonic clock.
        b.wall_step_ns = 10_000_000_000;
        let ev = b.with(|ctx| s.on_timer(ctx, Timer::Sweep));
        assert_eq!(ev, [ServerEvent::Closed { user: 1, epoch: 1, reason: CloseReason::Timeout }]);
        assert_eq!(s.holds(2), Some(1), "heard 1 s ago: kept");
        b.drain();
        b.with(|ctx| s.on_msg(ctx, C, Msg::Ping { user: 1, epoch: 1 }));
        let (timers, fx) = b.drain();
        assert!(timers.is_empty());
        assert_eq!(sent(&fx), [(C, Msg::Closed { user: 1, epoch: 1 })]);
        assert_eq!((s.stats.drops, s.stats.resets), (1, 1));
    }

    /// A server paused past the heartbeat timeout: its first sweep after the pause runs before
    /// the pings that waited behind it, and finds every connection silent. It restarts their
    /// timeouts instead of dropping them; a device that stays silent is dropped a timeout later.
    #[test]
    fn a_paused_server_does_not_take_its_own_stall_for_its_devices_silence() {
        let secs = |n: u64| Time(Duration::from_secs(n).0);
        let mut b: Bench<T> = Bench::new();
        let mut s = ConnServer::new("conn", spec());
        b.with(|ctx| s.start(ctx));
        for u in [1, 2] {
            b.with(|ctx| s.on_msg(ctx, C, Msg::Connect { user: u, epoch: 1 }));
        }
        for t in [1, 2] {
            b.now = secs(t);
            b.with(|ctx| s.on_msg(ctx, C, Msg::Ping { user: 2, epoch: 1 }));
            assert!(b.with(|ctx| s.on_timer(ctx, Timer::Sweep)).is_empty());
        }
        // Paused from 2 s to 6 s: the sweep comes first, 4 s after the previous one.
        b.now = secs(6);
        assert!(b.with(|ctx| s.on_timer(ctx, Timer::Sweep)).is_empty(), "the server's own stall convicts nobody");
        assert_eq!((s.stats.stalls, s.stats.drops, s.len()), (1, 0, 2));
        b.with(|ctx| s.on_msg(ctx, C, Msg::Ping { user: 2, epoch: 1 }));
        for t in [7, 8] {
            b.now = secs(t);
            b.with(|ctx| s.on_msg(ctx, C, Msg::Ping { user: 2, epoch: 1 }));
            assert!(b.with(|ctx| s.on_timer(ctx, Timer::Sweep)).is_empty());
        }
        // User 1's device stays silent: dropped a timeout after the stall's sweep.
        b.now = secs(9);
        let ev = b.with(|ctx| s.on_timer(ctx, Timer::Sweep));
        assert_eq!(ev, [ServerEvent::Closed { user: 1, epoch: 1, reason: CloseReason::Timeout }]);
        assert_eq!((s.stats.stalls, s.stats.drops, s.holds(2)), (1, 1, Some(1)));
    }

    #[test]
    fn a_server_lets_a_connection_go_and_a_device_routes_by_its_key() {
        let mut b: Bench<T> = Bench::new();
        let mut s = ConnServer::new("conn", spec());
        b.with(|ctx| s.on_msg(ctx, C, Msg::Connect { user: 4, epoch: 2 }));
        let ev = b.with(|ctx| s.disconnect(ctx, 4));
        assert_eq!(ev, Some(ServerEvent::Closed { user: 4, epoch: 2, reason: CloseReason::ByServer }));
        assert_eq!(b.with(|ctx| s.disconnect(ctx, 4)), None, "nothing left to close");
        let (_, fx) = b.drain();
        assert_eq!(sent(&fx).last(), Some(&(C, Msg::Closed { user: 4, epoch: 2 })));
        assert_eq!((levels(&fx), s.stats.closes), (0, 1));
        // Routed by key 1000, not by user 42, over the servers set after construction.
        let servers = [NodeId(0), NodeId(1), NodeId(2), NodeId(3)];
        let mut c = ConnClient::new("dev", spec(), &[42], &[]).route_by(|_| 1000);
        c.set_servers(&servers);
        b.with(|ctx| c.start(ctx));
        let (t, _) = b.drain();
        let (after, t0) = t[0];
        fire(&mut b, &mut c, t0, after);
        let (_, fx) = b.drain();
        let [(to, Msg::Connect { user: 42, .. })] = sent(&fx)[..] else { panic!("{fx:?}") };
        assert_eq!(to, crate::balance::rendezvous(1000, &servers).unwrap());
    }

    #[test]
    fn a_full_server_refuses() {
        let mut b: Bench<T> = Bench::new();
        let mut s = ConnServer::new("conn", ConnSpec { max_connections: 1, ..spec() });
        assert!(b.with(|ctx| s.on_msg(ctx, C, Msg::Connect { user: 1, epoch: 1 })).is_some());
        assert!(b.with(|ctx| s.on_msg(ctx, C, Msg::Connect { user: 2, epoch: 1 })).is_none());
        assert_eq!(sent(&b.drain().1)[1], (C, Msg::Refused { user: 2, epoch: 1 }));
        assert_eq!(s.stats.refused, 1);
    }

    /// Drives one device through the timers it sets; returns the next timer.
    fn fire(b: &mut Bench<T>, c: &mut ConnClient, t: Timer, after: Duration) -> Option<ClientEvent> {
        b.now += after;
        b.with(|ctx| c.on_timer(ctx, t))
    }

    #[test]
    fn a_device_connects_heartbeats_notices_silence_and_reconnects_elsewhere() {
        let servers = [NodeId(0), NodeId(1), NodeId(2)];
        let mut b: Bench<T> = Bench::new();
        let mut c = ConnClient::new("dev", spec(), &[42], &servers);
        b.with(|ctx| c.start(ctx));
        let (t, _) = b.drain();
        let (after, t0) = t[0];
        fire(&mut b, &mut c, t0, after);
        let (t, fx) = b.drain();
        let [(first, Msg::Connect { user: 42, epoch })] = sent(&fx)[..] else { panic!("{fx:?}") };
        assert_eq!(first, crate::balance::rendezvous(42, &servers).unwrap(), "the rendezvous choice");
        assert_eq!(t[0].0, spec().connect_timeout);
        let ev = b.with(|ctx| c.on_msg(ctx, first, Msg::Accepted { user: 42, epoch }));
        assert_eq!(ev, Some(ClientEvent::Connected { user: 42, server: first, epoch }));
        assert_eq!(c.connected_to(42), Some(first));
        // Two heartbeats answered, then silence: lost after `timeout` without a pong.
        let mut lost_at = None;
        for k in 0..6 {
            let (t, fx) = b.drain();
            let hb: Vec<_> = t.into_iter().filter(|(_, x)| matches!(x, Timer::Device { .. })).collect();
            let (after, t) = *hb.last().unwrap();
            if k > 0 {
                assert!(sent(&fx).contains(&(first, Msg::Ping { user: 42, epoch })), "{fx:?}");
            }
            if k < 2 {
                b.with(|ctx| c.on_msg(ctx, first, Msg::Pong { user: 42, epoch }));
            }
            if let Some(ev) = fire(&mut b, &mut c, t, after) {
                lost_at = Some((k, ev));
                break;
            }
        }
        let (k, ev) = lost_at.expect("the device noticed");
        assert_eq!(ev, ClientEvent::Lost { user: 42, server: first });
        assert_eq!(k, 3, "pongs stopped after the ping at 1 s: lost at the check 3 s later");
        assert_eq!(c.sessions()[0].pings, 3, "a ping per heartbeat round before the loss, counted on the session");
        // Back off, then connect to another server (the router ejected the silent one).
        let (t, fx) = b.drain();
        assert!(sent(&fx).is_empty());
        let (after, t) = t[0];
        assert_eq!(after, Duration::from_millis(100), "the first reconnect waits the base backoff");
        fire(&mut b, &mut c, t, after);
        let (_, fx) = b.drain();
        let [(second, Msg::Connect { epoch: e2, .. })] = sent(&fx)[..] else { panic!("{fx:?}") };
        assert_ne!(second, first);
        assert!(e2 > epoch);
        // A late pong of the old connection does nothing; the acceptance of the new one counts.
        assert_eq!(b.with(|ctx| c.on_msg(ctx, first, Msg::Pong { user: 42, epoch })), None);
        b.with(|ctx| c.on_msg(ctx, second, Msg::Accepted { user: 42, epoch: e2 }));
        assert_eq!((c.stats.connects, c.stats.reconnects, c.stats.lost), (2, 1, 1));
        assert_eq!(c.stats.reconnect_ns, [Duration::from_millis(100).0]);
        let s = c.sessions();
        assert_eq!(s.len(), 2);
        assert_eq!(s[0].heard, Time(Duration::from_secs(1).0), "the last pong");
        assert!(s[0].to.is_some() && s[1].to.is_none());
    }

    /// The device timer the last handler set.
    fn next(b: &mut Bench<T>) -> (Duration, Timer) {
        let (t, _) = b.drain();
        *t.last().expect("a timer was set")
    }

    #[test]
    fn failed_attempts_back_off_exponentially_and_a_reset_is_noticed_at_once() {
        let servers = [NodeId(0), NodeId(1)];
        let mut b: Bench<T> = Bench::new();
        let spec = ConnSpec { health: HealthSpec { eject_after: 0, ..HealthSpec::default() }, ..spec() };
        let mut c = ConnClient::new("dev", spec, &[1], &servers);
        b.with(|ctx| c.start(ctx));
        let mut waits = Vec::new();
        for k in 0..4 {
            let (after, t) = next(&mut b);
            assert!(matches!(t, Timer::Device { wait: Wait::Reconnect, .. }));
            if k > 0 {
                waits.push(after.0 / 1_000_000);
            }
            fire(&mut b, &mut c, t, after);
            // The connect attempt times out.
            let (after, t) = next(&mut b);
            assert!(matches!(t, Timer::Device { wait: Wait::ConnectDeadline, .. }));
            fire(&mut b, &mut c, t, after);
        }
        assert_eq!(waits, [100, 200, 400]);
        assert_eq!((c.stats.connect_attempts, c.stats.connect_failures), (4, 4));
        // Connected, then the server resets the connection: lost without waiting for a timeout.
        let (after, t) = next(&mut b);
        assert_eq!(after, Duration::from_millis(800));
        fire(&mut b, &mut c, t, after);
        let (_, fx) = b.drain();
        let [(s, Msg::Connect { epoch, .. })] = sent(&fx)[..] else { panic!("{fx:?}") };
        b.with(|ctx| c.on_msg(ctx, s, Msg::Accepted { user: 1, epoch }));
        let ev = b.with(|ctx| c.on_msg(ctx, s, Msg::Closed { user: 1, epoch }));
        assert_eq!(ev, Some(ClientEvent::Lost { user: 1, server: s }));
        assert_eq!(c.connected_to(1), None);
    }

    #[test]
    fn a_push_on_an_abandoned_connection_is_counted_lost() {
        let mut b: Bench<T> = Bench::new();
        let mut c = ConnClient::new("dev", spec(), &[3], &[NodeId(0)]);
        b.with(|ctx| c.start(ctx));
        let (t, _) = b.drain();
        let (after, t) = t[0];
        fire(&mut b, &mut c, t, after);
        let (_, fx) = b.drain();
        let [(s, Msg::Connect { epoch, .. })] = sent(&fx)[..] else { panic!() };
        // The attempt timed out before the acceptance came.
        let t = Timer::Device { user: 3, epoch, wait: Wait::ConnectDeadline };
        fire(&mut b, &mut c, t, spec().connect_timeout);
        b.drain();
        assert_eq!(b.with(|ctx| c.on_msg(ctx, s, Msg::Accepted { user: 3, epoch })), None);
        assert_eq!(b.with(|ctx| c.on_msg(ctx, s, Msg::Deliver { user: 3, epoch, msg: 7 })), None);
        let (_, fx) = b.drain();
        assert_eq!(sent(&fx), [(s, Msg::Closed { user: 3, epoch }), (s, Msg::Closed { user: 3, epoch })]);
        assert_eq!(c.stats.stale_deliveries, 1);
    }
}
