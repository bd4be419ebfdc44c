//! The checks over a run, and its measures: each check counts what it judged, from the history
//! and small read-only views of the nodes (the clients' finished uploads and sessions, the object
//! store's chunk maps and rendition commits, the metadata store's rows).

use crate::client::{SessionSummary, UploadSummary};
use crate::{Config, Node, READY};
use parts::cdn::CdnStats;
use sim_core::sweep::percentile;
use sim_core::{Axis, Check, ModelReport, Outcome, RunView, Table, Time};
use std::collections::BTreeMap;

/// What the checks read from a run's nodes.
#[derive(Default)]
pub struct Views {
    pub uploads: Vec<UploadSummary>,
    pub sessions: Vec<SessionSummary>,
    /// Per uploaded video: (when the upload completed, chunks held, receipts of chunks held
    /// before).
    pub chunk_maps: BTreeMap<u64, (Option<Time>, u32, u32)>,
    /// `(video, bitrate) -> commits`.
    pub renditions: BTreeMap<(u64, u8), u32>,
    /// Metadata rows on the shards' primaries.
    pub meta: BTreeMap<u64, i64>,
}

impl Views {
    pub fn of(run: &RunView<'_, Node>) -> Views {
        let mut v = Views::default();
        for &n in &run.topology().clients {
            if let Some(Node::Client(c)) = run.sim.actor(n) {
                v.uploads.extend_from_slice(&c.uploads_done);
                v.sessions.extend_from_slice(&c.sessions_done);
            }
        }
        for (_, node) in run.servers() {
            match node {
                Node::Store(s) => {
                    for (&video, m) in &s.uploads {
                        v.chunk_maps.insert(video, (m.completed_at, m.have.count_ones(), m.dup_receipts));
                    }
                    v.renditions.extend(s.renditions.iter().map(|(&k, &n)| (k, n)));
                }
                Node::Kv(s) if s.is_primary() => v.meta.extend(s.rows().iter().map(|(&k, r)| (k, r.value))),
                _ => {}
            }
        }
        v
    }
}

/// `uploads_complete`: every upload invoked in the main phase completed.
pub fn uploads_complete(run: &RunView<'_, Node>) -> Check {
    let entries: Vec<_> = run.history().iter().filter(|h| h.kind == 0 && h.invoke < run.main_end).collect();
    let uploads: Vec<_> = entries.iter().map(|h| h.outcome).collect();
    let failed = uploads.iter().filter(|o| **o == Some(Outcome::Fail)).count();
    let open = uploads.iter().filter(|o| o.is_none()).count();
    let bad = uploads.iter().filter(|o| **o != Some(Outcome::Ok)).count();
    Check::judged("uploads_complete", uploads.len(), "uploads")
        .violations(bad, "not completed")
        .detail(format!("{failed} gave up, {open} still running at the end, {} other", bad - failed - open))
        .blame_ops(entries.into_iter().filter(|h| h.outcome != Some(Outcome::Ok)))
}

/// `resume_sends_only_missing`: an interrupted upload sent again no chunk the store held, and
/// resent at most the chunk in transit per drop.
pub fn resume_sends_only_missing(v: &Views, chunk_bytes: u64) -> Check {
    let interrupted: Vec<&UploadSummary> = v.uploads.iter().filter(|u| u.drops > 0).collect();
    let mut bad = 0u64;
    let (mut dups, mut over, mut resent, mut first) = (0u64, 0u64, 0u64, None);
    for u in &interrupted {
        let d = v.chunk_maps.get(&u.video).map_or(0, |m| m.2) as u64;
        let bound = u.drops as u64 * chunk_bytes;
        resent += u.resent_bytes();
        dups += d;
        if u.resent_bytes() > bound {
            over += 1;
        }
        if d > 0 || u.resent_bytes() > bound {
            bad += 1;
            first.get_or_insert(format!(
                "video {} ({} drops): {} chunks arrived twice, {} bytes resent (bound {bound})",
                u.video,
                u.drops,
                d,
                u.resent_bytes()
            ));
        }
    }
    let file: u64 = interrupted.iter().map(|u| u.first_copy_bytes).sum();
    let drops: u64 = interrupted.iter().map(|u| u.drops as u64).sum();
    Check::judged("resume_sends_only_missing", interrupted.len(), "interrupted uploads")
        .skipped(v.uploads.len() - interrupted.len(), "never interrupted")
        .violations(bad, "resent more than the missing chunks")
        .detail(format!(
            "{drops} drops; {resent} bytes resent over {file} bytes of first copies ({:.3}); {dups} chunks reached the store twice; {over} uploads over one chunk per drop{}",
            resent as f64 / file.max(1) as f64,
            first.map(|f| format!("; e.g. {f}")).unwrap_or_default()
        ))
}

