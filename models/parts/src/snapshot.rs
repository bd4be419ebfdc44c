//! Snapshot + replay recovery of a consumer's state: periodic snapshots of the state kept per
//! input partition, each with the log offset it covers, in a snapshot store (S3 in the notes);
//! after a crash or a rebalance, the partition's new owner loads the latest snapshot and replays
//! the log from the offset it covers (Flink's checkpoints with the Kafka offsets inside them).
//!
//! **Why the offsets go with the state.** A stateful consumer that commits offsets as it reads
//! and keeps its state only in memory loses the state of everything below the committed offset
//! when it crashes (restart from committed offsets without state: counts lost); one that saves
//! its state without the offsets replays what the state already holds (state without offsets:
//! counts doubled). Here the consumer marks records done for the log ([`crate::log::Consumer::
//! done_below`]) only once a snapshot covering them is in the store, and a new owner starts from
//! the snapshot's offset: records between the group's committed offset and the snapshot's are
//! skipped (the state has them), records after it are applied again from the state as of the
//! snapshot. If the state's transitions are a function of the records in log order (no wall
//! clock, no randomness), the replay rebuilds exactly the state the lost owner had, and every
//! output it had produced since the snapshot is produced again, identically (so the sink must
//! accept a repeated output: an idempotent write keyed by what it is).
//!
//! **Parts.** [`Keeper`] lives in the consumer (one slot per owned partition: the state, the
//! next offset to apply, records that arrived while the snapshot was loading); [`Bucket`] lives
//! in the store node (the latest snapshot per partition; a save that covers less than the one it
//! holds is acknowledged and not kept, so the bucket only moves forward). The messages ([`Msg`])
//! travel inside the design's request type, through its [`crate::calls::Calls`] (timeouts and
//! retries); the store persists a save before it answers.
//!
//! **Off** (`enabled: false`) the keeper hands out a fresh state at once and applies everything:
//! the design then commits as it reads (the known-bad configuration).

use crate::calls::ReqId;
use serde::{Deserialize, Serialize};
use sim_core::{Duration, Message};
use std::collections::BTreeMap;
use std::fmt::Debug;
use std::rc::Rc;

/// ```ron
/// snapshot: (enabled: true, interval: "5s")
/// ```
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SnapshotSpec {
    pub enabled: bool,
    /// How often each partition's state is saved (if it changed).
    pub interval: Duration,
}

impl Default for SnapshotSpec {
    fn default() -> Self {
        SnapshotSpec { enabled: true, interval: Duration::from_secs(5) }
    }
}

impl SnapshotSpec {
    pub fn validate(&self, path: &str) -> Vec<(String, String)> {
        if self.interval == Duration::ZERO {
            vec![(format!("{path}.interval"), "must be positive".into())]
        } else {
            Vec::new()
        }
    }
}

/// A state that can be snapshotted: cloned, and sized for the wire and the store.
pub trait SnapState: Clone + Debug + 'static {
    fn bytes(&self) -> u64;
}

/// A partition's state as of every record below `covers`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Snapshot<S> {
    pub key: u64,
    pub covers: u64,
    pub state: S,
}

/// The snapshot store's requests and answers.
#[derive(Clone, Debug)]
pub enum Msg<S> {
    Save { req: ReqId, snap: Rc<Snapshot<S>> },
    Saved { req: ReqId },
    Load { req: ReqId, key: u64 },
    Loaded { req: ReqId, snap: Option<Rc<Snapshot<S>>> },
}

impl<S: SnapState> Message for Msg<S> {
    fn kind(&self) -> &'static str {
        match self {
            Msg::Save { .. } => "snap_save",
            Msg::Saved { .. } => "snap_saved",
            Msg::Load { .. } => "snap_load",
            Msg::Loaded { .. } => "snap_loaded",
        }
    }
    fn size_bytes(&self) -> u64 {
        64 + match self {
            Msg::Save { snap, .. } | Msg::Loaded { snap: Some(snap), .. } => snap.state.bytes(),
            _ => 0,
        }
    }
}

/// What the keeper makes of a record.
#[derive(Debug, PartialEq, Eq)]
pub enum Admitted<D> {
    /// Apply it to the state (now the state's next offset is past it).
    Apply(D),
    /// The state already holds it (below the snapshot's offset, or seen before).
    Skip(D),
    /// The state is loading: kept, handed back by [`Keeper::loaded`].
    Buffered,
}

#[derive(Debug)]
struct Slot<S, D> {
    /// `None` while the snapshot loads.
    state: Option<S>,
    next: u64,
    buffer: Vec<(u64, D)>,
    dirty: bool,
    saving: bool,
    /// Bumped at every assignment: answers for an earlier one are ignored.
    epoch: u64,
}

