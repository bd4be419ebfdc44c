//! The checks and measures. `no_sample_lost` compares what the collectors accepted with what the
//! TSDB holds at the end. The alert checks compare the alert manager's firings with an
//! **oracle**: a second implementation of the rule (a running sum over a two-pointer window, not
//! the alert manager's filter) evaluated at the same instants over the samples the *sources
//! emitted*, whatever happened to them on the way.

use crate::{CHECKS, Config, Firing, Node, RuleSpec, Sample, Tsdb, is_job, metric_id};
use sim_core::model::{Axis, Table};
use sim_core::{Check, ModelReport, Outcome, RunView, Time};
use std::collections::{BTreeMap, BTreeSet};

/// One run of evaluation instants at which the oracle's condition holds on a host.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Episode {
    pub source: u32,
    /// The first instant (ms) at which the condition held.
    pub onset: u64,
    /// The first instant at which it had held for `for`: the alert's instant (`None`: the run
    /// was shorter than `for`, no alert is due).
    pub fires: Option<u64>,
    /// The last instant of the run.
    pub end: u64,
}

/// The oracle's episodes of one series: `samples` sorted by time, instants every
/// `eval_interval` up to `horizon` (ms).
pub fn episodes(r: &RuleSpec, source: u32, samples: &[Sample], horizon: u64) -> Vec<Episode> {
    let ms = |d: sim_core::Duration| d.0 / 1_000_000;
    let (eval, window, hold) = (ms(r.eval_interval).max(1), ms(r.window), ms(r.hold));
    let (mut lo, mut hi, mut sum) = (0usize, 0usize, 0u64);
    let mut out = Vec::new();
    let mut run: Option<(u64, Option<u64>)> = None;
    let mut last_true = 0;
    let mut e = eval;
    while e <= horizon {
        while hi < samples.len() && samples[hi].ts <= e {
            sum += samples[hi].value as u64;
            hi += 1;
        }
        while lo < hi && samples[lo].ts + window <= e {
            sum -= samples[lo].value as u64;
            lo += 1;
        }
        let count = (hi - lo) as u64;
        let holds = count > 0 && sum > r.threshold as u64 * count;
        if holds {
            let (onset, fires) = run.get_or_insert((e, None));
            if fires.is_none() && e - *onset >= hold {
                *fires = Some(e);
            }
            last_true = e;
        } else if let Some((onset, fires)) = run.take() {
            out.push(Episode { source, onset, fires, end: last_true });
        }
        e += eval;
    }
    if let Some((onset, fires)) = run {
        out.push(Episode { source, onset, fires, end: last_true });
    }
    out
}

/// `no_sample_lost`: every sample a collector accepted before `until` (ms: the main phase's end)
/// is in the TSDB with its value. A sample of the settle phase may still be on its way when
/// the run ends (one taken 10 ms before the end, say): those are counted apart, not judged.
pub fn no_sample_lost(accepted: &[Sample], tsdb: &Tsdb, until: u64, jobs_missed: u64) -> (Check, u64) {
    let (mut judged, mut lost, mut in_flight) = (0u64, 0u64, 0u64);
    let mut first = None;
    for s in accepted {
        let stored = tsdb.series.get(&(s.metric, s.ts)) == Some(&s.value);
        if s.ts >= until {
            in_flight += u64::from(!stored);
            continue;
        }
        judged += 1;
        if !stored {
            lost += 1;
            first.get_or_insert(*s);
        }
    }
    let check = Check::judged("no_sample_lost", judged, "samples accepted by a collector before the settle")
        .violations(lost, "missing from the TSDB (or with another value)")
        .skipped(accepted.len() as u64 - judged, "accepted in the settle phase")
        .detail(format!(
            "{}; {in_flight} of the settle's (from {until} ms) still on their way at the end; {jobs_missed} short jobs \
             ended between two scrapes: never collected, so not judged here (short_jobs_missed)",
            match first {
                Some(s) => format!("first lost: metric {:#x} at {} ms", s.metric, s.ts),
                None => "every accepted sample is in the TSDB".into(),
            },
        ));
    (check, lost)
}

