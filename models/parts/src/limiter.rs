//! Rate limiting: the four algorithms as plain state machines over a timestamp (nanoseconds on the
//! deciding node's local clock), and the byte count of each state in the layout the notes use for
//! Redis. A design keeps one [`State`] per limited key (where it keeps them, and whether reads and
//! writes of it are atomic, is the design's protocol: see the `ratelimit` model).

use serde::{Deserialize, Serialize};
use std::collections::VecDeque;

/// Which algorithm decides.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Algorithm {
    /// The notes' algo1: `{user: (count, window_start)}`, reset when `now - start >= window`.
    FixedWindow,
    /// The notes' algo2: a sorted set of the admitted requests' timestamps. Exact.
    #[default]
    SlidingLog,
    /// The notes' algo3: per-bucket counters (per minute for an hour window), summed over the window.
    SlidingCounter,
    /// The common reference: tokens refilled at `limit / window`, a bucket of `limit` tokens.
    TokenBucket,
    /// Not in the notes: the two-counter approximation large CDNs run. Windows are aligned to
    /// multiples of `window`; the rate is the previous window's count weighted by the share of it
    /// still inside the sliding window, plus the current window's count. Two counters per key,
    /// but it assumes the previous window's requests were spread evenly: a burst at the end of
    /// one window is under-weighted as the next one goes on.
    SlidingWindowWeighted,
}

impl Algorithm {
    pub const ALL: [Algorithm; 5] = [
        Algorithm::FixedWindow,
        Algorithm::SlidingLog,
        Algorithm::SlidingCounter,
        Algorithm::TokenBucket,
        Algorithm::SlidingWindowWeighted,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Algorithm::FixedWindow => "fixed_window",
            Algorithm::SlidingLog => "sliding_log",
            Algorithm::SlidingCounter => "sliding_counter",
            Algorithm::TokenBucket => "token_bucket",
            Algorithm::SlidingWindowWeighted => "sliding_window_weighted",
        }
    }

    pub fn index(self) -> usize {
        self as usize
    }

    /// How many more than `max` the algorithm promises it may admit in a window of `span_ns`
    /// (at most `window_ns`), as part of its documented contract; the `limit_respected` check
    /// allows exactly this much and no more.
    ///
    /// - Sliding log: 0. It keeps every admitted time of the window: exact.
    /// - Fixed window: 0. Its documented error (up to twice the limit across a window boundary,
    ///   the notes' "allows twice the limit") is the flaw it exists to show, not a promise.
    /// - Sliding counter: 0. It sums the buckets that start within the window ending with the
    ///   current bucket, so the span it counts starts at a bucket boundary and is between
    ///   `window - bucket` and `window` long: a bucket leaves the sum whole. Its documented error
    ///   is therefore a burst at the end of one bucket plus one at the start of the bucket that
    ///   pushes it out: up to twice the limit in one window (with one bucket per window it is a
    ///   fixed window on aligned boundaries), about `limit / buckets` extra under steady load.
    ///   Like the fixed window's, that error is a flaw, not a promise: judged against the limit.
    /// - Token bucket: `max * span / window`. Its contract is a bucket of `max` tokens refilled at
    ///   `max / window`: a full bucket plus the refill during the span.
    /// - Sliding window, weighted: 0. Its error (a previous window's burst at its end weighted as
    ///   if spread out: up to `max * elapsed / window` more in a sliding window) is a flaw of the
    ///   approximation, judged against the limit like the fixed window's.
    pub fn documented_excess(self, max: u64, span_ns: u64, window_ns: u64) -> u64 {
        match self {
            Algorithm::SlidingLog
            | Algorithm::FixedWindow
            | Algorithm::SlidingCounter
            | Algorithm::SlidingWindowWeighted => 0,
            Algorithm::TokenBucket => (max as u128 * span_ns as u128 / window_ns.max(1) as u128) as u64,
        }
    }
}

