//! The URL frontier: Mercator's front queues (priority) and back queues (one per host), or the
//! known-bad single FIFO.
//!
//! Mercator: a new URL goes to the back queue of its host if that host has one, otherwise to the
//! front queue of its priority (its link depth). Back queues are created, up to `back_max`, by
//! pulling URLs from the front queues, highest priority first. A heap (`priority-queue`) orders the
//! hosts whose back queue is non-empty and idle by the time their next request is allowed. `pop`
//! hands out the head URL of the host due first and marks the host busy; `release` sets its next
//! allowed time (response time + crawl delay, or a retry backoff). So at most one request per host is
//! in flight and the delay between requests holds, by construction.
//!
//! FIFO: one queue; `pop` ignores hosts and times. Retries still wait their backoff.

use priority_queue::PriorityQueue;
use sim_core::Time;
use std::cmp::Reverse;
use std::collections::{BTreeMap, VecDeque, hash_map::DefaultHasher};
use std::hash::BuildHasherDefault;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Entry {
    pub url: u32,
    pub host: u32,
    /// Link distance from a seed; front-queue priority (lower first).
    pub depth: u8,
}

/// A deterministic hasher: the heap's internal index never depends on a random seed.
type Fixed = BuildHasherDefault<DefaultHasher>;

#[derive(Debug, Default)]
struct BackQueue {
    urls: VecDeque<Entry>,
    busy: bool,
}

#[derive(Debug)]
pub struct Mercator {
    front: Vec<VecDeque<Entry>>,
    back: BTreeMap<u32, BackQueue>,
    /// Idle hosts with URLs waiting, by (next allowed time, host): the earliest first.
    ready: PriorityQueue<u32, Reverse<(Time, u32)>, Fixed>,
    /// When each host may next be contacted (kept after its back queue goes away).
    next_allowed: BTreeMap<u32, Time>,
    back_max: usize,
    len: usize,
}

impl Mercator {
    pub fn new(front_queues: usize, back_max: usize) -> Mercator {
        Mercator {
            front: (0..front_queues.max(1)).map(|_| VecDeque::new()).collect(),
            back: BTreeMap::new(),
            ready: PriorityQueue::with_default_hasher(),
            next_allowed: BTreeMap::new(),
            back_max: back_max.max(1),
            len: 0,
        }
    }

    fn push(&mut self, e: Entry) {
        self.len += 1;
        if let Some(q) = self.back.get_mut(&e.host) {
            q.urls.push_back(e);
            return;
        }
        let level = (e.depth as usize).min(self.front.len() - 1);
        self.front[level].push_back(e);
        self.refill();
    }

    /// Moves URLs from the front queues to back queues while there is room for another host.
    fn refill(&mut self) {
        while self.back.len() < self.back_max {
            let Some(e) = self.front.iter_mut().find_map(|q| q.pop_front()) else { return };
            match self.back.get_mut(&e.host) {
                Some(q) => q.urls.push_back(e),
                None => {
                    let mut q = BackQueue::default();
                    q.urls.push_back(e);
                    self.back.insert(e.host, q);
                    let at = self.next_allowed.get(&e.host).copied().unwrap_or(Time::ZERO);
                    self.ready.push(e.host, Reverse((at, e.host)));
                }
            }
        }
    }

    fn pop(&mut self, now: Time) -> Option<Entry> {
        let (_, Reverse((at, _))) = self.ready.peek()?;
        if *at > now {
            return None;
        }
        let (host, _) = self.ready.pop().expect("peeked");
        let q = self.back.get_mut(&host).expect("a ready host has a back queue");
        debug_assert!(!q.busy);
        q.busy = true;
        self.len -= 1;
        Some(q.urls.pop_front().expect("a ready back queue is non-empty"))
    }

    fn release(&mut self, host: u32, next_allowed: Time, requeue: Option<Entry>) {
        let t = self.next_allowed.entry(host).or_insert(Time::ZERO);
        *t = (*t).max(next_allowed);
        let at = *t;
        let q = self.back.get_mut(&host).expect("released host has a back queue");
        assert!(q.busy, "release of a host that is not busy");
        q.busy = false;
        if let Some(e) = requeue {
            q.urls.push_front(e);
            self.len += 1;
        }
        if q.urls.is_empty() {
            self.back.remove(&host);
            self.refill();
        } else {
            self.ready.push(host, Reverse((at, host)));
        }
    }

    fn next_time(&self) -> Option<Time> {
        self.ready.peek().map(|(_, Reverse((t, _)))| *t)
    }
}

#[derive(Debug, Default)]
pub struct Fifo {
    queue: VecDeque<Entry>,
    /// Retries waiting for their backoff, by (due time, sequence).
    delayed: BTreeMap<(Time, u64), Entry>,
    seq: u64,
}

#[derive(Debug)]
pub enum Frontier {
    Mercator(Mercator),
    Fifo(Fifo),
}

impl Frontier {
    pub fn push(&mut self, e: Entry) {
        match self {
            Frontier::Mercator(m) => m.push(e),
            Frontier::Fifo(f) => f.queue.push_back(e),
        }
    }

