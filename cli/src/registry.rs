//! The models simctl knows. Each entry is built generically from a [`Model`], so adding a model is
//! one line in [`models`].

use sim_core::parse::{self, Diagnostic};
use sim_core::record::RunRecord;
use sim_core::scenario::{self, RunOptions};
use sim_core::verdict::{self, Verdict};
use sim_core::{Model, Time};
use std::panic::{AssertUnwindSafe, catch_unwind};

/// What `validate` learns about a scenario.
#[derive(Clone, Debug)]
pub struct ScenarioInfo {
    pub name: String,
    pub description: String,
    pub seed: u64,
}

/// Knobs of one run.
#[derive(Default)]
pub struct RunRequest<'a> {
    pub seed: Option<u64>,
    pub progress: Option<&'a mut dyn FnMut(Time, u64, Time)>,
}

pub struct RunResult {
    pub info: ScenarioInfo,
    pub seed: u64,
    pub record: RunRecord,
    pub verdict: Verdict,
}

pub enum RunError {
    /// The scenario does not parse or validate.
    Invalid(Vec<Diagnostic>),
    /// The model panicked (a model bug): the message and the seed that reproduces it.
    Panicked { seed: u64, message: String },
}

/// A model, type-erased for the CLI.
pub struct Entry {
    pub name: &'static str,
    pub about: &'static str,
    pub op_kinds: &'static [&'static str],
    /// The default `config: (...)` section, as RON.
    pub default_config: fn() -> String,
    /// Parses and validates a scenario's source text.
    pub check: fn(&str) -> Result<ScenarioInfo, Vec<Diagnostic>>,
    /// Parses, validates, runs and judges a scenario.
    pub run: fn(&str, RunRequest<'_>) -> Result<RunResult, RunError>,
}

/// Every model simctl can run.
pub fn models() -> Vec<Entry> {
    vec![
        entry::<dynamo::Dynamo>(),
        entry::<kafka::Kafka>(),
        entry::<register::Register>(),
        entry::<crawler::Crawl>(),
        entry::<ratelimit::RateLimiter>(),
        entry::<snowflake::Snowflake>(),
        entry::<shortener::Shortener>(),
        entry::<phold::Phold>(),
    ]
}

pub fn find(name: &str) -> Option<Entry> {
    models().into_iter().find(|e| e.name == name)
}

pub fn entry<M: Model>() -> Entry {
    Entry {
        name: M::NAME,
        about: M::ABOUT,
        op_kinds: M::OP_KINDS,
        default_config: default_config::<M>,
        check: check::<M>,
        run: run::<M>,
    }
}

fn default_config<M: Model>() -> String {
    let pretty = ron::ser::PrettyConfig::new().struct_names(false);
    ron::ser::to_string_pretty(&M::Config::default(), pretty).unwrap_or_else(|e| format!("<unprintable: {e}>"))
}

fn check<M: Model>(source: &str) -> Result<ScenarioInfo, Vec<Diagnostic>> {
    let sc = parse::load_scenario::<M>(source)?;
    Ok(ScenarioInfo { name: sc.name, description: sc.description, seed: sc.seed })
}

fn run<M: Model>(source: &str, req: RunRequest<'_>) -> Result<RunResult, RunError> {
    let sc = parse::load_scenario::<M>(source).map_err(RunError::Invalid)?;
    let seed = req.seed.unwrap_or(sc.seed);
    let opts = RunOptions { seed: Some(seed), trace: false, progress: req.progress };
    let out = catch_unwind(AssertUnwindSafe(|| scenario::run::<M>(&sc, opts))).map_err(|payload| {
        let message = payload
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| payload.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "a panic with a non-text payload".into());
        RunError::Panicked { seed, message }
    })?;
    let verdict = verdict::evaluate(&out.record, &sc.invariants, &sc.slas, &sc.estimates, &sc.expect);
    Ok(RunResult {
        info: ScenarioInfo { name: sc.name, description: sc.description, seed: sc.seed },
        seed,
        record: out.record,
        verdict,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use sim_core::{Actor, Ctx, Message, ModelReport, NodeId, Prng, RunView, Topology};

    /// A model whose node panics when it starts: a stand-in for a model bug.
    struct Buggy;
    #[derive(Clone, Debug)]
    struct Nothing;
    impl Message for Nothing {
        fn kind(&self) -> &'static str {
            "nothing"
        }
    }
    struct Node;
    impl Actor for Node {
        type Msg = Nothing;
        type Timer = ();
        type Record = ();
        fn on_start(&mut self, ctx: &mut Ctx<'_, Self>) {
            panic!("node {} is buggy", ctx.id());
        }
        fn on_msg(&mut self, _: &mut Ctx<'_, Self>, _: NodeId, _: Nothing) {}
    }
    impl Model for Buggy {
        const NAME: &'static str = "buggy";
        const ABOUT: &'static str = "panics";
        const OP_KINDS: &'static [&'static str] = &[];
        type Config = ();
        type Actor = Node;
        fn factory(_: &(), _: &Topology, _: &mut Prng) -> Box<dyn FnMut(NodeId) -> Node> {
            Box::new(|_| Node)
        }
        fn report(_: &(), _: &RunView<'_, Node>) -> ModelReport {
            ModelReport::default()
        }
    }

    #[test]
    fn a_model_panic_is_caught_and_reported_with_its_seed() {
        let e = entry::<Buggy>();
        let src = r#"(name: "b", model: "buggy", duration: "1s", seed: 9)"#;
        assert!((e.check)(src).is_ok());
        match (e.run)(src, RunRequest { seed: Some(21), progress: None }) {
            Err(RunError::Panicked { seed, message }) => {
                assert_eq!(seed, 21);
                assert!(message.contains("is buggy"), "{message}");
            }
            _ => panic!("the panic was not caught"),
        }
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
                "common" => continue, // shared parts, not a model
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
}
