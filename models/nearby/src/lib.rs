//! # nearby: a proximity service (Yelp's "businesses near me") over a geohash or a quadtree
//!
//! The notes (3-8, "Yelp / nearby location") name two indexes, geohash and quadtree; the design
//! around them is the usual one. A *business service* owns the businesses (its table is the
//! source of truth) and a *location-based service* of stateless-looking servers answers radius
//! queries: "the businesses within `r` km of (lat, lon)". Clients balance their searches over the
//! location servers (a [`Calls`] with a [`parts::balance::Balancer`]); each location server is a
//! [`Pool`] of workers holding a replica of the geo index, which the business service keeps
//! current by sending every new business to every location server (asynchronous replication:
//! a new business shows up at each server one network delay after it was acknowledged).
//!
//! ## The indexes (the design's own protocol, in [`geo`])
//!
//! - **Geohash.** Every business is a row keyed by its 12-character geohash in an ordered index,
//!   so a cell of any precision is one range scan (a `LIKE 'prefix%'` on the geohash column). A
//!   query picks the precision from the radius (the notes' rule: the longest geohash whose cell is
//!   at least the radius in both directions at the query's latitude), reads the centre cell and
//!   its 8 neighbours, and keeps the entries within the radius. A fixed precision expands to as
//!   many rings of neighbours as the radius needs instead. Each location server keeps a read
//!   cache of cells ([`parts::cache::Cache`]: cell -> ids); a new business invalidates its cell at
//!   every precision, so the cache never serves a cell without it.
//! - **Quadtree.** A region quadtree over the whole sphere, built in memory on each location
//!   server: a leaf holds up to `capacity` businesses and splits into four quadrants when one more
//!   arrives. A query visits every node whose box meets the circle's box and scans the leaves.
//!
//! Both handle the antimeridian (the grid wraps; a query box that crosses it is two ranges) and the
//! poles (a circle containing a pole covers every longitude; the top row has no northern
//! neighbours). Cities in the scenarios stay within 80 degrees of the equator.
//!
//! ## Cost
//!
//! A query's service time on its location server is computed from the work it did: `base`, plus
//! per cell read `cell_hit` (from the cell cache) or `cell_miss` (a range read of the geo index:
//! in the real design another store; here the server's own replica, charged as a store read),
//! plus per quadtree node `node`, plus per entry scanned (a distance computed) `entry`. So p99
//! latency reflects the index work and the queueing it causes.
//!
//! ## Side by side
//!
//! `shadow` lists other indexes each location server also maintains and runs every query on (not
//! answering from them, not charging their time): the table `index work per query` has a row per
//! index (the served one first) with the queries, mean cells (geohash cells or quadtree leaves),
//! nodes, entries scanned, results, and the p99 of the service time its work would cost. A shadow
//! whose answer differs from the served one is counted (`shadow_mismatches`).
//!
//! ## Simplified
//!
//! The business service answers at once (no pool, no database) and never crashes; businesses are
//! only added (no moves or deletions); the location servers build their initial index from the
//! setup stream's businesses at start (the bulk load). Business placement: a few cities, each a
//! 2-D Gaussian (standard deviation `spread_km`) around its centre, chosen by weight;
//! searches come from the same distribution, with a radius drawn from `radii_km`.
//!
//! ## Ops, check and measures
//!
//! Ops: `search` (answers the ids found, `Reply::Values`) and `add` (answers the new id).
//! Transport: connections (HTTP/RPC), so the business service's updates reach a location server in
//! order.
//!
//! Check `results_exact`: every answered search equals a brute-force oracle, the distance from the
//! query to each business the answering server had applied when it ran the query (the server
//! says how many: ids are dense): none within the radius missing, none outside returned. The
//! known-bad `nearby_center_cell_only` reads only the centre cell: businesses across a cell edge
//! go missing (recall below 1). Measures: `recall`, `precision`, the served index's cells,
//! entries and results per query, the cell cache's hit ratio, update visibility (acknowledged to
//! applied, per location server: `visibility_p50_ms`, `visibility_max_ms`), searches that found a
//! business added during the run, index bytes per business and at the notes' 200 M businesses.

pub mod geo;

use geo::{Cell, GeoBox, GeohashIndex, Placed, Point, QuadTree};
use parts::balance::{HealthSpec, Policy};
use parts::cache::{Cache, CacheSpec, CacheStats};
use parts::calls::{Answer, CallPolicy, CallTimer, Calls, Done, ReqId, ServiceId};
use parts::pool::{Admit, Pool, PoolSpec, PoolStats, PoolTimer};
use serde::{Deserialize, Serialize};
use sim_core::cost::count;
use sim_core::math;
use sim_core::stats::percentile_ms;
use sim_core::{
    Actor, Axis, Check, Ctx, Duration, Message, Model, ModelReport, NodeId, Op, OpId, Outcome, Prng, Reply, RunView,
    Table, Time, Topology,
};
use std::collections::BTreeMap;

/// A city: businesses and searches cluster around its centre.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct City {
    pub name: String,
    pub lat: f64,
    pub lon: f64,
    /// Standard deviation of the distance from the centre, km, north-south and east-west.
    pub spread_km: f64,
    /// Share of businesses and searches (relative to the other cities').
    pub weight: f64,
}

/// A geo index.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub enum Index {
    /// Geohash cells: `precision: None` picks the precision from the radius (centre + 8
    /// neighbours); `Some(p)` reads the rings of precision-`p` cells the radius needs.
    Geohash { precision: Option<u8> },
    /// A quadtree whose leaves split past `capacity` businesses.
    Quadtree { capacity: u32 },
}

impl Index {
    /// A row label: `geohash auto`, `geohash 5`, `quadtree 100`.
    pub fn label(&self) -> String {
        match self {
            Index::Geohash { precision: None } => "geohash auto".into(),
            Index::Geohash { precision: Some(p) } => format!("geohash {p}"),
            Index::Quadtree { capacity } => format!("quadtree {capacity}"),
        }
    }
}

/// Which geohash cells a query reads.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum Expand {
    /// The centre cell and the rings of neighbours the radius needs (8 neighbours at the
    /// radius's own precision).
    #[default]
    Neighbours,
    /// The centre cell only (the known-bad: misses what lies across a cell edge).
    CentreOnly,
}

