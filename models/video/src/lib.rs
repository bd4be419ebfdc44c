//! # video: upload and streaming (YouTube / Netflix, system V of the notes)
//!
//! The notes' design (3-7): a client cuts a video into chunks, gets a presigned URL from the
//! video service and uploads the chunks *directly* to object storage (S3); the upload is
//! resumable ("MD5 + BitMap": the store keeps which chunks arrived and their MD5s, and a client
//! whose connection dropped asks which chunks are missing and sends only those). A finished
//! upload is an event on a queue (Kafka); processing workers transcode it into several bitrates;
//! the metadata (Cassandra, sharded by video id, with a cache in front) says when a video is
//! ready. A viewer downloads the manifest (which bitrates, how many segments), then the segments
//! from a CDN that falls back to the origin, choosing each segment's bitrate from the bandwidth it
//! measured (adaptive bitrate) against a client buffer. Scale: 1M uploads and 100M views a day,
//! files of tens of GB; run here scaled down with the ratio of views to uploads kept.
//!
//! ## Built from the parts
//!
//! Servers in id order: a control node (the queue's coordinator, [`parts::log::Coordinator`],
//! and the workers' autoscaler, [`parts::workers::Scaler`]), `brokers` brokers
//! ([`parts::log::Broker`]), `api_servers` video-service nodes (a [`parts::kv::KvClient`] and a
//! metadata [`parts::cache::ReadPath`]), the metadata store's `kv.shards x kv.replicas` nodes
//! ([`parts::kv::KvServer`], hash-sharded by video id), the object store (one node: chunks,
//! renditions, and the CDN's origin behind a [`parts::pool::Pool`]; it produces the upload events
//! with a [`parts::log::Producer`]), `pops` CDN points of presence ([`parts::cdn::CacheTier`]
//! over the object store), and the transcoding workers (every server left: the autoscaling
//! group's ceiling; each a [`parts::workers::Worker`] and a [`parts::log::Consumer`]). Clients are
//! uploaders and viewers: every request a client makes goes through one [`parts::calls::Calls`]
//! (timeouts, retries, backoff), including segment requests to the PoPs and to the origin.
//! Transport: `Connection` (HTTP and RPC over TCP).
//!
//! ## Upload
//!
//! An `upload` operation creates a video (`UPLOAD_BASE + op.value`) of `upload.chunks` chunks of
//! `upload.chunk_bytes`. The client asks the video service for an upload URL (the service creates
//! the video's metadata row, `UPLOADING`, if it does not exist: a later session of the same video
//! never turns a `READY` row back; and signs a token over the video and the upload
//! session; the store checks the signature, so only the service can grant uploads). The client's
//! uplink is modelled by the client: its bandwidth is drawn per upload from
//! `upload.uplink_mbps`, chunks go out one after another, each taking `chunk_bytes / bandwidth`,
//! and a chunk is sent to the store when its last byte is out. The link is **flaky**: it drops
//! after a time drawn from `upload.drop_every` (through the client's random stream), losing the
//! chunk in transit and the acknowledgements still on their way, and comes back after
//! `upload.reconnect`. Then a **resumable** client asks the store for its bitmap and sends only the
//! missing chunks; a **non-resumable** one (`upload.resumable: false`, the known-bad design)
//! starts a new upload session that replaces the partial upload and sends every chunk again,
//! giving up after `upload.max_restarts` restarts. When the store holds every chunk of the
//! current session it produces one queue record per bitrate (key: the video and bitrate).
//!
//! ## Processing
//!
//! A worker takes a record, transcodes (the worker's service time), writes the rendition to the
//! store, and, when the store reports every rendition present, writes the metadata row `READY`;
//! only then is the record done (its offset may be committed). The queue delivers at least once
//! (a worker crash or a rebalance redelivers what was not committed; a producer retry can append
//! a record twice), so the rendition write is conditional (`if absent`, S3's `If-None-Match`):
//! a redelivered record finds its rendition there and only finishes the metadata. With
//! `idempotent: false` the write overwrites, and a redelivery transcodes and commits a rendition a
//! second time (counted).
//!
//! ## Streaming
//!
//! A `view` operation plays a catalog video (`op.key`, Zipf-popular; the catalog's renditions and
//! `READY` rows exist from the start). The viewer asks the video service for the manifest (the
//! service reads the metadata row through its cache), then fetches segments from its PoP (by
//! consistent hashing on the segment); a failed PoP request falls back to the origin (the object
//! store). Each segment's bytes cross the viewer's downlink, whose bandwidth is drawn per session
//! from `playback.bandwidth_mbps` with a per-segment lognormal jitter. The player keeps up to
//! `playback.max_buffer` of video, picks each segment's bitrate with `playback.abr`, and stalls
//! (rebuffers) when the buffer runs dry; the operation ends when the last segment is in.
//!
//! ## Checks
//!
//! - `uploads_complete` (progress): every upload invoked in the main phase completed.
//! - `resume_sends_only_missing`: every interrupted upload that ended sent again no chunk the
//!   store already had (the store counts receipts of chunks it had received before, by the MD5
//!   bitmap), and its bytes resent (bytes sent beyond one copy of each chunk) stay within one
//!   chunk per drop (the chunk in transit).
//! - `processed_exactly_once`: every video whose upload completed has each bitrate committed by
//!   the store exactly once, and its metadata row says `READY`.
//! - `rebuffering`: the p99 over playback sessions of the stall ratio (stall time over the
//!   video's length) is at most `stall_ratio_p99_max`.
//!
//! ## Simplified
//!
//! The object store is one node, always up in these scenarios (S3's durability is assumed, not
//! modelled: it keeps its state in memory). Payloads are not modelled, so an MD5 never mismatches:
//! it marks which chunk the store holds. The manifest is the metadata row (all catalog videos have
//! the same length and bitrates). Uploaded videos are not viewed in the run (views go to the
//! catalog, whose popularity the workload's Zipf keys give).
//!
//! ## The known-bad twins
//!
//! `video_non_resumable`: a flaky link and no resume: every drop sends the whole file again, the
//! bytes resent explode and uploads give up (`uploads_complete`, `resume_sends_only_missing`).
//! `video_fixed_bitrate`: a player that always asks for the top bitrate on slow links rebuffers
//! for most of each session (`rebuffering`).

