//! Latency counts: hdrhistogram's buckets counted in a plain array during the run, and turned
//! into a [`Histogram`] when the report reads them.
//!
//! The kernel records two latencies per completed operation: into its kind's histogram for the
//! whole run, and into the reporting interval's. `Histogram::record` is an out-of-line call of
//! ~50 instructions (a checked index, a resize path, the min and max kept in the histogram's
//! unit); the two were 6% of the Kafka cut's instructions (half a million operations).
//! [`LatencyCounts`] counts into the same buckets, by the same index arithmetic (for a lowest
//! value of 1), in about ten. [`LatencyCounts::histogram`] then records each bucket that holds
//! values once, with its count, giving the histogram the same counts and total as recording every
//! value would have: every percentile, mean, minimum and maximum read from it is the same (tested
//! below against values recorded into both).
//!
//! The percentiles stay hdrhistogram's; only the counting moved.

use hdrhistogram::Histogram;

/// Counts of values from 1 to `highest`, in the buckets of `Histogram::new_with_bounds(1,
/// highest, sigfig)`.
#[derive(Clone, Debug)]
pub struct LatencyCounts {
    highest: u64,
    sigfig: u8,
    /// hdrhistogram's `sub_bucket_half_count_magnitude`: a bucket past the first holds
    /// `1 << half` sub-buckets of one width, twice as wide as the bucket's before it.
    half: u32,
    /// `64 - log2(sub-buckets per bucket)`: `leading_zero_count_base` for a unit of 1.
    base: u32,
    /// The values below `1 << (half + 1)`, all in the first bucket.
    first: u64,
    /// By bucket index, as the histogram's counts array (cut after the bucket of `highest`);
    /// empty once frozen ([`LatencyCounts::freeze`]).
    counts: Vec<u64>,
    /// Once frozen: the buckets that hold values, `(index, count)` ascending.
    frozen: Vec<(u32, u64)>,
    len: u64,
    /// The lowest and highest index counted into (`lo > hi` while empty), so that turning the
    /// counts into a histogram reads only those: most of a reporting interval's buckets are empty.
    lo: usize,
    hi: usize,
}

impl LatencyCounts {
    /// Empty counts for values from 1 to `highest` (at least 2) at `sigfig` significant digits
    /// (0 to 5, as hdrhistogram allows).
    pub fn new(highest: u64, sigfig: u8) -> LatencyCounts {
        let mut t = LatencyCounts::lazy(highest, sigfig);
        t.counts = vec![0; t.array_len()];
        t
    }

    /// Empty counts as [`LatencyCounts::new`] makes them, without the array until a value comes.
    pub fn lazy(highest: u64, sigfig: u8) -> LatencyCounts {
        assert!(highest >= 2 && sigfig <= 5, "latency counts of 1..={highest} at {sigfig} digits");
        // hdrhistogram: the sub-buckets per bucket are the power of two at or above 2 * 10^sigfig.
        let magnitude = (2 * 10u64.pow(sigfig.into())).next_power_of_two().trailing_zeros();
        LatencyCounts {
            highest,
            sigfig,
            half: magnitude - 1,
            base: 64 - magnitude,
            first: (1 << magnitude) - 1,
            counts: Vec::new(),
            frozen: Vec::new(),
            len: 0,
            lo: usize::MAX,
            hi: 0,
        }
    }

    /// The length of the counts array: through the bucket of `highest`.
    fn array_len(&self) -> usize {
        self.index(self.highest) + 1
    }

    /// Empty counts of the same bounds and digits, counting into `array`: all zeros and as long
    /// as [`LatencyCounts::freeze`] returns it, or empty (an array is made at the first value).
    pub fn empty_like(&self, array: Vec<u64>) -> LatencyCounts {
        debug_assert!(array.is_empty() || (array.len() == self.array_len() && array.iter().all(|&n| n == 0)));
        LatencyCounts { counts: array, frozen: Vec::new(), len: 0, lo: usize::MAX, hi: 0, ..*self }
    }

    /// Keeps only the buckets that hold values, in a list of their own (a reporting interval's
    /// latencies fill a few hundred of the ~4,600 buckets of 2 digits: ~37 kB of array each,
    /// which a long run's thousands of intervals kept whole), and gives back the array, zeroed,
    /// for counts yet to come ([`LatencyCounts::empty_like`]). What the counts say is unchanged;
    /// a value counted after this makes a new array (not the kernel's path: an interval is
    /// frozen once the clock has left it).
    pub fn freeze(&mut self) -> Vec<u64> {
        if self.counts.is_empty() {
            return Vec::new();
        }
        let mut array = std::mem::take(&mut self.counts);
        if self.len > 0 {
            let (lo, hi) = (self.lo, self.hi);
            let held = array[lo..=hi].iter().filter(|&&n| n > 0).count();
            self.frozen.reserve_exact(held);
            self.frozen
                .extend(array[lo..=hi].iter().enumerate().filter(|(_, n)| **n > 0).map(|(i, &n)| ((lo + i) as u32, n)));
            array[lo..=hi].fill(0);
        }
        array
    }

