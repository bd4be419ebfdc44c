//! Unit tests of the log: its pure policies (partitioning, assignment, log matching, retention)
//! through plain calls, and its protocol through the real kernel on a small cluster (a
//! coordinator, three brokers, clients producing and consuming), with crashes scheduled as in a
//! scenario.

use super::consumer::Owned;
use super::*;
use sim_core::fault::{Fault, ScheduledFault};
use sim_core::workload::{Arrival, Keys, WorkloadSpec};
use sim_core::{Op, OpId, Outcome, Reply, Sim, SimConfig, Topology, TopologySpec};

// ----- pure policies -----

fn cluster(spec: LogSpec) -> Rc<Cluster> {
    Rc::new(Cluster::new(spec, NodeId(0), vec![NodeId(1), NodeId(2), NodeId(3)]))
}

fn two_topics() -> LogSpec {
    LogSpec {
        topics: vec![
            TopicSpec { name: "a".into(), partitions: 12, ..TopicSpec::default() },
            TopicSpec { name: "b".into(), partitions: 5, ..TopicSpec::default() },
        ],
        ..LogSpec::default()
    }
}

#[test]
fn a_key_always_goes_to_the_same_partition_of_its_topic_and_keys_spread_evenly() {
    let c = cluster(two_topics());
    assert_eq!((c.partitions(), c.topic("b"), c.topic_partitions(1)), (17, Some(1), 12..17));
    let mut counts = [0u32; 12];
    for key in 0..24_000u64 {
        let p = c.partition_of(0, key);
        assert_eq!(p, c.partition_of(0, key), "stable");
        counts[p as usize] += 1;
        assert!((12..17).contains(&c.partition_of(1, key)), "topic b's partitions only");
    }
    // 2,000 expected per partition; a fair hash stays within a few standard deviations (~43).
    assert!(counts.iter().all(|&n| (1_800..2_200).contains(&n)), "{counts:?}");
    // Replicas: `replication` distinct brokers, in preference order starting at p.
    let r: Vec<NodeId> = c.replicas(4).collect();
    assert_eq!(r, [NodeId(2), NodeId(3), NodeId(1)]);
    assert_eq!(c.election_quorum(), 2);
}

#[test]
fn assignment_gives_each_partition_one_owner_balanced_and_independent_of_order() {
    let members = [NodeId(7), NodeId(3), NodeId(9)];
    let a = assign(&members, 10..20);
    assert_eq!(a.len(), 10);
    assert!(a.iter().enumerate().all(|(i, &(p, _))| p == 10 + i as u32), "each partition once, in order");
    let count = |n: NodeId| a.iter().filter(|x| x.1 == n).count();
    let counts: Vec<usize> = members.iter().map(|&m| count(m)).collect();
    assert_eq!(counts.iter().sum::<usize>(), 10);
    assert!(counts.iter().max().unwrap() - counts.iter().min().unwrap() <= 1, "{counts:?}");
    assert_eq!(a, assign(&[NodeId(9), NodeId(7), NodeId(3), NodeId(3)], 10..20), "order and repeats do not matter");
    // More members than partitions: every partition still has exactly one owner; some idle.
    let many: Vec<NodeId> = (0..5).map(NodeId).collect();
    let b = assign(&many, 0..3);
    assert_eq!(b, [(0, NodeId(0)), (1, NodeId(1)), (2, NodeId(2))]);
    assert!(assign(&[], 0..3).is_empty());
}

