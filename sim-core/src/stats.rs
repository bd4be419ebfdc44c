//! Order statistics over samples a report has collected: the percentile functions of the
//! workspace (sweeps over seeds, the models' own latency measures, the tests of distributions):
//! [`percentile`] of sorted samples, [`quantiles`] of unsorted ones (exact, without a sort, for a
//! report that reads a few quantiles of millions of samples).
//!
//! **The rule: nearest rank, no interpolation.** The `q`-quantile of `n` sorted samples is the
//! sample of rank `ceil(q * n)` (1-based, clamped to `[1, n]`): the smallest sample with at least a
//! share `q` of the samples at or below it. It is always one of the samples (a p99 of integer
//! nanoseconds stays an integer), `q = 0` is the minimum, `q = 1` the maximum, and the p50 of an
//! even count is the lower of the two middle samples. It is the rule of the kernel's latency
//! histograms (HdrHistogram's `value_at_quantile` counts `ceil(q * n)` samples), so a model's own
//! percentile of its latencies agrees with the kernel's percentile of the same latencies.

/// The nearest-rank `q`-quantile (`q` in `[0, 1]`) of `sorted` (ascending), or `None` for no
/// samples. See the module docs for the rule.
pub fn percentile<T: Copy>(sorted: &[T], q: f64) -> Option<T> {
    if sorted.is_empty() {
        return None;
    }
    debug_assert!((0.0..=1.0).contains(&q), "quantile {q} outside [0, 1]");
    let rank = (q * sorted.len() as f64).ceil() as usize;
    Some(sorted[rank.clamp(1, sorted.len()) - 1])
}

/// [`percentile`] of sorted latencies in nanoseconds, in milliseconds; 0 for no samples (a
/// report's measure is a number; the report's sample count says whether there were any).
pub fn percentile_ms(sorted_ns: &[u64], q: f64) -> f64 {
    percentile(sorted_ns, q).unwrap_or(0) as f64 / 1e6
}

/// [`quantiles`] of latencies in nanoseconds, in milliseconds; 0 for each when there are no
/// samples (as [`percentile_ms`]).
pub fn quantiles_ms(v_ns: &[u64], qs: &[f64]) -> Vec<f64> {
    let q = quantiles(v_ns, qs);
    (0..qs.len()).map(|i| q.get(i).map_or(0.0, |&ns| ns as f64 / 1e6)).collect()
}

/// Sub-buckets per power of two of [`bucket`]: 128, so a bucket spans under 1% of its values.
const SUB_BITS: u32 = 7;
/// Buckets of [`bucket`] for every `u64`: 128 per power of two.
const BUCKETS: usize = 64 << SUB_BITS;

/// A bucket of `v` on a log-linear scale: its highest set bit, then the `SUB_BITS` bits below
/// it (0 shares 1's bucket). Rising with `v`, so the samples of a bucket lie between those of
/// the buckets below and above; a handful of instructions, with no branch (it runs twice per
/// sample).
fn bucket(v: u64) -> usize {
    let v = v | 1;
    let lz = v.leading_zeros();
    let below_top = (v << lz) >> (63 - SUB_BITS) & ((1 << SUB_BITS) - 1);
    (((63 - lz) as usize) << SUB_BITS) | below_top as usize
}

