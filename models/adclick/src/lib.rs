//! # adclick: ad click event aggregation (exact counts through crashes, duplicates, late events)
//!
//! The notes (2-6, "Ad Click Event Aggregation"): clicks `(ad_id, timestamp, user, location)` go
//! into Kafka partitioned by `ad_id`; an aggregation service (Flink, not map-reduce) counts
//! clicks per ad in a **1-minute fixed window** and an **M-minute sliding window**, returns the
//! **top 100 ads every minute**, waits for delayed events ("read from Kafka for 5 more
//! seconds"), **deduplicates** events, recovers from an outage by a **snapshot** and replay from
//! the offsets it covers, and splits **hot ad ids** by adding a sub-key (`[0-N] + ad_id`) before
//! Kafka. Results go to a database (sharded by ad id in the notes; one node here).
//!
//! **Nodes.** Servers: the log's coordinator, `brokers` brokers ([`parts::log`]), the aggregation
//! nodes (as many as the servers leave), and the store (the last server: the results database
//! and the snapshot bucket, "S3"). Clients are the click trackers: a `click` operation is one
//! click on ad `key`; its event time is the tracker's clock minus a delay drawn from `delay` (a
//! mixture with a tail beyond the allowed lateness: clicks that reach the tracker late); it is
//! produced to the log keyed by ad id (plus a sub-key `click id mod split` for the `hot.ads` most
//! popular ads, so one hot ad spreads over several partitions and aggregators) and acknowledged
//! when the log has it on `acks` disks. A share `duplicate_share` of clicks is produced a
//! second time after `duplicate_delay` (a tracker's retry after a lost acknowledgement):
//! at-least-once delivery upstream; the log's own producer retries add more duplicates.
//!
//! **Aggregation nodes** form one consumer group. Their state is kept **per input partition**
//! (Flink's key groups), so a partition's state moves with the partition: per partition a
//! [`parts::window::Tumbling`] window of counts per key (ad and sub-key), with the partition's
//! watermark (max event time seen minus `window.lateness`) and dedup of click ids in each open
//! window, and a [`parts::window::Sliding`] window of `sliding_panes` minutes over the closed
//! minutes. Every closed minute is written to the store (an [`Emit`]: the minute's counts, the
//! sliding window's counts, the late and duplicate events dropped since the previous minute)
//! through [`parts::calls`], and kept in the state's outbox until the store has it. The
//! watermark is per partition and a function of the log's order only, so the windows a
//! partition closes, and what is in them, do not depend on timing.
//!
//! **Snapshots** ([`parts::snapshot`]): every `snapshot.interval` each partition's state is saved
//! with the offset it covers; once the store has it, the offsets below are marked done and the
//! consumer commits them (the commit follows the snapshots, never the reading). A partition's new
//! owner (after a crash, a restart or a rebalance) loads the snapshot, resends its outbox, skips
//! the records between the group's committed offset and the snapshot's, and replays the rest:
//! it emits again, identically, what the lost owner emitted since the snapshot. The store keeps
//! one result per (minute, partition), replaced by a repeated write (an idempotent upsert), and
//! merges a minute once every partition has written it: counts per ad (sub-keys summed), the
//! sliding counts, and the top 100 (by count, then ad id).
//!
//! **Simplified.** One store node for the database and the bucket (no sharding, no crash of it);
//! the watermark never advances without events (the last minutes of a run stay open and are not
//! judged); no reconciliation batch job (the checks play that role); filtering by attributes is
//! not modelled; the tracker's clock is the event clock (no skew in the scenarios).
//!
//! **Checks** (against an oracle computed independently from the final logs of the partitions,
//! which the history's acknowledgements are checked against first, see [`check`]):
//! `acked_in_log`, `counts_exact` (every ad's count in every minute and every sliding window the
//! store finalised equals the oracle's; a minute that every partition's watermark passed but
//! the store lacks is a violation), `top100_exact`, `late_counted` (the late events the store was
//! told of equal the oracle's count of events beyond the watermark: dropped, not silently lost).
//!
//! **The failures it shows.** `adclick_no_snapshot`: an aggregator crash with snapshots off
//! (offsets committed as records are read, state only in memory): the partitions' new owners
//! start from the committed offsets with empty state and rewrite the minutes with partial counts
//! (clicks lost). `adclick_no_dedup`: duplicate delivery with dedup off: over-count. The good
//! scenario `adclick` has the same crash and the same duplicates and is exact.

