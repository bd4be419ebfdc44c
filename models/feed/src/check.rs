//! The checks over the history and the stores' records, and the measures.
//!
//! Inputs: the history (acknowledged posts with their IDs, pages served), the post-store shards'
//! record of when each post was stored, the feed cache's record of every push, and the follow
//! graph. From them, [`Visibility`] answers "from when would `follower`'s feed serve `post`".

use crate::graph::Graph;
use crate::{Config, ENTRY_BYTES, Node};
use sim_core::metrics::HistoryEntry;
use sim_core::stats::quantiles;
use sim_core::{Check, ModelReport, Outcome, Reply, RunView, Time};
use std::collections::BTreeMap;
use std::ops::Range;

/// When each (post, follower) pair became visible.
pub struct Visibility<'a> {
    pub graph: &'a Graph,
    /// Post -> (author, when stored).
    pub stored: BTreeMap<u64, (u32, Time)>,
    /// (post, follower, first push), sorted.
    pub pushes: Vec<(u64, u32, Time)>,
    /// Post -> its pushes' range in `pushes` (a search within one post's pushes stays small).
    by_post: BTreeMap<u64, Range<usize>>,
    /// Per author, their posts ascending: `(post, when stored, its pushes' range in pushes)`.
    by_author: Vec<Vec<(u64, Time, Range<usize>)>>,
}

impl<'a> Visibility<'a> {
    pub fn new(graph: &'a Graph, stored: BTreeMap<u64, (u32, Time)>, mut pushes: Vec<(u64, u32, Time)>) -> Self {
        pushes.sort_unstable();
        pushes.dedup_by_key(|p| (p.0, p.1));
        let mut by_post: BTreeMap<u64, Range<usize>> = BTreeMap::new();
        for (i, p) in pushes.iter().enumerate() {
            by_post.entry(p.0).and_modify(|r| r.end = i + 1).or_insert(i..i + 1);
        }
        let mut by_author = vec![Vec::new(); graph.followees.len()];
        for (&post, &(author, at)) in &stored {
            by_author[author as usize].push((post, at, by_post.get(&post).cloned().unwrap_or_default()));
        }
        Visibility { graph, stored, pushes, by_post, by_author }
    }

    /// The pushes of `post`, by follower.
    fn pushes_of(&self, post: u64) -> &[(u64, u32, Time)] {
        self.by_post.get(&post).map_or(&[], |r| &self.pushes[r.clone()])
    }

    /// `author`'s posts, ascending: `(post, when stored, its pushes' range)`.
    fn posts_of(&self, author: u32) -> &[(u64, Time, Range<usize>)] {
        self.by_author.get(author as usize).map_or(&[], |p| &p[..])
    }

    /// From when `follower`'s feed serves `post` (`None`: not by the end of the run, or never: not
    /// a post of a followee, or unknown).
    pub fn at(&self, post: u64, follower: u32) -> Option<Time> {
        let &(author, stored) = self.stored.get(&post)?;
        if !self.graph.follows(follower, author) {
            return None;
        }
        let pushed = self.graph.pushed(author, follower);
        let pushes = if pushed { self.by_post.get(&post).cloned().unwrap_or_default() } else { 0..0 };
        self.seen(pushed, stored, pushes, follower)
    }

    /// `at` for a post of a followee of `follower`, stored at `stored`, whose pushes are
    /// `pushes` in `self.pushes`; `pushed`: whether its author pushes to `follower`.
    fn seen(&self, pushed: bool, stored: Time, pushes: Range<usize>, follower: u32) -> Option<Time> {
        if pushed {
            let pushes = &self.pushes[pushes];
            pushes.binary_search_by_key(&follower, |p| p.1).ok().map(|i| pushes[i].2)
        } else {
            Some(stored)
        }
    }
}

/// Acknowledged posts invoked in the main phase: post ID -> invocation.
pub fn acked_posts(run: &RunView<'_, Node>) -> BTreeMap<u64, Time> {
    run.history()
        .iter()
        .filter(|h| h.invoke < run.main_end && h.outcome == Some(Outcome::Ok) && run.op_kind(h) == "post")
        .filter_map(|h| if let Reply::Value(p) = h.reply { Some((p, h.invoke)) } else { None })
        .collect()
}

