//! Hand-made histories: linearizable ones, non-linearizable ones, unknown outcomes.

use super::generate::{Shape, register_history};
use super::*;
use crate::time::Time;

type RegHist = Vec<Operation<RegOp, RegRet>>;

fn op<I, O>(id: u64, client: u32, invoke: u64, complete: u64, input: I, output: O) -> Operation<I, O> {
    Operation { id, client, key: 0, invoke: Time(invoke), input, ret: Ret::Ok { at: Time(complete), output } }
}
fn w(id: u64, client: u32, invoke: u64, complete: u64, v: u64) -> Operation<RegOp, RegRet> {
    op(id, client, invoke, complete, RegOp::Write(v), RegRet::Done)
}
fn r(id: u64, client: u32, invoke: u64, complete: u64, v: u64) -> Operation<RegOp, RegRet> {
    op(id, client, invoke, complete, RegOp::Read, RegRet::Value(v))
}
fn unknown<I, O>(id: u64, client: u32, invoke: u64, input: I) -> Operation<I, O> {
    Operation { id, client, key: 0, invoke: Time(invoke), input, ret: Ret::Unknown }
}
fn verdict<S: Spec>(spec: &S, h: &[Operation<S::Input, S::Output>]) -> LinReport<S::Input, S::Output> {
    check(spec, h, &Options::default())
}
fn lin(h: &RegHist) -> bool {
    let r = verdict(&Register, h);
    assert!(r.unknown_keys.is_empty());
    r.linearizable()
}

#[test]
fn sequential_writes_and_reads_are_linearizable() {
    assert!(lin(&vec![
        r(0, 1, 0, 5, 0),
        w(1, 1, 10, 20, 1),
        r(2, 2, 30, 40, 1),
        w(3, 2, 50, 60, 2),
        r(3, 1, 70, 80, 2)
    ]));
    assert!(lin(&vec![]));
}

#[test]
fn a_stale_read_after_a_completed_write_is_not_linearizable() {
    let h = vec![w(0, 1, 0, 10, 1), w(1, 1, 20, 30, 2), r(2, 2, 40, 50, 1)];
    let rep = verdict(&Register, &h);
    assert_eq!(rep.failed_keys, [0]);
    let v = &rep.violations[0];
    assert_eq!(v.blocked.id, 2, "the stale read is the operation that cannot be placed");
    // Minimal: both writes (the read needs the first; the second makes it stale) and the read.
    assert_eq!(v.ops.iter().map(|o| o.id).collect::<Vec<_>>(), [0, 1, 2]);
    // The same read while the second write is in flight is fine.
    assert!(lin(&vec![w(0, 1, 0, 10, 1), w(1, 1, 20, 60, 2), r(2, 2, 40, 50, 1)]));
}

#[test]
fn a_read_of_a_value_never_written_is_not_linearizable() {
    assert!(!lin(&vec![w(0, 1, 0, 10, 1), r(1, 2, 20, 30, 7)]));
    // Nor is the initial value after a completed write.
    assert!(!lin(&vec![w(0, 1, 0, 10, 1), r(1, 2, 20, 30, 0)]));
    // Nor a value read before its write was invoked.
    assert!(!lin(&vec![r(0, 2, 0, 5, 1), w(1, 1, 10, 20, 1)]));
}

#[test]
fn a_lost_update_is_not_linearizable() {
    // Two compare-and-sets from the same value both succeed: one update was lost.
    let h = vec![
        op(0, 1, 0, 10, RegOp::Cas(0, 1), RegRet::Cas(true)),
        op(1, 2, 5, 15, RegOp::Cas(0, 2), RegRet::Cas(true)),
    ];
    assert!(!lin(&h));
    let h = vec![
        op(0, 1, 0, 10, RegOp::Cas(0, 1), RegRet::Cas(true)),
        op(1, 2, 5, 15, RegOp::Cas(0, 2), RegRet::Cas(false)),
        r(2, 3, 20, 30, 1),
    ];
    assert!(lin(&h));
    // A counter: two increments completed, a later read sees one.
    let c = vec![
        op(0, 1, 0, 10, CounterOp::Add(1), CounterRet::Done),
        op(1, 2, 0, 10, CounterOp::Add(1), CounterRet::Done),
        op(2, 3, 20, 30, CounterOp::Read, CounterRet::Value(1)),
    ];
    assert!(!verdict(&Counter, &c).linearizable());
    let mut ok = c.clone();
    ok[2] = op(2, 3, 5, 30, CounterOp::Read, CounterRet::Value(1));
    assert!(verdict(&Counter, &ok).linearizable(), "a read concurrent with the increments may see one");
    // Fetch-and-add: two increments that both answer 1 lost an update; 1 and 2 did not, in
    // either order if concurrent, and an increment of unknown outcome may explain a later 3.
    let inc =
        |id, client, invoke, complete, v| op(id, client, invoke, complete, CounterOp::AddGet(1), CounterRet::Value(v));
    assert!(!verdict(&Counter, &[inc(0, 1, 0, 10, 1), inc(1, 2, 5, 15, 1)]).linearizable());
    assert!(verdict(&Counter, &[inc(0, 1, 0, 10, 2), inc(1, 2, 5, 15, 1)]).linearizable());
    assert!(
        !verdict(&Counter, &[inc(0, 1, 0, 10, 2), inc(1, 2, 20, 30, 1)]).linearizable(),
        "1 answered after 2 completed"
    );
    let lost = vec![inc(0, 1, 0, 10, 1), unknown(1, 2, 12, CounterOp::AddGet(1)), inc(2, 3, 20, 30, 3)];
    assert!(verdict(&Counter, &lost).linearizable());
    assert!(!verdict(&Counter, &lost[..1].iter().chain(&lost[2..]).cloned().collect::<Vec<_>>()).linearizable());
}

