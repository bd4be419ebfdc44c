//! The checks over the history: who should have seen which comment, and where comments went.
//! Pure functions over the history's posts, the viewers' session logs, their deliveries and the
//! instances' consumption logs, so each is tested on small hand-made cases.

use parts::conn::{Session, UserId};
use sim_core::{Duration, NodeId, OpId, Time};
use std::collections::BTreeMap;

/// A comment acknowledged to its poster.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Post {
    pub op: OpId,
    pub comment: u64,
    pub video: u32,
    /// The post's invoke time.
    pub at: Time,
}

/// A comment an instance consumed from the log.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Consumed {
    pub comment: u64,
    pub video: u32,
    pub at: Time,
    pub instance: NodeId,
    /// Viewers of the video the instance held when it consumed the comment.
    pub held: u32,
}

/// Whether session `s` was one settled connection throughout the delivery window of an event at
/// `at`: open from `settle` before it, and its server heard `sla` after it.
pub fn covers(s: &Session, at: Time, settle: Duration, sla: Duration) -> bool {
    s.from.0.saturating_add(settle.0) <= at.0 && s.heard.0 >= at.0.saturating_add(sla.0)
}

/// Each viewer's sessions, by viewer (viewers are numbered from 0: a vector, not a map, since
/// the checks ask for a viewer's sessions once per comment of the video it watches).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Sessions {
    by_viewer: Vec<Vec<Session>>,
}

impl Sessions {
    /// `user`'s sessions (`None` when it never connected).
    pub fn get(&self, user: &UserId) -> Option<&Vec<Session>> {
        usize::try_from(*user).ok().and_then(|u| self.by_viewer.get(u)).filter(|ss| !ss.is_empty())
    }
    /// The viewers that connected, in increasing order, with their sessions.
    pub fn iter(&self) -> impl Iterator<Item = (UserId, &Vec<Session>)> {
        self.by_viewer.iter().enumerate().filter(|(_, ss)| !ss.is_empty()).map(|(u, ss)| (u as UserId, ss))
    }
}

pub fn sessions_by_viewer<'a>(all: impl IntoIterator<Item = &'a Session>) -> Sessions {
    let mut by_viewer: Vec<Vec<Session>> = Vec::new();
    for s in all {
        let u = s.user as usize;
        if by_viewer.len() <= u {
            by_viewer.resize_with(u + 1, Vec::new);
        }
        by_viewer[u].push(*s);
    }
    Sessions { by_viewer }
}

/// The first arrival of each (comment, viewer), sorted by comment and then viewer: the checks
/// walk a comment's run beside its viewers (sorted too) instead of looking each pair up.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Firsts(Vec<(u64, UserId, Time)>);

impl Firsts {
    /// `comment`'s first arrivals, by viewer.
    pub fn of(&self, comment: u64) -> Arrivals<'_> {
        let lo = self.0.partition_point(|&(c, _, _)| c < comment);
        let hi = lo + self.0[lo..].partition_point(|&(c, _, _)| c == comment);
        Arrivals { run: &self.0[lo..hi], next: 0 }
    }
    /// Viewers `comment` reached.
    pub fn count(&self, comment: u64) -> usize {
        self.of(comment).run.len()
    }
}

/// One comment's first arrivals, asked for in increasing viewer order.
pub struct Arrivals<'a> {
    run: &'a [(u64, UserId, Time)],
    next: usize,
}

impl Arrivals<'_> {
    /// When the comment first reached `user`; `user` may not be below one asked before.
    pub fn at(&mut self, user: UserId) -> Option<Time> {
        self.next += self.run[self.next..].partition_point(|&(_, u, _)| u < user);
        self.run.get(self.next).filter(|&&(_, u, _)| u == user).map(|&(_, _, t)| t)
    }
}

