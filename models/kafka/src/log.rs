//! One replica's copy of a partition: entries, the leader-epoch cache, the high-water mark, and the
//! indexes derived from the entries (consumer-offset commits, idempotent-producer sequences).
//!
//! Everything here is pure data with no actor in sight, so truncation by leader epoch and the
//! high-water mark can be tested on their own.

use std::collections::BTreeMap;

/// `Payload::Commit::from` of a plain (not transactional) offset commit.
pub const NO_CAS: u64 = u64::MAX;

/// What an entry carries: a produced message, or a consumer group's offset commit (a control record,
/// skipped by consumers, replicated and committed like data).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Payload {
    /// `id` is the workload's value (unique per logical produce); `producer` 0 means not idempotent.
    Data { id: u64, producer: u64, seq: u32 },
    /// `from`: the offset a transactional (compare-and-set) commit moved from; its output is the
    /// data in `[from, offset)`. `NO_CAS` for a plain commit.
    Commit { offset: u64, generation: u64, from: u64 },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Entry {
    /// The leader epoch in which the entry was appended by its leader.
    pub epoch: u32,
    pub payload: Payload,
}

/// The last entry of each idempotent producer: its sequence number and offset.
#[derive(Clone, Copy, Debug, Default)]
struct ProducerState {
    last_seq: u32,
    last_offset: u64,
}

/// The answer of the idempotence check for `(producer, seq)`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SeqCheck {
    /// Append it.
    Next,
    /// Already in the log, its last message at this offset (`None`: an older batch, acknowledged
    /// before the producer sent the next one).
    Duplicate(Option<u64>),
    /// A gap: an earlier sequence number is missing. Rejected; the producer retries in order.
    OutOfOrder,
}

#[derive(Clone, Debug, Default)]
pub struct PartitionLog {
    entries: Vec<Entry>,
    /// `(epoch, start offset)`, rising in both.
    epochs: Vec<(u32, u64)>,
    /// Entries below it are committed (replicated to every in-sync replica).
    pub hwm: u64,
    /// `(log offset, committed consumer offset, generation)` of every commit entry.
    commits: Vec<(u64, u64, u64)>,
    producers: BTreeMap<u64, ProducerState>,
}

impl PartitionLog {
    /// The log end offset: the offset the next entry gets.
    pub fn leo(&self) -> u64 {
        self.entries.len() as u64
    }
    pub fn entries(&self) -> &[Entry] {
        &self.entries
    }
    pub fn entry(&self, offset: u64) -> Option<&Entry> {
        self.entries.get(offset as usize)
    }
    /// The epoch of the last entry (0 for an empty log): what a follower sends with its fetch.
    pub fn last_epoch(&self) -> u32 {
        self.entries.last().map_or(0, |e| e.epoch)
    }
    pub fn epochs(&self) -> &[(u32, u64)] {
        &self.epochs
    }

    /// Moves the high-water mark to `hwm`: never back (what is below it is committed), never past
    /// the log end. Only a truncation (`truncate_to`) lowers it.
    pub fn advance_hwm(&mut self, hwm: u64) {
        debug_assert!(hwm >= self.hwm, "the high-water mark went back from {} to {hwm}", self.hwm);
        debug_assert!(hwm <= self.leo(), "the high-water mark {hwm} passed the log end {}", self.leo());
        self.hwm = hwm;
    }

    /// A new leader records where its epoch starts, before it appends anything in it.
    pub fn begin_epoch(&mut self, epoch: u32) {
        if self.epochs.last().is_none_or(|&(e, _)| e < epoch) {
            self.epochs.push((epoch, self.leo()));
        }
    }

    /// Appends one entry, returning its offset.
    pub fn append(&mut self, e: Entry) -> u64 {
        let offset = self.leo();
        self.begin_epoch(e.epoch);
        self.index(offset, &e);
        self.entries.push(e);
        offset
    }

    fn index(&mut self, offset: u64, e: &Entry) {
        match e.payload {
            Payload::Data { producer, seq, .. } if producer != 0 => {
                self.producers.insert(producer, ProducerState { last_seq: seq, last_offset: offset });
            }
            Payload::Commit { offset: to, generation, .. } => self.commits.push((offset, to, generation)),
            Payload::Data { .. } => {}
        }
    }

    /// Removes every entry at `offset` and above; returns how many were removed.
    pub fn truncate_to(&mut self, offset: u64) -> u64 {
        let removed = self.leo().saturating_sub(offset);
        if removed == 0 {
            return 0;
        }
        let cut = self.entries[offset as usize..]
            .iter()
            .any(|e| matches!(e.payload, Payload::Data { producer, .. } if producer != 0));
        self.entries.truncate(offset as usize);
        self.epochs.retain(|&(_, start)| start < offset);
        self.hwm = self.hwm.min(offset);
        self.commits.retain(|&(at, _, _)| at < offset);
        if cut {
            self.producers.clear();
            for i in 0..self.entries.len() {
                let e = self.entries[i];
                if let Payload::Data { .. } = e.payload {
                    self.index(i as u64, &e);
                }
            }
        }
        removed
    }

