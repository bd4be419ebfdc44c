//! # topk: the top K videos by views over 1 hour, 1 day, 1 month and all time
//!
//! The notes (3-5, "YouTube Top K Videos"): views `[video_id, timestamp]` go into a stream;
//! **counters** keep per-video counts for 1 hour, 1 day, 1 month and all time with **two
//! pointers** over the stream (a head pointer counts a view in, a tail pointer per window
//! counts it out once it is older than the window, and the heap moves the video up or down as
//! its count changes); a **heap of the top K** (K up to 1,000); clients read
//! `GET /views/top?window=W&k=K` through a **cache with a 40 s TTL** (the requirement allows
//! < 1 min between a view and its tabulation); results under 100 ms; counters **snapshot** their
//! counts and heaps and recover from the latest snapshot plus a replay of the stream ("no data
//! lost"); **hot videos** get several shard keys whose sub-counts are merged; a **count-min
//! sketch** is the approximate alternative ("about how many times was X seen").
//!
//! **Nodes.** Servers: the log's coordinator, `brokers` brokers ([`parts::log`]), the counters
//! (as many as the servers leave), the snapshot store (S3 / RocksDB changelog in the notes), and
//! the query service (the last server). Clients run two operations: `view` (a view of video
//! `key` at the client's clock, produced to the log keyed by video id, plus a sub-key
//! `view id mod hot.split` for the `hot.videos` most viewed videos, acknowledged when on `acks`
//! disks) and `query` (the top K of window `key mod windows`, answered by the query service).
//!
//! **Counters** form one consumer group; their state is kept per input partition
//! ([`PartCount`], in a [`parts::snapshot::Keeper`]) so it moves with the partition. Per
//! partition: the events of the longest finite window ordered by event time (the tail
//! pointers' view of the stream: in the notes the tail re-reads Kafka), the largest event time
//! seen, and per window a [`parts::rank::Ranked`] (counts with an ordered index: the heap, with
//! decrements). A view moves the partition's clock to its event time; each window's tail
//! pointer first counts out every event that fell behind `clock - length`, then the view is
//! counted into each window it is inside. Everything is a function of the log's order (no wall
//! clock), so a replay from a snapshot rebuilds the lost owner's state exactly. Every `publish`
//! the counters push each changed partition's **summary** to the query service: the offset the
//! state covers, and per window the partition's top K of ordinary videos plus every hot
//! sub-key's count (a hot video's sub-counts are in several partitions, so they are all sent:
//! the merged top K is then exact).
//!
//! **Sketch mode** (`mode: Sketch`): each window's counts are a [`parts::sketch::CountMin`]
//! (width `ceil(e/epsilon)`, depth `ceil(ln(1/delta))`, counts taken away as the tail pointer
//! passes them) and the ranking keeps only the estimates of the largest candidates.
//!
//! **Snapshots** ([`parts::snapshot`]): every `snapshot.interval` each changed partition's state
//! is saved with the offset it covers; once the store has it the consumer marks the records
//! below done (the commit follows the snapshots). A new owner loads the snapshot, skips what it
//! covers and replays the rest. **Off**, the counters commit as they read and keep counts only
//! in memory: a new owner starts with empty counts from the committed offset.
//!
//! **Query service**: the latest summary of each partition (a summary covering less than the
//! one held is ignored), and a [`parts::cache::Cache`] with the TTL per window: on a miss it
//! merges the summaries (hot sub-keys summed) into the top K and caches it. The answer carries,
//! per partition, the offset its summary covers: that is what the checks judge it by.
//!
//! **Scale** (the scenarios say theirs): the windows are compressed to fit a run of minutes,
//! keeping their order, not their ratios; the TTL and the staleness bound are scaled by one
//! factor given in the scenario.
//!
//! **Simplified.** One store node and one query node, neither crashes; the query service's
//! merge takes no modelled CPU time (its latency is the network's); a window's clock is its
//! partition's latest event time (a partition without views does not age); event time is the
//! client's clock (no skew, no late views).
//!
//! **Checks** (see [`check`]): `acked_in_log`; `topk_exact` (exact mode: every answered top K
//! equals the top K an oracle recomputes, by plain counting, from each partition's log prefix
//! the answer says it covers); `staleness` (no answer misses a view acknowledged more than the
//! bound before the query was sent); `sketch_bound` (sketch mode: no video in an answer is
//! under-counted, and the share over-counted by more than `epsilon x N` is at most `delta`). The
//! query latency is an SLA. **The failure it shows**: `topk_no_snapshot`, a counter crash with
//! snapshots off: the new owners count from the committed offsets with nothing before them, and
//! the top K is wrong from then on (all-time counts lost).

pub mod check;

use parts::balance::{HealthSpec, Policy};
use parts::cache::{Cache, CacheSpec, Capacity};
use parts::calls::{Answer, CallOutcome, CallPolicy, CallTimer, Calls, Done, ReqId, ServiceId};
use parts::log::{self, Broker, Cluster, Consumer, ConsumerEvent, Coordinator, Delivery, LogSpec, Pid, Producer};
use parts::rank::Ranked;
use parts::sketch::{CountMin, SketchSpec};
use parts::snapshot::{self, Admitted, Bucket, Keeper, SnapState, Snapshot, SnapshotSpec};
use serde::{Deserialize, Serialize};
use sim_core::cost::{bytes, count};
use sim_core::{
    Actor, Ctx, Duration, Message, Model, ModelReport, NodeId, Op, OpId, Outcome, Prng, Reply, RunView, Topology,
    WriteId,
};
use std::collections::BTreeMap;
use std::rc::Rc;