/// The sample at each of `qs`' nearest ranks ([`percentile`]'s rule) of `v`, unsorted, as a sort
/// would find them; empty for no samples. For many samples and a few quantiles (at most 255):
/// the samples counted by [`bucket`], the buckets holding those ranks found from the counts, then
/// only their samples gathered and selected in. Two light walks over the samples and no copy of
/// them, where selecting the ranks in place (`select_nth_unstable`, the rank nearest the middle
/// first) walked them about two and a half times, partitioning as it went (31 M instructions of
/// the Kafka cut's report, the model this was written for), and a sort costs `n log n`.
pub fn quantiles(v: &[u64], qs: &[f64]) -> Vec<u64> {
    let n = v.len();
    if n == 0 {
        return Vec::new();
    }
    let mut counts = vec![0usize; BUCKETS];
    for &x in v {
        counts[bucket(x)] += 1;
    }
    let ranks: Vec<usize> = qs.iter().map(|q| ((q * n as f64).ceil() as usize).clamp(1, n) - 1).collect();
    // Each rank's bucket and the rank of that bucket's first sample, by a walk up the counts.
    let mut sorted: Vec<usize> = ranks.clone();
    sorted.sort_unstable();
    sorted.dedup();
    let mut wanted: Vec<(usize, usize)> = Vec::with_capacity(sorted.len());
    let (mut b, mut below) = (0, 0);
    for &r in &sorted {
        while below + counts[b] <= r {
            below += counts[b];
            b += 1;
        }
        if wanted.last().is_none_or(|&(last, _)| last != b) {
            wanted.push((b, below));
        }
    }
    // The wanted buckets' samples, each in its bucket's pool (`slot`: pool + 1, 0 = not wanted).
    let mut slot = vec![0u8; BUCKETS];
    for (i, &(b, _)) in wanted.iter().enumerate() {
        slot[b] = u8::try_from(i + 1).expect("at most 255 quantiles");
    }
    let mut pools: Vec<Vec<u64>> = wanted.iter().map(|&(b, _)| Vec::with_capacity(counts[b])).collect();
    for &x in v {
        let s = slot[bucket(x)];
        if s != 0 {
            pools[s as usize - 1].push(x);
        }
    }
    ranks
        .iter()
        .map(|&r| {
            let i = wanted.partition_point(|&(_, below)| below <= r) - 1;
            *pools[i].select_nth_unstable(r - wanted[i].1).1
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::{BUCKETS, bucket, percentile, percentile_ms, quantiles, quantiles_ms};
    use crate::rng::{Prng, Stream};

    /// The quantiles a report reads (Kafka's end-to-end latency CDF).
    const QS: [f64; 8] = [0.0, 0.25, 0.5, 0.75, 0.9, 0.99, 0.999, 1.0];

    #[test]
    fn nearest_rank_picks_a_sample_without_interpolating() {
        let v: Vec<u64> = (1..=10).collect();
        let at = |q| percentile(&v, q).unwrap();
        assert_eq!([at(0.0), at(0.1), at(0.15), at(0.5), at(0.9), at(0.99), at(1.0)], [1, 1, 2, 5, 9, 10, 10]);
        // 100 samples: p99 is the 99th, p50 the 50th (the lower middle one).
        let v: Vec<f64> = (1..=100).map(f64::from).collect();
        assert_eq!((percentile(&v, 0.5), percentile(&v, 0.99)), (Some(50.0), Some(99.0)));
        // 1,000 samples: p99.9 is the 999th.
        let v: Vec<u32> = (1..=1000).collect();
        assert_eq!(percentile(&v, 0.999), Some(999));
    }

    #[test]
    fn quantiles_in_ms_are_the_sorted_percentiles_and_zero_for_none() {
        let v: Vec<u64> = (0..1000u64).map(|i| (i * 7919) % 1000 * 1_000_000).collect();
        let mut sorted = v.clone();
        sorted.sort_unstable();
        let qs = [0.5, 0.99, 1.0];
        assert_eq!(quantiles_ms(&v, &qs), qs.map(|q| percentile_ms(&sorted, q)));
        assert_eq!(quantiles_ms(&v, &qs), [499.0, 989.0, 999.0]);
        assert_eq!(quantiles_ms(&[], &qs), [0.0; 3]);
    }

    #[test]
    fn one_sample_is_every_quantile_and_none_is_none() {
        assert_eq!([0.0, 0.5, 1.0].map(|q| percentile(&[7u64], q)), [Some(7); 3]);
        assert_eq!(percentile::<f64>(&[], 0.5), None);
        assert_eq!((super::percentile_ms(&[], 0.5), super::percentile_ms(&[1_500_000, 9_000_000], 0.5)), (0.0, 1.5));
    }

    /// Selected, not sorted: every quantile is the sorted vector's, on samples
    /// with ties, in reverse and shuffled (a fixed permutation), for lengths 1 to 40, and on
    /// random samples narrow and wide.
    #[test]
    fn selected_quantiles_are_the_sorted_ones() {
        let check = |v: &[u64], what: &str| {
            let mut sorted = v.to_vec();
            sorted.sort_unstable();
            let want: Vec<u64> = QS.iter().map(|&q| percentile(&sorted, q).expect("samples")).collect();
            assert_eq!(quantiles(v, &QS), want, "{what}, n {}", v.len());
        };
        for n in 1..=40u64 {
            let samples: Vec<u64> = (0..n).map(|i| (i * 7919 % n) / 2).collect();
            check(&samples, "small");
            check(&samples.iter().rev().copied().collect::<Vec<_>>(), "small, reversed");
        }
        // Random samples: narrow (many in one bucket, ties), and spread over every power of two
        // (every bucket width, 0 and the largest values among them).
        let mut rng = Prng::new(3, Stream::Workload);
        for n in [999, 1_000, 4_096] {
            check(&(0..n).map(|_| rng.below(500)).collect::<Vec<_>>(), "narrow");
            let wide: Vec<u64> = (0..n).map(|_| rng.next_u64() >> rng.below(64)).chain([0, 1, u64::MAX]).collect();
            check(&wide, "wide");
        }
        assert!(quantiles(&[], &QS).is_empty());
    }

    /// Buckets rise with the value, each bucket a contiguous range: 128 per power of two.
    #[test]
    fn buckets_rise_with_the_value() {
        // The lowest bit is set first: 0 and 1 share a bucket, as 2 and 3 do; 128 to 255 are
        // exact, 256 to 511 two values a bucket.
        assert_eq!([0, 1, 2, 3, 255, 256, 257, 258].map(bucket), [0, 0, 192, 192, 1023, 1024, 1024, 1025]);
        assert_eq!(bucket(u64::MAX), BUCKETS - 1);
        let mut rng = Prng::new(5, Stream::Workload);
        for _ in 0..10_000 {
            let (a, b) = (rng.next_u64() >> rng.below(64), rng.next_u64() >> rng.below(64));
            let (lo, hi) = (a.min(b), a.max(b));
            assert!(bucket(lo) <= bucket(hi), "{lo} {hi}");
        }
    }
}