pub mod check;
pub mod client;
pub mod proto;
pub mod server;

use parts::balance::{HealthSpec, Policy};
use parts::cache::{ReadPath, ReadPathSpec};
use parts::calls::{Answer, CallPolicy, CallTimer, Calls, ReqId};
use parts::cdn::CacheTier;
use parts::kv::{self, KvClient, KvServer, KvSpec, ShardMap};
use parts::log::{self, Broker, Cluster, Consumer, Coordinator, LogSpec, Producer, TopicSpec};
use parts::pool::{Pool, PoolSpec, PoolTimer};
use parts::workers::{self, Observation, Scaler, ScalerSpec, Target, Worker, WorkerSpec};
use serde::{Deserialize, Serialize};
use sim_core::cost::count;
use sim_core::{Actor, Ctx, Dist, Duration, Message, Model, ModelReport, NodeId, Op, Outcome, Prng, Reply, RunView};
use sim_core::{Topology, WriteId};
use std::rc::Rc;

pub use client::Client;
pub use proto::Abr;
pub use server::{Api, Store, Transcoder};

/// Metadata row values (key: the video id).
pub const UPLOADING: i64 = 1;
pub const READY: i64 = 2;

/// The uploads: file shape, the client's uplink and its flakiness, resumability.
///
/// ```ron
/// upload: (chunks: 16, chunk_bytes: 1000000, uplink_mbps: [(1.0, 8.0)],
///          drop_every: Some(Exponential(mean: "8s")), reconnect: Uniform(min: "500ms", max: "2s"),
///          resumable: true, max_restarts: 5)
/// ```
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct UploadSpec {
    pub chunks: u32,
    pub chunk_bytes: u64,
    /// `(weight, Mbit/s)` classes of uploader links, one drawn per upload.
    pub uplink_mbps: Vec<(f64, f64)>,
    /// Time from a (re)connection to the next drop (`None`: a stable link).
    pub drop_every: Option<Dist>,
    /// Time a dropped link stays down.
    pub reconnect: Dist,
    /// Resume by asking the store which chunks are missing (`false`: start over).
    pub resumable: bool,
    /// Restarts a non-resumable upload makes before it gives up.
    pub max_restarts: u32,
    /// A chunk PUT to the store (a failed one is sent again).
    pub chunk_call: CallPolicy,
}

