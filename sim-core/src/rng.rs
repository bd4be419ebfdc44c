//! Seeded randomness. One `u64` seed; an independent ChaCha8 stream per subsystem and per node, so a
//! new draw in one place never shifts the draws of another.

use crate::math;
use rand::{Rng, RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// Who owns a random stream. Each owner gets its own ChaCha stream from the run's seed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stream {
    /// Latency, loss and duplication draws of the network.
    Network,
    /// Draws faults make while they act (which unsynced writes a power loss tears).
    Faults,
    /// The random nemesis, expanded into a concrete schedule before the run.
    Nemesis,
    /// Arrival times, operation kinds and keys of the workload.
    Workload,
    /// Disk latencies.
    Disk,
    /// The model's own draws on node `n` (through `Ctx::rng`).
    Node(u32),
    /// Scenario-level draws (swarm-mode fault climates, synthetic data a model builds up front).
    Setup,
    /// `simctl explore`'s choices (which candidate to mutate, and how); never used inside a run.
    Explore,
}

impl Stream {
    fn id(self) -> u64 {
        match self {
            Stream::Network => 1,
            Stream::Faults => 2,
            Stream::Workload => 3,
            Stream::Disk => 4,
            Stream::Setup => 5,
            Stream::Nemesis => 6,
            Stream::Explore => 7,
            Stream::Node(n) => (1 << 32) | n as u64,
        }
    }
}

/// The simulation's random number generator: ChaCha8, seeded, one stream per owner.
#[derive(Clone, Debug)]
pub struct Prng(ChaCha8Rng);

impl Prng {
    pub fn new(seed: u64, stream: Stream) -> Prng {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        rng.set_stream(stream.id());
        Prng(rng)
    }

    /// Where this stream is: the number of 32-bit words drawn so far.
    pub fn word_pos(&self) -> u128 {
        self.0.get_word_pos()
    }

    /// Moves this stream to a position `word_pos` returned.
    pub fn set_word_pos(&mut self, pos: u128) {
        self.0.set_word_pos(pos);
    }

    /// Moves this generator to `stream` at word position `pos`: the same generator as
    /// `Prng::new(seed, stream)` moved by `set_word_pos(pos)`, for this generator's own seed (every
    /// stream of a seed shares the ChaCha key; only the nonce differs). No key is derived again
    /// (`seed_from_u64` expands the seed through PCG32) and at most one ChaCha refill is made:
    /// moving to the block boundary first leaves the buffer empty, so the stream change does not
    /// refill it.
    pub(crate) fn switch(&mut self, stream: Stream, pos: u128) {
        self.0.set_word_pos(pos & !15);
        self.0.set_stream(stream.id());
        self.0.set_word_pos(pos);
    }

