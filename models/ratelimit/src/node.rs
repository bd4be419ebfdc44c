//! The actors: clients (the workload's users; each operation is one `parts::calls` call to a
//! random API server), API servers (which ask the limiter before serving), and counter-store shards
//! (Redis-like: one thread, one message at a time, so a check-and-increment in one message is atomic).

use crate::algo::{Algorithm, Params, State};
use crate::{Config, LimitBy, StoreAccess};
use parts::balance::Policy;
use parts::calls::{CallPolicy, CallTimer, OpCalls, ReqId};
use sim_core::{Actor, Ctx, Message, NodeId, OpId, Outcome, Reply};
use std::cell::RefCell;
use std::collections::BTreeMap;
use std::rc::Rc;

/// What the shards decided, in the order they decided it, over every incarnation: the factory
/// makes one and every shard writes to it (ARCHITECTURE.md rule 9), so a shard's crash keeps what
/// it decided before.
#[derive(Debug, Default)]
pub struct Ledger {
    /// `(operation, the shard's clock)` as each call's first key's check (or, read-then-write, its
    /// read) reached a shard. The limiter decides by that order and that clock, so the report's
    /// exact oracle replays the calls by it (in invoke order, a delayed API server's calls would
    /// look admitted out of turn).
    pub taken_up: Vec<(OpId, u64)>,
    /// `(operation, decision per algorithm)` of the shadow algorithms (`compare_algorithms`), for
    /// single-key calls. A call asked again (the client's retry) appears again; the last counts.
    pub shadow: Vec<(OpId, [bool; Algorithm::ALL.len()])>,
}

/// The ledger as the factory hands it to every shard incarnation.
pub type Decisions = Rc<RefCell<Ledger>>;

/// What a counter is kept for: a user or an IP address, optionally per API (operation kind).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum LimitKey {
    User { user: u64, api: u16 },
    Ip { ip: u64, api: u16 },
}

impl LimitKey {
    pub fn hash(self) -> u64 {
        match self {
            LimitKey::User { user, api } => mix64(user ^ ((api as u64) << 48)),
            LimitKey::Ip { ip, api } => mix64(ip ^ ((api as u64) << 48) ^ 0x5bd1_e995_0000_0000),
        }
    }
}

pub use sim_core::rng::mix64;

/// Keys onto store shards: the one consistent-hash ring (`parts::shards`).
pub use parts::shards::Shards as Ring;

#[derive(Clone, Debug)]
pub enum Msg {
    /// Client to API server: one API call by `user`.
    Request {
        call: ReqId,
        /// The operation, for the report's side-by-side comparison of algorithms only.
        op: OpId,
        user: u64,
        api: u16,
    },
    /// API server to client: served, or 429; with, per key consulted, the key's admission count
    /// after this call (what an INCR returns; the count read, at the key that refused it).
    Response {
        call: ReqId,
        admitted: bool,
        counts: Vec<u64>,
    },
    /// Atomic check-and-increment of one key (the notes' Lua script / lock).
    Check {
        req: u64,
        key: LimitKey,
        op: OpId,
        /// A single-key call: the shadow algorithms judge it.
        first: bool,
        /// The call's first key: the shard notes when it decides it ([`Decisions`]).
        lead: bool,
    },
    CheckReply {
        req: u64,
        admitted: bool,
        /// The key's admission count after the check.
        count: u64,
    },
    /// Read-then-write: GET the key's state ...
    Read {
        req: u64,
        key: LimitKey,
        op: OpId,
        first: bool,
        lead: bool,
    },
    ReadReply {
        req: u64,
        state: State,
        /// The key's admission count, stored with the state.
        count: u64,
    },
    /// ... then SET it, computed on the API server (with the count it read, plus one).
    Write {
        req: u64,
        key: LimitKey,
        state: State,
        count: u64,
    },
    WriteAck {
        req: u64,
    },
}

