//! # Rate limiter (system 4 of the notes)
//!
//! API servers ask a limiter before serving each call and answer HTTP 429 (`Outcome::Rejected`)
//! when a key is over its limit: `limit_per_window` requests per `window` per user id, per IP
//! address (`users_per_ip` users share one), or both (user first, so an abusive user does not spend
//! its address's budget). With `per_api` each API (operation kind) has its own counters. The
//! counters live in a sharded counter store (Redis-like shards, one message at a time), placed by
//! consistent hashing of the key with virtual nodes; every hop crosses the simulated network.
//!
//! Five algorithms, each a small state machine per key (`parts::limiter`):
//! - fixed window `{user: (count, window_start)}`, reset when `now - start >= window` (algo1);
//! - sliding log, the sorted set of admitted timestamps (algo2), exact;
//! - sliding counter, per-bucket counts summed over the window (algo3; per minute for an hour);
//! - token bucket, `limit` tokens refilled at `limit / window`;
//! - sliding window, weighted (not in the notes; what large CDNs deploy): aligned windows, the
//!   previous window's count weighted by its overlap with the sliding window plus the current
//!   count. Under `ratelimit_fixed_window_burst`'s bursts `limit_respected` measures its busiest
//!   second at 21 of 15 (`busiest_window_over_allowed` 1.4), the fixed window's at 29 (1.93).
//!
//! Two ways to use the store: `Atomic` (the shard checks and increments in one message: the notes'
//! lock or Lua script) and `ReadThenWrite` (GET the state, decide on the API server, SET it back: two
//! round trips, and two servers deciding on the same read both admit: a lost update).
//!
//! Invariants, checked against the history after the run (true times, not any node's clock):
//! - `limit_respected`: for every key with admitted calls, the admitted requests whose whole
//!   interval (invoke to completion: the store decided them in it) lies in one window of the
//!   limit's length (less `check_tolerance`, at most a tenth of the window) stay within what the algorithm
//!   promises: the limit, plus the error its contract documents (`Algorithm::documented_excess`:
//!   none, except the token bucket's refill on top of a full bucket). The sliding counter and the
//!   fixed window can admit up to twice the limit in a window (a burst either side of a boundary)
//!   and fail the check when they do. With `soft_excess_share` (soft throttling) the limiter
//!   enforces that much more, and the check allows it; the excess still counts as wrongly
//!   admitted against the stated limit.
//! - `fairness`: users who never exceed their own limit (by an exact oracle, over their calls as
//!   the store took them up) are not refused more than `fairness_max_rejected_share` of their
//!   calls.
//! - `linearizable`: each key's count of admitted calls, as the clients saw it (an admission
//!   answers the count after it, a 429 the count it read), is a linearizable counter
//!   (`sim_core::lin`): no admission was lost to a race. The window condition depends on when the
//!   shard decided, which the history does not show, so it stays with `limit_respected`; see
//!   [`consistency`] for the mapping and why it is sound.
//!
//! Measured: wrongly admitted and wrongly rejected calls against an exact sliding-window oracle of
//! the configured limits, which replays the calls in the order and at the times the shards took
//! them up (`node::Ledger`; a call reaches the store late when the network delays it, so an oracle
//! by invoke time would blame the limiter for the network), counting the calls whose clients gave
//! up but not judging them; the state's size per key as this model holds it (`state_bytes_*`: the
//! map key, the state enum and its deque's buffer at its capacity; the map's tree nodes are not
//! counted), scaled to 1M users, and in the notes' Redis layout for the same counts
//! (`notes_layout_bytes_*`: 36 B, 8+24n+20 B, 8+26n+20 B); with `compare_algorithms` every
//! algorithm runs in shadow on the same requests at the shards and the report has one row per
//! algorithm. Latency per call (the limiter's added hops) comes from the kernel.
//!
//! The failures it exists to show: a fixed window lets twice the limit through across a window
//! boundary; read-then-write over-admits under concurrency while the atomic increment does not; an
//! IP-only limit lets one abusive user behind a shared address starve the others;
//! (`ratelimit_shard_pause`) a shard that stalls 2 s runs the increments queued behind it at once
//! when it resumes, stamped with its clock then, though their clients gave up: the shared address's
//! window fills past its limit and its well-behaved users are refused;
//! and (`ratelimit_clock_step`) the windows are read from the shards' wall clocks, so a clock that
//! steps forward (NTP's step, a resumed VM) ages every timestamp at once and a busy user is
//! admitted its limit again within one true window: 30 of 15 after an 800 ms step.
//!
//! **Transport:** `Connection` by default (HTTP to the limiter, TCP to the counter store): messages
//! between two nodes arrive in send order.

/// The algorithms are a part (`parts::limiter`): other designs limit rates too.
pub use parts::limiter as algo;
pub mod consistency;
pub mod node;

pub use algo::{Algorithm, Params, State};
pub use node::{LimitKey, Node, Ring};

