//! # monitoring: metrics monitoring and alerting (write-heavy, spiky reads, a TSDB that goes down)
//!
//! The notes (5, "Metrics Monitoring and Alerting System"): **10 million operational metrics are
//! written**, reads are spiky. Metric sources -> metrics collectors, by **pull** (the collector
//! scrapes `/metrics`) or by **push** (through a load balancer to a group of collectors); the
//! notes' table: pull misses **short jobs** (the pull interval is long), push needs the LB.
//! Collectors -> time-series DB: "what if the DB is down?": the **transmission pipeline**
//! collectors -> Kafka -> consumer -> TSDB. Query servers (+ cache) read the TSDB; an alert
//! system evaluates rules over it.
//!
//! **Nodes.** Servers in order: the log's coordinator and `brokers` brokers ([`parts::log`]), the
//! `collectors`, the `writers` (the notes' "consumer": one consumer group over the log), the
//! TSDB, the query server, the alert manager, and the metric sources (every server left, at
//! least one). Clients are dashboards: the workload's `query` operations (key = the host whose
//! series is read), with bursts for the spiky reads.
//!
//! **Sources.** Source `s` has `metrics_per_source` metrics (metric 0 is the host's `cpu`, the
//! one the alert rule watches) and runs **short jobs** (a job starts every `short_jobs.every`,
//! lives `short_jobs.life`, shorter than a scrape interval, and exposes one metric while it lives).
//! The first `pull_sources` sources are **scraped**: a collector (source `i` -> collector `i mod
//! collectors`) asks every `scrape_interval`; the answer is a sample of every metric, stamped
//! with the source's clock, plus one per live job. A job that ends between two scrapes is
//! **never collected** (counted: `short_jobs_missed`; the notes' table). The other sources
//! **push** every `sample_interval` (random phase) a batch of samples through [`parts::calls`]
//! with a round-robin balancer over the collectors (the LB), retried; a job pushes its sample
//! when it ends. The `cpu` value is low (10-40) except during **incidents** (85-100): random ones
//! (`incidents.gap`, `incidents.length`) and scheduled ones (`incidents.scheduled`).
//!
//! **The pipeline.** With `queue: true` a collector produces every sample it accepted to the log
//! (keyed by metric id: a series stays in one partition, in order) and the writers consume it:
//! a writer polls up to `write_batch` records, writes them to the TSDB in one call (one write in
//! flight, retried until the TSDB has it), and only then marks them done, so the commit follows
//! the TSDB's acknowledgement (at-least-once; the TSDB's upsert by `(metric, timestamp)` absorbs
//! the repeats). While the TSDB is down the writers stop polling and the consumer lag (the
//! kernel level `log.lag`) is the backlog; after it comes back the writers drain it (the
//! **catch-up time**). With `queue: false` a collector writes each accepted batch straight to the
//! TSDB through [`parts::calls`] (`direct_write`: timeout, bounded retries) and drops it when
//! the retries are spent: the known-bad design.
//!
//! **TSDB.** One node: every write batch synced to disk before it is acknowledged and visible;
//! state rebuilt from its disk after a crash. Samples keyed by `(metric, timestamp ms)`.
//!
//! **Reads.** The query server answers a dashboard's `query` (the last `query.range` of a host's
//! `cpu`) from a [`parts::cache::Cache`] (TTL), else from the TSDB; during the outage a miss
//! fails. **Alerts.** The alert manager evaluates one rule per host (`cpu` average over
//! `rule.window` above `rule.threshold`, held for `rule.for`) at evaluation instants every
//! `rule.eval_interval` of sample time; it evaluates an instant once the TSDB holds a sample of
//! the series at least `rule.grace` past it (so late data is waited for, not skipped): an alert
//! **fires** on the first instant whose condition has held for `for`, and resolves when it no
//! longer holds. Nothing about an instant is evaluated while the TSDB cannot answer.
//!
//! **Simplified.** One TSDB node (no sharding, no replication, no compression: 16 B a sample);
//! one query server, one alert manager, no notification fan-out; what the hosts emitted
//! ([`SourceRecord`]), what the collectors accepted and the alerts fired are the world's records,
//! kept across those nodes' crashes (a collector's crash loses the samples it had accepted and
//! not yet passed on: `no_sample_lost` sees them; a restarted alert manager evaluates again from
//! the first instant and fires the episodes it fired before a second time); a host that stays down holds back
//! its alert (no instant is evaluated before a sample `grace` past it arrives, and a dead host
//! sends none: no staleness rule, no `up == 0` alert); no clock skew (samples carry the
//! source's clock, the oracle uses the same stamps). The scrape returns current values
//! (Prometheus' gauges), not a buffer of samples since the last scrape.
//!
//! **Checks** (see [`check`]): `no_sample_lost` (every sample a collector accepted before the
//! settle phase is in the TSDB at the end with its value; one of the settle may still be on its
//! way, 10 ms before the end say, and is counted apart; short jobs a scrape never saw were never
//! collected and are reported apart), `alert_timely` (for every episode in which an **oracle**, evaluating the same
//! rule over the samples the sources emitted, says the alert should fire, the alert manager fired
//! during the episode, by the condition's onset + `for` + `rule.delay_bound`), `no_false_alerts`
//! (every firing is at an instant where the oracle's condition holds; a firing before it has held
//! for `for`, possible when samples of the window were lost, is counted as premature in the
//! detail, not as false).
//!
//! **The failure it shows.** `monitoring_direct_write`: the TSDB is down for a minute, the
//! collectors write straight to it: the samples of the outage are dropped after the retries, and
//! the incident during the outage never raises its alert. The good scenario `monitoring` has the
//! same outage with the log in between: nothing is lost, the alert fires late (after the
//! catch-up), within its bound. `simctl sweep scenarios/monitoring_direct_write.ron --seeds 0..64`
//! fails `no_false_alerts` as well on seeds 29 and 61 (host 3 and host 8, each fired for instant
//! 100 s where the oracle's condition never held; found 2026-12-06), which the scenario's
//! `Fail([no_sample_lost, alert_timely])` alone does not allow; its `may_also_fail` does. The
//! cause, traced at seed 29 (host 3's emitted `cpu` samples against the TSDB's): samples at
//! 69.5, 79.5 and 89.5 s of 94, 99 and 88 reached the TSDB; the one at 99.5 s, 36, was written
//! during the outage and dropped. The rule averages what is left of a window: at instant 100 s
//! the window (80, 100] holds only 88 (above 70), so the condition had held since 80 s, for
//! `for`, and the alert fired when the TSDB was back (155 s); over all the samples, 88 and 36
//! average 62, and the oracle's run ended at 95 s. The loss, not the alert manager, is at fault.

pub mod check;

use parts::balance::{HealthSpec, Policy};
use parts::cache::{Cache, CacheSpec};
use parts::calls::{Answer, CallOutcome, CallPolicy, CallTimer, Calls, Done, OpCalls, ReqId, ServiceId};
use parts::log::{self, Broker, Cluster, Consumer, ConsumerEvent, Coordinator, Delivery, LogSpec, Producer};
use serde::{Deserialize, Serialize};
use sim_core::cost::count;
use sim_core::{
    Actor, Ctx, Dist, Duration, Message, Model, ModelReport, NodeId, Op, Outcome, Prng, Reply, RunView, Time, Topology,
    WriteId,
};
use std::cell::RefCell;
use std::collections::BTreeMap;
use std::rc::Rc;