#[test]
fn a_timed_out_write_may_or_may_not_have_taken_effect() {
    // It took effect: a later read sees it.
    assert!(lin(&vec![w(0, 1, 0, 10, 1), unknown(1, 2, 5, RegOp::Write(2)), r(2, 3, 20, 30, 2)]));
    // It did not (or not yet): a later read sees the older value...
    assert!(lin(&vec![w(0, 1, 0, 10, 1), unknown(1, 2, 5, RegOp::Write(2)), r(2, 3, 20, 30, 1)]));
    // ...and it may take effect much later, after that read.
    assert!(lin(&vec![
        w(0, 1, 0, 10, 1),
        unknown(1, 2, 5, RegOp::Write(2)),
        r(2, 3, 20, 30, 1),
        r(3, 3, 1_000, 1_010, 2)
    ]));
    // But once seen it cannot be undone, and it cannot act before its invocation.
    assert!(!lin(&vec![w(0, 1, 0, 10, 1), unknown(1, 2, 5, RegOp::Write(2)), r(2, 3, 20, 30, 2), r(3, 3, 40, 50, 1)]));
    assert!(!lin(&vec![r(0, 3, 0, 4, 2), unknown(1, 2, 5, RegOp::Write(2))]));
    // A read of unknown outcome is dropped.
    let rep = verdict(&Register, &[w(0, 1, 0, 10, 1), unknown(1, 2, 5, RegOp::Read)]);
    assert!(rep.linearizable());
    assert_eq!((rep.ops, rep.dropped_unknown), (1, 1));
}

#[test]
fn concurrent_overlapping_operations_may_take_effect_in_either_order() {
    let writes = || vec![w(0, 1, 0, 100, 1), w(1, 2, 10, 90, 2)];
    for seen in [1, 2] {
        let mut h = writes();
        h.push(r(2, 3, 110, 120, seen));
        assert!(lin(&h), "either write may be last: read {seen}");
    }
    // Read 2 while write 1 is in flight, then 1: the order 2, 1.
    let mut h = writes();
    h.extend([r(2, 3, 95, 96, 2), r(3, 3, 97, 98, 1)]);
    assert!(lin(&h));
    // Read 1 after write 2 completed, then 2: 1 came after 2, and 2 after 1. Impossible.
    let mut h = writes();
    h.extend([r(2, 3, 95, 96, 1), r(3, 3, 97, 98, 2)]);
    assert!(!lin(&h));
    // Operations that touch at one instant are concurrent.
    assert!(lin(&vec![w(0, 1, 0, 10, 1), r(1, 2, 10, 20, 0)]));
}

#[test]
fn keys_are_checked_independently() {
    let mut h = vec![w(0, 1, 0, 10, 1), r(1, 2, 20, 30, 1), w(2, 1, 0, 10, 2), r(3, 2, 20, 30, 0)];
    h[2].key = 1;
    h[3].key = 1;
    let rep = verdict(&Register, &h);
    assert_eq!((rep.keys, rep.linearizable_keys, rep.failed_keys.clone()), (2, 1, vec![1]));
    assert_eq!(rep.violations[0].blocked.id, 3);
}

#[test]
fn over_the_budget_the_answer_is_unknown() {
    // 12 concurrent writes and a read: many orders to explore.
    let mut h: RegHist = (0..12).map(|i| w(i, i as u32, 0, 100, i + 1)).collect();
    h.push(r(12, 99, 200, 210, 99));
    let rep = check(&Register, &h, &Options { max_states_per_key: 5, ..Options::default() });
    assert_eq!(rep.unknown_keys, [(0, 6)]);
    assert!(!rep.linearizable() && rep.failed_keys.is_empty());
    // With room, the answer: the read saw a value nobody wrote.
    assert_eq!(verdict(&Register, &h).failed_keys, [0]);
}