/// From every client's list of deliveries `(comment, viewer, when)`. Comments are op ids, so
/// dense: the deliveries are counted out by comment into one buffer (each comment's run then
/// sorted by viewer and time; a comment reaches hundreds of viewers, not millions), instead of
/// sorting millions of deliveries whole. Ids sparser than four per delivery are sorted whole.
pub fn first_deliveries(lists: &[&[(u64, UserId, Time)]]) -> Firsts {
    let all = || lists.iter().flat_map(|l| l.iter().copied());
    let n: usize = lists.iter().map(|l| l.len()).sum();
    let mut v: Vec<(u64, UserId, Time)> = match all().map(|d| d.0).max() {
        Some(max) if max < (4 * n as u64).max(1 << 16) => {
            // `next[c]`: where comment `c`'s next delivery goes.
            let mut next = vec![0usize; max as usize + 1];
            for (c, _, _) in all() {
                next[c as usize] += 1;
            }
            let mut at = 0;
            for slot in next.iter_mut() {
                (*slot, at) = (at, at + *slot);
            }
            let mut v = vec![(0, 0, Time(0)); n];
            for d in all() {
                v[next[d.0 as usize]] = d;
                next[d.0 as usize] += 1;
            }
            for run in v.chunk_by_mut(|a, b| a.0 == b.0) {
                run.sort_unstable();
            }
            v
        }
        _ => {
            let mut v: Vec<(u64, UserId, Time)> = all().collect();
            v.sort_unstable();
            v
        }
    };
    v.dedup_by_key(|&mut (c, u, _)| (c, u));
    Firsts(v)
}

/// Each video's viewers, in increasing order.
pub fn viewers_of(video_of: &[u32]) -> BTreeMap<u32, Vec<UserId>> {
    let mut m: BTreeMap<u32, Vec<UserId>> = BTreeMap::new();
    for (u, &v) in video_of.iter().enumerate() {
        m.entry(v).or_default().push(u as UserId);
    }
    m
}

#[derive(Clone, Debug, Default, PartialEq)]
pub struct Delivery {
    /// (comment, viewer) pairs inside the viewer's delivery window.
    pub judged: u64,
    /// Pairs never delivered: the post's op and the viewer.
    pub lost: Vec<(OpId, UserId)>,
    /// Pairs delivered after `sla`.
    pub late: u64,
    /// p99 of the delivery latency of the judged pairs delivered (nearest rank).
    pub p99_ms: Option<f64>,
}

/// Every (comment, viewer of its video) pair, judged twice in one walk (each viewer's sessions
/// and first arrival looked up once for both; two walks over millions of pairs took about 6% of
/// `comments_perf`'s run each):
/// - [`Delivery`], for `delivered`: every comment reaches every viewer whose delivery window
///   covers it;
/// - [`LateShares`]: the pairs whose viewer first connected at least `settle` before the post,
///   split by whether the post came within `window` after one of `changes` (sorted).
#[allow(clippy::too_many_arguments)]
pub fn pairs(
    posts: &[Post],
    viewers_of: &BTreeMap<u32, Vec<UserId>>,
    sessions: &Sessions,
    delivered: &Firsts,
    settle: Duration,
    sla: Duration,
    changes: &[Time],
    window: Duration,
) -> (Delivery, LateShares) {
    let mut d = Delivery::default();
    let mut l = LateShares::default();
    let mut lat_ns: Vec<u64> = Vec::new();
    for p in posts {
        let i = changes.partition_point(|&t| t <= p.at);
        let churn = i > 0 && p.at.since(changes[i - 1]) < window;
        let shares = if churn { &mut l.churn } else { &mut l.steady };
        let mut arrivals = delivered.of(p.comment);
        for &u in viewers_of.get(&p.video).map_or(&[][..], |v| &v[..]) {
            let Some(ss) = sessions.get(&u) else { continue };
            // Judged for `delivered`: a session's delivery window covers the post.
            let in_window = ss.iter().any(|s| covers(s, p.at, settle, sla));
            // Judged for the late shares: first connected at least `settle` before the post.
            let watching = ss.first().is_some_and(|s| s.from.0.saturating_add(settle.0) <= p.at.0);
            if !in_window && !watching {
                continue;
            }
            let at = arrivals.at(u);
            if in_window {
                d.judged += 1;
                match at {
                    Some(t) => {
                        let ns = t.since(p.at).0;
                        if ns > sla.0 {
                            d.late += 1;
                        }
                        lat_ns.push(ns);
                    }
                    None => d.lost.push((p.op, u)),
                }
            }
            if watching {
                shares.0 += 1;
                shares.1 += u64::from(at.is_none_or(|t| t.since(p.at) > sla));
            }
        }
    }
    // The nearest-rank p99, selected without sorting the latencies.
    d.p99_ms = sim_core::stats::quantiles(&lat_ns, &[0.99]).first().map(|&ns| ns as f64 / 1e6);
    (d, l)
}

