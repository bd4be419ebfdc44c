//! # URL shortener (system 8 of the notes)
//!
//! Web servers take `shorten` (POST a long URL, get a short one) and `redirect` (GET a short URL,
//! answer 301 or 302 with the long one). Mappings live in store shards placed by consistent hashing
//! of the short code; every write is persisted (synced) before it is acknowledged.
//!
//! Two ways to make a short code:
//! - `Id`: a snowflake ID (`snowflake::compose`, the web server's local clock, its own machine id)
//!   in base 62. Unique by construction, so the store is written blindly. Not fixed length: a
//!   64-bit snowflake ID takes 11 symbols, not the notes' 7 (measured: `short_url_len_max`).
//! - `Hash`: the long URL's hash truncated to `hash_chars` base-62 symbols. With
//!   `collision_handling` the shard inserts only if the code is free (one message, atomic) and the
//!   web server rehashes with a salt on a collision; a Bloom filter at each shard answers "certainly
//!   free" without the table read (`db_read`), and its false positives are counted against the
//!   formula `(1 - e^(-kn/m))^k`. Without handling, the shard overwrites: two long URLs, one code.
//!
//! Read path: each web server's LRU cache (`cache_entries`), then the shard (Bloom filter, then the
//! table). Redirects are routed by code, so each server caches its share of the codes. With
//! `compare_cache_entries` every web server also runs shadow LRUs of those sizes on the same reads:
//! the report's hit-ratio-versus-size table. A 301 is cached by the browser (the client node), so
//! repeat visits never reach the service (and its analytics); a 302 always does.
//!
//! With `shorten_limit_per_window` the rate limiter of model 4 (a sliding log per user, at the web
//! server each user is routed to) answers 429 to users who create too fast.
//!
//! Clients call the web servers through `parts::calls` (one call per operation: `request_timeout`,
//! no retries; a failure or a 429 ends the call; the counters are `client.*`).
//!
//! The workload: `redirect` reads key `k` of `preloaded_urls` mappings made before the run (Zipf
//! popularity: key 0 most popular); `shorten` writes a new long URL per operation.
//!
//! Invariants: `no_collisions` (no short code was handed out for two different long URLs) and
//! `mapping_correct` (every redirect answered the long URL its code was made for).
//!
//! The failure it exists to show: truncated hashing without collision handling maps two long URLs
//! to one short code, and a redirect sends users to the wrong page.
//!
//! **Transport:** `Connection` by default (HTTP and store calls over TCP): messages between two nodes
//! arrive in send order.

pub mod codes;

pub use codes::truncated_hash;
pub use parts::bloom::{Bloom, fp_rate};
pub use parts::ids::{base62, base62_len, code_space};

use parts::cache::{Cache, CacheSpec, Capacity};
use parts::calls::{CallTimer, OpCalls, ReqId};
use parts::limiter;
use parts::shards::Shards as Ring;
use serde::{Deserialize, Serialize};
use sim_core::cost::{Load, count};
use sim_core::rng::mix64;
use sim_core::{
    Actor, Axis, Check, Ctx, Duration, Footprint, Message, Model, ModelReport, NodeId, Outcome, Prng, Reply, RunView,
    Table, Topology, WriteId,
};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum Scheme {
    /// Base 62 of a unique (snowflake) ID.
    #[default]
    Id,
    /// A hash of the long URL truncated to `hash_chars` symbols.
    Hash,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum Redirect {
    /// 301: the browser caches it; later visits skip the service.
    Permanent,
    /// 302: every visit reaches the service (analytics see it).
    #[default]
    Temporary,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    pub scheme: Scheme,
    pub hash_chars: u32,
    /// Hash scheme: insert only if free, rehash on collision. Off: overwrite (known-bad).
    pub collision_handling: bool,
    /// A Bloom filter of the codes in front of each shard's table.
    pub bloom_filter: bool,
    pub bloom_bits_per_shard: u64,
    pub bloom_hashes: u32,
    /// Rehashes before a write gives up.
    pub max_rehash: u32,
    /// The first `web_servers` servers are web servers; the rest are store shards.
    pub web_servers: u32,
    pub cache_entries: u32,
    /// Shadow LRU sizes for the hit-ratio table.
    pub compare_cache_entries: Vec<u32>,
    /// Mappings made before the run; `redirect` reads key `k` of them.
    pub preloaded_urls: u32,
    pub redirect: Redirect,
    /// A table read at a shard (skipped when the Bloom filter says "certainly absent").
    pub db_read: Duration,
    pub request_timeout: Duration,
    /// How long the ID scheme's snowflake epoch lies before the run (IDs, and so their base-62
    /// length, grow with it: a year in makes 10 symbols, not the notes' 7).
    pub id_epoch_offset: Duration,
    /// The rate limiter (model 4) in front of `shorten`: calls per user (the workload key) per
    /// `shorten_limit_window`, a sliding log at the web server the user is routed to; 0 turns it
    /// off. Over the limit: 429 (`Rejected`).
    pub shorten_limit_per_window: u32,
    pub shorten_limit_window: Duration,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            scheme: Scheme::Id,
            hash_chars: 7,
            collision_handling: true,
            bloom_filter: true,
            bloom_bits_per_shard: 1 << 20,
            bloom_hashes: 5,
            max_rehash: 8,
            web_servers: 2,
            cache_entries: 1000,
            compare_cache_entries: Vec::new(),
            preloaded_urls: 10_000,
            redirect: Redirect::Temporary,
            db_read: Duration::from_millis(2),
            request_timeout: Duration::from_secs(1),
            id_epoch_offset: Duration::from_secs(365 * 86_400),
            shorten_limit_per_window: 0,
            shorten_limit_window: Duration::from_secs(1),
        }
    }
}

