//! The judge's checks and measures: over the history (what each user submitted and the verdict
//! and waiting time they saw), the API's results and leaderboard (a read-only view), and the
//! kernel's counters and levels.

use crate::leaderboard::Row;
use crate::{Api, Config, Contest, Node};
use sim_core::metrics::HistoryEntry;
use sim_core::model::{Axis, Table};
use sim_core::sweep::percentile;
use sim_core::{Check, Duration, ModelReport, OpId, Outcome, Reply, RunView, Time, Topology};
use std::collections::{BTreeMap, BTreeSet};

pub fn validate(c: &Config, topo: &Topology) -> Vec<(String, String)> {
    let mut e = Vec::new();
    let servers = topo.servers.len() as u32;
    if c.brokers == 0 {
        e.push(("config.brokers".into(), "needs at least one broker".into()));
    }
    if servers < c.brokers + 3 {
        e.push((
            "topology.servers".into(),
            format!(
                "needs brokers + 3 servers (control, brokers, the API, at least one runner) = {}, got {servers}",
                c.brokers + 3
            ),
        ));
        return e;
    }
    if topo.clients.is_empty() {
        e.push(("topology.clients".into(), "needs at least one client (the users)".into()));
    }
    let runners = servers - c.brokers - 2;
    e.extend(c.log.validate("config.log", c.brokers));
    e.extend(c.runner.validate("config.runner"));
    e.extend(c.scaler.validate("config.scaler", runners));
    for (name, p) in [
        ("submit_call", &c.submit_call),
        ("check_call", &c.check_call),
        ("verdict_call", &c.verdict_call),
        ("dispatch_call", &c.dispatch_call),
    ] {
        e.extend(p.validate(&format!("config.{name}")));
    }
    if c.verdict_call.breaker.is_some() {
        e.push((
            "config.verdict_call.breaker".into(),
            "a runner retries its verdict until it lands: no breaker".into(),
        ));
    }
    if c.problems.is_empty() || c.problems.len() > 10_000 {
        e.push(("config.problems".into(), format!("needs between 1 and 10,000 problems, got {}", c.problems.len())));
    }
    for (i, p) in c.problems.iter().enumerate() {
        if let Err(m) = p.run.validate() {
            e.push((format!("config.problems[{i}].run"), m));
        }
        if !(0.0..=1.0).contains(&p.accept) {
            e.push((format!("config.problems[{i}].accept"), format!("must be within [0, 1], got {}", p.accept)));
        }
    }
    if c.languages.is_empty() {
        e.push(("config.languages".into(), "needs at least one language".into()));
    }
    for (i, l) in c.languages.iter().enumerate() {
        if !(l.share > 0.0 && l.share.is_finite()) {
            e.push((format!("config.languages[{i}].share"), format!("must be positive, got {}", l.share)));
        }
        if !(l.factor > 0.0 && l.factor <= 1000.0) {
            e.push((format!("config.languages[{i}].factor"), format!("must be within (0, 1000], got {}", l.factor)));
        }
    }
    for (name, d) in [("poll_every", c.poll_every), ("poll_for", c.poll_for), ("result_sla", c.result_sla)] {
        if d == Duration::ZERO {
            e.push((format!("config.{name}"), "must be positive".into()));
        }
    }
    e
}

/// A submission the users made: its id, user, when it was invoked, and (if the user saw it) the
/// verdict, its submission time as the API stamped it, and when the user saw it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Seen {
    /// The submission's operation (what `simctl replay` is pointed at).
    pub op: OpId,
    pub id: u64,
    pub user: u64,
    pub invoke: Time,
    pub outcome: Option<Outcome>,
    /// When the user had an answer (a verdict, a refusal, or giving up: the submit or the polling
    /// timed out).
    pub complete: Option<Time>,
    /// `(accepted, submitted at, result seen at)` for a submission the user got a verdict for.
    pub verdict: Option<(bool, Time, Time)>,
}

pub fn submissions(history: &[HistoryEntry]) -> Vec<Seen> {
    history
        .iter()
        .map(|h| {
            let verdict = match (h.outcome, &h.reply, h.complete.get()) {
                (Some(Outcome::Ok), Reply::Values(v), Some(done)) if v.len() == 2 => {
                    Some((v[0] == 1, Time(v[1]), done))
                }
                _ => None,
            };
            Seen {
                op: h.op,
                id: h.value,
                user: h.key,
                invoke: h.invoke,
                outcome: h.outcome,
                complete: h.complete.get(),
                verdict,
            }
        })
        .collect()
}

