//! Consistent hashing with virtual nodes.

use crate::mix64;
use serde::{Deserialize, Serialize};

/// A server on the ring: its index (dense, `0..servers`) and its weight.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Member {
    pub server: u32,
    /// Capacity relative to a standard node: `weight * vnodes_per_weight` tokens.
    pub weight: u32,
}

/// The ring: ranges sorted by their end position, each with its primary server, and for every
/// range the first few distinct servers of its clockwise walk (its *head*: the preference list and
/// the first fallbacks). The rest of a walk is computed on demand ([`Ring::walk`]), so a ring of
/// `S` servers with `T` tokens each costs `O(S T)` memory and `O(S T log(S T))` to build, not a
/// stored walk of every server per token (`O((S T)^2)`).
#[derive(Clone, Debug)]
pub struct Ring {
    /// `(range end position, primary server)`, sorted by position.
    tokens: Vec<(u64, u32)>,
    /// The owner sequence a walk steps through: the token ring's owners (strategies 1 and 2) or
    /// the partitions' (strategy 3).
    seq: Vec<u32>,
    /// Strategy 2: per partition, the index in `seq` its walk starts at (the first token at or
    /// after its end). Empty otherwise: range `r`'s walk starts at `seq[r]`.
    start: Vec<u32>,
    /// Per range, the first `head` distinct servers of its walk: `heads[r * head..(r + 1) * head]`.
    heads: Vec<u32>,
    head: usize,
    /// Distinct servers in `seq`: the length of every walk.
    distinct: usize,
    servers: u32,
}

/// Servers per range kept in a ring's head table by [`Ring::new`] and [`Ring::build`] (a longer
/// preference list needs [`Ring::build_with_head`]).
pub const HEAD: usize = 8;

/// How the hash space is cut into key ranges and the ranges placed on servers: the three
/// strategies of the Dynamo paper (DeCandia et al., 2007, section 6.2).
///
/// ```ron
/// partitioning: EqualPartitions(64)
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum Partitioning {
    /// Strategy 1: `weight * vnodes` random tokens per server; a range runs from one token to the
    /// next, and its preference list is the distinct servers met walking clockwise.
    #[default]
    RandomTokens,
    /// Strategy 2: the space cut into `q` equal partitions; servers still hold random tokens, and
    /// a partition's preference list is the distinct servers met walking the token ring clockwise
    /// from the partition's end.
    EqualPartitionsRandomTokens(u32),
    /// Strategy 3: `q` equal partitions dealt to the servers, `q / S` each (in proportion to their
    /// weights), in an order drawn from the ring's salt.
    EqualPartitions(u32),
}

impl Partitioning {
    /// The number of equal partitions, if the strategy has them.
    pub fn partitions(self) -> Option<u32> {
        match self {
            Partitioning::RandomTokens => None,
            Partitioning::EqualPartitionsRandomTokens(q) | Partitioning::EqualPartitions(q) => Some(q),
        }
    }
    /// The strategy's name as a scenario spells it (without its number of partitions).
    pub fn name(self) -> &'static str {
        match self {
            Partitioning::RandomTokens => "RandomTokens",
            Partitioning::EqualPartitionsRandomTokens(_) => "EqualPartitionsRandomTokens",
            Partitioning::EqualPartitions(_) => "EqualPartitions",
        }
    }
}

impl Ring {
    /// Builds the ring with random tokens (strategy 1). Token positions are a fixed hash of
    /// `(server, i)`, so adding a server moves only the ranges its new tokens take over.
    pub fn new(members: &[Member], vnodes_per_weight: u32) -> Ring {
        Ring::build(members, vnodes_per_weight, Partitioning::RandomTokens, 0)
    }

    /// Builds the ring with a partitioning strategy. `salt` draws another ring: token positions
    /// (and strategy 3's dealing order) are hashes of `(server, i)` and the salt; salt 0 is the
    /// ring of [`Ring::new`].
    pub fn build(members: &[Member], vnodes_per_weight: u32, partitioning: Partitioning, salt: u64) -> Ring {
        Ring::build_with_head(members, vnodes_per_weight, partitioning, salt, HEAD)
    }

