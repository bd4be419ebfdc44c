//! The leaderboard's data structures, each counting the work it does (`steps`: nodes visited,
//! comparisons made, rows read), so a node's service time is that work times a cost per step.
//!
//! - [`Treap`]: an order-statistic tree (a treap in an arena, each node knowing its subtree's
//!   size) over keys `(-score, player)`, so in-order is rank order. Insert, remove and rank are
//!   `O(log n)` expected (split and merge along one root-to-leaf path); the top `k` is
//!   `O(log n + k)`. Redis' sorted set is a skip list with a span per level for the same
//!   bounds; see [`Treap::bytes`] for what each costs in memory.
//! - [`Sharded`]: the sorted set split by score range over `shards` treaps (the notes' Redis
//!   sharding, "[top 1-100] - [top 101-200] - ..."), the highest range first, with the boundaries
//!   moved when scores drift and one shard outgrows the others ([`Sharded::rebalance`]).
//! - [`ScanTable`]: the known-bad "database": a table of rows indexed by player, no index on the
//!   score, so `ORDER BY score DESC LIMIT 10` and a player's rank read every row.

use sim_core::rng::mix64;

const NIL: u32 = u32::MAX;

/// The key of a player in rank order: higher score first, then lower player id.
pub type Key = (i64, u64);

pub fn key(player: u64, score: i64) -> Key {
    (-score, player)
}

#[derive(Clone, Copy, Debug)]
struct TNode {
    key: Key,
    prio: u64,
    left: u32,
    right: u32,
    size: u32,
}

/// An order-statistic treap: keys with subtree sizes, in a `Vec` arena with a free list.
#[derive(Clone, Debug, Default)]
pub struct Treap {
    nodes: Vec<TNode>,
    free: Vec<u32>,
    root: u32,
    next_prio: u64,
}

impl Treap {
    pub fn new() -> Treap {
        Treap { nodes: Vec::new(), free: Vec::new(), root: NIL, next_prio: 0 }
    }

    pub fn len(&self) -> usize {
        self.size(self.root) as usize
    }

    pub fn is_empty(&self) -> bool {
        self.root == NIL
    }

    /// Bytes of the structure as allocated: the arena (40 bytes a node: a 16-byte key, an 8-byte
    /// priority, two 4-byte child indices, a 4-byte size, padding) and the free list. Redis' skip
    /// list node is a pointer to the member string, an 8-byte score, a backward pointer and
    /// `1/(1-p)` = 1.33 levels of 16 bytes (forward pointer and span) on average: ~45 bytes,
    /// plus the member string and a hash-table entry for the member -> score lookup.
    pub fn bytes(&self) -> u64 {
        (self.nodes.capacity() * std::mem::size_of::<TNode>() + self.free.capacity() * 4) as u64
    }

    fn size(&self, t: u32) -> u32 {
        if t == NIL { 0 } else { self.nodes[t as usize].size }
    }

    fn update(&mut self, t: u32) {
        let n = self.nodes[t as usize];
        self.nodes[t as usize].size = 1 + self.size(n.left) + self.size(n.right);
    }

    /// Splits `t` into keys `< key` and keys `>= key`.
    fn split(&mut self, t: u32, key: Key, steps: &mut u64) -> (u32, u32) {
        if t == NIL {
            return (NIL, NIL);
        }
        *steps += 1;
        if self.nodes[t as usize].key < key {
            let (a, b) = self.split(self.nodes[t as usize].right, key, steps);
            self.nodes[t as usize].right = a;
            self.update(t);
            (t, b)
        } else {
            let (a, b) = self.split(self.nodes[t as usize].left, key, steps);
            self.nodes[t as usize].left = b;
            self.update(t);
            (a, t)
        }
    }

    fn merge(&mut self, a: u32, b: u32, steps: &mut u64) -> u32 {
        if a == NIL {
            return b;
        }
        if b == NIL {
            return a;
        }
        *steps += 1;
        if self.nodes[a as usize].prio > self.nodes[b as usize].prio {
            let r = self.merge(self.nodes[a as usize].right, b, steps);
            self.nodes[a as usize].right = r;
            self.update(a);
            a
        } else {
            let l = self.merge(a, self.nodes[b as usize].left, steps);
            self.nodes[b as usize].left = l;
            self.update(b);
            b
        }
    }

