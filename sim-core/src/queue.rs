//! The event queue: a total order on `(time, sequence number)`, FIFO among equal times.
//!
//! Two implementations with one interface, both over 24-byte keys `(time, seq, slot)` with the
//! payloads in a slab:
//! - [`HeapQueue`]: a `std::collections::BinaryHeap`.
//! - [`RadixQueue`]: a radix heap, built for integer time that never goes backwards (a discrete-event
//!   loop never schedules into the past). Keys sit in 65 buckets by the highest bit in which they
//!   differ from the last key popped; a pop empties the lowest bucket into lower ones. Pushes are
//!   appends, and each key moves at most 64 times in its life, so it is cache-friendly where a heap
//!   is bound by cache misses. Buckets keep insertion order, so equal times pop FIFO.
//!
//! [`EventQueue`] names the one the kernel uses; `simctl bench phold` measures both against the
//! bare `BinaryHeap` loop.

use crate::time::Time;
use std::cmp::Ordering;
use std::collections::BinaryHeap;

/// A heap entry: ordered by `(time, seq)` reversed, so the max-heap pops the earliest first. The
/// slot never takes part in the order (sequence numbers are unique).
#[derive(Clone, Copy)]
struct Entry {
    time: u64,
    seq: u64,
    slot: u32,
}

impl PartialEq for Entry {
    fn eq(&self, other: &Self) -> bool {
        self.seq == other.seq
    }
}
impl Eq for Entry {}
impl PartialOrd for Entry {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Entry {
    #[inline]
    fn cmp(&self, other: &Self) -> Ordering {
        (other.time, other.seq).cmp(&(self.time, self.seq))
    }
}

pub struct HeapQueue<T> {
    heap: BinaryHeap<Entry>,
    slab: Slab<T>,
    next_seq: u64,
}

impl<T> Default for HeapQueue<T> {
    fn default() -> Self {
        Self::with_capacity(0)
    }
}

impl<T> HeapQueue<T> {
    pub fn with_capacity(n: usize) -> Self {
        HeapQueue { heap: BinaryHeap::with_capacity(n), slab: Slab::with_capacity(n), next_seq: 0 }
    }

    /// Schedules `event` at `time`; returns its sequence number (the tie-breaker).
    #[inline]
    pub fn push(&mut self, time: Time, event: T) -> u64 {
        let seq = self.next_seq;
        self.next_seq += 1;
        let slot = self.slab.insert(event);
        self.heap.push(Entry { time: time.0, seq, slot });
        seq
    }

    /// The earliest event, with its time and sequence number.
    #[inline]
    pub fn pop(&mut self) -> Option<(Time, u64, T)> {
        let Entry { time, seq, slot } = self.heap.pop()?;
        Some((Time(time), seq, self.slab.take(slot)))
    }

    pub fn peek_time(&mut self) -> Option<Time> {
        self.heap.peek().map(|e| Time(e.time))
    }

    pub fn len(&self) -> usize {
        self.heap.len()
    }

    pub fn is_empty(&self) -> bool {
        self.heap.is_empty()
    }
}

/// The queue the kernel uses.
pub type EventQueue<T> = RadixQueue<T>;

/// Payload storage shared by both queues: a slab with a free list.
struct Slab<T> {
    items: Vec<Option<T>>,
    free: Vec<u32>,
}

impl<T> Slab<T> {
    fn with_capacity(n: usize) -> Self {
        Slab { items: Vec::with_capacity(n), free: Vec::new() }
    }
    #[inline]
    fn insert(&mut self, item: T) -> u32 {
        match self.free.pop() {
            Some(s) => {
                self.items[s as usize] = Some(item);
                s
            }
            None => {
                self.items.push(Some(item));
                u32::try_from(self.items.len() - 1).expect("more than 2^32 pending events")
            }
        }
    }
    #[inline]
    fn take(&mut self, slot: u32) -> T {
        let item = self.items[slot as usize].take().expect("queue slot empty");
        self.free.push(slot);
        item
    }
}

const BUCKETS: usize = 65;

pub struct RadixQueue<T> {
    /// Bucket 0 holds keys equal to `last`; bucket b > 0 keys whose highest bit differing from
    /// `last` is bit b - 1.
    buckets: Vec<Vec<Entry>>,
    /// Bucket 0 is consumed from the front.
    head0: usize,
    last: u64,
    len: usize,
    slab: Slab<T>,
    next_seq: u64,
}

impl<T> Default for RadixQueue<T> {
    fn default() -> Self {
        Self::with_capacity(0)
    }
}

#[inline]
fn bucket_of(key: u64, last: u64) -> usize {
    (64 - (key ^ last).leading_zeros()) as usize
}

impl<T> RadixQueue<T> {
    pub fn with_capacity(n: usize) -> Self {
        RadixQueue {
            buckets: (0..BUCKETS).map(|_| Vec::new()).collect(),
            head0: 0,
            last: 0,
            len: 0,
            slab: Slab::with_capacity(n),
            next_seq: 0,
        }
    }