#[test]
fn set_and_queue_specifications() {
    let h = vec![
        op(0, 1, 0, 10, SetOp::Add(3), SetRet::Done),
        op(1, 2, 5, 15, SetOp::Add(4), SetRet::Done),
        op(2, 3, 8, 9, SetOp::Read, SetRet::Elements(vec![4])),
        op(3, 3, 20, 30, SetOp::Read, SetRet::Elements(vec![3, 4])),
    ];
    assert!(verdict(&Set, &h).linearizable());
    let mut bad = h.clone();
    bad[3] = op(3, 3, 20, 30, SetOp::Read, SetRet::Elements(vec![4]));
    assert!(!verdict(&Set, &bad).linearizable(), "an acknowledged add is missing");

    let q = vec![
        op(0, 1, 0, 10, QueueOp::Enqueue(1), QueueRet::Done),
        op(1, 1, 20, 30, QueueOp::Enqueue(2), QueueRet::Done),
        op(2, 2, 40, 50, QueueOp::Dequeue, QueueRet::Dequeued(Some(1))),
        op(3, 2, 60, 70, QueueOp::Dequeue, QueueRet::Dequeued(Some(2))),
        op(4, 2, 80, 90, QueueOp::Dequeue, QueueRet::Dequeued(None)),
    ];
    assert!(verdict(&Queue, &q).linearizable());
    let mut bad = q.clone();
    bad[2].ret = Ret::Ok { at: Time(50), output: QueueRet::Dequeued(Some(2)) };
    bad[3].ret = Ret::Ok { at: Time(70), output: QueueRet::Dequeued(Some(1)) };
    assert!(!verdict(&Queue, &bad).linearizable(), "out of FIFO order");
    // Concurrent enqueues may come out in either order.
    let mut either = q.clone();
    either[1].invoke = Time(5);
    either[2].ret = Ret::Ok { at: Time(50), output: QueueRet::Dequeued(Some(2)) };
    either[3].ret = Ret::Ok { at: Time(70), output: QueueRet::Dequeued(Some(1)) };
    assert!(verdict(&Queue, &either).linearizable());
}

fn small() -> Shape {
    Shape { ops: 3_000, keys: 10, clients: 30, ..Shape::bench() }
}

#[test]
fn generated_histories_are_linearizable_and_deterministic() {
    let h = register_history(&small(), 1);
    assert_eq!(h, register_history(&small(), 1));
    assert_ne!(h, register_history(&small(), 2));
    assert_eq!(h.len(), 3_000);
    assert!(h.iter().any(|o| o.ret == Ret::Unknown));
    let rep = verdict(&Register, &h);
    assert!(rep.linearizable(), "{:?}", rep.failed_keys);
    assert_eq!(rep.keys, 10);
    assert!(rep.states_explored >= rep.ops);
}

#[test]
fn a_violation_in_a_long_history_is_minimised_to_the_operations_that_show_it() {
    let mut h = register_history(&small(), 3);
    // Make one late read return the value of the first write of its key: stale.
    let (read, key) = super::generate::stale_read(&mut h).expect("a late read");
    let Some(RegRet::Value(v)) = h.iter().find(|o| o.id == read).and_then(|o| o.output().copied()) else {
        unreachable!()
    };
    let rep = verdict(&Register, &h);
    assert_eq!(rep.failed_keys, [key]);
    let viol = &rep.violations[0];
    assert!(viol.ops.iter().any(|o| o.id == viol.blocked.id));
    assert!(viol.ops.iter().any(|o| o.input == RegOp::Write(v)), "the write the read needs stays");
    assert!(viol.ops.len() <= 6, "{} ops: {:#?}", viol.ops.len(), viol.ops);
    assert!(viol.window > viol.ops.len());
    // The sub-history is itself not linearizable.
    let sub: Vec<&Operation<RegOp, RegRet>> = viol.ops.iter().collect();
    assert!(check_key(&Register, &sub, 1_000).is_violation());
    // And drawn: every operation a marked bar.
    let svg = svg::timeline("key", &svg::violation_bars(viol));
    assert_eq!(svg.matches("class=\"op conflict").count(), viol.ops.len());
    assert_eq!(svg.matches("class=\"op conflict blocked\"").count(), 1);
    assert!(svg.contains(&format!("data-op=\"{}\"", viol.blocked.id)));
    assert!(svg.contains("(cannot be placed)"));
}

