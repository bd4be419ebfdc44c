//! # Unique ID generator: snowflake (system 7 of the notes)
//!
//! Each server is a generator that answers `next_id` (one ID) and `next_ids` (a batch) with 64-bit
//! IDs laid out as Twitter's snowflake: 41 bits of milliseconds since a custom epoch, 5 bits of
//! datacenter, 5 bits of machine, 12 bits of sequence (`compose`/`decompose`). The timestamp is the
//! node's LOCAL clock (`Ctx::now`), which the scenario may skew, drift or step. Within one
//! millisecond the sequence counts up; when all 4,096 are spent the generator waits for the next
//! millisecond (a timer, no busy loop). When the clock reads earlier than the last timestamp used
//! (a backwards step), `guard` decides: `Wait` until the clock catches up (refusing when that is
//! longer than `max_wait`), `Refuse` at once, or `None`, the naive code that resets the sequence
//! and reuses timestamps it has used before.
//!
//! The alternative the notes reject, multi-datacenter auto-increment (`AutoIncrement`): server `i`
//! hands out `i + 1, i + 1 + step, ...` with `step` the number of datacenters. Unique while `step`
//! is right, but not time-ordered across servers.
//!
//! Invariants, checked from the history and the generators' issue logs (each generator's
//! record of the run, kept past its crashes: a restarted generator's IDs follow its earlier ones):
//! - `unique`: no ID reaches two operations (or twice in one);
//! - `monotonic_per_node`: each generator's IDs strictly increase in the order it issued them.
//!
//! A clock reading past the 41 bits of milliseconds (2^41 - 1 ms after the epoch, about 69.7 years)
//! is refused, never wrapped to the epoch (`epoch_offset` itself may be anything up to that).
//!
//! Measured: IDs per second, the most IDs one node stamped with one millisecond (at most 4,096),
//! waits for the sequence and for the clock, refusals (`refused_timestamp_exhausted` of them for
//! a spent timestamp), and the worst inversion against true time:
//! the longest true-time span by which an ID returned later is smaller than one returned earlier.
//!
//! The failures it exists to show: a backwards clock step without a guard yields duplicate and
//! decreasing IDs; two machines configured with the same machine id collide; auto-increment whose
//! step no longer matches the number of datacenters (one was added) collides.
//!
//! Clients call through `parts::calls` (one call per operation: `request_timeout`, no retries; a
//! refusal is a failed call; the counters are `client.*`).
//!
//! **Transport:** `Connection` by default (clients call generators by RPC over TCP): messages between
//! two nodes arrive in send order.

use parts::calls::{CallTimer, OpCalls, ReqId};
use serde::{Deserialize, Serialize};
use sim_core::cost::{Load, count};
use sim_core::{
    Actor, Axis, Check, Ctx, Duration, Footprint, Message, Model, ModelReport, NodeId, Outcome, Prng, Reply, RunView,
    Table, TimerId, Topology,
};
use std::collections::{BTreeMap, VecDeque};

/// The ID layout (41/5/5/12 bits) is a part other designs stamp IDs with (`parts::ids`).
pub use parts::ids::{
    DATACENTER_BITS, FIELD_MAX, MACHINE_BITS, SEQUENCE_BITS, SEQUENCE_MAX, TIMESTAMP_BITS, TIMESTAMP_MAX, compose,
    decompose,
};

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum Scheme {
    #[default]
    Snowflake,
    /// Per-datacenter auto-increment, stepping by the number of datacenters.
    AutoIncrement,
}

