//! The notification system's invariants as pure functions over [`Facts`]: the history (what was
//! accepted, what the status API answered), the providers' delivery records (what happened) and
//! the status store's final rows. Each check counts the items it judged; judging nothing fails.

use crate::{CHANNELS, Node, PENDING, SENDING, SENT, is_failed, status_key};
use sim_core::{Check, Duration, OpId, Outcome, Reply, RunView, Time};
use std::collections::BTreeMap;

/// An accepted notification: its channel, and when its `send` was invoked and answered.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Accepted {
    /// The `send` operation (what `simctl replay` is pointed at).
    pub op: OpId,
    pub channel: u8,
    pub invoke: Time,
    pub complete: Time,
}

/// A status answer: the notification asked about, the code answered (0: no row), when.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StatusAnswer {
    pub op: OpId,
    pub id: u64,
    pub code: i64,
    pub invoke: Time,
    pub complete: Time,
}

/// Everything the checks read.
#[derive(Clone, Debug, Default)]
pub struct Facts {
    pub accepted: BTreeMap<u64, Accepted>,
    /// Notification id -> the times a provider delivered it, in order.
    pub delivered: BTreeMap<u64, Vec<Time>>,
    /// The status store's final rows (status key -> code), from the shards' primaries.
    pub finals: BTreeMap<u64, i64>,
    pub answers: Vec<StatusAnswer>,
}

impl Facts {
    pub fn gather(run: &RunView<'_, Node>) -> Facts {
        let mut f = Facts::default();
        for e in run.history() {
            if e.outcome != Some(Outcome::Ok) {
                continue;
            }
            let complete = e.complete.get().expect("a completed operation has a completion time");
            match (run.op_kind(e), &e.reply) {
                ("status", Reply::Values(v)) => {
                    f.answers.push(StatusAnswer { op: e.op, id: v[0], code: v[1] as i64, invoke: e.invoke, complete })
                }
                (kind, Reply::Value(id)) => {
                    let channel = CHANNELS.iter().position(|c| *c == kind).expect("a send op") as u8;
                    f.accepted.insert(*id, Accepted { op: e.op, channel, invoke: e.invoke, complete });
                }
                _ => {}
            }
        }
        // One list shared by every provider: read through any one running.
        if let Some(g) = run.servers().find_map(|(_, n)| if let Node::Gateway(g) = n { Some(g) } else { None }) {
            for &(id, at) in g.delivered.borrow().iter() {
                f.delivered.entry(id).or_default().push(at);
            }
        }
        for (_, node) in run.servers() {
            if let Node::Kv(s) = node
                && s.is_primary()
            {
                f.finals.extend(s.rows().iter().map(|(k, r)| (*k, r.value)));
            }
        }
        for v in f.delivered.values_mut() {
            v.sort();
        }
        f
    }

    /// The final status code of notification `id` (0: no row).
    pub fn final_status(&self, id: u64) -> i64 {
        self.finals.get(&status_key(id)).map_or(0, |&row| crate::code_of(row))
    }
}

/// What a check found: how many items it judged, how many were bad, the first bad one, and the
/// operations to blame (for `simctl replay`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Finding {
    pub judged: u64,
    pub bad: u64,
    pub first: Option<String>,
    pub ops: Vec<OpId>,
}

impl Finding {
    fn flag(&mut self, op: Option<OpId>, what: impl FnOnce() -> String) {
        self.bad += 1;
        self.ops.extend(op);
        if self.first.is_none() {
            self.first = Some(what());
        }
    }

    /// The verdict: none of the judged `unit` was `word` (judging nothing is vacuous).
    pub fn check(&self, name: &str, unit: &str, word: &str) -> Check {
        self.with_first(Check::judged(name, self.judged, unit).violations(self.bad, word))
    }

