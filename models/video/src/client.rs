//! The clients: uploaders (a chunked, resumable upload over a flaky uplink) and viewers (a
//! manifest, then segments from the CDN with origin fallback, an adaptive bitrate and a buffer).
//! A client node stands for many users: each upload and each playback session has its own link,
//! drawn when it starts.

use crate::proto::{self, Playback};
use crate::{AppMsg, AppTimer, Config, Layout, Msg, Node, PlaybackSpec, Timer, UploadSpec, VideoSpec};
use parts::balance::{HealthSpec, Policy};
use parts::calls::{CallOutcome, Calls, Done, ServiceId};
use parts::cdn;
use sim_core::{Ctx, Dist, Duration, Op, OpId, Outcome, Prng, Reply, Time};
use std::collections::{BTreeMap, VecDeque};

/// What a client's call is for.
#[derive(Clone, Copy, Debug)]
pub enum Call {
    Create { video: u64, session: u32 },
    Chunk { video: u64, idx: u32, epoch: u32 },
    Status { video: u64, epoch: u32 },
    Manifest { session: u64 },
    Segment { session: u64, idx: u32, b: usize, origin: bool, asked: Time },
}

/// One upload as it ended (kept for the report).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct UploadSummary {
    pub video: u64,
    pub ok: bool,
    pub drops: u32,
    pub restarts: u32,
    /// Bytes that left the uplink (partial chunks included).
    pub bytes_sent: u64,
    /// One copy of each chunk that left the uplink whole (the file's size once every chunk did).
    pub first_copy_bytes: u64,
}

impl UploadSummary {
    /// Bytes sent beyond one copy of each chunk: chunks sent again, and chunks cut off by a drop.
    pub fn resent_bytes(&self) -> u64 {
        self.bytes_sent.saturating_sub(self.first_copy_bytes)
    }
}

/// One playback session as it ended.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct SessionSummary {
    pub ok: bool,
    pub stall: Duration,
    pub stalls: u32,
    pub startup: Duration,
    pub length: Duration,
    pub mean_kbps: f64,
    pub switches: u32,
    pub origin_fallbacks: u32,
}

impl SessionSummary {
    pub fn stall_ratio(&self) -> f64 {
        self.stall.as_secs_f64() / self.length.as_secs_f64().max(1e-9)
    }
}

struct Upload {
    op: OpId,
    session: u32,
    token: Option<u64>,
    have: u64,
    queue: VecDeque<u32>,
    /// The chunk on the uplink and when it started.
    transfer: Option<(u32, Time)>,
    link_up: bool,
    epoch: u32,
    bytes_per_s: f64,
    /// Chunks that left the uplink whole at least once.
    sent_once: u64,
    summary: UploadSummary,
}

struct Session {
    op: OpId,
    video: u64,
    bytes_per_s: f64,
    estimate: Option<f64>,
    play: Playback,
    /// The next segment to request.
    next: u32,
    last_b: Option<usize>,
    kbps_sum: f64,
    switches: u32,
    fallbacks: u32,
}

/// Draws one class from `(weight, Mbit/s)` pairs; bytes per second.
fn draw_class(classes: &[(f64, f64)], rng: &mut Prng) -> f64 {
    let total: f64 = classes.iter().map(|c| c.0).sum();
    let mut u = rng.unit() * total;
    for &(w, mbps) in classes {
        if u < w {
            return mbps * 1e6 / 8.0;
        }
        u -= w;
    }
    classes.last().expect("validated: at least one class").1 * 1e6 / 8.0
}

pub struct Client {
    calls: Calls<Msg, Call>,
    api: ServiceId,
    chunks: ServiceId,
    status: ServiceId,
    pop: ServiceId,
    origin: ServiceId,
    upload: UploadSpec,
    video: VideoSpec,
    playback: PlaybackSpec,
    uploads: BTreeMap<u64, Upload>,
    sessions: BTreeMap<u64, Session>,
    pub uploads_done: Vec<UploadSummary>,
    pub sessions_done: Vec<SessionSummary>,
}

