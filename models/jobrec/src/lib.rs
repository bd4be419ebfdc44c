//! # jobrec: job recommendation (LinkedIn's "jobs you may be interested in") with a feed per reason
//!
//! The notes (the LinkedIn job recommendation system, "1-11 news feed system") ask for a page
//! shown when the user opens the app with **at least 5 jobs per reason**, the reasons being jobs
//! posted by the people the user follows, jobs in the user's location, jobs matching the user's
//! skills ("product of user skill set and job skill set"), jobs co-applied with the user's own
//! applications (frequent item sets: "other users applied for this job also applied A, B, C") and
//! popular jobs ("an accumulator for each job", the leaderboard's running counter); a feed cache
//! per reason (`{user A: post1 .. post5 at most}`, `{CA: pos1, pos2 ..}`), and a long-poll push of
//! new items (`pushFeedToUser() (Long Poll)`).
//!
//! ## The design
//!
//! - The **data service** (the first server) owns users, jobs and applications (the notes' DB1 and
//!   DB2). Users, their follows, locations and skills, the initial jobs and applications are
//!   generated from the seed ([`data::Tables::generate`]). `post` adds a job, `apply` an
//!   application; each is acknowledged and sent to every reason service (asynchronous replication
//!   over connections, in order) and, for jobs, to the assemblers (for the push).
//! - A **reason service** per reason (the next five servers) holds a replica of the tables and a
//!   feed cache ([`parts::cache::Cache`]) of *entities*: a poster's newest 5 jobs, a location's
//!   jobs, a skill's jobs, a job's frequent partners (pairs co-applied by at least `min_support`
//!   users, counted incrementally as applications arrive: the frequent-itemset step for pairs), and
//!   the counter's top list. Its **workers** precompute every entity at start and, every
//!   `refresh`, recompute the entities that new jobs and applications changed (the worker's time is
//!   not charged to the request pool: they are other machines). A request for a user reads the
//!   user's entities (followees, location, skills, applied jobs, the one popularity list), merges
//!   them into the user's ranked list ([`data::merge`]) and answers its best `fetch` with the
//!   number of candidates. Its service time ([`parts::pool::Pool`]) is computed from its work: a
//!   base, per entity read from the cache `hit`, per row read from the tables `row` (an entity
//!   missing from the cache, or every entity when `caches` is off, is computed on the request:
//!   its rows are the rows a database query for it would scan).
//! - The **assemblers** (the remaining servers) answer `open`: one call per reason service
//!   ([`parts::calls::Calls`], fan-in), then the page ([`data::assemble`]): `show` jobs per
//!   reason, de-duplicated across reasons (the reasons that can fill their `show` first, fewest
//!   candidates first, each skipping jobs already on the page and, while it can spare them, jobs a
//!   scarcer reason still to come needs; then the reasons that cannot). A reason that fails or
//!   times out leaves its part of the page empty.
//! - **Long poll**: each client node has `online` users whose devices keep one poll waiting at an
//!   assembler (user modulo assemblers); a new job by someone they follow answers it (or waits in
//!   the user's mailbox until the next poll); an empty answer after `long_poll_timeout`. The held
//!   poll is a few lines of this design: chat's long poll is chat's own code, not a part.
//!
//! The page goes back to the client as `Reply::Values`: the candidates per reason (`u64::MAX`:
//! not answered), the applications the popularity list had counted, the number of jobs shown, then
//! `job * 8 + reason` per job shown; after the page, only when it shows fewer than `show` jobs for
//! a reason with `show` candidates or more, for the checks only (it is not counted in the message's
//! size), each reason's list the page was assembled from (its length, then its jobs).
//! So the checks read only the history and the data service's log.
//!
//! ## Checks
//!
//! - `five_per_reason` (the notes' number, 5, whatever `show` is configured to): over every
//!   (page, reason) whose reason answered with at least 5 candidates, the page shows at least 5
//!   of that reason's candidates for it, unless de-duplication makes it impossible: when the
//!   reasons' lists have too few distinct jobs to give every such reason 5 (two reasons of exactly
//!   5 candidates sharing a job), the page must show as many as the best assignment of jobs to
//!   reasons would (a maximum matching of the reasons' slots to their candidates).
//! - `no_duplicates`: no job twice on a page.
//! - `popularity_fresh`: the popularity part of every page equals the counter's top list (the
//!   oracle recomputed from the data service's application log) as of the applications it says
//!   it counted, skipping only jobs the page shows under another reason; and the first application
//!   it had not counted was acknowledged at most `freshness_bound` before the page was asked.
//! - The scenario's p99 latency SLA on `open`.
//!
//! Known-bad `jobrec_no_cache`: every reason computed at request time from the tables (no feed
//! caches): the popularity service scans every job's counter and the skills service every job of
//! the user's skills on each request; at the scenario's rate their pools saturate, requests queue
//! and the p99 SLA is missed. `jobrec_no_dedup`: each reason's first 5 concatenated: jobs show
//! twice.
//!
//! ## Simplified
//!
//! No crashes (nothing persists: the data service's tables are its memory); one node per reason
//! service; follows are fixed; jobs never close; the long-poll client does not re-send a poll lost
//! with its server. Transport: connections (HTTP/RPC).

pub mod check;
pub mod data;

use data::{Entry, REASONS, Reason, Tables, WorldSpec, assemble, merge};
use parts::balance::{HealthSpec, Policy};
use parts::cache::{Cache, CacheSpec, CacheStats};
use parts::calls::{Answer, CallPolicy, CallTimer, Calls, Done, ReqId, ServiceId};
use parts::pool::{Admit, Pool, PoolSpec, PoolStats, PoolTimer};
use serde::{Deserialize, Serialize};
use sim_core::cost::count;
use sim_core::stats::percentile_ms;
use sim_core::{
    Actor, Axis, Ctx, Duration, Message, Model, ModelReport, NodeId, Op, OpId, Outcome, Prng, Reply, RunView, Table,
    Time, TimerId, Topology,
};
use std::collections::{BTreeMap, BTreeSet};
use std::rc::Rc;

