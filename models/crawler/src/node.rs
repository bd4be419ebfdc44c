//! The actors: crawlers, the DNS resolver and the web hosts, one enum over the three roles.

use crate::bloom::{Bloom, UrlSet};
use crate::frontier::{Entry, Fifo, Frontier, Mercator};
use crate::web::{Health, Web};
use crate::{Config, FrontierKind, UrlDedup};
use sim_core::math;
use sim_core::{Actor, Ctx, Duration, Message, NodeId, Time, TimerId};
use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::rc::Rc;

#[derive(Clone, Debug)]
pub enum Msg {
    /// Crawler -> resolver: the address of `host`.
    Resolve {
        req: u64,
        host: u32,
    },
    Resolved {
        req: u64,
        ok: bool,
    },
    /// Crawler -> host: GET a page (`None`: robots.txt). `epoch` is the crawler's incarnation;
    /// `gives_up` the true time its fetch timeout fires (for the host's record, which the checks
    /// read: a request the crawler has given up on is no longer its request in flight).
    Fetch {
        req: u64,
        page: Option<u32>,
        epoch: u32,
        gives_up: Time,
    },
    /// Host -> crawler: the response (content is read from the shared web when `ok`).
    Response {
        req: u64,
        ok: bool,
        bytes: u32,
    },
    /// Crawler -> crawler: URLs found on pages, for the crawler that owns their hosts.
    Links {
        batch: u64,
        urls: Vec<(u32, u8)>,
    },
    LinksAck {
        batch: u64,
    },
}

impl Message for Msg {
    fn kind(&self) -> &'static str {
        match self {
            Msg::Resolve { .. } => "dns_query",
            Msg::Resolved { .. } => "dns_answer",
            Msg::Fetch { .. } => "fetch",
            Msg::Response { .. } => "page",
            Msg::Links { .. } => "links",
            Msg::LinksAck { .. } => "links_ack",
        }
    }
    fn size_bytes(&self) -> u64 {
        match self {
            Msg::Response { bytes, .. } => *bytes as u64 + 300,
            Msg::Links { urls, .. } => 64 + 8 * urls.len() as u64,
            _ => 128,
        }
    }
}

#[derive(Clone, Debug)]
pub enum Timer {
    /// Crawler: the frontier may have a host due.
    Wake,
    /// Crawler: a fetch job's current stage took too long.
    Timeout {
        job: u64,
        stage: u8,
    },
    ParseDone {
        url: u32,
        depth: u8,
    },
    /// Crawler: a failed URL's backoff is over.
    Retry {
        url: u32,
        depth: u8,
    },
    Retransmit {
        batch: u64,
    },
    Tick,
    /// Host / resolver: a request is served.
    Served {
        to: NodeId,
        req: u64,
        page: Option<u32>,
        epoch: u32,
    },
}

/// What a crawler writes to its disk; the frontier and the seen-set are rebuilt from it.
#[derive(Clone, Debug)]
pub enum Record {
    /// A new incarnation starts (its number is the count of these).
    Start,
    /// A URL entered the seen-set and the frontier.
    Seen {
        url: u32,
        depth: u8,
    },
    /// A page was fetched and waits for the parser.
    Fetched {
        url: u32,
    },
    /// A URL is finished (parsed, a duplicate, disallowed, or given up); `checksum` when its
    /// content was new and stored.
    Done {
        url: u32,
        checksum: Option<u64>,
    },
    /// Links for another crawler, kept until acknowledged.
    Outbox {
        batch: u64,
        to: u32,
        urls: Vec<(u32, u8)>,
    },
    Acked {
        batch: u64,
    },
}

pub enum Node {
    Crawler(Box<Crawler>),
    Dns(Dns),
    Host(Host),
}

impl Actor for Node {
    type Msg = Msg;
    type Timer = Timer;
    type Record = Record;

    fn on_start(&mut self, ctx: &mut Ctx<'_, Self>) {
        if let Node::Crawler(c) = self {
            c.on_start(ctx);
        }
    }
    fn on_msg(&mut self, ctx: &mut Ctx<'_, Self>, from: NodeId, msg: Msg) {
        match self {
            Node::Crawler(c) => c.on_msg(ctx, from, msg),
            Node::Dns(d) => d.on_msg(ctx, from, msg),
            Node::Host(h) => h.on_msg(ctx, from, msg),
        }
    }
    fn on_timer(&mut self, ctx: &mut Ctx<'_, Self>, timer: Timer) {
        match self {
            Node::Crawler(c) => c.on_timer(ctx, timer),
            Node::Dns(d) => d.on_timer(ctx, timer),
            Node::Host(h) => h.on_timer(ctx, timer),
        }
    }
}

