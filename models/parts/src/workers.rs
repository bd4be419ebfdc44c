//! A pool of workers with an autoscaler: worker nodes pull jobs from a queue (a consumer group of
//! [`crate::log`], or anything the design feeds them), each job holding a worker slot for a
//! service time; a [`Scaler`] decides every `interval` how many workers should run, starts new
//! ones (which serve only after a provisioning delay: the cold start) and drains surplus ones.
//!
//! ## Roles
//!
//! - [`Worker`] lives on each worker node (a VM or pod of an autoscaling group): its lifecycle
//!   `Off -> Starting -> Up -> Draining -> Off`, and a [`Pool`] of `concurrency` slots that runs
//!   its jobs with service times from a distribution. It reports its state and its busy time to the
//!   scaler every `status_every`. The design pulls a job when [`Worker::accepting`] (Up with a free
//!   slot), submits it, and gets it back from [`Worker::on_pool_timer`] when served.
//! - [`Scaler`] lives on a control node (with the queue's coordinator, which knows the backlog).
//!   Every `interval` it recommends a count: `ceil(backlog / per_worker)` for
//!   `Target::Backlog(per_worker)`, or `ceil(up * utilisation / target)` for
//!   `Target::Utilisation(target)` (Kubernetes' HPA rule; utilisation = busy time over slot time
//!   of the Up workers since the last decision). Scaling out follows the recommendation at once;
//!   scaling in takes the highest recommendation of the last `scale_in_window` (HPA's downscale
//!   stabilisation, so a dip does not throw away warm workers). The result is clamped to
//!   `[min, max]`. Starting a worker sends it `Start` with a provisioning delay drawn from
//!   `provisioning`; stopping one sends `Drain` (a worker still starting is stopped first).
//!
//! ## Semantics
//!
//! - **Scale-in drains.** A draining worker takes no new job; the design lets its jobs in progress
//!   finish (and their results land), commits, leaves the queue, then calls [`Worker::stopped`].
//! - **A crash loses the job in progress** with the node: the design must not have acknowledged it
//!   to the queue, so the queue delivers it again (at-least-once; with the log, after the group's
//!   rebalance, from the committed offset). The scaler notices the silence after
//!   `session_timeout` (or the restarted node's report) and counts the worker lost; the next
//!   decision starts a replacement if the count is below the recommendation.
//! - **The scaler's own stall is not its workers' silence.** After a pause of the scaler's node
//!   its first decision runs before the reports that waited behind it; a decision late by `d`
//!   counts a worker lost only after `session_timeout + d` of silence (counter `scope.stalls`:
//!   decisions that spared a worker so). Without it, a 3 s pause starting within a report period
//!   of a decision counted every worker lost and started as many again.
//! - **Workers beyond the queue's partitions idle**: with the log, one consumer owns a partition,
//!   so `max` above the partition count buys nothing.
//! - Commands carry a sequence number and reports the last one applied, so a report sent before a
//!   command does not undo it; a report from a new incarnation of a node is believed at once.
//!
//! ## Knobs
//!
//! [`ScalerSpec`]:
//! ```ron
//! (min: 2, max: 16, initial: 2, target: Backlog(200.0), interval: "2s",
//!  provisioning: Constant("5s"), scale_in_window: "10s", session_timeout: "2s")
//! ```
//! [`WorkerSpec`]:
//! ```ron
//! (concurrency: 1, service: Exponential(mean: "10ms"), status_every: "500ms")
//! ```
//!
//! ## Measures
//!
//! Levels (plotted): `scope.up` (workers serving), `scope.starting` (in their cold start),
//! `scope.desired` (the scaler's last decision) and, from the pool, `scope.busy` (slots busy).
//! Counters: `scope.started`, `scope.drained`, `scope.lost`, `scope.stalls`, `scope.completed`. [`WorkerStats`]
//! and [`ScalerStats`] sum over nodes.
//!
//! ## Invariants
//!
//! After every decision the workers starting or up number between `min` and `max` (a crash may
//! take the count below `min` until the next decision); a worker serves only after its
//! provisioning delay; a worker takes no job unless Up with a free slot.