/// What a generator does when its clock reads earlier than the last timestamp it used.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum ClockGuard {
    #[default]
    Wait,
    Refuse,
    /// The naive code: reset the sequence and carry on with the earlier timestamp.
    None,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    pub scheme: Scheme,
    /// Servers are spread over datacenters in turn: server `i` is in `i % datacenters`, machine
    /// `i / datacenters` (unless `machine_ids` says otherwise).
    pub datacenters: u32,
    /// `(datacenter, machine)` per server, overriding the automatic assignment.
    pub machine_ids: Vec<(u32, u32)>,
    pub guard: ClockGuard,
    /// With `Wait`: a backwards jump longer than this is refused instead.
    pub max_wait: Duration,
    /// The custom epoch: a local clock reading of zero is this long after it.
    pub epoch_offset: Duration,
    /// IDs per `next_ids` operation.
    pub batch_size: u32,
    /// Auto-increment step (0: the number of servers, one per datacenter).
    pub auto_step: u32,
    pub request_timeout: Duration,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            scheme: Scheme::Snowflake,
            datacenters: 2,
            machine_ids: Vec::new(),
            guard: ClockGuard::Wait,
            max_wait: Duration::from_secs(1),
            epoch_offset: Duration::from_secs(3600),
            batch_size: 1000,
            auto_step: 0,
            request_timeout: Duration::from_secs(2),
        }
    }
}

#[derive(Clone, Debug)]
pub enum Msg {
    Next { req: ReqId, count: u32 },
    Ids { req: ReqId, ids: Vec<u64> },
    Refused { req: ReqId },
}

impl Message for Msg {
    fn kind(&self) -> &'static str {
        match self {
            Msg::Next { .. } => "next",
            Msg::Ids { .. } => "ids",
            Msg::Refused { .. } => "refused",
        }
    }
    fn size_bytes(&self) -> u64 {
        match self {
            Msg::Ids { ids, .. } => 32 + 8 * ids.len() as u64,
            _ => 32,
        }
    }
}

#[derive(Clone, Debug)]
pub enum Timer {
    /// The generator's clock should have reached the millisecond it waits for.
    Resume,
    Call(CallTimer),
}

impl From<CallTimer> for Timer {
    fn from(t: CallTimer) -> Timer {
        Timer::Call(t)
    }
}

struct Request {
    from: NodeId,
    req: ReqId,
    want: u32,
    ids: Vec<u64>,
}

/// Why a generator cannot hand out an ID now.
enum Block {
    /// Until its clock reads this millisecond.
    Until(u64),
    Refuse,
}

pub struct Generator {
    pub datacenter: u64,
    pub machine: u64,
    scheme: Scheme,
    guard: ClockGuard,
    max_wait_ms: u64,
    epoch_offset_ms: u64,
    last_ms: Option<u64>,
    sequence: u64,
    counter: u64,
    step: u64,
    queue: VecDeque<Request>,
    resume: Option<TimerId>,
    /// What this generator did, kept past its crashes.
    pub ledger: Ledger,
    /// Its index among the servers: its record in `ledger`.
    pub index: u32,
}

/// What one generator did over the whole run, in all its incarnations: the world's record of
/// the IDs it handed out, not its memory (which a crash takes). A restarted generator's first
/// IDs are judged against the last ones before its crash.
#[derive(Default)]
pub struct GeneratorRecord {
    /// Every ID this generator issued, in order.
    pub issued: Vec<u64>,
    pub sequence_waits: u64,
    pub clock_waits: u64,
    pub refused: u64,
    /// Requests refused because the clock read past the 41 bits of milliseconds.
    pub timestamp_exhausted: u64,
}

/// The generators' records, one per server, shared by every incarnation (the factory makes it).
pub type Ledger = std::rc::Rc<[std::cell::RefCell<GeneratorRecord>]>;

pub struct Client {
    servers: u32,
    batch_size: u32,
    /// Each operation is one call to its generator (a timeout, no retries).
    ops: OpCalls<Msg>,
}

pub enum Node {
    Generator(Box<Generator>),
    Client(Client),
}