/// Short-lived jobs on every source.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ShortJobs {
    /// Time between two job starts on a source (`None`: no jobs).
    pub every: Option<Dist>,
    /// A job's life.
    pub life: Dist,
}

impl Default for ShortJobs {
    fn default() -> Self {
        ShortJobs { every: None, life: Dist::Constant(Duration::from_secs(2)) }
    }
}

/// An incident scheduled by the scenario: the `cpu` of sources `0..sources` is high from `at`
/// for `length`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Scheduled {
    pub at: Duration,
    pub length: Duration,
    pub sources: u32,
}

/// When a host's `cpu` is high.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Incidents {
    /// Time from the end of one random incident to the start of the next, per source (`None`: no
    /// random incidents).
    pub gap: Option<Dist>,
    pub length: Dist,
    pub scheduled: Vec<Scheduled>,
}

impl Default for Incidents {
    fn default() -> Self {
        Incidents { gap: None, length: Dist::Constant(Duration::from_secs(60)), scheduled: Vec::new() }
    }
}

/// The alert rule, one per host: `avg(cpu[window]) > threshold for for`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RuleSpec {
    pub threshold: u32,
    pub window: Duration,
    #[serde(rename = "for")]
    pub hold: Duration,
    pub eval_interval: Duration,
    /// An instant is evaluated once the TSDB has a sample of the series this much later.
    pub grace: Duration,
    /// The pipeline's allowed delay: an alert is due by the condition's onset + `for` + this.
    pub delay_bound: Duration,
}

impl Default for RuleSpec {
    fn default() -> Self {
        RuleSpec {
            threshold: 70,
            window: Duration::from_secs(20),
            hold: Duration::from_secs(20),
            eval_interval: Duration::from_secs(5),
            grace: Duration::from_secs(12),
            delay_bound: Duration::from_secs(90),
        }
    }
}

/// The query servers' read path.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct QuerySpec {
    pub cache: CacheSpec,
    /// How far back a dashboard query reads.
    pub range: Duration,
    /// The dashboards' calls to the query server.
    pub call: CallPolicy,
    /// The query server's calls to the TSDB.
    pub tsdb_call: CallPolicy,
}

impl Default for QuerySpec {
    fn default() -> Self {
        QuerySpec {
            cache: CacheSpec { ttl: Some(Duration::from_secs(10)), ..CacheSpec::default() },
            range: Duration::from_secs(300),
            call: CallPolicy { timeout: Duration::from_secs(2), ..CallPolicy::default() },
            tsdb_call: CallPolicy { timeout: Duration::from_millis(500), ..CallPolicy::default() },
        }
    }
}

/// ```ron
/// config: (
///     brokers: 3,
///     log: (topics: [(name: "metrics", partitions: 4)], replication: 3, acks: 2),
///     collectors: 2, writers: 2, pull_sources: 5, metrics_per_source: 50,
///     sample_interval: "10s", scrape_interval: "10s",
///     short_jobs: (every: Some(Exponential(mean: "20s")), life: Uniform(min: "1s", max: "4s")),
///     incidents: (gap: Some(Exponential(mean: "200s")), length: Uniform(min: "30s", max: "80s"),
///                 scheduled: [(at: "95s", length: "40s", sources: 3)]),
///     queue: true,
///     rule: (threshold: 70, window: "20s", for: "20s", eval_interval: "5s", grace: "12s", delay_bound: "90s"),
/// )
/// ```
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    pub brokers: u32,
    /// The log; samples go to its first topic.
    pub log: LogSpec,
    pub collectors: u32,
    pub writers: u32,
    /// The first this many sources are scraped; the others push.
    pub pull_sources: u32,
    pub metrics_per_source: u32,
    /// How often a pushing source sends its samples.
    pub sample_interval: Duration,
    pub scrape_interval: Duration,
    pub short_jobs: ShortJobs,
    pub incidents: Incidents,
    /// Collectors -> log -> writers -> TSDB (`false`: collectors -> TSDB).
    pub queue: bool,
    /// Records per TSDB write of a writer.
    pub write_batch: u32,
    pub push_call: CallPolicy,
    pub scrape_call: CallPolicy,
    /// A collector's write to the TSDB without the queue (dropped when the retries are spent).
    pub direct_write: CallPolicy,
    /// A writer's write to the TSDB (repeated until it succeeds).
    pub writer_call: CallPolicy,
    /// The alert manager's reads of the TSDB.
    pub rule_call: CallPolicy,
    pub rule: RuleSpec,
    pub query: QuerySpec,
}

impl Default for Config {
    fn default() -> Self {
        let quick = CallPolicy { timeout: Duration::from_millis(500), ..CallPolicy::default() };
        Config {
            brokers: 3,
            log: LogSpec::default(),
            collectors: 2,
            writers: 2,
            pull_sources: 1,
            metrics_per_source: 50,
            sample_interval: Duration::from_secs(10),
            scrape_interval: Duration::from_secs(10),
            short_jobs: ShortJobs::default(),
            incidents: Incidents::default(),
            queue: true,
            write_batch: 500,
            push_call: CallPolicy { retries: 3, ..quick.clone() },
            scrape_call: CallPolicy { timeout: Duration::from_secs(1), ..CallPolicy::default() },
            direct_write: CallPolicy { retries: 3, ..quick.clone() },
            writer_call: CallPolicy { retries: 20, ..quick.clone() },
            rule_call: quick,
            rule: RuleSpec::default(),
            query: QuerySpec::default(),
        }
    }
}

/// The metric id of source `s`'s metric `m` (metric 0 is its `cpu`).
pub fn metric_id(s: u32, m: u32) -> u64 {
    (s as u64) << 20 | m as u64
}

/// The metric id of source `s`'s `n`-th short job.
pub fn job_metric(s: u32, n: u64) -> u64 {
    1 << 62 | (s as u64) << 32 | (n & 0xffff_ffff)
}

/// Whether a metric id is a short job's.
pub fn is_job(metric: u64) -> bool {
    metric >> 62 == 1
}

/// One sample: a metric's value at a time (ms on the source's clock).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Sample {
    pub metric: u64,
    pub ts: u64,
    pub value: u32,
}

impl Sample {
    /// The log record's value: the timestamp in the high half, the value in the low half.
    pub fn encode(&self) -> u64 {
        (self.ts & 0xffff_ffff) << 32 | self.value as u64
    }
    pub fn decode(metric: u64, v: u64) -> Sample {
        Sample { metric, ts: v >> 32, value: (v & 0xffff_ffff) as u32 }
    }
}

pub(crate) const SAMPLE_BYTES: u64 = 16;

fn batch_bytes(s: &[Sample]) -> u64 {
    64 + SAMPLE_BYTES * s.len() as u64
}

