//! Ticket booking's invariants as pure functions over the store's committed log, its final rows
//! and the history, so each can be shown failing on a made-up bad run. Each counts what it
//! judged (`judged`): a check that judged nothing has shown nothing.

use std::collections::BTreeMap;

/// What a check found: how many items it judged, how many were bad, the first bad one.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Finding {
    pub judged: u64,
    pub bad: u64,
    pub first: Option<String>,
    /// The largest amount by which the invariant was broken (tickets oversold, stuck).
    pub worst: i64,
}

impl Finding {
    fn flag(&mut self, by: i64, what: impl FnOnce() -> String) {
        self.bad += 1;
        self.worst = self.worst.max(by);
        if self.first.is_none() {
            self.first = Some(what());
        }
    }
}

/// A log entry's changes: each touched key and its value after the entry (`None`: deleted).
pub type Changes = Vec<(u64, Option<i64>)>;

/// Where a key of an event's tag belongs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Slot {
    /// The event's remaining tickets.
    Remaining,
    /// A hold (tickets reserved, not yet paid).
    Hold,
    /// An order (tickets paid for).
    Order,
}

/// An event's tickets as the store has them: remaining, on hold, ordered.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Tally {
    pub remaining: i64,
    pub held: i64,
    pub ordered: i64,
    /// Of `held`, the tickets on holds whose TTL runs past the run's end: a purchase that reached
    /// the store late in the settle phase still holds them, as it may (not stuck).
    pub live: i64,
}

impl Tally {
    /// Tickets sold or promised: `total - remaining` must cover holds and orders.
    fn excess(&self, total: i64) -> i64 {
        self.remaining + self.held + self.ordered - total
    }
}

/// Replays the store's committed log, entry by entry, from the initial state (every event at
/// `total` remaining): after every entry that touches an event, no count is negative and
/// `remaining + held + ordered <= total` (nothing sold or held twice). Between a hold's expiry
/// and its restock the sum is below `total`; it is never above. `slot(key)` says which event
/// and which kind of row a key is (`None`: not a ticket row). Judged: (entry, event) pairs.
pub fn never_oversold<'a>(
    total: i64,
    events: u64,
    entries: impl IntoIterator<Item = (u64, &'a [(u64, Option<i64>)])>,
    slot: impl Fn(u64) -> Option<(u64, Slot)>,
) -> Finding {
    let mut tally = vec![Tally { remaining: total, ..Tally::default() }; events as usize];
    let mut rows: BTreeMap<u64, i64> = BTreeMap::new();
    let mut f = Finding::default();
    for (seq, changes) in entries {
        let mut touched: Vec<u64> = Vec::new();
        for &(key, value) in changes {
            let Some((event, kind)) = slot(key) else { continue };
            let Some(t) = tally.get_mut(event as usize) else { continue };
            let before = match kind {
                Slot::Remaining => rows.get(&key).copied().unwrap_or(total),
                _ => rows.get(&key).copied().unwrap_or(0),
            };
            let after = value.unwrap_or(0);
            match value {
                Some(v) => rows.insert(key, v),
                None => rows.remove(&key),
            };
            let field = match kind {
                Slot::Remaining => &mut t.remaining,
                Slot::Hold => &mut t.held,
                Slot::Order => &mut t.ordered,
            };
            *field += after - before;
            if !touched.contains(&event) {
                touched.push(event);
            }
        }
        for event in touched {
            f.judged += 1;
            let t = tally[event as usize];
            let excess = t.excess(total);
            if excess > 0 || t.remaining < 0 || t.held < 0 || t.ordered < 0 {
                f.flag(excess.max(-t.remaining), || {
                    format!(
                        "event {event} after log entry {seq}: {} remaining + {} held + {} ordered = {} of {total} tickets",
                        t.remaining,
                        t.held,
                        t.ordered,
                        t.remaining + t.held + t.ordered
                    )
                });
            }
        }
    }
    f
}

/// Per event, tickets in acknowledged purchases (the history) and in the store's final order
/// rows never exceed the event's total. Judged: events with a purchase or an order.
pub fn orders_within_total(total: i64, acked: &BTreeMap<u64, i64>, ordered: &BTreeMap<u64, i64>) -> Finding {
    let mut f = Finding::default();
    let events: std::collections::BTreeSet<u64> = acked.keys().chain(ordered.keys()).copied().collect();
    for e in events {
        f.judged += 1;
        let (a, o) = (acked.get(&e).copied().unwrap_or(0), ordered.get(&e).copied().unwrap_or(0));
        let over = a.max(o) - total;
        if over > 0 {
            f.flag(over, || format!("event {e}: {a} tickets in acknowledged purchases, {o} in orders, of {total}"));
        }
    }
    f
}

/// At the end (holds expired and restocked), every ticket is either remaining or ordered: no
/// hold row is left and `remaining + ordered == total`; a shortfall is tickets stuck (a hold
/// never released, a restock lost). A hold whose TTL runs past the end is not stuck yet: its
/// tickets count as held (a purchase can reach the store late in the settle phase, when its
/// retries outlasted the main phase). Judged: events.
pub fn no_stuck_tickets(total: i64, tallies: &[Tally]) -> Finding {
    let mut f = Finding::default();
    for (e, t) in tallies.iter().enumerate() {
        f.judged += 1;
        let stuck = total - t.remaining - t.ordered - t.live;
        let expired = t.held - t.live;
        if stuck > 0 || expired > 0 {
            f.flag(stuck.max(expired), || {
                format!(
                    "event {e}: {stuck} tickets neither remaining ({}) nor ordered ({}), {expired} on hold \
                     ({} more on holds whose TTL runs past the end)",
                    t.remaining, t.ordered, t.live
                )
            });
        }
    }
    f
}