    /// A value counted into frozen (or array-less) counts: the array again, with what it held.
    #[cold]
    #[inline(never)]
    fn thaw(&mut self) {
        let mut array = vec![0; self.array_len()];
        for (i, n) in self.frozen.drain(..) {
            array[i as usize] = n;
        }
        self.frozen = Vec::new();
        self.counts = array;
    }

    /// The index of value `v`'s bucket, as hdrhistogram's `index_for`: the bucket is how many
    /// doublings `v` lies above the first bucket, and the offset is `v` in that bucket's width.
    #[inline(always)]
    fn index(&self, v: u64) -> usize {
        let bucket = self.base - (v | self.first).leading_zeros();
        ((bucket as usize) << self.half) + (v >> bucket) as usize
    }

    /// The lowest value of bucket index `i` (hdrhistogram's `value_for`).
    fn lowest_of(&self, i: usize) -> u64 {
        let bucket = (i >> self.half).saturating_sub(1);
        let sub = i - (bucket << self.half);
        (sub as u64) << bucket
    }

    /// Counts `v`, which must lie in `1..=highest` (the caller clamps).
    #[inline(always)]
    pub fn record(&mut self, v: u64) {
        debug_assert!((1..=self.highest).contains(&v), "{v} outside 1..={}", self.highest);
        let i = self.index(v);
        match self.counts.get_mut(i) {
            Some(n) => *n += 1,
            None => {
                self.thaw();
                self.counts[i] += 1;
            }
        }
        self.len += 1;
        self.lo = self.lo.min(i);
        self.hi = self.hi.max(i);
    }