/// The sticky assignor is as balanced as round-robin and moves only what a change of membership
/// forces: a fourth member of 12 partitions takes 3 (round-robin moves 9), a leaver's 3 move
/// and nothing else, and an unchanged membership moves nothing.
#[test]
fn sticky_assignment_is_balanced_and_moves_only_what_membership_forces() {
    let owners = |a: &[(Pid, NodeId)]| a.iter().copied().collect::<BTreeMap<Pid, NodeId>>();
    let moved = |before: &BTreeMap<Pid, NodeId>, after: &BTreeMap<Pid, NodeId>| {
        after.iter().filter(|&(p, o)| before.get(p).is_some_and(|b| b != o)).count()
    };
    let balanced = |a: &BTreeMap<Pid, NodeId>, members: &[NodeId]| {
        let counts: Vec<usize> = members.iter().map(|&m| a.values().filter(|&&o| o == m).count()).collect();
        counts.iter().max().unwrap() - counts.iter().min().unwrap() <= 1 && counts.iter().sum::<usize>() == a.len()
    };
    let three = [NodeId(1), NodeId(2), NodeId(3)];
    let four = [NodeId(1), NodeId(2), NodeId(3), NodeId(4)];
    let start = owners(&assign_sticky(&three, 0..12, &BTreeMap::new()));
    assert_eq!(start.keys().copied().collect::<Vec<_>>(), (0..12).collect::<Vec<_>>(), "each partition once");
    assert!(balanced(&start, &three));
    // A join.
    let joined = owners(&assign_sticky(&four, 0..12, &start));
    assert!(balanced(&joined, &four));
    assert_eq!(moved(&start, &joined), 3);
    let rr = (owners(&assign(&three, 0..12)), owners(&assign(&four, 0..12)));
    assert_eq!(moved(&rr.0, &rr.1), 9, "round-robin shifts most partitions");
    // A leave: only the leaver's partitions move.
    let left = owners(&assign_sticky(&[NodeId(1), NodeId(3), NodeId(4)], 0..12, &joined));
    assert!(balanced(&left, &[NodeId(1), NodeId(3), NodeId(4)]));
    assert_eq!(moved(&joined, &left), joined.values().filter(|&&o| o == NodeId(2)).count());
    // Unchanged: nothing moves; member order and repeats do not matter.
    assert_eq!(owners(&assign_sticky(&[NodeId(4), NodeId(3), NodeId(1), NodeId(1)], 0..12, &left)), left);
    // Uneven shares: 7 partitions, 3 members keep 3/2/2 where they can.
    let seven = owners(&assign_sticky(&three, 10..17, &BTreeMap::new()));
    assert!(balanced(&seven, &three));
    let after = owners(&assign_sticky(&[NodeId(1), NodeId(2)], 10..17, &seven));
    assert!(balanced(&after, &[NodeId(1), NodeId(2)]));
    assert_eq!(moved(&seven, &after), seven.values().filter(|&&o| o == NodeId(3)).count());
    assert!(assign_sticky(&[], 0..3, &start).is_empty());
}

fn e(epoch: u32, v: u64) -> Entry {
    Entry { epoch, at: Time(v), rec: Some(Record { key: v, value: v, produced: Time(v), bytes: 10 }) }
}

#[test]
fn a_follower_keeps_the_matching_prefix_drops_a_conflicting_tail_and_backs_up_on_a_gap() {
    let mut log = PartLog::default();
    assert_eq!(log.apply(0, 0, false, &[e(1, 1), e(1, 2), e(1, 3)]), Ok((3, 0)));
    // The old leader's last entry (offset 2) never committed; the epoch-2 leader has another one.
    assert_eq!(log.apply(2, 1, false, &[e(2, 9), e(2, 10)]), Ok((4, 1)));
    assert_eq!(log.entries().map(|(o, x)| (o, x.epoch)).collect::<Vec<_>>(), [(0, 1), (1, 1), (2, 2), (3, 2)]);
    // A batch past the end is refused with the end as the hint.
    assert_eq!(log.apply(9, 2, false, &[e(2, 11)]), Err(4));
    // A batch whose previous entry has another epoch: back up to that epoch's first entry.
    assert_eq!(log.apply(4, 3, false, &[e(3, 12)]), Err(2));
    // A resend of what is there changes nothing.
    let version = log.version;
    assert_eq!(log.apply(0, 0, false, &[e(1, 1), e(1, 2)]), Ok((2, 0)));
    assert_eq!((log.end(), log.version), (4, version));
    // Reset: the follower is behind the leader's retention; it starts over at the leader's start.
    assert_eq!(log.apply(100, 5, true, &[e(6, 1)]), Ok((101, 4)));
    assert_eq!((log.start(), log.end(), log.last_epoch()), (100, 101, 6));
}