/// Every acknowledged purchase has its order in the store's final state, holding the tickets
/// the buyer was told: `(order key, tickets)` per purchase, `order(key)` the final row's value.
/// Judged: acknowledged purchases.
pub fn paid_orders_have_tickets(acked: &[(u64, i64)], order: impl Fn(u64) -> Option<i64>) -> Finding {
    let mut f = Finding::default();
    for &(key, n) in acked {
        f.judged += 1;
        let got = order(key);
        if got != Some(n) {
            f.flag(n - got.unwrap_or(0), || format!("order {key:#x}: buyer told {n} tickets, store holds {got:?}"));
        }
    }
    f
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Keys here: event * 100 + 0 (remaining), + 1..50 (holds), + 50.. (orders).
    fn slot(key: u64) -> Option<(u64, Slot)> {
        let (e, s) = (key / 100, key % 100);
        Some((
            e,
            if s == 0 {
                Slot::Remaining
            } else if s < 50 {
                Slot::Hold
            } else {
                Slot::Order
            },
        ))
    }

    #[test]
    fn never_oversold_follows_holds_orders_and_expiries() {
        // Event 0 (10 tickets): hold 3, confirm it into an order, hold 2 which expires (sum 8,
        // fine) and is restocked.
        let log: Vec<Vec<(u64, Option<i64>)>> = vec![
            vec![(0, Some(7)), (1, Some(3))],
            vec![(1, None), (50, Some(3))],
            vec![(0, Some(5)), (2, Some(2))],
            vec![(2, None)],
            vec![(0, Some(7))],
        ];
        let f = never_oversold(10, 1, log.iter().enumerate().map(|(i, c)| (i as u64, c.as_slice())), slot);
        assert_eq!((f.judged, f.bad), (5, 0));
        // A lost update: two buyers read 7 and both write 5, each holding 2: 5 + 3 + 2 + 2 = 12.
        let bad: Vec<Vec<(u64, Option<i64>)>> =
            vec![vec![(0, Some(7)), (1, Some(3))], vec![(0, Some(5)), (2, Some(2))], vec![(0, Some(5)), (3, Some(2))]];
        let f = never_oversold(10, 1, bad.iter().enumerate().map(|(i, c)| (i as u64, c.as_slice())), slot);
        assert_eq!((f.judged, f.bad, f.worst), (3, 1, 2));
        assert!(f.first.unwrap().contains("after log entry 2: 5 remaining + 7 held + 0 ordered = 12 of 10"));
        // A decrement below zero is caught too.
        let neg = [vec![(100, Some(-1))]];
        let f = never_oversold(10, 2, neg.iter().map(|c| (0, c.as_slice())), slot);
        assert_eq!(f.bad, 1);
        assert_eq!(never_oversold(10, 1, std::iter::empty(), slot).judged, 0, "nothing to judge");
    }

    #[test]
    fn orders_within_total_counts_the_excess() {
        let ok = orders_within_total(10, &BTreeMap::from([(0, 10), (1, 3)]), &BTreeMap::from([(0, 10)]));
        assert_eq!((ok.judged, ok.bad), (2, 0));
        let f = orders_within_total(10, &BTreeMap::from([(0, 12)]), &BTreeMap::from([(0, 11), (1, 4)]));
        assert_eq!((f.judged, f.bad, f.worst), (2, 1, 2));
        assert!(f.first.unwrap().starts_with("event 0: 12 tickets"));
    }

    #[test]
    fn no_stuck_tickets_flags_holds_left_and_shortfalls() {
        let t = |remaining, held, ordered| Tally { remaining, held, ordered, live: 0 };
        assert_eq!(no_stuck_tickets(10, &[t(4, 0, 6), t(10, 0, 0)]).bad, 0);
        let f = no_stuck_tickets(10, &[t(4, 2, 4), t(3, 0, 6), t(10, 0, 0)]);
        assert_eq!((f.judged, f.bad, f.worst), (3, 2, 2));
        assert!(f.first.unwrap().starts_with("event 0: 2 tickets"));
        // A hold whose TTL runs past the end holds its tickets, not stuck; beside a shortfall it
        // is not counted as one.
        let live = |remaining, held, ordered, live| Tally { remaining, held, ordered, live };
        assert_eq!(no_stuck_tickets(10, &[live(4, 2, 4, 2)]).bad, 0);
        let f = no_stuck_tickets(10, &[live(3, 2, 4, 2)]);
        assert_eq!((f.bad, f.worst), (1, 1), "one ticket stuck beside a live hold of 2");
        assert_eq!(no_stuck_tickets(10, &[live(4, 2, 4, 0)]).bad, 1, "an expired hold left is stuck");
    }

    #[test]
    fn paid_orders_have_tickets_flags_missing_or_short_orders() {
        let rows = BTreeMap::from([(1u64, 2i64), (2, 1)]);
        let get = |k| rows.get(&k).copied();
        assert_eq!(paid_orders_have_tickets(&[(1, 2), (2, 1)], get).bad, 0);
        let f = paid_orders_have_tickets(&[(1, 2), (2, 3), (3, 1)], get);
        assert_eq!((f.judged, f.bad), (3, 2));
        assert!(f.first.unwrap().contains("buyer told 3 tickets, store holds Some(1)"));
    }
}
