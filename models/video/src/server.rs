//! The servers of the design: the video service (upload URLs, manifests through a metadata
//! cache), the object store (chunks, renditions, the CDN's origin, the upload events) and the
//! transcoding workers.

use crate::proto::{self, ChunkIn, ChunkMap};
use crate::{AppMsg, Config, Msg, Node, READY, Timer, UPLOADING};
use parts::cache::{Fetched, Read, ReadPath};
use parts::calls::{Answer, CallOutcome, Calls, Done, ReqId, ServiceId};
use parts::cdn;
use parts::kv::{self, KvClient, KvResult, ReadFrom};
use parts::log::{Consumer, Delivery, Producer};
use parts::pool::{Admit, Pool};
use parts::workers::{Worker, WorkerEvent};
use sim_core::{Ctx, Duration, NodeId};
use std::collections::BTreeMap;

fn send(ctx: &mut Ctx<'_, Node>, to: NodeId, m: AppMsg) {
    ctx.send(to, Msg::from(m));
}

/// A request the video service holds until the metadata store answers.
#[derive(Clone, Copy, Debug)]
pub enum ApiCall {
    Create { from: NodeId, req: ReqId, video: u64, session: u32 },
    Meta(parts::cache::FetchId),
}

/// The video service: stateless but for its metadata cache.
pub struct Api {
    calls: Calls<Msg, ApiCall>,
    kv: KvClient,
    pub meta: ReadPath<(NodeId, ReqId), i64>,
}

impl Api {
    pub fn new(calls: Calls<Msg, ApiCall>, kv: KvClient, meta: ReadPath<(NodeId, ReqId), i64>) -> Api {
        Api { calls, kv, meta }
    }

    pub fn on_msg(&mut self, ctx: &mut Ctx<'_, Node>, from: NodeId, msg: Msg) {
        match msg {
            Msg::App(AppMsg::CreateUpload { req, video, session }) => {
                // Created once: a non-resumable client's later session (it may not have heard that
                // its previous one completed) must not turn a READY video back to UPLOADING. A
                // conflict (the row exists) grants the session as a write would.
                let op = kv::Op::Cas { key: video, version: 0, value: UPLOADING, ttl: None, hold: None };
                let call = ApiCall::Create { from, req, video, session };
                if let Err(d) = self.kv.call(&mut self.calls, ctx, op, ReadFrom::Primary, call) {
                    self.done(ctx, d, None);
                }
            }
            Msg::App(AppMsg::GetManifest { req, video }) => match self.meta.read(ctx, video, (from, req)) {
                Read::Hit(to, v) => manifest(ctx, to, Answer::Ok, v),
                Read::HitRefresh(to, v, id) => {
                    manifest(ctx, to, Answer::Ok, v);
                    self.fetch(ctx, id, video);
                }
                Read::Fetch(id) => self.fetch(ctx, id, video),
                Read::Joined => {}
            },
            Msg::Kv(kv::Msg::Resp { id, result }) => {
                if let Some((d, r)) = KvClient::on_response(&mut self.calls, ctx, id, result) {
                    self.done(ctx, d, Some(r));
                }
            }
            _ => {}
        }
    }

    pub fn on_timer(&mut self, ctx: &mut Ctx<'_, Node>, t: Timer) {
        if let Timer::Call(t) = t
            && let Some(d) = self.calls.on_timer(ctx, t)
        {
            self.done(ctx, d, None);
        }
    }

    fn fetch(&mut self, ctx: &mut Ctx<'_, Node>, id: parts::cache::FetchId, video: u64) {
        let op = kv::Op::Get { key: video };
        if let Err(d) = self.kv.call(&mut self.calls, ctx, op, ReadFrom::Follower, ApiCall::Meta(id)) {
            self.done(ctx, d, None);
        }
    }

