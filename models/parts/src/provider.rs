//! A third-party dependency: an external API the design calls but does not run (a payment
//! provider, an email/SMS/push gateway, an `isMalicious(ip)` reputation service).
//!
//! A [`Provider`] lives in a node of its own (the provider's edge, as the design sees it). It
//! answers each [`Msg::Request`] with a [`Msg::Response`] after a latency drawn from a
//! distribution, fails a share of requests with an error (HTTP 5xx), and enforces a rate limit per
//! caller fleet with a token bucket: over the limit it answers at once with `429 Too Many
//! Requests`. It keeps no state a design could rely on, and it is not the design's to fix: the
//! design's side of the contract is the caller's ([`crate::calls::Calls`]: timeouts, retries with
//! backoff and jitter, a circuit breaker).
//!
//! **Outages** are scheduled by the scenario like faults, with the kernel's
//! [`sim_core::fault::Fault::Outage`] on the provider's node, and this part reads the one in force
//! through [`Ctx::outage`] (the only fault a model can see: a provider's own failure is its
//! behaviour, which the kernel cannot fabricate; see ARCHITECTURE.md):
//! - `Down`: requests vanish; nothing is answered (the caller times out);
//! - `Errors(rate: p)`: each request fails with probability `p` (on top of `error_rate`);
//! - `Slow(extra: d)`: every answer comes `d` late.
//!
//! The outage shows in the report like any fault: a row in the fault table (with the requests it
//! met, `in outage`), a shaded window on the plots, and `Availability(window: OutsideFaults)`
//! leaves its window out.
//!
//! Knobs ([`ProviderSpec`]):
//!
//! ```ron
//! provider: (
//!     latency: LogNormal(median: "80ms", sigma: 0.4),
//!     error_rate: 0.01,
//!     rate_limit: Some((per_s: 200.0, burst: 50)),
//! )
//! ```
//!
//! Measured in [`ProviderStats`]: requests, ok, errors (baseline and outage), rate limited (429),
//! unanswered (down), slowed; as kernel counters under the provider's scope (the failures, which
//! survive a crash of its node): `errors`, `rate_limited`, `unanswered`; the level
//! `scope.in_flight` (requests the provider is working on, over time).
//!
//! Invariants: every request is answered exactly once, except during a `Down` outage (never) or
//! a crash of the provider's node (the answers in progress are lost with it); a 429 is answered
//! without the service latency and consumes no token; the bucket never holds more than `burst`
//! tokens. Order of decisions for a request: down? then rate limit, then error, then latency.

use crate::calls::{Answer, ReqId};
use serde::{Deserialize, Serialize};
use sim_core::fault::OutageMode;
use sim_core::{Actor, Ctx, Dist, Message, NodeId, Time};
use std::collections::BTreeMap;

/// A token bucket: `per_s` tokens a second, at most `burst` saved up.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RateLimit {
    pub per_s: f64,
    pub burst: u32,
}

/// ```ron
/// (latency: LogNormal(median: "80ms", sigma: 0.4), error_rate: 0.01, rate_limit: Some((per_s: 200.0, burst: 50)))
/// ```
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ProviderSpec {
    /// From a request's arrival to its answer (the provider's own processing).
    pub latency: Dist,
    /// Share of requests answered with an error outside any outage.
    pub error_rate: f64,
    /// `None`: no limit.
    pub rate_limit: Option<RateLimit>,
}

impl Default for ProviderSpec {
    fn default() -> Self {
        ProviderSpec {
            latency: Dist::LogNormal { median: sim_core::Duration::from_millis(50), sigma: 0.4 },
            error_rate: 0.0,
            rate_limit: None,
        }
    }
}

impl ProviderSpec {
    pub fn validate(&self, path: &str) -> Vec<(String, String)> {
        let mut e = Vec::new();
        if let Err(m) = self.latency.validate() {
            e.push((format!("{path}.latency"), m));
        }
        if !(0.0..=1.0).contains(&self.error_rate) {
            e.push((
                format!("{path}.error_rate"),
                format!("a probability must be within [0, 1], got {}", self.error_rate),
            ));
        }
        if let Some(r) = &self.rate_limit {
            if !(r.per_s.is_finite() && r.per_s > 0.0) {
                e.push((format!("{path}.rate_limit.per_s"), format!("must be a positive rate, got {}", r.per_s)));
            }
            if r.burst == 0 {
                e.push((format!("{path}.rate_limit.burst"), "must be at least 1".into()));
            }
        }
        e
    }
}

