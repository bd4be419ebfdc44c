//! Consistent hashing with virtual nodes.

use crate::mix64;

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

impl Ring {
    /// Builds the ring. Token positions are a fixed hash of `(server, i)`, so adding a server moves
    /// only the ranges its new tokens take over.
    pub fn new(members: &[Member], vnodes_per_weight: u32) -> Ring {
        let mut tokens: Vec<(u64, u32)> = Vec::new();
        for m in members {
            for i in 0..m.weight * vnodes_per_weight {
                tokens.push((mix64(((m.server as u64) << 32) ^ i as u64 ^ 0x5EED_0000_0000), m.server));
            }
        }
        tokens.sort_unstable();
        tokens.dedup_by_key(|t| t.0);
        let servers = members.iter().map(|m| m.server + 1).max().unwrap_or(0);
        let distinct = members.len();
        let walks = (0..tokens.len())
            .map(|start| {
                let mut seen = vec![false; servers as usize];
                let mut walk = Vec::with_capacity(distinct);
                for k in 0..tokens.len() {
                    let s = tokens[(start + k) % tokens.len()].1;
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
            .collect();
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
}
