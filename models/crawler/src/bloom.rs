//! URL dedup: an exact set, a Bloom filter (`parts::bloom`), or nothing.
//!
//! A Bloom filter of `m` bits and `k` hashes holding `n` keys answers "seen" for a new key with
//! probability `(1 - e^(-k n / m))^k`. In a crawler a false positive is silent: the URL is dropped
//! as already seen and its page is never crawled (nor anything reachable only through it).

use std::collections::BTreeSet;

pub use parts::bloom::Bloom;
pub use sim_core::rng::mix64;

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
