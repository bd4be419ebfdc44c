//! One replica's copy of a partition: entries, the leader-epoch cache, the high-water mark, and the
//! indexes derived from the entries (consumer-offset commits, idempotent-producer sequences).
//!
//! Everything here is pure data with no actor in sight, so truncation by leader epoch and the
//! high-water mark can be tested on their own.

use std::cell::Cell;
use std::rc::Rc;

/// Sets `producer`'s state in `producers` (sorted by producer id).
fn set_producer(producers: &mut Vec<(u64, ProducerState)>, producer: u64, st: ProducerState) {
    match producers.binary_search_by_key(&producer, |&(p, _)| p) {
        Ok(i) => producers[i].1 = st,
        Err(i) => producers.insert(i, (producer, st)),
    }
}

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

/// One log entry: the leader epoch in which its leader appended it, and its [`Payload`].
///
/// Held as one enum with the epoch inside each variant: 32 bytes, where a struct of the epoch
/// beside a `Payload` was 40 (the payload's tag and the epoch each padded to 8 bytes). Every
/// message is one entry for the whole run (shared by the replicas' logs, see [`Run`]), so this is
/// 8 bytes less per message, and fewer fresh pages for the simulation to fault in.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Entry(Packed);

/// [`Entry`]'s layout: a [`Payload`] variant with the epoch beside its fields.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Packed {
    Data { epoch: u32, seq: u32, id: u64, producer: u64 },
    Commit { epoch: u32, offset: u64, generation: u64, from: u64 },
}

impl Entry {
    pub fn new(epoch: u32, payload: Payload) -> Entry {
        Entry(match payload {
            Payload::Data { id, producer, seq } => Packed::Data { epoch, seq, id, producer },
            Payload::Commit { offset, generation, from } => Packed::Commit { epoch, offset, generation, from },
        })
    }
    /// The leader epoch in which the entry was appended by its leader.
    pub fn epoch(self) -> u32 {
        match self.0 {
            Packed::Data { epoch, .. } | Packed::Commit { epoch, .. } => epoch,
        }
    }
    pub fn payload(self) -> Payload {
        match self.0 {
            Packed::Data { seq, id, producer, .. } => Payload::Data { id, producer, seq },
            Packed::Commit { offset, generation, from, .. } => Payload::Commit { offset, generation, from },
        }
    }
}

impl std::fmt::Debug for Entry {
    /// As the struct of an epoch and a payload it was (what traces showed before).
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Entry").field("epoch", &self.epoch()).field("payload", &self.payload()).finish()
    }
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

/// A run of consecutive entries shared between logs: a range of one chunk (`Rc`). The leader's
/// log and disk record, the fetch responses, and every follower's log and disk record hold the
/// same chunk, so a message is in memory once, not once per replica and per disk (six copies of
/// every entry were most of `kafka_50k`'s 2 GB).
///
/// A leader writes the entries it appends into a chunk of its own (`Open`), batch after batch,
/// and starts another only when it is full, so consecutive batches sit side by side in one
/// allocation and one run. A chunk per produce batch (two or three messages on `kafka_50k`)
/// was millions of small allocations of varying sizes, freed at the end one by one, and a run
/// per batch in every replica's log and disk record. A slot is written once, by the chunk's
/// owner, before any run covers it (hence `Cell`: a run only ever reads slots below the fill
/// mark of the moment it was cut); a truncated leader writes on after the slots it cut, never
/// over them, so every run that shares a chunk keeps its entries.
#[derive(Clone, Debug)]
pub struct Run {
    chunk: Rc<[Cell<Entry>]>,
    start: u32,
    len: u32,
}

