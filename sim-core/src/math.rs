//! The transcendental functions a run may use: the same bits on every machine.
//!
//! IEEE 754 fixes the result of `+ - * /` and `sqrt` exactly, but not of `exp`, `ln`, `powf` or
//! `sin`: std's `f64::exp` calls the platform's C library, and those differ in the last bit between
//! glibc versions, musl, macOS and Windows, and even on one machine: glibc picks an FMA or a non-FMA
//! build of `exp`, `log` and `pow` by what the CPU offers. Measured here (glibc 2.36, AMD EPYC): the
//! same binary over 20 million inputs gave a different hash of `exp`, `ln` and `powf` results when
//! glibc was told to act as if the CPU had no FMA (`GLIBC_TUNABLES=glibc.cpu.hwcaps=-AVX2_Usable,-FMA_Usable,-AVX2,-FMA`).
//! A latency drawn as `median * exp(sigma * z)` that differs in its last bit moves a delivery by a
//! nanosecond only when it sits on a nanosecond's edge, so most runs never show it; a sweep of
//! millions of draws on mixed CI machines eventually does, and the run no longer replays.
//!
//! These are the pure-Rust ports of musl's routines from the `libm` crate (kept by the Rust
//! project): the same code, so the same result, on every target. They cost more than glibc's: about
//! 1.2-1.9x for `exp` and 1.3-1.5x for `ln` in a loop on this machine (glibc uses FMA and larger
//! tables). Every crate of the workspace calls these (report rendering too, so a plot's axes are
//! the same everywhere); `clippy.toml` forbids std's versions.

/// e^x.
#[inline]
pub fn exp(x: f64) -> f64 {
    libm::exp(x)
}

/// The natural logarithm.
#[inline]
pub fn ln(x: f64) -> f64 {
    libm::log(x)
}

/// The base-2 logarithm.
#[inline]
pub fn log2(x: f64) -> f64 {
    libm::log2(x)
}

/// The base-10 logarithm.
#[inline]
pub fn log10(x: f64) -> f64 {
    libm::log10(x)
}

/// x^y.
#[inline]
pub fn powf(x: f64, y: f64) -> f64 {
    libm::pow(x, y)
}

/// The sine (radians).
#[inline]
pub fn sin(x: f64) -> f64 {
    libm::sin(x)
}

/// The cosine (radians).
#[inline]
pub fn cos(x: f64) -> f64 {
    libm::cos(x)
}

/// The arcsine (radians).
#[inline]
pub fn asin(x: f64) -> f64 {
    libm::asin(x)
}

/// The angle of the point (x, y) from the x axis, in (-pi, pi].
#[inline]
pub fn atan2(y: f64, x: f64) -> f64 {
    libm::atan2(y, x)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A hash of each function's results over inputs in the ranges runs use (lognormal and
    /// exponential draws, Zipf and Pareto exponents, angles): the same on every machine.
    fn hashes() -> [u64; 9] {
        let mut h = [0xcbf2_9ce4_8422_2325u64; 9];
        let mut mix = |i: usize, v: f64| h[i] = (h[i] ^ v.to_bits()).wrapping_mul(0x0100_0000_01b3);
        let mut s = 0x9e37_79b9_7f4a_7c15u64;
        for _ in 0..100_000 {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            let u = (s >> 11) as f64 / (1u64 << 53) as f64; // [0, 1)
            let x = (u - 0.5) * 8.0;
            mix(0, exp(x));
            mix(1, ln(1.0 - u));
            mix(2, log2(u * 1e6 + 1.0));
            mix(3, log10(u * 1e6 + 1.0));
            mix(4, powf(u + 0.5, 1.0 / 1.7));
            mix(5, sin(x));
            mix(6, cos(x));
            mix(7, asin(u * 2.0 - 1.0));
            mix(8, atan2(x, u - 0.5));
        }
        h
    }

    /// Golden: these must not change on any machine or with any toolchain. The known-bad control
    /// is std's own functions: on glibc 2.36 about one `exp` result in ten, one `ln` in fourteen
    /// and one `sin` in thirty differ in the last bit from these, so routing any of them back to
    /// std changes its hash here.
    #[test]
    fn results_are_the_same_bits_everywhere() {
        let got = hashes();
        let golden: [u64; 9] = [
            0x845c_c101_09a7_c1c1,
            0xf0e7_2a8c_61b6_e1df,
            0x6d7f_d699_1f77_9380,
            0x1a27_9f8f_188f_ce05,
            0xfcf6_a94e_d539_af9a,
            0xeb4c_ca27_411a_a035,
            0x78b5_05dd_a233_d477,
            0x90f5_912c_0985_893d,
            0xb496_203f_67cb_82a8,
        ];
        for (i, name) in ["exp", "ln", "log2", "log10", "powf", "sin", "cos", "asin", "atan2"].iter().enumerate() {
            assert_eq!(got[i], golden[i], "{name}: {:#018x}", got[i]);
        }
    }

    #[test]
    fn the_functions_are_the_ones_named() {
        assert_eq!(exp(0.0), 1.0);
        assert_eq!(ln(1.0), 0.0);
        assert!((exp(1.0) - std::f64::consts::E).abs() < 1e-15);
        assert!((ln(std::f64::consts::E) - 1.0).abs() < 1e-15);
        assert_eq!(log2(1024.0), 10.0);
        assert_eq!(log10(1000.0), 3.0);
        assert_eq!(powf(2.0, 10.0), 1024.0);
        assert!((sin(std::f64::consts::FRAC_PI_2) - 1.0).abs() < 1e-15);
        assert!((cos(std::f64::consts::PI) + 1.0).abs() < 1e-15);
        assert!((asin(1.0) - std::f64::consts::FRAC_PI_2).abs() < 1e-15);
        assert!((atan2(1.0, 1.0) - std::f64::consts::FRAC_PI_4).abs() < 1e-15);
    }
}