/// What a query's work costs on a location server.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Cost {
    pub base: Duration,
    /// A cell read from the cell cache.
    pub cell_hit: Duration,
    /// A cell read from the geo index (a range scan of the store).
    pub cell_miss: Duration,
    /// A quadtree node visited.
    pub node: Duration,
    /// An entry scanned (its distance computed).
    pub entry: Duration,
}

impl Default for Cost {
    fn default() -> Self {
        Cost {
            base: Duration::from_micros(200),
            cell_hit: Duration::from_micros(20),
            cell_miss: Duration::from_millis(1),
            node: Duration::from_micros(1),
            entry: Duration::from_micros(2),
        }
    }
}

/// ```ron
/// config: (
///     businesses: 3000,
///     cities: [(name: "Paris", lat: 48.8566, lon: 2.3522, spread_km: 8.0, weight: 1.0)],
///     radii_km: [0.5, 1.0, 2.0, 5.0],
///     index: Geohash(precision: None),
///     shadow: [Quadtree(capacity: 100)],
///     location: (concurrency: 8, queue: 1000),
///     cache: (capacity: Entries(5000), ttl: Some("60s")),
/// )
/// ```
/// The first server is the business service; the others are location servers.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// Businesses present at the start.
    pub businesses: u32,
    pub cities: Vec<City>,
    /// Search radii, drawn uniformly.
    pub radii_km: Vec<f64>,
    /// The index the location servers answer from.
    pub index: Index,
    /// Which geohash cells a query reads (geohash indexes only).
    pub expand: Expand,
    /// Indexes measured beside the served one (every query runs on them too).
    pub shadow: Vec<Index>,
    /// Each location server's workers and queue (the service time is the query's cost).
    pub location: PoolSpec,
    pub cost: Cost,
    /// Each location server's cell cache (geohash indexes).
    pub cache: CacheSpec,
    /// How a client calls the location servers, and how it balances.
    pub call: CallPolicy,
    pub balance: Policy,
    /// A quadtree leaf stops splitting at this depth.
    pub max_depth: u8,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            businesses: 1000,
            cities: vec![City { name: "Paris".into(), lat: 48.8566, lon: 2.3522, spread_km: 8.0, weight: 1.0 }],
            radii_km: vec![1.0, 2.0, 5.0],
            index: Index::Geohash { precision: None },
            expand: Expand::Neighbours,
            shadow: Vec::new(),
            location: PoolSpec { concurrency: 8, queue: 1000, ..PoolSpec::default() },
            cost: Cost::default(),
            cache: CacheSpec::default(),
            call: CallPolicy::default(),
            balance: Policy::RoundRobin,
            max_depth: 24,
        }
    }
}

/// Where a business (or a searcher) is: a city by weight, then a Gaussian offset around it.
pub fn place(cities: &[City], weights: &[f64], rng: &mut Prng) -> Point {
    let c = &cities[rng.weighted(weights)];
    let north = rng.std_normal() * c.spread_km;
    let east = rng.std_normal() * c.spread_km;
    let km_per_deg = geo::EARTH_RADIUS_KM * std::f64::consts::PI / 180.0;
    let lat = (c.lat + north / km_per_deg).clamp(-89.999, 89.999);
    let lon = geo::wrap_lon(c.lon + east / (km_per_deg * math::cos(lat.to_radians())));
    Point::new(lat, lon)
}

#[derive(Clone, Debug)]
pub enum Msg {
    Search {
        req: ReqId,
        at: Point,
        radius_km: f64,
    },
    /// The ids within the radius, and how many businesses the server's index held.
    Found {
        req: ReqId,
        ids: Vec<u32>,
        seen: u32,
    },
    Refused {
        req: ReqId,
    },
    Add {
        req: ReqId,
    },
    Added {
        req: ReqId,
        id: u32,
    },
    /// The business service to a location server: a new business.
    Update {
        id: u32,
        at: Point,
    },
}

impl Message for Msg {
    fn kind(&self) -> &'static str {
        match self {
            Msg::Search { .. } => "search",
            Msg::Found { .. } => "found",
            Msg::Refused { .. } => "refused",
            Msg::Add { .. } => "add",
            Msg::Added { .. } => "added",
            Msg::Update { .. } => "update",
        }
    }
    fn size_bytes(&self) -> u64 {
        match self {
            Msg::Found { ids, .. } => 64 + 8 * ids.len() as u64,
            _ => 64,
        }
    }
}

parts::wire! {
    timers pub enum Timer { Call(CallTimer), Pool(PoolTimer) }
}

/// A search as a client asked it, and what its answer said of the index.
#[derive(Clone, Copy, Debug)]
pub struct Asked {
    pub at: Point,
    pub radius_km: f64,
    /// Businesses in the answering server's index (`None` until answered).
    pub seen: Option<u32>,
}

pub struct Client {
    calls: Calls<Msg, OpId>,
    location: ServiceId,
    business: ServiceId,
    cities: Vec<City>,
    weights: Vec<f64>,
    radii: Vec<f64>,
    pub asked: BTreeMap<OpId, Asked>,
}

/// What one index touched, summed over queries.
#[derive(Clone, Debug, Default)]
pub struct EngineStats {
    pub queries: u64,
    /// Geohash cells read, or quadtree leaves visited.
    pub cells: u64,
    /// Quadtree nodes visited (inner and leaf).
    pub nodes: u64,
    pub entries: u64,
    pub results: u64,
    /// Service time of each query's work, ns.
    pub service_ns: Vec<u64>,
}

enum Store {
    Geohash(GeohashIndex, Option<u8>, Box<Cache<Vec<u32>>>),
    Quad(QuadTree),
}

/// One index on a location server, with its cell cache and its counts.
pub struct Engine {
    pub index: Index,
    expand: Expand,
    store: Store,
    pub stats: EngineStats,
}

impl Engine {
    pub fn new(index: Index, expand: Expand, cache: &CacheSpec, max_depth: u8) -> Engine {
        let store = match index {
            Index::Geohash { precision } => {
                Store::Geohash(GeohashIndex::default(), precision, Box::new(Cache::new(cache.clone())))
            }
            Index::Quadtree { capacity } => Store::Quad(QuadTree::new(capacity, max_depth)),
        };
        Engine { index, expand, store, stats: EngineStats::default() }
    }

    /// A new business: into the index; its cells leave the cache.
    pub fn insert(&mut self, id: u32, p: Point) {
        match &mut self.store {
            Store::Geohash(ix, _, cache) => {
                ix.insert(id, p);
                for precision in 1..=geo::MAX_PRECISION {
                    cache.remove(Cell::of(p, precision).key());
                }
            }
            Store::Quad(t) => t.insert(id, p),
        }
    }

