//! Session guarantees of a register history: read-your-writes and monotonic reads, per client
//! and key. Writes must write unique values (simctl's workload values are: value = op id + 1).
//!
//! Both are judged from real-time order alone, so they never blame a history wrongly but can miss
//! a reordering that real time does not show. Write `a` *precedes* write `b` when `a` completed
//! before `b` was invoked; the initial value (0) precedes every write.
//!
//! - **Read-your-writes**: a read by client `c` must not return a value that precedes a write `c`
//!   completed before invoking the read.
//! - **Monotonic reads**: a read by `c` must not return a value that precedes the value of a read
//!   `c` completed before invoking it.

use super::{Operation, RegOp, RegRet};
use crate::time::Time;

/// What the session checks judged and found.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SessionReport {
    /// Reads with an earlier completed write of their own session.
    pub ryw_judged: u64,
    /// `(read, the own write it missed)`, by op id.
    pub ryw_violations: Vec<(u64, u64)>,
    /// Reads with an earlier completed read in their session.
    pub mr_judged: u64,
    /// `(read, the earlier read whose value it went back from)`, by op id.
    pub mr_violations: Vec<(u64, u64)>,
}

/// A history's completed operations as sessions, one client's on one key: each session a run of
/// indices into the history, ascending (history order). Operations of unknown outcome belong to
/// no session. Shared by the session checks of every history shape (this module's registers,
/// Dynamo's carts), which judge each session alone.
///
/// Memory: 16 B an operation, one sorted list, and as much again during its sort (a radix sort's
/// buffer). A map of sessions, each with its lists, was ~165 B an operation (see [`sessions`]); a
/// list of 4-byte indices sorted by looking each operation up was 4 B an operation but a comparison
/// sort with a cache miss per look-up (on the memory test's 200,000-operation register run, the
/// peak RSS 94 MB with that list and 101 MB with this one, the same wall time).
pub struct Sessions {
    /// `(key, client, index)`, sorted: a session is a run of one (key, client).
    order: Vec<(u64, u32, u32)>,
}

/// One session of [`Sessions`].
#[derive(Clone, Copy)]
pub struct Session<'a> {
    pub client: u32,
    pub key: u64,
    run: &'a [(u64, u32, u32)],
}

impl Session<'_> {
    /// Its operations' indices into the history, ascending.
    pub fn indices(&self) -> impl Iterator<Item = usize> + '_ {
        self.run.iter().map(|e| e.2 as usize)
    }
    /// Its number of operations (at least one).
    pub fn len(&self) -> usize {
        self.run.len()
    }
    pub fn is_empty(&self) -> bool {
        self.run.is_empty()
    }
}

impl Sessions {
    pub fn of<I, O>(history: &[Operation<I, O>]) -> Sessions {
        let mut order: Vec<(u64, u32, u32)> = history
            .iter()
            .enumerate()
            .filter(|(_, op)| op.complete().is_some())
            .map(|(i, op)| (op.key, op.client, u32::try_from(i).expect("fewer than 2^32 operations")))
            .collect();
        // The sessions' order does not matter to a check that judges each alone, only that each
        // is one run with its indices ascending.
        group_by_key(&mut order, |e| e.0);
        Sessions { order }
    }

    /// The sessions, by key and then client.
    pub fn iter(&self) -> impl Iterator<Item = Session<'_>> {
        self.order.chunk_by(|a, b| (a.0, a.1) == (b.0, b.1)).map(|run| Session { client: run[0].1, key: run[0].0, run })
    }
}

/// Sorts `entries` as a sort of the whole entries would, when their order is by `key` first (the
/// key is the entry's leading field): a stable radix sort (`radsort`) by the key alone, then a
/// comparison sort of each run of more than one entry. Cheap where most keys have one entry or a
/// few, as a large key space gives: ~120 instructions an entry where a comparison sort of the
/// whole entries was ~340 (callgrind, 36,000 entries of the Dynamo cut's shape,
/// docs/performance.md).
pub fn group_by_key<T: Ord>(entries: &mut [T], key: impl Fn(&T) -> u64) {
    radsort::sort_by_key(entries, &key);
    for run in entries.chunk_by_mut(|a, b| key(a) == key(b)).filter(|run| run.len() > 1) {
        run.sort_unstable();
    }
}

