//! Latency distributions, as written in scenario files, sampled into integer nanoseconds.

use crate::math;
use crate::rng::Prng;
use crate::time::Duration;
use serde::{Deserialize, Serialize};

/// A distribution of durations (network legs, disk writes, service times, think times).
///
/// ```ron
/// Constant("5ms")
/// Uniform(min: "1ms", max: "3ms")
/// Normal(mean: "5ms", stddev: "1ms")            // truncated at zero
/// LogNormal(median: "5ms", sigma: 0.6)
/// Exponential(mean: "900us", min: "100us")      // min + Exp(mean)
/// Pareto(scale: "1ms", shape: 2.5)              // heavy tail, never below scale
/// Mixture([(0.99, Constant("2ms")), (0.01, Constant("200ms"))])
/// Empirical([(0.0, "1ms"), (0.5, "2ms"), (0.99, "30ms"), (1.0, "80ms")])  // percentiles
/// ```
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub enum Dist {
    Constant(Duration),
    Uniform {
        min: Duration,
        max: Duration,
    },
    Normal {
        mean: Duration,
        stddev: Duration,
    },
    LogNormal {
        median: Duration,
        sigma: f64,
    },
    Exponential {
        mean: Duration,
        #[serde(default)]
        min: Duration,
    },
    Pareto {
        scale: Duration,
        shape: f64,
    },
    /// `(weight, component)` pairs; weights need not sum to one.
    Mixture(Vec<(f64, Dist)>),
    /// `(quantile, value)` points, quantiles rising from 0.0 to 1.0; sampled by linear interpolation.
    Empirical(Vec<(f64, Duration)>),
}

impl Default for Dist {
    fn default() -> Self {
        Dist::Constant(Duration::from_millis(1))
    }
}

impl Dist {
    pub fn constant(d: Duration) -> Dist {
        Dist::Constant(d)
    }

    /// Checks the parameters; the error names the offending one.
    pub fn validate(&self) -> Result<(), String> {
        if let Some(d) = self.spans().into_iter().find(|d| *d > Duration::YEAR) {
            return Err(format!("{d} is longer than a year, the longest span a distribution may name"));
        }
        match self {
            Dist::Constant(_) => Ok(()),
            Dist::Uniform { min, max } => {
                if min > max {
                    Err(format!("Uniform: min ({min}) is greater than max ({max})"))
                } else {
                    Ok(())
                }
            }
            Dist::Normal { .. } => Ok(()),
            Dist::LogNormal { sigma, .. } => {
                if sigma.is_finite() && *sigma >= 0.0 {
                    Ok(())
                } else {
                    Err(format!("LogNormal: sigma must be finite and >= 0, got {sigma}"))
                }
            }
            Dist::Exponential { .. } => Ok(()),
            Dist::Pareto { scale, shape } => {
                if !(shape.is_finite() && *shape > 0.0) {
                    Err(format!("Pareto: shape must be finite and > 0, got {shape}"))
                } else if scale.0 == 0 {
                    Err("Pareto: scale must be positive".into())
                } else {
                    Ok(())
                }
            }
            Dist::Mixture(parts) => {
                if parts.is_empty() {
                    return Err("Mixture: needs at least one component".into());
                }
                for (i, (w, d)) in parts.iter().enumerate() {
                    if !(w.is_finite() && *w >= 0.0) {
                        return Err(format!("Mixture[{i}]: weight must be finite and >= 0, got {w}"));
                    }
                    d.validate().map_err(|e| format!("Mixture[{i}]: {e}"))?;
                }
                if parts.iter().map(|p| p.0).sum::<f64>() <= 0.0 {
                    return Err("Mixture: weights sum to zero".into());
                }
                Ok(())
            }
            Dist::Empirical(points) => {
                if points.len() < 2 {
                    return Err("Empirical: needs at least two (quantile, value) points".into());
                }
                if points[0].0 != 0.0 || points[points.len() - 1].0 != 1.0 {
                    return Err("Empirical: quantiles must start at 0.0 and end at 1.0".into());
                }
                for (i, w) in points.windows(2).enumerate() {
                    if w[0].0.partial_cmp(&w[1].0) != Some(std::cmp::Ordering::Less) {
                        return Err(format!("Empirical[{}]: quantiles must rise strictly", i + 1));
                    }
                    if w[0].1 > w[1].1 {
                        return Err(format!("Empirical[{}]: values must not fall as quantiles rise", i + 1));
                    }
                }
                Ok(())
            }
        }
    }

