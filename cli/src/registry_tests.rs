//! The registry as the CLI uses it: every model crate registered, and every scenario file written
//! back as RON the way `simctl shrink` writes it. Through the type-erased entries, so this test
//! build compiles no model code (the registry crate is compiled once, for the binary too).

use registry::{Entry, find, models};

/// `simctl shrink` writes scenarios back as RON: the text reads back as the same scenario (every
/// field, defaults included, the same), in the documented spelling, and no longer than the original.
fn roundtrip(e: &Entry, source: &str) -> Result<(), String> {
    let text = (e.brief)(source).map_err(|d| format!("{d:?}"))?;
    (e.check)(&text).map_err(|d| format!("does not validate once written back: {d:?}\n{text}"))?;
    let full = |s: &str| (e.full)(s).map_err(|d| format!("{d:?}"));
    if full(&text)? != full(source)? {
        return Err(format!("not the same scenario once written back:\n{text}"));
    }
    // Only what differs from the defaults, in the documented spelling: no type names, and
    // fields left out inside structs (not only whole defaults at the top level).
    if text.contains("Spec(") || text.contains("Some(") || text.contains("#![") {
        return Err(format!("internal spelling:\n{text}"));
    }
    // A scripted workload's operations may take a line each (a trace's are inlined on one).
    let listed = (e.check)(source).map_or(0, |info| info.scripted_ops);
    if text.lines().count() > source.lines().count() + listed {
        return Err(format!("longer than the original:\n{text}"));
    }
    Ok(())
}

#[test]
fn every_scenario_file_survives_being_written_back_as_ron() {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../scenarios");
    let mut count = 0;
    for entry in std::fs::read_dir(dir).unwrap().flatten() {
        let path = entry.path();
        if path.extension().is_none_or(|x| x != "ron") {
            continue;
        }
        let source = crate::trace::inline(&std::fs::read_to_string(&path).unwrap(), &path).unwrap();
        let model = sim_core::parse::scenario_model(&source).unwrap();
        let Some(e) = find(&model) else { panic!("{}: model `{model}` is not registered", path.display()) };
        roundtrip(&e, &source).unwrap_or_else(|err| panic!("{}: {err}", path.display()));
        count += 1;
    }
    assert!(count > 10, "{count} scenario files judged");
}

#[test]
fn every_registered_model_has_a_printable_default_config() {
    let mut names: Vec<&str> = models().iter().map(|e| e.name).collect();
    names.sort();
    let count = names.len();
    names.dedup();
    assert_eq!(names.len(), count, "model names must be unique: {names:?}");
    // Every model crate in models/ is registered (its package name is its model name, or it
    // says otherwise here).
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../models");
    for entry in std::fs::read_dir(dir).unwrap().flatten() {
        let crate_name = entry.file_name().to_string_lossy().to_string();
        let model_name = match crate_name.as_str() {
            "common" | "parts" => continue, // shared parts, not models
            other => other,
        };
        if entry.path().join("Cargo.toml").exists() {
            assert!(names.contains(&model_name), "models/{crate_name} is not in the registry");
        }
    }
    for e in models() {
        let text = (e.default_config)();
        assert!(text.starts_with('('), "{}: {text}", e.name);
        assert!(find(e.name).is_some());
    }
}