/// The design's own messages.
#[derive(Clone, Debug)]
pub enum AppMsg {
    /// Collector -> pull source.
    Scrape {
        req: ReqId,
    },
    Scraped {
        req: ReqId,
        samples: Rc<Vec<Sample>>,
    },
    /// Push source -> collector (through the LB).
    Push {
        req: ReqId,
        samples: Rc<Vec<Sample>>,
    },
    Pushed {
        req: ReqId,
    },
    /// Collector or writer -> TSDB.
    Write {
        req: ReqId,
        samples: Rc<Vec<Sample>>,
    },
    Written {
        req: ReqId,
    },
    /// Samples of `metric` with a timestamp in `[from, to]`, and the series' latest timestamp. A
    /// window `(t - w, t]` asks from `t + 1 - w` (or 0): a sample at time 0 is in the window of
    /// every `t < w`, which a `from` of `t - w` saturated to 0 would leave out.
    Range {
        req: ReqId,
        metric: u64,
        from: u64,
        to: u64,
    },
    Ranged {
        req: ReqId,
        samples: Rc<Vec<Sample>>,
        fresh: Option<u64>,
    },
    /// Dashboard -> query server: the last `query.range` of a host's `cpu`.
    Query {
        req: ReqId,
        metric: u64,
    },
    Answered {
        req: ReqId,
        points: Option<u64>,
    },
}

impl Message for AppMsg {
    fn kind(&self) -> &'static str {
        match self {
            AppMsg::Scrape { .. } => "scrape",
            AppMsg::Scraped { .. } => "scraped",
            AppMsg::Push { .. } => "push",
            AppMsg::Pushed { .. } => "pushed",
            AppMsg::Write { .. } => "tsdb_write",
            AppMsg::Written { .. } => "tsdb_written",
            AppMsg::Range { .. } => "tsdb_range",
            AppMsg::Ranged { .. } => "tsdb_ranged",
            AppMsg::Query { .. } => "query",
            AppMsg::Answered { .. } => "query_answer",
        }
    }
    fn size_bytes(&self) -> u64 {
        match self {
            AppMsg::Scraped { samples, .. }
            | AppMsg::Push { samples, .. }
            | AppMsg::Write { samples, .. }
            | AppMsg::Ranged { samples, .. } => batch_bytes(samples),
            _ => 64,
        }
    }
}

parts::wire! {
    /// Everything a node of this design sends.
    pub enum Msg { Log(log::Msg), App(AppMsg) }
}

/// The design's own timers.
#[derive(Clone, Copy, Debug)]
pub enum Tick {
    /// A push source's batch.
    Emit,
    /// A collector's scrape round.
    Scrape,
    /// A short job starts.
    JobStart,
    /// Short job `n` ends.
    JobEnd(u64),
    /// An incident of `length` starts; `random` ones schedule the next.
    Incident { length: Duration, random: bool },
    /// The alert manager's evaluation round.
    Evaluate,
}

parts::wire! {
    timers pub enum Timer { Log(log::Timer), Call(CallTimer), Tick(Tick) }
}

/// What nodes of this design write to disk.
#[derive(Clone, Debug)]
pub enum Rec {
    Log(log::Disk),
    Samples(Rc<Vec<Sample>>),
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

/// A short job's life on its source.
#[derive(Clone, Copy, Debug)]
struct LiveJob {
    started: Time,
    scraped: bool,
}

/// Short jobs of a source: started, collected (scraped at least once, or pushed), missed.
#[derive(Clone, Copy, Debug, Default)]
pub struct JobStats {
    pub started: u64,
    pub ended: u64,
    pub collected: u64,
    pub missed: u64,
}

/// A metric source (a host).
pub struct Source {
    pub index: u32,
    pub pull: bool,
    cfg: Rc<Config>,
    calls: Calls<AppMsg, usize>,
    lb: ServiceId,
    high_until: Time,
    jobs: BTreeMap<u64, LiveJob>,
    next_job: u64,
    /// What every host did, kept across their crashes (see [`SourceRecord`]), by host index:
    /// this host writes its own. Shared by every host, so the checker finds all of them through
    /// any running one, whichever are down at the end.
    pub ledger: Rc<[RefCell<SourceRecord>]>,
}

/// What a host emitted, and its short jobs' fates: the oracle's ground truth. It is the world's
/// record of the host, not the host's memory: every incarnation of the host writes to the same
/// record (the factory hands it to each), so a host that crashes and restarts does not take the
/// samples it emitted before the crash out of the truth. (When it was the actor's own field, a
/// crashed host's samples vanished with it, and an alert that rightly fired on them was judged
/// false: found by `simctl explore scenarios/monitoring.ron`, host 5 crashed at 137 s.)
#[derive(Debug, Default)]
pub struct SourceRecord {
    /// Every sample this host emitted (pushed, or answered to a scrape).
    pub emitted: Vec<Sample>,
    /// Samples of pushes that failed (never acknowledged by a collector).
    pub push_failed: u64,
    pub jobs: JobStats,
}

impl Source {
    /// This host's record.
    fn record(&self) -> std::cell::RefMut<'_, SourceRecord> {
        self.ledger[self.index as usize].borrow_mut()
    }

    fn on_start(&mut self, ctx: &mut Ctx<'_, Node>) {
        if !self.pull {
            let phase = ctx.rng().below(self.cfg.sample_interval.0.max(1));
            ctx.set_timer(Duration(phase), Timer::Tick(Tick::Emit));
        }
        if let Some(every) = &self.cfg.short_jobs.every {
            let after = every.sample(ctx.rng());
            ctx.set_timer(after, Timer::Tick(Tick::JobStart));
        }
        // At their instants: a host restarted after a crash skips those already past (an
        // incident under way at the crash ends with it).
        let now = ctx.now().0;
        for s in &self.cfg.incidents.scheduled {
            if self.index < s.sources && (!ctx.is_restart() || s.at.0 >= now) {
                let length = s.length;
                ctx.set_timer(Duration(s.at.0 - now), Timer::Tick(Tick::Incident { length, random: false }));
            }
        }
        self.next_random_incident(ctx, Duration::ZERO);
    }

    fn next_random_incident(&mut self, ctx: &mut Ctx<'_, Node>, after: Duration) {
        if let Some(gap) = &self.cfg.incidents.gap {
            let gap = gap.sample(ctx.rng());
            let length = self.cfg.incidents.length.sample(ctx.rng());
            ctx.set_timer(after + gap, Timer::Tick(Tick::Incident { length, random: true }));
        }
    }

    fn ms(ctx: &Ctx<'_, Node>) -> u64 {
        ctx.now().0 / 1_000_000
    }

    /// The current value of metric `m`.
    fn value(&self, ctx: &mut Ctx<'_, Node>, m: u32) -> u32 {
        if m == 0 {
            if ctx.now() < self.high_until {
                ctx.rng().range_inclusive(85, 100) as u32
            } else {
                ctx.rng().range_inclusive(10, 40) as u32
            }
        } else {
            ctx.rng().below(1000) as u32
        }
    }

    fn samples(&mut self, ctx: &mut Ctx<'_, Node>) -> Vec<Sample> {
        let ts = Self::ms(ctx);
        let mut out = Vec::with_capacity(self.cfg.metrics_per_source as usize);
        for m in 0..self.cfg.metrics_per_source {
            let value = self.value(ctx, m);
            out.push(Sample { metric: metric_id(self.index, m), ts, value });
        }
        out
    }