/// Hot videos split over sub-keys.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HotSpec {
    /// Videos with an id below this are hot (the workload's Zipf makes video 0 the most viewed).
    pub videos: u64,
    /// Sub-keys per hot video (`view id mod split`).
    pub split: u32,
}

impl Default for HotSpec {
    fn default() -> Self {
        HotSpec { videos: 1, split: 4 }
    }
}

/// How the counters count.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum Mode {
    /// A count per video per window.
    #[default]
    Exact,
    /// A count-min sketch per window and the estimates of the largest candidates.
    Sketch,
}

/// A finite window: its name in the notes and its (scaled) length.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct WindowDef {
    pub name: String,
    pub length: Duration,
}

/// ```ron
/// config: (
///     brokers: 3,
///     log: (topics: [(name: "views", partitions: 8)], replication: 3, acks: 2),
///     windows: [(name: "1h", length: "15s"), (name: "1d", length: "45s"), (name: "1mo", length: "90s")],
///     k: 10,
///     hot: (videos: 2, split: 4),
///     mode: Exact,
///     sketch: (epsilon: 0.01, delta: 0.01, seed: 7),
///     snapshot: (enabled: true, interval: "2s"),
///     publish: "100ms",
///     cache_ttl: "2s",
///     staleness: "3s",
/// )
/// ```
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    pub brokers: u32,
    /// The log; views go to its first topic.
    pub log: LogSpec,
    /// The finite windows, shortest first; all time is always counted too (the last window).
    pub windows: Vec<WindowDef>,
    /// Videos in a top list.
    pub k: usize,
    pub hot: HotSpec,
    pub mode: Mode,
    pub sketch: SketchSpec,
    pub snapshot: SnapshotSpec,
    /// How often counters push changed partitions' summaries to the query service.
    pub publish: Duration,
    /// The query cache's TTL.
    pub cache_ttl: Duration,
    /// The staleness bound the `staleness` check holds answers to.
    pub staleness: Duration,
    /// Counters' calls to the snapshot store.
    pub store_call: CallPolicy,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            brokers: 3,
            log: LogSpec::default(),
            windows: vec![
                WindowDef { name: "1h".into(), length: Duration::from_secs(15) },
                WindowDef { name: "1d".into(), length: Duration::from_secs(45) },
                WindowDef { name: "1mo".into(), length: Duration::from_secs(90) },
            ],
            k: 10,
            hot: HotSpec::default(),
            mode: Mode::Exact,
            sketch: SketchSpec::default(),
            snapshot: SnapshotSpec::default(),
            publish: Duration::from_millis(100),
            cache_ttl: Duration::from_secs(2),
            staleness: Duration::from_secs(3),
            store_call: CallPolicy { timeout: Duration::from_millis(500), retries: 10, ..CallPolicy::default() },
        }
    }
}

impl Config {
    /// Every window's name, all time last.
    pub fn window_names(&self) -> Vec<String> {
        self.windows.iter().map(|w| w.name.clone()).chain(["all".to_string()]).collect()
    }

    /// Window lengths in ms, all time (`None`) last.
    pub fn lengths_ms(&self) -> Vec<Option<u64>> {
        self.windows.iter().map(|w| Some(w.length.0 / 1_000_000)).chain([None]).collect()
    }

    /// Whether a record key belongs to a hot video.
    pub fn is_hot(&self, key: u64) -> bool {
        video_of(key) < self.hot.videos
    }
}

/// A view's record key: the video id, and its sub-key in the high half.
pub fn record_key(video: u64, sub: u64) -> u64 {
    video | sub << 32
}

/// The video id of a record key.
pub fn video_of(key: u64) -> u64 {
    key & 0xffff_ffff
}

/// A view's record value: its id and its event time in ms.
pub fn record_value(view: u64, event_ms: u64) -> u64 {
    view << 32 | (event_ms & 0xffff_ffff)
}

/// The event time in ms of a record value.
pub fn event_ms(v: u64) -> u64 {
    v & 0xffff_ffff
}

/// One window's counts in a partition.
#[derive(Clone, Debug)]
pub struct WinCount {
    /// `None`: all time.
    pub len_ms: Option<u64>,
    /// Exact: every record key's count. Sketch: the estimates of the largest candidates.
    pub ranked: Ranked,
    pub sketch: Option<CountMin>,
    /// Views in the window (the sketch's `N`).
    pub n: u64,
    /// The tail pointer: the earliest event time still inside (earlier ones are counted out).
    from_ms: u64,
}

impl WinCount {
    fn add(&mut self, key: u64, delta: i64) {
        self.n = (self.n as i64 + delta) as u64;
        match &mut self.sketch {
            Some(s) => {
                let est = s.add(key, delta);
                if delta > 0 || self.ranked.get(key) > 0 {
                    self.ranked.set(key, est);
                }
            }
            None => {
                self.ranked.add(key, delta);
            }
        }
    }

    /// A record key's count (exact) or estimate (sketch).
    pub fn count(&self, key: u64) -> u64 {
        match &self.sketch {
            Some(s) => s.estimate(key),
            None => self.ranked.get(key),
        }
    }

    fn bytes(&self) -> u64 {
        32 + self.ranked.bytes() + self.sketch.as_ref().map_or(0, |s| s.bytes())
    }
}

/// A partition's counting state: what a snapshot holds.
#[derive(Clone, Debug)]
pub struct PartCount {
    /// `(event ms, offset) -> record key` of the views inside the longest finite window.
    events: BTreeMap<(u64, u64), u64>,
    /// The partition's clock: the largest event time read.
    pub clock_ms: u64,
    /// The finite windows, then all time.
    pub wins: Vec<WinCount>,
}

