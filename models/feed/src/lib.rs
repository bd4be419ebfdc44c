//! # feed: a news feed (system 11): fan-out on write, fan-out on read, and the hybrid
//!
//! The notes' design: users create posts, follow people and view a feed of their followees'
//! posts, newest first, 50 to a page from a cache of 500 per user; posts visible within 2 minutes
//! (eventually consistent), posting and viewing under 500 ms, 2B users with unlimited followers.
//! The simple solution reads the feed at view time (get the followees, get each one's posts,
//! merge: **fan-out on read**); the improved one writes it at post time (get the followers, put
//! them on a Kafka queue, workers add the post to each follower's feed: **fan-out on write**);
//! and the notes' problem with the second, inactive users' feeds updated for nothing, leads to
//! the combination: the **hybrid** (celebrities' posts merged at read time, everyone else's
//! pushed, inactive users skipped at write time and their feeds built at read time).
//!
//! ## What is modelled
//!
//! **Nodes.** Servers in order: the log's coordinator (n0), `brokers` brokers, `api_servers` API
//! servers, `store_shards` post-store shards, the feed cache, and the fan-out workers (every
//! server left). Clients run the workload: `post` (the key is the author) and `read` (the key is
//! the reader: the first page of their feed), each one call to an API server ([`OpCalls`],
//! round robin).
//!
//! **The follow graph** ([`graph::Graph`]) is drawn from the seed before the run: `users`
//! accounts, each following `follows_min..=follows_max` others picked by popularity (Zipf with
//! exponent `follow_skew` over the ids), so the follower counts are heavy-tailed: a few accounts
//! are followed by most users (the notes' "unlimited followers", scaled down), the median by a
//! handful. Accounts with at least `celebrity_followers` followers are celebrities. The graph DB
//! is not a node: every server reads the graph from memory (its lookups are not what the design
//! is about; its cost can be folded into the service times).
//!
//! **Posting.** The API server stamps the post with a snowflake ID ([`parts::ids`]: time-ordered,
//! so "newest first" is "highest ID first"), writes it to the author's post-store shard (a
//! [`Pool`]: `store.concurrency` slots, a write takes `store.service`), and then, for the
//! followers the strategy pushes to, produces one record per `fanout_batch` followers to the log
//! ([`parts::log`]: the notes' Kafka queue). The post is acknowledged when the store has it and
//! the log has its fan-out records. Fan-out workers (each a consumer-group member holding a
//! [`Pool`] of `worker.concurrency` slots, a feed write taking `worker.service`) take a record
//! when their pool has no queue, write the post into each follower's cached feed, and mark the
//! record done (its offset may then be committed). The backlog of feed writes not yet done is the
//! kernel level `fanout.backlog` (plotted; the log's own `log.lag` counts records).
//!
//! **The feed cache** holds one list per user (a [`parts::cache::Cache`], LRU by entries, by
//! default sized for every user so nothing is evicted): the newest `feed_len` (500) post IDs, 8
//! bytes each; a push inserts in order and drops the oldest beyond 500. It answers from memory.
//! With `cache_feeds` below the cached users, evicted feeds are not rebuilt (a known-bad knob: a
//! test shows `feed_order` catching the pages that miss posts).
//!
//! **Reading.** The API server asks the feed cache for the reader's list (if the strategy caches
//! it) and each post-store shard for the newest `page` posts of the followees the strategy merges
//! at read time (one request per shard, costing `store.service` plus `store_per_author` per
//! author: the store reads an index per author), merges, and returns the newest `page` (50). So:
//!
//! | strategy | a post by A is written into | a read by U merges from the store |
//! |---|---|---|
//! | `FanoutWrite` | every follower's feed | nothing |
//! | `FanoutRead` | nothing | every followee |
//! | `Hybrid` | the feeds of A's active followers, unless A is a celebrity | U's celebrity followees, or every followee if U is inactive |
//!
//! Users `inactive_from..` are inactive (the workload's Zipf keys make them post and read
//! least): a static attribute here (in production, no login for N days); their feeds are never
//! cached, so every read of theirs is a fan-out on read. A follower sees each followee's posts by
//! exactly one path (a test checks it), so no post can be missed by a gap between the two.
//!
//! ## Checks (over the history and the stores' records)
//!
//! - `visibility`: for every (post, follower) pair of a post acknowledged in the main phase, the
//!   **visibility delay** is the time from the post's invocation to the moment the follower's feed
//!   would serve it: when the fan-out worker's write reached the follower's cached feed (pushed
//!   pairs), or when the post-store shard stored the post (pairs merged at read time: from then on
//!   any read by the follower includes it). A pair never made visible by the end of the run counts
//!   with the delay it had reached. Passes when the p99 of the delays is at most `visibility_sla`
//!   (the notes' 2 minutes); the measures give p50/p99/max and the share over the SLA.
//! - `feed_order`: every page served is strictly newest first, holds only posts of the reader's
//!   followees, holds no post that was not yet visible to the reader when the read completed, and
//!   misses none that was: every followee post visible to the reader before the read was invoked
//!   and newer than the page's oldest entry (any, if the page is not full) is on the page. Posts
//!   that became visible while the read was in flight may be on it or not (not judged).
//! - Posting and reading under 500 ms at p99 are the scenarios' latency SLAs.
//!
//! ## The failures it shows
//!
//! With fan-out on write, a celebrity's post is thousands of feed writes: the workers fall
//! behind, the backlog grows for as long as celebrities post, and the visibility p99 passes
//! 2 minutes (`feed_fanout_write_celebrity`). With fan-out on read every read merges every
//! followee from the store: at the read rate the store saturates and the read p99 passes 500 ms
//! (`feed_fanout_read`). The hybrid, on the same load, passes both (`feed`).
//!
//! Measures: cache writes per post, store reads (authors merged) per read, the feed cache's bytes
//! and entries, posts/s and reads/s achieved, the backlog's maximum, the follow graph's shape.
//! Simplified: no faults in the scenarios (internal calls have no timeouts; a crashed API server
//! would drop its share of the backlog level; the post store keeps its posts in memory, so a
//! crashed shard forgets them, and `feed_order` then counts pages' posts as "not in the post store
//! at the end", which it cannot judge), one page per read, no post deletion, no follow or
//! unfollow during the run, no ranking beyond time order.

