//! The design's own protocol: the vocabulary, the trie with the top `k` cached at every node, a
//! plain walk of the same trie without the cache, and the notes' SQL table scanned with
//! `LIKE 'prefix%' ORDER BY frequency DESC LIMIT k`. Each lookup says what it touched (trie
//! nodes, candidate entries, table rows), which is what a query's service time is charged for.
//!
//! Order everywhere: the larger count first, then the smaller word id (ids are the words'
//! alphabetical order), the same order as [`parts::rank::top_of`].

use sim_core::Prng;
use std::cmp::Ordering;

/// English letter frequencies (per mille) inside a word, and as a word's first letter: the
/// first letters are far from uniform, which is the skew sharding by first character meets.
const LETTER: [f64; 26] = [
    82.0, 15.0, 28.0, 43.0, 127.0, 22.0, 20.0, 61.0, 70.0, 1.5, 7.7, 40.0, 24.0, 67.0, 75.0, 19.0, 1.0, 60.0, 63.0,
    91.0, 28.0, 9.8, 24.0, 1.5, 20.0, 0.7,
];
const FIRST: [f64; 26] = [
    57.0, 60.0, 94.0, 61.0, 39.0, 41.0, 33.0, 37.0, 39.0, 11.0, 10.0, 31.0, 56.0, 22.0, 25.0, 77.0, 5.0, 60.0, 110.0,
    50.0, 29.0, 15.0, 27.0, 0.5, 6.0, 3.0,
];

/// `n` distinct lowercase words of 3 to 10 letters, in alphabetical order (a word's id is its
/// index), drawn from `rng`.
pub fn vocabulary(n: usize, rng: &mut Prng) -> Vec<String> {
    let mut words = std::collections::BTreeSet::new();
    while words.len() < n {
        let len = 3 + rng.below(8) as usize;
        let mut w = String::with_capacity(len);
        w.push((b'a' + rng.weighted(&FIRST) as u8) as char);
        for _ in 1..len {
            w.push((b'a' + rng.weighted(&LETTER) as u8) as char);
        }
        words.insert(w);
    }
    words.into_iter().collect()
}

/// `(word id, count)` pairs in suggestion order: the larger count first, then the smaller id.
pub fn order(a: &(u32, u64), b: &(u32, u64)) -> Ordering {
    b.1.cmp(&a.1).then(a.0.cmp(&b.0))
}

/// What one lookup touched.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Lookup {
    /// `(word id, count)`, best first, at most the `k` asked for.
    pub top: Vec<(u32, u64)>,
    /// Trie nodes visited (the root and the prefix's path included).
    pub nodes: u64,
    /// Candidate entries read (a node's cached list, the words found under the prefix) or table
    /// rows scanned.
    pub entries: u64,
}

#[derive(Clone, Debug, Default)]
struct Node {
    /// `(letter, child)`, by letter.
    children: Vec<(u8, u32)>,
    /// The word ending here, with its count.
    word: Option<(u32, u64)>,
    /// The top `k` words in this node's subtree, best first.
    top: Vec<(u32, u64)>,
}

/// A trie over the words with a positive count that the build keeps, with the top `k` of every
/// subtree cached at its node.
#[derive(Clone, Debug)]
pub struct Trie {
    nodes: Vec<Node>,
    k: usize,
    words: u64,
}

impl Trie {
    /// Builds from aggregated counts (`counts[id]` for `vocab[id]`), keeping word `id` only if
    /// `keep(id)` (the build-time filter of banned words) and its count is positive.
    pub fn build(vocab: &[String], counts: &[u64], keep: impl Fn(u32) -> bool, k: usize) -> Trie {
        let mut t = Trie { nodes: vec![Node::default()], k: k.max(1), words: 0 };
        for (id, w) in vocab.iter().enumerate() {
            let id = id as u32;
            let n = counts.get(id as usize).copied().unwrap_or(0);
            if n == 0 || !keep(id) {
                continue;
            }
            let mut at = 0u32;
            for &b in w.as_bytes() {
                let node = &t.nodes[at as usize];
                at = match node.children.binary_search_by_key(&b, |c| c.0) {
                    Ok(i) => node.children[i].1,
                    Err(i) => {
                        let new = t.nodes.len() as u32;
                        t.nodes[at as usize].children.insert(i, (b, new));
                        t.nodes.push(Node::default());
                        new
                    }
                };
            }
            t.nodes[at as usize].word = Some((id, n));
            t.words += 1;
        }
        // A child always has a larger index than its parent: in reverse index order every
        // node's children are done before it.
        for i in (0..t.nodes.len()).rev() {
            let mut cand: Vec<(u32, u64)> = t.nodes[i].word.into_iter().collect();
            for &(_, c) in &t.nodes[i].children {
                cand.extend_from_slice(&t.nodes[c as usize].top);
            }
            cand.sort_by(order);
            cand.truncate(t.k);
            t.nodes[i].top = cand;
        }
        t
    }

