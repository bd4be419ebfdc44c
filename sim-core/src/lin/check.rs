//! The Wing-Gong / Lowe search, per key, with memoisation and a state budget; the minimiser of a
//! violation. See the module essay in `lin/mod.rs`.

use super::{Operation, Ret, Spec};
use crate::rng::mix64;
use std::collections::{BTreeMap, BTreeSet};

/// Limits of a check.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Options {
    /// Configurations (set linearized, state) a key may explore before it is `Unknown`.
    pub max_states_per_key: u64,
    /// Non-linearizability checks the minimiser of one violation may run.
    pub minimise_tries: u32,
    /// Violations (keys) that are minimised and kept whole; later failing keys are only counted.
    pub max_violations: usize,
    /// Configurations (set ordered, state) the sequential-consistency search ([`super::sequential`])
    /// may explore per key before the key is `Unknown`: its own budget, since its search space
    /// (every interleaving of the sessions) is far larger than linearizability's.
    pub max_sc_states_per_key: u64,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            max_states_per_key: 1_000_000,
            minimise_tries: 200,
            max_violations: 3,
            max_sc_states_per_key: 1_000_000,
        }
    }
}

/// The verdict on one key's sub-history.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KeyResult {
    Linearizable {
        states: u64,
    },
    /// No linearization exists. At the deepest point of the search, `linearized` operations were
    /// ordered and the operation at index `blocked` (of the slice checked) completed before any
    /// order could place it.
    NotLinearizable {
        states: u64,
        blocked: usize,
        linearized: usize,
    },
    /// Gave up after `states` configurations.
    Unknown {
        states: u64,
    },
}

impl KeyResult {
    pub fn states(&self) -> u64 {
        match *self {
            KeyResult::Linearizable { states }
            | KeyResult::NotLinearizable { states, .. }
            | KeyResult::Unknown { states } => states,
        }
    }
    pub fn is_violation(&self) -> bool {
        matches!(self, KeyResult::NotLinearizable { .. })
    }
}

/// A key whose sub-history is not linearizable, with a small sub-history that shows it.
#[derive(Clone, Debug, PartialEq)]
pub struct Violation<I, O> {
    pub key: u64,
    /// The operation no linearization could place before it completed.
    pub blocked: Operation<I, O>,
    /// How many operations the deepest linearization had ordered when it got stuck.
    pub linearized: usize,
    /// The minimised non-linearizable sub-history, by invocation time (contains `blocked`).
    pub ops: Vec<Operation<I, O>>,
    /// Operations of the window the minimiser started from.
    pub window: usize,
    /// The elements the sub-history is seen through, when it is a restriction
    /// ([`Spec::restrict`]): its reads show only these of their elements.
    pub restricted_to: Option<Vec<u64>>,
}

/// The verdict on a whole history.
#[derive(Clone, Debug, PartialEq)]
pub struct LinReport<I, O> {
    /// Keys checked, and operations checked (after dropping unknown reads).
    pub keys: u64,
    pub ops: u64,
    /// Operations of unknown outcome that cannot change the state (reads), left out.
    pub dropped_unknown: u64,
    /// Operations of unknown outcome the spec says cannot change the verdict
    /// ([`Spec::prunable_unknown`]: writes nobody saw), left out.
    pub pruned_unknown: u64,
    /// Configurations explored, over every key.
    pub states_explored: u64,
    /// Keys found linearizable.
    pub linearizable_keys: u64,
    /// Keys the search gave up on (over the budget), with their states explored.
    pub unknown_keys: Vec<(u64, u64)>,
    /// Every key that is not linearizable.
    pub failed_keys: Vec<u64>,
    /// The first [`Options::max_violations`] of them, minimised.
    pub violations: Vec<Violation<I, O>>,
}

impl<I, O> LinReport<I, O> {
    /// True when every key was found linearizable (no violation, none unknown).
    pub fn linearizable(&self) -> bool {
        self.failed_keys.is_empty() && self.unknown_keys.is_empty()
    }
}