    /// The ids within `radius_km` of `at` (sorted), and what finding them cost.
    pub fn query(
        &mut self,
        now: Time,
        at: Point,
        radius_km: f64,
        places: &[Placed],
        cost: &Cost,
    ) -> (Vec<u32>, Duration) {
        let bx: GeoBox = geo::circle_box(at, radius_km);
        let mut ns = cost.base.as_nanos();
        let candidates: Vec<u32> = match &mut self.store {
            Store::Geohash(ix, precision, cache) => {
                let p = precision.unwrap_or_else(|| geo::precision_for(at, radius_km));
                let (kx, ky) = match self.expand {
                    Expand::Neighbours => geo::rings(&bx, p),
                    Expand::CentreOnly => (0, 0),
                };
                let mut ids = Vec::new();
                for cell in geo::cells_around(at, p, kx, ky) {
                    self.stats.cells += 1;
                    if let Some(found) = cache.get(now, cell.key())
                        && let Some(v) = found.value
                    {
                        ns += cost.cell_hit.as_nanos();
                        ids.extend_from_slice(v);
                        continue;
                    }
                    ns += cost.cell_miss.as_nanos();
                    let v = ix.cell(&cell);
                    ids.extend_from_slice(&v);
                    let size = 16 + 4 * v.len() as u64;
                    cache.put(now, cell.key(), v, size);
                }
                ids
            }
            Store::Quad(t) => {
                let v = t.query(&bx);
                self.stats.cells += v.leaves;
                self.stats.nodes += v.nodes;
                ns += v.nodes * cost.node.as_nanos();
                v.ids
            }
        };
        ns += candidates.len() as u64 * cost.entry.as_nanos();
        self.stats.entries += candidates.len() as u64;
        let circle = geo::Circle::new(at, radius_km);
        let mut found: Vec<u32> =
            candidates.into_iter().filter(|&id| circle.contains_placed(&places[id as usize])).collect();
        found.sort_unstable();
        self.stats.queries += 1;
        self.stats.results += found.len() as u64;
        self.stats.service_ns.push(ns);
        (found, Duration::from_nanos(ns))
    }

    pub fn cache_stats(&self) -> Option<&CacheStats> {
        match &self.store {
            Store::Geohash(_, _, c) => Some(&c.stats),
            Store::Quad(_) => None,
        }
    }

    /// Bytes of the index structure per business it holds.
    pub fn bytes(&self) -> u64 {
        match &self.store {
            Store::Geohash(ix, _, _) => ix.row_bytes(),
            Store::Quad(t) => t.bytes(),
        }
    }

    pub fn quadtree(&self) -> Option<&QuadTree> {
        match &self.store {
            Store::Quad(t) => Some(t),
            Store::Geohash(..) => None,
        }
    }
}

/// A search held by a location server until its service time is over.
#[derive(Clone, Debug)]
pub struct Job {
    from: NodeId,
    req: ReqId,
    ids: Vec<u32>,
    seen: u32,
}

pub struct Location {
    pool: Pool<Job>,
    cost: Cost,
    /// Its replica of the businesses' locations, by id.
    pub places: Vec<Placed>,
    initial: u32,
    /// Updates that arrived ahead of an earlier one.
    pending: BTreeMap<u32, Point>,
    pub serve: Engine,
    pub shadows: Vec<Engine>,
    /// When each business added during the run was applied here (by `id - initial`).
    pub applied_at: Vec<Time>,
    pub shadow_mismatches: u64,
}

pub struct Business {
    pub places: Vec<Point>,
    initial: u32,
    cities: Vec<City>,
    weights: Vec<f64>,
    locations: Vec<NodeId>,
    /// When each business added during the run was acknowledged (by `id - initial`).
    pub acked_at: Vec<Time>,
}

pub enum Node {
    Client(Box<Client>),
    Business(Box<Business>),
    Location(Box<Location>),
}

fn complete(ctx: &mut Ctx<'_, Node>, done: Done<OpId>, reply: Reply) {
    let outcome = done.outcome.outcome();
    ctx.complete(done.data, outcome, if outcome == Outcome::Ok { reply } else { Reply::None });
}

impl Client {
    fn on_op(&mut self, ctx: &mut Ctx<'_, Node>, op: Op) {
        let (svc, msg): (ServiceId, Box<dyn FnOnce(ReqId) -> Msg>) = if op.kind == SEARCH {
            let at = place(&self.cities, &self.weights, ctx.rng());
            let radius_km = self.radii[ctx.rng().below(self.radii.len() as u64) as usize];
            self.asked.insert(op.id, Asked { at, radius_km, seen: None });
            (self.location, Box::new(move |req| Msg::Search { req, at, radius_km }))
        } else {
            (self.business, Box::new(|req| Msg::Add { req }))
        };
        if let Err(done) = self.calls.call(ctx, svc, op.key, msg, op.id) {
            complete(ctx, done, Reply::None);
        }
    }

    fn on_msg(&mut self, ctx: &mut Ctx<'_, Node>, msg: Msg) {
        match msg {
            Msg::Found { req, ids, seen } => {
                if let Some(done) = self.calls.reply(ctx, req, Answer::Ok) {
                    if let Some(a) = self.asked.get_mut(&done.data) {
                        a.seen = Some(seen);
                    }
                    complete(ctx, done, Reply::Values(ids.into_iter().map(u64::from).collect()));
                }
            }
            Msg::Added { req, id } => {
                if let Some(done) = self.calls.reply(ctx, req, Answer::Ok) {
                    complete(ctx, done, Reply::Value(id as u64));
                }
            }
            Msg::Refused { req } => {
                if let Some(done) = self.calls.reply(ctx, req, Answer::Retryable) {
                    complete(ctx, done, Reply::None);
                }
            }
            _ => {}
        }
    }
}

impl Location {
    fn apply(&mut self, ctx: &mut Ctx<'_, Node>, id: u32, at: Point) {
        self.pending.insert(id, at);
        while let Some(at) = self.pending.remove(&(self.places.len() as u32)) {
            let id = self.places.len() as u32;
            self.places.push(Placed::new(at));
            self.serve.insert(id, at);
            for s in &mut self.shadows {
                s.insert(id, at);
            }
            if id >= self.initial {
                self.applied_at.push(ctx.ledger_time());
            }
        }
    }