pub mod check;

use parts::balance::{HealthSpec, Policy};
use parts::calls::{Answer, CallOutcome, CallPolicy, CallTimer, Calls, Done, ReqId, ServiceId};
use parts::log::{self, Broker, Cluster, Consumer, ConsumerEvent, Coordinator, Delivery, LogSpec, Pid, Producer};
use parts::snapshot::{self, Admitted, Bucket, Keeper, SnapState, Snapshot, SnapshotSpec};
use parts::window::{Admit, Closed, Sliding, Tumbling, Win, WindowSpec};
use serde::{Deserialize, Serialize};
use sim_core::cost::{bytes, count};
use sim_core::{
    Actor, Ctx, Dist, Duration, Message, Model, ModelReport, NodeId, Op, OpId, Outcome, Prng, Reply, RunView, Time,
    Topology, WriteId,
};
use std::collections::BTreeMap;
use std::rc::Rc;

/// Hot ads split over sub-keys.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HotSpec {
    /// Ads with an id below this are hot (the workload's Zipf makes ad 0 the most clicked).
    pub ads: u64,
    /// Sub-keys per hot ad (`click id mod split`).
    pub split: u32,
}

impl Default for HotSpec {
    fn default() -> Self {
        HotSpec { ads: 1, split: 4 }
    }
}

/// ```ron
/// config: (
///     brokers: 3,
///     log: (topics: [(name: "clicks", partitions: 8)], replication: 3, acks: 2),
///     window: (size: "1m", lateness: "5s"),
///     sliding_panes: 5,
///     top: 100,
///     delay: Mixture([(0.97, LogNormal(median: "300ms", sigma: 0.5)), (0.03, Uniform(min: "2s", max: "40s"))]),
///     duplicate_share: 0.02,
///     duplicate_delay: Uniform(min: "100ms", max: "3s"),
///     hot: (ads: 2, split: 4),
///     dedup: true,
///     snapshot: (enabled: true, interval: "5s"),
/// )
/// ```
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    pub brokers: u32,
    /// The log; clicks go to its first topic.
    pub log: LogSpec,
    /// The tumbling window and the allowed lateness.
    pub window: WindowSpec,
    /// Tumbling windows in the sliding window (the notes' M).
    pub sliding_panes: u32,
    /// Ads in the list of most clicked per minute.
    pub top: usize,
    /// How long before it reaches the tracker a click happened (event time = now - delay).
    pub delay: Dist,
    /// Share of clicks produced twice.
    pub duplicate_share: f64,
    /// When the second copy goes.
    pub duplicate_delay: Dist,
    pub hot: HotSpec,
    /// Drop a click id already counted in its window.
    pub dedup: bool,
    pub snapshot: SnapshotSpec,
    /// Aggregators' writes to the store (results, snapshot saves and loads).
    pub store_call: CallPolicy,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            brokers: 3,
            log: LogSpec::default(),
            window: WindowSpec::default(),
            sliding_panes: 5,
            top: 100,
            delay: Dist::Constant(Duration::from_millis(100)),
            duplicate_share: 0.0,
            duplicate_delay: Dist::Constant(Duration::from_secs(1)),
            hot: HotSpec::default(),
            dedup: true,
            snapshot: SnapshotSpec::default(),
            store_call: CallPolicy { timeout: Duration::from_millis(500), retries: 10, ..CallPolicy::default() },
        }
    }
}

/// A click's record key: the ad id, and its sub-key in the high half.
pub fn record_key(ad: u64, sub: u64) -> u64 {
    ad | sub << 32
}