impl PartCount {
    pub fn new(c: &Config) -> PartCount {
        let cap = c.k + (c.hot.videos * c.hot.split as u64) as usize;
        let wins = c
            .lengths_ms()
            .into_iter()
            .map(|len_ms| WinCount {
                len_ms,
                ranked: if c.mode == Mode::Sketch { Ranked::capped(cap) } else { Ranked::new() },
                sketch: (c.mode == Mode::Sketch).then(|| CountMin::new(&c.sketch)),
                n: 0,
                from_ms: 0,
            })
            .collect();
        PartCount { events: BTreeMap::new(), clock_ms: 0, wins }
    }

    /// The view at `offset`: the clock moves, each tail pointer counts out what fell behind its
    /// window, then the view is counted into every window it is inside.
    pub fn add(&mut self, offset: u64, key: u64, t_ms: u64) {
        self.clock_ms = self.clock_ms.max(t_ms);
        let clock = self.clock_ms;
        let mut longest: Option<u64> = None;
        for w in &mut self.wins {
            let Some(len) = w.len_ms else { continue };
            let from = (clock + 1).saturating_sub(len);
            if from > w.from_ms {
                let out: Vec<u64> = self.events.range((w.from_ms, 0)..(from, 0)).map(|(_, &k)| k).collect();
                for k in out {
                    w.add(k, -1);
                }
                w.from_ms = from;
            }
            longest = Some(longest.map_or(from, |l: u64| l.min(from)));
        }
        // Out of every finite window: no longer needed.
        if let Some(l) = longest {
            while let Some(e) = self.events.first_entry() {
                if e.key().0 >= l {
                    break;
                }
                e.remove();
            }
        }
        let mut inside_any = false;
        for w in &mut self.wins {
            match w.len_ms {
                Some(len) if t_ms + len <= clock => {}
                Some(_) => {
                    inside_any = true;
                    w.add(key, 1);
                }
                None => w.add(key, 1),
            }
        }
        if inside_any {
            self.events.insert((t_ms, offset), key);
        }
    }

    /// Per window: the top `k` ordinary (not hot) record keys and every hot one's count.
    pub fn summary(&self, c: &Config) -> Vec<WinSummary> {
        self.wins
            .iter()
            .map(|w| {
                let mut top: Vec<(u64, u64)> =
                    w.ranked.top(usize::MAX).filter(|&(k, _)| !c.is_hot(k)).take(c.k).collect();
                for v in 0..c.hot.videos {
                    for s in 0..c.hot.split as u64 {
                        let key = record_key(v, s);
                        let n = w.count(key);
                        if n > 0 {
                            top.push((key, n));
                        }
                    }
                }
                WinSummary { n: w.n, top }
            })
            .collect()
    }

    /// Bytes of each window's counts (exact: 32 per counted key; sketch: the table and the
    /// candidates).
    pub fn window_bytes(&self) -> Vec<u64> {
        self.wins.iter().map(|w| w.bytes()).collect()
    }

    /// Views kept for the tail pointers.
    pub fn events(&self) -> usize {
        self.events.len()
    }
}

impl SnapState for PartCount {
    fn bytes(&self) -> u64 {
        64 + 24 * self.events.len() as u64 + self.window_bytes().iter().sum::<u64>()
    }
}

/// One window of a partition's summary.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WinSummary {
    /// Views in the window.
    pub n: u64,
    /// `(record key, count)`: the partition's top K ordinary keys, then every hot sub-key.
    pub top: Vec<(u64, u64)>,
}

/// What a counter pushes to the query service for one partition.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Summary {
    pub p: Pid,
    /// The state holds every record below this offset.
    pub covers: u64,
    pub wins: Vec<WinSummary>,
}

impl Summary {
    fn bytes(&self) -> u64 {
        32 + self.wins.iter().map(|w| 8 + 16 * w.top.len() as u64).sum::<u64>()
    }
}

/// The design's own messages.
#[derive(Clone, Debug)]
pub enum AppMsg {
    Publish(Rc<Summary>),
    Query { op: OpId, window: usize },
    Answer { op: OpId, values: Rc<Vec<u64>> },
    Snap(snapshot::Msg<PartCount>),
}

impl Message for AppMsg {
    fn kind(&self) -> &'static str {
        match self {
            AppMsg::Publish(_) => "publish",
            AppMsg::Query { .. } => "query",
            AppMsg::Answer { .. } => "answer",
            AppMsg::Snap(m) => m.kind(),
        }
    }
    fn size_bytes(&self) -> u64 {
        match self {
            AppMsg::Publish(s) => 64 + s.bytes(),
            AppMsg::Query { .. } => 64,
            AppMsg::Answer { values, .. } => 64 + 8 * values.len() as u64,
            AppMsg::Snap(m) => m.size_bytes(),
        }
    }
}

parts::wire! {
    /// Everything a node of this design sends.
    pub enum Msg { Log(log::Msg), App(AppMsg) }
}

/// The counters' snapshot tick.
#[derive(Clone, Copy, Debug)]
pub struct SnapTick;

/// The counters' publish tick.
#[derive(Clone, Copy, Debug)]
pub struct PublishTick;

parts::wire! {
    timers pub enum Timer { Log(log::Timer), Call(CallTimer), Snap(SnapTick), Publish(PublishTick) }
}

/// What nodes of this design write to disk.
#[derive(Clone, Debug)]
pub enum Rec {
    Log(log::Disk),
    Snap(Rc<Snapshot<PartCount>>),
}