use serde::{Deserialize, Serialize};
use sim_core::cost::{Load, count};
use sim_core::{
    Axis, Check, Duration, Footprint, Model, ModelReport, NodeId, OpId, Outcome, Prng, RunView, Table, Topology,
};
use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::sync::Arc;

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum LimitBy {
    #[default]
    User,
    Ip,
    Both,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum StoreAccess {
    /// Check-and-increment in one message to the shard.
    #[default]
    Atomic,
    /// GET, decide on the API server, SET: racy.
    ReadThenWrite,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    pub algorithm: Algorithm,
    /// Requests per window per user (the notes: 15 per second).
    pub limit_per_window: u32,
    pub window: Duration,
    /// Requests per window per IP address.
    pub ip_limit_per_window: u32,
    pub limit_by: LimitBy,
    /// Users `u` with the same `u / users_per_ip` share an address.
    pub users_per_ip: u32,
    /// Separate counters per API (operation kind).
    pub per_api: bool,
    /// Buckets per window of the sliding counter (60: per minute for an hour).
    pub buckets_per_window: u32,
    /// The first `api_servers` servers serve the API; the other servers are counter-store shards.
    pub api_servers: u32,
    pub access: StoreAccess,
    /// Virtual nodes per shard on the hash ring.
    pub vnodes: u32,
    pub request_timeout: Duration,
    /// Run every algorithm in shadow at the shards, for the per-algorithm table.
    pub compare_algorithms: bool,
    /// Network jitter the `limit_respected` check forgives (it shortens the window it counts in);
    /// at most a tenth of the window.
    pub check_tolerance: Duration,
    /// `fairness` fails when well-behaved users are refused more than this share of their calls.
    pub fairness_max_rejected_share: f64,
    /// Soft throttling: admit up to this share above the stated limit (0: hard throttling). The
    /// excess counts as wrongly admitted against the stated limit, and as allowed slack in
    /// `limit_respected`.
    pub soft_excess_share: f64,
}

impl Config {
    /// What the limiter enforces for a stated limit of `max` (more than `max` when throttling is soft).
    pub fn enforced(&self, max: u32) -> u32 {
        max + (max as f64 * self.soft_excess_share).floor() as u32
    }
}

impl Default for Config {
    fn default() -> Self {
        Config {
            algorithm: Algorithm::SlidingLog,
            limit_per_window: 15,
            window: Duration::from_secs(1),
            ip_limit_per_window: 60,
            limit_by: LimitBy::User,
            users_per_ip: 1,
            per_api: false,
            buckets_per_window: 60,
            api_servers: 2,
            access: StoreAccess::Atomic,
            vnodes: 64,
            request_timeout: Duration::from_secs(1),
            compare_algorithms: false,
            check_tolerance: Duration::from_millis(10),
            fairness_max_rejected_share: 0.01,
            soft_excess_share: 0.0,
        }
    }
}

pub struct RateLimiter;

impl Model for RateLimiter {
    const NAME: &'static str = "ratelimit";
    const ABOUT: &'static str =
        "Rate limiter: fixed window, sliding log, sliding counter, token bucket over a sharded counter store";
    const OP_KINDS: &'static [&'static str] = &["get", "post"];
    /// Clients reach the limiter over HTTP, and the limiter its shared counter store (Redis) over TCP.
    const TRANSPORT: sim_core::net::Transport = sim_core::net::Transport::Connection;
    const CHECKS: &'static [&'static str] = &["limit_respected", "fairness", "linearizable"];
    /// A shard's crash empties its counters; the state sizes it reached are read from its crashed
    /// incarnation.
    const KEEP_CRASHED_ACTORS: bool = true;
    type Config = Config;
    type Actor = Node;

    fn validate(c: &Config, topo: &Topology) -> Vec<(String, String)> {
        let mut e = Vec::new();
        let servers = topo.servers.len() as u32;
        if c.api_servers == 0 {
            e.push(("config.api_servers".into(), "must be >= 1, got 0".into()));
        }
        if c.api_servers >= servers {
            e.push((
                "config.api_servers".into(),
                format!("{} API servers leave no counter-store shard among {servers} servers", c.api_servers),
            ));
        }
        if c.limit_per_window == 0 {
            e.push(("config.limit_per_window".into(), "must be >= 1, got 0".into()));
        }
        if c.limit_by != LimitBy::User && c.ip_limit_per_window == 0 {
            e.push(("config.ip_limit_per_window".into(), "must be >= 1, got 0".into()));
        }
        if c.window.0 == 0 {
            e.push(("config.window".into(), "must be positive".into()));
        }
        if c.buckets_per_window == 0 || c.buckets_per_window as u64 > c.window.0 {
            e.push((
                "config.buckets_per_window".into(),
                format!("must be within [1, window in ns], got {}", c.buckets_per_window),
            ));
        }
        if c.users_per_ip == 0 {
            e.push(("config.users_per_ip".into(), "must be >= 1, got 0".into()));
        }
        if c.vnodes == 0 {
            e.push(("config.vnodes".into(), "must be >= 1, got 0".into()));
        }
        if c.request_timeout.0 == 0 {
            e.push(("config.request_timeout".into(), "must be positive".into()));
        }
        if c.compare_algorithms && c.limit_by == LimitBy::Both {
            e.push(("config.compare_algorithms".into(), "needs a single limit (limit_by User or Ip)".into()));
        }
        if c.check_tolerance.0 > c.window.0 / 10 {
            e.push((
                "config.check_tolerance".into(),
                format!(
                    "must be at most a tenth of the window ({}), got {}: it forgives network jitter, and a longer \
                     one would let `limit_respected` check a shorter window than the limit promises",
                    Duration(c.window.0 / 10),
                    c.check_tolerance
                ),
            ));
        }
        if !(0.0..=10.0).contains(&c.soft_excess_share) {
            e.push(("config.soft_excess_share".into(), format!("must be within [0, 10], got {}", c.soft_excess_share)));
        }
        if !(0.0..=1.0).contains(&c.fairness_max_rejected_share) {
            e.push((
                "config.fairness_max_rejected_share".into(),
                format!("a share must be within [0, 1], got {}", c.fairness_max_rejected_share),
            ));
        }
        e
    }

    /// Per key (a user, an IP), the limiter's state in the counter store: a log of up to the limit
    /// of timestamps, or a bucket per slice of the window (every algorithm when they are compared,
    /// two limits when limiting by both); per call, the checker's and the exact oracle's records; a
    /// request, the store's read and write and the replies per call.
    fn footprint(c: &Config, _topo: &Topology, load: &Load) -> Footprint {
        let calls = load.total();
        let per_window = calls / load.keys.max(1.0) * (c.window.as_secs_f64() / load.run_s.max(1e-9)).min(1.0);
        let log = 48.0 + 8.0 * per_window.min(c.limit_per_window as f64);
        let buckets = 48.0 + 16.0 * (c.buckets_per_window as f64).min(per_window.max(1.0));
        let state = match (c.compare_algorithms, c.algorithm) {
            (true, _) => log + buckets + 2.0 * 48.0,
            (false, Algorithm::SlidingLog) => log,
            (false, Algorithm::SlidingCounter) => buckets,
            (false, _) => 48.0,
        } + 64.0;
        let limits = if c.limit_by == LimitBy::Both { 2.0 } else { 1.0 };
        let keys = load.keys * limits;
        // Beyond the kernel's two (the call and its request to an API server): per limit, the
        // store's request and reply (and the write and its ack, read-then-write), then the
        // response; a call rejected at its first limit sends fewer. Measured: 5.0 events a call
        // on ratelimit_atomic.ron, 5.4 on ratelimit_race.ron (read-then-write), 5.7 on
        // ratelimit_user_and_ip.ron (two limits).
        let per_limit = match c.access {
            StoreAccess::Atomic => 2.0,
            StoreAccess::ReadThenWrite => 4.0,
        };
        let events = calls * (1.0 + per_limit * limits);
        Footprint { events, queued: load.in_flight * 4.0 * limits, ..Footprint::default() }
            .part(format!("limiter state: {} keys x {state:.0} B", count(keys)), keys * state)
            // The history's call and the oracle's copy (56 B), the shards' ledger (16 B, 16 more
            // for the shadow algorithms), the report's index of it (24 B), the oracle's order and
            // answers, the checks' maps.
            .part(format!("the checkers' records: {} calls", count(calls)), calls * 200.0)
    }

    fn factory(c: &Config, topo: &Topology, _setup: &mut Prng) -> Box<dyn FnMut(NodeId) -> Node> {
        let api_n = c.api_servers as usize;
        let api: Vec<NodeId> = topo.servers[..api_n].to_vec();
        let shards: Vec<NodeId> = topo.servers[api_n..].to_vec();
        let shared = Arc::new(node::Shared::from_config(c, api, Ring::new(&shards, c.vnodes)));
        let decisions = node::Decisions::default();
        let topo = topo.clone();
        Box::new(move |n| {
            if topo.is_client(n) {
                Node::client(shared.clone())
            } else if (n.index()) < api_n {
                Node::api(shared.clone())
            } else {
                Node::store(shared.clone(), decisions.clone())
            }
        })
    }

    fn report(c: &Config, run: &RunView<'_, Node>) -> ModelReport {
        report(c, run)
    }
}

