//! # autocomplete: typeahead, the top 5 suggestions for a typed prefix (system 13)
//!
//! The notes (13, "Autocomplete system / typeahead / design top k"): a user types, and every
//! keystroke asks for the **top 5 most frequent** past queries starting with the prefix, in
//! under **100 ms**. The first idea is a table `(query, frequency)` read with
//! `SELECT * FROM tab WHERE query LIKE 'prefix%' ORDER BY frequency DESC LIMIT 5`: too slow at
//! this QPS, and the top k barely changes, so the notes move to a **weekly** path: the **query
//! log** (query, time) -> **aggregated data** (query, week, frequency) -> a **trie** with the top
//! queries **cached at every node** (`O(p)` to find the prefix, `O(1)` to read its list instead of
//! `O(c) + O(c log c)` over its subtree) -> the **trie cache**, a snapshot the query servers
//! answer from; **sharding by the first one or two characters**; a **filter of banned
//! ("hateful") suggestions** at query time, "also done when the trie is built".
//!
//! ## Nodes
//!
//! Server 0 is the **data gathering service**: it appends every search (op `search`) to the query
//! log, and every `rebuild_every` (the scaled "weekly" job) aggregates the log since the last
//! build into the running counts, builds one trie per shard from them (banned words left out
//! when `build_filter` is on) and publishes each to its shard's query servers: a new **version**
//! (numbered from 0, the bulk load at start from the historic counts). It is also where words are
//! banned (`bans_later`): a ban is sent to every query server at once. The other servers are the
//! **query service**: `shards` groups of equal size; a shard owns an equal run of the alphabet by
//! the first `shard_chars` letters, and its servers each hold the shard's latest trie and run a
//! [`Pool`] whose service time is computed from the index work a query did. Clients send each
//! keystroke's prefix (op `suggest`) to its shard through a [`Calls`] with a balancer over the
//! shard's servers.
//!
//! ## Strategies (the design's protocol, in [`trie`])
//!
//! `Cached`: the trie's per-node top-k list; `Walk`: the same trie walked without the cache
//! (every node under the prefix visited, its words sorted); `Sql`: the notes' table with an
//! index on `query`, `LIKE 'prefix%'` a range scan reading every matching row, then sorted. A
//! query costs `base + node x nodes visited + entry x entries read` (`row` per row for `Sql`):
//! latency reflects the index work and the queueing it causes. `shadow` strategies run on every
//! query beside the served one (not answering, not charged): the table `strategy work per query`.
//!
//! ## Filters
//!
//! The trie caches `k_cached` (> 5) entries per node so the query-time filter (`query_filter`)
//! can drop words banned after the build and still answer 5. With `build_filter` the build leaves
//! banned words out of the trie entirely.
//!
//! ## Checks
//!
//! - `top5_exact`: every answered suggestion list equals an oracle: the top 5 by (count, then
//!   word) over the vocabulary, from the **aggregated counts of the version that answered** (the
//!   answer carries its version; the gathering service keeps each version's counts), leaving out
//!   the words the configured filters were to remove (with `build_filter`, the bans issued before
//!   that version was built; with `query_filter`, the bans the answering server had applied: the
//!   answer says how many, bans reach a server in order). It judges the index, not the policy.
//! - `no_banned`: no answer holds a word banned before it was computed: a ban the answering
//!   server had applied, or one issued at least `ban_grace` before the keystroke was sent (the
//!   time a ban may take to reach every server). Fails with both filters off, or with only the
//!   build filter and a word banned after a build (served until the next one).
//! - The latency SLA (p99 of `suggest` under 100 ms) is the scenario's.
//!
//! Known-bad: `autocomplete_sql_like` answers from the SQL scan: the rows read for short prefixes
//! make the query servers queue and the latency SLA is missed.
//!
//! ## Simplified
//!
//! Words are generated (3 to 10 letters; first letters and letters by English frequencies, so the
//! shards by first letter are skewed), one search is one word, and a keystroke's prefix is a
//! prefix of a Zipf-chosen word (op key = the word's popularity rank) of a length drawn uniformly
//! from `min_prefix` to the word's length. The aggregation and build take no modelled time (the
//! new trie is published at the tick); nothing crashes; no trending path, no browser cache.

pub mod trie;

use parts::balance::{HealthSpec, Policy};
use parts::calls::{Answer, CallPolicy, CallTimer, Calls, Done, ReqId, ServiceId};
use parts::pool::{Admit, Pool, PoolSpec, PoolStats, PoolTimer};
use parts::rank::top_of_pairs;
use serde::{Deserialize, Serialize};
use sim_core::cost::count;
use sim_core::math;
use sim_core::stats::{percentile_ms, quantiles_ms};
use sim_core::{
    Actor, Axis, Check, Ctx, Duration, Message, Model, ModelReport, NodeId, Op, OpId, Outcome, Prng, Reply, RunView,
    Table, Time, Topology,
};
use std::collections::{BTreeMap, BTreeSet};
use std::rc::Rc;
use trie::{Lookup, Trie};

/// How a query server finds the top suggestions.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Strategy {
    /// The trie's top k cached at the prefix's node.
    Cached,
    /// The same trie walked under the prefix without the cache.
    Walk,
    /// The notes' `LIKE 'prefix%' ORDER BY frequency DESC LIMIT k` over an indexed table.
    Sql,
}

impl Strategy {
    pub fn label(self) -> &'static str {
        match self {
            Strategy::Cached => "trie + top-k cache",
            Strategy::Walk => "trie walk, no cache",
            Strategy::Sql => "SQL LIKE scan",
        }
    }
}

/// What a query's work costs on a query server.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Cost {
    pub base: Duration,
    /// A trie node visited.
    pub node: Duration,
    /// A candidate entry read and ranked (a cached list's entry, a word found by a walk).
    pub entry: Duration,
    /// A table row read by the SQL scan (and sorted).
    pub row: Duration,
}

impl Default for Cost {
    fn default() -> Self {
        Cost {
            base: Duration::from_micros(200),
            node: Duration::from_micros(1),
            entry: Duration::from_micros(1),
            row: Duration::from_micros(20),
        }
    }
}

/// A word (by popularity rank) banned at `at` during the run.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LaterBan {
    pub at: Duration,
    pub rank: u32,
}