/// What the provider answered.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Status {
    Ok,
    /// 5xx: worth retrying.
    Error,
    /// 429: over the rate limit; worth retrying later.
    RateLimited,
}

impl Status {
    /// How a [`crate::calls::Calls`] caller treats it.
    pub fn answer(self) -> Answer {
        match self {
            Status::Ok => Answer::Ok,
            Status::Error | Status::RateLimited => Answer::Retryable,
        }
    }
}

#[derive(Clone, Debug)]
pub enum Msg {
    /// A call of the API; `key` is what it is about (an order, an IP), echoed back.
    Request {
        id: ReqId,
        key: u64,
    },
    Response {
        id: ReqId,
        key: u64,
        status: Status,
    },
}

impl Message for Msg {
    fn kind(&self) -> &'static str {
        match self {
            Msg::Request { .. } => "provider_request",
            Msg::Response { .. } => "provider_response",
        }
    }
}

/// The end of a request's processing at the provider.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Timer(u64);

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ProviderStats {
    pub requests: u64,
    pub ok: u64,
    /// Answered with an error (baseline `error_rate` and `Errors` outages).
    pub errors: u64,
    /// Of `errors`, those caused by an outage.
    pub outage_errors: u64,
    pub rate_limited: u64,
    /// Dropped during a `Down` outage.
    pub unanswered: u64,
    /// Answered late by a `Slow` outage.
    pub slowed: u64,
}

impl ProviderStats {
    pub fn add(&mut self, o: &ProviderStats) {
        self.requests += o.requests;
        self.ok += o.ok;
        self.errors += o.errors;
        self.outage_errors += o.outage_errors;
        self.rate_limited += o.rate_limited;
        self.unanswered += o.unanswered;
        self.slowed += o.slowed;
    }
}

/// The provider's edge (see the module docs).
#[derive(Debug)]
pub struct Provider {
    scope: &'static str,
    spec: ProviderSpec,
    tokens: f64,
    refilled: Option<Time>,
    pending: BTreeMap<u64, (NodeId, ReqId, u64, Status)>,
    next: u64,
    pub stats: ProviderStats,
}

impl Provider {
    /// A provider counting under `scope` (`scope.requests`, `scope.rate_limited`, ...).
    pub fn new(scope: &'static str, spec: ProviderSpec) -> Provider {
        let tokens = spec.rate_limit.as_ref().map_or(0.0, |r| r.burst as f64);
        Provider {
            scope,
            spec,
            tokens,
            refilled: None,
            pending: BTreeMap::new(),
            next: 0,
            stats: ProviderStats::default(),
        }
    }

    /// Requests being worked on.
    pub fn in_flight(&self) -> usize {
        self.pending.len()
    }

    /// Takes a token if one is there (refilling first by the time since the last refill).
    fn admit(&mut self, now: Time) -> bool {
        let Some(r) = &self.spec.rate_limit else { return true };
        if let Some(t) = self.refilled {
            self.tokens = (self.tokens + now.since(t).as_secs_f64() * r.per_s).min(r.burst as f64);
        }
        self.refilled = Some(now);
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }

    /// A message for the provider: requests are answered (now or later); responses are the
    /// caller's business and ignored here.
    pub fn on_msg<A: Actor<Msg: From<Msg>, Timer: From<Timer>>>(
        &mut self,
        ctx: &mut Ctx<'_, A>,
        from: NodeId,
        msg: Msg,
    ) {
        let Msg::Request { id, key } = msg else { return };
        self.stats.requests += 1;
        let outage = ctx.outage();
        if outage == Some(OutageMode::Down) {
            self.stats.unanswered += 1;
            ctx.count_in(self.scope, "unanswered", 1);
            return;
        }
        if !self.admit(ctx.monotonic()) {
            self.stats.rate_limited += 1;
            ctx.count_in(self.scope, "rate_limited", 1);
            crate::send(ctx, from, Msg::Response { id, key, status: Status::RateLimited });
            return;
        }
        let base_error = ctx.rng().chance(self.spec.error_rate);
        let outage_error = match outage {
            Some(OutageMode::Errors { rate }) => !base_error && ctx.rng().chance(rate),
            _ => false,
        };
        let status = if base_error || outage_error { Status::Error } else { Status::Ok };
        if outage_error {
            self.stats.outage_errors += 1;
        }
        let mut after = self.spec.latency.sample(ctx.rng());
        if let Some(OutageMode::Slow { extra }) = outage {
            after = after + extra;
            self.stats.slowed += 1;
        }
        let n = self.next;
        self.next += 1;
        self.pending.insert(n, (from, id, key, status));
        ctx.level(self.scope, "in_flight", 1);
        crate::set_timer(ctx, after, Timer(n));
    }

