//! The event queue: a total order on `(time, sequence number)`, FIFO among equal times.
//!
//! Two implementations with one interface, both over 24-byte keys `(time, seq, slot)` with the
//! payloads in a slab:
//! - [`HeapQueue`]: a `std::collections::BinaryHeap`.
//! - [`RadixQueue`]: a radix heap, built for integer time that never goes backwards (a discrete-event
//!   loop never schedules into the past). Keys sit in buckets by the highest base-64 digit in
//!   which they differ from the last key popped, and that digit's value (11 levels of 64 buckets,
//!   occupancy in bit masks); a pop that finds the bottom (keys equal to the last) empty moves the
//!   lowest non-empty bucket down, relative to its smallest key. Pushes are appends, and a key
//!   moves down at least one level per move: about `log64` of the pending keys per key (the
//!   binary radix heap this replaced moved keys `log2` times, ~10 per PHOLD event at 1,024
//!   pending, 30% of the kernel's instructions). Buckets keep insertion order, so equal times pop
//!   FIFO. A bucket of at most `RUN_MAX` keys is not re-filed but sorted whole into the run that
//!   pops take from (pushes into its range are inserted in order), so keys spread thin, a few to
//!   a bucket, cost one sort per bucket rather than a refill per pop (PHOLD small: ~4 pops per
//!   refill).
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

    /// Takes the next sequence number for an event pushed later with [`HeapQueue::push_late`].
    #[inline]
    pub fn reserve_seq(&mut self) -> u64 {
        self.next_seq += 1;
        self.next_seq - 1
    }

    /// Schedules `event` at `time` under `seq`, a number [`HeapQueue::reserve_seq`] gave.
    pub fn push_late(&mut self, time: Time, seq: u64, event: T) {
        debug_assert!(seq < self.next_seq, "sequence number {seq} was never reserved");
        let slot = self.slab.insert(event);
        self.heap.push(Entry { time: time.0, seq, slot });
    }

    /// The earliest event, with its time and sequence number.
    #[inline]
    pub fn pop(&mut self) -> Option<(Time, u64, T)> {
        let Entry { time, seq, slot } = self.heap.pop()?;
        Some((Time(time), seq, self.slab.take(slot)))
    }

    pub fn peek_time(&mut self) -> Option<Time> {
        self.peek_key().map(|(t, _)| t)
    }

    /// The earliest event's time and sequence number.
    pub fn peek_key(&mut self) -> Option<(Time, u64)> {
        self.heap.peek().map(|e| (Time(e.time), e.seq))
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

/// Bits of the key per digit of the radix queue, and so buckets per level (`1 << DIGIT_BITS`).
const DIGIT_BITS: u32 = 6;
const DIGITS: usize = 1 << DIGIT_BITS;
const LEVELS: usize = 64_usize.div_ceil(DIGIT_BITS as usize);
/// An emptied bucket keeps its allocation up to this many keys (see `refill_from_above`).
const KEEP_CAPACITY: usize = 1024;
/// A bucket of at most this many keys is sorted into the run whole rather than re-filed.
const RUN_MAX: usize = 64;
/// The digit counts of `deal_by_digit` are bytes.
const _: () = assert!(RUN_MAX <= u8::MAX as usize);
/// A bucket of at least this many keys is dealt out by a digit before the insertion sort
/// (`sort_into`); a smaller one is insertion-sorted as it is.
const DEAL_MIN: usize = 21;

/// Moves the keys of `bucket` (at most `RUN_MAX`, in sequence order, every one in bucket `(level,
/// d)` for one `d`) to the end of `run`, sorted by time, equal times in sequence order.
///
/// The keys agree from digit `level` up: at level 0 they are equal, and already in order. Above,
/// up to `DEAL_MIN - 1` keys are insertion-sorted as they are; more are first dealt out by the
/// digit below `level` (`deal_by_digit`), which leaves the insertion sort only the few keys that
/// share a digit to order. Both steps are stable, and the code is a few hundred bytes: the std
/// sorts (the stable one's insertion and merge sorts; `sort_unstable` of the keys as words, their
/// low time bits and their index) were ~10 KB of sorting code, taken once per refill and evicted
/// from the instruction cache by the models' handlers in between (27 I1 misses and ~1,550
/// instructions per `sort_unstable` in the Dynamo cut; see docs/performance.md, "Round ten").
#[inline]
fn sort_into(bucket: &mut Vec<Entry>, level: usize, run: &mut Vec<Entry>) {
    debug_assert!(bucket.len() <= RUN_MAX);
    let from = run.len();
    if level > 0 && bucket.len() >= DEAL_MIN {
        deal_by_digit(bucket, level - 1, run);
    } else {
        run.append(bucket);
    }
    if level > 0 {
        insertion_sort_by_time(&mut run[from..]);
    }
}

/// Appends the keys of `bucket` to `run` ordered by their digit `digit` (a counting sort: keys of
/// one digit keep their order), and empties `bucket`.
fn deal_by_digit(bucket: &mut Vec<Entry>, digit: usize, run: &mut Vec<Entry>) {
    let shift = digit as u32 * DIGIT_BITS;
    let digit_of = |e: &Entry| (e.time >> shift) as usize & (DIGITS - 1);
    let mut next = [0u8; DIGITS];
    for e in bucket.iter() {
        next[digit_of(e)] += 1;
    }
    // From counts to where each digit's first key goes.
    let mut at = 0;
    for n in &mut next {
        let count = *n;
        *n = at;
        at += count;
    }
    let from = run.len();
    run.resize(from + bucket.len(), Entry { time: 0, seq: 0, slot: 0 });
    for &e in bucket.iter() {
        let d = digit_of(&e);
        run[from + next[d] as usize] = e;
        next[d] += 1;
    }
    bucket.clear();
}

/// Sorts `keys` by time, stably: each key moves left past the later times before it.
fn insertion_sort_by_time(keys: &mut [Entry]) {
    for i in 1..keys.len() {
        let e = keys[i];
        let mut j = i;
        while j > 0 && keys[j - 1].time > e.time {
            keys[j] = keys[j - 1];
            j -= 1;
        }
        keys[j] = e;
    }
}

pub struct RadixQueue<T> {
    /// The run being popped: keys sorted by `(time, seq)`, consumed from `head`, every one within
    /// `span` of `last` (`time ^ last < span`); no bucket holds a key of that range.
    bottom: Vec<Entry>,
    head: usize,
    /// A power of two: keys whose bits from `log2(span)` up agree with `last` belong to the run.
    /// 1 (keys equal to `last` only) after a large bucket was re-filed; the whole range of a small
    /// bucket taken as the run (`RUN_MAX`).
    span: u64,
    /// Bucket `level * DIGITS + d` holds the keys whose highest base-64 digit that differs from
    /// `last` is digit `level`, and is `d` there.
    buckets: Vec<Vec<Entry>>,
    /// Bit `level`: some bucket of that level is non-empty.
    levels: u32,
    /// Per level, bit `d`: bucket `(level, d)` is non-empty.
    digits: [u64; LEVELS],
    /// Per level, bit `d`: bucket `(level, d)` holds a key pushed late ([`RadixQueue::push_late`]),
    /// so its order is not sequence order among equal times until it is sorted.
    late: [u64; LEVELS],
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

/// Where `key` goes relative to `last` (`key >= last`): `None` if equal (the bottom), else
/// `(level, digit)`.
#[inline]
fn bucket_of(key: u64, last: u64) -> Option<(usize, usize)> {
    let x = key ^ last;
    if x == 0 {
        return None;
    }
    let level = (63 - x.leading_zeros()) / DIGIT_BITS;
    Some((level as usize, ((key >> (level * DIGIT_BITS)) as usize) & (DIGITS - 1)))
}

impl<T> RadixQueue<T> {
    pub fn with_capacity(n: usize) -> Self {
        RadixQueue {
            bottom: Vec::new(),
            head: 0,
            span: 1,
            buckets: (0..LEVELS * DIGITS).map(|_| Vec::new()).collect(),
            levels: 0,
            digits: [0; LEVELS],
            late: [0; LEVELS],
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
        let e = Entry { time: time.0, seq, slot };
        if e.time ^ self.last < self.span {
            self.insert_in_run(e);
        } else {
            self.file(e);
        }
        self.len += 1;
        seq
    }

    /// Takes the next sequence number for an event pushed later with [`RadixQueue::push_late`]:
    /// the queue's numbering goes on as if it had been pushed now.
    #[inline]
    pub fn reserve_seq(&mut self) -> u64 {
        self.next_seq += 1;
        self.next_seq - 1
    }

    /// Schedules `event` at `time` under `seq`, a number [`RadixQueue::reserve_seq`] gave: it
    /// pops in its place by `(time, seq)`, before any key of its time pushed since the number was
    /// reserved. Pushes rely on sequence numbers growing (a bucket keeps push order, equal times
    /// pop FIFO), so a late key goes to its place in the run, or marks its bucket `late`, which
    /// is sorted by `(time, seq)` before it is taken apart. For the few keys that wait outside the
    /// queue (the timer lanes of [`crate::world`]); each costs a search of the run or one sort.
    pub fn push_late(&mut self, time: Time, seq: u64, event: T) {
        debug_assert!(seq < self.next_seq, "sequence number {seq} was never reserved");
        let slot = self.slab.insert(event);
        if time.0 < self.last {
            self.rebase(time.0);
        }
        self.place_late(Entry { time: time.0, seq, slot });
        self.len += 1;
    }

    fn place_late(&mut self, e: Entry) {
        if e.time ^ self.last >= self.span {
            let (level, d) = bucket_of(e.time, self.last).expect("a key outside the run differs from last");
            self.late[level] |= 1 << d;
            return self.file(e);
        }
        if self.span > 1 && self.bottom.len() - self.head >= 2 * RUN_MAX {
            // As `insert_in_run`: the run is filed back, and `e` placed anew (the run's span is 1 now).
            self.spill_run(e.time);
            return self.place_late(e);
        }
        self.insert_sorted(e, |k| (k.time, k.seq) < (e.time, e.seq));
    }

    /// A key within the run's range goes to its place in the run: after every key of its time or
    /// earlier (its sequence number is the highest yet). A run that has grown long is filed back
    /// into the buckets instead, so an insertion never shifts more than `RUN_MAX * 2` keys.
    fn insert_in_run(&mut self, e: Entry) {
        if self.span == 1 {
            // Every key of the run equals `last`, and so does this one: it goes last.
            self.bottom.push(e);
            return;
        }
        if self.bottom.len() - self.head >= 2 * RUN_MAX {
            self.spill_run(e.time);
            self.file(e);
            return;
        }
        self.insert_sorted(e, |k| k.time <= e.time);
    }

    /// Puts `e` in its place in the run, after the keys `before` says go first (the run's
    /// first keys, up to its place: `before` is true, then false), moving whichever side of it is
    /// shorter, one key at a time as the place is sought: if it goes before the run's middle key
    /// and a popped slot is free below `head`, the keys before it move down into it, else the
    /// keys after it move up. Most pushes into a run are due soon (Kafka's cut: ~11 keys before
    /// the place and ~19 after), and a run holds at most `2 * RUN_MAX` keys, so the walk is short,
    /// and shorter than a binary search and a `memmove` call (docs/performance.md, "Round
    /// seventeen").
    #[inline]
    fn insert_sorted(&mut self, e: Entry, before: impl Fn(&Entry) -> bool) {
        let (head, len) = (self.head, self.bottom.len());
        let run = &mut self.bottom;
        if head > 0 && len > head && !before(&run[(head + len) / 2]) {
            let mut i = head;
            while before(&run[i]) {
                run[i - 1] = run[i];
                i += 1;
            }
            run[i - 1] = e;
            self.head -= 1;
        } else {
            run.push(e);
            // On a slice of the run, whose length the walk's indices provably stay below.
            let run = &mut run[head..];
            let mut i = run.len() - 1;
            while i > 0 && !before(&run[i - 1]) {
                run[i] = run[i - 1];
                i -= 1;
            }
            run[i] = e;
        }
    }

    /// The run's keys go back into the buckets relative to the earliest of them or `floor` (the
    /// time of the key being pushed, which may be earlier than every key left in the run), which
    /// becomes `last`, and the run holds keys equal to `last` only. Every bucket below the run's
    /// level is empty (the run took the lowest), and the run is sorted, so equal keys stay FIFO.
    #[cold]
    fn spill_run(&mut self, floor: u64) {
        let run: Vec<Entry> = self.bottom.drain(..).skip(self.head).collect();
        self.head = 0;
        self.span = 1;
        self.last = run.first().map_or(floor, |e| e.time.min(floor));
        for e in run {
            self.file(e);
        }
    }

    /// Puts `e` (not below `last`) in its bucket relative to `last`.
    #[inline]
    fn file(&mut self, e: Entry) {
        match bucket_of(e.time, self.last) {
            None => self.bottom.push(e),
            Some((level, d)) => {
                self.buckets[level * DIGITS + d].push(e);
                self.levels |= 1 << level;
                self.digits[level] |= 1 << d;
            }
        }
    }

    /// A key below `last` (after a peek moved `last` past the present): re-file every key relative
    /// to the new, lower `last`. Rare: only at phase boundaries of a run.
    #[cold]
    fn rebase(&mut self, new_last: u64) {
        let mut all: Vec<Entry> = Vec::with_capacity(self.len);
        all.extend(self.bottom.drain(..).skip(self.head));
        self.head = 0;
        self.span = 1;
        for b in &mut self.buckets {
            all.append(b);
        }
        // Re-filing by key only keeps FIFO among equal keys if they go back in sequence order.
        all.sort_by_key(|e| (e.time, e.seq));
        self.last = new_last;
        self.levels = 0;
        self.digits = [0; LEVELS];
        self.late = [0; LEVELS];
        for e in all {
            self.file(e);
        }
    }

    /// Makes the bottom non-empty (unless the queue is empty).
    #[inline]
    fn refill(&mut self) -> bool {
        if self.head < self.bottom.len() {
            return true;
        }
        self.refill_from_above()
    }

    /// The bottom is used up: the lowest non-empty bucket (lowest level, lowest digit: it holds
    /// the smallest keys) is emptied into the buckets below it relative to its smallest key, which
    /// becomes `last`. Every bucket below it is empty, so its keys keep their order (equal times
    /// stay FIFO), and each key moves down at least one level per move: about `log64` of the keys
    /// pending moves per key, where the binary radix heap made `log2`. A small bucket becomes the
    /// run instead.
    fn refill_from_above(&mut self) -> bool {
        self.bottom.clear();
        self.head = 0;
        if self.len == 0 {
            return false;
        }
        debug_assert!(self.levels != 0, "len > 0 but all buckets empty");
        let level = self.levels.trailing_zeros() as usize;
        let d = self.digits[level].trailing_zeros() as usize;
        self.digits[level] &= !(1 << d);
        if self.digits[level] == 0 {
            self.levels &= !(1 << level);
        }
        let (below, from) = self.buckets.split_at_mut(level * DIGITS + d);
        let moving = &mut from[0];
        if self.late[level] & (1 << d) != 0 {
            // A late key is out of push order: sorted, the bucket is in the order every step
            // below relies on (equal times in sequence order).
            self.late[level] &= !(1 << d);
            moving.sort_by_key(|e| (e.time, e.seq));
        }
        if moving.len() <= RUN_MAX {
            // A few keys (most refills once keys are spread thin: PHOLD small, 1,024 pending, has
            // ~4 in a bucket of level 2): the bucket becomes the run, sorted, and pops take it
            // key by key with no refill in between. A bucket keeps its keys in sequence order,
            // and the sort is stable, so equal times stay FIFO. Later pushes into the bucket's
            // range (the keys that agree with its first from digit `level` up) join the run.
            sort_into(moving, level, &mut self.bottom);
            self.last = self.bottom[0].time;
            self.span = 1 << (level as u32 * DIGIT_BITS);
            return true;
        }
        let min = moving.iter().map(|e| e.time).min().expect("a marked bucket is non-empty");
        self.last = min;
        self.span = 1;
        for e in moving.drain(..) {
            match bucket_of(e.time, min) {
                None => self.bottom.push(e),
                Some((l, d)) => {
                    below[l * DIGITS + d].push(e);
                    self.levels |= 1 << l;
                    self.digits[l] |= 1 << d;
                }
            }
        }
        // Keep the emptied bucket's allocation only while it is small: a bucket that once held most of
        // the queue would otherwise pin that much memory in every bucket it ever passed through
        // (measured: 517 MB peak for PHOLD huge with every allocation kept).
        if moving.capacity() > KEEP_CAPACITY {
            *moving = Vec::new();
        }
        true
    }

    /// The earliest event, with its time and sequence number.
    #[inline]
    pub fn pop(&mut self) -> Option<(Time, u64, T)> {
        if !self.refill() {
            return None;
        }
        let e = self.bottom[self.head];
        self.head += 1;
        self.len -= 1;
        Some((Time(e.time), e.seq, self.slab.take(e.slot)))
    }

    pub fn peek_time(&mut self) -> Option<Time> {
        self.peek_key().map(|(t, _)| t)
    }

    /// The earliest event's time and sequence number.
    #[inline]
    pub fn peek_key(&mut self) -> Option<(Time, u64)> {
        if self.refill() {
            let e = self.bottom[self.head];
            Some((Time(e.time), e.seq))
        } else {
            None
        }
    }

    /// The next event, if the sorted run in hand holds it: for a cache hint about what it will
    /// touch. Also hints the cache to load the payload of the one after it. It does not refill
    /// the run: a refill moves the queue's base up to the next event's time, and the handler
    /// about to run would then push below it (a rebase: measured, 3% more instructions in the
    /// Dynamo cut than the hints saved).
    #[inline]
    pub fn peek_next(&self) -> Option<&T> {
        let e = self.bottom.get(self.head)?;
        if let Some(after) = self.bottom.get(self.head + 1) {
            crate::hint::prefetch(&self.slab.items[after.slot as usize]);
        }
        self.slab.items[e.slot as usize].as_ref()
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
                let dt = match rng.below(50) {
                    0..12 => 0,
                    12..24 => rng.below(10),
                    24..36 => rng.below(1 << 20),
                    36..49 => rng.below(1 << 40),
                    _ => rng.next_u64() >> rng.below(4), // the top levels, up to u64::MAX
                };
                let at = Time(now.saturating_add(dt));
                let a = h.push(at, step);
                let b = r.push(at, step);
                assert_eq!(a, b);
            }
            if step % 1000 == 999 {
                // Peek far ahead, then push at the present: the rebase path.
                assert_eq!(h.peek_time(), r.peek_time());
                h.push(Time(now), step);
                r.push(Time(now), step);
            }
            if rng.below(2) == 0 || pushes == 0 {
                let peeked = r.peek_key();
                assert_eq!(h.peek_key(), peeked, "after {popped} pops");
                let (x, y) = (h.pop(), r.pop());
                assert_eq!(x, y, "after {popped} pops");
                assert_eq!(x.map(|(t, seq, _)| (t, seq)), peeked, "the key peeked is the one popped");
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

    /// What `peek_next` shows after a pop is the payload the next pop returns (when no push comes
    /// between), and it shows one for most pops (not when the sorted run in hand is used up).
    #[test]
    fn peek_next_shows_the_next_pop() {
        let mut rng = Prng::new(17, Stream::Setup);
        let mut r = RadixQueue::default();
        for i in 0..50_000u64 {
            r.push(Time(rng.below(1 << (4 * (i % 8) + 4))), i);
        }
        let (mut shown, mut pops) = (0, 0);
        let mut expect = None;
        while let Some((_, _, x)) = r.pop() {
            if let Some(e) = expect {
                assert_eq!(x, e, "after {pops} pops");
            }
            pops += 1;
            expect = r.peek_next().copied();
            shown += expect.is_some() as u64;
        }
        assert_eq!(pops, 50_000);
        assert!(shown * 10 > pops * 7, "shown for {shown} of {pops} pops");
    }

    /// Keys pushed late (`push_late`, under a number reserved earlier) pop in their place by
    /// `(time, seq)` among keys pushed since, in the run, in a bucket taken whole or dealt out:
    /// the same pops as the heap, which orders by `(time, seq)` whatever the push order.
    #[test]
    fn late_pushes_pop_in_sequence_order() {
        let mut rng = Prng::new(13, Stream::Setup);
        let mut h = HeapQueue::default();
        let mut r = RadixQueue::default();
        let mut now = 0u64;
        // Reserved `(time, seq)` not pushed yet; `time` never before the last pop.
        let mut waiting: Vec<(u64, u64)> = Vec::new();
        let mut late = 0;
        for step in 0..300_000u64 {
            for _ in 0..rng.below(3) {
                // Few distinct offsets, so equal times are common.
                let dt = match rng.below(4) {
                    0 => 0,
                    1 => rng.below(4) * 16,
                    2 => rng.below(4) << 12,
                    _ => rng.below(4) << 24,
                };
                let at = now + dt;
                if rng.below(3) == 0 {
                    let seq = h.reserve_seq();
                    assert_eq!(seq, r.reserve_seq());
                    waiting.push((at, seq));
                } else {
                    assert_eq!(h.push(Time(at), step), r.push(Time(at), step));
                }
            }
            // The earliest waiting key must go in before it is due: push it, and a random other.
            if let Some(i) = (0..waiting.len()).min_by_key(|&i| waiting[i])
                && (h.peek_time().is_none_or(|t| t.0 >= waiting[i].0) || rng.below(4) == 0)
            {
                let (at, seq) = waiting.swap_remove(i);
                h.push_late(Time(at), seq, step);
                r.push_late(Time(at), seq, step);
                late += 1;
            }
            let earliest = waiting.iter().map(|w| w.0).min().unwrap_or(u64::MAX);
            if rng.below(2) == 0 && h.peek_time().is_some_and(|t| t.0 < earliest) {
                let (x, y) = (h.pop(), r.pop());
                assert_eq!(x, y, "at step {step}");
                if let Some((t, _, _)) = x {
                    now = t.0;
                }
            }
            assert_eq!(h.len(), r.len());
        }
        for (at, seq) in waiting {
            h.push_late(Time(at), seq, 0);
            r.push_late(Time(at), seq, 0);
        }
        while let Some(x) = h.pop() {
            assert_eq!(Some(x), r.pop());
        }
        assert!(r.is_empty());
        assert!(late > 50_000, "{late} late pushes");
    }

    /// A push that overflows the run (`spill_run`) and is earlier than every key left in it: the
    /// run is filed back relative to the pushed key, not to the run's first key (filed relative to
    /// a later `last`, the key landed in a bucket and popped after the run's keys).
    #[test]
    fn a_push_before_a_full_run_pops_first() {
        let mut h = HeapQueue::default();
        let mut r = RadixQueue::default();
        let base = 1 << 20;
        assert_eq!(h.push(Time(base), 0), r.push(Time(base), 0));
        assert_eq!(h.pop(), r.pop());
        // The run (a bucket of level 2 taken whole: 4,096 ns) fills with 2 * RUN_MAX keys after
        // `base + 100`.
        for i in 0..2 * RUN_MAX as u64 {
            assert_eq!(h.push(Time(base + 100 + i), i), r.push(Time(base + 100 + i), i));
        }
        assert_eq!(h.push(Time(base + 50), 999), r.push(Time(base + 50), 999));
        while let Some(x) = h.pop() {
            assert_eq!(Some(x), r.pop());
        }
        assert!(r.is_empty());
    }

    /// `sort_into` is the stable sort by time, at every level, dealt out by a digit or not:
    /// buckets of random sizes, with keys agreeing from the level's digit up and many equal times.
    #[test]
    fn sort_into_is_the_stable_sort_by_time() {
        let mut rng = Prng::new(7, Stream::Setup);
        for round in 0..20_000u64 {
            let level = rng.below(LEVELS as u64) as usize;
            let low_bits = level as u32 * DIGIT_BITS;
            let high = rng.next_u64().checked_shl(low_bits + DIGIT_BITS).unwrap_or(0);
            let digit = rng.below(DIGITS as u64) << low_bits;
            let spread = if rng.below(4) == 0 { 4 } else { 1u64.checked_shl(low_bits).unwrap_or(u64::MAX) };
            let n = 1 + rng.below(RUN_MAX as u64) as usize;
            let bucket: Vec<Entry> = (0..n as u64)
                .map(|i| Entry {
                    time: high | digit | (rng.next_u64() % spread.max(1)) & low_mask(level),
                    seq: i,
                    slot: i as u32,
                })
                .collect();
            let mut expected = bucket.clone();
            expected.sort_by_key(|e| e.time);
            let mut moving = bucket;
            let mut run = vec![Entry { time: 0, seq: u64::MAX, slot: 0 }];
            sort_into(&mut moving, level, &mut run);
            assert!(moving.is_empty());
            let got: Vec<(u64, u64)> = run[1..].iter().map(|e| (e.time, e.seq)).collect();
            let want: Vec<(u64, u64)> = expected.iter().map(|e| (e.time, e.seq)).collect();
            assert_eq!(got, want, "round {round}, level {level}, {n} keys");
        }
    }

    /// The bits below digit `level` (every bit at the top level).
    fn low_mask(level: usize) -> u64 {
        1u64.checked_shl(level as u32 * DIGIT_BITS).map_or(u64::MAX, |b| b - 1)
    }

    /// A push into the run moves the shorter side: the keys before its place down into a popped
    /// slot (the run's `head` moves down), or the keys after it up; equal times stay FIFO either
    /// way, and the pops are the heap's.
    #[test]
    fn a_push_into_the_run_moves_the_shorter_side() {
        let mut h = HeapQueue::default();
        let mut r = RadixQueue::default();
        // 30 keys 2 ns apart, alone in a bucket of level 3: taken whole as the run.
        let t0 = 1u64 << 20;
        for i in 0..30u64 {
            assert_eq!(h.push(Time(t0 + 2 * i), i), r.push(Time(t0 + 2 * i), i));
        }
        for _ in 0..5 {
            assert_eq!(h.pop(), r.pop());
        }
        assert_eq!((r.head, r.span), (5, 1 << 18));
        // Due soon (3 keys before its place, 22 after): the 3 move down, `head` with them.
        let push = |h: &mut HeapQueue<u64>, r: &mut RadixQueue<u64>, t: u64, v: u64| {
            assert_eq!(h.push(Time(t0 + t), v), r.push(Time(t0 + t), v))
        };
        push(&mut h, &mut r, 15, 100);
        assert_eq!(r.head, 4);
        // Equal to a key's time: after it, still by moving the keys before it.
        push(&mut h, &mut r, 20, 101);
        assert_eq!(r.head, 3);
        // Due late (2 keys after it): those move up, `head` stays.
        push(&mut h, &mut r, 55, 102);
        assert_eq!(r.head, 3);
        // Before every key left: in the popped slot just below `head`.
        push(&mut h, &mut r, 9, 103);
        assert_eq!(r.head, 2);
        // After every key: appended.
        push(&mut h, &mut r, 100, 104);
        assert_eq!(r.head, 2);
        while let Some(x) = h.pop() {
            assert_eq!(Some(x), r.pop());
        }
        assert!(r.is_empty());
    }

    /// Keys a few nanoseconds apart, pushed between pops into the range of the run being popped
    /// (a bucket taken whole, `RUN_MAX`), out of order and with equal times, until the run is
    /// long enough to be filed back (`spill_run`): the same pops as the heap.
    #[test]
    fn pushes_into_the_run_pop_in_order() {
        let mut rng = Prng::new(5, Stream::Setup);
        let mut h = HeapQueue::default();
        let mut r = RadixQueue::default();
        // A key alone in a bucket of level 1 becomes the run (span 64 ns); 200 keys pushed into
        // its range, out of order, overflow it (filed back after 2 * RUN_MAX).
        for round in 0..20u64 {
            let base = (round + 1) << 20 | 1000;
            assert_eq!(h.push(Time(base), round), r.push(Time(base), round));
            assert_eq!(h.pop(), r.pop());
            for i in 0..200u64 {
                let at = Time(base + (i * 7 + round) % 24);
                assert_eq!(h.push(at, i), r.push(at, i));
            }
            while let Some(x) = h.pop() {
                assert_eq!(Some(x), r.pop());
            }
        }
        let mut now = 0u64;
        for step in 0..100_000u64 {
            // Bursts: up to 3 * RUN_MAX keys within 64 ns of each other, some at the same time.
            let pushes = if step % 97 == 0 { 3 * RUN_MAX as u64 } else { rng.below(3) };
            for _ in 0..pushes {
                let at = Time(now + rng.below(4) * rng.below(16) + if rng.below(8) == 0 { 5_000 } else { 0 });
                assert_eq!(h.push(at, step), r.push(at, step));
            }
            for _ in 0..rng.below(3) {
                let (x, y) = (h.pop(), r.pop());
                assert_eq!(x, y, "at step {step}");
                if let Some((t, _, _)) = x {
                    now = t.0;
                }
            }
        }
        while let Some(x) = h.pop() {
            assert_eq!(Some(x), r.pop());
        }
        assert!(r.is_empty());
    }
}