    /// The verdict of an objective on a percentile: at most `allowed` of the judged may be bad.
    pub fn check_at_most(&self, name: &str, unit: &str, allowed: u64, detail: &str) -> Check {
        let c = Check::judged(name, self.judged, unit).passed_if(self.bad <= allowed).blame_ids(self.ops.clone());
        let first = self.first.as_ref().map(|f| format!("; first: {f}")).unwrap_or_default();
        c.detail(format!("{} {detail} (at most {allowed} allowed){first}", self.bad))
    }

    fn with_first(&self, c: Check) -> Check {
        let c = c.blame_ids(self.ops.clone());
        match &self.first {
            Some(f) => c.detail(format!("first: {f}")),
            None => c,
        }
    }
}

/// Every accepted notification was delivered, or ended failed with a recorded reason. One that
/// is neither (its status *pending* or missing at the end, nothing delivered) was lost.
pub fn lost(f: &Facts) -> Finding {
    let mut out = Finding::default();
    for (&id, a) in &f.accepted {
        out.judged += 1;
        let code = f.final_status(id);
        if !f.delivered.contains_key(&id) && !is_failed(code) {
            out.flag(Some(a.op), || {
                format!(
                    "notification {id} ({}) accepted at {}: never delivered, final status {code}",
                    CHANNELS[a.channel as usize], a.complete
                )
            });
        }
    }
    out
}

/// No notification was delivered more than once.
pub fn duplicates(f: &Facts) -> Finding {
    let mut out = Finding::default();
    for (&id, times) in &f.delivered {
        out.judged += 1;
        if times.len() > 1 {
            let op = f.accepted.get(&id).map(|a| a.op);
            out.flag(op, || format!("notification {id} delivered {} times, at {:?}", times.len(), times));
        }
    }
    out
}

/// The windows in which a notification's delivery time is not judged: a fault (a provider
/// outage, and also a crash of an API server or broker, whose clients' retries and partitions'
/// failovers take about the objective itself), and `sla` before it (a notification accepted then
/// is due during the fault).
pub fn fault_windows(run: &RunView<'_, Node>, sla: Duration) -> Vec<(Time, Time)> {
    run.sim.metrics().faults.iter().map(|x| (Time(x.start.0.saturating_sub(sla.0)), x.end.unwrap_or(run.end))).collect()
}

/// The notifications of `channels` accepted outside `excluded` windows: each delivered within
/// `sla` of its `send`'s invocation (one never delivered counts as late). Returns the finding and
/// the p99 delay (`None` when nothing was judged; never-delivered ones rank last).
pub fn delivery_sla(
    f: &Facts,
    channels: &[u8],
    excluded: &[(Time, Time)],
    sla: Duration,
) -> (Finding, Option<Duration>) {
    let mut out = Finding::default();
    let mut delays: Vec<u64> = Vec::new();
    for (&id, a) in &f.accepted {
        if !channels.contains(&a.channel) || excluded.iter().any(|&(s, e)| a.invoke >= s && a.invoke < e) {
            continue;
        }
        out.judged += 1;
        let d = f.delivered.get(&id).and_then(|t| t.first()).map_or(u64::MAX, |t| t.0.saturating_sub(a.invoke.0));
        delays.push(d);
        if d > sla.0 {
            out.flag(Some(a.op), || match d {
                u64::MAX => format!("notification {id} invoked at {} never delivered", a.invoke),
                _ => format!("notification {id} invoked at {} delivered after {}", a.invoke, Duration(d)),
            });
        }
    }
    delays.sort_unstable();
    let p99 = sim_core::stats::percentile(&delays, 0.99).map(Duration);
    (out, p99)
}

