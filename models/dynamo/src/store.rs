//! Versions and their reconciliation: what one replica holds for one key.

use crate::pset::{Elem, PSet};
use common::vclock::{Causality, VClock};
use common::{hash_combine, mix64};
use serde::{Deserialize, Serialize};
use smallvec::SmallVec;
use std::rc::Rc;

/// The id of one write: the coordinator that accepted it and that coordinator's write counter
/// (unique per node across all keys, and across restarts).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Dot {
    pub node: u32,
    pub seq: u64,
}

impl Elem for Dot {
    fn word(&self) -> u64 {
        ((self.node as u64) << 40) ^ self.seq
    }
}

/// The last-write-wins timestamp: the coordinator's *local* clock when it accepted the write, then
/// its id to break ties.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Default, Serialize, Deserialize)]
pub struct Stamp {
    pub local_ns: u64,
    pub node: u32,
}

/// One version of a key, shared: the store, every message and disk record that holds it, and a
/// coordinator's merge hold one allocation (a hot key's version carries its whole cart and every
/// write it supersedes, thousands of entries, and used to be copied into each).
pub type Sibling = Rc<Version>;

/// One key's versions, sorted: what a replica stores, a read returns and a write or a repair
/// carries. Most keys hold one version, which is kept inline: a `Vec` cost an allocation and a
/// free per key filed, per write applied (its disk record) and per read that found a key.
pub type Versions = SmallVec<[Sibling; 1]>;

/// A copy of `set` (handles on its versions). `SmallVec::clone` collects through an iterator
/// (about 80 instructions even for an empty set, measured on a get's reply); an empty set or a
/// single version, nearly every set, is made directly.
pub fn copy(set: &[Sibling]) -> Versions {
    match set {
        [] => Versions::new(),
        [one] => Versions::from_buf([one.clone()]),
        many => many.iter().cloned().collect(),
    }
}

/// A version's contents ([`Version::new`]); immutable once made.
#[derive(Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Version {
    pub dot: Dot,
    /// The version's vector clock (`Versioning::VectorClocks` only; empty otherwise).
    pub clock: VClock,
    /// Every write this version supersedes: the context the client read, transitively. Shared
    /// with the versions it grew from ([`PSet`]).
    pub past: PSet<Dot>,
    /// The value: a set of item ids (a shopping cart), shared likewise. Under last-write-wins one
    /// item.
    pub items: PSet<u64>,
    pub stamp: Stamp,
    /// When it expires on a replica's local clock (ns); 0: never.
    pub expires_ns: u64,
    /// The hash of all the above ([`Version::new`] computes it once).
    hash: u64,
}

impl Version {
    pub fn new(dot: Dot, clock: VClock, past: PSet<Dot>, items: PSet<u64>, stamp: Stamp, expires_ns: u64) -> Sibling {
        let mut v = Version { dot, clock, past, items, stamp, expires_ns, hash: 0 };
        v.hash = v.content_hash();
        Rc::new(v)
    }
    pub fn is_live(&self, local_now_ns: u64) -> bool {
        self.expires_ns == 0 || self.expires_ns > local_now_ns
    }
    pub fn supersedes(&self, dot: Dot) -> bool {
        self.past.contains(&dot)
    }
    pub fn size_bytes(&self) -> u64 {
        40 + 12 * (self.past.len() + self.clock.len()) as u64 + 8 * self.items.len() as u64
    }
    fn content_hash(&self) -> u64 {
        // The sets' hashes are kept by the sets (O(1) here: a hot key's sets are large).
        let mut h = hash_combine(mix64(self.dot.word()), self.past.hash());
        for &(n, c) in &self.clock.0 {
            h = hash_combine(h, !(((n as u64) << 40) ^ c));
        }
        h = hash_combine(h, !self.items.hash());
        hash_combine(hash_combine(h, self.stamp.local_ns), self.expires_ns)
    }
}

/// How a replica reconciles versions.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum Reconcile {
    /// Concurrent versions are all kept (siblings); the client merges them (set union) on its next
    /// write, whose context supersedes everything it read.
    #[default]
    ClientMerge,
    /// One version survives: the highest stamp (the coordinator's local clock). Clock skew decides
    /// which acknowledged writes survive.
    LastWriteWins,
}