    /// [`Ring::build`], keeping the first `head` servers of every range's walk in a table (at
    /// least the longest preference list asked of [`Ring::preference_list`]).
    pub fn build_with_head(
        members: &[Member],
        vnodes_per_weight: u32,
        partitioning: Partitioning,
        salt: u64,
        head: usize,
    ) -> Ring {
        let servers = members.iter().map(|m| m.server + 1).max().unwrap_or(0);
        let salt = if salt == 0 { 0 } else { mix64(salt) };
        let mut tokens: Vec<(u64, u32)> = Vec::new();
        for m in members {
            for i in 0..m.weight * vnodes_per_weight {
                tokens.push((mix64(((m.server as u64) << 32) ^ i as u64 ^ 0x5EED_0000_0000 ^ salt), m.server));
            }
        }
        tokens.sort_unstable();
        tokens.dedup_by_key(|t| t.0);
        let owners: Vec<u32> = tokens.iter().map(|t| t.1).collect();
        let (ends, seq, start) = match partitioning {
            Partitioning::RandomTokens => (tokens.iter().map(|t| t.0).collect(), owners, Vec::new()),
            Partitioning::EqualPartitionsRandomTokens(q) => {
                let ends = equal_ends(q);
                let start = ends
                    .iter()
                    .map(|&e| {
                        let i = tokens.partition_point(|t| t.0 < e);
                        if i == tokens.len() { 0 } else { i as u32 }
                    })
                    .collect();
                (ends, owners, start)
            }
            Partitioning::EqualPartitions(q) => (equal_ends(q), deal(members, q, salt), Vec::new()),
        };
        let distinct = {
            let mut seen = vec![false; servers as usize];
            seq.iter().filter(|&&s| !std::mem::replace(&mut seen[s as usize], true)).count()
        };
        let head = head.clamp(1, distinct.max(1));
        let seq_heads = heads(&seq, head);
        let heads = if start.is_empty() {
            seq_heads
        } else {
            start.iter().flat_map(|&i| seq_heads[i as usize * head..(i as usize + 1) * head].iter().copied()).collect()
        };
        let tokens = ends.into_iter().enumerate().map(|(r, e)| (e, heads[r * head])).collect();
        Ring { tokens, seq, start, heads, head, distinct, servers }
    }

    /// The ring position of a key.
    #[inline]
    pub fn key_position(key: u64) -> u64 {
        mix64(key ^ 0x6B65_7973)
    }

    pub fn token_count(&self) -> usize {
        self.tokens.len()
    }

    /// One more than the highest server index on the ring.
    pub fn server_bound(&self) -> u32 {
        self.servers
    }

    /// The number of distinct servers on the ring: the length of every walk.
    pub fn distinct_servers(&self) -> usize {
        self.distinct
    }

    /// The index of the token (= key range) that owns `position`: the first token at or after it,
    /// wrapping around.
    #[inline]
    pub fn range_of_position(&self, position: u64) -> usize {
        let i = self.tokens.partition_point(|t| t.0 < position);
        if i == self.tokens.len() { 0 } else { i }
    }

    /// The key range (token index) a key belongs to.
    #[inline]
    pub fn range_of(&self, key: u64) -> usize {
        self.range_of_position(Ring::key_position(key))
    }

    /// Ring positions covered by range `r`: `(previous token, token]` (wrapping for range 0).
    pub fn range_bounds(&self, r: usize) -> (u64, u64) {
        let prev = if r == 0 { self.tokens[self.tokens.len() - 1].0 } else { self.tokens[r - 1].0 };
        (prev, self.tokens[r].0)
    }

    /// The server owning range `r` as primary: the first of its walk.
    #[inline]
    pub fn primary(&self, r: usize) -> u32 {
        self.tokens[r].1
    }

    /// The first `n` servers of range `r`'s walk (`n` at most the ring's head, see
    /// [`Ring::build_with_head`]; fewer when the ring has fewer servers).
    #[inline]
    pub fn head(&self, r: usize, n: usize) -> &[u32] {
        assert!(
            n <= self.head || self.head == self.distinct,
            "a preference list of {n} from a ring that keeps {} per range (build it with a longer head)",
            self.head
        );
        &self.heads[r * self.head..r * self.head + n.min(self.head)]
    }

