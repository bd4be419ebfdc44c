//! Disks: every node has one, with its own latency. A synced write is durable only when the disk says
//! so; buffered writes sit in the page cache until the next flush.

use crate::dist::Dist;
use crate::time::Duration;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// ```ron
/// disk: (latency: LogNormal(median: "2ms", sigma: 0.5), flush_interval: "5s", nodes: {3: Constant("40ms")}),
/// ```
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DiskSpec {
    /// Time for a synced write (write + fsync). Writes on one disk complete in order.
    #[serde(default = "default_latency")]
    pub latency: Dist,
    /// How often the page cache is flushed to disk.
    #[serde(default = "default_flush")]
    pub flush_interval: Duration,
    /// Per-node overrides of `latency` (a slow disk).
    #[serde(default)]
    pub nodes: BTreeMap<u32, Dist>,
}

fn default_latency() -> Dist {
    Dist::Constant(Duration::from_millis(1))
}
fn default_flush() -> Duration {
    Duration::from_secs(5)
}

impl Default for DiskSpec {
    fn default() -> Self {
        DiskSpec { latency: default_latency(), flush_interval: default_flush(), nodes: BTreeMap::new() }
    }
}

impl DiskSpec {
    pub fn validate(&self, node_count: usize) -> Vec<(String, String)> {
        let mut e = Vec::new();
        if let Err(m) = self.latency.validate() {
            e.push(("disk.latency".into(), m));
        }
        if self.flush_interval.0 == 0 {
            e.push(("disk.flush_interval".into(), "must be positive".into()));
        }
        for (n, d) in &self.nodes {
            if *n as usize >= node_count {
                e.push((format!("disk.nodes[{n}]"), format!("unknown node {n}")));
            }
            if let Err(m) = d.validate() {
                e.push((format!("disk.nodes[{n}]"), m));
            }
        }
        e
    }

    pub(crate) fn latency_of(&self, node: u32) -> &Dist {
        self.nodes.get(&node).unwrap_or(&self.latency)
    }
}