/// The notes' byte sizes of one Redis record's parts.
pub mod layout {
    /// The user id (the hash key).
    pub const USER_ID: u64 = 8;
    /// The fixed window's counter (at most 65,535).
    pub const COUNTER: u64 = 2;
    /// The fixed window's start ("only store minute and second").
    pub const START_MIN_SEC: u64 = 2;
    /// Per entry of the outer hash table.
    pub const HASH_OVERHEAD: u64 = 20;
    /// The lock (a number) the notes add for atomicity.
    pub const LOCK: u64 = 4;
    /// A timestamp in the sorted set, or a bucket's start time.
    pub const TIMESTAMP: u64 = 4;
    /// Per member of a sorted set.
    pub const SORTED_SET_OVERHEAD: u64 = 20;
    /// Per field of the per-user Redis hash of bucket counters.
    pub const REDIS_HASH_OVERHEAD: u64 = 20;
    /// The token bucket's token count (not in the notes: a 4-byte number, like its timestamp).
    pub const TOKENS: u64 = 4;
}

/// Parameters of one limit (for one key: a user, or an IP address).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Params {
    /// Requests allowed per window.
    pub max: u32,
    pub window_ns: u64,
    /// Buckets per window (sliding counter).
    pub buckets: u32,
}

impl Params {
    pub fn bucket_ns(&self) -> u64 {
        (self.window_ns / self.buckets as u64).max(1)
    }
}

/// One key's limiter state.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum State {
    Fixed {
        count: u32,
        window_start: u64,
    },
    /// Admitted timestamps, oldest first.
    Log(VecDeque<u64>),
    /// `(bucket start, count)`, oldest first.
    Buckets(VecDeque<(u64, u32)>),
    /// Tokens in thousandths, and the time of the last refill.
    Tokens {
        milli: u64,
        last: u64,
    },
    /// The aligned window now counting, its count, and the previous window's count.
    Weighted {
        window_start: u64,
        current: u32,
        previous: u32,
    },
}

impl State {
    pub fn new(algo: Algorithm, p: &Params) -> State {
        match algo {
            Algorithm::FixedWindow => State::Fixed { count: 0, window_start: 0 },
            Algorithm::SlidingLog => State::Log(VecDeque::new()),
            Algorithm::SlidingCounter => State::Buckets(VecDeque::new()),
            Algorithm::TokenBucket => State::Tokens { milli: p.max as u64 * 1000, last: 0 },
            Algorithm::SlidingWindowWeighted => State::Weighted { window_start: 0, current: 0, previous: 0 },
        }
    }

    /// Decides one request at `now`, and records it when admitted (check-and-increment).
    pub fn admit(&mut self, p: &Params, now: u64) -> bool {
        match self {
            State::Fixed { count, window_start } => {
                if *count == 0 || now.saturating_sub(*window_start) >= p.window_ns {
                    *count = 0;
                    *window_start = now;
                }
                if *count < p.max {
                    *count += 1;
                    true
                } else {
                    false
                }
            }
            State::Log(log) => {
                while log.front().is_some_and(|&t| t.saturating_add(p.window_ns) <= now) {
                    log.pop_front();
                }
                if (log.len() as u64) < p.max as u64 {
                    log.push_back(now);
                    true
                } else {
                    false
                }
            }
            State::Buckets(buckets) => {
                let g = p.bucket_ns();
                let start = now - now % g;
                // Keep the buckets that start within the window ending with the current bucket.
                while buckets.front().is_some_and(|&(s, _)| s.saturating_add(p.window_ns) <= start) {
                    buckets.pop_front();
                }
                let sum: u64 = buckets.iter().map(|b| b.1 as u64).sum();
                if sum >= p.max as u64 {
                    return false;
                }
                match buckets.back_mut() {
                    Some((s, c)) if *s == start => *c += 1,
                    _ => buckets.push_back((start, 1)),
                }
                true
            }
            State::Tokens { milli, last } => {
                let cap = p.max as u64 * 1000;
                let elapsed = now.saturating_sub(*last) as u128;
                let refill = elapsed * p.max as u128 * 1000 / p.window_ns as u128;
                *milli = (*milli as u128 + refill).min(cap as u128) as u64;
                *last = now.max(*last);
                if *milli >= 1000 {
                    *milli -= 1000;
                    true
                } else {
                    false
                }
            }
            State::Weighted { window_start, current, previous } => {
                let w = p.window_ns.max(1);
                let start = now - now % w;
                if start != *window_start {
                    // The window that just ended becomes the previous one; after a quiet
                    // window, nothing is carried.
                    *previous = if start == *window_start + w { *current } else { 0 };
                    *current = 0;
                    *window_start = start;
                }
                // previous x (share of it still in the sliding window) + current < max, in
                // integers: previous x (w - elapsed) + current x w < max x w.
                let elapsed = (now - start) as u128;
                let rate = *previous as u128 * (w as u128 - elapsed) + *current as u128 * w as u128;
                if rate < p.max as u128 * w as u128 {
                    *current += 1;
                    true
                } else {
                    false
                }
            }
        }
    }

