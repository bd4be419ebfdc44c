//! The checks and measures: the history's acknowledged clicks against the final logs, then the
//! store's results against an **oracle** computed from those logs by a second, independent
//! implementation of the promised semantics (plain maps, no window part): per partition, in log
//! order, the watermark is the largest event time read minus the lateness; a minute closes when
//! the watermark reaches its end; a click whose minute had closed is too late (counted against
//! the next minute to close); a click id already counted in its open minute is a duplicate (the
//! oracle always drops it, whatever the design's `dedup` says: each click counts once).
//! This is what the notes' "reconciliation with batch processing" would compute from the raw
//! clicks, and what the stream must equal.

use crate::{CHECKS, Config, Merged, Node, ad_of, decode_value, top_n};
use parts::log::{PartLog, Pid, Record};
use parts::window::Win;
use sim_core::metrics::HistoryEntry;
use sim_core::model::{Axis, Table};
use sim_core::{Check, ModelReport, Outcome, Reply, RunView, Time};
use std::collections::{BTreeMap, BTreeSet};

/// What the oracle says of one partition's minute.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct OracleMinute {
    /// Clicks per ad (sub-keys summed).
    pub counts: BTreeMap<u64, u64>,
    /// Clicks dropped as too late since the previous minute closed.
    pub late: u64,
}

/// The oracle over every partition's log.
#[derive(Clone, Debug, Default)]
pub struct Oracle {
    /// Per partition, the minutes its watermark closed.
    pub closed: BTreeMap<Pid, BTreeMap<Win, OracleMinute>>,
    /// Per partition, the first minute not closed.
    pub next_close: BTreeMap<Pid, Win>,
    pub clicks: u64,
    pub duplicates: u64,
}

impl Oracle {
    /// Replays each partition's records in log order.
    pub fn new(c: &Config, logs: &BTreeMap<Pid, Vec<Record>>) -> Oracle {
        let size = c.window.size.0.max(1);
        let lateness = c.window.lateness.0;
        let mut o = Oracle::default();
        for (&p, recs) in logs {
            let mut max: Option<u64> = None;
            let mut next: Win = 0;
            let mut open: BTreeMap<Win, (BTreeMap<u64, u64>, BTreeSet<u64>)> = BTreeMap::new();
            let mut late = 0u64;
            let closed = o.closed.entry(p).or_default();
            for r in recs {
                let (click, t) = decode_value(r.value);
                let t = t.0;
                o.clicks += 1;
                if max.is_none_or(|m| t > m) {
                    max = Some(t);
                    let wm = t.saturating_sub(lateness);
                    while (next + 1) * size <= wm {
                        let counts = open.remove(&next).map(|(c, _)| c).unwrap_or_default();
                        closed.insert(next, OracleMinute { counts, late });
                        late = 0;
                        next += 1;
                    }
                }
                let w = t / size;
                if w < next {
                    late += 1;
                    continue;
                }
                let (counts, ids) = open.entry(w).or_default();
                if !ids.insert(click) {
                    o.duplicates += 1;
                    continue;
                }
                *counts.entry(ad_of(r.key)).or_default() += 1;
            }
            o.next_close.insert(p, next);
        }
        o
    }

    /// Minutes every partition closed.
    pub fn final_minutes(&self) -> Win {
        self.next_close.values().copied().min().unwrap_or(0)
    }

    /// A minute over every partition: clicks per ad, and the late clicks counted against it.
    pub fn minute(&self, w: Win) -> (BTreeMap<u64, u64>, u64) {
        let mut counts = BTreeMap::new();
        let mut late = 0;
        for mins in self.closed.values() {
            if let Some(m) = mins.get(&w) {
                for (&a, &n) in &m.counts {
                    *counts.entry(a).or_default() += n;
                }
                late += m.late;
            }
        }
        (counts, late)
    }

    /// The sliding window of `panes` minutes ending with `w`.
    pub fn sliding(&self, w: Win, panes: u32) -> BTreeMap<u64, u64> {
        let mut counts = BTreeMap::new();
        for v in w.saturating_sub(panes as u64 - 1)..=w {
            for (a, n) in self.minute(v).0 {
                *counts.entry(a).or_default() += n;
            }
        }
        counts
    }
}