#[derive(Clone, Debug, Default, PartialEq)]
pub struct Routed {
    pub judged: u64,
    pub skipped: u64,
    pub misroutes: u64,
    pub first: Option<Consumed>,
}

/// `routed_to_viewers`: a comment is consumed where its video's settled viewers are.
pub fn routed(consumed: &[Consumed], video_of: &[u32], sessions: &Sessions, settle: Duration, sla: Duration) -> Routed {
    let mut by_video: BTreeMap<u32, Vec<&Session>> = BTreeMap::new();
    for (u, ss) in sessions.iter() {
        by_video.entry(video_of[u as usize]).or_default().extend(ss.iter());
    }
    let mut r = Routed::default();
    for c in consumed {
        let settled = by_video.get(&c.video).map_or(&[][..], |v| &v[..]);
        let mut anywhere = false;
        let mut elsewhere = false;
        for s in settled.iter().filter(|s| covers(s, c.at, settle, sla)) {
            anywhere = true;
            if s.server != c.instance {
                elsewhere = true;
                break;
            }
        }
        if !anywhere {
            r.skipped += 1;
            continue;
        }
        r.judged += 1;
        if c.held == 0 && elsewhere {
            r.misroutes += 1;
            if r.first.is_none_or(|f| c.at < f.at) {
                r.first = Some(*c);
            }
        }
    }
    r
}

/// (pairs, pairs not delivered within the SLA) after churn and in steady times.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct LateShares {
    pub churn: (u64, u64),
    pub steady: (u64, u64),
}

impl LateShares {
    pub fn churn_share(&self) -> f64 {
        share(self.churn)
    }
    pub fn steady_share(&self) -> f64 {
        share(self.steady)
    }
}

