//! The network: per-link latency (per message kind), loss, duplication, bandwidth, a bound on messages
//! in flight, partitions, and the transport (datagrams, or connections that keep send order).
//!
//! **Partitions and messages in flight.** A message is dropped if its link is cut when it is sent *or*
//! when it would arrive: a partition behaves like a pulled cable, so what is on the wire when the cut
//! starts is lost, and nothing sent during the cut arrives after the heal.
//!
//! **Transports.** With `Datagram` every message takes its own latency sample, so a later message
//! can overtake an earlier one between the same two nodes (UDP, or a network of independent
//! requests). With `Connection` each ordered pair of nodes `(src, dst)` is one connection, as TCP
//! gives: a message arrives at `max(its own sampled arrival, the previous arrival on the
//! connection)`, so it never overtakes an earlier one, and the first message of a burst keeps the
//! latency distribution's shape. A crash of either end closes the connection: what was in flight on
//! it is dropped, and the next message opens a new one (which waits for nothing from the old).

use crate::actor::NodeId;
use crate::dist::Dist;
use crate::time::Time;
use crate::topology::Topology;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// The network section of a scenario.
///
/// ```ron
/// network: (
///     transport: Connection,
///     link: (latency: LogNormal(median: "1ms", sigma: 0.4), loss: 0.001),
///     between_zones: Some((latency: Normal(mean: "40ms", stddev: "5ms"))),
///     zone_links: [(from: "us-east", to: "eu", link: (latency: Constant("80ms")))],
/// ),
/// ```
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NetworkSpec {
    /// `Connection` (in order per pair of nodes) or `Datagram`; `None`: the model's own
    /// (`Model::TRANSPORT`, what its real system runs on).
    #[serde(default)]
    pub transport: Option<Transport>,
    /// Every pair of nodes, unless overridden.
    #[serde(default)]
    pub link: LinkSpec,
    /// Pairs in different zones.
    #[serde(default)]
    pub between_zones: Option<LinkSpec>,
    /// One direction between two named zones (most specific; wins over the two above).
    #[serde(default)]
    pub zone_links: Vec<ZoneLink>,
}

/// How messages travel between two nodes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum Transport {
    /// Every message on its own (UDP-like): a later message may overtake an earlier one.
    #[default]
    Datagram,
    /// One connection per ordered pair of nodes (TCP-like): delivered in send order; a crash of
    /// either end drops what was in flight and opens a new connection.
    Connection,
}

