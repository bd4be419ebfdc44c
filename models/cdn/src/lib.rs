//! # cdn: viewers, points of presence by zone, an optional origin shield, an origin
//!
//! A content delivery network wired from the `parts` crate ([`parts::cdn`]): viewers in each zone
//! fetch objects (video segments, images: a numbered catalog, each object with its size) from
//! their zone's PoP servers; each PoP server is a read-through cache with a byte capacity and a
//! TTL, coalescing its viewers' misses; on a miss it fetches from the origin shield (a mid-tier
//! cache in the origin's zone) when there is one, or straight from the origin servers.
//!
//! The question it answers is what the shield buys. Each PoP misses on its own: without a shield
//! a popular object costs the origin one fetch per PoP per TTL, and the long tail of the catalog
//! (objects each PoP sees too rarely to keep) goes to the origin from every zone. With a shield the
//! PoPs' misses meet in one cache, so the origin sees about one fetch per object per TTL: the
//! origin's load (`origin_requests_per_s`) falls, at the price of one more hop on a shield miss.
//!
//! Op: `get` (the workload's key is the object). Outcomes: `Ok` with the object's size
//! (`Reply::Value`); `Fail` when a tier refused or a fetch failed; `Timeout`; `Rejected` when no
//! PoP could be asked.
//!
//! Check `right_objects`: every `Ok` get returned the size of the object it asked for (a cache
//! that mixed keys up, or served a partial object, fails it). Measures: hit ratio per tier
//! (`edge_hit_ratio`, `shield_hit_ratio`, and per zone `edge_hit_ratio.<zone>`), byte hit ratios,
//! coalesced misses per tier, `origin_requests` and `origin_requests_per_s`, `offload` (the share
//! of the viewers' requests the origin never saw); tables of the hit ratio per tier and of the
//! origin's requests per second over time.

use parts::cache::{self, ReadPathSpec};
use parts::calls::{CallPolicy, CallTimer};
use parts::cdn::{CacheTier, CdnSpec, CdnStats, Got, Layout, Origin, Role, Viewer};
use parts::pool::PoolTimer;
use serde::{Deserialize, Serialize};
use sim_core::cost::count;
use sim_core::metrics::HistoryEntry;
use sim_core::{
    Actor, Axis, Check, Ctx, Model, ModelReport, NodeId, Op, OpId, Outcome, Prng, Reply, RunView, Table, Topology,
};
use std::collections::BTreeMap;

/// ```ron
/// config: (
///     cdn: (origin_zone: Some("us"), edge: (cache: (capacity: Bytes(2000000000), ttl: Some("60s")),
///           single_flight: true), shield: None, catalog: (objects: 20000)),
///     call: (timeout: "5s"),
/// )
/// ```
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    pub cdn: CdnSpec,
    /// How a viewer calls its PoP.
    pub call: CallPolicy,
}

parts::wire! {
    /// Everything a node of this design sends.
    pub enum Msg { Cdn(parts::cdn::Msg) }
}
parts::wire! {
    timers pub enum Timer { Call(CallTimer), Pool(PoolTimer) }
}

pub enum Node {
    Viewer(Box<Viewer<OpId>>),
    Pop(Box<CacheTier>),
    Shield(Box<CacheTier>),
    Origin(Box<Origin>),
}

fn complete(ctx: &mut Ctx<'_, Node>, got: Option<Got<OpId>>) {
    if let Some((done, size)) = got {
        parts::calls::complete(ctx, done, size);
    }
}

impl Actor for Node {
    type Msg = Msg;
    type Timer = Timer;
    type Record = ();