    /// Bytes of this state in the notes' layout (hash key, fields, per-entry overheads): the
    /// notes' constants applied to this state's counts, a model of Redis, not of this program.
    pub fn notes_layout_bytes(&self) -> u64 {
        use layout::*;
        match self {
            State::Fixed { .. } => USER_ID + COUNTER + START_MIN_SEC + HASH_OVERHEAD + LOCK,
            State::Log(log) => USER_ID + (TIMESTAMP + SORTED_SET_OVERHEAD) * log.len() as u64 + HASH_OVERHEAD,
            State::Buckets(b) => USER_ID + (TIMESTAMP + COUNTER + REDIS_HASH_OVERHEAD) * b.len() as u64 + HASH_OVERHEAD,
            State::Tokens { .. } => USER_ID + TOKENS + TIMESTAMP + HASH_OVERHEAD,
            // Not in the notes: two counters and the window's start, as the fixed window's.
            State::Weighted { .. } => USER_ID + 2 * COUNTER + START_MIN_SEC + HASH_OVERHEAD,
        }
    }

    /// Bytes this state occupies in this model: the enum itself (sized by its largest variant)
    /// and the heap buffer of a log or bucket deque (its capacity, not only its length). What a
    /// map holding it adds per entry (the key, the tree's nodes) is not counted here.
    pub fn mem_bytes(&self) -> u64 {
        let heap = match self {
            State::Fixed { .. } | State::Tokens { .. } | State::Weighted { .. } => 0,
            State::Log(log) => log.capacity() * std::mem::size_of::<u64>(),
            State::Buckets(b) => b.capacity() * std::mem::size_of::<(u64, u32)>(),
        };
        (std::mem::size_of::<State>() + heap) as u64
    }