impl Message for Msg {
    fn kind(&self) -> &'static str {
        match self {
            Msg::Request { .. } => "request",
            Msg::Response { .. } => "response",
            Msg::Check { .. } => "check",
            Msg::CheckReply { .. } => "check_reply",
            Msg::Read { .. } => "read",
            Msg::ReadReply { .. } => "read_reply",
            Msg::Write { .. } => "write",
            Msg::WriteAck { .. } => "write_ack",
        }
    }
    fn size_bytes(&self) -> u64 {
        match self {
            Msg::ReadReply { state, .. } | Msg::Write { state, .. } => 40 + state.wire_bytes(),
            _ => 64,
        }
    }
}

/// Everything every node needs to know, shared.
#[derive(Clone, Debug)]
pub struct Shared {
    pub algorithm: Algorithm,
    pub user: Params,
    pub ip: Params,
    pub limit_by: LimitBy,
    pub users_per_ip: u64,
    pub per_api: bool,
    pub access: StoreAccess,
    pub api_servers: Vec<NodeId>,
    pub ring: Ring,
    pub request_timeout: sim_core::Duration,
    pub compare_algorithms: bool,
}

impl Shared {
    pub fn from_config(c: &Config, api_servers: Vec<NodeId>, ring: Ring) -> Shared {
        let user = Params { max: c.enforced(c.limit_per_window), window_ns: c.window.0, buckets: c.buckets_per_window };
        let ip = Params { max: c.enforced(c.ip_limit_per_window), ..user };
        Shared {
            algorithm: c.algorithm,
            user,
            ip,
            limit_by: c.limit_by,
            users_per_ip: c.users_per_ip.max(1) as u64,
            per_api: c.per_api,
            access: c.access,
            api_servers,
            ring,
            request_timeout: c.request_timeout,
            compare_algorithms: c.compare_algorithms,
        }
    }

    /// The keys a request is checked against, in order (user first: an over-limit user does not
    /// spend its address's budget).
    pub fn keys(&self, user: u64, api: u16) -> Vec<LimitKey> {
        let api = if self.per_api { api } else { 0 };
        let u = LimitKey::User { user, api };
        let i = LimitKey::Ip { ip: user / self.users_per_ip, api };
        match self.limit_by {
            LimitBy::User => vec![u],
            LimitBy::Ip => vec![i],
            LimitBy::Both => vec![u, i],
        }
    }

    pub fn params(&self, key: LimitKey) -> &Params {
        match key {
            LimitKey::User { .. } => &self.user,
            LimitKey::Ip { .. } => &self.ip,
        }
    }
}

pub enum Node {
    Client(Client),
    Api(Api),
    Store(Store),
}

/// Each operation is one call to a random API server (a timeout, no retries; a 429 is an answer).
pub struct Client {
    ops: OpCalls<Msg>,
}

pub struct Api {
    pub shared: std::sync::Arc<Shared>,
    next_req: u64,
    pending: BTreeMap<u64, Pending>,
}

struct Pending {
    client: NodeId,
    call: ReqId,
    op: OpId,
    keys: Vec<LimitKey>,
    stage: usize,
    /// Per key consulted so far: its admission count after this call.
    counts: Vec<u64>,
}

/// The size of one key's limiter state: in the model's memory (the map key and the state with its
/// heap buffer: [`State::mem_bytes`]) and in the notes' Redis layout
/// ([`State::notes_layout_bytes`]). Each field is the largest seen.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Sizes {
    pub mem: u64,
    pub notes_layout: u64,
}

impl Sizes {
    fn of(state: &State) -> Sizes {
        Sizes {
            mem: std::mem::size_of::<LimitKey>() as u64 + state.mem_bytes(),
            notes_layout: state.notes_layout_bytes(),
        }
    }
    /// Each field the larger of the two.
    pub fn max(self, o: Sizes) -> Sizes {
        Sizes { mem: self.mem.max(o.mem), notes_layout: self.notes_layout.max(o.notes_layout) }
    }
}

