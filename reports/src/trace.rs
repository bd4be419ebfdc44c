//! A run's event trace (`RunOptions { trace: true }`) rendered three ways for `simctl replay`:
//! JSON lines (one event per line, for `jq` and scripts), the Chrome trace-event format (opens in
//! Perfetto or `chrome://tracing`, one track per node), and a Lamport (sequence) diagram as SVG of
//! the events around a moment, usually the first operation a failed check blames.
//!
//! The kernel traces the events handlers run for, the faults, and what happened without a handler:
//! dropped messages (`TraceKind::Drop`, with the reason), crashes and completed operations. A
//! message appears once, when it is delivered (`TraceKind::Deliver { from, sent }`) or dropped,
//! and carries the (true) time it was sent. So every message is drawn as a real arrow from the
//! sender at its send time to the receiver: in the diagram from the sender's row that sent it (the
//! last event of the sender at or before `sent`; when that row is outside the window, from the top
//! edge, labelled with the send time), and in the Chrome trace as a flow event (`ph: "s"` on the
//! sender's track at the send time, `ph: "f"` on the receiver's at delivery), which Perfetto draws
//! as an arrow between the two handlers' slices. Rows are events in processing order (not a linear
//! time scale), so events at the same instant stay readable; the left margin gives each row's
//! simulated time.
//!
//! Pure: every function returns a `String`; the CLI writes the files.

use serde::Serialize;
use sim_core::topology::Topology;
use sim_core::world::{TraceEvent, TraceKind};
use sim_core::{Duration, NodeId, OpId, Time};
use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write;

/// The node id the kernel uses for world events (faults).
const WORLD: u32 = u32::MAX;

fn kind_name(k: TraceKind) -> &'static str {
    match k {
        TraceKind::Start => "start",
        TraceKind::Deliver { .. } => "deliver",
        TraceKind::Drop { .. } => "drop",
        TraceKind::Timer => "timer",
        TraceKind::Persisted => "persisted",
        TraceKind::Op { .. } => "invoke",
        TraceKind::Complete { .. } => "complete",
        TraceKind::Crash => "crash",
        TraceKind::Fault => "fault",
    }
}

/// Whether a handler of the node's actor ran for this event (the others are records: drops,
/// completions, crashes, faults).
fn is_handler(k: TraceKind) -> bool {
    matches!(
        k,
        TraceKind::Start | TraceKind::Deliver { .. } | TraceKind::Timer | TraceKind::Persisted | TraceKind::Op { .. }
    )
}

fn from_of(e: &TraceEvent) -> Option<u32> {
    match e.kind {
        TraceKind::Deliver { from, .. } | TraceKind::Drop { from, .. } => Some(from.0),
        _ => None,
    }
}

fn sent_of(e: &TraceEvent) -> Option<Time> {
    match e.kind {
        TraceKind::Deliver { sent, .. } | TraceKind::Drop { sent, .. } => Some(sent),
        _ => None,
    }
}

fn node_of(e: &TraceEvent) -> Option<u32> {
    (e.node.0 != WORLD).then_some(e.node.0)
}

#[derive(Serialize)]
struct JsonEvent<'a> {
    i: usize,
    t_ns: u64,
    t: String,
    /// `null` for world events (faults).
    node: Option<u32>,
    event: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    from: Option<u32>,
    /// A delivery's or drop's send time, nanoseconds.
    #[serde(skip_serializing_if = "Option::is_none")]
    sent_ns: Option<u64>,
    /// Why a message was dropped.
    #[serde(skip_serializing_if = "Option::is_none")]
    reason: Option<&'static str>,
    /// The operation invoked or completed.
    #[serde(skip_serializing_if = "Option::is_none")]
    op: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    outcome: Option<sim_core::Outcome>,
    label: &'a str,
    detail: &'a str,
}

/// One JSON object per line: `{"i":0,"t_ns":1000,"t":"1us","node":1,"event":"deliver","from":0,
/// "sent_ns":0,"label":"ping","detail":"Ping(3)"}`; a drop adds `reason`, an invoke or a
/// completion `op` (and `outcome`). `first` is the index of `events[0]` in the whole trace (the
/// `i` of a windowed trace stays the event's index in the run).
pub fn json_lines(events: &[TraceEvent], first: usize) -> String {
    let mut out = String::new();
    for (i, e) in events.iter().enumerate() {
        let (op, outcome) = match e.kind {
            TraceKind::Op { op } => (Some(op.0), None),
            TraceKind::Complete { op, outcome } => (Some(op.0), Some(outcome)),
            _ => (None, None),
        };
        let j = JsonEvent {
            i: first + i,
            t_ns: e.time.0,
            t: e.time.to_string(),
            node: node_of(e),
            event: kind_name(e.kind),
            from: from_of(e),
            sent_ns: sent_of(e).map(|t| t.0),
            reason: match e.kind {
                TraceKind::Drop { reason, .. } => Some(reason.word()),
                _ => None,
            },
            op,
            outcome,
            label: &e.label,
            detail: &e.detail,
        };
        out.push_str(&serde_json::to_string(&j).expect("trace events serialize"));
        out.push('\n');
    }
    out
}

fn micros(t: u64) -> serde_json::Value {
    // Whole microseconds as integers; finer times keep their nanoseconds as a fraction.
    if t.is_multiple_of(1_000) { serde_json::json!(t / 1_000) } else { serde_json::json!(t as f64 / 1_000.0) }
}

/// The longest slice a handler gets in the Chrome trace, ns.
pub const SLICE_NS: u64 = 1_000;

