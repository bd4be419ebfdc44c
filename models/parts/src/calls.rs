//! A caller's outbound requests: the "send, set a timeout, keep it pending, complete" loop that
//! every client and every service calling another service needs, written once, with the
//! production knobs around it.
//!
//! A [`Calls`] lives in the calling actor and knows each downstream service it talks to
//! ([`Calls::add`]): the backends (chosen per attempt by a [`Balancer`]), a per-attempt timeout,
//! retries with exponential backoff and jitter, and optionally a circuit breaker. A call is started
//! with [`Calls::call`] (the design builds the request message around the [`ReqId`] it is given,
//! and the backend's answer must carry the same id back); the design hands every answer to
//! [`Calls::reply`] and every [`CallTimer`] to [`Calls::on_timer`]. Both return the call's
//! [`Done`] once it is over: answered, failed for good, timed out after its last attempt, or
//! refused by an open breaker.
//!
//! A workload client whose every operation is one call (the client nodes of most designs) holds
//! an [`OpCalls`]: the same loop with the operation as the call's data, ending the operation
//! when its call ends.
//!
//! Semantics, stated because they matter for what a design can conclude:
//! - A retry resends the *same* request with the *same* id, possibly to another backend. The
//!   server may therefore see a request twice (its first attempt may have been slow, not lost):
//!   at-least-once. Deduplication by request id is the server's business (and a design's choice).
//! - A late answer from an earlier attempt completes the call if it arrives first (during the
//!   backoff or while a later attempt is in flight); answers after the call is over are counted as
//!   `late_replies` and ignored.
//! - Timeouts are per attempt, on the caller's local clock. A timed-out call's outcome is
//!   unknown: it may have taken effect.
//! - Backoff before attempt `k + 1`: `min(max, base * multiplier^(k-1))`, then jitter: `Full`
//!   draws uniformly in `[0, d]`, `Equal` in `[d/2, d]` (the AWS architecture blog's names).
//! - The breaker (per downstream service, as in Hystrix): `failures` consecutive failed attempts
//!   (timeouts or retryable errors) open it; while open, calls fail at once without a request
//!   (`BreakerOpen`); after `cooldown` one probe is let through (half-open): its success closes the
//!   breaker, its failure opens it again.
//!
//! The server side has one piece here, [`AnswerWhenDurable`]: a server that answers a request
//! only once its effect is on disk, and answers a retry of it at once if that effect is already
//! there (else the first copy's write will).

use crate::balance::{BalanceStats, Balancer, HealthSpec, Policy};
use serde::{Deserialize, Serialize};
use sim_core::{Actor, Ctx, Duration, NodeId, Time, TimerId, WriteId};
use std::collections::BTreeMap;

/// Jitter on a backoff delay `d`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum Jitter {
    /// Exactly `d`: every caller retries in lockstep (the retry storm's shape).
    None,
    /// Uniform in `[0, d]`.
    #[default]
    Full,
    /// Uniform in `[d/2, d]`.
    Equal,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Backoff {
    pub base: Duration,
    pub max: Duration,
    pub multiplier: f64,
    pub jitter: Jitter,
}

impl Default for Backoff {
    fn default() -> Self {
        Backoff { base: Duration::from_millis(50), max: Duration::from_secs(5), multiplier: 2.0, jitter: Jitter::Full }
    }
}

impl Backoff {
    /// The delay before attempt `attempt + 1`, after `attempt` (1-based) attempts failed, before
    /// jitter.
    pub fn delay(&self, attempt: u32) -> Duration {
        let exp = self.multiplier.powi(attempt.saturating_sub(1).min(1000) as i32);
        let d = self.base.0 as f64 * exp;
        Duration(if d.is_finite() { (d as u64).min(self.max.0) } else { self.max.0 })
    }