/// The committed records of each partition, from the broker leading it at the end.
pub fn final_logs<'a>(run: &RunView<'a, Node>) -> BTreeMap<Pid, (u64, &'a PartLog)> {
    let mut logs = BTreeMap::new();
    for (_, n) in run.servers() {
        if let Node::Broker(b) = n {
            for (p, log) in b.logs() {
                if let Some((_, hwm)) = b.leading(p) {
                    logs.insert(p, (hwm, log));
                }
            }
        }
    }
    logs
}

/// The records below each partition's high-water mark, in order.
pub fn records(logs: &BTreeMap<Pid, (u64, &PartLog)>) -> BTreeMap<Pid, Vec<Record>> {
    logs.iter()
        .map(|(&p, &(hwm, log))| (p, log.entries().filter(|(o, _)| *o < hwm).filter_map(|(_, e)| e.rec).collect()))
        .collect()
}

/// `acked_in_log`: every acknowledged click is in its partition's final log at the offset the
/// log gave, with its ad id, click id and event time.
pub fn acked_in_log(history: &[HistoryEntry], logs: &BTreeMap<Pid, (u64, &PartLog)>, partitions: u32) -> Check {
    let (mut judged, mut bad, mut unjudged) = (0u64, 0u64, 0u64);
    let mut first = None;
    for h in history.iter().filter(|h| h.outcome == Some(Outcome::Ok)) {
        let Reply::Values(v) = &h.reply else { continue };
        let (ms, p, off) = (v[0], v[1] as Pid, v[2]);
        let Some(&(hwm, log)) = logs.get(&p) else {
            unjudged += 1;
            continue;
        };
        judged += 1;
        let rec = log.get(off).and_then(|e| e.rec).filter(|_| off < hwm);
        let ok = rec.is_some_and(|r| {
            let (click, t) = decode_value(r.value);
            ad_of(r.key) == h.key && click == h.value && t == Time(ms * 1_000_000)
        });
        if !ok {
            bad += 1;
            first.get_or_insert((h.op, p, off));
        }
    }
    let missing = (0..partitions).filter(|p| !logs.contains_key(p)).count();
    Check::judged("acked_in_log", judged, "acknowledged clicks")
        .skipped(unjudged, "in a partition without a leader at the end")
        .violations(bad, "missing or different in the log")
        .passed_if(missing == 0)
        .detail(match first {
            Some((op, p, o)) => format!("first: {op:?} at partition {p} offset {o}"),
            None => format!("{missing} partitions without a leader at the end"),
        })
}

/// Differences between two count maps: (keys judged, keys that differ, first difference).
fn diff(want: &BTreeMap<u64, u64>, got: &BTreeMap<u64, u64>) -> (u64, u64, Option<(u64, u64, u64)>) {
    let keys: BTreeSet<u64> = want.keys().chain(got.keys()).copied().collect();
    let mut bad = 0;
    let mut first = None;
    for &k in &keys {
        let (w, g) = (want.get(&k).copied().unwrap_or(0), got.get(&k).copied().unwrap_or(0));
        if w != g {
            bad += 1;
            first.get_or_insert((k, w, g));
        }
    }
    (keys.len() as u64, bad, first)
}

/// `counts_exact`: every ad's clicks in every finalised minute and in the sliding window ending
/// with it equal the oracle's; a minute every partition closed that the store has not finalised
/// is a violation too (results silently missing).
pub fn counts_exact(c: &Config, o: &Oracle, merged: &BTreeMap<Win, Merged>) -> Check {
    let (mut judged, mut bad, mut missing, mut open) = (0u64, 0u64, 0u64, 0u64);
    let mut first = None;
    let finals = o.final_minutes();
    for w in 0..finals {
        let Some(m) = merged.get(&w) else {
            missing += 1;
            first.get_or_insert(format!("minute {w} closed by every partition, never finalised in the store"));
            continue;
        };
        for (what, want, got) in
            [("minute", o.minute(w).0, &m.counts), ("sliding window", o.sliding(w, c.sliding_panes), &m.sliding)]
        {
            let (n, b, f) = diff(&want, got);
            judged += n;
            bad += b;
            if let Some((ad, w_n, g_n)) = f {
                first.get_or_insert(format!("{what} {w}: ad {ad} has {g_n} clicks in the store, {w_n} in the oracle"));
            }
        }
    }
    open += merged.keys().filter(|&&w| w >= finals).count() as u64;
    Check::judged("counts_exact", judged, "(ad, window) counts")
        .skipped(open, "minutes finalised beyond what every partition's log closes (not judged)")
        .violations(bad + missing, "wrong or missing")
        .detail(format!(
            "{finals} minutes judged, {missing} missing; {}",
            first.unwrap_or_else(|| "every count equals the oracle's".into())
        ))
}