#[test]
fn retention_deletes_by_age_and_by_count_but_never_at_or_above_the_limit() {
    let mut log = PartLog::default();
    let entries: Vec<Entry> = (0..10).map(|i| e(1, i * 1_000_000_000)).collect();
    log.apply(0, 0, false, &entries).unwrap();
    log.persisted = 10;
    let by_age = Retention { time: Some(Duration::from_secs(5)), records: None };
    // At t = 9.5 s, entries appended at 0..4 s are older than 5 s: 5 of them go.
    assert_eq!(log.trim(Time(9_500_000_000), &by_age, 10), 5);
    assert_eq!((log.start(), log.base_epoch), (5, 1));
    // By count: keep 2, but the limit (say, the HWM) is 6: only offset 5 may go.
    let by_count = Retention { time: None, records: Some(2) };
    assert_eq!(log.trim(Time(0), &by_count, 6), 1);
    assert_eq!(log.trim(Time(0), &by_count, 10), 2);
    assert_eq!((log.start(), log.end()), (8, 10));
    // A read below the start returns nothing (the broker answers OutOfRange first).
    assert_eq!(log.read(8, 10, 10).0, 10);
}

#[test]
fn the_commit_is_the_lowest_offset_not_done_even_when_work_finishes_out_of_order() {
    let mut o = Owned { next: 10, floor: 10, committed: 10, ..Owned::default() };
    o.mark_done(12);
    o.mark_done(11);
    assert_eq!(o.floor, 10);
    o.mark_done(10);
    assert_eq!(o.floor, 13);
    o.mark_done(5); // a redelivered old record: no effect
    assert_eq!(o.floor, 13);
    o.mark_done(20);
    o.skip_to(18); // 13..18 deleted by retention
    assert_eq!(o.floor, 18);
    o.mark_done(19);
    o.mark_done(18);
    assert_eq!(o.floor, 21);
}

#[test]
fn validation_names_the_fields() {
    let spec = LogSpec { replication: 4, acks: 5, heartbeat: Duration::from_secs(2), ..two_topics() };
    let paths: Vec<String> = spec.validate("config.log", 3).into_iter().map(|p| p.0).collect();
    assert_eq!(paths, ["config.log.replication", "config.log.acks", "config.log.session_timeout"]);
    let mut dup = two_topics();
    dup.topics[1].name = "a".into();
    dup.topics[0].partitions = 0;
    let paths: Vec<String> = dup.validate("log", 3).into_iter().map(|p| p.0).collect();
    assert_eq!(paths, ["log.topics[0].partitions", "log.topics[1].name"]);
}

// ----- the protocol, through the kernel -----

#[derive(Clone, Copy, Debug)]
struct JoinNow;

crate::wire! { timers enum TTimer { Log(Timer), Join(JoinNow) } }

struct Client {
    prod: Producer<OpId>,
    cons: Option<Consumer>,
    /// When to join the group (None: not a consumer).
    join_at: Option<Duration>,
    got: Vec<Delivery>,
}

enum TNode {
    Coord(Coordinator),
    Broker(Broker),
    Client(Client),
}

fn own(r: &Disk) -> Option<&Disk> {
    Some(r)
}

impl Actor for TNode {
    type Msg = Msg;
    type Timer = TTimer;
    type Record = Disk;