const NIL: u32 = u32::MAX;

/// An operation of spec `S`.
pub type OpOf<S> = Operation<<S as Spec>::Input, <S as Spec>::Output>;

/// The Zobrist word of operation `i`: a fixed pseudo-random 128-bit value.
pub(crate) fn zobrist(i: usize) -> u128 {
    let a = mix64(i as u64 ^ 0x9e37_79b9_7f4a_7c15);
    let b = mix64(a ^ 0xd1b5_4a32_d192_ed03);
    ((a as u128) << 64) | b as u128
}

/// Decides whether `ops` (one key's operations) is linearizable under `spec`, exploring at most
/// `max_states` configurations.
pub fn check_key<S: Spec>(spec: &S, ops: &[&Operation<S::Input, S::Output>], max_states: u64) -> KeyResult {
    one_order(spec, ops, max_states).unwrap_or_else(|| search(spec, ops, max_states))
}

/// The search itself (what [`check_key`] runs unless [`one_order`] settles the key).
pub(crate) fn search<S: Spec>(spec: &S, ops: &[&OpOf<S>], max_states: u64) -> KeyResult {
    let n = ops.len();
    assert!(n < (u32::MAX / 2) as usize, "too many operations for one key: {n}");
    // Entries: 2i is operation i's call, 2i + 1 its return. In time order; at equal times calls
    // first (an operation that completes when another is invoked is concurrent with it); returns of
    // unknown outcome last of all.
    let mut order: Vec<(u64, u8, u32)> = Vec::with_capacity(2 * n);
    let mut unknown = vec![false; n];
    for (i, op) in ops.iter().enumerate() {
        order.push((op.invoke.0, 0, 2 * i as u32));
        match op.complete() {
            Some(t) => {
                debug_assert!(t >= op.invoke, "operation {} completes before its invocation", op.id);
                order.push((t.0, 1, 2 * i as u32 + 1));
            }
            None => {
                unknown[i] = true;
                order.push((u64::MAX, 2, 2 * i as u32 + 1));
            }
        }
    }
    order.sort_unstable();
    let head = 2 * n;
    let mut next = vec![NIL; 2 * n + 1];
    let mut prev = vec![NIL; 2 * n + 1];
    let mut last = head as u32;
    for &(_, _, e) in &order {
        next[last as usize] = e;
        prev[e as usize] = last;
        last = e;
    }
    let unlink = |next: &mut Vec<u32>, prev: &mut Vec<u32>, e: usize| {
        let (p, q) = (prev[e], next[e]);
        next[p as usize] = q;
        if q != NIL {
            prev[q as usize] = p;
        }
    };
    let relink = |next: &mut Vec<u32>, prev: &mut Vec<u32>, e: usize| {
        let (p, q) = (prev[e], next[e]);
        next[p as usize] = e as u32;
        if q != NIL {
            prev[q as usize] = e as u32;
        }
    };

    let mut cache: BTreeSet<(u128, S::State)> = BTreeSet::new();
    let mut states = 0u64;
    let mut state = spec.init();
    let mut hash = 0u128;
    let mut stack: Vec<(usize, S::State)> = Vec::new();
    let mut deepest: Option<(usize, usize)> = None;
    let mut entry = next[head];
    loop {
        if entry == NIL || (entry % 2 == 1 && unknown[entry as usize / 2]) {
            return KeyResult::Linearizable { states };
        }
        let i = entry as usize / 2;
        if entry.is_multiple_of(2) {
            let op = ops[i];
            if let Some(s2) = spec.step(&state, &op.input, op.output()) {
                let h2 = hash ^ zobrist(i);
                if cache.insert((h2, s2.clone())) {
                    states += 1;
                    if states > max_states {
                        return KeyResult::Unknown { states };
                    }
                    stack.push((i, std::mem::replace(&mut state, s2)));
                    hash = h2;
                    unlink(&mut next, &mut prev, 2 * i);
                    unlink(&mut next, &mut prev, 2 * i + 1);
                    entry = next[head];
                    continue;
                }
            }
            entry = next[entry as usize];
        } else {
            // The return of an operation not yet linearized: undo the last choice.
            if deepest.is_none_or(|(d, _)| stack.len() > d) {
                deepest = Some((stack.len(), i));
            }
            let Some((j, s)) = stack.pop() else {
                let (linearized, blocked) = deepest.expect("set above");
                return KeyResult::NotLinearizable { states, blocked, linearized };
            };
            state = s;
            hash ^= zobrist(j);
            relink(&mut next, &mut prev, 2 * j + 1);
            relink(&mut next, &mut prev, 2 * j);
            entry = next[2 * j];
        }
    }
}

