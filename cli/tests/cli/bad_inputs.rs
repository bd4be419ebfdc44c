//! Broken scenarios: each fixture in `tests/fixtures/bad/` states the errors it must produce in
//! `// expect: ...` lines; `simctl validate` and `simctl run` both exit 2 with them.

use crate::support::{repo_root, scratch, simctl, write_scenario};

fn fixtures() -> Vec<(String, Vec<String>)> {
    let dir = repo_root().join("cli/tests/fixtures/bad");
    let mut out: Vec<(String, Vec<String>)> = std::fs::read_dir(&dir)
        .expect("fixture folder")
        .filter_map(|e| e.ok())
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "ron"))
        .map(|p| {
            let text = std::fs::read_to_string(&p).unwrap();
            let expects: Vec<String> =
                text.lines().filter_map(|l| l.strip_prefix("// expect: ")).map(|s| s.to_string()).collect();
            (format!("cli/tests/fixtures/bad/{}", p.file_name().unwrap().to_string_lossy()), expects)
        })
        .collect();
    out.sort();
    assert!(out.len() >= 8, "fixtures: {}", out.len());
    out
}

#[test]
fn each_broken_scenario_gives_its_error_with_position_and_path() {
    for (file, expects) in fixtures() {
        assert!(!expects.is_empty(), "{file} states no `// expect:` line");
        let r = simctl(&["validate", &file]);
        assert_eq!(r.code, 2, "{file}: {}{}", r.stdout, r.stderr);
        for e in &expects {
            assert!(r.stderr.contains(e.as_str()), "{file}: expected\n  {e}\nin\n{}", r.stderr);
        }
        // Every line is `file:line:col: ...`.
        for line in r.stderr.lines() {
            let rest = line.strip_prefix(&format!("{file}:")).unwrap_or_else(|| panic!("{line}"));
            let mut parts = rest.splitn(3, ':');
            assert!(parts.next().unwrap().parse::<u32>().is_ok(), "no line in {line}");
            assert!(parts.next().unwrap().parse::<u32>().is_ok(), "no column in {line}");
        }
        let out = scratch("bad-run");
        let r = simctl(&["run", &file, "--out", out.to_str().unwrap()]);
        assert_eq!(r.code, 2, "run {file}: {}{}", r.stdout, r.stderr);
        assert!(r.stderr.contains(expects[0].as_str()), "run {file}: {}", r.stderr);
    }
}

#[test]
fn validation_reports_every_problem_not_just_the_first() {
    let r = simctl(&["validate", "cli/tests/fixtures/bad/many_problems.ron"]);
    assert_eq!(r.stderr.lines().count(), 6, "{}", r.stderr);
}

#[test]
fn a_missing_file_is_an_io_error() {
    let r = simctl(&["run", "scenarios/does_not_exist.ron"]);
    assert_eq!(r.code, 2);
    assert!(r.stderr.contains("cannot read scenarios/does_not_exist.ron"), "{}", r.stderr);
    let r = simctl(&["validate", "scenarios/does_not_exist.ron", "scenarios/register.ron"]);
    assert_eq!(r.code, 2);
    assert!(r.stdout.contains("scenarios/register.ron: ok"), "{}", r.stdout);
}

#[test]
fn an_unwritable_report_folder_is_an_io_error() {
    let dir = scratch("unwritable");
    let file = dir.join("a_file");
    std::fs::write(&file, "not a folder").unwrap();
    let r = simctl(&["run", "scenarios/register.ron", "--out", file.join("sub").to_str().unwrap()]);
    assert_eq!(r.code, 2, "{}{}", r.stdout, r.stderr);
    assert!(r.stderr.contains("cannot write the report"), "{}", r.stderr);
}

/// A scenario of `model` with `body` (fields after `model`), written to a scratch file.
fn scenario(dir: &std::path::Path, name: &str, model: &str, body: &str) -> String {
    write_scenario(dir, name, &format!("Scenario(name: \"{name}\", model: \"{model}\", {body})"))
}