/// `top100_exact`: the store's top list of every finalised minute is the oracle's.
pub fn top100_exact(c: &Config, o: &Oracle, merged: &BTreeMap<Win, Merged>) -> Check {
    let (mut judged, mut bad) = (0u64, 0u64);
    let mut first = None;
    for w in 0..o.final_minutes() {
        let Some(m) = merged.get(&w) else { continue };
        judged += 1;
        let want = top_n(&o.minute(w).0, c.top);
        if want != m.top {
            bad += 1;
            let at = want.iter().zip(&m.top).position(|(a, b)| a != b).unwrap_or(want.len().min(m.top.len()));
            first.get_or_insert(format!(
                "minute {w}: place {} is {:?} in the store, {:?} in the oracle",
                at + 1,
                m.top.get(at),
                want.get(at)
            ));
        }
    }
    Check::judged("top100_exact", judged, "minutes")
        .violations(bad, "with a wrong top list")
        .detail(first.unwrap_or_else(|| format!("every top {} (ad, clicks) list equals the oracle's", c.top)))
}

/// `late_counted`: the clicks dropped as too late that the store was told of, minute by minute,
/// equal the oracle's count of clicks beyond the watermark.
pub fn late_counted(o: &Oracle, merged: &BTreeMap<Win, Merged>) -> Check {
    let (mut judged, mut off) = (0u64, 0u64);
    let mut first = None;
    for w in 0..o.final_minutes() {
        let want = o.minute(w).1;
        judged += want;
        let got = merged.get(&w).map_or(0, |m| m.late);
        if got != want {
            off += want.abs_diff(got);
            first.get_or_insert(format!("minute {w}: {got} late clicks reported, {want} in the oracle"));
        }
    }
    Check::judged("late_counted", judged, "clicks beyond the watermark")
        .violations(off, "not reported (or reported but not late)")
        .detail(first.unwrap_or_else(|| "every late click was dropped and reported".into()))
}

pub fn report(c: &Config, run: &RunView<'_, Node>) -> ModelReport {
    let mut r = ModelReport::default();
    let Some(store) = run.servers().find_map(|(_, n)| match n {
        Node::Store(s) => Some(s),
        _ => None,
    }) else {
        for name in CHECKS {
            r.checks.push(Check::judged(name, 0u64, "items").passed_if(false).detail("the store is down at the end"));
        }
        return r;
    };
    let history = run.history();
    let logs = final_logs(run);
    let partitions: u32 = c.log.topics.iter().map(|t| t.partitions).sum();
    let recs = records(&logs);
    let o = Oracle::new(c, &recs);
    r.checks.push(acked_in_log(history, &logs, partitions));
    r.checks.push(counts_exact(c, &o, &store.merged));
    r.checks.push(top100_exact(c, &o, &store.merged));
    r.checks.push(late_counted(&o, &store.merged));
    measures(c, run, &o, &recs, store, &mut r);
    r.tables.push(minutes_table(c, &o, &store.merged));
    r
}