impl Run {
    /// A run of its own chunk, exactly `entries`.
    pub fn new(entries: Vec<Entry>) -> Run {
        let len = u32::try_from(entries.len()).expect("a run of more than 2^32 entries");
        Run { chunk: entries.into_iter().map(Cell::new).collect(), start: 0, len }
    }
    /// The entries, each read by value (`Cell::get`).
    pub fn entries(&self) -> &[Cell<Entry>] {
        &self.chunk[self.start as usize..(self.start + self.len) as usize]
    }
    pub fn len(&self) -> u64 {
        self.len as u64
    }
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
    /// Entries `[from, to)` of this run (offsets within it).
    fn slice(&self, from: u64, to: u64) -> Run {
        debug_assert!(from <= to && to <= self.len());
        Run { chunk: self.chunk.clone(), start: self.start + from as u32, len: (to - from) as u32 }
    }
    /// `other` continues this run in the same chunk: the two can be held as one.
    fn continued_by(&self, other: &Run) -> bool {
        Rc::ptr_eq(&self.chunk, &other.chunk) && self.start + self.len == other.start
    }
}

/// The chunk a leader writes its appends into, and how many of its slots are written.
#[derive(Debug)]
struct Open {
    chunk: Rc<[Cell<Entry>]>,
    filled: u32,
}

/// A log's open chunk, if any. A clone of the log opens chunks of its own: two writers of one
/// chunk would write over each other's slots.
#[derive(Debug, Default)]
struct OpenChunk(Option<Open>);

impl Clone for OpenChunk {
    fn clone(&self) -> OpenChunk {
        OpenChunk(None)
    }
}

/// The first chunk a log's leader opens holds this many entries; each next one twice the last,
/// up to `CHUNK_MAX` (so a partition that gets a few messages wastes little, and a busy one
/// allocates once per `CHUNK_MAX` entries).
const CHUNK_MIN: usize = 16;
const CHUNK_MAX: usize = 4096;

/// How many entries `runs` hold.
pub fn run_len<'r>(runs: impl IntoIterator<Item = &'r Run>) -> u64 {
    runs.into_iter().map(Run::len).sum()
}

/// Runs that travel or are stored together (a fetch response, a disk record's append): nearly
/// always one, held inline, so the list costs no allocation of its own (a `Vec<Run>` per fetch
/// and per stored append was a million allocations on `kafka_50k`, each freed again). The rare
/// others are boxed: a `Vec` inline made every message (the kernel moves each a few times) and
/// every stored append 16 bytes larger.
#[derive(Clone, Default)]
pub struct Runs {
    first: Option<Run>,
    /// The runs after the first; never an empty list.
    #[allow(clippy::box_collection, reason = "a thin pointer: a `Vec` or a boxed slice inline is 16 bytes more")]
    rest: Option<Box<Vec<Run>>>,
}

impl std::fmt::Debug for Runs {
    /// As the derived form of `first` and a `rest` list (what traces showed before the box).
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Runs").field("first", &self.first).field("rest", &self.rest()).finish()
    }
}

impl Runs {
    /// Adds `run` after the others; one that continues the last in its chunk joins it.
    pub fn push(&mut self, run: Run) {
        let last = match &mut self.rest {
            Some(rest) => rest.last_mut(),
            None => self.first.as_mut(),
        };
        match last {
            None => self.first = Some(run),
            Some(last) if last.continued_by(&run) => last.len += run.len,
            Some(_) => self.rest.get_or_insert_with(Box::default).push(run),
        }
    }
    fn rest(&self) -> &[Run] {
        self.rest.as_deref().map_or(&[], Vec::as_slice)
    }
    pub fn iter(&self) -> impl Iterator<Item = &Run> + '_ {
        self.first.iter().chain(self.rest())
    }
    pub fn is_empty(&self) -> bool {
        self.first.is_none()
    }
}

impl From<Run> for Runs {
    fn from(run: Run) -> Runs {
        Runs { first: Some(run), rest: None }
    }
}

impl<'r> IntoIterator for &'r Runs {
    type Item = &'r Run;
    type IntoIter = std::iter::Chain<std::option::Iter<'r, Run>, std::slice::Iter<'r, Run>>;
    fn into_iter(self) -> Self::IntoIter {
        self.first.iter().chain(self.rest())
    }
}

impl IntoIterator for Runs {
    type Item = Run;
    type IntoIter = std::iter::Chain<std::option::IntoIter<Run>, std::vec::IntoIter<Run>>;
    fn into_iter(self) -> Self::IntoIter {
        self.first.into_iter().chain(self.rest.map_or_else(Vec::new, |rest| *rest))
    }
}