    fn on_start(&mut self, _: &mut Ctx<'_, Self>) {}

    fn on_msg(&mut self, ctx: &mut Ctx<'_, Self>, from: NodeId, msg: Msg) {
        let Msg::Cdn(m) = msg;
        match self {
            Node::Viewer(v) => {
                let got = v.on_msg(ctx, m);
                complete(ctx, got);
            }
            Node::Pop(t) | Node::Shield(t) => t.on_msg(ctx, from, m),
            Node::Origin(o) => o.on_msg(ctx, from, m),
        }
    }

    fn on_timer(&mut self, ctx: &mut Ctx<'_, Self>, timer: Timer) {
        match (self, timer) {
            (Node::Viewer(v), Timer::Call(t)) => {
                let got = v.on_timer(ctx, t);
                complete(ctx, got);
            }
            (Node::Pop(p) | Node::Shield(p), Timer::Call(t)) => p.on_timer(ctx, t),
            (Node::Origin(o), Timer::Pool(t)) => o.on_timer(ctx, t),
            _ => {}
        }
    }

    fn on_op(&mut self, ctx: &mut Ctx<'_, Self>, op: Op) {
        match self {
            Node::Viewer(v) => {
                let got = v.get(ctx, op.key, op.id);
                complete(ctx, got);
            }
            _ => ctx.complete(op.id, Outcome::Rejected, Reply::None),
        }
    }
}

pub struct Cdn;

impl Model for Cdn {
    const TRANSPORT: sim_core::net::Transport = sim_core::net::Transport::Connection;
    const CHECKS: &'static [&'static str] = &["right_objects"];
    const NAME: &'static str = "cdn";
    const ABOUT: &'static str =
        "CDN: PoPs by zone over an optional origin shield over an origin; hit ratio per tier, origin load";
    const OP_KINDS: &'static [&'static str] = &["get"];
    type Config = Config;
    type Actor = Node;

    fn validate(c: &Config, topo: &Topology) -> Vec<(String, String)> {
        let mut e = c.cdn.validate("config.cdn", topo);
        e.extend(c.call.validate("config.call"));
        e
    }

    /// The caches: each PoP holds the objects its zone asked for (the zone's share of the
    /// operations over the catalog's keys, uniform: an upper bound of the distinct objects under
    /// Zipf), at most its capacity (entries, or bytes over the mean object's size); the shield
    /// the distinct objects of every zone. ~160 B an entry (its B-tree entry, expiry and LRU
    /// records; [`cache::ENTRY_BYTES`]). Per viewer its calls and a ring of its zone's PoPs (64
    /// vnodes each). Events: a response per operation, 2 per edge miss (to the shield or origin
    /// and back), 3 more per shield miss (the origin's pool timer). Measured on a variant of
    /// `cdn_shield.ron` (300,000 objects of 1-2 kB, uniform keys, 30,000 gets/s for 10 s): 103 MB
    /// used over a tiny run, 46 MB of it the kernel's estimate; 2.1 M events.
    fn footprint(c: &Config, topo: &Topology, load: &sim_core::cost::Load) -> sim_core::cost::Footprint {
        let ops = load.total();
        let Ok(layout) = Layout::new(topo, &c.cdn) else { return sim_core::cost::Footprint::default() };
        let cat = &c.cdn.catalog;
        let keys = load.keys.min(cat.objects as f64).max(1.0);
        let mean_size = (cat.size_min + cat.size_max) as f64 / 2.0;
        let capacity = |spec: &ReadPathSpec| spec.cache.capacity.entries(mean_size.max(1.0));
        // Distinct objects of `n` gets over the keys, uniform.
        let distinct = |n: f64| sim_core::cost::distinct_among(keys, n);
        let zones = layout.pops.iter().filter(|p| !p.is_empty()).count().max(1) as f64;
        let windows = |spec: &ReadPathSpec| spec.cache.ttl.map_or(1.0, |t| load.times_every(t).max(1.0));
        let mut edge_entries = 0.0;
        let mut edge_misses = 0.0;
        for pops in layout.pops.iter().filter(|p| !p.is_empty()) {
            let asked = distinct(ops / zones);
            edge_entries += asked.min(pops.len() as f64 * capacity(&c.cdn.edge));
            let w = windows(&c.cdn.edge);
            edge_misses += (w * distinct(ops / zones / w)).min(ops / zones);
        }
        let (mut shield_entries, mut shield_misses) = (0.0, 0.0);
        if let Some(s) = &c.cdn.shield {
            shield_entries = distinct(edge_misses).min(capacity(s));
            let w = windows(s);
            shield_misses = (w * distinct(edge_misses / w)).min(edge_misses);
        }
        let origin_calls = if c.cdn.shield.is_some() { shield_misses } else { edge_misses };
        let viewers = topo.clients.len() as f64;
        let pops_per_zone = topo.servers.len() as f64 / zones;
        let entries = edge_entries + shield_entries;
        sim_core::cost::Footprint {
            events: ops + edge_misses * 2.0 + shield_misses * 2.0 + origin_calls,
            queued: load.in_flight * 4.0,
            ..Default::default()
        }
        .part(format!("caches: {} entries x 160 B", count(entries)), entries * cache::ENTRY_BYTES)
        .part(
            format!("viewers: {} x (1 kB + a ring of {pops_per_zone:.0} PoPs x 64 vnodes x 16 B)", count(viewers)),
            viewers * (1_000.0 + pops_per_zone * 64.0 * 16.0),
        )
        .part(format!("requests in flight: {} x 4 hops x 200 B", count(load.in_flight)), load.in_flight * 800.0)
    }

    fn factory(c: &Config, topo: &Topology, _setup: &mut Prng) -> Box<dyn FnMut(NodeId) -> Node> {
        let layout = Layout::new(topo, &c.cdn).expect("validated");
        let c = c.clone();
        let topo = topo.clone();
        Box::new(move |n| {
            if topo.is_client(n) {
                let pops = &layout.pops[topo.zone_of(n) as usize];
                return Node::Viewer(Box::new(Viewer::new(pops, c.call.clone())));
            }
            let spec = &c.cdn;
            match layout.role(n).expect("every server has a role") {
                Role::Pop { .. } => Node::Pop(Box::new(CacheTier::new(
                    "edge",
                    spec.edge.clone(),
                    &layout.pop_upstream(),
                    spec.fetch.clone(),
                ))),
                Role::Shield => Node::Shield(Box::new(CacheTier::new(
                    "shield",
                    spec.shield.clone().expect("a shield node has a shield spec"),
                    &layout.origins,
                    spec.fetch.clone(),
                ))),
                Role::Origin => Node::Origin(Box::new(Origin::new(spec.origin.clone(), spec.catalog.clone()))),
            }
        })
    }

    fn report(c: &Config, run: &RunView<'_, Node>) -> ModelReport {
        report(c, run)
    }
}

