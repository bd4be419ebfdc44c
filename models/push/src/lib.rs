//! # push: messages pushed to users over long-lived connections, found through a lagging registry
//!
//! The delivery path of chat, live comments and in-app notifications, built from the `parts`
//! crate: every user keeps one connection (WebSocket-style) to a connection server chosen by a
//! router ([`parts::conn`]); the servers register who they hold in a ZooKeeper-style registry
//! ([`parts::registry`]); a sender that must reach a user looks the user's server up in its own
//! copy of the registry, which lags the registry by `registry.lag`, and asks that server to push
//! the message down the connection.
//!
//! Roles: the last server is the registry; the servers before it are connection servers. Every
//! client node is both a sender (the workload's `push` operations arrive there; the key, modulo
//! `users`, is the recipient) and the home of the devices of the users `u` with
//! `u % clients == its index`.
//!
//! ## A push
//!
//! The sender looks the user up in its view. With a server found, it calls that server (one
//! attempt, `push.timeout`, through [`Calls::call_to`]); the server pushes the message down the
//! user's connection, waits for the device to acknowledge it (`push.confirm: Device`, the
//! default) and answers `delivered`, or answers `not here` at once when it holds no connection
//! of that user. A push that never reaches the device (a crash, a half-open connection) goes
//! unacknowledged and the sender's attempt times out. With `push.confirm: Written` the server
//! answers `delivered` as soon as it has written the message to the connection: the known-bad
//! variant. A push that found no server, was told `not here` (a **misroute**: the view was
//! stale), or timed out (the server is down) is retried after `push.backoff` against the view as
//! it is then, up to `push.retries` times. After that it is **undeliverable**: there is no offline
//! store in this design, and the message is dropped. The operation ends `Ok` when a server said
//! it pushed the message, `Fail` when every attempt was refused (definitely not pushed), and
//! `Timeout` when an attempt timed out (unknown: the server may have pushed it before dying).
//!
//! A message sent while its user is disconnected is therefore undeliverable unless the user
//! reconnects, and the registry tells the sender, within the retries. This is the design choice
//! the checks hold it to; queueing for offline users is a different design.
//!
//! ## Checks
//!
//! - `delivered_when_connected`: every push whose recipient was connected from before the push
//!   until `judge_window` after it (one session, whose device heard its server at the end of the
//!   window) reached the device. A registry lag long against the retries fails it: after a
//!   reconnect, senders keep routing to the old server.
//! - `outcomes_truthful`: a push ended `Ok` reached the device; one ended `Fail` did not. It
//!   fails servers that confirm on write (`push.confirm: Written`): over a half-open connection
//!   (the server-to-client direction cut) the server pushes into a connection the device has
//!   given up, and says it delivered; and a server that crashes just after writing has said so
//!   of a message the crash dropped on the wire (under `push_server_crash`'s load, one push on
//!   about one seed in twenty: seeds 26, 28 and 30 of 0..64, each a push invoked at 19.998 s, 2 ms
//!   before the crash, when servers confirmed on write). The device's acknowledgement closes both
//!   windows: the server answers only for what arrived.
//! - `registry_converged`: at the end of the run every connection is registered at its server,
//!   every entry is a held connection, and every sender's view equals the registry (needs a
//!   `settle` longer than the heartbeat timeout, the session timeout and the lag).
//!
//! Measures: connects, reconnects, drops, losses noticed by devices, reconnect times (from a
//! device noticing the loss to its next connection), outages (from its last word from the old
//! server to the next connection: detection plus reconnect), pushes,
//! pushes to a user with no connection, misrouted pushes, lookups that found no server, retries,
//! undeliverable pushes, pushes judged and lost, duplicates, registry changes and sessions
//! expired. The level `conn.connections` (open connections, plotted) drops by a crashed server's
//! share at the crash, and `registry.unpublished` shows the changes still propagating.
//!
//! Clocks: session logs use the devices' local clocks and the checks compare them with the true
//! invoke times, so scenarios should not skew client clocks.

mod check;