    fn push(&mut self, ctx: &mut Ctx<'_, Node>, samples: Vec<Sample>) {
        self.record().emitted.extend_from_slice(&samples);
        let n = samples.len();
        let samples = Rc::new(samples);
        if let Err(done) = self.calls.call(ctx, self.lb, 0, |req| AppMsg::Push { req, samples }, n) {
            self.record().push_failed += done.data as u64;
        }
    }

    fn on_tick(&mut self, ctx: &mut Ctx<'_, Node>, t: Tick) {
        match t {
            Tick::Emit => {
                ctx.set_timer(self.cfg.sample_interval, Timer::Tick(Tick::Emit));
                let s = self.samples(ctx);
                self.push(ctx, s);
            }
            Tick::JobStart => {
                if let Some(every) = &self.cfg.short_jobs.every {
                    let after = every.sample(ctx.rng());
                    ctx.set_timer(after, Timer::Tick(Tick::JobStart));
                }
                let n = self.next_job;
                self.next_job += 1;
                self.jobs.insert(n, LiveJob { started: ctx.now(), scraped: false });
                self.record().jobs.started += 1;
                let life = self.cfg.short_jobs.life.sample(ctx.rng());
                ctx.set_timer(life, Timer::Tick(Tick::JobEnd(n)));
            }
            Tick::JobEnd(n) => {
                let Some(job) = self.jobs.remove(&n) else { return };
                let collected = !self.pull || job.scraped;
                {
                    let mut record = self.record();
                    let jobs = &mut record.jobs;
                    jobs.ended += 1;
                    jobs.collected += collected as u64;
                    jobs.missed += !collected as u64;
                }
                if !self.pull {
                    // A pushing job sends its result as it exits.
                    let value = (ctx.now().since(job.started).0 / 1_000_000).min(u32::MAX as u64) as u32;
                    let s = Sample { metric: job_metric(self.index, n), ts: Self::ms(ctx), value };
                    self.push(ctx, vec![s]);
                }
            }
            Tick::Incident { length, random } => {
                self.high_until = self.high_until.max(ctx.now() + length);
                if random {
                    self.next_random_incident(ctx, length);
                }
            }
            Tick::Scrape | Tick::Evaluate => {}
        }
    }

    /// A scrape: the current value of every metric, and of every live job.
    fn scraped(&mut self, ctx: &mut Ctx<'_, Node>, from: NodeId, req: ReqId) {
        let mut s = self.samples(ctx);
        let ts = Self::ms(ctx);
        for (&n, job) in self.jobs.iter_mut() {
            job.scraped = true;
            let value = (ctx.now().since(job.started).0 / 1_000_000).min(u32::MAX as u64) as u32;
            s.push(Sample { metric: job_metric(self.index, n), ts, value });
        }
        self.record().emitted.extend_from_slice(&s);
        ctx.send(from, Msg::App(AppMsg::Scraped { req, samples: Rc::new(s) }));
    }

    fn on_msg(&mut self, ctx: &mut Ctx<'_, Node>, from: NodeId, msg: Msg) {
        match msg {
            Msg::App(AppMsg::Scrape { req }) => self.scraped(ctx, from, req),
            Msg::App(AppMsg::Pushed { req }) => {
                if let Some(done) = self.calls.reply(ctx, req, Answer::Ok) {
                    self.push_done(done);
                }
            }
            _ => {}
        }
    }

    fn push_done(&mut self, done: Done<usize>) {
        if done.outcome != CallOutcome::Ok {
            self.record().push_failed += done.data as u64;
        }
    }
}

/// What a collector's call is for.
#[derive(Clone, Copy, Debug)]
pub enum CJob {
    Scrape,
    /// A direct write of this many samples.
    Write(usize),
}

/// Counts of a collector's work.
#[derive(Clone, Copy, Debug, Default)]
pub struct CollectorStats {
    pub scrapes: u64,
    pub scrapes_failed: u64,
    pub pushes: u64,
    /// Samples dropped after a direct write's retries were spent.
    pub dropped: u64,
    /// Samples whose produce to the log failed.
    pub produce_failed: u64,
}

/// A metrics collector: scrapes its pull targets, takes pushes, forwards every sample.
pub struct Collector {
    cfg: Rc<Config>,
    targets: Vec<NodeId>,
    calls: Calls<AppMsg, CJob>,
    scrape: ServiceId,
    tsdb: ServiceId,
    producer: Producer<()>,
    /// Every sample each collector accepted, by collector index (this one writes `index`'s): the
    /// world's record of what collectors took responsibility for, kept across their crashes.
    pub accepted: Rc<[RefCell<Vec<Sample>>]>,
    index: usize,
    pub stats: CollectorStats,
}

impl Collector {
    fn on_start(&mut self, ctx: &mut Ctx<'_, Node>) {
        self.producer.start(ctx);
        let phase = ctx.rng().below(self.cfg.scrape_interval.0.max(1));
        ctx.set_timer(Duration(phase), Timer::Tick(Tick::Scrape));
    }

    fn scrape_round(&mut self, ctx: &mut Ctx<'_, Node>) {
        ctx.set_timer(self.cfg.scrape_interval, Timer::Tick(Tick::Scrape));
        for i in 0..self.targets.len() {
            let to = self.targets[i];
            self.stats.scrapes += 1;
            if self.calls.call_to(ctx, self.scrape, to, |req| AppMsg::Scrape { req }, CJob::Scrape).is_err() {
                self.stats.scrapes_failed += 1;
            }
        }
    }

    /// Takes responsibility for `samples`: into the log, or straight to the TSDB.
    fn accept(&mut self, ctx: &mut Ctx<'_, Node>, samples: Rc<Vec<Sample>>) {
        self.accepted[self.index].borrow_mut().extend_from_slice(&samples);
        ctx.count_in("collect", "samples", samples.len() as u64);
        if self.cfg.queue {
            for s in samples.iter() {
                self.producer.produce(ctx, 0, s.metric, s.encode(), ());
            }
        } else {
            let n = samples.len();
            if let Err(done) = self.calls.call(ctx, self.tsdb, 0, |req| AppMsg::Write { req, samples }, CJob::Write(n))
            {
                self.on_done(ctx, done, None);
            }
        }
    }

    fn on_done(&mut self, ctx: &mut Ctx<'_, Node>, done: Done<CJob>, scraped: Option<Rc<Vec<Sample>>>) {
        let ok = done.outcome == CallOutcome::Ok;
        match done.data {
            CJob::Scrape => match scraped.filter(|_| ok) {
                Some(s) => self.accept(ctx, s),
                None => self.stats.scrapes_failed += 1,
            },
            CJob::Write(n) => {
                if !ok {
                    self.stats.dropped += n as u64;
                    ctx.count_in("collect", "dropped", n as u64);
                }
            }
        }
    }