    /// Every duration written in the parameters (of this distribution, not its components).
    fn spans(&self) -> Vec<Duration> {
        match self {
            Dist::Constant(d) => vec![*d],
            Dist::Uniform { min, max } => vec![*min, *max],
            Dist::Normal { mean, stddev } => vec![*mean, *stddev],
            Dist::LogNormal { median, .. } => vec![*median],
            Dist::Exponential { mean, min } => vec![*mean, *min],
            Dist::Pareto { scale, .. } => vec![*scale],
            Dist::Mixture(_) => Vec::new(),
            Dist::Empirical(points) => points.iter().map(|p| p.1).collect(),
        }
    }

    /// Draws one duration.
    ///
    /// The log-normal, every message's latency in most scenarios, is drawn inline at the caller
    /// (a call and the match over every kind cost ~25 instructions a draw); the others through
    /// [`Dist::sample_any`]. The same arithmetic either way, so the same durations bit for bit.
    /// Always inline: as a function of its own it was a second call for the other distributions
    /// (+17 instructions a draw on PHOLD's exponential latencies).
    #[inline(always)]
    pub fn sample(&self, rng: &mut Prng) -> Duration {
        match self {
            Dist::LogNormal { median, sigma } => Self::lognormal(*median, *sigma, rng),
            _ => self.sample_any(rng),
        }
    }

    #[inline(always)]
    fn lognormal(median: Duration, sigma: f64, rng: &mut Prng) -> Duration {
        Duration::from_nanos_f64(median.0 as f64 * math::exp(sigma * rng.std_normal()))
    }

    #[inline(never)]
    fn sample_any(&self, rng: &mut Prng) -> Duration {
        match self {
            Dist::Constant(d) => *d,
            Dist::Uniform { min, max } => Duration(rng.range_inclusive(min.0, max.0)),
            Dist::Normal { mean, stddev } => {
                Duration::from_secs_f64((mean.0 as f64 + stddev.0 as f64 * rng.std_normal()) / 1e9)
            }
            Dist::LogNormal { median, sigma } => Self::lognormal(*median, *sigma, rng),
            Dist::Exponential { mean, min } => *min + Duration(crate::time::round_ns(rng.exp(mean.0 as f64))),
            Dist::Pareto { scale, shape } => {
                let u = 1.0 - rng.unit();
                Duration::from_secs_f64(scale.0 as f64 / math::powf(u, 1.0 / shape) / 1e9)
            }
            Dist::Mixture(parts) => {
                let total: f64 = parts.iter().map(|p| p.0).sum();
                let mut x = rng.unit() * total;
                for (w, d) in parts {
                    if x < *w {
                        return d.sample(rng);
                    }
                    x -= w;
                }
                parts[parts.len() - 1].1.sample(rng)
            }
            Dist::Empirical(points) => {
                let u = rng.unit();
                let i = points.partition_point(|p| p.0 <= u).clamp(1, points.len() - 1);
                let (q0, v0) = points[i - 1];
                let (q1, v1) = points[i];
                let f = if q1 > q0 { (u - q0) / (q1 - q0) } else { 0.0 };
                Duration(crate::time::round_ns(v0.0 as f64 + f * (v1.0 as f64 - v0.0 as f64)))
            }
        }
    }

