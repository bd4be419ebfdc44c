//! Sequential consistency per key: is there a total order of a key's operations that the spec
//! accepts and that respects each client's *program order*, though not real time across clients?
//!
//! Program order: operation `a` of a client precedes its operation `b` when `a` completed before
//! `b` was invoked (a session that issues one operation at a time orders them all; a client with
//! overlapping operations orders only those that do not overlap). Operations of different
//! clients are unordered. A linearizable history is sequentially consistent (real-time order
//! contains program order); the converse fails, e.g. a read by another client that returns the
//! value before a write that had already completed (that read can be ordered before the write).
//!
//! The search: a key is first checked for linearizability (which implies sequential consistency,
//! and whose search is far cheaper); only a key that is not linearizable (or over that budget) is
//! searched for a sequential order. That search goes depth first over the operations that may
//! come next (every operation of a client whose program-order predecessors are all placed),
//! tried in invocation order, memoised on (set placed, state) with the same 128-bit Zobrist hash
//! as the linearizability search. A read the current state answers is placed at once with no
//! alternative tried (a partial-order reduction: moving such a read earlier keeps any valid order
//! valid), so only the order of the writes branches. Operations of unknown outcome may be placed (after
//! their predecessors; nothing of their client follows them in program order, since they never
//! completed) or left out; the key is consistent once every operation with a known outcome is
//! placed. Reads of unknown outcome and what [`Spec::prunable_unknown`] names are left out first,
//! as for linearizability (an unseen write of unknown outcome, if it took effect somewhere in a
//! valid order, is followed by no read of its value before the next write, so dropping it keeps
//! the order valid).
//!
//! Deciding sequential consistency is NP-complete even for registers (Gibbons and Korach, 1997),
//! and the space is every interleaving of the sessions, so the search has its own budget
//! ([`Options::max_sc_states_per_key`]) over which a key is `Unknown`.

use super::check::{OpOf, by_key, zobrist};
use super::{Options, Spec};
use std::collections::{BTreeMap, BTreeSet};

/// The verdict on one key.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ScKeyResult {
    Consistent {
        states: u64,
    },
    /// No order exists. The longest order the search built placed `placed` operations, and the
    /// operation at index `blocked` (of the slice checked, the earliest invoked of those with a
    /// known outcome left) could not come next.
    NotConsistent {
        states: u64,
        blocked: usize,
        placed: usize,
    },
    /// Gave up after `states` configurations.
    Unknown {
        states: u64,
    },
}

impl ScKeyResult {
    pub fn states(&self) -> u64 {
        match *self {
            ScKeyResult::Consistent { states }
            | ScKeyResult::NotConsistent { states, .. }
            | ScKeyResult::Unknown { states } => states,
        }
    }
}

/// The verdict on a whole history.
#[derive(Clone, Debug, PartialEq)]
pub struct ScReport<I, O> {
    pub keys: u64,
    pub ops: u64,
    /// Operations of unknown outcome left out (reads; unseen writes).
    pub dropped_unknown: u64,
    pub pruned_unknown: u64,
    /// Configurations explored, over every key, by both searches (a key is first checked for
    /// linearizability, which implies sequential consistency).
    pub states_explored: u64,
    pub consistent_keys: u64,
    /// Keys the search gave up on, with their states explored.
    pub unknown_keys: Vec<(u64, u64)>,
    /// Keys with no order, each with the operation that could not be placed and how many were.
    pub failed_keys: Vec<(u64, super::Operation<I, O>, usize)>,
}

impl<I, O> ScReport<I, O> {
    /// True when every key was found sequentially consistent (none failed, none unknown).
    pub fn consistent(&self) -> bool {
        self.failed_keys.is_empty() && self.unknown_keys.is_empty()
    }
}