/// How versions are ordered.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum Versioning {
    /// Each write has a unique id and carries the exact set of writes it supersedes (dotted
    /// version vectors in their simplest form). Concurrent writes always become siblings.
    #[default]
    Dotted,
    /// The Dynamo paper's vector clocks: the coordinator increments its own entry of the context
    /// clock. Two concurrent writes through one coordinator get ordered clocks, so one silently
    /// supersedes the other: kept to show that failure.
    VectorClocks,
}

/// The rules a replica reconciles by.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Policy {
    pub reconcile: Reconcile,
    pub versioning: Versioning,
}

impl From<Reconcile> for Policy {
    fn from(reconcile: Reconcile) -> Policy {
        Policy { reconcile, versioning: Versioning::Dotted }
    }
}

/// Adds `new` to the versions of one key; true when the set changed. Sets stay sorted, so equal
/// contents are equal vectors (and hash equally) on every replica.
pub fn add(set: &mut Versions, new: Sibling, policy: impl Into<Policy>) -> bool {
    let policy = policy.into();
    match (policy.reconcile, policy.versioning) {
        (Reconcile::LastWriteWins, _) => {
            let wins =
                set.first().is_none_or(|old| (new.stamp, &new.items, new.dot) > (old.stamp, &old.items, old.dot));
            if wins {
                set.clear();
                set.push(new);
            }
            wins
        }
        (Reconcile::ClientMerge, Versioning::VectorClocks) => {
            if set.iter().any(|s| matches!(new.clock.compare(&s.clock), Causality::Before | Causality::Equal)) {
                return false;
            }
            set.retain(|s| s.clock.compare(&new.clock) != Causality::Before);
            let at = set.partition_point(|s| s < &new);
            set.insert(at, new);
            true
        }
        (Reconcile::ClientMerge, Versioning::Dotted) => {
            if set.iter().any(|s| s.dot == new.dot || s.supersedes(new.dot)) {
                return false;
            }
            set.retain(|s| !new.supersedes(s.dot));
            let at = set.partition_point(|s| s < &new);
            set.insert(at, new);
            true
        }
    }
}

/// Merges every version of `from` into `set`; true when `set` changed.
pub fn merge(set: &mut Versions, from: &[Sibling], policy: impl Into<Policy>) -> bool {
    let policy = policy.into();
    let mut changed = false;
    for s in from {
        changed |= add(set, s.clone(), policy);
    }
    changed
}

/// The context a client gets with a read: every write the versions it saw supersede, and the
/// versions themselves.
pub fn context(set: &[Sibling], versioning: Versioning) -> PSet<Dot> {
    if versioning == Versioning::VectorClocks {
        // The join of the clocks, one `(node, counter)` entry per node.
        let clock = set.iter().fold(VClock::new(), |c, s| c.join(&s.clock));
        return clock.0.iter().map(|&(node, seq)| Dot { node, seq }).collect();
    }
    set.iter().fold(PSet::new(), |c, s| c.union(&s.past).insert(s.dot))
}

/// The items of every version (the client's merge: set union).
pub fn union(set: &[Sibling]) -> PSet<u64> {
    set.iter().fold(PSet::new(), |u, s| u.union(&s.items))
}

/// A hash of one key's versions, for Merkle leaves and equality checks.
pub fn set_hash(key: u64, set: &[Sibling]) -> u64 {
    set.iter().fold(mix64(key), |h, s| hash_combine(h, s.hash))
}

