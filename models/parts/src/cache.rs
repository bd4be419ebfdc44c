//! A cache, and the read path a service runs around a cache and its database.
//!
//! Two layers. [`Cache`] is a plain data structure (no context, no messages): entries keyed by
//! `u64`, evicted LRU or LFU under a capacity in entries or in bytes, each with a time to live, and
//! "not found" remembered as a *negative* entry with its own shorter TTL. Every operation is
//! `O(log n)`, amortised (ordered maps, and for LRU a queue of uses: deterministic). It starts
//! empty (a cold start), and a design can use it in-process on its own (the shortener's LRU is
//! one). [`ReadPath`] is the logic a server
//! runs around a `Cache` and a slower source of truth (a database, an origin): it answers from the
//! cache, asks its host to fetch on a miss, stores what comes back, applies writes as its mode
//! says, and optionally coalesces concurrent misses and refreshes hot keys before they expire. It
//! never sends anything itself: [`ReadPath::read`] returns what to do ([`Read`]), the host does
//! the fetch (usually with a [`crate::calls::Calls`]) and hands the result to
//! [`ReadPath::fetched`], which returns the requests to answer.
//!
//! ## Knobs
//!
//! ```ron
//! read_path: (
//!     cache: (eviction: Lru, capacity: Bytes(64000000), ttl: Some("60s"), negative_ttl: Some("5s")),
//!     mode: CacheAside,
//!     single_flight: true,
//!     early_refresh: Some((beta: 1.0)),
//! )
//! ```
//!
//! - `cache.eviction`: `Lru` evicts the entry used least recently; `Lfu` the entry used least
//!   often while cached (ties: the least recently used of them). A new entry starts at one use,
//!   or at the number of reads that waited for its fetch if more: a hot key that expired while
//!   its refresh was in flight comes back with the reads that missed it, not as a newcomer the
//!   next fill evicts.
//! - `cache.capacity`: `Entries(n)` counts entries, `Bytes(n)` sums the sizes entries carry (an
//!   entry larger than the whole cache is not stored). `Entries(0)` is no cache at all.
//! - `cache.ttl`: how long a stored value lives (`None`: until evicted); a caller can give one
//!   entry its own TTL ([`Item::ttl`]). `cache.negative_ttl`: how long "not found" is remembered
//!   (`None`: never; every lookup of a missing key reaches the database).
//! - `mode`: what a read miss stores and what a write does, once the database acknowledged it.
//!   Every mode reads the same way: a hit answers from the cache, a miss fetches the key and
//!   stores the result (the value, or a negative entry) before answering:
//!
//!   | mode | a fetch that a write overtook | a write, after the database's ack |
//!   |---|---|---|
//!   | `CacheAside` | stored anyway (the known race: the fetch may have read the old row; counted `racy_fills`) | deletes the entry |
//!   | `ReadThrough` | answered, not stored (the cache owns its loads; counted `dropped_fills`) | deletes the entry |
//!   | `WriteThrough` | answered, not stored | stores the written value |
//!   | `WriteAround` | stored (the cache is not told of writes) | nothing: the old value is served until its TTL |
//!
//!   "Overtaken" means a write of the key was acknowledged (and handed to [`ReadPath::written`])
//!   while the fetch was in flight. In cache-aside the application runs this logic around a
//!   cache that knows nothing of loads; in read-through the cache runs it; where the `ReadPath`
//!   lives is the host's choice (an API server, a cache tier, a CDN node).
//! - `single_flight`: concurrent misses of one key wait for one fetch (Go's `singleflight`,
//!   nginx's `proxy_cache_lock`). Without it every miss fetches, and a hot key that expires under
//!   load sends a burst of identical fetches to the database: the cache stampede (thundering herd).
//!   A write of the key detaches the fetch in flight (later misses start a fresh one).
//! - `early_refresh`: probabilistic early expiration (XFetch: Vattani, Chierichetti and Lowenstein,
//!   "Optimal Probabilistic Cache Stampede Prevention", VLDB 2015). A hit refreshes the key, while
//!   still answering from the cache, when `now + delta * beta * -ln(u) >= expiry`, `u` uniform in
//!   `(0, 1]` and `delta` the time the stored value took to fetch. The probability rises as the
//!   expiry nears, so under load one request refreshes a hot key shortly before it expires and no
//!   reader ever misses it; `beta > 1` refreshes earlier. With `single_flight` at most one refresh
//!   of a key is in flight.
//!
//! ## Measured
//!
//! [`CacheStats`] (hits, negative hits, misses, inserts, evictions, expirations, invalidations)
//! and [`ReadStats`] (coalesced misses, fetches, refreshes, failures, racy and dropped fills, the
//! most fetches of one key in flight at once), summed by a design's report over its nodes; and
//! kernel counters under the read path's scope: `scope.hits`, `scope.negative_hits`,
//! `scope.misses`, `scope.coalesced`, `scope.fetches`, `scope.refreshes`, `scope.fetch_failures`,
//! `scope.evictions`, `scope.expirations`, `scope.racy_fills`, `scope.dropped_fills`, kept per
//! reporting interval too, so [`hit_ratio_table`] plots the hit ratio over time (the cold start's
//! climb, the dip at a hot key's expiry); and the level `scope.fetching` (fetches in flight).
//!
//! ## Invariants and failure modes
//!
//! A cache never holds more than its capacity; an expired entry is never returned (expiry is
//! checked on the local clock at every operation, and expired entries are purged first); a
//! waiter is returned by `fetched` exactly once, with the result of the fetch it waited for. A
//! failed fetch stores nothing and fails every request waiting for it (single-flight shares one
//! fetch's fate). A crash loses the cache: the node restarts cold. LFU keeps a once-popular key
//! for as long as its count stays above the newcomers' (it has no ageing), and a burst of new keys
//! evicts each other first. Expiry follows the host's local clock, so a clock that jumps forward
//! expires everything at once.

use serde::{Deserialize, Serialize};
use sim_core::math;
use sim_core::metrics::Metrics;
use sim_core::model::{Axis, Table};
use sim_core::{Actor, Ctx, Duration, Time};
use std::collections::{BTreeMap, BTreeSet, VecDeque};

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum Eviction {
    #[default]
    Lru,
    Lfu,
}

/// How much a cache holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Capacity {
    Entries(u64),
    /// The sum of the entries' sizes.
    Bytes(u64),
}

impl Capacity {
    /// The entries the capacity holds, for a model's footprint: a byte capacity over
    /// `entry_bytes`, the size the model gives its entries.
    pub fn entries(&self, entry_bytes: f64) -> f64 {
        match *self {
            Capacity::Entries(n) => n as f64,
            Capacity::Bytes(b) => b as f64 / entry_bytes,
        }
    }
}

impl Default for Capacity {
    fn default() -> Self {
        Capacity::Entries(10_000)
    }
}

