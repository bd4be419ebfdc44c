//! The design's protocol pieces that need no world: the upload's chunk map (the notes' MD5 +
//! bitmap), the presigned token, the object ids of segments, the adaptive-bitrate rule and the
//! client's playback buffer. Each is unit-tested here.

use serde::{Deserialize, Serialize};
use sim_core::rng::mix64;
use sim_core::{Duration, Time};

/// Uploaded videos are numbered from here (catalog videos below it).
pub const UPLOAD_BASE: u64 = 1 << 32;

/// Most chunks an upload may have (the bitmap is a `u64`).
pub const MAX_CHUNKS: u32 = 64;

/// The MD5 the client computes for chunk `idx` of `video` (payloads are not modelled: the
/// fingerprint is a hash of the chunk's identity, so two sends of one chunk carry one MD5).
pub fn chunk_md5(video: u64, idx: u32) -> u64 {
    mix64(video.rotate_left(17) ^ (idx as u64 + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15))
}

/// The presigned upload token for session `session` of `video`: an HMAC over both with the
/// secret that the video service and the object store share (the store recomputes it; the client
/// cannot forge one).
pub fn presign(video: u64, session: u32) -> u64 {
    const SECRET: u64 = 0x5EC2_E7A1_1CE5_0001;
    mix64(mix64(video ^ SECRET) ^ session as u64)
}

/// The bitmap of all `chunks` chunks.
pub fn all_chunks(chunks: u32) -> u64 {
    if chunks >= 64 { u64::MAX } else { (1u64 << chunks) - 1 }
}

/// Chunks of `all` not in `have`, in order.
pub fn missing(have: u64, chunks: u32) -> impl Iterator<Item = u32> {
    (0..chunks).filter(move |i| have & (1 << i) == 0)
}

/// What the object store keeps for one upload: the current session (a non-resumable restart is
/// a new session that replaces the partial upload), the bitmap of chunks it holds and their
/// MD5s, and every chunk it ever received (to count chunks sent again after they had arrived).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ChunkMap {
    pub chunks: u32,
    pub session: u32,
    pub have: u64,
    pub md5: Vec<u64>,
    pub ever: u64,
    /// Receipts of a chunk the store had received before (in any session).
    pub dup_receipts: u32,
    pub complete: bool,
    /// When the store first held every chunk (set by the store; true time, for the checks).
    pub completed_at: Option<Time>,
}

/// What a chunk did to the map.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ChunkIn {
    /// Stored; `true` when it completed the upload (the first time).
    Stored(bool),
    /// A chunk of an older session, or out of range: refused.
    Refused,
}

impl ChunkMap {
    pub fn new(chunks: u32) -> ChunkMap {
        ChunkMap { chunks, md5: vec![0; chunks as usize], ..ChunkMap::default() }
    }

    /// Chunk `idx` of session `session` with its MD5 arrived.
    pub fn put(&mut self, session: u32, idx: u32, md5: u64) -> ChunkIn {
        if session < self.session || idx >= self.chunks {
            return ChunkIn::Refused;
        }
        if session > self.session {
            // A new single-shot upload replaces the partial one.
            self.session = session;
            self.have = 0;
            self.md5.iter_mut().for_each(|m| *m = 0);
        }
        let bit = 1u64 << idx;
        if self.ever & bit != 0 {
            self.dup_receipts += 1;
        }
        self.ever |= bit;
        self.have |= bit;
        self.md5[idx as usize] = md5;
        let done = !self.complete && self.have == all_chunks(self.chunks);
        self.complete |= done;
        ChunkIn::Stored(done)
    }
}

/// The object id of segment `seg` of `video` at bitrate index `b` (what the CDN caches).
pub fn segment_object(video: u64, b: usize, seg: u32) -> u64 {
    debug_assert!(b < 16 && seg < 1 << 12, "bitrate {b} or segment {seg} out of the id's range");
    video << 16 | (b as u64) << 12 | seg as u64
}

/// `(video, bitrate index, segment)` of an object id.
pub fn split_object(object: u64) -> (u64, usize, u32) {
    (object >> 16, ((object >> 12) & 0xF) as usize, (object & 0xFFF) as u32)
}

/// Bytes of one segment at `kbps` lasting `segment`.
pub fn segment_bytes(kbps: u32, segment: Duration) -> u64 {
    (kbps as f64 * 1000.0 / 8.0 * segment.as_secs_f64()).round() as u64
}

/// How the player picks a bitrate for the next segment.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub enum Abr {
    /// The highest bitrate within `safety` times the measured throughput (an EWMA over the
    /// segments so far); the lowest before anything is measured, and whenever the buffer holds
    /// less than `panic_below`.
    Adaptive { safety: f64, panic_below: Duration },
    /// Always the bitrate with this index (the known-bad player).
    Fixed(usize),
}

impl Default for Abr {
    fn default() -> Self {
        Abr::Adaptive { safety: 0.8, panic_below: Duration::from_secs(2) }
    }
}

impl Abr {
    /// The bitrate index for the next segment (`kbps` ascending).
    pub fn choose(&self, kbps: &[u32], throughput_bytes_per_s: Option<f64>, buffer: Duration) -> usize {
        match *self {
            Abr::Fixed(b) => b.min(kbps.len() - 1),
            Abr::Adaptive { safety, panic_below } => {
                let Some(t) = throughput_bytes_per_s else { return 0 };
                if buffer < panic_below {
                    return 0;
                }
                let budget_bps = t * 8.0 * safety;
                kbps.iter().rposition(|&k| k as f64 * 1000.0 <= budget_bps).unwrap_or(0)
            }
        }
    }
}

