//! The probe workload of the partial-quorum literature, for any register-like model: one write,
//! then a read of the same key exactly `t` after the write was acknowledged, for each `t` of a
//! grid; then (after every read has answered and a gap) the next write. It measures
//! P(consistent | t), the chance that a read issued `t` after a write's acknowledgement returns
//! that write, with a Wilson interval, and the k-staleness distribution: how many acknowledged
//! versions behind the newest a read's answer is.
//!
//! The kernel runs it (the model needs nothing but a write and a read whose reply carries the
//! value: `Reply::Value`, or `Reply::Values` for siblings, where the newest counts). Time is
//! measured from the acknowledgement at the client, not from the commit at a coordinator: the
//! kernel sees the client, and a model's coordinator commits no later than that.
//!
//! ```ron
//! arrival: Probe(write: "write", read: "read", writes: 200, read_after: ["0ms", "1ms", "5ms"]),
//! ```

use crate::OpId;
use crate::actor::{Outcome, Reply};
use crate::metrics::{HistoryEntry, op_of_value};
use crate::model::{Axis, Table};
use crate::time::Duration;
use crate::workload::Arrival;
use std::collections::BTreeMap;

/// What a probe arrival asks for (the fields of `Arrival::Probe`, which documents them).
#[derive(Clone, Debug, PartialEq)]
pub struct ProbeSpec {
    pub write: String,
    pub read: String,
    pub writes: u32,
    pub read_after: Vec<Duration>,
    pub keys: u64,
    pub gap: Duration,
}

/// At most this many delays in a probe grid, and this many rounds.
pub const GRID_MAX: usize = 1000;
pub const ROUNDS_MAX: u32 = 10_000_000;

impl ProbeSpec {
    pub fn validate(&self, op_kinds: &[&str], e: &mut Vec<(String, String)>) {
        for (field, name) in [("write", &self.write), ("read", &self.read)] {
            if !op_kinds.contains(&name.as_str()) {
                e.push((
                    format!("workload.arrival.{field}"),
                    format!("unknown operation `{name}` (this model has: {})", op_kinds.join(", ")),
                ));
            }
        }
        if self.writes == 0 || self.writes > ROUNDS_MAX {
            e.push((
                "workload.arrival.writes".into(),
                format!("must be within [1, {ROUNDS_MAX}], got {}", self.writes),
            ));
        }
        if self.read_after.is_empty() || self.read_after.len() > GRID_MAX {
            e.push((
                "workload.arrival.read_after".into(),
                format!("needs 1 to {GRID_MAX} delays, got {}", self.read_after.len()),
            ));
        }
        if self.keys == 0 {
            e.push(("workload.arrival.keys".into(), "must be at least 1".into()));
        }
    }
}

/// The probe's running state, held by the kernel.
#[derive(Debug, Default)]
pub(crate) struct ProbeState {
    /// Rounds started.
    pub round: u32,
    /// Reads of the current round not yet answered.
    pub pending: u32,
    /// Per key, the values of its acknowledged probe writes, oldest first.
    acked: BTreeMap<u64, Vec<u64>>,
    /// What each probe operation is: a write, or a read at grid index `i` after write `of`.
    roles: BTreeMap<OpId, Role>,
    /// One line per probe read, in completion order.
    pub reads: Vec<ProbeRead>,
    pub writes_ok: u64,
    pub writes_failed: u64,
}

#[derive(Clone, Copy, Debug)]
enum Role {
    Write,
    Read { grid: u32 },
}

/// One probe read's outcome.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ProbeRead {
    /// Index into `read_after`.
    pub grid: u32,
    /// How many acknowledged versions behind the newest its answer was (0: consistent); `None`:
    /// it failed or timed out, or answered a value no acknowledged probe write wrote.
    pub behind: Option<u32>,
}

impl ProbeState {
    pub fn note_write(&mut self, op: OpId) {
        self.roles.insert(op, Role::Write);
    }
    pub fn note_read(&mut self, op: OpId, grid: u32) {
        self.roles.insert(op, Role::Read { grid });
    }

