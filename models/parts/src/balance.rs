//! Load balancing: which backend serves a request, and which backends are believed healthy.
//!
//! A [`Balancer`] holds a fixed list of backends, a [`Policy`] and each backend's health as the
//! caller sees it. It lives wherever the choice is made: in a client (client-side balancing), in a
//! proxy node (a load balancer tier), or inside [`crate::calls::Calls`], which keeps it informed of
//! every request's start and end.
//!
//! Policies:
//! - `RoundRobin`: the next healthy backend in turn.
//! - `Random`: uniformly among the healthy ones.
//! - `LeastOutstanding`: the healthy backend with the fewest requests in flight (lowest index on a
//!   tie).
//! - `PowerOfTwo`: two healthy backends at random, the one with fewer in flight (Mitzenmacher's
//!   "power of two choices": nearly the balance of least-outstanding, with two looks instead of N).
//! - `ConsistentHash { vnodes }`: the request's key on a [`common::ring::Ring`]; an unhealthy
//!   owner's keys go to the next healthy server clockwise, and only those keys move.
//! - `Rendezvous`: highest random weight: each backend scores `hash(key, backend)` and the highest
//!   healthy score wins. Every router computing it over the same list agrees without talking; a
//!   backend leaving moves only its own keys.
//!
//! Health ([`HealthSpec`]): *passive* ejection after `eject_after` consecutive failures (timeouts
//! or errors) for `eject_for`, and/or *active* checks (the caller pings every backend each
//! `interval`; `unhealthy_after` missed pings in a row mark it down, one answered ping marks it up).
//! Either way a dead backend keeps receiving traffic until it is noticed: the detection delay is
//! part of the model, and [`Balancer::picks`] (requests per backend) lets a design count what it
//! cost.
//!
//! Invariant: a pick only ever returns a backend of the list, and a healthy one whenever one
//! exists; with none healthy, `pick` returns `None` (fail fast) unless `fail_open` is set, in which
//! case every backend is tried as if healthy (what most proxies do rather than drop everything).

use common::ring::{Member, Ring};
use serde::{Deserialize, Serialize};
use sim_core::rng::mix64;
use sim_core::{Duration, NodeId, Prng, Time};

/// How a balancer chooses among healthy backends.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum Policy {
    #[default]
    RoundRobin,
    Random,
    LeastOutstanding,
    PowerOfTwo,
    ConsistentHash {
        vnodes: u32,
    },
    Rendezvous,
}

/// How a caller finds out that a backend is down.
///
/// ```ron
/// health: (eject_after: 3, eject_for: "10s", active: Some((interval: "1s", timeout: "200ms", unhealthy_after: 2)))
/// ```
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HealthSpec {
    /// Passive: consecutive failed requests that eject a backend (0: never).
    pub eject_after: u32,
    /// How long an ejected backend is left out before it is tried again.
    pub eject_for: Duration,
    /// Active health checks.
    pub active: Option<ActiveCheck>,
    /// With every backend down, try them all anyway (instead of failing fast).
    pub fail_open: bool,
}

