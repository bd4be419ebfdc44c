//! A replica's key lookup: an open-addressing table from a key to its value (linear probing over
//! keys hashed with `mix64`), with a small filter in front, looked up and never iterated, so its
//! layout (which depends on the order of inserts and removals) cannot reach the run. What must be
//! walked in key order keeps its own ordered list and sorts it (the server's ranges,
//! [`crate::node`]).
//!
//! It replaced the lookup in a `BTreeMap` per range: a read of one of a server's ~80,000 keys
//! walked a tree of scattered nodes, missing the cache at every level (16-18% of a full
//! `dynamo_10k` profile's samples); a probe here touches one slot, and the next few on a collision.
//! Keys and values are in two arrays by slot, so a probe, and an insert's search for a free slot
//! (most puts of a large key space write a new key), touch only 8-byte keys (a layout with key and
//! value side by side in one 40-byte slot was measured and lost: its probes span more cache lines,
//! see docs/performance.md, "Dynamo, round six"). Most lookups of a large key space are for keys the server does
//! not hold (a read of a key never written): those are answered by the filter in front, two bits
//! in one word of a bit array of half a byte per slot (64 KB for 80,000 keys, small enough to stay
//! in the processor's nearer caches where the 1 MB of keys does not), which lets through about one
//! absent key in thirteen. The filter is a superset of the keys (a removal leaves its bits set
//! until the filter is rebuilt from the keys), so it never hides a key. At most 7/8 of the slots
//! are full. Removal shifts the following run of slots back (no tombstones), so a table that
//! churns stays as fast as a new one.

use common::mix64;

pub struct KeyMap<V> {
    /// The keys by slot, `EMPTY` where none: a probe reads only these (8 bytes a slot, so the
    /// probes of a server's 80,000 keys touch 1 MB, not the 5 MB of keys beside values).
    keys: Vec<u64>,
    /// The values by slot, `Some` where `keys` has a key.
    values: Vec<Option<V>>,
    /// The filter: the bits of word `w` that every key's hash picks are set ([`KeyMap::bits`]);
    /// `keys.len() / 16` words (half a byte per slot).
    filter: Vec<u64>,
    /// Keys removed since the filter was last built: their bits may still be set.
    removed: usize,
    /// The value of key `EMPTY` itself, which has no slot.
    empty_key: Option<V>,
    len: usize,
}

impl<V> Default for KeyMap<V> {
    fn default() -> Self {
        KeyMap { keys: Vec::new(), values: Vec::new(), filter: Vec::new(), removed: 0, empty_key: None, len: 0 }
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

    /// The slot a probe for the key of hash `h` starts at.
    #[inline]
    fn home(&self, h: u64) -> usize {
        h as usize & (self.keys.len() - 1)
    }

    /// The filter's word for the key of hash `h`, and the two bits of it the key sets: taken from
    /// the hash's high bits (the home slot uses its low ones).
    #[inline]
    fn bits(&self, h: u64) -> (usize, u64) {
        let word = (h >> 32) as usize & (self.filter.len() - 1);
        (word, (1 << ((h >> 20) & 63)) | (1 << ((h >> 26) & 63)))
    }

    /// Whether the filter lets a key of hash `h` through (it may be in the table). The table must
    /// have slots.
    #[inline]
    fn may_hold(&self, h: u64) -> bool {
        let (w, b) = self.bits(h);
        self.filter[w] & b == b
    }

    /// The slot holding `key` (not `EMPTY`; `h` its hash), or `Err` with the empty slot where it
    /// would go. The table must have a free slot.
    #[inline]
    fn find(&self, key: u64, h: u64) -> Result<usize, usize> {
        let mask = self.keys.len() - 1;
        let mut i = self.home(h);
        loop {
            match self.keys[i] {
                k if k == key => return Ok(i),
                Self::EMPTY => return Err(i),
                _ => i = (i + 1) & mask,
            }
        }
    }

    /// The slot holding `key` (not `EMPTY`), asking the filter first.
    #[inline]
    fn lookup(&self, key: u64) -> Option<usize> {
        if self.keys.is_empty() {
            return None;
        }
        let h = mix64(key);
        if !self.may_hold(h) {
            return None;
        }
        self.find(key, h).ok()
    }

    #[inline]
    pub fn get(&self, key: u64) -> Option<&V> {
        if key == Self::EMPTY {
            return self.empty_key.as_ref();
        }
        self.values[self.lookup(key)?].as_ref()
    }

    #[inline]
    pub fn get_mut(&mut self, key: u64) -> Option<&mut V> {
        if key == Self::EMPTY {
            return self.empty_key.as_mut();
        }
        let i = self.lookup(key)?;
        self.values[i].as_mut()
    }

    /// Hints the cache to load what a look-up of `key` will read first: its filter word, its home
    /// slot's key and value. Changes nothing.
    #[inline]
    pub fn prefetch(&self, key: u64) {
        if self.keys.is_empty() {
            return;
        }
        let h = mix64(key);
        let i = self.home(h);
        sim_core::hint::prefetch(&self.filter[self.bits(h).0]);
        sim_core::hint::prefetch(&self.keys[i]);
        sim_core::hint::prefetch(&self.values[i]);
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
        let h = mix64(key);
        let (i, new) = match self.find(key, h) {
            Ok(i) => (i, false),
            Err(i) => {
                self.keys[i] = key;
                self.values[i] = Some(make());
                let (w, b) = self.bits(h);
                self.filter[w] |= b;
                self.len += 1;
                (i, true)
            }
        };
        (self.values[i].as_mut().expect("a full slot"), new)
    }

    /// Removes `key`, returning its value. The slots after it that a probe reached through its
    /// slot move back into the gap (backward-shift deletion), so every key stays reachable. Its
    /// filter bits stay set (they may be another key's too) until a quarter of the slots' worth
    /// of keys has left, when the filter is rebuilt (so a table that churns keeps its filter sharp,
    /// at an amortized `O(1)` per removal).
    pub fn remove(&mut self, key: u64) -> Option<V> {
        if key == Self::EMPTY {
            let v = self.empty_key.take();
            self.len -= v.is_some() as usize;
            return v;
        }
        let mut gap = self.lookup(key)?;
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
            let home = self.home(mix64(k));
            let stays = if gap <= i { gap < home && home <= i } else { gap < home || home <= i };
            if !stays {
                self.keys[gap] = std::mem::replace(&mut self.keys[i], Self::EMPTY);
                self.values[gap] = self.values[i].take();
                gap = i;
            }
        }
        self.removed += 1;
        if self.removed * 4 > self.keys.len() {
            self.rebuild_filter();
        }
        v
    }