/// What a reason service's work costs.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Cost {
    pub base: Duration,
    /// An entity read from the feed cache.
    pub hit: Duration,
    /// A row read from the tables (computing an entity on the request).
    pub row: Duration,
}

impl Default for Cost {
    fn default() -> Self {
        Cost { base: Duration::from_micros(200), hit: Duration::from_micros(20), row: Duration::from_micros(5) }
    }
}

/// ```ron
/// config: (world: (users: 2000), caches: true, dedup: true, show: 5, fetch: 25,
///          refresh: "250ms", freshness_bound: "1s", reason_pool: (concurrency: 2, queue: 500))
/// ```
/// Servers: the data service, the five reason services (followee, location, skills, co-applied,
/// popularity), then the assemblers.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    pub world: WorldSpec,
    /// Feed caches on the reason services, kept by workers; off: every reason computed on the
    /// request (the known-bad).
    pub caches: bool,
    /// De-duplicate across reasons when assembling a page.
    pub dedup: bool,
    /// Jobs a reason shows on a page (the notes: at least 5).
    pub show: u32,
    /// Jobs a reason service answers (the assembler needs more than `show` to de-duplicate).
    pub fetch: u32,
    /// Jobs kept in the location and popularity entities.
    pub keep: u32,
    /// How often the workers recompute the entities that changed.
    pub refresh: Duration,
    /// `popularity_fresh`: the oldest application a page's popularity list may miss.
    pub freshness_bound: Duration,
    pub cost: Cost,
    /// Each reason service's request pool (service time: the request's cost).
    pub reason_pool: PoolSpec,
    pub cache: CacheSpec,
    /// Client to assembler and data service.
    pub call: CallPolicy,
    /// Assembler to reason service.
    pub reason_call: CallPolicy,
    /// Users with a long poll waiting, per client node.
    pub online: u32,
    pub long_poll_timeout: Duration,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            world: WorldSpec::default(),
            caches: true,
            dedup: true,
            show: 5,
            fetch: 25,
            keep: 100,
            refresh: Duration::from_millis(250),
            freshness_bound: Duration::from_secs(1),
            cost: Cost::default(),
            reason_pool: PoolSpec { concurrency: 2, queue: 1000, ..PoolSpec::default() },
            cache: CacheSpec { capacity: parts::cache::Capacity::Entries(20_000), ..CacheSpec::default() },
            call: CallPolicy::default(),
            reason_call: CallPolicy { timeout: Duration::from_millis(500), ..CallPolicy::default() },
            online: 50,
            long_poll_timeout: Duration::from_secs(20),
        }
    }
}

#[derive(Clone, Debug)]
pub enum Msg {
    Open {
        req: ReqId,
        user: u32,
    },
    /// The page, encoded as described in the crate docs. `evidence` is the reasons' candidate
    /// lists a short page was assembled from, for the checks: not part of the page on the wire.
    Page {
        req: ReqId,
        values: Vec<u64>,
        evidence: Vec<u64>,
    },
    Ask {
        req: ReqId,
        user: u32,
    },
    Answer {
        req: ReqId,
        jobs: Vec<u32>,
        candidates: u32,
        asof: u32,
    },
    Busy {
        req: ReqId,
    },
    Post {
        req: ReqId,
        user: u32,
    },
    Apply {
        req: ReqId,
        user: u32,
    },
    /// `post` and `apply` acknowledged (the job, or `u32::MAX`: no job to apply to).
    Done {
        req: ReqId,
        job: u32,
    },
    /// Replication from the data service.
    NewJob {
        id: u32,
        row: data::JobRow,
        at: Time,
    },
    NewApp {
        user: u32,
        job: u32,
    },
    Poll {
        user: u32,
        poll: u64,
    },
    Pushed {
        user: u32,
        poll: u64,
        jobs: Vec<(u32, Time)>,
    },
}

impl Message for Msg {
    fn kind(&self) -> &'static str {
        match self {
            Msg::Open { .. } => "open",
            Msg::Page { .. } => "page",
            Msg::Ask { .. } => "reason_ask",
            Msg::Answer { .. } => "reason_answer",
            Msg::Busy { .. } => "busy",
            Msg::Post { .. } => "post",
            Msg::Apply { .. } => "apply",
            Msg::Done { .. } => "done",
            Msg::NewJob { .. } => "new_job",
            Msg::NewApp { .. } => "new_app",
            Msg::Poll { .. } => "long_poll",
            Msg::Pushed { .. } => "long_poll_answer",
        }
    }
    fn size_bytes(&self) -> u64 {
        match self {
            Msg::Page { values, .. } => 64 + 8 * values.len() as u64,
            Msg::Answer { jobs, .. } => 64 + 4 * jobs.len() as u64,
            Msg::Pushed { jobs, .. } => 64 + 12 * jobs.len() as u64,
            _ => 64,
        }
    }
}

#[derive(Clone, Copy, Debug)]
pub enum Tick {
    /// The workers' round: recompute the entities that changed.
    Refresh,
    /// A held long poll answered empty.
    PollExpire { user: u32, poll: u64 },
}

parts::wire! {
    timers pub enum Timer { Call(CallTimer), Pool(PoolTimer), Tick(Tick) }
}

/// What happened to `open` ops: encoded into `Reply::Values` (the candidates per reason, the
/// applications counted, the number of jobs shown).
const HEADER: usize = REASONS + 2;

pub struct Client {
    calls: Calls<Msg, OpId>,
    assemblers: ServiceId,
    data: ServiceId,
    assembler_nodes: Vec<NodeId>,
    users: u32,
    recruiters: u32,
    /// Users online here (a long poll each).
    pub online: Vec<u32>,
    /// `(user, job, posted at, arrived at)` of every job pushed.
    pub pushed: Vec<(u32, u32, Time, Time)>,
    pub polls: u64,
}