/// The long URL (its identity) of preloaded key `k`.
pub fn preloaded_long(k: u64) -> u64 {
    k
}

/// The long URL written by the operation whose workload value is `value`.
pub fn written_long(value: u64) -> u64 {
    (1 << 40) + value
}

/// The short codes of the preloaded mappings, made the way the configured scheme makes them, in
/// key order; a code taken by an earlier key is rehashed when collisions are handled, and
/// overwritten (in the store) when they are not.
pub fn preload_codes(c: &Config) -> Vec<u64> {
    let n = c.preloaded_urls as u64;
    match c.scheme {
        // IDs from before the run: a legacy sequence 1, 2, 3, ... (the notes' table: 12345, 56644).
        Scheme::Id => (0..n).map(|k| k + 1).collect(),
        Scheme::Hash => {
            let mut taken = BTreeSet::new();
            (0..n)
                .map(|k| {
                    let long = preloaded_long(k);
                    let mut salt = 0;
                    let mut code = truncated_hash(long, salt, c.hash_chars);
                    while c.collision_handling && taken.contains(&code) && salt < 1000 {
                        salt += 1;
                        code = truncated_hash(long, salt, c.hash_chars);
                    }
                    taken.insert(code);
                    code
                })
                .collect()
        }
    }
}

#[derive(Clone, Debug)]
pub enum Msg {
    Shorten {
        call: ReqId,
        long: u64,
        user: u64,
    },
    Redirect {
        call: ReqId,
        code: u64,
    },
    Shortened {
        call: ReqId,
        code: u64,
    },
    Redirected {
        call: ReqId,
        code: u64,
        long: Option<u64>,
        permanent: bool,
    },
    Failed {
        call: ReqId,
    },
    /// HTTP 429 from the rate limiter.
    Throttled {
        call: ReqId,
    },
    /// Blind write (IDs are unique; the known-bad hash scheme overwrites).
    Put {
        req: u64,
        code: u64,
        long: u64,
    },
    /// Insert only if the code is free, in one step at the shard.
    PutIfAbsent {
        req: u64,
        code: u64,
        long: u64,
    },
    Get {
        req: u64,
        code: u64,
    },
    PutDone {
        req: u64,
        result: PutResult,
    },
    GetReply {
        req: u64,
        long: Option<u64>,
    },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PutResult {
    Inserted,
    /// The code already maps to this same long URL.
    Existing,
    /// The code is taken by another long URL.
    Collision,
}

impl Message for Msg {
    fn kind(&self) -> &'static str {
        match self {
            Msg::Shorten { .. } => "shorten",
            Msg::Redirect { .. } => "redirect",
            Msg::Shortened { .. } => "shortened",
            Msg::Redirected { .. } => "redirected",
            Msg::Failed { .. } => "failed",
            Msg::Throttled { .. } => "throttled",
            Msg::Put { .. } => "put",
            Msg::PutIfAbsent { .. } => "put_if_absent",
            Msg::Get { .. } => "get",
            Msg::PutDone { .. } => "put_done",
            Msg::GetReply { .. } => "get_reply",
        }
    }
    fn size_bytes(&self) -> u64 {
        match self {
            // The notes' 100 bytes per record.
            Msg::Shorten { .. } | Msg::Put { .. } | Msg::PutIfAbsent { .. } | Msg::Redirected { .. } => 128,
            _ => 48,
        }
    }
}