    /// The node of `prefix`, and the nodes visited to reach it (root included).
    fn find(&self, prefix: &[u8]) -> (Option<u32>, u64) {
        let mut at = 0u32;
        let mut visited = 1;
        for &b in prefix {
            let node = &self.nodes[at as usize];
            match node.children.binary_search_by_key(&b, |c| c.0) {
                Ok(i) => {
                    at = node.children[i].1;
                    visited += 1;
                }
                Err(_) => return (None, visited),
            }
        }
        (Some(at), visited)
    }

    /// The top `k` (at most the cached `k`) under `prefix` from the prefix node's cache:
    /// `O(p)` nodes to find it, then the cached list.
    pub fn top_cached(&self, prefix: &[u8], k: usize) -> Lookup {
        let (at, nodes) = self.find(prefix);
        let Some(at) = at else {
            return Lookup { top: Vec::new(), nodes, entries: 0 };
        };
        let cached = &self.nodes[at as usize].top;
        Lookup { top: cached.iter().take(k).copied().collect(), nodes, entries: cached.len() as u64 }
    }

    /// The top `k` under `prefix` without the cache (the notes' `O(p) + O(c) + O(c log c)`):
    /// find the prefix node, visit its whole subtree collecting every word, sort them.
    pub fn top_walk(&self, prefix: &[u8], k: usize) -> Lookup {
        let (at, mut nodes) = self.find(prefix);
        let Some(at) = at else {
            return Lookup { top: Vec::new(), nodes, entries: 0 };
        };
        let mut found = Vec::new();
        let mut stack = vec![at];
        // The prefix node was counted by `find`.
        nodes -= 1;
        while let Some(n) = stack.pop() {
            nodes += 1;
            let node = &self.nodes[n as usize];
            found.extend(node.word);
            stack.extend(node.children.iter().map(|c| c.1));
        }
        let entries = found.len() as u64;
        found.sort_by(order);
        found.truncate(k);
        Lookup { top: found, nodes, entries }
    }

    pub fn nodes(&self) -> usize {
        self.nodes.len()
    }

    pub fn words(&self) -> u64 {
        self.words
    }

    /// The cached `k` of the trie.
    pub fn k(&self) -> usize {
        self.k
    }

    /// Bytes of a serialised trie: per node a letter (1), a child count (1), an optional word
    /// (4 + 8 + 1) and its cached list (12 per entry), plus 4 per child pointer.
    pub fn bytes(&self) -> u64 {
        self.nodes.iter().map(|n| 15 + 4 * n.children.len() as u64 + 12 * n.top.len() as u64).sum()
    }
}

/// The notes' table `(query, frequency)` with an index on `query`: `LIKE 'prefix%'` is a range
/// scan of the index, every matching row is read, then sorted by frequency.
#[derive(Clone, Debug, Default)]
pub struct Table {
    /// `(word id, count)` by word (ids are alphabetical).
    rows: Vec<(u32, u64)>,
}

impl Table {
    pub fn build(counts: &[u64], keep: impl Fn(u32) -> bool) -> Table {
        let rows =
            counts.iter().enumerate().map(|(id, &n)| (id as u32, n)).filter(|&(id, n)| n > 0 && keep(id)).collect();
        Table { rows }
    }

    /// `SELECT * FROM tab WHERE query LIKE 'prefix%' ORDER BY frequency DESC LIMIT k`.
    pub fn top(&self, vocab: &[String], prefix: &str, k: usize) -> Lookup {
        let start = self.rows.partition_point(|r| vocab[r.0 as usize].as_str() < prefix);
        let mut found: Vec<(u32, u64)> =
            self.rows[start..].iter().take_while(|r| vocab[r.0 as usize].starts_with(prefix)).copied().collect();
        let entries = found.len() as u64;
        found.sort_by(order);
        found.truncate(k);
        Lookup { top: found, nodes: 0, entries }
    }

    pub fn len(&self) -> usize {
        self.rows.len()
    }

    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sim_core::rng::Stream;

    /// The top `k` under `prefix` by brute force over the whole vocabulary.
    fn brute(vocab: &[String], counts: &[u64], banned: &[u32], prefix: &str, k: usize) -> Vec<(u32, u64)> {
        let mut all: Vec<(u32, u64)> = (0..vocab.len() as u32)
            .filter(|&id| vocab[id as usize].starts_with(prefix) && counts[id as usize] > 0 && !banned.contains(&id))
            .map(|id| (id, counts[id as usize]))
            .collect();
        all.sort_by(order);
        all.truncate(k);
        all
    }