impl Default for UploadSpec {
    fn default() -> Self {
        UploadSpec {
            chunks: 16,
            chunk_bytes: 1_000_000,
            uplink_mbps: vec![(1.0, 8.0)],
            drop_every: None,
            reconnect: Dist::Constant(Duration::from_secs(1)),
            resumable: true,
            max_restarts: 5,
            chunk_call: CallPolicy { timeout: Duration::from_secs(5), ..CallPolicy::default() },
        }
    }
}

/// The catalog and the renditions.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct VideoSpec {
    /// Catalog videos `0..catalog`, processed before the run (the views' keys).
    pub catalog: u64,
    /// Segments per video.
    pub segments: u32,
    pub segment: Duration,
    /// The bitrate ladder, ascending.
    pub bitrates_kbps: Vec<u32>,
}

impl Default for VideoSpec {
    fn default() -> Self {
        VideoSpec {
            catalog: 200,
            segments: 10,
            segment: Duration::from_secs(2),
            bitrates_kbps: vec![400, 1200, 3000, 6000],
        }
    }
}

impl VideoSpec {
    pub fn length(&self) -> Duration {
        self.segment.saturating_mul(self.segments as u64)
    }
}

/// The viewers.
///
/// ```ron
/// playback: (abr: Adaptive(safety: 0.8, panic_below: "2s"), bandwidth_mbps: [(0.7, 20.0), (0.3, 3.0)],
///            jitter: 0.3, max_buffer: "10s", ewma: 0.5)
/// ```
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PlaybackSpec {
    pub abr: Abr,
    /// `(weight, Mbit/s)` classes of viewer downlinks, one drawn per session.
    pub bandwidth_mbps: Vec<(f64, f64)>,
    /// Per-segment lognormal jitter (sigma) of the session's bandwidth.
    pub jitter: f64,
    /// The player fetches the next segment while it holds less than this.
    pub max_buffer: Duration,
    /// Weight of the newest sample in the throughput estimate.
    pub ewma: f64,
}

impl Default for PlaybackSpec {
    fn default() -> Self {
        PlaybackSpec {
            abr: Abr::default(),
            bandwidth_mbps: vec![(1.0, 10.0)],
            jitter: 0.3,
            max_buffer: Duration::from_secs(10),
            ewma: 0.5,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    pub brokers: u32,
    pub api_servers: u32,
    pub pops: u32,
    /// The upload events' queue (its first topic).
    pub log: LogSpec,
    /// A transcoding worker: one rendition per job.
    pub worker: WorkerSpec,
    pub scaler: ScalerSpec,
    /// The metadata store.
    pub kv: KvSpec,
    pub kv_call: CallPolicy,
    /// The video service's metadata cache.
    pub meta_cache: ReadPathSpec,
    /// Each PoP's cache.
    pub edge: ReadPathSpec,
    /// A PoP's fetch from the origin.
    pub fetch: CallPolicy,
    /// The object store as the origin: concurrency and time per segment served.
    pub origin: PoolSpec,
    /// A worker's writes to the object store.
    pub store_call: CallPolicy,
    /// A client's calls to the video service (upload URL, manifest) and the store's bitmap.
    pub api_call: CallPolicy,
    /// A viewer's segment request (to its PoP, then to the origin).
    pub segment_call: CallPolicy,
    pub upload: UploadSpec,
    pub video: VideoSpec,
    pub playback: PlaybackSpec,
    /// Rendition writes are conditional (`if absent`): a redelivered job commits nothing twice.
    pub idempotent: bool,
    /// The `rebuffering` check's bound on the p99 stall ratio per session.
    pub stall_ratio_p99_max: f64,
    /// `processed_exactly_once` judges uploads completed at least this long before the run's end
    /// (later ones are skipped: too close to the end to be processed).
    pub process_within: Duration,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            brokers: 2,
            api_servers: 1,
            pops: 2,
            log: LogSpec {
                topics: vec![TopicSpec { name: "uploaded".into(), partitions: 4, ..TopicSpec::default() }],
                replication: 2,
                acks: 2,
                ..LogSpec::default()
            },
            worker: WorkerSpec {
                concurrency: 1,
                service: Dist::Exponential { mean: Duration::from_secs(1), min: Duration::ZERO },
                ..WorkerSpec::default()
            },
            scaler: ScalerSpec {
                min: 1,
                max: 4,
                initial: 2,
                target: Target::Backlog(4.0),
                interval: Duration::from_secs(1),
                provisioning: Dist::Constant(Duration::from_secs(3)),
                ..ScalerSpec::default()
            },
            kv: KvSpec { shards: 2, ..KvSpec::default() },
            kv_call: CallPolicy { timeout: Duration::from_millis(500), retries: 5, ..CallPolicy::default() },
            meta_cache: ReadPathSpec::default(),
            edge: ReadPathSpec::default(),
            fetch: CallPolicy { timeout: Duration::from_secs(2), retries: 1, ..CallPolicy::default() },
            origin: PoolSpec { concurrency: 64, ..PoolSpec::default() },
            store_call: CallPolicy { timeout: Duration::from_secs(1), retries: 10, ..CallPolicy::default() },
            api_call: CallPolicy { timeout: Duration::from_secs(1), retries: 3, ..CallPolicy::default() },
            segment_call: CallPolicy { timeout: Duration::from_secs(4), ..CallPolicy::default() },
            upload: UploadSpec::default(),
            video: VideoSpec::default(),
            playback: PlaybackSpec::default(),
            idempotent: true,
            stall_ratio_p99_max: 0.05,
            process_within: Duration::from_secs(15),
        }
    }
}