impl Extend<Run> for Runs {
    fn extend<I: IntoIterator<Item = Run>>(&mut self, runs: I) {
        for run in runs {
            self.push(run);
        }
    }
}

#[derive(Clone, Debug, Default)]
pub struct PartitionLog {
    /// The entries, as shared runs; `starts[i]` is the offset of `runs[i]`'s first entry.
    runs: Vec<Run>,
    starts: Vec<u64>,
    leo: u64,
    /// `(epoch, start offset)`, rising in both.
    epochs: Vec<(u32, u64)>,
    /// Entries below it are committed (replicated to every in-sync replica).
    pub hwm: u64,
    /// `(log offset, committed consumer offset, generation)` of every commit entry.
    commits: Vec<(u64, u64, u64)>,
    /// Idempotent producers' states, sorted by producer id (a handful per partition: a binary
    /// search of a short list, where a map cost a node search per batch and replica), as of the
    /// entries below `producers_to`. Only a leader checks sequences: a follower's appends leave
    /// them behind, and the leader's first check catches up (`catch_up_producers`). A follower
    /// kept them for every entry it fetched, most of its appends' per-entry work.
    producers: Vec<(u64, ProducerState)>,
    producers_to: u64,
    /// The chunk this replica writes into when it leads (see [`Run`]).
    open: OpenChunk,
}