/// `exactly_one_verdict`: every submission has exactly one verdict applied to the leaderboard.
/// `received`: the submission ids that reached the API (a submit that timed out before is the
/// API's unavailability, told apart in the detail; it still has no verdict).
pub fn exactly_one_verdict(subs: &[Seen], applied: Option<&BTreeMap<u64, u32>>, received: &BTreeSet<u64>) -> Check {
    let name = "exactly_one_verdict";
    let Some(applied) = applied else {
        return Check::judged(name, 0u64, "submissions").passed_if(false).detail("the API server is down at the end");
    };
    let lost: Vec<&Seen> = subs.iter().filter(|s| applied.get(&s.id).copied().unwrap_or(0) == 0).collect();
    let twice: Vec<&Seen> = subs.iter().filter(|s| applied.get(&s.id).copied().unwrap_or(0) > 1).collect();
    let by = |o: Option<Outcome>| lost.iter().filter(|s| s.outcome == o).count();
    let unreached = lost.iter().filter(|s| s.outcome == Some(Outcome::Timeout) && !received.contains(&s.id)).count();
    let mut detail = format!(
        "{} submissions: {} without a verdict (refused or failed: {}, timed out before the API had the \
         submission: {}, timed out after: {}, still waiting: {}), {} with more than one applied",
        subs.len(),
        lost.len(),
        by(Some(Outcome::Fail)) + by(Some(Outcome::Rejected)),
        unreached,
        by(Some(Outcome::Timeout)) - unreached,
        by(None),
        twice.len()
    );
    if let Some(s) = lost.first() {
        detail += &format!("; first lost: submission {} of user {} at {}", s.id, s.user, s.invoke);
    }
    if let Some(s) = twice.first() {
        detail += &format!("; first applied {} times: submission {}", applied[&s.id], s.id);
    }
    Check::judged(name, subs.len(), "submissions")
        .violations(lost.len() + twice.len(), "lost or doubled")
        .detail(detail)
        .blame_ids(lost.iter().chain(&twice).map(|s| s.op))
}

/// Times to a result (seconds) of the submissions that got one, made at or after `from`.
fn result_times(subs: &[Seen], from: Time) -> Vec<f64> {
    let mut t: Vec<f64> = subs
        .iter()
        .filter(|s| s.invoke >= from)
        .filter_map(|s| s.verdict.map(|(_, _, seen)| seen.since(s.invoke).as_secs_f64()))
        .collect();
    t.sort_by(f64::total_cmp);
    t
}

/// `result_within_sla`: the p99 time to a result of the submissions made after the spike, but
/// those in progress during a fault (`faults`: `[start, end)` windows): a runner's crash sends
/// its runs in progress back to the queue and takes its sandboxes until the scaler replaces it,
/// so the few submissions around it wait longer; `exactly_one_verdict` judges them, and with a
/// crash touching about 1% of the results the p99 would be theirs (seed 26213165698729 of
/// `judge.ron`: 10 of 914 results over 5 s, all made 69.7-74.7 s, around n6's crash at 70 s).
pub fn result_within_sla(subs: &[Seen], spike_end: Time, sla: Duration, faults: &[(Time, Time)]) -> Check {
    let in_fault = |s: &&Seen| {
        s.verdict.is_some_and(|(_, _, seen)| faults.iter().any(|&(start, end)| s.invoke < end && seen > start))
    };
    let judged: Vec<Seen> = subs.iter().filter(|s| !in_fault(s)).cloned().collect();
    let during = subs.iter().filter(|s| s.invoke >= spike_end).filter(in_fault).count();
    let after = result_times(&judged, spike_end);
    let in_spike = subs.iter().filter(|s| s.invoke < spike_end && s.verdict.is_some()).count();
    let p99 = percentile(&after, 0.99);
    let over = after.iter().filter(|&&t| t > sla.as_secs_f64()).count();
    let late = judged
        .iter()
        .filter(|s| s.invoke >= spike_end && s.verdict.is_some_and(|(_, _, seen)| seen.since(s.invoke) > sla));
    Check::judged("result_within_sla", after.len(), "results after the spike")
        .skipped(in_spike, "in the contest-start spike")
        .skipped(during, "in progress during a fault")
        .passed_if(after.is_empty() || p99 <= sla.as_secs_f64())
        .detail(format!(
            "p99 {p99:.2} s against {:.1} s; {over} of {} results after {spike_end} took longer",
            sla.as_secs_f64(),
            after.len()
        ))
        .blame_ids(late.map(|s| s.op))
}

