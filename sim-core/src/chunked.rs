//! A log in fixed-size chunks: a double-ended queue that never moves what it holds. The kernel
//! keeps each node's durable records in one, and `parts::log` each partition replica's entries.
//!
//! A `Vec` or `VecDeque` grows by doubling: each growth copies every entry into a new buffer, and
//! the copy's pages are touched fresh. On `monitoring_large` that growth was half the run's page
//! faults and its peak memory near twice the entries' (docs/performance.md, round thirty-two).
//! Here every chunk but the last holds exactly `CHUNK` entries, the first from `head` on; a new
//! chunk is allocated whole, and one emptied by the front is freed.

use std::collections::VecDeque;
use std::ops::{Bound, RangeBounds};

/// Entries per chunk (a `parts::log` entry is 48 bytes: a chunk of them is 48 KiB).
const CHUNK: usize = 1024;

#[derive(Clone, Debug)]
pub struct Chunked<T> {
    chunks: VecDeque<Vec<T>>,
    /// Entries of the first chunk already taken from the front.
    head: usize,
    len: usize,
}

impl<T> Default for Chunked<T> {
    fn default() -> Self {
        Chunked { chunks: VecDeque::new(), head: 0, len: 0 }
    }
}

impl<T> Chunked<T> {
    pub fn len(&self) -> usize {
        self.len
    }

    pub fn get(&self, i: usize) -> Option<&T> {
        if i >= self.len {
            return None;
        }
        let j = self.head + i;
        Some(&self.chunks[j / CHUNK][j % CHUNK])
    }

    pub fn front(&self) -> Option<&T> {
        self.get(0)
    }

    pub fn back(&self) -> Option<&T> {
        self.len.checked_sub(1).and_then(|i| self.get(i))
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    pub fn to_vec(&self) -> Vec<T>
    where
        T: Clone,
    {
        self.iter().cloned().collect()
    }

    pub fn iter(&self) -> Iter<'_, T> {
        let mut chunks = self.chunks.iter();
        let now = chunks.next().map_or(&[][..], |c| &c[self.head..]).iter();
        Iter { now, chunks }
    }

    /// The entries of `r`, which must lie within the log (as `VecDeque::range`).
    pub fn range(&self, r: impl RangeBounds<usize>) -> impl Iterator<Item = &T> {
        let from = match r.start_bound() {
            Bound::Included(&a) => a,
            Bound::Excluded(&a) => a + 1,
            Bound::Unbounded => 0,
        };
        let to = match r.end_bound() {
            Bound::Included(&b) => b + 1,
            Bound::Excluded(&b) => b,
            Bound::Unbounded => self.len,
        };
        assert!(from <= to && to <= self.len, "range {from}..{to} out of a log of {}", self.len);
        (from..to).map(move |i| &self[i])
    }

    pub fn push_back(&mut self, x: T) {
        match self.chunks.back_mut() {
            Some(last) if last.len() < CHUNK => last.push(x),
            _ => {
                // The first chunk grows as a vector does, so a short log stays small.
                let mut chunk = if self.chunks.is_empty() { Vec::new() } else { Vec::with_capacity(CHUNK) };
                chunk.push(x);
                self.chunks.push_back(chunk);
            }
        }
        self.len += 1;
    }

    pub fn pop_front(&mut self) -> Option<T>
    where
        T: Clone,
    {
        let x = self.front()?.clone();
        self.head += 1;
        self.len -= 1;
        if self.head == CHUNK || self.len == 0 {
            self.chunks.pop_front();
            self.head = 0;
        }
        Some(x)
    }

    /// Keeps the first `n` entries.
    pub fn truncate(&mut self, n: usize) {
        if n >= self.len {
            return;
        }
        let end = self.head + n;
        self.chunks.truncate(end.div_ceil(CHUNK));
        if let Some(last) = self.chunks.back_mut() {
            last.truncate(end - (end - 1) / CHUNK * CHUNK);
        }
        self.len = n;
        if n == 0 {
            self.clear();
        }
    }

    pub fn clear(&mut self) {
        self.chunks.clear();
        self.head = 0;
        self.len = 0;
    }
}

/// The entries in order.
pub struct Iter<'a, T> {
    now: std::slice::Iter<'a, T>,
    chunks: std::collections::vec_deque::Iter<'a, Vec<T>>,
}

impl<'a, T> Iterator for Iter<'a, T> {
    type Item = &'a T;
    #[inline]
    fn next(&mut self) -> Option<&'a T> {
        loop {
            if let Some(x) = self.now.next() {
                return Some(x);
            }
            self.now = self.chunks.next()?.iter();
        }
    }
}

impl<'a, T> IntoIterator for &'a Chunked<T> {
    type Item = &'a T;
    type IntoIter = Iter<'a, T>;
    fn into_iter(self) -> Iter<'a, T> {
        self.iter()
    }
}

impl<T> Extend<T> for Chunked<T> {
    fn extend<I: IntoIterator<Item = T>>(&mut self, items: I) {
        for x in items {
            self.push_back(x);
        }
    }
}

impl<T> std::ops::Index<usize> for Chunked<T> {
    type Output = T;
    fn index(&self, i: usize) -> &T {
        self.get(i).expect("index within the log")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every operation against a `VecDeque` doing the same, across chunk boundaries: pushes,
    /// pops, truncations (to none, within a chunk, to a chunk's end) and clears.
    #[test]
    fn a_chunked_log_does_what_a_vec_deque_does() {
        let mut rng = crate::rng::Prng::new(9, crate::rng::Stream::Setup);
        let (mut c, mut v) = (Chunked::default(), VecDeque::new());
        let (mut next, mut truncated_to_a_chunk_end) = (0u64, 0u32);
        for step in 0..20_000 {
            match rng.below(100) {
                0..=59 => {
                    for _ in 0..rng.below(400) {
                        c.push_back(next);
                        v.push_back(next);
                        next += 1;
                    }
                }
                60..=89 => {
                    for _ in 0..rng.below(300) {
                        assert_eq!(c.pop_front(), v.pop_front());
                    }
                }
                90..=97 => {
                    let n = match rng.below(3) {
                        0 => v.len().saturating_sub(rng.below(CHUNK as u64 * 2) as usize),
                        // To a chunk's end.
                        1 => {
                            let n = ((v.len() + c.head) / CHUNK * CHUNK).saturating_sub(c.head);
                            truncated_to_a_chunk_end += (0 < n && n < v.len()) as u32;
                            n
                        }
                        _ => 0,
                    };
                    c.truncate(n);
                    v.truncate(n);
                }
                _ => {
                    c.clear();
                    v.clear();
                }
            }
            assert_eq!(c.len(), v.len(), "step {step}");
            assert_eq!(c.front(), v.front());
            assert_eq!(c.back(), v.back());
            if step % 97 == 0 {
                assert!(c.iter().eq(v.iter()), "step {step}");
                for i in [0, v.len() / 2, v.len().saturating_sub(1), v.len()] {
                    assert_eq!(c.get(i), v.get(i));
                    assert!(c.range(i..).eq(v.range(i..)));
                    assert!(c.range(i / 2..i).eq(v.range(i / 2..i)));
                }
            }
            // No chunk is kept empty, and all but the last are full.
            let k = c.chunks.len();
            assert!(c.chunks.iter().take(k.saturating_sub(1)).all(|x| x.len() == CHUNK));
            assert!(c.chunks.back().is_none_or(|x| !x.is_empty()));
        }
        assert!(truncated_to_a_chunk_end > 100, "{truncated_to_a_chunk_end} truncations to a chunk's end");
    }
}
