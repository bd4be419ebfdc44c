//! The follow graph, drawn from the run's setup stream, and what each strategy does with it: whose
//! feeds a post is pushed to (at write time) and whose posts a read merges from the post store (at
//! read time).

use crate::{Config, Strategy};
use sim_core::Prng;
use sim_core::math;

/// Who follows whom, and each strategy's plan over it. Users are `0..users`; user 0 is the most
/// followed (and, with the workload's Zipf keys, the most active).
#[derive(Clone, Debug)]
pub struct Graph {
    /// `followees[u]`: the accounts `u` follows, ascending.
    pub followees: Vec<Vec<u32>>,
    /// `followers[a]`: the accounts that follow `a`, ascending.
    pub followers: Vec<Vec<u32>>,
    /// `push[a]`: the followers whose cached feeds a post by `a` is written into (fan-out on write).
    pub push: Vec<Vec<u32>>,
    /// `pull[u]`: the followees whose recent posts a read by `u` merges from the post store.
    pub pull: Vec<Vec<u32>>,
    /// `cached[u]`: `u`'s feed is kept in the feed cache (and read from it).
    pub cached: Vec<bool>,
    /// Accounts with at least `celebrity_followers` followers.
    pub celebrities: u32,
}

/// The cumulative Zipf(s) distribution over `n` ranks (rank 0 the most likely).
fn zipf_cdf(n: u32, s: f64) -> Vec<f64> {
    let mut acc = 0.0;
    let mut cdf: Vec<f64> = (1..=n)
        .map(|k| {
            acc += 1.0 / math::powf(k as f64, s);
            acc
        })
        .collect();
    for c in &mut cdf {
        *c /= acc;
    }
    cdf
}

impl Graph {
    /// Each user follows between `follows_min` and `follows_max` accounts (uniform), each drawn by
    /// popularity (Zipf with exponent `follow_skew` over the user ids, redrawn when it is the user
    /// or already followed): a heavy-tailed follower distribution with a few accounts that most
    /// users follow.
    pub fn build(c: &Config, rng: &mut Prng) -> Graph {
        let n = c.users as usize;
        let cdf = zipf_cdf(c.users, c.follow_skew);
        let mut followees: Vec<Vec<u32>> = Vec::with_capacity(n);
        for u in 0..c.users {
            let want = rng.range_inclusive(c.follows_min as u64, c.follows_max as u64).min(n as u64 - 1) as usize;
            let mut f: Vec<u32> = Vec::with_capacity(want);
            // Bounded: at most 50 draws per followee wanted, then the list stays shorter.
            let mut draws = 0;
            while f.len() < want && draws < 50 * want {
                draws += 1;
                let r = rng.unit();
                let a = cdf.partition_point(|&x| x <= r).min(n - 1) as u32;
                if a != u && !f.contains(&a) {
                    f.push(a);
                }
            }
            f.sort_unstable();
            followees.push(f);
        }
        let mut followers: Vec<Vec<u32>> = vec![Vec::new(); n];
        for (u, fs) in followees.iter().enumerate() {
            for &a in fs {
                followers[a as usize].push(u as u32);
            }
        }
        let celebrity = |a: u32| followers[a as usize].len() as u64 >= c.celebrity_followers as u64;
        let active = |u: u32| u < c.inactive_from;
        let cached: Vec<bool> = (0..c.users)
            .map(|u| match c.strategy {
                Strategy::FanoutWrite => true,
                Strategy::FanoutRead => false,
                Strategy::Hybrid => active(u),
            })
            .collect();
        let push: Vec<Vec<u32>> = (0..c.users)
            .map(|a| match c.strategy {
                Strategy::FanoutWrite => followers[a as usize].clone(),
                Strategy::FanoutRead => Vec::new(),
                Strategy::Hybrid if celebrity(a) => Vec::new(),
                Strategy::Hybrid => followers[a as usize].iter().copied().filter(|&f| active(f)).collect(),
            })
            .collect();
        let pull: Vec<Vec<u32>> = (0..c.users)
            .map(|u| match c.strategy {
                Strategy::FanoutWrite => Vec::new(),
                Strategy::FanoutRead => followees[u as usize].clone(),
                Strategy::Hybrid if !active(u) => followees[u as usize].clone(),
                Strategy::Hybrid => followees[u as usize].iter().copied().filter(|&a| celebrity(a)).collect(),
            })
            .collect();
        let celebrities = (0..c.users).filter(|&a| celebrity(a)).count() as u32;
        Graph { followees, followers, push, pull, cached, celebrities }
    }

    /// Whether a post by `author` is written into `follower`'s cached feed (else the follower
    /// sees it by merging from the post store at read time).
    pub fn pushed(&self, author: u32, follower: u32) -> bool {
        self.push[author as usize].binary_search(&follower).is_ok()
    }

    pub fn follows(&self, user: u32, author: u32) -> bool {
        self.followees[user as usize].binary_search(&author).is_ok()
    }

    pub fn edges(&self) -> u64 {
        self.followees.iter().map(|f| f.len() as u64).sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sim_core::rng::Stream;

    fn graph(strategy: Strategy) -> Graph {
        let c = Config { strategy, users: 2000, follows_min: 10, follows_max: 30, ..Config::default() };
        Graph::build(&c, &mut Prng::new(7, Stream::Setup))
    }

    #[test]
    fn followers_are_heavy_tailed_and_the_graph_is_consistent() {
        let g = graph(Strategy::Hybrid);
        let counts: Vec<usize> = g.followers.iter().map(Vec::len).collect();
        let mean = g.edges() as f64 / 2000.0;
        // The most followed account is followed by most users; the median by a handful.
        assert!(counts[0] as f64 > 20.0 * mean, "top {} mean {mean}", counts[0]);
        let mut sorted = counts.clone();
        sorted.sort_unstable();
        assert!((sorted[1000] as f64) < mean, "median {} mean {mean}", sorted[1000]);
        for (u, fs) in g.followees.iter().enumerate() {
            assert!(!fs.contains(&(u as u32)), "nobody follows themselves");
            for &a in fs {
                assert!(g.followers[a as usize].binary_search(&(u as u32)).is_ok());
            }
        }
        // The same seed draws the same graph.
        assert_eq!(graph(Strategy::Hybrid).followees, g.followees);
    }

    #[test]
    fn each_follower_sees_each_author_by_exactly_one_path() {
        for s in [Strategy::FanoutWrite, Strategy::FanoutRead, Strategy::Hybrid] {
            let g = graph(s);
            for (u, fs) in g.followees.iter().enumerate() {
                for &a in fs {
                    let pushed = g.pushed(a, u as u32);
                    let pulled = g.pull[u].contains(&a);
                    assert!(pushed != pulled, "{s:?}: user {u} author {a} pushed {pushed} pulled {pulled}");
                    // A pushed post lands in a feed the reader reads.
                    assert!(!pushed || g.cached[u]);
                }
            }
        }
    }
}
