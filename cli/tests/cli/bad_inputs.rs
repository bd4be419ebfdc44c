//! Broken scenarios: each fixture in `tests/fixtures/bad/` states the errors it must produce in
//! `// expect: ...` lines; `simctl validate` and `simctl run` both exit 2 with them.

use crate::support::{repo_root, scratch, simctl};

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