    /// Drops cached epochs that start at the end of the log with no entry in them (a leader that
    /// appended nothing before it was deposed), so the cache matches the entries again.
    pub fn drop_empty_epochs(&mut self) {
        let leo = self.leo();
        self.epochs.retain(|&(_, start)| start < leo);
    }

    /// Kafka's OffsetsForLeaderEpoch: the largest epoch `<= epoch` this log knows, and the offset
    /// where it ends (the start of the next epoch, or the log end). `(0, 0)` if it knows none.
    pub fn end_offset_for_epoch(&self, epoch: u32) -> (u32, u64) {
        let i = self.epochs.partition_point(|&(e, _)| e <= epoch);
        if i == 0 {
            return (0, 0);
        }
        let found = self.epochs[i - 1].0;
        let end = self.epochs.get(i).map_or(self.leo(), |&(_, start)| start);
        (found, end)
    }

    /// Leader side of a follower's fetch at `offset` whose last entry has `last_epoch`: `None` if
    /// the follower's log is a prefix of ours, else `(epoch, end offset)` to truncate by.
    pub fn divergence(&self, offset: u64, last_epoch: u32) -> Option<(u32, u64)> {
        if offset == 0 {
            return None;
        }
        let (found, end) = self.end_offset_for_epoch(last_epoch);
        (found != last_epoch || end < offset).then_some((found, end))
    }

    /// Follower side: where to truncate after the leader answered `(epoch, end)` (KIP-279): the end
    /// of that epoch on both sides, whichever is lower.
    pub fn truncation_point(&self, leader_epoch: u32, leader_end: u64) -> u64 {
        let (_, own_end) = self.end_offset_for_epoch(leader_epoch);
        own_end.min(leader_end).min(self.leo())
    }

    /// The idempotent-producer check for a batch of `count` messages numbered from `base_seq`.
    /// A producer the log does not know must start at 0 (had a later batch been accepted first, an
    /// earlier one arriving after it would pass for a duplicate and be acknowledged unwritten); a
    /// producer whose entries were all truncated gets `OutOfOrder` until it gives up and restarts
    /// with a new id.
    pub fn check_sequence(&self, producer: u64, base_seq: u32, count: u32) -> SeqCheck {
        let last = base_seq + count.max(1) - 1;
        match self.producers.get(&producer) {
            None if base_seq == 0 => SeqCheck::Next,
            None => SeqCheck::OutOfOrder,
            Some(st) if base_seq == st.last_seq.wrapping_add(1) => SeqCheck::Next,
            Some(st) if last == st.last_seq => SeqCheck::Duplicate(Some(st.last_offset)),
            Some(st) if last < st.last_seq => SeqCheck::Duplicate(None),
            Some(_) => SeqCheck::OutOfOrder,
        }
    }

    /// The latest offset commit in the log, committed or not: `(consumer offset, generation)`.
    pub fn latest_commit(&self) -> Option<(u64, u64)> {
        self.commits.last().map(|&(_, to, g)| (to, g))
    }

    /// The latest *committed* offset commit (below the high-water mark): where a new owner resumes.
    pub fn committed_consumer_offset(&self) -> u64 {
        self.commits.iter().rev().find(|&&(at, _, _)| at < self.hwm).map_or(0, |&(_, to, _)| to)
    }
}