/// `processed_exactly_once`: every upload completed by `by` has each bitrate committed exactly
/// once and its metadata row `READY`.
pub fn processed_exactly_once(v: &Views, bitrates: usize, by: Time) -> Check {
    let uploaded: Vec<u64> =
        v.chunk_maps.iter().filter(|(_, m)| m.0.is_some_and(|t| t <= by)).map(|(&k, _)| k).collect();
    let late = v.chunk_maps.values().filter(|m| m.0.is_some_and(|t| t > by)).count();
    let (mut missing, mut twice, mut not_ready, mut bad, mut first) = (0u64, 0u64, 0u64, 0u64, None);
    for &video in &uploaded {
        let commits: Vec<u32> =
            (0..bitrates as u8).map(|b| v.renditions.get(&(video, b)).copied().unwrap_or(0)).collect();
        let m = commits.iter().filter(|&&n| n == 0).count() as u64;
        let t = commits.iter().filter(|&&n| n > 1).count() as u64;
        let ready = v.meta.get(&video) == Some(&READY);
        missing += m;
        twice += t;
        not_ready += !ready as u64;
        if m > 0 || t > 0 || !ready {
            bad += 1;
            first.get_or_insert(format!(
                "video {video}: commits per bitrate {commits:?}, metadata {:?}",
                v.meta.get(&video)
            ));
        }
    }
    Check::judged("processed_exactly_once", uploaded.len(), "uploaded videos")
        .skipped(v.chunk_maps.len() - uploaded.len() - late, "upload not completed")
        .skipped(late, "completed too close to the end to be processed")
        .violations(bad, "not processed exactly once into every bitrate")
        .detail(format!(
            "renditions missing {missing}, committed twice or more {twice}; metadata not READY {not_ready}{}",
            first.map(|f| format!("; e.g. {f}")).unwrap_or_default()
        ))
}

/// `rebuffering`: the p99 stall ratio over the sessions that played to the end is within the
/// bound.
pub fn rebuffering(v: &Views, bound: f64) -> (Check, Vec<f64>) {
    let mut ratios: Vec<f64> = v.sessions.iter().filter(|s| s.ok).map(SessionSummary::stall_ratio).collect();
    ratios.sort_by(f64::total_cmp);
    let p99 = percentile(&ratios, 0.99);
    let stalled = ratios.iter().filter(|&&r| r > 0.0).count();
    let c = Check::judged("rebuffering", ratios.len(), "playback sessions")
        .skipped(v.sessions.len() - ratios.len(), "failed before the end")
        .passed_if(ratios.is_empty() || p99 <= bound)
        .detail(format!(
            "p99 stall ratio {:.4} (bound {bound}); {stalled} sessions stalled, median {:.4}, max {:.4}",
            if ratios.is_empty() { 0.0 } else { p99 },
            if ratios.is_empty() { 0.0 } else { percentile(&ratios, 0.5) },
            ratios.last().copied().unwrap_or(0.0)
        ));
    (c, ratios)
}