/// ```ron
/// config: (
///     vocabulary: 20000, zipf_s: 1.0, history: 10000000, k_cached: 10, answer: 5,
///     shards: 4, shard_chars: 1, rebuild_every: "4s",
///     banned: [3, 40], bans_later: [(at: "1s", rank: 0)], build_filter: true, query_filter: true,
///     serve: Cached, shadow: [Walk, Sql],
///     query: (concurrency: 2, queue: 1000),
///     cost: (base: "200us", node: "1us", entry: "1us", row: "20us"),
/// )
/// ```
/// Server 0 gathers data and builds; the others are `shards` equal groups of query servers.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// Distinct words (the workload's keys should be `Zipf(count: vocabulary)`).
    pub vocabulary: u32,
    /// Historic counts: the word of rank `r` (from 0) was searched `history / H / (r + 1)^s`
    /// times before the run (`H` normalises).
    pub zipf_s: f64,
    pub history: u64,
    /// Entries cached per trie node.
    pub k_cached: u32,
    /// Suggestions answered.
    pub answer: u32,
    /// The shortest prefix sent.
    pub min_prefix: u32,
    pub shards: u32,
    /// Shard by the first 1 or 2 letters.
    pub shard_chars: u8,
    /// The aggregation job's period (the notes' week, scaled).
    pub rebuild_every: Duration,
    /// Words (by rank) banned from the start.
    pub banned: Vec<u32>,
    pub bans_later: Vec<LaterBan>,
    pub build_filter: bool,
    pub query_filter: bool,
    /// How long a ban may take to reach every query server (`no_banned` judges by it).
    pub ban_grace: Duration,
    pub serve: Strategy,
    pub shadow: Vec<Strategy>,
    /// Each query server's workers and queue (the service time is the query's cost).
    pub query: PoolSpec,
    pub cost: Cost,
    pub call: CallPolicy,
    pub balance: Policy,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            vocabulary: 5000,
            zipf_s: 1.0,
            history: 1_000_000,
            k_cached: 10,
            answer: 5,
            min_prefix: 1,
            shards: 1,
            shard_chars: 1,
            rebuild_every: Duration::from_secs(4),
            banned: Vec::new(),
            bans_later: Vec::new(),
            build_filter: true,
            query_filter: true,
            ban_grace: Duration::from_millis(100),
            serve: Strategy::Cached,
            shadow: Vec::new(),
            query: PoolSpec { concurrency: 2, queue: 1000, ..PoolSpec::default() },
            cost: Cost::default(),
            call: CallPolicy::default(),
            balance: Policy::RoundRobin,
        }
    }
}

/// The shard of a prefix (or word) of at least `chars` letters: equal runs of the `26^chars`
/// letter combinations.
pub fn shard_of(prefix: &[u8], chars: u8, shards: u32) -> u32 {
    let mut key = 0u64;
    let mut buckets = 1u64;
    for i in 0..chars as usize {
        let c = prefix.get(i).map_or(0, |&b| b.saturating_sub(b'a').min(25)) as u64;
        key = key * 26 + c;
        buckets *= 26;
    }
    (key * shards as u64 / buckets) as u32
}

/// The letters a shard owns, as `a-f` (or `aa-fz`).
pub fn shard_label(s: u32, chars: u8, shards: u32) -> String {
    let buckets = 26u64.pow(chars as u32);
    let first = (s as u64 * buckets).div_ceil(shards as u64);
    let last = ((s as u64 + 1) * buckets).div_ceil(shards as u64) - 1;
    let name = |mut k: u64| {
        let mut v = vec![0u8; chars as usize];
        for i in (0..chars as usize).rev() {
            v[i] = b'a' + (k % 26) as u8;
            k /= 26;
        }
        String::from_utf8(v).unwrap_or_default()
    };
    format!("{}-{}", name(first), name(last))
}

/// The vocabulary, the popularity ranks and the historic counts, all from the setup stream.
pub struct Words {
    pub vocab: Vec<String>,
    /// `by_rank[r]`: the id of the word of popularity rank `r`.
    pub by_rank: Vec<u32>,
    pub historic: Vec<u64>,
}

impl Words {
    pub fn generate(c: &Config, rng: &mut Prng) -> Words {
        let n = c.vocabulary as usize;
        let vocab = trie::vocabulary(n, rng);
        let mut by_rank: Vec<u32> = (0..n as u32).collect();
        for i in (1..n).rev() {
            let j = rng.below(i as u64 + 1) as usize;
            by_rank.swap(i, j);
        }
        let h: f64 = (1..=n).map(|r| 1.0 / math::powf(r as f64, c.zipf_s)).sum();
        let mut historic = vec![0u64; n];
        for (r, &id) in by_rank.iter().enumerate() {
            historic[id as usize] = (c.history as f64 / h / math::powf((r + 1) as f64, c.zipf_s)).round() as u64;
        }
        Words { vocab, by_rank, historic }
    }
}

/// One shard's published index of one version.
#[derive(Debug)]
pub struct Published {
    pub version: u32,
    pub trie: Trie,
    pub table: trie::Table,
}

/// Builds every shard's index from `counts`, leaving out `banned` (the build filter).
fn build(vocab: &[String], counts: &[u64], banned: &BTreeSet<u32>, c: &Config, version: u32) -> Vec<Rc<Published>> {
    (0..c.shards)
        .map(|s| {
            let keep = |id: u32| {
                shard_of(vocab[id as usize].as_bytes(), c.shard_chars, c.shards) == s && !banned.contains(&id)
            };
            Rc::new(Published {
                version,
                trie: Trie::build(vocab, counts, keep, c.k_cached as usize),
                table: trie::Table::build(counts, keep),
            })
        })
        .collect()
}

#[derive(Clone, Debug)]
pub enum Msg {
    Suggest {
        req: ReqId,
        prefix: Rc<str>,
    },
    /// The suggestions (word ids), the version that answered and the bans its server had.
    Suggestions {
        req: ReqId,
        words: Vec<u32>,
        version: u32,
        bans: u32,
    },
    Refused {
        req: ReqId,
    },
    Search {
        req: ReqId,
        word: u32,
    },
    Logged {
        req: ReqId,
    },
    Publish(Rc<Published>),
    Ban {
        word: u32,
    },
}

impl Message for Msg {
    fn kind(&self) -> &'static str {
        match self {
            Msg::Suggest { .. } => "suggest",
            Msg::Suggestions { .. } => "suggestions",
            Msg::Refused { .. } => "refused",
            Msg::Search { .. } => "search",
            Msg::Logged { .. } => "logged",
            Msg::Publish(_) => "publish",
            Msg::Ban { .. } => "ban",
        }
    }
    fn size_bytes(&self) -> u64 {
        match self {
            Msg::Suggestions { words, .. } => 64 + 16 * words.len() as u64,
            Msg::Publish(p) => 64 + p.trie.bytes(),
            _ => 64,
        }
    }
}