#[test]
fn the_timeline_has_a_row_per_client_and_dashes_unknown_outcomes() {
    let bars = vec![
        svg::Bar { op: 1, client: 4, invoke: Time(0), complete: Some(Time(10)), label: "w <1>".into(), marked: true },
        svg::Bar { op: 2, client: 7, invoke: Time(5), complete: None, label: "w 2".into(), marked: false },
    ];
    let s = svg::timeline("t & u", &bars);
    assert!(s.contains("client 4") && s.contains("client 7"));
    assert!(s.contains("t &amp; u") && s.contains("w &lt;1&gt;"));
    assert_eq!(s.matches("stroke-dasharray").count(), 1);
    assert_eq!(s.matches("class=\"op\"").count(), 1);
    // Overlapping operations of one client, and one whose label would run into the next: a lane
    // each; a later operation that clears both goes back to the first lane.
    let bar = |op, invoke, complete| svg::Bar {
        op,
        client: 1,
        invoke: Time(invoke),
        complete: Some(Time(complete)),
        label: "Write(12345) -> Done".into(),
        marked: true,
    };
    let ys = |s: &str| -> Vec<String> {
        s.split("<rect x=")
            .skip(1)
            .filter_map(|r| r.split("y=\"").nth(1)?.split('"').next().map(String::from))
            .collect()
    };
    let s = svg::timeline("lanes", &[bar(1, 0, 100), bar(2, 50, 150), bar(3, 105, 110), bar(4, 600, 700)]);
    let y = ys(&s);
    assert_eq!(y.len(), 4, "four bars (one client: no band): {s}");
    let (a, b, c, d) = (&y[0], &y[1], &y[2], &y[3]);
    assert!(a != b && c != a && c != b, "three lanes: bar 3's label would overlap bar 1's label: {y:?}");
    assert_eq!(a, d, "bar 4 starts after every label ends");
}

#[test]
fn session_guarantees() {
    // Client 1 writes 1 then reads the initial value: not its own write.
    let h = vec![w(0, 1, 0, 10, 1), r(1, 1, 20, 30, 0)];
    let s = weak::sessions(&h);
    assert_eq!((s.ryw_judged, s.ryw_violations.clone()), (1, vec![(1, 0)]));
    // Another client reading the initial value breaks no session guarantee (but is stale).
    let h = vec![w(0, 1, 0, 10, 1), r(1, 2, 20, 30, 0)];
    let s = weak::sessions(&h);
    assert_eq!((s.ryw_judged, s.ryw_violations.len(), s.mr_judged), (0, 0, 0));
    assert!(!lin(&h));
    // Client 2 reads 2, then 1 which precedes 2: reads went backwards.
    let h = vec![w(0, 1, 0, 10, 1), w(1, 1, 20, 30, 2), r(2, 2, 40, 50, 2), r(3, 2, 60, 70, 1)];
    let s = weak::sessions(&h);
    assert_eq!((s.mr_judged, s.mr_violations.clone()), (1, vec![(3, 2)]));
    // Concurrent writes may be seen in either order by different reads of one client? No: both
    // are allowed by monotonic reads only if neither precedes the other.
    let h = vec![w(0, 1, 0, 100, 1), w(1, 3, 10, 90, 2), r(2, 2, 40, 50, 2), r(3, 2, 60, 70, 1)];
    assert!(weak::sessions(&h).mr_violations.is_empty());
    // A generated linearizable history keeps both.
    let s = weak::sessions(&register_history(&small(), 4));
    assert!(s.ryw_judged > 100 && s.mr_judged > 100, "{s:?}");
    assert!(s.ryw_violations.is_empty() && s.mr_violations.is_empty());
}

#[test]
fn a_session_is_one_client_on_one_key_wherever_its_operations_sit_in_the_history() {
    let on = |key: u64, mut o: Operation<RegOp, RegRet>| {
        o.key = key;
        o
    };
    // Client 1 writes 1 to key 7, then reads key 8's initial value: another session, not a
    // missed write. Client 2 reads key 7's 1, then key 8's initial value, then key 7's initial
    // value: only the last goes back, within its session. Listed out of time order, and
    // interleaved with other sessions.
    let h = vec![
        on(7, r(5, 2, 80, 90, 0)),
        on(8, r(2, 1, 20, 30, 0)),
        on(8, r(4, 2, 60, 70, 0)),
        on(7, w(1, 1, 0, 10, 1)),
        on(7, r(3, 2, 40, 50, 1)),
    ];
    let s = weak::sessions(&h);
    assert_eq!((s.ryw_judged, s.ryw_violations.len()), (0, 0), "{s:?}");
    assert_eq!((s.mr_judged, s.mr_violations.clone()), (1, vec![(5, 3)]), "{s:?}");
    // The same history as one client: key 7's last read of 0 now misses its own write too, and
    // key 8's two reads make a second judged pair.
    let one: Vec<_> = h.iter().map(|o| Operation { client: 1, ..o.clone() }).collect();
    let s = weak::sessions(&one);
    assert_eq!((s.ryw_judged, s.ryw_violations.clone()), (2, vec![(5, 1)]), "{s:?}");
    assert_eq!((s.mr_judged, s.mr_violations.clone()), (2, vec![(5, 3)]), "{s:?}");
}

