//! Every shipped scenario parses, validates, runs, and meets its `expect`.

use crate::support::{read_json, repo_root, scratch, simctl};

fn shipped() -> Vec<String> {
    let mut files: Vec<String> = std::fs::read_dir(repo_root().join("scenarios"))
        .expect("scenarios/ exists")
        .filter_map(|e| e.ok())
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "ron"))
        .map(|p| format!("scenarios/{}", p.file_name().unwrap().to_string_lossy()))
        .collect();
    files.sort();
    assert!(!files.is_empty(), "no scenarios shipped");
    files
}

#[test]
fn every_scenario_validates() {
    let files = shipped();
    let mut args = vec!["validate"];
    args.extend(files.iter().map(|s| s.as_str()));
    let r = simctl(&args);
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    for f in &files {
        assert!(r.stdout.contains(&format!("{f}: ok")), "{}", r.stdout);
    }
    // Every good scenario has a progress condition: no warning.
    assert!(!r.stderr.contains("warning"), "{}", r.stderr);
}

/// Every known-bad scenario has a control: a test named `control_*` in its model's tests that runs
/// it with its cause removed (`sim_core::testkit::control`), naming the file.
#[test]
fn every_known_bad_scenario_has_a_control_test() {
    let mut controls = String::new();
    for model in std::fs::read_dir(repo_root().join("models")).expect("models/") {
        let tests = model.expect("entry").path().join("tests");
        for f in std::fs::read_dir(&tests).into_iter().flatten().filter_map(|e| e.ok()) {
            let text = std::fs::read_to_string(f.path()).expect("a test file");
            // The bodies of the `control_*` test functions.
            for part in text.split("fn ").filter(|p| p.starts_with("control_")) {
                controls.push_str(part);
            }
        }
    }
    let mut missing = Vec::new();
    for file in shipped() {
        let text = std::fs::read_to_string(repo_root().join(&file)).expect("scenario");
        let known_bad = text.lines().any(|l| l.trim_start().starts_with("expect: Fail("));
        let stem = file.trim_start_matches("scenarios/").trim_end_matches(".ron");
        if known_bad && !controls.contains(&format!("\"{stem}\"")) {
            missing.push(stem.to_string());
        }
    }
    assert!(missing.is_empty(), "known-bad scenarios without a control_* test: {missing:?}");
}

/// The benchmark scenarios (too long for a debug test run) must at least stay valid.
#[test]
fn perf_scenarios_validate() {
    let r = simctl(&[
        "validate",
        "scenarios/perf/dynamo_10k.ron",
        "scenarios/perf/dynamo_cut.ron",
        "scenarios/perf/dynamo_1000_servers.ron",
        "scenarios/perf/kafka_50k.ron",
        "scenarios/perf/kafka_cut.ron",
        "scenarios/perf/kafka_100_brokers.ron",
        "scenarios/perf/crawler_1m_pages.ron",
        "scenarios/perf/clients_100k.ron",
    ]);
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    assert!(!r.stderr.contains("warning"), "{}", r.stderr);
}

/// The checks whose violations are operations (a read, a write, a request): when one fails it
/// must blame them. Checks over other things (pages, items, events, windows of time, final
/// states without an operation) are not listed.
const BLAMING: &[&str] = &[
    "delivered_when_connected",
    "durability",
    "durable_writes",
    "exactly_one_verdict",
    "fairness",
    "feed_order",
    "fresh_reads",
    "limit_respected",
    "linearizable",
    "mapping_correct",
    "monotonic_reads",
    "no_acked_loss",
    "no_duplicate_delivery",
    "no_lost_notifications",
    "no_truncated_reads",
    "push_delivery_sla",
    "read_your_writes",
    "result_within_sla",
    "stale_reads",
    "staleness_bounded",
    "top10_staleness",
    "unique",
    "uploads_complete",
    "visibility",
];