    /// The analytic mean in nanoseconds (`None` where it is infinite). Truncation of the normal at
    /// zero is ignored.
    pub fn mean_ns(&self) -> Option<f64> {
        Some(match self {
            Dist::Constant(d) => d.0 as f64,
            Dist::Uniform { min, max } => (min.0 as f64 + max.0 as f64) / 2.0,
            Dist::Normal { mean, .. } => mean.0 as f64,
            Dist::LogNormal { median, sigma } => median.0 as f64 * math::exp(sigma * sigma / 2.0),
            Dist::Exponential { mean, min } => mean.0 as f64 + min.0 as f64,
            Dist::Pareto { scale, shape } => {
                if *shape <= 1.0 {
                    return None;
                }
                shape * scale.0 as f64 / (shape - 1.0)
            }
            Dist::Mixture(parts) => {
                let total: f64 = parts.iter().map(|p| p.0).sum();
                let mut m = 0.0;
                for (w, d) in parts {
                    m += w / total * d.mean_ns()?;
                }
                m
            }
            Dist::Empirical(points) => {
                points.windows(2).map(|w| (w[1].0 - w[0].0) * (w[0].1.0 as f64 + w[1].1.0 as f64) / 2.0).sum()
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::Stream;

    fn ms(x: u64) -> Duration {
        Duration::from_millis(x)
    }

    fn samples(d: &Dist, n: usize) -> Vec<f64> {
        let mut rng = Prng::new(99, Stream::Setup);
        let mut v: Vec<f64> = (0..n).map(|_| d.sample(&mut rng).0 as f64).collect();
        v.sort_by(|a, b| a.partial_cmp(b).unwrap());
        v
    }

    /// Sample mean within `tol` (relative) of the analytic mean, and named quantiles close to their
    /// analytic values.
    fn check(d: Dist, tol: f64, quantiles: &[(f64, f64)]) {
        d.validate().unwrap();
        let s = samples(&d, 200_000);
        let mean = s.iter().sum::<f64>() / s.len() as f64;
        let want = d.mean_ns().unwrap();
        assert!((mean - want).abs() <= tol * want, "{d:?}: sample mean {mean} vs analytic {want}");
        for &(q, want) in quantiles {
            let got = crate::stats::percentile(&s, q).expect("samples");
            assert!((got - want).abs() <= tol * want, "{d:?}: q{q} = {got}, analytic {want}");
        }
    }

    #[test]
    fn constant() {
        check(Dist::Constant(ms(5)), 0.0, &[(0.5, 5e6), (0.99, 5e6)]);
    }

    #[test]
    fn uniform() {
        check(Dist::Uniform { min: ms(1), max: ms(3) }, 0.01, &[(0.5, 2e6), (0.9, 2.8e6)]);
    }

    #[test]
    fn normal() {
        // q0.8413 = mean + 1 stddev
        check(Dist::Normal { mean: ms(10), stddev: ms(1) }, 0.01, &[(0.5, 10e6), (0.8413, 11e6)]);
    }

    #[test]
    fn lognormal() {
        // median = e^mu; q0.8413 = median * e^sigma
        let sigma: f64 = 0.5;
        check(Dist::LogNormal { median: ms(5), sigma }, 0.02, &[(0.5, 5e6), (0.8413, 5e6 * math::exp(sigma))]);
    }

    /// The log-normal is rounded from nanoseconds, not divided into seconds and multiplied back:
    /// the same durations as that round trip (`from_secs_f64(x / 1e9)`) over a million draws of
    /// medians from 100 us to 50 ms (the two differ by a unit or two in the last place of `x`,
    /// ~1e-10 ns at a millisecond, so they part only on a nanosecond's edge).
    #[test]
    fn lognormal_rounds_nanoseconds_as_the_round_trip_through_seconds_did() {
        let mut rng = Prng::new(7, Stream::Setup);
        for i in 0..1_000_000u64 {
            let (median, sigma) = (Duration(100_000 + (i * 7919) % 49_900_000), 0.1 + (i % 15) as f64 * 0.1);
            let mut again = rng.clone();
            let got = Dist::LogNormal { median, sigma }.sample(&mut rng);
            let x = median.0 as f64 * math::exp(sigma * again.std_normal());
            assert_eq!(got, Duration::from_secs_f64(x / 1e9), "{median:?} {sigma}");
        }
    }

    /// A message latency as scenarios configure it (`LogNormal(median: "1ms", sigma: 0.4)`, and
    /// `"500us"`, 0.3): the median and the p99 of 100,000 draws against the closed form
    /// (`median` and `median * exp(sigma * 2.326348)`, z of 0.99), each within 4 standard errors of
    /// its sample quantile (`sqrt(q (1 - q) / n) / phi(z)` in z, times sigma: 0.64% and 1.9% at
    /// sigma 0.4).
    #[test]
    fn lognormal_median_and_p99_of_100_000_draws() {
        for (median_ns, sigma) in [(1e6, 0.4), (5e5, 0.3), (5e6, 0.6)] {
            let d = Dist::LogNormal { median: Duration(median_ns as u64), sigma };
            let s = samples(&d, 100_000);
            let n = s.len() as f64;
            for (q, z, density) in [(0.5, 0.0, 0.398_942_280_4), (0.99, 2.326_347_874_040_841, 0.026_652_142_2)] {
                let want = median_ns * math::exp(sigma * z);
                let got = crate::stats::percentile(&s, q).expect("samples");
                let tol = 4.0 * sigma * (q * (1.0 - q) / n).sqrt() / density;
                assert!(math::ln(got / want).abs() <= tol, "{d:?}: q{q} = {got}, closed form {want}, tolerance {tol}");
            }
        }
    }

    #[test]
    fn exponential() {
        // q = min - mean * ln(1 - q)
        check(
            Dist::Exponential { mean: Duration::from_micros(900), min: Duration::from_micros(100) },
            0.02,
            &[(0.5, 100e3 + 900e3 * math::ln(2f64)), (0.99, 100e3 + 900e3 * math::ln(100f64))],
        );
    }

    #[test]
    fn pareto() {
        // q = scale / (1 - q)^(1/shape)
        let shape: f64 = 3.0;
        check(
            Dist::Pareto { scale: ms(1), shape },
            0.03,
            &[(0.5, 1e6 / math::powf(0.5, 1.0 / shape)), (0.9, 1e6 / math::powf(0.1, 1.0 / shape))],
        );
    }

    #[test]
    fn mixture() {
        let d = Dist::Mixture(vec![(0.9, Dist::Constant(ms(1))), (0.1, Dist::Constant(ms(100)))]);
        check(d, 0.03, &[(0.5, 1e6), (0.95, 100e6)]);
    }

    #[test]
    fn empirical() {
        let d = Dist::Empirical(vec![(0.0, ms(1)), (0.5, ms(2)), (0.99, ms(30)), (1.0, ms(80))]);
        check(d, 0.02, &[(0.25, 1.5e6), (0.5, 2e6), (0.99, 30e6)]);
    }

    #[test]
    fn rejects_bad_parameters() {
        let bad = [
            Dist::Uniform { min: ms(3), max: ms(1) },
            Dist::LogNormal { median: ms(1), sigma: f64::NAN },
            Dist::Pareto { scale: ms(1), shape: -1.0 },
            Dist::Mixture(vec![(-0.5, Dist::Constant(ms(1)))]),
            Dist::Mixture(vec![]),
            Dist::Empirical(vec![(0.0, ms(5)), (1.0, ms(1))]),
            Dist::Empirical(vec![(0.1, ms(1)), (1.0, ms(2))]),
            // A latency beyond a year (it used to overflow and wrap to a few milliseconds).
            Dist::Exponential { mean: ms(1), min: Duration(u64::MAX) },
            Dist::Mixture(vec![(1.0, Dist::Constant(Duration::YEAR + Duration(1)))]),
        ];
        for d in bad {
            assert!(d.validate().is_err(), "{d:?} should be rejected");
        }
    }

    /// Sampling saturates instead of wrapping: the largest minimum gives the largest latency.
    #[test]
    fn samples_saturate() {
        let d = Dist::Exponential { mean: ms(5), min: Duration(u64::MAX) };
        let mut rng = Prng::new(1, Stream::Setup);
        assert!((0..100).all(|_| d.sample(&mut rng) == Duration::MAX));
    }

    #[test]
    fn parses_from_ron() {
        let d: Dist =
            ron::from_str(r#"Mixture([(0.99, Constant("2ms")), (0.01, Exponential(mean: "50ms"))])"#).unwrap();
        d.validate().unwrap();
        let e: Result<Dist, _> = ron::from_str(r#"Constant("-2ms")"#);
        assert!(e.unwrap_err().to_string().contains("non-negative"));
    }
}