impl NetworkSpec {
    /// This spec with the transport filled in: its own, else `default` (the model's).
    pub fn with_default_transport(&self, default: Transport) -> NetworkSpec {
        NetworkSpec { transport: Some(self.transport.unwrap_or(default)), ..self.clone() }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ZoneLink {
    pub from: String,
    pub to: String,
    pub link: LinkSpec,
}

/// One direction of a link.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LinkSpec {
    #[serde(default = "default_latency")]
    pub latency: Dist,
    /// Latency per message kind (`Message::kind`), e.g. `{"put_ack": Constant("200us")}`.
    #[serde(default)]
    pub legs: BTreeMap<String, Dist>,
    /// Probability that a message is lost.
    #[serde(default)]
    pub loss: f64,
    /// Probability that a message is delivered twice (the copy takes its own latency; on a
    /// connection it arrives after the original, like an application-level resend).
    #[serde(default)]
    pub duplicate: f64,
    /// Link bandwidth: a message occupies the link for `size / bandwidth` before its latency starts.
    #[serde(default)]
    pub bandwidth_mbps: Option<f64>,
    /// At most this many messages in flight on the link; more are dropped (a full queue).
    #[serde(default)]
    pub max_in_flight: Option<u32>,
}

fn default_latency() -> Dist {
    Dist::Constant(crate::time::Duration::from_micros(500))
}

impl Default for LinkSpec {
    fn default() -> Self {
        LinkSpec {
            latency: default_latency(),
            legs: BTreeMap::new(),
            loss: 0.0,
            duplicate: 0.0,
            bandwidth_mbps: None,
            max_in_flight: None,
        }
    }
}

fn check_probability(errors: &mut Vec<(String, String)>, path: String, p: f64) {
    if !(0.0..=1.0).contains(&p) {
        errors.push((path, format!("a probability must be within [0, 1], got {p}")));
    }
}

impl LinkSpec {
    fn validate(&self, path: &str, errors: &mut Vec<(String, String)>) {
        if let Err(e) = self.latency.validate() {
            errors.push((format!("{path}.latency"), e));
        }
        for (kind, d) in &self.legs {
            if let Err(e) = d.validate() {
                errors.push((format!("{path}.legs[\"{kind}\"]"), e));
            }
        }
        check_probability(errors, format!("{path}.loss"), self.loss);
        check_probability(errors, format!("{path}.duplicate"), self.duplicate);
        if let Some(b) = self.bandwidth_mbps
            && !(b.is_finite() && b > 0.0)
        {
            errors.push((format!("{path}.bandwidth_mbps"), format!("must be a positive number, got {b}")));
        }
        if self.max_in_flight == Some(0) {
            errors.push((format!("{path}.max_in_flight"), "must be at least 1".into()));
        }
    }
}

impl NetworkSpec {
    pub fn validate(&self, topo: &Topology) -> Vec<(String, String)> {
        let mut errors = Vec::new();
        self.link.validate("network.link", &mut errors);
        if let Some(l) = &self.between_zones {
            l.validate("network.between_zones", &mut errors);
        }
        for (i, zl) in self.zone_links.iter().enumerate() {
            let path = format!("network.zone_links[{i}]");
            for (field, zone) in [("from", &zl.from), ("to", &zl.to)] {
                if topo.zone_index(zone).is_none() {
                    errors.push((
                        format!("{path}.{field}"),
                        format!("unknown zone `{zone}` (zones: {})", topo.zone_names.join(", ")),
                    ));
                }
            }
            zl.link.validate(&format!("{path}.link"), &mut errors);
        }
        errors
    }
}

/// A link's resolved parameters.
#[derive(Clone, Debug)]
pub(crate) struct Link {
    pub latency: Dist,
    pub legs: Vec<(String, Dist)>,
    pub loss: f64,
    pub duplicate: f64,
    /// Nanoseconds per byte on the wire.
    pub ns_per_byte: Option<f64>,
    pub max_in_flight: Option<u32>,
}

impl Link {
    fn from_spec(s: &LinkSpec) -> Link {
        Link {
            latency: s.latency.clone(),
            legs: s.legs.iter().map(|(k, d)| (k.clone(), d.clone())).collect(),
            loss: s.loss,
            duplicate: s.duplicate,
            ns_per_byte: s.bandwidth_mbps.map(|mbps| 8_000.0 / mbps),
            max_in_flight: s.max_in_flight,
        }
    }

    #[inline]
    pub fn latency_for(&self, kind: &str) -> &Dist {
        if !self.legs.is_empty() {
            for (k, d) in &self.legs {
                if k == kind {
                    return d;
                }
            }
        }
        &self.latency
    }
}

/// Links between every pair of zones (a zones x zones table).
#[derive(Clone, Debug)]
pub(crate) struct LinkTable {
    zones: usize,
    links: Vec<Link>,
    /// Whether any link needs per-pair state (bandwidth, an in-flight bound, or a connection).
    pub stateful: bool,
    /// Connections: messages between two nodes keep their send order.
    pub fifo: bool,
}

impl LinkTable {
    pub fn new(spec: &NetworkSpec, topo: &Topology) -> LinkTable {
        let z = topo.zone_names.len();
        let mut links = Vec::with_capacity(z * z);
        for a in 0..z {
            for b in 0..z {
                let s = match &spec.between_zones {
                    Some(bz) if a != b => bz,
                    _ => &spec.link,
                };
                links.push(Link::from_spec(s));
            }
        }
        // Zone links override their pair, the last one listed winning (one pass, not one per pair).
        for zl in &spec.zone_links {
            if let (Some(a), Some(b)) = (topo.zone_index(&zl.from), topo.zone_index(&zl.to)) {
                links[a as usize * z + b as usize] = Link::from_spec(&zl.link);
            }
        }
        let fifo = spec.transport == Some(Transport::Connection);
        let stateful = fifo || links.iter().any(|l| l.ns_per_byte.is_some() || l.max_in_flight.is_some());
        LinkTable { zones: z, links, stateful, fifo }
    }