    fn done(&mut self, ctx: &mut Ctx<'_, Node>, d: Done<ApiCall>, r: Option<KvResult>) {
        let ok = d.outcome == CallOutcome::Ok;
        match d.data {
            ApiCall::Create { from, req, video, session } => {
                if let Some(KvResult::Conflict { value: READY, .. }) = r {
                    // A session of a video already processed (its client missed the completion).
                    ctx.count("upload_sessions_after_ready", 1);
                }
                let (answer, token) =
                    if ok { (Answer::Ok, proto::presign(video, session)) } else { (Answer::Retryable, 0) };
                send(ctx, from, AppMsg::UploadUrl { req, answer, token });
            }
            ApiCall::Meta(id) => {
                let result = match r {
                    Some(KvResult::Found { value, .. }) if ok => Fetched::Found { value, size: 64 },
                    Some(KvResult::NotFound) if ok => Fetched::NotFound { size: 16 },
                    _ => Fetched::Failed,
                };
                let (answer, v) = match &result {
                    Fetched::Found { value, .. } => (Answer::Ok, Some(*value)),
                    Fetched::NotFound { .. } => (Answer::Ok, None),
                    Fetched::Failed => (Answer::Retryable, None),
                };
                for to in self.meta.fetched(ctx, id, &result) {
                    manifest(ctx, to, answer, v);
                }
            }
        }
    }
}

fn manifest(ctx: &mut Ctx<'_, Node>, (to, req): (NodeId, ReqId), answer: Answer, row: Option<i64>) {
    send(ctx, to, AppMsg::Manifest { req, answer, ready: row == Some(READY) });
}

/// What the object store counted (it does not crash in these scenarios: see the module docs).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct StoreStats {
    pub chunks_received: u64,
    pub chunk_bytes: u64,
    pub bad_tokens: u64,
    pub uploads_completed: u64,
    pub events_produced: u64,
    pub produce_failed: u64,
    pub rendition_writes: u64,
    pub rendition_bytes: u64,
    /// Conditional writes that found the rendition there (a redelivered job).
    pub rendition_exists: u64,
}

/// Object storage: upload sessions (the MD5 + bitmap), renditions, and the origin of the CDN.
pub struct Store {
    pub uploads: BTreeMap<u64, ChunkMap>,
    /// `(video, bitrate) -> commits` (a second commit is a second processing).
    pub renditions: BTreeMap<(u64, u8), u32>,
    pub producer: Producer<(u64, u8)>,
    origin: Pool<(NodeId, ReqId, u64)>,
    catalog: u64,
    chunks: u32,
    bitrates: Vec<u32>,
    segment: Duration,
    segments: u32,
    pub stats: StoreStats,
}

impl Store {
    pub fn new(c: &Config, origin: Pool<(NodeId, ReqId, u64)>, producer: Producer<(u64, u8)>) -> Store {
        Store {
            uploads: BTreeMap::new(),
            renditions: BTreeMap::new(),
            producer,
            origin,
            catalog: c.video.catalog,
            chunks: c.upload.chunks,
            bitrates: c.video.bitrates_kbps.clone(),
            segment: c.video.segment,
            segments: c.video.segments,
            stats: StoreStats::default(),
        }
    }

    /// Renditions of `video` held (catalog videos hold all of them).
    pub fn present(&self, video: u64) -> u32 {
        if video < self.catalog {
            return self.bitrates.len() as u32;
        }
        self.renditions.range((video, 0)..=(video, u8::MAX)).count() as u32
    }

    /// The size of a segment object, if the store holds it.
    fn object_size(&self, object: u64) -> Option<u64> {
        let (video, b, seg) = proto::split_object(object);
        let held = video < self.catalog || self.renditions.contains_key(&(video, b as u8));
        (held && b < self.bitrates.len() && seg < self.segments)
            .then(|| proto::segment_bytes(self.bitrates[b], self.segment))
    }