/// ```ron
/// (eviction: Lfu, capacity: Entries(10000), ttl: Some("30s"), negative_ttl: Some("2s"))
/// ```
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CacheSpec {
    pub eviction: Eviction,
    pub capacity: Capacity,
    /// Lifetime of a stored value (`None`: until evicted).
    pub ttl: Option<Duration>,
    /// Lifetime of a remembered "not found" (`None`: not remembered).
    pub negative_ttl: Option<Duration>,
}

impl CacheSpec {
    pub fn validate(&self, path: &str) -> Vec<(String, String)> {
        let mut e = Vec::new();
        match self.capacity {
            Capacity::Entries(n) if n > 1_000_000_000 => {
                e.push((format!("{path}.capacity"), format!("at most 1,000,000,000 entries, got {n}")))
            }
            _ => {}
        }
        if self.ttl == Some(Duration::ZERO) {
            e.push((format!("{path}.ttl"), "must be positive (or None: no expiry)".into()));
        }
        if self.negative_ttl == Some(Duration::ZERO) {
            e.push((format!("{path}.negative_ttl"), "must be positive (or None: not-found is not cached)".into()));
        }
        e
    }
}

/// Counts of one cache, summed over a design's nodes in its report.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CacheStats {
    pub hits: u64,
    /// Lookups answered by a remembered "not found".
    pub negative_hits: u64,
    pub misses: u64,
    pub inserts: u64,
    /// Entries removed to make room.
    pub evictions: u64,
    /// Entries removed because their TTL ran out.
    pub expirations: u64,
    /// Entries removed by [`Cache::remove`].
    pub invalidations: u64,
    /// Entries not stored: larger than the whole cache (or a cache of capacity 0).
    pub too_large: u64,
}

impl CacheStats {
    pub fn add(&mut self, o: &CacheStats) {
        self.hits += o.hits;
        self.negative_hits += o.negative_hits;
        self.misses += o.misses;
        self.inserts += o.inserts;
        self.evictions += o.evictions;
        self.expirations += o.expirations;
        self.invalidations += o.invalidations;
        self.too_large += o.too_large;
    }

    pub fn lookups(&self) -> u64 {
        self.hits + self.negative_hits + self.misses
    }

    /// Lookups answered from the cache (negative hits included) over all lookups; 0 when none.
    pub fn hit_ratio(&self) -> f64 {
        let n = self.lookups();
        if n == 0 { 0.0 } else { (self.hits + self.negative_hits) as f64 / n as f64 }
    }
}

/// What [`Cache::insert`] stores.
#[derive(Clone, Debug, PartialEq)]
pub struct Item<V> {
    /// `None`: a negative entry ("not found").
    pub value: Option<V>,
    /// Bytes, counted against a `Bytes` capacity.
    pub size: u64,
    /// This entry's lifetime (`None`: until evicted).
    pub ttl: Option<Duration>,
    /// How long the value took to fetch (early refresh weighs it).
    pub fetch: Duration,
    /// Reads this value answers as it is stored (the requests that waited for its fetch): each
    /// is a use under LFU. 0 or 1: the one use every insert counts.
    pub reads: u64,
}

/// A cached entry, as a lookup sees it.
#[derive(Debug, PartialEq)]
pub struct Found<'a, V> {
    /// `None`: a remembered "not found".
    pub value: Option<&'a V>,
    pub expires: Option<Time>,
    pub fetch: Duration,
}

#[derive(Clone, Debug)]
struct Entry<V> {
    value: Option<V>,
    size: u64,
    expires: Option<Time>,
    fetch: Duration,
    /// `(uses, last use)` under LFU, `(0, last use)` under LRU: the smallest is evicted first.
    rank: (u64, u64),
}

/// The eviction order: the entry of the smallest rank goes first.
#[derive(Clone, Debug)]
enum Order {
    /// LFU: rank -> key.
    Ranked(BTreeMap<(u64, u64), u64>),
    /// LRU: `(last use, key)` in the order of use (an LRU rank is `(0, last use)`). A use appends
    /// a record and leaves the entry's earlier one behind, stale: its tick is no longer the
    /// entry's. Eviction skips stale records, and a use that finds the queue longer than twice
    /// the entries (plus 16) drops the stale ones, so it holds at most about twice the most
    /// entries held. A use costs one append instead of an ordered map's removal and insertion.
    Recency(VecDeque<(u64, u64)>),
}

/// Whether an LRU record `(tick, key)` is its entry's current one (not stale).
fn is_current<V>(entries: &BTreeMap<u64, Entry<V>>, tick: u64, key: u64) -> bool {
    entries.get(&key).is_some_and(|e| e.rank.1 == tick)
}

/// Heap bytes of an entry of a [`Cache`] of small values (sizes, ids), for a model's footprint
/// (`Model::footprint`): the entries' B-tree (72 B an entry, nodes ~2/3 full), the expiry set
/// and the LRU queue of uses (16 B a record, up to twice the entries, in a ring buffer that
/// doubles): ~160 B. Measured on cdn and readpath (docs/performance.md, "Round thirty"). A
/// larger value adds its own heap.
pub const ENTRY_BYTES: f64 = 160.0;

/// An LRU or LFU cache with TTLs (see the module docs). `V` is the cached value.
#[derive(Clone, Debug)]
pub struct Cache<V> {
    spec: CacheSpec,
    entries: BTreeMap<u64, Entry<V>>,
    order: Order,
    /// `(expiry, key)` of every entry that expires.
    expiry: BTreeSet<(Time, u64)>,
    bytes: u64,
    tick: u64,
    pub stats: CacheStats,
}

impl<V> Cache<V> {
    /// An empty cache (a cold start).
    pub fn new(spec: CacheSpec) -> Cache<V> {
        let order = match spec.eviction {
            Eviction::Lru => Order::Recency(VecDeque::new()),
            Eviction::Lfu => Order::Ranked(BTreeMap::new()),
        };
        Cache {
            spec,
            entries: BTreeMap::new(),
            order,
            expiry: BTreeSet::new(),
            bytes: 0,
            tick: 0,
            stats: CacheStats::default(),
        }
    }

    /// An LRU cache of `n` entries that never expire.
    pub fn lru(n: u64) -> Cache<V> {
        Cache::new(CacheSpec { capacity: Capacity::Entries(n), ..CacheSpec::default() })
    }

    pub fn spec(&self) -> &CacheSpec {
        &self.spec
    }

    /// Entries held (negative ones included; expired ones not yet purged too).
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The sum of the held entries' sizes.
    pub fn bytes(&self) -> u64 {
        self.bytes
    }

    fn next_rank(&mut self, uses: u64) -> (u64, u64) {
        self.tick += 1;
        match self.spec.eviction {
            Eviction::Lru => (0, self.tick),
            Eviction::Lfu => (uses, self.tick),
        }
    }

