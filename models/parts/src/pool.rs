//! A service pool: `concurrency` servers (threads, workers, connections) in front of a bounded
//! request queue, each request holding a server for a service time drawn from a distribution.
//!
//! This is the queueing station of queueing theory (M/M/c with Poisson arrivals and exponential
//! service), and the part that makes queueing delay show up in a design's latency. A [`Pool`]
//! lives in the node that serves; the design hands it each request as a job ([`Pool::submit`]),
//! and gets it back from [`Pool::on_timer`] when its service is over, to do the request's work and
//! answer. A job that is refused comes back at once.
//!
//! Knobs ([`PoolSpec`]):
//! - `concurrency`: servers; `queue`: waiting room (0: none, a busy pool refuses);
//! - `overflow`: when the queue is full, refuse the newcomer (`RejectNew`, HTTP 503) or drop the
//!   oldest waiter (`DropOldest`, keeps latency of what is served low under overload);
//! - `discipline`: `Fifo`, or `Lifo` (serves the newest first: under overload most requests
//!   see a short wait and a few starve, a known trick against timeouts);
//! - `queue_timeout`: a waiter that waited longer than this when its turn comes is shed instead
//!   of served (its caller has likely given up: serving it is wasted work).
//!
//! Measured in [`PoolStats`]: arrivals, started, completed, rejected, shed, dropped; total wait and
//! service time, so mean wait, utilisation (`busy_ns / (concurrency * elapsed)`) and, by Little's
//! law, the mean queue length follow. Through the kernel (surviving crashes): the counters
//! `scope.rejected`, `scope.dropped`, `scope.shed`, and the level `scope.queue` (waiting requests
//! over time, summed over nodes, plotted), and, when asked for ([`Pool::with_busy_level`]), the
//! level `scope.busy` (servers in use). Per-request events stay out of the kernel's counters:
//! they cost an effect each on the hottest path (measured: see README's parts benchmark).
//!
//! Every arrival and every served job (its wait and service time) is also reported to the kernel
//! as a queueing station (`Ctx::station_arrival`, `Ctx::station_served`): every run's
//! `queueing` cross-check puts each pool's measured wait beside what Erlang C (or its
//! approximations) predicts from the measured arrivals and service times.
//!
//! Invariants: at most `concurrency` jobs in service, at most `queue` waiting; a job is returned
//! exactly once (served, refused, shed or dropped); a crash loses the queue and the jobs in
//! service with the node.

use serde::{Deserialize, Serialize};
use sim_core::{Actor, Ctx, Dist, Duration, Time};
use std::collections::{BTreeMap, VecDeque};

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum Overflow {
    #[default]
    RejectNew,
    DropOldest,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum Discipline {
    #[default]
    Fifo,
    Lifo,
}

/// ```ron
/// (concurrency: 8, queue: 100, service: Exponential(mean: "10ms"), overflow: RejectNew)
/// ```
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PoolSpec {
    pub concurrency: u32,
    pub queue: u32,
    pub service: Dist,
    pub overflow: Overflow,
    pub discipline: Discipline,
    pub queue_timeout: Option<Duration>,
}

impl Default for PoolSpec {
    fn default() -> Self {
        PoolSpec {
            concurrency: 8,
            queue: 1000,
            service: Dist::Constant(Duration::from_millis(5)),
            overflow: Overflow::RejectNew,
            discipline: Discipline::Fifo,
            queue_timeout: None,
        }
    }
}

impl PoolSpec {
    pub fn validate(&self, path: &str) -> Vec<(String, String)> {
        let mut e = Vec::new();
        if self.concurrency == 0 || self.concurrency > 1_000_000 {
            e.push((format!("{path}.concurrency"), format!("must be within [1, 1,000,000], got {}", self.concurrency)));
        }
        if self.queue > 100_000_000 {
            e.push((format!("{path}.queue"), format!("at most 100,000,000, got {}", self.queue)));
        }
        if let Err(m) = self.service.validate() {
            e.push((format!("{path}.service"), m));
        }
        if self.queue_timeout == Some(Duration::ZERO) {
            e.push((format!("{path}.queue_timeout"), "must be positive (or None)".into()));
        }
        e
    }
}

/// The end of one job's service.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PoolTimer(u64);

/// What [`Pool::submit`] did with a job.
#[derive(Debug, PartialEq, Eq)]
pub enum Admit<J> {
    /// A server took it; it comes back from `on_timer` when served.
    Started,
    /// It waits for a server.
    Queued,
    /// Refused (no server, no room): the job, to answer "busy".
    Rejected(J),
    /// Queued, and the oldest waiter was dropped to make room: that one comes back.
    Dropped(J),
}

/// Counts of a pool, summed over a design's nodes in its report.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct PoolStats {
    pub arrivals: u64,
    pub started: u64,
    pub completed: u64,
    pub rejected: u64,
    pub dropped: u64,
    pub shed: u64,
    /// Sum of the waits of every started job (ns).
    pub wait_ns: u128,
    /// Sum of the service times of every completed job (ns): busy server time.
    pub busy_ns: u128,
    pub queue_max: u64,
}