/// The window over which the arrival rate is measured for `backlog_drained`.
pub const RATE_WINDOW: Duration = Duration::from_secs(10);

/// The backlog over time, sampled every second of `(0, until]`: `(t, waiting, allowed)`, where
/// `waiting` is the submissions made by `t` that had no answer yet (as the users saw it: from the
/// history), and `allowed` is what the arrivals of the last [`RATE_WINDOW`] bring in `sla`
/// (Little's law: with at most that many waiting, the mean wait is within the SLA).
pub fn backlog(subs: &[Seen], sla: Duration, until: Time) -> Vec<(Time, u64, f64)> {
    let mut invoked: Vec<Time> = subs.iter().map(|s| s.invoke).collect();
    let mut answered: Vec<Time> = subs.iter().filter_map(|s| s.complete).collect();
    invoked.sort_unstable();
    answered.sort_unstable();
    let upto = |v: &[Time], t: Time| v.partition_point(|&x| x <= t) as u64;
    (1..=until.0 / 1_000_000_000)
        .map(|k| {
            let t = Time(k * 1_000_000_000);
            let waiting = upto(&invoked, t) - upto(&answered, t);
            let recent = upto(&invoked, t) - upto(&invoked, Time(t.0.saturating_sub(RATE_WINDOW.0)));
            (t, waiting, recent as f64 / RATE_WINDOW.as_secs_f64() * sla.as_secs_f64())
        })
        .collect()
}

/// The last second at which the backlog was above what the SLA allows, if any.
pub fn backlog_end(samples: &[(Time, u64, f64)]) -> Option<Time> {
    samples.iter().rev().find(|s| s.1 as f64 > s.2).map(|s| s.0)
}

/// `backlog_drained`: from `drain_by` on, the backlog never exceeded what the SLA allows.
pub fn backlog_drained(subs: &[Seen], sla: Duration, drain_by: Time, until: Time) -> Check {
    let samples = backlog(subs, sla, until);
    let peak = samples.iter().max_by_key(|s| s.1);
    let end = backlog_end(&samples);
    let mut detail = match end {
        None => "the backlog never exceeded the arrivals of 5 s".to_string(),
        Some(t) => format!("the backlog last exceeded what the SLA allows at {t} (bound {drain_by})"),
    };
    if let Some((t, n, allowed)) = peak {
        detail += &format!("; peak {n} submissions waiting at {t} (allowed {allowed:.0})");
    }
    Check::judged("backlog_drained", samples.len(), "seconds")
        .passed_if(end.is_none_or(|t| t <= drain_by))
        .detail(detail)
}

/// The leaderboard recomputed from the verdicts the users saw: user -> row. A submission whose
/// user gave up waiting (the submit or the polling timed out) still counts when the system took
/// it: `stamped(id)` is the time the API stamped it, if it recorded a verdict for it, and the
/// verdict is the contest's own (`Contest::accepted`). Without them the oracle and
/// `exactly_one_verdict` judged different submissions: explore found a run (the log's
/// coordinator down for the first 10 s) in which 226 submissions timed out while waiting to be
/// queued, were judged after it came back, and 209 users' rows looked wrong.
pub fn oracle(
    subs: &[Seen],
    contest: &Contest,
    penalty: Duration,
    stamped: impl Fn(u64) -> Option<Time>,
) -> BTreeMap<u64, Row> {
    let mut by_cell: BTreeMap<(u64, u32), Vec<(Time, bool)>> = BTreeMap::new();
    for s in subs {
        let seen = s.verdict.map(|(accepted, at, _)| (at, accepted));
        if let Some(v) = seen.or_else(|| stamped(s.id).map(|at| (at, contest.accepted(s.id)))) {
            by_cell.entry((s.user, contest.problem_of(s.id))).or_default().push(v);
        }
    }
    let mut rows: BTreeMap<u64, Row> = BTreeMap::new();
    for ((user, _), mut v) in by_cell {
        v.sort();
        let row = rows.entry(user).or_default();
        row.verdicts += v.len() as u32;
        if let Some(i) = v.iter().position(|x| x.1) {
            let wrong = v[..i].iter().filter(|x| x.0 < v[i].0).count() as u64;
            row.solved += 1;
            row.penalty_s += v[i].0.0 / 1_000_000_000 + wrong * (penalty.0 / 1_000_000_000);
        }
    }
    rows
}