impl Default for HealthSpec {
    fn default() -> Self {
        HealthSpec { eject_after: 0, eject_for: Duration::from_secs(10), active: None, fail_open: true }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ActiveCheck {
    pub interval: Duration,
    /// A ping unanswered after this long counts as missed.
    pub timeout: Duration,
    /// Missed pings in a row that mark a backend down.
    pub unhealthy_after: u32,
}

impl HealthSpec {
    pub fn validate(&self, path: &str) -> Vec<(String, String)> {
        let mut e = Vec::new();
        if self.eject_after > 0 && self.eject_for.0 == 0 {
            e.push((format!("{path}.eject_for"), "must be positive when eject_after is set".into()));
        }
        if let Some(a) = &self.active {
            if a.interval.0 == 0 {
                e.push((format!("{path}.active.interval"), "must be positive".into()));
            }
            if a.timeout.0 == 0 || a.timeout > a.interval {
                e.push((format!("{path}.active.timeout"), "must be positive and at most the interval".into()));
            }
            if a.unhealthy_after == 0 {
                e.push((format!("{path}.active.unhealthy_after"), "must be at least 1".into()));
            }
        }
        e
    }
}

impl Policy {
    pub fn validate(&self, path: &str) -> Vec<(String, String)> {
        match self {
            Policy::ConsistentHash { vnodes } if *vnodes == 0 || *vnodes > 4096 => {
                vec![(format!("{path}.vnodes"), format!("must be within [1, 4096], got {vnodes}"))]
            }
            _ => Vec::new(),
        }
    }
}

#[derive(Clone, Debug, Default)]
struct Backend {
    node: NodeId,
    outstanding: u32,
    /// Consecutive failures (passive health).
    failures: u32,
    /// Ejected by passive health until this time (local clock).
    ejected_until: Option<Time>,
    /// Consecutive missed active pings.
    missed: u32,
    /// Marked down by active checks.
    down: bool,
    picks: u64,
}

/// Counts of what a balancer did, summed over a design's callers in its report.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct BalanceStats {
    pub picks: u64,
    /// Picks with no healthy backend (failed fast, or failed open).
    pub picks_none_healthy: u64,
    pub ejections: u64,
    pub marked_down: u64,
    pub marked_up: u64,
}

/// A list of backends, a policy and the caller's view of their health.
#[derive(Clone, Debug)]
pub struct Balancer {
    policy: Policy,
    health: HealthSpec,
    backends: Vec<Backend>,
    ring: Option<Ring>,
    next: usize,
    pub stats: BalanceStats,
}

impl Balancer {
    /// A cache hint, and only that, for a pick about to be made: the balancer's own fields (not
    /// its backends, which would take a load of the list's address, itself a miss).
    #[inline]
    pub fn prefetch(&self) {
        sim_core::hint::prefetch(self);
        sim_core::hint::prefetch(&self.stats);
    }

    pub fn new(backends: &[NodeId], policy: Policy, health: HealthSpec) -> Balancer {
        let ring = match policy {
            Policy::ConsistentHash { vnodes } => {
                let members: Vec<Member> =
                    (0..backends.len() as u32).map(|server| Member { server, weight: 1 }).collect();
                Some(Ring::new(&members, vnodes))
            }
            _ => None,
        };
        Balancer {
            policy,
            health,
            backends: backends.iter().map(|&node| Backend { node, ..Backend::default() }).collect(),
            ring,
            next: 0,
            stats: BalanceStats::default(),
        }
    }

    /// Replaces the backend list (a membership change): backends kept keep their health and
    /// counts, new ones start fresh, and a hashing policy hashes over the new list.
    pub fn set_backends(&mut self, nodes: &[NodeId]) {
        let old = std::mem::take(&mut self.backends);
        self.backends = nodes
            .iter()
            .map(|&node| old.iter().find(|b| b.node == node).cloned().unwrap_or(Backend { node, ..Backend::default() }))
            .collect();
        if let Policy::ConsistentHash { vnodes } = self.policy
            && !nodes.is_empty()
        {
            let members: Vec<Member> = (0..nodes.len() as u32).map(|server| Member { server, weight: 1 }).collect();
            self.ring = Some(Ring::new(&members, vnodes));
        }
        self.next = 0;
    }

    pub fn backends(&self) -> impl Iterator<Item = NodeId> + '_ {
        self.backends.iter().map(|b| b.node)
    }

    pub fn len(&self) -> usize {
        self.backends.len()
    }

    pub fn is_empty(&self) -> bool {
        self.backends.is_empty()
    }

    pub fn health_spec(&self) -> &HealthSpec {
        &self.health
    }

    fn index_of(&self, node: NodeId) -> Option<usize> {
        self.backends.iter().position(|b| b.node == node)
    }

    /// Whether the caller believes `node` can serve (at local time `now`).
    pub fn is_healthy(&self, node: NodeId, now: Time) -> bool {
        self.index_of(node).is_some_and(|i| self.healthy(i, now))
    }