    fn on_msg(&mut self, ctx: &mut Ctx<'_, Node>, from: NodeId, msg: Msg) {
        match msg {
            Msg::Search { req, at, radius_km } => {
                let now = ctx.now();
                let (ids, service) = self.serve.query(now, at, radius_km, &self.places, &self.cost);
                for s in &mut self.shadows {
                    let (other, _) = s.query(now, at, radius_km, &self.places, &self.cost);
                    if other != ids {
                        self.shadow_mismatches += 1;
                    }
                }
                let job = Job { from, req, ids, seen: self.places.len() as u32 };
                match self.pool.submit_for(ctx, job, service) {
                    Admit::Started | Admit::Queued => {}
                    Admit::Rejected(job) | Admit::Dropped(job) => ctx.send(job.from, Msg::Refused { req: job.req }),
                }
            }
            Msg::Update { id, at } => self.apply(ctx, id, at),
            _ => {}
        }
    }

    fn on_timer(&mut self, ctx: &mut Ctx<'_, Node>, timer: Timer) {
        if let Timer::Pool(t) = timer {
            if let Some(job) = self.pool.on_timer(ctx, t) {
                ctx.send(job.from, Msg::Found { req: job.req, ids: job.ids, seen: job.seen });
            }
            for job in self.pool.take_shed() {
                ctx.send(job.from, Msg::Refused { req: job.req });
            }
        }
    }
}

impl Business {
    fn on_msg(&mut self, ctx: &mut Ctx<'_, Node>, from: NodeId, msg: Msg) {
        if let Msg::Add { req } = msg {
            let at = place(&self.cities, &self.weights, ctx.rng());
            let id = self.places.len() as u32;
            self.places.push(at);
            ctx.broadcast(self.locations.iter().copied(), Msg::Update { id, at });
            ctx.send(from, Msg::Added { req, id });
            debug_assert_eq!(id - self.initial, self.acked_at.len() as u32);
            self.acked_at.push(ctx.ledger_time());
        }
    }
}

impl Actor for Node {
    type Msg = Msg;
    type Timer = Timer;
    type Record = ();

