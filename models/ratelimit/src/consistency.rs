//! The limiter's counters as a linearizable object (`sim_core::lin`): the `linearizable` check.
//!
//! **The mapping.** What a limiter decides depends on *when* the shard decided (which admitted
//! calls are still inside the window at that instant), and the history only bounds that instant
//! by the call's invocation and completion; a sequential specification of "admit while fewer than
//! `limit` in the window" would need the decision's time, which no client sees. So the window
//! condition stays with `limit_respected` (judged on calls' intervals, invoke to completion), and the
//! checker judges what the store must do atomically whatever the algorithm: each key's **count of
//! admitted calls** (kept by the shard beside the key's state: a GET returns it with the state, a
//! SET writes it back, the atomic check adds one when it admits) is a counter, and a call is
//! mapped, per key it consulted, to
//!
//! - a key that admitted it: `AddGet(1)` answering the count after it (Redis' `INCR`);
//! - the key that refused it (a 429): `Read` answering the count it saw;
//! - a call that timed out or never answered: `AddGet(1)` of unknown outcome on every key it
//!   would consult (it may have been admitted at any of them, or refused, or never arrived);
//! - a call refused before any key was asked (no API server): left out.
//!
//! The counter is linearizable exactly when no admission was lost: the atomic check serialises
//! the calls at the shard, and the counts its admissions answer are distinct and in real-time
//! order. Read-then-write is not: two API servers that GET the same count `n` both SET `n + 1`,
//! and two admitted calls both answer `n + 1`, which no order of increments explains (the
//! violation's timeline shows the pair). The count says nothing about the limit itself: a fixed
//! window that admits twice the limit across a boundary is still a linearizable counter.
//!
//! Keys are numbered for the checker in the order of [`LimitKey`] (users first, then addresses);
//! the check's detail names the limiter key of its first violation.

use crate::node::{LimitKey, Shared};
use sim_core::lin::{self, CounterOp, CounterRet, Operation, Ret};
use sim_core::metrics::HistoryEntry;
use sim_core::{Check, Outcome};
use std::collections::BTreeMap;

pub type CounterOpn = Operation<CounterOp, CounterRet>;

/// The history as counter operations, and the limiter key behind each checker key.
pub fn history(shared: &Shared, entries: &[HistoryEntry]) -> (Vec<CounterOpn>, Vec<LimitKey>) {
    let mut ids: BTreeMap<LimitKey, u64> = BTreeMap::new();
    for e in entries {
        for k in shared.keys(e.key, e.kind) {
            ids.insert(k, 0);
        }
    }
    for (i, id) in ids.values_mut().enumerate() {
        *id = i as u64;
    }
    let mut ops = Vec::new();
    for e in entries {
        let keys = shared.keys(e.key, e.kind);
        let counts = e.reply.values();
        let op = |key: LimitKey, input, ret| Operation {
            id: e.op.0 as u64,
            client: e.client.0,
            key: ids[&key],
            invoke: e.invoke,
            input,
            ret,
        };
        match (e.outcome, e.complete.get()) {
            (Some(outcome @ (Outcome::Ok | Outcome::Rejected)), Some(at)) if !counts.is_empty() => {
                let refused_at = (outcome == Outcome::Rejected).then(|| counts.len() - 1);
                for (i, (&key, &n)) in keys.iter().zip(counts.iter()).enumerate() {
                    let (input, output) = if refused_at == Some(i) {
                        (CounterOp::Read, CounterRet::Value(n as i64))
                    } else {
                        (CounterOp::AddGet(1), CounterRet::Value(n as i64))
                    };
                    ops.push(op(key, input, Ret::Ok { at, output }));
                }
            }
            // Refused or failed without an answer from the limiter: it consulted no key.
            (Some(Outcome::Ok | Outcome::Rejected | Outcome::Fail), _) => {}
            _ => ops.extend(keys.iter().map(|&k| op(k, CounterOp::AddGet(1), Ret::Unknown))),
        }
    }
    (ops, ids.into_keys().collect())
}