    /// Uniform in [0, 1).
    #[inline]
    pub fn unit(&mut self) -> f64 {
        // 53 random bits: exact and portable.
        (self.0.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }

    /// True with probability `p`.
    #[inline]
    pub fn chance(&mut self, p: f64) -> bool {
        p > 0.0 && self.unit() < p
    }

    /// Uniform in `0..n`; `n` must be positive. `rand`'s `random_range(0..n)` for `u64` (Canon's
    /// method, its default), written out so it inlines: the high word of one draw times `n`, and
    /// when the low word is within `n` of a carry (probability `n / 2^64`) a second draw's high
    /// word decides the carry. The same draws and results bit for bit (test
    /// `below_is_rand_s_random_range`); the library's generic call cost ~38 instructions a draw,
    /// twice per operation of an open-loop workload (the client and the key).
    #[inline]
    pub fn below(&mut self, n: u64) -> u64 {
        assert!(n > 0, "Prng::below(0)");
        let wide = |x: u64| {
            let p = u128::from(x) * u128::from(n);
            ((p >> 64) as u64, p as u64)
        };
        let (hi, lo) = wide(self.0.next_u64());
        if lo > n.wrapping_neg() {
            let (carry, _) = wide(self.0.next_u64());
            return hi + u64::from(lo.checked_add(carry).is_none());
        }
        hi
    }

    /// Uniform in `lo..=hi`.
    pub fn range_inclusive(&mut self, lo: u64, hi: u64) -> u64 {
        self.0.random_range(lo..=hi)
    }

    #[inline]
    pub fn next_u64(&mut self) -> u64 {
        self.0.next_u64()
    }

    /// Exponential with the given mean.
    #[inline]
    pub fn exp(&mut self, mean: f64) -> f64 {
        -mean * math::ln(1.0 - self.unit())
    }

    /// Standard normal, by the ziggurat method (`ziggurat.rs`; the tables and the tail of
    /// `rand_distr::StandardNormal`). One `u64` gives a layer (its low 8 bits) and a signed
    /// position across it (its high 53 bits); a point inside the layer's inner rectangle (~99% of
    /// draws) is the result, with no `ln`, `sqrt` or `cos` (Box-Muller's, used before, cost ~190
    /// instructions a draw, most of a message's latency draw). The rest go to
    /// [`Prng::std_normal_edge`].
    #[inline]
    pub fn std_normal(&mut self) -> f64 {
        use crate::ziggurat::ZIG_NORM_X as X;
        loop {
            let bits = self.0.next_u64();
            let i = (bits & 0xff) as usize;
            // In [-1, 1), exactly: 53 random bits, doubled, less one.
            let u = 2.0 * ((bits >> 11) as f64 * (1.0 / (1u64 << 53) as f64)) - 1.0;
            let x = u * X[i];
            if x.abs() < X[i + 1] {
                return x;
            }
            if let Some(x) = self.std_normal_edge(i, u, x) {
                return x;
            }
        }
    }

    /// A draw outside layer `i`'s inner rectangle: the tail beyond `R` from the base layer
    /// (Marsaglia's method), else `x` if a point under the layer's wedge falls below the density;
    /// `None`: draw again.
    #[cold]
    #[inline(never)]
    fn std_normal_edge(&mut self, i: usize, u: f64, x: f64) -> Option<f64> {
        use crate::ziggurat::{ZIG_NORM_F as F, ZIG_NORM_R as R};
        if i == 0 {
            loop {
                let t = -math::ln(1.0 - self.unit()) / R;
                let y = -math::ln(1.0 - self.unit());
                if 2.0 * y >= t * t {
                    return Some(if u < 0.0 { -(R + t) } else { R + t });
                }
            }
        }
        (F[i + 1] + (F[i] - F[i + 1]) * self.unit() < math::exp(-x * x / 2.0)).then_some(x)
    }

    /// Picks an index with probability proportional to `weights` (all non-negative, sum positive).
    pub fn weighted(&mut self, weights: &[f64]) -> usize {
        self.weighted_of(weights, weights.iter().sum())
    }

    /// [`Prng::weighted`] with the weights' sum given (`weights.iter().sum()`, computed once by a
    /// caller that draws from the same weights again and again).
    #[inline]
    pub fn weighted_of(&mut self, weights: &[f64], total: f64) -> usize {
        let mut x = self.unit() * total;
        for (i, w) in weights.iter().enumerate() {
            if x < *w {
                return i;
            }
            x -= w;
        }
        weights.len() - 1
    }
}

/// A 64-bit mixer (splitmix64's finaliser): a fixed, portable hash that spreads nearby ids over the
/// whole range. For hashing keys onto rings, shards and filters; not a random stream.
#[inline]
pub fn mix64(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    x ^ (x >> 31)
}

/// Folds `x` into the running hash `h` (order-sensitive).
#[inline]
pub fn hash_combine(h: u64, x: u64) -> u64 {
    mix64(h ^ mix64(x))
}

/// The per-node streams of a world. A ChaCha generator is about 300 bytes, so a million nodes each
/// holding one cost 300 MB. Instead each node keeps only its stream position (8 bytes), and up
/// to 4,096 live generators (64 in worlds of more than 32,768 nodes, below) sit in a
/// direct-mapped cache by node id; a node evicted from the cache
/// is moved back to its saved position when it next draws (`Prng::switch`: the slot's generator
/// keeps the run's key and takes the node's stream and position, one ChaCha refill). Draws are
/// the same either way: a stream's output depends only on (seed, node, position). Worlds of up to
/// 4,096 nodes never evict, and a handler that draws nothing reaches no generator (`Ctx::rng`).
pub(crate) struct NodeStreams {
    /// Word positions, in `u64`: a node would have to draw 2^64 words (64 EiB) to pass it.
    positions: Vec<u64>,
    cache: Vec<(u32, Prng)>,
    mask: usize,
}

const NO_OWNER: u32 = u32::MAX;

/// Past this many nodes the cache has `SMALL_CACHE` slots instead of 4,096. With draws spread
/// over the nodes, 4,096 slots then hit on fewer than one draw in eight, and a miss in a cache of
/// about 1.3 MB waits on the slot's generator in the last-level cache; 64 generators (about 21
/// KB) stay in the first level. PHOLD with the kernel's next-node hint (`simctl bench phold`, the
/// kernel's run time in six rounds each, alternating): 16,384 LPs 0.60-0.62 s with 4,096 slots
/// against 0.66-0.69 s with 64; 32,768 LPs 1.56-1.65 against 1.54-1.63 s (even); 100,000 LPs
/// 1.11-1.18 against 1.03-1.06 s; 1,000,000 LPs 1.89-2.00 against 1.78-1.84 s
/// (docs/performance.md, round thirty-seven).
const SMALL_CACHE_PAST: usize = 32_768;
const SMALL_CACHE: usize = 64;

impl NodeStreams {
    pub fn new(seed: u64, nodes: usize) -> NodeStreams {
        let slots = if nodes > SMALL_CACHE_PAST { SMALL_CACHE } else { nodes.clamp(1, 4096).next_power_of_two() };
        NodeStreams {
            positions: vec![0; nodes],
            cache: (0..slots).map(|_| (NO_OWNER, Prng::new(seed, Stream::Setup))).collect(),
            mask: slots - 1,
        }
    }

