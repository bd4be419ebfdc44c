//! The chat design's checks over the history, the devices' logs and the presence log, and its
//! measures. Each check is a function over plain data (tested on small hand-made cases below) and
//! counts what it judged.

use crate::{Config, ConvLog, Delivery, DeviceStats, Directory, Node, handle, split, sums};
use sim_core::{Check, ModelReport, OpId, Outcome, Reply, RunView, Time};
use std::collections::BTreeMap;

/// An acknowledged message: its send operation and that operation's real-time interval.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Acked {
    pub op: OpId,
    pub invoke: Time,
    pub complete: Time,
}

/// What a check found.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Judged {
    pub judged: u64,
    pub violations: u64,
    pub first: Option<String>,
    pub blamed: Vec<OpId>,
}

impl Judged {
    fn bad(&mut self, what: impl FnOnce() -> String, op: Option<OpId>) {
        self.violations += 1;
        if self.first.is_none() {
            self.first = Some(what());
        }
        if let Some(op) = op
            && self.blamed.len() < 10
        {
            self.blamed.push(op);
        }
    }

    fn check(self, name: &str, unit: &str, word: &str) -> Check {
        let check = Check::judged(name, self.judged, unit).violations(self.violations, word).blame_ids(self.blamed);
        match self.first {
            Some(f) => check.detail(format!("{} of {} {unit} {word}; first: {f}", self.violations, self.judged)),
            None => check,
        }
    }
}

/// Device -> conversation -> its copy.
pub type Logs<'a> = BTreeMap<u64, &'a BTreeMap<u32, ConvLog>>;

/// Every device shows a conversation sorted by id: a message shown after another that was
/// invoked after it completed is out of order.
pub fn conversation_order(logs: &Logs<'_>, acked: &BTreeMap<u64, Acked>) -> Judged {
    let mut j = Judged::default();
    for (&device, convs) in logs {
        for (&conv, log) in convs.iter() {
            // The latest invoke among the acknowledged messages shown so far, and whose it was.
            let mut latest: Option<(Time, OpId)> = None;
            for &id in &log.ids {
                let Some(a) = acked.get(&handle(conv, id)) else { continue };
                j.judged += 1;
                if let Some((t, before)) = latest
                    && a.complete < t
                {
                    j.bad(
                        || {
                            format!(
                                "device {device} shows op {} (invoked at {}) before op {} (acknowledged at {}) in conversation {conv}",
                                before.0, t, a.op.0, a.complete
                            )
                        },
                        Some(a.op),
                    );
                }
                if latest.is_none_or(|(t, _)| a.invoke > t) {
                    latest = Some((a.invoke, a.op));
                }
            }
        }
    }
    j
}

/// Every acknowledged message is in every device of every online member.
pub fn no_lost_messages(
    logs: &Logs<'_>,
    acked: &BTreeMap<u64, Acked>,
    dir: &Directory,
    online: u64,
    devices: u64,
) -> Judged {
    let mut j = Judged::default();
    for (&h, a) in acked {
        let (conv, id) = split(h);
        for &m in dir.members[conv as usize].iter().filter(|&&m| m < online) {
            for device in m * devices..(m + 1) * devices {
                j.judged += 1;
                let held = logs.get(&device).and_then(|c| c.get(&conv)).is_some_and(|l| l.ids.contains(&id));
                if !held {
                    j.bad(
                        || format!("op {} (conversation {conv}, id {id}) missing on device {device}", a.op.0),
                        Some(a.op),
                    );
                }
            }
        }
    }
    j
}

