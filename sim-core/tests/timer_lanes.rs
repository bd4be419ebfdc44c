//! Timer lanes ([`Sim::set_timer_lanes`]) change nothing a run shows: with lanes and with every
//! timer in the event queue, the same events in the same order (trace hash), the same skipped
//! timers, the same stop reason, clock and pending events, whatever the timers' spans, cancels,
//! crashes, pauses, clock drift and where the run stops.

use sim_core::fault::{Fault, ScheduledFault};
use sim_core::net::{LinkSpec, NetworkSpec};
use sim_core::{Actor, Ctx, Dist, Duration, Message, NodeId, Sim, SimConfig, Time, TimerId, Topology};

#[derive(Clone, Debug)]
enum Msg {
    Request(u64),
    Reply(u64),
}
impl Message for Msg {
    fn kind(&self) -> &'static str {
        match self {
            Msg::Request(_) => "request",
            Msg::Reply(_) => "reply",
        }
    }
}

#[derive(Clone, Debug)]
enum Tick {
    Send,
    Timeout(u64),
    Once,
}

/// Every millisecond (until `stop_sending`), a request to a random peer with a timeout of one of
/// a few spans (or a random one); a reply cancels it, and so, now and then, does the sender for
/// no reason. Some timeouts fire (lost messages, crashed and paused peers).
#[derive(Default)]
struct Client {
    peers: u32,
    next: u64,
    outstanding: Vec<(u64, TimerId)>,
    fired: u64,
    stop_sending: u64,
    arm_late_one: bool,
    /// Node 0 also sets a timer due at 30 s, which keeps an event in the queue past the others.
    far: bool,
}

const LATE: Duration = Duration::from_millis(10_000);

impl Actor for Client {
    type Msg = Msg;
    type Timer = Tick;
    type Record = u64;

    fn on_start(&mut self, ctx: &mut Ctx<'_, Self>) {
        self.outstanding.clear();
        ctx.set_timer(Duration::from_millis(1), Tick::Send);
        // Node 0: three timers of one span due long after the traffic, two of them cancelled
        // (one due at the first's time, one a tick later): dead timers left in a lane after the
        // last event, which the stops below must settle as the queue did.
        if ctx.id().0 == 0 {
            ctx.set_timer(LATE, Tick::Once);
            let same_time = ctx.set_timer(LATE, Tick::Once);
            ctx.cancel_timer(same_time);
            self.arm_late_one = true;
            // Due after the dead ones, in a lane of its own: the run's last event.
            ctx.set_timer(Duration::from_millis(10_005), Tick::Once);
            if self.far {
                ctx.set_timer(Duration::from_millis(30_000), Tick::Once);
            }
        }
    }
    fn on_msg(&mut self, ctx: &mut Ctx<'_, Self>, from: NodeId, msg: Msg) {
        match msg {
            Msg::Request(n) => ctx.send(from, Msg::Reply(n)),
            Msg::Reply(n) => {
                if let Some(i) = self.outstanding.iter().position(|o| o.0 == n) {
                    ctx.cancel_timer(self.outstanding.swap_remove(i).1);
                }
            }
        }
    }
    fn on_timer(&mut self, ctx: &mut Ctx<'_, Self>, timer: Tick) {
        match timer {
            Tick::Send => {
                if std::mem::take(&mut self.arm_late_one) {
                    let later = ctx.set_timer(LATE, Tick::Once);
                    ctx.cancel_timer(later);
                }
                if ctx.now().0 >= self.stop_sending {
                    return;
                }
                let to = NodeId(ctx.rng().below(self.peers as u64) as u32);
                self.next += 1;
                ctx.send(to, Msg::Request(self.next));
                let span = match ctx.rng().below(5) {
                    0 | 1 => Duration::from_millis(5),
                    2 => Duration::from_millis(7),
                    3 => Duration::from_millis(20),
                    _ => Duration(1 + ctx.rng().below(30_000_000)),
                };
                let t = ctx.set_timer(span, Tick::Timeout(self.next));
                self.outstanding.push((self.next, t));
                if ctx.rng().below(10) == 0 && !self.outstanding.is_empty() {
                    let i = ctx.rng().below(self.outstanding.len() as u64) as usize;
                    ctx.cancel_timer(self.outstanding.swap_remove(i).1);
                }
                ctx.set_timer(Duration::from_millis(1), Tick::Send);
            }
            Tick::Timeout(n) => {
                self.fired += 1;
                self.outstanding.retain(|o| o.0 != n);
            }
            Tick::Once => self.fired += 1_000_000,
        }
    }
}