/// The gathering service's timers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Tick {
    Rebuild,
    Ban(usize),
}

parts::wire! {
    timers pub enum Timer { Call(CallTimer), Pool(PoolTimer), Tick(Tick) }
}

/// A keystroke as a client sent it, and what its answer said.
#[derive(Clone, Debug)]
pub struct Asked {
    pub prefix: Rc<str>,
    pub shard: u32,
    /// The version and the bans of the answer (`None` until answered).
    pub answered: Option<(u32, u32)>,
}

pub struct Client {
    calls: Calls<Msg, OpId>,
    shards: Vec<ServiceId>,
    log: ServiceId,
    words: Rc<Words>,
    min_prefix: u32,
    shard_chars: u8,
    pub asked: BTreeMap<OpId, Asked>,
}

/// What one strategy touched, summed over queries.
#[derive(Clone, Debug, Default)]
pub struct StrategyStats {
    pub queries: u64,
    pub nodes: u64,
    pub entries: u64,
    /// Service time of each query's work, ns.
    pub service_ns: Vec<u64>,
}

/// A keystroke held by a query server until its service time is over.
#[derive(Clone, Debug)]
pub struct Job {
    from: NodeId,
    req: ReqId,
    words: Vec<u32>,
    version: u32,
    bans: u32,
}

pub struct QueryServer {
    pub shard: u32,
    pool: Pool<Job>,
    words: Rc<Words>,
    cfg: Rc<Config>,
    pub current: Rc<Published>,
    pub banned: BTreeSet<u32>,
    pub bans: u32,
    /// `[served, shadows...]`.
    pub stats: Vec<(Strategy, StrategyStats)>,
    pub shadow_mismatches: u64,
    /// When each later ban (by index) reached this server (true time: a ledger).
    pub ban_applied_at: Vec<Time>,
}

/// A version the gathering service built: the counts it was built from and the bans before it.
#[derive(Clone, Debug)]
pub struct Version {
    pub counts: Rc<Vec<u64>>,
    pub bans_at_build: u32,
    pub built_at: Time,
    pub trie_nodes: u64,
    pub trie_bytes: u64,
    pub trie_words: u64,
}

pub struct Gatherer {
    words: Rc<Words>,
    cfg: Rc<Config>,
    counts: Vec<u64>,
    /// The query log: (word, time; true time, as the checks read it).
    pub log: Vec<(u32, Time)>,
    pub log_bytes: u64,
    aggregated: usize,
    pub versions: Vec<Version>,
    /// Every ban, in order: (issued, true time; word). The initial ones at time 0.
    pub bans: Vec<(Time, u32)>,
    shard_nodes: Vec<Vec<NodeId>>,
}

pub enum Node {
    Client(Box<Client>),
    Gatherer(Box<Gatherer>),
    Query(Box<QueryServer>),
}

fn complete(ctx: &mut Ctx<'_, Node>, done: Done<OpId>, reply: Reply) {
    let outcome = done.outcome.outcome();
    ctx.complete(done.data, outcome, if outcome == Outcome::Ok { reply } else { Reply::None });
}

/// Op kind index of `suggest` (and `search` is 1).
const SUGGEST: u16 = 0;

impl Client {
    fn on_op(&mut self, ctx: &mut Ctx<'_, Node>, op: Op) {
        let rank = (op.key % self.words.by_rank.len() as u64) as usize;
        let word = self.words.by_rank[rank];
        let started = if op.kind == SUGGEST {
            let w = &self.words.vocab[word as usize];
            let lo = (self.min_prefix as u64).min(w.len() as u64);
            let len = ctx.rng().range_inclusive(lo, w.len() as u64) as usize;
            let prefix: Rc<str> = Rc::from(&w[..len]);
            let shard = shard_of(prefix.as_bytes(), self.shard_chars, self.shards.len() as u32);
            self.asked.insert(op.id, Asked { prefix: prefix.clone(), shard, answered: None });
            self.calls.call(ctx, self.shards[shard as usize], op.key, |req| Msg::Suggest { req, prefix }, op.id)
        } else {
            self.calls.call(ctx, self.log, op.key, |req| Msg::Search { req, word }, op.id)
        };
        if let Err(done) = started {
            complete(ctx, done, Reply::None);
        }
    }

    fn on_msg(&mut self, ctx: &mut Ctx<'_, Node>, msg: Msg) {
        match msg {
            Msg::Suggestions { req, words, version, bans } => {
                if let Some(done) = self.calls.reply(ctx, req, Answer::Ok) {
                    if let Some(a) = self.asked.get_mut(&done.data) {
                        a.answered = Some((version, bans));
                    }
                    complete(ctx, done, Reply::Values(words.into_iter().map(u64::from).collect()));
                }
            }
            Msg::Logged { req } => {
                if let Some(done) = self.calls.reply(ctx, req, Answer::Ok) {
                    complete(ctx, done, Reply::None);
                }
            }
            Msg::Refused { req } => {
                if let Some(done) = self.calls.reply(ctx, req, Answer::Retryable) {
                    complete(ctx, done, Reply::None);
                }
            }
            _ => {}
        }
    }
}

impl QueryServer {
    fn lookup(&self, s: Strategy, prefix: &str) -> (Lookup, u64) {
        let k = self.cfg.k_cached as usize;
        let c = &self.cfg.cost;
        let l = match s {
            Strategy::Cached => self.current.trie.top_cached(prefix.as_bytes(), k),
            Strategy::Walk => self.current.trie.top_walk(prefix.as_bytes(), k),
            Strategy::Sql => self.current.table.top(&self.words.vocab, prefix, k),
        };
        let per_entry = if s == Strategy::Sql { c.row } else { c.entry };
        let ns = c.base.as_nanos() + l.nodes * c.node.as_nanos() + l.entries * per_entry.as_nanos();
        (l, ns)
    }

    /// The query-time filter, then the first `answer`.
    fn answer(&self, l: &Lookup) -> Vec<u32> {
        l.top
            .iter()
            .map(|w| w.0)
            .filter(|w| !self.cfg.query_filter || !self.banned.contains(w))
            .take(self.cfg.answer as usize)
            .collect()
    }