/// A request waiting on a reason service's pool.
#[derive(Clone, Debug)]
pub struct Job {
    from: NodeId,
    req: ReqId,
    jobs: Vec<u32>,
    candidates: u32,
    asof: u32,
}

/// What a reason service counted.
#[derive(Clone, Debug, Default)]
pub struct ReasonStats {
    pub requests: u64,
    pub entities: u64,
    pub rows: u64,
    pub refreshed: u64,
}

pub struct ReasonServer {
    pub reason: Reason,
    tables: Tables,
    pool: Pool<Job>,
    /// Entities' lists, shared with the requests that read them.
    pub cache: Cache<Rc<Entry>>,
    caches: bool,
    dirty: BTreeSet<u64>,
    cost: Cost,
    fetch: usize,
    keep: usize,
    refresh: Duration,
    pub stats: ReasonStats,
}

/// A page being assembled.
struct Pending {
    from: NodeId,
    req: ReqId,
    lists: [Option<Vec<u32>>; REASONS],
    candidates: [u64; REASONS],
    asof: u64,
    left: usize,
}

pub struct Assembler {
    calls: Calls<Msg, (u64, usize)>,
    reasons: [ServiceId; REASONS],
    pages: BTreeMap<u64, Pending>,
    next_page: u64,
    show: usize,
    dedup: bool,
    /// Per reason: each call's latency, ns, and how many ended without an answer.
    pub call_ns: [Vec<u64>; REASONS],
    pub call_failed: [u64; REASONS],
    followers: Rc<Vec<Vec<u32>>>,
    waiting: BTreeMap<u32, (NodeId, u64, TimerId)>,
    mailbox: BTreeMap<u32, Vec<(u32, Time)>>,
    /// Users who polled here (their jobs wait in the mailbox between polls).
    known: BTreeMap<u32, NodeId>,
    long_poll_timeout: Duration,
}

pub struct DataServer {
    pub tables: Tables,
    /// Applications and jobs present at the start.
    pub initial_apps: usize,
    pub initial_jobs: usize,
    /// When each application (and job) added during the run was acknowledged (true time).
    pub app_acked: Vec<Time>,
    pub job_acked: Vec<Time>,
    reasons: Vec<NodeId>,
    assemblers: Vec<NodeId>,
}

pub enum Node {
    Client(Box<Client>),
    Data(Box<DataServer>),
    Reason(Box<ReasonServer>),
    Assembler(Box<Assembler>),
}

fn complete(ctx: &mut Ctx<'_, Node>, done: Done<OpId>, reply: Reply) {
    let outcome = done.outcome.outcome();
    ctx.complete(done.data, outcome, if outcome == Outcome::Ok { reply } else { Reply::None });
}

const OPEN: u16 = 0;
const APPLY: u16 = 1;

impl Client {
    fn on_start(&mut self, ctx: &mut Ctx<'_, Node>) {
        for i in 0..self.online.len() {
            let user = self.online[i];
            self.poll(ctx, user);
        }
    }

    fn poll(&mut self, ctx: &mut Ctx<'_, Node>, user: u32) {
        self.polls += 1;
        let to = self.assembler_nodes[user as usize % self.assembler_nodes.len()];
        ctx.send(to, Msg::Poll { user, poll: self.polls });
    }

    fn on_op(&mut self, ctx: &mut Ctx<'_, Node>, op: Op) {
        let r = match op.kind {
            OPEN => {
                let user = (op.key % self.users as u64) as u32;
                self.calls.call(ctx, self.assemblers, op.key, |req| Msg::Open { req, user }, op.id)
            }
            APPLY => {
                let user = (op.key % self.users as u64) as u32;
                self.calls.call(ctx, self.data, op.key, |req| Msg::Apply { req, user }, op.id)
            }
            _ => {
                let user = (op.key % self.recruiters as u64) as u32;
                self.calls.call(ctx, self.data, op.key, |req| Msg::Post { req, user }, op.id)
            }
        };
        if let Err(done) = r {
            complete(ctx, done, Reply::None);
        }
    }

    fn on_msg(&mut self, ctx: &mut Ctx<'_, Node>, msg: Msg) {
        match msg {
            Msg::Page { req, mut values, evidence } => {
                if let Some(done) = self.calls.reply(ctx, req, Answer::Ok) {
                    values.extend(evidence);
                    complete(ctx, done, Reply::list(values));
                }
            }
            Msg::Done { req, job } => {
                if let Some(done) = self.calls.reply(ctx, req, Answer::Ok) {
                    complete(ctx, done, Reply::Value(job as u64));
                }
            }
            Msg::Busy { req } => {
                if let Some(done) = self.calls.reply(ctx, req, Answer::Retryable) {
                    complete(ctx, done, Reply::None);
                }
            }
            Msg::Pushed { user, jobs, .. } => {
                let now = ctx.now();
                self.pushed.extend(jobs.into_iter().map(|(j, at)| (user, j, at, now)));
                self.poll(ctx, user);
            }
            _ => {}
        }
    }
}

impl ReasonServer {
    /// The workers' first round: every entity precomputed into the feed cache.
    fn precompute(&mut self, now: Time) {
        let keys: Vec<u64> = match self.reason {
            Reason::Followee => (0..self.tables.users.len() as u64).collect(),
            Reason::Location => (0..self.tables.jobs_by_location.len() as u64).collect(),
            Reason::Skills => (0..self.tables.jobs_by_skill.len() as u64).collect(),
            Reason::CoApplied => (0..self.tables.jobs.len() as u64).collect(),
            Reason::Popularity => vec![0],
        };
        for k in keys {
            self.put(now, k);
        }
    }

