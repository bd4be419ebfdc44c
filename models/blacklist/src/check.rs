//! The ground truth (which IPs are malicious, and when) and the checks over the history.

use serde::{Deserialize, Serialize};
use sim_core::metrics::HistoryEntry;
use sim_core::rng::mix64;
use sim_core::{Duration, Outcome, Reply, Time};
use std::collections::BTreeMap;

/// What a check answers (`Reply::Value`).
pub const MALICIOUS: u64 = 1;
pub const CLEAN: u64 = 0;
/// Not in the blacklist yet: queued for an asynchronous check (a client treats it as clean).
pub const UNKNOWN: u64 = 2;

/// ```ron
/// truth: (malicious: 0.1, turn_clean: 0.3, turn_malicious: 0.02, horizon: "30s")
/// ```
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TruthSpec {
    /// Share of IPs malicious at the start.
    pub malicious: f64,
    /// Share of those that turn clean, at a time uniform in `(0, horizon)`.
    pub turn_clean: f64,
    /// Share of the clean ones that turn malicious, at a time uniform in `(0, horizon)`.
    pub turn_malicious: f64,
    pub horizon: Duration,
}

impl Default for TruthSpec {
    fn default() -> Self {
        TruthSpec { malicious: 0.1, turn_clean: 0.3, turn_malicious: 0.02, horizon: Duration::from_secs(30) }
    }
}

impl TruthSpec {
    pub fn validate(&self, path: &str) -> Vec<(String, String)> {
        let mut e = Vec::new();
        for (name, p) in
            [("malicious", self.malicious), ("turn_clean", self.turn_clean), ("turn_malicious", self.turn_malicious)]
        {
            if !(0.0..=1.0).contains(&p) {
                e.push((format!("{path}.{name}"), format!("a probability must be within [0, 1], got {p}")));
            }
        }
        if self.horizon == Duration::ZERO {
            e.push((format!("{path}.horizon"), "must be positive".into()));
        }
        e
    }
}

/// The ground truth: each IP is malicious during one interval `[from, until)` or never, a pure
/// function of the salt (drawn from the seed) and the IP, so the provider's callers and the
/// checker agree without sharing state.
#[derive(Clone, Debug, PartialEq)]
pub struct Truth {
    pub spec: TruthSpec,
    pub salt: u64,
}

fn unit(x: u64) -> f64 {
    (x >> 11) as f64 / (1u64 << 53) as f64
}

impl Truth {
    /// `(from, until)` of `ip`'s malicious interval (`until: None`: to the end), or `None`.
    pub fn interval(&self, ip: u64) -> Option<(Time, Option<Time>)> {
        let h = |i: u64| unit(mix64(self.salt ^ mix64(ip.wrapping_mul(4).wrapping_add(i))));
        let at = |u: f64| Time((u * self.spec.horizon.0 as f64) as u64);
        if h(0) < self.spec.malicious {
            let until = (h(1) < self.spec.turn_clean).then(|| at(h(2)));
            Some((Time(0), until))
        } else if h(1) < self.spec.turn_malicious {
            Some((at(h(2)), None))
        } else {
            None
        }
    }

    /// What `isMalicious(ip)` answers at true time `t`.
    pub fn is_malicious(&self, ip: u64, t: Time) -> bool {
        self.interval(ip).is_some_and(|(from, until)| t >= from && until.is_none_or(|u| t < u))
    }

    /// Whether `ip` is malicious through the whole of `[a, b]`.
    pub fn malicious_throughout(&self, ip: u64, a: Time, b: Time) -> bool {
        self.interval(ip).is_some_and(|(from, until)| a >= from && until.is_none_or(|u| b < u))
    }
}

/// `no_recorded_malicious_clean`: once an IP was answered malicious (the service answers so only
/// from the store, or after the store acknowledged the record), no later answer (invoked after
/// that answer completed) says clean or unknown while the ground truth keeps it malicious from
/// the later answer's invocation to its completion.
#[derive(Debug, Default)]
pub struct Durability<'a> {
    /// Answers judged: invoked after their IP's first malicious answer, IP still malicious.
    pub judged: u64,
    /// Answers after the first malicious one whose IP had turned clean by then (expiry allowed).
    pub turned_clean: u64,
    pub violations: Vec<&'a HistoryEntry>,
}

pub fn durability<'a>(history: &'a [HistoryEntry], truth: &Truth, check: u16) -> Durability<'a> {
    let ok = |h: &&HistoryEntry| h.kind == check && h.outcome == Some(Outcome::Ok) && h.complete.is_some();
    let mut recorded: BTreeMap<u64, Time> = BTreeMap::new();
    for h in history.iter().filter(ok) {
        if h.reply == Reply::Value(MALICIOUS) {
            let done = h.complete.get().expect("filtered");
            let r = recorded.entry(h.key).or_insert(done);
            *r = (*r).min(done);
        }
    }
    let mut d = Durability::default();
    for h in history.iter().filter(ok) {
        let Some(&at) = recorded.get(&h.key) else { continue };
        if h.invoke <= at {
            continue;
        }
        if !truth.malicious_throughout(h.key, h.invoke, h.complete.get().expect("filtered")) {
            d.turned_clean += 1;
            continue;
        }
        d.judged += 1;
        if h.reply != Reply::Value(MALICIOUS) {
            d.violations.push(h);
        }
    }
    d
}

