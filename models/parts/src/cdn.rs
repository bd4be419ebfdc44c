//! A content delivery network: points of presence by zone, an optional origin shield, an origin.
//!
//! Viewers (clients) fetch objects (video segments, images, files: a numbered catalog with a size
//! each) from a point of presence (PoP) in their own zone. Each PoP server is a [`CacheTier`]: a
//! [`ReadPath`] over a byte-capacity cache (read-through: a miss fetches the object upstream,
//! stores it and answers). Without a shield a PoP fetches from the origin directly, so each PoP
//! misses, and loads the origin, on its own: `k` PoPs cost the origin up to `k` fetches per object
//! per TTL. With an origin shield, a mid-tier cache every PoP goes through (a `CacheTier` too, in
//! the origin's zone), the PoPs' misses meet at one cache and the origin sees about one fetch per
//! object per TTL. The origin servers ([`Origin`]) are a [`Pool`]: a concurrency limit and a
//! service time per request. Request coalescing (`single_flight`) works at each tier on its own:
//! a PoP sends one fetch for an object however many viewers miss it, and the shield one for all
//! PoPs.
//!
//! ## Layout
//!
//! [`Layout`] places the roles on a zoned topology: in the origin zone, in server id order, the
//! shield (when there is one), then `origins` origin servers, then that zone's PoP servers; in
//! every other zone every server is a PoP server. Every zone needs a PoP server. A viewer asks its
//! zone's PoP servers (by consistent hashing on the object, so a zone's PoPs split the catalog);
//! a PoP asks the shield, or the origins (by consistent hashing); the shield asks the origins.
//!
//! ## Knobs
//!
//! ```ron
//! cdn: (
//!     origin_zone: Some("us-east"),
//!     origins: 1,
//!     edge: (cache: (capacity: Bytes(2000000000), ttl: Some("60s")), single_flight: true),
//!     shield: Some((cache: (capacity: Bytes(20000000000), ttl: Some("60s")), single_flight: true)),
//!     origin: (concurrency: 64, queue: 10000, service: LogNormal(median: "30ms", sigma: 0.5)),
//!     catalog: (objects: 100000, size_min: 200000, size_max: 2000000),
//!     fetch: (timeout: "2s", retries: 1),
//! )
//! ```
//!
//! ## Measured
//!
//! Per tier (scopes `edge` and `shield`): the read path's counters (`edge.hits`, `edge.misses`,
//! `edge.coalesced`, `edge.fetches`, ..., per interval, so the hit ratio per tier plots over time)
//! and [`TierStats`] (requests, bytes served from the cache and after a fetch: the byte hit
//! ratio); at the origin, `origin.requests` (per interval: the origin load over time) and the
//! pool's counters. [`CdnStats`] sums them over a run's nodes.
//!
//! ## Invariants and failure modes
//!
//! Every request a tier accepts is answered once: from the cache, or when the fetch it waits for
//! ends (failed fetches fail their waiters). An object larger than a tier's cache passes through
//! uncached. A crashed PoP comes back cold; its viewers' requests fail until then (they are not
//! rerouted to another zone). Without a shield the origin load grows with the number of PoPs; a
//! cold start (or a purge) sends the whole working set to the origin at once.

use crate::balance::{HealthSpec, Policy};
use crate::cache::{Fetched, Read, ReadPath, ReadPathSpec, ReadStats};
use crate::calls::{Answer, CallOutcome, CallPolicy, CallTimer, Calls, Done, ReqId, ServiceId};
use crate::pool::{Admit, Pool, PoolSpec, PoolTimer};
use serde::{Deserialize, Serialize};
use sim_core::{Actor, Ctx, Message, NodeId, Topology};

/// The catalog: objects `0..objects`, each of a size between `size_min` and `size_max` bytes
/// (fixed per object, a hash of its number).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Catalog {
    pub objects: u64,
    pub size_min: u64,
    pub size_max: u64,
}

