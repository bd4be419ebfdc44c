//! The push design's checkers, as functions over plain data (the history's pushes, the devices'
//! session logs and deliveries, the registry's and the readers' maps), each returning how many
//! items it judged and the first violation.

use parts::conn::{Session, UserId};
use sim_core::{Duration, NodeId, OpId, Outcome, Time};
use std::collections::BTreeMap;

/// One push of the history.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Push {
    pub op: OpId,
    pub user: UserId,
    /// The message id (the operation's value).
    pub msg: u64,
    pub invoke: Time,
    pub outcome: Option<Outcome>,
}

/// A check's result: items judged, violations, and the first violation in words.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Judged {
    pub judged: u64,
    pub violations: u64,
    pub first: Option<String>,
    /// The operations to blame (for `simctl replay`).
    pub ops: Vec<OpId>,
}

impl Judged {
    fn violation(&mut self, op: Option<OpId>, what: impl FnOnce() -> String) {
        self.violations += 1;
        self.ops.extend(op);
        if self.first.is_none() {
            self.first = Some(what());
        }
    }
}

/// Sessions by user, from every device's log.
pub fn sessions_by_user<'a>(logs: impl IntoIterator<Item = &'a Session>) -> BTreeMap<UserId, Vec<Session>> {
    let mut by: BTreeMap<UserId, Vec<Session>> = BTreeMap::new();
    for s in logs {
        by.entry(s.user).or_default().push(*s);
    }
    by
}

/// Whether `user` was connected from before `at` until at least `window` after it: one session
/// that began by `at` and heard its server at `at + window` or later (a session on a server that
/// died ends, for this purpose, at the last time its device heard from the server).
pub fn connected_throughout(sessions: Option<&Vec<Session>>, at: Time, window: Duration) -> bool {
    sessions.is_some_and(|v| v.iter().any(|s| s.from <= at && s.heard >= at + window))
}

/// Whether `user` had any session open at `at` (as its device saw it).
pub fn connected_at(sessions: Option<&Vec<Session>>, at: Time) -> bool {
    sessions.is_some_and(|v| v.iter().any(|s| s.from <= at && s.to.is_none_or(|t| t > at)))
}

/// The users' outages: for each connection that ended and was followed by another, from the last
/// time its device heard the server to the next connection (what the user lived without), in ms.
pub fn outages_ms(sessions: &BTreeMap<UserId, Vec<Session>>) -> Vec<f64> {
    let mut out = Vec::new();
    for v in sessions.values() {
        for w in v.windows(2) {
            out.push(w[1].from.since(w[0].heard).0 as f64 / 1e6);
        }
    }
    out
}

/// `delivered_when_connected`: every push whose user was connected throughout `window` after it
/// (see [`connected_throughout`]) reached the user's device.
pub fn delivered_when_connected(
    pushes: &[Push],
    sessions: &BTreeMap<UserId, Vec<Session>>,
    delivered: &BTreeMap<u64, u32>,
    window: Duration,
) -> Judged {
    let mut j = Judged::default();
    for p in pushes {
        if !connected_throughout(sessions.get(&p.user), p.invoke, window) {
            continue;
        }
        j.judged += 1;
        if !delivered.contains_key(&p.msg) {
            j.violation(Some(p.op), || {
                format!(
                    "push {:?} to user {} at {} never arrived (ended {:?}), though the user was connected from before it until {} after",
                    p.op, p.user, p.invoke, p.outcome, window
                )
            });
        }
    }
    j
}

/// `outcomes_truthful`: a push the sender reported `Ok` reached the device, and one it reported
/// `Fail` (undeliverable) did not. `Timeout` means unknown and is not judged.
pub fn outcomes_truthful(pushes: &[Push], delivered: &BTreeMap<u64, u32>) -> Judged {
    let mut j = Judged::default();
    for p in pushes {
        let arrived = delivered.contains_key(&p.msg);
        match p.outcome {
            Some(Outcome::Ok) => {
                j.judged += 1;
                if !arrived {
                    j.violation(Some(p.op), || {
                        format!("push {:?} to user {} at {} ended Ok but never arrived", p.op, p.user, p.invoke)
                    });
                }
            }
            Some(Outcome::Fail) => {
                j.judged += 1;
                if arrived {
                    j.violation(Some(p.op), || {
                        format!(
                            "push {:?} to user {} at {} ended Fail (undeliverable) but arrived",
                            p.op, p.user, p.invoke
                        )
                    });
                }
            }
            _ => {}
        }
    }
    j
}

/// Where a map places a user: its server and the connection's epoch.
pub type Placement = Option<(NodeId, u64)>;

/// A reader's map, as a lookup.
pub type ViewFn<'a> = &'a dyn Fn(UserId) -> Placement;