/// `leaderboard_matches_oracle`: every user's row equals the oracle's, and the ranking is the
/// oracle's order.
pub fn leaderboard_matches_oracle(oracle: &BTreeMap<u64, Row>, api: Option<&Api>) -> Check {
    let name = "leaderboard_matches_oracle";
    let Some(api) = api else {
        return Check::judged(name, 0u64, "users").passed_if(false).detail("the API server is down at the end");
    };
    let rows = api.leaderboard.rows();
    let mut users: Vec<u64> = oracle.keys().chain(rows.keys()).copied().collect();
    users.sort_unstable();
    users.dedup();
    let wrong: Vec<u64> = users.iter().copied().filter(|u| oracle.get(u) != rows.get(u)).collect();
    let mut expected: Vec<(std::cmp::Reverse<u32>, u64, u64)> =
        oracle.iter().map(|(&u, r)| (std::cmp::Reverse(r.solved), r.penalty_s, u)).collect();
    expected.sort_unstable();
    let expected: Vec<u64> = expected.into_iter().map(|x| x.2).collect();
    let ranked = api.leaderboard.ranking() == expected;
    let mut detail = format!(
        "{} users: {} rows differ from the oracle; ranking {}",
        users.len(),
        wrong.len(),
        if ranked { "in the oracle's order" } else { "NOT in the oracle's order" }
    );
    if let Some(u) = wrong.first() {
        detail += &format!("; first: user {u}, leaderboard {:?}, oracle {:?}", rows.get(u), oracle.get(u));
    }
    Check::judged(name, users.len(), "users").violations(wrong.len(), "differ").passed_if(ranked).detail(detail)
}

/// A kernel level's time-weighted mean in each report interval up to `to`.
fn level_series(run: &RunView<'_, Node>, scope: &'static str, name: &'static str, to: Time) -> Vec<f64> {
    let m = run.sim.metrics();
    let w = m.interval.0.max(1);
    let cells = to.0.div_ceil(w) as usize;
    let Some(l) = m.levels.get(scope, name) else { return vec![0.0; cells] };
    (0..cells).map(|i| l.intervals.get(i).map_or(0.0, |c| c.0 / w as f64)).collect()
}

/// Runners over time (up, in their cold start, the scaler's target, sandboxes busy over the
/// sandboxes per runner), and the backlog beside what the SLA allows.
fn tables(c: &Config, run: &RunView<'_, Node>, samples: &[(Time, u64, f64)]) -> Vec<Table> {
    let end = run.sim.now();
    let w = run.sim.metrics().interval.as_secs_f64();
    let up = level_series(run, "runners", "up", end);
    let starting = level_series(run, "runners", "starting", end);
    let desired = level_series(run, "runners", "desired", end);
    let busy = level_series(run, "runners", "busy", end);
    let per = c.runner.concurrency.max(1) as f64;
    let rows = (0..up.len()).map(|i| vec![i as f64 * w, up[i], starting[i], desired[i], busy[i] / per]).collect();
    let columns = ["t_s", "up", "starting", "desired", "busy (runners' worth)"];
    let runners = Table::new("runners over time", columns, rows).over_time(&columns[1..], Axis::new("runners", ""));
    let lag = level_series(run, "log", "lag", end);
    let rows = samples
        .iter()
        .map(|&(t, waiting, allowed)| {
            let i = ((t.as_secs_f64() / w) as usize).min(lag.len().saturating_sub(1));
            vec![t.as_secs_f64(), waiting as f64, allowed, lag.get(i).copied().unwrap_or(0.0)]
        })
        .collect();
    let columns = ["t_s", "waiting for a result", "allowed by the SLA", "queue lag"];
    let backlog = Table::new("backlog", columns, rows).over_time(&columns[1..], Axis::new("submissions", ""));
    vec![runners, backlog]
}