impl Client {
    pub fn new(c: &Config, l: &Layout) -> Client {
        let mut calls = Calls::new();
        let h = HealthSpec::default();
        let api = calls.add("api_calls", &l.api, c.api_call.clone(), Policy::RoundRobin, h.clone());
        let store = [l.store];
        let chunks = calls.add("chunk_calls", &store, c.upload.chunk_call.clone(), Policy::RoundRobin, h.clone());
        let status = calls.add("status_calls", &store, c.api_call.clone(), Policy::RoundRobin, h.clone());
        let ring = Policy::ConsistentHash { vnodes: 64 };
        let pop = calls.add("segment_calls", &l.pops, c.segment_call.clone(), ring, h.clone());
        let origin = calls.add("origin_calls", &store, c.segment_call.clone(), Policy::RoundRobin, h);
        Client {
            calls,
            api,
            chunks,
            status,
            pop,
            origin,
            upload: c.upload.clone(),
            video: c.video.clone(),
            playback: c.playback.clone(),
            uploads: BTreeMap::new(),
            sessions: BTreeMap::new(),
            uploads_done: Vec::new(),
            sessions_done: Vec::new(),
        }
    }

    pub fn on_op(&mut self, ctx: &mut Ctx<'_, Node>, op: Op) {
        match op.kind {
            0 => self.start_upload(ctx, op),
            _ => self.start_view(ctx, op),
        }
    }

    pub fn on_msg(&mut self, ctx: &mut Ctx<'_, Node>, msg: Msg) {
        let (req, answer, extra) = match msg {
            Msg::App(AppMsg::UploadUrl { req, answer, token }) => (req, answer, Some(token)),
            Msg::App(AppMsg::ChunkAck { req, answer }) => (req, answer, None),
            Msg::App(AppMsg::StatusIs { req, answer, have }) => (req, answer, Some(have)),
            Msg::App(AppMsg::Manifest { req, answer, ready }) => (req, answer, Some(ready as u64)),
            Msg::Cdn(cdn::Msg::Object { req, answer, size }) => (req, answer, size),
            _ => return,
        };
        if let Some(done) = self.calls.reply(ctx, req, answer) {
            self.ended(ctx, done, extra);
        }
    }

    pub fn on_timer(&mut self, ctx: &mut Ctx<'_, Node>, t: Timer) {
        match t {
            Timer::Call(t) => {
                if let Some(done) = self.calls.on_timer(ctx, t) {
                    self.ended(ctx, done, None);
                }
            }
            Timer::App(AppTimer::Transferred { video, idx, epoch }) => self.transferred(ctx, video, idx, epoch),
            Timer::App(AppTimer::LinkDrop { video, epoch }) => self.link_drop(ctx, video, epoch),
            Timer::App(AppTimer::Reconnect { video, epoch }) => self.reconnect(ctx, video, epoch),
            Timer::App(AppTimer::SegmentIn { session, idx, bytes, asked }) => {
                self.segment_in(ctx, session, idx, bytes, asked)
            }
            Timer::App(AppTimer::NextFetch { session }) => self.fetch_next(ctx, session),
            _ => {}
        }
    }

    /// A call ended; `extra` is what its answer carried (a token, a bitmap, a size).
    fn ended(&mut self, ctx: &mut Ctx<'_, Node>, done: Done<Call>, extra: Option<u64>) {
        let ok = done.outcome == CallOutcome::Ok;
        match done.data {
            Call::Create { video, session } => match (ok, extra) {
                (true, Some(token)) => self.url(ctx, video, session, token),
                _ => self.finish_upload(ctx, video, false),
            },
            Call::Chunk { video, idx, epoch } => self.chunk_acked(ctx, video, idx, epoch, done.outcome),
            Call::Status { video, epoch } => match (ok, extra) {
                (true, Some(have)) => self.resume(ctx, video, epoch, have),
                _ => self.finish_upload(ctx, video, false),
            },
            Call::Manifest { session } => match (ok, extra) {
                (true, Some(1)) => self.fetch_next(ctx, session),
                _ => self.finish_session(ctx, session, false),
            },
            Call::Segment { session, idx, b, origin, asked } => match (ok, extra) {
                (true, Some(bytes)) => self.downloading(ctx, session, idx, bytes, asked),
                _ if !origin => self.fallback(ctx, session, idx, b, asked),
                _ => self.finish_session(ctx, session, false),
            },
        }
    }

    // ----- uploads -----