/// The match of an oracle episode: the firing in it, if any.
fn firing_in<'a>(e: &Episode, firings: &'a [Firing]) -> Option<&'a Firing> {
    let fires = e.fires?;
    firings.iter().find(|f| f.source == e.source && f.instant >= fires && f.instant <= e.end)
}

/// When an episode's alert is due: its onset + `for` + the pipeline's delay bound.
pub fn due(r: &RuleSpec, e: &Episode) -> Time {
    Time(e.onset * 1_000_000 + r.hold.0 + r.delay_bound.0)
}

/// `alert_timely`: every oracle episode that lasts `for` and is due before the run's end has a
/// firing in it, by its due time.
pub fn alert_timely(r: &RuleSpec, episodes: &[Episode], firings: &[Firing], end: Time) -> Check {
    let (mut judged, mut skipped, mut missed, mut late) = (0u64, 0u64, 0u64, 0u64);
    let mut first = None;
    for e in episodes.iter().filter(|e| e.fires.is_some()) {
        let due = due(r, e);
        if due > end {
            skipped += 1;
            continue;
        }
        judged += 1;
        match firing_in(e, firings) {
            None => {
                missed += 1;
                first.get_or_insert(format!("host {} from {} s: never fired", e.source, e.onset / 1000));
            }
            Some(f) if f.at > due => {
                late += 1;
                first.get_or_insert(format!(
                    "host {} from {} s: fired at {:.1} s, due by {:.1} s",
                    e.source,
                    e.onset / 1000,
                    f.at.as_secs_f64(),
                    due.as_secs_f64()
                ));
            }
            Some(_) => {}
        }
    }
    Check::judged("alert_timely", judged, "alert episodes (oracle)")
        .skipped(skipped, "due after the run's end")
        .violations(missed + late, "missed or late")
        .detail(format!(
            "{missed} missed, {late} late; {}",
            first.unwrap_or_else(|| "every alert fired within onset + for + delay bound".into())
        ))
}

/// `no_false_alerts`: every firing is at an instant where the oracle's condition holds. A firing
/// before the condition has held for `for` (the alert manager saw part of the window: samples
/// lost) is counted as premature, not false.
pub fn no_false_alerts(episodes: &[Episode], firings: &[Firing]) -> Check {
    let (mut bad, mut early) = (0u64, 0u64);
    let mut first = None;
    for f in firings {
        let run = episodes.iter().find(|e| e.source == f.source && f.instant >= e.onset && f.instant <= e.end);
        match run {
            None => {
                bad += 1;
                first.get_or_insert(format!("host {} at instant {} s", f.source, f.instant / 1000));
            }
            Some(e) if e.fires.is_none_or(|x| f.instant < x) => early += 1,
            Some(_) => {}
        }
    }
    Check::judged("no_false_alerts", firings.len(), "alerts fired")
        .violations(bad, "false (the oracle's condition did not hold)")
        .detail(format!(
            "{early} premature (the condition held, not yet for `for`); {}",
            first.unwrap_or_else(|| "no alert without the condition".into())
        ))
}

/// Everything the checks and measures read from the nodes.
struct Gathered<'a> {
    tsdb: Option<&'a Tsdb>,
    accepted: Vec<Sample>,
    /// Per source: its `cpu` samples, sorted.
    cpu: BTreeMap<u32, Vec<Sample>>,
    emitted: u64,
    last_emitted: u64,
    push_failed: u64,
    /// `[pull, push]` short-job stats.
    jobs: [crate::JobStats; 2],
    collectors: crate::CollectorStats,
    firings: Vec<Firing>,
    resolved: u64,
    first_write_failure: Option<Time>,
    cache: parts::cache::CacheStats,
    query_failed: u64,
}