#[test]
fn every_scenario_runs_and_meets_its_expectation() {
    for file in shipped() {
        let out = scratch(&format!("shipped-{}", file.replace('/', "_")));
        let r = simctl(&["run", &file, "--out", out.to_str().unwrap()]);
        let json = read_json(&out.join("summary.json"));
        let verdict = &json["verdict"];
        assert_eq!(verdict["meets_expectation"], true, "{file}: {}\n{}", verdict["expectation"], r.stdout);
        if json["verdict"]["expect"] == "Pass" {
            assert_eq!(r.code, 0, "{file}:\n{}{}", r.stdout, r.stderr);
        } else {
            // A known-bad design exits 1, says it failed for the expected reason (exactly, or
            // with what its `may_also_fail` allows), and prints how to reproduce it.
            assert_eq!(r.code, 1, "{file}:\n{}{}", r.stdout, r.stderr);
            let reason = ["failed for exactly the expected reason", "as `may_also_fail` allows"];
            assert!(reason.iter().any(|w| r.stdout.contains(w)), "{file}: {}", r.stdout);
            assert!(r.stdout.contains(&format!("reproduce: simctl run {file} --seed ")), "{}", r.stdout);
            let sorted = |v: &serde_json::Value| {
                let mut names: Vec<String> =
                    v.as_array().expect("a list").iter().map(|n| n.as_str().unwrap().to_string()).collect();
                names.sort();
                names
            };
            // `Fail([names])` is `{"Fail": [names]}`; `Fail([names], AtLeast(r))` is
            // `{"Fail": [[names], {"AtLeast": r}]}`.
            let fail = &verdict["expect"]["Fail"];
            let names = if fail[0].is_array() { &fail[0] } else { fail };
            let also = verdict.get("may_also_fail").map(sorted).unwrap_or_default();
            let failed: Vec<String> = sorted(&verdict["failed"]).into_iter().filter(|f| !also.contains(f)).collect();
            assert_eq!(failed, sorted(names), "{file}");
            // A failed check about operations names the ones it blames (`replay` centres on them).
            for c in json["checks"].as_array().expect("checks") {
                if c["passed"] == false && BLAMING.contains(&c["name"].as_str().unwrap()) {
                    assert!(!c["blamed"].as_array().unwrap().is_empty(), "{file}: {c}");
                }
            }
        }
    }
}

#[test]
fn runs_are_deterministic_and_the_seed_can_be_overridden() {
    let (a, b, c) = (scratch("det-a"), scratch("det-b"), scratch("det-c"));
    for (dir, seed) in [(&a, "5"), (&b, "5"), (&c, "6")] {
        let r = simctl(&["run", "scenarios/register.ron", "--seed", seed, "--out", dir.to_str().unwrap()]);
        assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    }
    let (ja, jb, jc) =
        (read_json(&a.join("summary.json")), read_json(&b.join("summary.json")), read_json(&c.join("summary.json")));
    assert_eq!(ja["seed"], 5);
    assert_eq!(ja["trace_hash"], jb["trace_hash"]);
    assert_eq!(ja["ops"], jb["ops"]);
    assert_ne!(ja["trace_hash"], jc["trace_hash"]);
    assert_eq!(ja["reproduce"], "simctl run scenarios/register.ron --seed 5");
}

#[test]
fn list_shows_models_their_checks_and_scenarios() {
    let r = simctl(&["list"]);
    assert_eq!(r.code, 0);
    assert!(r.stdout.contains("register - "), "{}", r.stdout);
    assert!(r.stdout.contains("phold - "), "{}", r.stdout);
    assert!(r.stdout.contains("operations: read, write"), "{}", r.stdout);
    assert!(r.stdout.contains("checks: fresh_reads"), "{}", r.stdout);
    assert!(r.stdout.contains("scenarios/register.ron"), "{}", r.stdout);
    // A line or two per model: the defaults are in `simctl list MODEL`.
    assert!(!r.stdout.contains("client_timeout"), "{}", r.stdout);
}

#[test]
fn list_of_one_model_names_its_operations_checks_measures_tables_and_defaults() {
    let r = simctl(&["list", "dynamo"]);
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    let out = &r.stdout;
    assert!(out.starts_with("dynamo - "), "{out}");
    assert!(out.contains("operations: get, put"), "{out}");
    // Every check the model declares, as `invariants` and `expect: Fail` name them.
    for check in ["durability", "convergence", "stale_reads"] {
        assert!(out.contains(check), "{check}: {out}");
    }
    let measures = out.lines().find(|l| l.trim_start().starts_with("measures: ")).expect("a measures line");
    assert!(measures.contains("stale_reads"), "{out}");
    let tables = out.lines().find(|l| l.trim_start().starts_with("tables: ")).expect("a tables line");
    assert!(tables.contains("consistency_vs_lag"), "{out}");
    assert!(out.contains("config (defaults):") && out.contains("scenarios/dynamo_partition.ron"), "{out}");
    // A misspelt model: exit 2 with a suggestion.
    let r = simctl(&["list", "dynamoo"]);
    assert_eq!(r.code, 2);
    assert!(r.stderr.contains("unknown model `dynamoo` (did you mean `dynamo`?)"), "{}", r.stderr);
}

#[test]
fn help_has_examples() {
    let r = simctl(&["run", "--help"]);
    assert_eq!(r.code, 0);
    assert!(r.stdout.contains("Examples:") && r.stdout.contains("simctl run scenarios/register.ron"), "{}", r.stdout);
    let r = simctl(&["--help"]);
    assert!(r.stdout.contains("simctl validate scenarios/*.ron"), "{}", r.stdout);
}
