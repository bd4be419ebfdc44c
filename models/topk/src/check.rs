//! The checks and measures. The history's acknowledged views are checked against the final logs
//! first; then every answered query is judged against an **oracle** that recomputes, by plain
//! counting over each partition's log prefix (no ranking, no tail pointers, no sketch), the
//! counts the answer should have been made of: the answer says which prefix of each partition
//! it covers (the offsets its summaries covered); over a prefix, a window of length `L` holds the
//! views whose event time is within `L` of the prefix's latest event time. Summed per video over
//! the partitions (hot sub-keys merged), the top K by views, then the smaller video id, is what
//! the exact design must answer.
//!
//! That definition is `Oracle::counts`. The checks do not recount each answer's prefixes from
//! offset 0: a `Sweep` moves from one answer's prefixes to the next one's (answers in the order
//! they were sent, so the prefixes mostly grow), touching only the records that enter or leave the
//! window on the way. A test holds it equal to the definition on prefixes that grow and shrink.

use crate::{CHECKS, Config, Mode, Node, event_ms, video_of};
use parts::log::{Pid, Record};
use sim_core::metrics::HistoryEntry;
use sim_core::model::{Axis, Table};
use sim_core::{Check, ModelReport, Outcome, Reply, RunView, Time};
use std::cmp::Reverse;
use std::collections::{BTreeMap, BTreeSet};

/// An answer's window and the offsets it covers per partition: what its right answer depends on.
type AnswerKey<'a> = (usize, &'a [u64]);

/// The operation kinds (indices into `OP_KINDS`).
const VIEW: u16 = 0;
const QUERY: u16 = 1;

/// An answered query as the history has it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Answered {
    pub invoke: Time,
    pub window: usize,
    /// Per partition, the offset the answer covers.
    pub covers: Vec<u64>,
    /// `(video, views)`, most first.
    pub top: Vec<(u64, u64)>,
}

/// The answers of the history (`[window, covers per partition, (video, views) ...]`).
pub fn answers(history: &[HistoryEntry], partitions: usize) -> Vec<Answered> {
    history
        .iter()
        .filter(|h| h.kind == QUERY && h.outcome == Some(Outcome::Ok))
        .filter_map(|h| match &h.reply {
            Reply::Values(v) if v.len() > partitions => Some(Answered {
                invoke: h.invoke,
                window: v[0] as usize,
                covers: v[1..=partitions].to_vec(),
                top: v[partitions + 1..].chunks(2).filter(|c| c.len() == 2).map(|c| (c[0], c[1])).collect(),
            }),
            _ => None,
        })
        .collect()
}

/// The oracle: plain counts over log prefixes.
pub struct Oracle<'a> {
    pub logs: &'a BTreeMap<Pid, Vec<(u64, Record)>>,
    /// Window lengths in ms, all time (`None`) last.
    pub lengths: Vec<Option<u64>>,
    /// The logs as the sweep reads them, by partition.
    parts: Vec<PartLog>,
}