/// A counter-store shard.
pub struct Store {
    pub shared: std::sync::Arc<Shared>,
    pub states: BTreeMap<LimitKey, State>,
    /// Per key: calls admitted ever, stored beside the state (a GET returns it, a SET writes it)
    /// and returned to the client, so the history shows the counter (`linearizable`).
    pub admissions: BTreeMap<LimitKey, u64>,
    /// Per key: the largest its state has been.
    pub peak_bytes: BTreeMap<LimitKey, Sizes>,
    /// With `compare_algorithms`: every algorithm run side by side on the same requests.
    pub shadows: BTreeMap<LimitKey, Vec<State>>,
    pub shadow_peak_bytes: BTreeMap<LimitKey, [Sizes; Algorithm::ALL.len()]>,
    pub decisions: Decisions,
}

impl Node {
    pub fn client(shared: std::sync::Arc<Shared>) -> Node {
        let policy = CallPolicy { timeout: shared.request_timeout, ..CallPolicy::default() };
        Node::Client(Client { ops: OpCalls::new("client", &shared.api_servers, policy, Policy::Random) })
    }
    pub fn api(shared: std::sync::Arc<Shared>) -> Node {
        Node::Api(Api { shared, next_req: 0, pending: BTreeMap::new() })
    }
    pub fn store(shared: std::sync::Arc<Shared>, decisions: Decisions) -> Node {
        Node::Store(Store {
            shared,
            states: BTreeMap::new(),
            admissions: BTreeMap::new(),
            peak_bytes: BTreeMap::new(),
            shadows: BTreeMap::new(),
            shadow_peak_bytes: BTreeMap::new(),
            decisions,
        })
    }
}

impl Actor for Node {
    type Msg = Msg;
    type Timer = CallTimer;
    type Record = ();

    fn on_start(&mut self, _ctx: &mut Ctx<'_, Self>) {}

    fn on_op(&mut self, ctx: &mut Ctx<'_, Self>, op: sim_core::Op) {
        let Node::Client(c) = self else {
            ctx.complete(op.id, Outcome::Fail, Reply::None);
            return;
        };
        let (id, user, api) = (op.id, op.key, op.kind);
        c.ops.call(ctx, 0, |call| Msg::Request { call, op: id, user, api }, id);
    }

    fn on_msg(&mut self, ctx: &mut Ctx<'_, Self>, from: NodeId, msg: Msg) {
        match self {
            Node::Client(c) => c.on_msg(ctx, msg),
            Node::Api(a) => a.on_msg(ctx, from, msg),
            Node::Store(s) => s.on_msg(ctx, from, msg),
        }
    }

    fn on_timer(&mut self, ctx: &mut Ctx<'_, Self>, timer: CallTimer) {
        if let Node::Client(c) = self {
            c.ops.on_timer(ctx, timer);
        }
    }
}

impl Client {
    fn on_msg(&mut self, ctx: &mut Ctx<'_, Node>, msg: Msg) {
        if let Msg::Response { call, admitted, counts } = msg {
            let reply = match counts[..] {
                [n] => Reply::Value(n),
                _ => Reply::list(counts),
            };
            self.ops.answered(ctx, call, if admitted { Outcome::Ok } else { Outcome::Rejected }, reply);
        }
    }
}

impl Api {
    fn on_msg(&mut self, ctx: &mut Ctx<'_, Node>, from: NodeId, msg: Msg) {
        match msg {
            Msg::Request { call, op, user, api } => self.on_msg_request(ctx, from, call, op, user, api),
            Msg::CheckReply { req, admitted, count } => self.on_msg_check_reply(ctx, req, admitted, count),
            Msg::ReadReply { req, state, count } => self.on_msg_read_reply(ctx, req, state, count),
            Msg::WriteAck { req } => self.advance(ctx, req),
            _ => {}
        }
    }

    fn on_msg_request(&mut self, ctx: &mut Ctx<'_, Node>, client: NodeId, call: ReqId, op: OpId, user: u64, api: u16) {
        let req = self.next_req;
        self.next_req += 1;
        let keys = self.shared.keys(user, api);
        self.pending.insert(req, Pending { client, call, op, keys, stage: 0, counts: Vec::new() });
        self.ask(ctx, req);
    }

