//! The checks, over the history and the leaderboard service's journal, and the measures.
//!
//! The **oracle** is a second, independent implementation: every player's score and a count of
//! players per score, built from the initial scores (a pure function of the config) and replayed
//! through the journal of applied updates. The order it expects is sorted from the scores (a
//! counting sort), and the top 10 over time comes from one replay that keeps the few thousand
//! best `(-score, player)` keys in a `BTreeSet` (chosen again from every score if fewer than ten
//! are left). The journal itself is first
//! checked against the history (`applied_exactly_once`): it must hold every acknowledged game
//! result once, with the delta of its kind, and nothing that was not produced. Each check keeps
//! `judged`, the number of items it judged, and fails when it judged nothing.

use crate::set::{Key, key};
use crate::{
    Applied, Board, Config, LOSS, NO_PLAYER, Node, RANK, Store, Structure, TOP10, WIN, dec_score, initial_score,
};
use sim_core::metrics::HistoryEntry;
use sim_core::model::{Axis, Table};
use sim_core::{Check, ModelReport, OpId, Outcome, Reply, RunView, Time};
use std::collections::{BTreeMap, BTreeSet};

/// Adds `delta` to `player`'s score in the oracle's scores by player (a player without one starts
/// at 0): its score before, if it had one, and after. The oracle's own step, shared by its replays
/// and kept apart from the service's (the oracle is a second implementation).
fn add_score(scores: &mut Vec<Option<i64>>, player: u64, delta: i64) -> (Option<i64>, i64) {
    let i = player as usize;
    if scores.len() <= i {
        scores.resize(i + 1, None);
    }
    let old = scores[i];
    let new = old.unwrap_or(0) + delta;
    scores[i] = Some(new);
    (old, new)
}

/// The oracle's state: scores and players per score. Each check replays the journal on its own
/// copy of the initial state, built once.
#[derive(Clone)]
pub struct Oracle {
    pub scores: Vec<Option<i64>>,
    pub per_score: BTreeMap<i64, u64>,
    /// Journal entries applied so far.
    pub applied: usize,
}

impl Oracle {
    /// The initial scores and players per score.
    pub fn new(c: &Config) -> Oracle {
        let scores: Vec<Option<i64>> = (0..c.players).map(|p| initial_score(c, p)).collect();
        let mut o = Oracle { scores, per_score: BTreeMap::new(), applied: 0 };
        o.per_score = match o.score_counts() {
            Some((best, counts)) => {
                let scored = counts.into_iter().enumerate().filter(|&(_, n)| n > 0);
                scored.map(|(i, n)| (best - i as i64, n as u64)).collect()
            }
            None => o.scores.iter().flatten().fold(BTreeMap::new(), |mut per, &s| {
                *per.entry(s).or_insert(0) += 1;
                per
            }),
        };
        o
    }

    pub fn apply(&mut self, player: u64, delta: i64) {
        let (old, new) = add_score(&mut self.scores, player, delta);
        if let Some(old) = old {
            let n = self.per_score.get_mut(&old).expect("counted");
            *n -= 1;
            if *n == 0 {
                self.per_score.remove(&old);
            }
        }
        *self.per_score.entry(new).or_insert(0) += 1;
    }

    /// Replays the journal up to `prefix` entries.
    pub fn advance(&mut self, journal: &[Applied], prefix: usize) {
        while self.applied < prefix.min(journal.len()) {
            let a = journal[self.applied];
            self.apply(a.player, a.delta);
            self.applied += 1;
        }
    }

    pub fn rank(&self, score: i64) -> u64 {
        1 + self.per_score.range(score + 1..).map(|(_, n)| n).sum::<u64>()
    }

