//! The feed's footprint (`Model::footprint`): what its state costs under a load, estimated from
//! the follow graph's shape and the workload's key skew.
//!
//! Measured (debug binary, `simctl bench scenario`, peak RSS less a tiny run's 20.6 MB) on
//! `scenarios/perf/feed_perf.ron` variants: with no operations 26 MB (the graph: 1.2 million
//! follows); posts alone (1,539 posts, 11.3 million (post, follower) pairs judged, 210 thousand
//! feed writes) 255 MB, most of it the visibility check's delays (8 B a pair, and the buffers
//! the vector outgrew: the allocator had not yet returned them); the whole file 316 MB. Since the
//! delays' buffer is sized once for every pair (release binary, `/usr/bin/time`), the whole
//! file's peak RSS is 211 MB against 342 MB before.

use crate::{Config, Feed, Strategy};
use sim_core::Model;
use sim_core::Topology;
use sim_core::cost::{Footprint, Load, count, zipf_key_skew};
use sim_core::math;

/// The Zipf exponent whose key skew over `count` keys is `skew` (0 for even keys): the workload's
/// Zipf keys are the authors and readers, user 0 the most active.
fn zipf_exponent(count: f64, skew: f64) -> f64 {
    if count < 2.0 || skew <= 1.0 + 1e-9 {
        return 0.0;
    }
    let (mut lo, mut hi) = (0.0, 4.0);
    for _ in 0..40 {
        let mid = (lo + hi) / 2.0;
        if zipf_key_skew(count, mid, 2000) < skew { lo = mid } else { hi = mid }
    }
    (lo + hi) / 2.0
}

/// Per post (an author drawn by the workload's keys): its followers, and the followers its post
/// is pushed to (`(followers, pushed)`, expected values). Followers of user `a`: each of the
/// `users` draws `m` followees by Zipf(`follow_skew`), so `users x (1 - (1 - p_a)^m)`, scaled so
/// that the follows add up to `users x m` (a drawn repeat is drawn again).
fn per_post(c: &Config, load: &Load) -> (f64, f64) {
    let users = c.users.max(2) as f64;
    let m = ((c.follows_min + c.follows_max) as f64 / 2.0).min(users - 1.0);
    // The workload's keys are the users (its key count may be above the operations', which
    // bound `load.keys`).
    let keys = users;
    let s = zipf_exponent(keys, load.key_skew);
    let active = (c.inactive_from as f64 / users).min(1.0);
    // Ranks in buckets: one by one up to 2,000, then 1% wider each.
    let mut buckets: Vec<(f64, f64)> = Vec::new();
    let mut a = 1.0;
    while a <= users {
        let w = if a < 2000.0 { 1.0 } else { (a * 0.01).floor().min(users + 1.0 - a) };
        buckets.push((a + (w - 1.0) / 2.0, w));
        a += w;
    }
    let (mut hf, mut hs) = (0.0, 0.0);
    for &(r, w) in &buckets {
        hf += w * math::powf(r, -c.follow_skew);
        if r <= keys {
            hs += w * math::powf(r, -s);
        }
    }
    let (mut total, mut followers, mut pushed) = (0.0, 0.0, 0.0);
    let mut rows = Vec::with_capacity(buckets.len());
    for &(r, w) in &buckets {
        let p = math::powf(r, -c.follow_skew) / hf;
        let f = (users * (1.0 - math::powf(1.0 - p, m))).min(users - 1.0);
        total += w * f;
        rows.push((r, w, f));
    }
    let scale = users * m / total.max(1.0);
    for (r, w, f) in rows {
        if r > keys {
            break;
        }
        let q = math::powf(r, -s) / hs;
        let f = (f * scale).min(users - 1.0);
        let push = match c.strategy {
            Strategy::FanoutWrite => f,
            Strategy::FanoutRead => 0.0,
            Strategy::Hybrid if f >= c.celebrity_followers as f64 => 0.0,
            Strategy::Hybrid => f * active,
        };
        followers += w * q * f;
        pushed += w * q * push;
    }
    (followers, pushed)
}

/// See the module's documentation.
pub fn footprint(c: &Config, topo: &Topology, load: &Load) -> Footprint {
    let users = c.users.max(2) as f64;
    let m = ((c.follows_min + c.follows_max) as f64 / 2.0).min(users - 1.0);
    let edges = users * m;
    let posts = load.of("post", Feed::OP_KINDS);
    let reads = load.of("read", Feed::OP_KINDS);
    let (followers, pushed) = per_post(c, load);
    let pairs = posts * followers;
    let writes = posts * pushed;
    let cached = match c.strategy {
        Strategy::FanoutWrite => users,
        Strategy::FanoutRead => 0.0,
        Strategy::Hybrid => (c.inactive_from as f64).min(users),
    }
    .min(c.cache_feeds.map_or(users, |f| f as f64));
    let feeds = writes.min(cached * c.feed_len as f64);
    // Each strategy reads every follow by exactly one path: pushed or merged.
    let graph = edges * 4.0 * 3.0 * 1.5 + users * (4.0 * 24.0 + 8.0);
    // A page: the reader's followees' posts of the run, up to `page` (its vector keeps the
    // capacity of the merge it was cut from: twice that).
    let page = (c.page as f64).min(pairs / 2.0 / users);
    let workers = topo.servers.len().saturating_sub(2 + (c.brokers + c.api_servers + c.store_shards) as usize) as f64;
    let fetch_s = c.log.fetch_wait.as_secs_f64().max(1e-3);
    let polls = workers * load.run_s / fetch_s * 1.3;
    let shards = match c.strategy {
        Strategy::FanoutWrite => 0.0,
        _ => c.store_shards as f64,
    };
    let read_events = reads * (2.0 + 3.0 * (f64::from(u8::from(cached > 0.0)) + shards));
    let post_events = posts * (20.0 + 2.0 * pushed);
    Footprint {
        events: polls + read_events + post_events,
        queued: load.in_flight * 4.0 + workers * c.worker.concurrency as f64,
        ..Default::default()
    }
    .part(format!("follow graph: {edges} follows x 4 B x 3 lists (and growth)", edges = count(edges)), graph)
    .part(
        format!("visibility delays: {posts} posts x {followers:.0} followers x 8 B", posts = count(posts)),
        pairs * 8.0,
    )
    .part(
        format!(
            "feed pushes: {posts} posts x {pushed:.0} pushes x 24 B x 3 (record, copy, growth)",
            posts = count(posts)
        ),
        writes * 72.0,
    )
    .part(
        format!("cached feeds: {feeds} entries x 16 B (and per feed 100 B)", feeds = count(feeds)),
        feeds * 16.0 + cached * 100.0,
    )
    .part(format!("pages served: {reads} reads x {page:.0} posts x 8 B", reads = count(reads)), reads * page * 8.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_exponent_is_found_from_the_skew() {
        assert_eq!(zipf_exponent(1000.0, 1.0), 0.0);
        let s = zipf_exponent(30_000.0, zipf_key_skew(30_000.0, 1.0, 2000));
        assert!((s - 1.0).abs() < 1e-3, "{s}");
    }
}