pub use check::{Judged, Push};
use parts::calls::{Answer, Backoff, CallOutcome, CallPolicy, CallTimer, Calls, Jitter, ReqId, ServiceId};
use parts::conn::{ClientEvent, ConnClient, ConnClientStats, ConnServer, ConnSpec, ServerEvent, UserId};
use parts::registry::{Member, Registry, RegistrySpec, View, ViewStats};
use parts::{balance, conn, registry};
use serde::{Deserialize, Serialize};
use sim_core::cost::count;
use sim_core::{
    Actor, Check, Ctx, Duration, Message, Model, ModelReport, NodeId, Op, OpId, Outcome, Prng, Reply, RunView, Topology,
};
use std::collections::BTreeMap;

/// When a connection server tells the sender that a push was delivered.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum Confirm {
    /// Once the device acknowledges the message (it sends an acknowledgement back to the server,
    /// which then answers the sender). A push lost on the wire, in a crash or down a half-open
    /// connection goes unacknowledged, and the sender's attempt times out: unknown, not `Ok`.
    #[default]
    Device,
    /// Once the server has written the message to the connection: one round trip sooner, and a
    /// lie whenever the message dies on the way (a crash just after the write, a half-open
    /// connection). The known-bad variant `outcomes_truthful` catches.
    Written,
}

/// How a sender treats a push that did not get through, and when a server says it got through.
///
/// ```ron
/// push: (timeout: "500ms", retries: 3, backoff: (base: "100ms", max: "1s", jitter: Equal), confirm: Device)
/// ```
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PushPolicy {
    /// One attempt unanswered for this long has timed out.
    pub timeout: Duration,
    /// Attempts after the first, for a push that found no server, was misrouted or timed out.
    pub retries: u32,
    pub backoff: Backoff,
    /// When the server answers `delivered`.
    pub confirm: Confirm,
}

impl Default for PushPolicy {
    fn default() -> Self {
        PushPolicy {
            timeout: Duration::from_millis(500),
            retries: 3,
            backoff: Backoff {
                base: Duration::from_millis(100),
                max: Duration::from_secs(1),
                multiplier: 2.0,
                jitter: Jitter::Equal,
            },
            confirm: Confirm::Device,
        }
    }
}

/// ```ron
/// config: (
///     users: 1000,
///     conn: (heartbeat: (interval: "1s", timeout: "3s"), router: Rendezvous),
///     registry: (lag: "100ms", session_timeout: "5s"),
///     push: (timeout: "500ms", retries: 3),
///     judge_window: "1s",
/// )
/// ```
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// Users (the workload's keys are taken modulo this).
    pub users: u32,
    pub conn: ConnSpec,
    pub registry: RegistrySpec,
    pub push: PushPolicy,
    /// `delivered_when_connected` judges a push when its user was connected from before it until
    /// this long after it.
    pub judge_window: Duration,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            users: 1000,
            conn: ConnSpec::default(),
            registry: RegistrySpec::default(),
            push: PushPolicy::default(),
            judge_window: Duration::from_secs(1),
        }
    }
}

/// The design's own messages: a sender asks a connection server to push.
#[derive(Clone, Copy, Debug)]
pub enum AppMsg {
    Push {
        req: ReqId,
        user: UserId,
        msg: u64,
    },
    /// `delivered`: pushed down the user's connection (and, with [`Confirm::Device`], acknowledged
    /// by the device); otherwise the server holds none.
    PushResult {
        req: ReqId,
        delivered: bool,
    },
    /// A device, to the server that pushed `msg` down its connection: it arrived.
    DeviceAck {
        user: UserId,
        msg: u64,
    },
}

impl Message for AppMsg {
    fn kind(&self) -> &'static str {
        match self {
            AppMsg::Push { .. } => "push",
            AppMsg::PushResult { .. } => "push_result",
            AppMsg::DeviceAck { .. } => "device_ack",
        }
    }
    fn size_bytes(&self) -> u64 {
        match self {
            AppMsg::Push { .. } => 512,
            AppMsg::PushResult { .. } | AppMsg::DeviceAck { .. } => 64,
        }
    }
}

/// A push in progress at its sender (also the timer of its next retry).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PushJob {
    op: OpId,
    user: UserId,
    msg: u64,
    /// Retries so far.
    retries: u32,
    /// Some attempt timed out: the push may have got through.
    timed_out: bool,
}

parts::wire! {
    /// Everything a node of this design sends.
    pub enum Msg { App(AppMsg), Conn(conn::Msg), Registry(registry::Msg) }
}
parts::wire! {
    timers pub enum Timer { Call(CallTimer), Conn(conn::Timer), Registry(registry::Timer), Retry(PushJob) }
}