    fn healthy(&self, i: usize, now: Time) -> bool {
        let b = &self.backends[i];
        !b.down && b.ejected_until.is_none_or(|t| now >= t)
    }

    /// Chooses a backend for a request with `key` (used by the hashing policies). `None` when no
    /// backend is healthy and `fail_open` is off. Allocates nothing: it sits on every request.
    pub fn pick(&mut self, key: u64, now: Time, rng: &mut Prng) -> Option<NodeId> {
        let n = self.backends.len();
        if n == 0 {
            return None;
        }
        self.stats.picks += 1;
        // Without health checking every backend is a candidate: skip the scan.
        let tracked = self.health.eject_after > 0 || self.health.active.is_some();
        let healthy = if tracked { (0..n).filter(|&i| self.healthy(i, now)).count() } else { n };
        let all_candidates = if healthy == 0 {
            self.stats.picks_none_healthy += 1;
            if !self.health.fail_open {
                return None;
            }
            true
        } else {
            healthy == n
        };
        let candidates = if all_candidates { n } else { healthy };
        let ok = |i: usize| all_candidates || self.healthy(i, now);
        // The k-th candidate in backend order.
        let nth = |k: usize| (0..n).filter(|&i| ok(i)).nth(k).expect("k < candidates");
        let i = match self.policy {
            Policy::RoundRobin => {
                let start = self.next;
                (0..n).map(|k| (start + k) % n).find(|&i| ok(i)).expect("a candidate exists")
            }
            Policy::Random => nth(rng.below(candidates as u64) as usize),
            Policy::LeastOutstanding => {
                (0..n).filter(|&i| ok(i)).min_by_key(|&i| (self.backends[i].outstanding, i)).expect("a candidate")
            }
            Policy::PowerOfTwo => {
                let a = nth(rng.below(candidates as u64) as usize);
                let b = nth(rng.below(candidates as u64) as usize);
                if self.backends[b].outstanding < self.backends[a].outstanding { b } else { a }
            }
            Policy::ConsistentHash { .. } => {
                let ring = self.ring.as_ref().expect("built with the policy");
                let mut walk = ring.walk(ring.range_of(key));
                walk.find(|&s| ok(s as usize)).map(|s| s as usize).expect("the walk visits every backend")
            }
            Policy::Rendezvous => (0..n)
                .filter(|&i| ok(i))
                .max_by_key(|&i| (rendezvous_score(key, self.backends[i].node), i))
                .expect("a candidate"),
        };
        debug_assert!(i < n && ok(i), "picked a backend that is not a candidate");
        if self.policy == Policy::RoundRobin {
            self.next = (i + 1) % n;
        }
        self.backends[i].picks += 1;
        Some(self.backends[i].node)
    }

    /// A request to `node` started.
    pub fn on_start(&mut self, node: NodeId) {
        if let Some(i) = self.index_of(node) {
            self.backends[i].outstanding += 1;
        }
    }

    /// A request to `node` ended: `ok` false for a timeout or an error (passive health).
    pub fn on_end(&mut self, node: NodeId, ok: bool, now: Time) {
        let Some(i) = self.index_of(node) else { return };
        let eject_after = self.health.eject_after;
        let eject_for = self.health.eject_for;
        let b = &mut self.backends[i];
        b.outstanding = b.outstanding.saturating_sub(1);
        if ok {
            b.failures = 0;
            return;
        }
        b.failures += 1;
        if eject_after > 0 && b.failures >= eject_after && b.ejected_until.is_none_or(|t| now >= t) {
            b.ejected_until = Some(now + eject_for);
            b.failures = 0;
            self.stats.ejections += 1;
        }
    }

    /// An active ping to `node` was answered.
    pub fn on_ping_ok(&mut self, node: NodeId) {
        let Some(i) = self.index_of(node) else { return };
        let b = &mut self.backends[i];
        b.missed = 0;
        if b.down {
            b.down = false;
            self.stats.marked_up += 1;
        }
    }

