//! # lin: linearizability and weaker consistency models, checked over a history
//!
//! A model opts in by mapping its operations onto one of the sequential specifications of
//! [`spec`] (a register with read/write/compare-and-set, a set, a counter, a FIFO queue), as
//! [`Operation`]s: who invoked it, on which key, when it was invoked, and either when it completed
//! with what output or that its outcome is unknown (timed out, or pending when the run ended).
//! Operations that definitely did not happen (failed, rejected) are left out by the caller.
//!
//! **The checker** ([`check`]) decides whether the history could have come from the sequential
//! object: whether every operation can be given a point between its invocation and completion
//! such that the operations, applied in that order, produce exactly the observed outputs. It is
//! the Wing-Gong search with Lowe's just-in-time linearization (the algorithm behind Porcupine
//! and Knossos' `linear`): walk the history's call and return events in time order; at a call, try
//! to linearize that operation now (the spec accepts its output in the current state) and restart
//! from the first event left; at a return of an operation not yet linearized, undo the last choice
//! and try the next candidate. Two things make it practical:
//!
//! - **P-compositionality**: every operation names a key, each key is an independent object, and
//!   the history is linearizable exactly when each key's sub-history is, so keys are checked one
//!   by one (a key-value store is a register per key).
//! - **Memoisation**: a configuration (set of operations linearized so far, state) already explored
//!   is never explored again. The set is kept as a 128-bit Zobrist hash (an XOR of a fixed random
//!   word per operation), so a configuration costs 16 bytes plus the state; two different sets
//!   share a hash with probability about `n^2 / 2^128`, negligible for any history simctl makes.
//!
//! **Unknown outcomes** are handled as Jepsen does: such an operation may have taken effect at any
//! time after its invocation, or never. Its return event is placed after every other event, and
//! the search succeeds once every operation with a known outcome is linearized, whether or not the
//! unknown ones were. An unknown operation that cannot change the state (a read) is dropped, and so
//! is one the spec shows cannot change the verdict (a register write whose value nobody saw):
//! each unknown operation left in doubles the configurations the search may visit.
//!
//! **A budget** bounds the configurations explored per key ([`Options::max_states_per_key`]); a key
//! that exceeds it is `Unknown` ("gave up after N states") instead of exhausting memory.
//!
//! **On a violation** ([`Violation`]): the operation whose completion no linearization could reach
//! (at the deepest point the search got to), and a small non-linearizable sub-history around it,
//! minimised by dropping chunks of operations while it stays non-linearizable (an operation
//! another one needs, such as the write whose value a read returned, is dropped with it), with a
//! bounded number of tries. An object made of independent elements (a set: [`Spec::element`],
//! [`Spec::restrict`]) is first seen through one element, then two, nearest the blocked operation
//! in time: a linearizable history stays linearizable seen through any of its elements, so a
//! restriction with no linearization is a violation of the whole, and it is minimised instead
//! (a hot key's reads of hundreds of elements each need every add they returned, so no window
//! of the whole history is small: `dynamo` under a delay fault showed 2,042 operations where the
//! restriction to two elements shows four). The words of a violation list at most 24
//! operations, each cut at 240 characters. [`svg::timeline`] draws it: a bar per operation from
//! invocation to completion, a row per client, the operations of the sub-history marked.
//!
//! **Weaker models**: sequential consistency per key ([`sequential`]: some total order respecting
//! each client's program order, not real time, satisfies the spec; its own search and budget),
//! and ([`weak`]) read-your-writes and monotonic reads per client session and key, for registers
//! whose writes write unique values.

pub mod check;
pub mod generate;
pub mod sequential;
pub mod spec;
pub mod svg;
pub mod weak;

pub use check::{KeyResult, LinReport, Options, Violation, check, check_key};
pub use spec::{
    Counter, CounterOp, CounterRet, Queue, QueueOp, QueueRet, RegOp, RegRet, Register, Set, SetOp, SetRet, Spec,
};

use crate::time::Time;

/// How an operation ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Ret<O> {
    /// Completed at `at` with `output`.
    Ok { at: Time, output: O },
    /// Timed out or still pending: it may have taken effect at any time after its invocation, or
    /// never.
    Unknown,
}

/// One operation of a history, on one key of one object.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Operation<I, O> {
    /// The history's operation id (`OpId.0`): what a check blames.
    pub id: u64,
    /// The client (session) that invoked it.
    pub client: u32,
    /// The independent object it acts on (one register of a key-value store).
    pub key: u64,
    pub invoke: Time,
    pub input: I,
    pub ret: Ret<O>,
}

impl<I, O> Operation<I, O> {
    /// When it completed (`None`: unknown outcome).
    pub fn complete(&self) -> Option<Time> {
        match self.ret {
            Ret::Ok { at, .. } => Some(at),
            Ret::Unknown => None,
        }
    }
    /// Its output, if known.
    pub fn output(&self) -> Option<&O> {
        match &self.ret {
            Ret::Ok { output, .. } => Some(output),
            Ret::Unknown => None,
        }
    }
}

#[cfg(test)]
mod tests;

/// An operation of the kernel's history, for a check: `None` when it definitely did not happen
/// (failed or rejected); `Unknown` when it timed out or was pending at the end of the run, or
/// completed without the output `output` reads from it.
pub fn from_entry<I, O>(
    e: &crate::metrics::HistoryEntry,
    input: I,
    output: impl FnOnce(&crate::actor::Reply) -> Option<O>,
) -> Option<Operation<I, O>> {
    use crate::actor::Outcome;
    let ret = match (e.outcome, e.complete.get()) {
        (Some(Outcome::Fail | Outcome::Rejected), _) => return None,
        (Some(Outcome::Ok), Some(at)) => output(&e.reply).map_or(Ret::Unknown, |output| Ret::Ok { at, output }),
        _ => Ret::Unknown,
    };
    Some(Operation { id: e.op.0 as u64, client: e.client.0, key: e.key, invoke: e.invoke, input, ret })
}

