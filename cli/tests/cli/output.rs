//! What simctl prints on the terminal: a closed or failing stdout, number formats, `list`,
//! suggestions for misspelt names.

use crate::support::{Stdout, register_scenario, scratch, simctl, simctl_with_stdout, write_scenario};

#[test]
fn a_closed_stdout_ends_quietly_with_the_usual_exit_code() {
    let dir = scratch("stdout-closed");
    let file = write_scenario(&dir, "s.ron", &register_scenario(r#"slas: [Availability(min: 0.5)],"#));
    let report = dir.join("report");
    let (code, stderr) = simctl_with_stdout(&["run", &file, "--out", report.to_str().unwrap()], Stdout::ClosedPipe);
    assert_eq!(code, 0, "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert!(report.join("index.html").exists(), "the report is written even though nobody reads stdout");
    for args in [&["list"][..], &["list", "register"], &["validate", &file]] {
        let (code, stderr) = simctl_with_stdout(args, Stdout::ClosedPipe);
        assert_eq!(code, 0, "{args:?}: {stderr}");
        assert!(!stderr.contains("panicked"), "{args:?}: {stderr}");
    }
}

#[test]
fn a_failing_stdout_still_writes_the_report_and_exits_2_naming_stdout() {
    let dir = scratch("stdout-full");
    let file = write_scenario(&dir, "s.ron", &register_scenario(r#"slas: [Availability(min: 0.5)],"#));
    let report = dir.join("report");
    let (code, stderr) = simctl_with_stdout(&["run", &file, "--out", report.to_str().unwrap()], Stdout::Full);
    assert_eq!(code, 2, "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert!(stderr.contains("error: cannot write to stdout: No space left on device"), "{stderr}");
    assert!(report.join("index.html").exists() && report.join("summary.json").exists());
    let (code, stderr) = simctl_with_stdout(&["list"], Stdout::Full);
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("cannot write to stdout"), "{stderr}");
    // The same run with a working stdout prints its summary and exits 0.
    let r = simctl(&["run", &file, "--out", report.to_str().unwrap()]);
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
}

#[test]
fn verdict_lines_give_values_with_units_percents_for_shares_and_whether_the_bound_held() {
    let dir = scratch("verdict-formats");
    let slas = r#"slas: [
        Latency(op: "read", percentile: 99.0, max: "100us"),
        Availability(min: 0.5),
        ErrorRate(max: 0.5),
        Throughput(min_per_s: 1.0),
    ],"#;
    let file = write_scenario(&dir, "s.ron", &register_scenario(slas));
    let out = dir.join("out");
    let r = simctl(&["run", &file, "--out", out.to_str().unwrap()]);
    assert_eq!(r.code, 1, "{}{}", r.stdout, r.stderr);
    let line = |name: &str| {
        r.stdout
            .lines()
            .find(|l| l.split_whitespace().nth(1) == Some(name))
            .unwrap_or_else(|| panic!("no line for {name}: {}", r.stdout))
            .to_string()
    };
    let latency = line("latency.read.p99");
    assert!(
        latency.starts_with("  FAIL latency.read.p99 measured ") && latency.contains(" ms (bound <= 0.1 ms: violated)"),
        "{latency}"
    );
    let availability = line("availability");
    assert!(
        availability.starts_with("  PASS availability measured 100.00% (bound >= 50.00%: holds)"),
        "{availability}"
    );
    let errors = line("error_rate");
    assert!(errors.contains("measured 0.00% (bound <= 50.00%: holds)"), "{errors}");
    assert!(line("throughput").contains("/s (bound >= 1/s: holds)"), "{}", line("throughput"));
    // The operations table shows availability in the same format.
    let read_row = r.stdout.lines().find(|l| l.trim_start().starts_with("read ")).expect("an operations row");
    assert!(read_row.contains(" 100.00% "), "{read_row}");
    // And so does the report's verdict table.
    let md = std::fs::read_to_string(out.join("summary.md")).unwrap();
    assert!(md.contains("| availability | 100.00% | >= 50.00% |"), "{md}");
}

#[test]
fn misspelt_names_get_a_suggestion() {
    let dir = scratch("did-you-mean");
    let field = register_scenario("").replace("clients: 2", "clinets: 2");
    let r = simctl(&["validate", &write_scenario(&dir, "field.ron", &field)]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(r.stderr.contains("`clinets`") && r.stderr.contains("(did you mean `clients`?)"), "{}", r.stderr);
    let variant = register_scenario("").replace("OpenLoop(", "OpenLop(");
    let r = simctl(&["validate", &write_scenario(&dir, "variant.ron", &variant)]);
    assert!(r.stderr.contains("(did you mean `OpenLoop`?)"), "{}", r.stderr);
    let model = register_scenario("").replace(r#"model: "register""#, r#"model: "regster""#);
    let r = simctl(&["validate", &write_scenario(&dir, "model.ron", &model)]);
    assert!(r.stderr.contains("unknown model `regster` (did you mean `register`?)"), "{}", r.stderr);
    let r = simctl(&["swep", "x.ron"]);
    assert_eq!(r.code, 2);
    assert!(r.stderr.contains("similar subcommand exists: 'sweep'"), "{}", r.stderr);
}

#[test]
fn bench_scenario_checks_every_file_before_it_times_anything() {
    let dir = scratch("bench-bad-last");
    let good = write_scenario(&dir, "good.ron", &register_scenario(""));
    let bad = write_scenario(&dir, "bad.ron", &register_scenario("").replacen("seed:", "sed:", 1));
    let r = simctl(&["bench", "scenario", &good, &bad, "--phold-baseline", "small"]);
    assert_eq!(r.code, 2, "{}{}", r.stdout, r.stderr);
    // The second file's mistake, by file, line, column and field; no PHOLD run and no round first.
    assert!(r.stderr.contains("bad.ron:") && r.stderr.contains("sed"), "{}", r.stderr);
    assert!(!r.stdout.contains("BASELINE") && !r.stdout.contains("BENCH"), "{}", r.stdout);
    // Zero rounds would report medians of nothing: refused by the parser, for every bench.
    for args in [
        &["bench", "scenario", good.as_str(), "--repeat", "0"][..],
        &["bench", "phold", "--repeat", "0"],
        &["bench", "lin", "--repeat", "0"],
    ] {
        let r = simctl(args);
        assert_eq!(r.code, 2, "{args:?}: {}{}", r.stdout, r.stderr);
        assert!(r.stderr.contains("--repeat"), "{args:?}: {}", r.stderr);
    }
}

#[test]
fn bench_scenario_runs_every_file_changed_by_set_and_refuses_a_bad_set_before_timing() {
    let dir = scratch("bench-set");
    let file = write_scenario(&dir, "s.ron", &register_scenario(""));
    let bench = |extra: &[&str]| {
        let mut args = vec!["bench", "scenario", file.as_str(), file.as_str(), "--phold-baseline", "none"];
        args.extend_from_slice(extra);
        simctl(&args)
    };
    let plain = bench(&[]);
    assert_eq!(plain.code, 0, "{}{}", plain.stdout, plain.stderr);
    assert!(!plain.stdout.contains("CHANGED"), "{}", plain.stdout);
    // The file says 2 s (+200 ms); both files' runs take the change, and the output says so.
    let changed = bench(&["--set", "duration=5s", "--set", "topology.servers=5"]);
    assert_eq!(changed.code, 0, "{}{}", changed.stdout, changed.stderr);
    let benches: Vec<&str> = changed.stdout.lines().filter(|l| l.starts_with("BENCH ")).collect();
    assert_eq!(benches.len(), 2, "{}", changed.stdout);
    assert!(benches.iter().all(|l| l.contains(" simulated_s=5.2 ")), "{}", changed.stdout);
    assert!(plain.stdout.lines().filter(|l| l.starts_with("BENCH ")).all(|l| l.contains(" simulated_s=2.2 ")));
    assert!(
        changed.stdout.contains("CHANGED every file's scenario by --set duration=5s --set topology.servers=5"),
        "{}",
        changed.stdout
    );
    // A path the scenario lacks: refused by file and path, before anything is timed.
    let bad = bench(&["--set", "topology.serverz=5"]);
    assert_eq!(bad.code, 2, "{}{}", bad.stdout, bad.stderr);
    assert!(bad.stderr.contains("s.ron") && bad.stderr.contains("serverz"), "{}", bad.stderr);
    assert!(!bad.stdout.contains("BENCH"), "{}", bad.stdout);
}

#[test]
fn bench_scenario_brackets_its_rounds_with_phold_runs_and_says_how_many_it_took_the_median_of() {
    let dir = scratch("bench-brackets");
    let file = write_scenario(&dir, "s.ron", &register_scenario(""));
    let r = simctl(&["bench", "scenario", &file, "--phold-baseline", "small"]);
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    let lines: Vec<&str> = r.stdout.lines().collect();
    let at = |prefix: &str| -> Vec<usize> {
        lines.iter().enumerate().filter(|(_, l)| l.starts_with(prefix)).map(|(i, _)| i).collect()
    };
    let (baselines, bench, ratio) = (at("BASELINE "), at("BENCH "), at("RATIO "));
    // One PHOLD run before the round and one after it.
    assert_eq!(baselines.len(), 2, "{}", r.stdout);
    assert_eq!(bench.len(), 1, "{}", r.stdout);
    assert!(baselines[0] < bench[0] && bench[0] < baselines[1], "{}", r.stdout);
    // Freeing the world is its own figure, not hidden in the checkers' time.
    assert!(lines[bench[0]].contains(" teardown_s="), "{}", lines[bench[0]]);
    // The timers popped after their cancel are counted apart, and the ratio given both ways.
    assert!(lines[bench[0]].contains(" events_skipped="), "{}", lines[bench[0]]);
    assert_eq!(ratio.len(), 1, "{}", r.stdout);
    assert!(lines[ratio[0]].contains(" handled/kernel="), "{}", lines[ratio[0]]);
    assert!(lines[ratio[0]].contains("medians of 1 rounds and 2 PHOLD runs"), "{}", lines[ratio[0]]);
    // Which binary produced the figures comes first: the tests' own build (debug, or release
    // under `cargo test --release`), not the PGO one.
    let build = at("BUILD ");
    assert_eq!(build, vec![0], "{}", r.stdout);
    assert!(lines[0].ends_with(&tests_build()), "{}", lines[0]);
    let v = simctl(&["--version"]);
    assert_eq!(v.code, 0);
    assert!(v.stdout.starts_with("simctl ") && !v.stdout.contains("profile-guided"), "{}", v.stdout);
}

/// The end of the `BUILD` line of the simctl these tests run: cargo builds it with the tests'
/// profile, and never profile-guided.
fn tests_build() -> String {
    format!(" profile={} pgo=no", if cfg!(debug_assertions) { "debug" } else { "release" })
}

/// `bench scenario`'s line is checked above; `bench lin` prints it by the same call (not run here:
/// its budget case takes 10 s whatever the size asked for).
#[test]
fn the_phold_benchmark_names_the_build_on_its_first_line() {
    let r = simctl(&["bench", "phold", "--size", "small", "--end", "1", "--repeat", "1"]);
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    let first = r.stdout.lines().next().unwrap_or("");
    assert!(first.starts_with("BUILD simctl=") && first.ends_with(&tests_build()), "{first}");
    assert_eq!(r.stdout.matches("BUILD ").count(), 1, "{}", r.stdout);
}
