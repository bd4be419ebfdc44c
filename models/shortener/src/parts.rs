//! The shortener's building blocks: base62, an LRU cache, a Bloom filter, the truncated hash.

use ratelimit::node::mix64;
use std::collections::BTreeMap;

/// The notes' 62 symbols: digits, lower case, upper case.
pub const ALPHABET: &[u8; 62] = b"0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ";

/// `n` in base 62, most significant symbol first ("0" for zero).
pub fn base62(mut n: u64) -> String {
    if n == 0 {
        return "0".into();
    }
    let mut out = Vec::new();
    while n > 0 {
        out.push(ALPHABET[(n % 62) as usize]);
        n /= 62;
    }
    out.reverse();
    String::from_utf8(out).expect("ASCII")
}

/// The number a base-62 string stands for (`None` for a foreign symbol or overflow).
pub fn from_base62(s: &str) -> Option<u64> {
    s.bytes().try_fold(0u64, |acc, b| {
        let d = ALPHABET.iter().position(|&a| a == b)? as u64;
        acc.checked_mul(62)?.checked_add(d)
    })
}

/// Symbols `base62(n)` has.
pub fn base62_len(n: u64) -> u32 {
    let mut len = 1;
    let mut n = n / 62;
    while n > 0 {
        len += 1;
        n /= 62;
    }
    len
}

/// 62 to the power `chars`: how many short URLs of that length exist.
pub fn code_space(chars: u32) -> u64 {
    62u64.saturating_pow(chars)
}