    fn data(n: usize, seed: u64) -> (Vec<String>, Vec<u64>) {
        let mut rng = Prng::new(seed, Stream::Setup);
        let vocab = vocabulary(n, &mut rng);
        // Zipf-like counts on a random permutation, with ties and zeros.
        let counts = (0..n).map(|_| 100_000 / (1 + rng.below(n as u64 * 2))).collect();
        (vocab, counts)
    }

    /// Every prefix of every word (and prefixes no word has): the cached top k, the walk and
    /// the table equal a brute force over the vocabulary, and no banned word is in any of them.
    #[test]
    fn the_cached_top_k_at_every_node_equals_brute_force_and_holds_no_banned_word() {
        for seed in 0..3 {
            let (vocab, counts) = data(1500, seed);
            let mut rng = Prng::new(seed + 100, Stream::Setup);
            // Ban some words, the most frequent ones among them.
            let mut by_count: Vec<u32> = (0..vocab.len() as u32).collect();
            by_count.sort_by_key(|&id| std::cmp::Reverse(counts[id as usize]));
            let mut banned: Vec<u32> = by_count[..5].to_vec();
            banned.extend((0..20).map(|_| rng.below(vocab.len() as u64) as u32));
            let keep = |id: u32| !banned.contains(&id);
            let trie = Trie::build(&vocab, &counts, keep, 10);
            let table = Table::build(&counts, keep);
            let mut prefixes: std::collections::BTreeSet<String> = std::collections::BTreeSet::new();
            for w in &vocab {
                for p in 0..=w.len() {
                    prefixes.insert(w[..p].to_string());
                }
            }
            prefixes.extend(["zzzz", "qx", "aaaaaaaaaaaa"].map(String::from));
            for p in &prefixes {
                for k in [1, 5, 10] {
                    let want = brute(&vocab, &counts, &banned, p, k);
                    let cached = trie.top_cached(p.as_bytes(), k);
                    let walk = trie.top_walk(p.as_bytes(), k);
                    let sql = table.top(&vocab, p, k);
                    assert_eq!(cached.top, want, "cached, prefix {p:?} k {k}");
                    assert_eq!(walk.top, want, "walk, prefix {p:?} k {k}");
                    assert_eq!(sql.top, want, "sql, prefix {p:?} k {k}");
                    assert!(want.iter().all(|w| !banned.contains(&w.0)));
                    // The cache reads the path only; the walk the path and the whole subtree.
                    assert!(cached.nodes <= p.len() as u64 + 1);
                    assert!(walk.nodes >= cached.nodes);
                    assert!(cached.entries <= 10);
                }
            }
            // No banned word anywhere in the trie: not as a word, not in any cached list.
            for n in &trie.nodes {
                assert!(n.word.is_none_or(|w| !banned.contains(&w.0)));
                assert!(n.top.iter().all(|w| !banned.contains(&w.0)));
            }
            assert_eq!(trie.words(), table.len() as u64);
        }
    }

    /// Over a realistic mix of prefixes the walk touches far more nodes than the cache, and the
    /// table reads every row under the prefix.
    #[test]
    fn the_walk_touches_more_nodes_than_the_cache_for_the_same_answer() {
        let (vocab, counts) = data(3000, 9);
        let trie = Trie::build(&vocab, &counts, |_| true, 5);
        let table = Table::build(&counts, |_| true);
        let (mut cached_nodes, mut walk_nodes, mut rows) = (0, 0, 0);
        for w in vocab.iter().step_by(7) {
            for p in 1..=w.len().min(3) {
                let c = trie.top_cached(&w.as_bytes()[..p], 5);
                let wk = trie.top_walk(&w.as_bytes()[..p], 5);
                let s = table.top(&vocab, &w[..p], 5);
                assert_eq!(c.top, wk.top);
                assert_eq!(c.top, s.top);
                cached_nodes += c.nodes;
                walk_nodes += wk.nodes;
                rows += s.entries;
            }
        }
        assert!(walk_nodes > 20 * cached_nodes, "walk {walk_nodes} nodes, cache {cached_nodes}");
        assert!(rows > 5 * cached_nodes, "rows {rows}");
    }

    #[test]
    fn the_vocabulary_is_deterministic_distinct_sorted_and_skewed_by_first_letter() {
        let a = vocabulary(2000, &mut Prng::new(1, Stream::Setup));
        let b = vocabulary(2000, &mut Prng::new(1, Stream::Setup));
        assert_eq!(a, b);
        assert!(a.windows(2).all(|w| w[0] < w[1]));
        assert!(a.iter().all(|w| (3..=10).contains(&w.len()) && w.bytes().all(|c| c.is_ascii_lowercase())));
        let s = a.iter().filter(|w| w.starts_with('s')).count();
        let z = a.iter().filter(|w| w.starts_with('z')).count();
        assert!(s > 10 * z.max(1), "s {s} z {z}");
    }
}