    /// The players with a score, `(player, score)` by player.
    fn players(&self) -> impl Iterator<Item = (u64, i64)> + '_ {
        self.scores.iter().enumerate().filter_map(|(p, s)| s.map(|s| (p as u64, s)))
    }

    /// Players per score, best first, with the best score: `None` when the scores spread over far
    /// more values than there are players (or there are none).
    fn score_counts(&self) -> Option<(i64, Vec<usize>)> {
        let (lo, hi) = self.players().fold((i64::MAX, i64::MIN), |(lo, hi), (_, s)| (lo.min(s), hi.max(s)));
        let span = hi.checked_sub(lo).map(|d| d as u64 + 1).filter(|&d| d <= 4 * self.scores.len() as u64 + 1024)?;
        let mut counts = vec![0usize; span as usize];
        for (_, s) in self.players() {
            counts[(hi - s) as usize] += 1;
        }
        Some((hi, counts))
    }

    /// Every player's key, in rank order: a counting sort over the scores (players visited by
    /// id, so each score's players come out ascending), or a plain sort when the scores spread
    /// over far more values than there are players.
    pub fn ranking(&self) -> Vec<Key> {
        let Some((hi, mut next)) = self.score_counts() else {
            let mut keys: Vec<Key> = self.players().map(|(p, s)| key(p, s)).collect();
            keys.sort_unstable();
            return keys;
        };
        // Where each score's players start: after the players of every better score.
        let mut before = 0;
        for at in &mut next {
            (*at, before) = (before, before + *at);
        }
        let mut keys = vec![(0, 0); before];
        for (p, s) in self.players() {
            let at = &mut next[(hi - s) as usize];
            keys[*at] = key(p, s);
            *at += 1;
        }
        keys
    }
}

fn is_update(h: &HistoryEntry) -> bool {
    h.kind == WIN || h.kind == LOSS
}

fn values(h: &HistoryEntry) -> Option<&[u64]> {
    match (&h.reply, h.outcome) {
        (Reply::Values(v), Some(Outcome::Ok)) => Some(v),
        _ => None,
    }
}

/// Every acknowledged game result applied exactly once with its delta; nothing applied that no
/// operation produced (an unacknowledged result may or may not be applied, once at most).
pub fn applied_exactly_once(history: &[HistoryEntry], journal: &[Applied]) -> Check {
    let mut times: BTreeMap<u64, (u64, i64)> = BTreeMap::new();
    for a in journal {
        let e = times.entry(a.value).or_insert((0, a.delta));
        e.0 += 1;
    }
    let (mut judged, mut missing, mut twice, mut wrong) = (0u64, 0u64, 0u64, 0u64);
    let mut first: Option<String> = None;
    let mut blamed = Vec::new();
    let mut produced = BTreeSet::new();
    for h in history.iter().filter(|h| is_update(h)) {
        produced.insert(h.value);
        let delta = if h.kind == WIN { 1 } else { -1 };
        let (n, d) = times.get(&h.value).copied().unwrap_or((0, delta));
        let acked = h.outcome == Some(Outcome::Ok);
        if acked {
            judged += 1;
        }
        let bad = if acked && n == 0 {
            missing += 1;
            "acknowledged, never applied"
        } else if n > 1 {
            twice += 1;
            "applied more than once"
        } else if n == 1 && d != delta {
            wrong += 1;
            "applied with the wrong sign"
        } else {
            continue;
        };
        blamed.push(h);
        first.get_or_insert_with(|| {
            format!("{bad}: op {:?} (player {}, value {}) applied {n} times", h.op, h.key, h.value)
        });
    }
    let phantom = times.keys().filter(|v| !produced.contains(*v)).count() as u64;
    judged += journal.len() as u64;
    let detail = format!(
        "{missing} missing, {twice} applied twice, {wrong} wrong sign, {phantom} never produced{}",
        first.map(|f| format!("; first: {f}")).unwrap_or_default()
    );
    Check::judged("applied_exactly_once", judged, "acknowledged results and applied updates")
        .violations(missing + twice + wrong + phantom, "not applied exactly once")
        .detail(detail)
        .blame_ops(blamed)
}

/// The players in rank order as the store holds them.
pub fn ranked(store: &Store) -> Vec<Key> {
    match store {
        Store::Sorted(s) => {
            let mut all = Vec::with_capacity(s.len());
            for sh in &s.shards {
                sh.set.all(&mut all);
            }
            all
        }
        Store::Scan(t) => t.top(t.len()).0,
    }
}