impl Generator {
    fn record(&self) -> std::cell::RefMut<'_, GeneratorRecord> {
        self.ledger[self.index as usize].borrow_mut()
    }

    fn now_ms(&self, ctx: &Ctx<'_, Node>) -> u64 {
        ctx.now().0 / 1_000_000 + self.epoch_offset_ms
    }

    /// One ID, or why not now.
    fn next(&mut self, now_ms: u64) -> Result<u64, Block> {
        if self.scheme == Scheme::AutoIncrement {
            let id = self.counter;
            self.counter += self.step;
            return Ok(id);
        }
        if now_ms > TIMESTAMP_MAX {
            // 41 bits of milliseconds are spent: an ID now would wrap to the epoch and sort before
            // every ID issued so far (and repeat the first ones).
            self.record().timestamp_exhausted += 1;
            return Err(Block::Refuse);
        }
        match self.last_ms {
            Some(last) if now_ms < last => match self.guard {
                ClockGuard::Wait if last - now_ms <= self.max_wait_ms => {
                    self.record().clock_waits += 1;
                    return Err(Block::Until(last));
                }
                ClockGuard::Wait | ClockGuard::Refuse => return Err(Block::Refuse),
                ClockGuard::None => {
                    self.sequence = 0;
                    self.last_ms = Some(now_ms);
                }
            },
            Some(last) if now_ms == last => {
                if self.sequence >= SEQUENCE_MAX {
                    self.record().sequence_waits += 1;
                    return Err(Block::Until(last + 1));
                }
                self.sequence += 1;
            }
            _ => {
                self.sequence = 0;
                self.last_ms = Some(now_ms);
            }
        }
        Ok(compose(now_ms, self.datacenter, self.machine, self.sequence))
    }

    /// Serves queued requests in order until one has to wait.
    fn serve(&mut self, ctx: &mut Ctx<'_, Node>) {
        let now_ms = self.now_ms(ctx);
        while let Some(mut req) = self.queue.pop_front() {
            let mut blocked = None;
            while req.ids.len() < req.want as usize {
                match self.next(now_ms) {
                    Ok(id) => {
                        req.ids.push(id);
                        self.record().issued.push(id);
                    }
                    Err(b) => {
                        blocked = Some(b);
                        break;
                    }
                }
            }
            match blocked {
                None => {
                    ctx.count("ids_issued", req.ids.len() as u64);
                    ctx.send(req.from, Msg::Ids { req: req.req, ids: req.ids });
                }
                Some(Block::Refuse) => {
                    self.record().refused += 1;
                    ctx.count("refused", 1);
                    ctx.send(req.from, Msg::Refused { req: req.req });
                }
                Some(Block::Until(ms)) => {
                    self.queue.push_front(req);
                    // Sleep until the local clock reads `ms`.
                    let target_ns = (ms - self.epoch_offset_ms) * 1_000_000;
                    let after = Duration(target_ns.saturating_sub(ctx.now().0).max(1));
                    self.resume = Some(ctx.set_timer(after, Timer::Resume));
                    return;
                }
            }
        }
    }
}

impl Actor for Node {
    type Msg = Msg;
    type Timer = Timer;
    type Record = ();