    /// An active ping to `node` went unanswered.
    pub fn on_ping_missed(&mut self, node: NodeId) {
        let Some(limit) = self.health.active.as_ref().map(|a| a.unhealthy_after) else { return };
        let Some(i) = self.index_of(node) else { return };
        let b = &mut self.backends[i];
        b.missed += 1;
        if b.missed >= limit && !b.down {
            b.down = true;
            self.stats.marked_down += 1;
        }
    }

    /// Requests each backend was picked for, in backend order.
    pub fn picks(&self) -> Vec<(NodeId, u64)> {
        self.backends.iter().map(|b| (b.node, b.picks)).collect()
    }

    /// Requests in flight per backend, in backend order.
    pub fn outstanding(&self) -> Vec<u32> {
        self.backends.iter().map(|b| b.outstanding).collect()
    }
}

/// Active health checking: the messages of a ping.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ProbeMsg {
    Ping { seq: u64 },
    Pong { seq: u64 },
}

impl sim_core::Message for ProbeMsg {
    fn kind(&self) -> &'static str {
        match self {
            ProbeMsg::Ping { .. } => "health_ping",
            ProbeMsg::Pong { .. } => "health_pong",
        }
    }
    fn size_bytes(&self) -> u64 {
        32
    }
}

/// The prober's timers: the next round of pings, and one ping's deadline.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ProbeTimer {
    Round,
    Deadline { seq: u64 },
}

/// The caller's side of active health checks ([`HealthSpec::active`]): every `interval` it pings
/// each backend of a [`Balancer`]; a ping unanswered within `timeout` is a miss. A backend answers
/// with [`answer_ping`] (a crashed or partitioned one cannot, which is the point).
#[derive(Clone, Debug, Default)]
pub struct Prober {
    next_seq: u64,
    /// Pings in flight: seq -> backend.
    waiting: std::collections::BTreeMap<u64, NodeId>,
    pub pings: u64,
    pub missed: u64,
}

impl Prober {
    /// Starts the rounds (call from `on_start`); does nothing without `active` checks.
    pub fn start<A: sim_core::Actor<Timer: From<ProbeTimer>>>(&mut self, ctx: &mut sim_core::Ctx<'_, A>, b: &Balancer) {
        if let Some(a) = &b.health.active {
            // Spread the first round over one interval so callers do not ping in lockstep.
            let first = Duration(ctx.rng().below(a.interval.0.max(1)));
            ctx.set_timer(first, A::Timer::from(ProbeTimer::Round));
        }
    }

    pub fn on_timer<A>(&mut self, ctx: &mut sim_core::Ctx<'_, A>, t: ProbeTimer, b: &mut Balancer)
    where
        A: sim_core::Actor<Msg: From<ProbeMsg>, Timer: From<ProbeTimer>>,
    {
        let Some(a) = b.health.active.clone() else { return };
        match t {
            ProbeTimer::Round => {
                for node in b.backends().collect::<Vec<_>>() {
                    let seq = self.next_seq;
                    self.next_seq += 1;
                    self.waiting.insert(seq, node);
                    self.pings += 1;
                    ctx.send(node, A::Msg::from(ProbeMsg::Ping { seq }));
                    ctx.set_timer(a.timeout, A::Timer::from(ProbeTimer::Deadline { seq }));
                }
                ctx.set_timer(a.interval, A::Timer::from(ProbeTimer::Round));
            }
            ProbeTimer::Deadline { seq } => {
                if let Some(node) = self.waiting.remove(&seq) {
                    self.missed += 1;
                    b.on_ping_missed(node);
                }
            }
        }
    }

    /// A backend's pong (a pong after its deadline counts for nothing: the miss stands).
    pub fn on_pong(&mut self, from: NodeId, seq: u64, b: &mut Balancer) {
        if self.waiting.remove(&seq) == Some(from) {
            b.on_ping_ok(from);
        }
    }
}

/// A backend's answer to a health ping.
pub fn answer_ping<A: sim_core::Actor<Msg: From<ProbeMsg>>>(ctx: &mut sim_core::Ctx<'_, A>, from: NodeId, seq: u64) {
    ctx.send(from, A::Msg::from(ProbeMsg::Pong { seq }));
}

/// Rendezvous (highest random weight) score of `backend` for `key`.
#[inline]
pub fn rendezvous_score(key: u64, backend: NodeId) -> u64 {
    mix64(key ^ mix64(backend.0 as u64 ^ 0x4852_5721))
}

/// The rendezvous choice of `key` among `nodes` (what every router agrees on without talking).
pub fn rendezvous(key: u64, nodes: &[NodeId]) -> Option<NodeId> {
    nodes.iter().copied().max_by_key(|&n| (rendezvous_score(key, n), n))
}

#[cfg(test)]
mod tests {
    use super::*;
    use sim_core::Stream;