    /// Every distinct server, clockwise from range `r`: the first `n` are its preference list,
    /// the rest the fallbacks in order. The head comes from the table; past it the walk steps
    /// through the ring on demand.
    pub fn walk(&self, r: usize) -> Walk<'_> {
        let from = if self.start.is_empty() { r } else { self.start[r] as usize };
        Walk { ring: self, head: self.head(r, self.head), from, emitted: 0, step: 0, seen: Vec::new() }
    }

    /// The preference list of `key`: its first `n` distinct servers.
    pub fn preference_list(&self, key: u64, n: usize) -> &[u32] {
        self.head(self.range_of(key), n)
    }

    /// Share of the ring each server owns as primary (sums to 1).
    pub fn ownership(&self) -> Vec<f64> {
        let mut share = vec![0.0; self.servers as usize];
        for r in 0..self.tokens.len() {
            let (lo, hi) = self.range_bounds(r);
            share[self.tokens[r].1 as usize] += hi.wrapping_sub(lo) as f64 / u64::MAX as f64;
        }
        share
    }
}

/// A range's walk ([`Ring::walk`]): its head from the table, then the ring stepped clockwise
/// from the range, skipping servers already met, until every server is met.
pub struct Walk<'a> {
    ring: &'a Ring,
    head: &'a [u32],
    /// Where in the ring's owner sequence the walk starts.
    from: usize,
    emitted: usize,
    /// Steps taken through the owner sequence past the head.
    step: usize,
    /// Servers met (one bit each), once the walk leaves its head.
    seen: Vec<u64>,
}

impl Iterator for Walk<'_> {
    type Item = u32;

    fn next(&mut self) -> Option<u32> {
        if self.emitted < self.head.len() {
            self.emitted += 1;
            return Some(self.head[self.emitted - 1]);
        }
        let ring = self.ring;
        if self.emitted >= ring.distinct {
            return None;
        }
        if self.seen.is_empty() {
            self.seen = vec![0; (ring.servers as usize).div_ceil(64)];
            for &s in self.head {
                self.seen[s as usize / 64] |= 1 << (s % 64);
            }
        }
        while self.step < ring.seq.len() {
            let s = ring.seq[(self.from + self.step) % ring.seq.len()];
            self.step += 1;
            let (word, bit) = (s as usize / 64, 1u64 << (s % 64));
            if self.seen[word] & bit == 0 {
                self.seen[word] |= bit;
                self.emitted += 1;
                return Some(s);
            }
        }
        None
    }
}

/// For each position of the cyclic owner sequence, the first `width` distinct servers met
/// walking it clockwise from there (`width` at most the distinct servers in it), flattened.
/// Walking backwards, the head at `i` is `seq[i]` then the head at `i + 1` without `seq[i]`;
/// two laps make every head see a full lap. `O(len * width)`.
fn heads(seq: &[u32], width: usize) -> Vec<u32> {
    let len = seq.len();
    let mut out = vec![0u32; len * width];
    let mut cur: Vec<u32> = Vec::with_capacity(width + 1);
    for i in (0..2 * len).rev() {
        let s = seq[i % len];
        cur.retain(|&x| x != s);
        cur.insert(0, s);
        cur.truncate(width);
        if i < len {
            out[i * width..i * width + cur.len()].copy_from_slice(&cur);
        }
    }
    out
}

/// The ends of `q` equal partitions of the hash space (the last one ends at `u64::MAX`).
fn equal_ends(q: u32) -> Vec<u64> {
    let q = q.max(1) as u128;
    (1..=q).map(|i| ((i << 64) / q - 1) as u64).collect()
}

/// Strategy 3's placement: `q` partitions dealt to the members in proportion to their weights
/// (largest remainder), in an order shuffled by `salt`. Returns each partition's server.
fn deal(members: &[Member], q: u32, salt: u64) -> Vec<u32> {
    let wsum: u64 = members.iter().map(|m| m.weight as u64).sum::<u64>().max(1);
    let q64 = q as u64;
    let mut share: Vec<(u64, u64, u32)> =
        members.iter().map(|m| (q64 * m.weight as u64 / wsum, q64 * m.weight as u64 % wsum, m.server)).collect();
    let mut left = q64 - share.iter().map(|s| s.0).sum::<u64>();
    // Largest remainders first, ties to the lower server.
    let mut order: Vec<usize> = (0..share.len()).collect();
    order.sort_by_key(|&i| (std::cmp::Reverse(share[i].1), share[i].2));
    for i in order {
        if left == 0 {
            break;
        }
        share[i].0 += 1;
        left -= 1;
    }
    let mut owners: Vec<u32> = share.iter().flat_map(|&(n, _, s)| std::iter::repeat_n(s, n as usize)).collect();
    // Fisher-Yates with hashed draws: a permutation fixed by the salt.
    for i in (1..owners.len()).rev() {
        let j = (mix64(salt ^ 0xDEA1 ^ (i as u64) << 20) % (i as u64 + 1)) as usize;
        owners.swap(i, j);
    }
    owners
}