impl Default for Catalog {
    fn default() -> Self {
        Catalog { objects: 10_000, size_min: 100_000, size_max: 1_000_000 }
    }
}

impl Catalog {
    /// The object's size, or `None` when it is not in the catalog.
    pub fn size(&self, object: u64) -> Option<u64> {
        (object < self.objects)
            .then(|| self.size_min + sim_core::rng::mix64(object ^ 0xCD17) % (self.size_max - self.size_min + 1))
    }
}

/// ```ron
/// (origin_zone: Some("us"), edge: (cache: (capacity: Bytes(1000000000), ttl: Some("60s"))),
///  shield: None, catalog: (objects: 5000))
/// ```
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CdnSpec {
    /// The zone of the origin and the shield (`None`: the first zone).
    pub origin_zone: Option<String>,
    /// Origin servers.
    pub origins: u32,
    /// Each PoP server's read path (reads only: the mode does not matter).
    pub edge: ReadPathSpec,
    /// The origin shield's read path, if there is one.
    pub shield: Option<ReadPathSpec>,
    /// Each origin server's concurrency, queue and time per request.
    pub origin: PoolSpec,
    pub catalog: Catalog,
    /// How a PoP or the shield fetches from upstream.
    pub fetch: CallPolicy,
}

impl Default for CdnSpec {
    fn default() -> Self {
        CdnSpec {
            origin_zone: None,
            origins: 1,
            edge: ReadPathSpec::default(),
            shield: None,
            origin: PoolSpec { concurrency: 64, ..PoolSpec::default() },
            catalog: Catalog::default(),
            fetch: CallPolicy::default(),
        }
    }
}

impl CdnSpec {
    pub fn validate(&self, path: &str, topo: &Topology) -> Vec<(String, String)> {
        let mut e = self.edge.validate(&format!("{path}.edge"));
        if let Some(s) = &self.shield {
            e.extend(s.validate(&format!("{path}.shield")));
        }
        e.extend(self.origin.validate(&format!("{path}.origin")));
        e.extend(self.fetch.validate(&format!("{path}.fetch")));
        let c = &self.catalog;
        if c.objects == 0 || c.size_min > c.size_max || c.size_max > 1 << 40 {
            e.push((
                format!("{path}.catalog"),
                format!(
                    "needs objects >= 1 and size_min <= size_max <= 1 TiB, got {} objects of {}..{} bytes",
                    c.objects, c.size_min, c.size_max
                ),
            ));
        }
        if self.origins == 0 {
            e.push((format!("{path}.origins"), "must be at least 1".into()));
        }
        if let Err(le) = Layout::new(topo, self) {
            e.extend(le.into_iter().map(|(f, m)| (format!("{path}.{f}"), m)));
        }
        e
    }
}

/// Where each role runs (see the module docs).
#[derive(Clone, Debug)]
pub struct Layout {
    /// PoP servers by zone index.
    pub pops: Vec<Vec<NodeId>>,
    pub shield: Option<NodeId>,
    pub origins: Vec<NodeId>,
}

/// A server's role.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    Pop { zone: u16 },
    Shield,
    Origin,
}