/// The visibility delays of the (post, follower) pairs of acknowledged posts.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Delays {
    /// Delays (ns), in the order walked (by post, then follower; their quantiles are taken by
    /// [`quantiles`], which needs no sort). A pair not visible by the end of the run whose post
    /// was invoked more than the SLA before the end is in with its delay so far (a lower bound,
    /// over the SLA).
    pub ns: Vec<u64>,
    /// Pairs not visible by the end, of which `pending` are not judged: invoked within the SLA
    /// of the end, they may yet be on time.
    pub never: u64,
    pub pending: u64,
    /// Posts with a pair over the SLA, in post order (what `simctl replay` is pointed at).
    pub late_posts: Vec<u64>,
}

pub fn visibility_delays(v: &Visibility<'_>, acked: &BTreeMap<u64, Time>, end: Time, sla: u64) -> Delays {
    // One delay per pair at most: the buffer is sized once, not outgrown (the allocator keeps
    // outgrown buffers, and at millions of pairs they were most of a run's memory).
    let pairs: usize =
        acked.keys().filter_map(|p| v.stored.get(p)).map(|&(a, _)| v.graph.followers[a as usize].len()).sum();
    let mut d = Delays { ns: Vec::with_capacity(pairs), ..Delays::default() };
    for (&post, &invoke) in acked {
        let Some(&(author, stored)) = v.stored.get(&post) else { continue };
        // Followers, push targets and this post's pushes are all sorted by follower: one walk.
        let (targets, pushes) = (&v.graph.push[author as usize], v.pushes_of(post));
        let (mut ti, mut pi) = (0, 0);
        for &f in &v.graph.followers[author as usize] {
            let pushed = advance(targets, &mut ti, |&t| t, f).is_some();
            let seen = if pushed { advance(pushes, &mut pi, |p| p.1, f).map(|p| p.2) } else { Some(stored) };
            debug_assert_eq!(seen, v.at(post, f));
            let at = match seen {
                Some(t) => t,
                None => {
                    d.never += 1;
                    if end.0.saturating_sub(invoke.0) <= sla {
                        d.pending += 1;
                        continue;
                    }
                    end
                }
            };
            let delay = at.0.saturating_sub(invoke.0);
            if delay > sla && d.late_posts.last() != Some(&post) {
                d.late_posts.push(post);
            }
            d.ns.push(delay);
        }
    }
    d
}

/// Moves `i` along the sorted `xs` to the first item whose key is at least `k`; that item, if its
/// key is `k`.
fn advance<'x, T>(xs: &'x [T], i: &mut usize, key: impl Fn(&T) -> u32, k: u32) -> Option<&'x T> {
    while *i < xs.len() && key(&xs[*i]) < k {
        *i += 1;
    }
    xs.get(*i).filter(|x| key(x) == k)
}

pub fn visibility(c: &Config, d: &Delays, posts: usize) -> Check {
    visibility_at(c, d, posts, quantiles(&d.ns, &[0.99]).first().copied().unwrap_or(0))
}

/// [`visibility`] with the delays' p99 already taken (the report takes it with the other
/// quantiles, in one walk of the delays).
fn visibility_at(c: &Config, d: &Delays, posts: usize, p99: u64) -> Check {
    let sla = c.visibility_sla.0;
    let late = d.ns.iter().filter(|&&x| x > sla).count();
    Check::judged("visibility", d.ns.len(), "(post, follower) pairs")
        .skipped(d.pending, "not visible when the run ended, within the SLA of it")
        .passed_if(p99 <= sla)
        .detail(format!(
            "p99 {:.1} s against {:.0} s; {late} pairs later than that ({} never visible); {posts} posts",
            p99 as f64 / 1e9,
            sla as f64 / 1e9,
            d.never - d.pending
        ))
}

/// What is wrong with one page served to `reader` for a read from `invoke` to `complete`.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct PageFaults {
    pub out_of_order: bool,
    pub not_followed: u32,
    /// On the page but unknown to the post store at the end (lost with a store shard's crash: the
    /// store keeps its posts in memory), so neither its author nor its visibility can be judged.
    pub not_stored: u32,
    pub not_yet_visible: u32,
    pub missing: u32,
}

impl PageFaults {
    pub fn any(&self) -> bool {
        self.out_of_order || self.not_followed + self.not_stored + self.not_yet_visible + self.missing > 0
    }
}