#[test]
fn sessions_are_runs_of_one_client_on_one_key_in_history_order_without_unknown_outcomes() {
    let on = |key: u64, mut o: Operation<RegOp, RegRet>| {
        o.key = key;
        o
    };
    // Keys far apart in every byte (a radix sort looks at each) and clients interleaved.
    let (a, b) = (0x0100_0000_0000_0007, 7);
    let h = vec![
        on(a, w(0, 2, 0, 1, 1)),
        on(b, w(1, 1, 0, 1, 2)),
        on(a, r(2, 1, 0, 1, 1)),
        on(b, unknown(3, 1, 0, RegOp::Read)),
        on(a, r(4, 2, 0, 1, 1)),
        on(b, r(5, 1, 0, 1, 2)),
        on(a, r(6, 1, 0, 1, 1)),
        on(b, r(7, 2, 0, 1, 2)),
    ];
    let sessions = weak::Sessions::of(&h);
    let mut got: Vec<(u32, u64, Vec<usize>)> =
        sessions.iter().map(|s| (s.client, s.key, s.indices().collect())).collect();
    got.sort();
    let want = vec![(1, b, vec![1, 5]), (1, a, vec![2, 6]), (2, b, vec![7]), (2, a, vec![0, 4])];
    assert_eq!(got, want);
    assert_eq!(sessions.iter().map(|s| s.len()).sum::<usize>(), 7, "the unknown read is in no session");
}

#[test]
fn group_by_key_sorts_as_a_sort_of_the_whole_entries() {
    // Keys of a few entries to many, the fields after them in no order within a key.
    let mut entries: Vec<(u64, u32, u32)> =
        (0..5_000u32).map(|i| (crate::rng::mix64(u64::from(i % 977)) % 300, (i * 7919) % 13, i)).collect();
    let mut want = entries.clone();
    want.sort();
    weak::group_by_key(&mut entries, |e| e.0);
    assert_eq!(entries, want);
}

#[test]
fn unseen_writes_of_unknown_outcome_are_pruned_and_seen_ones_kept() {
    // 24 writes time out on one key while reads keep seeing the value before them: without the
    // pruning, every subset of them is a configuration to try.
    let mut h: RegHist = vec![w(0, 1, 0, 10, 1)];
    for i in 0..24 {
        h.push(unknown(1 + i, 2 + i as u32, 20 + i, RegOp::Write(100 + i)));
    }
    h.push(r(30, 1, 100, 110, 1));
    let rep = check(&Register, &h, &Options { max_states_per_key: 1_000, ..Options::default() });
    assert!(rep.linearizable(), "{:?}", rep.unknown_keys);
    assert_eq!(rep.pruned_unknown, 24);
    // One of them seen: it stays, and is linearized.
    h.push(r(31, 1, 120, 130, 105));
    let rep = check(&Register, &h, &Options { max_states_per_key: 1_000, ..Options::default() });
    assert!(rep.linearizable());
    assert_eq!(rep.pruned_unknown, 23);
    // A failed compare-and-set on the key turns the pruning off (it may have failed because of one).
    let mut h: RegHist = vec![w(0, 1, 0, 10, 1)];
    for i in 0..4 {
        h.push(unknown(1 + i, 2 + i as u32, 20 + i, RegOp::Write(100 + i)));
    }
    h.push(r(30, 1, 120, 130, 1));
    h.push(op(32, 1, 140, 150, RegOp::Cas(1, 7), RegRet::Cas(false)));
    let rep = check(&Register, &h, &Options::default());
    assert_eq!(rep.pruned_unknown, 0);
    assert!(rep.linearizable(), "an unseen write took effect after the read and failed the cas");
    h.push(r(33, 1, 160, 170, 1));
    assert!(!check(&Register, &h, &Options::default()).linearizable(), "but then the value cannot be back");
}

fn sc(h: &RegHist) -> sequential::ScReport<RegOp, RegRet> {
    sequential::check(&Register, h, &Options::default())
}

#[test]
fn a_stale_read_by_another_client_is_sequentially_consistent_but_not_linearizable() {
    // Client 1's write completed at 10; client 2 reads the initial value at [20, 30]. Real time
    // forbids it; program order does not (client 2's read may be ordered before the write).
    let h = vec![w(0, 1, 0, 10, 1), r(1, 2, 20, 30, 0)];
    assert!(!lin(&h));
    let rep = sc(&h);
    assert!(rep.consistent(), "{rep:?}");
    assert_eq!((rep.keys, rep.consistent_keys, rep.ops), (1, 1, 2));
    // The same with a later read by client 2 of the new value: order r(0), w(1), r(1).
    let mut h2 = h.clone();
    h2.push(r(2, 2, 40, 50, 1));
    assert!(!lin(&h2) && sc(&h2).consistent());
}