    /// The wait before attempt `attempt + 1`: [`Backoff::delay`] with the jitter drawn from `rng`.
    pub fn wait(&self, attempt: u32, rng: &mut sim_core::Prng) -> Duration {
        let base = self.delay(attempt);
        match self.jitter {
            Jitter::None => base,
            Jitter::Full => Duration(rng.range_inclusive(0, base.0)),
            Jitter::Equal => Duration(base.0 / 2 + rng.range_inclusive(0, base.0 - base.0 / 2)),
        }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BreakerSpec {
    /// Consecutive failed attempts that open the breaker.
    pub failures: u32,
    /// How long it stays open before a probe is let through.
    pub cooldown: Duration,
}

/// How a caller treats one downstream service.
///
/// ```ron
/// (timeout: "200ms", retries: 3, backoff: (base: "50ms", max: "2s", jitter: Full),
///  breaker: Some((failures: 5, cooldown: "5s")))
/// ```
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CallPolicy {
    /// Per attempt, on the caller's local clock.
    pub timeout: Duration,
    /// Attempts after the first (0: no retries).
    pub retries: u32,
    pub backoff: Backoff,
    pub breaker: Option<BreakerSpec>,
}

impl Default for CallPolicy {
    fn default() -> Self {
        CallPolicy { timeout: Duration::from_secs(1), retries: 0, backoff: Backoff::default(), breaker: None }
    }
}

impl CallPolicy {
    pub fn validate(&self, path: &str) -> Vec<(String, String)> {
        let mut e = Vec::new();
        if self.timeout.0 == 0 {
            e.push((format!("{path}.timeout"), "must be positive".into()));
        }
        if self.retries > 100 {
            e.push((format!("{path}.retries"), format!("at most 100, got {}", self.retries)));
        }
        let b = &self.backoff;
        if !(b.multiplier.is_finite() && (1.0..=100.0).contains(&b.multiplier)) {
            e.push((format!("{path}.backoff.multiplier"), format!("must be within [1, 100], got {}", b.multiplier)));
        }
        if b.max < b.base {
            e.push((format!("{path}.backoff.max"), "must be at least backoff.base".into()));
        }
        if let Some(br) = &self.breaker {
            if br.failures == 0 {
                e.push((format!("{path}.breaker.failures"), "must be at least 1".into()));
            }
            if br.cooldown.0 == 0 {
                e.push((format!("{path}.breaker.cooldown"), "must be positive".into()));
            }
        }
        e
    }
}

/// A downstream service of a [`Calls`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct ServiceId(pub usize);

/// The id a request carries to its backend and back.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ReqId(pub u64);

/// The timer of a call's attempt (its deadline) or of its backoff (then: retry).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CallTimer {
    req: u64,
    attempt: u32,
    retry: bool,
}

/// How a call ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum CallOutcome {
    Ok,
    /// The backend answered with an error that is not retried, or the last retry failed.
    Error,
    /// The last attempt timed out: unknown whether it took effect.
    Timeout,
    /// Refused by the open circuit breaker without sending anything.
    BreakerOpen,
    /// No backend to send to (every one unhealthy, without `fail_open`).
    NoBackend,
}

/// A finished call: what the caller attached to it, and how it went.
#[derive(Debug)]
pub struct Done<T> {
    pub data: T,
    pub outcome: CallOutcome,
    /// Attempts sent (0 when refused before sending).
    pub attempts: u32,
    /// From the call to its end, on the caller's local clock.
    pub latency: Duration,
    /// The backend of the last attempt.
    pub backend: Option<NodeId>,
}

impl CallOutcome {
    /// The operation outcome a client reports for a call that ended so (Jepsen's ok / fail /
    /// info / refused).
    pub fn outcome(self) -> sim_core::Outcome {
        match self {
            CallOutcome::Ok => sim_core::Outcome::Ok,
            CallOutcome::Error => sim_core::Outcome::Fail,
            CallOutcome::Timeout => sim_core::Outcome::Timeout,
            CallOutcome::BreakerOpen | CallOutcome::NoBackend => sim_core::Outcome::Rejected,
        }
    }
}

/// Completes the client operation a call served: its outcome, and `Reply::Value(value)` when it
/// ended `Ok` with a value.
pub fn complete<A: Actor>(ctx: &mut Ctx<'_, A>, done: Done<sim_core::OpId>, value: Option<u64>) {
    let outcome = done.outcome.outcome();
    let reply = match (outcome, value) {
        (sim_core::Outcome::Ok, Some(v)) => sim_core::Reply::Value(v),
        _ => sim_core::Reply::None,
    };
    ctx.complete(done.data, outcome, reply);
}

/// An answer from a backend.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Answer {
    Ok,
    /// An error worth retrying (overloaded, unavailable, 429, 503).
    Retryable,
    /// An error retrying cannot fix (bad request, not found).
    Fatal,
}

/// What one downstream service saw, summed by a design's report over its callers.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CallStats {
    pub calls: u64,
    pub attempts: u64,
    pub retries: u64,
    pub ok: u64,
    pub errors: u64,
    pub timeouts: u64,
    /// Attempts that timed out (a call may time out several times before it ends).
    pub attempt_timeouts: u64,
    pub breaker_rejected: u64,
    pub breaker_opened: u64,
    pub no_backend: u64,
    pub late_replies: u64,
}