/// `Ok` gets whose size is not their object's: `(judged, wrong, first wrong)`.
pub fn wrong_objects(
    history: &[HistoryEntry],
    size_of: impl Fn(u64) -> Option<u64>,
) -> (u64, u64, Option<&HistoryEntry>) {
    let ok: Vec<&HistoryEntry> = history.iter().filter(|h| h.outcome == Some(Outcome::Ok)).collect();
    let wrong: Vec<&&HistoryEntry> = ok
        .iter()
        .filter(|h| {
            let got = match h.reply {
                Reply::Value(v) => Some(v),
                _ => None,
            };
            got != size_of(h.key)
        })
        .collect();
    (ok.len() as u64, wrong.len() as u64, wrong.first().map(|h| **h))
}

fn report(c: &Config, run: &RunView<'_, Node>) -> ModelReport {
    let mut r = ModelReport::default();
    let topo = run.topology();
    let catalog = &c.cdn.catalog;
    let (judged, wrong, first) = wrong_objects(run.history(), |k| catalog.size(k));
    let detail = match first {
        Some(h) => format!(
            "{wrong} of {judged} gets returned the wrong object; first: object {} answered {:?} (its size is {:?})",
            h.key,
            h.reply,
            catalog.size(h.key)
        ),
        None => format!("{judged} gets, each answered with its object"),
    };
    r.checks.push(
        Check::judged("right_objects", judged, "gets")
            .violations(wrong, "wrong object")
            .detail(detail)
            .blame_ops(first),
    );

    let mut all = CdnStats::default();
    let mut by_zone: BTreeMap<u16, CdnStats> = BTreeMap::new();
    for (n, node) in run.servers() {
        match node {
            Node::Pop(t) => {
                all.add_edge(t);
                by_zone.entry(topo.zone_of(n)).or_default().add_edge(t);
            }
            Node::Shield(t) => all.add_shield(t),
            Node::Origin(o) => all.add_origin(o),
            Node::Viewer(_) => {}
        }
    }
    let metrics = run.sim.metrics();
    // The origin's count from the kernel survives crashes; the pools' own count does not.
    let origin_requests = metrics.scoped_counter("origin", "requests");
    let elapsed = run.main_end.as_secs_f64().max(1e-9);
    let m = &mut r.measures;
    m.insert("edge_requests".into(), all.edge.requests as f64);
    m.insert("edge_hit_ratio".into(), all.edge_cache.hit_ratio());
    m.insert("edge_byte_hit_ratio".into(), all.edge.byte_hit_ratio());
    m.insert("edge_coalesced".into(), all.edge_path.coalesced as f64);
    m.insert("edge_fetches".into(), all.edge_path.fetches as f64);
    m.insert("edge_evictions".into(), all.edge_cache.evictions as f64);
    for (z, s) in &by_zone {
        m.insert(format!("edge_hit_ratio.{}", topo.zone_names[*z as usize]), s.edge_cache.hit_ratio());
    }
    if c.cdn.shield.is_some() {
        m.insert("shield_requests".into(), all.shield.requests as f64);
        m.insert("shield_hit_ratio".into(), all.shield_cache.hit_ratio());
        m.insert("shield_byte_hit_ratio".into(), all.shield.byte_hit_ratio());
        m.insert("shield_coalesced".into(), all.shield_path.coalesced as f64);
    }
    m.insert("origin_requests".into(), origin_requests as f64);
    m.insert("origin_requests_per_s".into(), origin_requests as f64 / elapsed);
    m.insert(
        "offload".into(),
        if all.edge.requests == 0 { 0.0 } else { 1.0 - origin_requests as f64 / all.edge.requests as f64 },
    );

    let mut tiers = vec![("edge", "edge")];
    if c.cdn.shield.is_some() {
        tiers.push(("shield", "shield"));
    }
    r.tables.push(parts::cache::hit_ratio_table(metrics, "hit ratio per tier", &tiers));
    let interval = metrics.interval.as_secs_f64();
    let rows = metrics
        .scoped_counter_series("origin", "requests")
        .iter()
        .enumerate()
        .map(|(i, n)| vec![i as f64 * interval, *n as f64 / interval])
        .collect();
    r.tables.push(
        Table::new("origin requests per second", ["t_s", "origin_requests_per_s"], rows)
            .over_time(&["origin_requests_per_s"], Axis::new("origin requests", "/s")),
    );
    r
}

#[cfg(test)]
mod tests {
    use super::*;
    use sim_core::Time;

    fn get(key: u64, outcome: Outcome, reply: Reply) -> HistoryEntry {
        HistoryEntry {
            op: OpId::new(key),
            client: NodeId(9),
            kind: 0,
            key,
            value: 0,
            attempt: 1,
            invoke: Time(1),
            complete: Some(Time(2)).into(),
            outcome: Some(outcome),
            reply,
        }
    }

    #[test]
    fn a_get_answered_with_another_objects_size_is_wrong() {
        let size = |k: u64| (k < 10).then_some(100 + k);
        let h = vec![
            get(1, Outcome::Ok, Reply::Value(101)),
            get(2, Outcome::Ok, Reply::Value(103)), // another object's size
            get(3, Outcome::Fail, Reply::None),     // failed: not judged
            get(20, Outcome::Ok, Reply::None),      // not in the catalog, answered "not found"
        ];
        let (judged, wrong, first) = wrong_objects(&h, size);
        assert_eq!((judged, wrong, first.map(|h| h.key)), (3, 1, Some(2)));
    }
}