/// A decided call from the history.
#[derive(Clone, Copy, Debug)]
pub struct Call {
    pub op: u64,
    /// True invoke time, ns.
    pub t: u64,
    /// True completion time, ns (at least `t`): the store decided the call between `t` and `done`.
    pub done: u64,
    /// When the store took the call up, ns on the deciding shard's clock, and its place in the
    /// shards' record ([`node::Ledger`]): the time and the order the limiter decided by (two
    /// calls can reach a shard at the same instant: a connection delivers a message no earlier
    /// than the one sent before it). `(t, u64::MAX)` where no shard recorded the call.
    pub decided: (u64, u64),
    pub user: u64,
    pub api: u16,
    pub admitted: bool,
}

/// The exact oracle: takes the calls up in the order of `at` (a time, then a rank among calls of
/// that time; ties in the slice's order), admitting one when every key it counts against has had
/// fewer than its limit admitted in `(time - window, time]`. The answers are in the slice's order.
pub fn exact_oracle(
    calls: &[Call],
    at: impl Fn(&Call) -> (u64, u64),
    keys_of: impl Fn(&Call) -> Vec<(LimitKey, u32)>,
    window_ns: u64,
) -> Vec<bool> {
    let mut order: Vec<usize> = (0..calls.len()).collect();
    order.sort_by_key(|&i| at(&calls[i]));
    let mut logs: BTreeMap<LimitKey, VecDeque<u64>> = BTreeMap::new();
    let mut out = vec![false; calls.len()];
    for i in order {
        let (call, t) = (&calls[i], at(&calls[i]).0);
        let keys = keys_of(call);
        let mut room = true;
        for (k, max) in &keys {
            let log = logs.entry(*k).or_default();
            while log.front().is_some_and(|&s| s + window_ns <= t) {
                log.pop_front();
            }
            room &= (log.len() as u64) < *max as u64;
        }
        if room {
            for (k, _) in &keys {
                logs.get_mut(k).expect("entry made above").push_back(t);
            }
        }
        out[i] = room;
    }
    out
}