    fn on_start(&mut self, _ctx: &mut Ctx<'_, Self>) {}

    fn on_msg(&mut self, ctx: &mut Ctx<'_, Self>, from: NodeId, msg: Msg) {
        match self {
            Node::Client(c) => c.on_msg(ctx, msg),
            Node::Business(b) => b.on_msg(ctx, from, msg),
            Node::Location(l) => l.on_msg(ctx, from, msg),
        }
    }

    fn on_timer(&mut self, ctx: &mut Ctx<'_, Self>, timer: Timer) {
        match self {
            Node::Client(c) => {
                if let Timer::Call(t) = timer
                    && let Some(done) = c.calls.on_timer(ctx, t)
                {
                    complete(ctx, done, Reply::None);
                }
            }
            Node::Location(l) => l.on_timer(ctx, timer),
            Node::Business(_) => {}
        }
    }

    fn on_op(&mut self, ctx: &mut Ctx<'_, Self>, op: Op) {
        match self {
            Node::Client(c) => c.on_op(ctx, op),
            _ => ctx.complete(op.id, Outcome::Rejected, Reply::None),
        }
    }
}

/// Op kind index of `search` (and `add` is 1).
const SEARCH: u16 = 0;

pub struct Nearby;

impl Model for Nearby {
    const NAME: &'static str = "nearby";
    const ABOUT: &'static str = "proximity search (Yelp): radius queries over a geohash or a quadtree index, a cell cache, businesses added live";
    const OP_KINDS: &'static [&'static str] = &["search", "add"];
    const TRANSPORT: sim_core::net::Transport = sim_core::net::Transport::Connection;
    const CHECKS: &'static [&'static str] = &["results_exact"];
    type Config = Config;
    type Actor = Node;

    fn validate(c: &Config, topo: &Topology) -> Vec<(String, String)> {
        let mut e = Vec::new();
        if topo.servers.len() < 2 {
            e.push((
                "topology.servers".into(),
                format!("needs a business server and at least one location server, got {}", topo.servers.len()),
            ));
        }
        if c.cities.is_empty() {
            e.push(("config.cities".into(), "needs at least one city".into()));
        }
        for (i, city) in c.cities.iter().enumerate() {
            let path = format!("config.cities[{i}]");
            if !(-80.0..=80.0).contains(&city.lat) {
                e.push((format!("{path}.lat"), format!("must be within [-80, 80] degrees, got {}", city.lat)));
            }
            if !(-180.0..=180.0).contains(&city.lon) {
                e.push((format!("{path}.lon"), format!("must be within [-180, 180] degrees, got {}", city.lon)));
            }
            if !(city.spread_km > 0.0 && city.spread_km <= 500.0) {
                e.push((format!("{path}.spread_km"), format!("must be in (0, 500] km, got {}", city.spread_km)));
            }
            if !(city.weight > 0.0 && city.weight.is_finite()) {
                e.push((format!("{path}.weight"), format!("must be positive, got {}", city.weight)));
            }
        }
        if c.radii_km.is_empty() {
            e.push(("config.radii_km".into(), "needs at least one radius".into()));
        }
        for (i, r) in c.radii_km.iter().enumerate() {
            if !(*r > 0.0 && *r <= 1000.0) {
                e.push((format!("config.radii_km[{i}]"), format!("must be in (0, 1000] km, got {r}")));
            }
        }
        for (path, ix) in std::iter::once(("config.index".to_string(), &c.index))
            .chain(c.shadow.iter().enumerate().map(|(i, s)| (format!("config.shadow[{i}]"), s)))
        {
            match ix {
                Index::Geohash { precision: Some(p) } if !(1..=geo::MAX_PRECISION).contains(p) => {
                    e.push((format!("{path}.precision"), format!("must be within [1, 12], got {p}")))
                }
                Index::Quadtree { capacity: 0 } => e.push((format!("{path}.capacity"), "must be at least 1".into())),
                _ => {}
            }
        }
        if !(1..=40).contains(&c.max_depth) {
            e.push(("config.max_depth".into(), format!("must be within [1, 40], got {}", c.max_depth)));
        }
        e.extend(c.location.validate("config.location"));
        e.extend(c.cache.validate("config.cache"));
        e.extend(c.call.validate("config.call"));
        e.extend(c.balance.validate("config.balance"));
        e
    }

    /// Measured (debug binary, `simctl bench scenario`, peak RSS less a tiny run's) on
    /// `scenarios/perf/nearby_perf.ron`: with no searches 8.6 MB for 20,000 businesses (16.9 MB
    /// for 40,000: ~420 B a business, its place and index entry on the business service and each
    /// of the 6 location servers); the whole file 129 MB, its first 20 s 76 MB: ~1,700 B a
    /// search, most of it the ids found (`within_radius_mean` 149, answered as 8-byte values in
    /// the history). The ids expected within the radius: per city, its share of the businesses
    /// times the chance that a searcher of that city (the same Gaussian) is within `r` of one,
    /// `1 - exp(-r^2 / 4 spread^2)`, over the radii (143 on nearby_perf).
    fn footprint(c: &Config, topo: &Topology, load: &sim_core::cost::Load) -> sim_core::cost::Footprint {
        let (searches, adds) = (load.of("search", Self::OP_KINDS), load.of("add", Self::OP_KINDS));
        let businesses = c.businesses as f64 + adds;
        let total: f64 = c.cities.iter().map(|x| x.weight).sum::<f64>().max(1e-9);
        let radii = c.radii_km.len().max(1) as f64;
        let found: f64 = c
            .cities
            .iter()
            .map(|city| {
                let share = city.weight / total;
                let s2 = 4.0 * city.spread_km * city.spread_km;
                let near: f64 = c.radii_km.iter().map(|r| 1.0 - math::exp(-r * r / s2.max(1e-9))).sum::<f64>() / radii;
                share * share * businesses * near
            })
            .sum();
        let locations = topo.servers.len().saturating_sub(1) as f64;
        let indexes = 1.0 + c.shadow.len() as f64;
        // Each geohash index's cell cache, on every location server: the cells its searches read
        // (those of each city's area, out to three spreads and the radius), up to its capacity,
        // ~230 B a cell (measured: precision 6 on nearby.ron's cities, 20,000 cells a server).
        let capacity = c.cache.capacity.entries(8.0);
        let km_per_deg = geo::EARTH_RADIUS_KM * std::f64::consts::PI / 180.0;
        let cells_per_server: f64 = std::iter::once(&c.index)
            .chain(&c.shadow)
            .filter_map(|i| if let Index::Geohash { precision } = i { Some(*precision) } else { None })
            .map(|precision| {
                let rmax = c.radii_km.iter().copied().fold(0.0, f64::max);
                let cells: f64 = c
                    .cities
                    .iter()
                    .map(|city| {
                        let at = Point::new(city.lat, city.lon);
                        // Per radius: the cells of the city's area, and the cells its searches read.
                        let (mut area, mut reads) = (0.0, 0.0);
                        for &r in &c.radii_km {
                            let p = precision.unwrap_or_else(|| geo::precision_for(at, r));
                            let (dlat, dlon) = geo::cell_degrees(p);
                            let (h, w) = (dlat * km_per_deg, dlon * km_per_deg * math::cos(city.lat.to_radians()));
                            let (h, w) = (h.max(1e-9), w.max(1e-9));
                            let side = 6.0 * city.spread_km + 2.0 * if precision.is_some() { rmax } else { r };
                            let cells = (side / h).ceil() * (side / w).ceil();
                            // The centre cell and its rings: one ring at the radius's own precision.
                            let per_search = match (c.expand, precision) {
                                (Expand::CentreOnly, _) => 1.0,
                                (Expand::Neighbours, None) => 9.0,
                                (Expand::Neighbours, Some(_)) => {
                                    (2.0 * (r / h).ceil() + 1.0).min(side / h + 1.0)
                                        * (2.0 * (r / w).ceil() + 1.0).min(side / w + 1.0)
                                }
                            };
                            let searched = searches * city.weight / total / radii / locations.max(1.0) * per_search;
                            if precision.is_some() {
                                area = cells;
                                reads += searched;
                            } else {
                                area += cells.min(searched);
                                reads += searched;
                            }
                        }
                        area.min(reads)
                    })
                    .sum();
                cells.min(capacity)
            })
            .sum();
        sim_core::cost::Footprint {
            events: searches * 2.2 + adds * (2.0 + locations),
            queued: load.in_flight * 3.0,
            ..Default::default()
        }
        .part(
            format!(
                "businesses: {businesses} x ~60 B on {locations:.0} location servers x {indexes:.0} indexes",
                businesses = count(businesses)
            ),
            businesses * (60.0 + 60.0 * locations * indexes),
        )
        .part(
            format!(
                "cell caches: {cells_per_server} cells x 230 B on {locations:.0} location servers",
                cells_per_server = count(cells_per_server)
            ),
            cells_per_server * locations * 230.0,
        )
        .part(
            format!("search answers: {searches} x ({found:.0} ids x 8 B + 150 B)", searches = count(searches)),
            searches * (found * 8.0 + 150.0),
        )
    }

    fn factory(c: &Config, topo: &Topology, setup: &mut Prng) -> Box<dyn FnMut(NodeId) -> Node> {
        let weights: Vec<f64> = c.cities.iter().map(|x| x.weight).collect();
        let initial: Vec<Point> = (0..c.businesses).map(|_| place(&c.cities, &weights, setup)).collect();
        let business = topo.servers[0];
        let locations: Vec<NodeId> = topo.servers[1..].to_vec();
        let c = c.clone();
        let topo = topo.clone();
        Box::new(move |n| {
            if topo.is_client(n) {
                let mut calls = Calls::new();
                let location = calls.add("search_calls", &locations, c.call.clone(), c.balance, HealthSpec::default());
                let business =
                    calls.add("add_calls", &[business], c.call.clone(), Policy::RoundRobin, HealthSpec::default());
                return Node::Client(Box::new(Client {
                    calls,
                    location,
                    business,
                    cities: c.cities.clone(),
                    weights: weights.clone(),
                    radii: c.radii_km.clone(),
                    asked: BTreeMap::new(),
                }));
            }
            if n == business {
                return Node::Business(Box::new(Business {
                    places: initial.clone(),
                    initial: c.businesses,
                    cities: c.cities.clone(),
                    weights: weights.clone(),
                    locations: locations.clone(),
                    acked_at: Vec::new(),
                }));
            }
            let engine = |ix: Index| {
                let mut e = Engine::new(ix, c.expand, &c.cache, c.max_depth);
                for (id, p) in initial.iter().enumerate() {
                    e.insert(id as u32, *p);
                }
                e
            };
            Node::Location(Box::new(Location {
                pool: Pool::new("location", c.location.clone()),
                cost: c.cost.clone(),
                places: initial.iter().map(|&p| Placed::new(p)).collect(),
                initial: c.businesses,
                pending: BTreeMap::new(),
                serve: engine(c.index),
                shadows: c.shadow.iter().map(|&ix| engine(ix)).collect(),
                applied_at: Vec::new(),
                shadow_mismatches: 0,
            }))
        })
    }

    fn report(c: &Config, run: &RunView<'_, Node>) -> ModelReport {
        report(c, run)
    }
}