impl<'a> Oracle<'a> {
    pub fn new(logs: &'a BTreeMap<Pid, Vec<(u64, Record)>>, lengths: Vec<Option<u64>>) -> Oracle<'a> {
        let partitions = logs.keys().next_back().map_or(0, |&p| p as usize + 1);
        let parts = (0..partitions).map(|p| PartLog::new(logs.get(&(p as Pid)).map_or(&[][..], |r| &r[..]))).collect();
        Oracle { logs, lengths, parts }
    }

    /// Calls `judge` once for each distinct `(window, covers)` of `answers` (the first answer of
    /// each), with the oracle's counts over its prefixes; returns what it said, by key. The
    /// answers are visited window by window, in the order they were sent.
    pub fn at_each<'b, T>(
        &self,
        answers: impl IntoIterator<Item = &'b Answered>,
        mut judge: impl FnMut(&'b Answered, &Sweep<'_>) -> T,
    ) -> BTreeMap<AnswerKey<'b>, T> {
        let mut firsts: Vec<&Answered> = Vec::new();
        let mut seen = BTreeSet::new();
        for a in answers {
            if seen.insert((a.window, &a.covers[..])) {
                firsts.push(a);
            }
        }
        firsts.sort_by_key(|a| (a.window, a.invoke));
        let mut said = BTreeMap::new();
        for group in firsts.chunk_by(|x, y| x.window == y.window) {
            let mut sweep = Sweep::new(&self.parts, self.lengths.get(group[0].window).copied().flatten());
            for a in group {
                sweep.move_to(&a.covers);
                said.insert((a.window, &a.covers[..]), judge(a, &sweep));
            }
        }
        said
    }

    /// Views per video of partition `p`'s first `covers` records in `window`, and their total.
    pub fn part(&self, p: Pid, covers: u64, window: usize) -> (BTreeMap<u64, u64>, u64) {
        let all = self.logs.get(&p).map_or(&[][..], |r| &r[..]);
        let recs = &all[..all.partition_point(|&(o, _)| o < covers)];
        let clock = recs.iter().map(|(_, r)| event_ms(r.value)).max().unwrap_or(0);
        let len = self.lengths.get(window).copied().flatten();
        let mut counts = BTreeMap::new();
        let mut n = 0;
        for (_, r) in recs {
            if len.is_none_or(|l| event_ms(r.value) + l > clock) {
                *counts.entry(video_of(r.key)).or_default() += 1;
                n += 1;
            }
        }
        (counts, n)
    }

    /// Views per video over every partition's prefix, and each partition's total in the window:
    /// the definition, recounted from offset 0 (the checks use `at_each`).
    pub fn counts(&self, window: usize, covers: &[u64]) -> (BTreeMap<u64, u64>, Vec<u64>) {
        let mut all = BTreeMap::new();
        let mut totals = Vec::with_capacity(covers.len());
        for (p, &c) in covers.iter().enumerate() {
            let (counts, n) = self.part(p as Pid, c, window);
            for (v, k) in counts {
                *all.entry(v).or_default() += k;
            }
            totals.push(n);
        }
        (all, totals)
    }
}

/// One partition's log as the sweep reads it.
struct PartLog {
    offsets: Vec<u64>,
    event_ms: Vec<u64>,
    video: Vec<u64>,
    /// `clock[n]`: the latest event time of the first `n` records (0 for none).
    clock: Vec<u64>,
    /// Record indices by event time (then index).
    by_time: Vec<usize>,
}

impl PartLog {
    fn new(recs: &[(u64, Record)]) -> PartLog {
        let offsets = recs.iter().map(|&(o, _)| o).collect();
        let event_ms: Vec<u64> = recs.iter().map(|(_, r)| event_ms(r.value)).collect();
        let video = recs.iter().map(|(_, r)| video_of(r.key)).collect();
        let clock = std::iter::once(0)
            .chain(event_ms.iter().scan(0, |latest, &e| {
                *latest = e.max(*latest);
                Some(*latest)
            }))
            .collect();
        let mut by_time: Vec<usize> = (0..recs.len()).collect();
        by_time.sort_by_key(|&i| (event_ms[i], i));
        PartLog { offsets, event_ms, video, clock, by_time }
    }

    /// How many records an answer covering offsets below `covers` holds.
    fn prefix(&self, covers: u64) -> usize {
        self.offsets.partition_point(|&o| o < covers)
    }

    /// Whether record `i` is in the window of length `len` over the first `n` records.
    fn inside(&self, i: usize, n: usize, len: Option<u64>) -> bool {
        len.is_none_or(|l| self.event_ms[i] + l > self.clock[n])
    }

    /// How many records, taken by event time, are too old for the window of length `len` over
    /// the first `n` records.
    fn too_old(&self, n: usize, len: u64) -> usize {
        self.by_time.partition_point(|&i| self.event_ms[i] + len <= self.clock[n])
    }

    /// Pushes `(video, +1 or -1)` for each record that enters or leaves the window of length `len`
    /// when the prefix goes from the first `from` records to the first `to`.
    fn moves(&self, from: usize, to: usize, len: Option<u64>, out: &mut Vec<(u64, i64)>) {
        let (short, long) = (from.min(to), from.max(to));
        let grow = if to > from { 1 } else { -1 };
        // The records between the two prefixes count if they are in the longer one's window.
        out.extend((short..long).filter(|&i| self.inside(i, long, len)).map(|i| (self.video[i], grow)));
        // The longer prefix's clock is later: the shorter one's records older than its window
        // leave as the prefix grows and come back as it shrinks.
        if let Some(l) = len {
            let band = &self.by_time[self.too_old(short, l)..self.too_old(long, l)];
            out.extend(band.iter().filter(|&&i| i < short).map(|&i| (self.video[i], -grow)));
        }
    }
}

