//! A Bloom filter: "certainly absent" or "maybe present" in `m` bits with `k` hash functions
//! (Kirsch-Mitzenmacher double hashing over [`mix64`]).
//!
//! Holding `n` distinct keys, it answers "maybe present" for a key never inserted with probability
//! `(1 - e^(-k n / m))^k` ([`fp_rate`]); it never answers "absent" for an inserted key. Designs use
//! it to skip a lookup (a URL shortener's table read, a cache's negative path) or to deduplicate (a
//! crawler's seen URLs, where a false positive is silent: the URL is dropped as already seen).
//!
//! Knobs (a design's config): `bits` (`m`, at least 1) and `hashes` (`k`, at least 1). Measured:
//! [`Bloom::offered`] (insert calls: the formula's `n` when each key is inserted once) and
//! [`Bloom::inserted`] (those that set a new bit; a key whose insert was itself a false positive
//! adds nothing). A design that inserts repeats (a crawler meeting a link twice) passes its own
//! count of distinct keys to [`fp_rate`]. Memory: `m / 8` bytes.

use sim_core::math;
pub use sim_core::rng::mix64;

#[derive(Clone, Debug)]
pub struct Bloom {
    words: Vec<u64>,
    bits: u64,
    hashes: u32,
    offered: u64,
    inserted: u64,
}

impl Bloom {
    /// `bits` and `hashes` must be positive (a design validates its config before).
    pub fn new(bits: u64, hashes: u32) -> Bloom {
        assert!(bits > 0 && hashes > 0, "a Bloom filter needs bits and hashes");
        Bloom { words: vec![0; bits.div_ceil(64) as usize], bits, hashes, offered: 0, inserted: 0 }
    }

    /// False: certainly never inserted. True: maybe inserted.
    pub fn contains(&self, key: u64) -> bool {
        let (h1, h2) = (mix64(key), mix64(key ^ 0x5851_F42D_4C95_7F2D) | 1);
        (0..self.hashes as u64)
            .map(|i| h1.wrapping_add(i.wrapping_mul(h2)) % self.bits)
            .all(|p| self.words[(p / 64) as usize] & (1 << (p % 64)) != 0)
    }

    /// Sets the key's bits; true when some bit was clear (the filter had not "seen" the key).
    pub fn insert(&mut self, key: u64) -> bool {
        let (h1, h2) = (mix64(key), mix64(key ^ 0x5851_F42D_4C95_7F2D) | 1);
        self.offered += 1;
        let mut new = false;
        for i in 0..self.hashes as u64 {
            let p = h1.wrapping_add(i.wrapping_mul(h2)) % self.bits;
            let w = &mut self.words[(p / 64) as usize];
            if *w & (1 << (p % 64)) == 0 {
                new = true;
                *w |= 1 << (p % 64);
            }
        }
        if new {
            self.inserted += 1;
        }
        new
    }

    /// Insert calls.
    pub fn offered(&self) -> u64 {
        self.offered
    }

    /// Inserts that set at least one new bit.
    pub fn inserted(&self) -> u64 {
        self.inserted
    }

    /// The formula's false-positive rate with `n` = the insert calls so far (right when every key
    /// is inserted once).
    pub fn fp_rate_now(&self) -> f64 {
        fp_rate(self.bits, self.hashes, self.offered)
    }

    /// Bytes of the bit array.
    pub fn bytes(&self) -> u64 {
        self.words.len() as u64 * 8
    }
}

/// The textbook false-positive rate of `m` bits and `k` hashes holding `n` keys:
/// `(1 - e^(-k n / m))^k`.
pub fn fp_rate(m: u64, k: u32, n: u64) -> f64 {
    let k = k as f64;
    math::powf(1.0 - math::exp(-k * n as f64 / m as f64), k)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_false_negatives() {
        let mut b = Bloom::new(4096, 3);
        for k in 0..500u64 {
            b.insert(k * 7919);
        }
        assert!((0..500u64).all(|k| b.contains(k * 7919)));
    }

    #[test]
    fn false_positives_follow_the_formula() {
        // 10,000 keys in 80,000 bits with 5 hashes: (1 - e^(-5/8))^5 = 2.17%.
        assert!((fp_rate(80_000, 5, 10_000) - 0.0217).abs() < 0.0005);
        for (bits, hashes, n) in
            [(8_192u64, 3u32, 1_000u64), (16_384, 4, 2_000), (4_096, 2, 1_500), (80_000, 5, 10_000)]
        {
            let mut b = Bloom::new(bits, hashes);
            for k in 0..n {
                b.insert(mix64(k));
            }
            let probes = 50_000u64;
            let fp = (0..probes).filter(|i| b.contains(mix64(1_000_000_000 + i))).count() as f64 / probes as f64;
            let formula = b.fp_rate_now();
            assert!(
                (fp - formula).abs() <= 0.15 * formula + 0.002,
                "m={bits} k={hashes} n={n}: measured {fp:.4}, formula {formula:.4}"
            );
        }
    }

    #[test]
    fn an_insert_that_sets_no_new_bit_is_not_counted() {
        let mut b = Bloom::new(64, 1);
        assert!(b.insert(1));
        assert!(!b.insert(1), "the same key again sets nothing");
        assert_eq!((b.offered(), b.inserted()), (2, 1));
    }
}