impl From<log::Disk> for Rec {
    fn from(d: log::Disk) -> Rec {
        Rec::Log(d)
    }
}

fn log_rec(r: &Rec) -> Option<&log::Disk> {
    match r {
        Rec::Log(d) => Some(d),
        _ => None,
    }
}

/// A client: produces views, asks the query service for top lists.
pub struct Client {
    producer: Producer<OpId>,
    cfg: Rc<Config>,
    query: NodeId,
}

impl Client {
    fn on_op(&mut self, ctx: &mut Ctx<'_, Node>, op: Op) {
        if op.kind == 1 {
            let window = (op.key % self.cfg.window_names().len() as u64) as usize;
            ctx.send(self.query, Msg::from(AppMsg::Query { op: op.id, window }));
            return;
        }
        let now_ms = ctx.now().0 / 1_000_000;
        let sub = if op.key < self.cfg.hot.videos { op.value % self.cfg.hot.split.max(1) as u64 } else { 0 };
        self.producer.produce(ctx, 0, record_key(op.key, sub), record_value(op.value, now_ms), op.id);
    }

    /// A produce is over: the view completes with where the log has it.
    fn produced(ctx: &mut Ctx<'_, Node>, done: log::Produced<OpId>) {
        match done.result {
            Ok((p, offset)) => ctx.complete(done.token, Outcome::Ok, Reply::list([p as u64, offset])),
            Err(_) => ctx.complete(done.token, Outcome::Fail, Reply::None),
        }
    }
}

/// What a counter's call to the store is for.
#[derive(Clone, Copy, Debug)]
pub enum Job {
    Save { p: Pid, epoch: u64, covers: u64 },
    Load { p: Pid, epoch: u64 },
}

/// A counter: a consumer-group member with a counting state per owned partition.
pub struct Counter {
    consumer: Consumer,
    pub keeper: Keeper<PartCount, Delivery>,
    calls: Calls<AppMsg, Job>,
    store: ServiceId,
    query: NodeId,
    cfg: Rc<Config>,
    /// The offset each partition's last summary covered.
    published: BTreeMap<Pid, u64>,
    pub applied: u64,
}

impl Counter {
    fn on_start(&mut self, ctx: &mut Ctx<'_, Node>) {
        self.consumer.join(ctx);
        if self.cfg.snapshot.enabled {
            ctx.set_timer(self.cfg.snapshot.interval, Timer::Snap(SnapTick));
        }
        ctx.set_timer(self.cfg.publish, Timer::Publish(PublishTick));
    }

    fn pump(&mut self, ctx: &mut Ctx<'_, Node>) {
        while let Some(d) = self.consumer.poll(ctx) {
            self.take(ctx, d);
        }
    }

    fn assign(&mut self, ctx: &mut Ctx<'_, Node>, p: Pid) {
        let cfg = self.cfg.clone();
        self.published.remove(&p);
        if let Some(epoch) = self.keeper.assign(p as u64, || PartCount::new(&cfg)) {
            self.load(ctx, p, epoch);
        }
    }

    /// Asks the store for partition `p`'s snapshot, for the keeper's load `epoch`.
    fn load(&mut self, ctx: &mut Ctx<'_, Node>, p: Pid, epoch: u64) {
        self.call(ctx, Job::Load { p, epoch }, |req| AppMsg::Snap(snapshot::Msg::Load { req, key: p as u64 }));
    }

    fn take(&mut self, ctx: &mut Ctx<'_, Node>, d: Delivery) {
        if !self.keeper.has(d.p as u64) {
            self.assign(ctx, d.p);
        }
        if let Admitted::Apply(d) = self.keeper.admit(d.p as u64, d.offset, d) {
            let st = self.keeper.state_mut(d.p as u64).expect("applied to a loaded state");
            st.add(d.offset, d.rec.key, event_ms(d.rec.value));
            self.applied += 1;
            if !self.keeper.spec().enabled {
                // No snapshots: the offset is committed as soon as the record is read.
                self.consumer.done(&d);
            }
        }
    }

    fn call(&mut self, ctx: &mut Ctx<'_, Node>, job: Job, make: impl FnOnce(ReqId) -> AppMsg) {
        if let Err(done) = self.calls.call(ctx, self.store, 0, make, job) {
            unreachable!("one store, no breaker, no ejection: a call always starts ({:?})", done.outcome);
        }
    }

    fn on_snap_tick(&mut self, ctx: &mut Ctx<'_, Node>) {
        ctx.set_timer(self.cfg.snapshot.interval, Timer::Snap(SnapTick));
        for (epoch, snap) in self.keeper.due() {
            let (p, covers) = (snap.key as Pid, snap.covers);
            let snap = Rc::new(snap);
            self.call(ctx, Job::Save { p, epoch, covers }, |req| AppMsg::Snap(snapshot::Msg::Save { req, snap }));
        }
    }

    /// Pushes the summary of every loaded partition that moved since its last one.
    fn on_publish_tick(&mut self, ctx: &mut Ctx<'_, Node>) {
        ctx.set_timer(self.cfg.publish, Timer::Publish(PublishTick));
        let keys: Vec<u64> = self.keeper.keys().collect();
        for key in keys {
            let p = key as Pid;
            let Some(covers) = self.keeper.next(key) else { continue };
            if self.published.get(&p) == Some(&covers) {
                continue;
            }
            let st = self.keeper.state(key).expect("loaded");
            let s = Rc::new(Summary { p, covers, wins: st.summary(&self.cfg) });
            self.published.insert(p, covers);
            ctx.count_in("counter", "summaries", 1);
            ctx.send(self.query, Msg::from(AppMsg::Publish(s)));
        }
    }