    /// The index of the link from `from_zone` to `to_zone`, for [`LinkTable::at`]: a send looks
    /// its link up once and reads it twice (before and after its loss draws), by index.
    #[inline]
    pub fn index(&self, from_zone: u16, to_zone: u16) -> usize {
        from_zone as usize * self.zones + to_zone as usize
    }

    #[inline]
    pub fn at(&self, index: usize) -> &Link {
        &self.links[index]
    }
}

/// What the kernel keeps per ordered pair of nodes `(src, dst)` that has talked (only when some link
/// has a bandwidth or an in-flight bound, or the transport is `Connection`).
#[derive(Default, Clone, Copy, Debug)]
pub(crate) struct Pipe {
    /// Bandwidth: the link is busy sending until then.
    pub free_at: Time,
    /// Messages in flight (with `max_in_flight`).
    pub in_flight: u32,
    /// Connection: the incarnations of `(src, dst)` when it opened; a crash of either end opens a
    /// new one.
    pub opened: (u32, u32),
    /// Connection: the latest arrival scheduled on it.
    pub last_arrival: Time,
    /// Connection, debug builds: the send time of the last message delivered on it.
    pub delivered_sent: Time,
}

impl Pipe {
    /// When a message that would arrive at `sampled` on connection `ends` (the incarnations of both
    /// ends now) arrives: never before the previous message on the same connection.
    #[inline]
    pub fn connection_arrival(&mut self, ends: (u32, u32), sampled: Time) -> Time {
        if self.opened != ends {
            self.opened = ends;
            self.last_arrival = Time::ZERO;
            self.delivered_sent = Time::ZERO;
        }
        let at = sampled.max(self.last_arrival);
        self.last_arrival = at;
        at
    }

    /// Asserts that a message sent at `sent` is delivered after every message delivered before it
    /// on this connection was sent: a connection never reorders.
    pub fn assert_in_order(&mut self, sent: Time) {
        assert!(
            sent >= self.delivered_sent,
            "connection reordered: a message sent at {sent} delivered after one sent at {}",
            self.delivered_sent
        );
        self.delivered_sent = sent;
    }
}

/// The pipes of the ordered pairs of nodes that have talked, by `(src, dst)`: an open-addressing
/// table (linear probing over keys hashed with `mix64`) that is looked up and never iterated, so
/// its layout cannot reach the run. It replaced a `BTreeMap<(u32, u32), Pipe>`, whose tree walk per
/// send was most of the kernel's cost with 100,000 clients (1.6 M pairs); a slot costs 48 bytes
/// (the key and the pipe), at most 7/8 of the slots are full.
///
/// A world of at most `DENSE_NODES_MAX` nodes keeps its pipes in a dense `nodes x nodes` array
/// instead (at most 128 x 128 x 40 bytes = 640 KiB, made at the first send): the lookup is an
/// index, not a hash and a probe (~55 instructions per send on `dynamo_10k`). A pair that never
/// talked reads there as a fresh pipe, which is what `entry` would make of it.
#[derive(Default)]
pub(crate) struct PipeTable {
    /// `(src << 32) | dst`, or `EMPTY`.
    keys: Vec<u64>,
    pipes: Vec<Pipe>,
    len: usize,
    /// The node count of a dense table (0: none); pairs of nodes below it live in `dense`.
    dense_nodes: u32,
    /// By `src * dense_nodes + dst`; empty until the first pipe.
    dense: Vec<Pipe>,
}

impl PipeTable {
    /// No pair has it: `dst` would be `u32::MAX`, which the kernel never sends to (not a node).
    const EMPTY: u64 = u64::MAX;