    fn put(&mut self, now: Time, key: u64) {
        let (e, _) = self.tables.entry(self.reason, key, self.keep);
        let size = e.bytes();
        self.cache.put(now, key, Rc::new(e), size);
    }

    /// The user's list and what computing it cost.
    fn serve(&mut self, now: Time, user: u32) -> (data::Ranked5, Duration) {
        let mut ns = self.cost.base.as_nanos() + self.tables.own_rows(self.reason, user) * self.cost.row.as_nanos();
        let mut entries = Vec::new();
        for key in self.tables.entities(self.reason, user) {
            self.stats.entities += 1;
            if self.caches
                && let Some(found) = self.cache.get(now, key)
                && let Some(e) = found.value
            {
                ns += self.cost.hit.as_nanos();
                entries.push(e.clone());
                continue;
            }
            let (e, rows) = self.tables.entry(self.reason, key, self.keep);
            self.stats.rows += rows;
            ns += rows * self.cost.row.as_nanos();
            let (size, e) = (e.bytes(), Rc::new(e));
            if self.caches {
                self.cache.put(now, key, e.clone(), size);
            }
            entries.push(e);
        }
        self.stats.requests += 1;
        (merge(&self.tables, self.reason, user, &entries, self.fetch), Duration::from_nanos(ns))
    }

    fn on_msg(&mut self, ctx: &mut Ctx<'_, Node>, from: NodeId, msg: Msg) {
        match msg {
            Msg::Ask { req, user } => {
                let (l, service) = self.serve(ctx.now(), user);
                let job = Job { from, req, jobs: l.jobs, candidates: l.candidates, asof: l.asof };
                match self.pool.submit_for(ctx, job, service) {
                    Admit::Started | Admit::Queued => {}
                    Admit::Rejected(j) | Admit::Dropped(j) => ctx.send(j.from, Msg::Busy { req: j.req }),
                }
            }
            Msg::NewJob { id, row, .. } => {
                debug_assert_eq!(id as usize, self.tables.jobs.len(), "jobs arrive in order");
                let touched: Vec<u64> = match self.reason {
                    Reason::Followee => vec![row.poster as u64],
                    Reason::Location => vec![row.location as u64],
                    Reason::Skills => row.skills.iter().map(|&s| s as u64).collect(),
                    Reason::CoApplied | Reason::Popularity => Vec::new(),
                };
                self.tables.add_job(row);
                self.dirty.extend(touched);
            }
            Msg::NewApp { user, job } => {
                match self.reason {
                    Reason::CoApplied => {
                        self.dirty.insert(job as u64);
                        self.dirty.extend(self.tables.apps_by_user[user as usize].iter().map(|&j| j as u64));
                    }
                    Reason::Popularity => {
                        self.dirty.insert(0);
                    }
                    _ => {}
                }
                self.tables.add_app(user, job);
            }
            _ => {}
        }
    }

    fn on_timer(&mut self, ctx: &mut Ctx<'_, Node>, timer: Timer) {
        match timer {
            Timer::Pool(t) => {
                if let Some(j) = self.pool.on_timer(ctx, t) {
                    let msg = Msg::Answer { req: j.req, jobs: j.jobs, candidates: j.candidates, asof: j.asof };
                    ctx.send(j.from, msg);
                }
                for j in self.pool.take_shed() {
                    ctx.send(j.from, Msg::Busy { req: j.req });
                }
            }
            Timer::Tick(Tick::Refresh) => {
                let now = ctx.now();
                for key in std::mem::take(&mut self.dirty) {
                    self.stats.refreshed += 1;
                    self.put(now, key);
                }
                ctx.set_timer(self.refresh, Timer::Tick(Tick::Refresh));
            }
            _ => {}
        }
    }
}

impl Assembler {
    fn on_msg(&mut self, ctx: &mut Ctx<'_, Node>, from: NodeId, msg: Msg) {
        match msg {
            Msg::Open { req, user } => {
                let page = self.next_page;
                self.next_page += 1;
                self.pages.insert(
                    page,
                    Pending {
                        from,
                        req,
                        lists: Default::default(),
                        candidates: [u64::MAX; REASONS],
                        asof: u64::MAX,
                        left: REASONS,
                    },
                );
                for r in 0..REASONS {
                    let svc = self.reasons[r];
                    if let Err(done) = self.calls.call(ctx, svc, user as u64, |req| Msg::Ask { req, user }, (page, r)) {
                        self.on_done(ctx, done, None);
                    }
                }
            }
            Msg::Answer { req, jobs, candidates, asof } => {
                if let Some(done) = self.calls.reply(ctx, req, Answer::Ok) {
                    self.on_done(ctx, done, Some((jobs, candidates, asof)));
                }
            }
            Msg::Busy { req } => {
                if let Some(done) = self.calls.reply(ctx, req, Answer::Retryable) {
                    self.on_done(ctx, done, None);
                }
            }
            Msg::NewJob { id, row, at } => self.on_new_job(ctx, id, row.poster, at),
            Msg::Poll { user, poll } => {
                self.known.insert(user, from);
                if let Some(jobs) = self.mailbox.remove(&user) {
                    ctx.send(from, Msg::Pushed { user, poll, jobs });
                } else {
                    let t = ctx.set_timer(self.long_poll_timeout, Timer::Tick(Tick::PollExpire { user, poll }));
                    self.waiting.insert(user, (from, poll, t));
                }
            }
            _ => {}
        }
    }

    /// A new job: to the held polls of the poster's followers who poll here.
    fn on_new_job(&mut self, ctx: &mut Ctx<'_, Node>, job: u32, poster: u32, at: Time) {
        let followers = Rc::clone(&self.followers);
        for &f in &followers[poster as usize] {
            if !self.known.contains_key(&f) {
                continue;
            }
            if let Some((to, poll, t)) = self.waiting.remove(&f) {
                ctx.cancel_timer(t);
                ctx.send(to, Msg::Pushed { user: f, poll, jobs: vec![(job, at)] });
            } else {
                self.mailbox.entry(f).or_default().push((job, at));
            }
        }
    }

