//! A persistent sorted set that shares structure: what a Dynamo version's cart and its superseded
//! writes are, so that a hot key's versions stop costing their whole history each; and what a
//! reply shares with the history instead of copying ([`crate::Reply::Shared`]: a get's reply is
//! the cart it read, an `Rc` clone of its root). In the kernel since round twenty-one of issue 21
//! (it was Dynamo's): a reply of a concrete set is 8 bytes and no allocation, where a handle on
//! any model's set (`Rc<dyn ValueSet>`) was 16 bytes and an allocation per get.
//!
//! **Why.** Under client merge every put writes the union of the carts it read plus its item, and
//! supersedes every write the versions it read superseded plus those versions: both sets grow by
//! one per put of the key. As `Vec`s each version carried a copy of both, and the replicas' disk
//! logs keep every version, so a key with `K` puts held `O(K^2)` (a 2-key run peaked at 1.5 GB).
//! Here a version built from the one it read shares all of that version's nodes but the
//! `O(log K)` it adds, and the log's records cost `O(log K)` each.
//!
//! **How.** A treap whose priorities are a fixed hash of the element (`mix64`): a set has exactly
//! one shape whatever the order it was built in, so two sets that grew from a common one share
//! their common subtrees, and a union descends only where they differ (equal subtrees are the
//! same allocation and are taken whole: `Rc::ptr_eq`). Insert, lookup and split are `O(log n)`
//! expected; a union of sets that differ in `d` elements `O(d log n)`. Every node caches its
//! subtree's size and a hash of its contents (also shape-independent, as the shape is canonical),
//! so `len` and `hash` are `O(1)`. Iteration is in ascending order; equality and ordering are
//! those of the sorted sequence (as for the `Vec`s it replaces).

use crate::rng::{hash_combine, mix64};
use std::cmp::Ordering;
use std::rc::Rc;

/// An element: ordered, and with a fixed 64-bit word its priority and hash come from.
pub trait Elem: Copy + Ord + std::fmt::Debug {
    fn word(&self) -> u64;
}

impl Elem for u64 {
    fn word(&self) -> u64 {
        *self
    }
}

struct Node<T> {
    elem: T,
    prio: u64,
    len: usize,
    hash: u64,
    left: PSet<T>,
    right: PSet<T>,
}

/// A persistent sorted set (see the module essay). Cloning is `O(1)`.
pub struct PSet<T>(Option<Rc<Node<T>>>);

impl<T> Clone for PSet<T> {
    fn clone(&self) -> Self {
        PSet(self.0.clone())
    }
}

impl<T> Default for PSet<T> {
    fn default() -> Self {
        PSet(None)
    }
}

fn prio_of(word: u64) -> u64 {
    mix64(word ^ 0x7072_696f)
}

impl<T: Elem> PSet<T> {
    pub fn new() -> Self {
        PSet(None)
    }

    pub fn len(&self) -> usize {
        self.0.as_ref().map_or(0, |n| n.len)
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_none()
    }

    /// A hash of the contents (equal sets hash equally, however they were built).
    pub fn hash(&self) -> u64 {
        self.0.as_ref().map_or(0, |n| n.hash)
    }

    fn node(elem: T, prio: u64, left: PSet<T>, right: PSet<T>) -> PSet<T> {
        let len = 1 + left.len() + right.len();
        let hash = hash_combine(hash_combine(left.hash() ^ 0x5e7, mix64(elem.word())), right.hash());
        PSet(Some(Rc::new(Node { elem, prio, len, hash, left, right })))
    }

    fn same(a: &PSet<T>, b: &PSet<T>) -> bool {
        match (&a.0, &b.0) {
            (None, None) => true,
            (Some(x), Some(y)) => Rc::ptr_eq(x, y),
            _ => false,
        }
    }

    /// The XOR of `word(x)` over the elements `x`, with every subtree's fold kept in `memo` by
    /// its address: sets that share subtrees (a hot key's successive carts, all alive while
    /// `memo` is) cost what differs, not their size each. `memo` must not outlive the sets it
    /// was filled from (a freed node's address may be reused), nor be used with another `word`.
    pub fn xor_fold(&self, word: &impl Fn(T) -> u128, memo: &mut std::collections::BTreeMap<usize, u128>) -> u128 {
        let Some(n) = &self.0 else { return 0 };
        let at = Rc::as_ptr(n) as usize;
        if let Some(&h) = memo.get(&at) {
            return h;
        }
        let h = n.left.xor_fold(word, memo) ^ word(n.elem) ^ n.right.xor_fold(word, memo);
        memo.insert(at, h);
        h
    }

    /// Whether both are the same allocation (a set handed on, not rebuilt).
    pub fn shares_root(&self, other: &PSet<T>) -> bool {
        Self::same(self, other)
    }

