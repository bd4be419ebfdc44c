//! Architecture invariants, checked on the manifests: sim-core <- models <- registry <- cli and
//! sim-core <- reports <- cli; `anyhow` only in the binary.

use crate::support::repo_root;

/// The package names in a manifest's `[dependencies]` section.
fn dependencies(manifest: &std::path::Path) -> Vec<String> {
    let text = std::fs::read_to_string(manifest).unwrap_or_else(|e| panic!("{}: {e}", manifest.display()));
    let mut in_deps = false;
    let mut out = Vec::new();
    for line in text.lines().map(str::trim) {
        if line.starts_with('[') {
            in_deps = line == "[dependencies]";
        } else if in_deps && let Some((name, _)) = line.split_once(['=', '.']) {
            out.push(name.trim().to_string());
        }
    }
    out
}

fn models() -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(repo_root().join("models"))
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.path().join("Cargo.toml").exists())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

#[test]
fn dependencies_point_one_way() {
    let root = repo_root();
    let models = models();
    assert!(models.contains(&"register".to_string()), "{models:?}");
    let core = dependencies(&root.join("sim-core/Cargo.toml"));
    let reports = dependencies(&root.join("reports/Cargo.toml"));
    assert!(core.contains(&"serde".to_string()) && reports.contains(&"sim-core".to_string()), "{core:?} {reports:?}");
    let registry = dependencies(&root.join("cli/registry/Cargo.toml"));
    assert!(registry.contains(&"dynamo".to_string()), "{registry:?}");
    for forbidden in
        models.iter().map(String::as_str).chain(["reports", "simctl", "simctl-registry", "anyhow", "clap", "indicatif"])
    {
        assert!(!core.iter().any(|d| d == forbidden), "sim-core depends on {forbidden}");
    }
    for forbidden in
        models.iter().map(String::as_str).chain(["simctl", "simctl-registry", "anyhow", "clap", "indicatif"])
    {
        assert!(!reports.iter().any(|d| d == forbidden), "reports depends on {forbidden}");
    }
    // The registry is the models behind type-erased entries: no IO crates, no reports.
    for forbidden in ["reports", "simctl", "anyhow", "clap", "indicatif"] {
        assert!(!registry.iter().any(|d| d == forbidden), "the registry depends on {forbidden}");
    }
    for m in &models {
        let deps = dependencies(&root.join("models").join(m).join("Cargo.toml"));
        // `common` holds shared domain parts (hash ring, vector clocks); every other crate is a model.
        assert!(m == "common" || deps.iter().any(|d| d == "sim-core"), "{m} does not use sim-core");
        for forbidden in ["reports", "simctl", "simctl-registry", "anyhow", "clap", "indicatif", "plotters"] {
            assert!(!deps.iter().any(|d| d == forbidden), "model {m} depends on {forbidden}");
        }
    }
}

/// A design is its protocol plus parts: what two designs share lives in `parts` (or `common`),
/// never in one design another design imports.
#[test]
fn no_model_depends_on_another_model() {
    let root = repo_root();
    let models = models();
    let shared = ["common", "parts"];
    assert!(models.iter().any(|m| m == "parts") && models.len() > 10, "{models:?}");
    for m in models.iter().filter(|m| !shared.contains(&m.as_str())) {
        let deps = dependencies(&root.join("models").join(m).join("Cargo.toml"));
        for d in &deps {
            assert!(
                !models.contains(d) || shared.contains(&d.as_str()),
                "model {m} depends on model {d}: move what they share into models/parts"
            );
        }
    }
    // `parts` may build on `common`, never on a design.
    let parts = dependencies(&root.join("models/parts/Cargo.toml"));
    assert!(parts.iter().all(|d| !models.contains(d) || d == "common"), "{parts:?}");
}
