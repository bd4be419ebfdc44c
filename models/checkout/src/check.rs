//! The checkout's invariants as pure functions over the history and the store's final rows, so
//! each can be shown failing on a made-up bad run.

use sim_core::{OpId, Time};
use std::collections::BTreeMap;

/// An acknowledged cart write: the row it wrote, and when it was acknowledged.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AckedWrite {
    pub op: OpId,
    pub key: u64,
    pub value: u64,
    pub version: u64,
    pub complete: Time,
}

/// A completed cart read: what it returned (version 0: nothing), and when it was invoked.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Read {
    pub op: OpId,
    pub key: u64,
    pub value: u64,
    pub version: u64,
    pub invoke: Time,
}

/// What a check found: how many things it judged, how many were bad, the first bad one, and the
/// operations to blame (for `simctl replay`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Finding {
    pub checked: u64,
    pub bad: u64,
    pub first: Option<String>,
    pub ops: Vec<OpId>,
}

impl Finding {
    fn flag(&mut self, op: Option<OpId>, what: impl FnOnce() -> String) {
        self.bad += 1;
        self.ops.extend(op);
        if self.first.is_none() {
            self.first = Some(what());
        }
    }
}

/// Every acknowledged write is in the final state, or superseded there by a later version (a
/// row's version rises by one per write, so a lower final version, or the same version holding
/// another value, means the write was lost). `last` is the final (value, version) of a key.
pub fn durable_writes(acked: &[AckedWrite], last: impl Fn(u64) -> Option<(u64, u64)>) -> Finding {
    let mut f = Finding::default();
    for w in acked {
        f.checked += 1;
        let (value, version) = last(w.key).unwrap_or((0, 0));
        if version < w.version || (version == w.version && value != w.value) {
            f.flag(Some(w.op), || {
                format!(
                    "key {}: write of {} (version {}) acknowledged at {}, final row holds {} (version {})",
                    w.key, w.value, w.version, w.complete, value, version
                )
            });
        }
    }
    f
}

/// No read returns a version older than a write acknowledged before the read was invoked (reads
/// from the primary must be fresh, and must not go back in time after a crash).
pub fn fresh_reads(acked: &[AckedWrite], reads: &[Read]) -> Finding {
    // Per key: acknowledgements in time order, with the highest version acknowledged so far.
    let mut by_key: BTreeMap<u64, Vec<(Time, u64)>> = BTreeMap::new();
    let mut sorted = acked.to_vec();
    sorted.sort_by_key(|w| (w.complete, w.version));
    for w in sorted {
        let list = by_key.entry(w.key).or_default();
        let best = list.last().map_or(0, |l| l.1).max(w.version);
        list.push((w.complete, best));
    }
    let mut f = Finding::default();
    for r in reads {
        f.checked += 1;
        let list = by_key.get(&r.key).map(Vec::as_slice).unwrap_or(&[]);
        let n = list.partition_point(|(t, _)| *t < r.invoke);
        let known = if n == 0 { 0 } else { list[n - 1].1 };
        if r.version < known {
            f.flag(Some(r.op), || {
                format!(
                    "read of key {} invoked at {} returned version {}, but version {} was acknowledged before it",
                    r.key, r.invoke, r.version, known
                )
            });
        }
    }
    f
}

/// Per item: the acknowledged sales are covered by units gone from the store, i.e. `sold <=
/// initial - final stock - units still on hold`. A unit sold twice, a lost decrement or a hold
/// given back after its sale was confirmed all break it; units leaked (a lost restock) do not.
pub fn sales_backed(initial: i64, sold: &BTreeMap<u64, i64>, stock: impl Fn(u64) -> (i64, i64)) -> Finding {
    let mut f = Finding::default();
    for (&item, &n) in sold {
        f.checked += 1;
        let (left, held) = stock(item);
        let gone = initial - left - held;
        if n > gone {
            f.flag(None, || {
                format!(
                    "item {item}: {n} sales acknowledged, but only {gone} units left the store ({initial} initially, \
                     {left} in stock, {held} on hold)"
                )
            });
        }
    }
    f
}

#[cfg(test)]
mod tests {
    use super::*;

    fn w(key: u64, value: u64, version: u64, complete: u64) -> AckedWrite {
        AckedWrite { op: OpId::new(key * 100 + version), key, value, version, complete: Time(complete) }
    }

    #[test]
    fn durable_writes_flags_a_lower_or_different_final_version() {
        let acked = [w(1, 10, 1, 5), w(1, 11, 2, 6), w(2, 20, 1, 5)];
        let ok = |k| match k {
            1 => Some((11, 2)),
            _ => Some((21, 2)), // superseded by a later (unacknowledged) write: fine
        };
        assert_eq!(durable_writes(&acked, ok).bad, 0);
        let lost = |k| match k {
            1 => Some((10, 1)), // version 2 lost
            _ => None,          // the whole row lost
        };
        let f = durable_writes(&acked, lost);
        assert_eq!((f.checked, f.bad), (3, 2));
        assert!(f.first.unwrap().contains("key 1: write of 11"));
        // Same version, another value: a lost write whose version was reused.
        assert_eq!(durable_writes(&[w(3, 30, 4, 1)], |_| Some((31, 4))).bad, 1);
    }

    #[test]
    fn fresh_reads_flags_a_read_older_than_an_earlier_acknowledgement() {
        let acked = [w(1, 10, 1, 100), w(1, 11, 2, 200)];
        let read = |version, invoke| Read { op: OpId::new(invoke), key: 1, value: 0, version, invoke: Time(invoke) };
        let reads = [read(0, 50), read(1, 150), read(1, 200), read(2, 250)];
        assert_eq!(fresh_reads(&acked, &reads).bad, 0, "a read invoked as the ack lands may miss it");
        let f = fresh_reads(&acked, &[read(1, 201), read(0, 500)]);
        assert_eq!(f.bad, 2);
        assert!(f.first.unwrap().contains("version 2 was acknowledged"));
        assert_eq!(f.ops, [OpId(201), OpId(500)], "both stale reads are blamed");
    }

    #[test]
    fn sales_backed_flags_more_sales_than_units_gone() {
        let sold = BTreeMap::from([(0u64, 3i64), (1, 5)]);
        // Item 0: 10 - 6 - 1 = 3 gone, 3 sold. Item 1: 10 - 2 - 0 = 8 gone (3 leaked), 5 sold.
        let fine = |i| if i == 0 { (6, 1) } else { (2, 0) };
        assert_eq!(sales_backed(10, &sold, fine).bad, 0);
        // Item 1's stock came back up (a lost decrement): 10 - 6 = 4 gone, 5 sold.
        let f = sales_backed(10, &sold, |i| if i == 0 { (6, 1) } else { (6, 0) });
        assert_eq!((f.checked, f.bad), (2, 1));
        assert!(f.first.unwrap().starts_with("item 1: 5 sales"));
    }
}
