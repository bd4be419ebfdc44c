//! Who is in the cluster: servers, clients, zones. Node ids are dense: servers first, then clients.

use crate::actor::NodeId;
use serde::{Deserialize, Serialize};

/// ```ron
/// topology: (servers: 8, clients: 4, zones: [("us-east", 4), ("us-west", 4)]),
/// ```
/// Zones list how many servers each holds, in id order; clients are spread over the zones in turn.
/// Without zones every node is in one zone.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TopologySpec {
    pub servers: u32,
    #[serde(default = "one")]
    pub clients: u32,
    #[serde(default)]
    pub zones: Vec<(String, u32)>,
}

/// At most this many zones: links are a zones x zones table (65,536 links at the limit).
pub const ZONES_MAX: usize = 256;

fn one() -> u32 {
    1
}

impl Default for TopologySpec {
    fn default() -> Self {
        TopologySpec { servers: 3, clients: 1, zones: Vec::new() }
    }
}

/// The resolved topology the kernel and the models see.
#[derive(Clone, Debug)]
pub struct Topology {
    pub servers: Vec<NodeId>,
    pub clients: Vec<NodeId>,
    pub zone_names: Vec<String>,
    zone_of: Vec<u16>,
}

impl Topology {
    pub fn from_spec(spec: &TopologySpec) -> Result<Topology, Vec<(String, String)>> {
        let mut errors = Vec::new();
        if spec.servers == 0 && spec.clients == 0 {
            errors.push(("topology.servers".into(), "a cluster needs at least one node".into()));
        }
        let total = spec.servers as u64 + spec.clients as u64;
        if total > 10_000_000 {
            errors.push(("topology".into(), format!("{total} nodes is more than the limit of 10,000,000")));
        }
        if !spec.zones.is_empty() {
            let sum: u64 = spec.zones.iter().map(|z| z.1 as u64).sum();
            if sum != spec.servers as u64 {
                errors.push((
                    "topology.zones".into(),
                    format!("zones hold {sum} servers in all, but topology.servers is {}", spec.servers),
                ));
            }
            if spec.zones.len() > ZONES_MAX {
                errors.push((
                    "topology.zones".into(),
                    format!(
                        "{} zones is more than the limit of {ZONES_MAX} (the network keeps a link per pair of zones)",
                        spec.zones.len()
                    ),
                ));
            }
            // Every name once: a set, so a file with a huge zone list is checked in n log n.
            let mut seen = std::collections::BTreeSet::new();
            let mut reported = 0;
            for (i, (name, _)) in spec.zones.iter().enumerate() {
                if !seen.insert(name.as_str()) && reported < crate::scenario::PROBLEMS_PER_LIST_MAX {
                    reported += 1;
                    errors.push((format!("topology.zones[{i}]"), format!("zone `{name}` is listed twice")));
                }
            }
        }
        if !errors.is_empty() {
            return Err(errors);
        }
        Ok(Topology::build(spec))
    }

    fn build(spec: &TopologySpec) -> Topology {
        let servers: Vec<NodeId> = (0..spec.servers).map(NodeId).collect();
        let clients: Vec<NodeId> = (spec.servers..spec.servers + spec.clients).map(NodeId).collect();
        let mut zone_of = Vec::with_capacity((spec.servers + spec.clients) as usize);
        let zone_names = if spec.zones.is_empty() {
            zone_of.resize((spec.servers + spec.clients) as usize, 0);
            vec!["default".to_string()]
        } else {
            for (z, (_, n)) in spec.zones.iter().enumerate() {
                zone_of.extend(std::iter::repeat_n(z as u16, *n as usize));
            }
            for c in 0..spec.clients {
                zone_of.push((c as usize % spec.zones.len()) as u16);
            }
            spec.zones.iter().map(|z| z.0.clone()).collect()
        };
        Topology { servers, clients, zone_names, zone_of }
    }

    /// A topology of `servers` servers and `clients` clients in one zone.
    pub fn simple(servers: u32, clients: u32) -> Topology {
        Topology::build(&TopologySpec { servers, clients, zones: Vec::new() })
    }

    pub fn node_count(&self) -> usize {
        self.zone_of.len()
    }
    pub fn nodes(&self) -> impl Iterator<Item = NodeId> + '_ {
        (0..self.node_count() as u32).map(NodeId)
    }
    pub fn is_server(&self, n: NodeId) -> bool {
        (n.0 as usize) < self.servers.len()
    }
    pub fn is_client(&self, n: NodeId) -> bool {
        !self.is_server(n) && n.index() < self.node_count()
    }
    pub fn contains(&self, n: NodeId) -> bool {
        n.index() < self.node_count()
    }
    pub fn zone_of(&self, n: NodeId) -> u16 {
        self.zone_of[n.index()]
    }
    pub fn zone_index(&self, name: &str) -> Option<u16> {
        self.zone_names.iter().position(|z| z == name).map(|i| i as u16)
    }
}