    fn on_start(&mut self, _ctx: &mut Ctx<'_, Self>) {}

    fn on_op(&mut self, ctx: &mut Ctx<'_, Self>, op: sim_core::Op) {
        let Node::Client(c) = self else {
            ctx.complete(op.id, Outcome::Fail, Reply::None);
            return;
        };
        // The workload's key picks the generator (a load balancer hashing the caller).
        let to = NodeId((op.key % c.servers as u64) as u32);
        let count = if op.kind == 1 { c.batch_size } else { 1 };
        c.ops.call_to(ctx, to, |req| Msg::Next { req, count }, op.id);
    }

    fn on_msg(&mut self, ctx: &mut Ctx<'_, Self>, from: NodeId, msg: Msg) {
        match (self, msg) {
            (Node::Generator(g), Msg::Next { req, count }) => {
                g.queue.push_back(Request { from, req, want: count, ids: Vec::with_capacity(count as usize) });
                if g.resume.is_none() {
                    g.serve(ctx);
                }
            }
            (Node::Client(c), Msg::Ids { req, ids }) => {
                let reply = if ids.len() == 1 { Reply::Value(ids[0]) } else { Reply::list(ids) };
                c.ops.answered(ctx, req, Outcome::Ok, reply);
            }
            (Node::Client(c), Msg::Refused { req }) => c.ops.answered(ctx, req, Outcome::Fail, Reply::None),
            _ => {}
        }
    }

    fn on_timer(&mut self, ctx: &mut Ctx<'_, Self>, timer: Timer) {
        match (self, timer) {
            (Node::Generator(g), Timer::Resume) => {
                g.resume = None;
                g.serve(ctx);
            }
            (Node::Client(c), Timer::Call(t)) => c.ops.on_timer(ctx, t),
            _ => {}
        }
    }
}

/// `(datacenter, machine)` of server `i`.
pub fn machine_id(c: &Config, i: u32) -> (u32, u32) {
    match c.machine_ids.get(i as usize) {
        Some(&m) => m,
        None => (i % c.datacenters.max(1), i / c.datacenters.max(1)),
    }
}

pub struct Snowflake;

impl Model for Snowflake {
    const NAME: &'static str = "snowflake";
    const ABOUT: &'static str =
        "Unique ID generator: snowflake 41/5/5/12 on local clocks, vs multi-datacenter auto-increment";
    const OP_KINDS: &'static [&'static str] = &["next_id", "next_ids"];
    /// Clients call the generators by RPC over TCP (Twitter's snowflake was a Thrift service).
    const TRANSPORT: sim_core::net::Transport = sim_core::net::Transport::Connection;
    const CHECKS: &'static [&'static str] = &["unique", "monotonic_per_node"];
    type Config = Config;
    type Actor = Node;

    fn validate(c: &Config, topo: &Topology) -> Vec<(String, String)> {
        let mut e = Vec::new();
        let n = topo.servers.len() as u32;
        if n == 0 {
            e.push(("topology.servers".into(), "needs at least one generator".into()));
        }
        if c.datacenters == 0 || c.datacenters > FIELD_MAX + 1 {
            e.push(("config.datacenters".into(), format!("must be within [1, 32], got {}", c.datacenters)));
        }
        if !c.machine_ids.is_empty() && c.machine_ids.len() != n as usize {
            e.push((
                "config.machine_ids".into(),
                format!("lists {} servers, the topology has {n}", c.machine_ids.len()),
            ));
        }
        if c.scheme == Scheme::Snowflake {
            for i in 0..n {
                let (dc, m) = machine_id(c, i);
                if dc > FIELD_MAX || m > FIELD_MAX {
                    let path = if c.machine_ids.is_empty() {
                        "topology.servers".into()
                    } else {
                        format!("config.machine_ids[{i}]")
                    };
                    e.push((
                        path,
                        format!("server {i} gets datacenter {dc}, machine {m}: each must fit 5 bits (0..=31)"),
                    ));
                    break;
                }
            }
        }
        if c.batch_size == 0 || c.batch_size > 1_000_000 {
            e.push(("config.batch_size".into(), format!("must be within [1, 1,000,000], got {}", c.batch_size)));
        }
        if c.epoch_offset.0 / 1_000_000 > TIMESTAMP_MAX {
            e.push((
                "config.epoch_offset".into(),
                format!(
                    "{} ms does not fit 41 bits of milliseconds (at most {TIMESTAMP_MAX} ms, about 69.7 years)",
                    c.epoch_offset.0 / 1_000_000
                ),
            ));
        }
        if c.request_timeout.0 == 0 {
            e.push(("config.request_timeout".into(), "must be positive".into()));
        }
        e
    }

    /// Per ID handed out (a batch of `batch_size` per `next_ids`): its 8 bytes in the reply the
    /// history keeps, 8 to 16 in its generator's list of issued IDs (a vector that doubles), and
    /// 24 in the uniqueness checker's sorted list: 48 B. Measured: 2.5 million IDs (5 s at 1,000
    /// ops/s, the memory test's case) peak at 133 MB, 119 MB over a tiny run, 47 B an ID. Events:
    /// the reply, beyond the kernel's two (the operation and its request); the timer is cancelled
    /// unrun. Measured: 3.0 events an operation on every snowflake file but the throughput one
    /// (4.0, its requests time out and are sent again).
    fn footprint(c: &Config, _topo: &Topology, load: &Load) -> Footprint {
        let ids = load.of("next_id", Self::OP_KINDS) + load.of("next_ids", Self::OP_KINDS) * c.batch_size as f64;
        Footprint { events: load.total(), queued: 2.0 * load.in_flight, ..Footprint::default() }.part(
            format!("IDs: {} x 48 B (the history's replies, the generators' lists, the checker's)", count(ids)),
            ids * 48.0,
        )
    }

    fn factory(c: &Config, topo: &Topology, _setup: &mut Prng) -> Box<dyn FnMut(NodeId) -> Node> {
        let c = c.clone();
        let servers = topo.servers.len() as u32;
        let topo = topo.clone();
        let ledger: Ledger = topo.servers.iter().map(|_| Default::default()).collect();
        Box::new(move |n| {
            if topo.is_client(n) {
                let ops = OpCalls::with_timeout("client", c.request_timeout);
                return Node::Client(Client { servers, batch_size: c.batch_size, ops });
            }
            let (dc, m) = machine_id(&c, n.0);
            let step = if c.auto_step == 0 { servers as u64 } else { c.auto_step as u64 };
            Node::Generator(Box::new(Generator {
                datacenter: dc as u64,
                machine: m as u64,
                scheme: c.scheme,
                guard: c.guard,
                max_wait_ms: c.max_wait.0 / 1_000_000,
                epoch_offset_ms: c.epoch_offset.0 / 1_000_000,
                last_ms: None,
                sequence: 0,
                counter: n.0 as u64 + 1,
                step,
                queue: VecDeque::new(),
                resume: None,
                ledger: ledger.clone(),
                index: topo.servers.iter().position(|&s| s == n).expect("a server") as u32,
            }))
        })
    }

    fn report(c: &Config, run: &RunView<'_, Node>) -> ModelReport {
        report(c, run)
    }
}

