//! Timer lanes: the timers of one span wait in a FIFO outside the event queue, and only the first
//! live one of each lane is in the queue.
//!
//! Most timers a model sets are request timeouts, and most of those are cancelled long before
//! they are due: a Dynamo run cancels 3.8 timers per operation. In the queue each one was pushed,
//! moved down the radix buckets, popped and found dead, and all of that was ~20% of the Dynamo
//! cut's simulation time (measured by leaving the three timeouts out: the same 609,095 events
//! ran 4.7 -> 6.0 M events/s; docs/performance.md, "Round sixteen"). Timers of one span, armed
//! in time order, are due in that order too, so a lane is a plain FIFO: arming appends, and a
//! cancel only clears the timer's bit, as before.
//!
//! The order of events is exactly the queue's: every timer takes its sequence number when it is
//! armed ([`crate::queue::RadixQueue::reserve_seq`]), and the lane's first live timer is in the
//! queue under that number ([`crate::queue::RadixQueue::push_late`]). When it pops, the next live
//! one goes in. The dead timers in front of it (cancelled, or of a crashed incarnation; neither
//! ever fires) are passed over and wait in the lane until the run has passed their time: a dead
//! timer popped from the queue was no event, but it was tallied (`events_skipped`), and moved the
//! clock and the stop reason at the end of a run. [`Lanes::settle`] does both at each stop.
//!
//! A lane is kept per span while it holds timers, up to `LANES` spans at once; a timer of another
//! span goes to the queue as before.

use crate::actor::{NodeId, TimerId};
use crate::time::Time;
use std::collections::VecDeque;

/// At most this many spans have a lane at once.
const LANES: usize = 16;

/// A timer waiting in a lane: due at `time`, under sequence number `seq`.
pub(crate) struct LaneTimer<T> {
    pub time: Time,
    pub seq: u64,
    pub node: NodeId,
    pub incarnation: u32,
    pub id: TimerId,
    pub timer: T,
}

struct Lane<T> {
    /// In `(time, seq)` order.
    timers: VecDeque<LaneTimer<T>>,
    /// The dead timers at the front: passed over, due no later than the next.
    dead: usize,
    /// Whether `timers[dead]` is in the event queue. Without it every timer is dead.
    queued: bool,
}

pub(crate) struct Lanes<T> {
    /// The span each lane holds, in nanoseconds (any, while the lane is empty); `u64::MAX` for
    /// the lanes switched off ([`Lanes::limit`]), which never match (no timer has that span).
    spans: [u64; LANES],
    /// Lanes from this index on are off.
    count: usize,
    lanes: Vec<Lane<T>>,
}

impl<T> Lanes<T> {
    pub fn new() -> Lanes<T> {
        Lanes {
            spans: [u64::MAX; LANES],
            count: LANES,
            lanes: (0..LANES).map(|_| Lane { timers: VecDeque::new(), dead: 0, queued: false }).collect(),
        }
    }

    /// The lane of timers of `span`: the one holding that span, else an empty one (which now
    /// holds it), else none.
    #[inline]
    pub fn lane_for(&mut self, span: u64) -> Option<u32> {
        if span == u64::MAX {
            return None; // the mark of a lane switched off
        }
        match self.spans.iter().position(|&s| s == span) {
            Some(l) => Some(l as u32),
            None => self.claim(span),
        }
    }

    #[cold]
    #[inline(never)]
    fn claim(&mut self, span: u64) -> Option<u32> {
        let l = self.lanes[..self.count].iter().position(|l| l.timers.is_empty())?;
        self.spans[l] = span;
        Some(l as u32)
    }

    /// Uses at most `n` lanes from now on (0: every timer goes to the queue). Only while no lane
    /// holds a timer: for tests and measurements that compare with the queue alone.
    pub fn limit(&mut self, n: usize) {
        assert!(!self.hold_any(), "lanes are limited before any timer is armed");
        self.count = n.min(LANES);
        self.spans = [u64::MAX; LANES];
    }

    /// Whether lane `l` has a timer in the event queue (a timer armed now waits behind it).
    #[inline]
    pub fn is_queued(&self, l: u32) -> bool {
        self.lanes[l as usize].queued
    }

    /// Appends `t`, due no earlier than every timer of the lane; `queued`: it was pushed to the
    /// event queue (the lane had none there).
    #[inline]
    pub fn append(&mut self, l: u32, t: LaneTimer<T>, queued: bool) {
        let lane = &mut self.lanes[l as usize];
        debug_assert!(lane.timers.back().is_none_or(|b| (b.time, b.seq) < (t.time, t.seq)), "a lane out of order");
        debug_assert!(!(queued && lane.queued), "two timers of one lane in the queue");
        lane.timers.push_back(t);
        lane.queued |= queued;
    }