    /// Asks the store about the current stage's key.
    fn ask(&mut self, ctx: &mut Ctx<'_, Node>, req: u64) {
        let p = &self.pending[&req];
        let key = p.keys[p.stage];
        let lead = p.stage == 0;
        let first = lead && p.keys.len() == 1;
        let shard = self.shared.ring.owner(key.hash());
        let msg = match self.shared.access {
            StoreAccess::Atomic => Msg::Check { req, key, op: p.op, first, lead },
            StoreAccess::ReadThenWrite => Msg::Read { req, key, op: p.op, first, lead },
        };
        ctx.send(shard, msg);
    }

    fn on_msg_check_reply(&mut self, ctx: &mut Ctx<'_, Node>, req: u64, admitted: bool, count: u64) {
        let Some(p) = self.pending.get_mut(&req) else { return };
        p.counts.push(count);
        if admitted {
            self.advance(ctx, req);
        } else {
            self.finish(ctx, req, false);
        }
    }

    /// Read-then-write: decide here, on the API server's clock, then SET the whole state.
    fn on_msg_read_reply(&mut self, ctx: &mut Ctx<'_, Node>, req: u64, mut state: State, count: u64) {
        let Some(p) = self.pending.get_mut(&req) else { return };
        let key = p.keys[p.stage];
        let params = *self.shared.params(key);
        if state.admit(&params, ctx.now().0) {
            p.counts.push(count + 1);
            let shard = self.shared.ring.owner(key.hash());
            ctx.send(shard, Msg::Write { req, key, state, count: count + 1 });
        } else {
            p.counts.push(count);
            self.finish(ctx, req, false);
        }
    }

    /// The current key admitted the request: on to the next, or serve it.
    fn advance(&mut self, ctx: &mut Ctx<'_, Node>, req: u64) {
        let Some(p) = self.pending.get_mut(&req) else { return };
        p.stage += 1;
        if p.stage == p.keys.len() {
            self.finish(ctx, req, true);
        } else {
            self.ask(ctx, req);
        }
    }

    fn finish(&mut self, ctx: &mut Ctx<'_, Node>, req: u64, admitted: bool) {
        if let Some(p) = self.pending.remove(&req) {
            ctx.count(if admitted { "admitted" } else { "rejected_429" }, 1);
            ctx.send(p.client, Msg::Response { call: p.call, admitted, counts: p.counts });
        }
    }
}

impl Store {
    fn on_msg(&mut self, ctx: &mut Ctx<'_, Node>, from: NodeId, msg: Msg) {
        let now = ctx.now().0;
        match msg {
            Msg::Check { req, key, op, first, lead } => {
                self.note_decision(op, lead, now);
                self.shadow(key, op, first, now);
                let params = *self.shared.params(key);
                let algo = self.shared.algorithm;
                let state = self.states.entry(key).or_insert_with(|| State::new(algo, &params));
                let admitted = state.admit(&params, now);
                let size = Sizes::of(state);
                let count = self.admissions.entry(key).or_default();
                *count += admitted as u64;
                let count = *count;
                self.note_size(key, size);
                ctx.send(from, Msg::CheckReply { req, admitted, count });
            }
            Msg::Read { req, key, op, first, lead } => {
                self.note_decision(op, lead, now);
                self.shadow(key, op, first, now);
                let params = *self.shared.params(key);
                let algo = self.shared.algorithm;
                let state = self.states.get(&key).cloned().unwrap_or_else(|| State::new(algo, &params));
                let count = self.admissions.get(&key).copied().unwrap_or(0);
                ctx.send(from, Msg::ReadReply { req, state, count });
            }
            Msg::Write { req, key, state, count } => {
                let size = Sizes::of(&state);
                self.states.insert(key, state);
                self.admissions.insert(key, count);
                self.note_size(key, size);
                ctx.send(from, Msg::WriteAck { req });
            }
            _ => {}
        }
    }

    fn note_decision(&self, op: OpId, lead: bool, now: u64) {
        if lead {
            self.decisions.borrow_mut().taken_up.push((op, now));
        }
    }

