//! # comments: live comments, fan-out by rendezvous hashing over a membership view
//!
//! The notes' live commenting system (system C): viewers of a live video see new comments within
//! 200 ms. `POST /comments/:videoId` goes to a stateless **comment service**, which writes the
//! comment to a log (Kafka) **partitioned by video id** ([`parts::log`]). **Fan-out instances**
//! each consume the partitions they own and hold the **SSE connections** of the viewers of those
//! partitions' videos ([`parts::conn`]); a comment consumed is pushed down every connection its
//! instance holds for the video. Both placements use **the same rendezvous hash**: partition `p`
//! belongs to the live instance with the highest `rendezvous_score(p, instance)`
//! ([`parts::balance::rendezvous`]), and a viewer's SSE request is routed by the same score of
//! its video's partition over the same instances. Which instances are live comes from a
//! ZooKeeper-style **membership source** ([`parts::registry`]: each instance holds a session;
//! readers' views learn of joins and session expiries `registry.lag` after the fact). The
//! router (in the viewers' regional load balancer) and the consumers (in the instances) each
//! read it through their own view, with their own extra lag (`router_lag`, `consumer_lag`).
//!
//! The notes' whole point about this design is its last line: the SSE routing layer and the
//! log consumers must see **the same list of active nodes** and map with the same hash.
//! Otherwise an instance consumes a video's comments while the video's viewers are connected to
//! another instance: the comments reach no one.
//!
//! ## Roles
//!
//! Servers: the log's coordinator (n0), `brokers` brokers, the membership registry, then the
//! fan-out instances (every server after the registry). Clients: each client node is a comment
//! service (the workload's `post` operations arrive there: key modulo `videos` is the video; the
//! operation ends `Ok` when the log acknowledged the comment, so its latency is the service's)
//! and the home of the viewers `u` with `u % clients == its index`. Viewer `u < videos` watches
//! video `u` (every live video has a viewer: its host); the others watch a video drawn from a
//! Zipf(`video_skew`) over the videos, so a few videos have most viewers, and the workload's
//! Zipf keys give the same videos most comments.
//!
//! ## Membership changes
//!
//! An instance that **joins** (starts, or restarts after a crash) opens a registry session; its
//! membership reaches the views after `registry.lag` (plus each view's own lag). An instance that
//! **leaves** (crashes) is dropped when its session expires (`registry.session_timeout`), and that
//! too reaches the views a lag later. When an instance's view changes, it recomputes the
//! partitions it owns: it starts reading a gained partition at the log's end (live comments; the
//! history is `GET /comments?cursor`, not modelled) and closes the SSE connections of the
//! viewers of the videos it lost ([`ConnServer::disconnect`]: the SSE stream ends, the browser
//! reconnects through the router). When the router's view changes, later (re)connects hash over
//! the new list. An instance serves whoever the router sends it (it does not check at connect
//! that it owns the video: it trusts the router, which is what makes the two views' agreement
//! matter). A viewer whose instance died notices by its heartbeats and reconnects.
//!
//! ## Checks and measures
//!
//! A viewer's **delivery window** for a comment: the viewer had one connection (one SSE session)
//! from at least `settle` before the comment was posted (the post's invoke time) and heard that
//! connection's server at least `sla` after the post (so the instance was up and the viewer had
//! not given the connection up). A viewer that reconnected shortly before the post may miss a
//! comment racing the new owner's first fetch (it would read it from the history): it is not
//! judged for that comment, and the `late_share_*` measures count it.
//!
//! - `delivered`: every comment acknowledged to its poster reached every viewer whose delivery
//!   window covers it (judged: such (comment, viewer) pairs; violated: never delivered).
//! - `routed_to_viewers`: a comment consumed by an instance holding none of its video's viewers
//!   while a viewer of the video was connected to another instance throughout
//!   `[consumed - settle, consumed + sla]` is a **misroute** (judged: consumed comments whose
//!   video had a viewer so connected somewhere; what an incarnation consumed before it crashed
//!   is judged too: the log of consumptions is the world's, not the instance's memory).
//! - measure `delivery_p99_ms` (the SLA: 200 ms at p99 over the judged pairs delivered).
//! - measures `late_share_churn` and `late_share_steady`: of every (comment, viewer of its
//!   video) pair whose viewer had first connected at least `settle` before the post, the share
//!   not delivered within `sla`, for comments posted within `churn_window` after an instance
//!   crash or restart (from the scenario's fault schedule) and for the rest.
//!
//! ## The known-bad twin
//!
//! `comments_split_membership`: the router's view lags the consumers' by seconds. When an
//! instance joins, the consumers move partitions to it at once; their old owners close their
//! viewers, whose reconnects the stale router sends straight back to the old owners, which hold
//! them and consume nothing for them: `delivered` and `routed_to_viewers` fail. Its control
//! gives the router the consumers' lag.
//!
//! Simplified: one registry node stands for the ZooKeeper ensemble; the log is `parts::log` (one
//! or more brokers); the comment service is folded into the client node (its only work is the
//! produce); comments are 100-byte records; clocks are not skewed (session times are the
//! devices' local clocks and the checks compare them with true post times). Transport:
//! connections (HTTP, SSE and the Kafka protocol run over TCP).

mod check;