#[test]
fn a_read_that_misses_its_own_client_s_write_is_neither() {
    // Client 1 writes 1 and then reads 0: program order puts the write first.
    let h = vec![w(0, 1, 0, 10, 1), r(1, 1, 20, 30, 0)];
    assert!(!lin(&h));
    let rep = sc(&h);
    assert_eq!(rep.failed_keys.len(), 1);
    assert_eq!(rep.failed_keys[0].1.id, 1, "the read is what cannot be placed");
    // Two sessions that see two writes of one session in opposite orders: client 0 writes 1
    // then 2, client 1 reads 2 then 1. Its first read needs w2 (so w1, w2 before it), its second
    // needs w1 last: no order of the programs gives both.
    let h = vec![w(0, 0, 0, 10, 1), w(1, 0, 20, 30, 2), r(2, 1, 40, 50, 2), r(3, 1, 60, 70, 1)];
    assert!(!lin(&h));
    assert!(!sc(&h).consistent());
    // With the writes by two different clients, they may be ordered w2, read, w1, read: not
    // linearizable (w1 completed before w2 was invoked) but sequentially consistent.
    let h = vec![w(0, 0, 0, 10, 1), w(1, 3, 20, 30, 2), r(2, 1, 40, 50, 2), r(3, 1, 60, 70, 1)];
    assert!(!lin(&h) && sc(&h).consistent());
    // But with two readers, each may see its own order of... no: one register, one order. Reader
    // 1 sees 1 then 2, reader 2 sees 2 then 1: not sequentially consistent either.
    let h = vec![
        w(0, 0, 0, 10, 1),
        w(1, 3, 0, 10, 2),
        r(2, 1, 40, 50, 1),
        r(3, 1, 60, 70, 2),
        r(4, 2, 40, 50, 2),
        r(5, 2, 60, 70, 1),
    ];
    assert!(!sc(&h).consistent());
}

#[test]
fn a_linearizable_history_is_sequentially_consistent() {
    let h = vec![r(0, 1, 0, 5, 0), w(1, 1, 10, 20, 1), r(2, 2, 30, 40, 1), w(3, 2, 50, 60, 2), r(4, 1, 70, 80, 2)];
    assert!(lin(&h));
    let rep = sc(&h);
    assert!(rep.consistent());
    // Found without backtracking: one state per operation.
    assert_eq!(rep.states_explored, 5);
    assert_eq!(
        sequential::check_key(&Register, &h.iter().collect::<Vec<_>>(), 100),
        sequential::ScKeyResult::Consistent { states: 5 }
    );
    // A generated linearizable history of many clients and keys (settled by the linearizability
    // search first).
    let g = register_history(&small(), 5);
    let rep = sc(&g);
    assert!(rep.consistent(), "{:?}", rep.failed_keys.first());
    assert_eq!(rep.keys, 10);
    // The check: judged over keys.
    let c = sequential::to_check("sequentially_consistent", &rep);
    assert!(c.passed && c.count.judged == 10, "{}", c.detail);
}

#[test]
fn sequential_consistency_with_unknown_outcomes_and_a_budget() {
    // Client 1 writes 1, then 2 with unknown outcome; client 3 reads 2 and then 1. Program order
    // puts 1 before 2, so a read of 1 after a read of 2 needs the write of 1 twice.
    let h = vec![w(0, 1, 0, 10, 1), unknown(1, 1, 20, RegOp::Write(2)), r(2, 3, 30, 40, 2), r(3, 3, 50, 60, 1)];
    assert!(!sc(&h).consistent());
    // Reads of 1 then 2: the unknown write took effect between them.
    let h = vec![w(0, 1, 0, 10, 1), unknown(1, 1, 20, RegOp::Write(2)), r(2, 3, 30, 40, 1), r(3, 3, 50, 60, 2)];
    assert!(sc(&h).consistent());
    // Or never: reads of 1 only.
    let h = vec![w(0, 1, 0, 10, 1), unknown(1, 1, 20, RegOp::Write(2)), r(2, 3, 30, 40, 1), r(3, 1, 50, 60, 1)];
    assert!(sc(&h).consistent());
    // An unknown write may not act before its own client's earlier operation.
    let h = vec![w(0, 1, 0, 10, 1), unknown(1, 1, 20, RegOp::Write(2)), r(2, 3, 0, 5, 2), r(3, 3, 6, 8, 1)];
    assert!(!sc(&h).consistent());
    // 12 concurrent writers and a read of a value nobody wrote: many orders, and a budget.
    let mut h: RegHist = (0..12).map(|i| w(i, i as u32, 0, 100, i + 1)).collect();
    h.push(r(12, 99, 200, 210, 99));
    let rep = sequential::check(&Register, &h, &Options { max_sc_states_per_key: 20, ..Options::default() });
    assert_eq!(rep.unknown_keys, [(0, 21)]);
    assert!(!rep.consistent() && rep.failed_keys.is_empty());
    let c = sequential::to_check("sequentially_consistent", &rep);
    assert_eq!((c.count.judged, c.count.skipped.iter().map(|s| s.count).sum::<u64>()), (0, 1));
    assert!(c.detail.contains("gave up on 1 keys after 21 states"), "{}", c.detail);
    // With room, the answer.
    let rep = sc(&h);
    assert_eq!(rep.failed_keys.len(), 1);
    assert!(!sequential::to_check("sequentially_consistent", &rep).passed);
}

