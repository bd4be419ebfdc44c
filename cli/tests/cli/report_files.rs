//! The report folder: every file exists, SVGs are XML, the JSON has its documented fields, and
//! nothing half-written is left behind.

use crate::support::{read_json, scratch, simctl};

#[test]
fn report_files_exist_and_are_well_formed() {
    let dir = scratch("report");
    let r = simctl(&["run", "scenarios/register.ron", "--out", dir.to_str().unwrap()]);
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    let mut names: Vec<String> =
        std::fs::read_dir(&dir).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
    names.sort();
    assert_eq!(
        names,
        [
            "index.html",
            "latency.svg",
            "latency_cdf.svg",
            "scatter.svg",
            "summary.json",
            "summary.md",
            "table_stale_reads_over_time.svg",
            "throughput.svg"
        ],
        "no temporary files may remain"
    );
    for n in names.iter().filter(|n| n.ends_with(".svg")) {
        let text = std::fs::read_to_string(dir.join(n)).unwrap();
        let doc = roxmltree::Document::parse(&text).unwrap_or_else(|e| panic!("{n} is not XML: {e}"));
        assert_eq!(doc.root_element().tag_name().name(), "svg", "{n}");
        if n != "latency_cdf.svg" {
            // The scenario's fault windows are labelled on every time axis.
            for label in ["crash n2", "crash n0", "isolate n1"] {
                assert!(text.contains(label), "{n} lacks the fault label `{label}`");
            }
        }
    }
    let html = std::fs::read_to_string(dir.join("index.html")).unwrap();
    assert_eq!(html.matches("<svg").count(), 5, "every plot inline");
    assert!(!html.contains("src=\"http") && !html.contains("<script"), "opens from disk, no network");
    let md = std::fs::read_to_string(dir.join("summary.md")).unwrap();
    assert!(md.contains("**Verdict: PASS**"), "{md}");

    let json = read_json(&dir.join("summary.json"));
    for f in reports::json::FIELDS {
        assert!(json.get(f).is_some(), "summary.json lacks `{f}`");
    }
    assert_eq!(json["schema_version"], 1);
    assert_eq!(json["seed"], 7);
    assert_eq!(json["model"], "register");
    assert_eq!(json["simctl_version"], env!("CARGO_PKG_VERSION"));
    assert_eq!(json["scenario_hash"].as_str().unwrap().len(), 16);
    assert_eq!(json["trace_hash"].as_str().unwrap().len(), 16);
    assert_eq!(json["faults"].as_array().unwrap().len(), 3);
    let item = &json["verdict"]["items"][0];
    for f in ["kind", "name", "measured", "bound", "passed", "counts", "detail"] {
        assert!(item.get(f).is_some(), "verdict item lacks `{f}`: {item}");
    }
}

#[test]
fn the_default_report_folder_is_out_slash_scenario_name() {
    // Run from a scratch folder so the repository's out/ is untouched.
    let dir = scratch("default-out");
    let scenario = crate::support::repo_root().join("scenarios/register.ron");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_simctl"))
        .args(["run", scenario.to_str().unwrap()])
        .current_dir(&dir)
        .env("CI", "1")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    assert!(dir.join("out/register/summary.json").exists());
    assert!(String::from_utf8_lossy(&out.stdout).contains("report: out/register/index.html"));
}

/// `-o` is `--out`, for `run` as for the commands that write folders (`simctl run FILE -o DIR` was
/// refused with "unexpected argument '-o'").
#[test]
fn dash_o_is_the_report_folder() {
    let dir = scratch("dash-o");
    let r = simctl(&["run", "scenarios/register.ron", "-o", dir.join("r").to_str().unwrap()]);
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    assert!(dir.join("r/summary.json").exists());
    let help = simctl(&["sweep", "--help"]);
    assert!(help.stdout.contains("-o, --out <OUT>"), "{}", help.stdout);
}

/// A report replaces the old one whole: no file of the old run survives beside the new ones (a
/// kill while overwriting used to leave the new summary.json beside the old index.html), and the
/// leftovers of a write that was killed are removed.
#[test]
fn an_old_report_is_replaced_whole_and_leftovers_are_cleaned_up() {
    let dir = scratch("report-replace");
    let out = dir.join("r");
    std::fs::create_dir_all(&out).unwrap();
    std::fs::write(out.join("index.html"), "OLD").unwrap();
    std::fs::write(out.join("table_of_another_run.svg"), "<svg/>").unwrap();
    std::fs::write(out.join(".summary.json.tmp-4000000000"), "half").unwrap();
    // What a write killed half-way leaves beside the folder (the process is gone).
    for leftover in [".r.tmp-4000000000", ".r.old-4000000001"] {
        std::fs::create_dir_all(dir.join(leftover)).unwrap();
        std::fs::write(dir.join(leftover).join("summary.json"), "{}").unwrap();
    }
    let r = simctl(&["run", "scenarios/register.ron", "--out", out.to_str().unwrap()]);
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    let names = |d: &std::path::Path| {
        let mut v: Vec<String> =
            std::fs::read_dir(d).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
        v.sort();
        v
    };
    assert!(!names(&out).iter().any(|n| n.contains("another_run") || n.contains(".tmp")), "{:?}", names(&out));
    assert!(std::fs::read_to_string(out.join("index.html")).unwrap().contains("<svg"));
    assert_eq!(names(&dir), ["r"], "leftovers beside the report");
}

/// A folder that is not a report (it holds a file of another kind, or a folder) is never replaced.
#[test]
fn a_folder_that_is_not_a_report_is_left_alone() {
    let dir = scratch("report-not-mine");
    std::fs::write(dir.join("notes.txt"), "mine").unwrap();
    let r = simctl(&["run", "scenarios/register.ron", "--out", dir.to_str().unwrap()]);
    assert_eq!(r.code, 2, "{}{}", r.stdout, r.stderr);
    assert!(r.stderr.contains("is not part of a simctl report"), "{}", r.stderr);
    assert_eq!(std::fs::read_to_string(dir.join("notes.txt")).unwrap(), "mine");
}