pub use check::{Consumed, Post};
use parts::conn::{self, ClientEvent, ConnClient, ConnServer, ConnSpec, ServerEvent, UserId};
use parts::log::{self, Broker, Cluster, Consumer, Coordinator, LogSpec, Pid, Producer};
use parts::registry::{self, Member, Registry, RegistrySpec, View};
use serde::{Deserialize, Serialize};
use sim_core::cost::count;
use sim_core::math;
use sim_core::{
    Actor, Check, Ctx, Duration, Model, ModelReport, NodeId, Op, OpId, Outcome, Prng, Reply, RunView, Table, Time,
    Topology, WriteId,
};
use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet};
use std::rc::Rc;

/// ```ron
/// config: (
///     videos: 500, viewers: 2000, video_skew: 1.0,
///     brokers: 1, log: (topics: [(name: "comments", partitions: 64)], replication: 1, acks: 1),
///     conn: (heartbeat: (interval: "500ms", timeout: "1500ms"), router: Rendezvous),
///     registry: (lag: "100ms", session_interval: "500ms", session_timeout: "2500ms"),
///     router_lag: "0s", consumer_lag: "0s",
///     sla: "200ms", settle: "1s", churn_window: "5s",
/// )
/// ```
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// Live videos (the workload's keys are taken modulo this).
    pub videos: u32,
    /// Viewers, each watching one video for the whole run (at least one per video).
    pub viewers: u32,
    /// Zipf exponent of the viewers beyond the first per video over the videos.
    pub video_skew: f64,
    /// Log brokers (servers n1..).
    pub brokers: u32,
    /// The log; its first topic carries the comments.
    pub log: LogSpec,
    /// The viewers' SSE connections (`router` must be `Rendezvous`).
    pub conn: ConnSpec,
    /// The membership source.
    pub registry: RegistrySpec,
    /// Extra lag of the routers' membership views (on top of `registry.lag`).
    pub router_lag: Duration,
    /// Extra lag of the consumers' membership views.
    pub consumer_lag: Duration,
    /// Comment to viewer: the notes' 200 ms.
    pub sla: Duration,
    /// A viewer is judged for a comment when connected at least this long before it.
    pub settle: Duration,
    /// Comments posted this long after an instance crash, restart or join count as "after churn".
    pub churn_window: Duration,
    /// A viewer that connects to an instance within this long after the instance's view changed,
    /// for a video it does not own, is checked again this long later and let go if still not
    /// owned (the router may not have caught up yet); other connections are trusted.
    pub recheck: Duration,
    /// Instances that join the running cluster (scale-out): they stay out of it (no session, no
    /// connections, no consumption) until `at`.
    pub joins: Vec<Join>,
}

/// `(node: 6, at: "16s")`: fan-out instance n6 joins at 16 s.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Join {
    pub node: u32,
    pub at: Duration,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            videos: 500,
            viewers: 2000,
            video_skew: 1.0,
            brokers: 1,
            log: LogSpec {
                topics: vec![log::TopicSpec { name: "comments".into(), partitions: 64, ..log::TopicSpec::default() }],
                replication: 1,
                acks: 1,
                ..LogSpec::default()
            },
            conn: ConnSpec { router: parts::balance::Policy::Rendezvous, ..ConnSpec::default() },
            registry: RegistrySpec::default(),
            router_lag: Duration::ZERO,
            consumer_lag: Duration::ZERO,
            sla: Duration::from_millis(200),
            settle: Duration::from_secs(1),
            churn_window: Duration::from_secs(5),
            recheck: Duration::from_millis(500),
            joins: Vec::new(),
        }
    }
}

/// Where everything is, shared by every node.
#[derive(Debug)]
pub struct Layout {
    pub coordinator: NodeId,
    pub brokers: Vec<NodeId>,
    pub registry: NodeId,
    pub instances: Vec<NodeId>,
    pub clients: Vec<NodeId>,
    /// The video each viewer watches, by viewer id.
    pub video_of: Vec<u32>,
    pub cluster: Rc<Cluster>,
}

impl Layout {
    fn new(c: &Config, topo: &Topology, setup: &mut Prng) -> Layout {
        let s = &topo.servers;
        let b = c.brokers as usize;
        let cluster = Rc::new(Cluster::new(c.log.clone(), s[0], s[1..=b].to_vec()));
        Layout {
            coordinator: s[0],
            brokers: s[1..=b].to_vec(),
            registry: s[b + 1],
            instances: s[b + 2..].to_vec(),
            clients: topo.clients.clone(),
            video_of: viewers_videos(c.videos, c.viewers, c.video_skew, setup),
            cluster,
        }
    }

    /// The partition of a video's comments, which is also the key its viewers are routed by.
    pub fn partition(&self, video: u32) -> Pid {
        self.cluster.partition_of(0, video as u64)
    }

    /// The partitions `me` owns when `live` are the live instances: rendezvous hashing.
    pub fn owned_by(&self, me: NodeId, live: &[NodeId]) -> Vec<Pid> {
        self.cluster.topic_partitions(0).filter(|&p| parts::balance::rendezvous(p as u64, live) == Some(me)).collect()
    }
}

