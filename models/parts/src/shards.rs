//! Keys onto a fixed set of shard nodes by consistent hashing: the project's one ring
//! ([`common::ring::Ring`], virtual nodes, the same ring Dynamo's model and the load balancer's
//! `ConsistentHash` policy use), addressed by node rather than by member index.
//!
//! A design that partitions a keyspace over store nodes (a rate limiter's counters, a shortener's
//! tables) holds one `Shards` and asks [`Shards::owner`] for a key's hash. With `vnodes` tokens per
//! node the most loaded node owns about `1 + O(sqrt(log n / vnodes))` times its fair share.

use common::ring::{Member, Ring};
use sim_core::NodeId;

#[derive(Clone, Debug)]
pub struct Shards {
    ring: Ring,
    nodes: Vec<NodeId>,
}

impl Shards {
    /// `nodes` must not be empty; `vnodes` tokens each (at least 1).
    pub fn new(nodes: &[NodeId], vnodes: u32) -> Shards {
        assert!(!nodes.is_empty(), "a ring needs a node");
        let members: Vec<Member> = (0..nodes.len() as u32).map(|server| Member { server, weight: 1 }).collect();
        Shards { ring: Ring::new(&members, vnodes.max(1)), nodes: nodes.to_vec() }
    }

    /// The node owning `hash`: the first token clockwise from its position.
    #[inline]
    pub fn owner(&self, hash: u64) -> NodeId {
        self.nodes[self.ring.primary(self.ring.range_of(hash)) as usize]
    }

    pub fn nodes(&self) -> &[NodeId] {
        &self.nodes
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_node_owns_a_fair_share_and_owners_are_stable() {
        let nodes: Vec<NodeId> = (10..14).map(NodeId).collect();
        let s = Shards::new(&nodes, 64);
        let mut count = [0u32; 4];
        for k in 0..40_000u64 {
            let o = s.owner(k);
            assert_eq!(o, s.owner(k), "the same key, the same owner");
            count[(o.0 - 10) as usize] += 1;
        }
        for c in count {
            assert!((6_000..14_000).contains(&c), "{count:?}");
        }
        // A fifth node takes keys only from the others, never moves a key between old nodes.
        let more: Vec<NodeId> = (10..15).map(NodeId).collect();
        let t = Shards::new(&more, 64);
        for k in 0..10_000u64 {
            let (a, b) = (s.owner(k), t.owner(k));
            assert!(a == b || b == NodeId(14), "key {k} moved from {a:?} to {b:?}");
        }
    }
}
