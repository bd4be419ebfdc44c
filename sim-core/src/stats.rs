//! Order statistics over samples a report has collected: the one percentile function of the
//! workspace (sweeps over seeds, the models' own latency measures, the tests of distributions).
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

#[cfg(test)]
mod tests {
    use super::percentile;

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
    fn one_sample_is_every_quantile_and_none_is_none() {
        assert_eq!([0.0, 0.5, 1.0].map(|q| percentile(&[7u64], q)), [Some(7); 3]);
        assert_eq!(percentile::<f64>(&[], 0.5), None);
        assert_eq!((super::percentile_ms(&[], 0.5), super::percentile_ms(&[1_500_000, 9_000_000], 0.5)), (0.0, 1.5));
    }
}