#[derive(Clone, Debug)]
pub enum Timer {
    Call(CallTimer),
    /// A shard's table read is done: answer `to`.
    DbRead {
        to: NodeId,
        msg: Msg,
        write: Option<(u64, u64)>,
    },
}

impl From<CallTimer> for Timer {
    fn from(t: CallTimer) -> Timer {
        Timer::Call(t)
    }
}

struct Shared {
    config: Config,
    web: Vec<NodeId>,
    ring: Ring,
    preloaded: Vec<u64>,
}

pub enum Node {
    Client(Client),
    Web(Box<Web>),
    Shard(Box<Shard>),
}

pub struct Client {
    shared: Arc<Shared>,
    /// Each operation is one call to a web server (a timeout, no retries).
    ops: OpCalls<Msg>,
    /// The browser's cache of 301 redirects.
    browser: BTreeMap<u64, u64>,
}

enum Job {
    Shorten { long: u64, salt: u32 },
    Redirect { code: u64 },
}

struct WebPending {
    client: NodeId,
    call: ReqId,
    code: u64,
    job: Job,
}

pub struct Web {
    shared: Arc<Shared>,
    datacenter: u64,
    machine: u64,
    last_ms: u64,
    sequence: u64,
    next_req: u64,
    pending: BTreeMap<u64, WebPending>,
    pub cache: Cache<u64>,
    pub shadow_caches: Vec<Cache<u64>>,
    pub rehashes: u64,
    pub redirects_served: u64,
    limiter: BTreeMap<u64, limiter::State>,
    pub throttled: u64,
}

pub struct Shard {
    shared: Arc<Shared>,
    pub table: BTreeMap<u64, u64>,
    pub bloom: Option<Bloom>,
    writes: BTreeMap<WriteId, (NodeId, Msg)>,
    /// Lookups of codes not in the table, the Bloom filter's false positives among them, and the
    /// sum of the formula's predicted rate at each of those lookups.
    pub absent_lookups: u64,
    pub bloom_false_positives: u64,
    pub bloom_fp_predicted: f64,
    pub db_reads: u64,
    pub db_reads_saved: u64,
}

impl Actor for Node {
    type Msg = Msg;
    type Timer = Timer;
    type Record = (u64, u64);

    fn on_start(&mut self, ctx: &mut Ctx<'_, Self>) {
        if let Node::Shard(s) = self
            && ctx.is_restart()
        {
            for &(code, long) in ctx.durable() {
                s.table.insert(code, long);
                if let Some(b) = &mut s.bloom {
                    b.insert(code);
                }
            }
        }
    }

    fn on_op(&mut self, ctx: &mut Ctx<'_, Self>, op: sim_core::Op) {
        let Node::Client(c) = self else {
            ctx.complete(op.id, Outcome::Fail, Reply::None);
            return;
        };
        let sh = &c.shared;
        let web = &sh.web;
        if op.kind == 0 {
            // Users are routed to one web server each, so its local limiter sees all their calls.
            let to = web[(mix64(op.key ^ 0x05E7) % web.len() as u64) as usize];
            let (long, user) = (written_long(op.value), op.key);
            c.ops.call_to(ctx, to, |call| Msg::Shorten { call, long, user }, op.id);
        } else {
            let code = sh.preloaded[(op.key % sh.preloaded.len() as u64) as usize];
            if let Some(&long) = c.browser.get(&code) {
                ctx.count("redirect_browser_cached", 1);
                ctx.complete(op.id, Outcome::Ok, Reply::Value(long));
                return;
            }
            let to = web[(mix64(code) % web.len() as u64) as usize];
            c.ops.call_to(ctx, to, |call| Msg::Redirect { call, code }, op.id);
        }
    }

    fn on_msg(&mut self, ctx: &mut Ctx<'_, Self>, from: NodeId, msg: Msg) {
        match self {
            Node::Client(c) => c.on_msg(ctx, msg),
            Node::Web(w) => w.on_msg(ctx, from, msg),
            Node::Shard(s) => s.on_msg(ctx, from, msg),
        }
    }

    fn on_timer(&mut self, ctx: &mut Ctx<'_, Self>, timer: Timer) {
        match (self, timer) {
            (Node::Client(c), Timer::Call(t)) => c.ops.on_timer(ctx, t),
            (Node::Shard(s), Timer::DbRead { to, msg, write }) => s.reply(ctx, to, msg, write),
            _ => {}
        }
    }

    fn on_persisted(&mut self, ctx: &mut Ctx<'_, Self>, write: WriteId) {
        if let Node::Shard(s) = self
            && let Some((to, msg)) = s.writes.remove(&write)
        {
            ctx.send(to, msg);
        }
    }
}