    fn on_msg(&mut self, ctx: &mut Ctx<'_, Node>, from: NodeId, msg: Msg) {
        match msg {
            Msg::Suggest { req, prefix } => {
                let mut served = None;
                for i in 0..self.stats.len() {
                    let (l, ns) = self.lookup(self.stats[i].0, &prefix);
                    let words = self.answer(&l);
                    let st = &mut self.stats[i].1;
                    st.queries += 1;
                    st.nodes += l.nodes;
                    st.entries += l.entries;
                    st.service_ns.push(ns);
                    match &served {
                        None => served = Some((words, ns)),
                        Some((w, _)) if *w != words => self.shadow_mismatches += 1,
                        Some(_) => {}
                    }
                }
                let Some((words, ns)) = served else { return };
                let job = Job { from, req, words, version: self.current.version, bans: self.bans };
                match self.pool.submit_for(ctx, job, Duration::from_nanos(ns)) {
                    Admit::Started | Admit::Queued => {}
                    Admit::Rejected(job) | Admit::Dropped(job) => ctx.send(job.from, Msg::Refused { req: job.req }),
                }
            }
            Msg::Publish(p) if p.version > self.current.version => self.current = p,
            Msg::Ban { word } => {
                self.banned.insert(word);
                self.bans += 1;
                self.ban_applied_at.push(ctx.ledger_time());
            }
            _ => {}
        }
    }

    fn on_timer(&mut self, ctx: &mut Ctx<'_, Node>, timer: Timer) {
        if let Timer::Pool(t) = timer {
            if let Some(j) = self.pool.on_timer(ctx, t) {
                ctx.send(j.from, Msg::Suggestions { req: j.req, words: j.words, version: j.version, bans: j.bans });
            }
            for job in self.pool.take_shed() {
                ctx.send(job.from, Msg::Refused { req: job.req });
            }
        }
    }
}

impl Gatherer {
    fn on_start(&mut self, ctx: &mut Ctx<'_, Node>) {
        ctx.set_timer(self.cfg.rebuild_every, Timer::Tick(Tick::Rebuild));
        for (i, b) in self.cfg.bans_later.iter().enumerate() {
            ctx.set_timer(b.at, Timer::Tick(Tick::Ban(i)));
        }
    }

    fn on_msg(&mut self, ctx: &mut Ctx<'_, Node>, from: NodeId, msg: Msg) {
        if let Msg::Search { req, word } = msg {
            self.log.push((word, ctx.ledger_time()));
            // A log row: the query's text and an 8-byte timestamp.
            self.log_bytes += self.words.vocab[word as usize].len() as u64 + 8;
            ctx.send(from, Msg::Logged { req });
        }
    }

    fn on_timer(&mut self, ctx: &mut Ctx<'_, Node>, tick: Tick) {
        match tick {
            Tick::Rebuild => {
                // Aggregate the log since the last build into the counts, build, publish.
                for &(w, _) in &self.log[self.aggregated..] {
                    self.counts[w as usize] += 1;
                }
                self.aggregated = self.log.len();
                let version = self.versions.len() as u32;
                let banned: BTreeSet<u32> =
                    if self.cfg.build_filter { self.bans.iter().map(|b| b.1).collect() } else { BTreeSet::new() };
                let built = build(&self.words.vocab, &self.counts, &banned, &self.cfg, version);
                self.versions.push(version_of(&self.counts, self.bans.len() as u32, ctx.ledger_time(), &built));
                for (s, p) in built.into_iter().enumerate() {
                    ctx.broadcast(self.shard_nodes[s].iter().copied(), Msg::Publish(p));
                }
                ctx.set_timer(self.cfg.rebuild_every, Timer::Tick(Tick::Rebuild));
            }
            Tick::Ban(i) => {
                let word = self.words.by_rank[self.cfg.bans_later[i].rank as usize];
                self.bans.push((ctx.ledger_time(), word));
                ctx.broadcast(self.shard_nodes.iter().flatten().copied(), Msg::Ban { word });
            }
        }
    }
}

fn version_of(counts: &[u64], bans: u32, at: Time, built: &[Rc<Published>]) -> Version {
    Version {
        counts: Rc::new(counts.to_vec()),
        bans_at_build: bans,
        built_at: at,
        trie_nodes: built.iter().map(|p| p.trie.nodes() as u64).sum(),
        trie_bytes: built.iter().map(|p| p.trie.bytes()).sum(),
        trie_words: built.iter().map(|p| p.trie.words()).sum(),
    }
}

impl Actor for Node {
    type Msg = Msg;
    type Timer = Timer;
    type Record = ();

    fn on_start(&mut self, ctx: &mut Ctx<'_, Self>) {
        if let Node::Gatherer(g) = self {
            g.on_start(ctx);
        }
    }

    fn on_msg(&mut self, ctx: &mut Ctx<'_, Self>, from: NodeId, msg: Msg) {
        match self {
            Node::Client(c) => c.on_msg(ctx, msg),
            Node::Gatherer(g) => g.on_msg(ctx, from, msg),
            Node::Query(q) => q.on_msg(ctx, from, msg),
        }
    }

    fn on_timer(&mut self, ctx: &mut Ctx<'_, Self>, timer: Timer) {
        match (self, timer) {
            (Node::Client(c), Timer::Call(t)) => {
                if let Some(done) = c.calls.on_timer(ctx, t) {
                    complete(ctx, done, Reply::None);
                }
            }
            (Node::Query(q), t) => q.on_timer(ctx, t),
            (Node::Gatherer(g), Timer::Tick(t)) => g.on_timer(ctx, t),
            _ => {}
        }
    }

    fn on_op(&mut self, ctx: &mut Ctx<'_, Self>, op: Op) {
        match self {
            Node::Client(c) => c.on_op(ctx, op),
            _ => ctx.complete(op.id, Outcome::Rejected, Reply::None),
        }
    }
}

pub struct Autocomplete;