impl Layout {
    /// The layout of `spec` on `topo`; `(field, message)` errors when it does not fit.
    pub fn new(topo: &Topology, spec: &CdnSpec) -> Result<Layout, Vec<(String, String)>> {
        let zone = match &spec.origin_zone {
            None => 0,
            Some(name) => topo.zone_index(name).ok_or_else(|| {
                vec![(
                    "origin_zone".to_string(),
                    format!("no zone `{name}` in the topology (zones: {})", topo.zone_names.join(", ")),
                )]
            })?,
        };
        let mut pops = vec![Vec::new(); topo.zone_names.len()];
        let (mut shield, mut origins) = (None, Vec::new());
        let mut back_room = spec.shield.is_some() as u32 + spec.origins;
        for &n in &topo.servers {
            let z = topo.zone_of(n);
            if z == zone && back_room > 0 {
                if shield.is_none() && spec.shield.is_some() {
                    shield = Some(n);
                } else {
                    origins.push(n);
                }
                back_room -= 1;
            } else {
                pops[z as usize].push(n);
            }
        }
        let mut e = Vec::new();
        if back_room > 0 {
            e.push((
                "origins".to_string(),
                format!(
                    "zone `{}` has too few servers for the shield and {} origin servers",
                    topo.zone_names[zone as usize], spec.origins
                ),
            ));
        }
        for (z, p) in pops.iter().enumerate() {
            if p.is_empty() && back_room == 0 {
                e.push((
                    "edge".to_string(),
                    format!("zone `{}` has no server left for a PoP (its viewers need one)", topo.zone_names[z]),
                ));
            }
        }
        if e.is_empty() { Ok(Layout { pops, shield, origins }) } else { Err(e) }
    }

    /// The role of server `n` (`None` for clients).
    pub fn role(&self, n: NodeId) -> Option<Role> {
        if self.shield == Some(n) {
            return Some(Role::Shield);
        }
        if self.origins.contains(&n) {
            return Some(Role::Origin);
        }
        self.pops.iter().position(|p| p.contains(&n)).map(|z| Role::Pop { zone: z as u16 })
    }

    /// Where a PoP fetches from: the shield, or the origins.
    pub fn pop_upstream(&self) -> Vec<NodeId> {
        match self.shield {
            Some(s) => vec![s],
            None => self.origins.clone(),
        }
    }
}

/// What the CDN's nodes send each other.
#[derive(Clone, Debug)]
pub enum Msg {
    Get {
        req: ReqId,
        object: u64,
    },
    /// `size`: the object's bytes when found (`None`: not found, or an error).
    Object {
        req: ReqId,
        answer: Answer,
        size: Option<u64>,
    },
}

/// Bytes of a request, and of a response's headers.
const HEADER_BYTES: u64 = 300;

impl Message for Msg {
    fn kind(&self) -> &'static str {
        match self {
            Msg::Get { .. } => "cdn_get",
            Msg::Object { .. } => "cdn_object",
        }
    }
    fn size_bytes(&self) -> u64 {
        match self {
            Msg::Get { .. } => HEADER_BYTES,
            Msg::Object { size, .. } => HEADER_BYTES + size.unwrap_or(0),
        }
    }
}

/// Who waits for an object.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Waiter {
    from: NodeId,
    req: ReqId,
}

fn reply<A: Actor<Msg: From<Msg>>>(ctx: &mut Ctx<'_, A>, to: Waiter, answer: Answer, size: Option<u64>) {
    crate::send(ctx, to.from, Msg::Object { req: to.req, answer, size });
}

/// Requests a tier served, and their bytes, summed over a tier's nodes in a report.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TierStats {
    pub requests: u64,
    /// Bytes answered from the cache.
    pub bytes_hit: u64,
    /// Bytes answered after a fetch upstream.
    pub bytes_fetched: u64,
}

impl TierStats {
    pub fn add(&mut self, o: &TierStats) {
        self.requests += o.requests;
        self.bytes_hit += o.bytes_hit;
        self.bytes_fetched += o.bytes_fetched;
    }

    /// Bytes served from the cache over bytes served; 0 when none.
    pub fn byte_hit_ratio(&self) -> f64 {
        let n = self.bytes_hit + self.bytes_fetched;
        if n == 0 { 0.0 } else { self.bytes_hit as f64 / n as f64 }
    }
}

/// A caching tier's server: a PoP, or the origin shield.
#[derive(Debug)]
pub struct CacheTier {
    /// The object's size is the cached value.
    pub path: ReadPath<Waiter, u64>,
    calls: Calls<Msg, crate::cache::FetchId>,
    up: ServiceId,
    pub stats: TierStats,
}