    /// Records that `key`'s rank is `rank` now (`old`: its rank before, if it was ranked).
    fn rank(&mut self, key: u64, old: Option<(u64, u64)>, rank: (u64, u64)) {
        match &mut self.order {
            Order::Ranked(m) => {
                if let Some(old) = old {
                    m.remove(&old);
                }
                m.insert(rank, key);
            }
            Order::Recency(q) => {
                q.push_back((rank.1, key));
                if q.len() > 2 * self.entries.len() + 16 {
                    let entries = &self.entries;
                    q.retain(|&(tick, key)| is_current(entries, tick, key));
                }
            }
        }
    }

    /// Removes the entry to evict first from the order (not from `entries`); its key.
    fn pop_victim(&mut self) -> Option<u64> {
        match &mut self.order {
            Order::Ranked(m) => m.pop_first().map(|(_, key)| key),
            Order::Recency(q) => {
                while let Some((tick, key)) = q.pop_front() {
                    if is_current(&self.entries, tick, key) {
                        return Some(key);
                    }
                }
                None
            }
        }
    }

    /// Removes `key`'s entry from every index (an LRU record goes stale).
    fn unlink(&mut self, key: u64) -> Option<Entry<V>> {
        let e = self.entries.remove(&key)?;
        if let Order::Ranked(m) = &mut self.order {
            m.remove(&e.rank);
        }
        if let Some(t) = e.expires {
            self.expiry.remove(&(t, key));
        }
        self.bytes -= e.size;
        Some(e)
    }

    /// Purges every entry whose TTL ran out by `now` (each entry is purged once: amortised
    /// `O(log n)` per operation).
    pub fn purge_expired(&mut self, now: Time) {
        while let Some(&(t, key)) = self.expiry.first() {
            if t > now {
                break;
            }
            self.unlink(key);
            self.stats.expirations += 1;
        }
    }

    /// Looks `key` up at `now`, counting a hit, a negative hit or a miss; a hit is a use (it moves
    /// up in the eviction order). `None`: a miss.
    pub fn get(&mut self, now: Time, key: u64) -> Option<Found<'_, V>> {
        self.purge_expired(now);
        let Some(old) = self.entries.get(&key).map(|e| e.rank) else {
            self.stats.misses += 1;
            return None;
        };
        let rank = self.next_rank(old.0 + 1);
        self.entries.get_mut(&key).expect("present").rank = rank;
        self.rank(key, Some(old), rank);
        let e = self.entries.get(&key).expect("present");
        if e.value.is_some() {
            self.stats.hits += 1;
        } else {
            self.stats.negative_hits += 1;
        }
        Some(Found { value: e.value.as_ref(), expires: e.expires, fetch: e.fetch })
    }

    /// Whether `key` has a live entry at `now`, without counting or using it.
    pub fn contains(&self, now: Time, key: u64) -> bool {
        self.entries.get(&key).is_some_and(|e| e.expires.is_none_or(|t| t > now))
    }

    /// Stores `value` under `key` with the cache's TTL; false when it was not stored (too large).
    pub fn put(&mut self, now: Time, key: u64, value: V, size: u64) -> bool {
        let ttl = self.spec.ttl;
        self.insert(now, key, Item { value: Some(value), size, ttl, fetch: Duration::ZERO, reads: 0 })
    }

    /// Remembers that `key` does not exist, for the negative TTL; false when negative caching is
    /// off (nothing stored).
    pub fn put_absent(&mut self, now: Time, key: u64, size: u64) -> bool {
        let Some(ttl) = self.spec.negative_ttl else { return false };
        self.insert(now, key, Item { value: None, size, ttl: Some(ttl), fetch: Duration::ZERO, reads: 0 })
    }

    /// Stores `item` under `key` (replacing any entry), evicting as the policy says until it fits.
    pub fn insert(&mut self, now: Time, key: u64, item: Item<V>) -> bool {
        self.purge_expired(now);
        let uses = self.unlink(key).map(|e| e.rank.0).unwrap_or(0);
        let fits_alone = match self.spec.capacity {
            Capacity::Entries(n) => n > 0,
            Capacity::Bytes(n) => item.size <= n,
        };
        if !fits_alone {
            self.stats.too_large += 1;
            return false;
        }
        loop {
            let full = match self.spec.capacity {
                Capacity::Entries(n) => self.entries.len() as u64 >= n,
                Capacity::Bytes(n) => self.bytes + item.size > n,
            };
            if !full {
                break;
            }
            let victim = self.pop_victim().expect("a full cache has entries");
            let e = self.entries.remove(&victim).expect("ranked entries are held");
            if let Some(t) = e.expires {
                self.expiry.remove(&(t, victim));
            }
            self.bytes -= e.size;
            self.stats.evictions += 1;
        }
        let rank = self.next_rank(uses + item.reads.max(1));
        let expires = item.ttl.map(|d| now + d);
        if let Some(t) = expires {
            self.expiry.insert((t, key));
        }
        self.bytes += item.size;
        self.entries.insert(key, Entry { value: item.value, size: item.size, expires, fetch: item.fetch, rank });
        self.rank(key, None, rank);
        self.stats.inserts += 1;
        true
    }

    /// Deletes `key`'s entry (an invalidation); true when there was one.
    pub fn remove(&mut self, key: u64) -> bool {
        let found = self.unlink(key).is_some();
        if found {
            self.stats.invalidations += 1;
        }
        found
    }

    /// Keys from the next to be evicted to the last (for tests and reports).
    pub fn eviction_order(&self) -> impl Iterator<Item = u64> + '_ {
        let (ranked, recent) = match &self.order {
            Order::Ranked(m) => (Some(m.values().copied()), None),
            Order::Recency(q) => {
                let current = q.iter().filter(|&&(tick, key)| is_current(&self.entries, tick, key));
                (None, Some(current.map(|&(_, key)| key)))
            }
        };
        ranked.into_iter().flatten().chain(recent.into_iter().flatten())
    }
}

// ---------------------------------------------------------------------------------------------
// The read path.

/// What a write does to the cache, and whether a fetch that a write overtook is stored (see the
/// table in the module docs).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum Mode {
    #[default]
    CacheAside,
    ReadThrough,
    WriteThrough,
    WriteAround,
}

/// XFetch's knob: how early a hot key is refreshed (1.0 is the paper's optimum for an
/// exponential arrival of requests; larger refreshes earlier).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct EarlyRefresh {
    pub beta: f64,
}

impl Default for EarlyRefresh {
    fn default() -> Self {
        EarlyRefresh { beta: 1.0 }
    }
}

/// ```ron
/// (cache: (capacity: Entries(1000), ttl: Some("10s")), mode: ReadThrough, single_flight: true,
///  early_refresh: Some((beta: 1.0)))
/// ```
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ReadPathSpec {
    pub cache: CacheSpec,
    pub mode: Mode,
    /// Concurrent misses of one key wait for one fetch.
    pub single_flight: bool,
    pub early_refresh: Option<EarlyRefresh>,
}

