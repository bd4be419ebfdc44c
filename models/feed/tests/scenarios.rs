//! Every `feed` scenario file through the generic driver and the real verdict, with the numbers
//! that make each one's point, and the controls: each known-bad run again with the hybrid.

use feed::{Config, Feed, Strategy};
use sim_core::record::RunRecord;
use sim_core::scenario::Scenario;
use sim_core::testkit::{self, measure};

fn load(name: &str) -> Scenario<Config> {
    let path = format!("{}/../../scenarios/{name}.ron", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    testkit::parse_and_validate::<Feed>(&path, &text)
}

fn hybrid(sc: &mut Scenario<Config>) {
    sc.config.strategy = Strategy::Hybrid;
}

#[test]
fn the_hybrid_passes_both_slas_with_little_work_per_post_and_per_read() {
    let r = testkit::run_as_expected::<Feed>(&load("feed")).0;
    assert!(measure(&r, "visibility_p99_s") < 5.0, "visibility p99 {}", measure(&r, "visibility_p99_s"));
    assert_eq!(measure(&r, "not_visible_by_end"), 0.0);
    // Celebrities are on read: a post is pushed to its author's active followers only.
    assert!(measure(&r, "celebrities") >= 5.0);
    assert!(measure(&r, "cache_writes_per_post") < 200.0, "{}", measure(&r, "cache_writes_per_post"));
    assert!(measure(&r, "store_reads_per_read") < 20.0, "{}", measure(&r, "store_reads_per_read"));
    // Only active users' feeds are cached, at 8 bytes a post ID.
    assert!(measure(&r, "feed_cache_users") <= 1500.0);
    assert_eq!(measure(&r, "feed_cache_bytes"), 8.0 * measure(&r, "feed_cache_entries"));
}

#[test]
fn progress_fails_with_the_servers_down() {
    testkit::assert_progress_fails_with_servers_down::<Feed>(&load("feed"));
}

#[test]
fn control_fanout_write_celebrity() {
    let c = testkit::control::<Feed>(&load("feed_fanout_write_celebrity"), hybrid, &[]);
    let (bad, good): (&RunRecord, &RunRecord) = (&c.original, &c.fixed);
    assert!(measure(bad, "visibility_p99_s") > 120.0);
    assert!(measure(bad, "backlog_max") > 50.0 * measure(good, "backlog_max").max(1.0));
    assert!(measure(bad, "cache_writes_per_post") > 5.0 * measure(good, "cache_writes_per_post"));
    // Fan-out on write makes reads cheap: no store reads at all.
    assert_eq!(measure(bad, "store_reads_per_read"), 0.0);
}

#[test]
fn control_fanout_read() {
    let c = testkit::control::<Feed>(&load("feed_fanout_read"), hybrid, &[]);
    let (bad, good) = (&c.original, &c.fixed);
    assert!(measure(bad, "store_reads_per_read") > 2.0 * measure(good, "store_reads_per_read"));
    assert_eq!(measure(bad, "cache_writes"), 0.0);
    assert_eq!(measure(bad, "feed_cache_bytes"), 0.0);
}

/// Control for feed_cache_evicts: the same run with the cache sized for every user serves every
/// page complete; with 200 feeds and no rebuild, pages miss posts.
#[test]
fn control_a_feed_cache_that_evicts_feeds_without_rebuilding_them_serves_pages_that_miss_posts() {
    let c = testkit::control::<Feed>(&load("feed_cache_evicts"), |sc| sc.config.cache_feeds = None, &[]);
    assert!(testkit::check(&c.original, "feed_order").count.violations.unwrap_or(0) > 10);
    assert_eq!(testkit::check(&c.fixed, "feed_order").count.violations, Some(0));
}
