//! The estimate checker through the CLI: a wrong product is flagged (and fails the run only when
//! strict), a right one is accepted and put beside the measured value.

use crate::support::{read_json, register_scenario, scratch, simctl, write_scenario};

const ESTIMATES: &str = r#"estimates: [
    (name: "crawl", expr: "crawlers * pages_per_s * 86400 * days",
     inputs: {"crawlers": 20.0, "pages_per_s": 100.0, "days": 5.0}, claimed: 10e9 STRICT),
    (name: "ops", expr: "rate_per_s * 2", inputs: {"rate_per_s": 200.0}, claimed: 400.0,
     measured: Some("throughput"), measured_scale: Some(2.0)),
],"#;

#[test]
fn a_wrong_product_is_flagged_and_a_right_one_accepted() {
    let dir = scratch("estimates");
    let file = write_scenario(&dir, "est.ron", &register_scenario(&ESTIMATES.replace(" STRICT", "")));
    let r = simctl(&["run", &file, "--out", dir.join("out").to_str().unwrap()]);
    // Not strict: a finding, printed prominently, but the run passes.
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    assert!(r.stdout.contains("!!!!! estimate.crawl: WRONG ARITHMETIC"), "{}", r.stdout);
    assert!(r.stdout.contains("1 estimate(s) with WRONG ARITHMETIC"), "{}", r.stdout);
    assert!(r.stdout.contains("ok    estimate.ops"), "{}", r.stdout);
    let json = read_json(&dir.join("out/summary.json"));
    let est = json["estimates"].as_array().unwrap();
    assert_eq!(est[0]["arithmetic_ok"], false);
    assert_eq!(est[0]["computed"].as_f64().unwrap(), 864e6);
    assert_eq!(est[1]["arithmetic_ok"], true);
    // The measured throughput (x2) beside the claim, with the ratio.
    let measured = est[1]["measured"].as_f64().unwrap();
    let throughput: f64 =
        json["ops"].as_array().unwrap().iter().map(|o| o["throughput_ok_per_s"].as_f64().unwrap()).sum();
    assert!((measured - 2.0 * throughput).abs() < 1e-9, "{measured} vs {throughput}");
    assert!((est[1]["ratio"].as_f64().unwrap() - measured / 400.0).abs() < 1e-12);
}

#[test]
fn a_strict_wrong_estimate_fails_the_run() {
    let dir = scratch("estimates-strict");
    let file = write_scenario(&dir, "est.ron", &register_scenario(&ESTIMATES.replace(" STRICT", ", strict: true")));
    let r = simctl(&["run", &file, "--out", dir.join("out").to_str().unwrap()]);
    assert_eq!(r.code, 1, "{}{}", r.stdout, r.stderr);
    assert!(r.stdout.contains("VERDICT: FAIL (estimate.crawl)"), "{}", r.stdout);
    assert!(r.stdout.contains("(strict: fails the run)"), "{}", r.stdout);
}

#[test]
fn a_measured_value_off_from_its_claim_and_a_chain_on_a_wrong_estimate_are_findings() {
    let dir = scratch("estimates-measured");
    let estimates = r#"estimates: [
    (name: "per day", expr: "rate_per_s * 86400", inputs: {"rate_per_s": 200.0}, claimed: 17.28e6),
    (name: "per week", expr: "per_day * 7", inputs: {"per_day": "estimate.per day"}, claimed: 121e6),
    (name: "crawl", expr: "crawlers * pages_per_s * 86400 * days",
     inputs: {"crawlers": 20.0, "pages_per_s": 100.0, "days": 5.0}, claimed: 10e9),
    (name: "crawlers", expr: "pages / crawl * 20", inputs: {"pages": 10e9, "crawl": "estimate.crawl"}, claimed: 20.0),
    (name: "state", expr: "keys * 16", inputs: {"keys": 1000.0}, claimed: 16000.0, measured: Some("state_bytes")),
],"#;
    let file = write_scenario(&dir, "est.ron", &register_scenario(estimates));
    let r = simctl(&["run", &file, "--out", dir.join("out").to_str().unwrap()]);
    assert_eq!(r.code, 0, "findings, not failures: {}{}", r.stdout, r.stderr);
    // A chain on a right estimate is fine; on a wrong one it is recomputed (231 crawlers, not 20).
    assert!(r.stdout.contains("ok    estimate.per week"), "{}", r.stdout);
    assert!(r.stdout.contains("!!!!! estimate.crawlers: WRONG ARITHMETIC"), "{}", r.stdout);
    assert!(r.stdout.contains("depends on estimate.crawl, which is flagged (WRONG ARITHMETIC)"), "{}", r.stdout);
    // The register holds 24 bytes a key, for the keys written: not 16 for 1,000.
    assert!(r.stdout.contains("!!!!! estimate.state:"), "{}", r.stdout);
    assert!(r.stdout.contains("MEASURED OFF: the simulation measured state_bytes = "), "{}", r.stdout);
    assert!(r.stdout.contains("1 estimate(s) MEASURED OFF"), "{}", r.stdout);
    let json = read_json(&dir.join("out/summary.json"));
    let est = json["estimates"].as_array().unwrap();
    assert_eq!(est[3]["depends_on_flagged"][0], "crawl");
    assert!((est[3]["computed"].as_f64().unwrap() - 231.48).abs() < 0.01, "{}", est[3]);
    assert_eq!(est[4]["measured_ok"], false);
    // An unknown estimate in an input is refused with its path.
    let bad = write_scenario(
        &dir,
        "bad.ron",
        &register_scenario(r#"estimates: [(name: "a", expr: "x", inputs: {"x": "estimate.nope"}, claimed: 1.0)],"#),
    );
    let r = simctl(&["validate", &bad]);
    assert_eq!(r.code, 2, "{}{}", r.stdout, r.stderr);
    let all = format!("{}{}", r.stdout, r.stderr);
    assert!(all.contains("estimates[0].inputs[\"x\"]: no estimate is named `nope`"), "{all}");
}