impl Client {
    fn on_msg(&mut self, ctx: &mut Ctx<'_, Node>, msg: Msg) {
        let (call, outcome, reply) = match msg {
            Msg::Shortened { call, code } => (call, Outcome::Ok, Reply::Value(code)),
            Msg::Redirected { call, code, long: Some(long), permanent } => {
                if permanent {
                    self.browser.insert(code, long);
                }
                (call, Outcome::Ok, Reply::Value(long))
            }
            Msg::Redirected { call, long: None, .. } | Msg::Failed { call } => (call, Outcome::Fail, Reply::None),
            Msg::Throttled { call } => (call, Outcome::Rejected, Reply::None),
            _ => return,
        };
        self.ops.answered(ctx, call, outcome, reply);
    }
}

impl Web {
    fn on_msg(&mut self, ctx: &mut Ctx<'_, Node>, from: NodeId, msg: Msg) {
        match msg {
            Msg::Shorten { call, long, user } => {
                if self.admit(ctx, user) {
                    self.on_msg_shorten(ctx, from, call, long);
                } else {
                    self.throttled += 1;
                    ctx.send(from, Msg::Throttled { call });
                }
            }
            Msg::Redirect { call, code } => self.on_msg_redirect(ctx, from, call, code),
            Msg::PutDone { req, result } => self.on_msg_put_done(ctx, req, result),
            Msg::GetReply { req, long } => self.on_msg_get_reply(ctx, req, long),
            _ => {}
        }
    }

    /// The rate limiter's decision for one `shorten` by `user`.
    fn admit(&mut self, ctx: &Ctx<'_, Node>, user: u64) -> bool {
        let c = &self.shared.config;
        if c.shorten_limit_per_window == 0 {
            return true;
        }
        let p = limiter::Params { max: c.shorten_limit_per_window, window_ns: c.shorten_limit_window.0, buckets: 1 };
        let state = self.limiter.entry(user).or_insert_with(|| limiter::State::new(limiter::Algorithm::SlidingLog, &p));
        state.admit(&p, ctx.now().0)
    }

    fn shard(&self, code: u64) -> NodeId {
        self.shared.ring.owner(mix64(code ^ 0xC0DE_C0DE))
    }

    /// A snowflake ID on this server's local clock (`None` when this millisecond is used up or the
    /// clock is behind the last one used).
    fn next_id(&mut self, ctx: &Ctx<'_, Node>) -> Option<u64> {
        let now_ms = (ctx.now().0 + self.shared.config.id_epoch_offset.0) / 1_000_000;
        if now_ms > self.last_ms {
            self.last_ms = now_ms;
            self.sequence = 0;
        } else if now_ms == self.last_ms && self.sequence < parts::ids::SEQUENCE_MAX {
            self.sequence += 1;
        } else {
            return None;
        }
        Some(parts::ids::compose(now_ms, self.datacenter, self.machine, self.sequence))
    }

    fn on_msg_shorten(&mut self, ctx: &mut Ctx<'_, Node>, client: NodeId, call: ReqId, long: u64) {
        let c = &self.shared.config;
        let (code, msg_kind_put) = match c.scheme {
            Scheme::Id => match self.next_id(ctx) {
                Some(id) => (id, true),
                None => {
                    ctx.send(client, Msg::Failed { call });
                    return;
                }
            },
            Scheme::Hash => (truncated_hash(long, 0, c.hash_chars), !c.collision_handling),
        };
        let req = self.next_req;
        self.next_req += 1;
        self.pending.insert(req, WebPending { client, call, code, job: Job::Shorten { long, salt: 0 } });
        let msg = if msg_kind_put { Msg::Put { req, code, long } } else { Msg::PutIfAbsent { req, code, long } };
        ctx.send(self.shard(code), msg);
    }

    fn on_msg_put_done(&mut self, ctx: &mut Ctx<'_, Node>, req: u64, result: PutResult) {
        let Some(mut p) = self.pending.remove(&req) else { return };
        match (result, &mut p.job) {
            (PutResult::Inserted | PutResult::Existing, _) => {
                ctx.send(p.client, Msg::Shortened { call: p.call, code: p.code });
            }
            (PutResult::Collision, Job::Shorten { long, salt }) => {
                self.rehashes += 1;
                ctx.count("hash_collisions_resolved", 1);
                let c = &self.shared.config;
                if *salt >= c.max_rehash {
                    ctx.send(p.client, Msg::Failed { call: p.call });
                    return;
                }
                *salt += 1;
                let long = *long;
                p.code = truncated_hash(long, *salt, c.hash_chars);
                let code = p.code;
                let req = self.next_req;
                self.next_req += 1;
                self.pending.insert(req, p);
                ctx.send(self.shard(code), Msg::PutIfAbsent { req, code, long });
            }
            (PutResult::Collision, Job::Redirect { .. }) => {}
        }
    }