/// The ad id of a record key.
pub fn ad_of(key: u64) -> u64 {
    key & 0xffff_ffff
}

/// A click's record value: its id (the operation's unique value) and its event time in ms.
pub fn record_value(click: u64, event_ms: u64) -> u64 {
    click << 32 | (event_ms & 0xffff_ffff)
}

/// `(click id, event time)` of a record value.
pub fn decode_value(v: u64) -> (u64, Time) {
    (v >> 32, Time((v & 0xffff_ffff) * 1_000_000))
}

/// One closed minute of one partition, as written to the store.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Emit {
    pub p: Pid,
    pub window: Win,
    /// Clicks per record key (ad and sub-key) in the minute.
    pub counts: Vec<(u64, u64)>,
    /// Clicks per record key in the sliding window ending with the minute.
    pub sliding: Vec<(u64, u64)>,
    /// Events dropped as too late, and as duplicates, since the previous minute closed.
    pub late: u64,
    pub duplicates: u64,
}

impl Emit {
    fn bytes(&self) -> u64 {
        48 + 16 * (self.counts.len() + self.sliding.len()) as u64
    }
}

/// A partition's aggregation state: what a snapshot holds.
#[derive(Clone, Debug)]
pub struct PartAgg {
    pub minutes: Tumbling<u64, u64>,
    pub sliding: Sliding<u64, u64>,
    late: u64,
    duplicates: u64,
    /// Minutes written and not yet acknowledged by the store.
    outbox: BTreeMap<Win, Rc<Emit>>,
}

impl PartAgg {
    fn new(c: &Config) -> PartAgg {
        PartAgg {
            minutes: Tumbling::new(c.window.clone()),
            sliding: Sliding::new(c.sliding_panes),
            late: 0,
            duplicates: 0,
            outbox: BTreeMap::new(),
        }
    }
}

impl SnapState for PartAgg {
    fn bytes(&self) -> u64 {
        let outbox: u64 = self.outbox.values().map(|e| e.bytes()).sum();
        64 + 16 * (self.minutes.entries() + self.sliding.entries()) as u64 + outbox
    }
}

/// The design's requests to the store, and the answers.
#[derive(Clone, Debug)]
pub enum AppMsg {
    Write { req: ReqId, emit: Rc<Emit> },
    Written { req: ReqId },
    Snap(snapshot::Msg<PartAgg>),
}

impl Message for AppMsg {
    fn kind(&self) -> &'static str {
        match self {
            AppMsg::Write { .. } => "result_write",
            AppMsg::Written { .. } => "result_written",
            AppMsg::Snap(m) => m.kind(),
        }
    }
    fn size_bytes(&self) -> u64 {
        match self {
            AppMsg::Write { emit, .. } => 64 + emit.bytes(),
            AppMsg::Written { .. } => 64,
            AppMsg::Snap(m) => m.size_bytes(),
        }
    }
}

parts::wire! {
    /// Everything a node of this design sends.
    pub enum Msg { Log(log::Msg), App(AppMsg) }
}

/// A tracker's second copy of a click.
#[derive(Clone, Copy, Debug)]
pub struct Duplicate {
    pub key: u64,
    pub value: u64,
}

/// The aggregators' snapshot tick.
#[derive(Clone, Copy, Debug)]
pub struct SnapTick;

parts::wire! {
    timers pub enum Timer { Log(log::Timer), Call(CallTimer), Dup(Duplicate), Snap(SnapTick) }
}