/// Status answers agree with what happened: *sent* only after a delivery, *failed* only for a
/// notification never delivered, and never "no such notification" for an accepted one (the
/// pending row is written before the notification is accepted). *Pending* is always allowed
/// (the store may not have the outcome yet).
pub fn status_answers(f: &Facts) -> Finding {
    let mut out = Finding::default();
    for a in &f.answers {
        out.judged += 1;
        let first = f.delivered.get(&a.id).and_then(|t| t.first()).copied();
        let accepted = f.accepted.get(&a.id).is_some_and(|x| x.complete <= a.invoke);
        let bad = match a.code {
            SENT => first.is_none_or(|t| t > a.complete),
            c if is_failed(c) => first.is_some(),
            0 => accepted,
            PENDING | SENDING => false,
            _ => true,
        };
        if bad {
            out.flag(Some(a.op), || {
                format!(
                    "status of {} answered {} at {}, first delivery {:?}, accepted {accepted}",
                    a.id, a.code, a.complete, first
                )
            });
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{FAILED_EXPIRED, status_key};

    fn facts() -> Facts {
        let mut f = Facts::default();
        let acc = |ch, t| Accepted { op: OpId::new(t), channel: ch, invoke: Time(t), complete: Time(t + 10) };
        f.accepted.insert(1, acc(2, 100));
        f.accepted.insert(2, acc(2, 200));
        f.accepted.insert(3, acc(0, 300));
        f.delivered.insert(1, vec![Time(500)]);
        f.delivered.insert(2, vec![Time(700)]);
        f.finals.insert(status_key(1), SENT);
        f.finals.insert(status_key(2), SENT);
        f.finals.insert(status_key(3), FAILED_EXPIRED);
        f
    }

    #[test]
    fn lost_flags_an_accepted_notification_neither_delivered_nor_failed() {
        let mut f = facts();
        assert_eq!(lost(&f), Finding { judged: 3, bad: 0, first: None, ops: vec![] });
        f.finals.insert(status_key(3), PENDING);
        let l = lost(&f);
        assert_eq!((l.judged, l.bad), (3, 1));
        assert!(l.first.unwrap().starts_with("notification 3 (email)"));
        assert!(Finding::default().check("x", "y", "z").is_vacuous(), "judging nothing is vacuous");
    }

    #[test]
    fn duplicates_flags_a_second_delivery() {
        let mut f = facts();
        assert_eq!(duplicates(&f).bad, 0);
        f.delivered.get_mut(&2).unwrap().push(Time(900));
        let d = duplicates(&f);
        assert_eq!((d.judged, d.bad), (2, 1));
    }

    #[test]
    fn delivery_sla_judges_the_channels_outside_the_windows() {
        let f = facts();
        let (ok, p99) = delivery_sla(&f, &[2], &[], Duration(500));
        assert_eq!((ok.judged, ok.bad, p99), (2, 0, Some(Duration(500))));
        let (late, _) = delivery_sla(&f, &[2], &[], Duration(400));
        assert_eq!((late.judged, late.bad), (2, 1));
        // Notification 2 was invoked inside an excluded window: only 1 is judged.
        let (out, _) = delivery_sla(&f, &[2], &[(Time(150), Time(250))], Duration(400));
        assert_eq!((out.judged, out.bad), (1, 0));
        // Never delivered counts as late.
        let (never, p99) = delivery_sla(&f, &[0], &[], Duration(400));
        assert_eq!((never.judged, never.bad, p99), (1, 1, Some(Duration(u64::MAX))));
    }

    #[test]
    fn status_answers_must_agree_with_the_deliveries() {
        let mut f = facts();
        let ans = |id, code, t| StatusAnswer { op: OpId::new(t), id, code, invoke: Time(t), complete: Time(t + 5) };
        f.answers = vec![ans(1, SENT, 600), ans(2, PENDING, 650), ans(3, FAILED_EXPIRED, 800), ans(1, PENDING, 900)];
        assert_eq!(status_answers(&f).bad, 0);
        // Sent before the delivery; failed although delivered; not found after acceptance.
        f.answers = vec![ans(2, SENT, 600), ans(1, FAILED_EXPIRED, 800), ans(3, 0, 400)];
        let s = status_answers(&f);
        assert_eq!((s.judged, s.bad), (3, 3));
    }
}