    fn on_done(&mut self, ctx: &mut Ctx<'_, Node>, done: Done<Job>, loaded: Option<Option<Rc<Snapshot<PartCount>>>>) {
        let ok = done.outcome == CallOutcome::Ok;
        match done.data {
            Job::Save { p, epoch, covers } => {
                if !ok {
                    self.keeper.save_failed(p as u64, epoch);
                } else if let Some(below) = self.keeper.saved(p as u64, epoch, covers) {
                    self.consumer.done_below(p, below);
                }
            }
            Job::Load { p, epoch } => {
                let Some(snap) = loaded.filter(|_| ok) else {
                    // Load again, keeping the records read meanwhile (unless this load is no
                    // longer the partition's).
                    if let Some(epoch) = self.keeper.reload(p as u64, epoch) {
                        self.load(ctx, p, epoch);
                    }
                    return;
                };
                let cfg = self.cfg.clone();
                let Some((covers, buffered)) =
                    self.keeper.loaded(p as u64, epoch, snap.as_deref(), || PartCount::new(&cfg))
                else {
                    return;
                };
                self.consumer.done_below(p, covers);
                for (_, d) in buffered {
                    self.take(ctx, d);
                }
            }
        }
    }

    fn on_msg(&mut self, ctx: &mut Ctx<'_, Node>, msg: Msg) {
        match msg {
            Msg::Log(m) => match self.consumer.on_msg(ctx, &m) {
                Some(ConsumerEvent::Rebalanced { owned, revoked, .. }) => {
                    for p in revoked {
                        self.keeper.revoke(p as u64);
                        self.published.remove(&p);
                    }
                    for p in owned {
                        if !self.keeper.has(p as u64) {
                            self.assign(ctx, p);
                        }
                    }
                    self.pump(ctx);
                }
                Some(ConsumerEvent::Records) => self.pump(ctx),
                None => {}
            },
            Msg::App(AppMsg::Snap(snapshot::Msg::Saved { req })) => {
                if let Some(done) = self.calls.reply(ctx, req, Answer::Ok) {
                    self.on_done(ctx, done, None);
                }
            }
            Msg::App(AppMsg::Snap(snapshot::Msg::Loaded { req, snap })) => {
                if let Some(done) = self.calls.reply(ctx, req, Answer::Ok) {
                    self.on_done(ctx, done, Some(snap));
                }
            }
            Msg::App(_) => {}
        }
    }

    fn on_timer(&mut self, ctx: &mut Ctx<'_, Node>, t: Timer) {
        match t {
            Timer::Log(t) => {
                self.consumer.on_timer(ctx, t);
                self.pump(ctx);
            }
            Timer::Call(t) => {
                if let Some(done) = self.calls.on_timer(ctx, t) {
                    self.on_done(ctx, done, None);
                }
            }
            Timer::Snap(_) => self.on_snap_tick(ctx),
            Timer::Publish(_) => self.on_publish_tick(ctx),
        }
    }
}

/// The snapshot store.
pub struct Store {
    pub bucket: Bucket<PartCount>,
    pending: BTreeMap<WriteId, (NodeId, ReqId, Rc<Snapshot<PartCount>>)>,
}

impl Store {
    fn on_start(&mut self, ctx: &mut Ctx<'_, Node>) {
        let recs: Vec<Rec> = ctx.durable().to_vec();
        for r in recs {
            if let Rec::Snap(s) = r {
                self.bucket.put(s);
            }
        }
    }

    fn on_msg(&mut self, ctx: &mut Ctx<'_, Node>, from: NodeId, msg: Msg) {
        match msg {
            Msg::App(AppMsg::Snap(snapshot::Msg::Save { req, snap })) => {
                let w = ctx.persist(Rec::Snap(snap.clone()));
                self.pending.insert(w, (from, req, snap));
            }
            Msg::App(AppMsg::Snap(snapshot::Msg::Load { req, key })) => {
                let snap = self.bucket.get(key);
                ctx.send(from, Msg::from(AppMsg::Snap(snapshot::Msg::Loaded { req, snap })));
            }
            _ => {}
        }
    }

    fn on_persisted(&mut self, ctx: &mut Ctx<'_, Node>, w: WriteId) {
        let Some((to, req, snap)) = self.pending.remove(&w) else { return };
        self.bucket.put(snap);
        ctx.send(to, Msg::from(AppMsg::Snap(snapshot::Msg::Saved { req })));
    }
}

/// The query service: the partitions' latest summaries and the cache of merged top lists.
pub struct Query {
    pub summaries: BTreeMap<Pid, Rc<Summary>>,
    pub cache: Cache<Rc<Vec<u64>>>,
    cfg: Rc<Config>,
    partitions: u32,
    /// Summaries ignored because they covered less than the one held.
    pub older: u64,
    pub merges: u64,
}

impl Query {
    fn on_msg(&mut self, ctx: &mut Ctx<'_, Node>, from: NodeId, msg: Msg) {
        match msg {
            Msg::App(AppMsg::Publish(s)) => {
                if self.summaries.get(&s.p).is_some_and(|old| old.covers > s.covers) {
                    self.older += 1;
                    return;
                }
                self.summaries.insert(s.p, s);
            }
            Msg::App(AppMsg::Query { op, window }) => {
                // The cache is in-process: its TTL is elapsed time, on the monotonic clock.
                let now = ctx.monotonic();
                let values = match self.cache.get(now, window as u64).and_then(|f| f.value.cloned()) {
                    Some(v) => v,
                    None => {
                        let v = Rc::new(self.merge(window));
                        self.cache.put(now, window as u64, v.clone(), 8 * v.len() as u64);
                        v
                    }
                };
                ctx.send(from, Msg::from(AppMsg::Answer { op, values }));
            }
            _ => {}
        }
    }