impl ReadPathSpec {
    pub fn validate(&self, path: &str) -> Vec<(String, String)> {
        let mut e = self.cache.validate(&format!("{path}.cache"));
        if let Some(r) = &self.early_refresh {
            if !(r.beta.is_finite() && r.beta > 0.0 && r.beta <= 100.0) {
                e.push((format!("{path}.early_refresh.beta"), format!("must be within (0, 100], got {}", r.beta)));
            }
            if self.cache.ttl.is_none() {
                e.push((
                    format!("{path}.early_refresh"),
                    "refreshes entries before they expire, but cache.ttl is None (nothing expires)".into(),
                ));
            }
        }
        e
    }
}

/// A fetch the read path asked its host for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct FetchId(pub u64);

/// What the host does with a read.
#[derive(Debug, PartialEq)]
pub enum Read<R, V> {
    /// Answered from the cache: the value, or `None` for a remembered "not found".
    Hit(R, Option<V>),
    /// Answered from the cache, and the host must refresh the key now: fetch it and hand the
    /// result to [`ReadPath::fetched`] (no request waits for it).
    HitRefresh(R, Option<V>, FetchId),
    /// A miss: fetch the key and hand the result to [`ReadPath::fetched`], which returns this
    /// request (and every miss that joined it) to answer.
    Fetch(FetchId),
    /// A miss that joined the fetch of the key in flight (single-flight).
    Joined,
}

/// What a fetch brought back.
#[derive(Clone, Debug, PartialEq)]
pub enum Fetched<V> {
    Found {
        value: V,
        size: u64,
    },
    /// The source has no such key (remembered for `negative_ttl`); `size` is the negative
    /// entry's bytes (the key and a marker).
    NotFound {
        size: u64,
    },
    /// The fetch failed or timed out: nothing is stored, the waiters fail.
    Failed,
}

/// Counts of a read path beyond its cache's, summed over a design's nodes in its report.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ReadStats {
    /// Misses that joined a fetch in flight instead of fetching.
    pub coalesced: u64,
    /// Fetches asked for (misses and refreshes).
    pub fetches: u64,
    /// Early refreshes among them.
    pub refreshes: u64,
    pub fetch_failures: u64,
    /// Fetches overtaken by a write and stored anyway (cache-aside's race).
    pub racy_fills: u64,
    /// Fetches overtaken by a write and not stored.
    pub dropped_fills: u64,
    pub writes: u64,
    /// The most fetches of one key in flight at once.
    pub key_fetches_max: u64,
}

impl ReadStats {
    pub fn add(&mut self, o: &ReadStats) {
        self.coalesced += o.coalesced;
        self.fetches += o.fetches;
        self.refreshes += o.refreshes;
        self.fetch_failures += o.fetch_failures;
        self.racy_fills += o.racy_fills;
        self.dropped_fills += o.dropped_fills;
        self.writes += o.writes;
        self.key_fetches_max = self.key_fetches_max.max(o.key_fetches_max);
    }
}

#[derive(Debug)]
struct Flight<R> {
    key: u64,
    waiters: Vec<R>,
    started: Time,
    /// A write of the key was acknowledged while this fetch was in flight.
    overtaken: bool,
}

/// The read path around a [`Cache`] (see the module docs). `R` is what the host keeps for a
/// waiting request (who asked, the request id); `V` the cached value.
#[derive(Debug)]
pub struct ReadPath<R, V> {
    scope: &'static str,
    spec: ReadPathSpec,
    pub cache: Cache<V>,
    flights: BTreeMap<u64, Flight<R>>,
    /// Key -> the fetch new misses join (single-flight only).
    leader: BTreeMap<u64, u64>,
    /// Key -> fetches of it in flight.
    per_key: BTreeMap<u64, u64>,
    /// `(key, fetch)` of every fetch in flight, to find a key's fetches without a scan.
    keyed: BTreeSet<(u64, u64)>,
    next: u64,
    /// The cache's evictions and expirations already counted in the kernel.
    counted: (u64, u64),
    pub stats: ReadStats,
}

impl<R, V: Clone> ReadPath<R, V> {
    /// A read path counting under `scope` (`scope.hits`, ...), with a cold cache.
    pub fn new(scope: &'static str, spec: ReadPathSpec) -> ReadPath<R, V> {
        ReadPath {
            scope,
            cache: Cache::new(spec.cache.clone()),
            spec,
            flights: BTreeMap::new(),
            leader: BTreeMap::new(),
            per_key: BTreeMap::new(),
            keyed: BTreeSet::new(),
            next: 0,
            counted: (0, 0),
            stats: ReadStats::default(),
        }
    }

    pub fn spec(&self) -> &ReadPathSpec {
        &self.spec
    }

