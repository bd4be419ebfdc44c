//! Queueing theory's closed forms, for estimates and cross-checks: what a simulated queue should
//! show when its assumptions hold (Poisson arrivals, exponential or general service).

/// Erlang's C formula: the probability that an arrival waits, in an M/M/c queue with `c` servers
/// and offered load `a = lambda / mu` (in Erlangs). `None` when the queue is unstable (`a >= c`)
/// or the inputs make no sense.
///
/// Computed through the Erlang B recursion (`B(0) = 1`, `B(k) = a B(k-1) / (k + a B(k-1))`), which
/// stays accurate for thousands of servers where the factorial form overflows.
pub fn erlang_c(c: u32, a: f64) -> Option<f64> {
    if c == 0 || !(a.is_finite() && a >= 0.0) || a >= c as f64 {
        return None;
    }
    let mut b = 1.0f64;
    for k in 1..=c {
        b = a * b / (k as f64 + a * b);
    }
    let rho = a / c as f64;
    Some(b / (1.0 - rho * (1.0 - b)))
}

/// Mean wait in the queue (before service) of an M/M/c queue: `C(c, a) / (c mu - lambda)`, in the
/// units of `1 / lambda`.
pub fn mmc_mean_wait(c: u32, lambda: f64, mu: f64) -> Option<f64> {
    if !(mu > 0.0 && lambda >= 0.0) {
        return None;
    }
    let p_wait = erlang_c(c, lambda / mu)?;
    Some(p_wait / (c as f64 * mu - lambda))
}

/// Mean wait in the queue of an M/G/1 queue (Pollaczek-Khinchine): `lambda E[S^2] / (2 (1 - rho))`
/// with `rho = lambda E[S]`.
pub fn mg1_mean_wait(lambda: f64, service_mean: f64, service_second_moment: f64) -> Option<f64> {
    let rho = lambda * service_mean;
    if !(0.0..1.0).contains(&rho) {
        return None;
    }
    Some(lambda * service_second_moment / (2.0 * (1.0 - rho)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn erlang_c_matches_known_values() {
        // One server: P(wait) = rho.
        assert!((erlang_c(1, 0.7).unwrap() - 0.7).abs() < 1e-12);
        // Two servers, a = 1: C = 1/3 (textbook value).
        assert!((erlang_c(2, 1.0).unwrap() - 1.0 / 3.0).abs() < 1e-12);
        // Unstable queues have no answer.
        assert_eq!(erlang_c(4, 4.0), None);
        assert_eq!(erlang_c(0, 0.5), None);
        // Thousands of servers do not overflow.
        let big = erlang_c(5000, 4900.0).unwrap();
        assert!(big > 0.0 && big < 1.0, "{big}");
    }

    #[test]
    fn mmc_wait_reduces_to_mm1() {
        // M/M/1: Wq = rho / (mu - lambda).
        let (l, m) = (8.0, 10.0);
        assert!((mmc_mean_wait(1, l, m).unwrap() - 0.8 / 2.0).abs() < 1e-12);
        // M/G/1 with exponential service (E[S^2] = 2/mu^2) agrees with M/M/1.
        assert!((mg1_mean_wait(l, 1.0 / m, 2.0 / (m * m)).unwrap() - 0.4).abs() < 1e-12);
    }
}
