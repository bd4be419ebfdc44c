//! The models simctl knows. Each entry is built generically from a [`Model`], so adding a model is
//! one line in [`models`].
//!
//! A crate of its own so that this generic code, every model's run, search, shrink and replay, is
//! compiled once: the binary and its tests call it through the type-erased [`Entry`]. As a module
//! of the binary it was compiled twice by `cargo test` (the binary and its unit-test harness, some
//! 260 s each on a 2-core machine). For the same reason this crate has no unit tests of its own:
//! they are in `tests/` and in the binary's tests.

use sim_core::cost::Cost;
use sim_core::divergence::{self, Determinism};
use sim_core::explore::{self, Candidate, ExploreOptions, Explored, Kinds, Observation};
use sim_core::parse::{self, Diagnostic};
use sim_core::record::RunRecord;
use sim_core::scenario::{self, RunOptions, World};
use sim_core::shrink::{self, ShrinkOptions, ShrinkStep};
use sim_core::sweep::Climate;
use sim_core::topology::Topology;
use sim_core::verdict::{self, Verdict};
use sim_core::world::TraceEvent;
use sim_core::{Model, Time};
use std::collections::BTreeSet;
use std::panic::{AssertUnwindSafe, catch_unwind};

/// What `validate` learns about a scenario.
#[derive(Clone, Debug)]
pub struct ScenarioInfo {
    pub name: String,
    pub description: String,
    pub seed: u64,
    pub expect: verdict::Expect,
    /// What a known-bad scenario may fail besides its `expect` (`may_also_fail`).
    pub may_also_fail: Vec<String>,
    /// What is valid but probably not meant (a good scenario with no progress condition).
    pub warnings: Vec<String>,
    /// The SLAs (for the bounds `simctl curve` draws).
    pub slas: Vec<verdict::Sla>,
    /// How many operations the workload lists (a `Script` or an inlined `Trace`); 0 otherwise.
    pub scripted_ops: usize,
}

impl ScenarioInfo {
    fn of<M: Model>(sc: &sim_core::scenario::Scenario<M::Config>) -> ScenarioInfo {
        ScenarioInfo {
            name: sc.name.clone(),
            description: sc.description.clone(),
            seed: sc.seed,
            expect: sc.expect.clone(),
            may_also_fail: sc.may_also_fail.clone(),
            warnings: verdict::progress_warning(sc, M::PROGRESS_CHECKS).into_iter().collect(),
            slas: sc.slas.clone(),
            scripted_ops: sc.workload.as_ref().and_then(|w| w.arrival.script()).map_or(0, <[_]>::len),
        }
    }
}

/// Knobs of one run.
#[derive(Default)]
pub struct RunRequest<'a> {
    pub seed: Option<u64>,
    /// Keep the full event trace (for `replay`).
    pub trace: bool,
    pub progress: Option<&'a mut dyn FnMut(Time, u64, Time)>,
    /// Refuse the run, before it allocates anything, when its estimated peak memory is above this
    /// many bytes (`RunError::TooBig`).
    pub max_memory: Option<f64>,
}

pub struct RunResult {
    pub info: ScenarioInfo,
    pub seed: u64,
    pub record: RunRecord,
    pub verdict: Verdict,
    /// The fault climate this seed drew (swarm-mode scenarios only).
    pub climate: Option<Climate>,
    /// The event trace, when asked for.
    pub trace: Option<Vec<TraceEvent>>,
    pub topology: Option<Topology>,
    /// With `trace`: the first operation (by invoke time) that completed other than `Ok`;
    /// `replay` centres its diagram on it when no failed check blames an operation.
    pub first_failed_op: Option<FailedOp>,
    /// The simulated world, freed when this result is dropped (or leaked by a process about to
    /// exit: `simctl run`).
    pub world: World,
}

/// An operation that completed other than `Ok`.
#[derive(Clone, Debug)]
pub struct FailedOp {
    pub op: sim_core::OpId,
    pub invoke: Time,
    pub complete: Option<Time>,
    pub kind: String,
    pub outcome: String,
}

