//! Event-time windows with a watermark: tumbling windows, sliding windows built from their panes,
//! and deduplication by event id within a window (Flink's keyed windows, the counting designs'
//! "1-minute tumbling window" and "M-minute sliding window").
//!
//! **Time.** Events carry their own time (when the click happened), not the time they are
//! processed. Window `w` covers event times `[w * size, (w + 1) * size)`.
//!
//! **Watermark.** The stream's promise that no earlier event is still coming: the largest event
//! time seen minus the allowed `lateness` (Flink's bounded-out-of-orderness watermark; the notes'
//! "read from Kafka for 5 more seconds"). A window *closes* when the watermark reaches its end:
//! its values are final and handed out ([`Closed`]), every window in order, empty ones included
//! (so that a downstream merge knows this input is done with them). An event whose window is
//! already closed is **too late**: it is dropped and counted (`stats.late`), never silently lost.
//! The watermark is a pure function of the order of the events seen, so replaying the same input
//! in the same order closes the same windows with the same values (what snapshot + replay
//! recovery relies on, see [`crate::snapshot`]).
//!
//! **Deduplication.** An event may carry an id; a second event with an id already counted in its
//! window is a duplicate, dropped and counted (`stats.duplicates`). The ids of a window are kept
//! only while it is open: a duplicate of an event from a closed window is simply too late.
//!
//! **Sliding windows** ([`Sliding`]) of `panes` tumbling windows, sliding by one: the sliding
//! window ending with tumbling window `w` covers `w - panes + 1 ..= w` and closes with `w` (its
//! value is the sum of the panes, Li et al.'s "panes" technique: each event is counted once, not
//! once per sliding window it belongs to).
//!
//! Invariants (asserted): windows close in order, each once; the watermark never goes back.

use serde::{Deserialize, Serialize};
use sim_core::{Duration, Time};
use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::ops::AddAssign;

/// A window's index: window `w` covers `[w * size, (w + 1) * size)`.
pub type Win = u64;

/// ```ron
/// (size: "1m", lateness: "5s")
/// ```
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct WindowSpec {
    /// The length of a tumbling window.
    pub size: Duration,
    /// How far the watermark trails the largest event time seen.
    pub lateness: Duration,
}

impl Default for WindowSpec {
    fn default() -> Self {
        WindowSpec { size: Duration::from_secs(60), lateness: Duration::from_secs(5) }
    }
}

impl WindowSpec {
    pub fn validate(&self, path: &str) -> Vec<(String, String)> {
        let mut e = Vec::new();
        if self.size == Duration::ZERO {
            e.push((format!("{path}.size"), "must be positive".into()));
        }
        e
    }
    /// The window an event time falls in.
    pub fn window_of(&self, t: Time) -> Win {
        t.0 / self.size.0.max(1)
    }
    /// Where window `w` ends (exclusive).
    pub fn end_of(&self, w: Win) -> Time {
        Time((w + 1).saturating_mul(self.size.0))
    }
}

/// What became of one event.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Admit {
    /// Counted in window `w`.
    Counted(Win),
    /// Window `w` had closed: dropped, counted as late.
    Late(Win),
    /// Its id was already counted in window `w`: dropped, counted as a duplicate.
    Duplicate(Win),
}

/// A window the watermark has passed, with its final values.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Closed<K, V> {
    pub window: Win,
    pub values: BTreeMap<K, V>,
}

/// Counts of what a window operator did with its events.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct WindowStats {
    pub counted: u64,
    pub late: u64,
    pub duplicates: u64,
    pub closed: u64,
}

/// Tumbling windows over keys `K` with values `V`, a watermark, and per-window deduplication.
#[derive(Clone, Debug)]
pub struct Tumbling<K, V> {
    spec: WindowSpec,
    max_seen: Option<Time>,
    /// Every window below this one is closed.
    next_close: Win,
    open: BTreeMap<Win, BTreeMap<K, V>>,
    ids: BTreeMap<Win, BTreeSet<u64>>,
    pub stats: WindowStats,
}

impl<K: Ord + Clone, V: Default> Tumbling<K, V> {
    /// Windows from window 0 (the start of time) on.
    pub fn new(spec: WindowSpec) -> Self {
        Tumbling {
            spec,
            max_seen: None,
            next_close: 0,
            open: BTreeMap::new(),
            ids: BTreeMap::new(),
            stats: WindowStats::default(),
        }
    }

    pub fn spec(&self) -> &WindowSpec {
        &self.spec
    }

    /// The largest event time seen minus the lateness (`None` before the first event).
    pub fn watermark(&self) -> Option<Time> {
        self.max_seen.map(|t| Time(t.0.saturating_sub(self.spec.lateness.0)))
    }

    /// The first window that is not closed.
    pub fn next_close(&self) -> Win {
        self.next_close
    }