fn gather<'a>(c: &Config, run: &RunView<'a, Node>) -> Gathered<'a> {
    let mut g = Gathered {
        tsdb: None,
        accepted: Vec::new(),
        cpu: BTreeMap::new(),
        emitted: 0,
        last_emitted: 0,
        push_failed: 0,
        jobs: Default::default(),
        collectors: Default::default(),
        firings: Vec::new(),
        resolved: 0,
        first_write_failure: None,
        cache: Default::default(),
        query_failed: 0,
    };
    let (mut ledger, mut accepted) = (None, None);
    for (_, n) in run.servers() {
        match n {
            Node::Tsdb(t) => g.tsdb = Some(t),
            Node::Collector(c) => {
                accepted = Some(c.accepted.clone());
                let s = &c.stats;
                g.collectors.scrapes += s.scrapes;
                g.collectors.scrapes_failed += s.scrapes_failed;
                g.collectors.pushes += s.pushes;
                g.collectors.dropped += s.dropped;
                g.collectors.produce_failed += s.produce_failed;
            }
            Node::Source(s) => ledger = Some(s.ledger.clone()),
            Node::Alerts(a) => {
                g.firings = a.firings.borrow().clone();
                g.resolved = a.resolved;
            }
            Node::Writer(w) => {
                if let Some(t) = w.first_failure {
                    g.first_write_failure = Some(g.first_write_failure.map_or(t, |f| f.min(t)));
                }
            }
            Node::Query(q) => {
                g.cache = q.cache.stats;
                g.query_failed = q.failed;
            }
            _ => {}
        }
    }
    // What every collector accepted, through any running one, in collector order.
    for slot in accepted.iter().flat_map(|a| a.iter()) {
        g.accepted.extend_from_slice(&slot.borrow());
    }
    // The hosts' records, through any running host: whether a host is down at the end does not
    // change what it emitted.
    for (index, rec) in ledger.iter().flat_map(|l| l.iter()).enumerate() {
        let rec = rec.borrow();
        g.emitted += rec.emitted.len() as u64;
        g.push_failed += rec.push_failed;
        let cpu = metric_id(index as u32, 0);
        let mut v: Vec<Sample> = rec.emitted.iter().filter(|x| x.metric == cpu).copied().collect();
        v.sort();
        g.last_emitted = g.last_emitted.max(v.last().map_or(0, |x| x.ts));
        g.cpu.insert(index as u32, v);
        let j = &mut g.jobs[usize::from(index as u32 >= c.pull_sources)];
        j.started += rec.jobs.started;
        j.ended += rec.jobs.ended;
        j.collected += rec.jobs.collected;
        j.missed += rec.jobs.missed;
    }
    g
}

pub fn report(c: &Config, run: &RunView<'_, Node>) -> ModelReport {
    let mut r = ModelReport::default();
    let g = gather(c, run);
    let Some(tsdb) = g.tsdb else {
        for name in CHECKS {
            r.checks.push(Check::judged(name, 0u64, "items").passed_if(false).detail("the TSDB is down at the end"));
        }
        return r;
    };
    let (lost_check, lost) = no_sample_lost(&g.accepted, tsdb, run.main_end.0 / 1_000_000, g.jobs[0].missed);
    r.checks.push(lost_check);
    let horizon = g.last_emitted.saturating_sub(c.rule.grace.0 / 1_000_000);
    let eps: Vec<Episode> = g.cpu.iter().flat_map(|(&s, v)| episodes(&c.rule, s, v, horizon)).collect();
    r.checks.push(alert_timely(&c.rule, &eps, &g.firings, run.end));
    r.checks.push(no_false_alerts(&eps, &g.firings));
    measures(c, run, &g, tsdb, &eps, lost, &mut r);
    r.tables.push(jobs_table(&g));
    r.tables.push(alerts_table(&c.rule, &eps, &g.firings));
    r.tables.push(ingest_table(run));
    r
}