/// The Chrome trace-event format (JSON object form) of `events` (a window of the trace; `first`
/// is the index of `events[0]` in the whole trace): process 0 is the cluster, thread `n` is node
/// `n` (named `n3 server` / `n5 client` when a topology is given).
///
/// Every handler is a complete event (`ph: "X"`) starting at its time. Simulated handlers take no
/// time, so the duration is only for drawing and for flow binding: until the node's next event
/// at a later time, at most [`SLICE_NS`]; events of one node at the same instant nest, each 1 ns
/// shorter than the one before. A delivery's `args` name the sender and the send time, and a flow
/// event pair (`ph: "s"` on the sender's track at the send time, `ph: "f"` with `bp: "e"` on the
/// receiver's at delivery, `id` = the delivery's index) draws the message as an arrow: Perfetto
/// binds a flow event to the slice enclosing it on its track, and the sender's handler that sent
/// the message is a slice starting at the send time. A message sent before the window gets no
/// flow (its delivery slice says who sent it, and when). Dropped messages, completions and
/// crashes are thread-scoped instants (`ph: "i"`) on the node's track; faults are global
/// instants, drawn across every track. Timestamps are in microseconds.
pub fn chrome_trace(events: &[TraceEvent], first: usize, topo: Option<&Topology>) -> String {
    use serde_json::{Value, json};
    let mut nodes: BTreeSet<u32> = events.iter().filter_map(node_of).collect();
    nodes.extend(events.iter().filter_map(from_of));
    if let Some(t) = topo {
        nodes.extend(t.nodes().map(|n| n.0));
    }
    let mut out: Vec<Value> = vec![json!({"name": "process_name", "ph": "M", "pid": 0, "tid": 0,
        "args": {"name": "simctl cluster"}})];
    for &n in &nodes {
        let role = match topo {
            Some(t) if t.is_server(NodeId(n)) => " server",
            Some(t) if t.is_client(NodeId(n)) => " client",
            _ => "",
        };
        out.push(
            json!({"name": "thread_name", "ph": "M", "pid": 0, "tid": n, "args": {"name": format!("n{n}{role}")}}),
        );
        out.push(json!({"name": "thread_sort_index", "ph": "M", "pid": 0, "tid": n, "args": {"sort_index": n}}));
    }
    let durations = slice_durations(events);
    let lo = events.first().map_or(Time::ZERO, |e| e.time);
    let mut flows: Vec<Value> = Vec::new();
    for (k, e) in events.iter().enumerate() {
        let i = first + k;
        let mut args = serde_json::Map::new();
        args.insert("i".into(), json!(i));
        args.insert("t".into(), json!(e.time.to_string()));
        if !e.detail.is_empty() {
            args.insert("detail".into(), json!(e.detail));
        }
        let Some(n) = node_of(e) else {
            out.push(json!({"name": e.label, "cat": "fault", "ph": "i", "s": "g", "ts": micros(e.time.0),
                "pid": 0, "tid": 0, "args": args}));
            continue;
        };
        let name = match e.kind {
            TraceKind::Deliver { from, sent } => {
                args.insert("from".into(), json!(format!("n{}", from.0)));
                args.insert("sent".into(), json!(sent.to_string()));
                if sent >= lo {
                    flows.push(json!({"name": e.label, "cat": "message", "ph": "s", "id": i,
                        "ts": micros(sent.0), "pid": 0, "tid": from.0}));
                    flows.push(json!({"name": e.label, "cat": "message", "ph": "f", "bp": "e", "id": i,
                        "ts": micros(e.time.0), "pid": 0, "tid": n}));
                }
                format!("{} <- n{}", e.label, from.0)
            }
            TraceKind::Drop { from, sent, reason } => {
                args.insert("from".into(), json!(format!("n{}", from.0)));
                args.insert("sent".into(), json!(sent.to_string()));
                args.insert("reason".into(), json!(reason.word()));
                format!("DROPPED {} <- n{} ({})", e.label, from.0, reason.word())
            }
            TraceKind::Timer => format!("timer {}", e.label),
            TraceKind::Op { op } => format!("invoke {} op {}", e.label, op.0),
            TraceKind::Complete { op, outcome } => format!("{} op {} {outcome:?}", e.label, op.0),
            _ => e.label.clone(),
        };
        let ev = match durations[k] {
            Some(dur) => json!({"name": name, "cat": kind_name(e.kind), "ph": "X", "ts": micros(e.time.0),
                "dur": micros(dur), "pid": 0, "tid": n, "args": args}),
            None => json!({"name": name, "cat": kind_name(e.kind), "ph": "i", "s": "t", "ts": micros(e.time.0),
                "pid": 0, "tid": n, "args": args}),
        };
        out.push(ev);
    }
    // After the slices: a flow event at a slice's start time is read after the slice opened.
    out.extend(flows);
    let doc = json!({"traceEvents": out, "displayTimeUnit": "ns", "otherData": {"generator": "simctl replay"}});
    serde_json::to_string(&doc).expect("chrome trace serializes")
}

/// Per event, the duration (ns) of its slice, for handler events (`None`: an instant).
fn slice_durations(events: &[TraceEvent]) -> Vec<Option<u64>> {
    let mut out = vec![None; events.len()];
    // Walking backwards: per node, the time of its next handler event at a later time.
    let mut next: BTreeMap<u32, Time> = BTreeMap::new();
    let mut current: BTreeMap<u32, Time> = BTreeMap::new();
    for (k, e) in events.iter().enumerate().rev() {
        let Some(n) = node_of(e).filter(|_| is_handler(e.kind)) else { continue };
        let cur = current.entry(n).or_insert(e.time);
        if *cur != e.time {
            // Moving to an earlier instant: the one just left is this node's next.
            next.insert(n, *cur);
            *cur = e.time;
        }
        out[k] = Some(next.get(&n).map_or(SLICE_NS, |t| (t.0 - e.time.0).min(SLICE_NS)));
    }
    // Same-instant events: the first keeps its duration, each later one is 1 ns shorter.
    let mut run: BTreeMap<u32, (Time, u64)> = BTreeMap::new();
    for (k, e) in events.iter().enumerate() {
        let (Some(n), Some(d)) = (node_of(e), out[k]) else { continue };
        let r = run.entry(n).or_insert((e.time, 0));
        if r.0 != e.time {
            *r = (e.time, 0);
        } else if r.1 > 0 {
            out[k] = Some(d.saturating_sub(r.1).max(1));
        }
        r.1 += 1;
    }
    out
}

/// The events with `lo <= time <= hi` (traces are in time order), as an index range.
pub fn time_range(events: &[TraceEvent], lo: Time, hi: Time) -> std::ops::Range<usize> {
    let start = events.partition_point(|e| e.time < lo);
    let end = events.partition_point(|e| e.time <= hi);
    start..end.max(start)
}

/// The events with `center - window/2 <= time <= center + window/2`.
pub fn window_around(events: &[TraceEvent], center: Time, window: Duration) -> &[TraceEvent] {
    &events[window_range(events, center, window)]
}

/// [`window_around`] as an index range.
pub fn window_range(events: &[TraceEvent], center: Time, window: Duration) -> std::ops::Range<usize> {
    time_range(events, Time(center.0.saturating_sub(window.0 / 2)), Time(center.0.saturating_add(window.0 / 2)))
}

/// The operation the diagram is about (a failed check's first blamed operation).
#[derive(Clone, Debug)]
pub struct Focus {
    pub op: OpId,
    pub invoke: Time,
    pub complete: Option<Time>,
}

/// What the sequence diagram shows.
#[derive(Clone, Debug)]
pub struct DiagramOptions {
    pub title: String,
    /// A second line under the title (why the diagram is centred where it is).
    pub subtitle: String,
    /// The moment of interest: events within `window / 2` of it are drawn, and without a
    /// `focus` its rows are highlighted.
    pub center: Time,
    /// Events within `window / 2` of `center` are drawn (and, with a `focus`, up to its completion).
    pub window: Duration,
    /// The blamed operation: its invoke and completion rows are highlighted, and the messages on
    /// its causal path (sent after it was invoked by an event it happened-before, and delivered
    /// or dropped in the past of its completion) are drawn bold orange (a dropped one bold red).
    pub focus: Option<Focus>,
    /// Columns to draw (default: every node in the window); other nodes' events are left out,
    /// and messages from them start at a stub that names the sender.
    pub nodes: Option<Vec<NodeId>>,
    /// At most this many rows. Beyond it, the rows kept are, in order: the focus operation's
    /// invoke and completion, the events on its causal path, crashes, restarts and faults, then
    /// the rest nearest `center`. Where rows were left out between two rows, a grey line says how
    /// many.
    pub max_events: usize,
}

/// The default bound on the diagram's rows: about 3,000 px.
pub const MAX_ROWS: usize = 140;

impl Default for DiagramOptions {
    fn default() -> Self {
        DiagramOptions {
            title: String::new(),
            subtitle: String::new(),
            center: Time::ZERO,
            window: Duration::from_millis(100),
            focus: None,
            nodes: None,
            max_events: MAX_ROWS,
        }
    }
}