impl PoolStats {
    pub fn add(&mut self, o: &PoolStats) {
        self.arrivals += o.arrivals;
        self.started += o.started;
        self.completed += o.completed;
        self.rejected += o.rejected;
        self.dropped += o.dropped;
        self.shed += o.shed;
        self.wait_ns += o.wait_ns;
        self.busy_ns += o.busy_ns;
        self.queue_max = self.queue_max.max(o.queue_max);
    }

    /// Mean wait in the queue of the jobs that started, in seconds.
    pub fn mean_wait_s(&self) -> f64 {
        if self.started == 0 { 0.0 } else { self.wait_ns as f64 / self.started as f64 / 1e9 }
    }

    /// Mean service time of the completed jobs, in seconds.
    pub fn mean_service_s(&self) -> f64 {
        if self.completed == 0 { 0.0 } else { self.busy_ns as f64 / self.completed as f64 / 1e9 }
    }

    /// Busy server time over available server time in `elapsed` with `servers` servers.
    pub fn utilisation(&self, servers: u64, elapsed: Duration) -> f64 {
        let avail = servers as f64 * elapsed.0 as f64;
        if avail == 0.0 { 0.0 } else { self.busy_ns as f64 / avail }
    }
}

/// A pool of servers with a queue; `J` is the design's job (the request to serve).
#[derive(Debug)]
pub struct Pool<J> {
    scope: &'static str,
    spec: PoolSpec,
    queue: VecDeque<(J, Time, Duration)>,
    /// Per job in service: the job, its service time and how long it waited.
    in_service: BTreeMap<u64, (J, Duration, Duration)>,
    next: u64,
    /// Jobs shed by `queue_timeout` since the last [`Pool::take_shed`].
    shed: Vec<J>,
    /// Whether servers in use are a kernel level (`scope.busy`): see [`Pool::with_busy_level`].
    busy_level: bool,
    pub stats: PoolStats,
}

impl<J> Pool<J> {
    /// A pool counting under `scope` (`scope.rejected`, the level `scope.queue`, ...).
    pub fn new(scope: &'static str, spec: PoolSpec) -> Pool<J> {
        Pool {
            scope,
            spec,
            queue: VecDeque::new(),
            in_service: BTreeMap::new(),
            next: 0,
            shed: Vec::new(),
            busy_level: false,
            stats: PoolStats::default(),
        }
    }

    /// Also follow the servers in use as the kernel level `scope.busy` (summed over nodes,
    /// surviving scale-in and crashes, so a design can measure utilisation over a changing set
    /// of pools). Off by default: it costs two effects per request on the hottest path.
    pub fn with_busy_level(mut self) -> Pool<J> {
        self.busy_level = true;
        self
    }

    pub fn spec(&self) -> &PoolSpec {
        &self.spec
    }

    pub fn busy(&self) -> usize {
        self.in_service.len()
    }

    pub fn waiting(&self) -> usize {
        self.queue.len()
    }