/// Judges one page: newest first, only followees' posts visible by `complete`, and every
/// followee post visible before `invoke` that belongs on the page is on it. The followees' posts
/// that belong on the page are judged once each, on the page or missing from it; the page's other
/// posts (its oldest, and any not of a followee) are looked up one by one.
pub fn judge_page(
    v: &Visibility<'_>,
    page_size: u32,
    reader: u32,
    invoke: Time,
    complete: Time,
    page: &[u64],
) -> PageFaults {
    let mut f = PageFaults { out_of_order: page.windows(2).any(|w| w[0] <= w[1]), ..PageFaults::default() };
    let visible_by_complete = |seen: Option<Time>| seen.is_some_and(|t| t <= complete);
    // Posts newer than the page's oldest entry (every post, if the page is not full).
    let floor = if page.len() >= page_size as usize { page.iter().min().copied().unwrap_or(0) } else { 0 };
    // A post visible before `invoke` was stamped before it (IDs carry the API server's
    // millisecond; a second of slack covers API clocks ahead of true time).
    let stamp_max_ms = invoke.0 / 1_000_000 + 1000;
    let mut judged = vec![false; page.len()];
    // A page in order (newest first: descending IDs) is searched by halves.
    let on_page = |p: &u64| match f.out_of_order {
        false => page.binary_search_by(|q| p.cmp(q)).ok(),
        true => page.iter().position(|q| q == p),
    };
    for &a in &v.graph.followees[reader as usize] {
        let posts = v.posts_of(a);
        // Most followees have no post newer than a full page's oldest: no search for them.
        if posts.last().is_none_or(|p| p.0 <= floor) {
            continue;
        }
        let from = posts.partition_point(|p| p.0 <= floor);
        let to = from + posts[from..].partition_point(|p| parts::ids::decompose(p.0).0 <= stamp_max_ms);
        if from == to {
            continue;
        }
        let pushed = v.graph.pushed(a, reader);
        for (p, stored, pushes) in &posts[from..to] {
            let seen = v.seen(pushed, *stored, pushes.clone(), reader);
            debug_assert_eq!(seen, v.at(*p, reader));
            match on_page(p) {
                Some(i) => {
                    judged[i] = true;
                    f.not_yet_visible += u32::from(!visible_by_complete(seen));
                }
                None => f.missing += u32::from(seen.is_some_and(|t| t < invoke)),
            }
        }
    }
    for (&p, _) in page.iter().zip(&judged).filter(|(_, judged)| !**judged) {
        match v.stored.get(&p) {
            Some(&(author, _)) if v.graph.follows(reader, author) => {
                f.not_yet_visible += u32::from(!visible_by_complete(v.at(p, reader)));
            }
            Some(_) => f.not_followed += 1,
            None => f.not_stored += 1,
        }
    }
    f
}

pub fn feed_order(c: &Config, v: &Visibility<'_>, reads: &[&HistoryEntry]) -> Check {
    let (mut bad, mut first, mut blamed) = (0u64, None, Vec::new());
    let mut sum = PageFaults::default();
    for h in reads {
        let Reply::Values(page) = &h.reply else { continue };
        let reader = (h.key % c.users as u64) as u32;
        let f = judge_page(v, c.page, reader, h.invoke, h.complete.get().expect("completed"), page);
        if f.any() {
            bad += 1;
            blamed.push(*h);
            first.get_or_insert((reader, h.invoke));
            sum.out_of_order |= f.out_of_order;
            sum.not_followed += f.not_followed;
            sum.not_stored += f.not_stored;
            sum.not_yet_visible += f.not_yet_visible;
            sum.missing += f.missing;
        }
    }
    let detail = match first {
        None => "every page newest first, only followees' visible posts, none missing".to_string(),
        Some((u, t)) => format!(
            "first: user {u}'s read at {t}; posts missing {}, not followed {}, not in the post store at the end {}, not yet visible {}, out of order: {}",
            sum.missing, sum.not_followed, sum.not_stored, sum.not_yet_visible, sum.out_of_order
        ),
    };
    Check::judged("feed_order", reads.len(), "pages served").violations(bad, "wrong").detail(detail).blame_ops(blamed)
}

/// The highest value a kernel level reached.
fn level_max(run: &RunView<'_, Node>, scope: &'static str, name: &'static str) -> f64 {
    run.sim.metrics().levels.get(scope, name).map_or(0.0, |l| l.max as f64)
}