/// Counts of the keeper's work.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct KeeperStats {
    pub saves: u64,
    pub saved: u64,
    pub loads: u64,
    /// Loads that found a snapshot.
    pub restored: u64,
    /// Records skipped because the state held them.
    pub skipped: u64,
    /// Bytes of the states saved.
    pub saved_bytes: u64,
}

/// The consumer's side: per partition, the state and the offset it has reached.
#[derive(Debug)]
pub struct Keeper<S, D> {
    spec: SnapshotSpec,
    slots: BTreeMap<u64, Slot<S, D>>,
    epochs: u64,
    pub stats: KeeperStats,
}

impl<S: SnapState, D> Keeper<S, D> {
    pub fn new(spec: SnapshotSpec) -> Self {
        Keeper { spec, slots: BTreeMap::new(), epochs: 0, stats: KeeperStats::default() }
    }

    pub fn spec(&self) -> &SnapshotSpec {
        &self.spec
    }

    pub fn has(&self, key: u64) -> bool {
        self.slots.contains_key(&key)
    }

    /// The partitions held.
    pub fn keys(&self) -> impl Iterator<Item = u64> + '_ {
        self.slots.keys().copied()
    }

    /// A partition this node now owns. With snapshots on it returns the assignment's epoch:
    /// load the snapshot (`Msg::Load`) and hand the answer to [`Keeper::loaded`] with it; off,
    /// the state starts `fresh` at once (`None`).
    pub fn assign(&mut self, key: u64, fresh: impl FnOnce() -> S) -> Option<u64> {
        self.epochs += 1;
        let epoch = self.epochs;
        let on = self.spec.enabled;
        let state = (!on).then(fresh);
        self.slots.insert(key, Slot { state, next: 0, buffer: Vec::new(), dirty: false, saving: false, epoch });
        if on {
            self.stats.loads += 1;
        }
        on.then_some(epoch)
    }

    /// The load of `epoch` failed (the store did not answer): load `key`'s snapshot again under
    /// the new epoch returned (a late answer to the failed load is then ignored). The records
    /// buffered meanwhile stay: the consumer has read past them and they are not committed, so
    /// dropping them would lose them until the next rebalance. `None` if that load is no longer
    /// the partition's (revoked, assigned again, retried already) or the state has loaded.
    pub fn reload(&mut self, key: u64, epoch: u64) -> Option<u64> {
        let slot = self.slots.get_mut(&key).filter(|s| s.epoch == epoch && s.state.is_none())?;
        self.epochs += 1;
        slot.epoch = self.epochs;
        self.stats.loads += 1;
        Some(slot.epoch)
    }

    /// The partition went to another owner: its state is dropped (the new owner loads it).
    pub fn revoke(&mut self, key: u64) {
        self.slots.remove(&key);
    }

    /// The snapshot store answered the load of `epoch`: installs the snapshot's state (or a
    /// `fresh` one if there is none) and returns the buffered records, each to be admitted again,
    /// and the offset the state covers (everything below it may be marked done).
    pub fn loaded(
        &mut self,
        key: u64,
        epoch: u64,
        snap: Option<&Snapshot<S>>,
        fresh: impl FnOnce() -> S,
    ) -> Option<(u64, Vec<(u64, D)>)> {
        let slot = self.slots.get_mut(&key).filter(|s| s.epoch == epoch && s.state.is_none())?;
        match snap {
            Some(s) => {
                slot.state = Some(s.state.clone());
                slot.next = s.covers;
                self.stats.restored += 1;
            }
            None => slot.state = Some(fresh()),
        }
        Some((slot.next, std::mem::take(&mut slot.buffer)))
    }

    /// A record at `offset` of partition `key` (which must be assigned).
    pub fn admit(&mut self, key: u64, offset: u64, d: D) -> Admitted<D> {
        let slot = self.slots.get_mut(&key).expect("admit: assign the partition first");
        if slot.state.is_none() {
            slot.buffer.push((offset, d));
            return Admitted::Buffered;
        }
        if offset < slot.next {
            self.stats.skipped += 1;
            return Admitted::Skip(d);
        }
        slot.next = offset + 1;
        slot.dirty = true;
        Admitted::Apply(d)
    }

    pub fn state(&self, key: u64) -> Option<&S> {
        self.slots.get(&key).and_then(|s| s.state.as_ref())
    }

    /// The offset the loaded state of `key` has reached: it holds the records below it (`None`
    /// while the snapshot loads, or not assigned).
    pub fn next(&self, key: u64) -> Option<u64> {
        self.slots.get(&key).filter(|s| s.state.is_some()).map(|s| s.next)
    }

    pub fn state_mut(&mut self, key: u64) -> Option<&mut S> {
        self.slots.get_mut(&key).and_then(|s| s.state.as_mut())
    }

    /// The states every loaded partition has, for the design's own outputs.
    pub fn states(&self) -> impl Iterator<Item = (u64, &S)> {
        self.slots.iter().filter_map(|(&k, s)| s.state.as_ref().map(|st| (k, st)))
    }

    /// The snapshots to save now (with snapshots on): every loaded partition whose state changed
    /// since its last save and that has no save in flight, with the epoch to hand back.
    pub fn due(&mut self) -> Vec<(u64, Snapshot<S>)> {
        if !self.spec.enabled {
            return Vec::new();
        }
        let mut out = Vec::new();
        for (&key, slot) in &mut self.slots {
            if let (Some(state), true, false) = (&slot.state, slot.dirty, slot.saving) {
                slot.dirty = false;
                slot.saving = true;
                self.stats.saves += 1;
                self.stats.saved_bytes += state.bytes();
                out.push((slot.epoch, Snapshot { key, covers: slot.next, state: state.clone() }));
            }
        }
        out
    }

    /// The store has the snapshot of `key` covering `covers` (saved under `epoch`): returns the
    /// offset below which the partition's records may be marked done, if it is still this
    /// assignment's.
    pub fn saved(&mut self, key: u64, epoch: u64, covers: u64) -> Option<u64> {
        let slot = self.slots.get_mut(&key).filter(|s| s.epoch == epoch)?;
        slot.saving = false;
        self.stats.saved += 1;
        Some(covers)
    }

    /// A save that failed for good: it will be taken again at the next interval.
    pub fn save_failed(&mut self, key: u64, epoch: u64) {
        if let Some(slot) = self.slots.get_mut(&key).filter(|s| s.epoch == epoch) {
            slot.saving = false;
            slot.dirty = true;
        }
    }
}