/// What nodes of this design write to disk.
#[derive(Clone, Debug)]
pub enum Rec {
    Log(log::Disk),
    Result(Rc<Emit>),
    Snap(Rc<Snapshot<PartAgg>>),
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

/// A click tracker: produces clicks (and some twice).
pub struct Tracker {
    /// Each produce carries its operation and event time in ms (none for a second copy).
    producer: Producer<Option<(OpId, u64)>>,
    cfg: Rc<Config>,
    /// Second copies produced (acknowledged or not).
    pub duplicates: u64,
}

impl Tracker {
    fn on_op(&mut self, ctx: &mut Ctx<'_, Node>, op: Op) {
        let delay = self.cfg.delay.sample(ctx.rng());
        let event_ms = ctx.now().0.saturating_sub(delay.0) / 1_000_000;
        let sub = if op.key < self.cfg.hot.ads { op.value % self.cfg.hot.split.max(1) as u64 } else { 0 };
        let (key, value) = (record_key(op.key, sub), record_value(op.value, event_ms));
        self.producer.produce(ctx, 0, key, value, Some((op.id, event_ms)));
        if self.cfg.duplicate_share > 0.0 && ctx.rng().chance(self.cfg.duplicate_share) {
            let after = self.cfg.duplicate_delay.sample(ctx.rng());
            ctx.set_timer(after, Timer::Dup(Duplicate { key, value }));
        }
    }

    /// A produce is over: the operation completes with its event time and where the log has it.
    fn produced(ctx: &mut Ctx<'_, Node>, done: log::Produced<Option<(OpId, u64)>>) {
        let Some((op, event_ms)) = done.token else { return };
        match done.result {
            Ok((p, offset)) => ctx.complete(op, Outcome::Ok, Reply::list([event_ms, p as u64, offset])),
            Err(_) => ctx.complete(op, Outcome::Fail, Reply::None),
        }
    }
}

/// What an aggregator's call to the store is for.
#[derive(Clone, Copy, Debug)]
pub enum Job {
    Write { p: Pid, window: Win },
    Save { p: Pid, epoch: u64, covers: u64 },
    Load { p: Pid, epoch: u64 },
}

/// Counts of an aggregator's work (per incarnation).
#[derive(Clone, Copy, Debug, Default)]
pub struct AggStats {
    pub applied: u64,
    pub emitted: u64,
    pub rewrites: u64,
}

/// An aggregation node: a consumer-group member with a state per owned partition.
pub struct Aggregator {
    consumer: Consumer,
    pub keeper: Keeper<PartAgg, Delivery>,
    calls: Calls<AppMsg, Job>,
    store: ServiceId,
    cfg: Rc<Config>,
    pub stats: AggStats,
}

impl Aggregator {
    fn on_start(&mut self, ctx: &mut Ctx<'_, Node>) {
        self.consumer.join(ctx);
        if self.cfg.snapshot.enabled {
            ctx.set_timer(self.cfg.snapshot.interval, Timer::Snap(SnapTick));
        }
    }

    fn pump(&mut self, ctx: &mut Ctx<'_, Node>) {
        while let Some(d) = self.consumer.poll(ctx) {
            self.take(ctx, d);
        }
    }