/// The verdict on a key whose operations do not overlap in time (each invoked after the one
/// invoked before it completed), all with known outcomes and all explained in that order: the
/// common key of a large history (a few operations seconds apart). There is one order to try,
/// and the search would explore exactly `n` configurations along it; the same verdict without
/// the search's lists and memo. `None` when the key is not such a key (the search decides it).
pub(crate) fn one_order<S: Spec>(spec: &S, ops: &[&OpOf<S>], max_states: u64) -> Option<KeyResult> {
    if ops.len() as u64 > max_states {
        return None;
    }
    // A history lists operations as its records came; a key's are nearly always in invocation
    // order already.
    let sorted;
    let ops = if ops.is_sorted_by_key(|op| op.invoke) {
        ops
    } else {
        let mut by_invoke = ops.to_vec();
        by_invoke.sort_by_key(|op| op.invoke);
        sorted = by_invoke;
        &sorted[..]
    };
    let mut state = spec.init();
    let mut done = None;
    for op in ops {
        // At equal times an invocation comes before a return: touching operations overlap.
        if done.is_some_and(|t| op.invoke <= t) {
            return None;
        }
        done = Some(op.complete()?);
        state = spec.step(&state, &op.input, op.output())?;
    }
    Some(KeyResult::Linearizable { states: ops.len() as u64 })
}

/// A history cut into keys (P-compositionality), with the operations of unknown outcome that
/// cannot change a verdict left out: reads ([`Spec::mutates`]) and what
/// [`Spec::prunable_unknown`] names. Shared by [`check`] and the sequential-consistency check.
///
/// One flat list sorted by (key, position in the history) and a run per key, not a map of lists:
/// a large history has hundreds of thousands of keys of a few operations each, and a vector per
/// key was most of the check's cost.
pub(crate) struct ByKey<'a, I, O> {
    /// Every operation kept, grouped by key in key order, each key's in history order.
    ops: Vec<&'a Operation<I, O>>,
    /// Each key and where its operations are in `ops`.
    runs: Vec<(u64, std::ops::Range<usize>)>,
    /// Operations kept, over every key.
    pub ops_kept: u64,
    pub dropped_unknown: u64,
    pub pruned_unknown: u64,
}