impl Model for Autocomplete {
    const NAME: &'static str = "autocomplete";
    const ABOUT: &'static str = "typeahead: query log -> periodic aggregation -> per-shard tries with the top k cached per node -> query servers answering the top 5 per prefix";
    const OP_KINDS: &'static [&'static str] = &["suggest", "search"];
    const TRANSPORT: sim_core::net::Transport = sim_core::net::Transport::Connection;
    const CHECKS: &'static [&'static str] = &["top5_exact", "no_banned"];
    type Config = Config;
    type Actor = Node;

    fn validate(c: &Config, topo: &Topology) -> Vec<(String, String)> {
        let mut e = Vec::new();
        if !(10..=1_000_000).contains(&c.vocabulary) {
            e.push(("config.vocabulary".into(), format!("must be within [10, 1,000,000], got {}", c.vocabulary)));
        }
        if !(c.zipf_s > 0.0 && c.zipf_s <= 5.0) {
            e.push(("config.zipf_s".into(), format!("must be in (0, 5], got {}", c.zipf_s)));
        }
        if c.answer == 0 || c.k_cached < c.answer || c.k_cached > 1000 {
            e.push((
                "config.k_cached".into(),
                format!(
                    "must be within [answer, 1000] with answer >= 1, got k_cached {} answer {}",
                    c.k_cached, c.answer
                ),
            ));
        }
        if !(1..=2).contains(&c.shard_chars) {
            e.push(("config.shard_chars".into(), format!("must be 1 or 2, got {}", c.shard_chars)));
        }
        if c.min_prefix < c.shard_chars as u32 || c.min_prefix > 3 {
            e.push((
                "config.min_prefix".into(),
                format!("must be within [shard_chars, 3] (a shard needs its letters), got {}", c.min_prefix),
            ));
        }
        let buckets = 26u32.pow(c.shard_chars.clamp(1, 2) as u32);
        if c.shards == 0 || c.shards > buckets {
            e.push(("config.shards".into(), format!("must be within [1, {buckets}], got {}", c.shards)));
        } else if topo.servers.len() < 2 || !(topo.servers.len() - 1).is_multiple_of(c.shards as usize) {
            e.push((
                "topology.servers".into(),
                format!(
                    "needs the gathering server plus a multiple of shards ({}) query servers, got {}",
                    c.shards,
                    topo.servers.len()
                ),
            ));
        }
        if c.rebuild_every == Duration::ZERO {
            e.push(("config.rebuild_every".into(), "must be positive".into()));
        }
        for (i, r) in c.banned.iter().enumerate() {
            if *r >= c.vocabulary {
                e.push((format!("config.banned[{i}]"), format!("rank {r} outside the vocabulary of {}", c.vocabulary)));
            }
        }
        for (i, b) in c.bans_later.iter().enumerate() {
            if b.rank >= c.vocabulary {
                e.push((
                    format!("config.bans_later[{i}].rank"),
                    format!("rank {} outside the vocabulary of {}", b.rank, c.vocabulary),
                ));
            }
        }
        e.extend(c.query.validate("config.query"));
        e.extend(c.call.validate("config.call"));
        e.extend(c.balance.validate("config.balance"));
        e
    }

    /// Measured (debug binary, `simctl bench scenario`, peak RSS less a tiny run's) on
    /// `scenarios/perf/autocomplete_perf.ron` (100,000 words) with no operations, varying
    /// `rebuild_every`: 69 MB with no rebuild in the run (the vocabulary, the counts and the first
    /// tries: ~690 B a word), 132 MB with one, 192 MB with two, 215 MB with four, 235 MB with
    /// eight (a rebuild builds every shard's trie while the old ones serve, and the freed tries
    /// leave pages the allocator keeps: ~630 B a word for each of the first two, ~100 B after);
    /// 407 MB at 200,000 words and four rebuilds. The whole file adds 45 MB for 243,000
    /// operations, mostly the kernel's history: an answer's words and a search's log entry
    /// (~40 B) beside it. Events: a keystroke is a call (request, pool timer, answer).
    fn footprint(c: &Config, topo: &Topology, load: &sim_core::cost::Load) -> sim_core::cost::Footprint {
        let words = c.vocabulary as f64;
        let (suggests, searches) = (load.of("suggest", Self::OP_KINDS), load.of("search", Self::OP_KINDS));
        let rebuilds = load.times_every(c.rebuild_every).floor();
        let rebuild_bytes = words * (630.0 * rebuilds.min(2.0) + 100.0 * (rebuilds - 2.0).max(0.0));
        let servers = topo.servers.len().saturating_sub(1) as f64;
        sim_core::cost::Footprint {
            events: (suggests + searches) * 2.0 + rebuilds * servers * 2.0,
            queued: load.in_flight * 3.0,
            ..Default::default()
        }
        .part(
            format!("words: {words} x 690 B (vocabulary, counts, the first tries)", words = count(words)),
            words * 690.0,
        )
        .part(
            format!(
                "rebuilds: {rebuilds:.0} of {words} words (630 B a word for the first two, 100 B after)",
                words = count(words)
            ),
            rebuild_bytes,
        )
        .part(
            format!("answers and the query log: {} operations x 40 B", count(suggests + searches)),
            (suggests + searches) * 40.0,
        )
    }

    fn factory(c: &Config, topo: &Topology, setup: &mut Prng) -> Box<dyn FnMut(NodeId) -> Node> {
        let words = Rc::new(Words::generate(c, setup));
        let cfg = Rc::new(c.clone());
        let gatherer = topo.servers[0];
        let per = (topo.servers.len() - 1) / c.shards as usize;
        let shard_nodes: Vec<Vec<NodeId>> = topo.servers[1..].chunks(per).map(|ch| ch.to_vec()).collect();
        let initial: Vec<(Time, u32)> = c.banned.iter().map(|&r| (Time::ZERO, words.by_rank[r as usize])).collect();
        let banned: BTreeSet<u32> =
            if c.build_filter { initial.iter().map(|b| b.1).collect() } else { BTreeSet::new() };
        let v0 = build(&words.vocab, &words.historic, &banned, c, 0);
        let topo = topo.clone();
        Box::new(move |n| {
            if topo.is_client(n) {
                let mut calls = Calls::new();
                let shards = shard_nodes
                    .iter()
                    .map(|ns| calls.add("suggest_calls", ns, cfg.call.clone(), cfg.balance, HealthSpec::default()))
                    .collect();
                let log =
                    calls.add("search_calls", &[gatherer], cfg.call.clone(), Policy::RoundRobin, HealthSpec::default());
                return Node::Client(Box::new(Client {
                    calls,
                    shards,
                    log,
                    words: words.clone(),
                    min_prefix: cfg.min_prefix,
                    shard_chars: cfg.shard_chars,
                    asked: BTreeMap::new(),
                }));
            }
            if n == gatherer {
                return Node::Gatherer(Box::new(Gatherer {
                    words: words.clone(),
                    cfg: cfg.clone(),
                    counts: words.historic.clone(),
                    log: Vec::new(),
                    log_bytes: 0,
                    aggregated: 0,
                    versions: vec![version_of(&words.historic, initial.len() as u32, Time::ZERO, &v0)],
                    bans: initial.clone(),
                    shard_nodes: shard_nodes.clone(),
                }));
            }
            let shard = shard_nodes.iter().position(|ns| ns.contains(&n)).unwrap_or(0);
            let stats = std::iter::once(cfg.serve)
                .chain(cfg.shadow.iter().copied())
                .map(|s| (s, StrategyStats::default()))
                .collect();
            Node::Query(Box::new(QueryServer {
                shard: shard as u32,
                pool: Pool::new("query", cfg.query.clone()),
                words: words.clone(),
                cfg: cfg.clone(),
                current: v0[shard].clone(),
                banned: initial.iter().map(|b| b.1).collect(),
                bans: initial.len() as u32,
                stats,
                shadow_mismatches: 0,
                ban_applied_at: Vec::new(),
            }))
        })
    }

    fn report(c: &Config, run: &RunView<'_, Node>) -> ModelReport {
        report(c, run)
    }
}