/// The player's buffer: playback starts with the first segment, drains in real time, and stalls
/// (rebuffers) whenever it runs dry before the next segment is in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Playback {
    pub started: Time,
    /// When the buffer runs dry if nothing more arrives (`None`: nothing played yet).
    pub dry_at: Option<Time>,
    pub startup: Duration,
    pub stall: Duration,
    pub stalls: u32,
}

impl Playback {
    pub fn new(started: Time) -> Playback {
        Playback { started, dry_at: None, startup: Duration::ZERO, stall: Duration::ZERO, stalls: 0 }
    }

    /// A segment of `len` is in at `now`.
    pub fn arrive(&mut self, now: Time, len: Duration) {
        match self.dry_at {
            None => {
                self.startup = now.since(self.started);
                self.dry_at = Some(now + len);
            }
            Some(dry) if now > dry => {
                self.stall = self.stall + now.since(dry);
                self.stalls += 1;
                self.dry_at = Some(now + len);
            }
            Some(dry) => self.dry_at = Some(dry + len),
        }
    }

    /// Seconds of video buffered at `now`.
    pub fn level(&self, now: Time) -> Duration {
        self.dry_at.map_or(Duration::ZERO, |d| if d > now { d.since(now) } else { Duration::ZERO })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_chunk_map_keeps_what_arrived_and_counts_chunks_sent_again() {
        let mut m = ChunkMap::new(4);
        assert_eq!(m.put(0, 0, chunk_md5(7, 0)), ChunkIn::Stored(false));
        assert_eq!(m.put(0, 2, chunk_md5(7, 2)), ChunkIn::Stored(false));
        assert_eq!(missing(m.have, 4).collect::<Vec<_>>(), [1, 3]);
        assert_eq!(m.md5[2], chunk_md5(7, 2));
        // A resumed upload sends only 1 and 3: nothing arrives twice, and the last completes it.
        assert_eq!(m.put(0, 1, 1), ChunkIn::Stored(false));
        assert_eq!(m.put(0, 3, 3), ChunkIn::Stored(true));
        assert_eq!((m.dup_receipts, m.complete), (0, true));
        // A chunk sent again after it arrived is counted; completion is reported once.
        assert_eq!(m.put(0, 3, 3), ChunkIn::Stored(false));
        assert_eq!(m.dup_receipts, 1);
        assert_eq!(m.put(0, 9, 0), ChunkIn::Refused);
    }

    #[test]
    fn a_new_session_replaces_the_partial_upload_and_old_sessions_are_refused() {
        let mut m = ChunkMap::new(3);
        m.put(0, 0, 1);
        m.put(0, 1, 1);
        // Non-resumable: the restart is session 1, and the store starts over.
        assert_eq!(m.put(1, 0, 1), ChunkIn::Stored(false));
        assert_eq!(m.have, 0b001);
        assert_eq!(m.dup_receipts, 1, "chunk 0 had arrived before");
        assert_eq!(m.put(0, 2, 1), ChunkIn::Refused, "a late chunk of the old session");
    }

    #[test]
    fn presigned_tokens_differ_per_video_and_session() {
        assert_eq!(presign(5, 0), presign(5, 0));
        assert_ne!(presign(5, 0), presign(5, 1));
        assert_ne!(presign(5, 0), presign(6, 0));
        assert_eq!(all_chunks(3), 0b111);
        assert_eq!(all_chunks(64), u64::MAX);
    }

    #[test]
    fn segment_ids_round_trip() {
        let o = segment_object(UPLOAD_BASE + 12, 3, 9);
        assert_eq!(split_object(o), (UPLOAD_BASE + 12, 3, 9));
        assert_eq!(segment_bytes(3000, Duration::from_secs(2)), 750_000);
    }

    #[test]
    fn adaptive_bitrate_follows_throughput_and_the_buffer() {
        let kbps = [400, 1200, 3000, 6000];
        let abr = Abr::default();
        let full = Duration::from_secs(8);
        assert_eq!(abr.choose(&kbps, None, full), 0, "nothing measured: the lowest");
        // 5 Mbit/s measured, 0.8 of it is 4 Mbit/s: 3000 kbps fits, 6000 does not.
        assert_eq!(abr.choose(&kbps, Some(625_000.0), full), 2);
        assert_eq!(abr.choose(&kbps, Some(10_000_000.0), full), 3);
        assert_eq!(abr.choose(&kbps, Some(10_000.0), full), 0);
        assert_eq!(abr.choose(&kbps, Some(10_000_000.0), Duration::from_secs(1)), 0, "panic: buffer low");
        assert_eq!(Abr::Fixed(3).choose(&kbps, Some(10.0), Duration::ZERO), 3);
    }

    fn t(s: u64) -> Time {
        Time(s * 1_000_000_000)
    }

    #[test]
    fn the_buffer_stalls_when_a_segment_comes_after_it_ran_dry() {
        let s = Duration::from_secs(2);
        let mut p = Playback::new(Time(0));
        p.arrive(t(1), s); // startup 1 s, plays until 3 s
        assert_eq!(p.startup, Duration::from_secs(1));
        p.arrive(t(2), s); // in time: plays until 5 s
        assert_eq!(p.level(t(2)), Duration::from_secs(3));
        p.arrive(t(7), s); // dry at 5 s: a 2 s stall
        assert_eq!((p.stall, p.stalls), (Duration::from_secs(2), 1));
        assert_eq!(p.dry_at, Some(t(9)));
        assert_eq!(p.level(t(10)), Duration::ZERO);
    }
}
