//! A replica's key lookup: an open-addressing table from a key to its value (linear probing over
//! keys hashed with `mix64`), looked up and never iterated, so its layout (which depends on the
//! order of inserts and removals) cannot reach the run. What must be walked in key order keeps
//! its own ordered list and sorts it (the server's ranges, [`crate::node`]).
//!
//! It replaced the lookup in a `BTreeMap` per range: a read of one of a server's ~80,000 keys
//! walked a tree of scattered nodes, missing the cache at every level (16-18% of a full
//! `dynamo_10k` profile's samples); a probe here touches one slot, and the next few on a collision.
//! Keys and values are in two arrays by slot, so a probe, and a lookup of a key the server does
//! not hold (most of a large key space's reads), touch only 8-byte keys; at most 7/8 of the slots
//! are full. Removal shifts the
//! following run of slots back (no tombstones), so a table that churns stays as fast as a new one.

use common::mix64;

pub struct KeyMap<V> {
    /// The keys by slot, `EMPTY` where none: a probe reads only these (8 bytes a slot, so the
    /// probes of a server's 80,000 keys touch 1 MB, not the 5 MB of keys beside values).
    keys: Vec<u64>,
    /// The values by slot, `Some` where `keys` has a key.
    values: Vec<Option<V>>,
    /// The value of key `EMPTY` itself, which has no slot.
    empty_key: Option<V>,
    len: usize,
}

impl<V> Default for KeyMap<V> {
    fn default() -> Self {
        KeyMap { keys: Vec::new(), values: Vec::new(), empty_key: None, len: 0 }
    }
}

impl<V> KeyMap<V> {
    const EMPTY: u64 = u64::MAX;

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The slot a probe for `key` starts at.
    #[inline]
    fn home(&self, key: u64) -> usize {
        mix64(key) as usize & (self.keys.len() - 1)
    }

    /// The slot holding `key` (not `EMPTY`), or `Err` with the empty slot where it would go. The
    /// table must have a free slot.
    #[inline]
    fn find(&self, key: u64) -> Result<usize, usize> {
        let mask = self.keys.len() - 1;
        let mut i = self.home(key);
        loop {
            match self.keys[i] {
                k if k == key => return Ok(i),
                Self::EMPTY => return Err(i),
                _ => i = (i + 1) & mask,
            }
        }
    }

    #[inline]
    pub fn get(&self, key: u64) -> Option<&V> {
        if key == Self::EMPTY {
            return self.empty_key.as_ref();
        }
        if self.keys.is_empty() {
            return None;
        }
        self.values[self.find(key).ok()?].as_ref()
    }

    #[inline]
    pub fn get_mut(&mut self, key: u64) -> Option<&mut V> {
        if key == Self::EMPTY {
            return self.empty_key.as_mut();
        }
        if self.keys.is_empty() {
            return None;
        }
        let i = self.find(key).ok()?;
        self.values[i].as_mut()
    }

    /// The value of `key`, inserting `make()` first if it has none; and whether it was inserted.
    #[inline]
    pub fn get_or_insert_with(&mut self, key: u64, make: impl FnOnce() -> V) -> (&mut V, bool) {
        if key == Self::EMPTY {
            let new = self.empty_key.is_none();
            self.len += new as usize;
            return (self.empty_key.get_or_insert_with(make), new);
        }
        if (self.len + 1) * 8 > self.keys.len() * 7 {
            self.grow();
        }
        let (i, new) = match self.find(key) {
            Ok(i) => (i, false),
            Err(i) => {
                self.keys[i] = key;
                self.values[i] = Some(make());
                self.len += 1;
                (i, true)
            }
        };
        (self.values[i].as_mut().expect("a full slot"), new)
    }

    /// Removes `key`, returning its value. The slots after it that a probe reached through its
    /// slot move back into the gap (backward-shift deletion), so every key stays reachable.
    pub fn remove(&mut self, key: u64) -> Option<V> {
        if key == Self::EMPTY {
            let v = self.empty_key.take();
            self.len -= v.is_some() as usize;
            return v;
        }
        if self.keys.is_empty() {
            return None;
        }
        let mut gap = self.find(key).ok()?;
        let v = self.values[gap].take();
        self.keys[gap] = Self::EMPTY;
        self.len -= 1;
        let mask = self.keys.len() - 1;
        let mut i = gap;
        loop {
            i = (i + 1) & mask;
            let k = self.keys[i];
            if k == Self::EMPTY {
                break;
            }
            // The entry at `i` may fill the gap unless its home lies cyclically in (gap, i].
            let home = self.home(k);
            let stays = if gap <= i { gap < home && home <= i } else { gap < home || home <= i };
            if !stays {
                self.keys[gap] = std::mem::replace(&mut self.keys[i], Self::EMPTY);
                self.values[gap] = self.values[i].take();
                gap = i;
            }
        }
        v
    }

    #[cold]
    fn grow(&mut self) {
        let size = (self.keys.len() * 2).max(64);
        let keys = std::mem::replace(&mut self.keys, vec![Self::EMPTY; size]);
        let values = std::mem::replace(&mut self.values, std::iter::repeat_with(|| None).take(size).collect());
        for (k, v) in keys.into_iter().zip(values) {
            if k != Self::EMPTY {
                let i = self.find(k).expect_err("keys are distinct");
                self.keys[i] = k;
                self.values[i] = v;
            }
        }
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
        assert!(t.keys.iter().all(|&k| k == u64::MAX) && t.values.iter().all(Option::is_none));
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