    fn assign(&mut self, ctx: &mut Ctx<'_, Node>, p: Pid) {
        let cfg = self.cfg.clone();
        if let Some(epoch) = self.keeper.assign(p as u64, || PartAgg::new(&cfg)) {
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
        match self.keeper.admit(d.p as u64, d.offset, d) {
            Admitted::Apply(d) => self.apply(ctx, d),
            Admitted::Skip(_) | Admitted::Buffered => {}
        }
    }

    /// Counts one click into its partition's windows; writes the minutes it closed.
    fn apply(&mut self, ctx: &mut Ctx<'_, Node>, d: Delivery) {
        let (click, t) = decode_value(d.rec.value);
        let dedup = self.cfg.dedup.then_some(click);
        let st = self.keeper.state_mut(d.p as u64).expect("applied to a loaded state");
        let mut closed = Vec::new();
        let admit = st.minutes.add(t, d.rec.key, dedup, &mut closed, |n| *n += 1);
        let mut out = Vec::with_capacity(closed.len());
        for c in closed {
            out.push(close(st, d.p, c));
        }
        match admit {
            Admit::Late(_) => st.late += 1,
            Admit::Duplicate(_) => st.duplicates += 1,
            Admit::Counted(_) => {}
        }
        self.stats.applied += 1;
        if !self.keeper.spec().enabled {
            // No snapshots: the offset is committed as soon as the record is read.
            self.consumer.done(&d);
        }
        for e in out {
            self.write(ctx, e);
        }
    }

    fn call(&mut self, ctx: &mut Ctx<'_, Node>, job: Job, make: impl FnOnce(ReqId) -> AppMsg) {
        if let Err(done) = self.calls.call(ctx, self.store, 0, make, job) {
            unreachable!("one store, no breaker, no ejection: a call always starts ({:?})", done.outcome);
        }
    }

    fn write(&mut self, ctx: &mut Ctx<'_, Node>, emit: Rc<Emit>) {
        self.stats.emitted += 1;
        let job = Job::Write { p: emit.p, window: emit.window };
        self.call(ctx, job, |req| AppMsg::Write { req, emit });
    }

    fn on_snap_tick(&mut self, ctx: &mut Ctx<'_, Node>) {
        ctx.set_timer(self.cfg.snapshot.interval, Timer::Snap(SnapTick));
        for (epoch, snap) in self.keeper.due() {
            let (p, covers) = (snap.key as Pid, snap.covers);
            let snap = Rc::new(snap);
            self.call(ctx, Job::Save { p, epoch, covers }, |req| AppMsg::Snap(snapshot::Msg::Save { req, snap }));
        }
    }

    /// A call to the store ended.
    fn on_done(&mut self, ctx: &mut Ctx<'_, Node>, done: Done<Job>, loaded: Option<Option<Rc<Snapshot<PartAgg>>>>) {
        let ok = done.outcome == CallOutcome::Ok;
        match done.data {
            Job::Write { p, window } => {
                let st = self.keeper.state_mut(p as u64);
                if ok {
                    if let Some(st) = st {
                        st.outbox.remove(&window);
                    }
                } else if let Some(e) = st.and_then(|s| s.outbox.get(&window).cloned()) {
                    self.stats.rewrites += 1;
                    self.write(ctx, e);
                }
            }
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
                    self.keeper.loaded(p as u64, epoch, snap.as_deref(), || PartAgg::new(&cfg))
                else {
                    return;
                };
                self.consumer.done_below(p, covers);
                let resend: Vec<Rc<Emit>> =
                    self.keeper.state(p as u64).map(|s| s.outbox.values().cloned().collect()).unwrap_or_default();
                for e in resend {
                    self.stats.rewrites += 1;
                    self.write(ctx, e);
                }
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
            Msg::App(AppMsg::Written { req }) | Msg::App(AppMsg::Snap(snapshot::Msg::Saved { req })) => {
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
            Timer::Dup(_) => {}
        }
    }
}

/// A closed minute of partition `p`: the sliding window ending with it, the counts of dropped
/// events since the last one; into the outbox.
fn close(st: &mut PartAgg, p: Pid, c: Closed<u64, u64>) -> Rc<Emit> {
    let sliding = st.sliding.push(&c);
    let e = Rc::new(Emit {
        p,
        window: c.window,
        counts: c.values.into_iter().collect(),
        sliding: sliding.values.into_iter().collect(),
        late: st.late,
        duplicates: st.duplicates,
    });
    st.late = 0;
    st.duplicates = 0;
    st.outbox.insert(e.window, e.clone());
    e
}

/// A minute merged over every partition: counts per ad (sub-keys summed) and the top list.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Merged {
    pub counts: BTreeMap<u64, u64>,
    pub sliding: BTreeMap<u64, u64>,
    pub late: u64,
    pub duplicates: u64,
    /// `(ad, clicks)`, most clicked first (ties by ad id).
    pub top: Vec<(u64, u64)>,
    /// When the last partition's result arrived (first complete).
    pub at: Time,
}

/// The most clicked `n` ads of `counts`: by count, then by ad id.
pub fn top_n(counts: &BTreeMap<u64, u64>, n: usize) -> Vec<(u64, u64)> {
    let mut all: Vec<(u64, u64)> = counts.iter().map(|(&a, &c)| (a, c)).collect();
    all.sort_by(|x, y| y.1.cmp(&x.1).then(x.0.cmp(&y.0)));
    all.truncate(n);
    all
}

/// The results database and the snapshot bucket.
pub struct Store {
    /// The latest result of each (minute, partition) (an upsert: a repeated write replaces).
    pub results: BTreeMap<(Win, Pid), Rc<Emit>>,
    /// Minutes every partition has written, merged.
    pub merged: BTreeMap<Win, Merged>,
    pub bucket: Bucket<PartAgg>,
    partitions: u32,
    top: usize,
    pending: BTreeMap<WriteId, (NodeId, ReqId, Rec)>,
    /// Writes of a result already there, and those that replaced it with a different one.
    pub rewrites: u64,
    pub changed: u64,
    pub writes: u64,
}

impl Store {
    fn on_start(&mut self, ctx: &mut Ctx<'_, Node>) {
        let recs: Vec<Rec> = ctx.durable().to_vec();
        for r in recs {
            match r {
                Rec::Result(e) => self.apply(e, ctx.ledger_time()),
                Rec::Snap(s) => {
                    self.bucket.put(s);
                }
                Rec::Log(_) => {}
            }
        }
    }