    /// The next URL that may be fetched now; its host is busy until `release`.
    pub fn pop(&mut self, now: Time) -> Option<Entry> {
        match self {
            Frontier::Mercator(m) => m.pop(now),
            Frontier::Fifo(f) => {
                while let Some((&(t, s), _)) = f.delayed.first_key_value() {
                    if t > now {
                        break;
                    }
                    let e = f.delayed.remove(&(t, s)).expect("first key");
                    f.queue.push_back(e);
                }
                f.queue.pop_front()
            }
        }
    }

    /// The host of a popped URL is free again: it may be contacted from `next_allowed` on.
    /// `requeue` puts a URL back at the head of the host's queue (to be fetched then).
    pub fn release(&mut self, host: u32, next_allowed: Time, requeue: Option<Entry>) {
        match self {
            Frontier::Mercator(m) => m.release(host, next_allowed, requeue),
            Frontier::Fifo(f) => {
                if let Some(e) = requeue {
                    f.seq += 1;
                    f.delayed.insert((next_allowed, f.seq), e);
                }
            }
        }
    }

    /// When `pop` may next return something (None: nothing is waiting, or all hosts are busy).
    pub fn next_time(&self) -> Option<Time> {
        match self {
            Frontier::Mercator(m) => m.next_time(),
            Frontier::Fifo(f) => {
                if f.queue.is_empty() {
                    f.delayed.first_key_value().map(|(k, _)| k.0)
                } else {
                    Some(Time::ZERO)
                }
            }
        }
    }

    /// Every URL waiting in the frontier (front and back queues, or the FIFO and its retries).
    pub fn urls(&self) -> Box<dyn Iterator<Item = u32> + '_> {
        match self {
            Frontier::Mercator(m) => {
                Box::new(m.front.iter().flatten().chain(m.back.values().flat_map(|q| &q.urls)).map(|e| e.url))
            }
            Frontier::Fifo(f) => Box::new(f.queue.iter().chain(f.delayed.values()).map(|e| e.url)),
        }
    }

    pub fn len(&self) -> usize {
        match self {
            Frontier::Mercator(m) => m.len,
            Frontier::Fifo(f) => f.queue.len() + f.delayed.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sim_core::Duration;

    fn e(url: u32, host: u32) -> Entry {
        Entry { url, host, depth: (url % 3) as u8 }
    }

    /// Drives a frontier with `fetchers` parallel fetchers against hosts that take `service` per
    /// request and ask for `delay` between requests; returns each host's request intervals.
    fn drive(mut f: Frontier, fetchers: usize, service: Duration, delay: Duration) -> BTreeMap<u32, Vec<(Time, Time)>> {
        for u in 0..200u32 {
            f.push(e(u, u % 7));
        }
        let mut now = Time::ZERO;
        let mut in_flight: Vec<(Time, Entry)> = Vec::new();
        let mut log: BTreeMap<u32, Vec<(Time, Time)>> = BTreeMap::new();
        let mut done = 0;
        while done < 200 {
            while in_flight.len() < fetchers {
                let Some(x) = f.pop(now) else { break };
                in_flight.push((now + service, x));
            }
            let next_done = in_flight.iter().map(|x| x.0).min();
            let next = [next_done, f.next_time().filter(|t| *t > now)].into_iter().flatten().min().expect("progress");
            now = next;
            in_flight.sort_by_key(|x| (x.0, x.1.url));
            while let Some(&(t, x)) = in_flight.first() {
                if t > now {
                    break;
                }
                in_flight.remove(0);
                log.entry(x.host).or_default().push((Time(t.0 - service.0), t));
                f.release(x.host, t + delay, None);
                done += 1;
            }
        }
        log
    }

    fn violations(log: &BTreeMap<u32, Vec<(Time, Time)>>, delay: Duration) -> usize {
        let mut v = 0;
        for reqs in log.values() {
            let mut r = reqs.clone();
            r.sort();
            for w in r.windows(2) {
                if w[1].0 < w[0].1 + delay {
                    v += 1;
                }
            }
        }
        v
    }

    #[test]
    fn mercator_keeps_one_request_per_host_and_the_delay() {
        let (svc, delay) = (Duration::from_millis(30), Duration::from_millis(100));
        let log = drive(Frontier::Mercator(Mercator::new(3, 5)), 8, svc, delay);
        assert_eq!(log.values().map(|v| v.len()).sum::<usize>(), 200);
        assert_eq!(violations(&log, delay), 0);
    }

    #[test]
    fn fifo_violates_politeness() {
        let (svc, delay) = (Duration::from_millis(30), Duration::from_millis(100));
        let log = drive(Frontier::Fifo(Fifo::default()), 8, svc, delay);
        assert_eq!(log.values().map(|v| v.len()).sum::<usize>(), 200);
        assert!(violations(&log, delay) > 50);
    }

    #[test]
    fn front_queues_order_by_priority_and_back_queues_are_bounded() {
        let mut m = Mercator::new(3, 2);
        m.push(Entry { url: 1, host: 1, depth: 2 });
        m.push(Entry { url: 2, host: 2, depth: 2 });
        m.push(Entry { url: 3, host: 3, depth: 0 });
        // Hosts 1 and 2 took the two back queues; host 3 waits in front although it is urgent.
        assert_eq!(m.back.len(), 2);
        let a = m.pop(Time::ZERO).unwrap();
        m.release(a.host, Time::ZERO, None);
        // The freed back queue goes to the highest-priority front URL.
        assert!(m.back.contains_key(&3));
        assert_eq!(m.len, 2);
    }
}