/// Viewer `u < videos` watches video `u`; the rest draw a video from Zipf(`s`) (rank 0 the most
/// watched, as the workload's Zipf keys make video 0 the most commented).
pub fn viewers_videos(videos: u32, viewers: u32, s: f64, rng: &mut Prng) -> Vec<u32> {
    let mut cdf: Vec<f64> = (1..=videos).map(|k| 1.0 / math::powf(k as f64, s)).collect();
    let mut acc = 0.0;
    for w in &mut cdf {
        acc += *w;
        *w = acc;
    }
    (0..viewers)
        .map(|u| {
            if u < videos {
                return u;
            }
            let x = rng.unit() * acc;
            (cdf.partition_point(|&c| c <= x) as u32).min(videos - 1)
        })
        .collect()
}

/// Check again whether a viewer that connected during a membership change belongs here.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Recheck {
    pub user: UserId,
    pub epoch: u64,
}

/// A scheduled join is due.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct JoinNow;

/// What the log's nodes and the registry write to disk.
#[derive(Clone, Debug)]
pub enum Rec {
    Log(log::Disk),
    Registry(registry::Record),
}

impl From<log::Disk> for Rec {
    fn from(d: log::Disk) -> Rec {
        Rec::Log(d)
    }
}

impl From<registry::Record> for Rec {
    fn from(r: registry::Record) -> Rec {
        Rec::Registry(r)
    }
}

impl Rec {
    fn log(&self) -> Option<&log::Disk> {
        match self {
            Rec::Log(d) => Some(d),
            Rec::Registry(_) => None,
        }
    }

    fn registry(&self) -> Option<&registry::Record> {
        match self {
            Rec::Registry(r) => Some(r),
            Rec::Log(_) => None,
        }
    }
}

/// A membership notification held back by a view's extra lag.
#[derive(Clone, Debug)]
pub struct Late(pub registry::Msg);

parts::wire! {
    /// Everything a node of this design sends.
    pub enum Msg { Log(log::Msg), Conn(conn::Msg), Registry(registry::Msg) }
}
parts::wire! {
    timers pub enum Timer { Log(log::Timer), Conn(conn::Timer), Registry(registry::Timer), Late(Late), Join(JoinNow), Recheck(Recheck) }
}

/// What one fan-out instance did (per incarnation).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct InstanceStats {
    pub consumed: u64,
    pub pushes: u64,
    /// Comments consumed for a video with no viewer held here.
    pub no_viewers: u64,
    pub ownership_changes: u64,
    pub partitions_revoked: u64,
    pub viewers_moved: u64,
}

/// A fan-out instance: SSE connections, a registry session, a consumer, its membership view.
pub struct Instance {
    me: NodeId,
    layout: Rc<Layout>,
    server: ConnServer,
    member: Member,
    view: View,
    consumer: Consumer,
    lag: Duration,
    recheck: Duration,
    /// When this instance's view last changed its partitions.
    view_changed: Time,
    /// A scheduled join not yet done.
    join_at: Option<Duration>,
    /// Video -> the viewers held here.
    viewers: BTreeMap<u32, BTreeSet<UserId>>,
    owned: Vec<Pid>,
    /// Every comment every instance consumed, kept across their crashes: the world's record, not
    /// an instance's memory (one log, handed by the factory to every incarnation of every
    /// instance), so `routed_to_viewers` judges what a crashed incarnation consumed too.
    pub consumed: Rc<RefCell<Vec<Consumed>>>,
    pub stats: InstanceStats,
}

impl Instance {
    /// Starts serving: SSE sweeps, a registry session, the membership view.
    fn start(&mut self, ctx: &mut Ctx<'_, Node>) {
        self.join_at = None;
        self.server.start(ctx);
        self.member.start(ctx);
        self.view.start(ctx);
    }

    fn owns_viewer(&self, user: UserId) -> bool {
        self.owned.contains(&self.layout.partition(self.layout.video_of[user as usize]))
    }

    fn on_opened(&mut self, ctx: &mut Ctx<'_, Node>, ev: ServerEvent) {
        if let ServerEvent::Opened { user, epoch, .. } = ev
            && !self.owns_viewer(user)
            && ctx.now().since(self.view_changed) < self.recheck
        {
            ctx.set_timer(self.recheck, Timer::Recheck(Recheck { user, epoch }));
        }
        self.on_conn(ev);
    }

    fn on_recheck(&mut self, ctx: &mut Ctx<'_, Node>, r: Recheck) {
        if self.server.holds(r.user) == Some(r.epoch)
            && !self.owns_viewer(r.user)
            && let Some(ev) = self.server.disconnect(ctx, r.user)
        {
            self.stats.viewers_moved += 1;
            ctx.count_in("fanout", "viewers_rechecked", 1);
            self.on_conn(ev);
        }
    }

    fn on_conn(&mut self, ev: ServerEvent) {
        match ev {
            ServerEvent::Opened { user, .. } => {
                self.viewers.entry(self.layout.video_of[user as usize]).or_default().insert(user);
            }
            ServerEvent::Closed { user, .. } => {
                let v = self.layout.video_of[user as usize];
                if let Some(set) = self.viewers.get_mut(&v) {
                    set.remove(&user);
                    if set.is_empty() {
                        self.viewers.remove(&v);
                    }
                }
            }
        }
    }