/// The hash scheme's short code of a long URL: a hash truncated to `chars` base-62 symbols. `salt`
/// counts the rehashes after collisions (the notes' "append a predefined string and hash again").
pub fn truncated_hash(long: u64, salt: u32, chars: u32) -> u64 {
    mix64(long ^ (salt as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ 0xC0DE) % code_space(chars)
}

/// An LRU cache of `capacity` entries (BTreeMaps: deterministic, O(log n)).
#[derive(Clone, Debug, Default)]
pub struct Lru {
    capacity: usize,
    entries: BTreeMap<u64, (u64, u64)>,
    by_age: BTreeMap<u64, u64>,
    tick: u64,
    pub hits: u64,
    pub misses: u64,
}

impl Lru {
    pub fn new(capacity: usize) -> Lru {
        Lru { capacity, ..Lru::default() }
    }

    /// Looks `key` up, counting a hit or a miss; a hit becomes the most recently used.
    pub fn get(&mut self, key: u64) -> Option<u64> {
        self.tick += 1;
        match self.entries.get_mut(&key) {
            Some((value, age)) => {
                self.by_age.remove(age);
                *age = self.tick;
                self.by_age.insert(self.tick, key);
                self.hits += 1;
                Some(*value)
            }
            None => {
                self.misses += 1;
                None
            }
        }
    }

    /// Inserts or refreshes `key`, evicting the least recently used entry when full.
    pub fn put(&mut self, key: u64, value: u64) {
        if self.capacity == 0 {
            return;
        }
        self.tick += 1;
        if let Some((_, age)) = self.entries.get(&key) {
            self.by_age.remove(age);
        } else if self.entries.len() == self.capacity
            && let Some((_, old)) = self.by_age.pop_first()
        {
            self.entries.remove(&old);
        }
        self.entries.insert(key, (value, self.tick));
        self.by_age.insert(self.tick, key);
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    pub fn hit_ratio(&self) -> f64 {
        let n = self.hits + self.misses;
        if n == 0 { 0.0 } else { self.hits as f64 / n as f64 }
    }
}

/// A Bloom filter of `m` bits and `k` hash functions (double hashing).
#[derive(Clone, Debug)]
pub struct Bloom {
    bits: Vec<u64>,
    m: u64,
    k: u32,
    pub items: u64,
}

impl Bloom {
    pub fn new(m: u64, k: u32) -> Bloom {
        let m = m.max(64);
        Bloom { bits: vec![0; m.div_ceil(64) as usize], m, k, items: 0 }
    }

    fn positions(&self, key: u64) -> impl Iterator<Item = u64> + '_ {
        let h1 = mix64(key);
        let h2 = mix64(key ^ 0x5851_F42D_4C95_7F2D) | 1;
        (0..self.k as u64).map(move |i| h1.wrapping_add(i.wrapping_mul(h2)) % self.m)
    }

    pub fn insert(&mut self, key: u64) {
        let pos: Vec<u64> = self.positions(key).collect();
        for p in pos {
            self.bits[(p / 64) as usize] |= 1 << (p % 64);
        }
        self.items += 1;
    }

    /// False: certainly absent. True: maybe present.
    pub fn maybe_contains(&self, key: u64) -> bool {
        self.positions(key).all(|p| self.bits[(p / 64) as usize] & (1 << (p % 64)) != 0)
    }

    /// The textbook false-positive rate at the current fill: `(1 - e^(-k n / m))^k`.
    pub fn fp_rate_formula(&self) -> f64 {
        fp_rate(self.m, self.k, self.items)
    }
}

/// `(1 - e^(-k n / m))^k`.
pub fn fp_rate(m: u64, k: u32, n: u64) -> f64 {
    (1.0 - (-(k as f64) * n as f64 / m as f64).exp()).powi(k as i32)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base62_round_trips_and_matches_the_notes() {
        assert_eq!(base62(0), "0");
        assert_eq!(base62(61), "Z");
        assert_eq!(base62(62), "10");
        // The book's example: 11157 -> "2TX".
        assert_eq!(base62(11157), "2TX");
        for n in [1u64, 12345, 56644, 3_521_614_606_207, u64::MAX] {
            assert_eq!(from_base62(&base62(n)), Some(n));
            assert_eq!(base62(n).len() as u32, base62_len(n));
        }
        // 7 symbols cover 62^7 - 1 = 3.5 trillion; a 64-bit snowflake ID needs 11.
        assert_eq!(base62_len(code_space(7) - 1), 7);
        assert_eq!(base62_len(code_space(7)), 8);
        assert_eq!(base62_len(snowflake::compose(1 << 40, 1, 1, 0)), 11);
    }

    #[test]
    fn lru_evicts_the_least_recently_used() {
        let mut c = Lru::new(2);
        c.put(1, 10);
        c.put(2, 20);
        assert_eq!(c.get(1), Some(10)); // 2 is now the oldest
        c.put(3, 30);
        assert_eq!(c.get(2), None);
        assert_eq!(c.get(1), Some(10));
        assert_eq!(c.get(3), Some(30));
        assert_eq!(c.len(), 2);
        assert_eq!((c.hits, c.misses), (3, 1));
    }

    #[test]
    fn bloom_false_positives_follow_the_formula() {
        // 10,000 items in 80,000 bits with 5 hashes: (1 - e^(-5/8))^5 = 2.17%.
        let mut b = Bloom::new(80_000, 5);
        for i in 0..10_000u64 {
            b.insert(i);
        }
        assert!((0..10_000u64).all(|i| b.maybe_contains(i)), "no false negatives");
        let fp = (1_000_000..1_100_000u64).filter(|&i| b.maybe_contains(i)).count() as f64 / 100_000.0;
        let formula = b.fp_rate_formula();
        assert!((formula - 0.0217).abs() < 0.0005, "{formula}");
        assert!((fp - formula).abs() < 0.15 * formula, "measured {fp}, formula {formula}");
    }

    #[test]
    fn truncated_hash_stays_in_its_space() {
        for long in 0..1000 {
            assert!(truncated_hash(long, 0, 3) < 238_328);
            assert_ne!(truncated_hash(long, 0, 7), truncated_hash(long, 1, 7));
        }
    }
}