    /// Takes lane `l`'s timer that was in the event queue and just popped, and how many dead
    /// timers before it the run has now passed.
    #[inline]
    pub fn take(&mut self, l: u32) -> (LaneTimer<T>, u64) {
        let lane = &mut self.lanes[l as usize];
        debug_assert!(lane.queued, "a lane's timer popped, but none was queued");
        let passed = lane.dead;
        lane.timers.drain(..passed);
        lane.dead = 0;
        lane.queued = false;
        (lane.timers.pop_front().expect("the queued timer"), passed as u64)
    }

    /// Passes over the dead timers at the front of lane `l` (which has none in the queue), and
    /// returns the key of the first live one, which the caller pushes to the queue.
    #[inline]
    pub fn next_live(&mut self, l: u32, live: impl Fn(&LaneTimer<T>) -> bool) -> Option<(Time, u64)> {
        let lane = &mut self.lanes[l as usize];
        debug_assert!(!lane.queued);
        while let Some(t) = lane.timers.get(lane.dead) {
            if live(t) {
                lane.queued = true;
                return Some((t.time, t.seq));
            }
            lane.dead += 1;
        }
        None
    }

    /// The run has passed `(time, seq)`: drops the dead timers due no later, and returns how
    /// many there were and when the last of them was due.
    pub fn settle(&mut self, time: Time, seq: u64) -> (u64, Option<Time>) {
        let (mut passed, mut latest) = (0, None);
        for lane in &mut self.lanes {
            while lane.dead > 0 && lane.timers.front().is_some_and(|t| (t.time, t.seq) <= (time, seq)) {
                let t = lane.timers.pop_front().expect("a dead timer");
                lane.dead -= 1;
                passed += 1;
                latest = latest.max(Some(t.time));
            }
        }
        (passed, latest)
    }

    /// When the first dead timer waiting in a lane is due, if one is.
    pub fn earliest_dead(&self) -> Option<Time> {
        self.lanes.iter().filter(|l| l.dead > 0).map(|l| l.timers[0].time).min()
    }

    /// Whether some lane holds a timer.
    pub fn hold_any(&self) -> bool {
        self.lanes.iter().any(|l| !l.timers.is_empty())
    }

    /// The timers waiting in lanes and not in the event queue, dead ones included.
    pub fn waiting(&self) -> usize {
        self.lanes.iter().map(|l| l.timers.len() - usize::from(l.queued)).sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn timer(time: u64, seq: u64) -> LaneTimer<()> {
        LaneTimer { time: Time(time), seq, node: NodeId(0), incarnation: 0, id: TimerId(seq), timer: () }
    }

    #[test]
    fn a_lane_per_span_while_it_holds_timers() {
        let mut lanes: Lanes<()> = Lanes::new();
        let a = lanes.lane_for(200).expect("a free lane");
        assert_eq!(lanes.lane_for(200), Some(a));
        lanes.append(a, timer(200, 0), true);
        for s in 1..LANES as u64 {
            let l = lanes.lane_for(s).expect("a free lane");
            assert_ne!(l, a);
            lanes.append(l, timer(s, s), true);
        }
        assert_eq!(lanes.lane_for(999), None, "every lane holds timers");
        // Emptied, a lane takes the next new span.
        let (t, passed) = lanes.take(a);
        assert_eq!((t.seq, passed), (0, 0));
        assert_eq!(lanes.lane_for(999), Some(a));
    }

    #[test]
    fn dead_timers_are_passed_over_and_settled_once_due() {
        let mut lanes: Lanes<()> = Lanes::new();
        let l = lanes.lane_for(10).unwrap();
        lanes.append(l, timer(10, 0), true);
        for s in 1..5 {
            lanes.append(l, timer(10 + s, s), false);
        }
        assert_eq!(lanes.waiting(), 4);
        let (t, passed) = lanes.take(l);
        assert_eq!((t.seq, passed), (0, 0));
        // Timers 1 and 2 are dead (cancelled): 3 goes in the queue.
        assert_eq!(lanes.next_live(l, |t| t.seq >= 3), Some((Time(13), 3)));
        // The run stops at time 11: timer 1 was due, timer 2 not yet.
        assert_eq!(lanes.settle(Time(11), u64::MAX), (1, Some(Time(11))));
        assert_eq!(lanes.settle(Time(11), u64::MAX), (0, None), "settled once");
        let (t, passed) = lanes.take(l);
        assert_eq!((t.seq, passed), (3, 1), "timer 2 passed when 3 popped");
        assert_eq!(lanes.next_live(l, |_| false), None);
        assert!(lanes.hold_any(), "timer 4 waits, dead, until the run passes it");
        assert_eq!(lanes.settle(Time(14), 3), (0, None), "an earlier sequence number at its time");
        assert_eq!(lanes.settle(Time(14), 4), (1, Some(Time(14))));
        assert!(!lanes.hold_any());
    }
}