/// `registry_converged`, at the end of the run: every connection a server holds is registered at
/// that server with its epoch, every registry entry is a connection its server holds, and every
/// reader's view equals the registry. `held` is `(user, server, epoch)` over the servers;
/// `registry` and each of `views` give a user's `(server, epoch)`. Judged: one per user.
pub fn registry_converged(
    users: u64,
    held: &[(UserId, NodeId, u64)],
    registry: impl Fn(UserId) -> Placement,
    views: &[(NodeId, ViewFn<'_>)],
) -> Judged {
    let mut j = Judged::default();
    let mut held_by: BTreeMap<UserId, Vec<(NodeId, u64)>> = BTreeMap::new();
    for &(u, s, e) in held {
        held_by.entry(u).or_default().push((s, e));
    }
    for user in 0..users {
        j.judged += 1;
        let truth = registry(user);
        let h = held_by.get(&user).map(Vec::as_slice).unwrap_or(&[]);
        let ok = match (truth, h) {
            (None, []) => true,
            (Some(t), [only]) => t == *only,
            _ => false,
        };
        if !ok {
            j.violation(None, || format!("user {user}: the registry says {truth:?}, the servers hold {h:?}"));
            continue;
        }
        if let Some((reader, _)) = views.iter().find(|(_, v)| v(user) != truth) {
            let seen = views.iter().find(|(n, _)| n == reader).map(|(_, v)| v(user));
            j.violation(None, || {
                format!("user {user}: the registry says {truth:?}, reader {reader} still sees {seen:?}")
            });
        }
    }
    j
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(ms: u64) -> Time {
        Time(Duration::from_millis(ms).0)
    }

    fn session(user: UserId, from: u64, heard: u64, to: Option<u64>) -> Session {
        Session {
            user,
            server: NodeId(0),
            epoch: 1,
            from: t(from),
            heard: t(heard),
            heard_mono: t(heard),
            to: to.map(t),
            pings: 0,
        }
    }

    fn push(op: u64, user: UserId, at: u64, outcome: Outcome) -> Push {
        Push { op: OpId::new(op), user, msg: op + 1, invoke: t(at), outcome: Some(outcome) }
    }

    #[test]
    fn only_pushes_to_users_connected_throughout_the_window_are_judged() {
        let s = sessions_by_user(&[session(1, 100, 5_000, None), session(2, 100, 1_200, Some(4_000))]);
        let window = Duration::from_millis(1_000);
        let pushes = [
            push(0, 1, 200, Outcome::Ok),   // judged, delivered
            push(1, 1, 300, Outcome::Fail), // judged, lost
            push(2, 2, 150, Outcome::Ok),   // judged (heard at 1.2 s >= 1.15 s), delivered
            push(3, 2, 500, Outcome::Fail), // user 2's server went silent at 1.2 s: not judged
            push(4, 3, 500, Outcome::Fail), // user 3 never connected: not judged
            push(5, 1, 50, Outcome::Fail),  // before user 1 connected: not judged
        ];
        let delivered: BTreeMap<u64, u32> = [(1, 1), (3, 1)].into_iter().collect();
        let j = delivered_when_connected(&pushes, &s, &delivered, window);
        assert_eq!((j.judged, j.violations), (3, 1));
        assert!(j.first.unwrap().contains("OpId(1)"));
        assert!(connected_at(s.get(&2), t(3_000)) && !connected_at(s.get(&2), t(4_000)));
        let s = sessions_by_user(&[session(2, 100, 1_200, Some(4_000)), session(2, 4_100, 9_000, None)]);
        assert_eq!(outages_ms(&s), [2_900.0]);
    }

    #[test]
    fn an_ok_that_never_arrived_or_a_fail_that_did_is_a_lie() {
        let pushes = [
            push(0, 1, 0, Outcome::Ok),
            push(1, 1, 0, Outcome::Ok),
            push(2, 1, 0, Outcome::Fail),
            push(3, 1, 0, Outcome::Fail),
            push(4, 1, 0, Outcome::Timeout),
        ];
        let delivered: BTreeMap<u64, u32> = [(1, 1), (3, 1), (5, 1)].into_iter().collect();
        let j = outcomes_truthful(&pushes, &delivered);
        assert_eq!((j.judged, j.violations), (4, 2));
        assert!(j.first.unwrap().contains("ended Ok but never arrived"));
    }

    #[test]
    fn registry_convergence_catches_ghosts_missing_entries_and_lagging_readers() {
        let (a, b) = (NodeId(0), NodeId(1));
        let held = [(0, a, 5), (1, b, 7)];
        let reg = |u: UserId| match u {
            0 => Some((a, 5)),
            1 => Some((b, 7)),
            _ => None,
        };
        let same = |u: UserId| reg(u);
        let views: [(NodeId, ViewFn<'_>); 1] = [(NodeId(9), &same)];
        assert_eq!(registry_converged(3, &held, reg, &views).violations, 0);
        // A reader that has not caught up with user 1's move.
        let stale = |u: UserId| if u == 1 { Some((a, 6)) } else { reg(u) };
        let views: [(NodeId, ViewFn<'_>); 1] = [(NodeId(9), &stale)];
        let j = registry_converged(3, &held, reg, &views);
        assert_eq!((j.judged, j.violations), (3, 1));
        assert!(j.first.unwrap().contains("reader n9"));
        // A ghost entry (user 2 registered, nobody holds it) and a connection never registered.
        let reg2 = |u: UserId| {
            if u == 2 {
                Some((a, 1))
            } else if u == 1 {
                None
            } else {
                reg(u)
            }
        };
        assert_eq!(registry_converged(3, &held, reg2, &[]).violations, 2);
    }
}
