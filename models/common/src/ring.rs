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

/// The ring: tokens sorted by position, each owned by a server, and for every token the clockwise
/// walk of distinct servers that starts there (preference list first, then the fallbacks).
#[derive(Clone, Debug)]
pub struct Ring {
    /// `(token position, server)`, sorted by position.
    tokens: Vec<(u64, u32)>,
    /// Per token index: every distinct server in clockwise order starting at that token.
    walks: Vec<Vec<u32>>,
    servers: u32,
}

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
        let token_walks = walks(&owners, servers, members.len());
        let (ends, walks): (Vec<u64>, Vec<Vec<u32>>) = match partitioning {
            Partitioning::RandomTokens => (tokens.iter().map(|t| t.0).collect(), token_walks),
            Partitioning::EqualPartitionsRandomTokens(q) => {
                let ends = equal_ends(q);
                let walks = ends
                    .iter()
                    .map(|&e| {
                        let i = tokens.partition_point(|t| t.0 < e);
                        token_walks[if i == tokens.len() { 0 } else { i }].clone()
                    })
                    .collect();
                (ends, walks)
            }
            Partitioning::EqualPartitions(q) => {
                let owners = deal(members, q, salt);
                (equal_ends(q), walks(&owners, servers, members.len()))
            }
        };
        let tokens = ends.into_iter().zip(walks.iter().map(|w| w[0])).collect();
        Ring { tokens, walks, servers }
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

    /// Every distinct server, clockwise from range `r`: the first `n` are its preference list.
    #[inline]
    pub fn walk(&self, r: usize) -> &[u32] {
        &self.walks[r]
    }

    /// The preference list of `key`: its first `n` distinct servers.
    pub fn preference_list(&self, key: u64, n: usize) -> &[u32] {
        let w = self.walk(self.range_of(key));
        &w[..n.min(w.len())]
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

/// For each range, every distinct server met walking the ranges clockwise from it.
fn walks(owners: &[u32], servers: u32, distinct: usize) -> Vec<Vec<u32>> {
    (0..owners.len())
        .map(|start| {
            let mut seen = vec![false; servers as usize];
            let mut walk = Vec::with_capacity(distinct);
            for k in 0..owners.len() {
                let s = owners[(start + k) % owners.len()];
                if !seen[s as usize] {
                    seen[s as usize] = true;
                    walk.push(s);
                    if walk.len() == distinct {
                        break;
                    }
                }
            }
            walk
        })
        .collect()
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
            assert_eq!(ring.walk(ring.range_of(key)).len(), 8);
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
            let w = ring.walk(r);
            assert_eq!(w.len(), 4);
            assert_eq!(w[0], ring.tokens[r].1);
        }
        // Weights: a weight-3 server gets 3/6 of 30 partitions.
        let mut m = members(4);
        m[0].weight = 3;
        let ring = Ring::build(&m, 1, Partitioning::EqualPartitions(30), 3);
        let held = (0..30).filter(|&r| ring.walk(r)[0] == 0).count();
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
            assert_eq!(parts.walk(r), tokens.walk(tokens.range_of_position(end)), "partition {r}");
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
}