/// Every device of a user holds the same messages in each of the user's conversations.
pub fn devices_converge(logs: &Logs<'_>, dir: &Directory, online: u64, devices: u64) -> Judged {
    let mut j = Judged::default();
    if devices < 2 {
        return j;
    }
    let empty = std::collections::BTreeSet::new();
    let ids = |device: u64, conv: u32| logs.get(&device).and_then(|c| c.get(&conv)).map_or(&empty, |l| &l.ids);
    for user in 0..online {
        for &conv in &dir.convs_of[user as usize] {
            j.judged += 1;
            let first = ids(user * devices, conv);
            if let Some(d) = (1..devices).find(|d| ids(user * devices + d, conv) != first) {
                let other = ids(user * devices + d, conv);
                j.bad(
                    || {
                        format!(
                            "user {user}, conversation {conv}: device 0 holds {}, device {d} holds {}",
                            first.len(),
                            other.len()
                        )
                    },
                    None,
                );
            }
        }
    }
    j
}

/// Merges intervals `[from, to)` into disjoint sorted ones.
pub fn merge(mut v: Vec<(Time, Time)>) -> Vec<(Time, Time)> {
    v.sort_unstable();
    let mut out: Vec<(Time, Time)> = Vec::new();
    for (a, b) in v {
        match out.last_mut() {
            Some(last) if a <= last.1 => last.1 = last.1.max(b),
            _ => out.push((a, b)),
        }
    }
    out
}

/// A user's shown-online periods from the presence log's changes (sorted by time), up to `end`.
pub fn shown_online(changes: &[(Time, bool)], end: Time) -> Vec<(Time, Time)> {
    let mut out = Vec::new();
    let mut since = None;
    for &(t, online) in changes {
        match (online, since) {
            (true, None) => since = Some(t),
            (false, Some(s)) => {
                out.push((s, t));
                since = None;
            }
            _ => {}
        }
    }
    if let Some(s) = since {
        out.push((s, end));
    }
    out
}

/// Shown-offline periods (between two shown-online ones, or to `end`) that lie inside one
/// truly-online period: flaps.
pub fn flaps(shown: &[(Time, Time)], truth: &[(Time, Time)], end: Time) -> Vec<(Time, Time)> {
    let mut out = Vec::new();
    for (i, &(_, off)) in shown.iter().enumerate() {
        if off >= end {
            continue;
        }
        let on = shown.get(i + 1).map_or(end, |s| s.0);
        if truth.iter().any(|&(a, b)| a <= off && on <= b) {
            out.push((off, on));
        }
    }
    out
}

/// The total length of `a`'s and `b`'s symmetric difference inside `[from, to)` (both disjoint
/// and sorted).
pub fn disagreement(a: &[(Time, Time)], b: &[(Time, Time)], from: Time, to: Time) -> u64 {
    let clip = |v: &[(Time, Time)]| -> Vec<(u64, u64)> {
        v.iter().map(|&(x, y)| (x.max(from).0, y.min(to).0)).filter(|(x, y)| x < y).collect()
    };
    let (a, b) = (clip(a), clip(b));
    let len = |v: &[(u64, u64)]| v.iter().map(|(x, y)| y - x).sum::<u64>();
    let (mut i, mut k, mut both) = (0, 0, 0);
    while i < a.len() && k < b.len() {
        let lo = a[i].0.max(b[k].0);
        let hi = a[i].1.min(b[k].1);
        if lo < hi {
            both += hi - lo;
        }
        if a[i].1 < b[k].1 {
            i += 1;
        } else {
            k += 1;
        }
    }
    len(&a) + len(&b) - 2 * both
}