/// What the senders of one client node did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SenderStats {
    pub pushes: u64,
    pub retries: u64,
    pub timeouts: u64,
    pub undeliverable: u64,
}

pub struct ConnNode {
    server: ConnServer,
    member: Member,
    confirm: Confirm,
    /// With [`Confirm::Device`]: pushes written and not yet acknowledged, by message id: the
    /// user and the sender's call to answer. A connection that closes forgets its user's (the
    /// senders' attempts time out).
    unacked: BTreeMap<u64, (UserId, NodeId, ReqId)>,
}

pub struct RegistryNode {
    registry: Registry,
}

pub struct ClientNode {
    devices: ConnClient,
    view: View,
    calls: Calls<AppMsg, PushJob>,
    svc: ServiceId,
    policy: PushPolicy,
    users: u64,
    /// Message id -> (user, times it arrived).
    delivered: BTreeMap<u64, (UserId, u32)>,
    stats: SenderStats,
}

pub enum Node {
    Conn(Box<ConnNode>),
    Registry(Box<RegistryNode>),
    Client(Box<ClientNode>),
}

impl ConnNode {
    fn on_event(&mut self, ctx: &mut Ctx<'_, Node>, ev: ServerEvent) {
        match ev {
            ServerEvent::Opened { user, epoch, .. } => self.member.register(ctx, user, epoch),
            ServerEvent::Closed { user, epoch, .. } => {
                self.unacked.retain(|_, p| p.0 != user);
                self.member.unregister(ctx, user, epoch)
            }
        }
    }

    fn on_msg(&mut self, ctx: &mut Ctx<'_, Node>, from: NodeId, msg: Msg) {
        match msg {
            Msg::Conn(m) => {
                if let Some(ev) = self.server.on_msg(ctx, from, m) {
                    self.on_event(ctx, ev);
                }
            }
            Msg::App(AppMsg::Push { req, user, msg }) => {
                let delivered = self.server.push(ctx, user, msg);
                if delivered && self.confirm == Confirm::Device {
                    self.unacked.insert(msg, (user, from, req));
                } else {
                    ctx.send(from, Msg::from(AppMsg::PushResult { req, delivered }));
                }
            }
            // A push this server still waits on (not one it forgot when the connection closed):
            // its sender learns it arrived.
            Msg::App(AppMsg::DeviceAck { user, msg }) => {
                if self.unacked.get(&msg).is_some_and(|p| p.0 == user)
                    && let Some((_, sender, req)) = self.unacked.remove(&msg)
                {
                    ctx.send(sender, Msg::from(AppMsg::PushResult { req, delivered: true }));
                }
            }
            Msg::Registry(m) => {
                if self.member.on_msg(ctx, &m) {
                    let held: Vec<(UserId, u64)> = self.server.connections().map(|(u, _, e)| (u, e)).collect();
                    for (user, epoch) in held {
                        self.member.register(ctx, user, epoch);
                    }
                }
            }
            Msg::App(AppMsg::PushResult { .. }) => {}
        }
    }

    fn on_timer(&mut self, ctx: &mut Ctx<'_, Node>, timer: Timer) {
        match timer {
            Timer::Conn(t) => {
                for ev in self.server.on_timer(ctx, t) {
                    self.on_event(ctx, ev);
                }
            }
            Timer::Registry(t) => self.member.on_timer(ctx, t),
            Timer::Call(_) | Timer::Retry(_) => {}
        }
    }
}

impl ClientNode {
    /// One attempt of `job`: to the server the view names, or a failure when it names none.
    fn attempt(&mut self, ctx: &mut Ctx<'_, Node>, job: PushJob) {
        let Some(server) = self.view.lookup(ctx, job.user) else {
            self.failed(ctx, job);
            return;
        };
        let (user, msg) = (job.user, job.msg);
        if let Err(done) = self.calls.call_to(ctx, self.svc, server, |req| AppMsg::Push { req, user, msg }, job) {
            self.failed(ctx, done.data);
        }
    }