    #[inline]
    pub fn get(&mut self, node: u32) -> &mut Prng {
        let slot = node as usize & self.mask;
        if self.cache[slot].0 != node {
            self.load(slot, node);
        }
        &mut self.cache[slot].1
    }

    /// Starts loading what `get(node)` will read (only a hint; see [`crate::hint`]).
    #[inline]
    pub fn prefetch(&self, node: usize) {
        crate::hint::prefetch(&self.positions[node]);
        crate::hint::prefetch(&self.cache[node & self.mask]);
    }

    #[cold]
    fn load(&mut self, slot: usize, node: u32) {
        let (owner, rng) = &mut self.cache[slot];
        if *owner != NO_OWNER {
            self.positions[*owner as usize] = u64::try_from(rng.word_pos()).expect("a node stream past 2^64 words");
        }
        // Every slot's generator has the run's seed (see `new`): only the stream and position move.
        rng.switch(Stream::Node(node), u128::from(self.positions[node as usize]));
        *owner = node;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn node_streams_draw_the_same_with_or_without_eviction() {
        // 10,000 nodes share 4,096 cache slots; compare with one generator per node.
        let n = 10_000u32;
        let mut cached = NodeStreams::new(5, n as usize);
        let mut plain: Vec<Prng> = (0..n).map(|i| Prng::new(5, Stream::Node(i))).collect();
        let mut order = Prng::new(1, Stream::Setup);
        for _ in 0..100_000 {
            let node = order.below(n as u64) as u32;
            assert_eq!(cached.get(node).next_u64(), plain[node as usize].next_u64());
        }
    }

    /// Past 32,768 nodes the cache has 64 slots: a node is evicted between most of its draws.
    #[test]
    fn node_streams_draw_the_same_through_the_small_cache() {
        let n = 40_000u32;
        let mut cached = NodeStreams::new(6, n as usize);
        assert_eq!(cached.cache.len(), SMALL_CACHE);
        let mut plain: Vec<Prng> = (0..n).map(|i| Prng::new(6, Stream::Node(i))).collect();
        let mut order = Prng::new(2, Stream::Setup);
        for _ in 0..200_000 {
            // Mostly nodes drawn at random; one draw in four on one of 40 nodes, so some draw
            // again while still cached.
            let node = if order.below(4) == 0 { order.below(40) } else { order.below(n as u64) } as u32;
            cached.prefetch(node as usize);
            assert_eq!(cached.get(node).next_u64(), plain[node as usize].next_u64());
        }
    }

    #[test]
    fn a_switched_generator_draws_as_a_new_one() {
        // From every offset within a block and across blocks, from a stream part-way drawn.
        let mut moved = Prng::new(9, Stream::Setup);
        for pos in (0..70u128).chain([1_000, 1_024, 1_041, u64::MAX as u128 * 16 + 3]) {
            moved.next_u64();
            moved.switch(Stream::Node(pos as u32 % 7), pos);
            let mut fresh = Prng::new(9, Stream::Node(pos as u32 % 7));
            fresh.set_word_pos(pos);
            for k in 0..40 {
                assert_eq!(moved.next_u64(), fresh.next_u64(), "position {pos}, draw {k}");
            }
            assert_eq!(moved.word_pos(), fresh.word_pos());
        }
    }

    #[test]
    fn streams_are_independent_and_reproducible() {
        let a: Vec<u64> = (0..4).map(|_| Prng::new(7, Stream::Node(0)).next_u64()).collect();
        assert!(a.windows(2).all(|w| w[0] == w[1]));
        let mut n0 = Prng::new(7, Stream::Node(0));
        let mut n1 = Prng::new(7, Stream::Node(1));
        let mut net = Prng::new(7, Stream::Network);
        let x: Vec<u64> = (0..3).map(|_| n0.next_u64()).collect();
        let y: Vec<u64> = (0..3).map(|_| n1.next_u64()).collect();
        let z: Vec<u64> = (0..3).map(|_| net.next_u64()).collect();
        assert_ne!(x, y);
        assert_ne!(x, z);
        assert_ne!(Prng::new(8, Stream::Node(0)).next_u64(), x[0]);
    }

    /// The standard normal against its closed form: the share of draws within one standard
    /// deviation (`erf(1/sqrt 2)` = 0.682689), beyond 2.326348 (the p99, 1%) and beyond `R` = 3.654
    /// (the ziggurat's tail, 2.58e-4 both sides), and the mean and variance (0, 1). Tolerances are
    /// 4 standard errors of a share (or of the moments) over 1,000,000 draws.
    #[test]
    fn the_ziggurat_draws_a_standard_normal() {
        let n = 1_000_000;
        let mut r = Prng::new(7, Stream::Setup);
        let z: Vec<f64> = (0..n).map(|_| r.std_normal()).collect();
        let share = |p: &dyn Fn(f64) -> bool| z.iter().filter(|x| p(**x)).count() as f64 / n as f64;
        let near = |got: f64, want: f64| {
            let se = (want * (1.0 - want) / n as f64).sqrt();
            assert!((got - want).abs() <= 4.0 * se, "share {got}, closed form {want} (4 se = {})", 4.0 * se);
        };
        near(share(&|x| x.abs() < 1.0), 0.682_689_492_137_085_9);
        near(share(&|x| x > 2.326_347_874_040_841), 0.01);
        near(share(&|x| x.abs() > crate::ziggurat::ZIG_NORM_R), 2.0 * 1.290_162_438e-4);
        let mean = z.iter().sum::<f64>() / n as f64;
        let var = z.iter().map(|x| (x - mean) * (x - mean)).sum::<f64>() / n as f64;
        assert!(mean.abs() < 4.0 / (n as f64).sqrt(), "mean {mean}");
        assert!((var - 1.0).abs() < 4.0 * (2.0 / n as f64).sqrt(), "variance {var}");
    }

    #[test]
    fn the_ziggurat_layers_have_equal_areas() {
        use crate::ziggurat::{ZIG_NORM_F as F, ZIG_NORM_R as R, ZIG_NORM_V as V, ZIG_NORM_X as X};
        let f = |x: f64| math::exp(-x * x / 2.0);
        assert_eq!((X[1], X[256], F[256]), (R, 0.0, 1.0));
        // The base layer: the rectangle to R and the tail beyond it, whose area is
        // sqrt(pi/2) erfc(R/sqrt 2) = 3.23396e-4 (with f unnormalised).
        assert!((X[0] * F[1] - V).abs() < 1e-15, "the base layer is V / f(R) wide");
        for i in 1..256 {
            assert!((X[i] * (F[i + 1] - F[i]) - V).abs() < 1e-11, "layer {i}");
            assert!((F[i] - f(X[i])).abs() < 1e-15 && X[i + 1] < X[i], "layer {i}");
        }
        let tail = R * F[1] + 3.233_957_6e-4;
        assert!((tail - V).abs() < 1e-9, "the base layer's area {tail} against V {V}");
    }

    /// `below` draws what `rand`'s `random_range(0..n)` draws, from the same stream, bit for bit:
    /// small and large bounds, powers of two, and bounds near `2^64`, where the low word is
    /// often within `n` of a carry and a second draw decides it.
    #[test]
    fn below_is_rand_s_random_range() {
        let mut bounds: Vec<u64> = vec![1, 2, 3, 4, 7, 1_000, 100_000, 1 << 32, (1 << 32) + 1, 1 << 63];
        bounds.extend([(1 << 63) + 1, 3 << 62, u64::MAX - 1, u64::MAX]);
        let mut pick = Prng::new(3, Stream::Setup);
        bounds.extend((0..200).map(|_| pick.next_u64() >> pick.below(64)).filter(|&n| n > 0));
        let (mut ours, mut theirs) = (Prng::new(11, Stream::Workload), Prng::new(11, Stream::Workload));
        for &n in &bounds {
            for k in 0..2_000 {
                assert_eq!(ours.below(n), theirs.0.random_range(0..n), "bound {n}, draw {k}");
            }
            assert_eq!(ours.word_pos(), theirs.word_pos(), "bound {n}: the draws taken");
        }
    }

    #[test]
    fn unit_is_in_range() {
        let mut r = Prng::new(1, Stream::Setup);
        for _ in 0..10_000 {
            let u = r.unit();
            assert!((0.0..1.0).contains(&u));
        }
    }
}