impl CacheTier {
    /// A tier counting under `scope` (`"edge"`, `"shield"`), fetching from `upstream` by
    /// consistent hashing on the object.
    pub fn new(scope: &'static str, spec: ReadPathSpec, upstream: &[NodeId], fetch: CallPolicy) -> CacheTier {
        let mut calls = Calls::new();
        let ring = Policy::ConsistentHash { vnodes: 64 };
        let up = calls.add("cdn_fetch", upstream, fetch, ring, HealthSpec::default());
        CacheTier { path: ReadPath::new(scope, spec), calls, up, stats: TierStats::default() }
    }

    fn fetch<A: crate::Host<Msg, CallTimer>>(&mut self, ctx: &mut Ctx<'_, A>, id: crate::cache::FetchId, object: u64) {
        if let Err(done) = self.calls.call(ctx, self.up, object, |req| Msg::Get { req, object }, id) {
            self.landed(ctx, done, None);
        }
    }

    /// A request from downstream, or an answer from upstream.
    pub fn on_msg<A: crate::Host<Msg, CallTimer>>(&mut self, ctx: &mut Ctx<'_, A>, from: NodeId, msg: Msg) {
        match msg {
            Msg::Get { req, object } => {
                self.stats.requests += 1;
                match self.path.read(ctx, object, Waiter { from, req }) {
                    Read::Hit(to, size) => {
                        self.stats.bytes_hit += size.unwrap_or(0);
                        reply(ctx, to, Answer::Ok, size);
                    }
                    Read::HitRefresh(to, size, id) => {
                        self.stats.bytes_hit += size.unwrap_or(0);
                        reply(ctx, to, Answer::Ok, size);
                        self.fetch(ctx, id, object);
                    }
                    Read::Fetch(id) => self.fetch(ctx, id, object),
                    Read::Joined => {}
                }
            }
            Msg::Object { req, answer, size } => {
                if let Some(done) = self.calls.reply(ctx, req, answer) {
                    self.landed(ctx, done, size);
                }
            }
        }
    }

    pub fn on_timer<A: crate::Host<Msg, CallTimer>>(&mut self, ctx: &mut Ctx<'_, A>, t: CallTimer) {
        if let Some(done) = self.calls.on_timer(ctx, t) {
            self.landed(ctx, done, None);
        }
    }

    fn landed<A: crate::Host<Msg, CallTimer>>(
        &mut self,
        ctx: &mut Ctx<'_, A>,
        done: Done<crate::cache::FetchId>,
        size: Option<u64>,
    ) {
        let ok = done.outcome == CallOutcome::Ok;
        let result = match (ok, size) {
            (true, Some(size)) => Fetched::Found { value: size, size },
            (true, None) => Fetched::NotFound { size: HEADER_BYTES },
            (false, _) => Fetched::Failed,
        };
        let answer = if ok { Answer::Ok } else { Answer::Retryable };
        for to in self.path.fetched(ctx, done.data, &result) {
            self.stats.bytes_fetched += size.unwrap_or(0);
            reply(ctx, to, answer, size);
        }
    }
}

/// An origin server: serves any object of the catalog after its pool's service time.
#[derive(Debug)]
pub struct Origin {
    pub pool: Pool<(Waiter, u64)>,
    catalog: Catalog,
}

impl Origin {
    /// Counts `origin.requests` (and the pool's counters under `origin`).
    pub fn new(spec: PoolSpec, catalog: Catalog) -> Origin {
        Origin { pool: Pool::new("origin", spec), catalog }
    }

    pub fn on_msg<A: crate::Host<Msg, PoolTimer>>(&mut self, ctx: &mut Ctx<'_, A>, from: NodeId, msg: Msg) {
        if let Msg::Get { req, object } = msg {
            ctx.count_in("origin", "requests", 1);
            match self.pool.submit(ctx, (Waiter { from, req }, object)) {
                Admit::Started | Admit::Queued => {}
                Admit::Rejected((to, _)) | Admit::Dropped((to, _)) => reply(ctx, to, Answer::Retryable, None),
            }
        }
    }