    fn on_done(&mut self, ctx: &mut Ctx<'_, Node>, done: Done<(u64, usize)>, answer: Option<(Vec<u32>, u32, u32)>) {
        let (page, r) = done.data;
        match &answer {
            Some(_) => self.call_ns[r].push(done.latency.as_nanos()),
            None => self.call_failed[r] += 1,
        }
        let Some(p) = self.pages.get_mut(&page) else { return };
        if let Some((jobs, candidates, asof)) = answer {
            p.lists[r] = Some(jobs);
            p.candidates[r] = candidates as u64;
            if Reason::ALL[r] == Reason::Popularity {
                p.asof = asof as u64;
            }
        }
        p.left -= 1;
        if p.left > 0 {
            return;
        }
        let p = self.pages.remove(&page).expect("pending");
        let shown = assemble(&p.lists, self.show, self.dedup);
        let mut values: Vec<u64> = p.candidates.to_vec();
        values.push(p.asof);
        values.push(shown.len() as u64);
        values.extend(shown.iter().map(|&(r, j)| j as u64 * 8 + r as u64));
        // A page short for a reason that could fill its part carries the lists, which may show
        // that no page could have done better (1.7 KB a page if every page did).
        let owed = |r: usize| p.candidates[r] != u64::MAX && p.candidates[r] >= self.show as u64;
        let short = (0..REASONS).any(|r| owed(r) && shown.iter().filter(|s| s.0 as usize == r).count() < self.show);
        let mut evidence = Vec::new();
        for list in p.lists.iter().filter(|_| short) {
            let list = list.as_deref().unwrap_or(&[]);
            evidence.push(list.len() as u64);
            evidence.extend(list.iter().map(|&j| j as u64));
        }
        ctx.send(p.from, Msg::Page { req: p.req, values, evidence });
    }
}

impl DataServer {
    fn on_msg(&mut self, ctx: &mut Ctx<'_, Node>, from: NodeId, msg: Msg) {
        match msg {
            Msg::Post { req, user } => {
                let row = self.tables.new_job(user, ctx.rng());
                let id = self.tables.add_job(row.clone());
                let now = ctx.now();
                self.job_acked.push(ctx.ledger_time());
                ctx.broadcast(self.reasons.iter().copied(), Msg::NewJob { id, row: row.clone(), at: now });
                ctx.broadcast(self.assemblers.iter().copied(), Msg::NewJob { id, row, at: now });
                ctx.send(from, Msg::Done { req, job: id });
            }
            Msg::Apply { req, user } => {
                let mut job = None;
                for _ in 0..3 {
                    job = self.tables.pick_job(user, ctx.rng());
                    if job.is_some() {
                        break;
                    }
                }
                if let Some(job) = job {
                    self.tables.add_app(user, job);
                    self.app_acked.push(ctx.ledger_time());
                    ctx.broadcast(self.reasons.iter().copied(), Msg::NewApp { user, job });
                }
                ctx.send(from, Msg::Done { req, job: job.unwrap_or(u32::MAX) });
            }
            _ => {}
        }
    }
}

impl Actor for Node {
    type Msg = Msg;
    type Timer = Timer;
    type Record = ();

    fn on_start(&mut self, ctx: &mut Ctx<'_, Self>) {
        match self {
            Node::Client(c) => c.on_start(ctx),
            Node::Reason(r) if r.caches => {
                r.precompute(ctx.now());
                ctx.set_timer(r.refresh, Timer::Tick(Tick::Refresh));
            }
            _ => {}
        }
    }

    fn on_msg(&mut self, ctx: &mut Ctx<'_, Self>, from: NodeId, msg: Msg) {
        match self {
            Node::Client(c) => c.on_msg(ctx, msg),
            Node::Data(d) => d.on_msg(ctx, from, msg),
            Node::Reason(r) => r.on_msg(ctx, from, msg),
            Node::Assembler(a) => a.on_msg(ctx, from, msg),
        }
    }

    fn on_timer(&mut self, ctx: &mut Ctx<'_, Self>, timer: Timer) {
        match self {
            Node::Client(c) => {
                if let Timer::Call(t) = timer
                    && let Some(done) = c.calls.on_timer(ctx, t)
                {
                    complete(ctx, done, Reply::None);
                }
            }
            Node::Reason(r) => r.on_timer(ctx, timer),
            Node::Assembler(a) => match timer {
                Timer::Call(t) => {
                    if let Some(done) = a.calls.on_timer(ctx, t) {
                        a.on_done(ctx, done, None);
                    }
                }
                Timer::Tick(Tick::PollExpire { user, poll }) if a.waiting.get(&user).is_some_and(|w| w.1 == poll) => {
                    let (to, poll, _) = a.waiting.remove(&user).expect("held");
                    ctx.send(to, Msg::Pushed { user, poll, jobs: Vec::new() });
                }
                _ => {}
            },
            Node::Data(_) => {}
        }
    }

    fn on_op(&mut self, ctx: &mut Ctx<'_, Self>, op: Op) {
        match self {
            Node::Client(c) => c.on_op(ctx, op),
            _ => ctx.complete(op.id, Outcome::Rejected, Reply::None),
        }
    }
}

pub struct JobRec;

/// Servers before the assemblers: the data service and the five reason services.
const FIXED_SERVERS: usize = 1 + REASONS;