pub mod check;
pub mod cost;
pub mod graph;

use graph::Graph;
use parts::calls::{CallPolicy, CallTimer, OpCalls, ReqId};
use parts::log::{self, Broker, Cluster, Consumer, Coordinator, Delivery, LogSpec, Pid, Producer, TopicSpec};
use parts::pool::{Admit, Pool, PoolSpec, PoolTimer};
use serde::{Deserialize, Serialize};
use sim_core::{
    Actor, Ctx, Duration, Message, Model, ModelReport, NodeId, Op, Outcome, Prng, Reply, RunView, Time, Topology,
    WriteId,
};
use std::collections::BTreeMap;
use std::rc::Rc;

/// How feeds are built.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum Strategy {
    /// Push every post into every follower's cached feed (through the log and the workers).
    FanoutWrite,
    /// Merge every followee's recent posts from the post store at read time.
    FanoutRead,
    /// Celebrities' posts and inactive readers on read; the rest on write.
    #[default]
    Hybrid,
}

/// ```ron
/// config: (
///     strategy: Hybrid,
///     users: 3000, follows_min: 20, follows_max: 60, follow_skew: 1.0,
///     celebrity_followers: 300, inactive_from: 1500,
///     api_servers: 2, store_shards: 2,
///     store: (concurrency: 4, queue: 100000, service: Exponential(mean: "1ms")),
///     store_per_author: "200us",
///     brokers: 1, log: (topics: [(name: "fanout", partitions: 8)], replication: 1, acks: 1),
///     fanout_batch: 100,
///     worker: (concurrency: 4, queue: 100000, service: Constant("2ms")),
/// )
/// ```
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    pub strategy: Strategy,
    pub users: u32,
    pub follows_min: u32,
    pub follows_max: u32,
    /// The Zipf exponent of followee popularity (higher: fewer, bigger celebrities).
    pub follow_skew: f64,
    /// Followers from which an account is a celebrity (the hybrid merges its posts at read time).
    pub celebrity_followers: u32,
    /// Users with this id and above are inactive (the hybrid skips them at write time).
    pub inactive_from: u32,
    /// Posts kept per cached feed (the notes' 500).
    pub feed_len: u32,
    /// The feed cache's capacity in feeds (default: every user's, so nothing is evicted). A
    /// smaller cache evicts the least recently used feed, and this design does not rebuild an
    /// evicted feed: its reader is served only what was pushed since (what `feed_order` catches).
    pub cache_feeds: Option<u32>,
    /// Posts per page served (the notes' 50).
    pub page: u32,
    pub api_servers: u32,
    pub store_shards: u32,
    /// A post-store shard: its slots and queue; `service` is a write's time and a read's base.
    pub store: PoolSpec,
    /// A store read's extra time per author merged.
    pub store_per_author: Duration,
    pub brokers: u32,
    /// The fan-out queue (its first topic).
    pub log: LogSpec,
    /// Followers per fan-out record.
    pub fanout_batch: u32,
    /// A fan-out worker: slots, queue, and one feed write's time.
    pub worker: PoolSpec,
    /// A client's call to an API server (no retries by default: a retried post would post twice).
    pub client: CallPolicy,
    /// The visibility SLA (the notes' 2 minutes), judged at p99.
    pub visibility_sla: Duration,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            strategy: Strategy::Hybrid,
            users: 3000,
            follows_min: 20,
            follows_max: 60,
            follow_skew: 1.0,
            celebrity_followers: 300,
            inactive_from: 1500,
            feed_len: 500,
            cache_feeds: None,
            page: 50,
            api_servers: 2,
            store_shards: 2,
            store: PoolSpec { concurrency: 4, queue: 100_000, ..PoolSpec::default() },
            store_per_author: Duration::from_micros(200),
            brokers: 1,
            log: LogSpec {
                topics: vec![TopicSpec { name: "fanout".into(), partitions: 8, ..TopicSpec::default() }],
                replication: 1,
                acks: 1,
                ..LogSpec::default()
            },
            fanout_batch: 100,
            worker: PoolSpec { concurrency: 4, queue: 100_000, ..PoolSpec::default() },
            client: CallPolicy { timeout: Duration::from_secs(30), retries: 0, ..CallPolicy::default() },
            visibility_sla: Duration::from_secs(120),
        }
    }
}