/// The most calls of `calls` (`(invoke, complete)`, sorted by invoke) whose whole interval lies in
/// one window `[s, s + w)`, and the earliest such `s`: calls surely decided inside the window,
/// wherever between invoke and completion their store decided them. Each window starts at a
/// call's invoke (a window that contains a set of intervals can be moved right to the first of
/// them). `O(n k)` for `k` calls invoked within a window.
pub fn max_contained_in_window(calls: &[(u64, u64)], w: u64) -> (usize, u64) {
    let (mut best, mut at) = (0, 0);
    for (i, &(s, _)) in calls.iter().enumerate() {
        let n = calls[i..].iter().take_while(|c| c.0 - s < w).filter(|c| c.1 < s + w).count();
        if n > best {
            best = n;
            at = s;
        }
    }
    (best, at)
}

fn secs(ns: u64) -> f64 {
    ns as f64 / 1e9
}

/// What `limit_respected` lets a key admit in any window of `span_ns` (the window less the network
/// jitter tolerance) whose enforced limit is `max`: the promise the configuration states, plus the
/// error the algorithm documents as part of it ([`Algorithm::documented_excess`]). Never a share
/// of a bucket or a shorter window: a checker must not be looser than the promise it checks.
pub fn allowed_in_window(c: &Config, max: u64, span_ns: u64) -> u64 {
    max + c.algorithm.documented_excess(max, span_ns, c.window.0)
}

/// `limit_respected`: per key with admitted calls, the busiest window of the limit's length (less
/// `check_tolerance`) holds no more than [`allowed_in_window`] admitted calls whose whole
/// interval, invoke to completion, lies in it ([`max_contained_in_window`]): calls the store
/// surely decided inside the window. Counted by invoke time alone, calls delayed on their way to
/// the store (226 ms through one API server, found by `simctl explore`) bunched into windows they
/// were not decided in, and the check failed a limiter that kept its limit at the store.
/// `keys_of` gives the keys a call counts against, `max_of` a key's enforced limit. Also returns
/// the busiest window's admitted calls over what it allowed (the worst key's ratio; 0 with none).
pub fn limit_respected(
    c: &Config,
    calls: &[Call],
    keys_of: impl Fn(&Call) -> Vec<LimitKey>,
    max_of: impl Fn(LimitKey) -> u32,
) -> (Check, f64) {
    let span = c.window.0.saturating_sub(c.check_tolerance.0).max(1);
    let mut admitted_by_key: BTreeMap<LimitKey, Vec<(u64, u64)>> = BTreeMap::new();
    for call in calls.iter().filter(|x| x.admitted) {
        for k in keys_of(call) {
            admitted_by_key.entry(k).or_default().push((call.t, call.done));
        }
    }
    let mut worst: Option<(LimitKey, usize, u64, u64)> = None; // key, count, start, allowed
    let mut violating_keys = 0u64;
    let mut over: Vec<(LimitKey, u64)> = Vec::new(); // the first few violating keys' busiest windows
    for (k, times) in &mut admitted_by_key {
        times.sort_unstable();
        let allowed = allowed_in_window(c, max_of(*k) as u64, span);
        let (n, at) = max_contained_in_window(times, span);
        if n as u64 > allowed {
            violating_keys += 1;
            if over.len() < 3 {
                over.push((*k, at));
            }
        }
        if worst.is_none_or(|w| n as f64 / allowed as f64 > w.1 as f64 / w.3 as f64) {
            worst = Some((*k, n, at, allowed));
        }
    }
    let detail = match worst {
        Some((k, n, at, allowed)) => format!(
            "busiest: {k:?} had {n} admitted in the {:.3}s window from {:.3}s (allowed {allowed} by {})",
            secs(span),
            secs(at),
            c.algorithm.name()
        ),
        None => "no call was admitted".into(),
    };
    // Blame the calls those windows counted: admitted, their whole interval inside.
    let in_over = |call: &&Call| {
        call.admitted && over.iter().any(|&(k, at)| call.t >= at && call.done < at + span && keys_of(call).contains(&k))
    };
    let blamed: Vec<OpId> = calls.iter().filter(in_over).map(|call| OpId::new(call.op)).collect();
    let check = Check::judged("limit_respected", admitted_by_key.len(), "keys with admitted calls")
        .violations(violating_keys, "over their limit")
        .detail(detail)
        .blame_ids(blamed);
    (check, worst.map_or(0.0, |w| w.1 as f64 / w.3.max(1) as f64))
}