pub fn report(c: &Config, run: &RunView<'_, Node>) -> ModelReport {
    let mut r = ModelReport::default();
    let mut graph = None;
    let mut stored = BTreeMap::new();
    let (mut pushes, mut store_reads, mut authors_read) = (Vec::new(), 0u64, 0u64);
    let (mut cache_bytes, mut cache_users, mut writes) = (0u64, 0u64, 0u64);
    for (_, n) in run.servers() {
        match n {
            Node::Api(a) => graph = Some(a.graph.clone()),
            Node::Store(s) => {
                stored.extend(s.stored.iter().map(|(&k, &v)| (k, v)));
                store_reads += s.reads;
                authors_read += s.authors_read;
            }
            Node::Cache(f) => {
                pushes.extend_from_slice(&f.pushes);
                cache_bytes += f.cache.bytes();
                cache_users += f.cache.len() as u64;
            }
            Node::Worker(w) => writes += w.writes,
            _ => {}
        }
    }
    let graph = graph.expect("an API server holds the graph");
    let pushes_n = pushes.len() as u64;
    let v = Visibility::new(&graph, stored, pushes);
    let acked = acked_posts(run);
    let d = visibility_delays(&v, &acked, run.end, c.visibility_sla.0);
    // Blame the late posts' own operations (a post's reply is its ID).
    let late: std::collections::BTreeSet<u64> = d.late_posts.iter().copied().collect();
    let late_ops = run.history().iter().filter(|h| {
        h.outcome == Some(Outcome::Ok)
            && matches!(h.reply, Reply::Value(p) if late.contains(&p))
            && run.op_kind(h) == "post"
    });
    // p50, p99 and the maximum of the delays.
    let q = quantiles(&d.ns, &[0.5, 0.99, 1.0]);
    let at = |i: usize| q.get(i).copied().unwrap_or(0);
    r.checks.push(visibility_at(c, &d, acked.len(), at(1)).blame_ops(late_ops));
    let (delays, never) = (&d.ns, d.never);
    let reads: Vec<&HistoryEntry> =
        run.history().iter().filter(|h| h.outcome == Some(Outcome::Ok) && run.op_kind(h) == "read").collect();
    r.checks.push(feed_order(c, &v, &reads));

    let m = &mut r.measures;
    let secs = run.main_end.0.max(1) as f64 / 1e9;
    let main_reads = reads.iter().filter(|h| h.invoke < run.main_end).count();
    m.insert("posts".into(), acked.len() as f64);
    m.insert("reads".into(), reads.len() as f64);
    m.insert("posts_per_s".into(), acked.len() as f64 / secs);
    m.insert("reads_per_s".into(), main_reads as f64 / secs);
    let posts_stored = v.stored.len().max(1) as f64;
    // The fan-out each stored post asked for (its push targets), and what was done by the end.
    let targets: usize = v.stored.values().map(|&(a, _)| graph.push[a as usize].len()).sum();
    m.insert("push_targets_per_post".into(), targets as f64 / posts_stored);
    m.insert("cache_writes".into(), pushes_n as f64);
    m.insert("cache_writes_per_post".into(), pushes_n as f64 / posts_stored);
    m.insert("fanout_writes".into(), writes as f64);
    let reads_n = reads.len().max(1) as f64;
    m.insert("store_reads_per_read".into(), authors_read as f64 / reads_n);
    m.insert("store_requests_per_read".into(), store_reads as f64 / reads_n);
    m.insert("feed_cache_bytes".into(), cache_bytes as f64);
    m.insert("feed_cache_users".into(), cache_users as f64);
    // The cache charges ENTRY_BYTES per post ID, so bytes per entry is that constant, not a
    // measurement: only the entry count and the bytes are reported.
    m.insert("feed_cache_entries".into(), (cache_bytes / ENTRY_BYTES) as f64);
    m.insert("visibility_p50_s".into(), at(0) as f64 / 1e9);
    m.insert("visibility_p99_s".into(), at(1) as f64 / 1e9);
    m.insert("visibility_max_s".into(), at(2) as f64 / 1e9);
    let late = delays.iter().filter(|&&d| d > c.visibility_sla.0).count();
    m.insert("visibility_late_share".into(), late as f64 / delays.len().max(1) as f64);
    m.insert("not_visible_by_end".into(), never as f64);
    m.insert("backlog_max".into(), level_max(run, "fanout", "backlog"));
    m.insert("log_lag_max".into(), level_max(run, "log", "lag"));
    m.insert("celebrities".into(), graph.celebrities as f64);
    m.insert("followers_max".into(), graph.followers.iter().map(Vec::len).max().unwrap_or(0) as f64);
    m.insert("followees_mean".into(), graph.edges() as f64 / c.users as f64);
    r
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Strategy;
    use sim_core::Prng;
    use sim_core::rng::Stream;

    /// Users 0..4: 1 and 2 follow 0; 2 follows 1. Posts 10 (by 0) and 20 (by 1).
    fn world(strategy: Strategy) -> (Config, Graph) {
        let c = Config { strategy, users: 4, follows_min: 0, follows_max: 0, ..Config::default() };
        let mut g = Graph::build(&c, &mut Prng::new(1, Stream::Setup));
        g.followees = vec![vec![], vec![0], vec![0, 1], vec![]];
        g.followers = vec![vec![1, 2], vec![2], vec![], vec![]];
        let pushing = strategy == Strategy::FanoutWrite;
        g.push = g.followers.iter().map(|f| if pushing { f.clone() } else { vec![] }).collect();
        g.pull = g.followees.iter().map(|f| if pushing { vec![] } else { f.clone() }).collect();
        (c, g)
    }

    fn stored() -> BTreeMap<u64, (u32, Time)> {
        BTreeMap::from([(10, (0, Time(100))), (20, (1, Time(200)))])
    }

    #[test]
    fn a_pushed_pair_is_visible_when_its_push_lands_and_a_pulled_one_when_stored() {
        let (_, g) = world(Strategy::FanoutWrite);
        let v = Visibility::new(&g, stored(), vec![(10, 1, Time(900)), (10, 1, Time(950)), (20, 2, Time(300))]);
        assert_eq!(v.at(10, 1), Some(Time(900)), "the first push counts");
        assert_eq!(v.at(10, 2), None, "never pushed");
        assert_eq!(v.at(10, 3), None, "3 does not follow 0");
        let (_, g) = world(Strategy::FanoutRead);
        let v = Visibility::new(&g, stored(), vec![]);
        assert_eq!(v.at(10, 2), Some(Time(100)));
        // Delays: from the post's invocation; a pair never visible counts up to the end.
        let (_, g) = world(Strategy::FanoutWrite);
        let v = Visibility::new(&g, stored(), vec![(10, 1, Time(900))]);
        let d = visibility_delays(&v, &BTreeMap::from([(10, Time(50))]), Time(5000), 1000);
        assert_eq!(d, Delays { ns: vec![850, 4950], never: 1, pending: 0, late_posts: vec![10] });
        // Within the SLA of the end, a pair not yet visible is not judged.
        let d = visibility_delays(&v, &BTreeMap::from([(10, Time(50))]), Time(5000), 10_000);
        assert_eq!(d, Delays { ns: vec![850], never: 1, pending: 1, late_posts: vec![] });
        // The buffer is sized once, for every pair of the posts judged (post 10's two followers;
        // post 20 was not acknowledged).
        assert_eq!(d.ns.capacity(), 2);
    }

    #[test]
    fn the_visibility_check_fails_when_the_p99_passes_the_sla() {
        let c = Config { visibility_sla: sim_core::Duration(1000), ..Config::default() };
        let ok = Delays { ns: (0..100).map(|i| i * 10).collect(), ..Delays::default() };
        assert!(visibility(&c, &ok, 1).passed);
        // One late pair in 100 is within the p99; two are not.
        let mut late = ok.ns.clone();
        late[99] = 3000;
        assert!(visibility(&c, &Delays { ns: late.clone(), ..Delays::default() }, 1).passed);
        late[98] = 2000;
        assert!(!visibility(&c, &Delays { ns: late.clone(), ..Delays::default() }, 1).passed);
        // The delays come in the order walked, not sorted.
        late.reverse();
        assert!(!visibility(&c, &Delays { ns: late, ..Delays::default() }, 1).passed);
        assert_eq!(visibility(&c, &Delays::default(), 0).count.judged, 0);
    }

    #[test]
    fn a_page_is_judged_for_order_followees_visibility_and_completeness() {
        let (_, g) = world(Strategy::FanoutRead);
        let v = Visibility::new(&g, stored(), vec![]);
        let judge = |reader, invoke, page: &[u64]| judge_page(&v, 50, reader, Time(invoke), Time(invoke + 10), page);
        assert!(!judge(2, 1000, &[20, 10]).any());
        let reversed = judge(2, 1000, &[10, 20]);
        assert!(reversed.out_of_order);
        assert_eq!(reversed.missing + reversed.not_followed, 0, "a page out of order is still searched in full");
        assert_eq!(judge(1, 1000, &[20, 10]).not_followed, 1);
        // A post the store does not know (lost with a crashed shard) is not blamed on the follow graph.
        let unknown = judge(2, 1000, &[9999, 20, 10]);
        assert_eq!((unknown.not_stored, unknown.not_followed), (1, 0));
        assert!(unknown.any());
        assert_eq!(judge(2, 1000, &[20]).missing, 1);
        // Stored at 200: a read invoked at 150 may have it or not; one completed at 160 must not.
        assert!(!judge(2, 150, &[10]).any());
        assert_eq!(judge(2, 150, &[20, 10]).not_yet_visible, 1);
        // A full page only vouches for posts newer than its oldest entry.
        let full = judge_page(&v, 1, 2, Time(1000), Time(1010), &[20]);
        assert!(!full.any());
    }
}