/// What `simctl shrink` found.
pub struct ShrinkOutcome {
    /// The failure signature: the failed verdict names of the original run.
    pub signature: Vec<String>,
    /// Scheduled faults of the original (nemesis expanded) and of the minimal scenario.
    pub faults_before: usize,
    pub faults_after: usize,
    /// The minimal scenario's name (`<name>_min`) and its RON text.
    pub name: String,
    pub minimal_ron: String,
    pub steps: Vec<ShrinkStep>,
    pub runs: u32,
    /// False: the original run did not fail, nothing to shrink.
    pub reproduced: bool,
    pub budget_exhausted: bool,
}

pub enum RunError {
    /// The scenario does not parse or validate.
    Invalid(Vec<Diagnostic>),
    /// The model panicked (a model bug): the message and the seed that reproduces it.
    Panicked { seed: u64, message: String },
    /// The run's estimated memory is above the limit it was given; it did not start.
    TooBig { cost: Cost, limit: f64 },
}

/// A model, type-erased for the CLI.
pub struct Entry {
    pub name: &'static str,
    pub about: &'static str,
    pub op_kinds: &'static [&'static str],
    /// The checks its report makes (`Model::CHECKS`), and those that fail when nothing succeeds.
    pub checks: &'static [&'static str],
    pub progress_checks: &'static [&'static str],
    /// What its messages travel on by default (`Connection`, `Datagram`).
    pub transport: String,
    /// The measures and tables a short run of a scenario reports (for `simctl list MODEL`): the
    /// scenario without faults, its phases cut to 500 ms; `None` if that does not validate or run.
    pub probe: fn(&str) -> Option<Probe>,
    /// The default `config: (...)` section, as RON.
    pub default_config: fn() -> String,
    /// Parses and validates a scenario's source text.
    pub check: fn(&str) -> Result<ScenarioInfo, Vec<Diagnostic>>,
    /// Parses, validates, runs and judges a scenario.
    pub run: fn(&str, RunRequest<'_>) -> Result<RunResult, RunError>,
    /// Parses and validates a scenario and estimates what a run of it costs (with the event trace
    /// kept, when asked).
    pub cost: fn(&str, bool) -> Result<Cost, Vec<Diagnostic>>,
    /// Shrinks a failing seed to a minimal scenario that fails the same way.
    pub shrink: fn(&str, u64, ShrinkOptions) -> Result<ShrinkOutcome, RunError>,
    /// Runs a seed twice with the trace on and compares.
    pub determinism: fn(&str, u64) -> Result<Determinism, RunError>,
    /// Searches for a failing run (`simctl explore`), or runs random seeds as its baseline.
    pub explore: ExploreFn,
    /// The scenario written out in full (every field, defaults included) as RON, parsed but not
    /// validated: what `--set PATH=VALUE` edits (the CLI's `overrides`).
    pub full: fn(&str) -> Result<String, Vec<Diagnostic>>,
    /// The scenario, parsed and validated, written back as a person would write it: only what
    /// differs from the defaults ([`scenario_ron`], what `simctl shrink` writes).
    pub brief: fn(&str) -> Result<String, Vec<Diagnostic>>,
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
        entry::<pipeline::Pipeline>(),
        entry::<judge::Judge>(),
        entry::<service::Service>(),
        entry::<service::inline::ServiceInline>(),
        entry::<push::PushModel>(),
        entry::<readpath::ReadPathModel>(),
        entry::<cdn::Cdn>(),
        entry::<checkout::Checkout>(),
        entry::<leaderboard::Leaderboard>(),
        entry::<ticket::Ticket>(),
        entry::<notify::Notify>(),
        entry::<video::Video>(),
        entry::<feed::Feed>(),
        entry::<adclick::AdClick>(),
        entry::<monitoring::Monitoring>(),
        entry::<chat::Chat>(),
        entry::<comments::Comments>(),
        entry::<topk::TopK>(),
        entry::<nearby::Nearby>(),
        entry::<blacklist::Blacklist>(),
        entry::<jobrec::JobRec>(),
        entry::<autocomplete::Autocomplete>(),
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
        checks: M::CHECKS,
        progress_checks: M::PROGRESS_CHECKS,
        transport: format!("{:?}", M::TRANSPORT),
        probe: probe::<M>,
        default_config: default_config::<M>,
        check: check::<M>,
        run: run::<M>,
        cost: cost::<M>,
        shrink: shrink_entry::<M>,
        determinism: determinism_entry::<M>,
        explore: explore_entry::<M>,
        full: full_entry::<M>,
        brief: brief_entry::<M>,
    }
}