    /// A node's place in the heap order: higher goes nearer the root (ties broken by element).
    fn rank(n: &Node<T>) -> (u64, T) {
        (n.prio, n.elem)
    }

    /// The elements below `x`, whether `x` is in, and the elements above it.
    fn split(&self, x: &T) -> (PSet<T>, bool, PSet<T>) {
        let Some(n) = &self.0 else { return (PSet(None), false, PSet(None)) };
        match n.elem.cmp(x) {
            Ordering::Equal => (n.left.clone(), true, n.right.clone()),
            Ordering::Less => {
                let (l, found, r) = n.right.split(x);
                let left =
                    if Self::same(&l, &n.right) { self.clone() } else { Self::node(n.elem, n.prio, n.left.clone(), l) };
                (left, found, r)
            }
            Ordering::Greater => {
                let (l, found, r) = n.left.split(x);
                let right =
                    if Self::same(&r, &n.left) { self.clone() } else { Self::node(n.elem, n.prio, r, n.right.clone()) };
                (l, found, right)
            }
        }
    }

    /// This set with `x` added (itself when `x` is in already).
    pub fn insert(&self, x: T) -> PSet<T> {
        self.insert_ranked(x, prio_of(x.word()))
    }

    fn insert_ranked(&self, x: T, prio: u64) -> PSet<T> {
        match &self.0 {
            None => Self::node(x, prio, PSet(None), PSet(None)),
            Some(n) if (prio, x) > Self::rank(n) => {
                let (l, found, r) = self.split(&x);
                if found {
                    return self.clone();
                }
                Self::node(x, prio, l, r)
            }
            Some(n) => match x.cmp(&n.elem) {
                Ordering::Equal => self.clone(),
                Ordering::Less => {
                    let l = n.left.insert_ranked(x, prio);
                    if Self::same(&l, &n.left) { self.clone() } else { Self::node(n.elem, n.prio, l, n.right.clone()) }
                }
                Ordering::Greater => {
                    let r = n.right.insert_ranked(x, prio);
                    if Self::same(&r, &n.right) { self.clone() } else { Self::node(n.elem, n.prio, n.left.clone(), r) }
                }
            },
        }
    }

    pub fn contains(&self, x: &T) -> bool {
        let mut at = self;
        while let Some(n) = &at.0 {
            at = match x.cmp(&n.elem) {
                Ordering::Equal => return true,
                Ordering::Less => &n.left,
                Ordering::Greater => &n.right,
            };
        }
        false
    }

    /// Every element of either set. Shared subtrees are taken whole.
    pub fn union(&self, other: &PSet<T>) -> PSet<T> {
        let (a, b) = match (&self.0, &other.0) {
            (None, _) => return other.clone(),
            (_, None) => return self.clone(),
            (Some(a), Some(b)) if Rc::ptr_eq(a, b) => return self.clone(),
            (Some(a), Some(b)) => (a, b),
        };
        // The root of the union is the higher-ranked root; the other set is split around it.
        let (top, top_set, rest) = if Self::rank(a) >= Self::rank(b) { (a, self, other) } else { (b, other, self) };
        let (l, _, r) = rest.split(&top.elem);
        let left = top.left.union(&l);
        let right = top.right.union(&r);
        if Self::same(&left, &top.left) && Self::same(&right, &top.right) {
            return top_set.clone();
        }
        Self::node(top.elem, top.prio, left, right)
    }

    /// The smallest element.
    pub fn first(&self) -> Option<T> {
        let mut at = self.0.as_ref()?;
        while let Some(l) = &at.left.0 {
            at = l;
        }
        Some(at.elem)
    }

    /// The elements in ascending order.
    pub fn iter(&self) -> Iter<'_, T> {
        let mut it = Iter { stack: Vec::new() };
        it.descend(self);
        it
    }

    pub fn to_vec(&self) -> Vec<T> {
        let mut v = Vec::with_capacity(self.len());
        v.extend(self.iter());
        v
    }
}

/// In-order iteration (a stack of the path's pending nodes).
pub struct Iter<'a, T> {
    stack: Vec<&'a Node<T>>,
}

impl<'a, T> Iter<'a, T> {
    fn descend(&mut self, mut at: &'a PSet<T>) {
        while let Some(n) = &at.0 {
            self.stack.push(n);
            at = &n.left;
        }
    }
}

impl<T: Copy> Iterator for Iter<'_, T> {
    type Item = T;
    fn next(&mut self) -> Option<T> {
        let n = self.stack.pop()?;
        let mut at = &n.right;
        while let Some(m) = &at.0 {
            self.stack.push(m);
            at = &m.left;
        }
        Some(n.elem)
    }
}

impl<T: Elem> FromIterator<T> for PSet<T> {
    fn from_iter<I: IntoIterator<Item = T>>(iter: I) -> Self {
        iter.into_iter().fold(PSet::new(), |s, x| s.insert(x))
    }
}