    #[inline]
    fn key(src: NodeId, dst: NodeId) -> u64 {
        ((src.0 as u64) << 32) | dst.0 as u64
    }

    /// Where the probe for `key` starts. The table must have slots.
    #[inline(always)]
    fn home(&self, key: u64) -> usize {
        crate::rng::mix64(key) as usize & (self.keys.len() - 1)
    }

    /// The slot of `key`, or the empty slot where it would go. The table must have a free slot.
    #[inline]
    fn slot(&self, key: u64) -> usize {
        let mask = self.keys.len() - 1;
        let mut i = self.home(key);
        loop {
            let k = self.keys[i];
            if k == key || k == Self::EMPTY {
                return i;
            }
            i = (i + 1) & mask;
        }
    }

    /// The largest world whose pipes are kept in a dense array.
    pub const DENSE_NODES_MAX: usize = 128;

    /// The bytes the table holds for a world of `nodes` nodes of which `pairs` ordered pairs
    /// talk: the dense array, or the hashed table's slots (a power of two, at most 7/8 full, each
    /// a key and a pipe). The table it outgrew is freed after the copy, and what grows later
    /// reuses it, so it is not counted.
    pub fn bytes(nodes: f64, pairs: f64) -> f64 {
        let pipe = std::mem::size_of::<Pipe>() as f64;
        if nodes <= Self::DENSE_NODES_MAX as f64 {
            return nodes * nodes * pipe;
        }
        let mut slots = 64.0;
        while pairs * 8.0 > slots * 7.0 {
            slots *= 2.0;
        }
        slots * (pipe + std::mem::size_of::<u64>() as f64)
    }

    /// A table for a world of `nodes` nodes: dense if there are at most `DENSE_NODES_MAX`.
    pub fn new(nodes: usize) -> PipeTable {
        let dense_nodes = if nodes <= Self::DENSE_NODES_MAX { nodes as u32 } else { 0 };
        PipeTable { dense_nodes, ..PipeTable::default() }
    }

    /// The index of `(src, dst)` in the dense array, if both are below its node count.
    #[inline(always)]
    fn dense_index(&self, src: NodeId, dst: NodeId) -> Option<usize> {
        let n = self.dense_nodes;
        (src.0 < n && dst.0 < n).then(|| src.0 as usize * n as usize + dst.0 as usize)
    }

    /// Starts loading where `(src, dst)`'s pipe is, or would go: its dense entry, or the first
    /// slot its probe reads (only a hint; see [`crate::hint`]).
    #[inline]
    pub fn prefetch(&self, src: NodeId, dst: NodeId) {
        if let Some(i) = self.dense_index(src, dst) {
            if let Some(p) = self.dense.get(i) {
                crate::hint::prefetch(p);
            }
        } else if !self.keys.is_empty() {
            let i = self.home(Self::key(src, dst));
            crate::hint::prefetch(&self.keys[i]);
            crate::hint::prefetch(&self.pipes[i]);
        }
    }

    /// The pipe of `(src, dst)`, if it has one.
    #[inline]
    pub fn get_mut(&mut self, src: NodeId, dst: NodeId) -> Option<&mut Pipe> {
        if let Some(i) = self.dense_index(src, dst) {
            return self.dense.get_mut(i);
        }
        if self.len == 0 {
            return None;
        }
        let key = Self::key(src, dst);
        let i = self.slot(key);
        if self.keys[i] == key { Some(&mut self.pipes[i]) } else { None }
    }