fn report(c: &Config, run: &RunView<'_, Node>) -> ModelReport {
    let mut r = ModelReport::default();
    // Every ID a client received, with the operation and the true time it arrived, in a list
    // sized once: grown by doubling, its outgrown buffers were more than the list itself at the
    // peak (231 MB peak RSS for 2.5 million IDs, 87 B an ID; 24 B an ID are the list).
    let ok = |h: &&sim_core::metrics::HistoryEntry| h.outcome == Some(Outcome::Ok);
    let received: usize = run.history().iter().filter(ok).map(|h| h.reply.values().len()).sum();
    let mut got: Vec<(u64, u64, u64)> = Vec::with_capacity(received); // (id, op, complete ns)
    let mut in_main = 0u64;
    for h in run.history().iter().filter(ok) {
        let t = h.complete.get().expect("completed").0;
        let ids = h.reply.values();
        if t <= run.main_end.0 {
            in_main += ids.len() as u64;
        }
        got.extend(ids.iter().map(|&id| (id, h.op.0 as u64, t)));
    }
    got.sort_unstable();
    let mut duplicates = 0u64;
    let mut first_dup = None;
    let mut dup_ops = Vec::new();
    for w in got.windows(2) {
        if w[0].0 == w[1].0 {
            duplicates += 1;
            first_dup.get_or_insert((w[0].0, w[0].1, w[1].1));
            if dup_ops.len() < 2 * sim_core::model::MAX_BLAMED {
                dup_ops.extend([sim_core::OpId::new(w[0].1), sim_core::OpId::new(w[1].1)]);
            }
        }
    }
    let dup_detail = match first_dup {
        Some((id, a, b)) => {
            let (ms, dc, m, seq) = decompose(id);
            format!("e.g. {id} (ms {ms}, datacenter {dc}, machine {m}, sequence {seq}) went to operations {a} and {b}")
        }
        None => "all distinct".into(),
    };
    r.checks.push(
        Check::judged("unique", got.len(), "IDs received")
            .violations(duplicates, "duplicates")
            .detail(dup_detail)
            .blame_ids(dup_ops),
    );

    // Worst inversion: an ID returned at true time t that is smaller than one returned before t.
    let mut worst_ns = 0u64;
    let mut latest = 0u64;
    for &(_, _, t) in &got {
        latest = latest.max(t);
        worst_ns = worst_ns.max(latest - t);
    }

    let mut decreases = 0u64;
    let mut pairs = 0u64;
    let mut first_decrease = None;
    let mut per_ms_max = 0u64;
    let (mut seq_waits, mut clock_waits, mut refused, mut exhausted) = (0u64, 0u64, 0u64, 0u64);
    let mut per_node_rows = Vec::new();
    // The generators' records, from any generator running at the end (every incarnation shares
    // them); with none running, nothing is judged, and the check says so.
    let ledger = run.servers().find_map(|(_, node)| match node {
        Node::Generator(g) => Some(g.ledger.clone()),
        Node::Client(_) => None,
    });
    let servers = &run.topology().servers;
    for (&n, g) in servers.iter().zip(ledger.iter().flat_map(|l| l.iter())) {
        let g = g.borrow();
        let (datacenter, machine) = machine_id(c, n.0);
        seq_waits += g.sequence_waits;
        clock_waits += g.clock_waits;
        refused += g.refused;
        exhausted += g.timestamp_exhausted;
        pairs += g.issued.len().saturating_sub(1) as u64;
        for (i, w) in g.issued.windows(2).enumerate() {
            if w[1] <= w[0] {
                decreases += 1;
                first_decrease.get_or_insert((n, i + 1, w[0], w[1]));
            }
        }
        if c.scheme == Scheme::Snowflake {
            let mut counts: BTreeMap<u64, u64> = BTreeMap::new();
            for id in &g.issued {
                *counts.entry(decompose(*id).0).or_default() += 1;
            }
            per_ms_max = per_ms_max.max(counts.values().copied().max().unwrap_or(0));
        }
        per_node_rows.push(vec![
            n.0 as f64,
            datacenter as f64,
            machine as f64,
            g.issued.len() as f64,
            g.sequence_waits as f64,
            g.clock_waits as f64,
            g.refused as f64,
        ]);
    }
    let mono_detail = match first_decrease {
        Some((n, i, a, b)) if c.scheme == Scheme::Snowflake => {
            format!("first on {n} at its ID #{i}: {a} then {b} (ms {} then {})", decompose(a).0, decompose(b).0)
        }
        Some((n, i, a, b)) => format!("first on {n} at its ID #{i}: {a} then {b}"),
        None => "every generator's IDs strictly increase in issue order".into(),
    };
    r.checks.push(
        Check::judged("monotonic_per_node", pairs, "consecutive ID pairs of one generator")
            .violations(decreases, "not increasing")
            .detail(mono_detail),
    );

    let main_s = run.main_end.as_secs_f64().max(1e-9);
    let m = &mut r.measures;
    m.insert("ids".into(), got.len() as f64);
    m.insert("ids_per_s".into(), in_main as f64 / main_s);
    m.insert("duplicates".into(), duplicates as f64);
    m.insert("decreases".into(), decreases as f64);
    m.insert("max_ids_per_ms_per_node".into(), per_ms_max as f64);
    m.insert("sequence_waits".into(), seq_waits as f64);
    m.insert("clock_waits".into(), clock_waits as f64);
    m.insert("refused".into(), refused as f64);
    m.insert("refused_timestamp_exhausted".into(), exhausted as f64);
    m.insert("worst_inversion_ms".into(), worst_ns as f64 / 1e6);
    r.tables.push(
        Table::new(
            "generators",
            ["node", "datacenter", "machine", "ids", "sequence_waits", "clock_waits", "refused"],
            per_node_rows,
        )
        .bars("node", &["ids"], Axis::new("IDs issued per generator node", "IDs")),
    );
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bit_layout_is_41_5_5_12() {
        assert_eq!(TIMESTAMP_BITS + DATACENTER_BITS + MACHINE_BITS + SEQUENCE_BITS, 63);
        let id = compose(1, 0, 0, 0);
        assert_eq!(id, 1 << 22);
        assert_eq!(compose(0, 1, 0, 0), 1 << 17);
        assert_eq!(compose(0, 0, 1, 0), 1 << 12);
        assert_eq!(compose(0, 0, 0, 4095), 4095);
        let max = compose((1 << 41) - 1, 31, 31, 4095);
        assert_eq!(max, i64::MAX as u64, "the sign bit stays clear");
        assert_eq!(decompose(compose(123_456_789, 17, 9, 4000)), (123_456_789, 17, 9, 4000));
        // Later milliseconds sort after any sequence of an earlier one.
        assert!(compose(10, 0, 0, 0) > compose(9, 31, 31, 4095));
    }

    fn generator(guard: ClockGuard) -> Generator {
        Generator {
            datacenter: 1,
            machine: 2,
            scheme: Scheme::Snowflake,
            guard,
            max_wait_ms: 100,
            epoch_offset_ms: 0,
            last_ms: None,
            sequence: 0,
            counter: 1,
            step: 2,
            queue: VecDeque::new(),
            resume: None,
            ledger: std::rc::Rc::new([Default::default()]),
            index: 0,
        }
    }

    #[test]
    fn sequence_exhaustion_waits_for_the_next_millisecond() {
        let mut g = generator(ClockGuard::Wait);
        for s in 0..=SEQUENCE_MAX {
            assert_eq!(g.next(5).ok(), Some(compose(5, 1, 2, s)));
        }
        assert!(matches!(g.next(5), Err(Block::Until(6))));
        assert_eq!(g.next(6).ok(), Some(compose(6, 1, 2, 0)));
    }

    #[test]
    fn backwards_clock_by_guard() {
        let mut g = generator(ClockGuard::Wait);
        g.next(500).ok();
        assert!(matches!(g.next(450), Err(Block::Until(500))));
        assert!(matches!(g.next(300), Err(Block::Refuse)), "beyond max_wait (100 ms)");
        let mut g = generator(ClockGuard::Refuse);
        g.next(50).ok();
        assert!(matches!(g.next(49), Err(Block::Refuse)));
        let mut g = generator(ClockGuard::None);
        let first = g.next(50).ok();
        g.next(51).ok();
        assert_eq!(g.next(50).ok(), first, "the naive generator repeats an ID");
    }

    #[test]
    fn a_timestamp_past_41_bits_is_refused_not_wrapped() {
        let mut g = generator(ClockGuard::Wait);
        assert_eq!(g.next(TIMESTAMP_MAX).ok(), Some(compose(TIMESTAMP_MAX, 1, 2, 0)));
        // One millisecond later 41 bits no longer hold the time: an ID would wrap to ms 0.
        assert!(matches!(g.next(TIMESTAMP_MAX + 1), Err(Block::Refuse)));
        assert!(matches!(g.next(1 << 42), Err(Block::Refuse)));
        let record = g.record();
        assert_eq!((record.timestamp_exhausted, record.issued.len()), (2, 0));
        drop(record);
        // Sequence exhaustion in the last millisecond waits for one that does not fit: refused then.
        for _ in 0..SEQUENCE_MAX {
            g.next(TIMESTAMP_MAX).ok().unwrap();
        }
        assert!(matches!(g.next(TIMESTAMP_MAX), Err(Block::Until(t)) if t == TIMESTAMP_MAX + 1));
        assert!(matches!(g.next(TIMESTAMP_MAX + 1), Err(Block::Refuse)));
    }

    #[test]
    #[should_panic(expected = "does not fit 41 bits")]
    fn compose_refuses_a_timestamp_wider_than_41_bits() {
        compose(TIMESTAMP_MAX + 1, 0, 0, 0);
    }

    #[test]
    fn an_epoch_offset_may_use_all_41_bits() {
        let topo =
            Topology::from_spec(&sim_core::topology::TopologySpec { servers: 2, clients: 1, ..Default::default() })
                .unwrap();
        let with = |ms: u64| Config { epoch_offset: Duration::from_millis(ms), ..Config::default() };
        let problems = |ms: u64| Snowflake::validate(&with(ms), &topo);
        // 2^40 ms (34.8 years) and the last millisecond 41 bits hold are fine.
        assert!(problems(1 << 40).is_empty(), "{:?}", problems(1 << 40));
        assert!(problems(TIMESTAMP_MAX).is_empty());
        let p = problems(TIMESTAMP_MAX + 1);
        assert_eq!(p.len(), 1, "{p:?}");
        assert_eq!(p[0].0, "config.epoch_offset");
        assert!(p[0].1.contains("does not fit 41 bits"), "{}", p[0].1);
    }

    #[test]
    fn auto_increment_steps_by_datacenters() {
        let mut g = generator(ClockGuard::Wait);
        g.scheme = Scheme::AutoIncrement;
        let ids: Vec<u64> = (0..3).map(|_| g.next(0).ok().unwrap()).collect();
        assert_eq!(ids, [1, 3, 5]);
    }
}
