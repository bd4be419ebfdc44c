//! The event queue: a total order on `(time, sequence number)`, FIFO among equal times.
//!
//! A binary heap of small fixed-size keys `(time, seq, slot)`; payloads live in a slab so that heap
//! sift operations move 16 bytes, not whole events.

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

pub struct EventQueue<T> {
    heap: BinaryHeap<Entry>,
    slab: Vec<Option<T>>,
    free: Vec<u32>,
    next_seq: u64,
}

impl<T> Default for EventQueue<T> {
    fn default() -> Self {
        EventQueue { heap: BinaryHeap::new(), slab: Vec::new(), free: Vec::new(), next_seq: 0 }
    }
}

impl<T> EventQueue<T> {
    pub fn with_capacity(n: usize) -> Self {
        EventQueue { heap: BinaryHeap::with_capacity(n), slab: Vec::with_capacity(n), free: Vec::new(), next_seq: 0 }
    }

    /// Schedules `event` at `time`; returns its sequence number (the tie-breaker).
    #[inline]
    pub fn push(&mut self, time: Time, event: T) -> u64 {
        let seq = self.next_seq;
        self.next_seq += 1;
        let slot = match self.free.pop() {
            Some(s) => {
                self.slab[s as usize] = Some(event);
                s
            }
            None => {
                self.slab.push(Some(event));
                u32::try_from(self.slab.len() - 1).expect("more than 2^32 pending events")
            }
        };
        self.heap.push(Entry { time: time.0, seq, slot });
        seq
    }

    /// The earliest event, with its time and sequence number.
    #[inline]
    pub fn pop(&mut self) -> Option<(Time, u64, T)> {
        let Entry { time, seq, slot } = self.heap.pop()?;
        let event = self.slab[slot as usize].take().expect("queue slot empty");
        self.free.push(slot);
        Some((Time(time), seq, event))
    }

    pub fn peek_time(&self) -> Option<Time> {
        self.heap.peek().map(|e| Time(e.time))
    }

    pub fn len(&self) -> usize {
        self.heap.len()
    }

    pub fn is_empty(&self) -> bool {
        self.heap.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn orders_by_time_then_fifo() {
        let mut q = EventQueue::default();
        q.push(Time(5), "c");
        q.push(Time(1), "a");
        q.push(Time(5), "d");
        q.push(Time(1), "b");
        let order: Vec<&str> = std::iter::from_fn(|| q.pop().map(|e| e.2)).collect();
        assert_eq!(order, ["a", "b", "c", "d"]);
    }
}
