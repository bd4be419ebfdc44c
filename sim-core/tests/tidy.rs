//! Style enforced by a test, not by memory: the determinism rules of ARCHITECTURE.md, module essays,
//! and the direction of dependencies between crates.

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
    let banned = [
        ("HashMap", "iteration order is random: use BTreeMap or a Vec by id"),
        ("HashSet", "iteration order is random: use BTreeSet"),
        ("Instant::now", "no wall clock inside the simulation"),
        ("SystemTime", "no wall clock inside the simulation"),
        ("thread::spawn", "no threads inside the simulation"),
        ("thread_rng", "all randomness comes from the seed"),
        ("env::var", "no environment reads inside the simulation"),
        ("static mut", "no globals"),
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

fn dependencies(manifest: &Path) -> Vec<String> {
    let text = std::fs::read_to_string(manifest).unwrap();
    let mut deps = Vec::new();
    let mut in_deps = false;
    for line in text.lines() {
        let l = line.trim();
        if l.starts_with('[') {
            in_deps = l == "[dependencies]";
            continue;
        }
        if in_deps && let Some((name, _)) = l.split_once('=') {
            deps.push(name.trim().trim_matches('"').to_string());
        }
    }
    deps
}

#[test]
fn dependencies_point_one_way() {
    let models: Vec<String> = std::fs::read_dir(root().join("models"))
        .unwrap()
        .flatten()
        .filter(|e| e.path().join("Cargo.toml").exists())
        .map(|e| e.file_name().to_string_lossy().to_string())
        .collect();
    let core = dependencies(&root().join("sim-core/Cargo.toml"));
    for banned in models.iter().map(String::as_str).chain(["reports", "simctl", "clap", "indicatif", "plotters"]) {
        assert!(!core.iter().any(|d| d == banned), "sim-core must not depend on `{banned}`");
    }
    let reports = dependencies(&root().join("reports/Cargo.toml"));
    for m in &models {
        assert!(!reports.contains(m), "reports must not know model `{m}`");
    }
    for m in &models {
        let deps = dependencies(&root().join("models").join(m).join("Cargo.toml"));
        for banned in ["reports", "simctl", "clap", "indicatif", "plotters"] {
            assert!(!deps.iter().any(|d| d == banned), "model `{m}` must not depend on `{banned}`");
        }
    }
}