/// One answered search judged against the oracle.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Judged {
    /// Businesses within the radius (the oracle's answer).
    pub expected: u64,
    /// Of them, in the answer.
    pub found: u64,
    /// Answered but outside the radius, or not a business the server had.
    pub extra: u64,
}

/// The brute-force oracle: every business among the first `seen` within `radius_km` of `at`,
/// against an answer. The great-circle distance is at least the latitude difference, so only the
/// businesses in the circle's latitude band can be within it: the oracle sorts the businesses by
/// latitude once and, per search, looks at each in the band (a few thousand on `nearby_perf`,
/// against 20,000 for all), with none of the index's cells or cache. A business whose chord to
/// the centre puts it clearly inside or clearly outside is decided by it ([`geo::ChordScreen`],
/// three products); the few near the edge are measured as the servers measure (`Circle`, bit
/// for bit `distance_km`). The answer is counted against marks by id, not sorted.
pub struct Oracle {
    /// By latitude.
    by_lat: Vec<Banded>,
    /// Per business (by id, so one per business), the search that expected it: `2 s` for search
    /// `s`, `2 s + 1` once answered.
    marks: Vec<u64>,
    searches: u64,
}

struct Banded {
    place: Placed,
    id: u32,
    unit: [f64; 3],
}

impl Oracle {
    pub fn new(places: &[Point]) -> Oracle {
        let mut by_lat: Vec<Banded> = places
            .iter()
            .enumerate()
            .map(|(i, &p)| Banded { place: Placed::new(p), id: i as u32, unit: geo::unit(p) })
            .collect();
        by_lat.sort_unstable_by(|a, b| a.place.at.lat.total_cmp(&b.place.at.lat).then(a.id.cmp(&b.id)));
        Oracle { by_lat, marks: vec![0; places.len()], searches: 0 }
    }

    pub fn judge(&mut self, seen: u32, at: Point, radius_km: f64, got: &[u64]) -> Judged {
        let n = (seen as usize).min(self.marks.len());
        // The band, in radians (a margin keeps rounding out), and a range of latitudes a little
        // wider, in degrees, to cut from the sorted list; the band itself then decides.
        let band = radius_km / geo::EARTH_RADIUS_KM * (1.0 + 1e-9) + 1e-12;
        let deg = band.to_degrees() * (1.0 + 1e-6) + 1e-9;
        let lo = self.by_lat.partition_point(|b| b.place.at.lat < at.lat - deg);
        let hi = self.by_lat.partition_point(|b| b.place.at.lat <= at.lat + deg);
        let (circle, screen) = (geo::Circle::new(at, radius_km), geo::ChordScreen::new(at, radius_km));
        self.searches += 1;
        let mark = 2 * self.searches;
        let mut expected = 0u64;
        for b in &self.by_lat[lo..hi.max(lo)] {
            if (b.id as usize) < n
                && (b.place.at.lat - at.lat).to_radians().abs() <= band
                && screen.screen(b.unit).unwrap_or_else(|| circle.contains_placed(&b.place))
            {
                self.marks[b.id as usize] = mark;
                expected += 1;
            }
        }
        // Each answered id once: expected (marked, then marked answered) or extra.
        let (mut found, mut others) = (0u64, Vec::new());
        for &id in got {
            match self.marks.get_mut(id as usize) {
                Some(m) if *m == mark => {
                    *m = mark + 1;
                    found += 1;
                }
                Some(m) if *m == mark + 1 => {}
                _ => others.push(id),
            }
        }
        others.sort_unstable();
        others.dedup();
        Judged { expected, found, extra: others.len() as u64 }
    }
}