pub fn set_size_bytes(set: &[Sibling]) -> u64 {
    8 + set.iter().map(|s| s.size_bytes()).sum::<u64>()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sib(node: u32, seq: u64, past: &[(u32, u64)], items: &[u64], t: u64) -> Sibling {
        with_clock(node, seq, past, items, t, VClock::new())
    }

    fn with_clock(node: u32, seq: u64, past: &[(u32, u64)], items: &[u64], t: u64, clock: VClock) -> Sibling {
        Version::new(
            Dot { node, seq },
            clock,
            past.iter().map(|&(node, seq)| Dot { node, seq }).collect(),
            items.iter().copied().collect(),
            Stamp { local_ns: t, node },
            0,
        )
    }

    #[test]
    fn concurrent_writes_become_siblings_and_a_merge_supersedes_them() {
        let p = Reconcile::ClientMerge;
        let mut set = Versions::new();
        // Two clients read nothing and write through the same coordinator: siblings, not an order.
        assert!(add(&mut set, sib(0, 1, &[], &[10], 5), p));
        assert!(add(&mut set, sib(0, 2, &[], &[20], 6), p));
        assert_eq!(set.len(), 2);
        assert_eq!(union(&set).to_vec(), [10, 20]);
        // A client that read both merges them; its write supersedes both.
        let ctx = context(&set, Versioning::Dotted);
        assert!(add(&mut set, sib(1, 1, &[(0, 1), (0, 2)], &[10, 20, 30], 7), p));
        assert_eq!(set.len(), 1);
        assert_eq!(set[0].items.to_vec(), [10, 20, 30]);
        assert_eq!(ctx.to_vec(), [Dot { node: 0, seq: 1 }, Dot { node: 0, seq: 2 }]);
        // A late copy of an old version changes nothing; nor does a duplicate.
        assert!(!add(&mut set, sib(0, 1, &[], &[10], 5), p));
        assert_eq!(copy(&set), set);
        let again = set[0].clone();
        assert!(!add(&mut set, again, p));
    }

    #[test]
    fn a_write_that_saw_one_sibling_does_not_drop_the_other() {
        let p = Reconcile::ClientMerge;
        let mut set = Versions::new();
        add(&mut set, sib(0, 1, &[], &[1], 1), p);
        add(&mut set, sib(0, 2, &[], &[2], 2), p);
        add(&mut set, sib(0, 3, &[(0, 2)], &[2, 3], 3), p);
        assert_eq!(union(&set).to_vec(), [1, 2, 3]);
        assert_eq!(set.len(), 2);
    }

    #[test]
    fn last_write_wins_keeps_the_highest_local_stamp() {
        let p = Reconcile::LastWriteWins;
        let mut set = Versions::new();
        add(&mut set, sib(0, 1, &[], &[1], 100), p);
        assert!(!add(&mut set, sib(1, 1, &[], &[2], 50), p), "a write stamped by a slow clock loses");
        assert_eq!(union(&set).to_vec(), [1]);
        assert!(add(&mut set, sib(2, 1, &[], &[3], 200), p));
        assert_eq!(union(&set).to_vec(), [3]);
    }

    #[test]
    fn replicas_that_saw_the_same_writes_in_any_order_hash_equally() {
        let p = Reconcile::ClientMerge;
        let w = [sib(0, 1, &[], &[1], 1), sib(1, 1, &[], &[2], 2), sib(2, 1, &[(0, 1)], &[1, 3], 3)];
        let (mut a, mut b) = (Versions::new(), Versions::new());
        for s in &w {
            add(&mut a, s.clone(), p);
        }
        for s in w.iter().rev() {
            add(&mut b, s.clone(), p);
        }
        assert_eq!(a, b);
        assert_eq!(set_hash(7, &a), set_hash(7, &b));
        assert_ne!(set_hash(7, &a), set_hash(8, &a));
    }

    #[test]
    fn paper_vector_clocks_order_concurrent_writes_through_one_coordinator() {
        let p = Policy { reconcile: Reconcile::ClientMerge, versioning: Versioning::VectorClocks };
        let vc = |c: u64| {
            let mut v = VClock::new();
            v.advance(0, c);
            v
        };
        let a = with_clock(0, 1, &[], &[1], 1, vc(1));
        // A second client read nothing either, but the coordinator counts on: {A:2} "descends" {A:1}.
        let b = with_clock(0, 2, &[], &[2], 2, vc(2));
        let mut set = Versions::new();
        add(&mut set, a.clone(), p);
        add(&mut set, b.clone(), p);
        assert_eq!(union(&set).to_vec(), [2], "item 1 was silently dropped");
        // The dotted rules keep both.
        let mut set = Versions::new();
        add(&mut set, a, Reconcile::ClientMerge);
        add(&mut set, b, Reconcile::ClientMerge);
        assert_eq!(union(&set).to_vec(), [1, 2]);
    }
}