    /// The filter of exactly the keys held.
    #[cold]
    fn rebuild_filter(&mut self) {
        self.filter.fill(0);
        for i in 0..self.keys.len() {
            let k = self.keys[i];
            if k != Self::EMPTY {
                let (w, b) = self.bits(mix64(k));
                self.filter[w] |= b;
            }
        }
        self.removed = 0;
    }

    /// Doubles the slots (at least 64) and builds the filter anew from the keys held.
    #[cold]
    fn grow(&mut self) {
        let size = (self.keys.len() * 2).max(64);
        let keys = std::mem::replace(&mut self.keys, vec![Self::EMPTY; size]);
        let values = std::mem::replace(&mut self.values, std::iter::repeat_with(|| None).take(size).collect());
        self.filter = vec![0; size / 16];
        self.removed = 0;
        for (k, v) in keys.into_iter().zip(values) {
            if k != Self::EMPTY {
                let h = mix64(k);
                let i = self.find(k, h).expect_err("keys are distinct");
                self.keys[i] = k;
                self.values[i] = v;
                let (w, b) = self.bits(h);
                self.filter[w] |= b;
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
        t.prefetch(u64::MAX);
        let mut x = 7u64;
        for step in 0..200_000u64 {
            x = mix64(x);
            let key = x % 3_000;
            // A hint (before any slot exists, too) changes nothing the table answers.
            t.prefetch(key);
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

    /// The filter never hides a key, and turns away most absent ones. With 10,000 keys in 16,384
    /// slots it has 1,024 words of 64 bits, ~9.8 keys (19.5 bits set, some twice) per word: a
    /// word is `1 - (63/64)^19.5` = 26% ones, so an absent key's two bits are both set with
    /// probability ~7% (a little more, as words differ in load; 7.4% measured); fewer than 10% of
    /// 100,000 absent keys may pass. Removing 9,000 keys rebuilds the filter twice (at every 4,097th removal), so
    /// only the ~800 removed since the last rebuild, and a few others, still pass.
    #[test]
    fn the_filter_keeps_every_key_and_turns_away_most_absent_ones() {
        let mut t = KeyMap::default();
        let present: Vec<u64> = (0..10_000u64).map(|i| mix64(i ^ 0xABC)).collect();
        for &k in &present {
            t.get_or_insert_with(k, || k);
        }
        assert_eq!(t.keys.len(), 16_384);
        assert!(present.iter().all(|&k| t.get(k) == Some(&k)));
        let passes =
            |t: &KeyMap<u64>, keys: &mut dyn Iterator<Item = u64>| keys.filter(|&k| t.may_hold(mix64(k))).count();
        let absent = passes(&t, &mut (0..100_000u64).map(|i| mix64(1_000_000 + i)));
        assert!(absent < 10_000, "{absent} of 100,000 absent keys passed the filter");
        // Remove 9,000 keys: the filter is rebuilt on the way, so most removed keys are turned away.
        for &k in &present[..9_000] {
            assert_eq!(t.remove(k), Some(k));
        }
        assert!(present[9_000..].iter().all(|&k| t.get(k) == Some(&k)));
        assert!(present[..9_000].iter().all(|&k| t.get(k).is_none()));
        let gone = passes(&t, &mut present[..9_000].iter().copied());
        assert!(gone < 2_000, "{gone} of 9,000 removed keys passed the filter");
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
