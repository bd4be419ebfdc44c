//! Every shortener scenario file through the generic driver and judged by the real verdict: good ones pass all their checks,
//! known-bad ones fail exactly the checks they name.

use shortener::{Config, Shortener};
use sim_core::record::RunRecord;
use sim_core::scenario::Scenario;
use sim_core::testkit::{self, measure};

fn load(name: &str) -> Scenario<Config> {
    let path = format!("{}/../../scenarios/{name}.ron", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    testkit::parse_and_validate::<Shortener>(&path, &text)
}

/// A known-bad scenario file as it is and with its cause removed ([`testkit::control`]).
fn control(name: &str, remove_cause: impl FnOnce(&mut Scenario<Config>), still_failing: &[&str]) -> testkit::Control {
    testkit::control::<Shortener>(&load(name), remove_cause, still_failing)
}

/// Runs a scenario file and asserts its verdict is what the file expects.
fn check(name: &str) -> RunRecord {
    testkit::run_as_expected::<Shortener>(&load(name)).0
}

#[test]
fn id_scheme_at_the_notes_rates() {
    let r = check("shortener");
    let (w, rd) = (r.op("shorten").unwrap(), r.op("redirect").unwrap());
    assert!((1_050.0..1_270.0).contains(&w.throughput_ok_per_s), "{}", w.throughput_ok_per_s);
    assert!((11_000.0..12_200.0).contains(&rd.throughput_ok_per_s), "{}", rd.throughput_ok_per_s);
    // A write is a network round trip to the shard plus a synced disk write; a cache hit is none.
    assert!(w.latency_ms.p50 > rd.latency_ms.p50);
    // Snowflake IDs a year past their epoch take 10 base-62 symbols, not the notes' 7.
    assert_eq!(measure(&r, "short_url_len_max"), 10.0);
    // The hit ratio grows with the cache, up to the share of repeat reads.
    let t = &r.model_report.tables[0];
    let ratios: Vec<f64> = t.rows.iter().map(|row| row[1]).collect();
    assert!(ratios.windows(2).all(|w| w[0] <= w[1]), "{ratios:?}");
    assert!(ratios[0] < 0.3 && *ratios.last().unwrap() > 0.5, "{ratios:?}");
    let live = measure(&r, "cache_hit_ratio");
    let shadow_1000 = t.rows.iter().find(|row| row[0] == 1000.0).unwrap()[1];
    assert!((live - shadow_1000).abs() < 0.01, "the live cache is the 1,000-entry shadow: {live} vs {shadow_1000}");
}

#[test]
fn hash_scheme_resolves_collisions_and_bloom_matches_its_formula() {
    let r = check("shortener_hash");
    assert!(measure(&r, "hash_collisions_resolved") > 20.0);
    let (fp, formula) = (measure(&r, "bloom_fp_rate"), measure(&r, "bloom_fp_rate_formula"));
    assert!(fp > 0.0 && (fp - formula).abs() < 0.6 * formula, "measured {fp}, formula {formula}");
    assert!(measure(&r, "db_reads_saved_by_bloom") > 500.0);
}

#[test]
fn control_collision_handling_keeps_truncated_hashes_one_url_per_code() {
    let c = control("shortener_hash_collision", |sc| sc.config.collision_handling = true, &[]);
    assert!(measure(&c.original, "short_codes_collided") > 100.0);
    assert!(measure(&c.original, "wrong_redirects") > 100.0);
    assert!(measure(&c.fixed, "hash_collisions_resolved") > 100.0, "the same collisions, resolved");
}

#[test]
fn permanent_redirects_hide_repeat_visits_from_the_service() {
    let p = check("shortener_301");
    let t = check("shortener");
    assert!(measure(&p, "redirects_reaching_service_share") < 0.7);
    assert_eq!(measure(&t, "redirects_reaching_service_share"), 1.0);
}

#[test]
fn rate_limiter_throttles_heavy_creators_and_not_reads() {
    let r = check("shortener_rate_limited");
    let free = check("shortener");
    let w = r.op("shorten").unwrap();
    let throttled = measure(&r, "shorten_throttled");
    assert_eq!(w.rejected as f64, throttled);
    // Zipf's heaviest user alone makes ~8% of ~1,160 calls/s against a limit of 5/s.
    assert!(throttled > 50.0 && throttled < 0.5 * w.total as f64, "{throttled} of {}", w.total);
    assert_eq!(free.op("shorten").unwrap().rejected, 0);
    assert_eq!(r.op("redirect").unwrap().rejected, 0, "reads are not limited");
}

#[test]
fn runs_are_deterministic() {
    let sc = load("shortener_hash");
    let a = testkit::run_record::<Shortener>(&sc, None);
    testkit::assert_same_run(&a, &testkit::run_record::<Shortener>(&sc, None));
}

#[test]
fn bad_config_is_reported_with_its_path() {
    let mut sc = load("shortener");
    sc.config.web_servers = 4;
    sc.config.hash_chars = 0;
    let paths: Vec<String> = sc.validate::<Shortener>().into_iter().map(|p| p.path).collect();
    assert!(paths.contains(&"config.web_servers".to_string()), "{paths:?}");
    assert!(paths.contains(&"config.hash_chars".to_string()), "{paths:?}");
}

/// Every shortener scenario keeps its expected verdict over more seeds (3 by default; set
/// `SIMCTL_SWEEP_SEEDS` for a longer sweep).
#[test]
fn expected_verdicts_hold_over_a_seed_sweep() {
    let dir = std::fs::read_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/../../scenarios")).expect("scenarios");
    let names = testkit::scenario_names(dir.filter_map(|e| e.ok()?.file_name().into_string().ok()), "shortener");
    assert!(names.len() >= 4, "{names:?}");
    let seeds = testkit::sweep_seeds(std::env::var("SIMCTL_SWEEP_SEEDS").ok().as_deref(), 3);
    testkit::assert_expectations_over_seeds::<Shortener>(&names.iter().map(|n| load(n)).collect::<Vec<_>>(), seeds);
}

/// Every good shortener scenario has a progress condition, and it fails when every server is down (a
/// run that passes its safety checks by doing nothing must not pass).
#[test]
fn good_scenarios_fail_their_progress_conditions_with_every_server_down() {
    let dir = std::fs::read_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/../../scenarios")).expect("scenarios");
    let names = testkit::scenario_names(dir.filter_map(|e| e.ok()?.file_name().into_string().ok()), "shortener");
    let scenarios: Vec<Scenario<Config>> = names.iter().map(|n| load(n)).collect();
    assert!(testkit::assert_good_scenarios_need_progress::<Shortener>(&scenarios) >= 4);
}