/// When a value's write was invoked and completed (`None`: never completed). The initial value:
/// completed before everything, invoked never.
#[derive(Clone, Copy)]
struct Written {
    invoke: Option<Time>,
    done: Option<i128>,
}

/// Checks both session guarantees over a register history.
///
/// Memory: the writes by (key, value) in one sorted list, the completed operations as
/// [`Sessions`] (16 B an operation, 32 B during its sort), and three buffers as long as the
/// longest session. A map of sessions, each with its own two lists, cost ~165 B an operation on
/// the memory test's 200,000-operation register run (33 MB of its 103 MB heap peak, found with
/// massif).
pub fn sessions(history: &[Operation<RegOp, RegRet>]) -> SessionReport {
    let mut written: Vec<((u64, u64), Written)> = history
        .iter()
        .filter_map(|op| match op.input {
            RegOp::Write(v) | RegOp::Cas(_, v) => {
                Some(((op.key, v), Written { invoke: Some(op.invoke), done: op.complete().map(|t| t.0 as i128) }))
            }
            RegOp::Read => None,
        })
        .collect();
    // Stable, so a value written twice keeps its last write, as a map's insert did.
    written.sort_by_key(|w| w.0);
    written.dedup_by(|later, earlier| {
        let same = later.0 == earlier.0;
        if same {
            earlier.1 = later.1;
        }
        same
    });
    let of = |key: u64, v: u64| {
        if v == 0 {
            Some(Written { invoke: None, done: Some(-1) })
        } else {
            written.binary_search_by_key(&(key, v), |w| w.0).ok().map(|i| written[i].1)
        }
    };
    // Per session, its completed writes (invoke, complete, id) and reads (invoke, complete,
    // value, id); the buffers are reused from one session to the next.
    let mut writes: Vec<(Time, Time, u64)> = Vec::new();
    let mut reads: Vec<(Time, Time, u64, u64)> = Vec::new();
    let mut by_done = Vec::new();
    let mut r = SessionReport::default();
    for session in Sessions::of(history).iter() {
        let key = session.key;
        writes.clear();
        reads.clear();
        for i in session.indices() {
            let op = &history[i];
            let done = op.complete().expect("only completed operations are listed");
            match (op.input, op.output()) {
                (RegOp::Write(_), Some(RegRet::Done)) | (RegOp::Cas(..), Some(RegRet::Cas(true))) => {
                    writes.push((op.invoke, done, op.id))
                }
                (RegOp::Read, Some(RegRet::Value(v))) => reads.push((op.invoke, done, *v, op.id)),
                _ => {}
            }
        }
        writes.sort_by_key(|w| w.1);
        reads.sort_by_key(|x| x.0);
        by_done.clear();
        by_done.extend_from_slice(&reads);
        by_done.sort_by_key(|x| x.1);
        // Sweeps in invocation order: the latest-invoked own write, and the latest-invoked write
        // seen by a read, among those completed before this read's invocation.
        let (mut wi, mut ri) = (0, 0);
        let mut own: Option<(Time, u64)> = None;
        let mut seen: Option<(Time, u64)> = None;
        for &(invoke, _, v, id) in &reads {
            while wi < writes.len() && writes[wi].1 < invoke {
                if own.is_none_or(|o| writes[wi].0 > o.0) {
                    own = Some((writes[wi].0, writes[wi].2));
                }
                wi += 1;
            }
            while ri < by_done.len() && by_done[ri].1 < invoke {
                let (_, _, v1, id1) = by_done[ri];
                if let Some(Written { invoke: Some(at), .. }) = of(key, v1)
                    && seen.is_none_or(|s| at > s.0)
                {
                    seen = Some((at, id1));
                }
                ri += 1;
            }
            let Some(w) = of(key, v) else { continue }; // a value never written: not judged here
            let before = |at: Time| w.done.is_some_and(|d| d < at.0 as i128);
            if let Some((at, wid)) = own {
                r.ryw_judged += 1;
                if before(at) {
                    r.ryw_violations.push((id, wid));
                }
            }
            if ri > 0 {
                r.mr_judged += 1;
                if let Some((at, rid)) = seen
                    && before(at)
                {
                    r.mr_violations.push((id, rid));
                }
            }
        }
    }
    r.ryw_violations.sort_unstable();
    r.mr_violations.sort_unstable();
    r
}