    /// Values counted.
    pub fn len(&self) -> u64 {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The histogram of the counted values, as if each had been recorded into it: each bucket
    /// with values is recorded once, at its lowest value, with its count. That gives the
    /// histogram the same counts and total; its minimum and maximum are the same too, since
    /// hdrhistogram reports them by bucket (`min_nz` is the lowest value of the smallest value's
    /// bucket, `max` the highest of the largest's).
    pub fn histogram(&self) -> Histogram<u64> {
        let mut h = self.empty_histogram();
        self.fill(&mut h);
        h
    }

    /// An empty histogram of these counts' bounds and digits, for [`LatencyCounts::fill`].
    pub fn empty_histogram(&self) -> Histogram<u64> {
        Histogram::new_with_bounds(1, self.highest, self.sigfig).expect("the counts' bounds")
    }

    /// Makes `h` (of the same bounds and digits: [`LatencyCounts::empty_histogram`]) the
    /// histogram of the counted values, as [`LatencyCounts::histogram`] does, reusing its array:
    /// the report reads one per reporting interval, and a new histogram's array is filled one
    /// count at a time (~40,000 instructions for 2 digits).
    pub fn fill(&self, h: &mut Histogram<u64>) {
        assert_eq!(h.sigfig(), self.sigfig, "a histogram of other digits");
        h.reset();
        if self.len == 0 {
            return;
        }
        if self.counts.is_empty() {
            for &(i, n) in &self.frozen {
                h.record_n(self.lowest_of(i as usize), n).expect("a counted value is in range");
            }
            return;
        }
        for (i, &n) in self.counts[self.lo..=self.hi].iter().enumerate() {
            if n > 0 {
                h.record_n(self.lowest_of(self.lo + i), n).expect("a counted value is in range");
            }
        }
    }

    /// Heap bytes held: the array, or the frozen list (for the tests of freezing).
    #[cfg(test)]
    fn heap_bytes(&self) -> usize {
        self.counts.capacity() * 8 + self.frozen.capacity() * std::mem::size_of::<(u32, u64)>()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::{Prng, Stream};

    const HIGHEST: u64 = 3_600_000_000_000;

    fn direct(values: &[u64], sigfig: u8) -> Histogram<u64> {
        let mut h = Histogram::new_with_bounds(1, HIGHEST, sigfig).unwrap();
        for &v in values {
            h.record(v).unwrap();
        }
        h
    }

    fn counted(values: &[u64], sigfig: u8) -> Histogram<u64> {
        let mut t = LatencyCounts::new(HIGHEST, sigfig);
        for &v in values {
            t.record(v);
        }
        assert_eq!(t.len(), values.len() as u64);
        t.histogram()
    }

    /// Everything the report reads, and the histograms' own equality (total, min, max, every
    /// bucket's count).
    fn assert_same(values: &[u64], sigfig: u8) {
        let (want, got) = (direct(values, sigfig), counted(values, sigfig));
        assert!(got == want, "sigfig {sigfig}, {} values: the histograms differ", values.len());
        assert_eq!(
            (got.len(), got.min(), got.min_nz(), got.max()),
            (want.len(), want.min(), want.min_nz(), want.max())
        );
        assert_eq!(got.mean().to_bits(), want.mean().to_bits());
        for q in [0.0, 0.1, 0.25, 0.5, 0.75, 0.9, 0.95, 0.99, 0.995, 0.999, 0.9999, 1.0] {
            assert_eq!(got.value_at_quantile(q), want.value_at_quantile(q), "sigfig {sigfig}, q {q}");
        }
    }

    /// Every bucket edge of every doubling, and random values spread over the whole range by
    /// their logarithm, at the digits the kernel uses (2 and 3) and the others hdrhistogram
    /// allows: the counts' histogram is the histogram of the values.
    #[test]
    fn latency_counts_make_the_histogram_of_their_values() {
        let mut rng = Prng::new(7, Stream::Setup);
        for sigfig in 0..=5u8 {
            let mut edges = vec![1, 2, 3, HIGHEST - 1, HIGHEST];
            for shift in 0..42 {
                let p = 1u64 << shift;
                edges.extend([p - 1, p, p + 1, 3 * p / 2].into_iter().filter(|v| (1..=HIGHEST).contains(v)));
            }
            assert_same(&edges, sigfig);
            let spread: Vec<u64> = (0..20_000)
                .map(|_| crate::math::powf(HIGHEST as f64, rng.unit()).clamp(1.0, HIGHEST as f64) as u64)
                .collect();
            assert_same(&spread, sigfig);
            // Latencies as a run has them: most within a few milliseconds, a tail of seconds.
            let run: Vec<u64> = (0..20_000)
                .map(|i| if i % 97 == 0 { 2_000_000_000 + i * 1_000 } else { 400_000 + rng.below(5_000_000) })
                .collect();
            assert_same(&run, sigfig);
        }
    }

    /// Frozen counts make the same histogram as before, keep a small list where the array was,
    /// give back a zeroed array that counts anew, and count on (through a new array) if a value
    /// comes after all.
    #[test]
    fn frozen_counts_say_what_they_said_and_their_array_counts_anew() {
        let mut rng = Prng::new(11, Stream::Setup);
        let values: Vec<u64> = (0..5_000).map(|_| 300_000 + rng.below(40_000_000)).collect();
        let mut t = LatencyCounts::new(HIGHEST, 2);
        for &v in &values {
            t.record(v);
        }
        let before = t.histogram();
        let whole = t.heap_bytes();
        let array = t.freeze();
        assert!(t.histogram() == before && t.len() == 5_000);
        // 5,000 values spread evenly over two decades fill ~900 buckets; an interval's cluster fewer.
        assert!(t.heap_bytes() * 2 < whole, "{} bytes frozen, {whole} whole", t.heap_bytes());
        assert_eq!(array.len() * 8, whole);
        assert!(array.iter().all(|&n| n == 0), "the array comes back zeroed");
        let mut next = t.empty_like(array);
        assert!(next.is_empty() && next.histogram() == direct(&[], 2));
        next.record(7);
        assert!(next.histogram() == direct(&[7], 2));
        // A value after the freeze: the same counts as recording everything unfrozen.
        t.record(HIGHEST);
        let mut all = values.clone();
        all.push(HIGHEST);
        assert!(t.histogram() == direct(&all, 2));
        // Counts without an array until the first value.
        let mut lazy = LatencyCounts::lazy(HIGHEST, 2);
        assert_eq!(lazy.heap_bytes(), 0);
        assert!(lazy.histogram() == direct(&[], 2));
        lazy.record(1);
        assert!(lazy.histogram() == direct(&[1], 2));
    }

    /// One histogram filled from counts after counts (as the report does for its intervals) is
    /// each one's histogram: nothing of the one before stays.
    #[test]
    fn a_reused_histogram_holds_only_the_last_counts() {
        let sets: [&[u64]; 4] = [&[HIGHEST, 7, 3_000_000], &[], &[1, 2, 3], &[40_000_000; 3]];
        let mut h = LatencyCounts::new(HIGHEST, 2).empty_histogram();
        for values in sets {
            let mut c = LatencyCounts::new(HIGHEST, 2);
            for &v in values {
                c.record(v);
            }
            c.fill(&mut h);
            assert!(h == direct(values, 2), "{values:?}");
            assert_eq!((h.max(), h.min_nz()), (direct(values, 2).max(), direct(values, 2).min_nz()));
        }
    }

    /// The edge cases of the conversion: nothing, one value, many copies of one value, values
    /// sharing a bucket, the smallest and largest alone in their buckets.
    #[test]
    fn the_smallest_and_largest_survive_the_conversion() {
        for sigfig in [2, 3] {
            assert!(counted(&[], sigfig) == direct(&[], sigfig));
            assert!(counted(&[], sigfig).is_empty());
            for values in [
                vec![1],
                vec![HIGHEST],
                vec![5_000_000; 9],
                vec![1_000_001, 1_000_003, 1_000_002],
                vec![17, 1_000_000, 1_000_001, 99_999_999_999],
            ] {
                assert_same(&values, sigfig);
            }
        }
    }
}