/// After the run, every player's score and place equal the oracle's built from the history: the
/// initial scores plus every acknowledged result (and each unacknowledged one the service
/// applied). Comparing the whole order compares every rank.
pub fn final_ranks_exact(start: &Oracle, history: &[HistoryEntry], b: &Board) -> Check {
    let applied: BTreeSet<u64> = b.journal.iter().map(|a| a.value).collect();
    let mut o = start.clone();
    for h in history.iter().filter(|h| is_update(h)) {
        if h.outcome == Some(Outcome::Ok) || applied.contains(&h.value) {
            o.apply(h.key, if h.kind == WIN { 1 } else { -1 });
        }
    }
    let want = o.ranking();
    let got = ranked(&b.store);
    let judged = want.len().max(got.len()) as u64;
    let mut wrong = 0u64;
    let mut first = None;
    for i in 0..want.len().max(got.len()) {
        if want.get(i) != got.get(i) {
            wrong += 1;
            first.get_or_insert((i + 1, want.get(i).copied(), got.get(i).copied()));
        }
    }
    let points_wrong = (0..o.scores.len().max(b.points.len()))
        .filter(|&p| o.scores.get(p).copied().flatten() != b.points.get(p).copied().flatten())
        .count();
    let detail = match first {
        Some((place, w, g)) => format!(
            "{wrong} places differ, {points_wrong} user points differ; first at place {place}: oracle {w:?}, store {g:?} (keys are (-score, player))"
        ),
        None => format!("order equals the oracle's; {points_wrong} user points differ"),
    };
    Check::judged("final_ranks_exact", judged, "players")
        .violations(wrong + points_wrong as u64, "out of place or with the wrong points")
        .detail(detail)
}

/// Reads in the order of the journal prefix they read.
fn reads(history: &[HistoryEntry], kind: u16) -> Vec<(&HistoryEntry, &[u64])> {
    let mut r: Vec<_> = history.iter().filter(|h| h.kind == kind).filter_map(|h| values(h).map(|v| (h, v))).collect();
    r.sort_by_key(|(h, v)| (v[0], h.op));
    r
}

/// Every rank read equals the oracle's at the prefix it read, and that prefix holds every update
/// applied before the read was sent (rank reads are not cached: they must be fresh).
pub fn ranks_exact(start: &Oracle, history: &[HistoryEntry], journal: &[Applied]) -> Check {
    let mut o = start.clone();
    let (mut judged, mut wrong, mut stale) = (0u64, 0u64, 0u64);
    let (mut first, mut blamed) = (None, Vec::new());
    for (h, v) in reads(history, RANK) {
        judged += 1;
        let prefix = v[0] as usize;
        let before = journal.partition_point(|a| a.at < h.invoke);
        if prefix < before {
            stale += 1;
            blamed.push(h);
            first.get_or_insert(format!(
                "{:?} read prefix {prefix} but {before} updates were applied before it was sent",
                h.op
            ));
        }
        o.advance(journal, prefix);
        let want = o.scores.get(h.key as usize).copied().flatten();
        let got = (v[1] != NO_PLAYER).then(|| dec_score(v[1]));
        let want_rank = want.map(|s| o.rank(s)).unwrap_or(0);
        if want != got || want_rank != v[2] {
            wrong += 1;
            blamed.push(h);
            first.get_or_insert(format!(
                "{:?} player {}: answered score {got:?} rank {}, oracle score {want:?} rank {want_rank}",
                h.op, h.key, v[2]
            ));
        }
    }
    let detail = format!(
        "{wrong} wrong, {stale} older than the updates before them{}",
        first.map(|f| format!("; first: {f}")).unwrap_or_default()
    );
    Check::judged("ranks_exact", judged, "rank reads")
        .violations(wrong + stale, "wrong or stale")
        .detail(detail)
        .blame_ops(blamed)
}

fn decode_top(v: &[u64]) -> Vec<Key> {
    v[1..].chunks(2).map(|c| key(c[0], dec_score(c[1]))).collect()
}

/// The true top 10 through the journal, from one replay: the initial list, then each change.
pub struct Top10s {
    initial: Vec<Key>,
    /// `(journal prefix after the change, when that update was applied, the new list)`.
    pub changes: Vec<(usize, Time, Vec<Key>)>,
    /// Times the best keys were chosen again from every score (fewer than ten left; the tests
    /// read it).
    #[cfg_attr(not(test), allow(dead_code))]
    refills: usize,
}

/// The players' best keys, in order: every key at or better than `bound` (so the top 10 are its
/// first ten), or every key when `all`. A few thousand keys instead of a million: a move in or
/// out of it is a look-up in a small tree, and its first ten are the top 10 as long as it holds
/// ten. When it does not, it is chosen again from every score.
struct Best {
    keys: BTreeSet<Key>,
    bound: Key,
    all: bool,
}