fn report(c: &Config, run: &RunView<'_, Node>) -> ModelReport {
    let shared = node::Shared::from_config(c, Vec::new(), Ring::new(&[NodeId(0)], 1));
    let mut r = ModelReport::default();
    let history = run.history();
    // The shards' record of when they took each call up (the last time, for a call asked again).
    let stores = run.incarnations().find_map(|(_, n)| if let Node::Store(s) = n { Some(s) } else { None });
    // By operation (the history's index): `(the shard's clock, the place in the ledger)`.
    let mut taken_up: Vec<Option<(u64, u64)>> = vec![None; history.len()];
    if let Some(s) = stores {
        for (&(op, at), place) in s.decisions.borrow().taken_up.iter().zip(0..) {
            if let Some(slot) = taken_up.get_mut(op.index()) {
                *slot = Some((at, place));
            }
        }
    }
    let taken = |op: OpId| taken_up.get(op.index()).copied().flatten();
    let call = |h: &sim_core::metrics::HistoryEntry| Call {
        op: h.op.0 as u64,
        t: h.invoke.0,
        done: h.complete.get().map_or(h.invoke.0, |t| t.0),
        decided: taken(h.op).unwrap_or((h.invoke.0, u64::MAX)),
        user: h.key,
        api: h.kind,
        admitted: h.outcome == Some(Outcome::Ok),
    };
    let answered = |h: &&sim_core::metrics::HistoryEntry| matches!(h.outcome, Some(Outcome::Ok | Outcome::Rejected));
    // The answered calls, judged; after them the calls a shard took up whose answer never reached
    // their client (it gave up first): the store counted them, so the oracle does too, but what
    // the store answered is unknown, so they are not judged.
    let mut replayed: Vec<Call> = history.iter().filter(answered).map(call).collect();
    let judged = replayed.len();
    let undecided = history.len() - judged;
    replayed.extend(history.iter().filter(|h| !answered(h) && taken(h.op).is_some()).map(call));
    let calls = &replayed[..judged];
    // The oracle holds the stated limits (without any soft excess).
    let stated = |k: LimitKey| match k {
        LimitKey::User { .. } => c.limit_per_window,
        LimitKey::Ip { .. } => c.ip_limit_per_window,
    };
    let configured = |call: &Call| -> Vec<(LimitKey, u32)> {
        shared.keys(call.user, call.api).into_iter().map(|k| (k, stated(k))).collect()
    };
    // The limiter decides by the order and the clock of its shards: so does the oracle.
    let mut oracle = exact_oracle(&replayed, |call| call.decided, configured, c.window.0);
    oracle.truncate(calls.len());
    let unrecorded = calls.iter().filter(|call| taken(OpId::new(call.op)).is_none()).count();
    let mut wrongly_admitted = 0u64;
    let mut wrongly_rejected = 0u64;
    for (call, &ok) in calls.iter().zip(&oracle) {
        wrongly_admitted += (call.admitted && !ok) as u64;
        wrongly_rejected += (!call.admitted && ok) as u64;
    }
    let admitted = calls.iter().filter(|x| x.admitted).count() as u64;

    let (mut limit, busiest_ratio) =
        limit_respected(c, calls, |call| shared.keys(call.user, call.api), |k| shared.params(k).max);
    if undecided > 0 {
        limit.detail.push_str(&format!("; {undecided} calls undecided (timed out: not judged)"));
    }
    r.checks.push(limit);

    // fairness: users within their own limit (exact oracle on the user limit alone), as the store
    // saw their calls: a user whose calls a slow server bunched up is over it there, and a limiter
    // is judged by what reached it (by invoke time, a 300 ms delay of one API server in
    // `ratelimit.ron` made 6 of 851 calls look like well-behaved users refused).
    let user_only = |call: &Call| {
        let api = if c.per_api { call.api } else { 0 };
        vec![(LimitKey::User { user: call.user, api }, c.limit_per_window)]
    };
    let mut user_oracle = exact_oracle(&replayed, |call| call.decided, user_only, c.window.0);
    user_oracle.truncate(calls.len());
    let mut abusive: BTreeSet<u64> = BTreeSet::new();
    for (call, &ok) in calls.iter().zip(&user_oracle) {
        if !ok {
            abusive.insert(call.user);
        }
    }
    let mut per_user: BTreeMap<u64, (u64, u64)> = BTreeMap::new(); // (calls, rejected)
    for call in calls.iter().filter(|x| !abusive.contains(&x.user)) {
        let e = per_user.entry(call.user).or_default();
        e.0 += 1;
        e.1 += (!call.admitted) as u64;
    }
    let good_calls: u64 = per_user.values().map(|v| v.0).sum();
    let good_rejected: u64 = per_user.values().map(|v| v.1).sum();
    let share = if good_calls == 0 { 0.0 } else { good_rejected as f64 / good_calls as f64 };
    let worst_user = per_user
        .iter()
        .map(|(u, v)| (*u, v.1 as f64 / v.0 as f64))
        .fold((0u64, 0.0f64), |a, b| if b.1 > a.1 { b } else { a });
    let abusive_calls = calls.len() as u64 - good_calls;
    r.checks.push(
        Check::judged("fairness", good_calls, "calls of well-behaved users")
            .skipped(abusive_calls, "calls of users over their own limit")
            .passed_if(share <= c.fairness_max_rejected_share)
            .blame_ids(calls.iter().filter(|x| !x.admitted && !abusive.contains(&x.user)).map(|x| OpId::new(x.op)))
            .detail(format!(
                "{} well-behaved users (never over {} per {}), {} abusive; {good_rejected} of {good_calls} calls of \
             well-behaved users refused ({:.2}%, allowed {:.2}%); worst: user {} refused {:.1}%",
                per_user.len(),
                c.limit_per_window,
                c.window,
                abusive.len(),
                share * 100.0,
                c.fairness_max_rejected_share * 100.0,
                worst_user.0,
                worst_user.1 * 100.0
            )),
    );

    let (lin, figures) = consistency::check(&shared, history);
    r.checks.push(lin);
    r.figures = figures;

    // State size from the shards' own structures (and in the notes' layout, from their counts):
    // each key's largest over every incarnation of its shard (a crash empties a shard, and the
    // state it had before counts as much).
    let mut key_peaks: BTreeMap<LimitKey, node::Sizes> = BTreeMap::new();
    let mut key_shadow_peaks: BTreeMap<LimitKey, [node::Sizes; Algorithm::ALL.len()]> = BTreeMap::new();
    for (_, n) in run.incarnations() {
        if let Node::Store(s) = n {
            for (k, &size) in &s.peak_bytes {
                let peak = key_peaks.entry(*k).or_default();
                *peak = peak.max(size);
            }
            for (k, sizes) in &s.shadow_peak_bytes {
                for (peak, &size) in key_shadow_peaks.entry(*k).or_default().iter_mut().zip(sizes) {
                    *peak = peak.max(size);
                }
            }
        }
    }
    let peaks: Vec<node::Sizes> = key_peaks.into_values().collect();
    // The shadow algorithms' decisions, the last for a call asked twice.
    let shadow: BTreeMap<u64, [bool; Algorithm::ALL.len()]> = stores
        .map_or_else(BTreeMap::new, |s| s.decisions.borrow().shadow.iter().map(|&(op, d)| (op.0 as u64, d)).collect());
    let shadow_peaks: [Vec<node::Sizes>; Algorithm::ALL.len()] =
        std::array::from_fn(|i| key_shadow_peaks.values().map(|p| p[i]).collect());
    let users: BTreeSet<u64> = calls.iter().map(|x| x.user).collect();
    let total_bytes: u64 = peaks.iter().map(|p| p.mem).sum();
    let per_user = if users.is_empty() { 0.0 } else { total_bytes as f64 / users.len() as f64 };
    let m = &mut r.measures;
    m.insert("calls".into(), calls.len() as f64);
    m.insert("undecided".into(), undecided as f64);
    m.insert("oracle_calls_unrecorded".into(), unrecorded as f64);
    m.insert("admitted".into(), admitted as f64);
    m.insert("rejected".into(), (calls.len() as u64 - admitted) as f64);
    m.insert("wrongly_admitted".into(), wrongly_admitted as f64);
    m.insert("busiest_window_over_allowed".into(), busiest_ratio);
    m.insert("wrongly_rejected".into(), wrongly_rejected as f64);
    m.insert(
        "wrongly_admitted_share".into(),
        if admitted == 0 { 0.0 } else { wrongly_admitted as f64 / admitted as f64 },
    );
    m.insert("well_behaved_rejected_share".into(), share);
    m.insert("state_bytes_per_user".into(), per_user);
    m.insert("state_bytes_per_key_max".into(), peaks.iter().map(|p| p.mem).max().unwrap_or(0) as f64);
    m.insert("notes_layout_bytes_per_key_max".into(), peaks.iter().map(|p| p.notes_layout).max().unwrap_or(0) as f64);
    m.insert("state_bytes_1m_users".into(), per_user * 1e6);

    if c.compare_algorithms && !shadow.is_empty() {
        let mut table = Table::new(
            "algorithms",
            [
                "algorithm",
                "admitted",
                "wrongly_admitted",
                "wrongly_rejected",
                "state_bytes_per_key_max",
                "state_bytes_per_key_mean",
                "state_bytes_1m_users",
                "notes_layout_bytes_per_key_max",
            ],
            Vec::new(),
        )
        .bars("algorithm", &["wrongly_admitted", "wrongly_rejected"], Axis::new("wrong decisions", "requests"))
        .labels(&Algorithm::ALL.map(|a| a.name()));
        for a in Algorithm::ALL {
            let i = a.index();
            let (mut adm, mut wa, mut wr) = (0u64, 0u64, 0u64);
            for (call, &ok) in calls.iter().zip(&oracle) {
                let Some(d) = shadow.get(&call.op) else { continue };
                adm += d[i] as u64;
                wa += (d[i] && !ok) as u64;
                wr += (!d[i] && ok) as u64;
            }
            let p = &shadow_peaks[i];
            let max = p.iter().map(|s| s.mem).max().unwrap_or(0) as f64;
            let mean = if p.is_empty() { 0.0 } else { p.iter().map(|s| s.mem).sum::<u64>() as f64 / p.len() as f64 };
            let notes = p.iter().map(|s| s.notes_layout).max().unwrap_or(0) as f64;
            table.rows.push(vec![i as f64, adm as f64, wa as f64, wr as f64, max, mean, max * 1e6, notes]);
            m.insert(format!("notes_layout_bytes_per_key_max.{}", a.name()), notes);
            m.insert(format!("wrongly_admitted.{}", a.name()), wa as f64);
            m.insert(format!("wrongly_rejected.{}", a.name()), wr as f64);
            m.insert(format!("state_bytes_per_key_max.{}", a.name()), max);
            m.insert(format!("state_bytes_per_key_mean.{}", a.name()), mean);
        }
        r.tables.push(table);
    }
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    fn call(t_ms: u64, user: u64) -> Call {
        let t = t_ms * 1_000_000;
        Call { op: 0, t, done: t, decided: (t, 0), user, api: 0, admitted: true }
    }

    #[test]
    fn oracle_admits_exactly_the_limit_per_sliding_window() {
        let calls: Vec<Call> = [0, 100, 200, 300, 999, 1000, 1100, 1101].iter().map(|&t| call(t, 1)).collect();
        let key = |c: &Call| vec![(LimitKey::User { user: c.user, api: 0 }, 3)];
        let got = exact_oracle(&calls, |c| (c.t, 0), key, 1_000_000_000);
        // 3 per second: 300 and 999 wait; at 1000 the call at 0 has left the window, at 1100 the one at 100.
        assert_eq!(got, [true, true, true, false, false, true, true, false]);
        // Users are counted apart.
        let two: Vec<Call> = (0..4).map(|i| call(0, i % 2)).collect();
        assert_eq!(exact_oracle(&two, |c| (c.t, 0), key, 1_000_000_000), [true; 4]);
    }

    /// Two calls reaching a shard at the same instant (a connection holds the second behind the
    /// first) are decided in the order the shard took them up: the oracle follows the rank, not
    /// the slice (found at seed 1199 of `ratelimit.ron`, where the later-invoked call went first).
    #[test]
    fn oracle_breaks_a_tie_of_times_by_the_shard_s_order() {
        let key = |c: &Call| vec![(LimitKey::User { user: c.user, api: 0 }, 1)];
        let mut calls = vec![call(5, 1), call(5, 1)];
        calls[0].decided.1 = 7;
        calls[1].decided.1 = 6;
        assert_eq!(exact_oracle(&calls, |c| c.decided, key, 1_000_000_000), [false, true]);
        calls[0].decided.1 = 5;
        assert_eq!(exact_oracle(&calls, |c| c.decided, key, 1_000_000_000), [true, false]);
    }

    /// Offers `times_ns` to one user through the algorithm itself and returns the decided calls.
    fn decided(c: &Config, times_ns: &[u64]) -> Vec<Call> {
        let p = Params { max: c.limit_per_window, window_ns: c.window.0, buckets: c.buckets_per_window };
        let mut state = State::new(c.algorithm, &p);
        // The calls' op ids are their places in the list, as in a run's history.
        (0..)
            .zip(times_ns)
            .map(|(op, &t)| Call { op, t, done: t, decided: (t, op), user: 1, api: 0, admitted: state.admit(&p, t) })
            .collect()
    }

    fn user_key(_: &Call) -> Vec<LimitKey> {
        vec![LimitKey::User { user: 1, api: 0 }]
    }

    /// 100 calls 0.5 ms apart from `from_ms`, then 100 from `then_ms`.
    fn two_bursts(from_ms: u64, then_ms: u64, step_us: u64) -> Vec<u64> {
        let burst = |at_ms: u64| (0..100).map(move |i| at_ms * 1_000_000 + i * step_us * 1_000);
        burst(from_ms).chain(burst(then_ms)).collect()
    }

    fn limit_check(c: &Config, calls: &[Call]) -> (Check, u64) {
        let (check, _) = limit_respected(c, calls, user_key, |_| c.limit_per_window);
        let key = |_: &Call| vec![(LimitKey::User { user: 1, api: 0 }, c.limit_per_window)];
        let oracle = exact_oracle(calls, |call| call.decided, key, c.window.0);
        let wrongly = calls.iter().zip(&oracle).filter(|(call, ok)| call.admitted && !**ok).count() as u64;
        (check, wrongly)
    }

    #[test]
    fn a_sliding_counter_with_one_bucket_admitting_twice_the_limit_in_a_tenth_of_a_second_fails() {
        let c = Config {
            algorithm: Algorithm::SlidingCounter,
            limit_per_window: 100,
            window: Duration::from_secs(1),
            buckets_per_window: 1,
            ..Config::default()
        };
        // 100 in the last 50 ms of the bucket [0 s, 1 s), 100 in the first 50 ms of the next.
        let calls = decided(&c, &two_bursts(950, 1000, 500));
        assert!(calls.iter().all(|x| x.admitted), "the algorithm admits all 200");
        let (check, wrongly) = limit_check(&c, &calls);
        assert_eq!(wrongly, 100, "the exact oracle");
        assert!(!check.passed, "{check:?}");
        assert!(check.detail.contains("had 200 admitted") && check.detail.contains("allowed 100"), "{}", check.detail);
        // The same 200 spread over two seconds respect the limit.
        let calls = decided(&c, &two_bursts(0, 1000, 9_000));
        let (check, wrongly) = limit_check(&c, &calls);
        assert!(check.passed && wrongly == 0, "{check:?}");
    }

    #[test]
    fn a_sliding_counter_with_two_buckets_admitting_twice_the_limit_in_thirty_seconds_fails() {
        let c = Config {
            algorithm: Algorithm::SlidingCounter,
            limit_per_window: 100,
            window: Duration::from_secs(60),
            buckets_per_window: 2,
            ..Config::default()
        };
        // 100 at the end of the bucket [0 s, 30 s); at 60 s that bucket leaves the sum whole, and
        // 100 more pass: 200 within 31 s against 100 per minute.
        let calls = decided(&c, &two_bursts(29_500, 60_000, 4_000));
        assert!(calls.iter().all(|x| x.admitted), "the algorithm admits all 200");
        let (check, wrongly) = limit_check(&c, &calls);
        assert_eq!(wrongly, 100, "the exact oracle");
        assert!(!check.passed, "{check:?}");
        assert!(check.detail.contains("had 200 admitted"), "{}", check.detail);
    }

    #[test]
    fn the_token_bucket_is_allowed_its_bucket_plus_refill_and_no_more() {
        let c = Config { algorithm: Algorithm::TokenBucket, limit_per_window: 100, ..Config::default() };
        let span = c.window.0 - c.check_tolerance.0;
        assert_eq!(allowed_in_window(&c, 100, span), 199);
        // A full bucket at once, then the refill: within the promise.
        let calls = decided(&c, &(0..400).map(|i| i * 2_500_000).collect::<Vec<u64>>());
        let (check, _) = limit_check(&c, &calls);
        assert!(check.passed, "{check:?}");
        // Admitting everything offered (a broken limiter) is caught.
        let all: Vec<Call> = calls.iter().map(|x| Call { admitted: true, ..*x }).collect();
        assert!(!limit_check(&c, &all).0.passed);
    }

    #[test]
    fn busiest_window() {
        let ms = |v: &[u64]| v.iter().map(|x| (x * 1_000_000, x * 1_000_000)).collect::<Vec<(u64, u64)>>();
        // [990, 1990) holds 990, 1000, 1500 and 1980; a window is half-open, so [0, 1000) holds three.
        assert_eq!(max_contained_in_window(&ms(&[0, 500, 990, 1000, 1500, 1980]), 1_000_000_000), (4, 990_000_000));
        assert_eq!(max_contained_in_window(&ms(&[0, 500, 999, 1000]), 1_000_000_000), (3, 0));
        assert_eq!(max_contained_in_window(&[], 10), (0, 0));
        // A call counts only in a window holding its whole interval: invoked at 0 but completed at
        // 1,200 ms, it may have been decided after the window [0, 1000) closed.
        let with_late = [(0, 1), (100, 101), (200, 1_200), (900, 901)];
        let w = |v: &[(u64, u64)]| v.iter().map(|&(a, b)| (a * 1_000_000, b * 1_000_000)).collect::<Vec<_>>();
        assert_eq!(max_contained_in_window(&w(&with_late), 1_000_000_000), (3, 0));
        assert_eq!(max_contained_in_window(&w(&with_late), 2_000_000_000), (4, 0));
    }

    /// Calls delayed on their way to the store (a slow API server) are decided later than they
    /// were invoked: counted by invoke time they crowd one window the store never saw them in.
    /// The store admitted 15 in [0, 1 s) and 15 more after 1 s, the second 15 invoked at 0.5-0.9 s
    /// and decided past 1 s: no window of decisions holds more than 15, and the check passes.
    #[test]
    fn calls_delayed_to_the_store_are_judged_where_they_may_have_been_decided() {
        let c = Config { limit_per_window: 15, ..Config::default() };
        let mut calls: Vec<Call> = (0..15u64)
            .map(|i| Call {
                op: i,
                t: i * 20_000_000,
                done: i * 20_000_000 + 1_000_000,
                decided: (i * 20_000_000, i),
                user: 1,
                api: 0,
                admitted: true,
            })
            .collect();
        calls.extend((0..15u64).map(|i| {
            let t = 500_000_000 + i * 25_000_000;
            Call {
                op: 100 + i,
                t,
                done: t + 906_000_000,
                decided: (t + 900_000_000, 100 + i),
                user: 1,
                api: 0,
                admitted: true,
            }
        }));
        calls.sort_by_key(|x| x.t);
        let (check, _) = limit_check(&c, &calls);
        assert!(check.passed, "{}", check.detail);
        // The same calls answered at once (decided at invoke): 30 in a second, over the limit.
        let prompt: Vec<Call> = calls.iter().map(|x| Call { done: x.t + 1_000_000, ..*x }).collect();
        assert!(!limit_check(&c, &prompt).0.passed);
    }
}