/// Mean of a kernel level over `[from, to)` (whole intervals), and its maximum over the run.
fn level(run: &RunView<'_, Node>, scope: &'static str, name: &'static str, from: Time, to: Time) -> (f64, f64) {
    let m = run.sim.metrics();
    let Some(l) = m.levels.get(scope, name) else { return (0.0, 0.0) };
    let w = m.interval.0.max(1);
    let (a, b) = ((from.0 / w) as usize, (to.0 / w) as usize);
    let cells = b.saturating_sub(a);
    let integral: f64 = l.intervals.iter().skip(a).take(cells).map(|c| c.0).sum();
    (integral / (cells as u64 * w).max(1) as f64, l.max as f64)
}

pub fn report(c: &Config, run: &RunView<'_, Node>) -> ModelReport {
    let mut r = ModelReport::default();
    let subs = submissions(run.history());
    let api = run.servers().find_map(|(_, n)| if let Node::Api(a) = n { Some(&**a) } else { None });
    let contest = Contest::new(c);
    let spike_end = Time(c.spike_end.0);
    // The ledger outlives the API's crashes; with the API down at the end the check fails anyway.
    let (received, none) = (api.map(|a| a.received.borrow()), BTreeSet::new());
    r.checks.push(exactly_one_verdict(&subs, api.map(|a| &a.applied), received.as_deref().unwrap_or(&none)));
    let faults: Vec<(Time, Time)> =
        run.sim.metrics().faults.iter().map(|f| (f.start, f.end.unwrap_or(run.end))).collect();
    r.checks.push(result_within_sla(&subs, spike_end, c.result_sla, &faults));
    r.checks.push(backlog_drained(&subs, c.result_sla, Time(c.drain_by.0), run.main_end));
    let stamped = |id: u64| api.and_then(|a| a.results.get(&id)).map(|v| v.sub.at);
    r.checks.push(leaderboard_matches_oracle(&oracle(&subs, &contest, c.penalty, stamped), api));

    let m = &mut r.measures;
    let count = |f: &dyn Fn(&Seen) -> bool| subs.iter().filter(|s| f(s)).count() as f64;
    m.insert("submissions".into(), subs.len() as f64);
    m.insert("judged_unseen".into(), count(&|s| s.verdict.is_none() && stamped(s.id).is_some()));
    // How long after the user's submit the leaderboard's submission time is: the first attempt's
    // way to the API, unless that attempt was lost and a retry was the first to arrive.
    let stamp_lag = subs.iter().filter_map(|s| s.verdict.map(|(_, at, _)| at.since(s.invoke))).max();
    m.insert("stamp_after_submit_max_ms".into(), stamp_lag.map_or(0.0, |d| d.as_millis_f64()));
    m.insert("results".into(), count(&|s| s.verdict.is_some()));
    m.insert("refused_or_failed".into(), count(&|s| matches!(s.outcome, Some(Outcome::Fail | Outcome::Rejected))));
    m.insert("gave_up_polling".into(), count(&|s| s.outcome == Some(Outcome::Timeout)));
    if let Some(a) = api {
        let lost = subs.iter().filter(|s| !a.applied.contains_key(&s.id)).count();
        m.insert("lost".into(), lost as f64);
        m.insert("verdicts".into(), a.results.len() as f64);
        m.insert("verdicts_repeated".into(), a.stats.repeated as f64);
        m.insert("api_refused".into(), a.stats.refused as f64);
        m.insert("leaderboard_users".into(), a.leaderboard.rows().len() as f64);
    }
    let all = result_times(&subs, Time::ZERO);
    let after = result_times(&subs, spike_end);
    for (name, v, q) in [
        ("result_p50_s", &all, 0.5),
        ("result_p99_s", &all, 0.99),
        ("result_max_s", &all, 1.0),
        ("result_p99_after_spike_s", &after, 0.99),
    ] {
        if !v.is_empty() {
            m.insert(name.into(), percentile(v, q));
        }
    }
    let samples = backlog(&subs, c.result_sla, run.main_end);
    m.insert("backlog_end_s".into(), backlog_end(&samples).map_or(0.0, |t| t.as_secs_f64()));
    m.insert("backlog_max".into(), samples.iter().map(|s| s.1).max().unwrap_or(0) as f64);
    r.tables = tables(c, run, &samples);
    let m = &mut r.measures;
    // The steady rate: submissions made after the spike, per second of the rest of the main phase.
    let span = run.main_end.since(spike_end).as_secs_f64();
    if span > 0.0 {
        let n = subs.iter().filter(|s| s.invoke >= spike_end && s.invoke < run.main_end).count();
        m.insert("steady_rate_per_s".into(), n as f64 / span);
    }
    let counters = &run.sim.metrics().scoped_counters;
    let counter = |s: &'static str, n: &'static str| counters.get(s, n).map_or(0, |c| c.total) as f64;
    let (runs, ran) = (counter("runners", "runs"), counter("runners", "ran"));
    m.insert("runs".into(), runs);
    m.insert("runs_lost_in_crashes".into(), runs - ran);
    m.insert("reruns".into(), (runs - m.get("verdicts").copied().unwrap_or(0.0)).max(0.0));
    m.insert("run_mean_s".into(), if ran > 0.0 { counter("runners", "run_ns") / 1e9 / ran } else { 0.0 });
    for (name, scope, counter_name) in [
        ("runners_started", "runners", "started"),
        ("runners_lost", "runners", "lost"),
        ("rebalances", "log", "rebalances"),
        ("partitions_moved", "log", "partitions_moved"),
    ] {
        m.insert(name.into(), counter(scope, counter_name));
    }
    let (all_from, end) = (Time::ZERO, run.main_end);
    let (runners_mean, runners_max) = level(run, "runners", "up", all_from, end);
    let (_, lag_max) = level(run, "log", "lag", all_from, end);
    let (busy_steady, _) = level(run, "runners", "busy", spike_end, end);
    let (runners_steady, _) = level(run, "runners", "up", spike_end, end);
    m.insert("runners_mean".into(), runners_mean);
    m.insert("runners_max".into(), runners_max);
    m.insert("runners_mean_after_spike".into(), runners_steady);
    m.insert("sandboxes_busy_after_spike".into(), busy_steady);
    m.insert("lag_max".into(), lag_max);
    r
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Language, Problem};
    use sim_core::{Dist, NodeId, OpId};

    fn s(secs: u64) -> Time {
        Time(secs * 1_000_000_000)
    }

    fn seen(id: u64, user: u64, invoke: u64, verdict: Option<(bool, u64, u64)>) -> Seen {
        let outcome = if verdict.is_some() { Some(Outcome::Ok) } else { Some(Outcome::Fail) };
        let complete = Some(verdict.map_or(s(invoke), |v| s(v.2)));
        Seen {
            op: OpId::new(id),
            id,
            user,
            invoke: s(invoke),
            outcome,
            complete,
            verdict: verdict.map(|(a, at, done)| (a, s(at), s(done))),
        }
    }

    #[test]
    fn submissions_read_the_verdict_from_the_reply() {
        let h = HistoryEntry {
            op: OpId(1),
            client: NodeId(9),
            kind: 0,
            key: 7,
            value: 42,
            attempt: 1,
            invoke: s(1),
            complete: Some(s(3)).into(),
            outcome: Some(Outcome::Ok),
            reply: Reply::list([1, s(1).0 + 5]),
        };
        let v = submissions(&[h]);
        assert_eq!(v[0].verdict, Some((true, Time(s(1).0 + 5), s(3))));
        assert_eq!((v[0].id, v[0].user), (42, 7));
    }

    #[test]
    fn a_lost_or_doubled_verdict_fails_exactly_one_verdict() {
        let subs = vec![seen(1, 1, 0, Some((true, 0, 2))), seen(2, 1, 0, None), seen(3, 2, 0, Some((false, 0, 3)))];
        let ok: BTreeMap<u64, u32> = [(1, 1), (2, 1), (3, 1)].into();
        let all: BTreeSet<u64> = [1, 2, 3].into();
        assert!(exactly_one_verdict(&subs, Some(&ok), &all).passed);
        let lost: BTreeMap<u64, u32> = [(1, 1), (3, 1)].into();
        let c = exactly_one_verdict(&subs, Some(&lost), &all);
        assert!(!c.passed);
        assert!(c.detail.contains("first lost: submission 2"), "{}", c.detail);
        let twice: BTreeMap<u64, u32> = [(1, 1), (2, 1), (3, 2)].into();
        assert!(!exactly_one_verdict(&subs, Some(&twice), &all).passed);
        assert!(!exactly_one_verdict(&subs, None, &all).passed);
        // Timed out: the API's unavailability (it never had the submission) told apart from a
        // submission it took and lost.
        let mut timed_out = subs.clone();
        timed_out[1].outcome = Some(Outcome::Timeout);
        let c = exactly_one_verdict(&timed_out, Some(&lost), &[1, 3].into());
        assert!(
            !c.passed && c.detail.contains("before the API had the submission: 1, timed out after: 0"),
            "{}",
            c.detail
        );
        let c = exactly_one_verdict(&timed_out, Some(&lost), &all);
        assert!(
            !c.passed && c.detail.contains("before the API had the submission: 0, timed out after: 1"),
            "{}",
            c.detail
        );
    }

    #[test]
    fn the_sla_is_judged_on_the_results_after_the_spike() {
        // 100 results after the spike: 98 in 1 s, 2 in 9 s (p99 = 9 s); one in the spike took 30 s.
        let mut subs: Vec<Seen> = (0..98).map(|i| seen(i, i, 70, Some((true, 70, 71)))).collect();
        subs.extend((98..100).map(|i| seen(i, i, 70, Some((true, 70, 79)))));
        subs.push(seen(100, 1, 10, Some((true, 10, 40))));
        let c = result_within_sla(&subs, s(60), Duration::from_secs(5), &[]);
        assert!(!c.passed, "{}", c.detail);
        assert_eq!((c.count.judged, c.count.skipped_total()), (100, 1));
        // A fault from 75 s to 80 s: the two slow results were in progress during it (70-79 s),
        // so they are not judged, and neither are the others (70-71 s: before it).
        let c = result_within_sla(&subs, s(60), Duration::from_secs(5), &[(s(75), s(80))]);
        assert!(c.passed, "{}", c.detail);
        assert_eq!((c.count.judged, c.count.skipped_total()), (98, 3));
        // Drop one slow result: the p99 is the 99th of 99, still 9 s; drop both and it passes.
        subs.retain(|x| x.id < 98 || x.id == 100);
        assert!(result_within_sla(&subs, s(60), Duration::from_secs(5), &[]).passed);
    }

    #[test]
    fn the_backlog_is_drained_once_no_more_wait_than_five_seconds_of_arrivals_bring() {
        // One submission a second from 0 s to 99 s; those made in [10 s, 20 s) wait 30 s, the
        // others 1 s. With 1/s arriving, 5 may wait: more do from 15 s to 44 s (at 44 s, the five made
        // at 15-19 s and the one made at 44 s).
        let subs: Vec<Seen> = (0..100)
            .map(|i| {
                let wait = if (10..20).contains(&i) { 30 } else { 1 };
                seen(i, i, i, Some((true, i, i + wait)))
            })
            .collect();
        let samples = backlog(&subs, Duration::from_secs(5), s(100));
        assert_eq!(samples.len(), 100);
        assert_eq!(samples[5].1, 1, "at 6 s only the one made at 6 s waits");
        let end = backlog_end(&samples).expect("the backlog exceeded the allowance");
        assert_eq!(end, s(44));
        assert!(backlog_drained(&subs, Duration::from_secs(5), s(60), s(100)).passed);
        let c = backlog_drained(&subs, Duration::from_secs(5), s(30), s(100));
        assert!(!c.passed, "{}", c.detail);
        assert_eq!(c.count.judged, 100);
    }

    #[test]
    fn the_oracle_scores_the_verdicts_the_users_saw() {
        let contest = Contest {
            problems: vec![Problem { run: Dist::Constant(Duration::from_secs(1)), accept: 0.5 }],
            languages: vec![Language { name: "c".into(), share: 1.0, factor: 1.0 }],
        };
        // One problem: user 1 wrong at 10 s, accepted at 20 s; user 2 refused (no verdict).
        let subs =
            vec![seen(1, 1, 10, Some((false, 10, 11))), seen(2, 1, 20, Some((true, 20, 22))), seen(3, 2, 5, None)];
        let o = oracle(&subs, &contest, Duration::from_secs(1200), |_| None);
        assert_eq!(o.len(), 1);
        assert_eq!(o[&1], Row { solved: 1, penalty_s: 1220, verdicts: 2 });
        // User 2 gave up, but the API took submission 3 at 6 s and judged it: it counts, with the
        // contest's verdict for it.
        let o = oracle(&subs, &contest, Duration::from_secs(1200), |id| (id == 3).then_some(s(6)));
        let accepted = contest.accepted(3);
        let expected = Row { solved: accepted as u32, penalty_s: if accepted { 6 } else { 0 }, verdicts: 1 };
        assert_eq!((o.len(), o[&2]), (2, expected));
    }
}