/// Where each role lives.
#[derive(Clone, Debug)]
pub struct Layout {
    pub control: NodeId,
    pub brokers: Vec<NodeId>,
    pub apis: Vec<NodeId>,
    pub stores: Vec<NodeId>,
    pub cache: NodeId,
    pub workers: Vec<NodeId>,
}

impl Layout {
    /// The servers needed besides the workers: control, brokers, API servers, shards, cache.
    fn fixed(c: &Config) -> usize {
        2 + (c.brokers + c.api_servers + c.store_shards) as usize
    }

    pub fn new(c: &Config, topo: &Topology) -> Layout {
        let s = &topo.servers;
        let (b, a, st) = (c.brokers as usize, c.api_servers as usize, c.store_shards as usize);
        let cache = 1 + b + a + st;
        Layout {
            control: s[0],
            brokers: s[1..=b].to_vec(),
            apis: s[1 + b..1 + b + a].to_vec(),
            stores: s[1 + b + a..cache].to_vec(),
            cache: s[cache],
            workers: s[cache + 1..].to_vec(),
        }
    }

    fn shard(&self, author: u32) -> NodeId {
        self.stores[author as usize % self.stores.len()]
    }
}

/// The design's own messages. `id`s are the asking server's tokens.
#[derive(Clone, Debug)]
pub enum AppMsg {
    Post { req: ReqId, author: u32 },
    Read { req: ReqId, user: u32 },
    Posted { req: ReqId, post: u64 },
    Page { req: ReqId, posts: Vec<u64> },
    Failed { req: ReqId },
    Store { id: u64, post: u64, author: u32 },
    Stored { id: u64 },
    GetPosts { id: u64, authors: Vec<u32> },
    GetFeed { id: u64, user: u32 },
    Posts { id: u64, posts: Vec<u64> },
    Push { post: u64, user: u32 },
}

impl Message for AppMsg {
    fn kind(&self) -> &'static str {
        match self {
            AppMsg::Post { .. } => "post",
            AppMsg::Read { .. } => "read",
            AppMsg::Posted { .. } => "posted",
            AppMsg::Page { .. } => "page",
            AppMsg::Failed { .. } => "failed",
            AppMsg::Store { .. } => "store_post",
            AppMsg::Stored { .. } => "stored",
            AppMsg::GetPosts { .. } => "get_posts",
            AppMsg::GetFeed { .. } => "get_feed",
            AppMsg::Posts { .. } => "posts",
            AppMsg::Push { .. } => "feed_push",
        }
    }
    fn size_bytes(&self) -> u64 {
        match self {
            AppMsg::Page { posts, .. } | AppMsg::Posts { posts, .. } => 64 + 8 * posts.len() as u64,
            AppMsg::GetPosts { authors, .. } => 64 + 4 * authors.len() as u64,
            _ => 64,
        }
    }
}

parts::wire! {
    /// Everything a node of this design sends.
    pub enum Msg { Log(log::Msg), App(AppMsg) }
}
parts::wire! {
    timers pub enum Timer { Log(log::Timer), Pool(PoolTimer), Call(CallTimer) }
}

/// The snowflake stamp of an API server: milliseconds, its index as the machine, a sequence.
#[derive(Default)]
struct Stamp {
    last_ms: u64,
    seq: u64,
}

impl Stamp {
    /// The next ID at `now`: never lower than the last (a full millisecond moves to the next).
    fn next(&mut self, now: Time, machine: u64) -> u64 {
        let ms = now.0 / 1_000_000;
        if ms > self.last_ms {
            self.last_ms = ms;
            self.seq = 0;
        } else if self.seq == parts::ids::SEQUENCE_MAX {
            self.last_ms += 1;
            self.seq = 0;
        } else {
            self.seq += 1;
        }
        parts::ids::compose(self.last_ms, 0, machine, self.seq)
    }
}