/// The level `log.lag` per reporting interval: `(start s, mean, max)`.
fn lag_series(run: &RunView<'_, Node>) -> Vec<(f64, f64, f64)> {
    let m = run.sim.metrics();
    let step = m.interval.0 as f64;
    let Some(l) = m.levels.get("log", "lag") else { return Vec::new() };
    l.intervals.iter().enumerate().map(|(i, &(area, max))| (i as f64 * step / 1e9, area / step, max as f64)).collect()
}

/// Catch-up after the TSDB's outage: from its restart to the end of the first reporting interval
/// after it whose largest backlog is back to the largest backlog of the intervals before the
/// writers' first failed write (the steady state).
pub fn catch_up(lag: &[(f64, f64, f64)], step_s: f64, failed_at: Option<Time>, restarted: Option<Time>) -> Option<f64> {
    let (failed, back) = (failed_at?.as_secs_f64(), restarted?.as_secs_f64());
    let steady = lag.iter().filter(|x| x.0 + step_s <= failed).map(|x| x.2).fold(0.0, f64::max);
    lag.iter().find(|x| x.0 >= back && x.2 <= steady).map(|x| x.0 + step_s - back)
}

fn measures(
    c: &Config,
    run: &RunView<'_, Node>,
    g: &Gathered<'_>,
    tsdb: &Tsdb,
    eps: &[Episode],
    lost: u64,
    r: &mut ModelReport,
) {
    let m = &mut r.measures;
    let main_s = run.main_end.0 as f64 / 1e9;
    m.insert("samples_emitted".into(), g.emitted as f64);
    m.insert("samples_accepted".into(), g.accepted.len() as f64);
    m.insert("samples_in_tsdb".into(), tsdb.series.len() as f64);
    m.insert("samples_lost".into(), lost as f64);
    m.insert("samples_dropped_by_collectors".into(), g.collectors.dropped as f64);
    m.insert("samples_push_failed".into(), g.push_failed as f64);
    m.insert("samples_produce_failed".into(), g.collectors.produce_failed as f64);
    m.insert("tsdb_repeats".into(), tsdb.repeats as f64);
    m.insert("scrapes".into(), g.collectors.scrapes as f64);
    m.insert("scrapes_failed".into(), g.collectors.scrapes_failed as f64);
    m.insert("pushes".into(), g.collectors.pushes as f64);
    m.insert("short_jobs_pull".into(), g.jobs[0].ended as f64);
    m.insert("short_jobs_missed".into(), g.jobs[0].missed as f64);
    m.insert("short_jobs_push".into(), g.jobs[1].ended as f64);
    m.insert("short_jobs_push_collected".into(), g.jobs[1].collected as f64);
    let series: BTreeSet<u64> = tsdb.series.keys().map(|&(m, _)| m).filter(|&m| !is_job(m)).collect();
    m.insert("series_in_tsdb".into(), series.len() as f64);
    // The TSDB's write rate: the samples it holds from the main phase, per second of it (the
    // outage's samples arrive late but count: the rate the sources produce and the TSDB keeps).
    let main_ms = run.main_end.0 / 1_000_000;
    let kept = tsdb.series.keys().filter(|&&(_, ts)| ts < main_ms).count() as f64;
    m.insert("tsdb_samples_per_s".into(), kept / main_s);
    m.insert("tsdb_bytes_per_s".into(), kept * crate::SAMPLE_BYTES as f64 / main_s);
    // The fastest reporting interval of ingest (the catch-up after an outage).
    let metrics = run.sim.metrics();
    let step_s = metrics.interval.0 as f64 / 1e9;
    if let Some(cnt) = metrics.scoped_counters.get("tsdb", "samples") {
        m.insert("tsdb_ingest_max_per_s".into(), cnt.per_interval.iter().copied().max().unwrap_or(0) as f64 / step_s);
    }
    m.insert("tsdb_bytes".into(), (tsdb.series.len() as u64 * crate::SAMPLE_BYTES) as f64);
    m.insert(
        "collector_samples_per_s".into(),
        g.accepted.iter().filter(|s| s.ts * 1_000_000 < run.main_end.0).count() as f64 / main_s / c.collectors as f64,
    );
    let due_eps: Vec<&Episode> = eps.iter().filter(|e| e.fires.is_some() && due(&c.rule, e) <= run.end).collect();
    m.insert("alerts_due".into(), due_eps.len() as f64);
    m.insert("alerts_fired".into(), g.firings.len() as f64);
    m.insert("alerts_resolved".into(), g.resolved as f64);
    let delays: Vec<f64> = due_eps
        .iter()
        .filter_map(|e| {
            firing_in(e, &g.firings).map(|f| f.at.as_secs_f64() - (e.onset + c.rule.hold.0 / 1_000_000) as f64 / 1e3)
        })
        .collect();
    m.insert("alerts_missed".into(), (due_eps.len() - delays.len()) as f64);
    m.insert("alert_delay_max_s".into(), delays.iter().copied().fold(0.0, f64::max));
    let lag = lag_series(run);
    m.insert("backlog_max".into(), lag.iter().map(|x| x.2).fold(0.0, f64::max));
    if let Some(s) = catch_up(&lag, step_s, g.first_write_failure, tsdb.restarted_at) {
        m.insert("catchup_s".into(), s);
    }
    if let Some(t) = tsdb.restarted_at {
        m.insert("tsdb_restarted_s".into(), t.as_secs_f64());
    }
    m.insert("query_cache_hit_ratio".into(), g.cache.hit_ratio());
    m.insert("queries_failed_at_server".into(), g.query_failed as f64);
    let ok = run.history().iter().filter(|h| h.outcome == Some(Outcome::Ok)).count();
    m.insert("queries_ok".into(), ok as f64);
}