    /// Size on the wire when the state is read or written whole.
    pub fn wire_bytes(&self) -> u64 {
        match self {
            State::Fixed { .. } | State::Tokens { .. } | State::Weighted { .. } => 16,
            State::Log(l) => 8 + 8 * l.len() as u64,
            State::Buckets(b) => 8 + 12 * b.len() as u64,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: u64 = 1_000_000;

    fn p() -> Params {
        Params { max: 3, window_ns: 1000 * MS, buckets: 10 }
    }

    fn run(algo: Algorithm, times_ms: &[u64]) -> Vec<bool> {
        let p = p();
        let mut s = State::new(algo, &p);
        times_ms.iter().map(|&t| s.admit(&p, t * MS)).collect()
    }

    #[test]
    fn sliding_log_is_exact() {
        // 3 per second: the 4th within a second waits until the first leaves the window.
        let got = run(Algorithm::SlidingLog, &[0, 10, 20, 30, 999, 1000, 1001, 1010, 1011]);
        assert_eq!(got, [true, true, true, false, false, true, false, true, false]);
    }

    #[test]
    fn fixed_window_admits_twice_the_limit_across_a_boundary() {
        // The window starts at 0; 3 at its end, 3 more right after it: 6 within 20 ms.
        let got = run(Algorithm::FixedWindow, &[0, 990, 995, 998, 1000, 1001, 1002, 1003]);
        assert_eq!(got, [true, true, true, false, true, true, true, false]);
    }

    #[test]
    fn sliding_counter_math() {
        // Buckets of 100 ms: a request at 1050 ms sits in bucket 1000, and the window holds the
        // buckets starting after 0 (100..1000): the request at 50 ms has left, the two at 150-160
        // stay until bucket 1100 begins.
        let got = run(Algorithm::SlidingCounter, &[50, 150, 160, 170, 1050, 1099, 1100, 1150, 1160]);
        assert_eq!(got, [true, true, true, false, true, false, true, true, false]);
        let p = p();
        let mut s = State::new(Algorithm::SlidingCounter, &p);
        for t in [50, 150, 160] {
            s.admit(&p, t * MS);
        }
        // Two buckets: 8 + (4 + 2 + 20) * 2 + 20.
        assert_eq!(s.notes_layout_bytes(), 80);
    }

    #[test]
    fn token_bucket_refills_at_the_rate() {
        // 3 tokens, refilled at 3 per second: one every 333.3 ms.
        let got = run(Algorithm::TokenBucket, &[0, 0, 0, 0, 300, 334, 500, 667]);
        assert_eq!(got, [true, true, true, false, false, true, false, true]);
    }

    #[test]
    fn sliding_window_weighted_weights_the_previous_window_by_its_overlap() {
        // 3 per aligned second. A burst of 3 at the end of window 0: at 1000 ms the previous
        // window counts whole (3 >= 3: refused); at 1500 ms it counts half (1.5 + 0, then 1.5 + 1:
        // two admitted, the third would make 3.5); at 1900 ms a tenth (0.3 + 2 < 3: one more).
        let got = run(Algorithm::SlidingWindowWeighted, &[990, 995, 998, 1000, 1500, 1501, 1502, 1900, 1901]);
        assert_eq!(got, [true, true, true, false, true, true, false, true, false]);
        // So within the sliding second 901..1901 ms it admitted 3 + 3 = 6 (twice the limit), as
        // the fixed window does across a boundary, but spread over the second instead of at once.
        // After a quiet window, nothing is carried over.
        let got = run(Algorithm::SlidingWindowWeighted, &[990, 995, 998, 2000, 2001, 2002, 2003]);
        assert_eq!(got, [true, true, true, true, true, true, false]);
        assert_eq!(State::new(Algorithm::SlidingWindowWeighted, &p()).notes_layout_bytes(), 8 + 4 + 2 + 20);
    }

    #[test]
    fn notes_layout_sizes() {
        let p = p();
        assert_eq!(State::new(Algorithm::FixedWindow, &p).notes_layout_bytes(), 36);
        let log = State::Log((0..500).collect());
        assert_eq!(log.notes_layout_bytes(), 8 + 24 * 500 + 20);
        let buckets = State::Buckets((0..60).map(|i| (i, 1)).collect());
        assert_eq!(buckets.notes_layout_bytes(), 8 + 26 * 60 + 20);
    }

    #[test]
    fn memory_sizes_are_the_model_s_own_structures() {
        let p = p();
        let enum_size = std::mem::size_of::<State>() as u64;
        // A fixed window is the enum alone, whatever the notes' layout says (36 bytes).
        assert_eq!(State::new(Algorithm::FixedWindow, &p).mem_bytes(), enum_size);
        assert_eq!(State::new(Algorithm::TokenBucket, &p).mem_bytes(), enum_size);
        // A deque counts its capacity: the buffer it holds, not only what is in it.
        let mut log = std::collections::VecDeque::with_capacity(512);
        log.extend(0..500u64);
        let cap = log.capacity() as u64;
        assert!(cap >= 512);
        assert_eq!(State::Log(log).mem_bytes(), enum_size + cap * 8);
        let mut b = std::collections::VecDeque::with_capacity(64);
        b.extend((0..60u64).map(|i| (i, 1u32)));
        let cap = b.capacity() as u64;
        assert_eq!(State::Buckets(b).mem_bytes(), enum_size + cap * 16, "(u64, u32) is 16 bytes with padding");
        // Grown by admitting, as the model does.
        let mut s = State::new(Algorithm::SlidingLog, &p);
        for t in 0..3 {
            s.admit(&p, t);
        }
        let State::Log(l) = &s else { unreachable!() };
        assert_eq!(s.mem_bytes(), enum_size + l.capacity() as u64 * 8);
        assert!(l.capacity() >= 3);
    }
}