impl PartitionLog {
    /// The log end offset: the offset the next entry gets.
    pub fn leo(&self) -> u64 {
        self.leo
    }
    /// Every entry, in offset order.
    pub fn iter(&self) -> impl Iterator<Item = Entry> + Clone + '_ {
        self.runs.iter().flat_map(Run::entries).map(Cell::get)
    }
    /// The entries from `offset` on.
    pub fn iter_from(&self, offset: u64) -> impl Iterator<Item = Entry> + '_ {
        let i = self.run_at(offset);
        let skip = i.map_or(0, |i| offset - self.starts[i]) as usize;
        self.runs[i.unwrap_or(self.runs.len())..].iter().flat_map(Run::entries).skip(skip).map(Cell::get)
    }
    /// A consumer's read: `(offset, id)` of the data entries from `from` on, below `to`, until
    /// `out` holds `max`; returns the offset after the last entry read (commit entries are read
    /// and skipped). A loop per run over its slice of entries: through `iter_from`'s nested
    /// iterators a fetch cost 44 instructions per record.
    pub fn read_data(&self, from: u64, to: u64, max: usize, out: &mut Vec<(u64, u64)>) -> u64 {
        let mut next = from;
        let Some(first) = self.run_at(from) else { return next };
        for (run, &start) in self.runs[first..].iter().zip(&self.starts[first..]) {
            for slot in &run.entries()[(next - start) as usize..] {
                if next >= to || out.len() >= max {
                    return next;
                }
                if let Payload::Data { id, .. } = slot.get().payload() {
                    out.push((next, id));
                }
                next += 1;
            }
        }
        next
    }
    /// The run holding `offset` (`None` past the end).
    fn run_at(&self, offset: u64) -> Option<usize> {
        (offset < self.leo).then(|| self.starts.partition_point(|&s| s <= offset) - 1)
    }
    pub fn entry(&self, offset: u64) -> Option<Entry> {
        let i = self.run_at(offset)?;
        self.runs[i].entries().get((offset - self.starts[i]) as usize).map(Cell::get)
    }
    /// Entries `[from, to)` as shared runs (what a fetch response carries).
    pub fn runs_between(&self, from: u64, to: u64) -> Runs {
        let mut out = Runs::default();
        let Some(first) = self.run_at(from) else { return out };
        for (run, &start) in self.runs[first..].iter().zip(&self.starts[first..]) {
            if start >= to {
                break;
            }
            out.push(run.slice(from.max(start) - start, to.min(start + run.len()) - start));
        }
        out
    }
    /// Whether `other` holds the very same runs (the same ranges of the same chunks): then the
    /// two hold the same entries, without reading them. (Not the converse: equal entries may sit
    /// in other chunks or be cut into runs otherwise.)
    pub fn shares_runs_with(&self, other: &PartitionLog) -> bool {
        self.leo == other.leo
            && self.runs.len() == other.runs.len()
            && self
                .runs
                .iter()
                .zip(&other.runs)
                .all(|(a, b)| Rc::ptr_eq(&a.chunk, &b.chunk) && a.start == b.start && a.len == b.len)
    }
    /// The epoch of the last entry (0 for an empty log): what a follower sends with its fetch.
    pub fn last_epoch(&self) -> u32 {
        self.runs.last().and_then(|r| r.entries().last()).map_or(0, |e| e.get().epoch())
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
        self.append_new([e]).0
    }

    /// Appends entries this replica writes (as leader) into its open chunk, opening a new one
    /// when they do not fit; returns the offset of the first and the run that holds them (to
    /// share with the disk record and the followers).
    pub fn append_new(&mut self, entries: impl IntoIterator<Item = Entry, IntoIter: ExactSizeIterator>) -> (u64, Run) {
        let entries = entries.into_iter();
        let n = entries.len();
        let room = self.open.0.as_ref().map_or(0, |o| o.chunk.len() - o.filled as usize);
        if room < n {
            self.open_chunk(n);
        }
        let open = self.open.0.as_mut().expect("opened above");
        let start = open.filled;
        let len = u32::try_from(n).expect("a run of more than 2^32 entries");
        open.filled += len;
        let run = Run { chunk: open.chunk.clone(), start, len };
        // Written and indexed in one pass (reading them back from the chunk was a second); the
        // producers' states too if they are up to date (a leader's, once it checked a sequence).
        let base = self.leo;
        let written = run.chunk[start as usize..].iter().zip(entries).map(|(slot, e)| {
            slot.set(e);
            e
        });
        if self.producers_to == base {
            self.index_entries::<true>(base, written);
            self.producers_to = base + n as u64;
        } else {
            self.index_entries::<false>(base, written);
        }
        self.push_run(base, run.clone());
        (base, run)
    }

    /// Opens a new chunk for at least `n` entries, twice the last one's size: once per up to
    /// `CHUNK_MAX` entries, so out of line.
    #[cold]
    #[inline(never)]
    fn open_chunk(&mut self, n: usize) {
        let last = self.open.0.as_ref().map_or(CHUNK_MIN / 2, |o| o.chunk.len());
        let size = (last * 2).clamp(CHUNK_MIN, CHUNK_MAX).max(n);
        let blank = Entry::new(0, Payload::Data { id: 0, producer: 0, seq: 0 });
        self.open.0 = Some(Open { chunk: (0..size).map(|_| Cell::new(blank)).collect(), filled: 0 });
    }

    /// Appends a run (shared, not copied), returning the offset of its first entry. The
    /// producers' states are left behind (see `producers`): a follower appends this way.
    pub fn append_run(&mut self, run: Run) -> u64 {
        let base = self.leo;
        self.index_entries::<false>(base, run.entries().iter().map(Cell::get));
        self.push_run(base, run);
        base
    }

    /// Indexes entries appended from offset `base` on: the epochs they begin, offset commits, and
    /// with `PRODUCERS` the producers' sequences.
    fn index_entries<const PRODUCERS: bool>(&mut self, base: u64, entries: impl Iterator<Item = Entry>) {
        // A producer's entries come in batches: its state is stored once per streak of its
        // entries, with the streak's last (a map update per entry was a fifth of this function).
        // Plain values, no `Option`s, in this per-entry loop: producer 0 (not idempotent) never
        // has a streak, and no epoch is `u64::MAX`.
        let (mut streak_of, mut streak) = (0u64, ProducerState::default());
        // `begin_epoch` once per epoch in the run (it does nothing for the epoch it just saw).
        let mut epoch = u64::MAX;
        for (i, e) in entries.enumerate() {
            let offset = base + i as u64;
            if u64::from(e.epoch()) != epoch {
                epoch = u64::from(e.epoch());
                self.begin_epoch(e.epoch());
            }
            match e.payload() {
                Payload::Data { producer, seq, .. } if PRODUCERS && producer != 0 => {
                    if streak_of != producer && streak_of != 0 {
                        set_producer(&mut self.producers, streak_of, streak);
                    }
                    streak_of = producer;
                    streak = ProducerState { last_seq: seq, last_offset: offset };
                }
                Payload::Data { .. } => {}
                Payload::Commit { offset: to, generation, .. } => self.commits.push((offset, to, generation)),
            }
        }
        if streak_of != 0 {
            set_producer(&mut self.producers, streak_of, streak);
        }
    }

    /// Brings the producers' states up to the log end (see `producers`).
    #[cold]
    #[inline(never)]
    fn catch_up_producers(&mut self) {
        let from = self.producers_to;
        let mut producers = std::mem::take(&mut self.producers);
        for (i, e) in self.iter_from(from).enumerate() {
            if let Payload::Data { producer, seq, .. } = e.payload()
                && producer != 0
            {
                set_producer(&mut producers, producer, ProducerState { last_seq: seq, last_offset: from + i as u64 });
            }
        }
        self.producers = producers;
        self.producers_to = self.leo;
    }

    /// Adds `run` at the log end `base` (its entries indexed).
    fn push_run(&mut self, base: u64, run: Run) {
        self.leo += run.len();
        match self.runs.last_mut() {
            Some(last) if last.continued_by(&run) => last.len += run.len,
            _ if run.is_empty() => {}
            _ => {
                self.starts.push(base);
                self.runs.push(run);
            }
        }
    }

    fn producer(&self, producer: u64) -> Option<&ProducerState> {
        let i = self.producers.binary_search_by_key(&producer, |&(p, _)| p).ok()?;
        Some(&self.producers[i].1)
    }

    /// Removes every entry at `offset` and above; returns how many were removed.
    pub fn truncate_to(&mut self, offset: u64) -> u64 {
        let removed = self.leo.saturating_sub(offset);
        if removed == 0 {
            return 0;
        }
        // The producers' states hold up to `producers_to`: if the cut removes an idempotent
        // entry below it they are rebuilt (at the next check), else they still hold.
        if offset < self.producers_to {
            let indexed = (self.producers_to - offset) as usize;
            let cut = self
                .iter_from(offset)
                .take(indexed)
                .any(|e| matches!(e.payload(), Payload::Data { producer, .. } if producer != 0));
            if cut {
                self.producers.clear();
                self.producers_to = 0;
            } else {
                self.producers_to = offset;
            }
        }
        let i = self.run_at(offset).expect("offset below the log end");
        let keep = offset - self.starts[i];
        if keep == 0 {
            self.runs.truncate(i);
            self.starts.truncate(i);
        } else {
            self.runs.truncate(i + 1);
            self.starts.truncate(i + 1);
            self.runs[i].len = keep as u32;
        }
        self.leo = offset;
        self.epochs.retain(|&(_, start)| start < offset);
        self.hwm = self.hwm.min(offset);
        self.commits.retain(|&(at, _, _)| at < offset);
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
        let end = self.epochs.get(i).map_or(self.leo, |&(_, start)| start);
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
    pub fn check_sequence(&mut self, producer: u64, base_seq: u32, count: u32) -> SeqCheck {
        // A leader's own appends keep the states up to date: most checks have nothing to catch up.
        if self.producers_to != self.leo {
            self.catch_up_producers();
        }
        let last = base_seq + count.max(1) - 1;
        match self.producer(producer) {
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
        Entry::new(epoch, Payload::Data { id, producer: 0, seq: 0 })
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
        for run in new.runs_between(3, new.leo()) {
            old.append_run(run);
        }
        assert!(old.iter().eq(new.iter()));
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
        l.append(Entry::new(1, Payload::Commit { offset: 2, generation: 7, from: NO_CAS }));
        l.append(data(1, 9));
        l.hwm = 4;
        assert_eq!(l.committed_consumer_offset(), 2);
        l.truncate_to(2);
        assert_eq!(l.hwm, 2);
        assert_eq!(l.latest_commit(), None);
        assert_eq!(l.committed_consumer_offset(), 0);
    }

    /// A leader's batches go into one chunk, side by side, and its log holds them as one run; a
    /// follower that fetched them shares that chunk. A truncated leader writes after the slots it
    /// cut, so the follower, still holding the cut entries, reads them unchanged. Chunks double
    /// from `CHUNK_MIN` up to `CHUNK_MAX`; a batch larger than the next size gets its own.
    #[test]
    fn a_leader_writes_its_batches_side_by_side_in_one_chunk() {
        let ids = |l: &PartitionLog| -> Vec<u64> {
            l.iter().map(|e| if let Payload::Data { id, .. } = e.payload() { id } else { 0 }).collect()
        };
        let mut leader = PartitionLog::default();
        assert_eq!(leader.append_new((1..4u32).map(u64::from).map(|id| data(1, id))).0, 0);
        assert_eq!(leader.append_new((4..6u32).map(u64::from).map(|id| data(1, id))).0, 3);
        assert_eq!(leader.append(data(1, 6)), 5);
        assert_eq!((leader.runs.len(), leader.runs[0].chunk.len()), (1, CHUNK_MIN), "three batches, one run");
        let mut f = PartitionLog::default();
        for run in leader.runs_between(0, 6) {
            f.append_run(run);
        }
        assert!(f.shares_runs_with(&leader));
        // The leader loses its last three entries and appends others: after them in the chunk.
        leader.truncate_to(3);
        leader.append_new((7..9u32).map(u64::from).map(|id| data(2, id)));
        assert_eq!(ids(&leader), [1, 2, 3, 7, 8]);
        assert_eq!(ids(&f), [1, 2, 3, 4, 5, 6], "the follower's entries were not written over");
        assert_eq!((leader.runs.len(), leader.runs[1].start), (2, 6));
        // 8 slots left, 9 entries: the next chunk, twice the size; then 100 entries, more than twice
        // again: a chunk their size.
        leader.append_new((100..109u32).map(u64::from).map(|id| data(2, id)));
        assert_eq!(leader.runs.last().map(|r| r.chunk.len()), Some(2 * CHUNK_MIN));
        leader.append_new((200..300u32).map(u64::from).map(|id| data(2, id)));
        assert_eq!(leader.runs.last().map(|r| r.chunk.len()), Some(100));
        assert_eq!(leader.leo(), 5 + 9 + 100);
    }

    /// A consumer's read, from every offset to every bound with every limit, over three runs with
    /// commit entries among the data (one at a run's start, one at its end): the data entries
    /// the entry-by-entry loop it replaced found, and the same next offset.
    #[test]
    fn a_consumer_reads_the_data_below_a_bound_up_to_a_limit() {
        let commit = |epoch| Entry::new(epoch, Payload::Commit { offset: 1, generation: 1, from: NO_CAS });
        let mut log = PartitionLog::default();
        log.append_run(Run::new(vec![data(1, 1), data(1, 2), commit(1)]));
        log.append_run(Run::new(vec![commit(1), data(1, 3)]));
        log.append_run(Run::new(vec![data(2, 4), commit(2), data(2, 5), data(2, 6)]));
        let leo = log.leo();
        for from in 0..=leo {
            for to in 0..=leo {
                for max in 0..=4 {
                    let (mut want, mut next) = (Vec::new(), from);
                    while next < to && want.len() < max {
                        if let Some(Payload::Data { id, .. }) = log.entry(next).map(Entry::payload) {
                            want.push((next, id));
                        }
                        next += 1;
                    }
                    let mut got = Vec::new();
                    assert_eq!(log.read_data(from, to, max, &mut got), next, "from {from} to {to} max {max}");
                    assert_eq!(got, want, "from {from} to {to} max {max}");
                }
            }
        }
    }

    /// A follower holds the leader's runs, not copies: fetch ranges that cut runs apart join
    /// again in the follower's log, a truncation inside a run keeps its head, and every read
    /// (by offset, from an offset, a view, a range) sees the entries in offset order.
    #[test]
    fn runs_are_shared_cut_and_joined() {
        let mut leader = PartitionLog::default();
        leader.append_run(Run::new((1..=4).map(|id| data(1, id)).collect()));
        leader.append_run(Run::new((5..=7).map(|id| data(2, id)).collect()));
        let mut f = PartitionLog::default();
        // Fetches of 3 entries: [0, 3), [3, 6) (the end of run 1, the head of run 2), [6, 7).
        for (from, to) in [(0, 3), (3, 6), (6, 7)] {
            for run in leader.runs_between(from, to) {
                f.append_run(run);
            }
        }
        assert_eq!((f.runs.len(), f.starts.as_slice()), (2, &[0, 4][..]), "the pieces joined");
        assert!(Rc::ptr_eq(&f.runs[0].chunk, &leader.runs[0].chunk), "shared, not copied");
        assert!(f.iter().eq(leader.iter()));
        assert_eq!(f.epochs(), &[(1, 0), (2, 4)]);
        let ids = |it: &mut dyn Iterator<Item = Entry>| -> Vec<u64> {
            it.map(|e| match e.payload() {
                Payload::Data { id, .. } => id,
                Payload::Commit { .. } => 0,
            })
            .collect()
        };
        assert_eq!(ids(&mut f.iter_from(3)), [4, 5, 6, 7]);
        assert_eq!(ids(&mut f.iter_from(7)), Vec::<u64>::new());
        assert!(f.shares_runs_with(&leader) && leader.shares_runs_with(&f));
        assert_eq!(f.entry(4).map(|e| e.epoch()), Some(2));
        assert!(f.entry(7).is_none());
        assert_eq!(f.entry(6).map(|e| e.payload()), Some(Payload::Data { id: 7, producer: 0, seq: 0 }));
        assert_eq!(f.truncate_to(5), 2);
        assert!(!f.shares_runs_with(&leader), "a shorter log");
        assert_eq!((f.leo(), f.last_epoch(), ids(&mut f.iter())), (5, 2, vec![1, 2, 3, 4, 5]));
        assert_eq!(f.truncate_to(4), 1);
        assert_eq!((f.runs.len(), f.last_epoch(), f.epochs()), (1, 1, &[(1, 0)][..]));
        // The leader's own log is untouched by the follower's cuts.
        assert_eq!(ids(&mut leader.iter()), [1, 2, 3, 4, 5, 6, 7]);
    }

    /// A list of runs holds the first inline and the others in a box made only for them; a run
    /// that continues the last in its chunk joins it, wherever the last is. Owned or borrowed,
    /// it yields them in order, and prints as the struct of a run and a list it was before.
    #[test]
    fn runs_hold_the_first_inline_and_box_the_others() {
        let a = Run::new((1..=4).map(|id| data(1, id)).collect());
        let b = Run::new((5..=6).map(|id| data(1, id)).collect());
        let mut runs = Runs::default();
        assert!(runs.is_empty() && runs.rest.is_none());
        assert_eq!(format!("{runs:?}"), "Runs { first: None, rest: [] }");
        runs.push(a.slice(0, 2));
        runs.push(a.slice(2, 3));
        assert!(runs.rest.is_none(), "a continuation joins the first");
        runs.push(b.slice(0, 1));
        runs.push(b.slice(1, 2));
        runs.push(a.slice(3, 4));
        assert_eq!(runs.rest.as_ref().map(|r| r.len()), Some(2), "b's two pieces joined in the box");
        assert_eq!(run_len(&runs), 6);
        let ids = |rs: Vec<&Run>| -> Vec<u64> {
            rs.iter()
                .flat_map(|r| r.entries())
                .map(|e| if let Payload::Data { id, .. } = e.get().payload() { id } else { 0 })
                .collect()
        };
        assert_eq!(ids(runs.iter().collect()), [1, 2, 3, 5, 6, 4]);
        let debug = format!("{runs:?}");
        assert!(debug.starts_with("Runs { first: Some(Run {") && debug.contains("rest: [Run {"), "{debug}");
        let owned: Vec<Run> = runs.into_iter().collect();
        assert_eq!(ids(owned.iter().collect()), [1, 2, 3, 5, 6, 4]);
    }

    #[test]
    fn hwm_is_the_lowest_isr_offset_and_never_falls() {
        assert_eq!(high_watermark(0, 10, [7, 9]), 7);
        assert_eq!(high_watermark(0, 5, [7, 9]), 5, "the leader's own durable end counts");
        assert_eq!(high_watermark(8, 10, [7, 9]), 8, "never moves backwards");
        assert_eq!(high_watermark(0, 10, []), 10, "a leader alone in the ISR");
    }

    /// The producers' states are kept lazily (a follower's appends leave them behind, a check
    /// catches up, a truncation keeps or drops them): over random leader and follower appends,
    /// truncations and checks, every check answers as one made from a scan of the whole log for
    /// the producer's last entry.
    #[test]
    fn lazy_producer_states_answer_as_a_scan_of_the_log() {
        let scan = |l: &PartitionLog, producer: u64, base_seq: u32, count: u32| {
            let last = l
                .iter()
                .enumerate()
                .filter_map(|(o, e)| match e.payload() {
                    Payload::Data { producer: p, seq, .. } if p == producer => Some((seq, o as u64)),
                    _ => None,
                })
                .last();
            let end = base_seq + count.max(1) - 1;
            match last {
                None if base_seq == 0 => SeqCheck::Next,
                None => SeqCheck::OutOfOrder,
                Some((s, _)) if base_seq == s.wrapping_add(1) => SeqCheck::Next,
                Some((s, o)) if end == s => SeqCheck::Duplicate(Some(o)),
                Some((s, _)) if end < s => SeqCheck::Duplicate(None),
                Some(_) => SeqCheck::OutOfOrder,
            }
        };
        // xorshift64: the test's own numbers, fixed by its seed.
        let mut x = 0x9E37_79B9_7F4A_7C15u64;
        let mut next = |n: u64| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x % n
        };
        let producers = [0, 3, 5, 9];
        let mut l = PartitionLog::default();
        let (mut checks, mut id) = (0, 0);
        for _ in 0..5000 {
            let mut batch = |next: &mut dyn FnMut(u64) -> u64| -> Vec<Entry> {
                let producer = producers[next(4) as usize];
                let seq = next(6) as u32;
                (0..1 + next(4) as u32)
                    .map(|i| {
                        id += 1;
                        match next(10) {
                            0 => Entry::new(1, Payload::Commit { offset: id, generation: 1, from: NO_CAS }),
                            _ => Entry::new(1, Payload::Data { id, producer, seq: seq + i }),
                        }
                    })
                    .collect()
            };
            match next(4) {
                0 => {
                    l.append_new(batch(&mut next));
                }
                1 => {
                    l.append_run(Run::new(batch(&mut next)));
                }
                2 => {
                    l.truncate_to(l.leo() - next(4).min(l.leo()));
                }
                _ => {
                    let (producer, base_seq, count) = (producers[1 + next(3) as usize], next(8) as u32, next(3) as u32);
                    let want = scan(&l, producer, base_seq, count);
                    assert_eq!(l.check_sequence(producer, base_seq, count), want, "check {checks}");
                    checks += 1;
                }
            }
        }
        assert!(checks > 1000 && l.leo() > 100, "{checks} checks, {} entries", l.leo());
    }

    #[test]
    fn idempotent_batches() {
        let mut l = PartitionLog::default();
        assert_eq!(l.check_sequence(42, 0, 2), SeqCheck::Next);
        assert_eq!(l.check_sequence(42, 2, 2), SeqCheck::OutOfOrder, "a later batch overtook the first");
        l.append(data(1, 7));
        l.append(Entry::new(1, Payload::Data { id: 1, producer: 42, seq: 0 }));
        l.append(Entry::new(1, Payload::Data { id: 2, producer: 42, seq: 1 }));
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