    /// The membership view changed: take the partitions the hash now gives this instance, and
    /// let go of the viewers of the videos it lost.
    fn on_view(&mut self, ctx: &mut Ctx<'_, Node>, m: &registry::Msg) {
        self.view.on_msg(m);
        let live: Vec<NodeId> = self.view.live_servers().collect();
        let owned = self.layout.owned_by(self.me, &live);
        if owned == self.owned && self.consumer.is_active() {
            return;
        }
        self.stats.ownership_changes += 1;
        self.view_changed = ctx.now();
        let revoked = self.consumer.assign(ctx, &owned);
        self.stats.partitions_revoked += revoked.len() as u64;
        self.owned = owned;
        // Every viewer whose video this instance does not own now goes: those of the partitions
        // it lost, and any a router placed here while the views were changing.
        let gone: Vec<UserId> = self
            .viewers
            .iter()
            .filter(|(v, _)| !self.owned.contains(&self.layout.partition(**v)))
            .flat_map(|(_, us)| us.iter().copied())
            .collect();
        for user in gone {
            if let Some(ev) = self.server.disconnect(ctx, user) {
                self.stats.viewers_moved += 1;
                ctx.count_in("fanout", "viewers_moved", 1);
                self.on_conn(ev);
            }
        }
    }

    /// Pushes every comment the consumer has down the connections of its video's viewers here.
    fn pump(&mut self, ctx: &mut Ctx<'_, Node>) {
        while let Some(d) = self.consumer.poll(ctx) {
            let video = d.rec.key as u32;
            let comment = d.rec.value;
            let held = self.viewers.get(&video).map_or(0, |s| s.len()) as u32;
            self.stats.consumed += 1;
            if held == 0 {
                self.stats.no_viewers += 1;
                ctx.count_in("fanout", "consumed_no_viewers", 1);
            }
            if let Some(set) = self.viewers.get(&video) {
                for &u in set {
                    if self.server.push(ctx, u, comment) {
                        self.stats.pushes += 1;
                    }
                }
            }
            self.consumed.borrow_mut().push(Consumed {
                comment,
                video,
                at: ctx.ledger_time(),
                instance: self.me,
                held,
            });
            self.consumer.done(&d);
        }
    }

    fn on_msg(&mut self, ctx: &mut Ctx<'_, Node>, from: NodeId, msg: Msg) {
        if self.join_at.is_some() {
            return; // not in the cluster yet: nobody should know it
        }
        match msg {
            Msg::Conn(m) => {
                if let Some(ev) = self.server.on_msg(ctx, from, m) {
                    self.on_opened(ctx, ev);
                }
            }
            Msg::Registry(m @ (registry::Msg::Changes(_) | registry::Msg::Reset { .. })) => {
                if self.lag > Duration::ZERO {
                    ctx.set_timer(self.lag, Timer::Late(Late(m)));
                } else {
                    self.on_view(ctx, &m);
                }
            }
            Msg::Registry(m) => {
                self.member.on_msg(ctx, &m);
            }
            Msg::Log(m) => {
                if self.consumer.on_msg(ctx, &m).is_some() {
                    self.pump(ctx);
                }
            }
        }
    }

    fn on_timer(&mut self, ctx: &mut Ctx<'_, Node>, t: Timer) {
        match t {
            Timer::Conn(t) => {
                for ev in self.server.on_timer(ctx, t) {
                    self.on_conn(ev);
                }
            }
            Timer::Registry(t) => self.member.on_timer(ctx, t),
            Timer::Log(t) => {
                self.consumer.on_timer(ctx, t);
                self.pump(ctx);
            }
            Timer::Late(Late(m)) => self.on_view(ctx, &m),
            Timer::Join(JoinNow) => self.start(ctx),
            Timer::Recheck(r) => self.on_recheck(ctx, r),
        }
    }
}

/// A client node: the comment service (a producer) and the viewers living here, with the
/// router's membership view.
pub struct Client {
    producer: Producer<OpId>,
    devices: ConnClient,
    view: View,
    lag: Duration,
    videos: u64,
    /// (comment, viewer, arrival on the viewer's clock), in arrival order.
    pub delivered: Vec<(u64, UserId, Time)>,
}

impl Client {
    fn on_view(&mut self, m: &registry::Msg) {
        self.view.on_msg(m);
        let live: Vec<NodeId> = self.view.live_servers().collect();
        self.devices.set_servers(&live);
    }

    fn on_produced(ctx: &mut Ctx<'_, Node>, done: log::Produced<OpId>) {
        let outcome = if done.result.is_ok() { Outcome::Ok } else { Outcome::Fail };
        ctx.complete(done.token, outcome, Reply::None);
    }

    fn on_msg(&mut self, ctx: &mut Ctx<'_, Node>, from: NodeId, msg: Msg) {
        match msg {
            Msg::Conn(m) => {
                if let Some(ClientEvent::Delivered { user, msg, .. }) = self.devices.on_msg(ctx, from, m) {
                    self.delivered.push((msg, user, ctx.ledger_time()));
                }
            }
            Msg::Registry(m) => {
                if self.lag > Duration::ZERO {
                    ctx.set_timer(self.lag, Timer::Late(Late(m)));
                } else {
                    self.on_view(&m);
                }
            }
            Msg::Log(m) => {
                if let Some(done) = self.producer.on_msg(ctx, &m) {
                    Self::on_produced(ctx, done);
                }
            }
        }
    }