    pub fn on_timer<A: crate::Host<Msg, PoolTimer>>(&mut self, ctx: &mut Ctx<'_, A>, t: PoolTimer) {
        if let Some((to, object)) = self.pool.on_timer(ctx, t) {
            reply(ctx, to, Answer::Ok, self.catalog.size(object));
        }
        for (to, _) in self.pool.take_shed() {
            reply(ctx, to, Answer::Retryable, None);
        }
    }
}

/// A viewer: asks its zone's PoPs for objects. `T` is what the host keeps per request.
#[derive(Debug)]
pub struct Viewer<T> {
    calls: Calls<Msg, T>,
    pop: ServiceId,
}

/// A viewer's finished request: the call's end, and the object's size when it came.
pub type Got<T> = (Done<T>, Option<u64>);

impl<T> Viewer<T> {
    pub fn new(pops: &[NodeId], call: CallPolicy) -> Viewer<T> {
        let mut calls = Calls::new();
        let ring = Policy::ConsistentHash { vnodes: 64 };
        let pop = calls.add("viewer_calls", pops, call, ring, HealthSpec::default());
        Viewer { calls, pop }
    }

    /// Requests `object`; `Some` when the request ended at once (no PoP reachable).
    pub fn get<A: crate::Host<Msg, CallTimer>>(
        &mut self,
        ctx: &mut Ctx<'_, A>,
        object: u64,
        data: T,
    ) -> Option<Got<T>> {
        self.calls.call(ctx, self.pop, object, |req| Msg::Get { req, object }, data).err().map(|d| (d, None))
    }

    pub fn on_msg<A: crate::Host<Msg, CallTimer>>(&mut self, ctx: &mut Ctx<'_, A>, msg: Msg) -> Option<Got<T>> {
        let Msg::Object { req, answer, size } = msg else { return None };
        self.calls.reply(ctx, req, answer).map(|d| (d, size))
    }

    pub fn on_timer<A: crate::Host<Msg, CallTimer>>(&mut self, ctx: &mut Ctx<'_, A>, t: CallTimer) -> Option<Got<T>> {
        self.calls.on_timer(ctx, t).map(|d| (d, None))
    }
}

/// A run's CDN, summed over its nodes.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct CdnStats {
    pub edge: TierStats,
    pub edge_cache: crate::cache::CacheStats,
    pub edge_path: ReadStats,
    pub shield: TierStats,
    pub shield_cache: crate::cache::CacheStats,
    pub shield_path: ReadStats,
    /// Requests that reached the origin servers.
    pub origin_requests: u64,
}

impl CdnStats {
    pub fn add_edge(&mut self, t: &CacheTier) {
        self.edge.add(&t.stats);
        self.edge_cache.add(&t.path.cache.stats);
        self.edge_path.add(&t.path.stats);
    }

    pub fn add_shield(&mut self, t: &CacheTier) {
        self.shield.add(&t.stats);
        self.shield_cache.add(&t.path.cache.stats);
        self.shield_path.add(&t.path.stats);
    }

    pub fn add_origin(&mut self, o: &Origin) {
        self.origin_requests += o.pool.stats.arrivals;
    }