    fn on_msg_redirect(&mut self, ctx: &mut Ctx<'_, Node>, client: NodeId, call: ReqId, code: u64) {
        self.redirects_served += 1;
        let now = ctx.now();
        for s in &mut self.shadow_caches {
            if s.get(now, code).is_none() {
                s.put(now, code, 0, 1);
            }
        }
        let permanent = self.shared.config.redirect == Redirect::Permanent;
        if let Some(long) = self.cache.get(now, code).and_then(|f| f.value.copied()) {
            ctx.send(client, Msg::Redirected { call, code, long: Some(long), permanent });
            return;
        }
        let req = self.next_req;
        self.next_req += 1;
        self.pending.insert(req, WebPending { client, call, code, job: Job::Redirect { code } });
        ctx.send(self.shard(code), Msg::Get { req, code });
    }

    fn on_msg_get_reply(&mut self, ctx: &mut Ctx<'_, Node>, req: u64, long: Option<u64>) {
        let Some(p) = self.pending.remove(&req) else { return };
        let Job::Redirect { code } = p.job else { return };
        if let Some(l) = long {
            self.cache.put(ctx.now(), code, l, 1);
        }
        let permanent = self.shared.config.redirect == Redirect::Permanent;
        ctx.send(p.client, Msg::Redirected { call: p.call, code, long, permanent });
    }
}

impl Shard {
    fn on_msg(&mut self, ctx: &mut Ctx<'_, Node>, from: NodeId, msg: Msg) {
        match msg {
            Msg::Put { req, code, long } => {
                self.table.insert(code, long);
                if let Some(b) = &mut self.bloom {
                    b.insert(code);
                }
                let w = ctx.persist((code, long));
                self.writes.insert(w, (from, Msg::PutDone { req, result: PutResult::Inserted }));
            }
            Msg::PutIfAbsent { req, code, long } => {
                let needs_read = self.lookup_needs_read(code);
                let (result, write) = match self.table.get(&code) {
                    None => {
                        self.table.insert(code, long);
                        if let Some(b) = &mut self.bloom {
                            b.insert(code);
                        }
                        (PutResult::Inserted, Some((code, long)))
                    }
                    Some(&l) if l == long => (PutResult::Existing, None),
                    Some(_) => (PutResult::Collision, None),
                };
                self.answer(ctx, from, Msg::PutDone { req, result }, write, needs_read);
            }
            Msg::Get { req, code } => {
                let needs_read = self.lookup_needs_read(code);
                let long = self.table.get(&code).copied();
                self.answer(ctx, from, Msg::GetReply { req, long }, None, needs_read);
            }
            _ => {}
        }
    }

    /// Whether finding out about `code` takes a table read: not when the Bloom filter says the
    /// code is certainly absent. Counts the filter's false positives.
    fn lookup_needs_read(&mut self, code: u64) -> bool {
        let present = self.table.contains_key(&code);
        let Some(b) = &self.bloom else { return true };
        let maybe = b.contains(code);
        if !present {
            self.absent_lookups += 1;
            self.bloom_fp_predicted += b.fp_rate_now();
            self.bloom_false_positives += maybe as u64;
        }
        if !maybe {
            self.db_reads_saved += 1;
        }
        maybe
    }

    fn answer(&mut self, ctx: &mut Ctx<'_, Node>, to: NodeId, msg: Msg, write: Option<(u64, u64)>, read: bool) {
        if read {
            self.db_reads += 1;
            ctx.set_timer(self.shared.config.db_read, Timer::DbRead { to, msg, write });
        } else {
            self.reply(ctx, to, msg, write);
        }
    }

    /// Persists `write` first if there is one, then answers.
    fn reply(&mut self, ctx: &mut Ctx<'_, Node>, to: NodeId, msg: Msg, write: Option<(u64, u64)>) {
        match write {
            Some(rec) => {
                let w = ctx.persist(rec);
                self.writes.insert(w, (to, msg));
            }
            None => ctx.send(to, msg),
        }
    }
}

pub struct Shortener;