    fn on_timer(&mut self, ctx: &mut Ctx<'_, Node>, t: Timer) {
        match t {
            Timer::Conn(t) => {
                self.devices.on_timer(ctx, t);
            }
            Timer::Log(t) => {
                if let Some(done) = self.producer.on_timer(ctx, t) {
                    Self::on_produced(ctx, done);
                }
            }
            Timer::Late(Late(m)) => self.on_view(&m),
            Timer::Registry(_) | Timer::Join(_) | Timer::Recheck(_) => {}
        }
    }

    fn on_op(&mut self, ctx: &mut Ctx<'_, Node>, op: Op) {
        self.producer.produce(ctx, 0, op.key % self.videos, op.id.0 as u64, op.id);
    }
}

pub enum Node {
    Control(Box<Coordinator>),
    Broker(Box<Broker>),
    Registry(Box<Registry>),
    Instance(Box<Instance>),
    Client(Box<Client>),
}

impl Actor for Node {
    type Msg = Msg;
    type Timer = Timer;
    type Record = Rec;

    fn on_start(&mut self, ctx: &mut Ctx<'_, Self>) {
        match self {
            Node::Control(c) => c.start(ctx, Rec::log),
            Node::Broker(b) => b.start(ctx, Rec::log),
            Node::Registry(r) => r.start(ctx, Rec::registry),
            Node::Instance(i) => match i.join_at {
                Some(at) if ctx.now().0 < at.0 => {
                    ctx.set_timer(Duration(at.0 - ctx.now().0), Timer::Join(JoinNow));
                }
                _ => i.start(ctx),
            },
            Node::Client(c) => {
                c.producer.start(ctx);
                c.devices.start(ctx);
                c.view.start(ctx);
            }
        }
    }

    fn on_msg(&mut self, ctx: &mut Ctx<'_, Self>, from: NodeId, msg: Msg) {
        match self {
            Node::Control(c) => {
                if let Msg::Log(m) = msg {
                    c.on_msg(ctx, from, &m);
                }
            }
            Node::Broker(b) => {
                if let Msg::Log(m) = msg {
                    b.on_msg(ctx, from, &m);
                }
            }
            Node::Registry(r) => {
                if let Msg::Registry(m) = msg {
                    r.on_msg(ctx, from, m);
                }
            }
            Node::Instance(i) => i.on_msg(ctx, from, msg),
            Node::Client(c) => c.on_msg(ctx, from, msg),
        }
    }

    fn on_timer(&mut self, ctx: &mut Ctx<'_, Self>, t: Timer) {
        match (self, t) {
            (Node::Control(c), Timer::Log(t)) => c.on_timer(ctx, t),
            (Node::Broker(b), Timer::Log(t)) => b.on_timer(ctx, t),
            (Node::Registry(r), Timer::Registry(t)) => r.on_timer(ctx, t),
            (Node::Instance(i), t) => i.on_timer(ctx, t),
            (Node::Client(c), t) => c.on_timer(ctx, t),
            _ => {}
        }
    }

    fn on_op(&mut self, ctx: &mut Ctx<'_, Self>, op: Op) {
        match self {
            Node::Client(c) => c.on_op(ctx, op),
            _ => ctx.complete(op.id, Outcome::Rejected, Reply::None),
        }
    }

    fn on_persisted(&mut self, ctx: &mut Ctx<'_, Self>, w: WriteId) {
        match self {
            Node::Control(c) => {
                c.on_persisted(ctx, w);
            }
            Node::Broker(b) => {
                b.on_persisted(ctx, w);
            }
            _ => {}
        }
    }
}

pub struct Comments;