/// What a short run of a model reports: its measures (with their values in that run) and the
/// names of its tables.
pub struct Probe {
    pub measures: Vec<String>,
    pub tables: Vec<String>,
}

fn probe<M: Model>(source: &str) -> Option<Probe> {
    let mut sc = parse::load_scenario::<M>(source).ok()?;
    let cap = sim_core::Duration::from_millis(500);
    sc.faults = Default::default();
    sc.swarm = None;
    sc.duration = sc.duration.min(cap);
    sc.settle = sc.settle.min(cap);
    if !sc.validate::<M>().is_empty() {
        return None;
    }
    let out = catch_unwind(AssertUnwindSafe(|| scenario::run::<M>(&sc, RunOptions::default()))).ok()?;
    let report = out.record.model_report;
    Some(Probe {
        measures: report.measures.keys().cloned().collect(),
        tables: report.tables.iter().map(|t| t.name.clone()).collect(),
    })
}

fn default_config<M: Model>() -> String {
    let pretty = ron::ser::PrettyConfig::new().struct_names(false);
    ron::ser::to_string_pretty(&M::Config::default(), pretty).unwrap_or_else(|e| format!("<unprintable: {e}>"))
}

fn check<M: Model>(source: &str) -> Result<ScenarioInfo, Vec<Diagnostic>> {
    let sc = parse::load_scenario::<M>(source)?;
    Ok(ScenarioInfo::of::<M>(&sc))
}

fn cost<M: Model>(source: &str, trace: bool) -> Result<Cost, Vec<Diagnostic>> {
    let sc = parse::load_scenario::<M>(source)?;
    Ok(sim_core::cost::estimate::<M>(&sc, trace))
}

fn panic_text(payload: &(dyn std::any::Any + Send)) -> String {
    payload
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "a panic with a non-text payload".into())
}

fn run<M: Model>(source: &str, req: RunRequest<'_>) -> Result<RunResult, RunError> {
    let sc = parse::load_scenario::<M>(source).map_err(RunError::Invalid)?;
    let cost = sim_core::cost::estimate::<M>(&sc, req.trace);
    if let Some(limit) = req.max_memory
        && cost.bytes() > limit
    {
        return Err(RunError::TooBig { cost, limit });
    }
    let seed = req.seed.unwrap_or(sc.seed);
    let opts = RunOptions { seed: Some(seed), trace: req.trace, progress: req.progress, ..Default::default() };
    let mut out = catch_unwind(AssertUnwindSafe(|| {
        // A traced run (replay) also notes the first failed operation; the same run otherwise.
        if req.trace { scenario::run::<Spy<M>>(&sc, opts) } else { scenario::run::<M>(&sc, opts) }
    }))
    .map_err(|payload| RunError::Panicked { seed, message: panic_text(payload.as_ref()) })?;
    let first_failed_op = take_first_failed_op(&mut out.record);
    let verdict = verdict::judge(&sc, &out.record);
    let climate = sc.swarm.as_ref().map(|s| sim_core::sweep::apply(s, seed, &mut sc.clone()));
    Ok(RunResult {
        info: ScenarioInfo::of::<M>(&sc),
        seed,
        record: out.record,
        verdict,
        climate,
        trace: out.trace,
        topology: Topology::from_spec(&sc.topology).ok(),
        first_failed_op,
        world: out.world,
    })
}

/// `M` with one addition to its report: the first operation that completed other than `Ok`, as
/// a table row the CLI takes out of the record again before judging it ([`take_first_failed_op`]).
struct Spy<M>(std::marker::PhantomData<M>);

const FIRST_FAILED_OP: &str = "simctl.first_failed_op";

