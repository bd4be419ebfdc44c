//! The pipeline's checks and measures, over the history (what the log acknowledged), the final
//! logs of the partitions' leaders, the results store, and the kernel's counters and levels.

use crate::{Config, Node, Store};
use parts::log::{PartLog, Pid};
use sim_core::metrics::{HistoryEntry, describe_value, op_of_value};
use sim_core::model::MAX_BLAMED;
use sim_core::sweep::percentile;
use sim_core::{Check, ModelReport, Outcome, Reply, RunView};
use std::collections::BTreeMap;

/// Every acknowledged produce: value -> (partition, offset).
pub fn acked(history: &[HistoryEntry]) -> BTreeMap<u64, (Pid, u64)> {
    history
        .iter()
        .filter_map(|h| match (h.outcome, &h.reply) {
            (Some(Outcome::Ok), Reply::Values(v)) if v.len() == 2 => Some((h.value, (v[0] as Pid, v[1]))),
            _ => None,
        })
        .collect()
}

/// `delivered_at_least_once`: every acknowledged record was processed (its result is in the
/// store). `processed` maps a value to the offsets it was processed from.
pub fn delivered_at_least_once(acked: &BTreeMap<u64, (Pid, u64)>, store: Option<&Store>) -> Check {
    let name = "delivered_at_least_once";
    let Some(store) = store else {
        return Check::judged(name, 0u64, "acknowledged records")
            .passed_if(false)
            .detail("the results store is down at the end: nothing to judge");
    };
    let missing: Vec<(&u64, &(Pid, u64))> = acked.iter().filter(|(v, _)| !store.processed.contains_key(v)).collect();
    let detail = match missing.first() {
        None => format!("all {} acknowledged records were processed", acked.len()),
        Some((v, (p, o))) => format!(
            "{} of {} acknowledged records never processed; first: {} at partition {p} offset {o}",
            missing.len(),
            acked.len(),
            describe_value(**v)
        ),
    };
    // A record's value names the produce op that wrote it; the history fills in its times.
    let blamed = missing.iter().take(MAX_BLAMED).filter_map(|(v, _)| op_of_value(**v));
    Check::judged(name, acked.len(), "acknowledged records")
        .violations(missing.len(), "never processed")
        .detail(detail)
        .blame_ids(blamed)
}

/// What became of the acknowledged records in the final logs.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LogAudit {
    pub present: u64,
    /// Below the log start: deleted by retention (not a loss of the log's durability).
    pub deleted: u64,
    pub lost: u64,
    /// In partitions with no leader at the end.
    pub unjudged: u64,
}

/// Audits acknowledged records against `logs` (partition -> its final leader's log).
pub fn audit_logs(
    acked: &BTreeMap<u64, (Pid, u64)>,
    logs: &BTreeMap<Pid, &PartLog>,
) -> (LogAudit, Option<(u64, Pid, u64)>) {
    let mut a = LogAudit::default();
    let mut first_lost = None;
    for (&v, &(p, o)) in acked {
        let Some(log) = logs.get(&p) else {
            a.unjudged += 1;
            continue;
        };
        if o < log.start() {
            a.deleted += 1;
        } else if log.get(o).and_then(|e| e.rec).is_some_and(|r| r.value == v) {
            a.present += 1;
        } else {
            a.lost += 1;
            first_lost.get_or_insert((v, p, o));
        }
    }
    (a, first_lost)
}

/// `no_acked_loss`: every acknowledged record is in its partition's final log at its offset (or
/// was deleted by retention).
pub fn no_acked_loss(acked: &BTreeMap<u64, (Pid, u64)>, logs: &BTreeMap<Pid, &PartLog>) -> Check {
    let (a, first) = audit_logs(acked, logs);
    let mut detail = format!(
        "{} acknowledged: {} in the final logs, {} deleted by retention, {} lost, {} in partitions without a leader",
        acked.len(),
        a.present,
        a.deleted,
        a.lost,
        a.unjudged
    );
    if let Some((v, p, o)) = first {
        detail += &format!("; first lost: {} at partition {p} offset {o}", describe_value(v));
    }
    let blamed = first.and_then(|(v, _, _)| op_of_value(v));
    Check::judged("no_acked_loss", a.present + a.deleted + a.lost, "acknowledged records")
        .skipped(a.unjudged, "in a partition without a leader at the end")
        .violations(a.lost, "lost")
        .passed_if(a.unjudged == 0)
        .detail(detail)
        .blame_ids(blamed)
}

