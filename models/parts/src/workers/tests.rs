//! The scaler's policy as a formula, and its reaction to a backlog step through the kernel: a
//! scaler node with a scripted backlog and eight worker nodes.

use super::*;
use sim_core::fault::{Fault, ScheduledFault};
use sim_core::{Sim, SimConfig, Topology, TopologySpec};

#[test]
fn recommendations_follow_the_backlog_and_the_hpa_rule() {
    let b = Target::Backlog(100.0);
    assert_eq!([0, 1, 100, 101, 250].map(|x| b.recommend(x, 0.0, 3, 3)), [0, 1, 1, 2, 3]);
    let u = Target::Utilisation(0.5);
    assert_eq!(u.recommend(0, 0.9, 4, 4), 8, "ceil(4 x 0.9 / 0.5)");
    assert_eq!(u.recommend(0, 0.1, 4, 6), 1);
    assert_eq!(u.recommend(0, 0.0, 0, 3), 3, "no worker up yet: keep what is coming");
}

#[test]
fn validation_names_the_fields() {
    let s = ScalerSpec { min: 5, max: 12, initial: 1, target: Target::Utilisation(1.5), ..ScalerSpec::default() };
    let paths: Vec<String> = s.validate("config.scaler", 10).into_iter().map(|p| p.0).collect();
    assert_eq!(paths, ["config.scaler.max", "config.scaler.initial", "config.scaler.target"]);
    let w = WorkerSpec { concurrency: 0, ..WorkerSpec::default() };
    assert_eq!(w.validate("w")[0].0, "w.concurrency");
}

#[derive(Clone, Copy, Debug)]
struct Snapshot;