impl Model for JobRec {
    const NAME: &'static str = "jobrec";
    const ABOUT: &'static str = "job recommendation (LinkedIn): a feed per reason (followees, location, skills, co-applied, popularity) precomputed into caches, assembled at app open with de-duplication, long-poll push";
    const OP_KINDS: &'static [&'static str] = &["open", "apply", "post"];
    const TRANSPORT: sim_core::net::Transport = sim_core::net::Transport::Connection;
    const CHECKS: &'static [&'static str] = &["five_per_reason", "no_duplicates", "popularity_fresh"];
    type Config = Config;
    type Actor = Node;

    fn validate(c: &Config, topo: &Topology) -> Vec<(String, String)> {
        let mut e = Vec::new();
        if topo.servers.len() <= FIXED_SERVERS {
            e.push((
                "topology.servers".into(),
                format!(
                    "needs a data service, 5 reason services and at least one assembler ({} servers), got {}",
                    FIXED_SERVERS + 1,
                    topo.servers.len()
                ),
            ));
        }
        e.extend(c.world.validate("config.world"));
        if c.show == 0 {
            e.push(("config.show".into(), "must be at least 1".into()));
        }
        if c.fetch < c.show {
            e.push(("config.fetch".into(), format!("must be at least show ({}), got {}", c.show, c.fetch)));
        }
        if c.keep < c.fetch {
            e.push(("config.keep".into(), format!("must be at least fetch ({}), got {}", c.fetch, c.keep)));
        }
        for (field, d) in
            [("refresh", c.refresh), ("freshness_bound", c.freshness_bound), ("long_poll_timeout", c.long_poll_timeout)]
        {
            if d == Duration::ZERO {
                e.push((format!("config.{field}"), "must be positive".into()));
            }
        }
        if c.online > c.world.users {
            e.push(("config.online".into(), format!("at most world.users ({}), got {}", c.world.users, c.online)));
        }
        e.extend(c.reason_pool.validate("config.reason_pool"));
        e.extend(c.cache.validate("config.cache"));
        e.extend(c.call.validate("config.call"));
        e.extend(c.reason_call.validate("config.reason_call"));
        e
    }

    /// Measured (debug binary, `simctl bench scenario`, peak RSS less a tiny run's) on
    /// `scenarios/perf/jobrec_perf.ron` with no operations, the world varied one size at a time
    /// (63 MB at 10,000 users and jobs and 40,000 applications; 124 MB at 80,000 applications):
    /// the tables are held six times (the data service and the five reason services' replicas),
    /// so ~1,370 B a user, ~1,420 B a job, ~330 B an application and ~104 B a co-applied pair
    /// (`users x (applications per user)^2` of them), plus the feed caches' precomputed entities.
    /// The whole file adds 45 MB for 35,000 operations: an `open`'s page in the history and the
    /// checks' records (~750 B beside the kernel's own). Events: an `open` is five reason calls
    /// (request, pool timer, answer) and its own messages, ~18.
    fn footprint(c: &Config, _topo: &Topology, load: &sim_core::cost::Load) -> sim_core::cost::Footprint {
        let w = &c.world;
        let (opens, applies, posts) =
            (load.of("open", Self::OP_KINDS), load.of("apply", Self::OP_KINDS), load.of("post", Self::OP_KINDS));
        let users = w.users.max(1) as f64;
        let jobs = w.jobs as f64 + posts;
        let apps = w.applications as f64 + applies;
        let per_user = apps / users;
        let pairs = users * per_user * per_user;
        let refresh_s = c.refresh.as_secs_f64().max(1e-3);
        sim_core::cost::Footprint {
            events: opens * 18.0 + (applies + posts) * 10.0 + load.run_s / refresh_s * REASONS as f64 * 2.0,
            queued: load.in_flight * 12.0 + c.online as f64,
            ..Default::default()
        }
        .part(format!("users: {users} x 1,370 B (6 replicas)", users = count(users)), users * 1370.0)
        .part(format!("jobs: {jobs} x 1,420 B (6 replicas, the entities' lists)", jobs = count(jobs)), jobs * 1420.0)
        .part(format!("applications: {apps} x 330 B (6 replicas)", apps = count(apps)), apps * 330.0)
        .part(
            format!("co-applied pairs: {users} users x {per_user:.1}^2 x 104 B (6 replicas)", users = count(users)),
            pairs * 104.0,
        )
        .part(
            format!("pages: {opens} opens x 750 B (the history's answer, the checks)", opens = count(opens)),
            opens * 750.0,
        )
        .part("the services' fixed parts: ~5.5 MB", 5.5e6)
    }

    fn factory(c: &Config, topo: &Topology, setup: &mut Prng) -> Box<dyn FnMut(NodeId) -> Node> {
        let tables = Tables::generate(&c.world, setup);
        let mut followers: Vec<Vec<u32>> = vec![Vec::new(); tables.users.len()];
        for (u, user) in tables.users.iter().enumerate() {
            for &f in &user.follows {
                followers[f as usize].push(u as u32);
            }
        }
        let followers = Rc::new(followers);
        let data = topo.servers[0];
        let reasons: Vec<NodeId> = topo.servers[1..FIXED_SERVERS].to_vec();
        let assemblers: Vec<NodeId> = topo.servers[FIXED_SERVERS..].to_vec();
        let c = c.clone();
        let topo = topo.clone();
        Box::new(move |n| {
            if let Some(i) = topo.clients.iter().position(|&x| x == n) {
                let mut calls = Calls::new();
                let a = calls.add("open_calls", &assemblers, c.call.clone(), Policy::RoundRobin, HealthSpec::default());
                let d = calls.add("write_calls", &[data], c.call.clone(), Policy::RoundRobin, HealthSpec::default());
                // Online users spread over the client nodes.
                let online = (0..c.online).map(|k| ((i as u32 * c.online + k) * 7919) % c.world.users).collect();
                return Node::Client(Box::new(Client {
                    calls,
                    assemblers: a,
                    data: d,
                    assembler_nodes: assemblers.clone(),
                    users: c.world.users,
                    recruiters: c.world.recruiters,
                    online,
                    pushed: Vec::new(),
                    polls: 0,
                }));
            }
            if n == data {
                return Node::Data(Box::new(DataServer {
                    initial_apps: tables.apps.len(),
                    initial_jobs: tables.jobs.len(),
                    tables: tables.clone(),
                    app_acked: Vec::new(),
                    job_acked: Vec::new(),
                    reasons: reasons.clone(),
                    assemblers: assemblers.clone(),
                }));
            }
            if let Some(i) = reasons.iter().position(|&x| x == n) {
                return Node::Reason(Box::new(ReasonServer {
                    reason: Reason::ALL[i],
                    tables: tables.clone(),
                    pool: Pool::new(REASON_SCOPES[i], c.reason_pool.clone()),
                    cache: Cache::new(c.cache.clone()),
                    caches: c.caches,
                    dirty: BTreeSet::new(),
                    cost: c.cost.clone(),
                    fetch: c.fetch as usize,
                    keep: c.keep as usize,
                    refresh: c.refresh,
                    stats: ReasonStats::default(),
                }));
            }
            let mut calls = Calls::new();
            let svc: [ServiceId; REASONS] = std::array::from_fn(|r| {
                calls.add(
                    CALL_SCOPES[r],
                    &[reasons[r]],
                    c.reason_call.clone(),
                    Policy::RoundRobin,
                    HealthSpec::default(),
                )
            });
            Node::Assembler(Box::new(Assembler {
                calls,
                reasons: svc,
                pages: BTreeMap::new(),
                next_page: 0,
                show: c.show as usize,
                dedup: c.dedup,
                call_ns: Default::default(),
                call_failed: [0; REASONS],
                followers: Rc::clone(&followers),
                waiting: BTreeMap::new(),
                mailbox: BTreeMap::new(),
                known: BTreeMap::new(),
                long_poll_timeout: c.long_poll_timeout,
            }))
        })
    }

    fn report(c: &Config, run: &RunView<'_, Node>) -> ModelReport {
        report(c, run)
    }
}

