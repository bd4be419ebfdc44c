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
use std::collections::BTreeMap;

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

/// When a value's write was invoked and completed (`None`: never completed). The initial value:
/// completed before everything, invoked never.
#[derive(Clone, Copy)]
struct Written {
    invoke: Option<Time>,
    done: Option<i128>,
}

/// Checks both session guarantees over a register history.
pub fn sessions(history: &[Operation<RegOp, RegRet>]) -> SessionReport {
    let mut written: BTreeMap<(u64, u64), Written> = BTreeMap::new();
    for op in history {
        if let RegOp::Write(v) | RegOp::Cas(_, v) = op.input {
            written.insert((op.key, v), Written { invoke: Some(op.invoke), done: op.complete().map(|t| t.0 as i128) });
        }
    }
    let of = |key: u64, v: u64| {
        if v == 0 { Some(Written { invoke: None, done: Some(-1) }) } else { written.get(&(key, v)).copied() }
    };
    // Per session (client, key): its completed writes (invoke, complete, id) and reads (invoke,
    // complete, value, id).
    type Session = (Vec<(Time, Time, u64)>, Vec<(Time, Time, u64, u64)>);
    let mut sessions: BTreeMap<(u32, u64), Session> = BTreeMap::new();
    for op in history {
        let Some(done) = op.complete() else { continue };
        let s = sessions.entry((op.client, op.key)).or_default();
        match (op.input, op.output()) {
            (RegOp::Write(_), Some(RegRet::Done)) | (RegOp::Cas(..), Some(RegRet::Cas(true))) => {
                s.0.push((op.invoke, done, op.id))
            }
            (RegOp::Read, Some(RegRet::Value(v))) => s.1.push((op.invoke, done, *v, op.id)),
            _ => {}
        }
    }
    let mut r = SessionReport::default();
    for ((_, key), (mut writes, mut reads)) in sessions {
        writes.sort_by_key(|w| w.1);
        reads.sort_by_key(|x| x.0);
        let mut by_done = reads.clone();
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