/// The leader's high-water mark: the lowest log end offset among the in-sync replicas (the leader's
/// own counted once it is on disk). It never moves backwards on a leader.
pub fn high_watermark(current: u64, leader_durable: u64, isr_followers: impl IntoIterator<Item = u64>) -> u64 {
    let low = isr_followers.into_iter().fold(leader_durable, u64::min);
    current.max(low)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn data(epoch: u32, id: u64) -> Entry {
        Entry { epoch, payload: Payload::Data { id, producer: 0, seq: 0 } }
    }

    fn log_of(epochs: &[u32]) -> PartitionLog {
        let mut l = PartitionLog::default();
        for (i, &e) in epochs.iter().enumerate() {
            l.append(data(e, i as u64 + 1));
        }
        l
    }

    #[test]
    #[cfg(debug_assertions)]
    #[should_panic(expected = "the high-water mark went back")]
    fn a_high_water_mark_going_back_trips_the_assertion() {
        let mut l = log_of(&[1, 1, 1]);
        l.advance_hwm(2);
        l.advance_hwm(3);
        l.advance_hwm(1);
    }

    #[test]
    #[cfg(debug_assertions)]
    #[should_panic(expected = "passed the log end")]
    fn a_high_water_mark_past_the_log_end_trips_the_assertion() {
        log_of(&[1]).advance_hwm(2);
    }

    #[test]
    fn end_offset_for_epoch_follows_the_cache() {
        let l = log_of(&[1, 1, 1, 3, 3, 5]);
        assert_eq!(l.epochs(), &[(1, 0), (3, 3), (5, 5)]);
        assert_eq!(l.end_offset_for_epoch(1), (1, 3));
        assert_eq!(l.end_offset_for_epoch(2), (1, 3));
        assert_eq!(l.end_offset_for_epoch(3), (3, 5));
        assert_eq!(l.end_offset_for_epoch(9), (5, 6));
        assert_eq!(l.end_offset_for_epoch(0), (0, 0));
    }

    /// The deposed leader wrote offsets 3..5 in epoch 1 that the new leader (epoch 2) never had:
    /// the follower truncates exactly its uncommitted tail, then fetches the new leader's entries.
    #[test]
    fn deposed_leader_truncates_its_tail_by_leader_epoch() {
        let mut old = log_of(&[1, 1, 1, 1, 1]);
        let mut new = log_of(&[1, 1, 1]);
        new.begin_epoch(2);
        new.append(data(2, 100));
        new.append(data(2, 101));
        // The old leader fetches at its end (5) with last epoch 1.
        let (epoch, end) = new.divergence(old.leo(), old.last_epoch()).expect("diverged");
        assert_eq!((epoch, end), (1, 3));
        let to = old.truncation_point(epoch, end);
        assert_eq!(to, 3);
        assert_eq!(old.truncate_to(to), 2);
        assert_eq!(new.divergence(old.leo(), old.last_epoch()), None);
        for e in &new.entries()[3..] {
            old.append(*e);
        }
        assert_eq!(old.entries(), new.entries());
        assert_eq!(old.epochs(), new.epochs());
    }

    /// A follower whose log is a prefix of the leader's is never truncated.
    #[test]
    fn prefix_follower_does_not_diverge() {
        let leader = log_of(&[1, 1, 2, 2, 4]);
        for n in 0..=5 {
            let f = log_of(&[1, 1, 2, 2, 4][..n]);
            assert_eq!(leader.divergence(f.leo(), f.last_epoch()), None, "prefix of length {n}");
        }
    }

    /// Divergence in an older epoch: the follower has epoch-3 entries the leader never saw.
    #[test]
    fn truncation_to_an_epoch_the_leader_skipped() {
        let leader = log_of(&[1, 1, 4, 4]);
        let mut f = log_of(&[1, 1, 3, 3, 3]);
        let (epoch, end) = leader.divergence(f.leo(), f.last_epoch()).expect("diverged");
        assert_eq!((epoch, end), (1, 2));
        let to = f.truncation_point(epoch, end);
        f.truncate_to(to);
        assert_eq!(f.leo(), 2);
        assert_eq!(leader.divergence(f.leo(), f.last_epoch()), None);
    }

    #[test]
    fn truncation_lowers_the_hwm_and_forgets_commits() {
        let mut l = log_of(&[1, 1]);
        l.append(Entry { epoch: 1, payload: Payload::Commit { offset: 2, generation: 7, from: NO_CAS } });
        l.append(data(1, 9));
        l.hwm = 4;
        assert_eq!(l.committed_consumer_offset(), 2);
        l.truncate_to(2);
        assert_eq!(l.hwm, 2);
        assert_eq!(l.latest_commit(), None);
        assert_eq!(l.committed_consumer_offset(), 0);
    }

    #[test]
    fn hwm_is_the_lowest_isr_offset_and_never_falls() {
        assert_eq!(high_watermark(0, 10, [7, 9]), 7);
        assert_eq!(high_watermark(0, 5, [7, 9]), 5, "the leader's own durable end counts");
        assert_eq!(high_watermark(8, 10, [7, 9]), 8, "never moves backwards");
        assert_eq!(high_watermark(0, 10, []), 10, "a leader alone in the ISR");
    }

    #[test]
    fn idempotent_batches() {
        let mut l = PartitionLog::default();
        assert_eq!(l.check_sequence(42, 0, 2), SeqCheck::Next);
        assert_eq!(l.check_sequence(42, 2, 2), SeqCheck::OutOfOrder, "a later batch overtook the first");
        l.append(data(1, 7));
        l.append(Entry { epoch: 1, payload: Payload::Data { id: 1, producer: 42, seq: 0 } });
        l.append(Entry { epoch: 1, payload: Payload::Data { id: 2, producer: 42, seq: 1 } });
        assert_eq!(l.check_sequence(42, 0, 2), SeqCheck::Duplicate(Some(2)), "a retried batch");
        assert_eq!(l.check_sequence(42, 0, 1), SeqCheck::Duplicate(None));
        assert_eq!(l.check_sequence(42, 3, 1), SeqCheck::OutOfOrder, "seq 2 is missing");
        assert_eq!(l.check_sequence(42, 2, 5), SeqCheck::Next);
        l.truncate_to(2);
        assert_eq!(l.check_sequence(42, 1, 1), SeqCheck::Next, "truncation rolls the sequence back");
        l.truncate_to(1);
        assert_eq!(l.check_sequence(42, 9, 1), SeqCheck::OutOfOrder, "an unknown producer starts at 0");
        assert_eq!(l.check_sequence(42, 0, 1), SeqCheck::Next);
    }
}
