//! # sweep: a failure detector's sweeps, and its own stalls
//!
//! A failure detector that sweeps for silent peers (a registry expiring sessions, a presence
//! server showing users offline) must not mistake its own stall for their silence. After a
//! process pause its first sweep runs before the heartbeats that arrived meanwhile, which wait
//! behind it in its queue, and every peer looks silent. [`Sweeps`] remembers the previous sweep:
//! one that comes a whole timeout after it finds the detector itself stalled, and the detector
//! restarts its peers' timeouts instead of convicting them, as Cassandra's failure detector skips
//! its convictions after a local pause. A peer that stays silent is still convicted a timeout
//! later. Times are the host's monotonic clock ([`sim_core::Ctx::monotonic`]).

use sim_core::{Duration, Time};

/// The previous sweep of a failure detector.
#[derive(Clone, Copy, Debug, Default)]
pub struct Sweeps {
    last: Option<Time>,
}

impl Sweeps {
    /// Notes a sweep at `now`; true when the previous one (or the detector's start, see
    /// [`Sweeps::started`]) was `timeout` or more before: the detector itself was stalled.
    pub fn stalled(&mut self, now: Time, timeout: Duration) -> bool {
        let stalled = self.last.is_some_and(|prev| now.since(prev) >= timeout);
        self.last = Some(now);
        stalled
    }

    /// The detector started at `now`: its first sweep is measured from here.
    pub fn started(&mut self, now: Time) {
        self.last = Some(now);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sweep_a_timeout_after_the_previous_one_is_a_stall() {
        let s = |n: u64| Time(Duration::from_secs(n).0);
        let timeout = Duration::from_secs(3);
        let mut sweeps = Sweeps::default();
        assert!(!sweeps.stalled(s(10), timeout), "the first sweep has nothing to compare with");
        assert!(!sweeps.stalled(s(12), timeout));
        assert!(sweeps.stalled(s(15), timeout), "exactly a timeout later");
        assert!(!sweeps.stalled(s(16), timeout));
        sweeps.started(s(20));
        assert!(sweeps.stalled(s(23), timeout), "measured from the start");
    }
}