    fn on_start(&mut self, ctx: &mut Ctx<'_, Self>) {
        match self {
            TNode::Coord(c) => c.start(ctx, own),
            TNode::Broker(b) => b.start(ctx, own),
            TNode::Client(c) => {
                c.prod.start(ctx);
                if let Some(at) = c.join_at {
                    ctx.set_timer(at, TTimer::Join(JoinNow));
                }
            }
        }
    }
    fn on_msg(&mut self, ctx: &mut Ctx<'_, Self>, from: NodeId, msg: Msg) {
        match self {
            TNode::Coord(c) => c.on_msg(ctx, from, &msg),
            TNode::Broker(b) => b.on_msg(ctx, from, &msg),
            TNode::Client(c) => {
                if let Some(done) = c.prod.on_msg(ctx, &msg) {
                    complete(ctx, done);
                }
                if let Some(cons) = &mut c.cons
                    && cons.on_msg(ctx, &msg).is_some()
                {
                    while let Some(d) = cons.poll(ctx) {
                        c.got.push(d);
                        cons.done(&d);
                    }
                }
            }
        }
    }
    fn on_timer(&mut self, ctx: &mut Ctx<'_, Self>, t: TTimer) {
        match (self, t) {
            (TNode::Coord(c), TTimer::Log(t)) => c.on_timer(ctx, t),
            (TNode::Broker(b), TTimer::Log(t)) => b.on_timer(ctx, t),
            (TNode::Client(c), TTimer::Log(t)) => {
                if let Some(done) = c.prod.on_timer(ctx, t) {
                    complete(ctx, done);
                }
                if let Some(cons) = &mut c.cons {
                    cons.on_timer(ctx, t);
                }
            }
            (TNode::Client(c), TTimer::Join(_)) => {
                if let Some(cons) = &mut c.cons {
                    cons.join(ctx);
                }
            }
            _ => {}
        }
    }
    fn on_op(&mut self, ctx: &mut Ctx<'_, Self>, op: Op) {
        if let TNode::Client(c) = self {
            c.prod.produce(ctx, 0, op.key, op.value, op.id);
        }
    }
    fn on_persisted(&mut self, ctx: &mut Ctx<'_, Self>, w: WriteId) {
        match self {
            TNode::Coord(c) => {
                c.on_persisted(ctx, w);
            }
            TNode::Broker(b) => {
                b.on_persisted(ctx, w);
            }
            TNode::Client(_) => {}
        }
    }
}

fn complete(ctx: &mut Ctx<'_, TNode>, done: Produced<OpId>) {
    match done.result {
        Ok((p, offset)) => ctx.complete(done.token, Outcome::Ok, Reply::list([p as u64, offset])),
        Err(_) => ctx.complete(done.token, Outcome::Fail, Reply::None),
    }
}

struct Setup {
    spec: LogSpec,
    /// Client i consumes if `joins[i]` is Some(when it joins).
    joins: Vec<Option<Duration>>,
    rate: f64,
    run: Duration,
    settle: Duration,
    faults: Vec<ScheduledFault>,
    /// Latency of replication messages (leader to followers).
    append_latency: Option<Duration>,
}

fn run(s: Setup) -> Sim<TNode> {
    let topo =
        Topology::from_spec(&TopologySpec { servers: 4, clients: s.joins.len() as u32, zones: Vec::new() }).unwrap();
    let mut network = sim_core::net::NetworkSpec::default();
    if let Some(d) = s.append_latency {
        network.link.legs.insert("log_append".into(), sim_core::Dist::Constant(d));
    }
    let config = SimConfig {
        network,
        faults: s.faults,
        workload: Some(WorkloadSpec {
            ops: vec![("produce".into(), 1.0)],
            arrival: Arrival::OpenLoop { rate_per_s: s.rate },
            keys: Keys::Uniform { count: 10_000 },
            shape: Vec::new(),
            retry: None,
            stop_at: None,
            final_read: None,
        }),
        op_kinds: vec!["produce"],
        workload_until: s.run,
        ..SimConfig::new(7)
    };
    let c = Rc::new(Cluster::new(s.spec, NodeId(0), vec![NodeId(1), NodeId(2), NodeId(3)]));
    let joins = s.joins;
    let mut sim = Sim::new(topo, config, move |n| match n.0 {
        0 => TNode::Coord(Coordinator::new(c.clone(), "log")),
        1..=3 => TNode::Broker(Broker::new(c.clone(), "log", n)),
        i => {
            let join_at = joins[i as usize - 4];
            TNode::Client(Client {
                prod: Producer::new(c.clone(), "log"),
                cons: join_at.map(|_| Consumer::new(c.clone(), "log", 0, 0)),
                join_at,
                got: Vec::new(),
            })
        }
    });
    sim.run_until(Time(s.run.0));
    sim.heal_all();
    sim.run_until(Time((s.run + s.settle).0));
    sim
}