#[cfg(test)]
mod tests {
    use super::*;

    fn members(n: u32) -> Vec<Member> {
        (0..n).map(|server| Member { server, weight: 1 }).collect()
    }

    #[test]
    fn preference_lists_are_distinct_and_stable() {
        let ring = Ring::new(&members(8), 16);
        assert_eq!(ring.token_count(), 128);
        for key in 0..1000 {
            let p = ring.preference_list(key, 3);
            assert_eq!(p.len(), 3);
            assert!(p[0] != p[1] && p[1] != p[2] && p[0] != p[2], "{p:?}");
            assert_eq!(p, ring.preference_list(key, 3));
            assert_eq!(ring.walk(ring.range_of(key)).count(), 8);
        }
    }

    #[test]
    fn ownership_sums_to_one_and_evens_out_with_more_vnodes() {
        let spread = |v: u32| {
            let o = Ring::new(&members(8), v).ownership();
            let sum: f64 = o.iter().sum();
            assert!((sum - 1.0).abs() < 1e-6, "{sum}");
            o.iter().cloned().fold(0.0, f64::max) * 8.0
        };
        assert!(spread(256) < spread(1), "max/mean {} vs {}", spread(256), spread(1));
        assert!(spread(256) < 1.25, "{}", spread(256));
    }

    #[test]
    fn heavier_members_own_more() {
        let mut m = members(4);
        m[0].weight = 3;
        let o = Ring::new(&m, 64).ownership();
        assert!(o[0] > 1.8 * o[1] && o[0] > 1.8 * o[2], "{o:?}");
    }

    #[test]
    fn adding_a_server_moves_only_its_ranges() {
        let before = Ring::new(&members(8), 32);
        let after = Ring::new(&members(9), 32);
        let moved = (0..5000u64)
            .filter(|&k| before.preference_list(k, 1) != after.preference_list(k, 1))
            .inspect(|&k| assert_eq!(after.preference_list(k, 1), [8]))
            .count();
        assert!(moved > 200 && moved < 1100, "{moved} of 5000 keys moved (expected about 1/9)");
    }

    fn max_over_mean(load: &[f64]) -> f64 {
        let mean = load.iter().sum::<f64>() / load.len() as f64;
        load.iter().copied().fold(0.0, f64::max) / mean
    }

    #[test]
    fn salt_zero_is_the_fixed_ring_and_other_salts_draw_other_rings() {
        let m = members(8);
        let fixed = Ring::new(&m, 4);
        let same = Ring::build(&m, 4, Partitioning::RandomTokens, 0);
        let other = Ring::build(&m, 4, Partitioning::RandomTokens, 7);
        assert_eq!(fixed.tokens, same.tokens);
        assert_ne!(fixed.tokens, other.tokens);
        assert_eq!(other.tokens, Ring::build(&m, 4, Partitioning::RandomTokens, 7).tokens, "deterministic");
    }

    #[test]
    fn equal_partitions_are_equal_and_dealt_q_over_s_per_server() {
        let m = members(4);
        let ring = Ring::build(&m, 1, Partitioning::EqualPartitions(32), 3);
        assert_eq!(ring.token_count(), 32);
        // Every partition covers 1/32 of the space, and each server holds 8 of them exactly.
        for r in 1..32 {
            let (lo, hi) = ring.range_bounds(r);
            assert_eq!(hi - lo, u64::MAX / 32 + 1, "partition {r}");
        }
        let own = ring.ownership();
        for o in &own {
            assert!((o - 0.25).abs() < 1e-9, "{own:?}");
        }
        for r in 0..32 {
            let w: Vec<u32> = ring.walk(r).collect();
            assert_eq!(w.len(), 4);
            assert_eq!(w[0], ring.tokens[r].1);
        }
        // Weights: a weight-3 server gets 3/6 of 30 partitions.
        let mut m = members(4);
        m[0].weight = 3;
        let ring = Ring::build(&m, 1, Partitioning::EqualPartitions(30), 3);
        let held = (0..30).filter(|&r| ring.primary(r) == 0).count();
        assert_eq!(held, 15);
    }

