//! The annotated example in docs/scenarios.md is a valid scenario.

use crate::support::{repo_root, scratch, simctl, write_scenario};

#[test]
fn the_documented_example_validates_and_runs() {
    let doc = std::fs::read_to_string(repo_root().join("docs/scenarios.md")).expect("docs/scenarios.md");
    let start = doc.find("```ron\n").expect("a ron block") + "```ron\n".len();
    let end = start + doc[start..].find("```").expect("closed");
    let dir = scratch("docs-example");
    let file = write_scenario(&dir, "example.ron", &doc[start..end]);
    let r = simctl(&["validate", &file]);
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    let r = simctl(&["run", &file, "--out", dir.join("out").to_str().unwrap()]);
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    assert!(r.stdout.contains("estimate.write rate"), "{}", r.stdout);
}
