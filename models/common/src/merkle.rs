//! A Merkle tree over a fixed number of leaf buckets, for anti-entropy between replicas.

use crate::hash_combine;

/// A complete binary tree in heap layout: node 0 is the root, node `i` has children `2i+1` and
/// `2i+2`, and the last `leaves` nodes are the leaf buckets.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MerkleTree {
    leaves: usize,
    nodes: Vec<u64>,
}

impl MerkleTree {
    /// A tree over `leaf_hashes` (their count must be a power of two).
    pub fn from_leaves(leaf_hashes: &[u64]) -> MerkleTree {
        let leaves = leaf_hashes.len();
        assert!(leaves.is_power_of_two(), "leaf count {leaves} is not a power of two");
        let mut nodes = vec![0u64; 2 * leaves - 1];
        nodes[leaves - 1..].copy_from_slice(leaf_hashes);
        for i in (0..leaves - 1).rev() {
            nodes[i] = Self::node(nodes[2 * i + 1], nodes[2 * i + 2]);
        }
        MerkleTree { leaves, nodes }
    }

    /// The root of the tree over `leaf_hashes` (`from_leaves(leaf_hashes).root()`), without the
    /// tree: an anti-entropy round compares roots only, and a tree built for each range it
    /// compares cost an allocation and a copy of the leaves besides the hashing.
    pub fn root_of(leaf_hashes: &[u64]) -> u64 {
        assert!(leaf_hashes.len().is_power_of_two(), "leaf count {} is not a power of two", leaf_hashes.len());
        Self::subtree_root(leaf_hashes)
    }

    fn subtree_root(leaves: &[u64]) -> u64 {
        match leaves {
            [leaf] => *leaf,
            _ => {
                let (left, right) = leaves.split_at(leaves.len() / 2);
                Self::node(Self::subtree_root(left), Self::subtree_root(right))
            }
        }
    }

    /// An inner node's hash from its children's.
    fn node(left: u64, right: u64) -> u64 {
        hash_combine(hash_combine(0x4D45_524B, left), right)
    }

    /// A tree over `(bucket, item hash)` pairs: each leaf is the XOR of its items' hashes, so the
    /// order items arrive in does not matter.
    pub fn build(leaves: usize, items: impl IntoIterator<Item = (usize, u64)>) -> MerkleTree {
        let mut l = vec![0u64; leaves];
        for (b, h) in items {
            l[b] ^= h;
        }
        MerkleTree::from_leaves(&l)
    }

    pub fn root(&self) -> u64 {
        self.nodes[0]
    }
    pub fn leaf_count(&self) -> usize {
        self.leaves
    }
    pub fn leaf_hashes(&self) -> &[u64] {
        &self.nodes[self.leaves - 1..]
    }
    pub fn node_count(&self) -> usize {
        self.nodes.len()
    }

    /// The leaves where `self` and `other` differ, found top-down: a subtree with equal hashes is
    /// never entered. Also returns how many node pairs were compared.
    pub fn diff(&self, other: &MerkleTree) -> (Vec<usize>, usize) {
        assert_eq!(self.leaves, other.leaves, "trees of different shapes");
        let mut out = Vec::new();
        let mut compared = 0;
        let mut stack = vec![0usize];
        while let Some(i) = stack.pop() {
            compared += 1;
            if self.nodes[i] == other.nodes[i] {
                continue;
            }
            if i >= self.leaves - 1 {
                out.push(i - (self.leaves - 1));
            } else {
                stack.push(2 * i + 2);
                stack.push(2 * i + 1);
            }
        }
        out.sort_unstable();
        (out, compared)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mix64;

    fn tree(items: &[(u64, u64)]) -> MerkleTree {
        MerkleTree::build(16, items.iter().map(|&(k, v)| ((mix64(k) % 16) as usize, mix64(k ^ mix64(v)))))
    }

    #[test]
    fn root_of_is_the_root_of_the_tree() {
        for leaves in [1, 2, 4, 16, 64, 1024] {
            for seed in 0..5u64 {
                let l: Vec<u64> = (0..leaves as u64).map(|i| mix64(i ^ (seed << 32))).collect();
                assert_eq!(MerkleTree::root_of(&l), MerkleTree::from_leaves(&l).root(), "{leaves} leaves");
            }
            let zeros = vec![0; leaves];
            assert_eq!(MerkleTree::root_of(&zeros), MerkleTree::from_leaves(&zeros).root());
        }
        // A changed leaf anywhere changes the root.
        let l: Vec<u64> = (0..16).map(mix64).collect();
        for i in 0..16 {
            let mut m = l.clone();
            m[i] ^= 1;
            assert_ne!(MerkleTree::root_of(&m), MerkleTree::root_of(&l), "leaf {i}");
        }
    }

    #[test]
    fn equal_contents_equal_roots_in_any_order() {
        let a: Vec<(u64, u64)> = (0..100).map(|k| (k, k * 7)).collect();
        let mut b = a.clone();
        b.reverse();
        assert_eq!(tree(&a).root(), tree(&b).root());
        let (d, compared) = tree(&a).diff(&tree(&b));
        assert!(d.is_empty());
        assert_eq!(compared, 1, "equal roots: one comparison");
    }

    #[test]
    fn diff_finds_exactly_the_changed_buckets() {
        let a: Vec<(u64, u64)> = (0..100).map(|k| (k, k * 7)).collect();
        let mut b = a.clone();
        b[42].1 = 1; // changed value
        b.retain(|e| e.0 != 77); // missing key
        let (d, compared) = tree(&a).diff(&tree(&b));
        let mut want = vec![(mix64(42) % 16) as usize, (mix64(77) % 16) as usize];
        want.sort_unstable();
        want.dedup();
        assert_eq!(d, want);
        assert!(compared < tree(&a).node_count(), "{compared} comparisons: the walk skipped equal subtrees");
    }
}