    /// An operation completed. For a probe write acknowledged, `Some(true)`: schedule its reads
    /// (and set `pending` to their number); `Some(false)`: a probe write that failed or the last
    /// read of a round: the next round; `None`: nothing to schedule.
    pub fn complete(&mut self, e: &HistoryEntry, outcome: Outcome, reply: &Reply) -> Option<bool> {
        match self.roles.remove(&e.op)? {
            Role::Write if outcome == Outcome::Ok => {
                self.writes_ok += 1;
                self.acked.entry(e.key).or_default().push(e.value);
                Some(true)
            }
            Role::Write => {
                self.writes_failed += 1;
                Some(false)
            }
            Role::Read { grid } => {
                let behind = (outcome == Outcome::Ok).then(|| self.behind(e.key, reply)).flatten();
                self.reads.push(ProbeRead { grid, behind });
                self.pending = self.pending.saturating_sub(1);
                (self.pending == 0).then_some(false)
            }
        }
    }

    /// Versions behind the newest acknowledged write of `key` (the newest of several siblings).
    fn behind(&self, key: u64, reply: &Reply) -> Option<u32> {
        let acked = self.acked.get(&key).map(Vec::as_slice).unwrap_or_default();
        let of = |v: u64| -> Option<u32> {
            if op_of_value(v).is_none() {
                return Some(acked.len() as u32); // the initial value: behind every write
            }
            acked.iter().rev().position(|&w| w == v).map(|p| p as u32)
        };
        match reply {
            Reply::Value(v) => of(*v),
            Reply::Values(vs) if vs.is_empty() => of(0),
            Reply::Values(vs) => vs.iter().filter_map(|&v| of(v)).min(),
            Reply::None => None,
        }
    }

    /// The table: a row per delay, with P(consistent | t), its 95% Wilson interval and the
    /// k-staleness distribution.
    pub fn table(&self, spec: &ProbeSpec) -> Table {
        let mut rows = Vec::new();
        for (i, t) in spec.read_after.iter().enumerate() {
            let reads: Vec<&ProbeRead> = self.reads.iter().filter(|r| r.grid as usize == i).collect();
            let judged: Vec<u32> = reads.iter().filter_map(|r| r.behind).collect();
            let n = judged.len() as u64;
            let at = |k: u32| judged.iter().filter(|&&b| b == k).count() as f64;
            let consistent = at(0) as u64;
            let (lo, hi) = if n == 0 { (f64::NAN, f64::NAN) } else { crate::sweep::wilson(consistent, n, 1.96) };
            let share = |x: f64| if n == 0 { f64::NAN } else { x / n as f64 };
            rows.push(vec![
                t.0 as f64 / 1e6,
                reads.len() as f64,
                n as f64,
                share(consistent as f64),
                lo,
                hi,
                share(at(1)),
                share(at(2)),
                share(judged.iter().filter(|&&b| b >= 3).count() as f64),
            ]);
        }
        Table::new(
            "probe_consistency",
            ["t_ms", "reads", "judged", "p_consistent", "p_lo", "p_hi", "behind_1", "behind_2", "behind_3_plus"],
            rows,
        )
        .curve(
            "t_ms",
            Axis::new("read issued t after the write's acknowledgement", "ms"),
            &["p_consistent", "p_lo", "p_hi"],
            Axis::new("P(read returns the newest acknowledged write)", "share").range(0.0, 1.0),
        )
        .note("judged")
    }
}

/// The probe spec of an arrival, if it is one.
pub fn spec(arrival: &Arrival) -> Option<ProbeSpec> {
    match arrival {
        Arrival::Probe { write, read, writes, read_after, keys, gap } => Some(ProbeSpec {
            write: write.clone(),
            read: read.clone(),
            writes: *writes,
            read_after: read_after.clone(),
            keys: *keys,
            gap: *gap,
        }),
        _ => None,
    }
}