/// The answers' latencies (ns, sorted) of operations invoked in `[from, to)` and outside every
/// window of `faults` that completed, whatever their outcome; the operations themselves in the
/// same order; and how many were left out for a fault.
pub fn latencies<'a>(
    history: &'a [HistoryEntry],
    check: u16,
    from: Time,
    to: Time,
    faults: &[(Time, Time)],
) -> (Vec<u64>, Vec<&'a HistoryEntry>, u64) {
    let mut in_faults = 0;
    let mut v: Vec<(u64, &HistoryEntry)> = history
        .iter()
        .filter(|h| h.kind == check && h.invoke >= from && h.invoke < to)
        .filter(|h| {
            let hit = faults.iter().any(|&(a, b)| h.invoke >= a && h.invoke < b);
            in_faults += hit as u64;
            !hit
        })
        .filter_map(|h| h.complete.get().map(|c| (c.since(h.invoke).0, h)))
        .collect();
    v.sort_by_key(|(l, h)| (*l, h.op));
    let (lat, ops) = v.into_iter().unzip();
    (lat, ops, in_faults)
}

/// Answers against the truth: `(malicious answered while malicious, malicious in the truth,
/// malicious answered after the IP turned clean, the longest such lag)`.
pub fn accuracy(history: &[HistoryEntry], truth: &Truth, check: u16) -> (u64, u64, u64, Duration) {
    let (mut hit, mut positives, mut stale, mut lag) = (0, 0, 0, Duration::ZERO);
    for h in history.iter().filter(|h| h.kind == check && h.outcome == Some(Outcome::Ok)) {
        let said = h.reply == Reply::Value(MALICIOUS);
        if truth.is_malicious(h.key, h.invoke) {
            positives += 1;
            hit += said as u64;
        } else if said
            && let Some((_, Some(until))) = truth.interval(h.key)
            && h.invoke >= until
        {
            stale += 1;
            lag = lag.max(h.invoke.since(until));
        }
    }
    (hit, positives, stale, lag)
}

#[cfg(test)]
mod tests {
    use super::*;
    use sim_core::{NodeId, OpId};

    fn truth() -> Truth {
        Truth { spec: TruthSpec { horizon: Duration(1_000), ..TruthSpec::default() }, salt: 7 }
    }

    fn entry(op: u64, ip: u64, invoke: u64, complete: u64, reply: u64) -> HistoryEntry {
        HistoryEntry {
            op: OpId::new(op),
            client: NodeId(9),
            kind: 0,
            key: ip,
            value: 0,
            attempt: 1,
            invoke: Time(invoke),
            complete: Some(Time(complete)).into(),
            outcome: Some(Outcome::Ok),
            reply: Reply::Value(reply),
        }
    }

    #[test]
    fn the_truth_has_the_configured_shares_and_changes_over_time() {
        let t = truth();
        let n = 100_000;
        let at_start = (0..n).filter(|&ip| t.is_malicious(ip, Time(0))).count() as f64 / n as f64;
        assert!((0.09..0.11).contains(&at_start), "{at_start}");
        let turned = (0..n).filter(|&ip| matches!(t.interval(ip), Some((Time(0), Some(_))))).count() as f64;
        assert!((0.28..0.32).contains(&(turned / (at_start * n as f64))), "{turned}");
        let late = (0..n).filter(|&ip| matches!(t.interval(ip), Some((f, None)) if f > Time(0))).count() as f64;
        assert!((0.015..0.025).contains(&(late / n as f64 / 0.9)), "{late}");
        // Deterministic, and another salt is another set.
        assert_eq!(t.interval(42), truth().interval(42));
        let other = Truth { salt: 8, ..truth() };
        assert!((0..1000).any(|ip| other.interval(ip) != t.interval(ip)));
    }

    #[test]
    fn a_clean_answer_after_a_malicious_one_is_a_violation_unless_the_ip_turned_clean() {
        let t = truth();
        let forever = (0..).find(|&ip| t.interval(ip) == Some((Time(0), None))).expect("one");
        let turns = (0..).find(|&ip| matches!(t.interval(ip), Some((Time(0), Some(u))) if u > Time(100))).expect("one");
        let until = t.interval(turns).and_then(|i| i.1).expect("turns").0;
        let h = vec![
            entry(1, forever, 0, 5, UNKNOWN),     // before any malicious answer: not judged
            entry(2, forever, 10, 20, MALICIOUS), // recorded at 20
            entry(3, forever, 15, 25, CLEAN),     // invoked before the record completed: not judged
            entry(4, forever, 30, 40, MALICIOUS),
            entry(5, forever, 50, 60, UNKNOWN), // a violation
            entry(6, turns, 10, 20, MALICIOUS),
            entry(7, turns, until + 1, until + 2, CLEAN), // turned clean: skipped
        ];
        let d = durability(&h, &t, 0);
        assert_eq!((d.judged, d.turned_clean), (2, 1));
        assert_eq!(d.violations.iter().map(|e| e.op.0).collect::<Vec<_>>(), [5]);
    }
}