    /// `now`: true time, for the merged result's `at` (a ledger the latency measure reads).
    fn apply(&mut self, e: Rc<Emit>, now: Time) {
        self.writes += 1;
        let w = e.window;
        if let Some(old) = self.results.insert((w, e.p), e.clone()) {
            self.rewrites += 1;
            self.changed += (*old != *e) as u64;
        }
        let have = self.results.range((w, 0)..(w + 1, 0)).count() as u32;
        if have < self.partitions {
            return;
        }
        let mut m = Merged::default();
        for r in self.results.range((w, 0)..(w + 1, 0)).map(|(_, r)| r) {
            for &(k, n) in &r.counts {
                *m.counts.entry(ad_of(k)).or_default() += n;
            }
            for &(k, n) in &r.sliding {
                *m.sliding.entry(ad_of(k)).or_default() += n;
            }
            m.late += r.late;
            m.duplicates += r.duplicates;
        }
        m.top = top_n(&m.counts, self.top);
        m.at = self.merged.get(&w).map_or(now, |old| old.at);
        self.merged.insert(w, m);
    }

    fn on_msg(&mut self, ctx: &mut Ctx<'_, Node>, from: NodeId, msg: Msg) {
        let Msg::App(m) = msg else { return };
        match m {
            AppMsg::Write { req, emit } => {
                let w = ctx.persist(Rec::Result(emit.clone()));
                self.pending.insert(w, (from, req, Rec::Result(emit)));
            }
            AppMsg::Snap(snapshot::Msg::Save { req, snap }) => {
                let w = ctx.persist(Rec::Snap(snap.clone()));
                self.pending.insert(w, (from, req, Rec::Snap(snap)));
            }
            AppMsg::Snap(snapshot::Msg::Load { req, key }) => {
                let snap = self.bucket.get(key);
                ctx.send(from, Msg::from(AppMsg::Snap(snapshot::Msg::Loaded { req, snap })));
            }
            _ => {}
        }
    }

    fn on_persisted(&mut self, ctx: &mut Ctx<'_, Node>, w: WriteId) {
        // On disk: now visible, and acknowledged.
        let Some((to, req, rec)) = self.pending.remove(&w) else { return };
        let answer = match rec {
            Rec::Result(e) => {
                self.apply(e, ctx.ledger_time());
                AppMsg::Written { req }
            }
            Rec::Snap(s) => {
                self.bucket.put(s);
                AppMsg::Snap(snapshot::Msg::Saved { req })
            }
            Rec::Log(_) => return,
        };
        ctx.send(to, Msg::from(answer));
    }
}

pub enum Node {
    Coordinator(Box<Coordinator>),
    Broker(Box<Broker>),
    Aggregator(Box<Aggregator>),
    Store(Box<Store>),
    Tracker(Box<Tracker>),
}

impl Actor for Node {
    type Msg = Msg;
    type Timer = Timer;
    type Record = Rec;