struct PendingPost {
    from: NodeId,
    req: ReqId,
    post: u64,
    author: u32,
    /// Fan-out records not yet acknowledged by the log.
    records: u32,
}

struct PendingRead {
    from: NodeId,
    req: ReqId,
    answers: u32,
    posts: Vec<u64>,
}

/// An API server: the post service and the feed service.
pub struct Api {
    graph: Rc<Graph>,
    layout: Rc<Layout>,
    machine: u64,
    batch: u32,
    page: u32,
    stamp: Stamp,
    producer: Producer<(u64, u32, u32)>,
    posts: BTreeMap<u64, PendingPost>,
    reads: BTreeMap<u64, PendingRead>,
    next: u64,
}

/// Newest first, no repeats, at most `n`.
fn newest(mut posts: Vec<u64>, n: u32) -> Vec<u64> {
    posts.sort_unstable_by(|a, b| b.cmp(a));
    posts.dedup();
    posts.truncate(n as usize);
    posts
}

impl Api {
    fn reply(ctx: &mut Ctx<'_, Node>, to: NodeId, m: AppMsg) {
        ctx.send(to, Msg::App(m));
    }

    fn on_post(&mut self, ctx: &mut Ctx<'_, Node>, from: NodeId, req: ReqId, author: u32) {
        let post = self.stamp.next(ctx.now(), self.machine);
        let id = self.next;
        self.next += 1;
        self.posts.insert(id, PendingPost { from, req, post, author, records: 0 });
        Self::reply(ctx, self.layout.shard(author), AppMsg::Store { id, post, author });
    }

    /// The store has the post: queue its fan-out (if any), then acknowledge.
    fn on_stored(&mut self, ctx: &mut Ctx<'_, Node>, id: u64) {
        let Some(p) = self.posts.get_mut(&id) else { return };
        let targets = self.graph.push[p.author as usize].len() as u32;
        let records = targets.div_ceil(self.batch);
        if records == 0 {
            let p = self.posts.remove(&id).expect("pending");
            Self::reply(ctx, p.from, AppMsg::Posted { req: p.req, post: p.post });
            return;
        }
        p.records = records;
        let (author, post) = (p.author, p.post);
        for i in 0..records {
            ctx.level("fanout", "backlog", chunk(targets, self.batch, i) as i64);
            self.producer.produce(ctx, 0, author as u64 | (i as u64) << 32, post, (id, author, i));
        }
    }

    fn on_produced(&mut self, ctx: &mut Ctx<'_, Node>, done: log::Produced<(u64, u32, u32)>) {
        let (id, author, i) = done.token;
        if done.result.is_err() {
            // The record's feed writes will never happen: take them off the backlog.
            let targets = self.graph.push[author as usize].len() as u32;
            ctx.level("fanout", "backlog", -(chunk(targets, self.batch, i) as i64));
            if let Some(p) = self.posts.remove(&id) {
                Self::reply(ctx, p.from, AppMsg::Failed { req: p.req });
            }
            return;
        }
        let Some(p) = self.posts.get_mut(&id) else { return };
        p.records -= 1;
        if p.records == 0 {
            let p = self.posts.remove(&id).expect("pending");
            Self::reply(ctx, p.from, AppMsg::Posted { req: p.req, post: p.post });
        }
    }

    fn on_read(&mut self, ctx: &mut Ctx<'_, Node>, from: NodeId, req: ReqId, user: u32) {
        let id = self.next;
        self.next += 1;
        let mut answers = 0;
        if self.graph.cached[user as usize] {
            Self::reply(ctx, self.layout.cache, AppMsg::GetFeed { id, user });
            answers += 1;
        }
        let mut by_shard: BTreeMap<NodeId, Vec<u32>> = BTreeMap::new();
        for &a in &self.graph.pull[user as usize] {
            by_shard.entry(self.layout.shard(a)).or_default().push(a);
        }
        for (shard, authors) in by_shard {
            Self::reply(ctx, shard, AppMsg::GetPosts { id, authors });
            answers += 1;
        }
        if answers == 0 {
            Self::reply(ctx, from, AppMsg::Page { req, posts: Vec::new() });
            return;
        }
        self.reads.insert(id, PendingRead { from, req, answers, posts: Vec::new() });
    }

    fn on_posts(&mut self, ctx: &mut Ctx<'_, Node>, id: u64, posts: Vec<u64>) {
        let Some(r) = self.reads.get_mut(&id) else { return };
        r.posts.extend(posts);
        r.answers -= 1;
        if r.answers == 0 {
            let r = self.reads.remove(&id).expect("pending");
            Self::reply(ctx, r.from, AppMsg::Page { req: r.req, posts: newest(r.posts, self.page) });
        }
    }