/// The notes' table, measured: short jobs under pull and under push.
fn jobs_table(g: &Gathered<'_>) -> Table {
    let rows = g.jobs.iter().map(|j| vec![j.ended as f64, j.collected as f64, j.missed as f64]).collect();
    Table::new("short jobs: pull misses what ends between scrapes", ["ended", "collected", "missed"], rows)
        .bars("ended", &["collected", "missed"], Axis::new("short jobs", "jobs"))
        .labels(&["pull", "push"])
}

/// Per oracle episode: when the condition held, when the alert was due and when it fired.
fn alerts_table(r: &RuleSpec, eps: &[Episode], firings: &[Firing]) -> Table {
    let rows = eps
        .iter()
        .filter(|e| e.fires.is_some())
        .map(|e| {
            let f = firing_in(e, firings);
            vec![
                e.source as f64,
                e.onset as f64 / 1e3,
                e.end as f64 / 1e3,
                due(r, e).as_secs_f64(),
                f.map_or(-1.0, |f| f.at.as_secs_f64()),
            ]
        })
        .collect();
    Table::new(
        "alert episodes (oracle) and firings (-1: never fired)",
        ["host", "onset_s", "end_s", "due_s", "fired_s"],
        rows,
    )
}

/// The backlog (consumer lag) and the TSDB's ingest over time.
fn ingest_table(run: &RunView<'_, Node>) -> Table {
    let metrics = run.sim.metrics();
    let step_s = metrics.interval.0 as f64 / 1e9;
    let ingest = metrics.scoped_counters.get("tsdb", "samples");
    let rows = lag_series(run)
        .into_iter()
        .enumerate()
        .map(|(i, (t, mean, max))| {
            let w = ingest.and_then(|c| c.per_interval.get(i)).copied().unwrap_or(0);
            vec![t + step_s, mean, max, w as f64 / step_s]
        })
        .collect();
    Table::new("backlog and TSDB ingest", ["t_s", "backlog_mean", "backlog_max", "tsdb_samples_per_s"], rows)
        .over_time(&["backlog_max", "tsdb_samples_per_s"], Axis::new("records / samples per s", ""))
}