/// The oracle: the top `answer` word ids under `prefix` by (count, then id) over `counts`,
/// leaving out the words `excluded` names: a filter over the whole (alphabetical) vocabulary's run
/// of words with the prefix, ranked by [`parts::rank::top_of_pairs`].
pub fn oracle(
    vocab: &[String],
    counts: &[u64],
    excluded: impl Fn(u32) -> bool,
    prefix: &str,
    answer: usize,
) -> Vec<u64> {
    // The words with the prefix are one run of the sorted vocabulary.
    let start = vocab.partition_point(|w| w.as_str() < prefix);
    let end = start + vocab[start..].partition_point(|w| w.starts_with(prefix));
    let matching = (start..end).filter(|&id| !excluded(id as u32)).map(|id| (id as u64, counts[id]));
    top_of_pairs(matching, answer).into_iter().map(|(id, _)| id).collect()
}

/// Oracle answers by (version, bans left out, prefix), keyed so that a look-up compares
/// integers: the version and the bans in a `u64`, a prefix of up to 15 bytes in a `u128` (its
/// bytes, then its length). A longer prefix keeps its text, in a map of its own.
#[derive(Default)]
struct Memo {
    short: BTreeMap<(u64, u128), Vec<u64>>,
    long: BTreeMap<(u64, Rc<str>), Vec<u64>>,
}

impl Memo {
    /// The answer for `prefix` at `version` with the first `left_out` bans left out, from
    /// `oracle` the first time it is asked for.
    fn get(&mut self, version: u32, left_out: u32, prefix: &Rc<str>, oracle: impl FnOnce() -> Vec<u64>) -> &[u64] {
        let at = (version as u64) << 32 | left_out as u64;
        let b = prefix.as_bytes();
        if b.len() > 15 {
            return self.long.entry((at, prefix.clone())).or_insert_with(oracle);
        }
        let mut x = [0u8; 16];
        x[..b.len()].copy_from_slice(b);
        x[15] = b.len() as u8;
        self.short.entry((at, u128::from_be_bytes(x))).or_insert_with(oracle)
    }
}