    fn on_msg(&mut self, ctx: &mut Ctx<'_, Node>, from: NodeId, msg: Msg) {
        match msg {
            Msg::App(AppMsg::Post { req, author }) => self.on_post(ctx, from, req, author),
            Msg::App(AppMsg::Read { req, user }) => self.on_read(ctx, from, req, user),
            Msg::App(AppMsg::Stored { id }) => self.on_stored(ctx, id),
            Msg::App(AppMsg::Posts { id, posts }) => self.on_posts(ctx, id, posts),
            Msg::Log(m) => {
                if let Some(done) = self.producer.on_msg(ctx, &m) {
                    self.on_produced(ctx, done);
                }
            }
            Msg::App(_) => {}
        }
    }

    fn on_timer(&mut self, ctx: &mut Ctx<'_, Node>, t: Timer) {
        if let Timer::Log(t) = t
            && let Some(done) = self.producer.on_timer(ctx, t)
        {
            self.on_produced(ctx, done);
        }
    }
}

/// The size of record `i` of a fan-out to `targets` followers in records of `batch`.
fn chunk(targets: u32, batch: u32, i: u32) -> u32 {
    (targets - i * batch).min(batch)
}

enum StoreJob {
    Write { from: NodeId, id: u64, post: u64, author: u32 },
    Read { from: NodeId, id: u64, authors: Vec<u32> },
}

/// A post-store shard: each author's posts, and when each was stored.
pub struct Store {
    pool: Pool<StoreJob>,
    per_author: Duration,
    page: u32,
    /// Author -> post IDs, ascending.
    pub by_author: BTreeMap<u32, Vec<u64>>,
    /// Post -> (author, when it was stored: from then on a read that merges the author sees it).
    pub stored: BTreeMap<u64, (u32, Time)>,
    /// Reads served, and authors merged by them.
    pub reads: u64,
    pub authors_read: u64,
}

impl Store {
    fn on_msg(&mut self, ctx: &mut Ctx<'_, Node>, from: NodeId, msg: Msg) {
        let (job, service) = match msg {
            Msg::App(AppMsg::Store { id, post, author }) => {
                (StoreJob::Write { from, id, post, author }, self.pool.spec().service.sample(ctx.rng()))
            }
            Msg::App(AppMsg::GetPosts { id, authors }) => {
                let extra = Duration(self.per_author.0 * authors.len() as u64);
                (StoreJob::Read { from, id, authors }, self.pool.spec().service.sample(ctx.rng()) + extra)
            }
            _ => return,
        };
        match self.pool.submit_for(ctx, job, service) {
            Admit::Started | Admit::Queued => {}
            Admit::Rejected(_) | Admit::Dropped(_) => {
                unreachable!("a store queue of 100,000,000 at most is validated against the load")
            }
        }
    }

    fn on_timer(&mut self, ctx: &mut Ctx<'_, Node>, t: Timer) {
        let Timer::Pool(t) = t else { return };
        let Some(job) = self.pool.on_timer(ctx, t) else { return };
        match job {
            StoreJob::Write { from, id, post, author } => {
                let list = self.by_author.entry(author).or_default();
                let at = list.partition_point(|&p| p < post);
                list.insert(at, post);
                self.stored.insert(post, (author, ctx.ledger_time()));
                ctx.send(from, Msg::App(AppMsg::Stored { id }));
            }
            StoreJob::Read { from, id, authors } => {
                self.reads += 1;
                self.authors_read += authors.len() as u64;
                let n = self.page as usize;
                let mut posts = Vec::new();
                for a in authors {
                    if let Some(list) = self.by_author.get(&a) {
                        posts.extend(list.iter().rev().take(n));
                    }
                }
                ctx.send(from, Msg::App(AppMsg::Posts { id, posts: newest(posts, self.page) }));
            }
        }
    }
}

/// The feed cache: each cached user's newest `feed_len` post IDs (ascending).
pub struct FeedCache {
    pub cache: parts::cache::Cache<Vec<u64>>,
    feed_len: u32,
    page: u32,
    /// Every push that reached a feed: (post, follower, when).
    pub pushes: Vec<(u64, u32, Time)>,
}

/// Bytes of a cached feed: its post IDs.
pub const ENTRY_BYTES: u64 = 8;