    pub fn on_msg(&mut self, ctx: &mut Ctx<'_, Node>, from: NodeId, msg: Msg) {
        match msg {
            Msg::App(AppMsg::Chunk { req, video, session, token, idx, md5, bytes }) => {
                if token != proto::presign(video, session) {
                    self.stats.bad_tokens += 1;
                    send(ctx, from, AppMsg::ChunkAck { req, answer: Answer::Fatal });
                    return;
                }
                self.stats.chunks_received += 1;
                self.stats.chunk_bytes += bytes;
                let chunks = self.chunks;
                let map = self.uploads.entry(video).or_insert_with(|| ChunkMap::new(chunks));
                let answer = match map.put(session, idx, md5) {
                    ChunkIn::Stored(done) => {
                        if done {
                            map.completed_at = Some(ctx.ledger_time());
                            self.uploaded(ctx, video);
                        }
                        Answer::Ok
                    }
                    ChunkIn::Refused => Answer::Fatal,
                };
                send(ctx, from, AppMsg::ChunkAck { req, answer });
            }
            Msg::App(AppMsg::Status { req, video, token, session }) => {
                let (answer, have) = if token != proto::presign(video, session) {
                    self.stats.bad_tokens += 1;
                    (Answer::Fatal, 0)
                } else {
                    let have = self.uploads.get(&video).filter(|m| m.session == session).map_or(0, |m| m.have);
                    (Answer::Ok, have)
                };
                send(ctx, from, AppMsg::StatusIs { req, answer, have });
            }
            Msg::App(AppMsg::PutRendition { req, video, bitrate, if_absent, bytes }) => {
                let n = self.renditions.entry((video, bitrate)).or_insert(0);
                if *n > 0 && if_absent {
                    self.stats.rendition_exists += 1;
                } else {
                    *n += 1;
                    self.stats.rendition_writes += 1;
                    self.stats.rendition_bytes += bytes;
                    ctx.count_in("store", "renditions", 1);
                }
                let present = self.present(video);
                send(ctx, from, AppMsg::RenditionStored { req, present });
            }
            Msg::Cdn(cdn::Msg::Get { req, object }) => {
                ctx.count_in("origin", "requests", 1);
                match self.origin.submit(ctx, (from, req, object)) {
                    Admit::Started | Admit::Queued => {}
                    Admit::Rejected((to, req, _)) | Admit::Dropped((to, req, _)) => {
                        ctx.send(to, Msg::from(cdn::Msg::Object { req, answer: Answer::Retryable, size: None }))
                    }
                }
            }
            Msg::Log(m) => {
                if let Some(p) = self.producer.on_msg(ctx, &m) {
                    self.produced(p);
                }
            }
            _ => {}
        }
    }

    pub fn on_timer(&mut self, ctx: &mut Ctx<'_, Node>, t: Timer) {
        match t {
            Timer::Pool(t) => {
                if let Some((to, req, object)) = self.origin.on_timer(ctx, t) {
                    let size = self.object_size(object);
                    ctx.send(to, Msg::from(cdn::Msg::Object { req, answer: Answer::Ok, size }));
                }
                for (to, req, _) in self.origin.take_shed() {
                    ctx.send(to, Msg::from(cdn::Msg::Object { req, answer: Answer::Retryable, size: None }));
                }
            }
            Timer::Log(t) => {
                if let Some(p) = self.producer.on_timer(ctx, t) {
                    self.produced(p);
                }
            }
            _ => {}
        }
    }

    /// Every chunk is in: one transcoding job per bitrate on the queue (S3 event -> Kafka).
    fn uploaded(&mut self, ctx: &mut Ctx<'_, Node>, video: u64) {
        self.stats.uploads_completed += 1;
        for b in 0..self.bitrates.len() as u8 {
            self.producer.produce(ctx, 0, video << 3 | b as u64, video, (video, b));
        }
    }

    fn produced(&mut self, p: parts::log::Produced<(u64, u8)>) {
        match p.result {
            Ok(_) => self.stats.events_produced += 1,
            Err(_) => self.stats.produce_failed += 1,
        }
    }
}

/// What a transcoding worker counted (per incarnation).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TranscodeStats {
    pub jobs: u64,
    pub ready_writes: u64,
}

/// A step of a job after its transcode.
#[derive(Clone, Copy, Debug)]
pub enum Step {
    Store(Delivery),
    Ready(Delivery),
}

/// A transcoding worker: a consumer-group member whose jobs are renditions.
pub struct Transcoder {
    pub worker: Worker<Delivery>,
    pub consumer: Consumer,
    pub calls: Calls<Msg, Step>,
    pub store: ServiceId,
    pub kv: KvClient,
    pub bitrates: Vec<u32>,
    pub length: Duration,
    pub idempotent: bool,
    pub draining: bool,
    pub stats: TranscodeStats,
}

impl Transcoder {
    pub fn on_start(&mut self, ctx: &mut Ctx<'_, Node>) {
        self.worker.start(ctx);
    }

    fn on_worker_event(&mut self, ctx: &mut Ctx<'_, Node>, e: Option<WorkerEvent>) {
        match e {
            Some(WorkerEvent::Up) => self.consumer.join(ctx),
            Some(WorkerEvent::Draining) => {
                self.draining = true;
                self.check_drained(ctx);
            }
            None => {}
        }
    }

