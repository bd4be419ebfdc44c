//! A replica's key lookup: a hash map from a key to its value, looked up and never iterated, so
//! its layout (which depends on the order of inserts and removals) cannot reach the run. What must
//! be walked in key order keeps its own ordered list and sorts it (the server's ranges,
//! [`crate::node`]).
//!
//! It replaced the lookup in a `BTreeMap` per range: a read of one of a server's ~80,000 keys
//! walked a tree of scattered nodes, missing the cache at every level (16-18% of a full
//! `dynamo_10k` profile's samples). The standard library's map (a SwissTable: a probe reads a
//! group of one-byte tags before any key) with a fixed hasher, `mix64`, so no random state.

// The lint bars `HashMap` for its iteration order; this wrapper offers no iteration.
#![allow(clippy::disallowed_types)]

use common::mix64;
use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

/// Hashes a `u64` key by `mix64`: fixed, so the same inserts build the same table on any machine.
#[derive(Default)]
struct Mix(u64);

impl Hasher for Mix {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = mix64(self.0 ^ u64::from(b));
        }
    }
    fn write_u64(&mut self, key: u64) {
        self.0 = mix64(key);
    }
}

pub struct KeyMap<V> {
    map: HashMap<u64, V, BuildHasherDefault<Mix>>,
}

impl<V> Default for KeyMap<V> {
    fn default() -> Self {
        KeyMap { map: HashMap::default() }
    }
}

impl<V> KeyMap<V> {
    pub fn len(&self) -> usize {
        self.map.len()
    }

    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    #[inline]
    pub fn get(&self, key: u64) -> Option<&V> {
        self.map.get(&key)
    }

    #[inline]
    pub fn get_mut(&mut self, key: u64) -> Option<&mut V> {
        self.map.get_mut(&key)
    }

    /// The value of `key`, inserting `make()` first if it has none; and whether it was inserted.
    #[inline]
    pub fn get_or_insert_with(&mut self, key: u64, make: impl FnOnce() -> V) -> (&mut V, bool) {
        use std::collections::hash_map::Entry;
        match self.map.entry(key) {
            Entry::Occupied(e) => (e.into_mut(), false),
            Entry::Vacant(e) => (e.insert(make()), true),
        }
    }

    pub fn remove(&mut self, key: u64) -> Option<V> {
        self.map.remove(&key)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    /// The table agrees with a `BTreeMap` through a long run of inserts, updates and removals
    /// over a small key space (many collisions and long probe runs; removals in every position).
    #[test]
    fn agrees_with_an_ordered_map_through_inserts_and_removals() {
        let (mut t, mut m) = (KeyMap::default(), BTreeMap::new());
        let mut x = 7u64;
        for step in 0..200_000u64 {
            x = mix64(x);
            let key = x % 3_000;
            match x >> 62 {
                0 | 1 => {
                    let (v, new) = t.get_or_insert_with(key, || step);
                    assert_eq!(new, !m.contains_key(&key));
                    *v += 1;
                    *m.entry(key).or_insert(step) += 1;
                }
                2 => assert_eq!(t.remove(key), m.remove(&key)),
                _ => assert_eq!(t.get(key), m.get(&key)),
            }
            assert_eq!(t.len(), m.len());
        }
        for k in 0..3_000 {
            assert_eq!(t.get(k), m.get(&k));
        }
        // Every key out: the table is empty and finds nothing.
        for k in 0..3_000 {
            assert_eq!(t.remove(k), m.remove(&k));
        }
        assert!(t.is_empty() && t.get(5).is_none());
    }

    #[test]
    fn keys_at_the_ends_of_the_range_are_keys_like_any_other() {
        let mut t = KeyMap::default();
        for k in [0, 1, u64::MAX, u64::MAX - 1] {
            *t.get_or_insert_with(k, || 0).0 += k;
        }
        assert_eq!((t.get(u64::MAX), t.get(0), t.len()), (Some(&u64::MAX), Some(&0), 4));
        assert_eq!(t.remove(u64::MAX), Some(u64::MAX));
        assert_eq!((t.get(u64::MAX), t.get(u64::MAX - 1), t.len()), (None, Some(&(u64::MAX - 1)), 3));
        assert_eq!(t.remove(u64::MAX), None);
    }
}