/// `linearizable` over the admission counters, and the timeline of its first violation.
pub fn check(shared: &Shared, entries: &[HistoryEntry]) -> (Check, Vec<(String, String)>) {
    let (ops, keys) = history(shared, entries);
    let report = lin::check(&lin::Counter, &ops, &lin::Options::default());
    let mut check = lin::to_check("linearizable", &report);
    if let Some(v) = report.violations.first() {
        check.detail.push_str(&format!(" (key {} is the counter of {:?})", v.key, keys[v.key as usize]));
    }
    (check, lin::violation_figure("linearizable", &report))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Config;
    use sim_core::{NodeId, OpId, Reply, Time};

    fn entry(op: u64, user: u64, invoke: u64, complete: u64, outcome: Outcome, reply: Reply) -> HistoryEntry {
        HistoryEntry {
            op: OpId::new(op),
            client: NodeId(9),
            kind: 0,
            key: user,
            value: 0,
            attempt: 0,
            invoke: Time(invoke),
            complete: Some(Time(complete)).into(),
            outcome: Some(outcome),
            reply,
        }
    }

    fn shared(c: &Config) -> Shared {
        Shared::from_config(c, vec![NodeId(0)], crate::Ring::new(&[NodeId(1)], 8))
    }

    #[test]
    fn admissions_are_increments_and_refusals_reads() {
        let s = shared(&Config::default());
        let h = vec![
            entry(0, 7, 0, 10, Outcome::Ok, Reply::Value(1)),
            entry(1, 7, 20, 30, Outcome::Ok, Reply::Value(2)),
            entry(2, 7, 40, 50, Outcome::Rejected, Reply::Value(2)),
            entry(3, 8, 0, 10, Outcome::Ok, Reply::Value(1)),
        ];
        let (ops, keys) = history(&s, &h);
        assert_eq!(keys, [LimitKey::User { user: 7, api: 0 }, LimitKey::User { user: 8, api: 0 }]);
        assert_eq!(ops[2].input, CounterOp::Read);
        assert_eq!((ops[3].key, ops[3].input), (1, CounterOp::AddGet(1)));
        let (c, figures) = check(&s, &h);
        assert!(c.passed && c.count.judged == 2, "{}", c.detail);
        assert!(figures.is_empty());
    }

    #[test]
    fn two_admissions_answering_one_count_are_a_lost_update() {
        // Read-then-write: two servers read 0 and both wrote 1.
        let s = shared(&Config::default());
        let mut h = vec![
            entry(0, 7, 0, 10, Outcome::Ok, Reply::Value(1)),
            entry(1, 7, 2, 12, Outcome::Ok, Reply::Value(1)),
            entry(2, 7, 20, 30, Outcome::Rejected, Reply::Value(1)),
        ];
        let (c, figures) = check(&s, &h);
        assert!(!c.passed, "{}", c.detail);
        assert!(c.detail.contains("counter of User { user: 7, api: 0 }"), "{}", c.detail);
        assert_eq!(figures.len(), 1);
        // A third call that timed out cannot explain it (the counts would be 1 and 2, or 2 and 3).
        h.push(HistoryEntry {
            complete: None.into(),
            outcome: Some(Outcome::Timeout),
            reply: Reply::None,
            ..entry(3, 7, 1, 0, Outcome::Ok, Reply::None)
        });
        assert!(!check(&s, &h).0.passed);
        // With distinct counts it is fine, and the refusal read the final count.
        h[1].reply = Reply::Value(2);
        h[2].reply = Reply::Value(2);
        let (c, _) = check(&s, &h);
        assert!(c.passed, "{}", c.detail);
    }

    #[test]
    fn user_and_address_limits_are_two_counters() {
        let s = shared(&Config { limit_by: crate::LimitBy::Both, users_per_ip: 2, ..Config::default() });
        // User 0 admitted by its own key, refused by its address (count 5 there); user 1 admitted
        // by both.
        let h = vec![
            entry(0, 0, 0, 10, Outcome::Rejected, Reply::list([1, 5])),
            entry(1, 1, 20, 30, Outcome::Ok, Reply::list([1, 6])),
        ];
        let (ops, keys) = history(&s, &h);
        assert_eq!(keys.len(), 3);
        let inputs: Vec<_> = ops.iter().map(|o| o.input).collect();
        assert_eq!(inputs, [CounterOp::AddGet(1), CounterOp::Read, CounterOp::AddGet(1), CounterOp::AddGet(1)]);
        let (c, _) = check(&s, &h);
        assert!(!c.passed, "the address's counter answered 5 and 6 with no increments before them");
        assert_eq!(c.count.judged, 3);
        let h = vec![
            entry(0, 0, 0, 10, Outcome::Rejected, Reply::list([1, 0])),
            entry(1, 1, 20, 30, Outcome::Ok, Reply::list([1, 1])),
        ];
        assert!(check(&s, &h).0.passed);
    }
}