/// Sizes inside the validation limits that used to abort on a failed allocation (signal 6, no
/// message), or to run on without a word of their cost: refused before they start, with exit 2 and
/// the estimate part by part.
#[test]
fn a_run_that_would_not_fit_in_memory_is_refused_with_its_estimate() {
    let dir = scratch("too-big");
    let load = r#"workload: (ops: [("read", 0.8), ("write", 0.2)], arrival: OpenLoop(rate_per_s: 100.0))"#;
    let cases = [
        // (model, body, the part of the estimate that must be named)
        (
            "dynamo",
            r#"duration: "2s", topology: (servers: 5000000, clients: 1),
               workload: (ops: [("get", 0.8), ("put", 0.2)], arrival: OpenLoop(rate_per_s: 100.0))"#
                .to_string(),
            "heartbeats: 5.0 million servers squared",
        ),
        ("register", format!(r#"duration: "2s", topology: (servers: 5000000, clients: 1), {load}"#), "registers:"),
        (
            "register",
            r#"duration: "2s", topology: (servers: 3, clients: 1),
               workload: (ops: [("read", 1.0)], arrival: ClosedLoop(users: 4000000000))"#
                .to_string(),
            "operation history",
        ),
        (
            "phold",
            r#"duration: "2s", topology: (servers: 1000, clients: 0), config: (population: 1000000000)"#.into(),
            "event queue",
        ),
        (
            "register",
            format!(r#"duration: "364d", topology: (servers: 3, clients: 1), {load}"#),
            "operation history: 3.1 billion",
        ),
    ];
    for (i, (model, body, part)) in cases.iter().enumerate() {
        let file = scenario(&dir, &format!("big{i}.ron"), model, body);
        let r = simctl(&["run", &file, "--max-memory", "4GB", "--out", dir.join("out").to_str().unwrap()]);
        assert_eq!(r.code, 2, "{file}: {}{}", r.stdout, r.stderr);
        assert!(r.stderr.contains("not run: it needs an estimated"), "{file}: {}", r.stderr);
        assert!(r.stderr.contains("more than the 4.0 GB it may use"), "{file}: {}", r.stderr);
        assert!(r.stderr.contains(part), "{file}: no `{part}` in\n{}", r.stderr);
        assert!(!dir.join("out").exists(), "nothing is written for a refused run");
    }
    // The same refusal without --max-memory: no machine has petabytes available.
    let file = scenario(&dir, "big0.ron", cases[0].0, &cases[0].1);
    let r = simctl(&["run", &file]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(r.stderr.contains("by default the memory available now"), "{}", r.stderr);
    // A sweep refuses it too, before running any seed.
    let r = simctl(&["sweep", &file, "--seeds", "0..3", "--out", dir.join("sweep").to_str().unwrap()]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(r.stderr.contains("not run"), "{}", r.stderr);
    let r = simctl(&["run", &file, "--max-memory", "lots"]);
    assert_eq!(r.code, 2);
    assert!(r.stderr.contains("--max-memory `lots`"), "{}", r.stderr);
}

/// A run far beyond its event limit says so before it starts and stops there with the verdict
/// `run.event_limit` (a register of 200,000 servers replicates each write to every one; its
/// factory used to be quadratic in the servers, minutes before the first event).
#[test]
fn a_runaway_stops_at_its_event_limit_with_a_verdict() {
    let dir = scratch("runaway");
    let body = r#"duration: "2s", topology: (servers: 200000, clients: 1), max_events: Some(100000),
        workload: (ops: [("read", 0.5), ("write", 0.5)], arrival: OpenLoop(rate_per_s: 100.0))"#;
    let file = scenario(&dir, "runaway.ron", "register", body);
    let r = simctl(&["run", &file, "--out", dir.join("out").to_str().unwrap()]);
    assert_eq!(r.code, 1, "{}{}", r.stdout, r.stderr);
    assert!(r.stderr.contains("beyond the run's event limit of 100.0 thousand"), "{}", r.stderr);
    assert!(r.stdout.contains("run.event_limit"), "{}", r.stdout);
}

/// Inputs whose validation was quadratic or that were silently accepted: refused quickly, with a
/// screenful of problems rather than 200,000.
#[test]
fn huge_lists_are_refused_quickly_and_briefly() {
    let dir = scratch("huge-lists");
    let zones: Vec<String> = (0..250_000).map(|i| format!("(\"z{i}\", 1)")).collect();
    let body = format!(r#"duration: "2s", topology: (servers: 250000, clients: 1, zones: [{}])"#, zones.join(", "));
    let file = scenario(&dir, "zones.ron", "register", &body);
    let r = simctl(&["validate", &file]);
    assert_eq!(r.code, 2);
    assert!(r.stderr.contains("250000 zones is more than the limit of 256"), "{}", r.stderr);
    let group = vec!["1"; 200_000].join(", ");
    let body = format!(
        r#"duration: "2s", topology: (servers: 3, clients: 1),
           faults: (schedule: [(at: "1s", fault: Partition(Split([[0, {group}], [2]])))])"#
    );
    let file = scenario(&dir, "group.ron", "register", &body);
    let r = simctl(&["validate", &file]);
    assert_eq!(r.code, 2);
    assert!(r.stderr.contains("node 1 is listed twice"), "{}", r.stderr);
    assert!(r.stderr.contains("199999 nodes listed twice in all (the first 20 are listed)"), "{}", r.stderr);
    assert_eq!(r.stderr.lines().count(), 21, "{}", r.stderr);
}

/// `µs` is a unit (it was refused as "not a number").
#[test]
fn micro_seconds_may_be_written_with_mu() {
    let dir = scratch("mu");
    let file = scenario(&dir, "mu.ron", "register", r#"duration: "2s", report_interval: Some("250000µs")"#);
    let r = simctl(&["validate", &file]);
    assert_eq!(r.code, 0, "{}", r.stderr);
}
