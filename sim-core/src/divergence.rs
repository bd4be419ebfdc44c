//! The determinism self-check's comparison: given the traces of two runs that should be the same,
//! the first event where they differ (as madsim does), so a nondeterminism bug is reported as
//! "at t=1.234s on n3 the first run delivered `put` from n1, the second fired timer `tick`", not as
//! two different hashes.

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
        TraceKind::Start => "start".to_string(),
        TraceKind::Deliver { from } => format!("deliver {} from {from}", e.label),
        TraceKind::Timer => format!("timer {}", e.label),
        TraceKind::Persisted => "persisted".to_string(),
        TraceKind::Op => format!("op {}", e.label),
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::actor::NodeId;
    use crate::time::Time;

    fn ev(t: u64, node: u32, kind: TraceKind, label: &str) -> TraceEvent {
        TraceEvent { time: Time(t), node: NodeId(node), kind, label: label.into(), detail: String::new() }
    }

    fn trace() -> Vec<TraceEvent> {
        vec![
            ev(0, 0, TraceKind::Start, "start"),
            ev(0, 1, TraceKind::Start, "start"),
            ev(1_000, 1, TraceKind::Deliver { from: NodeId(0) }, "ping"),
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
        b[2] = ev(1_000, 1, TraceKind::Deliver { from: NodeId(2) }, "ping");
        b[3] = ev(5, 5, TraceKind::Op, "get");
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
}
