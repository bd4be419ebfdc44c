//! Every `autocomplete` scenario file through the generic driver and the real verdict, and the
//! controls of the known-bad ones.

use autocomplete::{Autocomplete, Config, Strategy};
use sim_core::record::RunRecord;
use sim_core::scenario::Scenario;
use sim_core::testkit::{self, check, failed_checks, measure};

fn load(name: &str) -> Scenario<Config> {
    let path = format!("{}/../../scenarios/{name}.ron", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    testkit::parse_and_validate::<Autocomplete>(&path, &text)
}

fn run(name: &str) -> RunRecord {
    testkit::run_as_expected::<Autocomplete>(&load(name)).0
}

#[test]
fn the_cached_trie_answers_exactly_without_banned_words_within_the_sla() {
    let r = run("autocomplete");
    assert!(check(&r, "top5_exact").passed && check(&r, "no_banned").passed);
    assert!(measure(&r, "suggest_answered") > 10_000.0);
    assert_eq!(measure(&r, "shadow_mismatches"), 0.0, "walk and SQL scan agree with the cache");
    // The weekly job ran (at 0, 4 and 8 s) and every version answered.
    assert_eq!(measure(&r, "versions_built"), 3.0);
    assert_eq!(measure(&r, "versions_answering"), 3.0);
    assert!(measure(&r, "ban_visible_max_ms") < 10.0);
    // The table: the cache reads the path and its list; the walk visits the subtree; the scan
    // reads every row under the prefix.
    let t = r.model_report.tables.iter().find(|t| t.name == "strategy work per query").expect("the table");
    assert_eq!(t.rows.len(), 3);
    let (cached, walk, sql) = (&t.rows[0], &t.rows[1], &t.rows[2]);
    assert!(cached[2] < 11.0, "nodes per query {}", cached[2]);
    assert!(walk[2] > 50.0 * cached[2], "walk nodes {} vs {}", walk[2], cached[2]);
    assert!(sql[3] > 20.0 * cached[3], "rows {} vs entries {}", sql[3], cached[3]);
    assert!(sql[5] > 10.0 * cached[5], "service p99 {} vs {}", sql[5], cached[5]);
    // Shards by first letter are uneven: a-f carries over a third.
    let shards = r.model_report.tables.iter().find(|t| t.name == "load per shard").expect("the shard table");
    assert_eq!(shards.rows.len(), 4);
    assert!((shards.rows.iter().map(|row| row[1]).sum::<f64>() - 1.0).abs() < 1e-9);
    assert!(measure(&r, "shard_skew") > 1.2, "{}", measure(&r, "shard_skew"));
}

/// Control for autocomplete_sql_like: the same run answered from the trie's per-node cache meets
/// the latency SLA; the SQL scan's answers were exact, only slow.
#[test]
fn control_the_sql_like_scan_misses_the_latency_sla_and_the_cached_trie_meets_it() {
    let c =
        testkit::control::<Autocomplete>(&load("autocomplete_sql_like"), |sc| sc.config.serve = Strategy::Cached, &[]);
    assert!(check(&c.original, "top5_exact").passed, "slow, not wrong");
    assert!(check(&c.original, "no_banned").passed);
    assert!(failed_checks(&c.original).is_empty());
    assert!(measure(&c.original, "entries_mean") > 20.0 * measure(&c.fixed, "entries_mean"));
}

/// Control for autocomplete_no_query_filter: the word banned after the build is served until
/// the next build; the query-time filter removes it at once.
#[test]
fn control_the_build_filter_alone_serves_a_word_banned_after_the_build_and_the_query_filter_removes_it() {
    let c = testkit::control::<Autocomplete>(
        &load("autocomplete_no_query_filter"),
        |sc| sc.config.query_filter = true,
        &[],
    );
    assert_eq!(failed_checks(&c.original), vec!["no_banned".to_string()]);
    assert!(measure(&c.original, "answers_with_banned") > 50.0);
    assert_eq!(measure(&c.fixed, "answers_with_banned"), 0.0);
}

/// With both filters off the words banned from the start are served all run; the check fails.
#[test]
fn known_bad_no_filter_at_all_serves_the_words_banned_from_the_start() {
    let mut sc = load("autocomplete");
    sc.config.build_filter = false;
    sc.config.query_filter = false;
    sc.config.bans_later.clear();
    let (r, _) = testkit::run_and_judge::<Autocomplete>(&sc, None);
    assert_eq!(failed_checks(&r), vec!["no_banned".to_string()]);
    assert!(check(&r, "top5_exact").passed, "the index is right; the policy is not");
    assert!(measure(&r, "answers_with_banned") > 100.0);
}

/// Control for autocomplete_cache_only_5: with 10 cached per node the query-time filter still
/// has 5 to answer after a ban.
#[test]
fn control_caching_only_five_answers_short_after_a_ban_and_ten_cached_answer_five() {
    let c = testkit::control::<Autocomplete>(&load("autocomplete_cache_only_5"), |sc| sc.config.k_cached = 10, &[]);
    assert_eq!(failed_checks(&c.original), vec!["top5_exact".to_string()]);
    assert!(check(&c.original, "no_banned").passed);
}
