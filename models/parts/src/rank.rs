//! Counts per id with an ordered index: the top `k` in `O(k)`, an update in `O(log n)` (the notes'
//! heap "shiftDown / bubbleUp" as counts go up and down, as a balanced tree: a decrement of a
//! member of the top `k` lets the next one in, which a bare size-`k` heap cannot do).
//!
//! Order: more first, then the smaller id (ties are broken the same way everywhere, so two exact
//! top lists of the same counts are equal). With a `cap`, only the `cap` largest are kept: a
//! bounded candidate list for approximate counts (a count-min sketch's heavy hitters), where an
//! id pushed out is forgotten until it is counted again.

use std::cmp::Reverse;
use std::collections::{BTreeMap, BTreeSet};

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Ranked {
    counts: BTreeMap<u64, u64>,
    order: BTreeSet<(Reverse<u64>, u64)>,
    cap: Option<usize>,
}

impl Ranked {
    /// Unbounded: every id with a positive count.
    pub fn new() -> Ranked {
        Ranked::default()
    }

    /// Keeps the `cap` (at least 1) largest only.
    pub fn capped(cap: usize) -> Ranked {
        Ranked { cap: Some(cap.max(1)), ..Ranked::default() }
    }

    /// Sets `id`'s count (0 removes it).
    pub fn set(&mut self, id: u64, count: u64) {
        if let Some(old) = self.counts.remove(&id) {
            self.order.remove(&(Reverse(old), id));
        }
        if count == 0 {
            return;
        }
        self.counts.insert(id, count);
        self.order.insert((Reverse(count), id));
        if let Some(cap) = self.cap
            && self.order.len() > cap
            && let Some((_, last)) = self.order.pop_last()
        {
            self.counts.remove(&last);
        }
    }

    /// Adds `delta` (negative: takes away, down to 0) to `id`'s count; returns the new count.
    pub fn add(&mut self, id: u64, delta: i64) -> u64 {
        let n = (self.get(id) as i64 + delta).max(0) as u64;
        self.set(id, n);
        n
    }

    pub fn get(&self, id: u64) -> u64 {
        self.counts.get(&id).copied().unwrap_or(0)
    }

    /// `(id, count)`, largest first.
    pub fn top(&self, k: usize) -> impl Iterator<Item = (u64, u64)> + '_ {
        self.order.iter().take(k).map(|&(Reverse(n), id)| (id, n))
    }

    /// Every `(id, count)` in id order.
    pub fn iter(&self) -> impl Iterator<Item = (u64, u64)> + '_ {
        self.counts.iter().map(|(&id, &n)| (id, n))
    }

    pub fn len(&self) -> usize {
        self.counts.len()
    }

    pub fn is_empty(&self) -> bool {
        self.counts.is_empty()
    }

    /// Bytes: 16 per id in the count map (id, count) and 16 in the index.
    pub fn bytes(&self) -> u64 {
        32 * self.counts.len() as u64
    }
}

/// The `k` largest of `counts` in [`Ranked`]'s order (more first, then the smaller id): the
/// reference a top list is checked against.
pub fn top_of(counts: &BTreeMap<u64, u64>, k: usize) -> Vec<(u64, u64)> {
    top_of_pairs(counts.iter().map(|(&id, &n)| (id, n)), k)
}

/// [`top_of`] over `(id, count)` pairs of distinct ids, in any order. The order is total (ids
/// are distinct), so the result does not depend on how the best are found: up to
/// [`STREAMED_TOP`] they are kept, sorted, as the pairs go by (a pair that does not beat the
/// `k`-th best so far costs one comparison, and nothing else is stored); above it, every pair is
/// collected, the `k` best are selected in linear time and only they are sorted.
pub fn top_of_pairs(pairs: impl IntoIterator<Item = (u64, u64)>, k: usize) -> Vec<(u64, u64)> {
    let order = |x: &(u64, u64), y: &(u64, u64)| y.1.cmp(&x.1).then(x.0.cmp(&y.0));
    let pairs = pairs.into_iter().filter(|&(_, n)| n > 0);
    if k > STREAMED_TOP {
        let mut all: Vec<(u64, u64)> = pairs.collect();
        keep_first(&mut all, k, order);
        return all;
    }
    let mut top: Vec<(u64, u64)> = Vec::with_capacity(k + 1);
    for p in pairs {
        if top.len() == k && top.last().is_none_or(|worst| order(&p, worst).is_gt()) {
            continue;
        }
        let at = top.partition_point(|x| order(x, &p).is_lt());
        top.insert(at, p);
        top.truncate(k);
    }
    top
}