    /// Inserts `key` (not present). Returns the steps taken.
    pub fn insert(&mut self, key: Key) -> u64 {
        let mut steps = 0;
        let (a, b) = self.split(self.root, key, &mut steps);
        self.next_prio += 1;
        let node = TNode { key, prio: mix64(self.next_prio ^ 0x5eed_1ead_b0a4), left: NIL, right: NIL, size: 1 };
        let n = match self.free.pop() {
            Some(i) => {
                self.nodes[i as usize] = node;
                i
            }
            None => {
                self.nodes.push(node);
                (self.nodes.len() - 1) as u32
            }
        };
        let left = self.merge(a, n, &mut steps);
        self.root = self.merge(left, b, &mut steps);
        steps
    }

    /// Removes `key`; `(was it there, steps)`.
    pub fn remove(&mut self, key: Key) -> (bool, u64) {
        let mut steps = 0;
        let (a, b) = self.split(self.root, key, &mut steps);
        let (m, c) = self.split(b, (key.0, key.1 + 1), &mut steps);
        let found = m != NIL;
        if found {
            debug_assert_eq!(self.size(m), 1);
            self.free.push(m);
        }
        self.root = self.merge(a, c, &mut steps);
        (found, steps)
    }

    /// Keys `< key`, and the steps taken.
    pub fn count_less(&self, key: Key) -> (u64, u64) {
        let (mut t, mut count, mut steps) = (self.root, 0u64, 0u64);
        while t != NIL {
            steps += 1;
            let n = &self.nodes[t as usize];
            if n.key < key {
                count += 1 + self.size(n.left) as u64;
                t = n.right;
            } else {
                t = n.left;
            }
        }
        (count, steps)
    }

    /// The first `k` keys in order, appended to `out`; returns the steps taken.
    pub fn first(&self, k: usize, out: &mut Vec<Key>) -> u64 {
        let (mut stack, mut t, mut steps) = (Vec::new(), self.root, 0u64);
        let goal = out.len() + k;
        while out.len() < goal {
            while t != NIL {
                steps += 1;
                stack.push(t);
                t = self.nodes[t as usize].left;
            }
            let Some(n) = stack.pop() else { break };
            out.push(self.nodes[n as usize].key);
            t = self.nodes[n as usize].right;
        }
        steps
    }

    /// The same keys in a fresh arena of exactly their number (after a bulk load or a rebalance
    /// left free slots behind): the treap that inserting them in order into an empty one, with
    /// priorities counting on from this one's, builds, and the steps those inserts count; built
    /// in one pass ([`Treap::sorted`]).
    pub fn compact(&mut self) -> u64 {
        let mut keys = Vec::with_capacity(self.len());
        let steps = self.all(&mut keys);
        let (t, inserts) = Treap::sorted(&keys, self.next_prio);
        *self = t;
        steps + inserts
    }

    /// The treap of `keys` (sorted, distinct) inserted one by one in order into an empty treap
    /// whose priorities count on from `next_prio`, and the steps those inserts count: the same
    /// arena, links, sizes and priorities, bit for bit, in `O(n)` instead of `O(n log n)` (a
    /// million players took two seconds). A treap is the Cartesian tree of its keys and
    /// priorities, so it is built on a stack of its right spine, as each insert in order walks
    /// it: the split visits the whole spine, the merge the nodes of higher priority, and one
    /// more when a node of lower priority goes under the new key.
    pub fn sorted(keys: &[Key], next_prio: u64) -> (Treap, u64) {
        let n = keys.len();
        debug_assert!(keys.windows(2).all(|w| w[0] < w[1]), "sorted and distinct");
        // An eighth of headroom: players moving in from another shard take it before the arena
        // has to grow (a `Vec` doubles).
        let mut nodes: Vec<TNode> = Vec::with_capacity(n + n / 8);
        // Each node's leftmost index: its subtree is the keys from there to the node that pops
        // it, less one.
        let mut leftmost: Vec<u32> = Vec::with_capacity(n);
        let mut spine: Vec<u32> = Vec::new();
        let mut steps = 0u64;
        for (i, &key) in keys.iter().enumerate() {
            let i = i as u32;
            let prio = mix64((next_prio + 1 + i as u64) ^ 0x5eed_1ead_b0a4);
            let walked = spine.len() as u64;
            let mut below = NIL;
            while let Some(&top) = spine.last() {
                if nodes[top as usize].prio > prio {
                    break;
                }
                spine.pop();
                nodes[top as usize].size = i - leftmost[top as usize];
                below = top;
            }
            let kept = spine.len() as u64;
            steps += walked + kept + u64::from(kept < walked);
            leftmost.push(if below == NIL { i } else { leftmost[below as usize] });
            if let Some(&top) = spine.last() {
                nodes[top as usize].right = i;
            }
            nodes.push(TNode { key, prio, left: below, right: NIL, size: 0 });
            spine.push(i);
        }
        for &v in &spine {
            nodes[v as usize].size = n as u32 - leftmost[v as usize];
        }
        let root = spine.first().copied().unwrap_or(NIL);
        (Treap { nodes, free: Vec::new(), root, next_prio: next_prio + n as u64 }, steps)
    }