/// The oracle's counts over one window, moved from one answer's prefixes to the next one's.
pub struct Sweep<'a> {
    parts: &'a [PartLog],
    len: Option<u64>,
    /// Per partition, how many records the prefix holds.
    at: Vec<usize>,
    /// Per partition, the views in the window.
    totals: Vec<u64>,
    /// Views per video (only videos with views).
    views: BTreeMap<u64, u64>,
    /// The same, most views first, then the smaller video.
    ranked: BTreeSet<(Reverse<u64>, u64)>,
    moves: Vec<(u64, i64)>,
}

impl<'a> Sweep<'a> {
    fn new(parts: &'a [PartLog], len: Option<u64>) -> Sweep<'a> {
        Sweep {
            parts,
            len,
            at: vec![0; parts.len()],
            totals: vec![0; parts.len()],
            views: BTreeMap::new(),
            ranked: BTreeSet::new(),
            moves: Vec::new(),
        }
    }

    /// Moves to the prefixes below `covers` (per partition).
    fn move_to(&mut self, covers: &[u64]) {
        self.moves.clear();
        for (p, part) in self.parts.iter().enumerate() {
            let n = part.prefix(covers.get(p).copied().unwrap_or(0));
            let before = self.moves.len();
            part.moves(self.at[p], n, self.len, &mut self.moves);
            let net: i64 = self.moves[before..].iter().map(|&(_, d)| d).sum();
            self.totals[p] = self.totals[p].checked_add_signed(net).expect("a window holds no fewer than 0 views");
            self.at[p] = n;
        }
        self.moves.sort_unstable_by_key(|&(v, _)| v);
        for run in self.moves.chunk_by(|x, y| x.0 == y.0) {
            let (video, net) = (run[0].0, run.iter().map(|&(_, d)| d).sum::<i64>());
            if net == 0 {
                continue;
            }
            let old = self.views.get(&video).copied().unwrap_or(0);
            let new = old.checked_add_signed(net).expect("a video has no fewer than 0 views");
            self.ranked.remove(&(Reverse(old), video));
            if new == 0 {
                self.views.remove(&video);
            } else {
                self.views.insert(video, new);
                self.ranked.insert((Reverse(new), video));
            }
        }
    }

    /// Views of `video` in the window.
    pub fn views(&self, video: u64) -> u64 {
        self.views.get(&video).copied().unwrap_or(0)
    }

    /// Views in the window of partition `p`.
    pub fn total(&self, p: usize) -> u64 {
        self.totals.get(p).copied().unwrap_or(0)
    }

    /// The top `k` `(video, views)`, most first, then the smaller video (as `top_of` ranks).
    pub fn top(&self, k: usize) -> Vec<(u64, u64)> {
        self.ranked.iter().take(k).map(|&(Reverse(n), v)| (v, n)).collect()
    }
}

/// `acked_in_log`: every acknowledged view is in its partition's final log at the offset the log
/// gave, with its video and view id.
pub fn acked_in_log(history: &[HistoryEntry], logs: &BTreeMap<Pid, Vec<(u64, Record)>>) -> Check {
    let (mut judged, mut bad) = (0u64, 0u64);
    let mut first = None;
    for h in history.iter().filter(|h| h.kind == VIEW && h.outcome == Some(Outcome::Ok)) {
        let Reply::Values(v) = &h.reply else { continue };
        let (p, off) = (v[0] as Pid, v[1]);
        judged += 1;
        let rec = logs.get(&p).and_then(|r| r.binary_search_by_key(&off, |&(o, _)| o).ok().map(|i| &r[i].1));
        if !rec.is_some_and(|r| video_of(r.key) == h.key && r.value >> 32 == h.value) {
            bad += 1;
            first.get_or_insert((h.op, p, off));
        }
    }
    Check::judged("acked_in_log", judged, "acknowledged views")
        .violations(bad, "missing or different in the log")
        .detail(match first {
            Some((op, p, o)) => format!("first: {op:?} at partition {p} offset {o}"),
            None => "every acknowledged view is in the log where it was acknowledged".into(),
        })
}

/// `topk_exact` (exact mode): every answered top K equals the oracle's over the prefixes the
/// answer covers.
pub fn topk_exact(c: &Config, o: &Oracle<'_>, answers: &[Answered]) -> Check {
    if c.mode == Mode::Sketch {
        return Check::judged("topk_exact", 0u64, "answers")
            .skipped(answers.len(), "sketch mode: approximate counts (judged by sketch_bound)")
            .violations(0u64, "wrong");
    }
    let names = c.window_names();
    let want = o.at_each(answers, |_, s| s.top(c.k));
    let (mut bad, mut first) = (0u64, None);
    for a in answers {
        let w = &want[&(a.window, &a.covers[..])];
        if *w != a.top {
            bad += 1;
            let at = w.iter().zip(&a.top).position(|(x, y)| x != y).unwrap_or(w.len().min(a.top.len()));
            first.get_or_insert(format!(
                "query at {:.3}s, window {}: place {} is {:?}, the oracle's {:?}",
                a.invoke.0 as f64 / 1e9,
                names.get(a.window).map_or("?", |s| s.as_str()),
                at + 1,
                a.top.get(at),
                w.get(at)
            ));
        }
    }
    Check::judged("topk_exact", answers.len(), "answers").violations(bad, "with a wrong top K").detail(
        first.unwrap_or_else(|| format!("{} distinct answers, each equal to the oracle's top {}", want.len(), c.k)),
    )
}

/// Per partition, for each offset, the earliest acknowledgement of a view at or after it.
pub fn earliest_acks(history: &[HistoryEntry], partitions: usize) -> Vec<Vec<Time>> {
    let mut per: Vec<BTreeMap<u64, Time>> = vec![BTreeMap::new(); partitions];
    for h in history.iter().filter(|h| h.kind == VIEW && h.outcome == Some(Outcome::Ok)) {
        if let (Reply::Values(v), Some(t)) = (&h.reply, h.complete.get())
            && let Some(m) = per.get_mut(v[0] as usize)
        {
            m.insert(v[1], t);
        }
    }
    per.into_iter()
        .map(|m| {
            let end = m.keys().next_back().map_or(0, |&o| o + 1);
            let mut suffix = vec![Time(u64::MAX); end as usize + 1];
            for o in (0..end).rev() {
                let here = m.get(&o).copied().unwrap_or(Time(u64::MAX));
                suffix[o as usize] = here.min(suffix[o as usize + 1]);
            }
            suffix
        })
        .collect()
}

/// How stale an answer is: from the acknowledgement of the earliest view it misses (acknowledged
/// before the query was sent) to the query; 0 if it misses none.
pub fn staleness_of(a: &Answered, acks: &[Vec<Time>]) -> u64 {
    a.covers
        .iter()
        .zip(acks)
        .map(|(&c, s)| {
            let first = s.get(c as usize).copied().unwrap_or(Time(u64::MAX));
            if first < a.invoke { a.invoke.0 - first.0 } else { 0 }
        })
        .max()
        .unwrap_or(0)
}

/// `staleness`: no answer misses a view acknowledged more than `c.staleness` before the query.
pub fn staleness(c: &Config, answers: &[Answered], acks: &[Vec<Time>]) -> (Check, Vec<u64>) {
    let st: Vec<u64> = answers.iter().map(|a| staleness_of(a, acks)).collect();
    let bad = st.iter().filter(|&&s| s > c.staleness.0).count();
    let max = st.iter().copied().max().unwrap_or(0);
    let check = Check::judged("staleness", answers.len(), "answers")
        .violations(bad, &format!("staler than {}", c.staleness))
        .detail(format!("the stalest answer missed a view acknowledged {:.3}s before the query", max as f64 / 1e9));
    (check, st)
}

/// What `sketch_bound` found.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct SketchJudged {
    pub judged: u64,
    pub under: u64,
    pub over: u64,
    /// The largest over-count, and `epsilon x N` where it happened.
    pub max_over: u64,
    pub bound_at_max: f64,
    /// The largest over-count as a share of its bound.
    pub max_share: f64,
    /// Of the oracle's top K videos, the share that the answers list.
    pub recall: f64,
}