    fn start_upload(&mut self, ctx: &mut Ctx<'_, Node>, op: Op) {
        let video = proto::UPLOAD_BASE + op.value;
        let bytes_per_s = draw_class(&self.upload.uplink_mbps, ctx.rng());
        let summary = UploadSummary { video, ..UploadSummary::default() };
        let u = Upload {
            op: op.id,
            session: 0,
            token: None,
            have: 0,
            queue: VecDeque::new(),
            transfer: None,
            link_up: false,
            epoch: 0,
            bytes_per_s,
            sent_once: 0,
            summary,
        };
        self.uploads.insert(video, u);
        self.create(ctx, video, 0);
    }

    /// Asks the video service for a presigned URL for `session` of `video`.
    fn create(&mut self, ctx: &mut Ctx<'_, Node>, video: u64, session: u32) {
        let make = |req| Msg::from(AppMsg::CreateUpload { req, video, session });
        if let Err(d) = self.calls.call(ctx, self.api, video, make, Call::Create { video, session }) {
            self.ended(ctx, d, None);
        }
    }

    fn url(&mut self, ctx: &mut Ctx<'_, Node>, video: u64, session: u32, token: u64) {
        let chunks = self.upload.chunks;
        let Some(u) = self.uploads.get_mut(&video) else { return };
        if u.session != session {
            return;
        }
        u.token = Some(token);
        u.queue = proto::missing(u.have, chunks).collect();
        // The first URL brings the connection up. After a drop (a later epoch) the reconnect does:
        // a URL that arrives while the client waits to reconnect must not start sending on the
        // dropped link (not resumable, the reconnect then starts a new session and would find a
        // chunk of the old one in flight: `simctl sweep` seed 1487 of video_non_resumable.ron).
        if !u.link_up && u.epoch == 0 {
            u.link_up = true;
            let epoch = u.epoch;
            self.arm_drop(ctx, video, epoch);
        }
        self.pump(ctx, video);
    }

    fn arm_drop(&mut self, ctx: &mut Ctx<'_, Node>, video: u64, epoch: u32) {
        if let Some(d) = &self.upload.drop_every {
            let after = d.sample(ctx.rng());
            ctx.set_timer(after, Timer::App(AppTimer::LinkDrop { video, epoch }));
        }
    }

    /// Puts the next chunk on the uplink if it is free.
    fn pump(&mut self, ctx: &mut Ctx<'_, Node>, video: u64) {
        let chunk_bytes = self.upload.chunk_bytes;
        let Some(u) = self.uploads.get_mut(&video) else { return };
        if !u.link_up || u.transfer.is_some() || u.token.is_none() {
            return;
        }
        let Some(idx) = u.queue.pop_front() else { return };
        u.transfer = Some((idx, ctx.now()));
        let after = Duration::from_secs_f64(chunk_bytes as f64 / u.bytes_per_s);
        let epoch = u.epoch;
        ctx.set_timer(after, Timer::App(AppTimer::Transferred { video, idx, epoch }));
    }

    fn transferred(&mut self, ctx: &mut Ctx<'_, Node>, video: u64, idx: u32, epoch: u32) {
        let chunk_bytes = self.upload.chunk_bytes;
        let Some(u) = self.uploads.get_mut(&video) else { return };
        if u.epoch != epoch {
            return;
        }
        u.transfer = None;
        u.summary.bytes_sent += chunk_bytes;
        u.sent_once |= 1 << idx;
        let (session, token) = (u.session, u.token.expect("a chunk is sent with a token"));
        let md5 = proto::chunk_md5(video, idx);
        let make = |req| Msg::from(AppMsg::Chunk { req, video, session, token, idx, md5, bytes: chunk_bytes });
        if let Err(d) = self.calls.call(ctx, self.chunks, video, make, Call::Chunk { video, idx, epoch }) {
            self.ended(ctx, d, None);
        }
        self.pump(ctx, video);
    }

    fn chunk_acked(&mut self, ctx: &mut Ctx<'_, Node>, video: u64, idx: u32, epoch: u32, outcome: CallOutcome) {
        let all = proto::all_chunks(self.upload.chunks);
        let Some(u) = self.uploads.get_mut(&video) else { return };
        if u.epoch != epoch {
            // On the dropped connection: the bitmap the client asks for says what arrived.
            return;
        }
        match outcome {
            CallOutcome::Ok => {
                u.have |= 1 << idx;
                if u.have == all {
                    self.finish_upload(ctx, video, true);
                }
            }
            _ => {
                // Lost or refused: send it again.
                u.queue.push_back(idx);
                self.pump(ctx, video);
            }
        }
    }