/// (value -> (partition, offset)) of every acknowledged produce, and the count of failed ones.
fn acked(sim: &Sim<TNode>) -> (BTreeMap<u64, (Pid, u64)>, usize) {
    let mut ok = BTreeMap::new();
    let mut failed = 0;
    for h in sim.history() {
        match (h.outcome, &h.reply) {
            (Some(Outcome::Ok), Reply::Values(v)) => {
                ok.insert(h.value, (v[0] as Pid, v[1]));
            }
            (Some(_), _) => failed += 1,
            _ => {}
        }
    }
    (ok, failed)
}

/// The log of `p` at the broker leading it at the highest epoch.
fn final_log(sim: &Sim<TNode>, p: Pid) -> &PartLog {
    (1..=3)
        .filter_map(|n| match sim.actor(NodeId(n)) {
            Some(TNode::Broker(b)) => b.leading(p).map(|(epoch, _)| (epoch, b.log(p).unwrap())),
            _ => None,
        })
        .max_by_key(|x| x.0)
        .expect("a leader at the end")
        .1
}

fn counter(sim: &Sim<TNode>, name: &'static str) -> u64 {
    sim.metrics().scoped_counter("log", name)
}

fn crash(node: u32, at: u64, for_ms: u64) -> ScheduledFault {
    ScheduledFault {
        at: Duration::from_millis(at),
        duration: Some(Duration::from_millis(for_ms)),
        fault: Fault::Crash { node, power_loss: false, corrupt_unsynced: 0.0 },
    }
}

#[test]
fn acknowledged_records_survive_leader_crashes_and_are_all_consumed() {
    // Broker 1 leads partitions 0 and 3 at first; it dies mid-run, comes back, and later broker 2
    // dies too. acks = 2 of 3: never more than one replica down at once.
    let sim = run(Setup {
        spec: LogSpec::default(),
        joins: vec![None, Some(Duration::ZERO)],
        rate: 400.0,
        run: Duration::from_secs(8),
        settle: Duration::from_secs(3),
        faults: vec![crash(1, 2_000, 2_000), crash(2, 5_000, 1_500)],
        append_latency: None,
    });
    let (ok, failed) = acked(&sim);
    assert!(ok.len() > 2_500, "{} acked, {failed} failed", ok.len());
    assert!(counter(&sim, "elections") >= 6 + 2, "initial elections plus failovers");
    let mut missing = Vec::new();
    for (&v, &(p, o)) in &ok {
        if final_log(&sim, p).get(o).and_then(|e| e.rec).map(|r| r.value) != Some(v) {
            missing.push((v, p, o));
        }
    }
    assert!(missing.is_empty(), "acknowledged records not in the final log: {missing:?}");
    let Some(TNode::Client(c)) = sim.actor(NodeId(5)) else { panic!() };
    let got: BTreeSet<u64> = c.got.iter().map(|d| d.rec.value).collect();
    let lost: Vec<u64> = ok.keys().filter(|v| !got.contains(v)).copied().collect();
    assert!(lost.is_empty(), "{} acknowledged records never consumed", lost.len());
    // Per partition, offsets are delivered in order.
    for p in 0..6 {
        let offs: Vec<u64> = c.got.iter().filter(|d| d.p == p).map(|d| d.offset).collect();
        assert!(offs.windows(2).all(|w| w[0] < w[1]), "partition {p} out of order");
    }
}