/// Processing counts from the store: (distinct records, processings beyond the first, of which
/// the same offset again, and of which another offset of the same record).
pub fn duplicates(store: &Store) -> (u64, u64, u64, u64) {
    let (mut distinct, mut extra, mut redelivered, mut log_dups) = (0, 0, 0, 0);
    for offsets in store.processed.values() {
        distinct += 1;
        extra += offsets.len() as u64 - 1;
        let mut seen: Vec<(Pid, u64)> = Vec::with_capacity(offsets.len());
        for o in offsets {
            if seen.contains(o) {
                redelivered += 1;
            } else {
                seen.push(*o);
            }
        }
        log_dups += seen.len() as u64 - 1;
    }
    (distinct, extra, redelivered, log_dups)
}

/// The log of every partition at the broker leading it at the highest epoch.
fn final_logs<'a>(run: &RunView<'a, Node>) -> BTreeMap<Pid, &'a PartLog> {
    let mut best: BTreeMap<Pid, (u32, &'a PartLog)> = BTreeMap::new();
    for (_, node) in run.servers() {
        let Node::Broker(b) = node else { continue };
        for (p, log) in b.logs() {
            if let Some((epoch, _)) = b.leading(p)
                && best.get(&p).is_none_or(|x| x.0 < epoch)
            {
                best.insert(p, (epoch, log));
            }
        }
    }
    best.into_iter().map(|(p, (_, l))| (p, l)).collect()
}

/// Max and mean (over the main phase) of a kernel level.
fn level(run: &RunView<'_, Node>, scope: &'static str, name: &'static str) -> (f64, f64) {
    let m = run.sim.metrics();
    let Some(l) = m.levels.get(scope, name) else { return (0.0, 0.0) };
    let w = m.interval.0.max(1);
    let cells = (run.main_end.0 / w) as usize;
    let integral: f64 = l.intervals.iter().take(cells).map(|c| c.0).sum();
    (l.max as f64, integral / (cells as u64 * w).max(1) as f64)
}

pub fn report(c: &Config, run: &RunView<'_, Node>) -> ModelReport {
    let mut r = ModelReport::default();
    let history = run.history();
    let acked = acked(history);
    let store = run.servers().find_map(|(_, n)| if let Node::Store(s) = n { Some(&**s) } else { None });
    let logs = final_logs(run);
    r.checks.push(delivered_at_least_once(&acked, store));
    r.checks.push(no_acked_loss(&acked, &logs));

    let m = &mut r.measures;
    let failed = history.iter().filter(|h| matches!(h.outcome, Some(Outcome::Fail | Outcome::Timeout))).count();
    m.insert("acked".into(), acked.len() as f64);
    m.insert("produce_failed".into(), failed as f64);
    if let Some(s) = store {
        let (distinct, extra, redelivered, log_dups) = duplicates(s);
        let missing = acked.keys().filter(|v| !s.processed.contains_key(v)).count();
        m.insert("processed".into(), distinct as f64);
        m.insert("missing".into(), missing as f64);
        m.insert("duplicates".into(), extra as f64);
        m.insert("redelivered".into(), redelivered as f64);
        m.insert("log_duplicates".into(), log_dups as f64);
        let mut e2e: Vec<f64> = s.e2e_ns.iter().map(|&ns| ns as f64 / 1e6).collect();
        e2e.sort_by(f64::total_cmp);
        if !e2e.is_empty() {
            m.insert("e2e_p50_ms".into(), percentile(&e2e, 0.5));
            m.insert("e2e_p99_ms".into(), percentile(&e2e, 0.99));
            m.insert("e2e_max_ms".into(), *e2e.last().unwrap());
        }
    }
    let (audit, _) = audit_logs(&acked, &logs);
    m.insert("deleted_by_retention".into(), audit.deleted as f64);
    let counters = &run.sim.metrics().scoped_counters;
    let counter = |s: &'static str, n: &'static str| counters.get(s, n).map_or(0, |c| c.total) as f64;
    for (name, scope, counter_name) in [
        ("lost_to_retention", "log", "lost_to_retention"),
        ("rebalances", "log", "rebalances"),
        ("partitions_moved", "log", "partitions_moved"),
        ("elections", "log", "elections"),
        ("unclean_elections", "log", "unclean_elections"),
        ("produce_retries", "log", "produce_retries"),
        ("truncated", "log", "truncated"),
        ("workers_started", "workers", "started"),
        ("workers_lost", "workers", "lost"),
    ] {
        m.insert(name.into(), counter(scope, counter_name));
    }
    let (lag_max, lag_mean) = level(run, "log", "lag");
    let (workers_max, workers_mean) = level(run, "workers", "up");
    let (offline_max, _) = level(run, "log", "offline");
    let (_, busy_mean) = level(run, "workers", "busy");
    m.insert("lag_max".into(), lag_max);
    m.insert("lag_mean".into(), lag_mean);
    m.insert("workers_max".into(), workers_max);
    m.insert("workers_mean".into(), workers_mean);
    m.insert("offline_max".into(), offline_max);
    if workers_mean > 0.0 {
        m.insert("utilisation".into(), busy_mean / (workers_mean * c.worker.concurrency as f64));
    }
    r
}