impl FeedCache {
    fn on_msg(&mut self, ctx: &mut Ctx<'_, Node>, from: NodeId, msg: Msg) {
        let now = ctx.now();
        match msg {
            Msg::App(AppMsg::Push { post, user }) => {
                let mut feed = self.cache.get(now, user as u64).and_then(|f| f.value.cloned()).unwrap_or_default();
                if let Err(at) = feed.binary_search(&post) {
                    feed.insert(at, post);
                    if feed.len() > self.feed_len as usize {
                        feed.remove(0);
                    }
                }
                let size = ENTRY_BYTES * feed.len() as u64;
                self.cache.put(now, user as u64, feed, size);
                self.pushes.push((post, user, ctx.ledger_time()));
            }
            Msg::App(AppMsg::GetFeed { id, user }) => {
                let posts = match self.cache.get(now, user as u64).and_then(|f| f.value) {
                    Some(feed) => feed.iter().rev().take(self.page as usize).copied().collect(),
                    None => Vec::new(),
                };
                ctx.send(from, Msg::App(AppMsg::Posts { id, posts }));
            }
            _ => {}
        }
    }
}

struct Write {
    post: u64,
    user: u32,
    record: (Pid, u64),
}

/// A fan-out worker: a consumer-group member writing posts into followers' feeds.
pub struct Worker {
    graph: Rc<Graph>,
    cache: NodeId,
    batch: u32,
    consumer: Consumer,
    pool: Pool<Write>,
    /// Records in progress: the delivery and its feed writes not yet done.
    records: BTreeMap<(Pid, u64), (Delivery, u32)>,
    pub writes: u64,
}

impl Worker {
    /// Takes a record whenever the pool has no queue: the backlog waits in the log.
    fn pump(&mut self, ctx: &mut Ctx<'_, Node>) {
        while self.pool.waiting() == 0 && self.pool.busy() < self.pool.spec().concurrency as usize {
            let Some(d) = self.consumer.poll(ctx) else { break };
            let author = d.rec.key as u32;
            let i = (d.rec.key >> 32) as usize;
            let targets = &self.graph.push[author as usize];
            let b = self.batch as usize;
            let chunk = &targets[(i * b).min(targets.len())..((i + 1) * b).min(targets.len())];
            if chunk.is_empty() {
                self.consumer.done(&d);
                continue;
            }
            let record = (d.p, d.offset);
            self.records.insert(record, (d, chunk.len() as u32));
            for &user in chunk {
                let w = Write { post: d.rec.value, user, record };
                match self.pool.submit(ctx, w) {
                    Admit::Started | Admit::Queued => {}
                    Admit::Rejected(_) | Admit::Dropped(_) => {
                        unreachable!("the worker queue holds a record's batch (validated)")
                    }
                }
            }
        }
    }

    fn on_pool(&mut self, ctx: &mut Ctx<'_, Node>, t: PoolTimer) {
        if let Some(w) = self.pool.on_timer(ctx, t) {
            ctx.send(self.cache, Msg::App(AppMsg::Push { post: w.post, user: w.user }));
            ctx.level("fanout", "backlog", -1);
            self.writes += 1;
            if let Some((_, left)) = self.records.get_mut(&w.record) {
                *left -= 1;
                if *left == 0 {
                    let (d, _) = self.records.remove(&w.record).expect("in progress");
                    self.consumer.done(&d);
                }
            }
        }
        self.pump(ctx);
    }
}

/// A workload client: each operation one call to an API server.
pub struct Client {
    ops: OpCalls<AppMsg>,
    users: u32,
}

pub enum Node {
    Control(Box<Coordinator>),
    Broker(Box<Broker>),
    Api(Box<Api>),
    Store(Box<Store>),
    Cache(Box<FeedCache>),
    Worker(Box<Worker>),
    Client(Box<Client>),
}

impl Actor for Node {
    type Msg = Msg;
    type Timer = Timer;
    type Record = log::Disk;

    fn on_start(&mut self, ctx: &mut Ctx<'_, Self>) {
        match self {
            Node::Control(c) => c.start(ctx, |r| Some(r)),
            Node::Broker(b) => b.start(ctx, |r| Some(r)),
            Node::Api(a) => a.producer.start(ctx),
            Node::Worker(w) => w.consumer.join(ctx),
            Node::Store(_) | Node::Cache(_) | Node::Client(_) => {}
        }
    }

    fn on_msg(&mut self, ctx: &mut Ctx<'_, Self>, from: NodeId, msg: Msg) {
        match self {
            Node::Control(c) => {
                if let Msg::Log(m) = msg {
                    c.on_msg(ctx, from, &m);
                }
            }
            Node::Broker(b) => {
                if let Msg::Log(m) = msg {
                    b.on_msg(ctx, from, &m);
                }
            }
            Node::Api(a) => a.on_msg(ctx, from, msg),
            Node::Store(s) => s.on_msg(ctx, from, msg),
            Node::Cache(c) => c.on_msg(ctx, from, msg),
            Node::Worker(w) => {
                if let Msg::Log(m) = msg
                    && w.consumer.on_msg(ctx, &m).is_some()
                {
                    w.pump(ctx);
                }
            }
            Node::Client(c) => match msg {
                Msg::App(AppMsg::Posted { req, post }) => c.ops.answered(ctx, req, Outcome::Ok, Reply::Value(post)),
                Msg::App(AppMsg::Page { req, posts }) => c.ops.answered(ctx, req, Outcome::Ok, Reply::list(posts)),
                Msg::App(AppMsg::Failed { req }) => c.ops.answered(ctx, req, Outcome::Fail, Reply::None),
                _ => {}
            },
        }
    }

