//! Every crawler scenario file, run through `sim_core::scenario::run` and judged by
//! `sim_core::verdict::evaluate`, with assertions on the checks and measures that make each one
//! good or bad for its stated reason.

use crawler::{Config, Crawl, FrontierKind, UrlDedup};
use sim_core::Duration;
use sim_core::record::RunRecord;
use sim_core::scenario::Scenario;
use sim_core::testkit::{self, measure};
use sim_core::verdict::Verdict;

fn load(name: &str) -> Scenario<Config> {
    let path = format!("{}/../../scenarios/{name}.ron", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    testkit::parse_and_validate::<Crawl>(&path, &text)
}

fn check(r: &RunRecord, name: &str) -> bool {
    testkit::check(r, name).passed
}

fn details(r: &RunRecord) -> String {
    r.model_report.checks.iter().map(|c| format!("{} {}: {}\n", c.name, c.passed, c.detail)).collect()
}

/// A known-bad scenario file as it is and with its cause removed ([`testkit::control`]).
fn control(name: &str, remove_cause: impl FnOnce(&mut Scenario<Config>), still_failing: &[&str]) -> testkit::Control {
    testkit::control::<Crawl>(&load(name), remove_cause, still_failing)
}

/// Runs the scenario file and asserts its verdict (invariants and `Measure` SLAs) is what the
/// file expects.
fn verdict_as_expected(name: &str) -> (Scenario<Config>, RunRecord, Verdict) {
    let sc = load(name);
    let (record, verdict) = testkit::run_as_expected::<Crawl>(&sc);
    (sc, record, verdict)
}

#[test]
fn politeness_scenario_passes_near_the_bound() {
    let (sc, r, verdict) = verdict_as_expected("crawler_politeness");
    // Every SLA of the file was judged, and held; the notes' wrong rate estimate is flagged, as a
    // finding only (it is not strict).
    for name in sc.slas.iter().map(|s| s.name()) {
        assert!(verdict.items.iter().any(|i| i.name == name && i.passed), "{name}: {verdict:?}");
    }
    assert!(verdict.wrong_estimates().any(|e| e.name == "pages_per_s_for_10B_in_5_days"), "{verdict:?}");
    assert!(r.model_report.checks.iter().all(|c| c.passed), "{}", details(&r));
    assert_eq!(measure(&r, "politeness_violations"), 0.0);
    assert_eq!(measure(&r, "pages_never_reached"), 0.0);
    // 99% of the reachable web within 1.33x of the politeness/capacity lower bound.
    assert!(measure(&r, "crawl_efficiency_p99") >= 0.75, "{:?}", r.model_report.measures);
    assert!(measure(&r, "dns_cache_hit_rate") > 0.8);
    // The per-crawler rate of the notes (100 pages/s) is what a crawler does at its peak.
    let peak = measure(&r, "pages_per_s_per_crawler_peak");
    assert!((90.0..=160.0).contains(&peak), "peak per crawler {peak}");
    assert!(measure(&r, "text_bytes_stored") > 0.0);
    assert!(measure(&r, "duplicate_content") > 0.0, "content dedup saw the web's duplicate pages");
}

/// Every reachable page never fetched, by reason: the identity holds on any run.
fn assert_unreached_add_up(r: &RunRecord) {
    let reasons = ["pages_given_up", "pages_pending_end", "pages_behind_unfetched", "pages_lost"];
    let sum: f64 = reasons.iter().map(|m| measure(r, m)).sum();
    assert_eq!(sum, measure(r, "pages_never_reached"), "{:?}", r.model_report.measures);
}

/// No URL is lost across the crashes: every reachable page never fetched was given up after its
/// retries (a flaky host), or is still queued or backing off when the run ends, or is linked only
/// from such pages. (At seed 7 two pages are unreached: page 1467 of a flaky host failed four
/// attempts in a row after its discovery at 11.7 s, long after its crawler's restart, and its
/// fifth attempt is due after the 8 s backoff at 27.9 s, past the run's end at 25 s; page 1466 is
/// linked only from it.)
#[test]
fn crashed_crawlers_lose_no_url_and_fetch_none_twice() {
    let (_, r, _) = verdict_as_expected("crawler_crash_restart");
    assert!(r.model_report.checks.iter().all(|c| c.passed), "{}", details(&r));
    assert_eq!(measure(&r, "crawler_restarts"), 3.0);
    assert_eq!(measure(&r, "pages_lost"), 0.0, "{}", details(&r));
    assert_unreached_add_up(&r);
    assert_eq!(measure(&r, "duplicate_fetches"), 0.0);
    // The excuse path of the duplicate checker was exercised: requests in flight at a crash.
    assert!(measure(&r, "crash_refetches") > 0.0);
}

#[test]
fn control_mercator_back_queues_instead_of_a_fifo_frontier_are_polite() {
    let c = control("crawler_fifo_frontier", |sc| sc.config.frontier = FrontierKind::Mercator, &[]);
    let r = &c.original;
    assert!(!check(r, "politeness"));
    assert!(check(r, "no_duplicate_fetches") && check(r, "coverage"), "{}", details(r));
    assert!(measure(r, "politeness_violations") > 1000.0);
    assert_eq!(measure(&c.fixed, "politeness_violations"), 0.0);
}

#[test]
fn control_a_dns_cache_restores_throughput() {
    let c = control("crawler_no_dns_cache", |sc| sc.config.dns_cache = true, &[]);
    assert!(measure(&c.fixed, "dns_cache_hit_rate") > 0.8);
    let r = &c.original;
    assert!(check(r, "politeness"));
    assert_eq!(measure(r, "dns_cache_hit_rate"), 0.0);
    // The crawlers could do 20 x 100 pages/s, and politeness allows `pages_per_s_bound` over the
    // crawl; without the cache even the peak stays far below both.
    let (peak, bound) = (measure(r, "pages_per_s_peak"), measure(r, "pages_per_s_bound"));
    assert!(peak < 0.4 * bound, "peak {peak} pages/s without the cache, bound {bound}");
    assert!(measure(r, "crawl_efficiency_p99") < 0.5);
    assert!(measure(r, "fetch_latency_p50_ms") > 300.0, "fetchers wait on the resolver");
}

#[test]
fn control_url_dedup_fetches_no_page_twice() {
    let c = control("crawler_no_dedup", |sc| sc.config.url_dedup = UrlDedup::Exact, &[]);
    let r = &c.original;
    assert!(!check(r, "no_duplicate_fetches"));
    assert!(check(r, "politeness"));
    assert!(measure(r, "duplicate_fetches") > measure(r, "pages_reached"), "{:?}", r.model_report.measures);
    assert_eq!(measure(r, "crash_refetches"), 0.0);
}

#[test]
fn control_exact_url_dedup_instead_of_an_undersized_bloom_filter_loses_no_page() {
    let c = control("crawler_bloom_filter", |sc| sc.config.url_dedup = UrlDedup::Exact, &[]);
    let r = &c.original;
    assert!(!check(r, "coverage"));
    let lost = measure(r, "pages_never_reached") / measure(r, "pages_reachable");
    let mean_fp = measure(r, "bloom_fp_rate_formula_mean");
    let final_fp = measure(r, "bloom_fp_rate_formula_final");
    // A URL is lost at its discovery's false-positive rate (plus pages only it linked to).
    assert!(lost > 0.5 * mean_fp && lost < 2.0 * final_fp, "lost {lost}, formula mean {mean_fp}, final {final_fp}");
    // A Bloom filter large enough for the crawl loses (next to) nothing either.
    let mut big = load("crawler_bloom_filter");
    big.config.url_dedup = UrlDedup::Bloom { bits: 1 << 16, hashes: 5 };
    let r = testkit::run_record::<Crawl>(&big, None);
    assert!(check(&r, "coverage"), "{}", details(&r));
}

#[test]
fn a_run_is_a_function_of_its_seed() {
    let sc = load("crawler_crash_restart");
    let a = testkit::run_record::<Crawl>(&sc, None);
    testkit::assert_same_run(&a, &testkit::run_record::<Crawl>(&sc, None));
    let c = testkit::run_record::<Crawl>(&sc, Some(sc.seed + 1));
    assert_ne!(a.trace_hash, c.trace_hash);
}

#[test]
fn validate_names_the_field() {
    let mut sc = load("crawler_politeness");
    sc.topology.servers = 100;
    sc.config.web.latency_max = sc.config.fetch_timeout;
    sc.config.fetchers = 0;
    let paths: Vec<String> = sc.validate::<Crawl>().into_iter().map(|p| p.path).collect();
    for p in ["topology.servers", "config.web.latency_max", "config.fetchers"] {
        assert!(paths.iter().any(|x| x == p), "{p} not in {paths:?}");
    }
}

#[test]
fn control_a_persisted_frontier_loses_no_url_and_refetches_no_page_after_crashes() {
    let c = control("crawler_no_persistence", |sc| sc.config.persist_frontier = true, &[]);
    let r = &c.original;
    assert!(check(r, "politeness"));
    assert_eq!(measure(r, "crawler_restarts"), 3.0);
    assert!(measure(r, "duplicate_fetches") > 100.0);
    assert!(measure(r, "pages_never_reached") > 0.0);
    // URLs queued at a crash are forgotten: the loss the crash test holds at 0 is measured here.
    assert!(measure(r, "pages_lost") > 0.0, "{}", details(r));
    assert_unreached_add_up(r);
    // The same three crashes and restarts in the control.
    assert_eq!(measure(&c.fixed, "crawler_restarts"), 3.0);
    assert_eq!(measure(&c.fixed, "duplicate_fetches"), 0.0);
    assert_eq!(measure(&c.fixed, "pages_lost"), 0.0, "{}", details(&c.fixed));
    assert_unreached_add_up(&c.fixed);
}

#[test]
fn the_notes_rate_claim_is_stated_and_wrong() {
    let sc = load("crawler_politeness");
    let est = |name: &str| sc.estimates.iter().find(|e| e.name == name).unwrap_or_else(|| panic!("no estimate {name}"));
    let rate = est("pages_per_s_for_10B_in_5_days");
    let i = |k: &str| rate.inputs[k].value().expect("a number");
    let actual = i("pages") / (i("days") * i("seconds_per_day"));
    assert!((actual - 23_148.1).abs() < 1.0);
    assert_eq!(rate.claimed, 2000.0, "the notes' figure is stated as claimed");
    assert!((rate.claimed - actual).abs() / actual > 0.05, "so the verdict flags it");
    // The crawler count takes the recomputed rate, not the claimed 2,000, so it is flagged too.
    let (_, verdict) = testkit::run_and_judge::<Crawl>(&sc, None);
    let crawlers = verdict.estimates.iter().find(|e| e.name == "crawlers_needed_for_10B_in_5_days").expect("judged");
    assert!((crawlers.computed - actual / 100.0).abs() < 1e-6, "{crawlers:?}");
    assert!(!crawlers.arithmetic_ok && crawlers.claimed == 20.0);
    assert_eq!(crawlers.depends_on_flagged, ["pages_per_s_for_10B_in_5_days"]);
}

/// Every good crawler scenario has a progress condition, and it fails when every server is down (a
/// run that passes its safety checks by doing nothing must not pass).
#[test]
fn good_scenarios_fail_their_progress_conditions_with_every_server_down() {
    let dir = std::fs::read_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/../../scenarios")).expect("scenarios");
    let names = testkit::scenario_names(dir.filter_map(|e| e.ok()?.file_name().into_string().ok()), "crawler");
    let scenarios: Vec<Scenario<Config>> = names.iter().map(|n| load(n)).collect();
    assert!(testkit::assert_good_scenarios_need_progress::<Crawl>(&scenarios) >= 2);
}

/// Three web hosts (n21-n23) crash for a second at 12 s: the pages they served before are still
/// served, and every check holds. Found by a review of the checkers' inputs: the hosts' logs of
/// serves lived in the host actors, so the crash took them back and `coverage` counted 40 pages
/// as never fetched (42 of 14,838 against 2).
#[test]
fn a_web_host_crash_does_not_take_back_the_pages_it_served() {
    let mut sc = load("crawler_crash_restart");
    for node in 21..=23 {
        testkit::add_crash(&mut sc, Duration::from_secs(12), Some(Duration::from_secs(1)), node);
    }
    let (r, v) = testkit::run_and_judge::<Crawl>(&sc, None);
    assert!(v.failed.is_empty(), "failed: {:?}", v.failed);
    assert!(check(&r, "coverage"));
}

/// Web host n464 stalls for 10 s at 1.86 s (a process pause; seed 3 of a pause round, `--set
/// 'faults.nemesis=Some((pauses_per_min: 1.5, pause_duration: "10s"))'`): the crawler's fetches
/// time out and are retried after the backoff; on resume the host holds the given-up requests and
/// the retries together and serves all of them. The crawler had one request in flight at a time,
/// so neither check blames it (they did: 4 impolite requests, 4 duplicate fetches), and the host's
/// record shows what it saw. The Fifo frontier under the same stall is still impolite.
#[test]
fn a_host_stalled_past_the_fetch_timeout_is_not_the_crawlers_impoliteness() {
    let mut sc = load("crawler_politeness");
    sc.seed = 3;
    testkit::add_pause(&mut sc, Duration::from_millis(1_860), Duration::from_secs(10), 464);
    let (r, v) = testkit::run_and_judge::<Crawl>(&sc, None);
    assert!(v.failed.is_empty(), "failed: {:?}\n{}", v.failed, details(&r));
    assert!(measure(&r, "requests_after_given_up") >= 1.0, "{}", details(&r));
    assert!(measure(&r, "timeout_refetches") >= 1.0, "{}", details(&r));
    let mut fifo = sc.clone();
    fifo.config.frontier = FrontierKind::Fifo;
    let (r, _) = testkit::run_and_judge::<Crawl>(&fifo, None);
    assert!(!check(&r, "politeness"), "{}", details(&r));
}

/// A combined nemesis round (crashes, partitions, pauses, clock faults) failed
/// `crawler_crash_restart` seed 0 on `no_duplicate_fetches`: a split cut crawlers from hosts for
/// 3 s; hosts served fetches whose answers the split dropped, the crawlers' fetch timeouts fired,
/// and their retries fetched those pages again. The crawler cannot know an answer was lost; the
/// check excuses a retry by the same incarnation after a fetch of the page timed out (counted),
/// and no other second fetch. Here every answer from the hosts to the crawlers is cut for 3 s.
#[test]
fn a_retry_after_an_answer_lost_on_the_way_back_is_not_a_duplicate_fetch() {
    let mut sc = load("crawler_crash_restart");
    sc.seed = 0;
    let hosts: Vec<u32> = (sc.config.crawlers + 1..sc.topology.servers).collect();
    sc.faults.schedule.push(sim_core::fault::ScheduledFault {
        at: Duration::from_secs(14),
        duration: Some(Duration::from_secs(3)),
        fault: sim_core::fault::Fault::Partition(sim_core::net::PartitionSpec::OneWay {
            from: hosts,
            to: (0..sc.config.crawlers).collect(),
        }),
    });
    let (r, v) = testkit::run_and_judge::<Crawl>(&sc, None);
    assert!(v.failed.is_empty(), "failed: {:?}\n{}", v.failed, details(&r));
    assert!(measure(&r, "lost_answer_refetches") >= 1.0, "{}", details(&r));
    // The excuse is no blanket: without dedup the same run still fetches pages twice.
    let mut no_dedup = sc.clone();
    no_dedup.config.url_dedup = UrlDedup::None;
    let (r, _) = testkit::run_and_judge::<Crawl>(&no_dedup, None);
    assert!(!check(&r, "no_duplicate_fetches"), "{}", details(&r));
}