impl<M: Model> Model for Spy<M> {
    const NAME: &'static str = M::NAME;
    const ABOUT: &'static str = M::ABOUT;
    const OP_KINDS: &'static [&'static str] = M::OP_KINDS;
    const CHECKS: &'static [&'static str] = M::CHECKS;
    const PROGRESS_CHECKS: &'static [&'static str] = M::PROGRESS_CHECKS;
    // Forgetting this one ran every replay of a connection model (register, kafka, ...) over
    // datagrams: another run than `simctl run`, with another trace hash.
    const TRANSPORT: sim_core::net::Transport = M::TRANSPORT;
    // And forgetting this one made every replay of the eight models that read crashed
    // incarnations (ratelimit, ticket, ...) panic in their report. Every constant of `Model` is
    // forwarded; `registry_tests.rs` replays every model's cheapest scenario to keep it so.
    const KEEP_CRASHED_ACTORS: bool = M::KEEP_CRASHED_ACTORS;
    type Config = M::Config;
    type Actor = M::Actor;
    fn validate(config: &M::Config, topo: &Topology) -> Vec<(String, String)> {
        M::validate(config, topo)
    }
    fn validate_schedule(config: &M::Config, run_end: sim_core::Duration) -> Vec<(String, String)> {
        M::validate_schedule(config, run_end)
    }
    fn factory(
        config: &M::Config,
        topo: &Topology,
        setup: &mut sim_core::Prng,
    ) -> Box<dyn FnMut(sim_core::NodeId) -> M::Actor> {
        M::factory(config, topo, setup)
    }
    fn footprint(config: &M::Config, topo: &Topology, load: &sim_core::cost::Load) -> sim_core::Footprint {
        M::footprint(config, topo, load)
    }
    fn report(config: &M::Config, run: &sim_core::RunView<'_, M::Actor>) -> sim_core::ModelReport {
        let mut report = M::report(config, run);
        let failed = run
            .history()
            .iter()
            .filter(|e| e.outcome.is_some_and(|o| o != sim_core::Outcome::Ok))
            .min_by_key(|e| (e.invoke, e.op));
        if let Some(e) = failed {
            let outcome = format!("{:?}", e.outcome.expect("filtered on Some"));
            let columns = [
                e.invoke.0.to_string(),
                run.op_kind(e).to_string(),
                outcome,
                e.op.0.to_string(),
                e.complete.get().map_or(String::new(), |t| t.0.to_string()),
            ];
            report.tables.push(sim_core::Table::new(FIRST_FAILED_OP, columns, Vec::new()));
        }
        report
    }
}

fn take_first_failed_op(record: &mut RunRecord) -> Option<FailedOp> {
    let tables = &mut record.model_report.tables;
    let i = tables.iter().position(|t| t.name == FIRST_FAILED_OP)?;
    let t = tables.remove(i);
    let c = &t.columns;
    Some(FailedOp {
        invoke: Time(c.first()?.parse().ok()?),
        kind: c.get(1)?.clone(),
        outcome: c.get(2)?.clone(),
        op: sim_core::OpId(c.get(3)?.parse().ok()?),
        complete: c.get(4)?.parse().ok().map(Time),
    })
}

/// The failed verdict names of one run of `sc` with `seed`; `None` if the model rejects the
/// scenario or panics.
fn signature<M: Model>(sc: &sim_core::scenario::Scenario<M::Config>, seed: u64) -> Option<BTreeSet<String>> {
    if !sc.validate::<M>().is_empty() {
        return None;
    }
    let opts = RunOptions { seed: Some(seed), ..Default::default() };
    let out = catch_unwind(AssertUnwindSafe(|| scenario::run::<M>(sc, opts))).ok()?;
    Some(verdict::judge(sc, &out.record).failed.into_iter().collect())
}