    fn nodes(n: u32) -> Vec<NodeId> {
        (0..n).map(NodeId).collect()
    }

    fn rng() -> Prng {
        Prng::new(1, Stream::Setup)
    }

    #[test]
    fn round_robin_cycles_and_skips_the_unhealthy() {
        let mut b = Balancer::new(&nodes(3), Policy::RoundRobin, HealthSpec { eject_after: 1, ..Default::default() });
        let mut r = rng();
        let picks: Vec<u32> = (0..6).map(|_| b.pick(0, Time(0), &mut r).unwrap().0).collect();
        assert_eq!(picks, [0, 1, 2, 0, 1, 2]);
        b.on_start(NodeId(1));
        b.on_end(NodeId(1), false, Time(0)); // ejected for 10 s
        let picks: Vec<u32> = (0..4).map(|_| b.pick(0, Time(1), &mut r).unwrap().0).collect();
        assert_eq!(picks, [0, 2, 0, 2]);
        // Back after eject_for.
        let later = Time(Duration::from_secs(11).0);
        let picks: Vec<u32> = (0..3).map(|_| b.pick(0, later, &mut r).unwrap().0).collect();
        assert!(picks.contains(&1), "{picks:?}");
        assert_eq!(b.stats.ejections, 1);
    }

    #[test]
    fn least_outstanding_prefers_the_idle_backend() {
        let mut b = Balancer::new(&nodes(3), Policy::LeastOutstanding, HealthSpec::default());
        let mut r = rng();
        b.on_start(NodeId(0));
        b.on_start(NodeId(0));
        b.on_start(NodeId(1));
        assert_eq!(b.pick(0, Time(0), &mut r), Some(NodeId(2)));
        b.on_start(NodeId(2));
        b.on_start(NodeId(2));
        assert_eq!(b.pick(0, Time(0), &mut r), Some(NodeId(1)));
    }

    #[test]
    fn power_of_two_balances_better_than_random() {
        // Requests that stay in flight: the max load under P2C is far below random's.
        let max_load = |policy| {
            let mut b = Balancer::new(&nodes(50), policy, HealthSpec::default());
            let mut r = rng();
            for _ in 0..5_000 {
                let n = b.pick(0, Time(0), &mut r).unwrap();
                b.on_start(n);
            }
            *b.outstanding().iter().max().unwrap()
        };
        let (random, p2c) = (max_load(Policy::Random), max_load(Policy::PowerOfTwo));
        assert!(p2c < random, "p2c {p2c} vs random {random}");
        assert!(p2c <= 104, "p2c max {p2c} (mean 100)");
    }