impl<'a, I, O> ByKey<'a, I, O> {
    /// How many keys.
    pub fn keys(&self) -> usize {
        self.runs.len()
    }
    /// Each key with its operations, in key order.
    pub fn iter(&self) -> impl Iterator<Item = (u64, &[&'a Operation<I, O>])> + '_ {
        self.runs.iter().map(|(key, r)| (*key, &self.ops[r.clone()]))
    }
}

pub(crate) fn by_key<'a, S: Spec>(spec: &S, history: &'a [OpOf<S>]) -> ByKey<'a, S::Input, S::Output> {
    let mut dropped_unknown = 0u64;
    // (key, position, of unknown outcome): the outcome noted while the history is read in order,
    // so that finding a key's unknown operations reads this list, not its operations scattered
    // over the history (a cache miss each, paid again when the key is checked).
    let mut order: Vec<(u64, u32, bool)> = Vec::with_capacity(history.len());
    for (i, op) in history.iter().enumerate() {
        let unknown = op.output().is_none();
        if unknown && !spec.mutates(&op.input) {
            dropped_unknown += 1;
            continue;
        }
        order.push((op.key, u32::try_from(i).expect("fewer than 2^32 operations"), unknown));
    }
    // Pushed in history order, so a stable sort by key alone is the (key, position) order. A
    // radix sort by key (only the bytes in which keys differ) where a comparison sort of whole
    // tuples was 14.4 M instructions of the Dynamo cut's 37 M linearizability check.
    radsort::sort_by_key(&mut order, |&(key, ..)| key);
    let mut ops: Vec<&OpOf<S>> = Vec::with_capacity(order.len());
    let mut runs = Vec::new();
    let mut pruned_unknown = 0u64;
    let mut at = 0;
    while at < order.len() {
        let key = order[at].0;
        let end = at + order[at..].partition_point(|&(k, _, _)| k == key);
        let start = ops.len();
        ops.extend(order[at..end].iter().map(|&(_, i, _)| &history[i as usize]));
        // By the contract of `prunable_unknown`, a key with nothing of unknown outcome (the
        // common key) has nothing to prune.
        if order[at..end].iter().any(|&(_, _, unknown)| unknown) {
            let prune = spec.prunable_unknown(&ops[start..]);
            assert_eq!(prune.len(), ops.len() - start, "one flag per operation");
            let mut kept = start;
            for (i, left_out) in (start..ops.len()).zip(prune) {
                if !left_out {
                    ops[kept] = ops[i];
                    kept += 1;
                }
            }
            pruned_unknown += (ops.len() - kept) as u64;
            ops.truncate(kept);
        }
        // A key whose every operation was left out is still a key (trivially linearizable).
        runs.push((key, start..ops.len()));
        at = end;
    }
    let ops_kept = ops.len() as u64;
    ByKey { ops, runs, ops_kept, dropped_unknown, pruned_unknown }
}

/// Checks a whole history, key by key (P-compositionality).
pub fn check<S: Spec>(
    spec: &S,
    history: &[Operation<S::Input, S::Output>],
    opts: &Options,
) -> LinReport<S::Input, S::Output> {
    let keys = by_key(spec, history);
    let mut r = LinReport {
        keys: keys.keys() as u64,
        ops: keys.ops_kept,
        dropped_unknown: keys.dropped_unknown,
        pruned_unknown: keys.pruned_unknown,
        states_explored: 0,
        linearizable_keys: 0,
        unknown_keys: Vec::new(),
        failed_keys: Vec::new(),
        violations: Vec::new(),
    };
    for (key, ops) in keys.iter() {
        let result = check_key(spec, ops, opts.max_states_per_key);
        r.states_explored += result.states();
        match result {
            KeyResult::Linearizable { .. } => r.linearizable_keys += 1,
            KeyResult::Unknown { states } => r.unknown_keys.push((key, states)),
            KeyResult::NotLinearizable { blocked, linearized, .. } => {
                r.failed_keys.push(key);
                if r.violations.len() < opts.max_violations {
                    r.violations.push(violation(spec, key, ops, blocked, linearized, opts));
                }
            }
        }
    }
    r
}

/// Key `key`'s violation, minimised: through the smallest restriction to one or two elements
/// that is itself not linearizable, where the spec has elements ([`restriction`]), else over the
/// whole operations.
fn violation<S: Spec>(
    spec: &S,
    key: u64,
    ops: &[&OpOf<S>],
    blocked: usize,
    linearized: usize,
    opts: &Options,
) -> Violation<S::Input, S::Output> {
    if let Some((elements, seen)) = restriction(spec, ops, blocked, opts) {
        let seen: Vec<&OpOf<S>> = seen.iter().collect();
        let budget = opts.max_states_per_key.min(100_000);
        if let KeyResult::NotLinearizable { blocked, linearized, .. } = check_key(spec, &seen, budget) {
            let (keep, window) = minimise(spec, &seen, blocked, opts);
            return Violation {
                key,
                blocked: seen[blocked].clone(),
                linearized,
                ops: keep.iter().map(|&i| seen[i].clone()).collect(),
                window,
                restricted_to: Some(elements),
            };
        }
    }
    let (keep, window) = minimise(spec, ops, blocked, opts);
    Violation {
        key,
        blocked: ops[blocked].clone(),
        linearized,
        ops: keep.iter().map(|&i| ops[i].clone()).collect(),
        window,
        restricted_to: None,
    }
}