    /// The top K of `window` over every partition's summary: `[window, covers per partition,
    /// (video, views) ...]`.
    pub fn merge(&mut self, window: usize) -> Vec<u64> {
        self.merges += 1;
        let mut out = vec![window as u64];
        let mut counts: BTreeMap<u64, u64> = BTreeMap::new();
        for p in 0..self.partitions {
            let s = self.summaries.get(&p);
            out.push(s.map_or(0, |s| s.covers));
            if let Some(w) = s.and_then(|s| s.wins.get(window)) {
                for &(key, n) in &w.top {
                    *counts.entry(video_of(key)).or_default() += n;
                }
            }
        }
        for (v, n) in parts::rank::top_of(&counts, self.cfg.k) {
            out.extend([v, n]);
        }
        out
    }
}

pub enum Node {
    Coordinator(Box<Coordinator>),
    Broker(Box<Broker>),
    Counter(Box<Counter>),
    Store(Box<Store>),
    Query(Box<Query>),
    Client(Box<Client>),
}

impl Actor for Node {
    type Msg = Msg;
    type Timer = Timer;
    type Record = Rec;

    fn on_start(&mut self, ctx: &mut Ctx<'_, Self>) {
        match self {
            Node::Coordinator(c) => c.start(ctx, log_rec),
            Node::Broker(b) => b.start(ctx, log_rec),
            Node::Counter(a) => a.on_start(ctx),
            Node::Store(s) => s.on_start(ctx),
            Node::Query(_) => {}
            Node::Client(c) => c.producer.start(ctx),
        }
    }

    fn on_msg(&mut self, ctx: &mut Ctx<'_, Self>, from: NodeId, msg: Msg) {
        match self {
            Node::Coordinator(c) => {
                if let Msg::Log(m) = msg {
                    c.on_msg(ctx, from, &m);
                }
            }
            Node::Broker(b) => {
                if let Msg::Log(m) = msg {
                    b.on_msg(ctx, from, &m);
                }
            }
            Node::Counter(a) => a.on_msg(ctx, msg),
            Node::Store(s) => s.on_msg(ctx, from, msg),
            Node::Query(q) => q.on_msg(ctx, from, msg),
            Node::Client(c) => match msg {
                Msg::Log(m) => {
                    if let Some(done) = c.producer.on_msg(ctx, &m) {
                        Client::produced(ctx, done);
                    }
                }
                Msg::App(AppMsg::Answer { op, values }) => {
                    ctx.complete(op, Outcome::Ok, Reply::list(values.iter().copied()));
                }
                Msg::App(_) => {}
            },
        }
    }

    fn on_timer(&mut self, ctx: &mut Ctx<'_, Self>, t: Timer) {
        match (self, t) {
            (Node::Coordinator(c), Timer::Log(t)) => c.on_timer(ctx, t),
            (Node::Broker(b), Timer::Log(t)) => b.on_timer(ctx, t),
            (Node::Counter(a), t) => a.on_timer(ctx, t),
            (Node::Client(c), Timer::Log(t)) => {
                if let Some(done) = c.producer.on_timer(ctx, t) {
                    Client::produced(ctx, done);
                }
            }
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
            Node::Coordinator(c) => {
                c.on_persisted(ctx, w);
            }
            Node::Broker(b) => {
                b.on_persisted(ctx, w);
            }
            Node::Store(s) => s.on_persisted(ctx, w),
            _ => {}
        }
    }
}

/// Where each role lives.
#[derive(Clone, Debug)]
pub struct Layout {
    pub coordinator: NodeId,
    pub brokers: Vec<NodeId>,
    pub counters: Vec<NodeId>,
    pub store: NodeId,
    pub query: NodeId,
}

impl Layout {
    pub fn new(c: &Config, topo: &Topology) -> Layout {
        let s = &topo.servers;
        let b = c.brokers as usize;
        Layout {
            coordinator: s[0],
            brokers: s[1..=b].to_vec(),
            counters: s[b + 1..s.len() - 2].to_vec(),
            store: s[s.len() - 2],
            query: s[s.len() - 1],
        }
    }
}

pub struct TopK;

/// The checks the design reports (see [`check`]).
pub const CHECKS: &[&str] = &["acked_in_log", "topk_exact", "staleness", "sketch_bound"];

