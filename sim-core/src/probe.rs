//! The probe workload of the partial-quorum literature, for any register-like model: one write,
//! then a read of the same key exactly `t` after the write, for each `t` of a grid; then (after
//! every read has answered and a gap) the next write. It measures P(consistent | t), the chance
//! that a read issued `t` after a write returns that write, with a Wilson interval, and the
//! k-staleness distribution: how many versions behind the newest a read's answer is.
//!
//! The kernel runs it (the model needs nothing but a write and a read whose reply carries the
//! value: `Reply::Value`, or `Reply::Values` for siblings, where the newest counts). `from` says
//! where `t` starts:
//!
//! - `Ack` (default): the write's acknowledgement at the client, which the kernel sees.
//! - `Commit`: the write's commit *as its coordinator saw it* (for a quorum write, the moment the
//!   `W`-th acknowledgement reached the coordinator), as the literature measures it. The model
//!   reports that moment with [`crate::Ctx::committed`]; reads may then be issued before the
//!   client has its acknowledgement. A write acknowledged with no commit reported gets no reads
//!   (counted as `acked_uncommitted` in `probe_writes`), so a model that does not report commits
//!   shows a probe that judged nothing rather than numbers measured from the wrong moment.
//!
//! Either way the versions a read is judged against are the probe writes that reached the
//! moment `t` starts from (acknowledged, or committed), and both moments are recorded: the
//! `probe_writes` table gives the writes acknowledged and committed and the delay from commit to
//! acknowledgement (mean and max), e.g. the reply leg to the client when the coordinator is a
//! server, zero when the client library coordinates.
//!
//! ```ron
//! arrival: Probe(write: "write", read: "read", writes: 200, read_after: ["0ms", "1ms", "5ms"], from: Commit),
//! ```

use crate::OpId;
use crate::actor::{Outcome, Reply};
use crate::metrics::{HistoryEntry, op_of_value};
use crate::model::{Axis, Table};
use crate::time::{Duration, Time};
use crate::workload::Arrival;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Where a probe's read delays are measured from.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum ProbeFrom {
    /// The write's acknowledgement at the client.
    #[default]
    Ack,
    /// The write's commit at its coordinator, as the model reports it ([`crate::Ctx::committed`]).
    Commit,
}

/// What a probe arrival asks for (the fields of `Arrival::Probe`, which documents them).
#[derive(Clone, Debug, PartialEq)]
pub struct ProbeSpec {
    pub write: String,
    pub read: String,
    pub writes: u32,
    pub read_after: Vec<Duration>,
    pub keys: u64,
    pub gap: Duration,
    pub from: ProbeFrom,
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
    /// Answers the current round still waits for: its reads (and, under `from: Commit`, the
    /// write's own completion, which may come after its reads).
    pending: u32,
    /// Per key, the values of the probe writes that reached the reference moment (acknowledged,
    /// or committed under `from: Commit`), oldest first.
    acked: BTreeMap<u64, Vec<u64>>,
    /// What each probe operation is: a write (and when its commit was reported), or a read at
    /// grid index `grid`.
    roles: BTreeMap<OpId, Role>,
    /// One line per probe read, in completion order.
    pub reads: Vec<ProbeRead>,
    pub writes_ok: u64,
    pub writes_failed: u64,
    /// Writes whose commit a coordinator reported before the write completed.
    pub writes_committed: u64,
    /// Writes acknowledged with no commit reported (under `from: Commit`, they get no reads).
    pub acked_uncommitted: u64,
    /// Per write acknowledged after a reported commit: ack time minus commit time.
    commit_to_ack: Vec<Duration>,
}

/// What the kernel does after a probe operation completed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Next {
    /// Schedule the reads of the write's key, one at each delay from now.
    Reads,
    /// The round is over: the next write after the gap.
    Round,
    Nothing,
}