#[cfg(test)]
mod tests {
    use super::*;
    use parts::log::{Entry, Record};
    use sim_core::{NodeId, OpId, Time};

    fn h(value: u64, outcome: Outcome, reply: Reply) -> HistoryEntry {
        HistoryEntry {
            op: OpId::new(value),
            client: NodeId(9),
            kind: 0,
            key: value,
            value,
            attempt: 1,
            invoke: Time(1),
            complete: Some(Time(2)).into(),
            outcome: Some(outcome),
            reply,
        }
    }

    fn store(processed: &[(u64, &[(Pid, u64)])]) -> Store {
        let mut s = Store::default();
        for (v, offs) in processed {
            s.processed.insert(*v, offs.to_vec());
        }
        s
    }

    #[test]
    fn a_record_acknowledged_and_never_processed_fails_delivery() {
        let hist = vec![
            h(1, Outcome::Ok, Reply::list([0, 0])),
            h(2, Outcome::Ok, Reply::list([0, 1])),
            h(3, Outcome::Fail, Reply::None),
        ];
        let a = acked(&hist);
        assert_eq!(a.len(), 2);
        let ok = delivered_at_least_once(&a, Some(&store(&[(1, &[(0, 0)]), (2, &[(0, 1), (0, 1)])])));
        assert!(ok.passed, "{}", ok.detail);
        let bad = delivered_at_least_once(&a, Some(&store(&[(1, &[(0, 0)])])));
        assert!(!bad.passed);
        assert!(
            bad.detail.starts_with("1 of 2 acknowledged records never processed; first: op 1's value (2)"),
            "{}",
            bad.detail
        );
        assert_eq!(bad.blamed.iter().map(|b| b.op.0).collect::<Vec<_>>(), [1], "the produce that wrote value 2");
        assert!(!delivered_at_least_once(&a, None).passed);
    }

    #[test]
    fn duplicates_split_into_redeliveries_and_records_appended_twice() {
        // Value 1 processed twice from offset 0 (a redelivery); value 2 appended twice (a producer
        // retry) and processed from both offsets, one of them twice.
        let s = store(&[(1, &[(0, 0), (0, 0)]), (2, &[(0, 1), (0, 2), (0, 2)]), (3, &[(1, 0)])]);
        assert_eq!(duplicates(&s), (3, 3, 2, 1));
    }

    #[test]
    fn an_acknowledged_record_missing_from_the_final_log_is_lost_unless_retention_deleted_it() {
        let rec = |v: u64| Some(Record { key: v, value: v, produced: Time(0), bytes: 1 });
        let mut log = PartLog::default();
        let entries: Vec<Entry> = (0..4).map(|v| Entry { epoch: 1, at: Time(0), rec: rec(10 + v) }).collect();
        log.apply(0, 0, false, &entries).unwrap();
        let logs: BTreeMap<Pid, &PartLog> = [(0, &log)].into_iter().collect();
        let acked: BTreeMap<u64, (Pid, u64)> = [(10, (0, 0)), (13, (0, 3)), (99, (0, 2)), (5, (1, 0))].into();
        let (a, first) = audit_logs(&acked, &logs);
        assert_eq!(a, LogAudit { present: 2, deleted: 0, lost: 1, unjudged: 1 });
        assert_eq!(first, Some((99, 0, 2)));
        assert!(!no_acked_loss(&acked, &logs).passed);
        let clean: BTreeMap<u64, (Pid, u64)> = [(10, (0, 0)), (13, (0, 3))].into();
        assert!(no_acked_loss(&clean, &logs).passed);
    }
}