impl Model for TopK {
    const NAME: &'static str = "topk";
    const ABOUT: &'static str = "views -> log by video id -> counters (1h/1d/1mo/all-time windows by two pointers, ranked heaps, snapshots + replay, hot-video sub-keys; or count-min sketches) -> query service with a TTL cache";
    const OP_KINDS: &'static [&'static str] = &["view", "query"];
    const TRANSPORT: sim_core::net::Transport = sim_core::net::Transport::Connection;
    const KEEP_CRASHED_ACTORS: bool = true;
    const CHECKS: &'static [&'static str] = CHECKS;
    type Config = Config;
    type Actor = Node;

    fn validate(c: &Config, topo: &Topology) -> Vec<(String, String)> {
        let mut e = Vec::new();
        let servers = topo.servers.len() as u32;
        if c.brokers == 0 {
            e.push(("config.brokers".into(), "needs at least one broker".into()));
        }
        if servers < c.brokers + 4 {
            e.push((
                "topology.servers".into(),
                format!(
                    "needs brokers + 4 servers (the coordinator, the brokers, at least one counter, the store, the query service) = {}, got {servers}",
                    c.brokers + 4
                ),
            ));
        }
        if topo.clients.is_empty() {
            e.push(("topology.clients".into(), "needs at least one client".into()));
        }
        e.extend(c.log.validate("config.log", c.brokers.max(1)));
        e.extend(c.snapshot.validate("config.snapshot"));
        e.extend(c.store_call.validate("config.store_call"));
        e.extend(c.sketch.validate("config.sketch"));
        if c.store_call.breaker.is_some() {
            e.push(("config.store_call.breaker".into(), "a counter retries until the store has it: no breaker".into()));
        }
        for (i, w) in c.windows.iter().enumerate() {
            if w.length < Duration::from_millis(1) {
                e.push((format!("config.windows[{i}].length"), "must be at least 1ms".into()));
            }
            if i > 0 && w.length <= c.windows[i - 1].length {
                e.push((format!("config.windows[{i}].length"), "windows must be listed shortest first".into()));
            }
        }
        if c.k == 0 || c.k > 1000 {
            e.push(("config.k".into(), format!("must be within [1, 1,000] (the notes' maximum), got {}", c.k)));
        }
        if c.hot.split == 0 || c.hot.split > 1024 {
            e.push(("config.hot.split".into(), format!("must be within [1, 1024], got {}", c.hot.split)));
        }
        if c.hot.videos > 1000 {
            e.push(("config.hot.videos".into(), format!("at most 1,000, got {}", c.hot.videos)));
        }
        for (name, d) in [("publish", c.publish), ("cache_ttl", c.cache_ttl), ("staleness", c.staleness)] {
            if d == Duration::ZERO {
                e.push((format!("config.{name}"), "must be positive".into()));
            }
        }
        e
    }

    fn validate_schedule(_c: &Config, run_end: Duration) -> Vec<(String, String)> {
        // Event times travel as 32-bit milliseconds.
        if run_end.0 / 1_000_000 > u32::MAX as u64 {
            vec![("duration".into(), "at most 49 days (event times are 32-bit milliseconds)".into())]
        } else {
            Vec::new()
        }
    }

    /// Per view: its log entry on every replica (~120 B a copy) and ~10 events beyond the
    /// kernel's two (produce, replication, acks, disk writes, fetch); per query one. Measured on
    /// `topk_perf` cut to 20 s without its crash: 11.6 events a view and 3.0 a query in all, less
    /// the same run's at 1 op/s; adclick's 13 an operation, taken before, was 1.3 times the
    /// events of `topk_perf`. Beside them the log's fetches and the publishes: 133 + 24 a
    /// partition a second at a 20 ms fetch wait, fitted to `topk.ron` and `topk_perf` at 0.1
    /// op/s (325 and 518 a second, 8 and 16 partitions), taken to scale inversely with the
    /// fetch wait (not measured). Per query: its
    /// answer (the window, an offset per partition and K `(video, views)` pairs, 8 B each), in
    /// the history and in the checkers' copy. The snapshots: the store keeps every version saved,
    /// each a partition's events of the longest window and its counts, 68 B per view in the
    /// window (measured: `topk_perf` saving every 2 s used 222 MB more than saving every 4 s,
    /// 760 snapshots of ~4,300 views each).
    fn footprint(c: &Config, _topo: &Topology, load: &sim_core::cost::Load) -> sim_core::cost::Footprint {
        let (views, queries) = (load.of("view", Self::OP_KINDS), load.of("query", Self::OP_KINDS));
        let log = views * c.log.replication as f64 * 120.0;
        let partitions = c.log.topics.iter().map(|t| t.partitions).sum::<u32>().max(1) as f64;
        let rate_p = views / load.run_s.max(1e-9) / partitions;
        let longest = c.windows.last().map_or(0.0, |w| w.length.0 as f64 / 1e9);
        let snap = rate_p * longest.min(load.run_s) * 68.0;
        let saves = if c.snapshot.enabled {
            partitions * load.run_s / (c.snapshot.interval.0 as f64 / 1e9).max(1e-9)
        } else {
            0.0
        };
        let answer = 8.0 * (1.0 + partitions + 2.0 * c.k as f64);
        let background_per_s = (133.0 + 24.0 * partitions) * 0.02 / c.log.fetch_wait.as_secs_f64().max(1e-3);
        let events = views * 10.0 + queries + background_per_s * load.run_s;
        sim_core::cost::Footprint { events, queued: load.in_flight * 4.0, ..Default::default() }
            .part(format!("log: {views} views x {} replicas x 120 B", c.log.replication, views = count(views)), log)
            .part(
                format!(
                    "answers: {} queries x {} x 2 (the history's and the checkers')",
                    count(queries),
                    bytes(answer)
                ),
                queries * answer * 2.0,
            )
            .part(format!("snapshots kept: {} x {}", count(saves), bytes(snap)), saves * snap)
    }

    fn factory(c: &Config, topo: &Topology, _setup: &mut Prng) -> Box<dyn FnMut(NodeId) -> Node> {
        let l = Layout::new(c, topo);
        let cluster = Rc::new(Cluster::new(c.log.clone(), l.coordinator, l.brokers.clone()));
        let cfg = Rc::new(c.clone());
        let partitions = cluster.partitions();
        Box::new(move |n| {
            if n == l.coordinator {
                Node::Coordinator(Box::new(Coordinator::new(cluster.clone(), "log")))
            } else if l.brokers.contains(&n) {
                Node::Broker(Box::new(Broker::new(cluster.clone(), "log", n)))
            } else if l.counters.contains(&n) {
                let mut calls = Calls::new();
                let health = HealthSpec { fail_open: true, ..HealthSpec::default() };
                let store = calls.add("store_calls", &[l.store], cfg.store_call.clone(), Policy::RoundRobin, health);
                Node::Counter(Box::new(Counter {
                    consumer: Consumer::new(cluster.clone(), "log", 0, 0),
                    keeper: Keeper::new(cfg.snapshot.clone()),
                    calls,
                    store,
                    query: l.query,
                    cfg: cfg.clone(),
                    published: BTreeMap::new(),
                    applied: 0,
                }))
            } else if n == l.store {
                Node::Store(Box::new(Store { bucket: Bucket::default(), pending: BTreeMap::new() }))
            } else if n == l.query {
                let spec =
                    CacheSpec { capacity: Capacity::Entries(1024), ttl: Some(cfg.cache_ttl), ..CacheSpec::default() };
                Node::Query(Box::new(Query {
                    summaries: BTreeMap::new(),
                    cache: Cache::new(spec),
                    cfg: cfg.clone(),
                    partitions,
                    older: 0,
                    merges: 0,
                }))
            } else {
                Node::Client(Box::new(Client {
                    producer: Producer::new(cluster.clone(), "log"),
                    cfg: cfg.clone(),
                    query: l.query,
                }))
            }
        })
    }

    fn report(c: &Config, run: &RunView<'_, Node>) -> ModelReport {
        check::report(c, run)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(mode: Mode) -> Config {
        Config {
            windows: vec![
                WindowDef { name: "a".into(), length: Duration::from_secs(10) },
                WindowDef { name: "b".into(), length: Duration::from_secs(30) },
            ],
            k: 2,
            hot: HotSpec { videos: 1, split: 2 },
            mode,
            ..Config::default()
        }
    }

    #[test]
    fn tail_pointers_count_views_out_of_each_window_and_the_ranking_follows() {
        let c = cfg(Mode::Exact);
        let mut s = PartCount::new(&c);
        // Video 5 at 1 s and 2 s, video 6 at 12 s, video 7 at 25 s (the clock).
        s.add(0, record_key(5, 0), 1_000);
        s.add(1, record_key(5, 0), 2_000);
        s.add(2, record_key(6, 0), 12_000);
        assert_eq!(s.wins[0].count(5), 0, "10 s window at 12 s: the views at 1 and 2 s are out");
        assert_eq!(s.wins[1].count(5), 2);
        s.add(3, record_key(7, 0), 25_000);
        assert_eq!((s.wins[0].n, s.wins[1].n, s.wins[2].n), (1, 4, 4));
        // A view older than the short window, read late: counted only where it is inside.
        s.add(4, record_key(8, 0), 14_000);
        assert_eq!((s.wins[0].count(8), s.wins[1].count(8), s.wins[2].count(8)), (0, 1, 1));
        s.add(5, record_key(9, 0), 41_000);
        assert_eq!(s.wins[1].count(5), 0, "30 s window at 41 s: 1-2 s out");
        assert_eq!(s.wins[1].count(8), 1, "14 s still inside");
        assert_eq!(s.wins[2].count(5), 2, "all time keeps everything");
        assert_eq!(s.events(), 4, "views out of every finite window (before 11 s) are dropped");
        let sum = s.summary(&c);
        assert_eq!(sum[2].top, vec![(5, 2), (6, 1)], "top 2 ordinary keys; no hot key seen");
        assert_eq!(sum[2].n, 6);
    }

    #[test]
    fn every_hot_sub_key_is_in_the_summary_and_the_query_merges_them() {
        let c = Rc::new(cfg(Mode::Exact));
        let mut a = PartCount::new(&c);
        let mut b = PartCount::new(&c);
        // Hot video 0 split: 2 views in partition a, 2 in b; video 3 has 3 views in a.
        a.add(0, record_key(0, 0), 1_000);
        a.add(1, record_key(0, 0), 1_000);
        for i in 2..5 {
            a.add(i, record_key(3, 0), 1_000);
        }
        b.add(0, record_key(0, 1), 1_000);
        b.add(1, record_key(0, 1), 1_000);
        b.add(2, record_key(4, 0), 1_000);
        let mut q = Query {
            summaries: BTreeMap::new(),
            cache: Cache::new(CacheSpec::default()),
            cfg: c.clone(),
            partitions: 2,
            older: 0,
            merges: 0,
        };
        q.summaries.insert(0, Rc::new(Summary { p: 0, covers: 5, wins: a.summary(&c) }));
        q.summaries.insert(1, Rc::new(Summary { p: 1, covers: 3, wins: b.summary(&c) }));
        assert_eq!(q.merge(2), vec![2, 5, 3, 0, 4, 3, 3], "hot video 0: 2 + 2 sub-counts = 4 > 3");
    }

    #[test]
    fn the_sketch_mode_never_undercounts_and_takes_counts_away() {
        let c = cfg(Mode::Sketch);
        let mut s = PartCount::new(&c);
        for i in 0..200u64 {
            s.add(i, record_key(10 + i % 20, 0), i * 100);
        }
        // Clock 19.9 s: the 10 s window holds 9.9-19.9 s.
        let w = &s.wins[0];
        assert_eq!(w.n, 100);
        for v in 10..30u64 {
            assert!(w.count(v) >= 5, "video {v}: {} below its count", w.count(v));
        }
        assert_eq!(s.wins[2].n, 200);
    }
}