    fn on_msg(&mut self, ctx: &mut Ctx<'_, Node>, from: NodeId, msg: Msg) {
        match msg {
            Msg::Log(m) => {
                if let Some(done) = self.producer.on_msg(ctx, &m) {
                    self.produced(done);
                }
            }
            Msg::App(AppMsg::Push { req, samples }) => {
                self.stats.pushes += 1;
                ctx.send(from, Msg::App(AppMsg::Pushed { req }));
                self.accept(ctx, samples);
            }
            Msg::App(AppMsg::Scraped { req, samples }) => {
                if let Some(done) = self.calls.reply(ctx, req, Answer::Ok) {
                    self.on_done(ctx, done, Some(samples));
                }
            }
            Msg::App(AppMsg::Written { req }) => {
                if let Some(done) = self.calls.reply(ctx, req, Answer::Ok) {
                    self.on_done(ctx, done, None);
                }
            }
            _ => {}
        }
    }

    fn produced(&mut self, done: log::Produced<()>) {
        if done.result.is_err() {
            self.stats.produce_failed += 1;
        }
    }

    fn on_timer(&mut self, ctx: &mut Ctx<'_, Node>, t: Timer) {
        match t {
            Timer::Log(t) => {
                if let Some(done) = self.producer.on_timer(ctx, t) {
                    self.produced(done);
                }
            }
            Timer::Call(t) => {
                if let Some(done) = self.calls.on_timer(ctx, t) {
                    self.on_done(ctx, done, None);
                }
            }
            Timer::Tick(Tick::Scrape) => self.scrape_round(ctx),
            Timer::Tick(_) => {}
        }
    }
}

/// A writer (the notes' consumer): log -> TSDB, one batch in flight, committed after the TSDB has it.
pub struct Writer {
    cfg: Rc<Config>,
    consumer: Consumer,
    calls: Calls<AppMsg, ()>,
    tsdb: ServiceId,
    inflight: Option<(Vec<Delivery>, Rc<Vec<Sample>>)>,
    pub writes: u64,
    pub retries: u64,
    /// The last write acknowledged before the first one that failed (its retries spent): about
    /// when the TSDB went away.
    pub first_failure: Option<Time>,
    last_ok: Time,
}

impl Writer {
    fn pump(&mut self, ctx: &mut Ctx<'_, Node>) {
        if self.inflight.is_some() {
            return;
        }
        let mut batch = Vec::new();
        while batch.len() < self.cfg.write_batch as usize {
            let Some(d) = self.consumer.poll(ctx) else { break };
            batch.push(d);
        }
        if batch.is_empty() {
            return;
        }
        let samples: Rc<Vec<Sample>> = Rc::new(batch.iter().map(|d| Sample::decode(d.rec.key, d.rec.value)).collect());
        self.inflight = Some((batch, samples));
        self.send(ctx);
    }

    fn send(&mut self, ctx: &mut Ctx<'_, Node>) {
        let Some((_, samples)) = &self.inflight else { return };
        let samples = samples.clone();
        self.writes += 1;
        if self.calls.call(ctx, self.tsdb, 0, |req| AppMsg::Write { req, samples }, ()).is_err() {
            unreachable!("one TSDB, no breaker, fail-open balancer: a call always starts");
        }
    }

    fn on_done(&mut self, ctx: &mut Ctx<'_, Node>, done: Done<()>) {
        if done.outcome == CallOutcome::Ok {
            self.last_ok = ctx.ledger_time();
            if let Some((batch, _)) = self.inflight.take() {
                for d in &batch {
                    self.consumer.done(d);
                }
            }
            self.pump(ctx);
        } else {
            // The TSDB is still down: the same batch again (nothing is dropped).
            self.retries += 1;
            self.first_failure.get_or_insert(self.last_ok);
            self.send(ctx);
        }
    }

    fn on_msg(&mut self, ctx: &mut Ctx<'_, Node>, msg: Msg) {
        match msg {
            Msg::Log(m) => match self.consumer.on_msg(ctx, &m) {
                Some(ConsumerEvent::Rebalanced { .. }) | Some(ConsumerEvent::Records) => self.pump(ctx),
                None => {}
            },
            Msg::App(AppMsg::Written { req }) => {
                if let Some(done) = self.calls.reply(ctx, req, Answer::Ok) {
                    self.on_done(ctx, done);
                }
            }
            _ => {}
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
                    self.on_done(ctx, done);
                }
            }
            Timer::Tick(_) => {}
        }
    }
}

/// The time-series database: samples by `(metric, timestamp)`, every write synced first.
pub struct Tsdb {
    pub series: BTreeMap<(u64, u64), u32>,
    pending: BTreeMap<WriteId, (NodeId, ReqId, Rc<Vec<Sample>>)>,
    /// When this incarnation started after a crash (`None`: never crashed).
    pub restarted_at: Option<Time>,
    /// Samples written again (already stored: at-least-once repeats).
    pub repeats: u64,
}

impl Tsdb {
    fn on_start(&mut self, ctx: &mut Ctx<'_, Node>) {
        if ctx.is_restart() {
            self.restarted_at = Some(ctx.ledger_time());
        }
        let recs: Vec<Rc<Vec<Sample>>> = ctx
            .durable()
            .iter()
            .filter_map(|r| match r {
                Rec::Samples(s) => Some(s.clone()),
                Rec::Log(_) => None,
            })
            .collect();
        for s in recs {
            self.apply(&s);
        }
        self.repeats = 0;
    }

    fn apply(&mut self, samples: &[Sample]) -> u64 {
        let mut new = 0;
        for s in samples {
            if self.series.insert((s.metric, s.ts), s.value).is_none() {
                new += 1;
            } else {
                self.repeats += 1;
            }
        }
        new
    }

    fn on_msg(&mut self, ctx: &mut Ctx<'_, Node>, from: NodeId, msg: Msg) {
        let Msg::App(m) = msg else { return };
        match m {
            AppMsg::Write { req, samples } => {
                let w = ctx.persist(Rec::Samples(samples.clone()));
                self.pending.insert(w, (from, req, samples));
            }
            AppMsg::Range { req, metric, from: lo, to } => {
                let samples: Vec<Sample> = self
                    .series
                    .range((metric, lo)..=(metric, to))
                    .map(|(&(metric, ts), &value)| Sample { metric, ts, value })
                    .collect();
                let fresh = self.series.range((metric, 0)..=(metric, u64::MAX)).next_back().map(|(&(_, ts), _)| ts);
                ctx.send(from, Msg::App(AppMsg::Ranged { req, samples: Rc::new(samples), fresh }));
            }
            _ => {}
        }
    }

    fn on_persisted(&mut self, ctx: &mut Ctx<'_, Node>, w: WriteId) {
        let Some((to, req, samples)) = self.pending.remove(&w) else { return };
        let new = self.apply(&samples);
        ctx.count_in("tsdb", "samples", new);
        ctx.send(to, Msg::App(AppMsg::Written { req }));
    }
}

/// The query server: dashboards' reads through a cache.
pub struct QueryServer {
    cfg: Rc<Config>,
    pub cache: Cache<u64>,
    calls: Calls<AppMsg, (NodeId, ReqId, u64)>,
    tsdb: ServiceId,
    pub failed: u64,
}