    fn link_drop(&mut self, ctx: &mut Ctx<'_, Node>, video: u64, epoch: u32) {
        let Some(u) = self.uploads.get_mut(&video) else { return };
        if u.epoch != epoch || !u.link_up {
            return;
        }
        let now = ctx.now();
        if let Some((_, started)) = u.transfer.take() {
            u.summary.bytes_sent += (now.since(started).as_secs_f64() * u.bytes_per_s) as u64;
        }
        u.summary.drops += 1;
        u.epoch += 1;
        u.link_up = false;
        u.queue.clear();
        let (after, epoch) = (self.upload.reconnect.sample(ctx.rng()), u.epoch);
        ctx.set_timer(after, Timer::App(AppTimer::Reconnect { video, epoch }));
    }

    fn reconnect(&mut self, ctx: &mut Ctx<'_, Node>, video: u64, epoch: u32) {
        let (resumable, max) = (self.upload.resumable, self.upload.max_restarts);
        let Some(u) = self.uploads.get_mut(&video) else { return };
        if u.epoch != epoch {
            return;
        }
        u.link_up = true;
        self.arm_drop(ctx, video, epoch);
        let u = self.uploads.get_mut(&video).expect("present");
        if resumable {
            let Some(token) = u.token else {
                // Dropped before the URL came: the create call is still running.
                return;
            };
            let session = u.session;
            let make = |req| Msg::from(AppMsg::Status { req, video, token, session });
            if let Err(d) = self.calls.call(ctx, self.status, video, make, Call::Status { video, epoch }) {
                self.ended(ctx, d, None);
            }
            return;
        }
        if u.session >= max {
            self.finish_upload(ctx, video, false);
            return;
        }
        // Not resumable: a new upload of the whole file replaces the partial one.
        u.session += 1;
        u.summary.restarts += 1;
        u.token = None;
        u.have = 0;
        let session = u.session;
        self.create(ctx, video, session);
    }

    fn resume(&mut self, ctx: &mut Ctx<'_, Node>, video: u64, epoch: u32, have: u64) {
        let (chunks, all) = (self.upload.chunks, proto::all_chunks(self.upload.chunks));
        let Some(u) = self.uploads.get_mut(&video) else { return };
        if u.epoch != epoch {
            return;
        }
        u.have = have;
        if have == all {
            self.finish_upload(ctx, video, true);
            return;
        }
        u.queue = proto::missing(have, chunks).collect();
        self.pump(ctx, video);
    }

    fn finish_upload(&mut self, ctx: &mut Ctx<'_, Node>, video: u64, ok: bool) {
        let Some(u) = self.uploads.remove(&video) else { return };
        let mut s = u.summary;
        s.ok = ok;
        s.first_copy_bytes = u.sent_once.count_ones() as u64 * self.upload.chunk_bytes;
        if let Some((_, started)) = u.transfer {
            s.bytes_sent += (ctx.now().since(started).as_secs_f64() * u.bytes_per_s) as u64;
        }
        self.uploads_done.push(s);
        let outcome = if ok { Outcome::Ok } else { Outcome::Fail };
        ctx.complete(u.op, outcome, Reply::Value(s.bytes_sent));
    }

    // ----- playback -----

    fn start_view(&mut self, ctx: &mut Ctx<'_, Node>, op: Op) {
        let session = op.id.0 as u64;
        let video = op.key % self.video.catalog;
        let bytes_per_s = draw_class(&self.playback.bandwidth_mbps, ctx.rng());
        let s = Session {
            op: op.id,
            video,
            bytes_per_s,
            estimate: None,
            play: Playback::new(ctx.now()),
            next: 0,
            last_b: None,
            kbps_sum: 0.0,
            switches: 0,
            fallbacks: 0,
        };
        self.sessions.insert(session, s);
        let make = |req| Msg::from(AppMsg::GetManifest { req, video });
        if let Err(d) = self.calls.call(ctx, self.api, video, make, Call::Manifest { session }) {
            self.ended(ctx, d, None);
        }
    }

