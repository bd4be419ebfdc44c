//! The shortener's own arithmetic: the hash scheme's truncated codes. (Base 62 and the snowflake
//! layout are `parts::ids`, the Bloom filter `parts::bloom`, the read cache `parts::cache`.)

use parts::ids::code_space;
use sim_core::rng::mix64;

/// The hash scheme's short code of a long URL: a hash truncated to `chars` base-62 symbols. `salt`
/// counts the rehashes after collisions (the notes' "append a predefined string and hash again").
pub fn truncated_hash(long: u64, salt: u32, chars: u32) -> u64 {
    mix64(long ^ (salt as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ 0xC0DE) % code_space(chars)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn truncated_hash_stays_in_its_space() {
        for long in 0..1000 {
            assert!(truncated_hash(long, 0, 3) < 238_328);
            assert_ne!(truncated_hash(long, 0, 7), truncated_hash(long, 1, 7));
        }
    }
}