/// Decides whether `ops` (one key's operations) is sequentially consistent under `spec`,
/// exploring at most `max_states` configurations.
pub fn check_key<S: Spec>(spec: &S, ops: &[&OpOf<S>], max_states: u64) -> ScKeyResult {
    let n = ops.len();
    // Indices by invocation: the order candidates are tried in.
    let mut by_invoke: Vec<usize> = (0..n).collect();
    by_invoke.sort_by_key(|&i| (ops[i].invoke, i));
    // Per client, its operations by completion (unknown last); for each operation, its place in
    // that list and how many of its client's operations completed strictly before its invocation
    // (its program-order predecessors: a prefix of that list).
    let mut per_client: BTreeMap<u32, Vec<usize>> = BTreeMap::new();
    for &i in &by_invoke {
        per_client.entry(ops[i].client).or_default().push(i);
    }
    let done_at = |i: usize| ops[i].complete().map_or(u64::MAX, |t| t.0);
    let clients: Vec<Vec<usize>> = per_client
        .into_values()
        .map(|mut v| {
            v.sort_by_key(|&i| (done_at(i), i));
            v
        })
        .collect();
    let mut client_of = vec![0usize; n];
    let mut place = vec![0usize; n];
    let mut need = vec![0usize; n];
    for (c, list) in clients.iter().enumerate() {
        for (p, &i) in list.iter().enumerate() {
            client_of[i] = c;
            place[i] = p;
            need[i] = list.partition_point(|&j| done_at(j) < ops[i].invoke.0);
        }
    }
    let known_total = ops.iter().filter(|o| o.output().is_some()).count();

    let mut done = vec![false; n];
    // Per client: the length of the prefix of its completion-ordered list that is all placed.
    let mut prefix = vec![0usize; clients.len()];
    let mut known_left = known_total;
    let mut cache: BTreeSet<(u128, S::State)> = BTreeSet::new();
    let mut states = 0u64;
    let mut state = spec.init();
    let mut hash = 0u128;
    // (position in `by_invoke` of the operation placed, the state before it, whether it was
    // forced: a read placed with no alternative tried)
    let mut stack: Vec<(usize, S::State, bool)> = Vec::new();
    let mut deepest: Option<(usize, usize)> = None;
    let mut cursor = 0usize;
    let enabled = |i: usize, done: &[bool], prefix: &[usize]| !done[i] && prefix[client_of[i]] >= need[i];
    loop {
        if known_left == 0 {
            return ScKeyResult::Consistent { states };
        }
        // A read that the state answers now is placed now, with no alternative: any valid order
        // from here stays valid with the read moved to this point (it changes no state, its
        // predecessors are placed, and its successors come later either way).
        let forced = if cursor == 0 {
            by_invoke.iter().position(|&i| {
                enabled(i, &done, &prefix)
                    && !spec.mutates(&ops[i].input)
                    && spec.step(&state, &ops[i].input, ops[i].output()).is_some()
            })
        } else {
            None
        };
        let mut found = None;
        let candidates = match forced {
            Some(pos) => pos..pos + 1,
            None => cursor..n,
        };
        for pos in candidates {
            let i = by_invoke[pos];
            if !enabled(i, &done, &prefix) {
                continue;
            }
            let op = ops[i];
            let Some(s2) = spec.step(&state, &op.input, op.output()) else { continue };
            let h2 = hash ^ zobrist(i);
            if cache.insert((h2, s2.clone())) {
                states += 1;
                if states > max_states {
                    return ScKeyResult::Unknown { states };
                }
                found = Some((pos, s2));
                break;
            }
        }
        match found {
            Some((pos, s2)) => {
                let i = by_invoke[pos];
                stack.push((pos, std::mem::replace(&mut state, s2), forced.is_some()));
                hash ^= zobrist(i);
                done[i] = true;
                if ops[i].output().is_some() {
                    known_left -= 1;
                }
                let c = client_of[i];
                while prefix[c] < clients[c].len() && done[clients[c][prefix[c]]] {
                    prefix[c] += 1;
                }
                cursor = 0;
            }
            None => {
                if deepest.is_none_or(|(d, _)| stack.len() > d) {
                    let first_left =
                        by_invoke.iter().copied().find(|&i| !done[i] && ops[i].output().is_some()).expect("known left");
                    deepest = Some((stack.len(), first_left));
                }
                // Undo to the last real choice: a forced read had no alternative.
                loop {
                    let Some((pos, s, was_forced)) = stack.pop() else {
                        let (placed, blocked) = deepest.expect("set above");
                        return ScKeyResult::NotConsistent { states, blocked, placed };
                    };
                    let i = by_invoke[pos];
                    state = s;
                    hash ^= zobrist(i);
                    done[i] = false;
                    if ops[i].output().is_some() {
                        known_left += 1;
                    }
                    let c = client_of[i];
                    prefix[c] = prefix[c].min(place[i]);
                    cursor = pos + 1;
                    if !was_forced {
                        break;
                    }
                }
            }
        }
    }
}

