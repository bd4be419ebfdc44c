//! URL dedup: an exact set, a Bloom filter (Kirsch-Mitzenmacher double hashing), or nothing.
//!
//! A Bloom filter of `m` bits and `k` hashes holding `n` keys answers "seen" for a new key with
//! probability `(1 - e^(-k n / m))^k`. In a crawler a false positive is silent: the URL is dropped
//! as already seen and its page is never crawled (nor anything reachable only through it).

use std::collections::BTreeSet;

pub use sim_core::rng::mix64;

#[derive(Clone, Debug)]
pub struct Bloom {
    words: Vec<u64>,
    bits: u64,
    hashes: u32,
    inserted: u64,
}

impl Bloom {
    /// `bits` must be positive, `hashes` at least 1.
    pub fn new(bits: u64, hashes: u32) -> Bloom {
        assert!(bits > 0 && hashes > 0, "a Bloom filter needs bits and hashes");
        Bloom { words: vec![0; bits.div_ceil(64) as usize], bits, hashes, inserted: 0 }
    }

    fn positions(&self, key: u64) -> impl Iterator<Item = u64> + '_ {
        let h1 = mix64(key);
        let h2 = mix64(key ^ 0x5851_F42D_4C95_7F2D) | 1;
        (0..self.hashes as u64).map(move |i| h1.wrapping_add(i.wrapping_mul(h2)) % self.bits)
    }

    pub fn contains(&self, key: u64) -> bool {
        self.positions(key).all(|p| self.words[(p / 64) as usize] & (1 << (p % 64)) != 0)
    }

    /// Sets the key's bits; true when some bit was clear (the filter had not "seen" it).
    pub fn insert(&mut self, key: u64) -> bool {
        let ps: Vec<u64> = self.positions(key).collect();
        let mut new = false;
        for p in ps {
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

    pub fn inserted(&self) -> u64 {
        self.inserted
    }

    /// The textbook false-positive rate after `n` insertions.
    pub fn fp_rate_formula(bits: u64, hashes: u32, n: u64) -> f64 {
        let k = hashes as f64;
        (1.0 - (-k * n as f64 / bits as f64).exp()).powf(k)
    }
}

/// How a crawler remembers the URLs it has already queued.
#[derive(Clone, Debug)]
pub enum UrlSet {
    Exact(BTreeSet<u32>),
    Bloom(Bloom),
    /// No dedup: every link found is queued again (the known-bad variant).
    None,
}

impl UrlSet {
    /// True when the URL is new (and now remembered).
    pub fn insert(&mut self, url: u32) -> bool {
        match self {
            UrlSet::Exact(s) => s.insert(url),
            UrlSet::Bloom(b) => b.insert(url as u64),
            UrlSet::None => true,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bloom_has_no_false_negatives() {
        let mut b = Bloom::new(4096, 3);
        for k in 0..500u64 {
            b.insert(k * 7919);
        }
        assert!((0..500u64).all(|k| b.contains(k * 7919)));
    }

    #[test]
    fn bloom_false_positive_rate_matches_the_formula() {
        for (bits, hashes, n) in [(8_192u64, 3u32, 1_000u64), (16_384, 4, 2_000), (4_096, 2, 1_500)] {
            let mut b = Bloom::new(bits, hashes);
            for k in 0..n {
                b.insert(mix64(k));
            }
            let probes = 50_000u64;
            let fp = (0..probes).filter(|i| b.contains(mix64(1_000_000_000 + i))).count() as f64 / probes as f64;
            let formula = Bloom::fp_rate_formula(bits, hashes, n);
            assert!(
                (fp - formula).abs() <= 0.15 * formula + 0.002,
                "m={bits} k={hashes} n={n}: measured {fp:.4}, formula {formula:.4}"
            );
        }
    }
}