#[cfg(test)]
mod tests {
    use super::*;
    use sim_core::Duration;

    fn rule() -> RuleSpec {
        RuleSpec {
            threshold: 70,
            window: Duration::from_secs(10),
            hold: Duration::from_secs(10),
            eval_interval: Duration::from_secs(5),
            grace: Duration::from_secs(5),
            delay_bound: Duration::from_secs(30),
        }
    }

    /// One sample a second: 20 from 0 s, 90 from 30 s to 60 s, 20 after.
    fn series() -> Vec<Sample> {
        (1..=100u64)
            .map(|t| Sample { metric: 0, ts: t * 1000, value: if (30..60).contains(&t) { 90 } else { 20 } })
            .collect()
    }

    #[test]
    fn the_oracle_finds_the_episode_and_its_firing_instant() {
        let eps = episodes(&rule(), 0, &series(), 95_000);
        // avg over (e-10, e]: 90s from 30..=59: > 70 when at least 8 of 10 are high: e = 40..=60
        // at 5 s steps: 40, 45, 50, 55, 60 (at 60: 29..=59 minus 60 -> 9 high of 10? 51..=60: 9 high).
        assert_eq!(eps.len(), 1);
        let e = eps[0];
        assert_eq!(e.onset, 40_000);
        assert_eq!(e.fires, Some(50_000), "held for `for` = 10 s");
        assert_eq!(e.end, 60_000);
    }

    #[test]
    fn the_alert_manager_and_the_oracle_agree_on_complete_data() {
        let r = rule();
        let mut st = crate::RuleState { source: 0, next: 5000, pending_since: None, firing: false, busy: false };
        let (mut fired, mut resolved) = (Vec::new(), 0);
        let s = series();
        st.evaluate(&r, &s, 100_000, &mut fired, &mut resolved);
        assert_eq!(fired, vec![50_000]);
        assert_eq!(resolved, 1);
    }

    /// A series stamped from 0 (a source whose phase is 0): the sample at 0 is in the windows of
    /// the instants before `window` has passed, for the oracle and the alert manager alike.
    /// `simctl sweep scenarios/monitoring.ron` failed `alert_timely` at seed 1615: host 7's
    /// samples at 0, 10 and 20 s of (low, 87, 94) started the oracle's episode at 20 s, while the
    /// manager, which read the window `(0, e]` for `e < 20 s`, started it at 10 s and fired at
    /// 30 s, before the oracle's firing instant (40 s), so the episode counted as missed.
    #[test]
    fn a_sample_at_time_zero_is_in_the_first_windows_for_both() {
        let r = RuleSpec { window: Duration::from_secs(20), hold: Duration::from_secs(20), ..rule() };
        let values = [40, 87, 94, 94, 85, 14, 12, 10, 10, 10];
        let s: Vec<Sample> =
            values.iter().enumerate().map(|(i, &value)| Sample { metric: 0, ts: i as u64 * 10_000, value }).collect();
        let eps = episodes(&r, 0, &s, 90_000);
        assert_eq!(eps.len(), 1);
        assert_eq!((eps[0].onset, eps[0].fires), (20_000, Some(40_000)), "(40 + 87) / 2 is not above 70: 10 s is not");
        let mut st = crate::RuleState { source: 0, next: 5000, pending_since: None, firing: false, busy: false };
        let (mut fired, mut resolved) = (Vec::new(), 0);
        st.evaluate(&r, &s, 90_000, &mut fired, &mut resolved);
        assert_eq!(fired, vec![40_000], "the manager fires where the oracle's episode does");
        let firings = [Firing { source: 0, instant: fired[0], at: Time(60_000_000_000) }];
        assert!(alert_timely(&r, &eps, &firings, Time(200_000_000_000)).passed);
    }