/// `sketch_bound` (sketch mode): in every distinct answer, no listed video's count is below its
/// views, and the share of listed videos over-counted by more than `epsilon x N` (N: views in
/// the window of the partitions holding the video) is at most `delta`.
pub fn sketch_bound(c: &Config, o: &Oracle<'_>, answers: &[Answered]) -> (Check, SketchJudged) {
    let mut j = SketchJudged::default();
    if c.mode == Mode::Exact {
        let check = Check::judged("sketch_bound", 0u64, "(answer, video) counts")
            .skipped(answers.len(), "exact mode: no sketch")
            .violations(0u64, "over the bound");
        return (check, j);
    }
    // Which partitions hold each video's views.
    let mut home: BTreeMap<u64, BTreeSet<usize>> = BTreeMap::new();
    for (&p, recs) in o.logs {
        for (_, r) in recs {
            home.entry(video_of(r.key)).or_default().insert(p as usize);
        }
    }
    // One answer per (window, covers): the same prefixes give the same summaries.
    let by_key: BTreeMap<AnswerKey<'_>, &Answered> = answers.iter().map(|a| ((a.window, &a.covers[..]), a)).collect();
    // Per answer: each listed video's views and N, and how many of the true top K it lists.
    let truth = o.at_each(by_key.values().copied(), |a, s| {
        let listed =
            a.top.iter().map(|&(v, _)| (s.views(v), home.get(&v).map_or(0, |ps| ps.iter().map(|&p| s.total(p)).sum())));
        let want: BTreeSet<u64> = s.top(c.k).into_iter().map(|(v, _)| v).collect();
        (listed.collect::<Vec<(u64, u64)>>(), a.top.iter().filter(|(v, _)| want.contains(v)).count(), want.len())
    });
    let (mut hit, mut of) = (0u64, 0u64);
    for (key, a) in by_key {
        let (listed, hits, wanted) = &truth[&key];
        for (&(_, est), &(t, n)) in a.top.iter().zip(listed) {
            j.judged += 1;
            let bound = c.sketch.epsilon * n as f64;
            if est < t {
                j.under += 1;
                continue;
            }
            let over = est - t;
            if over as f64 > bound {
                j.over += 1;
            }
            if over >= j.max_over {
                j.max_over = over;
                j.bound_at_max = bound;
            }
            if bound > 0.0 {
                j.max_share = j.max_share.max(over as f64 / bound);
            }
        }
        hit += *hits as u64;
        of += *wanted as u64;
    }
    j.recall = if of == 0 { 0.0 } else { hit as f64 / of as f64 };
    let allowed = c.sketch.delta * j.judged as f64;
    let check = Check::judged("sketch_bound", j.judged, "(answer, video) counts")
        .violations(j.under, "below the true count")
        .passed_if(j.over as f64 <= allowed)
        .detail(format!(
            "{} over epsilon x N (allowed: delta x judged = {allowed:.1}); largest over-count {} views where epsilon x N = {:.1}",
            j.over, j.max_over, j.bound_at_max
        ));
    (check, j)
}