#[test]
fn a_crashed_consumers_partitions_resume_from_the_committed_offset_at_least_once() {
    // Two consumers; the second dies at 3 s (and restarts when the faults heal at 6 s). Its
    // partitions move to the first after the session timeout and resume from the last commit:
    // what it processed after that is delivered again; nothing is skipped.
    let spec = LogSpec { commit_interval: Duration::from_millis(700), ..LogSpec::default() };
    let sim = run(Setup {
        spec,
        joins: vec![Some(Duration::ZERO), Some(Duration::ZERO)],
        rate: 300.0,
        run: Duration::from_secs(6),
        settle: Duration::from_secs(3),
        faults: vec![crash(5, 3_000, 5_900)],
        append_latency: None,
    });
    let (ok, _) = acked(&sim);
    let Some(TNode::Client(a)) = sim.actor(NodeId(4)) else { panic!() };
    let got: BTreeSet<u64> = a.got.iter().map(|d| d.rec.value).collect();
    // Everything acknowledged after the crash reached the survivor, whichever partition.
    let after: Vec<u64> = sim
        .history()
        .iter()
        .filter(|h| h.invoke > Time(3_500_000_000) && h.invoke < Time(5_000_000_000) && h.outcome == Some(Outcome::Ok))
        .map(|h| h.value)
        .collect();
    assert!(after.len() > 200, "{}", after.len());
    assert!(after.iter().all(|v| got.contains(v)), "the survivor took over every partition");
    // It took over the dead one's partitions at their committed offsets (and the restarted one
    // joined again at the end).
    let Some(TNode::Coord(coord)) = sim.actor(NodeId(0)) else { panic!() };
    let (generation, members) = coord.group(0).unwrap();
    assert_eq!((generation, members), (4, vec![NodeId(4), NodeId(5)]), "join, join, expiry, rejoin");
    let taken: Vec<Pid> = (0..6).filter(|&p| a.got.iter().take(50).all(|d| d.p != p)).collect();
    assert!(!taken.is_empty(), "some partitions were the dead member's at first");
    for p in taken {
        let first = a.got.iter().find(|d| d.p == p).expect("taken over").offset;
        // The first offset the survivor saw of a partition it took over: the committed offset at
        // the takeover, which is at most what the dead consumer had processed.
        assert!(first > 0, "partition {p}: resumed from a commit, not from the start");
        assert!(ok.values().any(|&(q, o)| q == p && o >= first), "partition {p}");
    }
    assert!(counter(&sim, "rebalances") >= 2);
    // At-least-once: every acknowledged record consumed by someone; the survivor's view plus the
    // dead one's (lost with it) covers all. We can check the survivor got all records from the
    // committed offsets on, and that the final commits cover the logs.
    for p in 0..6 {
        assert_eq!(coord.committed(0, p), final_log(&sim, p).end(), "partition {p} fully consumed and committed");
    }
}

#[test]
fn a_consumer_behind_retention_skips_ahead_and_counts_what_it_lost() {
    // Keep 40 records per partition; the only consumer joins after 4 s of 200/s (about 130 per
    // partition): it starts at offset 0, finds it deleted and skips to the log start.
    let mut spec = LogSpec::default();
    spec.topics[0].retention = Retention { time: None, records: Some(40) };
    let sim = run(Setup {
        spec,
        joins: vec![None, Some(Duration::from_secs(4))],
        rate: 200.0,
        run: Duration::from_secs(5),
        settle: Duration::from_secs(2),
        faults: Vec::new(),
        append_latency: None,
    });
    let (ok, _) = acked(&sim);
    let Some(TNode::Client(c)) = sim.actor(NodeId(5)) else { panic!() };
    let lost = counter(&sim, "lost_to_retention");
    let deleted = counter(&sim, "deleted");
    let got: BTreeSet<u64> = c.got.iter().map(|d| d.rec.value).collect();
    let missing = ok.keys().filter(|v| !got.contains(v)).count() as u64;
    assert!(lost > 400, "{lost}");
    assert!(deleted >= lost, "deleted {deleted} (leaders count), skipped {lost}");
    // What the consumer missed is exactly what it skipped (markers aside, which hold no record).
    assert!(missing <= lost && missing + 6 >= lost, "missing {missing}, lost to retention {lost}");
    for p in 0..6 {
        let first = c.got.iter().find(|d| d.p == p).unwrap().offset;
        assert!(first > 0, "partition {p} started past the deleted records");
        assert!(final_log(&sim, p).entries().count() as u64 <= 41);
    }
}

