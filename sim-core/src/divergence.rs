//! The determinism self-check's comparison: given the traces of two runs that should be the same,
//! the first event where they differ (as madsim does), so a nondeterminism bug is reported as
//! "at t=1.234s on n3 the first run delivered `put` from n1, the second fired timer `tick`", not as
//! two different hashes.

use crate::model::Model;
use crate::scenario::{RunOptions, Scenario, run};
use crate::world::{TraceEvent, TraceKind};
use std::fmt;

/// The first difference between two traces.
#[derive(Clone, Debug, PartialEq)]
pub struct Divergence {
    /// Position in both traces of the first event that differs.
    pub index: usize,
    /// The events there; `None` where that trace had already ended.
    pub first: Option<TraceEvent>,
    pub second: Option<TraceEvent>,
}

/// The first index at which `a` and `b` differ (time, node, kind, label or detail), or `None` if
/// they are identical.
pub fn first_divergence(a: &[TraceEvent], b: &[TraceEvent]) -> Option<Divergence> {
    let index = a.iter().zip(b).position(|(x, y)| x != y).unwrap_or(a.len().min(b.len()));
    if index == a.len() && index == b.len() {
        return None;
    }
    Some(Divergence { index, first: a.get(index).cloned(), second: b.get(index).cloned() })
}

/// One event as a line: `t=1.5s n2 deliver put from n0: Put { .. }`.
pub fn describe(e: &TraceEvent) -> String {
    let node = if e.node.0 == u32::MAX { "world".to_string() } else { e.node.to_string() };
    let kind = match e.kind {
        TraceKind::Start => e.label.clone(),
        TraceKind::Deliver { from, .. } => format!("deliver {} from {from}", e.label),
        TraceKind::Drop { from, sent, reason } => {
            format!("dropped {} from {from} sent at t={sent} ({})", e.label, reason.word())
        }
        TraceKind::Timer => format!("timer {}", e.label),
        TraceKind::Persisted => "persisted".to_string(),
        TraceKind::Op { op } => format!("invoke {} op {}", e.label, op.0),
        TraceKind::Complete { op, outcome } => format!("complete {} op {} {outcome:?}", e.label, op.0),
        TraceKind::Crash => e.label.clone(),
        TraceKind::Fault => format!("fault {}", e.label),
    };
    let detail = if e.detail.is_empty() { String::new() } else { format!(": {}", e.detail) };
    format!("t={} {node} {kind}{detail}", e.time)
}

impl fmt::Display for Divergence {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let side = |e: &Option<TraceEvent>| e.as_ref().map(describe).unwrap_or_else(|| "(trace ended)".into());
        write!(
            f,
            "the runs diverge at event #{}:\n  first run:  {}\n  second run: {}",
            self.index,
            side(&self.first),
            side(&self.second)
        )
    }
}

/// The verdict of running one scenario and seed twice.
#[derive(Clone, Debug, PartialEq)]
pub enum Determinism {
    /// Both runs processed the same events in the same order.
    /// `events`: processed events, the count `run` prints (`RunRecord::events`).
    Identical { trace_hash: String, events: u64 },
    /// The first event where the runs differ.
    Diverged { divergence: Divergence, trace_hashes: (String, String) },
    /// Identical traces, different trace hashes: the runs differ in something the trace does not
    /// show (the kernel's event sequence numbers, say).
    HashesDiffer { trace_hashes: (String, String) },
}

impl fmt::Display for Determinism {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Determinism::Identical { trace_hash, events } => {
                write!(f, "deterministic: two runs processed the same {events} events (trace hash {trace_hash})")
            }
            Determinism::Diverged { divergence, trace_hashes: (a, b) } => {
                write!(f, "NOT deterministic (trace hashes {a} and {b}): {divergence}")
            }
            Determinism::HashesDiffer { trace_hashes: (a, b) } => write!(
                f,
                "NOT deterministic: identical traces but different trace hashes ({a} and {b}); the runs differ in \
                 event sequence numbers"
            ),
        }
    }
}