    fn on_start(&mut self, ctx: &mut Ctx<'_, Self>) {
        match self {
            Node::Coordinator(c) => c.start(ctx, log_rec),
            Node::Broker(b) => b.start(ctx, log_rec),
            Node::Aggregator(a) => a.on_start(ctx),
            Node::Store(s) => s.on_start(ctx),
            Node::Tracker(t) => t.producer.start(ctx),
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
            Node::Aggregator(a) => a.on_msg(ctx, msg),
            Node::Store(s) => s.on_msg(ctx, from, msg),
            Node::Tracker(t) => {
                if let Msg::Log(m) = msg
                    && let Some(done) = t.producer.on_msg(ctx, &m)
                {
                    Tracker::produced(ctx, done);
                }
            }
        }
    }

    fn on_timer(&mut self, ctx: &mut Ctx<'_, Self>, t: Timer) {
        match (self, t) {
            (Node::Coordinator(c), Timer::Log(t)) => c.on_timer(ctx, t),
            (Node::Broker(b), Timer::Log(t)) => b.on_timer(ctx, t),
            (Node::Aggregator(a), t) => a.on_timer(ctx, t),
            (Node::Tracker(tr), Timer::Log(t)) => {
                if let Some(done) = tr.producer.on_timer(ctx, t) {
                    Tracker::produced(ctx, done);
                }
            }
            (Node::Tracker(tr), Timer::Dup(d)) => {
                tr.duplicates += 1;
                tr.producer.produce(ctx, 0, d.key, d.value, None);
            }
            _ => {}
        }
    }

    fn on_op(&mut self, ctx: &mut Ctx<'_, Self>, op: Op) {
        match self {
            Node::Tracker(t) => t.on_op(ctx, op),
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
    pub aggregators: Vec<NodeId>,
    pub store: NodeId,
}

impl Layout {
    pub fn new(c: &Config, topo: &Topology) -> Layout {
        let s = &topo.servers;
        let b = c.brokers as usize;
        Layout {
            coordinator: s[0],
            brokers: s[1..=b].to_vec(),
            aggregators: s[b + 1..s.len() - 1].to_vec(),
            store: s[s.len() - 1],
        }
    }
}

pub struct AdClick;

/// The checks the design reports (see [`check`]).
pub const CHECKS: &[&str] = &["acked_in_log", "counts_exact", "top100_exact", "late_counted"];

impl Model for AdClick {
    const NAME: &'static str = "adclick";
    const ABOUT: &'static str = "ad clicks -> log by ad id -> windowed aggregators (watermark, dedup, snapshots + replay, hot-ad sub-keys) -> results DB with top 100 per minute";
    const OP_KINDS: &'static [&'static str] = &["click"];
    const TRANSPORT: sim_core::net::Transport = sim_core::net::Transport::Connection;
    const KEEP_CRASHED_ACTORS: bool = true;
    const CHECKS: &'static [&'static str] = CHECKS;
    const PROGRESS_CHECKS: &'static [&'static str] = &["counts_exact"];
    type Config = Config;
    type Actor = Node;