pub fn report(c: &Config, run: &RunView<'_, Node>) -> ModelReport {
    let mut r = ModelReport::default();
    let history = run.history();
    let brokers = run.servers().filter_map(|(_, n)| match n {
        Node::Broker(b) => Some(&**b),
        _ => None,
    });
    let leaders = parts::log::leader_logs(brokers);
    let logs = parts::log::committed(&leaders);
    let partitions = c.log.topics.iter().map(|t| t.partitions).sum::<u32>() as usize;
    let answered = answers(history, partitions);
    let o = Oracle::new(&logs, c.lengths_ms());
    let acks = earliest_acks(history, partitions);
    r.checks.push(acked_in_log(history, &logs).passed_if(leaders.len() == partitions));
    r.checks.push(topk_exact(c, &o, &answered));
    let (st, stale) = staleness(c, &answered, &acks);
    r.checks.push(st);
    let (sk, j) = sketch_bound(c, &o, &answered);
    r.checks.push(sk);
    debug_assert_eq!(r.checks.len(), CHECKS.len());
    measures(c, run, &logs, &answered, &stale, &j, &mut r);
    r
}

fn measures(
    c: &Config,
    run: &RunView<'_, Node>,
    logs: &BTreeMap<Pid, Vec<(u64, Record)>>,
    answered: &[Answered],
    stale: &[u64],
    j: &SketchJudged,
    r: &mut ModelReport,
) {
    let main_s = run.main_end.0 as f64 / 1e9;
    let history = run.history();
    let m = &mut r.measures;
    let views = history.iter().filter(|h| h.kind == VIEW && h.outcome == Some(Outcome::Ok)).count();
    m.insert("views_acked".into(), views as f64);
    m.insert("views_per_s".into(), views as f64 / main_s);
    // The median 10 s of views sent (whole buckets only).
    let mut per10: BTreeMap<u64, u64> = BTreeMap::new();
    for h in history.iter().filter(|h| h.kind == VIEW && h.invoke < run.main_end) {
        *per10.entry(h.invoke.0 / 10_000_000_000).or_default() += 1;
    }
    per10.retain(|&b, _| (b + 1) * 10_000_000_000 <= run.main_end.0);
    let mut rates: Vec<u64> = per10.values().copied().collect();
    rates.sort_unstable();
    m.insert("base_views_per_s".into(), rates.get(rates.len() / 2).copied().unwrap_or(0) as f64 / 10.0);
    m.insert("answers".into(), answered.len() as f64);
    let videos: BTreeSet<u64> = logs.values().flatten().map(|(_, r)| video_of(r.key)).collect();
    m.insert("videos_viewed".into(), videos.len() as f64);
    let max = stale.iter().copied().max().unwrap_or(0);
    m.insert("staleness_max_s".into(), max as f64 / 1e9);
    m.insert(
        "staleness_mean_s".into(),
        if stale.is_empty() { 0.0 } else { stale.iter().sum::<u64>() as f64 / stale.len() as f64 / 1e9 },
    );
    if c.mode == Mode::Sketch {
        m.insert("sketch_judged".into(), j.judged as f64);
        m.insert("sketch_over_bound".into(), j.over as f64);
        m.insert("sketch_overcount_max".into(), j.max_over as f64);
        m.insert("sketch_bound_at_max".into(), j.bound_at_max);
        m.insert("sketch_overcount_max_share_of_bound".into(), j.max_share);
        m.insert("sketch_topk_recall".into(), j.recall);
    }
    let names = c.window_names();
    let (mut restored, mut skipped, mut saves, mut applied) = (0u64, 0u64, 0u64, 0u64);
    let mut win_bytes = vec![0u64; names.len()];
    let mut win_keys = vec![0u64; names.len()];
    let (mut events, mut sketch_bytes) = (0u64, 0u64);
    // The counts over every counter's incarnations (a crash does not take back what it did
    // before); the state held, over the running ones.
    for (_, n) in run.incarnations() {
        if let Node::Counter(a) = n {
            restored += a.keeper.stats.restored;
            skipped += a.keeper.stats.skipped;
            saves += a.keeper.stats.saved;
            applied += a.applied;
        }
    }
    for (_, n) in run.servers() {
        if let Node::Counter(a) = n {
            for (_, st) in a.keeper.states() {
                events += st.events() as u64;
                for (i, (b, w)) in st.window_bytes().into_iter().zip(&st.wins).enumerate() {
                    win_bytes[i] += b;
                    win_keys[i] += w.ranked.len() as u64;
                    sketch_bytes = sketch_bytes.max(w.sketch.as_ref().map_or(0, |s| s.bytes()));
                }
            }
        }
    }
    m.insert("snapshots_restored".into(), restored as f64);
    m.insert("replay_skipped".into(), skipped as f64);
    m.insert("snapshots_saved".into(), saves as f64);
    m.insert("views_applied".into(), applied as f64);
    m.insert("tail_events_kept".into(), events as f64);
    for (i, name) in names.iter().enumerate() {
        m.insert(format!("counter_bytes_{name}"), win_bytes[i] as f64);
        m.insert(format!("counted_keys_{name}"), win_keys[i] as f64);
    }
    let all = names.len() - 1;
    if c.mode == Mode::Exact && win_keys[all] > 0 {
        m.insert("alltime_bytes_per_video".into(), win_bytes[all] as f64 / win_keys[all] as f64);
    }
    if sketch_bytes > 0 {
        m.insert("sketch_bytes_per_window".into(), sketch_bytes as f64);
    }
    for (_, n) in run.servers() {
        if let Node::Query(q) = n {
            m.insert("cache_hit_ratio".into(), q.cache.stats.hit_ratio());
            m.insert("query_merges".into(), q.merges as f64);
            m.insert("summaries_ignored_older".into(), q.older as f64);
        }
    }
    r.tables.push(staleness_table(answered, stale));
}