/// Runs `sc` with `seed` twice with the full trace on (`simctl run --check-determinism`) and
/// compares. Memory grows with the run: every event is kept twice.
pub fn check_determinism<M: Model>(sc: &Scenario<M::Config>, seed: u64) -> Determinism {
    let go = || {
        let out = run::<M>(sc, RunOptions { seed: Some(seed), trace: true, ..Default::default() });
        (out.record.trace_hash, out.record.events, out.trace.unwrap_or_default())
    };
    let (hash_a, events, trace_a) = go();
    let (hash_b, _, trace_b) = go();
    match first_divergence(&trace_a, &trace_b) {
        Some(divergence) => Determinism::Diverged { divergence, trace_hashes: (hash_a, hash_b) },
        None if hash_a != hash_b => Determinism::HashesDiffer { trace_hashes: (hash_a, hash_b) },
        None => Determinism::Identical { trace_hash: hash_a, events },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::actor::{Actor, Ctx, Message, NodeId};
    use crate::model::{Check, ModelReport, RunView};
    use crate::rng::Prng;
    use crate::time::{Duration, Time};
    use crate::topology::Topology;
    use std::sync::atomic::{AtomicU32, Ordering};

    fn ev(t: u64, node: u32, kind: TraceKind, label: &str) -> TraceEvent {
        TraceEvent { time: Time(t), node: NodeId(node), kind, label: label.into(), detail: String::new() }
    }

    fn trace() -> Vec<TraceEvent> {
        vec![
            ev(0, 0, TraceKind::Start, "start"),
            ev(0, 1, TraceKind::Start, "start"),
            ev(1_000, 1, TraceKind::Deliver { from: NodeId(0), sent: Time(0) }, "ping"),
            ev(2_000, 0, TraceKind::Timer, "tick"),
        ]
    }

    #[test]
    fn identical_traces_do_not_diverge() {
        assert_eq!(first_divergence(&trace(), &trace()), None);
        assert_eq!(first_divergence(&[], &[]), None);
    }

    #[test]
    fn the_first_differing_event_is_named() {
        let a = trace();
        let mut b = trace();
        b[2] = ev(1_000, 1, TraceKind::Deliver { from: NodeId(2), sent: Time(0) }, "ping");
        b[3] = ev(5, 5, TraceKind::Op { op: crate::actor::OpId(3) }, "get");
        let d = first_divergence(&a, &b).unwrap();
        assert_eq!(d.index, 2);
        assert_eq!(d.first.as_ref(), Some(&a[2]));
        assert_eq!(d.second.as_ref(), Some(&b[2]));
        let text = d.to_string();
        assert!(text.contains("#2") && text.contains("deliver ping from n0") && text.contains("from n2"), "{text}");
        assert!(text.contains("t=1us n1"), "{text}");
    }

    #[test]
    fn a_trace_that_stops_early_diverges_where_it_ends() {
        let a = trace();
        let d = first_divergence(&a, &a[..3]).unwrap();
        assert_eq!((d.index, d.second.clone()), (3, None));
        assert!(d.to_string().contains("(trace ended)"));
        let mut fault = ev(7, u32::MAX, TraceKind::Fault, "crash n1");
        fault.detail = String::new();
        assert_eq!(describe(&fault), "t=7ns world fault crash n1");
    }

    // A ping-pong model; the `Leaky` variant reads a process-wide counter (the kind of hidden
    // global a real nondeterminism bug is), so its second run picks a different peer.
    #[derive(Clone, Debug)]
    struct Ping;
    impl Message for Ping {
        fn kind(&self) -> &'static str {
            "ping"
        }
    }
    struct Node {
        peers: u32,
        salt: u32,
    }
    impl Actor for Node {
        type Msg = Ping;
        type Timer = ();
        type Record = ();
        fn on_start(&mut self, ctx: &mut Ctx<'_, Self>) {
            if ctx.id() == NodeId(0) {
                ctx.send(NodeId(1 + self.salt % (self.peers - 1)), Ping);
            }
        }
        fn on_msg(&mut self, ctx: &mut Ctx<'_, Self>, from: NodeId, msg: Ping) {
            if ctx.now() < Time(Duration::from_millis(50).0) {
                ctx.send(from, msg);
            }
        }
    }
    static RUNS: AtomicU32 = AtomicU32::new(0);
    struct Clean;
    struct Leaky;
    fn model_factory(salt: u32, topo: &Topology) -> Box<dyn FnMut(NodeId) -> Node> {
        let peers = topo.node_count() as u32;
        Box::new(move |_| Node { peers, salt })
    }
    fn model_report(run: &RunView<'_, Node>) -> ModelReport {
        let mut r = ModelReport::default();
        r.checks.push(Check::judged("ran", run.sim.events_processed(), "events processed").passed_if(true));
        r
    }
    impl Model for Clean {
        const NAME: &'static str = "ping";
        const ABOUT: &'static str = "ping-pong";
        const OP_KINDS: &'static [&'static str] = &[];
        const CHECKS: &'static [&'static str] = &["ran"];
        type Config = ();
        type Actor = Node;
        fn factory(_: &(), topo: &Topology, setup: &mut Prng) -> Box<dyn FnMut(NodeId) -> Node> {
            model_factory(setup.below(1000) as u32, topo)
        }
        fn report(_: &(), run: &RunView<'_, Node>) -> ModelReport {
            model_report(run)
        }
    }
    impl Model for Leaky {
        const NAME: &'static str = "ping";
        const ABOUT: &'static str = "ping-pong with a hidden global";
        const OP_KINDS: &'static [&'static str] = &[];
        const CHECKS: &'static [&'static str] = &["ran"];
        type Config = ();
        type Actor = Node;
        fn factory(_: &(), topo: &Topology, _: &mut Prng) -> Box<dyn FnMut(NodeId) -> Node> {
            model_factory(RUNS.fetch_add(1, Ordering::SeqCst), topo)
        }
        fn report(_: &(), run: &RunView<'_, Node>) -> ModelReport {
            model_report(run)
        }
    }

    fn ping_scenario() -> Scenario<()> {
        ron::from_str(r#"(name: "ping", model: "ping", duration: "100ms", topology: (servers: 4, clients: 0))"#)
            .unwrap()
    }

    #[test]
    fn a_deterministic_model_runs_identically_twice() {
        match check_determinism::<Clean>(&ping_scenario(), 9) {
            Determinism::Identical { events, .. } => assert!(events > 20, "{events}"),
            other => panic!("{other}"),
        }
    }

    #[test]
    fn a_hidden_global_is_caught_at_the_first_differing_event() {
        let d = check_determinism::<Leaky>(&ping_scenario(), 9);
        let Determinism::Diverged { divergence, trace_hashes } = &d else { panic!("{d}") };
        assert_ne!(trace_hashes.0, trace_hashes.1);
        // Both runs start the four nodes alike; the first delivery goes to a different peer.
        assert_eq!(divergence.index, 4, "{d}");
        let (a, b) = (divergence.first.as_ref().unwrap(), divergence.second.as_ref().unwrap());
        assert!(matches!(a.kind, TraceKind::Deliver { from: NodeId(0), .. }));
        assert_ne!(a.node, b.node);
        assert!(d.to_string().starts_with("NOT deterministic"), "{d}");
    }
}
