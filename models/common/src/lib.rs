//! # common: domain parts shared by simctl models
//!
//! Three small, pure data structures with no simulation in them, so they can be unit-tested alone
//! and reused by any model:
//!
//! - [`ring::Ring`]: consistent hashing with virtual nodes. Every server owns `weight * vnodes`
//!   tokens on a 64-bit ring; a key belongs to the first token at or after its hash, and its
//!   preference list is the first `n` *distinct* servers met walking clockwise from there.
//!   Invariant: the walk from any token visits every server exactly once, so a preference list never
//!   names a server twice, and the fallback order (sloppy quorum) is the rest of the same walk.
//! - [`vclock::VClock`]: vector clocks. Invariant: `compare` is a partial order; two versions are
//!   siblings exactly when neither clock descends from the other.
//! - [`merkle::MerkleTree`]: a binary hash tree over a fixed number of leaf buckets. Invariant: two
//!   trees built from the same contents have equal roots, and [`merkle::MerkleTree::diff`] returns
//!   exactly the leaves whose hashes differ, visiting only subtrees whose hashes differ.
//!
//! All hashing is [`mix64`] (splitmix64): deterministic across platforms and runs, which is what a
//! simulator needs (not cryptographic strength).

pub mod merkle;
pub mod ring;
pub mod vclock;

pub use sim_core::rng::{hash_combine, mix64};