pub fn report(c: &Config, run: &RunView<'_, Node>) -> ModelReport {
    let mut r = ModelReport::default();
    let dir = Directory::new(c);
    let (online, devices) = (c.online_users as u64, c.devices as u64);
    let mut acked: BTreeMap<u64, Acked> = BTreeMap::new();
    let (mut sent, mut failed, mut unknown) = (0u64, 0u64, 0u64);
    for h in run.history() {
        sent += 1;
        match (h.outcome, &h.reply, h.complete.get()) {
            (Some(Outcome::Ok), Reply::Value(v), Some(complete)) => {
                acked.insert(*v, Acked { op: h.op, invoke: h.invoke, complete });
            }
            (Some(Outcome::Fail | Outcome::Rejected), ..) => failed += 1,
            _ => unknown += 1,
        }
    }
    let sim = run.sim;
    let topo = run.topology();
    let mut logs: Logs<'_> = BTreeMap::new();
    let mut truth: BTreeMap<u64, Vec<(Time, Time)>> = BTreeMap::new();
    // Heartbeat pings sent, per delivery mode of the device.
    let mut pings = [0u64; 3];
    for &n in &topo.clients {
        if let Some(Node::Client(cl)) = sim.actor(n) {
            for (&d, l) in &cl.logs {
                logs.insert(d, l);
            }
            for s in cl.sessions() {
                truth.entry(s.user / devices).or_default().push((s.from, s.to.unwrap_or(run.end)));
                pings[c.mode_of(s.user).index()] += s.pings;
            }
        }
    }
    let truth: BTreeMap<u64, Vec<(Time, Time)>> = truth.into_iter().map(|(u, v)| (u, merge(v))).collect();

    let order = conversation_order(&logs, &acked);
    let order_bad = order.violations;
    r.checks.push(order.check(
        "conversation_order",
        "acknowledged messages shown on devices",
        "shown before a message sent earlier",
    ));
    let lost = no_lost_messages(&logs, &acked, &dir, online, devices);
    let (lost_bad, lost_judged) = (lost.violations, lost.judged);
    r.checks.push(lost.check("no_lost_messages", "(acknowledged message, member device) pairs", "missing"));
    let conv = devices_converge(&logs, &dir, online, devices);
    r.checks.push(conv.check("devices_converge", "(user, conversation) pairs", "differing between devices"));

    // Presence: the presence server's log against the devices' connections.
    let presence = topo.servers.iter().find_map(|&n| match sim.actor(n) {
        Some(Node::Presence(p)) => Some(p),
        _ => None,
    });
    let mut changes: BTreeMap<u64, Vec<(Time, bool)>> = BTreeMap::new();
    if let Some(p) = presence {
        for &(u, t, on) in p.log.borrow().iter() {
            changes.entry(u).or_default().push((t, on));
        }
    }
    let warmup = Time(c.conn.connect_spread.0 + c.presence.interval.0 + c.presence.sweep.0);
    let mut pj = Judged::default();
    let (mut wrong_ns, mut window_ns, mut offline_shown, mut flaps_n) = (0u64, 0u64, 0u64, 0u64);
    for (&user, t) in &truth {
        pj.judged += 1;
        let shown = shown_online(changes.get(&user).map_or(&[][..], |v| v), run.end);
        offline_shown += shown.iter().filter(|s| s.1 < run.end).count() as u64;
        // Judged per user (a user who flapped is one violation), the flaps counted apart: the
        // check said "198 of 180 users" when it counted flaps against users.
        let user_flaps = flaps(&shown, t, run.end);
        flaps_n += user_flaps.len() as u64;
        if let Some(&(off, on)) = user_flaps.first() {
            pj.bad(|| format!("user {user} shown offline from {off} to {on} while connected"), None);
        }
        if run.main_end > warmup {
            wrong_ns += disagreement(&shown, t, warmup, run.main_end);
            window_ns += run.main_end.0 - warmup.0;
        }
    }
    let check = pj.check("presence_flaps", "users with connected devices", "flapped");
    let detail = format!("{}; {flaps_n} flaps in all", check.detail);
    r.checks.push(check.detail(detail));

    // Send-to-arrival delay of every acknowledged message on every device it reached, per mode.
    let mut delays: [Vec<f64>; 3] = Default::default();
    for (&device, convs) in &logs {
        let m = c.mode_of(device).index();
        for (&conv, log) in convs.iter() {
            for &(id, at) in &log.arrived {
                if let Some(a) = acked.get(&handle(conv, id)) {
                    delays[m].push(at.since(a.invoke).as_millis_f64());
                }
            }
        }
    }
    let mut all_delays: Vec<f64> = delays.iter().flatten().copied().collect();
    all_delays.sort_by(f64::total_cmp);
    for d in &mut delays {
        d.sort_by(f64::total_cmp);
    }

    let s = sums(run);
    let metrics = sim.metrics();
    let mut devices_in = [0u64; 3];
    for &n in &topo.clients {
        if let Some(Node::Client(cl)) = sim.actor(n) {
            for &d in cl.device_ids() {
                devices_in[c.mode_of(d).index()] += 1;
            }
        }
    }
    let (rows, path, arrivals) = delivery_cost(&s.by_mode, &pings, &devices_in, &delays);
    let names: Vec<&str> = rows.iter().map(|r| Delivery::ALL[r[0] as usize].name()).collect();
    r.tables.push(
        sim_core::Table::new(
            "delivery_cost",
            [
                "mode",
                "devices",
                "frames pushed",
                "heartbeat pings",
                "long polls",
                "long-poll answers",
                "of them empty",
                "catch-up requests",
                "delivery-path messages",
                "new arrivals",
                "arrivals per message",
                "delay p50 ms",
                "delay p99 ms",
            ],
            rows,
        )
        .names("mode", &names),
    );
    let pct = |q: f64| if all_delays.is_empty() { f64::NAN } else { sim_core::sweep::percentile(&all_delays, q) };
    let counter = |scope: &str, name: &str| metrics.scoped_counter(scope, name) as f64;
    let level_max = |scope: &str, name: &str| {
        metrics.levels.iter().find(|((s, n), _)| *s == scope && *n == name).map(|(_, l)| l.max as f64).unwrap_or(0.0)
    };
    let main_s = run.main_end.as_secs_f64().max(1e-9);
    let rows: u64 = topo
        .servers
        .iter()
        .filter_map(|&n| match sim.actor(n) {
            Some(Node::Kv(k)) if k.is_primary() => Some(k.rows().len() as u64),
            _ => None,
        })
        .sum();
    let m = &mut r.measures;
    let mut put = |k: &str, v: f64| {
        m.insert(k.to_string(), v);
    };
    put("sent", sent as f64);
    put("acked", acked.len() as f64);
    put("send_failed", failed as f64);
    put("send_unknown", unknown as f64);
    put("acked_per_s", acked.len() as f64 / main_s);
    put("messages_lost", lost_bad as f64);
    put("deliveries_judged", lost_judged as f64);
    put("order_violations", order_bad as f64);
    put("pushed_to_devices", s.device.pushed as f64);
    put("pushed_per_s", s.device.pushed as f64 / main_s);
    put("duplicate_pushes", s.device.duplicate_pushes as f64);
    put("caught_up", s.device.caught_up as f64);
    put("gaps", s.device.gaps as f64);
    put("syncs", s.device.syncs as f64);
    put("catch_up_slot_reads", s.device.slot_reads as f64);
    put("holes_read", s.device.holes as f64);
    put("forwards", s.chat.forwarded as f64);
    put("pushed_local", s.chat.pushed_local as f64);
    put("push_no_connection", counter("conn", "push_no_connection"));
    put("store_failures", counter("chat", "store_failures"));
    put("notifications", counter("chat", "notifications"));
    put("notifications_delivered", s.push_delivered as f64);
    put("lookup_misses", s.views.lookup_misses as f64);
    put("connections_max", level_max("conn", "connections"));
    put("connections_per_server_max", level_max("conn", "connections") / c.chat_servers.max(1) as f64);
    put("reconnects", counter("device", "reconnects"));
    put("connections_lost", counter("device", "lost"));
    put("presence_flaps", flaps_n as f64);
    put("presence_offline_shown", offline_shown as f64);
    put("presence_beats", s.device.beats as f64);
    put("long_polls", s.device.polls as f64);
    put("long_poll_answers", s.device.poll_answers as f64);
    put("long_poll_empty_answers", s.device.empty_answers as f64);
    put("mailbox_dropped", s.chat.mailbox_dropped as f64);
    for mode in Delivery::ALL {
        let d = &delays[mode.index()];
        if !d.is_empty() {
            put(&format!("delivery_delay_p99_ms_{}", mode.name()), sim_core::sweep::percentile(d, 0.99));
        }
    }
    if window_ns > 0 {
        put("presence_wrong_share", wrong_ns as f64 / window_ns as f64);
    }
    put("delivery_path_messages", path);
    put("arrivals_per_delivery_message", if path > 0.0 { arrivals / path } else { 0.0 });
    if !all_delays.is_empty() {
        put("delivery_delay_p50_ms", pct(0.5));
        put("delivery_delay_p99_ms", pct(0.99));
    }
    put("kv_rows", rows as f64);
    if !acked.is_empty() {
        put("kv_rows_per_acked_message", rows as f64 / acked.len() as f64);
    }
    put("kv_writes", s.kv.writes as f64);
    if !acked.is_empty() {
        let n = acked.len() as f64;
        put("kv_writes_per_acked_message", s.kv.writes as f64 / n);
        // Arrivals on devices (pushed, or caught up from the store) per acknowledged message.
        put(
            "device_arrivals_per_acked_message",
            (s.device.pushed - s.device.duplicate_pushes + s.device.caught_up) as f64 / n,
        );
    }
    put("kv_gets", s.kv.gets as f64);
    r
}