/// Escapes text for XML content and attribute values, dropping characters XML 1.0 cannot hold.
pub fn xml_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            '\t' | '\n' | '\r' => out.push(c),
            c if (c as u32) < 0x20 || c == '\u{FFFE}' || c == '\u{FFFF}' => {}
            c => out.push(c),
        }
    }
    out
}

fn shorten(s: &str, max_chars: usize) -> String {
    if s.chars().count() <= max_chars {
        s.to_string()
    } else {
        let mut t: String = s.chars().take(max_chars.saturating_sub(1)).collect();
        t.push('…');
        t
    }
}

/// The events on the causal path of the operation invoked at trace index `invoke` and completed
/// at `complete` (or still pending at the end of the trace): those that happened after the
/// invocation and before the completion (Lamport's happened-before). A server's events follow
/// one another (its state carries over); the client's do not, since a client runs many
/// operations at once: of its events, only the invocation, the deliveries of messages on the
/// path, and the handler that completed the operation count, and a message it sent is on the
/// path only when one of those sent it. A delivery is on the path when its message is (sent
/// after the invocation, by an event on the path); a drop when its send is. Trace indexes.
pub fn causal_path(events: &[TraceEvent], invoke: usize, complete: Option<usize>) -> BTreeSet<usize> {
    let end = complete.unwrap_or(events.len().saturating_sub(1)).min(events.len().saturating_sub(1));
    if invoke > end {
        return BTreeSet::new();
    }
    let client = events[invoke].node.0;
    // Forward. Servers: from which time their events follow the invocation. The client: the
    // times of its handlers on the path (what it sends then is on the path).
    let mut after: BTreeMap<u32, Time> = BTreeMap::new();
    let mut client_at: BTreeSet<Time> = BTreeSet::from([events[invoke].time]);
    let mut future = BTreeSet::from([invoke]);
    for (i, e) in events.iter().enumerate().take(end + 1).skip(invoke + 1) {
        let Some(n) = node_of(e) else { continue };
        let sent_on_path = |from: NodeId, sent: Time| {
            if from.0 == client { client_at.contains(&sent) } else { after.get(&from.0).is_some_and(|&t| t <= sent) }
        };
        let on_path = match e.kind {
            TraceKind::Deliver { from, sent } | TraceKind::Drop { from, sent, .. } => sent_on_path(from, sent),
            _ => false,
        };
        if matches!(e.kind, TraceKind::Drop { .. }) {
            if on_path {
                future.insert(i);
            }
            continue;
        }
        if n == client {
            if on_path {
                client_at.insert(e.time);
                future.insert(i);
            }
        } else if on_path || after.get(&n).is_some_and(|&t| t <= e.time) {
            after.entry(n).or_insert(e.time);
            // A server's own event after the invocation is in its future, but only messages
            // sent on the path are drawn as on it.
            if on_path || !matches!(e.kind, TraceKind::Deliver { .. }) {
                future.insert(i);
            }
        }
    }
    let Some(complete) = complete.filter(|&c| c < events.len()) else { return future };
    // Backward: per server, the time up to which its events precede the completion; of the
    // client's events, the handler that completed the operation and what led to it.
    let completer = (invoke..complete).rev().find(|&i| events[i].node.0 == client && is_handler(events[i].kind));
    let mut before: BTreeMap<u32, Time> = BTreeMap::new();
    let mut client_past: BTreeSet<Time> = BTreeSet::new();
    let mut path = BTreeSet::from([complete]);
    for i in (invoke..complete).rev() {
        let e = &events[i];
        let Some(n) = node_of(e) else { continue };
        let in_past = match e.kind {
            // A drop reaches nobody: it is in the past when its send is.
            TraceKind::Drop { from, sent, .. } if from.0 == client => client_past.contains(&sent),
            TraceKind::Drop { from, sent, .. } => before.get(&from.0).is_some_and(|&t| sent <= t),
            _ if n == client => Some(i) == completer || client_past.contains(&e.time),
            _ => before.get(&n).is_some_and(|&t| e.time <= t),
        };
        if !in_past {
            continue;
        }
        if let TraceKind::Deliver { from, sent } = e.kind {
            if from.0 == client {
                client_past.insert(sent);
            } else {
                let h = before.entry(from.0).or_insert(sent);
                *h = (*h).max(sent);
            }
        }
        if future.contains(&i) {
            path.insert(i);
        }
    }
    path
}

const COL_W: f64 = 120.0;
const ROW_H: f64 = 20.0;
const LEFT: f64 = 110.0;
const TOP: f64 = 84.0;
const BLUE: &str = "#1f4e99";
const PATH: &str = "#e65100";
const RED: &str = "#c62828";

/// How a completion reads: `Ok: Value(7)`.
fn completion_text(e: &TraceEvent, op: OpId, outcome: sim_core::Outcome) -> String {
    let reply = match e.detail.as_str() {
        "" | "None" => String::new(),
        d => format!(" -> {}", shorten(d, 24)),
    };
    format!("done {} op {} {outcome:?}{reply}", shorten(&e.label, 12), op.0)
}
/// The trace indexes of the focus operation's invocation and completion.
fn focus_rows(events: &[TraceEvent], opts: &DiagramOptions) -> Option<(usize, Option<usize>)> {
    opts.focus.as_ref().and_then(|f| {
        let from = events.partition_point(|e| e.time < f.invoke);
        let inv = (from..events.len())
            .take_while(|&i| events[i].time <= f.invoke)
            .find(|&i| events[i].kind == TraceKind::Op { op: f.op })?;
        let done = f.complete.and_then(|c| {
            let from = events.partition_point(|e| e.time < c);
            (from..events.len())
                .take_while(|&i| events[i].time <= c)
                .find(|&i| matches!(events[i].kind, TraceKind::Complete { op, .. } if op == f.op))
        });
        Some((inv, done))
    })
}

/// The events the diagram is drawn from: those within `window / 2` of `center`, extended to the
/// focus operation's invocation and completion.
pub fn diagram_range(events: &[TraceEvent], opts: &DiagramOptions) -> std::ops::Range<usize> {
    let mut range = window_range(events, opts.center, opts.window);
    if let Some((inv, done)) = focus_rows(events, opts) {
        range.start = range.start.min(inv);
        range.end = range.end.max(done.unwrap_or(inv) + 1);
    }
    range
}