/// Where each role lives (see the module docs).
#[derive(Clone, Debug)]
pub struct Layout {
    pub control: NodeId,
    pub brokers: Vec<NodeId>,
    pub api: Vec<NodeId>,
    pub kv: Vec<NodeId>,
    pub store: NodeId,
    pub pops: Vec<NodeId>,
    pub workers: Vec<NodeId>,
}

impl Config {
    /// Servers before the workers.
    fn fixed_servers(&self) -> usize {
        1 + self.brokers as usize + self.api_servers as usize + self.kv.nodes() + 1 + self.pops as usize
    }
}

impl Layout {
    pub fn new(c: &Config, topo: &Topology) -> Layout {
        let s = &topo.servers;
        let mut at = 1;
        let mut take = |n: usize| {
            let v = s[at..at + n].to_vec();
            at += n;
            v
        };
        let brokers = take(c.brokers as usize);
        let api = take(c.api_servers as usize);
        let kv = take(c.kv.nodes());
        let store = take(1)[0];
        let pops = take(c.pops as usize);
        let workers = s[at..].to_vec();
        Layout { control: s[0], brokers, api, kv, store, pops, workers }
    }
}

/// The design's own messages.
#[derive(Clone, Debug)]
pub enum AppMsg {
    /// Client -> video service: a presigned URL for session `session` of a new upload.
    CreateUpload {
        req: ReqId,
        video: u64,
        session: u32,
    },
    UploadUrl {
        req: ReqId,
        answer: Answer,
        token: u64,
    },
    /// Client -> store: a chunk, straight to object storage with the presigned token.
    Chunk {
        req: ReqId,
        video: u64,
        session: u32,
        token: u64,
        idx: u32,
        md5: u64,
        bytes: u64,
    },
    ChunkAck {
        req: ReqId,
        answer: Answer,
    },
    /// Client -> store: which chunks of `video` do you hold?
    Status {
        req: ReqId,
        video: u64,
        token: u64,
        session: u32,
    },
    StatusIs {
        req: ReqId,
        answer: Answer,
        have: u64,
    },
    /// Viewer -> video service.
    GetManifest {
        req: ReqId,
        video: u64,
    },
    Manifest {
        req: ReqId,
        answer: Answer,
        ready: bool,
    },
    /// Worker -> store: a transcoded rendition (`if_absent`: a conditional write).
    PutRendition {
        req: ReqId,
        video: u64,
        bitrate: u8,
        if_absent: bool,
        bytes: u64,
    },
    /// `present`: renditions of the video the store holds now.
    RenditionStored {
        req: ReqId,
        present: u32,
    },
}