/// The `delivery_cost` table: a row per delivery mode that has devices, and the totals of
/// delivery-path messages and new arrivals over the modes. A push device's path is the frames
/// pushed to it, its connection's heartbeats and its catch-ups; a polling device's its polls of
/// the store (catch-ups); a long-polling device's its long polls, their answers and its
/// catch-ups (its connection stands for the session and its heartbeats are not counted).
pub fn delivery_cost(
    by_mode: &[DeviceStats; 3],
    pings: &[u64; 3],
    devices: &[u64; 3],
    delays: &[Vec<f64>; 3],
) -> (Vec<Vec<f64>>, f64, f64) {
    let (mut rows, mut path_all, mut arrivals_all) = (Vec::new(), 0.0, 0.0);
    for mode in Delivery::ALL {
        let m = mode.index();
        if devices[m] == 0 {
            continue;
        }
        let st = &by_mode[m];
        // Frames that reached push devices (a long poll's messages arrive in its answers).
        let frames = if mode == Delivery::Push { st.pushed } else { 0 };
        let pings = if mode == Delivery::Push { pings[m] } else { 0 };
        let catch_up = st.syncs + st.slot_reads;
        let path = (frames + pings + st.polls + st.poll_answers + catch_up) as f64;
        let arrivals = (st.pushed - st.duplicate_pushes + st.caught_up) as f64;
        let pct = |q: f64| if delays[m].is_empty() { f64::NAN } else { sim_core::sweep::percentile(&delays[m], q) };
        rows.push(vec![
            m as f64,
            devices[m] as f64,
            frames as f64,
            pings as f64,
            st.polls as f64,
            st.poll_answers as f64,
            st.empty_answers as f64,
            catch_up as f64,
            path,
            arrivals,
            if path > 0.0 { arrivals / path } else { 0.0 },
            pct(0.5),
            pct(0.99),
        ]);
        path_all += path;
        arrivals_all += arrivals;
    }
    (rows, path_all, arrivals_all)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(ms: u64) -> Time {
        Time(ms * 1_000_000)
    }

    fn log(ids: &[u64]) -> BTreeMap<u32, ConvLog> {
        let mut m = BTreeMap::new();
        m.insert(0, ConvLog { ids: ids.iter().copied().collect(), ..ConvLog::default() });
        m
    }

    #[test]
    fn delivery_cost_has_a_row_per_mode_with_devices_and_counts_each_mode_its_own_traffic() {
        let push = DeviceStats { pushed: 10, duplicate_pushes: 1, syncs: 2, slot_reads: 3, ..DeviceStats::default() };
        let long = DeviceStats { pushed: 8, polls: 6, poll_answers: 5, empty_answers: 1, ..DeviceStats::default() };
        let by_mode = [push, DeviceStats::default(), long];
        let delays = [vec![1.0, 3.0], vec![], vec![2.0]];
        let (rows, path, arrivals) = delivery_cost(&by_mode, &[7, 4, 9], &[2, 0, 3], &delays);
        assert_eq!(rows.len(), 2, "no row for polling: no device polls");
        // Push: 10 frames + 7 pings + 5 catch-up requests; 9 new arrivals.
        assert_eq!(&rows[0][..10], [0.0, 2.0, 10.0, 7.0, 0.0, 0.0, 0.0, 5.0, 22.0, 9.0]);
        // Long poll: no frames and no pings counted; 6 polls + 5 answers.
        assert_eq!(&rows[1][..10], [2.0, 3.0, 0.0, 0.0, 6.0, 5.0, 1.0, 0.0, 11.0, 8.0]);
        assert_eq!((path, arrivals), (33.0, 17.0));
    }

    #[test]
    fn order_fails_when_a_later_send_is_shown_first() {
        let mut acked = BTreeMap::new();
        // Op 1 acknowledged at 10 ms; op 2 sent at 20 ms but given the smaller id 5.
        acked.insert(handle(0, 7), Acked { op: OpId(1), invoke: t(0), complete: t(10) });
        acked.insert(handle(0, 5), Acked { op: OpId(2), invoke: t(20), complete: t(30) });
        let l = log(&[5, 7]);
        let logs: Logs<'_> = [(0, &l)].into_iter().collect();
        let j = conversation_order(&logs, &acked);
        assert_eq!((j.judged, j.violations), (2, 1));
        assert_eq!(j.blamed, [OpId(1)]);
        // Overlapping sends may be shown in either order.
        acked.insert(handle(0, 5), Acked { op: OpId(2), invoke: t(5), complete: t(30) });
        assert_eq!(conversation_order(&logs, &acked).violations, 0);
    }

    #[test]
    fn a_missing_message_on_one_device_is_lost_and_the_devices_differ() {
        let c = Config { users: 2, online_users: 2, devices: 2, direct: 1, groups: 0, ..Config::default() };
        let dir = Directory::new(&c);
        assert_eq!(dir.members[0], [0, 1]);
        let mut acked = BTreeMap::new();
        acked.insert(handle(0, 1), Acked { op: OpId(1), invoke: t(0), complete: t(1) });
        let (full, short) = (log(&[1]), log(&[]));
        let logs: Logs<'_> = [(0, &full), (1, &full), (2, &full), (3, &short)].into_iter().collect();
        let j = no_lost_messages(&logs, &acked, &dir, 2, 2);
        assert_eq!((j.judged, j.violations), (4, 1));
        let j = devices_converge(&logs, &dir, 2, 2);
        assert_eq!((j.judged, j.violations), (2, 1));
        let logs: Logs<'_> = [(0, &full), (1, &full), (2, &full), (3, &full)].into_iter().collect();
        assert_eq!(no_lost_messages(&logs, &acked, &dir, 2, 2).violations, 0);
        assert_eq!(devices_converge(&logs, &dir, 2, 2).violations, 0);
    }

    #[test]
    fn a_flap_is_a_shown_offline_period_inside_a_connection() {
        let end = t(100);
        let truth = merge(vec![(t(0), t(50)), (t(40), t(90))]);
        assert_eq!(truth, [(t(0), t(90))]);
        // Shown offline 20-25 (connected throughout: a flap) and 95-end (really gone: not one).
        let shown = shown_online(&[(t(5), true), (t(20), false), (t(25), true), (t(95), false)], end);
        assert_eq!(shown, [(t(5), t(20)), (t(25), t(95))]);
        assert_eq!(flaps(&shown, &truth, end), [(t(20), t(25))]);
        // Wrong: 0-5 (connected, shown offline), 20-25, 90-95 (gone, shown online).
        assert_eq!(disagreement(&shown, &truth, t(0), end), t(15).0);
        assert_eq!(disagreement(&truth, &truth, t(0), end), 0);
    }
}