#[test]
fn a_key_whose_operations_never_overlap_gets_the_search_s_verdict_without_the_search() {
    use super::check::{by_key, one_order, search};
    // Many keys and long think times: most keys' few operations run one after another.
    let shape = Shape { ops: 4_000, keys: 200, clients: 40, think_mean_ns: 20e6, ..Shape::bench() };
    let mut h = register_history(&shape, 5);
    let (_, bad_key) = super::generate::stale_read(&mut h).expect("a late read");
    let keys = by_key(&Register, &h);
    let (mut one, mut searched, mut failed) = (0, 0, Vec::new());
    for (key, ops) in keys.iter() {
        let full = search(&Register, ops, 1_000_000);
        assert_eq!(check_key(&Register, ops, 1_000_000), full, "key {key}");
        match one_order(&Register, ops, 1_000_000) {
            Some(r) => {
                assert_eq!(r, KeyResult::Linearizable { states: ops.len() as u64 });
                one += 1;
            }
            None => searched += 1,
        }
        if full.is_violation() {
            failed.push(key);
        }
    }
    assert_eq!(failed, [bad_key]);
    assert!(one > 50 && searched > 10, "{one} keys of one order, {searched} searched");
    // One after another but not explained in that order (a stale read): the search decides,
    // and names the operation it could not place.
    let stale = [w(0, 1, 0, 10, 1), w(1, 1, 20, 30, 2), r(2, 2, 40, 50, 1)];
    let stale: Vec<&Operation<RegOp, RegRet>> = stale.iter().collect();
    assert_eq!(one_order(&Register, &stale, 100), None);
    assert_eq!(check_key(&Register, &stale, 100), KeyResult::NotLinearizable { states: 2, blocked: 2, linearized: 2 });
    // Over the budget the answer is the search's: unknown.
    let ok = [w(0, 1, 0, 10, 1), w(1, 1, 20, 30, 2), r(2, 2, 40, 50, 2)];
    let ok: Vec<&Operation<RegOp, RegRet>> = ok.iter().collect();
    assert_eq!(check_key(&Register, &ok, 3), KeyResult::Linearizable { states: 3 });
    assert_eq!(check_key(&Register, &ok, 2), KeyResult::Unknown { states: 3 });
    // Touching operations (one invoked when the last completed) overlap: searched.
    let touching = [w(0, 1, 0, 10, 1), r(1, 2, 10, 20, 1)];
    let touching: Vec<&Operation<RegOp, RegRet>> = touching.iter().collect();
    assert_eq!(one_order(&Register, &touching, 100), None);
}

/// `by_key` against its definition: each key once, in key order, with its operations in history
/// order (reads of unknown outcome left out), on keys few and many, narrow and full-width.
#[test]
fn by_key_groups_each_key_s_operations_in_history_order() {
    use super::check::by_key;
    use crate::rng::{Prng, Stream};
    let mut rng = Prng::new(11, Stream::Workload);
    for (n, key_of) in [(500, 0u32), (5_000, 1), (5_000, 2)] {
        let h: RegHist = (0..n)
            .map(|i| {
                let key = match key_of {
                    0 => rng.below(7),
                    1 => rng.below(1_000_000),
                    _ => rng.next_u64() >> rng.below(64),
                };
                let (t, v) = (10 * i, rng.below(3));
                // Unknown reads are dropped; no unknown write, so nothing is pruned.
                let mut o = match rng.below(3) {
                    0 => unknown(i, 1, t, RegOp::Read),
                    1 => w(i, 1, t, t + 5, v),
                    _ => r(i, 1, t, t + 5, v),
                };
                o.key = key;
                o
            })
            .collect();
        let mut want: std::collections::BTreeMap<u64, Vec<u64>> = std::collections::BTreeMap::new();
        for o in &h {
            let entry = want.entry(o.key).or_default();
            if o.complete().is_some() || o.input != RegOp::Read {
                entry.push(o.id);
            }
        }
        let got: Vec<(u64, Vec<u64>)> =
            by_key(&Register, &h).iter().map(|(k, ops)| (k, ops.iter().map(|o| o.id).collect())).collect();
        // A key of only unknown reads is no key at all: its operations were dropped before the cut.
        want.retain(|_, ids| !ids.is_empty());
        assert_eq!(got, want.into_iter().collect::<Vec<_>>(), "{n} operations, keys {key_of}");
    }
}