impl QueryServer {
    fn on_msg(&mut self, ctx: &mut Ctx<'_, Node>, from: NodeId, msg: Msg) {
        match msg {
            Msg::App(AppMsg::Query { req, metric }) => {
                if let Some(found) = self.cache.get(ctx.now(), metric) {
                    let points = found.value.copied();
                    ctx.send(from, Msg::App(AppMsg::Answered { req, points }));
                    return;
                }
                let now_ms = ctx.now().0 / 1_000_000;
                let lo = (now_ms + 1).saturating_sub(self.cfg.query.range.0 / 1_000_000);
                let call = self.calls.call(
                    ctx,
                    self.tsdb,
                    0,
                    |r| AppMsg::Range { req: r, metric, from: lo, to: now_ms },
                    (from, req, metric),
                );
                if let Err(done) = call {
                    self.on_done(ctx, done, None);
                }
            }
            Msg::App(AppMsg::Ranged { req, samples, .. }) => {
                if let Some(done) = self.calls.reply(ctx, req, Answer::Ok) {
                    self.on_done(ctx, done, Some(samples.len() as u64));
                }
            }
            _ => {}
        }
    }

    fn on_done(&mut self, ctx: &mut Ctx<'_, Node>, done: Done<(NodeId, ReqId, u64)>, points: Option<u64>) {
        let (client, req, metric) = done.data;
        let points = points.filter(|_| done.outcome == CallOutcome::Ok);
        match points {
            Some(n) => {
                self.cache.put(ctx.now(), metric, n, 64);
            }
            None => self.failed += 1,
        }
        ctx.send(client, Msg::App(AppMsg::Answered { req, points }));
    }
}

/// One alert that fired: the host, the evaluation instant (ms of sample time) and when (true time).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Firing {
    pub source: u32,
    pub instant: u64,
    pub at: Time,
}

/// The state of one host's rule.
#[derive(Clone, Debug)]
pub struct RuleState {
    pub source: u32,
    /// The next instant to evaluate (ms).
    pub next: u64,
    /// The first instant of the current run of instants whose condition holds.
    pub pending_since: Option<u64>,
    pub firing: bool,
    busy: bool,
}

/// Whether `avg(values) > threshold` (integers: no rounding differs between implementations).
pub fn above(sum: u64, count: u64, threshold: u32) -> bool {
    count > 0 && sum > threshold as u64 * count
}

impl RuleState {
    /// Evaluates every instant the samples cover (`samples`: the series from `next - window`
    /// on, in time order; `fresh`: its latest timestamp); the alerts fired, as instants.
    pub fn evaluate(&mut self, r: &RuleSpec, samples: &[Sample], fresh: u64, fired: &mut Vec<u64>, resolved: &mut u64) {
        let (eval, window, grace, hold) =
            (r.eval_interval.0 / 1_000_000, r.window.0 / 1_000_000, r.grace.0 / 1_000_000, r.hold.0 / 1_000_000);
        while self.next + grace <= fresh {
            let e = self.next;
            // The window `(e - window, e]`, as the oracle takes it: before `window` has passed it
            // reaches back past 0, and a sample at 0 is in it.
            let (sum, count) = samples
                .iter()
                .filter(|s| s.ts + window > e && s.ts <= e)
                .fold((0u64, 0u64), |(s, c), x| (s + x.value as u64, c + 1));
            if above(sum, count, r.threshold) {
                let since = *self.pending_since.get_or_insert(e);
                if !self.firing && e - since >= hold {
                    self.firing = true;
                    fired.push(e);
                }
            } else {
                self.pending_since = None;
                if self.firing {
                    self.firing = false;
                    *resolved += 1;
                }
            }
            self.next += eval.max(1);
        }
    }
}

/// The alert manager: one rule per host, evaluated over the TSDB.
pub struct AlertManager {
    cfg: Rc<Config>,
    pub rules: Vec<RuleState>,
    calls: Calls<AppMsg, usize>,
    tsdb: ServiceId,
    /// The alerts fired, kept across the manager's crashes (a page that went out stays sent; a
    /// restarted manager that fires an episode again adds a second firing).
    pub firings: Rc<RefCell<Vec<Firing>>>,
    pub resolved: u64,
    pub reads_failed: u64,
}

impl AlertManager {
    fn round(&mut self, ctx: &mut Ctx<'_, Node>) {
        ctx.set_timer(self.cfg.rule.eval_interval, Timer::Tick(Tick::Evaluate));
        let window = self.cfg.rule.window.0 / 1_000_000;
        for i in 0..self.rules.len() {
            if self.rules[i].busy {
                continue;
            }
            let r = &mut self.rules[i];
            r.busy = true;
            let (metric, from) = (metric_id(r.source, 0), (r.next + 1).saturating_sub(window));
            let call = self.calls.call(ctx, self.tsdb, 0, |req| AppMsg::Range { req, metric, from, to: u64::MAX }, i);
            if let Err(done) = call {
                self.on_done(ctx, done, None);
            }
        }
    }

    fn on_done(&mut self, ctx: &mut Ctx<'_, Node>, done: Done<usize>, got: Option<(Rc<Vec<Sample>>, Option<u64>)>) {
        let i = done.data;
        self.rules[i].busy = false;
        let Some((samples, fresh)) = got.filter(|_| done.outcome == CallOutcome::Ok) else {
            self.reads_failed += 1;
            return;
        };
        let Some(fresh) = fresh else { return };
        let mut fired = Vec::new();
        let rule = &mut self.rules[i];
        rule.evaluate(&self.cfg.rule, &samples, fresh, &mut fired, &mut self.resolved);
        for instant in fired {
            ctx.count_in("alerts", "fired", 1);
            self.firings.borrow_mut().push(Firing { source: rule.source, instant, at: ctx.ledger_time() });
        }
    }

    fn on_msg(&mut self, ctx: &mut Ctx<'_, Node>, msg: Msg) {
        if let Msg::App(AppMsg::Ranged { req, samples, fresh }) = msg
            && let Some(done) = self.calls.reply(ctx, req, Answer::Ok)
        {
            self.on_done(ctx, done, Some((samples, fresh)));
        }
    }
}

/// A dashboard: the workload's queries.
pub struct Dashboard {
    calls: OpCalls<AppMsg>,
    sources: u32,
}

pub enum Node {
    Coordinator(Box<Coordinator>),
    Broker(Box<Broker>),
    Collector(Box<Collector>),
    Writer(Box<Writer>),
    Tsdb(Box<Tsdb>),
    Query(Box<QueryServer>),
    Alerts(Box<AlertManager>),
    Source(Box<Source>),
    Dashboard(Box<Dashboard>),
}

impl Actor for Node {
    type Msg = Msg;
    type Timer = Timer;
    type Record = Rec;