fn share((n, late): (u64, u64)) -> f64 {
    if n == 0 { 0.0 } else { late as f64 / n as f64 }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Time {
        Time(n * 1_000_000)
    }

    fn session(user: UserId, server: u32, from: u64, heard: u64) -> Session {
        Session {
            user,
            server: NodeId(server),
            epoch: 1,
            from: ms(from),
            heard: ms(heard),
            heard_mono: ms(heard),
            to: None,
            pings: 0,
        }
    }

    const SETTLE: Duration = Duration(1_000_000_000);
    const SLA: Duration = Duration(200_000_000);

    #[test]
    fn a_viewer_is_judged_only_inside_its_window_and_a_missing_delivery_is_lost() {
        let posts = [
            Post { op: OpId(1), comment: 1, video: 0, at: ms(5_000) },
            Post { op: OpId(2), comment: 2, video: 0, at: ms(5_500) },
        ];
        let viewers = viewers_of(&[0, 0, 1]);
        // Viewer 0 settled throughout; viewer 1 connected 300 ms before the first post (not
        // judged for it) and heard its server until 5,600 (not 200 ms past the second post).
        let sessions = sessions_by_viewer(&[session(0, 5, 0, 9_000), session(1, 5, 4_700, 5_600)]);
        let got = first_deliveries(&[&[(1, 0, ms(5_010)), (1, 1, ms(5_010))]]);
        let d = pairs(&posts, &viewers, &sessions, &got, SETTLE, SLA, &[], Duration::ZERO).0;
        assert_eq!((d.judged, d.lost.clone(), d.late), (2, vec![(OpId(2), 0)], 0));
        assert_eq!(d.p99_ms, Some(10.0));
        // Delivered late (and again later, which the first arrival hides): judged, counted
        // late, not lost.
        let got = first_deliveries(&[&[(1, 0, ms(5_010)), (2, 0, ms(5_950))], &[(1, 1, ms(5_010)), (2, 0, ms(5_900))]]);
        assert_eq!(got.of(2).at(0), Some(ms(5_900)));
        let d = pairs(&posts, &viewers, &sessions, &got, SETTLE, SLA, &[], Duration::ZERO).0;
        assert_eq!((d.judged, d.lost.len(), d.late), (2, 0, 1));
    }

    /// Counted out by comment (dense ids) or sorted whole (sparse ones), the first arrivals are
    /// those of a sort of every delivery, over several clients' lists in any order.
    #[test]
    fn first_arrivals_counted_out_by_comment_are_those_of_a_sort() {
        let mut rng = sim_core::rng::Prng::new(5, sim_core::rng::Stream::Setup);
        for spread in [50u64, 1 << 40] {
            let lists: Vec<Vec<(u64, UserId, Time)>> = (0..4)
                .map(|_| {
                    (0..300).map(|_| (rng.below(50) * (spread / 50), rng.below(20), ms(rng.below(1_000)))).collect()
                })
                .collect();
            let mut want: Vec<(u64, UserId, Time)> = lists.concat();
            want.sort_unstable();
            want.dedup_by_key(|&mut (c, u, _)| (c, u));
            let got = first_deliveries(&lists.iter().map(|l| l.as_slice()).collect::<Vec<_>>());
            assert_eq!(got, Firsts(want), "ids spread over {spread}");
        }
        assert_eq!(first_deliveries(&[]), Firsts::default());
    }

    #[test]
    fn a_comment_consumed_away_from_its_settled_viewers_is_a_misroute() {
        let video_of = [0, 0, 1];
        let sessions = sessions_by_viewer(&[session(0, 5, 0, 9_000), session(2, 6, 4_900, 9_000)]);
        let c = |instance: u32, held: u32, video: u32| Consumed {
            comment: 1,
            video,
            at: ms(5_000),
            instance: NodeId(instance),
            held,
        };
        // Consumed where the viewer is: fine. Consumed at n6 holding nobody: a misroute.
        let r = routed(&[c(5, 1, 0), c(6, 0, 0)], &video_of, &sessions, SETTLE, SLA);
        assert_eq!((r.judged, r.misroutes, r.skipped), (2, 1, 0));
        assert_eq!(r.first.map(|f| f.instance), Some(NodeId(6)));
        // Video 1's only viewer connected 100 ms before: not settled, so not judged.
        let r = routed(&[c(5, 0, 1)], &video_of, &sessions, SETTLE, SLA);
        assert_eq!((r.judged, r.skipped), (0, 1));
    }

    /// The one walk judges as two separate walks would: every viewer in a delivery window for
    /// `delivered`, every viewer settled before the post for the late shares (sessions that end
    /// early, start late or never start, deliveries missing, late or early, churn and not).
    #[test]
    fn one_walk_judges_the_pairs_as_two_walks_would() {
        let mut rng = sim_core::rng::Prng::new(9, sim_core::rng::Stream::Setup);
        let video_of: Vec<u32> = (0..40).map(|_| rng.below(3) as u32).collect();
        let viewers = viewers_of(&video_of);
        let all: Vec<Session> = (0..60)
            .filter_map(|_| {
                let (u, from) = (rng.below(40) as UserId, rng.below(8_000));
                (u % 7 != 0).then(|| session(u, 5, from, from + rng.below(6_000)))
            })
            .collect();
        let sessions = sessions_by_viewer(&all);
        let posts: Vec<Post> = (1..=80)
            .map(|i| Post {
                op: OpId(i),
                comment: u64::from(i),
                video: rng.below(3) as u32,
                at: ms(1_000 + rng.below(9_000)),
            })
            .collect();
        let mut arrivals: Vec<(u64, UserId, Time)> = Vec::new();
        for p in &posts {
            for &u in &viewers[&p.video] {
                if rng.below(5) != 0 {
                    arrivals.push((p.comment, u, Time(p.at.0 + rng.below(400) * 1_000_000)));
                }
            }
        }
        let got = first_deliveries(&[&arrivals]);
        let changes = [ms(2_000), ms(6_000)];
        let window = Duration(1_500_000_000);
        // The two walks as they were written apart.
        let mut want = (Delivery::default(), LateShares::default());
        let mut lat_ns = Vec::new();
        for p in &posts {
            let mut a = got.of(p.comment);
            for &u in &viewers[&p.video] {
                if !sessions.get(&u).is_some_and(|ss| ss.iter().any(|s| covers(s, p.at, SETTLE, SLA))) {
                    continue;
                }
                want.0.judged += 1;
                match a.at(u) {
                    Some(t) => {
                        want.0.late += u64::from(t.since(p.at) > SLA);
                        lat_ns.push(t.since(p.at).0);
                    }
                    None => want.0.lost.push((p.op, u)),
                }
            }
            let i = changes.partition_point(|&t| t <= p.at);
            let churn = i > 0 && p.at.since(changes[i - 1]) < window;
            let mut a = got.of(p.comment);
            for &u in &viewers[&p.video] {
                if sessions.get(&u).and_then(|ss| ss.first()).is_none_or(|s| s.from.0 + SETTLE.0 > p.at.0) {
                    continue;
                }
                let ok = a.at(u).is_some_and(|t| t.since(p.at) <= SLA);
                let slot = if churn { &mut want.1.churn } else { &mut want.1.steady };
                (slot.0, slot.1) = (slot.0 + 1, slot.1 + u64::from(!ok));
            }
        }
        want.0.p99_ms = sim_core::stats::quantiles(&lat_ns, &[0.99]).first().map(|&ns| ns as f64 / 1e6);
        let (d, l) = pairs(&posts, &viewers, &sessions, &got, SETTLE, SLA, &changes, window);
        assert!(d.judged > 50 && !d.lost.is_empty() && d.late > 0, "{d:?}");
        assert!(l.churn.0 > 20 && l.steady.0 > 20 && l.churn.1 > 0 && l.steady.1 > 0, "{l:?}");
        assert!(l.churn.0 + l.steady.0 > d.judged, "some viewers are settled but not in a window");
        assert_eq!((d, l), want);
    }

    #[test]
    fn late_shares_split_at_the_churn_windows() {
        let posts = [
            Post { op: OpId(1), comment: 1, video: 0, at: ms(3_000) },
            Post { op: OpId(2), comment: 2, video: 0, at: ms(10_500) },
        ];
        let viewers = viewers_of(&[0]);
        let sessions = sessions_by_viewer(&[session(0, 5, 0, 20_000)]);
        let got = first_deliveries(&[&[(1, 0, ms(3_005))]]);
        let l = pairs(&posts, &viewers, &sessions, &got, SETTLE, SLA, &[ms(10_000)], Duration(2_000_000_000)).1;
        assert_eq!(l, LateShares { churn: (1, 1), steady: (1, 0) });
        assert_eq!((l.churn_share(), l.steady_share()), (1.0, 0.0));
    }
}