impl Model for Shortener {
    const NAME: &'static str = "shortener";
    const ABOUT: &'static str =
        "URL shortener: base62 snowflake IDs or truncated hashes + Bloom filter, LRU read cache";
    const OP_KINDS: &'static [&'static str] = &["shorten", "redirect"];
    /// HTTP requests, and the services' calls to their stores, over TCP.
    const TRANSPORT: sim_core::net::Transport = sim_core::net::Transport::Connection;
    const CHECKS: &'static [&'static str] = &["no_collisions", "mapping_correct"];
    type Config = Config;
    type Actor = Node;

    fn validate(c: &Config, topo: &Topology) -> Vec<(String, String)> {
        let mut e = Vec::new();
        let servers = topo.servers.len() as u32;
        if c.web_servers == 0 || c.web_servers >= servers {
            e.push((
                "config.web_servers".into(),
                format!("must be within [1, servers - 1] to leave a store shard, got {} of {servers}", c.web_servers),
            ));
        }
        if c.web_servers > 32 * 32 {
            e.push(("config.web_servers".into(), "at most 1,024 (5 + 5 bits of machine id)".into()));
        }
        if !(1..=10).contains(&c.hash_chars) {
            e.push(("config.hash_chars".into(), format!("must be within [1, 10], got {}", c.hash_chars)));
        }
        if c.preloaded_urls == 0 || c.preloaded_urls > 5_000_000 {
            e.push((
                "config.preloaded_urls".into(),
                format!("must be within [1, 5,000,000], got {}", c.preloaded_urls),
            ));
        }
        if c.scheme == Scheme::Hash && c.collision_handling && c.preloaded_urls as u64 > code_space(c.hash_chars) / 2 {
            e.push((
                "config.preloaded_urls".into(),
                format!("fills more than half of the {} codes of {} symbols", code_space(c.hash_chars), c.hash_chars),
            ));
        }
        if c.bloom_filter && (c.bloom_bits_per_shard < 64 || c.bloom_hashes == 0 || c.bloom_hashes > 32) {
            e.push((
                "config.bloom_bits_per_shard".into(),
                "a Bloom filter needs at least 64 bits and 1..=32 hashes".into(),
            ));
        }
        if c.request_timeout.0 == 0 {
            e.push(("config.request_timeout".into(), "must be positive".into()));
        }
        if c.shorten_limit_per_window > 0 && c.shorten_limit_window.0 == 0 {
            e.push(("config.shorten_limit_window".into(), "must be positive".into()));
        }
        if c.id_epoch_offset.0 / 1_000_000 >= 1 << 40 {
            e.push(("config.id_epoch_offset".into(), "leaves no room in 41 bits of milliseconds".into()));
        }
        e
    }

    /// The preloaded mappings (a code list, each shard's table of its share, and the checker's
    /// index of every promise), the Bloom
    /// filters, each web server's cache and the shadow caches it is compared with; per shortened
    /// URL a new mapping; per operation the checker's records and a request, a store lookup and
    /// the replies.
    fn footprint(c: &Config, topo: &Topology, load: &Load) -> Footprint {
        let web = c.web_servers as f64;
        let shards = (topo.servers.len() as f64 - web).max(0.0);
        let preloaded = c.preloaded_urls as f64;
        let caches = web * (c.cache_entries as f64 + c.compare_cache_entries.iter().map(|&e| e as f64).sum::<f64>());
        let shortened = load.of("shorten", Self::OP_KINDS);
        // Beyond the kernel's two: the response, and for a shorten or a redirect the cache
        // missed, three more at the shard (measured: 4.0 a shorten, 4.0 a missed redirect, 1.1
        // a redirect of a key the cache holds). Each web server's cache sees the whole key
        // spread, and is taken to miss what falls outside its size's hottest keys.
        let miss = 1.0 - load.hottest_share(c.cache_entries as f64);
        let redirects = load.of("redirect", Self::OP_KINDS);
        let events = shortened * 4.0 + redirects * (1.0 + 3.0 * miss);
        let mut f = Footprint { events, queued: load.in_flight * 4.0, ..Footprint::default() }
            // The code list and the shards' tables; the checker's copy of both, with a set each.
            .part(format!("preloaded mappings: {}", count(preloaded)), preloaded * (8.0 + 48.0 + 8.0 + 150.0))
            .part(format!("caches: {} entries", count(caches)), caches * 100.0)
            .part(format!("new mappings: {}", count(shortened)), shortened * 48.0)
            .part(format!("the checkers' records: {} operations", count(load.total())), load.total() * 100.0);
        if c.bloom_filter {
            f = f.part("Bloom filters", shards * c.bloom_bits_per_shard as f64 / 8.0);
        }
        f
    }

    fn factory(c: &Config, topo: &Topology, _setup: &mut Prng) -> Box<dyn FnMut(NodeId) -> Node> {
        let w = c.web_servers as usize;
        let shards: Vec<NodeId> = topo.servers[w..].to_vec();
        let preloaded = preload_codes(c);
        let shared = Arc::new(Shared {
            config: c.clone(),
            web: topo.servers[..w].to_vec(),
            ring: Ring::new(&shards, 64),
            preloaded,
        });
        let topo = topo.clone();
        Box::new(move |n| {
            let c = &shared.config;
            if topo.is_client(n) {
                let ops = OpCalls::with_timeout("client", c.request_timeout);
                return Node::Client(Client { shared: shared.clone(), ops, browser: BTreeMap::new() });
            }
            if n.index() < w {
                return Node::Web(Box::new(Web {
                    shared: shared.clone(),
                    datacenter: n.0 as u64 % 32,
                    machine: n.0 as u64 / 32,
                    last_ms: 0,
                    sequence: 0,
                    next_req: 0,
                    pending: BTreeMap::new(),
                    cache: lru(c.cache_entries),
                    shadow_caches: c.compare_cache_entries.iter().map(|&s| lru(s)).collect(),
                    rehashes: 0,
                    redirects_served: 0,
                    limiter: BTreeMap::new(),
                    throttled: 0,
                }));
            }
            // A shard starts with its share of the preloaded mappings (in key order: without
            // collision handling a later key overwrites an earlier one with the same code).
            let mut table = BTreeMap::new();
            let mut bloom = c.bloom_filter.then(|| Bloom::new(c.bloom_bits_per_shard, c.bloom_hashes));
            for (k, &code) in shared.preloaded.iter().enumerate() {
                if shared.ring.owner(mix64(code ^ 0xC0DE_C0DE)) == n {
                    table.insert(code, preloaded_long(k as u64));
                    if let Some(b) = &mut bloom {
                        b.insert(code);
                    }
                }
            }
            Node::Shard(Box::new(Shard {
                shared: shared.clone(),
                table,
                bloom,
                writes: BTreeMap::new(),
                absent_lookups: 0,
                bloom_false_positives: 0,
                bloom_fp_predicted: 0.0,
                db_reads: 0,
                db_reads_saved: 0,
            }))
        })
    }

    fn report(c: &Config, run: &RunView<'_, Node>) -> ModelReport {
        report(c, run)
    }
}