impl Message for AppMsg {
    fn kind(&self) -> &'static str {
        match self {
            AppMsg::CreateUpload { .. } => "create_upload",
            AppMsg::UploadUrl { .. } => "upload_url",
            AppMsg::Chunk { .. } => "chunk",
            AppMsg::ChunkAck { .. } => "chunk_ack",
            AppMsg::Status { .. } => "upload_status",
            AppMsg::StatusIs { .. } => "upload_status_is",
            AppMsg::GetManifest { .. } => "get_manifest",
            AppMsg::Manifest { .. } => "manifest",
            AppMsg::PutRendition { .. } => "put_rendition",
            AppMsg::RenditionStored { .. } => "rendition_stored",
        }
    }
    fn size_bytes(&self) -> u64 {
        match self {
            AppMsg::Chunk { bytes, .. } | AppMsg::PutRendition { bytes, .. } => 300 + bytes,
            _ => 300,
        }
    }
}

/// The design's own timers (the clients' links and players).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AppTimer {
    /// The last byte of chunk `idx` left the uplink (if the link did not drop since: `epoch`).
    Transferred {
        video: u64,
        idx: u32,
        epoch: u32,
    },
    LinkDrop {
        video: u64,
        epoch: u32,
    },
    Reconnect {
        video: u64,
        epoch: u32,
    },
    /// Segment `idx` of a session crossed the downlink.
    SegmentIn {
        session: u64,
        idx: u32,
        bytes: u64,
        asked: sim_core::Time,
    },
    /// The buffer has room for the next segment.
    NextFetch {
        session: u64,
    },
}

parts::wire! {
    /// Everything a node of this design sends.
    pub enum Msg { App(AppMsg), Cdn(parts::cdn::Msg), Kv(kv::Msg), Log(log::Msg), Workers(workers::Msg) }
}
parts::wire! {
    timers pub enum Timer {
        Call(CallTimer), Pool(PoolTimer), Kv(kv::Timer), Log(log::Timer), Workers(workers::Timer), App(AppTimer)
    }
}

/// What nodes of this design write to disk: the queue's and the metadata store's records.
#[derive(Clone, Debug)]
pub enum Rec {
    Log(log::Disk),
    Kv(kv::Entry),
}

impl From<log::Disk> for Rec {
    fn from(d: log::Disk) -> Rec {
        Rec::Log(d)
    }
}

impl From<kv::Entry> for Rec {
    fn from(e: kv::Entry) -> Rec {
        Rec::Kv(e)
    }
}

impl kv::AsEntry for Rec {
    fn as_entry(&self) -> Option<&kv::Entry> {
        match self {
            Rec::Kv(e) => Some(e),
            Rec::Log(_) => None,
        }
    }
}

fn log_rec(r: &Rec) -> Option<&log::Disk> {
    match r {
        Rec::Log(d) => Some(d),
        Rec::Kv(_) => None,
    }
}

pub struct Control {
    pub coordinator: Coordinator,
    pub scaler: Scaler,
}

pub enum Node {
    Control(Box<Control>),
    Broker(Box<Broker>),
    Api(Box<Api>),
    Kv(Box<KvServer>),
    Store(Box<Store>),
    Pop(Box<CacheTier>),
    Worker(Box<Transcoder>),
    Client(Box<Client>),
}

impl Actor for Node {
    type Msg = Msg;
    type Timer = Timer;
    type Record = Rec;

    fn on_start(&mut self, ctx: &mut Ctx<'_, Self>) {
        match self {
            Node::Control(c) => {
                c.coordinator.start(ctx, log_rec);
                c.scaler.start(ctx);
            }
            Node::Broker(b) => b.start(ctx, log_rec),
            Node::Kv(s) => s.on_start(ctx),
            Node::Store(s) => s.producer.start(ctx),
            Node::Worker(w) => w.on_start(ctx),
            Node::Api(_) | Node::Pop(_) | Node::Client(_) => {}
        }
    }

    fn on_msg(&mut self, ctx: &mut Ctx<'_, Self>, from: NodeId, msg: Msg) {
        match (self, msg) {
            (Node::Control(c), Msg::Log(m)) => c.coordinator.on_msg(ctx, from, &m),
            (Node::Control(c), Msg::Workers(m)) => c.scaler.on_msg(ctx, from, &m),
            (Node::Broker(b), Msg::Log(m)) => b.on_msg(ctx, from, &m),
            (Node::Kv(s), Msg::Kv(m)) => s.on_msg(ctx, from, m),
            (Node::Pop(p), Msg::Cdn(m)) => p.on_msg(ctx, from, m),
            (Node::Api(a), m) => a.on_msg(ctx, from, m),
            (Node::Store(s), m) => s.on_msg(ctx, from, m),
            (Node::Worker(w), m) => w.on_msg(ctx, m),
            (Node::Client(c), m) => c.on_msg(ctx, m),
            _ => {}
        }
    }