// ----- the resolver -----

/// A DNS resolver in front of a slow, occasionally failing upstream with bounded concurrency.
pub struct Dns {
    pub cfg: Rc<Config>,
    busy: u32,
    queue: VecDeque<(NodeId, u64)>,
}

impl Dns {
    pub fn new(cfg: Rc<Config>) -> Dns {
        Dns { cfg, busy: 0, queue: VecDeque::new() }
    }
    fn on_msg(&mut self, ctx: &mut Ctx<'_, Node>, from: NodeId, msg: Msg) {
        if let Msg::Resolve { req, .. } = msg {
            self.queue.push_back((from, req));
            self.start(ctx);
        }
    }
    fn start(&mut self, ctx: &mut Ctx<'_, Node>) {
        while self.busy < self.cfg.dns.concurrency {
            let Some((to, req)) = self.queue.pop_front() else { return };
            self.busy += 1;
            let d = self.cfg.dns.latency.sample(ctx.rng());
            ctx.set_timer(d, Timer::Served { to, req, page: None, epoch: 0 });
        }
        ctx.gauge("dns_queue", self.queue.len() as f64);
    }
    fn on_timer(&mut self, ctx: &mut Ctx<'_, Node>, timer: Timer) {
        if let Timer::Served { to, req, .. } = timer {
            self.busy -= 1;
            let ok = !ctx.rng().chance(self.cfg.dns.failure);
            ctx.send(to, Msg::Resolved { req, ok });
            self.start(ctx);
        }
    }
}

// ----- a web host -----

/// One request a host served successfully: for the duplicate and coverage checks.
#[derive(Clone, Copy, Debug)]
pub struct Serve {
    pub page: u32,
    pub crawler: NodeId,
    pub epoch: u32,
    pub at: Time,
    /// Served after the crawler's fetch timeout had fired: the crawler never took this answer
    /// and fetches the page again (a host that stalled past the timeout).
    pub late: bool,
}

/// What a web host saw and served: the checks' record of the crawl. The world's record, not the
/// host's memory: every incarnation of a host writes to the same one (the factory hands each the
/// whole [`HostLedger`]), so a host that crashes does not take back the pages it served or the
/// impolite requests it saw (they were the checks' input: a crashed host's serves went missing,
/// and `coverage` counted its pages as never fetched).
#[derive(Debug, Default)]
pub struct HostRecord {
    pub violations_concurrent: u64,
    /// Requests that arrived while the host still held only requests their crawlers had given up
    /// on (it stalled past the fetch timeout): no request of a crawler's was in flight beside them.
    pub after_given_up: u64,
    pub violations_gap: u64,
    pub violations_robots: u64,
    /// Requests that broke at least one rule (a request can break two: counted once here).
    pub impolite_requests: u64,
    pub requests: u64,
    pub serves: Vec<Serve>,
}

impl HostRecord {
    pub fn violations(&self) -> u64 {
        self.violations_concurrent + self.violations_gap + self.violations_robots
    }
}

/// Every host's record, by host index.
pub type HostLedger = Rc<[RefCell<HostRecord>]>;

/// A web server: serves with its latency and capacity, and counts politeness violations as it sees
/// them: a request while another is in service or queued, a request sooner than its crawl delay
/// after its last response, a request for a disallowed page.
pub struct Host {
    pub web: Rc<Web>,
    pub host: u32,
    queue: VecDeque<(NodeId, u64, Option<u32>, u32, Time)>,
    /// The requests in service (as many as its capacity): `(crawler, request, when the crawler
    /// gives up on it)`.
    in_service: Vec<(NodeId, u64, Time)>,
    /// The last response to a request its crawler still waited for.
    last_done: Option<Time>,
    /// Every host's record; this host writes its own.
    pub ledger: HostLedger,
}