    fn fetch_next(&mut self, ctx: &mut Ctx<'_, Node>, session: u64) {
        let kbps = &self.video.bitrates_kbps;
        let Some(s) = self.sessions.get_mut(&session) else { return };
        let idx = s.next;
        s.next += 1;
        let b = self.playback.abr.choose(kbps, s.estimate, s.play.level(ctx.now()));
        if s.last_b.is_some_and(|l| l != b) {
            s.switches += 1;
        }
        s.last_b = Some(b);
        s.kbps_sum += kbps[b] as f64;
        let object = proto::segment_object(s.video, b, idx);
        let asked = ctx.now();
        let make = |req| Msg::from(cdn::Msg::Get { req, object });
        let call = Call::Segment { session, idx, b, origin: false, asked };
        if let Err(d) = self.calls.call(ctx, self.pop, object, make, call) {
            self.ended(ctx, d, None);
        }
    }

    /// The PoP failed the request: ask the origin.
    fn fallback(&mut self, ctx: &mut Ctx<'_, Node>, session: u64, idx: u32, b: usize, asked: Time) {
        let Some(s) = self.sessions.get_mut(&session) else { return };
        s.fallbacks += 1;
        ctx.count_in("viewer", "origin_fallbacks", 1);
        let object = proto::segment_object(s.video, b, idx);
        let make = |req| Msg::from(cdn::Msg::Get { req, object });
        let call = Call::Segment { session, idx, b, origin: true, asked };
        if let Err(d) = self.calls.call(ctx, self.origin, object, make, call) {
            self.ended(ctx, d, None);
        }
    }

    /// The segment's bytes cross the viewer's downlink.
    fn downloading(&mut self, ctx: &mut Ctx<'_, Node>, session: u64, idx: u32, bytes: u64, asked: Time) {
        let jitter = self.playback.jitter;
        let Some(s) = self.sessions.get(&session) else { return };
        let bytes_per_s = s.bytes_per_s;
        let factor = if jitter > 0.0 {
            Dist::LogNormal { median: Duration::from_secs(1), sigma: jitter }.sample(ctx.rng()).as_secs_f64()
        } else {
            1.0
        };
        let after = Duration::from_secs_f64(bytes as f64 / (bytes_per_s * factor.max(1e-3)));
        ctx.set_timer(after, Timer::App(AppTimer::SegmentIn { session, idx, bytes, asked }));
    }

    fn segment_in(&mut self, ctx: &mut Ctx<'_, Node>, session: u64, idx: u32, bytes: u64, asked: Time) {
        let (segment, segments, alpha) = (self.video.segment, self.video.segments, self.playback.ewma);
        let max_buffer = self.playback.max_buffer;
        let Some(s) = self.sessions.get_mut(&session) else { return };
        let now = ctx.now();
        s.play.arrive(now, segment);
        // The throughput this segment achieved, from its request to its last byte.
        let sample = bytes as f64 / now.since(asked).as_secs_f64().max(1e-6);
        s.estimate = Some(s.estimate.map_or(sample, |e| alpha * sample + (1.0 - alpha) * e));
        if idx + 1 >= segments {
            self.finish_session(ctx, session, true);
            return;
        }
        let level = s.play.level(now);
        if level + segment > max_buffer {
            let wait = level + segment - max_buffer;
            ctx.set_timer(wait, Timer::App(AppTimer::NextFetch { session }));
        } else {
            self.fetch_next(ctx, session);
        }
    }

    fn finish_session(&mut self, ctx: &mut Ctx<'_, Node>, session: u64, ok: bool) {
        let Some(s) = self.sessions.remove(&session) else { return };
        let n = s.next.max(1) as f64;
        self.sessions_done.push(SessionSummary {
            ok,
            stall: s.play.stall,
            stalls: s.play.stalls,
            startup: s.play.startup,
            length: self.video.length(),
            mean_kbps: s.kbps_sum / n,
            switches: s.switches,
            origin_fallbacks: s.fallbacks,
        });
        let outcome = if ok { Outcome::Ok } else { Outcome::Fail };
        ctx.complete(s.op, outcome, Reply::Value(s.play.stall.0));
    }
}