    /// An attempt ended: `Ok` completes the push; a misroute or a timeout retries or gives up.
    fn attempt_ended(&mut self, ctx: &mut Ctx<'_, Node>, mut job: PushJob, outcome: CallOutcome) {
        match outcome {
            CallOutcome::Ok => ctx.complete(job.op, Outcome::Ok, Reply::None),
            CallOutcome::Timeout => {
                job.timed_out = true;
                self.stats.timeouts += 1;
                ctx.count_in("sender", "push_timeouts", 1);
                self.failed(ctx, job);
            }
            CallOutcome::Error => {
                self.view.misrouted(ctx);
                self.failed(ctx, job);
            }
            CallOutcome::BreakerOpen | CallOutcome::NoBackend => self.failed(ctx, job),
        }
    }

    fn failed(&mut self, ctx: &mut Ctx<'_, Node>, mut job: PushJob) {
        if job.retries < self.policy.retries {
            job.retries += 1;
            self.stats.retries += 1;
            ctx.count_in("sender", "retries", 1);
            let wait = self.policy.backoff.wait(job.retries, ctx.rng());
            ctx.set_timer(wait, Timer::Retry(job));
            return;
        }
        self.stats.undeliverable += 1;
        ctx.count_in("sender", "undeliverable", 1);
        ctx.complete(job.op, if job.timed_out { Outcome::Timeout } else { Outcome::Fail }, Reply::None);
    }

    fn on_msg(&mut self, ctx: &mut Ctx<'_, Node>, from: NodeId, msg: Msg) {
        match msg {
            Msg::Conn(m) => {
                if let Some(ClientEvent::Delivered { user, msg, server }) = self.devices.on_msg(ctx, from, m) {
                    if self.policy.confirm == Confirm::Device {
                        ctx.send(server, Msg::from(AppMsg::DeviceAck { user, msg }));
                    }
                    let d = self.delivered.entry(msg).or_insert((user, 0));
                    d.1 += 1;
                    if d.1 > 1 {
                        ctx.count_in("device", "duplicates", 1);
                    }
                }
            }
            Msg::Registry(m) => self.view.on_msg(&m),
            Msg::App(AppMsg::PushResult { req, delivered }) => {
                let answer = if delivered { Answer::Ok } else { Answer::Fatal };
                if let Some(done) = self.calls.reply(ctx, req, answer) {
                    self.attempt_ended(ctx, done.data, done.outcome);
                }
            }
            Msg::App(AppMsg::Push { .. } | AppMsg::DeviceAck { .. }) => {}
        }
    }

    fn on_timer(&mut self, ctx: &mut Ctx<'_, Node>, timer: Timer) {
        match timer {
            Timer::Conn(t) => {
                self.devices.on_timer(ctx, t);
            }
            Timer::Call(t) => {
                if let Some(done) = self.calls.on_timer(ctx, t) {
                    self.attempt_ended(ctx, done.data, done.outcome);
                }
            }
            Timer::Retry(job) => self.attempt(ctx, job),
            Timer::Registry(_) => {}
        }
    }

    fn on_op(&mut self, ctx: &mut Ctx<'_, Node>, op: Op) {
        self.stats.pushes += 1;
        let job = PushJob { op: op.id, user: op.key % self.users, msg: op.value, retries: 0, timed_out: false };
        self.attempt(ctx, job);
    }
}

impl Actor for Node {
    type Msg = Msg;
    type Timer = Timer;
    type Record = registry::Record;

    fn on_start(&mut self, ctx: &mut Ctx<'_, Self>) {
        match self {
            Node::Conn(c) => {
                c.server.start(ctx);
                c.member.start(ctx);
            }
            Node::Registry(r) => r.registry.start(ctx, |r| Some(r)),
            Node::Client(c) => {
                c.devices.start(ctx);
                c.view.start(ctx);
            }
        }
    }

    fn on_msg(&mut self, ctx: &mut Ctx<'_, Self>, from: NodeId, msg: Msg) {
        match self {
            Node::Conn(c) => c.on_msg(ctx, from, msg),
            Node::Registry(r) => {
                if let Msg::Registry(m) = msg {
                    r.registry.on_msg(ctx, from, m);
                }
            }
            Node::Client(c) => c.on_msg(ctx, from, msg),
        }
    }