/// A Lamport (sequence) diagram of the events around `opts.center`: one vertical line per node,
/// one row per event, messages as arrows from the sender's row that sent them to the receiver's
/// delivery row (see the module docs), dropped messages as red dashed arrows ending in a cross at
/// the receiver with the reason, crashes as a red cross with the lifeline red until the restart,
/// operations as a green square (invoke) and a green or red diamond with the outcome and the reply
/// (completion), faults as red dashed lines across the cluster. The focus operation and the
/// messages on its causal path are highlighted. Hovering an element shows the event (`<title>`).
pub fn sequence_svg(events: &[TraceEvent], opts: &DiagramOptions) -> String {
    let focus_rows = focus_rows(events, opts);
    let range = diagram_range(events, opts);
    let path = focus_rows.map(|(inv, done)| causal_path(events, inv, done)).unwrap_or_default();
    let focus_set: BTreeSet<usize> = focus_rows.into_iter().flat_map(|(i, d)| std::iter::once(i).chain(d)).collect();

    let chosen: Option<BTreeSet<u32>> = opts.nodes.as_ref().map(|ns| ns.iter().map(|n| n.0).collect());
    // Events of nodes not drawn take no row; faults always do.
    let mut rows: Vec<(usize, &TraceEvent)> = range
        .clone()
        .zip(&events[range.clone()])
        .filter(|(_, e)| match (&chosen, node_of(e)) {
            (Some(set), Some(n)) => set.contains(&n),
            _ => true,
        })
        .collect();
    let left_out = rows.len().saturating_sub(opts.max_events);
    if left_out > 0 {
        let class = |i: usize, e: &TraceEvent| -> u8 {
            if focus_set.contains(&i) {
                0
            } else if path.contains(&i) {
                1
            } else if matches!(e.kind, TraceKind::Crash | TraceKind::Fault)
                || (e.kind == TraceKind::Start && e.label == "restart")
            {
                2
            } else {
                3
            }
        };
        rows.sort_by_key(|(i, e)| (class(*i, e), e.time.0.abs_diff(opts.center.0), *i));
        rows.truncate(opts.max_events);
        rows.sort_by_key(|(i, _)| *i);
    }
    let columns: Vec<u32> = match chosen {
        Some(set) => set.into_iter().collect(),
        None => {
            let mut set: BTreeSet<u32> = rows.iter().filter_map(|(_, e)| node_of(e)).collect();
            set.extend(rows.iter().filter_map(|(_, e)| from_of(e)));
            set.into_iter().collect()
        }
    };
    let col = |n: u32| columns.iter().position(|&c| c == n);
    let x_of = |i: usize| LEFT + COL_W * (i as f64 + 0.5);
    let width = (LEFT + COL_W * columns.len().max(1) as f64 + 150.0).max(900.0);
    // Room for the title, the subtitle's lines and the caption.
    let top = TOP + 16.0 * opts.subtitle.lines().count().saturating_sub(1) as f64;
    let height = top + ROW_H * (rows.len() as f64 + 1.0) + 56.0;
    let bottom = top + ROW_H * (rows.len() as f64 + 0.5);
    let y_of = |row: usize| top + ROW_H * (row as f64 + 0.5);

    let mut s = String::new();
    let _ = write!(
        s,
        r##"<svg xmlns="http://www.w3.org/2000/svg" width="{width:.0}" height="{height:.0}" viewBox="0 0 {width:.0} {height:.0}" font-family="monospace" font-size="11">
<defs><marker id="arrow" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="7" markerHeight="7" orient="auto-start-reverse"><path d="M 0 0 L 10 5 L 0 10 z" fill="{BLUE}"/></marker><marker id="arrow-path" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="7" markerHeight="7" orient="auto-start-reverse"><path d="M 0 0 L 10 5 L 0 10 z" fill="{PATH}"/></marker></defs>
<rect x="0" y="0" width="{width:.0}" height="{height:.0}" fill="white"/>
"##
    );
    let (lo, hi) = (
        range.clone().next().map_or(opts.center, |i| events[i].time),
        range.clone().last().map_or(opts.center, |i| events[i].time),
    );
    let mut caption = format!("{} events from t={lo} to t={hi}", range.len());
    if left_out > 0 {
        let _ = write!(
            caption,
            "; {left_out} of them not shown (farthest from the blamed operation's path and t={})",
            opts.center
        );
    }
    let _ = writeln!(s, r#"<text x="8" y="18" font-size="14" font-weight="bold">{}</text>"#, xml_escape(&opts.title));
    let mut y_text = 34.0;
    for line in opts.subtitle.lines().chain(std::iter::once(caption.as_str())) {
        let _ = writeln!(s, r##"<text x="8" y="{y_text:.0}" fill="#222">{}</text>"##, xml_escape(&shorten(line, 180)));
        y_text += 16.0;
    }
    // Where each drawn node is down (crashed): from its crash row to its restart row. A node
    // that crashed before the first row and had not restarted is down from the top.
    let mut down_from: BTreeMap<u32, f64> = BTreeMap::new();
    for e in &events[..range.start] {
        if let Some(n) = node_of(e) {
            match e.kind {
                TraceKind::Crash => {
                    down_from.insert(n, top - 6.0);
                }
                TraceKind::Start => {
                    down_from.remove(&n);
                }
                _ => {}
            }
        }
    }
    let mut down_spans: Vec<(u32, f64, f64)> = Vec::new();
    for (row, (_, e)) in rows.iter().enumerate() {
        let Some(n) = node_of(e) else { continue };
        match e.kind {
            TraceKind::Crash => {
                down_from.entry(n).or_insert(y_of(row));
            }
            TraceKind::Start => {
                if let Some(y0) = down_from.remove(&n) {
                    down_spans.push((n, y0, y_of(row)));
                }
            }
            _ => {}
        }
    }
    down_spans.extend(down_from.into_iter().map(|(n, y0)| (n, y0, bottom)));
    for (i, &n) in columns.iter().enumerate() {
        let x = x_of(i);
        let _ = writeln!(
            s,
            r#"<text x="{x:.1}" y="{:.1}" text-anchor="middle" font-weight="bold">n{n}</text>"#,
            top - 12.0
        );
        let _ = writeln!(
            s,
            r##"<line x1="{x:.1}" y1="{:.1}" x2="{x:.1}" y2="{bottom:.1}" stroke="#999" stroke-width="1"/>"##,
            top - 6.0
        );
    }
    for &(n, y0, y1) in &down_spans {
        if let Some(c) = col(n) {
            let _ = writeln!(
                s,
                r##"<g><title>n{n} down</title><line x1="{x:.1}" y1="{y0:.1}" x2="{x:.1}" y2="{y1:.1}" stroke="{RED}" stroke-width="4" stroke-opacity="0.35"/></g>"##,
                x = x_of(c)
            );
        }
    }
    for (row, (index, e)) in rows.iter().enumerate() {
        let y = y_of(row);
        if left_out > 0
            && let Some((prev, _)) = row.checked_sub(1).map(|r| rows[r])
            && index - prev > 1
        {
            let _ = writeln!(
                s,
                r##"<line x1="0" y1="{y0:.1}" x2="{width:.0}" y2="{y0:.1}" stroke="#bbb" stroke-dasharray="2 4"/><text x="{:.1}" y="{:.1}" fill="#999" font-size="9">{} events not drawn</text>"##,
                width - 130.0,
                y - ROW_H / 2.0 + 8.0,
                index - prev - 1,
                y0 = y - ROW_H / 2.0
            );
        }
        let tip = xml_escape(&shorten(&format!("#{index} {}", sim_core::divergence::describe(e)), 400));
        let highlighted = if opts.focus.is_some() { focus_set.contains(index) } else { e.time == opts.center };
        if highlighted {
            let _ = writeln!(
                s,
                r##"<rect x="0" y="{:.1}" width="{width:.0}" height="{ROW_H}" fill="#fff3b0"/>"##,
                y - ROW_H / 2.0
            );
        }
        let _ =
            writeln!(s, r##"<text x="8" y="{:.1}" fill="#555">{}</text>"##, y + 4.0, xml_escape(&e.time.to_string()));
        let label = xml_escape(&shorten(&e.label, 24));
        let on_path = path.contains(index);
        match (e.kind, node_of(e).and_then(col)) {
            (TraceKind::Fault, _) => {
                let _ = writeln!(
                    s,
                    r##"<g><title>{tip}</title><line x1="{LEFT:.1}" y1="{y:.1}" x2="{:.1}" y2="{y:.1}" stroke="{RED}" stroke-dasharray="6 3" stroke-width="1.5"/><text x="{:.1}" y="{:.1}" fill="{RED}" font-weight="bold">fault: {label}</text></g>"##,
                    width - 20.0,
                    LEFT + 4.0,
                    y - 3.0
                );
            }
            (TraceKind::Deliver { from, sent } | TraceKind::Drop { from, sent, .. }, Some(to)) => {
                let dropped = match e.kind {
                    TraceKind::Drop { reason, .. } => Some(reason),
                    _ => None,
                };
                let color = match (dropped, on_path) {
                    (Some(_), _) => RED,
                    (None, true) => PATH,
                    (None, false) => BLUE,
                };
                let weight = if on_path { 3.0 } else { 1.2 };
                let marker = match (dropped, on_path) {
                    (Some(_), _) => String::new(),
                    (None, true) => r#" marker-end="url(#arrow-path)""#.to_string(),
                    (None, false) => r#" marker-end="url(#arrow)""#.to_string(),
                };
                let dash = if dropped.is_some() { r#" stroke-dasharray="5 3""# } else { "" };
                let text = match dropped {
                    Some(r) => format!("{label} ✕ {}", xml_escape(r.word())),
                    None => label.clone(),
                };
                let x2 = x_of(to);
                // The row that sent it: the sender's last drawn handler at the send time (a
                // handler sends at the time it runs).
                let send_row = rows[..row]
                    .iter()
                    .rposition(|(_, ev)| node_of(ev) == Some(from.0) && ev.time == sent && is_handler(ev.kind));
                // Sent from a row not drawn: a short stub from the sender's side, with the time.
                let (y1, sent_note) = match send_row {
                    Some(r) => (y_of(r), String::new()),
                    None => (y - 8.0, format!(" (sent t={sent})")),
                };
                let cross = |s: &mut String| {
                    if dropped.is_some() {
                        let _ = write!(
                            s,
                            r##"<path d="M {:.1} {:.1} l 10 10 m 0 -10 l -10 10" stroke="{RED}" stroke-width="2.5"/>"##,
                            x2 - 5.0,
                            y - 5.0
                        );
                    }
                };
                let (x1, text) = match col(from.0) {
                    Some(c) if c != to && send_row.is_some() => (x_of(c), text),
                    Some(c) if c != to => {
                        let side = if c < to { -1.0 } else { 1.0 };
                        (x2 + side * COL_W * 0.45, format!("{text}{}", xml_escape(&sent_note)))
                    }
                    Some(_) => {
                        // A message to itself: a loop to the right of the column, from the send
                        // row down to the delivery row.
                        let y0 = if y1 >= y { y - 10.0 } else { y1 };
                        let _ = write!(
                            s,
                            r##"<g><title>{tip}</title><path d="M {x2:.1} {y0:.1} h 22 V {y:.1} h -22" fill="none" stroke="{color}" stroke-width="{weight}"{dash}{marker}/><text x="{:.1}" y="{:.1}" fill="{color}">{text}</text>"##,
                            x2 + 26.0,
                            y + 4.0
                        );
                        cross(&mut s);
                        s.push_str("</g>\n");
                        continue;
                    }
                    // The sender is not among the columns: a stub that names it.
                    None => (x2 - COL_W * 0.45, format!("{text} from n{}", from.0)),
                };
                let y1 = if col(from.0).is_some() { y1 } else { y };
                let text_x = (x1 + x2) / 2.0;
                let bold = if on_path || dropped.is_some() { r#" font-weight="bold""# } else { "" };
                let _ = write!(
                    s,
                    r##"<g><title>{tip}</title><line x1="{x1:.1}" y1="{y1:.1}" x2="{x2:.1}" y2="{y:.1}" stroke="{color}" stroke-width="{weight}"{dash}{marker}/><text x="{text_x:.1}" y="{:.1}" text-anchor="middle" fill="{color}"{bold}>{text}</text>"##,
                    y - 3.0
                );
                cross(&mut s);
                s.push_str("</g>\n");
            }
            (kind, Some(c)) => {
                let x = x_of(c);
                let (shape, text, fill) = match kind {
                    TraceKind::Timer => (
                        format!(r##"<circle cx="{x:.1}" cy="{y:.1}" r="4" fill="#6a1b9a"/>"##),
                        format!("timer {label}"),
                        "#000",
                    ),
                    TraceKind::Op { op } => (
                        format!(
                            r##"<rect x="{:.1}" y="{:.1}" width="9" height="9" fill="#2e7d32"/>"##,
                            x - 4.5,
                            y - 4.5
                        ),
                        format!("invoke {label} op {}", op.0),
                        "#2e7d32",
                    ),
                    TraceKind::Complete { op, outcome } => {
                        let fill = if outcome == sim_core::Outcome::Ok { "#2e7d32" } else { RED };
                        (
                            format!(r##"<path d="M {x:.1} {:.1} l 6 6 l -6 6 l -6 -6 z" fill="{fill}"/>"##, y - 6.0),
                            xml_escape(&completion_text(e, op, outcome)),
                            fill,
                        )
                    }
                    TraceKind::Crash => (
                        format!(
                            r##"<path d="M {:.1} {:.1} l 12 12 m 0 -12 l -12 12" stroke="{RED}" stroke-width="3"/>"##,
                            x - 6.0,
                            y - 6.0
                        ),
                        label.to_uppercase(),
                        RED,
                    ),
                    TraceKind::Start if e.label == "restart" => (
                        format!(r##"<circle cx="{x:.1}" cy="{y:.1}" r="5" fill="#2e7d32"/>"##),
                        "RESTART".to_string(),
                        "#2e7d32",
                    ),
                    TraceKind::Persisted => (
                        format!(
                            r##"<path d="M {x:.1} {:.1} L {:.1} {y:.1} L {x:.1} {:.1} L {:.1} {y:.1} z" fill="#ef6c00"/>"##,
                            y - 5.0,
                            x + 5.0,
                            y + 5.0,
                            x - 5.0
                        ),
                        "persisted".to_string(),
                        "#000",
                    ),
                    _ => (
                        format!(r##"<circle cx="{x:.1}" cy="{y:.1}" r="5" fill="none" stroke="#000"/>"##),
                        label.clone(),
                        "#000",
                    ),
                };
                let bold = if focus_set.contains(index) || fill == RED { r#" font-weight="bold""# } else { "" };
                let _ = writeln!(
                    s,
                    r#"<g><title>{tip}</title>{shape}<text x="{:.1}" y="{:.1}" fill="{fill}"{bold}>{text}</text></g>"#,
                    x + 9.0,
                    y + 4.0
                );
            }
            // A node not among the chosen columns.
            (_, None) => {}
        }
    }
    let _ = writeln!(
        s,
        r##"<text x="8" y="{:.1}" fill="#555">Arrows run from the row that sent a message to its delivery; a short arrow marked (sent t=...) was sent from a row not drawn.</text>"##,
        height - 30.0
    );
    let _ = writeln!(
        s,
        r##"<text x="8" y="{:.1}" fill="#555">Yellow: the blamed operation. Orange: messages on its causal path. Red: dropped messages (✕, with the reason), crashes, failed operations, faults.</text>"##,
        height - 14.0
    );
    s.push_str("</svg>\n");
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ev(t: u64, node: u32, kind: TraceKind, label: &str, detail: &str) -> TraceEvent {
        TraceEvent { time: Time(t), node: NodeId(node), kind, label: label.into(), detail: detail.into() }
    }

    fn trace() -> Vec<TraceEvent> {
        vec![
            ev(0, 0, TraceKind::Start, "start", "0"),
            ev(0, 1, TraceKind::Start, "start", "0"),
            ev(0, 3, TraceKind::Start, "start", "0"),
            ev(1_500, 3, TraceKind::Op { op: OpId(4) }, "put", "Op { key: 7, value: \"<a&b>\" }"),
            ev(2_000, 0, TraceKind::Deliver { from: NodeId(3), sent: Time(1_500) }, "put", "Put { key: 7 }"),
            ev(2_000, WORLD, TraceKind::Fault, "crash n1", ""),
            ev(
                3_000,
                1,
                TraceKind::Deliver { from: NodeId(0), sent: Time(2_000) },
                "replicate",
                "Replicate\u{1} { key: 7 }",
            ),
            ev(4_000, 0, TraceKind::Persisted, "persisted", "WriteId(1)"),
            ev(5_000, 0, TraceKind::Timer, "retry", "Retry"),
            ev(5_500, 0, TraceKind::Deliver { from: NodeId(0), sent: Time(5_000) }, "self_check", "SelfCheck"),
            ev(9_000_000, 3, TraceKind::Deliver { from: NodeId(0), sent: Time(4_000) }, "put_ack", "PutAck"),
        ]
    }

    #[test]
    fn json_lines_are_one_object_per_event() {
        let text = json_lines(&trace(), 0);
        let lines: Vec<serde_json::Value> = text.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
        assert_eq!(lines.len(), 11);
        assert_eq!(lines[4]["event"], "deliver");
        assert_eq!(lines[4]["from"], 3);
        assert_eq!(lines[4]["node"], 0);
        assert_eq!(lines[4]["t_ns"], 2_000);
        assert_eq!(lines[5]["node"], serde_json::Value::Null);
        assert_eq!(lines[3]["detail"], "Op { key: 7, value: \"<a&b>\" }");
        assert!(lines[3].get("from").is_none());
        assert_eq!((lines[3]["event"].as_str(), lines[3]["op"].as_u64()), (Some("invoke"), Some(4)));
        // A window keeps the events' indexes in the whole trace.
        let text = json_lines(&trace()[4..6], 4);
        assert_eq!(text.lines().next().map(|l| l.starts_with("{\"i\":4,")), Some(true), "{text}");
    }

    /// The flow-binding rule Perfetto's trace processor applies to flow events (`ph` `s`/`f`,
    /// v1): each binds to the slice enclosing it on its own track; a flow event with no enclosing
    /// `X` slice on its pid/tid draws no arrow. Returns the flow events that bind nowhere.
    fn unbound_flows(doc: &serde_json::Value) -> Vec<serde_json::Value> {
        let evs = doc["traceEvents"].as_array().unwrap();
        let slices: Vec<(u64, u64, f64, f64)> = evs
            .iter()
            .filter(|e| e["ph"] == "X")
            .map(|e| {
                let ts = e["ts"].as_f64().unwrap();
                (e["pid"].as_u64().unwrap(), e["tid"].as_u64().unwrap(), ts, ts + e["dur"].as_f64().unwrap())
            })
            .collect();
        evs.iter()
            .filter(|e| e["ph"] == "s" || e["ph"] == "f")
            .filter(|f| {
                let (pid, tid, ts) = (f["pid"].as_u64(), f["tid"].as_u64(), f["ts"].as_f64().unwrap());
                !slices.iter().any(|&(p, t, a, b)| Some(p) == pid && Some(t) == tid && a <= ts && ts <= b)
            })
            .cloned()
            .collect()
    }

    #[test]
    fn chrome_trace_handlers_are_slices_and_every_flow_binds_to_one() {
        let topo = Topology::simple(3, 1);
        let doc: serde_json::Value = serde_json::from_str(&chrome_trace(&trace(), 0, Some(&topo))).unwrap();
        let evs = doc["traceEvents"].as_array().unwrap();
        let names: Vec<(u64, &str)> = evs
            .iter()
            .filter(|e| e["name"] == "thread_name")
            .map(|e| (e["tid"].as_u64().unwrap(), e["args"]["name"].as_str().unwrap()))
            .collect();
        assert_eq!(names, [(0, "n0 server"), (1, "n1 server"), (2, "n2 server"), (3, "n3 client")]);
        // Ten handler runs are slices; the crash is a global instant.
        let slices: Vec<&serde_json::Value> = evs.iter().filter(|e| e["ph"] == "X").collect();
        assert_eq!(slices.len(), 10);
        for e in &slices {
            assert_eq!(e["pid"], 0);
            assert!(e["dur"].as_f64().unwrap() > 0.0 && e["dur"].as_f64().unwrap() <= SLICE_NS as f64 / 1e3);
        }
        let put = slices.iter().find(|e| e["name"] == "put <- n3").unwrap();
        assert_eq!((put["tid"].as_u64(), put["ts"].as_u64()), (Some(0), Some(2)));
        assert_eq!(put["args"]["from"], "n3");
        // n0's slices: the put at 2us lasts until n0's next event (persisted, 4us), at most 1us.
        assert_eq!(put["dur"].as_f64(), Some(1.0));
        let timer = slices.iter().find(|e| e["name"] == "timer retry").unwrap();
        assert_eq!(timer["dur"].as_f64(), Some(0.5), "until the self-delivery at 5.5us");
        let op = slices.iter().find(|e| e["name"] == "invoke put op 4").unwrap();
        assert_eq!(op["ts"].as_f64(), Some(1.5));
        let crash = evs.iter().find(|e| e["cat"] == "fault").unwrap();
        assert_eq!((crash["ph"].as_str(), crash["s"].as_str()), (Some("i"), Some("g")));
        // Each delivery is a flow from the sender at its send time to the receiver at delivery.
        let flow = |ph: &str| -> Vec<(u64, u64, f64)> {
            evs.iter()
                .filter(|e| e["ph"] == ph)
                .map(|e| (e["id"].as_u64().unwrap(), e["tid"].as_u64().unwrap(), e["ts"].as_f64().unwrap()))
                .collect()
        };
        assert_eq!(flow("s"), [(4, 3, 1.5), (6, 0, 2.0), (9, 0, 5.0), (10, 0, 4.0)]);
        assert_eq!(flow("f"), [(4, 0, 2.0), (6, 1, 3.0), (9, 0, 5.5), (10, 3, 9000.0)]);
        assert_eq!(unbound_flows(&doc), Vec::<serde_json::Value>::new());
    }

    #[test]
    fn the_binding_check_fails_on_instant_handlers_and_on_a_flow_outside_its_slice() {
        // Handlers as instants (what the trace used to write): no flow binds.
        let doc = serde_json::json!({"traceEvents": [
            {"name": "put", "ph": "i", "s": "t", "ts": 1.5, "pid": 0, "tid": 3},
            {"name": "put", "ph": "s", "id": 1, "ts": 1.5, "pid": 0, "tid": 3},
        ]});
        assert_eq!(unbound_flows(&doc).len(), 1);
        // A slice on another track, or one that ends before the flow, does not enclose it.
        let doc = serde_json::json!({"traceEvents": [
            {"name": "a", "ph": "X", "ts": 1, "dur": 1, "pid": 0, "tid": 2},
            {"name": "b", "ph": "X", "ts": 0, "dur": 1, "pid": 0, "tid": 3},
            {"name": "put", "ph": "s", "id": 1, "ts": 1.5, "pid": 0, "tid": 3},
        ]});
        assert_eq!(unbound_flows(&doc).len(), 1);
    }

    /// Many events of one node at one instant nest (each 1 ns shorter), and a busy real run's
    /// trace binds every flow: a run of messages between four nodes with ties in time.
    #[test]
    fn same_instant_handlers_nest_and_flows_bind_in_a_busy_trace() {
        // Every node runs a timer at every microsecond, then takes a message sent at that instant
        // and one sent a microsecond before: three events per node per instant.
        let mut events = Vec::new();
        for t in (0..50_000u64).step_by(1_000) {
            for n in 0..4u32 {
                events.push(ev(t, n, TraceKind::Timer, "tick", ""));
                events.push(ev(t, n, TraceKind::Deliver { from: NodeId((n + 1) % 4), sent: Time(t) }, "ping", ""));
                if t > 0 {
                    let sent = Time(t - 1_000);
                    events.push(ev(t, n, TraceKind::Deliver { from: NodeId((n + 2) % 4), sent }, "pong", ""));
                }
            }
        }
        // Each delivery's sender ran a handler at the send time (a timer), as in a real run.
        let doc: serde_json::Value = serde_json::from_str(&chrome_trace(&events, 0, None)).unwrap();
        assert!(doc["traceEvents"].as_array().unwrap().iter().filter(|e| e["ph"] == "s").count() > 100);
        assert_eq!(unbound_flows(&doc), Vec::<serde_json::Value>::new());
        let durs = slice_durations(&events[..4]);
        assert_eq!(durs, [Some(1_000), Some(999), Some(1_000), Some(999)], "two nodes, two events each at t=0");
    }

    #[test]
    fn a_windowed_chrome_trace_holds_only_the_window_and_no_dangling_flow() {
        let all = trace();
        let range = window_range(&all, Time(3_000), Duration::from_micros(2));
        assert_eq!(range, 4..8, "2us to 4us");
        let doc: serde_json::Value =
            serde_json::from_str(&chrome_trace(&all[range.clone()], range.start, None)).unwrap();
        let evs = doc["traceEvents"].as_array().unwrap();
        let indexes: Vec<u64> =
            evs.iter().filter(|e| e["ph"] == "X" || e["ph"] == "i").map(|e| e["args"]["i"].as_u64().unwrap()).collect();
        assert_eq!(indexes, [4, 5, 6, 7]);
        // The put was sent at 1.5us, before the window: its delivery is a slice, with no flow.
        let ids: Vec<u64> = evs.iter().filter(|e| e["ph"] == "s").map(|e| e["id"].as_u64().unwrap()).collect();
        assert_eq!(ids, [6]);
        assert_eq!(unbound_flows(&doc), Vec::<serde_json::Value>::new());
    }

    /// A small XML well-formedness check: balanced tags, quoted attributes, escaped text.
    fn assert_well_formed(xml: &str) {
        let mut stack: Vec<String> = Vec::new();
        let mut rest = xml;
        let check_text = |t: &str| {
            assert!(!t.contains('>'), "raw > in text: {t}");
            let mut parts = t.split('&');
            parts.next();
            for p in parts {
                let ent = p.split(';').next().unwrap();
                assert!(["amp", "lt", "gt", "quot", "apos"].contains(&ent) && p.contains(';'), "bad entity in {t}");
            }
            assert!(!t.chars().any(|c| (c as u32) < 0x20 && !"\t\n\r".contains(c)), "control char in {t:?}");
        };
        while let Some(open) = rest.find('<') {
            check_text(&rest[..open]);
            let close = rest[open..].find('>').expect("unclosed tag") + open;
            let tag = &rest[open + 1..close];
            assert!(!tag.contains('<'), "< inside a tag: {tag}");
            if let Some(name) = tag.strip_prefix('/') {
                assert_eq!(stack.pop().as_deref(), Some(name.trim()), "mismatched </{name}>");
            } else if !tag.starts_with('?') {
                let self_closing = tag.ends_with('/');
                let body = tag.trim_end_matches('/');
                let name = body.split_whitespace().next().unwrap().to_string();
                // Attributes: name="value" pairs, values escaped.
                let mut attrs = body[name.len()..].trim();
                while !attrs.is_empty() {
                    let eq = attrs.find("=\"").unwrap_or_else(|| panic!("unquoted attribute in <{tag}>"));
                    let end = attrs[eq + 2..].find('"').unwrap() + eq + 2;
                    check_text(&attrs[eq + 2..end]);
                    attrs = attrs[end + 1..].trim_start();
                }
                if !self_closing {
                    stack.push(name);
                }
            }
            rest = &rest[close + 1..];
        }
        check_text(rest);
        assert!(stack.is_empty(), "unclosed: {stack:?}");
    }

    #[test]
    fn the_sequence_diagram_is_well_formed_svg() {
        let opts = DiagramOptions {
            title: "put <lost> & found".into(),
            center: Time(2_000),
            window: Duration::from_micros(20),
            ..Default::default()
        };
        let svg = sequence_svg(&trace(), &opts);
        assert_well_formed(&svg);
        assert!(svg.starts_with("<svg xmlns=\"http://www.w3.org/2000/svg\""));
        // Ten events in the window (the ack at 9ms is outside), columns n0, n1, n3.
        assert_eq!(svg.matches("<title>").count(), 10);
        for n in ["n0", "n1", "n3"] {
            assert!(svg.contains(&format!(">{n}</text>")), "{n}");
        }
        assert!(!svg.contains(">n2</text>"));
        assert_eq!(svg.matches("marker-end=\"url(#arrow)\"").count(), 3);
        // A message to itself loops from the timer row (5us) down to its delivery row (5.5us).
        // Columns at x = 170 (n0), 290 (n1), 410 (n3); row r at y = 94 + 20 r.
        assert!(svg.contains("<path d=\"M 170.0 254.0 h 22 V 274.0 h -22\""), "{svg}");
        // The put runs from n3's op row (row 3, y=154) down to n0's delivery row (row 4, y=174);
        // the replicate from the put's delivery row (n0, y=174) to n1 (row 6, y=214).
        assert!(svg.contains(r#"x1="410.0" y1="154.0" x2="170.0" y2="174.0""#), "{svg}");
        assert!(svg.contains(r#"x1="170.0" y1="174.0" x2="290.0" y2="214.0""#), "{svg}");
        // With only n0 and n1 as columns, the put from n3 names its sender.
        let only = DiagramOptions { nodes: Some(vec![NodeId(1), NodeId(0)]), ..opts.clone() };
        let svg = sequence_svg(&trace(), &only);
        assert_well_formed(&svg);
        assert!(svg.contains(">put from n3</text>") && !svg.contains(">n3</text>"));
        assert_eq!(svg.matches("<title>").count(), 8, "the start and the op on n3 take no row");
        assert!(svg.contains("stroke-dasharray"), "the crash is drawn");
        assert!(svg.contains("put &lt;lost&gt; &amp; found"));
        assert_eq!(svg.matches("fill=\"#fff3b0\"").count(), 2, "both events at t=2us are highlighted");
    }

    #[test]
    fn a_crowded_window_keeps_the_events_nearest_the_center() {
        let events: Vec<TraceEvent> =
            (0..100u64).map(|i| ev(i * 1_000, (i % 3) as u32, TraceKind::Timer, "tick", "")).collect();
        let opts = DiagramOptions {
            center: Time(50_000),
            window: Duration::from_millis(1),
            max_events: 11,
            ..Default::default()
        };
        let svg = sequence_svg(&events, &opts);
        assert_well_formed(&svg);
        assert_eq!(svg.matches("<title>").count(), 11);
        assert!(svg.contains("#45 ") && svg.contains("#55 ") && !svg.contains("#44 ") && !svg.contains("#56 "));
        assert!(svg.contains("89 of them not shown"), "{svg}");
        assert!(!svg.contains("events not drawn"), "the rows kept are contiguous");
        assert_eq!(window_around(&events, Time(50_000), Duration::from_micros(4)).len(), 5);
        assert!(window_around(&events, Time(500_000), Duration::from_micros(4)).is_empty());
    }

    /// n3 invokes put op 4; n0 takes it and replicates to n1, which a partition drops; n1
    /// crashes; the ack reaches n3, which completes the op; then n2 gossips to n0 (after the op:
    /// not on its path) and n1 restarts.
    fn failing_trace() -> Vec<TraceEvent> {
        let drop =
            TraceKind::Drop { from: NodeId(0), sent: Time(1_500), reason: sim_core::world::DropReason::Partition };
        vec![
            ev(0, 0, TraceKind::Start, "start", "0"),
            ev(0, 1, TraceKind::Start, "start", "0"),
            ev(0, 3, TraceKind::Start, "start", "0"),
            ev(1_000, 3, TraceKind::Op { op: OpId(4) }, "put", "Op { id: OpId(4) }"),
            ev(1_500, 0, TraceKind::Deliver { from: NodeId(3), sent: Time(1_000) }, "put", "Put"),
            ev(1_500, 1, drop, "replicate", "Replicate"),
            ev(2_000, WORLD, TraceKind::Fault, "crash n1", ""),
            ev(2_000, 1, TraceKind::Crash, "crash", ""),
            ev(2_500, 3, TraceKind::Deliver { from: NodeId(0), sent: Time(1_500) }, "put_ack", "PutAck"),
            ev(2_500, 3, TraceKind::Complete { op: OpId(4), outcome: sim_core::Outcome::Ok }, "put", "Value(5)"),
            ev(3_000, 2, TraceKind::Timer, "gossip", ""),
            ev(3_500, 0, TraceKind::Deliver { from: NodeId(2), sent: Time(3_000) }, "gossip", ""),
            ev(4_000, 1, TraceKind::Start, "restart", "1"),
        ]
    }

    #[test]
    fn the_causal_path_runs_from_the_invocation_to_the_completion() {
        let t = failing_trace();
        assert_eq!(causal_path(&t, 3, Some(9)).into_iter().collect::<Vec<_>>(), [3, 4, 5, 8, 9]);
        // Pending: everything the invocation led to. Not the gossip n0 received later: n0's
        // state follows the put, but the gossip was not sent on the put's path.
        assert_eq!(causal_path(&t, 3, None).into_iter().collect::<Vec<_>>(), [3, 4, 5, 8]);
        // The client runs other operations: a message it sends from another handler, and the
        // replies to it, are not on this operation's path.
        let mut busy = t.clone();
        busy.insert(4, ev(1_200, 3, TraceKind::Op { op: OpId(5) }, "get", ""));
        busy.insert(5, ev(1_400, 0, TraceKind::Deliver { from: NodeId(3), sent: Time(1_200) }, "get", ""));
        busy.insert(10, ev(2_200, 3, TraceKind::Deliver { from: NodeId(0), sent: Time(1_400) }, "get_reply", ""));
        assert_eq!(causal_path(&busy, 3, Some(12)).into_iter().collect::<Vec<_>>(), [3, 6, 7, 11, 12]);
    }

    #[test]
    fn the_diagram_draws_drops_crashes_completions_and_the_blamed_operation() {
        let opts = DiagramOptions {
            title: "t".into(),
            subtitle: "centred on op 4\nfresh_reads: first: ...".into(),
            center: Time(1_000),
            window: Duration::from_micros(1),
            focus: Some(Focus { op: OpId(4), invoke: Time(1_000), complete: Some(Time(2_500)) }),
            ..Default::default()
        };
        let t = failing_trace();
        // The window (0.5us to 1.5us) reaches to the completion at 2.5us.
        assert_eq!(diagram_range(&t, &opts), 3..10);
        let svg = sequence_svg(&t, &opts);
        assert_well_formed(&svg);
        assert!(svg.contains(">replicate ✕ partition</text>"), "the drop and its reason: {svg}");
        assert!(svg.contains(r##"<path d="M 285.0 145.0 l 10 10 m 0 -10 l -10 10" stroke="#c62828""##), "{svg}");
        assert!(svg.contains(">CRASH</text>") && svg.contains("<title>n1 down</title>"), "{svg}");
        assert!(svg.contains(">invoke put op 4</text>"), "{svg}");
        assert!(svg.contains(">done put op 4 Ok -&gt; Value(5)</text>"), "{svg}");
        assert!(svg.contains(">fresh_reads: first: ...</text>"), "the subtitle's second line");
        // The invocation and the completion are highlighted, not other rows at their times.
        assert_eq!(svg.matches("fill=\"#fff3b0\"").count(), 2);
        // The put and its ack are on the op's causal path (bold orange); no other message is.
        assert_eq!(svg.matches("marker-end=\"url(#arrow-path)\"").count(), 2, "{svg}");
        assert_eq!(svg.matches("marker-end=\"url(#arrow)\"").count(), 0, "{svg}");
        // A wider window shows the gossip after the op, drawn plainly, and the restart.
        let wide = DiagramOptions { window: Duration::from_micros(10), ..opts.clone() };
        let svg = sequence_svg(&t, &wide);
        assert_eq!(svg.matches("marker-end=\"url(#arrow)\"").count(), 1, "{svg}");
        assert!(svg.contains(">RESTART</text>"));
        // Two rows: the blamed operation's invocation and completion come first.
        let two = DiagramOptions { max_events: 2, ..wide };
        let svg = sequence_svg(&t, &two);
        assert_well_formed(&svg);
        assert!(
            svg.contains("#3 t=1us n3 invoke put op 4") && svg.contains("#9 t=2500ns n3 complete put op 4 Ok"),
            "{svg}"
        );
        assert!(svg.contains("5 events not drawn"), "{svg}");
    }

    #[test]
    fn the_checker_catches_broken_xml() {
        for bad in ["<a><b></a></b>", "<a x=1/>", "<a>1 < 2</a>", "<a>&nope;</a>", "<a>"] {
            assert!(std::panic::catch_unwind(|| assert_well_formed(bad)).is_err(), "{bad}");
        }
        assert_well_formed("<a x=\"1 &amp; 2\"><b/>text</a>");
    }
}