impl CallStats {
    pub fn add(&mut self, o: &CallStats) {
        self.calls += o.calls;
        self.attempts += o.attempts;
        self.retries += o.retries;
        self.ok += o.ok;
        self.errors += o.errors;
        self.timeouts += o.timeouts;
        self.attempt_timeouts += o.attempt_timeouts;
        self.breaker_rejected += o.breaker_rejected;
        self.breaker_opened += o.breaker_opened;
        self.no_backend += o.no_backend;
        self.late_replies += o.late_replies;
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum BreakerState {
    Closed { failures: u32 },
    Open { until: Time },
    HalfOpen { probing: bool },
}

#[derive(Clone, Debug)]
struct Downstream {
    scope: &'static str,
    policy: CallPolicy,
    balancer: Balancer,
    breaker: BreakerState,
    stats: CallStats,
}

impl Downstream {
    /// Whether the breaker lets an attempt through now (and takes the half-open probe slot).
    fn breaker_allows(&mut self, now: Time) -> bool {
        if self.policy.breaker.is_none() {
            return true;
        }
        match self.breaker {
            BreakerState::Closed { .. } => true,
            BreakerState::Open { until } if now >= until => {
                self.breaker = BreakerState::HalfOpen { probing: true };
                true
            }
            BreakerState::Open { .. } => false,
            BreakerState::HalfOpen { probing: false } => {
                self.breaker = BreakerState::HalfOpen { probing: true };
                true
            }
            BreakerState::HalfOpen { probing: true } => false,
        }
    }

    /// Feeds an attempt's result to the breaker; true when it opened now.
    fn breaker_result(&mut self, ok: bool, now: Time) {
        let Some(spec) = &self.policy.breaker else { return };
        let (failures, cooldown) = (spec.failures, spec.cooldown);
        self.breaker = match (self.breaker, ok) {
            (_, true) => BreakerState::Closed { failures: 0 },
            (BreakerState::Closed { failures: f }, false) if f + 1 < failures => {
                BreakerState::Closed { failures: f + 1 }
            }
            (BreakerState::Closed { .. } | BreakerState::HalfOpen { .. }, false) => {
                self.stats.breaker_opened += 1;
                BreakerState::Open { until: now + cooldown }
            }
            (open @ BreakerState::Open { .. }, false) => open,
        };
    }
}

#[derive(Debug)]
struct Pending<M, T> {
    svc: usize,
    key: u64,
    msg: M,
    data: T,
    attempt: u32,
    to: Option<NodeId>,
    /// Every attempt goes here (the caller chose the backend: [`Calls::call_to`]).
    fixed: Option<NodeId>,
    timer: TimerId,
    /// Waiting out a backoff (no attempt in flight).
    backing_off: bool,
    started: Time,
}

/// A caller's outbound calls to its downstream services (see the module docs).
///
/// `M` is the request message the calls send (usually the host's own message type, or a part's);
/// `T` is what the caller keeps with each call until it ends (the operation it serves, say).
#[derive(Debug)]
pub struct Calls<M, T> {
    services: Vec<Downstream>,
    pending: BTreeMap<u64, Pending<M, T>>,
    next_req: u64,
}

impl<M, T> Default for Calls<M, T> {
    fn default() -> Self {
        Calls { services: Vec::new(), pending: BTreeMap::new(), next_req: 0 }
    }
}

impl<M: Clone, T> Calls<M, T> {
    pub fn new() -> Self {
        Self::default()
    }

    /// A cache hint, and only that, for a call about to be made (`Actor::prefetch_op`): each
    /// downstream's record and counters and its balancer's state, which a call reads first.
    #[inline]
    pub fn prefetch(&self) {
        for d in &self.services {
            sim_core::hint::prefetch(d);
            sim_core::hint::prefetch(&d.stats);
            d.balancer.prefetch();
        }
    }

    /// Adds a downstream service: its backends, how to pick one, how to treat calls to it.
    /// `scope` names its counters (`scope.calls`, `scope.retries`, ...).
    pub fn add(
        &mut self,
        scope: &'static str,
        backends: &[NodeId],
        policy: CallPolicy,
        balance: Policy,
        health: HealthSpec,
    ) -> ServiceId {
        self.services.push(Downstream {
            scope,
            policy,
            balancer: Balancer::new(backends, balance, health),
            breaker: BreakerState::Closed { failures: 0 },
            stats: CallStats::default(),
        });
        ServiceId(self.services.len() - 1)
    }

    /// Calls for which no answer has come yet.
    pub fn in_flight(&self) -> usize {
        self.pending.len()
    }

    pub fn stats(&self, svc: ServiceId) -> &CallStats {
        &self.services[svc.0].stats
    }

    pub fn balancer(&self, svc: ServiceId) -> &Balancer {
        &self.services[svc.0].balancer
    }

    pub fn balancer_mut(&mut self, svc: ServiceId) -> &mut Balancer {
        &mut self.services[svc.0].balancer
    }

    pub fn balance_stats(&self, svc: ServiceId) -> BalanceStats {
        self.services[svc.0].balancer.stats
    }

    /// Whether the breaker of `svc` is open (or half-open) now.
    pub fn breaker_open(&self, svc: ServiceId) -> bool {
        !matches!(self.services[svc.0].breaker, BreakerState::Closed { .. })
    }

    /// Starts a call to service `svc` for `key` (hashing policies route by it). `make` builds the
    /// request around its id. `Err` when the call ends at once (breaker open, no backend).
    pub fn call<A>(
        &mut self,
        ctx: &mut Ctx<'_, A>,
        svc: ServiceId,
        key: u64,
        make: impl FnOnce(ReqId) -> M,
        data: T,
    ) -> Result<ReqId, Done<T>>
    where
        A: Actor<Msg: From<M>, Timer: From<CallTimer>>,
    {
        self.start(ctx, svc, key, None, make, data)
    }

    /// Like [`Calls::call`], to a backend the caller chose itself (a directory lookup, a sticky
    /// session) instead of the balancer's pick; retries go to the same backend.
    pub fn call_to<A>(
        &mut self,
        ctx: &mut Ctx<'_, A>,
        svc: ServiceId,
        to: NodeId,
        make: impl FnOnce(ReqId) -> M,
        data: T,
    ) -> Result<ReqId, Done<T>>
    where
        A: Actor<Msg: From<M>, Timer: From<CallTimer>>,
    {
        self.start(ctx, svc, 0, Some(to), make, data)
    }

    fn start<A>(
        &mut self,
        ctx: &mut Ctx<'_, A>,
        svc: ServiceId,
        key: u64,
        fixed: Option<NodeId>,
        make: impl FnOnce(ReqId) -> M,
        data: T,
    ) -> Result<ReqId, Done<T>>
    where
        A: Actor<Msg: From<M>, Timer: From<CallTimer>>,
    {
        let now = ctx.monotonic();
        let req = self.next_req;
        self.next_req += 1;
        let d = &mut self.services[svc.0];
        d.stats.calls += 1;
        let msg = make(ReqId(req));
        let p = Pending {
            svc: svc.0,
            key,
            msg,
            data,
            attempt: 0,
            to: None,
            fixed,
            timer: TimerId(u64::MAX),
            backing_off: false,
            started: now,
        };
        self.pending.insert(req, p);
        match self.attempt(ctx, req) {
            None => Ok(ReqId(req)),
            Some(done) => Err(done),
        }
    }

    /// Sends the next attempt of `req`, or ends it (breaker open, no backend).
    fn attempt<A>(&mut self, ctx: &mut Ctx<'_, A>, req: u64) -> Option<Done<T>>
    where
        A: Actor<Msg: From<M>, Timer: From<CallTimer>>,
    {
        let now = ctx.monotonic();
        let p = self.pending.get_mut(&req).expect("attempt of a pending call");
        let d = &mut self.services[p.svc];
        if !d.breaker_allows(now) {
            d.stats.breaker_rejected += 1;
            ctx.count_in(d.scope, "breaker_rejected", 1);
            return self.end(ctx, req, CallOutcome::BreakerOpen);
        }
        let Some(to) = p.fixed.or_else(|| d.balancer.pick(p.key, now, ctx.rng())) else {
            d.stats.no_backend += 1;
            ctx.count_in(d.scope, "no_backend", 1);
            return self.end(ctx, req, CallOutcome::NoBackend);
        };
        p.attempt += 1;
        p.to = Some(to);
        p.backing_off = false;
        d.stats.attempts += 1;
        if p.attempt > 1 {
            d.stats.retries += 1;
            ctx.count_in(d.scope, "retries", 1);
        }
        d.balancer.on_start(to);
        ctx.send(to, A::Msg::from(p.msg.clone()));
        p.timer = ctx.set_timer(d.policy.timeout, A::Timer::from(CallTimer { req, attempt: p.attempt, retry: false }));
        None
    }

    fn end<A: Actor>(&mut self, ctx: &mut Ctx<'_, A>, req: u64, outcome: CallOutcome) -> Option<Done<T>> {
        let p = self.pending.remove(&req).expect("end of a pending call");
        let d = &mut self.services[p.svc];
        match outcome {
            CallOutcome::Ok => d.stats.ok += 1,
            CallOutcome::Error => d.stats.errors += 1,
            CallOutcome::Timeout => {
                d.stats.timeouts += 1;
                ctx.count_in(d.scope, "timeouts", 1);
            }
            CallOutcome::BreakerOpen | CallOutcome::NoBackend => {}
        }
        Some(Done {
            data: p.data,
            outcome,
            attempts: p.attempt,
            latency: ctx.monotonic().since(p.started),
            backend: p.to,
        })
    }

    /// Retries `req` after its backoff, or ends it when its attempts are used up.
    fn fail_attempt<A>(&mut self, ctx: &mut Ctx<'_, A>, req: u64, outcome: CallOutcome) -> Option<Done<T>>
    where
        A: Actor<Timer: From<CallTimer>>,
    {
        let now = ctx.monotonic();
        let p = self.pending.get_mut(&req).expect("pending");
        let d = &mut self.services[p.svc];
        if let Some(to) = p.to {
            d.balancer.on_end(to, false, now);
        }
        d.breaker_result(false, now);
        if p.attempt > d.policy.retries {
            return self.end(ctx, req, outcome);
        }
        let wait = d.policy.backoff.wait(p.attempt, ctx.rng());
        p.backing_off = true;
        p.timer = ctx.set_timer(wait, A::Timer::from(CallTimer { req, attempt: p.attempt, retry: true }));
        None
    }

    /// A backend's answer to `req`. Returns the call's end, if this answer ends it.
    pub fn reply<A>(&mut self, ctx: &mut Ctx<'_, A>, req: ReqId, answer: Answer) -> Option<Done<T>>
    where
        A: Actor<Msg: From<M>, Timer: From<CallTimer>>,
    {
        let now = ctx.monotonic();
        let Some(p) = self.pending.get_mut(&req.0) else {
            // Answered after the call ended (an earlier attempt's late answer, or after a timeout).
            // Which service it was is no longer known; count it against the first.
            if let Some(d) = self.services.first_mut() {
                d.stats.late_replies += 1;
            }
            return None;
        };
        match answer {
            Answer::Ok => {
                ctx.cancel_timer(p.timer);
                let d = &mut self.services[p.svc];
                if let (Some(to), false) = (p.to, p.backing_off) {
                    d.balancer.on_end(to, true, now);
                }
                d.breaker_result(true, now);
                self.end(ctx, req.0, CallOutcome::Ok)
            }
            // An earlier attempt's error during the backoff: the retry is already scheduled.
            Answer::Retryable if p.backing_off => None,
            Answer::Retryable => {
                ctx.cancel_timer(p.timer);
                self.fail_attempt(ctx, req.0, CallOutcome::Error)
            }
            Answer::Fatal => {
                ctx.cancel_timer(p.timer);
                let d = &mut self.services[p.svc];
                if let (Some(to), false) = (p.to, p.backing_off) {
                    // The backend is alive and answered: not a health failure.
                    d.balancer.on_end(to, true, now);
                }
                self.end(ctx, req.0, CallOutcome::Error)
            }
        }
    }

    /// A [`CallTimer`] fired: an attempt's deadline (a timeout) or a backoff's end (the retry).
    pub fn on_timer<A>(&mut self, ctx: &mut Ctx<'_, A>, t: CallTimer) -> Option<Done<T>>
    where
        A: Actor<Msg: From<M>, Timer: From<CallTimer>>,
    {
        let p = self.pending.get(&t.req)?;
        if p.attempt != t.attempt || p.backing_off != t.retry {
            return None; // a timer of an attempt that is over
        }
        if t.retry {
            return self.attempt(ctx, t.req);
        }
        let d = &mut self.services[p.svc];
        d.stats.attempt_timeouts += 1;
        self.fail_attempt(ctx, t.req, CallOutcome::Timeout)
    }
}

/// A workload client's operations, each one call to one downstream service: [`Calls`] with the
/// operation as the call's data, completing the operation when its call ends (answered, timed out
/// after its last attempt, or refused at once). The client side of most designs.
#[derive(Debug)]
pub struct OpCalls<M> {
    calls: Calls<M, sim_core::OpId>,
    svc: ServiceId,
}

impl<M: Clone> OpCalls<M> {
    /// Calls to `backends`, each picked by `balance` ([`OpCalls::call`]); with no backends, each
    /// call names its target ([`OpCalls::call_to`]). `scope` names the counters.
    pub fn new(scope: &'static str, backends: &[NodeId], policy: CallPolicy, balance: Policy) -> Self {
        let mut calls = Calls::new();
        let svc = calls.add(scope, backends, policy, balance, HealthSpec::default());
        OpCalls { calls, svc }
    }

    /// One attempt per operation, given up after `timeout`, to the target each call names.
    pub fn with_timeout(scope: &'static str, timeout: Duration) -> Self {
        Self::new(scope, &[], CallPolicy { timeout, ..CallPolicy::default() }, Policy::default())
    }

    /// Starts operation `op` as a call to the backend the balancer picks for `key`; `make` builds
    /// the request around its id.
    pub fn call<A>(&mut self, ctx: &mut Ctx<'_, A>, key: u64, make: impl FnOnce(ReqId) -> M, op: sim_core::OpId)
    where
        A: Actor<Msg: From<M>, Timer: From<CallTimer>>,
    {
        if let Err(done) = self.calls.call(ctx, self.svc, key, make, op) {
            complete(ctx, done, None);
        }
    }

    /// Starts operation `op` as a call to `to`.
    pub fn call_to<A>(&mut self, ctx: &mut Ctx<'_, A>, to: NodeId, make: impl FnOnce(ReqId) -> M, op: sim_core::OpId)
    where
        A: Actor<Msg: From<M>, Timer: From<CallTimer>>,
    {
        if let Err(done) = self.calls.call_to(ctx, self.svc, to, make, op) {
            complete(ctx, done, None);
        }
    }

    /// The backend answered `req`: the operation ends with `outcome` and `reply`, the design's
    /// reading of the answer (a 429 is `Rejected`, a refusal `Fail`). An answer other than `Ok` is
    /// final: it is not retried. An answer to a call that is over does nothing.
    pub fn answered<A>(&mut self, ctx: &mut Ctx<'_, A>, req: ReqId, outcome: sim_core::Outcome, reply: sim_core::Reply)
    where
        A: Actor<Msg: From<M>, Timer: From<CallTimer>>,
    {
        let answer = if outcome == sim_core::Outcome::Ok { Answer::Ok } else { Answer::Fatal };
        if let Some(done) = self.calls.reply(ctx, req, answer) {
            ctx.complete(done.data, outcome, reply);
        }
    }

    /// A [`CallTimer`] fired: a retry goes out, or the operation times out.
    pub fn on_timer<A>(&mut self, ctx: &mut Ctx<'_, A>, t: CallTimer)
    where
        A: Actor<Msg: From<M>, Timer: From<CallTimer>>,
    {
        if let Some(done) = self.calls.on_timer(ctx, t) {
            complete(ctx, done, None);
        }
    }

    /// Operations whose call has not ended.
    pub fn in_flight(&self) -> usize {
        self.calls.in_flight()
    }

    pub fn stats(&self) -> &CallStats {
        self.calls.stats(self.svc)
    }
}

/// A server's requests whose answer waits for a disk write: the write's id names the request
/// (`wait`), and the write's completion gives back whom to answer (`written`). A retry of a request
/// whose effect the server already applied asks `is_waiting`: if so, the first copy's write will
/// answer; if not, the effect is on disk and the server answers at once.
///
/// Both directions are indexed, so a retry costs a look-up, not a scan of every write in flight:
/// an overloaded server's disk queue and its callers' retries grow together.
#[derive(Debug, Default)]
pub struct AnswerWhenDurable {
    by_write: BTreeMap<WriteId, (NodeId, ReqId)>,
    /// (caller, request) -> its writes in flight. Usually 1; two incarnations of a caller may
    /// number their requests alike.
    waiting: BTreeMap<(NodeId, ReqId), u32>,
}

impl AnswerWhenDurable {
    /// Request `req` from `from` is answered when write `w` is on disk.
    pub fn wait(&mut self, w: WriteId, from: NodeId, req: ReqId) {
        self.by_write.insert(w, (from, req));
        *self.waiting.entry((from, req)).or_insert(0) += 1;
    }

    /// Whether a write for `req` from `from` is still in flight.
    pub fn is_waiting(&self, from: NodeId, req: ReqId) -> bool {
        self.waiting.contains_key(&(from, req))
    }

    /// Write `w` is on disk: whom to answer, if it was a request's.
    pub fn written(&mut self, w: WriteId) -> Option<(NodeId, ReqId)> {
        let (from, req) = self.by_write.remove(&w)?;
        let n = self.waiting.get_mut(&(from, req)).expect("every write waited on is counted");
        *n -= 1;
        if *n == 0 {
            self.waiting.remove(&(from, req));
        }
        Some((from, req))
    }

    /// Writes in flight.
    pub fn len(&self) -> usize {
        self.by_write.len()
    }

    pub fn is_empty(&self) -> bool {
        self.by_write.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sim_core::{Effect, Message};

    #[derive(Clone, Debug)]
    struct Req(u64);
    impl Message for Req {
        fn kind(&self) -> &'static str {
            "req"
        }
    }

    type T = crate::testing::PartHost<Req, CallTimer>;

    type Bench = crate::testing::Bench<T>;

    type Drained = (Vec<(NodeId, u64)>, Vec<(Duration, CallTimer)>);

    /// Sends `(to, req)` and timers `(after, timer)` recorded since the last look.
    fn drain(b: &mut Bench) -> Drained {
        let (timers, rest) = b.drain();
        let sent = rest
            .into_iter()
            .filter_map(|e| match e {
                Effect::Send { to, msg: Req(r) } => Some((to, r)),
                _ => None,
            })
            .collect();
        (sent, timers)
    }

    fn policy(retries: u32, breaker: Option<BreakerSpec>) -> CallPolicy {
        CallPolicy {
            timeout: Duration::from_millis(100),
            retries,
            backoff: Backoff { jitter: Jitter::None, ..Backoff::default() },
            breaker,
        }
    }

    fn calls(p: CallPolicy, backends: u32) -> (Calls<Req, &'static str>, ServiceId) {
        let mut c = Calls::new();
        let nodes: Vec<NodeId> = (0..backends).map(NodeId).collect();
        let s = c.add("db", &nodes, p, Policy::RoundRobin, HealthSpec::default());
        (c, s)
    }

    #[test]
    fn an_answer_ends_the_call_and_cancels_its_deadline() {
        let mut b = Bench::new();
        let (mut c, s) = calls(policy(2, None), 1);
        let req = b.with(|ctx| c.call(ctx, s, 0, |r| Req(r.0), "op1")).unwrap();
        let (sent, timers) = drain(&mut b);
        assert_eq!(sent, [(NodeId(0), req.0)]);
        assert_eq!(timers[0].0, Duration::from_millis(100));
        b.now = Time(5_000_000);
        let done = b.with(|ctx| c.reply(ctx, req, Answer::Ok)).unwrap();
        assert_eq!((done.data, done.outcome, done.attempts), ("op1", CallOutcome::Ok, 1));
        assert_eq!(done.latency, Duration::from_millis(5));
        assert!(b.fx.iter().any(|e| matches!(e, Effect::CancelTimer { .. })));
        // The deadline firing afterwards does nothing.
        assert!(b.with(|ctx| c.on_timer(ctx, timers[0].1)).is_none());
        assert_eq!(c.in_flight(), 0);
    }

    #[test]
    fn timeouts_retry_with_exponential_backoff_then_give_up() {
        let mut b = Bench::new();
        let (mut c, s) = calls(policy(2, None), 2);
        b.with(|ctx| c.call(ctx, s, 0, |r| Req(r.0), "op")).unwrap();
        let mut waits = Vec::new();
        let mut targets = Vec::new();
        let mut done = None;
        for _ in 0..10 {
            let (sent, timers) = drain(&mut b);
            targets.extend(sent.iter().map(|s| s.0));
            let Some(&(after, t)) = timers.first() else { break };
            if t.retry {
                waits.push(after);
            }
            b.now += after;
            if let Some(d) = b.with(|ctx| c.on_timer(ctx, t)) {
                done = Some(d);
                break;
            }
        }
        let done = done.expect("the call ended");
        assert_eq!((done.outcome, done.attempts), (CallOutcome::Timeout, 3));
        assert_eq!(waits, [Duration::from_millis(50), Duration::from_millis(100)]);
        assert_eq!(targets, [NodeId(0), NodeId(1), NodeId(0)], "round robin across attempts");
        let st = c.stats(s);
        assert_eq!((st.calls, st.attempts, st.retries, st.attempt_timeouts, st.timeouts), (1, 3, 2, 3, 1));
    }

    #[test]
    fn a_late_answer_during_the_backoff_completes_the_call() {
        let mut b = Bench::new();
        let (mut c, s) = calls(policy(3, None), 1);
        let req = b.with(|ctx| c.call(ctx, s, 0, |r| Req(r.0), "op")).unwrap();
        let (_, timers) = drain(&mut b);
        b.now = Time(100_000_000);
        assert!(b.with(|ctx| c.on_timer(ctx, timers[0].1)).is_none()); // timeout: backing off
        let done = b.with(|ctx| c.reply(ctx, req, Answer::Ok)).unwrap();
        assert_eq!((done.outcome, done.attempts), (CallOutcome::Ok, 1));
        // The retry's timer is stale now.
        let (_, timers) = drain(&mut b);
        assert!(timers.iter().all(|(_, t)| b.with(|ctx| c.on_timer(ctx, *t)).is_none()));
        // An answer after the end is counted, not delivered.
        assert!(b.with(|ctx| c.reply(ctx, req, Answer::Ok)).is_none());
        assert_eq!(c.stats(s).late_replies, 1);
    }

    #[test]
    fn call_to_sends_every_attempt_to_the_chosen_backend() {
        let mut b = Bench::new();
        let (mut c, s) = calls(policy(1, None), 3);
        b.with(|ctx| c.call_to(ctx, s, NodeId(2), |r| Req(r.0), "op")).unwrap();
        let (sent, timers) = drain(&mut b);
        b.now += timers[0].0;
        assert!(b.with(|ctx| c.on_timer(ctx, timers[0].1)).is_none());
        let (_, timers) = drain(&mut b);
        b.now += timers[0].0;
        assert!(b.with(|ctx| c.on_timer(ctx, timers[0].1)).is_none());
        let (again, _) = drain(&mut b);
        assert_eq!([sent[0].0, again[0].0], [NodeId(2), NodeId(2)]);
    }

    #[test]
    fn fatal_errors_are_not_retried() {
        let mut b = Bench::new();
        let (mut c, s) = calls(policy(3, None), 1);
        let req = b.with(|ctx| c.call(ctx, s, 0, |r| Req(r.0), "op")).unwrap();
        let done = b.with(|ctx| c.reply(ctx, req, Answer::Fatal)).unwrap();
        assert_eq!((done.outcome, done.attempts), (CallOutcome::Error, 1));
    }

    #[test]
    fn the_breaker_opens_fails_fast_then_probes_and_closes() {
        let mut b = Bench::new();
        let spec = BreakerSpec { failures: 3, cooldown: Duration::from_secs(1) };
        let (mut c, s) = calls(policy(0, Some(spec)), 1);
        for _ in 0..3 {
            let req = b.with(|ctx| c.call(ctx, s, 0, |r| Req(r.0), "op")).unwrap();
            let done = b.with(|ctx| c.reply(ctx, req, Answer::Retryable)).unwrap();
            assert_eq!(done.outcome, CallOutcome::Error);
        }
        assert!(c.breaker_open(s));
        drain(&mut b);
        let refused = b.with(|ctx| c.call(ctx, s, 0, |r| Req(r.0), "op")).unwrap_err();
        assert_eq!((refused.outcome, refused.attempts), (CallOutcome::BreakerOpen, 0));
        assert!(drain(&mut b).0.is_empty(), "nothing sent while open");
        // After the cooldown one probe goes through; a second call meanwhile is refused.
        b.now = Time(Duration::from_secs(1).0);
        let probe = b.with(|ctx| c.call(ctx, s, 0, |r| Req(r.0), "probe")).unwrap();
        assert!(b.with(|ctx| c.call(ctx, s, 0, |r| Req(r.0), "op")).is_err());
        b.with(|ctx| c.reply(ctx, probe, Answer::Ok)).unwrap();
        assert!(!c.breaker_open(s));
        assert!(b.with(|ctx| c.call(ctx, s, 0, |r| Req(r.0), "op")).is_ok());
        let st = c.stats(s);
        assert_eq!((st.breaker_opened, st.breaker_rejected), (1, 2));
    }

    #[test]
    fn jitter_stays_within_its_bounds() {
        let mut b = Bench::new();
        let mut p = policy(1, None);
        p.backoff.jitter = Jitter::Equal;
        let (mut c, s) = calls(p, 1);
        for _ in 0..200 {
            let req = b.with(|ctx| c.call(ctx, s, 0, |r| Req(r.0), "op")).unwrap();
            drain(&mut b);
            b.with(|ctx| c.reply(ctx, req, Answer::Retryable));
            let (_, timers) = drain(&mut b);
            let wait = timers[0].0;
            assert!((25_000_000..=50_000_000).contains(&wait.0), "{wait}");
            b.with(|ctx| c.reply(ctx, req, Answer::Ok)).unwrap();
        }
    }

    #[test]
    fn op_calls_complete_each_operation_once_with_the_designs_outcome() {
        use sim_core::{OpId, Outcome, Reply};
        let mut b = Bench::new();
        let mut ops = OpCalls::with_timeout("client", Duration::from_millis(100));
        let completed = |b: &mut Bench| -> Vec<(OpId, Outcome, Reply)> {
            b.fx.iter()
                .filter_map(|e| match e {
                    Effect::Complete { op, outcome, reply } => Some((*op, *outcome, reply.clone())),
                    _ => None,
                })
                .collect()
        };
        // Answered: the reply and outcome are the design's (a 429 is Rejected, not Fail).
        b.with(|ctx| ops.call_to(ctx, NodeId(4), |r| Req(r.0), OpId(1)));
        b.with(|ctx| ops.call_to(ctx, NodeId(4), |r| Req(r.0), OpId(2)));
        let (sent, _) = drain(&mut b);
        assert_eq!(sent, [(NodeId(4), 0), (NodeId(4), 1)]);
        b.with(|ctx| ops.answered(ctx, ReqId(0), Outcome::Ok, Reply::Value(7)));
        b.with(|ctx| ops.answered(ctx, ReqId(1), Outcome::Rejected, Reply::None));
        assert_eq!(
            completed(&mut b),
            [(OpId(1), Outcome::Ok, Reply::Value(7)), (OpId(2), Outcome::Rejected, Reply::None)]
        );
        // A second answer to an ended call completes nothing.
        b.fx.clear();
        b.with(|ctx| ops.answered(ctx, ReqId(0), Outcome::Ok, Reply::Value(8)));
        assert!(completed(&mut b).is_empty());
        // Unanswered: the deadline times the operation out, and a late answer is ignored.
        b.with(|ctx| ops.call_to(ctx, NodeId(4), |r| Req(r.0), OpId(3)));
        let (_, timers) = drain(&mut b);
        b.now += timers[0].0;
        b.with(|ctx| ops.on_timer(ctx, timers[0].1));
        b.with(|ctx| ops.answered(ctx, ReqId(2), Outcome::Ok, Reply::None));
        assert_eq!(completed(&mut b), [(OpId(3), Outcome::Timeout, Reply::None)]);
        assert_eq!((ops.in_flight(), ops.stats().timeouts, ops.stats().late_replies), (0, 1, 2));
    }

    #[test]
    fn backoff_grows_and_caps() {
        let b = Backoff {
            base: Duration::from_millis(10),
            max: Duration::from_millis(70),
            multiplier: 2.0,
            jitter: Jitter::None,
        };
        let d: Vec<u64> = (1..=5).map(|k| b.delay(k).0 / 1_000_000).collect();
        assert_eq!(d, [10, 20, 40, 70, 70]);
    }

    /// A retry is told apart by its caller and request: waiting while its first copy's write is in
    /// flight, answered at once after. Two incarnations' requests with the same number each keep
    /// the pair waiting until both writes are on disk.
    #[test]
    fn answer_when_durable_follows_each_write() {
        let mut a = AnswerWhenDurable::default();
        let (x, y) = (NodeId(3), NodeId(4));
        a.wait(WriteId(10), x, ReqId(1));
        a.wait(WriteId(11), y, ReqId(1));
        a.wait(WriteId(12), x, ReqId(1));
        assert!(a.is_waiting(x, ReqId(1)) && a.is_waiting(y, ReqId(1)));
        assert!(!a.is_waiting(x, ReqId(2)) && !a.is_waiting(NodeId(5), ReqId(1)));
        assert_eq!(a.written(WriteId(10)), Some((x, ReqId(1))));
        assert!(a.is_waiting(x, ReqId(1)), "the second write of x's request 1 is in flight");
        assert_eq!(a.written(WriteId(10)), None, "a write answers once");
        assert_eq!(a.written(WriteId(99)), None, "a write no request waits on");
        assert_eq!(a.written(WriteId(12)), Some((x, ReqId(1))));
        assert!(!a.is_waiting(x, ReqId(1)) && a.is_waiting(y, ReqId(1)));
        assert_eq!(a.len(), 1);
        assert_eq!(a.written(WriteId(11)), Some((y, ReqId(1))));
        assert!(a.is_empty() && !a.is_waiting(y, ReqId(1)));
    }
}