/// The check of a [`LinReport`]: judged over keys, a key the search gave up on is skipped with
/// why, a key with no linearization is a violation; the detail names the first violation's
/// operations, and it blames them.
pub fn to_check<I: std::fmt::Debug, O: std::fmt::Debug>(name: &str, r: &LinReport<I, O>) -> crate::Check {
    use crate::model::thousands;
    let judged = r.keys - r.unknown_keys.len() as u64;
    let most = r.unknown_keys.iter().map(|k| k.1).max().unwrap_or(0);
    let mut detail = format!(
        "{} of {} keys not linearizable ({} operations, {} states explored",
        thousands(r.failed_keys.len() as u64),
        thousands(judged),
        thousands(r.ops),
        thousands(r.states_explored)
    );
    if r.dropped_unknown > 0 {
        detail.push_str(&format!("; {} reads of unknown outcome left out", thousands(r.dropped_unknown)));
    }
    if r.pruned_unknown > 0 {
        detail.push_str(&format!("; {} unseen writes of unknown outcome left out", thousands(r.pruned_unknown)));
    }
    detail.push(')');
    if !r.unknown_keys.is_empty() {
        detail.push_str(&format!(
            "; unknown: gave up on {} keys after {} states",
            r.unknown_keys.len(),
            thousands(most)
        ));
    }
    if let Some(v) = r.violations.first() {
        detail.push_str(&format!("; first: {}", describe_violation(v)));
    }
    crate::Check::judged(name, judged, "keys")
        .skipped(r.unknown_keys.len() as u64, "unknown: the search gave up over its state budget")
        .violations(r.failed_keys.len() as u64, "not linearizable")
        .detail(detail)
        .blame_ids(r.violations.iter().flat_map(|v| v.ops.iter().map(|o| crate::OpId::new(o.id))))
}

/// Operations a violation's words list at most, and characters of one operation's words: a
/// minimiser that cannot cut a long history down (a hot key's reads of hundreds of elements)
/// would otherwise write megabytes into the report's one line.
const DESCRIBED_OPS: usize = 24;
const DESCRIBED_OP_CHARS: usize = 240;

/// One violation in words: the key, the elements it is seen through (if a restriction), the
/// operation that cannot be placed, and the minimal sub-history, operation by operation (the 24
/// nearest the blocked one in invocation order, when it has more; each cut at 240 characters).
pub fn describe_violation<I: std::fmt::Debug, O: std::fmt::Debug>(v: &Violation<I, O>) -> String {
    let at = v.ops.iter().position(|o| o.id == v.blocked.id).unwrap_or(0);
    let from = at.saturating_sub(DESCRIBED_OPS / 2).min(v.ops.len().saturating_sub(DESCRIBED_OPS));
    let shown = &v.ops[from..(from + DESCRIBED_OPS).min(v.ops.len())];
    let mut ops: Vec<String> = shown
        .iter()
        .map(|o| {
            let end = o.complete().map_or("?".to_string(), |t| t.to_string());
            let out = o.output().map_or("unknown".to_string(), |x| format!("{x:?}"));
            let text = format!("op {} by client {} [{}, {end}] {:?} -> {out}", o.id, o.client, o.invoke, o.input);
            match text.char_indices().nth(DESCRIBED_OP_CHARS) {
                Some((cut, _)) => format!("{}...", &text[..cut]),
                None => text,
            }
        })
        .collect();
    if shown.len() < v.ops.len() {
        ops.push(format!(
            "({} more not listed: {} before, {} after; the report's blamed operations name them all)",
            v.ops.len() - shown.len(),
            from,
            v.ops.len() - from - shown.len()
        ));
    }
    let through = match &v.restricted_to {
        Some(e) => format!(
            " seen through element{} {} only (each read shows only {} of its elements)",
            if e.len() == 1 { "" } else { "s" },
            elements_words(e),
            if e.len() == 1 { "this" } else { "these" }
        ),
        None => String::new(),
    };
    format!(
        "key {}{through}: op {} cannot be placed (after {} operations ordered); not linearizable together ({} of {} \
         operations of the window): {}",
        v.key,
        v.blocked.id,
        v.linearized,
        v.ops.len(),
        v.window,
        ops.join("; ")
    )
}

/// The elements a restricted violation is seen through, in words: "2794 and 2933".
fn elements_words(elements: &[u64]) -> String {
    elements.iter().map(|x| x.to_string()).collect::<Vec<_>>().join(" and ")
}

/// The report figure of a check's first violation, if any: `("<check>_key_<key>", timeline svg)`.
pub fn violation_figure<I: std::fmt::Debug, O: std::fmt::Debug>(
    check: &str,
    r: &LinReport<I, O>,
) -> Vec<(String, String)> {
    r.violations
        .first()
        .map(|v| {
            let through =
                v.restricted_to.as_ref().map_or(String::new(), |e| format!(" (seen through {})", elements_words(e)));
            let title = format!("{check}: key {}{through}, op {} cannot be placed", v.key, v.blocked.id);
            (format!("{check}_key_{}", v.key), svg::timeline(&title, &svg::violation_bars(v)))
        })
        .into_iter()
        .collect()
}