impl<T: Elem> PartialEq for PSet<T> {
    fn eq(&self, other: &Self) -> bool {
        Self::same(self, other)
            || (self.len() == other.len() && self.hash() == other.hash() && self.iter().eq(other.iter()))
    }
}

impl<T: Elem> Eq for PSet<T> {}

impl<T: Elem> PartialOrd for PSet<T> {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

/// As the sorted sequences compare (lexicographically), like the `Vec`s this replaces.
impl<T: Elem> Ord for PSet<T> {
    fn cmp(&self, other: &Self) -> Ordering {
        if Self::same(self, other) {
            return Ordering::Equal;
        }
        self.iter().cmp(other.iter())
    }
}

impl<T: Elem> std::hash::Hash for PSet<T> {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        state.write_u64(PSet::hash(self));
    }
}

impl<T: Elem> std::fmt::Debug for PSet<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_set().entries(self.iter()).finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;

    fn words(seed: u64, n: usize, range: u64) -> Vec<u64> {
        (0..n as u64).map(|i| mix64(seed ^ i) % range).collect()
    }

    #[test]
    fn it_is_the_sorted_set_of_what_was_inserted() {
        for seed in 0..20 {
            let xs = words(seed, 300, 500);
            let set: PSet<u64> = xs.iter().copied().collect();
            let want: BTreeSet<u64> = xs.iter().copied().collect();
            assert_eq!(set.to_vec(), want.iter().copied().collect::<Vec<_>>());
            assert_eq!(set.len(), want.len());
            assert_eq!(set.first(), want.first().copied());
            for x in 0..500 {
                assert_eq!(set.contains(&x), want.contains(&x), "{x}");
            }
        }
    }

    #[test]
    fn the_shape_and_hash_do_not_depend_on_the_order_of_insertion() {
        let xs = words(7, 200, 1000);
        let a: PSet<u64> = xs.iter().copied().collect();
        let b: PSet<u64> = xs.iter().rev().copied().collect();
        assert_eq!(a, b);
        assert_eq!(a.hash(), b.hash());
        let c = a.insert(5000);
        assert_ne!(a.hash(), c.hash());
        assert_ne!(a, c);
        assert_eq!(a.cmp(&c), a.to_vec().cmp(&c.to_vec()));
    }

    #[test]
    fn union_is_the_set_union_and_shares_what_is_common() {
        for seed in 0..20 {
            let base: PSet<u64> = words(seed, 400, 10_000).into_iter().collect();
            let a = words(seed + 100, 5, 10_000).into_iter().fold(base.clone(), |s, x| s.insert(x));
            let b = words(seed + 200, 5, 10_000).into_iter().fold(base.clone(), |s, x| s.insert(x));
            let u = a.union(&b);
            let want: BTreeSet<u64> = a.iter().chain(b.iter()).collect();
            assert_eq!(u.to_vec(), want.iter().copied().collect::<Vec<_>>());
            assert_eq!(u, b.union(&a));
            assert!(PSet::same(&a.union(&a), &a));
            assert!(PSet::same(&base.union(&a), &a), "a set united with one it contains is itself");
        }
    }

    #[test]
    fn order_and_equality_are_those_of_the_sorted_sequences() {
        let sets: Vec<Vec<u64>> = vec![vec![], vec![1], vec![1, 2], vec![1, 3], vec![2], vec![2, 3, 4]];
        for x in &sets {
            for y in &sets {
                let (a, b): (PSet<u64>, PSet<u64>) = (x.iter().copied().collect(), y.iter().copied().collect());
                assert_eq!(a.cmp(&b), x.cmp(y), "{x:?} {y:?}");
                assert_eq!(a == b, x == y);
            }
        }
    }

    /// A key's versions as client merge makes them: each put inserts one item into the set it
    /// read. The sets share all but a logarithmic number of nodes with their predecessor.
    #[test]
    fn a_chain_of_puts_adds_a_logarithmic_number_of_nodes_each() {
        let mut versions: Vec<PSet<u64>> = vec![PSet::new()];
        for i in 0..4096u64 {
            let next = versions.last().expect("one").insert(i);
            versions.push(next);
        }
        // Count distinct nodes over every version.
        let mut seen: BTreeSet<*const Node<u64>> = BTreeSet::new();
        fn walk(s: &PSet<u64>, seen: &mut BTreeSet<*const Node<u64>>) {
            if let Some(n) = &s.0
                && seen.insert(Rc::as_ptr(n))
            {
                walk(&n.left, seen);
                walk(&n.right, seen);
            }
        }
        for v in &versions {
            walk(v, &mut seen);
        }
        // As Vecs: 4096 * 4097 / 2 = 8.4 M elements. Shared: about (depth + 1) nodes per put.
        assert!(seen.len() < 4096 * 40, "{} nodes", seen.len());
        assert_eq!(versions.last().expect("one").len(), 4096);
    }
}