    fn on_timer(&mut self, ctx: &mut Ctx<'_, Self>, t: Timer) {
        match (self, t) {
            (Node::Control(c), Timer::Log(t)) => c.coordinator.on_timer(ctx, t),
            (Node::Control(c), Timer::Workers(t)) => {
                let obs = Observation { backlog: c.coordinator.total_lag() };
                c.scaler.on_timer(ctx, t, obs);
            }
            (Node::Broker(b), Timer::Log(t)) => b.on_timer(ctx, t),
            (Node::Kv(s), Timer::Kv(t)) => s.on_timer(ctx, t),
            (Node::Kv(s), Timer::Pool(t)) => s.on_pool_timer(ctx, t),
            (Node::Pop(p), Timer::Call(t)) => p.on_timer(ctx, t),
            (Node::Api(a), t) => a.on_timer(ctx, t),
            (Node::Store(s), t) => s.on_timer(ctx, t),
            (Node::Worker(w), t) => w.on_timer(ctx, t),
            (Node::Client(c), t) => c.on_timer(ctx, t),
            _ => {}
        }
    }

    fn on_op(&mut self, ctx: &mut Ctx<'_, Self>, op: Op) {
        match self {
            Node::Client(c) => c.on_op(ctx, op),
            _ => ctx.complete(op.id, Outcome::Rejected, Reply::None),
        }
    }

    fn on_persisted(&mut self, ctx: &mut Ctx<'_, Self>, w: WriteId) {
        match self {
            Node::Control(c) => {
                c.coordinator.on_persisted(ctx, w);
            }
            Node::Broker(b) => {
                b.on_persisted(ctx, w);
            }
            Node::Kv(s) => {
                s.on_persisted(ctx, w);
            }
            _ => {}
        }
    }
}

fn validate_classes(path: &str, classes: &[(f64, f64)]) -> Vec<(String, String)> {
    let ok = !classes.is_empty()
        && classes.iter().all(|&(w, v)| w.is_finite() && w >= 0.0 && v.is_finite() && v > 0.0 && v <= 1e5)
        && classes.iter().map(|c| c.0).sum::<f64>() > 0.0;
    if ok {
        Vec::new()
    } else {
        vec![(path.into(), "needs (weight, Mbit/s) pairs: weights >= 0 summing above 0, speeds in (0, 100000]".into())]
    }
}

pub struct Video;