    fn on_start(&mut self, ctx: &mut Ctx<'_, Self>) {
        match self {
            Node::Coordinator(c) => c.start(ctx, log_rec),
            Node::Broker(b) => b.start(ctx, log_rec),
            Node::Collector(c) => c.on_start(ctx),
            Node::Writer(w) => {
                if w.cfg.queue {
                    w.consumer.join(ctx);
                }
            }
            Node::Tsdb(t) => t.on_start(ctx),
            Node::Alerts(a) => {
                ctx.set_timer(a.cfg.rule.eval_interval, Timer::Tick(Tick::Evaluate));
            }
            Node::Source(s) => s.on_start(ctx),
            Node::Query(_) | Node::Dashboard(_) => {}
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
            Node::Collector(c) => c.on_msg(ctx, from, msg),
            Node::Writer(w) => w.on_msg(ctx, msg),
            Node::Tsdb(t) => t.on_msg(ctx, from, msg),
            Node::Query(q) => q.on_msg(ctx, from, msg),
            Node::Alerts(a) => a.on_msg(ctx, msg),
            Node::Source(s) => s.on_msg(ctx, from, msg),
            Node::Dashboard(d) => {
                if let Msg::App(AppMsg::Answered { req, points }) = msg {
                    let (outcome, reply) = match points {
                        Some(n) => (Outcome::Ok, Reply::Value(n)),
                        None => (Outcome::Fail, Reply::None),
                    };
                    d.calls.answered(ctx, req, outcome, reply);
                }
            }
        }
    }

    fn on_timer(&mut self, ctx: &mut Ctx<'_, Self>, t: Timer) {
        match (self, t) {
            (Node::Coordinator(c), Timer::Log(t)) => c.on_timer(ctx, t),
            (Node::Broker(b), Timer::Log(t)) => b.on_timer(ctx, t),
            (Node::Collector(c), t) => c.on_timer(ctx, t),
            (Node::Writer(w), t) => w.on_timer(ctx, t),
            (Node::Query(q), Timer::Call(t)) => {
                if let Some(done) = q.calls.on_timer(ctx, t) {
                    q.on_done(ctx, done, None);
                }
            }
            (Node::Alerts(a), Timer::Call(t)) => {
                if let Some(done) = a.calls.on_timer(ctx, t) {
                    a.on_done(ctx, done, None);
                }
            }
            (Node::Alerts(a), Timer::Tick(Tick::Evaluate)) => a.round(ctx),
            (Node::Source(s), Timer::Call(t)) => {
                if let Some(done) = s.calls.on_timer(ctx, t) {
                    s.push_done(done);
                }
            }
            (Node::Source(s), Timer::Tick(t)) => s.on_tick(ctx, t),
            (Node::Dashboard(d), Timer::Call(t)) => d.calls.on_timer(ctx, t),
            _ => {}
        }
    }

    fn on_op(&mut self, ctx: &mut Ctx<'_, Self>, op: Op) {
        match self {
            Node::Dashboard(d) => {
                let metric = metric_id((op.key % d.sources.max(1) as u64) as u32, 0);
                d.calls.call(ctx, op.key, |req| AppMsg::Query { req, metric }, op.id);
            }
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
            Node::Tsdb(t) => t.on_persisted(ctx, w),
            _ => {}
        }
    }
}

/// Where each role lives.
#[derive(Clone, Debug)]
pub struct Layout {
    pub coordinator: NodeId,
    pub brokers: Vec<NodeId>,
    pub collectors: Vec<NodeId>,
    pub writers: Vec<NodeId>,
    pub tsdb: NodeId,
    pub query: NodeId,
    pub alerts: NodeId,
    pub sources: Vec<NodeId>,
}

impl Layout {
    /// Servers before the sources.
    pub fn fixed(c: &Config) -> usize {
        (1 + c.brokers + c.collectors + c.writers + 3) as usize
    }

    pub fn new(c: &Config, topo: &Topology) -> Layout {
        let s = &topo.servers;
        let (b, k, w) = (c.brokers as usize, c.collectors as usize, c.writers as usize);
        let t = 1 + b + k + w;
        Layout {
            coordinator: s[0],
            brokers: s[1..=b].to_vec(),
            collectors: s[1 + b..1 + b + k].to_vec(),
            writers: s[1 + b + k..t].to_vec(),
            tsdb: s[t],
            query: s[t + 1],
            alerts: s[t + 2],
            sources: s[t + 3..].to_vec(),
        }
    }
}

pub struct Monitoring;

/// The checks the design reports (see [`check`]).
pub const CHECKS: &[&str] = &["no_sample_lost", "alert_timely", "no_false_alerts"];

fn health() -> HealthSpec {
    HealthSpec { fail_open: true, ..HealthSpec::default() }
}

