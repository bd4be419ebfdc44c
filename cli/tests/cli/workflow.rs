//! The workflow commands through the binary: sweep (jobs, resume, shards, JUnit), merge, shrink,
//! replay, run --check-determinism, and the verdict items `strict_estimates` and
//! `require_fault_effect`.

use crate::support::{register_scenario, scratch, simctl, write_scenario};
use std::path::Path;

fn read(p: &Path) -> String {
    std::fs::read_to_string(p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

/// The known-bad register design of `scenarios/register_stale_reads.ron` (follower reads), which
/// fails `fresh_reads` on every seed, shortened to 1 s (where a seed may pass: seed 11 does since
/// the ziggurat normal sampler), with `expect` replaced.
fn stale_reads(expect: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../scenarios/register_stale_reads.ron");
    let text = read(&path).replace(r#"duration: "5s""#, r#"duration: "1s""#);
    // Judged by `fresh_reads` (and `durable_writes`) alone, as these tests were written.
    let (invariants, declared) = (
        r#"invariants: ["fresh_reads", "durable_writes", "linearizable", "sequentially_consistent", "read_your_writes", "monotonic_reads"],"#,
        r#"expect: Fail(["fresh_reads", "linearizable", "sequentially_consistent", "read_your_writes"], AtLeast(0.95)),
    may_also_fail: ["monotonic_reads"],"#,
    );
    assert!(text.contains(invariants) && text.contains(declared));
    text.replace(invariants, r#"invariants: ["fresh_reads", "durable_writes"],"#)
        .replace(declared, &format!("expect: {expect},"))
}

#[test]
fn sweep_results_are_byte_identical_for_any_jobs() {
    let dir = scratch("sweep-jobs");
    let file = write_scenario(&dir, "s.ron", &stale_reads(r#"Fail(["fresh_reads"])"#));
    let one = dir.join("one");
    let two = dir.join("two");
    let a = simctl(&["sweep", &file, "--seeds", "0..6", "--jobs", "1", "--out", one.to_str().unwrap()]);
    let b = simctl(&["sweep", &file, "--seeds", "0..6", "--jobs", "2", "--out", two.to_str().unwrap()]);
    // A known-bad scenario failing as expected on every seed: exit 0.
    assert_eq!(a.code, 0, "{}{}", a.stdout, a.stderr);
    assert_eq!(b.code, 0, "{}{}", b.stdout, b.stderr);
    let ra = read(&one.join("results.jsonl"));
    assert_eq!(ra, read(&two.join("results.jsonl")));
    assert_eq!(ra.lines().count(), 6);
    assert_eq!(read(&one.join("summary.md")), read(&two.join("summary.md")));
    let summary = read(&one.join("summary.md"));
    // fresh_reads held on no seed; the Wilson interval of 0 of 6 is [0, 39.0]%.
    assert!(
        summary.contains("| fresh_reads | 0 | 6 | 0.0% | 0.0%..39.0% | holds in 0.0% [0.0, 39.0] of seeds |"),
        "{summary}"
    );
    assert!(summary.contains("measure.stale_reads"), "{summary}");
    // Every SLA's measured value is a metric of the seed under its verdict name: the file's
    // `Availability(op: None, ...)` as `availability` (a percent in the summary), beside the
    // per-op `availability.read` every run records.
    assert!(ra.lines().all(|l| l.contains(r#""availability":"#) && l.contains(r#""availability.read":"#)), "{ra}");
    assert!(summary.lines().any(|l| l.starts_with("| availability | 6 | ") && l.ends_with("% |")), "{summary}");
    // Each SLA's bound against that spread, in standard deviations.
    assert!(summary.contains("## SLA bounds against their spread"), "{summary}");
    assert!(
        summary.lines().any(|l| l.starts_with("| latency.read.p99 | holds | <= 20 ms | 6 | ") && l.ends_with(" sd |")),
        "{summary}"
    );
    assert!(
        summary
            .contains("| availability | holds | >= 99.00% | 6 | 100.00% | 0.00% | 100.00% (seed 0) | 0 | no spread |"),
        "{summary}"
    );
    // The same probabilities on the terminal.
    let row =
        a.stdout.lines().find(|l| l.trim_start().starts_with("fresh_reads ")).unwrap_or_else(|| panic!("{}", a.stdout));
    let cells: Vec<&str> = row.split_whitespace().collect();
    assert_eq!(cells, ["fresh_reads", "0/6", "0.0%", "0.0%..39.0%"], "{}", a.stdout);
    assert!(a.stdout.contains("held/seeds  probability  95% CI"), "{}", a.stdout);
}

#[test]
fn sweep_lists_the_seeds_that_broke_expectation_with_a_reproduce_command_and_exits_1() {
    let dir = scratch("sweep-unexpected");
    // The same design expected to pass: every seed breaks the expectation.
    let file = write_scenario(&dir, "s.ron", &stale_reads("Pass"));
    let out = dir.join("out");
    let junit = dir.join("junit.xml");
    let r = simctl(&[
        "sweep",
        &file,
        "--seeds",
        "0..3",
        "--out",
        out.to_str().unwrap(),
        "--junit",
        junit.to_str().unwrap(),
    ]);
    assert_eq!(r.code, 1, "{}{}", r.stdout, r.stderr);
    assert!(r.stdout.contains("failed: fresh_reads"), "{}", r.stdout);
    assert!(r.stdout.contains(&format!("simctl run {file} --seed 2")), "{}", r.stdout);
    let xml = read(&junit);
    let doc = roxmltree::Document::parse(&xml).expect("JUnit XML parses");
    let failures = doc.descendants().filter(|n| n.has_tag_name("failure")).count();
    assert_eq!(failures, 3, "{xml}");
    assert_eq!(doc.descendants().filter(|n| n.has_tag_name("testcase")).count(), 3);
}

#[test]
fn an_interrupted_sweep_resumes_and_shards_merge_into_the_full_sweep() {
    let dir = scratch("sweep-shards");
    let file = write_scenario(&dir, "s.ron", &stale_reads(r#"Fail(["fresh_reads"])"#));
    let full = dir.join("full");
    assert_eq!(simctl(&["sweep", &file, "--seeds", "0..2", "--out", full.to_str().unwrap()]).code, 0);
    let r = simctl(&["sweep", &file, "--seeds", "0..5", "--out", full.to_str().unwrap()]);
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    assert!(r.stdout.contains("3 ran now, 2 resumed"), "{}", r.stdout);
    let mut shard_files = Vec::new();
    for i in 0..2 {
        let d = dir.join(format!("shard{i}"));
        let r =
            simctl(&["sweep", &file, "--seeds", "0..5", "--shard", &format!("{i}/2"), "--out", d.to_str().unwrap()]);
        assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
        shard_files.push(d.join("results.jsonl").display().to_string());
    }
    assert_eq!(read(Path::new(&shard_files[0])).lines().count(), 3);
    let merged = dir.join("merged");
    let r =
        simctl(&["merge", &shard_files[0], &shard_files[1], "--out", merged.to_str().unwrap(), "--scenario", &file]);
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    assert_eq!(read(&merged.join("results.jsonl")), read(&full.join("results.jsonl")));
    // With the sweep's seeds, a missing shard is found: exit 1, naming the seeds.
    let with_seeds = |files: &[&str]| {
        let mut args = vec!["merge"];
        args.extend(files);
        args.extend(["--out", merged.to_str().unwrap(), "--seeds", "0..5"]);
        simctl(&args)
    };
    let r = with_seeds(&[&shard_files[0], &shard_files[1]]);
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    let r = with_seeds(&[&shard_files[0]]);
    assert_eq!(r.code, 1, "{}{}", r.stdout, r.stderr);
    assert!(
        r.stderr.contains("incomplete: 2 of the 5 seeds of --seeds are in no results file (first: 1, 3)"),
        "{}",
        r.stderr
    );
    // A shard of another scenario version is refused.
    let other = write_scenario(&dir, "o.ron", &stale_reads(r#"Fail(["fresh_reads"])"#).replace("seed: 11", "seed: 12"));
    let d = dir.join("other");
    assert_eq!(simctl(&["sweep", &other, "--seeds", "0..1", "--out", d.to_str().unwrap()]).code, 0);
    let r = simctl(&[
        "merge",
        &shard_files[0],
        &d.join("results.jsonl").display().to_string(),
        "--out",
        merged.to_str().unwrap(),
    ]);
    assert_eq!(r.code, 2, "{}{}", r.stdout, r.stderr);
    assert!(r.stderr.contains("another scenario version"), "{}", r.stderr);
}

#[test]
fn a_folder_sweep_runs_every_scenario() {
    let dir = scratch("sweep-folder");
    let folder = dir.join("scenarios");
    std::fs::create_dir_all(&folder).unwrap();
    write_scenario(&folder, "a.ron", &stale_reads(r#"Fail(["fresh_reads"])"#));
    write_scenario(&folder, "b.ron", &register_scenario(""));
    let out = dir.join("out");
    let r = simctl(&["sweep", folder.to_str().unwrap(), "--seeds", "0..2", "--out", out.to_str().unwrap()]);
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    assert!(out.join("a/results.jsonl").exists() && out.join("b/summary.md").exists());
    assert!(r.stdout.contains("2 scenarios, 4 seeded runs: every seed met its expectation"), "{}", r.stdout);
    // Known-bad scenarios may get more seeds than the good ones (CI sweeps them over 20).
    let more = dir.join("more");
    let r = simctl(&[
        "sweep",
        folder.to_str().unwrap(),
        "--seeds",
        "0..2",
        "--known-bad-seeds",
        "0..5",
        "--out",
        more.to_str().unwrap(),
    ]);
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    assert_eq!(read(&more.join("a/results.jsonl")).lines().count(), 5);
    assert_eq!(read(&more.join("b/results.jsonl")).lines().count(), 2);
    assert!(r.stdout.contains("2 scenarios, 7 seeded runs"), "{}", r.stdout);
}

#[test]
fn sweep_checks_a_promised_rate_against_the_wilson_interval() {
    let dir = scratch("sweep-rate");
    // The good register promising to fail `fresh_reads` on at least 90% of seeds: every seed
    // passes, which one run accepts (within the promised rate), but 0 of 4 seeds puts the rate
    // at 0.0%..49.0%, far below the promise: the sweep fails.
    let text = register_scenario(r#"    expect: Fail(["fresh_reads"], AtLeast(0.9)),"#);
    let file = write_scenario(&dir, "promise.ron", &text);
    let run = simctl(&["run", &file, "--out", dir.join("run").to_str().unwrap()]);
    assert_eq!(run.code, 0, "one run that does not fail is within the promise: {}{}", run.stdout, run.stderr);
    assert!(run.stdout.contains("within its promised rate"), "{}", run.stdout);
    assert!(run.stdout.contains("at least 90% of seeds"), "{}", run.stdout);
    let out = dir.join("out");
    let junit = dir.join("junit.xml");
    let r = simctl(&[
        "sweep",
        &file,
        "--seeds",
        "0..4",
        "--out",
        out.to_str().unwrap(),
        "--junit",
        junit.to_str().unwrap(),
    ]);
    assert_eq!(r.code, 1, "{}{}", r.stdout, r.stderr);
    assert!(r.stdout.contains("4 seeds: 4 as expected"), "{}", r.stdout);
    assert!(
        r.stdout.contains(
            "promised rate: failed as declared in 0 of 4 seeds (0.0%, 95% CI 0.0%..49.0%); promised at least 90.0%: \
             BROKEN"
        ),
        "{}",
        r.stdout
    );
    assert!(read(&out.join("summary.md")).contains("## Promised rate"));
    let xml = read(&junit);
    assert!(xml.contains("name=\"promised rate\""), "{xml}");
    assert_eq!(xml.matches("<failure").count(), 1, "{xml}");
    // The design that does fail (follower reads) keeps the same promise on every seed.
    let kept = write_scenario(&dir, "kept.ron", &stale_reads(r#"Fail(["fresh_reads"], AtLeast(0.9))"#));
    let r = simctl(&["sweep", &kept, "--seeds", "0..4", "--out", dir.join("kept").to_str().unwrap()]);
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    assert!(r.stdout.contains("failed as declared in 4 of 4 seeds"), "{}", r.stdout);
    assert!(r.stdout.contains(": kept"), "{}", r.stdout);
}

#[test]
fn shrink_writes_a_smaller_scenario_that_fails_the_same_way() {
    let dir = scratch("shrink");
    // A known-bad Kafka design (acks=1) whose loss needs a leader crash; two crashes scheduled.
    let original = Path::new(env!("CARGO_MANIFEST_DIR")).join("../scenarios/kafka_acks1_loss.ron");
    let min = dir.join("min.ron");
    let r = simctl(&[
        "shrink",
        original.to_str().unwrap(),
        "--seed",
        "3",
        "--out",
        min.to_str().unwrap(),
        "--max-runs",
        "40",
    ]);
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    assert!(r.stdout.contains("failure signature (failed verdict items): no_acked_loss"), "{}", r.stdout);
    let text = read(&min);
    let before = read(&original).matches("Crash(").count();
    let after = text.matches("Crash(").count();
    assert!(after >= 1 && after <= before, "{before} -> {after}\n{text}");
    // A name of its own, only what differs from the defaults, the documented spelling, and every
    // step in the header.
    assert!(text.contains(r#"name: "kafka_acks1_loss_min""#), "{text}");
    assert!(!text.contains("Spec(") && !text.contains("Some("), "{text}");
    let code: Vec<&str> = text.lines().filter(|l| !l.starts_with("//")).collect();
    assert!(code.len() <= read(&original).lines().count(), "{text}");
    let steps: Vec<&str> = r.stdout.lines().filter(|l| l.trim_start().starts_with('[')).collect();
    assert!(!steps.is_empty(), "{}", r.stdout);
    let listed: Vec<&str> = text.lines().filter_map(|l| l.strip_prefix("//   [")).collect();
    assert_eq!(listed.len(), steps.len(), "{text}\n{}", r.stdout);
    for step in listed {
        let change = step.split_once("runs] ").expect("[N runs] change").1;
        assert!(r.stdout.contains(change), "{change}: {}", r.stdout);
    }
    // The written file re-runs and fails the same way (the known-bad expectation is met).
    let run = simctl(&["run", min.to_str().unwrap(), "--out", dir.join("run").to_str().unwrap()]);
    assert_eq!(run.code, 1, "{}{}", run.stdout, run.stderr);
    assert!(run.stdout.contains("failed for exactly the expected reason: no_acked_loss"), "{}", run.stdout);
}

#[test]
fn shrink_refuses_a_seed_that_passes() {
    let dir = scratch("shrink-pass");
    let file = write_scenario(&dir, "ok.ron", &register_scenario(""));
    let r = simctl(&["shrink", &file, "--seed", "1", "--out", dir.join("m.ron").to_str().unwrap()]);
    assert_eq!(r.code, 1, "{}{}", r.stdout, r.stderr);
    assert!(r.stdout.contains("nothing to shrink"), "{}", r.stdout);
    assert!(!dir.join("m.ron").exists());
}

#[test]
fn replay_writes_the_trace_three_ways() {
    let dir = scratch("replay");
    let file = write_scenario(
        &dir,
        "r.ron",
        &register_scenario(r#"faults: (schedule: [(at: "500ms", duration: Some("200ms"), fault: Crash(node: 1))]),"#)
            .replace("duration: \"2s\"", "duration: \"1s\""),
    );
    let out = dir.join("out");
    let r = simctl(&["replay", &file, "--seed", "5", "--out", out.to_str().unwrap()]);
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    assert!(
        r.stdout.contains("around t=500ms (no operation blamed or failed; the first fault, crash n1)"),
        "{}",
        r.stdout
    );
    // The files hold the window (450ms to 550ms), with the events' indexes in the whole trace.
    let lines: Vec<serde_json::Value> =
        read(&out.join("trace.jsonl")).lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    let (lo, hi) = (450_000_000u64, 550_000_000u64);
    assert!(lines.iter().all(|l| (lo..=hi).contains(&l["t_ns"].as_u64().unwrap())), "only the window");
    assert!(lines[0]["i"].as_u64().unwrap() > 0);
    assert!(lines.iter().any(|l| l["event"] == "crash" && l["node"] == 1), "the crash on n1's row");
    let chrome: serde_json::Value = serde_json::from_str(&read(&out.join("trace.chrome.json"))).unwrap();
    let events = chrome["traceEvents"].as_array().unwrap();
    assert!(
        events
            .iter()
            .filter(|e| e["ph"] == "X")
            .all(|e| (lo..=hi).contains(&(e["ts"].as_f64().unwrap() as u64 * 1_000)))
    );
    assert!(events.iter().any(|e| e["ph"] == "s") && events.iter().any(|e| e["ph"] == "f"), "flow events");
    // Perfetto binds a flow event to the slice enclosing it on its track: every one has one.
    let slices: Vec<(u64, f64, f64)> = events
        .iter()
        .filter(|e| e["ph"] == "X")
        .map(|e| {
            let ts = e["ts"].as_f64().unwrap();
            (e["tid"].as_u64().unwrap(), ts, ts + e["dur"].as_f64().unwrap())
        })
        .collect();
    for f in events.iter().filter(|e| e["ph"] == "s" || e["ph"] == "f") {
        let (tid, ts) = (f["tid"].as_u64().unwrap(), f["ts"].as_f64().unwrap());
        assert!(slices.iter().any(|&(t, a, b)| t == tid && a <= ts && ts <= b), "unbound flow {f}");
    }
    let svg = read(&out.join("sequence.svg"));
    assert!(svg.starts_with("<svg") && svg.contains(">CRASH</text>"), "{}", &svg[..200.min(svg.len())]);
    // --full-trace writes every record: as many lines as the trace has.
    let full = dir.join("full");
    let r = simctl(&["replay", &file, "--seed", "5", "--out", full.to_str().unwrap(), "--full-trace"]);
    let records: usize =
        r.stdout.split("trace: ").nth(1).unwrap().split(' ').next().unwrap().replace(',', "").parse().unwrap();
    assert_eq!(read(&full.join("trace.jsonl")).lines().count(), records, "{}", r.stdout);
    assert!(records > lines.len());
}

/// A failed check blames operations (in summary.json), and replay centres on the first one: the
/// diagram highlights it, and the output says which check blamed it. `replay` prints the run's
/// processed-event count, the one `run` writes, beside the trace's record count.
/// The first seed below `bound` on which `simctl run` of `file` fails `check` and blames an
/// operation, with that run's summary.json: a test that needs a failing run searches for one
/// rather than hard-coding a seed the next change in random draws moves.
fn first_seed_blamed_by(file: &str, dir: &Path, check: &str, bound: u64) -> (String, serde_json::Value) {
    for seed in 0..bound {
        let out = dir.join(format!("run-{seed}"));
        let run = simctl(&["run", file, "--seed", &seed.to_string(), "--out", out.to_str().unwrap()]);
        assert!(run.code <= 1, "seed {seed}: {}{}", run.stdout, run.stderr);
        let json = crate::support::read_json(&out.join("summary.json"));
        let failed = json["checks"].as_array().unwrap().iter().any(|c| {
            c["name"] == check && c["passed"] == false && c["blamed"].as_array().is_some_and(|b| !b.is_empty())
        });
        if failed {
            assert_eq!(run.code, 1, "the verdict fails: {}{}", run.stdout, run.stderr);
            return (seed.to_string(), json);
        }
    }
    panic!("no seed below {bound} fails `{check}` with a blamed operation");
}

#[test]
fn replay_centres_on_the_operation_a_failed_check_blames() {
    let dir = scratch("replay-blamed");
    let file = write_scenario(&dir, "s.ron", &stale_reads(r#"Fail(["fresh_reads"])"#));
    let (seed, json) = first_seed_blamed_by(&file, &dir, "fresh_reads", 20);
    let check = json["checks"].as_array().unwrap().iter().find(|c| c["name"] == "fresh_reads").unwrap();
    let blamed = check["blamed"].as_array().unwrap();
    assert!(!blamed.is_empty() && blamed.len() <= 10, "{check}");
    let op = blamed[0]["op"].as_u64().unwrap();
    let invoke = blamed[0]["invoke_ns"].as_u64().unwrap();
    assert!(blamed.windows(2).all(|w| w[0]["invoke_ns"].as_u64() <= w[1]["invoke_ns"].as_u64()), "earliest first");
    // The check's words name the same operation.
    assert!(check["detail"].as_str().unwrap().contains(&format!("read op {op} ")), "{check}");
    let out = dir.join("replay");
    let r = simctl(&["replay", &file, "--seed", &seed, "--out", out.to_str().unwrap()]);
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    assert!(r.stdout.contains(&format!("(op {op} blamed by the failed check `fresh_reads`")), "{}", r.stdout);
    assert!(r.stdout.contains(&format!("around t={}", sim_core::Time(invoke))), "{}", r.stdout);
    // The same run as `simctl run`: the same processed-event count and trace hash (a replay of
    // this connection model used to run over datagrams).
    let events = json["events"].as_u64().unwrap();
    let hash = json["trace_hash"].as_str().unwrap();
    assert!(
        r.stdout.contains(&format!("{} events processed, trace hash {hash}", sim_core::model::thousands(events))),
        "{}",
        r.stdout
    );
    let svg = read(&out.join("sequence.svg"));
    assert!(svg.contains(&format!(">invoke read op {op}</text>")), "the blamed read is drawn");
    assert!(svg.contains(&format!(">done read op {op} Ok")), "with what it returned");
    assert_eq!(svg.matches("fill=\"#fff3b0\"").count(), 2, "its invoke and completion rows are highlighted");
    assert!(svg.contains("url(#arrow-path)"), "the messages on its causal path are drawn");
}

#[test]
fn check_determinism_confirms_identical_runs() {
    let dir = scratch("determinism");
    let file = write_scenario(&dir, "d.ron", &register_scenario("").replace("duration: \"2s\"", "duration: \"500ms\""));
    let r = simctl(&["run", &file, "--check-determinism", "--seed", "7"]);
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    assert!(r.stdout.contains("deterministic: two runs processed the same"), "{}", r.stdout);
}

/// `--set` reaches every command that reruns a seed: a perturbation sweep prints `simctl run FILE
/// --seed N --set ...` for a failure, and the trace, the shrink and the determinism check of that
/// failure need the same change (replay, shrink and `--check-determinism` took none before).
#[test]
fn replay_shrink_and_check_determinism_take_the_runs_set() {
    let dir = scratch("set-everywhere");
    // The known-bad register with leader reads: it passes, and `--set` puts the follower reads back.
    let original = read(&Path::new(env!("CARGO_MANIFEST_DIR")).join("../scenarios/register_stale_reads.ron"));
    let text: Vec<&str> = original
        .lines()
        .filter(|l| !l.trim_start().starts_with("expect:") && !l.trim_start().starts_with("may_also_fail:"))
        .collect();
    let text = text.join("\n").replace("read_from: AnyReplica", "read_from: Leader");
    let file = write_scenario(&dir, "s.ron", &text);
    let set = ["--set", "config.read_from=AnyReplica"];
    let with = |args: &[&str]| simctl(&[args, &set[..]].concat());
    let run = with(&["run", &file, "--seed", "4", "--out", dir.join("run").to_str().unwrap()]);
    assert_eq!(run.code, 1, "follower reads are stale: {}{}", run.stdout, run.stderr);
    assert!(run.stdout.contains("FAIL fresh_reads"), "{}", run.stdout);
    let hash = |out: &str| out.split("trace hash ").nth(1).map(|t| t[..16].to_string());
    let plain = simctl(&["run", &file, "--seed", "4", "--out", dir.join("plain").to_str().unwrap()]);
    assert_eq!(plain.code, 0, "{}{}", plain.stdout, plain.stderr);

    let replay = with(&["replay", &file, "--seed", "4", "--out", dir.join("replay").to_str().unwrap()]);
    assert_eq!(replay.code, 0, "{}{}", replay.stdout, replay.stderr);
    assert!(replay.stdout.contains("failed: ") && replay.stdout.contains("fresh_reads"), "{}", replay.stdout);
    assert!(hash(&replay.stdout).is_some(), "{}", replay.stdout);
    assert_eq!(hash(&replay.stdout), hash(&run.stdout), "the replay is the run with the change");
    assert_ne!(hash(&replay.stdout), hash(&plain.stdout));

    let min = dir.join("min.ron");
    let shrink = with(&["shrink", &file, "--seed", "4", "--out", min.to_str().unwrap(), "--max-runs", "8"]);
    assert_eq!(shrink.code, 0, "{}{}", shrink.stdout, shrink.stderr);
    assert!(
        shrink.stdout.contains("failure signature (failed verdict items): ") && shrink.stdout.contains("fresh_reads")
    );
    let text = read(&min);
    assert!(text.contains("--set config.read_from=AnyReplica"), "the header says how: {text}");
    assert!(text.contains("AnyReplica"), "the change is in the scenario: {text}");

    let det = with(&["run", &file, "--seed", "4", "--check-determinism"]);
    assert_eq!(det.code, 0, "{}{}", det.stdout, det.stderr);
    assert!(det.stdout.contains("deterministic: two runs processed the same"), "{}", det.stdout);
}

const WRONG_ESTIMATE: &str =
    r#"estimates: [(name: "ops", expr: "rate_per_s * 2", inputs: {"rate_per_s": 200.0}, claimed: 999.0)],"#;

#[test]
fn strict_estimates_makes_a_wrong_estimate_fail_the_run() {
    let dir = scratch("strict-estimates");
    let lax = write_scenario(&dir, "lax.ron", &register_scenario(WRONG_ESTIMATE));
    let r = simctl(&["run", &lax, "--out", dir.join("lax").to_str().unwrap()]);
    assert_eq!(r.code, 0, "a wrong estimate is only a finding by default: {}", r.stdout);
    let strict = write_scenario(
        &dir,
        "strict.ron",
        &register_scenario(&format!("{WRONG_ESTIMATE}\n    strict_estimates: true,")),
    );
    let r = simctl(&["run", &strict, "--out", dir.join("strict").to_str().unwrap()]);
    assert_eq!(r.code, 1, "{}{}", r.stdout, r.stderr);
    assert!(r.stdout.contains("VERDICT: FAIL (estimate.ops)"), "{}", r.stdout);
    // And a known-bad scenario may then name the estimate in its expectation.
    let expected = write_scenario(
        &dir,
        "expected.ron",
        &register_scenario(&format!(
            "{WRONG_ESTIMATE}\n    strict_estimates: true,\n    expect: Fail([\"estimate.ops\"]),"
        )),
    );
    let r = simctl(&["run", &expected, "--out", dir.join("expected").to_str().unwrap()]);
    assert!(r.stdout.contains("failed for exactly the expected reason: estimate.ops"), "{}{}", r.stdout, r.stderr);
}

#[test]
fn require_fault_effect_fails_a_run_whose_fault_did_nothing() {
    let dir = scratch("fault-effect");
    // A 1 µs pause of a server: nothing happens to it in that microsecond.
    let idle = r#"faults: (schedule: [(at: "1s", duration: Some("1us"), fault: Pause(2))]),
    require_fault_effect: true,"#;
    let file = write_scenario(&dir, "idle.ron", &register_scenario(idle));
    let r = simctl(&["run", &file, "--out", dir.join("idle").to_str().unwrap()]);
    assert_eq!(r.code, 1, "{}{}", r.stdout, r.stderr);
    assert!(r.stdout.contains("VERDICT: FAIL (faults.effective)"), "{}", r.stdout);
    assert!(r.stdout.contains("NONE"), "the fault table marks the idle fault: {}", r.stdout);
    // A 500 ms crash of a server during the load does something: the item passes.
    let busy = idle.replace("Some(\"1us\"), fault: Pause(2)", "Some(\"500ms\"), fault: Crash(node: 2)");
    let file = write_scenario(&dir, "busy.ron", &register_scenario(&busy));
    let r = simctl(&["run", &file, "--out", dir.join("busy").to_str().unwrap()]);
    assert!(!r.stdout.contains("faults.effective)"), "{}", r.stdout);
    assert!(r.stdout.contains("faults.effective"), "{}", r.stdout);
}

/// The batch examples in cli/batch/ and the commands in docs/workflow.md name real scenarios and
/// only flags that the subcommand accepts.
#[test]
fn the_batch_examples_and_the_workflow_doc_use_real_flags_and_real_scenarios() {
    let root = crate::support::repo_root();
    let subcommands = ["sweep", "merge", "shrink", "replay", "run"];
    let helps: Vec<String> = subcommands.iter().map(|c| simctl(&[c, "--help"]).stdout).collect();
    let files = [
        "cli/batch/k8s-indexed-job.yaml",
        "cli/batch/k8s-merge-job.yaml",
        "cli/batch/slurm-array.sh",
        "cli/batch/github-actions-matrix.yml",
    ];
    for name in files.iter().chain(&["cli/batch/README.md", "docs/workflow.md"]) {
        let text = read(&root.join(name));
        let mut commands = 0;
        for (sub, help) in subcommands.iter().zip(&helps) {
            let cmd = format!("simctl {sub} ");
            for (at, _) in text.match_indices(&cmd) {
                commands += 1;
                // The command's line, and the following lines that continue it with more flags.
                let mut lines = text[at..].lines();
                let mut rest = lines.next().unwrap_or("").to_string();
                for more in lines.take_while(|l| l.trim_start().starts_with("--")) {
                    rest.push(' ');
                    rest.push_str(more);
                }
                let rest: String =
                    rest.chars().take_while(|&c| c != '"' && c != '|' && c != '`' && c != '#' && c != ')').collect();
                for word in rest.split_whitespace().filter(|w| w.starts_with("--")) {
                    let flag = word.split('=').next().unwrap_or(word);
                    assert!(help.contains(&format!("{flag} ")), "{name}: `simctl {sub}` has no flag {flag}");
                }
                for word in rest.split_whitespace().filter(|w| w.starts_with("scenarios/") && w.ends_with(".ron")) {
                    assert!(root.join(word).exists(), "{name}: no scenario {word}");
                }
            }
        }
        // A Kubernetes file is one Job: the sweep's, or the merge's.
        let least = if name.contains("/k8s-") {
            1
        } else if files.contains(name) {
            2
        } else {
            3
        };
        assert!(commands >= least, "{name}: only {commands} simctl commands found");
    }
}

/// Every line of scenarios/regressions.txt names a scenario and a seed, and `simctl run` of it
/// meets the scenario's expectation (what .ci/run checks).
#[test]
fn the_regression_list_replays() {
    let root = crate::support::repo_root();
    let list = read(&root.join("scenarios/regressions.txt"));
    let mut entries = 0;
    for line in list.lines().map(str::trim).filter(|l| !l.is_empty() && !l.starts_with('#')) {
        let parts: Vec<&str> = line.split_whitespace().collect();
        assert_eq!(parts.len(), 2, "`{line}`: expected `<scenario file> <seed>`");
        assert!(root.join(parts[0]).exists(), "`{line}`: no such scenario");
        let seed: u64 = parts[1].parse().unwrap_or_else(|_| panic!("`{line}`: the seed is not a number"));
        let dir = scratch(&format!("regression-{entries}"));
        let r = simctl(&["run", parts[0], "--seed", &seed.to_string(), "--out", dir.to_str().unwrap()]);
        let reasons =
            ["failed for exactly the expected reason", "as `may_also_fail` allows", "within its promised rate"];
        let met = r.code == 0 || (r.code == 1 && reasons.iter().any(|w| r.stdout.contains(w)));
        assert!(met, "`{line}`:\n{}{}", r.stdout, r.stderr);
        entries += 1;
    }
    assert!(entries > 0);
}

/// Swarm mode: each seed draws its own fault climate (recorded per seed), and a shrink of a swarm
/// seed writes the drawn values and the expanded nemesis as plain fields.
#[test]
fn a_swarm_sweep_records_each_seeds_climate_and_a_swarm_seed_shrinks() {
    let dir = scratch("swarm");
    // Crashes make some operations fail, so the availability SLA fails on some seeds.
    let swarm = r#"swarm: Some((loss: Some((0.0, 0.05)), crashes_per_min: Some((1.0, 6.0)))),
    slas: [Availability(op: None, min: 0.999, window: All)],"#;
    let file = write_scenario(&dir, "swarm.ron", &register_scenario(swarm));
    let out = dir.join("out");
    let r = simctl(&["sweep", &file, "--seeds", "0..3", "--out", out.to_str().unwrap()]);
    assert!(r.code == 0 || r.code == 1, "{}{}", r.stdout, r.stderr);
    let lines: Vec<serde_json::Value> =
        read(&out.join("results.jsonl")).lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    let losses: Vec<f64> = lines.iter().map(|l| l["climate"]["loss"].as_f64().expect("a climate per seed")).collect();
    assert!(losses.iter().all(|l| (0.0..=0.05).contains(l)), "{losses:?}");
    assert!(losses[0] != losses[1] && losses[1] != losses[2], "each seed draws its own: {losses:?}");
    let bad = lines.iter().find(|l| l["passed"] == false).expect("some seed fails its availability SLA");
    let seed = bad["seed"].as_u64().unwrap().to_string();
    let min = dir.join("min.ron");
    let r = simctl(&["shrink", &file, "--seed", &seed, "--out", min.to_str().unwrap(), "--max-runs", "30"]);
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    let text = read(&min);
    // The swarm's climate became plain values and the nemesis a schedule: neither is written.
    let body: String = text.lines().filter(|l| !l.starts_with("//")).collect();
    assert!(!body.contains("swarm") && !body.contains("nemesis"), "{text}");
    let run = simctl(&["run", min.to_str().unwrap(), "--out", dir.join("run").to_str().unwrap()]);
    let failed: Vec<String> =
        bad["failed"].as_array().unwrap().iter().map(|f| f.as_str().unwrap().to_string()).collect();
    assert!(run.stdout.contains(&format!("VERDICT: FAIL ({})", failed.join(", "))), "{failed:?}\n{}", run.stdout);
}

/// Without --around, replay centres the diagram on the first operation that did not complete Ok,
/// and its run is the same run as `simctl run` (same trace hash).
#[test]
fn replay_centres_on_the_first_failed_operation() {
    let dir = scratch("replay-failed-op");
    // The leader crashes for 400 ms: writes in flight time out.
    let file = write_scenario(
        &dir,
        "r.ron",
        &register_scenario(r#"faults: (schedule: [(at: "500ms", duration: Some("400ms"), fault: Crash(node: 0))]),"#),
    );
    let r = simctl(&["replay", &file, "--seed", "5", "--out", dir.join("replay").to_str().unwrap()]);
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    assert!(r.stdout.contains("; the first failed operation, op "), "{}", r.stdout);
    let run = simctl(&["run", &file, "--seed", "5", "--out", dir.join("run").to_str().unwrap()]);
    let json = crate::support::read_json(&dir.join("run/summary.json"));
    let hash = json["trace_hash"].as_str().expect("a trace hash");
    assert!(r.stdout.contains(&format!("trace hash {hash}")), "{}\n{}", r.stdout, run.stdout);
}

/// A sweep killed part-way and resumed writes the same results file as one that was never
/// interrupted with `--jobs 1`, byte for byte (resumed lines used to be parsed and printed again,
/// some floats one unit in the last place off).
#[test]
fn a_resumed_sweep_is_byte_identical_to_an_uninterrupted_one() {
    let dir = scratch("sweep-resume-bytes");
    let file = write_scenario(&dir, "s.ron", &stale_reads(r#"Fail(["fresh_reads"])"#));
    let whole = dir.join("whole");
    let r = simctl(&["sweep", &file, "--seeds", "0..8", "--jobs", "1", "--out", whole.to_str().unwrap()]);
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    let expected = read(&whole.join("results.jsonl"));
    // What a kill leaves: the first lines written, and half of the next.
    let cut = dir.join("cut");
    std::fs::create_dir_all(&cut).unwrap();
    let lines: Vec<&str> = expected.lines().collect();
    let mut text: String = lines[..5].iter().map(|l| format!("{l}\n")).collect();
    text.push_str(&lines[5][..lines[5].len() / 2]);
    std::fs::write(cut.join("results.jsonl"), text).unwrap();
    let r = simctl(&["sweep", &file, "--seeds", "0..8", "--jobs", "2", "--out", cut.to_str().unwrap()]);
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    assert!(r.stdout.contains("3 ran now, 5 resumed"), "{}", r.stdout);
    assert_eq!(read(&cut.join("results.jsonl")), expected);
}

/// An absurd job count is capped (it used to ask the system for 100,000 threads and panic).
#[test]
fn an_absurd_job_count_is_capped() {
    let dir = scratch("sweep-jobs-cap");
    let file = write_scenario(&dir, "s.ron", &stale_reads(r#"Fail(["fresh_reads"])"#));
    let r = simctl(&["sweep", &file, "--seeds", "0..2", "--jobs", "100000", "--out", dir.join("o").to_str().unwrap()]);
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    assert!(r.stderr.contains("note: --jobs 100000 lowered to"), "{}", r.stderr);
}

/// A failing `linearizable` check's timeline (a model figure) is linked from `run`'s report
/// (summary.md, index.html, the terminal) and written and named by `replay`.
#[test]
fn run_and_replay_link_the_violation_timeline() {
    let dir = scratch("replay-figure");
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../scenarios/register_stale_reads.ron");
    let text = read(&path).replace(r#"duration: "5s""#, r#"duration: "1s""#);
    let file = write_scenario(&dir, "s.ron", &text);
    let run_dir = dir.join("run");
    let run = simctl(&["run", &file, "--seed", "3", "--out", run_dir.to_str().unwrap()]);
    let line = run
        .stdout
        .lines()
        .find(|l| l.starts_with("the failure of `linearizable`, drawn: "))
        .unwrap_or_else(|| panic!("{}{}", run.stdout, run.stderr));
    let figure = Path::new(line.rsplit(": ").next().unwrap());
    let name = figure.file_name().unwrap().to_str().unwrap().to_string();
    assert!(name.starts_with("figure_linearizable_key_") && figure.exists(), "{line}");
    assert!(read(&run_dir.join("summary.md")).contains(&format!("[{name}]({name})")));
    assert!(read(&run_dir.join("index.html")).contains(&format!("<a href=\"{name}\">")));
    let out = dir.join("replay");
    let r = simctl(&["replay", &file, "--seed", "3", "--out", out.to_str().unwrap()]);
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    assert!(
        r.stdout.contains(&format!("the failure of `linearizable`, drawn: {}", out.join(&name).display())),
        "{}",
        r.stdout
    );
    assert_eq!(read(&out.join(&name)), read(figure), "the same run, the same timeline");
    assert!(read(&out.join(&name)).contains("class=\"op conflict\""));
}