#[test]
fn without_a_quorum_the_partition_waits_and_with_unclean_election_it_loses_acknowledged_records() {
    // acks = 1: a write is acknowledged once on the leader's disk. The leader of partitions 0 and
    // 3 (broker 1) dies; its followers may lack its last writes. Clean: an election needs all 3
    // replicas (3 - 1 + 1), so partitions 0 and 3 stay offline until broker 1 is back; nothing
    // is lost. Unclean: a follower is elected at once and broker 1's unreplicated tail is gone.
    let go = |unclean: bool| {
        let spec = LogSpec { acks: 1, unclean_election: unclean, ..LogSpec::default() };
        // A slow replication link makes the leader's lead over its followers wide.
        run(Setup {
            spec,
            joins: vec![None, None],
            rate: 1_000.0,
            run: Duration::from_secs(4),
            settle: Duration::from_secs(3),
            faults: vec![crash(1, 2_000, 1_500)],
            append_latency: Some(Duration::from_millis(30)),
        })
    };
    let lost = |sim: &Sim<TNode>| {
        let (ok, _) = acked(sim);
        ok.iter()
            .filter(|&(&v, &(p, o))| final_log(sim, p).get(o).and_then(|e| e.rec).map(|r| r.value) != Some(v))
            .count()
    };
    let clean = go(false);
    assert_eq!(lost(&clean), 0);
    assert_eq!(counter(&clean, "unclean_elections"), 0);
    let unclean = go(true);
    assert!(counter(&unclean, "unclean_elections") > 0);
    assert!(lost(&unclean) > 0, "the unclean election lost the leader's unreplicated tail");
}

#[test]
fn a_coordinator_crash_pauses_elections_and_rebalances_but_loses_no_commit() {
    // The coordinator dies at 2 s for 2 s: its committed offsets and leader choices are on its
    // disk. Producers and the consumer carry on with the leaders they know; commits are refused
    // (no coordinator) and retried; when it is back the member rejoins above its old generation.
    let spec = LogSpec { commit_interval: Duration::from_millis(300), ..LogSpec::default() };
    let sim = run(Setup {
        spec,
        joins: vec![None, Some(Duration::ZERO)],
        rate: 300.0,
        run: Duration::from_secs(6),
        settle: Duration::from_secs(3),
        faults: vec![crash(0, 2_000, 2_000)],
        append_latency: None,
    });
    let (ok, failed) = acked(&sim);
    assert_eq!(failed, 0, "leaders kept serving without the coordinator");
    let Some(TNode::Client(c)) = sim.actor(NodeId(5)) else { panic!() };
    let got: BTreeSet<u64> = c.got.iter().map(|d| d.rec.value).collect();
    assert!(ok.keys().all(|v| got.contains(v)));
    let Some(TNode::Coord(coord)) = sim.actor(NodeId(0)) else { panic!() };
    let (generation, members) = coord.group(0).unwrap();
    assert!(generation >= 2, "rejoined above the generation before the crash: {generation}");
    assert_eq!(members, [NodeId(5)]);
    for p in 0..6 {
        assert_eq!(coord.committed(0, p), final_log(&sim, p).end(), "partition {p}: commits resumed");
    }
    assert_eq!(counter(&sim, "elections"), 6, "no leader changed");
}

#[test]
fn a_paused_coordinator_does_not_take_its_own_stall_for_everyones_silence() {
    // The coordinator stalls at 2 s for 2 s, twice the session timeout: on resume its first tick
    // comes before the heartbeats queued behind it. It re-elects nothing and rebalances nothing
    // (a member and the brokers beat all along); a consumer crashed meanwhile still expires.
    let setup = |faults| Setup {
        spec: LogSpec::default(),
        joins: vec![Some(Duration::ZERO), Some(Duration::ZERO)],
        rate: 300.0,
        run: Duration::from_secs(7),
        settle: Duration::from_secs(2),
        faults,
        append_latency: None,
    };
    let pause =
        ScheduledFault { at: Duration::from_secs(2), duration: Some(Duration::from_secs(2)), fault: Fault::Pause(0) };
    let sim = run(setup(vec![pause.clone()]));
    let Some(TNode::Coord(coord)) = sim.actor(NodeId(0)) else { panic!() };
    assert_eq!(coord.stats.coordinator_stalls, 1);
    assert_eq!(coord.group(0).unwrap(), (2, vec![NodeId(4), NodeId(5)]), "two joins, nothing after");
    assert_eq!((counter(&sim, "rebalances"), counter(&sim, "elections")), (2, 6));
    // A member that died during the pause is silent still a session after it: it expires (and
    // rejoins when the faults heal at the end of the workload).
    let sim = run(setup(vec![pause, crash(5, 2_500, 10_000)]));
    let Some(TNode::Coord(coord)) = sim.actor(NodeId(0)) else { panic!() };
    assert_eq!(coord.stats.coordinator_stalls, 1);
    assert_eq!(coord.group(0).unwrap(), (4, vec![NodeId(4), NodeId(5)]), "join, join, expiry, rejoin");
    assert_eq!(counter(&sim, "elections"), 6);
}