    /// Changes the number of servers (an autoscaler's decision). Shrinking lets jobs in service
    /// finish; growing starts waiting jobs at once.
    pub fn set_concurrency<A: Actor<Timer: From<PoolTimer>>>(&mut self, ctx: &mut Ctx<'_, A>, servers: u32) {
        self.spec.concurrency = servers;
        self.start_waiting(ctx);
    }

    /// A request arrives. Its service time is drawn from the pool's distribution.
    pub fn submit<A: Actor<Timer: From<PoolTimer>>>(&mut self, ctx: &mut Ctx<'_, A>, job: J) -> Admit<J> {
        let service = self.spec.service.sample(ctx.rng());
        self.submit_for(ctx, job, service)
    }

    /// A request arrives whose service takes `service` (the design knows its cost: rows scanned,
    /// bytes encoded).
    pub fn submit_for<A: Actor<Timer: From<PoolTimer>>>(
        &mut self,
        ctx: &mut Ctx<'_, A>,
        job: J,
        service: Duration,
    ) -> Admit<J> {
        self.stats.arrivals += 1;
        ctx.station_arrival(self.scope, self.spec.concurrency);
        if (self.in_service.len() as u32) < self.spec.concurrency && self.queue.is_empty() {
            self.start(ctx, job, service, Duration::ZERO);
            return Admit::Started;
        }
        if (self.queue.len() as u32) < self.spec.queue {
            self.enqueue(ctx, job, service);
            return Admit::Queued;
        }
        match self.spec.overflow {
            Overflow::DropOldest if self.spec.queue > 0 => {
                let (old, _, _) = self.queue.pop_front().expect("a full queue of positive size");
                self.stats.dropped += 1;
                ctx.count_in(self.scope, "dropped", 1);
                ctx.level(self.scope, "queue", -1);
                self.enqueue(ctx, job, service);
                Admit::Dropped(old)
            }
            _ => {
                self.stats.rejected += 1;
                ctx.count_in(self.scope, "rejected", 1);
                Admit::Rejected(job)
            }
        }
    }

    fn enqueue<A: Actor>(&mut self, ctx: &mut Ctx<'_, A>, job: J, service: Duration) {
        self.queue.push_back((job, ctx.monotonic(), service));
        self.stats.queue_max = self.stats.queue_max.max(self.queue.len() as u64);
        ctx.level(self.scope, "queue", 1);
    }

    fn start<A: Actor<Timer: From<PoolTimer>>>(
        &mut self,
        ctx: &mut Ctx<'_, A>,
        job: J,
        service: Duration,
        waited: Duration,
    ) {
        let id = self.next;
        self.next += 1;
        self.stats.started += 1;
        self.stats.wait_ns += waited.0 as u128;
        if self.busy_level {
            ctx.level(self.scope, "busy", 1);
        }
        self.in_service.insert(id, (job, service, waited));
        debug_assert!(self.in_service.len() as u32 <= self.spec.concurrency, "more jobs in service than servers");
        ctx.set_timer(service, A::Timer::from(PoolTimer(id)));
    }

    /// Starts waiting jobs while servers are free; sheds those that waited past `queue_timeout`.
    fn start_waiting<A: Actor<Timer: From<PoolTimer>>>(&mut self, ctx: &mut Ctx<'_, A>) {
        while (self.in_service.len() as u32) < self.spec.concurrency {
            let next = match self.spec.discipline {
                Discipline::Fifo => self.queue.pop_front(),
                Discipline::Lifo => self.queue.pop_back(),
            };
            let Some((job, since, service)) = next else { break };
            ctx.level(self.scope, "queue", -1);
            let waited = ctx.monotonic().since(since);
            if self.spec.queue_timeout.is_some_and(|t| waited > t) {
                self.stats.shed += 1;
                ctx.count_in(self.scope, "shed", 1);
                self.shed.push(job);
                continue;
            }
            self.start(ctx, job, service, waited);
        }
    }