#[derive(Clone, Copy, Debug)]
enum Role {
    Write { committed: Option<Time> },
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
        self.roles.insert(op, Role::Write { committed: None });
    }
    pub fn note_read(&mut self, op: OpId, grid: u32) {
        self.roles.insert(op, Role::Read { grid });
    }

    /// A coordinator reported probe write `e` committed at `now` (the first report counts; one
    /// after the write completed is ignored: its round has moved on). True when its reads are
    /// to be scheduled now (`from: Commit`).
    pub fn commit(&mut self, spec: &ProbeSpec, e: &HistoryEntry, now: Time) -> bool {
        let Some(Role::Write { committed }) = self.roles.get_mut(&e.op) else { return false };
        if committed.is_some() {
            return false;
        }
        *committed = Some(now);
        self.writes_committed += 1;
        if spec.from != ProbeFrom::Commit {
            return false;
        }
        self.acked.entry(e.key).or_default().push(e.value);
        // The reads, and the write's own completion.
        self.pending = spec.read_after.len() as u32 + 1;
        true
    }

    /// An operation completed at `now`: what the kernel schedules next.
    pub fn complete(&mut self, spec: &ProbeSpec, e: &HistoryEntry, outcome: Outcome, now: Time) -> Next {
        let Some(role) = self.roles.remove(&e.op) else { return Next::Nothing };
        match role {
            Role::Write { committed } => {
                let ok = outcome == Outcome::Ok;
                if ok {
                    self.writes_ok += 1
                } else {
                    self.writes_failed += 1
                }
                match (committed, ok) {
                    (Some(c), true) => self.commit_to_ack.push(now - c),
                    (None, true) => self.acked_uncommitted += 1,
                    _ => {}
                }
                match spec.from {
                    ProbeFrom::Ack if ok => {
                        self.acked.entry(e.key).or_default().push(e.value);
                        self.pending = spec.read_after.len() as u32;
                        Next::Reads
                    }
                    ProbeFrom::Commit if committed.is_some() => self.answered(),
                    _ => Next::Round,
                }
            }
            Role::Read { grid } => {
                let behind = (outcome == Outcome::Ok).then(|| self.behind(e.key, &e.reply)).flatten();
                self.reads.push(ProbeRead { grid, behind });
                self.answered()
            }
        }
    }

    /// One answer of the round came in: the next round when it was the last.
    fn answered(&mut self) -> Next {
        self.pending = self.pending.saturating_sub(1);
        if self.pending == 0 { Next::Round } else { Next::Nothing }
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
            Reply::None => None,
            _ if reply.iter().next().is_none() => of(0),
            _ => reply.iter().filter_map(of).min(),
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
            Axis::new(
                match spec.from {
                    ProbeFrom::Ack => "read issued t after the write's acknowledgement",
                    ProbeFrom::Commit => "read issued t after the write's commit at its coordinator",
                },
                "ms",
            ),
            &["p_consistent", "p_lo", "p_hi"],
            Axis::new("P(read returns the newest acknowledged write)", "share").range(0.0, 1.0),
        )
        .note("judged")
    }
}

impl ProbeState {
    /// The probe's writes: how many were acknowledged, failed, reported committed by their
    /// coordinator, acknowledged with no commit reported, and the delay from commit to
    /// acknowledgement (ms; NaN when no acknowledged write had a commit reported).
    pub fn writes_table(&self) -> Table {
        let n = self.commit_to_ack.len();
        let ms = |d: &Duration| d.0 as f64 / 1e6;
        let mean = if n == 0 { f64::NAN } else { self.commit_to_ack.iter().map(ms).sum::<f64>() / n as f64 };
        let max = self.commit_to_ack.iter().map(ms).fold(f64::NAN, f64::max);
        Table::new(
            "probe_writes",
            [
                "writes",
                "acknowledged",
                "failed",
                "committed",
                "acked_uncommitted",
                "commit_to_ack_mean_ms",
                "commit_to_ack_max_ms",
            ],
            vec![vec![
                (self.writes_ok + self.writes_failed) as f64,
                self.writes_ok as f64,
                self.writes_failed as f64,
                self.writes_committed as f64,
                self.acked_uncommitted as f64,
                mean,
                max,
            ]],
        )
    }
}

/// The probe spec of an arrival, if it is one.
pub fn spec(arrival: &Arrival) -> Option<ProbeSpec> {
    match arrival {
        Arrival::Probe { write, read, writes, read_after, keys, gap, from } => Some(ProbeSpec {
            write: write.clone(),
            read: read.clone(),
            writes: *writes,
            read_after: read_after.clone(),
            keys: *keys,
            gap: *gap,
            from: *from,
        }),
        _ => None,
    }
}