    fn note_size(&mut self, key: LimitKey, size: Sizes) {
        let peak = self.peak_bytes.entry(key).or_default();
        *peak = peak.max(size);
    }

    /// Runs every algorithm on this request, for the side-by-side comparison (single-key limits).
    fn shadow(&mut self, key: LimitKey, op: OpId, first: bool, now: u64) {
        if !self.shared.compare_algorithms || !first {
            return;
        }
        let params = *self.shared.params(key);
        let states =
            self.shadows.entry(key).or_insert_with(|| Algorithm::ALL.iter().map(|&a| State::new(a, &params)).collect());
        let peaks = self.shadow_peak_bytes.entry(key).or_default();
        let mut decisions = [false; Algorithm::ALL.len()];
        for (i, s) in states.iter_mut().enumerate() {
            decisions[i] = s.admit(&params, now);
            peaks[i] = peaks[i].max(Sizes::of(s));
        }
        self.decisions.borrow_mut().shadow.push((op, decisions));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Config;
    use sim_core::{Effect, IdSource, Prng, Stream, Time};
    use std::sync::Arc;

    fn shared(access: StoreAccess) -> Arc<Shared> {
        let c = Config { limit_per_window: 1, access, ..Config::default() };
        Arc::new(Shared::from_config(&c, vec![NodeId(0)], Ring::new(&[NodeId(1)], 8)))
    }

    /// Delivers `msg` to `node` at local time `t` with no world behind it; returns what it sent.
    fn deliver(node: &mut Node, t: u64, from: NodeId, msg: Msg) -> Vec<(NodeId, Msg)> {
        let mut rng = Prng::new(1, Stream::Node(1));
        let mut ids = IdSource::default();
        let mut effects = Vec::new();
        let mut ctx = Ctx::detached(NodeId(1), Time(t), &mut rng, &mut ids, &[], &mut effects);
        node.on_msg(&mut ctx, from, msg);
        effects
            .into_iter()
            .filter_map(|e| match e {
                Effect::Send { to, msg } => Some((to, msg)),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn atomic_check_serialises_two_servers() {
        let mut store = Node::store(shared(StoreAccess::Atomic), Decisions::default());
        let key = LimitKey::User { user: 7, api: 0 };
        let a = deliver(&mut store, 5, NodeId(0), Msg::Check { req: 1, key, op: OpId(1), first: true, lead: true });
        let b = deliver(&mut store, 5, NodeId(2), Msg::Check { req: 1, key, op: OpId(2), first: true, lead: true });
        assert!(matches!(a[..], [(NodeId(0), Msg::CheckReply { admitted: true, .. })]));
        assert!(matches!(b[..], [(NodeId(2), Msg::CheckReply { admitted: false, .. })]));
    }

    #[test]
    fn read_then_write_loses_an_update() {
        let mut store = Node::store(shared(StoreAccess::ReadThenWrite), Decisions::default());
        let key = LimitKey::User { user: 7, api: 0 };
        // Two API servers read the empty state before either writes: both will admit.
        let r1 = deliver(&mut store, 5, NodeId(0), Msg::Read { req: 1, key, op: OpId(1), first: true, lead: true });
        let r2 = deliver(&mut store, 5, NodeId(2), Msg::Read { req: 1, key, op: OpId(2), first: true, lead: true });
        let params = Params { max: 1, window_ns: 1_000_000_000, buckets: 60 };
        let mut admitted = 0;
        for r in [r1, r2] {
            let [(_, Msg::ReadReply { state, .. })] = &r[..] else { panic!("{r:?}") };
            let mut s = state.clone();
            if s.admit(&params, 5) {
                admitted += 1;
                deliver(&mut store, 6, NodeId(0), Msg::Write { req: 1, key, state: s, count: 1 });
            }
        }
        assert_eq!(admitted, 2, "a limit of 1, and two calls admitted");
        let Node::Store(s) = &store else { unreachable!() };
        assert_eq!(s.states[&key], State::Log([5].into()), "the second SET overwrote the first");
    }
}
