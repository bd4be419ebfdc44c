//! The checks, over the history's pages and the data service's application log.

use crate::HEADER;
use crate::data::{REASONS, Reason};
use parts::rank::top_of;
use sim_core::metrics::HistoryEntry;
use sim_core::{Check, Duration, Time};
use std::collections::BTreeMap;

/// One answered `open`, decoded from its reply.
#[derive(Clone, Debug)]
pub struct Page<'a> {
    pub entry: &'a HistoryEntry,
    /// Candidates per reason (`None`: the reason did not answer).
    pub candidates: [Option<u64>; REASONS],
    /// Applications the popularity list had counted.
    pub asof: Option<u64>,
    /// `(reason, job)` shown, in page order.
    pub shown: Vec<(usize, u32)>,
}

impl<'a> Page<'a> {
    pub fn decode(entry: &'a HistoryEntry, values: &[u64]) -> Option<Page<'a>> {
        if values.len() < HEADER {
            return None;
        }
        let mut candidates = [None; REASONS];
        for (r, c) in candidates.iter_mut().enumerate() {
            *c = (values[r] != u64::MAX).then_some(values[r]);
        }
        let asof = (values[REASONS] != u64::MAX).then_some(values[REASONS]);
        let shown = values[HEADER..].iter().map(|&v| ((v % 8) as usize, (v / 8) as u32)).collect();
        Some(Page { entry, candidates, asof, shown })
    }

    pub fn count(&self, r: usize) -> usize {
        self.shown.iter().filter(|s| s.0 == r).count()
    }
}

/// The notes' number: at least 5 jobs per reason.
pub const PER_REASON: u64 = 5;

/// `five_per_reason`: every (page, reason) with at least `show` candidates shows `show`.
pub fn five_per_reason(pages: &[Page<'_>], show: u64) -> Check {
    let (mut judged, mut few, mut unanswered, mut bad) = (0u64, 0u64, 0u64, 0u64);
    let mut blamed = Vec::new();
    let mut first = None;
    for p in pages {
        for r in 0..REASONS {
            match p.candidates[r] {
                None => unanswered += 1,
                Some(c) if c < show => few += 1,
                Some(c) => {
                    judged += 1;
                    let n = p.count(r) as u64;
                    if n < show {
                        bad += 1;
                        blamed.push(p.entry);
                        first.get_or_insert((p.entry.op.0, r, n, c));
                    }
                }
            }
        }
    }
    let detail = match first {
        Some((op, r, n, c)) => format!(
            "{bad} of {judged} (page, reason) pairs show fewer than {show}; first: op {op} shows {n} {} jobs of {c} \
             candidates",
            Reason::ALL[r].name()
        ),
        None => format!("every one of {judged} (page, reason) pairs with {show} or more candidates shows {show}"),
    };
    Check::judged("five_per_reason", judged, "(page, reason) pairs")
        .skipped(few, "fewer candidates than the page shows")
        .skipped(unanswered, "the reason did not answer")
        .violations(bad, "short")
        .detail(detail)
        .blame_ops(blamed)
}

/// `no_duplicates`: no job twice on a page.
pub fn no_duplicates(pages: &[Page<'_>]) -> Check {
    let mut bad = 0u64;
    let mut blamed = Vec::new();
    let mut first = None;
    for p in pages {
        let mut jobs: Vec<u32> = p.shown.iter().map(|s| s.1).collect();
        jobs.sort_unstable();
        if let Some(w) = jobs.windows(2).find(|w| w[0] == w[1]) {
            bad += 1;
            blamed.push(p.entry);
            first.get_or_insert((p.entry.op.0, w[0]));
        }
    }
    let detail = match first {
        Some((op, job)) => format!("{bad} of {} pages show a job twice; first: op {op}, job {job}", pages.len()),
        None => format!("{} pages, no job twice on any", pages.len()),
    };
    Check::judged("no_duplicates", pages.len(), "pages")
        .violations(bad, "with a job twice")
        .detail(detail)
        .blame_ops(blamed)
}

/// What `popularity_fresh` found, for the measures.
#[derive(Clone, Debug, Default)]
pub struct Freshness {
    pub judged: u64,
    /// Per judged page: how long before the page was asked the first application it missed was
    /// acknowledged (0 when it missed none), ns.
    pub staleness_ns: Vec<u64>,
}

/// `popularity_fresh`: the popularity part of each page is the counter's top list as of the
/// applications it counted (recomputed from the log: `initial` applications at the start, then
/// `apps` with their acknowledgement times), skipping only jobs shown under another reason; and
/// it misses no application acknowledged more than `bound` before the page was asked.
pub fn popularity_fresh(
    pages: &[Page<'_>],
    apps: &[(u32, u32)],
    initial: usize,
    acked: &[Time],
    fetch: usize,
    bound: Duration,
) -> (Check, Freshness) {
    let pop = Reason::Popularity as usize;
    let mut order: Vec<&Page<'_>> = pages.iter().filter(|p| p.asof.is_some() && p.candidates[pop].is_some()).collect();
    let unanswered = pages.len() - order.len();
    order.sort_by_key(|p| (p.asof, p.entry.op));
    let mut counts: BTreeMap<u64, u64> = BTreeMap::new();
    let mut applied = 0usize;
    let mut top: Vec<(u64, u64)> = Vec::new();
    let mut top_at = usize::MAX;
    let (mut stale, mut wrong, mut bad) = (0u64, 0u64, 0u64);
    let mut f = Freshness::default();
    let mut blamed = Vec::new();
    let mut first = None;
    for p in order {
        let n = (p.asof.expect("filtered") as usize).min(apps.len());
        while applied < n {
            *counts.entry(apps[applied].1 as u64).or_insert(0) += 1;
            applied += 1;
        }
        if top_at != n {
            top = top_of(&counts, fetch);
            top_at = n;
        }
        f.judged += 1;
        // The first application not counted, if it was acknowledged before the page was asked.
        let missed = n.checked_sub(initial).and_then(|i| acked.get(i)).filter(|&&t| t < p.entry.invoke);
        let age = missed.map_or(0, |&t| p.entry.invoke.since(t).as_nanos());
        f.staleness_ns.push(age);
        // The page's popularity jobs, in order, are the oracle's top with other reasons' jobs
        // skipped: walk the oracle list.
        let mine: Vec<u32> = p.shown.iter().filter(|s| s.0 == pop).map(|s| s.1).collect();
        let elsewhere = |j: u32| p.shown.iter().any(|s| s.1 == j && s.0 != pop);
        let mut k = 0usize;
        let mut ok = true;
        for &(job, _) in &top {
            if k == mine.len() {
                break;
            }
            if job as u32 == mine[k] {
                k += 1;
            } else if !elsewhere(job as u32) {
                ok = false;
                break;
            }
        }
        ok &= k == mine.len();
        let too_old = age > bound.as_nanos();
        if !ok || too_old {
            bad += 1;
            blamed.push(p.entry);
            first.get_or_insert((p.entry.op.0, n, age, ok));
        }
        stale += u64::from(too_old);
        wrong += u64::from(!ok);
    }
    let detail = match first {
        Some((op, n, age, ok)) => format!(
            "{stale} pages missed an application acknowledged more than {} ms before they were asked, {wrong} differ \
             from the counter's top list; first: op {op} (counted {n} applications, oldest missed {:.1} ms before{})",
            bound.as_nanos() / 1_000_000,
            age as f64 / 1e6,
            if ok { "" } else { ", list differs" }
        ),
        None => format!(
            "{} pages show the counter's top list, none missing an application older than {} ms",
            f.judged,
            bound.as_nanos() / 1_000_000
        ),
    };
    let c = Check::judged("popularity_fresh", f.judged, "pages")
        .skipped(unanswered, "the popularity reason did not answer")
        .violations(bad, "stale or wrong")
        .detail(detail)
        .blame_ops(blamed);
    (c, f)
}