fn report(c: &Config, run: &RunView<'_, Node>) -> ModelReport {
    let mut r = ModelReport::default();
    let preloaded = preload_codes(c);
    // Every promise made: code -> the long URLs it was handed out for.
    let mut promised: BTreeMap<u64, BTreeSet<u64>> = BTreeMap::new();
    for (k, &code) in preloaded.iter().enumerate() {
        promised.entry(code).or_default().insert(preloaded_long(k as u64));
    }
    let (mut redirects, mut wrong, mut not_found, mut first_wrong) = (0u64, 0u64, 0u64, None);
    // The first wrong or failed redirects (the history is in invoke order), for `replay`.
    let mut wrong_ops = Vec::new();
    let mut unanswered = 0u64;
    let mut len_max = 0u32;
    let mut len_sum = 0u64;
    let mut shortened = 0u64;
    for h in run.history() {
        match (run.op_kind(h), h.outcome, &h.reply) {
            ("shorten", Some(Outcome::Ok), Reply::Value(code)) => {
                promised.entry(*code).or_default().insert(written_long(h.value));
                let len = if c.scheme == Scheme::Hash { c.hash_chars } else { base62_len(*code) };
                len_max = len_max.max(len);
                len_sum += len as u64;
                shortened += 1;
            }
            ("redirect", Some(o), reply) => {
                let k = h.key % preloaded.len() as u64;
                let want = preloaded_long(k);
                match (o, reply) {
                    (Outcome::Ok, Reply::Value(long)) => {
                        redirects += 1;
                        if *long != want {
                            wrong += 1;
                            first_wrong.get_or_insert((k, preloaded[k as usize], *long, want));
                            if wrong_ops.len() < sim_core::model::MAX_BLAMED {
                                wrong_ops.push(h.op);
                            }
                        }
                    }
                    (Outcome::Fail, _) => {
                        redirects += 1;
                        not_found += 1;
                        if wrong_ops.len() < sim_core::model::MAX_BLAMED {
                            wrong_ops.push(h.op);
                        }
                    }
                    _ => unanswered += 1,
                }
            }
            _ => {}
        }
    }
    let collided: Vec<(&u64, &BTreeSet<u64>)> = promised.iter().filter(|(_, longs)| longs.len() > 1).collect();
    let collision_detail = match collided.first() {
        Some((code, longs)) => format!("e.g. \"{}\" for {:?}", base62(**code), longs),
        None => "each for one long URL".into(),
    };
    r.checks.push(
        Check::judged("no_collisions", promised.len(), "short codes (preloaded and shortened)")
            .violations(collided.len(), "handed out for more than one long URL")
            .detail(collision_detail),
    );
    let wrong_detail = match first_wrong {
        Some((k, code, got, want)) => format!(
            "{wrong} went to the wrong long URL and {not_found} found nothing; e.g. key {k} (\"{}\") went to {got}, \
             made for {want}",
            base62(code)
        ),
        None => format!("{wrong} went to the wrong long URL and {not_found} found nothing"),
    };
    r.checks.push(
        Check::judged("mapping_correct", redirects, "answered redirects")
            .skipped(unanswered, "redirects with no answer (timed out, throttled or pending)")
            .violations(wrong + not_found, "wrong or not found")
            .detail(wrong_detail)
            .blame_ids(wrong_ops),
    );

    let (mut hits, mut misses, mut rehashes, mut served, mut throttled) = (0u64, 0u64, 0u64, 0u64, 0u64);
    let mut shadow: Vec<(u64, u64)> = vec![(0, 0); c.compare_cache_entries.len()];
    let (mut absent, mut fp, mut fp_pred, mut reads, mut saved, mut records) = (0u64, 0u64, 0.0f64, 0u64, 0u64, 0u64);
    for (_, n) in run.servers() {
        match n {
            Node::Web(w) => {
                hits += w.cache.stats.hits;
                misses += w.cache.stats.misses;
                rehashes += w.rehashes;
                served += w.redirects_served;
                throttled += w.throttled;
                for (i, s) in w.shadow_caches.iter().enumerate() {
                    shadow[i].0 += s.stats.hits;
                    shadow[i].1 += s.stats.misses;
                }
            }
            Node::Shard(s) => {
                absent += s.absent_lookups;
                fp += s.bloom_false_positives;
                fp_pred += s.bloom_fp_predicted;
                reads += s.db_reads;
                saved += s.db_reads_saved;
                records += s.table.len() as u64;
            }
            Node::Client(_) => {}
        }
    }
    let browser = run.sim.metrics().counters.get("redirect_browser_cached").copied().unwrap_or(0);
    let ratio = |a: u64, b: u64| if b == 0 { 0.0 } else { a as f64 / b as f64 };
    let m = &mut r.measures;
    m.insert("shortened".into(), shortened as f64);
    m.insert("shorten_throttled".into(), throttled as f64);
    m.insert("redirects".into(), redirects as f64);
    m.insert("wrong_redirects".into(), wrong as f64);
    m.insert("redirects_not_found".into(), not_found as f64);
    m.insert("short_codes_collided".into(), collided.len() as f64);
    m.insert("hash_collisions_resolved".into(), rehashes as f64);
    m.insert("short_url_len_max".into(), len_max as f64);
    m.insert("short_url_len_mean".into(), ratio(len_sum, shortened));
    m.insert("cache_hit_ratio".into(), ratio(hits, hits + misses));
    m.insert("redirects_reaching_service_share".into(), ratio(served, served + browser));
    m.insert("records".into(), records as f64);
    m.insert("db_reads".into(), reads as f64);
    m.insert("db_reads_saved_by_bloom".into(), saved as f64);
    if c.bloom_filter && c.scheme == Scheme::Hash && c.collision_handling {
        m.insert("bloom_absent_lookups".into(), absent as f64);
        m.insert("bloom_fp_rate".into(), ratio(fp, absent));
        m.insert("bloom_fp_rate_formula".into(), if absent == 0 { 0.0 } else { fp_pred / absent as f64 });
        m.insert("bloom_fp_ratio_to_formula".into(), if fp_pred > 0.0 { fp as f64 / fp_pred } else { 0.0 });
    }
    if !c.compare_cache_entries.is_empty() {
        let rows = c
            .compare_cache_entries
            .iter()
            .zip(&shadow)
            .map(|(&size, &(h, mi))| vec![size as f64, ratio(h, h + mi), h as f64, (h + mi) as f64])
            .collect();
        r.tables.push(
            Table::new(
                "cache hit ratio vs cache size (entries per web server)",
                ["cache_entries", "hit_ratio", "hits", "lookups"],
                rows,
            )
            .curve(
                "cache_entries",
                Axis::new("cache size per web server", "entries").log10(),
                &["hit_ratio"],
                Axis::new("hit ratio", "share").range(0.0, 1.0),
            )
            .note("lookups"),
        );
    }
    r
}

/// A web server's read cache: `entries` codes, least recently used out first, no expiry.
fn lru(entries: u32) -> Cache<u64> {
    Cache::new(CacheSpec { capacity: Capacity::Entries(entries as u64), ..CacheSpec::default() })
}