    /// Every key in order (`n` steps).
    pub fn all(&self, out: &mut Vec<Key>) -> u64 {
        self.first(self.len(), out)
    }
}

/// One shard: the players whose score is at least `lo` (and below the previous shard's `lo`).
#[derive(Clone, Debug)]
pub struct Shard {
    pub lo: i64,
    pub set: Treap,
}

/// The sorted set split by score range, the highest range first.
#[derive(Clone, Debug)]
pub struct Sharded {
    pub shards: Vec<Shard>,
}

impl Sharded {
    /// `count` shards, the first ones empty until the first rebalance (or built from `players`).
    pub fn new(count: usize) -> Sharded {
        let mut shards: Vec<Shard> = (0..count).map(|_| Shard { lo: i64::MAX, set: Treap::new() }).collect();
        shards.last_mut().expect("at least one shard").lo = i64::MIN;
        Sharded { shards }
    }

    /// The shard holding `score`.
    pub fn shard_of(&self, score: i64) -> usize {
        self.shards.iter().position(|s| score >= s.lo).expect("the last shard takes every score")
    }

    pub fn len(&self) -> usize {
        self.shards.iter().map(|s| s.set.len()).sum()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn bytes(&self) -> u64 {
        self.shards.iter().map(|s| s.set.bytes()).sum::<u64>()
            + (self.shards.capacity() * std::mem::size_of::<Shard>()) as u64
    }

    /// Moves `player` from `old` (if any) to `new`: `(the shard now holding it, steps)`.
    pub fn update(&mut self, player: u64, old: Option<i64>, new: i64) -> (usize, u64) {
        let mut steps = 0;
        if let Some(o) = old {
            let i = self.shard_of(o);
            let (found, s) = self.shards[i].set.remove(key(player, o));
            assert!(found, "player {player} with score {o} missing from shard {i}");
            steps += s + i as u64 + 1;
        }
        let i = self.shard_of(new);
        steps += self.shards[i].set.insert(key(player, new)) + i as u64 + 1;
        (i, steps)
    }

    /// The competition rank of `score` (1 + players with a higher score): `(rank, shard, steps)`.
    pub fn rank(&self, score: i64) -> (u64, usize, u64) {
        let i = self.shard_of(score);
        let above: u64 = self.shards[..i].iter().map(|s| s.set.len() as u64).sum();
        let (less, steps) = self.shards[i].set.count_less((-score, 0));
        (above + less + 1, i, steps + 2 * i as u64 + 1)
    }

    /// The top `k` players: `(keys, steps)` (served by the top shard, and the next ones only if
    /// it holds fewer than `k`).
    pub fn top(&self, k: usize) -> (Vec<Key>, u64) {
        let (mut out, mut steps) = (Vec::with_capacity(k), 0);
        for s in &self.shards {
            if out.len() >= k {
                break;
            }
            steps += s.set.first(k - out.len(), &mut out) + 1;
        }
        (out, steps)
    }

    /// Compacts every shard's arena: `n` steps to read the keys out and the inserts' steps.
    pub fn compact(&mut self) -> u64 {
        self.shards.iter_mut().map(|s| s.set.compact()).sum()
    }

    /// The largest shard over the mean shard.
    pub fn imbalance(&self) -> f64 {
        let n = self.len();
        if n == 0 {
            return 1.0;
        }
        let max = self.shards.iter().map(|s| s.set.len()).max().unwrap_or(0);
        max as f64 * self.shards.len() as f64 / n as f64
    }

    /// The shards' lower bounds at the score quantiles of `all` (sorted): a boundary only
    /// between two scores (ties stay together), the last shard's `i64::MIN`.
    fn quantile_bounds(all: &[Key], k: usize) -> Vec<i64> {
        let n = all.len();
        let mut bounds = Vec::with_capacity(k);
        for i in 1..k {
            // The i-th boundary: the score of the entry at the i/k quantile, moved down past ties.
            let at = (n * i / k).min(n.saturating_sub(1));
            let lo = if n == 0 { i64::MAX } else { -all[at].0 };
            let prev = bounds.last().copied().unwrap_or(i64::MAX);
            bounds.push(lo.min(prev));
        }
        bounds.push(i64::MIN);
        bounds
    }

    /// `count` shards holding `keys` (sorted, distinct), compacted: what putting each player in
    /// with [`Sharded::update`], a [`Sharded::rebalance`] (more than one shard) and a
    /// [`Sharded::compact`] leave, bit for bit (the inserts each shard saw set its priorities),
    /// in one pass over the keys.
    pub fn load(count: usize, keys: &[Key]) -> Sharded {
        let mut s = Sharded::new(count);
        if count > 1 {
            for (shard, lo) in s.shards.iter_mut().zip(Sharded::quantile_bounds(keys, count)) {
                shard.lo = lo;
            }
        }
        let last = count - 1;
        let mut from = 0;
        for i in 0..count {
            let lo = s.shards[i].lo;
            let to = from + keys[from..].partition_point(|&(neg, _)| -neg >= lo);
            // Every player went into the last shard first; the others had one insert per player
            // the rebalance moved in.
            let inserted = if i == last { keys.len() } else { to - from };
            s.shards[i].set = Treap::sorted(&keys[from..to], inserted as u64).0;
            from = to;
        }
        s
    }

    /// Moves the boundaries to the score quantiles (a boundary only between two scores: ties
    /// stay together) and moves the players whose shard changed: `(players moved, steps)`.
    pub fn rebalance(&mut self) -> (u64, u64) {
        let mut all = Vec::with_capacity(self.len());
        let mut steps = 0;
        for s in &self.shards {
            steps += s.set.all(&mut all);
        }
        let bounds = Sharded::quantile_bounds(&all, self.shards.len());
        let mut moved = 0;
        let old: Vec<i64> = self.shards.iter().map(|s| s.lo).collect();
        for (i, s) in self.shards.iter_mut().enumerate() {
            s.lo = bounds[i];
        }
        // Reinsert every player whose shard changed.
        for &(neg, player) in &all {
            let score = -neg;
            let from = old.iter().position(|&lo| score >= lo).expect("last shard");
            let to = self.shard_of(score);
            if from != to {
                let (found, s) = self.shards[from].set.remove((neg, player));
                assert!(found);
                steps += s + self.shards[to].set.insert((neg, player));
                moved += 1;
            }
        }
        (moved, steps)
    }
}

/// The known-bad store: a table of scores by player id (the primary key) with no index on the
/// score, read with `ORDER BY score DESC LIMIT 10` and `COUNT(*) WHERE score > ?`.
#[derive(Clone, Debug, Default)]
pub struct ScanTable {
    /// Score by player id; `None`: no row.
    rows: Vec<Option<i64>>,
    len: usize,
}

impl ScanTable {
    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    pub fn bytes(&self) -> u64 {
        (self.rows.capacity() * std::mem::size_of::<Option<i64>>()) as u64
    }