/// Checks a whole history for sequential consistency, key by key.
pub fn check<S: Spec>(spec: &S, history: &[OpOf<S>], opts: &Options) -> ScReport<S::Input, S::Output> {
    let keys = by_key(spec, history);
    let mut r = ScReport {
        keys: keys.keys() as u64,
        ops: keys.ops_kept,
        dropped_unknown: keys.dropped_unknown,
        pruned_unknown: keys.pruned_unknown,
        states_explored: 0,
        consistent_keys: 0,
        unknown_keys: Vec::new(),
        failed_keys: Vec::new(),
    };
    for (key, ops) in keys.iter() {
        // A linearizable key is sequentially consistent (real-time order contains program
        // order), and the linearizability search is far cheaper: it settles most keys.
        let lin = super::check_key(spec, ops, opts.max_states_per_key);
        r.states_explored += lin.states();
        if let super::KeyResult::Linearizable { .. } = lin {
            r.consistent_keys += 1;
            continue;
        }
        let result = check_key(spec, ops, opts.max_sc_states_per_key);
        r.states_explored += result.states();
        match result {
            ScKeyResult::Consistent { .. } => r.consistent_keys += 1,
            ScKeyResult::Unknown { states } => r.unknown_keys.push((key, states)),
            ScKeyResult::NotConsistent { blocked, placed, .. } => {
                r.failed_keys.push((key, ops[blocked].clone(), placed))
            }
        }
    }
    r
}

/// The check of an [`ScReport`], judged over keys like [`super::to_check`]: a key the search gave
/// up on is skipped with why; the detail names the first failing key's blocked operation.
pub fn to_check<I: std::fmt::Debug, O: std::fmt::Debug>(name: &str, r: &ScReport<I, O>) -> crate::Check {
    use crate::model::thousands;
    let judged = r.keys - r.unknown_keys.len() as u64;
    let mut detail = format!(
        "{} of {} keys not sequentially consistent ({} operations, {} states explored)",
        thousands(r.failed_keys.len() as u64),
        thousands(judged),
        thousands(r.ops),
        thousands(r.states_explored)
    );
    if let Some(most) = r.unknown_keys.iter().map(|k| k.1).max() {
        detail.push_str(&format!(
            "; unknown: gave up on {} keys after {} states",
            r.unknown_keys.len(),
            thousands(most)
        ));
    }
    if let Some((key, op, placed)) = r.failed_keys.first() {
        detail.push_str(&format!(
            "; first: key {key}: op {} by client {} ({:?} -> {}) cannot come next in any order of the clients' \
             programs (after {placed} operations ordered)",
            op.id,
            op.client,
            op.input,
            op.output().map_or("unknown".to_string(), |x| format!("{x:?}"))
        ));
    }
    crate::Check::judged(name, judged, "keys")
        .skipped(r.unknown_keys.len() as u64, "unknown: the search gave up over its state budget")
        .violations(r.failed_keys.len() as u64, "not sequentially consistent")
        .detail(detail)
        .blame_ids(r.failed_keys.iter().map(|(_, o, _)| crate::OpId::new(o.id)))
}