    #[test]
    fn rendezvous_agrees_everywhere_and_moves_only_the_lost_backends_keys() {
        let all = nodes(8);
        let fewer: Vec<NodeId> = all.iter().copied().filter(|n| n.0 != 3).collect();
        let mut moved = 0;
        for key in 0..10_000u64 {
            let before = rendezvous(key, &all).unwrap();
            let after = rendezvous(key, &fewer).unwrap();
            if before != after {
                assert_eq!(before, NodeId(3), "key {key} moved from a backend that stayed");
                moved += 1;
            }
        }
        assert!((1000..1500).contains(&moved), "{moved} keys moved (expected about 1/8)");
        // The balancer's policy agrees with the free function, and skips an unhealthy backend the
        // same way removing it would.
        let mut b = Balancer::new(&all, Policy::Rendezvous, HealthSpec { eject_after: 1, ..Default::default() });
        let mut r = rng();
        for key in 0..500 {
            assert_eq!(b.pick(key, Time(0), &mut r), rendezvous(key, &all));
        }
        b.on_end(NodeId(3), false, Time(0));
        for key in 0..500 {
            assert_eq!(b.pick(key, Time(1), &mut r), rendezvous(key, &fewer));
        }
    }

    #[test]
    fn a_new_backend_list_rehashes_like_the_free_function_and_keeps_the_kept_backends_health() {
        let mut b = Balancer::new(&nodes(3), Policy::Rendezvous, HealthSpec { eject_after: 1, ..Default::default() });
        let mut r = rng();
        b.on_end(NodeId(1), false, Time(0));
        let grown = nodes(5);
        b.set_backends(&grown);
        assert_eq!(b.backends().collect::<Vec<_>>(), grown);
        assert!(!b.is_healthy(NodeId(1), Time(1)), "n1 stays ejected");
        let without_1: Vec<NodeId> = grown.iter().copied().filter(|&n| n != NodeId(1)).collect();
        for key in 0..300 {
            assert_eq!(b.pick(key, Time(1), &mut r), rendezvous(key, &without_1));
        }
        b.set_backends(&[]);
        assert_eq!(b.pick(7, Time(1), &mut r), None);
    }

    #[test]
    fn consistent_hash_sends_a_key_to_one_backend_until_it_is_ejected() {
        let mut b = Balancer::new(
            &nodes(5),
            Policy::ConsistentHash { vnodes: 32 },
            HealthSpec { eject_after: 2, ..Default::default() },
        );
        let mut r = rng();
        let owner = b.pick(42, Time(0), &mut r).unwrap();
        for _ in 0..10 {
            assert_eq!(b.pick(42, Time(0), &mut r), Some(owner));
        }
        b.on_end(owner, false, Time(0));
        assert_eq!(b.pick(42, Time(0), &mut r), Some(owner), "one failure is not enough");
        b.on_end(owner, false, Time(0));
        let next = b.pick(42, Time(0), &mut r).unwrap();
        assert_ne!(next, owner);
    }

    #[test]
    fn active_checks_mark_down_after_misses_and_up_after_an_answer() {
        let spec = HealthSpec {
            active: Some(ActiveCheck {
                interval: Duration::from_secs(1),
                timeout: Duration::from_millis(200),
                unhealthy_after: 2,
            }),
            fail_open: false,
            ..Default::default()
        };
        let mut b = Balancer::new(&nodes(1), Policy::RoundRobin, spec);
        let mut r = rng();
        b.on_ping_missed(NodeId(0));
        assert!(b.pick(0, Time(0), &mut r).is_some(), "one miss is not enough");
        b.on_ping_missed(NodeId(0));
        assert_eq!(b.pick(0, Time(0), &mut r), None, "fail fast with none healthy");
        assert_eq!(b.stats.picks_none_healthy, 1);
        b.on_ping_ok(NodeId(0));
        assert_eq!(b.pick(0, Time(0), &mut r), Some(NodeId(0)));
        assert_eq!((b.stats.marked_down, b.stats.marked_up), (1, 1));
    }

    #[test]
    fn fail_open_tries_everyone_when_all_are_down() {
        let mut b = Balancer::new(&nodes(2), Policy::RoundRobin, HealthSpec { eject_after: 1, ..Default::default() });
        let mut r = rng();
        b.on_end(NodeId(0), false, Time(0));
        b.on_end(NodeId(1), false, Time(0));
        assert!(b.pick(0, Time(0), &mut r).is_some());
        assert_eq!(b.stats.picks_none_healthy, 1);
    }
}