use crate::pool::{Pool, PoolSpec, PoolStats, PoolTimer};
use serde::{Deserialize, Serialize};
use sim_core::{Actor, Ctx, Dist, Duration, Message, NodeId, Time};
use std::collections::VecDeque;

/// What the scaler aims at.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub enum Target {
    /// Mean busy fraction of the Up workers' slots, in (0, 1].
    Utilisation(f64),
    /// Backlog (queued jobs, or consumer lag) per worker.
    Backlog(f64),
}

impl Target {
    /// The recommended count: `up` workers serving at `utilisation`, `backlog` waiting, and
    /// `active` (starting or up) workers now.
    pub fn recommend(&self, backlog: u64, utilisation: f64, up: u32, active: u32) -> u32 {
        let r = match *self {
            Target::Backlog(per) => (backlog as f64 / per).ceil(),
            Target::Utilisation(_) if up == 0 => active as f64,
            Target::Utilisation(t) => (up as f64 * utilisation / t).ceil(),
        };
        r.clamp(0.0, 1e6) as u32
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ScalerSpec {
    pub min: u32,
    pub max: u32,
    /// Workers up (warm) at the start.
    pub initial: u32,
    pub target: Target,
    /// Time between decisions.
    pub interval: Duration,
    /// The cold start: from `Start` until the worker serves.
    pub provisioning: Dist,
    /// Scale in to the highest recommendation over this window (zero: at once).
    pub scale_in_window: Duration,
    /// A worker not heard from for this long is gone.
    pub session_timeout: Duration,
}

impl Default for ScalerSpec {
    fn default() -> Self {
        ScalerSpec {
            min: 1,
            max: 8,
            initial: 1,
            target: Target::Utilisation(0.7),
            interval: Duration::from_secs(2),
            provisioning: Dist::Constant(Duration::from_secs(5)),
            scale_in_window: Duration::from_secs(10),
            session_timeout: Duration::from_secs(2),
        }
    }
}

impl ScalerSpec {
    /// `workers`: how many worker nodes the design has (the ceiling of `max`).
    pub fn validate(&self, path: &str, workers: u32) -> Vec<(String, String)> {
        let mut e = Vec::new();
        if self.max == 0 || self.max > workers {
            e.push((
                format!("{path}.max"),
                format!("must be within [1, {workers}] (the worker nodes), got {}", self.max),
            ));
        }
        if self.min > self.max {
            e.push((format!("{path}.min"), format!("must be at most max = {}, got {}", self.max, self.min)));
        }
        if self.initial < self.min || self.initial > self.max {
            e.push((
                format!("{path}.initial"),
                format!("must be within [min, max] = [{}, {}], got {}", self.min, self.max, self.initial),
            ));
        }
        match self.target {
            Target::Utilisation(u) if !(u > 0.0 && u <= 1.0) => {
                e.push((format!("{path}.target"), format!("a utilisation target must be within (0, 1], got {u}")))
            }
            Target::Backlog(b) if !(b > 0.0 && b.is_finite()) => {
                e.push((format!("{path}.target"), format!("a backlog per worker must be positive, got {b}")))
            }
            _ => {}
        }
        if let Err(m) = self.provisioning.validate() {
            e.push((format!("{path}.provisioning"), m));
        }
        for (name, d) in [("interval", self.interval), ("session_timeout", self.session_timeout)] {
            if d == Duration::ZERO {
                e.push((format!("{path}.{name}"), "must be positive".into()));
            }
        }
        e
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct WorkerSpec {
    /// Jobs one worker runs at once.
    pub concurrency: u32,
    /// A job's service time.
    pub service: Dist,
    /// How often a worker reports to the scaler.
    pub status_every: Duration,
}

impl Default for WorkerSpec {
    fn default() -> Self {
        WorkerSpec {
            concurrency: 1,
            service: Dist::Constant(Duration::from_millis(10)),
            status_every: Duration::from_millis(500),
        }
    }
}

impl WorkerSpec {
    pub fn validate(&self, path: &str) -> Vec<(String, String)> {
        let mut e = Vec::new();
        if self.concurrency == 0 || self.concurrency > 100_000 {
            e.push((format!("{path}.concurrency"), format!("must be within [1, 100,000], got {}", self.concurrency)));
        }
        if let Err(m) = self.service.validate() {
            e.push((format!("{path}.service"), m));
        }
        if self.status_every == Duration::ZERO {
            e.push((format!("{path}.status_every"), "must be positive".into()));
        }
        e
    }
}

/// A worker's lifecycle.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord)]
pub enum State {
    #[default]
    Off,
    Starting,
    Up,
    Draining,
}

#[derive(Clone, Debug, PartialEq)]
pub enum Msg {
    /// Scaler to worker: start, serving after `after` (the cold start; zero for a warm start).
    Start { seq: u64, after: Duration },
    /// Scaler to worker: finish what you have and stop.
    Drain { seq: u64 },
    /// Worker to scaler: its incarnation, state, the last command applied, and its busy slot
    /// time so far.
    Status { inc: u64, state: State, seq: u64, busy_ns: u64, slots: u32 },
}

impl Message for Msg {
    fn kind(&self) -> &'static str {
        match self {
            Msg::Start { .. } => "workers_start",
            Msg::Drain { .. } => "workers_drain",
            Msg::Status { .. } => "workers_status",
        }
    }
    fn size_bytes(&self) -> u64 {
        64
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Timer {
    /// The scaler's decision.
    Decide,
    /// A worker's cold start is over (tagged with the command that started it).
    Provisioned(u64),
    /// A worker's report.
    Status,
}

/// What a worker tells its design.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WorkerEvent {
    /// Serving: join the queue and pull jobs.
    Up,
    /// Draining: take no new job; call [`Worker::stopped`] once the jobs in progress are done.
    Draining,
}

#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct WorkerStats {
    pub starts: u64,
    pub cold_starts: u64,
    pub drains: u64,
    pub pool: PoolStats,
}

impl WorkerStats {
    pub fn add(&mut self, o: &WorkerStats) {
        self.starts += o.starts;
        self.cold_starts += o.cold_starts;
        self.drains += o.drains;
        self.pool.add(&o.pool);
    }
}

/// A host actor that can carry the workers' messages and timers and a pool's timers.
pub trait WorkerHost: Actor<Msg: From<Msg>, Timer: From<Timer> + From<PoolTimer>> {}
impl<A> WorkerHost for A
where
    A: Actor,
    A::Msg: From<Msg>,
    A::Timer: From<Timer> + From<PoolTimer>,
{
}

/// One worker node's lifecycle and its slots; `J` is the design's job.
#[derive(Debug)]
pub struct Worker<J> {
    scope: &'static str,
    spec: WorkerSpec,
    scaler: NodeId,
    inc: u64,
    state: State,
    seq: u64,
    pool: Pool<J>,
    pub stats: WorkerStats,
}

impl<J> Worker<J> {
    pub fn new(scope: &'static str, spec: WorkerSpec, scaler: NodeId) -> Worker<J> {
        let pool =
            PoolSpec { concurrency: spec.concurrency, queue: 0, service: spec.service.clone(), ..PoolSpec::default() };
        Worker {
            scope,
            spec,
            scaler,
            inc: 0,
            state: State::Off,
            seq: 0,
            pool: Pool::new(scope, pool).with_busy_level(),
            stats: WorkerStats::default(),
        }
    }

    pub fn state(&self) -> State {
        self.state
    }

    /// Up with a free slot: the design may submit a job.
    pub fn accepting(&self) -> bool {
        self.state == State::Up && (self.pool.busy() as u32) < self.spec.concurrency
    }

    /// Jobs in service.
    pub fn busy(&self) -> usize {
        self.pool.busy()
    }

    /// Starts the status loop (the node is Off until the scaler starts it).
    pub fn start<A: WorkerHost>(&mut self, ctx: &mut Ctx<'_, A>) {
        self.inc = ctx.rng().next_u64();
        self.report(ctx);
        ctx.set_timer(self.spec.status_every, A::Timer::from(Timer::Status));
    }

    fn report<A: WorkerHost>(&self, ctx: &mut Ctx<'_, A>) {
        let busy_ns = (self.pool.stats.busy_ns.min(u64::MAX as u128)) as u64;
        let m = Msg::Status { inc: self.inc, state: self.state, seq: self.seq, busy_ns, slots: self.spec.concurrency };
        ctx.send(self.scaler, A::Msg::from(m));
    }

    fn set_state<A: WorkerHost>(&mut self, ctx: &mut Ctx<'_, A>, to: State) {
        let level = |s: State| match s {
            State::Starting => Some("starting"),
            State::Up => Some("up"),
            State::Off | State::Draining => None,
        };
        if let Some(l) = level(self.state) {
            ctx.level(self.scope, l, -1);
        }
        if let Some(l) = level(to) {
            ctx.level(self.scope, l, 1);
        }
        self.state = to;
    }

    pub fn on_msg<A: WorkerHost>(&mut self, ctx: &mut Ctx<'_, A>, msg: &Msg) -> Option<WorkerEvent> {
        let event = match *msg {
            Msg::Start { seq, after } if seq > self.seq => {
                self.seq = seq;
                match self.state {
                    State::Off if after == Duration::ZERO => {
                        self.stats.starts += 1;
                        ctx.count_in(self.scope, "started", 1);
                        self.set_state(ctx, State::Up);
                        Some(WorkerEvent::Up)
                    }
                    State::Off => {
                        self.stats.starts += 1;
                        self.stats.cold_starts += 1;
                        ctx.count_in(self.scope, "started", 1);
                        self.set_state(ctx, State::Starting);
                        ctx.set_timer(after, A::Timer::from(Timer::Provisioned(seq)));
                        None
                    }
                    // The scaler starts only workers it sees Off.
                    State::Starting | State::Up | State::Draining => None,
                }
            }
            Msg::Drain { seq } if seq > self.seq => {
                self.seq = seq;
                match self.state {
                    State::Starting => {
                        self.set_state(ctx, State::Off);
                        None
                    }
                    State::Up => {
                        self.stats.drains += 1;
                        ctx.count_in(self.scope, "drained", 1);
                        self.set_state(ctx, State::Draining);
                        Some(WorkerEvent::Draining)
                    }
                    State::Off | State::Draining => None,
                }
            }
            _ => return None,
        };
        self.report(ctx);
        event
    }

    pub fn on_timer<A: WorkerHost>(&mut self, ctx: &mut Ctx<'_, A>, t: Timer) -> Option<WorkerEvent> {
        match t {
            Timer::Provisioned(seq) if seq == self.seq && self.state == State::Starting => {
                self.set_state(ctx, State::Up);
                self.report(ctx);
                Some(WorkerEvent::Up)
            }
            Timer::Status => {
                self.report(ctx);
                ctx.set_timer(self.spec.status_every, A::Timer::from(Timer::Status));
                None
            }
            _ => None,
        }
    }

    /// Runs `job` on a free slot (the design checked [`Worker::accepting`]), for a service time
    /// drawn from the spec's `service`.
    pub fn submit<A: WorkerHost>(&mut self, ctx: &mut Ctx<'_, A>, job: J) {
        let service = self.spec.service.sample(ctx.rng());
        self.submit_for(ctx, job, service);
    }

    /// Runs `job` on a free slot for `service` (the design knows the job's cost: a judge's run
    /// time per language and problem, a transcode per bitrate).
    pub fn submit_for<A: WorkerHost>(&mut self, ctx: &mut Ctx<'_, A>, job: J, service: Duration) {
        assert!(self.accepting(), "a job submitted to a worker that is not accepting");
        let admitted = self.pool.submit_for(ctx, job, service);
        debug_assert!(matches!(admitted, crate::pool::Admit::Started), "a free slot takes the job at once");
    }

    /// A job's service is over: the job.
    pub fn on_pool_timer<A: WorkerHost>(&mut self, ctx: &mut Ctx<'_, A>, t: PoolTimer) -> Option<J> {
        let job = self.pool.on_timer(ctx, t);
        self.stats.pool = self.pool.stats;
        job
    }

    /// The design finished draining (jobs done, results durable, queue left): the worker is Off.
    pub fn stopped<A: WorkerHost>(&mut self, ctx: &mut Ctx<'_, A>) {
        if self.state == State::Draining {
            self.set_state(ctx, State::Off);
            self.report(ctx);
        }
    }
}

// ---------------------------------------------------------------------------------------------

#[derive(Clone, Copy, Debug, Default)]
struct Slot {
    node: NodeId,
    state: State,
    inc: Option<u64>,
    /// The last command sent.
    seq: u64,
    seen: Time,
    busy_ns: u64,
    slots: u32,
    /// Busy time and time at the last decision (for the utilisation since).
    busy_at_decision: u64,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ScalerStats {
    pub decisions: u64,
    pub started: u64,
    pub drained: u64,
    pub lost: u64,
    /// Decisions that came late (the scaler's node paused) and spared a worker that looked silent
    /// only for that lateness.
    pub stalls: u64,
    pub desired_max: u32,
}

/// What the design measures for the scaler at a decision.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Observation {
    /// Jobs waiting (queue length, consumer lag).
    pub backlog: u64,
}

/// The autoscaler of a pool of worker nodes.
#[derive(Debug)]
pub struct Scaler {
    scope: &'static str,
    spec: ScalerSpec,
    slots: Vec<Slot>,
    next_seq: u64,
    /// Recommendations of the scale-in window: (time, count).
    recent: VecDeque<(Time, u32)>,
    desired: u32,
    last_decision: Time,
    pub stats: ScalerStats,
}

impl Scaler {
    pub fn new(scope: &'static str, spec: ScalerSpec, workers: &[NodeId]) -> Scaler {
        Scaler {
            scope,
            slots: workers.iter().map(|&node| Slot { node, ..Slot::default() }).collect(),
            spec,
            next_seq: 0,
            recent: VecDeque::new(),
            desired: 0,
            last_decision: Time::ZERO,
            stats: ScalerStats::default(),
        }
    }

    /// Workers (starting, up, draining) as the scaler sees them.
    pub fn counts(&self) -> (u32, u32, u32) {
        let n = |s: State| self.slots.iter().filter(|x| x.state == s).count() as u32;
        (n(State::Starting), n(State::Up), n(State::Draining))
    }

    pub fn desired(&self) -> u32 {
        self.desired
    }

    /// Starts `initial` workers warm (a fleet already running) and the decision loop.
    pub fn start<A: WorkerHost>(&mut self, ctx: &mut Ctx<'_, A>) {
        self.last_decision = ctx.monotonic();
        for i in 0..self.spec.initial as usize {
            self.command(ctx, i, State::Up, Duration::ZERO);
        }
        self.set_desired(ctx, self.spec.initial);
        // The initial count stands as a recommendation, so no scale-in before a window has passed.
        self.recent.push_back((ctx.monotonic(), self.spec.initial));
        ctx.set_timer(self.spec.interval, A::Timer::from(Timer::Decide));
    }

    fn set_desired<A: WorkerHost>(&mut self, ctx: &mut Ctx<'_, A>, d: u32) {
        ctx.level(self.scope, "desired", d as i64 - self.desired as i64);
        self.desired = d;
        self.stats.desired_max = self.stats.desired_max.max(d);
    }

    /// Sends slot `i` a start (`to: Up` after `after`) or a drain (`to: Draining`).
    fn command<A: WorkerHost>(&mut self, ctx: &mut Ctx<'_, A>, i: usize, to: State, after: Duration) {
        self.next_seq += 1;
        let seq = self.next_seq;
        let s = &mut self.slots[i];
        s.seq = seq;
        s.seen = ctx.monotonic();
        let msg = if to == State::Up {
            s.state = if after == Duration::ZERO { State::Up } else { State::Starting };
            self.stats.started += 1;
            Msg::Start { seq, after }
        } else {
            s.state = if s.state == State::Starting { State::Off } else { State::Draining };
            self.stats.drained += 1;
            Msg::Drain { seq }
        };
        ctx.send(s.node, A::Msg::from(msg));
    }

    /// A worker's report.
    pub fn on_msg<A: WorkerHost>(&mut self, ctx: &mut Ctx<'_, A>, from: NodeId, msg: &Msg) {
        let Msg::Status { inc, state, seq, busy_ns, slots } = *msg else { return };
        let now = ctx.monotonic();
        let Some(s) = self.slots.iter_mut().find(|s| s.node == from) else { return };
        s.seen = now;
        s.slots = slots;
        if s.inc.is_some_and(|i| i != inc) {
            // A new incarnation: the node restarted and lost what it was doing.
            if s.state != State::Off {
                self.stats.lost += 1;
                ctx.count_in(self.scope, "lost", 1);
            }
            s.state = state;
            s.busy_at_decision = busy_ns;
        } else if seq >= s.seq {
            s.state = state;
        }
        s.inc = Some(inc);
        s.busy_ns = busy_ns;
    }

    /// A decision (the design's handler for [`Timer::Decide`] passes what it observes).
    pub fn on_timer<A: WorkerHost>(&mut self, ctx: &mut Ctx<'_, A>, t: Timer, obs: Observation) {
        if t != Timer::Decide {
            return;
        }
        self.decide(ctx, obs);
        ctx.set_timer(self.spec.interval, A::Timer::from(Timer::Decide));
    }

    fn decide<A: WorkerHost>(&mut self, ctx: &mut Ctx<'_, A>, obs: Observation) {
        let now = ctx.monotonic();
        self.stats.decisions += 1;
        // A decision later than its interval comes after a stall of the scaler itself (a process
        // pause): the reports that arrived meanwhile wait behind it, so that stall is not the
        // workers' silence (as `crate::sweep` has it for the other failure detectors).
        let stall = now.since(self.last_decision) - self.spec.interval;
        let mut spared = false;
        for s in &mut self.slots {
            let silent = now.since(s.seen);
            if s.state == State::Off || silent < self.spec.session_timeout {
                continue;
            }
            if silent < self.spec.session_timeout + stall {
                spared = true;
                continue;
            }
            s.state = State::Off;
            s.inc = None;
            self.stats.lost += 1;
            ctx.count_in(self.scope, "lost", 1);
        }
        if spared {
            self.stats.stalls += 1;
            ctx.count_in(self.scope, "stalls", 1);
        }
        // Utilisation of the Up workers since the last decision.
        let span = now.since(self.last_decision).0 as f64;
        let (mut busy, mut capacity) = (0.0, 0.0);
        for s in self.slots.iter_mut() {
            if s.state == State::Up {
                busy += s.busy_ns.saturating_sub(s.busy_at_decision) as f64;
                capacity += span * s.slots.max(1) as f64;
            }
            s.busy_at_decision = s.busy_ns;
        }
        self.last_decision = now;
        let utilisation = if capacity > 0.0 { (busy / capacity).min(1.0) } else { 0.0 };
        let (starting, up, _) = self.counts();
        let active = starting + up;
        let raw = self.spec.target.recommend(obs.backlog, utilisation, up, active);
        self.recent.push_back((now, raw));
        while self.recent.front().is_some_and(|&(t, _)| now.since(t) > self.spec.scale_in_window) {
            self.recent.pop_front();
        }
        let wanted = if raw >= active { raw } else { self.recent.iter().map(|r| r.1).max().unwrap_or(raw) };
        let desired = wanted.clamp(self.spec.min, self.spec.max);
        self.set_desired(ctx, desired);
        if desired > active {
            // Healthy idle nodes first (reporting Off), then ones not heard from lately (a crashed
            // node may not be back: an autoscaling group launches elsewhere).
            let mut off: Vec<usize> = (0..self.slots.len()).filter(|&i| self.slots[i].state == State::Off).collect();
            off.sort_by_key(|&i| {
                (self.slots[i].inc.is_none() || now.since(self.slots[i].seen) >= self.spec.session_timeout, i)
            });
            for &i in off.iter().take((desired - active) as usize) {
                let after = self.spec.provisioning.sample(ctx.rng());
                // A zero draw is still a cold start of one tick, never a warm one.
                self.command(ctx, i, State::Up, after.max(Duration(1)));
            }
        } else if desired < active {
            // Stop workers still starting first (no warm capacity lost), newest first.
            let mut victims: Vec<usize> =
                (0..self.slots.len()).filter(|&i| matches!(self.slots[i].state, State::Starting | State::Up)).collect();
            victims.sort_by_key(|&i| (self.slots[i].state == State::Up, std::cmp::Reverse(i)));
            for &i in victims.iter().take((active - desired) as usize) {
                self.command(ctx, i, State::Draining, Duration::ZERO);
            }
        }
    }
}

#[cfg(test)]
mod tests;
