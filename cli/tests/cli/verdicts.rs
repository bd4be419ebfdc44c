//! SLAs and invariants decide the exit code.

use crate::support::{read_json, register_scenario, scratch, simctl, write_scenario};

#[test]
fn a_failing_sla_exits_1_and_prints_the_reproduce_command() {
    let dir = scratch("sla-fail");
    // Reads take at least two network hops of 500us: a 100us p99 cannot hold.
    let file = write_scenario(
        &dir,
        "tight.ron",
        &register_scenario(r#"slas: [Latency(op: "read", percentile: 99.0, max: "100us")],"#),
    );
    let r = simctl(&["run", &file, "--out", dir.join("out").to_str().unwrap()]);
    assert_eq!(r.code, 1, "{}{}", r.stdout, r.stderr);
    assert!(r.stdout.contains("FAIL latency.read.p99"), "{}", r.stdout);
    assert!(r.stdout.contains("VERDICT: FAIL (latency.read.p99)"), "{}", r.stdout);
    assert!(r.stdout.contains(&format!("reproduce: simctl run {file} --seed 3")), "{}", r.stdout);
    let json = read_json(&dir.join("out/summary.json"));
    let item =
        json["verdict"]["items"].as_array().unwrap().iter().find(|i| i["name"] == "latency.read.p99").unwrap().clone();
    assert_eq!(item["passed"], false);
    assert!(item["measured"].as_f64().unwrap() >= 1.0, "{item}");
}

#[test]
fn a_passing_sla_exits_0() {
    let dir = scratch("sla-pass");
    let file = write_scenario(
        &dir,
        "loose.ron",
        &register_scenario(
            r#"slas: [Latency(op: "read", percentile: 99.9, max: "1s"), ErrorRate(max: 0.01), Throughput(min_per_s: 100.0)],"#,
        ),
    );
    let r = simctl(&["run", &file, "--out", dir.join("out").to_str().unwrap()]);
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    assert!(r.stdout.contains("PASS latency.read.p99.9"), "{}", r.stdout);
}

#[test]
fn a_known_bad_scenario_failing_for_another_reason_is_reported() {
    let dir = scratch("wrong-reason");
    // Leader reads are fresh, so `fresh_reads` passes: the expectation is not met.
    let file = write_scenario(&dir, "wrong.ron", &register_scenario(r#"expect: Fail(["fresh_reads"]),"#));
    let r = simctl(&["run", &file, "--out", dir.join("out").to_str().unwrap()]);
    assert_eq!(r.code, 1, "{}{}", r.stdout, r.stderr);
    assert!(r.stdout.contains("did NOT fail as expected (expected to fail but passed: fresh_reads)"), "{}", r.stdout);
    assert_eq!(read_json(&dir.join("out/summary.json"))["verdict"]["meets_expectation"], false);
}

#[test]
fn an_invariant_the_model_does_not_check_is_refused() {
    let dir = scratch("unknown-invariant");
    let file = write_scenario(&dir, "inv.ron", &register_scenario(r#"invariants: ["fresh_reads", "serializable"],"#));
    let r = simctl(&["run", &file, "--out", dir.join("out").to_str().unwrap()]);
    assert_eq!(r.code, 2, "{}{}", r.stdout, r.stderr);
    assert!(
        r.stderr
            .contains("invariants[1]: unknown check `serializable` (the model checks: fresh_reads, durable_writes, linearizable, sequentially_consistent, read_your_writes, monotonic_reads)"),
        "{}",
        r.stderr
    );
}

#[test]
fn a_good_scenario_without_a_progress_condition_gets_a_warning() {
    let dir = scratch("no-progress");
    let file = write_scenario(&dir, "safety_only.ron", &register_scenario(""));
    let r = simctl(&["validate", &file]);
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    assert!(r.stderr.contains("warning: a good scenario (expect: Pass) with no progress condition"), "{}", r.stderr);
    let r = simctl(&["run", &file, "--out", dir.join("out").to_str().unwrap()]);
    assert!(r.stderr.contains("no progress condition"), "{}", r.stderr);
    // An availability SLA is one; a known-bad scenario needs none.
    let file = write_scenario(&dir, "ok.ron", &register_scenario("slas: [Availability(min: 0.9)],"));
    let r = simctl(&["validate", &file]);
    assert!(r.code == 0 && !r.stderr.contains("warning"), "{}{}", r.stdout, r.stderr);
    let file = write_scenario(&dir, "bad.ron", &register_scenario(r#"expect: Fail(["fresh_reads"]),"#));
    assert!(!simctl(&["validate", &file]).stderr.contains("warning"));
}

#[test]
fn a_check_that_judged_nothing_fails_as_vacuous_unless_the_scenario_allows_it() {
    let dir = scratch("vacuous");
    // Only writes: `fresh_reads` has no read to judge.
    let writes_only = |extra: &str| {
        register_scenario(extra).replace(r#"ops: [("read", 0.8), ("write", 0.2)]"#, r#"ops: [("write", 1.0)]"#)
    };
    let file = write_scenario(&dir, "v.ron", &writes_only("slas: [Availability(min: 0.9)],"));
    let r = simctl(&["run", &file, "--out", dir.join("out").to_str().unwrap()]);
    assert_eq!(r.code, 1, "{}{}", r.stdout, r.stderr);
    assert!(r.stdout.contains("VACUOUS fresh_reads: VACUOUS: judged no ok reads"), "{}", r.stdout);
    let json = read_json(&dir.join("out/summary.json"));
    assert_eq!(json["verdict"]["failed"][0], "fresh_reads");
    let file = write_scenario(
        &dir,
        "v2.ron",
        &writes_only(
            r#"slas: [Availability(min: 0.9)], may_be_empty: ["fresh_reads", "read_your_writes", "monotonic_reads"],"#,
        ),
    );
    let r = simctl(&["run", &file, "--out", dir.join("out2").to_str().unwrap()]);
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    // The name is validated against the model's checks.
    let file = write_scenario(&dir, "v3.ron", &writes_only(r#"may_be_empty: ["fresh_read"],"#));
    let r = simctl(&["validate", &file]);
    assert_eq!(r.code, 2, "{}{}", r.stdout, r.stderr);
    assert!(r.stderr.contains("may_be_empty[0]: unknown check `fresh_read`"), "{}", r.stderr);
}