const REASON_SCOPES: [&str; REASONS] =
    ["followee_pool", "location_pool", "skills_pool", "co_applied_pool", "popularity_pool"];
const CALL_SCOPES: [&str; REASONS] =
    ["followee_calls", "location_calls", "skills_calls", "co_applied_calls", "popularity_calls"];

fn report(c: &Config, run: &RunView<'_, Node>) -> ModelReport {
    let mut r = ModelReport::default();
    let mut data_node: Option<&DataServer> = None;
    let mut reasons: Vec<&ReasonServer> = Vec::new();
    let mut assemblers: Vec<&Assembler> = Vec::new();
    for (_, node) in run.servers() {
        match node {
            Node::Data(d) => data_node = Some(d),
            Node::Reason(x) => reasons.push(x),
            Node::Assembler(a) => assemblers.push(a),
            Node::Client(_) => {}
        }
    }
    let mut pages: Vec<check::Page<'_>> = Vec::new();
    let mut open_ns: Vec<u64> = Vec::new();
    for h in run.history() {
        if h.kind != OPEN || h.invoke >= run.main_end {
            continue;
        }
        if let (Some(Outcome::Ok), Reply::Values(v)) = (h.outcome, &h.reply)
            && let Some(p) = check::Page::decode(h, v)
        {
            if let Some(done) = h.complete.get() {
                open_ns.push(done.since(h.invoke).as_nanos());
            }
            pages.push(p);
        }
    }
    r.checks.push(check::five_per_reason(&pages, check::PER_REASON));
    r.checks.push(check::no_duplicates(&pages));
    let (apps, initial, acked): (&[(u32, u32)], usize, &[Time]) = match data_node {
        Some(d) => (&d.tables.apps, d.initial_apps, &d.app_acked),
        None => (&[], 0, &[]),
    };
    let (fresh, mut f) = check::popularity_fresh(&pages, apps, initial, acked, c.fetch as usize, c.freshness_bound);
    r.checks.push(fresh);

    let m = &mut r.measures;
    let main_s = run.main_end.0.max(1) as f64 / 1e9;
    let n_pages = pages.len() as f64;
    let per = |x: f64, n: f64| if n > 0.0 { x / n } else { 0.0 };
    m.insert("pages".into(), n_pages);
    m.insert("opens_per_s".into(), n_pages / main_s);
    let shown: usize = pages.iter().map(|p| p.shown.len()).sum();
    m.insert("items_per_page_mean".into(), per(shown as f64, n_pages));
    open_ns.sort_unstable();
    m.insert("open_p99_ms".into(), percentile_ms(&open_ns, 0.99));
    f.staleness_ns.sort_unstable();
    m.insert("popularity_staleness_max_ms".into(), percentile_ms(&f.staleness_ns, 1.0));
    m.insert("popularity_staleness_p99_ms".into(), percentile_ms(&f.staleness_ns, 0.99));
    let calls: u64 = assemblers.iter().map(|a| a.call_ns.iter().map(|v| v.len() as u64).sum::<u64>()).sum::<u64>()
        + assemblers.iter().map(|a| a.call_failed.iter().sum::<u64>()).sum::<u64>();
    let asked_pages: u64 = assemblers.iter().map(|a| a.next_page).sum();
    m.insert("reason_calls_per_open".into(), per(calls as f64, asked_pages as f64));
    if let Some(d) = data_node {
        m.insert("jobs_posted".into(), d.job_acked.len() as f64);
        m.insert("applications_added".into(), d.app_acked.len() as f64);
        m.insert("frequent_pairs".into(), {
            let pairs: usize =
                d.tables.partners.iter().map(|p| p.values().filter(|&&n| n >= c.world.min_support).count()).sum();
            pairs as f64 / 2.0
        });
    }

    // The long-poll push: every job posted during the run to each online follower.
    let mut pushed: BTreeSet<(u32, u32)> = BTreeSet::new();
    let mut push_ns: Vec<u64> = Vec::new();
    let mut online: BTreeSet<u32> = BTreeSet::new();
    for &n in &run.topology().clients {
        if let Some(Node::Client(cl)) = run.sim.actor(n) {
            online.extend(cl.online.iter().copied());
            for &(u, j, at, arrived) in &cl.pushed {
                if pushed.insert((u, j)) {
                    push_ns.push(arrived.since(at).as_nanos());
                }
            }
        }
    }
    if let Some(d) = data_node {
        let mut expected = 0u64;
        for (k, _) in d.job_acked.iter().enumerate() {
            let job = &d.tables.jobs[d.initial_jobs + k];
            expected +=
                online.iter().filter(|&&u| d.tables.users[u as usize].follows.contains(&job.poster)).count() as u64;
        }
        m.insert("pushes_expected".into(), expected as f64);
    }
    push_ns.sort_unstable();
    m.insert("pushes_delivered".into(), pushed.len() as f64);
    m.insert("push_p50_ms".into(), percentile_ms(&push_ns, 0.5));
    m.insert("push_p99_ms".into(), percentile_ms(&push_ns, 0.99));

    // The model table: a row per reason.
    let mut rows = Vec::new();
    let mut cache_all = CacheStats::default();
    let mut pool_all = PoolStats::default();
    let mut cache_bytes = 0u64;
    for (i, reason) in Reason::ALL.iter().enumerate() {
        let mut ns: Vec<u64> = assemblers.iter().flat_map(|a| a.call_ns[i].iter().copied()).collect();
        ns.sort_unstable();
        let failed: u64 = assemblers.iter().map(|a| a.call_failed[i]).sum();
        let answered = pages.iter().filter(|p| p.candidates[i].is_some()).count() as f64;
        let items: usize = pages.iter().map(|p| p.count(i)).sum();
        let cands: u64 = pages.iter().filter_map(|p| p.candidates[i]).sum();
        let (hit, rows_per, bytes) = match reasons.iter().find(|x| x.reason == *reason) {
            Some(x) => {
                cache_all.add(&x.cache.stats);
                pool_all.add(&x.pool.stats);
                cache_bytes += x.cache.bytes();
                (x.cache.stats.hit_ratio(), per(x.stats.rows as f64, x.stats.requests as f64), x.cache.bytes() as f64)
            }
            None => (0.0, 0.0, 0.0),
        };
        m.insert(format!("{}_call_p99_ms", reason.name()), percentile_ms(&ns, 0.99));
        m.insert(format!("{}_items_mean", reason.name()), per(items as f64, n_pages));
        rows.push(vec![
            i as f64,
            answered,
            per(items as f64, n_pages),
            per(cands as f64, answered),
            hit,
            rows_per,
            percentile_ms(&ns, 0.99),
            failed as f64,
            bytes,
        ]);
    }
    m.insert("cache_hit_ratio".into(), cache_all.hit_ratio());
    m.insert("feed_cache_bytes".into(), cache_bytes as f64);
    m.insert("reason_rejected".into(), (pool_all.rejected + pool_all.dropped + pool_all.shed) as f64);
    let labels: Vec<&str> = Reason::ALL.iter().map(|x| x.name()).collect();
    r.tables.push(
        Table::new(
            "reasons",
            [
                "reason",
                "pages",
                "items_mean",
                "candidates_mean",
                "cache_hit_ratio",
                "rows_scanned_per_request",
                "call_p99_ms",
                "calls_failed",
                "cache_bytes",
            ],
            rows,
        )
        .bars("reason", &["call_p99_ms"], Axis::new("p99 of the reason's call", "ms"))
        .labels(&labels),
    );
    r
}