/// `Consumer::assign` (a consumer outside any group, as live comments use it): it owns exactly
/// the partitions given, returns those it gave up, and speaks no group protocol (no membership
/// heartbeat, no commit), only metadata requests while it does not know the leaders.
#[test]
fn assign_owns_exactly_the_given_partitions_returns_those_given_up_and_never_joins_a_group() {
    let mut b: crate::testing::Bench<TNode> = crate::testing::Bench::new();
    let mut cons = Consumer::new(cluster(two_topics()), "log", 0, 0);
    assert!(b.with(|ctx| cons.assign(ctx, &[0, 1, 2])).is_empty(), "nothing owned before");
    assert_eq!(cons.owned().collect::<Vec<_>>(), [0, 1, 2]);
    assert!(cons.is_active());
    let revoked = b.with(|ctx| cons.assign(ctx, &[2, 5]));
    assert_eq!(revoked, [0, 1]);
    assert_eq!(cons.owned().collect::<Vec<_>>(), [2, 5]);
    // A partition kept keeps its place; none given is none owned.
    assert_eq!(b.with(|ctx| cons.assign(ctx, &[])), [2, 5]);
    assert_eq!(cons.owned().count(), 0);
    let (_, fx) = b.drain();
    let sent: Vec<&Msg> = fx
        .iter()
        .filter_map(|e| match e {
            sim_core::Effect::Send { msg, .. } => Some(msg),
            _ => None,
        })
        .collect();
    assert!(!sent.is_empty(), "it asked for the partitions' leaders");
    assert!(sent.iter().all(|m| matches!(m, Msg::MetaReq)), "no group protocol: {sent:?}");
}

#[test]
fn a_leader_that_stepped_down_after_an_abandoned_election_is_replaced() {
    // Broker 1 leads partitions 0 and 3. It stalls at 2 s for 2 s; the coordinator's messages to
    // broker 3 are lost from 1.5 s to 5 s (its heartbeats still arrive). Every election for
    // broker 1's partitions asks brokers 2 and 3, hears only 2 and is abandoned, but its probe
    // fenced broker 2. Back at 4 s, broker 1 beats again (so it looks a live leader), sends its
    // next append to broker 2, sees the newer epoch in the answer and steps down: nobody leads
    // the partitions while the coordinator believes broker 1 does, unless it believes the
    // leader's own heartbeats, which list only what it leads.
    let sim = run(Setup {
        spec: LogSpec::default(),
        joins: vec![None, Some(Duration::ZERO)],
        rate: 300.0,
        run: Duration::from_secs(8),
        settle: Duration::from_secs(3),
        faults: vec![
            ScheduledFault {
                at: Duration::from_secs(2),
                duration: Some(Duration::from_secs(2)),
                fault: Fault::Pause(1),
            },
            ScheduledFault {
                at: Duration::from_millis(1_500),
                duration: Some(Duration::from_millis(3_500)),
                fault: Fault::Partition(sim_core::net::PartitionSpec::OneWay { from: vec![0], to: vec![3] }),
            },
        ],
        append_latency: None,
    });
    let led: Vec<Pid> = (0..6)
        .filter(|&p| (1..=3).any(|n| matches!(sim.actor(NodeId(n)), Some(TNode::Broker(b)) if b.leading(p).is_some())))
        .collect();
    assert_eq!(led, [0, 1, 2, 3, 4, 5], "every partition has a leader at the end");
    assert!(counter(&sim, "leaders_disowned") >= 1);
    let (ok, _) = acked(&sim);
    let Some(TNode::Client(c)) = sim.actor(NodeId(5)) else { panic!() };
    let got: BTreeSet<u64> = c.got.iter().map(|d| d.rec.value).collect();
    assert!(ok.keys().all(|v| got.contains(v)), "every acknowledged record consumed");
    for p in 0..6 {
        assert!(final_log(&sim, p).end() > 0);
    }
}