    fn on_timer(&mut self, ctx: &mut Ctx<'_, Self>, t: Timer) {
        match self {
            Node::Control(c) => {
                if let Timer::Log(t) = t {
                    c.on_timer(ctx, t);
                }
            }
            Node::Broker(b) => {
                if let Timer::Log(t) = t {
                    b.on_timer(ctx, t);
                }
            }
            Node::Api(a) => a.on_timer(ctx, t),
            Node::Store(s) => s.on_timer(ctx, t),
            Node::Worker(w) => match t {
                Timer::Log(t) => {
                    w.consumer.on_timer(ctx, t);
                    w.pump(ctx);
                }
                Timer::Pool(t) => w.on_pool(ctx, t),
                Timer::Call(_) => {}
            },
            Node::Client(c) => {
                if let Timer::Call(t) = t {
                    c.ops.on_timer(ctx, t);
                }
            }
            Node::Cache(_) => {}
        }
    }

    fn on_op(&mut self, ctx: &mut Ctx<'_, Self>, op: Op) {
        let Node::Client(c) = self else {
            ctx.complete(op.id, Outcome::Rejected, Reply::None);
            return;
        };
        let user = (op.key % c.users as u64) as u32;
        if Feed::OP_KINDS[op.kind as usize] == "post" {
            c.ops.call(ctx, op.key, |req| AppMsg::Post { req, author: user }, op.id);
        } else {
            c.ops.call(ctx, op.key, |req| AppMsg::Read { req, user }, op.id);
        }
    }

    fn on_persisted(&mut self, ctx: &mut Ctx<'_, Self>, w: WriteId) {
        match self {
            Node::Control(c) => {
                c.on_persisted(ctx, w);
            }
            Node::Broker(b) => {
                b.on_persisted(ctx, w);
            }
            _ => {}
        }
    }
}

pub struct Feed;