#[cfg(test)]
mod tests {
    use super::*;
    use sim_core::{Effect, IdSource, Stream};

    /// A long poll held at the assembler is answered by a followee's new job, and a job for a
    /// user between polls waits in the mailbox for the next poll.
    #[test]
    fn a_held_poll_is_answered_by_a_followees_job() {
        let mut node = Node::Assembler(Box::new(Assembler {
            calls: Calls::new(),
            reasons: [ServiceId(0); REASONS],
            pages: BTreeMap::new(),
            next_page: 0,
            show: 5,
            dedup: true,
            call_ns: Default::default(),
            call_failed: [0; REASONS],
            // User 1 follows poster 0.
            followers: Rc::new(vec![vec![1u32], vec![]]),
            waiting: BTreeMap::new(),
            mailbox: BTreeMap::new(),
            known: BTreeMap::new(),
            long_poll_timeout: Duration::from_secs(20),
        }));
        let (mut rng, mut ids, mut fx) = (Prng::new(1, Stream::Node(0)), IdSource::default(), Vec::new());
        let mut ctx = Ctx::detached(NodeId(0), Time(0), &mut rng, &mut ids, &[], &mut fx);
        node.on_msg(&mut ctx, NodeId(9), Msg::Poll { user: 1, poll: 1 });
        let row = data::JobRow { poster: 0, location: 0, skills: vec![0] };
        node.on_msg(&mut ctx, NodeId(0), Msg::NewJob { id: 7, row: row.clone(), at: Time(5) });
        // Between polls: the next job waits, and the next poll takes it at once.
        node.on_msg(&mut ctx, NodeId(0), Msg::NewJob { id: 8, row, at: Time(6) });
        node.on_msg(&mut ctx, NodeId(9), Msg::Poll { user: 1, poll: 2 });
        let pushed: Vec<(u64, Vec<(u32, Time)>)> = fx
            .iter()
            .filter_map(|e| match e {
                Effect::Send { to: NodeId(9), msg: Msg::Pushed { user: 1, poll, jobs } } => Some((*poll, jobs.clone())),
                _ => None,
            })
            .collect();
        assert_eq!(pushed, vec![(1, vec![(7, Time(5))]), (2, vec![(8, Time(6))])]);
    }
}