/// `ops` seen through the elements `keep` (sorted): [`Spec::restrict`] of each, the mutations of
/// other elements left out. A read whose output the restriction cannot give stays unknown.
fn restrict_ops<S: Spec>(spec: &S, ops: &[&OpOf<S>], keep: &[u64]) -> Vec<OpOf<S>> {
    ops.iter()
        .filter_map(|o| {
            let (input, output) = spec.restrict(&o.input, o.output(), keep)?;
            let ret = match (&o.ret, output) {
                (Ret::Ok { at, .. }, Some(output)) => Ret::Ok { at: *at, output },
                _ => Ret::Unknown,
            };
            Some(Operation { id: o.id, client: o.client, key: o.key, invoke: o.invoke, input, ret })
        })
        .collect()
}

/// Elements tried one at a time, and the elements whose pairs are tried, at most: the nearest in
/// time to the blocked operation first.
const RESTRICT_SINGLES: usize = 64;
const RESTRICT_PAIRS_OF: usize = 40;

/// A restriction of `ops` to one element, else to two, that is not linearizable (a read missing
/// an element added before it began shows on one; two reads each seeing an element the other
/// does not, on two), with the elements; `None` if the spec has no elements or none is found
/// within the bounds. Elements are taken by how near their mutations are to the blocked
/// operation, in time.
fn restriction<S: Spec>(
    spec: &S,
    ops: &[&OpOf<S>],
    blocked: usize,
    opts: &Options,
) -> Option<(Vec<u64>, Vec<OpOf<S>>)> {
    let budget = opts.max_states_per_key.min(100_000);
    let b = ops[blocked];
    let (b0, b1) = (b.invoke.0, b.complete().map_or(u64::MAX, |t| t.0));
    // Element -> (the gap in time between its mutation and the blocked operation, then how far
    // apart their invocations are), nearest first.
    let mut near: BTreeMap<u64, (u64, u64)> = BTreeMap::new();
    for o in ops {
        if let Some(e) = spec.element(&o.input) {
            let (o0, o1) = (o.invoke.0, o.complete().map_or(u64::MAX, |t| t.0));
            let gap = if o1 < b0 { b0 - o1 } else { o0.saturating_sub(b1) };
            let d = (gap, o0.abs_diff(b0));
            let held = near.entry(e).or_insert(d);
            *held = (*held).min(d);
        }
    }
    if near.is_empty() {
        return None;
    }
    let mut by_gap: Vec<((u64, u64), u64)> = near.into_iter().map(|(e, d)| (d, e)).collect();
    by_gap.sort_unstable();
    let not_lin = |keep: &[u64]| {
        let seen = restrict_ops(spec, ops, keep);
        let refs: Vec<&OpOf<S>> = seen.iter().collect();
        check_key(spec, &refs, budget).is_violation().then_some(seen)
    };
    for &(_, e) in by_gap.iter().take(RESTRICT_SINGLES) {
        if let Some(seen) = not_lin(&[e]) {
            return Some((vec![e], seen));
        }
    }
    let pairs_of: Vec<u64> = by_gap.iter().take(RESTRICT_PAIRS_OF).map(|&(_, e)| e).collect();
    for (i, &x) in pairs_of.iter().enumerate() {
        for &y in &pairs_of[i + 1..] {
            let keep = [x.min(y), x.max(y)];
            if let Some(seen) = not_lin(&keep) {
                return Some((keep.to_vec(), seen));
            }
        }
    }
    None
}