pub fn report(c: &Config, run: &RunView<'_, Node>) -> ModelReport {
    let mut r = ModelReport::default();
    let v = Views::of(run);
    r.checks.push(uploads_complete(run));
    r.checks.push(resume_sends_only_missing(&v, c.upload.chunk_bytes));
    let by = Time(run.end.0.saturating_sub(c.process_within.0));
    r.checks.push(processed_exactly_once(&v, c.video.bitrates_kbps.len(), by));
    let (check, ratios) = rebuffering(&v, c.stall_ratio_p99_max);
    r.checks.push(check);

    let mut cdn = CdnStats::default();
    let mut meta = parts::cache::CacheStats::default();
    let mut store = crate::server::StoreStats::default();
    let mut held_bytes = 0u64;
    for (_, node) in run.servers() {
        match node {
            Node::Pop(t) => cdn.add_edge(t),
            Node::Api(a) => meta.add(&a.meta.cache.stats),
            Node::Store(s) => {
                store = s.stats;
                held_bytes = s.uploads.values().filter(|m| m.complete).map(|m| m.have.count_ones() as u64).sum::<u64>()
                    * c.upload.chunk_bytes;
            }
            _ => {}
        }
    }
    let metrics = run.sim.metrics();
    let secs = run.main_end.as_secs_f64().max(1e-9);
    let day = 86_400.0 / secs;
    let origin_requests = metrics.scoped_counter("origin", "requests");
    let ok_sessions: Vec<&SessionSummary> = v.sessions.iter().filter(|s| s.ok).collect();
    let mut startup: Vec<f64> = ok_sessions.iter().map(|s| s.startup.as_millis_f64()).collect();
    startup.sort_by(f64::total_cmp);
    let mean = |f: &dyn Fn(&SessionSummary) -> f64| {
        if ok_sessions.is_empty() {
            0.0
        } else {
            ok_sessions.iter().map(|s| f(s)).sum::<f64>() / ok_sessions.len() as f64
        }
    };
    // Operations of the main phase that succeeded (an upload that completed, a session played to
    // the end), per second of the main phase.
    let ok_of = |kind: u16| {
        run.history()
            .iter()
            .filter(|h| h.kind == kind && h.invoke < run.main_end && h.outcome == Some(Outcome::Ok))
            .count()
    };
    let (uploads_main, views_main) = (ok_of(0), ok_of(1));
    let commits: u64 = v.renditions.values().map(|&n| n as u64).sum();
    let resent: u64 = v.uploads.iter().map(UploadSummary::resent_bytes).sum();
    let file: u64 = v.uploads.iter().map(|u| u.first_copy_bytes).sum();
    let m = &mut r.measures;
    m.insert("uploads".into(), v.uploads.len() as f64);
    m.insert("uploads_ok".into(), v.uploads.iter().filter(|u| u.ok).count() as f64);
    m.insert("uploads_interrupted".into(), v.uploads.iter().filter(|u| u.drops > 0).count() as f64);
    m.insert("upload_drops".into(), v.uploads.iter().map(|u| u.drops as f64).sum());
    m.insert("upload_restarts".into(), v.uploads.iter().map(|u| u.restarts as f64).sum());
    m.insert("upload_bytes_sent".into(), v.uploads.iter().map(|u| u.bytes_sent as f64).sum());
    m.insert("upload_bytes_resent".into(), resent as f64);
    m.insert("upload_resent_ratio".into(), resent as f64 / file.max(1) as f64);
    m.insert("chunks_received_twice".into(), v.chunk_maps.values().map(|m| m.2 as f64).sum());
    m.insert("bad_tokens".into(), store.bad_tokens as f64);
    m.insert("uploads_per_s".into(), uploads_main as f64 / secs);
    m.insert("views_per_s".into(), views_main as f64 / secs);
    m.insert("originals_bytes_per_day".into(), held_bytes as f64 * day);
    m.insert("renditions_committed".into(), commits as f64);
    m.insert("renditions_per_day".into(), commits as f64 * day);
    m.insert("rendition_bytes_per_day".into(), store.rendition_bytes as f64 * day);
    m.insert("renditions_found_existing".into(), store.rendition_exists as f64);
    m.insert("transcode_jobs".into(), metrics.scoped_counter("transcode", "jobs") as f64);
    m.insert("produce_failed".into(), store.produce_failed as f64);
    m.insert("sessions".into(), v.sessions.len() as f64);
    m.insert("sessions_ok".into(), ok_sessions.len() as f64);
    m.insert("sessions_stalled".into(), ratios.iter().filter(|&&x| x > 0.0).count() as f64);
    if !ratios.is_empty() {
        m.insert("stall_ratio_p50".into(), percentile(&ratios, 0.5));
        m.insert("stall_ratio_p99".into(), percentile(&ratios, 0.99));
        m.insert("stall_ratio_max".into(), *ratios.last().expect("non-empty"));
        m.insert("startup_p50_ms".into(), percentile(&startup, 0.5));
        m.insert("startup_p99_ms".into(), percentile(&startup, 0.99));
    }
    m.insert("mean_bitrate_kbps".into(), mean(&|s| s.mean_kbps));
    m.insert("bitrate_switches_mean".into(), mean(&|s| s.switches as f64));
    m.insert("origin_fallbacks".into(), metrics.scoped_counter("viewer", "origin_fallbacks") as f64);
    m.insert("edge_requests".into(), cdn.edge.requests as f64);
    m.insert("edge_requests_per_s".into(), cdn.edge.requests as f64 / secs);
    m.insert("edge_hit_ratio".into(), cdn.edge_cache.hit_ratio());
    m.insert("edge_byte_hit_ratio".into(), cdn.edge.byte_hit_ratio());
    m.insert("origin_requests".into(), origin_requests as f64);
    m.insert("origin_requests_per_s".into(), origin_requests as f64 / secs);
    m.insert("meta_hit_ratio".into(), meta.hit_ratio());

    r.tables.push(parts::cache::hit_ratio_table(
        metrics,
        "hit ratio: CDN edge and metadata cache",
        &[("edge", "edge"), ("meta", "metadata")],
    ));
    let interval = metrics.interval.as_secs_f64();
    let rows = metrics
        .scoped_counter_series("origin", "requests")
        .iter()
        .enumerate()
        .map(|(i, n)| vec![i as f64 * interval, *n as f64 / interval])
        .collect();
    r.tables.push(
        Table::new("origin requests per second", ["t_s", "origin_requests_per_s"], rows)
            .over_time(&["origin_requests_per_s"], Axis::new("origin requests", "/s")),
    );
    r
}
