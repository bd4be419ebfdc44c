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

/// Every file of scenarios/ with its text (traces inlined) and its model's registry entry.
fn scenario_files() -> Vec<(std::path::PathBuf, String, Entry)> {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../scenarios");
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap().flatten() {
        let path = entry.path();
        if path.extension().is_none_or(|x| x != "ron") {
            continue;
        }
        let source = crate::trace::inline(&std::fs::read_to_string(&path).unwrap(), &path).unwrap();
        let model = sim_core::parse::scenario_model(&source).unwrap();
        let Some(e) = find(&model) else { panic!("{}: model `{model}` is not registered", path.display()) };
        files.push((path, source, e));
    }
    files.sort_by(|a, b| a.0.cmp(&b.0));
    files
}

#[test]
fn every_scenario_file_survives_being_written_back_as_ron() {
    let files = scenario_files();
    for (path, source, e) in &files {
        roundtrip(e, source).unwrap_or_else(|err| panic!("{}: {err}", path.display()));
    }
    assert!(files.len() > 10, "{} scenario files judged", files.len());
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

/// `simctl replay` runs a model wrapped to note its first failed operation (`registry::Spy`): the
/// wrapper must be the same model. Each model's cheapest scenario file, traced and untraced, gives
/// the same trace hash and verdict, and the traced run does not panic (it did, for every model
/// that reads crashed incarnations, until the wrapper forwarded `KEEP_CRASHED_ACTORS`).
#[test]
fn a_traced_run_is_the_same_run_for_every_model() {
    // Model -> (estimated events, source, file) of its cheapest scenario.
    let mut cheapest: std::collections::BTreeMap<&str, (f64, String, String)> = Default::default();
    for (path, source, e) in scenario_files() {
        let events = (e.cost)(&source, true).unwrap().events;
        let file = path.file_name().unwrap().to_string_lossy().to_string();
        if cheapest.get(e.name).is_none_or(|c| events < c.0) {
            cheapest.insert(e.name, (events, source, file));
        }
    }
    assert!(cheapest.len() >= models().len() - 1, "{} models with a scenario file", cheapest.len());
    for (model, (_, source, file)) in &cheapest {
        let e = find(model).unwrap();
        let run = |trace: bool| {
            (e.run)(source, registry::RunRequest { seed: None, trace, progress: None, max_memory: None })
                .unwrap_or_else(|err| match err {
                    registry::RunError::Panicked { message, .. } => panic!("{file} (trace {trace}): {message}"),
                    _ => panic!("{file} does not run"),
                })
        };
        let (plain, traced) = (run(false), run(true));
        assert_eq!(plain.record.trace_hash, traced.record.trace_hash, "{file}: the traced run is another run");
        assert_eq!(plain.verdict.failed, traced.verdict.failed, "{file}");
    }
}