fn report(c: &Config, run: &RunView<'_, Node>) -> ModelReport {
    let mut r = ModelReport::default();
    let mut gatherer: Option<&Gatherer> = None;
    let mut servers: Vec<&QueryServer> = Vec::new();
    for (_, node) in run.servers() {
        match node {
            Node::Gatherer(g) => gatherer = Some(g),
            Node::Query(q) => servers.push(q),
            Node::Client(_) => {}
        }
    }
    let Some(g) = gatherer else { return r };
    // What each client recorded of its keystrokes, looked up at the client that sent each one.
    let asked = |h: &sim_core::metrics::HistoryEntry| -> Option<&Asked> {
        match run.sim.actor(h.client) {
            Some(Node::Client(cl)) => cl.asked.get(&h.op),
            _ => None,
        }
    };
    let vocab = &g.words.vocab;
    // Each word's first place among the bans (`u32::MAX`: never banned): a word is among the
    // first `n` bans when its first place is below `n`.
    let mut first_ban: Vec<u32> = vec![u32::MAX; vocab.len()];
    for (i, b) in g.bans.iter().enumerate() {
        if let Some(f) = first_ban.get_mut(b.1 as usize) {
            *f = (*f).min(i as u32);
        }
    }
    let banned_among_first = |w: u64, n: usize| first_ban.get(w as usize).is_some_and(|&i| (i as usize) < n);

    let (mut judged, mut wrong, mut unanswered, mut with_banned) = (0u64, 0u64, 0u64, 0u64);
    let (mut wrong_ops, mut banned_ops) = (Vec::new(), Vec::new());
    let (mut first_wrong, mut first_banned) = (None, None);
    // Oracle answers by (version, bans left out, prefix): the words left out are the first
    // `n` bans, `n` the largest count of bans a filter applies (the build's, the query's).
    let mut memo = Memo::default();
    let mut latencies: Vec<u64> = Vec::new();
    let mut per_shard: Vec<Vec<u64>> = vec![Vec::new(); c.shards as usize];
    let mut sent_per_shard: Vec<u64> = vec![0; c.shards as usize];
    let mut by_version: BTreeMap<u32, u64> = BTreeMap::new();
    let mut suggestions = 0u64;
    for h in run.history() {
        if h.kind != SUGGEST || h.invoke >= run.main_end {
            continue;
        }
        let Some(a) = asked(h) else { continue };
        if let Some(n) = sent_per_shard.get_mut(a.shard as usize) {
            *n += 1;
        }
        let (Some(Outcome::Ok), Reply::Values(got), Some((version, bans))) = (h.outcome, &h.reply, a.answered) else {
            unanswered += 1;
            continue;
        };
        if let Some(done) = h.complete.get() {
            let ns = done.since(h.invoke).as_nanos();
            latencies.push(ns);
            if let Some(v) = per_shard.get_mut(a.shard as usize) {
                v.push(ns);
            }
        }
        judged += 1;
        suggestions += got.len() as u64;
        *by_version.entry(version).or_default() += 1;
        // top5_exact: against the oracle over the answering version's counts.
        let v = g.versions.get(version as usize);
        let left_out = v.map_or(0, |v| {
            let build = if c.build_filter { v.bans_at_build } else { 0 };
            build.max(if c.query_filter { bans } else { 0 })
        });
        let want = memo.get(version, left_out, &a.prefix, || {
            let Some(v) = v else { return Vec::new() };
            let excluded = |w: u32| banned_among_first(w as u64, left_out as usize);
            oracle(vocab, &v.counts, excluded, &a.prefix, c.answer as usize)
        });
        if want[..] != got[..] || version as usize >= g.versions.len() {
            wrong += 1;
            wrong_ops.push(h);
            if first_wrong.is_none() {
                first_wrong = Some(format!(
                    "first: op {} prefix {:?} version {version}: answered {:?}, oracle {:?}",
                    h.op.0,
                    a.prefix,
                    words_of(vocab, got),
                    words_of(vocab, want)
                ));
            }
        }
        // no_banned: the bans the server had, and every ban issued ban_grace before the keystroke.
        let issued = g.bans.iter().take_while(|b| b.0 + c.ban_grace <= h.invoke).count() as u32;
        let banned = bans.max(issued) as usize;
        if let Some(&w) = got.iter().find(|&&w| banned_among_first(w, banned)) {
            with_banned += 1;
            banned_ops.push(h);
            if first_banned.is_none() {
                first_banned = Some(format!(
                    "first: op {} prefix {:?} at {:.3} s (version {version}, server had {bans} bans): served banned {:?}",
                    h.op.0,
                    a.prefix,
                    h.invoke.as_secs_f64(),
                    vocab.get(w as usize).map_or("?", |s| s.as_str())
                ));
            }
        }
    }
    r.checks.push(
        Check::judged("top5_exact", judged, "answered keystrokes")
            .skipped(unanswered, "not answered (failed, timed out or refused)")
            .violations(wrong, "different from the oracle over their version's aggregated counts")
            .detail(first_wrong.unwrap_or_else(|| {
                format!(
                    "{judged} answers equal the oracle's top {} over the counts of the version that answered ({} versions answered)",
                    c.answer,
                    by_version.len()
                )
            }))
            .blame_ops(wrong_ops),
    );
    r.checks.push(
        Check::judged("no_banned", judged, "answered keystrokes")
            .skipped(unanswered, "not answered")
            .violations(with_banned, "holding a banned word")
            .detail(first_banned.unwrap_or_else(|| {
                format!("{} bans ({} during the run), none served", g.bans.len(), c.bans_later.len())
            }))
            .blame_ops(banned_ops),
    );

    let m = &mut r.measures;
    let main_s = run.main_end.0.max(1) as f64 / 1e9;
    let searches = g.log.iter().filter(|l| l.1 < run.main_end).count() as f64;
    m.insert("suggest_answered".into(), judged as f64);
    m.insert("suggest_per_s".into(), judged as f64 / main_s);
    m.insert("searches_logged".into(), g.log.len() as f64);
    m.insert("searches_per_s".into(), searches / main_s);
    m.insert(
        "suggests_per_search".into(),
        if searches > 0.0 { sent_per_shard.iter().sum::<u64>() as f64 / searches } else { 0.0 },
    );
    m.insert("suggestions_per_answer".into(), if judged > 0 { suggestions as f64 / judged as f64 } else { 0.0 });
    m.insert("answers_with_banned".into(), with_banned as f64);
    let [p50, p99] = quantiles_ms(&latencies, &[0.5, 0.99])[..] else { unreachable!("two quantiles") };
    m.insert("suggest_p50_ms".into(), p50);
    m.insert("suggest_p99_ms".into(), p99);
    m.insert("versions_built".into(), g.versions.len() as f64);
    m.insert("versions_answering".into(), by_version.len() as f64);
    let log_row = if g.log.is_empty() { 0.0 } else { g.log_bytes as f64 / g.log.len() as f64 };
    m.insert("log_bytes_per_search".into(), log_row);
    // The textbook's 10 M users x 10 searches a day, 20% of them new queries, at the measured row.
    m.insert("new_log_gb_per_day_at_10m_dau".into(), log_row * 10e6 * 10.0 * 0.2 / 1e9);
    if let Some(v) = g.versions.last() {
        m.insert("trie_nodes".into(), v.trie_nodes as f64);
        m.insert("trie_words".into(), v.trie_words as f64);
        m.insert("trie_bytes".into(), v.trie_bytes as f64);
        m.insert("trie_bytes_per_word".into(), v.trie_bytes as f64 / v.trie_words.max(1) as f64);
    }
    let mut ban_lags: Vec<u64> = Vec::new();
    let first_later = g.bans.len() - c.bans_later.len().min(g.bans.len());
    for q in &servers {
        for (i, t) in q.ban_applied_at.iter().enumerate() {
            if let Some(b) = g.bans.get(first_later + i) {
                ban_lags.push(t.since(b.0).as_nanos());
            }
        }
    }
    ban_lags.sort_unstable();
    m.insert("ban_visible_max_ms".into(), percentile_ms(&ban_lags, 1.0));

    let mut pool = PoolStats::default();
    let mut rows: Vec<(Strategy, StrategyStats)> = Vec::new();
    let mut mismatches = 0u64;
    for q in &servers {
        pool.add(&q.pool.stats);
        mismatches += q.shadow_mismatches;
        for (i, (s, st)) in q.stats.iter().enumerate() {
            if rows.len() <= i {
                rows.push((*s, StrategyStats::default()));
            }
            let row = &mut rows[i].1;
            row.queries += st.queries;
            row.nodes += st.nodes;
            row.entries += st.entries;
            row.service_ns.extend_from_slice(&st.service_ns);
        }
    }
    m.insert("shadow_mismatches".into(), mismatches as f64);
    m.insert("query_rejected".into(), (pool.rejected + pool.dropped + pool.shed) as f64);
    m.insert("query_wait_mean_ms".into(), pool.mean_wait_s() * 1e3);
    let per = |n: u64, q: u64| if q > 0 { n as f64 / q as f64 } else { 0.0 };
    let mut table_rows = Vec::new();
    let mut labels = Vec::new();
    for (i, (s, st)) in rows.iter().enumerate() {
        let [p50, p99] = quantiles_ms(&st.service_ns, &[0.5, 0.99])[..] else { unreachable!("two quantiles") };
        if i == 0 {
            m.insert("nodes_mean".into(), per(st.nodes, st.queries));
            m.insert("entries_mean".into(), per(st.entries, st.queries));
            m.insert("service_p99_ms".into(), p99);
        }
        labels.push(s.label());
        table_rows.push(vec![
            i as f64,
            st.queries as f64,
            per(st.nodes, st.queries),
            per(st.entries, st.queries),
            p50,
            p99,
        ]);
    }
    r.tables.push(
        Table::new(
            "strategy work per query",
            ["strategy", "queries", "nodes_mean", "entries_or_rows_mean", "service_p50_ms", "service_p99_ms"],
            table_rows,
        )
        .bars("strategy", &["service_p50_ms", "service_p99_ms"], Axis::new("service time", "ms").log10())
        .labels(&labels),
    );

    // Per shard: its share of the keystrokes sent and the end-to-end latency of those answered.
    let total: u64 = sent_per_shard.iter().sum();
    let mut shard_rows = Vec::new();
    let mut shard_labels = Vec::new();
    let mut max_share: f64 = 0.0;
    for (s, v) in per_shard.iter().enumerate() {
        let [p50, p99] = quantiles_ms(v, &[0.5, 0.99])[..] else { unreachable!("two quantiles") };
        let share = if total > 0 { sent_per_shard[s] as f64 / total as f64 } else { 0.0 };
        max_share = max_share.max(share);
        shard_labels.push(shard_label(s as u32, c.shard_chars, c.shards));
        shard_rows.push(vec![s as f64, share, sent_per_shard[s] as f64, v.len() as f64, p50, p99]);
    }
    m.insert("hottest_shard_share".into(), max_share);
    m.insert("shard_skew".into(), max_share * c.shards as f64);
    let shard_label_refs: Vec<&str> = shard_labels.iter().map(|s| s.as_str()).collect();
    r.tables.push(
        Table::new("load per shard", ["shard", "share", "sent", "answered", "p50_ms", "p99_ms"], shard_rows)
            .bars("shard", &["share"], Axis::new("share of keystrokes", "share"))
            .labels(&shard_label_refs),
    );
    r
}