impl Host {
    pub fn new(web: Rc<Web>, host: u32, ledger: HostLedger) -> Host {
        Host { web, host, queue: VecDeque::new(), in_service: Vec::new(), last_done: None, ledger }
    }
    fn record(&self) -> std::cell::RefMut<'_, HostRecord> {
        self.ledger[self.host as usize].borrow_mut()
    }
    fn on_msg(&mut self, ctx: &mut Ctx<'_, Node>, from: NodeId, msg: Msg) {
        let Msg::Fetch { req, page, epoch, gives_up } = msg else { return };
        let h = &self.web.hosts[self.host as usize];
        if h.health == Health::Hung {
            return; // accepts the connection and never answers
        }
        // The host is the politeness check's instrument: it judges in true time, not by its clock.
        // Only requests their crawlers still wait for count as in flight beside this one: a host
        // stalled past the fetch timeout (a pause) serves requests already given up on.
        let now = ctx.ledger_time();
        let held = !self.in_service.is_empty() || !self.queue.is_empty();
        let concurrent = self.in_service.iter().map(|s| s.2).chain(self.queue.iter().map(|q| q.4)).any(|t| t > now);
        let gap = !concurrent && self.last_done.is_some_and(|t| now < t + h.crawl_delay);
        let robots = page.is_some_and(|p| h.disallows(p));
        let mut r = self.record();
        r.requests += 1;
        r.after_given_up += (held && !concurrent) as u64;
        r.violations_concurrent += concurrent as u64;
        r.violations_gap += gap as u64;
        r.violations_robots += robots as u64;
        r.impolite_requests += (concurrent || gap || robots) as u64;
        drop(r);
        self.queue.push_back((from, req, page, epoch, gives_up));
        self.start(ctx);
    }
    fn start(&mut self, ctx: &mut Ctx<'_, Node>) {
        let h = &self.web.hosts[self.host as usize];
        while self.in_service.len() < h.capacity as usize {
            let Some((to, req, page, epoch, gives_up)) = self.queue.pop_front() else { return };
            self.in_service.push((to, req, gives_up));
            let d = if h.health == Health::Dead {
                Duration::from_millis(1)
            } else {
                let x = h.latency_median.0 as f64 * math::exp(self.web.latency_sigma * ctx.rng().std_normal());
                Duration((x as u64).clamp(1, self.web.latency_max.0))
            };
            ctx.set_timer(d, Timer::Served { to, req, page, epoch });
        }
    }
    fn on_timer(&mut self, ctx: &mut Ctx<'_, Node>, timer: Timer) {
        let Timer::Served { to, req, page, epoch } = timer else { return };
        let now = ctx.ledger_time();
        let i = self.in_service.iter().position(|s| (s.0, s.1) == (to, req)).expect("in service");
        let late = self.in_service.swap_remove(i).2 <= now;
        if !late {
            self.last_done = Some(now);
        }
        let h = &self.web.hosts[self.host as usize];
        let ok = match h.health {
            Health::Dead | Health::Hung => false,
            Health::Flaky => !ctx.rng().chance(self.web.flaky_failure),
            Health::Healthy => true,
        };
        let bytes = match page {
            Some(p) if ok => {
                self.record().serves.push(Serve { page: p, crawler: to, epoch, at: now, late });
                self.web.pages[p as usize].bytes
            }
            _ => 200,
        };
        ctx.send(to, Msg::Response { req, ok, bytes });
        self.start(ctx);
    }
}