    fn validate(c: &Config, topo: &Topology) -> Vec<(String, String)> {
        let mut e = Vec::new();
        let servers = topo.servers.len() as u32;
        if c.brokers == 0 {
            e.push(("config.brokers".into(), "needs at least one broker".into()));
        }
        if servers < c.brokers + 3 {
            e.push((
                "topology.servers".into(),
                format!(
                    "needs brokers + 3 servers (the coordinator, the brokers, at least one aggregator, the store) = {}, got {servers}",
                    c.brokers + 3
                ),
            ));
        }
        if topo.clients.is_empty() {
            e.push(("topology.clients".into(), "needs at least one client (the click trackers)".into()));
        }
        e.extend(c.log.validate("config.log", c.brokers.max(1)));
        e.extend(c.window.validate("config.window"));
        e.extend(c.snapshot.validate("config.snapshot"));
        e.extend(c.store_call.validate("config.store_call"));
        if c.store_call.breaker.is_some() {
            e.push((
                "config.store_call.breaker".into(),
                "an aggregator retries until the store has it: no breaker".into(),
            ));
        }
        if c.sliding_panes == 0 || c.sliding_panes > 10_000 {
            e.push(("config.sliding_panes".into(), format!("must be within [1, 10,000], got {}", c.sliding_panes)));
        }
        if c.top == 0 {
            e.push(("config.top".into(), "must be at least 1".into()));
        }
        if !(0.0..=1.0).contains(&c.duplicate_share) {
            e.push((
                "config.duplicate_share".into(),
                format!("a share must be within [0, 1], got {}", c.duplicate_share),
            ));
        }
        if c.hot.split == 0 || c.hot.split > 1024 {
            e.push(("config.hot.split".into(), format!("must be within [1, 1024], got {}", c.hot.split)));
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

    /// Per click: its log entry on every replica and in the brokers' durable logs (~120 B a
    /// copy), ~13 events (produce, replication, acks, disk writes, fetch; measured on
    /// `adclick_large`). The snapshots: the store's disk keeps every version saved (the kernel's
    /// durable log is append-only, like a versioned bucket), each holding a partition's open
    /// minutes: ~64 B per click id kept for dedup and per count, over `window + lateness`.
    fn footprint(c: &Config, _topo: &Topology, load: &sim_core::cost::Load) -> sim_core::cost::Footprint {
        let clicks = load.total() * (1.0 + c.duplicate_share);
        let log = clicks * c.log.replication as f64 * 120.0;
        let partitions = c.log.topics.iter().map(|t| t.partitions).sum::<u32>().max(1) as f64;
        let rate_p = clicks / load.run_s.max(1e-9) / partitions;
        let open_s = (c.window.size.0 + c.window.lateness.0) as f64 / 1e9;
        let snap = rate_p * open_s * 64.0;
        let saves = if c.snapshot.enabled {
            partitions * load.run_s / (c.snapshot.interval.0 as f64 / 1e9).max(1e-9)
        } else {
            0.0
        };
        sim_core::cost::Footprint { events: clicks * 13.0, queued: load.in_flight * 4.0, ..Default::default() }
            .part(format!("log: {clicks} clicks x {} replicas x 120 B", c.log.replication, clicks = count(clicks)), log)
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
            } else if l.aggregators.contains(&n) {
                let mut calls = Calls::new();
                let health = HealthSpec { fail_open: true, ..HealthSpec::default() };
                let store = calls.add("store_calls", &[l.store], cfg.store_call.clone(), Policy::RoundRobin, health);
                Node::Aggregator(Box::new(Aggregator {
                    consumer: Consumer::new(cluster.clone(), "log", 0, 0),
                    keeper: Keeper::new(cfg.snapshot.clone()),
                    calls,
                    store,
                    cfg: cfg.clone(),
                    stats: AggStats::default(),
                }))
            } else if n == l.store {
                Node::Store(Box::new(Store {
                    results: BTreeMap::new(),
                    merged: BTreeMap::new(),
                    bucket: Bucket::default(),
                    partitions,
                    top: cfg.top,
                    pending: BTreeMap::new(),
                    rewrites: 0,
                    changed: 0,
                    writes: 0,
                }))
            } else {
                Node::Tracker(Box::new(Tracker {
                    producer: Producer::new(cluster.clone(), "log"),
                    cfg: cfg.clone(),
                    duplicates: 0,
                }))
            }
        })
    }

    fn report(c: &Config, run: &RunView<'_, Node>) -> ModelReport {
        check::report(c, run)
    }
}