/// A small non-linearizable sub-history of `ops` (indices, by invocation), and the size of the
/// window it was cut from. The window: the last operations invoked before `blocked` completed
/// (200, doubled until the window is not linearizable), with the operations they need. Then
/// chunks are dropped (halving their size down to one operation) while the rest stays not
/// linearizable; an operation that needs a dropped one is dropped with it, and `blocked` stays.
fn minimise<S: Spec>(
    spec: &S,
    ops: &[&Operation<S::Input, S::Output>],
    blocked: usize,
    opts: &Options,
) -> (Vec<usize>, usize) {
    let budget = opts.max_states_per_key.min(100_000);
    let not_lin = |idx: &[usize]| {
        let sub: Vec<&Operation<S::Input, S::Output>> = idx.iter().map(|&i| ops[i]).collect();
        check_key(spec, &sub, budget).is_violation()
    };
    let mut by_invoke: Vec<usize> = (0..ops.len()).collect();
    by_invoke.sort_by_key(|&i| (ops[i].invoke, i));
    let until = ops[blocked].complete().expect("a blocked operation has a known completion");
    let prefix: Vec<usize> = by_invoke.iter().copied().filter(|&i| ops[i].invoke <= until).collect();
    let mut tries = 0u32;
    let mut size = 200usize;
    let mut keep = loop {
        let mut w: BTreeSet<usize> = prefix[prefix.len().saturating_sub(size)..].iter().copied().collect();
        w.insert(blocked);
        // The operations the window's operations need, from the whole prefix.
        let needed: Vec<usize> = prefix
            .iter()
            .copied()
            .filter(|&j| {
                !w.contains(&j) && w.iter().any(|&i| spec.needs(&ops[i].input, ops[i].output(), &ops[j].input))
            })
            .collect();
        w.extend(needed);
        let mut w: Vec<usize> = w.into_iter().collect();
        w.sort_by_key(|&i| (ops[i].invoke, i));
        tries += 1;
        if size >= prefix.len() || not_lin(&w) {
            if !not_lin(&w) {
                // Cannot happen for a search that failed at `blocked`; fall back to the whole key.
                break by_invoke.clone();
            }
            break w;
        }
        size *= 2;
    };
    let window = keep.len();
    // dependents[i]: the operations of the window that need operation i.
    let dependents: BTreeMap<usize, Vec<usize>> = keep
        .iter()
        .map(|&i| {
            let d = keep
                .iter()
                .copied()
                .filter(|&j| j != i && spec.needs(&ops[j].input, ops[j].output(), &ops[i].input))
                .collect();
            (i, d)
        })
        .collect();
    let mut chunk = (keep.len() / 2).max(1);
    loop {
        let mut start = 0;
        let mut removed = false;
        while start < keep.len() && tries < opts.minimise_tries {
            let mut cut: BTreeSet<usize> = keep[start..(start + chunk).min(keep.len())].iter().copied().collect();
            let mut todo: Vec<usize> = cut.iter().copied().collect();
            while let Some(i) = todo.pop() {
                for &d in dependents.get(&i).map(|v| v.as_slice()).unwrap_or(&[]) {
                    if cut.insert(d) {
                        todo.push(d);
                    }
                }
            }
            if cut.contains(&blocked) {
                // The blocked operation stays: the sub-history is shown around it.
                start += chunk;
                continue;
            }
            let candidate: Vec<usize> = keep.iter().copied().filter(|i| !cut.contains(i)).collect();
            tries += 1;
            if !candidate.is_empty() && not_lin(&candidate) {
                keep = candidate;
                removed = true;
            } else {
                start += chunk;
            }
        }
        if tries >= opts.minimise_tries || (chunk == 1 && !removed) {
            break;
        }
        chunk = (chunk / 2).max(1);
    }
    (keep, window)
}