    /// The pipe of `(src, dst)`, a new one if it had none.
    #[inline]
    pub fn entry(&mut self, src: NodeId, dst: NodeId) -> &mut Pipe {
        debug_assert!(dst.0 != u32::MAX, "a pipe to no node");
        if let Some(i) = self.dense_index(src, dst) {
            if self.dense.is_empty() {
                let n = self.dense_nodes as usize;
                self.dense = vec![Pipe::default(); n * n];
            }
            return &mut self.dense[i];
        }
        if (self.len + 1) * 8 > self.keys.len() * 7 {
            self.grow();
        }
        let key = Self::key(src, dst);
        let i = self.slot(key);
        if self.keys[i] != key {
            self.keys[i] = key;
            self.pipes[i] = Pipe::default();
            self.len += 1;
        }
        &mut self.pipes[i]
    }

    #[cold]
    fn grow(&mut self) {
        let slots = (self.keys.len() * 2).max(64);
        let keys = std::mem::replace(&mut self.keys, vec![Self::EMPTY; slots]);
        let pipes = std::mem::replace(&mut self.pipes, vec![Pipe::default(); slots]);
        for (k, p) in keys.into_iter().zip(pipes) {
            if k != Self::EMPTY {
                let i = self.slot(k);
                self.keys[i] = k;
                self.pipes[i] = p;
            }
        }
    }

    /// How many pairs have a pipe in the hashed table (the dense array's are not counted).
    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.len
    }
}

/// The shape of a partition, as written in a fault schedule.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub enum PartitionSpec {
    /// The node hears nobody and nobody hears it.
    Isolate(u32),
    /// Nodes listed in different groups cannot talk. Nodes not listed (clients, usually) reach all.
    Split(Vec<Vec<u32>>),
    /// Messages from `from` to `to` are lost; the other direction works ("`to` does not hear `from`").
    OneWay { from: Vec<u32>, to: Vec<u32> },
    /// `left` and `right` cannot talk, but both talk to `bridge`.
    Bridge { left: Vec<u32>, bridge: u32, right: Vec<u32> },
    /// Servers on a ring each see a majority of servers, and no two see the same majority (Jepsen).
    MajoritiesRing,
}

/// An active partition, resolved for fast checks.
#[derive(Clone, Debug)]
pub(crate) enum Cut {
    Isolate(NodeId),
    /// Group label per node (0 = not listed).
    Groups(Vec<u32>),
    OneWay {
        from: Vec<bool>,
        to: Vec<bool>,
    },
    Ring {
        servers: u32,
        reach: u32,
    },
}

impl Cut {
    pub fn resolve(spec: &PartitionSpec, topo: &Topology) -> Cut {
        let n = topo.node_count();
        let mark = |ids: &[u32]| {
            let mut v = vec![false; n];
            for &i in ids {
                v[i as usize] = true;
            }
            v
        };
        match spec {
            PartitionSpec::Isolate(node) => Cut::Isolate(NodeId(*node)),
            PartitionSpec::Split(groups) => {
                let mut label = vec![0u32; n];
                for (g, members) in groups.iter().enumerate() {
                    for &m in members {
                        label[m as usize] = g as u32 + 1;
                    }
                }
                Cut::Groups(label)
            }
            PartitionSpec::OneWay { from, to } => Cut::OneWay { from: mark(from), to: mark(to) },
            PartitionSpec::Bridge { left, bridge: _, right } => {
                let mut label = vec![0u32; n];
                for &m in left {
                    label[m as usize] = 1;
                }
                for &m in right {
                    label[m as usize] = 2;
                }
                Cut::Groups(label)
            }
            PartitionSpec::MajoritiesRing => {
                let s = topo.servers.len() as u32;
                let majority = s / 2 + 1;
                Cut::Ring { servers: s, reach: (majority - 1).div_ceil(2) }
            }
        }
    }