impl Model for Monitoring {
    const NAME: &'static str = "monitoring";
    const ABOUT: &'static str = "metric sources (pull scrapes, push through an LB) -> collectors -> log -> writers -> TSDB (can be down); query server with a cache; alert rules with a window and `for`";
    const OP_KINDS: &'static [&'static str] = &["query"];
    const TRANSPORT: sim_core::net::Transport = sim_core::net::Transport::Connection;
    const CHECKS: &'static [&'static str] = CHECKS;
    const PROGRESS_CHECKS: &'static [&'static str] = &["no_sample_lost"];
    type Config = Config;
    type Actor = Node;

    fn validate(c: &Config, topo: &Topology) -> Vec<(String, String)> {
        let mut e = Vec::new();
        if c.brokers == 0 {
            e.push(("config.brokers".into(), "needs at least one broker".into()));
        }
        if c.collectors == 0 {
            e.push(("config.collectors".into(), "needs at least one collector".into()));
        }
        if c.writers == 0 {
            e.push(("config.writers".into(), "needs at least one writer".into()));
        }
        let need = Layout::fixed(c) + 1;
        if topo.servers.len() < need {
            e.push((
                "topology.servers".into(),
                format!(
                    "needs 1 + brokers + collectors + writers + 3 (TSDB, query server, alert manager) + at least one source = {need}, got {}",
                    topo.servers.len()
                ),
            ));
        } else if c.pull_sources as usize > topo.servers.len() - Layout::fixed(c) {
            e.push((
                "config.pull_sources".into(),
                format!("more than the {} sources the servers leave", topo.servers.len() - Layout::fixed(c)),
            ));
        }
        if topo.clients.is_empty() {
            e.push(("topology.clients".into(), "needs at least one client (the dashboards)".into()));
        }
        if c.metrics_per_source == 0 || c.metrics_per_source > 1 << 20 {
            e.push((
                "config.metrics_per_source".into(),
                format!("must be within [1, 1,048,576], got {}", c.metrics_per_source),
            ));
        }
        for (name, d) in [
            ("sample_interval", c.sample_interval),
            ("scrape_interval", c.scrape_interval),
            ("rule.eval_interval", c.rule.eval_interval),
            ("rule.window", c.rule.window),
        ] {
            if d.0 < 1_000_000 {
                e.push((format!("config.{name}"), "must be at least 1ms".into()));
            }
        }
        if c.write_batch == 0 {
            e.push(("config.write_batch".into(), "must be at least 1".into()));
        }
        e.extend(c.log.validate("config.log", c.brokers.max(1)));
        e.extend(c.query.cache.validate("config.query.cache"));
        for (name, p) in [
            ("push_call", &c.push_call),
            ("scrape_call", &c.scrape_call),
            ("direct_write", &c.direct_write),
            ("writer_call", &c.writer_call),
            ("rule_call", &c.rule_call),
            ("query.call", &c.query.call),
            ("query.tsdb_call", &c.query.tsdb_call),
        ] {
            e.extend(p.validate(&format!("config.{name}")));
            if p.breaker.is_some() {
                e.push((format!("config.{name}.breaker"), "not modelled here: no breaker".into()));
            }
        }
        e
    }

    fn validate_schedule(_c: &Config, run_end: Duration) -> Vec<(String, String)> {
        // Timestamps travel in the log as 32-bit milliseconds.
        if run_end.0 / 1_000_000 > u32::MAX as u64 {
            vec![("duration".into(), "at most 49 days (timestamps are 32-bit milliseconds)".into())]
        } else {
            Vec::new()
        }
    }

    /// Per sample: its log entry on every replica (~180 B a copy, with the replication batches'
    /// copies and the TSDB's durable record) and ~7 events through the log (measured: 7.2 a
    /// sample on `monitoring_large.ron`, 6.3 on `monitoring.ron`, the operations' 8 taken out;
    /// 13, adclick's figure for the same log part, was 1.8 times the events), 16 B in the TSDB and 16 B in a collector's and a
    /// source's record. The 180 B is measured: `monitoring_large.ron` at 5, 10 and 15 minutes used
    /// 124.5, 224.7 and 325.5 MB (release build, peak RSS less the RSS at start) for 165, 315 and
    /// 465 thousand samples, 670 B a sample, of which ~74 B the report series (estimated apart).
    /// At 120 B a copy (adclick's figure) the estimate was 0.62-0.70 of what the run used.
    fn footprint(c: &Config, topo: &Topology, load: &sim_core::cost::Load) -> sim_core::cost::Footprint {
        let sources = topo.servers.len().saturating_sub(Layout::fixed(c)) as f64;
        let per_s = sources * c.metrics_per_source as f64 / (c.sample_interval.0.min(c.scrape_interval.0) as f64 / 1e9);
        let samples = per_s * load.run_s;
        let log = if c.queue { samples * c.log.replication as f64 * 180.0 } else { 0.0 };
        sim_core::cost::Footprint {
            events: samples * if c.queue { 7.0 } else { 1.0 } + load.total() * 6.0,
            queued: load.in_flight * 4.0,
            ..Default::default()
        }
        .part(format!("log: {samples} samples x {} replicas x 180 B", c.log.replication, samples = count(samples)), log)
        .part(
            format!("TSDB, collectors and sources: {samples} samples x 48 B", samples = count(samples)),
            samples * 48.0,
        )
    }

    fn factory(c: &Config, topo: &Topology, _setup: &mut Prng) -> Box<dyn FnMut(NodeId) -> Node> {
        let l = Layout::new(c, topo);
        // One record per host, handed to each of its incarnations.
        let ledger: Rc<[RefCell<SourceRecord>]> = l.sources.iter().map(|_| RefCell::default()).collect();
        let accepted: Rc<[RefCell<Vec<Sample>>]> = l.collectors.iter().map(|_| RefCell::default()).collect();
        let firings: Rc<RefCell<Vec<Firing>>> = Rc::default();
        let cluster = Rc::new(Cluster::new(c.log.clone(), l.coordinator, l.brokers.clone()));
        let cfg = Rc::new(c.clone());
        let pull: Vec<NodeId> = l.sources[..c.pull_sources as usize].to_vec();
        Box::new(move |n| {
            if n == l.coordinator {
                Node::Coordinator(Box::new(Coordinator::new(cluster.clone(), "log")))
            } else if l.brokers.contains(&n) {
                Node::Broker(Box::new(Broker::new(cluster.clone(), "log", n)))
            } else if let Some(i) = l.collectors.iter().position(|&x| x == n) {
                let k = l.collectors.len();
                let targets: Vec<NodeId> =
                    pull.iter().enumerate().filter(|(j, _)| j % k == i).map(|(_, &s)| s).collect();
                let mut calls = Calls::new();
                let scrape = calls.add("scrape", &targets, cfg.scrape_call.clone(), Policy::RoundRobin, health());
                let tsdb = calls.add("direct_write", &[l.tsdb], cfg.direct_write.clone(), Policy::RoundRobin, health());
                Node::Collector(Box::new(Collector {
                    cfg: cfg.clone(),
                    targets,
                    calls,
                    scrape,
                    tsdb,
                    producer: Producer::new(cluster.clone(), "log"),
                    accepted: accepted.clone(),
                    index: i,
                    stats: CollectorStats::default(),
                }))
            } else if l.writers.contains(&n) {
                let mut calls = Calls::new();
                let tsdb = calls.add("tsdb_write", &[l.tsdb], cfg.writer_call.clone(), Policy::RoundRobin, health());
                Node::Writer(Box::new(Writer {
                    cfg: cfg.clone(),
                    consumer: Consumer::new(cluster.clone(), "log", 0, 0),
                    calls,
                    tsdb,
                    inflight: None,
                    writes: 0,
                    retries: 0,
                    first_failure: None,
                    last_ok: Time(0),
                }))
            } else if n == l.tsdb {
                Node::Tsdb(Box::new(Tsdb {
                    series: BTreeMap::new(),
                    pending: BTreeMap::new(),
                    restarted_at: None,
                    repeats: 0,
                }))
            } else if n == l.query {
                let mut calls = Calls::new();
                let tsdb = calls.add("tsdb_read", &[l.tsdb], cfg.query.tsdb_call.clone(), Policy::RoundRobin, health());
                Node::Query(Box::new(QueryServer {
                    cfg: cfg.clone(),
                    cache: Cache::new(cfg.query.cache.clone()),
                    calls,
                    tsdb,
                    failed: 0,
                }))
            } else if n == l.alerts {
                let mut calls = Calls::new();
                let tsdb = calls.add("rule_read", &[l.tsdb], cfg.rule_call.clone(), Policy::RoundRobin, health());
                let first = cfg.rule.eval_interval.0 / 1_000_000;
                let rules = (0..l.sources.len() as u32)
                    .map(|source| RuleState { source, next: first, pending_since: None, firing: false, busy: false })
                    .collect();
                Node::Alerts(Box::new(AlertManager {
                    cfg: cfg.clone(),
                    rules,
                    calls,
                    tsdb,
                    firings: firings.clone(),
                    resolved: 0,
                    reads_failed: 0,
                }))
            } else if let Some(i) = l.sources.iter().position(|&x| x == n) {
                let mut calls = Calls::new();
                let lb = calls.add("push", &l.collectors, cfg.push_call.clone(), Policy::RoundRobin, health());
                Node::Source(Box::new(Source {
                    index: i as u32,
                    pull: i < cfg.pull_sources as usize,
                    cfg: cfg.clone(),
                    calls,
                    lb,
                    high_until: Time(0),
                    jobs: BTreeMap::new(),
                    next_job: 0,
                    ledger: ledger.clone(),
                }))
            } else {
                Node::Dashboard(Box::new(Dashboard {
                    calls: OpCalls::new("dashboard", &[l.query], cfg.query.call.clone(), Policy::RoundRobin),
                    sources: l.sources.len() as u32,
                }))
            }
        })
    }

    fn report(c: &Config, run: &RunView<'_, Node>) -> ModelReport {
        check::report(c, run)
    }
}