    /// Windows holding values.
    pub fn open_windows(&self) -> usize {
        self.open.len()
    }

    /// Entries held: keys over open windows, and ids kept for deduplication.
    pub fn entries(&self) -> usize {
        self.open.values().map(BTreeMap::len).sum::<usize>() + self.ids.values().map(BTreeSet::len).sum::<usize>()
    }

    /// An event at `t` for `key` (with its id if duplicates are to be dropped): advances the
    /// watermark, appends the windows that closed to `closed` (in order), then counts the event
    /// with `f` unless it is too late or a duplicate.
    pub fn add(
        &mut self,
        t: Time,
        key: K,
        id: Option<u64>,
        closed: &mut Vec<Closed<K, V>>,
        f: impl FnOnce(&mut V),
    ) -> Admit {
        if self.max_seen.is_none_or(|m| t > m) {
            self.max_seen = Some(t);
            self.close(closed);
        }
        let w = self.spec.window_of(t);
        if w < self.next_close {
            self.stats.late += 1;
            return Admit::Late(w);
        }
        if let Some(id) = id
            && !self.ids.entry(w).or_default().insert(id)
        {
            self.stats.duplicates += 1;
            return Admit::Duplicate(w);
        }
        f(self.open.entry(w).or_default().entry(key).or_default());
        self.stats.counted += 1;
        Admit::Counted(w)
    }

    /// Closes every window whose end the watermark has reached.
    fn close(&mut self, closed: &mut Vec<Closed<K, V>>) {
        let Some(wm) = self.watermark() else { return };
        let before = self.next_close;
        while self.spec.end_of(self.next_close) <= wm {
            let w = self.next_close;
            let values = self.open.remove(&w).unwrap_or_default();
            self.ids.remove(&w);
            closed.push(Closed { window: w, values });
            self.stats.closed += 1;
            self.next_close += 1;
        }
        debug_assert!(self.next_close >= before, "windows close in order");
        debug_assert!(
            self.open.keys().next().is_none_or(|&w| w >= self.next_close),
            "no value left in a closed window"
        );
    }
}

/// Sliding windows of `panes` consecutive tumbling windows, sliding by one window: fed every
/// closed tumbling window in order, it answers the sliding window that closed with it.
#[derive(Clone, Debug)]
pub struct Sliding<K, V> {
    panes: usize,
    recent: VecDeque<Closed<K, V>>,
}

impl<K: Ord + Clone, V: Default + Copy + AddAssign> Sliding<K, V> {
    pub fn new(panes: u32) -> Self {
        assert!(panes >= 1, "a sliding window holds at least one pane");
        Sliding { panes: panes as usize, recent: VecDeque::new() }
    }

    /// Takes the next closed pane; returns the sliding window ending with it (its `window` is the
    /// pane's: it covers `window - panes + 1 ..= window`).
    pub fn push(&mut self, pane: &Closed<K, V>) -> Closed<K, V> {
        if let Some(last) = self.recent.back() {
            assert_eq!(last.window + 1, pane.window, "panes arrive in order, none skipped");
        }
        self.recent.push_back(pane.clone());
        while self.recent.len() > self.panes {
            self.recent.pop_front();
        }
        let mut values: BTreeMap<K, V> = BTreeMap::new();
        for p in &self.recent {
            for (k, v) in &p.values {
                *values.entry(k.clone()).or_default() += *v;
            }
        }
        Closed { window: pane.window, values }
    }