    /// Sets a player's row (one step: a primary-key lookup).
    pub fn update(&mut self, player: u64, new: i64) -> u64 {
        let i = player as usize;
        if self.rows.len() <= i {
            self.rows.resize(i + 1, None);
        }
        if self.rows[i].is_none() {
            self.len += 1;
        }
        self.rows[i] = Some(new);
        1
    }

    /// `ORDER BY score DESC, player LIMIT k` by a full scan with a bounded insertion list: one
    /// step per row read, plus the comparisons of each insertion.
    pub fn top(&self, k: usize) -> (Vec<Key>, u64) {
        let mut out: Vec<Key> = Vec::with_capacity(k + 1);
        let mut steps = 0;
        for (p, s) in self.rows.iter().enumerate() {
            steps += 1;
            let Some(s) = *s else { continue };
            let kk = key(p as u64, s);
            if out.len() == k && kk >= out[k - 1] {
                continue;
            }
            let at = out.partition_point(|x| *x < kk);
            steps += (out.len() - at) as u64 + 1;
            out.insert(at, kk);
            out.truncate(k);
        }
        (out, steps)
    }

    /// `SELECT COUNT(*) + 1 WHERE score > ?`: one step per row.
    pub fn rank(&self, score: i64) -> (u64, u64) {
        let above = self.rows.iter().filter(|s| s.is_some_and(|s| s > score)).count() as u64;
        (above + 1, self.rows.len() as u64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;

    #[test]
    fn the_treap_agrees_with_a_btreeset_and_its_paths_stay_logarithmic() {
        let mut t = Treap::new();
        let mut o = BTreeSet::new();
        let mut max_steps = 0;
        for i in 0..20_000u64 {
            let k = ((mix64(i) % 500) as i64, mix64(i ^ 7) % 5_000);
            if o.contains(&k) {
                let (found, s) = t.remove(k);
                assert!(found);
                o.remove(&k);
                max_steps = max_steps.max(s);
            } else {
                max_steps = max_steps.max(t.insert(k));
                o.insert(k);
            }
            if i % 97 == 0 {
                let probe = ((mix64(i ^ 3) % 500) as i64, 0);
                assert_eq!(t.count_less(probe).0, o.range(..probe).count() as u64);
                let mut top = Vec::new();
                t.first(10, &mut top);
                assert_eq!(top, o.iter().take(10).copied().collect::<Vec<_>>());
            }
        }
        assert_eq!(t.len(), o.len());
        // ~4,000 keys: log2 is 12; a treap's paths are ~2-3x that, split + merge twice.
        assert!(max_steps < 200, "max steps {max_steps}");
        assert!(!t.remove((1_000, 0)).0);
    }

    /// The reference `Treap::sorted` must equal: its keys inserted one by one.
    fn by_inserts(keys: &[Key], next_prio: u64) -> (Treap, u64) {
        let mut t = Treap { nodes: Vec::with_capacity(keys.len() + keys.len() / 8), ..Treap::new() };
        t.next_prio = next_prio;
        let steps = keys.iter().map(|&k| t.insert(k)).sum();
        (t, steps)
    }

    fn same(a: &Treap, b: &Treap) -> bool {
        format!("{a:?}") == format!("{b:?}") && a.bytes() == b.bytes()
    }

    /// Built on the stack of its right spine, a treap equals the one the inserts build (arena,
    /// links, sizes, priorities, capacity) and counts the same steps, at every size and
    /// priority offset; compacting a treap that inserts and removes left holes in does too.
    #[test]
    fn a_treap_built_from_sorted_keys_is_the_one_inserting_them_builds() {
        for n in [0usize, 1, 2, 3, 10, 257, 3_000] {
            for next_prio in [0u64, 7, 1_000_000] {
                let keys: Vec<Key> = (0..n as u64)
                    .map(|p| key(p, (mix64(p) % 50) as i64))
                    .collect::<BTreeSet<_>>()
                    .into_iter()
                    .collect();
                let (fast, fast_steps) = Treap::sorted(&keys, next_prio);
                let (slow, slow_steps) = by_inserts(&keys, next_prio);
                assert!(same(&fast, &slow), "n {n}, next_prio {next_prio}");
                assert_eq!(fast_steps, slow_steps, "n {n}, next_prio {next_prio}");
                assert_eq!(fast.len(), n);
            }
        }
        let mut t = Treap::new();
        for p in 0..2_000u64 {
            t.insert(key(p, (mix64(p) % 100) as i64));
        }
        for p in (0..2_000u64).step_by(3) {
            assert!(t.remove(key(p, (mix64(p) % 100) as i64)).0);
        }
        let mut keys = Vec::new();
        let read = t.all(&mut keys);
        let (slow, inserts) = by_inserts(&keys, t.next_prio);
        let steps = t.compact();
        assert!(same(&t, &slow));
        assert_eq!(steps, read + inserts);
        assert!(steps > 2 * keys.len() as u64, "the inserts' steps are counted: {steps}");
    }

    /// Loading the players at once leaves the shards that putting them in one by one, a
    /// rebalance and a compaction leave, for one shard and several, ties at the bounds included.
    #[test]
    fn loading_sorted_players_equals_inserting_rebalancing_and_compacting() {
        for count in [1usize, 2, 4, 7] {
            for spread in [3u64, 100, 100_000] {
                let points: Vec<i64> = (0..5_000u64).map(|p| (mix64(p ^ spread) % spread) as i64).collect();
                let mut slow = Sharded::new(count);
                for (p, &sc) in points.iter().enumerate() {
                    slow.update(p as u64, None, sc);
                }
                if count > 1 {
                    slow.rebalance();
                }
                slow.compact();
                let mut keys: Vec<Key> = points.iter().enumerate().map(|(p, &sc)| key(p as u64, sc)).collect();
                keys.sort_unstable();
                let fast = Sharded::load(count, &keys);
                assert_eq!(fast.shards.len(), slow.shards.len());
                for (f, s) in fast.shards.iter().zip(&slow.shards) {
                    assert_eq!(f.lo, s.lo, "{count} shards, spread {spread}");
                    assert!(same(&f.set, &s.set), "{count} shards, spread {spread}");
                }
            }
        }
    }

    #[test]
    fn shards_by_score_range_rank_like_one_set_and_rebalance_to_even_sizes() {
        let mut sh = Sharded::new(4);
        let mut one = Treap::new();
        let mut score = vec![0i64; 2_000];
        for p in 0..2_000u64 {
            score[p as usize] = (mix64(p) % 100) as i64;
            sh.update(p, None, score[p as usize]);
            one.insert(key(p, score[p as usize]));
        }
        // Everything starts in the last shard; the rebalance spreads it.
        assert_eq!(sh.imbalance(), 4.0);
        let (moved, _) = sh.rebalance();
        assert!(moved > 1_000);
        assert!(sh.imbalance() < 1.1, "imbalance {}", sh.imbalance());
        // Scores drift up for the first 500 players: the top shard grows.
        for _ in 0..30 {
            for p in 0..500u64 {
                let old = score[p as usize];
                score[p as usize] += 1;
                sh.update(p, Some(old), old + 1);
                one.remove(key(p, old));
                one.insert(key(p, old + 1));
            }
        }
        assert!(sh.imbalance() > 1.25, "drift grows the top shard: {}", sh.imbalance());
        sh.rebalance();
        assert!(sh.imbalance() < 1.2, "imbalance {}", sh.imbalance());
        for s in [-5, 0, 50, 99, 120, 200] {
            assert_eq!(sh.rank(s).0, one.count_less((-s, 0)).0 + 1, "score {s}");
        }
        let mut top = Vec::new();
        one.first(10, &mut top);
        assert_eq!(sh.top(10).0, top);
        assert_eq!(sh.len(), 2_000);
    }

    #[test]
    fn the_scan_reads_every_row_and_agrees_with_the_sorted_set() {
        let mut table = ScanTable::default();
        let mut sh = Sharded::new(1);
        for p in 0..5_000u64 {
            let s = (mix64(p) % 300) as i64;
            table.update(p, s);
            sh.update(p, None, s);
        }
        let (top, steps) = table.top(10);
        assert_eq!(top, sh.top(10).0);
        assert!(steps >= 5_000);
        for s in [0, 150, 299, 400] {
            let (r, steps) = table.rank(s);
            assert_eq!(r, sh.rank(s).0);
            assert_eq!(steps, 5_000);
        }
        // The sorted set's rank touches a path, not the table.
        assert!(sh.rank(150).2 < 100);
    }
}
