//! Virtual time: integer nanoseconds in newtypes. Never `f64`, never `std::time`.

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;
use std::ops::{Add, AddAssign, Sub};

/// An instant on the simulation's true timeline, in nanoseconds since the run began.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Time(pub u64);

/// A span of virtual time, in nanoseconds.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Duration(pub u64);

impl Time {
    pub const ZERO: Time = Time(0);
    pub const MAX: Time = Time(u64::MAX);
    pub fn as_nanos(self) -> u64 {
        self.0
    }
    pub fn as_secs_f64(self) -> f64 {
        self.0 as f64 / 1e9
    }
    /// The span since `earlier`, zero if `earlier` is later.
    pub fn since(self, earlier: Time) -> Duration {
        Duration(self.0.saturating_sub(earlier.0))
    }
}

impl Duration {
    pub const ZERO: Duration = Duration(0);
    pub const MAX: Duration = Duration(u64::MAX);
    /// 365 days: the longest run (main phase and liveness phase), and the longest span any
    /// parameter of a distribution may name.
    pub const YEAR: Duration = Duration::from_secs(365 * 86_400);
    pub const fn from_nanos(ns: u64) -> Self {
        Duration(ns)
    }
    pub const fn from_micros(us: u64) -> Self {
        Duration(us * 1_000)
    }
    pub const fn from_millis(ms: u64) -> Self {
        Duration(ms * 1_000_000)
    }
    pub const fn from_secs(s: u64) -> Self {
        Duration(s * 1_000_000_000)
    }
    /// Rounds a non-negative, finite number of seconds to nanoseconds (saturating). Inline: it is
    /// on every latency draw (a call of its own was ~23 instructions a draw on Dynamo).
    #[inline]
    pub fn from_secs_f64(s: f64) -> Self {
        if s.is_nan() || s <= 0.0 {
            Duration(0)
        } else if s >= u64::MAX as f64 / 1e9 {
            Duration::MAX
        } else {
            Duration(round_ns(s * 1e9))
        }
    }
    /// Rounds a non-negative, finite number of nanoseconds (saturating): [`Duration::from_secs_f64`]
    /// without its scaling, for a value already in nanoseconds (a latency draw: a division by 1e9
    /// and a multiplication back cost ~20 cycles on every message).
    #[inline]
    pub fn from_nanos_f64(ns: f64) -> Self {
        if ns.is_nan() || ns <= 0.0 {
            Duration(0)
        } else if ns >= u64::MAX as f64 {
            Duration::MAX
        } else {
            Duration(round_ns(ns))
        }
    }
    pub fn as_nanos(self) -> u64 {
        self.0
    }
    pub fn as_secs_f64(self) -> f64 {
        self.0 as f64 / 1e9
    }
    pub fn as_millis_f64(self) -> f64 {
        self.0 as f64 / 1e6
    }
    pub fn saturating_mul(self, k: u64) -> Duration {
        Duration(self.0.saturating_mul(k))
    }
}

impl Add<Duration> for Time {
    type Output = Time;
    fn add(self, d: Duration) -> Time {
        Time(self.0.saturating_add(d.0))
    }
}
impl AddAssign<Duration> for Time {
    fn add_assign(&mut self, d: Duration) {
        self.0 = self.0.saturating_add(d.0);
    }
}
impl Sub<Time> for Time {
    type Output = Duration;
    fn sub(self, rhs: Time) -> Duration {
        self.since(rhs)
    }
}
impl Add for Duration {
    type Output = Duration;
    fn add(self, d: Duration) -> Duration {
        Duration(self.0.saturating_add(d.0))
    }
}
impl Sub for Duration {
    type Output = Duration;
    fn sub(self, d: Duration) -> Duration {
        Duration(self.0.saturating_sub(d.0))
    }
}

impl fmt::Debug for Time {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "t={}", Duration(self.0))
    }
}
impl fmt::Display for Time {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", Duration(self.0))
    }
}
impl fmt::Debug for Duration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}
impl fmt::Display for Duration {
    /// The largest unit that keeps the value exact, e.g. `250ms`, `1500us`, `2m`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let ns = self.0;
        for (unit, size) in
            [("h", 3_600_000_000_000u64), ("m", 60_000_000_000), ("s", 1_000_000_000), ("ms", 1_000_000), ("us", 1_000)]
        {
            if ns >= size && ns.is_multiple_of(size) {
                return write!(f, "{}{}", ns / size, unit);
            }
        }
        if ns >= 1_000_000 {
            return write!(f, "{:.3}ms", ns as f64 / 1e6);
        }
        write!(f, "{ns}ns")
    }
}