    fn pump(&mut self, ctx: &mut Ctx<'_, Node>) {
        while !self.draining && self.worker.accepting() {
            let Some(d) = self.consumer.poll(ctx) else { break };
            self.worker.submit(ctx, d);
        }
    }

    fn check_drained(&mut self, ctx: &mut Ctx<'_, Node>) {
        if self.draining && self.worker.busy() == 0 && self.calls.in_flight() == 0 {
            self.consumer.leave(ctx);
            self.worker.stopped(ctx);
            self.draining = false;
        }
    }

    /// The rendition of a job, written to the store (conditionally, when idempotent).
    fn put(&mut self, ctx: &mut Ctx<'_, Node>, d: Delivery) {
        let (video, bitrate) = (d.rec.value, (d.rec.key & 7) as u8);
        let bytes = proto::segment_bytes(self.bitrates[bitrate as usize], self.length);
        let if_absent = self.idempotent;
        let make = |req| Msg::from(AppMsg::PutRendition { req, video, bitrate, if_absent, bytes });
        if let Err(done) = self.calls.call(ctx, self.store, video, make, Step::Store(d)) {
            unreachable!("one store, fail-open, no breaker: a call always starts ({:?})", done.outcome);
        }
    }

    fn ready(&mut self, ctx: &mut Ctx<'_, Node>, d: Delivery) {
        self.stats.ready_writes += 1;
        let op = kv::Op::Put { key: d.rec.value, value: READY, ttl: None };
        if let Err(done) = self.kv.call(&mut self.calls, ctx, op, ReadFrom::Primary, Step::Ready(d)) {
            self.step(ctx, done, None);
        }
    }

    fn finish(&mut self, ctx: &mut Ctx<'_, Node>, d: &Delivery) {
        self.consumer.done(d);
        self.pump(ctx);
        self.check_drained(ctx);
    }

    fn step(&mut self, ctx: &mut Ctx<'_, Node>, done: Done<Step>, present: Option<u32>) {
        let ok = done.outcome == CallOutcome::Ok;
        match (done.data, present) {
            (Step::Store(d), Some(n)) if ok && n as usize >= self.bitrates.len() => self.ready(ctx, d),
            (Step::Store(d), Some(_)) if ok => self.finish(ctx, &d),
            (Step::Store(d), _) => self.put(ctx, d),
            (Step::Ready(d), _) if ok => self.finish(ctx, &d),
            (Step::Ready(d), _) => self.ready(ctx, d),
        }
    }

    pub fn on_msg(&mut self, ctx: &mut Ctx<'_, Node>, msg: Msg) {
        match msg {
            Msg::Workers(m) => {
                let e = self.worker.on_msg(ctx, &m);
                self.on_worker_event(ctx, e);
            }
            Msg::Log(m) if self.consumer.on_msg(ctx, &m).is_some() => self.pump(ctx),
            Msg::App(AppMsg::RenditionStored { req, present }) => {
                if let Some(done) = self.calls.reply(ctx, req, Answer::Ok) {
                    self.step(ctx, done, Some(present));
                }
            }
            Msg::Kv(kv::Msg::Resp { id, result }) => {
                if let Some((done, _)) = KvClient::on_response(&mut self.calls, ctx, id, result) {
                    self.step(ctx, done, None);
                }
            }
            _ => {}
        }
    }

    pub fn on_timer(&mut self, ctx: &mut Ctx<'_, Node>, t: Timer) {
        match t {
            Timer::Workers(t) => {
                let e = self.worker.on_timer(ctx, t);
                self.on_worker_event(ctx, e);
            }
            Timer::Log(t) => {
                self.consumer.on_timer(ctx, t);
                self.pump(ctx);
            }
            Timer::Pool(t) => {
                if let Some(d) = self.worker.on_pool_timer(ctx, t) {
                    self.stats.jobs += 1;
                    ctx.count_in("transcode", "jobs", 1);
                    self.put(ctx, d);
                }
                self.pump(ctx);
            }
            Timer::Call(t) => {
                if let Some(done) = self.calls.on_timer(ctx, t) {
                    self.step(ctx, done, None);
                }
            }
            _ => {}
        }
    }
}