fn measures(
    c: &Config,
    run: &RunView<'_, Node>,
    o: &Oracle,
    recs: &BTreeMap<Pid, Vec<Record>>,
    store: &crate::Store,
    r: &mut ModelReport,
) {
    let main_s = run.main_end.0 as f64 / 1e9;
    let history = run.history();
    let m = &mut r.measures;
    let acked: Vec<&HistoryEntry> =
        history.iter().filter(|h| h.outcome == Some(Outcome::Ok) && h.invoke < run.main_end).collect();
    m.insert("clicks_acked".into(), acked.len() as f64);
    m.insert("clicks_per_s".into(), acked.len() as f64 / main_s);
    // The busiest 10 s of clicks sent.
    let mut per10: BTreeMap<u64, u64> = BTreeMap::new();
    for h in history.iter().filter(|h| h.invoke < run.main_end) {
        *per10.entry(h.invoke.0 / 10_000_000_000).or_default() += 1;
    }
    // Only whole 10 s buckets.
    per10.retain(|&b, _| (b + 1) * 10_000_000_000 <= run.main_end.0);
    let mut rates: Vec<u64> = per10.values().copied().collect();
    rates.sort_unstable();
    let median = rates.get(rates.len() / 2).copied().unwrap_or(0);
    m.insert("base_clicks_per_s".into(), median as f64 / 10.0);
    m.insert("peak_clicks_per_s".into(), rates.last().copied().unwrap_or(0) as f64 / 10.0);
    m.insert("log_records".into(), o.clicks as f64);
    m.insert("log_duplicates_dropped".into(), o.duplicates as f64);
    let ads: BTreeSet<u64> = recs.values().flatten().map(|r| ad_of(r.key)).collect();
    m.insert("ads_clicked".into(), ads.len() as f64);
    let hot_parts: BTreeSet<Pid> =
        recs.iter().filter(|(_, v)| v.iter().any(|r| ad_of(r.key) < c.hot.ads)).map(|(&p, _)| p).collect();
    m.insert("hot_ad_partitions".into(), hot_parts.len() as f64);
    m.insert("minutes_final".into(), store.merged.len() as f64);
    m.insert("minutes_closed_everywhere".into(), o.final_minutes() as f64);
    let late: u64 = store.merged.values().map(|m| m.late).sum();
    let dups: u64 = store.merged.values().map(|m| m.duplicates).sum();
    m.insert("late_dropped".into(), late as f64);
    m.insert("duplicates_dropped".into(), dups as f64);
    m.insert("result_rewrites".into(), store.rewrites as f64);
    m.insert("result_rewrites_changed".into(), store.changed as f64);
    m.insert("result_writes".into(), store.writes as f64);
    // Results latency: from a minute's end (event time) to its merged result in the store.
    let lat: Vec<f64> =
        store.merged.iter().map(|(&w, mg)| mg.at.0.saturating_sub(c.window.end_of(w).0) as f64 / 1e9).collect();
    m.insert("result_latency_max_s".into(), lat.iter().copied().fold(0.0, f64::max));
    m.insert(
        "result_latency_mean_s".into(),
        if lat.is_empty() { 0.0 } else { lat.iter().sum::<f64>() / lat.len() as f64 },
    );
    let (mut restored, mut skipped, mut saves, mut state_bytes, mut loads) = (0u64, 0u64, 0u64, 0u64, 0u64);
    // The snapshot counts over every aggregator's incarnations (a crash does not take back the
    // loads and saves before it); the state held, over the running ones.
    for (_, n) in run.incarnations() {
        if let Node::Aggregator(a) = n {
            loads += a.keeper.stats.loads;
            restored += a.keeper.stats.restored;
            skipped += a.keeper.stats.skipped;
            saves += a.keeper.stats.saved;
        }
    }
    for (_, n) in run.servers() {
        if let Node::Aggregator(a) = n {
            state_bytes += a.keeper.states().map(|(_, s)| parts::snapshot::SnapState::bytes(s)).sum::<u64>();
        }
    }
    m.insert("snapshot_loads".into(), loads as f64);
    m.insert("snapshots_restored".into(), restored as f64);
    m.insert("replay_skipped".into(), skipped as f64);
    m.insert("snapshots_saved".into(), saves as f64);
    m.insert("aggregator_state_bytes".into(), state_bytes as f64);
    m.insert("snapshot_store_bytes".into(), store.bucket.bytes() as f64);
}