    /// Entries held over the panes kept.
    pub fn entries(&self) -> usize {
        self.recent.iter().map(|p| p.values.len()).sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec() -> WindowSpec {
        WindowSpec { size: Duration::from_secs(60), lateness: Duration::from_secs(5) }
    }

    fn s(secs: u64) -> Time {
        Time(secs * 1_000_000_000)
    }

    fn add(w: &mut Tumbling<u64, u64>, t: u64, key: u64, id: u64, out: &mut Vec<Closed<u64, u64>>) -> Admit {
        w.add(s(t), key, Some(id), out, |v| *v += 1)
    }

    #[test]
    fn a_window_closes_when_the_watermark_passes_its_end_and_not_before() {
        let mut w = Tumbling::new(spec());
        let mut out = Vec::new();
        assert_eq!(add(&mut w, 10, 1, 1, &mut out), Admit::Counted(0));
        assert_eq!(add(&mut w, 50, 1, 2, &mut out), Admit::Counted(0));
        // 64 s: the watermark is 59 s, window 0 (ends at 60 s) is still open.
        assert_eq!(add(&mut w, 64, 2, 3, &mut out), Admit::Counted(1));
        assert!(out.is_empty());
        assert_eq!(w.watermark(), Some(s(59)));
        // An event 9 s late, still inside the watermark: counted in its window.
        assert_eq!(add(&mut w, 55, 1, 4, &mut out), Admit::Counted(0));
        // 65 s: the watermark reaches 60 s and window 0 closes with its three clicks of key 1.
        assert_eq!(add(&mut w, 65, 2, 5, &mut out), Admit::Counted(1));
        assert_eq!(out, vec![Closed { window: 0, values: BTreeMap::from([(1, 3)]) }]);
        assert_eq!(w.next_close(), 1);
    }

    #[test]
    fn an_event_for_a_closed_window_is_dropped_and_counted_as_late() {
        let mut w = Tumbling::new(spec());
        let mut out = Vec::new();
        add(&mut w, 70, 1, 1, &mut out);
        assert_eq!(out.len(), 1, "window 0 closed, empty");
        assert!(out[0].values.is_empty());
        assert_eq!(add(&mut w, 59, 1, 2, &mut out), Admit::Late(0));
        assert_eq!(w.stats.late, 1);
        assert_eq!(w.stats.counted, 1);
    }

    #[test]
    fn a_jump_in_event_time_closes_every_window_between_in_order() {
        let mut w = Tumbling::new(spec());
        let mut out = Vec::new();
        add(&mut w, 30, 7, 1, &mut out);
        add(&mut w, 250, 7, 2, &mut out);
        let wins: Vec<Win> = out.iter().map(|c| c.window).collect();
        // The watermark is 245 s: windows 0..=3 (ending at 60, 120, 180, 240 s) close.
        assert_eq!(wins, vec![0, 1, 2, 3]);
        assert_eq!(out[0].values, BTreeMap::from([(7, 1)]));
        assert!(out[1..].iter().all(|c| c.values.is_empty()));
    }

    #[test]
    fn a_duplicate_id_counts_once_while_its_window_is_open() {
        let mut w = Tumbling::new(spec());
        let mut out = Vec::new();
        assert_eq!(add(&mut w, 10, 1, 42, &mut out), Admit::Counted(0));
        assert_eq!(add(&mut w, 10, 1, 42, &mut out), Admit::Duplicate(0));
        // Without ids nothing is deduplicated.
        w.add(s(10), 1, None, &mut out, |v| *v += 1);
        add(&mut w, 66, 1, 43, &mut out);
        assert_eq!(out[0].values, BTreeMap::from([(1, 2)]));
        assert_eq!(w.stats.duplicates, 1);
        // The ids went with the window: the same id later is just too late.
        assert_eq!(add(&mut w, 10, 1, 42, &mut out), Admit::Late(0));
    }

    #[test]
    fn replaying_the_same_events_from_a_copy_gives_the_same_windows() {
        let events = [(3, 1), (61, 2), (20, 1), (70, 1), (130, 3), (40, 2), (200, 1)];
        let mut a = Tumbling::new(spec());
        let mut out_a = Vec::new();
        for (i, &(t, k)) in events.iter().enumerate() {
            add(&mut a, t, k, i as u64, &mut out_a);
        }
        // A copy taken after three events, replayed with the rest.
        let mut b = Tumbling::new(spec());
        let mut out_b = Vec::new();
        for (i, &(t, k)) in events[..3].iter().enumerate() {
            add(&mut b, t, k, i as u64, &mut out_b);
        }
        let mut copy = b.clone();
        let mut out_c = out_b.clone();
        for (i, &(t, k)) in events.iter().enumerate().skip(3) {
            add(&mut copy, t, k, i as u64, &mut out_c);
        }
        assert_eq!(out_a, out_c);
        assert_eq!(a.stats, copy.stats);
    }

    #[test]
    fn a_sliding_window_sums_its_last_panes() {
        let mut sl: Sliding<u64, u64> = Sliding::new(3);
        let pane = |w, v: &[(u64, u64)]| Closed { window: w, values: v.iter().copied().collect() };
        assert_eq!(sl.push(&pane(0, &[(1, 1)])).values, BTreeMap::from([(1, 1)]));
        assert_eq!(sl.push(&pane(1, &[(1, 2), (2, 5)])).values, BTreeMap::from([(1, 3), (2, 5)]));
        assert_eq!(sl.push(&pane(2, &[])).values, BTreeMap::from([(1, 3), (2, 5)]));
        // Pane 0 leaves the window.
        let w3 = sl.push(&pane(3, &[(2, 1)]));
        assert_eq!(w3.window, 3);
        assert_eq!(w3.values, BTreeMap::from([(1, 2), (2, 6)]));
    }

    #[test]
    #[should_panic(expected = "panes arrive in order")]
    fn a_skipped_pane_is_a_bug() {
        let mut sl: Sliding<u64, u64> = Sliding::new(2);
        sl.push(&Closed { window: 0, values: BTreeMap::new() });
        sl.push(&Closed { window: 2, values: BTreeMap::new() });
    }
}