    /// Share of the viewers' requests the origin did not see.
    pub fn offload(&self) -> f64 {
        if self.edge.requests == 0 { 0.0 } else { 1.0 - self.origin_requests as f64 / self.edge.requests as f64 }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cache::{CacheSpec, Capacity};
    use crate::testing::{Bench, PartHost};
    use sim_core::{Duration, Effect, Time, TopologySpec};

    crate::wire! { enum TMsg { Cdn(Msg) } }
    crate::wire! { timers enum TTimer { Call(CallTimer), Pool(PoolTimer) } }
    type T = PartHost<TMsg, TTimer>;

    fn topo(zones: &[(&str, u32)]) -> Topology {
        let spec = TopologySpec {
            servers: zones.iter().map(|z| z.1).sum(),
            clients: zones.len() as u32,
            zones: zones.iter().map(|(n, k)| (n.to_string(), *k)).collect(),
        };
        Topology::from_spec(&spec).expect("a valid topology")
    }

    fn shielded() -> CdnSpec {
        CdnSpec { origin_zone: Some("us".into()), shield: Some(ReadPathSpec::default()), ..CdnSpec::default() }
    }

    #[test]
    fn the_layout_puts_shield_and_origins_first_in_the_origin_zone() {
        let t = topo(&[("eu", 2), ("us", 3)]);
        let l = Layout::new(&t, &shielded()).unwrap();
        assert_eq!(l.shield, Some(NodeId(2)));
        assert_eq!(l.origins, [NodeId(3)]);
        assert_eq!(l.pops, [vec![NodeId(0), NodeId(1)], vec![NodeId(4)]]);
        assert_eq!(l.pop_upstream(), [NodeId(2)]);
        assert_eq!(l.role(NodeId(4)), Some(Role::Pop { zone: 1 }));
        let no_shield = CdnSpec { shield: None, ..shielded() };
        let l = Layout::new(&t, &no_shield).unwrap();
        assert_eq!((l.shield, l.pop_upstream()), (None, vec![NodeId(2)]));
        // The origin zone needs a PoP besides the shield and the origin.
        let e = Layout::new(&topo(&[("eu", 1), ("us", 2)]), &shielded()).unwrap_err();
        assert!(e[0].1.contains("no server left for a PoP"), "{e:?}");
        let e = Layout::new(&t, &CdnSpec { origin_zone: Some("mars".into()), ..shielded() }).unwrap_err();
        assert_eq!(e[0].0, "origin_zone");
    }

    #[test]
    fn catalog_sizes_are_fixed_per_object_and_within_bounds() {
        let c = Catalog { objects: 1000, size_min: 10, size_max: 20 };
        assert!((0..1000).all(|o| c.size(o).is_some_and(|s| (10..=20).contains(&s))));
        assert_eq!(c.size(7), c.size(7));
        assert_eq!(c.size(1000), None);
    }

    /// Sends recorded since the last look: `(to, message)`.
    fn sent(b: &mut Bench<T>) -> Vec<(NodeId, Msg)> {
        b.drain()
            .1
            .into_iter()
            .filter_map(|e| match e {
                Effect::Send { to, msg: TMsg::Cdn(m) } => Some((to, m)),
                _ => None,
            })
            .collect()
    }

    /// A PoP coalesces its viewers' misses into one fetch upstream, answers them all with the
    /// object, then serves it from its cache.
    #[test]
    fn a_pop_fetches_once_for_many_viewers_then_hits() {
        let mut b = Bench::<T>::new();
        let spec = ReadPathSpec {
            cache: CacheSpec {
                capacity: Capacity::Bytes(10_000),
                ttl: Some(Duration::from_secs(60)),
                ..CacheSpec::default()
            },
            single_flight: true,
            ..ReadPathSpec::default()
        };
        let mut pop = CacheTier::new("edge", spec, &[NodeId(7)], CallPolicy::default());
        for v in 0..3 {
            b.with(|ctx| pop.on_msg(ctx, NodeId(100 + v), Msg::Get { req: ReqId(v as u64), object: 5 }));
        }
        let out = sent(&mut b);
        assert_eq!(out.len(), 1, "one fetch for three viewers: {out:?}");
        let (to, Msg::Get { req, object: 5 }) = out[0] else { panic!("{out:?}") };
        assert_eq!(to, NodeId(7));
        b.now = Time(40_000_000);
        b.with(|ctx| pop.on_msg(ctx, to, Msg::Object { req, answer: Answer::Ok, size: Some(4_000) }));
        let out = sent(&mut b);
        let viewers: Vec<NodeId> = out.iter().map(|(n, _)| *n).collect();
        assert_eq!(viewers, [NodeId(100), NodeId(101), NodeId(102)]);
        assert!(out.iter().all(|(_, m)| matches!(m, Msg::Object { answer: Answer::Ok, size: Some(4_000), .. })));
        assert_eq!(out[0].1.size_bytes(), 4_300, "the object travels with its bytes");
        b.with(|ctx| pop.on_msg(ctx, NodeId(103), Msg::Get { req: ReqId(9), object: 5 }));
        assert!(matches!(sent(&mut b)[..], [(NodeId(103), Msg::Object { size: Some(4_000), .. })]));
        assert_eq!(pop.stats, TierStats { requests: 4, bytes_hit: 4_000, bytes_fetched: 12_000 });
        assert_eq!(pop.stats.byte_hit_ratio(), 0.25);
        // An object larger than the whole cache passes through uncached.
        b.with(|ctx| pop.on_msg(ctx, NodeId(100), Msg::Get { req: ReqId(10), object: 6 }));
        let Msg::Get { req, .. } = sent(&mut b)[0].1 else { panic!() };
        b.with(|ctx| pop.on_msg(ctx, NodeId(7), Msg::Object { req, answer: Answer::Ok, size: Some(20_000) }));
        sent(&mut b);
        b.with(|ctx| pop.on_msg(ctx, NodeId(100), Msg::Get { req: ReqId(11), object: 6 }));
        assert!(matches!(sent(&mut b)[..], [(NodeId(7), Msg::Get { object: 6, .. })]), "fetched again");
    }

    #[test]
    fn a_fetch_that_times_out_fails_every_waiter() {
        let mut b = Bench::<T>::new();
        let spec = ReadPathSpec { single_flight: true, ..ReadPathSpec::default() };
        let mut pop = CacheTier::new("edge", spec, &[NodeId(7)], CallPolicy::default());
        for v in 0..2 {
            b.with(|ctx| pop.on_msg(ctx, NodeId(100 + v), Msg::Get { req: ReqId(v as u64), object: 1 }));
        }
        let (timers, _) = b.drain();
        let TTimer::Call(t) = timers[0].1 else { panic!("{timers:?}") };
        b.now = Time(timers[0].0.0);
        b.with(|ctx| pop.on_timer(ctx, t));
        let out = sent(&mut b);
        assert_eq!(out.len(), 2);
        assert!(out.iter().all(|(_, m)| matches!(m, Msg::Object { answer: Answer::Retryable, size: None, .. })));
        assert_eq!(pop.path.stats.fetch_failures, 1);
        assert!(pop.path.cache.is_empty());
    }

    #[test]
    fn the_origin_serves_catalog_objects_and_counts_its_load() {
        let mut b = Bench::<T>::new();
        let catalog = Catalog { objects: 10, size_min: 5, size_max: 5 };
        let mut o = Origin::new(PoolSpec { concurrency: 1, queue: 0, ..PoolSpec::default() }, catalog);
        b.with(|ctx| o.on_msg(ctx, NodeId(1), Msg::Get { req: ReqId(0), object: 3 }));
        b.with(|ctx| o.on_msg(ctx, NodeId(1), Msg::Get { req: ReqId(1), object: 11 }));
        let (timers, rest) = b.drain();
        // The second request found the only server busy and no queue: refused at once.
        assert!(
            rest.iter().any(|e| matches!(
                e,
                Effect::Send { msg: TMsg::Cdn(Msg::Object { answer: Answer::Retryable, .. }), .. }
            ))
        );
        let requests: u64 = rest
            .iter()
            .map(|e| match e {
                Effect::CountIn { scope: "origin", name: "requests", delta } => *delta,
                _ => 0,
            })
            .sum();
        assert_eq!(requests, 2);
        let TTimer::Pool(t) = timers[0].1 else { panic!() };
        b.with(|ctx| o.on_timer(ctx, t));
        assert!(matches!(sent(&mut b)[..], [(NodeId(1), Msg::Object { size: Some(5), .. })]));
    }
}