/// The snapshot store's side: the latest snapshot of each partition.
#[derive(Debug)]
pub struct Bucket<S> {
    latest: BTreeMap<u64, Rc<Snapshot<S>>>,
    /// Saves kept, and saves refused because they covered less than the one held.
    pub kept: u64,
    pub stale: u64,
}

impl<S> Default for Bucket<S> {
    fn default() -> Self {
        Bucket { latest: BTreeMap::new(), kept: 0, stale: 0 }
    }
}

impl<S: SnapState> Bucket<S> {
    /// Keeps `snap` unless the bucket holds one of its partition covering more; `true` if kept.
    pub fn put(&mut self, snap: Rc<Snapshot<S>>) -> bool {
        match self.latest.get(&snap.key) {
            Some(have) if have.covers > snap.covers => {
                self.stale += 1;
                false
            }
            _ => {
                self.kept += 1;
                self.latest.insert(snap.key, snap);
                true
            }
        }
    }

    pub fn get(&self, key: u64) -> Option<Rc<Snapshot<S>>> {
        self.latest.get(&key).cloned()
    }

    /// Bytes of the snapshots held.
    pub fn bytes(&self) -> u64 {
        self.latest.values().map(|s| s.state.bytes() + 16).sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A toy state: the sum of the values applied.
    #[derive(Clone, Debug, Default, PartialEq, Eq)]
    struct Sum(u64);
    impl SnapState for Sum {
        fn bytes(&self) -> u64 {
            8
        }
    }

    fn on() -> SnapshotSpec {
        SnapshotSpec { enabled: true, interval: Duration::from_secs(1) }
    }

    /// Applies log records `from..to` (value = offset + 1) through the keeper.
    fn consume(k: &mut Keeper<Sum, u64>, log: &[u64], from: u64, to: u64) -> u64 {
        let mut applied = 0;
        for o in from..to {
            if let Admitted::Apply(v) = k.admit(0, o, log[o as usize]) {
                k.state_mut(0).unwrap().0 += v;
                applied += 1;
            }
        }
        applied
    }

    #[test]
    fn recovery_from_a_snapshot_and_replay_rebuilds_the_state_exactly() {
        let log: Vec<u64> = (1..=100).collect();
        let want: u64 = log.iter().sum();
        let mut bucket = Bucket::default();
        let mut a: Keeper<Sum, u64> = Keeper::new(on());
        let e = a.assign(0, Sum::default).expect("snapshots on: load first");
        assert_eq!(a.loaded(0, e, None, Sum::default), Some((0, vec![])));
        consume(&mut a, &log, 0, 40);
        let (ep, snap) = a.due().pop().unwrap();
        assert_eq!(snap.covers, 40);
        bucket.put(Rc::new(snap));
        // The commit may move to 40 only now that the store has the snapshot.
        assert_eq!(a.saved(0, ep, 40), Some(40));
        consume(&mut a, &log, 40, 70);
        // `a` crashes: its state after 40 is lost, and the group's committed offset is 30 (the
        // commit of 40 had not been sent yet). The new owner loads the snapshot, is redelivered
        // 30.., skips what the snapshot holds and applies the rest once.
        let mut b: Keeper<Sum, u64> = Keeper::new(on());
        let e = b.assign(0, Sum::default).unwrap();
        assert_eq!(b.admit(0, 30, log[30]), Admitted::Buffered, "records wait for the snapshot");
        assert_eq!(b.next(0), None, "loading");
        let snap = bucket.get(0);
        let (covers, buffered) = b.loaded(0, e, snap.as_deref(), Sum::default).unwrap();
        assert_eq!((covers, buffered.len()), (40, 1));
        assert_eq!(b.next(0), Some(40));
        assert_eq!(b.admit(0, 30, log[30]), Admitted::Skip(31));
        assert_eq!(consume(&mut b, &log, 31, 100), 60, "31..40 skipped, 40..100 applied");
        assert_eq!(b.state(0), Some(&Sum(want)));
        assert_eq!(b.stats.skipped, 10);
    }

    #[test]
    fn without_snapshots_a_new_owner_starts_from_a_fresh_state() {
        let log: Vec<u64> = (1..=100).collect();
        let mut b: Keeper<Sum, u64> = Keeper::new(SnapshotSpec { enabled: false, ..on() });
        assert_eq!(b.assign(0, Sum::default), None, "no load");
        assert!(b.due().is_empty(), "nothing is ever saved");
        // Resuming from a committed offset of 70 without the state: 0..70 are lost.
        consume(&mut b, &log, 70, 100);
        assert_eq!(b.state(0), Some(&Sum((71..=100).sum())));
    }

    #[test]
    fn answers_for_an_earlier_assignment_are_ignored() {
        let mut k: Keeper<Sum, u64> = Keeper::new(on());
        let e1 = k.assign(0, Sum::default).unwrap();
        k.loaded(0, e1, None, Sum::default).unwrap();
        k.admit(0, 0, 1);
        let (ep, _) = k.due().pop().unwrap();
        k.revoke(0);
        let e2 = k.assign(0, Sum::default).unwrap();
        assert_eq!(k.saved(0, ep, 1), None, "a save of the revoked assignment commits nothing");
        assert_eq!(k.loaded(0, e1, None, Sum::default), None);
        assert!(k.loaded(0, e2, None, Sum::default).is_some());
        assert!(k.due().is_empty(), "nothing changed since the load");
    }

    /// A load that fails is retried without losing what arrived while it was out: `explore` found
    /// `adclick` losing minute 0's clicks when its store crashed during the first loads (the
    /// aggregator revoked and reassigned the partition, dropping the records already read).
    #[test]
    fn a_failed_load_retried_keeps_the_records_read_meanwhile() {
        let log: Vec<u64> = (1..=10).collect();
        let mut k: Keeper<Sum, u64> = Keeper::new(on());
        let e1 = k.assign(0, Sum::default).unwrap();
        for o in 0..4 {
            assert_eq!(k.admit(0, o, log[o as usize]), Admitted::Buffered);
        }
        let e2 = k.reload(0, e1).expect("still loading");
        assert_ne!(e1, e2);
        assert_eq!(k.reload(0, e1), None, "retried already");
        assert_eq!(k.loaded(0, e1, None, Sum::default), None, "the failed load's late answer is ignored");
        k.admit(0, 4, log[4]);
        let (covers, buffered) = k.loaded(0, e2, None, Sum::default).unwrap();
        assert_eq!((covers, buffered.iter().map(|b| b.0).collect::<Vec<_>>()), (0, vec![0, 1, 2, 3, 4]));
        for (o, v) in buffered {
            if let Admitted::Apply(v) = k.admit(0, o, v) {
                k.state_mut(0).unwrap().0 += v;
            }
        }
        assert_eq!(k.state(0), Some(&Sum(15)));
        assert_eq!(k.reload(0, e2), None, "loaded: nothing to retry");
        assert_eq!(k.stats.loads, 2);
    }

    #[test]
    fn the_bucket_only_moves_forward() {
        let mut b = Bucket::default();
        assert!(b.put(Rc::new(Snapshot { key: 3, covers: 50, state: Sum(5) })));
        assert!(!b.put(Rc::new(Snapshot { key: 3, covers: 20, state: Sum(2) })));
        assert_eq!(b.get(3).unwrap().covers, 50);
        assert_eq!((b.kept, b.stale), (1, 1));
        assert!(b.get(4).is_none());
    }
}