impl Model for Comments {
    const TRANSPORT: sim_core::net::Transport = sim_core::net::Transport::Connection;
    const KEEP_CRASHED_ACTORS: bool = true;
    const CHECKS: &'static [&'static str] = &["delivered", "routed_to_viewers"];
    const PROGRESS_CHECKS: &'static [&'static str] = &["delivered"];
    const NAME: &'static str = "comments";
    const ABOUT: &'static str = "live comments: a log partitioned by video, fan-out instances holding SSE viewers, both placed by rendezvous hashing over a membership view";
    const OP_KINDS: &'static [&'static str] = &["post"];
    type Config = Config;
    type Actor = Node;

    fn validate(c: &Config, topo: &Topology) -> Vec<(String, String)> {
        let mut e = Vec::new();
        let need = c.brokers as usize + 3;
        if topo.servers.len() < need {
            e.push((
                "topology.servers".into(),
                format!(
                    "needs at least {need} (coordinator, {} brokers, the registry, then at least one fan-out instance), got {}",
                    c.brokers,
                    topo.servers.len()
                ),
            ));
        }
        if topo.clients.is_empty() {
            e.push(("topology.clients".into(), "needs at least 1 (comment service and viewers)".into()));
        }
        if c.brokers == 0 || c.brokers > 64 {
            e.push(("config.brokers".into(), format!("must be within [1, 64], got {}", c.brokers)));
        }
        if c.videos == 0 || c.videos > 1_000_000 {
            e.push(("config.videos".into(), format!("must be within [1, 1000000], got {}", c.videos)));
        }
        if c.viewers < c.videos || c.viewers > 1_000_000 {
            e.push((
                "config.viewers".into(),
                format!(
                    "must be within [videos = {}, 1000000] (every video has a viewer), got {}",
                    c.videos, c.viewers
                ),
            ));
        }
        if !(0.0..=5.0).contains(&c.video_skew) {
            e.push(("config.video_skew".into(), format!("must be within [0, 5], got {}", c.video_skew)));
        }
        if c.conn.router != parts::balance::Policy::Rendezvous {
            e.push(("config.conn.router".into(), "must be Rendezvous (the hash the consumers use)".into()));
        }
        for (name, d) in [("sla", c.sla), ("settle", c.settle), ("churn_window", c.churn_window)] {
            if d == Duration::ZERO {
                e.push((format!("config.{name}"), "must be positive".into()));
            }
        }
        for (name, d) in [("router_lag", c.router_lag), ("consumer_lag", c.consumer_lag)] {
            if d > Duration::from_secs(3600) {
                e.push((format!("config.{name}"), format!("at most 1h, got {d}")));
            }
        }
        let first_instance = c.brokers + 2;
        for (i, j) in c.joins.iter().enumerate() {
            if (j.node as usize) < first_instance as usize + 1 || j.node as usize >= topo.servers.len() {
                e.push((
                    format!("config.joins[{i}].node"),
                    format!(
                        "must be a fan-out instance other than the first (n{} to n{}), got n{}",
                        first_instance + 1,
                        topo.servers.len().saturating_sub(1),
                        j.node
                    ),
                ));
            }
            if c.joins[..i].iter().any(|o| o.node == j.node) {
                e.push((format!("config.joins[{i}].node"), format!("n{} joins twice", j.node)));
            }
        }
        e.extend(c.log.validate("config.log", c.brokers));
        e.extend(c.conn.validate("config.conn"));
        e.extend(c.registry.validate("config.registry"));
        e
    }

    fn validate_schedule(c: &Config, run_end: Duration) -> Vec<(String, String)> {
        c.joins
            .iter()
            .enumerate()
            .filter(|(_, j)| j.at >= run_end)
            .map(|(i, j)| {
                (format!("config.joins[{i}].at"), format!("{} is not before the run ends at {run_end}", j.at))
            })
            .collect()
    }

    /// Per comment, a push to every viewer of its video: the clients record each delivery (24 B,
    /// in vectors that grow by doubling: up to twice that at the peak) and the checker indexes
    /// the first of each (a B-tree entry, ~48 B). Viewers per comment: the video's one, plus the rest spread by
    /// Zipf(`video_skew`); the overlap of the comments' spread (the workload's keys, `key_skew`)
    /// with the viewers' is taken as at most `sqrt(sum p^2 sum q^2)`, exact when comments follow
    /// viewers as the design intends, and up to `sqrt(videos x sum q^2)` too high for uniform
    /// keys (an over-estimate, the safe side for a memory bound). Events: a push per delivery
    /// and a ping and a pong per viewer per heartbeat interval.
    fn footprint(c: &Config, _topo: &Topology, load: &sim_core::cost::Load) -> sim_core::cost::Footprint {
        let posts = load.total();
        let videos = c.videos.max(1) as f64;
        let weights: Vec<f64> = (1..=c.videos.max(1)).map(|k| 1.0 / math::powf(k as f64, c.video_skew)).collect();
        let total: f64 = weights.iter().sum();
        let sum_q2: f64 = weights.iter().map(|w| (w / total) * (w / total)).sum();
        let sum_p2 = if load.keys > 0.0 { load.key_skew / load.keys.min(videos) } else { 1.0 / videos };
        let overlap = (sum_p2 * sum_q2).sqrt().min(1.0);
        let extra = (c.viewers as f64 - videos).max(0.0);
        let deliveries = posts * (1.0 + extra * overlap);
        let heartbeat_s = (c.conn.heartbeat.interval.0 as f64 / 1e9).max(1e-3);
        let pings = c.viewers as f64 * load.run_s / heartbeat_s * 2.0;
        sim_core::cost::Footprint { events: deliveries + pings, ..Default::default() }
            .part(
                format!(
                    "deliveries: {posts} comments x {:.0} viewers each x 24 B (and vector growth)",
                    deliveries / posts.max(1.0),
                    posts = count(posts)
                ),
                deliveries * 24.0 * 2.0,
            )
            .part("the checker's first deliveries: ~48 B each".to_string(), deliveries * 48.0)
    }

    fn factory(c: &Config, topo: &Topology, setup: &mut Prng) -> Box<dyn FnMut(NodeId) -> Node> {
        let layout = Rc::new(Layout::new(c, topo, setup));
        let c = c.clone();
        let consumed: Rc<RefCell<Vec<Consumed>>> = Rc::default();
        Box::new(move |n| {
            let l = &layout;
            if n == l.coordinator {
                return Node::Control(Box::new(Coordinator::new(l.cluster.clone(), "log")));
            }
            if l.brokers.contains(&n) {
                return Node::Broker(Box::new(Broker::new(l.cluster.clone(), "log", n)));
            }
            if n == l.registry {
                let watchers = l.clients.iter().chain(&l.instances).copied();
                return Node::Registry(Box::new(Registry::new("registry", c.registry.clone()).watched_by(watchers)));
            }
            if let Some(k) = l.clients.iter().position(|&x| x == n) {
                let users: Vec<UserId> =
                    (0..c.viewers as u64).filter(|u| (u % l.clients.len() as u64) as usize == k).collect();
                let lay = layout.clone();
                let devices = ConnClient::new("viewer", c.conn.clone(), &users, &[])
                    .route_by(move |u| lay.partition(lay.video_of[u as usize]) as u64);
                return Node::Client(Box::new(Client {
                    producer: Producer::new(l.cluster.clone(), "log"),
                    devices,
                    view: View::new("router", l.registry),
                    lag: c.router_lag,
                    videos: c.videos as u64,
                    delivered: Vec::new(),
                }));
            }
            Node::Instance(Box::new(Instance {
                me: n,
                layout: layout.clone(),
                server: ConnServer::new("sse", c.conn.clone()),
                member: Member::new(l.registry, &c.registry),
                view: View::new("consumer", l.registry),
                consumer: Consumer::new(l.cluster.clone(), "log", 0, 0),
                lag: c.consumer_lag,
                recheck: c.recheck,
                view_changed: Time::ZERO,
                join_at: c.joins.iter().find(|j| j.node == n.0).map(|j| j.at),
                viewers: BTreeMap::new(),
                owned: Vec::new(),
                consumed: consumed.clone(),
                stats: InstanceStats::default(),
            }))
        })
    }

    fn report(c: &Config, run: &RunView<'_, Node>) -> ModelReport {
        report(c, run)
    }
}