    #[test]
    fn strategy_two_places_each_partition_on_the_token_ring_walk_from_its_end() {
        let m = members(5);
        let tokens = Ring::build(&m, 8, Partitioning::RandomTokens, 11);
        let parts = Ring::build(&m, 8, Partitioning::EqualPartitionsRandomTokens(16), 11);
        assert_eq!(parts.token_count(), 16);
        for r in 0..16 {
            let (_, end) = parts.range_bounds(r);
            assert!(parts.walk(r).eq(tokens.walk(tokens.range_of_position(end))), "partition {r}");
        }
    }

    /// The paper's finding, in ring shares: at the same number of ranges, equal partitions
    /// dealt Q/S per node balance perfectly, and random tokens do not.
    #[test]
    fn equal_partitions_balance_better_than_random_tokens_at_the_same_number_of_ranges() {
        let m = members(8);
        let random = max_over_mean(&Ring::build(&m, 8, Partitioning::RandomTokens, 5).ownership());
        let dealt = max_over_mean(&Ring::build(&m, 8, Partitioning::EqualPartitions(64), 5).ownership());
        assert!(random > 1.1, "{random}");
        assert!((dealt - 1.0).abs() < 1e-9, "{dealt}");
    }

    /// The walk of every distinct server from each position, stored whole: the ring's former
    /// representation, kept as the reference the on-demand walk is held to.
    fn full_walks(owners: &[u32], servers: u32) -> Vec<Vec<u32>> {
        (0..owners.len())
            .map(|start| {
                let mut seen = vec![false; servers as usize];
                let mut walk = Vec::new();
                for k in 0..owners.len() {
                    let s = owners[(start + k) % owners.len()];
                    if !std::mem::replace(&mut seen[s as usize], true) {
                        walk.push(s);
                    }
                }
                walk
            })
            .collect()
    }

    #[test]
    fn heads_and_on_demand_walks_equal_the_full_walks() {
        for (servers, vnodes, weighted) in [(1, 4, false), (3, 1, false), (5, 8, true), (12, 16, false), (40, 4, true)]
        {
            let mut m = members(servers);
            if weighted {
                m[0].weight = 3;
                m[servers as usize - 1].weight = 2;
            }
            for salt in [0, 9] {
                let q = (servers * vnodes).max(servers);
                for p in [
                    Partitioning::RandomTokens,
                    Partitioning::EqualPartitionsRandomTokens(q),
                    Partitioning::EqualPartitions(q),
                ] {
                    let ring = Ring::build(&m, vnodes, p, salt);
                    let tokens = Ring::build(&m, vnodes, Partitioning::RandomTokens, salt);
                    let reference = full_walks(&tokens.seq, ring.servers);
                    let reference_seq = full_walks(&ring.seq, ring.servers);
                    for r in 0..ring.token_count() {
                        let want = match p {
                            Partitioning::EqualPartitionsRandomTokens(_) => {
                                &reference[tokens.range_of_position(ring.range_bounds(r).1)]
                            }
                            _ => &reference_seq[r],
                        };
                        assert_eq!(&ring.walk(r).collect::<Vec<_>>(), want, "{servers} servers, {p:?}, range {r}");
                        let n = want.len().min(HEAD);
                        assert_eq!(ring.head(r, n), &want[..n]);
                        assert_eq!(ring.primary(r), want[0]);
                    }
                }
            }
        }
        // A long head keeps whole walks when asked to.
        let m = members(12);
        let ring = Ring::build_with_head(&m, 4, Partitioning::RandomTokens, 0, 12);
        let reference = full_walks(&ring.seq, 12);
        for (r, want) in reference.iter().enumerate() {
            assert_eq!(ring.head(r, 12), &want[..]);
        }
    }
}