    /// Whether this cut drops a message from `a` to `b`.
    #[inline]
    pub fn blocks(&self, a: NodeId, b: NodeId) -> bool {
        if a == b {
            return false;
        }
        match self {
            Cut::Isolate(n) => a == *n || b == *n,
            Cut::Groups(label) => {
                let (la, lb) = (label[a.index()], label[b.index()]);
                la != 0 && lb != 0 && la != lb
            }
            Cut::OneWay { from, to } => from[a.index()] && to[b.index()],
            Cut::Ring { servers, reach } => {
                if a.0 >= *servers || b.0 >= *servers {
                    return false;
                }
                let d = a.0.abs_diff(b.0);
                d.min(servers - d) > *reach
            }
        }
    }
}

impl PartitionSpec {
    /// Unknown nodes, and nodes listed twice (in one group or in two: a node belongs to one side).
    pub fn validate(&self, path: &str, topo: &Topology, errors: &mut Vec<(String, String)>) {
        // (field, node, side) in file order; a node may appear once per side.
        let mut listed: Vec<(String, u32, u8)> = Vec::new();
        let mut list = |side: u8, field: &dyn Fn(usize) -> String, ids: &[u32]| {
            listed.extend(ids.iter().enumerate().map(|(k, &id)| (field(k), id, side)));
        };
        match self {
            PartitionSpec::Isolate(id) => list(0, &|_| format!("{path}.Isolate"), &[*id]),
            PartitionSpec::Split(groups) => {
                for (g, members) in groups.iter().enumerate() {
                    list(0, &|k| format!("{path}.Split[{g}][{k}]"), members);
                }
            }
            PartitionSpec::OneWay { from, to } => {
                list(0, &|k| format!("{path}.from[{k}]"), from);
                list(1, &|k| format!("{path}.to[{k}]"), to);
            }
            PartitionSpec::Bridge { left, bridge, right } => {
                list(0, &|k| format!("{path}.left[{k}]"), left);
                list(0, &|_| format!("{path}.bridge"), &[*bridge]);
                list(0, &|k| format!("{path}.right[{k}]"), right);
            }
            PartitionSpec::MajoritiesRing => {
                if topo.servers.len() < 3 {
                    errors.push((path.to_string(), "MajoritiesRing needs at least 3 servers".into()));
                }
            }
        }
        let n = topo.node_count() as u32;
        let max = crate::scenario::PROBLEMS_PER_LIST_MAX;
        let (mut unknown, mut twice) = (0usize, 0usize);
        let mut first: std::collections::BTreeMap<(u8, u32), usize> = std::collections::BTreeMap::new();
        for (i, (field, id, side)) in listed.iter().enumerate() {
            if *id >= n {
                if unknown < max {
                    errors.push((
                        field.clone(),
                        format!("unknown node {id} (the cluster has nodes 0..{})", n.saturating_sub(1)),
                    ));
                }
                unknown += 1;
            } else if let Some(&j) = first.get(&(*side, *id)) {
                if twice < max {
                    errors.push((field.clone(), format!("node {id} is listed twice (also at {})", listed[j].0)));
                }
                twice += 1;
            } else {
                first.insert((*side, *id), i);
            }
        }
        for (count, what) in [(unknown, "unknown nodes"), (twice, "nodes listed twice")] {
            if count > max {
                errors.push((path.to_string(), format!("{count} {what} in all (the first {max} are listed)")));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn blocked_pairs(spec: PartitionSpec, topo: &Topology) -> Vec<(u32, u32)> {
        let cut = Cut::resolve(&spec, topo);
        let mut v = Vec::new();
        for a in topo.nodes() {
            for b in topo.nodes() {
                if cut.blocks(a, b) {
                    v.push((a.0, b.0));
                }
            }
        }
        v
    }

    #[test]
    fn isolate_cuts_both_directions() {
        let t = Topology::simple(3, 0);
        assert_eq!(blocked_pairs(PartitionSpec::Isolate(1), &t), [(0, 1), (1, 0), (1, 2), (2, 1)]);
    }

    #[test]
    fn split_leaves_unlisted_nodes_connected() {
        let t = Topology::simple(4, 1);
        let b = blocked_pairs(PartitionSpec::Split(vec![vec![0, 1], vec![2, 3]]), &t);
        assert_eq!(b, [(0, 2), (0, 3), (1, 2), (1, 3), (2, 0), (2, 1), (3, 0), (3, 1)]);
    }

    #[test]
    fn one_way_cuts_one_direction() {
        let t = Topology::simple(3, 0);
        assert_eq!(blocked_pairs(PartitionSpec::OneWay { from: vec![0], to: vec![1, 2] }, &t), [(0, 1), (0, 2)]);
    }

    #[test]
    fn bridge_talks_to_both_sides() {
        let t = Topology::simple(5, 0);
        let b = blocked_pairs(PartitionSpec::Bridge { left: vec![0, 1], bridge: 2, right: vec![3, 4] }, &t);
        assert!(!b.iter().any(|&(x, y)| x == 2 || y == 2));
        assert!(b.contains(&(0, 3)) && b.contains(&(4, 1)));
        assert_eq!(b.len(), 8);
    }

    #[test]
    fn a_connection_message_never_arrives_before_the_one_in_front() {
        let mut pipe = Pipe::default();
        let sampled = [5, 3, 8, 2, 20];
        let got: Vec<u64> = sampled.iter().map(|&t| pipe.connection_arrival((0, 0), Time(t)).0).collect();
        assert_eq!(got, [5, 5, 8, 8, 20], "a message waits only for the one in front");
        // A crash of either end opens a new connection: nothing to wait for.
        assert_eq!(pipe.connection_arrival((1, 0), Time(4)), Time(4));
        assert_eq!(pipe.connection_arrival((1, 1), Time(1)), Time(1));
    }

    #[test]
    fn the_pipe_table_keeps_one_pipe_per_ordered_pair() {
        // Against a BTreeMap: 20,000 random entries over 3,000 pairs, through several growths.
        let mut table = PipeTable::default();
        let mut reference: BTreeMap<(u32, u32), u32> = BTreeMap::new();
        let mut rng = crate::rng::Prng::new(3, crate::rng::Stream::Setup);
        for step in 0..20_000u32 {
            let (a, b) = (rng.below(60) as u32, rng.below(50) as u32 * 1_000_003 % 4_000_000_000);
            let (src, dst) = (NodeId(a), NodeId(b));
            if rng.chance(0.3) {
                let got = table.get_mut(src, dst).map(|p| p.in_flight);
                assert_eq!(got, reference.get(&(a, b)).copied(), "step {step}: ({a}, {b})");
            } else {
                table.entry(src, dst).in_flight = step;
                reference.insert((a, b), step);
            }
        }
        assert_eq!(table.len(), reference.len());
        for (&(a, b), &v) in &reference {
            assert_eq!(table.get_mut(NodeId(a), NodeId(b)).map(|p| p.in_flight), Some(v));
        }
        assert!(table.get_mut(NodeId(u32::MAX - 1), NodeId(7)).is_none());
    }

    #[test]
    fn a_dense_table_keeps_the_same_pipes_as_a_hashed_one() {
        // Pairs inside the dense array's nodes and beyond them (an injected sender, say), against
        // the hashed table alone.
        let mut dense = PipeTable::new(40);
        let mut hashed = PipeTable::default();
        let mut rng = crate::rng::Prng::new(5, crate::rng::Stream::Setup);
        for step in 0..20_000u32 {
            let (a, b) = (rng.below(50) as u32, rng.below(45) as u32);
            let (src, dst) = (NodeId(a), NodeId(b));
            if rng.chance(0.3) {
                let want = hashed.get_mut(src, dst).map(|p| p.in_flight);
                let got = dense.get_mut(src, dst).map(|p| p.in_flight);
                // A pair that never talked reads as a fresh pipe in the dense array.
                assert_eq!(got.filter(|_| want.is_some()), want, "step {step}: ({a}, {b})");
                assert!(want.is_some() || got.is_none_or(|v| v == 0), "step {step}: ({a}, {b})");
            } else {
                dense.entry(src, dst).in_flight = step;
                hashed.entry(src, dst).in_flight = step;
            }
        }
        assert_eq!(dense.dense.len(), 40 * 40);
        assert!(dense.len() > 0 && dense.len() < hashed.len(), "pairs beyond node 40 are hashed");
        assert!(PipeTable::new(PipeTable::DENSE_NODES_MAX + 1).dense_nodes == 0);
    }

    #[test]
    fn the_pipe_tables_bytes_are_what_it_holds() {
        // The cost estimate's figure against the slots the table made, at counts on both sides
        // of a growth, and the dense array's size.
        let slot = (std::mem::size_of::<Pipe>() + std::mem::size_of::<u64>()) as f64;
        for pairs in [1u32, 56, 57, 1_000, 7_168, 7_169, 50_000] {
            let mut table = PipeTable::new(PipeTable::DENSE_NODES_MAX + 1);
            for i in 0..pairs {
                table.entry(NodeId(i % 997), NodeId(1_000 + i / 997));
            }
            assert_eq!(table.len(), pairs as usize);
            let held = table.keys.len() as f64 * slot;
            assert_eq!(table.pipes.len(), table.keys.len());
            assert_eq!(PipeTable::bytes(200.0, pairs as f64), held, "{pairs} pairs");
        }
        let mut dense = PipeTable::new(100);
        dense.entry(NodeId(3), NodeId(4));
        let held = (dense.dense.len() * std::mem::size_of::<Pipe>()) as f64;
        assert_eq!(PipeTable::bytes(100.0, 1.0), held);
    }

    #[test]
    fn in_order_deliveries_pass_the_assertion() {
        let mut pipe = Pipe::default();
        for sent in [1, 2, 2, 7] {
            pipe.assert_in_order(Time(sent));
        }
    }

    #[test]
    #[should_panic(expected = "connection reordered")]
    fn a_reordered_delivery_trips_the_assertion() {
        let mut pipe = Pipe::default();
        pipe.assert_in_order(Time(5));
        pipe.assert_in_order(Time(4));
    }

    #[test]
    fn the_model_transport_is_the_default_and_the_scenario_wins() {
        let spec = NetworkSpec::default();
        assert_eq!(spec.with_default_transport(Transport::Connection).transport, Some(Transport::Connection));
        let spec = NetworkSpec { transport: Some(Transport::Datagram), ..Default::default() };
        assert_eq!(spec.with_default_transport(Transport::Connection).transport, Some(Transport::Datagram));
        let table = LinkTable::new(&spec.with_default_transport(Transport::Connection), &Topology::simple(2, 0));
        assert!(!table.fifo && !table.stateful, "datagrams without bandwidth keep no per-pair state");
        let table = LinkTable::new(
            &NetworkSpec::default().with_default_transport(Transport::Connection),
            &Topology::simple(2, 0),
        );
        assert!(table.fifo && table.stateful);
    }

    #[test]
    fn majorities_ring_gives_each_node_a_different_majority() {
        let t = Topology::simple(5, 0);
        let cut = Cut::resolve(&PartitionSpec::MajoritiesRing, &t);
        let mut seen = Vec::new();
        for a in t.nodes() {
            let visible: Vec<u32> = t.nodes().filter(|&b| !cut.blocks(a, b)).map(|b| b.0).collect();
            assert_eq!(visible.len(), 3, "node {a} sees {visible:?}");
            assert!(!seen.contains(&visible));
            seen.push(visible);
        }
    }
}