    #[test]
    fn a_missed_a_late_and_a_false_alert_fail() {
        let r = rule();
        let eps = episodes(&r, 0, &series(), 95_000);
        let end = Time(200_000_000_000);
        let ok = [Firing { source: 0, instant: 50_000, at: Time(60_000_000_000) }];
        assert!(alert_timely(&r, &eps, &ok, end).passed);
        assert!(no_false_alerts(&eps, &ok).passed);
        assert!(!alert_timely(&r, &eps, &[], end).passed, "missed");
        let late = [Firing { source: 0, instant: 50_000, at: Time(90_000_000_000) }];
        assert!(!alert_timely(&r, &eps, &late, end).passed, "due by 40 + 10 + 30 = 80 s");
        let wrong = [Firing { source: 0, instant: 70_000, at: Time(75_000_000_000) }];
        assert!(!no_false_alerts(&eps, &wrong).passed);
        let early = [Firing { source: 0, instant: 45_000, at: Time(75_000_000_000) }];
        assert!(no_false_alerts(&eps, &early).passed, "premature: the condition held, not yet for `for`");
        assert!(no_false_alerts(&eps, &[]).is_vacuous());
        assert!(alert_timely(&r, &eps, &ok, Time(1)).is_vacuous(), "due after the end: skipped, nothing judged");
    }

    #[test]
    fn a_sample_missing_from_the_tsdb_or_changed_is_lost() {
        let mut t = Tsdb { series: BTreeMap::new(), pending: BTreeMap::new(), restarted_at: None, repeats: 0 };
        let s = series();
        t.apply(&s[..50]);
        let all = u64::MAX;
        assert!(no_sample_lost(&s[..50], &t, all, 0).0.passed);
        let (c, lost) = no_sample_lost(&s, &t, all, 0);
        assert!(!c.passed);
        assert_eq!(lost, 50);
        t.series.insert((0, 1000), 21);
        assert!(!no_sample_lost(&s[..1], &t, all, 0).0.passed, "another value");
        assert!(no_sample_lost(&[], &t, all, 0).0.is_vacuous());
    }

    /// A sample of the settle phase missing at the end is in flight, not lost; one of the main
    /// phase is lost; and a run whose samples all came in the settle judged nothing.
    #[test]
    fn a_sample_of_the_settle_missing_at_the_end_is_in_flight_not_lost() {
        let mut t = Tsdb { series: BTreeMap::new(), pending: BTreeMap::new(), restarted_at: None, repeats: 0 };
        let s = series();
        t.apply(&s[..50]);
        let until = s[50].ts;
        let (c, lost) = no_sample_lost(&s, &t, until, 0);
        assert!(c.passed && lost == 0, "{c:?}");
        assert_eq!(c.count.judged, 50);
        assert_eq!(c.count.skipped[0].count, s.len() as u64 - 50);
        assert!(c.detail.contains(&format!("{} of the settle's", s.len() - 50)), "{}", c.detail);
        let (c, lost) = no_sample_lost(&s, &t, s[60].ts, 0);
        assert!(!c.passed && lost == 10, "the main phase's samples 50..60 are missing: {c:?}");
        assert!(no_sample_lost(&s, &t, s[0].ts, 0).0.is_vacuous(), "every sample in the settle: nothing judged");
    }

    #[test]
    fn catch_up_runs_from_the_restart_to_the_backlog_back_at_its_steady_peak() {
        // Steady peak 10; failure at 5 s; restart at 10 s; back to <= 10 in the interval [13, 14).
        let lag: Vec<(f64, f64, f64)> =
            [5.0, 10.0, 8.0, 9.0, 7.0, 40.0, 80.0, 120.0, 160.0, 200.0, 210.0, 100.0, 30.0, 9.0]
                .iter()
                .enumerate()
                .map(|(i, &x)| (i as f64, x, x))
                .collect();
        let s = catch_up(&lag, 1.0, Some(Time(5_000_000_000)), Some(Time(10_000_000_000)));
        assert_eq!(s, Some(4.0));
        assert_eq!(catch_up(&lag, 1.0, None, Some(Time(10_000_000_000))), None, "no failure: nothing to catch up");
    }
}
