//! `simctl explore`: finds the rare failure and writes it as a scenario that fails when run, gives
//! the same result for any `--jobs`, finds nothing on the control, and refuses bad input.

use crate::support::{read_json, repo_root, scratch, simctl};

fn scenario(name: &str) -> String {
    repo_root().join(format!("scenarios/explore/{name}.ron")).display().to_string()
}

#[test]
fn explore_finds_the_rare_failure_the_same_for_any_jobs_and_the_found_file_fails_when_run() {
    let dir = scratch("explore");
    let file = scenario("register_rare_power_loss");
    let mut results = Vec::new();
    for jobs in ["1", "2"] {
        let out = dir.join(format!("out{jobs}"));
        let r = simctl(&["explore", &file, "--runs", "120", "--jobs", jobs, "--out", out.to_str().unwrap()]);
        assert_eq!(r.code, 1, "a failure was found: {}{}", r.stdout, r.stderr);
        assert!(r.stdout.contains("FOUND at run") && r.stdout.contains("durable_writes"), "{}", r.stdout);
        let mut json = read_json(&out.join("explore.json"));
        let found = json["found"]["file"].as_str().expect("the found file is named").to_string();
        json["found"]["file"] = serde_json::Value::Null;
        results.push(json);
        // The found run is a scenario file: `simctl run` fails it the same way.
        let run = simctl(&["run", &found, "--out", dir.join(format!("run{jobs}")).to_str().unwrap()]);
        assert_eq!(run.code, 1, "{}{}", run.stdout, run.stderr);
        assert!(run.stdout.contains("durable_writes"), "{}", run.stdout);
    }
    assert_eq!(results[0], results[1], "the search does not depend on --jobs");
    assert!(results[0]["coverage"].as_u64().unwrap() > 0);
}

#[test]
fn control_register_rare_power_loss_explore_finds_nothing_and_exits_0() {
    let dir = scratch("explore_control");
    let out = dir.join("out");
    let file = scenario("register_rare_power_loss_control");
    let r = simctl(&["explore", &file, "--runs", "120", "--target", "durable_writes", "--out", out.to_str().unwrap()]);
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    assert!(r.stdout.contains("explored 120 runs") && r.stdout.contains("no run failed"), "{}", r.stdout);
    let json = read_json(&out.join("explore.json"));
    assert!(json["found"].is_null() && json["runs"] == 120, "{json}");
}

#[test]
fn explore_refuses_a_missing_file_and_a_bad_scenario() {
    let r = simctl(&["explore", "no/such/file.ron"]);
    assert_eq!(r.code, 2, "{}{}", r.stdout, r.stderr);
    let dir = scratch("explore_bad");
    let bad = dir.join("bad.ron");
    std::fs::write(&bad, "Scenario(name: \"x\", model: \"register\", duration: \"oops\")").unwrap();
    let r = simctl(&["explore", bad.to_str().unwrap()]);
    assert_eq!(r.code, 2, "{}{}", r.stdout, r.stderr);
    assert!(r.stderr.contains("duration"), "{}", r.stderr);
}