/// Per minute: clicks counted, late and duplicate clicks dropped, and when the result was final.
fn minutes_table(c: &Config, o: &Oracle, merged: &BTreeMap<Win, Merged>) -> Table {
    let size_s = c.window.size.0 as f64 / 1e9;
    let rows = merged
        .iter()
        .map(|(&w, m)| {
            vec![
                (w + 1) as f64 * size_s,
                m.counts.values().sum::<u64>() as f64,
                m.late as f64,
                m.duplicates as f64,
                o.minute(w).1 as f64,
                m.at.0 as f64 / 1e9 - (w + 1) as f64 * size_s,
            ]
        })
        .collect();
    Table::new(
        "clicks per minute",
        ["t_s", "clicks", "late_dropped", "duplicates_dropped", "late_oracle", "result_latency_s"],
        rows,
    )
    .over_time(&["clicks", "late_dropped", "duplicates_dropped"], Axis::new("clicks per minute", "clicks").log10())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{record_key, record_value};
    use parts::log::Entry;
    use sim_core::{NodeId, OpId};

    fn rec(ad: u64, click: u64, secs: u64) -> Record {
        Record { key: record_key(ad, 0), value: record_value(click, secs * 1000), produced: Time(0), bytes: 100 }
    }

    fn cfg() -> Config {
        Config { top: 2, sliding_panes: 2, ..Config::default() }
    }

    #[test]
    fn the_oracle_closes_minutes_by_the_watermark_drops_late_clicks_and_duplicates() {
        // Partition 0: two clicks of ad 1 in minute 0 (one a duplicate), a click of ad 2 at
        // 66 s (closes minute 0), a click of minute 0 at 70 s (too late), then 130 s.
        let logs = BTreeMap::from([(
            0,
            vec![rec(1, 10, 5), rec(1, 10, 5), rec(1, 11, 59), rec(2, 12, 66), rec(1, 13, 30), rec(2, 14, 130)],
        )]);
        let o = Oracle::new(&cfg(), &logs);
        assert_eq!(o.final_minutes(), 2, "the watermark is 125 s: minutes 0 and 1 closed");
        assert_eq!(o.minute(0), (BTreeMap::from([(1, 2)]), 0));
        // The late click read after minute 0 closed counts against minute 1, the next to close.
        assert_eq!(o.minute(1), (BTreeMap::from([(2, 1)]), 1));
        assert_eq!(o.sliding(1, 2), BTreeMap::from([(1, 2), (2, 1)]));
        assert_eq!(o.duplicates, 1);
    }

    fn merged(counts: &[(u64, u64)], sliding: &[(u64, u64)], late: u64) -> Merged {
        let counts: BTreeMap<u64, u64> = counts.iter().copied().collect();
        Merged {
            top: top_n(&counts, 2),
            counts,
            sliding: sliding.iter().copied().collect(),
            late,
            duplicates: 0,
            at: Time(0),
        }
    }

    #[test]
    fn a_wrong_count_a_wrong_top_list_a_missing_minute_and_an_unreported_late_click_fail() {
        let c = cfg();
        let logs = BTreeMap::from([(0, vec![rec(1, 1, 5), rec(1, 2, 6), rec(2, 3, 7), rec(3, 4, 66), rec(1, 5, 8)])]);
        let o = Oracle::new(&c, &logs);
        let good = BTreeMap::from([(0, merged(&[(1, 2), (2, 1)], &[(1, 2), (2, 1)], 0))]);
        assert!(counts_exact(&c, &o, &good).passed);
        assert!(top100_exact(&c, &o, &good).passed);
        // Minute 0 judged no late click (it was read after minute 0 closed: minute 1's).
        assert!(late_counted(&o, &good).is_vacuous(), "no late click in a judged minute: vacuous");
        let over = BTreeMap::from([(0, merged(&[(1, 3), (2, 1)], &[(1, 3), (2, 1)], 0))]);
        assert!(!counts_exact(&c, &o, &over).passed);
        assert!(!top100_exact(&c, &o, &over).passed);
        assert!(!counts_exact(&c, &o, &BTreeMap::new()).passed, "a minute closed everywhere but missing");
        // One more minute closes at 130 s: minute 1 has ad 3 and the late click.
        let logs2 = BTreeMap::from([(0, [logs[&0].clone(), vec![rec(3, 6, 130)]].concat())]);
        let o2 = Oracle::new(&c, &logs2);
        let mut both = good.clone();
        both.insert(1, merged(&[(3, 1)], &[(1, 2), (2, 1), (3, 1)], 1));
        assert!(late_counted(&o2, &both).passed);
        both.get_mut(&1).unwrap().late = 0;
        assert!(!late_counted(&o2, &both).passed, "a late click dropped without being reported");
    }

    #[test]
    fn an_acknowledged_click_missing_from_the_log_fails() {
        let mut log = PartLog::default();
        let r = rec(7, 1, 5);
        log.apply(0, 0, false, &[Entry { epoch: 1, at: Time(0), rec: Some(r) }]).unwrap();
        let logs = BTreeMap::from([(0, (1, &log))]);
        let h = |value: u64, ms: u64| HistoryEntry {
            op: OpId::new(value - 1),
            client: NodeId(9),
            kind: 0,
            key: 7,
            value,
            attempt: 1,
            invoke: Time(0),
            complete: Some(Time(1)).into(),
            outcome: Some(Outcome::Ok),
            reply: Reply::list([ms, 0, 0]),
        };
        assert!(acked_in_log(&[h(1, 5000)], &logs, 1).passed);
        assert!(!acked_in_log(&[h(1, 6000)], &logs, 1).passed, "another event time");
        assert!(!acked_in_log(&[h(2, 5000)], &logs, 1).passed, "another click at its offset");
        assert!(acked_in_log(&[], &logs, 1).is_vacuous());
    }
}
