//! Vector clocks: one counter per node that coordinated a write.

use serde::{Deserialize, Serialize};
use std::cmp::Ordering;

/// How two clocks relate.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Causality {
    Equal,
    /// The left clock happened before the right one (the right descends from it).
    Before,
    After,
    /// Neither descends from the other: the versions are siblings.
    Concurrent,
}

/// `(node, counter)` pairs sorted by node, no zero counters.
#[derive(Clone, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct VClock(pub Vec<(u32, u64)>);

impl VClock {
    pub fn new() -> VClock {
        VClock(Vec::new())
    }

    pub fn get(&self, node: u32) -> u64 {
        self.0.binary_search_by_key(&node, |e| e.0).map(|i| self.0[i].1).unwrap_or(0)
    }

    /// Sets `node`'s counter (to at least its current value).
    pub fn advance(&mut self, node: u32, counter: u64) {
        match self.0.binary_search_by_key(&node, |e| e.0) {
            Ok(i) => self.0[i].1 = self.0[i].1.max(counter),
            Err(i) => {
                if counter > 0 {
                    self.0.insert(i, (node, counter))
                }
            }
        }
    }

    /// The least clock that descends from both.
    pub fn join(&self, other: &VClock) -> VClock {
        let mut out = self.clone();
        for &(n, c) in &other.0 {
            out.advance(n, c);
        }
        out
    }

    pub fn compare(&self, other: &VClock) -> Causality {
        let (mut less, mut greater) = (false, false);
        let (a, b) = (&self.0, &other.0);
        let (mut i, mut j) = (0, 0);
        while i < a.len() || j < b.len() {
            let ord = match (a.get(i), b.get(j)) {
                (Some(x), Some(y)) => x.0.cmp(&y.0),
                (Some(_), None) => Ordering::Less,
                (None, _) => Ordering::Greater,
            };
            match ord {
                Ordering::Equal => {
                    match a[i].1.cmp(&b[j].1) {
                        Ordering::Less => less = true,
                        Ordering::Greater => greater = true,
                        Ordering::Equal => {}
                    }
                    i += 1;
                    j += 1;
                }
                Ordering::Less => {
                    greater = true; // a has an entry b lacks
                    i += 1;
                }
                Ordering::Greater => {
                    less = true;
                    j += 1;
                }
            }
        }
        match (less, greater) {
            (false, false) => Causality::Equal,
            (true, false) => Causality::Before,
            (false, true) => Causality::After,
            (true, true) => Causality::Concurrent,
        }
    }

    /// True when `self` is `other` or happened before it.
    pub fn descends_to(&self, other: &VClock) -> bool {
        matches!(self.compare(other), Causality::Equal | Causality::Before)
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vc(e: &[(u32, u64)]) -> VClock {
        let mut c = VClock::new();
        for &(n, k) in e {
            c.advance(n, k);
        }
        c
    }

    #[test]
    fn the_notes_example() {
        // {A:1} is older than {A:2}; {A:2} and {B:1} are concurrent and must be reconciled.
        let (a1, a2, b1) = (vc(&[(0, 1)]), vc(&[(0, 2)]), vc(&[(1, 1)]));
        assert_eq!(a1.compare(&a2), Causality::Before);
        assert_eq!(a2.compare(&a1), Causality::After);
        assert_eq!(a2.compare(&b1), Causality::Concurrent);
        assert_eq!(b1.compare(&a2), Causality::Concurrent);
        let merged = a2.join(&b1);
        assert_eq!(merged, vc(&[(0, 2), (1, 1)]));
        assert!(a2.descends_to(&merged) && b1.descends_to(&merged));
        assert_eq!(merged.compare(&merged.clone()), Causality::Equal);
        assert_eq!(VClock::new().compare(&a1), Causality::Before);
    }

    #[test]
    fn advance_never_goes_back() {
        let mut c = vc(&[(3, 5)]);
        c.advance(3, 2);
        c.advance(1, 1);
        assert_eq!(c, vc(&[(1, 1), (3, 5)]));
        assert_eq!(c.get(3), 5);
        assert_eq!(c.get(2), 0);
    }
}