    /// A service is over: the job, and the next waiters start.
    pub fn on_timer<A: Actor<Timer: From<PoolTimer>>>(&mut self, ctx: &mut Ctx<'_, A>, t: PoolTimer) -> Option<J> {
        let (job, service, waited) = self.in_service.remove(&t.0)?;
        ctx.station_served(self.scope, waited, service);
        self.stats.completed += 1;
        self.stats.busy_ns += service.0 as u128;
        if self.busy_level {
            ctx.level(self.scope, "busy", -1);
        }
        self.start_waiting(ctx);
        Some(job)
    }

    /// Jobs shed since the last call (answer them "overloaded").
    pub fn take_shed(&mut self) -> Vec<J> {
        std::mem::take(&mut self.shed)
    }
}

/// Slots held by jobs until the design releases them (a thread per request waiting with it, a
/// waiting room's admitted buyers), and the jobs waiting for one, in order. Unlike a [`Pool`],
/// which ends a job's service itself after a drawn time, a slot is held until the design says
/// the job is over ([`Slots::release`]). Levels: `scope.busy` (slots held) and `scope.waiting`.
#[derive(Debug)]
pub struct Slots<J> {
    scope: &'static str,
    busy_name: &'static str,
    cap: u32,
    queue: u32,
    busy: u32,
    waiting: VecDeque<J>,
    /// The longest the waiting line has been.
    pub waiting_max: u64,
}

impl<J> Slots<J> {
    /// `cap` slots, `queue` places to wait; the level of slots held is `scope.busy_name`.
    pub fn new(scope: &'static str, busy_name: &'static str, cap: u32, queue: u32) -> Slots<J> {
        Slots { scope, busy_name, cap, queue, busy: 0, waiting: VecDeque::new(), waiting_max: 0 }
    }

    pub fn busy(&self) -> u32 {
        self.busy
    }

    pub fn waiting(&self) -> usize {
        self.waiting.len()
    }

    /// `Some(true)`: a slot took it; `Some(false)`: it waits; `None`: refused (no slot, no room).
    pub fn acquire<A: Actor>(&mut self, ctx: &mut Ctx<'_, A>, job: J) -> Option<bool> {
        if self.busy < self.cap {
            self.busy += 1;
            ctx.level(self.scope, self.busy_name, 1);
            Some(true)
        } else if (self.waiting.len() as u32) < self.queue {
            self.waiting.push_back(job);
            self.waiting_max = self.waiting_max.max(self.waiting.len() as u64);
            ctx.level(self.scope, "waiting", 1);
            Some(false)
        } else {
            None
        }
    }