    /// A request's processing is over: its answer goes out.
    pub fn on_timer<A: Actor<Msg: From<Msg>, Timer: From<Timer>>>(&mut self, ctx: &mut Ctx<'_, A>, t: Timer) {
        self.answer(ctx, t);
    }

    /// Like [`Provider::on_timer`], and returns what was answered: the request's `key` and the
    /// status sent (a design that must know what the provider *did*, e.g. which notifications a
    /// gateway delivered, records the `Ok`s).
    pub fn answer<A: Actor<Msg: From<Msg>, Timer: From<Timer>>>(
        &mut self,
        ctx: &mut Ctx<'_, A>,
        t: Timer,
    ) -> Option<(u64, Status)> {
        let (to, id, key, status) = self.pending.remove(&t.0)?;
        ctx.level(self.scope, "in_flight", -1);
        match status {
            Status::Ok => self.stats.ok += 1,
            _ => {
                self.stats.errors += 1;
                ctx.count_in(self.scope, "errors", 1);
            }
        }
        crate::send(ctx, to, Msg::Response { id, key, status });
        Some((key, status))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::Bench;
    use sim_core::{Duration, Effect};

    type T = crate::testing::PartHost<Msg, Timer>;

    const CALLER: NodeId = NodeId(1);

    /// Sends `n` requests now; then fires every timer set. Returns (statuses in answer order,
    /// the delays of the timers).
    fn run(b: &mut Bench<T>, p: &mut Provider, n: u64) -> (Vec<Status>, Vec<Duration>) {
        for i in 0..n {
            b.with(|ctx| p.on_msg(ctx, CALLER, Msg::Request { id: ReqId(i), key: i }));
        }
        let (mut statuses, mut delays, mut timers) = (Vec::new(), Vec::new(), Vec::new());
        let mut drain = |b: &mut Bench<T>, statuses: &mut Vec<Status>, timers: &mut Vec<Timer>| {
            for e in b.fx.drain(..) {
                match e {
                    Effect::Send { msg: Msg::Response { status, .. }, to, .. } => {
                        assert_eq!(to, CALLER);
                        statuses.push(status);
                    }
                    Effect::SetTimer { after, timer: t, .. } => {
                        delays.push(after);
                        timers.push(t);
                    }
                    _ => {}
                }
            }
        };
        drain(b, &mut statuses, &mut timers);
        for t in std::mem::take(&mut timers) {
            b.with(|ctx| p.on_timer(ctx, t));
        }
        drain(b, &mut statuses, &mut timers);
        (statuses, delays)
    }

    fn spec() -> ProviderSpec {
        ProviderSpec { latency: Dist::Constant(Duration::from_millis(40)), error_rate: 0.0, rate_limit: None }
    }

    fn count(s: &[Status], which: Status) -> usize {
        s.iter().filter(|x| **x == which).count()
    }

    #[test]
    fn answers_after_its_latency() {
        let mut b = Bench::new();
        let mut p = Provider::new("pay", spec());
        let (st, delays) = run(&mut b, &mut p, 3);
        assert_eq!(st, [Status::Ok; 3]);
        assert_eq!(delays, [Duration::from_millis(40); 3]);
        assert_eq!((p.stats.requests, p.stats.ok, p.in_flight()), (3, 3, 0));
    }

    #[test]
    fn the_token_bucket_answers_429_over_its_limit_and_refills() {
        let mut b = Bench::new();
        let mut p =
            Provider::new("pay", ProviderSpec { rate_limit: Some(RateLimit { per_s: 10.0, burst: 5 }), ..spec() });
        let (st, delays) = run(&mut b, &mut p, 8);
        // A burst of 5 passes; the 3 over the limit are answered at once, without a timer.
        assert_eq!((count(&st, Status::Ok), count(&st, Status::RateLimited), delays.len()), (5, 3, 5));
        assert_eq!(st[..3], [Status::RateLimited; 3], "429s go out before the served answers");
        // 250ms later: 2.5 tokens, so 2 pass.
        b.now = Time(Duration::from_millis(250).0);
        let (st, _) = run(&mut b, &mut p, 4);
        assert_eq!((count(&st, Status::Ok), count(&st, Status::RateLimited)), (2, 2));
        // A long quiet spell refills to the burst, never beyond.
        b.now = Time(Duration::from_secs(60).0);
        let (st, _) = run(&mut b, &mut p, 7);
        assert_eq!((count(&st, Status::Ok), count(&st, Status::RateLimited)), (5, 2));
        assert_eq!(p.stats.rate_limited, 7);
    }

    #[test]
    fn the_error_rate_fails_its_share_of_requests() {
        let mut b = Bench::new();
        let mut p = Provider::new("pay", ProviderSpec { error_rate: 0.2, ..spec() });
        let (st, _) = run(&mut b, &mut p, 5000);
        let errors = count(&st, Status::Error);
        // Binomial(5000, 0.2): mean 1000, sd 28; 5 sd either way.
        assert!((860..=1140).contains(&errors), "{errors}");
        assert_eq!((p.stats.errors as usize, p.stats.outage_errors), (errors, 0));
        assert_eq!(Status::Error.answer(), Answer::Retryable);
        assert_eq!(Status::RateLimited.answer(), Answer::Retryable);
    }

    #[test]
    fn a_down_outage_answers_nothing() {
        let mut b = Bench::new();
        let mut p = Provider::new("pay", spec());
        b.outage = Some(OutageMode::Down);
        let (st, delays) = run(&mut b, &mut p, 10);
        assert!(st.is_empty() && delays.is_empty());
        assert_eq!((p.stats.requests, p.stats.unanswered), (10, 10));
        // When it ends, answers resume.
        b.outage = None;
        assert_eq!(run(&mut b, &mut p, 2).0, [Status::Ok; 2]);
    }

    #[test]
    fn an_errors_outage_fails_its_rate_on_top_of_the_baseline() {
        let mut b = Bench::new();
        let mut p = Provider::new("pay", spec());
        b.outage = Some(OutageMode::Errors { rate: 1.0 });
        assert_eq!(run(&mut b, &mut p, 20).0, [Status::Error; 20]);
        b.outage = Some(OutageMode::Errors { rate: 0.5 });
        let (st, delays) = run(&mut b, &mut p, 4000);
        let errors = count(&st, Status::Error);
        assert!((1850..=2150).contains(&errors), "{errors}");
        assert_eq!(delays[0], Duration::from_millis(40), "errors take the service latency too");
        assert_eq!(p.stats.outage_errors, 20 + errors as u64);
    }

    #[test]
    fn a_slow_outage_delays_every_answer_by_its_extra() {
        let mut b = Bench::new();
        let mut p = Provider::new("pay", spec());
        b.outage = Some(OutageMode::Slow { extra: Duration::from_secs(2) });
        let (st, delays) = run(&mut b, &mut p, 3);
        assert_eq!(st, [Status::Ok; 3]);
        assert_eq!(delays, [Duration::from_millis(2040); 3]);
        assert_eq!(p.stats.slowed, 3);
    }

    #[test]
    fn validation_names_the_fields() {
        let bad = ProviderSpec {
            latency: Dist::Constant(Duration::from_millis(1)),
            error_rate: 1.5,
            rate_limit: Some(RateLimit { per_s: 0.0, burst: 0 }),
        };
        let paths: Vec<String> = bad.validate("config.provider").into_iter().map(|e| e.0).collect();
        assert_eq!(
            paths,
            ["config.provider.error_rate", "config.provider.rate_limit.per_s", "config.provider.rate_limit.burst"]
        );
    }
}