fn shrink_entry<M: Model>(source: &str, seed: u64, opts: ShrinkOptions) -> Result<ShrinkOutcome, RunError> {
    let mut sc = parse::load_scenario::<M>(source).map_err(RunError::Invalid)?;
    // The swarm's climate for this seed becomes plain values, so the shrinker sees the faults the
    // run had.
    if let Some(swarm) = sc.swarm.take() {
        sim_core::sweep::apply(&swarm, seed, &mut sc);
    }
    let original = {
        let opts = RunOptions { seed: Some(seed), ..Default::default() };
        let out = catch_unwind(AssertUnwindSafe(|| scenario::run::<M>(&sc, opts)))
            .map_err(|payload| RunError::Panicked { seed, message: panic_text(payload.as_ref()) })?;
        verdict::judge(&sc, &out.record)
    };
    let want: BTreeSet<String> = original.failed.iter().cloned().collect();
    let faults_before = shrink::expand_nemesis(&sc, seed).faults.schedule.len();
    let shrunk = if want.is_empty() {
        None
    } else {
        Some(shrink::shrink(&sc, seed, opts, |cand| signature::<M>(cand, seed).as_ref() == Some(&want)))
    };
    let Some(shrunk) = shrunk else {
        return Ok(ShrinkOutcome {
            signature: Vec::new(),
            faults_before,
            faults_after: faults_before,
            name: String::new(),
            minimal_ron: String::new(),
            steps: Vec::new(),
            runs: 1,
            reproduced: false,
            budget_exhausted: false,
        });
    };
    let mut minimal = shrunk.scenario.clone();
    // A name of its own: its report goes to out/<name>_min/, beside the original's.
    minimal.name = format!("{}_min", minimal.name);
    let minimal_ron =
        scenario_ron(&minimal).unwrap_or_else(|e| format!("// the minimal scenario could not be written as RON: {e}"));
    Ok(ShrinkOutcome {
        signature: want.into_iter().collect(),
        faults_before,
        faults_after: shrunk.scenario.faults.schedule.len(),
        name: minimal.name.clone(),
        minimal_ron,
        steps: shrunk.steps,
        runs: shrunk.runs + 1,
        reproduced: shrunk.reproduced,
        budget_exhausted: shrunk.budget_exhausted,
    })
}

/// The RON options scenario files are read with (`Some` may be left out).
fn ron_options() -> ron::Options {
    ron::Options::default().with_default_extension(ron::extensions::Extensions::IMPLICIT_SOME)
}

/// The whole scenario as `ron` writes it, in the spelling scenario files use: no struct type
/// names, `Some` left out.
fn full_ron<C: serde::Serialize>(sc: &sim_core::scenario::Scenario<C>) -> Result<String, String> {
    let pretty =
        ron::ser::PrettyConfig::new().struct_names(false).extensions(ron::extensions::Extensions::IMPLICIT_SOME);
    let text = ron_options().to_string_pretty(sc, pretty).map_err(|e| e.to_string())?;
    // The extension header: scenario files are read with it on.
    Ok(text.lines().filter(|l| !l.starts_with("#![")).collect::<Vec<_>>().join("\n"))
}

/// A scenario written back as a RON file, as a person would write it (`simctl shrink`'s output):
/// only what differs from the defaults, in the documented spelling ([`sim_core::ron_text`]).
/// Checked: the text parses back to the same scenario; a field whose removal would change that
/// stays written (and if the whole does not read back, the complete RON is written).
fn scenario_ron<C>(sc: &sim_core::scenario::Scenario<C>) -> Result<String, String>
where
    C: serde::Serialize + serde::de::DeserializeOwned + Default,
{
    use sim_core::ron_text;
    let full_text = full_ron(sc)?;
    let full = ron_text::parse(&full_text)?;
    const KEEP: [&str; 3] = ["name", "model", "duration"];
    let same = |node: &ron_text::Node| {
        let back: Result<sim_core::scenario::Scenario<C>, _> = ron_options().from_str(&ron_text::write(node, 100));
        back.ok().and_then(|b| full_ron(&b).ok()).as_deref() == Some(full_text.as_str())
    };
    let minimal = ron_text::without_defaults(&full, &KEEP, &same);
    if same(&minimal) { Ok(ron_text::write(&minimal, 100)) } else { Ok(full_text) }
}

fn full_entry<M: Model>(source: &str) -> Result<String, Vec<Diagnostic>> {
    let sc = parse::parse_scenario::<M::Config>(source)?;
    full_ron(&sc).map_err(unplaced)
}

fn brief_entry<M: Model>(source: &str) -> Result<String, Vec<Diagnostic>> {
    let sc = parse::load_scenario::<M>(source)?;
    scenario_ron(&sc).map_err(unplaced)
}

/// A message that belongs to no place in the source.
fn unplaced(message: String) -> Vec<Diagnostic> {
    vec![Diagnostic { line: None, col: None, path: String::new(), message }]
}

/// The scenario a search mutates: parsed, with a swarm's climate drawn for its own seed (every
/// worker must judge candidates against this same base).
fn explore_base<M: Model>(source: &str) -> Result<sim_core::scenario::Scenario<M::Config>, Vec<Diagnostic>> {
    let mut base = parse::load_scenario::<M>(source)?;
    if let Some(swarm) = base.swarm.take() {
        sim_core::sweep::apply(&swarm, base.seed, &mut base);
    }
    Ok(base)
}