/// Staleness of the answers over time.
fn staleness_table(answered: &[Answered], stale: &[u64]) -> Table {
    // One row per second: the stalest answer of the queries sent in it.
    let mut per: BTreeMap<u64, u64> = BTreeMap::new();
    for (a, &s) in answered.iter().zip(stale) {
        let e = per.entry(a.invoke.0 / 1_000_000_000).or_default();
        *e = (*e).max(s);
    }
    let rows = per.into_iter().map(|(t, s)| vec![t as f64, s as f64 / 1e9]).collect();
    Table::new("answer staleness", ["t_s", "staleness_max_s"], rows)
        .over_time(&["staleness_max_s"], Axis::new("stalest answer per second", "s"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{WindowDef, record_key, record_value};
    use parts::rank::top_of;
    use sim_core::{Duration, NodeId, OpId};

    fn rec(video: u64, view: u64, ms: u64) -> Record {
        Record { key: record_key(video, 0), value: record_value(view, ms), produced: Time(0), bytes: 100 }
    }

    fn cfg(mode: Mode) -> Config {
        Config {
            windows: vec![WindowDef { name: "h".into(), length: Duration::from_secs(10) }],
            k: 2,
            mode,
            ..Config::default()
        }
    }

    fn ans(window: usize, covers: &[u64], top: &[(u64, u64)], invoke_s: u64) -> Answered {
        Answered { invoke: Time(invoke_s * 1_000_000_000), window, covers: covers.to_vec(), top: top.to_vec() }
    }

    fn logs() -> BTreeMap<Pid, Vec<(u64, Record)>> {
        // Partition 0: video 1 at 1 s, 2 s; video 2 at 15 s. Partition 1: video 3 at 14, 16 s.
        BTreeMap::from([
            (0, vec![(0, rec(1, 1, 1000)), (1, rec(1, 2, 2000)), (2, rec(2, 3, 15_000))]),
            // A leader's marker at offset 0 of partition 1: no record.
            (1, vec![(1, rec(3, 4, 14_000)), (2, rec(3, 5, 16_000))]),
        ])
    }

    #[test]
    fn the_oracle_counts_each_window_over_the_prefix_and_a_wrong_top_k_fails() {
        let l = logs();
        let c = cfg(Mode::Exact);
        let o = Oracle::new(&l, c.lengths_ms());
        // Window "h" (10 s) over everything: partition 0's clock is 15 s (video 1 out).
        assert_eq!(o.counts(0, &[3, 3]).0, BTreeMap::from([(2, 1), (3, 2)]));
        // Over the first 2 records of partition 0 only: video 1 twice.
        assert_eq!(o.counts(0, &[2, 0]).0, BTreeMap::from([(1, 2)]));
        assert_eq!(o.counts(1, &[3, 3]).0, BTreeMap::from([(1, 2), (2, 1), (3, 2)]), "all time");
        let good = [ans(0, &[3, 3], &[(3, 2), (2, 1)], 20), ans(1, &[3, 2], &[(1, 2), (2, 1)], 20)];
        assert!(topk_exact(&c, &o, &good).passed);
        // Counts lost (a new owner counting from a committed offset): video 1 has one view.
        let lost = [ans(1, &[3, 2], &[(2, 1), (3, 1)], 20)];
        assert!(!topk_exact(&c, &o, &lost).passed);
        assert!(topk_exact(&c, &o, &[]).is_vacuous());
        assert!(topk_exact(&cfg(Mode::Sketch), &o, &good).is_vacuous(), "sketch mode: not judged");
    }

    #[test]
    fn the_sweep_counts_what_recounting_each_prefix_counts() {
        // Three partitions of views whose event times arrive out of order (up to 4 s late), with
        // gaps in the offsets, over 50 videos; windows of 1 s, 5 s and all time. Event times are
        // whole tenths of a second, so views often sit exactly at a window's edge.
        let mut rng = sim_core::rng::Prng::new(7, sim_core::rng::Stream::Setup);
        let mut logs = BTreeMap::new();
        for p in 0..3 {
            let (mut off, mut ms) = (rng.below(2), 0);
            let recs: Vec<(u64, Record)> = (0..400)
                .map(|i| {
                    off += 1 + rng.below(2);
                    ms += 100 * rng.below(2);
                    (off, rec(rng.below(50), i, ms.saturating_sub(100 * rng.below(40))))
                })
                .collect();
            logs.insert(p, recs);
        }
        let lengths = vec![Some(1000), Some(5000), None];
        let o = Oracle::new(&logs, lengths);
        // Answers whose covers mostly grow, sometimes shrink, sometimes jump to 0 or past the end.
        let mut covers = [0u64; 3];
        let answers: Vec<Answered> = (0..300)
            .map(|i| {
                for c in &mut covers {
                    *c = match rng.below(10) {
                        0 => rng.below(1300),
                        1 => c.saturating_sub(rng.below(100)),
                        _ => *c + rng.below(20),
                    };
                }
                ans(rng.below(3) as usize, &covers, &[], i)
            })
            .collect();
        let swept = o.at_each(&answers, |_, s| (s.top(usize::MAX), (0..3).map(|p| s.total(p)).collect::<Vec<_>>()));
        let distinct: BTreeSet<_> = answers.iter().map(|a| (a.window, &a.covers[..])).collect();
        assert_eq!(swept.len(), distinct.len());
        for ((window, covers), (top, totals)) in swept {
            let (views, want_totals) = o.counts(window, covers);
            assert_eq!(top, top_of(&views, usize::MAX), "window {window}, covers {covers:?}");
            assert_eq!(totals, want_totals, "window {window}, covers {covers:?}");
        }
    }

    fn view(op: u64, p: u64, off: u64, ack_ms: u64) -> HistoryEntry {
        HistoryEntry {
            op: OpId::new(op),
            client: NodeId(9),
            kind: VIEW,
            key: 1,
            value: op,
            attempt: 1,
            invoke: Time(0),
            complete: Some(Time(ack_ms * 1_000_000)).into(),
            outcome: Some(Outcome::Ok),
            reply: Reply::list([p, off]),
        }
    }

    #[test]
    fn an_answer_missing_a_view_acknowledged_long_before_the_query_is_stale() {
        let h = [view(1, 0, 0, 1000), view(2, 0, 1, 2000), view(3, 1, 0, 5000)];
        let acks = earliest_acks(&h, 2);
        let c = Config { staleness: Duration::from_secs(3), ..cfg(Mode::Exact) };
        // At 6 s, covering partition 0 up to offset 1: misses the view acknowledged at 2 s (4 s).
        let a = ans(0, &[1, 1], &[], 6);
        assert_eq!(staleness_of(&a, &acks), 4_000_000_000);
        assert!(!staleness(&c, &[a], &acks).0.passed);
        // Covering everything: fresh; missing only the view acknowledged at 5 s: 1 s.
        assert_eq!(staleness_of(&ans(0, &[2, 1], &[], 6), &acks), 0);
        let b = ans(0, &[2, 0], &[], 6);
        assert_eq!(staleness_of(&b, &acks), 1_000_000_000);
        assert!(staleness(&c, &[b], &acks).0.passed);
        // A view acknowledged after the query was sent is not missed.
        assert_eq!(staleness_of(&ans(0, &[2, 0], &[], 4), &acks), 0);
    }

    #[test]
    fn an_undercount_or_too_many_overcounts_break_the_sketch_bound() {
        let l = logs();
        let c = Config { sketch: parts::sketch::SketchSpec { epsilon: 0.5, delta: 0.1, seed: 0 }, ..cfg(Mode::Sketch) };
        let o = Oracle::new(&l, c.lengths_ms());
        // All time: partition 0 has N = 3 (bound 1.5), partition 1 N = 2 (bound 1).
        let exact = ans(1, &[3, 3], &[(1, 2), (3, 2)], 20);
        let (ok, j) = sketch_bound(&c, &o, std::slice::from_ref(&exact));
        assert!(ok.passed, "{}", ok.detail);
        assert_eq!((j.judged, j.over, j.under), (2, 0, 0));
        assert_eq!(j.recall, 1.0);
        let under = ans(1, &[3, 3], &[(1, 1), (3, 2)], 20);
        assert!(!sketch_bound(&c, &o, &[under]).0.passed, "an estimate below the count");
        // Video 3 over-counted by 2 > 1: one of 2 judged over the bound, more than delta = 10%.
        let over = ans(1, &[3, 3], &[(3, 4), (1, 2)], 20);
        let (bad, j) = sketch_bound(&c, &o, &[over]);
        assert!(!bad.passed);
        assert_eq!((j.over, j.max_over), (1, 2));
        assert!(sketch_bound(&cfg(Mode::Exact), &o, &[exact]).0.is_vacuous(), "exact mode: not judged");
    }

    #[test]
    fn an_acknowledged_view_missing_from_the_log_fails() {
        let l = logs();
        let mut h = view(1, 0, 0, 1000);
        assert!(acked_in_log(&[h.clone()], &l).passed);
        h.value = 7;
        assert!(!acked_in_log(&[h], &l).passed, "another view at its offset");
    }
}