fn report(c: &Config, run: &RunView<'_, Node>) -> ModelReport {
    let mut r = ModelReport::default();
    let sim = run.sim;
    let clients: Vec<&Client> = run
        .topology()
        .clients
        .iter()
        .filter_map(|&n| match sim.actor(n) {
            Some(Node::Client(c)) => Some(&**c),
            _ => None,
        })
        .collect();
    let mut instances: Vec<&Instance> = Vec::new();
    for (_, node) in run.servers() {
        if let Node::Instance(i) = node {
            instances.push(i);
        }
    }
    // Every node was built from the same layout; any instance or the factory's rule gives it.
    let video_of: Vec<u32> = match instances.first() {
        Some(i) => i.layout.video_of.clone(),
        None => viewers_videos(c.videos, c.viewers, c.video_skew, &mut Prng::new(0, sim_core::Stream::Setup)),
    };

    let history = run.history();
    let posts: Vec<Post> = history
        .iter()
        .filter(|h| h.outcome == Some(Outcome::Ok))
        .map(|h| Post { op: h.op, comment: h.op.0 as u64, video: (h.key % c.videos as u64) as u32, at: h.invoke })
        .collect();
    let sessions = check::sessions_by_viewer(clients.iter().flat_map(|cl| cl.devices.sessions()));
    let delivered = check::first_deliveries(&clients.iter().map(|cl| cl.delivered.as_slice()).collect::<Vec<_>>());
    let viewers_of = check::viewers_of(&video_of);

    // One log shared by every instance: read through any one running.
    let consumed: Vec<Consumed> = instances.first().map(|i| i.consumed.borrow().clone()).unwrap_or_default();
    // Churn windows: instance crashes and restarts from the fault schedule.
    let instance_nodes = &run.topology().servers[c.brokers as usize + 2..];
    let inst: BTreeSet<u32> = instance_nodes.iter().map(|n| n.0).collect();
    let mut changes: Vec<Time> = Vec::new();
    for f in &sim.config().faults {
        if let sim_core::fault::Fault::Crash { node, .. } | sim_core::fault::Fault::Restart(node) = f.fault
            && inst.contains(&node)
        {
            changes.push(Time(f.at.0));
            if let (sim_core::fault::Fault::Crash { .. }, Some(d)) = (&f.fault, f.duration) {
                changes.push(Time(f.at.0 + d.0));
            }
        }
    }
    changes.extend(c.joins.iter().map(|j| Time(j.at.0)));
    changes.sort();
    let (d, late) = check::pairs(&posts, &viewers_of, &sessions, &delivered, c.settle, c.sla, &changes, c.churn_window);
    let explain = |op: OpId, user: UserId| {
        let Some(p) = posts.iter().find(|p| p.op == op) else { return String::new() };
        let on = sessions
            .get(&user)
            .and_then(|ss| ss.iter().find(|s| check::covers(s, p.at, c.settle, c.sla)))
            .map_or("?".into(), |s| format!("n{}", s.server.0));
        let by = consumed
            .iter()
            .find(|x| x.comment == p.comment)
            .map_or("consumed by no surviving incarnation".into(), |x| {
                format!("consumed at n{} ({} of its viewers held there)", x.instance.0, x.held)
            });
        format!("comment {} of video {} posted at {} to viewer {user} connected to {on}: {by}", op.0, p.video, p.at)
    };
    r.checks.push(
        Check::judged("delivered", d.judged, "(comment, viewer) pairs in the viewer's delivery window")
            .violations(d.lost.len(), "never delivered")
            .detail(match (d.lost.first(), d.lost.last()) {
                (Some(&(op, user)), Some(&(lop, luser))) => {
                    format!("e.g. {}; the last: {}", explain(op, user), explain(lop, luser))
                }
                _ => format!("{} delivered late (over {})", d.late, c.sla),
            })
            .blame_ids(d.lost.iter().map(|&(op, _)| op)),
    );

    let routed = check::routed(&consumed, &video_of, &sessions, c.settle, c.sla);
    r.checks.push(
        Check::judged("routed_to_viewers", routed.judged, "consumed comments whose video had a settled viewer")
            .skipped(routed.skipped, "no viewer of the video settled anywhere")
            .violations(routed.misroutes, "consumed where none of its viewers were")
            .detail(match routed.first {
                Some(x) => {
                    format!("e.g. comment {} of video {} consumed at n{} at {}", x.comment, x.video, x.instance.0, x.at)
                }
                None => "every comment was consumed where its settled viewers were".into(),
            }),
    );

    let metrics = sim.metrics();
    let counter = |scope: &str, name: &str| metrics.scoped_counter(scope, name) as f64;
    let level_max = |scope: &str, name: &str| {
        metrics.levels.iter().find(|((s, n), _)| *s == scope && *n == name).map(|(_, l)| l.max as f64).unwrap_or(0.0)
    };
    let secs = run.main_end.0 as f64 / 1e9;
    let hot_posts = posts.iter().filter(|p| p.video == 0).count() as f64;
    let hot: BTreeSet<u64> = posts.iter().filter(|p| p.video == 0).map(|p| p.comment).collect();
    let hot_deliveries = hot.iter().map(|&cm| delivered.count(cm)).sum::<usize>() as f64;
    let total_pushes: u64 = clients.iter().map(|cl| cl.delivered.len() as u64).sum();
    let videos_watched = sessions.iter().map(|(u, _)| video_of[u as usize]).collect::<BTreeSet<u32>>().len();
    // The instances' counts over every incarnation: a crash does not take back what an instance
    // consumed and pushed before it.
    let mut st = InstanceStats::default();
    for i in run.incarnations().filter_map(|(_, n)| if let Node::Instance(i) = n { Some(i) } else { None }) {
        st.consumed += i.stats.consumed;
        st.pushes += i.stats.pushes;
        st.no_viewers += i.stats.no_viewers;
        st.ownership_changes += i.stats.ownership_changes;
        st.partitions_revoked += i.stats.partitions_revoked;
        st.viewers_moved += i.stats.viewers_moved;
    }
    let m = &mut r.measures;
    m.insert("comments".into(), posts.len() as f64);
    m.insert("comments_per_s".into(), posts.len() as f64 / secs);
    m.insert("hot_video_comments_per_s".into(), hot_posts / secs);
    m.insert("hot_video_viewers".into(), viewers_of.get(&0).map_or(0, |v| v.len()) as f64);
    m.insert("hot_video_deliveries_per_s".into(), hot_deliveries / secs);
    m.insert("deliveries".into(), total_pushes as f64);
    m.insert("deliveries_per_s".into(), total_pushes as f64 / secs);
    m.insert("videos_watched".into(), videos_watched as f64);
    m.insert("viewers_connected".into(), sessions.iter().count() as f64);
    m.insert("connections_max".into(), level_max("sse", "connections"));
    m.insert("connections_per_instance".into(), level_max("sse", "connections") / instance_nodes.len() as f64);
    m.insert("pairs_judged".into(), d.judged as f64);
    m.insert("pairs_lost".into(), d.lost.len() as f64);
    m.insert("pairs_late".into(), d.late as f64);
    if let Some(p99) = d.p99_ms {
        m.insert("delivery_p99_ms".into(), p99);
    }
    m.insert("misroutes".into(), routed.misroutes as f64);
    m.insert("late_share_churn".into(), late.churn_share());
    m.insert("late_share_steady".into(), late.steady_share());
    m.insert("pairs_churn".into(), late.churn.0 as f64);
    m.insert("pairs_steady".into(), late.steady.0 as f64);
    m.insert("consumed".into(), consumed.len() as f64);
    // The instances' own counts, over every incarnation: `consumed` again, counted another way.
    m.insert("consumed_by_instances".into(), st.consumed as f64);
    m.insert("consumed_no_viewers".into(), counter("fanout", "consumed_no_viewers"));
    m.insert("viewers_moved".into(), counter("fanout", "viewers_moved"));
    m.insert("viewers_rechecked".into(), counter("fanout", "viewers_rechecked"));
    m.insert("ownership_changes".into(), st.ownership_changes as f64);
    m.insert("reconnects".into(), counter("viewer", "reconnects"));
    m.insert("connect_failures".into(), counter("viewer", "connect_failures"));
    m.insert("registry_changes".into(), counter("registry", "changes"));
    m.insert("registry_watchers_reset".into(), counter("registry", "watchers_reset"));
    r.tables.push(
        Table::new(
            "delivery_after_churn",
            ["window", "pairs", "late_or_lost", "share"],
            vec![
                vec![0.0, late.steady.0 as f64, late.steady.1 as f64, late.steady_share()],
                vec![1.0, late.churn.0 as f64, late.churn.1 as f64, late.churn_share()],
            ],
        )
        .bars("window", &["share"], sim_core::Axis::new("not delivered within the SLA", "share"))
        .labels(&["steady", "after a join or leave"]),
    );
    r
}