    /// Schedules `event` at `time`; returns its sequence number (the tie-breaker).
    #[inline]
    pub fn push(&mut self, time: Time, event: T) -> u64 {
        let seq = self.next_seq;
        self.next_seq += 1;
        let slot = self.slab.insert(event);
        if time.0 < self.last {
            self.rebase(time.0);
        }
        self.buckets[bucket_of(time.0, self.last)].push(Entry { time: time.0, seq, slot });
        self.len += 1;
        seq
    }

    /// A key below `last` (after a peek moved `last` past the present): re-file every key relative
    /// to the new, lower `last`. Rare: only at phase boundaries of a run.
    #[cold]
    fn rebase(&mut self, new_last: u64) {
        let mut all: Vec<Entry> = Vec::with_capacity(self.len);
        all.extend(self.buckets[0].drain(..).skip(self.head0));
        self.head0 = 0;
        for b in 1..BUCKETS {
            all.append(&mut self.buckets[b]);
        }
        // Re-filing by key only keeps FIFO among equal keys if they go back in sequence order.
        all.sort_by_key(|e| (e.time, e.seq));
        self.last = new_last;
        for e in all {
            self.buckets[bucket_of(e.time, new_last)].push(e);
        }
    }

    /// Makes bucket 0 non-empty (unless the queue is empty): empties the lowest non-empty bucket
    /// into lower ones, relative to its smallest key.
    #[inline]
    fn refill(&mut self) -> bool {
        if self.head0 < self.buckets[0].len() {
            return true;
        }
        self.buckets[0].clear();
        self.head0 = 0;
        if self.len == 0 {
            return false;
        }
        let b = (1..BUCKETS).find(|&b| !self.buckets[b].is_empty()).expect("len > 0 but all buckets empty");
        let mut moving = std::mem::take(&mut self.buckets[b]);
        let min = moving.iter().map(|e| e.time).min().expect("non-empty");
        self.last = min;
        for e in moving.drain(..) {
            self.buckets[bucket_of(e.time, min)].push(e);
        }
        // Keep the emptied bucket's allocation only while it is small: a bucket that once held most of
        // the queue would otherwise pin that much memory in every bucket it ever passed through
        // (measured: 517 MB peak for PHOLD huge with every allocation kept).
        if moving.capacity() <= 4096 {
            self.buckets[b] = moving;
        }
        true
    }

    /// The earliest event, with its time and sequence number.
    #[inline]
    pub fn pop(&mut self) -> Option<(Time, u64, T)> {
        if !self.refill() {
            return None;
        }
        let e = self.buckets[0][self.head0];
        self.head0 += 1;
        self.len -= 1;
        Some((Time(e.time), e.seq, self.slab.take(e.slot)))
    }

    pub fn peek_time(&mut self) -> Option<Time> {
        if self.refill() { Some(Time(self.last)) } else { None }
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn orders_by_time_then_fifo() {
        macro_rules! pops_in_order {
            ($q:expr) => {{
                let mut q = $q;
                for (t, e) in [(5, "c"), (1, "a"), (5, "d"), (1, "b")] {
                    q.push(Time(t), e);
                }
                let order: Vec<&str> = std::iter::from_fn(|| q.pop().map(|e| e.2)).collect();
                assert_eq!(order, ["a", "b", "c", "d"]);
            }};
        }
        pops_in_order!(HeapQueue::default());
        pops_in_order!(RadixQueue::default());
    }
}

#[cfg(test)]
mod radix_tests {
    use super::*;
    use crate::rng::{Prng, Stream};

    /// The radix queue pops exactly what the heap pops, in the same order, for a DES-like mix of
    /// pushes (never into the past of the last pop, many equal times) and the odd push into the
    /// past after a peek.
    #[test]
    fn radix_matches_heap_exactly() {
        let mut rng = Prng::new(11, Stream::Setup);
        let mut h = HeapQueue::default();
        let mut r = RadixQueue::default();
        let mut now = 0u64;
        let mut popped = 0;
        for step in 0..200_000u64 {
            let pushes = rng.below(3);
            for _ in 0..pushes {
                let dt = match rng.below(4) {
                    0 => 0,
                    1 => rng.below(10),
                    2 => rng.below(1 << 20),
                    _ => rng.below(1 << 40),
                };
                let a = h.push(Time(now + dt), step);
                let b = r.push(Time(now + dt), step);
                assert_eq!(a, b);
            }
            if step % 1000 == 999 {
                // Peek far ahead, then push at the present: the rebase path.
                assert_eq!(h.peek_time(), r.peek_time());
                h.push(Time(now), step);
                r.push(Time(now), step);
            }
            if rng.below(2) == 0 || pushes == 0 {
                let (x, y) = (h.pop(), r.pop());
                assert_eq!(x, y, "after {popped} pops");
                if let Some((t, _, _)) = x {
                    now = t.0;
                    popped += 1;
                }
            }
            assert_eq!(h.len(), r.len());
        }
        while let Some(x) = h.pop() {
            assert_eq!(Some(x), r.pop());
        }
        assert!(r.is_empty());
    }
}