fn words_of(vocab: &[String], ids: &[u64]) -> Vec<String> {
    ids.iter().map(|&i| vocab.get(i as usize).cloned().unwrap_or_default()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shards_split_the_alphabet_into_equal_runs() {
        assert_eq!(shard_of(b"apple", 1, 4), 0);
        assert_eq!(shard_of(b"zebra", 1, 4), 3);
        assert_eq!(shard_of(b"g", 1, 4), 0);
        assert_eq!(shard_of(b"h", 1, 4), 1);
        assert_eq!(shard_of(b"zz", 2, 26), 25);
        assert_eq!(shard_of(b"az", 2, 26), 0);
        assert_eq!(shard_of(b"ba", 2, 26), 1);
        // Labels cover exactly the letters each shard owns.
        for shards in [1, 3, 4, 7, 26] {
            for s in 0..shards {
                let l = shard_label(s, 1, shards);
                let (a, b) = (l.as_bytes()[0], l.as_bytes()[2]);
                assert!(a <= b);
                for c in b'a'..=b'z' {
                    assert_eq!(shard_of(&[c], 1, shards) == s, (a..=b).contains(&c), "{shards} {s} {l} {}", c as char);
                }
            }
        }
        assert_eq!(shard_label(0, 2, 2), "aa-mz");
    }

    #[test]
    fn the_oracle_ranks_by_count_then_word_and_leaves_out_the_excluded() {
        let vocab: Vec<String> = ["car", "card", "care", "cat", "dog"].map(String::from).to_vec();
        let counts = vec![5, 9, 5, 0, 100];
        let none = |_| false;
        let of = |ws: &'static [u32]| move |w: u32| ws.contains(&w);
        assert_eq!(oracle(&vocab, &counts, none, "ca", 5), vec![1, 0, 2]);
        assert_eq!(oracle(&vocab, &counts, none, "ca", 2), vec![1, 0]);
        assert_eq!(oracle(&vocab, &counts, of(&[1]), "car", 5), vec![0, 2]);
        // Excluded words before, inside and after the run.
        assert_eq!(oracle(&vocab, &counts, of(&[0, 2, 4]), "car", 5), vec![1]);
        assert_eq!(oracle(&vocab, &counts, of(&[0, 1, 4]), "ca", 5), vec![2]);
        assert_eq!(oracle(&vocab, &counts, of(&[3, 4]), "d", 5), Vec::<u64>::new());
        assert_eq!(oracle(&vocab, &counts, none, "x", 5), Vec::<u64>::new());
        assert_eq!(oracle(&vocab, &counts, none, "", 1), vec![4]);
    }

    /// The memo tells apart every (version, bans, prefix): prefixes equal but for a trailing
    /// NUL byte, at the 15 bytes packed and the 16 kept as text, and the same prefix at other
    /// versions or bans. Each is asked of the oracle once.
    #[test]
    fn the_memo_asks_the_oracle_once_per_version_bans_and_prefix() {
        let mut m = Memo::default();
        let p = |s: &str| Rc::<str>::from(s);
        let keys = [
            (0, 0, p("ab")),
            (0, 0, p("ab\0")),
            (0, 0, p("")),
            (0, 0, p("\0")),
            (0, 0, p("abcdefghijklmno")),
            (0, 0, p("abcdefghijklmnop")),
            (0, 0, p("abcdefghijklmnopq")),
            (1, 0, p("ab")),
            (0, 1, p("ab")),
            (1, 0, p("abcdefghijklmnop")),
        ];
        let mut asked = 0u64;
        for round in 0..2 {
            for (i, (version, bans, prefix)) in keys.iter().enumerate() {
                let got = m.get(*version, *bans, prefix, || {
                    asked += 1;
                    vec![i as u64]
                });
                assert_eq!(got, [i as u64], "round {round}: {version} {bans} {prefix:?}");
            }
        }
        assert_eq!(asked, keys.len() as u64);
    }

    #[test]
    fn historic_counts_follow_the_ranks() {
        let c = Config { vocabulary: 200, history: 100_000, ..Config::default() };
        let w = Words::generate(&c, &mut Prng::new(3, sim_core::rng::Stream::Setup));
        let by_rank: Vec<u64> = w.by_rank.iter().map(|&id| w.historic[id as usize]).collect();
        assert!(by_rank.windows(2).all(|p| p[0] >= p[1]));
        assert!(by_rank[0] > 10 * by_rank[50]);
        let mut ids = w.by_rank.clone();
        ids.sort_unstable();
        assert_eq!(ids, (0..200).collect::<Vec<u32>>(), "a permutation");
    }
}