    pub fn scope(&self) -> &'static str {
        self.scope
    }

    /// Fetches in flight.
    pub fn fetching(&self) -> usize {
        self.flights.len()
    }

    /// Counts the cache's new evictions and expirations in the kernel.
    fn sync<A: Actor>(&mut self, ctx: &mut Ctx<'_, A>) {
        let s = &self.cache.stats;
        if s.evictions > self.counted.0 {
            ctx.count_in(self.scope, "evictions", s.evictions - self.counted.0);
        }
        if s.expirations > self.counted.1 {
            ctx.count_in(self.scope, "expirations", s.expirations - self.counted.1);
        }
        self.counted = (s.evictions, s.expirations);
    }

    fn start<A: Actor>(&mut self, ctx: &mut Ctx<'_, A>, key: u64, waiters: Vec<R>) -> FetchId {
        let id = self.next;
        self.next += 1;
        let n = self.per_key.entry(key).or_default();
        *n += 1;
        self.stats.key_fetches_max = self.stats.key_fetches_max.max(*n);
        self.stats.fetches += 1;
        ctx.count_in(self.scope, "fetches", 1);
        ctx.level(self.scope, "fetching", 1);
        self.flights.insert(id, Flight { key, waiters, started: ctx.now(), overtaken: false });
        self.keyed.insert((key, id));
        if self.spec.single_flight {
            self.leader.insert(key, id);
        }
        FetchId(id)
    }

    /// XFetch: whether a hit on an entry expiring at `expires`, fetched in `fetch`, refreshes now.
    fn refresh_now<A: Actor>(&self, ctx: &mut Ctx<'_, A>, key: u64, expires: Option<Time>, fetch: Duration) -> bool {
        let (Some(r), Some(expires)) = (&self.spec.early_refresh, expires) else { return false };
        if self.spec.single_flight && self.leader.contains_key(&key) {
            return false;
        }
        let u = 1.0 - ctx.rng().unit(); // (0, 1]
        let gap = fetch.0 as f64 * r.beta * -math::ln(u);
        ctx.now().0 as f64 + gap >= expires.0 as f64
    }

    /// A read of `key` for `req`.
    pub fn read<A: Actor>(&mut self, ctx: &mut Ctx<'_, A>, key: u64, req: R) -> Read<R, V> {
        let now = ctx.now();
        let found = self.cache.get(now, key).map(|f| (f.value.cloned(), f.expires, f.fetch));
        let read = match found {
            Some((value, expires, fetch)) => {
                ctx.count_in(self.scope, if value.is_some() { "hits" } else { "negative_hits" }, 1);
                if self.refresh_now(ctx, key, expires, fetch) {
                    self.stats.refreshes += 1;
                    ctx.count_in(self.scope, "refreshes", 1);
                    let id = self.start(ctx, key, Vec::new());
                    Read::HitRefresh(req, value, id)
                } else {
                    Read::Hit(req, value)
                }
            }
            None => {
                ctx.count_in(self.scope, "misses", 1);
                match self.leader.get(&key).copied() {
                    Some(id) if self.spec.single_flight => {
                        self.flights.get_mut(&id).expect("a leader is in flight").waiters.push(req);
                        self.stats.coalesced += 1;
                        ctx.count_in(self.scope, "coalesced", 1);
                        Read::Joined
                    }
                    _ => Read::Fetch(self.start(ctx, key, vec![req])),
                }
            }
        };
        self.sync(ctx);
        read
    }

    /// A fetch ended: stores its result as the mode says and returns the requests waiting for it
    /// (answer them with `result`). An unknown id returns none.
    pub fn fetched<A: Actor>(&mut self, ctx: &mut Ctx<'_, A>, id: FetchId, result: &Fetched<V>) -> Vec<R> {
        let Some(f) = self.flights.remove(&id.0) else { return Vec::new() };
        self.keyed.remove(&(f.key, id.0));
        if self.leader.get(&f.key) == Some(&id.0) {
            self.leader.remove(&f.key);
        }
        let n = self.per_key.get_mut(&f.key).expect("fetches of a key in flight are counted");
        *n -= 1;
        if *n == 0 {
            self.per_key.remove(&f.key);
        }
        ctx.level(self.scope, "fetching", -1);
        let now = ctx.now();
        let store = match (f.overtaken, self.spec.mode) {
            (false, _) | (true, Mode::WriteAround) => true,
            (true, Mode::CacheAside) => {
                self.stats.racy_fills += 1;
                ctx.count_in(self.scope, "racy_fills", 1);
                true
            }
            (true, Mode::ReadThrough | Mode::WriteThrough) => {
                self.stats.dropped_fills += 1;
                ctx.count_in(self.scope, "dropped_fills", 1);
                false
            }
        };
        let fetch = now.since(f.started);
        let reads = f.waiters.len() as u64;
        match result {
            Fetched::Found { value, size } if store => {
                let ttl = self.spec.cache.ttl;
                self.cache.insert(now, f.key, Item { value: Some(value.clone()), size: *size, ttl, fetch, reads });
            }
            Fetched::NotFound { size } if store => {
                if let Some(ttl) = self.spec.cache.negative_ttl {
                    self.cache.insert(now, f.key, Item { value: None, size: *size, ttl: Some(ttl), fetch, reads });
                }
            }
            Fetched::Failed => {
                self.stats.fetch_failures += 1;
                ctx.count_in(self.scope, "fetch_failures", 1);
            }
            _ => {}
        }
        self.sync(ctx);
        f.waiters
    }

    /// A write of `key` to the source was acknowledged: applies the mode (delete the entry, store
    /// the written value, or nothing) and marks the key's fetches in flight as overtaken.
    pub fn written<A: Actor>(&mut self, ctx: &mut Ctx<'_, A>, key: u64, value: &V, size: u64) {
        self.stats.writes += 1;
        let now = ctx.now();
        match self.spec.mode {
            Mode::WriteAround => return,
            Mode::CacheAside | Mode::ReadThrough => {
                self.cache.remove(key);
            }
            Mode::WriteThrough => {
                let ttl = self.spec.cache.ttl;
                self.cache.insert(
                    now,
                    key,
                    Item { value: Some(value.clone()), size, ttl, fetch: Duration::ZERO, reads: 0 },
                );
            }
        }
        for (_, id) in self.keyed.range((key, 0)..=(key, u64::MAX)) {
            self.flights.get_mut(id).expect("keyed fetches are in flight").overtaken = true;
        }
        self.leader.remove(&key);
        self.sync(ctx);
    }
}

