//! The live contest leaderboard (ICPC rules), updated one verdict at a time.
//!
//! Per user and problem it keeps the submission time of the first accepted submission and the
//! times of the wrong ones; a user's row is solved problems and penalty (for each solved problem,
//! whole seconds from the contest start to the first accepted submission, plus `penalty` per wrong
//! submission before it). Verdicts may arrive out of submission order (runs take different times,
//! re-runs come late): a wrong verdict for a submission made after the accepted one costs nothing,
//! whenever it arrives. The ranking is kept as an ordered set, the notes' sorted set (Redis ZSET).

use sim_core::{Duration, Time};
use std::cmp::Reverse;
use std::collections::{BTreeMap, BTreeSet};

/// A user's standing.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord)]
pub struct Row {
    pub solved: u32,
    pub penalty_s: u64,
    /// Verdicts counted for this user (every submission judged, accepted or not).
    pub verdicts: u32,
}

#[derive(Clone, Debug, Default)]
struct Cell {
    first_accept: Option<Time>,
    wrong: Vec<Time>,
}

#[derive(Clone, Debug)]
pub struct Leaderboard {
    penalty: Duration,
    cells: BTreeMap<(u64, u32), Cell>,
    rows: BTreeMap<u64, Row>,
    /// (solved descending, penalty, user): the ranking.
    ranking: BTreeSet<(Reverse<u32>, u64, u64)>,
}

impl Leaderboard {
    pub fn new(penalty: Duration) -> Leaderboard {
        Leaderboard { penalty, cells: BTreeMap::new(), rows: BTreeMap::new(), ranking: BTreeSet::new() }
    }

    /// Applies one verdict of `user` on `problem` for a submission made at `at`.
    pub fn apply(&mut self, user: u64, problem: u32, at: Time, accepted: bool) {
        let cell = self.cells.entry((user, problem)).or_default();
        if accepted {
            cell.first_accept = Some(cell.first_accept.map_or(at, |t| t.min(at)));
        } else {
            cell.wrong.push(at);
        }
        let old = self.rows.get(&user).copied().unwrap_or_default();
        let mut row = Row { solved: 0, penalty_s: 0, verdicts: old.verdicts + 1 };
        for (_, c) in self.cells.range((user, 0)..=(user, u32::MAX)) {
            if let Some(t) = c.first_accept {
                let wrong_before = c.wrong.iter().filter(|&&w| w < t).count() as u64;
                row.solved += 1;
                row.penalty_s += t.0 / 1_000_000_000 + wrong_before * (self.penalty.0 / 1_000_000_000);
            }
        }
        self.ranking.remove(&(Reverse(old.solved), old.penalty_s, user));
        self.ranking.insert((Reverse(row.solved), row.penalty_s, user));
        self.rows.insert(user, row);
    }

    pub fn rows(&self) -> &BTreeMap<u64, Row> {
        &self.rows
    }

    /// The first `n` users, best first (`GET /leaderboard/:contest?limit=n`).
    pub fn top(&self, n: usize) -> Vec<u64> {
        self.ranking.iter().take(n).map(|&(_, _, u)| u).collect()
    }

    /// Every user, best first.
    pub fn ranking(&self) -> Vec<u64> {
        self.top(usize::MAX)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(secs: u64) -> Time {
        Time(secs * 1_000_000_000)
    }

    #[test]
    fn icpc_rows_do_not_depend_on_the_order_verdicts_arrive_in() {
        let verdicts =
            [(1, 0, s(30), false), (1, 0, s(50), true), (1, 0, s(70), false), (1, 1, s(90), true), (2, 0, s(40), true)];
        let mut a = Leaderboard::new(Duration::from_secs(1200));
        for &(u, p, t, ok) in &verdicts {
            a.apply(u, p, t, ok);
        }
        let mut b = Leaderboard::new(Duration::from_secs(1200));
        for &(u, p, t, ok) in verdicts.iter().rev() {
            b.apply(u, p, t, ok);
        }
        // User 1: problem 0 at 50 s with one wrong before (the one at 70 s is after), problem 1
        // at 90 s: 2 solved, 50 + 1200 + 90.
        assert_eq!(a.rows()[&1], Row { solved: 2, penalty_s: 1340, verdicts: 4 });
        assert_eq!(a.rows()[&2], Row { solved: 1, penalty_s: 40, verdicts: 1 });
        assert_eq!(a.rows(), b.rows());
        assert_eq!(a.ranking(), vec![1, 2]);
        assert_eq!(b.top(1), vec![1]);
    }

    #[test]
    fn a_verdict_applied_twice_counts_twice() {
        let mut l = Leaderboard::new(Duration::from_secs(1200));
        l.apply(1, 0, s(10), false);
        l.apply(1, 0, s(10), false);
        l.apply(1, 0, s(20), true);
        assert_eq!(l.rows()[&1], Row { solved: 1, penalty_s: 20 + 2 * 1200, verdicts: 3 });
    }
}