impl Best {
    /// The `keep` best keys of `scores` (at least ten).
    fn of(scores: &[Option<i64>], keep: usize) -> Best {
        let mut keys: Vec<Key> = scores.iter().enumerate().filter_map(|(p, s)| s.map(|s| key(p as u64, s))).collect();
        let all = keys.len() <= keep;
        if !all {
            keys.select_nth_unstable(keep - 1);
            keys.truncate(keep);
        }
        let bound = if all { (i64::MAX, u64::MAX) } else { keys.iter().copied().max().expect("keep >= 10") };
        Best { keys: keys.into_iter().collect(), bound, all }
    }

    /// A player's key moved from `before` to `after`.
    fn moved(&mut self, before: Option<Key>, after: Key) {
        if let Some(k) = before.filter(|&k| k <= self.bound) {
            self.keys.remove(&k);
        }
        if after <= self.bound {
            self.keys.insert(after);
        }
    }

    fn top10(&self) -> Vec<Key> {
        self.keys.iter().take(10).copied().collect()
    }
}

impl Top10s {
    pub fn replay(start: &Oracle, journal: &[Applied]) -> Top10s {
        Top10s::replay_keeping(start, journal, 4096)
    }

    /// An update can change the top 10 only if the player's key before it or after it ranks at
    /// or above the 10th (or there are fewer than 10 players): only then is the list read again.
    /// The order is kept for the `keep` best keys only ([`Best`]).
    fn replay_keeping(start: &Oracle, journal: &[Applied], keep: usize) -> Top10s {
        let keep = keep.max(10);
        let mut scores = start.scores.clone();
        let mut best = Best::of(&scores, keep);
        let initial = best.top10();
        let mut changes: Vec<(usize, Time, Vec<Key>)> = Vec::new();
        let mut refills = 0;
        for (i, a) in journal.iter().enumerate() {
            let (old, new) = add_score(&mut scores, a.player, a.delta);
            let before = old.map(|s| key(a.player, s));
            let after = key(a.player, new);
            best.moved(before, after);
            if best.keys.len() < 10 && !best.all {
                best = Best::of(&scores, keep);
                refills += 1;
            }
            let last = changes.last().map_or(&initial, |c| &c.2);
            let touches = match last.get(9) {
                Some(tenth) => before.is_some_and(|k| k <= *tenth) || after <= *tenth,
                None => true,
            };
            if !touches {
                continue;
            }
            let now = best.top10();
            if now != *last {
                changes.push((i + 1, a.at, now));
            }
        }
        Top10s { initial, changes, refills }
    }

    /// The true top 10 after the journal's first `prefix` entries.
    pub fn at(&self, prefix: usize) -> &[Key] {
        match self.changes.partition_point(|c| c.0 <= prefix) {
            0 => &self.initial,
            i => &self.changes[i - 1].2,
        }
    }
}

/// Every top-10 answer is the oracle's top 10 at the prefix it was computed at.
pub fn top10_exact(tops: &Top10s, history: &[HistoryEntry]) -> Check {
    let (mut judged, mut wrong) = (0u64, 0u64);
    let (mut first, mut blamed) = (None, Vec::new());
    for (h, v) in reads(history, TOP10) {
        judged += 1;
        let (want, got) = (tops.at(v[0] as usize), decode_top(v));
        if want != got {
            wrong += 1;
            blamed.push(h);
            first.get_or_insert(format!("{:?} at prefix {}: answered {got:?}, oracle {want:?}", h.op, v[0]));
        }
    }
    let c = Check::judged("top10_exact", judged, "top-10 reads").violations(wrong, "wrong").blame_ops(blamed);
    match first {
        Some(f) => c.detail(format!("first: {f}")),
        None => c,
    }
}

/// Staleness of each top-10 read: how long before its answer the list it got had stopped being
/// the true top 10 (zero if it still was). `(judged, max staleness ns, stalest read's op, the
/// reads staler than `staleness_max`)`.
pub fn top10_staleness(c: &Config, tops: &Top10s, history: &[HistoryEntry]) -> (u64, u64, Option<String>, Vec<OpId>) {
    let changes = &tops.changes;
    let (mut judged, mut max, mut worst, mut over) = (0u64, 0u64, None, Vec::new());
    for (h, v) in reads(history, TOP10) {
        judged += 1;
        let prefix = v[0] as usize;
        let at = changes.partition_point(|c| c.0 <= prefix);
        let done = h.complete.get().expect("a completed read");
        if let Some(&(_, t, _)) = changes.get(at)
            && t <= done
        {
            let s = done.since(t).0;
            if s > c.staleness_max.0 {
                over.push(h.op);
            }
            if s > max {
                max = s;
                worst =
                    Some(format!("{:?} answered at {done} with the top 10 of prefix {prefix}, outdated at {t}", h.op));
            }
        }
    }
    (judged, max, worst, over)
}