/// The largest `k` that [`top_of_pairs`] keeps as the pairs stream by. Each pair that enters
/// the top shifts up to `k` others, so a large `k` over pairs in ascending order would cost
/// `k` moves a pair.
pub const STREAMED_TOP: usize = 32;

/// Keeps the first `k` of `items` in `order`, sorted: a selection in linear time, then a sort of
/// the `k` alone. `order` must be total (no two items equal), or which of the tied items stay
/// depends on the selection.
pub fn keep_first<T>(items: &mut Vec<T>, k: usize, mut order: impl FnMut(&T, &T) -> std::cmp::Ordering) {
    if items.len() > k {
        items.select_nth_unstable_by(k, &mut order);
        items.truncate(k);
    }
    items.sort_unstable_by(order);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_top_k_selected_is_the_head_of_everything_sorted() {
        let mut rng = sim_core::Prng::new(3, sim_core::Stream::Setup);
        // Counts 0 to 9 over 500 ids: many ties, and zeros that are left out.
        let mut pairs: Vec<(u64, u64)> = (0..500).map(|id| (id, rng.below(10))).collect();
        let mut sorted: Vec<(u64, u64)> = pairs.iter().copied().filter(|&(_, n)| n > 0).collect();
        sorted.sort_by(|x, y| y.1.cmp(&x.1).then(x.0.cmp(&y.0)));
        // Shuffled: the selection must not lean on the input's order.
        for i in (1..pairs.len()).rev() {
            pairs.swap(i, rng.below(i as u64 + 1) as usize);
        }
        // Shuffled, and in either order: the worst case of the streamed top (every pair enters
        // it) and its best. Both ways of finding the top: `k` up to STREAMED_TOP and above.
        let mut ascending = sorted.clone();
        ascending.reverse();
        for k in [0, 1, 5, STREAMED_TOP, STREAMED_TOP + 1, 37, 449, 450, 451, 10_000] {
            let want = &sorted[..k.min(sorted.len())];
            for input in [&pairs, &ascending, &sorted] {
                assert_eq!(top_of_pairs(input.iter().copied(), k), want, "k = {k}");
            }
        }
        assert_eq!(top_of(&pairs.iter().copied().collect(), 37), sorted[..37]);
    }

    #[test]
    fn the_top_follows_increments_and_decrements() {
        let mut r = Ranked::new();
        for (id, n) in [(1, 5), (2, 3), (3, 3), (4, 1)] {
            r.add(id, n);
        }
        assert_eq!(r.top(3).collect::<Vec<_>>(), vec![(1, 5), (2, 3), (3, 3)], "ties: smaller id first");
        // The leader falls: the next one moves up, and one from outside the top 3 comes in.
        r.add(1, -4);
        r.add(4, 1);
        assert_eq!(r.top(3).collect::<Vec<_>>(), vec![(2, 3), (3, 3), (4, 2)]);
        r.add(2, -10);
        assert_eq!(r.get(2), 0);
        assert_eq!(r.len(), 3, "a count of 0 is removed");
        assert_eq!(r.bytes(), 96);
        let counts: BTreeMap<u64, u64> = r.iter().collect();
        assert_eq!(top_of(&counts, 2), r.top(2).collect::<Vec<_>>());
    }

    #[test]
    fn a_capped_ranking_keeps_only_the_largest() {
        let mut r = Ranked::capped(2);
        r.set(1, 10);
        r.set(2, 5);
        r.set(3, 7);
        assert_eq!(r.top(5).collect::<Vec<_>>(), vec![(1, 10), (3, 7)]);
        assert_eq!(r.get(2), 0, "pushed out and forgotten");
        r.set(4, 1);
        assert_eq!(r.len(), 2, "a smaller newcomer is dropped at once");
    }
}