/// Parses a duration written with a unit: `"250ms"`, `"2m"`, `"1.5s"`, `"100us"`, `"10ns"`, `"1h"`, `"2d"`.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let s = text.trim();
    // The unit starts at the first letter (`µ` included: `"250µs"`).
    let split = s.find(|c: char| c.is_alphabetic()).ok_or_else(|| {
        format!(
            "duration `{text}` has no unit; write it like \"250ms\", \"2s\" or \"5m\" (units: ns, us, ms, s, m, h, d)"
        )
    })?;
    let (num, unit) = s.split_at(split);
    let scale: f64 = match unit {
        "ns" => 1.0,
        "us" | "µs" => 1e3,
        "ms" => 1e6,
        "s" => 1e9,
        "m" | "min" => 60e9,
        "h" => 3600e9,
        "d" => 86400e9,
        _ => return Err(format!("duration `{text}` has unknown unit `{unit}` (units: ns, us or µs, ms, s, m, h, d)")),
    };
    let value: f64 = num.trim().parse().map_err(|_| format!("duration `{text}`: `{}` is not a number", num.trim()))?;
    if !value.is_finite() || value < 0.0 {
        return Err(format!("duration `{text}` must be a finite, non-negative number"));
    }
    let ns = value * scale;
    if ns > u64::MAX as f64 {
        return Err(format!("duration `{text}` is too large"));
    }
    Ok(Duration(ns.round() as u64))
}

impl Serialize for Duration {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_string())
    }
}
impl<'de> Deserialize<'de> for Duration {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        parse_duration(&s).map_err(serde::de::Error::custom)
    }
}

/// `x.round() as u64`, bit for bit (half away from zero, saturating, NaN to 0), without the call
/// `f64::round` compiles to on the baseline x86-64 target (no SSE4.1 `roundsd`): a third of a
/// PHOLD event's latency draw. Below 2^63 the truncation and the fraction are exact, and go
/// through `i64`: the conversions between `f64` and `u64` have no instruction of their own there
/// (about 15 instructions each way), those of `i64` do (`cvttsd2si`, `cvtsi2sd`).
const TWO_TO_63: f64 = (1u64 << 63) as f64;

#[inline]
pub(crate) fn round_ns(x: f64) -> u64 {
    if (0.0..TWO_TO_63).contains(&x) {
        let t = x as i64;
        (if x - t as f64 >= 0.5 { t + 1 } else { t }) as u64
    } else {
        x.round() as u64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_ns_is_round_bit_for_bit() {
        let edges = [
            0.0,
            -0.0,
            0.5,
            1.5,
            2.5,
            0.499_999_999_999_999_94,
            4_503_599_627_370_495.5,
            4_503_599_627_370_497.0,
            9_007_199_254_740_993.0,
            9.223_372_036_854_774e18,
            TWO_TO_63,
            1.8e19,
            1e20,
            f64::INFINITY,
            f64::NEG_INFINITY,
            f64::NAN,
            -1.0,
            -0.5,
            f64::MIN_POSITIVE,
            1e-300,
        ];
        for x in edges {
            assert_eq!(round_ns(x), x.round() as u64, "{x:e}");
        }
        let mut rng = crate::rng::Prng::new(3, crate::rng::Stream::Setup);
        for _ in 0..200_000 {
            let x = rng.unit() * 2f64.powi(rng.below(70) as i32);
            assert_eq!(round_ns(x), x.round() as u64, "{x:e}");
            let h = x.floor() + 0.5;
            assert_eq!(round_ns(h), h.round() as u64, "{h:e}");
        }
    }

    fn check(text: &str, expected_ns: u64) {
        assert_eq!(parse_duration(text), Ok(Duration(expected_ns)), "{text}");
    }

    #[test]
    fn parses_units() {
        check("250ms", 250_000_000);
        check("2m", 120_000_000_000);
        check("1.5s", 1_500_000_000);
        check("100us", 100_000);
        check("7ns", 7);
        check("1h", 3_600_000_000_000);
        check("0s", 0);
        check("250000µs", 250_000_000);
        check("3 µs", 3_000);
    }

    #[test]
    fn rejects_bad_durations() {
        assert!(parse_duration("250").unwrap_err().contains("no unit"));
        assert!(parse_duration("5 parsecs").unwrap_err().contains("unknown unit"));
        assert!(parse_duration("-3s").unwrap_err().contains("non-negative"));
        assert!(parse_duration("abcms").is_err());
    }

    #[test]
    fn displays_round_trip() {
        for d in [Duration::from_millis(250), Duration::from_secs(120), Duration(1234), Duration::from_micros(1500)] {
            assert_eq!(parse_duration(&d.to_string()), Ok(d));
        }
    }
}