crate::wire! { timers #[allow(dead_code)] enum TTimer { W(Timer), Pool(PoolTimer), Snap(Snapshot) } }

/// The backlog the scaler sees: a step from 0 to 1,000 at 10 s, back to 0 at 30 s.
fn backlog(t: Time) -> u64 {
    if (10_000_000_000..30_000_000_000).contains(&t.0) { 1_000 } else { 0 }
}

#[allow(clippy::large_enum_variant)]
enum TNode {
    Scaler { scaler: Scaler, seen: Vec<(Time, u32, u32, u32)> },
    Worker(Box<Worker<()>>),
}

impl Actor for TNode {
    type Msg = Msg;
    type Timer = TTimer;
    type Record = ();
    fn on_start(&mut self, ctx: &mut Ctx<'_, Self>) {
        match self {
            TNode::Scaler { scaler, .. } => {
                scaler.start(ctx);
                ctx.set_timer(Duration::from_millis(100), TTimer::Snap(Snapshot));
            }
            TNode::Worker(w) => w.start(ctx),
        }
    }
    fn on_msg(&mut self, ctx: &mut Ctx<'_, Self>, from: NodeId, msg: Msg) {
        match self {
            TNode::Scaler { scaler, .. } => scaler.on_msg(ctx, from, &msg),
            TNode::Worker(w) => {
                // A drain completes at once: these workers have no jobs.
                if w.on_msg(ctx, &msg) == Some(WorkerEvent::Draining) {
                    w.stopped(ctx);
                }
            }
        }
    }
    fn on_timer(&mut self, ctx: &mut Ctx<'_, Self>, t: TTimer) {
        match (self, t) {
            (TNode::Scaler { scaler, .. }, TTimer::W(t)) => {
                let obs = Observation { backlog: backlog(ctx.now()) };
                scaler.on_timer(ctx, t, obs);
            }
            (TNode::Scaler { scaler, seen }, TTimer::Snap(_)) => {
                let (s, u, d) = scaler.counts();
                seen.push((ctx.now(), s, u, d));
                ctx.set_timer(Duration::from_millis(100), TTimer::Snap(Snapshot));
            }
            (TNode::Worker(w), TTimer::W(t)) => {
                w.on_timer(ctx, t);
            }
            _ => {}
        }
    }
}

fn run(faults: Vec<ScheduledFault>) -> Sim<TNode> {
    let spec = ScalerSpec {
        min: 2,
        max: 6,
        initial: 2,
        target: Target::Backlog(100.0),
        interval: Duration::from_secs(1),
        provisioning: Dist::Constant(Duration::from_secs(5)),
        scale_in_window: Duration::from_secs(3),
        session_timeout: Duration::from_secs(2),
    };
    let topo = Topology::from_spec(&TopologySpec { servers: 9, clients: 0, zones: Vec::new() }).unwrap();
    let config = SimConfig { faults, ..SimConfig::new(3) };
    let workers: Vec<NodeId> = (1..9).map(NodeId).collect();
    let mut sim = Sim::new(topo, config, move |n| {
        if n.0 == 0 {
            TNode::Scaler { scaler: Scaler::new("workers", spec.clone(), &workers), seen: Vec::new() }
        } else {
            TNode::Worker(Box::new(Worker::new("workers", WorkerSpec::default(), NodeId(0))))
        }
    });
    sim.run_until(Time(50_000_000_000));
    sim.finish_levels();
    sim
}

/// Mean of the kernel's `workers.up` level over second `s`.
fn up_in(sim: &Sim<TNode>, s: usize) -> f64 {
    let level = &sim.metrics().levels.get("workers", "up").expect("the workers level");
    level.intervals.get(s).map_or(0.0, |c| c.0 / 1e9)
}

fn seen(sim: &Sim<TNode>) -> &[(Time, u32, u32, u32)] {
    match sim.actor(NodeId(0)) {
        Some(TNode::Scaler { seen, .. }) => seen,
        _ => panic!("the scaler"),
    }
}

#[test]
fn a_backlog_step_adds_workers_after_the_cold_start_and_removes_them_after_it_clears() {
    let sim = run(Vec::new());
    let up: Vec<f64> = (0..50).map(|s| up_in(&sim, s)).collect();
    // Two warm workers until the step; the decision at 10 or 11 s starts four more (1,000 / 100
    // is 10, capped at 6), which serve only 5 s later.
    assert!(up[1..15].iter().all(|&u| u == 2.0), "{up:?}");
    assert!(up[17..30].iter().all(|&u| u == 6.0), "{up:?}");
    // The backlog clears at 30 s; the 3 s window keeps them until about 33-34 s, then min.
    assert!(up[30..33].iter().all(|&u| u == 6.0), "{up:?}");
    assert!(up[36..50].iter().all(|&u| u == 2.0), "{up:?}");
    // Never outside [min, max] for workers starting or up (after the start-up instant).
    for &(t, starting, up, _) in seen(&sim) {
        assert!((2..=6).contains(&(starting + up)), "at {t}: {starting} starting, {up} up");
    }
    let level = &sim.metrics().levels.get("workers", "up").expect("the workers level");
    assert_eq!(level.max, 6);
    let starting = &sim.metrics().levels.get("workers", "starting").expect("the starting level");
    assert_eq!(starting.max, 4);
    let Some(TNode::Scaler { scaler, .. }) = sim.actor(NodeId(0)) else { panic!() };
    assert_eq!((scaler.stats.started, scaler.stats.drained, scaler.stats.lost), (6, 4, 0));
}

#[test]
fn a_crashed_worker_is_noticed_and_replaced_after_a_cold_start() {
    // Worker node 2 (warm at start) dies at 20 s, in the middle of the step, and stays down.
    let crash = ScheduledFault {
        at: Duration::from_secs(20),
        duration: None,
        fault: Fault::Crash { node: 2, power_loss: false, corrupt_unsynced: 0.0 },
    };
    let sim = run(vec![crash]);
    let up: Vec<f64> = (0..50).map(|s| up_in(&sim, s)).collect();
    assert!(up[17..20].iter().all(|&u| u == 6.0), "{up:?}");
    // Five serve from the crash until the replacement, noticed within the 2 s session timeout
    // plus a decision, has done its 5 s cold start.
    assert!(up[21..26].iter().all(|&u| u == 5.0), "{up:?}");
    assert!(up[29..31].iter().all(|&u| u == 6.0), "{up:?}");
    let Some(TNode::Scaler { scaler, .. }) = sim.actor(NodeId(0)) else { panic!() };
    assert_eq!((scaler.stats.lost, scaler.stats.started), (1, 7));
}

crate::wire! { timers enum BenchTimer { Workers(Timer), Pool(PoolTimer) } }

#[test]
fn submit_for_runs_a_job_for_the_time_the_design_gives() {
    use crate::testing::{Bench, PartHost};
    let mut b = Bench::<PartHost<Msg, BenchTimer>>::new();
    let spec = WorkerSpec { concurrency: 2, ..WorkerSpec::default() };
    let mut w: Worker<u32> = Worker::new("runners", spec, NodeId(0));
    b.with(|ctx| w.start(ctx));
    assert!(matches!(b.drain().0[..], [(_, BenchTimer::Workers(Timer::Status))]), "the status loop");
    let event = b.with(|ctx| w.on_msg(ctx, &Msg::Start { seq: 1, after: Duration::ZERO }));
    assert_eq!(event, Some(WorkerEvent::Up));
    b.drain();
    b.with(|ctx| w.submit_for(ctx, 7, Duration::from_secs(7)));
    b.with(|ctx| w.submit_for(ctx, 8, Duration::from_millis(300)));
    assert!(!w.accepting(), "both slots busy");
    let timers = b.drain().0;
    let afters: Vec<Duration> = timers.iter().map(|t| t.0).collect();
    assert_eq!(afters, [Duration::from_secs(7), Duration::from_millis(300)]);
    let BenchTimer::Pool(t) = timers[0].1 else { panic!("a pool timer") };
    b.now = Time(7_000_000_000);
    assert_eq!(b.with(|ctx| w.on_pool_timer(ctx, t)), Some(7));
    assert!(w.accepting());
}

/// A pause of the scaler's node: its first decision after the pause runs before the workers'
/// reports that waited behind it, so every worker that had not reported between the pause's start
/// and the decision's due time looks silent for the whole pause. The decision forgives the silence
/// its own lateness accounts for (each pause below starts a different time before a decision, one
/// with 1 s decisions, 500 ms reports and a 2 s session timeout); a worker that really died
/// during a pause is still counted lost at a decision after the reports have been read.
#[test]
fn a_paused_scaler_does_not_take_its_own_stall_for_its_workers_silence() {
    let pause = |at_ms: u64| ScheduledFault {
        at: Duration::from_millis(at_ms),
        duration: Some(Duration::from_secs(3)),
        fault: Fault::Pause(0),
    };
    let mut spared = 0;
    for at_ms in (0..10).map(|k| 20_050 + 100 * k) {
        let sim = run(vec![pause(at_ms)]);
        let Some(TNode::Scaler { scaler, .. }) = sim.actor(NodeId(0)) else { panic!() };
        assert_eq!((scaler.stats.lost, scaler.stats.started), (0, 6), "paused at {at_ms} ms");
        spared += scaler.stats.stalls;
    }
    assert!(spared > 0, "some pause found a worker that looked silent only for the scaler's own stall");
    // Worker 2 dies during a pause of the scaler and stays down: lost, and replaced.
    let crash = ScheduledFault {
        at: Duration::from_millis(21_000),
        duration: None,
        fault: Fault::Crash { node: 2, power_loss: false, corrupt_unsynced: 0.0 },
    };
    let sim = run(vec![pause(20_950), crash]);
    let Some(TNode::Scaler { scaler, .. }) = sim.actor(NodeId(0)) else { panic!() };
    assert_eq!((scaler.stats.lost, scaler.stats.started), (1, 7));
}