    fn on_timer(&mut self, ctx: &mut Ctx<'_, Self>, timer: Timer) {
        match self {
            Node::Conn(c) => c.on_timer(ctx, timer),
            Node::Registry(r) => {
                if let Timer::Registry(t) = timer {
                    r.registry.on_timer(ctx, t);
                }
            }
            Node::Client(c) => c.on_timer(ctx, timer),
        }
    }

    fn on_op(&mut self, ctx: &mut Ctx<'_, Self>, op: Op) {
        match self {
            Node::Client(c) => c.on_op(ctx, op),
            _ => ctx.complete(op.id, Outcome::Rejected, Reply::None),
        }
    }
}

impl PushPolicy {
    pub fn validate(&self, path: &str) -> Vec<(String, String)> {
        let calls =
            CallPolicy { timeout: self.timeout, retries: self.retries, backoff: self.backoff.clone(), breaker: None };
        calls.validate(path)
    }
}

pub struct PushModel;

impl Model for PushModel {
    const TRANSPORT: sim_core::net::Transport = sim_core::net::Transport::Connection;
    const CHECKS: &'static [&'static str] = &["delivered_when_connected", "outcomes_truthful", "registry_converged"];
    const PROGRESS_CHECKS: &'static [&'static str] = &["delivered_when_connected"];
    const NAME: &'static str = "push";
    const ABOUT: &'static str = "messages pushed to users over long-lived connections (heartbeats, reconnects), found through a lagging registry";
    const OP_KINDS: &'static [&'static str] = &["push"];
    type Config = Config;
    type Actor = Node;

    fn validate(c: &Config, topo: &Topology) -> Vec<(String, String)> {
        let mut e = Vec::new();
        if topo.servers.len() < 2 {
            e.push((
                "topology.servers".into(),
                format!(
                    "needs at least 2 (connection servers, then the registry as the last server), got {}",
                    topo.servers.len()
                ),
            ));
        }
        if c.users == 0 || c.users > 1_000_000 {
            e.push(("config.users".into(), format!("must be within [1, 1000000], got {}", c.users)));
        }
        if c.judge_window.0 == 0 {
            e.push(("config.judge_window".into(), "must be positive".into()));
        }
        e.extend(c.conn.validate("config.conn"));
        e.extend(c.registry.validate("config.registry"));
        e.extend(c.push.validate("config.push"));
        e
    }

    /// Per user: a device (its state, its sessions, with growth by doubling), the connection
    /// server's entry and the registry's, every client node's view entry (~57 B each, measured
    /// from 4 to 8 clients), the checker's sessions by user and held connections; a heartbeat
    /// timer and a ping or pong waiting. Per push: the device's delivery record, the checker's
    /// push and its merged deliveries. Events: per user a connect (timer, connect, accept,
    /// registration) and per heartbeat interval a timer, a ping and a pong; per push the push,
    /// its answer, the delivery and (`confirm: Device`) the device's acknowledgement. Measured
    /// (`simctl bench scenario`, debug): 100,000 users on 4 clients for 2 s, 154 MB used; 200,000
    /// users, 273 MB (8 clients: 319 MB); 1,000 users and 200,000 pushes, 45 MB (the kernel's
    /// parts 30 MB of it).
    fn footprint(c: &Config, topo: &Topology, load: &sim_core::cost::Load) -> sim_core::cost::Footprint {
        let users = c.users as f64;
        let clients = topo.clients.len() as f64;
        let pushes = load.of("push", Self::OP_KINDS);
        let heartbeat_s = c.conn.heartbeat.interval.as_secs_f64().max(1e-3);
        let beats = users * load.run_s / heartbeat_s;
        let per_push = if c.push.confirm == Confirm::Device { 4.0 } else { 3.0 };
        sim_core::cost::Footprint {
            events: users * 5.0 + beats * 3.0 + pushes * per_push,
            queued: users * 2.0,
            ..Default::default()
        }
        .part(
            format!("devices: {users} users x 300 B (device, sessions and their growth)", users = count(users)),
            users * 300.0,
        )
        .part(
            format!("connections: {users} users x 150 B (server's table, registry's entry)", users = count(users)),
            users * 150.0,
        )
        .part(
            format!("views: {clients} clients x {users} users x 64 B", clients = count(clients), users = count(users)),
            clients * users * 64.0,
        )
        .part(format!("the checker's sessions: {users} users x 350 B", users = count(users)), users * 350.0)
        .part(
            format!("deliveries: {pushes} pushes x 120 B (device's record, checker's push)", pushes = count(pushes)),
            pushes * 120.0,
        )
    }

    fn factory(c: &Config, topo: &Topology, _setup: &mut Prng) -> Box<dyn FnMut(NodeId) -> Node> {
        let conn_servers: Vec<NodeId> = topo.servers[..topo.servers.len() - 1].to_vec();
        let registry = *topo.servers.last().expect("validated: at least 2 servers");
        let clients = topo.clients.clone();
        let c = c.clone();
        Box::new(move |n| {
            if let Some(k) = clients.iter().position(|&x| x == n) {
                let users: Vec<UserId> =
                    (0..c.users as u64).filter(|u| (u % clients.len() as u64) as usize == k).collect();
                let mut calls = Calls::new();
                let policy = CallPolicy { timeout: c.push.timeout, ..CallPolicy::default() };
                let svc = calls.add(
                    "push_calls",
                    &conn_servers,
                    policy,
                    balance::Policy::RoundRobin,
                    balance::HealthSpec::default(),
                );
                return Node::Client(Box::new(ClientNode {
                    devices: ConnClient::new("device", c.conn.clone(), &users, &conn_servers),
                    view: View::new("sender", registry),
                    calls,
                    svc,
                    policy: c.push.clone(),
                    users: c.users as u64,
                    delivered: BTreeMap::new(),
                    stats: SenderStats::default(),
                }));
            }
            if n == registry {
                return Node::Registry(Box::new(RegistryNode {
                    registry: Registry::new("registry", c.registry.clone()).watched_by(clients.iter().copied()),
                }));
            }
            Node::Conn(Box::new(ConnNode {
                server: ConnServer::new("conn", c.conn.clone()),
                member: Member::new(registry, &c.registry),
                confirm: c.push.confirm,
                unacked: BTreeMap::new(),
            }))
        })
    }

    fn report(c: &Config, run: &RunView<'_, Node>) -> ModelReport {
        report(c, run)
    }
}

