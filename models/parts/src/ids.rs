//! Identifiers: the snowflake layout (41 bits of milliseconds since an epoch, 5 of datacenter, 5 of
//! machine, 12 of sequence) and base 62 (the short codes of a URL shortener, `0-9a-zA-Z`).
//!
//! A snowflake ID sorts by its millisecond, then by the issuing machine, then by its sequence; a
//! generator that reads its clock past [`TIMESTAMP_MAX`] (about 69.7 years after the epoch) must
//! refuse rather than wrap to the epoch. The generator itself (clock guards, waits, refusals) is a
//! design's protocol; this module is only the bit layout every design that stamps IDs shares.

pub const TIMESTAMP_BITS: u32 = 41;
pub const DATACENTER_BITS: u32 = 5;
pub const MACHINE_BITS: u32 = 5;
pub const SEQUENCE_BITS: u32 = 12;
pub const SEQUENCE_MAX: u64 = (1 << SEQUENCE_BITS) - 1;
pub const FIELD_MAX: u32 = (1 << DATACENTER_BITS) - 1;
/// The last millisecond 41 bits hold (2^41 - 1, about 69.7 years after the epoch).
pub const TIMESTAMP_MAX: u64 = (1 << TIMESTAMP_BITS) - 1;

/// A snowflake ID from its four fields (datacenter, machine and sequence masked to their widths).
/// The timestamp must fit its 41 bits: a generator refuses past [`TIMESTAMP_MAX`].
pub fn compose(ms: u64, datacenter: u64, machine: u64, sequence: u64) -> u64 {
    assert!(ms <= TIMESTAMP_MAX, "timestamp {ms} ms does not fit {TIMESTAMP_BITS} bits");
    (ms << (DATACENTER_BITS + MACHINE_BITS + SEQUENCE_BITS))
        | ((datacenter & FIELD_MAX as u64) << (MACHINE_BITS + SEQUENCE_BITS))
        | ((machine & FIELD_MAX as u64) << SEQUENCE_BITS)
        | (sequence & SEQUENCE_MAX)
}

/// `(ms, datacenter, machine, sequence)` of an ID.
pub fn decompose(id: u64) -> (u64, u64, u64, u64) {
    (
        id >> (DATACENTER_BITS + MACHINE_BITS + SEQUENCE_BITS),
        (id >> (MACHINE_BITS + SEQUENCE_BITS)) & FIELD_MAX as u64,
        (id >> SEQUENCE_BITS) & FIELD_MAX as u64,
        id & SEQUENCE_MAX,
    )
}

/// The 62 symbols: digits, lower case, upper case.
pub const ALPHABET: &[u8; 62] = b"0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ";

/// `n` in base 62, most significant symbol first ("0" for zero).
pub fn base62(mut n: u64) -> String {
    if n == 0 {
        return "0".into();
    }
    let mut out = Vec::new();
    while n > 0 {
        out.push(ALPHABET[(n % 62) as usize]);
        n /= 62;
    }
    out.reverse();
    String::from_utf8(out).expect("ASCII")
}

/// The number a base-62 string stands for (`None` for a foreign symbol or overflow).
pub fn from_base62(s: &str) -> Option<u64> {
    s.bytes().try_fold(0u64, |acc, b| {
        let d = ALPHABET.iter().position(|&a| a == b)? as u64;
        acc.checked_mul(62)?.checked_add(d)
    })
}

/// Symbols `base62(n)` has.
pub fn base62_len(n: u64) -> u32 {
    let mut len = 1;
    let mut n = n / 62;
    while n > 0 {
        len += 1;
        n /= 62;
    }
    len
}

/// 62 to the power `chars`: how many codes of that length exist.
pub fn code_space(chars: u32) -> u64 {
    62u64.saturating_pow(chars)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn snowflake_fields_round_trip_and_sort_by_time() {
        let id = compose(TIMESTAMP_MAX, 31, 7, SEQUENCE_MAX);
        assert_eq!(decompose(id), (TIMESTAMP_MAX, 31, 7, SEQUENCE_MAX));
        assert!(compose(5, 0, 0, 0) > compose(4, 31, 31, SEQUENCE_MAX));
    }

    #[test]
    #[should_panic(expected = "does not fit")]
    fn a_timestamp_past_41_bits_is_refused_not_wrapped() {
        compose(TIMESTAMP_MAX + 1, 0, 0, 0);
    }

    #[test]
    fn base62_round_trips_and_matches_the_notes() {
        assert_eq!(base62(0), "0");
        assert_eq!(base62(61), "Z");
        assert_eq!(base62(62), "10");
        // The notes' example: 11157 -> "2TX".
        assert_eq!(base62(11157), "2TX");
        for n in [1u64, 12345, 56644, 3_521_614_606_207, u64::MAX] {
            assert_eq!(from_base62(&base62(n)), Some(n));
            assert_eq!(base62(n).len() as u32, base62_len(n));
        }
        // 7 symbols cover 62^7 - 1 = 3.5 trillion; a 64-bit snowflake ID needs 11.
        assert_eq!(base62_len(code_space(7) - 1), 7);
        assert_eq!(base62_len(code_space(7)), 8);
        assert_eq!(base62_len(compose(1 << 40, 1, 1, 0)), 11);
    }
}