pub fn report(c: &Config, run: &RunView<'_, Node>) -> ModelReport {
    let mut r = ModelReport::default();
    let Some(b) = run.servers().find_map(|(_, n)| match n {
        Node::Board(b) => Some(b),
        _ => None,
    }) else {
        // The service is down at the end: nothing can be judged, and every check says so.
        for name in crate::CHECKS {
            r.checks.push(
                Check::judged(name, 0u64, "items")
                    .passed_if(false)
                    .detail("the leaderboard service is down at the end of the run"),
            );
        }
        return r;
    };
    let history = run.history();
    r.checks.push(applied_exactly_once(history, &b.journal));
    let start = Oracle::new(c);
    r.checks.push(final_ranks_exact(&start, history, b));
    r.checks.push(ranks_exact(&start, history, &b.journal));
    let tops = Top10s::replay(&start, &b.journal);
    r.checks.push(top10_exact(&tops, history));
    let (judged, stale_ns, worst, over) = top10_staleness(c, &tops, history);
    r.checks.push(
        Check::judged("top10_staleness", judged, "top-10 reads")
            .passed_if(stale_ns <= c.staleness_max.0)
            .detail(format!(
                "stalest {:.1} ms (bound {:.1} ms){}",
                stale_ns as f64 / 1e6,
                c.staleness_max.0 as f64 / 1e6,
                worst.map(|w| format!("; {w}")).unwrap_or_default()
            ))
            .blame_ids(over),
    );
    measures(c, run, b, stale_ns, &mut r);
    r.tables.push(read_cost_table(c, b));
    r
}

fn measures(c: &Config, run: &RunView<'_, Node>, b: &Board, stale_ns: u64, r: &mut ModelReport) {
    let main_s = run.main_end.0 as f64 / 1e9;
    let history = run.history();
    let m = &mut r.measures;
    let acked = history.iter().filter(|h| is_update(h) && h.outcome == Some(Outcome::Ok)).count();
    let in_main = b.journal.iter().filter(|a| a.at < run.main_end).count();
    m.insert("updates_acked".into(), acked as f64);
    m.insert("updates_applied".into(), b.journal.len() as f64);
    m.insert("updates_per_s".into(), in_main as f64 / main_s);
    let reads =
        history.iter().filter(|h| h.kind == TOP10 || h.kind == RANK).filter(|h| h.invoke < run.main_end).count();
    m.insert("reads_per_s".into(), reads as f64 / main_s);
    let top10 = history.iter().filter(|h| h.kind == TOP10 && h.invoke < run.main_end).count();
    m.insert("top10_reads_per_s".into(), top10 as f64 / main_s);
    m.insert("redeliveries_skipped".into(), b.skipped as f64);
    m.insert("duplicates_skipped".into(), b.duplicates_skipped as f64);
    let mut apply = b.apply_ns.clone();
    apply.sort_unstable();
    m.insert("apply_p50_ms".into(), sim_core::stats::percentile_ms(&apply, 0.5));
    m.insert("apply_p99_ms".into(), sim_core::stats::percentile_ms(&apply, 0.99));
    m.insert("apply_max_ms".into(), apply.last().copied().unwrap_or(0) as f64 / 1e6);
    m.insert("top10_staleness_max_ms".into(), stale_ns as f64 / 1e6);
    m.insert("steps_update_mean".into(), b.work_update.mean());
    m.insert("steps_top10_mean".into(), b.work_top10.mean());
    m.insert("steps_rank_mean".into(), b.work_rank.mean());
    let (rops, rsteps) = (b.work_top10.ops + b.work_rank.ops, b.work_top10.steps + b.work_rank.steps);
    let read_steps = if rops == 0 { 0.0 } else { rsteps as f64 / rops as f64 };
    m.insert("steps_read_mean".into(), read_steps);
    m.insert("steps_read_max".into(), b.work_top10.steps_max.max(b.work_rank.steps_max) as f64);
    m.insert("read_service_mean_ms".into(), (c.op_cost.0 as f64 + read_steps * c.step_cost.0 as f64) / 1e6);
    let players = b.players() as f64;
    m.insert("players".into(), players);
    let bytes = b.bytes() as f64;
    m.insert("store_bytes".into(), bytes);
    m.insert("bytes_per_player".into(), bytes / players.max(1.0));
    m.insert("store_mb_at_scale".into(), bytes / players.max(1.0) * c.scale_players as f64 / 1e6);
    let hits = b.cache.stats.hits as f64;
    let lookups = b.cache.stats.lookups() as f64;
    m.insert("top10_cache_hit_ratio".into(), if lookups > 0.0 { hits / lookups } else { 0.0 });
    let elapsed = sim_core::Duration(run.main_end.0.max(1));
    let util = b.pools.iter().map(|p| p.stats.utilisation(p.spec().concurrency as u64, elapsed)).fold(0.0f64, f64::max);
    m.insert("shard_utilisation_max".into(), util);
    if let Structure::SortedSet { .. } = c.structure {
        m.insert("rebalances".into(), b.rebalances as f64);
        m.insert("rebalance_moves".into(), b.rebalance_moves as f64);
        m.insert("shard_imbalance_max".into(), b.imbalance_max);
        if let Store::Sorted(s) = &b.store {
            m.insert("shard_imbalance_end".into(), s.imbalance());
        }
    }
}

