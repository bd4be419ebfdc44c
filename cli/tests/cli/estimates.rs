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