/// The hit ratio of read paths per reporting interval, from their kernel counters: one row per
/// interval `(t_s, ratio of each scope)`, `NaN` where a scope had no lookups. `scopes` pairs a
/// read path's scope with its column name.
pub fn hit_ratio_table(metrics: &Metrics, name: &str, scopes: &[(&str, &str)]) -> Table {
    let series: Vec<[&[u64]; 3]> = scopes
        .iter()
        .map(|(s, _)| ["hits", "negative_hits", "misses"].map(|n| metrics.scoped_counter_series(s, n)))
        .collect();
    let len = series.iter().flat_map(|s| s.iter().map(|v| v.len())).max().unwrap_or(0);
    let at = |v: &[u64], i: usize| v.get(i).copied().unwrap_or(0);
    let rows = (0..len)
        .map(|i| {
            let mut row = vec![i as f64 * metrics.interval.as_secs_f64()];
            for [h, n, m] in &series {
                let hits = at(h, i) + at(n, i);
                let lookups = hits + at(m, i);
                row.push(if lookups == 0 { f64::NAN } else { hits as f64 / lookups as f64 });
            }
            row
        })
        .collect();
    let mut columns = vec!["t_s".to_string()];
    columns.extend(scopes.iter().map(|(_, c)| c.to_string()));
    Table::new(name, &columns, rows).over_time(
        &columns[1..].iter().map(String::as_str).collect::<Vec<_>>(),
        Axis::new("hit ratio", "share").range(0.0, 1.0),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::Bench;
    use sim_core::Effect;

    fn secs(s: u64) -> Time {
        Time(Duration::from_secs(s).0)
    }

    fn spec(eviction: Eviction, capacity: Capacity) -> CacheSpec {
        CacheSpec { eviction, capacity, ttl: None, negative_ttl: None }
    }

    #[test]
    fn lru_evicts_the_least_recently_used() {
        let mut c = Cache::new(spec(Eviction::Lru, Capacity::Entries(3)));
        for k in 1..=3 {
            c.put(Time(0), k, k * 10, 1);
        }
        assert!(c.get(Time(0), 1).is_some()); // 1 is now the most recent: order 2, 3, 1
        c.put(Time(0), 4, 40, 1); // evicts 2
        assert_eq!(c.eviction_order().collect::<Vec<_>>(), [3, 1, 4]);
        assert!(c.get(Time(0), 2).is_none());
        assert_eq!(c.get(Time(0), 1).and_then(|f| f.value.copied()), Some(10));
        // Replacing a key is a use and does not evict.
        c.put(Time(0), 3, 33, 1);
        assert_eq!(c.eviction_order().collect::<Vec<_>>(), [4, 1, 3]);
        assert_eq!((c.len(), c.stats.evictions, c.stats.hits, c.stats.misses), (3, 1, 2, 1));
    }

    /// The queue of uses with its stale records evicts as a plain list of keys in the order of
    /// use does, through expiries, removals, replacements and compactions, by entries and by bytes.
    #[test]
    fn lru_evicts_as_a_list_of_uses_does() {
        for capacity in [Capacity::Entries(8), Capacity::Bytes(40)] {
            let mut rng = sim_core::Prng::new(11, sim_core::Stream::Setup);
            let mut c =
                Cache::new(CacheSpec { ttl: Some(Duration::from_millis(300)), ..spec(Eviction::Lru, capacity) });
            // (key, size, expires), least recently used first.
            let mut list: Vec<(u64, u64, Time)> = Vec::new();
            let mut peak = 0;
            for step in 0..20_000u64 {
                let now = Time(step * 10_000_000);
                list.retain(|&(_, _, t)| t > now);
                c.purge_expired(now);
                let key = rng.below(24);
                let at = list.iter().position(|&(k, _, _)| k == key);
                match rng.below(10) {
                    0..=5 => {
                        let hit = c.get(now, key).is_some();
                        assert_eq!(hit, at.is_some(), "step {step}: get {key}");
                        if let Some(i) = at {
                            let used = list.remove(i);
                            list.push(used);
                        }
                    }
                    6..=8 => {
                        let size = 1 + rng.below(9);
                        c.put(now, key, key, size);
                        if let Some(i) = at {
                            list.remove(i);
                        }
                        let full = |l: &[(u64, u64, Time)]| match capacity {
                            Capacity::Entries(n) => l.len() as u64 >= n,
                            Capacity::Bytes(n) => l.iter().map(|e| e.1).sum::<u64>() + size > n,
                        };
                        while full(&list) {
                            list.remove(0);
                        }
                        list.push((key, size, now + Duration::from_millis(300)));
                    }
                    _ => {
                        assert_eq!(c.remove(key), at.is_some(), "step {step}: remove {key}");
                        if let Some(i) = at {
                            list.remove(i);
                        }
                    }
                }
                let keys: Vec<u64> = list.iter().map(|&(k, _, _)| k).collect();
                assert_eq!(c.eviction_order().collect::<Vec<_>>(), keys, "step {step}");
                assert_eq!(c.bytes(), list.iter().map(|e| e.1).sum::<u64>());
                // The queue is bounded by the entries held, not by the uses made.
                peak = peak.max(c.len());
                let Order::Recency(q) = &c.order else { panic!("an LRU cache keeps a queue of uses") };
                assert!(q.len() <= 2 * peak + 17, "step {step}: {} records, at most {peak} entries", q.len());
            }
            assert!(c.stats.evictions > 1000 && c.stats.expirations > 100, "{:?}", c.stats);
            // A hot key used over and over leaves no trail of stale records either.
            let now = Time(20_000 * 10_000_000);
            c.put(now, 99, 99, 1);
            for _ in 0..1000 {
                assert!(c.get(now, 99).is_some());
            }
            let Order::Recency(q) = &c.order else { unreachable!() };
            assert!(q.len() <= 2 * c.len() + 17, "{} records for {} entries", q.len(), c.len());
        }
    }

    #[test]
    fn lfu_evicts_the_least_frequently_used_then_the_oldest() {
        let mut c = Cache::new(spec(Eviction::Lfu, Capacity::Entries(3)));
        for k in 1..=3 {
            c.put(Time(0), k, k, 1);
        }
        for _ in 0..3 {
            c.get(Time(0), 1);
        }
        c.get(Time(0), 3);
        // Uses: 1 -> 4, 2 -> 1, 3 -> 2. A newcomer evicts 2, then (at one use) is first in line.
        c.put(Time(0), 4, 4, 1);
        assert!(!c.contains(Time(0), 2));
        assert_eq!(c.eviction_order().collect::<Vec<_>>(), [4, 3, 1]);
        c.put(Time(0), 5, 5, 1);
        assert_eq!(c.eviction_order().collect::<Vec<_>>(), [5, 3, 1], "LFU evicts the newcomer 4");
        // Ties in use count go to the least recently used.
        c.get(Time(0), 5);
        assert_eq!(c.eviction_order().collect::<Vec<_>>(), [3, 5, 1]);
    }

    #[test]
    fn byte_capacity_evicts_until_the_newcomer_fits() {
        let mut c = Cache::new(spec(Eviction::Lru, Capacity::Bytes(100)));
        c.put(Time(0), 1, (), 40);
        c.put(Time(0), 2, (), 40);
        c.put(Time(0), 3, (), 20);
        assert_eq!((c.len(), c.bytes()), (3, 100));
        // 50 bytes need two evictions (1 then 2).
        c.put(Time(0), 4, (), 50);
        assert_eq!(c.eviction_order().collect::<Vec<_>>(), [3, 4]);
        assert_eq!((c.bytes(), c.stats.evictions), (70, 2));
        // Larger than the whole cache: refused, nothing evicted.
        assert!(!c.put(Time(0), 5, (), 101));
        assert_eq!((c.len(), c.stats.too_large), (2, 1));
        // Growing an entry in place evicts others, not itself.
        c.put(Time(0), 3, (), 90);
        assert_eq!((c.eviction_order().collect::<Vec<_>>(), c.bytes()), (vec![3], 90));
    }

    #[test]
    fn entries_expire_after_their_ttl() {
        let mut c = Cache::new(CacheSpec { ttl: Some(Duration::from_secs(10)), ..CacheSpec::default() });
        c.put(secs(0), 1, "a", 1);
        c.put(secs(5), 2, "b", 1);
        c.insert(secs(5), 3, Item { value: Some("c"), size: 1, ttl: None, fetch: Duration::ZERO, reads: 0 });
        assert_eq!(c.get(Time(secs(10).0 - 1), 1).map(|f| f.expires), Some(Some(secs(10))));
        assert!(c.get(secs(10), 1).is_none(), "expired at exactly its TTL");
        assert!(c.get(secs(14), 2).is_some());
        assert!(c.get(secs(15), 2).is_none());
        assert!(c.get(secs(1_000), 3).is_some(), "a per-entry TTL of None never expires");
        assert_eq!((c.stats.expirations, c.len()), (2, 1));
    }

    #[test]
    fn not_found_is_remembered_for_the_negative_ttl_only() {
        let spec = CacheSpec {
            ttl: Some(Duration::from_secs(60)),
            negative_ttl: Some(Duration::from_secs(2)),
            ..CacheSpec::default()
        };
        let mut c: Cache<u64> = Cache::new(spec.clone());
        assert!(c.put_absent(secs(0), 7, 16));
        let f = c.get(secs(1), 7).expect("remembered");
        assert_eq!((f.value, f.expires), (None, Some(secs(2))));
        assert!(c.get(secs(2), 7).is_none());
        assert_eq!((c.stats.negative_hits, c.stats.misses, c.stats.expirations), (1, 1, 1));
        // Off: nothing remembered.
        let mut off: Cache<u64> = Cache::new(CacheSpec { negative_ttl: None, ..spec });
        assert!(!off.put_absent(secs(0), 7, 16));
        assert!(off.is_empty());
    }

    #[test]
    fn capacity_zero_is_no_cache() {
        let mut c = Cache::lru(0);
        assert!(!c.put(Time(0), 1, 1u8, 1));
        assert!(c.get(Time(0), 1).is_none());
    }

    // ----- the read path -----

    type T = crate::testing::PartHost<crate::testing::NoMsg, crate::NoTimer>;

    fn path(mode: Mode, single_flight: bool) -> ReadPath<u32, u64> {
        ReadPath::new(
            "c",
            ReadPathSpec {
                cache: CacheSpec {
                    ttl: Some(Duration::from_secs(10)),
                    negative_ttl: Some(Duration::from_secs(1)),
                    ..CacheSpec::default()
                },
                mode,
                single_flight,
                early_refresh: None,
            },
        )
    }

    fn found(v: u64) -> Fetched<u64> {
        Fetched::Found { value: v, size: 8 }
    }

    fn counted(b: &Bench<T>, name: &str) -> u64 {
        b.fx.iter()
            .map(|e| match e {
                Effect::CountIn { scope: "c", name: n, delta } if *n == name => *delta,
                _ => 0,
            })
            .sum()
    }

    #[test]
    fn single_flight_coalesces_concurrent_misses_into_one_fetch() {
        let mut b = Bench::<T>::new();
        let mut p = path(Mode::CacheAside, true);
        let Read::Fetch(id) = b.with(|ctx| p.read(ctx, 5, 0)) else { panic!("the first miss fetches") };
        for r in 1..10 {
            assert_eq!(b.with(|ctx| p.read(ctx, 5, r)), Read::Joined);
        }
        assert_eq!((p.stats.fetches, p.stats.coalesced, p.stats.key_fetches_max), (1, 9, 1));
        b.now = Time(3_000_000);
        let waiters = b.with(|ctx| p.fetched(ctx, id, &found(50)));
        assert_eq!(waiters, (0..10).collect::<Vec<_>>(), "every waiter, once, in arrival order");
        assert_eq!(b.with(|ctx| p.read(ctx, 5, 10)), Read::Hit(10, Some(50)));
        assert_eq!((counted(&b, "misses"), counted(&b, "coalesced"), counted(&b, "hits")), (10, 9, 1));
        // The fetch took 3 ms: early refresh weighs that.
        assert_eq!(p.cache.get(b.now, 5).map(|f| f.fetch), Some(Duration::from_millis(3)));
    }

    /// Under LFU the reads that waited for a fetch are uses of what it stores: a hot key whose
    /// fetch ten reads joined comes back at ten uses, and the next newcomer evicts the key read
    /// once. (Stored at one use, the hot key was the older of two one-use entries and went
    /// first: readpath_early_refresh seed 144, where the hot key expired under its refresh and
    /// was evicted by the next fill.)
    #[test]
    fn under_lfu_the_reads_that_waited_for_a_fetch_are_uses() {
        let mut b = Bench::<T>::new();
        let mut p = path(Mode::ReadThrough, true);
        p.cache =
            Cache::new(CacheSpec { eviction: Eviction::Lfu, capacity: Capacity::Entries(2), ..p.cache.spec.clone() });
        let Read::Fetch(hot) = b.with(|ctx| p.read(ctx, 5, 0)) else { panic!("the first miss fetches") };
        for r in 1..10 {
            assert_eq!(b.with(|ctx| p.read(ctx, 5, r)), Read::Joined);
        }
        assert_eq!(b.with(|ctx| p.fetched(ctx, hot, &found(50))).len(), 10);
        for (key, r) in [(6, 10), (7, 11)] {
            let Read::Fetch(id) = b.with(|ctx| p.read(ctx, key, r)) else { panic!("a miss of {key}") };
            assert_eq!(b.with(|ctx| p.fetched(ctx, id, &found(60))), [r]);
        }
        assert!(p.cache.contains(b.now, 5), "the hot key stays");
        assert!(!p.cache.contains(b.now, 6) && p.cache.contains(b.now, 7), "the key read once goes");
        assert_eq!(p.cache.eviction_order().collect::<Vec<_>>(), [7, 5]);
    }

    #[test]
    fn without_single_flight_every_miss_fetches() {
        let mut b = Bench::<T>::new();
        let mut p = path(Mode::CacheAside, false);
        let ids: Vec<FetchId> = (0..10)
            .map(|r| match b.with(|ctx| p.read(ctx, 5, r)) {
                Read::Fetch(id) => id,
                other => panic!("{other:?}"),
            })
            .collect();
        assert_eq!((p.stats.fetches, p.stats.key_fetches_max, p.fetching()), (10, 10, 10));
        for (r, id) in ids.into_iter().enumerate() {
            assert_eq!(b.with(|ctx| p.fetched(ctx, id, &found(50))), [r as u32]);
        }
        assert_eq!(p.fetching(), 0);
    }

    #[test]
    fn a_failed_fetch_fails_its_waiters_and_stores_nothing() {
        let mut b = Bench::<T>::new();
        let mut p = path(Mode::ReadThrough, true);
        let Read::Fetch(id) = b.with(|ctx| p.read(ctx, 1, 0)) else { panic!() };
        b.with(|ctx| p.read(ctx, 1, 1));
        assert_eq!(b.with(|ctx| p.fetched(ctx, id, &Fetched::Failed)), [0, 1]);
        assert!(matches!(b.with(|ctx| p.read(ctx, 1, 2)), Read::Fetch(_)), "the next miss fetches anew");
        assert_eq!(p.stats.fetch_failures, 1);
    }

    #[test]
    fn not_found_is_cached_negatively() {
        let mut b = Bench::<T>::new();
        let mut p = path(Mode::CacheAside, true);
        let Read::Fetch(id) = b.with(|ctx| p.read(ctx, 9, 0)) else { panic!() };
        b.with(|ctx| p.fetched(ctx, id, &Fetched::NotFound { size: 8 }));
        assert_eq!(b.with(|ctx| p.read(ctx, 9, 1)), Read::Hit(1, None));
        b.now = secs(1);
        assert!(matches!(b.with(|ctx| p.read(ctx, 9, 2)), Read::Fetch(_)), "the negative TTL is 1 s");
    }

    #[test]
    fn a_hot_key_expires_and_one_fetch_refills_it() {
        let mut b = Bench::<T>::new();
        let mut p = path(Mode::ReadThrough, true);
        let Read::Fetch(id) = b.with(|ctx| p.read(ctx, 1, 0)) else { panic!() };
        b.with(|ctx| p.fetched(ctx, id, &found(1)));
        b.now = secs(10);
        let Read::Fetch(id) = b.with(|ctx| p.read(ctx, 1, 1)) else { panic!("expired: a miss") };
        assert_eq!(b.with(|ctx| p.read(ctx, 1, 2)), Read::Joined);
        assert_eq!(b.with(|ctx| p.fetched(ctx, id, &found(2))), [1, 2]);
        assert_eq!(counted(&b, "expirations"), 1);
    }

    /// One read every 10 ms of a hot key for 60 s, fetches taking 100 ms, a 10 s TTL, single-flight:
    /// `(reads that missed, times of the early refreshes)`.
    fn hot_key_reads(seed: u64, early_refresh: Option<EarlyRefresh>) -> (u32, Vec<Time>) {
        let mut b = Bench::<T>::new();
        b.rng = sim_core::Prng::new(seed, sim_core::Stream::Setup);
        let mut p = path(Mode::ReadThrough, true);
        p.spec.early_refresh = early_refresh;
        let fetch = Duration::from_millis(100);
        let mut pending: Vec<(Time, FetchId)> = Vec::new();
        let (mut misses, mut refreshes) = (0, Vec::new());
        for i in 0..6_000u32 {
            b.now = Time(Duration::from_millis(10).0 * i as u64);
            let due: Vec<FetchId> = pending.iter().filter(|(t, _)| *t <= b.now).map(|p| p.1).collect();
            pending.retain(|(t, _)| *t > b.now);
            for id in due {
                b.with(|ctx| p.fetched(ctx, id, &found(7)));
            }
            match b.with(|ctx| p.read(ctx, 1, i)) {
                Read::Fetch(id) => {
                    misses += 1;
                    pending.push((b.now + fetch, id));
                }
                Read::HitRefresh(_, _, id) => {
                    refreshes.push(b.now);
                    pending.push((b.now + fetch, id));
                }
                Read::Joined => misses += 1,
                Read::Hit(..) => {}
            }
        }
        assert_eq!(p.stats.refreshes, refreshes.len() as u64);
        (misses, refreshes)
    }

    /// XFetch: a hot key is refreshed by one request shortly before it expires, so reads stop
    /// missing it after the first fill; without early refresh every expiry costs a fetch's worth of
    /// waiting reads. Over 20 seeds, because the refresh time is random.
    #[test]
    fn early_refresh_renews_a_hot_key_before_it_expires() {
        let (mut with, mut without) = (0, 0);
        for seed in 1..=20 {
            let (misses, refreshes) = hot_key_reads(seed, Some(EarlyRefresh::default()));
            // The cold start's 10 misses (one fetch, 9 joined), then at most a late refresh's few.
            assert!((10..=15).contains(&misses), "seed {seed}: {misses} misses, refreshes {refreshes:?}");
            with += misses - 10;
            // About one refresh per TTL, the first a few fetch times before the expiry at 10.1 s.
            assert!((5..=6).contains(&refreshes.len()), "seed {seed}: {refreshes:?}");
            let first = refreshes[0].0 as f64 / 1e9;
            assert!((9.3..10.1).contains(&first), "seed {seed}: refreshed at {first} s");
            let (misses, refreshes) = hot_key_reads(seed, None);
            assert!(refreshes.is_empty());
            without += misses - 10;
        }
        assert_eq!(without, 20 * 50, "10 waiting reads at each of 5 expiries");
        assert!(with <= 10, "misses after the cold start with early refresh, 20 seeds: {with}");
    }

    #[test]
    fn writes_follow_the_mode() {
        // (mode, what a read after the write sees, whether the overtaken fetch is stored)
        let cases = [
            (Mode::CacheAside, None, true),
            (Mode::ReadThrough, None, false),
            (Mode::WriteThrough, Some(2), false),
            (Mode::WriteAround, Some(1), true),
        ];
        for (mode, after_write, racy_stored) in cases {
            let mut b = Bench::<T>::new();
            let mut p = path(mode, true);
            let Read::Fetch(id) = b.with(|ctx| p.read(ctx, 1, 0)) else { panic!() };
            b.with(|ctx| p.fetched(ctx, id, &found(1)));
            b.with(|ctx| p.written(ctx, 1, &2, 8));
            let seen = match b.with(|ctx| p.read(ctx, 1, 1)) {
                Read::Hit(_, v) => v,
                Read::Fetch(id) => {
                    b.with(|ctx| p.fetched(ctx, id, &found(2)));
                    None
                }
                other => panic!("{other:?}"),
            };
            assert_eq!(seen, after_write, "{mode:?}: a read after the write");
            // A fetch in flight when a write is acknowledged (it may carry the old row).
            p.cache.remove(1);
            let Read::Fetch(id) = b.with(|ctx| p.read(ctx, 1, 2)) else { panic!() };
            b.with(|ctx| p.written(ctx, 1, &3, 8));
            if mode != Mode::WriteAround {
                assert!(matches!(b.with(|ctx| p.read(ctx, 1, 3)), Read::Fetch(_) | Read::Hit(3, Some(3))));
            }
            b.with(|ctx| p.fetched(ctx, id, &found(1)));
            let stored_old = p.cache.get(b.now, 1).and_then(|f| f.value.copied()) == Some(1);
            assert_eq!(stored_old, racy_stored, "{mode:?}: the overtaken fetch's old value stored");
            let expect = |m: Mode| (mode == m) as u64;
            assert_eq!(p.stats.racy_fills, expect(Mode::CacheAside), "{mode:?}");
            assert_eq!(p.stats.dropped_fills, expect(Mode::ReadThrough) + expect(Mode::WriteThrough), "{mode:?}");
        }
    }

    #[test]
    fn the_hit_ratio_table_divides_per_interval() {
        let mut m = Metrics::new(&["read"], Duration::from_secs(1));
        let mut count = |name: &'static str, at: u64, n: u64| {
            let c = m.scoped_counters.get_mut("c", name);
            c.per_interval.resize(3, 0);
            c.per_interval[at as usize] += n;
        };
        count("hits", 0, 1);
        count("misses", 0, 3);
        count("hits", 2, 8);
        count("negative_hits", 2, 1);
        count("misses", 2, 1);
        let t = hit_ratio_table(&m, "hit ratio", &[("c", "edge")]);
        assert_eq!(t.columns, ["t_s", "edge"]);
        assert_eq!(t.rows[0], [0.0, 0.25]);
        assert!(t.rows[1][1].is_nan(), "no lookups in the second interval");
        assert_eq!(t.rows[2], [2.0, 0.9]);
    }
}