/// Per second: players, reads computed by the store, steps per read and the service time they
/// cost. With the scan, steps per read track the players; with the sorted set, their logarithm.
fn read_cost_table(c: &Config, b: &Board) -> Table {
    let rows = b
        .intervals
        .iter()
        .enumerate()
        .filter(|(_, iv)| iv.reads > 0)
        .map(|(i, iv)| {
            let steps = iv.read_steps as f64 / iv.reads as f64;
            vec![
                i as f64,
                iv.players as f64,
                iv.reads as f64,
                steps,
                (c.op_cost.0 as f64 + steps * c.step_cost.0 as f64) / 1e6,
            ]
        })
        .collect();
    Table::new("read cost against players", ["t_s", "players", "reads", "steps_per_read", "service_ms"], rows).curve(
        "players",
        Axis::new("players", "").log10(),
        &["steps_per_read"],
        Axis::new("store steps per read", "steps").log10(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use sim_core::{NodeId, OpId};

    fn cfg() -> Config {
        Config { players: 50, score_spread: 5, ..Config::default() }
    }

    fn entry(op: u64, kind: u16, key: u64, reply: Reply, invoke: u64, complete: u64) -> HistoryEntry {
        HistoryEntry {
            op: OpId::new(op),
            client: NodeId(9),
            kind,
            key,
            value: op,
            attempt: 1,
            invoke: Time(invoke),
            complete: Some(Time(complete)).into(),
            outcome: Some(Outcome::Ok),
            reply,
        }
    }

    fn applied(value: u64, player: u64, delta: i64, at: u64) -> Applied {
        Applied { value, player, delta, at: Time(at) }
    }

    #[test]
    fn a_result_applied_twice_or_never_fails_and_each_once_passes() {
        let h = vec![entry(1, WIN, 3, Reply::None, 0, 5), entry(2, LOSS, 4, Reply::None, 0, 5)];
        let good = vec![applied(1, 3, 1, 6), applied(2, 4, -1, 7)];
        assert!(applied_exactly_once(&h, &good).passed);
        let twice = vec![applied(1, 3, 1, 6), applied(2, 4, -1, 7), applied(2, 4, -1, 8)];
        assert!(!applied_exactly_once(&h, &twice).passed);
        let lost = vec![applied(1, 3, 1, 6)];
        assert!(!applied_exactly_once(&h, &lost).passed);
        assert!(applied_exactly_once(&[], &[]).is_vacuous(), "judging nothing is vacuous");
    }

    #[test]
    fn a_wrong_or_stale_rank_read_fails() {
        let c = cfg();
        let journal = vec![applied(1, 3, 1, 10)];
        let mut o = Oracle::new(&c);
        o.apply(3, 1);
        let s = o.scores[3].unwrap();
        let r = o.rank(s);
        let read = |score: i64, rank: u64, prefix: u64, invoke: u64| {
            vec![entry(9, RANK, 3, Reply::list([prefix, crate::enc_score(score), rank]), invoke, invoke + 1)]
        };
        assert!(ranks_exact(&Oracle::new(&c), &read(s, r, 1, 20), &journal).passed);
        assert!(!ranks_exact(&Oracle::new(&c), &read(s, r + 1, 1, 20), &journal).passed, "wrong rank");
        // The old score at prefix 0 is right for prefix 0, but the update was applied before the
        // read was sent.
        let s0 = s - 1;
        let r0 = Oracle::new(&c).rank(s0);
        assert!(ranks_exact(&Oracle::new(&c), &read(s0, r0, 0, 5), &journal).passed);
        assert!(!ranks_exact(&Oracle::new(&c), &read(s0, r0, 0, 20), &journal).passed, "stale");
        assert!(ranks_exact(&Oracle::new(&c), &[], &journal).is_vacuous(), "judging nothing is vacuous");
    }

    #[test]
    fn the_ranking_and_the_top_10s_are_what_sorting_every_prefix_gives() {
        // Scores below zero, a player beyond the initial ones, and a spread wide enough for the
        // plain sort: the ranking is the scores' keys sorted.
        for (players, spread) in [(300, 7), (300, 1_000_000_000)] {
            let c = Config { players, score_spread: spread, ..Config::default() };
            let mut o = Oracle::new(&c);
            let mut per_score = BTreeMap::new();
            for &s in o.scores.iter().flatten() {
                *per_score.entry(s).or_insert(0) += 1;
            }
            assert_eq!(o.per_score, per_score, "spread {spread}");
            let mut rng = sim_core::Prng::new(5, sim_core::Stream::Setup);
            let journal: Vec<Applied> = (0..3000)
                .map(|i| applied(i, rng.below(players + 2), if rng.chance(0.3) { 1 } else { -1 }, 10 * i))
                .collect();
            // Keeping 10 or 12 keys, the best are chosen again from every score now and then.
            let tops = Top10s::replay(&o, &journal);
            let kept: Vec<Top10s> = [10, 12, 50].map(|keep| Top10s::replay_keeping(&o, &journal, keep)).into();
            assert!(kept[0].refills > 2, "{} refills keeping 10", kept[0].refills);
            for prefix in 0..=journal.len() {
                o.advance(&journal, prefix);
                let mut sorted: Vec<Key> =
                    o.scores.iter().enumerate().filter_map(|(p, s)| s.map(|s| key(p as u64, s))).collect();
                sorted.sort_unstable();
                if prefix % 100 == 0 || prefix == journal.len() {
                    assert_eq!(o.ranking(), sorted, "spread {spread}, prefix {prefix}");
                }
                assert_eq!(tops.at(prefix), &sorted[..10], "spread {spread}, prefix {prefix}");
                for t in &kept {
                    assert_eq!(t.at(prefix), &sorted[..10], "spread {spread}, prefix {prefix}, {} refills", t.refills);
                }
            }
            assert!(o.scores.iter().flatten().any(|&s| s < 0) && o.scores.len() as u64 > players);
            assert!(tops.changes.len() > 10, "the top 10 changed {} times", tops.changes.len());
        }
    }

    #[test]
    fn an_outdated_top10_is_stale_from_the_change_that_outdated_it() {
        let c = cfg();
        let top = Top10s::replay(&Oracle::new(&c), &[]).at(0).to_vec();
        let enc = |t: &[Key], prefix: u64| {
            let mut v = vec![prefix];
            for (neg, p) in t {
                v.extend([*p, crate::enc_score(-neg)]);
            }
            v
        };
        // Player 0 wins ten times in a row at t = 100..109: it reaches the top.
        let journal: Vec<Applied> = (0..10).map(|i| applied(i, 0, 1, 100 + i)).collect();
        let h = vec![entry(50, TOP10, 0, Reply::list(enc(&top, 0)), 200, 300)];
        let tops = Top10s::replay(&Oracle::new(&c), &journal);
        let (judged, stale, _, _) = top10_staleness(&c, &tops, &h);
        assert_eq!(judged, 1);
        let first_change = tops.changes[0].1;
        assert_eq!(stale, 300 - first_change.0);
        assert!(top10_exact(&tops, &h).passed, "exact for its prefix");
        let mut wrong = top.clone();
        wrong.swap(0, 1);
        let h = vec![entry(50, TOP10, 0, Reply::list(enc(&wrong, 0)), 200, 300)];
        assert!(!top10_exact(&tops, &h).passed);
    }
}