fn clients<'a>(run: &'a RunView<'_, Node>) -> impl Iterator<Item = (NodeId, &'a ClientNode)> + 'a {
    let sim = run.sim;
    run.topology().clients.iter().filter_map(move |&n| match sim.actor(n) {
        Some(Node::Client(c)) => Some((n, &**c)),
        _ => None,
    })
}

fn check(name: &str, j: &Judged, what: &str) -> Check {
    let detail = match &j.first {
        Some(first) => format!("{} of {} {what} violated; first: {first}", j.violations, j.judged),
        None => format!("{} {what}, none violated", j.judged),
    };
    Check::judged(name, j.judged, what).violations(j.violations, "violated").detail(detail).blame_ids(j.ops.clone())
}

fn report(c: &Config, run: &RunView<'_, Node>) -> ModelReport {
    let mut r = ModelReport::default();
    let pushes: Vec<Push> = run
        .history()
        .iter()
        .map(|h| Push { op: h.op, user: h.key % c.users as u64, msg: h.value, invoke: h.invoke, outcome: h.outcome })
        .collect();
    let mut delivered: BTreeMap<u64, u32> = BTreeMap::new();
    let mut device = ConnClientStats::default();
    let mut sender = SenderStats::default();
    let mut views = ViewStats::default();
    for (_, cl) in clients(run) {
        for (&msg, &(_, n)) in &cl.delivered {
            *delivered.entry(msg).or_default() += n;
        }
        device.add(&cl.devices.stats);
        views.add(&cl.view.stats);
        sender.pushes += cl.stats.pushes;
        sender.retries += cl.stats.retries;
        sender.timeouts += cl.stats.timeouts;
        sender.undeliverable += cl.stats.undeliverable;
    }
    let sessions = check::sessions_by_user(clients(run).flat_map(|(_, cl)| cl.devices.sessions()));

    let j = check::delivered_when_connected(&pushes, &sessions, &delivered, c.judge_window);
    r.checks.push(check("delivered_when_connected", &j, "pushes to a user connected throughout the window"));
    let lost = j.violations;
    let judged = j.judged;
    let j = check::outcomes_truthful(&pushes, &delivered);
    r.checks.push(check("outcomes_truthful", &j, "pushes ended Ok or Fail"));

    let mut held = Vec::new();
    let mut registry: Option<&Registry> = None;
    for (n, node) in run.servers() {
        match node {
            Node::Conn(cn) => held.extend(cn.server.connections().map(|(u, _, e)| (u, n, e))),
            Node::Registry(rn) => registry = Some(&rn.registry),
            Node::Client(_) => {}
        }
    }
    let readers: Vec<(NodeId, &View)> = clients(run).map(|(n, cl)| (n, &cl.view)).collect();
    let lookups: Vec<_> = readers.iter().map(|(n, v)| (*n, move |u: UserId| v.entry(u))).collect();
    let view_refs: Vec<(NodeId, check::ViewFn<'_>)> =
        lookups.iter().map(|(n, f)| (*n, f as check::ViewFn<'_>)).collect();
    let j = match registry {
        Some(reg) => check::registry_converged(c.users as u64, &held, |u| reg.entry(u), &view_refs),
        None => Judged { first: Some("the registry node is down at the end".into()), ..Judged::default() },
    };
    r.checks.push(check("registry_converged", &j, "users whose registry entry, connections and views were compared"));

    let disconnected = pushes.iter().filter(|p| !check::connected_at(sessions.get(&p.user), p.invoke)).count();
    let metrics = run.sim.metrics();
    let counter = |scope: &str, name: &str| metrics.scoped_counter(scope, name) as f64;
    let level_max = |scope: &str, name: &str| {
        metrics.levels.iter().find(|((s, n), _)| *s == scope && *n == name).map(|(_, l)| l.max as f64).unwrap_or(0.0)
    };
    let mut reconnect: Vec<f64> = device.reconnect_ns.iter().map(|&ns| ns as f64 / 1e6).collect();
    reconnect.sort_by(f64::total_cmp);
    let mut outages = check::outages_ms(&sessions);
    outages.sort_by(f64::total_cmp);
    let m = &mut r.measures;
    m.insert("users".into(), c.users as f64);
    m.insert("connections_end".into(), held.len() as f64);
    m.insert("connections_max".into(), level_max("conn", "connections"));
    m.insert("connects".into(), counter("conn", "connects"));
    m.insert("drops".into(), counter("conn", "drops"));
    m.insert("reconnects".into(), counter("device", "reconnects"));
    m.insert("connections_lost".into(), counter("device", "lost"));
    m.insert("connect_failures".into(), counter("device", "connect_failures"));
    if !reconnect.is_empty() {
        m.insert("reconnect_p50_ms".into(), sim_core::sweep::percentile(&reconnect, 0.5));
        m.insert("reconnect_max_ms".into(), *reconnect.last().expect("non-empty"));
    }
    if !outages.is_empty() {
        m.insert("outage_p50_ms".into(), sim_core::sweep::percentile(&outages, 0.5));
        m.insert("outage_max_ms".into(), *outages.last().expect("non-empty"));
    }
    m.insert("pushes".into(), pushes.len() as f64);
    m.insert("pushed".into(), counter("conn", "pushes"));
    m.insert("push_no_connection".into(), counter("conn", "push_no_connection"));
    m.insert("misrouted".into(), views.misrouted as f64);
    m.insert("lookup_misses".into(), views.lookup_misses as f64);
    m.insert("push_timeouts".into(), sender.timeouts as f64);
    m.insert("push_retries".into(), sender.retries as f64);
    m.insert("undeliverable".into(), sender.undeliverable as f64);
    m.insert("pushes_while_disconnected".into(), disconnected as f64);
    m.insert("pushes_judged".into(), judged as f64);
    m.insert("pushes_lost".into(), lost as f64);
    m.insert("delivered".into(), delivered.len() as f64);
    m.insert("duplicate_deliveries".into(), delivered.values().map(|&n| n.saturating_sub(1) as f64).sum());
    m.insert("stale_deliveries".into(), device.stale_deliveries as f64);
    m.insert("registry_changes".into(), counter("registry", "changes"));
    m.insert("registry_stale_writes".into(), counter("registry", "stale_writes"));
    m.insert("registry_sessions_expired".into(), counter("registry", "sessions_expired"));
    m.insert("registry_unpublished_max".into(), level_max("registry", "unpublished"));
    r
}