impl Model for Video {
    const TRANSPORT: sim_core::net::Transport = sim_core::net::Transport::Connection;
    const CHECKS: &'static [&'static str] =
        &["uploads_complete", "resume_sends_only_missing", "processed_exactly_once", "rebuffering"];
    const PROGRESS_CHECKS: &'static [&'static str] = &["uploads_complete"];
    const NAME: &'static str = "video";
    const ABOUT: &'static str = "video upload (chunked, resumable, presigned) and streaming (CDN, origin fallback, adaptive bitrate) over a queue of transcoding workers and sharded metadata";
    const OP_KINDS: &'static [&'static str] = &["upload", "view"];
    type Config = Config;
    type Actor = Node;

    fn validate(c: &Config, topo: &Topology) -> Vec<(String, String)> {
        let mut e = Vec::new();
        let servers = topo.servers.len();
        let fixed = c.fixed_servers();
        if servers <= fixed {
            e.push((
                "topology.servers".into(),
                format!(
                    "needs more than {fixed} servers (control, {} brokers, {} API, {} metadata, the store, {} PoPs) to leave workers, got {servers}",
                    c.brokers,
                    c.api_servers,
                    c.kv.nodes(),
                    c.pops
                ),
            ));
            return e;
        }
        for (name, n) in [("brokers", c.brokers), ("api_servers", c.api_servers), ("pops", c.pops)] {
            if n == 0 {
                e.push((format!("config.{name}"), "must be at least 1".into()));
            }
        }
        if topo.clients.is_empty() {
            e.push(("topology.clients".into(), "needs at least one client (uploaders and viewers)".into()));
        }
        e.extend(c.log.validate("config.log", c.brokers));
        e.extend(c.worker.validate("config.worker"));
        e.extend(c.scaler.validate("config.scaler", (servers - fixed) as u32));
        e.extend(c.kv.validate("config.kv"));
        e.extend(c.meta_cache.validate("config.meta_cache"));
        e.extend(c.edge.validate("config.edge"));
        e.extend(c.origin.validate("config.origin"));
        for (name, p) in [
            ("kv_call", &c.kv_call),
            ("fetch", &c.fetch),
            ("store_call", &c.store_call),
            ("api_call", &c.api_call),
            ("segment_call", &c.segment_call),
            ("upload.chunk_call", &c.upload.chunk_call),
        ] {
            e.extend(p.validate(&format!("config.{name}")));
        }
        let u = &c.upload;
        if u.chunks == 0 || u.chunks > proto::MAX_CHUNKS {
            e.push((
                "config.upload.chunks".into(),
                format!("must be within [1, {}], got {}", proto::MAX_CHUNKS, u.chunks),
            ));
        }
        if u.chunk_bytes == 0 || u.chunk_bytes > 1 << 34 {
            e.push(("config.upload.chunk_bytes".into(), format!("must be within [1, 2^34], got {}", u.chunk_bytes)));
        }
        e.extend(validate_classes("config.upload.uplink_mbps", &u.uplink_mbps));
        if let Some(d) = &u.drop_every
            && let Err(m) = d.validate()
        {
            e.push(("config.upload.drop_every".into(), m));
        }
        if let Err(m) = u.reconnect.validate() {
            e.push(("config.upload.reconnect".into(), m));
        }
        let v = &c.video;
        if v.catalog == 0 || v.catalog >= proto::UPLOAD_BASE {
            e.push(("config.video.catalog".into(), format!("must be within [1, 2^32), got {}", v.catalog)));
        }
        if v.segments == 0 || v.segments >= 1 << 12 {
            e.push(("config.video.segments".into(), format!("must be within [1, 4095], got {}", v.segments)));
        }
        if v.segment == Duration::ZERO {
            e.push(("config.video.segment".into(), "must be positive".into()));
        }
        let k = &v.bitrates_kbps;
        if k.is_empty() || k.len() > 8 || k.contains(&0) || k.windows(2).any(|w| w[0] >= w[1]) {
            e.push((
                "config.video.bitrates_kbps".into(),
                format!("needs 1 to 8 positive bitrates, strictly ascending, got {k:?}"),
            ));
        }
        let p = &c.playback;
        e.extend(validate_classes("config.playback.bandwidth_mbps", &p.bandwidth_mbps));
        if !(p.jitter.is_finite() && (0.0..=3.0).contains(&p.jitter)) {
            e.push(("config.playback.jitter".into(), format!("must be within [0, 3], got {}", p.jitter)));
        }
        if !(p.ewma > 0.0 && p.ewma <= 1.0) {
            e.push(("config.playback.ewma".into(), format!("must be within (0, 1], got {}", p.ewma)));
        }
        if p.max_buffer < v.segment {
            e.push(("config.playback.max_buffer".into(), "must hold at least one segment".into()));
        }
        match p.abr {
            Abr::Fixed(b) if b >= k.len() => e.push((
                "config.playback.abr".into(),
                format!("bitrate index {b} is not on the ladder of {} bitrates", k.len()),
            )),
            Abr::Adaptive { safety, .. } if !(safety > 0.0 && safety <= 1.0) => {
                e.push(("config.playback.abr.safety".into(), format!("must be within (0, 1], got {safety}")))
            }
            _ => {}
        }
        if !(c.stall_ratio_p99_max.is_finite() && c.stall_ratio_p99_max >= 0.0) {
            e.push(("config.stall_ratio_p99_max".into(), "must be a ratio >= 0".into()));
        }
        e
    }

    fn factory(c: &Config, topo: &Topology, _setup: &mut Prng) -> Box<dyn FnMut(NodeId) -> Node> {
        let l = Layout::new(c, topo);
        let cluster = Rc::new(Cluster::new(c.log.clone(), l.control, l.brokers.clone()));
        let map = ShardMap::new(&c.kv, &l.kv);
        let c = c.clone();
        let topo = topo.clone();
        let ring = Policy::ConsistentHash { vnodes: 64 };
        Box::new(move |n| {
            if topo.is_client(n) {
                return Node::Client(Box::new(Client::new(&c, &l)));
            }
            if n == l.control {
                let coordinator = Coordinator::new(cluster.clone(), "log");
                let scaler = Scaler::new("workers", c.scaler.clone(), &l.workers);
                return Node::Control(Box::new(Control { coordinator, scaler }));
            }
            if l.brokers.contains(&n) {
                return Node::Broker(Box::new(Broker::new(cluster.clone(), "log", n)));
            }
            if l.api.contains(&n) {
                let mut calls = Calls::new();
                let kv = KvClient::register(&mut calls, "kv_calls", &map, &c.kv_call);
                let meta = ReadPath::new("meta", c.meta_cache.clone());
                return Node::Api(Box::new(Api::new(calls, kv, meta)));
            }
            if l.kv.contains(&n) {
                let mut s = KvServer::new("kv", &c.kv, &map, n, &[]);
                s.preload((0..c.video.catalog).map(|v| (v, READY)));
                return Node::Kv(Box::new(s));
            }
            if n == l.store {
                let producer = Producer::new(cluster.clone(), "log");
                return Node::Store(Box::new(Store::new(&c, Pool::new("origin", c.origin.clone()), producer)));
            }
            if l.pops.contains(&n) {
                return Node::Pop(Box::new(CacheTier::new("edge", c.edge.clone(), &[l.store], c.fetch.clone())));
            }
            let mut calls = Calls::new();
            let health = HealthSpec { fail_open: true, ..HealthSpec::default() };
            let store = calls.add("store_calls", &[l.store], c.store_call.clone(), ring, health);
            let kv = KvClient::register(&mut calls, "worker_kv_calls", &map, &c.kv_call);
            Node::Worker(Box::new(Transcoder {
                worker: Worker::new("workers", c.worker.clone(), l.control),
                consumer: Consumer::new(cluster.clone(), "log", 0, 0),
                calls,
                store,
                kv,
                bitrates: c.video.bitrates_kbps.clone(),
                length: c.video.length(),
                idempotent: c.idempotent,
                draining: false,
                stats: server::TranscodeStats::default(),
            }))
        })
    }

    /// Events beyond the kernel's two an operation, measured on `scenarios/perf/video_perf.ron`
    /// cut to a 20 s main phase with one kind of operation at two rates (and the background
    /// subtracted): a view is ~5 a segment less one (its manifest, and per segment the request,
    /// the answer, the PoP's fetch and the downlink timer; 23 / 48 / 103 a view at 5 / 10 / 20
    /// segments, cold PoP caches included), an upload its chunks, acknowledgements, link timers
    /// and four transcoding jobs (~150-230 at 16 chunks). The log, the metadata store and the
    /// workers tick in the background: 14 a server a second on idle runs of video_perf (33
    /// servers) and 12.5 on video.ron's cluster (15), where 60 was assumed before and made the
    /// estimate of video.ron twice its events.
    fn footprint(c: &Config, topo: &Topology, load: &sim_core::cost::Load) -> sim_core::cost::Footprint {
        let views = load.of("view", Self::OP_KINDS);
        let uploads = load.of("upload", Self::OP_KINDS);
        let segments = c.video.segments as f64;
        let events = views * (5.0 * segments - 1.0).max(1.0)
            + uploads * (c.upload.chunks as f64 * 6.0 + c.video.bitrates_kbps.len() as f64 * 25.0)
            + load.run_s * topo.servers.len() as f64 * 14.0;
        let objects = (load.keys * c.video.bitrates_kbps.len() as f64 * segments).min(views * segments);
        sim_core::cost::Footprint { events, queued: load.in_flight * 4.0, ..Default::default() }
            .part(format!("{} sessions and uploads in flight x 400 B", count(load.in_flight)), load.in_flight * 400.0)
            .part("finished sessions and uploads kept for the checks: 64 B each", (views + uploads) * 64.0)
            .part(
                format!("PoP cache entries: up to {objects} segments x 120 B", objects = count(objects)),
                objects * 120.0,
            )
            .part("upload chunk maps and renditions: 200 B per upload", uploads * 200.0)
    }

    fn report(c: &Config, run: &RunView<'_, Node>) -> ModelReport {
        check::report(c, run)
    }
}