    /// A job is over: its slot takes the next waiting job, returned to start, if any.
    pub fn release<A: Actor>(&mut self, ctx: &mut Ctx<'_, A>) -> Option<J> {
        match self.waiting.pop_front() {
            Some(j) => {
                ctx.level(self.scope, "waiting", -1);
                Some(j)
            }
            None => {
                self.busy -= 1;
                ctx.level(self.scope, self.busy_name, -1);
                None
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{Bench, NoMsg, PartHost};

    crate::wire! { timers enum TTimer { Pool(PoolTimer) } }
    type T = PartHost<NoMsg, TTimer>;

    fn spec(concurrency: u32, queue: u32) -> PoolSpec {
        PoolSpec { concurrency, queue, service: Dist::Constant(Duration::from_millis(10)), ..PoolSpec::default() }
    }

    /// Timers set since the last drain, as (absolute fire time, timer).
    fn fired_at(b: &mut Bench<T>) -> Vec<(Time, TTimer)> {
        let now = b.now;
        b.drain().0.into_iter().map(|(after, t)| (now + after, t)).collect()
    }

    /// Fires the earliest service timer: the job that finished.
    fn finish(b: &mut Bench<T>, pool: &mut Pool<u32>, timers: &mut Vec<(Time, TTimer)>) -> Option<u32> {
        timers.sort_by_key(|t| t.0);
        let (at, TTimer::Pool(t)) = timers.remove(0);
        b.now = at;
        let done = b.with(|ctx| pool.on_timer(ctx, t));
        timers.extend(fired_at(b));
        done
    }

    #[test]
    fn at_most_concurrency_in_service_and_queue_then_reject() {
        let mut b = Bench::<T>::new();
        let mut p = Pool::new("api", spec(2, 1));
        let admits: Vec<Admit<u32>> = (0..4).map(|j| b.with(|ctx| p.submit(ctx, j))).collect();
        assert_eq!(admits, [Admit::Started, Admit::Started, Admit::Queued, Admit::Rejected(3)]);
        assert_eq!((p.busy(), p.waiting()), (2, 1));
        let mut timers = fired_at(&mut b);
        assert_eq!(timers.len(), 2);
        assert_eq!(finish(&mut b, &mut p, &mut timers), Some(0));
        // Job 2 started when 0 finished; it waited 10 ms.
        assert_eq!((p.busy(), p.waiting()), (2, 0));
        assert_eq!(p.stats.wait_ns, 10_000_000);
        assert_eq!((p.stats.arrivals, p.stats.rejected, p.stats.completed), (4, 1, 1));
    }

    #[test]
    fn drop_oldest_keeps_the_newest_waiters() {
        let mut b = Bench::<T>::new();
        let mut p = Pool::new("api", PoolSpec { overflow: Overflow::DropOldest, ..spec(1, 2) });
        let admits: Vec<Admit<u32>> = (0..5).map(|j| b.with(|ctx| p.submit(ctx, j))).collect();
        assert_eq!(admits, [Admit::Started, Admit::Queued, Admit::Queued, Admit::Dropped(1), Admit::Dropped(2)]);
        let mut timers = fired_at(&mut b);
        assert_eq!(finish(&mut b, &mut p, &mut timers), Some(0));
        assert_eq!(finish(&mut b, &mut p, &mut timers), Some(3));
        assert_eq!(finish(&mut b, &mut p, &mut timers), Some(4));
    }

    #[test]
    fn lifo_serves_the_newest_first() {
        let mut b = Bench::<T>::new();
        let mut p = Pool::new("api", PoolSpec { discipline: Discipline::Lifo, ..spec(1, 10) });
        for j in 0..4 {
            b.with(|ctx| p.submit(ctx, j));
        }
        let mut timers = fired_at(&mut b);
        let order: Vec<u32> = (0..4).filter_map(|_| finish(&mut b, &mut p, &mut timers)).collect();
        assert_eq!(order, [0, 3, 2, 1]);
    }

    #[test]
    fn waiters_past_the_queue_timeout_are_shed_not_served() {
        let mut b = Bench::<T>::new();
        let mut p = Pool::new("api", PoolSpec { queue_timeout: Some(Duration::from_millis(15)), ..spec(1, 10) });
        for j in 0..3 {
            b.with(|ctx| p.submit(ctx, j));
        }
        let mut timers = fired_at(&mut b);
        assert_eq!(finish(&mut b, &mut p, &mut timers), Some(0)); // 1 starts after 10 ms: fine
        assert_eq!(finish(&mut b, &mut p, &mut timers), Some(1)); // 2 waited 20 ms: shed
        assert_eq!(p.take_shed(), vec![2]);
        assert_eq!((p.stats.shed, p.busy()), (1, 0));
    }

    #[test]
    fn growing_the_pool_starts_waiters_at_once() {
        let mut b = Bench::<T>::new();
        let mut p = Pool::new("api", spec(1, 10));
        for j in 0..3 {
            b.with(|ctx| p.submit(ctx, j));
        }
        b.with(|ctx| p.set_concurrency(ctx, 3));
        assert_eq!((p.busy(), p.waiting()), (3, 0));
        // The waits and levels were accounted: three starts, the queue level back to zero.
        let levels: i64 = b
            .drain()
            .1
            .iter()
            .filter_map(|e| match e {
                sim_core::Effect::Level { name: "queue", delta, .. } => Some(*delta),
                _ => None,
            })
            .sum();
        assert_eq!(levels, 0);
        assert_eq!(p.stats.started, 3);
    }
}