fn report(c: &Config, run: &RunView<'_, Node>) -> ModelReport {
    let mut r = ModelReport::default();
    let mut business: Option<&Business> = None;
    let mut locations: Vec<&Location> = Vec::new();
    for (_, node) in run.servers() {
        match node {
            Node::Business(b) => business = Some(b),
            Node::Location(l) => locations.push(l),
            Node::Client(_) => {}
        }
    }
    let mut asked: BTreeMap<OpId, Asked> = BTreeMap::new();
    for &n in &run.topology().clients {
        if let Some(Node::Client(cl)) = run.sim.actor(n) {
            asked.extend(cl.asked.iter().map(|(k, v)| (*k, *v)));
        }
    }
    let places: &[Point] = business.map(|b| b.places.as_slice()).unwrap_or(&[]);
    let mut oracle = Oracle::new(places);

    // results_exact: every answered search against the oracle.
    let (mut judged, mut bad, mut unanswered) = (0u64, 0u64, 0u64);
    let (mut expected, mut found, mut extra) = (0u64, 0u64, 0u64);
    let mut new_found = 0u64;
    let mut latencies: Vec<u64> = Vec::new();
    let mut blamed = Vec::new();
    let mut first_bad = None;
    for h in run.history() {
        if h.kind != SEARCH || h.invoke >= run.main_end {
            continue;
        }
        let (Some(Outcome::Ok), Reply::Values(ids), Some(a)) = (h.outcome, &h.reply, asked.get(&h.op)) else {
            unanswered += 1;
            continue;
        };
        let Some(seen) = a.seen else {
            unanswered += 1;
            continue;
        };
        if let Some(done) = h.complete.get() {
            latencies.push(done.since(h.invoke).as_nanos());
        }
        judged += 1;
        let j = oracle.judge(seen, a.at, a.radius_km, ids);
        expected += j.expected;
        found += j.found;
        extra += j.extra;
        if ids.iter().any(|&id| id >= c.businesses as u64) {
            new_found += 1;
        }
        if j.found < j.expected || j.extra > 0 {
            bad += 1;
            blamed.push(h);
            if first_bad.is_none() {
                first_bad = Some((h.op, *a, j));
            }
        }
    }
    let recall = if expected > 0 { found as f64 / expected as f64 } else { 1.0 };
    let returned = found + extra;
    let precision = if returned > 0 { found as f64 / returned as f64 } else { 1.0 };
    let detail = match first_bad {
        Some((op, a, j)) => format!(
            "{bad} of {judged} searches differ from the oracle (recall {recall:.4}: {found} of {expected} businesses \
             within the radius returned; {extra} returned outside it); first: op {} at ({:.4}, {:.4}) r {} km: {} of {} \
             found, {} extra",
            op.0, a.at.lat, a.at.lon, a.radius_km, j.found, j.expected, j.extra
        ),
        None => format!(
            "{judged} searches equal the brute-force oracle ({expected} businesses within their radii, none outside)"
        ),
    };
    r.checks.push(
        Check::judged("results_exact", judged, "answered searches")
            .skipped(unanswered, "not answered (failed, timed out or refused)")
            .violations(bad, "different from the oracle")
            .detail(detail)
            .blame_ops(blamed),
    );

    let m = &mut r.measures;
    let main_s = run.main_end.0.max(1) as f64 / 1e9;
    m.insert("searches_answered".into(), judged as f64);
    m.insert("searches_per_s".into(), judged as f64 / main_s);
    m.insert("recall".into(), recall);
    m.insert("precision".into(), precision);
    m.insert("within_radius_mean".into(), if judged > 0 { expected as f64 / judged as f64 } else { 0.0 });
    m.insert("searches_finding_new_businesses".into(), new_found as f64);
    latencies.sort_unstable();
    m.insert("search_p99_ms".into(), percentile_ms(&latencies, 0.99));
    m.insert("search_p50_ms".into(), percentile_ms(&latencies, 0.5));

    // Update visibility: acknowledged by the business service to applied on each location server.
    if let Some(b) = business {
        m.insert("businesses_added".into(), b.acked_at.len() as f64);
        m.insert("businesses_total".into(), b.places.len() as f64);
        let mut lags: Vec<u64> = Vec::new();
        let mut not_applied = 0u64;
        for l in &locations {
            for (k, acked) in b.acked_at.iter().enumerate() {
                match l.applied_at.get(k) {
                    Some(t) => lags.push(t.since(*acked).as_nanos()),
                    None => not_applied += 1,
                }
            }
        }
        lags.sort_unstable();
        m.insert("visibility_p50_ms".into(), percentile_ms(&lags, 0.5));
        m.insert("visibility_max_ms".into(), percentile_ms(&lags, 1.0));
        m.insert("updates_not_applied".into(), not_applied as f64);
    }

    // The served index and the shadows, summed over location servers.
    let mut pool = PoolStats::default();
    let mut cache = CacheStats::default();
    let mut rows: Vec<(Index, EngineStats, u64, u64)> = Vec::new();
    let mut mismatches = 0u64;
    for l in &locations {
        pool.add(&l.pool.stats);
        mismatches += l.shadow_mismatches;
        if let Some(cs) = l.serve.cache_stats() {
            cache.add(cs);
        }
        for (i, e) in std::iter::once(&l.serve).chain(l.shadows.iter()).enumerate() {
            if rows.len() <= i {
                rows.push((e.index, EngineStats::default(), 0, 0));
            }
            let row = &mut rows[i];
            row.1.queries += e.stats.queries;
            row.1.cells += e.stats.cells;
            row.1.nodes += e.stats.nodes;
            row.1.entries += e.stats.entries;
            row.1.results += e.stats.results;
            row.1.service_ns.extend_from_slice(&e.stats.service_ns);
            // Index bytes and businesses of the fullest replica.
            if l.places.len() as u64 > row.3 {
                row.2 = e.bytes();
                row.3 = l.places.len() as u64;
            }
        }
    }
    m.insert("shadow_mismatches".into(), mismatches as f64);
    m.insert("location_rejected".into(), (pool.rejected + pool.dropped + pool.shed) as f64);
    m.insert("location_wait_mean_ms".into(), pool.mean_wait_s() * 1e3);
    m.insert("cell_cache_hit_ratio".into(), cache.hit_ratio());
    let per = |n: u64, q: u64| if q > 0 { n as f64 / q as f64 } else { 0.0 };
    let mut table_rows = Vec::new();
    let mut labels = Vec::new();
    for (i, (ix, s, bytes, held)) in rows.iter_mut().enumerate() {
        s.service_ns.sort_unstable();
        let bytes_per = per(*bytes, *held);
        if i == 0 {
            m.insert("cells_mean".into(), per(s.cells, s.queries));
            m.insert("entries_scanned_mean".into(), per(s.entries, s.queries));
            m.insert("scanned_per_result".into(), per(s.entries, s.results));
        }
        let key = match ix {
            Index::Geohash { .. } => "geohash",
            Index::Quadtree { .. } => "quadtree",
        };
        // The notes' 200 M businesses, in GB, at this structure's measured bytes per business
        // (the first row of each kind).
        let at_scale = format!("{key}_index_gb_at_200m");
        if !m.contains_key(&at_scale) {
            m.insert(at_scale, bytes_per * 200e6 / 1e9);
            m.insert(format!("{key}_bytes_per_business"), bytes_per);
        }
        labels.push(ix.label());
        table_rows.push(vec![
            i as f64,
            s.queries as f64,
            per(s.cells, s.queries),
            per(s.nodes, s.queries),
            per(s.entries, s.queries),
            per(s.results, s.queries),
            percentile_ms(&s.service_ns, 0.99),
        ]);
    }
    if let Some(t) =
        locations.iter().find_map(|l| std::iter::once(&l.serve).chain(l.shadows.iter()).find_map(|e| e.quadtree()))
    {
        m.insert("quadtree_leaves".into(), t.leaves() as f64);
        m.insert("quadtree_fullest_leaf".into(), t.fullest_leaf() as f64);
        // Businesses per leaf: the notes' storage arithmetic assumes full leaves (100).
        let held = locations.iter().map(|l| l.places.len()).max().unwrap_or(0);
        m.insert("quadtree_mean_leaf_fill".into(), held as f64 / t.leaves().max(1) as f64);
    }
    let labels: Vec<&str> = labels.iter().map(String::as_str).collect();
    let t = Table::new(
        "index work per query",
        ["index", "queries", "cells", "nodes", "entries_scanned", "results", "service_p99_ms"],
        table_rows,
    )
    .bars("index", &["entries_scanned", "results"], Axis::new("per query", "entries"))
    .labels(&labels);
    r.tables.push(t);
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    fn paris() -> Vec<City> {
        vec![
            City { name: "Paris".into(), lat: 48.8566, lon: 2.3522, spread_km: 5.0, weight: 3.0 },
            City { name: "Suva".into(), lat: -18.1, lon: 179.95, spread_km: 5.0, weight: 1.0 },
        ]
    }

    fn brute(places: &[Point], at: Point, r: f64) -> Vec<u32> {
        (0..places.len() as u32).filter(|&i| geo::distance_km(places[i as usize], at) <= r).collect()
    }

    /// Every index answers exactly what brute force finds, at every radius, on clustered data
    /// that straddles cell edges and the antimeridian; the centre cell alone does not.
    #[test]
    fn every_index_equals_brute_force_and_the_centre_cell_alone_misses() {
        let cities = paris();
        let w: Vec<f64> = cities.iter().map(|c| c.weight).collect();
        let mut rng = Prng::new(7, sim_core::rng::Stream::Setup);
        let places: Vec<Point> = (0..3000).map(|_| place(&cities, &w, &mut rng)).collect();
        let cost = Cost::default();
        let cache = CacheSpec::default();
        let mut engines: Vec<Engine> = [
            Index::Geohash { precision: None },
            Index::Geohash { precision: Some(4) },
            Index::Geohash { precision: Some(6) },
            Index::Quadtree { capacity: 50 },
        ]
        .into_iter()
        .map(|ix| Engine::new(ix, Expand::Neighbours, &cache, 24))
        .collect();
        let mut centre = Engine::new(Index::Geohash { precision: None }, Expand::CentreOnly, &cache, 24);
        for (i, p) in places.iter().enumerate() {
            for e in engines.iter_mut().chain(std::iter::once(&mut centre)) {
                e.insert(i as u32, *p);
            }
        }
        let placed: Vec<Placed> = places.iter().map(|&p| Placed::new(p)).collect();
        let (mut missed, mut expected) = (0usize, 0usize);
        for q in 0..300 {
            let at = place(&cities, &w, &mut rng);
            let r = [0.5, 1.0, 2.0, 5.0][q % 4];
            let want = brute(&places, at, r);
            for e in &mut engines {
                // Twice: the second from the cell cache.
                for _ in 0..2 {
                    let (got, _) = e.query(Time(q as u64), at, r, &placed, &cost);
                    assert_eq!(got, want, "{} at {at:?} r {r}", e.index.label());
                }
            }
            let (got, _) = centre.query(Time(0), at, r, &placed, &cost);
            assert!(got.iter().all(|id| want.contains(id)));
            missed += want.len() - got.len();
            expected += want.len();
        }
        assert!(expected > 1000);
        assert!(missed > 0, "the centre cell alone misses businesses across its edges");
        // The cache was used, and the quadtree split.
        assert!(engines[0].cache_stats().unwrap().hits > 0);
        assert!(engines[3].quadtree().unwrap().leaves() > 60);
    }

    /// A business added after the cell was cached is found: inserting invalidates its cells.
    #[test]
    fn an_insert_invalidates_the_cached_cells() {
        let cost = Cost::default();
        let mut e = Engine::new(Index::Geohash { precision: None }, Expand::Neighbours, &CacheSpec::default(), 24);
        let mut places = vec![Placed::new(Point::new(48.85, 2.35))];
        e.insert(0, places[0].at);
        let at = Point::new(48.851, 2.351);
        assert_eq!(e.query(Time(0), at, 1.0, &places, &cost).0, vec![0]);
        places.push(Placed::new(Point::new(48.852, 2.352)));
        e.insert(1, places[1].at);
        let (got, t) = e.query(Time(1), at, 1.0, &places, &cost);
        assert_eq!(got, vec![0, 1]);
        // One cell was re-read from the index (a miss), the other 8 came from the cache.
        assert_eq!(t, Duration::from_nanos(200_000 + 1_000_000 + 8 * 20_000 + 2 * 2_000));
    }

    #[test]
    fn the_oracle_counts_missing_and_extra_results() {
        let places = vec![Point::new(0.0, 0.0), Point::new(0.0, 0.005), Point::new(0.0, 1.0)];
        let at = Point::new(0.0, 0.0);
        let mut oracle = Oracle::new(&places);
        let mut judge = |seen, got: &[u64]| oracle.judge(seen, at, 1.0, got);
        assert_eq!(judge(3, &[0, 1]), Judged { expected: 2, found: 2, extra: 0 });
        assert_eq!(judge(3, &[0]), Judged { expected: 2, found: 1, extra: 0 });
        assert_eq!(judge(3, &[0, 1, 2]), Judged { expected: 2, found: 2, extra: 1 });
        // A business the server had not applied yet is not expected, and is extra if returned.
        assert_eq!(judge(1, &[0]), Judged { expected: 1, found: 1, extra: 0 });
        assert_eq!(judge(1, &[0, 1]), Judged { expected: 1, found: 1, extra: 1 });
        // An id answered twice counts once; an id of no business is extra (once).
        assert_eq!(judge(3, &[1, 0, 1, 9, 9, 0]), Judged { expected: 2, found: 2, extra: 1 });
        assert_eq!(judge(3, &[]), Judged { expected: 2, found: 0, extra: 0 });
    }

    /// The oracle's latitude band loses nothing: on clustered businesses (and the antimeridian),
    /// at every radius, it expects exactly what a scan of every business finds.
    #[test]
    fn the_oracle_expects_what_a_scan_of_every_business_finds() {
        let cities = paris();
        let w: Vec<f64> = cities.iter().map(|c| c.weight).collect();
        let mut rng = Prng::new(3, sim_core::rng::Stream::Setup);
        let places: Vec<Point> = (0..3000).map(|_| place(&cities, &w, &mut rng)).collect();
        let mut oracle = Oracle::new(&places);
        let mut within = 0;
        for (i, &at) in places.iter().enumerate().step_by(37) {
            for r in [0.05, 0.5, 2.0, 5.0, 30.0] {
                let seen = (i as u32 * 7) % 3001;
                let all: Vec<u64> = brute(&places[..seen as usize], at, r).into_iter().map(u64::from).collect();
                let j = oracle.judge(seen, at, r, &all);
                assert_eq!(
                    j,
                    Judged { expected: all.len() as u64, found: all.len() as u64, extra: 0 },
                    "at {at:?} r {r}"
                );
                within += all.len();
            }
        }
        assert!(within > 1000, "the searches find businesses: {within}");
    }
}