// ----- a crawler -----

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum JobKind {
    Robots,
    Page,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Stage {
    Dns = 0,
    Fetch = 1,
}

#[derive(Clone, Debug)]
struct Job {
    entry: Entry,
    kind: JobKind,
    stage: Stage,
    timer: TimerId,
    started: Time,
}

#[derive(Clone, Debug, Default)]
struct HostInfo {
    /// robots.txt, once fetched: (crawl delay, first disallowed local index).
    robots: Option<(Duration, u32)>,
    successes: u32,
    dead: bool,
}

macro_rules! per_crawler {
    ($p:literal) => {
        [
            concat!($p, ".c00"),
            concat!($p, ".c01"),
            concat!($p, ".c02"),
            concat!($p, ".c03"),
            concat!($p, ".c04"),
            concat!($p, ".c05"),
            concat!($p, ".c06"),
            concat!($p, ".c07"),
            concat!($p, ".c08"),
            concat!($p, ".c09"),
            concat!($p, ".c10"),
            concat!($p, ".c11"),
            concat!($p, ".c12"),
            concat!($p, ".c13"),
            concat!($p, ".c14"),
            concat!($p, ".c15"),
            concat!($p, ".c16"),
            concat!($p, ".c17"),
            concat!($p, ".c18"),
            concat!($p, ".c19"),
            concat!($p, ".c20"),
            concat!($p, ".c21"),
            concat!($p, ".c22"),
            concat!($p, ".c23"),
            concat!($p, ".c24"),
            concat!($p, ".c25"),
            concat!($p, ".c26"),
            concat!($p, ".c27"),
            concat!($p, ".c28"),
            concat!($p, ".c29"),
            concat!($p, ".c30"),
            concat!($p, ".c31"),
        ]
    };
}
/// Gauge names per crawler (the kernel's gauge names are static); crawlers past 32 share none.
const PAGES_GAUGES: [&str; 32] = per_crawler!("pages_per_s");
const FRONTIER_GAUGES: [&str; 32] = per_crawler!("frontier_size");

pub struct Crawler {
    cfg: Rc<Config>,
    web: Rc<Web>,
    /// This crawler's index (0..crawlers); node ids of crawlers are their indexes.
    me: u32,
    epoch: u32,
    frontier: Frontier,
    seen: UrlSet,
    content_seen: BTreeSet<u64>,
    dns_cache: BTreeSet<u32>,
    hosts: BTreeMap<u32, HostInfo>,
    attempts: BTreeMap<u32, u32>,
    jobs: BTreeMap<u64, Job>,
    next_job: u64,
    parse_queue: VecDeque<(u32, u8)>,
    parsing: u32,
    outbox: BTreeMap<u64, (u32, Vec<(u32, u8)>)>,
    next_batch: u64,
    /// After a restart, no host is contacted before this (a request of the previous incarnation
    /// may still be in service).
    not_before: Time,
    wake: Option<(Time, TimerId)>,
    pages_this_tick: u64,
    /// Fetch latencies (DNS + fetch) of successful page fetches of this incarnation, in ns.
    pub fetch_latency_ns: Vec<u64>,
    /// Page fetches of this incarnation that timed out, by page: the request may have been
    /// served and its answer lost (a partition), so the retry may fetch the page again (for the
    /// checks; the crawler does not read it).
    pub fetch_timeouts: BTreeMap<u32, u32>,
}

impl Crawler {
    /// This incarnation's epoch (its count of restarts), as its fetches carry it.
    pub fn epoch(&self) -> u32 {
        self.epoch
    }

    pub fn new(cfg: Rc<Config>, web: Rc<Web>, me: u32) -> Crawler {
        let frontier = match cfg.frontier {
            FrontierKind::Mercator => Frontier::Mercator(Mercator::new(cfg.front_queues as usize, cfg.back_queues())),
            FrontierKind::Fifo => Frontier::Fifo(Fifo::default()),
        };
        let seen = match cfg.url_dedup {
            UrlDedup::Exact => UrlSet::Exact(BTreeSet::new()),
            UrlDedup::Bloom { bits, hashes } => UrlSet::Bloom(Bloom::new(bits, hashes)),
            UrlDedup::None => UrlSet::None,
        };
        Crawler {
            cfg,
            web,
            me,
            epoch: 0,
            frontier,
            seen,
            content_seen: BTreeSet::new(),
            dns_cache: BTreeSet::new(),
            hosts: BTreeMap::new(),
            attempts: BTreeMap::new(),
            jobs: BTreeMap::new(),
            next_job: 0,
            parse_queue: VecDeque::new(),
            parsing: 0,
            outbox: BTreeMap::new(),
            next_batch: 0,
            not_before: Time::ZERO,
            wake: None,
            pages_this_tick: 0,
            fetch_latency_ns: Vec::new(),
            fetch_timeouts: BTreeMap::new(),
        }
    }

    fn dns_node(&self) -> NodeId {
        NodeId(self.cfg.crawlers)
    }
    fn host_node(&self, host: u32) -> NodeId {
        NodeId(self.cfg.crawlers + 1 + host)
    }

    fn on_start(&mut self, ctx: &mut Ctx<'_, Node>) {
        self.epoch = ctx.durable().iter().filter(|r| matches!(r, Record::Start)).count() as u32;
        ctx.persist_buffered(Record::Start);
        if ctx.is_restart() && self.cfg.persist_frontier {
            self.recover(ctx);
        } else {
            if ctx.is_restart() {
                ctx.count("crawler_restarts", 1);
                self.not_before = ctx.now() + self.cfg.restart_quiet;
            }
            for &s in &self.web.clone().seeds {
                if Web::owner(self.web.host_of(s), self.cfg.crawlers) == self.me {
                    self.add_url(ctx, s, 0);
                }
            }
        }
        ctx.set_timer(self.cfg.tick, Timer::Tick);
        self.pump(ctx);
    }

    /// Rebuilds the seen-set, the frontier, the parse queue, the content checksums and the outbox
    /// from the durable log.
    fn recover(&mut self, ctx: &mut Ctx<'_, Node>) {
        ctx.count("crawler_restarts", 1);
        let mut fetched = BTreeSet::new();
        let mut done = BTreeSet::new();
        let mut seen_order = Vec::new();
        let mut acked = BTreeSet::new();
        let mut outbox = Vec::new();
        for r in ctx.durable() {
            match r {
                Record::Start => {}
                Record::Seen { url, depth } => seen_order.push((*url, *depth)),
                Record::Fetched { url } => {
                    fetched.insert(*url);
                }
                Record::Done { url, checksum } => {
                    done.insert(*url);
                    if let Some(c) = checksum {
                        self.content_seen.insert(*c);
                    }
                }
                Record::Outbox { batch, to, urls } => outbox.push((*batch, *to, urls.clone())),
                Record::Acked { batch } => {
                    acked.insert(*batch);
                }
            }
        }
        let mut depth_of = BTreeMap::new();
        for &(url, depth) in &seen_order {
            self.seen.insert(url);
            depth_of.entry(url).or_insert(depth);
            if !fetched.contains(&url) && !done.contains(&url) {
                let host = self.web.host_of(url);
                self.frontier.push(Entry { url, host, depth });
            }
        }
        // With dedup off the log may name a URL many times: each copy counts once per record.
        for &url in &fetched {
            if !done.contains(&url) {
                self.parse_queue.push_back((url, depth_of.get(&url).copied().unwrap_or(0)));
            }
        }
        for (batch, to, urls) in outbox {
            if !acked.contains(&batch) {
                ctx.send(NodeId(to), Msg::Links { batch, urls: urls.clone() });
                ctx.set_timer(self.cfg.link_retransmit, Timer::Retransmit { batch });
                self.outbox.insert(batch, (to, urls));
            }
        }
        self.not_before = ctx.now() + self.cfg.restart_quiet;
        self.start_parsers(ctx);
    }

    fn add_url(&mut self, ctx: &mut Ctx<'_, Node>, url: u32, depth: u8) {
        if !self.seen.insert(url) {
            ctx.count("url_dedup_hits", 1);
            return;
        }
        ctx.count("urls_seen", 1);
        ctx.persist_buffered(Record::Seen { url, depth });
        let host = self.web.host_of(url);
        self.frontier.push(Entry { url, host, depth });
    }

    /// Starts fetch jobs while fetchers are free and the parse queue has room.
    fn pump(&mut self, ctx: &mut Ctx<'_, Node>) {
        let now = ctx.now();
        if now < self.not_before {
            self.wake_at(ctx, self.not_before);
            return;
        }
        while self.jobs.len() < self.cfg.fetchers as usize
            && self.parse_queue.len() + (self.parsing as usize) < self.cfg.parse_queue_max as usize
        {
            let Some(e) = self.frontier.pop(now) else { break };
            self.start_job(ctx, e);
        }
        if self.jobs.len() < self.cfg.fetchers as usize
            && let Some(t) = self.frontier.next_time()
            && t > now
        {
            self.wake_at(ctx, t);
        }
    }

    fn wake_at(&mut self, ctx: &mut Ctx<'_, Node>, t: Time) {
        if let Some((w, id)) = self.wake {
            if w <= t {
                return;
            }
            ctx.cancel_timer(id);
        }
        let id = ctx.set_timer(t - ctx.now(), Timer::Wake);
        self.wake = Some((t, id));
    }

    fn start_job(&mut self, ctx: &mut Ctx<'_, Node>, e: Entry) {
        let now = ctx.now();
        let info = self.hosts.entry(e.host).or_default().clone();
        if info.dead {
            ctx.count("urls_abandoned_dead_host", 1);
            ctx.persist_buffered(Record::Done { url: e.url, checksum: None });
            self.frontier.release(e.host, now, None);
            return;
        }
        let kind = match info.robots {
            None => JobKind::Robots,
            Some((_, disallow_from)) => {
                if e.url - self.web.hosts[e.host as usize].first_page >= disallow_from {
                    ctx.count("robots_disallowed", 1);
                    ctx.persist_buffered(Record::Done { url: e.url, checksum: None });
                    self.frontier.release(e.host, now, None);
                    return;
                }
                JobKind::Page
            }
        };
        let id = self.next_job;
        self.next_job += 1;
        let cached = self.cfg.dns_cache && self.dns_cache.contains(&e.host);
        let stage = if cached {
            ctx.count("dns_cache_hits", 1);
            self.send_fetch(ctx, id, e, kind);
            Stage::Fetch
        } else {
            ctx.count("dns_lookups", 1);
            ctx.send(self.dns_node(), Msg::Resolve { req: id, host: e.host });
            Stage::Dns
        };
        let timeout = if stage == Stage::Dns { self.cfg.dns_timeout } else { self.cfg.fetch_timeout };
        let timer = ctx.set_timer(timeout, Timer::Timeout { job: id, stage: stage as u8 });
        self.jobs.insert(id, Job { entry: e, kind, stage, timer, started: now });
    }

    fn send_fetch(&mut self, ctx: &mut Ctx<'_, Node>, id: u64, e: Entry, kind: JobKind) {
        let page = if kind == JobKind::Page { Some(e.url) } else { None };
        let gives_up = ctx.ledger_time() + self.cfg.fetch_timeout;
        ctx.send(self.host_node(e.host), Msg::Fetch { req: id, page, epoch: self.epoch, gives_up });
    }

    fn on_msg(&mut self, ctx: &mut Ctx<'_, Node>, from: NodeId, msg: Msg) {
        match msg {
            Msg::Resolved { req, ok } => {
                let Some(job) = self.jobs.get_mut(&req) else { return };
                if job.stage != Stage::Dns {
                    return;
                }
                ctx.cancel_timer(job.timer);
                if !ok {
                    ctx.count("dns_failures", 1);
                    self.fail_job(ctx, req);
                } else {
                    let (e, kind) = (job.entry, job.kind);
                    job.stage = Stage::Fetch;
                    job.timer = ctx.set_timer(self.cfg.fetch_timeout, Timer::Timeout { job: req, stage: 1 });
                    if self.cfg.dns_cache {
                        self.dns_cache.insert(e.host);
                    }
                    self.send_fetch(ctx, req, e, kind);
                }
            }
            Msg::Response { req, ok, .. } => {
                let Some(job) = self.jobs.get(&req) else { return };
                if job.stage != Stage::Fetch {
                    return;
                }
                ctx.cancel_timer(job.timer);
                if ok {
                    self.finish_job(ctx, req);
                } else {
                    ctx.count("fetch_errors", 1);
                    self.fail_job(ctx, req);
                }
            }
            Msg::Links { batch, urls } => {
                for (url, depth) in urls {
                    self.add_url(ctx, url, depth);
                }
                ctx.send(from, Msg::LinksAck { batch });
            }
            Msg::LinksAck { batch } => {
                if self.outbox.remove(&batch).is_some() {
                    ctx.persist_buffered(Record::Acked { batch });
                }
            }
            Msg::Resolve { .. } | Msg::Fetch { .. } => {}
        }
        self.pump(ctx);
    }

    fn finish_job(&mut self, ctx: &mut Ctx<'_, Node>, id: u64) {
        let job = self.jobs.remove(&id).expect("job exists");
        let now = ctx.now();
        let e = job.entry;
        let info = self.hosts.entry(e.host).or_default();
        info.successes += 1;
        match job.kind {
            JobKind::Robots => {
                let h = &self.web.hosts[e.host as usize];
                info.robots = Some((h.crawl_delay, h.disallow_from));
                ctx.count("robots_fetched", 1);
                self.frontier.release(e.host, now + h.crawl_delay, Some(e));
            }
            JobKind::Page => {
                let delay = info.robots.map(|r| r.0).unwrap_or(self.cfg.default_crawl_delay);
                self.attempts.remove(&e.url);
                self.fetch_latency_ns.push((now - job.started).0);
                ctx.count("pages_fetched", 1);
                self.pages_this_tick += 1;
                ctx.persist_buffered(Record::Fetched { url: e.url });
                self.parse_queue.push_back((e.url, e.depth));
                self.frontier.release(e.host, now + delay, None);
                self.start_parsers(ctx);
            }
        }
    }

    /// A failed attempt: retry after 1, 2, 4, 8 s (`backoff_base` doubling), then give up.
    fn fail_job(&mut self, ctx: &mut Ctx<'_, Node>, id: u64) {
        let job = self.jobs.remove(&id).expect("job exists");
        let now = ctx.now();
        let e = job.entry;
        let n = self.attempts.entry(e.url).or_insert(0);
        *n += 1;
        let attempt = *n;
        let info = self.hosts.entry(e.host).or_default();
        let delay = info.robots.map(|r| r.0).unwrap_or(self.cfg.default_crawl_delay);
        if attempt >= self.cfg.max_attempts {
            self.attempts.remove(&e.url);
            ctx.count("urls_given_up", 1);
            if info.successes == 0 {
                // The first URL of a host exhausted its retries without one success: the host is
                // down; its other URLs are dropped without a fetch.
                info.dead = true;
                ctx.count("hosts_given_up", 1);
            }
            ctx.persist_buffered(Record::Done { url: e.url, checksum: None });
            self.frontier.release(e.host, now + delay, None);
        } else {
            // The URL waits out its backoff; the host goes on with its other URLs after the delay.
            ctx.count("fetch_retries", 1);
            let backoff = self.cfg.backoff_base.saturating_mul(1 << (attempt - 1).min(16));
            self.frontier.release(e.host, now + delay, None);
            ctx.set_timer(backoff, Timer::Retry { url: e.url, depth: e.depth });
        }
    }

    fn start_parsers(&mut self, ctx: &mut Ctx<'_, Node>) {
        while self.parsing < self.cfg.parsers {
            let Some((url, depth)) = self.parse_queue.pop_front() else { break };
            self.parsing += 1;
            let d = self.cfg.parse_time.sample(ctx.rng());
            ctx.set_timer(d, Timer::ParseDone { url, depth });
        }
    }

    /// Parse: drop duplicate content (checksum seen), store the text, route the links.
    fn on_parsed(&mut self, ctx: &mut Ctx<'_, Node>, url: u32, depth: u8) {
        self.parsing -= 1;
        let web = self.web.clone();
        let page = &web.pages[url as usize];
        if !self.content_seen.insert(page.checksum) {
            ctx.count("duplicate_content", 1);
            ctx.persist_buffered(Record::Done { url, checksum: None });
        } else {
            let text = (page.bytes as f64 * self.web.text_share) as u64;
            ctx.count("text_bytes_stored", text);
            ctx.count("pages_stored", 1);
            let mut remote: BTreeMap<u32, Vec<(u32, u8)>> = BTreeMap::new();
            let d = depth.saturating_add(1);
            for &l in &page.links {
                let owner = Web::owner(web.host_of(l), self.cfg.crawlers);
                if owner == self.me {
                    self.add_url(ctx, l, d);
                } else {
                    remote.entry(owner).or_default().push((l, d));
                }
            }
            for (to, urls) in remote {
                let batch = ((self.epoch as u64) << 40) | self.next_batch;
                self.next_batch += 1;
                ctx.persist_buffered(Record::Outbox { batch, to, urls: urls.clone() });
                ctx.send(NodeId(to), Msg::Links { batch, urls: urls.clone() });
                ctx.set_timer(self.cfg.link_retransmit, Timer::Retransmit { batch });
                self.outbox.insert(batch, (to, urls));
            }
            ctx.persist_buffered(Record::Done { url, checksum: Some(page.checksum) });
        }
        self.start_parsers(ctx);
    }

    fn on_timer(&mut self, ctx: &mut Ctx<'_, Node>, timer: Timer) {
        match timer {
            Timer::Wake => self.wake = None,
            Timer::Timeout { job, stage } => {
                if let Some(j) = self.jobs.get(&job).filter(|j| j.stage as u8 == stage) {
                    if j.stage == Stage::Fetch && j.kind == JobKind::Page {
                        *self.fetch_timeouts.entry(j.entry.url).or_default() += 1;
                    }
                    ctx.count(if stage == 0 { "dns_timeouts" } else { "fetch_timeouts" }, 1);
                    self.fail_job(ctx, job);
                }
            }
            Timer::ParseDone { url, depth } => self.on_parsed(ctx, url, depth),
            Timer::Retry { url, depth } => {
                let host = self.web.host_of(url);
                self.frontier.push(Entry { url, host, depth });
            }
            Timer::Retransmit { batch } => {
                if let Some((to, urls)) = self.outbox.get(&batch) {
                    ctx.count("links_resent", 1);
                    ctx.send(NodeId(*to), Msg::Links { batch, urls: urls.clone() });
                    ctx.set_timer(self.cfg.link_retransmit, Timer::Retransmit { batch });
                }
            }
            Timer::Tick => {
                let i = self.me as usize;
                if i < PAGES_GAUGES.len() {
                    let rate = self.pages_this_tick as f64 / self.cfg.tick.as_secs_f64();
                    ctx.gauge(PAGES_GAUGES[i], rate);
                    ctx.gauge(FRONTIER_GAUGES[i], self.frontier.len() as f64);
                }
                self.pages_this_tick = 0;
                ctx.set_timer(self.cfg.tick, Timer::Tick);
            }
            Timer::Served { .. } => {}
        }
        self.pump(ctx);
    }

    /// The URLs this incarnation still holds for a later fetch: in the frontier, in a fetch job,
    /// waiting out a retry's backoff, or in a link batch not yet acknowledged by its owner.
    pub fn held_urls(&self) -> impl Iterator<Item = u32> + '_ {
        let jobs = self.jobs.values().map(|j| j.entry.url);
        let outbox = self.outbox.values().flat_map(|(_, urls)| urls.iter().map(|&(u, _)| u));
        self.frontier.urls().chain(jobs).chain(self.attempts.keys().copied()).chain(outbox)
    }

    pub fn frontier_len(&self) -> usize {
        self.frontier.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sim_core::actor::Effect;
    use sim_core::rng::Stream;
    use sim_core::{IdSource, Prng};

    fn crawler() -> (Crawler, Rc<Web>) {
        let cfg = Config { crawlers: 1, hosts: 20, ..Config::default() };
        let web = Rc::new(Web::generate(&cfg.web, cfg.hosts, &mut Prng::new(1, Stream::Setup)));
        (Crawler::new(Rc::new(cfg), web.clone(), 0), web)
    }

    #[test]
    fn recovery_rebuilds_frontier_parse_queue_and_outbox_from_the_log() {
        let (mut c, web) = crawler();
        let host_page = |h: usize, i: u32| web.hosts[h].first_page + i;
        let (a, b, d, e) = (host_page(0, 0), host_page(1, 0), host_page(2, 0), host_page(3, 0));
        let log = vec![
            Record::Start,
            Record::Seen { url: a, depth: 0 },
            Record::Seen { url: b, depth: 1 },
            Record::Seen { url: d, depth: 1 },
            Record::Seen { url: e, depth: 2 },
            Record::Fetched { url: a },
            Record::Done { url: a, checksum: Some(42) },
            Record::Fetched { url: b },
            Record::Outbox { batch: 7, to: 5, urls: vec![(9, 1)] },
            Record::Outbox { batch: 8, to: 6, urls: vec![(10, 1)] },
            Record::Acked { batch: 7 },
        ];
        let (mut rng, mut ids, mut fx) = (Prng::new(1, Stream::Node(0)), IdSource::default(), Vec::new());
        let mut ctx = Ctx::detached(NodeId(0), Time(5_000_000_000), &mut rng, &mut ids, &log, &mut fx);
        c.recover(&mut ctx);
        // d and e were queued and never fetched: back in the frontier. b was fetched, not parsed.
        assert_eq!(c.frontier.len(), 2);
        assert_eq!(c.parse_queue.len() + c.parsing as usize, 1);
        assert!(c.content_seen.contains(&42));
        // Every logged URL is still "seen": finding a link to it again queues nothing.
        for url in [a, b, d, e] {
            assert!(!c.seen.insert(url), "url {url} forgotten");
        }
        // The unacknowledged batch is sent again, the acknowledged one is not.
        let resent: Vec<u64> = fx
            .iter()
            .filter_map(|x| match x {
                Effect::Send { msg: Msg::Links { batch, .. }, .. } => Some(*batch),
                _ => None,
            })
            .collect();
        assert_eq!(resent, vec![8]);
        // No host is contacted during the quiet period after a restart.
        assert_eq!(c.not_before, Time(5_000_000_000) + c.cfg.restart_quiet);
    }
}