/// A growing set read whole by many overlapping reads: two reads that each see an element the
/// other does not (neither set contains the other) cannot both be placed. Every read needs the
/// adds of all it returned, so no window of the whole history is small; seen through the two
/// elements alone the violation is four operations, and the report says so.
#[test]
fn a_set_violation_is_shown_through_the_one_or_two_elements_it_needs() {
    let add = |id: u64, t: u64| op(id, 1 + (id % 3) as u32, t, t + 5, SetOp::Add(id), SetRet::Done);
    let read = |id: u64, t0: u64, t1: u64, e: Vec<u64>| op(id, 9, t0, t1, SetOp::Read, SetRet::Elements(e));
    let mut h = Vec::new();
    // 60 adds, each read after it completes by a read that holds everything so far.
    for i in 0..60u64 {
        h.push(add(i, i * 100));
        h.push(read(1000 + i, i * 100 + 10, i * 100 + 20, (0..=i).collect()));
    }
    // Two slow adds and two reads overlapping everything of them, each seeing one.
    h.push(op(500, 4, 6000, 7000, SetOp::Add(500), SetRet::Done));
    h.push(op(501, 5, 6000, 7000, SetOp::Add(501), SetRet::Done));
    let mut a: Vec<u64> = (0..60).collect();
    a.push(500);
    let mut b: Vec<u64> = (0..60).collect();
    b.push(501);
    h.push(read(2000, 6100, 6900, a));
    h.push(read(2001, 6100, 6900, b));
    let rep = verdict(&Set, &h);
    assert_eq!(rep.failed_keys, [0]);
    let v = &rep.violations[0];
    assert_eq!(v.restricted_to.as_deref(), Some(&[500, 501][..]));
    let mut ids: Vec<u64> = v.ops.iter().map(|o| o.id).collect();
    ids.sort_unstable();
    assert_eq!(ids, [500, 501, 2000, 2001]);
    // The reads as seen through the two elements.
    let seen: Vec<_> = v.ops.iter().filter(|o| o.id >= 2000).map(|o| o.output().cloned()).collect();
    assert_eq!(seen, [Some(SetRet::Elements(vec![500])), Some(SetRet::Elements(vec![501]))]);
    let text = describe_violation(v);
    assert!(text.contains("seen through elements 500 and 501 only"), "{text}");
    // A stale read of one element: seen through that element alone.
    let mut h: Vec<_> = (0..30u64).map(|i| add(i, i * 100)).collect();
    h.push(read(3000, 5000, 5010, (1..30).collect()));
    let rep = verdict(&Set, &h);
    let v = &rep.violations[0];
    assert_eq!(v.restricted_to.as_deref(), Some(&[0][..]));
    assert_eq!(v.ops.len(), 2, "{:?}", v.ops);
    // A linearizable history is not made a violation by any of this.
    let h: Vec<_> = (0..30u64)
        .flat_map(|i| [add(i, i * 100), read(4000 + i, i * 100 + 10, i * 100 + 20, (0..=i).collect())])
        .collect();
    assert!(verdict(&Set, &h).linearizable());
}

/// A violation the minimiser cannot cut down is described in bounded words: at most 24
/// operations, the blocked one among them, each cut at 240 characters, and how many more.
#[test]
fn a_long_violation_is_described_in_bounded_words() {
    let many: Vec<Operation<SetOp, SetRet>> =
        (0..100u64).map(|i| op(i, 1, i * 10, i * 10 + 5, SetOp::Read, SetRet::Elements((0..200).collect()))).collect();
    let v = Violation { key: 3, blocked: many[70].clone(), linearized: 7, ops: many, window: 100, restricted_to: None };
    let text = describe_violation(&v);
    assert!(text.len() < 24 * 260 + 400, "{} chars", text.len());
    assert!(text.contains("op 70 by client 1"), "the blocked operation is listed");
    assert!(text.contains("(76 more not listed: 58 before, 18 after;"), "{}", &text[text.len() - 200..]);
    assert!(text.contains("..."), "a long read is cut");
}
