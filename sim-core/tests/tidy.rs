//! Style enforced by a test, not by memory: the determinism rules of ARCHITECTURE.md and module
//! essays.

use std::path::{Path, PathBuf};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap().to_path_buf()
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else { return };
    let mut entries: Vec<_> = entries.flatten().map(|e| e.path()).collect();
    entries.sort();
    for p in entries {
        if p.is_dir() {
            rust_files(&p, out);
        } else if p.extension().is_some_and(|e| e == "rs") {
            out.push(p);
        }
    }
}

/// The `src/` folders of the crates that run inside the simulation.
fn simulation_sources() -> Vec<PathBuf> {
    let mut dirs = vec![root().join("sim-core/src")];
    let mut models: Vec<_> = std::fs::read_dir(root().join("models")).unwrap().flatten().map(|e| e.path()).collect();
    models.sort();
    dirs.extend(models.into_iter().map(|m| m.join("src")));
    let mut files = Vec::new();
    for d in dirs {
        rust_files(&d, &mut files);
    }
    files
}

#[test]
fn no_nondeterminism_in_simulation_code() {
    // Spelled in pieces so that this file does not trip text searches for the very words it bans.
    let banned = [
        (concat!("Hash", "Map"), "iteration order is random: use BTreeMap or a Vec by id"),
        (concat!("Hash", "Set"), "iteration order is random: use BTreeSet"),
        (concat!("Instant", "::now"), "no wall clock inside the simulation"),
        (concat!("System", "Time"), "no wall clock inside the simulation"),
        (concat!("thread", "::spawn"), "no threads inside the simulation"),
        (concat!("thread", "_rng"), "all randomness comes from the seed"),
        (concat!("env", "::var"), "no environment reads inside the simulation"),
        (concat!("static", " mut"), "no globals"),
    ];
    let mut problems = Vec::new();
    for f in simulation_sources() {
        let text = std::fs::read_to_string(&f).unwrap();
        for (n, line) in text.lines().enumerate() {
            let code = line.split("//").next().unwrap_or("");
            for (word, why) in banned {
                if code.contains(word) {
                    problems.push(format!("{}:{}: `{word}`: {why}", f.display(), n + 1));
                }
            }
        }
    }
    assert!(problems.is_empty(), "\n{}", problems.join("\n"));
}

#[test]
fn every_crate_opens_with_an_essay() {
    let mut crates = vec![root().join("sim-core/src/lib.rs"), root().join("reports/src/lib.rs")];
    let mut models: Vec<_> = std::fs::read_dir(root().join("models")).unwrap().flatten().map(|e| e.path()).collect();
    models.sort();
    crates.extend(models.into_iter().map(|m| m.join("src/lib.rs")).filter(|p| p.exists()));
    for lib in crates {
        let text = std::fs::read_to_string(&lib).unwrap();
        let essay = text.lines().take_while(|l| l.starts_with("//!")).count();
        assert!(
            essay >= 3,
            "{} must open with a `//!` essay (the algorithm, its invariants, the failure it shows)",
            lib.display()
        );
    }
}

// The direction of dependencies between crates is checked in cli/tests/cli/architecture.rs.