/// A model's `simctl explore`: the scenario's text, the request, and a callback told the runs
/// judged so far.
pub type ExploreFn = fn(&str, &ExploreRequest, &mut dyn FnMut(u32)) -> Result<ExploreOutcome, RunError>;

/// What `simctl explore` asks of a model.
#[derive(Clone, Debug)]
pub struct ExploreRequest {
    pub options: ExploreOptions,
    /// Worker threads for a batch (the result does not depend on it).
    pub jobs: usize,
    /// Also place message delays.
    pub delays: bool,
    /// A run hits when one of these failed; empty: the scenario's expected failures, or any.
    pub target: Vec<String>,
    /// Random seeds instead of the search (the baseline).
    pub random: bool,
}

/// What `simctl explore` found.
pub struct ExploreOutcome {
    pub explored: Explored,
    /// The checks a run had to fail to count (empty: any).
    pub target: Vec<String>,
    pub kinds: Kinds,
    /// The found run as a scenario file: its name and RON text.
    pub found: Option<(String, String)>,
}

fn explore_entry<M: Model>(
    source: &str,
    req: &ExploreRequest,
    progress: &mut dyn FnMut(u32),
) -> Result<ExploreOutcome, RunError> {
    let base = explore_base::<M>(source).map_err(RunError::Invalid)?;
    let target = if !req.target.is_empty() {
        req.target.clone()
    } else {
        match &base.expect {
            verdict::Expect::Pass => Vec::new(),
            verdict::Expect::Fail(names) | verdict::Expect::FailAtLeast(names, _) => names.clone(),
        }
    };
    let kinds = Kinds::of(&base, req.delays);
    let mut judged = 0u32;
    let mut judge = |batch: &[Candidate]| -> Vec<Observation> {
        let jobs = req.jobs.clamp(1, batch.len().max(1));
        let mut out: Vec<Option<Observation>> = vec![None; batch.len()];
        std::thread::scope(|scope| {
            let workers: Vec<_> = (0..jobs)
                .map(|w| {
                    let target = &target;
                    scope.spawn(move || {
                        // Each worker parses its own copy: a model's config need not be `Send`.
                        let base = explore_base::<M>(source).ok();
                        (w..batch.len())
                            .step_by(jobs)
                            .map(|i| {
                                (
                                    i,
                                    base.as_ref().map_or_else(Observation::invalid, |b| {
                                        explore::observe_run::<M>(b, &batch[i], target)
                                    }),
                                )
                            })
                            .collect::<Vec<_>>()
                    })
                })
                .collect();
            for w in workers {
                for (i, o) in w.join().expect("an explore worker panicked outside a run") {
                    out[i] = Some(o);
                }
            }
        });
        judged += batch.len() as u32;
        progress(judged);
        out.into_iter().map(|o| o.expect("every candidate judged")).collect()
    };
    let explored = if req.random {
        explore::random_seeds(&base, req.options, &mut judge)
    } else {
        explore::explore(&base, &kinds, req.options, &mut judge)
    };
    let found = explored.found.as_ref().map(|(cand, runs, failed)| {
        let mut sc = cand.apply(&base);
        sc.name = format!("{}_found", base.name);
        // A concrete run now, not a rate: it fails exactly so.
        sc.expect = verdict::Expect::Fail(failed.clone());
        sc.description = format!(
            "Found by `simctl explore` (explore seed {}, run {runs} of the search): fails {}",
            req.options.seed,
            failed.join(", ")
        );
        let ron = scenario_ron(&sc).unwrap_or_else(|e| format!("// the scenario could not be written as RON: {e}"));
        (sc.name.clone(), ron)
    });
    Ok(ExploreOutcome { explored, target, kinds, found })
}

fn determinism_entry<M: Model>(source: &str, seed: u64) -> Result<Determinism, RunError> {
    let sc = parse::load_scenario::<M>(source).map_err(RunError::Invalid)?;
    catch_unwind(AssertUnwindSafe(|| divergence::check_determinism::<M>(&sc, seed)))
        .map_err(|payload| RunError::Panicked { seed, message: panic_text(payload.as_ref()) })
}