impl Model for Feed {
    const TRANSPORT: sim_core::net::Transport = sim_core::net::Transport::Connection;
    const CHECKS: &'static [&'static str] = &["visibility", "feed_order"];
    const NAME: &'static str = "feed";
    const ABOUT: &'static str = "news feed: post store, heavy-tailed follow graph, feed cache; fan-out on write (log + workers), on read, or the hybrid";
    const OP_KINDS: &'static [&'static str] = &["post", "read"];
    type Config = Config;
    type Actor = Node;

    fn validate(c: &Config, topo: &Topology) -> Vec<(String, String)> {
        let mut e = Vec::new();
        let servers = topo.servers.len();
        if servers < Layout::fixed(c) + 1 {
            e.push((
                "topology.servers".into(),
                format!(
                    "needs control + brokers + api_servers + store_shards + cache + at least one worker = {}, got {servers}",
                    Layout::fixed(c) + 1
                ),
            ));
        }
        if topo.clients.is_empty() {
            e.push(("topology.clients".into(), "needs at least one client".into()));
        }
        if c.users < 2 || c.users > 1_000_000 {
            e.push(("config.users".into(), format!("must be within [2, 1,000,000], got {}", c.users)));
        }
        if c.follows_min > c.follows_max {
            e.push(("config.follows_min".into(), format!("must be at most follows_max = {}", c.follows_max)));
        }
        if c.follows_max > 10_000 {
            e.push(("config.follows_max".into(), format!("at most 10,000, got {}", c.follows_max)));
        }
        if !(c.follow_skew >= 0.0 && c.follow_skew <= 10.0) {
            e.push(("config.follow_skew".into(), format!("must be within [0, 10], got {}", c.follow_skew)));
        }
        if c.page == 0 || c.page > c.feed_len {
            e.push(("config.page".into(), format!("must be within [1, feed_len = {}], got {}", c.feed_len, c.page)));
        }
        if c.api_servers == 0 || c.api_servers > parts::ids::FIELD_MAX + 1 {
            e.push((
                "config.api_servers".into(),
                format!("must be within [1, 32] (the snowflake machine field), got {}", c.api_servers),
            ));
        }
        if c.store_shards == 0 {
            e.push(("config.store_shards".into(), "needs at least one shard".into()));
        }
        if c.brokers == 0 {
            e.push(("config.brokers".into(), "needs at least one broker".into()));
        }
        if c.fanout_batch == 0 {
            e.push(("config.fanout_batch".into(), "must be positive".into()));
        }
        if c.worker.queue < c.fanout_batch {
            e.push((
                "config.worker.queue".into(),
                format!("must hold a record's batch (fanout_batch = {}), got {}", c.fanout_batch, c.worker.queue),
            ));
        }
        if c.store.queue < 1_000_000 {
            e.push((
                "config.store.queue".into(),
                format!("a post store queues what it is sent (at least 1,000,000), got {}", c.store.queue),
            ));
        }
        if c.visibility_sla == Duration::ZERO {
            e.push(("config.visibility_sla".into(), "must be positive".into()));
        }
        e.extend(c.store.validate("config.store"));
        e.extend(c.worker.validate("config.worker"));
        e.extend(c.log.validate("config.log", c.brokers));
        e.extend(c.client.validate("config.client"));
        e
    }

    /// The follow graph, the visibility check's (post, follower) delays, the feed pushes and
    /// cached feeds, the pages served; measured on feed_perf (see [`cost`]).
    fn footprint(c: &Config, topo: &Topology, load: &sim_core::cost::Load) -> sim_core::cost::Footprint {
        cost::footprint(c, topo, load)
    }

    fn factory(c: &Config, topo: &Topology, setup: &mut Prng) -> Box<dyn FnMut(NodeId) -> Node> {
        let l = Rc::new(Layout::new(c, topo));
        let graph = Rc::new(Graph::build(c, setup));
        let cluster = Rc::new(Cluster::new(c.log.clone(), l.control, l.brokers.clone()));
        let c = c.clone();
        let topo = topo.clone();
        Box::new(move |n| {
            if topo.is_client(n) {
                let ops = OpCalls::new("client", &l.apis, c.client.clone(), parts::balance::Policy::RoundRobin);
                Node::Client(Box::new(Client { ops, users: c.users }))
            } else if n == l.control {
                Node::Control(Box::new(Coordinator::new(cluster.clone(), "log")))
            } else if l.brokers.contains(&n) {
                Node::Broker(Box::new(Broker::new(cluster.clone(), "log", n)))
            } else if let Some(i) = l.apis.iter().position(|&a| a == n) {
                Node::Api(Box::new(Api {
                    graph: graph.clone(),
                    layout: l.clone(),
                    machine: i as u64,
                    batch: c.fanout_batch,
                    page: c.page,
                    stamp: Stamp::default(),
                    producer: Producer::new(cluster.clone(), "log"),
                    posts: BTreeMap::new(),
                    reads: BTreeMap::new(),
                    next: 0,
                }))
            } else if l.stores.contains(&n) {
                Node::Store(Box::new(Store {
                    pool: Pool::new("store", c.store.clone()).with_busy_level(),
                    per_author: c.store_per_author,
                    page: c.page,
                    by_author: BTreeMap::new(),
                    stored: BTreeMap::new(),
                    reads: 0,
                    authors_read: 0,
                }))
            } else if n == l.cache {
                let spec = parts::cache::CacheSpec {
                    capacity: parts::cache::Capacity::Entries(c.cache_feeds.unwrap_or(c.users) as u64),
                    ..Default::default()
                };
                Node::Cache(Box::new(FeedCache {
                    cache: parts::cache::Cache::new(spec),
                    feed_len: c.feed_len,
                    page: c.page,
                    pushes: Vec::new(),
                }))
            } else {
                Node::Worker(Box::new(Worker {
                    graph: graph.clone(),
                    cache: l.cache,
                    batch: c.fanout_batch,
                    consumer: Consumer::new(cluster.clone(), "log", 0, 0),
                    pool: Pool::new("fanout", c.worker.clone()),
                    records: BTreeMap::new(),
                    writes: 0,
                }))
            }
        })
    }

    fn report(c: &Config, run: &RunView<'_, Node>) -> ModelReport {
        check::report(c, run)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stamps_are_time_ordered_and_never_repeat() {
        let mut s = Stamp::default();
        let a = s.next(Time(5_000_000), 1);
        let b = s.next(Time(5_000_000), 1);
        let c = s.next(Time(4_000_000), 1); // a clock behind the last stamp keeps the last ms
        let d = s.next(Time(9_000_000), 1);
        assert!(a < b && b < c && c < d);
        assert_eq!(parts::ids::decompose(d).0, 9);
        // A full millisecond moves on to the next.
        let mut s = Stamp { last_ms: 7, seq: parts::ids::SEQUENCE_MAX };
        assert_eq!(parts::ids::decompose(s.next(Time(7_000_000), 0)).0, 8);
    }

    #[test]
    fn pages_are_newest_first_without_repeats() {
        assert_eq!(newest(vec![3, 9, 1, 9, 4], 3), vec![9, 4, 3]);
        assert_eq!(chunk(250, 100, 0), 100);
        assert_eq!(chunk(250, 100, 2), 50);
    }
}