fn fault(at_ms: u64, duration_ms: Option<u64>, fault: Fault) -> ScheduledFault {
    ScheduledFault { at: Duration::from_millis(at_ms), duration: duration_ms.map(Duration::from_millis), fault }
}

/// What a run shows: trace hash, events, skipped timers, stop reason, clock, pending events and
/// the timeouts each node saw fire.
fn run(seed: u64, lanes: usize, stops: &[u64], max_events: u64, far: bool) -> Vec<String> {
    let mut cfg = SimConfig::new(seed);
    cfg.network = NetworkSpec {
        link: LinkSpec {
            latency: Dist::LogNormal { median: Duration::from_millis(2), sigma: 0.8 },
            loss: 0.05,
            ..Default::default()
        },
        ..Default::default()
    };
    cfg.faults = vec![
        fault(40, Some(30), Fault::Crash { node: 1, power_loss: false, corrupt_unsynced: 0.0 }),
        fault(90, None, Fault::Pause(2)),
        fault(97, None, Fault::Resume(2)),
        fault(20, None, Fault::ClockDrift { node: 3, ppm: 150.0 }),
    ];
    cfg.max_events = max_events;
    let nodes = 5;
    let stop_sending = Duration::from_millis(150).0;
    let mut sim = Sim::new(Topology::simple(nodes, 0), cfg, move |_| Client {
        peers: nodes,
        stop_sending,
        far,
        ..Default::default()
    });
    sim.set_timer_lanes(lanes);
    let mut seen = Vec::new();
    for &end in stops {
        let stop = sim.run_until(Time(Duration::from_millis(end).0));
        let fired: Vec<u64> = (0..nodes).map(|n| sim.actor(NodeId(n)).map_or(0, |a| a.fired)).collect();
        seen.push(format!(
            "until {end} ms: {stop:?} at {:?}, hash {:x}, {} events, {} skipped, {} pending, fired {fired:?}",
            sim.now(),
            sim.trace_hash(),
            sim.events_processed(),
            sim.events_skipped(),
            sim.pending_events()
        ));
    }
    seen
}

#[test]
fn a_run_is_the_same_with_and_without_timer_lanes() {
    // Stops in the middle of the traffic, after it (timeouts still due), at the first late timer
    // (the dead one a tick later keeps the run from being quiescent) and after all (quiescent,
    // the clock at the last event's time, after the dead ones').
    let stops = [33, 95, 151, 160, 400, 10_000, 20_000];
    for seed in 0..12 {
        let queue_only = run(seed, 0, &stops, u64::MAX, false);
        assert_eq!(run(seed, 16, &stops, u64::MAX, false), queue_only, "seed {seed}");
        assert_eq!(run(seed, 2, &stops, u64::MAX, false), queue_only, "seed {seed}, two lanes");
        let limited = run(seed, 0, &stops, 1_500, false);
        assert!(limited.iter().any(|s| s.contains("EventLimit")), "{limited:?}");
        assert_eq!(run(seed, 16, &stops, 1_500, false), limited, "seed {seed}, event limit");
    }
    let seen = run(3, 16, &stops, u64::MAX, false);
    assert!(seen[5].contains("TimeLimit at t=10s"), "{seen:?}");
    assert!(seen[6].contains("Quiescent at t=10005ms"), "{seen:?}");
    // The runs judged something: timeouts fired and were skipped.
    let skipped: u64 = seen[2].split(", ").find_map(|p| p.strip_suffix(" skipped")?.parse().ok()).expect("skipped");
    assert!(skipped > 300, "{seen:?}");
    assert!(!seen[2].contains("fired [0, 0, 0, 0, 0]"), "{seen:?}");
}

/// The event limit reached at the late timer's event: the dead timer due at the same time, armed
/// after it, was next in the queue and is not tallied; the run stopped at the limit, not at the
/// end, both with the queue empty and with an event due after the end.
#[test]
fn an_event_limit_at_a_lane_timer_leaves_the_dead_one_behind_it() {
    for far in [false, true] {
        let before = run(5, 0, &[9_999], u64::MAX, far);
        let events: u64 = before[0].split(", ").find_map(|p| p.strip_suffix(" events")?.parse().ok()).expect("events");
        let queue_only = run(5, 0, &[20_000], events + 1, far);
        assert!(queue_only[0].contains("EventLimit at t=10s"), "{queue_only:?}");
        assert_eq!(run(5, 16, &[20_000], events + 1, far), queue_only, "far: {far}");
    }
}
